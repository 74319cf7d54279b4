// Alerts, newest first, each with the process ancestry that raised it; a
// severity / workload filter; silencing (with an expiry) and the list of
// active silences.

import * as api from "../api.js";
import { h, olderButton, section, table } from "../dom.js";
import { SEVERITIES, digest, reason, severityClass, time } from "../format.js";
import { failed } from "../app.js";

const PAGE = 50;
const DURATIONS = [
  ["1 hour", 3600e3],
  ["8 hours", 8 * 3600e3],
  ["1 day", 86400e3],
  ["7 days", 7 * 86400e3],
];

const filters = { min_severity: "", workload: "" };

function ancestry(list) {
  if (!list || list.length === 0) {
    return h("p", { class: "muted" }, "No process ancestry.");
  }
  return h(
    "ol",
    { class: "ancestry", "aria-label": "Process ancestry, acting process first" },
    list.map((p) =>
      h(
        "li",
        {},
        h("span", { class: "comm" }, p.comm),
        " ",
        h("code", {}, p.exe || "?"),
        h("span", { class: "muted" }, ` pid ${p.tgid} ppid ${p.ppid} uid ${p.uid} gid ${p.gid}`),
      ),
    ),
  );
}

function ruleFacts(a) {
  const r = a.reason || {};
  if (r.kind === "rule" && r.rule) {
    return [
      h("dt", {}, "Rule"),
      h("dd", {}, `${r.rule.name} (${r.rule.id})`),
      h("dt", {}, "MITRE ATT&CK"),
      h("dd", {}, (r.rule.mitre || []).join(", ") || "–"),
    ];
  }
  return [h("dt", {}, "Reason"), h("dd", {}, `${r.kind || "?"}: ${r.detail || ""}`)];
}

function silenceForm(view, reload) {
  const a = view.alert;
  const rule = a.reason && a.reason.kind === "rule" && a.reason.rule ? a.reason.rule.id : null;
  const scopes = [["this alert", { alert_id: a.id }]];
  if (rule && a.workload) {
    scopes.push([`rule ${rule} on ${a.workload}`, { rule, workload: a.workload }]);
  }
  if (a.workload) {
    scopes.push([`all alerts of ${a.workload}`, { workload: a.workload }]);
  }
  const scope = h("select", { name: "scope" }, scopes.map(([label], i) => h("option", { value: i }, label)));
  const duration = h("select", { name: "duration" }, DURATIONS.map(([label], i) => h("option", { value: i }, label)));
  const why = h("input", { name: "reason", placeholder: "why (recorded in the audit log)", required: true, maxlength: 1024 });
  return h(
    "form",
    {
      class: "silence-form",
      hidden: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        const matcher = scopes[Number(scope.value)][1];
        const expires = Date.now() + DURATIONS[Number(duration.value)][1];
        try {
          const created = await api.silence(matcher, why.value, expires);
          await reload(`Silenced until ${time(created.expires_at)}`, "info");
        } catch (err) {
          failed(err, "Silencing");
        }
      },
    },
    scope,
    duration,
    why,
    h("button", { type: "submit", "data-action": "silence-submit" }, "Silence"),
  );
}

function card(view, reload) {
  const a = view.alert;
  const form = silenceForm(view, reload);
  return h(
    "article",
    { class: "alert", "data-alert": a.id },
    h(
      "header",
      {},
      h("span", { class: severityClass(a.severity) }, a.severity),
      h("strong", { class: "what" }, reason(a)),
      h("span", { class: "workload" }, a.workload || "(no workload)"),
      h("span", { class: "muted" }, time(a.time)),
      a.count > 1 ? h("span", { class: "muted" }, `×${a.count}`) : null,
      view.silenced_by ? h("span", { class: "tag" }, "silenced") : null,
      h(
        "button",
        {
          type: "button",
          class: "action",
          "data-action": "silence",
          onclick: () => {
            form.hidden = !form.hidden;
          },
        },
        "Silence…",
      ),
    ),
    h("p", { class: "message" }, a.message),
    h(
      "dl",
      { class: "facts" },
      ruleFacts(a),
      h("dt", {}, "Decision"),
      h("dd", {}, `${a.decision} (mode ${a.mode})`),
      h("dt", {}, "Container"),
      h("dd", {}, h("code", {}, a.container_id || "–")),
      h("dt", {}, "Image"),
      h("dd", { title: a.image_digest || "" }, h("code", {}, digest(a.image_digest) || "–")),
      h("dt", {}, "Node"),
      h("dd", {}, view.node),
      a.throttled ? [h("dt", {}, "Throttled"), h("dd", {}, String(a.throttled))] : null,
    ),
    h("h3", {}, "Process ancestry"),
    ancestry(a.ancestry),
    form,
  );
}

function silencesSection(list, reload) {
  if (list.length === 0) {
    return null;
  }
  return section(
    "Active silences",
    table(
      ["Matcher", "Reason", "By", "Until", ""],
      list.map((sl) =>
        h(
          "tr",
          {},
          h(
            "td",
            {},
            h(
              "code",
              {},
              Object.entries(sl.matcher || {})
                .map(([k, v]) => `${k}=${v}`)
                .join(" "),
            ),
          ),
          h("td", {}, sl.reason),
          h("td", {}, sl.created_by),
          h("td", {}, time(sl.expires_at)),
          h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                class: "action",
                "data-action": "expire-silence",
                onclick: async () => {
                  try {
                    await api.expireSilence(sl.id);
                    await reload("Silence ended", "info");
                  } catch (err) {
                    failed(err, "Ending the silence");
                  }
                },
              },
              "End",
            ),
          ),
        ),
      ),
    ),
  );
}

function filterForm(reload) {
  const sev = h(
    "select",
    { name: "min_severity", id: "filter-severity" },
    h("option", { value: "" }, "any severity"),
    SEVERITIES.slice(0, 4).map((s) => h("option", { value: s, selected: filters.min_severity === s }, `${s} and above`)),
  );
  const workload = h("input", { name: "workload", id: "filter-workload", placeholder: "workload", value: filters.workload });
  return h(
    "form",
    {
      class: "filters",
      onsubmit: (ev) => {
        ev.preventDefault();
        filters.min_severity = sev.value;
        filters.workload = workload.value.trim();
        reload();
      },
    },
    sev,
    workload,
    h("button", { type: "submit" }, "Filter"),
  );
}

export async function render(ctx) {
  const [list, silences] = await Promise.all([
    api.alerts({ ...filters, limit: PAGE }),
    api.silences().catch((err) => {
      if (err instanceof api.ApiError && err.status === 403) {
        return [];
      }
      throw err;
    }),
  ]);
  const container = h("div", { id: "alerts" }, list.map((a) => card(a, ctx.reload)));
  const more = olderButton(
    "Older alerts",
    list,
    PAGE,
    (before) => api.alerts({ ...filters, limit: PAGE, before }),
    (a) => container.appendChild(card(a, ctx.reload)),
    (err) => failed(err, "Loading older alerts"),
  );
  return h(
    "div",
    {},
    h("h1", {}, "Alerts"),
    filterForm(ctx.reload),
    silencesSection(silences, ctx.reload),
    list.length === 0 ? h("p", { class: "muted" }, "No alerts.") : container,
    more,
  );
}
