//! Backup and restore of a whole cluster: the file format, `snapshot save` (download from a
//! member) and `snapshot restore` (a new first member's data dir). The server side is
//! `api::snapshot`.

mod error;
pub mod format;
pub mod restore;
pub mod save;

use std::path::PathBuf;

pub use error::BackupError;

use crate::agent::client::Credentials;

/// `drp-endpoint snapshot ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SnapshotCommand {
    /// Save a consistent backup of the whole cluster from any member.
    Save {
        /// A member's API URL.
        #[arg(long)]
        from: String,
        /// Where to write the backup (written whole or not at all).
        file: PathBuf,
        /// A bearer token.
        #[arg(long, env = "RS_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// `user:password`, used when no token is given.
        #[arg(long = "key", env = "RS_KEY", hide_env_values = true)]
        key: Option<String>,
        /// A CA certificate (PEM) to trust for the member's API certificate.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
    /// Build a new first member's data dir from a backup (start it with `serve`).
    Restore {
        file: PathBuf,
        /// The new member's data dir: must not exist or be empty.
        #[arg(long)]
        data_dir: PathBuf,
        /// The new cluster's HA id (must differ from the backed-up cluster's).
        #[arg(long)]
        ha_id: String,
    },
}

impl SnapshotCommand {
    pub async fn run(self) -> Result<(), BackupError> {
        match self {
            SnapshotCommand::Save {
                from,
                file,
                token,
                key,
                ca,
            } => {
                let credentials = credentials(token, key)?;
                let ca = match &ca {
                    Some(p) => Some(
                        std::fs::read(p)
                            .map_err(BackupError::file(format!("reading {}", p.display())))?,
                    ),
                    None => None,
                };
                let started = std::time::Instant::now();
                let h = save::save(&from, &file, &credentials, ca.as_deref()).await?;
                println!(
                    "saved {} ({} bytes) of cluster {:?} at applied index {} term {} in {:.2}s",
                    file.display(),
                    h.file_len(),
                    h.ha_id,
                    h.applied_index,
                    h.term,
                    started.elapsed().as_secs_f64()
                );
                Ok(())
            }
            SnapshotCommand::Restore {
                file,
                data_dir,
                ha_id,
            } => {
                let started = std::time::Instant::now();
                let (f, d) = (file.clone(), data_dir.clone());
                let r =
                    tokio::task::spawn_blocking(move || restore::restore(&f, &d, &ha_id)).await??;
                println!(
                    "restored {} ({} bytes, cluster {:?} at applied index {} term {}) into {} in {:.2}s; start it with `drp-endpoint serve --data-dir {}`",
                    file.display(),
                    r.bytes,
                    r.header.ha_id,
                    r.header.applied_index,
                    r.header.term,
                    data_dir.display(),
                    started.elapsed().as_secs_f64(),
                    data_dir.display()
                );
                Ok(())
            }
        }
    }
}

fn credentials(token: Option<String>, key: Option<String>) -> Result<Credentials, BackupError> {
    Ok(match (token, key) {
        (Some(t), _) => Credentials::Token(t),
        (None, Some(k)) => {
            let (user, password) = k.split_once(':').ok_or_else(|| {
                BackupError::Usage("--key/RS_KEY must be user:password".to_string())
            })?;
            Credentials::Basic {
                user: user.into(),
                password: password.into(),
            }
        }
        (None, None) => {
            return Err(BackupError::Usage(
                "give credentials: RS_TOKEN/--token or RS_KEY/--key user:password".to_string(),
            ))
        }
    })
}
