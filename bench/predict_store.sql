-- The store of the 1M-profile prediction figures (bench/predict.sh): :profiles profiles written
-- with the live state ingest would leave them (purchase counters and dates, engagement, activity,
-- one to three interests among 10 categories), in four behaviours like
-- test/predict/lookalike_store.sql, without going through ingest (the figures time the readers:
-- profile_features, clv_predictions, lookalike, kmeans). As of 2026-06-30.
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
               timestamptz '2026-06-30 00:00+00' - (200 + 200 * random()) * interval '1 day' AS first_at,
               timestamptz '2026-06-30 00:00+00'
                 - CASE i % 4 WHEN 0 THEN 20 WHEN 1 THEN 60 WHEN 2 THEN 150 ELSE 300 END * random() * interval '1 day' AS last_at
          FROM generate_series(1, :profiles) i) g;
INSERT INTO personalize.profile_interests (profile_id, category, score, as_of)
SELECT p.profile_id, 'c' || ((p.profile_id % 4) * 2 + k + floor(2 * random())::int) % 10, 1 + 10 * random(), p.last_seen_at
  FROM personalize.profiles p, generate_series(0, (p.profile_id % 3)::int) k
ON CONFLICT DO NOTHING;
VACUUM ANALYZE personalize.profiles;
VACUUM ANALYZE personalize.profile_interests;
SELECT count(*) AS profiles, count(*) FILTER (WHERE purchase_count > 0) AS purchasers,
       (SELECT count(*) FROM personalize.profile_interests) AS interests
  FROM personalize.profiles;
