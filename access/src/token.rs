//! Bearer tokens: `base64url(json {u, exp, m?}).hex(hmac_sha256(secret, payload))`. Where the
//! secret lives (the endpoint's replicated state, the manager's registry) and whether the
//! token's user or machine still exists are the caller's: see [`verify`].

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{AuthError, Principal};

/// The longest lifetime a token may be issued with.
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

#[derive(Serialize, Deserialize)]
struct Claims {
    u: String,
    exp: u64,
    /// Set on a machine token: the machine it acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
}

/// The name a machine token's caller goes by (events' `Principal`).
pub fn machine_principal(uuid: &str) -> String {
    format!("machine:{uuid}")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh random secret, hex-encoded as it is stored.
pub fn new_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// The secret's bytes from its stored hex form.
pub fn decode_secret(hex_secret: &str) -> Result<Vec<u8>, AuthError> {
    hex::decode(hex_secret).map_err(|_| AuthError::CorruptSecret)
}

fn mac(secret: &[u8]) -> Result<Hmac<Sha256>, AuthError> {
    Hmac::<Sha256>::new_from_slice(secret).map_err(|e| AuthError::Internal(e.to_string()))
}

/// A token for `user` (and, for a machine token, `machine`) valid for `ttl_secs` (clamped to
/// 1..=[`MAX_TTL_SECS`]), and when it expires (Unix seconds).
pub fn sign(
    secret: &[u8],
    user: &str,
    machine: Option<&str>,
    ttl_secs: u64,
) -> Result<(String, u64), AuthError> {
    let exp = now_secs() + ttl_secs.clamp(1, MAX_TTL_SECS);
    let claims = Claims {
        u: user.to_string(),
        exp,
        m: machine.map(str::to_string),
    };
    let json = serde_json::to_vec(&claims).map_err(|e| AuthError::Internal(e.to_string()))?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let mut mac = mac(secret)?;
    mac.update(payload.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    Ok((format!("{payload}.{signature}"), exp))
}

/// Who a token speaks for, checked against `secret` and its expiry; `exists` answers whether
/// the principal still exists (a machine token's machine, or the user), since a token must
/// die with its user.
pub fn verify(
    secret: &[u8],
    token: &str,
    exists: impl FnOnce(&Principal) -> bool,
) -> Result<Principal, AuthError> {
    let (payload, signature) = token.split_once('.').ok_or(AuthError::MalformedToken)?;
    // Compared through the MAC (constant time), not as strings.
    let mut mac = mac(secret)?;
    mac.update(payload.as_bytes());
    let given = hex::decode(signature).map_err(|_| AuthError::MalformedToken)?;
    if mac.verify_slice(&given).is_err() {
        return Err(AuthError::BadToken);
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| AuthError::MalformedToken)?;
    let claims: Claims = serde_json::from_slice(&raw).map_err(|_| AuthError::MalformedToken)?;
    if claims.exp <= now_secs() {
        return Err(AuthError::Expired);
    }
    let principal = Principal {
        user: claims.u,
        machine: claims.m,
    };
    if !exists(&principal) {
        return Err(match principal.machine {
            Some(_) => AuthError::MachineGone,
            None => AuthError::UserGone,
        });
    }
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_under_its_secret_only() {
        let secret = decode_secret(&new_secret()).unwrap();
        let (token, exp) = sign(&secret, "ops", None, 60).unwrap();
        assert!(exp > now_secs());
        let p = verify(&secret, &token, |p| p.user == "ops").unwrap();
        assert_eq!((p.user.as_str(), p.machine), ("ops", None));
        let other = decode_secret(&new_secret()).unwrap();
        assert_eq!(
            verify(&other, &token, |_| true).err(),
            Some(AuthError::BadToken)
        );
        assert_eq!(
            verify(&secret, &token, |_| false).err(),
            Some(AuthError::UserGone)
        );
        assert_eq!(
            verify(&secret, "nodot", |_| true).err(),
            Some(AuthError::MalformedToken)
        );
        let (machine, _) = sign(&secret, &machine_principal("m1"), Some("m1"), 60).unwrap();
        assert_eq!(
            verify(&secret, &machine, |_| false).err(),
            Some(AuthError::MachineGone)
        );
        assert_eq!(decode_secret("zz"), Err(AuthError::CorruptSecret));
    }
}
