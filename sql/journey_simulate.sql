-- simulate_journey: its counts equal those of a real run of the same journey over the same
-- events with simulated time (a day and a half of carts and orders, ingested hour by hour with a
-- tick after each hour); and it writes nothing.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-04-15', 1, 1);
SET personalize.clock = '2026-04-01 00:00+00';
SELECT count(personalize.identify('u' || i, '{}', NULL, '2026-03-01')) FROM generate_series(1, 40) i;
-- every fifth customer has not consented: the entry rule keeps them out
UPDATE personalize.profiles SET email = user_id || '@example.com',
       email_consent = CASE WHEN substr(user_id, 2)::int % 5 = 0 THEN 'unsubscribed' ELSE 'subscribed' END;
-- the events: each customer adds to the cart at a time of their own; two in three order at some
-- later time (some within 10 minutes, some within a day, some later); one in four adds twice;
-- everyone views products (which no journey reads)
CREATE TABLE stream AS
SELECT 'u' || i AS user_id, e.event, e.properties, '2026-04-01'::timestamptz + e.minutes * interval '1 minute' AS occurred_at,
       'm-' || i || '-' || e.n AS message_id
  FROM generate_series(1, 40) i
 CROSS JOIN LATERAL (VALUES
     (1, 'Product Added', jsonb_build_object('product_id', 'p' || i, 'price', i), (i * 37) % 1440),
     (2, 'Product Viewed', '{}'::jsonb, (i * 53) % 2000),
     (3, CASE WHEN i % 4 = 0 THEN 'Product Added' END, jsonb_build_object('product_id', 'q' || i, 'price', 2), (i * 37) % 1440 + 4),
     (4, CASE WHEN i % 3 <> 0 THEN 'Order Completed' END, jsonb_build_object('order_id', 'o' || i, 'revenue', 10),
         (i * 37) % 1440 + (ARRAY[3, 200, 1700, 45])[i % 4 + 1])
 ) AS e(n, event, properties, minutes)
 WHERE e.event IS NOT NULL;
SELECT event, count(*) FROM stream GROUP BY event ORDER BY event;

-- the real run: the journey live, the events ingested hour by hour, a tick after each hour
SELECT personalize.install_abandoned_cart() > 0 AS installed;
DO $$
BEGIN
    FOR h IN 0 .. 47 LOOP
        PERFORM set_config('personalize.clock', ('2026-04-01'::timestamptz + (h + 1) * interval '1 hour')::text, true);
        INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
        SELECT user_id, event, properties, occurred_at, message_id FROM stream
         WHERE occurred_at >= '2026-04-01'::timestamptz + h * interval '1 hour'
           AND occurred_at < '2026-04-01'::timestamptz + (h + 1) * interval '1 hour'
         ORDER BY occurred_at, message_id;
        PERFORM personalize.tick('2026-04-01'::timestamptz + (h + 1) * interval '1 hour');
    END LOOP;
END
$$;
CREATE TABLE real_run AS
SELECT k.step,
       (SELECT count(DISTINCT l.profile_id) FROM personalize.journey_log l JOIN personalize.journeys j USING (journey_id)
         WHERE j.name = 'abandoned_cart' AND l.to_step = k.step) AS reached,
       (SELECT count(*) FROM personalize.sends_all a JOIN personalize.journeys j USING (journey_id)
         WHERE j.name = 'abandoned_cart' AND a.journey_step = k.step AND a.status <> 'suppressed') AS sent,
       (SELECT count(*) FROM personalize.sends_all a JOIN personalize.journeys j USING (journey_id)
         WHERE j.name = 'abandoned_cart' AND a.journey_step = k.step AND a.status = 'suppressed') AS suppressed,
       (SELECT count(*) FROM personalize.journey_log l JOIN personalize.journeys j USING (journey_id)
         WHERE j.name = 'abandoned_cart' AND l.from_step = k.step AND l.to_step IS NULL AND l.cause LIKE 'goal:%') AS converted,
       (SELECT count(*) FROM personalize.journey_log l JOIN personalize.journeys j USING (journey_id)
         WHERE j.name = 'abandoned_cart' AND l.from_step = k.step AND l.cause = 'exit rule') AS exited,
       (SELECT count(*) FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id)
         WHERE j.name = 'abandoned_cart' AND r.step = k.step AND r.state <> 'done') AS waiting
  FROM jsonb_object_keys(personalize.abandoned_cart_definition() -> 'steps') AS k(step);
SELECT * FROM real_run ORDER BY step;
-- by hand from the stream: the 32 who consent enter at (37 i mod 1440) minutes; those with
-- i % 3 = 0 never order, the others order 3 (i % 4 = 0), 200 (1), 1700 (2) or 45 (3) minutes
-- later. Those ordering after 3 minutes convert at wait_order, then enter again with their second
-- add (i % 4 = 0) at 4 minutes and never order again; 200 and 45 convert at wait_again; the
-- rest are reminded 24 hours later, if that falls before the end (minute 2880).
SELECT count(*) AS entered,
       count(*) FILTER (WHERE i % 3 <> 0 AND i % 4 = 0) AS converted_at_wait_order,
       count(*) FILTER (WHERE i % 3 <> 0 AND i % 4 IN (1, 3)) AS converted_at_wait_again,
       count(*) FILTER (WHERE NOT (i % 3 <> 0 AND i % 4 IN (1, 3))
                          AND (i * 37) % 1440 + CASE WHEN i % 3 <> 0 AND i % 4 = 0 THEN 4 ELSE 0 END + 1450 <= 2880) AS last_chances
  FROM generate_series(1, 40) i WHERE i % 5 <> 0;

-- the simulation over the same events, after the journey is gone: the same counts
SELECT personalize.drop_journey('abandoned_cart');
SELECT count(*) AS runs, (SELECT count(*) FROM personalize.journey_log) AS log FROM personalize.journey_runs;
SELECT count(*) AS sends_before, max(send_id) AS last_send_before FROM personalize.sends_all \gset
SELECT s.step, s.reached, s.sent, s.suppressed, s.converted, s.exited, s.waiting,
       (s.reached, s.sent, s.suppressed, s.converted, s.exited, s.waiting)
       = (r.reached, r.sent, r.suppressed, r.converted, r.exited, r.waiting) AS as_real
  FROM personalize.simulate_journey(personalize.abandoned_cart_definition(), '2026-04-01', '2026-04-03') s
  JOIN real_run r USING (step) ORDER BY s.step;
-- it wrote nothing: no journey, run, log row or send of its own is left
SELECT (SELECT count(*) FROM personalize.journeys) AS journeys, (SELECT count(*) FROM personalize.journey_runs) AS runs,
       (SELECT count(*) FROM personalize.journey_log) AS log,
       (SELECT count(*) FROM personalize.sends_all) = :sends_before AS no_new_sends,
       (SELECT max(send_id) FROM personalize.sends_all) = :last_send_before AS same_last_send;
-- bad arguments
SELECT * FROM personalize.simulate_journey(personalize.abandoned_cart_definition(), '2026-04-03', '2026-04-01');
SELECT * FROM personalize.simulate_journey('{"entry": {"event": "A"}}', '2026-04-01', '2026-04-03');
DROP TABLE stream, real_run;
DROP EXTENSION personalize;
