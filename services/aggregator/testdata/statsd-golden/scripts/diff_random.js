#!/usr/bin/env node
/*
 * Differential check: the consthash aggregator binary, driven through its own udp
 * statsd listener, against the real npm statsd 0.9.0, on random packets no committed
 * vector holds (a seed and a grammar of their own, not gen_vectors.js's).
 *
 * For every option set it starts a TCP sink per side, the aggregator (times = 2s, a
 * udp statsd listener, output.lines to its sink) and statsd (graphite backend to its
 * sink, flushInterval 2000). The aggregator flushes on even wall-clock seconds; statsd
 * flushes at its start second + k*2s, so statsd is started on an odd second and the two
 * flush 1 s apart. Each round's packets are sent right after a statsd flush, to both,
 * and land in the next flush of each. Flushed lines are compared by name and value
 * text (timestamps and the values compare.js treats as volatile are ignored; numbers
 * equal within 1e-9 relative count as equal, and exact-text differences are counted
 * too). packets_received and metrics_received of both sides must equal what was sent,
 * else the option set is retried (udp loss).
 *
 * Usage:
 *   node diff_random.js [--n 1000] [--seed 0xd1ff5eed] [--sets a,b] [--agg /tmp/agg]
 *                       [--out work/diff] [--max-line-length N]  (the listener's; default 32768)
 *                       [--packets file.json]   (a JSON array of packets, strings or {"hex": ...}:
 *                       one round of exactly those, to reproduce a mismatch)
 * Exit status 1 when any non-volatile line differs.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const net = require('net');
const dgram = require('dgram');
const { spawn, execFileSync } = require('child_process');

const ROOT = __dirname;
const STATSD_DIR = path.join(ROOT, 'node_modules', 'statsd');
const INTERVAL = 2000;

function args() {
  const a = { n: 1000, seed: 0xd1ff5eed, sets: null, agg: '', out: path.join(ROOT, 'work', 'diff'), packets: null, maxLine: 0 };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    const k = v[i].replace(/^--/, '');
    const val = v[++i];
    if (k === 'n') a.n = Number(val);
    else if (k === 'seed') a.seed = Number(val);
    else if (k === 'sets') a.sets = val.split(',');
    else if (k === 'agg') a.agg = val;
    else if (k === 'out') a.out = path.resolve(val);
    else if (k === 'max-line-length') a.maxLine = Number(val);
    else if (k === 'packets') a.packets = JSON.parse(fs.readFileSync(val, 'utf8'));
    else throw new Error('unknown flag ' + v[i - 1]);
  }
  return a;
}

// ---------------------------------------------------------------- PRNG and grammar
function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeGen(seed) {
  const f = mulberry32(seed);
  const R = {
    f,
    int: (lo, hi) => lo + Math.floor(f() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(f() * arr.length)],
    chance: (p) => f() < p,
  };
  return R;
}

// Key material: plain, unicode, spaces/tabs, slashes, characters statsd strips, ';' and '='
// (kept by its sanitiser), and pieces that look like statsd's own names.
const KEY_ATOMS = ['svc', 'http', 'db', 'q', 'lat', 'req', 'err', 'Ünï', '日本', 'ß', 'a b', 'x/y', 'p%q',
  'with\ttab', 'k=v', 'semi;colon', 'dash-', '_u_', '..', '.', '9', 'E1', 'bad_lines_seen', 'numStats',
  'packets_received', 'crème', 'emoji🙂', 'sp  ace', '\u00a0nb', 'a\u2028b', 'x\u0000y', '#hash', '@at', '$', ''];
const SEPS = ['.', '.', '.', '_', '-', ' ', '/', ''];
function key(R) {
  if (R.chance(0.35)) return R.pick(HOT_KEYS); // repeated keys so values aggregate
  const n = R.int(1, 4);
  let k = R.pick(KEY_ATOMS);
  for (let i = 1; i < n; i++) k += R.pick(SEPS) + R.pick(KEY_ATOMS);
  return k;
}
const HOT_KEYS = ['hot.c', 'hot.ms', 'hot.g', 'hot.s', 'hot.h', 'hot lat', 'hot/ü', 'lat.hot', 'hot.mix'];

function num(R) {
  const r = R.f();
  if (r < 0.35) return String(R.int(0, 100));
  if (r < 0.5) return String(R.int(0, 1e6) / 1000);
  if (r < 0.58) return String(R.int(1e6, 1e12));
  if (r < 0.66) return R.int(1, 9) + R.pick(['e', 'E']) + R.pick(['', '+', '-']) + R.int(0, 30);
  if (r < 0.72) return R.pick(['1e200', '1.7e308', '9e307', '123456789012345678901234567890', '1e-300', '5e-324',
    '4.9e-324', '2.2250738585072014e-308', '0.1e1', '.0', '0.', '1_000', '1__2', '0x1p3']);
  if (r < 0.8) return R.pick(['0x1A', '0X1a', '0b11', '0o7', '0B1', '0O7', '0x', '00', '007', '-0', '+0', '0.000',
    ' 3', '3 ', '\t3', '3\t', '\u00a05', '5\u00a0', '\v5', '\f5', '\ufeff5', '１２']);
  if (r < 0.88) return '-' + String(R.int(0, 1000) / (R.chance(0.5) ? 1 : 8));
  if (r < 0.94) return '+' + String(R.int(0, 1000) / (R.chance(0.5) ? 1 : 4));
  return R.pick(['', 'abc', '1,5', '1.2.3', '--1', '+-1', 'e5', '1e', '.', '-', '+', 'NaN', 'nan', 'inf',
    'Infinite', '0x1g', '1 2', '٣']);
}

const RATES = ['@0.5', '@0.1', '@0.25', '@1', '@.5', '@0.3', '@0.01', '@2', '@10', '@0.5 ', '@1e-1', '@5e1', '@0.333',
  '@.', '@', '@x', '@-1', '@-0.5', '@0.5x', '@1.5.5', '@ 0.5x', '@0x', 'x', '0.5', '', '@0.9999999', '@1e+1',
  '@00.5', '@.5.', '@1\t', '@0.2\r'];
const TYPES = ['c', 'c', 'c', 'ms', 'ms', 'g', 'g', 's', 'h', 'C', 'MS', 'ms ', ' c', 'g\t', 'd', 'kv', '', 'cc', 's\r',
  'c\r', 'ms\r', 'g\r'];
const TAG_ATOMS = ['env:prod', 'env:dev', 'host:a-1', 'r:us/east', 'a', 'k:v:w', 'x;y:z', 'sp ace:v', 'ü:ß', 't=1',
  'empty:', ':nv', '#x', '@y', '|', 'v\r', '', ' ', 'dup:1', 'dup:1', 'a,b', 'tab\t:1', 'e:1e5', '日本:語'];
function tags(R) {
  const r = R.f();
  if (r < 0.1) return '|#';
  if (r < 0.15) return '|#' + R.pick([',', ',,', ' ', '\r', ':', ';', '=']);
  if (r < 0.2) return '|#a:b|#c:d';
  const n = R.int(1, 4);
  const t = [];
  for (let i = 0; i < n; i++) t.push(R.pick(TAG_ATOMS));
  return '|#' + t.join(',');
}

function valuePart(R) {
  const type = R.pick(TYPES);
  let v;
  const t = type.trim().toLowerCase();
  if (t === 's' && R.chance(0.6)) v = R.pick(['alice', 'bob', 'ü', 'a b', '', '1', '1.0', 'x:y', 'x|y', 'carol', 'bob']);
  else v = num(R);
  let p = v + '|' + type;
  if (R.chance(0.25)) p += '|' + R.pick(RATES);
  if (R.chance(0.04)) p += '|extra';
  return p;
}

function line(R) {
  const r = R.f();
  if (r < 0.05) return R.pick(['', '\r', ' ', 'garbage', ':', '::', '|', 'k:', 'k:1', 'k|c', ':1|c', '|#t:v']);
  let l = key(R) + ':' + valuePart(R);
  if (R.chance(0.15)) { // several values per line
    const n = R.int(1, 3);
    for (let i = 0; i < n; i++) l += ':' + valuePart(R);
  }
  if (R.chance(0.2)) l += tags(R);
  if (R.chance(0.03)) l = l.replace('|', '|#t:v|'); // tags in the middle swallow the rest
  return l;
}

// statsd 0.9.0 dies (uncaught TypeError) on a rate that passes its check (`@` + something
// Number() accepts, not starting with '-') but not the regex /^@([\d.]+)/, e.g. "@ 1", "@+1",
// "@Infinity", "@\r", "@\t1". Such packets would end the run; probe_crash.js covers them.
function wouldCrash(p) {
  for (const ln of p.split('\n')) {
    if (!ln) continue;
    const bits = ln.split('|#')[0].split(':');
    bits.shift();
    for (const b of bits) {
      const f = b.split('|');
      if (f[1] === undefined || f[2] === undefined) continue;
      const s = f[2].slice(1);
      if (f[2][0] === '@' && s && !isNaN(s) && s[0] !== '-' && !/^[\d.]/.test(s)) return true;
    }
  }
  return false;
}

// Non-finite values and 0 sample rates are bad lines in the aggregator on purpose
// (docs/aggregator.md, "Deliberate differences"); the generator leaves them out so that
// every remaining difference is a bug. A value is non-finite when JavaScript's Number()
// of it is infinite (e.g. "1e400"), a rate is 0 when its regex match parses to 0.
function nonFinite(p) {
  for (const ln of p.split('\n')) {
    const bits = ln.split('|#')[0].split(':');
    bits.shift();
    for (const b of bits) {
      const f = b.split('|');
      const n = Number(f[0]);
      if (f[0].trim() !== '' && !Number.isFinite(n) && !Number.isNaN(n)) return true;
      if (/^\s*[+-]?Infinity/.test(f[0])) return true;
      if (f[2] !== undefined && f[2][0] === '@') {
        const m = f[2].match(/^@([\d.]+)/);
        if (m && Number(m[1]) === 0) return true;
      }
    }
  }
  return false;
}

function packet(R) {
  for (;;) {
    const n = R.chance(0.5) ? 1 : R.int(2, 7);
    const ls = [];
    for (let i = 0; i < n; i++) ls.push(line(R));
    let p = ls.join(R.pick(['\n', '\n', '\n', '\r\n', '\n\n', '\n\r\n']));
    const r = R.f();
    if (r < 0.1) p += '\n';
    else if (r < 0.15) p += '\r\n';
    else if (r < 0.18) p += '\r';
    else if (r < 0.2) p = '\n' + p;
    if (p.length === 0 || Buffer.byteLength(p) > 8000) continue;
    if (R.chance(0.005)) p = 'long.' + 'k'.repeat(R.int(30000, 64000)) + ':1|c\n' + p; // longer than a tcp line may be
    if (wouldCrash(p) || nonFinite(p)) continue;
    if (R.chance(0.04)) { // bytes that are not UTF-8: statsd reads them as U+FFFD
      const b = Buffer.from(p, 'utf8');
      const bad = [[0xff], [0xfe], [0x80], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x99], [0xed, 0xa0, 0x80], [0xc0, 0xaf]];
      const out = [];
      const at = new Set([R.int(0, b.length), R.int(0, b.length)]);
      for (let i = 0; i <= b.length; i++) {
        if (at.has(i)) out.push(...R.pick(bad));
        if (i < b.length) out.push(b[i]);
      }
      const q = Buffer.from(out);
      if (wouldCrash(q.toString()) || nonFinite(q.toString())) continue;
      return { hex: q.toString('hex') };
    }
    return p;
  }
}
// A packet is a string (sent as UTF-8) or {hex} (raw bytes).
const toBuf = (p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p.hex, 'hex'));

function makeRounds(n, seed) {
  const R = makeGen(seed);
  const rounds = [[]];
  const per = Math.ceil(n / 4);
  for (let sent = 0; sent < n; sent += per) {
    const pk = [];
    for (let j = 0; j < Math.min(per, n - sent); j++) pk.push(packet(R));
    rounds.push(pk);
  }
  rounds.push([], []); // idle flushes: what is kept, zeroed or deleted
  return rounds;
}

// ---------------------------------------------------------------- option sets
const OPTION_SETS = [
  { name: 'defaults', options: {} },
  { name: 'legacy_false_prefixes', options: {
    prefixStats: 'sd',
    graphite: { legacyNamespace: false, globalPrefix: 'gp', globalSuffix: 'host1', prefixCounter: 'cnt',
      prefixTimer: 'tmr', prefixGauge: 'gge', prefixSet: 'st' } } },
  { name: 'pct_hist_idle', options: {
    percentThreshold: [90, 99.9, -3, 50, 0.5], deleteIdleStats: true,
    histogram: [{ metric: 'lat', bins: [1, 10, 100.5, 'inf'] }, { metric: '', bins: [0.5, 50, 500] }] } },
];
// More option sets, run only when named in --sets.
const EXTRA_SETS = [
  { name: 'no_sanitize', options: { keyNameSanitize: false } },
  { name: 'no_flush_counts_legacy_false', options: { flush_counts: false, graphite: { legacyNamespace: false } } },
  { name: 'calculated_gauges_ttl', options: { percentThreshold: [95, -1], deleteGauges: true, gaugesMaxTTL: 2,
    deleteCounters: true, calculatedTimerMetrics: ['count', 'median', 'upper_percent', 'sum_squares', 'histogram'],
    histogram: [{ metric: 'hot', bins: [0, 'inf'] }] } },
];

function tomlStr(s) { return JSON.stringify(s); }
function tomlVal(v) {
  if (typeof v === 'string') return tomlStr(v);
  if (Array.isArray(v)) return '[' + v.map(tomlVal).join(', ') + ']';
  return String(v);
}
function aggToml(options, udpPort, sinkPort, maxLine) {
  let t = `times = ["2s:1h"]\nshards = 1\n[admin]\nlisten = ""\n[log]\nlevel = "warn"\n` +
    `[output]\nlines = "tcp://127.0.0.1:${sinkPort}"\n` +
    `[[listeners]]\nurl = "udp://127.0.0.1:${udpPort}"\nformat = "statsd"\n` +
    (maxLine ? `max_line_length = ${maxLine}\n` : '') + '[statsd]\n';
  const o = Object.assign({}, options, options.graphite || {});
  delete o.graphite;
  const hist = o.histogram;
  delete o.histogram;
  for (const [k, v] of Object.entries(o)) t += `${k} = ${tomlVal(v)}\n`;
  for (const h of hist || []) t += `[[statsd.histogram]]\nmetric = ${tomlStr(h.metric)}\nbins = ${tomlVal(h.bins)}\n`;
  return t;
}

// ---------------------------------------------------------------- helpers
function freePort(kind) {
  return new Promise((resolve, reject) => {
    const s = kind === 'udp' ? dgram.createSocket('udp4') : net.createServer();
    s.on('error', reject);
    const done = () => { const p = s.address().port; s.close(() => resolve(p)); };
    if (kind === 'udp') s.bind(0, '127.0.0.1', done); else s.listen(0, '127.0.0.1', done);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const VOLATILE_RE = /(processing_time|calculationtime|timestamp_lag|graphiteStats\.(last_flush|last_exception|flush_time|flush_length))/;

// A sink that groups lines into flushes by their timestamp; a flush is complete once a
// line with another timestamp arrived, its connection ended (statsd: one per flush) or
// nothing arrived for 150 ms (the aggregator keeps its connection).
function makeSink() {
  const s = { flushes: [], cur: null, lastData: 0, buf: {} };
  s.server = net.createServer((sock) => {
    const id = Math.random();
    s.buf[id] = '';
    sock.on('data', (d) => {
      s.lastData = Date.now();
      s.buf[id] += d.toString('latin1') // byte-exact; names are compared as bytes;
      let i;
      while ((i = s.buf[id].indexOf('\n')) >= 0) {
        const ln = s.buf[id].slice(0, i);
        s.buf[id] = s.buf[id].slice(i + 1);
        const sp = ln.lastIndexOf(' ');
        const ts = ln.slice(sp + 1);
        const rest = ln.slice(0, sp);
        const sp2 = rest.lastIndexOf(' ');
        const l = { name: rest.slice(0, sp2), raw: rest.slice(sp2 + 1) };
        if (s.cur && s.cur.ts !== ts) { s.flushes.push(s.cur); s.cur = null; }
        if (!s.cur) s.cur = { ts, at: Date.now(), lines: [] };
        s.cur.lines.push(l);
      }
    });
    sock.on('end', () => { if (s.cur) { s.flushes.push(s.cur); s.cur = null; } });
    sock.on('error', () => {});
  });
  s.poll = () => {
    if (s.cur && Date.now() - s.lastData > 150) { s.flushes.push(s.cur); s.cur = null; }
    return s.flushes.length;
  };
  return s;
}

function counterName(opts, k) {
  const g = opts.graphite || {};
  const legacy = g.legacyNamespace === undefined ? true : g.legacyNamespace;
  const suffix = g.globalSuffix !== undefined ? '.' + g.globalSuffix : '';
  const counts = opts.flush_counts !== false;
  if (legacy) return (counts ? 'stats_counts.' : 'stats.') + k + suffix;
  const gp = g.globalPrefix !== undefined ? g.globalPrefix : 'stats';
  const pc = g.prefixCounter !== undefined ? g.prefixCounter : 'counters';
  return [gp, pc].filter((x) => x !== '').concat([k, counts ? 'count' : 'rate']).join('.') + suffix;
}

// ---------------------------------------------------------------- one option set
async function runSet(set, rounds, A) {
  const dir = path.join(A.out, set.name);
  fs.mkdirSync(dir, { recursive: true });
  const sS = makeSink(), sA = makeSink();
  await new Promise((r) => sS.server.listen(0, '127.0.0.1', r));
  await new Promise((r) => sA.server.listen(0, '127.0.0.1', r));
  const udpS = await freePort('udp'), udpA = await freePort('udp'), mgmt = await freePort('tcp');
  const procs = [];
  const spawnLogged = (cmd, argv, cwd, log) => {
    const fd = fs.openSync(path.join(dir, log), 'w');
    const c = spawn(cmd, argv, { cwd, stdio: ['ignore', fd, fd] });
    c.exited = false;
    c.on('exit', () => { c.exited = true; });
    procs.push({ c, fd });
    return c;
  };
  const udp = dgram.createSocket('udp4');
  await new Promise((r) => udp.bind(0, '127.0.0.1', r));
  const send = (port, msg) => new Promise((res, rej) => {
    const b = toBuf(msg);
    udp.send(b, 0, b.length, port, '127.0.0.1', (e) => (e ? rej(e) : res()));
  });
  const waitFor = async (sink, count, proc, what) => {
    const deadline = Date.now() + INTERVAL * 3 + 1000;
    while (sink.poll() < count) {
      if (proc.exited) throw new Error(what + ' exited (see ' + dir + ')');
      if (Date.now() > deadline) throw new Error('timeout waiting for a flush of ' + what);
      await sleep(20);
    }
  };
  try {
    // the aggregator
    const cfgA = path.join(dir, 'aggregator.toml');
    fs.writeFileSync(cfgA, aggToml(set.options, udpA, sA.server.address().port, A.maxLine));
    const agg = spawnLogged(A.agg, ['--config', cfgA], ROOT, 'aggregator.log');
    await waitFor(sA, 1, agg, 'aggregator');
    // statsd, started so that its start second (Math.round of ms/1000) is odd
    for (;;) {
      const ph = Date.now() % 2000;
      if (ph >= 750 && ph < 950) break;
      await sleep(10);
    }
    const cfgS = path.join(dir, 'statsd.config.js');
    fs.writeFileSync(cfgS, JSON.stringify(Object.assign(JSON.parse(JSON.stringify(set.options)), {
      port: udpS, address: '127.0.0.1', mgmt_port: mgmt, mgmt_address: '127.0.0.1', graphiteHost: '127.0.0.1',
      graphitePort: sS.server.address().port, flushInterval: INTERVAL, backends: ['./backends/graphite'],
      automaticConfigReload: false, title: false }), null, 1));
    const sd = spawnLogged(process.execPath, ['stats.js', cfgS], STATSD_DIR, 'statsd.log');
    await waitFor(sS, 1, sd, 'statsd');
    const phase = (sS.flushes[0].at - sA.flushes[sA.flushes.length - 1].at + 4000) % 2000;
    if (phase < 600 || phase > 1400) throw new Error('statsd flushes ' + phase + ' ms after the aggregator');

    const result = [];
    for (let i = 0; i < rounds.length; i++) {
      let fS, fA;
      if (i === 0) {
        fS = sS.flushes[sS.flushes.length - 1]; fA = sA.flushes[sA.flushes.length - 1];
      } else {
        const nS = sS.poll(), nA = sA.poll();
        // paced (every 10 packets or 32 KB) so that statsd's socket buffer does not
        // overflow on a busy machine; a loss is retried anyway
        for (let j = 0, bytes = 0; j < rounds[i].length; j++) {
          await send(udpS, rounds[i][j]); await send(udpA, rounds[i][j]);
          bytes += toBuf(rounds[i][j]).length;
          if (j % 10 === 9 || bytes > 32768) { await sleep(2); bytes = 0; }
        }
        if (Date.now() - sS.flushes[nS - 1].at > 800) throw new Error('sending took too long');
        await waitFor(sA, nA + 1, agg, 'aggregator');
        await waitFor(sS, nS + 1, sd, 'statsd');
        if (sA.poll() !== nA + 1) throw new Error('the aggregator flushed twice in a round');
        fS = sS.flushes[nS]; fA = sA.flushes[nA];
      }
      const sent = rounds[i].length;
      const metrics = rounds[i].reduce((a, p) => a + toBuf(p).toString().split('\n').filter((x) => x.length > 0).length, 0);
      const ps = set.options.prefixStats || 'statsd';
      for (const [who, f] of [['statsd', fS], ['aggregator', fA]]) {
        if (i === 0) continue;
        const per = set.options.flush_counts === false ? INTERVAL / 1000 : 1; // rates per second
        const get = (k) => { const e = f.lines.find((l) => l.name === counterName(set.options, ps + '.' + k)); return e ? Number(e.raw) * per : undefined; };
        const msg = `round ${i}: ${who} read ${get('packets_received')}/${sent} packets, ${get('metrics_received')}/${metrics} lines`;
        if (get('packets_received') === sent && get('metrics_received') === metrics) continue;
        // statsd losing a datagram: retry the option set. The aggregator's counts are part of
        // the comparison (its udp buffer is 8 MiB; a difference there is reported, not retried).
        if (who === 'statsd') throw new Error(msg + ' (udp loss)');
        console.error(`[${set.name}] ${msg}`);
      }
      result.push({ round: i, packets: rounds[i], statsd: fS.lines, aggregator: fA.lines });
    }
    return result;
  } finally {
    udp.close();
    for (const { c } of procs) if (!c.exited) c.kill('SIGTERM');
    for (const { c, fd } of procs) { if (!c.exited) await new Promise((r) => c.on('exit', r)); fs.closeSync(fd); }
    sS.server.close(); sA.server.close();
  }
}

// ---------------------------------------------------------------- comparison
function numEq(a, b) {
  if (a === b) return true;
  if (a.includes('|') || b.includes('|')) {
    const x = a.split('|'), y = b.split('|');
    return x.length === y.length && x.every((v, i) => numEq(v, y[i]));
  }
  const x = Number(a), y = Number(b);
  if (a.trim() === '' || b.trim() === '' || !Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
}

function compareRound(r) {
  // Names can repeat in a flush (keyNameSanitize=false: "a b" as a counter and a gauge...):
  // the values of one name are compared as a sorted list, joined by '|'.
  const S = new Map(), G = new Map();
  let dupS = 0, dupA = 0;
  for (const l of r.statsd) { if (S.has(l.name)) dupS++; S.set(l.name, (S.get(l.name) || []).concat([l.raw])); }
  for (const l of r.aggregator) { if (G.has(l.name)) dupA++; G.set(l.name, (G.get(l.name) || []).concat([l.raw])); }
  for (const m of [S, G]) for (const [k, v] of m) m.set(k, v.sort().join('|'));
  const names = new Set([...S.keys(), ...G.keys()]);
  const diffs = [];
  let exact = 0;
  for (const n of names) {
    const a = S.get(n), b = G.get(n);
    if (VOLATILE_RE.test(n) && a !== undefined && b !== undefined) continue;
    if (a !== undefined && b !== undefined && a !== b) exact++;
    if (a === undefined) diffs.push({ kind: 'only-aggregator', name: n, aggregator: b });
    else if (b === undefined) diffs.push({ kind: 'only-statsd', name: n, statsd: a });
    else if (!numEq(a, b)) diffs.push({ kind: 'value', name: n, statsd: a, aggregator: b });
  }
  return { total: names.size, statsdLines: S.size, diffs, exact: exact + diffs.filter((d) => d.kind !== 'value').length, dupS, dupA };
}

// The packets of a round that could have made a flushed name: lines whose sanitised key
// (statsd's rule, tags included) occurs in it.
function sanitize(k) { return k.replace(/\s+/g, '_').replace(/\//g, '-').replace(/[^a-zA-Z_\-0-9.;=]/g, ''); }
function suspects(name, packets) {
  const out = [];
  for (const p of packets) {
    for (const ln of toBuf(p).toString().split('\n')) {
      const bits = ln.split('|#');
      let k = bits[0].split(':')[0];
      if (bits.length > 1 && bits[1].length > 0) k += ';' + bits[1].split(',').map((t) => t.replace(';', '_').replace(':', '=')).join(';');
      k = sanitize(k);
      if (k && (name.includes('.' + k + '.') || name.endsWith('.' + k))) { out.push(p); break; }
    }
  }
  return out;
}

async function main() {
  const A = args();
  if (!A.agg) {
    A.agg = path.join(A.out, 'aggregator');
    fs.mkdirSync(A.out, { recursive: true });
    execFileSync('go', ['build', '-o', A.agg, '.'], { cwd: path.resolve(ROOT, '../../..'), stdio: 'inherit' });
  }
  const rounds = A.packets ? [[], A.packets, []] : makeRounds(A.n, A.seed);
  const sets = A.sets ? OPTION_SETS.concat(EXTRA_SETS).filter((s) => A.sets.includes(s.name)) : OPTION_SETS;
  const summary = [];
  let anyDiff = false;
  for (const set of sets) {
    let res, lastErr;
    for (let attempt = 1; attempt <= 5 && !res; attempt++) {
      try { res = await runSet(set, rounds, A); } catch (e) { lastErr = e; console.error(`[${set.name}] attempt ${attempt}: ${e.message}`); await sleep(300); }
    }
    if (!res) throw lastErr;
    let total = 0, bad = 0, exact = 0, statsdLines = 0;
    const kinds = {};
    const report = [];
    for (const r of res) {
      const c = compareRound(r);
      total += c.total; bad += c.diffs.length; exact += c.exact; statsdLines += c.statsdLines;
      for (const d of c.diffs) {
        d.round = r.round;
        d.suspects = suspects(d.name, r.packets).slice(0, 5);
        report.push(d);
        const kind = d.kind + ' ' + d.name.replace(/\.[^.]*$/, '').split('.').slice(0, 2).join('.');
        kinds[kind] = (kinds[kind] || 0) + 1;
      }
      if (c.dupS || c.dupA) console.log(`[${set.name}] round ${r.round}: duplicate names statsd ${c.dupS} aggregator ${c.dupA}`);
    }
    fs.writeFileSync(path.join(A.out, set.name, 'rounds.json'), JSON.stringify(res, null, 1));
    fs.writeFileSync(path.join(A.out, set.name, 'diffs.json'), JSON.stringify(report, null, 1));
    const np = rounds.reduce((a, r) => a + r.length, 0);
    const line = `[${set.name}] packets=${np} rounds=${res.length} statsd_lines=${statsdLines} names=${total} ` +
      `differing=${bad} (${(100 * bad / total).toFixed(2)}%) exact_text_differing=${exact} (${(100 * exact / total).toFixed(2)}%)`;
    console.log(line);
    for (const [k, n] of Object.entries(kinds).sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`    ${n}\t${k}`);
    summary.push(line);
    if (bad) anyDiff = true;
  }
  console.log('\n' + summary.join('\n'));
  console.log(`details: ${A.out}/<set>/diffs.json (each difference with up to 5 suspect packets)`);
  process.exit(anyDiff ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(2); });
