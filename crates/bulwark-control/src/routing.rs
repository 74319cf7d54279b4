//! Where alerts go ([`RouteRule`]: by severity, namespace and workload, to
//! named sinks) and which are held back ([`Silence`]: matchers with an
//! expiry). Pure: the server stores rules and silences, passes the current
//! time, and delivers through `bulwark-alert` sinks.

use std::collections::BTreeSet;

use bulwark_core::{Alert, AlertReason, Severity};
use serde::{Deserialize, Serialize};

use crate::rbac::{Scope, Target, namespace_of};

/// What routing and silencing look at in an alert.
#[derive(Clone, Copy, Debug)]
pub struct AlertMeta<'a> {
    /// The deduplication id of the alert (stable for repeats).
    pub alert_id: &'a str,
    pub severity: Severity,
    pub namespace: &'a str,
    pub workload: Option<&'a str>,
    /// The detection rule id, for rule alerts.
    pub rule: Option<&'a str>,
}

impl<'a> AlertMeta<'a> {
    pub fn of(alert: &'a Alert) -> AlertMeta<'a> {
        let workload = alert.workload.as_ref().map(|w| w.as_str());
        AlertMeta {
            alert_id: &alert.id,
            severity: alert.severity,
            namespace: workload.map_or("default", namespace_of),
            workload,
            rule: match &alert.reason {
                AlertReason::Rule { rule } => Some(rule.id.as_str()),
                _ => None,
            },
        }
    }
}

/// A workload id, or a prefix ending in `*`.
fn pattern_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Why a rule or silence is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("{field} {value:?}: {problem}")]
    Invalid {
        field: &'static str,
        value: String,
        problem: &'static str,
    },
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), RoutingError> {
    let problem = if value.is_empty() {
        Some("is empty")
    } else if value.len() > max {
        Some("is too long")
    } else if value.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(RoutingError::Invalid {
            field,
            value: value.escape_debug().to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

fn check_pattern(field: &'static str, value: &str) -> Result<(), RoutingError> {
    check_text(field, value, 512)?;
    let body = value.strip_suffix('*').unwrap_or(value);
    if body.contains('*') || value.chars().any(char::is_whitespace) {
        return Err(RoutingError::Invalid {
            field,
            value: value.escape_debug().to_string(),
            problem: "a pattern is an id, or a prefix ending in '*', without spaces",
        });
    }
    Ok(())
}

/// One routing rule: alerts at or above `min_severity`, in `namespace` (if
/// set), of workloads matching `workload` (if set) go to every sink named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRule {
    pub name: String,
    pub min_severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Sink names, as configured on the server.
    pub sinks: Vec<String>,
}

impl RouteRule {
    pub fn validate(&self) -> Result<(), RoutingError> {
        check_text("name", &self.name, 128)?;
        if let Some(ns) = &self.namespace {
            check_pattern("namespace", ns)?;
        }
        if let Some(w) = &self.workload {
            check_pattern("workload", w)?;
        }
        if self.sinks.is_empty() {
            return Err(RoutingError::Invalid {
                field: "sinks",
                value: String::new(),
                problem: "name at least one sink",
            });
        }
        self.sinks
            .iter()
            .try_for_each(|s| check_text("sink", s, 128))
    }

    pub fn matches(&self, alert: &AlertMeta<'_>) -> bool {
        alert.severity >= self.min_severity
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| n == alert.namespace)
            && self
                .workload
                .as_deref()
                .is_none_or(|p| alert.workload.is_some_and(|w| pattern_matches(p, w)))
    }
}

/// The sinks an alert goes to: the union over every matching rule.
pub fn route<'r>(rules: &'r [RouteRule], alert: &AlertMeta<'_>) -> BTreeSet<&'r str> {
    rules
        .iter()
        .filter(|r| r.matches(alert))
        .flat_map(|r| r.sinks.iter().map(String::as_str))
        .collect()
}

/// Which alerts a silence holds back: every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A workload id, or a prefix ending in `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The alert's deduplication id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// A detection rule id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl SilenceMatcher {
    pub fn validate(&self) -> Result<(), RoutingError> {
        if self.namespace.is_none()
            && self.workload.is_none()
            && self.alert_id.is_none()
            && self.rule.is_none()
        {
            return Err(RoutingError::Invalid {
                field: "matcher",
                value: String::new(),
                problem: "set at least one of namespace, workload, alert_id, rule",
            });
        }
        if let Some(ns) = &self.namespace {
            check_text("namespace", ns, 253)?;
            if ns.contains(['*', '/']) {
                return Err(RoutingError::Invalid {
                    field: "namespace",
                    value: ns.escape_debug().to_string(),
                    problem: "a namespace is a name without '*' or '/'",
                });
            }
        }
        if let Some(w) = &self.workload {
            check_pattern("workload", w)?;
        }
        if let Some(a) = &self.alert_id {
            check_text("alert_id", a, 512)?;
        }
        if let Some(r) = &self.rule {
            check_text("rule", r, 128)?;
        }
        Ok(())
    }

    pub fn matches(&self, alert: &AlertMeta<'_>) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|n| n == alert.namespace)
            && self
                .workload
                .as_deref()
                .is_none_or(|p| alert.workload.is_some_and(|w| pattern_matches(p, w)))
            && self.alert_id.as_deref().is_none_or(|a| a == alert.alert_id)
            && self.rule.as_deref().is_none_or(|r| Some(r) == alert.rule)
    }

    /// Where the silence reaches, for RBAC: a workload pattern's scope, else
    /// the namespace, else the whole cluster.
    pub fn target(&self) -> Target {
        match (&self.workload, &self.namespace) {
            (Some(w), _) => Scope::Workload(w.clone()).as_target(),
            (None, Some(ns)) => Target::namespace(ns),
            (None, None) => Target::Cluster,
        }
    }
}

/// A silence: alerts matching `matcher` are stored and shown but not sent
/// to sinks until `expires_at` (unix milliseconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matcher: SilenceMatcher,
    pub expires_at: i64,
}

/// The first active silence that holds `alert` back.
pub fn silenced_by<'s>(
    silences: &'s [Silence],
    alert: &AlertMeta<'_>,
    now_ms: i64,
) -> Option<&'s Silence> {
    silences
        .iter()
        .find(|s| s.expires_at > now_ms && s.matcher.matches(alert))
}

#[cfg(test)]
mod tests;
