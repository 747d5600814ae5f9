# bench/render.sh: the render benchmark of `make bench` (sourced by bench/run): one e-mail template
# rendered over RENDER_N generated contexts by personalize.render in SQL, LiquidJS and ruby-liquid.

RENDER_N=${RENDER_N:-100000}

# Generates RENDER_N cart-reminder contexts (the personalize.context() shape plus recommendations)
# into public.render_ctx, deterministically: 0-5 cart lines, 4-8 recommendations, some names missing.
make_render_contexts() {
  psql_run <<SQL
SELECT setseed(0.42);
CREATE TABLE public.render_ctx AS
SELECT i AS id, jsonb_build_object(
    'profile_id', i, 'user_id', 'u' || i, 'email', 'user' || i || '@example.com',
    'traits', CASE WHEN i % 5 = 0 THEN '{}'::jsonb ELSE jsonb_build_object(
                'first_name', (ARRAY['ann', 'bob', 'élodie', 'zoë', 'li', 'omar', 'kim', 'sam'])[1 + i % 8],
                'plan', (ARRAY['free', 'gold', 'pro'])[1 + i % 3]) END,
    'consent', jsonb_build_object('email', CASE WHEN i % 10 = 3 THEN 'unsubscribed' ELSE 'subscribed' END),
    'activity', jsonb_build_object('event_count', i % 200,
                                   'first_seen_at', timestamptz '2024-01-01' + (i % 700) * interval '1 day 1 hour'),
    'cart', jsonb_build_object('items', c.items, 'item_count', c.n, 'total', c.total),
    'recommendations', r.recs,
    'campaign', 'cart reminder ' || i % 5) AS ctx
  FROM generate_series(1, $RENDER_N) i,
  LATERAL (SELECT coalesce(jsonb_agg(jsonb_build_object('product_id', 'p' || (i * 7 + k) % 500, 'name', x.name,
                                                         'price', x.price, 'quantity', x.qty) ORDER BY k), '[]') AS items,
                  coalesce(sum(x.qty), 0) AS n, coalesce(sum(x.price * x.qty), 0) AS total
             FROM (SELECT k, (ARRAY['Stoneware mug <large>', 'Salt & pepper set', 'Organic cotton tee, heather grey, extra large',
                                    'Gift card', 'Espresso beans 1kg', 'Linen napkins (4)'])[1 + (i + k) % 6] AS name,
                          round((1 + random() * 60)::numeric, 2) AS price, 1 + (i + k) % 3 AS qty
                     FROM generate_series(1, (i * 7919) % 6) k) x) c,
  LATERAL (SELECT jsonb_agg(jsonb_build_object('title', (ARRAY['Teapot', 'Coasters', 'Kettle', 'Cups x4', 'Tea towel', 'Sugar bowl'])[1 + (i + k) % 6],
                                               'price', round((5 + random() * 45)::numeric, 2), 'score', round(random()::numeric, 2),
                                               'in_stock', random() < 0.7, 'tags', CASE WHEN random() < 0.4 THEN '["kitchen", "sale"]'::jsonb ELSE '["kitchen"]' END,
                                               'discount', round((random() * 0.5)::numeric, 2),
                                               'url', 'https://shop.example.com/p/' || (i + k) % 300) ORDER BY k) AS recs
             FROM generate_series(1, 4 + i % 5) k) r;
SQL
}

# personalize.render in SQL over RENDER_N contexts against LiquidJS (npm liquidjs, installed into
# the gitignored bench/out/) and ruby-liquid on the same template (test/render_diff/cart_email.liquid,
# which the liquid_diff_sql suite checks against ruby-liquid) and the same contexts, exported as
# JSON lines; every engine parses the template once and renders each context once.
bench_render() {
  local tpl="$top/test/render_diff/cart_email.liquid" partials="$top/test/liquid/diff/partials"
  # the contexts file lives in the gitignored bench/out/, not in the scratch directory
  local jsonl="$top/bench/out/render_contexts.jsonl" sql_s js_s rb_s out
  mkdir -p "$top/bench/out"
  make_render_contexts
  psql_run -At -c "SELECT ctx FROM public.render_ctx ORDER BY id" > "$jsonl"
  { printf 'CREATE TABLE public.render_tpl AS SELECT $liquid_tpl$'; cat "$tpl"; printf '$liquid_tpl$::text AS src;\n'; } | psql_run
  echo "  template: test/render_diff/cart_email.liquid; $RENDER_N contexts, $(du -k "$jsonl" | cut -f1) kB as JSON lines"
  psql_run -At -c "SELECT count(*) FROM public.render_ctx" >/dev/null
  out=$(psql_run -At <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT sum(octet_length(personalize.render(t.src, c.ctx, as_of => '2026-03-01'))) FROM public.render_ctx c, public.render_tpl t;
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
SQL
)
  sql_s=$(echo "$out" | tail -1)
  echo "  personalize.render (SQL, one statement over the table): $RENDER_N renders in $sql_s s, $(echo "$out" | head -1) bytes output"
  if command -v node >/dev/null && command -v npm >/dev/null; then
    if [ ! -d "$top/bench/out/liquidjs/node_modules/liquidjs" ]; then
      mkdir -p "$top/bench/out/liquidjs"
      npm install --prefix "$top/bench/out/liquidjs" --no-audit --no-fund --silent liquidjs >/dev/null
    fi
    out=$(NODE_PATH="$top/bench/out/liquidjs/node_modules" node "$top/test/liquid/bench_liquidjs.js" "$tpl" "$jsonl" "$partials")
    echo "  $out ($(NODE_PATH="$top/bench/out/liquidjs/node_modules" node -p 'require("liquidjs/package.json").version'), node $(node --version))"
    js_s=$(echo "$out" | awk '{print $5}')
    print_figure render_vs_liquidjs "$RENDER_N" "$sql_s" "$js_s"
  else
    echo "  LiquidJS: SKIPPED (node/npm not installed)"
  fi
  if ruby -e 'require "liquid"' 2>/dev/null; then
    out=$(TZ=UTC ruby "$top/bench/render_ruby.rb" "$tpl" "$jsonl" "$partials")
    echo "  $out (ruby-liquid $(ruby -e 'require "liquid"; print Liquid::VERSION'), $(ruby -e 'print RUBY_DESCRIPTION' | cut -d' ' -f1-2))"
    rb_s=$(echo "$out" | awk '{print $5}')
    print_figure render_vs_ruby_liquid "$RENDER_N" "$sql_s" "$rb_s"
  else
    echo "  ruby-liquid: SKIPPED (not installed)"
  fi
  rm -f "$jsonl"
}
