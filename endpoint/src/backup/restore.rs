//! `drp-endpoint snapshot restore FILE --data-dir DIR --ha-id ID`: a new first member's data
//! dir from a backup, as `etcdutl snapshot restore` does.
//!
//! The file is checked whole (magic, version, length, checksum) before anything is written,
//! and the data dir is built under a temporary name beside DIR and renamed into place, so a
//! refused or failed restore leaves DIR as it was. What is written is only the object store,
//! without the old cluster's Raft state (applied position, membership) and without its
//! identity secrets (cluster CA, API certificate, token-signing secret), plus the new HA id
//! and a marker. The first `serve` on that dir then bootstraps a brand-new one-voter cluster
//! around the restored store exactly as a fresh first member does (new ConsensusID, new CA,
//! new secrets; the restored users, admin included, are kept), and snapshots and purges its
//! log at once (`finish`), so members that join later are sent the whole store.

use std::path::{Path, PathBuf};

use super::format::{self, Header};
use super::BackupError;
use crate::store::{ObjectStore, StoreError};

/// Present in a restored data dir until its first start has made the restored store part of
/// a Raft snapshot.
const MARKER: &str = "restored-from.json";
const MARKER_DONE: &str = "restored-from.done.json";

/// What `restore` did.
#[derive(Debug)]
pub struct Restored {
    pub header: Header,
    pub bytes: u64,
}

/// Builds `data_dir` from the backup at `file`. Blocking.
pub fn restore(file: &Path, data_dir: &Path, ha_id: &str) -> Result<Restored, BackupError> {
    if ha_id.trim().is_empty() || ha_id.contains(['/', '\n']) {
        return Err(BackupError::Usage(format!(
            "--ha-id {ha_id:?} is not a usable HA id"
        )));
    }
    let refused = |why| BackupError::Refused {
        file: file.to_path_buf(),
        why,
    };
    let header = format::verify_file(file).map_err(refused)?;
    if header.ha_id == ha_id {
        return Err(BackupError::Usage(format!(
            "--ha-id {ha_id:?} is the backed-up cluster's own id: a restored cluster needs a new one"
        )));
    }
    match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::Usage(format!(
                    "{} is not empty; restore needs a new data dir",
                    data_dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BackupError::file(format!("reading {}", data_dir.display()))(e)),
    }
    let body = format::read_body(file, &header).map_err(refused)?;
    let staging = staging_dir(data_dir)?;
    let built = build(&staging, &body, &header, ha_id)
        .and_then(|()| {
            std::fs::rename(&staging, data_dir).map_err(BackupError::file(format!(
                "moving the restored dir to {}",
                data_dir.display()
            )))
        })
        .and_then(|()| sync_dir(data_dir.parent().unwrap_or(Path::new("."))));
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok(Restored {
        bytes: header.file_len(),
        header,
    })
}

fn staging_dir(data_dir: &Path) -> Result<PathBuf, BackupError> {
    let name = data_dir
        .file_name()
        .ok_or_else(|| BackupError::Usage("--data-dir must name a directory".to_string()))?
        .to_string_lossy();
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = parent.join(format!(".{name}.restoring-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&staging).map_err(BackupError::file(format!(
        "creating {} (does the parent exist?)",
        staging.display()
    )))?;
    Ok(staging)
}

fn build(dir: &Path, body: &[u8], header: &Header, ha_id: &str) -> Result<(), BackupError> {
    let store = ObjectStore::open(&dir.join("state.redb"))
        .map_err(BackupError::store("creating the object store"))?;
    load(&store, body)?;
    drop(store);
    std::fs::write(dir.join("ha-id"), ha_id)?;
    let marker = serde_json::json!({
        "HaId": header.ha_id,
        "AppliedIndex": header.applied_index,
        "Term": header.term,
    });
    std::fs::write(dir.join(MARKER), serde_json::to_vec_pretty(&marker)?)?;
    for name in ["ha-id", MARKER] {
        std::fs::File::open(dir.join(name))?.sync_all()?;
    }
    sync_dir(dir)
}

/// The backup's objects into the new store, in one transaction.
fn load(store: &ObjectStore, body: &[u8]) -> Result<(), BackupError> {
    let write = |why: StoreError| BackupError::Store {
        what: "writing the restored store",
        why,
    };
    let tx = store.db().begin_write().map_err(|e| write(e.into()))?;
    crate::store::restore(&tx, body)
        .map_err(BackupError::store("the backup's store data does not load"))?;
    forget_old_cluster(&tx).map_err(write)?;
    tx.commit().map_err(|e| write(e.into()))
}

/// Drops the old cluster's Raft state and identity: the new cluster makes its own at its
/// first start.
fn forget_old_cluster(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut meta = tx.open_table(crate::store::META_TABLE)?;
    for name in crate::raft::state_machine::RAFT_META {
        meta.remove(name)?;
    }
    let mut objects = tx.open_table(crate::store::OBJECTS)?;
    for key in [
        crate::auth::token::SECRET_KEY,
        crate::tls::CA_KEY,
        crate::tls::API_CERT_KEY,
    ] {
        objects.remove((crate::auth::token::SECRET_COLLECTION, key))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(BackupError::file(format!("syncing {}", dir.display())))
}

/// Whether `data_dir` was restored and its first start has not finished yet.
pub fn pending(data_dir: &Path) -> bool {
    data_dir.join(MARKER).exists()
}

/// The first start's last step: the restored store goes into a Raft snapshot and the log
/// behind it is purged, so a joining member gets the store, not just the log. Runs before the
/// API serves (members join through the API); a crash before it ends repeats it next start.
pub async fn finish(raft: &crate::raft::RaftHandle, data_dir: &Path) -> Result<(), BackupError> {
    let timeout = std::time::Duration::from_secs(120);
    let index = raft
        .snapshot_and_purge(timeout)
        .await
        .map_err(|e| BackupError::Snapshot(e.to_string()))?;
    std::fs::rename(data_dir.join(MARKER), data_dir.join(MARKER_DONE))?;
    tracing::info!(index, "restored store is now this cluster's first snapshot");
    Ok(())
}
