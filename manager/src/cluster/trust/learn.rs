//! Learning the certificate an https member presents, on first use.

use std::time::Duration;

use proto::paths;

use super::client::{capture_client, cluster_client};
use super::refusal::describe;
use super::{pin_from_chain, Pin};

/// First use of an https member: one unauthenticated request over a capturing connection
/// (any HTTP answer will do: only the handshake matters), and the certificate to pin from the
/// chain presented. Credentials then go only over connections verified against that pin.
pub async fn learn(url: &str, timeout: Duration) -> Result<Pin, LearnError> {
    let (client, capture) = capture_client().map_err(|e| LearnError::Failed(e.to_string()))?;
    client
        .get(format!("{}{}", url.trim_end_matches('/'), paths::INFO))
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| LearnError::Failed(describe(&e)))?;
    let chain = capture
        .chain()
        .ok_or_else(|| LearnError::Failed(format!("{url} presented no certificate")))?;
    pin_from_chain(&chain, url).map_err(|e| LearnError::Untrusted(e.0))
}

/// First use of an https member, ready to call: the certificate learnt (see [`learn`]) and a
/// client verifying against it, over which the credentials may then go.
pub async fn first_use(url: &str, timeout: Duration) -> Result<(reqwest::Client, Pin), LearnError> {
    let pin = learn(url, timeout).await?;
    let client = cluster_client(&pin.anchor()).map_err(|e| LearnError::Failed(e.to_string()))?;
    Ok((client, pin))
}

/// Why nothing could be learnt from a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnError {
    /// It did not answer.
    Failed(String),
    /// It answered with a chain that does not even verify to its own last certificate.
    Untrusted(String),
}

impl std::fmt::Display for LearnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(m) | Self::Untrusted(m) => f.write_str(m),
        }
    }
}

pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}
