-- personalize.render(), render_json(), personalize.templates, context() and render_email().
CREATE EXTENSION personalize;
\set VERBOSITY terse
-- Renders and returns the output, or the error's SQLSTATE, message, detail and context.
CREATE FUNCTION pg_temp.try(tpl text, ctx jsonb DEFAULT '{}', strict boolean DEFAULT false,
                            partials jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; ctxt text;
BEGIN
    RETURN personalize.render(tpl, ctx, strict, '2026-03-14 15:09:26+00', partials);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            ctxt = PG_EXCEPTION_CONTEXT;
    -- only our own context lines (a partial's name), not this function's
    RETURN st || ' ' || msg || coalesce(' | ' || nullif(det, ''), '')
              || coalesce(' | ' || nullif(substring(ctxt FROM '^partial "[^"]*"'), ''), '');
END
$$;

-- values: jsonb numeric keeps its scale, so integers and floats follow Liquid
SELECT personalize.render('{{ i }} {{ f }} {{ g }} {{ i | plus: 1 }} {{ f | times: 2 }} {{ g | divided_by: 4 }} {{ i | divided_by: 4 }}',
                          '{"i": 7, "f": 7.0, "g": 19.90}');
SELECT personalize.render('{{ s | upcase }} {{ t }}|{{ n }}|{{ missing }}|{{ a | join: "," }} {{ a.size }} {{ o.k.z }} {{ o["k"].z }}',
                          '{"s": "élodie", "t": true, "n": null, "a": [1, "b", 2.5], "o": {"k": {"z": "deep"}}}');
SELECT personalize.render('Hi {{ name | default: "there" }}!', '{}'),
       personalize.render('Hi {{ name | default: "there" }}!', NULL),
       personalize.render(NULL, '{}') IS NULL AS null_template;
SELECT personalize.render('{% for p in products %}{{ forloop.index }}:{{ p.title }}={{ p.price | times: p.qty | money: "$" }}{% unless forloop.last %}, {% endunless %}{% endfor %}',
                          '{"products": [{"title": "Mug", "price": 12.5, "qty": 2}, {"title": "Tee", "price": 1234.5, "qty": 1}]}');
-- time is an argument: as_of is what "now" means to date
SELECT personalize.render('{{ "now" | date: "%Y-%m-%d %H:%M" }} {{ d | date: "%b %-d, %Y" }}', '{"d": "2024-02-29T10:00:00Z"}',
                          as_of => '2026-03-14 15:09:26+00');
-- HTML escaping: escape filter, and autoescape unless the last filter is raw
SELECT personalize.render('{{ x | escape }} {{ x }}', '{"x": "<b>\"Tom\" & Jerry</b>"}');
SELECT personalize.render('{{ x }} {{ x | raw }} {{ x | escape }} {{ x | upcase }}', '{"x": "<i>&amp;</i>"}', autoescape => true);
-- money renders the exact amount or raises 22003, never a wrong one (Ruby's BigDecimal gives the same digits)
SELECT personalize.render('{{ a | money: "£" }} {{ b | money }} {{ c | money: "$" }} {{ d | money }} {{ e | money }} {{ f | money }}',
                          '{"a": "99999999999999999999999999999999999.995", "b": "123456789012345678901234567890", "c": -0.005,
                            "d": 9223372036854775807, "e": "1_000.5", "f": 12345678901234.56}');
SELECT pg_temp.try('{{ 1055555555555555555555555555555555555555555555555555555555550 | money: "£" }}');
SELECT pg_temp.try('{{ x | money }}', '{"x": 9007199254740992.0}'), pg_temp.try('{{ x | money }}', '{"x": 9007199254740991.0}');
-- Integers beyond 64 bits (Ruby keeps them exact; these are 64-bit): a literal or a context value
-- keeps its exact digits and prints them as Ruby does; integer arithmetic whose result would leave
-- 64 bits is refused with 22003 (never a wrapped, wrongly signed or float answer). Ruby's answers:
-- 9223372036854775808, 9223372036854775808, 9223372036854775808, 100000000000000000000,
-- 246913578024691357802469135780, 123456789012345678902, 9223372036854775808.
SELECT personalize.render('{{ 99999999999999999999 }} {{ big }} {{ b | abs }} {{ c | minus: 1 }} {{ c | plus: 0.5 }}',
                          '{"big": 123456789012345678901234567890, "b": -9223372036854775807, "c": 9223372036854775807}');
SELECT pg_temp.try(t, '{"a": -9223372036854775808, "c": 9223372036854775807, "s": "99999999999999999999",
                        "big": 123456789012345678901234567890, "f": 123456789012345678901.5}')
  FROM unnest(ARRAY['{{ a | abs }}', '{{ a | plus: 0 | abs }}', '{{ a | divided_by: -1 }}', '{{ s | plus: 1 }}',
                    '{{ big | times: 2 }}', '{{ f | ceil }}', '{{ c | plus: 1 }}']) AS t;
-- truncate and truncatewords lengths near -2^63 and 2^63 (Ruby: "..." and an error)
SELECT personalize.render('{{ "abcdef" | truncate: -9223372036854775808 }} {{ "abcdef" | truncate: -1 }} {{ "abcdef" | truncate: 9223372036854775807 }} {{ "a b c" | truncatewords: -9223372036854775808 }}', '{}');
SELECT pg_temp.try('{{ "a b c" | truncatewords: 9223372036854775807 }}');
-- the context must be an object
SELECT pg_temp.try('{{ x }}', '[1, 2]');
SELECT pg_temp.try('{{ x }}', '"text"');
-- render_json keeps the key order of objects as written; jsonb sorts keys
SELECT personalize.render_json('{% for kv in h %}{{ kv[0] }}={{ kv[1] }} {% endfor %}{{ big }}', '{"zeta": 1, "alpha": 2, "big": 1e2}'),
       personalize.render('{% for kv in h %}{{ kv[0] }}={{ kv[1] }} {% endfor %}{{ big }}', '{"zeta": 1, "alpha": 2, "big": 1e2}');
SELECT personalize.render_json('{% for kv in h %}{{ kv[0] }}={{ kv[1] }} {% endfor %}', '{"h": {"zeta": 1, "alpha": 2}}');
SELECT pg_temp.try('{{ x }}', '{"x": 1');

-- syntax errors: SQLSTATE 42601, line, column and the excerpt
SELECT pg_temp.try('Hello {% if x %}never closed');
SELECT pg_temp.try(E'line one\nline two {{ x | }} end');
SELECT pg_temp.try(E'a\nb\n  {% frobnicate %}');
SELECT pg_temp.try('{{ x | plus: 1 ');
SELECT pg_temp.try('{% for %}{% endfor %}');
-- runtime errors: 22023
SELECT pg_temp.try('{{ 10 | divided_by: 0 }}');
SELECT pg_temp.try('{% render "nowhere" %}');

-- strict mode: unknown variables 42703, unknown filters 42883; lax passes both
SELECT pg_temp.try('[{{ who }}] [{{ "x" | frob }}]'), pg_temp.try('{{ who }}', strict => true),
       pg_temp.try('{{ "x" | frob }}', strict => true), pg_temp.try('{{ o.missing }}', '{"o": {}}', true),
       pg_temp.try('{{ o.k }} {{ name | default: "d" }}', '{"o": {"k": 1}}', true);

-- limits are settings; exceeding one is 54000. Each is tried exactly at its boundary and one past it.
-- liquid_max_iterations counts render steps: loop iterations and partials rendered
SET personalize.liquid_max_iterations = 100;
SELECT length(pg_temp.try('{% for i in (1..100) %}x{% endfor %}')) AS at_100,
       pg_temp.try('{% for i in (1..101) %}{% endfor %}') AS past_100;
SELECT pg_temp.try('{% for i in (1..50) %}{% include "p" %}{% endfor %}', partials => '{"p": "."}') = repeat('.', 50) AS at_50_plus_50,
       pg_temp.try('{% for i in (1..50) %}{% include "p" %}{% endfor %}{% render "p" %}', partials => '{"p": "."}') AS past;
RESET personalize.liquid_max_iterations;
SET personalize.liquid_max_output = 1024;
SELECT length(pg_temp.try(repeat('x', 1024))) AS at_1024, length(pg_temp.try('{% for i in (1..1024) %}x{% endfor %}')) AS loop_at_1024,
       pg_temp.try('{% for i in (1..1025) %}x{% endfor %}') AS past_1024;
RESET personalize.liquid_max_output;
-- liquid_max_depth is the number of nested blocks allowed (the template's own body is level 0), as Ruby's MAX_DEPTH
SET personalize.liquid_max_depth = 3;
SELECT pg_temp.try('{% if a %}{% if b %}{% if c %}{{ x }}{% endif %}{% endif %}{% endif %}', '{"a": 1, "b": 1, "c": 1, "x": "three"}') AS at_3,
       pg_temp.try('{% for a in (1..1) %}{% for b in (1..1) %}{% unless c %}{{ a | plus: b }}{% endunless %}{% endfor %}{% endfor %}') AS loops_at_3,
       pg_temp.try('{% if a %}{% if b %}{% if c %}{% if d %}x{% endif %}{% endif %}{% endif %}{% endif %}') AS past_3;
-- a partial body is one more level
SELECT pg_temp.try('{% if a %}{% if b %}{% include "p" %}{% endif %}{% endif %}', '{"a": 1, "b": 1}', partials => '{"p": "in p"}') AS at_3,
       pg_temp.try('{% if a %}{% if b %}{% include "p" %}{% endif %}{% endif %}', '{"a": 1, "b": 1}', partials => '{"p": "{% if true %}x{% endif %}"}') AS past_3;
RESET personalize.liquid_max_depth;
SELECT pg_temp.try(repeat('{% if true %}', 100) || 'deep' || repeat('{% endif %}', 100)) AS at_default_100,
       pg_temp.try(repeat('{% if true %}', 101) || 'deep' || repeat('{% endif %}', 101)) AS past_100;
-- the setting stops at 1000 levels (the engine recurses once per level; 1000 stay well inside max_stack_depth)
SET personalize.liquid_max_depth = 1000;
SELECT pg_temp.try(repeat('{% if true %}', 1000) || 'deepest' || repeat('{% endif %}', 1000)) AS at_1000;
SET personalize.liquid_max_depth = 1001;
RESET personalize.liquid_max_depth;
SET personalize.liquid_max_partial_depth = 3;
SELECT pg_temp.try('{% include "a" %}', partials => '{"a": "a{% include \"b\" %}", "b": "b{% include \"c\" %}", "c": "c"}') AS at_3,
       pg_temp.try('{% include "a" %}', partials => '{"a": "a{% include \"b\" %}", "b": "b{% include \"c\" %}", "c": "c{% render \"d\" %}", "d": "d"}') AS past_3;
SELECT pg_temp.try('{% include "loop" %}', partials => '{"loop": "o{% include \"loop\" %}"}');
RESET personalize.liquid_max_partial_depth;
SELECT name, setting, unit FROM pg_settings WHERE name LIKE 'personalize.liquid%' ORDER BY name;
-- every loop checks for interrupts: statement_timeout stops a runaway template
SET personalize.liquid_max_iterations = 2000000000;
SET statement_timeout = '200ms';
SELECT personalize.render('{% for i in (1..100000) %}{% for j in (1..100000) %}{% endfor %}{% endfor %}', '{}');
RESET statement_timeout;
-- so does every partial: a fan-out of 10 includes per level over 10 levels (10^10 partials, no
-- loop: hours of work on any machine, so the timeout always stops it)
CREATE TEMP TABLE fan AS
SELECT jsonb_object_agg('l' || l, CASE WHEN l = 10 THEN '' ELSE repeat('{% include "l' || l + 1 || '" %}', 10) END) AS partials
  FROM generate_series(1, 10) l;
SET statement_timeout = '1s';
SELECT personalize.render('{% include "l1" %}', '{}', partials => (SELECT partials FROM fan));
RESET statement_timeout;
RESET personalize.liquid_max_iterations;
-- and at the default limit the same fan-out stops after a million steps
SELECT pg_temp.try('{% include "l1" %}', partials => (SELECT partials FROM fan));
SELECT personalize.render('{{ "still" | append: " works" }}', '{}');

-- the compiled-template cache is bounded
SET personalize.liquid_cache_entries = 2;
SELECT personalize.render('{{ ' || i || ' | plus: 1 }}', '{}') FROM generate_series(1, 5) i;
SELECT entries <= 2 AS bounded, evictions >= 3 AS evicted FROM personalize.liquid_cache_stats();
RESET personalize.liquid_cache_entries;
SELECT p.proname, p.provolatile, p.proparallel FROM pg_proc p
 WHERE p.pronamespace = 'personalize'::regnamespace AND p.proname IN ('render', 'render_json', 'context', 'render_email')
 ORDER BY 1;

-- templates: validated on insert and update, versioned; they are the partials too
\set VERBOSITY default
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES
  ('footer', NULL, '<p>{{ shop | default: "Bean & Co" }} &middot; <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
   '{{ shop | default: "Bean & Co" }} - unsubscribe: {{ unsubscribe_url }}'),
  ('greeting', NULL, 'Hi {{ traits.first_name | default: "there" }},', NULL),
  ('cart', '{{ traits.first_name | default: "Hi" }}, {{ cart.item_count }} {% if cart.item_count == 1 %}item is{% else %}items are{% endif %} waiting',
   E'{% render "greeting", traits: traits %}\n<ul>{% for i in cart.items %}<li>{{ i.name }} &times; {{ i.quantity }}: {{ i.price | times: i.quantity | money: "$" }}</li>{% endfor %}</ul>\n{{ banner | raw }}\n{% render "footer", unsubscribe_url: unsubscribe_url %}',
   E'{% render "greeting", traits: traits %}\n{% for i in cart.items %}- {{ i.name }} x {{ i.quantity }}\n{% endfor %}{% render "footer", unsubscribe_url: unsubscribe_url %}');
INSERT INTO personalize.templates (name, html_body) VALUES ('broken', E'<p>\n  {% for item in %}</p>');
INSERT INTO personalize.templates (name, subject, html_body) VALUES ('broken', 'Hi {{ name', '<p></p>');
UPDATE personalize.templates SET text_body = '{% if %}' WHERE name = 'footer';
\set VERBOSITY terse
SELECT name, version FROM personalize.templates ORDER BY name;
UPDATE personalize.templates SET html_body = html_body || ' ' WHERE name = 'footer';
UPDATE personalize.templates SET subject = NULL WHERE name = 'greeting';
SELECT name, version, updated_at >= created_at AS ordered FROM personalize.templates ORDER BY name;
-- partials come from personalize.templates unless given; a text render reads their text_body
SELECT personalize.render('{% render "footer", unsubscribe_url: "u" %}', '{}');
SELECT personalize._render_part('{% render "footer", unsubscribe_url: "u" %}', '{}', false, now(), NULL, false, 't');
SELECT personalize.render('{% render "footer" %}', '{}', partials => '{"footer": "given"}');
SELECT pg_temp.try('{% render "greeting", traits: t %} {% render "missing" %}', '{"t": {}}');
-- parallel safe: the same in a parallel worker, partials read there too
SET force_parallel_mode = on;
SELECT personalize.render('{% render "footer", unsubscribe_url: "u" %}|{{ a.b }}', '{"a": {"b": 2}}');
RESET force_parallel_mode;

-- context(): the documented shape, cart from Product Added / Removed since the last order
SELECT personalize.maintain('2026-02-15', 1, 1);
SELECT personalize.identify('ann', '{"email": "ann@example.com", "first_name": "Ann <script>alert(1)</script>"}', 'anon-a',
                            '2026-02-01') AS ann \gset
SELECT personalize.set_consent(:ann, 'subscribed', 'consent', false, 'signup form', '2026-02-01');
SELECT personalize.track('ann', 'Product Added', '{"product_id": "p0", "name": "Old", "price": 5}', '2026-02-01 10:00', 'a0');
SELECT personalize.track('ann', 'Order Completed', '{"order_id": "o1", "revenue": 5}', '2026-02-01 11:00', 'a1');
SELECT personalize.track('ann', 'Product Added', '{"product_id": "p1", "name": "Mug <XL>", "price": 12.50, "quantity": 2}', '2026-02-02', 'a2');
SELECT personalize.track('ann', 'Product Added', '{"product_id": "p2", "name": "Tee", "price": 20}', '2026-02-03', 'a3');
SELECT personalize.track('ann', 'Product Added', '{"product_id": "p1", "name": "Mug <XL>", "price": 12.50}', '2026-02-04', 'a4');
SELECT personalize.track('ann', 'Product Removed', '{"product_id": "p2"}', '2026-02-05', 'a5');
SELECT jsonb_object_keys(personalize.context(:ann, '2026-02-10')) ORDER BY 1;
SELECT c - 'profile_id' - 'cart' AS context, c -> 'cart' AS cart FROM personalize.context(:ann, '2026-02-10') c;
SELECT personalize.context(:ann, '2026-02-03 12:00') -> 'cart' AS cart_before_removal,
       personalize.context(:ann, '2026-02-01 12:00') -> 'cart' AS cart_after_order;
SELECT personalize.context(999999);

-- render_email: subject and text as is, HTML with every interpolation escaped unless raw
SELECT * FROM personalize.render_email('cart', :ann, '{"banner": "<b>Sale</b>", "unsubscribe_url": "https://x.example/u?a=1&b=2"}',
                                       '2026-02-10');
SELECT * FROM personalize.render_email('nope', :ann);
SELECT * FROM personalize.render_email('cart', 999999);
SELECT html FROM personalize.render_email('greeting', :ann, strict => true);
UPDATE personalize.templates SET html_body = '{{ unknown_key }}' WHERE name = 'greeting';
SELECT html FROM personalize.render_email('greeting', :ann, strict => true);
-- an e-mail's context (profile, extra) is the static environment of its {% render %} partials, as
-- Shopify's is: a footer partial finds unsubscribe_url without it being passed; parameters still
-- win, and increment/decrement counters stay separate per partial. render() keeps Ruby's isolation.
INSERT INTO personalize.templates (name, html_body, text_body) VALUES
  ('counted', '{% increment n %}{{ traits.first_name }}', NULL),
  ('mail', '{% render "footer" %}|{% render "footer", unsubscribe_url: "param" %}|{% increment n %}{% render "counted" %}{% increment n %}',
   '{% render "footer" %}');
SELECT html, text FROM personalize.render_email('mail', :ann, '{"unsubscribe_url": "https://x.example/u", "shop": "Beans"}', '2026-02-10');
SELECT personalize.render('{% render "footer" %}', '{"unsubscribe_url": "https://x.example/u"}');

-- render_emails: a row per position, the same as render_email for each (failures included, as
-- 'SQLSTATE: message' from the error render_email raises), the batch never aborted
CREATE FUNCTION pg_temp.one(tpl text, id bigint, extra jsonb, strict boolean,
                            OUT subject text, OUT html text, OUT text text, OUT error text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.subject, r.html, r.text INTO subject, html, text
      FROM personalize.render_email(tpl, id, extra, '2026-02-10', strict) r;
EXCEPTION WHEN OTHERS THEN
    error := SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT personalize.identify('bob', '{"first_name": "Bob"}', NULL, '2026-02-01') AS bob \gset
UPDATE personalize.templates SET html_body = 'Hi {{ traits.first_name }} {{ n | default: 0 }}' WHERE name = 'greeting';
CREATE TEMP TABLE batch AS
SELECT ARRAY[:ann, 999999, :bob, NULL, :ann]::bigint[] AS ids,
       ARRAY['{"unsubscribe_url": "u1"}', NULL, '{"unsubscribe_url": "u3", "traits": {}}', '{}', '[1]']::jsonb[] AS extras;
SELECT r.ord, r.profile_id, r.error, (r.subject, r.html, r.text, r.error) IS NOT DISTINCT FROM
       (o.subject, o.html, o.text, o.error) AS same_as_render_email
  FROM batch b, personalize.render_emails('cart', b.ids, b.extras, '2026-02-10') r,
       LATERAL pg_temp.one('cart', b.ids[r.ord], b.extras[r.ord], false) o
 ORDER BY r.ord;
SELECT r.ord, r.html, r.error, (r.subject, r.html, r.text, r.error) IS NOT DISTINCT FROM
       (o.subject, o.html, o.text, o.error) AS same_as_render_email
  FROM personalize.render_emails('greeting', ARRAY[:ann, :bob], ARRAY['{"n": 1}', '{"n": {"a": 1}}']::jsonb[],
                                 '2026-02-10', strict => true) r,
       LATERAL pg_temp.one('greeting', (ARRAY[:ann, :bob])[r.ord], (ARRAY['{"n": 1}', '{"n": {"a": 1}}']::jsonb[])[r.ord], true) o
 ORDER BY r.ord;
SELECT count(*) FROM personalize.render_emails('cart', '{}');
SELECT * FROM personalize.render_emails('nope', ARRAY[:ann]);
SELECT * FROM personalize.render_emails('cart', ARRAY[:ann], as_of => NULL);
-- as_of must be given: a context of NULL time would show an empty cart
SELECT personalize.context(:ann, NULL);
-- before the latest events the context is recomputed from the events up to as_of (exact path):
-- at 2026-02-01 12:00 the order of 11:00 counts; engagement by hand: Product Added 2 h before (weight 2)
-- and the order 1 h before (weight 5), half-life 336 h: 2 * 2^(-2/336) + 5 * 2^(-1/336) = 6.98146
SELECT c -> 'purchases' AS purchases, c -> 'engagement_score' AS engagement, c -> 'cart' AS cart
  FROM personalize.context(:ann, '2026-02-01 12:00') c;
SELECT (personalize.context(:ann, '2026-02-01 10:30') -> 'purchases') AS before_the_order;

-- privileges: analysts render
SET ROLE personalize_analyst;
SELECT personalize.render('{{ 1 | plus: 1 }}', '{}');
SELECT subject FROM personalize.render_email('cart', :ann, as_of => '2026-02-10');
SELECT ord, subject FROM personalize.render_emails('cart', ARRAY[:ann], as_of => '2026-02-10');
RESET ROLE;

DROP EXTENSION personalize;
