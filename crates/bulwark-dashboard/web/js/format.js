// Formatting of API values for display. Returns strings only.

export const SEVERITIES = ["critical", "high", "medium", "low", "unknown"];
export const MODES = ["discover", "monitor", "protect"];
export const CLASSES = ["process", "file", "network", "capability"];

function pad(n) {
  return String(n).padStart(2, "0");
}

// Unix milliseconds or an RFC 3339 string -> "2026-11-25 19:04:05 UTC".
export function time(value) {
  if (value === null || value === undefined || value === "") {
    return "";
  }
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) {
    return String(value);
  }
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

// "3 min ago"
export function ago(ms) {
  const secs = Math.round((Date.now() - Number(ms)) / 1000);
  if (!Number.isFinite(secs)) {
    return "";
  }
  if (secs < 60) {
    return `${Math.max(secs, 0)} s ago`;
  }
  if (secs < 3600) {
    return `${Math.round(secs / 60)} min ago`;
  }
  if (secs < 86400) {
    return `${Math.round(secs / 3600)} h ago`;
  }
  return `${Math.round(secs / 86400)} d ago`;
}

// "sha256:0123456789ab…"
export function digest(value) {
  if (!value) {
    return "";
  }
  const text = String(value);
  return text.length > 19 ? text.slice(0, 19) + "…" : text;
}

// A class name from a fixed set, so API text never picks CSS classes.
export function severityClass(sev) {
  return SEVERITIES.includes(sev) ? "sev sev-" + sev : "sev sev-unknown";
}

export function modeClass(mode) {
  return MODES.includes(mode) ? "mode mode-" + mode : "mode";
}

// The weakest mode of a workload's classes (what "promote" moves on from).
export function lowestMode(modes) {
  if (!modes) {
    return null;
  }
  let lowest = MODES.length;
  for (const c of CLASSES) {
    const i = MODES.indexOf(modes[c]);
    if (i >= 0 && i < lowest) {
      lowest = i;
    }
  }
  return lowest < MODES.length ? MODES[lowest] : null;
}

export function nextMode(mode) {
  const i = MODES.indexOf(mode);
  return i >= 0 && i + 1 < MODES.length ? MODES[i + 1] : null;
}

// What an alert is about, in a few words.
export function reason(alert) {
  const r = alert && alert.reason;
  if (!r) {
    return "";
  }
  if (r.kind === "rule" && r.rule) {
    return r.rule.name || r.rule.id || "rule";
  }
  if (r.kind === "deviation") {
    return `deviation (${r.class || "?"})`;
  }
  if (r.kind === "health") {
    return "health";
  }
  return String(r.kind || "");
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
