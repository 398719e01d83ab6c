//! The `Version` field: a channel (`tip`, `stable`), `ignore`, or a concrete `vX.Y.Z[-suffix]`.

use std::fmt;

/// A parsed `Version` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    /// Newest build; resolved through the catalog item `<name>-tip`.
    Tip,
    /// Current release; resolved through the catalog item `<name>-stable`.
    Stable,
    /// Leave whatever the endpoint has installed.
    Ignore,
    /// A concrete version, `v` prefix included in the text.
    Exact(semver::Version),
}

impl VersionSpec {
    /// Parses `tip`, `stable`, `ignore` or `vX.Y.Z[-suffix][+build]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "tip" => Ok(Self::Tip),
            "stable" => Ok(Self::Stable),
            "ignore" => Ok(Self::Ignore),
            _ => parse_exact(text).map(Self::Exact),
        }
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tip => f.write_str("tip"),
            Self::Stable => f.write_str("stable"),
            Self::Ignore => f.write_str("ignore"),
            Self::Exact(version) => write!(f, "v{version}"),
        }
    }
}

/// Parses a concrete `vX.Y.Z[-suffix]` version; the error explains what is wrong.
pub fn parse_exact(text: &str) -> Result<semver::Version, String> {
    const EXPECTED: &str = "expected `tip`, `stable`, `ignore` or `vX.Y.Z[-suffix]`";
    match text.strip_prefix('v') {
        Some(rest) => semver::Version::parse(rest)
            .map_err(|err| format!("invalid version `{text}`: {err}; {EXPECTED}")),
        None if semver::Version::parse(text).is_ok() => Err(format!(
            "invalid version `{text}`: missing the `v` prefix, write `v{text}`"
        )),
        None => Err(format!("invalid version `{text}`: {EXPECTED}")),
    }
}

/// True when two concrete version texts name the same version (`v4.8.0` and `4.8.0` match,
/// as DRP reports installed versions both ways); other texts compare literally.
pub fn same_version(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.strip_prefix('v').unwrap_or(s).to_owned();
    match (
        semver::Version::parse(&strip(a)),
        semver::Version::parse(&strip(b)),
    ) {
        (Ok(x), Ok(y)) => x == y, // build metadata counts: `+g1a2b` names a distinct build
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_exact_versions_parse() {
        assert_eq!(VersionSpec::parse("tip"), Ok(VersionSpec::Tip));
        assert_eq!(VersionSpec::parse("stable"), Ok(VersionSpec::Stable));
        assert_eq!(VersionSpec::parse("ignore"), Ok(VersionSpec::Ignore));
        let exact = VersionSpec::parse("v4.8.0-beta01.2+gabc").map(|v| v.to_string());
        assert_eq!(exact, Ok("v4.8.0-beta01.2+gabc".to_owned()));
    }

    #[test]
    fn bad_versions_explain_themselves() {
        assert_eq!(
            VersionSpec::parse("4.8.0"),
            Err("invalid version `4.8.0`: missing the `v` prefix, write `v4.8.0`".to_owned())
        );
        assert_eq!(
            VersionSpec::parse("latest"),
            Err(
                "invalid version `latest`: expected `tip`, `stable`, `ignore` or `vX.Y.Z[-suffix]`"
                    .to_owned()
            )
        );
        assert!(VersionSpec::parse("v4.8")
            .unwrap_err()
            .starts_with("invalid version `v4.8`: unexpected end of input"));
    }

    #[test]
    fn same_version_ignores_the_v_prefix() {
        assert!(same_version("v4.8.0", "4.8.0"));
        assert!(!same_version("v4.8.0", "v4.8.1"));
        assert!(!same_version("v4.8.0+a", "v4.8.0+b"));
        assert!(same_version("odd", "odd"));
    }
}
