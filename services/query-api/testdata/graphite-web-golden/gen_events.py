#!/usr/bin/python3
"""Golden vectors for graphite-web 1.1.8's events API (/events/, /events/get_data,
/events/<id>/), as Grafana's annotations and deploy scripts use it.

Run:  ./regen.sh (runs this file from a scratch directory with /usr/bin/python3)
Imports and runs the installed graphite-web (Debian package); does not copy its code.
Writes out/events.jsonl: one line per request, in order, each
{"method", "path", "params" (query string), "body" (the POSTed text, or null),
 "headers", "status", "response" (parsed JSON when it is JSON, else the text)}.
The requests are replayed in the same order against query-api: ids count from 1.
"""
import json, os, shutil, sys, time

NOW = 1699999200            # 2023-11-14T22:00:00Z, as gen.py
time.time = lambda: float(NOW)

WORK = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(WORK, 'out')
sys.path.insert(0, WORK)
os.environ['DJANGO_SETTINGS_MODULE'] = 'graphite.settings'
os.environ['GRAPHITE_SETTINGS_MODULE'] = 'local_settings'
os.makedirs(OUT, exist_ok=True)
for d in (os.path.join(WORK, 'storage'), os.path.join(WORK, 'log'), os.path.join(WORK, 'whisper')):
    os.makedirs(d, exist_ok=True)
db = os.path.join(WORK, 'graphite.db')
if os.path.exists(db):
    os.remove(db)

import django
django.setup()
from django.core.management import call_command
call_command('migrate', verbosity=0, interactive=False)
from django.test import Client

client = Client(raise_request_exception=False)
lines = []

def do(method, path, params=None, body=None, headers=None):
    headers = headers or {}
    extra = {'HTTP_' + k.upper().replace('-', '_'): v for k, v in headers.items()}
    if method == 'GET':
        r = client.get(path, params or {}, **extra)
    elif method == 'POST':
        r = client.generic('POST', path + ('?' + '&'.join('%s=%s' % kv for kv in (params or {}).items()) if params else ''),
                           body.encode('utf-8'), content_type='application/json', **extra)
    else:
        r = client.generic(method, path, **extra)
    text = r.content.decode('utf-8', 'replace')
    try:
        resp = json.loads(text)
    except ValueError:
        resp = text if r.status_code != 500 else 'server error'
    lines.append({'method': method, 'path': path, 'params': params or {}, 'body': body,
                  'headers': headers, 'status': r.status_code, 'response': resp})

T = NOW - 3600
posts = [
    {'what': 'deploy web', 'tags': ['deploy', 'web'], 'when': T, 'data': 'v1.2.3'},
    {'what': 'deploy db', 'tags': 'deploy db', 'when': T + 600, 'data': ''},
    {'what': 'outage', 'tags': ['outage', 'web'], 'when': T + 1200},
    {'what': 'no tags', 'when': T + 1800, 'data': 'plain'},
    {'what': 'fractional when', 'tags': 'web', 'when': T + 2400.75},
    {'what': 'commas', 'tags': 'a,b c', 'when': T + 2500},
    {'what': 'quoted', 'tags': '"x y" z', 'when': T + 2600},
    {'what': 'dup tags', 'tags': ['web', 'web', 'Deploy'], 'when': T + 2700},
    {'what': 'same time', 'tags': ['deploy'], 'when': T + 600},
    {'what': 'unicode ü', 'tags': ['ü'], 'when': T + 2800, 'data': 'naïve'},
    {'what': 'old', 'tags': ['deploy'], 'when': T - 86400},
]
for e in posts:
    do('POST', '/events/', body=json.dumps(e))
# Refused posts.
do('POST', '/events/', body=json.dumps({'what': 'bad tags', 'tags': 5, 'when': T}))
do('POST', '/events/', body=json.dumps({'what': 'bad tags', 'tags': {'a': 1}, 'when': T}))
# graphite-web answers these with a 500 (an exception in the view); query-api with a 400.
do('POST', '/events/', body='not json')
do('POST', '/events/', body=json.dumps({'tags': 'x', 'when': T}))
do('POST', '/events/', body=json.dumps({'what': 'list of ints', 'tags': [1, 2], 'when': T}))
do('POST', '/events/', body=json.dumps({'what': 'when text', 'when': 'yesterday'}))
do('POST', '/events/', body=json.dumps(['a list']))

rng = {'from': str(T - 60), 'until': str(NOW)}
for q in [
    {},
    rng,
    dict(rng, tags='deploy'),
    dict(rng, tags='web'),
    dict(rng, tags='deploy web'),
    dict(rng, tags='deploy web', set='union'),
    dict(rng, tags='deploy web', set='intersection'),
    dict(rng, tags='deploy nosuch'),
    dict(rng, tags='deploy nosuch', set='union'),
    dict(rng, tags='deploy nosuch', set='intersection'),
    dict(rng, tags='nosuch'),
    dict(rng, tags='Deploy'),
    dict(rng, tags='x y'),
    dict(rng, tags='a'),
    dict(rng, tags='b c'),
    dict(rng, tags='ü'),
    dict(rng, tags='deploy', set='bogus'),
    {'from': str(T + 600), 'until': str(T + 600)},
    {'from': str(T + 601), 'until': str(T + 2400)},
    {'from': str(T + 2400), 'until': str(T + 2401)},
    dict(rng, tags='web', jsonp='cb'),
]:
    do('GET', '/events/get_data', q)
# The events() render function: one-second steps, counts by sum.
for q in [
    {'target': 'events("deploy")', 'from': str(T - 60), 'until': str(NOW - 1), 'format': 'json'},
    {'target': 'events("*")', 'from': str(T - 60), 'until': str(NOW - 1), 'format': 'json', 'maxDataPoints': '61'},
    {'target': 'events("deploy", "web")', 'from': str(T), 'until': str(T + 1200), 'format': 'json'},
    {'target': 'events("nosuch")', 'from': str(T), 'until': str(T + 60), 'format': 'json'},
]:
    do('GET', '/render', q)
do('GET', '/events/1/', headers={'Accept': 'application/json'})
do('GET', '/events/999/', headers={'Accept': 'application/json'})

with open(os.path.join(OUT, 'events.jsonl'), 'w') as f:
    for l in lines:
        f.write(json.dumps(l, sort_keys=True, ensure_ascii=False) + '\n')
print('wrote %d requests' % len(lines))
