use std::os::unix::fs::PermissionsExt;

use super::*;

fn entry_yaml(name: &str, id: &str) -> String {
    format!(
        "apiVersion: bulwark.dev/v1alpha1\nkind: WorkloadIdentity\nmetadata:\n  name: {name}\nspec:\n  spiffeId: {id}\n  selectors:\n    uid: 1000\n"
    )
}

fn private_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    tmp
}

#[test]
fn missing_directory_means_no_entries() {
    let tmp = private_dir();
    assert!(
        load_entries_dir(&tmp.path().join("nope"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn add_then_load_then_remove() {
    let tmp = private_dir();
    let dir = tmp.path().join("entries");
    let (added, path) = add_entry_file(
        &dir,
        "in.yaml",
        &entry_yaml("web", "spiffe://example.org/web"),
    )
    .unwrap();
    assert_eq!(added[0].name, "web");
    assert_eq!(path, dir.join("web.yaml"));
    add_entry_file(
        &dir,
        "in.yaml",
        &entry_yaml("db", "spiffe://example.org/db"),
    )
    .unwrap();
    let names: Vec<_> = load_entries_dir(&dir)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["db", "web"]);
    // Re-adding the same name replaces its file instead of clashing.
    add_entry_file(
        &dir,
        "in.yaml",
        &entry_yaml("web", "spiffe://example.org/web2"),
    )
    .unwrap();
    assert_eq!(load_entries_dir(&dir).unwrap().len(), 2);
    assert_eq!(
        remove_entry(&dir, "web").unwrap(),
        Some(dir.join("web.yaml"))
    );
    assert_eq!(remove_entry(&dir, "web").unwrap(), None);
    assert_eq!(load_entries_dir(&dir).unwrap().len(), 1);
}

#[test]
fn invalid_entry_is_not_written() {
    let tmp = private_dir();
    let dir = tmp.path().join("entries");
    let bad = entry_yaml("web", "spiffe://example.org/../x");
    assert!(add_entry_file(&dir, "bad.yaml", &bad).is_err());
    assert!(!dir.join("web.yaml").exists());
}

#[test]
fn duplicate_names_across_files_are_refused() {
    let tmp = private_dir();
    let dir = tmp.path().join("entries");
    add_entry_file(
        &dir,
        "a.yaml",
        &entry_yaml("web", "spiffe://example.org/web"),
    )
    .unwrap();
    fs::write(
        dir.join("other.yaml"),
        entry_yaml("web", "spiffe://example.org/other"),
    )
    .unwrap();
    assert!(matches!(
        load_entries_dir(&dir),
        Err(EntriesError::Entry(EntryError::DuplicateName { .. }))
    ));
}

#[test]
fn entries_writable_by_others_are_refused() {
    let tmp = private_dir();
    let dir = tmp.path().join("entries");
    add_entry_file(
        &dir,
        "a.yaml",
        &entry_yaml("web", "spiffe://example.org/web"),
    )
    .unwrap();
    fs::set_permissions(dir.join("web.yaml"), fs::Permissions::from_mode(0o666)).unwrap();
    let err = load_entries_dir(&dir).unwrap_err();
    assert!(err.to_string().contains("can grant identities"), "{err}");
    fs::set_permissions(dir.join("web.yaml"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        load_entries_dir(&dir),
        Err(EntriesError::Unsafe { .. })
    ));
}

#[test]
fn symlinked_entry_file_is_refused() {
    let tmp = private_dir();
    let dir = tmp.path().join("entries");
    add_entry_file(
        &dir,
        "a.yaml",
        &entry_yaml("web", "spiffe://example.org/web"),
    )
    .unwrap();
    let outside = tmp.path().join("outside.yaml");
    fs::write(&outside, entry_yaml("evil", "spiffe://example.org/admin")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("evil.yaml")).unwrap();
    assert!(matches!(
        load_entries_dir(&dir),
        Err(EntriesError::Unsafe { .. })
    ));
}

#[test]
fn entry_names_cannot_escape_the_directory() {
    let tmp = private_dir();
    let dir = tmp.path().join("entries");
    let (_, path) = add_entry_file(
        &dir,
        "a.yaml",
        &entry_yaml("\"../../etc/passwd\"", "spiffe://example.org/web"),
    )
    .unwrap();
    assert_eq!(path.parent().unwrap(), dir);
    assert_eq!(path.file_name().unwrap(), "______etc_passwd.yaml");
}

#[test]
fn stamps_change_when_files_change() {
    let tmp = private_dir();
    let dir = tmp.path().join("entries");
    let empty = stamp_dir(&dir);
    add_entry_file(
        &dir,
        "a.yaml",
        &entry_yaml("web", "spiffe://example.org/web"),
    )
    .unwrap();
    let one = stamp_dir(&dir);
    assert_ne!(empty, one);
    assert_eq!(one, stamp_dir(&dir));
}
