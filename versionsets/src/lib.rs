//! DRP VersionSets and Endpoints: models, YAML/JSON parsing with precise errors, validation,
//! merge of an endpoint's ordered sets, catalog resolution, the plan against an endpoint's
//! observed state, and the state hash. A pure library: it only parses the text handed to it.
//!
//! The usual flow: [`parse_version_sets`] / [`parse_endpoints`] → [`merge_for_endpoint`] →
//! [`Catalog::resolve`] → [`plan`] against an [`ObservedState`], and [`state_hash`] of the
//! resolved set to tell whether an endpoint already has it.
#![warn(missing_docs)]

mod catalog;
mod diagnostic;
mod hash;
mod merge;
mod model;
mod parse;
mod plan;
mod rollout;
mod schema;
mod validate;
mod version;
mod yaml;

pub use catalog::{Catalog, ResolveError};
pub use diagnostic::{Diagnostic, ParseError, Pos, Problem};
pub use hash::{canonical_json, canonical_state, state_hash};
pub use merge::{merge, merge_for_endpoint, MergeError};
pub use model::*;
pub use parse::{parse_documents, parse_endpoints, parse_version_sets, Document, DocumentKind};
pub use plan::{plan, ObservedPlugin, ObservedState, PlanError};
pub use rollout::{
    check_selectors, parse_rollout, Gate, Rollout, RolloutDoc, Wave, DEFAULT_SETTLE_SECONDS,
};
pub use schema::{strip_drp_bookkeeping, DRP_BOOKKEEPING};
pub use validate::{endpoint as validate_endpoint, version_set as validate_version_set};
pub use version::{same_version, VersionSpec};
