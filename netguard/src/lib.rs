//! Connection handling for listeners facing untrusted networks, in the manner of hardened
//! proxies (nginx, envoy): accepting never waits on a client; connections are capped per
//! source and in total (the oldest idle one shed first); the TLS handshake, the first
//! request's headers and idle keep-alive each have a deadline; request bodies have a minimum
//! rate; and token buckets rate-limit requests per key.
#![warn(missing_docs)]

mod accept;
mod body_rate;
mod guarded;
mod http;
mod limits;
mod rate;
mod registry;
mod request_limit;

pub use accept::{on_handshake_failure, LiveConfig};
pub use body_rate::TooSlow;
pub use guarded::{tls_incoming, Guarded};
pub use http::{peer_of, serve, Served};
pub use limits::{ConnArgs, ConnLimits, RateArgs};
pub use rate::{retry_after_secs, RateLimiter};
pub use registry::{ConnState, Counters, Refusal, Registry, Slot, SourceKey};
pub use request_limit::{enforce, RequestLimit, SourceIp};
