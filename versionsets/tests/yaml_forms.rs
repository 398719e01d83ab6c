//! YAML as people write it: block and flow style, several documents, comments, anchors,
//! quoted and bare scalars, JSON, DRP's list shape.

use versionsets::{
    parse_documents, parse_version_sets, Component, ComponentType, Document, VersionSet,
};

fn component(kind: ComponentType, name: &str, version: &str) -> Component {
    Component {
        kind,
        name: name.into(),
        version: version.into(),
        actual_version: None,
        replace_writable: false,
    }
}

fn expected_base() -> VersionSet {
    VersionSet {
        id: "base".into(),
        apply: true,
        components: vec![
            component(ComponentType::ContentPackage, "task-library", "v4.8.0"),
            component(ComponentType::PluginProvider, "ipmi", "stable"),
        ],
        prefs: [("defaultBootEnv".to_owned(), "sledgehammer".to_owned())].into(),
        global: [("site/retries".to_owned(), serde_json::json!(3))].into(),
        ..VersionSet::default()
    }
}

#[test]
fn block_flow_and_json_forms_give_the_same_set() {
    let block = "\
# baseline
Id: base   # trailing comment
Apply: true
Components:
  - Type: CP            # DRP's short form
    Name: task-library
    Version: v4.8.0
  - Type: PluginProvider
    Name: 'ipmi'
    Version: \"stable\"
Prefs:
  defaultBootEnv: sledgehammer
Global:
  site/retries: 3
";
    let flow = "{Id: base, Apply: true, Components: [{Type: ContentPackage, Name: task-library, Version: v4.8.0}, {Type: PP, Name: ipmi, Version: stable}], Prefs: {defaultBootEnv: sledgehammer}, Global: {site/retries: 3}}";
    let json = "{\n\t\"Id\": \"base\",\n\t\"Apply\":\ttrue,\n\t\"Components\": [\n\t\t{\"Type\": \"ContentPackage\", \"Name\": \"task-library\", \"Version\": \"v4.8.0\"},\n\t\t{\"Type\": \"PluginProvider\", \"Name\": \"ipmi\", \"Version\": \"stable\"}\n\t],\n\t\"Prefs\": {\"defaultBootEnv\": \"sledgehammer\"},\n\t\"Global\": {\"site/retries\": 3}\n}\n";
    for (name, text) in [
        ("block.yaml", block),
        ("flow.yaml", flow),
        ("tabs.json", json),
    ] {
        let sets = parse_version_sets(name, text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sets, [expected_base()], "{name}");
    }
}

#[test]
fn several_documents_and_empty_ones() {
    let text = "\
---
Id: a
---
# only a comment here
---
Id: b
Prefs: {x: y}
...
";
    let ids: Vec<String> = parse_version_sets("multi.yaml", text)
        .unwrap()
        .into_iter()
        .map(|vs| vs.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn a_top_level_list_is_several_documents_and_errors_name_the_item() {
    let text = "- Id: a\n- Id: b\n  Prefs: {x: 1}\n";
    let err = parse_version_sets("list.yaml", text).unwrap_err();
    assert_eq!(
        err.lines(),
        ["list.yaml:3:14: [1].Prefs.x: expected a string, found the number 1; quote it to keep it as text: \"1\""]
    );
}

#[test]
fn quoting_and_the_str_tag_keep_numbers_as_text() {
    let text = "Id: a\nPrefs:\n  timeout: \"30\"\n  retries: !!str 3\n  name: '4.8'\nGlobal:\n  n: 30\n  f: 1.5\n  s: \"30\"\n  b: false\n  nothing: ~\n";
    let vs = &parse_version_sets("q.yaml", text).unwrap()[0];
    assert_eq!(vs.prefs["timeout"], "30");
    assert_eq!(vs.prefs["retries"], "3");
    assert_eq!(vs.prefs["name"], "4.8");
    assert_eq!(
        serde_json::to_value(&vs.global).unwrap(),
        serde_json::json!({"n": 30, "f": 1.5, "s": "30", "b": false, "nothing": null})
    );
}

#[test]
fn anchors_and_aliases_share_values() {
    let text = "\
Id: a
Global:
  ntp: &ntp [0.pool.ntp.org, 1.pool.ntp.org]
  backup-ntp: *ntp
Plugins:
  - Name: ipmi-a
    Provider: ipmi
    Params: &params {ipmi/timeout: 30}
  - Name: ipmi-b
    Provider: ipmi
    Params: *params
";
    let vs = &parse_version_sets("anchors.yaml", text).unwrap()[0];
    assert_eq!(vs.global["backup-ntp"], vs.global["ntp"]);
    assert_eq!(vs.plugins[1].params, vs.plugins[0].params);
}

#[test]
fn kinds_are_told_apart_by_their_keys() {
    let text = "Id: base\nPrefs: {a: b}\n---\nId: site-a\nVersionSets: [base]\nApply: true\n";
    let docs = parse_documents("mixed.yaml", text, None).unwrap();
    assert!(matches!(&docs[0], Document::VersionSet(vs) if vs.id == "base"));
    assert!(matches!(&docs[1], Document::Endpoint(ep) if ep.version_sets == ["base"] && ep.apply));
}

#[test]
fn a_bom_and_null_sections_are_accepted() {
    let text = "\u{feff}Id: a\nDescription:\nComponents:\nPrefs:\n";
    let vs = &parse_version_sets("bom.yaml", text).unwrap()[0];
    assert_eq!(
        vs,
        &VersionSet {
            id: "a".into(),
            ..VersionSet::default()
        }
    );
}

#[test]
fn windows_line_endings_keep_positions() {
    let text = "Id: a\r\nPrefs:\r\n  x: 1\r\n";
    let err = parse_version_sets("crlf.yaml", text).unwrap_err();
    assert_eq!(
        err.lines(),
        ["crlf.yaml:3:6: Prefs.x: expected a string, found the number 1; quote it to keep it as text: \"1\""]
    );
}
