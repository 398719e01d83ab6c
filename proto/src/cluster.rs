//! `ClusterState`: what a member serves at `GET /api/v3/system/consensus/state` (DESIGN.md), the
//! one definition the endpoint serializes and the manager and the tests read.
//!
//! Our fields (`LeaderID`, `Term`, `Role`, `MatchIndex`, ...) sit beside DRP's own
//! `ClusterState`/`NodeInfo` names so DRP's clients read it too. Reading is lenient: every field
//! defaults and unknown fields are ignored, so a member newer than its reader (more fields) or
//! older (fewer) still parses.

use serde::{Deserialize, Serialize};

/// Role of a member in [`NodeInfo::role`].
pub const LEADER: &str = "leader";
/// A member that replicates the leader's log and votes.
pub const FOLLOWER: &str = "follower";
/// A non-voting member catching up before it is promoted (or kept as an observer).
pub const LEARNER: &str = "learner";

/// What a member serves at `GET /api/v3/system/consensus/state`: the cluster as it sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterState {
    /// The cluster's HA identifier, shared by every member (`--ha-id`).
    #[serde(rename = "HaID")]
    pub ha_id: String,
    /// The leader's ConsensusID, empty during an election.
    #[serde(rename = "LeaderID")]
    pub leader_id: String,
    /// The leader's API URL (DRP's name).
    #[serde(rename = "ActiveUri")]
    pub active_uri: String,
    /// The answering member's current Raft term.
    #[serde(rename = "Term")]
    pub term: u64,
    /// Highest log index the answering member knows to be committed.
    #[serde(rename = "CommitIndex")]
    pub commit_index: u64,
    /// Highest log index the answering member has applied to its store.
    #[serde(rename = "AppliedIndex")]
    pub applied_index: u64,
    /// Every member in the membership, voters and learners alike.
    #[serde(rename = "Nodes")]
    pub nodes: Vec<NodeInfo>,
    /// Whether HA is on (always true for our endpoint; DRP's name).
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    /// Whether the consensus layer runs (always true for our endpoint; DRP's name).
    #[serde(rename = "ConsensusEnabled")]
    pub consensus_enabled: bool,
    /// The API URL a joining node is pointed at: the leader's.
    #[serde(rename = "ConsensusJoin")]
    pub consensus_join: String,
    /// The cluster's virtual address, empty when none is configured (DRP's name).
    #[serde(rename = "VirtAddr")]
    pub virt_addr: String,
    /// Whether the answering member sees a leader (the cluster can serve writes).
    #[serde(rename = "Valid")]
    pub valid: bool,
    /// Whether a load balancer fronts the cluster instead of a virtual address (DRP's name).
    #[serde(rename = "LoadBalanced")]
    pub load_balanced: bool,
    /// The answering member's host name.
    #[serde(rename = "ServerHostname")]
    pub server_hostname: String,
}

/// One member, as in `ClusterState.Nodes` and `GET /api/v3/system/consensus/peers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeInfo {
    /// The member's stable Raft identity, kept in its data dir.
    #[serde(rename = "ConsensusID")]
    pub consensus_id: String,
    /// `host:port` where the member's consensus (gRPC) listener is reached.
    #[serde(rename = "ConsensusAddr")]
    pub consensus_addr: String,
    /// The member's API base URL (`https://host:port`).
    #[serde(rename = "ApiUrl")]
    pub api_url: String,
    /// [`LEADER`], [`FOLLOWER`] or [`LEARNER`].
    #[serde(rename = "Role")]
    pub role: String,
    /// Whether the member votes (a learner does not).
    #[serde(rename = "Voter")]
    pub voter: bool,
    /// Whether the member is a non-voting observer (DRP's name).
    #[serde(rename = "Observer")]
    pub observer: bool,
    /// The leader's replication progress for this member; `null` when the answering member
    /// does not know it (no leader, or the leader did not answer).
    #[serde(rename = "MatchIndex")]
    pub match_index: Option<u64>,
    /// Whether the leader currently reaches the member.
    #[serde(rename = "Online")]
    pub online: bool,
    /// Every member but the leader (DRP's name).
    #[serde(rename = "Passive")]
    pub passive: bool,
    /// `!Online` (DRP's name).
    #[serde(rename = "Offline")]
    pub offline: bool,
    /// The member's binary version; versions are not replicated, so only the answering member
    /// fills its own.
    #[serde(rename = "Version")]
    pub version: String,
    /// The sha256 of the member's binary; as `Version`.
    #[serde(rename = "ShaSum")]
    pub sha_sum: String,
    /// `MatchIndex`, 0 when unknown (DRP's name).
    #[serde(rename = "LastArtifactCommitHandled")]
    pub last_artifact_commit_handled: u64,
    /// Network interface the virtual address is put on (DRP's name).
    #[serde(rename = "VirtInterface")]
    pub virt_interface: String,
    /// Script DRP runs to move the virtual address (DRP's name).
    #[serde(rename = "VirtInterfaceScript")]
    pub virt_interface_script: String,
}

impl ClusterState {
    /// The members that vote, in membership order.
    pub fn voters(&self) -> Vec<&NodeInfo> {
        self.nodes.iter().filter(|n| n.voter).collect()
    }

    /// The voters' ConsensusIDs, sorted.
    pub fn voter_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .voters()
            .iter()
            .map(|n| n.consensus_id.clone())
            .collect();
        v.sort();
        v
    }

    /// Members reporting themselves as leader (more than one only in a broken cluster).
    pub fn leaders(&self) -> Vec<&NodeInfo> {
        self.nodes.iter().filter(|n| n.role == LEADER).collect()
    }

    /// Membership as (id, addr, voter) sorted: what "membership unchanged" compares.
    pub fn membership(&self) -> Vec<(String, String, bool)> {
        let mut v: Vec<_> = self
            .nodes
            .iter()
            .map(|n| (n.consensus_id.clone(), n.consensus_addr.clone(), n.voter))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names on the wire are DESIGN.md's and DRP's, and a round trip keeps every field.
    #[test]
    fn wire_names_and_round_trip() {
        let st = ClusterState {
            ha_id: "ha".into(),
            leader_id: "n1".into(),
            active_uri: "https://a:8092".into(),
            term: 3,
            commit_index: 9,
            applied_index: 8,
            enabled: true,
            consensus_enabled: true,
            valid: true,
            nodes: vec![NodeInfo {
                consensus_id: "n1".into(),
                role: LEADER.into(),
                voter: true,
                match_index: Some(9),
                online: true,
                last_artifact_commit_handled: 9,
                ..NodeInfo::default()
            }],
            ..ClusterState::default()
        };
        let v = serde_json::to_value(&st).unwrap();
        for k in [
            "HaID",
            "LeaderID",
            "ActiveUri",
            "Term",
            "CommitIndex",
            "AppliedIndex",
            "Nodes",
            "Enabled",
            "ConsensusEnabled",
            "ConsensusJoin",
            "VirtAddr",
            "Valid",
            "LoadBalanced",
            "ServerHostname",
        ] {
            assert!(v.get(k).is_some(), "missing {k} in {v}");
        }
        let n = &v["Nodes"][0];
        for k in [
            "ConsensusID",
            "ConsensusAddr",
            "ApiUrl",
            "Role",
            "Voter",
            "Observer",
            "MatchIndex",
            "Online",
            "Passive",
            "Offline",
            "Version",
            "ShaSum",
            "LastArtifactCommitHandled",
        ] {
            assert!(n.get(k).is_some(), "missing Nodes[].{k} in {n}");
        }
        assert_eq!(n["MatchIndex"], 9);
        let back: ClusterState = serde_json::from_value(v).unwrap();
        assert_eq!(back, st);
    }

    /// A newer member's extra fields are ignored, an older member's missing ones default, and
    /// an unknown match index reads as `None`.
    #[test]
    fn reads_newer_and_older_members() {
        let st: ClusterState = serde_json::from_str(
            r#"{"HaID":"h","Term":4,"Future":{"x":1},
                "Nodes":[{"ConsensusID":"a","Role":"follower","MatchIndex":null,"NewField":true}]}"#,
        )
        .unwrap();
        assert_eq!(st.ha_id, "h");
        assert_eq!(st.term, 4);
        assert_eq!(st.leader_id, "");
        assert_eq!(st.nodes.len(), 1);
        assert_eq!(st.nodes[0].match_index, None);
        assert!(st.leaders().is_empty());
        assert!(st.voters().is_empty());
    }
}
