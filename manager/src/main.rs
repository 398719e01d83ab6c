//! `drp-manager`: parses flags and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use manager::cli::{self, Client};

#[derive(Debug, Parser)]
#[command(
    name = "drp-manager",
    version,
    about = "Manage DRP HA clusters as endpoints"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How the client commands reach a running manager.
#[derive(Debug, Args)]
struct ClientArgs {
    /// The manager's API URL [default: $RS_ENDPOINT, the first of $RS_ENDPOINTS, or
    /// http://127.0.0.1:8090].
    #[arg(long, env = "DRP_MANAGER_URL", global = true)]
    url: Option<String>,
    /// [default: the user of $RS_KEY, or rocketskates]
    #[arg(long, env = "RS_USERNAME", global = true)]
    username: Option<String>,
    /// Without it, $RS_TOKEN (a bearer token) or $RS_KEY (user:password) authenticate, as
    /// with drpcli.
    #[arg(long, env = "RS_ADMIN_PASSWORD", hide_env_values = true, global = true)]
    password: Option<String>,
    /// PEM CA certificate(s) to verify an https manager URL with, besides the public roots.
    #[arg(long, env = "DRP_MANAGER_CA_CERT", global = true)]
    ca_cert: Option<PathBuf>,
}

impl ClientArgs {
    fn client(&self) -> anyhow::Result<Client> {
        let ca = match &self.ca_cert {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("reading --ca-cert {}", p.display()))?,
            ),
            None => None,
        };
        let conn = manager::cli::drp_env::resolve(
            self.url.clone(),
            self.username.clone(),
            self.password.clone(),
            |name| std::env::var(name).ok(),
        );
        Client::connect(&conn, ca.as_deref())
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the manager: API, gateway, leader tracking, git source and rollout.
    Serve(Box<ServeArgs>),
    /// Start a local 3-node cluster and a manager following the examples; Ctrl-C stops it.
    Quickstart(QuickstartArgs),
    /// Registered endpoints (HA clusters) of a running manager.
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
    /// Work with VersionSet and Endpoint files, or a running manager's VersionSets.
    #[command(name = "version-sets", subcommand)]
    VersionSets(VersionSetsCommand),
    /// Content packs: `contents upload FILE` installs one (replacing the installed version).
    #[command(subcommand)]
    Contents(ContentsCommand),
    /// Files served by the endpoints: `files upload SRC DEST`.
    #[command(subcommand)]
    Files(FilesCommand),
    /// One line per endpoint: leader, members, desired and applied state, pending actions.
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The progressive rollout (rollouts/*.yaml): `status`, `pause`, `resume`.
    Rollout {
        #[arg(value_parser = ["status", "pause", "resume"])]
        action: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[arg(long)]
    data_dir: PathBuf,
    /// This manager's endpoint Id: what `/api/v3/info` answers and what its own objects carry
    /// as `Endpoint` (a manager registered under another manager is known by it).
    #[arg(long, default_value = manager::state::DEFAULT_ID)]
    id: String,
    #[arg(long, default_value = "127.0.0.1:8090")]
    api_listen: SocketAddr,
    /// The git repository holding version_sets/*.yaml and endpoints/*.yaml: a local path, or
    /// a remote (`https://…`, `ssh://…`, `user@host:path`, `git://…`) fetched into a mirror
    /// under --data-dir.
    #[arg(long)]
    git_repo: Option<String>,
    /// Credentials and limits of a remote --git-repo, and the webhook secret.
    #[command(flatten)]
    git_remote: GitRemoteArgs,
    #[arg(long, default_value = "main")]
    git_branch: String,
    #[arg(long, default_value_t = 15)]
    git_poll_seconds: u64,
    /// A directory of catalog items and content packs (added to the repo's catalog/).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// The admin password, taken at first start (stored as a hash).
    #[arg(long, env = "RS_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// How many clusters may be applying at once.
    #[arg(long, default_value_t = 1)]
    max_parallel: usize,
    /// How often each endpoint is re-read and re-planned (ms).
    #[arg(long, default_value_t = 3000)]
    reconcile_ms: u64,
    /// Connection limits of the API listener (`--max-conns-per-source`, deadlines, ...).
    #[command(flatten)]
    conn: netguard::ConnArgs,
    /// Request rate limits (only `--rate-limit-per-source` applies: the manager has one user).
    #[command(flatten)]
    rate: netguard::RateArgs,
    /// Also serve `GET /metrics` here without credentials (plain HTTP; for loopback or a
    /// private scrape network). On the API port `/metrics` needs the admin's credentials.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// The catalog of drp binaries for rolling upgrades: `VERSION=PATH`, repeatable (the
    /// environment variable takes a comma-separated list).
    #[arg(long, env = "DRP_MANAGER_DRP_BINARY", value_delimiter = ',')]
    drp_binary: Vec<String>,
}

/// The flags of a remote `--git-repo` and of signed webhooks.
#[derive(Debug, Args)]
struct GitRemoteArgs {
    /// The user for --git-password-file (or for --git-token-file; default x-access-token).
    #[arg(long)]
    git_user: Option<String>,
    /// A file holding an https access token (sent as the HTTP Basic password).
    #[arg(long)]
    git_token_file: Option<PathBuf>,
    /// A file holding the https password of --git-user.
    #[arg(long)]
    git_password_file: Option<PathBuf>,
    /// The ssh private key for an ssh remote.
    #[arg(long)]
    git_ssh_key_file: Option<PathBuf>,
    /// The known_hosts file the ssh remote's host key must be in (never added blindly).
    #[arg(long)]
    git_known_hosts: Option<PathBuf>,
    /// Longest one fetch attempt may take (three attempts, with backoff, per poll).
    #[arg(long, default_value_t = 60)]
    git_fetch_timeout_seconds: u64,
    /// A file holding the webhook secret: `POST /api/v3/git/refresh` without the admin's
    /// credentials must then carry a valid GitHub/Gitea signature or GitLab token.
    #[arg(long)]
    webhook_secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct QuickstartArgs {
    /// Return once the VersionSet is applied (stopping everything) instead of waiting for Ctrl-C.
    #[arg(long)]
    exit_after_apply: bool,
    #[arg(long, env = "RS_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Work directory (default: a temporary one, removed at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:0")]
    api_listen: SocketAddr,
    /// Take the example files from this directory instead of the built-in copies.
    #[arg(long)]
    examples: Option<PathBuf>,
    /// Give up when the apply has not happened within this many seconds.
    #[arg(long, default_value_t = 90)]
    timeout_seconds: u64,
}

#[derive(Debug, Subcommand)]
enum EndpointsCommand {
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    Show {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Register a cluster: from a YAML/JSON file, or from flags.
    Add {
        #[arg(long)]
        file: Option<PathBuf>,
        /// The cluster's HaID.
        #[arg(long)]
        id: Option<String>,
        /// Any member's API URL (`manager/url`).
        #[arg(long = "endpoint-url")]
        endpoint_url: Option<String>,
        /// More member URLs (`manager/urls`).
        #[arg(long = "endpoint-urls", value_delimiter = ',')]
        endpoint_urls: Vec<String>,
        #[arg(long = "endpoint-username")]
        endpoint_username: Option<String>,
        #[arg(
            long = "endpoint-password",
            env = "DRP_ENDPOINT_PASSWORD",
            hide_env_values = true
        )]
        endpoint_password: Option<String>,
        #[arg(long = "version-set")]
        version_sets: Vec<String>,
        #[arg(long)]
        apply: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    Remove {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ContentsCommand {
    /// Install a content pack from a JSON or YAML file (`drp-endpoint contents bundle` makes
    /// one from a directory), with progress. Without --endpoint, the client URL must be a
    /// member's ($RS_ENDPOINT, as drpcli).
    Upload {
        file: PathBuf,
        /// A registered endpoint to install it on, through the manager's gateway.
        #[arg(long)]
        endpoint: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
enum FilesCommand {
    /// Upload SRC as DEST under the files tree, streamed, with progress.
    Upload {
        src: PathBuf,
        dest: String,
        /// Also unpack a tar or tgz beside it.
        #[arg(long)]
        explode: bool,
        /// A registered endpoint to upload to, through the manager's gateway.
        #[arg(long)]
        endpoint: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
enum VersionSetsCommand {
    /// Validate VersionSet/Endpoint YAML or JSON files offline; prints FILE:LINE:COLUMN: message
    /// for each problem and exits 1 if there is any.
    Lint {
        /// Files to check (`version_sets/*.yaml`, `endpoints/*.yaml`, ...).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    Show {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The plans (actions) of the endpoints named, or of every registered endpoint, as the
    /// manager last observed them.
    Plan {
        endpoints: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn lint(files: &[PathBuf]) -> ExitCode {
    let report = manager::cli::lint::lint_files(files);
    for line in &report.problems {
        println!("{line}");
    }
    if report.problems.is_empty() {
        eprintln!("{}", report.summary());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    manager::sync::upgrade::catalog::install(a.drp_binary).await?;
    let g = &a.git_remote;
    let flags = manager::sync::remote::RemoteFlags {
        user: g.git_user.clone(),
        token_file: g.git_token_file.clone(),
        password_file: g.git_password_file.clone(),
        ssh_key_file: g.git_ssh_key_file.clone(),
        known_hosts: g.git_known_hosts.clone(),
        timeout: Duration::from_secs(g.git_fetch_timeout_seconds.max(1)),
    };
    let (git_repo, git_remote) = match &a.git_repo {
        Some(arg) => {
            let (repo, remote) = manager::sync::remote::resolve(arg, &flags, &a.data_dir)?;
            (Some(repo), remote)
        }
        None => (None, None),
    };
    let webhook_secret = g
        .webhook_secret_file
        .as_deref()
        .map(|p| manager::sync::remote::Secret::from_file("--webhook-secret-file", p))
        .transpose()?;
    let config = manager::state::Config {
        id: a.id,
        data_dir: a.data_dir,
        api_listen: a.api_listen,
        git_repo,
        git_remote,
        webhook_secret,
        git_branch: a.git_branch,
        git_poll: Duration::from_secs(a.git_poll_seconds.max(1)),
        catalog: a.catalog,
        admin_password: a.admin_password,
        max_parallel: a.max_parallel,
        reconcile_every: Duration::from_millis(a.reconcile_ms.max(100)),
        conn: a.conn,
        rate: a.rate,
        metrics_listen: a.metrics_listen,
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        manager::cli::quickstart::wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    Ok(manager::serve::run(config, rx, None).await?)
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(a) => serve(*a).await,
        Command::Quickstart(q) => {
            manager::cli::quickstart::run(manager::cli::quickstart::Options {
                exit_after_apply: q.exit_after_apply,
                admin_password: q.admin_password,
                dir: q.dir,
                api_listen: q.api_listen,
                examples: q.examples,
                timeout: Duration::from_secs(q.timeout_seconds),
            })
            .await
        }
        Command::Status { client } => cli::status(&client.client()?).await,
        Command::Rollout { action, client } => match action.as_str() {
            "status" => cli::rollout::status(&client.client()?).await,
            verb => cli::rollout::control(&client.client()?, verb).await,
        },
        Command::Contents(ContentsCommand::Upload {
            file,
            endpoint,
            client,
        }) => manager::cli::upload::contents(&client.client()?, &file, endpoint.as_deref()).await,
        Command::Files(FilesCommand::Upload {
            src,
            dest,
            explode,
            endpoint,
            client,
        }) => {
            manager::cli::upload::file(&client.client()?, &src, &dest, explode, endpoint.as_deref())
                .await
        }
        Command::Endpoints(e) => endpoints(e).await,
        Command::VersionSets(v) => version_sets(v).await,
    }
}

/// `drp-manager endpoints ...`.
async fn endpoints(command: EndpointsCommand) -> anyhow::Result<()> {
    match command {
        EndpointsCommand::List { client } => cli::endpoints_list(&client.client()?).await,
        EndpointsCommand::Show { id, client } => {
            cli::show(
                &client.client()?,
                &format!("{}/{id}", proto::paths::ENDPOINTS),
            )
            .await
        }
        EndpointsCommand::Add {
            file,
            id,
            endpoint_url,
            endpoint_urls,
            endpoint_username,
            endpoint_password,
            version_sets,
            apply,
            client,
        } => {
            cli::endpoints_add(
                &client.client()?,
                cli::AddEndpoint {
                    file,
                    id,
                    url: endpoint_url,
                    urls: endpoint_urls,
                    username: endpoint_username,
                    endpoint_password,
                    version_sets,
                    apply,
                },
            )
            .await
        }
        EndpointsCommand::Remove { id, client } => {
            cli::endpoints_remove(&client.client()?, &id).await
        }
    }
}

/// `drp-manager version-sets ...` (but `lint`, which runs without a runtime).
async fn version_sets(command: VersionSetsCommand) -> anyhow::Result<()> {
    match command {
        VersionSetsCommand::Lint { .. } => Ok(()),
        VersionSetsCommand::List { client } => cli::version_sets_list(&client.client()?).await,
        VersionSetsCommand::Show { id, client } => {
            cli::show(
                &client.client()?,
                &format!("{}/{id}", proto::paths::VERSION_SETS),
            )
            .await
        }
        VersionSetsCommand::Plan { endpoints, client } => {
            cli::plans(&client.client()?, &endpoints).await
        }
    }
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    if let Command::VersionSets(VersionSetsCommand::Lint { files }) = &command {
        return lint(files);
    }
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drp-manager: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drp-manager: {e:#}");
            ExitCode::FAILURE
        }
    }
}
