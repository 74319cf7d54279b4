"""Independent evaluation of PyPI OSV records with `packaging`'s PEP 440 ordering.

Usage: pep440_osv.py QUERIES.jsonl
Each input line is {"affected": <one OSV affected[] entry>, "version": "..."}.
Prints one line per query: "1" (affected), "0" (not affected) or "error <reason>".
The evaluation is the OSV specification's algorithm: the version is affected if it is
in `versions`, or if for some ECOSYSTEM range (GIT ranges are skipped) walking the
events sorted by version ("0" first) leaves it affected: at or above `introduced`
turns it on, at or above `fixed` or above `last_affected` turns it off; a range with
`limit` events applies only below one of them.
"""
import json
import sys

from packaging.version import InvalidVersion, Version


def key(v):
    return (0, None) if v == "0" else (1, Version(v))


def in_range(version, rng):
    v = Version(version)
    events = rng.get("events", [])
    limits = [e["limit"] for e in events if "limit" in e]
    if limits and not any(l == "*" or v < Version(l) for l in limits):
        return False
    evs = []
    for e in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in e:
                evs.append((kind, e[kind]))
    evs.sort(key=lambda kv: key(kv[1]) if kv[1] != "0" else (0, Version("0")))
    affected = False
    for kind, val in evs:
        if kind == "introduced" and (val == "0" or v >= Version(val)):
            affected = True
        elif kind == "fixed" and v >= Version(val):
            affected = False
        elif kind == "last_affected" and v > Version(val):
            affected = False
    return affected


def main():
    out = sys.stdout
    for line in open(sys.argv[1]):
        q = json.loads(line)
        a, version = q["affected"], q["version"]
        try:
            if version in a.get("versions", []):
                out.write("1\n")
                continue
            hit = any(in_range(version, r) for r in a.get("ranges", []) if r.get("type") == "ECOSYSTEM")
            out.write("1\n" if hit else "0\n")
        except InvalidVersion as e:
            out.write("error " + str(e).replace("\n", " ") + "\n")


if __name__ == "__main__":
    main()
