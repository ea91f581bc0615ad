#!/usr/bin/env python3
"""Deterministic key set for hash-ring golden vectors: one key per line, UTF-8."""
import random, sys

def main(n=10000, seed=20261125):
    r = random.Random(seed)
    words = ["servers", "web", "db", "cpu", "load", "mem", "disk", "eth0", "rx", "tx", "nginx", "requests",
             "latency", "p99", "count", "stats", "gauges", "timers", "api", "prod", "eu-west", "us_east", "host-01"]
    utf = ["ünïcødé", "日本語", "метрика", "naïve", "Ω", "çà", "🚀", "ß"]
    out, seen = [], set()
    kinds = ["ascii", "tagged", "utf8", "long", "empty", "short", "digits"]
    i = -1
    while len(out) < n:
        i += 1
        k = kinds[i % len(kinds)]
        depth = r.randint(1, 8)
        parts = [r.choice(words) + (str(r.randint(0, 999)) if r.random() < .5 else "") for _ in range(depth)]
        if k == "tagged":
            key = ".".join(parts) + "".join(";%s=%s" % (r.choice(words), r.choice(words)) for _ in range(r.randint(1, 3)))
        elif k == "utf8":
            parts[r.randrange(depth)] = r.choice(utf)
            key = ".".join(parts)
        elif k == "long":
            key = ".".join(r.choice(words) for _ in range(r.randint(60, 200)))
        elif k == "empty":
            j = r.randrange(depth + 1)
            parts.insert(j, "")
            key = ".".join(parts)
            if r.random() < .3:
                key = "." + key
            if r.random() < .3:
                key = key + "."
        elif k == "short":
            key = chr(r.randint(ord('a'), ord('z'))) * r.randint(1, 3)
        else:
            key = ".".join(parts) if k == "ascii" else ".".join(parts) + "." + str(i)
        if key not in seen:
            seen.add(key)
            out.append(key)
    sys.stdout.write("".join(k + "\n" for k in out))

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
