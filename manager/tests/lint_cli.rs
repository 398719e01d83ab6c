//! `drp-manager version-sets lint` as a user runs it: the real binary, real files.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lint(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drp-manager"))
        .args(["version-sets", "lint"])
        .args(args)
        .output()
        .expect("run drp-manager")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_shipped_examples_lint_clean() {
    let ex = examples();
    let files = [
        ex.join("version_sets/site-base.yaml"),
        ex.join("version_sets/override.yaml"),
        ex.join("endpoints/site-a.yaml"),
    ];
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = lint(&refs);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "ok: 3 file(s), 3 document(s)\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn every_problem_is_printed_as_file_line_column_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "version_sets/bad.yaml",
        "\
Id: site-base
Componets:
  - Type: CP
    Name: example-base
    Version: v1.0.0
Components:
  - Type: ContentPack
    Name: example-base
    Version: 1.0.0
Prefs:
  knownTokenTimeout: 3600
Files:
  - Path: ../../etc/passwd
    Sha256Sum: abc
    Source: ftp://example.com/x
",
    );
    let good = write(dir.path(), "version_sets/good.yaml", "Id: good\n");
    let out = lint(&[&good, &bad]);
    let b = bad.display();
    assert_eq!(
        stdout(&out),
        format!(
            "{b}:2:1: unknown field `Componets` (did you mean `Components`?), expected one of `Id`, `Description`, `Documentation`, `Meta`, `Apply`, `DRPVersion`, `DRPUXVersion`, `Components`, `Plugins`, `Prefs`, `Global`, `Files`\n\
             {b}:7:11: Components[0].Type: unknown component type `ContentPack`, expected `ContentPackage` or `PluginProvider` (or the short forms `CP`, `PP`)\n\
             {b}:9:14: Components[0].Version: invalid version `1.0.0`: missing the `v` prefix, write `v1.0.0`\n\
             {b}:11:22: Prefs.knownTokenTimeout: expected a string, found the number 3600; quote it to keep it as text: \"3600\"\n\
             {b}:13:11: Files[0].Path: `../../etc/passwd` must not contain `..`\n\
             {b}:14:16: Files[0].Sha256Sum: `abc` has 3 hex digits, expected 64 (a sha256 sum)\n\
             {b}:15:13: Files[0].Source: unsupported source `ftp://example.com/x`: expected an `http://`, `https://` or `self://` URL\n"
        )
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_directory_decides_between_version_sets_and_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    // A VersionSet key in an endpoints/ file is an unknown Endpoint field.
    let ep = write(
        dir.path(),
        "endpoints/site-a.yaml",
        "Id: site-a\nFiles: []\n",
    );
    let out = lint(&[&ep]);
    assert!(
        stdout(&out).starts_with(&format!(
            "{}:2:1: unknown field `Files`, expected one of `Id`, `Description`",
            ep.display()
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(out.status.code(), Some(1));

    // Elsewhere each document's keys decide.
    let mixed = write(
        dir.path(),
        "mixed.yaml",
        "Id: base\nPrefs: {a: b}\n---\nId: site-a\nVersionSets: [base]\nApply: true\n",
    );
    let out = lint(&[&mixed]);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "ok: 1 file(s), 2 document(s)\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn syntax_errors_unreadable_and_empty_files_are_problems_too() {
    let dir = tempfile::tempdir().unwrap();
    let syntax = write(
        dir.path(),
        "version_sets/s.yaml",
        "Id: a\nPrefs: {a: \"b\"\n",
    );
    let empty = write(dir.path(), "version_sets/e.yaml", "# nothing\n");
    let missing = dir.path().join("version_sets/missing.yaml");
    let binary = dir.path().join("version_sets/b.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    let out = lint(&[&syntax, &empty, &missing, &binary]);
    assert_eq!(
        stdout(&out),
        format!(
            "{}:3:1: YAML syntax error: while parsing a flow mapping, did not find expected ',' or '}}'\n\
             {}:1:1: no VersionSet or Endpoint in this file\n\
             {}:1:1: cannot read: No such file or directory (os error 2)\n\
             {}:1:1: not UTF-8 text: invalid utf-8 sequence of 1 bytes from index 0\n",
            syntax.display(),
            empty.display(),
            missing.display(),
            binary.display()
        )
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn lint_without_files_is_a_usage_error() {
    let out = lint(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("<FILE>..."), "{}", stderr(&out));
}
