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

CREATE FUNCTION personalize.context(profile_id bigint, as_of timestamptz DEFAULT now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'personalize_context'
LANGUAGE C STABLE;
COMMENT ON FUNCTION personalize.context(bigint, timestamptz) IS
'What a template sees of a profile as of as_of (src/render/email.c): ids, email, traits, consent, activity, cart, purchases, scores, segments; live state, or recomputed from the events up to as_of when the profile holds later ones';
