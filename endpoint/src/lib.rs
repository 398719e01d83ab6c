//! `drp-endpoint`: one member of a Raft-replicated Digital Rebar Provision endpoint cluster.
//!
//! # Layers
//!
//! The top-level modules form layers; a module uses only modules below it, so a change to
//! the HTTP layer cannot reach the consensus layer. `endpoint/tests/module_layers.rs` fails
//! on any import circle (`cargo test -p endpoint --test module_layers -- --nocapture` prints
//! the graph). From the top:
//!
//! 1. `serve` (process wiring) and `api` (HTTP: routes, the auth middleware, and the one
//!    place domain errors become `ApiError` statuses and DRP error bodies).
//! 2. Services built on a node: `cluster`, `secure`, `boot`, `render`, `backup`, `limits`,
//!    `upgrade`. Each reports failures as its own error enum (`ClusterError`,
//!    `SecureError`, `RenderError`, ...).
//! 3. `node`: the member's shared state (Raft, store, peer channels, live certificates,
//!    credential cache) and its write and read paths (`NodeError`).
//! 4. `auth` (credentials, tokens, roles) and `tls` (certificates, rotation), which the node
//!    holds. They ask the node for what they need through traits it implements
//!    (`auth::Directory`, `tls::RotationHost`) rather than naming `Node`; `agent` (the
//!    drp-agent client) uses `tls`.
//! 5. `metrics` (counters and gauges; the node hands it a Raft sample, so it names no Raft
//!    metrics type), then `raft`, then `store`.
//! 6. Data and pure logic: `model`, `command`, `events`, `fill`, `packs`, `runtime`, `flag`,
//!    `identity`, `clock`, `host`.

pub mod agent;
pub mod api;
pub mod auth;
pub mod backup;
pub mod boot;
pub mod clock;
pub mod cluster;
pub mod command;
pub mod events;
pub mod fill;
pub mod flag;
pub mod host;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod node;
pub mod packs;
pub mod raft;
pub mod render;
pub mod runtime;
pub mod secure;
pub mod serve;
pub mod store;
pub mod tls;
pub mod upgrade;
