//! Value checks. The decoder (`parse.rs`) applies them field by field through the schema, so
//! a file's problems all come out at once with positions; [`version_set`] and [`endpoint`]
//! run the same decoder over models that arrived as JSON, without positions.

use serde::Serialize;
use serde_json::Value;

use crate::diagnostic::Problem;
use crate::model::{Endpoint, VersionSet};
use crate::parse::Decoder;
use crate::schema::{Shape, StructShape, ENDPOINT, VERSION_SET};
use crate::version::{parse_exact, VersionSpec};
use crate::yaml::Node;

/// Every problem of a VersionSet: Id, names, versions, duplicate component/plugin/file
/// names, file paths, sha256 sums and sources.
pub fn version_set(vs: &VersionSet) -> Vec<Problem> {
    problems(vs, &VERSION_SET)
}

/// Every problem of an Endpoint: Id, the VersionSets list, `Params["manager/url"]`, and the
/// observed components' names and versions.
pub fn endpoint(ep: &Endpoint) -> Vec<Problem> {
    let mut found = problems(ep, &ENDPOINT);
    found.extend(endpoint_params(ep));
    found
}

fn problems<T: Serialize>(model: &T, shape: &'static StructShape) -> Vec<Problem> {
    let value = serde_json::to_value(model).unwrap_or(Value::Null);
    let mut decoder = Decoder::default();
    decoder.decode(&Node::from_json(&value), Shape::Struct(shape), "");
    decoder.problems.into_iter().map(|(_, p)| p).collect()
}

/// Checks on Params values, which the schema types only as "any".
pub(crate) fn endpoint_params(ep: &Endpoint) -> Vec<Problem> {
    match ep.params.get("manager/url") {
        None => vec![],
        Some(Value::String(url)) if url.starts_with("http://") || url.starts_with("https://") => {
            vec![]
        }
        Some(other) => vec![Problem::new(
            "Params.manager/url",
            format!("expected an `http://` or `https://` URL, found {other}"),
        )],
    }
}

/// Ids end up in URLs (`/api/v3/version_sets/<Id>`) and file names.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let bad =
        |c: &char| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | '?' | '#' | '%');
    match id.chars().find(bad) {
        Some(c) => Err(format!(
            "`{}` contains {}, which an Id cannot hold",
            id.escape_debug(),
            char_name(c)
        )),
        None => Ok(()),
    }
}

/// Component, plugin and provider names.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".into());
    }
    match name.chars().find(|c| c.is_control() || *c == '/') {
        Some(c) => Err(format!(
            "`{}` contains {}",
            name.escape_debug(),
            char_name(c)
        )),
        None => Ok(()),
    }
}

pub(crate) fn check_version(text: &str) -> Result<(), String> {
    VersionSpec::parse(text).map(|_| ())
}

pub(crate) fn check_exact_version(text: &str) -> Result<(), String> {
    parse_exact(text).map(|_| ())
}

/// File paths stay inside the endpoint's file root.
pub(crate) fn check_relative_path(path: &str) -> Result<(), String> {
    let shown = path.escape_debug();
    if path.is_empty() {
        Err("must not be empty".into())
    } else if path.contains('\0') {
        Err(format!("`{shown}` contains a NUL byte"))
    } else if path.starts_with('/') || path.starts_with('\\') {
        Err(format!("`{shown}` must be relative (no leading `/`)"))
    } else if path.split(['/', '\\']).any(|part| part == "..") {
        Err(format!("`{shown}` must not contain `..`"))
    } else {
        Ok(())
    }
}

pub(crate) fn check_sha256(sha: &str) -> Result<(), String> {
    if sha.chars().any(|c| !c.is_ascii_hexdigit()) {
        Err(format!(
            "`{}` is not hex: expected the 64 hex digits of a sha256 sum",
            sha.escape_debug()
        ))
    } else if sha.len() != 64 {
        Err(format!(
            "`{sha}` has {} hex digits, expected 64 (a sha256 sum)",
            sha.len()
        ))
    } else {
        Ok(())
    }
}

/// `http(s)://` sources are fetched by the endpoint's leader; `self://<path>` content comes
/// with the push.
pub(crate) fn check_source(source: &str) -> Result<(), String> {
    let shown = source.escape_debug();
    let rest = ["http://", "https://", "self://"]
        .iter()
        .find_map(|scheme| source.strip_prefix(scheme));
    match rest {
        None => Err(format!(
            "unsupported source `{shown}`: expected an `http://`, `https://` or `self://` URL"
        )),
        Some("") => Err(format!("`{shown}` names nothing after the scheme")),
        Some(rest) if source.starts_with("self://") => check_relative_path(rest),
        Some(_) => Ok(()),
    }
}

fn char_name(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\0' => "a NUL byte".to_owned(),
        c if c.is_control() || c.is_whitespace() => format!("the character {c:?}"),
        c => format!("`{c}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Component, ComponentType};

    fn messages(problems: Vec<Problem>) -> Vec<String> {
        problems.iter().map(Problem::to_string).collect()
    }

    #[test]
    fn paths_must_stay_inside_the_file_root() {
        assert_eq!(check_relative_path("files/a.tgz"), Ok(()));
        assert_eq!(
            check_relative_path("files/../../etc"),
            Err("`files/../../etc` must not contain `..`".into())
        );
        assert_eq!(
            check_relative_path("/etc/passwd"),
            Err("`/etc/passwd` must be relative (no leading `/`)".into())
        );
        assert_eq!(
            check_relative_path("a\0b"),
            Err("`a\\0b` contains a NUL byte".into())
        );
        assert_eq!(check_relative_path("a..b/c"), Ok(()));
    }

    #[test]
    fn duplicate_components_name_the_first() {
        let c = Component {
            kind: ComponentType::ContentPackage,
            name: "x".into(),
            version: "tip".into(),
            actual_version: None,
            replace_writable: false,
        };
        let vs = VersionSet {
            id: "a".into(),
            components: vec![c.clone(), c],
            ..VersionSet::default()
        };
        assert_eq!(
            messages(version_set(&vs)),
            ["Components[1].Name: duplicate component `x` (also Components[0])"]
        );
    }

    #[test]
    fn endpoint_lists_each_set_once() {
        let ep = Endpoint {
            id: "site a".into(),
            version_sets: vec!["a".into(), "a".into()],
            ..Endpoint::default()
        };
        assert_eq!(
            messages(endpoint(&ep)),
            [
                "Id: `site a` contains a space, which an Id cannot hold",
                "VersionSets[1]: duplicate VersionSet `a` (also VersionSets[0])"
            ]
        );
    }
}
