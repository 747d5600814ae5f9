-- sql/segment_property.sql again under America/New_York, whose DST change on 8 March 2026 falls
-- inside the windows of its stream: segments are evaluated in UTC whatever the session's zone,
-- so this output must equal the UTC run's line for line (the counts included).
\set zone 'America/New_York'
\i sql/segment_property.sql
