#!/usr/bin/python3
"""bench/query.sh's data set, written as whisper files for graphite-web and as a
TSV of the same render points for consthash (cmd/benchload reads it).

  query_data.py WORK NOW FANOUT

WORK/whisper/bench/render/sNN.wsp: 100 series, one day at 10 s (archive 10s:2d);
WORK/whisper/bench/find/III/JJJ/KKK.wsp: FANOUT^3 leaves for find;
WORK/render.tsv: path, time, value of every render point.
Values are deterministic. Needs Debian's python3-whisper (graphite-carbon).
"""
import os, sys
import whisper

work, now, fanout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wsp = os.path.join(work, 'whisper')
now -= now % 10
with open(os.path.join(work, 'render.tsv'), 'w') as tsv:
    for k in range(100):
        name = 'bench.render.s%02d' % k
        path = os.path.join(wsp, 'bench', 'render', 's%02d.wsp' % k)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        whisper.create(path, [(10, 2 * 8640)], xFilesFactor=0.5, aggregationMethod='average')
        pts = []
        for i in range(8640):
            t = now - 86400 + 10 + i * 10
            v = ((i * 37 + k * 11) % 1000) / 10.0
            pts.append((t, v))
            tsv.write('%s\t%d\t%r\n' % (name, t, v))
        whisper.update_many(path, pts)

# The find tree: one small whisper file per leaf, written from a template.
template = os.path.join(work, 'template.wsp')
whisper.create(template, [(60, 1)])
with open(template, 'rb') as f:
    blob = f.read()
for i in range(fanout):
    for j in range(fanout):
        d = os.path.join(wsp, 'bench', 'find', '%03d' % i, '%03d' % j)
        os.makedirs(d, exist_ok=True)
        for k in range(fanout):
            with open(os.path.join(d, '%03d.wsp' % k), 'wb') as f:
                f.write(blob)
print('query_data.py: 100 render series, %d find leaves under %s' % (fanout ** 3, wsp), file=sys.stderr)
