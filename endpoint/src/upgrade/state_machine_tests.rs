//! The state machine meets an entry newer than this build understands: it stops applying
//! (the batch is not committed, so nothing of it is half-applied), says why, and a build that
//! understands the entry applies the same log from the same state.

use futures::stream;
use openraft::storage::RaftStateMachine;
use serde_json::json;

use crate::raft::state_machine::StateMachineStore;
use crate::raft::Entry;
use crate::store::member_attributes;
use crate::store::ObjectStore;

fn entry(index: u64, op: serde_json::Value) -> Entry {
    let raw = json!({
        "log_id": {"leader_id": 1, "index": index},
        "payload": {"Normal": {"idempotency": null, "at_ms": 1, "op": op}},
    });
    serde_json::from_value(raw).expect("an entry as the log stores it")
}

fn batch() -> Vec<Entry> {
    vec![
        entry(
            1,
            json!({"MemberAttributes": {"id": "m1", "version": "old", "command_version": 1,
                "features": []}}),
        ),
        entry(2, json!({"SetUpgradeTarget": {"version": "v9"}})),
    ]
}

async fn apply(sm: &mut StateMachineStore, entries: Vec<Entry>) -> std::io::Result<()> {
    sm.apply(stream::iter(entries.into_iter().map(|e| Ok((e, None)))))
        .await
}

#[tokio::test]
async fn an_old_build_stops_at_a_newer_entry_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::open(&dir.path().join("state.redb")).unwrap();
    let mut sm = StateMachineStore::new(store.clone(), dir.path());

    super::cluster_version::set_cap(Some(1));
    let err = apply(&mut sm, batch()).await.unwrap_err().to_string();
    super::cluster_version::set_cap(Some(crate::command::COMMAND_VERSION));
    assert!(err.contains("log entry 2"), "{err}");
    assert!(err.contains("SetUpgradeTarget"), "{err}");
    assert!(err.contains("needs command version 2"), "{err}");
    // (Other tests stop their own state machines too: only that a stop is reported.)
    let stopped = super::cluster_version::stopped().expect("the stop is reported");
    assert!(stopped.contains("stopped applying"), "{stopped}");
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied, None, "nothing of the batch was applied");
    assert!(member_attributes::read_all(&store).unwrap().is_empty());
    assert_eq!(member_attributes::read_target(&store).unwrap(), None);

    // The upgraded build applies the same entries from the same state.
    apply(&mut sm, batch()).await.unwrap();
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(2));
    assert_eq!(
        member_attributes::read_target(&store).unwrap().as_deref(),
        Some("v9")
    );
    assert_eq!(
        member_attributes::read_all(&store).unwrap()["m1"].version,
        "old"
    );
}

#[tokio::test]
async fn an_op_this_build_cannot_decode_stops_applying_and_is_kept_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStore::open(&dir.path().join("state.redb")).unwrap();
    let mut sm = StateMachineStore::new(store.clone(), dir.path());
    let newer = json!({"RenameMachine": {"from": "a", "to": "b"}});
    let e = entry(3, newer.clone());
    // Stored and forwarded as it came: re-encoding gives the same op.
    let again = serde_json::to_value(&e).unwrap();
    assert_eq!(again["payload"]["Normal"]["op"], newer);
    let err = apply(&mut sm, vec![e]).await.unwrap_err().to_string();
    assert!(err.contains("log entry 3 (RenameMachine)"), "{err}");
    assert!(err.contains("cannot decode"), "{err}");
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied, None);
}
