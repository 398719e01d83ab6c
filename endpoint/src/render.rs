//! DRP render data from the store: what a task's templates see when they are rendered for a
//! machine (`.Machine`, `.Env`, `.Param` through DRP's param order, ...), and the templates
//! `{{template "name" .}}` can reach. Used by the API (job actions, template checks) and
//! by the boot services (rendered boot files); `api::render` gives its errors DRP's shape.

use std::sync::Arc;

use serde_json::{Map, Value};
use template::drp::DrpContext;

use crate::node::Node;
use crate::runtime::workflow::str_field;
use crate::store::ObjectStore;

/// Why render data or a template could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A template does not parse or render, or names a template that does not exist (the
    /// message names which and where).
    #[error("{0}")]
    Template(String),
}

/// How long the token handed to rendered templates (`.GenerateToken`) lives.
const RENDER_TOKEN_TTL_SECS: u64 = 3600;

/// The render data for `machine` (and the task being run, if any).
pub fn context(
    node: &Node,
    machine: &Value,
    task: Option<&Value>,
) -> Result<DrpContext, RenderError> {
    let store = &node.store;
    let params = |o: Option<&Value>| -> Map<String, Value> {
        o.and_then(|o| o.get("Params"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let profile = |name: &str| -> Result<Map<String, Value>, RenderError> {
        Ok(params(store.get("profiles", name)?.as_ref()))
    };
    let names = |o: &Value, field: &str| -> Vec<String> {
        o.get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let stage = non_empty(str_field(machine, "Stage"))
        .map(|s| store.get("stages", s))
        .transpose()?
        .flatten();
    let env = non_empty(str_field(machine, "BootEnv"))
        .map(|e| store.get("bootenvs", e))
        .transpose()?
        .flatten();
    // DRP's order: the machine, its profiles in order, the stage, then the global profile.
    let mut layers = vec![params(Some(machine))];
    for p in names(machine, "Profiles") {
        layers.push(profile(&p)?);
    }
    if let Some(stage) = &stage {
        layers.push(params(Some(stage)));
        for p in names(stage, "Profiles") {
            layers.push(profile(&p)?);
        }
    }
    layers.push(profile("global")?);
    let mut param_defs = Map::new();
    for def in store.list("params", 0, None)?.items {
        if let Some(name) = def.get("Name").and_then(Value::as_str) {
            param_defs.insert(name.to_string(), def.clone());
        }
    }
    let uuid = str_field(machine, "Uuid");
    let token = crate::auth::token::issue_machine(node, uuid, RENDER_TOKEN_TTL_SECS)
        .map(|(t, _)| t)
        .unwrap_or_default();
    Ok(DrpContext {
        machine: Some(machine.clone()),
        env,
        task: task.cloned(),
        stage,
        param_layers: layers,
        param_defs,
        api_url: node.settings.boot.api_url.clone(),
        provisioner_url: node.settings.boot.provisioner_url(),
        provisioner_address: node.settings.boot.address.clone(),
        token,
        ..Default::default()
    })
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The `templates` collection as `{{template "name" .}}` sees it (parsed on demand).
pub struct StoreTemplates<'a>(pub &'a ObjectStore);

impl template::TemplateSource for StoreTemplates<'_> {
    fn template(&self, name: &str) -> Option<Arc<template::Template>> {
        let stored = self.0.get("templates", name).ok().flatten()?;
        let contents = stored.get("Contents").and_then(Value::as_str)?;
        template::Template::parse(name, contents).ok().map(Arc::new)
    }
}

/// Renders `source` (named `name` in errors) with `data`: 422 naming the template and what
/// failed (a syntax error's line and column, a missing param).
pub fn render_text(
    node: &Node,
    name: &str,
    source: &str,
    data: &DrpContext,
) -> Result<String, RenderError> {
    let parsed = template::Template::parse(name, source).map_err(|e| parse_error(&e))?;
    template::render(&parsed, data, &StoreTemplates(&node.store))
        .map_err(|e| RenderError::Template(format!("rendering {}: {}", e.template, e.message)))
}

/// 422 naming the template and the position of a syntax error.
pub fn parse_error(e: &template::ParseError) -> RenderError {
    RenderError::Template(format!(
        "template {} does not parse: line {}, column {}: {}",
        e.template, e.line, e.column, e.message
    ))
}

/// A task's templates rendered for a machine, as DRP's job actions: `{Name, Path, Content,
/// Meta}`; an action with a `Path` is a file to write, one without is a script to run.
pub fn task_actions(node: &Node, machine: &Value, task: &Value) -> Result<Vec<Value>, RenderError> {
    let data = context(node, machine, Some(task))?;
    let mut actions = Vec::new();
    for entry in task
        .get("Templates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = str_field(entry, "Name");
        let id = str_field(entry, "ID");
        let (label, source) = if id.is_empty() {
            (name.to_string(), str_field(entry, "Contents").to_string())
        } else {
            let stored = node.store.get("templates", id)?.ok_or_else(|| {
                RenderError::Template(format!(
                    "task {} uses template {id}, which does not exist",
                    str_field(task, "Name")
                ))
            })?;
            (id.to_string(), str_field(&stored, "Contents").to_string())
        };
        let content = render_text(node, &label, &source, &data)?;
        let path = render_text(
            node,
            &format!("{label} (Path)"),
            str_field(entry, "Path"),
            &data,
        )?;
        actions.push(serde_json::json!({
            "Name": name,
            "Path": path,
            "Content": content,
            "Meta": entry.get("Meta").cloned().unwrap_or_else(|| serde_json::json!({})),
        }));
    }
    Ok(actions)
}

/// A template, task, stage or bootenv whose template text does not parse is refused when it
/// is written (422 naming the template, line and column), not when a machine first needs it.
pub fn check_templates(collection: &str, object: &Value) -> Result<(), RenderError> {
    let check = |name: &str, source: &str| {
        template::Template::parse(name, source)
            .map(|_| ())
            .map_err(|e| parse_error(&e))
    };
    match collection {
        "templates" => check(str_field(object, "ID"), str_field(object, "Contents")),
        "tasks" | "stages" | "bootenvs" => {
            for entry in object
                .get("Templates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = str_field(entry, "Name");
                check(name, str_field(entry, "Contents"))?;
                check(&format!("{name} (Path)"), str_field(entry, "Path"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
