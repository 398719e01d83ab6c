//! Read-your-writes after a routed write: the next read through the manager sees the write.

use std::time::Duration;

use proto::collections::Collection;
use serde_json::Value;

use crate::replica::Replica;

/// How long a routed write's reply waits for the replica to catch up with it.
pub(super) const WAIT: Duration = Duration::from_secs(5);

/// What a settled write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    /// The replica's follower reached the write's commit index.
    Followed,
    /// The reply's object was written into the replica (no follower, no index, or the wait
    /// timed out); the follower's later copy of the same change replaces it.
    WrittenThrough,
}

/// Waits (at most [`WAIT`]) until the replica of `endpoint` reached `index`, the commit index
/// the cluster answered the write with; otherwise writes `object` (the cluster's reply) into
/// the replica, or removes it for a delete. The key is the reply object's own (the URL may
/// have named it by an index such as `Name:fred1`), else the URL's.
pub(super) async fn settle(
    replica: &Replica,
    endpoint: &str,
    c: &Collection,
    url_key: &str,
    deleted: bool,
    index: Option<u64>,
    object: &Value,
) -> Settled {
    let followed = replica.sync_states().contains_key(endpoint);
    if let (true, Some(index)) = (followed, index) {
        if replica.wait_for(endpoint, index, WAIT).await {
            return Settled::Followed;
        }
        tracing::debug!(
            endpoint,
            index,
            "replica did not reach a routed write in time"
        );
    }
    let key = object
        .get(c.key_field)
        .and_then(Value::as_str)
        .unwrap_or(url_key);
    if deleted {
        replica.remove(endpoint, c.name, key);
    } else {
        replica.put(endpoint, c.name, key, object.clone());
    }
    Settled::WrittenThrough
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::replica::EndpointSync;

    fn machines() -> &'static Collection {
        proto::collections::by_name("machines").expect("machines")
    }

    #[tokio::test]
    async fn without_a_follower_the_reply_is_written_through() {
        let r = Replica::default();
        let m = json!({"Uuid": "u1", "Name": "m1"});
        let s = settle(&r, "e1", machines(), "Name:m1", false, Some(9), &m).await;
        assert_eq!(s, Settled::WrittenThrough);
        assert_eq!(r.get("machines", "u1")[0]["Endpoint"], "e1");
        let s = settle(&r, "e1", machines(), "u1", true, None, &m).await;
        assert_eq!(s, Settled::WrittenThrough);
        assert!(r.get("machines", "u1").is_empty());
    }

    #[tokio::test]
    async fn a_follower_at_the_index_is_waited_for_not_written_over() {
        let r = Replica::default();
        let at = |index| EndpointSync {
            index,
            current: true,
            error: None,
        };
        r.set_sync("e1", at(5));
        let m = json!({"Uuid": "u1"});
        let (s, ()) = tokio::join!(
            settle(&r, "e1", machines(), "u1", false, Some(7), &m),
            async {
                tokio::task::yield_now().await;
                r.set_sync("e1", at(7));
            }
        );
        assert_eq!(s, Settled::Followed);
        assert!(r.get("machines", "u1").is_empty(), "left to the follower");
    }
}
