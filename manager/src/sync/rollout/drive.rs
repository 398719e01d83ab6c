//! The driver: follows the commit in force, releases each wave's endpoints (at most
//! `MaxParallel` applying at once), reads the health gate and starts the next wave once the
//! gate has held for the settle time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use versionsets::Rollout;

use super::status::{
    now_ms, EndpointStatus, GateReading, Status, WaveStatus, APPLYING, DONE, GATING, IDLE, PASSED,
    PAUSED, PENDING, RUNNING,
};
use super::{gate, halt};
use crate::state::Manager;
use crate::sync::reconcile::desired_for;

const TICK: Duration = Duration::from_millis(500);

/// Runs until the manager stops.
pub async fn run(mgr: Arc<Manager>) {
    let mut shutdown = mgr.shutdown_signal();
    loop {
        // A change of what admission hangs on wakes the reconcilers, so a commit goes out
        // now, not at their next round.
        let before = admission(&mgr);
        tick(&mgr).await;
        if admission(&mgr) != before {
            mgr.wake_all();
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = mgr.rollout.poke.notified() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// What the reconcilers' admission hangs on: whether the driver has looked yet, and the
/// commit it follows.
fn admission(mgr: &Manager) -> (bool, Option<String>) {
    mgr.rollout.with(|s| (s.state.is_empty(), s.commit.clone()))
}

/// What the driver saw of one endpoint this tick.
struct Seen {
    desired: Result<(Option<String>, String), String>,
    applied: Option<(String, String)>,
}

async fn tick(mgr: &Manager) {
    let r = &mgr.rollout;
    let good = mgr.registry.git().good;
    let commit = good.as_ref().map(|g| g.commit.clone());
    let Some((spec, commit)) = good.and_then(|g| Some((g.rollout?, g.commit))) else {
        return r.with(|s| {
            if s.rollout.is_some() {
                tracing::info!("the commit in force declares no rollout");
            }
            *s = Status {
                state: IDLE.into(),
                commit,
                ..Status::default()
            };
        });
    };
    let eps = mgr.effective_endpoints();
    let waves = spec.assign(eps.values().map(|(e, _)| e));
    let restart = r.take_restart();
    r.with(|s| follow(s, &spec, &commit, &waves, restart));
    let seen: BTreeMap<String, Seen> = r
        .status()
        .endpoints
        .iter()
        .filter_map(|e| {
            let (ep, _) = eps.get(&e.endpoint)?;
            let desired = desired_for(mgr, ep)
                .map(|d| (d.commit, d.hash))
                .map_err(|e| e.join("; "));
            let applied = mgr
                .registry
                .observed(&e.endpoint)
                .applied
                .map(|a| (a.git_commit, a.hash));
            Some((e.endpoint.clone(), Seen { desired, applied }))
        })
        .collect();
    let (gate_due, released) = r.with(|s| {
        observe(s, &seen);
        let before = released_ids(s);
        let due = advance(s);
        let now: Vec<String> = released_ids(s)
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        (due, now)
    });
    // A released endpoint applies at once rather than at its reconciler's next round.
    for id in &released {
        mgr.wake(id);
    }
    if let Some((wave, members)) = gate_due {
        let problems = gate::read(mgr, &members).await;
        r.with(|s| record_gate(s, wave, problems));
    }
}

/// Takes a new commit (or a resume after a halt) by starting over from the first wave; a
/// new commit while halted waits for resume. Same commit: follows membership changes.
fn follow(s: &mut Status, spec: &Rollout, commit: &str, waves: &[Vec<String>], restart: bool) {
    let same =
        s.rollout.as_deref() == Some(spec.id.as_str()) && s.commit.as_deref() == Some(commit);
    if same && !restart {
        return regroup(s, spec, waves);
    }
    if s.halt.is_some() && !restart {
        if s.waiting_commit.as_deref() != Some(commit) && s.commit.as_deref() != Some(commit) {
            tracing::warn!(%commit, "rollout halted: the new commit waits for `rollout resume`");
            s.waiting_commit = Some(commit.to_owned());
        }
        return;
    }
    tracing::info!(rollout = %spec.id, %commit, waves = spec.waves.len(), "rollout starts");
    *s = Status {
        rollout: Some(spec.id.clone()),
        commit: Some(commit.to_owned()),
        state: (if s.paused { PAUSED } else { RUNNING }).into(),
        paused: s.paused,
        gate_enabled: spec.gate.enabled,
        settle_seconds: spec.gate.settle_seconds,
        started_ms: Some(now_ms()),
        ..Status::default()
    };
    regroup(s, spec, waves);
}

/// The waves' members as the endpoints stand now (registered or removed since).
fn regroup(s: &mut Status, spec: &Rollout, waves: &[Vec<String>]) {
    let mut old: BTreeMap<String, EndpointStatus> = std::mem::take(&mut s.endpoints)
        .into_iter()
        .map(|e| (e.endpoint.clone(), e))
        .collect();
    for (i, (w, members)) in spec.waves.iter().zip(waves).enumerate() {
        if s.waves.len() <= i {
            s.waves.push(WaveStatus {
                name: w.name.clone(),
                max_parallel: w.max_parallel,
                state: PENDING.into(),
                ..WaveStatus::default()
            });
        }
        s.waves[i].endpoints = members.clone();
        for id in members {
            let e = old.remove(id).unwrap_or_else(|| EndpointStatus {
                endpoint: id.clone(),
                ..EndpointStatus::default()
            });
            s.endpoints.push(EndpointStatus {
                wave: w.name.clone(),
                ..e
            });
        }
    }
}

/// Records each endpoint's desired and applied state; a released endpoint whose desired
/// state cannot be computed halts the rollout.
fn observe(s: &mut Status, seen: &BTreeMap<String, Seen>) {
    let now = now_ms();
    let mut broken = None;
    for e in &mut s.endpoints {
        let Some(x) = seen.get(&e.endpoint) else {
            continue;
        };
        match &x.desired {
            Ok((commit, hash)) => {
                e.desired_commit = commit.clone();
                e.desired_hash = Some(hash.clone());
            }
            Err(why) => {
                e.error = Some(why.clone());
                if e.released && broken.is_none() {
                    broken = Some((e.endpoint.clone(), e.wave.clone(), why.clone()));
                }
            }
        }
        e.applied_commit = x.applied.as_ref().map(|a| a.0.clone());
        e.applied_hash = x.applied.as_ref().map(|a| a.1.clone());
        if is_applied(e) {
            e.applied_ms.get_or_insert(now);
            e.error = None;
        }
    }
    if let Some((id, wave, why)) = broken.filter(|_| s.halt.is_none()) {
        halt(s, &id, &wave, format!("desired state: {why}"));
    }
}

fn released_ids(s: &Status) -> Vec<String> {
    s.endpoints
        .iter()
        .filter(|e| e.released)
        .map(|e| e.endpoint.clone())
        .collect()
}

fn is_applied(e: &EndpointStatus) -> bool {
    e.desired_hash.is_some() && e.applied_hash == e.desired_hash
}

/// Moves the current wave on; the wave whose gate is due, with its members' desired hashes.
fn advance(s: &mut Status) -> Option<(usize, Vec<(String, String)>)> {
    if s.halt.is_some() || s.state == DONE || s.rollout.is_none() {
        return None;
    }
    loop {
        let Some(w) = s.waves.iter().position(|w| w.state != PASSED) else {
            s.state = DONE.into();
            s.finished_ms = Some(now_ms());
            tracing::info!(rollout = ?s.rollout, commit = ?s.commit, "rollout done");
            return None;
        };
        let now = now_ms();
        if s.waves[w].state == PENDING {
            if s.paused {
                return None;
            }
            tracing::info!(wave = %s.waves[w].name, "rollout: wave starts");
            s.waves[w].state = APPLYING.into();
            s.waves[w].started_ms = Some(now);
        }
        if s.waves[w].state == APPLYING {
            release(s, w, now);
            let all = s.waves[w]
                .endpoints
                .iter()
                .all(|id| s.endpoint(id).is_some_and(is_applied));
            if !all {
                return None;
            }
            s.waves[w].applied_ms = Some(now);
            s.waves[w].state = (if s.gate_enabled { GATING } else { PASSED }).into();
            tracing::info!(wave = %s.waves[w].name, "rollout: wave applied");
        }
        if s.waves[w].state == GATING {
            let members = s.waves[w]
                .endpoints
                .iter()
                .filter_map(|id| Some((id.clone(), s.endpoint(id)?.desired_hash.clone()?)))
                .collect();
            return Some((w, members));
        }
        s.waves[w].passed_ms.get_or_insert(now);
    }
}

/// Releases the wave's next endpoints while fewer than `MaxParallel` are applying.
fn release(s: &mut Status, w: usize, now: u64) {
    if s.paused {
        return;
    }
    let max = s.waves[w].max_parallel.max(1);
    let ids = s.waves[w].endpoints.clone();
    let mut applying = ids
        .iter()
        .filter(|id| s.endpoint(id).is_some_and(|e| e.released && !is_applied(e)))
        .count();
    for id in ids {
        if applying >= max {
            return;
        }
        if let Some(e) = s.endpoint_mut(&id) {
            if !e.released {
                e.released = true;
                e.released_ms = Some(now);
                if !is_applied(e) {
                    applying += 1;
                }
            }
        }
    }
}

/// Records a gate reading of wave `w`: a failure halts, a problem holds (and restarts the
/// settle time), and once healthy for the settle time the wave has passed.
fn record_gate(s: &mut Status, w: usize, problems: Vec<gate::Problem>) {
    if s.halt.is_some() || s.waves.get(w).is_none_or(|x| x.state != GATING) {
        return;
    }
    let now = now_ms();
    if let Some(p) = problems.iter().find(|p| p.fatal) {
        let wave = s.waves[w].name.clone();
        if let Some(e) = s.endpoint_mut(&p.endpoint) {
            e.error = Some(p.text.clone());
        }
        return halt(s, &p.endpoint, &wave, p.text.clone());
    }
    let settle = s.settle_seconds.saturating_mul(1000);
    let wave = &mut s.waves[w];
    let healthy = problems.is_empty();
    // A break restarts the settle time.
    let since = healthy.then(|| {
        wave.gate
            .as_ref()
            .and_then(|g| g.healthy_since_ms)
            .unwrap_or(now)
    });
    wave.gate = Some(GateReading {
        at_ms: now,
        healthy,
        healthy_since_ms: since,
        problems: problems
            .iter()
            .map(|p| format!("{}: {}", p.endpoint, p.text))
            .collect(),
    });
    if since.is_some_and(|t| now.saturating_sub(t) >= settle) {
        tracing::info!(wave = %wave.name, "rollout: gate passed");
        wave.state = PASSED.into();
        wave.passed_ms = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Rollout {
        versionsets::parse_rollout(
            "r.yaml",
            "Id: r\nWaves:\n  - Name: canary\n    Selector: {ring: canary}\n  - Name: rest\n    MaxParallel: 2\nGate:\n  Enabled: false\n",
        )
        .unwrap()
        .unwrap()
        .rollout
    }

    fn seen(applied: &[&str]) -> BTreeMap<String, Seen> {
        ["a", "b", "c", "d"]
            .iter()
            .map(|id| {
                let have = if applied.contains(id) { "new" } else { "old" };
                (
                    (*id).to_owned(),
                    Seen {
                        desired: Ok((Some("c2".into()), "new".into())),
                        applied: Some(("c".into(), have.into())),
                    },
                )
            })
            .collect()
    }

    fn released(s: &Status) -> Vec<String> {
        released_ids(s)
    }

    #[test]
    fn waves_are_released_in_order_and_max_parallel_at_a_time() {
        let waves = vec![
            vec!["a".to_owned()],
            vec!["b".into(), "c".into(), "d".into()],
        ];
        let mut s = Status::default();
        follow(&mut s, &spec(), "c2", &waves, false);
        observe(&mut s, &seen(&[]));
        assert_eq!(advance(&mut s), None);
        assert_eq!(released(&s), ["a"]);
        observe(&mut s, &seen(&["a"]));
        assert_eq!(advance(&mut s), None);
        assert_eq!(released(&s), ["a", "b", "c"]);
        observe(&mut s, &seen(&["a", "b"]));
        advance(&mut s);
        assert_eq!(released(&s), ["a", "b", "c", "d"]);
        observe(&mut s, &seen(&["a", "b", "c", "d"]));
        advance(&mut s);
        assert_eq!(s.state, DONE);
    }

    #[test]
    fn a_new_commit_while_halted_waits_for_resume() {
        let waves = vec![vec!["a".to_owned()], vec!["b".into()]];
        let mut s = Status::default();
        follow(&mut s, &spec(), "c2", &waves, false);
        observe(&mut s, &seen(&[]));
        advance(&mut s);
        halt(&mut s, "a", "canary", "refused".into());
        follow(&mut s, &spec(), "c3", &waves, false);
        assert_eq!(s.commit.as_deref(), Some("c2"));
        assert_eq!(s.waiting_commit.as_deref(), Some("c3"));
        follow(&mut s, &spec(), "c3", &waves, true);
        assert_eq!(s.commit.as_deref(), Some("c3"));
        assert!(s.halt.is_none());
        assert_eq!(s.state, RUNNING);
    }
}
