//! Compliance: CIS Docker Benchmark checks of running containers, from the
//! facts of their OCI `config.json` ([`ContainerFacts`], [`container_checks`]),
//! and the mapping of the platform's controls to the risks of NIST SP
//! 800-190 ([`nist`]), assessed against the platform's live state.
//!
//! Image checks (CIS section 4) come from `bulwark-trust`'s config checks;
//! the server puts both into one [`Report`].

mod checks;
mod facts;
pub mod nist;

use serde::{Deserialize, Serialize};

pub use checks::{DEFAULT_CAPABILITIES, container_checks};
pub use facts::{ContainerFacts, FactsError, MAX_CONFIG_BYTES, MountFact, NamespaceState};

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Advisory: recommended, often not possible on every host.
    Warn,
    Fail,
}

/// One check of one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The benchmark's number (`5.12`).
    pub id: String,
    pub title: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
}

/// Counts of check outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

impl Summary {
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Summary {
        let mut s = Summary::default();
        for c in checks {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
            }
        }
        s
    }
}

/// The checks of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCompliance {
    pub digest: String,
    pub reference: String,
    pub checks: Vec<Check>,
}

/// The checks of one running container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerCompliance {
    pub id: String,
    pub workload: String,
    pub namespace: String,
    pub node: String,
    pub checks: Vec<Check>,
}

/// The whole report, as served in JSON and rendered as HTML.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// RFC 3339.
    pub generated_at: String,
    pub benchmark: String,
    pub summary: Summary,
    pub images: Vec<ImageCompliance>,
    pub containers: Vec<ContainerCompliance>,
    pub nist: Vec<nist::Assessment>,
}

/// The benchmark the check numbers refer to.
pub const BENCHMARK: &str =
    "CIS Docker Benchmark v1.2.0 (section 4: images, section 5: container runtime)";

impl Report {
    pub fn new(
        generated_at: String,
        images: Vec<ImageCompliance>,
        containers: Vec<ContainerCompliance>,
        nist: Vec<nist::Assessment>,
    ) -> Report {
        let summary = Summary::of(
            images
                .iter()
                .flat_map(|i| &i.checks)
                .chain(containers.iter().flat_map(|c| &c.checks)),
        );
        Report {
            generated_at,
            benchmark: BENCHMARK.into(),
            summary,
            images,
            containers,
            nist,
        }
    }
}
