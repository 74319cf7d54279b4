// The server's HTTP API, as the dashboard uses it. Every call goes through
// the same authentication, RBAC and audit as any other client: the session
// cookie (HttpOnly, set by the login call) authenticates, and state-changing
// calls carry the session's CSRF token in a header.

const BASE = "/api/v1";
const CSRF_KEY = "bulwark.csrf";

export class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === "object" ? body : {};
    super(b.message || `HTTP ${status}`);
    this.status = status;
    this.code = b.error || "";
    this.requestId = b.request_id || "";
  }
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const csrf = sessionStorage.getItem(CSRF_KEY);
  if (method !== "GET" && csrf) {
    headers["X-CSRF-Token"] = csrf;
  }
  const response = await fetch(BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
  });
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 300) };
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, data);
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") {
      q.set(k, String(v));
    }
  }
  const text = q.toString();
  return text ? "?" + text : "";
}

const seg = encodeURIComponent;

export async function login(name, password) {
  const session = await call("POST", "/session", { name, password });
  sessionStorage.setItem(CSRF_KEY, session.csrf);
  return session;
}

export async function logout() {
  try {
    await call("DELETE", "/session");
  } finally {
    sessionStorage.removeItem(CSRF_KEY);
  }
}

export const whoami = () => call("GET", "/whoami");
export const workloads = () => call("GET", "/workloads");
export const workload = (id) => call("GET", `/workloads/${seg(id)}`);
export const profile = (id) => call("GET", `/profiles/${seg(id)}`);
export const setMode = (id, to, classes, reason) =>
  call("POST", `/profiles/${seg(id)}/mode`, { to, classes: classes || [], reason });
export const graph = () => call("GET", "/graph");
export const alerts = (params) => call("GET", "/alerts" + query(params));
export const silences = () => call("GET", "/silences");
export const silence = (matcher, reason, expiresAt) =>
  call("POST", "/silences", { matcher, reason, expires_at: expiresAt });
export const expireSilence = (id) => call("DELETE", `/silences/${seg(id)}`);
export const nodes = () => call("GET", "/nodes");
export const images = () => call("GET", "/images");
export const image = (digest) => call("GET", `/images/${seg(digest)}`);
export const findings = (digest) => call("GET", `/images/${seg(digest)}/findings`);
export const compliance = () => call("GET", "/compliance");
export const complianceHtml = BASE + "/compliance?format=html";
export const audit = (params) => call("GET", "/audit" + query(params));
