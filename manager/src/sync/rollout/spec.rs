//! The rollout of a commit: `rollouts/*.yaml` read with the commit's other files, refused
//! with FILE:LINE:COLUMN like them (an unknown field, a wave that selects nothing).

use std::collections::BTreeMap;

use versionsets::{check_selectors, parse_rollout, Endpoint, Rollout, RolloutDoc};

/// Where rollout files live in the repository.
pub const DIR: &str = "rollouts";

/// Whether `path` names a YAML or JSON document.
pub fn is_document(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml") || path.ends_with(".json")
}

/// Whether `path` (relative to the repository) is a rollout file.
pub fn is_rollout_file(path: &str) -> bool {
    path.strip_prefix(DIR)
        .is_some_and(|rest| rest.starts_with('/'))
        && is_document(path)
}

/// The commit's rollout (`None` without one), checked against the commit's endpoints; every
/// problem as a `FILE:LINE:COLUMN: message` line.
pub fn from_files(
    files: &BTreeMap<String, Vec<u8>>,
    endpoints: &[Endpoint],
) -> Result<Option<Rollout>, Vec<String>> {
    let texts = files
        .iter()
        .filter(|(p, _)| is_rollout_file(p))
        .map(|(p, data)| (p.as_str(), String::from_utf8_lossy(data).into_owned()));
    checked(texts, endpoints)
}

/// Parses rollout texts by origin: at most one rollout, each wave selecting an endpoint.
pub fn checked<'o>(
    texts: impl IntoIterator<Item = (&'o str, String)>,
    endpoints: &[Endpoint],
) -> Result<Option<Rollout>, Vec<String>> {
    let mut errors = Vec::new();
    let mut found: Vec<(&str, RolloutDoc)> = Vec::new();
    for (origin, text) in texts {
        match parse_rollout(origin, &text) {
            Ok(Some(doc)) => found.push((origin, doc)),
            Ok(None) => {}
            Err(e) => errors.extend(e.lines()),
        }
    }
    for (origin, doc) in &found {
        if let Err(e) = check_selectors(origin, doc, endpoints) {
            errors.extend(e.lines());
        }
    }
    if let Some((first, _)) = found.first() {
        for (origin, doc) in found.iter().skip(1) {
            errors.push(format!(
                "{origin}:{}: a repository holds one Rollout; {first} already defines one",
                doc.pos
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(found.into_iter().next().map(|(_, d)| d.rollout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yaml_under_rollouts_counts() {
        assert!(is_rollout_file("rollouts/a.yaml"));
        assert!(is_rollout_file("rollouts/sub/a.yml"));
        assert!(!is_rollout_file("rollouts.yaml"));
        assert!(!is_rollout_file("rolloutsx/a.yaml"));
        assert!(!is_rollout_file("rollouts/README.md"));
    }

    #[test]
    fn two_rollouts_are_refused() {
        let r = "Id: r\nWaves:\n  - Name: all\n";
        let ep = Endpoint {
            id: "a".into(),
            ..Endpoint::default()
        };
        let err = checked(
            [
                ("rollouts/a.yaml", r.to_owned()),
                ("rollouts/b.yaml", r.to_owned()),
            ],
            &[ep],
        )
        .unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].starts_with("rollouts/b.yaml:1:1: "), "{err:?}");
    }
}
