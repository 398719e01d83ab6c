//! The client transport of both systems in the load cells: TLS (our API over HTTPS as in
//! production; etcd with its own `--cert-file`/`--peer-cert-file` flags) or plain HTTP (our
//! `--no-tls`; etcd's default). Issue 7's table compared our HTTPS with etcd's plain HTTP;
//! issue 19 asks for both systems on the same footing, both ways.

use anyhow::{bail, Result};

use crate::bench::etcd::EtcdOpts;

/// How clients talk to both systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS to both.
    Tls,
    /// Plain HTTP to both.
    Plain,
}

impl Transport {
    /// `tls` (or `https`), `plain` (or `http`).
    pub fn parse(s: &str) -> Result<Transport> {
        Ok(match s {
            "tls" | "https" => Transport::Tls,
            "plain" | "http" => Transport::Plain,
            o => bail!("unknown transport {o:?} (tls, plain)"),
        })
    }

    /// A comma-separated list, in order, without repeats; the first is the reference.
    pub fn parse_list(items: &[String]) -> Result<Vec<Transport>> {
        let mut out = Vec::new();
        for s in items {
            let t = Transport::parse(s.trim())?;
            if out.contains(&t) {
                bail!("transport {s:?} given twice");
            }
            out.push(t);
        }
        if out.is_empty() {
            bail!("no transport given (tls, plain)");
        }
        Ok(out)
    }

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Tls => "TLS",
            Transport::Plain => "plain HTTP",
        }
    }

    /// The etcd cluster's options for this transport.
    pub fn etcd_opts(self) -> EtcdOpts {
        EtcdOpts {
            tls: self == Transport::Tls,
            advertise_peer_ports: None,
        }
    }

    /// Extra `drp-endpoint serve` arguments for this transport (member-to-member traffic is
    /// mutual TLS either way).
    pub fn ours_args(self) -> Vec<String> {
        match self {
            Transport::Tls => Vec::new(),
            Transport::Plain => vec!["--no-tls".into()],
        }
    }

    /// The suffix of a load cell's workload name: none for the reference transport (so the
    /// goals and earlier tables keep their rows), ` [plain HTTP]` for another.
    pub fn tag(self, reference: Transport) -> String {
        if self == reference {
            String::new()
        } else {
            format!(" [{}]", self.label())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &[&str]) -> Result<Vec<Transport>> {
        Transport::parse_list(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_lists_in_order() {
        assert_eq!(
            list(&["tls", " plain"]).unwrap(),
            vec![Transport::Tls, Transport::Plain]
        );
        assert_eq!(list(&["http"]).unwrap(), vec![Transport::Plain]);
        assert!(list(&["tls", "https"]).is_err(), "a repeat is refused");
        assert!(list(&["quic"]).is_err());
        assert!(list(&[]).is_err());
    }

    #[test]
    fn tags_and_flags() {
        assert_eq!(Transport::Tls.tag(Transport::Tls), "");
        assert_eq!(Transport::Plain.tag(Transport::Tls), " [plain HTTP]");
        assert_eq!(Transport::Tls.tag(Transport::Plain), " [TLS]");
        assert!(Transport::Tls.etcd_opts().tls);
        assert!(!Transport::Plain.etcd_opts().tls);
        assert_eq!(Transport::Plain.ours_args(), vec!["--no-tls".to_string()]);
        assert!(Transport::Tls.ours_args().is_empty());
    }
}
