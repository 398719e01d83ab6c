//! `drp-bench drive`: the writes (or linearizable reads) cell of the bench against an endpoint
//! that is already running (e.g. under `perf record`), with the harness admin password.

use std::time::Duration;

use anyhow::Result;
use reqwest::Method;
use serde_json::json;

use super::measure::{client_profile, PARAM};
use crate::bench::load::{self, LoadStats, Op, Shape};
use crate::bench::ours;

/// `drp-bench drive`: the writes (or linearizable reads) cell of the bench against an endpoint
/// that is already running (e.g. under `perf record`), with the harness admin password.
pub async fn drive(
    http: &reqwest::Client,
    base: &str,
    clients: usize,
    secs: f64,
    value_bytes: usize,
    reads: bool,
) -> Result<LoadStats> {
    let auth = ours::bearer(http, base, 3600).await?;
    let value: String = (0..value_bytes)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    for c in 0..clients {
        Op::new(Method::POST, format!("{base}/api/v3/profiles"))
            .headers(&auth)
            .json_body(
                json!({"Name": client_profile(c), "Description": "drp-bench"})
                    .to_string()
                    .into_bytes(),
            )
            .send(http, Duration::from_secs(10))
            .await?;
        ours::param_write(base, &client_profile(c), PARAM, &value, &auth)
            .send_ok(http, Duration::from_secs(10))
            .await?;
    }
    let ops: Vec<Op> = (0..clients)
        .map(|c| {
            if reads {
                ours::param_read(base, &client_profile(c), PARAM, &auth)
            } else {
                ours::param_write(base, &client_profile(c), PARAM, &value, &auth)
            }
        })
        .collect();
    load::run(
        http,
        ops,
        Shape {
            clients,
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs_f64(secs),
            timeout: Duration::from_secs(5),
        },
    )
    .await
}
