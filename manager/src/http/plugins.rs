//! `POST /api/v3/plugins/manager/addEndpoint`: DRP's registration action. The body is the
//! action's params map (`manager/url`, `manager/username`, `manager/password`, optionally
//! `manager/ca`). `drpcli plugins runaction manager addEndpoint ...` sends it to
//! `.../plugins/manager/actions/addEndpoint`, also served, and `drpcli plugins actions manager`
//! reads `GET .../plugins/manager/actions`; `GET /api/v3/plugins[/manager]` answer a minimal
//! DRP Plugin naming it. The target is
//! asked for its `Info` with those credentials first, so a wrong URL or password is refused
//! here, with nothing registered; its Id comes from that answer (the cluster's HaID, or a
//! manager's `id`) and it is then registered exactly as `POST /api/v3/endpoints` does.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use proto::paths;
use serde_json::{json, Map, Value};
use versionsets::Endpoint;

use super::endpoints::register;
use super::view::endpoint_view;
use crate::cluster::trust::{self, Anchor};
use crate::http::{ApiError, ApiResult, AppState, ADMIN_USER};

const MODEL: &str = "plugins";
const KEY: &str = "manager";
const URL: &str = "manager/url";
const USERNAME: &str = "manager/username";
const PASSWORD: &str = "manager/password";
/// How long the target has to answer (TLS first use and `Info`, each).
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// The manager's plugin routes, merged into the router behind its authentication.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v3/plugins", get(|| async { Json(json!([plugin()])) }))
        .route("/api/v3/plugins/manager", get(|| async { Json(plugin()) }))
        .route(
            "/api/v3/plugins/manager/actions",
            get(|| async { Json(json!([action()])) }),
        )
        .route("/api/v3/plugins/manager/addEndpoint", post(add_endpoint))
        .route(
            "/api/v3/plugins/manager/actions/addEndpoint",
            post(add_endpoint),
        )
}

/// DRP's `Plugin` for the manager's built-in actions.
fn plugin() -> Value {
    json!({
        "Name": KEY,
        "Provider": KEY,
        "Description": "The manager's own actions (built in)",
        "Params": {},
        "PluginErrors": [],
        "Available": true,
        "Valid": true,
        "ReadOnly": true,
    })
}

/// DRP's `AvailableAction` for addEndpoint.
fn action() -> Value {
    json!({
        "Command": "addEndpoint",
        "Model": MODEL,
        "Provider": KEY,
        "RequiredParams": [URL, USERNAME, PASSWORD],
        "OptionalParams": [trust::CA_PARAM],
    })
}

/// The action's checked params.
struct Target {
    url: String,
    username: String,
    password: String,
    /// `manager/ca`, kept as given (the endpoint's trust anchor).
    ca: Option<Value>,
}

/// `POST /api/v3/plugins/manager/addEndpoint`: 201 with the new Endpoint (password masked),
/// 200 with it when the same URL is registered already; 400/422 naming a bad param, 422 when
/// the target refuses the credentials, 502/504 naming an unreachable URL, 409 when the Id
/// belongs to an endpoint at another URL.
async fn add_endpoint(State(st): State<AppState>, body: Bytes) -> ApiResult {
    let target = parse(&body)?;
    let info = ask_info(&target).await?;
    let id = endpoint_id(&info).ok_or_else(|| {
        ApiError::one(
            StatusCode::BAD_GATEWAY,
            MODEL,
            KEY,
            format!("{}: its Info names no id or ha_id", target.url),
        )
    })?;
    if let Some((existing, src)) = st.mgr.effective_endpoint(&id) {
        let at = existing
            .params
            .get(URL)
            .and_then(Value::as_str)
            .map(|u| u.trim_end_matches('/'));
        if at == Some(target.url.as_str()) {
            tracing::info!(endpoint = %id, "addEndpoint: already registered at this URL");
            return Ok(Json(endpoint_view(&st.mgr, &existing, src)).into_response());
        }
        return Err(ApiError::conflict(
            "endpoints",
            &id,
            format!(
                "endpoint `{id}` is registered at {} already; {} answers with the same Id",
                at.unwrap_or("another URL"),
                target.url
            ),
        ));
    }
    tracing::info!(endpoint = %id, url = %target.url, "addEndpoint: registering");
    register(&st, endpoint(id, target)).await
}

/// The params map: `manager/url` an http(s) URL, the credentials strings (the username
/// defaults to DRP's admin).
fn parse(body: &[u8]) -> Result<Target, ApiError> {
    let params: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(ApiError::bad_request(
                MODEL,
                KEY,
                "the body of addEndpoint is its params map, a JSON object",
            ))
        }
        Err(e) => {
            return Err(ApiError::bad_request(
                MODEL,
                KEY,
                format!("request body:{}:{}: {e}", e.line(), e.column()),
            ))
        }
    };
    let url = string(&params, URL)?
        .ok_or_else(|| invalid(format!("{URL}: missing (the endpoint's API URL)")))?;
    let url = checked_url(&url)?;
    let username = string(&params, USERNAME)?.unwrap_or_else(|| ADMIN_USER.to_owned());
    let password =
        string(&params, PASSWORD)?.ok_or_else(|| invalid(format!("{PASSWORD}: missing")))?;
    Ok(Target {
        url,
        username,
        password,
        ca: params.get(trust::CA_PARAM).cloned(),
    })
}

/// 422 naming the param.
fn invalid(message: String) -> ApiError {
    ApiError::one(StatusCode::UNPROCESSABLE_ENTITY, MODEL, KEY, message)
}

/// A non-empty string param, or none when absent; 422 when it is something else.
fn string(params: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(invalid(format!("{name}: must be a non-empty string"))),
    }
}

/// `url` without a trailing `/`, when it is an http(s) URL with a host.
fn checked_url(url: &str) -> Result<String, ApiError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| invalid(format!("{URL}: `{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid(format!(
            "{URL}: `{url}` must be an http(s) URL with a host, e.g. https://host:8092"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The target's `Info`, asked with the given credentials over TLS verified as the manager
/// will verify it later (`manager/ca`, or the certificate it presents now).
async fn ask_info(t: &Target) -> Result<Value, ApiError> {
    let unreachable = |code, why: String| {
        ApiError::one(
            code,
            MODEL,
            KEY,
            format!("{URL}: {} did not answer: {why}", t.url),
        )
    };
    let client = match &t.ca {
        Some(ca) => match trust::anchor_from_param(ca) {
            Anchor::Invalid(m) => return Err(invalid(format!("{}: {m}", trust::CA_PARAM))),
            anchor => trust::cluster_client(&anchor).map_err(ApiError::internal)?,
        },
        None if trust::is_https(&t.url) => match trust::first_use(&t.url, ASK_TIMEOUT).await {
            Ok((client, _)) => client,
            Err(e) => return Err(unreachable(StatusCode::BAD_GATEWAY, e.to_string())),
        },
        None => trust::cluster_client(&Anchor::Unpinned).map_err(ApiError::internal)?,
    };
    let resp = client
        .get(format!("{}{}", t.url, paths::INFO))
        .basic_auth(&t.username, Some(&t.password))
        .timeout(ASK_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            let code = if e.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            unreachable(code, trust::describe(&e))
        })?;
    match resp.status() {
        s if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN => Err(invalid(format!(
            "{USERNAME}, {PASSWORD}: {} refused the credentials of `{}` ({s})",
            t.url, t.username
        ))),
        s if !s.is_success() => Err(unreachable(
            StatusCode::BAD_GATEWAY,
            format!("GET {} answered {s}", paths::INFO),
        )),
        _ => resp.json::<Value>().await.map_err(|e| {
            unreachable(
                StatusCode::BAD_GATEWAY,
                format!("its Info is not JSON: {e}"),
            )
        }),
    }
}

/// The Id `POST /api/v3/endpoints` requires: a cluster's HaID; a manager (no HA) goes by
/// its own `id`.
fn endpoint_id(info: &Value) -> Option<String> {
    ["ha_id", "id"]
        .iter()
        .filter_map(|f| info.get(*f).and_then(Value::as_str))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The Endpoint to register: its connection params, nothing desired yet.
fn endpoint(id: String, t: Target) -> Endpoint {
    let mut ep = Endpoint {
        id,
        ..Endpoint::default()
    };
    ep.params.insert(URL.into(), Value::String(t.url));
    ep.params.insert(USERNAME.into(), Value::String(t.username));
    ep.params.insert(PASSWORD.into(), Value::String(t.password));
    if let Some(ca) = t.ca {
        ep.params.insert(trust::CA_PARAM.into(), ca);
    }
    ep
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(body: Value) -> ApiError {
        match parse(body.to_string().as_bytes()) {
            Ok(_) => panic!("accepted {body}"),
            Err(e) => e,
        }
    }

    #[test]
    fn params_are_checked_and_named() {
        let e = refused(json!({"manager/password": "x"}));
        assert_eq!(e.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.messages[0].starts_with("manager/url: missing"), "{e:?}");
        let e = refused(json!({"manager/url": "ftp://h:1", "manager/password": "x"}));
        assert!(e.messages[0].contains("http(s) URL"), "{e:?}");
        let e = refused(json!({"manager/url": "nope", "manager/password": "x"}));
        assert!(e.messages[0].starts_with("manager/url:"), "{e:?}");
        let e = refused(json!({"manager/url": "http://h:1", "manager/username": 7}));
        assert!(e.messages[0].starts_with("manager/username:"), "{e:?}");
        let e = refused(json!({"manager/url": "http://h:1"}));
        assert!(
            e.messages[0].starts_with("manager/password: missing"),
            "{e:?}"
        );
        assert_eq!(refused(json!(["x"])).code, StatusCode::BAD_REQUEST);
        let t = parse(br#"{"manager/url": "https://h:8092/", "manager/password": "pw"}"#)
            .expect("valid");
        assert_eq!(t.url, "https://h:8092");
        assert_eq!(t.username, ADMIN_USER);
    }

    #[test]
    fn the_id_is_the_ha_id_else_the_managers_id() {
        let cluster = json!({"id": "node-1", "ha_id": "site-a", "manager": false});
        assert_eq!(endpoint_id(&cluster).as_deref(), Some("site-a"));
        let manager = json!({"id": "lower", "ha_id": "", "manager": true});
        assert_eq!(endpoint_id(&manager).as_deref(), Some("lower"));
        assert_eq!(endpoint_id(&json!({"ha_id": ""})), None);
    }
}
