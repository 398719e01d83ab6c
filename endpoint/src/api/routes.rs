//! The one table of the REST API: every route, the handler of each method, and what the
//! OpenAPI document says about it. `api::router` builds the router from this table and
//! `swagger::document` describes the same table, so what is served and what is documented
//! cannot drift apart.

use axum::body::Body as HttpBody;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter, Router};
use futures::StreamExt;

use super::error::ApiError;
use super::{
    certificate, consensus, contents, files, indexes, info, jobs, object_params, objects, snapshot,
    swagger, system, users, versionset, whoami, ws,
};
use crate::node::Node;
use crate::packs::bundle::MAX_PACK_BYTES;
use Body as B;
use Kind::{GuardedWrite, KeyedWrite, Local, Open, Read, Write};
use Reply as R;
use Verb::{Delete, Get, Head, Patch, Post, Put};

/// The HTTP methods the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Head => MethodFilter::HEAD,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    /// The method as OpenAPI names it (a path item's key).
    pub fn key(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Head => "head",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// How a call is served. It decides the headers and the failure statuses every call of the
/// kind shares, so each row only lists what is particular to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Served without credentials (`auth::is_open`), from this member.
    Open,
    /// Answered from this member's own view, with no read fence.
    Local,
    /// A linearizable read (`X-DRP-Stale-Read: true` opts out); 503 when no leader confirms.
    Read,
    /// A replicated write: `Idempotency-Key` (400 malformed, 422 reused for another
    /// request); 503 when no quorum commits it in time.
    Write,
    /// A write to one existing object: also `If-Match` (412).
    GuardedWrite,
    /// A write that requires an `Idempotency-Key` (400 without one).
    KeyedWrite,
}

impl Kind {
    pub fn is_write(self) -> bool {
        matches!(self, Kind::Write | Kind::GuardedWrite | Kind::KeyedWrite)
    }
}

/// A request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    /// An object of the route's collection (JSON or YAML).
    Object,
    /// An RFC 6902 JSON Patch.
    JsonPatch,
    /// Any JSON value (a param value).
    AnyJson,
    /// A map of param name to value (a whole `Params`).
    Params,
    /// DRP's `UserPassword`: `{"Password"}`.
    Password,
    /// DRP's `Whoami`: what a machine knows of itself.
    Whoami,
    Prefs,
    Enroll,
    CertificateRequest,
    VersionSetApply,
    ContentPack,
    /// Raw bytes (a file).
    Bytes,
}

/// A successful reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// No body (HEAD).
    Empty,
    /// No body; the counts in `X-Drp-List-*-Count`.
    Count,
    /// One object of the route's collection.
    Object,
    /// One object with its `ETag`.
    ObjectWithEtag,
    /// A page of the route's collection, with the counts in `X-Drp-List-*-Count`.
    Objects,
    /// A map of param name to value.
    Params,
    AnyJson,
    String,
    /// Plain text (`text/plain`), such as a job log or the metrics exposition.
    Text,
    Info,
    OpenApi,
    ClusterState,
    Peers,
    FailOverSafe,
    Certificate,
    Prefs,
    ContentSummary,
    ContentSummaries,
    ContentPack,
    FilePaths,
    FileBytes,
    /// No body; `X-DRP-SHA256SUM` and `Content-Length`.
    FileHead,
    FileMeta,
    VersionSetApplied,
    VersionSetRecord,
    Token,
    /// 101 Switching Protocols to a websocket.
    Upgrade,
}

/// Query and header parameters particular to a call (those of its kind are implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `offset`, `limit`, `sort`, `reverse` and `Field=Op(value)` filters.
    ListQuery,
    Aggregate,
    ReplaceWritable,
    Explode,
    Ttl,
    /// `X-DRP-SHA256SUM` on an upload.
    Sha256Claim,
}

/// The request-body limit of a route. A larger body is refused with a DRP-shaped 413 naming
/// the limit: up front when `Content-Length` says so, else once the body reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// [`DEFAULT_BODY_BYTES`].
    Default,
    Max(usize),
    /// The handler streams the body (never buffered whole) and enforces this bound itself.
    Streamed(usize),
}

/// The body limit of most calls (axum's default too): an object, a patch or a param value is
/// far smaller, and a body is buffered whole before it is parsed.
pub const DEFAULT_BODY_BYTES: usize = 2 << 20;

impl BodyLimit {
    pub fn bytes(self) -> usize {
        match self {
            BodyLimit::Default => DEFAULT_BODY_BYTES,
            BodyLimit::Max(bytes) | BodyLimit::Streamed(bytes) => bytes,
        }
    }
}

/// A refused body is still read, and dropped, up to this much past the limit: a client that
/// sends its whole body before it reads the reply (reqwest, most HTTP libraries) then gets the
/// 413 rather than a broken pipe. Past it the connection is closed unread.
const DRAIN_BYTES: u64 = 64 << 20;

/// 413 naming the limit; `close` when the rest of the body is left unread.
fn too_large(limit: usize, close: bool) -> Response {
    let size = if limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    };
    let mut resp = ApiError::new(
        413,
        format!("the request body is larger than this call's limit of {size}"),
    )
    .into_response();
    if close {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Reads and drops the rest of a refused body (at most [`DRAIN_BYTES`]), then answers 413.
async fn drain_and_refuse(
    limit: usize,
    mut stream: axum::body::BodyDataStream,
    mut read: u64,
) -> Response {
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return too_large(limit, true);
        };
        read += chunk.len() as u64;
        if read > limit as u64 + DRAIN_BYTES {
            return too_large(limit, true);
        }
    }
    too_large(limit, false)
}

/// Bounds the request body of a route: a body over `limit` is answered with a DRP-shaped 413
/// naming the limit. A buffered route's body is read whole here, before any handler or the 405
/// fallback answers: a reply sent while part of the body was still unread made hyper drop the
/// keep-alive connection under the client's next request (schemathesis saw `EOF occurred in
/// violation of protocol` after a 405). A streamed route (file uploads) is only refused up front,
/// by its `Content-Length`; its handler enforces the bound as it streams.
async fn limit_body(limit: usize, streamed: bool, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let req = if streamed {
        if declared.is_some_and(|n| n > limit as u64) {
            return too_large(limit, true);
        }
        req
    } else {
        if declared.is_some_and(|n| n > limit as u64 + DRAIN_BYTES) {
            return too_large(limit, true);
        }
        let (parts, body) = req.into_parts();
        let mut stream = body.into_data_stream();
        let capacity = declared.map_or(0, |n| n.min(limit as u64) as usize);
        let mut buffered: Vec<u8> = Vec::with_capacity(capacity);
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    return ApiError::bad_request(format!("reading the request body: {e}"))
                        .into_response()
                }
            };
            if buffered.len() + chunk.len() > limit {
                let read = (buffered.len() + chunk.len()) as u64;
                drop(buffered);
                return drain_and_refuse(limit, stream, read).await;
            }
            buffered.extend_from_slice(&chunk);
        }
        Request::from_parts(parts, HttpBody::from(buffered))
    };
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        // axum's own plain-text 413 (a handler's extractor limit): in DRP's shape.
        return too_large(limit, false);
    }
    resp
}

type Handler = fn(MethodFilter) -> MethodRouter<Node>;

pub struct Operation {
    pub verb: Verb,
    /// Installs the handler for `verb`: the method comes from `verb` only.
    pub handler: Handler,
    /// `operationId`; in a `{collection}` route `{C}` is the model name (`Machine`) and
    /// `{Cs}` the collection's (`Machines`).
    pub id: &'static str,
    /// In a `{collection}` route, `{c}` is the collection and `{m}` its model.
    pub summary: &'static str,
    pub notes: &'static str,
    pub kind: Kind,
    pub params: &'static [Param],
    pub body: Body,
    pub ok: &'static [u16],
    pub reply: Reply,
    /// Failure statuses with a DRP error body, beyond those `kind` implies.
    pub errors: &'static [u16],
    /// Failure statuses axum answers itself, with a plain-text body.
    pub plain_errors: &'static [u16],
}

const fn op(verb: Verb, handler: Handler, id: &'static str, kind: Kind) -> Operation {
    Operation {
        verb,
        handler,
        id,
        summary: "",
        notes: "",
        kind,
        params: &[],
        body: Body::None,
        ok: &[200],
        reply: Reply::AnyJson,
        errors: &[],
        plain_errors: &[],
    }
}

impl Operation {
    const fn says(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }
    const fn notes(mut self, notes: &'static str) -> Self {
        self.notes = notes;
        self
    }
    const fn params(mut self, params: &'static [Param]) -> Self {
        self.params = params;
        self
    }
    const fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
    const fn replies(mut self, ok: &'static [u16], reply: Reply) -> Self {
        self.ok = ok;
        self.reply = reply;
        self
    }
    const fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
    const fn plain_errors(mut self, plain_errors: &'static [u16]) -> Self {
        self.plain_errors = plain_errors;
        self
    }
}

pub struct Route {
    /// axum syntax: `{name}` is one segment, `{*name}` the rest of the path. `{collection}`
    /// is documented once per entry of `model::COLLECTIONS`.
    pub path: &'static str,
    /// The OpenAPI tag; `{c}` is the collection.
    pub tag: &'static str,
    pub body_limit: BodyLimit,
    pub ops: &'static [Operation],
}

impl Route {
    pub fn method_router(&self) -> MethodRouter<Node> {
        let methods = self.ops.iter().fold(MethodRouter::new(), |methods, op| {
            methods.merge((op.handler)(op.verb.filter()))
        });
        let limit = self.body_limit.bytes();
        let methods = match self.body_limit {
            BodyLimit::Default | BodyLimit::Max(_) => methods.layer(DefaultBodyLimit::max(limit)),
            BodyLimit::Streamed(_) => methods.layer(DefaultBodyLimit::disable()),
        };
        let streamed = matches!(self.body_limit, BodyLimit::Streamed(_));
        methods.layer(middleware::from_fn(move |req: Request, next: Next| {
            limit_body(limit, streamed, req, next)
        }))
    }
}

/// Every route of the table, without middleware or state.
pub fn routes() -> Router<Node> {
    ROUTES.iter().fold(Router::new(), |router, r| {
        router.route(r.path, r.method_router())
    })
}

pub static ROUTES: &[Route] = &[
    Route {
        path: "/api/v3/info",
        tag: "info",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, info::info), "getInfo", Open)
            .says("Endpoint info, with the HA fields")
            .replies(&[200], R::Info)],
    },
    Route {
        path: "/api/v3/swagger.json",
        tag: "info",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, swagger::document), "getSwagger", Open)
            .says("This OpenAPI document")
            .replies(&[200], R::OpenApi)],
    },
    Route {
        path: "/api/v3/system/consensus/id",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, consensus::id), "getConsensusId", Local)
            .says("This member's ConsensusID")
            .replies(&[200], R::String)],
    },
    Route {
        path: "/api/v3/system/consensus/leader",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, consensus::leader), "getConsensusLeader", Local)
                .says("The leader's ConsensusID (empty during an election)")
                .replies(&[200], R::String),
        ],
    },
    Route {
        path: "/api/v3/system/consensus/state",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, consensus::state), "getConsensusState", Local)
                .says("The cluster as this member sees it")
                .replies(&[200], R::ClusterState),
        ],
    },
    Route {
        path: "/api/v3/system/consensus/peers",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, consensus::peers), "getConsensusPeers", Local)
                .says("The members, as in ClusterState.Nodes")
                .replies(&[200], R::Peers),
        ],
    },
    Route {
        path: "/api/v3/system/consensus/enroll",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Post, |m| on(m, consensus::enroll), "enrollNode", Local)
                .says("Add a node to the cluster (as a learner, then a voter once caught up)")
                .notes("Forwarded to the leader. 409 while another membership change runs.")
                .body(B::Enroll)
                .replies(&[200], R::ClusterState)
                .errors(&[400, 409, 422, 503]),
        ],
    },
    Route {
        path: "/api/v3/system/consensus/certificate",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Post, |m| on(m, certificate::issue), "issueMemberCertificate", Local)
                .says("Sign a joining node's CSR: its member certificate, the cluster CA and the API certificate")
                .notes("Admin only (else 403). 503 while this member has not received the cluster CA.")
                .body(B::CertificateRequest)
                .replies(&[200], R::Certificate)
                .errors(&[400, 403, 422, 503]),
        ],
    },
    Route {
        path: "/api/v3/system/consensus/rotate",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Post, |m| on(m, certificate::rotate_member), "rotateMemberCertificate", Local)
                .says("Give this member a new key and member certificate from the cluster CA")
                .notes("Used from the next connection on; open connections finish on the old one and nothing restarts. 503 while this member has not received the cluster CA.")
                .replies(&[200], R::AnyJson)
                .errors(&[503]),
        ],
    },
    Route {
        path: "/api/v3/system/tls/rotate",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Post, |m| on(m, certificate::rotate_api), "rotateApiCertificate", Local)
                .says("Issue a new API certificate from the cluster CA, for every member's API host")
                .notes("Committed to the replicated state; each member serves it from the next connection once it has applied it (within a second or two). Members started with --tls-cert/--tls-key keep serving their files. 503 without a quorum.")
                .replies(&[200], R::AnyJson)
                .errors(&[503]),
        ],
    },
    Route {
        path: "/api/v3/system/consensus/node/{id}",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Delete, |m| on(m, consensus::remove), "removeNode", Local)
                .says("Remove a member")
                .notes("Forwarded to the leader. 409 while another membership change runs.")
                .replies(&[200], R::ClusterState)
                .errors(&[400, 404, 409, 503]),
        ],
    },
    Route {
        path: "/api/v3/system/consensus/snapshot",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, snapshot::download), "getConsensusSnapshot", Read)
            .says("A consistent backup of the whole replicated state (drp-endpoint snapshot save/restore)")
            .notes("Always linearizable (X-DRP-Stale-Read is ignored). A versioned file: header (magic, format version, applied index, term, HA id), the store, a sha256 trailer; X-DRP-Snapshot-Index and X-DRP-Snapshot-Term repeat the position it reflects.")
            .replies(&[200], R::FileBytes)],
    },
    Route {
        path: "/api/v3/system/consensus/failOverSafe",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, consensus::fail_over_safe), "getFailOverSafe", Local)
                .says("Whether a voter other than the leader is fully caught up")
                .replies(&[200], R::FailOverSafe),
            op(Post, |m| on(m, consensus::fail_over_safe), "checkFailOverSafe", Local)
                .says("Whether a voter other than the leader is fully caught up (DRP's POST form)")
                .replies(&[200], R::FailOverSafe),
        ],
    },
    Route {
        path: "/api/v3/system/versionset/apply",
        tag: "versionset",
        body_limit: BodyLimit::Max(versionset::MAX_APPLY_BYTES + (1 << 20)),
        ops: &[
            op(Post, |m| on(m, versionset::apply), "applyVersionSet", KeyedWrite)
                .says("Apply a merged, resolved VersionSet as one Raft entry")
                .notes(
                    "Validated, and every remote file fetched and checked against its sha256, \
                     before anything is proposed. Re-sending the same Idempotency-Key returns \
                     the first result and changes nothing.",
                )
                .body(B::VersionSetApply)
                .replies(&[200], R::VersionSetApplied)
                .errors(&[409]),
        ],
    },
    Route {
        path: "/api/v3/system/versionset",
        tag: "versionset",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, versionset::applied), "getAppliedVersionSet", Read)
                .says("What VersionSet is applied: its hash, key, log index and time")
                .replies(&[200], R::VersionSetRecord)
                .errors(&[404]),
        ],
    },
    Route {
        path: "/api/v3/prefs",
        tag: "prefs",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, system::get_prefs), "getPrefs", Read)
                .says("Every pref")
                .replies(&[200], R::Prefs),
            op(Post, |m| on(m, system::set_prefs), "setPrefs", Write)
                .says("Set prefs (name to string value); others are kept")
                .body(B::Prefs)
                .replies(&[200], R::Prefs),
        ],
    },
    Route {
        path: "/api/v3/contents",
        tag: "contents",
        body_limit: BodyLimit::Max(MAX_PACK_BYTES),
        ops: &[
            op(Get, |m| on(m, contents::list), "listContents", Read)
                .says("Summaries of the installed content packs, in name order")
                .replies(&[200], R::ContentSummaries),
            op(Post, |m| on(m, contents::create), "installContent", Write)
                .says("Install a content pack that is not installed yet")
                .notes(
                    "Refused whole on any problem: 422 when the pack is invalid or its \
                     prerequisites are missing, 409 when a pack of that name is installed \
                     (PUT /contents/{name} replaces it) or when it would take over objects it \
                     does not own.",
                )
                .params(&[Param::ReplaceWritable])
                .body(B::ContentPack)
                .replies(&[201], R::ContentSummary)
                .errors(&[409]),
        ],
    },
    Route {
        path: "/api/v3/contents/{name}",
        tag: "contents",
        body_limit: BodyLimit::Max(MAX_PACK_BYTES),
        ops: &[
            op(Get, |m| on(m, contents::get_one), "getContent", Read)
                .says("A whole content pack")
                .replies(&[200], R::ContentPack)
                .errors(&[404]),
            op(Put, |m| on(m, contents::replace), "replaceContent", Write)
                .says("Replace the installed version of the named content pack")
                .notes(
                    "meta.Name in the body must match the path (400). 404 when no pack of \
                     that name is installed (POST /contents installs it); as POST otherwise.",
                )
                .params(&[Param::ReplaceWritable])
                .body(B::ContentPack)
                .replies(&[200], R::ContentSummary)
                .errors(&[404, 409]),
            op(Delete, |m| on(m, contents::remove), "removeContent", Write)
                .says("Remove a content pack and its objects")
                .notes("409 while another installed pack requires it.")
                .replies(&[200], R::ContentSummary)
                .errors(&[404, 409]),
        ],
    },
    Route {
        path: "/api/v3/files",
        tag: "files",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, files::list), "listFiles", Read)
            .says("The stored file paths")
            .replies(&[200], R::FilePaths)],
    },
    Route {
        path: "/api/v3/files/{*path}",
        tag: "files",
        body_limit: BodyLimit::Streamed(files::MAX_FILE_BYTES),
        ops: &[
            op(Get, |m| on(m, files::download), "getFile", Read)
                .says("Download a file")
                .replies(&[200], R::FileBytes)
                .errors(&[400, 404]),
            op(Head, |m| on(m, files::head), "headFile", Read)
                .says("A file's size and sha256")
                .replies(&[200], R::FileHead)
                .errors(&[400, 404]),
            op(Post, |m| on(m, files::upload), "uploadFile", Write)
                .says("Upload a file (streamed, replicated in 1 MiB chunks)")
                .notes(
                    "`?explode=true` also unpacks a tar or tgz beside it. Files larger \
                     than 1 GiB are refused (413).",
                )
                .params(&[Param::Explode, Param::Sha256Claim])
                .body(B::Bytes)
                .replies(&[201], R::FileMeta)
                .errors(&[409]),
            op(Put, |m| on(m, files::upload), "putFile", Write)
                .says("Upload a file (as POST)")
                .params(&[Param::Explode, Param::Sha256Claim])
                .body(B::Bytes)
                .replies(&[201], R::FileMeta)
                .errors(&[409]),
            op(Delete, |m| on(m, files::remove), "deleteFile", Write)
                .says("Delete a file")
                .replies(&[200], R::FileMeta)
                .errors(&[404]),
        ],
    },
    Route {
        path: "/api/v3/jobs",
        tag: "jobs",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, jobs::list), "listJobs", Read)
                .says("List jobs")
                .params(&[Param::ListQuery])
                .replies(&[200], R::Objects)
                .errors(&[400]),
            op(Head, |m| on(m, jobs::count), "countJobs", Read)
                .says("Count jobs (filters apply)")
                .params(&[Param::ListQuery])
                .replies(&[200], R::Count)
                .errors(&[400]),
            op(Post, |m| on(m, jobs::create), "createJob", Write)
                .says("Create the job for a machine's next task: `{\"Machine\": \"<uuid>\"}`")
                .notes(
                    "201 with the new job; 202 with the machine's job that is still created or \
                     running; 204 when the machine has nothing to run (not Runnable, its \
                     workflow complete). A machine token may only create its own machine's jobs \
                     (403). Stage and bootenv entries of the task list are applied by the server \
                     on the way.",
                )
                .body(B::Object)
                .replies(&[201, 202, 204], R::Object)
                .errors(&[403, 422]),
        ],
    },
    Route {
        path: "/api/v3/jobs/{key}/actions",
        tag: "jobs",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, jobs::actions), "getJobActions", Read)
            .says("The job's task rendered for its machine: `[{Name, Path, Content, Meta}]`")
            .notes("An action with a Path is a file to write; one without is a script to run. 422 names a template that fails to parse or render.")
            .replies(&[200], R::AnyJson)
            .errors(&[404, 422])],
    },
    Route {
        path: "/api/v3/jobs/{key}/log",
        tag: "jobs",
        body_limit: BodyLimit::Max(crate::runtime::job::MAX_JOB_LOG_BYTES),
        ops: &[
            op(Get, |m| on(m, jobs::get_log), "getJobLog", Read)
                .says("The job's log, as text")
                .replies(&[200], R::Text)
                .errors(&[404]),
            op(Put, |m| on(m, jobs::append_log), "appendJobLog", Write)
                .says("Append the body (text) to the job's log")
                .notes("Replicated. A log holds at most 1 MiB: an append past it is refused whole (413).")
                .body(B::Bytes)
                .replies(&[204], R::Empty)
                .errors(&[404, 413]),
        ],
    },
    Route {
        path: "/api/v3/machines/{key}/token",
        tag: "machines",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, jobs::machine_token), "getMachineToken", Read)
            .says("A machine token: its claims allow only this machine and its jobs")
            .params(&[Param::Ttl])
            .replies(&[200], R::Token)
            .errors(&[400, 403, 404, 503])],
    },
    Route {
        path: "/api/v3/machines/{key}/render",
        tag: "machines",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, jobs::machine_render), "renderMachine", Read)
            .says("Render for the machine: `?template=<ID>` one stored template (text), else its current task's templates as job actions")
            .replies(&[200], R::AnyJson)
            .errors(&[404, 422])],
    },
    Route {
        path: "/api/v3/{collection}",
        tag: "{c}",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, objects::list), "list{Cs}", Read)
                .says("List {c}")
                .params(&[Param::ListQuery])
                .replies(&[200], R::Objects)
                .errors(&[400]),
            op(Head, |m| on(m, objects::count), "count{Cs}", Read)
                .says("Count {c} (filters apply)")
                .params(&[Param::ListQuery])
                .replies(&[200], R::Count)
                .errors(&[400]),
            op(Post, |m| on(m, objects::create), "create{C}", Write)
                .says("Create a {m}")
                .notes("409 when the key exists; 422 names each invalid field.")
                .body(B::Object)
                .replies(&[201], R::Object)
                .errors(&[409]),
        ],
    },
    Route {
        path: "/api/v3/{collection}/{key}",
        tag: "{c}",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, objects::get_one), "get{C}", Read)
                .says("Get a {m}")
                .replies(&[200], R::ObjectWithEtag)
                .errors(&[404]),
            op(Head, |m| on(m, objects::exists), "exists{C}", Read)
                .says("Whether a {m} exists")
                .replies(&[200], R::Empty)
                .errors(&[404]),
            op(Put, |m| on(m, objects::replace), "replace{C}", GuardedWrite)
                .says("Replace a {m}")
                .notes("The key in the body, if any, must match the path (400). 403 for an object of a content pack.")
                .body(B::Object)
                .replies(&[200], R::Object)
                .errors(&[403, 404]),
            op(Patch, |m| on(m, objects::patch), "patch{C}", GuardedWrite)
                .says("Patch a {m} with an RFC 6902 JSON Patch")
                .notes(
                    "Applied whole or not at all: a failed `test` op is 409, any other bad op \
                     422. A patch may not change the key.",
                )
                .body(B::JsonPatch)
                .replies(&[200], R::Object)
                .errors(&[403, 404, 409]),
            op(Delete, |m| on(m, objects::remove), "delete{C}", GuardedWrite)
                .says("Delete a {m}")
                .notes("Replies with the deleted object. 409 for a built-in object.")
                .replies(&[200], R::Object)
                .errors(&[403, 404, 409]),
        ],
    },
    Route {
        path: "/api/v3/{collection}/{key}/params",
        tag: "{c}",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, objects::params), "get{C}Params", Read)
                .says("A {m}'s params")
                .notes("`?aggregate=true`: as a machine sees them, its own, then its profiles', then the global profile's.")
                .params(&[Param::Aggregate])
                .replies(&[200], R::Params)
                .errors(&[404]),
            op(Post, |m| on(m, object_params::replace_params), "post{C}Params", GuardedWrite)
                .says("Replace all of a {m}'s params")
                .notes("The map becomes the object's Params; secure values are sealed. Answers the new map.")
                .body(B::Params)
                .replies(&[200], R::Params)
                .errors(&[403, 404]),
            op(Patch, |m| on(m, object_params::patch_params), "patch{C}Params", GuardedWrite)
                .says("Patch a {m}'s params with an RFC 6902 JSON Patch")
                .notes("Paths point into the params map (`/ipmi~1address`). Applied whole or not at all, as a patch of the object. Answers the new map.")
                .body(B::JsonPatch)
                .replies(&[200], R::Params)
                .errors(&[403, 404, 409]),
        ],
    },
    Route {
        path: "/api/v3/{collection}/{key}/params/{*param}",
        tag: "{c}",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, objects::get_param), "get{C}Param", Read)
                .says("One param of a {m}")
                .params(&[Param::Aggregate])
                .replies(&[200], R::AnyJson)
                .errors(&[404]),
            op(Post, |m| on(m, objects::set_param), "set{C}Param", GuardedWrite)
                .says("Set one param of a {m}")
                .body(B::AnyJson)
                .replies(&[200], R::AnyJson)
                .errors(&[403, 404]),
            op(Put, |m| on(m, objects::set_param), "put{C}Param", GuardedWrite)
                .says("Set one param of a {m} (as POST)")
                .body(B::AnyJson)
                .replies(&[200], R::AnyJson)
                .errors(&[403, 404]),
            op(Delete, |m| on(m, objects::delete_param), "delete{C}Param", GuardedWrite)
                .says("Remove one param of a {m}")
                .notes("Replies with the removed value.")
                .replies(&[200], R::AnyJson)
                .errors(&[403, 404]),
        ],
    },
    Route {
        path: "/api/v3/{collection}/{key}/pubkey",
        tag: "{c}",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, object_params::pubkey), "get{C}PubKey", Read)
            .says("A {m}'s public key, for sealing a secure param value")
            .notes("Base64 of an X25519 key, as a JSON string. A client sends a secure value as `{\"Key\": <its ephemeral public key>, \"Nonce\", \"Payload\"}` (NaCl crypto_box, base64), as drppy-client and drpcli do; one that does not open with this key is refused (422).")
            .replies(&[200], R::String)
            .errors(&[404])],
    },
    Route {
        path: "/api/v3/objects",
        tag: "meta",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, indexes::objects), "listObjects", Local)
            .says("The collections this endpoint serves (DRP's ObjectPrefixes)")
            .replies(&[200], R::AnyJson)],
    },
    Route {
        path: "/api/v3/indexes",
        tag: "meta",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, indexes::all), "listIndexes", Local)
            .says("Every collection's indexes: collection to field to DRP's Index")
            .notes("An index names a field that list filters and `sort` may use; `Unique` fields also serve `/<collection>/<Field>:<value>` lookups.")
            .replies(&[200], R::AnyJson)],
    },
    Route {
        path: "/api/v3/indexes/{prefix}",
        tag: "meta",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, indexes::of_prefix), "getIndex", Local)
            .says("One collection's indexes: field to DRP's Index")
            .replies(&[200], R::AnyJson)
            .errors(&[404])],
    },
    Route {
        path: "/api/v3/indexes/{prefix}/{field}",
        tag: "meta",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, indexes::one), "getSingleIndex", Local)
            .says("One index of one collection")
            .replies(&[200], R::AnyJson)
            .errors(&[404])],
    },
    Route {
        path: "/api/v3/whoami",
        tag: "machines",
        body_limit: BodyLimit::Default,
        ops: &[op(Post, |m| on(m, whoami::whoami), "fillWhoami", Read)
            .says("Identify a machine from its fingerprint, MAC addresses and on-disk UUID")
            .notes("Answers the Whoami sent with `Result` `{Score, Uuid, Token}` naming the best-matching machine (an empty Uuid and score 0 when none matches). Token is left empty.")
            .body(B::Whoami)
            .replies(&[200], R::AnyJson)
            .errors(&[400, 422])],
    },
    Route {
        path: "/api/v3/users/{name}/password",
        tag: "users",
        body_limit: BodyLimit::Default,
        ops: &[op(Put, |m| on(m, users::set_password), "putUserPassword", Write)
            .says("Set a user's password")
            .notes("Hashed (argon2) by the member receiving it; only the hash is replicated and no hash is returned. A user may set their own; others need a `password` claim on the user.")
            .body(B::Password)
            .replies(&[200], R::AnyJson)
            .errors(&[404])],
    },
    Route {
        path: "/api/v3/ws",
        tag: "events",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, ws::upgrade), "events", Local)
            .says("The event websocket")
            .notes(
                "Send `register <type>.<action>.<key>` or `deregister <...>` (`*` matches \
                 anything); receive every matching change applied on this member as JSON \
                 `{Time, Type, Action, Key, Principal, Object, Original}`. An error reply has \
                 Action `error` and a DRP error in Object. Limits: a command is at most 4096 \
                 bytes (else Code 413), 256 registrations per connection (else Code 422); a \
                 message over 64 KiB closes the connection with 1009 (Message Too Big).",
            )
            .replies(&[101], R::Upgrade)
            .plain_errors(&[400, 426])],
    },
    Route {
        path: "/api/v3/users/{name}/token",
        tag: "users",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, users::token), "getUserToken", Local)
            .says("A signed, expiring bearer token for a user")
            .notes("A user may get their own token; the admin may get anyone's (else 403).")
            .params(&[Param::Ttl])
            .replies(&[200], R::Token)
            .errors(&[403, 404, 503])
            .plain_errors(&[400])],
    },
];
