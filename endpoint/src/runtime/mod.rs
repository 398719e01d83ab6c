//! DRP's provisioning runtime as pure functions of JSON objects: how a workflow becomes a
//! machine's task list, how the machine walks it, and which job state changes are allowed.
//! `store` calls these inside the deterministic apply; nothing here reads a clock or the store.

pub mod job;
pub mod workflow;

/// The machine fields the server maintains; a client's values for them are ignored.
pub const SERVER_MACHINE_FIELDS: &[&str] = &[
    "Stage",
    "BootEnv",
    "Tasks",
    "CurrentTask",
    "CurrentJob",
    "WorkflowComplete",
];

/// RFC 3339 time of a command's stamp (never the local clock: every member writes the same).
pub use crate::fill::rfc3339;
