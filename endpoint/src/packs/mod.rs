//! Content packs outside the replicated store: turning DRP's directory and document forms
//! into a `ContentPack` (`bundle`), and what a pack needs from the endpoint (`prereqs`).
//! Installing, replacing and removing packs is `store::contents` (it runs in `apply`).

pub mod bundle;
pub mod prereqs;

pub use bundle::{bundle_dir, parse_pack, BundleError, MAX_PACK_BYTES};
pub use prereqs::FEATURES;
