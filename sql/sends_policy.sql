-- The send policy, rule by rule in its documented order (suppressions, consent, frequency caps,
-- quiet hours, control group and holdouts, priority), each with expectations computed by hand.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1);
-- profiles 1..10: ann (Berlin), bo, cy (consent unknown), di (no address), ed (hard bounce),
-- fay (a time zone that does not exist), gus, hal, ivy, jo
SELECT array_agg(personalize.identify(u, jsonb_build_object('name', u) || CASE u WHEN 'ann' THEN '{"timezone": "Europe/Berlin"}'::jsonb
                                                                       WHEN 'fay' THEN '{"timezone": "Mars/Base"}' ELSE '{}' END,
                                      NULL, '2026-03-01') ORDER BY o) AS profile_ids
  FROM unnest(ARRAY['ann', 'bo', 'cy', 'di', 'ed', 'fay', 'gus', 'hal', 'ivy', 'jo']) WITH ORDINALITY u(u, o);
UPDATE personalize.profiles SET email = CASE WHEN user_id <> 'di' THEN user_id || '@example.com' END;
SELECT count(*) FROM (SELECT personalize.set_consent(profile_id, 'subscribed', as_of => '2026-03-01')
                        FROM personalize.profiles WHERE user_id <> 'cy') x;
INSERT INTO personalize.suppressions (profile_id, reason, source, suppressed_at) VALUES (5, 'hard_bounce', 'manual test', '2026-03-02');
INSERT INTO personalize.templates (name, subject, text_body) VALUES ('t', 'Hi {{ traits.name }}', 'Hello');
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

-- 1. suppressions stop every kind; 2. marketing needs subscribed, transactional does not;
-- no address, no profile: nothing to send to
SELECT k.kind, p.* FROM unnest(ARRAY['marketing', 'transactional']) k(kind),
       personalize.send_policies(ARRAY[1, 3, 4, 5, 99], k.kind, NULL, '2026-03-10 12:00') p
 ORDER BY 1, 2;

-- 3. frequency caps, counted from sends actually sent: gus (7) was sent marketing mail on
-- 1, 4 and 7 March at 10:00 (and a transactional one, which marketing caps do not count)
INSERT INTO personalize.frequency_caps (kinds, max_sends, window_length) VALUES ('{marketing}', 3, '7 days'), ('{marketing}', 1, '1 day');
INSERT INTO personalize.send_history (send_id, profile_id, template, kind, idempotency_key, status, attempts, available_at,
                                      created_at, sent_at, finished_at)
SELECT 900 + i, 7, 't', k, 'old:' || i, 'sent', 1, at, at, at, at
  FROM (VALUES (1, timestamptz '2026-03-01 10:00', 'marketing'), (2, '2026-03-04 10:00', 'marketing'),
               (3, '2026-03-07 10:00', 'marketing'), (4, '2026-03-07 18:00', 'transactional')) v(i, at, k);
-- at 09:59:59 on 8 March, 3 in the last 7 days and 1 in the last day: deferred until 10:00,
-- when the 1 March send leaves the 7-day window and the 7 March one the 1-day window
-- (a window is (as_of - length, as_of]: a send exactly length ago no longer counts)
SELECT * FROM personalize.send_policy(7, 'marketing', NULL, '2026-03-08 09:59:59');
SELECT * FROM personalize.send_policy(7, 'marketing', NULL, '2026-03-08 10:00');
SELECT * FROM personalize.send_policy(7, 'transactional', NULL, '2026-03-08 09:00');
-- 6. priority: two messages due at 10:00 on 8 March; the day cap allows one. The first in
-- rank goes; the second waits for both caps: the day cap frees at 10:00 + 1 day (the one sent
-- now leaves), the week cap (2 still counted + 2 due - 3 = the 1st oldest, 4 March 10:00) at
-- 11 March 10:00; the later of the two
SELECT * FROM personalize.send_policies(ARRAY[7, 7], 'marketing', NULL, '2026-03-08 10:00');
-- at claim, the higher priority goes first whatever the order it was queued in
SELECT personalize.enqueue_send('t', 7, 'marketing', '{}', 'low', NULL, 1, '2026-03-08 10:00') AS low,
       personalize.enqueue_send('t', 7, 'marketing', '{}', 'high', NULL, 5, '2026-03-08 10:00') AS high \gset
SELECT send_id = :high AS high_went FROM personalize.claim_sends('w', 10, '5 min', '2026-03-08 10:00');
SELECT send_id = :low AS is_low, stage, decision, reason, not_before FROM personalize.send_decisions WHERE send_id IN (:low, :high);
SELECT send_id = :low AS is_low, status, available_at FROM personalize.sends WHERE send_id = :low;
-- a leased send counts against the cap while it is in flight
SELECT * FROM personalize.send_policy(7, 'marketing', NULL, '2026-03-11 10:00');
SELECT personalize.complete_send(:high, 'esp', '2026-03-08 10:01');
DELETE FROM personalize.frequency_caps;

-- 4. quiet hours 21:00 to 08:00 in the profile's time zone, deferred to the window's end.
-- ann lives in Europe/Berlin: on 28 March 2026 at 21:30 UTC it is 22:30 CET there; the night
-- ends at 08:00 on 29 March, after the change to summer time (02:00 CET -> 03:00 CEST), so at
-- 08:00 CEST = 06:00 UTC (not 07:00). bo has no zone and fay a zone that does not exist: both
-- use the default zone (UTC), whose night ends at 08:00 UTC. Transactional mail is not held.
UPDATE personalize.send_settings SET quiet_start = '21:00', quiet_end = '08:00';
SELECT p.* FROM personalize.send_policies(ARRAY[1, 2, 6], 'marketing', NULL, '2026-03-28 21:30') p;
SELECT * FROM personalize.send_policy(1, 'transactional', NULL, '2026-03-28 21:30');
-- 07:59 CEST is still night; 08:00 CEST is not
SELECT * FROM personalize.send_policy(1, 'marketing', NULL, '2026-03-29 05:59');
SELECT * FROM personalize.send_policy(1, 'marketing', NULL, '2026-03-29 06:00');
-- the autumn change (03:00 CEST -> 02:00 CET on 25 October): 22:00 CEST on the 24th is
-- 20:00 UTC; the night ends at 08:00 CET = 07:00 UTC
SELECT * FROM personalize.send_policy(1, 'marketing', NULL, '2026-10-24 20:00');
-- before the window: 20:59 in Berlin (19:59 UTC in summer) is day
SELECT * FROM personalize.send_policy(1, 'marketing', NULL, '2026-06-10 18:59');
SELECT * FROM personalize.send_policy(1, 'marketing', NULL, '2026-06-10 19:00');
-- a window within one day (12:00 to 14:00 UTC for bo)
UPDATE personalize.send_settings SET quiet_start = '12:00', quiet_end = '14:00';
SELECT * FROM personalize.send_policy(2, 'marketing', NULL, '2026-06-10 11:59');
SELECT * FROM personalize.send_policy(2, 'marketing', NULL, '2026-06-10 12:00');
UPDATE personalize.send_settings SET default_timezone = 'America/New_York';
-- 12:30 UTC is 08:30 EDT for bo now: day
SELECT * FROM personalize.send_policy(2, 'marketing', NULL, '2026-06-10 12:30');
UPDATE personalize.send_settings SET quiet_start = NULL, quiet_end = NULL, default_timezone = 'UTC';

-- 5. the global control group: bucket(profile, 'control') < 100 * control_percent. With 30%,
-- buckets below 3000 (python3: int(sha256(b'control:2').hexdigest()[:16], 16) % 10000 == 2463;
-- control:8 -> 198, control:10 -> 2390; 1 -> 8654, 7 -> 5394, 9 -> 9943) are held back
UPDATE personalize.send_settings SET control_percent = 30;
SELECT p.* FROM personalize.send_policies(ARRAY[1, 2, 7, 8, 9, 10], 'marketing', NULL, '2026-03-10 12:00') p;
SELECT p.profile_id, p.decision FROM personalize.send_policies(ARRAY[2, 8], 'transactional', NULL, '2026-03-10 12:00') p;
UPDATE personalize.send_settings SET control_percent = 0;

-- campaign holdouts: bucket(profile, 'holdout:<campaign_id>') < 100 * holdout_percent; 20% of
-- campaign 1 is profiles 5 (1731, but suppressed first), 8 (1748) and 10 (1599); the others are
-- above 2000 (python3 as above with b'holdout:1:3' -> 2582, ...). The same profiles in every run.
SELECT personalize.create_segment('everyone', '{"trait": "name", "op": "exists"}', '2026-03-01');
SELECT personalize.create_campaign('promo', 'everyone', 't', holdout_percent => 20);
SELECT * FROM personalize.launch_campaign('promo', '2026-03-10 12:00', 1);
SELECT * FROM personalize.launch_campaign('promo', '2026-03-17 12:00', 2);
SELECT s.campaign_run, s.status, d.reason, array_agg(s.profile_id ORDER BY s.profile_id) AS profiles
  FROM personalize.sends_all s LEFT JOIN personalize.send_decisions d USING (send_id)
 WHERE s.campaign_id = 1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT * FROM personalize.send_policy(8, 'marketing', 'promo', '2026-03-10 12:00');

-- a campaign that drops capped messages instead of deferring them
INSERT INTO personalize.frequency_caps (kinds, max_sends, window_length) VALUES ('{marketing}', 1, '1 day');
SELECT personalize.create_campaign('flash', 'everyone', 't', drop_when_capped => true);
SELECT * FROM personalize.send_policy(7, 'marketing', 'flash', '2026-03-08 10:30');
SELECT * FROM personalize.send_policy(7, 'marketing', NULL, '2026-03-08 10:30');

-- the decisions at enqueue, counted by reason
SELECT stage, decision, reason, count(*) FROM personalize.send_decisions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- bad input
SELECT pg_temp.err($$SELECT personalize.send_policy(NULL, 'marketing')$$);
SELECT pg_temp.err($$SELECT personalize.send_policy(1, 'spam')$$);
SELECT pg_temp.err($$SELECT personalize.send_policy(1, NULL)$$);
SELECT pg_temp.err($$SELECT personalize.send_policy(1, 'marketing', 'no such campaign')$$);
SELECT pg_temp.err($$SELECT personalize.send_policy(1, 'marketing', NULL, 'infinity')$$);
SELECT pg_temp.err($$INSERT INTO personalize.frequency_caps (max_sends, window_length) VALUES (3, '0 days')$$);
SELECT pg_temp.err($$INSERT INTO personalize.frequency_caps (max_sends, window_length) VALUES (0, '1 day')$$);
SELECT pg_temp.err($$INSERT INTO personalize.frequency_caps (kinds, max_sends, window_length) VALUES ('{sms}', 1, '1 day')$$);
SELECT pg_temp.err($$UPDATE personalize.send_settings SET quiet_start = '21:00'$$);
SELECT pg_temp.err($$UPDATE personalize.send_settings SET default_timezone = 'Atlantis/Capital'$$);
SELECT pg_temp.err($$UPDATE personalize.send_settings SET control_percent = 101$$);

-- A launch passes its members in rising profile_id order, and the policy then skips ranking
-- candidates against each other (no profile can appear twice): _strictly_ascending decides it
SELECT a, personalize._strictly_ascending(a)
  FROM (VALUES ('{1,2,3}'::bigint[]), ('{1,1}'), ('{3,2}'), ('{1,NULL}'), ('{{1,2},{3,4}}'), ('{}')) v(a);
-- and rising ids get the decisions the full ranking gives the same ids in falling order, with a
-- cap of one in 30 days that holds back the profiles with a send in the history
BEGIN;
INSERT INTO personalize.frequency_caps (max_sends, window_length) VALUES (1, '30 days');
WITH up AS (SELECT * FROM personalize.send_policies(ARRAY(SELECT profile_id FROM personalize.profiles ORDER BY 1),
                                                    'marketing', NULL, '2026-03-10 12:00')),
     down AS (SELECT * FROM personalize.send_policies(ARRAY(SELECT profile_id FROM personalize.profiles ORDER BY 1 DESC),
                                                      'marketing', NULL, '2026-03-10 12:00'))
SELECT count(*) AS profiles, count(*) FILTER (WHERE u.reason = 'frequency_cap') AS capped,
       count(*) FILTER (WHERE (u.decision, u.not_before, u.reason) IS DISTINCT FROM (d.decision, d.not_before, d.reason)) AS differ
  FROM up u JOIN down d USING (profile_id);
ROLLBACK;

DROP EXTENSION personalize;
