//! Password hashing (argon2id, PHC string format): the shared crate's, which the manager
//! uses for its own users too.

pub use access::password::{
    hash, hash_field, random_password, verify, FieldError, HashError, HASH_FIELD,
};
