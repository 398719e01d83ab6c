//! Why the agent's step failed. The state machine logs it and starts over at AGENT_INIT (or,
//! with `--once`, exits with it), so each variant names the call or the file it was about.

use std::time::Duration;

/// The agent's results: most steps fail with an [`AgentError`].
pub type Result<T, E = AgentError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A flag or argument that cannot be used; the text names it.
    #[error("{0}")]
    Usage(String),
    /// A member's reply the agent cannot go on with: the call, its status and its body.
    #[error("{0}")]
    Reply(String),
    #[error("no member answered within {window:?}; last: {last}")]
    NoMember { window: Duration, last: String },
    #[error("the reply is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// An HTTP client step; `what` names it.
    #[error("{what}: {why}")]
    Http {
        what: &'static str,
        why: reqwest::Error,
    },
    /// A file step; `what` names it and the path.
    #[error("{what}: {why}")]
    File { what: String, why: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Cert(#[from] crate::tls::CertError),
    /// A TLS step of the event socket; `what` names it.
    #[error("{what}: {why}")]
    Tls {
        what: &'static str,
        why: rustls::Error,
    },
    #[error("the --ca file is not text: {0}")]
    CaNotText(std::str::Utf8Error),
    #[error("the endpoint URL: {0}")]
    Url(url::ParseError),
    #[error(transparent)]
    ServerName(#[from] rustls_pki_types::InvalidDnsNameError),
    #[error(transparent)]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error(transparent)]
    Header(#[from] tokio_tungstenite::tungstenite::http::header::InvalidHeaderValue),
    #[error("the event socket did not open in time")]
    EventsTimeout,
    /// `what` failed because of `why`.
    #[error("{what}: {why}")]
    In { what: String, why: Box<AgentError> },
}

impl AgentError {
    /// `map_err` for a file step; `what` names it and the path.
    pub fn file(what: String) -> impl FnOnce(std::io::Error) -> Self {
        move |why| AgentError::File { what, why }
    }

    /// `map_err` that says what was being done when `why` happened.
    pub fn during(what: String) -> impl FnOnce(AgentError) -> Self {
        move |why| AgentError::In {
            what,
            why: Box::new(why),
        }
    }
}
