// bench_liquidjs.js - the same benchmark as bench.c on LiquidJS (parse once,
// render N times, renderSync). Needs `npm install liquidjs` somewhere on
// NODE_PATH. Usage: node bench_liquidjs.js TEMPLATE DATA.json PARTIALS_DIR [N]
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
const data = JSON.parse(fs.readFileSync(dataPath, 'utf8'));
let out = engine.renderSync(tpl, data);
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) out = engine.renderSync(tpl, data);
const t1 = process.hrtime.bigint();
console.log(`LiquidJS: ${(Number(t1 - t0) / 1e3 / n).toFixed(2)} us/render (${n} renders, ${Buffer.byteLength(out)} bytes output)`);
