#!/usr/bin/env node
/*
 * Golden-vector generator for Etsy statsd (npm "statsd").
 *
 * For every option set it:
 *   1. starts a TCP "graphite" sink on 127.0.0.1 (random port) in this process,
 *   2. writes a statsd config (JSON, statsd eval()s it) and spawns the real
 *      statsd daemon (node node_modules/statsd/stats.js <config>) bound to 127.0.0.1,
 *   3. waits for the first flush to arrive at the sink (recorded as round 0,
 *      no packets), then for each round sends that round's packets over UDP
 *      immediately after a flush was observed and waits for the next flush,
 *   4. checks that statsd's packets_received / metrics_received counts in that
 *      flush equal what was sent (otherwise the whole option set is retried),
 *   5. writes vectors/<name>.jsonl.
 *
 * Usage: node gen_vectors.js [outdir] [only-name,...]
 */
'use strict';
const fs = require('fs');
const path = require('path');
const net = require('net');
const dgram = require('dgram');
const { spawn } = require('child_process');

const ROOT = __dirname;
const STATSD_DIR = path.join(ROOT, 'node_modules', 'statsd');
const STATSD_VERSION = require(path.join(STATSD_DIR, 'package.json')).version;
const OUTDIR = path.resolve(process.argv[2] || path.join(ROOT, 'vectors'));
const ONLY = process.argv[3] ? process.argv[3].split(',') : null;
const FLUSH_INTERVAL = 2000;
const SEED = 0x5eed1234;

// ---------------------------------------------------------------- PRNG
function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeGen(seed) {
  const rnd = mulberry32(seed);
  const R = {
    f: rnd,
    int: (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(rnd() * arr.length)],
    chance: (p) => rnd() < p,
  };
  return R;
}

// ---------------------------------------------------------------- key pools
const COUNTER_KEYS = [
  'app.requests', 'app.errors', 'api.hits', 'foo.count', 'svc.calls',
  'my key', 'a/b/c', 'weird!@#$%^&*()key', 'ключ.utf8', 'emoji😀.k', 'tab\tkey',
  'nbsp\u00a0key', 'multi   space', 'dots..double', '-dash_start', 'eq=key',
  'semi;tagish', '', 'UPPER.Case.09', 'dup key', 'dup_key', 'x.packets_received.y',
  'my.metrics_received.total', 'café.latte', 'trailing.dot.', 'slash/ and space',
];
const TIMER_KEYS = [
  'foo.latency', 'db.query', 'render.time', 'foo', 'api/slow path', 't.ü', 'bar.timer',
  'single.sample', 'foo.bar.baz',
];
const GAUGE_KEYS = ['cpu.load', 'mem.free', 'queue depth', 'g.zero', 'temp/°C', 'disk.used'];
const SET_KEYS = ['users.unique', 'ips', 'set with space', 'set/ü', 'sessions'];
const HIST_KEYS = ['h.hist', 'foo.hist'];
const UNKNOWN_TYPES = ['x', 'C', 'kv', '', 'G', 'MS', 'd', 'ms ', ' ms', 'g ', 's ', 'c '];
const SET_VALUES = ['alice', 'bob', 'carol', '1', '1.0', ' 1', '0', '', '00', 'ü', '0x10', '16',
  'a b', 'x/y', '-5', 'Infinity', 'NaN', 'dave', 'eve', 'bob'];
const TAGS = [
  'env:prod', 'env:dev', 'host:web-1', 'region:us/east', 'a', 'k:v:w', 'a;b:c', 'sp ace:val',
  'ü:ß', 'team:core', 'x=y', 'empty:', ':novalue', 'dc:ams1', 'weird!:tag#1',
];

// Tag sections statsd 0.9.0 reads literally: a trailing '\r' stays in the last tag, a lone
// '|#\r' is a tag of its own (not the untagged series), a second '|#' is ignored.
const TAG_EDGES = ['|#\r', '|#,', '|#t:v,', '|#t:v|#u:w', '|# t:v', '|#t:v\r', '|#t:v,\r', '|#t;u:v',
  '|#t:v,t:v', '|#:', '|#t:', '|#\t'];

const RATES_OK = ['@0.5', '@0.1', '@0.25', '@1', '@.5', '@0.3', '@0.01', '@1.5', '@2', '@0.75',
  '@5.', '@1e-2' /* regex keeps only "1" -> rate 1 */, '@0.5 ' /* trailing space */];
const RATES_EDGE = ['@0', '@0x10' /* -> rate 0 */, '@0.0'];
const RATES_BAD = ['@abc', '@-0.5', '@', '', '@1.2.3', '@.', 'x0.5', '0.5', '@0.5abc', '@NaN'];

function counterValue(R) {
  const r = R.f();
  if (r < 0.45) return String(R.int(0, 20));
  if (r < 0.55) return String(R.int(21, 1000));
  if (r < 0.65) return (R.int(1, 999) / 10).toString();
  if (r < 0.70) return '-' + R.int(1, 10);
  return R.pick(['0x10', '1e3', '.5', ' 7', '+3', '-0', '0.1', '0.2', '5.', '0b101', '0o17',
    '1.5e1', '00012', '\t4', '0.3', '1e-7', '123456789.123']);
}
function timerValue(R) {
  const r = R.f();
  if (r < 0.5) return String(R.int(0, 500));
  if (r < 0.75) return (R.int(0, 100000) / 1000).toString();
  if (r < 0.85) return String(R.int(500, 100000));
  return R.pick(['0', '-0', '1e2', '0x1F', '.25', ' 12', '+8', '3.', '0.1', '0.2', '0.3',
    '1e-3', '99.9', '250.5']);
}
function gaugeValue(R) {
  const r = R.f();
  if (r < 0.4) return String(R.int(0, 1000));
  if (r < 0.5) return (R.int(-5000, 5000) / 100).toString(); // negative -> delta!
  if (r < 0.7) return '+' + R.int(0, 50);
  if (r < 0.8) return '-' + R.int(0, 50);
  return R.pick(['+0', '-0', ' +5', ' -5', '+1e2', '-.5', '+.25', '0x10', '3.14', '1e3',
    '0', '+0.1', '+0.2', '-2.5', '\t-3']);
}

function maybeTags(R) {
  if (!R.chance(0.15)) return '';
  const r = R.f();
  if (r < 0.08) return '|#';
  if (r < 0.14) return '|#a,,b';
  if (r < 0.22) return R.pick(TAG_EDGES);
  const n = R.int(1, 3);
  const t = [];
  for (let i = 0; i < n; i++) t.push(R.pick(TAGS));
  return '|#' + t.join(',');
}

function maybeRate(R, p) {
  if (!R.chance(p)) return '';
  return '|' + R.pick(RATES_OK);
}

// one "value part": value|type[|@rate]
function part(R, type) {
  switch (type) {
    case 'c': return counterValue(R) + '|c' + maybeRate(R, 0.3);
    case 'ms': return timerValue(R) + '|ms' + maybeRate(R, 0.2);
    case 'g': return gaugeValue(R) + '|g' + maybeRate(R, 0.05);
    case 's': return R.pick(SET_VALUES) + '|s' + maybeRate(R, 0.05);
    case 'h': return counterValue(R) + '|h' + maybeRate(R, 0.1);
  }
  throw new Error(type);
}

function badLine(R, round) {
  const k = 'bad.' + R.pick(['c', 'g', 'ms', 's']);
  return R.pick([
    k + ':5', 'justkey', k + '|c', k + ':abc|c', k + ':NaN|c', k + ':|c', k + ':|g', k + ':|ms',
    k + ':-5|ms', k + ':1|c|@abc', k + ':1|c|@-0.5', k + ':1|c|@', k + ':1|c|', k + ':1|c|@1.2.3',
    k + ':inf|c', k + ':0x|g', k + ':-0x10|g', k + ':+0x10|g', k + ':1e|ms', k + ':', ':',
    'part.bad:1|c:bad|c:2|c', k + ':abc|s ', k + ':1 2|c', k + ':infinity|g', k + ':1,5|c',
    k + ':1|c|' + R.pick(RATES_BAD), k + ':--1|c', k + ':1|ms|@.', k + ':abc|ms',
    k + ':1|c|@0.5|extra', /* valid actually: extra field ignored */
    'tagbad:1|#t:v|c' /* tags swallow the type */,
  ]);
}

function edgeLine(R, round) {
  return R.pick([
    'edge.inf.c:1|c|' + R.pick(RATES_EDGE),
    'edge.nan.c:0|c|@0',
    'edge.inf.c:Infinity|c',
    'edge.inf.c:-Infinity|c',
    'edge.inf.c:1e400|c',
    'edge.inf.ms:Infinity|ms',
    'edge.inf.ms:5|ms|@0',
    'edge.inf.g:Infinity|g',
    'edge.inf.g:-Infinity|g',
    'edge.inf.g:+5|g',
    'edge.empty.s:|s',
    'edge.space.c: |c',
    'edge.space.g:\t|g',
    'edge.neg.ms:-5|ms ',    // trailing space in type: validated as generic number -> negative timer accepted
    'edge.neg.ms2:-7|ms\r',
    'edge.type.g:12|g\r',
    'edge.type.s:abc|s\r',   // invalid (generic validation needs a number)
    'edge.type.s2:42|s\r',
    'edge.tagrate:1|c|#t:v|@0.5',
    'edge.rate1e:3|c|@1e-2',
    'edge.empty.type:4|',
    'edge.big.c:' + '9'.repeat(25) + '|c',
    'edge.small.g:1e-10|g',
    'edge.small.g:+1e-10|g',
    'edge.gauge.ws: +5|g',
    'edge.gauge.neg.first.' + round + '.' + R.int(0, 9999) + ':-7|g',
    // a '\r' ends up in the line's last field: type, rate or tag
    'edge.cr.c:1|c\r',
    'edge.cr.c:2|c|@0.5\r',
    'edge.cr.g:+5|g\r',
    'edge.cr.ms:5|ms\r',
    'edge.cr.multi:1|c:2|ms\r',
    'edge.cr.tag:1|c|#t:v\r',
    'edge.cr.tag:1|c|#\r',
    'edge.cr.tag:1|c|#',
    'edge.cr.tag:1|c',
    'edge.cr.tags:1|c|#a:b,c:d\r',
    'edge.cr.mid:1|c\r|@0.5',
    'edge.cr.key\r:1|c',
    '\r',
    '\redge.cr.lead:1|c',
  ]);
}

function line(R, round, fresh) {
  const r = R.f();
  let l;
  if (r < 0.28) l = R.pick(COUNTER_KEYS) + ':' + part(R, 'c');
  else if (r < 0.43) l = R.pick(TIMER_KEYS) + ':' + part(R, 'ms');
  else if (r < 0.55) l = R.pick(GAUGE_KEYS) + ':' + part(R, 'g');
  else if (r < 0.58) { // first-ever gauge delta on a brand-new key
    l = 'g.fresh.' + round + '.' + (fresh.n++) + ':' + R.pick(['+', '-']) + R.int(0, 30) + '|g';
  }
  else if (r < 0.67) l = R.pick(SET_KEYS) + ':' + part(R, 's');
  else if (r < 0.71) l = R.pick(HIST_KEYS) + ':' + part(R, 'h');
  else if (r < 0.75) l = 'u.unknown:' + counterValue(R) + '|' + R.pick(UNKNOWN_TYPES);
  else if (r < 0.83) { // several values per line, mixed types
    const n = R.int(2, 4);
    const ps = [];
    for (let i = 0; i < n; i++) ps.push(part(R, R.pick(['c', 'c', 'ms', 'g', 's', 'h'])));
    if (R.chance(0.2)) ps.splice(R.int(0, ps.length), 0, R.pick(['abc|c', '5', '|ms', '1|c|@x']));
    l = R.pick(['multi.a', 'multi.b', 'foo.multi']) + ':' + ps.join(':');
  }
  else if (r < 0.94) return badLine(R, round) + maybeTags(R);
  else return edgeLine(R, round);
  return l + maybeTags(R);
}

// statsd 0.9.0 throws (uncaught TypeError -> daemon exits) when a sample-rate field passes
// its validity check ("@" + something Number() accepts, not starting with "-") but the
// regex /^@([\d.]+)/ does not match (e.g. "@ 1", "@+1", "@Infinity", "@\r"). Such packets
// cannot be part of a vector; they are documented and exercised by probe_crash.js instead.
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

function packet(R, round, fresh) {
  for (;;) {
    const p = packet1(R, round, fresh);
    if (!wouldCrash(p)) return p;
  }
}

function packet1(R, round, fresh) {
  const n = R.chance(0.55) ? 1 : R.int(2, 6);
  const ls = [];
  for (let i = 0; i < n; i++) ls.push(line(R, round, fresh));
  const r = R.f();
  let sep = '\n';
  if (n > 1 && r < 0.1) sep = '\r\n';
  let p = ls.join(sep);
  const r2 = R.f();
  if (r2 < 0.08) p += '\n';
  else if (r2 < 0.12) p = '\n' + p + '\n\n';
  else if (r2 < 0.15 && n > 1) p = ls.join('\n\n');
  else if (r2 < 0.18) p += '\r\n';                 // CRLF at the end: the last line is empty
  else if (r2 < 0.20) p = '\r\n' + p;              // a leading line that is just '\r'
  else if (r2 < 0.22) p += '\n\r';                 // a last line that is just '\r'
  else if (r2 < 0.23) p = R.pick(['\n', '\n\n', '\r', '\r\n', '\n\r\n']); // no metric at all
  else if (r2 < 0.25 && n > 1) p = ls.join('\r\n\r\n');
  return p;
}

// Round plan: round 0 = first flush after startup (no packets), then these.
const ROUND_SIZES = [250, 250, 250, 250, 60, 0, 25];

function makeRounds(seed) {
  const R = makeGen(seed);
  const rounds = [[]];
  const fresh = { n: 0 };
  ROUND_SIZES.forEach((size, i) => {
    const pk = [];
    for (let j = 0; j < size; j++) pk.push(packet(R, i + 1, fresh));
    rounds.push(pk);
  });
  return rounds;
}

// Hand-written rounds exercising JavaScript-object quirks (non-crashing ones).
const QUIRK_ROUNDS = [
  [],
  [
    'constructor:1|c', 'toString:5|g', 'valueOf:+5|g', '__proto__:1|c', '__proto__:3|g',
    'qs:__proto__|s\nqs:a|s\nqs:constructor|s\nqs:|s\nqs:0|s', 'hasOwnProperty:2|c',
    'n:Infinity|c\nn:-Infinity|c', 'm:Infinity|c\nm:-Infinity|c\nm:5|c',
    'g:Infinity|g\ng:-Infinity|g', 'g2:Infinity|g\ng2:-Infinity|g\ng2:+5|g',
    'g0:0|g\ng0:-3|g', 'g3:10|g\ng3:-10|g\ng3:+4|g',
    'zz:1|c', '123:1|c', '5:1|c', '007:1|c', '4294967295:1|c', '4294967294:1|c', '-1:1|c',
    'T5:5|ms', 'T5:1|ms', 'T5:3|ms', 'T5:2|ms', 'T5:4|ms',
    '7:1|ms', '7:2|g', '8:x|s',
    'badutf8:1|c|#t:\ufffd',
    'emptyname:1|c', ':2|c', ':3|c|#t:v', ';t:v:1|c',
    'prefix.statsd.bad_lines_seen:1|c',
  ],
  [
    'constructor:1|c', 'toString:+1|g', 'valueOf:+5|g', 'n:1|c', 'g:+5|g', 'g0:+2|g',
    '123:1|c', 'T5:1|ms',
  ],
  [],
];

// ---------------------------------------------------------------- option sets
const OPTION_SETS = [
  { name: 'defaults', options: {} },
  { name: 'legacy_false', options: { graphite: { legacyNamespace: false } } },
  { name: 'legacy_false_prefixes', options: {
      prefixStats: 'sd',
      graphite: { legacyNamespace: false, globalPrefix: 'gp', globalSuffix: 'host1',
        prefixCounter: 'cnt', prefixTimer: 'tmr', prefixGauge: 'gge', prefixSet: 'st' } } },
  { name: 'legacy_false_empty_prefixes', options: {
      graphite: { legacyNamespace: false, globalPrefix: '', prefixCounter: '', prefixTimer: '',
        prefixGauge: '', prefixSet: '' } } },
  { name: 'legacy_true_suffix_prefixes', options: {
      prefixStats: 'myst',
      graphite: { legacyNamespace: true, globalPrefix: 'ignoredgp', globalSuffix: 'sfx',
        prefixCounter: 'ignoredc', prefixTimer: 'ignoredt', prefixGauge: 'ignoredg',
        prefixSet: 'ignoreds' } } },
  { name: 'percentiles', options: { percentThreshold: [90, 99.9, -10, 50] } },
  { name: 'percentiles_edge', options: { percentThreshold: [0, 100, -100, 150, -99.9, 0.5] } },
  { name: 'delete_idle', options: { deleteIdleStats: true } },
  { name: 'delete_idle_override', options: { deleteIdleStats: true, deleteGauges: false,
      deleteTimers: false } },
  { name: 'delete_gauges', options: { deleteGauges: true } },
  { name: 'delete_gauges_ttl3', options: { deleteGauges: true, gaugesMaxTTL: 3 } },
  { name: 'delete_counters', options: { deleteCounters: true } },
  { name: 'delete_timers', options: { deleteTimers: true } },
  { name: 'delete_sets', options: { deleteSets: true } },
  { name: 'histograms', options: { histogram: [
      { metric: 'foo', bins: [1, 10, 100.5, 'inf'] },
      { metric: 'db', bins: [] },
      { metric: '', bins: [0.5, 50, 500] } ] } },
  { name: 'no_sanitize', options: { keyNameSanitize: false } },
  { name: 'no_sanitize_legacy_false', options: { keyNameSanitize: false,
      graphite: { legacyNamespace: false } } },
  { name: 'calculated_timer_metrics', options: {
      percentThreshold: [90, -10, 99.9],
      calculatedTimerMetrics: ['count', 'median', 'upper_percent', 'mean_percent', 'lower_percent',
        'histogram'],
      histogram: [{ metric: 'foo', bins: [10, 'inf'] }] } },
  { name: 'no_flush_counts', options: { flush_counts: false } },
  { name: 'no_flush_counts_legacy_false', options: { flush_counts: false,
      graphite: { legacyNamespace: false } } },
  { name: 'legacy_namespace_0_hybrid', options: { graphite: { legacyNamespace: 0 } } },
  { name: 'quirks_js_objects', options: {}, rounds: QUIRK_ROUNDS },
  // found by a differential run (2026-12-01): thresholds whose count passes
  // any index (statsd prints it as it is), and Math.round's exact halves
  { name: 'percentiles_huge_round', options: {
    percentThreshold: [1e21, 1e18, 24.999999999999996, 12.499999999999998, 50] } },
  // globalSuffix set to "": statsd still appends "." (its !== undefined)
  { name: 'global_suffix_empty', options: { graphite: { globalSuffix: '' } } },
  { name: 'global_suffix_empty_legacy_false', options: {
    graphite: { legacyNamespace: false, globalSuffix: '' } } },
];

// ---------------------------------------------------------------- helpers
function freePort(kind) {
  return new Promise((resolve, reject) => {
    if (kind === 'udp') {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
      s.on('error', reject);
    } else {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
      s.on('error', reject);
    }
  });
}

const VOLATILE_RE = /(processing_time|calculationtime|timestamp_lag|graphiteStats\.(last_flush|last_exception|flush_time|flush_length))/;

function parsePayload(text, nameMayHaveSpaces) {
  const out = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const ln of lines) {
    const lastSp = ln.lastIndexOf(' ');
    const ts = ln.slice(lastSp + 1);
    const rest = ln.slice(0, lastSp);
    let name, raw;
    if (nameMayHaveSpaces) {
      const sp = rest.lastIndexOf(' ');
      name = rest.slice(0, sp); raw = rest.slice(sp + 1);
    } else {
      const sp = rest.indexOf(' ');
      name = rest.slice(0, sp); raw = rest.slice(sp + 1);
    }
    out.push({ name, raw, ts, line: ln });
  }
  return out;
}

function toValue(raw) {
  const n = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(n)) return n;
  return raw;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// ---------------------------------------------------------------- one option set
async function runSet(set) {
  const flushes = [];
  let waiter = null;
  const sink = net.createServer((sock) => {
    const chunks = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => {
      flushes.push({ at: Date.now(), text: Buffer.concat(chunks).toString('utf8') });
      if (waiter) { const w = waiter; waiter = null; w(); }
    });
    sock.on('error', () => {});
  });
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  const sinkPort = sink.address().port;
  const udpPort = await freePort('udp');
  const mgmtPort = await freePort('tcp');

  const cfg = Object.assign(JSON.parse(JSON.stringify(set.options)), {
    port: udpPort, address: '127.0.0.1', mgmt_port: mgmtPort, mgmt_address: '127.0.0.1',
    graphiteHost: '127.0.0.1', graphitePort: sinkPort, flushInterval: FLUSH_INTERVAL,
    backends: ['./backends/graphite'], automaticConfigReload: false, title: false,
  });
  const cfgDir = path.join(ROOT, 'work');
  fs.mkdirSync(cfgDir, { recursive: true });
  const cfgPath = path.join(cfgDir, set.name + '.config.js');
  fs.writeFileSync(cfgPath, JSON.stringify(cfg, null, 1));
  const logPath = path.join(cfgDir, set.name + '.statsd.log');
  const logFd = fs.openSync(logPath, 'w');
  const child = spawn(process.execPath, ['stats.js', cfgPath],
    { cwd: STATSD_DIR, stdio: ['ignore', logFd, logFd] });
  let childExited = false;
  child.on('exit', () => { childExited = true; if (waiter) { const w = waiter; waiter = null; w(); } });

  const udp = dgram.createSocket('udp4');
  await new Promise((r) => udp.bind(0, '127.0.0.1', r));
  const send = (msg) => new Promise((res, rej) => {
    const b = Buffer.from(msg, 'utf8');
    udp.send(b, 0, b.length, udpPort, '127.0.0.1', (e) => (e ? rej(e) : res()));
  });

  const waitFlush = async (count) => {
    const deadline = Date.now() + FLUSH_INTERVAL * 3 + 2000;
    while (flushes.length < count) {
      if (childExited) throw new Error('statsd exited (see ' + logPath + ')');
      if (Date.now() > deadline) throw new Error('timeout waiting for flush');
      await new Promise((r) => { waiter = r; setTimeout(r, 200); });
    }
  };

  const rounds = set.rounds || makeRounds(SEED);
  const prefixStats = set.options.prefixStats !== undefined ? set.options.prefixStats : 'statsd';
  const g = set.options.graphite || {};
  const legacy = g.legacyNamespace === undefined ? true : g.legacyNamespace;
  const suffix = g.globalSuffix !== undefined ? '.' + g.globalSuffix : '';
  const flushCounts = set.options.flush_counts === undefined ? true : set.options.flush_counts;
  function counterName(k) {
    // legacyNamespace that is neither true nor false (e.g. 0): legacy namespaces, non-legacy naming
    if (legacy !== true && legacy !== false) return 'stats.' + k + (flushCounts ? '.count' : '.rate') + suffix;
    if (legacy) return flushCounts ? 'stats_counts.' + k + suffix : 'stats.' + k + suffix;
    const gp = g.globalPrefix !== undefined ? g.globalPrefix : 'stats';
    const pc = g.prefixCounter !== undefined ? g.prefixCounter : 'counters';
    return [gp, pc].filter((x) => x !== '').concat([k, flushCounts ? 'count' : 'rate']).join('.') + suffix;
  }
  const divisor = flushCounts ? 1 : FLUSH_INTERVAL / 1000;
  const nameMayHaveSpaces = set.options.keyNameSanitize === false;

  const records = [];
  try {
    await waitFlush(1); // first flush after startup (round 0, nothing sent before it)
    for (let i = 0; i < rounds.length; i++) {
      const pk = rounds[i];
      if (i > 0) {
        const base = flushes.length;
        const t0 = Date.now();
        for (const p of pk) await send(p);
        const sendMs = Date.now() - t0;
        if (sendMs > FLUSH_INTERVAL / 2) throw new Error('sending took too long: ' + sendMs);
        await waitFlush(base + 1);
      }
      const fl = flushes[flushes.length - 1];
      const parsed = parsePayload(fl.text, nameMayHaveSpaces);
      // verify arrival
      const expectPackets = pk.length;
      const expectMetrics = pk.reduce((a, p) => a + p.split('\n').filter((x) => x.length > 0).length, 0);
      const find = (n) => { const e = parsed.find((x) => x.name === n); return e ? Number(e.raw) * divisor : undefined; };
      const gotP = find(counterName(prefixStats + '.packets_received'));
      const gotM = find(counterName(prefixStats + '.metrics_received'));
      if (gotP !== expectPackets || gotM !== expectMetrics) {
        throw new Error(`round ${i}: packets ${gotP}/${expectPackets} metrics ${gotM}/${expectMetrics}`);
      }
      const volatile = [...new Set(parsed.filter((x) => VOLATILE_RE.test(x.name)).map((x) => x.name))];
      records.push({
        round: i,
        packets: pk,
        lines: parsed.map((x) => [x.name, toValue(x.raw)]),
        raw_values: parsed.map((x) => x.raw),
        volatile,
      });
    }
  } finally {
    udp.close();
    if (!childExited) child.kill('SIGTERM');
    await new Promise((r) => (childExited ? r() : child.on('exit', r)));
    fs.closeSync(logFd);
    sink.close();
  }
  return records;
}

async function main() {
  fs.mkdirSync(OUTDIR, { recursive: true });
  for (const set of OPTION_SETS) {
    if (ONLY && !ONLY.includes(set.name)) continue;
    let records, lastErr;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try { records = await runSet(set); break; } catch (e) {
        lastErr = e; console.error(`[${set.name}] attempt ${attempt} failed: ${e.message}`);
        await sleep(500);
      }
    }
    if (!records) throw lastErr;
    const header = { statsd_version: STATSD_VERSION, options: set.options, flushInterval: FLUSH_INTERVAL,
      node_version: process.version, seed: set.rounds ? null : SEED,
      fixed_config: { address: '127.0.0.1', graphiteHost: '127.0.0.1', backends: ['./backends/graphite'],
        automaticConfigReload: false, title: false },
      notes: 'lines[i] = [graphite metric name, value (number, or raw string if not finite)]; raw_values[i] = exact value text; timestamps omitted; values of names in volatile vary run to run; round 0 is the first flush after startup (no packets sent before it).' };
    const out = [JSON.stringify(header)].concat(records.map((r) => JSON.stringify(r))).join('\n') + '\n';
    fs.writeFileSync(path.join(OUTDIR, set.name + '.jsonl'), out);
    const np = records.reduce((a, r) => a + r.packets.length, 0);
    console.log(`[${set.name}] rounds=${records.length} packets=${np} lines=${records.reduce((a, r) => a + r.lines.length, 0)}`);
  }
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
module.exports = { makeRounds, OPTION_SETS, SEED };
