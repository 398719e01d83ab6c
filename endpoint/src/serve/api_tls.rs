//! Step 4, API TLS: which certificate the API serves (`--tls-cert/--tls-key`, the cluster's,
//! or none with `--no-tls`), made live so a rotation can replace it and the member one.

use netguard::LiveConfig;

use super::{ServeArgs, ServeError};
use crate::store::ObjectStore;
use crate::tls::rotation::{ApiSource, Live};
use crate::tls::{self, MemberTls, TlsDir};

/// The live certificates, the API listener's config (`None`: plain HTTP) and the consensus
/// listener's.
pub(super) fn live(
    args: &ServeArgs,
    store: &ObjectStore,
    member_tls: MemberTls,
) -> Result<(Live, Option<LiveConfig>, LiveConfig), ServeError> {
    let source = match (&args.tls_cert, &args.tls_key) {
        _ if args.no_tls => None,
        (Some(cert), Some(key)) => Some(ApiSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => Some(ApiSource::Cluster),
    };
    let pair = match &source {
        None => None,
        Some(ApiSource::Files { cert, key }) => Some(tls::Pair {
            cert_pem: std::fs::read_to_string(cert)
                .map_err(ServeError::io(format!("reading {}", cert.display())))?,
            key_pem: std::fs::read_to_string(key)
                .map_err(ServeError::io(format!("reading {}", key.display())))?,
        }),
        // The replicated certificate when this member has applied it (the newest after a
        // rotation), else the one saved when the node was created.
        Some(ApiSource::Cluster) => match replicated_api_pair(store) {
            Some(pair) => Some(pair),
            None => Some(
                TlsDir::new(&args.data_dir)
                    .load_api()
                    .map_err(ServeError::cert("loading the API certificate"))?
                    .ok_or(ServeError::Missing(
                        "no API certificate in the data dir (pass --tls-cert/--tls-key)",
                    ))?,
            ),
        },
    };
    Live::new(args.data_dir.clone(), source, pair.as_ref(), member_tls)
        .map_err(ServeError::cert("making the TLS configs"))
}

/// The API certificate in this member's replicated state, if it has applied one.
fn replicated_api_pair(store: &ObjectStore) -> Option<tls::Pair> {
    let record = store
        .get(crate::auth::token::SECRET_COLLECTION, tls::API_CERT_KEY)
        .ok()??;
    let field = |name: &str| record.get(name)?.as_str().map(str::to_string);
    let pair = tls::Pair {
        cert_pem: field("CertPem")?,
        key_pem: field("KeyPem")?,
    };
    tls::api_server_config(&pair).is_ok().then_some(pair)
}
