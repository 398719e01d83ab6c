//! sprig's `path` functions (Go's `path` package, `/`-separated) and `sha256sum`.

use crate::funcs::FResult;
use crate::value::Val;

use super::convert::strs;

pub(super) const FUNCS: &[&str] = &["base", "dir", "clean", "ext", "isAbs", "sha256sum"];

pub(super) fn call(name: &str, args: Vec<Val>) -> FResult {
    match name {
        "base" | "dir" | "clean" | "ext" | "isAbs" => {
            let [p] = strs::<1>(name, args)?;
            Ok(match name {
                "base" => Val::str(go_path_base(&p)),
                "dir" => Val::str(go_path_dir(&p)),
                "clean" => Val::str(go_path_clean(&p)),
                "ext" => Val::str(go_path_ext(&p)),
                _ => Val::Bool(p.starts_with('/')),
            })
        }
        "sha256sum" => {
            use sha2::Digest;
            let [s] = strs::<1>(name, args)?;
            Ok(Val::str(hex::encode(sha2::Sha256::digest(s.as_bytes()))))
        }
        other => Err(format!("function {other:?} not defined")),
    }
}

/// Go's `path.Clean`.
fn go_path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`.
fn go_path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Dir`.
fn go_path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    go_path_clean(dir)
}

/// Go's `path.Ext`.
fn go_path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return p[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}
