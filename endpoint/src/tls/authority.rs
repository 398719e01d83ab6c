//! The cluster CA: created at bootstrap, kept in the replicated state, used by any member to
//! issue member certificates (from a CSR: the new member's key never leaves it) and the API
//! certificate.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertificateSigningRequestParams,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

use super::{CertError, Pair, MEMBER_NAME};

pub struct Authority {
    cert: Certificate,
    key: KeyPair,
    cert_pem: String,
}

fn named(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "drp-endpoint");
    dn.push(DnType::CommonName, cn);
    dn
}

impl Authority {
    /// A new CA for the cluster `ha_id`.
    pub fn generate(ha_id: &str) -> Result<Self, CertError> {
        let key = KeyPair::generate().map_err(CertError::rcgen("generating the CA key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = named(&format!("drp cluster CA {ha_id}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params
            .self_signed(&key)
            .map_err(CertError::rcgen("self-signing the CA"))?;
        let cert_pem = cert.pem();
        Ok(Authority {
            cert,
            key,
            cert_pem,
        })
    }

    /// The CA as stored (certificate PEM and key PEM).
    pub fn load(stored: &Pair) -> Result<Self, CertError> {
        let key =
            KeyPair::from_pem(&stored.key_pem).map_err(CertError::rcgen("the stored CA key"))?;
        // rcgen signs with an issuer `Certificate`; rebuilding it from the stored certificate's
        // parameters and key gives the same subject and key identifier, which is all a child
        // certificate refers to. The original PEM is what everyone trusts.
        let params = CertificateParams::from_ca_cert_pem(&stored.cert_pem)
            .map_err(CertError::rcgen("the stored CA"))?;
        let cert = params
            .self_signed(&key)
            .map_err(CertError::rcgen("loading the CA"))?;
        Ok(Authority {
            cert,
            key,
            cert_pem: stored.cert_pem.clone(),
        })
    }

    pub fn stored(&self) -> Pair {
        Pair {
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key.serialize_pem(),
        }
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A member certificate for `consensus_id`, for the key in `csr_pem`. Whatever names the
    /// CSR asks for are ignored: the CA decides them.
    pub fn issue_member(&self, consensus_id: &str, csr_pem: &str) -> Result<String, CertError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(CertError::Csr)?;
        let request = CertificateSigningRequestParams {
            params: member_params(consensus_id)?,
            public_key: csr.public_key,
        };
        let cert = request
            .signed_by(&self.cert, &self.key)
            .map_err(CertError::rcgen("signing the member certificate"))?;
        Ok(cert.pem())
    }

    /// A member certificate and key for this (bootstrapping) node.
    pub fn issue_own_member(&self, consensus_id: &str) -> Result<Pair, CertError> {
        let key = KeyPair::generate().map_err(CertError::rcgen("generating the member key"))?;
        let cert = member_params(consensus_id)?
            .signed_by(&key, &self.cert, &self.key)
            .map_err(CertError::rcgen("signing the member certificate"))?;
        Ok(Pair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The API certificate all members present: valid for `hosts` (names or IPs), chained with
    /// the CA certificate.
    pub fn issue_api(&self, hosts: &[String]) -> Result<Pair, CertError> {
        let key = KeyPair::generate().map_err(CertError::rcgen("generating the API key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = named("drp-endpoint API");
        for host in hosts {
            let san = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    SanType::DnsName(host.clone().try_into().map_err(|why| CertError::DnsName {
                        host: host.clone(),
                        why,
                    })?)
                }
            };
            if !params.subject_alt_names.contains(&san) {
                params.subject_alt_names.push(san);
            }
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(CertError::rcgen("signing the API certificate"))?;
        Ok(Pair {
            cert_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
        })
    }
}

fn member_params(consensus_id: &str) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::new(vec![MEMBER_NAME.to_string()])
        .map_err(CertError::rcgen("member certificate names"))?;
    params.distinguished_name = named(consensus_id);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

/// A new key and a CSR for it (the joining side).
pub fn new_member_key() -> Result<(KeyPair, String), CertError> {
    let key = KeyPair::generate().map_err(CertError::rcgen("generating the member key"))?;
    let csr = CertificateParams::new(vec![MEMBER_NAME.to_string()])
        .map_err(CertError::rcgen("CSR names"))?
        .serialize_request(&key)
        .map_err(CertError::rcgen("building the CSR"))?
        .pem()
        .map_err(CertError::rcgen("encoding the CSR"))?;
    Ok((key, csr))
}

/// The CN of a certificate (DER): for a member certificate, its ConsensusID.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_certificates_carry_the_consensus_id_and_reload_issues_the_same_chain() {
        let ca = Authority::generate("t").unwrap();
        let (_key, csr) = new_member_key().unwrap();
        let pem = ca
            .issue_member("0f0e0d0c-aaaa-bbbb-cccc-000000000001", &csr)
            .unwrap();
        let der = super::super::certs(&pem).unwrap();
        assert_eq!(
            common_name(&der[0]).as_deref(),
            Some("0f0e0d0c-aaaa-bbbb-cccc-000000000001")
        );
        // A CA reloaded from its stored form issues certificates the original chain accepts.
        let again = Authority::load(&ca.stored()).unwrap();
        let own = again.issue_own_member("x").unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(super::super::certs(ca.cert_pem()).unwrap().remove(0))
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            super::super::provider(),
        )
        .build()
        .unwrap();
        let leaf = super::super::certs(&own.cert_pem).unwrap().remove(0);
        verifier
            .verify_client_cert(&leaf, &[], rustls_pki_types::UnixTime::now())
            .expect("a certificate from the reloaded CA verifies against the original");
        assert!(ca.issue_member("x", "not a csr").is_err());
    }
}
