//! NIST SP 800-190 (Application Container Security Guide): each risk of its
//! section 4 (countermeasures in section 5, same numbering), the platform
//! controls that address it, and an assessment from the platform's live
//! state. Risks the platform does not address are listed as such.

use serde::{Deserialize, Serialize};

/// What the control plane knows right now, counted by the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformState {
    pub images: usize,
    pub images_with_critical_or_high: usize,
    /// Images whose configuration fails a CIS section 4 check.
    pub images_failing_config: usize,
    /// Images stored without CIS section 4 checks (pushed by a tool that
    /// does not make them): neither passing nor failing.
    #[serde(default)]
    pub images_config_unchecked: usize,
    /// Images failing CIS 4.10 (secrets in ENV or build history).
    #[serde(default)]
    pub images_with_secrets: usize,
    /// Days since the vulnerability DB was last imported (`None`: no DB).
    pub vulndb_age_days: Option<u64>,
    pub image_policies: usize,
    pub containers: usize,
    pub containers_failing_runtime: usize,
    pub workloads: usize,
    /// Workloads whose profile is at least in Monitor mode for every class.
    pub workloads_monitored: usize,
    pub workloads_protected: usize,
    pub enforcement_policies: usize,
    pub access_policies: usize,
    pub identity_entries: usize,
    pub nodes: usize,
    pub nodes_stale: usize,
    pub cluster_admins: usize,
    pub role_bindings: usize,
}

/// How well a risk is covered right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// The control is in place and the state shows no open problem.
    Met,
    /// The control exists but the state shows gaps (or it is not used yet).
    Partial,
    /// The platform has no control for this risk.
    NotAddressed,
}

/// One risk with its assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Section number in 800-190 (`4.1.1`; countermeasures in `5.1.1`).
    pub section: String,
    pub risk: String,
    pub controls: Vec<String>,
    pub coverage: Coverage,
    pub evidence: String,
}

struct Risk {
    section: &'static str,
    risk: &'static str,
    controls: &'static [&'static str],
    assess: fn(&PlatformState) -> (Coverage, String),
}

use Coverage::{Met, NotAddressed, Partial};

fn met_if(ok: bool, evidence: String) -> (Coverage, String) {
    (if ok { Met } else { Partial }, evidence)
}

fn not_addressed(why: &str) -> (Coverage, String) {
    (NotAddressed, why.to_owned())
}

const RISKS: &[Risk] = &[
    Risk {
        section: "4.1.1",
        risk: "Image vulnerabilities",
        controls: &[
            "SBOM of every scanned image (bulwark-sbom)",
            "OSV matching with continuous re-match (bulwark-vulndb)",
            "findings limits in ImagePolicy",
        ],
        assess: |s| match s.vulndb_age_days {
            None => (
                Partial,
                format!(
                    "{} images scanned, but no vulnerability DB is loaded",
                    s.images
                ),
            ),
            Some(age) => met_if(
                s.images > 0 && s.images_with_critical_or_high == 0 && age <= 7,
                format!(
                    "{} images scanned, {} with critical/high findings, DB {age} days old",
                    s.images, s.images_with_critical_or_high
                ),
            ),
        },
    },
    Risk {
        section: "4.1.2",
        risk: "Image configuration defects",
        controls: &[
            "CIS section 4 image config checks at scan time (bulwark scan, bulwark up's scan queue; bulwark-trust)",
        ],
        assess: |s| {
            met_if(
                s.images > 0 && s.images_failing_config == 0 && s.images_config_unchecked == 0,
                format!(
                    "{} of {} images fail a configuration check, {} not checked",
                    s.images_failing_config, s.images, s.images_config_unchecked
                ),
            )
        },
    },
    Risk {
        section: "4.1.3",
        risk: "Embedded malware",
        controls: &[
            "drift detection: executables not in the image (bulwark-profile)",
            "exec allowlists in Protect mode (bulwark-enforce)",
        ],
        assess: |s| {
            met_if(
                s.workloads > 0 && s.workloads_monitored == s.workloads,
                format!(
                    "{} of {} workloads alert on unknown executables (Monitor or Protect)",
                    s.workloads_monitored, s.workloads
                ),
            )
        },
    },
    Risk {
        section: "4.1.4",
        risk: "Embedded clear text secrets",
        controls: &["CIS 4.10 secrets in ENV and build history, at scan time (bulwark-trust)"],
        assess: |s| {
            met_if(
                s.images > 0 && s.images_with_secrets == 0 && s.images_config_unchecked == 0,
                format!(
                    "{} of {} images have secrets in their configuration, {} not checked; file contents are not searched",
                    s.images_with_secrets,
                    s.images - s.images_config_unchecked.min(s.images),
                    s.images_config_unchecked
                ),
            )
        },
    },
    Risk {
        section: "4.1.5",
        risk: "Use of untrusted images",
        controls: &[
            "ImagePolicy: signatures, registries, digests, trusted base layers (bulwark-trust)",
            "admission webhook and OCI hook",
        ],
        assess: |s| {
            met_if(
                s.image_policies > 0,
                format!("{} image policies", s.image_policies),
            )
        },
    },
    Risk {
        section: "4.2.1",
        risk: "Insecure connections to registries",
        controls: &[
            "registry client refuses credentials over plain HTTP to non-loopback hosts (bulwark-image)",
        ],
        assess: |_| {
            (
                Met,
                "TLS to registries by default; credentials never sent in clear text".into(),
            )
        },
    },
    Risk {
        section: "4.2.2",
        risk: "Stale images in registries",
        controls: &[
            "staleness policy of the vulnerability DB",
            "re-match of stored SBOMs when advisories change",
        ],
        assess: |s| {
            met_if(
                s.vulndb_age_days.is_some_and(|d| d <= 7),
                match s.vulndb_age_days {
                    Some(d) => format!(
                        "vulnerability DB {d} days old; stored images are re-matched on import"
                    ),
                    None => "no vulnerability DB loaded".into(),
                },
            )
        },
    },
    Risk {
        section: "4.2.3",
        risk: "Insufficient authentication and authorization restrictions (registries)",
        controls: &["registry credentials scoped per registry (bulwark-image)"],
        assess: |_| {
            not_addressed(
                "registry access control is the registry's; Bulwark only uses scoped credentials",
            )
        },
    },
    Risk {
        section: "4.3.1",
        risk: "Unbounded administrative access",
        controls: &[
            "RBAC, default deny, roles scoped by namespace/workload (bulwark-control)",
            "no grant beyond what the granter holds",
            "hash-chained audit log of every API call",
        ],
        assess: |s| {
            met_if(
                s.cluster_admins <= 2,
                format!(
                    "{} role bindings, {} cluster-wide admins",
                    s.role_bindings, s.cluster_admins
                ),
            )
        },
    },
    Risk {
        section: "4.3.2",
        risk: "Unauthorized access",
        controls: &[
            "API tokens hashed at rest, rate-limited authentication",
            "agents authenticated by node SVID over mTLS",
        ],
        assess: |_| {
            (
                Met,
                "every request authenticated (token, session or mTLS) and authorised".into(),
            )
        },
    },
    Risk {
        section: "4.3.3",
        risk: "Poorly separated inter-container network traffic",
        controls: &[
            "identity-authorised mTLS (bulwark-mesh AccessPolicy)",
            "learned network allowlists enforced in the kernel (cgroup BPF)",
        ],
        assess: |s| {
            met_if(
                s.access_policies > 0 || s.workloads_protected > 0,
                format!(
                    "{} access policies, {} workloads in Protect mode",
                    s.access_policies, s.workloads_protected
                ),
            )
        },
    },
    Risk {
        section: "4.3.4",
        risk: "Mixing of workload sensitivity levels",
        controls: &["per-workload profiles and policies; namespace-scoped roles"],
        assess: |_| {
            not_addressed(
                "placement of workloads on hosts is the orchestrator's; not enforced by Bulwark",
            )
        },
    },
    Risk {
        section: "4.3.5",
        risk: "Orchestrator node trust",
        controls: &["node SVIDs from the trust-domain CA", "stale nodes flagged"],
        assess: |s| {
            met_if(
                s.nodes > 0 && s.nodes_stale == 0,
                format!(
                    "{} nodes reporting over mTLS, {} stale",
                    s.nodes - s.nodes_stale.min(s.nodes),
                    s.nodes_stale
                ),
            )
        },
    },
    Risk {
        section: "4.4.1",
        risk: "Vulnerabilities within the runtime software",
        controls: &["host packages can be catalogued and matched (bulwark sbom /)"],
        assess: |_| {
            (
                Partial,
                "the runtime's own packages are not scanned continuously".into(),
            )
        },
    },
    Risk {
        section: "4.4.2",
        risk: "Unbounded network access from containers",
        controls: &[
            "learned egress allowlists, Monitor alerts, Protect blocks (cgroup sock_addr BPF)",
        ],
        assess: |s| {
            met_if(
                s.workloads > 0 && s.workloads_monitored == s.workloads,
                format!(
                    "{} of {} workloads monitored, {} protected",
                    s.workloads_monitored, s.workloads, s.workloads_protected
                ),
            )
        },
    },
    Risk {
        section: "4.4.3",
        risk: "Insecure container runtime configurations",
        controls: &["CIS section 5 checks of every running container's OCI config"],
        assess: |s| {
            met_if(
                s.containers > 0 && s.containers_failing_runtime == 0,
                format!(
                    "{} of {} containers fail a runtime configuration check",
                    s.containers_failing_runtime, s.containers
                ),
            )
        },
    },
    Risk {
        section: "4.4.4",
        risk: "App vulnerabilities",
        controls: &[
            "built-in detection rules with MITRE ATT&CK ids",
            "profile deviations (process, file, network, capability)",
            "Protect mode blocks in the kernel",
        ],
        assess: |s| {
            met_if(
                s.workloads > 0 && s.workloads_monitored == s.workloads,
                format!(
                    "{} of {} workloads alert on deviations",
                    s.workloads_monitored, s.workloads
                ),
            )
        },
    },
    Risk {
        section: "4.4.5",
        risk: "Rogue containers",
        controls: &[
            "every container on a node is attributed and reported",
            "image policy at the OCI hook",
        ],
        assess: |s| {
            met_if(
                s.image_policies > 0,
                format!(
                    "{} containers reported; {} image policies gate new ones",
                    s.containers, s.image_policies
                ),
            )
        },
    },
    Risk {
        section: "4.5.1",
        risk: "Large attack surface (host OS)",
        controls: &[],
        assess: |_| not_addressed("host OS minimisation is outside Bulwark"),
    },
    Risk {
        section: "4.5.2",
        risk: "Shared kernel",
        controls: &[
            "CIS 5.x namespace, capability and seccomp checks",
            "kernel module load and mount detection",
        ],
        assess: |s| {
            met_if(
                s.containers > 0 && s.containers_failing_runtime == 0,
                format!(
                    "{} containers with every namespace/capability/seccomp check passing",
                    s.containers - s.containers_failing_runtime.min(s.containers)
                ),
            )
        },
    },
    Risk {
        section: "4.5.3",
        risk: "Host OS component vulnerabilities",
        controls: &["bulwark sbom / and scan of the host root filesystem"],
        assess: |_| (Partial, "possible on demand; not continuous".into()),
    },
    Risk {
        section: "4.5.4",
        risk: "Improper user access rights (host OS)",
        controls: &[],
        assess: |_| not_addressed("host user management is outside Bulwark"),
    },
    Risk {
        section: "4.5.5",
        risk: "Host OS file system tampering",
        controls: &[
            "mount and sensitive-path detection rules",
            "CIS 5.5 sensitive host mounts",
        ],
        assess: |s| {
            met_if(
                s.workloads > 0 && s.workloads_monitored == s.workloads,
                format!(
                    "{} of {} workloads monitored for host file access",
                    s.workloads_monitored, s.workloads
                ),
            )
        },
    },
];

/// Every risk of 800-190 section 4 with its assessment.
pub fn assess(state: &PlatformState) -> Vec<Assessment> {
    RISKS
        .iter()
        .map(|r| {
            let (coverage, evidence) = (r.assess)(state);
            Assessment {
                section: r.section.into(),
                risk: r.risk.into(),
                controls: r.controls.iter().map(|c| (*c).to_owned()).collect(),
                coverage,
                evidence,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_risk_of_section_4_is_listed_once() {
        let rows = assess(&PlatformState::default());
        let sections: Vec<&str> = rows.iter().map(|r| r.section.as_str()).collect();
        let mut want = Vec::new();
        for (group, n) in [(1, 5), (2, 3), (3, 5), (4, 5), (5, 5)] {
            for i in 1..=n {
                want.push(format!("4.{group}.{i}"));
            }
        }
        assert_eq!(
            sections,
            want.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }

    #[test]
    fn empty_platform_is_not_reported_as_compliant() {
        let rows = assess(&PlatformState::default());
        let met: Vec<&str> = rows
            .iter()
            .filter(|r| r.coverage == Coverage::Met)
            .map(|r| r.section.as_str())
            .collect();
        // Only controls that hold by construction may be met with no data.
        assert_eq!(met, ["4.2.1", "4.3.1", "4.3.2"]);
    }

    fn row(s: &PlatformState, id: &str) -> Option<Coverage> {
        assess(s)
            .into_iter()
            .find(|r| r.section == id)
            .map(|r| r.coverage)
    }

    #[test]
    fn state_drives_the_assessment() {
        let good = PlatformState {
            images: 3,
            vulndb_age_days: Some(1),
            workloads: 2,
            workloads_monitored: 2,
            ..PlatformState::default()
        };
        assert_eq!(row(&good, "4.1.1"), Some(Coverage::Met));
        assert_eq!(row(&good, "4.4.2"), Some(Coverage::Met));
        let bad = PlatformState {
            images_with_critical_or_high: 1,
            workloads_monitored: 1,
            ..good
        };
        assert_eq!(row(&bad, "4.1.1"), Some(Coverage::Partial));
        assert_eq!(row(&bad, "4.4.2"), Some(Coverage::Partial));
    }

    #[test]
    fn images_without_config_checks_or_with_secrets_are_not_met() {
        let checked = PlatformState {
            images: 2,
            ..PlatformState::default()
        };
        assert_eq!(row(&checked, "4.1.2"), Some(Coverage::Met));
        assert_eq!(row(&checked, "4.1.4"), Some(Coverage::Met));
        let unchecked = PlatformState {
            images_config_unchecked: 1,
            ..checked.clone()
        };
        assert_eq!(row(&unchecked, "4.1.2"), Some(Coverage::Partial));
        assert_eq!(row(&unchecked, "4.1.4"), Some(Coverage::Partial));
        let secrets = PlatformState {
            images_with_secrets: 1,
            images_failing_config: 1,
            ..checked
        };
        assert_eq!(row(&secrets, "4.1.4"), Some(Coverage::Partial));
    }
}
