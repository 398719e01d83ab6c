//! Whole-store snapshots: a consistent dump from one read transaction, and a restore that
//! replaces everything in one write transaction.
//!
//! Format: the magic `DRPSNAP1`, then records `tag:u8, len:u32 BE, bytes...` with tags
//! 1 = object (collection, key, json), 2 = idempotency record (key, json),
//! 3 = expiry entry (at_ms as 8 bytes, key), 4 = meta (name, bytes), 5 = file (path, bytes),
//! 6 = staged upload chunk (upload id, index as 4 bytes, bytes).

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::{
    ObjectStore, StoreError, FILES, IDEMPOTENCY, IDEMPOTENCY_EXPIRY, META_TABLE, OBJECTS, UPLOADS,
};

pub const SNAPSHOT_FORMAT: &[u8; 8] = b"DRPSNAP1";

/// A serialized store plus the state-machine meta captured in the same read transaction.
pub struct SnapshotBody {
    pub bytes: Vec<u8>,
    pub meta: Vec<(String, Vec<u8>)>,
}

impl ObjectStore {
    /// Serializes the whole store as of one read transaction. Blocking: call off the runtime.
    pub fn dump(&self) -> Result<SnapshotBody, StoreError> {
        let tx = self.db().begin_read()?;
        let mut out = Vec::with_capacity(1 << 16);
        out.extend_from_slice(SNAPSHOT_FORMAT);
        for row in tx.open_table(OBJECTS)?.iter()? {
            let (k, v) = row?;
            let (collection, key) = k.value();
            record(
                &mut out,
                1,
                &[collection.as_bytes(), key.as_bytes(), v.value()],
            );
        }
        for row in tx.open_table(IDEMPOTENCY)?.iter()? {
            let (k, v) = row?;
            record(&mut out, 2, &[k.value().as_bytes(), v.value()]);
        }
        for row in tx.open_table(IDEMPOTENCY_EXPIRY)?.iter()? {
            let (k, _) = row?;
            let (at, key) = k.value();
            record(&mut out, 3, &[&at.to_be_bytes(), key.as_bytes()]);
        }
        for row in tx.open_table(FILES)?.iter()? {
            let (k, v) = row?;
            record(&mut out, 5, &[k.value().as_bytes(), v.value()]);
        }
        for row in tx.open_table(UPLOADS)?.iter()? {
            let (k, v) = row?;
            let (upload, index) = k.value();
            record(
                &mut out,
                6,
                &[upload.as_bytes(), &index.to_be_bytes(), v.value()],
            );
        }
        let mut meta = Vec::new();
        for row in tx.open_table(META_TABLE)?.iter()? {
            let (k, v) = row?;
            record(&mut out, 4, &[k.value().as_bytes(), v.value()]);
            meta.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(SnapshotBody { bytes: out, meta })
    }
}

/// Replaces the whole store content with a snapshot's, inside `tx`.
pub fn restore(tx: &WriteTransaction, bytes: &[u8]) -> Result<(), StoreError> {
    let body = bytes
        .strip_prefix(SNAPSHOT_FORMAT.as_slice())
        .ok_or_else(|| StoreError::Corrupt("snapshot does not start with DRPSNAP1".into()))?;
    tx.delete_table(OBJECTS)?;
    tx.delete_table(IDEMPOTENCY)?;
    tx.delete_table(IDEMPOTENCY_EXPIRY)?;
    tx.delete_table(META_TABLE)?;
    tx.delete_table(FILES)?;
    tx.delete_table(UPLOADS)?;
    let mut objects = tx.open_table(OBJECTS)?;
    let mut idem = tx.open_table(IDEMPOTENCY)?;
    let mut expiry = tx.open_table(IDEMPOTENCY_EXPIRY)?;
    let mut meta = tx.open_table(META_TABLE)?;
    let mut files = tx.open_table(FILES)?;
    let mut uploads = tx.open_table(UPLOADS)?;
    let mut reader = Reader { rest: body };
    while let Some(tag) = reader.tag() {
        match tag {
            1 => {
                let (c, k, v) = (reader.str()?, reader.str()?, reader.bytes()?);
                objects.insert((c, k), v)?;
            }
            2 => {
                let (k, v) = (reader.str()?, reader.bytes()?);
                idem.insert(k, v)?;
            }
            3 => {
                let at = reader.bytes()?;
                let at = <[u8; 8]>::try_from(at)
                    .map_err(|_| StoreError::Corrupt("bad expiry stamp".into()))?;
                let key = reader.str()?;
                expiry.insert((u64::from_be_bytes(at), key), ())?;
            }
            4 => {
                let (k, v) = (reader.str()?, reader.bytes()?);
                meta.insert(k, v)?;
            }
            5 => {
                let (k, v) = (reader.str()?, reader.bytes()?);
                files.insert(k, v)?;
            }
            6 => {
                let upload = reader.str()?;
                let index = <[u8; 4]>::try_from(reader.bytes()?)
                    .map_err(|_| StoreError::Corrupt("bad upload chunk index".into()))?;
                uploads.insert((upload, u32::from_be_bytes(index)), reader.bytes()?)?;
            }
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown snapshot record tag {other}"
                )))
            }
        }
    }
    drop(objects);
    super::unique::rebuild(tx)
}

fn record(out: &mut Vec<u8>, tag: u8, fields: &[&[u8]]) {
    out.push(tag);
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_be_bytes());
        out.extend_from_slice(f);
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn tag(&mut self) -> Option<u8> {
        let (&t, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(t)
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let truncated = || StoreError::Corrupt("snapshot truncated".into());
        let (len, rest) = self.rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(truncated());
        }
        let (field, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(field)
    }

    fn str(&mut self) -> Result<&'a str, StoreError> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| StoreError::Corrupt("snapshot key is not UTF-8".into()))
    }
}
