//! Authentication for every API call (the HTTP middleware is `api::auth_layer`): HTTP Basic against the replicated `users` (argon2
//! hashes), or `Authorization: Bearer <token>` from `GET /api/v3/users/<name>/token`.
//!
//! Verifying an argon2 hash is slow on purpose, so a verified credential is remembered for a
//! minute under a keyed digest (never the password itself), and the hash runs on the blocking
//! pool, never on an async worker.

mod credentials;
mod directory;
mod error;
pub mod machine;
pub mod password;
pub mod roles;
pub mod token;
pub mod visibility;

pub use credentials::{verify_basic, CredentialCache, Principal};
pub use directory::Directory;
pub use error::AuthError;

use std::future::Future;

pub const ADMIN_USER: &str = proto::paths::ADMIN_USER;

tokio::task_local! {
    /// The authenticated user of the request this task is serving. Handlers build their
    /// replicated command inside the middleware's scope, so the command (and the change
    /// event every member emits for it) names who made the change.
    static CALLER: String;
}

/// Runs `work` as `user`'s request: `current_user()` inside it names them.
pub async fn serve_as<F: Future>(user: String, work: F) -> F::Output {
    CALLER.scope(user, work).await
}

/// The user whose request the current task serves, if it serves an authenticated one.
pub fn current_user() -> Option<String> {
    CALLER.try_with(Clone::clone).ok()
}
