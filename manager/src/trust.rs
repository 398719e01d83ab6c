//! Which certificates the manager accepts from a cluster's members.
//!
//! * `Params["manager/ca"]` (PEM, one or more certificates): every member's chain must verify to
//!   one of them.
//! * Otherwise trust on first use: when the endpoint is registered (POST/PUT), or at the first
//!   successful connection (endpoints from git, clusters down at registration, registries from
//!   before pinning), the manager records the chain the cluster presents and pins its LAST
//!   certificate (the cluster CA for a default drp-endpoint, the certificate itself for a single
//!   self-signed one). The pin lives in the registry, never in `Params`. Later chains must verify
//!   to it; a different certificate is refused ([`Untrusted`]) and never re-pinned silently.
//! * Host names are not checked: members are reached by addresses their (shared) certificate
//!   does not name. Everything else is: chain, signatures, validity, key usage, and the TLS
//!   handshake signature, all with the ring provider's algorithms.
//! * `http://` members (`drp-endpoint --no-tls`) have nothing to verify.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{
    CertificateError, DigitallySignedStruct, Error as TlsError, OtherError, RootCertStore,
    SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The endpoint param holding the CA certificate(s) to verify a cluster against.
pub const CA_PARAM: &str = "manager/ca";

const NOT_PINNED: &str = "no certificate is pinned for this cluster yet (it is pinned at the \
     first successful connection); set manager/ca to verify against a CA instead";

/// The ring provider, shared.
pub fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// What a cluster's certificate chain must verify to.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Anchor {
    /// Nothing yet: https calls are refused until a certificate is pinned.
    #[default]
    Unpinned,
    /// `manager/ca`.
    Given(Vec<CertificateDer<'static>>),
    /// Pinned on first use.
    Pinned(CertificateDer<'static>),
    /// `manager/ca` (or the stored pin) cannot be used; every https call is refused with this.
    Invalid(String),
}

impl std::fmt::Debug for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unpinned => f.write_str("Unpinned"),
            Self::Given(c) => write!(
                f,
                "Given({:?})",
                c.iter().map(|c| fingerprint(c)).collect::<Vec<_>>()
            ),
            Self::Pinned(c) => write!(f, "Pinned({})", fingerprint(c)),
            Self::Invalid(m) => write!(f, "Invalid({m})"),
        }
    }
}

/// The certificates of a PEM text (at least one).
pub fn parse_pem(text: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    let mut roots = RootCertStore::empty();
    for c in &certs {
        roots
            .add(c.clone())
            .map_err(|e| format!("a certificate cannot be a trust anchor: {e}"))?;
    }
    Ok(certs)
}

/// The anchor `manager/ca` describes (a PEM string, or a list of them).
pub fn anchor_from_param(value: &serde_json::Value) -> Anchor {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => return Anchor::Invalid(format!("{CA_PARAM} must be PEM text")),
    };
    match parse_pem(&text) {
        Ok(certs) => Anchor::Given(certs),
        Err(e) => Anchor::Invalid(format!("{CA_PARAM} {e}")),
    }
}

/// `sha256:<hex>` of a certificate.
pub fn fingerprint(cert: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(cert)))
}

fn short(cert: &[u8]) -> String {
    let f = fingerprint(cert);
    f[..f.len().min(23)].to_owned()
}

/// The subject of a certificate, for messages.
pub fn subject(cert: &[u8]) -> String {
    x509_parser::parse_x509_certificate(cert)
        .map(|(_, c)| c.subject().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn pem(cert: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A pinned certificate, as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub pem: String,
    pub sha256: String,
    pub subject: String,
    /// The member URL it was learnt from.
    pub url: String,
    /// Unix seconds.
    pub pinned_at: u64,
}

impl Pin {
    pub fn new(cert: &CertificateDer<'_>, url: &str) -> Self {
        Self {
            pem: pem(cert),
            sha256: fingerprint(cert),
            subject: subject(cert),
            url: url.to_owned(),
            pinned_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    pub fn anchor(&self) -> Anchor {
        match parse_pem(&self.pem) {
            Ok(mut c) if c.len() == 1 => Anchor::Pinned(c.remove(0)),
            Ok(_) => Anchor::Invalid("the stored pin holds several certificates".into()),
            Err(e) => Anchor::Invalid(format!("the stored pin {e}")),
        }
    }
}

/// Why a cluster's certificate was refused (carried through rustls and reqwest errors).
#[derive(Debug, Clone)]
pub struct Untrusted(pub String);

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Untrusted {}

fn reject(message: String) -> TlsError {
    TlsError::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Untrusted(
        message,
    )))))
}

/// Verifies a server's chain against an [`Anchor`], ignoring host names.
#[derive(Debug)]
pub struct AnchoredVerifier {
    anchor: Anchor,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl AnchoredVerifier {
    pub fn new(anchor: Anchor) -> Self {
        let provider = provider();
        let certs: &[CertificateDer<'static>] = match &anchor {
            Anchor::Given(c) => c,
            Anchor::Pinned(c) => std::slice::from_ref(c),
            _ => &[],
        };
        let mut webpki = None;
        let mut anchor = anchor.clone();
        if !certs.is_empty() {
            let mut roots = RootCertStore::empty();
            let built = certs
                .iter()
                .try_for_each(|c| roots.add(c.clone()))
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| e.to_string())
                });
            match built {
                Ok(v) => webpki = Some(v),
                Err(e) => anchor = Anchor::Invalid(format!("unusable trust anchor: {e}")),
            }
        }
        Self {
            anchor,
            webpki,
            provider,
        }
    }

    /// Whether `end_entity` + `intermediates` verify to the anchor (names aside), and why not.
    pub fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), String> {
        let (anchors, pinned): (&[CertificateDer<'static>], bool) = match &self.anchor {
            Anchor::Unpinned => return Err(NOT_PINNED.into()),
            Anchor::Invalid(m) => return Err(m.clone()),
            Anchor::Given(c) => (c, false),
            Anchor::Pinned(c) => (std::slice::from_ref(c), true),
        };
        let Some(webpki) = &self.webpki else {
            return Err("no usable trust anchor".into());
        };
        // Names are ignored (the rustls name check runs after the chain verified), so any
        // syntactically valid name does.
        let name = ServerName::try_from("cluster.invalid").map_err(|e| e.to_string())?;
        let err = match webpki.verify_server_cert(end_entity, intermediates, &name, &[], now) {
            Ok(_) => return Ok(()),
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => return Ok(()),
            Err(e) => e,
        };
        let unknown = matches!(
            err,
            TlsError::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature
            )
        );
        // A pinned (or given) end-entity certificate itself: a lone certificate whose issuer
        // was not sent. It is trusted as is, within its validity period.
        if unknown && anchors.iter().any(|a| a.as_ref() == end_entity.as_ref()) {
            return within_validity(end_entity, now);
        }
        let presented = intermediates.last().unwrap_or(end_entity);
        if unknown && pinned {
            let a = &anchors[0];
            return Err(format!(
                "the cluster's certificate changed since it was pinned (pinned {} {}, now \
                 presented {} {}); set manager/ca or re-register the endpoint",
                subject(a),
                short(a),
                subject(presented),
                short(presented)
            ));
        }
        if unknown {
            return Err(format!(
                "the cluster's certificate does not chain to {CA_PARAM} (it presents {} {})",
                subject(presented),
                short(presented)
            ));
        }
        Err(format!("the cluster's certificate is not valid: {err}"))
    }
}

fn within_validity(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), String> {
    let (_, c) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("the cluster's certificate cannot be parsed: {e}"))?;
    let now = now.as_secs() as i64;
    let v = c.validity();
    if now < v.not_before.timestamp() || now > v.not_after.timestamp() {
        return Err(format!(
            "the cluster's certificate is not valid now (valid {} to {})",
            v.not_before, v.not_after
        ));
    }
    Ok(())
}

impl ServerCertVerifier for AnchoredVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        self.check(end_entity, intermediates, now)
            .map(|()| ServerCertVerified::assertion())
            .map_err(reject)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Records the chain a server presents and accepts it (first use only). The handshake
/// signature is still verified, so the server does hold the presented certificate's key.
#[derive(Debug)]
pub struct Capture {
    seen: Mutex<Option<Vec<CertificateDer<'static>>>>,
    provider: Arc<CryptoProvider>,
}

impl Capture {
    /// The chain presented, end-entity first.
    pub fn chain(&self) -> Option<Vec<CertificateDer<'static>>> {
        self.seen.lock().ok()?.clone()
    }
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        if let Ok(mut s) = self.seen.lock() {
            *s = Some(chain);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The pin a captured chain gives: its last certificate, provided the chain verifies to it.
pub fn pin_from_chain(chain: &[CertificateDer<'_>], url: &str) -> Result<Pin, String> {
    let (Some(first), Some(last)) = (chain.first(), chain.last()) else {
        return Err(format!("{url} presented no certificate"));
    };
    let last = last.clone().into_owned();
    let pin = Pin::new(&last, url);
    AnchoredVerifier::new(Anchor::Pinned(last))
        .check(first, &chain[1..], UnixTime::now())
        .map_err(|e| format!("cannot pin the certificate {url} presents: {e}"))?;
    Ok(pin)
}

/// A reqwest client builder whose TLS is `verifier` (rustls, ring).
pub fn client_builder(
    verifier: Arc<dyn ServerCertVerifier>,
) -> anyhow::Result<reqwest::ClientBuilder> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().use_preconfigured_tls(config))
}

/// The client for every call to a cluster whose certificates must verify to `anchor`.
pub fn cluster_client(anchor: &Anchor) -> anyhow::Result<reqwest::Client> {
    Ok(
        client_builder(Arc::new(AnchoredVerifier::new(anchor.clone())))?
            .connect_timeout(Duration::from_millis(700))
            .pool_idle_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(60))
            .build()?,
    )
}

/// A one-connection client recording the chain its server presents.
pub fn capture_client() -> anyhow::Result<(reqwest::Client, Arc<Capture>)> {
    let capture = Arc::new(Capture {
        seen: Mutex::new(None),
        provider: provider(),
    });
    let client = client_builder(capture.clone())?
        .connect_timeout(Duration::from_millis(700))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()?;
    Ok((client, capture))
}

/// First use of an https member: one unauthenticated request over a capturing connection
/// (any HTTP answer will do: only the handshake matters), and the certificate to pin from the
/// chain presented. Credentials then go only over connections verified against that pin.
pub async fn learn(url: &str, timeout: Duration) -> Result<Pin, LearnError> {
    let (client, capture) = capture_client().map_err(|e| LearnError::Failed(e.to_string()))?;
    client
        .get(format!("{}/api/v3/info", url.trim_end_matches('/')))
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| LearnError::Failed(describe(&e)))?;
    let chain = capture
        .chain()
        .ok_or_else(|| LearnError::Failed(format!("{url} presented no certificate")))?;
    pin_from_chain(&chain, url).map_err(LearnError::Untrusted)
}

/// Why nothing could be learnt from a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnError {
    /// It did not answer.
    Failed(String),
    /// It answered with a chain that does not even verify to its own last certificate.
    Untrusted(String),
}

impl std::fmt::Display for LearnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(m) | Self::Untrusted(m) => f.write_str(m),
        }
    }
}

pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

fn untrusted_in(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(u) = e.downcast_ref::<Untrusted>() {
        return Some(u.0.clone());
    }
    match e.downcast_ref::<TlsError>()? {
        TlsError::InvalidCertificate(CertificateError::Other(o)) => {
            o.0.downcast_ref::<Untrusted>().map(|u| u.0.clone())
        }
        _ => None,
    }
}

/// The certificate refusal behind a failed request, if that is what failed it.
pub fn untrusted(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(m) = untrusted_in(e) {
            return Some(m);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(m) = untrusted(inner) {
                return Some(m);
            }
        }
        cur = e.source();
    }
    None
}

/// A failed request in words: the certificate refusal, or the error and its causes.
pub fn describe(err: &reqwest::Error) -> String {
    if let Some(m) = untrusted(err) {
        return m;
    }
    let mut out = err.to_string();
    let mut cur = std::error::Error::source(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
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
        let e = pinned.check(&other[0], &other[1..], now()).unwrap_err();
        assert!(e.contains("changed since it was pinned"), "{e}");
        assert!(e.contains("set manager/ca or re-register"), "{e}");
        let given = AnchoredVerifier::new(Anchor::Given(vec![a.cert.der().clone()]));
        let e = given.check(&other[0], &other[1..], now()).unwrap_err();
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
        let e = v.check(&chain[0], &chain[1..], later).unwrap_err();
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
}
