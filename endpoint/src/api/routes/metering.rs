//! Which calls the rate limits let through: the rows of `ROUTES` that declare a
//! [`Metering`] other than `Counted`, resolved against the request's path.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::access::{operation, segments};
use super::Metering;
use crate::limits::JobReport;

/// Marks a job report for the rate limits, which run inside this layer (see [`JobReport`]).
pub async fn mark_job_reports(mut req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>();
    if matched.is_some_and(|m| is_job_report(m.as_str(), req.method(), req.uri().path())) {
        req.extensions_mut().insert(JobReport);
    }
    next.run(req).await
}

/// Whether `method` on the route matched as `matched` (`MatchedPath`; `path` as sent) is an
/// agent's job report, which the rate limits never count (the caller checks it carries a
/// token).
pub fn is_job_report(matched: &str, method: &Method, path: &str) -> bool {
    match operation(matched, method).map(|op| op.metering) {
        Some(Metering::JobReport) => true,
        Some(Metering::JobReportOnJobs) => segments(path).first() == Some(&"jobs"),
        Some(Metering::Counted) | None => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, StatusCode};
    use axum::routing::any;
    use tower::ServiceExt;

    use super::*;

    /// How the rate limits judge a request that went through the marking layer.
    async fn judged(method: &str, path: &str, bearer: bool) -> bool {
        let judge = |req: Request| async move {
            match crate::limits::is_job_report(&req) {
                true => StatusCode::OK,
                false => StatusCode::ACCEPTED,
            }
        };
        let app = axum::Router::new()
            .route("/api/v3/jobs/{key}/log", any(judge))
            .route("/api/v3/{collection}/{key}", any(judge))
            .layer(axum::middleware::from_fn(mark_job_reports));
        let mut req = Request::builder().method(method).uri(path);
        if bearer {
            req = req.header(header::AUTHORIZATION, "Bearer t");
        }
        let req = req.body(Body::empty()).expect("request");
        app.oneshot(req).await.expect("answer").status() == StatusCode::OK
    }

    #[tokio::test]
    async fn the_limits_see_a_job_report_by_its_route_and_a_token() {
        assert!(judged("PUT", "/api/v3/jobs/j1/log", true).await);
        assert!(judged("PATCH", "/api/v3/jobs/j1", true).await);
        assert!(!judged("PATCH", "/api/v3/jobs/j1", false).await, "no token");
        assert!(!judged("PATCH", "/api/v3/machines/m1", true).await);
        assert!(!judged("GET", "/api/v3/jobs/j1/log", true).await);
    }

    #[test]
    fn job_writes_are_reports_and_other_calls_are_counted() {
        let patch = Method::PATCH;
        assert!(is_job_report("/api/v3/jobs", &Method::POST, "/api/v3/jobs"));
        assert!(is_job_report(
            "/api/v3/jobs/{key}/log",
            &Method::PUT,
            "/api/v3/jobs/j1/log"
        ));
        assert!(is_job_report(
            "/api/v3/{collection}/{key}",
            &patch,
            "/api/v3/jobs/j1"
        ));
        assert!(is_job_report(
            "/api/v3/{collection}/{key}",
            &Method::PUT,
            "/api/v3/jobs/j1"
        ));
        let param = "/api/v3/{collection}/{key}/params/{*param}";
        assert!(is_job_report(
            param,
            &Method::POST,
            "/api/v3/jobs/j1/params/a"
        ));
        // The same calls on another collection, reads and deletes are counted.
        assert!(!is_job_report(
            "/api/v3/{collection}/{key}",
            &patch,
            "/api/v3/machines/m1"
        ));
        assert!(!is_job_report(
            "/api/v3/{collection}/{key}",
            &Method::DELETE,
            "/api/v3/jobs/j1"
        ));
        assert!(!is_job_report("/api/v3/jobs", &Method::GET, "/api/v3/jobs"));
        assert!(!is_job_report(
            "/api/v3/jobs/{key}/log",
            &Method::GET,
            "/api/v3/jobs/j1/log"
        ));
        assert!(!is_job_report(
            "/api/v3/nowhere",
            &Method::POST,
            "/api/v3/nowhere"
        ));
    }
}
