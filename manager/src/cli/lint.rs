//! `drp-manager version-sets lint FILE...`: offline checks of VersionSet, Endpoint and
//! Rollout files.

use std::path::{Path, PathBuf};

use versionsets::{parse_documents, parse_endpoints, Document, DocumentKind, Endpoint, Pos};

use crate::sync::rollout::spec;

/// What a lint run found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintReport {
    /// One `FILE:LINE:COLUMN: message` line per problem, file by file in the order given.
    pub problems: Vec<String>,
    pub files: usize,
    pub documents: usize,
}

impl LintReport {
    /// The one-line summary printed (on stderr) after a clean run.
    pub fn summary(&self) -> String {
        format!("ok: {} file(s), {} document(s)", self.files, self.documents)
    }
}

/// Lints every file; a file that cannot be read is a problem like any other. Rollout files
/// (under `rollouts/`) are checked against the endpoints among the files and in the
/// repository's `endpoints/` next to their `rollouts/`: a wave that selects none is refused.
pub fn lint_files<P: AsRef<Path>>(paths: &[P]) -> LintReport {
    let mut report = LintReport::default();
    let mut rollouts: Vec<(String, String, PathBuf)> = Vec::new();
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let origin = path.display().to_string();
        report.files += 1;
        let problem = |message: String| format!("{origin}:{}: {message}", Pos::START);
        let text = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(err) => {
                    report
                        .problems
                        .push(problem(format!("not UTF-8 text: {}", err.utf8_error())));
                    continue;
                }
            },
            Err(err) => {
                report.problems.push(problem(format!("cannot read: {err}")));
                continue;
            }
        };
        if in_rollouts(path) {
            rollouts.push((origin, text, path.to_path_buf()));
            continue;
        }
        if let Ok(docs) = parse_documents(&origin, &text, kind_from_path(path)) {
            endpoints.extend(docs.into_iter().filter_map(|d| match d {
                Document::Endpoint(e) => Some(e),
                Document::VersionSet(_) => None,
            }));
        }
        match lint_text(&origin, &text, kind_from_path(path)) {
            Ok(documents) => report.documents += documents,
            Err(lines) => report.problems.extend(lines),
        }
    }
    if !rollouts.is_empty() {
        for (_, _, path) in &rollouts {
            endpoints.extend(repo_endpoints(path));
        }
        let texts = rollouts.iter().map(|(o, t, _)| (o.as_str(), t.clone()));
        match spec::checked(texts, &endpoints) {
            Ok(found) => report.documents += usize::from(found.is_some()),
            Err(lines) => report.problems.extend(lines),
        }
    }
    report
}

/// Whether the nearest layout directory above `path` is `rollouts/`.
fn in_rollouts(path: &Path) -> bool {
    rollouts_dir(path).is_some()
}

fn rollouts_dir(path: &Path) -> Option<&Path> {
    let mut dir = path.parent()?;
    loop {
        match dir.file_name()?.to_str()? {
            spec::DIR => return Some(dir),
            "version_sets" | "endpoints" => return None,
            _ => dir = dir.parent()?,
        }
    }
}

/// The endpoints of the repository a rollout file belongs to (`<repo>/endpoints/*`); files
/// that do not parse are left to their own lint.
fn repo_endpoints(rollout: &Path) -> Vec<Endpoint> {
    let Some(dir) = rollouts_dir(rollout)
        .and_then(Path::parent)
        .map(|repo| repo.join("endpoints"))
    else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        let shown = path.display().to_string();
        if !spec::is_document(&shown) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&path) {
            out.extend(parse_endpoints(&shown, &text).unwrap_or_default());
        }
    }
    out
}

/// Lints one text: the number of documents, or the problem lines.
pub fn lint_text(
    origin: &str,
    text: &str,
    kind: Option<DocumentKind>,
) -> Result<usize, Vec<String>> {
    match parse_documents(origin, text, kind) {
        Ok(docs) if docs.is_empty() => Err(vec![format!(
            "{origin}:{}: no VersionSet or Endpoint in this file",
            Pos::START
        )]),
        Ok(docs) => Ok(docs.len()),
        Err(err) => Err(err.lines()),
    }
}

/// The git layout decides what a file holds: `version_sets/` or `endpoints/` (the nearest
/// such directory wins); elsewhere each document's keys decide.
pub fn kind_from_path(path: &Path) -> Option<DocumentKind> {
    path.parent()?
        .components()
        .rev()
        .find_map(|part| match part.as_os_str().to_str() {
            Some("version_sets") => Some(DocumentKind::VersionSet),
            Some("endpoints") => Some(DocumentKind::Endpoint),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_decides_the_kind() {
        let kind = |p: &str| kind_from_path(Path::new(p));
        assert_eq!(
            kind("repo/version_sets/a.yaml"),
            Some(DocumentKind::VersionSet)
        );
        assert_eq!(kind("endpoints/site-a.yaml"), Some(DocumentKind::Endpoint));
        assert_eq!(
            kind("endpoints/version_sets/x.yaml"),
            Some(DocumentKind::VersionSet)
        );
        assert_eq!(kind("version_sets"), None);
        assert_eq!(kind("misc/a.yaml"), None);
    }

    #[test]
    fn rollout_files_are_found_by_their_directory() {
        assert!(in_rollouts(Path::new("repo/rollouts/fleet.yaml")));
        assert!(in_rollouts(Path::new("rollouts/sub/fleet.yaml")));
        assert!(!in_rollouts(Path::new("rollouts/endpoints/a.yaml")));
        assert!(!in_rollouts(Path::new("fleet.yaml")));
        assert_eq!(
            rollouts_dir(Path::new("/r/rollouts/a.yaml")).and_then(Path::parent),
            Some(Path::new("/r"))
        );
    }

    #[test]
    fn a_wave_selecting_no_endpoint_of_the_repository_is_a_problem() {
        let repo = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = repo.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        };
        write("endpoints/a.yaml", "Id: a\nMeta:\n  ring: canary\n");
        let r = write(
            "rollouts/r.yaml",
            "Id: r\nWaves:\n  - Name: canary\n    Selector: {ring: canary}\n  - Name: rest\n    Selector: {ring: main}\n",
        );
        let report = lint_files(&[&r]);
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert!(
            report.problems[0].ends_with(
                "rollouts/r.yaml:6:15: Waves `rest`: the selector {ring=main} selects no endpoint (none left after earlier waves)"
            ),
            "{report:?}"
        );
    }

    #[test]
    fn an_empty_file_is_a_problem() {
        assert_eq!(
            lint_text("a.yaml", "# nothing yet\n", None),
            Err(vec![
                "a.yaml:1:1: no VersionSet or Endpoint in this file".to_owned()
            ])
        );
    }
}
