//! Password hashing (argon2id, PHC string format).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Why a password could not be hashed: argon2's own message (a bug or a resource limit,
/// never the password's fault).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The salt could not be encoded.
    #[error("{0}")]
    Salt(argon2::password_hash::Error),
    /// Argon2 failed.
    #[error("{0}")]
    Hash(argon2::password_hash::Error),
}

/// A PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$...`. Slow: call off the runtime.
pub fn hash(password: &str) -> Result<String, HashError> {
    use rand::Rng;
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(HashError::Salt)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError::Hash)
}

/// Whether `password` matches the PHC string `phc` (anything else never matches). Slow:
/// call off the runtime.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random password for an admin nobody configured.
pub fn random_password() -> String {
    use rand::Rng;
    let bytes: [u8; 18] = rand::rng().random();
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_its_password() {
        let phc = hash("pw-1").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("pw-1", &phc));
        assert!(!verify("pw-2", &phc));
        assert!(!verify("pw-1", "not a phc string"));
        assert_ne!(random_password(), random_password());
    }
}
