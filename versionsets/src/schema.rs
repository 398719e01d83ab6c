//! The field lists of each model with the checks on their values, as the decoder applies
//! them. They mirror the serde derives in `model.rs`; a test serialises fully populated
//! models and compares the names.

use crate::validate;

/// A value check on a string field; the error is the message (the decoder adds the path).
pub(crate) type Check = fn(&str) -> Result<(), String>;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    Str,
    /// A string that must also pass a check.
    Text(Check),
    Bool,
    UInt,
    /// Any JSON-representable value (Global, Params).
    Any,
    Choice(&'static Choice),
    List(&'static Shape),
    /// A list whose items must differ in `key` (a field of struct items; `None`: the item).
    UniqueList {
        item: &'static Shape,
        key: Option<&'static str>,
        what: &'static str,
    },
    /// String keys to values of the inner shape.
    Map(&'static Shape),
    Struct(&'static StructShape),
}

#[derive(Debug)]
pub(crate) struct Choice {
    /// What the value names, for messages ("component type").
    pub what: &'static str,
    pub names: &'static [&'static str],
    /// Accepted spellings and the canonical name each stands for.
    pub aliases: &'static [(&'static str, &'static str)],
}

#[derive(Debug)]
pub(crate) struct StructShape {
    pub fields: &'static [Field],
    /// A DRP object: DRP's own bookkeeping fields ([`DRP_BOOKKEEPING`]) are accepted and
    /// dropped, so an object exported from a real DRP loads.
    pub drp_object: bool,
}

/// Fields DRP's server writes on every object it stores (its verdict, ownership, times).
/// They describe the copy DRP held, not the desired state, so they are read and dropped.
pub const DRP_BOOKKEEPING: &[&str] = &[
    "Validated",
    "Available",
    "Errors",
    "ReadOnly",
    "Bundle",
    "Endpoint",
    "CreatedAt",
    "CreatedBy",
    "LastModifiedAt",
    "LastModifiedBy",
    "Partial",
    "PluginErrors",
];

/// Drops DRP's bookkeeping fields from a VersionSet or Endpoint document and from its
/// plugins, for input that is deserialized without the positional decoder (JSON bodies).
pub fn strip_drp_bookkeeping(doc: &mut serde_json::Value) {
    let strip = |v: &mut serde_json::Value| {
        if let Some(map) = v.as_object_mut() {
            map.retain(|k, _| !DRP_BOOKKEEPING.contains(&k.as_str()));
        }
    };
    strip(doc);
    if let Some(plugins) = doc.get_mut("Plugins").and_then(|p| p.as_array_mut()) {
        plugins.iter_mut().for_each(strip);
    }
}

#[derive(Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
}

impl StructShape {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

const STR_MAP: Shape = Shape::Map(&Shape::Str);
const ID: Shape = Shape::Text(validate::check_id);
const NAME: Shape = Shape::Text(validate::check_name);
const VERSION: Shape = Shape::Text(validate::check_version);
const ANY_MAP: Shape = Shape::Map(&Shape::Any);

pub(crate) static COMPONENT_TYPE: Choice = Choice {
    what: "component type",
    names: &["ContentPackage", "PluginProvider"],
    aliases: &[("CP", "ContentPackage"), ("PP", "PluginProvider")],
};

static ACTION_KIND: Choice = Choice {
    what: "action",
    names: &["Set", "AddOrUpdate", "Delete"],
    aliases: &[],
};

static ELEMENT_TYPE: Choice = Choice {
    what: "element type",
    names: &[
        "DRP",
        "DRPUX",
        "PluginProvider",
        "ContentPackage",
        "File",
        "Plugin",
        "Pref",
        "Global",
    ],
    aliases: &[],
};

pub(crate) static COMPONENT: StructShape = StructShape {
    fields: &[
        req("Type", Shape::Choice(&COMPONENT_TYPE)),
        req("Name", NAME),
        req("Version", VERSION),
        opt("ActualVersion", Shape::Text(validate::check_exact_version)),
        opt("ReplaceWritable", Shape::Bool),
    ],
    drp_object: false,
};

pub(crate) static PLUGIN: StructShape = StructShape {
    fields: &[
        req("Name", NAME),
        req("Provider", NAME),
        opt("Params", ANY_MAP),
        opt("Description", Shape::Str),
        opt("Documentation", Shape::Str),
        opt("Meta", STR_MAP),
    ],
    drp_object: true,
};

pub(crate) static FILE: StructShape = StructShape {
    fields: &[
        req("Path", Shape::Text(validate::check_relative_path)),
        req("Sha256Sum", Shape::Text(validate::check_sha256)),
        req("Source", Shape::Text(validate::check_source)),
        opt("Explode", Shape::Bool),
    ],
    drp_object: false,
};

const COMPONENTS: Shape = Shape::UniqueList {
    item: &Shape::Struct(&COMPONENT),
    key: Some("Name"),
    what: "component",
};
const PLUGINS: Shape = Shape::UniqueList {
    item: &Shape::Struct(&PLUGIN),
    key: Some("Name"),
    what: "plugin",
};

pub(crate) static VERSION_SET: StructShape = StructShape {
    fields: &[
        req("Id", ID),
        opt("Description", Shape::Str),
        opt("Documentation", Shape::Str),
        opt("Meta", STR_MAP),
        opt("Apply", Shape::Bool),
        opt("DRPVersion", VERSION),
        opt("DRPUXVersion", VERSION),
        opt("Components", COMPONENTS),
        opt("Plugins", PLUGINS),
        opt("Prefs", STR_MAP),
        opt("Global", ANY_MAP),
        opt(
            "Files",
            Shape::UniqueList {
                item: &Shape::Struct(&FILE),
                key: Some("Path"),
                what: "file",
            },
        ),
    ],
    drp_object: true,
};

pub(crate) static ELEMENT_ACTION: StructShape = StructShape {
    fields: &[
        req("Action", Shape::Choice(&ACTION_KIND)),
        req("Type", Shape::Choice(&ELEMENT_TYPE)),
        req("Name", Shape::Str),
        opt("Version", Shape::Str),
        opt("Value", Shape::Any),
    ],
    drp_object: false,
};

pub(crate) static LEADER: StructShape = StructShape {
    fields: &[opt("ConsensusID", Shape::Str), opt("ApiUrl", Shape::Str)],
    drp_object: false,
};

pub(crate) static MEMBER: StructShape = StructShape {
    fields: &[
        opt("ConsensusID", Shape::Str),
        opt("ConsensusAddr", Shape::Str),
        opt("ApiUrl", Shape::Str),
        opt("Role", Shape::Str),
        opt("Voter", Shape::Bool),
        opt("Observer", Shape::Bool),
        opt("MatchIndex", Shape::UInt),
        opt("Online", Shape::Bool),
    ],
    drp_object: false,
};

pub(crate) static APPLIED_VERSION_SET: StructShape = StructShape {
    fields: &[
        opt("Hash", Shape::Str),
        opt("GitCommit", Shape::Str),
        opt("Index", Shape::UInt),
        opt("At", Shape::Str),
    ],
    drp_object: false,
};

pub(crate) static ENDPOINT: StructShape = StructShape {
    fields: &[
        req("Id", ID),
        opt("Description", Shape::Str),
        opt("Documentation", Shape::Str),
        opt("Meta", STR_MAP),
        opt("Params", ANY_MAP),
        opt(
            "VersionSets",
            Shape::UniqueList {
                item: &ID,
                key: None,
                what: "VersionSet",
            },
        ),
        opt("VersionSet", ID),
        opt("Apply", Shape::Bool),
        opt("SinglePaneDisabled", Shape::Bool),
        opt("VersionSetsDisabled", Shape::Bool),
        opt("HaId", Shape::Str),
        opt("Arch", Shape::Str),
        opt("Os", Shape::Str),
        opt("DRPVersion", VERSION),
        opt("DRPUXVersion", VERSION),
        opt("Components", COMPONENTS),
        opt("Plugins", PLUGINS),
        opt("Prefs", STR_MAP),
        opt("Global", ANY_MAP),
        opt("ConnectionStatus", Shape::Str),
        opt("Actions", Shape::List(&Shape::Struct(&ELEMENT_ACTION))),
        opt("ActionErrorCount", Shape::UInt),
        opt("ActionErrors", Shape::List(&Shape::Str)),
        opt("Leader", Shape::Struct(&LEADER)),
        opt("Members", Shape::List(&Shape::Struct(&MEMBER))),
        opt("AppliedVersionSet", Shape::Struct(&APPLIED_VERSION_SET)),
    ],
    drp_object: true,
};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::model::*;

    fn names(shape: &StructShape) -> Vec<&'static str> {
        let mut names: Vec<_> = shape.fields.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names
    }

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<_> = value
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }

    fn full_component() -> Component {
        Component {
            kind: ComponentType::ContentPackage,
            name: "a".into(),
            version: "tip".into(),
            actual_version: Some("v1.0.0".into()),
            replace_writable: true,
        }
    }

    fn full_plugin() -> Plugin {
        Plugin {
            name: "p".into(),
            provider: "ipmi".into(),
            params: BTreeMap::from([("k".to_owned(), json!(1))]),
            description: Some("d".into()),
            documentation: Some("d".into()),
            meta: one(),
        }
    }

    fn one() -> BTreeMap<String, String> {
        BTreeMap::from([("k".to_owned(), "v".to_owned())])
    }

    #[test]
    fn field_lists_match_the_serde_models() {
        let vs = VersionSet {
            id: "a".into(),
            description: Some("d".into()),
            documentation: Some("d".into()),
            meta: one(),
            apply: true,
            drp_version: Some("tip".into()),
            drp_ux_version: Some("tip".into()),
            components: vec![full_component()],
            plugins: vec![full_plugin()],
            prefs: one(),
            global: BTreeMap::from([("g".to_owned(), json!(true))]),
            files: vec![File {
                path: "p".into(),
                sha256sum: "s".into(),
                source: "self://p".into(),
                explode: true,
            }],
        };
        let vs_json = serde_json::to_value(&vs).unwrap();
        assert_eq!(keys(&vs_json), names(&VERSION_SET));
        assert_eq!(keys(&vs_json["Components"][0]), names(&COMPONENT));
        assert_eq!(keys(&vs_json["Plugins"][0]), names(&PLUGIN));
        assert_eq!(keys(&vs_json["Files"][0]), names(&FILE));

        let ep = Endpoint {
            id: "e".into(),
            description: Some("d".into()),
            documentation: Some("d".into()),
            meta: one(),
            params: BTreeMap::from([("manager/url".to_owned(), json!("https://x"))]),
            version_sets: vec!["a".into()],
            version_set: Some("b".into()),
            apply: true,
            single_pane_disabled: true,
            version_sets_disabled: true,
            ha_id: Some("h".into()),
            arch: Some("amd64".into()),
            os: Some("linux".into()),
            drp_version: Some("v4.8.0".into()),
            drp_ux_version: Some("v4.8.0".into()),
            components: vec![full_component()],
            plugins: vec![full_plugin()],
            prefs: one(),
            global: BTreeMap::from([("g".to_owned(), json!(true))]),
            connection_status: Some("ok".into()),
            actions: vec![ElementAction {
                action: ActionKind::Set,
                kind: ElementType::Pref,
                name: "k".into(),
                version: "".into(),
                value: Some(json!("v")),
            }],
            action_error_count: 1,
            action_errors: vec!["e".into()],
            leader: Some(LeaderRef::default()),
            members: vec![Member {
                consensus_addr: "a".into(),
                api_url: "u".into(),
                role: "leader".into(),
                ..Member::default()
            }],
            applied_version_set: Some(AppliedVersionSet {
                hash: "h".into(),
                git_commit: "c".into(),
                index: 1,
                at: "t".into(),
            }),
        };
        let ep_json = serde_json::to_value(&ep).unwrap();
        assert_eq!(keys(&ep_json), names(&ENDPOINT));
        assert_eq!(keys(&ep_json["Actions"][0]), names(&ELEMENT_ACTION));
        assert_eq!(keys(&ep_json["Leader"]), names(&LEADER));
        assert_eq!(keys(&ep_json["Members"][0]), names(&MEMBER));
        assert_eq!(
            keys(&ep_json["AppliedVersionSet"]),
            names(&APPLIED_VERSION_SET)
        );
    }

    #[test]
    fn choices_match_the_serde_enums() {
        for name in ELEMENT_TYPE.names {
            let parsed: Result<ElementType, _> = serde_json::from_value(json!(name));
            assert!(parsed.is_ok(), "{name}");
        }
        for name in ACTION_KIND.names {
            let parsed: Result<ActionKind, _> = serde_json::from_value(json!(name));
            assert!(parsed.is_ok(), "{name}");
        }
        for (alias, canonical) in COMPONENT_TYPE.aliases {
            assert_eq!(
                ComponentType::parse(alias).map(ComponentType::as_str),
                Some(*canonical)
            );
        }
    }
}
