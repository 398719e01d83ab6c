//! `POST /api/v3/system/consensus/certificate`: a joining node's CSR in, its member
//! certificate (plus the cluster CA and the shared API certificate) out. Admin only; any
//! member answers, from the CA in the replicated state.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::error::ApiError;
use crate::auth::{Principal, ADMIN_USER};
use crate::node::Node;
use crate::raft::node_id_of;
use crate::tls::authority::Authority;
use crate::tls::join::{CertificateReply, CertificateRequest};
use crate::tls::{stored_pair, API_CERT_KEY, CA_KEY};

/// `POST /api/v3/system/consensus/rotate`: a new member certificate for this member.
pub async fn rotate_member(State(node): State<Node>) -> Result<Response, ApiError> {
    let sha256 = node.tls.rotate_member(&node).await?;
    Ok(Json(serde_json::json!({
        "Certificate": "member",
        "ConsensusID": node.settings.consensus_id,
        "Sha256": sha256,
    }))
    .into_response())
}

/// `POST /api/v3/system/tls/rotate`: a new cluster API certificate, replicated.
pub async fn rotate_api(State(node): State<Node>) -> Result<Response, ApiError> {
    let (sha256, hosts) = crate::tls::rotation::rotate_api(&node).await?;
    Ok(Json(serde_json::json!({
        "Certificate": "api",
        "Sha256": sha256,
        "Hosts": hosts,
        "ServedHere": node.tls.serves_cluster_api_cert(),
    }))
    .into_response())
}

pub async fn issue(
    State(node): State<Node>,
    Extension(caller): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if caller.user != ADMIN_USER {
        return Err(ApiError::new(
            403,
            format!("{} may not issue member certificates", caller.user),
        ));
    }
    let req: CertificateRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body must be {{\"ConsensusID\": <uuid>, \"Csr\": <PEM>}}: {e}"
        ))
    })?;
    if node_id_of(&req.consensus_id).is_none() {
        return Err(ApiError::bad_request(format!(
            "ConsensusID {:?} is not a UUID",
            req.consensus_id
        )));
    }
    let unavailable = || {
        ApiError::unavailable(
            "this member has not received the cluster CA yet; ask another member or retry",
        )
    };
    let ca = stored_pair(&node.store, CA_KEY)?.ok_or_else(unavailable)?;
    let api = stored_pair(&node.store, API_CERT_KEY)?.ok_or_else(unavailable)?;
    let issued = tokio::task::spawn_blocking(move || {
        let authority = Authority::load(&ca)?;
        let certificate = authority.issue_member(&req.consensus_id, &req.csr)?;
        tracing::info!(member = %req.consensus_id, "issued a member certificate");
        Ok::<_, crate::tls::CertError>(CertificateReply {
            ca: authority.cert_pem().to_string(),
            certificate,
            api_certificate: api.cert_pem,
            api_key: api.key_pem,
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::new(422, format!("{e:#}")))?;
    Ok(Json(issued).into_response())
}
