#!/usr/bin/env python3
"""Clean-room check of /tmp/golden/algorithms-python-node.md.

Re-implements both rings ONLY from the prose description (stdlib only, no carbon / hashring
import) and compares against every vector file in out/carbon-relay-py and out/statsd-hashring.
Also prints the worked examples quoted in the description.

    python3 /tmp/golden/scripts/verify_from_description.py        (any python3 >= 3.6)
"""
import bisect
import glob
import gzip
import hashlib
import os
import re
import sys

GOLDEN = "/tmp/golden"


# ----------------------------------------------------------------- carbon-relay.py
def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def carbon_pos(s, algo):
    b = s.encode("utf-8")
    if algo == "carbon_ch":
        d = hashlib.md5(b).digest()
        return (d[0] << 8) | d[1]                 # first 2 digest bytes, big-endian
    if algo == "fnv1a_ch":
        h = fnv1a32(b)
        return (h >> 16) ^ (h & 0xFFFF)
    raise ValueError(algo)


def parse_dest(s):
    s = s.strip()
    if s.startswith("["):
        b = s.rfind("]:")
        server, rest = s[1:b], s[b + 2:]
    else:
        c = s.find(":")
        server, rest = s[:c], s[c + 1:]
    if ":" in rest:
        port, _, inst = rest.partition(":")
    else:
        port, inst = rest, None
    return server, int(port), inst


def py_str_repr(s):
    # enough of Python's repr(str) for host names / instance names used here
    if "'" in s and '"' not in s:
        return '"' + s.replace("\\", "\\\\") + '"'
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def node_text(server, inst):
    return "(%s, %s)" % (py_str_repr(server), "None" if inst is None else py_str_repr(inst))


class CarbonRing(object):
    def __init__(self, dests, algo):
        self.algo = algo
        self.nodes = []
        taken = set()
        ring = []
        for d in dests:
            server, _port, inst = parse_dest(d)
            node = (server, inst)
            self.nodes.append(node)
            for i in range(100):
                if algo == "fnv1a_ch":
                    rk = "%d-%s" % (i, "None" if inst is None else inst)
                else:
                    rk = "%s:%d" % (node_text(server, inst), i)
                p = carbon_pos(rk, algo)
                while p in taken:
                    p += 1
                taken.add(p)
                ring.append((p, len(self.nodes) - 1))
        ring.sort()
        self.pos = [p for p, _ in ring]
        self.owner = [o for _, o in ring]
        self.n_distinct = len(set(self.nodes))

    def walk(self, key):
        L = len(self.pos)
        i = bisect.bisect_left(self.pos, carbon_pos(key, self.algo)) % L
        last = (i - 1) % L
        seen = set()
        while len(seen) < self.n_distinct and i != last:
            o = self.owner[i]
            if o not in seen:
                seen.add(o)
                yield o
            i = (i + 1) % L

    def route(self, key, repl, diverse):
        out = []
        if diverse:
            used = set()
            for o in self.walk(key):
                srv = self.nodes[o][0]
                if srv in used:
                    continue
                used.add(srv)
                out.append(o)
                if len(used) >= repl:
                    break
        else:
            for o in self.walk(key):
                if len(out) == repl:
                    break
                out.append(o)
        return out


def tag_normalize(path):
    """TAG_RELAY_NORMALIZED=True: returns normalized text, or the input unchanged on a parse error."""
    try:
        if path[-2:] == '"}' and "{" in path:
            metric, rawtags = path[:-1].split("{", 2)
            if not metric:
                raise ValueError
            tags = {}
            while rawtags:
                m = re.match(r'([^=]+)="((?:[\\]["\\]|[^"\\])+)"(:?,|$)', rawtags)
                if not m:
                    raise ValueError
                t, v = m.group(1), m.group(2).replace(r'\"', '"').replace(r'\\', '\\')
                check_tag(t, v)
                tags[t] = v
                rawtags = rawtags[len(m.group(0)):]
        else:
            segs = path.split(";")
            metric = segs[0]
            if not metric:
                raise ValueError
            tags = {}
            for seg in segs[1:]:
                tv = seg.split("=", 1)
                if len(tv) != 2 or not tv[0]:
                    raise ValueError
                check_tag(*tv)
                tags[tv[0]] = tv[1]
        name = metric.lstrip("~")
        if not name:
            raise ValueError
        tags["name"] = name
        return name + "".join(sorted(";%s=%s" % (t, v) for t, v in tags.items() if t != "name"))
    except ValueError:
        return path


def check_tag(t, v):
    if not t or not v or any(c in t for c in ";!^=") or ";" in v or v[0] == "~":
        raise ValueError


# ----------------------------------------------------------------- hashring 3.2.0 / statsd
def md5_le32(s):
    return int.from_bytes(hashlib.md5(s.encode("utf-8")).digest()[:4], "little")


class StatsdRing(object):
    def __init__(self, members, vnodes=40, weight=100):
        n = len(members)
        total = weight * n
        # JS: Math.floor((weight/total) * vnodes * n), evaluated left to right in IEEE doubles
        per = int((weight / total) * vnodes * n // 1)
        pts = []
        seq = 0
        for m_i, m in enumerate(members):
            for i in range(per):
                pts.append((md5_le32("%s-%d" % (m, i)), seq, m_i))
                seq += 1
        pts.sort()   # stable sort by value; ties keep insertion order
        self.val = [p[0] for p in pts]
        self.own = [p[2] for p in pts]
        self.per = per

    def find(self, h):
        i = bisect.bisect_left(self.val, h)
        return 0 if i == len(self.val) else i

    def range(self, key, size):
        start = self.find(md5_le32(key))
        out = []
        for j in list(range(start, len(self.val))) + list(range(0, start)):
            o = self.own[j]
            if o not in out:
                out.append(o)
            if len(out) == size:
                break
        return out


# ----------------------------------------------------------------- file checks
def read_vec(path):
    hdr, rows = {}, []
    members = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# member: "):
                members.append(line[len("# member: "):])
            elif line.startswith("# "):
                k, _, v = line[2:].partition(": ")
                hdr[k] = v
            else:
                i, _, ms = line.partition("\t")
                rows.append((int(i), [int(x) for x in ms.split(",")] if ms else []))
    return hdr, members, rows


def main():
    keys = open(os.path.join(GOLDEN, "keys.txt"), "rb").read().decode("utf-8").split("\n")[:-1]
    bad = 0
    nfiles = 0
    for path in sorted(glob.glob(os.path.join(GOLDEN, "out", "carbon-relay-py", "*_r*.tsv.gz"))):
        hdr, members, rows = read_vec(path)
        ring = CarbonRing(members, hdr["algo"])
        repl, div = int(hdr["replication"]), hdr["diverse"] == "true"
        tn = hdr.get("tag_relay_normalized") == "true"
        assert len(rows) == 10000 and [r[0] for r in rows] == list(range(10000)), path
        for i, got in rows:
            k = tag_normalize(keys[i]) if tn else keys[i]
            exp = ring.route(k, repl, div)
            if exp != got:
                bad += 1
                if bad < 10:
                    print("MISMATCH", os.path.basename(path), i, repr(keys[i]), got, exp)
        nfiles += 1
    for path in sorted(glob.glob(os.path.join(GOLDEN, "out", "statsd-hashring", "*_r*.tsv.gz"))):
        hdr, members, rows = read_vec(path)
        ring = StatsdRing(members)
        repl = int(hdr["replication"])
        assert len(rows) == 10000 and [r[0] for r in rows] == list(range(10000)), path
        for i, got in rows:
            k = keys[i].split(":")[0]
            exp = ring.range(k, repl)
            if exp != got:
                bad += 1
                if bad < 10:
                    print("MISMATCH", os.path.basename(path), i, repr(keys[i]), got, exp)
        nfiles += 1
    print("checked %d files, %d mismatching rows" % (nfiles, bad))

    # ---- worked examples used in the description
    print("\n== carbon_ch / fnv1a_ch worked examples ==")
    for s in ["('10.0.0.1', None):0", "('10.0.0.1', 'a'):0", "0-None", "0-a"]:
        d = hashlib.md5(s.encode()).hexdigest()
        print("%-24r md5=%s carbon_ch=%d fnv1a32=0x%08x fnv1a_ch=%d" % (
            s, d, carbon_pos(s, "carbon_ch"), fnv1a32(s.encode()), carbon_pos(s, "fnv1a_ch")))
    m3 = ["10.0.0.%d:2004" % i for i in (1, 2, 3)]
    r3 = CarbonRing(m3, "carbon_ch")
    for idx in (0, 1, 2, 3):
        k = keys[idx]
        p = carbon_pos(k, "carbon_ch")
        j = bisect.bisect_left(r3.pos, p) % len(r3.pos)
        print("key[%d]=%r md5=%s pos=%d -> ring[%d]=(%d, member %d); r3 walk=%s" % (
            idx, k if len(k) < 60 else k[:57] + "...", hashlib.md5(k.encode()).hexdigest()[:8], p, j,
            r3.pos[j], r3.owner[j], r3.route(k, 3, False)))
    print("ring(3n noinst carbon_ch) first 6 entries:", list(zip(r3.pos, r3.owner))[:6], "last:",
          list(zip(r3.pos, r3.owner))[-1])
    print("\n== hashring/statsd worked examples ==")
    sm = ["10.0.0.%d:8125" % i for i in (1, 2, 3)]
    sr = StatsdRing(sm)
    for s in ["10.0.0.1:8125-0", "10.0.0.1:8125-1"]:
        print("%r md5=%s value=%d" % (s, hashlib.md5(s.encode()).hexdigest(), md5_le32(s)))
    for idx in (0, 1, 2, 3):
        k = keys[idx]
        h = md5_le32(k)
        j = sr.find(h)
        print("key[%d]=%r md5=%s value=%d -> ring[%d]=(%d, member %d); range3=%s" % (
            idx, k if len(k) < 60 else k[:57] + "...", hashlib.md5(k.encode()).hexdigest()[:8], h, j,
            sr.val[j], sr.own[j], sr.range(k, 3)))
    print("ring(3n) first 3:", list(zip(sr.val, sr.own))[:3], "last:", list(zip(sr.val, sr.own))[-1])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
