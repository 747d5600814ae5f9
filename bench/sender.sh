# The reference consumer's throughput (issue 14), sourced by bench/run after its helpers; not
# executed alone.
#   sender_smtp   messages per second that personalize-sender delivers (claim, render, build,
#                 SMTP, complete_send) to a local SMTP sink (aiosmtpd, discarding) with 1, 4
#                 and 8 workers, each run over SENDER_BENCH_N sends (default 5,000), against the
#                 same sink fed by bench/smtp_blast.c: one pre-rendered message sent over one
#                 reused libcurl connection per worker, no database. Also where the sender's
#                 time goes (claim, delivery, recording), summed over its workers, and the CPU
#                 seconds of each party (client, sink, PostgreSQL): on a shared machine those
#                 say more than wall times.
# Timings are printed, never checked.

SENDER_BENCH_N=${SENDER_BENCH_N:-5000}
SENDER_BENCH_WORKERS=${SENDER_BENCH_WORKERS:-"1 4 8"}

# CPU seconds (user + system) of process $1 and of its children it has waited for (a
# postmaster's: the backends that ended).
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13 + $14 + $15) / hz }' "/proc/$1/stat"
}

bench_sender_smtp() {
  local n=$SENDER_BENCH_N sdir="$work/bench_sender" port blast sender_bin="$pgbin/personalize-sender"
  mkdir -p "$sdir"
  send_store "$n" >/dev/null
  psql_run -q -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_mailer') THEN
                    CREATE ROLE bench_mailer LOGIN IN ROLE personalize_sender; END IF; END \$\$" \
           -c "UPDATE personalize.send_settings SET message_id_domain = 'bench.example'" \
           -c "SELECT personalize.tick(now())" >/dev/null
  cc -O2 -o "$sdir/smtp_blast" "$top/bench/smtp_blast.c" -lcurl -pthread || return
  cc -O2 -o "$sdir/message_check" "$top"/sender/{message_check,message,json,strbuf}.c || return
  # the baseline's message: the same template rendered for one profile, built by the sender's builder
  psql_run -At -c "SELECT json_build_object('from', 'shop@example.com', 'to', p.email, 'subject', r.subject,
                     'text', r.text, 'html', r.html, 'message_id', '<1.0123456789abcdef@bench.example>',
                     'headers_json', '{\"X-Personalize-Send-Id\": \"1\"}', 'date', '1700000000')
                     FROM personalize.profiles p, personalize.render_email('news', p.profile_id) r
                    WHERE p.profile_id = 1" | "$sdir/message_check" | tail -n +2 >"$sdir/message.eml"
  /usr/bin/python3 "$top/test/sender/smtp_sink.py" --dir "$sdir/sink" --discard >"$sdir/sink.log" 2>&1 &
  local sink_pid=$!
  for _ in $(seq 600); do [ -s "$sdir/sink/port" ] && break; sleep 0.1; done
  port=$(cat "$sdir/sink/port")
  echo "  $n messages of $(wc -c <"$sdir/message.eml") bytes (template 'news'), aiosmtpd sink on 127.0.0.1:$port"
  local pm
  pm=$(head -1 "$work/data/postmaster.pid")
  for w in $SENDER_BENCH_WORKERS; do
    local bc0 bc1 bs0 bs1 sc0 sc1 ss0 ss1 pg0 pg1 t0 t1 sent
    bs0=$(cpu_seconds "$sink_pid"); bc0=$(cpu_seconds $$)
    blast=$("$sdir/smtp_blast" "smtp://127.0.0.1:$port" "$n" "$w" "$sdir/message.eml") || { echo "  smtp_blast failed"; continue; }
    bs1=$(cpu_seconds "$sink_pid"); bc1=$(cpu_seconds $$)
    psql_run -q -c "SELECT count(personalize.enqueue_send('news', profile_id, 'transactional', '{}', 'bench$w:' || profile_id))
                      FROM personalize.profiles" >/dev/null
    : >"$sdir/sender$w.log"
    ss0=$(cpu_seconds "$sink_pid"); sc0=$(cpu_seconds $$); pg0=$(cpu_seconds "$pm")
    t0=$(date +%s.%N)
    "$sender_bin" --conninfo "host=$PGHOST port=$PGPORT dbname=postgres user=bench_mailer" --workers "$w" --batch 100 \
      --smtp "smtp://127.0.0.1:$port" --starttls off --once 2>"$sdir/sender$w.log"
    t1=$(date +%s.%N)
    ss1=$(cpu_seconds "$sink_pid"); sc1=$(cpu_seconds $$); pg1=$(cpu_seconds "$pm")
    sent=$(psql_run -At -c "SELECT count(*) FROM personalize.send_history WHERE idempotency_key LIKE 'bench$w:%' AND status = 'sent'")
    print_figure "sender_smtp_${w}_workers" "$sent" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$blast"
    awk '/: batch of/ { for (i = 1; i <= NF; i++) { if ($i == "claim") c += $(i+1); if ($i == "delivery") d += $(i+1); if ($i == "recording") r += $(i+1) } }
         END { printf "  where the time goes (summed over workers): claim_sends (lock, policy, render) %.1f s, building and SMTP %.1f s, waiting for complete_sends %.1f s\n", c/1000, d/1000, r/1000 }' "$sdir/sender$w.log"
    awk -v bc="$bc0 $bc1" -v bs="$bs0 $bs1" -v sc="$sc0 $sc1" -v ss="$ss0 $ss1" -v pg="$pg0 $pg1" 'function d(x,  v) { split(x, v, " "); return v[2] - v[1] }
         BEGIN { printf "  CPU seconds: baseline: client %.2f, sink %.2f; sender: client %.2f, sink %.2f, PostgreSQL backends %.2f\n", d(bc), d(bs), d(sc), d(ss), d(pg) }'
  done
  kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null
}
