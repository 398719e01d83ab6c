//! HTTP Basic credentials and a short-lived cache of verified ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{password, AuthError};

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;
/// Password hashes computed at once. Each argon2 verification holds ~19 MiB and a core for
/// tens of milliseconds: a storm of Basic requests must queue here, not exhaust memory.
const CONCURRENT_HASHES: usize = 4;

/// Whether a password matches a stored hash: `verify(given, stored)`. Slow; the cache runs it
/// on the blocking pool.
pub type Verifier = fn(&str, &str) -> bool;

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's name (a machine token's `machine:<uuid>`).
    pub user: String,
    /// A machine token's machine: its claims allow only that machine and its jobs.
    pub machine: Option<String>,
}

impl Principal {
    /// A user (not a machine token).
    pub fn user(name: &str) -> Principal {
        Principal {
            user: name.to_string(),
            machine: None,
        }
    }
}

/// The user and password of HTTP Basic credentials (the part after `Basic `).
pub fn parse_basic(encoded: &str) -> Result<(String, String), AuthError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthError::MalformedBasic)?;
    let text = String::from_utf8(decoded).map_err(|_| AuthError::MalformedBasic)?;
    let (user, pass) = text.split_once(':').ok_or(AuthError::MalformedBasic)?;
    Ok((user.to_string(), pass.to_string()))
}

/// Verified (user, password, stored hash) triples, keyed by an HMAC under a per-process
/// random key: a dump of this map reveals no password. Including the stored hash means a
/// password change invalidates the entry at once.
pub struct CredentialCache {
    key: [u8; 32],
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    /// One verification per credential at a time: concurrent requests with the same
    /// credentials wait for the first one's verdict instead of each hashing it again.
    in_flight: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    hashing: tokio::sync::Semaphore,
}

impl Default for CredentialCache {
    fn default() -> Self {
        use rand::Rng;
        CredentialCache {
            key: rand::rng().random(),
            verified: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            hashing: tokio::sync::Semaphore::new(CONCURRENT_HASHES),
        }
    }
}

impl CredentialCache {
    /// The keyed digest of a (user, password, stored hash) triple: what the cache remembers,
    /// and a constant-time way to compare two credentials.
    pub fn digest(&self, user: &str, password: &str, stored: &str) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        for part in [user, password, stored] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether the triple behind `digest` was verified within the last minute.
    pub fn hit(&self, digest: &[u8; 32]) -> bool {
        let Ok(map) = self.verified.lock() else {
            return false;
        };
        map.get(digest).is_some_and(|at| at.elapsed() < CACHE_TTL)
    }

    /// Whether `given` is `user`'s password by the argon2 PHC string `stored`.
    pub async fn check(&self, user: &str, given: &str, stored: &str) -> bool {
        self.check_with(user, given, stored, password::verify).await
    }

    /// [`Self::check`] with another verifier (`verify(given, stored)`, slow: it runs on the
    /// blocking pool), for stores that still hold hashes of an older format.
    pub async fn check_with(
        &self,
        user: &str,
        given: &str,
        stored: &str,
        verify: Verifier,
    ) -> bool {
        let digest = self.digest(user, given, stored);
        self.hit(&digest) || self.verify(digest, given, stored, verify).await
    }

    /// Whether `given` matches `stored`, hashing it at most once per credential at a time
    /// and at most [`CONCURRENT_HASHES`] at once overall.
    pub async fn verify(
        &self,
        digest: [u8; 32],
        given: &str,
        stored: &str,
        verify: Verifier,
    ) -> bool {
        let gate = match self.in_flight.lock() {
            Ok(mut map) => map.entry(digest).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let verdict = async {
            let _same_credential = gate.lock().await;
            if self.hit(&digest) {
                return true;
            }
            let Ok(_permit) = self.hashing.acquire().await else {
                return false;
            };
            let (pass, stored) = (given.to_string(), stored.to_string());
            let ok = tokio::task::spawn_blocking(move || verify(&pass, &stored))
                .await
                .unwrap_or(false);
            if ok {
                self.remember(digest);
            }
            ok
        }
        .await;
        if let Ok(mut map) = self.in_flight.lock() {
            // Only the map and this caller hold it: nobody else is waiting on this credential.
            if Arc::strong_count(&gate) <= 2 {
                map.remove(&digest);
            }
        }
        verdict
    }

    fn remember(&self, digest: [u8; 32]) {
        let Ok(mut map) = self.verified.lock() else {
            return;
        };
        if map.len() >= CACHE_MAX {
            map.retain(|_, at| at.elapsed() < CACHE_TTL);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(digest, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_parse() {
        let enc = base64::engine::general_purpose::STANDARD.encode("ops:pa:ss");
        assert_eq!(
            parse_basic(&enc),
            Ok(("ops".to_string(), "pa:ss".to_string()))
        );
        assert_eq!(parse_basic("!!"), Err(AuthError::MalformedBasic));
        let enc = base64::engine::general_purpose::STANDARD.encode("nocolon");
        assert_eq!(parse_basic(&enc), Err(AuthError::MalformedBasic));
    }

    #[tokio::test]
    async fn a_verified_password_is_remembered_and_a_wrong_one_is_not() {
        let cache = CredentialCache::default();
        let stored = password::hash("pw").unwrap();
        assert!(!cache.check("u", "nope", &stored).await);
        assert!(!cache.hit(&cache.digest("u", "nope", &stored)));
        assert!(cache.check("u", "pw", &stored).await);
        assert!(cache.hit(&cache.digest("u", "pw", &stored)));
        // A new stored hash (a password change) is a different entry.
        assert!(!cache.hit(&cache.digest("u", "pw", "other")));
    }
}
