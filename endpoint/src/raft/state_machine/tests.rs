//! The state machine commits without fsync: what a crash (or the power-cut fault) loses is
//! exactly the writes since the last durable checkpoint, and replaying the log from the applied
//! log id that survived gives back the same store.

use std::path::Path;

use futures::stream;
use openraft::storage::RaftStateMachine;
use serde_json::json;

use super::StateMachineStore;
use crate::raft::Entry;
use crate::store::ObjectStore;

fn entry(index: u64) -> Entry {
    let raw = json!({
        "log_id": {"leader_id": 1, "index": index},
        "payload": {"Normal": {"idempotency": null, "at_ms": 1_000 + index, "op":
            {"Create": {"collection": "profiles", "key": format!("p{index}"),
                        "object": {"Name": format!("p{index}")}}}}},
    });
    serde_json::from_value(raw).expect("an entry as the log stores it")
}

async fn apply(sm: &mut StateMachineStore, indexes: std::ops::RangeInclusive<u64>) {
    let entries: Vec<_> = indexes.map(|i| Ok((entry(i), None))).collect();
    sm.apply(stream::iter(entries)).await.expect("apply");
}

/// A state machine that checkpoints only when told to (no entry count or age is reached).
fn open(dir: &Path, file: &str, power_cut: bool) -> (ObjectStore, StateMachineStore) {
    let store = ObjectStore::open(&dir.join(file)).expect("open the store");
    let sm = StateMachineStore::new(store.clone(), dir).with_power_cut_fault(power_cut);
    {
        let mut policy = sm.lock_policy();
        policy.every_entries = u64::MAX;
        policy.every = std::time::Duration::from_secs(3600);
    }
    (store, sm)
}

async fn applied(sm: &mut StateMachineStore) -> Option<u64> {
    let (applied, _) = sm.applied_state().await.expect("applied state");
    applied.map(|l| l.index)
}

fn has(store: &ObjectStore, index: u64) -> bool {
    store
        .get("profiles", &format!("p{index}"))
        .expect("read")
        .is_some()
}

/// Entries 1-2 checkpointed, 3-5 applied after; returns the store's dump at 5.
async fn run_to_five(sm: &mut StateMachineStore, store: &ObjectStore) -> Vec<u8> {
    apply(sm, 1..=2).await;
    sm.checkpoint().await.expect("checkpoint");
    apply(sm, 3..=5).await;
    assert_eq!(applied(sm).await, Some(5));
    assert!(has(store, 5));
    store.dump().expect("dump").bytes
}

#[tokio::test]
async fn an_unclean_stop_loses_what_followed_the_checkpoint_and_the_log_gives_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut sm) = open(dir.path(), "state.redb", false);
    let at_five = run_to_five(&mut sm, &store).await;

    // What SIGKILL leaves on disk: the file as it is while the process still holds it (redb
    // writes its header only at a durable commit; a close would promote the rest).
    std::fs::copy(
        dir.path().join("state.redb"),
        dir.path().join("killed.redb"),
    )
    .unwrap();
    let (killed, mut after) = open(dir.path(), "killed.redb", false);
    assert_eq!(applied(&mut after).await, Some(2), "back at the checkpoint");
    assert!(has(&killed, 2));
    assert!(!has(&killed, 3), "a write after the checkpoint is gone");

    apply(&mut after, 3..=5).await;
    assert_eq!(
        killed.dump().unwrap().bytes,
        at_five,
        "replay: the same store"
    );
    drop((sm, store));
}

#[tokio::test]
async fn the_power_cut_fault_loses_the_same_after_a_clean_close_and_the_log_gives_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut sm) = open(dir.path(), "state.redb", true);
    assert_eq!(
        applied(&mut sm).await,
        None,
        "a new store: nothing to discard"
    );
    let at_five = run_to_five(&mut sm, &store).await;
    drop((sm, store)); // a clean close: redb makes 3-5 durable

    let (store, mut sm) = open(dir.path(), "state.redb", true);
    assert_eq!(applied(&mut sm).await, Some(2), "back at the checkpoint");
    assert!(!has(&store, 3));
    apply(&mut sm, 3..=5).await;
    assert_eq!(
        store.dump().unwrap().bytes,
        at_five,
        "replay: the same store"
    );

    // Without the fault a clean close keeps everything.
    drop((sm, store));
    let (store, mut sm) = open(dir.path(), "state.redb", false);
    assert_eq!(applied(&mut sm).await, Some(5));
    assert_eq!(store.dump().unwrap().bytes, at_five);
}

#[tokio::test]
async fn a_small_batch_waits_for_a_running_checkpoint_instead_of_applying_inline() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut sm) = open(dir.path(), "state.redb", false);
    apply(&mut sm, 1..=1).await; // inline: nothing holds the gate
    assert!(has(&store, 1));

    // A checkpoint in progress holds the write gate; the next small batch must not take the
    // inline path (it would block the consensus worker or bypass the gate), but wait on the
    // blocking pool and apply once the gate is free.
    let gate = sm.writing.clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _held = gate.lock().unwrap();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    held_rx.recv().unwrap();
    let mut applying = Box::pin(apply(&mut sm, 2..=2));
    let waited = tokio::time::timeout(std::time::Duration::from_millis(200), &mut applying).await;
    assert!(waited.is_err(), "applied while the gate was held");
    assert!(!has(&store, 2));
    release_tx.send(()).unwrap();
    applying.await;
    holder.join().unwrap();
    assert!(has(&store, 2));
    assert_eq!(applied(&mut sm).await, Some(2));
}
