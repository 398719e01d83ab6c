//! A table of broken files and exactly what a person is told about each.

use versionsets::{parse_documents, parse_endpoints, parse_version_sets, DocumentKind};

/// (file name, text, expected `FILE:LINE:COLUMN: message` lines)
const BAD_VERSION_SETS: &[(&str, &str, &[&str])] = &[
    (
        "typo.yaml",
        "Id: base\nComponets:\n  - {Type: CP, Name: a, Version: tip}\n",
        &["typo.yaml:2:1: unknown field `Componets` (did you mean `Components`?), expected one of `Id`, `Description`, `Documentation`, `Meta`, `Apply`, `DRPVersion`, `DRPUXVersion`, `Components`, `Plugins`, `Prefs`, `Global`, `Files`"],
    ),
    (
        "lowercase.yaml",
        "id: base\n",
        &[
            "lowercase.yaml:1:1: missing required field `Id`",
            "lowercase.yaml:1:1: unknown field `id` (did you mean `Id`?), expected one of `Id`, `Description`, `Documentation`, `Meta`, `Apply`, `DRPVersion`, `DRPUXVersion`, `Components`, `Plugins`, `Prefs`, `Global`, `Files`",
        ],
    ),
    (
        "type.yaml",
        "Id: base\nComponents:\n  - Type: ContentPack\n    Name: a\n    Version: tip\n",
        &["type.yaml:3:11: Components[0].Type: unknown component type `ContentPack`, expected `ContentPackage` or `PluginProvider` (or the short forms `CP`, `PP`)"],
    ),
    (
        "version.yaml",
        "Id: base\nComponents:\n  - Type: CP\n    Name: a\n    Version: 4.8.0\n  - Type: PP\n    Name: b\n    Version: latest\n",
        &[
            "version.yaml:5:14: Components[0].Version: invalid version `4.8.0`: missing the `v` prefix, write `v4.8.0`",
            "version.yaml:8:14: Components[1].Version: invalid version `latest`: expected `tip`, `stable`, `ignore` or `vX.Y.Z[-suffix]`",
        ],
    ),
    (
        "bare-number.yaml",
        "Id: base\nComponents:\n  - Type: CP\n    Name: a\n    Version: 4.8\n",
        &["bare-number.yaml:5:14: Components[0].Version: expected a string, found the number 4.8; quote it to keep it as text: \"4.8\""],
    ),
    (
        "dotdot.yaml",
        "Id: base\nFiles:\n  - Path: files/../../etc/shadow\n    Sha256Sum: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n    Source: self://shadow\n",
        &["dotdot.yaml:3:11: Files[0].Path: `files/../../etc/shadow` must not contain `..`"],
    ),
    (
        "absolute.yaml",
        "Id: base\nFiles:\n  - Path: /etc/shadow\n    Sha256Sum: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n    Source: self://shadow\n",
        &["absolute.yaml:3:11: Files[0].Path: `/etc/shadow` must be relative (no leading `/`)"],
    ),
    (
        "nul.yaml",
        "Id: base\nFiles:\n  - Path: \"files/a\\0b\"\n    Sha256Sum: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n    Source: self://a\n",
        &["nul.yaml:3:11: Files[0].Path: `files/a\\0b` contains a NUL byte"],
    ),
    (
        "sha.yaml",
        "Id: base\nFiles:\n  - Path: files/a\n    Sha256Sum: 2c26b46b68ffc68f\n    Source: self://a\n  - Path: files/b\n    Sha256Sum: not-a-sha\n    Source: self://b\n",
        &[
            "sha.yaml:4:16: Files[0].Sha256Sum: `2c26b46b68ffc68f` has 16 hex digits, expected 64 (a sha256 sum)",
            "sha.yaml:7:16: Files[1].Sha256Sum: `not-a-sha` is not hex: expected the 64 hex digits of a sha256 sum",
        ],
    ),
    (
        "scheme.yaml",
        "Id: base\nFiles:\n  - Path: files/a\n    Sha256Sum: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\n    Source: ftp://mirror/a\n",
        &["scheme.yaml:5:13: Files[0].Source: unsupported source `ftp://mirror/a`: expected an `http://`, `https://` or `self://` URL"],
    ),
    (
        "duplicates.yaml",
        "Id: base\nComponents:\n  - {Type: CP, Name: a, Version: tip}\n  - {Type: PP, Name: a, Version: stable}\nPlugins:\n  - {Name: p, Provider: ipmi}\n  - {Name: p, Provider: raid}\nFiles:\n  - {Path: f, Sha256Sum: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, Source: self://f}\n  - {Path: f, Sha256Sum: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae, Source: self://g}\n",
        &[
            "duplicates.yaml:4:22: Components[1].Name: duplicate component `a` (also Components[0])",
            "duplicates.yaml:7:12: Plugins[1].Name: duplicate plugin `p` (also Plugins[0])",
            "duplicates.yaml:10:12: Files[1].Path: duplicate file `f` (also Files[0])",
        ],
    ),
    (
        "pref.yaml",
        "Id: base\nPrefs:\n  knownTokenTimeout: 3600\n  debugDhcp: true\n  defaultStage:\n",
        &[
            "pref.yaml:3:22: Prefs.knownTokenTimeout: expected a string, found the number 3600; quote it to keep it as text: \"3600\"",
            "pref.yaml:4:14: Prefs.debugDhcp: expected a string, found the boolean true; quote it to keep it as text: \"true\"",
            "pref.yaml:5:3: Prefs.defaultStage: expected a string, found an empty value",
        ],
    ),
    (
        "syntax.yaml",
        "Id: base\nPrefs:\n  a: \"b\"\n   c: d\n",
        &["syntax.yaml:4:5: YAML syntax error: while parsing a block mapping, did not find expected key (check the indentation)"],
    ),
    (
        "flow-syntax.yaml",
        "Id: base\nPrefs: {a: \"b\"\n",
        &["flow-syntax.yaml:3:1: YAML syntax error: while parsing a flow mapping, did not find expected ',' or '}'"],
    ),
    (
        "missing.yaml",
        "Description: no id\nComponents:\n  - Type: CP\n    Name: a\n",
        &[
            "missing.yaml:1:1: missing required field `Id`",
            "missing.yaml:3:5: Components[0]: missing required field `Version`",
        ],
    ),
    (
        "shapes.yaml",
        "Id: base\nComponents: drp-community-content\nApply: yes\nPrefs: [a, b]\nGlobal: {x: .inf}\n",
        &[
            "shapes.yaml:2:13: Components: expected a list, found the string \"drp-community-content\"; write a list, e.g. `[item]` or `- item` lines",
            "shapes.yaml:3:8: Apply: expected true or false, found the string \"yes\"",
            "shapes.yaml:4:8: Prefs: expected a mapping, found a list",
            "shapes.yaml:5:13: Global.x: inf cannot be represented in JSON",
        ],
    ),
    (
        "dup-key.yaml",
        "Id: base\nPrefs:\n  a: \"1\"\n  a: \"2\"\n",
        &["dup-key.yaml:4:3: Prefs: duplicate key `a` (first at line 3)"],
    ),
    (
        "bad-id.yaml",
        "Id: site base/1\n",
        &["bad-id.yaml:1:5: Id: `site base/1` contains a space, which an Id cannot hold"],
    ),
    (
        "not-a-mapping.yaml",
        "just text\n",
        &["not-a-mapping.yaml:1:1: expected a mapping (a VersionSet), found the string \"just text\""],
    ),
    (
        "tag.yaml",
        "Id: !secret base\n",
        &["tag.yaml:1:13: unsupported tag `!secret`"],
    ),
];

#[test]
fn each_bad_version_set_gets_its_exact_messages() {
    for (name, text, expected) in BAD_VERSION_SETS {
        let err = match parse_version_sets(name, text) {
            Ok(sets) => panic!("{name} parsed: {sets:?}"),
            Err(err) => err,
        };
        assert_eq!(err.lines(), *expected, "{name}");
    }
}

#[test]
fn all_problems_of_a_file_come_out_at_once_in_source_order() {
    let text = "\
Id: base
Componets: []
Components:
  - {Type: Foo, Name: a, Version: tip}
  - {Type: CP, Name: a, Version: v1}
Prefs: {n: 3}
Files:
  - {Path: ../x, Sha256Sum: abc, Source: ftp://x}
---
Id: base
";
    let err = parse_version_sets("all.yaml", text).unwrap_err();
    let positions: Vec<String> = err.diagnostics.iter().map(|d| d.pos.to_string()).collect();
    assert_eq!(
        positions,
        ["2:1", "4:12", "5:22", "5:34", "6:12", "8:12", "8:29", "8:42", "10:5"]
    );
    assert_eq!(
        err.lines().last().map(String::as_str),
        Some("all.yaml:10:5: duplicate VersionSet Id `base` (first at line 1)")
    );
}

#[test]
fn bad_endpoints_get_their_messages() {
    let text = "\
Id: site-a
VersionSets: [override, site-base, override]
Params:
  manager/url: 10.0.0.1:8092
Apply: true
Leader: {ConsensusID: abc, Term: 3}
";
    let err = parse_endpoints("endpoints/site-a.yaml", text).unwrap_err();
    assert_eq!(
        err.lines(),
        [
            "endpoints/site-a.yaml:2:36: VersionSets[2]: duplicate VersionSet `override` (also VersionSets[0])",
            "endpoints/site-a.yaml:6:28: Leader: unknown field `Term`, expected one of `ConsensusID`, `ApiUrl`",
        ]
    );
    let url_only = "Id: site-a\nParams:\n  manager/url: 10.0.0.1:8092\n";
    assert_eq!(
        parse_endpoints("e.yaml", url_only).unwrap_err().lines(),
        ["e.yaml:3:16: Params.manager/url: expected an `http://` or `https://` URL, found \"10.0.0.1:8092\""]
    );
}

#[test]
fn a_version_set_typo_in_an_endpoint_directory_lists_endpoint_fields() {
    let err = parse_documents(
        "endpoints/x.yaml",
        "Id: x\nVersonSets: [a]\n",
        Some(DocumentKind::Endpoint),
    )
    .unwrap_err();
    assert_eq!(
        err.lines(),
        ["endpoints/x.yaml:2:1: unknown field `VersonSets` (did you mean `VersionSets`?), expected one of `Id`, `Description`, `Documentation`, `Meta`, `Params`, `VersionSets`, `VersionSet`, `Apply`, `SinglePaneDisabled`, `VersionSetsDisabled`, `HaId`, `Arch`, `Os`, `DRPVersion`, `DRPUXVersion`, `Components`, `Plugins`, `Prefs`, `Global`, `ConnectionStatus`, `Actions`, `ActionErrorCount`, `ActionErrors`, `Leader`, `Members`, `AppliedVersionSet`"]
    );
}
