//! DRP's object collections (`/api/v3/<name>`) and the field keying each: shared by the
//! endpoint, which serves them, and the manager, which replicates and federates them.

/// A collection served under `/api/v3/<name>`.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// The path segment and event `Type`: `machines`.
    pub name: &'static str,
    /// The field holding the object's key.
    pub key_field: &'static str,
    /// DRP's model name, used in error bodies.
    pub model: &'static str,
    /// Whether the key is generated (a UUID) when a created object has none.
    pub generated_key: bool,
}

const fn keyed(name: &'static str, key_field: &'static str, generated_key: bool) -> Collection {
    Collection {
        name,
        key_field,
        model: name,
        generated_key,
    }
}

/// DRP's collections and their key fields.
pub const COLLECTIONS: &[Collection] = &[
    keyed("machines", "Uuid", true),
    keyed("profiles", "Name", false),
    keyed("params", "Name", false),
    keyed("stages", "Name", false),
    keyed("tasks", "Name", false),
    keyed("workflows", "Name", false),
    keyed("bootenvs", "Name", false),
    keyed("templates", "ID", false),
    keyed("subnets", "Name", false),
    keyed("reservations", "Addr", false),
    keyed("leases", "Addr", false),
    keyed("users", "Name", false),
    keyed("roles", "Name", false),
    keyed("tenants", "Name", false),
    keyed("pools", "Id", false),
    keyed("contexts", "Name", false),
    keyed("jobs", "Uuid", true),
    keyed("plugin_providers", "Name", false),
    keyed("plugins", "Name", false),
    keyed("catalog_items", "Id", false),
    keyed("version_sets", "Id", false),
];

/// Fields DRP serves unique-index lookups on (`/machines/Name:fred1`).
pub const INDEXED_FIELDS: &[&str] = &["Name", "Uuid", "Id", "ID", "Addr"];

/// The collection named `name`, if DRP has one.
pub fn by_name(name: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.name == name)
}

/// The writable collections a manager replicates from each cluster and serves federated,
/// as DRP's Multi-Site Manager does (content-pack and plugin objects stay on their endpoint).
pub const FEDERATED: &[&str] = &[
    "machines",
    "profiles",
    "params",
    "workflows",
    "stages",
    "tasks",
    "templates",
    "bootenvs",
    "subnets",
    "reservations",
    "leases",
    "jobs",
    "users",
    "roles",
    "pools",
    "contexts",
];
