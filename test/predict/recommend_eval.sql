-- Offline evaluation of personalize.recommend() on the store of recommend_store.sql: train on what
-- happened before 2026-05-01, test on the items each customer bought after it and never before.
-- Prints one line per method: hit rate at 10 (a customer counts when any test item is in the top
-- 10) and NDCG at 10 (binary relevance), over customers with test items, against the popularity
-- baseline (the 10 most popular items of the training window the customer had not bought).
SELECT * FROM personalize.refresh_recommendations('2026-05-01 00:00+00');
CREATE TEMP TABLE eval_truth AS
SELECT p.profile_id, e.item
FROM store_events e JOIN personalize.profiles p ON p.user_id = 's' || e.c
WHERE e.kind = 'Order Completed' AND e.at > '2026-05-01 00:00+00'
  AND NOT EXISTS (SELECT FROM store_events b WHERE b.c = e.c AND b.item = e.item AND b.kind = 'Order Completed'
                                              AND b.at <= '2026-05-01 00:00+00')
GROUP BY p.profile_id, e.item;
CREATE TEMP TABLE eval_lists AS
SELECT 'personalize.recommend' AS method, r.profile_id, r.rank::bigint AS rank, r.item
FROM personalize.recommendations(ARRAY(SELECT DISTINCT profile_id FROM eval_truth), 10, '2026-05-01 00:00+00') r
UNION ALL
SELECT 'popularity', t.profile_id, r.rank, r.item
FROM (SELECT DISTINCT profile_id FROM eval_truth) t,
     LATERAL (SELECT s.item, row_number() OVER (ORDER BY s.popularity DESC, s.item) AS rank
              FROM personalize.item_stats s
              WHERE NOT EXISTS (SELECT FROM store_events b JOIN personalize.profiles p ON p.user_id = 's' || b.c
                                WHERE p.profile_id = t.profile_id AND b.item = s.item AND b.kind = 'Order Completed'
                                  AND b.at <= '2026-05-01 00:00+00')
              ORDER BY s.popularity DESC, s.item LIMIT 10) r;
SELECT m.method, count(*) AS customers,
       round(avg(m.hit)::numeric, 4) AS hit_rate_at_10, round(avg(m.dcg / m.idcg)::numeric, 4) AS ndcg_at_10
FROM (SELECT mm.method, t.profile_id, (count(l.item) > 0)::int AS hit,
             coalesce(sum(1 / log(2, l.rank + 1)), 0) AS dcg,
             (SELECT sum(1 / log(2, k + 1))
                FROM generate_series(1, least(10, (SELECT count(*) FROM eval_truth x WHERE x.profile_id = t.profile_id))) k) AS idcg
      FROM (SELECT DISTINCT profile_id FROM eval_truth) t
      CROSS JOIN (VALUES ('personalize.recommend'), ('popularity')) mm(method)
      LEFT JOIN eval_lists l ON l.profile_id = t.profile_id AND l.method = mm.method
                            AND EXISTS (SELECT FROM eval_truth x WHERE x.profile_id = t.profile_id AND x.item = l.item)
      GROUP BY mm.method, t.profile_id) m
GROUP BY m.method ORDER BY m.method;
