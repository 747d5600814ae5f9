// Commit-to-NOTIFY latency of personalize's segment notifications, for bench/segments.sh.
// Usage: node notify_latency.js COUNT AS_OF  (connection from PGHOST/PGPORT/PGUSER/PGDATABASE)
// One process, two connections: a listener on channel personalize_segments and a writer that
// runs COUNT single-event transactions, alternately Subscribed and Unsubscribed for one user, so
// each moves that profile into or out of the segments reading consent. t0 is taken just before
// COMMIT is sent, t1 when the listener's notification arrives (process.hrtime, monotonic).
// Prints p50/p90/p99/max in ms; never fails because of timing.
'use strict';
const { Client } = require('pg');

const count = parseInt(process.argv[2] || '1000', 10);
const asOf = process.argv[3] || '2024-04-01 00:00+00';
const warmup = 20;
const timeoutMs = 5000;

// Resolves with the next notification's arrival time, or null after timeoutMs.
function nextNotification(listener) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { listener.removeListener('notification', on); resolve(null); }, timeoutMs);
    function on(msg) {
      const t1 = process.hrtime.bigint();
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

// Runs the warm-up and the measured transactions; prints the figures.
async function main() {
  const listener = new Client();
  const writer = new Client();
  await listener.connect();
  await writer.connect();
  await listener.query('LISTEN personalize_segments');
  await writer.query("SELECT set_config('personalize.clock', $1, false)", [asOf]);
  const run = Date.now().toString(36);
  const latencies = [];
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
    const arrival = nextNotification(listener);
    const t0 = process.hrtime.bigint();
    await writer.query('COMMIT');
    const got = await arrival;
    if (i < warmup) continue;
    inserts.push(Number(s1 - s0) / 1e6);
    if (got === null) missing++;
    else latencies.push(Number(got.t1 - t0) / 1e6);
  }
  await listener.end();
  await writer.end();
  latencies.sort((a, b) => a - b);
  inserts.sort((a, b) => a - b);
  const f = (x) => (x === undefined ? 'n/a' : x.toFixed(3));
  console.log(`notify_latency: p50 ${f(quantile(latencies, 0.5))} ms, p90 ${f(quantile(latencies, 0.9))} ms, ` +
              `p99 ${f(quantile(latencies, 0.99))} ms, max ${f(latencies[latencies.length - 1])} ms ` +
              `(${latencies.length} notifications, ${missing} missing after ${timeoutMs} ms; aim: p99 < 5 ms)`);
  console.log(`  the INSERT of each event (triggers and segment updates, before COMMIT): p50 ${f(quantile(inserts, 0.5))} ms, ` +
              `p99 ${f(quantile(inserts, 0.99))} ms`);
}

main().catch((e) => { console.error(e); process.exit(1); });
