//! How the manager reaches an endpoint's cluster: seed URLs, the stored credentials (the
//! password sealed at rest), and the trust anchor.

use serde_json::Value;
use versionsets::Endpoint;

use super::Manager;
use crate::cluster::trust::{self, Anchor};
use crate::cluster::Connection;
use crate::crypto::{self, SEALED_PREFIX};

impl Manager {
    /// What the endpoint's cluster certificates must verify to: `manager/ca`, else the pinned
    /// certificate, else nothing yet.
    pub fn anchor(&self, ep: &Endpoint) -> Anchor {
        if let Some(ca) = ep.params.get(trust::CA_PARAM) {
            return trust::anchor_from_param(ca);
        }
        match self.registry.pin(&ep.id) {
            Some(pin) => pin.anchor(),
            None => Anchor::Unpinned,
        }
    }

    /// Connection params of an endpoint, the password opened.
    pub fn connection(&self, ep: &Endpoint) -> Connection {
        let text = |k: &str| ep.params.get(k).and_then(Value::as_str).map(str::to_owned);
        let mut seeds = Vec::new();
        if let Some(u) = text("manager/url") {
            seeds.push(u);
        }
        match ep.params.get("manager/urls") {
            Some(Value::Array(list)) => {
                seeds.extend(list.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            Some(Value::String(s)) => seeds.extend(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
        let password = text("manager/password").and_then(|p| match self.sealer.open(&p) {
            Ok(clear) => Some(clear),
            Err(e) => {
                tracing::warn!(endpoint = %ep.id, "cannot open the stored password: {e}");
                None
            }
        });
        Connection {
            seeds,
            username: text("manager/username"),
            password,
            anchor: self.anchor(ep),
        }
    }

    /// Seals a clear `manager/password`; keeps the stored one when the masked value comes back.
    pub fn seal_params(&self, ep: &mut Endpoint, previous: Option<&Endpoint>) {
        if let Some(Value::String(p)) = ep.params.get("manager/password").cloned() {
            if p == crypto::MASK {
                match previous.and_then(|prev| prev.params.get("manager/password")) {
                    Some(old) => {
                        ep.params.insert("manager/password".into(), old.clone());
                    }
                    None => {
                        ep.params.remove("manager/password");
                    }
                }
            } else if !p.starts_with(SEALED_PREFIX) {
                ep.params.insert(
                    "manager/password".into(),
                    Value::String(self.sealer.seal(&p)),
                );
            }
        }
    }
}
