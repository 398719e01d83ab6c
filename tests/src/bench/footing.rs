//! The equal-footing view of the report (issue 19): each load cell measured over the
//! reference transport beside the same cell over another one (rows tagged ` [plain HTTP]`),
//! with the ratio of each pair, and ours over the reference against etcd over the other one
//! (issue 7's footing was ours over HTTPS against etcd over plain HTTP).

use std::fmt::Write as _;

use super::report::{num, Report, Row};

/// The metrics the view shows.
const METRICS: [&str; 2] = ["throughput", "p50 latency"];

/// `(untagged workload, tag)` of a tagged row's workload: `("writes → leader, 1 client",
/// "plain HTTP")` for `writes → leader, 1 client [plain HTTP]`.
fn split_tag(workload: &str) -> Option<(&str, &str)> {
    let (base, tag) = workload.strip_suffix(']')?.rsplit_once(" [")?;
    Some((base, tag))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "-".into(),
    }
}

/// The markdown table, or `None` when no cell was measured over a second transport.
pub fn footing_table(r: &Report) -> Option<String> {
    let reference = r.settings["transports"][0].as_str().unwrap_or("reference");
    let pairs: Vec<(&Row, &Row, &str)> = r
        .rows
        .iter()
        .filter(|t| METRICS.contains(&t.metric.as_str()))
        .filter_map(|t| {
            let (base, tag) = split_tag(&t.workload)?;
            Some((r.find(base, &t.metric)?, t, tag))
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Equal footing: the same cells over {reference} and over another transport\n"
    );
    let _ = writeln!(
        s,
        "| cell | metric | ours ({reference}) | etcd ({reference}) | ratio ({reference}, equal footing) | transport | ours | etcd | ratio | ours ({reference}) / etcd (other) |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for (a, b, tag) in pairs {
        let _ = writeln!(
            s,
            "| {} | {} ({}) | {} | {} | {} | {tag} | {} | {} | {} | {} |",
            a.workload,
            a.metric,
            a.unit,
            num(a.ours),
            num(a.etcd),
            ratio(a.ours, a.etcd),
            num(b.ours),
            num(b.etcd),
            ratio(b.ours, b.etcd),
            ratio(a.ours, b.etcd),
        );
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bench::report::Better;

    fn report() -> Report {
        Report {
            date: String::new(),
            mode: "quick".into(),
            command: String::new(),
            machine: crate::bench::machine::Machine::default(),
            ours_binary: String::new(),
            etcd_version: String::new(),
            settings: json!({"transports": ["TLS", "plain HTTP"]}),
            rows: Vec::new(),
            goals: Vec::new(),
            details: json!({}),
            notes: Vec::new(),
        }
    }

    #[test]
    fn splits_tags() {
        assert_eq!(
            split_tag("writes → leader, 1 client [plain HTTP]"),
            Some(("writes → leader, 1 client", "plain HTTP"))
        );
        assert_eq!(split_tag("writes → leader, 1 client"), None);
    }

    #[test]
    fn pairs_each_tagged_row_with_its_reference_row() {
        let mut r = report();
        assert!(footing_table(&r).is_none(), "nothing to pair");
        let w = "writes → leader, 64 clients";
        let tagged = format!("{w} [plain HTTP]");
        r.push(
            w,
            "throughput",
            "writes/s",
            Better::Higher,
            Some(1000.0),
            Some(2000.0),
            "",
        );
        r.push(
            &tagged,
            "throughput",
            "writes/s",
            Better::Higher,
            Some(1200.0),
            Some(4000.0),
            "",
        );
        // Not a shown metric, and a tagged row without its reference row: both left out.
        r.push(
            &tagged,
            "p99 latency",
            "ms",
            Better::Lower,
            Some(1.0),
            Some(1.0),
            "",
        );
        r.push(
            "x [plain HTTP]",
            "throughput",
            "writes/s",
            Better::Higher,
            Some(1.0),
            None,
            "",
        );
        let t = footing_table(&r).unwrap();
        let rows: Vec<&str> = t.lines().filter(|l| l.starts_with("| writes")).collect();
        assert_eq!(
            rows,
            vec!["| writes → leader, 64 clients | throughput (writes/s) | 1000 | 2000 | 0.50× | plain HTTP | 1200 | 4000 | 0.30× | 0.25× |"]
        );
        assert!(!t.contains("| x "));
        assert!(t.contains("ours (TLS)"));
    }
}
