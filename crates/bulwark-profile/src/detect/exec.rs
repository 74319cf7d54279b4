//! Rules on program execution.

use bulwark_core::{Event, EventKind, ExecVia, FdKind};

use super::catalog::{
    CONTAINER_ESCAPE, CRYPTO_MINER, DRIFT, EXEC_FROM_TMP, FILELESS_EXEC, KERNEL_MODULE,
    PACKAGE_MANAGER, REVERSE_SHELL,
};
use super::names::{self, any_in, first_in};
use super::{Context, Finding};

/// Directories anyone can write to, from which nothing should run.
pub const TEMP_DIRS: &[&str] = &["/tmp/", "/var/tmp/", "/dev/shm/", "/run/shm/"];

pub fn detect(event: &Event, ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let EventKind::Exec {
        exe,
        filename,
        argv,
        cwd,
        via,
        stdio,
        ..
    } = &event.kind
    else {
        return;
    };
    let names = names::exec_names(exe, filename, argv);
    let who = ctx.who(event);
    reverse_shell(&names, argv, stdio.as_ref(), &who, out);
    from_temp(exe, filename, cwd, argv, &names, &who, out);
    if *via == ExecVia::Memfd || exe.starts_with("/memfd:") || exe.starts_with("memfd:") {
        out.push(Finding::new(
            &FILELESS_EXEC,
            exe.clone(),
            format!("{who} runs from an anonymous memory file"),
        ));
    }
    if ctx.exe_in_image == Some(false) {
        out.push(Finding::new(
            &DRIFT,
            exe.clone(),
            format!("{who}: {exe} is not part of the container's image"),
        ));
    }
    if let Some(pm) = first_in(&names, names::PACKAGE_MANAGERS) {
        out.push(Finding::new(
            &PACKAGE_MANAGER,
            exe.clone(),
            format!("package manager {pm} started in a running container: {who}"),
        ));
    }
    miner(&names, argv, &who, exe, out);
    if let Some(tool) = first_in(&names, names::MODULE_TOOLS) {
        out.push(Finding::new(
            &KERNEL_MODULE,
            exe.clone(),
            format!("{tool} started in a container: {who}"),
        ));
    }
    if names.iter().any(|n| n == "nsenter") && targets_pid_1(argv) {
        out.push(Finding::new(
            &CONTAINER_ESCAPE,
            exe.clone(),
            format!("{who} enters the namespaces of pid 1"),
        ));
    }
}

fn reverse_shell(
    names: &[String],
    argv: &[String],
    stdio: Option<&[FdKind; 3]>,
    who: &str,
    out: &mut Vec<Finding>,
) {
    let socket_io = stdio.is_some_and(|s| s[0] == FdKind::Socket || s[1] == FdKind::Socket);
    let interactive = any_in(names, names::SHELLS) || any_in(names, names::INTERPRETERS);
    if socket_io && interactive {
        out.push(Finding::new(
            &REVERSE_SHELL,
            format!("socket-stdio {who}"),
            format!("reverse shell: {who} started with a network socket on stdin/stdout"),
        ));
        return;
    }
    let exec_flag = argv.iter().skip(1).any(|a| {
        matches!(
            a.as_str(),
            "-e" | "-c" | "--exec" | "--sh-exec" | "--lua-exec"
        ) || a.starts_with("-e/")
            || a.starts_with("exec:")
            || a.starts_with("EXEC:")
            || a.starts_with("SYSTEM:")
    });
    if let (Some(nc), true) = (first_in(names, names::NETCATS), exec_flag) {
        out.push(Finding::new(
            &REVERSE_SHELL,
            format!("netcat-exec {who}"),
            format!("reverse shell: {nc} executes a program for a network peer: {who}"),
        ));
    }
}

fn from_temp(
    exe: &str,
    filename: &str,
    cwd: &str,
    argv: &[String],
    names: &[String],
    who: &str,
    out: &mut Vec<Finding>,
) {
    let in_temp = |p: &str| TEMP_DIRS.iter().any(|d| p.starts_with(d));
    let invoked = if filename.starts_with('/') {
        crate::pattern::normalize_path(filename)
    } else {
        crate::pattern::normalize_path(&format!("{cwd}/{filename}"))
    };
    let args = argv.iter().skip(names::first_arg(argv));
    let inline_code = args.clone().any(|a| a == "-c" || a == "-e");
    let script = (any_in(names, names::SHELLS) || any_in(names, names::INTERPRETERS))
        .then(|| args.clone().find(|a| !a.starts_with('-')))
        .filter(|_| !inline_code)
        .flatten()
        .map(|a| {
            if a.starts_with('/') {
                crate::pattern::normalize_path(a)
            } else {
                crate::pattern::normalize_path(&format!("{cwd}/{a}"))
            }
        })
        .filter(|a| in_temp(a));
    let hit = [exe.to_owned(), invoked]
        .into_iter()
        .find(|p| in_temp(p))
        .or(script);
    if let Some(path) = hit {
        let mitre: &'static [&'static str] = &["T1059.004", "T1105"];
        out.push(
            Finding::new(
                &EXEC_FROM_TMP,
                path.clone(),
                format!("{who} runs {path} from a temporary directory"),
            )
            .with_mitre(mitre),
        );
    }
}

fn miner(names: &[String], argv: &[String], who: &str, exe: &str, out: &mut Vec<Finding>) {
    let stratum = argv.iter().find(|a| {
        let lower = a.to_ascii_lowercase();
        lower.contains("stratum+tcp://")
            || lower.contains("stratum+ssl://")
            || lower.contains("stratum+tls://")
            || lower.contains("stratum2+tcp://")
    });
    if let Some(url) = stratum {
        out.push(Finding::new(
            &CRYPTO_MINER,
            url.clone(),
            format!("mining pool URL on the command line of {who}"),
        ));
    } else if let Some(m) = first_in(names, names::MINERS) {
        out.push(Finding::new(
            &CRYPTO_MINER,
            exe.to_owned(),
            format!("crypto miner {m} started: {who}"),
        ));
    }
}

fn targets_pid_1(argv: &[String]) -> bool {
    argv.windows(2)
        .any(|w| matches!(w[0].as_str(), "-t" | "--target") && w[1] == "1")
        || argv.iter().any(|a| a == "-t1" || a == "--target=1")
}
