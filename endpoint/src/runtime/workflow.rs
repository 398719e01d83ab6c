//! Workflows: a machine's `Tasks` list is built from its workflow's stages, DRP style
//! (`stage:<name>`, `bootenv:<name>`, then the stage's tasks), and walked one entry at a time.
//! `stage:` and `bootenv:` entries are the server's: it applies them as the machine reaches
//! them; every other entry is a task an agent runs as a job.

use serde_json::{json, Map, Value};

/// Why a workflow's task list cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The workflow lists a stage that does not exist: its name.
    #[error("Workflow: stage {0} does not exist")]
    MissingStage(String),
}

/// The task list of `workflow`, with `stage` looking stages up by name. An error names the
/// first stage that does not exist.
pub fn build_tasks(
    workflow: &Value,
    mut stage: impl FnMut(&str) -> Option<Value>,
) -> Result<Vec<String>, WorkflowError> {
    let mut tasks = Vec::new();
    for name in strings(workflow.get("Stages")) {
        let Some(s) = stage(name) else {
            return Err(WorkflowError::MissingStage(name.to_owned()));
        };
        tasks.push(format!("stage:{name}"));
        if let Some(env) = s
            .get("BootEnv")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
        {
            tasks.push(format!("bootenv:{env}"));
        }
        tasks.extend(strings(s.get("Tasks")).map(str::to_string));
    }
    Ok(tasks)
}

fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// A task-list entry the server applies itself.
pub enum ServerEntry<'a> {
    Stage(&'a str),
    BootEnv(&'a str),
}

pub fn server_entry(entry: &str) -> Option<ServerEntry<'_>> {
    if let Some(stage) = entry.strip_prefix("stage:") {
        Some(ServerEntry::Stage(stage))
    } else {
        entry.strip_prefix("bootenv:").map(ServerEntry::BootEnv)
    }
}

pub fn tasks(machine: &Value) -> Vec<String> {
    strings(machine.get("Tasks")).map(str::to_string).collect()
}

pub fn current_task(machine: &Value) -> i64 {
    machine
        .get("CurrentTask")
        .and_then(Value::as_i64)
        .unwrap_or(-1)
}

pub fn str_field<'a>(object: &'a Value, field: &str) -> &'a str {
    object.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Moves the machine past the server entries that follow `CurrentTask` (setting its `Stage`
/// and `BootEnv` as it goes) up to the next task an agent must run. Reaching the end of a
/// workflow's list marks it `WorkflowComplete`. Returns the index of the next task, if any.
pub fn advance(machine: &mut Map<String, Value>) -> Option<usize> {
    let m = Value::Object(std::mem::take(machine));
    let list = tasks(&m);
    let has_workflow = !str_field(&m, "Workflow").is_empty();
    let mut current = current_task(&m);
    let Value::Object(taken) = m else {
        return None;
    };
    *machine = taken;
    let mut next = (current + 1).max(0) as usize;
    while let Some(entry) = list.get(next) {
        match server_entry(entry) {
            Some(ServerEntry::Stage(s)) => machine.insert("Stage".into(), json!(s)),
            Some(ServerEntry::BootEnv(e)) => machine.insert("BootEnv".into(), json!(e)),
            None => return Some(next),
        };
        current = next as i64;
        machine.insert("CurrentTask".into(), json!(current));
        next += 1;
    }
    if has_workflow {
        machine.insert("WorkflowComplete".into(), json!(true));
    }
    None
}

/// Resets a machine onto a (new) task list: nothing run yet, runnable, not complete; then
/// applies the leading server entries, so the machine is in its first stage at once.
pub fn start(machine: &mut Map<String, Value>, tasks: Vec<String>) {
    machine.insert("Tasks".into(), json!(tasks));
    machine.insert("CurrentTask".into(), json!(-1));
    machine.insert("CurrentJob".into(), json!(""));
    machine.insert("WorkflowComplete".into(), json!(false));
    machine.insert("Runnable".into(), json!(true));
    advance(machine);
}

/// A machine without a workflow moved to `stage` (DRP's stage change through the API): its
/// task list becomes that stage's, from the start, the stage's bootenv applied at once.
/// `Runnable` is left as it was: changing the stage does not restart a stopped machine.
pub fn enter_stage(machine: &mut Map<String, Value>, name: &str, stage: &Value) {
    let one = json!({ "Stages": [name] });
    let tasks = build_tasks(&one, |_| Some(stage.clone())).unwrap_or_default();
    let runnable = machine.get("Runnable").cloned();
    start(machine, tasks);
    if let Some(r) = runnable {
        machine.insert("Runnable".into(), r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages() -> impl FnMut(&str) -> Option<Value> {
        |name: &str| match name {
            "one" => Some(json!({"Name": "one", "BootEnv": "local", "Tasks": ["a", "b"]})),
            "two" => Some(json!({"Name": "two", "Tasks": ["c"]})),
            "empty" => Some(json!({"Name": "empty"})),
            _ => None,
        }
    }

    #[test]
    fn a_workflow_becomes_stage_bootenv_and_task_entries() {
        let wf = json!({"Stages": ["one", "two", "empty"]});
        assert_eq!(
            build_tasks(&wf, stages()).unwrap(),
            [
                "stage:one",
                "bootenv:local",
                "a",
                "b",
                "stage:two",
                "c",
                "stage:empty"
            ]
        );
        let err = build_tasks(&json!({"Stages": ["one", "nope"]}), stages()).unwrap_err();
        assert_eq!(err, WorkflowError::MissingStage("nope".into()));
        assert_eq!(err.to_string(), "Workflow: stage nope does not exist");
    }

    #[test]
    fn the_machine_walks_past_server_entries_and_completes_at_the_end() {
        let wf = json!({"Stages": ["one", "two", "empty"]});
        let mut m = json!({"Workflow": "w"}).as_object().unwrap().clone();
        start(&mut m, build_tasks(&wf, stages()).unwrap());
        assert_eq!(m["Stage"], "one");
        assert_eq!(m["BootEnv"], "local");
        assert_eq!(m["CurrentTask"], 1);
        m.insert("CurrentTask".into(), json!(3)); // "b" ran
        assert_eq!(advance(&mut m), Some(5));
        assert_eq!(m["Stage"], "two");
        m.insert("CurrentTask".into(), json!(5)); // "c" ran
        assert_eq!(advance(&mut m), None);
        assert_eq!(m["Stage"], "empty");
        assert_eq!(m["WorkflowComplete"], true);
    }

    #[test]
    fn a_stage_change_without_workflow_takes_the_stage_tasks() {
        let mut m = json!({"Workflow": "", "Stage": "one", "Runnable": false, "CurrentTask": 3})
            .as_object()
            .unwrap()
            .clone();
        let two = json!({"Name": "two", "BootEnv": "sledgehammer", "Tasks": ["c", "d"]});
        enter_stage(&mut m, "two", &two);
        assert_eq!(
            m["Tasks"],
            json!(["stage:two", "bootenv:sledgehammer", "c", "d"])
        );
        assert_eq!(
            (&m["Stage"], &m["BootEnv"]),
            (&json!("two"), &json!("sledgehammer"))
        );
        assert_eq!(m["CurrentTask"], 1);
        assert_eq!(
            m["Runnable"], false,
            "a stage change does not restart the machine"
        );
        // No workflow: the end of the stage's tasks is not a completed workflow.
        m.insert("CurrentTask".into(), json!(3));
        assert_eq!(advance(&mut m), None);
        assert_eq!(m["WorkflowComplete"], false);
    }
}
