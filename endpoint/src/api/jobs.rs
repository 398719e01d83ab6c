//! DRP's job routes, the server side of the agent loop: `POST /jobs` (the machine's next
//! job), `GET /jobs/<uuid>/actions` (its task rendered), `PUT/GET /jobs/<uuid>/log`.
//! State changes go through the ordinary `PUT/PATCH /jobs/<uuid>`, applied by the store.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;

use super::commit::{Origin, RequestHead};
use super::error::ApiError;
use super::request::{parse_json, respond};
use crate::auth::Principal;
use crate::command::Op;
use crate::node::Node;
use crate::runtime::workflow::str_field;
use crate::store::runtime::JOB_LOGS;

/// A committed outcome; 204 carries no body.
async fn commit(
    node: &Node,
    head: &RequestHead,
    body: &[u8],
    op: Op,
) -> Result<Response, ApiError> {
    let outcome = super::commit::outcome(node, Origin::request(head, body), op).await?;
    if outcome.status == 204 {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(respond(outcome))
}

/// `POST /jobs` with `{"Machine": "<uuid>", "Context": "<agent context>"}`.
pub async fn create(
    State(node): State<Node>,
    Extension(caller): Extension<Principal>,
    head: RequestHead,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = parse_json(&body)?;
    let machine = match request.get("Machine") {
        Some(Value::String(m)) if uuid::Uuid::parse_str(m).is_ok() => m.clone(),
        Some(Value::String(m)) => {
            return Err(ApiError::new(422, format!("Machine: {m:?} is not a UUID")).on("jobs", ""))
        }
        _ => {
            return Err(
                ApiError::new(422, "Machine is required: the UUID of the machine to run")
                    .on("jobs", ""),
            )
        }
    };
    if let Some(own) = &caller.machine {
        if *own != machine {
            return Err(ApiError::new(
                403,
                format!("a token for machine {own} may not create jobs for machine {machine}"),
            )
            .on("jobs", ""));
        }
    }
    // DRP's agent sends its context; a job is made only when the machine is in it.
    let context = match request.get("Context") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(c)) => c.clone(),
        Some(other) => {
            return Err(
                ApiError::new(422, format!("Context: {other} is not a string")).on("jobs", ""),
            )
        }
    };
    let op = Op::CreateJob {
        machine,
        // Time-ordered, like generated object keys (`objects::create`).
        job: uuid::Uuid::now_v7().to_string(),
        context,
    };
    commit(&node, &head, &body, op).await
}

fn load_job(node: &Node, key: &str) -> Result<Value, ApiError> {
    node.store
        .get("jobs", key)?
        .ok_or_else(|| ApiError::not_found(format!("jobs/{key} not found")).on("jobs", key))
}

/// `GET /jobs/<uuid>/actions`: the job's task rendered for its machine.
pub async fn actions(
    State(node): State<Node>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let job = load_job(&node, &key)?;
    let machine_key = str_field(&job, "Machine");
    let machine = node.store.get("machines", machine_key)?.ok_or_else(|| {
        ApiError::new(422, format!("machines/{machine_key} no longer exists")).on("jobs", &key)
    })?;
    let task_name = str_field(&job, "Task");
    let task = node.store.get("tasks", task_name)?.ok_or_else(|| {
        ApiError::new(422, format!("tasks/{task_name} no longer exists")).on("jobs", &key)
    })?;
    let actions =
        super::render::task_actions(&node, &machine, &task).map_err(|e| e.on("jobs", &key))?;
    Ok(Json(actions).into_response())
}

/// `GET /jobs/<uuid>/log`: the log as text.
pub async fn get_log(
    State(node): State<Node>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    load_job(&node, &key)?;
    let log = match node.store.get(JOB_LOGS, &key)? {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}

/// `PUT /jobs/<uuid>/log`: appends the body (text) to the log; 413 past the log's bound.
pub async fn append_log(
    State(node): State<Node>,
    Path(key): Path<String>,
    head: RequestHead,
    body: Bytes,
) -> Result<Response, ApiError> {
    let data = String::from_utf8_lossy(&body).into_owned();
    let op = Op::AppendJobLog { job: key, data };
    commit(&node, &head, &body, op).await
}

/// `GET /jobs` and `HEAD /jobs`, which `POST /jobs` shares a path with.
pub async fn list(node: State<Node>, query: RawQuery) -> Result<Response, ApiError> {
    super::objects::list(node, Path("jobs".to_string()), query).await
}

pub async fn count(node: State<Node>, query: RawQuery) -> Result<Response, ApiError> {
    super::objects::count(node, Path("jobs".to_string()), query).await
}

/// `GET /machines/<uuid>/token?ttl=<seconds>`: a machine token for the machine's agent.
pub async fn machine_token(
    State(node): State<Node>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    if node.store.get("machines", &key)?.is_none() {
        return Err(ApiError::not_found(format!("machines/{key} not found")).on("machines", &key));
    }
    let ttl = ttl(query.as_deref())?;
    let (token, exp) = crate::auth::token::issue_machine(&node, &key, ttl)
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(serde_json::json!({
        "Token": token,
        "Info": {"Machine": key, "Expires": exp, "Ttl": ttl.min(crate::auth::token::MAX_TTL_SECS)},
    }))
    .into_response())
}

fn ttl(query: Option<&str>) -> Result<u64, ApiError> {
    let Some(raw) = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find_map(|(k, v)| (k == "ttl").then(|| v.into_owned()))
    }) else {
        return Ok(3600);
    };
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("ttl: {raw:?} is not a number of seconds")))
}

/// `GET /machines/<uuid>/render?template=<ID>` renders one stored template for the machine;
/// without `template`, every template of the machine's current task, as job actions.
pub async fn machine_render(
    State(node): State<Node>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let machine = node.store.get("machines", &key)?.ok_or_else(|| {
        ApiError::not_found(format!("machines/{key} not found")).on("machines", &key)
    })?;
    let wanted = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find_map(|(k, v)| (k == "template").then(|| v.into_owned()))
    });
    if let Some(id) = wanted {
        let stored = node.store.get("templates", &id)?.ok_or_else(|| {
            ApiError::not_found(format!("templates/{id} not found")).on("templates", &id)
        })?;
        let data = super::render::context(&node, &machine, None)?;
        let text = super::render::render_text(&node, &id, str_field(&stored, "Contents"), &data)
            .map_err(|e| e.on("machines", &key))?;
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    let tasks = crate::runtime::workflow::tasks(&machine);
    let current = crate::runtime::workflow::current_task(&machine);
    let task_name = usize::try_from(current)
        .ok()
        .and_then(|i| tasks.get(i))
        .filter(|t| crate::runtime::workflow::server_entry(t).is_none());
    let Some(task_name) = task_name else {
        return Ok(Json(Vec::<Value>::new()).into_response());
    };
    let task = node.store.get("tasks", task_name)?.ok_or_else(|| {
        ApiError::new(422, format!("tasks/{task_name} no longer exists")).on("machines", &key)
    })?;
    let actions =
        super::render::task_actions(&node, &machine, &task).map_err(|e| e.on("machines", &key))?;
    Ok(Json(actions).into_response())
}
