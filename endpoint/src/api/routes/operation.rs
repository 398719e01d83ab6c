//! The vocabulary of the route table: what a row of `ROUTES` says about each call.

use axum::routing::{MethodFilter, MethodRouter};

use super::access::Claim;
use super::body_limit::BodyLimit;
use crate::node::Node;

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
    /// Served without credentials, from this member.
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

/// Whether the rate limits count a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    Counted,
    /// An agent's report on its job (made with a token): never limited, so a report is not
    /// lost to other clients' load.
    JobReport,
    /// On a `{collection}` route: a job report when the collection is `jobs`.
    JobReportOnJobs,
}

/// The read fence of a call: whether it waits for the leader to confirm that this member has
/// applied everything committed before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// Answered from this member's own view (or a write, ordered by its commit).
    None,
    /// Linearizable unless the client sends `X-DRP-Stale-Read: true`.
    Read,
    /// Always linearizable (a stale backup would silently lose acknowledged writes).
    Strict,
}

impl Fence {
    pub const fn of(kind: Kind) -> Fence {
        match kind {
            Kind::Read => Fence::Read,
            _ => Fence::None,
        }
    }
}

pub type Handler = fn(MethodFilter) -> MethodRouter<Node>;

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
    /// The claim a caller needs (`auth`); ignored for a [`Kind::Open`] call.
    pub claim: Claim,
    /// Whether a read waits for the leader to confirm this member is current.
    pub fence: Fence,
    pub params: &'static [Param],
    pub body: Body,
    pub ok: &'static [u16],
    pub reply: Reply,
    /// Failure statuses with a DRP error body, beyond those `kind` implies.
    pub errors: &'static [u16],
    /// Failure statuses axum answers itself, with a plain-text body.
    pub plain_errors: &'static [u16],
    /// The reply streams until the member stops: a client must not wait for its end (the
    /// OpenAPI document marks it `x-streaming: true`).
    pub streaming: bool,
    /// Whether the rate limits count the call.
    pub metering: Metering,
}

pub(super) const fn op(verb: Verb, handler: Handler, id: &'static str, kind: Kind) -> Operation {
    Operation {
        verb,
        handler,
        id,
        summary: "",
        notes: "",
        kind,
        claim: Claim::Unset,
        fence: Fence::of(kind),
        params: &[],
        body: Body::None,
        ok: &[200],
        reply: Reply::AnyJson,
        errors: &[],
        plain_errors: &[],
        streaming: false,
        metering: Metering::Counted,
    }
}

impl Operation {
    /// The claim a caller needs; every call that is not [`Kind::Open`] declares one.
    pub(super) const fn needs(mut self, claim: Claim) -> Self {
        self.claim = claim;
        self
    }
    /// A read that is linearizable even when the client asks for a stale one.
    pub(super) const fn always_linearizable(mut self) -> Self {
        self.fence = Fence::Strict;
        self
    }
    pub(super) const fn says(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }
    pub(super) const fn notes(mut self, notes: &'static str) -> Self {
        self.notes = notes;
        self
    }
    pub(super) const fn params(mut self, params: &'static [Param]) -> Self {
        self.params = params;
        self
    }
    pub(super) const fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
    pub(super) const fn replies(mut self, ok: &'static [u16], reply: Reply) -> Self {
        self.ok = ok;
        self.reply = reply;
        self
    }
    pub(super) const fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }
    pub(super) const fn plain_errors(mut self, plain_errors: &'static [u16]) -> Self {
        self.plain_errors = plain_errors;
        self
    }
    /// The reply is a stream that ends only when the member stops.
    pub(super) const fn streams(mut self) -> Self {
        self.streaming = true;
        self
    }
    /// An agent's report on its job (see [`Metering::JobReport`]); on a `{collection}` route
    /// only when the collection is `jobs`.
    pub(super) const fn job_report(mut self, metering: Metering) -> Self {
        self.metering = metering;
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
