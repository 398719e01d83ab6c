//! HTTP Basic verification against the replicated `users`, through the shared crate's
//! cache of verified credentials.

pub use access::{CredentialCache, Principal};

use super::{AuthError, Directory};

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
    let (user, pass) = access::parse_basic(encoded)?;
    let (user, pass) = (user.as_str(), pass.as_str());
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
                    return Ok(Principal::user(user));
                }
            }
        }
        return Err(AuthError::BadPassword);
    };
    if !node.credentials().check(user, pass, &stored).await {
        return Err(AuthError::BadPassword);
    }
    Ok(Principal::user(user))
}
