// bench_liquidjs.js - the same benchmark as bench.c on LiquidJS (parse once,
// render N times, renderSync). Needs `npm install liquidjs` somewhere on
// NODE_PATH. Usage: node bench_liquidjs.js TEMPLATE DATA.json PARTIALS_DIR [N]
// DATA.jsonl (one context per line, as `make bench` writes): renders each context once instead;
// only the renders are timed (each context is parsed just before its render).
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
  // each context is parsed just before its render, off the clock, so the heap stays small
  const lines = fs.readFileSync(dataPath, 'utf8').split('\n').filter((l) => l.length);
  let bytes = 0, ns = 0n;
  for (const l of lines) {
    const c = JSON.parse(l);
    const t0 = process.hrtime.bigint();
    bytes += Buffer.byteLength(engine.renderSync(tpl, c));
    ns += process.hrtime.bigint() - t0;
  }
  console.log(`LiquidJS: ${lines.length} renders in ${(Number(ns) / 1e9).toFixed(3)} s, ${bytes} bytes output`);
  process.exit(0);
}
const data = JSON.parse(fs.readFileSync(dataPath, 'utf8'));
let out = engine.renderSync(tpl, data);
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) out = engine.renderSync(tpl, data);
const t1 = process.hrtime.bigint();
console.log(`LiquidJS: ${(Number(t1 - t0) / 1e3 / n).toFixed(2)} us/render (${n} renders, ${Buffer.byteLength(out)} bytes output)`);
