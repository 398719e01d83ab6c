//! Bearer tokens in the shared crate's format ([`access::token`]), signed with a secret kept
//! in the replicated state, so a token from any member works on every member.

use super::{AuthError, Directory, Principal};

pub use access::token::{machine_principal, MAX_TTL_SECS};

pub const SECRET_COLLECTION: &str = "_system";
pub const SECRET_KEY: &str = "token-secret";

/// The token secret's record, only the field used (no `Value` tree per request).
#[derive(serde::Deserialize)]
struct SecretRecord {
    #[serde(rename = "Secret")]
    secret: Option<serde_json::Value>,
}

fn secret(node: &impl Directory) -> Result<Vec<u8>, AuthError> {
    let record: SecretRecord = node
        .store()
        .get_as(SECRET_COLLECTION, SECRET_KEY)
        .ok()
        .flatten()
        .ok_or(AuthError::NotSetUp)?;
    let hex_secret = record
        .secret
        .as_ref()
        .and_then(|s| s.as_str())
        .ok_or(AuthError::NotSetUp)?;
    access::token::decode_secret(hex_secret)
}

pub fn issue(node: &impl Directory, user: &str, ttl_secs: u64) -> Result<(String, u64), AuthError> {
    access::token::sign(&secret(node)?, user, None, ttl_secs)
}

/// A machine token: its claims allow only `machine` and that machine's jobs (DRP's machine
/// token, what an agent running on the machine uses).
pub fn issue_machine(
    node: &impl Directory,
    machine: &str,
    ttl_secs: u64,
) -> Result<(String, u64), AuthError> {
    access::token::sign(
        &secret(node)?,
        &machine_principal(machine),
        Some(machine),
        ttl_secs,
    )
}

/// Who the token speaks for, if its user (or machine) still exists in this member's store.
pub fn verify(node: &impl Directory, token: &str) -> Result<Principal, AuthError> {
    access::token::verify(&secret(node)?, token, |p| {
        let (collection, key) = match &p.machine {
            Some(machine) => ("machines", machine.as_str()),
            None => ("users", p.user.as_str()),
        };
        node.store().contains(collection, key).unwrap_or(false)
    })
}
