//! Test support for the DRP HA endpoint: a harness that runs real `drp-endpoint` processes on
//! loopback ([`cluster`]), shared by the integration suites under `tests/` and by `drp-bench`.
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bench;
pub mod cluster;
pub mod fault;
pub mod hostile;
pub mod http;
pub mod netns;
pub mod pxe;
pub mod stats;
pub mod tls;
pub mod upgrade;
pub mod workload;
