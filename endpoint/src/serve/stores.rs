//! Step 1, open the stores: this node's identity and HA id, the Raft log, and the object
//! store with the state machine over it.

use std::path::Path;
use std::time::Duration;

use super::{ServeArgs, ServeError};
use crate::events::Bus;
use crate::identity;
use crate::raft::log_store::LogStore;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::{node_id_of, NodeId};
use crate::store::ObjectStore;

/// Who this node is.
pub(super) struct Ids {
    pub consensus_id: String,
    /// Whether the identity was created just now (a new data dir).
    pub fresh: bool,
    pub ha_id: String,
    pub node_id: NodeId,
}

pub(super) struct Stores {
    pub ids: Ids,
    pub log_store: LogStore,
    pub store: ObjectStore,
    pub events: Bus,
    pub state_machine: StateMachineStore,
}

pub(super) fn open(args: &ServeArgs) -> Result<Stores, ServeError> {
    std::fs::create_dir_all(&args.data_dir).map_err(ServeError::io(format!(
        "creating {}",
        args.data_dir.display()
    )))?;
    let (consensus_id, fresh) = identity::load_or_create(&args.data_dir)
        .map_err(ServeError::io("loading the node identity"))?;
    let ha_id = settle_ha_id(&args.data_dir, args.ha_id.as_deref())?;
    let node_id = node_id_of(&consensus_id)
        .ok_or_else(|| ServeError::Config(format!("malformed ConsensusID {consensus_id:?}")))?;
    let (log_cache, store_cache) =
        cache_split(usize::try_from(args.cache_mib << 20).unwrap_or(usize::MAX));
    let log_store = LogStore::open_with(
        &args.data_dir.join("raft-log.redb"),
        log_cache,
        Duration::from_millis(args.fault_log_write_delay_ms),
    )
    .map_err(ServeError::io("opening the raft log"))?;
    let store = ObjectStore::open_with_cache(&args.data_dir.join("state.redb"), store_cache)
        .map_err(|source| ServeError::Store {
            what: "opening the object store",
            source,
        })?;
    let state_machine = StateMachineStore::new(store.clone(), &args.data_dir)
        .with_power_cut_fault(args.fault_power_cut_state);
    // Events after the store's applied index all pass through this process's bus.
    let events = Bus::with_ring(
        state_machine
            .applied_index()
            .map_err(ServeError::io("reading the applied index"))?,
        usize::try_from(args.event_ring).unwrap_or(crate::events::RING_CAPACITY),
    );
    let state_machine = state_machine.with_events(events.clone());
    Ok(Stores {
        ids: Ids {
            consensus_id,
            fresh,
            ha_id,
            node_id,
        },
        log_store,
        store,
        events,
        state_machine,
    })
}

/// `--cache-mib` in bytes, split (Raft log, object store): a quarter to the log, whose reads
/// are its recent tail, the rest to the object store.
const fn cache_split(total: usize) -> (usize, usize) {
    (total / 4, total - total / 4)
}

// The stores' own defaults (for tools and tests) are the flag default's split.
const _: () = {
    let (log, store) = cache_split((super::args::DEFAULT_CACHE_MIB as usize) << 20);
    assert!(log == crate::raft::log_store::DEFAULT_CACHE_BYTES);
    assert!(store == crate::store::DEFAULT_CACHE_BYTES);
};

/// The HA id stored in the data dir wins; a different `--ha-id` is a configuration error.
fn settle_ha_id(data_dir: &Path, flag: Option<&str>) -> Result<String, ServeError> {
    let path = data_dir.join("ha-id");
    match std::fs::read_to_string(&path) {
        Ok(stored) => {
            let stored = stored.trim().to_string();
            if let Some(flag) = flag {
                if flag != stored {
                    return Err(ServeError::Config(format!(
                        "--ha-id {flag:?} differs from {stored:?} stored in {}",
                        path.display()
                    )));
                }
            }
            Ok(stored)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = flag
                .map(str::to_string)
                .unwrap_or_else(|| "drp-cluster".to_string());
            std::fs::write(&path, &id)
                .map_err(ServeError::io(format!("writing {}", path.display())))?;
            Ok(id)
        }
        Err(e) => Err(ServeError::io(format!("reading {}", path.display()))(e)),
    }
}
