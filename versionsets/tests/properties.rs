//! Property tests: merge invariants, plan convergence, round trips, and no panic on any input.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};
use versionsets::{
    merge, parse_documents, parse_version_sets, plan, state_hash, ActionKind, Component,
    ComponentType, ElementType, File, ObservedPlugin, ObservedState, Plugin, VersionSet,
};

fn name() -> impl Strategy<Value = String> {
    "[a-e]{1,2}"
}

fn version() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ignore".to_owned()),
        (0u64..3, 0u64..3, 0u64..3).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
    ]
}

fn param_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        "[a-z]{0,3}".prop_map(Value::from),
        proptest::collection::vec("[a-z]{1,2}", 0..3).prop_map(|v| json!(v)),
    ]
}

fn component() -> impl Strategy<Value = Component> {
    (any::<bool>(), name(), version()).prop_map(|(cp, name, version)| Component {
        kind: if cp {
            ComponentType::ContentPackage
        } else {
            ComponentType::PluginProvider
        },
        name,
        version,
        actual_version: None,
        replace_writable: false,
    })
}

fn plugin() -> impl Strategy<Value = Plugin> {
    (
        name(),
        name(),
        proptest::collection::btree_map("[a-c]/[a-c]", param_value(), 0..3),
    )
        .prop_map(|(name, provider, params)| Plugin {
            name,
            provider,
            params,
            description: None,
            documentation: None,
            meta: Default::default(),
        })
}

fn file() -> impl Strategy<Value = File> {
    ("files/[a-d]{1,2}", "[0-9a-f]{64}", any::<bool>()).prop_map(|(path, sha, explode)| File {
        source: format!("self://{path}"),
        path,
        sha256sum: sha,
        explode,
    })
}

/// Lists keep the first item of each name, as a valid set has unique names.
fn unique_by<T, K: Ord>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut seen = std::collections::BTreeSet::new();
    items.into_iter().filter(|i| seen.insert(key(i))).collect()
}

fn version_set() -> impl Strategy<Value = VersionSet> {
    (
        "[a-z]{1,6}",
        any::<bool>(),
        proptest::option::of(version()),
        proptest::collection::vec(component(), 0..4),
        proptest::collection::vec(plugin(), 0..3),
        proptest::collection::btree_map("[a-d]", "[a-z0-9]{0,3}", 0..4),
        proptest::collection::btree_map("[a-d]/[a-d]", param_value(), 0..4),
        proptest::collection::vec(file(), 0..3),
    )
        .prop_map(
            |(id, apply, drp_version, components, plugins, prefs, global, files)| VersionSet {
                id,
                apply,
                drp_version,
                components: unique_by(components, |c| c.name.clone()),
                plugins: unique_by(plugins, |p| p.name.clone()),
                prefs,
                global,
                files: unique_by(files, |f| f.path.clone()),
                ..VersionSet::default()
            },
        )
}

/// `b` without anything that `a` also names, so the two never conflict.
fn without_conflicts(a: &VersionSet, mut b: VersionSet) -> VersionSet {
    b.components
        .retain(|c| !a.components.iter().any(|x| x.name == c.name));
    b.plugins
        .retain(|p| !a.plugins.iter().any(|x| x.name == p.name));
    b.files
        .retain(|f| !a.files.iter().any(|x| x.path == f.path));
    b.prefs.retain(|k, _| !a.prefs.contains_key(k));
    b.global.retain(|k, _| !a.global.contains_key(k));
    if a.drp_version.is_some() {
        b.drp_version = None;
    }
    b
}

/// What the endpoint would have after carrying out every action of a plan.
fn apply_actions(desired: &VersionSet, observed: &mut ObservedState) {
    let actions = plan(desired, observed).expect("exact versions need no catalog");
    for a in actions {
        assert_ne!(a.action, ActionKind::Delete);
        match a.kind {
            ElementType::Drp => observed.drp_version = Some(a.version),
            ElementType::DrpUx => observed.drp_ux_version = Some(a.version),
            ElementType::ContentPackage => {
                observed.content_packs.insert(a.name, a.version);
            }
            ElementType::PluginProvider => {
                observed.plugin_providers.insert(a.name, a.version);
            }
            ElementType::File => {
                observed.files.insert(a.name, a.version);
            }
            ElementType::Plugin => {
                let p: Plugin = serde_json::from_value(a.value.unwrap_or_default()).unwrap();
                let entry = observed.plugins.entry(a.name).or_default();
                entry.provider = p.provider;
                entry.params.extend(p.params);
            }
            ElementType::Pref => {
                let value = a.value.and_then(|v| v.as_str().map(str::to_owned)).unwrap();
                observed.prefs.insert(a.name, value);
            }
            ElementType::Global => {
                observed.global.insert(a.name, a.value.unwrap_or_default());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merging_one_set_gives_that_set(a in version_set()) {
        prop_assert_eq!(merge(std::slice::from_ref(&a)).unwrap(), a);
    }

    #[test]
    fn the_first_sets_values_always_survive(a in version_set(), rest in proptest::collection::vec(version_set(), 0..4)) {
        let mut sets = vec![a.clone()];
        sets.extend(rest.iter().cloned());
        let merged = merge(&sets).unwrap();
        for c in &a.components {
            prop_assert_eq!(merged.components.iter().find(|m| m.name == c.name), Some(c));
        }
        for p in &a.plugins {
            prop_assert_eq!(merged.plugins.iter().find(|m| m.name == p.name), Some(p));
        }
        for f in &a.files {
            prop_assert_eq!(merged.files.iter().find(|m| m.path == f.path), Some(f));
        }
        for (k, v) in &a.prefs {
            prop_assert_eq!(merged.prefs.get(k), Some(v));
        }
        for (k, v) in &a.global {
            prop_assert_eq!(merged.global.get(k), Some(v));
        }
        if a.drp_version.is_some() {
            prop_assert_eq!(&merged.drp_version, &a.drp_version);
        }
        prop_assert_eq!(merged.apply, sets.iter().all(|s| s.apply));
        // Nothing is invented and no name appears twice.
        let names: Vec<&String> = merged.components.iter().map(|c| &c.name).collect();
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        prop_assert_eq!(names.len(), unique.len());
        for c in &merged.components {
            prop_assert!(sets.iter().any(|s| s.components.contains(c)));
        }
    }

    #[test]
    fn the_order_of_non_conflicting_sets_does_not_matter(a in version_set(), b in version_set()) {
        let b = without_conflicts(&a, b);
        let ab = merge(&[a.clone(), b.clone()]).unwrap();
        let ba = merge(&[b, a]).unwrap();
        prop_assert_eq!(&ab.prefs, &ba.prefs);
        prop_assert_eq!(&ab.global, &ba.global);
        prop_assert_eq!(state_hash(&ab), state_hash(&ba));
    }

    #[test]
    fn merging_is_associative(a in version_set(), b in version_set(), c in version_set()) {
        let all = merge(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let stepwise = merge(&[merge(&[a, b]).unwrap(), c]).unwrap();
        prop_assert_eq!(all, stepwise);
    }

    #[test]
    fn carrying_out_a_plan_leaves_nothing_to_do(desired in version_set(), start in version_set()) {
        let mut observed = ObservedState {
            prefs: start.prefs.clone(),
            global: start.global.clone(),
            content_packs: start.components.iter().map(|c| (c.name.clone(), "v0.0.1".to_owned())).collect(),
            plugins: start.plugins.iter().map(|p| (p.name.clone(), ObservedPlugin { provider: p.provider.clone(), params: p.params.clone() })).collect(),
            files: BTreeMap::new(),
            ..ObservedState::default()
        };
        apply_actions(&desired, &mut observed);
        prop_assert_eq!(plan(&desired, &observed).unwrap(), vec![]);
        // Nothing the set does not mention was removed.
        for k in start.prefs.keys() {
            prop_assert!(observed.prefs.contains_key(k));
        }
    }

    #[test]
    fn valid_sets_round_trip_through_yaml_and_json(a in version_set()) {
        let yaml = serde_yaml::to_string(&a).unwrap();
        prop_assert_eq!(parse_version_sets("p.yaml", &yaml).unwrap(), vec![a.clone()]);
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(parse_version_sets("p.json", &json).unwrap(), vec![a]);
    }

    #[test]
    fn no_input_makes_the_parser_panic(text in "\\PC{0,200}") {
        let _ = parse_documents("fuzz", &text, None);
    }

    #[test]
    fn no_yamlish_input_makes_the_parser_panic(text in "[-:{}\\[\\],&*!|>'\"#%@ \n\ta-zA-Z0-9.~?]{0,120}") {
        let _ = parse_documents("fuzz", &text, None);
    }
}
