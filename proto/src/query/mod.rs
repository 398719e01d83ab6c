//! DRP's list query, shared by the endpoint (its own collections) and the manager (the union of
//! every cluster's replica), so both filter, sort and page with the same code:
//! `Field=Eq(x)` (also `Ne Lt Lte Gt Gte Between(a,b) Except(a,b) In(a,..) Nin(a,..) Re(re2)`, and bare
//! `Field=x` for Eq), `offset`, `limit`, `sort`, `reverse`. PascalCase names are object fields;
//! any other name filters by param value.
//!
//! [`parse`] takes the query already split into decoded `(name, value)` pairs, so this crate
//! needs no URL decoder; [`select`](ListQuery::select) and [`page`](ListQuery::page) run it.

mod parse;
mod pattern;
mod select;

pub use parse::{parse, parse_bool};

/// Filters per query (400 beyond): every object is tested against each, and no real query
/// needs more than a handful.
pub const MAX_FILTERS: usize = 32;
/// Sort keys per query (400 beyond): each comparison of the sort walks them all.
pub const MAX_SORT_KEYS: usize = 8;
/// Characters of a `Re(...)` pattern at most (400 beyond).
pub const MAX_PATTERN_LEN: usize = 1024;

/// Why a list query was refused; each message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `Field=Op(..)` with an operator DRP does not have.
    #[error("filter {field}={raw}: unknown operator {op:?} (use Eq, Ne, Lt, Lte, Gt, Gte, Between, Except, In, Nin or Re)")]
    UnknownOperator {
        /// The filtered field.
        field: String,
        /// The filter's value as sent.
        raw: String,
        /// The operator's name.
        op: String,
    },
    /// `Between` or `Except` without exactly two values.
    #[error("filter {field}={raw}: {op} takes two values: {op}(low,high)")]
    TwoValues {
        /// The filtered field.
        field: String,
        /// The filter's value as sent.
        raw: String,
        /// `Between` or `Except`.
        op: &'static str,
    },
    /// `Re(...)` whose pattern does not compile (or is too long or too large).
    #[error("filter {field}={raw}: Re takes a regular expression (RE2 syntax): {reason}")]
    BadPattern {
        /// The filtered field.
        field: String,
        /// The filter's value as sent.
        raw: String,
        /// What is wrong with the pattern.
        reason: String,
    },
    /// `offset` or `limit` that is not a count.
    #[error("{name} {value:?} is not a number (a count, 0 or more)")]
    NotACount {
        /// `offset` or `limit`.
        name: &'static str,
        /// The value as sent.
        value: String,
    },
    /// `reverse` that is not a boolean.
    #[error("reverse {0:?} is not a boolean (true or false)")]
    NotABool(String),
    /// More than [`MAX_FILTERS`] filters.
    #[error("more than {MAX_FILTERS} filters: a query may have at most {MAX_FILTERS} (the limit)")]
    TooManyFilters,
    /// More than [`MAX_SORT_KEYS`] sort keys.
    #[error("more than {MAX_SORT_KEYS} sort keys: a query may sort by at most {MAX_SORT_KEYS} (the limit)")]
    TooManySortKeys,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Eq(String),
    Ne(String),
    Lt(String),
    Lte(String),
    Gt(String),
    Gte(String),
    Between(String, String),
    Except(String, String),
    In(Vec<String>),
    Nin(Vec<String>),
    Re(pattern::Pattern),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    field: String,
    test: Test,
}

/// A parsed list query: filters, sort keys, `reverse`, `offset` and `limit`.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    filters: Vec<Filter>,
    /// Objects skipped before the page.
    pub offset: usize,
    /// Objects in the page at most (`None`: all).
    pub limit: Option<usize>,
    sort: Vec<String>,
    reverse: bool,
}

#[cfg(test)]
mod tests;
