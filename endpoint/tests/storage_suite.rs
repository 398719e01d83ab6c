//! openraft's storage conformance suite against the real redb log store and state machine.

use endpoint::raft::log_store::LogStore;
use endpoint::raft::state_machine::StateMachineStore;
use endpoint::raft::TypeConfig;
use endpoint::store::ObjectStore;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb, StorageError};

struct RedbStoreBuilder;

fn setup_failed(e: impl std::fmt::Display) -> StorageError<TypeConfig> {
    StorageError::from_io_error(
        ErrorSubject::Store,
        ErrorVerb::Read,
        std::io::Error::other(e.to_string()),
    )
}

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for RedbStoreBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().map_err(setup_failed)?;
        let log = LogStore::open(&dir.path().join("log.redb")).map_err(setup_failed)?;
        let objects = ObjectStore::open(&dir.path().join("state.redb")).map_err(setup_failed)?;
        let sm = StateMachineStore::new(objects, dir.path());
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_store_passes_openraft_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(RedbStoreBuilder).await
}
