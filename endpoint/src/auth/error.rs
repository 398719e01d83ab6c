//! Why a caller was not authenticated or a token not issued: the shared crate's
//! [`access::AuthError`], whose messages are what a client reads in a 401
//! (`api::auth_layer`).

pub use access::AuthError;
