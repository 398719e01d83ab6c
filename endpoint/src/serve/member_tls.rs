//! Step 3, member TLS: the certificate this member proves itself with to its peers. Saved in
//! the data dir; else made with a new cluster CA when bootstrapping, or obtained from a member
//! when joining.

use super::bootstrap::Plan;
use super::raft_start::Consensus;
use super::shutdown::wait_for_signal;
use super::{ServeArgs, ServeError};
use crate::tls::hosts::api_hosts;
use crate::tls::{self, MemberTls, TlsDir};

/// How this start makes the node a member.
pub(super) struct Start<'a> {
    pub consensus_id: &'a str,
    pub ha_id: &'a str,
    pub api_url: &'a str,
    pub plan: &'a Plan,
}

/// The member certificate, which Raft then dials peers with; `None` when a signal came while
/// waiting to join.
pub(super) async fn obtain(
    args: &ServeArgs,
    consensus: &mut Consensus,
    start: Start<'_>,
) -> Result<Option<MemberTls>, ServeError> {
    if let Some(saved) = consensus.saved_member.take() {
        // Raft has dialled with it from its start.
        return Ok(Some(saved));
    }
    let Some(member) = new_member(args, start).await? else {
        return Ok(None);
    };
    consensus
        .channels
        .set_tls(tls::member_client_config(&member));
    Ok(Some(member))
}

/// A member certificate for a node that holds none: from a new cluster CA, or from a member.
async fn new_member(args: &ServeArgs, start: Start<'_>) -> Result<Option<MemberTls>, ServeError> {
    let tls_dir = TlsDir::new(&args.data_dir);
    let (member, api) = if start.plan.bootstrapping {
        let hosts = api_hosts(start.api_url);
        let (ha_id, consensus_id) = (start.ha_id.to_string(), start.consensus_id.to_string());
        let dir = args.data_dir.clone();
        // Key generation is CPU work: off the async workers.
        let made = tokio::task::spawn_blocking(move || {
            new_cluster_tls(&dir, &ha_id, &consensus_id, &hosts)
        })
        .await
        .map_err(ServeError::Task)?
        .map_err(ServeError::cert("creating the cluster CA"))?;
        tracing::info!(dir = %args.data_dir.join("tls").display(), "created the cluster CA");
        made
    } else if !start.plan.initialized && !args.join.is_empty() {
        let admin_password = args.admin_password.as_deref();
        let joined = tls::join::obtain(&args.join, start.consensus_id, admin_password);
        tokio::select! {
            r = joined => r.map_err(ServeError::Join)?,
            _ = wait_for_signal() => return Ok(None),
        }
    } else {
        return Err(ServeError::Config(format!(
            "{} holds no member certificate: start a new node with --bootstrap or --join",
            args.data_dir.join("tls").display()
        )));
    };
    tls_dir
        .save(&member, Some(&api))
        .map_err(ServeError::cert("saving the member certificate"))?;
    Ok(Some(member))
}

/// A new cluster's CA (its key kept in the data dir until the bootstrap seed replicates it),
/// this node's member certificate and the shared API certificate.
fn new_cluster_tls(
    data_dir: &std::path::Path,
    ha_id: &str,
    consensus_id: &str,
    hosts: &[String],
) -> Result<(MemberTls, tls::Pair), tls::CertError> {
    let ca = tls::authority::Authority::generate(ha_id)?;
    TlsDir::new(data_dir).save_ca_authority(&ca.stored())?;
    let member = MemberTls {
        ca_pem: ca.cert_pem().to_string(),
        member: ca.issue_own_member(consensus_id)?,
    };
    Ok((member, ca.issue_api(hosts)?))
}
