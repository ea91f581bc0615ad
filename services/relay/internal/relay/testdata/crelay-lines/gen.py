#!/usr/bin/python3
"""Random whole plaintext lines for the carbon-c-relay line vectors (run.sh).

gen.py SEED N  writes N lines to stdout. Each key starts with "k<i>." so that the
relay's output line can be matched to its input. The lines mix what carbon-c-relay
rewrites (characters outside its allowed set, runs of dots, runs of spaces and tabs,
leading and trailing blanks, a trailing CR) with what carbon-cache rejects (no value,
a value or timestamp that is not a number, four fields, malformed graphite tags).
"""
import random
import sys

rng = random.Random(int(sys.argv[1]))
n = int(sys.argv[2])
names = ['a.b.c', 'servers.web01.cpu', 'x', 'a..b', '.a.b.', 'a b', 'ñame.x', 'a%b', 'a;t=v', 'a;t=v;u=w', 'a;;t=v',
         'a;t', 'a;=v', 'a;t=', 'a.b;t=~v', 'a;t=v=w', 'a;t!=v', 'a;t^=v', 'a;t=v.x', 'A-Z_0:9#', 'a/b', 'a\\b',
         'a"b', "a'b", 'a,b', 'a(b)', 'a[b]', 'a{b}', 'a*b', 'a!b', 'a@b', 'a$b', 'a^b', 'a&b', 'a+b', 'a=b',
         'a|b', 'a<b>', 'a?b', 'a~b', '`a', 'a\x01b', 'a\x7fb', 'a\x0bb', 'a\x0cb', 'é;t=é']
vals = ['1', '0', '-1', '1.5', '-2.5e3', '.5', '5.', '1e5', '1E-5', '+1', '1e-300', '00012', '-0', '1e308',
        'nan', 'inf', '-Infinity', 'abc', '1,5', '0x10', '1_000', '', '1.2.3', '--1', '1e', 'e1', '.']
tss = ['1700000000', '1700000000.5', '0', '-1', '17000000000000', '1e9', '', '', 'abc', '1700000000 extra', '1.7e9']
seps = [' ', ' ', ' ', ' ', '  ', '\t', ' \t ']
out = []
for i in range(n):
    k = rng.choice(names)
    if rng.random() < 0.3:
        k += '.' + ''.join(rng.choice('abc.;=_- ') for _ in range(rng.randint(1, 6)))
    parts = ['k%d.' % i + k]
    if rng.random() < 0.95:
        parts.append(rng.choice(vals))
    if rng.random() < 0.85:
        parts.append(rng.choice(tss))
    line = ''
    for j, p in enumerate(parts):
        if j:
            line += rng.choice(seps)
        line += p
    if rng.random() < 0.1:
        line = rng.choice([' ', '\t']) + line
    if rng.random() < 0.1:
        line += rng.choice([' ', '\t', '\r'])
    out.append(line)
sys.stdout.buffer.write(('\n'.join(out) + '\n').encode('utf-8'))
