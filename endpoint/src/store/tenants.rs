//! DRP's tenant rules, checked where the write is applied (so members agree and a race
//! between two writes cannot slip past): `Members` names collections that exist, and a user
//! is in at most one tenant.

use redb::{ReadableTable, Table};
use serde_json::Value;

use super::{decode, StoreError};
use crate::command::Response;
use crate::model;

/// Why `tenant` (about to be stored under `key`) breaks a tenant rule, if it does.
pub(super) fn check(
    objects: &Table<(&str, &str), &[u8]>,
    key: &str,
    tenant: &Value,
) -> Result<Option<Response>, StoreError> {
    let mut problems = Vec::new();
    if let Some(Value::Object(members)) = tenant.get("Members") {
        for scope in members.keys() {
            if model::collection(scope).is_none() {
                problems.push(format!("Members: {scope:?} is not a collection"));
            }
        }
    }
    let users: Vec<&str> = tenant
        .get("Users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !users.is_empty() {
        for row in objects.range(("tenants", "")..)? {
            let (k, v) = row?;
            let (collection, other) = k.value();
            if collection != "tenants" {
                break;
            }
            if other == key {
                continue;
            }
            let other_tenant = decode(v.value())?;
            let theirs = other_tenant.get("Users").and_then(Value::as_array);
            for user in theirs.into_iter().flatten().filter_map(Value::as_str) {
                if users.contains(&user) {
                    problems.push(format!(
                        "Users: {user} is already in tenant {other}; a user is in at most one tenant"
                    ));
                }
            }
        }
    }
    Ok((!problems.is_empty()).then(|| {
        Response::ok(
            422,
            crate::command::error_body(422, "tenants", key, problems),
        )
    }))
}
