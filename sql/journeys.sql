-- Journeys: definitions refused with the path of the bad node, the abandoned-cart example in
-- simulated time, each step kind, versioning, re-entry, goals, exit rules, entries on a
-- segment or a trait change, pause and drop, the views and the roles.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1);
SET personalize.clock = '2026-03-01 00:00+00';
SELECT count(personalize.identify(u, jsonb_build_object('first_name', initcap(u)), NULL, '2026-03-01'))
  FROM unnest(ARRAY['ann', 'bo', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal']) u;
UPDATE personalize.profiles SET email = user_id || '@example.com', email_consent = 'subscribed';
UPDATE personalize.send_settings SET unsubscribe_base_url = 'https://mail.example/u?t=';
-- a profile id by user_id, for short queries below
CREATE FUNCTION pid(u text) RETURNS bigint LANGUAGE sql AS $$ SELECT profile_id FROM personalize.profiles WHERE user_id = u $$;
-- a run's transitions as one line: from>to(cause)@minutes after 10:00 on 10 March
CREATE FUNCTION trail(u text, j text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(coalesce(l.from_step, '') || '>' || coalesce(l.to_step, '') || '(' || l.cause || ')@'
                      || (extract(epoch FROM l.at - '2026-03-10 10:00+00') / 60)::integer, ' ' ORDER BY l.log_id)
      FROM personalize.journey_log l JOIN personalize.journeys x USING (journey_id)
     WHERE x.name = j AND l.profile_id = pid(u)
$$;

-- ---- bad definitions are refused with the JSON path of the bad node (22023)
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES ('hello', 'Hi', '<p>hi</p>', 'hi');
CREATE FUNCTION try_journey_detail(d text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text; detail text; state text;
BEGIN
    PERFORM personalize.create_journey('bad', d::jsonb);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, state = RETURNED_SQLSTATE;
    RETURN state || ': ' || msg || ' -- ' || detail;
END
$$;
SELECT try_journey_detail(d) FROM (VALUES
  ('[]'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"exit": true}}, "colour": "red"}'),
  ('{"start": "s", "steps": {"s": {"exit": true}}}'),
  ('{"entry": {"event": "A", "where": [{"property": "price", "op": "bigger", "value": 1}]}, "start": "s", "steps": {"s": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "nope", "steps": {"s": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"wait": "1 day", "next": "t"}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"send": {"template": "hello"}}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"send": {"template": "nosuch"}, "next": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"send": {"template": "hello"}, "next": "u"},
     "u": {"update": {"trait": "t", "value": 1}, "next": "s"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"send": {"template": "hello"}, "next": "b"},
     "b": {"branch": {"consent": "subscribed"}, "yes": "s", "no": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"wait": "1 day", "next": "t"}, "t": {"wait": "1 day", "next": "s"}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"wait": "0 minutes", "next": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"wait": "-1 day", "next": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"wait": "400 days", "next": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"wait": "soon", "next": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"wait_for": {"event": "B", "timeout": "1000 years"}, "happened": "x", "timed_out": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"wait": {"until": "25:00"}, "next": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"branch": {"consent": "maybe"}, "yes": "x", "no": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"split": [{"percent": 50, "next": "x"}, {"percent": 40, "next": "x"}]}, "x": {"exit": true}}}'),
  -- percentages beyond a double's range: refused with the path (were 22003 from numeric_float8)
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"split": [{"percent": 1e400, "next": "x"}]}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"split": [{"percent": 1e-400, "next": "x"}]}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"exit": true}, "lost": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "reentry": "twice", "start": "s", "steps": {"s": {"exit": true}}}'),
  ('{"entry": {"segment": "nosuch"}, "start": "s", "steps": {"s": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"send": {"template": "hello", "experiment": "nosuch"}, "next": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "exit": {"field": "purchase_count", "op": "bigger", "value": 1}, "start": "s", "steps": {"s": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"s": {"send": {"template": "hello", "kind": "bulk"}, "next": "x"}, "x": {"exit": true}}}'),
  ('{"entry": {"event": "A"}, "start": "s", "steps": {"bad name": {"exit": true}}}')
) t(d);
SELECT count(*) AS journeys_after_refusals FROM personalize.journeys;

-- ---- the abandoned-cart example, in simulated time (minutes after 10:00 on 10 March)
SELECT personalize.install_abandoned_cart() AS cart_journey \gset
SELECT name, version, status FROM personalize.journeys;
-- ann orders at minute 9: nothing is sent; bo orders at hour 3: only the reminder; cy never
-- orders: both, with the products of the cart; dee unsubscribes after the reminder: the last
-- chance is suppressed; eve adds a second product while her run is in flight: still one run
-- (and its cart has both products by the time the reminder goes); fay is not subscribed: no run
UPDATE personalize.profiles SET email_consent = 'unsubscribed' WHERE user_id = 'fay';
SET personalize.clock = '2026-03-10 10:00+00';
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT u, 'Product Added', jsonb_build_object('product_id', 'p-' || u, 'name', 'Mug ' || u, 'price', 12.5,
                                              'quantity', 2, 'image_url', 'https://shop.example/' || u || '.png'),
       '2026-03-10 10:00', 'add-' || u
  FROM unnest(ARRAY['ann', 'bo', 'cy', 'dee', 'eve', 'fay']) u;
SELECT user_id, r.step, r.state, r.wake_at, r.context -> 'properties' ->> 'name' AS product
  FROM personalize.journey_runs r JOIN personalize.profiles USING (profile_id) ORDER BY user_id;
SET personalize.clock = '2026-03-10 10:05+00';
SELECT personalize.track('eve', 'Checkout Started', '{"products": [{"product_id": "p-eve2", "name": "Cup", "price": 3, "quantity": 1}]}',
                         '2026-03-10 10:04', 'co-eve'),
       personalize.track('eve', 'Product Added', '{"product_id": "p-eve2", "name": "Cup", "price": 3, "quantity": 1}',
                         '2026-03-10 10:05', 'add2-eve');
SELECT count(*) AS eve_runs FROM personalize.journey_runs WHERE profile_id = pid('eve');
SET personalize.clock = '2026-03-10 10:09+00';
SELECT personalize.track('ann', 'Order Completed', '{"order_id": "A-1", "revenue": 25}', '2026-03-10 10:09', 'order-ann');
SELECT personalize.tick('2026-03-10 10:10') IS NOT NULL AS ticked;
SELECT user_id, template, journey_step, status, extra -> 'journey' -> 'cart' -> 'items' -> 0 ->> 'name' AS first_item,
       jsonb_array_length(extra -> 'journey' -> 'cart' -> 'items') AS items
  FROM personalize.sends_all JOIN personalize.profiles USING (profile_id) ORDER BY user_id, send_id;
SET personalize.clock = '2026-03-10 13:00+00';
SELECT personalize.track('bo', 'Order Completed', '{"order_id": "B-1", "revenue": 25}', '2026-03-10 13:00', 'order-bo');
SELECT personalize.track('dee', 'Unsubscribed', '{}', '2026-03-10 13:00', 'unsub-dee');
SELECT personalize.tick('2026-03-11 10:10') IS NOT NULL AS ticked;
SELECT user_id, template, journey_step, status, last_error
  FROM personalize.sends_all JOIN personalize.profiles USING (profile_id) ORDER BY user_id, send_id;
SELECT user_id, trail(user_id, 'abandoned_cart') FROM personalize.profiles WHERE user_id <> 'hal' ORDER BY user_id;
SELECT user_id, outcome, ended_at FROM personalize.journey_runs JOIN personalize.profiles USING (profile_id) ORDER BY user_id;
-- the reminder to cy renders the cart from the run's context: product, quantity, price, image
SELECT subject, html LIKE '%<img src="https://shop.example/cy.png" alt="Mug cy">%<td>Mug cy</td><td>2 × $12.50</td>%Total $25.00%' AS cart_rendered,
       text
  FROM personalize.claim_sends('w', 10, '5 min', '2026-03-11 10:11') c
  JOIN personalize.sends s USING (send_id) WHERE s.profile_id = pid('cy') AND s.template = 'cart_reminder';
SELECT * FROM personalize.journey_report;
SELECT step, runs_here, reached FROM personalize.journey_steps WHERE journey = 'abandoned_cart' ORDER BY step;
SELECT step, template, status, sends FROM personalize.journey_sends ORDER BY step, status;

-- ---- entry filters (the rule DSL's where), branch, split, update, wait until a local time
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES
  ('big_spender', 'Thanks {{ traits.first_name }}', '<p>{{ journey.properties.price }}</p>', 'x'),
  ('variant_b', 'B', '<p>b</p>', 'b');
UPDATE personalize.profiles SET traits = traits || '{"timezone": "Europe/Berlin"}' WHERE user_id = 'gus';
SELECT personalize.create_journey('steps', '{
  "entry": {"event": "Product Viewed", "where": [{"property": "price", "op": "gt", "value": 20}]},
  "start": "tier",
  "steps": {
    "tier": {"branch": {"trait": "first_name", "value": "Gus"}, "yes": "morning", "no": "coin"},
    "morning": {"wait": {"until": "09:00"}, "next": "mark"},
    "coin": {"split": [{"percent": 50, "next": "mark"}, {"percent": 50, "next": "pause"}], "salt": "coin"},
    "pause": {"wait": "2 hours", "next": "mark"},
    "mark": {"update": {"trait": "viewed_big", "value": true}, "next": "thank"},
    "thank": {"send": {"template": "big_spender", "kind": "transactional"}, "next": "end"},
    "end": {"exit": true}
  }}') > 0 AS created;
SET personalize.clock = '2026-03-12 10:00+00';
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT u, 'Product Viewed', jsonb_build_object('price', p), '2026-03-12 10:00', 'view-' || u
  FROM (VALUES ('ann', 25), ('bo', 30), ('cy', 15), ('dee', 21), ('gus', 99), ('hal', 40)) v(u, p);
-- cy's view (15) does not pass the filter; gus waits for 09:00 in Berlin (08:00 UTC on 13 March);
-- the others split on bucket(profile, 'coin') < 5000
SELECT user_id, step, state, wake_at,
       CASE WHEN user_id <> 'gus' THEN (personalize.bucket(profile_id, 'coin') < 5000) END AS heads
  FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id) JOIN personalize.profiles USING (profile_id)
 WHERE j.name = 'steps' ORDER BY user_id;
SELECT personalize.tick('2026-03-13 08:00') IS NOT NULL AS ticked;
SELECT user_id, traits -> 'viewed_big' AS viewed_big, trail(user_id, 'steps')
  FROM personalize.profiles WHERE user_id IN ('ann', 'bo', 'cy', 'dee', 'gus', 'hal') ORDER BY user_id;
SELECT count(*) AS thanks, min(extra -> 'journey' -> 'properties' ->> 'price') AS lowest_price
  FROM personalize.sends_all WHERE template = 'big_spender';

-- ---- versioning: runs in flight finish on their version, new runs start on the new one
SELECT personalize.create_journey('versions', '{
  "entry": {"event": "Signed Up"}, "start": "w",
  "steps": {"w": {"wait": "1 day", "next": "x"}, "x": {"exit": true}}}') > 0 AS created;
SET personalize.clock = '2026-03-14 10:00+00';
SELECT personalize.track('ann', 'Signed Up', '{}', '2026-03-14 10:00', 'su-ann');
SELECT personalize.alter_journey('versions', '{
  "entry": {"event": "Signed Up"}, "start": "w2",
  "steps": {"w2": {"wait": "2 days", "next": "hi"}, "hi": {"send": {"template": "hello", "kind": "transactional"}, "next": "x"},
            "x": {"exit": true}}}') > 0 AS altered;
SELECT personalize.track('bo', 'Signed Up', '{}', '2026-03-14 11:00', 'su-bo');
SELECT personalize.tick('2026-03-17 00:00') IS NOT NULL AS ticked;
SELECT user_id, r.version, outcome, trail(user_id, 'versions')
  FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id) JOIN personalize.profiles USING (profile_id)
 WHERE j.name = 'versions' ORDER BY user_id;

-- ---- re-entry: once ever; once per 2 days; always (whenever not in the journey)
SELECT personalize.create_journey('re_' || (p::jsonb #>> '{}'), format('{"entry": {"event": "Ping"}, "reentry": %s, "start": "w",
  "steps": {"w": {"wait": "1 hour", "next": "x"}, "x": {"exit": true}}}', p)::jsonb) > 0 AS created
  FROM (VALUES ('"once"'), ('"always"')) v(p);
SELECT personalize.create_journey('re_after', '{"entry": {"event": "Ping"}, "reentry": {"after": "2 days"}, "start": "w",
  "steps": {"w": {"wait": "1 hour", "next": "x"}, "x": {"exit": true}}}') > 0 AS created;
-- pings at 0:00, 0:30 (a run is in flight everywhere), 3:00, 1 day, 3 days later
SET personalize.clock = '2026-03-20 00:00+00';
SELECT personalize.track('cy', 'Ping', '{}', t, 'ping-' || t)
  FROM unnest(ARRAY['2026-03-20 00:00', '2026-03-20 00:30', '2026-03-20 03:00', '2026-03-21 00:00',
                    '2026-03-23 00:00']::timestamptz[]) t;
SELECT personalize.tick('2026-03-24 00:00') IS NOT NULL AS ticked;
SELECT j.name, count(*) AS runs, string_agg(to_char(r.entered_at, 'DD HH24:MI'), ', ' ORDER BY r.entered_at) AS entered
  FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id)
 WHERE j.name LIKE 're\_%' GROUP BY j.name ORDER BY j.name;

-- ---- goals and exit rules: a goal ends the run wherever it is; an exit rule at the next step
SELECT personalize.create_journey('winback', '{
  "entry": {"event": "Browsed"}, "goal": {"event": "Order Completed", "where": [{"property": "revenue", "op": "gte", "value": 10}]},
  "exit": {"trait": "vip", "value": true}, "start": "w",
  "steps": {"w": {"wait": "1 day", "next": "hi"}, "hi": {"send": {"template": "hello", "kind": "transactional"}, "next": "x"},
            "x": {"exit": true}}}') > 0 AS created;
SET personalize.clock = '2026-03-25 00:00+00';
SELECT personalize.track(u, 'Browsed', '{}', '2026-03-25 00:00', 'br-' || u) FROM unnest(ARRAY['ann', 'bo', 'cy']) u;
-- ann orders 5 (below the goal's filter), bo orders 50 (the goal), cy becomes a VIP
SELECT personalize.track('ann', 'Order Completed', '{"order_id": "W-1", "revenue": 5}', '2026-03-25 01:00', 'o5-ann'),
       personalize.track('bo', 'Order Completed', '{"order_id": "W-2", "revenue": 50}', '2026-03-25 01:00', 'o50-bo');
SELECT personalize.identify('cy', '{"vip": true}', NULL, '2026-03-25 02:00') IS NOT NULL AS identified;
SELECT personalize.tick('2026-03-26 00:00') IS NOT NULL AS ticked;
SELECT user_id, outcome, trail(user_id, 'winback')
  FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id) JOIN personalize.profiles USING (profile_id)
 WHERE j.name = 'winback' ORDER BY user_id;

-- ---- entry on entering a segment, and on a trait changing from one value to another
SELECT personalize.create_segment('big_buyers', '{"field": "purchase_total", "op": "gte", "value": 100}') > 0 AS segment;
SELECT personalize.create_journey('welcome_big', '{"entry": {"segment": "big_buyers"}, "start": "hi",
  "steps": {"hi": {"send": {"template": "hello", "kind": "transactional"}, "next": "x"}, "x": {"exit": true}}}') > 0 AS created;
SELECT personalize.create_journey('gold', '{"entry": {"trait": "tier", "from": "silver", "to": "gold"}, "start": "x",
  "steps": {"x": {"exit": true}}}') > 0 AS created;
SET personalize.clock = '2026-03-27 00:00+00';
SELECT personalize.track('dee', 'Order Completed', '{"order_id": "D-1", "revenue": 150}', '2026-03-27 00:00', 'o150-dee');
SELECT personalize.identify('eve', '{"tier": "silver"}', NULL, '2026-03-27 00:00') IS NOT NULL,
       personalize.identify('eve', '{"tier": "gold"}', NULL, '2026-03-27 00:00') IS NOT NULL,
       personalize.identify('fay', '{"tier": "gold"}', NULL, '2026-03-27 00:00') IS NOT NULL;
SELECT j.name, user_id, r.context, r.outcome
  FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id) JOIN personalize.profiles USING (profile_id)
 WHERE j.name IN ('welcome_big', 'gold') ORDER BY j.name, user_id;

-- ---- a send step with an experiment: each profile gets its variant's template (assign_variants)
SELECT personalize.create_experiment('subject_test', '[{"name": "a"}, {"name": "b", "template": "variant_b"}]') > 0 AS experiment;
SELECT personalize.create_journey('tested', '{"entry": {"event": "Tested"}, "start": "s",
  "steps": {"s": {"send": {"template": "hello", "kind": "transactional", "experiment": "subject_test"}, "next": "x"},
            "x": {"exit": true}}}') > 0 AS created;
SET personalize.clock = '2026-03-28 00:00+00';
INSERT INTO personalize.events (user_id, event, occurred_at, message_id)
SELECT u, 'Tested', '2026-03-28 00:00', 'test-' || u FROM unnest(ARRAY['ann', 'bo', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal']) u;
SELECT count(*) AS sends,
       count(*) FILTER (WHERE s.variant = a.variant AND s.template = CASE a.variant WHEN 'b' THEN 'variant_b' ELSE 'hello' END
                          AND s.extra -> 'experiment' ->> 'variant' = a.variant) AS as_assigned
  FROM personalize.sends_all s JOIN personalize.journeys j USING (journey_id)
  JOIN personalize.assign_variants('subject_test', ARRAY(SELECT profile_id FROM personalize.profiles)) a USING (profile_id)
 WHERE j.name = 'tested';

-- ---- pause (no entries, no advance), resume, drop
SELECT personalize.pause_journey('re_always');
SET personalize.clock = '2026-03-29 00:00+00';
SELECT personalize.track('dee', 'Ping', '{}', '2026-03-29 00:00', 'ping-dee');
SELECT j.name, count(r.run_id) AS dee_runs
  FROM personalize.journeys j LEFT JOIN personalize.journey_runs r ON r.journey_id = j.journey_id AND r.profile_id = pid('dee')
 WHERE j.name LIKE 're\_%' GROUP BY j.name ORDER BY j.name;
SELECT personalize.resume_journey('re_always');
SELECT personalize.drop_journey('re_always');
SELECT personalize.drop_journey('re_always');
SELECT count(*) AS runs_left FROM personalize.journey_runs r WHERE NOT EXISTS (SELECT FROM personalize.journeys j WHERE j.journey_id = r.journey_id);

-- ---- a paused journey's due runs are not read by tick: the wake-up index is read journey by
-- journey, active ones only. Counted by this transaction's own statistics (runs fetched through
-- an index): no active journey has a due run at the tick, so it fetches none; the paused
-- journey has 8 due runs.
SELECT personalize.tick('2026-03-30 02:00+00') IS NOT NULL AS ticked;  -- whatever else is due by then
SELECT personalize.create_journey('held', '{"entry": {"event": "Hold"}, "start": "w",
    "steps": {"w": {"wait": "1 hour", "next": "x"}, "x": {"exit": true}}}') > 0 AS created;
SELECT personalize.create_journey('later', '{"entry": {"event": "Hold"}, "start": "w",
    "steps": {"w": {"wait": "1 day", "next": "x"}, "x": {"exit": true}}}') > 0 AS created;
SET personalize.clock = '2026-03-30 00:00+00';
INSERT INTO personalize.events (user_id, event, occurred_at, message_id)
SELECT u, 'Hold', '2026-03-30 00:00', 'hold-' || u FROM unnest(ARRAY['ann', 'bo', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal']) u;
SELECT personalize.pause_journey('held');
ANALYZE personalize.journey_runs;  -- the plan takes the wake-up index when the planner knows the runs
BEGIN;
-- the backend's counts not yet reported are in the view too: the difference is this transaction's
SELECT idx_tup_fetch AS fetched_before FROM pg_stat_xact_user_tables WHERE relid = 'personalize.journey_runs'::regclass \gset
-- tick's journey share alone (the rest of tick re-evaluates segments, whose entries may look up runs)
SELECT personalize._journeys_tick('2026-03-30 02:00+00') AS woken;
SELECT idx_tup_fetch - :fetched_before AS runs_fetched_by_index FROM pg_stat_xact_user_tables WHERE relid = 'personalize.journey_runs'::regclass;
COMMIT;
SELECT j.name, r.state, r.step, count(*) FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id)
 WHERE j.name IN ('held', 'later') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- resumed, its runs that fell due meanwhile go on at the next tick, each at its own wake-up time
SELECT personalize.resume_journey('held');
SELECT personalize.tick('2026-03-30 02:00+00') IS NOT NULL AS ticked;
SELECT j.name, r.state, r.outcome, r.ended_at, count(*) FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id)
 WHERE j.name IN ('held', 'later') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;

-- ---- roles: analysts read the runs and the views; writers define nothing
CREATE ROLE regress_j_analyst IN ROLE personalize_analyst;
CREATE ROLE regress_j_writer IN ROLE personalize_writer;
SET ROLE regress_j_analyst;
SELECT count(*) > 0 AS reads_report FROM personalize.journey_report;
SELECT personalize.create_journey('x', '{}');
SET ROLE regress_j_writer;
SELECT personalize.create_journey('x', '{}');
SELECT count(*) FROM personalize.journey_runs;
RESET ROLE;
DROP ROLE regress_j_analyst, regress_j_writer;
DROP FUNCTION pid(text), trail(text, text), try_journey_detail(text);
DROP EXTENSION personalize;
