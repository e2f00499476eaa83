use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// A temp dir holding `name` with `old` in it (no file when `old` is `None`).
fn dir_with(name: &str, old: Option<&[u8]>) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    if let Some(old) = old {
        fs::write(&path, old).expect("write");
    }
    (dir, path)
}

/// `path` holds `bytes` with `mode`, and is the only file in its directory.
fn assert_alone(path: &Path, bytes: &[u8], mode_bits: u32) {
    assert_eq!(fs::read(path).expect("read"), bytes);
    assert_eq!(mode(path), mode_bits);
    let dir = path.parent().expect("in a directory");
    assert_eq!(
        names(dir),
        [path.file_name().expect("name").to_string_lossy()]
    );
}

#[test]
fn replace_over_an_existing_file_leaves_only_the_new_bytes() {
    let (dir, path) = dir_with("state.json", Some(b"old and longer"));
    replace(&path, b"new").expect("replace");
    assert_eq!(fs::read(&path).expect("read"), b"new");
    assert_eq!(names(dir.path()), ["state.json"], "no temp file is left");
}

#[test]
fn a_temp_file_left_by_a_crash_does_not_break_the_next_replace() {
    let (dir, path) = dir_with("state.json", None);
    // A crash between create and commit: the temp file stays behind.
    let mut crashed = Replace::new(&path).begin().expect("begin");
    crashed.write_with(|f| f.write_all(b"half")).expect("write");
    let left = crashed.temp_path().to_path_buf();
    std::mem::forget(crashed);
    replace(&path, b"whole").expect("replace after a crash");
    assert_eq!(fs::read(&path).expect("read"), b"whole");
    let left_name = left
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(left_name.starts_with(".state.json-") && left_name.ends_with(".tmp"));
    assert_eq!(names(dir.path()), [left_name, "state.json".to_owned()]);
}

#[test]
fn a_fixed_temp_file_left_by_a_crash_is_reused_with_the_asked_mode() {
    let (dir, path) = dir_with("journal.kek", None);
    let temp = dir.path().join("journal.kek.tmp");
    fs::write(&temp, b"garbage from before the crash, longer").expect("write");
    fs::set_permissions(&temp, fs::Permissions::from_mode(0o644)).expect("chmod");
    Replace::new(&path)
        .temp_path(&temp)
        .mode(0o600)
        .write(b"key")
        .expect("replace");
    assert_alone(&path, b"key", 0o600);
}

#[test]
fn key_files_get_mode_0600_whatever_the_old_file_had() {
    let (dir, path) = dir_with("secret", Some(b"old"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    Replace::new(&path)
        .mode(0o600)
        .write(b"new")
        .expect("replace");
    assert_eq!(mode(&path), 0o600);

    let created = dir.path().join("created");
    create_new_synced(&created, b"k", Some(0o600)).expect("create");
    assert_eq!(mode(&created), 0o600);
}

#[test]
fn create_new_synced_refuses_an_existing_file_and_leaves_it() {
    let (_dir, path) = dir_with("00000000000000000001.seg", None);
    let mut file = create_new_synced(&path, b"header", None).expect("create");
    file.write_all(b"+record")
        .expect("append through the returned file");
    let error = create_new_synced(&path, b"other", None).expect_err("exists");
    assert_eq!(error.source.kind(), ErrorKind::AlreadyExists);
    assert_eq!(error.step, Step::Create);
    assert_eq!(fs::read(&path).expect("read"), b"header+record");
}

#[test]
fn commit_new_links_only_when_the_target_is_missing() {
    let (_dir, path) = dir_with("admin-token", None);
    let new = |bytes: &[u8]| {
        let mut pending = Replace::new(&path).mode(0o600).begin().expect("begin");
        pending.write_with(|f| f.write_all(bytes)).expect("write");
        pending.commit_new().expect("commit")
    };
    assert!(new(b"first"));
    assert!(!new(b"second"));
    assert_alone(&path, b"first", 0o600);
}

#[test]
fn a_failed_or_dropped_replace_removes_its_temp_and_keeps_the_target() {
    let (dir, path) = dir_with("state.json", Some(b"old"));
    drop(Replace::new(&path).begin().expect("begin"));
    assert_eq!(names(dir.path()), ["state.json"]);

    // A rename over a non-empty directory fails.
    let blocked = dir.path().join("blocked");
    fs::create_dir(&blocked).expect("mkdir");
    fs::write(blocked.join("inside"), b"x").expect("write");
    let error = replace(&blocked, b"new").expect_err("cannot replace a directory");
    assert_eq!(error.step, Step::Rename);
    assert_eq!(names(dir.path()), ["blocked", "state.json"]);
    assert_eq!(fs::read(&path).expect("read"), b"old");
}

#[test]
fn errors_name_the_path_and_the_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing");
    let error = replace(&missing.join("state.json"), b"x").expect_err("no directory");
    let text = error.to_string();
    assert!(text.contains(&*missing.to_string_lossy()), "{text}");
    assert!(text.contains(": create: "), "{text}");

    let error = sync_dir(&missing).expect_err("no directory");
    assert_eq!(
        error.to_string(),
        format!("{}: fsync directory: {}", missing.display(), error.source)
    );
    assert!(error.source.raw_os_error().is_some(), "the OS's own error");
    let io = error.into_io();
    assert_eq!(io.kind(), ErrorKind::NotFound);
    assert!(io.to_string().contains("fsync directory"), "{io}");
}

#[test]
fn temp_names_carry_the_asked_affixes() {
    let (_dir, path) = dir_with("blob", None);
    let pending = Replace::new(&path)
        .temp_affixes(".tmp-", "")
        .begin()
        .expect("begin");
    let name = pending
        .temp_path()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let pid = std::process::id();
    assert!(name.starts_with(&format!(".tmp-blob-{pid}-")), "{name}");
    assert_eq!(name.len(), format!(".tmp-blob-{pid}-").len() + 16, "{name}");
}

#[test]
fn sync_parent_of_a_bare_name_is_the_current_directory() {
    assert_eq!(parent(Path::new("file")), Path::new("."));
    assert_eq!(parent(Path::new("/a/file")), Path::new("/a"));
    sync_parent(Path::new("file")).expect("fsync of the current directory");
}
