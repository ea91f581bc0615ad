#!/usr/bin/env node
// Golden vectors from the REAL npm hashring@3.2.0, configured exactly as Etsy statsd 0.9.0 proxy.js does.
//
//   sh /tmp/golden/scripts/setup_hashring.sh          # once: npm pack + unpack into /tmp/golden/node_modules
//   cd /tmp/golden && node scripts/statsd_ring_vectors.js
//
// proxy.js (statsd 0.9.0) builds the ring like this:
//   nodes.forEach(e => node_ring[e.host + ':' + e.port] = 100);          // weight 100 each
//   ring = new hashring(node_ring, 'md5', {'max cache size': config.cacheSize || 10000, 'replicas': 0});
// and for every received UDP packet: msg.toString() (utf-8), split on "\n" if it contains one,
// key = line.split(':').shift(), then ring.get(key).
// Replication 1 = ring.get(key) (what proxy.js does); replication 2/3 = ring.range(key, n)
// (unique defaults to true). The proxy itself never uses range().
'use strict';
var fs = require('fs');
var path = require('path');
var zlib = require('zlib');
var crypto = require('crypto');
var GOLDEN = '/tmp/golden';
var HashRing = require(path.join(GOLDEN, 'node_modules', 'hashring'));
var OUT = path.join(GOLDEN, 'out', 'statsd-hashring');

var statsdVersion = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'pkgs', 'statsd-0.9.0', 'package.json'))).version;
var cpVersion = require(path.join(GOLDEN, 'node_modules', 'connection-parse', 'package.json')).version;
var lruVersion = require(path.join(GOLDEN, 'node_modules', 'simple-lru-cache', 'package.json')).version;
var PEER = 'npm hashring ' + HashRing.version + ' (connection-parse ' + cpVersion + ', simple-lru-cache ' +
  lruVersion + ') configured as Etsy statsd ' + statsdVersion + ' proxy.js, node ' + process.version;

// ---- keys -----------------------------------------------------------------------------
var raw = fs.readFileSync(path.join(GOLDEN, 'keys.txt'));
var keys = raw.toString('utf8').split('\n');
if (keys[keys.length - 1] !== '') throw new Error('keys.txt must end with newline');
keys.pop();
if (keys.length !== 10000) throw new Error('expected 10000 keys, got ' + keys.length);

// proxy.js key extraction for a packet consisting of one metric line "<key>:1|c"
function proxyKeys(packetBuf) {
  var packet_data = packetBuf.toString();
  var out = [];
  var lines = packet_data.indexOf('\n') > -1 ? packet_data.split('\n') : [packet_data];
  lines.forEach(function (current_metric) {
    var bits = current_metric.split(':');
    var key = bits.shift();
    if (current_metric !== '') out.push(key);
  });
  return out;
}
var hashed = keys.map(function (k, i) {
  var ks = proxyKeys(Buffer.from(k + ':1|c', 'utf8'));
  if (ks.length !== 1) throw new Error('key ' + i + ' produced ' + ks.length + ' proxy keys');
  return ks[0];
});
var nChanged = hashed.filter(function (h, i) { return h !== keys[i]; }).length;

// ---- ring construction exactly as proxy.js ------------------------------------------------
function buildRing(nodes, config) {
  var node_ring = {};
  nodes.forEach(function (element) {
    node_ring[element.host + ':' + element.port] = 100;
  });
  return new HashRing(node_ring, 'md5', {
    'max cache size': config.cacheSize || 10000,
    'replicas': 0
  });
}

function nodesFor(n, kind) {
  var a = [];
  if (kind === 'sharedip') {  // exampleProxyConfig.js style: one host, different ports
    for (var k = 0; k < n; k++) a.push({ host: '127.0.0.1', port: 8127 + 2 * k, adminport: 8128 + 2 * k });
    return a;
  }
  for (var i = 0; i < n; i++) a.push({ host: '10.0.0.' + (i + 1), port: 8125, adminport: 8126 });
  return a;
}

function lowerBound(ring, h) {           // independent check of ring.find()
  var lo = 0, hi = ring.length;
  while (lo < hi) { var m = (lo + hi) >>> 1; if (ring[m].value < h) lo = m + 1; else hi = m; }
  return lo === ring.length ? 0 : lo;
}

function writeGz(file, text) {
  fs.writeFileSync(file, zlib.gzipSync(Buffer.from(text, 'utf8')));
}

fs.mkdirSync(OUT, { recursive: true });
var summary = [];
[[3, 'noinst'], [7, 'noinst'], [12, 'noinst'], [30, 'noinst'], [3, 'sharedip']].forEach(function (cfg) {
  var n = cfg[0], kind = cfg[1];
  var nodes = nodesFor(n, kind);
  var members = nodes.map(function (e) { return e.host + ':' + e.port; });
  var idx = {};
  members.forEach(function (m, i) { idx[m] = i; });

  var ring = buildRing(nodes, {});
  // sanity: points per server, sortedness, find() == lower bound with wrap
  var perServer = {};
  ring.ring.forEach(function (p) { perServer[p.server] = (perServer[p.server] || 0) + 1; });
  for (var j = 1; j < ring.ring.length; j++) if (ring.ring[j - 1].value > ring.ring[j].value) throw new Error('unsorted');
  var vals = new Set(ring.ring.map(function (p) { return p.value; }));
  hashed.forEach(function (k) {
    var h = ring.hashValue(k);
    if (ring.find(h) !== lowerBound(ring.ring, h)) throw new Error('find != lower bound for ' + k);
  });

  [1, 2, 3].forEach(function (r) {
    var fresh = buildRing(nodes, {});   // fresh ring per file (cache cannot influence anything anyway)
    var lines = [];
    lines.push('# peer: ' + PEER);
    lines.push('# algo: hashring_md5 (ketama-like, statsd proxy.js: weight 100 each, replicas 0->1, vnode count 40)');
    lines.push('# replication: ' + r);
    lines.push('# diverse: false');
    lines.push('# method: ' + (r === 1 ? 'ring.get(key)  (as proxy.js)' : 'ring.range(key, ' + r + ')  (unique=true default)'));
    lines.push('# key: proxy.js key = text before the first ":" of the metric line; equals the raw key for all ' +
      (keys.length - nChanged) + '/' + keys.length + ' keys');
    members.forEach(function (m) { lines.push('# member: ' + m); });
    hashed.forEach(function (k, i) {
      var res;
      if (r === 1) {
        res = [fresh.get(k)];
        var rr = fresh.range(k, 1);
        if (rr.length !== 1 || rr[0] !== res[0]) throw new Error('get != range(.,1) for ' + k);
      } else {
        res = fresh.range(k, r);
        if (fresh.get(k) !== res[0]) throw new Error('get != range[0] for ' + k);
      }
      lines.push(i + '\t' + res.map(function (s) { return idx[s]; }).join(','));
    });
    var name = 'hashring_md5_' + n + 'n_' + kind + '_r' + r + '.tsv.gz';
    writeGz(path.join(OUT, name), lines.join('\n') + '\n');
    summary.push(name + ' keys=' + hashed.length + ' points=' + ring.ring.length + ' distinct_points=' + vals.size +
      ' per_server=' + JSON.stringify(Object.keys(perServer).map(function (s) { return perServer[s]; })));
  });

  if (n === 3 && kind === 'noinst') {
    // ring positions with the vnode key that produced each point (recomputed independently)
    var origin = {};
    members.forEach(function (m) {
      for (var i = 0; i < 40; i++) {
        var d = crypto.createHash('md5').update(m + '-' + i).digest();
        origin[d.readUInt32LE(0) + '|' + m] = m + '-' + i;
      }
    });
    var pl = ['# peer: ' + PEER, '# algo: hashring_md5'];
    members.forEach(function (m) { pl.push('# member: ' + m); });
    pl.push('# columns: position(uint32)<TAB>member index<TAB>vnode key hashed (md5, first 4 bytes little-endian); ring.ring order');
    ring.ring.forEach(function (p) { pl.push(p.value + '\t' + idx[p.server] + '\t' + origin[p.value + '|' + p.server]); });
    writeGz(path.join(OUT, 'ring_positions_hashring_md5_3n_noinst.tsv.gz'), pl.join('\n') + '\n');
  }
});
summary.forEach(function (s) { console.log(s); });
console.log('proxy-key != raw key for ' + nChanged + ' keys');
