//! Waiting on the cluster as a whole: a leader, convergence on the membership, catching up,
//! and removing a member.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::{wait_for, Cluster};

impl Cluster {
    /// One probe: a live node that some live node names as leader and that names itself.
    pub async fn try_leader(&self) -> Option<usize> {
        let live = self.live();
        let answers = futures::future::join_all(
            live.iter()
                .map(|&i| self.nodes[i].leader_id(Duration::from_millis(500))),
        )
        .await;
        let mut candidates: Vec<usize> = answers
            .into_iter()
            .filter_map(|a| a.ok())
            .filter_map(|id| self.index_of(&id))
            .filter(|i| live.contains(i))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for c in candidates {
            if let Ok(id) = self.nodes[c].leader_id(Duration::from_millis(500)).await {
                if id == self.nodes[c].consensus_id() {
                    return Some(c);
                }
            }
        }
        None
    }

    /// The current leader's index, waiting up to 10 s for one.
    pub async fn leader(&self) -> Result<usize> {
        self.wait_leader(Duration::from_secs(10)).await
    }

    pub async fn wait_leader(&self, timeout: Duration) -> Result<usize> {
        wait_for(timeout, "a leader", async || Ok(self.try_leader().await)).await
    }

    /// Wait until every live node reports `voters` voters, exactly one leader, and the same
    /// LeaderID (a live node). Returns the leader's index.
    pub async fn wait_converged(&self, voters: usize, timeout: Duration) -> Result<usize> {
        wait_for(
            timeout,
            &format!("{voters} voters and one agreed leader"),
            async || {
                let live = self.live();
                let states =
                    futures::future::join_all(live.iter().map(|&i| self.nodes[i].state())).await;
                let mut leader: Option<String> = None;
                for (&i, st) in live.iter().zip(states) {
                    let st = st.with_context(|| format!("state of {}", self.nodes[i].name))?;
                    if st.voters().len() != voters {
                        bail!(
                            "{} sees {} voters: {:?}",
                            self.nodes[i].name,
                            st.voters().len(),
                            st.voter_ids()
                        );
                    }
                    let leaders = st.leaders();
                    if leaders.len() != 1
                        || st.leader_id.is_empty()
                        || leaders[0].consensus_id != st.leader_id
                    {
                        bail!(
                            "{} sees no single leader: LeaderID={:?}, roles={:?}",
                            self.nodes[i].name,
                            st.leader_id,
                            st.nodes.iter().map(|n| n.role.clone()).collect::<Vec<_>>()
                        );
                    }
                    match &leader {
                        None => leader = Some(st.leader_id.clone()),
                        Some(l) if *l != st.leader_id => {
                            bail!("leaders disagree: {l} vs {}", st.leader_id)
                        }
                        Some(_) => {}
                    }
                }
                let l = leader.ok_or_else(|| anyhow!("no live node"))?;
                let idx = self
                    .index_of(&l)
                    .ok_or_else(|| anyhow!("leader {l} is not a harness node"))?;
                if !live.contains(&idx) {
                    bail!("leader {l} is not live");
                }
                Ok(Some(idx))
            },
        )
        .await
    }

    /// `DELETE /system/consensus/node/<id>` through whoever leads, retried until the leader's
    /// membership no longer names it (a leadership change during the removal answers 503,
    /// and an operator or the manager retries).
    pub async fn remove_member(&self, id: &str) -> Result<()> {
        wait_for(
            Duration::from_secs(30),
            &format!("removing member {id}"),
            async || {
                let l = self.wait_leader(Duration::from_secs(10)).await?;
                let r = self.nodes[l]
                    .delete(&format!("/system/consensus/node/{id}"))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await?;
                if r.is_success() || r.status == 404 {
                    let st = self.nodes[l].state().await?;
                    return Ok(st.nodes.iter().all(|n| n.consensus_id != id).then_some(()));
                }
                bail!("{} -> {}: {}", r.what, r.status, r.text())
            },
        )
        .await
    }

    /// Wait until every live node has applied at least the leader's current commit index.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<()> {
        let l = self.leader().await?;
        let target = self.nodes[l].state().await?.commit_index;
        for i in self.live() {
            let node = &self.nodes[i];
            wait_for(
                timeout,
                &format!("{} to apply index {target}", node.name),
                async || {
                    let st = node.state().await?;
                    Ok((st.applied_index >= target).then_some(()))
                },
            )
            .await?;
        }
        Ok(())
    }
}
