//! `contents upload` and `files upload`: streamed uploads with progress, to a member (the
//! client URL is a member's) or to one registered endpoint through the manager's gateway
//! (`--endpoint ID`). As with drpcli, uploading a content pack that is installed replaces it.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use crate::cli::{Client, HttpError};

/// Bytes read and sent at a time.
const CHUNK: usize = 256 << 10;
/// The whole transfer's bound: a 4 GiB ISO at 10 MB/s fits.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// Where the API of the target lives: a member's own, or an endpoint's behind the gateway.
fn api_base(endpoint: Option<&str>) -> String {
    match endpoint {
        Some(id) => format!("/{id}/api/v3"),
        None => "/api/v3".to_string(),
    }
}

/// `file`'s bytes as a request body, advancing `progress` as they are sent.
async fn streamed(
    file: &Path,
    progress: std::sync::Arc<crate::cli::progress::Step>,
) -> anyhow::Result<reqwest::Body> {
    let handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let chunks = futures::stream::unfold(Some(handle), |state| async move {
        let mut handle = state?;
        let mut buf = vec![0u8; CHUNK];
        match handle.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(handle)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
    .inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            progress.advance(bytes.len() as u64);
        }
    });
    Ok(reqwest::Body::wrap_stream(chunks))
}

async fn size_of(file: &Path) -> anyhow::Result<u64> {
    Ok(tokio::fs::metadata(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?
        .len())
}

/// Sends `file` with progress; the reply on success.
async fn send_file(
    client: &Client,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    file: &Path,
    what: String,
) -> anyhow::Result<Value> {
    let step = std::sync::Arc::new(crate::cli::progress::transfer(what, size_of(file).await?));
    let body = streamed(file, step.clone()).await?;
    let reply = client
        .send_stream(method, path, content_type, body, TRANSFER_TIMEOUT)
        .await;
    match &reply {
        Ok(_) => step.done(),
        Err(_) => step.failed(),
    }
    reply
}

/// The pack's `meta.Name`, read from its JSON or YAML text.
fn pack_name(file: &Path, text: &[u8]) -> anyhow::Result<String> {
    let doc: serde_yaml::Value = serde_yaml::from_slice(text)
        .with_context(|| format!("{} is not a JSON or YAML content pack", file.display()))?;
    doc.get("meta")
        .and_then(|m| m.get("Name"))
        .and_then(serde_yaml::Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .with_context(|| format!("{} has no meta.Name", file.display()))
}

/// Installs the content pack in `file`, replacing the installed one of the same name.
pub async fn contents(client: &Client, file: &Path, endpoint: Option<&str>) -> anyhow::Result<()> {
    let text = tokio::fs::read(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    let name = pack_name(file, &text)?;
    drop(text);
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        _ => "application/yaml",
    };
    let base = api_base(endpoint);
    let created = send_file(
        client,
        reqwest::Method::POST,
        &format!("{base}/contents"),
        content_type,
        file,
        format!("uploading content pack {name}"),
    )
    .await;
    let reply = match created {
        Err(e)
            if e.downcast_ref::<HttpError>()
                .is_some_and(|h| h.status == 409) =>
        {
            send_file(
                client,
                reqwest::Method::PUT,
                &format!("{base}/contents/{name}"),
                content_type,
                file,
                format!("replacing content pack {name}"),
            )
            .await?
        }
        other => other?,
    };
    let version = reply
        .pointer("/meta/Version")
        .and_then(Value::as_str)
        .unwrap_or("");
    println!("{name} {version} installed");
    Ok(())
}

/// Uploads `file` as `dest` under the files tree (`explode` unpacks a tar or tgz beside it).
pub async fn file(
    client: &Client,
    file: &Path,
    dest: &str,
    explode: bool,
    endpoint: Option<&str>,
) -> anyhow::Result<()> {
    let dest = dest.trim_start_matches('/');
    let path = format!(
        "{}/files/{dest}{}",
        api_base(endpoint),
        if explode { "?explode=true" } else { "" }
    );
    let reply = send_file(
        client,
        reqwest::Method::POST,
        &path,
        "application/octet-stream",
        file,
        format!("uploading {dest}"),
    )
    .await?;
    println!("{dest} {}", serde_json::to_string(&reply)?);
    Ok(())
}
