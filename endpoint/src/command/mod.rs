//! The replicated command (Raft log payload) and its outcome.
//!
//! A command is built once at the member that received the HTTP request, proposed by the
//! leader, and applied by every member with `store::apply` — a pure function of
//! (state, command), with no clock, randomness or I/O besides the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod decode;

/// The deepest JSON nesting a command may have. Every log entry, stored object and
/// idempotency record is decoded with serde_json's recursion limit (128): a command sits a
/// few levels deeper in its log entry, its objects a few levels deeper in their idempotency
/// record. A command past this would commit, then fail to decode on every member, which then
/// could neither serve nor restart.
pub const MAX_COMMAND_DEPTH: usize = 100;
/// The deepest a stored object may become (by PATCH), with room for its record's wrapping.
pub const MAX_OBJECT_DEPTH: usize = 96;

/// Nesting depth of the JSON text `bytes` (arrays and objects), by a scan that allocates
/// nothing and cannot overflow the stack however deep the text is.
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Nesting depth of a value, without recursion (a value built by PATCH may be deeper than
/// any parser would have allowed).
pub fn value_depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, above)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        let depth = above + 1;
        max = max.max(depth);
        stack.extend(children.map(|c| (c, depth)));
    }
    max
}

/// One replicated write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Deduplication of retries: the first outcome for a key is replayed, never re-applied.
    pub idempotency: Option<Idempotency>,
    /// Wall-clock milliseconds when the command was built; stamps records and expires keys.
    pub at_ms: u64,
    /// `If-Match`: the write applies only while the target object still has this ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_match: Option<String>,
    /// The authenticated user who asked for the change (events' `Principal`); none for
    /// commands a member makes on its own (bootstrap seeds, upload clean-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Idempotency {
    pub key: String,
    /// Digest of the request the key was first used with; a different request under the
    /// same key is refused instead of silently replaying an unrelated result.
    pub fingerprint: String,
    /// How long the key is remembered, from `at_ms`.
    pub ttl_ms: u64,
}

/// A replicated write's change. `Deserialize` is written by hand in [`decode`]: a kind this
/// build knows decodes strictly, and only a kind it does not know becomes [`Op::Unknown`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub enum Op {
    Create {
        collection: String,
        key: String,
        object: Value,
    },
    Replace {
        collection: String,
        key: String,
        object: Value,
    },
    Delete {
        collection: String,
        key: String,
    },
    SetParam {
        collection: String,
        key: String,
        param: String,
        value: Value,
    },
    DeleteParam {
        collection: String,
        key: String,
        param: String,
    },
    /// Installs or replaces a content pack layer (`POST /contents`, `PUT /contents/<name>`).
    InstallContent {
        pack: Box<ContentPack>,
        replace_writable: bool,
        #[serde(default)]
        mode: InstallMode,
        /// The feature flags the receiving member advertised: `RequiredFeatures` is judged
        /// against these, so every member decides alike even while they run different
        /// versions (a rolling upgrade).
        #[serde(default)]
        features: Vec<String>,
    },
    /// Removes a content pack and every object it owns.
    RemoveContent {
        name: String,
    },
    /// RFC 6902 JSON Patch; a failed `test` op rejects the whole patch.
    Patch {
        collection: String,
        key: String,
        patch: Value,
    },
    /// One chunk of a file upload, staged until `FinishUpload` (keeps every entry bounded).
    UploadChunk {
        upload: String,
        index: u32,
        data: String,
    },
    /// Makes a staged upload visible at `path` atomically, after checking its sha256;
    /// `explode` unpacks a tar/tgz next to it.
    FinishUpload {
        upload: String,
        path: String,
        chunks: u32,
        sha256: String,
        explode: bool,
    },
    /// Drops a staged upload that will not finish.
    AbortUpload {
        upload: String,
    },
    DeleteFile {
        path: String,
    },
    /// Creates each object that does not exist yet (bootstrap: admin user, token secret).
    Seed {
        objects: Vec<(String, String, Value)>,
    },
    /// Replaces one `_system` record (a rotated certificate). No change event: these
    /// records hold private keys.
    PutSystem {
        key: String,
        object: Value,
    },
    /// Merges these prefs into the endpoint's prefs.
    SetPrefs {
        prefs: BTreeMap<String, String>,
    },
    /// A whole VersionSet, applied all-or-nothing as one log entry.
    ApplyVersionSet(Box<VersionSetApply>),
    /// `POST /jobs`: the job (UUID chosen by the receiving member) for the machine's next task.
    CreateJob {
        machine: String,
        job: String,
        /// The agent's context (DRP's `Job.Context`): a job is made only for the agent whose
        /// context is the machine's `Context`. Absent in entries written before it existed.
        #[serde(default)]
        context: String,
    },
    /// `PUT /jobs/<uuid>/log`: text appended to the job's log.
    AppendJobLog {
        job: String,
        data: String,
    },
    /// A member's binary version and the command version and features it understands, as it
    /// publishes them on start (etcd's member attributes): the cluster version is computed
    /// from the current voters' records (`upgrade::cluster_version`).
    MemberAttributes {
        id: String,
        version: String,
        command_version: u32,
        features: Vec<String>,
    },
    /// `PUT /api/v3/system/upgrade/target`: the binary version a rolling upgrade is heading
    /// for, replicated so every member (and the manager) sees the same goal. The first command
    /// of command version 2: proposed only once every voter understands it.
    SetUpgradeTarget {
        version: String,
    },
    /// A command this build cannot decode (a newer build's kind), kept verbatim so the log
    /// stores and forwards it unchanged. Applying it stops the state machine
    /// (`upgrade::cluster_version::check_entry`); it is never skipped. Never built here.
    #[serde(skip)]
    Unknown(Value),
}

impl Op {
    /// Whether applying it touches one object (plus its indexes and event), so its cost is
    /// bounded and small; packs, uploads, seeds and VersionSets are not.
    pub fn is_light(&self) -> bool {
        match self {
            Op::Create { .. }
            | Op::Replace { .. }
            | Op::Delete { .. }
            | Op::SetParam { .. }
            | Op::DeleteParam { .. }
            | Op::Patch { .. }
            | Op::PutSystem { .. }
            | Op::SetPrefs { .. }
            | Op::CreateJob { .. }
            | Op::MemberAttributes { .. }
            | Op::SetUpgradeTarget { .. } => true,
            Op::InstallContent { .. }
            | Op::RemoveContent { .. }
            | Op::UploadChunk { .. }
            | Op::FinishUpload { .. }
            | Op::AbortUpload { .. }
            | Op::DeleteFile { .. }
            | Op::Seed { .. }
            | Op::ApplyVersionSet(_)
            | Op::AppendJobLog { .. }
            | Op::Unknown(_) => false,
        }
    }
}

/// The newest command version this build understands (the log entries it can apply).
/// 1: every command before `SetUpgradeTarget`; 2: `SetUpgradeTarget`.
pub const COMMAND_VERSION: u32 = 2;

/// What `POST` and `PUT /contents` promise about a pack already installed under the name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstallMode {
    /// `POST /contents`: a new pack; 409 when one of that name is installed.
    Create,
    /// `PUT /contents/<name>`: a new version of an installed pack; 404 when none is.
    Replace,
    /// Either (log entries written before the two were told apart).
    #[default]
    Upsert,
}

/// A validated VersionSet with everything it needs inline (content packs and file bytes),
/// so that applying it reads nothing from outside the log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionSetApply {
    /// The merged, resolved VersionSet as the manager sent it.
    pub version_set: Value,
    /// `versionsets::state_hash` of it: what the apply reply and `GET .../versionset` report.
    pub hash: String,
    /// The client's Idempotency-Key.
    pub key: String,
    pub content_packs: Vec<ContentPack>,
    pub plugin_providers: Vec<(String, String)>,
    pub plugins: Vec<Value>,
    pub prefs: BTreeMap<String, String>,
    pub global: serde_json::Map<String, Value>,
    pub files: Vec<FileBlob>,
    /// As in `InstallContent`: the features the receiving member advertised.
    #[serde(default)]
    pub features: Vec<String>,
}

/// A content pack: DRP's single-document form `{meta, sections}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPack {
    pub meta: serde_json::Map<String, Value>,
    #[serde(default)]
    pub sections: BTreeMap<String, BTreeMap<String, Value>>,
}

impl ContentPack {
    pub fn name(&self) -> &str {
        self.meta
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn version(&self) -> &str {
        self.meta
            .get("Version")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileBlob {
    pub path: String,
    pub sha256: String,
    /// Base64 of the file's bytes.
    pub data: String,
}

impl Op {
    pub fn collection(&self) -> &str {
        match self {
            Op::Create { collection, .. }
            | Op::Replace { collection, .. }
            | Op::Delete { collection, .. }
            | Op::SetParam { collection, .. }
            | Op::DeleteParam { collection, .. }
            | Op::Patch { collection, .. } => collection,
            Op::SetPrefs { .. } => "prefs",
            Op::UploadChunk { .. }
            | Op::FinishUpload { .. }
            | Op::AbortUpload { .. }
            | Op::DeleteFile { .. } => "files",
            Op::Seed { .. } | Op::PutSystem { .. } => "_system",
            Op::InstallContent { .. } | Op::RemoveContent { .. } => "contents",
            Op::ApplyVersionSet(_) => "version_sets",
            Op::CreateJob { .. } | Op::AppendJobLog { .. } => "jobs",
            Op::MemberAttributes { .. } | Op::SetUpgradeTarget { .. } => "_system",
            Op::Unknown(_) => "_unknown",
        }
    }

    /// The command version a member needs to apply this op (see [`COMMAND_VERSION`]).
    pub fn command_version(&self) -> u32 {
        match self {
            Op::SetUpgradeTarget { .. } => 2,
            // Newer than any version this build knows.
            Op::Unknown(_) => u32::MAX,
            _ => 1,
        }
    }

    /// The op's kind, as logs and refusals name it (an unknown op's own tag).
    pub fn kind(&self) -> String {
        match self {
            Op::MemberAttributes { .. } => "MemberAttributes".into(),
            Op::SetUpgradeTarget { .. } => "SetUpgradeTarget".into(),
            Op::Unknown(raw) => match raw.as_object().and_then(|o| o.keys().next()) {
                Some(tag) if raw.as_object().is_some_and(|o| o.len() == 1) => tag.clone(),
                _ => "an unrecognised command".into(),
            },
            _ => self.collection().to_string() + " command",
        }
    }
}

/// The outcome of applying a command: an HTTP status and a JSON body, replayed verbatim to
/// a client that retries with the same idempotency key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    /// The log index the command was applied at (recorded with it, so a replay carries the
    /// original's). A member that forwarded the write may not know that index committed
    /// yet; its answer still names it in `X-DRP-Commit-Index`. Absent in records written
    /// before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
}

impl Response {
    pub fn ok(status: u16, body: Value) -> Self {
        Response {
            status,
            body,
            index: None,
        }
    }

    /// DRP's error shape: `{"Model","Key","Type","Messages","Code"}`.
    pub fn error(status: u16, model: &str, key: &str, message: impl Into<String>) -> Self {
        Response {
            status,
            body: error_body(status, model, key, vec![message.into()]),
            index: None,
        }
    }
}

pub fn error_body(status: u16, model: &str, key: &str, messages: Vec<String>) -> Value {
    serde_json::json!({
        "Model": model,
        "Key": key,
        "Type": proto::error::error_type(status),
        "Messages": messages,
        "Code": status,
    })
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.op {
            Op::Create {
                collection, key, ..
            } => write!(f, "create {collection}/{key}"),
            Op::Replace {
                collection, key, ..
            } => write!(f, "replace {collection}/{key}"),
            Op::Delete { collection, key } => write!(f, "delete {collection}/{key}"),
            Op::SetParam {
                collection,
                key,
                param,
                ..
            } => write!(f, "set {collection}/{key} param {param}"),
            Op::DeleteParam {
                collection,
                key,
                param,
            } => write!(f, "unset {collection}/{key} param {param}"),
            Op::SetPrefs { prefs } => write!(f, "set {} prefs", prefs.len()),
            Op::UploadChunk { upload, index, .. } => write!(f, "upload {upload} chunk {index}"),
            Op::FinishUpload { path, .. } => write!(f, "finish upload of {path}"),
            Op::AbortUpload { upload } => write!(f, "abort upload {upload}"),
            Op::DeleteFile { path } => write!(f, "delete file {path}"),
            Op::Seed { objects } => write!(f, "seed {} objects", objects.len()),
            Op::PutSystem { key, .. } => write!(f, "replace system record {key}"),
            Op::Patch {
                collection, key, ..
            } => write!(f, "patch {collection}/{key}"),
            Op::InstallContent { pack, .. } => {
                write!(f, "install content {}:{}", pack.name(), pack.version())
            }
            Op::RemoveContent { name } => write!(f, "remove content {name}"),
            Op::ApplyVersionSet(vs) => write!(f, "apply versionset {}", vs.hash),
            Op::CreateJob { machine, job, .. } => {
                write!(f, "create job {job} for machine {machine}")
            }
            Op::AppendJobLog { job, data } => {
                write!(f, "append {} bytes to the log of job {job}", data.len())
            }
            Op::MemberAttributes {
                id,
                version,
                command_version,
                ..
            } => write!(
                f,
                "member {id} runs {version} (command version {command_version})"
            ),
            Op::SetUpgradeTarget { version } => write!(f, "set the upgrade target to {version}"),
            Op::Unknown(_) => write!(f, "{}, unknown to this build", self.op.kind()),
        }
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status)
    }
}
