#!/usr/bin/env node
/*
 * Probe which single packets make statsd 0.9.0 die (uncaught exception in the
 * UDP message handler => the daemon exits). For each probe a fresh statsd is
 * started on 127.0.0.1, one packet is sent, and after a short wait we record
 * whether the process is still alive plus the first error line of its log.
 * Output: vectors/crash_probe.json (array of {packet, packet_hex, alive, error}).
 *
 * Usage: node probe_crash.js [outdir]
 */
'use strict';
const fs = require('fs');
const path = require('path');
const net = require('net');
const dgram = require('dgram');
const { spawn } = require('child_process');

const ROOT = __dirname;
const STATSD_DIR = path.join(ROOT, 'node_modules', 'statsd');
const OUTDIR = path.resolve(process.argv[2] || path.join(ROOT, 'vectors'));

const PROBES = [
  'a:1|c|@0.5',          // control: fine
  'a:1|c|@ 0.5',         // whitespace after @ -> isNumber ok, regex fails -> crash
  'a:1|c|@+0.5',
  'a:1|c|@Infinity',
  'a:1|c|@\r',           // "\r" is a valid number (0) for Number()
  'a:1|c|@\t',
  'a:1|c|@ ',
  'a:1|ms|@+1',
  'a:1|g|@Infinity',     // rate is validated+parsed for every type, even gauges
  'a:x|s|@ 1',           // ... and sets
  'a:1|c|@-1',           // rejected as bad line (no crash)
  'a:1|c|@0x10',         // regex takes "0" -> rate 0 -> Infinity (no crash)
  'toString:1|ms',       // timers[key] is an inherited function -> .push is not a function
  'valueOf:1|ms',
  'constructor:1|ms',
  '__proto__:1|ms',
  'hasOwnProperty:a|s',  // sets[key].insert is not a function
  'constructor:1|s',
  '__proto__:a|s',
  'toString:1|c',        // counters: no crash (string concatenation instead)
  '__proto__:1|c',       // counters: silently ignored
  { hex: '6b80ff3a317c63' }, // "k\x80\xff:1|c" invalid UTF-8 -> U+FFFD -> sanitised away (no crash)
];

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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function probe(p) {
  const buf = typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p.hex, 'hex');
  const udpPort = await freePort('udp');
  const mgmtPort = await freePort('tcp');
  const sinkPort = await freePort('tcp'); // nothing listens: graphite connect just fails quietly
  const dir = path.join(ROOT, 'work');
  fs.mkdirSync(dir, { recursive: true });
  const cfgPath = path.join(dir, 'probe.config.js');
  fs.writeFileSync(cfgPath, JSON.stringify({ port: udpPort, address: '127.0.0.1', mgmt_port: mgmtPort,
    mgmt_address: '127.0.0.1', graphiteHost: '127.0.0.1', graphitePort: sinkPort, flushInterval: 60000,
    automaticConfigReload: false, title: false }));
  const logPath = path.join(dir, 'probe.statsd.log');
  const fd = fs.openSync(logPath, 'w');
  const child = spawn(process.execPath, ['stats.js', cfgPath], { cwd: STATSD_DIR, stdio: ['ignore', fd, fd] });
  let exited = false, code = null;
  child.on('exit', (c) => { exited = true; code = c; });
  // wait for "server is up"
  for (let i = 0; i < 50 && !/server is up/.test(fs.readFileSync(logPath, 'utf8')); i++) await sleep(100);
  await sleep(200);
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.send(buf, udpPort, '127.0.0.1', r));
  s.close();
  await sleep(700);
  const alive = !exited;
  if (alive) child.kill('SIGTERM');
  await new Promise((r) => (exited ? r() : child.on('exit', r)));
  fs.closeSync(fd);
  const log = fs.readFileSync(logPath, 'utf8');
  const err = (log.split('\n').find((l) => /^\w*Error/.test(l)) || null);
  return { packet: buf.toString('utf8'), packet_hex: buf.toString('hex'), alive, exit_code: alive ? null : code, error: err };
}

(async () => {
  fs.mkdirSync(OUTDIR, { recursive: true });
  const res = [];
  for (const p of PROBES) {
    const r = await probe(p);
    console.log(JSON.stringify(r));
    res.push(r);
  }
  fs.writeFileSync(path.join(OUTDIR, 'crash_probe.json'), JSON.stringify(res, null, 1) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
