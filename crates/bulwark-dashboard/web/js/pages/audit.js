// The audit log: one record per API call and per enforcement decision,
// newest first.

import * as api from "../api.js";
import { h, olderButton, table } from "../dom.js";
import { time } from "../format.js";
import { failed } from "../app.js";

const PAGE = 100;

function row(r) {
  const outcome = ["success", "denied", "failure"].includes(r.outcome) ? r.outcome : "unknown";
  return h(
    "tr",
    { class: "outcome-" + outcome },
    h("td", { class: "num" }, String(r.seq)),
    h("td", {}, time(r.time)),
    h("td", {}, r.actor),
    h("td", {}, r.action),
    h("td", {}, r.target || ""),
    h("td", {}, r.outcome),
    h("td", {}, h("code", { class: "detail" }, JSON.stringify(r.detail))),
  );
}

export async function render() {
  const records = await api.audit({ limit: PAGE });
  const body = table(["Seq", "Time", "Actor", "Action", "Target", "Outcome", "Detail"], records.map(row), { id: "audit" });
  const tbody = body.querySelector("tbody");
  const more = olderButton(
    "Older records",
    records,
    PAGE,
    (before) => api.audit({ limit: PAGE, before }),
    (r) => tbody.appendChild(row(r)),
    (err) => failed(err, "Loading older records"),
  );
  return h("div", {}, h("h1", {}, "Audit log"), body, more);
}
