// The identity-to-identity connection graph: workloads (and external peers)
// as nodes on a circle, observed connections as arrows, and the same edges
// as a table.

import * as api from "../api.js";
import { h, s, section, table } from "../dom.js";
import { ago } from "../format.js";

const NODE_R = 16;

function layout(nodes) {
  const n = nodes.length;
  const radius = Math.max(120, Math.min(420, 40 + n * 28));
  const size = 2 * radius + 320;
  const c = size / 2;
  const pos = new Map();
  nodes.forEach((node, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    pos.set(node.id, { x: c + radius * Math.cos(a), y: c + radius * Math.sin(a), a });
  });
  return { pos, size };
}

// Merges edges between the same two identities into one arrow.
function pairs(edges) {
  const out = new Map();
  for (const e of edges) {
    const key = JSON.stringify([e.src, e.dst]);
    const p = out.get(key) || { src: e.src, dst: e.dst, ports: [], count: 0 };
    p.ports.push(`${e.port}/${e.protocol}`);
    p.count += Number(e.count) || 0;
    out.set(key, p);
  }
  return [...out.values()];
}

function arrow(p, from, to) {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const len = Math.hypot(dx, dy) || 1;
  const ux = dx / len;
  const uy = dy / len;
  return s(
    "g",
    { class: "edge" },
    s("title", {}, `${p.src} → ${p.dst}: ${p.ports.join(", ")} (${p.count} connections)`),
    s("line", {
      x1: from.x + ux * NODE_R,
      y1: from.y + uy * NODE_R,
      x2: to.x - ux * (NODE_R + 4),
      y2: to.y - uy * (NODE_R + 4),
      "marker-end": "url(#arrowhead)",
    }),
    s("text", { x: (from.x + to.x) / 2, y: (from.y + to.y) / 2 - 4, class: "edge-label" }, p.ports.join(", ")),
  );
}

function nodeGlyph(node, at) {
  const right = Math.cos(at.a) >= 0;
  const label = s(
    "text",
    { x: at.x + (right ? NODE_R + 6 : -NODE_R - 6), y: at.y + 4, "text-anchor": right ? "start" : "end" },
    node.id,
  );
  const glyph = s(
    "g",
    { class: "node node-" + (node.kind === "workload" ? "workload" : "external"), "data-node": node.id },
    s("title", {}, `${node.id} (${node.kind}${node.namespace ? ", namespace " + node.namespace : ""})`),
    s("circle", { cx: at.x, cy: at.y, r: NODE_R }),
    label,
  );
  return node.kind === "workload" ? s("a", { href: "#/workloads/" + encodeURIComponent(node.id) }, glyph) : glyph;
}

function picture(graph) {
  const { pos, size } = layout(graph.nodes);
  return s(
    "svg",
    { viewBox: `0 0 ${size} ${size}`, class: "graph", role: "img", "aria-label": "Connections between identities" },
    s(
      "defs",
      {},
      s(
        "marker",
        { id: "arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
        s("path", { d: "M0,0 L10,5 L0,10 z" }),
      ),
    ),
    pairs(graph.edges)
      .filter((p) => pos.has(p.src) && pos.has(p.dst))
      .map((p) => arrow(p, pos.get(p.src), pos.get(p.dst))),
    graph.nodes.map((node) => nodeGlyph(node, pos.get(node.id))),
  );
}

export async function render() {
  const graph = await api.graph();
  const nodes = graph.nodes || [];
  const edges = graph.edges || [];
  return h(
    "div",
    {},
    h("h1", {}, "Connections"),
    nodes.length === 0
      ? h("p", { class: "muted" }, "No connections observed yet.")
      : [
          section("Identities and the connections between them", picture({ nodes, edges })),
          section(
            "Connections",
            table(
              ["From", "To", "Port", "Protocol", "Count", "Last seen"],
              edges.map((e) =>
                h(
                  "tr",
                  {},
                  h("td", {}, e.src),
                  h("td", {}, e.dst),
                  h("td", { class: "num" }, String(e.port)),
                  h("td", {}, e.protocol),
                  h("td", { class: "num" }, String(e.count)),
                  h("td", {}, ago(e.last_seen)),
                ),
              ),
              { id: "edges" },
            ),
          ),
        ],
  );
}
