-- Journeys and the profile's own functions: merge_profiles moves a dropped profile's runs and
-- log to the kept profile (a journey both are in goes on as the kept profile's run, the other
-- ends 'dropped'), export_profile exports them, forget erases them.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1);
SET personalize.clock = '2026-03-01 00:00+00';
SELECT count(personalize.identify(u, '{}', NULL, '2026-03-01')) FROM unnest(ARRAY['ann', 'bo']) u;
CREATE FUNCTION pid(u text) RETURNS bigint LANGUAGE sql AS $$ SELECT profile_id FROM personalize.profiles WHERE user_id = u $$;
CREATE FUNCTION anon(a text) RETURNS bigint LANGUAGE sql AS $$ SELECT profile_id FROM personalize.identities WHERE kind = 'anonymous_id' AND value = a $$;
-- each run: whose it is, in which journey, where and how it ended
CREATE FUNCTION runs() RETURNS TABLE (who text, journey text, step text, state text, outcome text, wake_at timestamptz)
LANGUAGE sql AS $$
    SELECT coalesce(p.user_id, 'anonymous'), j.name, r.step, r.state, r.outcome, r.wake_at
      FROM personalize.journey_runs r JOIN personalize.journeys j USING (journey_id)
      LEFT JOIN personalize.profiles p USING (profile_id)
     ORDER BY r.run_id
$$;
SELECT personalize.create_journey('browse', '{"entry": {"event": "Product Added"}, "start": "w",
  "steps": {"w": {"wait_for": {"event": "Order Completed", "timeout": "1 hour"}, "happened": "x", "timed_out": "x"},
            "x": {"exit": true}}}');
SELECT personalize.create_journey('viewed', '{"entry": {"event": "Product Viewed"}, "start": "w",
  "steps": {"w": {"wait": "1 hour", "next": "x"}, "x": {"exit": true}}}');

-- ann and bo enter 'browse'; an anonymous visitor enters 'browse' and 'viewed'
SELECT personalize.track('ann', 'Product Added', '{"product_id": "p1", "name": "Mug"}', '2026-03-10 10:00');
SELECT personalize.track('bo', 'Product Added', '{"product_id": "p2", "name": "Cup"}', '2026-03-10 10:00');
SELECT personalize.track(NULL, 'Product Added', '{"product_id": "p3", "name": "Pot"}', '2026-03-10 10:05', NULL, 'anon-1');
SELECT personalize.track(NULL, 'Product Viewed', '{"product_id": "p3"}', '2026-03-10 10:06', NULL, 'anon-1');
SELECT * FROM runs();

-- the visitor turns out to be ann: her 'browse' run goes on, the visitor's ends 'dropped' at the
-- merge's time; the visitor's 'viewed' run becomes ann's, waking when it would have
SELECT personalize.merge_profiles(pid('ann'), anon('anon-1'), false, 'login', '2026-03-10 10:10') = pid('ann') AS kept_ann;
SELECT * FROM runs();
SELECT l.from_step, l.to_step, l.cause, l.at, l.profile_id = pid('ann') AS on_ann
  FROM personalize.journey_log l JOIN personalize.journey_runs r USING (run_id)
 WHERE r.outcome = 'dropped' ORDER BY l.log_id;
-- nothing stays on a profile that no longer exists
SELECT (SELECT count(*) FROM personalize.journey_runs r WHERE NOT EXISTS
          (SELECT FROM personalize.profiles p WHERE p.profile_id = r.profile_id)) AS orphan_runs,
       (SELECT count(*) FROM personalize.journey_log l WHERE NOT EXISTS
          (SELECT FROM personalize.profiles p WHERE p.profile_id = l.profile_id)) AS orphan_log;
-- ann's runs go on: tick past both wake-ups ends them as their steps say
SELECT personalize.tick('2026-03-10 11:30');
SELECT * FROM runs();

-- export_profile carries ann's three runs and their 8 transitions (browse: entry, timeout, end;
-- the dropped run: entry, merge; viewed: entry, wait over, end)
SELECT jsonb_array_length(x -> 'journey_runs') AS runs, jsonb_array_length(x -> 'journey_log') AS transitions,
       (x -> 'journey_runs' -> 0 ->> 'context') LIKE '%Mug%' AS first_context_has_the_mug,
       x -> 'journey_runs' -> 0 ? 'profile_id' AS leaks_profile_id
  FROM personalize.export_profile(pid('ann')) x;

-- forget erases bo's run, its context and its log; ann's stay
SELECT personalize.forget(pid('bo'), '2026-03-10 12:00') >= 1 AS forgot_bo;
SELECT (SELECT count(*) FROM personalize.journey_runs r WHERE r.context::text LIKE '%Cup%') AS runs_with_bos_cart,
       (SELECT count(*) FROM personalize.journey_runs) AS runs_left,
       (SELECT count(*) FROM personalize.journey_log) AS log_rows_left;
DROP FUNCTION pid(text), anon(text), runs();
DROP EXTENSION personalize;
