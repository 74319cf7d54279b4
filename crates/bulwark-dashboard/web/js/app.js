// The dashboard shell: navigation, session, routing between pages by the
// URL fragment (#/alerts, #/workloads/ID, ...).

import * as api from "./api.js";
import { h, mount } from "./dom.js";
import * as login from "./pages/login.js";
import * as overview from "./pages/overview.js";
import * as workloads from "./pages/workloads.js";
import * as workload from "./pages/workload.js";
import * as graph from "./pages/graph.js";
import * as alerts from "./pages/alerts.js";
import * as images from "./pages/images.js";
import * as compliance from "./pages/compliance.js";
import * as audit from "./pages/audit.js";

const NAV = [
  ["#/", "Overview"],
  ["#/workloads", "Workloads"],
  ["#/graph", "Connections"],
  ["#/alerts", "Alerts"],
  ["#/images", "Images"],
  ["#/compliance", "Compliance"],
  ["#/audit", "Audit log"],
];

const ROUTES = [
  [/^#\/login$/, login],
  [/^#?\/?$/, overview],
  [/^#\/workloads$/, workloads],
  [/^#\/workloads\/(.+)$/, workload],
  [/^#\/graph$/, graph],
  [/^#\/alerts$/, alerts],
  [/^#\/images$/, images],
  [/^#\/images\/(.+)$/, images],
  [/^#\/compliance$/, compliance],
  [/^#\/audit$/, audit],
];

// `pending`: a notice to show on the next page (after a redirect).
const state = { user: null, generation: 0, pending: null };

const banner = () => document.getElementById("banner");

// Shows a message above the page: "error" for failures and refusals.
export function notify(message, kind) {
  const el = banner();
  el.className = "banner banner-" + (kind === "error" ? "error" : "info");
  mount(el, message);
  el.hidden = false;
}

function clearNotice() {
  banner().hidden = true;
}

// An API failure as a notice; a lost session goes back to the login page.
export function failed(err, what) {
  if (err instanceof api.ApiError && err.status === 401) {
    state.user = null;
    location.hash = "#/login";
    return;
  }
  if (err instanceof api.ApiError && err.status === 403) {
    notify(`Denied: ${what}: ${err.message}` + (err.requestId ? ` (request ${err.requestId})` : ""), "error");
    return;
  }
  const id = err instanceof api.ApiError && err.requestId ? ` (request ${err.requestId})` : "";
  notify(`${what} failed: ${err.message}${id}`, "error");
}

function renderShell() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!state.user) {
    mount(nav);
    mount(who);
    return;
  }
  const current = location.hash.replace(/\/[^/]*$/, "") || "#/";
  mount(
    nav,
    NAV.map(([href, label]) =>
      h("a", { href, class: href === location.hash || href === current ? "active" : null }, label),
    ),
  );
  const roles = (state.user.bindings || []).map((b) => `${b.role}@${b.scope}`).join(", ");
  mount(
    who,
    h("span", { class: "user", title: roles, "data-test": "user" }, state.user.name),
    h("button", { type: "button", class: "link", onclick: signOut }, "Log out"),
  );
}

async function signOut() {
  try {
    await api.logout();
  } catch (err) {
    failed(err, "Log out");
  }
  state.user = null;
  location.hash = "#/login";
}

export async function signedIn() {
  state.user = await api.whoami();
  location.hash = "#/";
}

// Renders the page of the current URL fragment; `notice` ({message, kind}) is
// shown once the page is there.
async function route(notice) {
  const generation = ++state.generation;
  const hash = location.hash || "#/";
  const main = document.getElementById("main");
  notice = notice || state.pending;
  state.pending = null;
  if (!state.user && hash !== "#/login") {
    try {
      state.user = await api.whoami();
    } catch (err) {
      if (!(err instanceof api.ApiError && err.status === 401)) {
        const id = err instanceof api.ApiError && err.requestId ? ` (request ${err.requestId})` : "";
        state.pending = { message: `Loading the session failed: ${err.message}${id}`, kind: "error" };
      }
      if (hash === "#/login") {
        return route(state.pending);
      }
      location.hash = "#/login";
      return;
    }
  }
  clearNotice();
  renderShell();
  for (const [pattern, page] of ROUTES) {
    const m = hash.match(pattern);
    if (m) {
      let params;
      try {
        params = m.slice(1).map(decodeURIComponent);
      } catch {
        mount(main, h("p", {}, "No such page."));
        return;
      }
      mount(main, h("p", { class: "muted" }, "Loading…"));
      const ctx = {
        params,
        user: state.user,
        // Stale renders (the user moved on) must not overwrite the page.
        current: () => generation === state.generation,
        reload: (message, kind) => route({ message, kind }),
      };
      try {
        const content = await page.render(ctx);
        if (ctx.current()) {
          mount(main, content);
          if (notice && notice.message) {
            notify(notice.message, notice.kind);
          }
        }
      } catch (err) {
        if (ctx.current()) {
          mount(main, h("p", { class: "muted" }, "Could not load this page."));
          failed(err, "Loading the page");
        }
      }
      return;
    }
  }
  mount(main, h("p", {}, "No such page."));
}

// Anything the CSP blocks is a bug or an attack: say so on the page.
document.addEventListener("securitypolicyviolation", (ev) => {
  notify(`The browser blocked ${ev.blockedURI || "inline code"} (${ev.effectiveDirective}) under the page's security policy.`, "error");
});

window.addEventListener("hashchange", () => route());
window.addEventListener("DOMContentLoaded", () => route());
