# bench/render_email.sh: render_email and render_emails for every profile of a store built from
# live data, against LiquidJS rendering the same three templates (bench/cart_reminder/) over the
# same contexts exported beforehand (sourced by bench/run). For each size in RENDER_EMAIL_SIZES
# (users of test/synth.sql with ~10 events each; default "20000 1000000"), a database of its own:
# the synthetic events ingested, every user identified with traits, a "vip" segment, then VACUUM
# ANALYZE (as autovacuum would have done on a live store). identify() scans profiles once a call
# (no index on profiles.user_id), so building a 1,000,000-user store takes hours on this machine.
# RENDER_EMAIL_REPEAT (default 3): runs of each side, interleaved, the fastest kept.

RENDER_EMAIL_SIZES=${RENDER_EMAIL_SIZES:-"20000 1000000"}
RENDER_EMAIL_AS_OF='2024-04-01 00:00+00'

# Builds the store of $1 users in database $2; prints what it holds and how long it took.
make_render_email_store() {
  local n=$1 db=$2 secs
  psql_run -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  psql_run -d "$db" -c "CREATE EXTENSION personalize" >/dev/null
  psql_run -d "$db" <"$top/test/synth.sql" >/dev/null
  secs=$(psql_run -d "$db" -At <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT personalize.maintain('2024-01-15 00:00+00', 2, 0) \g /dev/null
INSERT INTO personalize.events (user_id, anonymous_id, event, properties, occurred_at, message_id)
SELECT user_id, anonymous_id, event, properties, occurred_at, message_id FROM synth.events($n * 10, $n);
SELECT count(personalize.identify(synth.user_id(uid), synth.traits(uid), NULL, '2024-03-31'))
  FROM generate_series(0, $n - 1) uid \g /dev/null
SELECT personalize.create_segment('vip', '{"trait": "plan", "op": "eq", "value": "vip"}') \g /dev/null
VACUUM ANALYZE;
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1);
SQL
)
  { printf "INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES ('cart_reminder', "
    for part in subject html text; do
      printf '$liquid_tpl$'; cat "$top/bench/cart_reminder/$part.liquid"; printf '$liquid_tpl$'
      [ $part = text ] || printf ', '
    done; printf ');\n'; } | psql_run -d "$db" >/dev/null
  psql_run -d "$db" -At -F ' ' -c "SELECT (SELECT count(*) FROM personalize.profiles), (SELECT count(*) FROM personalize.events),
                                          (SELECT count(*) FROM personalize.profiles WHERE jsonb_array_length(cart -> 'items') > 0)" |
    awk -v s="$secs" '{printf "  store: %s profiles, %s events, %s with a cart (built in %s s)\n", $1, $2, $3, s}'
}

# The smaller of two numbers ($1 may be empty).
min_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }

# Seconds (server clock) a statement takes in database $1.
time_sql() {
  psql_run -d "$1" -At <<SQL | tail -1
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
$2 \g /dev/null
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
SQL
}

bench_render_email() {
  local n db ctx_s one_s set_s js_s out profiles jsonl="$top/bench/out/render_email_contexts.jsonl"
  local extra="jsonb_build_object('unsubscribe_url', 'https://shop.example/u/' || p.profile_id)"
  mkdir -p "$top/bench/out"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "  render_email: SKIPPED (node/npm not installed for LiquidJS)"; return 0
  fi
  if [ ! -d "$top/bench/out/liquidjs/node_modules/liquidjs" ]; then
    mkdir -p "$top/bench/out/liquidjs"
    npm install --prefix "$top/bench/out/liquidjs" --no-audit --no-fund --silent liquidjs >/dev/null
  fi
  for n in $RENDER_EMAIL_SIZES; do
    db="render_email_$n"
    echo "  -- $n users (~10 events each)"
    make_render_email_store "$n" "$db"
    profiles=$(psql_run -d "$db" -At -c "SELECT count(*) FROM personalize.profiles")
    # the contexts LiquidJS renders: exactly what render_email renders, exported beforehand
    psql_run -d "$db" -At -c "SELECT personalize.context(p.profile_id, '$RENDER_EMAIL_AS_OF') || $extra
                                FROM personalize.profiles p ORDER BY p.profile_id" > "$jsonl"
    # each side RENDER_EMAIL_REPEAT times, interleaved, the fastest kept: on a shared machine the
    # load moves between the SQL and the JavaScript runs
    ctx_s= one_s= set_s= js_s=
    for r in $(seq "${RENDER_EMAIL_REPEAT:-3}"); do
      ctx_s=$(min_of "$ctx_s" "$(time_sql "$db" "SELECT count(personalize.context(p.profile_id, '$RENDER_EMAIL_AS_OF')) FROM personalize.profiles p;")")
      one_s=$(min_of "$one_s" "$(time_sql "$db" "SELECT count(r.subject) FROM personalize.profiles p,
          personalize.render_email('cart_reminder', p.profile_id, $extra, '$RENDER_EMAIL_AS_OF') r;")")
      out=$(NODE_PATH="$top/bench/out/liquidjs/node_modules" node "$top/bench/render_email_liquidjs.js" "$top/bench/cart_reminder" "$jsonl")
      js_s=$(min_of "$js_s" "$(echo "$out" | awk '{print $5}')")
      set_s=$(min_of "$set_s" "$(time_sql "$db" "SELECT count(r.subject) FROM
          (SELECT array_agg(p.profile_id ORDER BY p.profile_id) AS ids, array_agg($extra ORDER BY p.profile_id) AS extras
             FROM personalize.profiles p GROUP BY p.profile_id / 1000) b,
          personalize.render_emails('cart_reminder', b.ids, b.extras, '$RENDER_EMAIL_AS_OF') r;")")
      echo "  run $r: context $ctx_s s, render_email $one_s s, LiquidJS $js_s s, render_emails $set_s s (fastest so far)"
    done
    awk -v n="$profiles" -v s="$ctx_s" 'BEGIN { printf "  context(): %d profiles in %.2f s = %.1f us a profile (aim <= 15 us)\n", n, s, s * 1e6 / n }'
    print_figure "render_email_vs_liquidjs_$n" "$profiles" "$one_s" "$js_s"
    print_figure "render_emails_vs_liquidjs_$n" "$profiles" "$set_s" "$js_s"
    rm -f "$jsonl"
    psql_run -c "DROP DATABASE $db" >/dev/null
  done
}
