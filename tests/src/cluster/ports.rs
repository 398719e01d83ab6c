//! Free loopback ports, never handed out twice by one process.

use std::collections::HashSet;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback TCP port that was free a moment ago and that this process has not handed out.
pub fn free_port() -> Result<u16> {
    for _ in 0..1000 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let mut g = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if g.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    bail!("no free port found")
}
