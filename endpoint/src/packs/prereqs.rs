//! What a content pack needs from the endpoint before it may load: other packs
//! (`meta.Prerequisites`) and feature flags (`meta.RequiredFeatures`).
//!
//! Syntax follows DRP (`models.ParseContentPrerequisites`): a comma-separated list of
//! `name` or `name: <range>`. A range is blang/semver style — space-separated comparators
//! that must all hold (`>=4.2.0 <5.0.0`), alternatives joined by `||`, `x`/`*` wildcards
//! (`>=3.12.x`) — and we also accept npm's `^` and `~`. Versions compare by semver
//! precedence with a leading `v` ignored; like blang (and unlike Cargo), a pre-release
//! satisfies a plain bound (`4.9.0-rc1` matches `>=4.6.0`).
//!
//! Everything here is a pure function of its inputs: it runs inside `apply`.

use std::cmp::Ordering;
use std::fmt;

use semver::Version;
use serde_json::{Map, Value};

/// Feature flags this endpoint advertises (DRP's `/api/v3/info` `features`). A pack whose
/// `meta.RequiredFeatures` names a flag not listed here is refused.
///
/// Only flags whose behaviour this endpoint really implements belong here; a flag is a
/// promise to the pack's tasks and templates:
/// - `workflows`: setting a machine's `Workflow` builds its task list from the stages and the
///   server walks it (`store::runtime`);
/// - `default-workflow`: the `defaultWorkflow` pref starts every new machine in that workflow;
/// - `job-exit-states`: jobs carry `ExitState` (complete, failed, stop, reboot, poweroff,
///   incomplete) and it decides what the machine does next;
/// - `sane-exit-codes`: `drp-agent` reads script exit codes with DRP's meanings (0, 16 stop,
///   32 poweroff, 64 reboot, 128 incomplete, a low bit failed);
/// - `fsm-runner`: `drp-agent` is DRP's finite-state machine agent (`agent::state`), with the
///   machine `Context`, `change-stage/map` and reboot-on-bootenv-change behaviour it relies on;
/// - `http-range-header`: the static file server and `/files` honour `Range`
///   (`boot::http::range`);
/// - `roles`: claims with lists of scopes, actions and objects, and listings cut down to the
///   objects a `list` claim names (`auth::roles`);
/// - `tenants`: a tenant's users see only its member objects (`auth::visibility`);
/// - `sprig`: the template engine has the sprig functions DRP's content uses (`template`
///   crate: every template of the fixture packs parses);
/// - `multiarch`: bootenvs' `OS.SupportedArchitectures` drive paths, kernels, initrds and boot
///   params per machine `Arch` (`.Env.PathForArch`, `.Env.KernelFor`, ...) and the DHCP boot
///   loader per machine type;
/// - `overridable-bootloaders`: the DHCP boot file follows the bootenv's `Loaders`, its arch's
///   `Loader`, then the `bootloaders` param (`boot::dhcp::loaders`);
/// - `centos-8`: EL 8 install trees render as BaseOS and AppStream repos (`.InstallRepos`);
/// - `virtual-media-boot`: a machine with `boot-virtual-iso` gets a bootable ISO of its
///   bootenv under `dynamic_isos/` (`boot::virtual_media`), and `.NetmaskToCIDR` renders.
///
/// Not provided: `change-stage-v2` and DRP's other flags; a pack requiring one is refused,
/// naming it.
///
/// Install commands carry the flags of the member that received them (`features` in
/// `Op::InstallContent`), so members of different versions judge a pack alike.
pub const FEATURES: &[&str] = &[
    "workflows",
    "default-workflow",
    "job-exit-states",
    "sane-exit-codes",
    "fsm-runner",
    "http-range-header",
    "roles",
    "tenants",
    "sprig",
    "multiarch",
    "overridable-bootloaders",
    "centos-8",
    "virtual-media-boot",
];

/// [`FEATURES`], as a command carries them.
pub fn advertised() -> Vec<String> {
    FEATURES.iter().map(|f| f.to_string()).collect()
}

/// DRP's built-in layer, present on every endpoint; packs commonly require it
/// (`Prerequisites: BasicStore: >=4.6.0`).
pub const BASIC_STORE: &str = "BasicStore";
/// The DRP release this endpoint follows: the version `BasicStore` is treated as.
pub const BASIC_STORE_VERSION: &str = "v4.8.0";
/// DRP's built-in layer names: never installable as packs.
pub const BUILTIN_LAYERS: &[&str] = &[BASIC_STORE, "BackingStore", "LocalStore", "DefaultStore"];

/// One unmet requirement of a pack, named precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    /// A prerequisite pack that is not installed.
    Missing { name: String },
    /// A prerequisite pack installed at a version outside the range.
    WrongVersion {
        name: String,
        range: String,
        installed: String,
    },
    /// A prerequisite whose range cannot be parsed.
    BadRange {
        name: String,
        range: String,
        reason: String,
    },
    /// `meta.Prerequisites` / `meta.RequiredFeatures` is neither a string nor a list.
    BadField { field: &'static str },
    /// A feature flag this endpoint does not advertise.
    Feature { flag: String },
}

impl Unmet {
    /// The sentence used in error bodies, prefixed with the pack's name.
    pub fn message(&self, pack: &str) -> String {
        format!("content pack {pack} {self}")
    }
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unmet::Missing { name } => {
                write!(f, "requires content pack {name}, which is not installed")
            }
            Unmet::WrongVersion {
                name,
                range,
                installed,
            } => write!(
                f,
                "requires content pack {name} at {range:?}, but {name} {installed} is installed"
            ),
            Unmet::BadRange {
                name,
                range,
                reason,
            } => write!(
                f,
                "has an invalid version range {range:?} for prerequisite {name}: {reason}"
            ),
            Unmet::BadField { field } => {
                write!(f, "has a meta.{field} that is not a comma-separated string")
            }
            Unmet::Feature { flag } => write!(
                f,
                "requires feature flag {flag}, which this endpoint does not provide"
            ),
        }
    }
}

/// A parsed `name` or `name: range` entry.
#[derive(Debug, Clone)]
pub struct Prerequisite {
    pub name: String,
    /// The range as written (empty: any version).
    pub range_text: String,
    pub range: Result<Range, RangeError>,
}

/// Everything `meta` asks for that the endpoint cannot give, in the order written:
/// prerequisites first, then feature flags. `installed(name)` returns the version of an
/// installed pack; `features` is what the endpoint advertises.
pub fn unmet(
    pack_name: &str,
    meta: &Map<String, Value>,
    installed: impl Fn(&str) -> Option<String>,
    features: &[&str],
) -> Vec<Unmet> {
    let mut out = Vec::new();
    match list_field(meta, "Prerequisites") {
        Some(text) => {
            for p in parse_prerequisites(&text) {
                if p.name == pack_name {
                    continue; // a pack cannot wait for itself
                }
                let range = match p.range {
                    Ok(r) => r,
                    Err(reason) => {
                        out.push(Unmet::BadRange {
                            name: p.name,
                            range: p.range_text,
                            reason: reason.to_string(),
                        });
                        continue;
                    }
                };
                let Some(version) = installed(&p.name) else {
                    out.push(Unmet::Missing { name: p.name });
                    continue;
                };
                if p.range_text.is_empty() {
                    continue; // presence is all a bare name asks for
                }
                let ok = parse_version(&version).is_some_and(|v| range.matches(&v));
                if !ok {
                    out.push(Unmet::WrongVersion {
                        name: p.name,
                        range: p.range_text,
                        installed: version,
                    });
                }
            }
        }
        None => out.push(Unmet::BadField {
            field: "Prerequisites",
        }),
    }
    match list_field(meta, "RequiredFeatures") {
        Some(text) => {
            for flag in split_features(&text) {
                if !features.contains(&flag) {
                    out.push(Unmet::Feature {
                        flag: flag.to_string(),
                    });
                }
            }
        }
        None => out.push(Unmet::BadField {
            field: "RequiredFeatures",
        }),
    }
    out.dedup();
    out
}

/// A meta list field as one comma-separated string; `None` when it has another shape.
/// Absent and null are empty. A YAML list of strings is accepted as well.
fn list_field(meta: &Map<String, Value>, field: &str) -> Option<String> {
    match meta.get(field) {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        Some(_) => None,
    }
}

/// Feature flags: separated by commas and/or whitespace, duplicates dropped.
pub fn split_features(text: &str) -> Vec<&str> {
    let mut flags: Vec<&str> = Vec::new();
    for flag in text.split(|c: char| c == ',' || c.is_whitespace()) {
        if !flag.is_empty() && !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    flags
}

/// DRP's `Prerequisites` syntax: `name[: range], ...`.
pub fn parse_prerequisites(text: &str) -> Vec<Prerequisite> {
    let mut out: Vec<Prerequisite> = Vec::new();
    for entry in text.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (name, range_text) = match entry.split_once(':') {
            Some((n, r)) => (n.trim(), r.trim()),
            None => (entry, ""),
        };
        if out.iter().any(|p| p.name == name) {
            continue;
        }
        out.push(Prerequisite {
            name: name.to_string(),
            range_text: range_text.to_string(),
            range: Range::parse(range_text),
        });
    }
    out
}

/// A pack's version as semver: a leading `v` is ignored and missing minor/patch are 0
/// (`v4.8` is 4.8.0). `None` for strings that are not versions at all.
pub fn parse_version(text: &str) -> Option<Version> {
    let t = text.trim();
    let t = t.strip_prefix(['v', 'V']).unwrap_or(t);
    if let Ok(v) = Version::parse(t) {
        return Some(v);
    }
    let split = t.find(['-', '+']).unwrap_or(t.len());
    let (core, suffix) = t.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    Version::parse(&format!("{padded}{suffix}")).ok()
}

/// A version range: any one alternative whose comparators all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    alternatives: Vec<Vec<Bound>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Bound {
    Ge(Version),
    Gt(Version),
    Le(Version),
    Lt(Version),
    Eq(Version),
    Ne(Version),
    /// `!=4.6.x`: outside `[lo, hi)`; `hi: None` is unbounded.
    Outside(Version, Option<Version>),
}

impl Bound {
    fn holds(&self, v: &Version) -> bool {
        let c = |b: &Version| v.cmp_precedence(b);
        match self {
            Bound::Ge(b) => c(b) != Ordering::Less,
            Bound::Gt(b) => c(b) == Ordering::Greater,
            Bound::Le(b) => c(b) != Ordering::Greater,
            Bound::Lt(b) => c(b) == Ordering::Less,
            Bound::Eq(b) => c(b) == Ordering::Equal,
            Bound::Ne(b) => c(b) != Ordering::Equal,
            Bound::Outside(lo, hi) => {
                c(lo) == Ordering::Less || hi.as_ref().is_some_and(|h| c(h) != Ordering::Less)
            }
        }
    }
}

/// What is wrong with a version range; each names the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("operator {0:?} has no version after it")]
    NoVersionAfter(String),
    #[error("{0:?} is not a version range")]
    NotARange(String),
    #[error("an alternative around \"||\" is empty")]
    EmptyAlternative,
    #[error("a comparator has no version")]
    NoVersion,
    #[error("{0:?} has more than three components")]
    TooManyComponents(String),
    #[error("{0:?} has a number after a wildcard")]
    NumberAfterWildcard(String),
    #[error("{0:?} is not a version")]
    NotAVersion(String),
    /// The version as written, and why semver refuses it.
    #[error("{0:?} is not a version: {1}")]
    BadVersion(String, String),
    #[error("{0:?}: a pre-release needs a full version")]
    PreReleaseWithoutFullVersion(String),
    #[error("{0:?} excludes every version")]
    ExcludesEverything(String),
    #[error("{0:?} admits no version")]
    AdmitsNothing(String),
    #[error("unknown operator {0:?}")]
    UnknownOperator(String),
}

impl Range {
    /// Parses a range; the empty string is "any version". The error names the bad part.
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let mut bounds = Vec::new();
            let mut tokens = alt.split_whitespace().peekable();
            while let Some(token) = tokens.next() {
                // `>= 4.6.0`: an operator alone joins the version after it.
                let joined;
                let token = if OPERATORS.contains(&token) {
                    let Some(next) = tokens.next() else {
                        return Err(RangeError::NoVersionAfter(token.to_string()));
                    };
                    joined = format!("{token}{next}");
                    joined.as_str()
                } else {
                    token
                };
                comparator(token, &mut bounds)?;
            }
            if bounds.is_empty() && !alt.trim().is_empty() {
                return Err(RangeError::NotARange(alt.trim().to_string()));
            }
            alternatives.push(bounds);
        }
        if text.contains("||") && alternatives.iter().any(Vec::is_empty) {
            return Err(RangeError::EmptyAlternative);
        }
        Ok(Range { alternatives })
    }

    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|alt| alt.iter().all(|b| b.holds(v)))
    }
}

/// Longest first, so `>=` is not read as `>`.
const OPERATORS: &[&str] = &[">=", "<=", "!=", "==", "=>", "=<", ">", "<", "=", "^", "~"];

/// A version with possibly missing or wildcard components (`4`, `4.6`, `4.x`, `*`).
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    /// Set when the version is complete (it may carry a pre-release).
    full: Option<Version>,
}

impl Partial {
    fn parse(text: &str) -> Result<Partial, RangeError> {
        let t = text.strip_prefix(['v', 'V']).unwrap_or(text);
        if t.is_empty() {
            return Err(RangeError::NoVersion);
        }
        let split = t.find(['-', '+']).unwrap_or(t.len());
        let (core, suffix) = t.split_at(split);
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3 {
            return Err(RangeError::TooManyComponents(text.to_string()));
        }
        let mut nums = [None; 3];
        let mut wild = false;
        for (i, part) in parts.iter().enumerate() {
            if matches!(*part, "x" | "X" | "*") {
                wild = true;
                continue;
            }
            if wild {
                return Err(RangeError::NumberAfterWildcard(text.to_string()));
            }
            nums[i] = Some(
                part.parse::<u64>()
                    .map_err(|_| RangeError::NotAVersion(text.to_string()))?,
            );
        }
        let [major, minor, patch] = nums;
        let full = match (major, minor, patch) {
            (Some(_), Some(_), Some(_)) => Some(
                Version::parse(t)
                    .map_err(|e| RangeError::BadVersion(text.to_string(), e.to_string()))?,
            ),
            _ if !suffix.is_empty() => {
                return Err(RangeError::PreReleaseWithoutFullVersion(text.to_string()))
            }
            _ => None,
        };
        Ok(Partial {
            major,
            minor,
            patch,
            full,
        })
    }

    /// The smallest version it stands for.
    fn lower(&self) -> Version {
        self.full.clone().unwrap_or_else(|| {
            Version::new(
                self.major.unwrap_or(0),
                self.minor.unwrap_or(0),
                self.patch.unwrap_or(0),
            )
        })
    }

    /// The first version after everything it stands for; `None` when unbounded or exact.
    fn upper(&self) -> Option<Version> {
        match (self.major, self.minor, self.patch) {
            (Some(m), None, _) => m.checked_add(1).map(|m| Version::new(m, 0, 0)),
            (Some(m), Some(n), None) => n.checked_add(1).map(|n| Version::new(m, n, 0)),
            _ => None,
        }
    }
}

/// Adds the bounds of one comparator such as `>=4.6.0`, `4.x`, `^4.0`, `!=4.6.1`.
fn comparator(token: &str, bounds: &mut Vec<Bound>) -> Result<(), RangeError> {
    let (op, rest) = OPERATORS
        .iter()
        .find_map(|op| token.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("=", token));
    let p = Partial::parse(rest)?;
    let wildcard_all = p.major.is_none();
    match op {
        "=" | "==" => match (&p.full, p.upper()) {
            (Some(v), _) => bounds.push(Bound::Eq(v.clone())),
            (None, _) if wildcard_all => {}
            (None, upper) => {
                bounds.push(Bound::Ge(p.lower()));
                bounds.extend(upper.map(Bound::Lt));
            }
        },
        "!=" => match &p.full {
            Some(v) => bounds.push(Bound::Ne(v.clone())),
            None if wildcard_all => return Err(RangeError::ExcludesEverything(token.to_string())),
            None => bounds.push(Bound::Outside(p.lower(), p.upper())),
        },
        ">=" | "=>" => bounds.push(Bound::Ge(p.lower())),
        "<" => {
            if wildcard_all {
                return Err(RangeError::AdmitsNothing(token.to_string()));
            }
            bounds.push(Bound::Lt(p.lower()));
        }
        ">" => match (&p.full, p.upper()) {
            (Some(v), _) => bounds.push(Bound::Gt(v.clone())),
            (None, Some(u)) => bounds.push(Bound::Ge(u)),
            (None, None) => return Err(RangeError::AdmitsNothing(token.to_string())),
        },
        "<=" | "=<" => match (&p.full, p.upper()) {
            (Some(v), _) => bounds.push(Bound::Le(v.clone())),
            (None, Some(u)) => bounds.push(Bound::Lt(u)),
            (None, None) => {}
        },
        "^" => {
            if wildcard_all {
                return Ok(());
            }
            let lower = p.lower();
            let upper = match (p.major, p.minor, p.patch) {
                (Some(0), Some(0), Some(z)) => z.checked_add(1).map(|z| Version::new(0, 0, z)),
                (Some(0), Some(y), _) => y.checked_add(1).map(|y| Version::new(0, y, 0)),
                (Some(x), _, _) => x.checked_add(1).map(|x| Version::new(x, 0, 0)),
                (None, _, _) => None,
            };
            bounds.push(Bound::Ge(lower));
            bounds.extend(upper.map(Bound::Lt));
        }
        "~" => {
            if wildcard_all {
                return Ok(());
            }
            let upper = match (p.major, p.minor) {
                (Some(x), Some(y)) => y.checked_add(1).map(|y| Version::new(x, y, 0)),
                (Some(x), None) => x.checked_add(1).map(|x| Version::new(x, 0, 0)),
                _ => None,
            };
            bounds.push(Bound::Ge(p.lower()));
            bounds.extend(upper.map(Bound::Lt));
        }
        other => return Err(RangeError::UnknownOperator(other.to_string())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(range: &str, version: &str) -> bool {
        let r = Range::parse(range).unwrap_or_else(|e| panic!("{range}: {e}"));
        r.matches(&parse_version(version).unwrap_or_else(|| panic!("{version}")))
    }

    #[test]
    fn ranges_follow_drp_syntax() {
        assert!(ok(">=4.6.0", "v4.8.0"));
        assert!(!ok(">=4.9.0", "v4.8.0"));
        assert!(ok(">= 4.6.0", "4.8.0"));
        assert!(ok(">=4.2.0 <5.0.0", "4.8.0"));
        assert!(!ok(">=4.2.0 <5.0.0", "5.0.0"));
        assert!(ok(">=3.12.x", "3.12.0"));
        assert!(ok("^4.0", "4.8.0"));
        assert!(!ok("^4.0", "5.0.0"));
        assert!(ok("~4.8", "4.8.9"));
        assert!(!ok("~4.8", "4.9.0"));
        assert!(ok("4.x", "4.1.2"));
        assert!(!ok("4.x", "3.1.2"));
        assert!(ok("<4.0.0 || >=4.8.0", "4.8.1"));
        assert!(!ok("<4.0.0 || >=4.8.0", "4.7.0"));
        assert!(ok("!=4.6.x", "4.7.0"));
        assert!(!ok("!=4.6.x", "4.6.3"));
        assert!(ok(">4.6.x", "4.7.0"));
        assert!(!ok(">4.6.x", "4.6.9"));
        assert!(ok("<=4.6", "4.6.9"));
        assert!(ok("", "0.0.1"));
        // blang semantics: a pre-release satisfies a plain lower bound.
        assert!(ok(">=4.6.0", "v4.9.0-rc1"));
    }

    #[test]
    fn bad_ranges_are_named() {
        for bad in [
            ">=3.12.foo",
            ">=",
            "4.x.1",
            "a.b.c",
            "1.2.3.4",
            "<*",
            "!=*",
            "||",
        ] {
            assert!(Range::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn prerequisites_split_like_drp() {
        let p = parse_prerequisites("foo, BasicStore: >=3.12.x,bar:^1.0 ,,");
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["foo", "BasicStore", "bar"]);
        assert_eq!(p[1].range_text, ">=3.12.x");
        assert_eq!(p[0].range_text, "");
    }

    #[test]
    fn unmet_names_each_missing_item() {
        let meta = serde_json::json!({
            "Prerequisites": "BasicStore: >=4.6.0, a, b: >=2.0.0, c: >=1.0.0 <2.0.0, d: >=1.2.foo",
            "RequiredFeatures": "sane-exit-codes, change-stage-v2 sane-exit-codes",
        });
        let installed = |n: &str| match n {
            "BasicStore" => Some(BASIC_STORE_VERSION.to_string()),
            "b" => Some("v1.5.0".to_string()),
            "c" => Some("1.2.0".to_string()),
            "d" => Some("1.0.0".to_string()),
            _ => None,
        };
        let found = unmet("p", meta.as_object().unwrap(), installed, &[]);
        let messages: Vec<String> = found.iter().map(|u| u.message("p")).collect();
        assert_eq!(
            messages,
            [
                "content pack p requires content pack a, which is not installed",
                "content pack p requires content pack b at \">=2.0.0\", but b v1.5.0 is installed",
                "content pack p has an invalid version range \">=1.2.foo\" for prerequisite d: \"1.2.foo\" is not a version",
                "content pack p requires feature flag sane-exit-codes, which this endpoint does not provide",
                "content pack p requires feature flag change-stage-v2, which this endpoint does not provide",
            ]
        );
    }
}
