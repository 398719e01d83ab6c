//! `/api/v3/files/<path>`: streamed uploads replicated as bounded chunks, downloads, HEAD
//! with `X-DRP-SHA256SUM`, delete, and `?explode=true` for tar/tgz archives.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::commit::{commit, outcome, Origin, RequestHead};
use super::error::ApiError;
use crate::command::Op;
use crate::node::Node;
use crate::store::files::path_problem;

/// Bytes per replicated chunk: every Raft entry of an upload stays this small.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Largest file accepted by default (`--max-file-bytes`; 413 beyond): a 4 GiB DVD ISO fits.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 << 30;
/// The highest `--max-file-bytes` may be set: the bound the route table documents.
pub const MAX_FILE_BYTES: usize = 64 << 30;
/// Request and response header: the SHA-256 of a file's bytes (hex), as DRP's API sends it.
pub const SHA256SUM: &str = "x-drp-sha256sum";

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        413,
        format!(
            "the file is larger than this endpoint's limit of {limit} bytes (--max-file-bytes)"
        ),
    )
}

fn checked(path: &str) -> Result<(), ApiError> {
    match path_problem(path) {
        Some(problem) => {
            Err(ApiError::bad_request(format!("{path:?}: {problem}")).on("files", path))
        }
        None => Ok(()),
    }
}

pub async fn upload(
    State(node): State<Node>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    head: RequestHead,
    body: Body,
) -> Result<Response, ApiError> {
    checked(&path)?;
    let limit = node.settings.max_file_bytes;
    let declared = head
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        // Refused before a byte is replicated.
        return Err(too_large(limit).on("files", &path));
    }
    let explode = crate::flag::in_query(query.as_deref(), "explode").map_err(|e| {
        ApiError::bad_request(format!("explode must be true or false, not {:?}", e.0))
            .on("files", &path)
    })?;
    let upload = uuid::Uuid::new_v4().to_string();
    let result = stream_chunks(&node, &upload, body).await;
    let (chunks, sum) = match result {
        Ok(done) => done,
        Err(e) => {
            // Best effort: a staged upload that cannot finish is dropped.
            let abort = Op::AbortUpload { upload };
            let _ = outcome(&node, Origin::internal(head.uri.path()), abort).await;
            return Err(e.on("files", &path));
        }
    };
    if let Some(claimed) = head.headers.get(SHA256SUM).and_then(|v| v.to_str().ok()) {
        if !claimed.eq_ignore_ascii_case(&sum) {
            let _ = outcome(
                &node,
                Origin::internal(head.uri.path()),
                Op::AbortUpload { upload },
            )
            .await;
            return Err(ApiError::new(
                422,
                format!("the body's sha256 is {sum}, X-DRP-SHA256SUM says {claimed}"),
            )
            .on("files", &path));
        }
    }
    let finish = Op::FinishUpload {
        upload,
        path,
        chunks,
        sha256: sum.clone(),
        explode,
    };
    let origin = Origin::request(&head, &[]).fingerprinted(sum.as_bytes());
    commit(&node, origin, finish).await
}

/// Replicates the body as chunks of at most `CHUNK_BYTES`; returns their count and sha256.
async fn stream_chunks(node: &Node, upload: &str, body: Body) -> Result<(u32, String), ApiError> {
    let mut stream = body.into_data_stream();
    let mut digest = Sha256::new();
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let (mut total, mut index) = (0u64, 0u32);
    loop {
        let next = stream.next().await;
        let done = next.is_none();
        if let Some(piece) = next {
            let piece: Bytes =
                piece.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
            total += piece.len() as u64;
            if total > node.settings.max_file_bytes {
                return Err(too_large(node.settings.max_file_bytes));
            }
            digest.update(&piece);
            pending.extend_from_slice(&piece);
        }
        while pending.len() >= CHUNK_BYTES || (done && !pending.is_empty()) {
            let take = pending.len().min(CHUNK_BYTES);
            let chunk: Vec<u8> = pending.drain(..take).collect();
            let data = base64::engine::general_purpose::STANDARD.encode(&chunk);
            let op = Op::UploadChunk {
                upload: upload.to_string(),
                index,
                data,
            };
            let staged = outcome(node, Origin::internal("/files"), op).await?;
            if staged.status >= 300 {
                return Err(ApiError::new(staged.status, staged.body.to_string()));
            }
            index += 1;
        }
        if done {
            return Ok((index, hex::encode(digest.finalize())));
        }
    }
}

fn meta_headers(resp: &mut Response, meta: &Value) {
    if let Some(sum) = meta
        .get("Sha256Sum")
        .and_then(Value::as_str)
        .and_then(|s| HeaderValue::from_str(s).ok())
    {
        resp.headers_mut().insert(SHA256SUM, sum);
    }
}

fn no_file(path: &str) -> ApiError {
    ApiError::not_found(format!("no file at {path}")).on("files", path)
}

/// A file's metadata (after the read fence the route declares); a 404 when there is no file
/// at `path`.
async fn file_meta(node: &Node, path: &str) -> Result<Value, ApiError> {
    checked(path)?;
    node.store.get("files", path)?.ok_or_else(|| no_file(path))
}

pub async fn download(
    State(node): State<Node>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let meta = file_meta(&node, &path).await?;
    let Some(bytes) = node.store.file(&path)? else {
        return Err(no_file(&path));
    };
    // Range (DRP's `http-range-header`): the file is in memory already, so a slice of it
    // costs nothing more.
    let len = bytes.len() as u64;
    let slice = crate::boot::http::range::Slice::of(&headers, len);
    let (start, count) = slice.span(len);
    let (status, range_headers) = slice.head(len);
    let (start, count) = (start as usize, count as usize);
    let body = Bytes::from(bytes).slice(start..start + count);
    let mut resp = (status, range_headers, body).into_response();
    meta_headers(&mut resp, &meta);
    Ok(resp)
}

pub async fn head(
    State(node): State<Node>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let meta = file_meta(&node, &path).await?;
    let mut resp = StatusCode::OK.into_response();
    meta_headers(&mut resp, &meta);
    if let Some(size) = meta.get("Size").and_then(Value::as_u64) {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    Ok(resp)
}

pub async fn remove(
    State(node): State<Node>,
    Path(path): Path<String>,
    head: RequestHead,
) -> Result<Response, ApiError> {
    checked(&path)?;
    let origin = Origin::request(&head, &[]);
    commit(&node, origin, Op::DeleteFile { path }).await
}

/// `GET /api/v3/files`: the stored paths.
pub async fn list(State(node): State<Node>) -> Result<Response, ApiError> {
    let page = node.store.list("files", 0, None)?;
    let paths: Vec<Value> = page
        .items
        .iter()
        .filter_map(|m| m.get("Path").cloned())
        .collect();
    Ok(Json(paths).into_response())
}
