//! Matching observations against a profile, and learning them into it.
//!
//! Learning generalises so that profiles stay small and stable: argument
//! lists collapse to `*` past a limit, `/proc/<pid>/` becomes `/proc/*/`, a
//! directory with many learned files becomes a prefix, and many hosts of one
//! /24 on one port become the /24.

use bulwark_core::SocketProtocol;
use time::OffsetDateTime;

use crate::observe::Observation;
use crate::pattern::{ArgPattern, Cidr, PathPattern};
use crate::spec::{
    Access, CapabilityRule, EgressRule, FileRule, ListenRule, Peer, ProcessRule, Seen,
    WorkloadProfile,
};

/// How far learning goes before it generalises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Distinct argument lists kept per program before they become `*`.
    pub max_arg_patterns: usize,
    /// Files learned in one directory before it becomes a prefix.
    pub max_dir_children: usize,
    /// Hosts of one /24 (or /64) learned per port before it becomes the range.
    pub max_hosts_per_subnet: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_arg_patterns: 8,
            max_dir_children: 16,
            max_hosts_per_subnet: 16,
        }
    }
}

/// When and where a behaviour was seen.
#[derive(Clone, Copy, Debug)]
pub struct Use<'a> {
    pub at: OffsetDateTime,
    /// Image version of the container.
    pub image: Option<&'a str>,
    pub environment: &'a str,
}

impl Use<'_> {
    fn seen(&self) -> Seen {
        Seen::new(self.at, self.image, self.environment)
    }
}

fn touch(seen: &mut Seen, u: &Use<'_>) -> bool {
    seen.touch(u.at, u.image, u.environment)
}

impl WorkloadProfile {
    /// If a rule allows `obs`, records the use and returns whether that use
    /// was in a new image version or environment; `None` if no rule allows it.
    pub fn touch(&mut self, obs: &Observation, u: &Use<'_>) -> Option<bool> {
        let s = &mut self.spec;
        match obs {
            Observation::Process {
                exe,
                path,
                parent,
                args,
            } => s
                .processes
                .iter_mut()
                .find(|r| process_matches(r, exe, path.as_deref(), parent.as_deref(), args))
                .map(|r| touch(&mut r.seen, u)),
            Observation::File { path, access } => s
                .files
                .iter_mut()
                .find(|r| r.path.matches(path) && r.access.covers(*access))
                .map(|r| touch(&mut r.seen, u)),
            Observation::Egress {
                peer,
                port,
                protocol,
                owner,
            } => s
                .network
                .egress
                .iter_mut()
                .find(|r| egress_matches(r, peer, owner.as_ref(), *port, *protocol))
                .map(|r| touch(&mut r.seen, u)),
            Observation::Listen { port, protocol } => s
                .network
                .listen
                .iter_mut()
                .find(|r| r.port == *port && r.protocol == *protocol)
                .map(|r| touch(&mut r.seen, u)),
            Observation::Capability { name } => s
                .capabilities
                .iter_mut()
                .find(|r| r.name == *name)
                .map(|r| touch(&mut r.seen, u)),
        }
    }

    /// Adds what is needed for `obs` to be allowed (call when `touch`
    /// returned `None`).
    pub fn learn(&mut self, obs: &Observation, u: &Use<'_>, limits: &Limits) {
        match obs {
            Observation::Process {
                exe,
                path,
                parent,
                args,
            } => self.learn_process(exe, path.as_deref(), parent.as_deref(), args, u, limits),
            Observation::File { path, access } => self.learn_file(path, *access, u, limits),
            Observation::Egress {
                peer,
                port,
                protocol,
                owner,
            } => match owner {
                // A known peer is learned by identity, not by address.
                Some(w) => {
                    self.learn_egress(&Peer::Workload(w.clone()), *port, *protocol, u, limits)
                }
                None => self.learn_egress(peer, *port, *protocol, u, limits),
            },
            Observation::Listen { port, protocol } => self.spec.network.listen.push(ListenRule {
                port: *port,
                protocol: *protocol,
                seen: u.seen(),
            }),
            Observation::Capability { name } => self.spec.capabilities.push(CapabilityRule {
                name: name.clone(),
                seen: u.seen(),
            }),
        }
    }

    fn learn_process(
        &mut self,
        exe: &str,
        path: Option<&str>,
        parent: Option<&str>,
        args: &str,
        u: &Use<'_>,
        limits: &Limits,
    ) {
        let same =
            self.spec.processes.iter_mut().find(|r| {
                r.exe == exe && r.path.as_deref() == path && r.parent.as_deref() == parent
            });
        match same {
            Some(rule) => {
                touch(&mut rule.seen, u);
                rule.args.push(ArgPattern::literal(args));
                if rule.args.len() > limits.max_arg_patterns {
                    rule.args = vec![ArgPattern::any()];
                }
            }
            None => self.spec.processes.push(ProcessRule {
                exe: exe.to_owned(),
                path: path.map(str::to_owned),
                parent: parent.map(str::to_owned),
                args: vec![ArgPattern::literal(args)],
                seen: u.seen(),
            }),
        }
    }

    fn learn_file(&mut self, path: &str, access: Access, u: &Use<'_>, limits: &Limits) {
        let generic = generalize_path(path);
        let Ok(pattern) = PathPattern::new(generic) else {
            return;
        };
        let files = &mut self.spec.files;
        if let Some(rule) = files.iter_mut().find(|r| r.path == pattern) {
            rule.access = rule.access.union(access);
            touch(&mut rule.seen, u);
            return;
        }
        files.push(FileRule {
            path: pattern.clone(),
            access,
            seen: u.seen(),
        });
        collapse_directory(files, &pattern, limits.max_dir_children);
    }

    fn learn_egress(
        &mut self,
        peer: &Peer,
        port: Option<u16>,
        protocol: SocketProtocol,
        u: &Use<'_>,
        limits: &Limits,
    ) {
        let egress = &mut self.spec.network.egress;
        egress.push(EgressRule {
            peer: peer.clone(),
            port,
            protocol,
            seen: u.seen(),
        });
        if let Peer::Cidr(host) = peer {
            collapse_subnet(egress, *host, port, protocol, limits.max_hosts_per_subnet);
        }
    }
}

fn process_matches(
    rule: &ProcessRule,
    exe: &str,
    path: Option<&str>,
    parent: Option<&str>,
    args: &str,
) -> bool {
    let parent_ok = match parent {
        // Unknown parent (or the container's first process): any rule for
        // this program may stand for it.
        None => true,
        Some(p) => rule.parent.as_deref() == Some(p),
    };
    rule.exe == exe
        && rule.path.as_deref() == path
        && parent_ok
        && (rule.args.is_empty() || rule.args.iter().any(|a| a.matches(args)))
}

fn egress_matches(
    rule: &EgressRule,
    peer: &Peer,
    owner: Option<&bulwark_core::WorkloadId>,
    port: Option<u16>,
    proto: SocketProtocol,
) -> bool {
    let port_ok = rule.port.is_none() || rule.port == port;
    let peer_ok = match (&rule.peer, peer) {
        (Peer::Cidr(range), Peer::Cidr(host)) => range.contains(host.addr()),
        (Peer::Workload(w), _) => owner == Some(w),
        (a, b) => a == b,
    };
    rule.protocol == proto && port_ok && peer_ok
}

/// `/proc/<pid>/...` and `/proc/<pid>/task/<tid>/...` with the ids as `*`.
pub fn generalize_path(path: &str) -> String {
    let mut segs: Vec<&str> = path.split('/').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if segs.get(1) == Some(&"proc") {
        if segs.get(2).is_some_and(|s| numeric(s)) {
            segs[2] = "*";
        }
        if segs.get(3) == Some(&"task") && segs.get(4).is_some_and(|s| numeric(s)) {
            segs[4] = "*";
        }
    }
    segs.join("/")
}

fn parent_dir(pattern: &str) -> Option<&str> {
    let trimmed = pattern.trim_end_matches('/');
    let idx = trimmed.rfind('/')?;
    Some(&trimmed[..=idx])
}

/// Replaces the exact files of `new`'s directory by the directory prefix
/// once there are more than `max` of them (never for `/` itself).
fn collapse_directory(files: &mut Vec<FileRule>, new: &PathPattern, max: usize) {
    let Some(dir) = parent_dir(new.as_str()).map(str::to_owned) else {
        return;
    };
    if dir == "/" {
        return;
    }
    let in_dir = |r: &FileRule| !r.path.is_prefix() && parent_dir(r.path.as_str()) == Some(&dir);
    if files.iter().filter(|r| in_dir(r)).count() <= max {
        return;
    }
    let Ok(prefix) = PathPattern::new(dir.clone()) else {
        return;
    };
    let mut merged: Option<FileRule> = None;
    for rule in files.iter().filter(|r| in_dir(r)) {
        match &mut merged {
            None => {
                merged = Some(FileRule {
                    path: prefix.clone(),
                    access: rule.access,
                    seen: rule.seen.clone(),
                });
            }
            Some(m) => {
                m.access = m.access.union(rule.access);
                m.seen.merge(&rule.seen);
            }
        }
    }
    files.retain(|r| !in_dir(r));
    files.extend(merged);
}

/// Replaces hosts of `host`'s /24 (IPv4) or /64 (IPv6) on one port by the
/// range once there are more than `max` of them.
fn collapse_subnet(
    egress: &mut Vec<EgressRule>,
    host: Cidr,
    port: Option<u16>,
    protocol: SocketProtocol,
    max: usize,
) {
    let prefix = if host.addr().is_ipv4() { 24 } else { 64 };
    let Ok(range) = Cidr::new(host.addr(), prefix) else {
        return;
    };
    let member = |r: &EgressRule| match &r.peer {
        Peer::Cidr(c) => {
            r.port == port
                && r.protocol == protocol
                && c.prefix() > prefix
                && range.contains(c.addr())
        }
        _ => false,
    };
    if egress.iter().filter(|r| member(r)).count() <= max {
        return;
    }
    let mut seen: Option<Seen> = None;
    for rule in egress.iter().filter(|r| member(r)) {
        match &mut seen {
            None => seen = Some(rule.seen.clone()),
            Some(s) => s.merge(&rule.seen),
        }
    }
    egress.retain(|r| !member(r));
    if let Some(seen) = seen {
        egress.push(EgressRule {
            peer: Peer::Cidr(range),
            port,
            protocol,
            seen,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::WorkloadId;
    use std::net::IpAddr;

    fn profile() -> WorkloadProfile {
        let id = WorkloadId::new("image:web").unwrap_or_else(|e| panic!("{e}"));
        WorkloadProfile::new(id, OffsetDateTime::UNIX_EPOCH)
    }

    fn u() -> Use<'static> {
        Use {
            at: OffsetDateTime::UNIX_EPOCH,
            image: Some("web:1"),
            environment: "test",
        }
    }

    fn learn_or_touch(p: &mut WorkloadProfile, obs: &Observation) {
        if p.touch(obs, &u()).is_none() {
            p.learn(obs, &u(), &Limits::default());
        }
    }

    fn file(path: &str, read: bool, write: bool) -> Observation {
        Observation::File {
            path: path.into(),
            access: Access {
                read,
                write,
                exec: false,
            },
        }
    }

    #[test]
    fn argument_lists_collapse_to_any_past_the_limit() {
        let mut p = profile();
        for i in 0..9 {
            let obs = Observation::Process {
                exe: "/bin/worker".into(),
                path: None,
                parent: None,
                args: format!("--job {i}"),
            };
            learn_or_touch(&mut p, &obs);
        }
        assert_eq!(p.spec.processes.len(), 1);
        assert_eq!(p.spec.processes[0].args, vec![ArgPattern::any()]);
    }

    #[test]
    fn proc_pids_generalise_and_busy_directories_become_prefixes() {
        let mut p = profile();
        learn_or_touch(&mut p, &file("/proc/123/stat", true, false));
        assert!(
            p.touch(&file("/proc/456/stat", true, false), &u())
                .is_some()
        );
        assert!(
            p.touch(&file("/proc/456/environ", true, false), &u())
                .is_none()
        );
        for i in 0..17 {
            learn_or_touch(
                &mut p,
                &file(&format!("/var/cache/app/{i}.bin"), true, true),
            );
        }
        let prefix = p
            .spec
            .files
            .iter()
            .find(|r| r.path.as_str() == "/var/cache/app/");
        assert!(prefix.is_some(), "{:?}", p.spec.files);
        assert_eq!(p.spec.files.len(), 2);
        assert!(
            p.touch(&file("/var/cache/app/new.bin", true, true), &u())
                .is_some()
        );
    }

    #[test]
    fn write_access_is_learned_separately_from_read() {
        let mut p = profile();
        learn_or_touch(&mut p, &file("/data/db", true, false));
        assert!(p.touch(&file("/data/db", true, true), &u()).is_none());
        learn_or_touch(&mut p, &file("/data/db", true, true));
        assert_eq!(p.spec.files.len(), 1);
        assert_eq!(p.spec.files[0].access.to_string(), "rw");
    }

    #[test]
    fn many_hosts_of_one_subnet_on_one_port_become_the_subnet() {
        let mut p = profile();
        for i in 1..=17u8 {
            let obs = Observation::Egress {
                peer: Peer::Cidr(Cidr::host(IpAddr::from([10, 1, 2, i]))),
                port: Some(443),
                protocol: SocketProtocol::Tcp,
                owner: None,
            };
            learn_or_touch(&mut p, &obs);
        }
        assert_eq!(p.spec.network.egress.len(), 1);
        assert_eq!(p.spec.network.egress[0].peer.to_string(), "10.1.2.0/24");
        let other_port = Observation::Egress {
            peer: Peer::Cidr(Cidr::host(IpAddr::from([10, 1, 2, 99]))),
            port: Some(22),
            protocol: SocketProtocol::Tcp,
            owner: None,
        };
        assert!(p.touch(&other_port, &u()).is_none());
    }

    #[test]
    fn known_parent_must_match_but_unknown_parent_matches_any() {
        let mut p = profile();
        let obs = |parent: Option<&str>| Observation::Process {
            exe: "/bin/busybox".into(),
            path: Some("/bin/sh".into()),
            parent: parent.map(str::to_owned),
            args: "-c date".into(),
        };
        learn_or_touch(&mut p, &obs(Some("/usr/sbin/httpd")));
        assert!(p.touch(&obs(Some("/usr/sbin/httpd")), &u()).is_some());
        assert!(p.touch(&obs(Some("/usr/bin/python3")), &u()).is_none());
        assert!(p.touch(&obs(None), &u()).is_some());
    }
}
