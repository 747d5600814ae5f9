# Helpers of the sender's suite and bench (sourced): a cluster of their own (so that it can be
# restarted under the sender), the SMTP and HTTP sinks, the sender, and polling for a condition.
# Needs $PGBIN and $dir (a scratch directory); sets $port and $conninfo.

runas=()
[ "$(id -u)" -eq 0 ] && runas=(runuser -u postgres --)
port=5497
data="$dir/data"
conninfo="host=$dir port=$port dbname=postgres user=sender_login"
pids_started=()

# psql as the superuser on the cluster (unaligned, tuples only).
psqlc() { "${runas[@]}" "$PGBIN/psql" -X -q -At -h "$dir" -p $port -d postgres -v ON_ERROR_STOP=1 "$@"; }

# Starts (or restarts) the cluster.
pg_start() { "${runas[@]}" "$PGBIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 300 start >/dev/null; }

# Creates the cluster, the extension, the sender's login role and fast retries.
pg_setup() {
  mkdir -p "$dir" && chmod 777 "$dir"
  "${runas[@]}" "$PGBIN/initdb" -D "$data" -U postgres -A trust --no-sync >/dev/null || return 1
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = off
CONF
  pg_start || return 1
  psqlc <<'SQL' >/dev/null
CREATE EXTENSION personalize;
CREATE ROLE sender_login LOGIN IN ROLE personalize_sender;
UPDATE personalize.send_settings SET backoff_base = '1 second', backoff_max = '2 seconds', max_attempts = 20,
       message_id_domain = 'mail.example', unsubscribe_base_url = 'https://mail.example/u?token=';
-- the history partitions of this month and the next, made before any sender runs
SELECT personalize.tick(now());
SQL
}

# Starts a sink ($1: smtp or http, $2: its directory, then its options); waits for its port
# and prints it.
sink_start() {
  local kind=$1 sdir=$2
  shift 2
  mkdir -p "$sdir"; rm -f "$sdir/port"
  /usr/bin/python3 "$top/test/sender/${kind}_sink.py" --dir "$sdir" "$@" >>"$sdir/sink.log" 2>&1 &
  pids_started+=($!)
  echo $! >"$sdir/pid"
  wait_for "the $kind sink to listen" 60 test -s "$sdir/port" >/dev/null || return 1
  cat "$sdir/port"
}

# Starts the sender with the given options (its log: $dir/sender.log); sets $sender_pid.
sender_start() {
  "$SENDER" --conninfo "$conninfo" --poll-interval 0.5 "$@" >>"$dir/sender.log" 2>&1 &
  sender_pid=$!
  pids_started+=($sender_pid)
}

# Stops the sender with SIGTERM and waits for it; returns its exit status.
sender_stop() {
  kill -TERM "$sender_pid" 2>/dev/null
  wait "$sender_pid"
}

# Polls a command every 0.3 s until it succeeds or $2 seconds pass: wait_for WHAT SECONDS CMD...
wait_for() {
  local what=$1 limit=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "timed out after ${limit}s waiting for $what" >&2
      return 1
    fi
    sleep 0.3
  done
}

# Whether the SQL condition $1 holds.
sql_true() { [ "$(psqlc -c "SELECT ($1)::boolean")" = t ]; }

# Stops what the suite started and the cluster: the ids it recorded, and the sinks by the pid
# files in their directories (sink_start runs in a command substitution, whose additions to
# pids_started are lost), each only if it is still that sink.
lib_cleanup() {
  local f p
  for p in "${pids_started[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for f in "$dir"/*/pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    grep -qF -- "$(dirname "$f")" "/proc/$p/cmdline" 2>/dev/null && kill -TERM "$p" 2>/dev/null
  done
  [ -f "$data/postmaster.pid" ] && "${runas[@]}" "$PGBIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1
  return 0
}
