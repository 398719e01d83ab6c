//! The fleet dashboard at `/ui/`: server-side sessions, embedded assets and a server-sent
//! event stream of the fleet's state; `/ui/objects` lists the fleet's objects from the
//! manager's replica. No front-end framework: plain HTML pages, one stylesheet and small
//! scripts, compiled into the binary (no CDN, no separate server).

mod fleet;
mod objects;
mod session;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::Stream;
use serde::Deserialize;

use crate::http::AppState;

const INDEX: &str = include_str!("assets/index.html");
const OBJECTS: &str = include_str!("assets/objects.html");
const LOGIN: &str = include_str!("assets/login.html");
const SCRIPT: &str = include_str!("assets/app.js");
const OBJECTS_SCRIPT: &str = include_str!("assets/objects.js");
const DOM_SCRIPT: &str = include_str!("assets/dom.js");
const STYLE: &str = include_str!("assets/app.css");
/// How often the event stream compares the fleet with what it last sent.
const TICK: Duration = Duration::from_millis(300);

/// The dashboard's routes; they authenticate by session cookie, not by the API's Basic auth.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|h: HeaderMap| async move { page(&h, INDEX) }))
        .route(
            "/ui/objects",
            get(|h: HeaderMap| async move { page(&h, OBJECTS) }),
        )
        .route("/ui/api/{collection}", get(objects::list))
        .route("/ui/login", post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/app.js", get(|| asset(SCRIPT, "text/javascript")))
        .route(
            "/ui/objects.js",
            get(|| asset(OBJECTS_SCRIPT, "text/javascript")),
        )
        .route("/ui/dom.js", get(|| asset(DOM_SCRIPT, "text/javascript")))
        .route("/ui/app.css", get(|| asset(STYLE, "text/css")))
        .route("/ui/state", get(state))
        .route("/ui/events", get(events))
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn html(body: &'static str, status: StatusCode) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Everything the page loads is its own: no inline script, no third party.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    resp
}

/// `body` for a signed-in session, the sign-in form otherwise.
fn page(headers: &HeaderMap, body: &'static str) -> Response {
    if session::valid(headers) {
        html(body, StatusCode::OK)
    } else {
        html(LOGIN, StatusCode::OK)
    }
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(State(st): State<AppState>, Form(c): Form<Credentials>) -> Response {
    let mgr = st.mgr.clone();
    let ok = c.username == crate::http::ADMIN_USER
        && tokio::task::spawn_blocking(move || {
            mgr.registry.admin().is_some_and(|h| h.verify(&c.password))
        })
        .await
        .unwrap_or(false);
    if !ok {
        return html(LOGIN, StatusCode::UNAUTHORIZED);
    }
    let mut resp = Redirect::to("/ui/").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::open()) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn logout(headers: HeaderMap) -> Response {
    session::close(&headers);
    let mut resp = Redirect::to("/ui/").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(session::CLEARED),
    );
    resp
}

async fn state(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if !session::valid(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(fleet::snapshot(&st.mgr)).into_response()
}

/// A `fleet` event with the whole snapshot whenever it changes, until the session ends or
/// the manager stops.
async fn events(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if !session::valid(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Sse::new(fleet_stream(st, headers))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn fleet_stream(st: AppState, headers: HeaderMap) -> impl Stream<Item = Result<Event, Infallible>> {
    let shutdown = st.mgr.shutdown_signal();
    futures::stream::unfold(
        (st, headers, shutdown, String::new()),
        |(st, headers, shutdown, last)| async move {
            loop {
                if *shutdown.borrow() || !session::valid(&headers) {
                    return None;
                }
                let text = fleet::snapshot(&st.mgr).to_string();
                if text != last {
                    let event = Event::default().event("fleet").data(text.clone());
                    return Some((Ok(event), (st, headers, shutdown, text)));
                }
                tokio::time::sleep(TICK).await;
            }
        },
    )
}
