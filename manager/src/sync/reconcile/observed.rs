//! What the cluster runs, in the planner's terms.

use versionsets::{ComponentType, ElementAction, ElementType, ObservedPlugin, ObservedState};

use super::desired::Desired;
use super::read::Reading;

/// The cluster's state as the planner compares it with the desired one.
pub(super) fn observed_state(r: &Reading, desired: Option<&Desired>) -> ObservedState {
    let mut st = ObservedState {
        drp_version: r.version.clone(),
        prefs: r.prefs.clone(),
        global: r.global.clone(),
        ..ObservedState::default()
    };
    for c in &r.components {
        let map = match c.kind {
            ComponentType::ContentPackage => &mut st.content_packs,
            ComponentType::PluginProvider => &mut st.plugin_providers,
        };
        map.insert(c.name.clone(), c.version.clone());
    }
    for p in &r.plugins {
        st.plugins.insert(
            p.name.clone(),
            ObservedPlugin {
                provider: p.provider.clone(),
                params: p.params.clone(),
            },
        );
    }
    // Files cannot be listed; they are in place when the endpoint holds this very state.
    if let (Some(d), Some((hash, _, _))) = (desired, &r.applied) {
        if *hash == d.hash {
            for f in &d.resolved.files {
                st.files.insert(f.path.clone(), f.sha256sum.clone());
            }
        }
    }
    st
}

/// Actions an apply can carry out (not the DRP binary versions).
pub(super) fn actionable(actions: &[ElementAction]) -> bool {
    actions
        .iter()
        .any(|a| !matches!(a.kind, ElementType::Drp | ElementType::DrpUx))
}
