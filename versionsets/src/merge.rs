//! Layering an Endpoint's ordered VersionSets into one.
//!
//! The FIRST set wins each conflict: components and plugins match by `Name`, files by `Path`,
//! prefs, globals and meta key by key, and single values (`Description`, `DRPVersion`, ...)
//! come from the first set that has one. `Id` is the first set's. `Apply` follows DRP: the
//! merged set applies only if every set says `Apply: true`.

use std::collections::BTreeMap;

use crate::model::{Endpoint, VersionSet};

/// Why an endpoint's VersionSets could not be merged into one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// The list of sets handed to the merge is empty.
    #[error("nothing to merge: the list of VersionSets is empty")]
    Empty,
    /// The endpoint names no VersionSet at all.
    #[error("endpoint `{endpoint}` lists no VersionSets")]
    NoVersionSets {
        /// The endpoint's `Id`.
        endpoint: String,
    },
    /// The endpoint names a VersionSet that is not among those given.
    #[error("endpoint `{endpoint}` lists VersionSet `{id}`, which does not exist")]
    UnknownVersionSet {
        /// The endpoint's `Id`.
        endpoint: String,
        /// The missing VersionSet's `Id`.
        id: String,
    },
}

/// Merges `sets` in priority order (the first wins each conflict).
pub fn merge(sets: &[VersionSet]) -> Result<VersionSet, MergeError> {
    let (first, rest) = sets.split_first().ok_or(MergeError::Empty)?;
    let mut merged = first.clone();
    for layer in rest {
        merge_under(&mut merged, layer);
    }
    Ok(merged)
}

/// Looks up the endpoint's `VersionSets` (then DRP's deprecated `VersionSet`) among
/// `available` and merges them.
pub fn merge_for_endpoint(
    endpoint: &Endpoint,
    available: &[VersionSet],
) -> Result<VersionSet, MergeError> {
    let ids = endpoint.effective_version_sets();
    if ids.is_empty() {
        return Err(MergeError::NoVersionSets {
            endpoint: endpoint.id.clone(),
        });
    }
    let sets = ids
        .iter()
        .map(|id| {
            available
                .iter()
                .find(|vs| &vs.id == id)
                .cloned()
                .ok_or_else(|| MergeError::UnknownVersionSet {
                    endpoint: endpoint.id.clone(),
                    id: id.clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    merge(&sets)
}

/// Adds what `lower` has and `merged` lacks; `merged` keeps every value it already has.
fn merge_under(merged: &mut VersionSet, lower: &VersionSet) {
    merged.apply = merged.apply && lower.apply;
    fill(&mut merged.description, &lower.description);
    fill(&mut merged.documentation, &lower.documentation);
    fill(&mut merged.drp_version, &lower.drp_version);
    fill(&mut merged.drp_ux_version, &lower.drp_ux_version);
    add_missing(&mut merged.components, &lower.components, |c| &c.name);
    add_missing(&mut merged.plugins, &lower.plugins, |p| &p.name);
    add_missing(&mut merged.files, &lower.files, |f| &f.path);
    add_missing_keys(&mut merged.meta, &lower.meta);
    add_missing_keys(&mut merged.prefs, &lower.prefs);
    add_missing_keys(&mut merged.global, &lower.global);
}

fn fill(upper: &mut Option<String>, lower: &Option<String>) {
    if upper.is_none() {
        upper.clone_from(lower);
    }
}

fn add_missing<T: Clone>(upper: &mut Vec<T>, lower: &[T], key: impl Fn(&T) -> &String) {
    for item in lower {
        if !upper.iter().any(|u| key(u) == key(item)) {
            upper.push(item.clone());
        }
    }
}

fn add_missing_keys<V: Clone>(upper: &mut BTreeMap<String, V>, lower: &BTreeMap<String, V>) {
    for (k, v) in lower {
        upper.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(id: &str, apply: bool, drp: Option<&str>) -> VersionSet {
        VersionSet {
            id: id.into(),
            apply,
            drp_version: drp.map(str::to_owned),
            ..VersionSet::default()
        }
    }

    #[test]
    fn scalars_come_from_the_first_set_that_has_them() {
        let merged = merge(&[set("top", true, None), set("base", true, Some("v4.8.0"))]).unwrap();
        assert_eq!(merged.id, "top");
        assert_eq!(merged.drp_version.as_deref(), Some("v4.8.0"));
        assert!(merged.apply);
    }

    #[test]
    fn apply_needs_every_set_to_agree() {
        let merged = merge(&[set("a", true, None), set("b", false, None)]).unwrap();
        assert!(!merged.apply);
    }

    #[test]
    fn endpoint_names_a_missing_set() {
        let ep = Endpoint {
            id: "site-a".into(),
            version_sets: vec!["override".into(), "site-base".into()],
            ..Endpoint::default()
        };
        let err = merge_for_endpoint(&ep, &[set("site-base", true, None)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "endpoint `site-a` lists VersionSet `override`, which does not exist"
        );
        assert_eq!(merge(&[]), Err(MergeError::Empty));
    }
}
