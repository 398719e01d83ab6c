//! What a machine's boot ISO is made of: the bootenv's kernel and initrds for the machine's
//! arch (the stored files the bootenv's paths name, as the static server serves them) and its
//! `BootParams` rendered for the machine, with a hash of all of it naming the image.

use serde_json::Value;
use sha2::{Digest, Sha256};
use template::drp::DrpContext;

use crate::boot::cache::{CachedFile, FileCache};
use crate::node::Node;
use crate::render;
use crate::runtime::workflow::str_field;

/// The param that asks for a machine's ISO (DRP's name).
pub const PARAM: &str = "boot-virtual-iso";
/// Stands for `.GenerateToken` while the command line is rendered: the hash must not change
/// with every token minted, so the real token goes in only when the image is built.
pub const TOKEN_MARKER: &str = "@@drp-virtual-media-token@@";
/// How long the token written into an ISO lives. An image holding one is rebuilt every half
/// of this (its hash includes the half-period), so a mounted image never carries a dead one.
pub const TOKEN_TTL_SECS: u64 = 4 * 3600;
/// Changes when the image layout changes, so images built by an older layout are rebuilt.
const LAYOUT: &str = "isolinux-v1";

/// One machine's image, ready to build.
#[derive(Debug, Clone)]
pub struct Plan {
    pub uuid: String,
    pub bootenv: String,
    pub kernel: CachedFile,
    pub initrds: Vec<CachedFile>,
    /// The rendered `BootParams` on one line (a newline could start a boot loader directive).
    pub cmdline: String,
    /// Hex sha256 of everything above: equal hashes make the same image.
    pub hash: String,
}

impl Plan {
    pub fn uses_token(&self) -> bool {
        self.cmdline.contains(TOKEN_MARKER)
    }

    /// A plan for unit tests: kernel `/cache/k`, each initrd `/cache/<name>`, no hash.
    #[cfg(test)]
    pub(crate) fn sample(cmdline: &str, initrds: &[&str]) -> Plan {
        let file = |sum: &str| CachedFile {
            path: format!("/cache/{sum}").into(),
            len: 1,
        };
        Plan {
            uuid: "u".into(),
            bootenv: "e".into(),
            kernel: file("k"),
            initrds: initrds.iter().map(|s| file(s)).collect(),
            cmdline: cmdline.into(),
            hash: String::new(),
        }
    }
}

/// What keeps a wanted image from being built: logged once, and the answer to the BMC.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("rendering bootenv {bootenv}'s {what} for machine {uuid}: {source}")]
    Render {
        bootenv: String,
        what: String,
        uuid: String,
        source: render::RenderError,
    },
    #[error("machine {uuid}: {problem}")]
    Arch { uuid: String, problem: String },
    #[error("bootenv {bootenv}'s {what} {path} is not uploaded (upload it as /api/v3/files/{path} or its ISO)")]
    NotUploaded {
        bootenv: String,
        what: &'static str,
        path: String,
    },
    #[error("reading bootenv {bootenv}'s {what} {path}: {source}")]
    Read {
        bootenv: String,
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// Whether the machine (rendered as `ctx`) asks for an ISO, resolved the DRP way (machine,
/// profiles, stage, global, the param's default).
pub fn wanted(ctx: &DrpContext) -> bool {
    match ctx.param(PARAM) {
        Ok(Value::Bool(b)) => b,
        Ok(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The plan for `machine` in its current bootenv: `Ok(None)` when it wants no ISO (the param
/// is not true, it has no bootenv, or the bootenv has no kernel for its arch, like `local`);
/// `Err` names what keeps a wanted image from being built. Blocking: may copy files out.
pub fn plan(
    node: &Node,
    files: &FileCache,
    machine: &Value,
    mut ctx: DrpContext,
) -> Result<Option<Plan>, PlanError> {
    let uuid = str_field(machine, "Uuid").to_string();
    let bootenv = str_field(machine, "BootEnv").to_string();
    if !wanted(&ctx) || bootenv.is_empty() || ctx.env.is_none() {
        return Ok(None);
    }
    ctx.token = TOKEN_MARKER.to_string();
    let render = |what: &str, source: &str| {
        render::render_text(node, what, source, &ctx).map_err(|source| PlanError::Render {
            bootenv: bootenv.clone(),
            what: what.to_string(),
            uuid: uuid.clone(),
            source,
        })
    };
    if render("Kernel", "{{.Env.Kernel}}")?.trim().is_empty() {
        return Ok(None);
    }
    if let Some(problem) = arch_problem(str_field(machine, "Arch")) {
        return Err(PlanError::Arch {
            uuid: uuid.clone(),
            problem,
        });
    }
    let kernel_path = render("kernel path", r#"{{.Env.PathFor "tftp" .Env.Kernel}}"#)?;
    let initrd_paths = render("initrd paths", r#"{{.Env.JoinInitrds "tftp"}}"#)?;
    let cmdline = render("BootParams", "{{.BootParams}}")?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let stored = |path: &str, what: &'static str| match files.get(&node.store, path) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(PlanError::NotUploaded {
            bootenv: bootenv.clone(),
            what,
            path: path.to_string(),
        }),
        Err(source) => Err(PlanError::Read {
            bootenv: bootenv.clone(),
            what,
            path: path.to_string(),
            source,
        }),
    };
    let kernel = stored(&kernel_path, "kernel")?;
    let initrds = initrd_paths
        .split_whitespace()
        .map(|p| stored(p, "initrd"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut plan = Plan {
        uuid,
        bootenv,
        kernel,
        initrds,
        cmdline,
        hash: String::new(),
    };
    plan.hash = hash(&plan, now_secs());
    Ok(Some(plan))
}

/// Why a machine of `arch` cannot boot these images, if it cannot: their boot loaders are
/// x86 ones (ISOLINUX, GRUB's x86_64-efi).
fn arch_problem(arch: &str) -> Option<String> {
    match arch.to_ascii_lowercase().as_str() {
        "" | "amd64" | "x86_64" | "386" | "i386" | "i486" | "i586" | "i686" => None,
        other => Some(format!(
            "virtual media ISOs are built for x86 machines only, not arch {other}"
        )),
    }
}

/// The image's name: the layout, the machine and bootenv, each file's content (its on-disk
/// copy is named by its sha256) and the command line; with a token in it, the token period.
fn hash(plan: &Plan, now_secs: u64) -> String {
    let mut h = Sha256::new();
    let name = |f: &CachedFile| {
        f.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut parts = vec![
        LAYOUT.to_string(),
        plan.uuid.clone(),
        plan.bootenv.clone(),
        name(&plan.kernel),
    ];
    parts.extend(plan.initrds.iter().map(name));
    parts.push(plan.cmdline.clone());
    if plan.uses_token() {
        parts.push((now_secs / (TOKEN_TTL_SECS / 2)).to_string());
    }
    for p in parts {
        // Length-prefixed, so no two different lists hash alike.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cmdline: &str, initrds: &[&str]) -> Plan {
        Plan::sample(cmdline, initrds)
    }

    #[test]
    fn the_hash_follows_every_input() {
        let base = hash(&plan("a b", &["i1"]), 0);
        assert_eq!(base, hash(&plan("a b", &["i1"]), 0));
        assert_ne!(base, hash(&plan("a c", &["i1"]), 0));
        assert_ne!(base, hash(&plan("a b", &["i2"]), 0));
        assert_ne!(base, hash(&plan("a b", &["i1", "i2"]), 0));
        // Moving a boundary between parts changes it too.
        assert_ne!(
            hash(&plan("x", &["ab"]), 0),
            hash(&plan("x", &["a", "b"]), 0)
        );
    }

    #[test]
    fn only_x86_machines_get_an_image() {
        for ok in ["", "amd64", "x86_64", "i686"] {
            assert_eq!(arch_problem(ok), None, "{ok}");
        }
        let no = arch_problem("arm64").expect("arm64 is refused");
        assert!(no.contains("arm64"), "{no}");
    }

    #[test]
    fn a_token_bearing_image_is_renamed_each_half_token_life() {
        let p = plan(&format!("token={TOKEN_MARKER}"), &[]);
        let half = TOKEN_TTL_SECS / 2;
        assert_eq!(hash(&p, 0), hash(&p, half - 1));
        assert_ne!(hash(&p, 0), hash(&p, half));
        let q = plan("no token", &[]);
        assert_eq!(hash(&q, 0), hash(&q, half * 7));
    }
}
