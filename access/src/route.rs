//! The claim a plain REST call on `/api/v3/<scope>[/<key>[/...]]` needs, DRP's way: a list or
//! get to read, create on the collection, update for a change to an object or its params,
//! delete, and `action` for a plugin or object action. The endpoint declares its claims per
//! route (its table also knows files, contents and prefs); the manager, whose API is made of
//! collections, derives them here.

use crate::Need;

/// What `method` on the path after `/api/v3/` (segments as sent, `//` skipped) needs;
/// `None` for the root `/api/v3` itself.
pub fn need(method: &str, rest: &str) -> Option<Need> {
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (scope, key, more) = match parts.as_slice() {
        [] => return None,
        [scope] => (*scope, "", &[][..]),
        [scope, key, more @ ..] => (*scope, *key, more),
    };
    let action = match (method.to_ascii_uppercase().as_str(), key.is_empty(), more) {
        ("GET" | "HEAD", true, _) => "list",
        ("GET" | "HEAD", false, _) => "get",
        ("POST", true, _) => "create",
        (_, false, [first, ..]) if *first == "actions" => "action",
        ("DELETE", false, []) => "delete",
        _ if !key.is_empty() => "update",
        // PUT/PATCH/DELETE on a whole collection: nothing serves it, ask for everything.
        _ => "*",
    };
    Some(Need::new(scope, action, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(method: &str, rest: &str) -> (String, &'static str, String) {
        let need = need(method, rest).unwrap();
        (need.scope, need.action, need.specific)
    }

    #[test]
    fn methods_and_paths_map_to_drp_actions() {
        let t = |s: &str, a: &'static str, k: &str| (s.to_string(), a, k.to_string());
        assert_eq!(n("GET", "machines"), t("machines", "list", ""));
        assert_eq!(n("HEAD", "machines/"), t("machines", "list", ""));
        assert_eq!(n("GET", "machines/m1"), t("machines", "get", "m1"));
        assert_eq!(n("GET", "machines/m1/params/a"), t("machines", "get", "m1"));
        assert_eq!(n("POST", "machines"), t("machines", "create", ""));
        assert_eq!(n("PATCH", "machines/m1"), t("machines", "update", "m1"));
        assert_eq!(n("PUT", "machines/m1"), t("machines", "update", "m1"));
        assert_eq!(
            n("POST", "machines/m1/params"),
            t("machines", "update", "m1")
        );
        assert_eq!(
            n("DELETE", "machines/m1/params/a"),
            t("machines", "update", "m1")
        );
        assert_eq!(n("DELETE", "machines/m1"), t("machines", "delete", "m1"));
        assert_eq!(
            n("POST", "machines/m1/actions/reboot"),
            t("machines", "action", "m1")
        );
        assert_eq!(n("DELETE", "machines"), t("machines", "*", ""));
        assert!(need("GET", "").is_none());
    }
}
