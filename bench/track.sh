# Real-time ingest benchmark, sourced by bench/run after its helpers; not executed alone.
#   track   TRACK_EVENTS (default 10,000) calls of track(), each its own transaction (pgbench, one
#           client), for known users of the store a COPY of the CSV left, with 0 and with the 20
#           live segments of bench/segments.sh; against single-row INSERTs of the same values into a
#           plain table, one transaction each, in the same run.
# Timings are printed, never checked: nothing here fails because of timing.

TRACK_EVENTS=${TRACK_EVENTS:-10000}

# Writes a pgbench script inserting one event of a random known user, a random kind of four, with
# valid properties; $1 is the statement head taking (user_id, event, properties, occurred_at).
write_track_script() {
  cat <<SCRIPT
\set uid random(0, $((USERS - 1)))
\set k random(1, 4)
$1 synth.user_id(:uid), (ARRAY['Product Viewed', 'Email Opened', 'Order Completed', 'Subscribed'])[:k],
  (ARRAY['{"product_id": "sku-7", "price": 19.99, "category": "shoes"}', '{"campaign_id": "campaign-13"}',
         '{"order_id": "bench-order", "revenue": 120.00, "currency": "EUR"}', '{"list": "newsletter"}'])[:k]::jsonb,
  '2024-03-31 00:00+00'::timestamptz + random() * interval '1 day');
SCRIPT
}

# Runs the pgbench script $1 (a file) TRACK_EVENTS times from one client; prints its seconds
# (transactions over the tps pgbench reports, without connection time).
pgbench_seconds() {
  "${runas[@]}" env PGHOST="$PGHOST" PGPORT="$PGPORT" "$pgbin/pgbench" -n -c 1 -t "$TRACK_EVENTS" -f "$1" postgres 2>&1 |
    awk -v n="$TRACK_EVENTS" '/^tps = / {printf "%.3f\n", n / $3}'
}

# track() against plain single-row INSERTs, with 0 and with 20 live segments.
bench_track() {
  local base zero live plain_script track_script
  prepare_events
  plain_script="$work/track_plain.pgbench"
  track_script="$work/track.pgbench"
  write_track_script "INSERT INTO public.track_plain (user_id, event, properties, occurred_at) VALUES (" >"$plain_script"
  write_track_script "SELECT personalize.track(" >"$track_script"
  psql_run -c "ALTER DATABASE postgres SET personalize.clock = '$AS_OF'"
  reset_store
  time_copy personalize.events >/dev/null
  psql_run -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS public.track_plain" \
           -c "CREATE TABLE public.track_plain (user_id text, event text, properties jsonb, occurred_at timestamptz)"
  base=$(pgbench_seconds "$plain_script")
  zero=$(pgbench_seconds "$track_script")
  create_rules
  live=$(pgbench_seconds "$track_script")
  echo "  store: the CSV's events (known users); one client, each call its own transaction; baseline: the same"
  echo "  values as single-row INSERTs into a plain table (no index, no trigger)"
  print_figure track_0 "$TRACK_EVENTS" "$zero" "$base"
  print_figure track_20 "$TRACK_EVENTS" "$live" "$base"
  awk -v z="$zero" -v l="$live" -v n="$TRACK_EVENTS" \
    'BEGIN {printf "  per call: %.3f ms with no segment, %.3f ms with 20 live segments\n", 1000 * z / n, 1000 * l / n}'
}
