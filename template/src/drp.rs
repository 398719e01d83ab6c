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

/// DRP's `models.SupportedArch`: the canonical name of an architecture alias.
fn canonical_arch(arch: &str) -> String {
    match arch.to_ascii_lowercase().as_str() {
        "amd64" | "x86_64" => "amd64".into(),
        "arm64" | "aarch64" => "arm64".into(),
        "386" | "i386" | "i486" | "i586" | "i686" => "386".into(),
        "armhfp" | "armhf" | "armv7l" | "arm" => "arm".into(),
        "ppc64le" | "ppc64el" => "ppc64le".into(),
        other => other.to_string(),
    }
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
                // The MAC the request came from; renders here are not tied to a request.
                value("")
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

    fn env(&self) -> &Value {
        self.env.as_ref().unwrap_or(&Value::Null)
    }

    fn env_os(&self) -> &Value {
        self.env().get("OS").unwrap_or(&Value::Null)
    }

    /// DRP's per-arch view of a bootenv (`realArches`): the `SupportedArchitectures` entry
    /// whose name is an alias of `arch`, or for amd64 the bootenv's own top-level fields.
    /// Returns (kernel, initrds, boot params).
    fn arch_info(&self, env: &Value, arch: &str) -> (String, Vec<String>, String) {
        let want = canonical_arch(arch);
        let arches = env
            .pointer("/OS/SupportedArchitectures")
            .and_then(Value::as_object);
        let entry = arches.and_then(|a| {
            a.iter()
                .find(|(k, _)| canonical_arch(k) == want)
                .map(|(_, v)| v)
        });
        let top_level = want == "amd64";
        let pick = |key: &str| -> String {
            match entry.map(|e| field(e, key)).filter(|s| !s.is_empty()) {
                Some(s) => s.to_string(),
                None if top_level || entry.is_some() => field(env, key).to_string(),
                None => String::new(),
            }
        };
        let initrds = |v: Option<&Value>| -> Vec<String> {
            v.and_then(|e| e.get("Initrds"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut rds = initrds(entry);
        if rds.is_empty() && (top_level || entry.is_some()) {
            rds = initrds(Some(env));
        }
        (pick("Kernel"), rds, pick("BootParams"))
    }

    /// DRP's `BootEnv.PathFor`: under the OS name, in `install/` for `-install` bootenvs
    /// (whose ISO is exploded there), in an arch directory for non-amd64 installs.
    fn env_path(&self, file: &str, arch: &str) -> String {
        let env = self.env();
        let mut parts: Vec<&str> = vec![field(self.env_os(), "Name")];
        let arch = canonical_arch(arch);
        if field(env, "Name").ends_with("-install") {
            if arch != "amd64" {
                parts.push(&arch);
            }
            parts.push("install");
        }
        parts.push(file);
        clean_path(&format!("/{}", parts.join("/")))
    }

    fn path_for_arch(&self, proto: &str, file: &str, arch: &str) -> Result<String, String> {
        let tail = self.env_path(file, arch);
        match proto {
            "tftp" => Ok(tail.trim_start_matches('/').to_string()),
            "http" => Ok(format!("{}{tail}", self.provisioner_url)),
            other => Err(format!("Unknown protocol {other}")),
        }
    }

    fn join_initrds(&self, proto: &str, arch: &str) -> Result<String, String> {
        let (_, initrds, _) = self.arch_info(self.env(), arch);
        let paths: Result<Vec<String>, String> = initrds
            .iter()
            .map(|i| self.path_for_arch(proto, i, arch))
            .collect();
        Ok(paths?.join(" "))
    }

    fn env_member(&self, name: &str, args: &[Value]) -> Result<Step, String> {
        let env = self.env();
        let arch = self.machine_arch();
        match name {
            "OS" => {
                arity(name, 0, args)?;
                Ok(Step::Cursor(Cursor::EnvOs))
            }
            "PathFor" => {
                arity(name, 2, args)?;
                value(self.path_for_arch(str_arg(args, 0)?, str_arg(args, 1)?, &arch)?)
            }
            "PathForArch" => {
                arity(name, 3, args)?;
                value(self.path_for_arch(
                    str_arg(args, 0)?,
                    str_arg(args, 1)?,
                    str_arg(args, 2)?,
                )?)
            }
            "InstallUrl" => {
                arity(name, 0, args)?;
                match self.install_repos().first() {
                    Some(repo) => value(field(repo, "URL")),
                    None => Err(format!(
                        "error calling InstallUrl: No install repository available (no package-repositories entry for OS {:?} and bootenv {:?} is not its -install bootenv)",
                        self.machine_os(),
                        field(env, "Name")
                    )),
                }
            }
            "JoinInitrds" => {
                arity(name, 1, args)?;
                value(self.join_initrds(str_arg(args, 0)?, &arch)?)
            }
            "JoinInitrdsFor" => {
                arity(name, 2, args)?;
                value(self.join_initrds(str_arg(args, 0)?, str_arg(args, 1)?)?)
            }
            "Kernel" | "Initrds" | "BootParams" => {
                arity(name, 0, args)?;
                self.arch_member(name, &arch)
            }
            "KernelFor" | "InitrdsFor" | "BootParamsFor" => {
                arity(name, 1, args)?;
                self.arch_member(name.trim_end_matches("For"), str_arg(args, 0)?)
            }
            "IsoFor" | "ShaFor" | "IsoUrlFor" => {
                arity(name, 1, args)?;
                let want = canonical_arch(str_arg(args, 0)?);
                let key = match name {
                    "IsoFor" => "IsoFile",
                    "ShaFor" => "Sha256",
                    _ => "IsoUrl",
                };
                let arches = env
                    .pointer("/OS/SupportedArchitectures")
                    .and_then(Value::as_object);
                let entry = arches.and_then(|a| {
                    a.iter()
                        .find(|(k, _)| canonical_arch(k) == want)
                        .map(|(_, v)| v)
                });
                let os_key = if key == "Sha256" { "IsoSha256" } else { key };
                value(match entry {
                    Some(e) => field(e, key).to_string(),
                    None if want == "amd64" => field(self.env_os(), os_key).to_string(),
                    None => String::new(),
                })
            }
            _ => model_member(env, name, args, BOOTENV_FIELDS),
        }
    }

    fn arch_member(&self, what: &str, arch: &str) -> Result<Step, String> {
        let (kernel, initrds, boot_params) = self.arch_info(self.env(), arch);
        match what {
            "Kernel" => value(kernel),
            "Initrds" => value(initrds),
            _ => Ok(Step::Expand(Value::String(boot_params))),
        }
    }

    fn os_member(&self, name: &str, args: &[Value]) -> Result<Step, String> {
        let os = self.env_os();
        match name {
            "FamilyName" => {
                arity(name, 0, args)?;
                value(os_family_name(os))
            }
            "FamilyType" => {
                arity(name, 0, args)?;
                value(match os_family_name(os).as_str() {
                    "centos" | "redhat" | "fedora" | "scientificlinux" => "rhel".to_string(),
                    "debian" | "ubuntu" => "debian".to_string(),
                    other => other.to_string(),
                })
            }
            "FamilyVersion" => {
                arity(name, 0, args)?;
                value(os_family_version(os))
            }
            "VersionEq" => {
                arity(name, 1, args)?;
                value(version_eq(&os_family_version(os), str_arg(args, 0)?))
            }
            _ => model_member(os, name, args, OS_FIELDS),
        }
    }

    /// `.Param`: the first layer holding `key`, else its definition's schema default.
    pub fn param(&self, key: &str) -> Result<Value, String> {
        if let Some(v) = self.param_layers.iter().find_map(|layer| layer.get(key)) {
            return Ok(v.clone());
        }
        self.param_default(key)
            .ok_or_else(|| format!("error calling Param: No such machine parameter {key}"))
    }

    fn param_default(&self, key: &str) -> Option<Value> {
        self.param_defs
            .get(key)?
            .pointer("/Schema/default")
            .cloned()
    }

    /// `.ComposeParam`: the param across every layer and the default, highest priority first:
    /// lists are concatenated, objects merged (a higher layer's key wins), and for anything
    /// else the first value found stands.
    pub fn compose_param(&self, key: &str) -> Result<Value, String> {
        let mut found: Vec<Value> = self
            .param_layers
            .iter()
            .filter_map(|l| l.get(key).cloned())
            .collect();
        found.extend(self.param_default(key));
        let Some(first) = found.first().cloned() else {
            return Err(format!(
                "error calling ComposeParam: No such machine parameter {key}"
            ));
        };
        Ok(match first {
            Value::Array(_) => Value::Array(
                found
                    .iter()
                    .filter_map(Value::as_array)
                    .flat_map(|a| a.iter().cloned())
                    .collect(),
            ),
            Value::Object(_) => {
                let mut merged = Map::new();
                for layer in found.iter().rev().filter_map(Value::as_object) {
                    for (k, v) in layer {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                Value::Object(merged)
            }
            other => other,
        })
    }

    /// The `package-repositories` param, as a list of repo objects.
    fn repos(&self) -> Vec<Value> {
        match self.param("package-repositories") {
            Ok(Value::Array(repos)) => repos.into_iter().filter(Value::is_object).collect(),
            _ => Vec::new(),
        }
    }

    fn machine_os(&self) -> String {
        match field(self.machine(), "OS") {
            "" => field(self.env_os(), "Name").to_string(),
            os => os.to_string(),
        }
    }

    /// The install tree of the bootenv being rendered, when it is an `-install` bootenv for the
    /// machine's OS. DRP checks that the ISO is exploded there (and for apt trees that a
    /// `dists/stable/Release` exists); this endpoint serves no ISOs, so an install bootenv is
    /// taken at its word.
    fn local_install_repo(&self) -> Option<(Value, String)> {
        let env = self.env.as_ref()?;
        let os = field(self.env_os(), "Name");
        if !field(env, "Name").ends_with("-install") || os.is_empty() || os != self.machine_os() {
            return None;
        }
        let arch = self.machine_arch();
        let url = format!("{}{}", self.provisioner_url, self.env_path("", &arch));
        let mut repo = serde_json::json!({
            "tag": field(env, "Name"),
            "os": [os],
            "url": url,
            "installSource": true,
        });
        if repo_style(&repo, os) == "apt" {
            repo["distribution"] = Value::from("stable");
            repo["components"] = serde_json::json!(["main", "restricted"]);
        }
        Some((repo, os.to_string()))
    }

    /// DRP's `MachineRepos`: the local install tree (unless apt), then the
    /// `package-repositories` entries for the machine's OS and arch.
    fn machine_repo_list(&self) -> Vec<(Value, String)> {
        let os = self.machine_os();
        let local = self.local_install_repo();
        let mut found: Vec<(Value, String)> = Vec::new();
        if let Some((l, los)) = &local {
            if repo_style(l, los) != "apt" {
                found.push((l.clone(), los.clone()));
            }
        }
        let arch = self.machine_arch();
        for repo in self.repos() {
            let install_source = repo
                .get("installSource")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if local.is_some() && install_source {
                continue;
            }
            let repo_arch = field(&repo, "arch");
            let arch_ok =
                (repo_arch == "any" && !install_source) || canonical_arch(repo_arch) == arch;
            let os_ok = repo
                .get("os")
                .and_then(Value::as_array)
                .is_some_and(|list| list.iter().any(|o| o.as_str() == Some(os.as_str())));
            if arch_ok && os_ok {
                found.push((repo, os.clone()));
            }
        }
        found
    }

    fn machine_repos(&self) -> Vec<Value> {
        self.machine_repo_list()
            .iter()
            .map(|(r, os)| self.repo_view(r, os))
            .collect()
    }

    /// DRP's `InstallRepos`: the install source (the local tree first), then at most one
    /// security-update repo.
    fn install_repos(&self) -> Vec<Value> {
        let flag = |r: &Value, k: &str| r.get(k).and_then(Value::as_bool).unwrap_or(false);
        let found = self.machine_repo_list();
        let mut install = self.local_install_repo();
        let mut update = None;
        for (repo, os) in &found {
            if install.is_none() && flag(repo, "installSource") {
                install = Some((repo.clone(), os.clone()));
            }
            if update.is_none() && flag(repo, "securitySource") {
                update = Some((repo.clone(), os.clone()));
            }
        }
        let mut out = Vec::new();
        if let Some((r, os)) = install {
            out.push(self.repo_view(&r, &os));
            if let Some((u, os)) = update {
                out.push(self.repo_view(&u, &os));
            }
        }
        out
    }

    /// A repo as templates see it: its fields plus DRP's `Repo` methods, computed here
    /// (`Install`, `Lines`, `JoinedComponents`, `Target`) since the engine has plain values.
    fn repo_view(&self, repo: &Value, target_os: &str) -> Value {
        let mut view = repo.as_object().cloned().unwrap_or_default();
        let tag = field(repo, "tag").to_string();
        let url = field(repo, "url").to_string();
        let components: Vec<String> = repo
            .get("components")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let style = repo_style(repo, target_os);
        let install_source = repo
            .get("installSource")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let proxy = match self.param("proxy-servers") {
            Ok(Value::Array(p)) => p.first().map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            _ => None,
        };
        let proxy = proxy
            .map(|p| format!(" --proxy=\"{p}\""))
            .unwrap_or_default();
        let url_for = |component: &str| -> String {
            let distribution = field(repo, "distribution");
            if install_source || distribution.is_empty() || component.is_empty() {
                return url.clone();
            }
            match target_os.split('-').next().unwrap_or("") {
                "centos" => format!("{url}/{distribution}/{component}/$basearch"),
                "scientificlinux" => format!("{url}/{distribution}/$basearch/{component}"),
                _ => url.clone(),
            }
        };
        let install = match style {
            "yum" if install_source => {
                format!("install\nurl --url {url}\nrepo --name=\"{tag}\" --baseurl={url} --cost=100{proxy}\n")
            }
            "yum" if components.is_empty() => {
                format!("repo --name=\"{tag}\" --baseurl={url} --cost=200{proxy}\n")
            }
            "yum" => components
                .iter()
                .map(|c| {
                    format!(
                        "repo --name=\"{tag}-{c}\" --baseurl={} --cost=200{proxy}\n",
                        url_for(c)
                    )
                })
                .collect(),
            "apt" if install_source => {
                let part = |s| parse_url(s, &url).unwrap_or_default();
                format!(
                    "d-i mirror/protocol string {}\nd-i mirror/http/hostname string {}\nd-i mirror/http/directory string {}\n",
                    part("scheme"),
                    part("host"),
                    part("path")
                )
            }
            "apt" => {
                if field(self.env_os(), "Family") == "debian" {
                    format!("\nd-i apt-setup/security_host string {url}\n\n")
                } else {
                    format!(
                        "\nd-i apt-setup/security_host string {}\nd-i apt-setup/security_path string {}\n\n",
                        parse_url("host", &url).unwrap_or_default(),
                        parse_url("path", &url).unwrap_or_default()
                    )
                }
            }
            _ => String::new(),
        };
        let lines = match style {
            "yum" if components.is_empty() => {
                format!(
                    "\n[{tag}]\nname={target_os} - {tag}\nbaseurl={}\ngpgcheck=0\n",
                    url_for("")
                )
            }
            "yum" => components
                .iter()
                .map(|c| {
                    format!(
                        "\n[{tag}-{c}]\nname={tag} - {c}\nbaseurl={}\ngpgcheck=0\n",
                        url_for(c)
                    )
                })
                .collect(),
            "apt" => format!(
                "deb {url} {} {}\n",
                field(repo, "distribution"),
                components.join(" ")
            ),
            _ => String::new(),
        };
        view.insert("Install".into(), Value::String(install));
        view.insert("Lines".into(), Value::String(lines));
        view.insert(
            "JoinedComponents".into(),
            Value::String(components.join(" ")),
        );
        view.insert("Target".into(), Value::String(target_os.to_string()));
        view.insert("Tag".into(), Value::String(tag));
        view.insert("URL".into(), Value::String(url));
        Value::Object(view)
    }
}

/// DRP's `Repo.renderStyle`.
fn repo_style<'a>(repo: &'a Value, target_os: &str) -> &'a str {
    match field(repo, "repoType") {
        "" => match target_os.split('-').next().unwrap_or("") {
            "redhat" | "rhel" | "centos" | "scientificlinux" => "yum",
            "suse" | "sles" | "opensuse" => "zypp",
            "debian" | "ubuntu" => "apt",
            _ => "unknown",
        },
        t => t,
    }
}

/// The zero value a Go struct field has when the stored JSON omits it.
#[derive(Clone, Copy)]
enum Zero {
    Str,
    Int,
    Bool,
    List,
    Map,
}

impl Zero {
    fn value(self) -> Value {
        match self {
            Zero::Str => Value::String(String::new()),
            Zero::Int => Value::from(0),
            Zero::Bool => Value::Bool(false),
            Zero::List => Value::Array(Vec::new()),
            Zero::Map => Value::Object(Map::new()),
        }
    }
}

/// Fields of DRP's `models.Machine` that templates may read even when the JSON omits them.
const MACHINE_FIELDS: &[(&str, Zero)] = &[
    ("Name", Zero::Str),
    ("Description", Zero::Str),
    ("Uuid", Zero::Str),
    ("Address", Zero::Str),
    ("BootEnv", Zero::Str),
    ("Stage", Zero::Str),
    ("Workflow", Zero::Str),
    ("OS", Zero::Str),
    ("Arch", Zero::Str),
    ("Context", Zero::Str),
    ("Pool", Zero::Str),
    ("CurrentJob", Zero::Str),
    ("CurrentTask", Zero::Int),
    ("Runnable", Zero::Bool),
    ("WorkflowComplete", Zero::Bool),
    ("Locked", Zero::Bool),
    ("Profiles", Zero::List),
    ("Tasks", Zero::List),
    ("HardwareAddrs", Zero::List),
    ("Params", Zero::Map),
    ("Meta", Zero::Map),
];

/// Fields of DRP's `models.BootEnv`.
const BOOTENV_FIELDS: &[(&str, Zero)] = &[
    ("Name", Zero::Str),
    ("Description", Zero::Str),
    ("Documentation", Zero::Str),
    ("Kernel", Zero::Str),
    ("BootParams", Zero::Str),
    ("Initrds", Zero::List),
    ("RequiredParams", Zero::List),
    ("OptionalParams", Zero::List),
    ("Templates", Zero::List),
    ("OnlyUnknown", Zero::Bool),
    ("Available", Zero::Bool),
    ("Meta", Zero::Map),
    ("Loaders", Zero::Map),
];

/// Fields of DRP's `models.OsInfo`.
const OS_FIELDS: &[(&str, Zero)] = &[
    ("Name", Zero::Str),
    ("Family", Zero::Str),
    ("Codename", Zero::Str),
    ("Version", Zero::Str),
    ("IsoFile", Zero::Str),
    ("IsoSha256", Zero::Str),
    ("IsoUrl", Zero::Str),
    ("SupportedArchitectures", Zero::Map),
];

/// A member of a DRP model held as JSON: a struct field the JSON omits reads as Go's zero
/// value, as it would on the Go struct; any other missing key is missing.
fn model_member(
    v: &Value,
    name: &str,
    args: &[Value],
    fields: &[(&str, Zero)],
) -> Result<Step, String> {
    if v.get(name).is_none() && args.is_empty() {
        if let Some((_, zero)) = fields.iter().find(|(f, _)| *f == name) {
            return value(zero.value());
        }
    }
    json_member(v, name, args)
}

/// A plain JSON member: a map key (missing keys are Go's `<no value>`).
fn json_member(v: &Value, name: &str, args: &[Value]) -> Result<Step, String> {
    match v {
        Value::Object(map) => {
            if !args.is_empty() {
                return Err(format!("{name} is not a method but has arguments"));
            }
            Ok(Step::Cursor(match map.get(name) {
                Some(v) => Cursor::Json(v.clone()),
                None => Cursor::Missing,
            }))
        }
        Value::Null => Err(format!("nil pointer evaluating interface {{}}.{name}")),
        other => Err(format!(
            "can't evaluate field {name} in type {}",
            json_type(other)
        )),
    }
}

fn os_family_name(os: &Value) -> String {
    match field(os, "Family") {
        "" => field(os, "Name")
            .split('-')
            .next()
            .unwrap_or("")
            .to_string(),
        f => f.to_string(),
    }
}

fn os_family_version(os: &Value) -> String {
    match field(os, "Version") {
        "" => field(os, "Name")
            .split('-')
            .nth(1)
            .unwrap_or("")
            .to_string(),
        v => v.to_string(),
    }
}

/// DRP's `OsInfo.VersionEq`: `7.3` equals `7` and `7.3` but not `7.3.11`.
fn version_eq(mine: &str, other: &str) -> bool {
    let mine: Vec<&str> = mine.split('.').collect();
    let other: Vec<&str> = other.split('.').collect();
    if mine.len() < other.len() {
        return false;
    }
    other
        .iter()
        .zip(mine.iter())
        .all(|(o, m)| match (o.parse::<i64>(), m.parse::<i64>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => o == m,
        })
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

/// Go's `path.Clean` for the absolute paths built here.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}
