#!/usr/bin/env python3
"""Independent model of carbon-c-relay 3.7.3's carbon_ch / fnv1a_ch / jump_fnv1a_ch
routing and of its production-path metric sanitising, written from the prose in
/tmp/golden/algorithms-c-relay.md (not from the relay's code).  Used only to check
that the prose is exact: it recomputes every golden vector and reports mismatches.

Usage: python3 c_relay_model.py [OUTDIR] [KEYS]
"""
import functools
import gzip
import hashlib
import os
import re
import sys

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


def _sx(b, mask):
    # bytes are C `char` (signed on x86-64/Debian amd64): >= 0x80 sign-extends
    return b if b < 0x80 else (b - 256) & mask


def fnv1a32(data):
    h = 2166136261
    for b in data:
        h = ((h ^ _sx(b, M32)) * 16777619) & M32
    return h


def fnv1a64(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ _sx(b, M64)) * 1099511628211) & M64
    return h


def carbon_pos(data):
    d = hashlib.md5(data).digest()
    return (d[0] << 8) | d[1]


def fnv1a_pos(data):
    h = fnv1a32(data)
    return (h >> 16) ^ (h & 0xFFFF)


def parse_member(spec):
    addr, eq, inst = spec.partition('=')
    ip, _, port = addr.rpartition(':')
    return ip, int(port), (inst if eq else None)


def cstrcmp(a, b):
    a, b = a.encode(), b.encode()
    return (a > b) - (a < b)


def build_ring(algo, members):
    """members: list of (ip, port, instance-or-None) in config order.
    Returns sorted list of [pos, member index] after duplicate-position fix-up."""
    entries = []
    for mi, (ip, port, inst) in enumerate(members):
        for i in range(100):
            if algo == 'carbon_ch':
                s = "('%s', %s):%d" % (ip, "'%s'" % inst if inst is not None else 'None', i)
                pos = carbon_pos(s.encode())
            else:
                s = '%d-%s' % (i, inst) if inst is not None else '%d-%s:%d' % (i, ip, port)
                pos = fnv1a_pos(s.encode())
            entries.append([pos, mi])

    def cmp(l, r):
        if l[0] != r[0]:
            return l[0] - r[0]
        il, pl, nl = members[l[1]]
        ir, pr, nr = members[r[1]]
        d = cstrcmp(il, ir)
        if d:
            return d
        if algo == 'carbon_ch':
            if nl is None and nr is None:
                return 0
            if nl is None:
                return 1
            if nr is None:
                return -1
            return cstrcmp(nl, nr)
        return pl - pr
    entries.sort(key=functools.cmp_to_key(cmp))   # Python's sort is stable, like glibc's merge sort
    for k in range(1, len(entries)):
        if entries[k][0] == entries[k - 1][0]:
            entries[k][1] = entries[k - 1][1]
    return entries


def jump_order(members):
    def cmp(l, r):
        nl, nr = members[l][2], members[r][2]
        if nl is None and nr is None:
            return l - r
        if nl is None:
            return 1
        if nr is None:
            return -1
        if re.fullmatch(r'\s*[+-]?\d+', nl) and re.fullmatch(r'\s*[+-]?\d+', nr):
            return int(nl) - int(nr)
        return cstrcmp(nl, nr)
    return sorted(range(len(members)), key=functools.cmp_to_key(cmp))


def jump(key, n):
    b, j = -1, 0
    while j < n:
        b = j
        key = (key * 2862933555777941757 + 1) & M64
        j = int(float(b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def route(algo, ring_or_order, name, repl):
    if algo == 'jump_fnv1a_ch':
        lst = list(ring_or_order)
        h = fnv1a64(name)
        out = []
        while True:
            j = jump(h, len(lst))
            out.append(lst[j])
            if len(out) == repl:
                return out, jump(fnv1a64(name), len(ring_or_order))
            h ^= h >> 12
            h ^= (h << 25) & M64
            h ^= h >> 27
            h = (h * 2685821657736338717) & M64
            lst[j] = lst[-1]
            lst.pop()
    ring = ring_or_order
    pos = carbon_pos(name) if algo == 'carbon_ch' else fnv1a_pos(name)
    # first entry with position >= pos, wrapping to 0
    lo, hi = 0, len(ring)
    while lo < hi:
        mid = (lo + hi) // 2
        if ring[mid][0] < pos:
            lo = mid + 1
        else:
            hi = mid
    t = lo % len(ring)
    out = []
    distinct = len({m for _, m in ring})
    if distinct < repl:
        return None, pos                # the relay spins forever here
    while len(out) < repl:
        m = ring[t][1]
        if m not in out:
            out.append(m)
        t = (t + 1) % len(ring)
    return out, pos


def sanitize(line, allowed=b'-_:#', tags=True):
    """Production dispatcher rules for one received line (without the newline).
    Returns (emitted_line, hashed_name) or None when the line is discarded."""
    q = bytearray()
    firstspace = None
    search_tags = tags
    for c in line:
        if c in (0x20, 0x09, 0x2E):          # ' ', '\t', '.'
            if not q:
                continue                      # leading separators are skipped
            if c == 0x09:
                c = 0x20
            if c == 0x20 and firstspace is None:
                if q[-1] == 0x2E:
                    q.pop()                   # strip trailing '.'
                firstspace = len(q)
                q.append(0x20)
            elif q[-1] != c and len(q) - 1 != firstspace:
                q.append(c)                   # collapse runs, no separator right after firstspace
        elif search_tags and c == 0x3B:      # ';'
            search_tags = False
            firstspace = len(q)
            q.append(c)
        elif c != 0 and (firstspace is not None or 0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A
                         or 0x30 <= c <= 0x39 or c in allowed):
            q.append(c)
        else:
            q.append(0x5F)                    # '_'
    if not q or firstspace is None:
        return None
    return bytes(q), bytes(q[:firstspace])


def load_vec(path):
    hdr, rows = [], {}
    with gzip.open(path, 'rb') as g:
        for ln in g.read().split(b'\n'):
            if not ln:
                continue
            if ln.startswith(b'#'):
                hdr.append(ln.decode())
                continue
            p = ln.split(b'\t')
            rows[int(p[0])] = (None if p[1] == b'-' else [int(x) for x in p[1].split(b',')],
                               p[2] if len(p) > 2 else None)
    return hdr, rows


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else '/tmp/golden/out/carbon-c-relay'
    keyf = sys.argv[2] if len(sys.argv) > 2 else '/tmp/golden/keys.txt'
    keys = open(keyf, 'rb').read().split(b'\n')[:-1]
    bad = 0

    # sanitising table
    san = {}
    with gzip.open(os.path.join(out, 'prod', 'sanitize.tsv.gz'), 'rb') as g:
        for ln in g.read().split(b'\n'):
            if ln and not ln.startswith(b'#'):
                i, em, hs = ln.split(b'\t')
                san[int(i)] = (em, hs)
    sbad = 0
    for i, k in enumerate(keys):
        r = sanitize(k + b' %d 1700000000' % i)
        em = r[0].rsplit(b' ', 2)[0]
        if (em, r[1]) != san[i]:
            sbad += 1
            if sbad < 5:
                print('sanitize mismatch', i, k, r, san[i])
    print('sanitize: %d mismatches' % sbad)
    bad += sbad

    hp_checked = 0
    for sub in ('', 'prod'):
        d = os.path.join(out, sub)
        for fn in sorted(os.listdir(d)):
            m = re.fullmatch(r'(\w+?_ch)_(\d+)n_(\w+)_r(\d)\.(tsv\.gz|NOT-GENERATED\.txt)', fn)
            if not m:
                continue
            algo, n, variant, repl = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
            if fn.endswith('.txt'):
                hdr = [l for l in open(os.path.join(d, fn)) if l.startswith('# member: ')]
            else:
                hdr, rows = load_vec(os.path.join(d, fn))
            members = [parse_member(h.strip()[len('# member: '):]) for h in hdr if h.startswith('# member: ')]
            assert len(members) == n
            struct = jump_order(members) if algo == 'jump_fnv1a_ch' else build_ring(algo, members)
            if fn.endswith('.txt'):
                res, _ = route(algo, struct, b'x', repl)
                ok = res is None
                print('%s/%s: model predicts non-termination: %s' % (sub or '.', fn, ok))
                bad += not ok
                continue
            nbad = 0
            hpos = None
            if not sub:
                hpf = os.path.join(out, 'hashpos', '%s_%dn.tsv.gz' % (algo, n) if algo == 'jump_fnv1a_ch'
                                   else '%s.tsv.gz' % algo)
                _, hp = load_vec(hpf)
                hpos = {i: v[0][0] for i, v in hp.items()}
            for i, k in enumerate(keys):
                name = k if not sub else san[i][1]
                res, pos = route(algo, struct, name, repl)
                if res != rows[i][0] or (hpos is not None and pos != hpos[i]):
                    nbad += 1
                    if nbad < 3:
                        print('  mismatch', fn, i, k, res, rows[i], pos, hpos and hpos[i])
                hp_checked += hpos is not None
                want3 = None if (san[i][0] if sub else k) == k else san[i][0]
                if rows[i][1] != want3:
                    nbad += 1
            if nbad:
                print('%s/%s: %d mismatches' % (sub or '.', fn, nbad))
            bad += nbad

    # rings
    for fn in sorted(os.listdir(os.path.join(out, 'rings'))):
        m = re.fullmatch(r'(\w+?_ch)_(\d+)n_(\w+)\.tsv\.gz', fn)
        algo = m.group(1)
        with gzip.open(os.path.join(out, 'rings', fn), 'rb') as g:
            lines = g.read().decode().split('\n')
        members = [parse_member(l[len('# member: '):]) for l in lines if l.startswith('# member: ')]
        got = [tuple(map(int, l.split('\t')[1:])) for l in lines if l and not l.startswith('#')]
        if algo == 'jump_fnv1a_ch':
            want = [(mi, mi) for mi in jump_order(members)]
        else:
            want = [tuple(e) for e in build_ring(algo, members)]
        if got != want:
            print('ring mismatch', fn)
            bad += 1
    print('model check: %d problems (%d hash positions compared)' % (bad, hp_checked))
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
