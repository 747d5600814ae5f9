-- Segments: rule compilation and its errors, live membership in the event's transaction,
-- time-driven rechecks through tick(), dependencies between segments, SQL segments, NOTIFY.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-02-15', 1, 1);
SELECT personalize.identify('ann', '{"city": "Oslo", "plan": "pro", "tags": ["vip", "early"], "age": 34,
                                     "birthday": "1990-02-20", "name": "Ann"}', NULL, '2026-02-01') AS ann \gset
SELECT personalize.identify('bo', '{"city": "Bergen", "plan": "free", "age": 19, "birthday": "2000-02-29"}', NULL, '2026-02-01') AS bo \gset
SELECT personalize.identify('cy', '{"city": "Oslo", "age": "unknown"}', NULL, '2026-02-01') AS cy \gset
SELECT personalize.set_consent(:ann, 'subscribed', as_of => '2026-02-01');

-- trait comparisons (each expectation follows from the traits above)
SELECT personalize.create_segment('t_eq',  '{"trait": "city", "value": "Oslo"}', '2026-02-01');
SELECT personalize.create_segment('t_ne',  '{"trait": "city", "op": "ne", "value": "Oslo"}', '2026-02-01');
SELECT personalize.create_segment('t_gte', '{"trait": "age", "op": "gte", "value": 21}', '2026-02-01');
SELECT personalize.create_segment('t_lt',  '{"trait": "age", "op": "lt", "value": 21}', '2026-02-01');
SELECT personalize.create_segment('t_in',  '{"trait": "plan", "op": "in", "value": ["pro", "team"]}', '2026-02-01');
SELECT personalize.create_segment('t_has', '{"trait": "tags", "op": "contains", "value": "vip"}', '2026-02-01');
SELECT personalize.create_segment('t_sub', '{"trait": "name", "op": "contains", "value": "nn"}', '2026-02-01');
SELECT personalize.create_segment('t_ex',  '{"trait": "plan", "op": "exists"}', '2026-02-01');
SELECT personalize.create_segment('t_nex', '{"trait": "plan", "op": "exists", "value": false}', '2026-02-01');
SELECT personalize.create_segment('t_sw',  '{"trait": "city", "op": "starts_with", "value": "Ber"}', '2026-02-01');
SELECT personalize.create_segment('consented', '{"consent": "subscribed"}', '2026-02-01');
SELECT personalize.create_segment('not_oslo_or_pro', '{"any": [{"not": {"segment": "t_eq"}}, {"trait": "plan", "value": "pro"}]}', '2026-02-01');
SELECT s.name, array_agg(p.user_id ORDER BY p.user_id) AS members
  FROM personalize.segments s
  LEFT JOIN personalize.segment_members m USING (segment_id)
  LEFT JOIN personalize.profiles p USING (profile_id)
 GROUP BY s.name ORDER BY s.name;

-- stable buckets: the documented SHA-256 rule, values computed independently in Python
-- (python3: int(sha256(b'exp:1').hexdigest()[:16], 16) % 10000 == 4457; exp:2 -> 8951; other:1 -> 2111)
SELECT personalize.bucket(1, 'exp') = 4457 AS b1, personalize.bucket(2, 'exp') = 8951 AS b2, personalize.bucket(1, 'other') = 2111 AS b3;
SELECT personalize.create_segment('half', '{"bucket": {"salt": "exp", "from": 0, "to": 4999}}', '2026-02-01');
SELECT array_agg(profile_id ORDER BY profile_id) = ARRAY(SELECT profile_id FROM personalize.profiles
         WHERE personalize.bucket(profile_id, 'exp') < 5000 ORDER BY 1) AS bucket_members_match
  FROM personalize.segment_members WHERE segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'half');
SELECT count(*) FILTER (WHERE b < 5000) AS low, count(*) AS n
  FROM (SELECT personalize.bucket(i, 'spread') AS b FROM generate_series(1, 20000) i) x;

-- anniversaries (29 February falls on 28 February in common years)
SELECT personalize.days_to_anniversary('1990-02-20', '2026-02-01 12:00+00') AS d1,
       personalize.days_to_anniversary('2000-02-29', '2026-02-27 00:00+00') AS d2,
       personalize.days_to_anniversary('2000-02-29', '2028-02-27 00:00+00') AS d3,
       personalize.days_to_anniversary('1990-01-01', '2026-12-31 23:59+00') AS d4,
       personalize.days_to_anniversary('1990-02-31', '2026-01-01') AS bad1,
       personalize.days_to_anniversary('yesterday', '2026-01-01') AS bad2;

-- events: live in the same transaction, with property filters and windows
SELECT personalize.create_segment('shoes_2_in_7d', '{"event": "Product Viewed", "min": 2, "within": "7 days",
        "where": [{"property": "category", "value": "shoes"}, {"property": "price", "op": "gte", "value": 50}]}', '2026-02-01');
SELECT personalize.create_segment('no_order_30d', '{"event": "Order Completed", "max": 0, "within": "30 days"}', '2026-02-01');
SELECT personalize.create_segment('one_feb_order', '{"event": "Order Completed", "exactly": 1,
        "between": ["2026-02-01 00:00+00", "2026-03-01 00:00+00"]}', '2026-02-01');
SELECT personalize.create_segment('shoe_fans_in_oslo', '{"all": [{"segment": "shoes_2_in_7d"}, {"segment": "t_eq"}]}', '2026-02-01');
SELECT personalize.create_segment('bday_week', '{"date_trait": "birthday", "within_next": 7}', '2026-02-01');
SELECT personalize.create_segment('quiet', '{"field": "last_seen_at", "op": "lt", "value": {"ago": "10 days"}}', '2026-02-01');
SELECT personalize.create_segment('busy', '{"field": "event_count", "op": "gte", "value": 3}', '2026-02-01');

SET personalize.clock = '2026-02-10 12:00+00';
BEGIN;
INSERT INTO personalize.events (user_id, event, properties, occurred_at) VALUES
  ('ann', 'Product Viewed', '{"category": "shoes", "price": 80}', '2026-02-09 10:00+00'),
  ('ann', 'Product Viewed', '{"category": "shoes", "price": 60}', '2026-02-10 10:00+00'),
  ('ann', 'Product Viewed', '{"category": "shoes", "price": 10}', '2026-02-10 11:00+00'),
  ('bo',  'Product Viewed', '{"category": "shoes", "price": 90}', '2026-02-10 11:00+00'),
  ('bo',  'Order Completed', '{"order_id": 1, "revenue": 5}', '2026-02-10 11:30+00'),
  ('cy',  'Product Viewed', '{"category": "hats", "price": 90}', '2026-02-10 11:00+00');
-- already visible inside the transaction
SELECT personalize.segments_of(:ann) AS ann_segments;
COMMIT;
SELECT personalize.segments_of(:bo) AS bo_segments, personalize.segments_of(:cy) AS cy_segments;
SELECT s.name, m.entered_at, m.recheck_at FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id)
 WHERE m.profile_id = :ann AND s.name IN ('shoes_2_in_7d', 'shoe_fans_in_oslo', 'no_order_30d', 'bday_week', 'quiet') ORDER BY 1;
SELECT s.name, sp.recheck_at FROM personalize.segment_pending sp JOIN personalize.segments s USING (segment_id)
 WHERE sp.profile_id = :ann ORDER BY 1;
-- an event only some segments read: the others are not even evaluated
SELECT max(log_id) AS last_log FROM personalize.segment_log \gset
SELECT personalize.track('ann', 'Email Opened', '{}', '2026-02-10 12:00+00');
SELECT count(*) AS log_rows_from_email FROM personalize.segment_log WHERE log_id > :last_log;

-- time alone: tick re-evaluates what is due
SELECT personalize.tick('2026-02-14 00:00+00') AS changes;
SELECT personalize.segments_of(:ann) AS ann_on_14th;
SELECT personalize.tick('2026-02-16 10:00+00') AS changes;
SELECT personalize.segments_of(:ann) AS ann_on_16th;
SELECT personalize.tick('2026-03-13 00:00+00') AS changes;
SELECT personalize.segments_of(:bo) AS bo_in_march;
SELECT s.name, l.change, l.at, l.cause FROM personalize.segment_log l JOIN personalize.segments s USING (segment_id)
 WHERE l.profile_id = :ann AND l.cause <> 'create' ORDER BY l.log_id;
-- a full refresh agrees with what the ticks kept
SELECT name, (personalize.refresh_segment(name, '2026-03-13 00:00+00')).* FROM personalize.segments ORDER BY name;

-- traits and consent changes move members too
SELECT personalize.identify('cy', '{"plan": "team", "age": 40}', NULL, '2026-03-13');
SELECT personalize.segments_of(:cy) AS cy_after_identify;
SELECT personalize.set_consent(:ann, 'unsubscribed', as_of => '2026-03-13');
SELECT personalize.in_segment('consented', :ann) AS ann_consented;

-- SQL segments are refreshed in batch only
SELECT personalize.create_sql_segment('heavy', 'p.event_count >= 3 AND p.traits ? ''city''', '2026-03-13');
SELECT array_agg(p.user_id ORDER BY p.user_id) FROM personalize.segment_members m JOIN personalize.profiles p USING (profile_id)
 WHERE m.segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'heavy');
SELECT personalize.track('bo', 'Email Opened', '{}', '2026-03-13', 'sqlseg-1');
SELECT personalize.track('bo', 'Email Opened', '{}', '2026-03-13', 'sqlseg-2');
SELECT personalize.in_segment('heavy', :bo) AS before_refresh;
SELECT * FROM personalize.refresh_segment('heavy', '2026-03-13');
SELECT personalize.in_segment('heavy', :bo) AS after_refresh;
SELECT personalize.create_sql_segment('bad', 'p.nope > 1');
SELECT personalize.create_sql_segment('bad', 'true; DROP TABLE personalize.profiles');

-- audiences: current members, and members at an earlier time replayed from the log
SELECT personalize.cardinality(personalize.audience('no_order_30d', '2026-03-13')) AS now_members,
       personalize.audience('no_order_30d', '2026-03-13')
         OPERATOR(personalize.=) (SELECT personalize.audience_agg(profile_id) FROM personalize.segment_members
             WHERE segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'no_order_30d')) AS same_as_members;
SELECT personalize.audience('shoes_2_in_7d', '2026-02-12') AS on_feb_12, personalize.audience('shoes_2_in_7d', '2026-02-20') AS on_feb_20,
       :ann AS ann;
SELECT personalize.audience('no_order_30d', '2026-02-11') AS bo_gone, personalize.audience('no_order_30d', '2026-01-01') AS before_creation;
SELECT personalize.audience('missing', '2026-01-01');
SELECT personalize.audience('t_eq', NULL);

-- RFM, engagement and interests in rules
SELECT personalize.create_segment('engaged', '{"engagement": {"op": "gte", "value": 1}}', '2026-03-13');
SELECT personalize.create_segment('shoe_interest', '{"interest": "shoes", "top": 1}', '2026-03-13');
SELECT personalize.create_segment('champions', '{"field": "rfm_segment", "value": "Champions"}', '2026-03-13');
SELECT personalize.create_segment('buyers', '{"field": "purchase_count", "op": "gte", "value": 1}', '2026-03-13');
SELECT s.name, array_agg(p.user_id ORDER BY p.user_id) AS members
  FROM personalize.segments s JOIN personalize.segment_members m USING (segment_id) JOIN personalize.profiles p USING (profile_id)
 WHERE s.name IN ('engaged', 'shoe_interest', 'buyers') GROUP BY 1 ORDER BY 1;
-- engaged: ann's live score decays below 1 at the recheck time; check it against the formula
SELECT p.user_id, round(personalize.engagement_score(p.profile_id, '2026-03-13')::numeric, 6) AS score,
       m.recheck_at,
       abs(personalize.engagement_score(p.profile_id, m.recheck_at - interval '1 microsecond') - 1) < 1e-9 AS crosses_one_there
  FROM personalize.segment_members m JOIN personalize.profiles p USING (profile_id)
 WHERE m.segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'engaged') ORDER BY 1;
-- the first scoring gives every purchaser a segment, so each one changed segment
SELECT count(*) AS purchasers FROM personalize.profiles WHERE purchase_count > 0 AND rfm_segment IS NULL \gset
SELECT personalize.score_rfm('2026-03-13') AS changed_segment, :purchasers AS purchasers_without_segment;
SELECT p.user_id, p.rfm_segment, personalize.in_segment('champions', p.profile_id) AS in_champions
  FROM personalize.profiles p WHERE p.rfm_segment IS NOT NULL ORDER BY 1;
SELECT personalize.create_segment('x', '{"engagement": {"op": "about", "value": 1}}');
SELECT personalize.create_segment('x', '{"interest": "shoes", "top": 0}');

-- merge and forget keep memberships consistent
SELECT personalize.forget(:cy, '2026-03-14');
SELECT count(*) AS cy_rows FROM personalize.segment_members WHERE profile_id = :cy;

-- bad rules are refused with the JSON path of the bad node
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT personalize.create_segment('x', '{"trait": "city", "op": "like", "value": "O%"}');
SELECT personalize.create_segment('x', '{"all": [{"trait": "city", "value": "Oslo"}, {"event": "E", "min": -1}]}');
SELECT personalize.create_segment('x', '{"all": []}');
SELECT personalize.create_segment('x', '{"any": [{"event": "E", "within": "soon"}]}');
SELECT personalize.create_segment('x', '{"event": "E", "within": "101 years"}');
SELECT personalize.create_segment('x', '{"field": "last_seen_at", "op": "lt", "value": {"ago": "1000000 years"}}');
SELECT personalize.create_segment('x', '{"event": "E", "within": "-3 days"}');
SELECT personalize.create_segment('x', '{"event": "E", "between": ["2026-01-01"]}');
SELECT personalize.create_segment('x', '{"event": "E", "min": 3, "max": 1}');
SELECT personalize.create_segment('x', '{"event": "E", "where": [{"property": "p", "op": "gt", "value": [1]}]}');
SELECT personalize.create_segment('x', '{"field": "password", "value": 1}');
SELECT personalize.create_segment('x', '{"field": "event_count", "value": "three"}');
SELECT personalize.create_segment('x', '{"consent": "maybe"}');
SELECT personalize.create_segment('x', '{"bucket": {"from": 10, "to": 10000}}');
SELECT personalize.create_segment('x', '{"frobnicate": 1}');
SELECT personalize.create_segment('x', '[1, 2]');
SELECT personalize.create_segment('x', '"Oslo"');
SELECT personalize.create_segment('x', NULL);
SELECT personalize.create_segment('x', '{"segment": "missing"}');
SELECT personalize.create_segment('x', (repeat('{"not": ', 40) || '{"consent": "unknown"}' || repeat('}', 40))::jsonb);
SELECT personalize.create_segment('x', jsonb_build_object('trait', 'id', 'op', 'in', 'value',
                                       (SELECT jsonb_agg(i) FROM generate_series(1, 10001) i)));
SELECT personalize.create_segment('x', '{"trait": "city", "value": "O''; DROP TABLE personalize.profiles; --"}', '2026-03-14');
SELECT count(*) AS profiles_still_there FROM personalize.profiles;
SELECT personalize.drop_segment('x');
-- cycles are refused
SELECT personalize.create_segment('c1', '{"consent": "unknown"}');
SELECT personalize.create_segment('c2', '{"segment": "c1"}');
SELECT personalize.alter_segment('c1', '{"segment": "c2"}');
SELECT personalize.drop_segment('c1');
SELECT personalize.drop_segment('c2');
SELECT personalize.drop_segment('c1');
SELECT count(*) AS rows_left_of_dropped FROM personalize.segment_members m
 WHERE NOT EXISTS (SELECT FROM personalize.segments s WHERE s.segment_id = m.segment_id);
SELECT personalize.drop_segment('c1');
SELECT personalize.tick('infinity');
-- evaluation times are kept to the years 1 to 9999 (rules reach 100 years around them)
SELECT personalize.tick('4713-01-01 BC');
SELECT personalize.refresh_segment('t_eq', '294276-12-31');
SELECT personalize.create_segment('far', '{"date_trait": "birthday", "within_next": 366}', '10000-01-01 00:00+00');

-- a live update after alter_segment follows the new rule (live plans are kept per statement text)
SELECT personalize.identify('dee', '{"town": "Oslo"}', NULL, '2026-03-14') AS dee \gset
SELECT personalize.create_segment('town', '{"trait": "town", "value": "Oslo"}', '2026-03-14') AS town \gset
SELECT segment_id = :town AS returns_its_id FROM personalize.segments WHERE name = 'town';
SELECT personalize.in_segment('town', :dee) AS oslo_rule_oslo;
SELECT personalize.identify('dee', '{"town": "Bergen"}', NULL, '2026-03-14') = :dee AS same_profile;
SELECT personalize.in_segment('town', :dee) AS oslo_rule_bergen;
SELECT personalize.alter_segment('town', '{"trait": "town", "value": "Bergen"}', '2026-03-14') = :town AS returns_its_id;
SELECT personalize.in_segment('town', :dee) AS bergen_rule_bergen;
SELECT personalize.identify('dee', '{"town": "Oslo"}', NULL, '2026-03-14') = :dee AS same_profile;
SELECT personalize.in_segment('town', :dee) AS bergen_rule_oslo;
SELECT personalize.identify('dee', '{"town": "Bergen"}', NULL, '2026-03-14') = :dee AS same_profile;
SELECT personalize.in_segment('town', :dee) AS bergen_rule_bergen_live;
SELECT change, cause FROM personalize.segment_log
 WHERE profile_id = :dee AND segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'town')
 ORDER BY log_id;
SELECT personalize.drop_segment('town');
-- refresh_segments: several roots at once, each segment that reads them evaluated once, in order
SELECT * FROM personalize.refresh_segments(ARRAY['t_eq', 'consented'], '2026-03-14');
-- (one change: bo's two opens of 03-13 were tracked with the clock at 02-10, so "busy", an
-- event_count condition, counts them only from 03-13, when no tick has run since)
SELECT count(*) = (SELECT count(*) FROM personalize.segments) AS all_refreshed,
       sum(entered + exited) AS changes
  FROM personalize.refresh_segments(NULL, '2026-03-14');
SELECT * FROM personalize.refresh_segments(ARRAY['t_eq', 'missing']);
-- a rule altered into one that does not change with time leaves no pending rows behind
SELECT personalize.create_segment('timed', '{"event": "Email Opened", "min": 1, "within": "7 days"}', '2026-01-01') AS timed \gset
SELECT segment_id = :timed AS returns_its_id FROM personalize.segments WHERE name = 'timed';
SELECT count(*) AS pending FROM personalize.segment_pending
 WHERE segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'timed');
SELECT personalize.alter_segment('timed', '{"trait": "town", "value": "Bergen"}', '2026-01-01') = :timed AS returns_its_id;
SELECT count(*) AS pending FROM personalize.segment_pending
 WHERE segment_id = (SELECT segment_id FROM personalize.segments WHERE name = 'timed');
SELECT personalize.drop_segment('timed');

-- install_schedule: without pg_cron it says so; with it, it registers tick and maintain
SELECT personalize.install_schedule();
\set VERBOSITY terse
CREATE EXTENSION pg_cron;
SELECT personalize.install_schedule();
SELECT personalize.install_schedule();
SELECT jobname, schedule, command FROM cron.job ORDER BY jobname;
-- The profile fields a rule may compare are one table in the compiler (_segment_fields), from
-- which its error message is built; the view SQL segments read has each column, with a matching type.
SELECT count(*) AS fields,
       count(*) FILTER (WHERE a.attname IS NULL) AS missing_from_view,
       count(*) FILTER (WHERE a.attname IS NOT NULL AND f.kind <> CASE
                          WHEN a.atttypid IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype, 'numeric'::regtype) THEN 'number'
                          WHEN a.atttypid = 'timestamptz'::regtype THEN 'timestamp'
                          WHEN a.atttypid = 'boolean'::regtype THEN 'boolean'
                          WHEN a.atttypid = 'text'::regtype THEN 'text' END) AS wrong_type
  FROM personalize._segment_fields() f
  LEFT JOIN pg_attribute a ON a.attrelid = 'personalize.segment_profiles'::regclass AND a.attname = f.name
 WHERE f.reads NOT IN ('clv', 'cluster');  -- computed from a model (p_alive, churn_risk, cluster), not columns
\set VERBOSITY default
SELECT personalize.create_segment('x', '{"field": "nope"}');
\set VERBOSITY terse
DROP EXTENSION pg_cron;
DROP EXTENSION personalize;
