# bench/recommend.sh: the incremental refresh of recommendations (issue 17), sourced by bench/run.
#   recommend_refresh      after 1% new events (every 100th event of the store done again by the
#                          next customer, at the same time, ingested in one statement), the
#                          incremental refresh_recommendations() against a full rebuild of the
#                          same store (the same final state; both serial);
#   recommend_refresh_day  the window moved by one day (events entering and leaving it), nothing
#                          else new, against a full rebuild at the new time.
# The store is test/predict/recommend_store.sql with RECOMMEND_REFRESH_CUSTOMERS customers
# (default 100,000: about 5 orders and 10 views each). Each figure comes twice: the ratio of the
# full to the incremental wall time, and (_cpu) of their backend CPU seconds, the one to read
# on a loaded machine.
# Run alone with `BENCHMARKS="recommend_refresh" make bench`.

# Runs $2 once in database $1 (serial); prints "wall_seconds cpu_seconds" (the backend's user +
# system time from /proc, 100 ticks a second).
refresh_seconds() {
  PGDATABASE=$1 psql_run -At <<SQL | tail -1
SET max_parallel_workers_per_gather = 0;
SELECT extract(epoch FROM clock_timestamp()) AS t0,
       (SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
          FROM pg_read_file('/proc/' || pg_backend_pid() || '/stat') s) AS c0 \gset
\o /dev/null
$2;
\o
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3) || ' ' ||
       round(((SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
                 FROM pg_read_file('/proc/' || pg_backend_pid() || '/stat') s) - :c0) / 100.0, 2);
SQL
}

bench_recommend_refresh() {
  local n=${RECOMMEND_REFRESH_CUSTOMERS:-100000} db=recommend_refresh_bench inc full day fullday events added
  psql_run -q -c "CREATE DATABASE $db" >/dev/null
  PGDATABASE=$db psql_run -q -At -v customers="$n" -c "CREATE EXTENSION personalize" \
    -f "$top/test/predict/recommend_store.sql" -c "VACUUM ANALYZE personalize.events" >/dev/null
  # the state as of 2026-05-01, built whole
  refresh_seconds $db "SELECT * FROM personalize.refresh_recommendations('2026-05-01 00:00+00', rebuild => true)" >/dev/null
  events=$(PGDATABASE=$db psql_run -At -c "SELECT count(*) FROM personalize.events")
  PGDATABASE=$db psql_run -q -c "INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
      SELECT 's' || (substr(p.user_id, 2)::int % $n + 1), e.event, e.properties, e.occurred_at, 'again-' || e.event_id
        FROM personalize.events e JOIN personalize.profiles p USING (profile_id)
       WHERE e.event_id % 100 = 0" -c "ANALYZE personalize.events" >/dev/null
  added=$(PGDATABASE=$db psql_run -At -c "SELECT count(*) FROM personalize.events WHERE message_id LIKE 'again-%'")
  inc=$(refresh_seconds $db "SELECT * FROM personalize.refresh_recommendations('2026-05-01 00:00+00')")
  PGDATABASE=$db psql_run -At -F' ' -c "SELECT profiles_changed, (SELECT count(*) FROM personalize.recommendation_pairs) FROM personalize.recommendation_state" |
    awk -v e="$events" -v a="$added" '{printf "  store: %s events, %s added (1%%); the incremental refresh recomputed %s profiles; %s stored pairs\n", e, a, $1, $2}'
  full=$(refresh_seconds $db "SELECT * FROM personalize.refresh_recommendations('2026-05-01 00:00+00', rebuild => true)")
  echo "  recommend_refresh: incremental refresh after 1% new events (wall, CPU s: $inc); baseline: a full rebuild of the same store ($full)"
  print_figure recommend_refresh "$added" "${inc%% *}" "${full%% *}"
  print_figure recommend_refresh_cpu "$added" "${inc##* }" "${full##* }"
  day=$(refresh_seconds $db "SELECT * FROM personalize.refresh_recommendations('2026-05-02 00:00+00')")
  PGDATABASE=$db psql_run -At -c "SELECT profiles_changed FROM personalize.recommendation_state" |
    awk '{printf "  the window moved a day: %s profiles recomputed\n", $1}'
  fullday=$(refresh_seconds $db "SELECT * FROM personalize.refresh_recommendations('2026-05-02 00:00+00', rebuild => true)")
  echo "  recommend_refresh_day: incremental refresh one day later (wall, CPU s: $day); baseline: a full rebuild then ($fullday)"
  print_figure recommend_refresh_day "$events" "${day%% *}" "${fullday%% *}"
  print_figure recommend_refresh_day_cpu "$events" "${day##* }" "${fullday##* }"
  psql_run -q -c "DROP DATABASE $db"
}
