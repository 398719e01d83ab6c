//! Each registered cluster as the manager follows it: how to reach it ([`connection`]), what
//! the tracker believes ([`view`]), the members' watch streams that push a new leader
//! ([`push`]) and the polling behind them ([`poll`]), requests
//! that follow the leader across failover ([`send`]), which certificates its members may
//! present ([`trust`]), and an endpoint that is itself a manager ([`manager`]).

pub mod connection;
mod manager;
mod poll;
mod push;
mod send;
mod tracker;
pub mod trust;
pub mod view;

pub use connection::{Connection, PinError, PinSink};
pub use send::{Retry, SendError};
pub use tracker::Cluster;
pub use view::*;
