#!/usr/bin/python3
"""bench/query.sh's measuring half: checks that every server answers the same data, then measures each request on
each server one request at a time, and prints the table and the machine-readable last lines.

  query.py SERVERS.json END DURATION

SERVERS.json: [{"name": ..., "port": ..., "pids": [...], "tree": bool, "store": "sqlite"|"cassandra"|null,
                "extra_pids": {"cassandra": [...]}}]; tree = also count the pids' children (gunicorn's workers).
Requests (absolute times, the data set ends at END):
  render_day:  bench.render.* (100 series x 1 day at 10 s), maxDataPoints=1000
  render_hour: the same over the last hour
  find:        /metrics/find of bench.find.0[1-3]?.*.05?
  render_wide: bench.wide.* (WIDE series x DAYS at WIDE_STEP), maxDataPoints=1000, timed one request at a time
The first three run under wrk (1 thread, 1 connection, --timeout, after a warm-up); p50/p99 come from wrk's
"Latency Distribution" block. CPU per request is the servers' processes' CPU time (utime + stime, /proc) over the
run divided by the requests wrk completed.
"""
import json, os, re, statistics, subprocess, sys, time, urllib.parse, urllib.request

servers = json.load(open(sys.argv[1]))
end, duration = int(sys.argv[2]), sys.argv[3]
wrk_timeout = os.environ.get('WRK_TIMEOUT', '60s')
warmup = os.environ.get('WARMUP', '2s')
wide_budget = float(os.environ.get('WIDE_BUDGET', '20'))  # seconds of timed wide requests per server (at least 2)
tick = os.sysconf('SC_CLK_TCK')

def q(**kv):
    return urllib.parse.urlencode(kv, safe='*')

requests = {
    'render_day': '/render?' + q(target='bench.render.*', maxDataPoints=1000, format='json', **{'from': end - 86400, 'until': end}),
    'render_hour': '/render?' + q(target='bench.render.*', maxDataPoints=1000, format='json', **{'from': end - 3600, 'until': end}),
    'find': '/metrics/find?' + q(query='bench.find.0[1-3]?.*.05?', format='treejson'),
    'render_wide': '/render?' + q(target='bench.wide.*', maxDataPoints=1000, format='json',
                                  **{'from': end - int(os.environ.get('WIDE_DAYS', '7')) * 86400, 'until': end}),
}

def children(pid):
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                st = open('/proc/%s/stat' % d).read()
            except OSError:
                continue
            if int(st[st.rindex(')') + 2:].split()[1]) == pid:
                out.append(int(d))
    return out

def cpu_seconds(pids, tree=False):
    """CPU seconds (user + system) of pids (and, with tree, their children) so far."""
    total = 0.0
    todo = list(pids)
    if tree:
        for p in pids:
            todo += children(p)
    for p in todo:
        try:
            f = open('/proc/%d/stat' % p).read()
        except OSError:
            continue
        fields = f[f.rindex(')') + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total

def cpu_of(s):
    return cpu_seconds(s['pids'], s.get('tree', False))

def extra_cpu(s):
    return {k: cpu_seconds(v) for k, v in s.get('extra_pids', {}).items()}

def get(port, path, timeout=300):
    with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=timeout) as r:
        return r.read()

def ms(s, out):
    m = re.fullmatch(r'([\d.]+)(us|ms|s|m)', s)
    if not m:
        sys.exit('query.py: cannot read wrk latency %r in:\n%s' % (s, out))
    v, u = float(m.group(1)), m.group(2)
    return {'us': v / 1000, 'ms': v, 's': v * 1000, 'm': v * 60000}[u]

def parse_wrk(out):
    """p50, p99 (ms) and completed requests from wrk --latency's output: the percentiles only from the
    "Latency Distribution" block (the Thread Stats line's "+/- Stdev" column also ends in %)."""
    block = out.split('Latency Distribution', 1)
    if len(block) != 2:
        sys.exit('query.py: no latency distribution in wrk output:\n' + out)
    pct = dict(re.findall(r'^\s+(\d+)%\s+(\S+)\s*$', block[1], re.M))
    n = int(re.search(r'^\s*(\d+) requests in', out, re.M).group(1))
    errors = re.search(r'Socket errors: (.*)$', out, re.M)
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    if errors or non2xx:
        sys.exit('query.py: wrk saw errors (%s%s):\n%s' % (errors.group(1) if errors else '',
                 ' non-2xx ' + non2xx.group(1) if non2xx else '', out))
    if n < 3:
        return None  # too slow for DURATION: run_wrk times requests itself
    return ms(pct['50'], out), ms(pct['99'], out), n

def run_wrk(s, path):
    url = 'http://127.0.0.1:%d%s' % (s['port'], path)
    subprocess.run(['wrk', '-t1', '-c1', '-d' + warmup, '--timeout', wrk_timeout, url], check=True, capture_output=True)
    c0, x0, t0 = cpu_of(s), extra_cpu(s), time.monotonic()
    out = subprocess.run(['wrk', '-t1', '-c1', '-d' + duration, '--timeout', wrk_timeout, '--latency', url],
                         check=True, capture_output=True, text=True).stdout
    wall = time.monotonic() - t0
    c1, x1 = cpu_of(s), extra_cpu(s)
    parsed = parse_wrk(out)
    if parsed is None:
        print('  %s: wrk completed fewer than 3 requests in %s; timing them one by one' % (s['name'], duration),
              file=sys.stderr)
        return run_seq(s, path)
    p50, p99, n = parsed
    return {'p50': p50, 'p99': p99, 'n': n, 'rps': n / wall, 'cpu': (c1 - c0) * 1000 / n,
            'extra': {k: (x1[k] - x0[k]) * 1000 / n for k in x0}}

def run_seq(s, path):
    """One request at a time, timed here: a warm-up, then requests until wide_budget seconds (at least 2)."""
    get(s['port'], path)
    times, c0, x0 = [], cpu_of(s), extra_cpu(s)
    started = time.monotonic()
    while len(times) < 2 or (time.monotonic() - started < wide_budget and len(times) < 50):
        t = time.monotonic()
        get(s['port'], path)
        times.append((time.monotonic() - t) * 1000)
    c1, x1 = cpu_of(s), extra_cpu(s)
    times.sort()
    n = len(times)
    return {'p50': statistics.median(times), 'p99': times[min(n - 1, int(n * 0.99))], 'n': n,
            'rps': n / (time.monotonic() - started), 'cpu': (c1 - c0) * 1000 / n,
            'extra': {k: (x1[k] - x0[k]) * 1000 / n for k in x0}}

def shape(name, body):
    """(series, points in the first series, sum of every non-null value) of a render, (matches,) of a find."""
    d = json.loads(body)
    if name == 'find':
        return (len(d),)
    if name == 'find_all':
        return (len(d['metrics']),)
    total = sum(v for s in d for v, _ in s['datapoints'] if v is not None)
    return (len(d), len(d[0]['datapoints']) if d else 0, round(total, 1))

# Check: every server answers every request with the same shape.
print('\nanswers (render: series, points in the first, sum of all values; find: nodes; find_all: matches):')
bad = False
failed = {}  # (request, server): error, for render_wide (reported, not measured)
checks = dict(requests, find_all=requests['find'].replace('treejson', 'completer'))
for name, path in checks.items():
    shapes = {}
    for s in servers:
        try:
            shapes[s['name']] = shape(name, get(s['port'], path))
        except Exception as e:  # a server that cannot answer fails the run below (render_wide: is reported)
            shapes[s['name']] = ('error: %s' % e,)
            if name == 'render_wide':
                failed[(name, s['name'])] = str(e)
            else:
                bad = True
    print('  %-12s %s' % (name, '; '.join('%s %s' % (k, ' '.join(map(str, v))) for k, v in shapes.items())))
    # the same data: as many series, and sums of every value within 1% of graphite-web's (consolidation buckets may
    # start a step apart); a render whose values are all null (sum 0) answered nothing
    ref = shapes.get('graphite-web')
    for k, v in shapes.items():
        if k == 'graphite-web' or (name, k) in failed:
            continue
        wrong = v[0] in (0, None) or (name.startswith('render') and (v[2] == 0 or v[0] != ref[0] or
                                      abs(v[2] - ref[2]) > 0.01 * abs(ref[2])))
        if wrong:
            print('  %s: %s answers %s, graphite-web %s' % (name, k, v, ref))
            if name == 'render_wide':
                failed[(name, k)] = 'a different answer than graphite-web\'s'
            else:
                bad = True
if bad:
    sys.exit('query.py: a server answered nothing or failed (above)')

results = {}
for name, path in requests.items():
    for s in servers:
        if (name, s['name']) in failed:
            continue
        r = (run_seq if name == 'render_wide' else run_wrk)(s, path)
        results[(name, s['name'])] = r
        print('  measured %-12s %-22s p50 %9.1f ms (%d requests)' % (name, s['name'], r['p50'], r['n']), file=sys.stderr, flush=True)

print('\n%-12s %-22s %10s %10s %8s %6s %14s' % ('request', 'server', 'p50_ms', 'p99_ms', 'req/s', 'n', 'cpu_ms/req'))
for name in requests:
    for s in servers:
        if (name, s['name']) in failed:
            print('%-12s %-22s failed: %s' % (name, s['name'], failed[(name, s['name'])]))
            continue
        r = results[(name, s['name'])]
        extra = ''.join(' (+%s %.0f)' % (k, v) for k, v in r['extra'].items())
        print('%-12s %-22s %10.1f %10.1f %8.2f %6d %14.1f%s' % (name, s['name'], r['p50'], r['p99'], r['rps'], r['n'], r['cpu'], extra))

def p50(req, server):
    return results[(req, server)]['p50']

print()
lines = []
for s in servers:
    if not s.get('store'):
        continue
    us = s['name']
    if ('render_wide', us) in failed:
        print('store=%s: render of %s: failed (%s): target < 1000 ms MISSED' % (
            s['store'], os.environ.get('WIDE_DESC', 'the wide set'), failed[('render_wide', us)]))
    else:
        wide = p50('render_wide', us)
        print('store=%s: render of %s: %.0f ms p50 (target < 1000 ms: %s)' % (
            s['store'], os.environ.get('WIDE_DESC', 'the wide set'), wide, 'met' if wide < 1000 else 'MISSED'))
    lines.append('query: store=%s render_day_ratio=%.2f render_day_vs_carbonapi=%.2f render_hour_ratio=%.2f find_ratio=%.2f' % (
        s['store'], p50('render_day', 'graphite-web') / p50('render_day', us),
        p50('render_day', 'carbonapi+go-carbon') / p50('render_day', us),
        p50('render_hour', 'graphite-web') / p50('render_hour', us),
        p50('find', 'graphite-web') / p50('find', us)))
# sqlite's line last: one store's line per run is the contract, the other comes just before it.
lines.sort(key=lambda l: l.startswith('query: store=sqlite'))
print('\n'.join(lines))
