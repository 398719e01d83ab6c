//! Golden plans for realistic layered sets: a site baseline plus a site override, merged in
//! the endpoint's order, resolved through a catalog and compared with what the site runs.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use versionsets::{
    merge_for_endpoint, parse_endpoints, parse_version_sets, plan, state_hash, Catalog,
    CatalogItem, ElementAction, Endpoint, ObservedState, VersionSet,
};

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn version_sets() -> Vec<VersionSet> {
    let mut sets = Vec::new();
    for name in ["site-base.yaml", "site-a-override.yaml"] {
        sets.extend(parse_version_sets(name, &data(name)).unwrap_or_else(|e| panic!("{e}")));
    }
    sets
}

fn endpoint(id: &str) -> Endpoint {
    parse_endpoints("endpoints.yaml", &data("endpoints.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|ep| ep.id == id)
        .unwrap_or_else(|| panic!("no endpoint {id}"))
}

fn catalog() -> Catalog {
    let items: Vec<CatalogItem> = serde_yaml::from_str(&data("catalog.yaml")).unwrap();
    Catalog::new(items)
}

fn observed() -> ObservedState {
    serde_yaml::from_str(&data("observed-site-a.yaml")).unwrap()
}

fn resolved_for(id: &str) -> VersionSet {
    let merged = merge_for_endpoint(&endpoint(id), &version_sets()).unwrap();
    catalog().resolve(&merged).unwrap_or_else(|e| panic!("{e}"))
}

fn lines(actions: &[ElementAction]) -> Vec<String> {
    actions.iter().map(ToString::to_string).collect()
}

#[test]
fn site_a_override_wins_and_the_plan_lists_only_differences() {
    let resolved = resolved_for("site-a");
    let actions = plan(&resolved, &observed()).unwrap();
    assert_eq!(
        lines(&actions),
        [
            "AddOrUpdate ContentPackage drp-community-content:v4.9.0-alpha00.42+g1a2b3c4",
            "AddOrUpdate ContentPackage task-library:v4.7.3",
            "AddOrUpdate File files/site-a/motd:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            "AddOrUpdate Plugin ipmi:",
            "Set Pref unknownBootEnv:",
            "Set Global site/name:",
        ]
    );
    // The values carry what to set: the override's plugin params, pref and param.
    assert_eq!(
        actions[3].value,
        Some(serde_json::json!({
            "Name": "ipmi", "Provider": "ipmi",
            "Params": {"ipmi/timeout": 60, "ipmi/username": "admin"}
        }))
    );
    assert_eq!(actions[4].value, Some(serde_json::json!("ignore")));
    assert_eq!(actions[5].value, Some(serde_json::json!("site-a")));
}

#[test]
fn merged_site_a_keeps_first_entries_and_fills_from_the_baseline() {
    let resolved = resolved_for("site-a");
    assert_eq!(resolved.id, "site-a-override");
    assert_eq!(resolved.drp_version.as_deref(), Some("v4.8.2"));
    let components: Vec<String> = resolved
        .components
        .iter()
        .map(|c| format!("{} {} {} {:?}", c.kind, c.name, c.version, c.actual_version))
        .collect();
    assert_eq!(
        components,
        [
            "ContentPackage task-library v4.7.3 Some(\"v4.7.3\")",
            "ContentPackage drp-community-content tip Some(\"v4.9.0-alpha00.42+g1a2b3c4\")",
            "PluginProvider ipmi stable Some(\"v4.8.0\")",
            "ContentPackage edge-lab ignore None",
        ]
    );
    assert_eq!(resolved.prefs["unknownBootEnv"], "ignore");
    assert_eq!(resolved.prefs["defaultBootEnv"], "sledgehammer");
    let files: Vec<&str> = resolved.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["files/site-a/motd", "files/tools/raid-tool.tgz"]);
}

#[test]
fn site_b_is_in_sync_and_nothing_unmanaged_is_deleted() {
    // Site B runs exactly the baseline; the hand-made pack and pref on the endpoint stay.
    let actions = plan(&resolved_for("site-b"), &observed()).unwrap();
    assert_eq!(lines(&actions), Vec::<String>::new());
}

#[test]
fn state_hash_is_pinned_and_ignores_list_order() {
    let resolved = resolved_for("site-b");
    // Pinned (and checked against an independent Python computation of the canonical form):
    // the endpoint and the manager must compute the same value across releases.
    assert_eq!(
        state_hash(&resolved),
        "c764e58c57ccd8aebd4ce95b0fffcc6208c60a8082b2d1d05398891c655b167d"
    );
    let mut reordered = resolved.clone();
    reordered.components.reverse();
    assert_eq!(state_hash(&reordered), state_hash(&resolved));
    assert_ne!(state_hash(&resolved_for("site-a")), state_hash(&resolved));
}

#[test]
fn unresolved_channels_are_refused_by_the_plan() {
    let merged = merge_for_endpoint(&endpoint("site-b"), &version_sets()).unwrap();
    let err = plan(&merged, &observed()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`DRP` has Version `stable`, which is not resolved: resolve it through the catalog first"
    );
}

#[test]
fn a_missing_catalog_item_names_the_item() {
    let merged = merge_for_endpoint(&endpoint("site-a"), &version_sets()).unwrap();
    let items: Vec<CatalogItem> = serde_yaml::from_str(&data("catalog.yaml")).unwrap();
    let without_tip = Catalog::new(items.into_iter().filter(|i| i.version != "tip"));
    let err = without_tip.resolve(&merged).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Components[1].Version: no catalog item `drp-community-content-tip` to resolve `tip` of ContentPackage `drp-community-content`"
    );
}

#[test]
fn models_round_trip_through_yaml_and_json() {
    let resolved = resolved_for("site-a");
    let yaml = serde_yaml::to_string(&resolved).unwrap();
    let back: Vec<VersionSet> = parse_version_sets("round-trip", &yaml).unwrap();
    assert_eq!(back, std::slice::from_ref(&resolved));
    let json = serde_json::to_string_pretty(&resolved).unwrap();
    assert_eq!(
        parse_version_sets("round-trip.json", &json).unwrap(),
        std::slice::from_ref(&resolved)
    );
    let direct: VersionSet = serde_json::from_str(&json).unwrap();
    assert_eq!(direct, resolved);
    assert!(json.contains("\"DRPVersion\": \"v4.8.2\""));
    assert!(json.contains("\"Sha256Sum\""));
}

#[test]
fn actions_serialise_with_drp_field_names() {
    let actions = plan(&resolved_for("site-a"), &observed()).unwrap();
    let json = serde_json::to_value(&actions[5]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"Action": "Set", "Type": "Global", "Name": "site/name", "Version": "", "Value": "site-a"})
    );
}
