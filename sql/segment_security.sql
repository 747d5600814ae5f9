-- Segments as an attacker would use them: no role can make the owner run SQL text it wrote
-- (issue 10, privilege paths 1 and 2), SQL segments are superuser-only to create and to drop,
-- and a plan in use survives a nested evaluation that fills the statement cache.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SET timezone = 'UTC';
SELECT personalize.maintain('2026-02-15', 1, 1);
SET personalize.clock = '2026-02-10 12:00+00';
SELECT personalize.identify('ann', '{"city": "Oslo"}', NULL, '2026-02-01') AS ann \gset

-- A canary: records who called it. If any path below ran it as the owner, it would say postgres.
CREATE TABLE public.canary_calls (caller name);
CREATE FUNCTION public.canary() RETURNS boolean LANGUAGE sql VOLATILE
AS $$ INSERT INTO public.canary_calls VALUES (current_user) RETURNING true $$;
GRANT ALL ON public.canary_calls TO PUBLIC;
SELECT personalize.create_segment('oslo', '{"trait": "city", "value": "Oslo"}', '2026-02-10');

-- Path 1: no column of personalize.segments holds SQL any more; what an admin can write there is a
-- rule, compiled (and quoted) again at every evaluation.
SET ROLE personalize_admin;
UPDATE personalize.segments SET predicate = 'public.canary()' WHERE name = 'oslo';
UPDATE personalize.segments SET joins = ', LATERAL (SELECT public.canary()) x' WHERE name = 'oslo';
UPDATE personalize.segments SET recheck = 'CASE WHEN public.canary() THEN now() END' WHERE name = 'oslo';
UPDATE personalize.segments SET rule = '{"trait": "city'') OR public.canary() OR (''", "value": "Oslo"}'
 WHERE name = 'oslo';
SELECT string_agg(attname, ', ' ORDER BY attnum) AS segment_columns FROM pg_attribute
 WHERE attrelid = 'personalize.segments'::regclass AND attnum > 0 AND NOT attisdropped;
RESET ROLE;
SET ROLE personalize_writer;
SELECT personalize.track('ann', 'Product Viewed', '{}', '2026-02-10 11:00+00');
RESET ROLE;
SELECT personalize.tick('2026-02-11');
SELECT * FROM personalize.refresh_segment('oslo', '2026-02-11');
SELECT count(*) AS canary_calls FROM public.canary_calls;
-- the rewritten rule is still a rule: its odd trait name is a quoted path, never SQL
SELECT personalize.in_segment('oslo', :ann) AS ann_in_oslo_after_rewrite;

-- Path 2: a SQL segment's condition runs as the owner, so only superusers define or drop one.
SET ROLE personalize_admin;
SELECT personalize.create_sql_segment('owned', 'public.canary()', '2026-02-11');
INSERT INTO personalize.segment_sql (segment_id, where_clause) VALUES (1, 'public.canary()');
UPDATE personalize.segment_sql SET where_clause = 'public.canary()';
RESET ROLE;
SELECT personalize.create_sql_segment('oslo_sql', 'p.traits ->> ''city'' = ''Oslo''', '2026-02-11') > 0 AS created;
SELECT where_clause, defined_by FROM personalize.segment_sql;
-- an admin (or analyst) can neither rewrite it nor drop it: dropping follows creating
SET ROLE personalize_admin;
UPDATE personalize.segment_sql SET where_clause = 'public.canary()';
SELECT personalize.drop_segment('oslo_sql');
RESET ROLE;
SET ROLE personalize_analyst;
SELECT personalize.drop_segment('oslo_sql');
SELECT personalize._segment_drop('oslo_sql');
-- a refresh by an analyst runs the superuser's condition, unchanged
SELECT * FROM personalize.refresh_segment('oslo_sql', '2026-02-12');
RESET ROLE;
SELECT count(*) AS canary_calls FROM public.canary_calls;
SELECT personalize.in_segment('oslo_sql', :ann) AS ann_in_oslo_sql;
-- analysts still drop rule segments; superusers drop SQL segments
SET ROLE personalize_analyst;
SELECT personalize.create_segment('mine', '{"consent": "unknown"}', '2026-02-12') > 0 AS created;
SELECT personalize.drop_segment('mine');
RESET ROLE;
SELECT personalize.drop_segment('oslo_sql');
SELECT count(*) AS sql_conditions_left FROM personalize.segment_sql;
-- 0.1's executor of caller-given statement text is gone
SELECT count(*) AS old_executors FROM pg_proc
 WHERE pronamespace = 'personalize'::regnamespace AND proname IN ('_segment_execute', '_compile_rule');

-- A plan in use is never freed under a running evaluation: 300 segments (more than the 256
-- statements a backend keeps) read the event Ping, and a trigger on segment_members calls
-- track() from inside the evaluation of the first one, which evaluates all 300 again and makes
-- the cache evict while the outer plan runs.
SELECT count(*) AS pings FROM (
  SELECT personalize.create_segment('ping' || i, format('{"event": "Ping", "where": [{"property": "k", "op": "ne", "value": %s}]}', i)::jsonb, '2026-02-12')
    FROM generate_series(1, 300) i) x;
SELECT personalize.identify('bo', '{}', NULL, '2026-02-01') AS bo \gset
SET personalize.clock = '2026-02-12 10:00+00';
CREATE TABLE public.nested_stats (at text, in_use bigint, evictions bigint);
CREATE FUNCTION public.echo_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('test.echo', true) = 'on' THEN
        PERFORM set_config('test.echo', 'off', true);
        INSERT INTO public.nested_stats SELECT 'before', in_use, evictions FROM personalize._segment_cache_stats();
        PERFORM personalize.track('bo', 'Ping', '{}', '2026-02-12 10:00+00');
        INSERT INTO public.nested_stats SELECT 'after', in_use, evictions FROM personalize._segment_cache_stats();
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER echo AFTER INSERT ON personalize.segment_members FOR EACH STATEMENT EXECUTE FUNCTION public.echo_track();
BEGIN;
SELECT set_config('test.echo', 'on', true);
SELECT personalize.track('ann', 'Ping', '{}', '2026-02-12 10:00+00');
COMMIT;
-- the outer plan was in use throughout the nested track(), which evicted every other entry
SELECT b.in_use AS in_use_when_nested, a.in_use AS in_use_after_nested, a.evictions - b.evictions >= 255 AS evicted_while_nested,
       (personalize._segment_cache_stats()).in_use AS in_use_at_the_end
  FROM public.nested_stats b, public.nested_stats a WHERE b.at = 'before' AND a.at = 'after';
DROP TRIGGER echo ON personalize.segment_members;
-- both are in every ping segment, as a full recompute says too
SELECT count(*) FILTER (WHERE m.profile_id = :ann) AS ann_pings, count(*) FILTER (WHERE m.profile_id = :bo) AS bo_pings
  FROM personalize.segment_members m JOIN personalize.segments s USING (segment_id) WHERE s.name LIKE 'ping%';
SELECT sum(entered + exited) AS changes_on_refresh FROM personalize.refresh_segments(NULL, '2026-02-12 10:00+00');
DROP TABLE public.canary_calls, public.nested_stats;
DROP FUNCTION public.canary(), public.echo_track();
DROP EXTENSION personalize;
