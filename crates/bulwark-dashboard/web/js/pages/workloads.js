// Workloads with their profile version and the mode of each behaviour class;
// "Promote" moves every class on from the workload's weakest mode
// (discover -> monitor -> protect). The server decides whether the user may.

import * as api from "../api.js";
import { h, table } from "../dom.js";
import { CLASSES, ago, digest, lowestMode, modeClass, nextMode } from "../format.js";
import { failed } from "../app.js";

// Sets `classes` (all when empty) of workload `id` to mode `to`; true when
// the server did it.
export async function promote(id, to, classes, reload) {
  let view;
  try {
    view = await api.setMode(id, to, classes, "set from the dashboard");
  } catch (err) {
    failed(err, `Setting ${id} to ${to}`);
    return false;
  }
  await reload(`${id}: now ${to} (profile version ${view.version})`, "info");
  return true;
}

function modeCell(modes, cls) {
  const m = modes ? modes[cls] : null;
  return h("td", {}, m ? h("span", { class: modeClass(m), "data-class": cls }, m) : h("span", { class: "muted" }, "–"));
}

function row(w, reload) {
  const next = nextMode(lowestMode(w.modes));
  const action = next
    ? h(
        "button",
        {
          type: "button",
          class: "action",
          "data-action": "promote",
          "data-workload": w.id,
          onclick: async (ev) => {
            const button = ev.currentTarget;
            button.disabled = true;
            if (!(await promote(w.id, next, [], reload))) {
              button.disabled = false;
            }
          },
        },
        `Promote to ${next}`,
      )
    : null;
  return h(
    "tr",
    { "data-workload": w.id },
    h("td", {}, h("a", { href: "#/workloads/" + encodeURIComponent(w.id) }, w.id)),
    h("td", {}, w.namespace),
    h("td", { title: w.image_digest || "" }, w.image || "", w.image_digest ? h("div", { class: "muted" }, digest(w.image_digest)) : null),
    h("td", { class: "num" }, String(w.containers_running)),
    h("td", { class: "num" }, w.profile_version === null || w.profile_version === undefined ? "–" : String(w.profile_version)),
    CLASSES.map((c) => modeCell(w.modes, c)),
    h("td", {}, ago(w.last_seen)),
    h("td", {}, action),
  );
}

export async function render(ctx) {
  const list = await api.workloads();
  return h(
    "div",
    {},
    h("h1", {}, "Workloads"),
    list.length === 0
      ? h("p", { class: "muted" }, "No workloads reported yet.")
      : table(
          ["Workload", "Namespace", "Image", "Running", "Profile", ...CLASSES, "Last seen", ""],
          list.map((w) => row(w, ctx.reload)),
          { id: "workloads" },
        ),
  );
}
