#!/usr/bin/env node
// Compare two vector directories, ignoring values of names listed in "volatile".
// Usage: node compare.js dirA dirB   (exit 1 on any difference)
'use strict';
const fs = require('fs');
const path = require('path');
const [a, b] = process.argv.slice(2);
function norm(file) {
  const L = fs.readFileSync(file, 'utf8').trim().split('\n').map((x) => JSON.parse(x));
  const head = L[0];
  delete head.node_version;
  const rounds = L.slice(1).map((r) => {
    const vol = new Set(r.volatile);
    return {
      round: r.round, packets: r.packets, volatile: r.volatile,
      lines: r.lines.map((l, i) => (vol.has(l[0]) ? [l[0], '<volatile>'] : [l[0], l[1], r.raw_values[i]])),
    };
  });
  return JSON.stringify({ head, rounds });
}
let bad = 0, n = 0;
const fa = fs.readdirSync(a).filter((f) => f.endsWith('.jsonl')).sort();
const fb = fs.readdirSync(b).filter((f) => f.endsWith('.jsonl')).sort();
if (JSON.stringify(fa) !== JSON.stringify(fb)) { console.log('file lists differ', fa, fb); bad++; }
for (const f of fa) {
  if (!fb.includes(f)) continue;
  n++;
  const x = norm(path.join(a, f)), y = norm(path.join(b, f));
  if (x !== y) { bad++; console.log('DIFF', f); } else console.log('same', f);
}
console.log(bad ? `${bad} difference(s)` : `all ${n} files identical (non-volatile)`);
process.exit(bad ? 1 : 0);
