# bench/audience.sh: audience figures for bench/run (sourced by it): building an audience with
# audience_agg, and intersecting two, against the same work in plain SQL. Run alone with
# `BENCHMARKS=audience make bench` (no events file is written then).

# Seconds one query takes by the server's clock, serial plans, output discarded; best of 3 runs.
time_query() {
  local best="" t
  for _ in 1 2 3; do
    t=$(psql_run -At <<SQL
SET max_parallel_workers_per_gather = 0;
SET work_mem = '64MB';
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\o /dev/null
$1;
\o
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 4);
SQL
)
    t=$(echo "$t" | tail -1)
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  echo "$best"
}

# Audiences (src/audience.c) against plain SQL on the same ids: building one from N ids, and
# intersecting two of about N members each. Ids are dense like profile_id from a sequence:
# each of 0..2N is in set a and in set b with probability 1/2, independently.
bench_audience() {
  psql_run <<SQL
SELECT setseed(0.5) \gset
CREATE TABLE public.aud_a AS SELECT g::bigint AS id FROM generate_series(0, 2 * $N) g WHERE random() < 0.5 ORDER BY random();
CREATE TABLE public.aud_b AS SELECT g::bigint AS id FROM generate_series(0, 2 * $N) g WHERE random() < 0.5 ORDER BY random();
CREATE TABLE public.auds AS SELECT (SELECT personalize.audience_agg(id) FROM public.aud_a) AS a,
                                   (SELECT personalize.audience_agg(id) FROM public.aud_b) AS b;
VACUUM ANALYZE public.aud_a, public.aud_b, public.auds;
SQL
  local n_a n_ab size_a agg arr cnt andc inter ovl
  n_a=$(psql_run -At -c "SELECT count(*) FROM public.aud_a")
  n_ab=$(psql_run -At -c "SELECT personalize.cardinality(a OPERATOR(personalize.&) b) FROM public.auds")
  size_a=$(psql_run -At -c "SELECT pg_column_size(a) FROM public.auds")
  echo "  ids: $n_a in a (random order), $n_ab in both; audience a is $size_a bytes; serial plans, best of 3"
  agg=$(time_query "SELECT personalize.audience_agg(id) FROM public.aud_a")
  arr=$(time_query "SELECT array_agg(id) FROM public.aud_a")
  cnt=$(time_query "SELECT count(DISTINCT id) FROM public.aud_a")
  echo "  baseline: array_agg(id) over the same rows"
  print_figure audience_agg_vs_array_agg "$n_a" "$agg" "$arr"
  echo "  baseline: count(DISTINCT id) over the same rows"
  print_figure audience_agg_vs_count_distinct "$n_a" "$agg" "$cnt"
  andc=$(time_query "SELECT personalize.cardinality(a OPERATOR(personalize.&) b) FROM public.auds")
  ovl=$(time_query "SELECT personalize.overlap(a, b) FROM public.auds")
  inter=$(time_query "SELECT count(*) FROM (SELECT id FROM public.aud_a INTERSECT SELECT id FROM public.aud_b) q")
  echo "  baseline: count(*) of SELECT id FROM aud_a INTERSECT SELECT id FROM aud_b (work_mem 64MB)"
  print_figure audience_and_cardinality_vs_intersect "$n_a" "$andc" "$inter"
  print_figure audience_overlap_vs_intersect "$n_a" "$ovl" "$inter"
}
