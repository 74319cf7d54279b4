// The audit log: one record per API call and per enforcement decision,
// newest first.

import * as api from "../api.js";
import { h, table } from "../dom.js";
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
  let oldest = records.length ? records[records.length - 1].seq : null;
  const more = h(
    "button",
    {
      type: "button",
      hidden: records.length < PAGE,
      onclick: async () => {
        try {
          const page = await api.audit({ limit: PAGE, before: oldest });
          const tbody = body.querySelector("tbody");
          page.forEach((r) => tbody.appendChild(row(r)));
          oldest = page.length ? page[page.length - 1].seq : oldest;
          more.hidden = page.length < PAGE;
        } catch (err) {
          failed(err, "Loading older records");
        }
      },
    },
    "Older records",
  );
  return h("div", {}, h("h1", {}, "Audit log"), body, more);
}
