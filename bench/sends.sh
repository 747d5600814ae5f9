# Send benchmarks (issue 12), sourced by bench/run after its helpers; not executed alone.
#   send_launch   launch_campaign of SEND_LAUNCH_N profiles of a segment (default 1,000,000), the
#                 policy included (consent, suppressions, one frequency cap, quiet hours, control
#                 group), against INSERT INTO a plain table SELECT of the same rows from the segment
#   send_claim    claim_sends + render + complete_send of SEND_CLAIM_N sends (default 20,000) by
#                 1, 4 and 16 SQL workers (pgbench clients, 100 a claim), against graphile-worker
#                 (npm, installed into the gitignored bench/out/node) moving the same number of
#                 jobs with the same concurrency and a task that does nothing
#   send_history  latency of one claim_sends of 100 with SEND_HISTORY_N finished sends in
#                 send_history (default 10,000,000: earlier runs of the campaign, each profile
#                 once a run, with their derived keys) against with none
#   send_notify   enqueue_send -> NOTIFY personalize_sends received -> claimed, p50/p99 (ms), by
#                 a LISTENing client (bench/sends_notify.js)
# Timings are printed, never checked: nothing here fails because of timing.

SEND_LAUNCH_N=${SEND_LAUNCH_N:-1000000}
SEND_CLAIM_N=${SEND_CLAIM_N:-20000}
SEND_HISTORY_N=${SEND_HISTORY_N:-10000000}
SEND_NOTIFY_N=${SEND_NOTIFY_N:-500}

# A fresh store with $1 subscribed profiles that have addresses and names, the segment "everyone",
# the template "news" (subject, HTML and text reading the profile), and the campaign "bench".
send_store() {
  psql_run -q <<SQL
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS personalize CASCADE;
CREATE EXTENSION personalize;
INSERT INTO personalize.profiles (profile_id, user_id, email, traits, email_consent)
SELECT i, 'u' || i, 'u' || i || '@example.com',
       jsonb_build_object('first_name', 'Name' || i, 'plan', CASE WHEN i % 7 = 0 THEN 'vip' ELSE 'free' END,
                          'timezone', CASE i % 3 WHEN 0 THEN 'Europe/Berlin' WHEN 1 THEN 'America/New_York' END),
       CASE WHEN i % 20 = 0 THEN 'unknown' ELSE 'subscribed' END
  FROM generate_series(1, $1) i;
SELECT setval('personalize.profile_id_seq', $1);
ANALYZE personalize.profiles;
SELECT personalize.create_segment('everyone', '{"trait": "plan", "op": "exists"}', '2024-04-01');
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES ('news',
  '{{ traits.first_name }}, this week''s picks',
  '<h1>Hi {{ traits.first_name }}</h1>{% if traits.plan == "vip" %}<p>Free shipping for VIPs.</p>{% endif %}<p><a href="https://shop.example/new?x=1">New in</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
  'Hi {{ traits.first_name }}, new in: https://shop.example/new  Unsubscribe: {{ unsubscribe_url }}');
UPDATE personalize.send_settings SET unsubscribe_base_url = 'https://shop.example/u?t=', quiet_start = '22:00',
       quiet_end = '07:00', control_percent = 5;
INSERT INTO personalize.frequency_caps (max_sends, window_length) VALUES (3, '7 days');
SELECT personalize.create_campaign('bench', 'everyone', 'news', utm => '{"source": "newsletter"}');
SQL
}

# Seconds a SQL statement takes by the server's clock, and the CPU seconds its backend used
# (utime + stime from /proc/<pid>/stat, read by psql's shell escape on this machine): "wall cpu".
# On a shared machine the CPU seconds are the steadier figure. One psql session; CHECKPOINT first.
send_time_sql() {
  psql_run -At <<SQL | tail -1
CHECKPOINT;
SELECT pg_backend_pid() AS pid \gset
\setenv BACKEND :pid
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\! awk '{print (\$14 + \$15) / 100}' /proc/\$BACKEND/stat > "$work/cpu0"
$1
\! awk '{print (\$14 + \$15) / 100}' /proc/\$BACKEND/stat > "$work/cpu1"
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3) || ' '
       || round((pg_read_file('$work/cpu1')::numeric - pg_read_file('$work/cpu0')::numeric), 2);
SQL
}

# launch_campaign against INSERT ... SELECT of the same rows into a plain table.
bench_send_launch() {
  send_store "$SEND_LAUNCH_N"
  psql_run -q -c "CREATE TABLE public.plain_sends (send_id bigint, profile_id bigint, campaign_id integer, campaign_run bigint,
                    template text, kind text, priority integer, idempotency_key text, status text,
                    available_at timestamptz, created_at timestamptz, extra jsonb)"
  local base secs n base_cpu cpu
  read -r base base_cpu <<<"$(send_time_sql "INSERT INTO public.plain_sends SELECT m.profile_id, m.profile_id, 1, 1, 'news', 'marketing', 0,
                     'c:1:1:' || m.profile_id, 'queued', '2024-04-15 10:00+00', '2024-04-15 10:00+00', '{}'
                     FROM personalize.segment_members m ORDER BY m.profile_id;")"
  read -r secs cpu <<<"$(send_time_sql "SELECT * FROM personalize.launch_campaign('bench', '2024-04-15 10:00+00');")"
  n=$(psql_run -At -c "SELECT count(*) FROM personalize.sends_all")
  psql_run -At -c "SELECT '  launch: ' || string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM personalize.sends_all GROUP BY 1 ORDER BY 1) x"
  echo "  baseline: INSERT INTO a plain heap table (no index) SELECT the same $n rows from segment_members"
  echo "  backend CPU seconds: launch $cpu, baseline $base_cpu (ratio $(awk -v a="$base_cpu" -v b="$cpu" 'BEGIN {printf "%.3f", a / (b > 0 ? b : 0.01)}'))"
  print_figure send_launch "$n" "$secs" "$base"
}

# Wall seconds for W pgbench clients to claim, render and complete every queued send.
claim_all_seconds() {
  local w=$1 per
  per=$(( (SEND_CLAIM_N + 100 * w - 1) / (100 * w) ))
  printf '%s\n' "SELECT count(personalize.complete_send(send_id, 'esp', now())) FROM personalize.claim_sends('w' || :client_id, 100, '5 min', now());" >"$work/claim.sql"
  psql_run -At <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\! "$pgbin/pgbench" -n -h "$PGHOST" -p "$PGPORT" -U postgres -c $w -j $w -t $per -f "$work/claim.sql" postgres >/dev/null 2>&1
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
SQL
}

# claim + render + complete with 1, 4 and 16 workers, against graphile-worker at the same concurrency.
bench_send_claim() {
  local node_dir="$top/bench/out/node"
  if [ ! -d "$node_dir/node_modules/graphile-worker" ]; then
    mkdir -p "$node_dir"
    npm install --prefix "$node_dir" --no-audit --no-fund --silent pg@8 graphile-worker@0.16 >/dev/null
  fi
  send_store "$SEND_CLAIM_N"
  psql_run -q -c "UPDATE personalize.send_settings SET quiet_start = NULL, quiet_end = NULL, control_percent = 0" \
              -c "DELETE FROM personalize.frequency_caps"
  local w run=0 secs base sent
  for w in 1 4 16; do
    run=$((run + 1))
    psql_run -q -c "SELECT queued FROM personalize.launch_campaign('bench', now() - interval '1 minute', $run)" >/dev/null
    secs=$(claim_all_seconds $w | tail -1)
    sent=$(psql_run -At -c "SELECT count(*) FROM personalize.send_history WHERE campaign_run = $run AND status = 'sent'")
    base=$(NODE_PATH="$node_dir/node_modules" node "$top/bench/sends_graphile.js" "$sent" "$w" | tail -1)
    echo "  $w workers: $sent sends claimed, rendered (subject, HTML with UTM, text, unsubscribe token) and completed; graphile-worker: $sent no-op jobs, concurrency $w"
    print_figure "send_claim_w$w" "$sent" "$secs" "$base"
  done
}

# One claim of 100 with SEND_HISTORY_N finished sends in the history against with none.
bench_send_history() {
  send_store 100000
  psql_run -q -c "UPDATE personalize.send_settings SET quiet_start = NULL, quiet_end = NULL, control_percent = 0" \
              -c "DELETE FROM personalize.frequency_caps"
  local empty full
  claim_latency() {
    psql_run -q -c "SELECT queued FROM personalize.launch_campaign('bench', now() - interval '1 minute', $1)" >/dev/null
    psql_run -q -c "VACUUM ANALYZE personalize.sends" >/dev/null
    psql_run -At <<'SQL' | tail -1
\timing off
SELECT count(*) FROM personalize.claim_sends('warm', 100, '5 min', now());
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT count(personalize.complete_send(send_id, 'esp', now())) FROM personalize.claim_sends('w', 100, '5 min', now());
SELECT count(personalize.complete_send(send_id, 'esp', now())) FROM personalize.claim_sends('w', 100, '5 min', now());
SELECT count(personalize.complete_send(send_id, 'esp', now())) FROM personalize.claim_sends('w', 100, '5 min', now());
SELECT count(personalize.complete_send(send_id, 'esp', now())) FROM personalize.claim_sends('w', 100, '5 min', now());
SELECT count(personalize.complete_send(send_id, 'esp', now())) FROM personalize.claim_sends('w', 100, '5 min', now());
SELECT round(((extract(epoch FROM clock_timestamp()) - :t0) / 5)::numeric, 4);
SQL
  }
  empty=$(claim_latency 1)
  psql_run -q <<SQL
SELECT personalize._send_history_partitions(now());
INSERT INTO personalize.send_history (send_id, profile_id, campaign_id, campaign_run, template, kind, idempotency_key,
                                      status, attempts, available_at, created_at, sent_at, finished_at)
SELECT 100000000 + i, 1 + i % 100000, 1, 1000 + i / 100000, 'news', 'marketing',
       'c:1:' || (1000 + i / 100000) || ':' || (1 + i % 100000), 'sent', 1, t, t, t, t
  FROM generate_series(1, $SEND_HISTORY_N) i, LATERAL (SELECT now() - (i % 2592000) * interval '1 second' AS t) x;
SQL
  psql_run -q -c "VACUUM ANALYZE personalize.send_history" >/dev/null
  full=$(claim_latency 2)
  echo "  one claim_sends(100) + complete of each: $(awk -v s="$full" 'BEGIN {printf "%.1f", s * 1000}') ms with $SEND_HISTORY_N finished sends in send_history, $(awk -v s="$empty" 'BEGIN {printf "%.1f", s * 1000}') ms with none"
  print_figure send_history 100 "$full" "$empty"
}

# enqueue -> NOTIFY received -> claimed, p50/p99, by a LISTENing client.
bench_send_notify() {
  local node_dir="$top/bench/out/node"
  [ -d "$node_dir/node_modules/pg" ] || { mkdir -p "$node_dir"; npm install --prefix "$node_dir" --no-audit --no-fund --silent pg@8 >/dev/null; }
  send_store 1000
  psql_run -q -c "UPDATE personalize.send_settings SET quiet_start = NULL, quiet_end = NULL, control_percent = 0" \
              -c "DELETE FROM personalize.frequency_caps"
  NODE_PATH="$node_dir/node_modules" node "$top/bench/sends_notify.js" "$SEND_NOTIFY_N"
}
