-- Bad input: each is refused with a clear error and SQLSTATE (or a documented behaviour), never
-- accepted silently. as_of everywhere: a finite time in the years 1 to 9999, else 22023.
CREATE EXTENSION personalize;
\set VERBOSITY sqlstate
SELECT personalize.maintain('2026-02-15', 1, 1);
SELECT personalize.identify('ann', '{"email": "ann@example.com"}', as_of => '2026-02-01') AS ann;
SELECT personalize.identify('bob', as_of => '2026-02-01') AS bob;

-- as_of: one check, one wording, one SQLSTATE
SELECT personalize.identify('x', as_of => 'infinity');
SELECT personalize.identify('x', as_of => '-infinity');
SELECT personalize.identify('x', as_of => '0001-12-31 23:59+00 BC');
SELECT personalize.alias('y', 'x', 'infinity');
SELECT personalize.merge_profiles(1, 2, as_of => 'infinity');
SELECT personalize.forget(2, 'infinity');
SELECT personalize.set_consent(1, 'subscribed', as_of => 'infinity');
SELECT personalize.maintain('294276-11-01');
SELECT personalize.maintain('10000-01-01 00:00+00');
SELECT personalize.score_rfm('infinity');
SELECT personalize.engagement_score(1, 'infinity');
SELECT personalize.top_interests(1, 3, 'infinity');
SELECT personalize.context(1, 'infinity');
SELECT personalize.render('{{ "now" | date: "%Y" }}', '{}', as_of => 'infinity');
SELECT personalize.render('{{ "now" | date: "%Y" }}', '{}', as_of => '-infinity');
SELECT personalize.render_json('{{ "now" | date: "%Y" }}', '{}', as_of => '10000-01-01 00:00+00');
SELECT personalize.render('{{ "now" | date: "%Y" }}', '{}', as_of => '9999-12-31 23:59+00') AS last_year;
\set VERBOSITY default
SELECT personalize.identify('x', as_of => 'infinity');
\set VERBOSITY sqlstate
SELECT count(*) AS profiles FROM personalize.profiles;

-- events: the years 1 to 9999 both ends; outside is quarantined with its path
SELECT personalize.track('ann', 'Product Viewed', '{}', '0001-12-31 23:59:59+00 BC', 'bc');
SELECT personalize.track('ann', 'Product Viewed', '{}', '0001-01-01 00:00+00', 'first');
SELECT personalize.track('ann', 'Product Viewed', '{}', '9999-12-31 23:59:59+00', 'last');
SELECT personalize.track('ann', 'Product Viewed', '{}', '10000-01-01 00:00+00', 'after');
SELECT payload ->> 'message_id' AS message_id, reason, path FROM personalize.rejected_events ORDER BY rejected_id;

-- traits are capped like event properties
SELECT personalize.identify('big', jsonb_build_object('notes', repeat('x', 5 * 1024 * 1024)));
SET personalize.max_event_bytes = 200;
SELECT personalize.identify('big', jsonb_build_object('notes', repeat('x', 150))) > 0 AS under_cap;
SELECT personalize.identify('big', jsonb_build_object('notes', repeat('x', 200)));
RESET personalize.max_event_bytes;
SELECT count(*) FROM personalize.profiles WHERE traits ? 'notes' AND length(traits ->> 'notes') > 150;

-- merge_profiles: NULL force or cause is refused before anything moves
SELECT personalize.merge_profiles(1, 2, force => NULL);
SELECT personalize.merge_profiles(1, 2, cause => NULL);
SELECT count(*) AS still_two FROM personalize.profiles WHERE profile_id IN (1, 2);

-- set_consent with nothing to change writes nothing
SELECT personalize.set_consent(1);
SELECT count(*) AS consent_rows FROM personalize.consent_log WHERE profile_id = 1;

-- rfm_score: breakpoints are a one-dimensional array
SELECT personalize.rfm_score(5, '{{1,2},{3,4}}');
SELECT personalize.rfm_score(5, '{1,2,3,4}') AS one_dimension;

-- an unknown profile: P0002 from every profile-taking function
SELECT personalize.top_interests(999999);
SELECT personalize.engagement_score(999999);
SELECT personalize.set_consent(999999, 'subscribed');
SELECT personalize.forget(999999);
SELECT personalize.export_profile(999999);

-- a template's version counts from 1
INSERT INTO personalize.templates (name, subject) VALUES ('t', 'Hi');
UPDATE personalize.templates SET version = -1;
UPDATE personalize.templates SET version = 0;
SELECT name, version FROM personalize.templates;

-- alias of an id never seen: that id resolves to the user's profile from now on, as a user id
-- or an anonymous id, and a later event under it joins that profile
SELECT personalize.alias('legacy-ann', 'ann', '2026-02-02') AS ann;
SELECT personalize.resolve_identity('user_id', 'legacy-ann') AS as_user,
       personalize.resolve_identity('anonymous_id', 'legacy-ann') AS as_anonymous;
SELECT personalize.track('legacy-ann', 'Product Viewed', '{}', '2026-02-03', 'legacy-1');
SELECT e.profile_id, p.user_id FROM personalize.events e JOIN personalize.profiles p USING (profile_id)
 WHERE e.message_id = 'legacy-1';
SELECT count(*) AS profiles_named_legacy FROM personalize.profiles WHERE user_id = 'legacy-ann';

-- a statement quarantining many rows keeps them in a tuplestore that spills past work_mem, not
-- in transaction memory without bound (1.2 MB of payloads here; TopTransactionContext never
-- gives memory back, so its size is the statement's high-water mark); every row is stored
BEGIN;
SET LOCAL work_mem = '64kB';
INSERT INTO personalize.events (user_id, event, properties, occurred_at)
SELECT 'q', 'Product Viewed', jsonb_build_object('price', -i, 'pad', repeat('x', 500)), '2026-02-01'
  FROM generate_series(1, 2000) i;
SELECT total_bytes < 512 * 1024 AS bounded FROM pg_backend_memory_contexts WHERE name = 'TopTransactionContext';
COMMIT;
SELECT * FROM personalize.last_ingest();
SELECT count(*) AS quarantined, count(DISTINCT payload -> 'properties' ->> 'price') AS distinct_rows,
       min(path) AS path FROM personalize.rejected_events WHERE payload ->> 'user_id' = 'q';

DROP EXTENSION personalize;
