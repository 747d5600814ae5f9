# Segment benchmarks (issue 5), sourced by bench/run after its helpers; not executed alone.
#   segments_refresh  create (first fill) and full refresh of 20 rule segments over PROFILES
#                     profiles (default 1,000,000; the CSV's events land on the first USERS of
#                     them), against the same 20 compiled predicates run as plain
#                     CREATE TABLE AS ... WHERE <predicate>, statement by statement
#   copy_segments     COPY of the CSV into personalize.events with 0 and with 20 live segments,
#                     each against a raw COPY into a plain table in the same run
#   notify_latency    commit-to-NOTIFY latency seen by a LISTENing client (bench/notify_latency.js,
#                     Node with the npm package pg installed into the gitignored bench/out/node)
# Segments are evaluated at AS_OF (default 2024-04-01, the day after the synthetic events end).
# Timings are printed, never checked: nothing here fails because of timing.

PROFILES=${PROFILES:-1000000}
AS_OF=${AS_OF:-2024-04-01 00:00+00}
NOTIFY_EVENTS=${NOTIFY_EVENTS:-1000}

# Drops and recreates the extension with its partitions, so that every run starts from an empty store.
reset_store() {
  psql_run -c "DROP EXTENSION IF EXISTS personalize CASCADE" -c "CREATE EXTENSION personalize"
  make_partitions
}

# Creates public.bench_rules: the 20 segments, every condition kind, in dependency order.
make_rules_table() {
  psql_run <<'SQL'
DROP TABLE IF EXISTS public.bench_rules;
CREATE TABLE public.bench_rules (ord integer PRIMARY KEY, name text NOT NULL, rule jsonb NOT NULL);
INSERT INTO public.bench_rules
SELECT row_number() OVER (), name, rule::jsonb FROM (VALUES
  ('vip',          '{"trait": "plan", "value": "vip"}'),
  ('not_vip',      '{"trait": "plan", "op": "ne", "value": "vip"}'),
  ('adults',       '{"trait": "age", "op": "gte", "value": 30}'),
  ('south',        '{"trait": "city", "op": "in", "value": ["Lisbon", "Lima", "Nairobi"]}'),
  ('tagged_sale',  '{"trait": "tags", "op": "contains", "value": "sale"}'),
  ('has_phone',    '{"trait": "phone", "op": "exists"}'),
  ('name_a',       '{"trait": "first_name", "op": "starts_with", "value": "A"}'),
  ('subscribed',   '{"consent": "subscribed"}'),
  ('busy',         '{"field": "event_count", "op": "gt", "value": 60}'),
  ('lapsed',       '{"field": "last_seen_at", "op": "lte", "value": {"ago": "30 days"}}'),
  ('shoe_browser', '{"event": "Product Viewed", "min": 2, "within": "10 days", "where": [{"property": "category", "value": "shoes"}]}'),
  ('no_order_14d', '{"event": "Order Completed", "max": 0, "within": "14 days"}'),
  ('two_march',    '{"event": "Order Completed", "exactly": 2, "between": ["2024-03-01 00:00+00", "2024-04-01 00:00+00"]}'),
  ('big_spender',  '{"event": "Order Completed", "min": 1, "within": "30 days", "where": [{"property": "revenue", "op": "gte", "value": 250}]}'),
  ('bday_soon',    '{"date_trait": "birthday", "within_next": 30}'),
  ('holdout',      '{"bucket": {"salt": "q1", "from": 0, "to": 1999}}'),
  ('vip_active',   '{"all": [{"segment": "vip"}, {"not": {"segment": "lapsed"}}]}'),
  ('winback',      '{"any": [{"segment": "vip_active"}, {"all": [{"segment": "no_order_14d"}, {"not": {"segment": "holdout"}}, {"consent": "subscribed"}]}]}'),
  ('cart_no_buy',  '{"all": [{"event": "Product Added", "min": 1, "within": "3 days"}, {"event": "Order Completed", "max": 0, "within": "3 days"}]}'),
  ('engaged',      '{"any": [{"event": "Email Opened", "min": 5, "within": "30 days"}, {"event": "Email Clicked", "min": 1, "within": "7 days"}]}')
) r(name, rule);
SQL
}

# Runs, in one session, each row (label, statement) of the query $2 in its own transaction and
# records its server-clock seconds as public.bench_timings (run $1, label); prints the run's total.
time_each() {
  psql_run -At <<SQL
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS public.bench_timings (n serial, run text, label text, seconds numeric);
DELETE FROM public.bench_timings WHERE run = '$1';
CHECKPOINT;
\o /dev/null
SELECT 'SELECT set_config(''bench.t0'', clock_timestamp()::text, false)', statement,
       format('INSERT INTO public.bench_timings (run, label, seconds) VALUES (%L, %L, round(extract(epoch FROM '
              'clock_timestamp() - current_setting(''bench.t0'')::timestamptz)::numeric, 3))', '$1', label)
  FROM ($2) q(label, statement) \gexec
\o
SELECT sum(seconds) FROM public.bench_timings WHERE run = '$1';
SQL
}

# Loads the store the refresh runs on: PROFILES profiles with deterministic traits and consent
# (INSERT ... SELECT, user ids as in the CSV), then the CSV's events through COPY with no segments.
load_refresh_store() {
  psql_run <<SQL
INSERT INTO personalize.profiles (profile_id, user_id, email, traits, email_consent, consent_at)
SELECT uid + 1, synth.user_id(uid), lower(t ->> 'email'), t, c,
       CASE WHEN c <> 'unknown' THEN '2023-12-01 00:00+00'::timestamptz + synth.u(uid, 35) * interval '30 days' END
  FROM generate_series(0, $PROFILES - 1) uid,
       LATERAL (SELECT synth.traits(uid)
                       || jsonb_build_object('age', 18 + floor(60 * synth.u(uid, 30))::int,
                                             'tags', CASE WHEN synth.u(uid, 31) < 0.3 THEN '["sale", "new"]'::jsonb
                                                          ELSE '["new"]'::jsonb END,
                                             'birthday', to_char(date '1950-01-01' + floor(20000 * synth.u(uid, 32))::int,
                                                                 'YYYY-MM-DD'))
                       || CASE WHEN synth.u(uid, 33) < 0.4 THEN '{"phone": "+4799"}'::jsonb ELSE '{}' END AS t,
                       CASE WHEN synth.u(uid, 34) < 0.6 THEN 'subscribed'
                            WHEN synth.u(uid, 34) < 0.7 THEN 'unsubscribed' ELSE 'unknown' END AS c) x;
INSERT INTO personalize.identities (kind, value, profile_id)
SELECT 'user_id', user_id, profile_id FROM personalize.profiles;
SELECT setval('personalize.profile_id_seq', $PROFILES + 1);
SQL
  time_copy personalize.events >/dev/null
  psql_run -c "VACUUM ANALYZE"
}

# Full segment evaluation against the same predicates as plain SQL: first fill (create_segment,
# one evaluation each), CREATE TABLE AS of each compiled predicate, then refresh_segment of each.
bench_segments_refresh() {
  local fill base refresh evals profiles
  reset_store
  make_rules_table
  load_refresh_store
  profiles=$(psql_run -At -c "SELECT count(*) FROM personalize.profiles")
  psql_run -At -F ' ' -c "SELECT count(*), count(DISTINCT profile_id) FROM personalize.events" |
    awk -v p="$profiles" '{printf "  store: %d profiles, %d events on %d of them (%.1f%%)\n", p, $1, $2, 100 * $2 / p}'
  fill=$(time_each seg_fill "SELECT name, format('SELECT personalize.create_segment(%L, %L, %L)', name, rule, '$AS_OF')
                               FROM public.bench_rules ORDER BY ord")
  base=$(time_each seg_sql "SELECT name, format('DROP TABLE IF EXISTS public.%I; CREATE TABLE public.%1\$I AS
                                 SELECT p.profile_id FROM personalize.segment_profiles p WHERE %s',
                                 'seg_' || name, replace(predicate, '\$1', quote_literal('$AS_OF') || '::timestamptz'))
                              FROM personalize.segments ORDER BY eval_order, segment_id")
  refresh=$(time_each seg_refresh "SELECT name, format('SELECT personalize.refresh_segment(%L, %L)', name, '$AS_OF')
                                     FROM personalize.segments ORDER BY eval_order, segment_id")
  # refresh_segment(s) also recomputes every segment that reads s, directly or not
  evals=$(psql_run -At <<'SQL'
WITH RECURSIVE r(root, name) AS (
    SELECT name, name FROM personalize.segments
    UNION
    SELECT r.root, s.name FROM r JOIN personalize.segments s ON r.name = ANY (s.reads_segments))
SELECT count(*) FROM r
SQL
)
  echo "  per segment: members, seconds of the first fill, of CREATE TABLE AS of the compiled predicate, of refresh_segment (incl. its readers)"
  psql_run -At -F ' ' <<'SQL' | awk '{printf "    %-13s %8d members%s  fill %7.3f s  sql %7.3f s  refresh %7.3f s\n", $1, $2, ($2 == $3 ? "" : " (sql: " $3 ")"), $4, $5, $6}'
SELECT s.name, (SELECT count(*) FROM personalize.segment_members m WHERE m.segment_id = s.segment_id),
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM public.%I', 'seg_' || s.name),
                                            false, true, '')))[1]::text::bigint,
       f.seconds, b.seconds, r.seconds
  FROM personalize.segments s
  JOIN public.bench_timings f ON f.run = 'seg_fill' AND f.label = s.name
  JOIN public.bench_timings b ON b.run = 'seg_sql' AND b.label = s.name
  JOIN public.bench_timings r ON r.run = 'seg_refresh' AND r.label = s.name
 ORDER BY s.eval_order, s.segment_id
SQL
  echo "  baseline: CREATE TABLE AS SELECT profile_id FROM personalize.segment_profiles p WHERE <the compiled predicate>, 20 statements"
  print_figure segments_fill "$((profiles * 20))" "$fill" "$base"
  print_figure segments_refresh "$((profiles * evals))" "$refresh" "$(awk -v b="$base" -v e="$evals" 'BEGIN {print b * e / 20}')"
  echo "  (rows = profiles x segment evaluations; refresh made $evals evaluations, its baseline is the SQL time scaled to as many)"
}

# COPY of the CSV with 0 and with 20 live segments, each against a raw COPY into a plain table.
bench_copy_segments() {
  local raw zero live
  psql_run -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS public.raw_events"
  make_plain_table raw_events
  raw=$(time_copy public.raw_events)
  make_rules_table
  psql_run -c "ALTER DATABASE postgres SET personalize.clock = '$AS_OF'" -c "ALTER DATABASE postgres SET track_functions = 'pl'"
  reset_store
  zero=$(time_copy personalize.events)
  reset_store
  psql_run -At -c "SELECT personalize.create_segment(name, rule, '$AS_OF') FROM public.bench_rules ORDER BY ord" >/dev/null
  psql_run -At -c "SELECT pg_stat_reset()" >/dev/null
  live=$(time_copy personalize.events)
  echo "  baseline: plain logged heap table, the 6 CSV columns, no indexes, no triggers; segments evaluated at personalize.clock = $AS_OF"
  print_figure copy_segments_0 "$rows" "$zero" "$raw"
  print_figure copy_segments_20 "$rows" "$live" "$raw"
  awk -v z="$zero" -v l="$live" 'BEGIN {printf "  20 live segments vs none: %.3f of the rate, %.2f s more\n", z / l, l - z}'
  echo "  where the COPY with 20 segments spent its time (pg_stat_user_functions, ms; total includes callees):"
  psql_run -At -F ' ' <<'SQL' | awk '{printf "    %-24s calls %6d  total %9.0f  self %9.0f\n", $1, $2, $3, $4}'
SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions
 WHERE schemaname = 'personalize' ORDER BY total_time DESC LIMIT 6
SQL
  psql_run -At -F ' ' -c "SELECT count(*), count(DISTINCT segment_id) FROM personalize.segment_members" |
    awk '{printf "  memberships after the COPY: %d in %d segments\n", $1, $2}'
}

# Commit-to-NOTIFY latency of single-event transactions moving one profile in and out of a segment.
bench_notify_latency() {
  local node_dir="$top/bench/out/node"
  if [ ! -d "$node_dir/node_modules/pg" ]; then
    mkdir -p "$node_dir"
    npm install --prefix "$node_dir" --no-audit --no-fund --silent pg@8 >/dev/null
  fi
  make_rules_table
  if [ "$(psql_run -At -c "SELECT count(*) FROM personalize.segments")" = 0 ]; then
    psql_run -At -c "SELECT personalize.create_segment(name, rule, '$AS_OF') FROM public.bench_rules ORDER BY ord" >/dev/null
  fi
  psql_run -At -F ' ' -c "SELECT (SELECT count(*) FROM personalize.segments), (SELECT count(*) FROM personalize.events),
                                 (SELECT count(*) FROM personalize.profiles)" |
    awk '{printf "  store: %d segments, %d events, %d profiles\n", $1, $2, $3}'
  NODE_PATH="$node_dir/node_modules" node "$top/bench/notify_latency.js" "$NOTIFY_EVENTS" "$AS_OF"
}
