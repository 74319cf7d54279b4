//! Program names the rules look for, and how a program's names are found:
//! the invoked path, the canonical executable, `argv[0]` and, for multi-call
//! binaries (busybox, toybox), the applet in `argv[1]`.

pub const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "rbash",
];

pub const INTERPRETERS: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "node", "php", "lua",
];

pub const PACKAGE_MANAGERS: &[&str] = &[
    "apt",
    "apt-get",
    "aptitude",
    "dpkg",
    "apk",
    "yum",
    "dnf",
    "microdnf",
    "rpm",
    "zypper",
    "pacman",
    "pip",
    "pip3",
    "pipx",
    "easy_install",
    "npm",
    "yarn",
    "pnpm",
    "gem",
    "conda",
];

pub const NETCATS: &[&str] = &[
    "nc",
    "ncat",
    "netcat",
    "nc.traditional",
    "nc.openbsd",
    "socat",
];

pub const MINERS: &[&str] = &[
    "xmrig",
    "xmr-stak",
    "minerd",
    "cpuminer",
    "cpuminer-multi",
    "cgminer",
    "bfgminer",
    "ethminer",
    "nbminer",
    "t-rex",
    "lolminer",
    "phoenixminer",
    "ccminer",
    "nanominer",
    "gminer",
    "teamredminer",
    "srbminer",
    "kawpowminer",
];

pub const MODULE_TOOLS: &[&str] = &["insmod", "modprobe"];

const MULTI_CALL: &[&str] = &["busybox", "toybox"];

/// The last path component.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Every name the program of an exec goes by. Interpreter names with a
/// version suffix (`python3.11`) also count as their base name.
pub fn exec_names(exe: &str, filename: &str, argv: &[String]) -> Vec<String> {
    let mut names: Vec<String> = [Some(exe), Some(filename), argv.first().map(String::as_str)]
        .into_iter()
        .flatten()
        .map(|p| basename(p).to_owned())
        .collect();
    if let (2, Some(applet)) = (first_arg(argv), argv.get(1)) {
        names.push(basename(applet).to_owned());
    }
    let versioned: Vec<String> = names
        .iter()
        .filter_map(|n| {
            n.split_once(|c: char| c.is_ascii_digit())
                .map(|(b, _)| b.to_owned())
        })
        .filter(|b| !b.is_empty())
        .collect();
    names.extend(versioned);
    names.sort();
    names.dedup();
    names
}

/// Index of the first real argument: 2 when `argv[0]` names a multi-call
/// binary and `argv[1]` its applet (`busybox sh script`), else 1.
pub fn first_arg(argv: &[String]) -> usize {
    match argv.first() {
        Some(a0) if MULTI_CALL.contains(&basename(a0)) => 2,
        _ => 1,
    }
}

/// Whether any of `names` is in `set`.
pub fn any_in(names: &[String], set: &[&str]) -> bool {
    names.iter().any(|n| set.contains(&n.as_str()))
}

/// The first of `names` in `set`.
pub fn first_in<'a>(names: &'a [String], set: &[&str]) -> Option<&'a str> {
    names.iter().map(String::as_str).find(|n| set.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_applets_and_versioned_interpreters_are_named() {
        let argv = vec!["busybox".to_owned(), "sh".to_owned()];
        assert!(any_in(
            &exec_names("/bin/busybox", "/bin/busybox", &argv),
            SHELLS
        ));
        let argv = vec!["python3.11".to_owned()];
        let names = exec_names("/usr/bin/python3.11", "/usr/bin/python3", &argv);
        assert!(any_in(&names, INTERPRETERS));
        let argv = vec!["sh".to_owned()];
        assert!(any_in(
            &exec_names("/bin/busybox", "/bin/sh", &argv),
            SHELLS
        ));
        assert!(!any_in(
            &exec_names("/usr/bin/env", "/usr/bin/env", &[]),
            SHELLS
        ));
    }
}
