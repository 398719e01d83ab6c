//! DRP authentication and authorization that does not depend on where users and roles are
//! stored, shared by the endpoint (users in its replicated store) and the manager (users in
//! its registry): claim matching ([`claims`]), argon2 passwords ([`password`]), HMAC bearer
//! tokens ([`token`]), the verified-credential cache ([`CredentialCache`]) and the claim a
//! plain REST call needs ([`route`]).
#![warn(missing_docs)]

pub mod claims;
mod credentials;
mod error;
pub mod password;
pub mod route;
pub mod token;

pub use claims::{Need, RoleBook, SUPERUSER};
pub use credentials::{parse_basic, CredentialCache, Principal, Verifier};
pub use error::AuthError;

/// The built-in admin user, always a superuser.
pub const ADMIN_USER: &str = proto::paths::ADMIN_USER;

/// The path segment DRP's generated clients send instead of the user's name in
/// `/users/{name}/token` and `/users/{name}/password` (its swagger names no parameter).
pub const LITERAL_NAME: &str = "{name}";

/// Whether a raw (maybe still percent-encoded) path segment is [`LITERAL_NAME`].
pub fn is_literal_name(segment: &str) -> bool {
    segment == LITERAL_NAME || segment.eq_ignore_ascii_case("%7Bname%7D")
}
