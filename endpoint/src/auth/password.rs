//! Password hashing (argon2id, PHC string format): the shared crate's, which the manager
//! uses for its own users too.

pub use access::password::{hash, random_password, verify, HashError};
