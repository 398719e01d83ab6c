//! Dashboard sessions: a random token in an HttpOnly, SameSite=Strict cookie, kept in memory
//! (a manager restart logs everyone out, which is fine for an operator's page).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};

const COOKIE: &str = "drp_manager_session";
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
const MAX_SESSIONS: usize = 1024;
pub const CLEARED: &str = "drp_manager_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0";

static SESSIONS: LazyLock<Mutex<HashMap<String, Instant>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A new session; the `Set-Cookie` value for it.
pub fn open() -> String {
    let token = hex::encode(rand::random::<[u8; 32]>());
    if let Ok(mut s) = SESSIONS.lock() {
        s.retain(|_, at| at.elapsed() < LIFETIME);
        if s.len() >= MAX_SESSIONS {
            // Oldest first out: a flood of logins cannot grow memory without bound.
            if let Some(oldest) = s.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone()) {
                s.remove(&oldest);
            }
        }
        s.insert(token.clone(), Instant::now());
    }
    format!(
        "{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

pub fn valid(headers: &HeaderMap) -> bool {
    let Some(t) = token(headers) else {
        return false;
    };
    SESSIONS
        .lock()
        .map(|s| s.get(&t).is_some_and(|at| at.elapsed() < LIFETIME))
        .unwrap_or(false)
}

pub fn close(headers: &HeaderMap) {
    if let (Some(t), Ok(mut s)) = (token(headers), SESSIONS.lock()) {
        s.remove(&t);
    }
}
