//! Stored files as plain files on disk, for streaming. A stored file is one value in the
//! replicated store; reading it there gives the whole file in memory. The boot servers instead
//! copy each file version out once (named by its sha256, so a replaced file is a new entry)
//! and stream every download from that copy in small reads, however many machines fetch a
//! large ISO or initrd at once.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use crate::store::ObjectStore;

pub struct FileCache {
    dir: PathBuf,
    /// One copy-out at a time: two requests for a new file must not both write it.
    writing: Mutex<()>,
}

/// A stored file's on-disk copy.
#[derive(Debug, Clone)]
pub struct CachedFile {
    pub path: PathBuf,
    pub len: u64,
}

impl FileCache {
    /// A cache in `dir`, emptied: copies left by an earlier run may be of deleted files.
    pub fn new(dir: PathBuf) -> Self {
        let _ = fs::remove_dir_all(&dir);
        Self {
            dir,
            writing: Mutex::new(()),
        }
    }

    /// The on-disk copy of the stored file `key`, made if this version has none yet. Blocking.
    pub fn get(&self, store: &ObjectStore, key: &str) -> std::io::Result<Option<CachedFile>> {
        let Some(meta) = store.get("files", key).map_err(std::io::Error::other)? else {
            return Ok(None);
        };
        let sum = meta.get("Sha256Sum").and_then(Value::as_str).unwrap_or("");
        let len = meta.get("Size").and_then(Value::as_u64).unwrap_or(0);
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::other(format!("file {key} has no sha256")));
        }
        let path = self.dir.join(sum.to_ascii_lowercase());
        if is_complete(&path, len) {
            return Ok(Some(CachedFile { path, len }));
        }
        let _one = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if is_complete(&path, len) {
            return Ok(Some(CachedFile { path, len }));
        }
        // Read the same version the metadata names: a file replaced meanwhile is found by
        // its new sum on the next request.
        let Some(bytes) = store.file(key).map_err(std::io::Error::other)? else {
            return Ok(None);
        };
        if bytes.len() as u64 != len {
            return Err(std::io::Error::other(format!(
                "file {key} changed while read"
            )));
        }
        fs::create_dir_all(&self.dir)?;
        let partial = self.dir.join(format!(".{sum}.partial"));
        fs::write(&partial, &bytes)?;
        fs::rename(&partial, &path)?;
        Ok(Some(CachedFile { path, len }))
    }
}

fn is_complete(path: &Path, len: u64) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == len)
}
