//! DRP's render data: what `.` is when DRP renders a task, stage or bootenv template.
//!
//! The caller (the endpoint) gathers plain JSON from its store (the machine, its bootenv, the
//! param layers in DRP's resolution order, the param definitions) and this module gives it
//! DRP's template surface: `.Machine.*`, `.Env.*`, `.Param`, `.ParamExists`, `.ParamExpand`,
//! `.ApiURL`, `.ProvisionerURL`, `.ProvisionerAddress`, `.GenerateToken`, `.CallTemplate`, ...

use serde_json::{Map, Value};

use crate::RenderData;

/// Everything a DRP render needs, as plain JSON. Build it with
/// `DrpContext { machine: Some(m), ..Default::default() }` so new fields never break callers.
#[derive(Debug, Clone, Default)]
pub struct DrpContext {
    /// The machine being rendered for (`.Machine`), if any.
    pub machine: Option<Value>,
    /// The bootenv (`.Env`), if any.
    pub env: Option<Value>,
    /// The task being rendered (`.Task`), if any.
    pub task: Option<Value>,
    /// The machine's current stage (`.Stage`), if any.
    pub stage: Option<Value>,
    /// Param values, highest priority first: the machine's own `Params`, then each of its
    /// `Profiles` in order, then the stage's profiles, then the `global` profile.
    pub param_layers: Vec<Map<String, Value>>,
    /// Param definitions by name (the `params` objects), for `Default`s and `Secure`.
    pub param_defs: Map<String, Value>,
    /// `.ApiURL`: the API base users and agents reach (`https://host:8092`).
    pub api_url: String,
    /// `.ProvisionerURL`: the static file server base (`http://host:8091`).
    pub provisioner_url: String,
    /// `.ProvisionerAddress`: the provisioner's IP address.
    pub provisioner_address: String,
    /// What `.GenerateToken` / `.GenerateInfiniteToken` return (a machine token minted by the caller).
    pub token: String,
}

impl RenderData for DrpContext {
    fn lookup(&self, chain: &[&str], _args: &[Value]) -> Result<Value, String> {
        Err(format!("{} is not implemented yet", chain.join(".")))
    }
}
