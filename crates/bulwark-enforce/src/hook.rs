//! The OCI runtime hook (`bulwark hook`), as a list of stages.
//!
//! The runtime runs the hook with the container state on stdin: at
//! `createRuntime` (or the older `prestart`) the container's namespaces,
//! mounts and cgroup exist but not one instruction of it has run; the
//! runtime waits for the hook, and a non-zero exit aborts the container.
//! Each [`Stage`] gets the state and the bundle's `config.json` and either
//! lets the container continue or refuses it. Stages run in order; the first
//! refusal ends the hook.
//!
//! Stages here: [`ProtectStage`] (register with the enforcement service and
//! wait until the policy is in the kernel) and [`ReleaseStage`] (poststop).
//! The image-trust check of `bulwark-trust` is one more stage, placed first
//! by the binary (`bulwark hook --image-policy`). A refused start is reported to the service
//! ([`report_refusal`]), which makes it one alert and one audit record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::container::{ContainerError, MAX_CONFIG_BYTES, OciState, Registration};
use crate::control::{self, ControlError, Request, Response};
use crate::denial::StartRefusal;
use crate::enforcer::Protection;
use crate::policy::FailMode;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("stage {stage}: {problem}")]
    Stage {
        stage: &'static str,
        problem: String,
    },
}

/// What a stage sees.
#[derive(Clone, Debug)]
pub struct HookContext {
    pub state: OciState,
    /// The bundle's `config.json` text.
    pub config_json: String,
}

impl HookContext {
    /// From the hook's stdin text; reads `BUNDLE/config.json`.
    pub fn from_stdin(stdin: &str) -> Result<HookContext, HookError> {
        let state = OciState::parse(stdin)?;
        let path = state.bundle.join("config.json");
        let config_json = read_bounded(&path)?;
        Ok(HookContext { state, config_json })
    }

    pub fn registration(&self) -> Result<Registration, HookError> {
        Ok(Registration::from_oci(&self.state, &self.config_json)?)
    }

    /// The container's annotations: `config.json`'s, overridden by the
    /// state's (as in [`Registration::from_oci`]). A `config.json` that
    /// does not parse contributes none.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        #[derive(serde::Deserialize)]
        struct Annotated {
            #[serde(default)]
            annotations: BTreeMap<String, String>,
        }
        let mut out = serde_json::from_str::<Annotated>(&self.config_json)
            .map(|c| c.annotations)
            .unwrap_or_default();
        out.extend(self.state.annotations.clone());
        out
    }
}

fn read_bounded(path: &Path) -> Result<String, HookError> {
    use std::io::Read;
    let err = |source| HookError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(err)?;
    if text.len() > MAX_CONFIG_BYTES {
        return Err(HookError::Read {
            path: path.to_owned(),
            source: std::io::Error::other("larger than 4 MiB"),
        });
    }
    Ok(text)
}

/// A stage's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Let the container go on; `note` goes to the runtime's log.
    Continue { note: Option<String> },
    /// Abort the container.
    Refuse { reason: String },
}

/// One step of the hook.
pub trait Stage {
    fn name(&self) -> &'static str;
    fn run(&self, ctx: &HookContext) -> Result<Outcome, HookError>;
}

/// What the hook as a whole decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allow: bool,
    /// One line per stage, for the runtime's log.
    pub lines: Vec<String>,
    /// When refused: which stage, and why.
    pub refused: Option<Refused>,
}

/// The stage that refused the container, and its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub stage: &'static str,
    pub reason: String,
}

/// Run `stages` in order. A stage that fails (rather than refuses) is
/// answered by `on_error`: `Closed` refuses the container, `Open` lets it
/// start and says so.
pub fn run(stages: &[&dyn Stage], ctx: &HookContext, on_error: FailMode) -> Verdict {
    let mut lines = Vec::new();
    for stage in stages {
        match stage.run(ctx) {
            Ok(Outcome::Continue { note }) => {
                if let Some(n) = note {
                    lines.push(format!("{}: {n}", stage.name()));
                }
            }
            Ok(Outcome::Refuse { reason }) => {
                lines.push(format!("{}: refused: {reason}", stage.name()));
                return Verdict {
                    allow: false,
                    lines,
                    refused: Some(Refused {
                        stage: stage.name(),
                        reason,
                    }),
                };
            }
            Err(e) => {
                let open = on_error == FailMode::Open;
                let what = if open {
                    "failed, starting anyway (fail-open)"
                } else {
                    "failed, refusing (fail-closed)"
                };
                let problem = chain(&e);
                lines.push(format!("{}: {what}: {problem}", stage.name()));
                if !open {
                    return Verdict {
                        allow: false,
                        lines,
                        refused: Some(Refused {
                            stage: stage.name(),
                            reason: format!("stage failed (fail-closed): {problem}"),
                        }),
                    };
                }
            }
        }
    }
    Verdict {
        allow: true,
        lines,
        refused: None,
    }
}

/// Tell the service at `socket` that `refused` kept the container from
/// starting (one alert and one audit record there).
pub fn report_refusal(
    socket: &Path,
    timeout: Duration,
    ctx: &HookContext,
    refused: &Refused,
) -> Result<(), HookError> {
    let refusal = start_refusal(ctx, refused)?;
    control::call(socket, &Request::StartRefused { refusal }, timeout)?;
    Ok(())
}

fn start_refusal(ctx: &HookContext, refused: &Refused) -> Result<StartRefusal, HookError> {
    let container =
        bulwark_core::ContainerId::new(ctx.state.id.clone()).map_err(|e| HookError::Stage {
            stage: refused.stage,
            problem: format!("container id in the hook state: {e}"),
        })?;
    let annotations = ctx.annotations();
    let meta = bulwark_containers::from_annotations(&annotations);
    let subject = crate::store::Subject::from_annotations(&container, &annotations);
    Ok(StartRefusal {
        time: time::OffsetDateTime::now_utc(),
        container,
        workload: subject.workload,
        stage: refused.stage.into(),
        reason: refused.reason.clone(),
        image: meta.image,
        image_digest: meta.image_digest,
    })
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Register with the enforcement service; continue once the policy is in
/// the kernel.
#[derive(Clone, Debug)]
pub struct ProtectStage {
    pub socket: PathBuf,
    pub timeout: Duration,
    /// Refuse containers no policy applies to.
    pub require_policy: bool,
}

impl Stage for ProtectStage {
    fn name(&self) -> &'static str {
        "protect"
    }

    fn run(&self, ctx: &HookContext) -> Result<Outcome, HookError> {
        let registration = ctx.registration()?;
        let answer = control::call(
            &self.socket,
            &Request::Register { registration },
            self.timeout,
        )?;
        let Response::Registered { protection } = answer else {
            return Err(HookError::Stage {
                stage: "protect",
                problem: "unexpected answer to register".into(),
            });
        };
        if !protection.protected && self.require_policy {
            return Ok(Outcome::Refuse {
                reason: "no enforcement policy applies to this container".into(),
            });
        }
        Ok(Outcome::Continue {
            note: Some(summary(&protection)),
        })
    }
}

fn summary(p: &Protection) -> String {
    if !p.protected {
        return "not protected (no policy)".into();
    }
    let workload = p.workload.as_ref().map(|w| w.as_str()).unwrap_or("?");
    format!(
        "{workload} v{}: exec/file {} ({} mounts), network {}, memfd exec {}",
        p.profile_version,
        p.exec_backend,
        p.marked_mounts.len(),
        p.network_backend,
        p.memfd_exec
    )
}

/// `poststop`: tell the service the container is gone.
#[derive(Clone, Debug)]
pub struct ReleaseStage {
    pub socket: PathBuf,
    pub timeout: Duration,
}

impl Stage for ReleaseStage {
    fn name(&self) -> &'static str {
        "release"
    }

    fn run(&self, ctx: &HookContext) -> Result<Outcome, HookError> {
        let id =
            bulwark_core::ContainerId::new(ctx.state.id.clone()).map_err(|e| HookError::Stage {
                stage: "release",
                problem: e.to_string(),
            })?;
        control::call(&self.socket, &Request::Unregister { id }, self.timeout)?;
        Ok(Outcome::Continue { note: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Result<Outcome, &'static str>);
    impl Stage for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn run(&self, _: &HookContext) -> Result<Outcome, HookError> {
            self.0.clone().map_err(|p| HookError::Stage {
                stage: "fixed",
                problem: p.into(),
            })
        }
    }

    fn ctx() -> HookContext {
        HookContext {
            state: OciState::parse(r#"{"id":"c","pid":5,"bundle":"/b"}"#).unwrap(),
            config_json: r#"{"root":{"path":"rootfs"}}"#.into(),
        }
    }

    #[test]
    fn first_refusal_stops_the_hook() {
        let refuse = Fixed(Ok(Outcome::Refuse {
            reason: "unsigned image".into(),
        }));
        let never = Fixed(Err("must not run"));
        let v = run(&[&refuse, &never], &ctx(), FailMode::Open);
        assert!(!v.allow);
        assert_eq!(v.lines, ["fixed: refused: unsigned image"]);
        let refused = v.refused.unwrap();
        assert_eq!(
            (refused.stage, refused.reason.as_str()),
            ("fixed", "unsigned image")
        );
    }

    #[test]
    fn refusal_report_carries_image_and_workload_from_the_annotations() {
        let mut c = ctx();
        c.config_json = r#"{"root":{"path":"rootfs"},"annotations":{
            "io.kubernetes.cri.image-name":"registry.example/web:1",
            "io.bulwark.workload":"from-config"}}"#
            .into();
        c.state
            .annotations
            .insert("io.bulwark.workload".into(), "web".into());
        let refused = Refused {
            stage: "image",
            reason: "unsigned".into(),
        };
        let r = start_refusal(&c, &refused).unwrap();
        assert_eq!(r.container.as_str(), "c");
        assert_eq!(
            r.workload.unwrap().as_str(),
            "web",
            "the state's annotation wins"
        );
        assert_eq!(r.image.as_deref(), Some("registry.example/web:1"));
        assert_eq!((r.stage.as_str(), r.reason.as_str()), ("image", "unsigned"));
    }

    #[test]
    fn failing_stage_follows_the_failure_mode() {
        let broken = Fixed(Err("service not running"));
        let closed = run(&[&broken], &ctx(), FailMode::Closed);
        assert!(!closed.allow);
        assert!(
            closed
                .refused
                .unwrap()
                .reason
                .contains("service not running")
        );
        let open = run(&[&broken], &ctx(), FailMode::Open);
        assert!(open.allow);
        assert!(open.lines[0].contains("fail-open"));
    }

    #[test]
    fn missing_service_socket_is_an_error_not_a_pass() {
        let stage = ProtectStage {
            socket: "/nonexistent/bulwark.sock".into(),
            timeout: Duration::from_secs(1),
            require_policy: false,
        };
        assert!(stage.run(&ctx()).is_err());
    }
}
