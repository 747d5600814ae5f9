-- Retention: with personalize.retention_months set, maintain(as_of) detaches and drops each whole
-- monthly partition of events that ends that many months or more before the month of as_of,
-- logs it, and leaves live state, segment membership and dedup keys as they were.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-06-15', 0, 6) AS created;     -- 2025-12 .. 2026-06
SELECT personalize.track('ann', 'Order Completed', '{"order_id": 1, "total": 10}', '2025-12-20', 'a1');
SELECT personalize.track('ann', 'Order Completed', '{"order_id": 2, "total": 20}', '2026-01-31 23:59:59+00', 'a2');
SELECT personalize.track('ann', 'Email Opened', '{}', '2026-02-28 23:59:59.999999+00', 'a3');
SELECT personalize.track('ann', 'Email Opened', '{}', '2026-03-01 00:00+00', 'a4');
SELECT personalize.track('ann', 'Email Opened', '{}', '2026-06-01', 'a5');
SELECT personalize.track('bob', 'Order Completed', '{"order_id": 3, "total": 5}', '2026-01-10', 'b1');
SELECT personalize.create_segment('buyers', '{"field": "purchase_count", "op": "gte", "value": 1}', '2026-06-15') AS buyers;
CREATE TEMP TABLE before AS
SELECT profile_id, event_count, purchase_count, purchase_total, last_purchase_at, engagement, engagement_as_of
  FROM personalize.profiles;

-- off by default: nothing is dropped
SHOW personalize.retention_months;
SELECT personalize.maintain('2026-06-15') AS created;
SELECT count(*) AS events, count(*) FILTER (WHERE occurred_at < '2026-03-01 00:00+00') AS before_march
  FROM personalize.events;

-- a writer cannot set it
CREATE ROLE regress_rw IN ROLE personalize_writer;
SET ROLE regress_rw;
SET personalize.retention_months = 1;
RESET ROLE;

-- three months at 2026-06-15: the window starts 2026-03-01; December, January and February go
SET personalize.retention_months = 3;
SELECT personalize.maintain('2026-06-15') AS created;
SELECT partition, range_from, range_to, events_dropped, retention_months, as_of
  FROM personalize.retention_log ORDER BY range_from;
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'personalize.events'::regclass ORDER BY 1;
SELECT message_id, occurred_at FROM personalize.events ORDER BY occurred_at;
-- live state and membership are as they were; the dropped events' keys still refuse replays
SELECT count(*) AS changed_profiles
  FROM before b JOIN personalize.profiles p USING (profile_id)
 WHERE (b.*) IS DISTINCT FROM (p.profile_id, p.event_count, p.purchase_count, p.purchase_total, p.last_purchase_at,
                               p.engagement, p.engagement_as_of);
SELECT p.user_id FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id)
  JOIN personalize.profiles p USING (profile_id) WHERE s.name = 'buyers' ORDER BY 1;
SELECT personalize.track('ann', 'Order Completed', '{"order_id": 2, "total": 20}', '2026-01-31 23:59:59+00', 'a2');
-- a second run has nothing more to drop, and months before the window are not created again
SELECT personalize.maintain('2026-06-15', 0, 6) AS created;
SELECT count(*) AS log_rows FROM personalize.retention_log;
RESET personalize.retention_months;

DROP EXTENSION personalize;
DROP ROLE regress_rw;
