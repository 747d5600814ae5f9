-- Segment time semantics (docs/segments.md, "Time"): the boundaries of "ago" and "within",
-- fields folded from events taken as of the evaluation time like event conditions, the default
-- evaluation time, no refresh back before a tick, answers independent of the session TimeZone,
-- and rules refused with the JSON path of the bad key. Every expectation is worked out by hand
-- in the comment above it.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-08-15', 4, 8) > 0 AS partitions;

-- 1. "ago" at its boundary (issue 10's reproduction). bought_30d: last_purchase_at + 30 days >=
-- the evaluation time; seen_3d: last_seen_at + 3 days > it. u1 bought 05-02 (in until 06-01
-- 00:00 included), u2 bought 05-05 (in until 06-04 00:00 included), u3 opened 05-30 (in until
-- 06-02 00:00 excluded).
SET personalize.clock = '2026-06-01 00:00+00';
SELECT personalize.create_segment('bought_30d', '{"field": "last_purchase_at", "op": "gte", "value": {"ago": "30 days"}}', '2026-06-01');
SELECT personalize.create_segment('seen_3d', '{"field": "last_seen_at", "op": "gt", "value": {"ago": "3 days"}}', '2026-06-01');
SELECT personalize.track('u1', 'Order Completed', '{"order_id": "a", "revenue": 10}', '2026-05-02 00:00+00');
SELECT personalize.track('u2', 'Order Completed', '{"order_id": "b", "revenue": 10}', '2026-05-05 00:00+00');
SELECT personalize.track('u3', 'Email Opened', '{}', '2026-05-30 00:00+00');
CREATE VIEW members AS
SELECT s.name, p.user_id, m.recheck_at FROM personalize.segment_members m
  JOIN personalize.segments s USING (segment_id) JOIN personalize.profiles p USING (profile_id);
-- at 06-01: u1 and u2 bought within 30 days (u1 exactly), u3 was seen within 3 days
SELECT * FROM members WHERE name IN ('bought_30d', 'seen_3d') ORDER BY 1, 2;
-- 06-02 00:00: u1 has left bought_30d (since 06-01 00:00:00.000001); u3 leaves seen_3d exactly now
SELECT personalize.tick('2026-06-02 00:00+00') AS changes;
SELECT * FROM members WHERE name IN ('bought_30d', 'seen_3d') ORDER BY 1, 2;
-- 06-04 00:00, exactly 30 days after u2's purchase: still in, to be rechecked a microsecond later
SELECT personalize.tick('2026-06-04 00:00+00') AS changes;
SELECT * FROM members WHERE name IN ('bought_30d', 'seen_3d') ORDER BY 1, 2;
-- 06-21: u2 has left; a full refresh agrees with the ticks
SELECT personalize.tick('2026-06-21 00:00+00') AS changes;
SELECT * FROM members WHERE name IN ('bought_30d', 'seen_3d') ORDER BY 1, 2;
SELECT * FROM personalize.refresh_segments(ARRAY['bought_30d', 'seen_3d'], '2026-06-21 00:00+00');

-- "eq" with "ago" holds at one instant: u4 opened at 06-21 00:00, so last_seen_at + 1 day equals
-- the evaluation time only at 06-22 00:00; it enters then and leaves a microsecond later.
SET personalize.clock = '2026-06-21 00:00+00';
SELECT personalize.track('u4', 'Email Opened', '{}', '2026-06-21 00:00+00');
SELECT personalize.create_segment('seen_exactly_1d', '{"field": "last_seen_at", "op": "eq", "value": {"ago": "1 day"}}', '2026-06-21');
SELECT sp.recheck_at FROM personalize.segment_pending sp JOIN personalize.segments s USING (segment_id) WHERE s.name = 'seen_exactly_1d';
SELECT personalize.tick('2026-06-22 00:00+00') AS changes;
SELECT * FROM members WHERE name = 'seen_exactly_1d';
SELECT personalize.tick('2026-06-22 00:00:00.000001+00') AS changes;
SELECT count(*) AS left_after_a_microsecond FROM members WHERE name = 'seen_exactly_1d';

-- 2. "within": an event exactly "within" before the evaluation time is outside the window, one a
-- microsecond later is inside, and one stamped at the evaluation time itself counts. u3's open
-- is at 05-30 00:00.
SELECT personalize.create_segment('opened_7d_at_edge', '{"event": "Email Opened", "within": "7 days"}', '2026-06-06 00:00+00');
SELECT personalize.create_segment('opened_7d_inside', '{"event": "Email Opened", "within": "7 days"}', '2026-06-05 23:59:59.999999+00');
SELECT personalize.create_segment('opened_now', '{"event": "Email Opened", "within": "1 hour"}', '2026-05-30 00:00+00');
SELECT name, array_agg(user_id ORDER BY user_id) FROM members
 WHERE name IN ('opened_7d_at_edge', 'opened_7d_inside', 'opened_now') GROUP BY 1 ORDER BY 1;
-- ... and the window closes exactly at occurred_at + within, the recheck time
SELECT recheck_at FROM members WHERE name = 'opened_7d_inside';

-- 3. Future-stamped events: field conditions see the state as of the evaluation time, as event
-- conditions do. At 06-21 00:00, u5 has an open at 06-20 00:00 and an order stamped 06-25.
SELECT personalize.create_segment('lapsed_12h', '{"field": "last_seen_at", "op": "lt", "value": {"ago": "12 hours"}}', '2026-06-21');
SELECT personalize.create_segment('buyer', '{"field": "purchase_count", "op": "gte", "value": 1}', '2026-06-21');
SELECT personalize.create_segment('spent_10', '{"field": "purchase_total", "op": "gte", "value": 10}', '2026-06-21');
SELECT personalize.create_segment('two_events', '{"field": "event_count", "op": "gte", "value": 2}', '2026-06-21');
SELECT personalize.create_segment('ordered', '{"event": "Order Completed"}', '2026-06-21');
SELECT personalize.track('u5', 'Email Opened', '{}', '2026-06-20 00:00+00');
SELECT personalize.track('u5', 'Order Completed', '{"order_id": "c", "revenue": 25}', '2026-06-25 00:00+00');
-- as of 06-21: one event, no purchase, last seen 06-20 00:00 (more than 12 hours ago): lapsed
-- only; every other segment waits for 06-25 in segment_pending
SELECT name FROM members WHERE user_id = 'u5' AND name IN ('lapsed_12h', 'buyer', 'spent_10', 'two_events', 'ordered') ORDER BY 1;
SELECT s.name, sp.recheck_at FROM personalize.segment_pending sp JOIN personalize.segments s USING (segment_id)
  JOIN personalize.profiles p USING (profile_id)
 WHERE p.user_id = 'u5' AND s.name IN ('lapsed_12h', 'buyer', 'spent_10', 'two_events', 'ordered') ORDER BY 1;
-- at 06-25 the order counts for fields and events alike, and u5 is no longer lapsed
SELECT personalize.tick('2026-06-25 00:00+00') > 0 AS changed;
SELECT name FROM members WHERE user_id = 'u5' AND name IN ('lapsed_12h', 'buyer', 'spent_10', 'two_events', 'ordered') ORDER BY 1;
SELECT * FROM personalize.refresh_segments(ARRAY['lapsed_12h', 'buyer', 'spent_10', 'two_events', 'ordered'], '2026-06-25 00:00+00');

-- 4. The default evaluation time is personalize.clock (else the statement's time), for
-- create_segment, alter_segment, refresh_segment(s) and tick alike.
SET personalize.clock = '2026-06-25 12:00+00';
SELECT personalize.create_segment('defaulted', '{"consent": "unknown"}') > 0 AS created;
SELECT DISTINCT l.at FROM personalize.segment_log l JOIN personalize.segments s USING (segment_id) WHERE s.name = 'defaulted';
SELECT personalize.tick() AS changes;
SELECT DISTINCT evaluated_at FROM personalize.segments WHERE kind = 'rule';

-- 5. No refresh (or alter) back before the last tick: it would put u1 back into bought_30d
SELECT * FROM personalize.refresh_segments(NULL, '2026-06-01 00:00+00');
SELECT * FROM personalize.refresh_segment('bought_30d', '2026-06-01 00:00+00');
SELECT personalize.alter_segment('bought_30d', '{"field": "last_purchase_at", "op": "gte", "value": {"ago": "40 days"}}', '2026-06-01');
SELECT * FROM personalize.refresh_segment('bought_30d', '2026-06-25 12:00+00');
SELECT count(*) AS u1_back_in FROM members WHERE name = 'bought_30d' AND user_id = 'u1';
-- ... nor a tick (22023 too): before the last tick, or before the latest refresh; the same time
-- again is a plain tick, and a refused one leaves the clock where it was
SELECT personalize.tick('2026-06-01 00:00+00');
\set VERBOSITY sqlstate
SELECT personalize.tick('2026-06-01 00:00+00');
\set VERBOSITY terse
SELECT personalize.tick('2026-06-25 12:00+00') AS same_time_again;
SELECT * FROM personalize.refresh_segment('bought_30d', '2026-06-26 00:00+00');
SELECT personalize.tick('2026-06-25 18:00+00');
SELECT last_tick FROM personalize.tick_state;
SELECT count(*) AS u1_back_in FROM members WHERE name = 'bought_30d' AND user_id = 'u1';
SELECT personalize.tick('2026-06-26 00:00+00') AS at_the_refresh;

-- 6. Bad rules are refused with the JSON path of the bad key (SQLSTATE 22023)
SELECT personalize.create_segment('bad', '{"event": "Email Opened", "mni": 5}');
SELECT personalize.create_segment('bad', '{"all": [{"trait": "city", "value": "Oslo", "bogus": 1}]}');
SELECT personalize.create_segment('bad', '{"all": [{"consent": "unknown"}], "any": [{"consent": "subscribed"}]}');
SELECT personalize.create_segment('bad', '{"event": "Order Completed", "between": ["2026-03-01", "2026-02-01"]}');
SELECT personalize.create_segment('bad', '{"event": "Order Completed", "between": ["2026-03-01", "2026-03-01"]}');
SELECT personalize.create_segment('bad', '{"engagement": {"op": "gt", "value": 1e400}}');
SELECT personalize.create_segment('bad', '{"field": "last_seen_at", "op": "gt", "value": {"ago": "1 day", "x": 1}}');
SELECT personalize.create_segment('bad', '{"event": "Order Completed", "where": [{"property": "a", "value": 1, "opp": "eq"}]}');
SELECT personalize.create_segment('bad', '{"bucket": {"salt": "s", "form": 1}}');
SELECT personalize.create_segment('bad', '{"field": "event_count", "op": "in", "value": [1, "x"]}');
SELECT personalize.create_segment('bad', '{"field": "nope"}');
SELECT personalize.create_segment('bad', '{"event": "Order Completed", "between": ["0001-01-01 00:00+00 BC", "2026-01-01"]}');
-- a huge threshold where the comparison is numeric is a plain answer, not an error
SELECT personalize.create_segment('huge', '{"any": [{"trait": "age", "op": "gt", "value": 1e400}, {"field": "purchase_total", "op": "gt", "value": 1e400}]}') > 0 AS created;

-- 7. TimeZone: the same answers under a zone with a DST change (1 November 2026 in New York)
-- inside the window. Every time below is UTC; "within" is counted in UTC (7 × 24 hours here),
-- "between" strings without an offset are UTC, "in" on a timestamp field compares instants.
SET timezone = 'America/New_York';
SET personalize.clock = '2026-11-05 12:00+00';
-- u6 viewed 30 minutes before the 7-day window that ends 11-05 12:00 UTC, u7 30 minutes inside
-- it. (Counted in New York local time, 7 days before 07:00 EST is 07:00 EDT = 11:00 UTC, which
-- would let u6 in.)
SELECT personalize.track('u6', 'Product Viewed', '{}', '2026-10-29 11:30+00');
SELECT personalize.track('u7', 'Product Viewed', '{}', '2026-10-29 12:30+00');
SELECT personalize.create_segment('viewed_7d', '{"event": "Product Viewed", "within": "7 days"}') > 0 AS created;
SELECT personalize.create_segment('viewed_utc_hour', '{"event": "Product Viewed", "between": ["2026-10-29 12:00", "2026-10-29 13:00"]}') > 0 AS created;
SELECT personalize.create_segment('first_seen_in', '{"field": "first_seen_at", "op": "in", "value": ["2026-10-29 12:30", "2026-10-29 07:30:00-05"]}') > 0 AS created;
SELECT name, user_id, recheck_at AT TIME ZONE 'UTC' AS recheck_utc FROM members
 WHERE name IN ('viewed_7d', 'viewed_utc_hour', 'first_seen_in') ORDER BY 1, 2;
-- u7 leaves the window exactly 7 × 24 hours after its view
SELECT personalize.tick('2026-11-05 12:30+00') > 0 AS changed;
SELECT name, user_id FROM members WHERE name IN ('viewed_7d', 'viewed_utc_hour', 'first_seen_in') ORDER BY 1, 2;
RESET timezone;
DROP VIEW members;
DROP EXTENSION personalize;
