//! Verifying a server's chain against an [`Anchor`], host names aside.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier as _};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, Error as TlsError, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::anchor::{provider, Anchor, CA_PARAM};
use super::cert::{short, subject};

const NOT_PINNED: &str = "no certificate is pinned for this cluster yet (it is pinned at the \
     first successful connection); set manager/ca to verify against a CA instead";
use super::refusal::{reject, Untrusted};

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
    ) -> Result<(), Untrusted> {
        let (anchors, pinned): (&[CertificateDer<'static>], bool) = match &self.anchor {
            Anchor::Unpinned => return Err(NOT_PINNED.into()),
            Anchor::Invalid(m) => return Err(m.clone().into()),
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
            return Err(Untrusted(format!(
                "the cluster's certificate changed since it was pinned (pinned {} {}, now \
                 presented {} {}); set manager/ca or re-register the endpoint",
                subject(a),
                short(a),
                subject(presented),
                short(presented)
            )));
        }
        if unknown {
            return Err(Untrusted(format!(
                "the cluster's certificate does not chain to {CA_PARAM} (it presents {} {})",
                subject(presented),
                short(presented)
            )));
        }
        Err(Untrusted(format!(
            "the cluster's certificate is not valid: {err}"
        )))
    }
}

fn within_validity(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), Untrusted> {
    let (_, c) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| format!("the cluster's certificate cannot be parsed: {e}"))?;
    let now = now.as_secs() as i64;
    let v = c.validity();
    if now < v.not_before.timestamp() || now > v.not_after.timestamp() {
        return Err(Untrusted(format!(
            "the cluster's certificate is not valid now (valid {} to {})",
            v.not_before, v.not_after
        )));
    }
    Ok(())
}

impl AnchoredVerifier {
    /// [`Self::check`] in rustls' terms: a refusal carries its reason as [`Untrusted`].
    fn verdict(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        self.check(end_entity, intermediates, now)
            .map(|()| ServerCertVerified::assertion())
            .map_err(reject)
    }
}

super::server_cert_verifier!(AnchoredVerifier, verdict);
