//! Jobs: one run of one task on one machine. The server creates them (`POST /jobs`), agents
//! move them through DRP's states, and each move may advance or stop the machine.

use serde_json::{json, Value};

/// The most a job's log may hold; an append past it is refused whole (413).
pub const MAX_JOB_LOG_BYTES: usize = 1 << 20;
/// How many log lines a failed job keeps in its `ResultErrors`.
pub const FAILURE_TAIL_LINES: usize = 10;

/// DRP's job states.
pub const CREATED: &str = "created";
pub const RUNNING: &str = "running";
pub const FINISHED: &str = "finished";
pub const FAILED: &str = "failed";
pub const INCOMPLETE: &str = "incomplete";
const STATES: &[&str] = &[CREATED, RUNNING, FINISHED, FAILED, INCOMPLETE];

/// DRP's exit states (what the machine does after the job).
pub const EXIT_STATES: &[&str] = &[
    "",
    "complete",
    "failed",
    "stop",
    "reboot",
    "poweroff",
    "incomplete",
];

/// Job fields only the server writes: a client's values for them are ignored.
pub const SERVER_JOB_FIELDS: &[&str] = &[
    "Uuid",
    "Machine",
    "Task",
    "Stage",
    "BootEnv",
    "Workflow",
    "Context",
    "Previous",
    "CurrentIndex",
    "StartTime",
    "EndTime",
];

/// Whether a job in `state` is still to be finished by an agent.
pub fn is_active(state: &str) -> bool {
    state == CREATED || state == RUNNING
}

/// Whether an agent that reran the machine's task would rerun this job's task.
pub fn needs_rerun(state: &str) -> bool {
    state == FAILED || state == INCOMPLETE
}

/// Why a job may not go from `from` to `to`, if it may not. Ending states are final: a
/// retried report reaches the state machine as a replay of its idempotency key, so a second
/// different report is a real conflict.
pub fn transition_problem(from: &str, to: &str) -> Option<(u16, String)> {
    if !STATES.contains(&to) {
        return Some((
            422,
            format!("State: {to:?} is not one of {}", STATES.join(", ")),
        ));
    }
    if from == to {
        return None;
    }
    match (from, to) {
        (CREATED, _) | (RUNNING, FINISHED | FAILED | INCOMPLETE) => None,
        (RUNNING, CREATED) => Some((422, "State: a running job cannot go back to created".into())),
        _ => Some((
            409,
            format!("State: the job is {from}; an ended job cannot become {to}"),
        )),
    }
}

/// A new job for task `index` of `machine`, made for the agent of `context`.
pub fn new_job(
    uuid: &str,
    machine: &Value,
    index: usize,
    task: &str,
    context: &str,
    at: &str,
) -> Value {
    let field = |f: &str| super::workflow::str_field(machine, f).to_string();
    json!({
        "Uuid": uuid,
        "Machine": field("Uuid"),
        "Task": task,
        "Stage": field("Stage"),
        "BootEnv": field("BootEnv"),
        "Workflow": field("Workflow"),
        "Context": context,
        "Previous": field("CurrentJob"),
        "CurrentIndex": index,
        "State": CREATED,
        "ExitState": "",
        "StartTime": at,
        "Archived": false,
        "ResultErrors": [],
        "Meta": {},
    })
}

/// The last `lines` lines of a log.
pub fn tail(log: &str, lines: usize) -> Vec<String> {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// What an agent reports for a script's exit code, DRP's meanings: 0 complete, 16 stop,
/// 32 poweroff, 64 reboot, 128 incomplete (the task runs again); any low bit set is a failure.
pub fn exit_code_meaning(code: i32) -> (&'static str, &'static str) {
    if code & 0x0f != 0 || code < 0 {
        (FAILED, "failed")
    } else if code & 128 != 0 {
        (INCOMPLETE, "incomplete")
    } else if code & 64 != 0 {
        (FINISHED, "reboot")
    } else if code & 32 != 0 {
        (FINISHED, "poweroff")
    } else if code & 16 != 0 {
        (FINISHED, "stop")
    } else {
        (FINISHED, "complete")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_jobs_stay_ended() {
        assert!(transition_problem(CREATED, RUNNING).is_none());
        assert!(transition_problem(RUNNING, FINISHED).is_none());
        assert!(transition_problem(FINISHED, FINISHED).is_none());
        assert_eq!(transition_problem(FINISHED, FAILED).unwrap().0, 409);
        assert_eq!(transition_problem(RUNNING, "bogus").unwrap().0, 422);
    }

    #[test]
    fn exit_codes_mean_what_drp_says() {
        assert_eq!(exit_code_meaning(0), (FINISHED, "complete"));
        assert_eq!(exit_code_meaning(1), (FAILED, "failed"));
        assert_eq!(exit_code_meaning(16), (FINISHED, "stop"));
        assert_eq!(exit_code_meaning(64), (FINISHED, "reboot"));
        assert_eq!(exit_code_meaning(128), (INCOMPLETE, "incomplete"));
        assert_eq!(tail("a\nb\nc\n", 2), ["b", "c"]);
    }
}
