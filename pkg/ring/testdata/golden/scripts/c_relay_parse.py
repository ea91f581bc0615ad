#!/usr/bin/env python3
"""Post-processing helper for c_relay_vectors.sh (golden vectors from carbon-c-relay -t -d).

Sub-commands
  parse   : parse one `carbon-c-relay -t -d` run into a vector file (+ ring dump, hash positions)
  hang    : write a note for a config whose test run did not terminate
  sanitize: turn the relay's `file` cluster output (production dispatcher path) into a
            sanitisation table
  prodinput: write a test-mode input whose names are the production-hashed bytes
  listen  : run TCP listeners on loopback (used to observe real production routing)
  compare : compare production routing captured by `listen` with a test-mode vector file
  check   : verify all vector files (10,000 key lines each, consistent hash positions)

Everything works on raw bytes; keys are never decoded.
"""
import argparse
import gzip
import io
import os
import re
import socket
import sys
import threading
import time

NKEYS = 10000


def read_keys(path):
    with open(path, 'rb') as f:
        data = f.read()
    keys = data.split(b'\n')
    if keys and keys[-1] == b'':
        keys.pop()
    assert len(keys) == NKEYS, len(keys)
    return keys


def read_members(conf):
    """Member specs exactly as written in the generated config (lines between the
    `cluster` line and the terminating `;`)."""
    members = []
    with open(conf, 'rb') as f:
        lines = f.read().split(b'\n')
    inside = False
    for ln in lines:
        s = ln.strip()
        if s.startswith(b'cluster '):
            inside = True
            continue
        if inside:
            if s == b';':
                break
            if s:
                members.append(s.decode('ascii'))
    return members


def member_addr(spec):
    return spec.split('=', 1)[0]


def gz_write(path, text_bytes):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as raw:
        # mtime=0 and no file name -> byte-reproducible output
        with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0, compresslevel=9) as g:
            g.write(text_bytes)
    os.replace(tmp, path)


def parse_run(raw, algo, nrepl):
    """Return (ring, results). ring = list of (pos, label) from the debug ring dump.
    results = list of (printed_metric, hash_pos, [addr, ...]) or (printed_metric, None, None)
    for 'nothing matched'."""
    lines = raw.split(b'\n')
    ring = []
    i = 0
    # ring dump (debug mode): between '# hash ring for c follows' and the next blank line
    while i < len(lines):
        if lines[i].startswith(b'# hash ring for '):
            i += 1
            while i < len(lines) and lines[i].strip() != b'':
                for m in re.finditer(rb'\s*(\d+)@(\S+)', lines[i]):
                    ring.append((int(m.group(1)), m.group(2).decode('ascii')))
                i += 1
            break
        i += 1
    # first per-metric block starts at a line that is exactly 'match' or 'nothing matched ...'
    i = 0
    while i < len(lines) and lines[i] != b'match' and not lines[i].startswith(b'nothing matched '):
        i += 1
    results = []
    head = ('    %s(c)' % algo).encode()
    while i < len(lines):
        ln = lines[i]
        if ln == b'':
            i += 1
            continue
        if ln.startswith(b'nothing matched '):
            results.append((ln[len(b'nothing matched '):], None, None))
            i += 1
            continue
        assert ln == b'match', (i, ln)
        assert lines[i + 1].startswith(b'    * -> '), lines[i + 1]
        metric = lines[i + 1][len(b'    * -> '):]
        assert lines[i + 2] == head, (lines[i + 2], head)
        m = re.fullmatch(rb'        hash_pos\((\d+)\)', lines[i + 3])
        assert m, lines[i + 3]
        hpos = int(m.group(1))
        dests = []
        for k in range(nrepl):
            d = lines[i + 4 + k]
            assert d.startswith(b'        ') and not d.startswith(b'         '), d
            dests.append(d.strip().decode('ascii'))
        assert lines[i + 4 + nrepl] == b'    stop', lines[i + 4 + nrepl]
        results.append((metric, hpos, dests))
        i += 5 + nrepl
    return ring, results


def cmd_parse(a):
    keys = read_keys(a.keys)
    if a.names:
        names = read_keys(a.names)      # the bytes actually fed (hashed) per key
    else:
        names = keys
    members = read_members(a.conf)
    addr2idx = {}
    for idx, spec in enumerate(members):
        ad = member_addr(spec)
        assert ad not in addr2idx, 'duplicate address %s' % ad
        addr2idx[ad] = idx
    with open(a.raw, 'rb') as f:
        raw = f.read()
    ring, results = parse_run(raw, a.algo, a.r)
    assert len(results) == NKEYS, (a.raw, len(results))

    shown = None
    if a.shown:
        shown = read_keys(a.shown)      # third-column text (production: emitted name)
    out = io.BytesIO()
    out.write(('# peer: %s\n' % a.peer).encode())
    out.write(('# algo: %s\n' % a.algo).encode())
    out.write(('# replication: %d\n' % a.r).encode())
    for extra in a.comment or []:
        out.write(('# %s\n' % extra).encode())
    for spec in members:
        out.write(('# member: %s\n' % spec).encode())
    hpos_lines = io.BytesIO()
    nlines = 0
    for idx, (metric, hpos, dests) in enumerate(results):
        fed = names[idx]
        if metric != fed:
            raise SystemExit('key %d: relay printed %r but was fed %r' % (idx, metric, fed))
        if dests is None:
            col = b'-'
        else:
            col = ','.join(str(addr2idx[d]) for d in dests).encode()
        third = b''
        ref = shown[idx] if shown is not None else metric
        if ref != keys[idx]:
            third = b'\t' + ref
        out.write(b'%d\t%s%s\n' % (idx, col, third))
        hpos_lines.write(b'%d\t%s\n' % (idx, b'-' if hpos is None else str(hpos).encode()))
        nlines += 1
    assert nlines == NKEYS
    gz_write(a.out, out.getvalue())

    if a.hashpos:
        body = hpos_lines.getvalue()
        hdr = ('# peer: %s\n# algo: %s\n# hash_pos as printed by `-t -d` (%s)\n' % (
            a.peer, a.algo,
            'bucket index into the sorted member list, jump over all members'
            if a.algo == 'jump_fnv1a_ch' else '16-bit ring position of the key')).encode()
        if os.path.exists(a.hashpos):
            with gzip.open(a.hashpos, 'rb') as g:
                old = g.read()
            old_rows = [l for l in old.split(b'\n') if l and not l.startswith(b'#')]
            if old_rows != [l for l in body.split(b'\n') if l]:
                raise SystemExit('hash positions differ between configs for %s' % a.hashpos)
        else:
            gz_write(a.hashpos, hdr + body)

    if a.ring:
        # map printed label ip:port[=inst] back to member index
        lab2idx = {}
        for idx, spec in enumerate(members):
            lab2idx[spec] = idx
            lab2idx[spec[:20]] = idx     # the relay truncates labels to 20 chars
        rb_ = io.BytesIO()
        rb_.write(('# peer: %s\n# algo: %s\n' % (a.peer, a.algo)).encode())
        if a.algo == 'jump_fnv1a_ch':
            rb_.write(b'# ring order = bucket order; "position" is the member\'s 0-based config index\n')
        else:
            rb_.write(b'# ring entries in sorted order, AFTER the relay overwrote equal positions with the first entry\'s member\n')
        for spec in members:
            rb_.write(('# member: %s\n' % spec).encode())
        rb_.write(b'# <ring slot>\t<position>\t<member index>\n')
        for slot, (pos, lab) in enumerate(ring):
            rb_.write(b'%d\t%d\t%d\n' % (slot, pos, lab2idx[lab]))
        gz_write(a.ring, rb_.getvalue())
    print('%s: %d keys, ring entries %d' % (os.path.basename(a.out), nlines, len(ring)))


def cmd_hang(a):
    members = read_members(a.conf)
    with open(a.out, 'w') as f:
        f.write('# peer: %s\n# algo: %s\n# replication: %d\n' % (a.peer, a.algo, a.r))
        for spec in members:
            f.write('# member: %s\n' % spec)
        f.write('# NOT GENERATED: `carbon-c-relay -t` did not finish within %ss on this config.\n' % a.timeout)
        f.write('# It printed %s complete result blocks before being killed.\n' % a.blocks)
        f.write('# Cause: fewer distinct servers are reachable on the ring than the replication\n'
                '# count, so the replica walk in ch_get_nodes never terminates (see algorithms-c-relay.md).\n')


def cmd_sanitize(a):
    """Input: file-cluster output lines '<metric> <index> 1700000000'."""
    keys = read_keys(a.keys)
    got = {}
    with open(a.raw, 'rb') as f:
        for ln in f.read().split(b'\n'):
            if not ln:
                continue
            metric, idx, ts = ln.rsplit(b' ', 2)
            assert ts == b'1700000000', ln
            idx = int(idx)
            assert idx not in got, idx
            got[idx] = metric
    out = io.BytesIO()
    out.write(('# peer: %s\n' % a.peer).encode())
    out.write(b'# production (dispatcher) path, default -c "-_:#", tags enabled; observed via a `file` cluster\n')
    out.write(b'# <key index>\t<metric as emitted by the relay, incl. tags>\t<bytes the ring hashes: emitted metric up to its first \';\'>\n')
    out.write(b'# - in column 2 means the relay discarded the line\n')
    emitted = []
    hashed = []
    for idx in range(NKEYS):
        m = got.get(idx)
        if m is None:
            out.write(b'%d\t-\t-\n' % idx)
            emitted.append(b'-')
            hashed.append(b'-')
            continue
        h = m.split(b';', 1)[0]
        out.write(b'%d\t%s\t%s\n' % (idx, m, h))
        emitted.append(m)
        hashed.append(h)
    gz_write(a.out, out.getvalue())
    with open(a.emitted, 'wb') as f:
        f.write(b'\n'.join(emitted) + b'\n')
    with open(a.hashed, 'wb') as f:
        f.write(b'\n'.join(hashed) + b'\n')
    changed = sum(1 for i in range(NKEYS) if emitted[i] != keys[i])
    tagchg = sum(1 for i in range(NKEYS) if hashed[i] != emitted[i])
    print('sanitize: %d keys emitted, %d differ from input, %d carry tags (hashed part shorter), %d dropped'
          % (len(got), changed, tagchg, NKEYS - len(got)))


def cmd_prodinput(a):
    names = read_keys(a.hashed)
    with open(a.out, 'wb') as f:
        for n in names:
            f.write(n + b' 1 1700000000\n')


def cmd_listen(a):
    """Listen on each host:port given (index = member index); record every line received as
    '<listener index>\t<line>' into a.out; exit once a.expect lines were received
    (or after a.timeout seconds)."""
    addrs = [x.rsplit(':', 1) for x in a.addrs.split(',')]
    lock = threading.Lock()
    count = [0]
    outf = open(a.out, 'wb')
    done = threading.Event()

    def serve_conn(conn, li):
        buf = b''
        while True:
            d = conn.recv(65536)
            if not d:
                break
            buf += d
            *full, buf = buf.split(b'\n')
            with lock:
                for ln in full:
                    outf.write(b'%d\t%s\n' % (li, ln))
                count[0] += len(full)
                if count[0] >= a.expect:
                    done.set()
        conn.close()

    def accept_loop(s, li):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=serve_conn, args=(c, li), daemon=True).start()

    socks = []
    for li, (h, port) in enumerate(addrs):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((h, int(port)))
        s.listen(16)
        socks.append(s)
        threading.Thread(target=accept_loop, args=(s, li), daemon=True).start()
    open(a.ready, 'w').close()
    done.wait(a.timeout)
    time.sleep(0.5)
    with lock:
        outf.flush()
        outf.close()
    print('listen: received %d lines (expected %d)' % (count[0], a.expect))
    sys.exit(0 if count[0] >= a.expect else 1)


def cmd_compare(a):
    """Compare production deliveries (listen output; the value field carries the key
    index) with a test-mode vector file.  Replica order is not observable in
    production, so sets are compared."""
    prod = {}
    with open(a.capture, 'rb') as f:
        for ln in f.read().split(b'\n'):
            if not ln:
                continue
            li, line = ln.split(b'\t', 1)
            metric, idx, ts = line.rsplit(b' ', 2)
            prod.setdefault(int(idx), []).append(int(li))
    vec = {}
    with gzip.open(a.vectors, 'rb') as g:
        for ln in g.read().split(b'\n'):
            if not ln or ln.startswith(b'#'):
                continue
            parts = ln.split(b'\t')
            vec[int(parts[0])] = [] if parts[1] == b'-' else [int(x) for x in parts[1].split(b',')]
    agree = sum(1 for i in range(NKEYS) if sorted(prod.get(i, [])) == sorted(vec.get(i, [])))
    print('compare %s vs %s: %d/%d keys agree' % (os.path.basename(a.capture),
                                                  os.path.basename(a.vectors), agree, NKEYS))
    with open(a.report, 'a') as r:
        r.write('%s\t%s\t%d/%d\n' % (os.path.basename(a.capture), os.path.basename(a.vectors), agree, NKEYS))
    if a.must_agree and agree != NKEYS:
        sys.exit(1)


def cmd_check(a):
    bad = 0
    n = 0
    for root, _, files in os.walk(a.dir):
        for fn in sorted(files):
            if not fn.endswith('.tsv.gz') or '/rings' in root or '/hashpos' in root:
                continue
            if fn == 'sanitize.tsv.gz':
                continue
            p = os.path.join(root, fn)
            with gzip.open(p, 'rb') as g:
                data = g.read().split(b'\n')
            kl = [l for l in data if l and not l.startswith(b'#')]
            idxs = [int(l.split(b'\t')[0]) for l in kl]
            ok = idxs == list(range(NKEYS))
            n += 1
            if not ok:
                bad += 1
                print('BAD', p, len(kl))
    print('check: %d vector files, %d bad' % (n, bad))
    sys.exit(1 if bad else 0)


def main():
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest='cmd', required=True)
    p = sp.add_parser('parse')
    p.add_argument('--keys', required=True)
    p.add_argument('--names', help='file with the names actually fed, one per key (default: keys)')
    p.add_argument('--shown', help='file with the third-column text per key')
    p.add_argument('--conf', required=True)
    p.add_argument('--raw', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--algo', required=True)
    p.add_argument('--r', type=int, required=True)
    p.add_argument('--peer', required=True)
    p.add_argument('--comment', action='append')
    p.add_argument('--ring')
    p.add_argument('--hashpos')
    p.set_defaults(f=cmd_parse)
    p = sp.add_parser('hang')
    p.add_argument('--conf', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--algo', required=True)
    p.add_argument('--r', type=int, required=True)
    p.add_argument('--peer', required=True)
    p.add_argument('--timeout', required=True)
    p.add_argument('--blocks', required=True)
    p.set_defaults(f=cmd_hang)
    p = sp.add_parser('sanitize')
    p.add_argument('--keys', required=True)
    p.add_argument('--raw', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--emitted', required=True)
    p.add_argument('--hashed', required=True)
    p.add_argument('--peer', required=True)
    p.set_defaults(f=cmd_sanitize)
    p = sp.add_parser('prodinput')
    p.add_argument('--hashed', required=True)
    p.add_argument('--out', required=True)
    p.set_defaults(f=cmd_prodinput)
    p = sp.add_parser('listen')
    p.add_argument('--addrs', required=True, help='host:port,host:port,... in member order')
    p.add_argument('--expect', type=int, required=True)
    p.add_argument('--timeout', type=float, default=60)
    p.add_argument('--out', required=True)
    p.add_argument('--ready', required=True)
    p.set_defaults(f=cmd_listen)
    p = sp.add_parser('compare')
    p.add_argument('--capture', required=True)
    p.add_argument('--vectors', required=True)
    p.add_argument('--report', required=True)
    p.add_argument('--must-agree', action='store_true')
    p.set_defaults(f=cmd_compare)
    p = sp.add_parser('check')
    p.add_argument('--dir', required=True)
    p.set_defaults(f=cmd_check)
    a = ap.parse_args()
    a.f(a)


if __name__ == '__main__':
    main()
