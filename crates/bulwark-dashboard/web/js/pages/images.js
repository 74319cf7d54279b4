// Scanned images with their findings per severity; one image's CIS checks
// and vulnerability findings.

import * as api from "../api.js";
import { h, section, table } from "../dom.js";
import { SEVERITIES, digest, severityClass, time } from "../format.js";

function counts(findings) {
  return SEVERITIES.map((s) => h("td", { class: "num" }, String((findings || {})[s] || 0)));
}

async function list() {
  const images = await api.images();
  return h(
    "div",
    {},
    h("h1", {}, "Images"),
    images.length === 0
      ? h("p", { class: "muted" }, "No images scanned yet.")
      : table(
          ["Image", "Digest", "Packages", ...SEVERITIES, "Scanned"],
          images.map((i) =>
            h(
              "tr",
              {},
              h("td", {}, h("a", { href: "#/images/" + encodeURIComponent(i.digest) }, i.reference)),
              h("td", { title: i.digest }, h("code", {}, digest(i.digest))),
              h("td", { class: "num" }, String(i.packages)),
              counts(i.findings),
              h("td", {}, time(i.scanned_at)),
            ),
          ),
          { id: "images" },
        ),
  );
}

export function checksTable(checks) {
  return table(
    ["Check", "Title", "Status", "Detail"],
    (checks || []).map((c) =>
      h(
        "tr",
        { class: "check-" + (["pass", "warn", "fail"].includes(c.status) ? c.status : "unknown") },
        h("td", {}, c.id),
        h("td", {}, c.title),
        h("td", {}, c.status),
        h("td", {}, c.detail),
      ),
    ),
  );
}

// "#N" for the finding's layer (by diff id), its build step when known.
function layerOf(image, diffId) {
  const layer = (image.layers || []).find((l) => l.diff_id === diffId);
  if (!layer) return "–";
  return layer.created_by ? `#${layer.index} ${layer.created_by}` : `#${layer.index}`;
}

async function one(id) {
  const [image, findings] = await Promise.all([api.image(id), api.findings(id)]);
  return h(
    "div",
    {},
    h("h1", {}, image.reference),
    h("p", {}, h("code", {}, image.digest), ` · ${image.packages} packages · scanned ${time(image.scanned_at)}`),
    section("Configuration checks (CIS Docker Benchmark, section 4)", checksTable(image.checks)),
    section(
      `Layers (${(image.layers || []).length})`,
      table(
        ["#", "Diff ID", "Build step"],
        (image.layers || []).map((l) =>
          h("tr", {}, h("td", { class: "num" }, String(l.index)), h("td", {}, h("code", {}, l.diff_id)), h("td", {}, l.created_by || "–")),
        ),
        { id: "layers" },
      ),
    ),
    section(
      `Vulnerabilities (${findings.length})`,
      table(
        ["Vulnerability", "Severity", "Package", "Version", "Fixed in", "Layer", "Summary"],
        findings.map((f) =>
          h(
            "tr",
            {},
            h("td", {}, f.vulnerability),
            h("td", {}, h("span", { class: severityClass(f.severity) }, f.severity)),
            h("td", {}, f.package),
            h("td", {}, f.version),
            h("td", {}, f.fixed || "–"),
            h("td", {}, layerOf(image, f.layer)),
            h("td", {}, f.summary),
          ),
        ),
        { id: "findings" },
      ),
    ),
  );
}

export async function render(ctx) {
  return ctx.params.length ? one(ctx.params[0]) : list();
}
