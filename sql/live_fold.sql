-- The live-state fold (src/scoring/live_state.c): the aggregate _live_fold and _live_combine
-- against values computed independently from the same events (plain SQL for the purchase
-- counters, the public engagement() aggregate for the decayed score, the cart log's array fold
-- for the cart), under serial and forced parallel plans (partial states serialized, deserialized
-- and combined), and combine(fold(A), fold(B)) = fold(A and B) for splits of every kind.
CREATE EXTENSION personalize;
CREATE TABLE ev AS
SELECT g % 40 AS profile_id, g::bigint AS event_id,
       timestamptz '2026-01-01' + (g * 37 % 1000) * interval '1 hour' AS occurred_at,
       (ARRAY['Order Completed', 'Product Added', 'Product Removed', 'Email Opened', 'Product Viewed', 'Page Viewed'])[1 + g % 6] AS event,
       CASE g % 11 WHEN 0 THEN jsonb_build_object('revenue', -1)          -- not usable: negative
                   WHEN 1 THEN jsonb_build_object('revenue', 'lots')      -- not usable: not a number
                   WHEN 2 THEN jsonb_build_object('total', g % 9)         -- the second amount property
                   WHEN 3 THEN '{}'                                       -- no amount, no cart line
                   ELSE jsonb_build_object('revenue', (g % 13) + 0.25, 'product_id', g % 7, 'price', g % 3,
                                           'quantity', 1 + g % 2) END AS properties
  FROM generate_series(1, 24000) g;
ANALYZE ev;
CREATE TABLE weights AS SELECT event, engagement_weight FROM personalize.scoring_events;
-- the fold of a set of events (a view over ev restricted by a predicate on event_id)
CREATE FUNCTION fold_where(lo bigint, hi bigint, step int, pick int)
RETURNS TABLE (profile_id int, s personalize.live_state)
LANGUAGE sql STABLE
AS $$
  SELECT e.profile_id, personalize._live_fold(e.occurred_at, e.event_id, e.event, e.properties, w.engagement_weight,
                                              'Order Completed', '{revenue,total}')
    FROM ev e LEFT JOIN weights w USING (event)
   WHERE e.event_id BETWEEN lo AND hi AND (e.event_id / 40) % step = pick   -- any split meets every profile
   GROUP BY 1
$$;
-- the independent values, per profile
CREATE TABLE expected AS
SELECT p.profile_id,
       (SELECT count(*) FROM ev e WHERE e.profile_id = p.profile_id AND e.event = 'Order Completed'
           AND coalesce(e.properties -> 'revenue', e.properties -> 'total') IS NOT NULL
           AND jsonb_typeof(coalesce(e.properties -> 'revenue', e.properties -> 'total')) = 'number'
           AND coalesce(e.properties ->> 'revenue', e.properties ->> 'total')::numeric >= 0) AS purchases,
       (SELECT coalesce(sum(coalesce(e.properties ->> 'revenue', e.properties ->> 'total')::numeric), 0) FROM ev e
         WHERE e.profile_id = p.profile_id AND e.event = 'Order Completed'
           AND jsonb_typeof(coalesce(e.properties -> 'revenue', e.properties -> 'total')) = 'number'
           AND coalesce(e.properties ->> 'revenue', e.properties ->> 'total')::numeric >= 0) AS total,
       (SELECT count(*) FROM ev e WHERE e.profile_id = p.profile_id AND e.event = 'Order Completed'
           AND NOT coalesce(jsonb_typeof(coalesce(e.properties -> 'revenue', e.properties -> 'total')) = 'number'
                            AND coalesce(e.properties ->> 'revenue', e.properties ->> 'total')::numeric >= 0, false)) AS ignored,
       (SELECT max(e.occurred_at) FROM ev e JOIN weights w USING (event)
         WHERE e.profile_id = p.profile_id AND w.engagement_weight <> 0) AS engagement_at,
       (SELECT personalize.engagement(e.occurred_at, w.engagement_weight, personalize.half_life(),
                                      (SELECT max(x.occurred_at) FROM ev x JOIN weights y USING (event)
                                        WHERE x.profile_id = p.profile_id AND y.engagement_weight <> 0))
          FROM ev e JOIN weights w USING (event) WHERE e.profile_id = p.profile_id AND w.engagement_weight <> 0) AS engagement,
       (SELECT personalize._cart_of(personalize._cart_log_add(NULL, array_agg(e.event), array_agg(e.properties),
                                                              array_agg(e.occurred_at), array_agg(e.event_id)))
          FROM ev e WHERE e.profile_id = p.profile_id) AS cart
  FROM generate_series(0, 39) p(profile_id);
SELECT sum(purchases) AS purchases, sum(ignored) AS ignored, sum(total) AS total FROM expected;
-- each profile's fold
CREATE FUNCTION check_fold(label text)
RETURNS TABLE (label text, profiles bigint, wrong bigint)
LANGUAGE sql
AS $$
  SELECT label, count(*), count(*) FILTER (WHERE NOT (
             (f.s).purchase_count = x.purchases AND (f.s).purchase_total = x.total AND (f.s).purchases_ignored = x.ignored
         AND (f.s).engagement_as_of = x.engagement_at AND abs((f.s).engagement - x.engagement) <= 1e-9 * x.engagement
         AND (f.s).cart = x.cart))
    FROM fold_where(0, 1000000, 1, 0) f JOIN expected x USING (profile_id)
$$;
SELECT * FROM check_fold('serial');
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
-- one state over every event: the partial states of the workers serialized, deserialized and
-- combined in the leader (the plan shows the partial aggregate)
EXPLAIN (COSTS OFF)
SELECT personalize._live_fold(e.occurred_at, e.event_id, e.event, e.properties, w.engagement_weight,
                              'Order Completed', '{revenue,total}')
  FROM ev e LEFT JOIN weights w USING (event);
SELECT (s).purchase_count = (SELECT sum(purchases) FROM expected) AS count_ok,
       (s).purchase_total = (SELECT sum(total) FROM expected) AS total_ok,
       (s).purchases_ignored = (SELECT sum(ignored) FROM expected) AS ignored_ok,
       (s).cart = (SELECT personalize._cart_of(personalize._cart_log_add(NULL, array_agg(event), array_agg(properties),
                                                                      array_agg(occurred_at), array_agg(event_id))) FROM ev) AS cart_ok,
       abs((s).engagement - (SELECT personalize.engagement(e.occurred_at, w.engagement_weight, personalize.half_life(), (s).engagement_as_of)
                               FROM ev e JOIN weights w USING (event) WHERE w.engagement_weight <> 0)) < 1e-9 * (s).engagement AS engagement_ok
  FROM (SELECT personalize._live_fold(e.occurred_at, e.event_id, e.event, e.properties, w.engagement_weight,
                                      'Order Completed', '{revenue,total}') AS s
          FROM ev e LEFT JOIN weights w USING (event)) x;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET parallel_leader_participation;
-- combine: the events split by parity, by halves of the ids, and into all and nothing
SELECT split, count(*) AS profiles,
       count(*) FILTER (WHERE NOT (
             (c).purchase_count = x.purchases AND (c).purchase_total = x.total AND (c).purchases_ignored = x.ignored
         AND (c).engagement_as_of = x.engagement_at AND abs((c).engagement - x.engagement) <= 1e-9 * x.engagement
         AND (c).cart = x.cart)) AS wrong
  FROM (SELECT 'parity' AS split, a.profile_id, personalize._live_combine(a.s, b.s) AS c
          FROM fold_where(0, 1000000, 2, 0) a JOIN fold_where(0, 1000000, 2, 1) b USING (profile_id)
        UNION ALL
        SELECT 'halves', a.profile_id, personalize._live_combine(b.s, a.s)
          FROM fold_where(0, 12000, 1, 0) a JOIN fold_where(12001, 1000000, 1, 0) b USING (profile_id)
        UNION ALL
        SELECT 'all and empty', a.profile_id,
               personalize._live_combine(a.s, (SELECT personalize._live_fold(NULL, NULL, NULL, NULL, NULL, 'Order Completed', '{revenue}')))
          FROM fold_where(0, 1000000, 1, 0) a) c
  JOIN expected x USING (profile_id)
 GROUP BY split ORDER BY split;
-- the empty state; NULL sides; a cart kept untouched when the other side has none
SELECT (personalize._live_fold(occurred_at, event_id, event, properties, NULL, 'Order Completed', '{revenue}')).*
  FROM ev WHERE false;
SELECT personalize._live_combine(NULL, NULL) IS NULL AS both_null,
       (personalize._live_combine(s, NULL)).cart_log = (s).cart_log AS right_null,
       (personalize._live_combine(NULL, s)).cart_log = (s).cart_log AS left_null,
       (personalize._live_combine(s, (SELECT personalize._live_fold(timestamptz '2026-06-01', 1, 'Email Opened', NULL, 1, 'Order Completed', '{revenue}')))).cart_log
           = (s).cart_log AS cart_kept
  FROM fold_where(0, 1000000, 1, 0) WHERE profile_id = 1;
-- bad input: a NULL purchase event or amount list; an infinite weight
SELECT personalize._live_fold(now(), 1, 'Email Opened', NULL, 1, NULL, '{revenue}');
SELECT personalize._live_fold(now(), 1, 'Email Opened', NULL, 'Infinity', 'Order Completed', '{revenue}');
DROP FUNCTION check_fold(text), fold_where(bigint, bigint, integer, integer);
DROP TABLE ev, weights, expected;
DROP EXTENSION personalize;
