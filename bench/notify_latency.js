// Commit-to-NOTIFY latency of personalize's segment notifications, for bench/segments.sh.
// Usage: node notify_latency.js COUNT AS_OF  (connection from PGHOST/PGPORT/PGUSER/PGDATABASE)
// One process, two connections: a listener on channel personalize_segments and a writer that
// runs COUNT single-event transactions, alternately Subscribed and Unsubscribed for one user, so
// each moves that profile into or out of the segments reading consent. t0 is taken just before
// COMMIT is sent, t1 when the listener's notification arrives (process.hrtime, monotonic).
// Baseline, interleaved so that both see the same load: a transaction that only runs
// pg_notify on another channel. Prints p50/p90/p99/max in ms; never fails because of timing.
'use strict';
const { Client } = require('pg');

const count = parseInt(process.argv[2] || '1000', 10);
const asOf = process.argv[3] || '2024-04-01 00:00+00';
const warmup = 20;
const timeoutMs = 5000;

// Resolves with the next notification's arrival time on channel, or null after timeoutMs.
function nextNotification(listener, channel) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { listener.removeListener('notification', on); resolve(null); }, timeoutMs);
    function on(msg) {
      const t1 = process.hrtime.bigint();
      if (msg.channel !== channel) return;
      clearTimeout(timer);
      listener.removeListener('notification', on);
      resolve({ t1, payload: msg.payload });
    }
    listener.on('notification', on);
  });
}

// The q-quantile (nearest rank) of sorted numbers.
function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

// Sends COMMIT on writer (t0 just before) and returns ms until the listener got a notification on
// channel, or null when none came.
async function commitToNotify(writer, listener, channel) {
  const arrival = nextNotification(listener, channel);
  const t0 = process.hrtime.bigint();
  await writer.query('COMMIT');
  const got = await arrival;
  return got === null ? null : Number(got.t1 - t0) / 1e6;
}

// The figures of one series of latencies in ms.
function summary(name, xs, missing) {
  const s = [...xs].sort((a, b) => a - b);
  const f = (x) => (x === undefined ? 'n/a' : x.toFixed(3));
  return `${name}: p50 ${f(quantile(s, 0.5))} ms, p90 ${f(quantile(s, 0.9))} ms, p99 ${f(quantile(s, 0.99))} ms, ` +
         `max ${f(s[s.length - 1])} ms (${s.length} measured` + (missing === undefined ? ')' : `, ${missing} missing after ${timeoutMs} ms)`);
}

// Runs the warm-up and the measured transactions; prints the figures.
async function main() {
  const listener = new Client();
  const writer = new Client();
  await listener.connect();
  await writer.connect();
  await listener.query('LISTEN personalize_segments');
  await listener.query('LISTEN bench_control');
  await writer.query("SELECT set_config('personalize.clock', $1, false)", [asOf]);
  const run = Date.now().toString(36);
  const latencies = [];
  const controls = [];
  const inserts = [];
  let missing = 0;
  for (let i = 0; i < warmup + count; i++) {
    await writer.query('BEGIN');
    const s0 = process.hrtime.bigint();
    // events stamped before AS_OF, one second apart, so each is the profile's latest consent action
    await writer.query(
      `INSERT INTO personalize.events (user_id, event, properties, occurred_at, message_id)
       VALUES ('notify-probe', $1, '{"list": "newsletter"}', $2::timestamptz - interval '1 day' + $3 * interval '1 second', $4)`,
      [i % 2 === 0 ? 'Subscribed' : 'Unsubscribed', asOf, i, `notify-${run}-${i}`]);
    const s1 = process.hrtime.bigint();
    const ms = await commitToNotify(writer, listener, 'personalize_segments');
    await writer.query('BEGIN');
    await writer.query("SELECT pg_notify('bench_control', $1)", [String(i)]);
    const control = await commitToNotify(writer, listener, 'bench_control');
    if (i < warmup) continue;
    inserts.push(Number(s1 - s0) / 1e6);
    if (ms === null) missing++;
    else latencies.push(ms);
    if (control !== null) controls.push(control);
  }
  await listener.end();
  await writer.end();
  console.log(summary('notify_latency', latencies, missing) + '; aim: p99 < 5 ms');
  console.log('  ' + summary('baseline, a transaction that only calls pg_notify', controls));
  console.log('  ' + summary('the INSERT of each event before COMMIT (triggers, segment updates)', inserts));
}

main().catch((e) => { console.error(e); process.exit(1); });
