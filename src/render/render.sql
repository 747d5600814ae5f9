-- Liquid templates rendered in C (src/render.c over the engine in src/liquid/), and the context
-- of a profile that e-mail templates are rendered with.

CREATE FUNCTION personalize.render(template text, context jsonb DEFAULT '{}', strict boolean DEFAULT false,
                                   as_of timestamptz DEFAULT now(), partials jsonb DEFAULT NULL,
                                   autoescape boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_render'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize.render(text, jsonb, boolean, timestamptz, jsonb, boolean) IS
'Shopify Liquid 5 template rendered with a jsonb context; strict: unknown variables and filters are errors; '
'partials from the given object, else from personalize.templates; as_of is what date: "now" means';

CREATE FUNCTION personalize.render_json(template text, context json DEFAULT '{}', strict boolean DEFAULT false,
                                        as_of timestamptz DEFAULT now(), partials jsonb DEFAULT NULL,
                                        autoescape boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_render_json'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize.render_json(text, json, boolean, timestamptz, jsonb, boolean) IS
'render() with a json context: object keys keep the order they are written in (jsonb sorts them), '
'numbers keep their written form (1e2 is a float)';

CREATE FUNCTION personalize._render_part(template text, context jsonb, strict boolean, as_of timestamptz,
                                         partials jsonb, autoescape boolean, part "char")
RETURNS text
AS 'MODULE_PATHNAME', 'personalize_render'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._render_part(text, jsonb, boolean, timestamptz, jsonb, boolean, "char") IS
'render() of one part of an e-mail: partials read html_body (h) or text_body, else html_body (t, s)';

CREATE FUNCTION personalize._liquid_check(source text, what text)
RETURNS void
AS 'MODULE_PATHNAME', 'personalize_liquid_check'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION personalize._liquid_check(text, text) IS
'Raises the syntax error of a Liquid template (SQLSTATE 42601, line, column, excerpt), if it has one';

CREATE FUNCTION personalize.liquid_cache_stats(OUT entries bigint, OUT bytes bigint, OUT hits bigint,
                                               OUT misses bigint, OUT evictions bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'personalize_liquid_cache_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION personalize.liquid_cache_stats() IS
'This backend''s cache of compiled templates: entries, bytes, hits, misses, evictions';

-- The cart of a profile as of a time: Product Added events since its last Order Completed,
-- less Product Removed (all of the product when no quantity is given), one line per product.
CREATE FUNCTION personalize._cart(profile_id bigint, as_of timestamptz)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ordered_at timestamptz;
    ev record;
    k text;
    qty numeric;
    lines jsonb := '{}';
    keys text[] := '{}';
    items jsonb := '[]';
    item jsonb;
    n numeric := 0;
    total numeric := 0;
    updated timestamptz;
BEGIN
    SELECT max(e.occurred_at) INTO ordered_at FROM personalize.events e
     WHERE e.profile_id = _cart.profile_id AND e.event = 'Order Completed' AND e.occurred_at <= as_of;
    FOR ev IN
        SELECT e.event, e.properties, e.occurred_at FROM personalize.events e
         WHERE e.profile_id = _cart.profile_id AND e.event IN ('Product Added', 'Product Removed')
           AND e.occurred_at <= as_of AND (ordered_at IS NULL OR e.occurred_at > ordered_at)
         ORDER BY e.occurred_at, e.event_id
    LOOP
        k := coalesce(ev.properties ->> 'product_id', ev.properties ->> 'sku', ev.properties ->> 'name');
        CONTINUE WHEN k IS NULL;
        qty := CASE WHEN jsonb_typeof(ev.properties -> 'quantity') = 'number'
                    THEN (ev.properties ->> 'quantity')::numeric END;
        updated := ev.occurred_at;
        IF ev.event = 'Product Added' THEN
            qty := coalesce(qty, 1) + coalesce((lines -> k ->> 'quantity')::numeric, 0);
            IF NOT lines ? k THEN
                keys := keys || k;
            END IF;
            lines := jsonb_set(lines, ARRAY[k], ev.properties || jsonb_build_object('quantity', qty));
        ELSIF lines ? k THEN
            qty := (lines -> k ->> 'quantity')::numeric - coalesce(qty, (lines -> k ->> 'quantity')::numeric);
            IF qty > 0 THEN
                lines := jsonb_set(lines, ARRAY[k, 'quantity'], to_jsonb(qty));
            ELSE
                lines := lines - k;
                keys := array_remove(keys, k);
            END IF;
        END IF;
    END LOOP;
    FOREACH k IN ARRAY keys LOOP
        item := lines -> k;
        items := items || jsonb_build_array(item);
        n := n + (item ->> 'quantity')::numeric;
        IF jsonb_typeof(item -> 'price') = 'number' THEN
            total := total + (item ->> 'price')::numeric * (item ->> 'quantity')::numeric;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('items', items, 'item_count', n, 'total', total, 'updated_at', updated);
END
$$;
COMMENT ON FUNCTION personalize._cart(bigint, timestamptz) IS
'Cart lines (latest Product Added properties, net quantity) since the last Order Completed before as_of';

-- The exact path: a profile's live state recomputed from its events up to as_of, for a time before
-- the live state (which holds every event folded in, including those after as_of).
CREATE FUNCTION personalize._live_state_at(profile_id bigint, as_of timestamptz)
RETURNS personalize.live_state
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH scored AS (
        SELECT e.occurred_at, w.engagement_weight, e.event = st.purchase_event AS purchase,
               CASE WHEN e.event = st.purchase_event
                    THEN personalize.purchase_amount(e.properties, st.amount_properties) END AS amount
          FROM personalize.events e
         CROSS JOIN personalize.scoring_settings st
          LEFT JOIN personalize.scoring_events w ON w.event = e.event
         WHERE e.profile_id = $1 AND e.occurred_at <= $2
           AND (w.engagement_weight <> 0 OR e.event = st.purchase_event)
    ), s AS (
        SELECT count(*) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS purchases,
               coalesce(sum(s.amount) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity'), 0) AS total,
               min(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS first_at,
               max(s.occurred_at) FILTER (WHERE s.amount >= 0 AND s.amount < 'Infinity') AS last_at,
               count(*) FILTER (WHERE s.purchase AND NOT coalesce(s.amount >= 0 AND s.amount < 'Infinity', false)) AS ignored,
               personalize._engagement_state(s.occurred_at, s.engagement_weight, personalize.half_life())
                   FILTER (WHERE s.engagement_weight <> 0) AS engagement
          FROM scored s
    )
    SELECT ROW(personalize._cart($1, $2), s.purchases, s.total, s.first_at, s.last_at, s.ignored,
               coalesce((s.engagement).score, 0), (s.engagement).as_of)::personalize.live_state
      FROM s
$$;

-- The exact path of top interests: the n categories with the highest affinity as of as_of,
-- computed from the events up to as_of (best first, ties by name).
CREATE FUNCTION personalize._interests_at(profile_id bigint, n integer, as_of timestamptz)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(t.category ORDER BY t.score DESC, t.category), '{}')
      FROM (SELECT personalize.event_category(e.properties, st.category_property) AS category,
                   personalize.engagement(e.occurred_at, w.interest_weight, personalize.half_life(), $3) AS score
              FROM personalize.events e
             CROSS JOIN personalize.scoring_settings st
              JOIN personalize.scoring_events w ON w.event = e.event AND w.interest_weight > 0
             WHERE e.profile_id = $1 AND e.occurred_at <= $3
               AND personalize.event_category(e.properties, st.category_property) IS NOT NULL
             GROUP BY 1
             ORDER BY 2 DESC, 1
             LIMIT $2) t
$$;

CREATE FUNCTION personalize.context(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'personalize_context'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personalize.context(bigint, timestamptz) IS
'What a template sees of a profile as of as_of (src/render/email.c): ids, email, traits, consent, activity, cart, purchases, scores, segments; live state, or recomputed from the events up to as_of when the profile holds later ones';
