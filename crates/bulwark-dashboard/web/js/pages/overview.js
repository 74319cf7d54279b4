// The platform at a glance: workloads by mode, nodes, recent alerts, images
// with findings, compliance. Each card loads on its own, so a role that may
// not read one resource still sees the others.

import * as api from "../api.js";
import { h, section, table } from "../dom.js";
import { MODES, SEVERITIES, ago, lowestMode, modeClass, reason, severityClass, time } from "../format.js";

function unavailable(title, err) {
  const why = err instanceof api.ApiError && err.status === 403 ? "not permitted for your role" : err.message;
  return section(title, h("p", { class: "muted" }, why));
}

function counts(items, key) {
  const out = {};
  for (const item of items) {
    const k = key(item);
    out[k] = (out[k] || 0) + 1;
  }
  return out;
}

function stat(label, value, cls) {
  return h("div", { class: "stat " + (cls || "") }, h("span", { class: "value" }, String(value)), h("span", { class: "label" }, label));
}

function workloadsCard(list) {
  const byMode = counts(list, (w) => lowestMode(w.modes) || "no profile");
  return section(
    "Workloads",
    h("div", { class: "stats" }, stat("workloads", list.length), MODES.map((m) => stat(m, byMode[m] || 0, modeClass(m)))),
    h("a", { href: "#/workloads" }, "All workloads"),
  );
}

function nodesCard(list) {
  const stale = list.filter((n) => n.stale);
  return section(
    "Nodes",
    h("div", { class: "stats" }, stat("nodes", list.length), stat("not reporting", stale.length, stale.length ? "bad" : "")),
    stale.map((n) => h("p", { class: "bad" }, `${n.hostname} (${n.id}) last reported ${ago(n.last_seen)}`)),
    list
      .filter((n) => n.update_failure)
      .map((n) => {
        const f = n.update_failure;
        return h("p", { class: "bad" }, `${n.hostname}: update ${f.version} (${f.kind} ${f.name}) not applied: ${f.reason}`);
      }),
  );
}

function alertsCard(list) {
  const day = Date.now() - 86400000;
  const recent = list.filter((a) => a.received_at >= day);
  const bySev = counts(recent, (a) => a.alert.severity);
  return section(
    "Alerts, last 24 h",
    h("div", { class: "stats" }, SEVERITIES.slice(0, 4).map((s) => stat(s, bySev[s] || 0, severityClass(s)))),
    table(
      ["Time", "Severity", "Workload", "What"],
      list.slice(0, 5).map((a) =>
        h(
          "tr",
          {},
          h("td", {}, time(a.alert.time)),
          h("td", {}, h("span", { class: severityClass(a.alert.severity) }, a.alert.severity)),
          h("td", {}, a.alert.workload || ""),
          h("td", {}, reason(a.alert)),
        ),
      ),
    ),
    h("a", { href: "#/alerts" }, "All alerts"),
  );
}

function imagesCard(list) {
  const total = (sev) => list.reduce((n, i) => n + Number((i.findings || {})[sev] || 0), 0);
  return section(
    "Images",
    h("div", { class: "stats" }, stat("images", list.length), ["critical", "high"].map((s) => stat(`${s} findings`, total(s), severityClass(s)))),
    h("a", { href: "#/images" }, "All images"),
  );
}

function complianceCard(report) {
  const s = report.summary || {};
  return section(
    "Compliance",
    h("div", { class: "stats" }, stat("pass", s.pass || 0, "good"), stat("warn", s.warn || 0, "warn"), stat("fail", s.fail || 0, "bad")),
    h("a", { href: "#/compliance" }, "Report"),
  );
}

export async function render() {
  const cards = [
    ["Workloads", api.workloads(), workloadsCard],
    ["Nodes", api.nodes(), nodesCard],
    ["Alerts", api.alerts({ limit: 500 }), alertsCard],
    ["Images", api.images(), imagesCard],
    ["Compliance", api.compliance(), complianceCard],
  ];
  const results = await Promise.allSettled(cards.map(([, promise]) => promise));
  const unauthenticated = results.find((r) => r.status === "rejected" && r.reason instanceof api.ApiError && r.reason.status === 401);
  if (unauthenticated) {
    throw unauthenticated.reason;
  }
  return h(
    "div",
    {},
    h("h1", {}, "Overview"),
    h(
      "div",
      { class: "grid" },
      results.map((r, i) => (r.status === "fulfilled" ? cards[i][2](r.value) : unavailable(cards[i][0], r.reason))),
    ),
  );
}
