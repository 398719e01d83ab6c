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

/// The field of a user object that holds its hash (never shown to clients).
pub const HASH_FIELD: &str = "PasswordHash";
/// The field a client sends a new password in (DRP's user create and update).
pub const PASSWORD_FIELD: &str = "Password";

/// Why a user body's `Password` could not be turned into a hash.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    /// `Password` is not a non-empty string: the client's fault (a 422).
    #[error("Password: must be a non-empty string")]
    NotAPassword,
    /// Hashing failed (not the client's fault).
    #[error("{0}")]
    Hash(#[from] HashError),
    /// The blocking task that hashed it did not finish.
    #[error("password hashing stopped: {0}")]
    Stopped(String),
}

/// Replaces a user body's `Password` with its argon2 `PasswordHash` (hashed on the blocking
/// pool, never on an async worker). A `PasswordHash` the client sent is always dropped: a
/// client never sets the hash itself. Returns whether the body carried a password, so a
/// caller can keep the stored hash when it did not.
pub async fn hash_field(
    object: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<bool, FieldError> {
    object.remove(HASH_FIELD);
    let password = match object.remove(PASSWORD_FIELD) {
        None => return Ok(false),
        Some(serde_json::Value::String(p)) if !p.is_empty() => p,
        Some(_) => return Err(FieldError::NotAPassword),
    };
    let hashed = tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| FieldError::Stopped(e.to_string()))??;
    object.insert(HASH_FIELD.into(), serde_json::Value::String(hashed));
    Ok(true)
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

    #[tokio::test]
    async fn a_password_field_becomes_its_hash() {
        let mut body = serde_json::json!({"Name": "u", "Password": "pw", "PasswordHash": "x"});
        let map = body.as_object_mut().expect("object");
        assert!(hash_field(map).await.expect("hashed"));
        assert!(map.get(PASSWORD_FIELD).is_none());
        let hash = map[HASH_FIELD].as_str().expect("a hash");
        assert!(verify("pw", hash));
        let mut kept = serde_json::json!({"Name": "u", "PasswordHash": "forged"});
        let map = kept.as_object_mut().expect("object");
        assert!(!hash_field(map).await.expect("no password"));
        assert!(
            map.get(HASH_FIELD).is_none(),
            "a client never sets the hash"
        );
        for bad in [serde_json::json!(""), serde_json::json!(3)] {
            let mut body = serde_json::json!({"Password": bad});
            let map = body.as_object_mut().expect("object");
            assert!(matches!(
                hash_field(map).await,
                Err(FieldError::NotAPassword)
            ));
        }
    }
}
