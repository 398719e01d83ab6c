//! The ssh command gix runs for an ssh remote: our key only, host keys checked against
//! `known_hosts` and never accepted blindly, never a prompt.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use gix_transport::client::blocking_io::ssh::{connect::Options, ProgramKind};

/// `--git-ssh-key-file` and `--git-known-hosts`.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// The private key; without it, ssh's own defaults.
    pub key_file: Option<PathBuf>,
    /// The known hosts; without it, ssh's own (`~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
}

/// `'…'` for a POSIX shell (gix runs a command with arguments through `sh -c`).
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

impl SshOptions {
    /// The command line: `StrictHostKeyChecking=yes` refuses a host whose key is not in
    /// known_hosts (or differs) instead of adding it; `BatchMode` never asks for a passphrase
    /// or password.
    pub fn command(&self) -> String {
        let mut cmd =
            String::from("ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=20");
        if let Some(kh) = &self.known_hosts {
            cmd.push_str(&format!(
                " -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
                quote(kh)
            ));
        }
        if let Some(key) = &self.key_file {
            cmd.push_str(&format!(" -o IdentitiesOnly=yes -i {}", quote(key)));
        }
        cmd
    }

    /// gix's options for this command (an OpenSSH client: it adds `-p PORT` and the user).
    pub fn connect_options(&self) -> Options {
        Options {
            command: Some(OsString::from(self.command())),
            disallow_shell: false,
            kind: Some(ProgramKind::Ssh),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_checked_and_paths_quoted() {
        let o = SshOptions {
            key_file: Some("/k/id it's".into()),
            known_hosts: Some("/k/known_hosts".into()),
        };
        let c = o.command();
        assert!(c.contains("StrictHostKeyChecking=yes"), "{c}");
        assert!(c.contains("BatchMode=yes"), "{c}");
        assert!(c.contains("UserKnownHostsFile='/k/known_hosts'"), "{c}");
        assert!(c.contains(r"-i '/k/id it'\''s'"), "{c}");
        assert!(!c.contains("StrictHostKeyChecking=no"), "{c}");
    }
}
