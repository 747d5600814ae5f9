# Segment benchmarks (issue 5), sourced by bench/run after its helpers; not executed alone.
#   segments_refresh  create (first fill) and full refresh of 20 rule segments over PROFILES
#                     profiles (default 1,000,000; the CSV's events land on the first USERS of
#                     them), against the same 20 answers computed with plain CREATE TABLE AS:
#                     of the compiled predicates, and of the GROUP BY an analyst would write
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

# Creates public.bench_rules: the 20 segments, every condition kind, in dependency order, each
# with the GROUP BY / NOT EXISTS query an analyst would write for an event condition ($1: AS_OF;
# NULL: the compiled predicate is already how one would write it).
make_rules_table() {
  psql_run <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.bench_rules;
CREATE TABLE public.bench_rules (ord integer PRIMARY KEY, name text NOT NULL, rule jsonb NOT NULL, analyst text);
INSERT INTO public.bench_rules
SELECT row_number() OVER (), name, rule::jsonb, analyst FROM (VALUES
  ('vip',          '{"trait": "plan", "value": "vip"}', NULL),
  ('not_vip',      '{"trait": "plan", "op": "ne", "value": "vip"}', NULL),
  ('adults',       '{"trait": "age", "op": "gte", "value": 30}', NULL),
  ('south',        '{"trait": "city", "op": "in", "value": ["Lisbon", "Lima", "Nairobi"]}', NULL),
  ('tagged_sale',  '{"trait": "tags", "op": "contains", "value": "sale"}', NULL),
  ('has_phone',    '{"trait": "phone", "op": "exists"}', NULL),
  ('name_a',       '{"trait": "first_name", "op": "starts_with", "value": "A"}', NULL),
  ('subscribed',   '{"consent": "subscribed"}', NULL),
  ('busy',         '{"field": "event_count", "op": "gt", "value": 60}', NULL),
  ('lapsed',       '{"field": "last_seen_at", "op": "lte", "value": {"ago": "30 days"}}', NULL),
  ('shoe_browser', '{"event": "Product Viewed", "min": 2, "within": "10 days", "where": [{"property": "category", "value": "shoes"}]}',
   $a$SELECT profile_id FROM personalize.events WHERE event = 'Product Viewed' AND properties -> 'category' = '"shoes"'
        AND occurred_at > $1 - interval '10 days' AND occurred_at <= $1 GROUP BY profile_id HAVING count(*) >= 2$a$),
  ('no_order_14d', '{"event": "Order Completed", "max": 0, "within": "14 days"}',
   $a$SELECT profile_id FROM personalize.profiles p WHERE NOT EXISTS (SELECT FROM personalize.events e
        WHERE e.profile_id = p.profile_id AND e.event = 'Order Completed' AND e.occurred_at > $1 - interval '14 days'
          AND e.occurred_at <= $1)$a$),
  ('two_march',    '{"event": "Order Completed", "exactly": 2, "between": ["2024-03-01 00:00+00", "2024-04-01 00:00+00"]}',
   $a$SELECT profile_id FROM personalize.events WHERE event = 'Order Completed' AND occurred_at >= '2024-03-01 00:00+00'
        AND occurred_at < '2024-04-01 00:00+00' AND occurred_at <= $1 GROUP BY profile_id HAVING count(*) = 2$a$),
  ('big_spender',  '{"event": "Order Completed", "min": 1, "within": "30 days", "where": [{"property": "revenue", "op": "gte", "value": 250}]}',
   $a$SELECT DISTINCT profile_id FROM personalize.events WHERE event = 'Order Completed'
        AND (properties ->> 'revenue')::numeric >= 250 AND occurred_at > $1 - interval '30 days' AND occurred_at <= $1$a$),
  ('bday_soon',    '{"date_trait": "birthday", "within_next": 30}', NULL),
  ('holdout',      '{"bucket": {"salt": "q1", "from": 0, "to": 1999}}', NULL),
  ('vip_active',   '{"all": [{"segment": "vip"}, {"not": {"segment": "lapsed"}}]}', NULL),
  ('winback',      '{"any": [{"segment": "vip_active"}, {"all": [{"segment": "no_order_14d"}, {"not": {"segment": "holdout"}}, {"consent": "subscribed"}]}]}', NULL),
  ('cart_no_buy',  '{"all": [{"event": "Product Added", "min": 1, "within": "3 days"}, {"event": "Order Completed", "max": 0, "within": "3 days"}]}',
   $a$SELECT profile_id FROM personalize.events WHERE event = 'Product Added' AND occurred_at > $1 - interval '3 days'
        AND occurred_at <= $1
      EXCEPT
      SELECT profile_id FROM personalize.events WHERE event = 'Order Completed' AND occurred_at > $1 - interval '3 days'
        AND occurred_at <= $1$a$),
  ('engaged',      '{"any": [{"event": "Email Opened", "min": 5, "within": "30 days"}, {"event": "Email Clicked", "min": 1, "within": "7 days"}]}',
   $a$SELECT profile_id FROM personalize.events
       WHERE event IN ('Email Opened', 'Email Clicked') AND occurred_at > $1 - interval '30 days' AND occurred_at <= $1
       GROUP BY profile_id
      HAVING count(*) FILTER (WHERE event = 'Email Opened') >= 5
          OR count(*) FILTER (WHERE event = 'Email Clicked' AND occurred_at > $1 - interval '7 days') >= 1$a$)
) r(name, rule, analyst);
SQL
}

# The (label, statement) rows that store each segment's answer as plain SQL in table <prefix>_<name>:
# $1 the prefix, $2 a SQL expression over bench_rules r and segments s giving the query ($1 in it: AS_OF).
plain_sql_statements() {
  echo "SELECT s.name, format('DROP TABLE IF EXISTS public.%I; CREATE TABLE public.%1\$I AS %s', '$1_' || s.name,
                            replace($2, '\$1', quote_literal('$AS_OF') || '::timestamptz'))
          FROM personalize.segments s JOIN public.bench_rules r USING (name) ORDER BY s.eval_order, s.segment_id"
}

# Creates the 20 segments of public.bench_rules as of AS_OF, unless the store has segments already.
create_rules() {
  make_rules_table
  psql_run -At -c "SELECT personalize.create_segment(name, rule, '$AS_OF') FROM public.bench_rules
                    WHERE NOT EXISTS (SELECT FROM personalize.segments) ORDER BY ord" >/dev/null
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
  prepare_events
  psql_run >/dev/null <<SQL
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

# Full segment evaluation against the same answers as plain SQL: first fill (create_segment, one
# evaluation each), CREATE TABLE AS of each compiled predicate and of the analyst's query, then
# refresh_segment of each.
bench_segments_refresh() {
  local fill base analyst refresh evals profiles predicate_sql
  reset_store
  make_rules_table
  load_refresh_store
  profiles=$(psql_run -At -c "SELECT count(*) FROM personalize.profiles")
  psql_run -At -F ' ' -c "SELECT count(*), count(DISTINCT profile_id) FROM personalize.events" |
    awk -v p="$profiles" '{printf "  store: %d profiles, %d events on %d of them (%.1f%%)\n", p, $1, $2, 100 * $2 / p}'
  fill=$(time_each seg_fill "SELECT name, format('SELECT personalize.create_segment(%L, %L, %L)', name, rule, '$AS_OF')
                               FROM public.bench_rules ORDER BY ord")
  predicate_sql="'SELECT p.profile_id FROM personalize.segment_profiles p ' || replace(s.joins, '/*ids*/', '') || ' WHERE ' || s.predicate"
  base=$(time_each seg_sql "$(plain_sql_statements seg "$predicate_sql")")
  analyst=$(time_each seg_analyst "$(plain_sql_statements ana "coalesce(r.analyst, $predicate_sql)")")
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
  echo "  per segment: members, seconds of the first fill, of CREATE TABLE AS of the compiled predicate and of the"
  echo "  analyst's query (* = hand-written GROUP BY / NOT EXISTS), of refresh_segment (with the segments reading it)"
  psql_run -At -F ' ' <<'SQL' |
SELECT s.name, (SELECT count(*) FROM personalize.segment_members m WHERE m.segment_id = s.segment_id),
       (SELECT string_agg(DISTINCT (xpath('/row/c/text()', query_to_xml(
                  format('SELECT count(*) AS c FROM public.%I', prefix || s.name), false, true, '')))[1]::text, '/')
          FROM unnest(ARRAY['seg_', 'ana_']) prefix),
       f.seconds, b.seconds, a.seconds, CASE WHEN r.analyst IS NULL THEN '-' ELSE '*' END, x.seconds
  FROM personalize.segments s
  JOIN public.bench_rules r USING (name)
  JOIN public.bench_timings f ON f.run = 'seg_fill' AND f.label = s.name
  JOIN public.bench_timings b ON b.run = 'seg_sql' AND b.label = s.name
  JOIN public.bench_timings a ON a.run = 'seg_analyst' AND a.label = s.name
  JOIN public.bench_timings x ON x.run = 'seg_refresh' AND x.label = s.name
 ORDER BY s.eval_order, s.segment_id
SQL
    awk '{printf "    %-13s %7d members%s  fill %7.3f s  predicate %7.3f s  analyst %7.3f s%s  refresh %7.3f s\n",
                 $1, $2, ($2 == $3 ? "" : " (plain SQL: " $3 "!)"), $4, $5, $6, ($7 == "*" ? "*" : " "), $8}'
  echo "  baselines: CREATE TABLE AS of the compiled predicate (with its event joins) over personalize.segment_profiles p, and of the analyst's query"
  print_figure segments_fill_vs_predicate "$((profiles * 20))" "$fill" "$base"
  print_figure segments_fill_vs_analyst "$((profiles * 20))" "$fill" "$analyst"
  print_figure segments_refresh_vs_predicate "$((profiles * evals))" "$refresh" "$(awk -v b="$base" -v e="$evals" 'BEGIN {print b * e / 20}')"
  echo "  (rows = profiles x segment evaluations; refresh made $evals evaluations, its baseline is the 20-statement time scaled to as many)"
}

# Prints the extension's PL/pgSQL functions that took the most time since pg_stat_reset() (needs
# track_functions = pl in the sessions measured); $1 names what was measured.
function_times() {
  echo "  where $1 spent its time (pg_stat_user_functions, ms; total includes callees):"
  psql_run -At -F ' ' <<'SQL' | awk '{printf "    %-24s calls %7d  total %9.0f  self %9.0f\n", $1, $2, $3, $4}'
SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions
 WHERE schemaname = 'personalize' ORDER BY total_time DESC LIMIT 6
SQL
}

# COPY of the CSV with 0 and with 20 live segments, each against a raw COPY into a plain table.
bench_copy_segments() {
  prepare_events
  local raw zero live
  psql_run -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS public.raw_events"
  make_plain_table raw_events
  raw=$(time_copy public.raw_events)
  psql_run -c "ALTER DATABASE postgres SET personalize.clock = '$AS_OF'" -c "ALTER DATABASE postgres SET track_functions = 'pl'"
  reset_store
  zero=$(time_copy personalize.events)
  reset_store
  create_rules
  psql_run -At -c "SELECT pg_stat_reset()" >/dev/null
  live=$(time_copy personalize.events)
  echo "  baseline: plain logged heap table, the 6 CSV columns, no indexes, no triggers; segments evaluated at personalize.clock = $AS_OF"
  print_figure copy_segments_0 "$rows" "$zero" "$raw"
  print_figure copy_segments_20 "$rows" "$live" "$raw"
  awk -v z="$zero" -v l="$live" 'BEGIN {printf "  20 live segments vs none: %.3f of the rate, %.2f s more\n", z / l, l - z}'
  function_times "the COPY with 20 live segments"
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
  create_rules
  psql_run -At -F ' ' -c "SELECT (SELECT count(*) FROM personalize.segments), (SELECT count(*) FROM personalize.events),
                                 (SELECT count(*) FROM personalize.profiles)" |
    awk '{printf "  store: %d segments, %d events, %d profiles\n", $1, $2, $3}'
  psql_run -At -c "SELECT pg_stat_reset()" -c "ALTER DATABASE postgres SET track_functions = 'pl'" >/dev/null
  NODE_PATH="$node_dir/node_modules" node "$top/bench/notify_latency.js" "$NOTIFY_EVENTS" "$AS_OF"
  function_times "the single-event INSERTs"
}
