//! A learned [`WorkloadProfile`] as an [`EnforcePolicy`] (pure).
//!
//! - Processes: every `exe` (and the `path` it is invoked by) is an allowed
//!   program. Argument patterns and parents cannot be checked by the kernel
//!   at exec time (fanotify sees the file, not `argv`); the sensor's Monitor
//!   alerts cover them.
//! - Files: by default reads and writes outside the rules below stay allowed
//!   (a profile rarely saw every file a workload will ever read), but reads
//!   of well-known secrets and writes to the image's programs and libraries
//!   are refused unless the profile saw them. [`Options::strict_files`]
//!   refuses everything the profile did not see.
//! - Network: egress peers (CIDR, DNS name, workload identity) with port and
//!   protocol, listening ports. Unix socket peers are not enforced here.
//! - Modes: each class keeps the profile's mode.

use bulwark_core::{Mode, SocketProtocol};
use bulwark_profile::{Class as ProfileClass, Peer as ProfilePeer, WorkloadProfile};
use ipnet::IpNet;

use crate::policy::{
    ClassModes, EnforcePolicy, ExecPolicy, ExecRule, FailurePolicy, FilePolicy, FileRule,
    Hardening, ListenRule, NetPolicy, PathPattern, Peer, PeerRule, PolicyError, Protocol, Verdict,
};

/// Files whose reads are refused unless the profile read them.
pub const SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d/",
    "/etc/ssh/",
    "/etc/ssl/private/",
    "/root/.ssh/",
    "/root/.aws/",
    "/root/.kube/",
    "/run/secrets/",
    "/var/run/secrets/",
];

/// Directories of the image's programs and libraries; writes there are
/// refused unless the profile wrote there.
pub const IMAGE_CODE: &[&str] = &[
    "/bin/",
    "/sbin/",
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
    "/lib/",
    "/lib64/",
    "/usr/lib/",
    "/usr/lib64/",
    "/usr/local/lib/",
];

/// Choices the profile does not make.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Refuse every read and write the profile did not see.
    pub strict_files: bool,
    pub failure: FailurePolicy,
    pub hardening: Hardening,
}

/// Compile `profile` into an enforcement policy.
pub fn compile(profile: &WorkloadProfile, options: &Options) -> Result<EnforcePolicy, PolicyError> {
    let spec = &profile.spec;
    let modes = ClassModes {
        process: Some(spec.modes.get(ProfileClass::Process)),
        file: Some(spec.modes.get(ProfileClass::File)),
        network: Some(spec.modes.get(ProfileClass::Network)),
    };
    let policy = EnforcePolicy {
        workload: profile.metadata.name.clone(),
        profile_version: profile.metadata.version,
        mode: strongest(&modes),
        modes,
        failure: options.failure,
        exec: exec_policy(profile)?,
        files: file_policy(profile, options.strict_files)?,
        network: net_policy(profile)?,
        hardening: options.hardening.clone(),
    };
    policy.validate()?;
    Ok(policy)
}

fn strongest(m: &ClassModes) -> Mode {
    [m.process, m.file, m.network]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(Mode::Discover)
}

fn exec_policy(profile: &WorkloadProfile) -> Result<ExecPolicy, PolicyError> {
    let mut allow: Vec<ExecRule> = Vec::new();
    for p in &profile.spec.processes {
        for path in std::iter::once(&p.exe).chain(p.path.as_ref()) {
            let rule = ExecRule {
                path: PathPattern::parse(path)?,
                sha256: None,
            };
            if !allow.contains(&rule) {
                allow.push(rule);
            }
        }
    }
    Ok(ExecPolicy {
        allow,
        ..ExecPolicy::default()
    })
}

/// A profile pattern as a path pattern: `*` segments cannot be expressed,
/// so the pattern is cut before the first one (allowing more, never less).
fn pattern(text: &str) -> Result<PathPattern, PolicyError> {
    match text.find("/*") {
        Some(i) => PathPattern::parse(&text[..=i]),
        None => PathPattern::parse(text),
    }
}

fn file_policy(profile: &WorkloadProfile, strict: bool) -> Result<FilePolicy, PolicyError> {
    let seen = &profile.spec.files;
    let mut rules: Vec<FileRule> = Vec::new();
    for f in seen {
        rules.push(FileRule {
            path: pattern(f.path.as_str())?,
            read: f.access.read.then_some(Verdict::Allow),
            write: f.access.write.then_some(Verdict::Allow),
        });
    }
    rules.retain(|r| r.read.is_some() || r.write.is_some());
    if !strict {
        let read_seen = |p: &str| {
            seen.iter()
                .any(|f| f.access.read && f.path.matches(p.trim_end_matches('/')))
        };
        let write_seen = |p: &str| {
            seen.iter()
                .any(|f| f.access.write && f.path.matches(p.trim_end_matches('/')))
        };
        for s in SECRETS.iter().filter(|s| !read_seen(s)) {
            rules.push(FileRule {
                path: PathPattern::parse(s)?,
                read: Some(Verdict::Deny),
                write: Some(Verdict::Deny),
            });
        }
        for d in IMAGE_CODE.iter().filter(|d| !write_seen(d)) {
            rules.push(FileRule {
                path: PathPattern::parse(d)?,
                read: None,
                write: Some(Verdict::Deny),
            });
        }
    }
    let default = if strict {
        Verdict::Deny
    } else {
        Verdict::Allow
    };
    Ok(FilePolicy {
        default_read: default,
        default_write: default,
        rules,
    })
}

fn protocol(p: SocketProtocol) -> Option<Protocol> {
    match p {
        SocketProtocol::Tcp => Some(Protocol::Tcp),
        SocketProtocol::Udp => Some(Protocol::Udp),
        SocketProtocol::Unix | SocketProtocol::Other => None,
    }
}

fn net_policy(profile: &WorkloadProfile) -> Result<NetPolicy, PolicyError> {
    let net = &profile.spec.network;
    let mut egress = Vec::new();
    for e in &net.egress {
        let Some(protocol) = protocol(e.protocol) else {
            continue;
        };
        let peer = match &e.peer {
            ProfilePeer::Cidr(c) => {
                Peer::Cidr(
                    IpNet::new(c.addr(), c.prefix()).map_err(|e| PolicyError::Invalid {
                        field: "spec.network.egress[].peer".into(),
                        problem: e.to_string(),
                    })?,
                )
            }
            ProfilePeer::Dns(name) => Peer::Dns(name.clone()),
            ProfilePeer::Workload(w) => Peer::Identity(w.clone()),
            ProfilePeer::Unix(_) => continue,
        };
        egress.push(PeerRule {
            peer,
            ports: e.port.into_iter().collect(),
            protocol,
        });
    }
    let listen = net
        .listen
        .iter()
        .filter_map(|l| {
            protocol(l.protocol).map(|protocol| ListenRule {
                port: l.port,
                protocol,
            })
        })
        .collect();
    Ok(NetPolicy {
        egress,
        listen,
        ..NetPolicy::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::denial::Class;
    use crate::policy::{Access, ContainerPath};

    const PROFILE: &str = r#"
apiVersion: bulwark.dev/v1
kind: WorkloadProfile
metadata:
  name: image:registry.test/web
  version: 9
spec:
  modes: {process: protect, file: protect, network: monitor, capability: discover}
  learning: {started: "2026-01-01T00:00:00Z"}
  processes:
    - exe: /bin/busybox
      path: /bin/sh
      seen: {first: "2026-01-01T00:00:00Z", last: "2026-01-01T00:00:00Z", count: 1}
  files:
    - path: /etc/ssl/private/web.key
      access: r
      seen: {first: "2026-01-01T00:00:00Z", last: "2026-01-01T00:00:00Z", count: 1}
    - path: /proc/*/stat
      access: r
      seen: {first: "2026-01-01T00:00:00Z", last: "2026-01-01T00:00:00Z", count: 1}
  network:
    egress:
      - peer: !cidr 10.0.0.0/8
        port: 5432
        protocol: tcp
        seen: {first: "2026-01-01T00:00:00Z", last: "2026-01-01T00:00:00Z", count: 1}
      - peer: !unix /run/x.sock
        protocol: unix
        seen: {first: "2026-01-01T00:00:00Z", last: "2026-01-01T00:00:00Z", count: 1}
    listen:
      - port: 80
        protocol: tcp
        seen: {first: "2026-01-01T00:00:00Z", last: "2026-01-01T00:00:00Z", count: 1}
"#;

    fn profile() -> WorkloadProfile {
        bulwark_profile::parse(PROFILE, "test").unwrap().remove(0)
    }

    fn p(s: &str) -> ContainerPath {
        ContainerPath::new(s).unwrap()
    }

    #[test]
    fn profile_modes_and_version_carry_over() {
        let policy = compile(&profile(), &Options::default()).unwrap();
        assert_eq!(policy.profile_version, 9);
        assert!(policy.refuses(Class::Process));
        assert!(!policy.refuses(Class::Network));
        assert!(policy.watches(Class::Network));
    }

    #[test]
    fn programs_include_the_invoking_path() {
        let policy = compile(&profile(), &Options::default()).unwrap();
        let paths: Vec<String> = policy
            .exec
            .allow
            .iter()
            .map(|r| r.path.to_string())
            .collect();
        assert_eq!(paths, ["/bin/busybox", "/bin/sh"]);
    }

    #[test]
    fn secrets_are_denied_unless_the_profile_read_them() {
        let policy = compile(&profile(), &Options::default()).unwrap();
        let f = &policy.files;
        assert_eq!(f.decide(&p("/etc/shadow"), Access::READ).0, Verdict::Deny);
        assert_eq!(
            f.decide(&p("/etc/ssl/private/web.key"), Access::READ).0,
            Verdict::Allow
        );
        assert_eq!(
            f.decide(&p("/etc/ssl/private/other.key"), Access::READ).0,
            Verdict::Deny
        );
        assert_eq!(f.decide(&p("/usr/bin/x"), Access::WRITE).0, Verdict::Deny);
        assert_eq!(f.decide(&p("/usr/bin/x"), Access::READ).0, Verdict::Allow);
        assert_eq!(f.decide(&p("/data/x"), Access::WRITE).0, Verdict::Allow);
    }

    #[test]
    fn strict_files_deny_what_was_not_seen_and_wildcards_widen() {
        let options = Options {
            strict_files: true,
            ..Options::default()
        };
        let policy = compile(&profile(), &options).unwrap();
        let f = &policy.files;
        assert_eq!(f.decide(&p("/data/x"), Access::READ).0, Verdict::Deny);
        assert_eq!(f.decide(&p("/proc/1/stat"), Access::READ).0, Verdict::Allow);
    }

    #[test]
    fn unix_peers_are_left_out_and_ports_carry_over() {
        let policy = compile(&profile(), &Options::default()).unwrap();
        assert_eq!(policy.network.egress.len(), 1);
        assert_eq!(policy.network.egress[0].ports, [5432]);
        assert_eq!(policy.network.listen[0].port, 80);
    }
}
