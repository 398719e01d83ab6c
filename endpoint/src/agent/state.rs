//! DRP's agent states and the decisions between them, as pure functions of the machine the
//! agent sees (DRP `agent/agent.go`, `doc/arch/workflow.rst` "Machine Agent"). The states'
//! I/O is in `fsm`; everything here is tested without a cluster.

use serde_json::{Map, Value};

/// How the agent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The workflow is complete (`--once`), or a machine without one has nothing left.
    Complete,
    /// The machine is stopped: a task failed, or it is not runnable (`--once`).
    Stopped,
    /// A task or a stage change asked for a reboot, poweroff or stop: the agent leaves the
    /// power action to the machine (it never powers anything itself).
    ExitState(&'static str),
    /// SIGTERM.
    Terminated,
}

/// DRP's agent states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Init,
    WaitForRunnable,
    RunTask,
    WaitForChangeStage,
    ChangeStage,
    Exit(Finish),
    Reboot,
    Poweroff,
    Kexec,
}

fn field<'a>(m: &'a Value, f: &str) -> &'a str {
    m.get(f).and_then(Value::as_str).unwrap_or("")
}

fn flag(m: &Value, f: &str) -> bool {
    m.get(f).and_then(Value::as_bool).unwrap_or(false)
}

/// DRP's wait condition shared by both waits: available, and either in the agent's context or
/// moved to another bootenv than the one the agent last saw (`known`).
pub fn wait_base(context: &str, known: &Value, m: &Value) -> bool {
    m.get("Available").and_then(Value::as_bool).unwrap_or(true)
        && (field(m, "Context") == context || field(m, "BootEnv") != field(known, "BootEnv"))
}

/// AGENT_WAIT_FOR_RUNNABLE's condition.
pub fn runnable(context: &str, known: &Value, m: &Value) -> bool {
    wait_base(context, known, m) && flag(m, "Runnable")
}

/// AGENT_WAIT_FOR_CHANGE_STAGE's condition: any of the fields that mean new work changed.
pub fn stage_changed(context: &str, known: &Value, m: &Value) -> bool {
    const WATCHED: &[&str] = &[
        "CurrentTask",
        "Tasks",
        "Runnable",
        "BootEnv",
        "Stage",
        "Context",
    ];
    wait_base(context, known, m) && WATCHED.iter().any(|f| m.get(*f) != known.get(*f))
}

/// Where a wait that was met goes (the same for both waits).
pub fn after_wait(context: &str, known: &Value, m: &Value, kexec_loaded: bool) -> State {
    if field(m, "BootEnv") != field(known, "BootEnv") && context.is_empty() {
        reboot_or_exit(field(m, "BootEnv"), kexec_loaded)
    } else if field(m, "Context") == context && flag(m, "Runnable") {
        State::RunTask
    } else {
        State::WaitForRunnable
    }
}

/// DRP's rebootOrExit: an installer bootenv reboots the machine itself when it is done, so
/// the agent only exits there.
pub fn reboot_or_exit(bootenv: &str, kexec_loaded: bool) -> State {
    if bootenv.ends_with("-install") {
        State::Exit(Finish::ExitState("stop"))
    } else if kexec_loaded {
        State::Kexec
    } else {
        State::Reboot
    }
}

/// Where a job's end sends the agent, from its exit state.
pub fn after_task(exit_state: &str, bootenv: &str, once: bool, kexec_loaded: bool) -> State {
    match exit_state {
        "reboot" => reboot_or_exit(bootenv, kexec_loaded),
        "poweroff" => State::Poweroff,
        "stop" => State::Exit(Finish::ExitState("stop")),
        "failed" if once => State::Exit(Finish::Stopped),
        _ => State::WaitForRunnable,
    }
}

/// The next stage from `change-stage/map` (`stage: "next[:Target]"`), DRP's way: nothing
/// mapped in an installer bootenv means `local`. `None` when the stage stays.
pub fn next_stage(
    map: &Map<String, Value>,
    stage: &str,
    bootenv: &str,
) -> Option<(String, String)> {
    let entry = map.get(stage).and_then(Value::as_str).unwrap_or("");
    let (mut next, target) = match entry.split_once(':') {
        Some((n, t)) => (n.to_string(), t.to_string()),
        None => (entry.to_string(), String::new()),
    };
    if next.is_empty() && bootenv.ends_with("-install") {
        next = "local".into();
    }
    (!next.is_empty() && next != stage).then_some((next, target))
}

/// Where AGENT_CHANGE_STAGE goes once the machine is moved to `stage` (the stage object)
/// with the map's `target`. Later rules win, as in DRP: the bootenv, then the target, then
/// the stage's own `Reboot`.
pub fn after_stage_change(stage: &Value, target: &str, bootenv: &str, kexec_loaded: bool) -> State {
    let stage_env = field(stage, "BootEnv");
    let mut next = if stage_env.is_empty() || stage_env == bootenv {
        State::WaitForRunnable
    } else {
        reboot_or_exit(bootenv, kexec_loaded)
    };
    match target {
        "Reboot" => next = reboot_or_exit(bootenv, kexec_loaded),
        "Stop" => next = State::Exit(Finish::ExitState("stop")),
        "Shutdown" | "Poweroff" => next = State::Poweroff,
        _ => {}
    }
    if flag(stage, "Reboot") {
        next = reboot_or_exit(bootenv, kexec_loaded);
    }
    next
}

/// What `--once` reports once nothing is left: a complete workflow, or a runnable machine
/// without one, is done; anything else stopped.
pub fn once_finish(m: &Value) -> Finish {
    if flag(m, "WorkflowComplete") || (field(m, "Workflow").is_empty() && flag(m, "Runnable")) {
        Finish::Complete
    } else {
        Finish::Stopped
    }
}

/// Whether AGENT_INIT should fail the machine's current job: one of this agent's context
/// still created or running that this process did not take up itself (the agent that ran it
/// is gone: a restart, a crash).
pub fn is_stale(job: &Value, context: &str, own: bool) -> bool {
    !own && field(job, "Context") == context && crate::runtime::job::is_active(field(job, "State"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Value {
        let mut base = json!({"Available": true, "Runnable": true, "Context": "", "BootEnv": "local",
            "Stage": "s1", "Tasks": ["stage:s1", "t1"], "CurrentTask": 1});
        for (k, x) in v.as_object().unwrap() {
            base[k] = x.clone();
        }
        base
    }

    #[test]
    fn waits_for_runnable_in_its_own_context() {
        let known = m(json!({}));
        assert!(runnable("", &known, &m(json!({}))));
        assert!(!runnable("", &known, &m(json!({"Runnable": false}))));
        assert!(!runnable("", &known, &m(json!({"Available": false}))));
        assert!(!runnable("", &known, &m(json!({"Context": "other"}))));
        assert!(runnable("other", &known, &m(json!({"Context": "other"}))));
        assert_eq!(after_wait("", &known, &m(json!({})), false), State::RunTask);
        assert_eq!(
            after_wait("", &known, &m(json!({"Runnable": false})), false),
            State::WaitForRunnable
        );
    }

    #[test]
    fn a_new_bootenv_reboots_the_default_context_only() {
        let known = m(json!({}));
        let moved = m(json!({"BootEnv": "sledgehammer", "Context": "other"}));
        // The bootenv change ends the wait even in another context...
        assert!(runnable("", &known, &moved));
        assert_eq!(after_wait("", &known, &moved, false), State::Reboot);
        assert_eq!(after_wait("", &known, &moved, true), State::Kexec);
        // ...but only the default context's agent reboots.
        assert_eq!(
            after_wait(
                "other",
                &known,
                &m(json!({"BootEnv": "x", "Context": "other"})),
                false
            ),
            State::RunTask
        );
        let install = m(json!({"BootEnv": "centos-8-install"}));
        assert_eq!(
            after_wait("", &known, &install, false),
            State::Exit(Finish::ExitState("stop"))
        );
    }

    #[test]
    fn change_stage_waits_for_new_work() {
        let known = m(json!({}));
        assert!(!stage_changed("", &known, &m(json!({}))));
        assert!(stage_changed("", &known, &m(json!({"Stage": "s2"}))));
        assert!(stage_changed("", &known, &m(json!({"CurrentTask": -1}))));
        assert!(!stage_changed(
            "",
            &known,
            &m(json!({"Stage": "s2", "Available": false}))
        ));
    }

    #[test]
    fn job_exit_states_pick_the_next_state() {
        assert_eq!(
            after_task("complete", "local", false, false),
            State::WaitForRunnable
        );
        assert_eq!(after_task("reboot", "local", false, false), State::Reboot);
        assert_eq!(
            after_task("reboot", "x-install", false, false),
            State::Exit(Finish::ExitState("stop"))
        );
        assert_eq!(
            after_task("poweroff", "local", true, false),
            State::Poweroff
        );
        assert_eq!(
            after_task("stop", "local", false, false),
            State::Exit(Finish::ExitState("stop"))
        );
        assert_eq!(
            after_task("failed", "local", false, false),
            State::WaitForRunnable
        );
        assert_eq!(
            after_task("failed", "local", true, false),
            State::Exit(Finish::Stopped)
        );
    }

    #[test]
    fn the_change_stage_map_names_the_next_stage_and_what_then() {
        let map = json!({"s1": "s2:Success", "s2": "s3:Stop", "s3": "s3", "s4": "s5"});
        let map = map.as_object().unwrap();
        assert_eq!(
            next_stage(map, "s1", "local"),
            Some(("s2".into(), "Success".into()))
        );
        assert_eq!(next_stage(map, "s3", "local"), None, "mapped to itself");
        assert_eq!(next_stage(map, "none", "local"), None);
        assert_eq!(
            next_stage(map, "none", "centos-install"),
            Some(("local".into(), String::new()))
        );
        let plain = json!({"Name": "s2"});
        assert_eq!(
            after_stage_change(&plain, "Success", "local", false),
            State::WaitForRunnable
        );
        assert_eq!(
            after_stage_change(&plain, "Stop", "local", false),
            State::Exit(Finish::ExitState("stop"))
        );
        assert_eq!(
            after_stage_change(&plain, "Reboot", "local", false),
            State::Reboot
        );
        assert_eq!(
            after_stage_change(&plain, "Shutdown", "local", false),
            State::Poweroff
        );
        let rebooting = json!({"Name": "s2", "Reboot": true});
        assert_eq!(
            after_stage_change(&rebooting, "", "local", false),
            State::Reboot
        );
        let other_env = json!({"Name": "s2", "BootEnv": "sledgehammer"});
        assert_eq!(
            after_stage_change(&other_env, "", "local", false),
            State::Reboot
        );
        assert_eq!(
            after_stage_change(&other_env, "", "centos-install", false),
            State::Exit(Finish::ExitState("stop"))
        );
    }

    #[test]
    fn only_another_agents_active_job_of_this_context_is_stale() {
        let running = json!({"State": "running", "Context": ""});
        assert!(is_stale(&running, "", false));
        assert!(
            !is_stale(&running, "", true),
            "this process's own job is resumed"
        );
        assert!(!is_stale(&running, "other", false));
        assert!(is_stale(
            &json!({"State": "created", "Context": ""}),
            "",
            false
        ));
        assert!(!is_stale(
            &json!({"State": "finished", "Context": ""}),
            "",
            false
        ));
    }

    #[test]
    fn once_reports_complete_or_stopped() {
        assert_eq!(
            once_finish(&json!({"WorkflowComplete": true, "Workflow": "w"})),
            Finish::Complete
        );
        assert_eq!(
            once_finish(&json!({"Workflow": "w", "Runnable": true})),
            Finish::Stopped
        );
        assert_eq!(
            once_finish(&json!({"Workflow": "", "Runnable": true})),
            Finish::Complete
        );
        assert_eq!(
            once_finish(&json!({"Workflow": "", "Runnable": false})),
            Finish::Stopped
        );
    }
}
