//! Content packs through the replicated apply path: bundling DRP's directory form,
//! conflicts with writable objects, `replaceWritable`, prerequisites and feature flags,
//! and the real packs in `../shared/fixtures/content-packs` when they are present.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use endpoint::command::{ContentPack, InstallMode, Op, Request, Response};
use endpoint::model;
use endpoint::packs::bundle::{bundle_dir, parse_pack, BundleError, MAX_PACK_BYTES};
use endpoint::store::{apply, ObjectStore};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/content-packs"
);

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

struct Store {
    _dir: tempfile::TempDir,
    store: ObjectStore,
    index: u64,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ObjectStore::open(&dir.path().join("db")).expect("open store");
        Store {
            _dir: dir,
            store,
            index: 0,
        }
    }

    /// Applies one op the way every member does: `store::apply` in a write transaction.
    fn run(&mut self, op: Op) -> Response {
        self.index += 1;
        // Built through serde so fields added to `Request` later (with defaults) need no
        // change here.
        let req: Request = serde_json::from_value(json!({
            "idempotency": null,
            "at_ms": 1_700_000_000_000 + self.index,
            "op": serde_json::to_value(&op).expect("encode op"),
        }))
        .expect("request");
        let tx = self.store.db().begin_write().expect("begin write");
        let resp = apply(&tx, &req, self.index).expect("apply");
        tx.commit().expect("commit");
        resp
    }

    fn install(&mut self, pack: &ContentPack, replace_writable: bool) -> Response {
        self.run(Op::InstallContent {
            pack: Box::new(pack.clone()),
            replace_writable,
            mode: InstallMode::Upsert,
            features: endpoint::packs::prereqs::advertised(),
        })
    }

    fn remove(&mut self, name: &str) -> Response {
        self.run(Op::RemoveContent {
            name: name.to_string(),
        })
    }

    /// Every object of every collection, to prove a refused write changed nothing.
    fn everything(&self) -> Vec<Value> {
        let mut all = Vec::new();
        for c in model::COLLECTIONS
            .iter()
            .map(|c| c.name)
            .chain(["contents"])
        {
            all.extend(self.store.list(c, 0, None).expect("list").items);
        }
        all
    }

    /// Objects per collection that belong to `bundle`.
    fn owned_counts(&self, bundle: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for c in model::COLLECTIONS {
            let n = self
                .store
                .list(c.name, 0, None)
                .expect("list")
                .items
                .iter()
                .filter(|o| o["Bundle"] == bundle)
                .count();
            if n > 0 {
                counts.insert(c.name.to_string(), n);
            }
        }
        counts
    }
}

fn messages(resp: &Response) -> Vec<String> {
    resp.body["Messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn doc(name: &str) -> ContentPack {
    let bytes = std::fs::read(data(name)).expect("read test pack");
    parse_pack(&bytes).expect("parse test pack")
}

fn small_pack() -> ContentPack {
    bundle_dir(&data("small-pack"), &BTreeMap::new())
        .expect("bundle small-pack")
        .pack
}

#[test]
fn directory_form_becomes_one_document() {
    let bundled = bundle_dir(&data("small-pack"), &BTreeMap::new()).expect("bundle");
    let pack = &bundled.pack;
    assert_eq!(pack.name(), "small-pack");
    assert_eq!(pack.version(), "v1.2.0", "meta values are trimmed");
    assert_eq!(pack.meta["Prerequisites"], "BasicStore: >=4.6.0");
    assert_eq!(
        pack.meta["Documentation"], "\nSmall pack\n==========\n",
        "Documentation is kept verbatim"
    );
    assert!(
        !pack.meta.contains_key("Color"),
        "empty meta files are dropped"
    );
    let keys = |s: &str| -> Vec<&str> { pack.sections[s].keys().map(String::as_str).collect() };
    assert_eq!(
        pack.sections.keys().collect::<Vec<_>>(),
        ["params", "profiles", "tasks", "templates"]
    );
    assert_eq!(
        keys("params"),
        ["small/port"],
        "keyed by Name, not file name"
    );
    assert_eq!(keys("profiles"), ["small-defaults"]);
    assert_eq!(keys("tasks"), ["small-install"]);
    assert_eq!(keys("templates"), ["small-install.sh.tmpl", "small-motd"]);
    assert_eq!(
        pack.sections["templates"]["small-install.sh.tmpl"],
        json!({
            "ID": "small-install.sh.tmpl",
            "Contents": "#!/bin/sh\necho \"port {{ .Param \\\"small/port\\\" }}\"\n",
        })
    );
    assert_eq!(
        pack.sections["profiles"]["small-defaults"]["Params"]["small/port"],
        9090
    );
    assert_eq!(
        bundled.warnings,
        ["skipped folder notes/: not a collection this endpoint serves"]
    );

    let mut meta = BTreeMap::new();
    meta.insert("Version".to_string(), "v9.9.9".to_string());
    let overridden = bundle_dir(&data("small-pack"), &meta).expect("bundle");
    assert_eq!(overridden.pack.version(), "v9.9.9", "given meta wins");

    // The bundled document round-trips through the API's parser unchanged.
    let text = serde_json::to_vec(pack).expect("encode");
    assert_eq!(&parse_pack(&text).expect("parse"), pack);
}

#[test]
fn bad_documents_are_named_and_never_panic() {
    let bad = std::fs::read(data("bad.yaml")).expect("read");
    assert!(matches!(
        parse_pack(&bad),
        Err(BundleError::Syntax { format: "YAML", .. })
    ));
    assert!(matches!(
        parse_pack(b"{\"meta\": "),
        Err(BundleError::Syntax { format: "JSON", .. })
    ));
    assert!(matches!(parse_pack(b"  \n"), Err(BundleError::Empty)));
    let shape = |b: &[u8]| match parse_pack(b) {
        Err(BundleError::Shape(m)) => m,
        other => panic!("expected a shape error, got {other:?}"),
    };
    assert_eq!(shape(b"sections: {}"), "meta is missing");
    assert_eq!(
        shape(b"- a\n- b"),
        "the document must be a mapping with meta and sections"
    );
    assert_eq!(
        shape(b"meta: {Name: a}\nsections: {tasks: [1]}"),
        "sections.tasks must be a mapping of key to object"
    );
    let huge = vec![b' '; MAX_PACK_BYTES + 1];
    assert!(matches!(parse_pack(&huge), Err(BundleError::TooLarge)));
    // Meta scalars become strings, as in DRP's model.
    let p = parse_pack(b"meta: {Name: n, Version: 1.5, Order: 100}").expect("parse");
    assert_eq!(p.meta["Version"], "1.5");
    assert_eq!(p.meta["Order"], "100");
}

#[test]
fn small_pack_installs_lists_and_uninstalls() {
    let mut s = Store::new();
    let pack = small_pack();
    let resp = s.install(&pack, false);
    assert_eq!(resp.status, 201, "{resp:?}");
    assert_eq!(
        resp.body["Counts"],
        json!({"params": 1, "profiles": 1, "tasks": 1, "templates": 2})
    );
    let task = s
        .store
        .get("tasks", "small-install")
        .expect("get")
        .expect("task");
    assert_eq!(task["ReadOnly"], true);
    assert_eq!(task["Bundle"], "small-pack");

    // GET one reassembles the whole pack from the stored objects.
    let full = s
        .store
        .content_pack("small-pack")
        .expect("read")
        .expect("installed");
    assert_eq!(full["meta"]["Name"], "small-pack");
    assert_eq!(
        full["sections"]["templates"]["small-motd"]["Contents"],
        "Welcome to a small machine.\n"
    );

    // Replacing with a version that drops an object removes that object.
    let mut v2 = pack.clone();
    v2.meta.insert("Version".into(), json!("v1.3.0"));
    v2.sections.remove("tasks");
    let resp = s.install(&v2, false);
    assert_eq!(resp.status, 200, "a replace: {resp:?}");
    assert!(s
        .store
        .get("tasks", "small-install")
        .expect("get")
        .is_none());

    assert_eq!(s.remove("small-pack").status, 200);
    assert!(s.owned_counts("small-pack").is_empty());
    assert!(s
        .store
        .get("contents", "small-pack")
        .expect("get")
        .is_none());
    assert_eq!(s.remove("small-pack").status, 404);
}

#[test]
fn a_writable_object_is_never_silently_overwritten() {
    let mut s = Store::new();
    let mine = json!({"Name": "small-defaults", "Description": "mine", "Params": {}});
    let created = s.run(Op::Create {
        collection: "profiles".into(),
        key: "small-defaults".into(),
        object: mine,
    });
    assert_eq!(created.status, 201);
    let before = s.everything();

    let resp = s.install(&small_pack(), false);
    assert_eq!(resp.status, 409, "{resp:?}");
    assert_eq!(
        messages(&resp),
        ["content pack small-pack would overwrite the writable object profiles/small-defaults"]
    );
    assert_eq!(s.everything(), before, "a refused pack changes nothing");

    // replaceWritable: the pack takes the object over; removing the pack removes it.
    let resp = s.install(&small_pack(), true);
    assert_eq!(resp.status, 201, "{resp:?}");
    let profile = s
        .store
        .get("profiles", "small-defaults")
        .expect("get")
        .expect("profile");
    assert_eq!(profile["Bundle"], "small-pack");
    assert_eq!(profile["ReadOnly"], true);
    assert_eq!(profile["Description"], "Defaults for the small service");
    assert_eq!(s.remove("small-pack").status, 200);
    assert!(s
        .store
        .get("profiles", "small-defaults")
        .expect("get")
        .is_none());
}

#[test]
fn another_packs_object_is_a_conflict_even_with_replace_writable() {
    let mut s = Store::new();
    assert_eq!(s.install(&small_pack(), false).status, 201);
    let mut thief = small_pack();
    thief.meta.insert("Name".into(), json!("thief"));
    thief.sections.retain(|k, _| k == "params");
    let before = s.everything();
    let resp = s.install(&thief, true);
    assert_eq!(resp.status, 409);
    assert_eq!(
        messages(&resp),
        ["content pack thief: params/small/port belongs to content pack small-pack"]
    );
    assert_eq!(s.everything(), before);
}

#[test]
fn missing_and_wrong_version_prerequisites_are_each_named() {
    let mut s = Store::new();
    assert_eq!(s.install(&small_pack(), false).status, 201);
    let before = s.everything();
    let resp = s.install(&doc("needs-newer.yaml"), false);
    assert_eq!(resp.status, 422, "{resp:?}");
    assert_eq!(resp.body["Type"], "ValidationError");
    assert_eq!(
        messages(&resp),
        [
            "content pack needs-newer requires content pack BasicStore at \">=5.0.0\", but BasicStore v4.8.0 is installed",
            "content pack needs-newer requires content pack small-pack at \"^2.0\", but small-pack v1.2.0 is installed",
            "content pack needs-newer requires content pack missing-pack, which is not installed",
            "content pack needs-newer requires feature flag change-stage-v2, which this endpoint does not provide",
            "content pack needs-newer requires feature flag not-a-flag, which this endpoint does not provide",
        ]
    );
    assert_eq!(s.everything(), before);
}

#[test]
fn satisfied_prerequisites_load_and_protect_their_pack() {
    let mut s = Store::new();
    let needs = doc("needs-small.yaml");
    let resp = s.install(&needs, false);
    assert_eq!(resp.status, 422);
    assert_eq!(
        messages(&resp),
        ["content pack needs-small requires content pack small-pack, which is not installed"]
    );
    assert_eq!(s.install(&small_pack(), false).status, 201);
    assert_eq!(s.install(&needs, false).status, 201);

    // A new version of small-pack outside what needs-small asks for is refused; nothing changes.
    let before = s.everything();
    let mut old = small_pack();
    old.meta.insert("Version".into(), json!("v0.9.0"));
    let resp = s.install(&old, false);
    assert_eq!(resp.status, 409);
    assert_eq!(
        messages(&resp),
        ["installed content pack needs-small requires small-pack at \">=1.0.0\"; version \"v0.9.0\" would break it"]
    );
    assert_eq!(s.everything(), before);
    let mut newer = small_pack();
    newer.meta.insert("Version".into(), json!("v1.5.0"));
    assert_eq!(s.install(&newer, false).status, 200);

    let resp = s.remove("small-pack");
    assert_eq!(resp.status, 409);
    assert_eq!(
        messages(&resp),
        ["content pack small-pack is a prerequisite of installed content pack needs-small"]
    );
    assert_eq!(s.remove("needs-small").status, 200);
    assert_eq!(s.remove("small-pack").status, 200);
}

#[test]
fn an_unknown_section_is_refused() {
    let mut s = Store::new();
    let before = s.everything();
    let resp = s.install(&doc("unknown-section.yaml"), false);
    assert_eq!(resp.status, 422);
    assert_eq!(
        messages(&resp),
        ["content pack widgets-pack: unknown section \"widgets\""]
    );
    assert_eq!(s.everything(), before);
}

#[test]
fn builtin_layer_names_are_reserved() {
    let mut s = Store::new();
    let pack = parse_pack(b"meta: {Name: BasicStore, Version: 9.0.0}").expect("parse");
    let resp = s.install(&pack, false);
    assert_eq!(resp.status, 422);
    assert_eq!(
        messages(&resp),
        ["content pack name BasicStore is reserved for DRP's built-in layer"]
    );
}

// ---- the real packs ---------------------------------------------------------------

/// Object files per section folder, counted straight from the directory listing.
fn expected_counts(dir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read pack dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_dir() || name.starts_with('.') {
            continue;
        }
        let n = std::fs::read_dir(entry.path())
            .expect("read section")
            .flatten()
            .filter(|f| f.path().is_file() && !f.file_name().to_string_lossy().starts_with('.'))
            .count();
        counts.insert(name, n);
    }
    counts
}

fn fixture(dir: &str) -> ContentPack {
    let bundled = bundle_dir(&Path::new(FIXTURES).join(dir), &BTreeMap::new())
        .unwrap_or_else(|e| panic!("bundle {dir}: {e}"));
    bundled.pack
}

/// Installs a real pack and checks every count three ways: the pack's summary, the
/// objects stored with its Bundle, and the reassembled `GET /contents/<name>`.
fn install_and_count(s: &mut Store, dir: &str, name: &str) {
    let pack = fixture(dir);
    assert_eq!(pack.name(), name);
    let expected = expected_counts(&Path::new(FIXTURES).join(dir));
    let resp = s.install(&pack, false);
    assert_eq!(resp.status, 201, "{name}: {:?}", messages(&resp));
    let counts: BTreeMap<String, usize> = resp.body["Counts"]
        .as_object()
        .expect("Counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(u64::MAX) as usize))
        .collect();
    assert_eq!(counts, expected, "{name}: summary Counts");
    assert_eq!(s.owned_counts(name), expected, "{name}: stored objects");
    let full = s
        .store
        .content_pack(name)
        .expect("read")
        .expect("installed");
    let reassembled: BTreeMap<String, usize> = full["sections"]
        .as_object()
        .expect("sections")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_object().map_or(0, |m| m.len())))
        .collect();
    assert_eq!(reassembled, expected, "{name}: GET one");
}

fn uninstall_cleanly(s: &mut Store, name: &str) {
    let resp = s.remove(name);
    assert_eq!(resp.status, 200, "{name}: {:?}", messages(&resp));
    assert!(
        s.owned_counts(name).is_empty(),
        "{name}: objects left behind"
    );
    assert!(s.store.get("contents", name).expect("get").is_none());
}

#[test]
fn real_packs_install_or_are_refused_precisely() {
    if !Path::new(FIXTURES).is_dir() {
        println!("SKIPPED: ../shared/fixtures not present");
        return;
    }
    let mut s = Store::new();
    let empty = s.everything();

    // drp-community-content: BasicStore is built in, and every flag it requires is provided;
    // its workflows are Available (every stage and task they name is in the pack).
    install_and_count(&mut s, "content", "drp-community-content");
    let workflows = s.store.list("workflows", 0, None).expect("list").items;
    assert!(!workflows.is_empty());
    for w in &workflows {
        assert_eq!(w["Available"], json!(true), "{w}");
        assert_eq!(w["Bundle"], json!("drp-community-content"), "{w}");
    }
    uninstall_cleanly(&mut s, "drp-community-content");
    assert_eq!(s.everything(), empty);

    // edge-lab on an empty endpoint: both prerequisite packs are missing.
    let resp = s.install(&fixture("edge-lab"), false);
    assert_eq!(resp.status, 422);
    assert_eq!(
        messages(&resp),
        [
            "content pack edge-lab requires content pack drp-community-content, which is not installed",
            "content pack edge-lab requires content pack task-library, which is not installed",
        ]
    );

    // task-library and flexiflow need nothing (no Prerequisites, no RequiredFeatures) and
    // share no object, so flexiflow installs with or without task-library.
    install_and_count(&mut s, "flexiflow", "flexiflow");
    uninstall_cleanly(&mut s, "flexiflow");
    install_and_count(&mut s, "task-library", "task-library");
    install_and_count(&mut s, "flexiflow", "flexiflow");

    // With task-library in, edge-lab still lacks drp-community-content.
    let before = s.everything();
    let resp = s.install(&fixture("edge-lab"), false);
    assert_eq!(resp.status, 422);
    assert_eq!(
        messages(&resp),
        ["content pack edge-lab requires content pack drp-community-content, which is not installed"]
    );
    assert_eq!(s.everything(), before);

    // With both, edge-lab installs on top of them.
    install_and_count(&mut s, "content", "drp-community-content");
    install_and_count(&mut s, "edge-lab", "edge-lab");
    uninstall_cleanly(&mut s, "edge-lab");
    uninstall_cleanly(&mut s, "drp-community-content");
    uninstall_cleanly(&mut s, "flexiflow");
    uninstall_cleanly(&mut s, "task-library");
    assert_eq!(
        s.everything(),
        empty,
        "uninstalling leaves the endpoint as it was"
    );
}

// ---- over HTTP, through a real one-node cluster ----------------------------------------

mod common;
use common::{start_node, ADMIN_PASSWORD};

#[tokio::test]
async fn the_rest_api_installs_replaces_and_removes_packs() {
    let http = reqwest::Client::new();
    let node = start_node(&http).await;
    let url = |p: &str| format!("{}{p}", node.base);
    let send = |req: reqwest::RequestBuilder| async {
        let resp = req
            .basic_auth("rocketskates", Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    };
    let pack = serde_json::to_vec(&small_pack()).expect("encode");

    // A writable object in the way: 409 naming it, then replaceWritable takes it over.
    let (status, _) = send(
        http.post(url("/profiles"))
            .json(&json!({"Name": "small-defaults", "Params": {}})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = send(http.post(url("/contents")).body(pack.clone())).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["Messages"],
        json!([
            "content pack small-pack would overwrite the writable object profiles/small-defaults"
        ])
    );
    let (status, body) = send(
        http.post(url("/contents?replaceWritable=true"))
            .body(pack.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["meta"]["Name"], "small-pack");

    // List: summaries with Counts. Get one: the whole pack.
    let (status, list) = send(http.get(url("/contents"))).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["Counts"]["templates"], 2, "{list}");
    let (status, one) = send(http.get(url("/contents/small-pack"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        one["sections"]["params"]["small/port"]["Bundle"],
        "small-pack"
    );

    // PUT replaces; the name must match the path.
    let mut v2 = small_pack();
    v2.meta.insert("Version".into(), json!("v1.3.0"));
    let (status, body) = send(http.put(url("/contents/small-pack")).json(&v2)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"]["Version"], "v1.3.0");
    let (status, body) = send(http.put(url("/contents/other")).json(&v2)).await;
    assert_eq!(status, 400, "{body}");
    // POST never replaces an installed pack; PUT never installs a new one.
    let (status, body) = send(http.post(url("/contents")).json(&v2)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["Messages"][0]
            .as_str()
            .unwrap_or_default()
            .contains("already installed"),
        "{body}"
    );
    let mut other = v2.clone();
    other.meta.insert("Name".into(), json!("not-installed"));
    let (status, body) = send(http.put(url("/contents/not-installed")).json(&other)).await;
    assert_eq!(status, 404, "{body}");

    // YAML bodies, prerequisites, bad input, size cap: DRP-shaped errors.
    let needs = std::fs::read(data("needs-newer.yaml")).expect("read");
    let (status, body) = send(http.post(url("/contents")).body(needs)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["Model"], "contents");
    assert_eq!(body["Key"], "needs-newer");
    assert_eq!(body["Messages"].as_array().map(Vec::len), Some(5));
    let bad = std::fs::read(data("bad.yaml")).expect("read");
    let (status, body) = send(http.post(url("/contents")).body(bad)).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = send(http.post(url("/contents")).body(r#"{"sections": {}}"#)).await;
    assert_eq!(
        (status, &body["Messages"]),
        (422, &json!(["not a content pack: meta is missing"]))
    );
    let (status, body) = send(
        http.post(url("/contents"))
            .body(vec![b' '; MAX_PACK_BYTES + 1]),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["Code"], 413);

    // DELETE removes the pack and everything it owned.
    let (status, _) = send(http.delete(url("/contents/small-pack"))).await;
    assert_eq!(status, 200);
    let (status, _) = send(http.get(url("/contents/small-pack"))).await;
    assert_eq!(status, 404);
    let (status, _) = send(http.get(url("/profiles/small-defaults"))).await;
    assert_eq!(status, 404);
    let (status, _) = send(http.delete(url("/contents/small-pack"))).await;
    assert_eq!(status, 404);
}
