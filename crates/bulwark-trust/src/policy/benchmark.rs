//! CIS Docker Benchmark section 4 checks of one image with no policy in
//! force: what a scan reports for the compliance report. The same check
//! functions as the ImagePolicy `config` rules ([`cis`](super::cis)), but
//! every item is reported, graded as the benchmark grades it: the
//! automated items (4.1 user, 4.6 HEALTHCHECK, 4.10 secrets, 4.9 `ADD`
//! of a URL) fail, the manual review items (4.7 lone `update`, 4.8 set-id
//! files, 4.9 local `ADD`) warn. What the image does not record (no
//! configuration for a root filesystem, no build history) warns with
//! "cannot be judged" rather than passing.

use super::cis;
use crate::evidence::{ImageConfig, SetuidFile};

/// How one item came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CisStatus {
    Pass,
    /// A manual item to review, or an item the image gives no data for.
    Warn,
    Fail,
}

/// One section 4 item of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CisCheck {
    /// The benchmark's number (`4.1`).
    pub id: &'static str,
    /// The benchmark's title.
    pub title: &'static str,
    pub status: CisStatus,
    /// What was found.
    pub detail: String,
}

const NO_CONFIG: &str = "cannot be judged: the image has no configuration (a root filesystem)";

/// The section 4 items an image's configuration and layers let one judge:
/// 4.1, 4.6, 4.7, 4.8, 4.9, 4.10. `config` is `None` for a root filesystem;
/// `setuid` as in [`ImageEvidence`](crate::evidence::ImageEvidence).
pub fn image_checks(
    config: Option<&ImageConfig>,
    setuid: Option<Result<&[SetuidFile], &String>>,
) -> Vec<CisCheck> {
    let automated = |ok: bool| if ok { CisStatus::Pass } else { CisStatus::Fail };
    let judged = |check: fn(&ImageConfig) -> cis::Check| match config {
        Some(c) => {
            let (ok, detail) = check(c);
            (automated(ok), detail)
        }
        None => (CisStatus::Warn, NO_CONFIG.to_owned()),
    };
    let (s41, d41) = judged(cis::non_root);
    let (s46, d46) = judged(cis::healthcheck);
    let (s410, d410) = judged(cis::no_secrets);
    let (s47, d47) = config.map_or((CisStatus::Warn, NO_CONFIG.to_owned()), update_alone);
    let (s49, d49) = config.map_or((CisStatus::Warn, NO_CONFIG.to_owned()), add_not_copy);
    let (s48, d48) = setid_files(setuid);
    vec![
        check(
            "4.1",
            "Ensure that a user for the container has been created",
            s41,
            d41,
        ),
        check(
            "4.6",
            "Ensure that HEALTHCHECK instructions have been added to container images",
            s46,
            d46,
        ),
        check(
            "4.7",
            "Ensure update instructions are not used alone in Dockerfiles",
            s47,
            d47,
        ),
        check(
            "4.8",
            "Ensure setuid and setgid permissions are removed",
            s48,
            d48,
        ),
        check(
            "4.9",
            "Ensure that COPY is used instead of ADD in Dockerfiles",
            s49,
            d49,
        ),
        check(
            "4.10",
            "Ensure secrets are not stored in Dockerfiles",
            s410,
            d410,
        ),
    ]
}

fn check(id: &'static str, title: &'static str, status: CisStatus, detail: String) -> CisCheck {
    CisCheck {
        id,
        title,
        status,
        detail,
    }
}

const NO_HISTORY: &str = "cannot be judged: the image records no build history";

/// 4.7: a `RUN` that updates the package index without installing in the
/// same step leaves a cached, soon stale index layer.
fn update_alone(config: &ImageConfig) -> (CisStatus, String) {
    if config.history.is_empty() {
        return (CisStatus::Warn, NO_HISTORY.into());
    }
    let alone = config.history.iter().find(|line| {
        let l = line.to_ascii_lowercase();
        let update = [
            "apt-get update",
            "apt update",
            "apk update",
            "yum update",
            "dnf update",
        ]
        .iter()
        .any(|u| l.contains(u));
        update && !l.contains("install") && !l.contains("upgrade") && !l.contains(" add ")
    });
    match alone {
        Some(line) => (
            CisStatus::Warn,
            format!(
                "update without an install in the same step: {}",
                cis::truncate(line)
            ),
        ),
        None => (
            CisStatus::Pass,
            "no update instruction alone in history".into(),
        ),
    }
}

/// 4.9: `ADD` of a URL fails (unverified content fetched at build time);
/// other `ADD`s warn, except the base's root filesystem (`ADD file:… in /`
/// as the first step), which is how base images are made.
fn add_not_copy(config: &ImageConfig) -> (CisStatus, String) {
    let (url_ok, url_detail) = cis::no_add_from_url(config);
    if !url_ok {
        return (CisStatus::Fail, url_detail);
    }
    if config.history.is_empty() {
        return (CisStatus::Warn, NO_HISTORY.into());
    }
    let adds: Vec<&String> = config
        .history
        .iter()
        .enumerate()
        .filter(|(i, line)| is_add(line) && !(*i == 0 && is_base_rootfs(line)))
        .map(|(_, line)| line)
        .collect();
    match adds.first() {
        Some(line) => (
            CisStatus::Warn,
            format!(
                "{} ADD step(s); COPY is preferred: {}",
                adds.len(),
                cis::truncate(line)
            ),
        ),
        None => (
            CisStatus::Pass,
            "no ADD above the base's root filesystem".into(),
        ),
    }
}

/// `ADD ...` (BuildKit) or `/bin/sh -c #(nop) ADD ...` (classic builder).
fn is_add(line: &str) -> bool {
    let l = line.trim_start();
    let l = l
        .strip_prefix("/bin/sh -c #(nop)")
        .map_or(l, str::trim_start);
    l.starts_with("ADD ")
}

fn is_base_rootfs(line: &str) -> bool {
    let l = line.trim_end().trim_end_matches("# buildkit").trim_end();
    l.contains("ADD file:") && l.ends_with(" in /") || l.ends_with(" / ") || l.ends_with(" /")
}

/// 4.8: every set-id file in the image is listed for review (a warning:
/// some images need one, e.g. `su`); none passes.
fn setid_files(setuid: Option<Result<&[SetuidFile], &String>>) -> (CisStatus, String) {
    match setuid {
        Some(Ok([])) => (CisStatus::Pass, "no set-uid/set-gid files".into()),
        Some(files @ Ok(_)) => (CisStatus::Warn, cis::no_setuid_added(Some(files), 0, &[]).1),
        other => (CisStatus::Warn, cis::no_setuid_added(other, 0, &[]).1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(checks: &[CisCheck], id: &str) -> (CisStatus, String) {
        let c = checks.iter().find(|c| c.id == id).unwrap();
        (c.status, c.detail.clone())
    }

    fn config(history: &[&str]) -> ImageConfig {
        ImageConfig {
            user: "app".into(),
            healthcheck: Some(vec!["CMD".into(), "true".into()]),
            history: history.iter().map(|h| (*h).to_owned()).collect(),
            ..ImageConfig::default()
        }
    }

    #[test]
    fn a_clean_image_passes_every_item() {
        let c = config(&[
            "/bin/sh -c #(nop) ADD file:0123abcd in / ",
            "RUN apt-get update && apt-get install -y curl # buildkit",
            "COPY app /app # buildkit",
        ]);
        let checks = image_checks(Some(&c), Some(Ok(&[])));
        let ids: Vec<&str> = checks.iter().map(|c| c.id).collect();
        assert_eq!(ids, ["4.1", "4.6", "4.7", "4.8", "4.9", "4.10"]);
        for c in &checks {
            assert_eq!(c.status, CisStatus::Pass, "{c:?}");
        }
    }

    #[test]
    fn root_no_healthcheck_and_secrets_fail() {
        let c = ImageConfig {
            env: vec!["DB_PASSWORD=hunter2".into()],
            history: vec!["COPY x /x".into()],
            ..ImageConfig::default()
        };
        let checks = image_checks(Some(&c), Some(Ok(&[])));
        assert_eq!(status(&checks, "4.1").0, CisStatus::Fail);
        assert_eq!(status(&checks, "4.6").0, CisStatus::Fail);
        let (s, d) = status(&checks, "4.10");
        assert_eq!(s, CisStatus::Fail);
        assert!(d.contains("DB_PASSWORD"), "{d}");
    }

    #[test]
    fn add_of_a_url_fails_a_local_add_warns_the_base_rootfs_passes() {
        let url = config(&["ADD https://example.com/x.tgz /x # buildkit"]);
        assert_eq!(
            status(&image_checks(Some(&url), None), "4.9").0,
            CisStatus::Fail
        );
        let local = config(&[
            "ADD rootfs.tar.xz / # buildkit",
            "ADD app.tgz /srv # buildkit",
        ]);
        let (s, d) = status(&image_checks(Some(&local), None), "4.9");
        assert_eq!(s, CisStatus::Warn);
        assert!(
            d.starts_with("1 ADD step(s)") && d.contains("app.tgz"),
            "{d}"
        );
    }

    #[test]
    fn a_lone_update_warns() {
        let c = config(&["/bin/sh -c apt-get update", "RUN apt-get install -y x"]);
        let (s, d) = status(&image_checks(Some(&c), None), "4.7");
        assert_eq!(s, CisStatus::Warn);
        assert!(d.contains("apt-get update"), "{d}");
    }

    #[test]
    fn setid_files_are_listed_as_a_warning() {
        let files = [SetuidFile {
            layer: 0,
            path: "usr/bin/su".into(),
            mode: 0o104755,
        }];
        let (s, d) = status(&image_checks(None, Some(Ok(&files))), "4.8");
        assert_eq!(s, CisStatus::Warn);
        assert!(d.contains("/usr/bin/su (4755, layer 0)"), "{d}");
        let why = "layer 1: digest mismatch".to_string();
        let (s, d) = status(&image_checks(None, Some(Err(&why))), "4.8");
        assert_eq!(s, CisStatus::Warn);
        assert!(d.contains("digest mismatch"), "{d}");
    }

    #[test]
    fn without_config_or_history_nothing_passes_unjudged() {
        let checks = image_checks(None, Some(Ok(&[])));
        for id in ["4.1", "4.6", "4.7", "4.9", "4.10"] {
            let (s, d) = status(&checks, id);
            assert_eq!(s, CisStatus::Warn, "{id}");
            assert!(d.starts_with("cannot be judged"), "{id}: {d}");
        }
        let bare = config(&[]);
        let checks = image_checks(Some(&bare), None);
        assert!(status(&checks, "4.9").1.contains("no build history"));
        assert!(status(&checks, "4.7").1.contains("no build history"));
    }
}
