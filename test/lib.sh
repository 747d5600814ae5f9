# Shared helpers of test/run, test/demo and bench/run: a private PostgreSQL installation with the
# extension in it, and a throwaway cluster run as an unprivileged user. Sourced, not executed.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

# Builds the extension (with $WERROR, e.g. -Werror) and installs it, with a relocated copy of the
# server, into $work/inst.
build_private_install() {
  "$top/test/deps"
  make -s -C "$top" PG_CONFIG="$PG_CONFIG" WERROR="${WERROR:-}" >/dev/null
  local bindir sharedir libdir
  bindir=$("$PG_CONFIG" --bindir); sharedir=$("$PG_CONFIG" --sharedir); libdir=$("$PG_CONFIG" --pkglibdir)
  inst="$work/inst"
  mkdir -p "$inst$(dirname "$bindir")" "$inst$(dirname "$sharedir")"
  # The server finds its share and lib directories relative to its own binary, so a copy works.
  cp -a "$(dirname "$bindir")/." "$inst$(dirname "$bindir")/"
  cp -a "$sharedir" "$inst$(dirname "$sharedir")/"
  make -s -C "$top" PG_CONFIG="$PG_CONFIG" WERROR="${WERROR:-}" install DESTDIR="$inst" >/dev/null
  pgbin="$inst$bindir"
  pgxs_dir="$inst$libdir/pgxs"
}

# Makes a scratch directory that an unprivileged user can write; sets $work and $runas.
# PERSONALIZE_TMP (default /tmp) is where it goes.
make_workdir() {
  work=$(mktemp -d "${PERSONALIZE_TMP:-/tmp}/personalize.XXXXXX")
  chmod 755 "$work"
  runas=()
  if [ "$(id -u)" -eq 0 ]; then
    runas=(runuser -u postgres --)
  fi
  trap 'cleanup_workdir' EXIT
}

# Hands the scratch directory to the unprivileged user the servers run as.
own_workdir() {
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"
  return 0
}

# Stops any server still running from $work and removes the scratch directory.
cleanup_workdir() {
  if [ -n "${work:-}" ] && [ -d "$work" ]; then
    [ -f "$work/data/postmaster.pid" ] && "${runas[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1
    [ -n "${KEEP_WORKDIR:-}" ] || rm -rf "$work"
  fi
}

# Starts a throwaway cluster with pg_cron preloaded on a private socket; sets PGHOST, PGPORT.
start_cluster() {
  "${runas[@]}" "$pgbin/initdb" -D "$work/data" -U postgres -A trust --no-sync >/dev/null
  cat >>"$work/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
fsync = off
max_worker_processes = 16
CONF
  "${runas[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
  export PGHOST="$work" PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
}

# Runs psql from the private installation as the unprivileged user.
psql_run() {
  "${runas[@]}" env PGHOST="$PGHOST" PGPORT="$PGPORT" "$pgbin/psql" -X -v ON_ERROR_STOP=1 -q "$@"
}
