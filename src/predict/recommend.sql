-- Recommendations: item-to-item similarity from what the same customers bought, carted and viewed
-- (cosine over per-profile interaction weights), refreshed set-at-a-time by
-- personalize.refresh_recommendations() (a pg_cron job), and personalize.recommend(), which blends
-- the neighbours of a profile's own items with its interests and falls back to best-sellers.

CREATE TABLE personalize.recommendation_settings (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    purchase_weight   float8 NOT NULL DEFAULT 1   CHECK (purchase_weight >= 0 AND purchase_weight < 'Infinity'),
    cart_weight       float8 NOT NULL DEFAULT 0.5 CHECK (cart_weight >= 0 AND cart_weight < 'Infinity'),
    view_weight       float8 NOT NULL DEFAULT 0.2 CHECK (view_weight >= 0 AND view_weight < 'Infinity'),
    window_length     interval NOT NULL DEFAULT '365 days' CHECK (window_length > '0'),
    items_per_profile integer NOT NULL DEFAULT 50 CHECK (items_per_profile BETWEEN 1 AND 1000),
    neighbors         integer NOT NULL DEFAULT 50 CHECK (neighbors BETWEEN 1 AND 1000),
    recency_half_life interval NOT NULL DEFAULT '30 days' CHECK (recency_half_life > '0')
);
COMMENT ON TABLE personalize.recommendation_settings IS
'One row: the weight of a purchase, a cart add and a view; the window of history read; how many items of a profile count and how many neighbours each item keeps; the half-life of a profile''s own interactions in recommend()';
INSERT INTO personalize.recommendation_settings DEFAULT VALUES;
SELECT pg_catalog.pg_extension_config_dump('personalize.recommendation_settings', '');

CREATE TABLE personalize.item_stats (
    item        text PRIMARY KEY,
    category    text,
    popularity  float8 NOT NULL,
    buyers      bigint NOT NULL,
    as_of       timestamptz NOT NULL
);
COMMENT ON TABLE personalize.item_stats IS
'Per item, as of the last refresh_recommendations(): its category (the latest seen), popularity (the interaction weight of all profiles) and distinct buyers';

CREATE TABLE personalize.item_neighbors (
    item      text NOT NULL,
    neighbor  text NOT NULL,
    score     float8 NOT NULL,
    PRIMARY KEY (item, neighbor)
);
COMMENT ON TABLE personalize.item_neighbors IS
'For each item, its most similar items: cosine similarity of the two items'' interaction weights across profiles, as of the last refresh_recommendations()';

-- The products one event is about, with the event's weight: each product of an Order Completed
-- (properties.products[]), or the product of a Product Added or Product Viewed; the item is
-- product_id, else sku, else name. Callers pick the events (by time, by profile) themselves, so
-- that their filters reach the events' indexes.
CREATE FUNCTION personalize._event_items(event text, properties jsonb, purchase_weight float8,
                                         cart_weight float8, view_weight float8)
RETURNS TABLE (item text, category text, weight float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(p ->> 'product_id', p ->> 'sku', p ->> 'name'),
           coalesce(p ->> 'category', properties ->> 'category'),
           CASE event WHEN 'Order Completed' THEN purchase_weight
                      WHEN 'Product Added' THEN cart_weight ELSE view_weight END
    FROM (SELECT x AS p FROM jsonb_array_elements(
              CASE WHEN event = 'Order Completed' AND jsonb_typeof(properties -> 'products') = 'array'
                   THEN properties -> 'products' ELSE '[]' END) x
           WHERE jsonb_typeof(x) = 'object'
          UNION ALL
          SELECT properties WHERE event IN ('Product Added', 'Product Viewed')) items
    WHERE coalesce(p ->> 'product_id', p ->> 'sku', p ->> 'name') IS NOT NULL
$$;
COMMENT ON FUNCTION personalize._event_items(text, jsonb, float8, float8, float8) IS
'The products an event is about (order lines, a cart add, a view) with the weight of its kind';

-- Recomputes item_stats and item_neighbors from the window of history before as_of.
CREATE FUNCTION personalize.refresh_recommendations(as_of timestamptz DEFAULT now())
RETURNS TABLE (items bigint, pairs bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st personalize.recommendation_settings;
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO st FROM personalize.recommendation_settings;
    -- one refresh at a time; readers keep seeing the previous answer until this one commits
    PERFORM pg_advisory_xact_lock(hashtext('personalize.refresh_recommendations'));
    CREATE TEMP TABLE _profile_items ON COMMIT DROP AS
    SELECT s.profile_id, s.item, s.w, s.category
    FROM (SELECT i.profile_id, i.item, max(i.weight) AS w,
                 (array_agg(i.category ORDER BY i.occurred_at DESC) FILTER (WHERE i.category IS NOT NULL))[1] AS category,
                 row_number() OVER (PARTITION BY i.profile_id ORDER BY max(i.weight) DESC, max(i.occurred_at) DESC, i.item) AS rank
          FROM (SELECT e.profile_id, x.item, x.category, x.weight, e.occurred_at
                FROM personalize.events e,
                     personalize._event_items(e.event, e.properties, st.purchase_weight, st.cart_weight, st.view_weight) x
                WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
                  AND e.occurred_at > as_of - st.window_length AND e.occurred_at <= as_of) i
          WHERE i.weight > 0
          GROUP BY i.profile_id, i.item) s
    WHERE s.rank <= st.items_per_profile;
    DELETE FROM personalize.item_stats;
    INSERT INTO personalize.item_stats (item, category, popularity, buyers, as_of)
    SELECT pi.item, (array_agg(pi.category) FILTER (WHERE pi.category IS NOT NULL))[1],
           sum(pi.w), count(*) FILTER (WHERE pi.w >= st.purchase_weight AND st.purchase_weight > 0), as_of
    FROM _profile_items pi GROUP BY pi.item;
    DELETE FROM personalize.item_neighbors;
    INSERT INTO personalize.item_neighbors (item, neighbor, score)
    SELECT q.item, q.neighbor, q.score
    FROM (SELECT c.item, c.neighbor, c.dot / sqrt(na.norm * nb.norm) AS score,
                 row_number() OVER (PARTITION BY c.item ORDER BY c.dot / sqrt(na.norm * nb.norm) DESC, c.neighbor) AS rank
          FROM (SELECT a.item, b.item AS neighbor, sum(a.w * b.w) AS dot
                FROM _profile_items a JOIN _profile_items b ON b.profile_id = a.profile_id AND b.item <> a.item
                GROUP BY a.item, b.item) c
          JOIN (SELECT pi.item, sum(pi.w * pi.w) AS norm FROM _profile_items pi GROUP BY pi.item) na ON na.item = c.item
          JOIN (SELECT pi.item, sum(pi.w * pi.w) AS norm FROM _profile_items pi GROUP BY pi.item) nb ON nb.item = c.neighbor) q
    WHERE q.rank <= st.neighbors;
    RETURN QUERY SELECT (SELECT count(*) FROM personalize.item_stats), (SELECT count(*) FROM personalize.item_neighbors);
END
$$;
COMMENT ON FUNCTION personalize.refresh_recommendations(timestamptz) IS
'Recomputes item similarities (cosine over profiles'' interaction weights, the strongest items_per_profile of each profile) and item popularity from the window before as_of; a pg_cron job runs it daily';

-- The best-seller lists the fallback reads in order: per category, and overall.
CREATE INDEX item_stats_category_idx ON personalize.item_stats (category, popularity DESC, item);
CREATE INDEX item_stats_popularity_idx ON personalize.item_stats (popularity DESC, item);

-- The n items each of many profiles is most likely to want next, each with why: the set form of
-- recommend(), one statement for the whole batch (render_emails and context() use it).
CREATE FUNCTION personalize.recommendations(profile_ids bigint[], n integer DEFAULT 5, as_of timestamptz DEFAULT now(),
                                            exclude_purchased boolean DEFAULT true)
RETURNS TABLE (profile_id bigint, rank integer, item text, score float8, reason text)
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
    -- nothing refreshed yet (no item is known): nothing to recommend, and nothing to read
    IF n = 0 OR profile_ids IS NULL OR NOT EXISTS (SELECT FROM personalize.item_stats) THEN
        RETURN;
    END IF;
    SELECT * INTO st FROM personalize.recommendation_settings;
    RETURN QUERY
    WITH ids AS (
        SELECT DISTINCT u.id AS profile_id FROM unnest(profile_ids) u(id) WHERE u.id IS NOT NULL
    ), acts AS (
        -- each profile's interactions, each decayed to as_of
        SELECT e.profile_id, x.item, x.category, x.weight >= st.purchase_weight AND st.purchase_weight > 0 AS bought,
               x.weight * exp(-ln(2) * extract(epoch FROM as_of - e.occurred_at)
                                  / extract(epoch FROM st.recency_half_life)) AS w
        FROM ids JOIN personalize.events e ON e.profile_id = ids.profile_id,
             personalize._event_items(e.event, e.properties, st.purchase_weight, st.cart_weight, st.view_weight) x
        WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
          AND e.occurred_at > as_of - st.window_length AND e.occurred_at <= as_of
    ), own AS MATERIALIZED (
        SELECT a.profile_id, a.item, max(a.w) AS w, bool_or(a.bought) AS bought FROM acts a GROUP BY 1, 2
    ), taste AS MATERIALIZED (
        -- affinity per category from the same interactions, scaled so that the strongest is 1
        SELECT a.profile_id, a.category,
               sum(a.w) / nullif(max(sum(a.w)) OVER (PARTITION BY a.profile_id), 0) AS affinity
        FROM acts a WHERE a.category IS NOT NULL GROUP BY 1, 2
    ), near AS MATERIALIZED (
        SELECT o.profile_id, nb.neighbor AS item, sum(o.w * nb.score) * (1 + coalesce(max(ta.affinity), 0)) AS score
        FROM own o
        JOIN personalize.item_neighbors nb ON nb.item = o.item
        LEFT JOIN personalize.item_stats s ON s.item = nb.neighbor
        LEFT JOIN taste ta ON ta.profile_id = o.profile_id AND ta.category = s.category
        LEFT JOIN own b ON b.profile_id = o.profile_id AND b.item = nb.neighbor AND b.bought AND exclude_purchased
        WHERE b.item IS NULL
        GROUP BY o.profile_id, nb.neighbor
    ), near_ranked AS (
        SELECT x.profile_id, x.item, x.score,
               row_number() OVER (PARTITION BY x.profile_id ORDER BY x.score DESC, x.item) AS rk
        FROM near x
    ), need AS (
        -- the profiles that need best-sellers after their neighbours, how many, and what to skip
        SELECT i.profile_id, n - coalesce(c.k, 0) AS missing,
               coalesce(c.items, '{}') || coalesce(o.items, '{}') AS skip
        FROM ids i
        LEFT JOIN (SELECT x.profile_id, count(*) AS k, array_agg(x.item) AS items FROM near x GROUP BY 1) c
               ON c.profile_id = i.profile_id
        LEFT JOIN (SELECT o.profile_id, array_agg(o.item) AS items FROM own o WHERE o.bought AND exclude_purchased GROUP BY 1) o
               ON o.profile_id = i.profile_id
        WHERE n - coalesce(c.k, 0) > 0
    ), fallback AS (
        -- best-sellers, those of the profile's favourite categories first: the first `missing`
        -- of each favourite category and of all items are enough to rank the first `missing`
        SELECT f.profile_id, f.item, max(f.key) AS key, max(f.category) AS category
        FROM (SELECT nd.profile_id, b.item, coalesce(ta.affinity, 0) * 1e12 + b.popularity AS key, ta.category
                FROM need nd JOIN taste ta ON ta.profile_id = nd.profile_id,
                     LATERAL (SELECT s.item, s.popularity FROM personalize.item_stats s
                               WHERE s.category = ta.category AND s.item <> ALL (nd.skip)
                               ORDER BY s.popularity DESC, s.item LIMIT nd.missing) b
              UNION ALL
              SELECT nd.profile_id, b.item, b.popularity, NULL
                FROM need nd,
                     LATERAL (SELECT s.item, s.popularity FROM personalize.item_stats s
                               WHERE s.item <> ALL (nd.skip)
                               ORDER BY s.popularity DESC, s.item LIMIT nd.missing) b) f
        GROUP BY f.profile_id, f.item
    ), ranked AS (
        SELECT x.profile_id, x.item, x.score, 'similar to what they bought, carted or viewed'::text AS why, 0 AS tier,
               x.score AS key2
        FROM near_ranked x WHERE x.rk <= n
        UNION ALL
        SELECT f.profile_id, f.item, NULL::float8,
               CASE WHEN f.category IS NOT NULL THEN 'best seller in ' || f.category ELSE 'best seller' END, 1, f.key
        FROM fallback f
    )
    SELECT q.profile_id, q.rk::integer, q.item, q.score, q.why
    FROM (SELECT r.*, row_number() OVER (PARTITION BY r.profile_id ORDER BY r.tier, r.key2 DESC, r.item) AS rk
          FROM ranked r) q
    WHERE q.rk <= n
    ORDER BY q.profile_id, q.rk;
END
$$;
COMMENT ON FUNCTION personalize.recommendations(bigint[], integer, timestamptz, boolean) IS
'recommend() for many profiles in one statement: per profile, ranks 1..n of the items it is most likely to want, with why; nothing before the first refresh_recommendations()';

-- The n items a profile is most likely to want next, each with why.
CREATE FUNCTION personalize.recommend(profile_id bigint, n integer DEFAULT 5, as_of timestamptz DEFAULT now(),
                                      exclude_purchased boolean DEFAULT true)
RETURNS TABLE (item text, score float8, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = recommend.profile_id) THEN
        RAISE EXCEPTION 'profile % does not exist', recommend.profile_id USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    SELECT r.item, r.score, r.reason
    FROM personalize.recommendations(ARRAY[recommend.profile_id], n, as_of, exclude_purchased) r
    ORDER BY r.rank;
END
$$;
COMMENT ON FUNCTION personalize.recommend(bigint, integer, timestamptz, boolean) IS
'The n items a profile is most likely to want: neighbours of its own items (purchases, carts, views, decayed by recency) weighted up by its affinity to their category, then best-sellers of its favourite categories, then overall; by default nothing it already bought';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize.refresh_recommendations(timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.recommend(bigint, integer, timestamptz, boolean),
    personalize.recommendations(bigint[], integer, timestamptz, boolean),
    personalize._event_items(text, jsonb, float8, float8, float8)
TO personalize_admin, personalize_analyst;
GRANT SELECT ON personalize.item_stats, personalize.item_neighbors, personalize.recommendation_settings
TO personalize_admin, personalize_analyst;
GRANT INSERT, DELETE ON personalize.item_stats, personalize.item_neighbors TO personalize_admin;
GRANT UPDATE ON personalize.recommendation_settings TO personalize_admin;
