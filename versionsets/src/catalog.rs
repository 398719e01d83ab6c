//! Resolving `stable`/`tip` to concrete versions through DRP catalog items.
//!
//! DRP's catalog names a channel by an item `<name>-stable` / `<name>-tip` whose
//! `ActualVersion` is the concrete version. Resolution fills each component's
//! `ActualVersion` (keeping `Version` as written), and replaces a channel in `DRPVersion` /
//! `DRPUXVersion` (catalog names `drp` and `drp-ux`) by the concrete version.

use std::collections::BTreeMap;
use std::fmt;

use crate::diagnostic::Problem;
use crate::model::{CatalogItem, VersionSet};
use crate::version::{parse_exact, VersionSpec};

/// Every component that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ResolveError {
    /// One entry per component that failed, in the set's order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(Problem::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Catalog items by `Id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    items: BTreeMap<String, CatalogItem>,
}

impl Catalog {
    /// A catalog of `items`, indexed by their `Id`.
    pub fn new(items: impl IntoIterator<Item = CatalogItem>) -> Self {
        Self {
            items: items.into_iter().map(|i| (i.id.clone(), i)).collect(),
        }
    }

    /// The item `<name>-<channel>`, or else an item with that `Name` and `Version`.
    pub fn channel(&self, name: &str, channel: &str) -> Option<&CatalogItem> {
        self.items.get(&format!("{name}-{channel}")).or_else(|| {
            self.items
                .values()
                .find(|i| i.name == name && i.version == channel)
        })
    }

    /// Resolves every `stable`/`tip` of `vs`; `ignore` leaves a component unresolved (the
    /// endpoint keeps what it has) and a concrete version resolves to itself. All problems
    /// are reported together.
    pub fn resolve(&self, vs: &VersionSet) -> Result<VersionSet, ResolveError> {
        let mut resolved = vs.clone();
        let mut problems = Vec::new();
        for (i, component) in resolved.components.iter_mut().enumerate() {
            let path = format!("Components[{i}].Version");
            let what = format!("{} `{}`", component.kind, component.name);
            component.actual_version = match VersionSpec::parse(&component.version) {
                Err(message) => {
                    problems.push(Problem::new(path, message));
                    continue;
                }
                Ok(VersionSpec::Ignore) => None,
                Ok(VersionSpec::Exact(_)) => Some(component.version.clone()),
                Ok(VersionSpec::Tip) => {
                    self.lookup(&component.name, "tip", &what, &path, &mut problems)
                }
                Ok(VersionSpec::Stable) => {
                    self.lookup(&component.name, "stable", &what, &path, &mut problems)
                }
            };
            let expected = component.kind.as_str();
            if let Some(item) = self.channel(&component.name, &component.version) {
                if !item.content_type.is_empty() && item.content_type != expected {
                    problems.push(Problem::new(
                        format!("Components[{i}].Type"),
                        format!(
                            "catalog item `{}` is a {}, not a {expected}",
                            item.id, item.content_type
                        ),
                    ));
                }
            }
        }
        for (field, name, value) in [
            ("DRPVersion", "drp", &mut resolved.drp_version),
            ("DRPUXVersion", "drp-ux", &mut resolved.drp_ux_version),
        ] {
            let Some(text) = value.clone() else { continue };
            let channel = match VersionSpec::parse(&text) {
                Ok(VersionSpec::Tip) => "tip",
                Ok(VersionSpec::Stable) => "stable",
                Ok(_) => continue,
                Err(message) => {
                    problems.push(Problem::new(field, message));
                    continue;
                }
            };
            let what = format!("`{field}`");
            if let Some(actual) = self.lookup(name, channel, &what, field, &mut problems) {
                *value = Some(actual);
            }
        }
        if problems.is_empty() {
            Ok(resolved)
        } else {
            Err(ResolveError { problems })
        }
    }

    fn lookup(
        &self,
        name: &str,
        channel: &str,
        what: &str,
        path: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<String> {
        let id = format!("{name}-{channel}");
        let Some(item) = self.channel(name, channel) else {
            problems.push(Problem::new(
                path,
                format!("no catalog item `{id}` to resolve `{channel}` of {what}"),
            ));
            return None;
        };
        match parse_exact(&item.actual_version) {
            Ok(_) => Some(item.actual_version.clone()),
            Err(_) => {
                problems.push(Problem::new(
                    path,
                    format!(
                        "catalog item `{}` has ActualVersion `{}`, which is not a `vX.Y.Z` version",
                        item.id, item.actual_version
                    ),
                ));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Component, ComponentType};

    fn item(id: &str, name: &str, version: &str, actual: &str) -> CatalogItem {
        CatalogItem {
            id: id.into(),
            name: name.into(),
            version: version.into(),
            actual_version: actual.into(),
            content_type: "ContentPackage".into(),
            ..CatalogItem::default()
        }
    }

    fn with_components(versions: &[(&str, &str)]) -> VersionSet {
        VersionSet {
            id: "a".into(),
            components: versions
                .iter()
                .map(|(name, version)| Component {
                    kind: ComponentType::ContentPackage,
                    name: (*name).into(),
                    version: (*version).into(),
                    actual_version: None,
                    replace_writable: false,
                })
                .collect(),
            ..VersionSet::default()
        }
    }

    #[test]
    fn channels_resolve_through_catalog_items() {
        let catalog = Catalog::new([
            item("base-stable", "base", "stable", "v1.2.0"),
            item("base-tip", "base", "tip", "v1.3.0-alpha.4"),
        ]);
        let vs = with_components(&[("base", "stable"), ("x", "v2.0.0"), ("y", "ignore")]);
        let resolved = catalog.resolve(&vs).unwrap();
        let actual: Vec<_> = resolved
            .components
            .iter()
            .map(|c| c.actual_version.as_deref())
            .collect();
        assert_eq!(actual, [Some("v1.2.0"), Some("v2.0.0"), None]);
    }

    #[test]
    fn every_missing_item_is_reported() {
        let err = Catalog::default()
            .resolve(&with_components(&[("a", "stable"), ("b", "tip")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Components[0].Version: no catalog item `a-stable` to resolve `stable` of ContentPackage `a`\n\
             Components[1].Version: no catalog item `b-tip` to resolve `tip` of ContentPackage `b`"
        );
    }

    #[test]
    fn drp_version_channel_is_replaced() {
        let catalog = Catalog::new([item("drp-stable", "drp", "stable", "v4.8.2")]);
        let vs = VersionSet {
            id: "a".into(),
            drp_version: Some("stable".into()),
            ..VersionSet::default()
        };
        let resolved = catalog.resolve(&vs).unwrap();
        assert_eq!(resolved.drp_version.as_deref(), Some("v4.8.2"));
    }
}
