// Baseline of bench/sends.sh send_claim: graphile-worker (npm) moving COUNT jobs whose task does
// nothing, with CONCURRENCY, on the same server (PGHOST/PGPORT/PGUSER/PGDATABASE).
// Usage: node sends_graphile.js COUNT CONCURRENCY. The jobs are added first (not timed); the time
// is from the start of the runner to the moment its jobs table is empty. Prints the seconds last.
'use strict';
const { Pool } = require('pg');
const { run, runMigrations } = require('graphile-worker');

const count = parseInt(process.argv[2] || '1000', 10);
const concurrency = parseInt(process.argv[3] || '1', 10);

async function main() {
  const pool = new Pool({ max: concurrency + 2 });
  await runMigrations({ pgPool: pool });
  await pool.query("DELETE FROM graphile_worker._private_jobs");
  await pool.query("SELECT count(graphile_worker.add_job('send', json_build_object('i', i))) FROM generate_series(1, $1) i", [count]);
  const t0 = process.hrtime.bigint();
  const runner = await run({ pgPool: pool, concurrency, noHandleSignals: true, pollInterval: 100,
                             taskList: { send: async () => {} } });
  for (;;) {
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM graphile_worker._private_jobs');
    if (rows[0].n === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await runner.stop();
  await pool.end();
  console.log(secs.toFixed(3));
}
main().catch((e) => { console.error(e); process.exit(1); });
