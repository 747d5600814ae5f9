-- The set form personalize.recommendations() against the per-profile SQL recommend() had before it
-- (kept here verbatim as pg_temp.recommend_reference, the reference): for every customer of the
-- store's first 300 customers and a profile with no history, at n = 10 (mostly neighbours), n = 40 (best-sellers fill in, favourite categories first)
-- and n = 40 with purchases allowed, the same items, scores and reasons in the same order. Prints
-- "reference <lists compared> <lists that differ>".
-- The n items a profile is most likely to want next, each with why.
CREATE FUNCTION pg_temp.recommend_reference(profile_id bigint, n integer DEFAULT 5, as_of timestamptz DEFAULT now(),
                                      exclude_purchased boolean DEFAULT true)
RETURNS TABLE (item text, score float8, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st personalize.recommendation_settings;
BEGIN
    IF n IS NULL OR n < 0 OR n > 1000 THEN
        RAISE EXCEPTION 'n must be between 0 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', n);
    END IF;
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = recommend_reference.profile_id) THEN
        RAISE EXCEPTION 'profile % does not exist', recommend_reference.profile_id USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO st FROM personalize.recommendation_settings;
    RETURN QUERY
    WITH acts AS (
        -- the profile's interactions, each decayed to as_of
        SELECT x.item, x.category, x.weight >= st.purchase_weight AND st.purchase_weight > 0 AS bought,
               x.weight * exp(-ln(2) * extract(epoch FROM as_of - e.occurred_at)
                                  / extract(epoch FROM st.recency_half_life)) AS w
        FROM personalize.events e,
             personalize._event_items(e.event, e.properties, st.purchase_weight, st.cart_weight, st.view_weight) x
        WHERE e.profile_id = recommend_reference.profile_id
          AND e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
          AND e.occurred_at > as_of - st.window_length AND e.occurred_at <= as_of
    ), own AS (
        SELECT a.item, max(a.w) AS w, bool_or(a.bought) AS bought FROM acts a GROUP BY a.item
    ), taste AS (
        -- affinity per category from the same interactions, scaled so that the strongest is 1
        SELECT a.category, sum(a.w) / nullif(max(sum(a.w)) OVER (), 0) AS affinity
        FROM acts a WHERE a.category IS NOT NULL GROUP BY a.category
    ), near AS (
        SELECT nb.neighbor AS item, sum(o.w * nb.score) * (1 + coalesce(max(ta.affinity), 0)) AS score
        FROM own o
        JOIN personalize.item_neighbors nb ON nb.item = o.item
        LEFT JOIN personalize.item_stats s ON s.item = nb.neighbor
        LEFT JOIN taste ta ON ta.category = s.category
        WHERE NOT (exclude_purchased AND EXISTS (SELECT FROM own b WHERE b.item = nb.neighbor AND b.bought))
        GROUP BY nb.neighbor
    ), fallback AS (
        -- best-sellers, in the profile's favourite categories first
        SELECT s.item, s.popularity, ta.affinity,
               CASE WHEN ta.category IS NOT NULL THEN 'best seller in ' || ta.category ELSE 'best seller' END AS why
        FROM personalize.item_stats s LEFT JOIN taste ta ON ta.category = s.category
        WHERE NOT (exclude_purchased AND EXISTS (SELECT FROM own b WHERE b.item = s.item AND b.bought))
          AND NOT EXISTS (SELECT FROM near x WHERE x.item = s.item)
    ), ranked AS (
        SELECT x.item, x.score, 'similar to what they bought, carted or viewed'::text AS why, 0 AS tier, x.score AS key2
        FROM near x
        UNION ALL
        SELECT f.item, NULL::float8, f.why, 1, coalesce(f.affinity, 0) * 1e12 + f.popularity
        FROM fallback f
    )
    SELECT r.item, r.score, r.why FROM ranked r ORDER BY r.tier, r.key2 DESC, r.item LIMIT n;
END
$$;
SELECT personalize.identify('no history', '{}') IS NOT NULL AS identified;
CREATE TEMP TABLE ref_cases AS
SELECT p.profile_id, c.n, c.excl
  FROM (SELECT profile_id FROM personalize.profiles ORDER BY profile_id LIMIT 300) p
       CROSS JOIN (VALUES (10, true), (40, true), (40, false)) c(n, excl)
UNION ALL
SELECT p.profile_id, 10, true FROM personalize.profiles p WHERE p.user_id = 'no history';
CREATE TEMP TABLE ref_got AS
SELECT c.n, c.excl, r.profile_id, r.rank, r.item, r.score, r.reason
  FROM (SELECT DISTINCT n, excl FROM ref_cases) c,
       personalize.recommendations(ARRAY(SELECT x.profile_id FROM ref_cases x WHERE x.n = c.n AND x.excl = c.excl),
                                   c.n, '2026-05-01 00:00+00', c.excl) r;
CREATE TEMP TABLE ref_want AS
SELECT c.n, c.excl, c.profile_id, w.rank, w.item, w.score, w.reason
  FROM ref_cases c,
       LATERAL (SELECT x.*, row_number() OVER () AS rank
                  FROM pg_temp.recommend_reference(c.profile_id, c.n, '2026-05-01 00:00+00', c.excl) x) w;
SELECT 'reference', (SELECT count(*) FROM ref_cases),
       (SELECT count(DISTINCT (coalesce(g.profile_id, w.profile_id), coalesce(g.n, w.n), coalesce(g.excl, w.excl)))
          FROM ref_got g FULL JOIN ref_want w USING (n, excl, profile_id, rank)
         WHERE g.item IS DISTINCT FROM w.item OR g.reason IS DISTINCT FROM w.reason
            OR abs(g.score - w.score) > 1e-12 * greatest(1, abs(w.score)) OR (g.score IS NULL) <> (w.score IS NULL));
