//! What `GET /api/v3/rollout` shows: the rollout in force, per wave and per endpoint.

use serde::Serialize;

/// Rollout states (`State`).
pub const IDLE: &str = "idle";
pub const RUNNING: &str = "running";
pub const PAUSED: &str = "paused";
pub const HALTED: &str = "halted";
pub const DONE: &str = "done";

/// Wave states.
pub const PENDING: &str = "pending";
pub const APPLYING: &str = "applying";
pub const GATING: &str = "gating";
pub const PASSED: &str = "passed";

/// The rollout of one commit.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    /// The rollout's `Id` (none: the repository declares no rollout; every endpoint applies
    /// as soon as its desired state changes).
    pub rollout: Option<String>,
    /// The commit being rolled out.
    pub commit: Option<String>,
    pub state: String,
    /// Set by `rollout pause`: no further endpoint starts until `rollout resume`.
    pub paused: bool,
    pub halt: Option<Halt>,
    /// A newer commit that arrived while halted: it starts (from the first wave) on resume.
    pub waiting_commit: Option<String>,
    pub gate_enabled: bool,
    pub settle_seconds: u64,
    /// Manager clock, ms since the epoch.
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    pub waves: Vec<WaveStatus>,
    pub endpoints: Vec<EndpointStatus>,
}

/// Why the rollout stopped.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Halt {
    pub endpoint: String,
    pub wave: String,
    pub commit: String,
    pub reason: String,
    pub at_ms: u64,
}

/// One wave of the rollout.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaveStatus {
    pub name: String,
    pub endpoints: Vec<String>,
    pub max_parallel: usize,
    pub state: String,
    /// When its first endpoint was released, every endpoint had applied, and the gate passed.
    pub started_ms: Option<u64>,
    pub applied_ms: Option<u64>,
    pub passed_ms: Option<u64>,
    /// The gate's last reading of this wave.
    pub gate: Option<GateReading>,
}

/// One reading of a wave's health gate.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GateReading {
    pub at_ms: u64,
    pub healthy: bool,
    /// Since when every check has held without a break.
    pub healthy_since_ms: Option<u64>,
    /// What failed, one line per endpoint and check.
    pub problems: Vec<String>,
}

/// One endpoint's place in the rollout.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointStatus {
    pub endpoint: String,
    pub wave: String,
    pub desired_commit: Option<String>,
    pub desired_hash: Option<String>,
    pub applied_commit: Option<String>,
    pub applied_hash: Option<String>,
    /// Released to apply the rollout's commit (by its wave and `MaxParallel`).
    pub released: bool,
    pub released_ms: Option<u64>,
    /// When the manager first saw the rollout's desired state applied.
    pub applied_ms: Option<u64>,
    /// Why it is not applied (a refusal, a desired state that cannot be computed).
    pub error: Option<String>,
}

impl Status {
    pub fn endpoint(&self, id: &str) -> Option<&EndpointStatus> {
        self.endpoints.iter().find(|e| e.endpoint == id)
    }

    pub fn endpoint_mut(&mut self, id: &str) -> Option<&mut EndpointStatus> {
        self.endpoints.iter_mut().find(|e| e.endpoint == id)
    }
}

/// Milliseconds since the epoch on the manager's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
