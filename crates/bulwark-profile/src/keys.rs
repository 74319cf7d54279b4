//! A uniform view of every rule of a profile: its identity ([`RuleKey`]),
//! its details and where it was seen. Diff, merge and aging work on this.

use std::fmt;

use crate::observe::proto;
use crate::pattern::PathPattern;
use crate::spec::{Class, Peer, Seen, WorkloadProfile};

/// What makes two rules the same rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleKey {
    Process {
        exe: String,
        path: Option<String>,
        parent: Option<String>,
    },
    File {
        path: PathPattern,
    },
    Egress {
        peer: Peer,
        port: Option<u16>,
        protocol: &'static str,
    },
    Listen {
        port: u16,
        protocol: &'static str,
    },
    Capability {
        name: String,
    },
}

impl RuleKey {
    pub fn class(&self) -> Class {
        match self {
            RuleKey::Process { .. } => Class::Process,
            RuleKey::File { .. } => Class::File,
            RuleKey::Egress { .. } | RuleKey::Listen { .. } => Class::Network,
            RuleKey::Capability { .. } => Class::Capability,
        }
    }
}

impl fmt::Display for RuleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleKey::Process { exe, path, parent } => {
                write!(f, "process {}", path.as_deref().unwrap_or(exe))?;
                if path.is_some() {
                    write!(f, " ({exe})")?;
                }
                match parent {
                    Some(p) => write!(f, " parent {p}"),
                    None => write!(f, " parent <container entry>"),
                }
            }
            RuleKey::File { path } => write!(f, "file {path}"),
            RuleKey::Egress {
                peer,
                port,
                protocol,
            } => match port {
                Some(port) => write!(f, "egress {peer} port {port}/{protocol}"),
                None => write!(f, "egress {peer} ({protocol})"),
            },
            RuleKey::Listen { port, protocol } => write!(f, "listen port {port}/{protocol}"),
            RuleKey::Capability { name } => write!(f, "capability {name}"),
        }
    }
}

/// One rule, seen through its key.
#[derive(Clone, Debug)]
pub struct RuleView<'a> {
    pub key: RuleKey,
    /// What else the rule allows: argument patterns, file access.
    pub detail: String,
    pub seen: &'a Seen,
}

/// Every rule of `profile`, in document order.
pub fn rules(profile: &WorkloadProfile) -> Vec<RuleView<'_>> {
    let s = &profile.spec;
    let mut out = Vec::with_capacity(profile.rule_count());
    for r in &s.processes {
        let args: Vec<&str> = r.args.iter().map(|a| a.as_str()).collect();
        out.push(RuleView {
            key: RuleKey::Process {
                exe: r.exe.clone(),
                path: r.path.clone(),
                parent: r.parent.clone(),
            },
            detail: if args.is_empty() {
                "args *".into()
            } else {
                format!("args {args:?}")
            },
            seen: &r.seen,
        });
    }
    for r in &s.files {
        out.push(RuleView {
            key: RuleKey::File {
                path: r.path.clone(),
            },
            detail: r.access.to_string(),
            seen: &r.seen,
        });
    }
    for r in &s.network.egress {
        out.push(RuleView {
            key: RuleKey::Egress {
                peer: r.peer.clone(),
                port: r.port,
                protocol: proto(r.protocol),
            },
            detail: String::new(),
            seen: &r.seen,
        });
    }
    for r in &s.network.listen {
        out.push(RuleView {
            key: RuleKey::Listen {
                port: r.port,
                protocol: proto(r.protocol),
            },
            detail: String::new(),
            seen: &r.seen,
        });
    }
    for r in &s.capabilities {
        out.push(RuleView {
            key: RuleKey::Capability {
                name: r.name.clone(),
            },
            detail: String::new(),
            seen: &r.seen,
        });
    }
    out
}
