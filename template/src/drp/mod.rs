//! DRP's render data: what `.` is when DRP renders a task, stage or bootenv template.
//!
//! The caller (the endpoint) gathers plain JSON from its store (the machine, its bootenv, the
//! param layers in DRP's resolution order, the param definitions) and this module gives it
//! DRP's template surface (the `RenderData` of dr-provision's backend):
//!
//! - root: `.Param`, `.ParamExists`, `.ParamExpand`, `.ComposeParam` / `.ParamCompose`,
//!   `.ParamComposeExpand`, `.ParamAsJSON`, `.ParamAsYAML`, `.StringExpand`, `.ObjectExpand`,
//!   `.ApiURL` / `.ApiHostURL`, `.ProvisionerURL` / `.ProvisionerHostURL`, `.ProvisionerAddress`,
//!   `.GenerateToken`, `.GenerateInfiniteToken`, `.GenerateProfileToken`, `.BootParams`,
//!   `.BootParamsFor`, `.ParseUrl` / `.ParseURL`, `.NetmaskToCIDR`, `.InstallRepos`,
//!   `.MachineRepos`, `.Repos`, `.Info`, `.Task`, `.Stage`, and `.CallTemplate` (run by the engine);
//! - `.Machine`: its JSON fields plus `Name`, `UUID`, `Uuid`, `Address`, `HexAddress`,
//!   `ShortName`, `Path`, `Url`, `HasProfile`, `MacAddr`;
//! - `.Env`: its JSON fields plus `PathFor`, `PathForArch`, `InstallUrl`, `JoinInitrds`,
//!   `JoinInitrdsFor`, `Kernel`, `KernelFor`, `Initrds`, `InitrdsFor`, `BootParams`,
//!   `BootParamsFor`, `IsoFor`, `ShaFor`, `IsoUrlFor`, and on `.Env.OS`: `FamilyName`,
//!   `FamilyType`, `FamilyVersion`, `VersionEq`.

use serde_json::{Map, Value};

use crate::{RenderData, Resolved};

mod bootenv;
mod models;
mod params;
mod repos;

use bootenv::canonical_arch;
use models::{json_member, model_member, MACHINE_FIELDS};

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
    /// `.Info`: the endpoint's `/api/v3/info` object, if the caller has it.
    pub info: Option<Value>,
    /// The machine's MAC this render is for (`.Machine.MacAddr`): a bootenv's per-machine
    /// files are rendered once for each of its `HardwareAddrs`.
    pub mac: String,
}

/// Go's answer for a method called with the wrong number of arguments.
fn arity(method: &str, want: usize, args: &[Value]) -> Result<(), String> {
    if args.len() != want {
        return Err(format!(
            "wrong number of args for {method}: want {want} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn str_arg(args: &[Value], i: usize) -> Result<&str, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Null) | None => Err("invalid value; expected string".into()),
        Some(other) => Err(format!(
            "wrong type for value; expected string; got {}",
            json_type(other)
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Where a chain has got to while being resolved.
enum Cursor {
    Root,
    Machine,
    Env,
    EnvOs,
    Json(Value),
    Missing,
}

impl RenderData for DrpContext {
    fn lookup(&self, chain: &[&str], args: &[Value]) -> Result<Value, String> {
        match self.resolve(chain, args)? {
            Resolved::Value(v) | Resolved::Expand(v) | Resolved::Object(v) => Ok(v),
            Resolved::Missing => Ok(Value::Null),
        }
    }

    fn resolve(&self, chain: &[&str], args: &[Value]) -> Result<Resolved, String> {
        let mut cursor = Cursor::Root;
        for (i, name) in chain.iter().enumerate() {
            let last = i + 1 == chain.len();
            let call_args: &[Value] = if last { args } else { &[] };
            match self.step(cursor, name, call_args)? {
                Step::Cursor(c) => cursor = c,
                Step::Expand(v) if last => return Ok(Resolved::Expand(v)),
                Step::Expand(_) => {
                    return Err(format!("{name} renders a template and has no fields"));
                }
            }
        }
        Ok(match cursor {
            Cursor::Root => Resolved::Value(Value::Null),
            Cursor::Machine => Resolved::Object(self.machine.clone().unwrap_or(Value::Null)),
            Cursor::Env => Resolved::Object(self.env.clone().unwrap_or(Value::Null)),
            Cursor::EnvOs => Resolved::Object(self.env_os().clone()),
            Cursor::Json(v) => Resolved::Value(v),
            Cursor::Missing => Resolved::Missing,
        })
    }
}

enum Step {
    Cursor(Cursor),
    Expand(Value),
}

fn value(v: impl Into<Value>) -> Result<Step, String> {
    Ok(Step::Cursor(Cursor::Json(v.into())))
}

impl DrpContext {
    fn step(&self, cursor: Cursor, name: &str, args: &[Value]) -> Result<Step, String> {
        match cursor {
            Cursor::Root => self.root_member(name, args),
            Cursor::Machine => self.machine_member(name, args),
            Cursor::Env => self.env_member(name, args),
            Cursor::EnvOs => self.os_member(name, args),
            Cursor::Json(v) => json_member(&v, name, args),
            Cursor::Missing => Ok(Step::Cursor(Cursor::Missing)),
        }
    }

    fn root_member(&self, name: &str, args: &[Value]) -> Result<Step, String> {
        let no_args = |method: &str| arity(method, 0, args);
        match name {
            "Machine" => {
                no_args(name)?;
                if self.machine.is_none() {
                    return Ok(Step::Cursor(Cursor::Json(Value::Null)));
                }
                Ok(Step::Cursor(Cursor::Machine))
            }
            "Env" => {
                no_args(name)?;
                if self.env.is_none() {
                    return Ok(Step::Cursor(Cursor::Json(Value::Null)));
                }
                Ok(Step::Cursor(Cursor::Env))
            }
            "Task" | "Stage" | "Info" => {
                no_args(name)?;
                let v = match name {
                    "Task" => &self.task,
                    "Stage" => &self.stage,
                    _ => &self.info,
                };
                value(v.clone().unwrap_or(Value::Null))
            }
            "Param" => {
                arity(name, 1, args)?;
                value(self.param(str_arg(args, 0)?)?)
            }
            "ParamExists" => {
                arity(name, 1, args)?;
                value(self.param(str_arg(args, 0)?).is_ok())
            }
            "ParamExpand" | "ParamComposeExpand" => {
                arity(name, 1, args)?;
                let key = str_arg(args, 0)?;
                let v = if name == "ParamExpand" {
                    self.param(key)?
                } else {
                    self.compose_param(key)?
                };
                Ok(Step::Expand(v))
            }
            "ComposeParam" | "ParamCompose" => {
                arity(name, 1, args)?;
                value(self.compose_param(str_arg(args, 0)?)?)
            }
            "ParamAsJSON" => {
                arity(name, 1, args)?;
                let v = self.param(str_arg(args, 0)?)?;
                // Go's json.Encoder: HTML-escaped, one trailing newline.
                let text = serde_json::to_string(&v).map_err(|e| e.to_string())?;
                value(format!("{}\n", crate::sprig::go_json_escape(&text)))
            }
            "StringExpand" => {
                arity(name, 1, args)?;
                Ok(Step::Expand(Value::String(str_arg(args, 0)?.to_string())))
            }
            "ObjectExpand" => {
                arity(name, 1, args)?;
                Ok(Step::Expand(args[0].clone()))
            }
            "ParamAsYAML" => {
                arity(name, 1, args)?;
                let v = self.param(str_arg(args, 0)?)?;
                value(serde_yaml::to_string(&v).map_err(|e| e.to_string())?)
            }
            // This endpoint knows one base URL per service; the "Host" variants (by server
            // hostname rather than by address) answer the same.
            "ApiURL" | "ApiHostURL" => {
                no_args(name)?;
                value(self.api_url.clone())
            }
            "ProvisionerURL" | "ProvisionerHostURL" => {
                no_args(name)?;
                value(self.provisioner_url.clone())
            }
            "ProvisionerAddress" => {
                no_args(name)?;
                value(self.provisioner_address.clone())
            }
            "GenerateToken" => {
                no_args(name)?;
                value(self.token.clone())
            }
            "GenerateInfiniteToken" => {
                no_args(name)?;
                // DRP never hands an infinite token to an unknown machine.
                value(if self.machine.is_some() {
                    self.token.clone()
                } else {
                    String::new()
                })
            }
            "GenerateProfileToken" => {
                arity(name, 2, args)?;
                let profile = str_arg(args, 0)?;
                value(self.profile_token(profile))
            }
            "BootParams" => {
                no_args(name)?;
                let env = self.env.as_ref().ok_or("Missing bootenv")?;
                Ok(Step::Expand(Value::String(
                    self.arch_info(env, &self.machine_arch()).2,
                )))
            }
            "BootParamsFor" => {
                arity(name, 1, args)?;
                let env = self.env.as_ref().ok_or("Missing bootenv")?;
                Ok(Step::Expand(Value::String(
                    self.arch_info(env, str_arg(args, 0)?).2,
                )))
            }
            "ParseUrl" | "ParseURL" => {
                arity(name, 2, args)?;
                value(parse_url(str_arg(args, 0)?, str_arg(args, 1)?)?)
            }
            "NetmaskToCIDR" => {
                arity(name, 1, args)?;
                value(netmask_to_cidr(str_arg(args, 0)?)?)
            }
            "InstallRepos" => {
                no_args(name)?;
                value(self.install_repos())
            }
            "MachineRepos" => {
                no_args(name)?;
                value(self.machine_repos())
            }
            "Repos" => {
                let tags: Vec<&str> = args.iter().filter_map(Value::as_str).collect();
                let repos: Vec<Value> = self
                    .repos()
                    .into_iter()
                    .filter(|r| tags.contains(&field(r, "tag")))
                    .map(|r| self.repo_view(&r, ""))
                    .collect();
                value(repos)
            }
            other => Err(format!("can't evaluate field {other} in type *RenderData")),
        }
    }

    fn machine(&self) -> &Value {
        self.machine.as_ref().unwrap_or(&Value::Null)
    }

    fn machine_uuid(&self) -> &str {
        field(self.machine(), "Uuid")
    }

    fn machine_arch(&self) -> String {
        match field(self.machine(), "Arch") {
            "" => "amd64".into(),
            a => canonical_arch(a),
        }
    }

    fn machine_member(&self, name: &str, args: &[Value]) -> Result<Step, String> {
        let m = self.machine();
        let no_args = || arity(name, 0, args);
        match name {
            "UUID" | "Key" => {
                no_args()?;
                value(self.machine_uuid())
            }
            "Path" => {
                no_args()?;
                value(format!("machines/{}", self.machine_uuid()))
            }
            "Url" => {
                no_args()?;
                value(format!(
                    "{}/machines/{}",
                    self.provisioner_url,
                    self.machine_uuid()
                ))
            }
            "ShortName" => {
                no_args()?;
                let n = field(m, "Name");
                value(n.split('.').next().unwrap_or(n))
            }
            "HexAddress" => {
                no_args()?;
                value(hex_address(field(m, "Address")))
            }
            "HasProfile" => {
                arity(name, 1, args)?;
                value(self.has_profile(str_arg(args, 0)?))
            }
            "MacAddr" => {
                // DRP's formats: pxelinux's `01-aa-bb-..`, rpi4's dashes, else as stored.
                let format = match args.first() {
                    Some(_) => str_arg(args, 0)?,
                    None => "raw",
                };
                let mac = self.mac.to_ascii_lowercase();
                value(match format {
                    "pxe" | "pxelinux" => format!("01-{}", mac.replace(':', "-")),
                    "rpi4" => mac.replace(':', "-"),
                    _ => mac,
                })
            }
            _ => model_member(m, name, args, MACHINE_FIELDS),
        }
    }

    fn has_profile(&self, profile: &str) -> bool {
        self.machine()
            .get("Profiles")
            .and_then(Value::as_array)
            .is_some_and(|p| p.iter().any(|x| x.as_str() == Some(profile)))
    }

    /// DRP's `GenerateProfileToken` refusals are strings in the output, not errors. When the
    /// machine holds the profile, the caller's machine token stands in for a profile token.
    fn profile_token(&self, profile: &str) -> String {
        if self.machine.is_none() {
            return "UnknownMachineTokenNotAllowed".into();
        }
        if !self.has_profile(profile) {
            return "InvalidTokenNotAllowedNotOnMachine".into();
        }
        self.token.clone()
    }
}

/// An IPv4 address as 8 uppercase hex digits (DRP's `models.Hexaddr`).
fn hex_address(addr: &str) -> String {
    match addr.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => ip.octets().iter().map(|o| format!("{o:02X}")).collect(),
        Err(_) => String::new(),
    }
}

/// The prefix length of a dotted-quad netmask.
fn netmask_to_cidr(mask: &str) -> Result<i64, String> {
    let ip: std::net::Ipv4Addr = mask
        .trim()
        .parse()
        .map_err(|_| format!("NetmaskToCIDR: {mask:?} is not a dotted-quad netmask"))?;
    let bits = u32::from(ip);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(format!(
            "NetmaskToCIDR: {mask:?} is not a contiguous netmask"
        ));
    }
    Ok(i64::from(bits.leading_ones()))
}

/// DRP's `ParseUrl segment url`: `scheme`, `host` (with port) or `path`.
fn parse_url(segment: &str, raw: &str) -> Result<String, String> {
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("", raw),
    };
    let (host, path) = if scheme.is_empty() {
        ("", rest)
    } else {
        match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        }
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    match segment {
        "scheme" => Ok(scheme.to_string()),
        "host" => Ok(host.to_string()),
        "path" => Ok(path.to_string()),
        _ => Err(format!("No idea how to get URL part {segment} from {raw}")),
    }
}
