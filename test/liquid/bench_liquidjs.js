// bench_liquidjs.js - the same benchmark as bench.c on LiquidJS (parse once,
// render N times, renderSync). Needs `npm install liquidjs` somewhere on
// NODE_PATH. Usage: node bench_liquidjs.js TEMPLATE DATA.json PARTIALS_DIR [N]
// DATA.jsonl (one context per line, as `make bench` writes): renders each context once instead,
// contexts parsed before the clock starts.
const fs = require('fs');
const path = require('path');
const { Liquid } = require('liquidjs');
const [tplPath, dataPath, partials, nArg] = process.argv.slice(2);
const n = parseInt(nArg || '20000', 10);
const engine = new Liquid({ root: [partials], extname: '.liquid', cache: true });
engine.registerFilter('money', (v, sym = '') => {
  const x = Math.round(Math.abs(Number(v)) * 100) / 100;
  const s = x.toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (Number(v) < 0 ? '-' : '') + sym + s;
});
const tpl = engine.parse(fs.readFileSync(tplPath, 'utf8'));
if (dataPath.endsWith('.jsonl')) {
  const ctxs = fs.readFileSync(dataPath, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  for (const c of ctxs) bytes += Buffer.byteLength(engine.renderSync(tpl, c));
  const t1 = process.hrtime.bigint();
  const s = Number(t1 - t0) / 1e9;
  console.log(`LiquidJS: ${ctxs.length} renders in ${s.toFixed(3)} s, ${bytes} bytes output`);
  process.exit(0);
}
const data = JSON.parse(fs.readFileSync(dataPath, 'utf8'));
let out = engine.renderSync(tpl, data);
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) out = engine.renderSync(tpl, data);
const t1 = process.hrtime.bigint();
console.log(`LiquidJS: ${(Number(t1 - t0) / 1e3 / n).toFixed(2)} us/render (${n} renders, ${Buffer.byteLength(out)} bytes output)`);
