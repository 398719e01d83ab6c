//! The plan: what to change on an endpoint so it matches a merged, resolved VersionSet.
//!
//! Only what the set declares is compared. Like DRP's manager, the plan never deletes: content
//! packs, plugin providers, plugins, prefs, params and files that the endpoint has and the
//! set does not mention are left alone (they may have been added by hand or by another
//! tool), so [`ActionKind::Delete`] never appears. Likewise a plugin is compared on the
//! params the set names; extra params on the endpoint are kept.
//!
//! Order: by [`ElementType`] (DRP, DRPUX, plugin providers, content packs, files, plugins,
//! prefs, globals: providers and packs bring what plugins and prefs refer to), then by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{
    ActionKind, ComponentType, ElementAction, ElementType, Endpoint, ParamMap, Plugin, VersionSet,
};
use crate::version::{parse_exact, same_version, VersionSpec};

/// What an endpoint has now.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedState {
    #[serde(
        rename = "DRPVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// The DRP server version the endpoint runs, if known.
    pub drp_version: Option<String>,
    #[serde(
        rename = "DRPUXVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    /// The DRP web UX version the endpoint serves, if known.
    pub drp_ux_version: Option<String>,
    /// Installed content packs: name to version.
    #[serde(rename = "ContentPacks", default)]
    pub content_packs: BTreeMap<String, String>,
    /// Installed plugin providers: name to version.
    #[serde(rename = "PluginProviders", default)]
    pub plugin_providers: BTreeMap<String, String>,
    /// Configured plugin instances: name to provider and params.
    #[serde(rename = "Plugins", default)]
    pub plugins: BTreeMap<String, ObservedPlugin>,
    /// Global preferences: name to value.
    #[serde(rename = "Prefs", default)]
    pub prefs: BTreeMap<String, String>,
    /// Params of the `global` profile.
    #[serde(rename = "Global", default)]
    pub global: ParamMap,
    /// Files: path to sha256 (hex).
    #[serde(rename = "Files", default)]
    pub files: BTreeMap<String, String>,
}

/// A plugin instance as the endpoint reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedPlugin {
    /// The plugin provider running the instance.
    #[serde(rename = "Provider")]
    pub provider: String,
    /// The instance's configuration params.
    #[serde(rename = "Params", default)]
    pub params: ParamMap,
}

impl ObservedState {
    /// The observed part the manager recorded on an Endpoint. An Endpoint does not record
    /// files, so `files` is empty.
    pub fn from_endpoint(ep: &Endpoint) -> Self {
        let mut state = Self {
            drp_version: ep.drp_version.clone(),
            drp_ux_version: ep.drp_ux_version.clone(),
            prefs: ep.prefs.clone(),
            global: ep.global.clone(),
            ..Self::default()
        };
        for c in &ep.components {
            let version = c
                .actual_version
                .clone()
                .unwrap_or_else(|| c.version.clone());
            match c.kind {
                ComponentType::ContentPackage => {
                    state.content_packs.insert(c.name.clone(), version)
                }
                ComponentType::PluginProvider => {
                    state.plugin_providers.insert(c.name.clone(), version)
                }
            };
        }
        for p in &ep.plugins {
            let observed = ObservedPlugin {
                provider: p.provider.clone(),
                params: p.params.clone(),
            };
            state.plugins.insert(p.name.clone(), observed);
        }
        state
    }
}

/// Why a plan could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A component still names a channel (`stable`, `tip`) instead of a concrete version.
    #[error("{what} has Version `{version}`, which is not resolved: resolve it through the catalog first")]
    Unresolved {
        /// The component, e.g. `ContentPackage drp-community-content`.
        what: String,
        /// The unresolved version or channel.
        version: String,
    },
    /// A version is not a valid semantic version.
    #[error("{what}: {message}")]
    InvalidVersion {
        /// The component or observed item the version belongs to.
        what: String,
        /// What is wrong with the version.
        message: String,
    },
}

/// The actions that bring `observed` to `desired` (a merged VersionSet resolved through the
/// catalog), in a deterministic order. An empty plan means the endpoint is in sync.
pub fn plan(
    desired: &VersionSet,
    observed: &ObservedState,
) -> Result<Vec<ElementAction>, PlanError> {
    let mut actions = Vec::new();

    for (kind, name, wanted, have) in [
        (
            ElementType::Drp,
            "drp",
            &desired.drp_version,
            &observed.drp_version,
        ),
        (
            ElementType::DrpUx,
            "drp-ux",
            &desired.drp_ux_version,
            &observed.drp_ux_version,
        ),
    ] {
        let Some(wanted) = wanted else { continue };
        let what = format!("`{}`", kind.as_str());
        if let Some(version) = concrete(&what, wanted, Some(wanted))? {
            if !have.as_deref().is_some_and(|h| same_version(h, &version)) {
                actions.push(action(ActionKind::AddOrUpdate, kind, name, version, None));
            }
        }
    }

    for c in &desired.components {
        let what = format!("{} `{}`", c.kind, c.name);
        let Some(version) = concrete(&what, &c.version, c.actual_version.as_deref())? else {
            continue;
        };
        let installed = match c.kind {
            ComponentType::ContentPackage => &observed.content_packs,
            ComponentType::PluginProvider => &observed.plugin_providers,
        };
        if !installed
            .get(&c.name)
            .is_some_and(|h| same_version(h, &version))
        {
            let kind = ElementType::from(c.kind);
            actions.push(action(
                ActionKind::AddOrUpdate,
                kind,
                &c.name,
                version,
                None,
            ));
        }
    }

    for f in &desired.files {
        let same = observed
            .files
            .get(&f.path)
            .is_some_and(|sha| sha.eq_ignore_ascii_case(&f.sha256sum));
        if !same {
            let value = serde_json::to_value(f).ok();
            let sha = f.sha256sum.to_ascii_lowercase();
            actions.push(action(
                ActionKind::AddOrUpdate,
                ElementType::File,
                &f.path,
                sha,
                value,
            ));
        }
    }

    for p in &desired.plugins {
        if !plugin_in_sync(p, observed.plugins.get(&p.name)) {
            let value = serde_json::to_value(p).ok();
            let kind = ElementType::Plugin;
            actions.push(action(
                ActionKind::AddOrUpdate,
                kind,
                &p.name,
                String::new(),
                value,
            ));
        }
    }

    for (key, value) in &desired.prefs {
        if observed.prefs.get(key) != Some(value) {
            let value = Some(Value::String(value.clone()));
            actions.push(action(
                ActionKind::Set,
                ElementType::Pref,
                key,
                String::new(),
                value,
            ));
        }
    }

    for (key, value) in &desired.global {
        if observed.global.get(key) != Some(value) {
            let value = Some(value.clone());
            actions.push(action(
                ActionKind::Set,
                ElementType::Global,
                key,
                String::new(),
                value,
            ));
        }
    }

    actions.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(actions)
}

/// The concrete version to install, or `None` for `ignore`.
fn concrete(what: &str, version: &str, actual: Option<&str>) -> Result<Option<String>, PlanError> {
    let spec = VersionSpec::parse(version).map_err(|message| PlanError::InvalidVersion {
        what: what.to_owned(),
        message,
    })?;
    match (spec, actual) {
        (VersionSpec::Ignore, _) => Ok(None),
        (VersionSpec::Exact(_), _) => Ok(Some(version.to_owned())),
        (VersionSpec::Tip | VersionSpec::Stable, Some(actual)) if parse_exact(actual).is_ok() => {
            Ok(Some(actual.to_owned()))
        }
        _ => Err(PlanError::Unresolved {
            what: what.to_owned(),
            version: version.to_owned(),
        }),
    }
}

/// In sync when the provider matches and every param the set names has the same value.
fn plugin_in_sync(desired: &Plugin, observed: Option<&ObservedPlugin>) -> bool {
    observed.is_some_and(|o| {
        o.provider == desired.provider
            && desired
                .params
                .iter()
                .all(|(k, v)| o.params.get(k) == Some(v))
    })
}

fn action(
    action: ActionKind,
    kind: ElementType,
    name: &str,
    version: String,
    value: Option<Value>,
) -> ElementAction {
    ElementAction {
        action,
        kind,
        name: name.to_owned(),
        version,
        value,
    }
}
