-- The incremental refresh of recommendations (src/predict/recommend.sql) against a rebuild and
-- against an independent reference. A scripted history: new orders, carts and views (new items,
-- new profiles, events stamped after as_of), a merge, a forget, the window moving forward and
-- back, the neighbour count changed (short lists: ties at the cut). After each step the
-- incremental state (item_stats, item_neighbors and the stored sums) must equal, row for row and
-- bit for bit, what refresh_recommendations(rebuild => true) computes from nothing in the same
-- transaction (sums are exact numerics, so the order changes came in cannot matter, and equal
-- scores tie-break on the item name in both). The lists are also checked against the
-- similarities as the first version computed them, one SQL statement over every profile in
-- float8 (pg_temp.reference_neighbors): the same neighbours, scores within 1e-12.
CREATE EXTENSION personalize;
\set VERBOSITY terse
-- (the reference's estimates over unanalysed partitions would have JIT compile for seconds)
SET jit = off;
SELECT personalize.maintain('2026-03-15', 3, 4) > 0 AS partitions;
UPDATE personalize.recommendation_settings SET window_length = '60 days';
-- 40 customers, 15 items in 3 categories (item i in category i % 3; some order lines without a
-- category), January to March.
SELECT setseed(0.42);
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT 'c' || c, k.kind,
       CASE WHEN k.kind = 'Order Completed'
            THEN jsonb_build_object('order_id', 'o' || c || '-' || j, 'products', jsonb_build_array(
                     jsonb_build_object('product_id', 'p' || a, 'category', 'k' || a % 3),
                     jsonb_build_object('product_id', 'p' || b) || CASE WHEN b % 2 = 0 THEN jsonb_build_object('category', 'k' || b % 3) ELSE '{}' END))
            ELSE jsonb_build_object('product_id', 'p' || a, 'category', 'k' || a % 3) END,
       timestamptz '2026-01-01 00:00+00' + (c * 7 + j * 13) % 89 * interval '1 day' + c * interval '1 minute',
       'h' || c || '-' || j || '-' || k.kind
FROM generate_series(1, 40) c, generate_series(1, 4) j,
     LATERAL (SELECT floor(random() * 15 + 0 * c * j)::int AS a, floor(random() * 15 + 0 * c * j)::int AS b) r,
     (VALUES ('Order Completed'), ('Product Added'), ('Product Viewed')) k(kind)
WHERE (c + j) % 3 <> 0 OR k.kind <> 'Product Added';

-- The state a refresh leaves, by item names (numbers, and so which of a pair comes first, differ
-- between histories).
CREATE FUNCTION pg_temp.rec_state() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT format('neighbor %s %s %s', item, neighbor, score::text) FROM personalize.item_neighbors
    UNION ALL SELECT format('stat %s %s %s %s', item, category, popularity::text, buyers) FROM personalize.item_stats
    UNION ALL SELECT format('item %s %s %s %s %s', item, profiles, trim_scale(weight_sum), trim_scale(norm), buyers) FROM personalize.recommendation_items
    UNION ALL SELECT format('pair %s %s %s %s', least(a.item, b.item), greatest(a.item, b.item), trim_scale(p.dot), p.profiles) FROM personalize.recommendation_pairs p
                JOIN personalize.recommendation_items a ON a.item_id = p.item_a JOIN personalize.recommendation_items b ON b.item_id = p.item_b
    UNION ALL SELECT format('profile %s %s %s %s', p.profile_id, i.item, p.weight::text, p.category)
                FROM personalize.recommendation_profile_items p JOIN personalize.recommendation_items i USING (item_id)
    UNION ALL SELECT format('category %s %s %s', i.item, c.category, c.profiles)
                FROM personalize.recommendation_item_categories c JOIN personalize.recommendation_items i USING (item_id)
$$;
-- The neighbour lists as the first version computed them: every profile's strongest items, the
-- self-join over profiles, float8 sums.
CREATE FUNCTION pg_temp.reference_neighbors(as_of timestamptz) RETURNS TABLE (item text, neighbor text, score float8)
LANGUAGE sql AS $$
    WITH st AS (SELECT * FROM personalize.recommendation_settings),
    pi AS (
        SELECT s.profile_id, s.item, s.w
        FROM (SELECT i.profile_id, i.item, max(i.weight) AS w,
                     row_number() OVER (PARTITION BY i.profile_id ORDER BY max(i.weight) DESC, max(i.occurred_at) DESC, i.item) AS rank
              FROM (SELECT e.profile_id, x.item, x.weight, e.occurred_at
                    FROM st, personalize.events e,
                         personalize._event_items(e.event, e.properties, st.purchase_weight, st.cart_weight, st.view_weight) x
                    WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
                      AND e.occurred_at > as_of - st.window_length AND e.occurred_at <= as_of) i
              WHERE i.weight > 0
              GROUP BY i.profile_id, i.item) s, st
        WHERE s.rank <= st.items_per_profile),
    norm AS (SELECT pi.item, sum(pi.w * pi.w) AS norm FROM pi GROUP BY pi.item)
    SELECT q.item, q.neighbor, q.score
    FROM (SELECT c.item, c.neighbor, c.dot / sqrt(na.norm * nb.norm) AS score,
                 row_number() OVER (PARTITION BY c.item ORDER BY c.dot / sqrt(na.norm * nb.norm) DESC, c.neighbor) AS rank
          FROM (SELECT a.item, b.item AS neighbor, sum(a.w * b.w) AS dot
                FROM pi a JOIN pi b ON b.profile_id = a.profile_id AND b.item <> a.item
                GROUP BY a.item, b.item) c
          JOIN norm na ON na.item = c.item JOIN norm nb ON nb.item = c.neighbor) q, st
    WHERE q.rank <= st.neighbors
$$;
-- One step: the incremental refresh at as_of, then the rows that differ from the reference and
-- from a rebuild (in a subtransaction rolled back, so that the next step goes on from this one).
CREATE FUNCTION pg_temp.step(as_of timestamptz) RETURNS TABLE (profiles_changed bigint, rebuilt boolean, items bigint,
                                                                 differ_from_rebuild bigint, differ_from_reference bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM personalize.refresh_recommendations(as_of);
    profiles_changed := r.profiles_changed; rebuilt := r.rebuilt; items := r.items;
    differ_from_reference := (SELECT count(*) FROM personalize.item_neighbors n
                                FULL JOIN pg_temp.reference_neighbors(as_of) f USING (item, neighbor)
                               WHERE n.score IS NULL OR f.score IS NULL OR abs(n.score - f.score) > 1e-12);
    CREATE TEMP TABLE step_inc AS SELECT * FROM pg_temp.rec_state() s;
    BEGIN
        PERFORM personalize.refresh_recommendations(as_of, rebuild => true);
        RAISE EXCEPTION '%', (SELECT count(*) FROM ((TABLE step_inc EXCEPT ALL SELECT * FROM pg_temp.rec_state())
                                                    UNION ALL (SELECT * FROM pg_temp.rec_state() EXCEPT ALL TABLE step_inc)) d);
    EXCEPTION WHEN raise_exception THEN
        differ_from_rebuild := SQLERRM::bigint;
    END;
    DROP TABLE step_inc;
    RETURN NEXT;
END
$$;

-- The first refresh has no state: a rebuild. Every list is complete (15 items, 50 neighbours).
SELECT * FROM pg_temp.step('2026-04-01 00:00+00');
SELECT count(*) AS lists, min(n) AS shortest FROM (SELECT item, count(*) AS n FROM personalize.item_neighbors GROUP BY item) l;
-- A repeated view of an item the profile already bought changes nothing: logged, recomputed, left out.
SELECT personalize.track('c1', 'Product Viewed', jsonb_build_object('product_id', (SELECT i.item FROM personalize.recommendation_profile_items p
         JOIN personalize.recommendation_items i USING (item_id) JOIN personalize.profiles f USING (profile_id)
        WHERE f.user_id = 'c1' AND p.weight = 1 ORDER BY i.item LIMIT 1)), '2026-03-30 00:00+00', 'same-1') IS NOT NULL AS tracked;
SELECT count(*) AS logged FROM personalize.recommendation_changes;
SELECT * FROM pg_temp.step('2026-04-01 00:00+00');
-- Nothing new: nothing to do.
SELECT * FROM pg_temp.step('2026-04-01 00:00+00');
-- New orders, carts and views: a new item (p99, only cart adds), a new customer, an order line
-- recategorised, and events stamped after as_of (they enter when the window reaches them).
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id) VALUES
  ('c2', 'Order Completed', '{"order_id": "n1", "products": [{"product_id": "p1", "category": "moved"}, {"product_id": "p2"}]}', '2026-03-31 00:00+00', 'n1'),
  ('c3', 'Product Added', '{"product_id": "p99", "category": "k9"}', '2026-03-31 00:00+00', 'n2'),
  ('c4', 'Product Added', '{"product_id": "p99"}', '2026-03-31 00:00+00', 'n3'),
  ('new', 'Product Viewed', '{"product_id": "p3", "category": "k0"}', '2026-03-31 00:00+00', 'n4'),
  ('new', 'Order Completed', '{"order_id": "n5", "products": [{"product_id": "p4"}, {"product_id": "p99"}]}', '2026-03-31 00:00+00', 'n5'),
  ('c5', 'Order Completed', '{"order_id": "n6", "products": [{"product_id": "p7"}, {"product_id": "p8"}]}', '2026-04-10 00:00+00', 'n6'),
  ('c6', 'Email Opened', '{}', '2026-03-31 00:00+00', 'n7');
SELECT count(DISTINCT profile_id) AS logged FROM personalize.recommendation_changes;
SELECT * FROM pg_temp.step('2026-04-01 00:00+00');
SELECT category FROM personalize.item_stats WHERE item = 'p99';
-- A merge moves c8's events to c7; forget erases c9, with an item only c9 had (p77).
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id) VALUES
  ('c9', 'Order Completed', '{"order_id": "x1", "products": [{"product_id": "p77"}, {"product_id": "p5"}]}', '2026-03-20 00:00+00', 'x1');
SELECT * FROM pg_temp.step('2026-04-01 00:00+00');
SELECT count(*) AS p77_neighbors FROM personalize.item_neighbors WHERE neighbor = 'p77';
SELECT personalize.merge_profiles((SELECT profile_id FROM personalize.profiles WHERE user_id = 'c7'),
                                  (SELECT profile_id FROM personalize.profiles WHERE user_id = 'c8'), force => true) IS NOT NULL AS merged;
SELECT (SELECT profile_id FROM personalize.profiles WHERE user_id = 'c9') AS c9_id \gset
SELECT personalize.forget('c9', '2026-04-01 00:00+00') IS NOT NULL AS forgotten;
-- forget takes c9 out at once, without waiting for the next refresh: no stored row of c9 and
-- p77 (only c9 had it) gone from item_stats and every list; the refresh it ran also took in
-- the merge, so the refresh that follows finds nothing logged.
SELECT count(*) AS c9_rows_after_forget FROM personalize.recommendation_profile_items WHERE profile_id = :c9_id;
SELECT count(*) AS p77_stats, (SELECT count(*) FROM personalize.item_neighbors WHERE 'p77' IN (item, neighbor)) AS p77_neighbors
  FROM personalize.item_stats WHERE item = 'p77';
SELECT * FROM pg_temp.step('2026-04-01 00:00+00');
-- c9's contribution left: no stored item of it, p77 gone from item_stats and every list, and
-- no stored row of the merged-away profile.
SELECT count(*) AS c9_rows FROM personalize.recommendation_profile_items p
 WHERE p.profile_id NOT IN (SELECT profile_id FROM personalize.profiles);
SELECT count(*) AS p77_stats, (SELECT count(*) FROM personalize.item_neighbors WHERE 'p77' IN (item, neighbor)) AS p77_neighbors
  FROM personalize.item_stats WHERE item = 'p77';
-- Time moves the window: January's first weeks leave, the order stamped 2026-04-10 enters.
SELECT * FROM pg_temp.step('2026-04-20 00:00+00');
SELECT * FROM pg_temp.step('2026-05-10 00:00+00');
-- and back
SELECT * FROM pg_temp.step('2026-04-05 00:00+00');
-- Short lists (3 neighbours): every list is recomputed once, then the cut is kept incrementally
-- through more changes (new orders, a profile's views, time).
UPDATE personalize.recommendation_settings SET neighbors = 3;
SELECT * FROM pg_temp.step('2026-04-05 00:00+00');
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
SELECT 'c' || c, 'Order Completed',
       jsonb_build_object('order_id', 'z' || c, 'products', jsonb_build_array(jsonb_build_object('product_id', 'p' || (c % 5)),
                                                                             jsonb_build_object('product_id', 'p' || (c % 7 + 5)))),
       '2026-04-03 00:00+00', 'z' || c
FROM generate_series(1, 40, 3) c;
SELECT * FROM pg_temp.step('2026-04-05 00:00+00');
SELECT * FROM pg_temp.step('2026-04-25 00:00+00');
-- Changed weights: a rebuild.
UPDATE personalize.recommendation_settings SET view_weight = 0.3;
SELECT * FROM pg_temp.step('2026-04-25 00:00+00');
-- The comparison can fail: a stored dot product off by 1e-15 makes the next step differ from the
-- rebuild; a rebuild then puts the state right.
UPDATE personalize.recommendation_pairs SET dot = dot + 1e-15
 WHERE (item_a, item_b) = (SELECT item_a, item_b FROM personalize.recommendation_pairs ORDER BY item_a, item_b LIMIT 1);
INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id) VALUES
  ('c10', 'Product Viewed', '{"product_id": "p0"}', '2026-04-24 00:00+00', 'y1');
SELECT differ_from_rebuild > 0 AS caught FROM pg_temp.step('2026-04-25 00:00+00');
SELECT rebuilt FROM personalize.refresh_recommendations('2026-04-25 00:00+00', rebuild => true);
-- Bad input; and an analyst may read the totals, not refresh.
SELECT * FROM personalize.refresh_recommendations('2026-04-25 00:00+00', NULL);
SET ROLE personalize_analyst;
SELECT count(*) > 0 AS reads FROM personalize.recommendation_pairs;
SELECT * FROM personalize.refresh_recommendations('2026-04-25 00:00+00');
SELECT count(*) FROM personalize.recommendation_profile_items;
RESET ROLE;
DROP EXTENSION personalize;
