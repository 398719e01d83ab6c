//! Why one DHCP packet was not answered. Only logged (at debug): a client that gets no
//! reply retries, so each variant names the cause for whoever reads the log.

use std::net::SocketAddrV4;

use crate::node::NodeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("decision task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("interface cache poisoned")]
    InterfacesPoisoned,
    #[error("unknown receiving interface")]
    UnknownInterface,
    #[error("interface {0} is not served")]
    NotServed(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The packet is malformed or is not one to answer (`decide::Drop`).
    #[error("{0}")]
    Dropped(&'static str),
    #[error("the lease was not committed in time")]
    CommitTimeout,
    #[error("the lease was not committed: {0}")]
    Commit(#[from] NodeError),
    #[error("the lease write was refused ({status}): {body}")]
    Refused {
        status: u16,
        body: serde_json::Value,
    },
    #[error("sending the reply to {to}: {source}")]
    Send {
        to: SocketAddrV4,
        source: std::io::Error,
    },
    #[error("sending the reply to {0} timed out")]
    SendTimeout(SocketAddrV4),
    #[error("the lease kept changing under the decision")]
    KeptChanging,
}
