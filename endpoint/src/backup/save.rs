//! `drp-endpoint snapshot save --from URL FILE`: streams a member's backup to a temporary
//! file beside FILE, fsyncs it, checks it whole, and only then renames it into place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::format::{self, Header};
use super::BackupError;
use crate::agent::client::Credentials;

/// No data for this long means the member or the network is gone.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Downloads the backup from the member at `from` into `file`; returns its header.
pub async fn save(
    from: &str,
    file: &Path,
    credentials: &Credentials,
    ca_pem: Option<&[u8]>,
) -> Result<Header, BackupError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT);
    if let Some(pem) = ca_pem {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem).map_err(
            BackupError::http("the --ca file is not a PEM certificate".to_string()),
        )?);
    }
    let http = builder
        .build()
        .map_err(BackupError::http("building the HTTP client".to_string()))?;
    let url = format!(
        "{}/api/v3/system/consensus/snapshot",
        from.trim_end_matches('/')
    );
    let req = match credentials {
        Credentials::Token(t) => http.get(&url).bearer_auth(t),
        Credentials::Basic { user, password } => http.get(&url).basic_auth(user, Some(password)),
    };
    let resp = req
        .send()
        .await
        .map_err(BackupError::http(format!("GET {url}")))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(BackupError::Status {
            url,
            status,
            body: body.trim().to_string(),
        });
    }
    let total = resp.content_length();
    let tmp = partial_path(file)?;
    let result = download(resp, &tmp, total).await;
    let result = match result {
        Ok(()) => {
            let check = tmp.clone();
            tokio::task::spawn_blocking(move || format::verify_file(&check))
                .await?
                .map_err(BackupError::BadDownload)
        }
        Err(e) => Err(e),
    };
    let header = match result {
        Ok(h) => h,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&tmp, file)
        .await
        .map_err(BackupError::file(format!("renaming to {}", file.display())))?;
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await??;
    Ok(header)
}

fn partial_path(file: &Path) -> Result<PathBuf, BackupError> {
    let name = file
        .file_name()
        .ok_or_else(|| BackupError::Usage("the snapshot FILE must name a file".to_string()))?
        .to_string_lossy();
    Ok(file.with_file_name(format!(".{name}.partial-{}", uuid::Uuid::new_v4())))
}

async fn download(
    resp: reqwest::Response,
    tmp: &Path,
    total: Option<u64>,
) -> Result<(), BackupError> {
    let mut out = tokio::fs::File::create(tmp)
        .await
        .map_err(BackupError::file(format!("creating {}", tmp.display())))?;
    let mut stream = resp.bytes_stream();
    let (mut written, mut shown) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BackupError::http("the download broke off".to_string()))?;
        out.write_all(&chunk).await?;
        written += chunk.len() as u64;
        if let Some(total) = total.filter(|t| *t > 0) {
            let tenth = written * 10 / total;
            if tenth > shown {
                shown = tenth;
                eprintln!("snapshot: {}% ({written} of {total} bytes)", tenth * 10);
            }
        }
    }
    if let Some(total) = total {
        if written != total {
            return Err(BackupError::ShortDownload { written, total });
        }
    }
    out.sync_all().await?;
    Ok(())
}
