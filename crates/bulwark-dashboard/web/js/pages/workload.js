// One workload: modes per class with controls, its profile document, its
// recent alerts.

import * as api from "../api.js";
import { h, section, table } from "../dom.js";
import { CLASSES, MODES, ago, modeClass, reason, severityClass, time } from "../format.js";
import { promote } from "./workloads.js";

function modesSection(id, profile, reload) {
  const rows = CLASSES.map((c) => {
    const current = profile.modes[c];
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, c),
      h("td", {}, h("span", { class: modeClass(current) }, current)),
      h(
        "td",
        {},
        MODES.filter((m) => m !== current).map((m) =>
          h(
            "button",
            {
              type: "button",
              class: "action",
              "data-action": "set-mode",
              "data-class": c,
              "data-mode": m,
              onclick: () => promote(id, m, [c], reload),
            },
            m,
          ),
        ),
      ),
    );
  });
  return section(
    `Modes (profile version ${profile.version}, changed ${ago(profile.updated_at)} by ${profile.updated_by})`,
    table(["Class", "Mode", "Set to"], rows),
  );
}

async function optional(promise) {
  try {
    return { value: await promise };
  } catch (err) {
    if (err instanceof api.ApiError && (err.status === 404 || err.status === 403)) {
      return { error: err };
    }
    throw err;
  }
}

export async function render(ctx) {
  const id = ctx.params[0];
  const [w, profile, alerts] = await Promise.all([
    api.workload(id),
    optional(api.profile(id)),
    optional(api.alerts({ workload: id, limit: 20 })),
  ]);
  return h(
    "div",
    {},
    h("h1", {}, w.id),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Namespace"),
      h("dd", {}, w.namespace),
      h("dt", {}, "Image"),
      h("dd", {}, w.image || "–"),
      h("dt", {}, "Digest"),
      h("dd", {}, h("code", {}, w.image_digest || "–")),
      h("dt", {}, "Running containers"),
      h("dd", {}, String(w.containers_running)),
      h("dt", {}, "First seen"),
      h("dd", {}, time(w.first_seen)),
      h("dt", {}, "Last seen"),
      h("dd", {}, time(w.last_seen)),
    ),
    profile.value
      ? [modesSection(id, profile.value, ctx.reload), section("Profile", h("pre", { class: "document" }, profile.value.document))]
      : section("Profile", h("p", { class: "muted" }, profile.error.message)),
    section(
      "Recent alerts",
      alerts.value
        ? table(
            ["Time", "Severity", "What", "Message"],
            alerts.value.map((a) =>
              h(
                "tr",
                {},
                h("td", {}, time(a.alert.time)),
                h("td", {}, h("span", { class: severityClass(a.alert.severity) }, a.alert.severity)),
                h("td", {}, reason(a.alert)),
                h("td", {}, a.alert.message),
              ),
            ),
          )
        : h("p", { class: "muted" }, alerts.error.message),
      h("a", { href: "#/alerts" }, "All alerts"),
    ),
  );
}
