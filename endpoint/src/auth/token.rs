//! Bearer tokens: `base64url(json {u, exp}).hex(hmac_sha256(secret, payload))`, signed with a
//! secret kept in the replicated state, so a token from any member works on every member.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{AuthError, Directory, Principal};

pub const SECRET_COLLECTION: &str = "_system";
pub const SECRET_KEY: &str = "token-secret";
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

fn secret(node: &impl Directory) -> Result<Vec<u8>, AuthError> {
    let record = node
        .store()
        .get(SECRET_COLLECTION, SECRET_KEY)
        .ok()
        .flatten()
        .ok_or(AuthError::NotSetUp)?;
    let hex_secret = record
        .get("Secret")
        .and_then(|s| s.as_str())
        .ok_or(AuthError::NotSetUp)?;
    hex::decode(hex_secret).map_err(|_| AuthError::CorruptSecret)
}

fn sign(secret: &[u8], payload: &str) -> Result<String, AuthError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|e| AuthError::Internal(e.to_string()))?;
    mac.update(payload.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

pub fn issue(node: &impl Directory, user: &str, ttl_secs: u64) -> Result<(String, u64), AuthError> {
    sign_claims(node, user.to_string(), None, ttl_secs)
}

/// A machine token: its claims allow only `machine` and that machine's jobs (DRP's machine
/// token, what an agent running on the machine uses).
pub fn issue_machine(
    node: &impl Directory,
    machine: &str,
    ttl_secs: u64,
) -> Result<(String, u64), AuthError> {
    sign_claims(
        node,
        machine_principal(machine),
        Some(machine.to_string()),
        ttl_secs,
    )
}

fn sign_claims(
    node: &impl Directory,
    u: String,
    m: Option<String>,
    ttl_secs: u64,
) -> Result<(String, u64), AuthError> {
    let exp = now_secs() + ttl_secs.clamp(1, MAX_TTL_SECS);
    let claims = serde_json::to_vec(&Claims { u, exp, m })
        .map_err(|e| AuthError::Internal(e.to_string()))?;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
    let signature = sign(&secret(node)?, &payload)?;
    Ok((format!("{payload}.{signature}"), exp))
}

pub fn verify(node: &impl Directory, token: &str) -> Result<Principal, AuthError> {
    let (payload, signature) = token.split_once('.').ok_or(AuthError::MalformedToken)?;
    // Compared through the MAC (constant time), not as strings.
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret(node)?)
        .map_err(|e| AuthError::Internal(e.to_string()))?;
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
    if let Some(machine) = claims.m {
        if node
            .store()
            .get("machines", &machine)
            .ok()
            .flatten()
            .is_none()
        {
            return Err(AuthError::MachineGone);
        }
        return Ok(Principal {
            user: claims.u,
            machine: Some(machine),
        });
    }
    if node
        .store()
        .get("users", &claims.u)
        .ok()
        .flatten()
        .is_none()
    {
        return Err(AuthError::UserGone);
    }
    Ok(Principal {
        user: claims.u,
        machine: None,
    })
}
