//! Step 6, bootstrap or join: a new cluster is initialized with this node as its one voter
//! and seeded (the admin user, the token secret, the cluster CA and API certificate); a new
//! node that joins keeps asking members to enrol it until it is one.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ServeArgs, ServeError};
use crate::cluster::join::join_until_member;
use crate::node::Node;
use crate::raft::{MemberInfo, RaftHandle};
use crate::tls::{self, TlsDir};

/// What this start does about cluster membership.
pub(super) struct Plan {
    /// Raft already held cluster state.
    pub initialized: bool,
    /// The data dir was made by `snapshot restore` and not served yet.
    pub restored: bool,
    /// Creating a new cluster (`--bootstrap`, or a restored data dir).
    pub bootstrapping: bool,
}

impl Plan {
    pub fn of(args: &ServeArgs, initialized: bool) -> Plan {
        let restored = crate::backup::restore::pending(&args.data_dir);
        Plan {
            initialized,
            restored,
            bootstrapping: !initialized && (args.bootstrap || restored),
        }
    }
}

/// Bootstraps a new cluster, and completes a restore.
pub(super) async fn settle(
    node: &Node,
    raft: &RaftHandle,
    args: &ServeArgs,
    plan: &Plan,
) -> Result<(), ServeError> {
    if plan.bootstrapping {
        bootstrap(node, raft, args).await?;
    } else if plan.initialized && (args.bootstrap || !args.join.is_empty()) {
        tracing::info!("data dir holds cluster state; --bootstrap/--join ignored");
    }
    if plan.restored {
        crate::backup::restore::finish(raft, &args.data_dir)
            .await
            .map_err(ServeError::Restore)?;
    }
    Ok(())
}

/// Creates a one-node cluster around this node, and seeds it.
async fn bootstrap(node: &Node, raft: &RaftHandle, args: &ServeArgs) -> Result<(), ServeError> {
    let s = &node.settings;
    let me = MemberInfo {
        consensus_id: s.consensus_id.clone(),
        consensus_addr: s.consensus_addr.clone(),
        api_url: s.api_url.clone(),
        observer: false,
    };
    raft.initialize(me).await?;
    seed_cluster(node, args).await?;
    tracing::info!("bootstrapped a new cluster");
    Ok(())
}

/// A new node given `--join`: enrols through any of the members until shutdown.
pub(super) fn join(
    node: &Node,
    args: &ServeArgs,
    shutdown: &watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(join_until_member(
        node.clone(),
        args.join.clone(),
        args.admin_password.clone(),
        shutdown.clone(),
    ))
}

/// The objects a new cluster starts with: the admin user and the token-signing secret,
/// written as one entry by the bootstrapping node.
async fn seed_cluster(node: &Node, args: &ServeArgs) -> Result<(), ServeError> {
    use crate::auth::{token, ADMIN_USER};
    let hash = admin_password_hash(args).await?;
    let secret: [u8; 32] = rand::Rng::random(&mut rand::rng());
    let mut seeds = vec![
        (
            "users".to_string(),
            ADMIN_USER.to_string(),
            serde_json::json!({ "Name": ADMIN_USER, "PasswordHash": hash, "Roles": [crate::auth::roles::SUPERUSER] }),
        ),
        (
            token::SECRET_COLLECTION.to_string(),
            token::SECRET_KEY.to_string(),
            serde_json::json!({ "Secret": hex::encode(secret) }),
        ),
    ];
    let dir = TlsDir::new(&args.data_dir);
    let ca = dir
        .load_ca_authority()
        .map_err(ServeError::cert("loading the cluster CA key"))?
        .ok_or(ServeError::Missing(
            "the bootstrap node's CA key is missing from its data dir",
        ))?;
    let api = dir
        .load_api()
        .map_err(ServeError::cert("loading the API certificate"))?
        .ok_or(ServeError::Missing(
            "the cluster API certificate is missing",
        ))?;
    for (key, pair) in [(tls::CA_KEY, ca), (tls::API_CERT_KEY, api)] {
        seeds.push((
            token::SECRET_COLLECTION.to_string(),
            key.to_string(),
            serde_json::json!({ "CertPem": pair.cert_pem, "KeyPem": pair.key_pem }),
        ));
    }
    let request = crate::command::Request {
        idempotency: None,
        at_ms: crate::clock::now_ms(),
        if_match: None,
        principal: None,
        op: crate::command::Op::Seed { objects: seeds },
    };
    node.write(request).await.map_err(ServeError::Seed)?;
    Ok(())
}

/// The argon2 hash of the admin password: `--admin-password`, else a random one written to
/// the data dir (its path is logged, never the password).
async fn admin_password_hash(args: &ServeArgs) -> Result<String, ServeError> {
    use crate::auth::password;
    let admin_password = match &args.admin_password {
        Some(p) if !p.is_empty() => p.clone(),
        _ => {
            let generated = password::random_password();
            let path = args.data_dir.join("admin-password");
            tls::write_file(&path, &generated, true)
                .map_err(ServeError::cert("writing the generated admin password"))?;
            tracing::warn!(file = %path.display(), "no admin password given; a random one was written to this file");
            generated
        }
    };
    // Hashing is slow on purpose: off the async workers.
    tokio::task::spawn_blocking(move || password::hash(&admin_password))
        .await
        .map_err(ServeError::Task)?
        .map_err(ServeError::Hash)
}
