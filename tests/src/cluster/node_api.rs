//! A node's API from the harness: request builders, readiness and consensus reads.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::{wait_for, ClusterState, Node};
use crate::http::{Http, Req};

impl Node {
    pub fn http(&self) -> &Http {
        &self.http
    }
    pub fn get(&self, path: &str) -> Req<'_> {
        self.http.get(self.api(path))
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.http.post(self.api(path))
    }
    pub fn put(&self, path: &str) -> Req<'_> {
        self.http.put(self.api(path))
    }
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.http.delete(self.api(path))
    }
    pub fn head(&self, path: &str) -> Req<'_> {
        self.http.head(self.api(path))
    }

    /// Wait until `GET /api/v3/info` answers 200, then learn the ConsensusID.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut last: String;
        loop {
            if let Some(st) = self.exited() {
                self.child = None;
                bail!("{} exited during startup: {st}", self.name);
            }
            match self
                .get("/info")
                .timeout(Duration::from_secs(1))
                .send()
                .await
            {
                Ok(r) if r.status == 200 => break,
                Ok(r) => last = format!("status {}: {}", r.status, r.text()),
                Err(e) => last = format!("{e:#}"),
            }
            if start.elapsed() > timeout {
                bail!("{} not ready after {timeout:?}: {last}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let id: String = wait_for(Duration::from_secs(5), "consensus id", async || {
            let r = self
                .get("/system/consensus/id")
                .timeout(Duration::from_secs(1))
                .send()
                .await?
                .expect(200)?;
            let id: String = r.json()?;
            Ok((!id.is_empty()).then_some(id))
        })
        .await?;
        if let Some(old) = &self.consensus_id {
            if *old != id {
                bail!(
                    "{} changed its ConsensusID across a restart: {old} -> {id}",
                    self.name
                );
            }
        }
        self.consensus_id = Some(id);
        Ok(())
    }

    /// `GET /system/consensus/state` with a short timeout.
    pub async fn state(&self) -> Result<ClusterState> {
        self.get("/system/consensus/state")
            .timeout(Duration::from_secs(2))
            .send()
            .await?
            .expect(200)?
            .json()
    }

    /// `GET /system/consensus/leader` ("" during an election).
    pub async fn leader_id(&self, timeout: Duration) -> Result<String> {
        self.get("/system/consensus/leader")
            .timeout(timeout)
            .send()
            .await?
            .expect(200)?
            .json()
    }

    /// `POST /profiles {"Name": name, "Params": params}`.
    pub async fn create_profile(&self, name: &str, params: Value) -> Result<crate::http::Resp> {
        self.post("/profiles")
            .json(&json!({"Name": name, "Description": "harness", "Params": params}))
            .send()
            .await
    }
}
