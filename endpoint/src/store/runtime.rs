//! The runtime's part of `apply`: machine writes keep the server's fields and start a new
//! workflow, jobs are created for the machine's next task, job state changes advance or stop
//! the machine, and job logs grow within their bound. Deterministic: time comes from the
//! command, and every decision reads only this transaction.

use redb::Table;
use serde_json::{json, Map, Value};

use super::apply::{load, not_found, put};
use super::StoreError;
use crate::command::Response;
use crate::runtime::{job, rfc3339, workflow, SERVER_MACHINE_FIELDS};

type Objects<'a, 'b> = Table<'a, (&'b str, &'b str), &'b [u8]>;

/// Job logs live beside the objects under this (unserved) collection, keyed by job UUID, so
/// snapshots and restores carry them like any object.
pub const JOB_LOGS: &str = "_joblogs";

/// A machine as the client wrote it, with the server's fields restored from `before` and a
/// workflow change applied. `Err` is the refusal to send instead; the extra strings are
/// problems to add to the machine's `Errors` (it is then `Available: false`).
pub(super) fn maintain_machine(
    objects: &Objects,
    before: Option<&Value>,
    object: Value,
) -> Result<Result<(Value, Vec<String>), Response>, StoreError> {
    let Value::Object(mut map) = object else {
        return Ok(Ok((object, Vec::new())));
    };
    let key = map_str(&map, "Uuid").to_string();
    // Without a workflow the client picks the stage (DRP); it is applied below.
    let asked_stage = map_str(&map, "Stage").to_string();
    keep_server_fields(&mut map, before);
    if before.is_none() && map_str(&map, "Workflow").is_empty() {
        // DRP's `defaultWorkflow` pref: new machines start in it.
        if let Some(Value::String(default)) = load(objects, "prefs", "defaultWorkflow")? {
            map.insert("Workflow".into(), json!(default));
        }
    }
    let wanted = map
        .get("Workflow")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let had = before.map_or("", |b| workflow::str_field(b, "Workflow"));
    let mut problems = Vec::new();
    if before.is_none() || wanted != had {
        if let Some(refused) = busy(objects, before, &key, "workflow")? {
            return Ok(Err(refused));
        }
        problems.extend(start_workflow(
            objects,
            &mut map,
            before.is_some(),
            &wanted,
        )?);
    }
    let has = map_str(&map, "Stage").to_string();
    if wanted.is_empty() && !asked_stage.is_empty() && asked_stage != has {
        if let Some(refused) = busy(objects, before, &key, "stage")? {
            return Ok(Err(refused));
        }
        let Some(stage) = load(objects, "stages", &asked_stage)? else {
            return Ok(Err(Response::error(
                422,
                "machines",
                &key,
                format!("Stage: stages/{asked_stage} does not exist"),
            )));
        };
        workflow::enter_stage(&mut map, &asked_stage, &stage);
    }
    Ok(Ok((Value::Object(map), problems)))
}

/// A string field of an object's map ("" when absent): read in place, where wrapping the map
/// in a `Value` to use [`workflow::str_field`] would copy the whole machine.
fn map_str<'a>(map: &'a Map<String, Value>, field: &str) -> &'a str {
    map.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The server's fields are the server's: whatever the client sent for them is replaced by
/// the stored machine's values, and fields still unset get their defaults.
fn keep_server_fields(map: &mut Map<String, Value>, before: Option<&Value>) {
    for field in SERVER_MACHINE_FIELDS {
        map.remove(*field);
        if let Some(v) = before.and_then(|b| b.get(*field)) {
            map.insert(field.to_string(), v.clone());
        }
    }
    let defaults = [
        ("Tasks", json!([])),
        ("CurrentTask", json!(-1)),
        ("CurrentJob", json!("")),
        ("WorkflowComplete", json!(false)),
        ("Runnable", json!(true)),
        ("Workflow", json!("")),
        ("Context", json!("")),
        ("Stage", json!("")),
        ("BootEnv", json!("")),
    ];
    for (field, value) in defaults {
        let slot = map.entry(field).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// 409 while the machine runs a job: its workflow or stage (`what`) cannot change under it.
fn busy(
    objects: &Objects,
    before: Option<&Value>,
    key: &str,
    what: &str,
) -> Result<Option<Response>, StoreError> {
    Ok(running_job(objects, before)?.map(|running| {
        Response::error(
            409,
            "machines",
            key,
            format!(
                "machines/{key} is running job {running}; finish or fail it before changing the {what}"
            ),
        )
    }))
}

/// Puts the machine at the start of workflow `wanted` (none: no tasks; for an existing
/// machine the old ones are cleared). Returns the problems found building its tasks.
fn start_workflow(
    objects: &Objects,
    map: &mut Map<String, Value>,
    existed: bool,
    wanted: &str,
) -> Result<Vec<String>, StoreError> {
    let no_tasks = |map: &mut Map<String, Value>| {
        map.insert("Tasks".into(), json!([]));
        map.insert("CurrentTask".into(), json!(-1));
        map.insert("WorkflowComplete".into(), json!(false));
    };
    if wanted.is_empty() {
        if existed {
            no_tasks(map);
        }
        return Ok(Vec::new());
    }
    let Some(wf) = load(objects, "workflows", wanted)? else {
        // The reference check names the missing workflow; nothing can run meanwhile.
        no_tasks(map);
        return Ok(Vec::new());
    };
    let mut stage_error = None;
    let built = workflow::build_tasks(&wf, |s| match load(objects, "stages", s) {
        Ok(found) => found,
        Err(e) => {
            stage_error = Some(e);
            None
        }
    });
    if let Some(e) = stage_error {
        return Err(e);
    }
    Ok(match built {
        Ok(tasks) => {
            workflow::start(map, tasks);
            Vec::new()
        }
        Err(problem) => {
            workflow::start(map, Vec::new());
            map.insert("WorkflowComplete".into(), json!(false));
            vec![problem.to_string()]
        }
    })
}

/// The machine's current job, if it is still created or running.
fn running_job(objects: &Objects, machine: Option<&Value>) -> Result<Option<String>, StoreError> {
    let Some(machine) = machine else {
        return Ok(None);
    };
    let current = workflow::str_field(machine, "CurrentJob");
    if current.is_empty() {
        return Ok(None);
    }
    Ok(load(objects, "jobs", current)?
        .filter(|j| job::is_active(workflow::str_field(j, "State")))
        .map(|_| current.to_string()))
}

/// Adds `problems` to an object's `Errors`, making it unavailable.
pub(super) fn add_problems(object: &mut Value, problems: Vec<String>) {
    if problems.is_empty() {
        return;
    }
    if let Some(map) = object.as_object_mut() {
        let errors = map.entry("Errors").or_insert_with(|| json!([]));
        if let Some(list) = errors.as_array_mut() {
            list.extend(problems.into_iter().map(Value::String));
        }
        map.insert("Available".into(), json!(false));
    }
}

/// `POST /jobs`: the job for the machine's next task. 201 with a new job; 202 with the job
/// still created or running (an agent picking up where it was); 204 when there is nothing to
/// run (another context's machine, not runnable, workflow complete, or no task left).
pub(super) fn create_job(
    objects: &mut Objects,
    machine_key: &str,
    job_key: &str,
    context: &str,
    stamp: crate::fill::Stamp,
) -> Result<Response, StoreError> {
    let at_ms = stamp.at_ms;
    let Some(machine) = load(objects, "machines", machine_key)? else {
        return Ok(Response::error(
            422,
            "jobs",
            job_key,
            format!("Machine: machines/{machine_key} does not exist"),
        ));
    };
    let nothing = Response::ok(204, Value::Null);
    // DRP: the machine's work belongs to the agent of its `Context`; any other has nothing.
    if workflow::str_field(&machine, "Context") != context {
        return Ok(nothing);
    }
    if let Some(running) = running_job(objects, Some(&machine))? {
        if let Some(existing) = load(objects, "jobs", &running)? {
            return Ok(Response::ok(202, existing));
        }
    }
    if machine.get("Runnable").and_then(Value::as_bool) == Some(false)
        || machine.get("WorkflowComplete").and_then(Value::as_bool) == Some(true)
        || machine.get("Available").and_then(Value::as_bool) == Some(false)
    {
        return Ok(nothing);
    }
    let Value::Object(mut map) = machine.clone() else {
        return Ok(nothing);
    };
    let previous = workflow::str_field(&machine, "CurrentJob");
    let rerun = !previous.is_empty()
        && load(objects, "jobs", previous)?
            .is_some_and(|j| job::needs_rerun(workflow::str_field(&j, "State")));
    let index = if rerun && workflow::current_task(&machine) >= 0 {
        Some(workflow::current_task(&machine) as usize)
    } else {
        workflow::advance(&mut map)
    };
    let tasks = workflow::tasks(&machine);
    let Some((index, task)) = index.and_then(|i| tasks.get(i).map(|t| (i, t.clone()))) else {
        // Reaching the end marks the workflow complete (advance did); keep that.
        let done = Value::Object(map);
        if done != machine {
            put(objects, "machines", machine_key, &done)?;
        }
        return Ok(nothing);
    };
    if load(objects, "tasks", &task)?.is_none() {
        map.insert("Runnable".into(), json!(false));
        let mut m = Value::Object(map);
        add_problems(&mut m, vec![format!("Tasks: tasks/{task} does not exist")]);
        put(objects, "machines", machine_key, &m)?;
        return Ok(Response::error(
            422,
            "jobs",
            job_key,
            format!("machines/{machine_key} needs task {task}, which does not exist; the machine is stopped"),
        ));
    }
    let mut m = Value::Object(map);
    let new = job::new_job(job_key, &m, index, &task, context, &rfc3339(at_ms));
    if let Value::Object(map) = &mut m {
        map.insert("CurrentTask".into(), json!(index));
        map.insert("CurrentJob".into(), json!(job_key));
    }
    put(objects, "machines", machine_key, &m)?;
    let new = crate::fill::stored("jobs", new, None, stamp);
    put(objects, "jobs", job_key, &new)?;
    Ok(Response::ok(201, new))
}

/// A job write (PUT or PATCH) as the client made it: the server's fields restored, the state
/// change checked, and its effect on the machine applied. `Err` is the refusal to send.
pub(super) fn maintain_job(
    objects: &mut Objects,
    before: &Value,
    after: Value,
    at_ms: u64,
) -> Result<Result<Value, Response>, StoreError> {
    let key = workflow::str_field(before, "Uuid").to_string();
    let Value::Object(mut map) = after else {
        return Ok(Ok(after));
    };
    for field in job::SERVER_JOB_FIELDS {
        match before.get(*field) {
            Some(v) => map.insert(field.to_string(), v.clone()),
            None => map.remove(*field),
        };
    }
    let from = workflow::str_field(before, "State");
    let to = map
        .get("State")
        .and_then(Value::as_str)
        .unwrap_or(from)
        .to_string();
    if let Some((status, message)) = job::transition_problem(from, &to) {
        return Ok(Err(Response::error(status, "jobs", &key, message)));
    }
    let exit = map
        .get("ExitState")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !job::EXIT_STATES.contains(&exit.as_str()) {
        return Ok(Err(Response::error(
            422,
            "jobs",
            &key,
            format!(
                "ExitState: {exit:?} is not one of {}",
                job::EXIT_STATES[1..].join(", ")
            ),
        )));
    }
    map.insert("State".into(), json!(to));
    if from != to && !job::is_active(&to) {
        map.insert("EndTime".into(), json!(rfc3339(at_ms)));
        if to == job::FAILED {
            let log = load(objects, JOB_LOGS, &key)?;
            let tail = job::tail(
                log.as_ref().and_then(Value::as_str).unwrap_or(""),
                job::FAILURE_TAIL_LINES,
            );
            let errors = map.entry("ResultErrors").or_insert_with(|| json!([]));
            if let Some(list) = errors.as_array_mut() {
                list.extend(tail.into_iter().map(Value::String));
            }
        }
        end_machine_job(objects, before, &to)?;
    }
    Ok(Ok(Value::Object(map)))
}

/// What an ended job does to its machine, if it is still the machine's current job: finished
/// moves it on (possibly completing the workflow), failed stops it; incomplete leaves it to
/// run the same task again.
fn end_machine_job(objects: &mut Objects, job_obj: &Value, state: &str) -> Result<(), StoreError> {
    let machine_key = workflow::str_field(job_obj, "Machine");
    let Some(machine) = load(objects, "machines", machine_key)? else {
        return Ok(());
    };
    if workflow::str_field(&machine, "CurrentJob") != workflow::str_field(job_obj, "Uuid") {
        return Ok(());
    }
    let Value::Object(mut map) = machine else {
        return Ok(());
    };
    match state {
        job::FINISHED => {
            workflow::advance(&mut map);
        }
        job::FAILED => {
            map.insert("Runnable".into(), json!(false));
        }
        _ => {}
    }
    put(objects, "machines", machine_key, &Value::Object(map))
}

/// `PUT /jobs/<uuid>/log`: appends `data`, refused whole (413) past the bound.
pub(super) fn append_log(
    objects: &mut Objects,
    job_key: &str,
    data: &str,
) -> Result<Response, StoreError> {
    if load(objects, "jobs", job_key)?.is_none() {
        return Ok(not_found("jobs", job_key));
    }
    let mut log = match load(objects, JOB_LOGS, job_key)? {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    if log.len() + data.len() > job::MAX_JOB_LOG_BYTES {
        return Ok(Response::error(
            413,
            "jobs",
            job_key,
            format!(
                "the log of jobs/{job_key} would pass its limit of {} MiB ({} bytes held, {} sent)",
                job::MAX_JOB_LOG_BYTES >> 20,
                log.len(),
                data.len()
            ),
        ));
    }
    log.push_str(data);
    put(objects, JOB_LOGS, job_key, &Value::String(log))?;
    Ok(Response::ok(204, Value::Null))
}
