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

CREATE FUNCTION personalize.context(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    SELECT jsonb_build_object(
        'profile_id', p.profile_id,
        'user_id', p.user_id,
        'email', p.email,
        'traits', p.traits,
        'consent', jsonb_build_object('email', p.email_consent, 'lawful_basis', p.lawful_basis,
                                      'do_not_sell', p.do_not_sell, 'changed_at', p.consent_at),
        'activity', jsonb_build_object('event_count', p.event_count, 'first_seen_at', p.first_seen_at,
                                       'last_seen_at', p.last_seen_at),
        'cart', personalize._cart(p.profile_id, as_of),
        'purchases', jsonb_build_object('count', p.purchase_count, 'total', p.purchase_total,
                                        'first_at', p.first_purchase_at, 'last_at', p.last_purchase_at,
                                        'recency_days', CASE WHEN p.last_purchase_at <= as_of
                                            THEN floor(extract(epoch FROM as_of - p.last_purchase_at) / 86400) END),
        'rfm', CASE WHEN p.rfm_r IS NOT NULL THEN
                   jsonb_build_object('r', p.rfm_r, 'f', p.rfm_f, 'm', p.rfm_m, 'segment', p.rfm_segment) END,
        'segment', p.rfm_segment,
        -- live state folded from events after as_of has no value as of as_of: null then
        'engagement_score', CASE WHEN p.engagement_as_of IS NULL THEN 0
                                 WHEN p.engagement_as_of <= as_of
                                 THEN personalize.decay(p.engagement, p.engagement_as_of, as_of, personalize.half_life()) END,
        'top_interests', CASE WHEN NOT EXISTS (SELECT FROM personalize.profile_interests i
                                                WHERE i.profile_id = p.profile_id AND i.as_of > context.as_of)
                              THEN to_jsonb(personalize.top_interests(p.profile_id, 5, as_of)) END,
        'segments', to_jsonb(personalize.segments_of(p.profile_id)),
        'as_of', as_of)
      INTO result
      FROM personalize.profiles p WHERE p.profile_id = context.profile_id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'profile % does not exist', context.profile_id USING ERRCODE = 'no_data_found',
            HINT = 'Erased profiles are listed in personalize.erasure_log.';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION personalize.context(bigint, timestamptz) IS
'What a template sees of a profile: ids, email, traits, consent, activity, cart as of as_of, and the scores of issue 3';
