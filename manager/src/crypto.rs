//! Secrets at rest: endpoint passwords are sealed with ChaCha20-Poly1305 under a random key
//! kept in `<data-dir>/secret.key` (mode 0600); the admin password is kept only as an argon2
//! hash (a registry from before may hold a salted, iterated SHA-256 one until the next login).

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Prefix of a sealed value as stored in the registry.
pub const SEALED_PREFIX: &str = "enc:v1:";
/// What the API shows in place of a secret.
pub const MASK: &str = "********";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {0} does not hold a 32-byte key")]
    BadKey(String),
    #[error("a sealed secret is corrupt or was sealed under another key")]
    Open,
}

/// Seals and opens secrets with the data dir's key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Loads `<dir>/secret.key`, creating it (0600) on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, CryptoError> {
        let path = dir.join("secret.key");
        let shown = path.display().to_string();
        let io = |source| CryptoError::KeyFile {
            path: shown.clone(),
            source,
        };
        let key = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                write_private(&path, &key).map_err(io)?;
                key
            }
            Err(err) => return Err(io(err)),
        };
        if key.len() != 32 {
            return Err(CryptoError::BadKey(shown));
        }
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        })
    }

    pub fn seal(&self, clear: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a fresh nonce cannot fail for in-memory sizes.
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), clear.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{SEALED_PREFIX}{}", B64.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<String, CryptoError> {
        let Some(body) = sealed.strip_prefix(SEALED_PREFIX) else {
            return Ok(sealed.to_owned());
        };
        let raw = B64.decode(body).map_err(|_| CryptoError::Open)?;
        if raw.len() < 12 {
            return Err(CryptoError::Open);
        }
        let (nonce, data) = raw.split_at(12);
        let clear = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), data)
            .map_err(|_| CryptoError::Open)?;
        String::from_utf8(clear).map_err(|_| CryptoError::Open)
    }
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// The admin's stored password hash: argon2id (the shared crate's, as the manager's users and
/// every endpoint hash) for every hash written now; a registry from before keeps its salted,
/// iterated SHA-256 hash, which still verifies and is replaced by an argon2 one at the admin's
/// next successful login (`http::auth`).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum PasswordHash {
    /// A PHC string (`$argon2id$...`), stored as `{"phc": "..."}`.
    Argon2 { phc: String },
    /// The format before argon2.
    Legacy {
        salt: String,
        rounds: u32,
        hash: String,
    },
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    /// An argon2 hash of `password`. Slow: call off the runtime.
    pub fn new(password: &str) -> Self {
        match access::password::hash(password) {
            Ok(phc) => Self::Argon2 { phc },
            // argon2 with default parameters does not fail on a password; if it ever did, a
            // hash that verifies nothing is the safe outcome.
            Err(err) => {
                tracing::error!("hashing the admin password failed: {err}");
                Self::Argon2 { phc: String::new() }
            }
        }
    }

    /// Whether `password` matches. Slow: call off the runtime.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            Self::Argon2 { phc } => access::password::verify(password, phc),
            Self::Legacy { salt, rounds, hash } => {
                let got = derive(salt, *rounds, password);
                constant_time_eq(got.as_bytes(), hash.as_bytes())
            }
        }
    }

    /// Whether this hash is in the format before argon2 (to be replaced at the next login).
    pub fn is_legacy(&self) -> bool {
        matches!(self, Self::Legacy { .. })
    }

    /// One string for the whole hash: the key the credential cache remembers a verdict under,
    /// so a new password takes effect at once.
    pub fn fingerprint(&self) -> String {
        match self {
            Self::Argon2 { phc } => phc.clone(),
            Self::Legacy { salt, rounds, hash } => format!("legacy:{rounds}:{salt}:{hash}"),
        }
    }

    /// A verifier over [`Self::fingerprint`]'s string, for the shared credential cache.
    pub fn verify_fingerprint(password: &str, fingerprint: &str) -> bool {
        match fingerprint.strip_prefix("legacy:") {
            None => access::password::verify(password, fingerprint),
            Some(rest) => {
                let mut parts = rest.splitn(3, ':');
                let (Some(rounds), Some(salt), Some(hash)) = (
                    parts.next().and_then(|r| r.parse().ok()),
                    parts.next(),
                    parts.next(),
                ) else {
                    return false;
                };
                Self::Legacy {
                    salt: salt.to_owned(),
                    rounds,
                    hash: hash.to_owned(),
                }
                .verify(password)
            }
        }
    }
}

fn derive(salt: &str, rounds: u32, password: &str) -> String {
    let mut digest: [u8; 32] = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update(password.as_bytes())
        .finalize()
        .into();
    for _ in 1..rounds {
        digest = Sha256::new()
            .chain_update(digest)
            .chain_update(password.as_bytes())
            .finalize()
            .into();
    }
    hex::encode(digest)
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random password for first starts without one.
pub fn random_password() -> String {
    let mut raw = [0u8; 12];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_hides_the_clear_text() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::load_or_create(dir.path()).unwrap();
        let sealed = sealer.seal("pw-1");
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert!(!sealed.contains("pw-1"));
        let again = Sealer::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "pw-1");
    }

    #[test]
    fn password_hash_verifies() {
        let h = PasswordHash::new("secret");
        assert!(!h.is_legacy());
        assert!(h.verify("secret"));
        assert!(!h.verify("Secret"));
        assert!(PasswordHash::verify_fingerprint("secret", &h.fingerprint()));
    }

    /// A registry written before argon2 holds `{salt, rounds, hash}`: it still verifies.
    #[test]
    fn a_legacy_sha256_hash_still_verifies() {
        let salt = "00112233445566778899aabbccddeeff";
        let stored = serde_json::json!({"salt": salt, "rounds": 20_000,
            "hash": derive(salt, 20_000, "old-pw")});
        let h: PasswordHash = serde_json::from_value(stored).unwrap();
        assert!(h.is_legacy());
        assert!(h.verify("old-pw") && !h.verify("other"));
        assert!(PasswordHash::verify_fingerprint("old-pw", &h.fingerprint()));
        assert!(!PasswordHash::verify_fingerprint("other", &h.fingerprint()));
        let new = PasswordHash::new("pw");
        let back: PasswordHash =
            serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }
}
