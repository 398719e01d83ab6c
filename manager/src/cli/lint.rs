//! `drp-manager version-sets lint FILE...`: offline checks of VersionSet and Endpoint files.

use std::path::Path;

use versionsets::{parse_documents, DocumentKind, Pos};

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

/// Lints every file; a file that cannot be read is a problem like any other.
pub fn lint_files<P: AsRef<Path>>(paths: &[P]) -> LintReport {
    let mut report = LintReport::default();
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
        match lint_text(&origin, &text, kind_from_path(path)) {
            Ok(documents) => report.documents += documents,
            Err(lines) => report.problems.extend(lines),
        }
    }
    report
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
    fn an_empty_file_is_a_problem() {
        assert_eq!(
            lint_text("a.yaml", "# nothing yet\n", None),
            Err(vec![
                "a.yaml:1:1: no VersionSet or Endpoint in this file".to_owned()
            ])
        );
    }
}
