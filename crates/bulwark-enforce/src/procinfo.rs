//! Who is acting: the thread blocked on a permission event and its
//! ancestors, read from `/proc` while the thread is still waiting for our
//! answer (afterwards it may be gone).

use bulwark_core::Process;

/// How many ancestors an alert carries.
pub const MAX_ANCESTRY: usize = 6;

/// Fields of `/proc/PID/status` that matter here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub tgid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub name: String,
}

/// Parse `/proc/PID/status`.
pub fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let first = || value.split_whitespace().next().and_then(|v| v.parse().ok());
        match key {
            "Name" => s.name = value.to_owned(),
            "Tgid" => s.tgid = first().unwrap_or(0),
            "PPid" => s.ppid = first().unwrap_or(0),
            // Real uid/gid: the first of the four values.
            "Uid" => s.uid = first().unwrap_or(0),
            "Gid" => s.gid = first().unwrap_or(0),
            _ => {}
        }
    }
    s
}

/// One process as `/proc` shows it now, `None` when it is gone.
pub fn process(tid: u32) -> Option<Process> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let st = parse_status(&status);
    let exe = std::fs::read_link(format!("/proc/{}/exe", st.tgid))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    Some(Process {
        pid: tid,
        tgid: st.tgid,
        ppid: st.ppid,
        uid: st.uid,
        gid: st.gid,
        comm: st
            .name
            .chars()
            .filter(|c| !c.is_control())
            .take(16)
            .collect(),
        exe,
    })
}

/// The thread, then its parent, and so on (at most [`MAX_ANCESTRY`]).
pub fn ancestry(tid: u32) -> Vec<Process> {
    let mut out = Vec::new();
    let mut next = Some(tid);
    while let Some(pid) = next {
        if out.len() >= MAX_ANCESTRY || pid == 0 {
            break;
        }
        let Some(p) = process(pid) else { break };
        next = (p.ppid > 1).then_some(p.ppid);
        out.push(p);
    }
    out
}

/// [`ancestry`] of a thread the kernel reported after the fact; when it is
/// gone already, what the kernel said of it is all there is.
pub fn ancestry_or_reported(tid: u32, tgid: u32, comm: &str) -> Vec<Process> {
    let found = ancestry(tid);
    if !found.is_empty() {
        return found;
    }
    vec![Process {
        pid: tid,
        tgid,
        comm: comm.to_owned(),
        ..Process::default()
    }]
}

/// True when `tid` is a thread of this process (the agent's own accesses
/// are never judged: it reads files of the containers it protects).
pub fn is_own_thread(tid: u32) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

/// The syscall `tid` is blocked in.
pub fn syscall(tid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{tid}/syscall")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_parsed() {
        let s = parse_status(
            "Name:\tnc\nTgid:\t42\nPPid:\t7\nUid:\t1000\t1000\t1000\t1000\nGid:\t5\t5\t5\t5\n",
        );
        assert_eq!(
            s,
            Status {
                tgid: 42,
                ppid: 7,
                uid: 1000,
                gid: 5,
                name: "nc".into()
            }
        );
    }

    #[test]
    fn own_thread_is_recognised_and_ancestry_starts_with_self() {
        let me = std::process::id();
        assert!(is_own_thread(me));
        let chain = ancestry(me);
        assert_eq!(chain[0].tgid, me);
        assert!(chain.len() >= 2);
    }
}
