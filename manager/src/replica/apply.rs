//! How one endpoint event or listed object changes the replica. Only the federated
//! collections are kept, and, like DRP's manager, not the objects a content pack or plugin
//! provides (the endpoint marks those `ReadOnly` and names their `Bundle`).

use serde_json::Value;

use super::{FederatedEvent, Replica, ENDPOINT_FIELD};

/// Whether objects of `collection` are replicated.
pub(super) fn federated(collection: &str) -> bool {
    proto::collections::FEDERATED.contains(&collection)
}

/// Whether `object` is the endpoint's own (writable) rather than from a pack or plugin.
pub(super) fn writable(object: &Value) -> bool {
    let read_only = object.get("ReadOnly").and_then(Value::as_bool) == Some(true);
    let bundled = object
        .get("Bundle")
        .and_then(Value::as_str)
        .is_some_and(|b| !b.is_empty());
    !(read_only || bundled)
}

/// The key of a listed object of `collection`, by the collection's key field.
pub(super) fn key_of(collection: &str, object: &Value) -> Option<String> {
    let field = proto::collections::by_name(collection)?.key_field;
    match object.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The Raft index an endpoint event carries (`Index`; 0 from an endpoint without it).
pub(super) fn index_of(event: &Value) -> u64 {
    event.get("Index").and_then(Value::as_u64).unwrap_or(0)
}

/// What an event did to the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applied {
    Put,
    Removed,
    /// Not a replicated change (another collection, the socket's own messages, ...).
    Ignored,
}

/// Applies one of `endpoint`'s events: create/save/update store the event's object (or drop
/// it if it is now a pack's), delete drops it. A replicated change is published to the
/// federated subscribers with `Endpoint` set.
pub(super) fn apply_event(replica: &Replica, endpoint: &str, event: &Value) -> Applied {
    let text = |f: &str| event.get(f).and_then(Value::as_str).unwrap_or_default();
    let (collection, action, key) = (text("Type"), text("Action"), text("Key"));
    if !federated(collection) || key.is_empty() {
        return Applied::Ignored;
    }
    let object = event.get("Object").cloned().unwrap_or(Value::Null);
    let applied = match action {
        "create" | "save" | "update" if object.is_object() && writable(&object) => {
            replica.put(endpoint, collection, key, object);
            Applied::Put
        }
        // An object replaced by a pack's copy is not the endpoint's own any more.
        "create" | "save" | "update" if object.is_object() => {
            replica.remove(endpoint, collection, key);
            Applied::Removed
        }
        "delete" => {
            replica.remove(endpoint, collection, key);
            Applied::Removed
        }
        _ => return Applied::Ignored,
    };
    replica.publish(FederatedEvent {
        endpoint: endpoint.to_string(),
        event: with_endpoint(event.clone(), endpoint),
    });
    applied
}

/// `event` with `Endpoint` on itself and on its object.
fn with_endpoint(mut event: Value, endpoint: &str) -> Value {
    let id = Value::String(endpoint.to_string());
    if let Some(e) = event.as_object_mut() {
        if let Some(o) = e.get_mut("Object").and_then(Value::as_object_mut) {
            o.insert(ENDPOINT_FIELD.into(), id.clone());
        }
        e.insert(ENDPOINT_FIELD.into(), id);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: &str, action: &str, key: &str, object: Value, index: u64) -> Value {
        json!({"Type": kind, "Action": action, "Key": key, "Object": object, "Index": index})
    }

    /// Creates, updates and deletes land in the replica with `Endpoint`; a pack's object, a
    /// collection that is not federated and the socket's own messages change nothing; every
    /// replicated change is published with `Endpoint` on the event and its object.
    #[test]
    fn events_change_the_replica_as_the_endpoint_did() {
        let r = Replica::default();
        let mut bus = r.subscribe();
        let m1 = json!({"Name": "m1", "Uuid": "u1", "Params": {}});
        assert_eq!(
            apply_event(&r, "e1", &ev("machines", "create", "u1", m1.clone(), 5)),
            Applied::Put
        );
        let got = r.get("machines", "u1");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["Endpoint"], "e1");
        assert_eq!(got[0]["Name"], "m1");
        let published = bus.try_recv().expect("published");
        assert_eq!(published.endpoint, "e1");
        assert_eq!(published.event["Endpoint"], "e1");
        assert_eq!(published.event["Object"]["Endpoint"], "e1");
        assert_eq!(published.event["Index"], 5);

        let updated = json!({"Name": "m1-renamed", "Uuid": "u1"});
        apply_event(&r, "e1", &ev("machines", "update", "u1", updated, 6));
        assert_eq!(r.get("machines", "u1")[0]["Name"], "m1-renamed");
        // The same key on another endpoint is another copy.
        apply_event(&r, "e2", &ev("machines", "save", "u1", m1, 2));
        assert_eq!(r.owners("machines", "u1"), ["e1", "e2"]);

        let pack_task = json!({"Name": "t", "ReadOnly": true, "Bundle": "drp-community-content"});
        assert_eq!(
            apply_event(&r, "e1", &ev("tasks", "create", "t", pack_task, 7)),
            Applied::Removed
        );
        assert!(
            r.get("tasks", "t").is_empty(),
            "a pack's task is not replicated"
        );
        assert_eq!(
            apply_event(&r, "e1", &ev("prefs", "update", "prefs", json!({}), 8)),
            Applied::Ignored
        );
        let ack = json!({"Type": "websocket", "Action": "register", "Key": "*.*.*"});
        assert_eq!(apply_event(&r, "e1", &ack), Applied::Ignored);

        assert_eq!(
            apply_event(
                &r,
                "e1",
                &ev("machines", "delete", "u1", json!({"Uuid": "u1"}), 9)
            ),
            Applied::Removed
        );
        assert_eq!(r.owners("machines", "u1"), ["e2"]);
        assert_eq!(index_of(&ev("machines", "delete", "u1", Value::Null, 9)), 9);
    }

    #[test]
    fn listed_objects_are_keyed_by_the_collections_key_field() {
        assert_eq!(
            key_of("machines", &json!({"Uuid": "u", "Name": "n"})).as_deref(),
            Some("u")
        );
        assert_eq!(
            key_of("profiles", &json!({"Name": "p"})).as_deref(),
            Some("p")
        );
        assert!(writable(
            &json!({"Name": "p", "ReadOnly": false, "Bundle": ""})
        ));
        assert!(!writable(&json!({"Name": "p", "Bundle": "pack"})));
    }
}
