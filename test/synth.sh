# Shared helpers of test/demo and bench/run: the deterministic synthetic shop of test/synth.sql,
# written once as a CSV file and loaded with COPY. Sourced after test/lib.sh, not executed.

# The columns of the CSV file, in the order COPY reads them.
EVENT_COLUMNS="user_id, anonymous_id, event, properties, occurred_at, message_id"

# Creates the generator functions (schema synth) in the running cluster.
load_synth() {
  psql_run <"$top/test/synth.sql"
}

# Writes n events of `users` users to the CSV file $1 (server side, as the cluster's owner).
write_events_csv() {
  local file=$1 n=$2 users=$3
  psql_run -c "COPY (SELECT $EVENT_COLUMNS FROM synth.events($n, $users)) TO '$file' (FORMAT csv)"
}

# Creates the monthly partitions the synthetic events fall in (January to March 2024).
make_partitions() {
  psql_run -At -c "SELECT personalize.maintain('2024-01-15 00:00+00', 2, 0)" >/dev/null
}
