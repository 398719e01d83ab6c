//! The cluster version, negotiated as etcd does it: every member publishes its attributes
//! (binary version, newest command version, features) through Raft when it starts serving,
//! and the effective command version and feature set are the minimum over the current
//! voters' published records. A voter that has published nothing counts as the oldest
//! build (command version 1, the features every build has had).
//!
//! A command of a newer version is proposed only when every voter understands it
//! ([`require`]); a member that still meets one it cannot apply stops applying ([`check_entry`])
//! instead of skipping it, so its state never diverges silently.

use std::collections::BTreeSet;
use std::time::Duration;

use super::error::UpgradeError;
use crate::command::{Op, Request, COMMAND_VERSION};
use crate::node::Node;
use crate::store::member_attributes::{self, AllAttributes, Attributes};
pub use crate::store::member_attributes::{check_entry, local_command_version, set_cap, stopped};

/// The feature flag of command version 2 (`SetUpgradeTarget`).
pub const UPGRADE_TARGET_FEATURE: &str = "upgrade-target";

/// What this member publishes about itself.
pub fn local() -> Attributes {
    let command_version = local_command_version();
    let mut version = env!("CARGO_PKG_VERSION").to_string();
    if command_version < COMMAND_VERSION {
        // Tells the capped "old build" apart in NodeInfo.Version and in test output.
        version.push_str(&format!("-cmd{command_version}"));
    }
    Attributes {
        version,
        command_version,
        features: features_of(command_version),
    }
}

/// The features a build of `command_version` has.
fn features_of(command_version: u32) -> Vec<String> {
    let mut f = crate::packs::prereqs::advertised();
    if command_version >= 2 {
        f.push(UPGRADE_TARGET_FEATURE.to_string());
    }
    f
}

/// The cluster's effective version, from the voters' published attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub command_version: u32,
    pub features: Vec<String>,
    /// Each voter with its published version and command version ("unpublished" when none).
    pub voters: Vec<(String, String, u32)>,
}

/// The minimum over `voters` (ConsensusIDs) of their attributes in `all`.
pub fn effective(all: &AllAttributes, voters: &[String]) -> Effective {
    let oldest = Attributes {
        version: "unpublished".to_string(),
        command_version: 1,
        features: features_of(1),
    };
    let mut command_version = COMMAND_VERSION;
    let mut features: Option<BTreeSet<String>> = None;
    let mut listed = Vec::new();
    for id in voters {
        let a = all.get(id).unwrap_or(&oldest);
        command_version = command_version.min(a.command_version);
        let mine: BTreeSet<String> = a.features.iter().cloned().collect();
        features = Some(match features {
            None => mine,
            Some(f) => f.intersection(&mine).cloned().collect(),
        });
        listed.push((id.clone(), a.version.clone(), a.command_version));
    }
    Effective {
        command_version,
        features: features
            .map(|f| f.into_iter().collect())
            .unwrap_or_else(|| features_of(command_version)),
        voters: listed,
    }
}

/// The cluster's effective version as this member's applied state and membership see it.
pub fn of_cluster(node: &Node) -> Effective {
    let m = node.metrics();
    let voters: Vec<String> = m
        .voters
        .iter()
        .filter_map(|id| m.member(*id).map(|i| i.consensus_id.clone()))
        .collect();
    let all = member_attributes::read_all(&node.store).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "reading member attributes");
        AllAttributes::new()
    });
    effective(&all, &voters)
}

/// The features the whole cluster supports (`/api/v3/info` `features`).
pub fn cluster_features(node: &Node) -> Vec<String> {
    of_cluster(node).features
}

/// Refuses (409) an op of a command version some voter does not understand yet, naming the
/// members that lack it. Called after a read barrier, so the view is the cluster's latest.
pub fn require(node: &Node, op: &Op) -> Result<(), UpgradeError> {
    refusal(&of_cluster(node), op).map_or(Ok(()), |why| Err(UpgradeError::conflict(why)))
}

fn refusal(eff: &Effective, op: &Op) -> Option<String> {
    let needed = op.command_version();
    if needed <= eff.command_version {
        return None;
    }
    let behind: Vec<String> = eff
        .voters
        .iter()
        .filter(|(_, _, v)| *v < needed)
        .map(|(id, version, v)| format!("{id} runs {version} (command version {v})"))
        .collect();
    Some(format!(
        "{} needs command version {needed} on every voter; not yet supported by: {}",
        op.kind(),
        behind.join(", ")
    ))
}

/// Publishes this member's attributes through the leader until they are committed (and
/// again whenever the replicated record differs, e.g. after a restore), stopping on shutdown.
pub fn spawn_publisher(
    node: Node,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let me = local();
        let id = node.settings.consensus_id.clone();
        loop {
            let published = member_attributes::read_all(&node.store)
                .ok()
                .and_then(|all| all.get(&id).cloned());
            if published.as_ref() != Some(&me) && !node.is_unjoined() {
                let req = Request {
                    idempotency: None,
                    at_ms: crate::clock::now_ms(),
                    if_match: None,
                    principal: None,
                    op: Op::MemberAttributes {
                        id: id.clone(),
                        version: me.version.clone(),
                        command_version: me.command_version,
                        features: me.features.clone(),
                    },
                };
                match node.write(req).await {
                    Ok(_) => tracing::info!(version = %me.version,
                        command_version = me.command_version, "published member attributes"),
                    Err(e) => tracing::warn!(error = %e, "publishing member attributes"),
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::member_attributes::tests::target_req;

    fn attrs(v: &str, cmd: u32) -> Attributes {
        Attributes {
            version: v.into(),
            command_version: cmd,
            features: features_of(cmd),
        }
    }

    #[test]
    fn the_cluster_version_is_the_minimum_over_voters_and_unpublished_counts_as_oldest() {
        let voters: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let mut all = AllAttributes::new();
        all.insert("a".into(), attrs("new", 2));
        all.insert("b".into(), attrs("new", 2));
        let eff = effective(&all, &voters);
        assert_eq!(eff.command_version, 1, "c has published nothing");
        assert!(!eff.features.contains(&UPGRADE_TARGET_FEATURE.to_string()));
        let why = refusal(&eff, &target_req().op).expect("refused");
        assert!(
            why.contains("c runs unpublished (command version 1)"),
            "{why}"
        );
        assert!(!why.contains("a runs"), "{why}");

        all.insert("c".into(), attrs("new", 2));
        // A non-voter's old record does not hold the cluster back.
        all.insert("learner".into(), attrs("old", 1));
        let eff = effective(&all, &voters);
        assert_eq!(eff.command_version, 2);
        assert!(eff.features.contains(&UPGRADE_TARGET_FEATURE.to_string()));
        assert_eq!(refusal(&eff, &target_req().op), None);
    }
}
