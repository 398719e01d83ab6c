//! Request rate limits of the API: per source address before authentication (floods and
//! password guessing cost little), per user after it. Both answer 429 with `Retry-After` in
//! DRP's error shape (`netguard::enforce`).
//!
//! Never limited: the built-in admin `rocketskates` by user (the operator must be able to act
//! during an incident; the source limit still applies), and agents' job reports (the calls
//! the route table marks as such, made with a token), which must not be lost to other
//! clients' load.
//! Traffic between members (forwarded writes, read-index rounds, Raft) runs on the consensus
//! port and never meets these limits.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header;
use netguard::{RateArgs, RequestLimit, SourceIp};

use crate::auth::{Principal, ADMIN_USER};

/// The API's two limits (`None`: off).
#[derive(Clone)]
pub struct RateLimits {
    pub per_source: Option<Arc<RequestLimit<SourceIp>>>,
    pub per_user: Option<Arc<RequestLimit<String>>>,
}

impl RateLimits {
    pub fn new(args: &RateArgs) -> Self {
        RateLimits {
            per_source: RequestLimit::new("source address", args.rate_limit_per_source, source_of),
            per_user: RequestLimit::new("user", args.rate_limit_per_user, user_of),
        }
    }
}

/// Put on a request by the API's router when the route table says its call is an agent's
/// job report (this module knows no routes: the API depends on it, not the other way).
#[derive(Debug, Clone, Copy)]
pub struct JobReport;

/// An agent's report on its job: a call the route table marks as one ([`JobReport`]), made
/// with a token.
pub(crate) fn is_job_report(req: &Request) -> bool {
    req.extensions().get::<JobReport>().is_some()
        && req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "))
}

fn source_of(req: &Request) -> Option<SourceIp> {
    if is_job_report(req) {
        return None;
    }
    SourceIp::of_request(req)
}

fn user_of(req: &Request) -> Option<String> {
    let user = &req.extensions().get::<Principal>()?.user;
    (user != ADMIN_USER && !is_job_report(req)).then(|| user.clone())
}
