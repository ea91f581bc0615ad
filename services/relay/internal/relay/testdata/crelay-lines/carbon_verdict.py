#!/usr/bin/python3
"""carbon_verdict.py IN: for each line of IN, 1 if carbon-cache 1.1 (Debian graphite-carbon)
would store it, else 0: its plaintext receiver (MetricLineReceiver.lineReceived, called here
with metricReceived caught) reads it and keeps a non-NaN value, and a tagged name parses
as carbon's TaggedSeries does."""
import sys

from carbon.protocols import MetricLineReceiver
from carbon.util import TaggedSeries

got = []


class Probe(MetricLineReceiver):
    peerName = 'gen'

    def metricReceived(self, metric, datapoint):
        got.append((metric, datapoint))


p = Probe.__new__(Probe)
for raw in open(sys.argv[1], 'rb').read().split(b'\n')[:-1]:
    del got[:]
    try:
        p.lineReceived(raw)
    except Exception:
        pass
    ok = False
    if got:
        metric, (ts, value) = got[0]
        ok = value == value
        if ok and ';' in metric:
            try:
                TaggedSeries.parse(metric)
            except Exception:
                ok = False
    print(1 if ok else 0)
