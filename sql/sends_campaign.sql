-- Campaigns: audience expressions over segments, launch set-at-a-time through the policy,
-- idempotent runs, send times (now, at, local time of day), pause, resume, cancel, schedules.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-03-15', 1, 1);
SELECT array_agg(personalize.identify(u, jsonb_build_object('name', u, 'tier', t) || z, NULL, '2026-03-01') ORDER BY o) AS ids
  FROM (VALUES (1, 'ann', 'gold', '{"timezone": "Asia/Tokyo"}'::jsonb), (2, 'bo', 'gold', '{}'),
               (3, 'cy', 'silver', '{"timezone": "America/Los_Angeles"}'), (4, 'di', 'silver', '{}'),
               (5, 'ed', 'bronze', '{}')) v(o, u, t, z);
UPDATE personalize.profiles SET email = user_id || '@example.com';
SELECT count(*) FROM (SELECT personalize.set_consent(profile_id, 'subscribed', as_of => '2026-03-01') FROM personalize.profiles) x;
SELECT personalize.create_segment('gold', '{"trait": "tier", "value": "gold"}', '2026-03-01');
SELECT personalize.create_segment('silver', '{"trait": "tier", "value": "silver"}', '2026-03-01');
SELECT personalize.create_segment('zoned', '{"trait": "timezone", "op": "exists"}', '2026-03-01');
SELECT personalize.create_segment('big spenders!', '{"trait": "tier", "op": "in", "value": ["gold", "bronze"]}', '2026-03-01');
INSERT INTO personalize.templates (name, subject, text_body) VALUES ('news', 'News for {{ traits.name }}', 'Hello');
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

-- audience expressions: &, | and - share one precedence and associate to the left, as the
-- audience operators do in SQL; parentheses group; odd names are double-quoted
SELECT personalize.parse_audience('gold');
SELECT personalize.parse_audience('gold | silver - zoned');
SELECT personalize.parse_audience('gold | (silver - zoned)');
SELECT personalize.parse_audience('"big spenders!" & zoned');
-- members: gold {1,2}, silver {3,4}, zoned {1,3}, big spenders {1,2,5}
SELECT e, array(SELECT personalize.audience_members(personalize._audience_eval(personalize.parse_audience(e), '2026-03-02'))) AS members
  FROM unnest(ARRAY['gold | silver - zoned', 'gold | (silver - zoned)', '"big spenders!" & zoned', 'gold & silver']) e;

-- launch: one statement for the whole audience; each profile once per run
SELECT personalize.create_campaign('spring', 'gold | (silver - zoned)', 'news', priority => 3,
                                   from_address => 'shop@example.com', reply_to => 'help@example.com');
SELECT name, audience, audience_tree, template, kind, priority, status, send_time FROM personalize.campaigns;
SELECT * FROM personalize.launch_campaign('spring', '2026-03-10 09:00');
SELECT * FROM personalize.launch_campaign('spring', '2026-03-10 09:05');
SELECT status, last_run FROM personalize.campaigns WHERE name = 'spring';
SELECT campaign_run, idempotency_key, priority, available_at FROM personalize.sends ORDER BY send_id;
SELECT campaign_id, run, launched_at, queued, deferred, suppressed FROM personalize.campaign_runs;
-- a claimed campaign send carries the campaign's addresses and its name in the headers
SELECT to_address, from_address, reply_to, subject, headers ->> 'X-Personalize-Campaign' AS campaign
  FROM personalize.claim_sends('w', 1, '5 min', '2026-03-10 09:10');

-- pause: queued sends are not claimed and the campaign cannot be launched; resume undoes it
SELECT personalize.pause_campaign('spring');
SELECT count(*) FROM personalize.claim_sends('w', 10, '5 min', '2026-03-10 09:11');
SELECT pg_temp.err($$SELECT personalize.launch_campaign('spring', '2026-03-10 09:12', 2)$$);
SELECT personalize.resume_campaign('spring');
SELECT status FROM personalize.campaigns WHERE name = 'spring';
-- cancel: queued sends become cancelled, never sent; the leased one is in a consumer's hands
SELECT personalize.cancel_campaign('spring', '2026-03-10 09:13');
SELECT status, count(*) FROM personalize.sends_all GROUP BY 1 ORDER BY 1;
SELECT pg_temp.err($$SELECT personalize.launch_campaign('spring', '2026-03-10 09:14', 2)$$);
SELECT pg_temp.err($$SELECT personalize.resume_campaign('spring')$$);

-- send at a timestamp: queued for then
SELECT personalize.create_campaign('later', 'silver', 'news', send_at => '2026-03-12 08:00');
SELECT queued, deferred FROM personalize.launch_campaign('later', '2026-03-10 10:00');
SELECT DISTINCT available_at FROM personalize.sends WHERE campaign_id = (SELECT campaign_id FROM personalize.campaigns WHERE name = 'later');
-- at 09:00 on each profile's clock: ann in Tokyo (UTC+9) at 00:00 UTC on 11 March (09:00 on
-- 10 March Tokyo, 01:00 UTC, has passed by 10:00 UTC); bo (no zone: the default, UTC) at 09:00
-- UTC on 11 March; cy in Los Angeles, after the change to summer time on 8 March (UTC-7), at
-- 16:00 UTC on 10 March
SELECT personalize.create_campaign('morning', 'gold | zoned', 'news', local_time => '09:00');
SELECT queued, deferred FROM personalize.launch_campaign('morning', '2026-03-10 10:00');
SELECT p.user_id, s.available_at FROM personalize.sends s JOIN personalize.profiles p USING (profile_id)
 WHERE s.campaign_id = (SELECT campaign_id FROM personalize.campaigns WHERE name = 'morning') ORDER BY 1;

-- alter: checked as at creation
SELECT personalize.alter_campaign('later', '{"priority": 9, "audience": "gold & zoned"}');
SELECT priority, audience, audience_tree FROM personalize.campaigns WHERE name = 'later';
SELECT pg_temp.err($$SELECT personalize.alter_campaign('later', '{"audience": "gold &"}')$$);
SELECT pg_temp.err($$SELECT personalize.alter_campaign('later', '{"name": "x"}')$$);
SELECT pg_temp.err($$SELECT personalize.alter_campaign('later', '{"template": "nope"}')$$);

-- schedules need pg_cron; without it a clear error and a hint (55000)
SELECT pg_temp.err($$SELECT personalize.schedule_campaign('later', '0 9 * * 1')$$);
CREATE EXTENSION pg_cron;
SELECT personalize.schedule_campaign('later', '0 9 * * 1') > 0 AS scheduled;
SELECT jobname, schedule, command FROM cron.job ORDER BY jobid;
SELECT status, schedule FROM personalize.campaigns WHERE name = 'later';
-- a scheduled campaign's run is the UTC minute of the firing: launching twice in it enqueues once
SELECT run_id = floor(extract(epoch FROM timestamptz '2026-03-16 09:00') / 60) AS minute_run, queued
  FROM personalize.launch_campaign('later', '2026-03-16 09:00:01');
SELECT queued, existing FROM personalize.launch_campaign('later', '2026-03-16 09:00:40');
SELECT personalize.unschedule_campaign('later');
SELECT count(*) FROM cron.job;
SELECT personalize.unschedule_campaign('later');
DROP EXTENSION pg_cron;

-- a run is unique at run level (its sends' keys c:<campaign>:<run>:<profile> are derived, stored
-- in no send_keys row): another launch of the run skips a profile whose send of it is queued or
-- finished, and enqueues one for a member who has none (here one deleted by hand)
SELECT personalize.create_campaign('rerun', 'gold', 'news');
SELECT queued, existing FROM personalize.launch_campaign('rerun', '2026-03-10 11:00');
SELECT personalize._sends_finish(array_agg(s.send_id), 'sent', '2026-03-10 11:01')
  FROM personalize.sends s JOIN personalize.campaigns c USING (campaign_id) WHERE c.name = 'rerun' AND s.profile_id = 1;
DELETE FROM personalize.sends s USING personalize.campaigns c
 WHERE c.campaign_id = s.campaign_id AND c.name = 'rerun' AND s.profile_id = 2;
SELECT queued, existing FROM personalize.launch_campaign('rerun', '2026-03-10 11:02');
SELECT s.profile_id, s.status, s.idempotency_key = format('c:%s:1:%s', s.campaign_id, s.profile_id) AS derived_key
  FROM personalize.sends_all s JOIN personalize.campaigns c USING (campaign_id) WHERE c.name = 'rerun' ORDER BY s.send_id;
SELECT count(*) AS campaign_keys_stored FROM personalize.send_keys WHERE idempotency_key LIKE 'c:%';

-- bad input
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold', 'nope')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'platinum', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold & (silver', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold silver', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold & & silver', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold) | silver', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold * silver', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', '"gold', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', '', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', '{"and": ["gold"]}', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', '{"xor": ["gold", "silver"]}', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', '{"and": ["gold", ', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', NULL, 'news')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold', 'news', kind => 'sms')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold', 'news', send_at => '2026-03-12', local_time => '09:00')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold', 'news', holdout_percent => 150)$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('x', 'gold', 'news', utm => '{"source": 1}')$$);
SELECT pg_temp.err($$SELECT personalize.create_campaign('later', 'gold', 'news')$$);
SELECT pg_temp.err($$SELECT personalize.launch_campaign('nope')$$);
SELECT pg_temp.err($$SELECT personalize.launch_campaign('later', NULL)$$);
SELECT pg_temp.err($$SELECT personalize.parse_audience(repeat('a|', 6000) || 'a')$$);

DROP EXTENSION personalize;
