//! Every template in the real DRP content packs under `../shared/fixtures` parses, and renders
//! for a sample machine or fails naming a param that is genuinely missing (set nowhere and
//! without a schema default).
//!
//! Templates are: the files under `templates/`, the inline `Contents` and `Path` of the
//! `Templates` lists of tasks, stages and bootenvs, and the bootenvs' `BootParams` (per arch
//! too). Inline templates render in their object's context (a bootenv's as `.Env`), and so do
//! the `templates/` files a bootenv or task names by `ID`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use template::drp::DrpContext;
use template::{render, Template, TemplateSource};

/// `../shared/fixtures` beside the repository, or `DRP_SHARED_FIXTURES` when the checkout
/// lives elsewhere (a worktree).
fn fixtures_dir() -> PathBuf {
    match std::env::var_os("DRP_SHARED_FIXTURES") {
        Some(dir) => PathBuf::from(dir).join("content-packs"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/content-packs"),
    }
}

fn visible_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("._"))
        })
        .collect();
    files.sort();
    files
}

fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One template to check, and the object it renders for.
struct Unit {
    name: String,
    source: String,
    /// The bootenv it renders with (its own for bootenv templates).
    env: Option<String>,
    /// The task or stage it belongs to.
    task: Option<Value>,
}

struct Packs {
    units: Vec<Unit>,
    templates: BTreeMap<String, String>,
    bootenvs: BTreeMap<String, Value>,
    param_defs: Map<String, Value>,
    /// The templates/ files each bootenv or task names by ID, with that object.
    id_refs: Vec<(String, Option<String>, Option<Value>)>,
}

fn load_packs(root: &Path) -> Packs {
    let mut packs = Packs {
        units: Vec::new(),
        templates: BTreeMap::new(),
        bootenvs: BTreeMap::new(),
        param_defs: Map::new(),
        id_refs: Vec::new(),
    };
    let mut pack_dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    pack_dirs.sort();
    for pack in &pack_dirs {
        for file in visible_files(&pack.join("templates")) {
            let id = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            packs.templates.insert(id, text);
        }
        for file in visible_files(&pack.join("params")) {
            let param = load_yaml(&file);
            if let Some(name) = param.get("Name").and_then(Value::as_str) {
                packs.param_defs.insert(name.to_string(), param.clone());
            }
        }
        for file in visible_files(&pack.join("bootenvs")) {
            let env = load_yaml(&file);
            let name = env
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            packs.bootenvs.insert(name, env);
        }
    }
    for pack in &pack_dirs {
        for kind in ["tasks", "stages", "bootenvs"] {
            for file in visible_files(&pack.join(kind)) {
                let object = load_yaml(&file);
                let object_name = object
                    .get("Name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let label = format!(
                    "{}/{kind}/{object_name}",
                    pack.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                );
                let env = (kind == "bootenvs").then(|| object_name.clone());
                let task = (kind != "bootenvs").then(|| object.clone());
                for ti in object
                    .get("Templates")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    let ti_name = ti.get("Name").and_then(Value::as_str).unwrap_or_default();
                    for key in ["Contents", "Path"] {
                        if let Some(text) = ti
                            .get(key)
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            packs.units.push(Unit {
                                name: format!("{label}#{ti_name}.{key}"),
                                source: text.to_string(),
                                env: env.clone(),
                                task: task.clone(),
                            });
                        }
                    }
                    if let Some(id) = ti
                        .get("ID")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                    {
                        packs
                            .id_refs
                            .push((id.to_string(), env.clone(), task.clone()));
                    }
                }
                if kind == "bootenvs" {
                    let mut params = vec![("".to_string(), object.get("BootParams").cloned())];
                    if let Some(arches) = object
                        .pointer("/OS/SupportedArchitectures")
                        .and_then(Value::as_object)
                    {
                        for (arch, info) in arches {
                            params.push((arch.clone(), info.get("BootParams").cloned()));
                        }
                    }
                    for (arch, bp) in params {
                        if let Some(text) = bp
                            .as_ref()
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            packs.units.push(Unit {
                                name: format!("{label}#BootParams[{arch}]"),
                                source: text.to_string(),
                                env: env.clone(),
                                task: None,
                            });
                        }
                    }
                }
            }
        }
    }
    for (id, text) in &packs.templates {
        packs.units.push(Unit {
            name: format!("templates/{id}"),
            source: text.clone(),
            env: None,
            task: None,
        });
    }
    packs
}

struct Source(BTreeMap<String, Arc<Template>>);

impl TemplateSource for Source {
    fn template(&self, name: &str) -> Option<Arc<Template>> {
        self.0.get(name).cloned()
    }
}

/// The machine every template renders for: an amd64 box in the bootenv being rendered (as
/// DRP records it: `BootEnv` and, for an install bootenv, `OS`), by default centos-7-install.
fn sample_context(packs: &Packs, env: Option<&str>, task: Option<&Value>) -> DrpContext {
    const DEFAULT_ENV: &str = "centos-7-install";
    let env_name = env.unwrap_or(DEFAULT_ENV);
    let bootenv = packs.bootenvs.get(env_name).cloned();
    let os = bootenv
        .as_ref()
        .and_then(|e| e.pointer("/OS/Name"))
        .and_then(Value::as_str)
        .unwrap_or("centos-7")
        .to_string();
    let machine = json!({
        "Name": "node1.example.com",
        "Uuid": "3e7031fe-3062-45f1-835c-92541bc9cbd3",
        "Address": "192.168.124.11",
        "Arch": "amd64",
        "OS": os,
        "BootEnv": env_name,
        "Stage": "none",
        "Workflow": "",
        "Context": "",
        "Profiles": [],
        "Params": {},
        "Meta": {},
        "Tasks": ["stage:none", "bootstrap-ssh"],
        "CurrentTask": 1,
        "Runnable": true,
    });
    DrpContext {
        machine: Some(machine),
        env: bootenv,
        task: task.cloned(),
        stage: None,
        param_layers: vec![Map::new(), Map::new()],
        param_defs: packs.param_defs.clone(),
        api_url: "https://192.168.124.1:8092".into(),
        provisioner_url: "http://192.168.124.1:8091".into(),
        provisioner_address: "192.168.124.1".into(),
        token: "sample-machine-token".into(),
        info: Some(json!({"id": "sample-endpoint", "version": "v4.8.0"})),
        mac: String::new(),
    }
}

#[derive(Default)]
struct Tally {
    rendered: usize,
    missing: BTreeMap<String, Vec<String>>,
    other: Vec<String>,
}

impl Tally {
    fn record(&mut self, name: &str, result: Result<String, template::RenderError>) {
        match result {
            Ok(_) => self.rendered += 1,
            Err(e) => match missing_param(&e.message) {
                Some(p) => self.missing.entry(p).or_default().push(name.to_string()),
                None => self.other.push(format!("{name}: {e}")),
            },
        }
    }
}

/// The param a "No such machine parameter" error names.
fn missing_param(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("No such machine parameter ")?;
    Some(rest.split_whitespace().next().unwrap_or(rest).to_string())
}

#[test]
fn every_fixture_template_parses_and_renders() {
    let root = fixtures_dir();
    if !root.is_dir() {
        println!("SKIPPED: ../shared/fixtures not present");
        return;
    }
    let packs = load_packs(&root);

    let mut parse_failures = Vec::new();
    let mut parsed: Vec<(&Unit, Template)> = Vec::new();
    for unit in &packs.units {
        match Template::parse(&unit.name, &unit.source) {
            Ok(t) => parsed.push((unit, t)),
            Err(e) => parse_failures.push(e.to_string()),
        }
    }
    let source = Source(
        packs
            .templates
            .iter()
            .filter_map(|(id, text)| {
                Template::parse(id, text)
                    .ok()
                    .map(|t| (id.clone(), Arc::new(t)))
            })
            .collect(),
    );
    println!(
        "fixture templates: {} found, {} parsed",
        packs.units.len(),
        parsed.len()
    );
    assert!(
        parse_failures.is_empty(),
        "parse failures:\n{}",
        parse_failures.join("\n")
    );

    let mut tally = Tally::default();
    for (unit, tmpl) in &parsed {
        let ctx = sample_context(&packs, unit.env.as_deref(), unit.task.as_ref());
        tally.record(&unit.name, render(tmpl, &ctx, &source));
    }
    // The templates/ files a bootenv or task names, rendered in that object's context.
    let mut by_id = Tally::default();
    for (id, env, task) in &packs.id_refs {
        let Some(tmpl) = source.0.get(id) else {
            by_id.other.push(format!(
                "{id}: named by a bootenv or task but not in any templates/ folder"
            ));
            continue;
        };
        let ctx = sample_context(&packs, env.as_deref(), task.as_ref());
        by_id.record(
            &format!("{id} for {}", env.as_deref().unwrap_or("a task")),
            render(tmpl, &ctx, &source),
        );
    }
    println!(
        "fixture templates: parsed {}/{} | rendered {} | missing-param {} | other errors {}",
        parsed.len(),
        packs.units.len(),
        tally.rendered,
        tally.missing.values().map(Vec::len).sum::<usize>(),
        tally.other.len()
    );
    println!(
        "templates/ files named by ID, rendered for their bootenv or task: {} | rendered {} | missing-param {} | other errors {}",
        packs.id_refs.len(),
        by_id.rendered,
        by_id.missing.values().map(Vec::len).sum::<usize>(),
        by_id.other.len()
    );
    let mut missing = tally.missing;
    for (param, users) in by_id.missing {
        missing.entry(param).or_default().extend(users);
    }
    let mut other = tally.other;
    other.extend(by_id.other);
    for (param, users) in &missing {
        println!(
            "  missing param {param:?} ({} templates, e.g. {})",
            users.len(),
            users[0]
        );
        // Genuinely missing: no layer sets it and its definition (if any) has no default.
        let default = packs
            .param_defs
            .get(param)
            .and_then(|d| d.pointer("/Schema/default"));
        assert!(
            default.is_none(),
            "{param} has a default but was reported missing"
        );
    }
    assert!(
        other.is_empty(),
        "render errors that are not a missing param:\n{}",
        other.join("\n")
    );
}
