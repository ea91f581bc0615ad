#!/usr/bin/python3
"""Golden vectors from the REAL carbon-relay (graphite-carbon, Debian package) routing code.

Run with the Debian interpreter (the package lives in /usr/lib/python3/dist-packages):

    /usr/bin/python3 /tmp/golden/scripts/carbon_relay_vectors.py

For every configuration this script
  * fills carbon's global `carbon.conf.settings` (RELAY_METHOD=consistent-hashing,
    DESTINATIONS, REPLICATION_FACTOR, DIVERSE_REPLICAS, ROUTER_HASH_TYPE,
    TAG_RELAY_NORMALIZED) exactly as carbon.conf would,
  * builds the router the way carbon/service.py:setupRelayProcessor does
    (DatapointRouter.plugins[RELAY_METHOD](settings), CarbonClientManager(router),
    startClient(d) for d in util.parseDestinations(DESTINATIONS)) -- startClient
    calls router.addDestination() because DYNAMIC_ROUTER is False,
  * feeds every key as a plaintext line "<key> 1 1700000000" through the real
    receiver path: MetricLineReceiver.lineReceived -> MetricReceiver.metricReceived
    -> events.metricReceived -> pipeline.run_pipeline -> RelayProcessor.process
    (TAG_RELAY_NORMALIZED handling) -> CarbonClientManager.sendDatapoint,
    where sendDatapoint is intercepted to record
    CarbonClientManager.getDestinations(metric) == list(router.getDestinations(metric))
    (the ordered list the router yields; the real sendDatapoint then only turns it into
    an unordered set of client factories, no network I/O is done here),
  * cross-checks the result with a direct router.getDestinations(key) call,
  * writes out/carbon-relay-py/<algo>_<N>n_<kind>_r<R>[_diverse][_tagnorm].tsv.gz
"""
import gzip
import os
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")  # carbon.routers imports the deprecated `imp` module

import carbon  # noqa: E402
from carbon.conf import settings  # noqa: E402  (global Settings pre-filled with carbon's defaults)
from carbon import util, state, events, pipeline  # noqa: E402
from carbon.routers import DatapointRouter  # noqa: E402
from carbon.client import CarbonClientManager, RelayProcessor  # noqa: E402
from carbon.protocols import MetricLineReceiver  # noqa: E402
from carbon.util import TaggedSeries  # noqa: E402
from carbon import hashing  # noqa: E402
import carbon.service  # noqa: E402,F401  (sets carbon.state.events like the daemon does)

GOLDEN = "/tmp/golden"
KEYS = os.path.join(GOLDEN, "keys.txt")
OUT = os.path.join(GOLDEN, "out", "carbon-relay-py")


def peer_version():
    try:
        deb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "graphite-carbon"],
                             capture_output=True, text=True).stdout.strip()
    except Exception:
        deb = "?"
    up = deb.split("-")[0] if deb else "?"
    return "graphite-carbon %s (Debian %s, %s), Python %s" % (
        up, deb, os.path.dirname(carbon.__file__), sys.version.split()[0])


def load_keys():
    with open(KEYS, "rb") as f:
        data = f.read().decode("utf-8")
    keys = data.split("\n")
    assert keys[-1] == "", "keys.txt must end with a newline"
    keys = keys[:-1]
    assert len(keys) == 10000 and len(set(keys)) == 10000
    return keys


def inst_name(i):
    # a..z, aa, ab, ...
    s = ""
    i += 1
    while i > 0:
        i, r = divmod(i - 1, 26)
        s = chr(ord("a") + r) + s
    return s


def members(n, kind):
    """Destination strings exactly as they would be written in carbon.conf DESTINATIONS."""
    if kind == "noinst":    # distinct IPs, no instance -> ring node ('10.0.0.N', None)
        return ["10.0.0.%d:2004" % (i + 1) for i in range(n)]
    if kind == "inst":      # distinct IPs, each with a distinct instance name
        return ["10.0.0.%d:2004:%s" % (i + 1, inst_name(i)) for i in range(n)]
    if kind == "sharedip":  # two destinations per IP (ports 2004/2104, instances a/b);
        # the instance names a/b repeat on every IP
        return ["10.0.0.%d:%d:%s" % (i // 2 + 1, 2004 + 100 * (i % 2), "ab"[i % 2]) for i in range(n)]
    if kind == "oneip":     # every destination on the same IP, distinct ports + instances
        return ["10.0.0.1:%d:%s" % (2004 + 100 * i, inst_name(i)) for i in range(n)]
    raise ValueError(kind)


class Capture(object):
    def __init__(self):
        self.got = []


def build(algo, dests, repl, diverse, tagnorm):
    settings["RELAY_METHOD"] = "consistent-hashing"
    settings["DYNAMIC_ROUTER"] = False
    settings["DESTINATION_POOL_REPLICAS"] = False
    settings["ROUTER_HASH_TYPE"] = algo
    settings["REPLICATION_FACTOR"] = repl
    settings["DIVERSE_REPLICAS"] = diverse
    settings["TAG_RELAY_NORMALIZED"] = tagnorm
    settings["DESTINATIONS"] = list(dests)
    settings["MIN_TIMESTAMP_RESOLUTION"] = 0
    # == carbon/service.py setupRelayProcessor ==
    router_class = DatapointRouter.plugins[settings.RELAY_METHOD]
    router = router_class(settings)
    state.client_manager = CarbonClientManager(router)
    for destination in util.parseDestinations(settings.DESTINATIONS):
        state.client_manager.startClient(destination)
    # == carbon/service.py setupPipeline for a relay (pipeline = relay) ==
    state.pipeline_processors = [RelayProcessor()]
    cap = Capture()
    cm = state.client_manager

    def sendDatapoint(metric, datapoint, cm=cm, cap=cap):
        cap.got.append((metric, cm.getDestinations(metric)))
    cm.sendDatapoint = sendDatapoint
    return router, cap


def route_all(router, cap, keys, tagnorm):
    proto = MetricLineReceiver()
    proto.peerName = "golden"
    res = []
    for k in keys:
        before = len(cap.got)
        proto.lineReceived(("%s 1 1700000000" % k).encode("utf-8"))
        assert len(cap.got) == before + 1, "key %r was not routed" % k
        metric, dests = cap.got[-1]
        # cross-check with a direct router call using the same key derivation
        exp_metric = k
        if tagnorm:
            try:
                exp_metric = TaggedSeries.parse(k).path
            except Exception:
                pass
        assert metric == exp_metric, (k, metric, exp_metric)
        direct = list(router.getDestinations(exp_metric))
        assert direct == dests, (k, direct, dests)
        res.append((metric, dests))
    cap.got.clear()
    return res


def main():
    os.makedirs(OUT, exist_ok=True)
    keys = load_keys()
    peer = peer_version()
    events.metricReceived.addHandler(pipeline.run_pipeline)
    algos = ["carbon_ch", "fnv1a_ch"]
    # mmh3_ch needs the `mmh3` module which is not installed with the Debian package
    if hashing.mmh3 is not None:
        algos.append("mmh3_ch")
    variants = [(1, False), (2, False), (2, True), (3, False), (3, True)]
    written = []
    for algo in algos:
        for n in (3, 12, 30):
            for kind in ("noinst", "inst", "sharedip", "oneip"):
                dests = members(n, kind)
                parsed = util.parseDestinations(dests)
                idx = {(s, inst): i for i, (s, _p, inst) in enumerate(parsed)}
                assert len(idx) == n
                todo = [(r, d, False) for (r, d) in variants]
                if n == 12 and kind in ("noinst", "sharedip"):
                    todo += [(1, False, True), (2, True, True)]
                for repl, diverse, tagnorm in todo:
                    router, cap = build(algo, dests, repl, diverse, tagnorm)
                    rows = route_all(router, cap, keys, tagnorm)
                    if repl == 1:
                        # DIVERSE_REPLICAS (default True in carbon.conf) cannot matter for r=1
                        r2, c2 = build(algo, dests, repl, True, tagnorm)
                        assert route_all(r2, c2, keys, tagnorm) == rows
                    name = "%s_%dn_%s_r%d%s%s.tsv.gz" % (
                        algo, n, kind, repl, "_diverse" if diverse else "", "_tagnorm" if tagnorm else "")
                    path = os.path.join(OUT, name)
                    with gzip.open(path, "wt", encoding="utf-8", newline="\n") as f:
                        f.write("# peer: %s\n" % peer)
                        f.write("# algo: %s\n" % algo)
                        f.write("# replication: %d\n" % repl)
                        f.write("# diverse: %s\n" % ("true" if diverse else "false"))
                        f.write("# tag_relay_normalized: %s\n" % ("true" if tagnorm else "false"))
                        f.write("# path: plaintext line '<key> 1 1700000000' -> MetricLineReceiver -> "
                                "RelayProcessor -> CarbonClientManager.getDestinations (router order)\n")
                        for m in dests:
                            f.write("# member: %s\n" % m)
                        changed = 0
                        for i, (metric, ds) in enumerate(rows):
                            if metric != keys[i]:
                                changed += 1
                            f.write("%d\t%s\n" % (i, ",".join(str(idx[(s, inst)]) for (s, _p, inst) in ds)))
                    written.append((path, len(rows), changed))
                    print("%-60s keys=%d normalized_keys_changed=%d" % (name, len(rows), changed))
        # ring positions for debugging: 3 nodes, no instance (and with instance for fnv1a_ch,
        # since without instance all fnv1a_ch replica keys coincide)
        for kind in (["noinst"] if algo != "fnv1a_ch" else ["noinst", "inst"]):
            dests = members(3, kind)
            parsed = util.parseDestinations(dests)
            idx = {(s, inst): i for i, (s, _p, inst) in enumerate(parsed)}
            router, _cap = build(algo, dests, 1, False, False)
            ring = router.ring
            # recompute which replica key produced each entry (for debugging only)
            path = os.path.join(OUT, "ring_positions_%s_3n_%s.tsv.gz" % (algo, kind))
            with gzip.open(path, "wt", encoding="utf-8", newline="\n") as f:
                f.write("# peer: %s\n# algo: %s\n" % (peer, algo))
                for m in dests:
                    f.write("# member: %s\n" % m)
                f.write("# columns: position<TAB>member index<TAB>ring node (python repr), sorted as in ring.ring\n")
                for pos, node in ring.ring:
                    f.write("%d\t%d\t%r\n" % (pos, idx[node], node))
            print("%s entries=%d" % (path, len(ring.ring)))
    for path, n, _c in written:
        assert n == 10000
    print("OK, %d vector files" % len(written))


if __name__ == "__main__":
    main()
