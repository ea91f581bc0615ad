#!/usr/bin/python3
"""Golden test-vector generator for graphite-web 1.1.8 /render (format=json).

Run:  ./regen.sh (runs this file from a scratch directory with /usr/bin/python3)
Imports and runs the installed graphite-web (Debian package); does not copy its code.
"""
import json, math, os, random, shutil, sys, time
import inspect

# graphite-web 1.1.8's /functions calls inspect.getargspec and formatargspec,
# which Python 3.11 no longer has (Debian's package answers /functions with
# {"error": ...}). These stand-ins give what the removed functions gave.
if not hasattr(inspect, 'getargspec'):
    inspect.getargspec = lambda f: tuple(inspect.getfullargspec(f)[:4])
if not hasattr(inspect, 'formatargspec'):
    def _formatargspec(args, varargs=None, varkw=None, defaults=None):
        specs = []
        first = len(args) - len(defaults) if defaults else len(args)
        for i, a in enumerate(args):
            specs.append(a + ('=' + repr(defaults[i - first]) if i >= first else ''))
        if varargs is not None:
            specs.append('*' + varargs)
        if varkw is not None:
            specs.append('**' + varkw)
        return '(' + ', '.join(specs) + ')'
    inspect.formatargspec = _formatargspec

WORK = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(WORK, 'out')
WSP = os.path.join(WORK, 'whisper')

# ---------------------------------------------------------------------------
# Fixed clock.  whisper.fetch()/update_many() pick archives / drop points using
# time.time(); graphite's /render uses &now= for relative times.  We freeze
# time.time() to NOW so results never depend on the wall clock.
NOW = 1699999200            # 2023-11-14T22:00:00Z, multiple of 3600
_real_time = time.time
time.time = lambda: float(NOW)

sys.path.insert(0, WORK)    # local_settings.py lives here
os.environ['DJANGO_SETTINGS_MODULE'] = 'graphite.settings'
os.environ['GRAPHITE_SETTINGS_MODULE'] = 'local_settings'

for d in (WSP, os.path.join(WORK, 'storage'), os.path.join(WORK, 'log')):
    shutil.rmtree(d, ignore_errors=True)
for d in (WSP, OUT, os.path.join(WORK, 'storage'), os.path.join(WORK, 'log')):
    os.makedirs(d, exist_ok=True)
if os.path.exists(os.path.join(WORK, 'graphite.db')):
    os.remove(os.path.join(WORK, 'graphite.db'))

import django
django.setup()
from django.core.management import call_command
call_command('migrate', verbosity=0, interactive=False)
from django.test import Client
import whisper
from graphite.tags.utils import TaggedSeries
from graphite.storage import STORE

# ---------------------------------------------------------------------------
# Data set
rng = random.Random(20231114)
A10 = [(10, 6 * 3600 // 10), (60, 7 * 86400 // 60)]   # 10s:6h,60s:7d
A60 = [(60, 7 * 86400 // 60)]                         # 60s:7d
SPAN = 4 * 3600                                        # data written for the last 4h

def ts_range(step):
    start = NOW - SPAN
    return list(range(start, NOW, step))

def gen_values(kind, tss):
    vals = []
    if kind == 'cpu':
        base = rng.uniform(10, 60)
        for _ in tss:
            vals.append(round(max(0.0, base + rng.gauss(0, 8)), 2))
    elif kind == 'counter':
        c = 1000.0
        for i, _ in enumerate(tss):
            c += rng.randint(0, 50)
            if i == len(tss) // 2:      # counter reset
                c = float(rng.randint(0, 20))
            vals.append(c)
    elif kind == 'gauge_neg':       # negatives and zeros
        for _ in tss:
            r = rng.random()
            vals.append(0.0 if r < 0.15 else float(rng.randint(-50, 50)))
    elif kind == 'int':
        for _ in tss:
            vals.append(float(rng.randint(0, 100)))
    elif kind == 'timer':
        for _ in tss:
            vals.append(round(rng.lognormvariate(4, 0.5), 3))
    elif kind == 'sparse':          # mostly gaps
        for _ in tss:
            vals.append(float(rng.randint(1, 9)) if rng.random() < 0.2 else None)
    elif kind == 'empty':
        vals = [None] * len(tss)
    else:
        raise ValueError(kind)
    return vals

def with_gaps(vals, frac=0.0, block=None):
    out = list(vals)
    for i in range(len(out)):
        if frac and rng.random() < frac:
            out[i] = None
    if block:
        a, b = block
        for i in range(a, min(b, len(out))):
            out[i] = None
    return out

SERIES = []  # (path, archives, kind, gap_frac, gap_block)
for h in ('web01', 'web02', 'web03', 'web04'):
    for m in ('user', 'system', 'idle'):
        frac = 0.1 if (h, m) == ('web03', 'user') else 0.0
        block = (300, 420) if (h, m) == ('web02', 'system') else None
        SERIES.append(('servers.%s.cpu.%s' % (h, m), A10, 'cpu', frac, block))
SERIES += [
    ('servers.web05.cpu.user', A60, 'cpu', 0.0, None),          # 60s step only
    ('servers.db01.cpu.user', A60, 'cpu', 0.05, None),          # 60s step only, gaps
    ('servers.web01.net.rx_bytes', A10, 'counter', 0.0, None),
    ('stats_counts.app.requests', A10, 'counter', 0.0, None),
    ('stats_counts.app.errors', A10, 'sparse', 0.0, None),
    ('stats.gauges.queue.depth', A10, 'gauge_neg', 0.05, None),
    ('stats.gauges.temp.delta', A60, 'gauge_neg', 0.0, None),
    ('stats.timers.api.upper_90', A10, 'timer', 0.0, None),
    ('stats.timers.api.mean', A10, 'timer', 0.0, None),
    ('stats.timers.web.upper_90', A10, 'timer', 0.02, (1000, 1440)),  # no recent data
    ('stats.empty.series', A10, 'empty', 0.0, None),            # all null
    ('stats.int.values', A10, 'int', 0.0, None),
    ('disk.used;host=a;dc=east', A10, 'int', 0.0, None),
    ('disk.used;host=b;dc=east', A10, 'int', 0.0, None),
    ('disk.used;host=c;dc=west', A10, 'int', 0.1, None),
    ('disk.free;host=a;dc=east', A60, 'int', 0.0, None),
]

def wsp_path(name):
    if ';' in name:
        norm = TaggedSeries.parse(name).path
        rel = TaggedSeries.encode(norm, sep=os.sep)
    else:
        rel = name.replace('.', os.sep)
    return os.path.join(WSP, rel + '.wsp')

dataset = {'now': NOW, 'graphite_web_version': None, 'series': []}
for name, archives, kind, frac, block in SERIES:
    step = archives[0][0]
    tss = ts_range(step)
    vals = with_gaps(gen_values(kind, tss), frac, block)
    p = wsp_path(name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    # defaults of carbon / whisper: xFilesFactor 0.5, aggregation average
    whisper.create(p, archives, xFilesFactor=0.5, aggregationMethod='average')
    pts = [(t, v) for t, v in zip(tss, vals) if v is not None]
    if pts:
        whisper.update_many(p, pts)
    # carbon (ENABLE_TAGS, its default) enters every series it creates in
    # the tag database, untagged ones with their name as the only tag.
    STORE.tagdb.tag_series(name)
    dataset['series'].append({
        'path': TaggedSeries.parse(name).path if ';' in name else name,
        'archives': [[s, s * n] for s, n in archives],
        'xFilesFactor': 0.5, 'aggregationMethod': 'average',
        'points': [[t, v] for t, v in pts]})

from django.conf import settings
dataset['graphite_web_version'] = settings.WEBAPP_VERSION
with open(os.path.join(OUT, 'dataset.json'), 'w') as f:
    json.dump(dataset, f, indent=None, separators=(',', ':'))
    f.write('\n')

# ---------------------------------------------------------------------------
# Requests
H1 = (NOW - 3600, NOW)               # last hour
H3 = (NOW - 3 * 3600, NOW)
M10 = (NOW - 600, NOW)               # last 10 minutes
U = (NOW - 3600 + 7, NOW - 1203)     # unaligned window
OLD = (NOW - 24 * 3600, NOW)         # beyond 10s archive -> 60s archive

REQS = []
def R(targets, frm_until=M10, mdp=None, extra=None):
    if isinstance(targets, str):
        targets = [targets]
    p = {'target': targets, 'from': str(frm_until[0]), 'until': str(frm_until[1])}
    if mdp is not None:
        p['maxDataPoints'] = str(mdp)
    if extra:
        p.update(extra)
    REQS.append(p)

C = 'servers.web0{1,2}.cpu.user'
ALLU = 'servers.*.cpu.user'
W = 'servers.web0[1-4].cpu.*'

# plain fetches / globs
for t in ['servers.web01.cpu.user', C, 'servers.web0[1-3].cpu.system', 'servers.*.cpu.idle',
          'servers.web05.cpu.user', 'servers.db01.cpu.user', 'stats.empty.series',
          'stats.gauges.queue.depth', 'stats_counts.app.errors', 'stats.timers.*.upper_90',
          'stats.timers.web.upper_90', 'servers.web03.cpu.user', 'servers.web02.cpu.system',
          'nonexistent.metric', 'servers.web0*.cpu.{user,system}', 'stats.gauges.temp.delta']:
    R(t)
R('servers.web01.cpu.user', U)
R('servers.web05.cpu.user', U)
R('servers.web02.cpu.system', H1)
R('servers.web01.cpu.user', OLD)
R('servers.web05.cpu.user', OLD)
R('servers.web01.cpu.user', H3, 10)
R('servers.web01.cpu.user', H3, 50)
R('servers.web03.cpu.user', H1, 7)
R(ALLU, H1, 10)
R('stats.gauges.queue.depth', H1, 13)
R('stats.empty.series', H1, 10)
R(['servers.web01.cpu.user', 'servers.web05.cpu.user'], M10)
R('servers.web01.cpu.user', (str(NOW - 600), 'now'), extra={'now': str(NOW)})
REQS[-1]['from'] = str(NOW - 600)
R('servers.web01.cpu.user', ('-10min', 'now'), extra={'now': str(NOW)})
R('servers.web01.cpu.user', ('-1h', '-50min'), extra={'now': str(NOW)})
R('servers.web01.cpu.user', ('21:00_20231114', '21:05_20231114'))    # absolute HH:MM_YYYYMMDD (UTC)
R('servers.web01.cpu.user', ('20231114', '21:02_20231114'))
R('servers.web03.cpu.user', M10, extra={'noNullPoints': 'true'})
R('group(servers.web01.cpu.user,servers.web05.cpu.user,stats.empty.series)')
R('sumSeries(servers.web0{1,2}.cpu.user,servers.web05.cpu.user)', U, 9)

# combine
for f in ['sumSeries', 'sum', 'averageSeries', 'avg', 'maxSeries', 'minSeries', 'multiplySeries',
          'stddevSeries', 'rangeOfSeries', 'countSeries', 'diffSeries']:
    R('%s(%s)' % (f, C))
R('sumSeries(%s)' % ALLU)          # mixed steps 10s/60s -> LCM
R('averageSeries(%s)' % ALLU)
R('diffSeries(%s)' % ALLU)
R('sumSeries(servers.web03.cpu.user,stats.empty.series)')
R('averageSeries(servers.web03.cpu.user,stats.empty.series)')
R('sumSeries(stats.empty.series)')
R('sumSeries(nonexistent.*)')
R('countSeries(nonexistent.*)')
R('sumSeries(%s)' % W, H1, 20)
R('maxSeries(%s)' % W, U)
R('multiplySeries(servers.web01.cpu.user,servers.web05.cpu.user)')
R('diffSeries(servers.web01.cpu.user,servers.web01.cpu.system,servers.web01.cpu.idle)')
R('diffSeries(servers.web01.cpu.user,1)')
R('percentileOfSeries(%s,50)' % W)
R('percentileOfSeries(%s,90,true)' % W)
R('percentileOfSeries(%s,95)' % ALLU)
for a in ['sum', 'average', 'avg', 'max', 'min', 'median', 'diff', 'stddev', 'count', 'range',
          'multiply', 'last', 'avg_zero', 'first', 'total']:
    R('aggregate(%s,"%s")' % (ALLU, a))
R('aggregate(group(servers.web03.cpu.user,stats.empty.series),"sum",0.9)')
R('aggregate(group(servers.web03.cpu.user,servers.db01.cpu.user),"avg",0.9)')
R('aggregate(servers.web03.cpu.user,stats.empty.series,"sum",0.9)')   # wrong arity -> error
R('aggregate(%s,"bogus")' % C)
R('divideSeries(servers.web01.cpu.user,servers.web01.cpu.idle)')
R('divideSeries(servers.web01.cpu.user,servers.web05.cpu.user)')
R('divideSeries(stats.gauges.queue.depth,stats.gauges.queue.depth)')   # zeros -> null
R('divideSeries(%s,servers.web01.cpu.idle)' % C)
R('divideSeries(servers.web01.cpu.user,%s)' % C)                       # error: divisor >1
R('divideSeries(servers.web01.cpu.user,stats.empty.series)')
R('divideSeriesLists(%s,servers.web0{1,2}.cpu.idle)' % C)
R('divideSeriesLists(%s,servers.web01.cpu.idle)' % C)                  # length mismatch
R('asPercent(%s)' % C)
R('asPercent(%s,100)' % C)
R('asPercent(servers.web01.cpu.user,servers.web01.cpu.idle)')
R('asPercent(%s,servers.web0{1,2}.cpu.idle)' % C)
R('asPercent(%s,sumSeries(%s))' % (ALLU, ALLU))
R('asPercent(servers.*.cpu.*,servers.*.cpu.idle,1)')
R('asPercent(stats.gauges.queue.depth)')

# alias
R('alias(servers.web01.cpu.user,"my alias")')
R('alias(sumSeries(%s),"total")' % C)
R('aliasByNode(%s,1)' % W)
R('aliasByNode(%s,1,3)' % W)
R('aliasByNode(%s,-1)' % C)
R('aliasByNode(sumSeries(%s),1)' % C)
R('aliasByMetric(%s)' % W)
R('aliasByMetric(scale(%s,2))' % C)
R('aliasSub(%s,"^servers\\.([^.]+)\\..*","\\1")' % W)
R('aliasSub(%s,"cpu","CPU")' % C)
R('aliasByTags(seriesByTag("name=disk.used"),"host")')
R('aliasByTags(seriesByTag("name=disk.used"),"dc","host")')
R('aliasByTags(seriesByTag("name=disk.used"),1,"name")')

# transforms
R('scale(%s,2.5)' % C)
R('scale(stats.gauges.queue.depth,-1)')
R('scaleToSeconds(stats_counts.app.requests,1)')
R('scaleToSeconds(servers.web05.cpu.user,10)')
R('offset(%s,-10)' % C)
R('offset(stats.empty.series,5)')
R('absolute(stats.gauges.queue.depth)')
R('perSecond(stats_counts.app.requests)', H3)
R('perSecond(stats_counts.app.requests,1100)', H3)      # errors: None in series + maxValue
R('perSecond(stats_counts.app.requests,30000)', (NOW - 3 * 3600, NOW - 10))   # no nulls -> works
R('nonNegativeDerivative(stats_counts.app.requests,30000,0)', (NOW - 3 * 3600, NOW - 10))
R('perSecond(servers.web01.net.rx_bytes)')
R('derivative(stats_counts.app.requests)', H3)
R('derivative(servers.web03.cpu.user)')
R('nonNegativeDerivative(stats_counts.app.requests)', H3)
R('nonNegativeDerivative(stats_counts.app.requests,1100)', H3)
R('nonNegativeDerivative(servers.web03.cpu.user)')
R('integral(servers.web03.cpu.user)')
R('integral(stats.gauges.queue.depth)')
R('cumulative(%s)' % C, H1, 12)
R('consolidateBy(%s,"max")' % C, H1, 10)
R('consolidateBy(%s,"min")' % C, H1, 10)
R('consolidateBy(%s,"sum")' % C, H1, 10)
R('consolidateBy(%s,"average")' % C, H1, 10)
R('consolidateBy(servers.web03.cpu.user,"first")', H1, 10)
R('consolidateBy(servers.web03.cpu.user,"last")', H1, 10)
R('consolidateBy(servers.web03.cpu.user,"bogus")', H1, 10)
R('consolidateBy(servers.web03.cpu.user,"avg_zero")', H1, 10)
R('consolidateBy(stats_counts.app.errors,"avg_zero")', H1, 13)
R('summarize(servers.web01.cpu.user,"1min")')
R('summarize(servers.web01.cpu.user,"5min","avg")', H1)
R('summarize(servers.web03.cpu.user,"5min","max")', U)
R('summarize(servers.web03.cpu.user,"5min","min",true)', U)
R('summarize(servers.web03.cpu.user,"5min","last")', U)
R('summarize(servers.web03.cpu.user,"7min","sum",true)', U)
R('summarize(stats_counts.app.errors,"1h","sum")', H3)
R('summarize(stats_counts.app.errors,"1h","sum",true)', H3)
R('summarize(servers.web05.cpu.user,"15min","median")', H1)
R('hitcount(stats_counts.app.errors,"1min")')
R('hitcount(stats_counts.app.errors,"5min")', U)
R('hitcount(stats_counts.app.errors,"5min",true)', U)
R('hitcount(servers.web05.cpu.user,"45s")')
R('hitcount(servers.web01.cpu.user,"1h")', H3)

# group
R('groupByNode(%s,1,"sumSeries")' % W)
R('groupByNode(%s,3,"averageSeries")' % W)
R('groupByNode(%s,3)' % W)
R('groupByNode(%s,1,"maxSeries")' % ALLU)
R('groupByNodes(%s,"sum",1,3)' % W)
R('groupByNodes(%s,"max",3)' % W)
R('groupByNodes(%s,"avg")' % C)
R('groupByTags(seriesByTag("name=disk.used"),"sum","dc")')
R('groupByTags(seriesByTag("name=~disk.*"),"max","name")')
R('sumSeriesWithWildcards(%s,1)' % W)
R('sumSeriesWithWildcards(%s,1,3)' % W)
R('averageSeriesWithWildcards(%s,1)' % W)
R('averageSeriesWithWildcards(%s,3)' % ALLU)

# moving windows
for f in ['movingAverage', 'movingSum', 'movingMin', 'movingMax', 'movingMedian']:
    R('%s(servers.web03.cpu.user,5)' % f)
    R('%s(servers.web03.cpu.user,"1min")' % f)
R('movingAverage(servers.web05.cpu.user,3)', H1)
R('movingAverage(stats.timers.web.upper_90,10)', H1)
R('movingAverage(stats.empty.series,3)')
R('movingSum(stats_counts.app.errors,"5min")', H1, 20)
R('movingAverage(servers.web01.cpu.user,"1h")', H1)

# time
R('timeShift(servers.web01.cpu.user,"10min")')
R('timeShift(servers.web01.cpu.user,"-10min")')
R('timeShift(servers.web01.cpu.user,"+5min")')
R('timeShift(servers.web05.cpu.user,"1h")', H1)
R('timeShift(%s,"1h")' % C, U)
R(['servers.web01.cpu.user', 'timeShift(servers.web01.cpu.user,"1h")'], M10)

# nulls
R('transformNull(servers.web03.cpu.user)')
R('transformNull(servers.web03.cpu.user,-1)')
R('transformNull(stats.empty.series,0)')
R('transformNull(servers.web03.cpu.user,0,servers.web01.cpu.user)')
R('keepLastValue(servers.web03.cpu.user)')
R('keepLastValue(servers.web02.cpu.system)', H3)
R('keepLastValue(servers.web02.cpu.system,5)', H3)
R('keepLastValue(stats_counts.app.errors,2)')
R('isNonNull(servers.web03.cpu.user)')
R('isNonNull(stats.empty.series)')
R('fallbackSeries(nonexistent.metric,servers.web01.cpu.user)')
R('fallbackSeries(servers.web02.cpu.user,servers.web01.cpu.user)')
R('fallbackSeries(nonexistent.*,constantLine(5))')

# filters / sorting
R('highestCurrent(%s,2)' % W)
R('highestMax(%s,3)' % W)
R('highestAverage(%s,2)' % W)
R('lowestCurrent(%s,2)' % W)
R('lowestAverage(%s,2)' % W)
R('highestCurrent(%s,2)' % ALLU)
R('lowestCurrent(stats.timers.*.upper_90,1)')
R('currentAbove(%s,30)' % W)
R('currentBelow(%s,30)' % W)
R('averageAbove(%s,30)' % W)
R('maximumAbove(%s,50)' % W)
R('currentAbove(stats.empty.series,0)')
R('removeBelowValue(servers.web03.cpu.user,30)')
R('removeAboveValue(servers.web03.cpu.user,30)')
R('removeBelowValue(stats.gauges.queue.depth,0)')
R('removeEmptySeries(group(servers.web01.cpu.user,stats.empty.series))')
R('removeEmptySeries(servers.web01.cpu.user,stats.empty.series)')     # 2nd arg is xFilesFactor -> error
R('removeEmptySeries(servers.web0{2,3}.cpu.*,0.95)')
R('removeEmptySeries(stats.timers.*.upper_90)', (NOW - 600, NOW - 300))
R('nPercentile(servers.web03.cpu.user,50)')
R('nPercentile(servers.web03.cpu.user,95)')
R('nPercentile(%s,75)' % C)
R('nPercentile(stats.empty.series,50)')
R('limit(%s,2)' % W)
R('limit(%s,0)' % W)
R('exclude(%s,"web0[12]")' % W)
R('exclude(%s,"idle")' % W)
R('grep(%s,"system")' % W)
R('grep(%s,"web0[34]")' % W)
R('sortByName(servers.*.cpu.*)')
R('sortByName(%s,true)' % ALLU)
R('sortByName(%s,false,true)' % ALLU)
R('sortByTotal(%s)' % W)
R('sortByMaxima(%s)' % W)
R('sortByMinima(%s)' % W)

# tags
R('seriesByTag("name=disk.used")')
R('seriesByTag("dc=east")')
R('seriesByTag("name=disk.used","dc!=east")')
R('seriesByTag("name=~disk.*","host=~[ab]")')
R('sumSeries(seriesByTag("name=disk.used"))')
R('disk.used;host=a;dc=east')
R('disk.used;dc=east;host=a')
R('seriesByTag("name=nonexistent")')

# constants / misc
R('constantLine(42)')
R('constantLine(-1.5)', H1)
R(['constantLine(1)', 'servers.web01.cpu.user'])
R('threshold(10)')
R('identity("t")')
R('time("t")')

# nested
R('alias(movingAverage(scale(sumSeries(%s),0.5),3),"nested")' % W)
R('aliasByNode(highestAverage(movingAverage(%s,"1min"),2),1,3)' % W)
R('asPercent(nonNegativeDerivative(stats_counts.app.requests),sumSeries(nonNegativeDerivative(stats_counts.app.requests)))', H1)
R('sortByMaxima(groupByNode(%s,1,"sumSeries"))' % W)
R('summarize(perSecond(stats_counts.app.requests),"10min","avg")', H1)
R('removeEmptySeries(transformNull(%s,0))' % ALLU)
R('integral(derivative(servers.web01.cpu.user))')
R('keepLastValue(timeShift(servers.web03.cpu.user,"1min"))')
R('aliasByMetric(divideSeries(sumSeries(%s),sumSeries(servers.web0{1,2}.cpu.idle)))' % C)
R('maxSeries(movingMax(%s,3),movingMin(%s,3))' % (C, C))
R('sumSeries(%s)' % ALLU, H3, 10)
R('movingAverage(%s,10)' % ALLU, H3, 50)
R('consolidateBy(sumSeries(%s),"max")' % ALLU, H3, 17)

# tags: aliasByTags, groupByTags, nodes given as tag names
R('aliasByTags(seriesByTag("name=disk.used"),"host","dc")')
R('aliasByTags(seriesByTag("dc=east"),"name","host")')
R('aliasByTags(seriesByTag("name=disk.used"),1,"host")')
R('aliasByNode(seriesByTag("name=disk.used"),"dc",0)')
R('groupByTags(seriesByTag("name=disk.used"),"sum","dc")')
R('groupByTags(seriesByTag("name=disk.used"),"averageSeries","dc","host")')
R('groupByTags(seriesByTag("name=disk.used"),"max","name","dc")')
R('groupByTags(seriesByTag("name=disk.used"),"maxSeries","nosuchtag")')
R('groupByNode(seriesByTag("name=disk.used"),"dc","sum")')
R('groupByNodes(seriesByTag("name=disk.used"),"sum","dc",1)')
R('aliasByTags(scale(seriesByTag("name=disk.used","host=a"),2),"scale","host")')
R('seriesByTag("name=~disk.*","dc!=west")')
R('seriesByTag("host=~[ab]")')
R('seriesByTag("name=stats.int.values")')
R('seriesByTag("dc=")')

# different steps: graphite-web normalises to the least common multiple
R('sumSeries(servers.web01.cpu.user,summarize(servers.web02.cpu.user,"1min","sum"))', H1)
R('averageSeries(summarize(servers.web01.cpu.user,"20s","avg"),summarize(servers.web02.cpu.user,"30s","max"))', H1)
R('divideSeries(servers.web01.cpu.user,summarize(servers.web02.cpu.user,"30s","avg"))', H1)
R('maxSeries(servers.web03.cpu.user,summarize(servers.web01.cpu.user,"1min","last"))', U)
R('diffSeries(stats_counts.app.requests,summarize(stats_counts.app.errors,"40s","sum"))', H1, 20)
R('aggregate(group(servers.web01.cpu.user,summarize(servers.web03.cpu.user,"1min","avg")),"median")', H1)
R('percentileOfSeries(group(servers.web01.cpu.user,summarize(servers.web02.cpu.user,"20s","sum")),50)', M10)

# keyword arguments
R('summarize(servers.web01.cpu.user,"10min",alignToFrom=true)', H1)
R('summarize(servers.web01.cpu.user,"10min",func="max")', H1)
R('movingAverage(servers.web03.cpu.user,windowSize=5)')
R('scale(servers.web01.cpu.user,factor=2)')
R('aggregate(servers.web0{1,2}.cpu.user,func="max",xFilesFactor=0.5)')
R('sortByName(servers.web0*.cpu.user,reverse=true)')
R('highestMax(servers.web0*.cpu.user,n=2)')
R('transformNull(servers.web03.cpu.user,default=-5)')
R('keepLastValue(servers.web03.cpu.user,limit=2)')

# Transform: each value on its own (nulls, zeros, negatives, empty series, keyword arguments)
Q = 'stats.gauges.queue.depth'
R('add(%s,10)' % C)
R('add(%s,-2.5)' % Q)
R('add(stats.empty.series,1)')
R('add(servers.web03.cpu.user,constant=0.5)')
R('exp(scale(%s,0.01))' % Q)
R('exp(servers.web03.cpu.user)')
R('invert(%s)' % Q)
R('invert(servers.web03.cpu.user)')
R('pow(%s,2)' % Q)
R('pow(%s,0.5)' % Q)
R('pow(servers.web03.cpu.user,factor=-1)')
R('squareRoot(%s)' % Q)
R('squareRoot(servers.web03.cpu.user)')
R('sigmoid(scale(%s,0.1))' % Q)
R('logit(scale(servers.web03.cpu.user,0.01))')
R('logit(%s)' % Q)
R('log(servers.web03.cpu.user)')
R('log(%s,2)' % Q)
R('log(servers.web03.cpu.user,base=3)')
R('round(scale(servers.web03.cpu.user,0.01))')
R('round(servers.web03.cpu.user,1)')
R('round(scale(%s,0.5))' % Q)
R('round(servers.web03.cpu.user,precision=2)')
R('offsetToZero(%s)' % W)
R('offsetToZero(%s)' % Q)
R('offsetToZero(stats.empty.series)')
R('minMax(%s)' % C)
R('minMax(%s)' % Q)
R('minMax(stats.empty.series)')
R('delay(servers.web03.cpu.user,3)')
R('delay(servers.web03.cpu.user,-2)')
R('delay(%s,steps=100)' % C)
R('integralByInterval(servers.web03.cpu.user,"1min")')
R('integralByInterval(%s,"10min")' % Q, U)
R('integralByInterval(servers.web05.cpu.user,"5min")', H1)
R('interpolate(servers.web03.cpu.user)')
R('interpolate(servers.web02.cpu.system)', H3)
R('interpolate(servers.web02.cpu.system,5)', H3)
R('interpolate(stats_counts.app.errors,limit=2)')
R('changed(%s)' % Q)
R('changed(servers.web03.cpu.user)')
R('changed(stats.empty.series)')

# functions whose requests above all read a series whisper keeps at 60s only
R('averageBelow(%s,30)' % W)
R('averageBelow(%s,n=50)' % W)
R('maximumBelow(%s,90)' % W)
R('maximumBelow(stats.empty.series,0)')
R('sortByName(%s)' % W)
R('sortByName(servers.web0{4,1,3}.cpu.user,true,true)')
R('sortByName(%s,reverse=true)' % W)

# Filter Series, Filter Data and Sorting by aggregations and percentiles
R('highest(%s)' % W)
R('highest(%s,3,"max")' % W)
R('highest(%s,2,func="last")' % W)
R('highest(group(stats.empty.series,servers.web01.cpu.user),2)')
R('lowest(%s,2)' % W)
R('lowest(%s,n=3,func="min")' % W)
R('minimumAbove(%s,5)' % W)
R('minimumAbove(group(stats.empty.series,servers.web03.cpu.user),0)')
R('minimumBelow(%s,5)' % W)
R('minimumBelow(group(stats.empty.series,servers.web03.cpu.user),1)')
R('unique(%s,servers.web01.cpu.*,servers.web01.cpu.user)' % C)
R('unique(stats.empty.series)')
R('removeAbovePercentile(servers.web03.cpu.user,80)')
R('removeAbovePercentile(%s,50)' % W)
R('removeAbovePercentile(stats.empty.series,50)')
R('removeBelowPercentile(servers.web03.cpu.user,20)')
R('removeBelowPercentile(%s,n=90)' % Q)
R('removeBetweenPercentile(%s,30)' % W, (NOW - 600, NOW - 10))
R('removeBetweenPercentile(servers.web0*.cpu.idle,90)', (NOW - 600, NOW - 10))
R('averageOutsidePercentile(%s,30)' % W)
R('averageOutsidePercentile(%s,90)' % W)
R('mostDeviant(%s,3)' % W)
R('mostDeviant(group(stats.empty.series,%s),n=2)' % C)
R('filterSeries(%s,"max",">",90)' % W)
R('filterSeries(%s,"last","<=",20)' % W)
R('filterSeries(%s,"average","!=",0)' % W)
R('filterSeries(group(stats.empty.series,%s),"sum","<",100000)' % C)
R('filterSeries(%s,func="min",operator=">=",threshold=5)' % W)
R('useSeriesAbove(servers.web0[1-4].cpu.idle,80,"idle","user")', (NOW - 600, NOW - 10))
R('useSeriesAbove(servers.web0[1-4].cpu.idle,50,"web0(.)\\.cpu\\.idle","web0\\1.cpu.system")', (NOW - 600, NOW - 10))
R('sortBy(%s)' % W)
R('sortBy(%s,"max",true)' % W)
R('sortBy(group(stats.empty.series,%s),"last")' % C)
R('sortBy(%s,func="stddev",reverse=false)' % W)

# Combine: two lists pairwise, wildcards by any aggregation, templates by node, weights, powers
R('sumSeriesLists(%s,servers.web0{1,2}.cpu.idle)' % C)
R('sumSeriesLists(servers.web03.cpu.user,stats.empty.series)')
R('diffSeriesLists(servers.web0{1,2}.cpu.idle,%s)' % C)
R('multiplySeriesLists(%s,servers.web0{1,2}.cpu.system)' % C)
R('multiplySeriesLists(servers.web03.cpu.user,servers.web05.cpu.user)', H1)
R('aggregateSeriesLists(%s,servers.web0{1,2}.cpu.idle,"max")' % C)
R('aggregateSeriesLists(servers.web03.cpu.user,stats.empty.series,"avg",0.9)')
R('aggregateSeriesLists(%s,servers.web0{1,2}.cpu.idle,func="median",xFilesFactor=0.5)' % C)
R('aggregateWithWildcards(%s,"sum",1)' % W)
R('aggregateWithWildcards(%s,"max",3)' % W)
R('aggregateWithWildcards(%s,"avg",1,3)' % W)
R('aggregateWithWildcards(servers.web0{2,3}.cpu.*,"median",1)')
R('multiplySeriesWithWildcards(%s,1)' % W)
R('multiplySeriesWithWildcards(servers.web0{1,3}.cpu.user,1)')
R('applyByNode(servers.web0[1-4].cpu.*,1,"sumSeries(%.cpu.*)")')
R('applyByNode(servers.web0[1-4].cpu.*,1,"divideSeries(%.cpu.user,%.cpu.idle)","%.ratio")')
R('applyByNode(servers.web0[1-4].cpu.user,2,"scale(%.user,2)",newName="%.twice")')
R('applyByNode(nonexistent.*,1,"sumSeries(%.x)")')
R('weightedAverage(servers.web0[1-4].cpu.user,servers.web0[1-4].cpu.idle,1)')
R('weightedAverage(%s,servers.web0{1,2}.cpu.system,1)' % C)
R('weightedAverage(servers.web0{1,3}.cpu.user,servers.web0{1,3}.cpu.idle)')
R('powSeries(%s)' % C)
R('powSeries(servers.web01.cpu.user,2)')
R('powSeries(servers.web03.cpu.user,servers.web01.cpu.idle,stats.empty.series)')
R('powSeries(scale(servers.web01.cpu.user,0.1),servers.web05.cpu.user)', H1)
R('pct(%s)' % C)
R('pct(%s,100)' % C)
R('pct(servers.web01.cpu.user,servers.web01.cpu.idle)')

# Calculate: Holt-Winters (bootstraps kept within the 10s archive), regressions, lines, moving windows
R('holtWintersForecast(servers.web01.cpu.user,"1h","10min")')
R('holtWintersForecast(servers.web03.cpu.user,"30min","5min")')
R('holtWintersForecast(%s,bootstrapInterval="1h",seasonality="15min")' % C, H1)
R('holtWintersForecast(stats.empty.series,"1h","10min")')
R('holtWintersConfidenceBands(servers.web01.cpu.user,3,"1h","10min")')
R('holtWintersConfidenceBands(servers.web03.cpu.user,2,"30min","5min")')
R('holtWintersConfidenceBands(%s,delta=1,bootstrapInterval="1h",seasonality="10min")' % C, H1)
R('holtWintersConfidenceArea(servers.web01.cpu.user,3,"1h","10min")')
R('holtWintersConfidenceArea(servers.web03.cpu.user,2,"30min","5min")')
R('holtWintersAberration(servers.web01.cpu.user,1,"1h","10min")')
R('holtWintersAberration(servers.web03.cpu.user,0.5,"30min","5min")')
R('holtWintersAberration(%s,delta=2,bootstrapInterval="1h",seasonality="10min")' % C, H1)
R('linearRegression(servers.web01.cpu.user)')
# (graphite-web reads relative startSourceAt/endSourceAt against the wall clock, not &now=: absolute times only)
R('linearRegression(%s,"21:00_20231114")' % C)
R('linearRegression(servers.web03.cpu.user,"20:00_20231114","21:00_20231114")', H1)
R('linearRegression(stats_counts.app.requests,startSourceAt="21:00_20231114",endSourceAt="21:30_20231114")', H1)
R('linearRegression(stats.empty.series)')
R('aggregateLine(%s)' % C)
R('aggregateLine(%s,"max")' % W)
R('aggregateLine(servers.web03.cpu.user,"last",true)')
R('aggregateLine(stats.empty.series)')
R('aggregateLine(%s,func="median",keepStep=true)' % C)
R('stdev(servers.web03.cpu.user,5)')
R('stdev(servers.web02.cpu.system,10,0.5)', H3)
R('stdev(%s,points=3,windowTolerance=1)' % Q)
R('stdev(stats.empty.series,5)')
R('exponentialMovingAverage(servers.web03.cpu.user,5)')
R('exponentialMovingAverage(servers.web01.cpu.user,"1min")')
R('exponentialMovingAverage(%s,10)' % C, H1)
R('exponentialMovingAverage(stats.empty.series,3)')
R('exponentialMovingAverage(servers.web05.cpu.user,3)', H1)
R('movingWindow(servers.web03.cpu.user,5)')
R('movingWindow(servers.web03.cpu.user,"1min","max")')
R('movingWindow(%s,3,"median",0.5)' % C)
R('movingWindow(servers.web03.cpu.user,windowSize=5,func="avg_zero",xFilesFactor=0.8)')
R('movingWindow(stats_counts.app.errors,"5min","sum")', H1, 20)
R('movingWindow(servers.web03.cpu.user,4,"rangeOf")')
R('movingAverage(servers.web03.cpu.user,5,0.9)')
R('areaBetween(%s)' % C)
R('areaBetween(group(servers.web03.cpu.user,servers.web01.cpu.user))')

# Graph, Special, Alias and Transform functions of names, drawing and time
R('alpha(%s,0.5)' % C)
R('color(%s,"red")' % C)
R('lineWidth(servers.web03.cpu.user,2)')
R('dashed(%s)' % C)
R('dashed(servers.web03.cpu.user,2.5)')
R('drawAsInfinite(%s)' % Q)
R('secondYAxis(%s)' % C)
R('stacked(%s)' % W)
R(['stacked(%s)' % C, 'stacked(servers.web0{3,4}.cpu.user)'])
R(['stacked(%s,"a")' % C, 'stacked(servers.web03.cpu.user,"b")', 'stacked(servers.web04.cpu.user,"a")'])
R('stacked(servers.web03.cpu.user,stack="x")')
R('verticalLine("21:55_20231114","deploy")')
R('verticalLine("21:52_20231114","x","red")')
R('cactiStyle(%s)' % W)
R('cactiStyle(%s,"si")' % Q)
R('cactiStyle(scale(%s,1000),"si","b")' % C)
R('cactiStyle(scale(%s,100000),"binary")' % C)
R('cactiStyle(group(stats.empty.series,servers.web03.cpu.user),units="ms")')
R('setXFilesFactor(servers.web03.cpu.user,0.9)', H1, 10)
R('xFilesFactor(stats_counts.app.errors,0.5)', H1, 20)
R('setXFilesFactor(%s,xFilesFactor=0)' % C)
R('substr(%s,1)' % W)
R('substr(%s,1,3)' % W)
R('substr(scale(%s,2),-2)' % C)
R('substr(aliasByNode(%s,1,2,3),0,2)' % W)
R('substr(%s,start=2,stop=-1)' % W)
R('aliasQuery(servers.web0{1,2}.cpu.user,"user","idle","idle %d")')
R('aliasQuery(servers.web0{1,2}.cpu.user,"servers\\.(web0.)\\.cpu\\.user","servers.\\1.cpu.system","%.2f system")')
R('aliasQuery(' + C + ',"user","idle","%s idle")')
R('legendValue(%s,"avg")' % C)
R('legendValue(%s,"min","max","last","total")' % W)
R('legendValue(group(stats.empty.series,%s),"avg","count","bogus")' % C)
R('legendValue(scale(%s,123456),"avg","max","si")' % C)
R('legendValue(scale(%s,123456),"last","binary")' % C)
R('timeFunction("t")')
R('timeFunction("t",30)', H1)
R('time("t",120)', H1)
R('sinFunction("s")')
R('sinFunction("s",5,30)', H1)
R('sin("s",amplitude=2,step=20)')
# (graphite-web reads endSliceAt's default 'now' against the wall clock, not &now=: it is always given)
R('timeSlice(%s,"21:53_20231114","22:00_20231114")' % C)
R('timeSlice(servers.web03.cpu.user,"21:20_20231114","21:40_20231114")', H1)
R('timeSlice(servers.web05.cpu.user,"21:20_20231114","21:40_20231114")', H1)
R('timeStack(servers.web01.cpu.user,"10min",0,3)')
R('timeStack(%s,"1h",1,3)' % C, U)
R('timeStack(servers.web03.cpu.user,timeShiftUnit="-5min",timeShiftStart=-1,timeShiftEnd=2)')
R('smartSummarize(servers.web01.cpu.user,"1min")')
R('smartSummarize(servers.web03.cpu.user,"5min","max")', U)
R('smartSummarize(%s,"7min","avg")' % C, U)
R('smartSummarize(stats_counts.app.errors,"1h","sum","hours")', H3)
R('smartSummarize(servers.web01.cpu.user,"10min","last","minutes")', U)
R('smartSummarize(servers.web05.cpu.user,"15min",func="median")', H1)
# (alignTo="days" would read from midnight, beyond the 10s archive)
R('smartSummarize(servers.web03.cpu.user,"30min","avg","hours")', (NOW - 3000, NOW))

# mapSeries / reduceSeries
R('reduceSeries(mapSeries(%s,1),"asPercent",3,"user","idle")' % W)
R('reduceSeries(mapSeries(%s,1),"divideSeries",3,"system","idle")' % W)
R('reduce(map(%s,1),"diffSeries",3,"idle","user","system")' % W)
R('reduceSeries(mapSeries(servers.web0{1,3}.cpu.*,"1"),"sumSeries",-1,"user","system")')
R('reduceSeries(mapSeries(servers.web0{2,4}.cpu.*,1),"multiplySeries",3,"user","idle")')
# (graphite-web answers mapSeries alone with a 500: it renders a list of lists)
R('mapSeries(%s,1)' % W)

# asPercent with nodes
R('asPercent(%s,servers.web0[1-4].cpu.idle,1)' % W)
R('asPercent(%s,servers.web0{1,2}.cpu.*,1)' % W)
R('asPercent(servers.web0{1,2}.cpu.user,servers.web0[1-3].cpu.idle,1)')
R('asPercent(%s,servers.web0[1-4].cpu.system,1,3)' % W)
R('asPercent(seriesByTag("name=disk.used"),seriesByTag("name=disk.used"),"dc")')

# timeShift's resetEnd and alignDST
R('timeShift(servers.web01.cpu.user,"+5min",false)')
R('timeShift(servers.web01.cpu.user,"10min",resetEnd=false)')
R('timeShift(%s,"1h",true,true)' % C)
R('timeShift(servers.web03.cpu.user,"-5min",alignDST=true)')

# found by a random differential run against this graphite-web (2026-12-01)
R('servers.web01.cpu.user', (NOW - 1800, NOW - 600), mdp=1)
R('sumSeries(servers.web0{1,2}.cpu.user)', H1, mdp=1)
R('countSeries()')
R('multiplySeries(servers.web03.cpu.user)')
R('perSecond(servers.web01.cpu.user,None)')
R('nonNegativeDerivative(servers.web01.cpu.user,minValue=0)')
R('asPercent(servers.web0{1,2}.cpu.user,None)')
R('sortByName(servers.web01.cpu.*,false,1)')
R('sortByName(servers.web01.cpu.*,reverse=1)')
R('scale(constantLine(42),2)')
R('integral(constantLine(42))')
R('threshold(42,"lbl")')
R('asPercent(servers.web01.cpu.user,disk.used;dc=west;host=c)')
R("sumSeries(seriesByTag('name=disk.used'))")
R('sumSeries(groupByNode(servers.web0{2,3}.cpu.{user,system},3,"sum"))')
R('sumSeries(sumSeriesWithWildcards(stats.gauges.queue.depth,1))')
R('legendValue(servers.web01.cpu.user,"avgSeries","avg","multiplySeries")')
R('constantLine(1000000.0)')
R('delay(servers.web03.cpu.user,0)')
R('verticalLine("21:55_20231114","red")', M10, mdp=20)
R('sumSeries(timeShift(servers.web0{1,2}.cpu.user,"5min"))')
R('multiplySeries(servers.web03.cpu.user,nonexistent.metric)')
R('groupByNodes(servers.web0{1,2}.cpu.*,"countSeries",3)')
R('groupByNode(servers.web0*.cpu.user,2,"countSeries")')
R('groupByTags(seriesByTag("name=disk.used"),"countSeries","dc")')
R('diffSeriesLists(exponentialMovingAverage(stats.int.values,10),integral(stats.gauges.queue.depth))', M10, mdp=100)
R('aggregateWithWildcards(exponentialMovingAverage(servers.web0{1,2}.cpu.user,"5min"),"min",0)', U, mdp=5)
R('exponentialMovingAverage(stats.int.values,30)', M10, mdp=33)
R('exponentialMovingAverage(servers.web01.cpu.user,"45s")', (NOW - 1800, NOW - 600))

# errors / edge syntax
R('sumSeries(')
R('unknownFunction(servers.web01.cpu.user)')
R('movingAverage(servers.web01.cpu.user)')
R('scale(servers.web01.cpu.user,"x")')
R('servers.web01.cpu.user', (NOW, NOW - 600))       # from > until
R('servers.web01.cpu.user', (NOW - 600, NOW + 3600))  # until in the future
R('')

client = Client()

def fix_nonfinite(o):
    if isinstance(o, float) and not math.isfinite(o):
        return 'NaN' if math.isnan(o) else ('+Inf' if o > 0 else '-Inf')
    if isinstance(o, list):
        return [fix_nonfinite(x) for x in o]
    if isinstance(o, dict):
        return {k: fix_nonfinite(v) for k, v in o.items()}
    return o

n_ok = 0
with open(os.path.join(OUT, 'render.jsonl'), 'w') as f:
    for p in REQS:
        q = dict(p)
        q['format'] = 'json'
        q.setdefault('now', str(NOW))
        try:
            resp = client.get('/render/', q)
            status = resp.status_code
            raw = resp.content.decode('utf-8', 'replace')
        except Exception as e:  # Client re-raises view exceptions
            status = 500
            raw = '%s: %s' % (type(e).__name__, e)
        rec = {'params': p, 'status': status}
        if status == 200:
            n_ok += 1
            try:
                rec['body'] = fix_nonfinite(json.loads(raw))
                if any(x in raw for x in ('NaN', 'Infinity')):
                    rec['raw'] = raw
            except ValueError:
                rec['body'] = raw
        else:
            rec['body'] = raw
        f.write(json.dumps(rec, sort_keys=True, allow_nan=False) + '\n')
print('requests: %d, status 200: %d' % (len(REQS), n_ok), file=sys.stderr)

# ---------------------------------------------------------------------------
# Other endpoints: the tag database, find and expand.
OTHER = []
def O(path, params=None, method='GET'):
    OTHER.append({'path': path, 'method': method, 'params': params or {}})

O('/tags')
O('/tags', {'filter': 'd'})
O('/tags', {'filter': '^h|name', 'limit': '2'})
O('/tags/dc')
O('/tags/name', {'filter': 'disk'})
O('/tags/name', {'filter': 'servers\\.web0[12]', 'limit': '1'})
O('/tags/host', {'limit': '2'})
O('/tags/nosuchtag')
O('/tags/findSeries', {'expr': ['name=disk.used']})
O('/tags/findSeries', {'expr': ['dc=east', 'host!=b']})
O('/tags/findSeries', {'expr[]': ['name=~servers\\.web0[1-3]\\.cpu\\.user']})
O('/tags/findSeries', {'expr': ['host=~a|c']}, 'POST')
O('/tags/findSeries', {'expr': ['nosuch=']})
O('/tags/findSeries')
O('/tags/autoComplete/tags')
O('/tags/autoComplete/tags', {'tagPrefix': 'd'})
O('/tags/autoComplete/tags', {'limit': '2'})
O('/tags/autoComplete/tags', {'expr': ['name=disk.used']})
O('/tags/autoComplete/tags', {'expr': ['name=disk.used'], 'tagPrefix': 'h'})
O('/tags/autoComplete/tags', {'expr': ['dc=west']}, 'POST')
O('/tags/autoComplete/values', {'tag': 'host'})
O('/tags/autoComplete/values', {'tag': 'dc', 'valuePrefix': 'e'})
O('/tags/autoComplete/values', {'tag': 'name', 'valuePrefix': 'servers.web0', 'limit': '3'})
O('/tags/autoComplete/values', {'tag': 'host', 'expr': ['dc=east']})
O('/tags/autoComplete/values', {'tag': 'host', 'expr': ['name=disk.free']}, 'POST')
O('/tags/autoComplete/values', {'tag': 'nosuch'})
O('/tags/autoComplete/values')
O('/metrics/find', {'query': '*'})
O('/metrics/find', {'query': 'servers.*'})
O('/metrics/find', {'query': 'servers.web0[1-2].cpu.*', 'format': 'completer'})
O('/metrics/find', {'query': 'stats.{gauges,timers}.*', 'format': 'json'})
O('/metrics/find', {'query': 'servers.web0?.cpu.user'}, 'POST')
O('/metrics/find', {'query': 'no.such.*'})
O('/metrics/expand', {'query': 'servers.web0*.cpu.user'})
O('/metrics/expand', {'query': ['servers.*', 'stats.*'], 'groupByExpr': '1'})
O('/metrics/expand', {'query': 'stats.*.*', 'leavesOnly': '1'})
O('/metrics/index.json')
# found by a random differential run against this graphite-web (2026-12-01)
O('/metrics/find', {'query': 'servers.web0[^2]'})
O('/metrics/find', {'query': 'servers.web0[!2]'})
O('/metrics/find', {'query': 'serv\\ers.web0\\1'})
O('/metrics/find', {'query': 'serv[ers'})
O('/metrics/find', {'query': 'serv{ers'})
O('/metrics/find', {'query': 'ser[]v]ers'})
O('/metrics/find', {'query': 'serv[z-a]rs'})
O('/metrics/find', {'query': 'servers.{web01,web02}}'})
O('/metrics/find', {'query': 'servers.{{web01,web02}'})
O('/metrics/find', {'query': 'servers.{web0{1,2},db01}.cpu'})
O('/metrics/find', {'query': 'nosuch', 'format': 'nodelist'})
O('/metrics/expand', {'query': ['servers.*', 'nosuch.*'], 'groupByExpr': '1'})
O('/metrics/expand', {'query': ['servers.*', 'servers.*'], 'groupByExpr': '2'})
O('/metrics/expand', {'query': 'stats.*.*', 'leavesOnly': '2'})
O('/metrics/expand')
O('/metrics/expand', {'groupByExpr': '1'})
O('/metrics/expand/', {'query': 'servers'})
O('/tags/')
O('/tags/dc/')
O('/tags', {'limit': '0'})
O('/tags', {'limit': '-1'})
O('/tags', {'limit': ' +2'})
O('/tags/dc', {'limit': '0'})
O('/tags/autoComplete/tags', {'limit': '0'})
O('/tags/autoComplete/tags', {'limit': '-1'})
O('/tags/autoComplete/values', {'tag': 'host', 'limit': '0'})
O('/tags/findSeries', {'expr': ['name=~^disk|cpu']})
O('/tags/findSeries', {'expr': ['name=~servers', 'name!=~^x|cpu']})
O('/tags', {'filter': 'a{,2}'})
O('/tags/findSeries', {'expr': ['dc=east', 'host=~b{,1}']})
O('/tags/findSeries', {'expr': ['dc=east'], 'jsonp': 'cb'})
O('/tags/autoComplete/tags', {'jsonp': 'cb'})
O('/tags', {'limit': ''})
O('/tags/autoComplete/tags', {'limit': ''})
O('/tags/autoComplete/values', {'tag': 'dc', 'limit': ''})
O('/metrics/find', {'query': 'servers', 'wildcards': 'true'})
O('/metrics/find', {'query': 'servers.*', 'leavesOnly': ' 1 '})
O('/metrics/find', {'query': 'servers', 'from': 'garbage'})
O('/metrics/find', {'query': 'servers', 'from': str(NOW), 'until': str(NOW - 3600)})
O('/metrics/find', {'query': 'servers', 'from': '-1', 'until': '-1'})
O('/metrics/find', {'query': 'servers', 'position': 'x', 'format': 'nodelist'})
O('/metrics/find', {'query': ''})
O('/metrics/find', {'query': 'servers.web01,web02.cpu', 'format': 'completer', 'automatic_variants': '1'})

with open(os.path.join(OUT, 'other.jsonl'), 'w') as f:
    for o in OTHER:
        if o['method'] == 'POST':
            resp = client.post(o['path'], o['params'])
        else:
            resp = client.get(o['path'], o['params'])
        raw = resp.content.decode('utf-8', 'replace')
        rec = dict(o, status=resp.status_code)
        try:
            rec['body'] = json.loads(raw)
        except ValueError:
            rec['body'] = raw
        if isinstance(rec['body'], dict) and 'metrics' in rec['body']:
            # completer: graphite-web sorts by name only, and the order of
            # equal names varies from run to run.
            rec['body']['metrics'].sort(key=lambda m: (m.get('name'), m.get('path')))
        f.write(json.dumps(rec, sort_keys=True) + '\n')
print('other requests: %d' % len(OTHER), file=sys.stderr)

# /functions: each function's signature, group and parameters (the
# interface; descriptions are graphite-web's prose and are left out).
fns = json.loads(client.get('/functions').content)
assert 'error' not in fns, fns
with open(os.path.join(OUT, 'functions.json'), 'w') as f:
    # graphite-web writes an infinite default as Infinity, which is not JSON;
    # 1e9999 is what Grafana turns it into and what JSON readers take.
    f.write(json.dumps({name: {k: d[k] for k in ('name', 'function', 'group', 'params') if k in d}
                        for name, d in fns.items()}, indent=1, sort_keys=True).replace(': Infinity', ': 1e9999'))
    f.write('\n')
print('functions: %d' % len(fns), file=sys.stderr)
