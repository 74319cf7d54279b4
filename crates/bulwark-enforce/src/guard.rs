//! The decision loop of one protected container: read permission events
//! from its fanotify group, decide each against the container's [`Rules`],
//! answer the kernel, report refusals.
//!
//! Bounded: an event is answered within the policy's decision timeout of
//! being read. Identity decisions take microseconds; only hashing can be
//! slow, and it stops at the deadline, after which the policy's `on_timeout`
//! failure mode answers.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use bulwark_core::{ContainerId, Decision, WorkloadId};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::fanotify::FanotifyEvent;

use crate::decide::{self, ExecDecision};
use crate::denial::{Class, Denial, DenialSink};
use crate::fanotify::{Answer, Ask, EXEC_MASK, FanotifyError, Group, event_path};
use crate::index::{ExecIndex, FileIndex};
use crate::intent;
use crate::policy::{Access, ContainerPath, EnforcePolicy, FailMode, Verdict};
use crate::procinfo;
use crate::rootfs;

/// Everything a container's decisions depend on. Immutable: a new policy
/// gets a new group and a new `Rules`.
#[derive(Debug)]
pub struct Rules {
    pub container: ContainerId,
    pub workload: WorkloadId,
    pub policy: EnforcePolicy,
    pub exec: ExecIndex,
    pub files: FileIndex,
    /// The container root as the host saw it before `pivot_root`; stripped
    /// from paths of events that happen before the pivot.
    pub pre_pivot_root: Option<String>,
}

/// Counters of one guard, for status, metrics and tests.
#[derive(Debug, Default)]
pub struct GuardStats {
    pub events: AtomicU64,
    pub allowed: AtomicU64,
    pub refused: AtomicU64,
    pub alerted: AtomicU64,
    pub fallbacks: AtomicU64,
    pub cached: AtomicU64,
    /// From reading a permission event to answering it (the agent's own
    /// threads, answered at once, are not counted).
    pub latency: crate::latency::Latency,
}

impl GuardStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running decision loop. Dropping it stops the loop and closes the
/// group (the kernel then allows whatever was not answered).
#[derive(Debug)]
pub struct Guard {
    group: Arc<Group>,
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<Result<(), FanotifyError>>>,
    stats: Arc<GuardStats>,
    rules: Arc<Rules>,
}

impl Guard {
    pub fn start(group: Group, rules: Rules, sink: Arc<dyn DenialSink>) -> std::io::Result<Guard> {
        let (stop_rx, stop_tx) = nix::unistd::pipe().map_err(std::io::Error::from)?;
        let group = Arc::new(group);
        let rules = Arc::new(rules);
        let stats = Arc::new(GuardStats::default());
        let worker = Worker {
            group: Arc::clone(&group),
            rules: Arc::clone(&rules),
            sink,
            stats: Arc::clone(&stats),
        };
        let name = format!("guard-{}", rules.container.short());
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || worker.serve(stop_rx))?;
        Ok(Guard {
            group,
            stop: Some(stop_tx),
            thread: Some(thread),
            stats,
            rules,
        })
    }

    pub fn stats(&self) -> &GuardStats {
        &self.stats
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn group(&self) -> &Group {
        &self.group
    }

    /// True while the decision loop runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stop the loop and return how it ended.
    pub fn stop(mut self) -> Result<(), FanotifyError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), FanotifyError> {
        if let Some(tx) = self.stop.take() {
            let _ = nix::unistd::write(&tx, b"x");
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) | None => Ok(()),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(container = %self.rules.container, "guard ended with error: {e}");
        }
    }
}

struct Worker {
    group: Arc<Group>,
    rules: Arc<Rules>,
    sink: Arc<dyn DenialSink>,
    stats: Arc<GuardStats>,
}

/// The outcome of one event before it is answered.
struct Judgement {
    answer: Answer,
    cache: bool,
    report: Option<Report>,
}

struct Report {
    class: Class,
    action: String,
    reason: String,
    decision: Decision,
}

impl Worker {
    fn serve(self, stop: OwnedFd) -> Result<(), FanotifyError> {
        loop {
            let mut fds = [
                PollFd::new(self.group.as_fd(), PollFlags::POLLIN),
                PollFd::new(stop.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(FanotifyError::Read(e)),
            }
            if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                return Ok(());
            }
            let read_at = Instant::now();
            for event in self.group.read()? {
                self.handle(&event, read_at);
            }
        }
    }

    fn handle(&self, event: &FanotifyEvent, read_at: Instant) {
        let Some(fd) = event.fd() else {
            // Overflow cannot happen with an unlimited queue; nothing to answer.
            return;
        };
        GuardStats::bump(&self.stats.events);
        let tid = u32::try_from(event.pid()).unwrap_or(0);
        if procinfo::is_own_thread(tid) {
            self.answer(fd, Answer::Allow);
            return;
        }
        let deadline = read_at + self.rules.policy.failure.decision_timeout();
        let judgement = match Ask::of(event.mask()) {
            Some(Ask::Exec) => self.exec(fd, deadline),
            Some(Ask::Open) => {
                let access = intent::access_of(
                    procinfo::syscall(tid)
                        .as_deref()
                        .and_then(intent::parse_syscall),
                );
                self.open(fd, access, "open")
            }
            Some(Ask::Read) => self.open(fd, Access::READ, "read"),
            None => allow(),
        };
        // Reported before the kernel is answered: who acted is read while
        // the thread still waits, and the record exists by the time the
        // refused call returns.
        if let Some(report) = judgement.report {
            self.report(report, procinfo::ancestry(tid));
        }
        // The cache mark goes in before the answer: once the exec is let
        // go, the next exec of the same file may follow at once and must
        // already be answered by the kernel.
        if judgement.cache && self.group.ignore_until_modified(fd, EXEC_MASK).is_ok() {
            GuardStats::bump(&self.stats.cached);
        }
        self.answer(fd, judgement.answer);
        self.stats.latency.record(read_at.elapsed());
    }

    fn answer(&self, fd: BorrowedFd<'_>, answer: Answer) {
        match answer {
            Answer::Allow => GuardStats::bump(&self.stats.allowed),
            Answer::Deny => GuardStats::bump(&self.stats.refused),
        }
        if let Err(e) = self.group.answer(fd, answer) {
            tracing::warn!(container = %self.rules.container, "answering fanotify event: {e}");
        }
    }

    fn path(&self, fd: BorrowedFd<'_>) -> Option<ContainerPath> {
        let raw = event_path(fd)?;
        let raw = match &self.rules.pre_pivot_root {
            Some(prefix) => match raw.strip_prefix(prefix.as_str()) {
                Some("") => "/".to_owned(),
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ => raw,
            },
            None => raw,
        };
        ContainerPath::from_kernel(&raw)
    }

    fn exec(&self, fd: BorrowedFd<'_>, deadline: Instant) -> Judgement {
        let path = self.path(fd);
        let shown = path
            .as_ref()
            .map_or_else(|| "(unnamed file)".to_owned(), ToString::to_string);
        let decision = match rootfs::stamp(fd) {
            Ok(stamp) => decide::exec(&self.rules.exec, &stamp, &mut || {
                rootfs::hash(fd, stamp.size, Some(deadline), &|| shown.clone())
            }),
            Err(e) => ExecDecision::Undecidable {
                problem: e.to_string(),
            },
        };
        let action = format!("exec {shown}");
        match decision.allows() {
            Some(true) => Judgement {
                answer: Answer::Allow,
                cache: true,
                report: None,
            },
            Some(false) => self.refuse(Class::Process, action, decision.reason()),
            None => self.fallback(Class::Process, action, decision.reason()),
        }
    }

    fn open(&self, fd: BorrowedFd<'_>, access: Access, verb: &str) -> Judgement {
        let path = self.path(fd);
        let stamp = match rootfs::stamp(fd) {
            Ok(s) => s,
            Err(e) => {
                return self.fallback(
                    Class::File,
                    format!("{verb} (unreadable file)"),
                    e.to_string(),
                );
            }
        };
        let d = decide::open(
            &self.rules.policy.files,
            &self.rules.files,
            &stamp,
            path.as_ref(),
            access,
        );
        if d.verdict == Verdict::Allow {
            return allow();
        }
        let shown = path
            .as_ref()
            .map_or_else(|| "(unnamed file)".to_owned(), ToString::to_string);
        let what = match (access.read, access.write) {
            (true, true) => "read+write",
            (false, true) => "write",
            _ => "read",
        };
        let rule = d
            .rule
            .map_or_else(|| "the default".to_owned(), |r| format!("rule {}", r.path));
        let matched = d.matched.map(|m| m.to_string()).unwrap_or_default();
        let reason = if matched == shown {
            format!("{what} of {shown} denied by {rule}")
        } else {
            format!("{what} of {matched} (reached as {shown}) denied by {rule}")
        };
        self.refuse(Class::File, format!("{verb} {shown} for {what}"), reason)
    }

    /// Outside the policy: refuse in Protect, report only in Monitor.
    fn refuse(&self, class: Class, action: String, reason: String) -> Judgement {
        let (answer, decision) = if self.rules.policy.refuses(class) {
            (Answer::Deny, Decision::Deny)
        } else {
            (Answer::Allow, Decision::Alert)
        };
        Judgement {
            answer,
            cache: false,
            report: Some(Report {
                class,
                action,
                reason,
                decision,
            }),
        }
    }

    /// Undecidable in time: the failure mode answers, and says so.
    fn fallback(&self, class: Class, action: String, problem: String) -> Judgement {
        GuardStats::bump(&self.stats.fallbacks);
        let closed = self.rules.policy.failure.on_timeout == FailMode::Closed
            && self.rules.policy.refuses(class);
        let (answer, decision, mode) = if closed {
            (Answer::Deny, Decision::Deny, "fail-closed")
        } else {
            (Answer::Allow, Decision::Alert, "fail-open")
        };
        Judgement {
            answer,
            cache: false,
            report: Some(Report {
                class,
                action,
                reason: format!("decision fell back to {mode}: {problem}"),
                decision,
            }),
        }
    }

    fn report(&self, report: Report, ancestry: Vec<bulwark_core::Process>) {
        if report.decision == Decision::Alert {
            GuardStats::bump(&self.stats.alerted);
        }
        let denial = Denial {
            time: time::OffsetDateTime::now_utc(),
            container: self.rules.container.clone(),
            workload: self.rules.workload.clone(),
            profile_version: self.rules.policy.profile_version,
            mode: self.rules.policy.mode_of(report.class),
            decision: report.decision,
            class: report.class,
            action: report.action,
            reason: report.reason,
            enforcer: "fanotify".into(),
            ancestry,
        };
        self.sink.record(&denial);
    }
}

fn allow() -> Judgement {
    Judgement {
        answer: Answer::Allow,
        cache: false,
        report: None,
    }
}
