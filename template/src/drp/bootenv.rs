//! `.Env`: a bootenv's per-arch kernels, initrds and boot params, its paths, and `.Env.OS`.

use serde_json::Value;

use super::models::{model_member, BOOTENV_FIELDS, OS_FIELDS};
use super::{arity, field, str_arg, value, Cursor, DrpContext, Step};

impl DrpContext {
    pub(super) fn env(&self) -> &Value {
        self.env.as_ref().unwrap_or(&Value::Null)
    }

    pub(super) fn env_os(&self) -> &Value {
        self.env().get("OS").unwrap_or(&Value::Null)
    }

    /// DRP's per-arch view of a bootenv (`realArches`): the `SupportedArchitectures` entry
    /// whose name is an alias of `arch`, or for amd64 the bootenv's own top-level fields.
    /// Returns (kernel, initrds, boot params).
    pub(super) fn arch_info(&self, env: &Value, arch: &str) -> (String, Vec<String>, String) {
        let want = canonical_arch(arch);
        let entry = arch_entry(env, &want);
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
    pub(super) fn env_path(&self, file: &str, arch: &str) -> String {
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

    pub(super) fn path_for_arch(
        &self,
        proto: &str,
        file: &str,
        arch: &str,
    ) -> Result<String, String> {
        let tail = self.env_path(file, arch);
        match proto {
            "tftp" => Ok(tail.trim_start_matches('/').to_string()),
            "http" => Ok(format!("{}{tail}", self.provisioner_url)),
            other => Err(format!("Unknown protocol {other}")),
        }
    }

    pub(super) fn join_initrds(&self, proto: &str, arch: &str) -> Result<String, String> {
        let (_, initrds, _) = self.arch_info(self.env(), arch);
        let paths: Result<Vec<String>, String> = initrds
            .iter()
            .map(|i| self.path_for_arch(proto, i, arch))
            .collect();
        Ok(paths?.join(" "))
    }

    pub(super) fn env_member(&self, name: &str, args: &[Value]) -> Result<Step, String> {
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
                let entry = arch_entry(env, &want);
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

    pub(super) fn arch_member(&self, what: &str, arch: &str) -> Result<Step, String> {
        let (kernel, initrds, boot_params) = self.arch_info(self.env(), arch);
        match what {
            "Kernel" => value(kernel),
            "Initrds" => value(initrds),
            _ => Ok(Step::Expand(Value::String(boot_params))),
        }
    }

    pub(super) fn os_member(&self, name: &str, args: &[Value]) -> Result<Step, String> {
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
}

/// The `OS.SupportedArchitectures` entry whose name is an alias of the canonical `arch`.
fn arch_entry<'a>(env: &'a Value, arch: &str) -> Option<&'a Value> {
    env.pointer("/OS/SupportedArchitectures")
        .and_then(Value::as_object)?
        .iter()
        .find(|(k, _)| canonical_arch(k) == arch)
        .map(|(_, v)| v)
}

/// DRP's `models.SupportedArch`: the canonical name of an architecture alias.
pub(super) fn canonical_arch(arch: &str) -> String {
    match arch.to_ascii_lowercase().as_str() {
        "amd64" | "x86_64" => "amd64".into(),
        "arm64" | "aarch64" => "arm64".into(),
        "386" | "i386" | "i486" | "i586" | "i686" => "386".into(),
        "armhfp" | "armhf" | "armv7l" | "arm" => "arm".into(),
        "ppc64le" | "ppc64el" => "ppc64le".into(),
        other => other.to_string(),
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
