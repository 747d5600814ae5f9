-- Lookalikes over stored vectors (src/predict/lookalike.sql, lookalike.c): lookalike() must give
-- what the definition gives, computed here independently in SQL from profile_features() (the
-- features' formulas), feature_moments() and lookalike_similarity(): before any refresh, after
-- one, with profiles changed since (by ingest and by hand), and as of a time before some
-- profiles' last events. refresh_profile_vectors() recomputes exactly the changed profiles.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-01-15', 6, 1);
-- 2,000 profiles with live state in four behaviours (as bench/predict_store.sql), as of 30 June
SELECT setseed(0.29);
INSERT INTO personalize.profiles (user_id, event_count, first_seen_at, last_seen_at, purchase_count, purchase_total,
                                  first_purchase_at, last_purchase_at, engagement, engagement_as_of)
SELECT 'b' || i, 1 + n + v, first_at, greatest(first_at, last_at), n, round((n * spend)::numeric, 2),
       CASE WHEN n > 0 THEN first_at END, CASE WHEN n = 1 THEN first_at WHEN n > 1 THEN greatest(first_at, last_at) END,
       5 * n + 0.5 * v, greatest(first_at, last_at)
  FROM (SELECT i, CASE i % 4 WHEN 0 THEN 6 + floor(7 * random())::int WHEN 1 THEN 0
                             WHEN 2 THEN 1 + floor(2 * random())::int ELSE 2 + floor(3 * random())::int END AS n,
               CASE i % 4 WHEN 1 THEN 10 + floor(11 * random())::int ELSE 2 + floor(4 * random())::int END AS v,
               CASE i % 4 WHEN 0 THEN 50 WHEN 2 THEN 400 ELSE 30 END * (0.6 + 0.8 * random()) AS spend,
               timestamptz '2026-06-30 00:00+00' - (100 + 60 * random()) * interval '1 day' AS first_at,
               timestamptz '2026-06-30 00:00+00'
                 - CASE i % 4 WHEN 0 THEN 20 WHEN 1 THEN 60 WHEN 2 THEN 90 ELSE 99 END * random() * interval '1 day' AS last_at
          FROM generate_series(1, 2000) i) g;
INSERT INTO personalize.profile_interests (profile_id, category, score, as_of)
SELECT p.profile_id, 'c' || ((p.profile_id % 4) * 2 + k + floor(2 * random())::int) % 10, 1 + 10 * random(), p.last_seen_at
  FROM personalize.profiles p, generate_series(0, (p.profile_id % 3)::int) k
ON CONFLICT DO NOTHING;
CREATE TEMP TABLE seed AS SELECT profile_id FROM personalize.profiles WHERE profile_id % 4 = 2 ORDER BY profile_id LIMIT 100;
-- the definition: the 200 best outside the seed by lookalike_similarity over profile_features
CREATE FUNCTION pg_temp.reference(t timestamptz) RETURNS TABLE (profile_id bigint, score float8) LANGUAGE sql AS $$
    WITH f AS MATERIALIZED (SELECT x.profile_id, x.features FROM personalize.profile_features(t) x),
         pop AS (SELECT (personalize.feature_moments(f.features)).* FROM f),
         s AS (SELECT (personalize.feature_moments(f.features)).* FROM f JOIN seed USING (profile_id))
    SELECT f.profile_id, personalize.lookalike_similarity(f.features, pop.sd, s.mean, s.sd)
      FROM f LEFT JOIN seed mm USING (profile_id), pop, s WHERE mm.profile_id IS NULL ORDER BY 2 DESC, 1 LIMIT 200
$$;
-- lookalike() against it: how many of the 200 are the same, at the same rank, and the largest
-- difference of score
CREATE FUNCTION pg_temp.check(t timestamptz) RETURNS TABLE (same bigint, same_rank bigint, max_diff_below_1e12 boolean) LANGUAGE sql AS $$
    WITH got AS (SELECT l.profile_id, l.score, row_number() OVER (ORDER BY l.score DESC, l.profile_id) AS rk
                   FROM personalize.lookalike(personalize.audience_from_array(ARRAY(SELECT profile_id FROM seed)), 200, t) l),
         want AS (SELECT r.profile_id, r.score, row_number() OVER (ORDER BY r.score DESC, r.profile_id) AS rk
                    FROM pg_temp.reference(t) r)
    SELECT count(*), count(*) FILTER (WHERE g.rk = w.rk), max(abs(g.score - w.score)) < 1e-12
      FROM got g JOIN want w USING (profile_id)
$$;
-- no vectors yet: every profile computed by profile_features
SELECT * FROM pg_temp.check('2026-06-30 00:00+00');
SELECT personalize.refresh_profile_vectors() AS refreshed;
SELECT count(*) AS vectors, (SELECT profiles FROM personalize.profile_vector_state) AS state
  FROM personalize.profile_vectors;
SELECT * FROM pg_temp.check('2026-06-30 00:00+00');
-- nothing changed: nothing to refresh
SELECT personalize.refresh_profile_vectors() AS refreshed;
-- profiles changed since: 40 by hand (purchases, interests), one by ingest (a new purchase and a
-- view of a new category), one new profile
UPDATE personalize.profiles SET purchase_count = purchase_count + 1, purchase_total = purchase_total + 99
 WHERE profile_id % 50 = 1;
UPDATE personalize.profile_interests SET score = score * 5 WHERE profile_id % 50 = 1;
SELECT personalize.track('b3', 'Order Completed', '{"order_id": "x1", "revenue": 75}', '2026-06-29 00:00+00', 'x1') IS NOT NULL AS tracked;
SELECT personalize.track('b7', 'Product Viewed', '{"product_id": "p9", "category": "c3"}', '2026-06-29 12:00+00', 'x2') IS NOT NULL AS tracked;
SELECT personalize.track('new', 'Product Viewed', '{"product_id": "p9", "category": "c3"}', '2026-06-29 12:00+00', 'x3') IS NOT NULL AS tracked;
SELECT cardinality(personalize._stale_vectors('2026-06-30 00:00+00')) AS stale;
SELECT * FROM pg_temp.check('2026-06-30 00:00+00');
SELECT personalize.refresh_profile_vectors() AS refreshed;
SELECT * FROM pg_temp.check('2026-06-30 00:00+00');
-- as of a time before some profiles' last events: those are recounted from their events
SELECT personalize.track('b11', 'Product Viewed', '{"product_id": "p9", "category": "c3"}', '2026-07-05 00:00+00', 'x4') IS NOT NULL AS tracked;
SELECT personalize.refresh_profile_vectors() AS refreshed;
SELECT * FROM pg_temp.check('2026-06-30 00:00+00');
-- a forgotten profile's vector goes with it
SELECT personalize.forget((SELECT profile_id FROM personalize.profiles WHERE user_id = 'b5')) IS NOT NULL AS forgotten;
SELECT count(*) AS vectors_of_b5 FROM personalize.profile_vectors v
 WHERE NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = v.profile_id);
-- a rebuild recomputes all
SELECT personalize.refresh_profile_vectors(rebuild => true) = (SELECT count(*) FROM personalize.profiles) AS rebuilt_all;
-- the scan in parallel: each pass of the aggregate under a forced parallel plan (partial
-- aggregates combined) gives what a serial plan gives, and so does lookalike()
CREATE TEMP TABLE serial_lookalike AS
SELECT * FROM personalize.lookalike(personalize.audience_from_array(ARRAY(SELECT profile_id FROM seed)), 200, '2026-06-30 00:00+00');
CREATE FUNCTION pg_temp.pass(pop_sd float8[], seed_mean float8[], seed_sd float8[]) RETURNS personalize.lookalike_scan_result LANGUAGE sql AS $$
    SELECT personalize._lookalike_scan(v.profile_id, NULL, v.last_purchase_at, v.purchases, v.spend, v.engagement, v.engagement_as_of,
                                       v.events, v.shares, '2026-06-30 00:00+00', ARRAY(SELECT profile_id FROM seed), NULL, 200,
                                       pop_sd, seed_mean, seed_sd)
      FROM personalize.profile_vectors v
$$;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_passes AS SELECT (pg_temp.pass(NULL, NULL, NULL)).*;
INSERT INTO serial_passes SELECT (pg_temp.pass(pop_sd, seed_mean, seed_sd)).* FROM serial_passes;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT personalize._lookalike_scan(v.profile_id, NULL, v.last_purchase_at, v.purchases, v.spend, v.engagement, v.engagement_as_of,
                                   v.events, v.shares, '2026-06-30 00:00+00', '{2}', NULL, 200, NULL, NULL, NULL)
  FROM personalize.profile_vectors v;
WITH m AS (SELECT (pg_temp.pass(NULL, NULL, NULL)).*), b AS (SELECT (pg_temp.pass(m.pop_sd, m.seed_mean, m.seed_sd)).* FROM m),
     sm AS (SELECT * FROM serial_passes WHERE ids IS NULL), sb AS (SELECT * FROM serial_passes WHERE ids IS NOT NULL)
SELECT (SELECT bool_and(abs(a - c) <= 1e-12 * greatest(1, abs(c)))
          FROM m, sm, unnest(m.pop_mean || m.pop_sd || m.seed_mean || m.seed_sd, sm.pop_mean || sm.pop_sd || sm.seed_mean || sm.seed_sd) u(a, c)) AS same_moments,
       (SELECT b.ids = sb.ids AND bool_and(abs(a - c) <= 1e-12) FROM b, sb, unnest(b.scores, sb.scores) u(a, c) GROUP BY b.ids, sb.ids) AS same_best;
SELECT count(*) AS same_in_parallel
  FROM serial_lookalike s
  JOIN personalize.lookalike(personalize.audience_from_array(ARRAY(SELECT profile_id FROM seed)), 200, '2026-06-30 00:00+00') p
       USING (profile_id)
 WHERE abs(s.score - p.score) <= 1e-12 AND s.reason = p.reason;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
DROP FUNCTION pg_temp.pass(float8[], float8[], float8[]);
-- _interest_shares by hand: scores 1 and 3 (books), 4 (shoes), 2 (no category) and NULL (toys) over
-- the categories books, NULL, shoes: books 4 of 10, shoes 4 of 10, the rest 0; no rows or a
-- zero total give zeros; more than 8 categories are refused
SELECT personalize._interest_shares(c, w, ARRAY['books', NULL, 'shoes']) AS shares
  FROM (VALUES ('books', 1::float8), ('books', 3), ('shoes', 4), (NULL, 2), ('toys', NULL)) v(c, w);
SELECT personalize._interest_shares(c, w, ARRAY['books']) AS zero_total
  FROM (VALUES ('books', 0::float8)) v(c, w);
SELECT personalize._interest_shares(c, w, ARRAY['books']) AS no_rows FROM (VALUES ('books', 1::float8)) v(c, w) WHERE false;
SELECT personalize._interest_shares('a', 1, ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']);
-- analysts read lookalikes; only admins refresh
CREATE ROLE regress_lookalike_analyst IN ROLE personalize_analyst;
SET ROLE regress_lookalike_analyst;
SELECT count(*) FROM personalize.lookalike(personalize.audience_from_array(ARRAY[2, 6, 10]::bigint[]), 5, '2026-06-30 00:00+00');
SELECT personalize.refresh_profile_vectors();
RESET ROLE;
DROP ROLE regress_lookalike_analyst;
DROP EXTENSION personalize;
