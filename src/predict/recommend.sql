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

-- The n items a profile is most likely to want next, each with why.
CREATE FUNCTION personalize.recommend(profile_id bigint, n integer DEFAULT 5, as_of timestamptz DEFAULT now(),
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
    IF NOT EXISTS (SELECT FROM personalize.profiles p WHERE p.profile_id = recommend.profile_id) THEN
        RAISE EXCEPTION 'profile % does not exist', recommend.profile_id USING ERRCODE = 'undefined_object';
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
        WHERE e.profile_id = recommend.profile_id
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
COMMENT ON FUNCTION personalize.recommend(bigint, integer, timestamptz, boolean) IS
'The n items a profile is most likely to want: neighbours of its own items (purchases, carts, views, decayed by recency) weighted up by its affinity to their category, then best-sellers of its favourite categories, then overall; by default nothing it already bought';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA personalize FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize.refresh_recommendations(timestamptz) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.recommend(bigint, integer, timestamptz, boolean),
    personalize._event_items(text, jsonb, float8, float8, float8)
TO personalize_admin, personalize_analyst;
GRANT SELECT ON personalize.item_stats, personalize.item_neighbors, personalize.recommendation_settings
TO personalize_admin, personalize_analyst;
GRANT INSERT, DELETE ON personalize.item_stats, personalize.item_neighbors TO personalize_admin;
GRANT UPDATE ON personalize.recommendation_settings TO personalize_admin;
