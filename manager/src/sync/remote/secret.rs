//! A secret read from a file (token, password, webhook secret): never printed, and scrubbed
//! from any text that leaves the manager.

use std::path::{Path, PathBuf};

/// A secret value. `Debug` prints `***` so a stray `{:?}` cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a secret file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read {flag} {path}: {source}")]
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds nothing but whitespace.
    #[error("{flag} {path} is empty")]
    Empty {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
    },
}

impl Secret {
    /// Reads the secret in `path` (`flag` names it in errors); the trailing newline an editor
    /// adds is not part of it.
    pub fn from_file(flag: &'static str, path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
            flag,
            path: path.to_path_buf(),
            source,
        })?;
        let value = text.trim_end_matches(['\r', '\n']).to_owned();
        if value.trim().is_empty() {
            return Err(SecretError::Empty {
                flag,
                path: path.to_path_buf(),
            });
        }
        Ok(Self(value))
    }

    /// The value, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trims_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "s3cret\n").unwrap();
        let s = Secret::from_file("--git-token-file", &p).unwrap();
        assert_eq!(s.expose(), "s3cret");
        assert!(!format!("{s:?}").contains("s3cret"));
        assert_eq!(s.scrub("a s3cret b"), "a *** b");
        std::fs::write(&p, "\n").unwrap();
        let e = Secret::from_file("--git-token-file", &p).unwrap_err();
        assert!(e.to_string().contains("--git-token-file"), "{e}");
    }
}
