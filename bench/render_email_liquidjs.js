// render_email_liquidjs.js - LiquidJS rendering the three parts of an e-mail (subject.liquid,
// html.liquid with every output HTML-escaped, text.liquid in DIR) over contexts exported
// beforehand (one JSON object per line), as bench/render_email.sh compares with render_email.
// Each template is parsed once; only the renders are timed (each context is parsed just before,
// off the clock). Needs liquidjs on NODE_PATH. Usage: node render_email_liquidjs.js DIR DATA.jsonl
const fs = require('fs');
const path = require('path');
const { Liquid } = require('liquidjs');
const [dir, dataPath] = process.argv.slice(2);
const plain = new Liquid({ cache: true });
const escaped = new Liquid({ cache: true, outputEscape: 'escape' });
const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8');
const subject = plain.parse(read('subject.liquid'));
const html = escaped.parse(read('html.liquid'));
const text = plain.parse(read('text.liquid'));
const lines = fs.readFileSync(dataPath, 'utf8').split('\n').filter((l) => l.length);
let bytes = 0, ns = 0n;
for (const l of lines) {
  const c = JSON.parse(l);
  const t0 = process.hrtime.bigint();
  bytes += Buffer.byteLength(plain.renderSync(subject, c)) + Buffer.byteLength(escaped.renderSync(html, c)) +
           Buffer.byteLength(plain.renderSync(text, c));
  ns += process.hrtime.bigint() - t0;
}
console.log(`LiquidJS: ${lines.length} e-mails in ${(Number(ns) / 1e9).toFixed(3)} s, ${bytes} bytes output`);
