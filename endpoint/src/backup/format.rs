//! The backup file: a small header, the store dump (`ObjectStore::dump`, DRPSNAP1) and a
//! sha256 trailer over everything before it.
//!
//! ```text
//! magic "DRPBKUP\n" | version u32 | applied index u64 | term u64 | ha id (u16 len, bytes)
//! | dump length u64 | dump bytes | "DRPSHA2\n" | sha256 of all bytes before this trailer
//! ```
//! All integers are big-endian. The dump length lets a reader tell a truncated file from a
//! corrupt one before it trusts anything in it.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

pub const MAGIC: &[u8; 8] = b"DRPBKUP\n";
pub const VERSION: u32 = 1;
const TRAILER_MAGIC: &[u8; 8] = b"DRPSHA2\n";
pub const TRAILER_LEN: usize = TRAILER_MAGIC.len() + 32;
/// An HA id longer than this is not one a member would have been started with.
const MAX_HA_ID: usize = 1024;

/// What a backup reflects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub applied_index: u64,
    pub term: u64,
    pub ha_id: String,
    pub body_len: u64,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.ha_id.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&self.applied_index.to_be_bytes());
        out.extend_from_slice(&self.term.to_be_bytes());
        out.extend_from_slice(&(self.ha_id.len() as u16).to_be_bytes());
        out.extend_from_slice(self.ha_id.as_bytes());
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out
    }

    /// The whole file's length as the header declares it.
    pub fn file_len(&self) -> u64 {
        self.encode().len() as u64 + self.body_len + TRAILER_LEN as u64
    }

    /// Reads and checks a header; the error names what is wrong.
    pub fn read(r: &mut impl Read) -> Result<Header, FormatError> {
        let mut magic = [0u8; 8];
        read_exact(r, &mut magic, "the magic")?;
        if &magic != MAGIC {
            return Err(FormatError::BadMagic {
                found: String::from_utf8_lossy(&magic).into_owned(),
            });
        }
        let version = u32::from_be_bytes(read_array(r, "the format version")?);
        if version != VERSION {
            return Err(FormatError::Version(version));
        }
        let applied_index = u64::from_be_bytes(read_array(r, "the applied index")?);
        let term = u64::from_be_bytes(read_array(r, "the term")?);
        let id_len = u16::from_be_bytes(read_array(r, "the HA id length")?) as usize;
        if id_len > MAX_HA_ID {
            return Err(FormatError::HaIdLength(id_len));
        }
        let mut id = vec![0u8; id_len];
        read_exact(r, &mut id, "the HA id")?;
        let ha_id = String::from_utf8(id).map_err(|_| FormatError::HaIdNotUtf8)?;
        let body_len = u64::from_be_bytes(read_array(r, "the store length")?);
        Ok(Header {
            applied_index,
            term,
            ha_id,
            body_len,
        })
    }
}

/// Why a backup file was refused: each names what is wrong with it, so an operator can tell
/// a truncated copy from a damaged one or a file that is not a backup.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        source: std::io::Error,
    },
    #[error("truncated: the file ends inside {0}")]
    EndsInside(String),
    #[error(
        "not a drp-endpoint snapshot (bad magic {found:?}, want {:?})",
        String::from_utf8_lossy(MAGIC)
    )]
    BadMagic { found: String },
    #[error("unsupported snapshot format version {0} (this build reads {VERSION})")]
    Version(u32),
    #[error("corrupt header: HA id length {0} is implausible")]
    HaIdLength(usize),
    #[error("corrupt header: HA id is not UTF-8")]
    HaIdNotUtf8,
    #[error("truncated: the header declares {want} bytes, the file has {actual}")]
    Short { want: u64, actual: u64 },
    #[error("corrupt: {extra} unexpected bytes after the declared end ({want} bytes)")]
    Trailing { extra: u64, want: u64 },
    #[error("corrupt: the checksum trailer is missing or damaged")]
    NoTrailer,
    #[error("checksum mismatch: the file says sha256 {stated}, its contents hash to {computed}")]
    Checksum { stated: String, computed: String },
}

pub fn trailer(digest: &[u8]) -> Vec<u8> {
    let mut out = TRAILER_MAGIC.to_vec();
    out.extend_from_slice(digest);
    out
}

fn read_array<const N: usize>(r: &mut impl Read, what: &str) -> Result<[u8; N], FormatError> {
    let mut buf = [0u8; N];
    read_exact(r, &mut buf, what)?;
    Ok(buf)
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), FormatError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FormatError::EndsInside(what.to_string()),
        _ => FormatError::Read {
            what: what.to_string(),
            source: e,
        },
    })
}

/// A read that hashes every byte it passes on.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Checks a backup file completely (magic, version, length, checksum) without keeping it in
/// memory, and returns its header. Blocking.
pub fn verify_file(path: &Path) -> Result<Header, FormatError> {
    let file = std::fs::File::open(path).map_err(|e| FormatError::Open {
        path: path.to_path_buf(),
        source: e,
    })?;
    let actual_len = file
        .metadata()
        .map_err(|e| FormatError::Open {
            path: path.to_path_buf(),
            source: e,
        })?
        .len();
    let mut r = Hashing {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        hash: Sha256::new(),
    };
    let header = Header::read(&mut r)?;
    let want_len = header.file_len();
    if actual_len < want_len {
        return Err(FormatError::Short {
            want: want_len,
            actual: actual_len,
        });
    }
    if actual_len > want_len {
        return Err(FormatError::Trailing {
            extra: actual_len - want_len,
            want: want_len,
        });
    }
    let copied =
        std::io::copy(&mut (&mut r).take(header.body_len), &mut std::io::sink()).map_err(|e| {
            FormatError::Read {
                what: "the store data".into(),
                source: e,
            }
        })?;
    if copied != header.body_len {
        return Err(FormatError::EndsInside("the store data".into()));
    }
    let computed = r.hash.finalize();
    let mut tail = [0u8; TRAILER_LEN];
    read_exact(&mut r.inner, &mut tail, "the checksum trailer")?;
    if &tail[..TRAILER_MAGIC.len()] != TRAILER_MAGIC {
        return Err(FormatError::NoTrailer);
    }
    if tail[TRAILER_MAGIC.len()..] != computed[..] {
        return Err(FormatError::Checksum {
            stated: hex::encode(&tail[TRAILER_MAGIC.len()..]),
            computed: hex::encode(computed),
        });
    }
    Ok(header)
}

/// The store dump inside a file `verify_file` accepted. Blocking.
pub fn read_body(path: &Path, header: &Header) -> Result<Vec<u8>, FormatError> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| FormatError::Open {
        path: path.to_path_buf(),
        source: e,
    })?;
    let start = header.encode().len() as u64;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| FormatError::Read {
            what: path.display().to_string(),
            source: e,
        })?;
    let mut body = vec![0u8; header.body_len as usize];
    read_exact(&mut file, &mut body, "the store data")?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> std::path::PathBuf {
        let header = Header {
            applied_index: 42,
            term: 3,
            ha_id: "old".into(),
            body_len: 5,
        };
        let mut bytes = header.encode();
        bytes.extend_from_slice(b"hello");
        let digest = Sha256::digest(&bytes);
        bytes.extend_from_slice(&trailer(&digest));
        let path = dir.join("b.snap");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_good_file_verifies_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let header = verify_file(&path).unwrap();
        assert_eq!((header.applied_index, header.term), (42, 3));
        assert_eq!(read_body(&path, &header).unwrap(), b"hello");

        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        let at = header.encode().len() + 1;
        flipped[at] ^= 0x01;
        std::fs::write(&path, &flipped).unwrap();
        assert!(verify_file(&path)
            .unwrap_err()
            .to_string()
            .contains("checksum mismatch"));

        std::fs::write(&path, &good[..good.len() - 10]).unwrap();
        assert!(verify_file(&path)
            .unwrap_err()
            .to_string()
            .starts_with("truncated"));
        std::fs::write(&path, &good[..6]).unwrap();
        assert!(verify_file(&path)
            .unwrap_err()
            .to_string()
            .starts_with("truncated"));

        let mut version = good.clone();
        version[11] = 9;
        std::fs::write(&path, &version).unwrap();
        assert!(verify_file(&path)
            .unwrap_err()
            .to_string()
            .contains("version 9"));

        let mut magic = good;
        magic[0] = b'X';
        std::fs::write(&path, &magic).unwrap();
        assert!(verify_file(&path)
            .unwrap_err()
            .to_string()
            .contains("bad magic"));
    }
}
