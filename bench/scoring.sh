# Scoring benchmarks (sourced by bench/run): the scoring aggregates against the same numbers in
# plain SQL, and fresh RFM segments and engagement from live state against an analyst's SQL over
# the events. They use their own database, generated server-side (not through COPY):
# SCORING_EVENTS events (default 10,000,000) of SCORING_PROFILES profiles (default 100,000).
SCORING_EVENTS=${SCORING_EVENTS:-10000000}
SCORING_PROFILES=${SCORING_PROFILES:-100000}

# psql on the scoring database.
psql_scoring() {
  psql_run -d scoring_bench "$@"
}

# Creates the scoring database once: SCORING_EVENTS events of SCORING_PROFILES profiles (about
# 100 each; 45% product views, 15% adds, 7% checkouts, 5% orders, 28% e-mail opens and clicks,
# January to March 2024) written straight into personalize.events with triggers off, then the
# live state built from them with rebuild_scores(); and bench_events, the same events with their
# engagement weight and purchase amount as plain columns, which both sides of the aggregate
# benchmarks read.
scoring_setup() {
  [ -n "${scoring_ready:-}" ] && return
  scoring_ready=1
  psql_run -c "CREATE DATABASE scoring_bench"
  psql_scoring -c "CREATE EXTENSION personalize" -c "SELECT personalize.maintain('2024-01-15 00:00+00', 2, 0)" >/dev/null
  echo "  generating $SCORING_EVENTS events of $SCORING_PROFILES profiles in database scoring_bench ..."
  psql_scoring -At <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SET session_replication_role = replica;  -- generated rows are valid: skip the ingest triggers
SELECT setseed(0.2024) \\gset
INSERT INTO personalize.events (profile_id, occurred_at, event, user_id, properties, message_id)
SELECT p, at, ev, 'u' || p,
       CASE ev WHEN 'Order Completed' THEN jsonb_build_object('order_id', i, 'revenue', round((20 + 300 * x)::numeric, 2))
               WHEN 'Product Viewed' THEN jsonb_build_object('product_id', 'sku-' || k, 'category', cat)
               WHEN 'Product Added' THEN jsonb_build_object('product_id', 'sku-' || k, 'category', cat)
               ELSE '{}' END,
       'm' || i
  FROM (SELECT i, 1 + (i - 1) * $SCORING_PROFILES / $SCORING_EVENTS AS p, x,
               '2024-01-01 00:00+00'::timestamptz + random() * interval '90 days' AS at,
               1 + floor(500 * x * x)::int AS k,
               (ARRAY['shoes', 'shirts', 'bags', 'hats', 'jackets', 'accessories'])[1 + floor(6 * x)::int] AS cat,
               CASE WHEN y < 0.45 THEN 'Product Viewed' WHEN y < 0.60 THEN 'Product Added'
                    WHEN y < 0.67 THEN 'Checkout Started' WHEN y < 0.72 THEN 'Order Completed'
                    WHEN y < 0.92 THEN 'Email Opened' ELSE 'Email Clicked' END AS ev
          FROM (SELECT i, random() AS x, random() AS y FROM generate_series(1, $SCORING_EVENTS::bigint) i) g) e;
INSERT INTO personalize.profiles (profile_id, user_id) SELECT p, 'u' || p FROM generate_series(1, $SCORING_PROFILES) p;
SELECT pg_catalog.setval('personalize.profile_id_seq', $SCORING_PROFILES) \\gset
RESET session_replication_role;
SELECT 'generated in ' || round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1) || ' s';
SELECT extract(epoch FROM clock_timestamp()) AS t1 \gset
SELECT personalize.rebuild_scores() AS profiles \gset
SELECT 'rebuild_scores() (live state from all events, a full recompute) took ' || round((extract(epoch FROM clock_timestamp()) - :t1)::numeric, 1) || ' s';
CREATE TABLE bench_events AS
SELECT e.profile_id, e.occurred_at, coalesce(w.engagement_weight, 0) AS weight,
       CASE WHEN e.event = 'Order Completed' THEN personalize.purchase_amount(e.properties) END AS amount
  FROM personalize.events e LEFT JOIN personalize.scoring_events w USING (event);
VACUUM ANALYZE bench_events;
VACUUM ANALYZE personalize.profiles;
SQL
  psql_scoring -At -c "SELECT count(*), count(amount), count(DISTINCT profile_id), pg_size_pretty(pg_total_relation_size('bench_events')) FROM bench_events" |
    awk -F'|' '{printf "  bench_events: %s events, %s purchases, %s profiles, %s\n", $1, $2, $3, $4}'
}

# Runs one query on the scoring database with the given settings; prints its seconds (server clock).
time_scoring() {
  local settings=$1 query=$2
  psql_scoring -At <<SQL
SET work_mem = '256MB';
$settings
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
$query \g /dev/null
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3);
SQL
}

# Prints one scoring figure: "name: X s vs baseline Y s = ratio (baseline / personalize)".
print_scoring() {
  awk -v name="$1" -v s="$2" -v b="$3" -v what="$4" 'BEGIN {
        if (s < 0.001) s = 0.001; if (b < 0.001) b = 0.001;
        printf "%s: %.2f s vs baseline %.2f s = %.2fx as fast  (%s)\n", name, s, b, b / s, what }'
}

# rfm_agg + engagement grouped by profile against the same numbers in plain SQL, serial and parallel.
bench_scoring_aggregates() {
  scoring_setup
  local ours plain serial="SET max_parallel_workers_per_gather = 0;" parallel="SET max_parallel_workers_per_gather = 2;"
  ours="SELECT count(*), sum((r).frequency), sum((r).monetary), max((r).last_purchase), sum((r).recency_days), sum(e)
          FROM (SELECT profile_id, personalize.rfm_agg(occurred_at, amount, '2024-04-01 00:00+00') FILTER (WHERE amount IS NOT NULL) AS r,
                       personalize.engagement(occurred_at, weight, '14 days', '2024-04-01 00:00+00') AS e
                  FROM bench_events GROUP BY profile_id) s"
  plain="SELECT count(*), sum(n), sum(m), max(last), sum(extract(epoch FROM '2024-04-01 00:00+00'::timestamptz - last)::float8 / 86400), sum(e)
          FROM (SELECT profile_id, count(amount) AS n, sum(amount) AS m, max(occurred_at) FILTER (WHERE amount IS NOT NULL) AS last,
                       sum(weight * power(2::float8, -extract(epoch FROM '2024-04-01 00:00+00'::timestamptz - occurred_at)::float8 / 1209600)) AS e
                  FROM bench_events GROUP BY profile_id) s"
  echo "  both sides: the same 6 totals over the per-profile results (printed below, must match)"
  psql_scoring -At -c "SET max_parallel_workers_per_gather = 0" -c "$ours" | sed 's/^/    personalize: /'
  psql_scoring -At -c "SET max_parallel_workers_per_gather = 0" -c "$plain" | sed 's/^/    plain SQL:   /'
  local s b
  s=$(time_scoring "$serial" "$ours"); b=$(time_scoring "$serial" "$plain")
  print_scoring scoring_aggregates_serial "$s" "$b" "rfm_agg + engagement by profile vs count/sum/max/sum(w * power(2, ...)), max_parallel_workers_per_gather = 0"
  s=$(time_scoring "$parallel" "$ours"); b=$(time_scoring "$parallel" "$plain")
  print_scoring scoring_aggregates_parallel "$s" "$b" "the same, max_parallel_workers_per_gather = 2"
}

# Fresh RFM segments and engagement for every profile: from live state (score_rfm and the live
# scores) against an analyst's plain SQL over the events (aggregates, ntile, CASE).
bench_scoring_live() {
  scoring_setup
  local live_first live_next analyst
  live_first="SELECT personalize.score_rfm('2024-04-01 00:00+00'), (SELECT sum(score) FROM personalize.engagement_scores('2024-04-01 00:00+00'))"
  live_next="SELECT personalize.score_rfm('2024-04-02 00:00+00'), (SELECT sum(score) FROM personalize.engagement_scores('2024-04-02 00:00+00'))"
  analyst="WITH per AS (
      SELECT profile_id, max(occurred_at) FILTER (WHERE amount IS NOT NULL) AS last, count(amount) AS n, sum(amount) AS m,
             sum(weight * power(2::float8, -extract(epoch FROM '2024-04-01 00:00+00'::timestamptz - occurred_at)::float8 / 1209600)) AS engagement
        FROM bench_events GROUP BY profile_id
  ), scored AS (
      SELECT profile_id, engagement, ntile(5) OVER (ORDER BY last) AS r, ntile(5) OVER (ORDER BY n) AS f,
             ntile(5) OVER (ORDER BY m) AS m
        FROM per WHERE n > 0
  )
  SELECT count(*), sum(engagement), count(*) FILTER (WHERE segment = 'Champions') FROM (
      SELECT profile_id, engagement,
             CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'Champions'
                  WHEN r >= 2 AND f >= 3 AND m >= 3 THEN 'Loyal Customers'
                  WHEN r >= 3 AND f <= 3 AND m <= 3 THEN 'Potential Loyalist'
                  WHEN r >= 4 AND f <= 1 AND m <= 1 THEN 'New Customers'
                  WHEN r BETWEEN 3 AND 4 AND f <= 1 AND m <= 1 THEN 'Promising'
                  WHEN r BETWEEN 2 AND 3 AND f BETWEEN 2 AND 3 AND m BETWEEN 2 AND 3 THEN 'Need Attention'
                  WHEN r BETWEEN 2 AND 3 AND f <= 2 AND m <= 2 THEN 'About To Sleep'
                  WHEN r <= 2 AND f >= 2 AND m >= 2 THEN 'At Risk'
                  WHEN r <= 1 AND f >= 4 AND m >= 4 THEN 'Can''t Lose Them'
                  WHEN r <= 2 AND f <= 2 AND m <= 2 THEN 'Hibernating'
                  ELSE 'Others' END AS segment
        FROM scored) s"
  local s1 s2 b
  b=$(time_scoring "SET max_parallel_workers_per_gather = 2;" "$analyst")
  s1=$(time_scoring "" "$live_first")
  s2=$(time_scoring "" "$live_next")
  psql_scoring -At -c "SELECT profiles, changed FROM personalize.rfm_runs ORDER BY run_id" |
    awk -F'|' '{printf "  score_rfm run %d: %s purchasers scored, %s changed segment\n", NR, $1, $2}'
  print_scoring scoring_live_first "$s1" "$b" "score_rfm writing every purchaser's segment + engagement_scores for every profile, vs analyst SQL over bench_events (2 workers)"
  print_scoring scoring_live_next_day "$s2" "$b" "the same a day later: only changed segments are written"
}
