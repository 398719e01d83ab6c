//! What a machine token allows: its own machine and that machine's jobs (DRP's machine
//! token), plus reading the content its tasks are made of. Everything else is a 403.

use serde_json::Value;

use super::roles::Need;
use crate::store::ObjectStore;

/// Collections holding content, not other machines' data: a machine may read them.
const CONTENT: &[&str] = &[
    "tasks",
    "stages",
    "workflows",
    "bootenvs",
    "templates",
    "params",
];

pub fn allowed(store: &ObjectStore, machine: &str, need: &Need) -> bool {
    match (need.scope.as_str(), need.action) {
        ("machines", "get" | "update") => need.specific == machine,
        // The job's `Machine` is checked by the handler (403 for another machine).
        ("jobs", "create") => need.specific.is_empty(),
        ("jobs", "get" | "update") if !need.specific.is_empty() => {
            job_machine(store, &need.specific).is_some_and(|m| m == machine)
        }
        (scope, "get") => CONTENT.contains(&scope) && !need.specific.is_empty(),
        _ => false,
    }
}

fn job_machine(store: &ObjectStore, job: &str) -> Option<String> {
    let found = store.get("jobs", job).ok().flatten()?;
    found
        .get("Machine")
        .and_then(Value::as_str)
        .map(str::to_string)
}
