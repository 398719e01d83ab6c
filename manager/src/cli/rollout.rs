//! `drp-manager rollout status|pause|resume`: the progressive rollout of a running manager.

use std::fmt::Write as _;

use serde_json::Value;

use super::{s, short, table, Client};

const PATH: &str = "/api/v3/rollout";

/// Renders `GET /api/v3/rollout`: the rollout line, a halt, then waves and endpoints.
pub fn status_text(r: &Value) -> String {
    if r["Rollout"].is_null() {
        return "no rollout: the repository declares none (rollouts/*.yaml); every endpoint applies at once\n".into();
    }
    let mut out = headline(r);
    out.push_str(&waves_table(r));
    out.push('\n');
    out.push_str(&endpoints_table(r));
    out
}

/// The rollout line, then a halt and a commit waiting for `resume`, when there are.
fn headline(r: &Value) -> String {
    let mut out = String::new();
    let gate = if r["GateEnabled"] == Value::Bool(true) {
        format!("gate on, settle {}s", s(r, "SettleSeconds"))
    } else {
        "gate off".into()
    };
    let _ = writeln!(
        out,
        "rollout {}: commit {} {}{} ({gate})",
        s(r, "Rollout"),
        short(&s(r, "Commit"), 12),
        s(r, "State"),
        if r["Paused"] == Value::Bool(true) {
            ", paused"
        } else {
            ""
        },
    );
    if let Some(h) = r["Halt"].as_object() {
        let h = Value::Object(h.clone());
        let _ = writeln!(
            out,
            "  HALTED at endpoint {} (wave {}): {}",
            s(&h, "Endpoint"),
            s(&h, "Wave"),
            s(&h, "Reason")
        );
    }
    if !r["WaitingCommit"].is_null() {
        let _ = writeln!(
            out,
            "  commit {} waits for `drp-manager rollout resume` (then starts from the first wave)",
            short(&s(r, "WaitingCommit"), 12)
        );
    }
    out
}

/// One row per wave, with the gate's last reading.
fn waves_table(r: &Value) -> String {
    let waves: Vec<Vec<String>> = r["Waves"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let gate = &w["Gate"];
            let reading = if gate.is_null() {
                String::new()
            } else if gate["Healthy"] == Value::Bool(true) {
                "healthy".into()
            } else {
                joined(&gate["Problems"], "; ")
            };
            vec![
                s(w, "Name"),
                s(w, "State"),
                s(w, "MaxParallel"),
                joined(&w["Endpoints"], ","),
                short(&reading, 80),
            ]
        })
        .collect();
    table(&["WAVE", "STATE", "PARALLEL", "ENDPOINTS", "GATE"], &waves)
}

/// One row per endpoint: its wave, the desired and applied commits, whether it is released.
fn endpoints_table(r: &Value) -> String {
    let eps: Vec<Vec<String>> = r["Endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            vec![
                s(e, "Endpoint"),
                s(e, "Wave"),
                short(&s(e, "DesiredCommit"), 8),
                short(&s(e, "AppliedCommit"), 8),
                (if e["Released"] == Value::Bool(true) {
                    "yes"
                } else {
                    "no"
                })
                .into(),
                short(&s(e, "Error"), 80),
            ]
        })
        .collect();
    table(
        &[
            "ENDPOINT", "WAVE", "DESIRED", "APPLIED", "RELEASED", "ERROR",
        ],
        &eps,
    )
}

/// A list of strings as one line.
fn joined(list: &Value, sep: &str) -> String {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(sep)
}

pub async fn status(c: &Client) -> anyhow::Result<()> {
    print!("{}", status_text(&c.get(PATH).await?));
    Ok(())
}

/// `pause` or `resume`.
pub async fn control(c: &Client, verb: &str) -> anyhow::Result<()> {
    let r = c
        .call(reqwest::Method::POST, &format!("{PATH}/{verb}"), None)
        .await?;
    print!("{}", status_text(&r));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_halt_and_the_waiting_commit_are_shown() {
        let r = serde_json::json!({
            "Rollout": "r", "Commit": "abcdef0123456789", "State": "halted", "Paused": false,
            "GateEnabled": true, "SettleSeconds": 5,
            "Halt": {"Endpoint": "e0", "Wave": "canary", "Reason": "apply refused with HTTP 422"},
            "WaitingCommit": "0123456789abcdef",
            "Waves": [{"Name": "canary", "State": "halted", "MaxParallel": 1, "Endpoints": ["e0"],
                       "Gate": null}],
            "Endpoints": [{"Endpoint": "e0", "Wave": "canary", "Released": true,
                           "Error": "apply refused with HTTP 422"}],
        });
        let text = status_text(&r);
        assert!(
            text.contains("HALTED at endpoint e0 (wave canary): apply refused with HTTP 422"),
            "{text}"
        );
        assert!(text.contains("commit 0123456789ab waits"), "{text}");
        assert!(text.contains("canary  halted"), "{text}");
    }
}
