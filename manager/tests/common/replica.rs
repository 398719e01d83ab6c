//! The manager's replica as its tests watch it: an endpoint's `Replica` block, and an event
//! websocket (the manager's, the gateway's proxy of a cluster's, or a member's own).

use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

use super::{wait, Manager, PASSWORD};

/// How long a replica may take to reach a state (a re-list on a loaded machine included).
pub const REPLICA_WAIT: Duration = Duration::from_secs(120);

/// Endpoint `id`'s `Replica` block (Index, Current, Error, Objects, Lists, Resumes, Events).
pub fn replica(m: &Manager, id: &str) -> Value {
    m.endpoint(id)["Replica"].clone()
}

/// Waits until `id`'s replica satisfies `ok`; the replica block then.
pub fn wait_replica(m: &Manager, id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    wait(REPLICA_WAIT, || {
        let r = replica(m, id);
        ok(&r).then_some(r)
    })
    .unwrap_or_else(|| panic!("{id}: never {what}: {}", replica(m, id)))
}

/// A plain-HTTP event websocket on `127.0.0.1:<port><path>` with the admin's credentials,
/// registered for `pattern`.
pub struct EventSocket(pub tungstenite::WebSocket<TcpStream>);

impl EventSocket {
    pub fn open(port: u16, path: &str, pattern: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut req = format!("ws://127.0.0.1:{port}{path}")
            .into_client_request()
            .unwrap();
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{PASSWORD}", proto::paths::ADMIN_USER));
        req.headers_mut()
            .insert("authorization", format!("Basic {token}").parse().unwrap());
        let (mut ws, _) = tungstenite::client(req, stream).expect("websocket handshake");
        ws.send(Message::Text(format!("register {pattern}").into()))
            .unwrap();
        let mut socket = EventSocket(ws);
        let ack = socket.next();
        assert_eq!(ack["Action"], "register", "{ack}");
        socket
    }

    /// The next JSON message (pings and other frames skipped).
    pub fn next(&mut self) -> Value {
        loop {
            match self.0.read().expect("a message within the read timeout") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                _ => continue,
            }
        }
    }
}
