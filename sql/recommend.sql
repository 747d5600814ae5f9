-- Recommendations (src/predict/recommend.sql): similarities by hand on a tiny store, recommend()'s
-- blend, exclusions and fallbacks, and bad input. Offline quality: test/suites/recommend_eval.
CREATE EXTENSION personalize;
\set VERBOSITY terse
SELECT personalize.maintain('2026-03-15', 2, 2);
-- ann buys x and y; bob buys x, y and z; cat views z and buys w; all on 2026-03-01.
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id) VALUES
  ('ann', 'Order Completed', '{"order_id": "1", "products": [{"product_id": "x"}, {"product_id": "y"}]}', '2026-03-01 00:00+00', 'm1'),
  ('bob', 'Order Completed', '{"order_id": "2", "products": [{"product_id": "x"}, {"sku": "y"}, {"name": "z"}]}', '2026-03-01 00:00+00', 'm2'),
  ('cat', 'Product Viewed', '{"product_id": "z"}', '2026-03-01 00:00+00', 'm3'),
  ('cat', 'Order Completed', '{"order_id": "3", "products": [{"product_id": "w", "category": "hats"}]}', '2026-03-01 00:00+00', 'm4');
SELECT * FROM personalize.refresh_recommendations('2026-03-10 00:00+00');
-- Per profile and item the strongest weight (purchase 1, view 0.2): norms x 2, y 2, z 1 + 0.04,
-- w 1. cos(x, y) = 2 / sqrt(2 * 2) = 1; cos(x, z) = cos(y, z) = 1 / sqrt(2 * 1.04) = 0.693375;
-- cos(z, w) = 0.2 / sqrt(1.04) = 0.196116; x and w never meet.
SELECT item, neighbor, round(score::numeric, 6) AS score FROM personalize.item_neighbors ORDER BY item, neighbor;
SELECT item, category, round(popularity::numeric, 2) AS popularity, buyers FROM personalize.item_stats ORDER BY item;
-- ann, 30 days after her purchases (half-life 30 days: each weighs 0.5): z scores
-- 0.5 * 0.693375 + 0.5 * 0.693375 = 0.693375; then the best-seller she has not bought, w.
SELECT item, round(score::numeric, 6) AS score, reason
FROM personalize.recommend((SELECT profile_id FROM personalize.profiles WHERE user_id = 'ann'), 5, '2026-03-31 00:00+00');
-- With her purchases allowed, x and y come back (each the other's neighbour: 0.5 * 1).
SELECT item, round(score::numeric, 6) AS score
FROM personalize.recommend((SELECT profile_id FROM personalize.profiles WHERE user_id = 'ann'), 2, '2026-03-31 00:00+00', false);
-- cat viewed z (0.2 * 0.5 = 0.1) and bought w (0.5): z, which she only viewed, comes through w:
-- 0.5 * 0.196116 = 0.098058; x and y through z: 0.1 * 0.693375 = 0.069338; w, bought, never.
SELECT item, round(score::numeric, 6) AS score, reason
FROM personalize.recommend((SELECT profile_id FROM personalize.profiles WHERE user_id = 'cat'), 5, '2026-03-31 00:00+00');
-- A profile with no product history gets best-sellers only.
SELECT personalize.identify('dan', '{}', as_of => '2026-03-01 00:00+00') IS NOT NULL AS dan;
SELECT item, score, reason
FROM personalize.recommend((SELECT profile_id FROM personalize.profiles WHERE user_id = 'dan'), 3, '2026-03-31 00:00+00');
-- Bad input.
SELECT * FROM personalize.recommend(-1, 3, '2026-03-31 00:00+00');
SELECT * FROM personalize.recommend(1, -1, '2026-03-31 00:00+00');
SELECT * FROM personalize.recommend(1, 3, 'infinity');
SELECT * FROM personalize.refresh_recommendations(NULL);
UPDATE personalize.recommendation_settings SET neighbors = 0;
DROP EXTENSION personalize;
