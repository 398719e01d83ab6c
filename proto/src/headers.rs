//! The `X-DRP-*` headers more than one crate reads or writes. HTTP header names are
//! case-insensitive; these are lower case because `http::HeaderName` requires it of constants.

/// Response header: the ConsensusID of the leader as the answering member sees it.
pub const LEADER: &str = "x-drp-leader";
/// Response header: the commit index the response reflects (read-your-writes waits on it).
pub const COMMIT_INDEX: &str = "x-drp-commit-index";
/// Response header: the index the answering member had applied when the request arrived,
/// so a read reflects at least every entry up to it.
pub const APPLIED_INDEX: &str = "x-drp-applied-index";
/// Request header: serve a possibly stale read from the answering member.
pub const STALE_READ: &str = "x-drp-stale-read";
/// Response header of a list: how many objects matched the filters.
pub const LIST_FILTER_COUNT: &str = "x-drp-list-filter-count";
/// Response header of a list: how many objects the collection holds.
pub const LIST_TOTAL_COUNT: &str = "x-drp-list-total-count";
/// Response header of a list (the manager's collections): how many objects are returned.
pub const LIST_COUNT: &str = "x-drp-list-count";
/// Request header for exactly-once writes (not DRP's prefix, but shared the same way).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Response header of the manager's federated reads: the endpoints whose objects are served
/// from a replica that is not current (comma-separated; absent when every one is).
pub const STALE_ENDPOINTS: &str = "x-drp-stale-endpoints";
/// Response header of the manager's federated `GET /<collection>/<key>`: the endpoint whose
/// copy was served.
pub const ENDPOINT: &str = "x-drp-endpoint";
/// Response header of the manager's federated `GET /<collection>/<key>` when more than one
/// endpoint holds the key: all of them (comma-separated; `?Endpoint=<id>` picks one).
pub const ENDPOINT_OWNERS: &str = "x-drp-endpoint-owners";
