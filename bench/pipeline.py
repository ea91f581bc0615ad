#!/usr/bin/env python3
"""bench/pipeline.sh's measuring and checking half (standard library only).

  monitor  samples every process's peak RSS and CPU, the aggregators' flush durations, the writers' stored points,
           the lag from each flush to its point being visible in /render, and /render latency under load; writes
           <work>/monitor.json when terminated.
  drain    waits until the writers have stored the stream's backlog.
  check    compares what is stored with what statblast sent, at every resolution, and prints the summary.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def read_pids(work):
    out = {}
    try:
        for line in open(os.path.join(work, "pids")):
            name, pid = line.split()
            out[name] = int(pid)
    except FileNotFoundError:
        pass
    return out


def counter_paths(statsd_keys, n):
    """n stats_counts paths of counter keys spread over the key space (key i is a counter when i % 8 < 4)."""
    step = max(8, statsd_keys // n)
    out = []
    i = 0
    while len(out) < n and i < statsd_keys:
        out.append(f"stats_counts.statblast.counter.k{i - i % 8 + (len(out) % 4)}")
        i += step
    return out


def render(port, targets, frm, until, timeout=60):
    body = urllib.parse.urlencode([("target", t) for t in targets] + [("from", str(frm)), ("until", str(until)),
                                                                       ("format", "json")]).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/render", data=body)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def monitor(a):
    state = {"rss_kib": {}, "anon_kib": {}, "cpu_s": {}, "flush_s": [], "agg_stats": {}, "writer_stored": [], "lag_s": [],
             "lag_timeouts": 0, "render_ms": {"100x1h": [], "100x24h": []}, "render_errors": 0, "start": time.time()}
    lock = threading.Lock()
    stop = threading.Event()
    aggs = [int(p) for p in a.aggs.split(",")]
    writers = [int(p) for p in a.writers.split(",")]

    def procs():
        last_flushes = {}
        while not stop.is_set():
            for name, pid in read_pids(a.work).items():
                try:
                    status = open(f"/proc/{pid}/status").read()
                    hwm = int(re.search(r"VmHWM:\s+(\d+)", status)[1])
                    anon = int(re.search(r"RssAnon:\s+(\d+)", status)[1])
                    st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                    cpu = (int(st[11]) + int(st[12])) / TICK
                except (OSError, TypeError):
                    continue
                with lock:
                    state["rss_kib"][name] = max(state["rss_kib"].get(name, 0), hwm)
                    state["anon_kib"][name] = max(state["anon_kib"].get(name, 0), anon)
                    state["cpu_s"][name] = cpu
            for port in aggs:
                try:
                    s = get_json(f"http://127.0.0.1:{port}/stats", 2)
                except OSError:
                    continue
                with lock:
                    state["agg_stats"][str(port)] = s
                    if s["flushes"] != last_flushes.get(port, 0):
                        state["flush_s"].append(s["last_flush_seconds"])
                        last_flushes[port] = s["flushes"]
            if a.relay:
                try:
                    dests = get_json(f"http://127.0.0.1:{a.relay}/stats", 2)["destinations"].values()
                    conns = get_json(f"http://127.0.0.1:{a.nats_monitor}/connz?limit=1024", 2)["connections"]
                    relay_in = [c for c in conns if c.get("name") == "consthash-relay"]
                    with lock:
                        state["relay"] = {"sent_lines": sum(d["sent_lines"] for d in dests),
                                          "dropped": sum(v for d in dests for k, v in d.items() if k.startswith("dropped")),
                                          "nats_msgs": sum(c["in_msgs"] for c in relay_in),
                                          "nats_bytes": sum(c["in_bytes"] for c in relay_in)}
                except (OSError, KeyError, ValueError):
                    pass
            stored = 0
            for port in writers:
                try:
                    stored += get_json(f"http://127.0.0.1:{port}/stats", 2)["points_stored"]
                except OSError:
                    pass
            with lock:
                state["writer_stored"].append((time.time(), stored))
            stop.wait(1)

    def lag():
        sample = counter_paths(a.statsd_keys, 10)
        boundary = (int(time.time()) // 10 + 3) * 10  # after the first flushes
        while not stop.is_set():
            while time.time() < boundary and not stop.is_set():
                stop.wait(0.05)
            seen = False
            while not stop.is_set() and time.time() < boundary + 60:
                try:
                    got = render(a.query, sample, boundary - 60, boundary + 10, 10)
                    vals = [dict((t, v) for v, t in s["datapoints"]).get(boundary - 10) for s in got]
                    if len(got) == len(sample) and all(v is not None for v in vals):
                        seen = True
                        break
                except (OSError, ValueError):
                    pass
                stop.wait(0.5)  # polling is load on query-api and the store: a lag is known to ±0.5 s
            # Only flushes of intervals that were sent in whole count: after the
            # senders stop (pipeline.sh writes sending-done), a later interval
            # holds no point to see.
            done = os.path.join(a.work, "sending-done")
            if os.path.exists(done) and os.path.getmtime(done) < boundary:
                break
            with lock:
                if seen:
                    state["lag_s"].append(time.time() - boundary)
                elif not stop.is_set():
                    state["lag_timeouts"] += 1
            boundary = (int(time.time()) // 10 + 1) * 10

    def renders():
        stop.wait(a.render_after)
        targets = counter_paths(a.statsd_keys, 100)
        for _ in range(10):
            for name, span in (("100x1h", 3600), ("100x24h", 86400)):
                if stop.is_set():
                    return
                now = int(time.time())
                t0 = time.time()
                try:
                    got = render(a.query, targets, now - span, now)
                    ms = (time.time() - t0) * 1000
                    with lock:
                        state["render_ms"][name].append(ms)
                        if len(got) != len(targets):
                            state["render_errors"] += 1
                except OSError:
                    with lock:
                        state["render_errors"] += 1
            stop.wait(2)

    threads = [threading.Thread(target=f, daemon=True) for f in (procs, lag, renders)]
    for t in threads:
        t.start()

    def finish(*_):
        stop.set()
        for t in threads:
            t.join(timeout=70)
        with lock:
            json.dump(state, open(os.path.join(a.work, "monitor.json"), "w"))
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    while True:
        time.sleep(3600)


def drain(a):
    deadline = time.time() + a.timeout
    last, stable = -1, 0
    while time.time() < deadline:
        stored, pending = 0, 0
        for port in a.writers.split(","):
            s = get_json(f"http://127.0.0.1:{port}/stats")
            stored += s["points_stored"]
            pending += s["pending_messages"]
        stable = stable + 1 if stored == last and pending == 0 else 0
        if stable >= 5:
            print(f"writers drained: {stored} points stored")
            return
        last = stored
        time.sleep(1)
    print(f"writers still had {pending} messages pending after {a.timeout} s", file=sys.stderr)


def store_dump(a):
    """What the store holds, per resolution seconds, per leaf path: (sum, count, min, max, bins, first bin, last bin,
    last value), read through the store's own reader by services/query-api/cmd/storedump (blocks decoded, producers
    merged)."""
    dsn = a.storage_dsn or "file:" + os.path.join(a.work, "consthash.db")
    cmd = ["go", "run", "./cmd/storedump", "--driver", a.store, "--dsn", dsn, "--times", ",".join(json.loads(a.times))]
    if a.store != "sqlite":
        cmd += ["--table", a.table]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(cmd, cwd=os.path.join(root, "services", "query-api"), capture_output=True, text=True, check=True).stdout
    by = {}
    for line in out.splitlines():
        f = line.split("\t")
        by.setdefault(int(f[0]), {})[f[1]] = tuple(conv(v) for v in f[2:])
    return by


def conv(v):
    for f in (int, float):
        try:
            return f(v)
        except ValueError:
            pass
    return v


def check(a):
    mon = json.load(open(os.path.join(a.work, "monitor.json")))
    es = json.load(open(os.path.join(a.work, "expect-statsd.json")))
    eg = json.load(open(os.path.join(a.work, "expect-graphite.json")))
    blasts = [json.load(open(os.path.join(a.work, f))) for f in ("statblast-statsd.json", "statblast-graphite.json")]
    steps = [s.split(":")[0] for s in json.loads(a.times)]
    secs = [int(x[:-1]) * {"s": 1, "m": 60, "h": 3600}[x[-1]] for x in steps]

    # Aggregators' own account at stop (their last log line about rollups) and the relay's drops.
    produced = lost_agg = refused = 0
    for name in read_pids(a.work):
        if name.startswith("aggregator"):
            log = open(os.path.join(a.work, name + ".log")).read()
            m = re.findall(r"rollups published.*?points_produced=(\d+).*?points_lost=(\d+).*?series_refused=(\d+)", log)
            if m:
                produced += int(m[-1][0])
                lost_agg += int(m[-1][1])
                refused += int(m[-1][2])
            else:
                print(f"{name}: no account of its rollups at stop (did it stop cleanly?)")
    stored = mon["writer_stored"][-1][1] if mon["writer_stored"] else 0
    send_errors = sum(b["send_errors"] for b in blasts)
    lines_sent = sum(b["lines"] for b in blasts)

    exact, problems = True, []
    relay = mon.get("relay", {})
    lost = lost_agg + max(0, produced - stored) + send_errors + refused + relay.get("dropped", 0)
    dump = store_dump(a)
    missing = 0
    for step, sec in zip(steps, secs):
        agg = dump.get(sec, {})
        last = {p: r[7] for p, r in agg.items() if p.startswith("stats.gauges.") or p.startswith("gblast.")}
        bad = []

        def want(path, got, exp, what):
            if got != exp:
                bad.append(f"{path} {what} {got} != sent {exp}")

        def row(path):
            r = agg.get(path)
            if r is None:
                bad.append(f"{path} missing")
            return r

        for k, v in es.get("counters", {}).items():
            if (r := row("stats_counts." + k)) is not None:
                want("stats_counts." + k, r[0], v, "sum")
                if sec == secs[0] and r[4] != (r[6] - r[5]) // sec + 1:
                    bad.append(f"stats_counts.{k}: {r[4]} of the {(r[6] - r[5]) // sec + 1} intervals between its first and last")
        for k, v in es.get("timers", {}).items():
            p = "stats.timers." + k
            for suffix, col, exp in ((".count", 0, v["count"]), (".sum", 0, v["sum"]), (".upper", 3, v["max"]),
                                     (".lower", 2, v["min"])):
                if (r := row(p + suffix)) is not None:
                    want(p + suffix, r[col], exp, ["sum", "count", "min", "max"][col])
        for k, v in es.get("gauges", {}).items():
            p = "stats.gauges." + k
            if p not in last:
                bad.append(f"{p} missing")
            else:
                want(p, last[p], v, "last")
        for k, v in es.get("sets", {}).items():
            if (r := row(f"stats.sets.{k}.count")) is not None and not (1 <= r[3] <= v):
                bad.append(f"stats.sets.{k}.count max {r[3]} outside 1..{v} members sent")
        for k, v in eg.get("graphite", {}).items():
            if (r := row(k)) is not None:
                for col, exp, what in ((0, v["sum"], "sum"), (1, v["count"], "count"), (2, v["min"], "min"), (3, v["max"], "max")):
                    want(k, r[col], exp, what)
                want(k, last.get(k), v["last"], "last")
        missing += sum(1 for b in bad if b.endswith("missing"))
        n = len(es.get("counters", {})) + len(es.get("timers", {})) + len(es.get("gauges", {})) + len(es.get("sets", {})) + len(eg.get("graphite", {}))
        print(f"resolution {step}: {len(agg)} series stored; {n} keys checked; {len(bad)} mismatches" +
              ("".join("\n    " + b for b in bad[:10])))
        if bad:
            exact = False
    lost += missing

    dur = a.end - a.start
    ws = mon["writer_stored"]
    in_run = [s for t, s in ws if t <= a.end]
    pps = (in_run[-1] if in_run else 0) / max(dur, 1)
    print(f"sent {lines_sent} lines ({send_errors} send errors); aggregators produced {produced} points, "
          f"lost {lost_agg} at stop, refused {refused} series; writers stored {stored} points")
    if relay:
        print(f"relay -> NATS: {relay['sent_lines']} lines in {relay['nats_msgs']} messages "
              f"({relay['sent_lines'] / max(relay['nats_msgs'], 1):.0f} lines, {relay['nats_bytes'] / max(relay['nats_msgs'], 1):.0f} "
              f"bytes per message); {relay['dropped']} dropped")
    print(f"points stored per second during the run: {pps:.0f} (all {stored} by the end of the drain)")
    print(f"flush seconds: p50 {pct(mon['flush_s'], 50):.3f} p99 {pct(mon['flush_s'], 99):.3f} max "
          f"{max(mon['flush_s'] or [float('nan')]):.3f} over {len(mon['flush_s'])} flushes")
    print(f"flush -> visible in /render: p50 {pct(mon['lag_s'], 50):.2f} s p99 {pct(mon['lag_s'], 99):.2f} s over "
          f"{len(mon['lag_s'])} flushes ({mon['lag_timeouts']} not visible within 60 s)")
    for k, v in mon["render_ms"].items():
        print(f"/render {k} under load: p50 {pct(v, 50):.0f} ms p99 {pct(v, 99):.0f} ms over {len(v)} requests")
    for name in sorted(mon["rss_kib"]):
        print(f"  {name:20s} peak RSS {mon['rss_kib'][name] / 1024:7.0f} MiB (anonymous {mon.get('anon_kib', {}).get(name, 0) / 1024:5.0f} MiB)"
              f"  CPU {mon['cpu_s'].get(name, 0):8.1f} s")
    for p in problems:
        print("note:", p)
    lag99 = pct(mon["lag_s"], 99) if not mon["lag_timeouts"] else float("inf")
    rss = max((v for k, v in mon["rss_kib"].items() if not k.startswith("statblast")), default=0) // 1024
    print(f"pipeline: store={a.store} series={a.series} duration={a.duration} points_per_s={pps:.0f} lost={lost} "
          f"exact={'yes' if exact and lost == 0 else 'no'} lag_p99_s={lag99:.2f} flush_p99_s={pct(mon['flush_s'], 99):.3f} "
          f"max_rss_mib={rss} render_100x1h_p50_ms={pct(mon['render_ms']['100x1h'], 50):.0f}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("monitor")
    m.add_argument("--work", required=True)
    m.add_argument("--aggs", required=True)
    m.add_argument("--writers", required=True)
    m.add_argument("--relay", type=int)
    m.add_argument("--nats-monitor", type=int)
    m.add_argument("--query", type=int, required=True)
    m.add_argument("--statsd-keys", type=int, required=True)
    m.add_argument("--graphite-keys", type=int)
    m.add_argument("--render-after", type=float, default=60)
    d = sub.add_parser("drain")
    d.add_argument("--writers", required=True)
    d.add_argument("--timeout", type=float, default=3600)
    c = sub.add_parser("check")
    for f in ("--work", "--store", "--storage-dsn", "--table", "--duration", "--times"):
        c.add_argument(f, default="")
    c.add_argument("--series", type=int)
    c.add_argument("--start", type=int)
    c.add_argument("--end", type=int)
    a = ap.parse_args()
    {"monitor": monitor, "drain": drain, "check": check}[a.cmd](a)


if __name__ == "__main__":
    main()
