//! The node as the layers below it see it: auth, certificate rotation and the metrics
//! scrape each declare what they need from the member (a trait or axum state), and the
//! node provides it here, so none of them has to import `Node`.

use super::Node;
use crate::auth::{CredentialCache, Directory};
use crate::command::{Request, Response};
use crate::raft::network::Channels;
use crate::store::ObjectStore;
use crate::tls::rotation::Live;
use crate::tls::{RotationHost, TlsError};

impl Directory for Node {
    fn store(&self) -> &ObjectStore {
        &self.store
    }

    fn credentials(&self) -> &CredentialCache {
        &self.credentials
    }

    fn local_admin_password(&self) -> Option<&str> {
        self.settings.admin_password.as_deref()
    }

    async fn catch_up(&self) -> bool {
        self.read_barrier().await.is_ok()
    }
}

impl RotationHost for Node {
    fn store(&self) -> &ObjectStore {
        &self.store
    }

    fn live(&self) -> &Live {
        &self.tls
    }

    fn consensus_id(&self) -> &str {
        &self.settings.consensus_id
    }

    fn channels(&self) -> &Channels {
        &self.channels
    }

    fn member_api_urls(&self) -> Vec<String> {
        self.raft
            .members()
            .into_values()
            .map(|info| info.api_url)
            .collect()
    }

    async fn commit(&self, req: Request) -> Result<Response, TlsError> {
        self.write(req).await.map_err(|e| TlsError::Refused {
            status: e.status(),
            message: e.to_string(),
        })
    }
}

/// `/metrics` on the API router, whose state is the node.
impl axum::extract::FromRef<Node> for crate::metrics::http::ScrapeSource {
    fn from_ref(node: &Node) -> Self {
        node.scrape_source()
    }
}
