//! The apply function and snapshots, on a real redb file.

use serde_json::{json, Value};

use super::{apply, restore, ObjectStore};
use crate::command::{ContentPack, Idempotency, Op, Request, Response, VersionSetApply};

fn store() -> (tempfile::TempDir, ObjectStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ObjectStore::open(&dir.path().join("state.redb")).expect("open");
    (dir, store)
}

fn run(store: &ObjectStore, req: &Request, index: u64) -> Response {
    let tx = store.db().begin_write().expect("write");
    let resp = apply(&tx, req, index).expect("apply");
    tx.commit().expect("commit");
    resp
}

fn req(op: Op, key: Option<&str>, fingerprint: &str) -> Request {
    let idempotency = key.map(|k| Idempotency {
        key: k.into(),
        fingerprint: fingerprint.into(),
        ttl_ms: 60_000,
    });
    Request {
        idempotency,
        at_ms: 1_000,
        if_match: None,
        principal: None,
        op,
    }
}

fn create(name: &str) -> Op {
    Op::Create {
        collection: "profiles".into(),
        key: name.into(),
        object: json!({ "Name": name }),
    }
}

fn pack(name: &str, version: &str, profiles: &[&str]) -> ContentPack {
    let section = profiles
        .iter()
        .map(|p| (p.to_string(), json!({ "Name": p })))
        .collect();
    serde_json::from_value(json!({ "meta": { "Name": name, "Version": version } }))
        .map(|mut p: ContentPack| {
            p.sections.insert("profiles".into(), section);
            p
        })
        .expect("pack")
}

fn apply_packs(packs: Vec<ContentPack>, key: &str) -> Op {
    Op::ApplyVersionSet(Box::new(VersionSetApply {
        version_set: json!({ "Id": "vs" }),
        hash: "h".into(),
        key: key.into(),
        content_packs: packs,
        plugin_providers: vec![],
        plugins: vec![],
        prefs: [("p".to_string(), "v".to_string())].into(),
        global: serde_json::Map::new(),
        files: vec![],
        features: vec![],
    }))
}

#[test]
fn a_retried_key_replays_the_first_outcome_and_changes_nothing() {
    let (_d, s) = store();
    assert_eq!(run(&s, &req(create("a"), Some("k"), "f1"), 1).status, 201);
    let again = run(&s, &req(create("a"), Some("k"), "f1"), 2);
    assert_eq!(again.status, 201, "replay, not 409: {again:?}");
    assert_eq!(s.count("profiles").expect("count"), 2, "global + a");
    let reused = run(&s, &req(create("b"), Some("k"), "f2"), 3);
    assert_eq!(reused.status, 422);
    assert!(
        s.get("profiles", "b").expect("get").is_none(),
        "a reused key must change nothing"
    );
}

#[test]
fn a_conflicting_pack_is_refused_whole() {
    let (_d, s) = store();
    run(&s, &req(create("mine"), None, ""), 1);
    let resp = run(
        &s,
        &req(
            apply_packs(vec![pack("p1", "v1.0.0", &["x", "mine"])], "k1"),
            None,
            "",
        ),
        2,
    );
    assert_eq!(resp.status, 409, "{resp:?}");
    let text = resp.body.to_string();
    assert!(text.contains("writable object profiles/mine"), "{text}");
    assert!(
        s.get("profiles", "x").expect("get").is_none(),
        "nothing of the pack may land"
    );
    assert_eq!(
        s.prefs().expect("prefs"),
        json!({}),
        "nothing of the set may land"
    );
}

#[test]
fn packs_are_layers_replaced_whole_and_read_only() {
    let (_d, s) = store();
    assert_eq!(
        run(
            &s,
            &req(
                apply_packs(vec![pack("p1", "v1.0.0", &["x", "y"])], "k1"),
                None,
                ""
            ),
            1
        )
        .status,
        200
    );
    let y = s.get("profiles", "y").expect("get").expect("y installed");
    assert_eq!(y["ReadOnly"], json!(true));
    assert_eq!(y["Bundle"], json!("p1"));
    let edit = Op::SetParam {
        collection: "profiles".into(),
        key: "y".into(),
        param: "a".into(),
        value: json!(1),
    };
    assert_eq!(run(&s, &req(edit, None, ""), 2).status, 403);
    // v2 drops y: replacing the layer removes it.
    assert_eq!(
        run(
            &s,
            &req(
                apply_packs(vec![pack("p1", "v2.0.0", &["x"])], "k2"),
                None,
                ""
            ),
            3
        )
        .status,
        200
    );
    assert!(s.get("profiles", "y").expect("get").is_none());
    assert_eq!(
        s.get("contents", "p1").expect("get").expect("record")["meta"]["Version"],
        json!("v2.0.0")
    );
}

#[test]
fn snapshot_round_trip_restores_everything() {
    let (_d, a) = store();
    run(&a, &req(create("a"), Some("k"), "f"), 1);
    run(
        &a,
        &req(
            apply_packs(vec![pack("p1", "v1.0.0", &["x"])], "k1"),
            None,
            "",
        ),
        2,
    );
    let dump = a.dump().expect("dump");

    let (_d2, b) = store();
    run(&b, &req(create("stale"), None, ""), 1);
    let tx = b.db().begin_write().expect("write");
    restore(&tx, &dump.bytes).expect("restore");
    tx.commit().expect("commit");
    assert!(
        b.get("profiles", "stale").expect("get").is_none(),
        "restore replaces, not merges"
    );
    assert_eq!(
        b.get("profiles", "x").expect("get"),
        a.get("profiles", "x").expect("get")
    );
    assert_eq!(b.prefs().expect("prefs"), json!({ "p": "v" }));
    // The idempotency record travels with the snapshot: a retry on the new member replays.
    assert_eq!(run(&b, &req(create("a"), Some("k"), "f"), 3).status, 201);
    assert_eq!(b.dump().expect("dump").bytes, dump.bytes);
}

#[test]
fn a_corrupt_snapshot_is_refused() {
    let (_d, s) = store();
    let tx = s.db().begin_write().expect("write");
    assert!(restore(&tx, b"not a snapshot").is_err());
    let mut truncated = s.dump().expect("dump").bytes;
    truncated.truncate(truncated.len() - 3);
    assert!(restore(&tx, &truncated).is_err());
}

fn patch(p: serde_json::Value) -> Op {
    Op::Patch {
        collection: "profiles".into(),
        key: "a".into(),
        patch: p,
    }
}

/// Regression (fuzz/regressions/json_patch): 40 `copy` ops of the root double the object
/// 40 times; the state machine must refuse the patch (422) instead of exhausting memory.
#[test]
fn a_self_copying_patch_is_refused_not_applied() {
    let (_d, s) = store();
    run(&s, &req(create("a"), None, ""), 1);
    let before = s.get("profiles", "a").expect("get");
    let ops: Vec<Value> = (0..40)
        .map(|i| json!({"op": "copy", "from": "", "path": format!("/x{i}")}))
        .collect();
    let refused = run(&s, &req(patch(Value::Array(ops)), None, ""), 2);
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(s.get("profiles", "a").expect("get"), before);
    // A few copies of a small object are still fine.
    let ops: Vec<Value> = (0..3)
        .map(|i| json!({"op": "copy", "from": "/Name", "path": format!("/Params/c{i}")}))
        .collect();
    let ok = run(&s, &req(patch(Value::Array(ops)), None, ""), 3);
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[test]
fn a_failed_patch_test_changes_nothing() {
    let (_d, s) = store();
    run(&s, &req(create("a"), None, ""), 1);
    let before = s.get("profiles", "a").expect("get");
    let failed = run(
        &s,
        &req(
            patch(json!([
                {"op": "add", "path": "/Description", "value": "x"},
                {"op": "test", "path": "/Name", "value": "not-a"}
            ])),
            None,
            "",
        ),
        2,
    );
    assert_eq!(failed.status, 409, "{failed:?}");
    assert_eq!(
        s.get("profiles", "a").expect("get"),
        before,
        "the first op must not stick"
    );
    let renamed = run(
        &s,
        &req(
            patch(json!([{"op": "replace", "path": "/Name", "value": "b"}])),
            None,
            "",
        ),
        3,
    );
    assert_eq!(
        renamed.status, 422,
        "a patch may not change the key: {renamed:?}"
    );
    let ok = run(
        &s,
        &req(
            patch(
                json!([{"op": "test", "path": "/Name", "value": "a"}, {"op": "add", "path": "/Params/k", "value": 1}]),
            ),
            None,
            "",
        ),
        4,
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(
        s.get("profiles", "a").expect("get").expect("a")["Params"]["k"],
        json!(1)
    );
}

#[test]
fn if_match_guards_writes() {
    let (_d, s) = store();
    run(&s, &req(create("a"), None, ""), 1);
    let tag = super::etag(&s.get("profiles", "a").expect("get").expect("a"));
    let set = |v: i64| Op::SetParam {
        collection: "profiles".into(),
        key: "a".into(),
        param: "k".into(),
        value: json!(v),
    };
    let mut guarded = req(set(1), None, "");
    guarded.if_match = Some(tag.clone());
    assert_eq!(run(&s, &guarded, 2).status, 200);
    let mut stale = req(set(2), None, "");
    stale.if_match = Some(tag);
    assert_eq!(
        run(&s, &stale, 3).status,
        412,
        "the first write changed the ETag"
    );
    assert_eq!(
        s.get("profiles", "a").expect("get").expect("a")["Params"]["k"],
        json!(1)
    );
}

#[test]
fn dangling_references_make_an_object_unavailable() {
    let (_d, s) = store();
    let machine = |profiles: serde_json::Value| Op::Create {
        collection: "machines".into(),
        key: "3f1c2a9e-0000-4000-8000-000000000001".into(),
        object: json!({ "Name": "m1", "Profiles": profiles }),
    };
    let resp = run(&s, &req(machine(json!(["missing"])), None, ""), 1);
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body["Available"], json!(false));
    assert_eq!(
        resp.body["Errors"],
        json!(["Profiles: profiles/missing does not exist"])
    );
    run(&s, &req(create("present"), None, ""), 2);
    let fixed = Op::Replace {
        collection: "machines".into(),
        key: "3f1c2a9e-0000-4000-8000-000000000001".into(),
        object: json!({ "Name": "m1", "Profiles": ["present"] }),
    };
    let resp = run(&s, &req(fixed, None, ""), 3);
    assert_eq!(
        (resp.body["Available"].clone(), resp.body["Errors"].clone()),
        (json!(true), json!([]))
    );
}

#[test]
fn a_versionset_may_not_break_an_installed_packs_prerequisite() {
    let (_d, s) = store();
    let needs = |version: &str, range: &str| {
        let mut p = pack("top", version, &["top-profile"]);
        p.meta
            .insert("Prerequisites".into(), json!(format!("base: {range}")));
        p
    };
    assert_eq!(
        run(
            &s,
            &req(
                apply_packs(vec![pack("base", "v1.2.0", &["b"])], "k1"),
                None,
                ""
            ),
            1
        )
        .status,
        200
    );
    assert_eq!(
        run(
            &s,
            &req(
                apply_packs(vec![needs("v1.0.0", ">=1.0.0")], "k2"),
                None,
                ""
            ),
            2
        )
        .status,
        200
    );
    // base downgraded alone: top's prerequisite would break, so nothing changes.
    let refused = run(
        &s,
        &req(
            apply_packs(vec![pack("base", "v0.5.0", &["b"])], "k3"),
            None,
            "",
        ),
        3,
    );
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("top requires base"),
        "{}",
        refused.body
    );
    // Together with a top that accepts it: applied.
    let both = vec![pack("base", "v0.5.0", &["b"]), needs("v2.0.0", ">=0.1.0")];
    assert_eq!(
        run(&s, &req(apply_packs(both, "k4"), None, ""), 4).status,
        200
    );
}

#[test]
fn every_builtin_is_protected() {
    for (collection, key, _) in crate::model::builtins() {
        assert!(
            crate::model::is_builtin(collection, key),
            "{collection}/{key}"
        );
    }
}

fn put_object(collection: &str, key: &str, object: Value) -> Op {
    Op::Create {
        collection: collection.into(),
        key: key.into(),
        object,
    }
}

/// The runtime in apply: the `defaultWorkflow` pref starts a new machine in it, a job is made
/// for each task in turn, a retried job report is a replay, and an ended job stays ended.
#[test]
fn machines_walk_their_workflow_through_jobs() {
    let (_dir, s) = store();
    const J1: &str = "6d1c4a8e-0001-4c4f-9d0a-5a1e0000a001";
    const J2: &str = "6d1c4a8e-0001-4c4f-9d0a-5a1e0000a002";
    let m = "6d1c4a8e-0001-4c4f-9d0a-5a1e00000001";
    let setup = [
        put_object("tasks", "a", json!({"Name": "a"})),
        put_object("stages", "one", json!({"Name": "one", "Tasks": ["a"]})),
        put_object("workflows", "wf", json!({"Name": "wf", "Stages": ["one"]})),
        Op::SetPrefs {
            prefs: [("defaultWorkflow".to_string(), "wf".to_string())].into(),
        },
        put_object("machines", m, json!({"Uuid": m, "Name": "m"})),
    ];
    let mut last = Response::default();
    for (index, op) in (1..).zip(setup) {
        last = run(&s, &req(op, None, ""), index);
        assert!(last.status < 300, "{last:?}");
    }
    assert_eq!(last.body["Workflow"], "wf");
    assert_eq!(last.body["Tasks"], json!(["stage:one", "a"]));
    assert_eq!(last.body["Stage"], "one");

    let job = run(
        &s,
        &req(
            Op::CreateJob {
                machine: m.into(),
                job: J1.into(),
                context: String::new(),
            },
            None,
            "",
        ),
        10,
    );
    assert_eq!(job.status, 201, "{job:?}");
    assert_eq!(job.body["Task"], "a");
    let finish = |status: &str| Op::Patch {
        collection: "jobs".into(),
        key: J1.into(),
        patch: json!([{"op": "replace", "path": "/State", "value": status}]),
    };
    let done = run(&s, &req(finish("finished"), Some("k-end"), "f"), 11);
    assert_eq!(done.status, 200, "{done:?}");
    let again = run(&s, &req(finish("finished"), Some("k-end"), "f"), 12);
    assert_eq!(again, done, "a retried report is the first one's replay");
    let other = run(&s, &req(finish("failed"), Some("k-other"), "g"), 13);
    assert_eq!(other.status, 409, "{other:?}");
    let machine = s.get("machines", m).expect("get").expect("machine");
    assert_eq!(machine["WorkflowComplete"], true);
    assert_eq!(machine["Runnable"], true);
    let none = run(
        &s,
        &req(
            Op::CreateJob {
                machine: m.into(),
                job: J2.into(),
                context: String::new(),
            },
            None,
            "",
        ),
        14,
    );
    assert_eq!(none.status, 204);
    assert!(s.get("jobs", J2).expect("get").is_none());
}

/// DRP's contexts: a job is made only for the agent whose context is the machine's, and
/// carries it; a machine without a workflow takes the stage a client sets, and an unknown
/// stage is refused without a change.
#[test]
fn jobs_follow_the_machine_context_and_stages_are_set_without_a_workflow() {
    let (_dir, s) = store();
    const J1: &str = "6d1c4a8e-0003-4c4f-9d0a-5a1e0000a001";
    const J2: &str = "6d1c4a8e-0003-4c4f-9d0a-5a1e0000a002";
    let m = "6d1c4a8e-0003-4c4f-9d0a-5a1e00000001";
    let setup = [
        put_object("tasks", "a", json!({"Name": "a"})),
        put_object("stages", "one", json!({"Name": "one", "Tasks": ["a"]})),
        put_object(
            "machines",
            m,
            json!({"Uuid": m, "Name": "m", "Stage": "one", "Context": "other"}),
        ),
    ];
    let mut last = Response::default();
    for (index, op) in (1..).zip(setup) {
        last = run(&s, &req(op, None, ""), index);
        assert!(last.status < 300, "{last:?}");
    }
    assert_eq!(last.body["Tasks"], json!(["stage:one", "a"]));
    assert_eq!(last.body["Context"], "other");
    let create = |job: &str, context: &str| Op::CreateJob {
        machine: m.into(),
        job: job.into(),
        context: context.into(),
    };
    let none = run(&s, &req(create(J1, ""), None, ""), 10);
    assert_eq!(none.status, 204, "not the default context's machine");
    assert!(s.get("jobs", J1).expect("get").is_none());
    let job = run(&s, &req(create(J2, "other"), None, ""), 11);
    assert_eq!(job.status, 201, "{job:?}");
    assert_eq!(job.body["Context"], "other");
    // Once the job ended, an unknown stage is refused and changes nothing.
    let finish = Op::Patch {
        collection: "jobs".into(),
        key: J2.into(),
        patch: json!([{"op": "replace", "path": "/State", "value": "finished"}]),
    };
    assert_eq!(run(&s, &req(finish, None, ""), 12).status, 200);
    let stage = |name: &str| Op::Patch {
        collection: "machines".into(),
        key: m.into(),
        patch: json!([{"op": "replace", "path": "/Stage", "value": name}]),
    };
    let before = s.get("machines", m).expect("get").expect("machine");
    let bad = run(&s, &req(stage("nope"), None, ""), 13);
    assert_eq!(bad.status, 422, "{bad:?}");
    assert_eq!(s.get("machines", m).expect("get").expect("machine"), before);
}

/// A job command that moves its machine also tells the machine's watchers: a
/// `machines.update` event beside the job's own, with the machine before and after.
#[test]
fn job_commands_send_the_machine_update_they_cause() {
    let (_dir, s) = store();
    const J1: &str = "6d1c4a8e-0002-4c4f-9d0a-5a1e0000a001";
    let m = "6d1c4a8e-0002-4c4f-9d0a-5a1e00000001";
    let setup = [
        put_object("tasks", "a", json!({"Name": "a"})),
        put_object("stages", "one", json!({"Name": "one", "Tasks": ["a"]})),
        put_object("workflows", "wf", json!({"Name": "wf", "Stages": ["one"]})),
        put_object(
            "machines",
            m,
            json!({"Uuid": m, "Name": "m", "Workflow": "wf"}),
        ),
    ];
    for (index, op) in (1..).zip(setup) {
        assert!(run(&s, &req(op, None, ""), index).status < 300);
    }
    let events_of = |op: Op, index: u64| {
        let tx = s.db().begin_write().expect("write");
        let (resp, events) =
            super::apply_with_event(&tx, &req(op, None, ""), index).expect("apply");
        tx.commit().expect("commit");
        (resp, events)
    };
    let summary = |events: &[crate::events::Event]| -> Vec<String> {
        events
            .iter()
            .map(|e| format!("{}.{}.{}", e.kind, e.action, e.key))
            .collect()
    };

    let (resp, events) = events_of(
        Op::CreateJob {
            machine: m.into(),
            job: J1.into(),
            context: String::new(),
        },
        10,
    );
    assert_eq!(resp.status, 201, "{resp:?}");
    assert_eq!(
        summary(&events),
        [format!("jobs.create.{J1}"), format!("machines.update.{m}")]
    );
    assert_eq!(events[1].object["CurrentJob"], J1);
    assert_ne!(events[1].original["CurrentJob"], J1);

    let (_, events) = events_of(
        Op::Patch {
            collection: "jobs".into(),
            key: J1.into(),
            patch: json!([{"op": "replace", "path": "/State", "value": "finished"}]),
        },
        11,
    );
    assert_eq!(
        summary(&events),
        [format!("jobs.update.{J1}"), format!("machines.update.{m}")]
    );
    assert_eq!(events[1].object["WorkflowComplete"], true);

    // A log append moves no machine: the job's own event only (none for a log).
    let (_, events) = events_of(
        Op::AppendJobLog {
            job: J1.into(),
            data: "line\n".into(),
        },
        12,
    );
    assert!(events.is_empty(), "{:?}", summary(&events));
}

/// A retry answered from its idempotency record makes no event: a create retried after a lost
/// leader may carry another generated key than the first attempt, and an event for it would
/// describe an object under a key that does not exist (the manager's replica then listed the
/// machine twice).
#[test]
fn a_replayed_write_makes_no_event() {
    let (_dir, store) = store();
    let machine = |uuid: &str| Op::Create {
        collection: "machines".into(),
        key: uuid.into(),
        object: json!({ "Uuid": uuid, "Name": "m1" }),
    };
    let tx = store.db().begin_write().expect("write");
    let first = req(machine("a"), Some("k1"), "f");
    let (resp, events) = super::apply_with_event(&tx, &first, 1).expect("apply");
    assert_eq!(resp.status, 201);
    assert_eq!(events.len(), 1);
    let retry = req(machine("b"), Some("k1"), "f");
    let (resp, events) = super::apply_with_event(&tx, &retry, 2).expect("apply");
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body["Uuid"], "a", "the first attempt's reply");
    assert!(events.is_empty(), "no event for a replay: {events:?}");
    tx.commit().expect("commit");
}

#[test]
fn contains_and_get_as_read_what_get_reads_without_the_whole_tree() {
    #[derive(serde::Deserialize)]
    struct Fields {
        #[serde(rename = "Name")]
        name: Option<Value>,
        #[serde(rename = "Secure")]
        secure: Option<Value>,
    }
    let (_dir, s) = store();
    run(&s, &req(create("p1"), None, ""), 1);
    assert!(s.contains("profiles", "p1").unwrap());
    assert!(!s.contains("profiles", "p2").unwrap());
    assert!(!s.contains("params", "p1").unwrap(), "another collection");

    let got: Fields = s.get_as("profiles", "p1").unwrap().expect("stored");
    assert_eq!(got.name, Some(json!("p1")));
    assert_eq!(got.secure, None, "a field the object lacks reads as absent");
    let missing: Option<Fields> = s.get_as("profiles", "p2").unwrap();
    assert!(missing.is_none());
}

#[test]
fn a_change_event_carries_the_object_exactly_as_stored() {
    let (_dir, s) = store();
    run(&s, &req(create("p1"), None, ""), 1);
    let param = |param: &str, value: Value| Op::SetParam {
        collection: "profiles".into(),
        key: "p1".into(),
        param: param.into(),
        value,
    };
    let ops = [
        param("a/b", json!({"n": 1.5, "list": [1, -2, "x"]})),
        param("c", json!("v")),
        Op::DeleteParam {
            collection: "profiles".into(),
            key: "p1".into(),
            param: "c".into(),
        },
        Op::Replace {
            collection: "profiles".into(),
            key: "p1".into(),
            object: json!({"Name": "p1", "Description": "replaced", "Params": {"k": 7}}),
        },
        // A refused op changes nothing and tells nothing.
        param("x", json!(1)),
    ];
    for (i, op) in ops.into_iter().enumerate() {
        let index = 2 + i as u64;
        let refused = index == 6;
        let mut r = req(op, None, "");
        if refused {
            r.if_match = Some("not-the-etag".into());
        }
        let tx = s.db().begin_write().expect("write");
        let (resp, events) = super::apply_with_event(&tx, &r, index).expect("apply");
        tx.commit().expect("commit");
        if refused {
            assert_eq!(resp.status, 412, "{resp:?}");
            assert!(events.is_empty(), "{events:?}");
            continue;
        }
        assert!(resp.status < 300, "{resp:?}");
        let stored = s.get("profiles", "p1").unwrap().expect("stored");
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            events[0].object, stored,
            "op {index}: the event's object is the stored one"
        );
    }
}
