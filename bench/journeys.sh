# Journey benchmarks (issue 15), sourced by bench/run after its helpers; not executed alone.
#   journey_ingest  COPY of the CSV into personalize.events with 10 live journeys (entries on
#                   carts, checkouts and filtered views, waits for orders, goals) against the same
#                   COPY with none, in the same run (aim: at least 0.8 of the rate)
#   journey_tick    tick() with JOURNEY_WAITING waiting runs (default 1,000,000) of which
#                   JOURNEY_DUE (default 10,000) are due, against tick() with JOURNEY_DUE waiting
#                   runs all due (aim: within 1.5 times: the cost follows the due runs)
# Timings are printed, never checked: nothing here fails because of timing.

JOURNEY_WAITING=${JOURNEY_WAITING:-1000000}
JOURNEY_DUE=${JOURNEY_DUE:-10000}

# The 10 journeys of the ingest benchmark: the abandoned-cart example and nine variations.
create_journeys() {
  psql_run -At <<'SQL'
SET client_min_messages = warning;
SELECT personalize.install_abandoned_cart() > 0;
SELECT count(personalize.create_journey('bench_' || i, jsonb_build_object(
         'entry', CASE i % 3 WHEN 0 THEN '{"event": "Product Added", "where": [{"property": "price", "op": "gt", "value": 20}]}'::jsonb
                             WHEN 1 THEN '{"event": "Checkout Started"}'::jsonb
                             ELSE '{"event": "Product Viewed", "where": [{"property": "category", "value": "shoes"}]}'::jsonb END,
         'rule', '{"consent": "subscribed"}'::jsonb,
         'goal', '{"event": "Order Completed"}'::jsonb,
         'reentry', '{"after": "7 days"}'::jsonb,
         'start', 'w',
         'steps', jsonb_build_object(
             'w', jsonb_build_object('wait_for', jsonb_build_object('event', 'Order Completed', 'timeout', (i * 10) || ' minutes'),
                                     'happened', 'x', 'timed_out', 'b'),
             'b', '{"branch": {"trait": "plan", "value": "vip"}, "yes": "s", "no": "later"}'::jsonb,
             'later', '{"wait": "1 day", "next": "s"}'::jsonb,
             's', '{"send": {"template": "cart_reminder", "kind": "marketing"}, "next": "x"}'::jsonb,
             'x', '{"exit": true}'::jsonb))))
  FROM generate_series(1, 9) i;
SQL
}

# A fresh store whose USERS profiles are identified and subscribed before any event, so that
# journeys with a consent rule let them in.
subscribed_store() {
  reset_store
  psql_run -At -c "SELECT count(personalize.identify(synth.user_id(uid), synth.traits(uid), NULL, '2024-01-01'))
                     FROM generate_series(0, $USERS - 1) uid" >/dev/null
  psql_run -c "UPDATE personalize.profiles SET email_consent = 'subscribed', email = user_id || '@example.com'" \
           -c "VACUUM ANALYZE personalize.profiles" >/dev/null
}

# COPY into personalize.events with 10 live journeys against the same COPY into the same store
# with none.
bench_journey_ingest() {
  prepare_events
  local zero live
  psql_run -c "ALTER DATABASE postgres SET personalize.clock = '$AS_OF'" >/dev/null
  subscribed_store
  zero=$(time_copy personalize.events)
  subscribed_store
  create_journeys >/dev/null
  live=$(time_copy personalize.events)
  echo "  baseline: the same COPY into the same store (the profiles identified and subscribed first) with no journey"
  print_figure journey_ingest_10 "$rows" "$live" "$zero"
  psql_run -At -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE state = 'waiting'), (SELECT count(*) FROM personalize.journey_log),
                                 (SELECT count(*) FROM personalize.sends_all) FROM personalize.journey_runs" |
    awk '{printf "  after the COPY: %d runs (%d waiting), %d transitions logged, %d sends\n", $1, $2, $3, $4}'
  psql_run -c "ALTER DATABASE postgres RESET personalize.clock" >/dev/null
}

# Makes $1 waiting runs of one journey, of which $2 are due at 2024-06-01 (the rest a year later),
# on $1 profiles made for it.
make_waiting_runs() {
  psql_run -At <<SQL
SET client_min_messages = warning;
INSERT INTO personalize.profiles (profile_id, user_id, email, email_consent)
SELECT 900000000 + i, 'tick-' || i, 'tick' || i || '@example.com', 'subscribed' FROM generate_series(1, $1) i;
INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES ('tick_hello', 'Hi', '<p>hi</p>', 'hi')
    ON CONFLICT DO NOTHING;
SELECT personalize.create_journey('tick_bench', '{"entry": {"event": "Bench Tick"}, "start": "w",
  "steps": {"w": {"wait": "1 day", "next": "s"}, "s": {"send": {"template": "tick_hello", "kind": "transactional"}, "next": "x"},
            "x": {"exit": true}}}') > 0;
INSERT INTO personalize.journey_runs (journey_id, version, profile_id, step, state, step_at, wake_at, entered_at)
SELECT (SELECT journey_id FROM personalize.journeys WHERE name = 'tick_bench'), 1, 900000000 + i, 'w', 'waiting',
       '2024-05-31', CASE WHEN i <= $2 THEN '2024-05-31 12:00+00'::timestamptz ELSE '2025-06-01' END, '2024-05-31'
  FROM generate_series(1, $1) i;
VACUUM ANALYZE personalize.journey_runs;
SQL
}

# Seconds of one tick at 2024-06-01 by the server's clock.
time_tick() {
  psql_run -At <<'SQL'
CHECKPOINT;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT personalize.tick('2024-06-01 00:00+00') IS NOT NULL \g /dev/null
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
SQL
}

# tick() with many waiting runs and few due against tick() with only the due ones waiting.
bench_journey_tick() {
  local big small
  reset_store
  make_waiting_runs "$JOURNEY_DUE" "$JOURNEY_DUE" >/dev/null
  small=$(time_tick)
  reset_store
  make_waiting_runs "$JOURNEY_WAITING" "$JOURNEY_DUE" >/dev/null
  big=$(time_tick)
  echo "  baseline: tick with $JOURNEY_DUE waiting runs, all due; measured: $JOURNEY_WAITING waiting, $JOURNEY_DUE due (each wakes, sends, exits)"
  print_figure journey_tick_due "$JOURNEY_DUE" "$big" "$small"
  psql_run -At -c "SELECT count(*) FROM personalize.sends_all" | awk '{printf "  sends queued by the tick: %d\n", $1}'
}
