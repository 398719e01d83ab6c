//! What authentication needs from the member it runs on. Auth sits below the node in the
//! module layers (the node holds its credential cache), so it asks through this trait,
//! which the node implements, instead of naming `Node`.

use std::future::Future;

use super::CredentialCache;
use crate::store::ObjectStore;

pub trait Directory: Send + Sync {
    /// The replicated users, roles, machines and token secret, as this member has them.
    fn store(&self) -> &ObjectStore;
    /// Verified credentials remembered by this member.
    fn credentials(&self) -> &CredentialCache;
    /// `--admin-password`: only used while this member has not joined a cluster.
    fn local_admin_password(&self) -> Option<&str>;
    /// Catches this member up with the leader (a read fence); false when no leader confirms
    /// in time.
    fn catch_up(&self) -> impl Future<Output = bool> + Send;
}
