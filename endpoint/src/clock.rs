//! The wall clock as the replicated state records it: milliseconds since the Unix epoch.
//! Kept at the bottom of the module graph so every layer can stamp requests without
//! reaching up into the HTTP layer.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
