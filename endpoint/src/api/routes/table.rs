//! The rows of the REST API: every route, its body limit, and per method the handler, the
//! claim a caller needs and what the OpenAPI document says. Add a call here, never in
//! `api::router`; a row needs `.needs(...)` unless its kind is `Open`.

use axum::routing::on;

use super::access::{collection, file, keyed, named, object, Claim};
use super::body_limit::BodyLimit;
use super::operation::{op, Body as B, Kind::*, Metering, Param, Reply as R, Route, Verb::*};
use crate::api::{
    certificate, consensus, consensus_watch, contents, files, indexes, info, jobs, object_params,
    objects, snapshot, swagger, system, upgrade, users, versionset, whoami, ws,
};
use crate::packs::bundle::MAX_PACK_BYTES;

pub static ROUTES: &[Route] = &[
    Route {
        path: "/api/v3/info",
        tag: "info",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, info::info), "getInfo", Open)
            .says("Endpoint info, with the HA fields")
            .replies(&[200], R::Info)],
    },
    // Open: DRP's Swagger UI loads it before the user authorizes, and RackN's docs fetch it
    // with a bare `curl`. It describes the code, with no state of the cluster in it.
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
            .needs(named("system", "get"))
            .says("This member's ConsensusID")
            .replies(&[200], R::String)],
    },
    Route {
        path: "/api/v3/system/consensus/leader",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, consensus::leader), "getConsensusLeader", Local)
                .needs(named("system", "get"))
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
                .needs(named("system", "get"))
                .says("The cluster as this member sees it")
                .replies(&[200], R::ClusterState),
        ],
    },
    Route {
        path: proto::paths::CONSENSUS_WATCH,
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, consensus_watch::watch), "watchConsensusState", Local)
                .needs(named("system", "get"))
                .says("The cluster as this member sees it, streamed as it changes")
                .streams()
                .notes("Newline-delimited ClusterState JSON (application/x-ndjson): one line at once, another as soon as this member sees its term or leader change (and within 2 s of a membership change), and a blank line every 2 s while nothing changes. Ends when the member stops.")
                .replies(&[200], R::ClusterState),
        ],
    },
    Route {
        path: "/api/v3/system/consensus/peers",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, consensus::peers), "getConsensusPeers", Local)
                .needs(named("system", "get"))
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
                .needs(named("system", "action"))
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
                .needs(named("system", "action"))
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
                .needs(named("system", "action"))
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
                .needs(named("system", "action"))
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
                .needs(named("system", "action"))
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
            .needs(named("system", "get"))
            .always_linearizable()
            .says("A consistent backup of the whole replicated state (drp-endpoint snapshot save/restore)")
            .notes("Always linearizable (X-DRP-Stale-Read is ignored). A versioned file: header (magic, format version, applied index, term, HA id), the store, a sha256 trailer; X-DRP-Snapshot-Index and X-DRP-Snapshot-Term repeat the position it reflects.")
            .replies(&[200], R::FileBytes)],
    },
    Route {
        path: "/api/v3/system/upgrade/stage",
        tag: "upgrade",
        body_limit: BodyLimit::Streamed(crate::upgrade::stage::MAX_BINARY_BYTES as usize),
        ops: &[op(Post, |m| on(m, upgrade::stage), "stageUpgrade", Local)
            .needs(named("system", "action"))
            .says("Stage a new drp-endpoint binary on this member")
            .notes("The binary as application/octet-stream; X-DRP-Sha256 (or ?sha256=) is checked (422 on a mismatch, nothing kept). The binary must answer --version. Answers DRP's BlobInfo.")
            .body(B::Bytes)
            .replies(&[201], R::AnyJson)
            .errors(&[400, 413, 422])],
    },
    Route {
        path: "/api/v3/system/upgrade/run",
        tag: "upgrade",
        body_limit: BodyLimit::Default,
        ops: &[op(Post, |m| on(m, upgrade::run), "runUpgrade", Local)
            .needs(named("system", "action"))
            .says("Exec this member into the staged binary (leadership handed away first)")
            .notes("Optional body {\"Args\": [...]}: the new binary's argv instead of this process's. The staged binary must pass --upgrade-preflight (422 otherwise); a failed start execs the old binary back (status rolled-back).")
            .body(B::AnyJson)
            .replies(&[202], R::AnyJson)
            .errors(&[400, 409, 422])],
    },
    Route {
        path: "/api/v3/system/upgrade/status",
        tag: "upgrade",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, upgrade::status), "getUpgradeStatus", Local)
            .needs(named("system", "get"))
            .says("This member's upgrade: {State, Version, Error}")
            .replies(&[200], R::AnyJson)],
    },
    Route {
        path: "/api/v3/system/upgrade/target",
        tag: "upgrade",
        body_limit: BodyLimit::Default,
        ops: &[op(Put, |m| on(m, upgrade::target), "setUpgradeTarget", Write)
            .needs(named("system", "action"))
            .says("Record the version a rolling upgrade heads for (replicated)")
            .notes("Command version 2: 409 naming the members that do not support it until every voter does.")
            .body(B::AnyJson)
            .replies(&[200], R::AnyJson)
            .errors(&[400, 409])],
    },
    Route {
        path: "/api/v3/system/consensus/failOverSafe",
        tag: "consensus",
        body_limit: BodyLimit::Default,
        ops: &[
            op(Get, |m| on(m, consensus::fail_over_safe), "getFailOverSafe", Local)
                .needs(named("system", "get"))
                .says("Whether a voter other than the leader is fully caught up")
                .replies(&[200], R::FailOverSafe),
            op(Post, |m| on(m, consensus::fail_over_safe), "checkFailOverSafe", Local)
                .needs(named("system", "action"))
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
                .needs(named("system", "action"))
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
                .needs(named("system", "get"))
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
                .needs(named("prefs", "list"))
                .says("Every pref")
                .replies(&[200], R::Prefs),
            op(Post, |m| on(m, system::set_prefs), "setPrefs", Write)
                .needs(named("prefs", "update"))
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
                .needs(named("contents", "list"))
                .says("Summaries of the installed content packs, in name order")
                .replies(&[200], R::ContentSummaries),
            op(Post, |m| on(m, contents::create), "installContent", Write)
                .needs(named("contents", "create"))
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
                .needs(keyed("contents", "get"))
                .says("A whole content pack")
                .replies(&[200], R::ContentPack)
                .errors(&[404]),
            op(Put, |m| on(m, contents::replace), "replaceContent", Write)
                .needs(keyed("contents", "update"))
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
                .needs(keyed("contents", "delete"))
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
            .needs(named("files", "list"))
            .says("The stored file paths")
            .replies(&[200], R::FilePaths)],
    },
    Route {
        path: "/api/v3/files/{*path}",
        tag: "files",
        body_limit: BodyLimit::Streamed(files::MAX_FILE_BYTES),
        ops: &[
            op(Get, |m| on(m, files::download), "getFile", Read)
                .needs(file("get"))
                .says("Download a file")
                .replies(&[200], R::FileBytes)
                .errors(&[400, 404]),
            op(Head, |m| on(m, files::head), "headFile", Read)
                .needs(file("get"))
                .says("A file's size and sha256")
                .replies(&[200], R::FileHead)
                .errors(&[400, 404]),
            op(Post, |m| on(m, files::upload), "uploadFile", Write)
                .needs(file("create"))
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
                .needs(file("update"))
                .says("Upload a file (as POST)")
                .params(&[Param::Explode, Param::Sha256Claim])
                .body(B::Bytes)
                .replies(&[201], R::FileMeta)
                .errors(&[409]),
            op(Delete, |m| on(m, files::remove), "deleteFile", Write)
                .needs(file("delete"))
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
                .needs(named("jobs", "list"))
                .says("List jobs")
                .params(&[Param::ListQuery])
                .replies(&[200], R::Objects)
                .errors(&[400]),
            op(Head, |m| on(m, jobs::count), "countJobs", Read)
                .needs(named("jobs", "list"))
                .says("Count jobs (filters apply)")
                .params(&[Param::ListQuery])
                .replies(&[200], R::Count)
                .errors(&[400]),
            op(Post, |m| on(m, jobs::create), "createJob", Write)
                .needs(named("jobs", "create"))
                .job_report(Metering::JobReport)
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
            .needs(keyed("jobs", "get"))
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
                .needs(keyed("jobs", "get"))
                .says("The job's log, as text")
                .replies(&[200], R::Text)
                .errors(&[404]),
            op(Put, |m| on(m, jobs::append_log), "appendJobLog", Write)
                .needs(keyed("jobs", "update"))
                .job_report(Metering::JobReport)
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
            .needs(keyed("machines", "token"))
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
            .needs(keyed("machines", "get"))
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
                .needs(collection("list"))
                .says("List {c}")
                .params(&[Param::ListQuery])
                .replies(&[200], R::Objects)
                .errors(&[400]),
            op(Head, |m| on(m, objects::count), "count{Cs}", Read)
                .needs(collection("list"))
                .says("Count {c} (filters apply)")
                .params(&[Param::ListQuery])
                .replies(&[200], R::Count)
                .errors(&[400]),
            op(Post, |m| on(m, objects::create), "create{C}", Write)
                .needs(collection("create"))
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
                .needs(object("get"))
                .says("Get a {m}")
                .replies(&[200], R::ObjectWithEtag)
                .errors(&[404]),
            op(Head, |m| on(m, objects::exists), "exists{C}", Read)
                .needs(object("get"))
                .says("Whether a {m} exists")
                .replies(&[200], R::Empty)
                .errors(&[404]),
            op(Put, |m| on(m, objects::replace), "replace{C}", GuardedWrite)
                .needs(object("update"))
                .job_report(Metering::JobReportOnJobs)
                .says("Replace a {m}")
                .notes("The key in the body, if any, must match the path (400). 403 for an object of a content pack.")
                .body(B::Object)
                .replies(&[200], R::Object)
                .errors(&[403, 404]),
            op(Patch, |m| on(m, objects::patch), "patch{C}", GuardedWrite)
                .needs(object("update"))
                .job_report(Metering::JobReportOnJobs)
                .says("Patch a {m} with an RFC 6902 JSON Patch")
                .notes(
                    "Applied whole or not at all: a failed `test` op is 409, any other bad op \
                     422. A patch may not change the key.",
                )
                .body(B::JsonPatch)
                .replies(&[200], R::Object)
                .errors(&[403, 404, 409]),
            op(Delete, |m| on(m, objects::remove), "delete{C}", GuardedWrite)
                .needs(object("delete"))
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
                .needs(object("get"))
                .says("A {m}'s params")
                .notes("`?aggregate=true`: as a machine sees them, its own, then its profiles', then the global profile's.")
                .params(&[Param::Aggregate])
                .replies(&[200], R::Params)
                .errors(&[404]),
            op(Post, |m| on(m, object_params::replace_params), "post{C}Params", GuardedWrite)
                .needs(object("update"))
                .job_report(Metering::JobReportOnJobs)
                .says("Replace all of a {m}'s params")
                .notes("The map becomes the object's Params; secure values are sealed. Answers the new map.")
                .body(B::Params)
                .replies(&[200], R::Params)
                .errors(&[403, 404]),
            op(Patch, |m| on(m, object_params::patch_params), "patch{C}Params", GuardedWrite)
                .needs(object("update"))
                .job_report(Metering::JobReportOnJobs)
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
                .needs(object("get"))
                .says("One param of a {m}")
                .params(&[Param::Aggregate])
                .replies(&[200], R::AnyJson)
                .errors(&[404]),
            op(Post, |m| on(m, objects::set_param), "set{C}Param", GuardedWrite)
                .needs(object("update"))
                .job_report(Metering::JobReportOnJobs)
                .says("Set one param of a {m}")
                .body(B::AnyJson)
                .replies(&[200], R::AnyJson)
                .errors(&[403, 404]),
            op(Put, |m| on(m, objects::set_param), "put{C}Param", GuardedWrite)
                .needs(object("update"))
                .job_report(Metering::JobReportOnJobs)
                .says("Set one param of a {m} (as POST)")
                .body(B::AnyJson)
                .replies(&[200], R::AnyJson)
                .errors(&[403, 404]),
            op(Delete, |m| on(m, objects::delete_param), "delete{C}Param", GuardedWrite)
                .needs(object("update"))
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
            .needs(object("get"))
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
            .needs(named("objects", "list"))
            .says("The collections this endpoint serves (DRP's ObjectPrefixes)")
            .replies(&[200], R::AnyJson)],
    },
    Route {
        path: "/api/v3/indexes",
        tag: "meta",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, indexes::all), "listIndexes", Local)
            .needs(named("indexes", "list"))
            .says("Every collection's indexes: collection to field to DRP's Index")
            .notes("An index names a field that list filters and `sort` may use; `Unique` fields also serve `/<collection>/<Field>:<value>` lookups.")
            .replies(&[200], R::AnyJson)],
    },
    Route {
        path: "/api/v3/indexes/{prefix}",
        tag: "meta",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, indexes::of_prefix), "getIndex", Local)
            .needs(keyed("indexes", "get"))
            .says("One collection's indexes: field to DRP's Index")
            .replies(&[200], R::AnyJson)
            .errors(&[404])],
    },
    Route {
        path: "/api/v3/indexes/{prefix}/{field}",
        tag: "meta",
        body_limit: BodyLimit::Default,
        ops: &[op(Get, |m| on(m, indexes::one), "getSingleIndex", Local)
            .needs(keyed("indexes", "get"))
            .says("One index of one collection")
            .replies(&[200], R::AnyJson)
            .errors(&[404])],
    },
    Route {
        path: "/api/v3/whoami",
        tag: "machines",
        body_limit: BodyLimit::Default,
        ops: &[op(Post, |m| on(m, whoami::whoami), "fillWhoami", Read)
            .needs(named("whoami", "create"))
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
            .needs(Claim::OwnUser("password"))
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
            .needs(Claim::Anyone)
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
            .needs(Claim::OwnUser("token"))
            .says("A signed, expiring bearer token for a user")
            .notes("A user may get their own token; the admin may get anyone's (else 403).")
            .params(&[Param::Ttl])
            .replies(&[200], R::Token)
            .errors(&[403, 404, 503])
            .plain_errors(&[400])],
    },
];
