//! A node's ConsensusID: generated once, stored in the data dir, never reused. A wiped data
//! dir means a new identity, so a wiped node can never rejoin under its old ConsensusID.

use std::io::{self, Write};
use std::path::Path;

const FILE: &str = "consensus-id";

/// Loads the ConsensusID, creating it (and the fact that this dir is new) on first start.
pub fn load_or_create(data_dir: &Path) -> io::Result<(String, bool)> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let id = s.trim().to_string();
            uuid::Uuid::parse_str(&id).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            Ok((id, false))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().to_string();
            let tmp = data_dir.join(format!("{FILE}.tmp"));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(id.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(data_dir)?.sync_all()?;
            Ok((id, true))
        }
        Err(e) => Err(e),
    }
}
