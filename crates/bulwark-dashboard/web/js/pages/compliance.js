// The compliance report: CIS Docker Benchmark checks of images and running
// containers, and the platform's controls mapped to NIST SP 800-190.

import * as api from "../api.js";
import { h, section, table } from "../dom.js";
import { time } from "../format.js";
import { checksTable } from "./images.js";

function subject(title, checks) {
  const failed = (checks || []).filter((c) => c.status === "fail").length;
  return h(
    "details",
    { open: failed > 0 },
    h("summary", {}, title, failed ? h("span", { class: "bad" }, ` ${failed} failed`) : h("span", { class: "good" }, " no failures")),
    checksTable(checks),
  );
}

export async function render() {
  const r = await api.compliance();
  const s = r.summary || {};
  return h(
    "div",
    {},
    h("h1", {}, "Compliance"),
    h(
      "p",
      {},
      `${r.benchmark} · generated ${time(r.generated_at)} · `,
      h("span", { class: "good" }, `${s.pass || 0} pass`),
      " · ",
      h("span", { class: "warn" }, `${s.warn || 0} warn`),
      " · ",
      h("span", { class: "bad" }, `${s.fail || 0} fail`),
      " · ",
      h("a", { href: api.complianceHtml, target: "_blank", rel: "noopener" }, "HTML report"),
    ),
    section(
      "Running containers",
      (r.containers || []).length
        ? r.containers.map((c) => subject(`${c.workload} · ${c.id} on ${c.node}`, c.checks))
        : h("p", { class: "muted" }, "No running containers."),
    ),
    section(
      "Images",
      (r.images || []).length
        ? r.images.map((i) => subject(i.reference, i.checks))
        : h("p", { class: "muted" }, "No images scanned."),
    ),
    section(
      "NIST SP 800-190",
      table(
        ["Section", "Risk", "Controls", "Coverage", "Evidence"],
        (r.nist || []).map((n) =>
          h(
            "tr",
            {},
            h("td", {}, n.section),
            h("td", {}, n.risk),
            h("td", {}, (n.controls || []).join(", ")),
            h("td", {}, String(n.coverage)),
            h("td", {}, n.evidence),
          ),
        ),
      ),
    ),
  );
}
