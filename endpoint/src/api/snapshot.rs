//! `GET /api/v3/system/consensus/snapshot`: the whole replicated state as a backup file
//! (`backup::format`), from any member.
//!
//! Always linearizable (a stale backup would silently lose acknowledged writes): the read
//! barrier first, then one store read transaction on a blocking thread. The dump is held once
//! and streamed out in slices of it.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::backup::format::{self, Header};
use crate::node::Node;

/// The applied index and term the file reflects, repeated as headers for clients that only
/// look (the file's header carries them too).
pub const HDR_INDEX: &str = "x-drp-snapshot-index";
pub const HDR_TERM: &str = "x-drp-snapshot-term";
const CHUNK: usize = 1 << 20;

pub async fn download(State(node): State<Node>) -> Result<Response, ApiError> {
    let store = node.store.clone();
    let ha_id = node.settings.ha_id.clone();
    let started = std::time::Instant::now();
    let (head, body, trailer, header) = tokio::task::spawn_blocking(move || {
        let dump = store
            .dump()
            .map_err(|e| ApiError::internal(format!("dumping the store: {e}")))?;
        let (term, applied_index) = crate::raft::state_machine::applied_in(&dump.meta)
            .map_err(|e| ApiError::internal(format!("reading the applied position: {e}")))?
            .unwrap_or((0, 0));
        let header = Header {
            applied_index,
            term,
            ha_id,
            body_len: dump.bytes.len() as u64,
        };
        let head = header.encode();
        let mut hash = Sha256::new();
        hash.update(&head);
        hash.update(&dump.bytes);
        let trailer = format::trailer(&hash.finalize());
        Ok::<_, ApiError>((head, Bytes::from(dump.bytes), trailer, header))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    tracing::info!(
        index = header.applied_index,
        term = header.term,
        bytes = header.file_len(),
        took_ms = started.elapsed().as_millis() as u64,
        "backup snapshot served"
    );
    let sha = hex::encode(&trailer[trailer.len() - 32..]);
    let chunks = (0..body.len().div_ceil(CHUNK)).map({
        let body = body.clone();
        move |i| body.slice(i * CHUNK..((i + 1) * CHUNK).min(body.len()))
    });
    let parts = std::iter::once(Bytes::from(head))
        .chain(chunks)
        .chain(std::iter::once(Bytes::from(trailer)))
        .map(Ok::<_, std::convert::Infallible>);
    let mut response = Body::from_stream(futures::stream::iter(parts)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(header.file_len()));
    headers.insert(HDR_INDEX, HeaderValue::from(header.applied_index));
    headers.insert(HDR_TERM, HeaderValue::from(header.term));
    if let Ok(v) = HeaderValue::from_str(&sha) {
        headers.insert(super::files::SHA256SUM, v);
    }
    Ok(response)
}
