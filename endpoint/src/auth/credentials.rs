//! HTTP Basic verification with a short-lived cache of verified credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::password;
use super::{AuthError, Directory};

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;
/// Password hashes computed at once. Each argon2 verification holds ~19 MiB and a core for
/// tens of milliseconds: a storm of Basic requests must queue here, not exhaust memory.
const CONCURRENT_HASHES: usize = 4;

/// Who made a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: String,
    /// A machine token's machine: its claims allow only that machine and its jobs.
    pub machine: Option<String>,
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
    fn digest(&self, user: &str, password: &str, stored: &str) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        for part in [user, password, stored] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    fn hit(&self, digest: &[u8; 32]) -> bool {
        let Ok(map) = self.verified.lock() else {
            return false;
        };
        map.get(digest).is_some_and(|at| at.elapsed() < CACHE_TTL)
    }

    /// Whether `given` matches `stored`, hashing it at most once per credential at a time
    /// and at most [`CONCURRENT_HASHES`] at once overall.
    async fn verify(&self, digest: [u8; 32], given: &str, stored: &str) -> bool {
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
            let ok = tokio::task::spawn_blocking(move || password::verify(&pass, &stored))
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

/// Whether the cluster's seed (the admin user and the token secret, one entry written by
/// the bootstrapping node) is applied here. A store that cannot be read counts as seeded:
/// the start-up credential must not open a door because of a read error.
fn seeded(node: &impl Directory) -> bool {
    !matches!(
        node.store()
            .get(super::token::SECRET_COLLECTION, super::token::SECRET_KEY),
        Ok(None)
    )
}

pub async fn verify_basic(node: &impl Directory, encoded: &str) -> Result<Principal, AuthError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| AuthError::MalformedBasic)?;
    let text = String::from_utf8(decoded).map_err(|_| AuthError::MalformedBasic)?;
    let (user, pass) = text.split_once(':').ok_or(AuthError::MalformedBasic)?;
    // Users are read locally: authentication of a known user must not depend on reaching
    // the leader. A user this member does not know yet may have been created through
    // another member a moment ago: catch up once (read index), then look again.
    let lookup = || {
        node.store()
            .get("users", user)
            .ok()
            .flatten()
            .and_then(|u| {
                u.get("PasswordHash")
                    .and_then(|h| h.as_str())
                    .map(str::to_string)
            })
    };
    let mut stored = lookup();
    if stored.is_none() && node.store().count("users").unwrap_or(0) > 0 && node.catch_up().await {
        stored = lookup();
    }
    let Some(stored) = stored else {
        // A node whose cluster seed is not applied here yet (not joined, or the bootstrap
        // seed still being hashed and written) accepts only the admin credential it was
        // started with. Not "no users yet": a user created through that very credential
        // before the seed landed made the admin's next call a 401.
        if user == super::ADMIN_USER && !seeded(node) {
            if let Some(local) = node.local_admin_password() {
                let (a, b) = (
                    node.credentials().digest(user, pass, ""),
                    node.credentials().digest(user, local, ""),
                );
                if a == b {
                    return Ok(Principal {
                        user: user.to_string(),
                        machine: None,
                    });
                }
            }
        }
        return Err(AuthError::BadPassword);
    };
    let digest = node.credentials().digest(user, pass, &stored);
    if node.credentials().hit(&digest) {
        return Ok(Principal {
            user: user.to_string(),
            machine: None,
        });
    }
    if !node.credentials().verify(digest, pass, &stored).await {
        return Err(AuthError::BadPassword);
    }
    Ok(Principal {
        user: user.to_string(),
        machine: None,
    })
}
