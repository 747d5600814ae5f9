// enqueue -> NOTIFY received -> claimed, for bench/sends.sh send_notify.
// Usage: node sends_notify.js COUNT (connection from PGHOST/PGPORT/PGUSER/PGDATABASE).
// Two connections: an application that calls enqueue_send (one transactional send a transaction,
// to profile 1 + i % 1000), and a consumer that LISTENs on personalize_sends and, on each
// notification, claims and completes what is due. t0 is taken before the enqueue is sent, t1
// when the notification arrives, t2 when the claim returned the send. Prints p50/p99 in ms.
'use strict';
const { Client } = require('pg');

const count = parseInt(process.argv[2] || '500', 10);

// The q-quantile (nearest rank) of sorted numbers.
function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function main() {
  const app = new Client();
  const consumer = new Client();
  await app.connect();
  await consumer.connect();
  await consumer.query('LISTEN personalize_sends');
  const notified = [];
  const claimed = [];
  for (let i = 0; i < count + 20; i++) {
    const arrival = new Promise((resolve) => consumer.once('notification', () => resolve(process.hrtime.bigint())));
    const t0 = process.hrtime.bigint();
    await app.query("SELECT personalize.enqueue_send('news', $1, 'transactional', '{}', $2)", [1 + (i % 1000), 'n:' + i]);
    const t1 = await arrival;
    const { rows } = await consumer.query("SELECT send_id FROM personalize.claim_sends('consumer', 10)");
    const t2 = process.hrtime.bigint();
    for (const r of rows) await consumer.query('SELECT personalize.complete_send($1)', [r.send_id]);
    if (i >= 20 && rows.length > 0) {   // the first 20 warm the caches
      notified.push(Number(t1 - t0) / 1e6);
      claimed.push(Number(t2 - t0) / 1e6);
    }
  }
  notified.sort((a, b) => a - b);
  claimed.sort((a, b) => a - b);
  console.log(`send_notify: enqueue -> NOTIFY received p50 ${quantile(notified, 0.5).toFixed(2)} ms, p99 ${quantile(notified, 0.99).toFixed(2)} ms; ` +
              `enqueue -> claimed p50 ${quantile(claimed, 0.5).toFixed(2)} ms, p99 ${quantile(claimed, 0.99).toFixed(2)} ms (${claimed.length} sends)`);
  await app.end();
  await consumer.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
