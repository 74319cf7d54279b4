// Independent evaluation of npm OSV records with node-semver, the version
// ordering npm itself uses (installed into .cache/node by scripts/install-deps.sh).
//
// Usage: node semver_osv.js QUERIES.jsonl
// Each input line is {"affected": <one OSV affected[] entry>, "version": "..."}.
// Prints one line per query: "1" (affected), "0" (not affected) or "error <reason>".
// The evaluation is the OSV specification's algorithm: the version is affected if it
// is in `versions`, or if for some ECOSYSTEM or SEMVER range (GIT ranges are skipped)
// walking the events sorted by version ("0" first) leaves it affected: at or above
// `introduced` turns it on, at or above `fixed` or above `last_affected` turns it off;
// a range with `limit` events applies only below one of them. Versions are compared
// with semver.compare (strict SemVer 2.0.0 parsing, prerelease ordering per the spec).
"use strict";

const fs = require("fs");
const semver = require("semver");

function parse(v) {
  const parsed = semver.parse(v);
  if (parsed === null) throw new Error(`invalid semver ${JSON.stringify(v)}`);
  return parsed;
}

function order(a, b) {
  if (a === "0" || b === "0") return (a === "0" ? 0 : 1) - (b === "0" ? 0 : 1);
  return semver.compare(parse(a), parse(b));
}

function inRange(version, range) {
  const v = parse(version);
  const events = range.events || [];
  const limits = events.filter((e) => "limit" in e).map((e) => e.limit);
  if (limits.length > 0 && !limits.some((l) => l === "*" || semver.lt(v, parse(l)))) return false;
  const walk = [];
  for (const e of events) {
    for (const kind of ["introduced", "fixed", "last_affected"]) {
      if (kind in e) walk.push([kind, e[kind]]);
    }
  }
  walk.sort((x, y) => order(x[1], y[1]));
  let affected = false;
  for (const [kind, value] of walk) {
    if (kind === "introduced" && (value === "0" || semver.gte(v, parse(value)))) affected = true;
    else if (kind === "fixed" && semver.gte(v, parse(value))) affected = false;
    else if (kind === "last_affected" && semver.gt(v, parse(value))) affected = false;
  }
  return affected;
}

function evaluate(affected, version) {
  if ((affected.versions || []).includes(version)) return true;
  return (affected.ranges || [])
    .filter((r) => r.type === "ECOSYSTEM" || r.type === "SEMVER")
    .some((r) => inRange(version, r));
}

const out = [];
for (const line of fs.readFileSync(process.argv[2], "utf8").split("\n")) {
  if (line === "") continue;
  const q = JSON.parse(line);
  try {
    out.push(evaluate(q.affected, q.version) ? "1" : "0");
  } catch (e) {
    out.push("error " + String(e.message).replace(/\n/g, " "));
  }
}
process.stdout.write(out.map((l) => l + "\n").join(""));
