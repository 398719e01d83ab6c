//! Files: bytes in the FILES table, metadata `{Path, Sha256Sum, Size}` under ("files", path).
//! Uploads arrive as bounded chunks staged in UPLOADS and become visible in one entry.

use std::io::Read;

use base64::Engine;
use redb::{ReadableTable, WriteTransaction};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::apply::put;
use super::{StoreError, FILES, OBJECTS, UPLOADS};
use crate::command::Response;

/// Largest archive member unpacked by `explode`, and the most members.
const MAX_EXPLODED_BYTES: u64 = 1 << 30;
const MAX_EXPLODED_FILES: usize = 100_000;

fn err(status: u16, path: &str, message: impl Into<String>) -> Response {
    Response::error(status, "files", path, message)
}

pub fn stage_chunk(
    tx: &WriteTransaction,
    upload: &str,
    index: u32,
    data: &str,
) -> Result<Response, StoreError> {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
        return Ok(err(422, upload, "chunk is not base64"));
    };
    tx.open_table(UPLOADS)?
        .insert((upload, index), bytes.as_slice())?;
    Ok(Response::ok(
        200,
        json!({ "Upload": upload, "Chunk": index }),
    ))
}

pub fn abort(tx: &WriteTransaction, upload: &str) -> Result<Response, StoreError> {
    let mut uploads = tx.open_table(UPLOADS)?;
    uploads.retain_in((upload, 0)..=(upload, u32::MAX), |_, _| false)?;
    Ok(Response::ok(200, json!({ "Upload": upload })))
}

pub fn finish(
    tx: &WriteTransaction,
    upload: &str,
    path: &str,
    chunks: u32,
    sha256: &str,
    explode: bool,
) -> Result<Response, StoreError> {
    let mut bytes = Vec::new();
    let mut missing = None;
    {
        let uploads = tx.open_table(UPLOADS)?;
        for index in 0..chunks {
            match uploads.get((upload, index))? {
                Some(chunk) => bytes.extend_from_slice(chunk.value()),
                None => {
                    missing = Some(index);
                    break;
                }
            }
        }
    }
    abort(tx, upload)?;
    if let Some(index) = missing {
        return Ok(err(
            409,
            path,
            format!("upload {upload} lacks chunk {index}"),
        ));
    }
    let sum = hex::encode(Sha256::digest(&bytes));
    if !sha256.is_empty() && !sum.eq_ignore_ascii_case(sha256) {
        return Ok(err(
            422,
            path,
            format!("sha256 of the upload is {sum}, not {sha256}"),
        ));
    }
    let mut written = vec![store(tx, path, &bytes, &sum)?];
    if explode {
        match unpack(path, &bytes) {
            Ok(members) => {
                for (member, data) in members {
                    let member_sum = hex::encode(Sha256::digest(&data));
                    written.push(store(tx, &member, &data, &member_sum)?);
                }
            }
            Err(e) => return Ok(err(422, path, format!("cannot explode {path}: {e}"))),
        }
    }
    let first = written.first().cloned().unwrap_or(Value::Null);
    let mut reply = first;
    if explode {
        reply["Exploded"] = Value::Array(
            written
                .into_iter()
                .skip(1)
                .map(|m| m["Path"].clone())
                .collect(),
        );
    }
    Ok(Response::ok(201, reply))
}

pub fn delete(tx: &WriteTransaction, path: &str) -> Result<Response, StoreError> {
    let removed = tx.open_table(FILES)?.remove(path)?.is_some();
    let meta = tx
        .open_table(OBJECTS)?
        .remove(("files", path))?
        .map(|v| super::decode(v.value()))
        .transpose()?;
    match (removed, meta) {
        (true, Some(meta)) => Ok(Response::ok(200, meta)),
        _ => Ok(err(404, path, format!("no file at {path}"))),
    }
}

fn store(tx: &WriteTransaction, path: &str, bytes: &[u8], sum: &str) -> Result<Value, StoreError> {
    tx.open_table(FILES)?.insert(path, bytes)?;
    let meta = json!({ "Path": path, "Sha256Sum": sum, "Size": bytes.len() });
    put(&mut tx.open_table(OBJECTS)?, "files", path, &meta)?;
    Ok(meta)
}

/// Why an archive cannot be exploded (answered 422; nothing of it is stored).
#[derive(Debug, thiserror::Error)]
enum ExplodeError {
    #[error("{0}")]
    Archive(#[from] std::io::Error),
    #[error("member {name:?}: {problem}")]
    BadMember { name: String, problem: &'static str },
    #[error("archive too large to explode")]
    TooLarge,
}

/// The regular-file members of a tar or tar.gz, placed in the archive's directory. Members
/// whose names would escape it are refused, so an archive cannot write outside its folder.
fn unpack(archive_path: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ExplodeError> {
    let dir = archive_path.rsplit_once('/').map_or("", |(d, _)| d);
    let gz = bytes.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    let mut total = 0u64;
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?.to_string_lossy().to_string();
        let name = name.trim_start_matches("./");
        if let Some(problem) = path_problem(name) {
            return Err(ExplodeError::BadMember {
                name: name.to_string(),
                problem,
            });
        }
        total += entry.size();
        if total > MAX_EXPLODED_BYTES || out.len() >= MAX_EXPLODED_FILES {
            return Err(ExplodeError::TooLarge);
        }
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut data)?;
        let full = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        out.push((full, data));
    }
    Ok(out)
}

/// Why `path` cannot name a stored file: absolute, `..`, empty segments, NUL, or too long.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("empty path")
    } else if path.len() > 4096 {
        Some("path longer than 4096 bytes")
    } else if path.contains('\0') {
        Some("path contains NUL")
    } else if path.starts_with('/') || path.starts_with('\\') {
        Some("path must be relative")
    } else if path
        .split(['/', '\\'])
        .any(|seg| seg == ".." || seg.is_empty())
    {
        Some("path must not contain '..' or empty segments")
    } else {
        None
    }
}
