//! A remote git repository (`--git-repo https://…`, `ssh://…`, `git@host:path`, `git://…`):
//! the manager keeps a bare mirror under its data dir, fetches the followed branch into it
//! with gix, and the git source reads the mirror as it reads a local repository.

mod fetch;
mod follow;
mod http;
mod secret;
mod ssh;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use fetch::{fetch, FetchError};
pub use follow::fetch_and_record;
pub use secret::{Secret, SecretError};

/// How the manager proves who it is to the remote.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Anonymous (public repositories, `git://`).
    None,
    /// `--git-token-file`: an https token, sent as the password of HTTP Basic (the user is
    /// `--git-user`, or `x-access-token` as GitHub and Gitea take it).
    Token {
        /// The user sent with the token.
        user: String,
        /// The token.
        token: Secret,
    },
    /// `--git-user` and `--git-password-file`: HTTP Basic.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `--git-ssh-key-file` (and `--git-known-hosts`): ssh with this key, host keys checked.
    Ssh(ssh::SshOptions),
}

/// A remote repository the manager follows.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The URL, without credentials (what status shows).
    pub url: String,
    /// The credentials.
    pub auth: Auth,
    /// Longest one fetch attempt may take.
    pub timeout: Duration,
}

/// What `--git-repo` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local repository.
    Path(PathBuf),
    /// A remote repository's URL.
    Url(String),
}

/// The remote's flags as `drp-manager serve` takes them.
#[derive(Debug, Clone, Default)]
pub struct RemoteFlags {
    /// `--git-user`.
    pub user: Option<String>,
    /// `--git-token-file`.
    pub token_file: Option<PathBuf>,
    /// `--git-password-file`.
    pub password_file: Option<PathBuf>,
    /// `--git-ssh-key-file`.
    pub ssh_key_file: Option<PathBuf>,
    /// `--git-known-hosts`.
    pub known_hosts: Option<PathBuf>,
    /// `--git-fetch-timeout-seconds`.
    pub timeout: Duration,
}

/// Why the remote's flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A secret file.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Credentials written into the URL itself.
    #[error(
        "--git-repo {url} holds a password: put it in --git-password-file or --git-token-file"
    )]
    PasswordInUrl {
        /// The URL, password removed.
        url: String,
    },
    /// Flags that do not go together.
    #[error("{0}")]
    Conflict(&'static str),
    /// Credentials would cross the network in clear text.
    #[error("refusing to send credentials over plain http to {host}: use https (plain http is allowed on loopback only)")]
    ClearText {
        /// The remote host.
        host: String,
    },
}

/// Whether `--git-repo` is a URL (`scheme://…`, or scp-like `user@host:path`) or a path.
pub fn location(arg: &str) -> Location {
    let scheme = [
        "http://",
        "https://",
        "ssh://",
        "git://",
        "git+ssh://",
        "ssh+git://",
    ]
    .iter()
    .any(|s| {
        arg.len() > s.len()
            && arg
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
    });
    let scp_like = arg
        .split_once(':')
        .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
    if scheme || scp_like {
        Location::Url(arg.to_owned())
    } else {
        Location::Path(PathBuf::from(arg))
    }
}

/// What `--git-repo ARG` makes the git source read: the path itself, or (for a URL) the
/// mirror under `data_dir` and the remote it follows.
pub fn resolve(
    arg: &str,
    flags: &RemoteFlags,
    data_dir: &Path,
) -> Result<(PathBuf, Option<Remote>), RemoteError> {
    match location(arg) {
        Location::Path(path) => {
            if flags.token_file.is_some()
                || flags.password_file.is_some()
                || flags.ssh_key_file.is_some()
            {
                return Err(RemoteError::Conflict(
                    "git credentials are for a remote --git-repo (https://, ssh://, user@host:path)",
                ));
            }
            Ok((path, None))
        }
        Location::Url(url) => {
            let remote = Remote::new(&url, flags)?;
            Ok((remote.mirror_dir(data_dir), Some(remote)))
        }
    }
}

impl Remote {
    /// The remote at `url` with the credentials `flags` name.
    pub fn new(url: &str, flags: &RemoteFlags) -> Result<Self, RemoteError> {
        let parsed = gix::url::parse(gix::bstr::BStr::new(url)).ok();
        if parsed.as_ref().is_some_and(|u| u.password().is_some()) {
            let shown = parsed
                .map(|mut u| {
                    u.set_password(None);
                    u.to_bstring().to_string()
                })
                .unwrap_or_default();
            return Err(RemoteError::PasswordInUrl { url: shown });
        }
        let ssh = matches!(location_scheme(url), Scheme::Ssh);
        if ssh && (flags.token_file.is_some() || flags.password_file.is_some()) {
            return Err(RemoteError::Conflict(
                "an ssh remote takes --git-ssh-key-file, not a token or password",
            ));
        }
        let auth = match (&flags.token_file, &flags.password_file, &flags.ssh_key_file) {
            (Some(_), Some(_), _) => {
                return Err(RemoteError::Conflict(
                    "--git-token-file and --git-password-file exclude each other",
                ))
            }
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(RemoteError::Conflict(
                    "--git-ssh-key-file is for ssh remotes; a token or password is for https",
                ))
            }
            (Some(t), None, None) => Auth::Token {
                user: flags
                    .user
                    .clone()
                    .unwrap_or_else(|| "x-access-token".to_owned()),
                token: Secret::from_file("--git-token-file", t)?,
            },
            (None, Some(p), None) => Auth::Basic {
                user: flags.user.clone().ok_or(RemoteError::Conflict(
                    "--git-password-file needs --git-user",
                ))?,
                password: Secret::from_file("--git-password-file", p)?,
            },
            (None, None, key) if ssh => Auth::Ssh(ssh::SshOptions {
                key_file: key.clone(),
                known_hosts: flags.known_hosts.clone(),
            }),
            (None, None, Some(_)) => {
                return Err(RemoteError::Conflict(
                    "--git-ssh-key-file needs an ssh remote (ssh://… or user@host:path)",
                ))
            }
            (None, None, None) => Auth::None,
        };
        let remote = Self {
            url: url.to_owned(),
            auth,
            timeout: flags.timeout,
        };
        remote.check_clear_text()?;
        Ok(remote)
    }

    /// Credentials go over plain `http://` only to a loopback host.
    fn check_clear_text(&self) -> Result<(), RemoteError> {
        if !matches!(self.auth, Auth::Token { .. } | Auth::Basic { .. }) {
            return Ok(());
        }
        let Some(rest) = self.url.strip_prefix("http://") else {
            return Ok(());
        };
        let host_port = rest.split('/').next().unwrap_or_default();
        let host = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.split_once(']').map(|(h, _)| h))
            .unwrap_or_else(|| host.rsplit_once(':').map_or(host, |(h, _)| h));
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            Ok(())
        } else {
            Err(RemoteError::ClearText {
                host: host.to_owned(),
            })
        }
    }

    /// `text` with every credential this remote holds replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        match &self.auth {
            Auth::Token { token: s, .. } | Auth::Basic { password: s, .. } => s.scrub(text),
            Auth::None | Auth::Ssh(_) => text.to_owned(),
        }
    }

    /// Where the mirror of this remote lives under `data_dir` (one per URL).
    pub fn mirror_dir(&self, data_dir: &Path) -> PathBuf {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.url.as_bytes());
        data_dir
            .join("git-mirror")
            .join(format!("{}.git", &hex::encode(digest)[..16]))
    }
}

/// The transport a URL needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Ssh,
    Other,
}

fn location_scheme(url: &str) -> Scheme {
    match gix::url::parse(gix::bstr::BStr::new(url)).map(|u| u.scheme) {
        Ok(gix::url::Scheme::Http | gix::url::Scheme::Https) => Scheme::Http,
        Ok(gix::url::Scheme::Ssh) => Scheme::Ssh,
        _ => Scheme::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> RemoteFlags {
        RemoteFlags {
            timeout: Duration::from_secs(5),
            ..RemoteFlags::default()
        }
    }

    #[test]
    fn urls_and_paths() {
        for url in [
            "https://git.example.com/fleet.git",
            "http://127.0.0.1:8080/r.git",
            "ssh://git@host:2222/fleet.git",
            "git@github.com:org/fleet.git",
            "git://127.0.0.1:9418/r.git",
        ] {
            assert_eq!(location(url), Location::Url(url.to_owned()), "{url}");
        }
        for path in ["/srv/fleet", "fleet", "./a:b", "/x/y@z:w"] {
            assert_eq!(location(path), Location::Path(path.into()), "{path}");
        }
    }

    #[test]
    fn credentials_are_checked() {
        let e = Remote::new("https://u:pw@h/r.git", &flags()).unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let tok = dir.path().join("tok");
        std::fs::write(&tok, "tok3n\n").unwrap();
        let with_token = RemoteFlags {
            token_file: Some(tok),
            ..flags()
        };
        let e = Remote::new("http://git.example.com/r.git", &with_token).unwrap_err();
        assert!(matches!(e, RemoteError::ClearText { .. }), "{e}");
        let r = Remote::new("http://127.0.0.1:1/r.git", &with_token).unwrap();
        assert_eq!(r.scrub("x tok3n y"), "x *** y");
        assert!(!format!("{r:?}").contains("tok3n"));
        let e = Remote::new("ssh://git@h/r.git", &with_token).unwrap_err();
        assert!(matches!(e, RemoteError::Conflict(_)), "{e}");
    }
}
