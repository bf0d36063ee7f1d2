#!/usr/bin/env python3
"""Fails when a non-test function is over 100 lines or a source file over
600 lines (its #[cfg(test)] module and tests/ folders apart): functions do
one step, files hold one idea. Usage: python3 ci/sizes.py [ROOT]"""
import pathlib
import re
import sys

MAX_FN, MAX_FILE = 100, 600
FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)')
SKIP = ('/target/', '/tests/', '/benches/', '/fuzz/')


def code(line):
    """The line without strings, chars and comments (enough to count braces)."""
    line = re.sub(r'"([^"\\]|\\.)*"', '""', line)
    line = re.sub(r"'([^'\\]|\\.)'", "''", line)
    return line.split('//')[0]


def body_end(lines, i):
    depth, started = 0, False
    for j in range(i, len(lines)):
        c = code(lines[j])
        for ch in c:
            if ch == '{':
                depth, started = depth + 1, True
            elif ch == '}':
                depth -= 1
        if started and depth == 0:
            return j
        if not started and c.rstrip().endswith(';'):
            return j
    return len(lines) - 1


def check(path):
    lines = path.read_text().splitlines()
    end = len(lines)
    for i, l in enumerate(lines[:-1]):
        if l.strip() == '#[cfg(test)]' and re.match(r'\s*mod \w+', lines[i + 1]):
            end = i
            break
    lines = lines[:end]
    found = []
    if end > MAX_FILE:
        found.append(f'{path}: {end} lines (at most {MAX_FILE} apart from tests)')
    for i, l in enumerate(lines):
        m = FN.match(l)
        if m:
            n = body_end(lines, i) - i + 1
            if n > MAX_FN:
                found.append(f'{path}:{i + 1}: fn {m.group(6)} is {n} lines (at most {MAX_FN})')
    return found


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else '.')
    found = [f for p in sorted(root.rglob('*.rs'))
             if not any(s in f'/{p}' for s in SKIP) for f in check(p)]
    for f in found:
        print(f)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
