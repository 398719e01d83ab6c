//! The verifier against real chains made with rcgen.

use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn leaf(ca: &Ca, host: &str) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    let p = CertificateParams::new(vec![host.to_owned()]).unwrap();
    p.signed_by(&key, &ca.cert, &ca.key).unwrap().der().clone()
}

fn now() -> UnixTime {
    UnixTime::now()
}

#[test]
fn a_chain_to_the_pinned_ca_verifies_whatever_the_host_name() {
    let a = ca("cluster A");
    let chain = [leaf(&a, "localhost"), a.cert.der().clone()];
    let pin = pin_from_chain(&chain, "https://10.1.2.3:8092").unwrap();
    assert_eq!(pin.sha256, fingerprint(a.cert.der()));
    let v = AnchoredVerifier::new(pin.anchor());
    v.check(&chain[0], &chain[1..], now()).unwrap();
    // Also through rustls' entry point, with a name the certificate does not carry.
    let name = ServerName::try_from("10.9.9.9").unwrap();
    v.verify_server_cert(&chain[0], &chain[1..], &name, &[], now())
        .unwrap();
    // The CA not sent: still verifies (the anchor is the CA).
    v.check(&chain[0], &[], now()).unwrap();
}

#[test]
fn another_clusters_certificate_is_refused_with_a_clear_message() {
    let a = ca("cluster A");
    let b = ca("cluster B");
    let pinned = AnchoredVerifier::new(Anchor::Pinned(a.cert.der().clone()));
    let other = [leaf(&b, "localhost"), b.cert.der().clone()];
    let e = pinned.check(&other[0], &other[1..], now()).unwrap_err().0;
    assert!(e.contains("changed since it was pinned"), "{e}");
    assert!(e.contains("set manager/ca or re-register"), "{e}");
    let given = AnchoredVerifier::new(Anchor::Given(vec![a.cert.der().clone()]));
    let e = given.check(&other[0], &other[1..], now()).unwrap_err().0;
    assert!(e.contains("does not chain to manager/ca"), "{e}");
    // A chain that claims A's CA but whose leaf B signed.
    let forged = [leaf(&b, "localhost"), a.cert.der().clone()];
    assert!(pinned.check(&forged[0], &forged[1..], now()).is_err());
    // Refusals survive the trip through rustls' error type.
    let err = pinned
        .verify_server_cert(
            &other[0],
            &other[1..],
            &ServerName::try_from("x").unwrap(),
            &[],
            now(),
        )
        .unwrap_err();
    let io = std::io::Error::other(err);
    assert!(untrusted(&io)
        .unwrap()
        .contains("changed since it was pinned"));
    assert!(AnchoredVerifier::new(Anchor::Unpinned)
        .check(&other[0], &[], now())
        .is_err());
}

#[test]
fn a_lone_self_signed_certificate_is_pinned_as_itself() {
    let key = KeyPair::generate().unwrap();
    let own = CertificateParams::new(vec!["drp.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let chain = [own.der().clone()];
    let pin = pin_from_chain(&chain, "https://127.0.0.1:1").unwrap();
    AnchoredVerifier::new(pin.anchor())
        .check(&chain[0], &[], now())
        .unwrap();
    // A lone leaf whose issuer is not sent is pinned as itself too.
    let a = ca("cluster A");
    let l = leaf(&a, "localhost");
    let pin = pin_from_chain(std::slice::from_ref(&l), "https://127.0.0.1:1").unwrap();
    AnchoredVerifier::new(pin.anchor())
        .check(&l, &[], now())
        .unwrap();
    let later = UnixTime::since_unix_epoch(Duration::from_secs(100_000_000_000));
    assert!(AnchoredVerifier::new(pin.anchor())
        .check(&l, &[], later)
        .is_err());
}

#[test]
fn expired_chains_are_refused() {
    let a = ca("cluster A");
    let chain = [leaf(&a, "localhost"), a.cert.der().clone()];
    let v = AnchoredVerifier::new(Anchor::Given(vec![a.cert.der().clone()]));
    let later = UnixTime::since_unix_epoch(Duration::from_secs(100_000_000_000));
    let e = v.check(&chain[0], &chain[1..], later).unwrap_err().0;
    assert!(e.contains("not valid"), "{e}");
}

#[test]
fn the_ca_param_is_parsed() {
    let a = ca("cluster A");
    let b = ca("cluster B");
    let text = format!("{}{}", a.cert.pem(), b.cert.pem());
    match anchor_from_param(&serde_json::Value::String(text)) {
        Anchor::Given(c) => assert_eq!(c.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        anchor_from_param(&serde_json::json!("nope")),
        Anchor::Invalid(_)
    ));
    let pin = Pin::new(a.cert.der(), "https://x");
    assert_eq!(pin.anchor(), Anchor::Pinned(a.cert.der().clone()));
    assert!(is_https("HTTPS://x") && !is_https("http://x"));
}
