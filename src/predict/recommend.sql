-- Recommendations: item-to-item similarity from what the same customers bought, carted and viewed
-- (cosine over per-profile interaction weights), kept as exact stored sums (item totals, pair dot
-- products, each profile's items) that personalize.refresh_recommendations() (a pg_cron job)
-- updates for the profiles changed since it last ran (a change log the events' triggers write),
-- and personalize.recommend(), which blends the neighbours of a profile's own items with its
-- interests and falls back to best-sellers.

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
'Per item, as of the last refresh_recommendations(): its category (the one most profiles last saw it in; ties to the first in byte order), popularity (the interaction weight of all profiles) and distinct buyers; as_of is that of the refresh that last changed the row';

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

-- The stored state an incremental refresh updates, one row: the window and settings it was
-- computed with (NULL as_of: never refreshed), and what the last refresh did.
CREATE TABLE personalize.recommendation_state (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    as_of              timestamptz,
    window_length      interval,
    purchase_weight    float8,
    cart_weight        float8,
    view_weight        float8,
    items_per_profile  integer,
    neighbors          integer,
    retention_seen     bigint,
    refreshed_at       timestamptz,
    rebuilt            boolean,
    profiles_changed   bigint
);
COMMENT ON TABLE personalize.recommendation_state IS
'One row: the window (as_of - window_length, as_of] and the settings the stored similarities were computed with, the partition drops inside that window already seen, and when and how the last refresh_recommendations() ran';
INSERT INTO personalize.recommendation_state DEFAULT VALUES;

-- Every item the stored state knows, numbered (the pairs and profile items use the numbers), with
-- its exact totals over the profiles that have it among their items.
CREATE TABLE personalize.recommendation_items (
    item_id     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item        text NOT NULL UNIQUE,
    profiles    bigint NOT NULL,
    weight_sum  numeric NOT NULL,
    norm        numeric NOT NULL,
    buyers      bigint NOT NULL
);
COMMENT ON TABLE personalize.recommendation_items IS
'Per item of the stored state: its number, how many profiles have it among their items, the sum of their weights (popularity) and of their squares (the squared norm), and its buyers; sums exact (numeric)';

-- Each profile's items as the last refresh computed them: what a refresh takes back out of the
-- totals and pairs when the profile changes.
CREATE TABLE personalize.recommendation_profile_items (
    profile_id  bigint NOT NULL,
    item_id     integer NOT NULL,
    weight      float8 NOT NULL,
    category    text,
    PRIMARY KEY (profile_id, item_id)
);
COMMENT ON TABLE personalize.recommendation_profile_items IS
'Per profile, its strongest items_per_profile items in the window as of the last refresh: the weight of the strongest interaction and the category of the latest';

-- How many profiles saw each item in each category (the item's category is the most common).
CREATE TABLE personalize.recommendation_item_categories (
    item_id   integer NOT NULL,
    category  text NOT NULL,
    profiles  bigint NOT NULL,
    PRIMARY KEY (item_id, category)
);
COMMENT ON TABLE personalize.recommendation_item_categories IS
'Per item and category: the profiles whose latest interaction with the item named that category';

-- The dot product of every two items some profile has both of, once per pair (lower number first).
CREATE TABLE personalize.recommendation_pairs (
    item_a    integer NOT NULL,
    item_b    integer NOT NULL,
    dot       numeric NOT NULL,
    profiles  bigint NOT NULL,
    PRIMARY KEY (item_a, item_b),
    CHECK (item_a < item_b)
);
CREATE INDEX recommendation_pairs_item_b_idx ON personalize.recommendation_pairs (item_b);
COMMENT ON TABLE personalize.recommendation_pairs IS
'Per pair of items (item_a < item_b) that some profile has both of: the sum over profiles of the product of their weights (exact) and how many profiles contribute';

-- The profiles whose product events were inserted, moved or deleted since the last refresh: the
-- change set, written in the changing transaction, so that a refresh consumes only the changes
-- committed before it reads them, whatever their event ids or times.
CREATE TABLE personalize.recommendation_changes (
    profile_id  bigint NOT NULL
);
COMMENT ON TABLE personalize.recommendation_changes IS
'The profiles whose product events (orders, cart adds, views) changed since the last refresh_recommendations(), which consumes the rows it sees';

-- Trigger: notes the profiles of a statement's inserted, moved or deleted product events.
CREATE FUNCTION personalize._recommendation_changes_note()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO personalize.recommendation_changes (profile_id)
        SELECT DISTINCT e.profile_id FROM new_events e
         WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed');
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO personalize.recommendation_changes (profile_id)
        SELECT e.profile_id FROM old_events e WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
        UNION
        SELECT e.profile_id FROM new_events e WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed');
    ELSE
        INSERT INTO personalize.recommendation_changes (profile_id)
        SELECT DISTINCT e.profile_id FROM old_events e
         WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed');
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION personalize._recommendation_changes_note() IS
'Trigger: adds the profiles of a statement''s inserted, moved (merge_profiles) or deleted (forget) product events to recommendation_changes';

CREATE TRIGGER events_recommendations AFTER INSERT ON personalize.events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._recommendation_changes_note();
CREATE TRIGGER events_recommendations_moved AFTER UPDATE ON personalize.events
    REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._recommendation_changes_note();
CREATE TRIGGER events_recommendations_deleted AFTER DELETE ON personalize.events
    REFERENCING OLD TABLE AS old_events
    FOR EACH STATEMENT EXECUTE FUNCTION personalize._recommendation_changes_note();

-- Brings item_stats and item_neighbors to the window before as_of, incrementally: only the
-- profiles that changed (recommendation_changes) or had product events enter or leave the window
-- since the last refresh are recomputed, their old items taken out of the stored totals and pairs
-- and their new ones put in, and the neighbour lists that can differ recomputed. rebuild (or no
-- stored state, or changed weights) starts from nothing: the same steps over every profile.
CREATE FUNCTION personalize.refresh_recommendations(as_of timestamptz DEFAULT now(), rebuild boolean DEFAULT false)
RETURNS TABLE (items bigint, pairs bigint, profiles_changed bigint, rebuilt boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off    -- the estimates of _event_items' rows are a guess: JIT would compile for seconds a statement of milliseconds
SET plan_cache_mode = force_custom_plan    -- each plan sees whether it rebuilds, and the changed profiles
AS $$
DECLARE
    st personalize.recommendation_settings;
    prev personalize.recommendation_state;
    lo timestamptz;
    prev_lo timestamptz;
    relist_all boolean;
    n_changed bigint;
    changed bigint[];
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF rebuild IS NULL THEN
        RAISE EXCEPTION 'rebuild must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO st FROM personalize.recommendation_settings;
    -- One refresh at a time, on the state row's lock; readers keep the previous answer until this
    -- one commits. A refresh whose snapshot predates another's commit (REPEATABLE READ) fails
    -- here (40001) rather than apply the same changes twice.
    SELECT * INTO prev FROM personalize.recommendation_state FOR UPDATE;
    lo := as_of - st.window_length;
    prev_lo := prev.as_of - prev.window_length;
    rebuild := rebuild OR prev.as_of IS NULL OR prev.retention_seen IS NULL
        OR (prev.purchase_weight, prev.cart_weight, prev.view_weight, prev.items_per_profile)
           IS DISTINCT FROM (st.purchase_weight, st.cart_weight, st.view_weight, st.items_per_profile)
        -- maintain() dropped a partition holding events of the stored window: those leave no log
        OR (SELECT count(*) FROM personalize.retention_log r WHERE r.range_to > prev_lo) > prev.retention_seen;
    relist_all := rebuild OR st.neighbors IS DISTINCT FROM prev.neighbors;

    -- The change set: first the logged changes (taken in this statement's snapshot; changes
    -- committed later stay logged for the next refresh, and every event read below is at least as
    -- new), then the profiles with product events in the times that enter or leave the window.
    CREATE TEMP TABLE _rec_changed (profile_id bigint) ON COMMIT DROP;
    WITH logged AS (DELETE FROM personalize.recommendation_changes RETURNING profile_id)
    INSERT INTO _rec_changed SELECT DISTINCT profile_id FROM logged;
    IF rebuild THEN
        DELETE FROM personalize.recommendation_pairs;
        DELETE FROM personalize.recommendation_profile_items;
        DELETE FROM personalize.recommendation_item_categories;
        DELETE FROM personalize.recommendation_items;
        DELETE FROM personalize.item_stats;
        DELETE FROM personalize.item_neighbors;
        DELETE FROM _rec_changed;
        INSERT INTO _rec_changed
        SELECT DISTINCT e.profile_id FROM personalize.events e
         WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
           AND e.occurred_at > lo AND e.occurred_at <= as_of;
    ELSE
        INSERT INTO _rec_changed
        SELECT e.profile_id FROM personalize.events e
         WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
           AND e.occurred_at > least(lo, prev_lo) AND e.occurred_at <= greatest(lo, prev_lo)
        UNION
        SELECT e.profile_id FROM personalize.events e
         WHERE e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
           AND e.occurred_at > least(as_of, prev.as_of) AND e.occurred_at <= greatest(as_of, prev.as_of);
    END IF;
    CREATE TEMP TABLE _rec_profiles ON COMMIT DROP AS SELECT DISTINCT profile_id FROM _rec_changed;
    ANALYZE _rec_profiles;
    -- (as a list too: a few profiles' events are read through their index, a rebuild's by a scan)
    IF NOT rebuild THEN
        changed := ARRAY(SELECT c.profile_id FROM _rec_profiles c ORDER BY 1);
    END IF;

    -- Their items now: per profile and item the strongest weight in the window and the category of
    -- the latest interaction naming one; the profile's items_per_profile strongest.
    CREATE TEMP TABLE _rec_new ON COMMIT DROP AS
    SELECT s.profile_id, s.item, s.weight, s.category
    FROM (SELECT i.profile_id, i.item, max(i.weight) AS weight,
                 (array_agg(i.category ORDER BY i.occurred_at DESC, i.event_id DESC, i.category COLLATE "C")
                    FILTER (WHERE i.category IS NOT NULL))[1] AS category,
                 row_number() OVER (PARTITION BY i.profile_id ORDER BY max(i.weight) DESC, max(i.occurred_at) DESC, i.item) AS rank
          FROM (SELECT e.profile_id, x.item, x.category, x.weight, e.occurred_at, e.event_id
                FROM personalize.events e,
                     personalize._event_items(e.event, e.properties, st.purchase_weight, st.cart_weight, st.view_weight) x
                WHERE (rebuild OR e.profile_id = ANY (changed))
                  AND e.event IN ('Order Completed', 'Product Added', 'Product Viewed')
                  AND e.occurred_at > lo AND e.occurred_at <= as_of) i
          WHERE i.weight > 0
          GROUP BY i.profile_id, i.item) s
    WHERE s.rank <= st.items_per_profile;
    INSERT INTO personalize.recommendation_items (item, profiles, weight_sum, norm, buyers)
    SELECT DISTINCT n.item, 0, 0, 0, 0 FROM _rec_new n
     WHERE NOT EXISTS (SELECT FROM personalize.recommendation_items i WHERE i.item = n.item)
     ORDER BY n.item;

    -- The difference: each changed profile's stored items out (-1), its new ones in (+1); a profile
    -- whose items came out the same is left out of it.
    CREATE TEMP TABLE _rec_delta ON COMMIT DROP AS
    WITH old AS (
        DELETE FROM personalize.recommendation_profile_items p USING _rec_profiles c
         WHERE p.profile_id = c.profile_id
        RETURNING p.profile_id, p.item_id, p.weight, p.category
    )
    SELECT o.profile_id, o.item_id, o.weight, o.category, -1 AS sign FROM old o;
    WITH new AS (
        INSERT INTO personalize.recommendation_profile_items (profile_id, item_id, weight, category)
        SELECT n.profile_id, i.item_id, n.weight, n.category
          FROM _rec_new n JOIN personalize.recommendation_items i ON i.item = n.item
        RETURNING profile_id, item_id, weight, category
    )
    INSERT INTO _rec_delta SELECT n.profile_id, n.item_id, n.weight, n.category, 1 FROM new n;
    DELETE FROM _rec_delta d
     USING (SELECT g.profile_id FROM (SELECT x.profile_id, sum(x.sign) AS s FROM _rec_delta x
                                        GROUP BY x.profile_id, x.item_id, x.weight, x.category) g
             GROUP BY g.profile_id HAVING bool_and(g.s = 0)) same
     WHERE d.profile_id = same.profile_id;
    SELECT count(DISTINCT d.profile_id) INTO n_changed FROM _rec_delta d;
    ANALYZE _rec_delta;

    -- Item totals, categories and pairs move by the difference (exact sums: the same state as a
    -- rebuild, whatever the order the changes came in).
    CREATE TEMP TABLE _rec_item_delta ON COMMIT DROP AS
    SELECT d.item_id, sum(d.sign) AS profiles, sum(d.sign * d.weight::numeric) AS weight_sum,
           sum(d.sign * (d.weight * d.weight)::numeric) AS norm,
           coalesce(sum(d.sign) FILTER (WHERE d.weight >= st.purchase_weight AND st.purchase_weight > 0), 0) AS buyers
      FROM _rec_delta d GROUP BY d.item_id;
    UPDATE personalize.recommendation_items i
       SET profiles = i.profiles + d.profiles, weight_sum = i.weight_sum + d.weight_sum,
           norm = i.norm + d.norm, buyers = i.buyers + d.buyers
      FROM _rec_item_delta d WHERE i.item_id = d.item_id;
    INSERT INTO personalize.recommendation_item_categories AS c (item_id, category, profiles)
    SELECT d.item_id, d.category, sum(d.sign) FROM _rec_delta d WHERE d.category IS NOT NULL
     GROUP BY d.item_id, d.category HAVING sum(d.sign) <> 0
        ON CONFLICT (item_id, category) DO UPDATE SET profiles = c.profiles + excluded.profiles;
    DELETE FROM personalize.recommendation_item_categories c
     USING _rec_item_delta d WHERE c.item_id = d.item_id AND c.profiles = 0;
    CREATE TEMP TABLE _rec_pair_delta ON COMMIT DROP AS
    SELECT a.item_id AS item_a, b.item_id AS item_b, sum(a.sign * (a.weight * b.weight)::numeric) AS dot,
           sum(a.sign) AS profiles
      FROM _rec_delta a JOIN _rec_delta b ON b.profile_id = a.profile_id AND b.sign = a.sign AND b.item_id > a.item_id
     GROUP BY a.item_id, b.item_id;
    DELETE FROM _rec_pair_delta d WHERE d.dot = 0 AND d.profiles = 0;
    INSERT INTO personalize.recommendation_pairs AS p (item_a, item_b, dot, profiles)
    SELECT d.item_a, d.item_b, d.dot, d.profiles FROM _rec_pair_delta d
        ON CONFLICT (item_a, item_b) DO UPDATE SET dot = p.dot + excluded.dot, profiles = p.profiles + excluded.profiles;
    DELETE FROM personalize.recommendation_pairs p
     USING _rec_pair_delta d WHERE p.item_a = d.item_a AND p.item_b = d.item_b AND p.profiles = 0;

    -- item_stats of the items whose totals moved; an item no profile has left leaves.
    DELETE FROM personalize.item_stats s
     USING _rec_item_delta d JOIN personalize.recommendation_items i ON i.item_id = d.item_id
     WHERE s.item = i.item;
    INSERT INTO personalize.item_stats (item, category, popularity, buyers, as_of)
    SELECT i.item,
           (SELECT c.category FROM personalize.recommendation_item_categories c WHERE c.item_id = i.item_id
             ORDER BY c.profiles DESC, c.category COLLATE "C" LIMIT 1),
           i.weight_sum::float8, i.buyers, refresh_recommendations.as_of
      FROM _rec_item_delta d JOIN personalize.recommendation_items i ON i.item_id = d.item_id
     WHERE i.profiles > 0;

    -- The neighbour lists that can differ: of every item with a changed pair or norm, and of each
    -- partner of an item whose norm changed when that item is on its list or now scores at least
    -- its list's last (or its list is short).
    CREATE TEMP TABLE _rec_relist (item_id integer PRIMARY KEY) ON COMMIT DROP;
    IF relist_all THEN
        DELETE FROM personalize.item_neighbors;
        INSERT INTO _rec_relist SELECT i.item_id FROM personalize.recommendation_items i WHERE i.profiles > 0;
    ELSE
        INSERT INTO _rec_relist
        SELECT d.item_a FROM _rec_pair_delta d
        UNION SELECT d.item_b FROM _rec_pair_delta d
        UNION SELECT d.item_id FROM _rec_item_delta d WHERE d.norm <> 0;
        INSERT INTO _rec_relist
        WITH partner AS (
            SELECT x.other, x.moved, x.dot::float8 / sqrt(io.norm::float8 * im.norm::float8) AS score
              FROM (SELECT p.item_b AS other, p.item_a AS moved, p.dot
                      FROM personalize.recommendation_pairs p JOIN _rec_item_delta d ON d.item_id = p.item_a AND d.norm <> 0
                    UNION ALL
                    SELECT p.item_a, p.item_b, p.dot
                      FROM personalize.recommendation_pairs p JOIN _rec_item_delta d ON d.item_id = p.item_b AND d.norm <> 0) x
              JOIN personalize.recommendation_items io ON io.item_id = x.other
              JOIN personalize.recommendation_items im ON im.item_id = x.moved
             WHERE NOT EXISTS (SELECT FROM _rec_relist r WHERE r.item_id = x.other)
        ), list AS (
            SELECT o.other, l.n, l.last
              FROM (SELECT DISTINCT p.other FROM partner p) o
              JOIN personalize.recommendation_items i ON i.item_id = o.other
              CROSS JOIN LATERAL (SELECT count(*) AS n, min(nb.score) AS last
                                    FROM personalize.item_neighbors nb WHERE nb.item = i.item) l
        )
        SELECT DISTINCT p.other
          FROM partner p JOIN list l ON l.other = p.other
          JOIN personalize.recommendation_items io ON io.item_id = p.other
          JOIN personalize.recommendation_items im ON im.item_id = p.moved
         WHERE l.n < st.neighbors OR p.score >= l.last
            OR EXISTS (SELECT FROM personalize.item_neighbors nb WHERE nb.item = io.item AND nb.neighbor = im.item);
        DELETE FROM personalize.item_neighbors nb
         USING _rec_relist r JOIN personalize.recommendation_items i ON i.item_id = r.item_id
         WHERE nb.item = i.item;
    END IF;
    ANALYZE _rec_relist;
    -- each listed item's neighbours: the cosine of the two items' weights across profiles
    INSERT INTO personalize.item_neighbors (item, neighbor, score)
    SELECT q.item, q.neighbor, q.score
    FROM (SELECT s.item, o.item AS neighbor, x.dot::float8 / sqrt(s.norm::float8 * o.norm::float8) AS score,
                 row_number() OVER (PARTITION BY x.self ORDER BY x.dot::float8 / sqrt(s.norm::float8 * o.norm::float8) DESC,
                                                              o.item) AS rank
          FROM (SELECT p.item_a AS self, p.item_b AS other, p.dot
                  FROM personalize.recommendation_pairs p JOIN _rec_relist r ON r.item_id = p.item_a
                UNION ALL
                SELECT p.item_b, p.item_a, p.dot
                  FROM personalize.recommendation_pairs p JOIN _rec_relist r ON r.item_id = p.item_b) x
          JOIN personalize.recommendation_items s ON s.item_id = x.self
          JOIN personalize.recommendation_items o ON o.item_id = x.other) q
    WHERE q.rank <= st.neighbors;
    DELETE FROM personalize.recommendation_items i
     USING _rec_item_delta d WHERE i.item_id = d.item_id AND i.profiles = 0;

    UPDATE personalize.recommendation_state
       SET as_of = refresh_recommendations.as_of, window_length = st.window_length,
           purchase_weight = st.purchase_weight, cart_weight = st.cart_weight, view_weight = st.view_weight,
           items_per_profile = st.items_per_profile, neighbors = st.neighbors,
           retention_seen = (SELECT count(*) FROM personalize.retention_log r WHERE r.range_to > lo),
           refreshed_at = now(), rebuilt = rebuild, profiles_changed = n_changed;
    -- (dropped now, not at commit: a transaction may refresh twice, e.g. to compare with a rebuild)
    DROP TABLE _rec_changed, _rec_profiles, _rec_new, _rec_delta, _rec_item_delta, _rec_pair_delta, _rec_relist;
    RETURN QUERY SELECT (SELECT count(*) FROM personalize.item_stats), (SELECT count(*) FROM personalize.item_neighbors),
                        n_changed, rebuild;
END
$$;
COMMENT ON FUNCTION personalize.refresh_recommendations(timestamptz, boolean) IS
'Brings item similarities (cosine over profiles'' interaction weights, the strongest items_per_profile of each profile) and item popularity to the window before as_of, recomputing only the profiles changed since the last refresh and the neighbour lists that can differ; rebuild => true recomputes everything; a pg_cron job runs it';

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
GRANT EXECUTE ON FUNCTION personalize.refresh_recommendations(timestamptz, boolean) TO personalize_admin;
GRANT EXECUTE ON FUNCTION personalize.recommend(bigint, integer, timestamptz, boolean),
    personalize.recommendations(bigint[], integer, timestamptz, boolean),
    personalize._event_items(text, jsonb, float8, float8, float8)
TO personalize_admin, personalize_analyst;
GRANT SELECT ON personalize.item_stats, personalize.item_neighbors, personalize.recommendation_settings
TO personalize_admin, personalize_analyst;
GRANT INSERT, DELETE ON personalize.item_stats, personalize.item_neighbors TO personalize_admin;
-- the stored state is the refresh's (an admin's or the pg_cron job's); the per-profile items stay
-- with the admin, the totals and the state row are an analyst's to read
GRANT SELECT, INSERT, UPDATE, DELETE ON personalize.recommendation_items, personalize.recommendation_profile_items,
    personalize.recommendation_item_categories, personalize.recommendation_pairs TO personalize_admin;
GRANT SELECT, UPDATE ON personalize.recommendation_state TO personalize_admin;
GRANT SELECT, DELETE ON personalize.recommendation_changes TO personalize_admin;
GRANT SELECT ON personalize.recommendation_state, personalize.recommendation_items, personalize.recommendation_pairs
TO personalize_analyst;
GRANT UPDATE ON personalize.recommendation_settings TO personalize_admin;
