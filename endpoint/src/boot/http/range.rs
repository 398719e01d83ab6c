//! HTTP `Range: bytes=...` (RFC 9110 14), as DRP's file servers honour it (DRP's
//! `http-range-header` feature): one range gives 206 with exactly those bytes, a range past
//! the end gives 416. Shared by the static file server and `GET /api/v3/files/<path>`.
//!
//! Choices where RFC 9110 leaves room: a malformed header is ignored (the whole body, 200);
//! several ranges are answered with the whole body (200) rather than `multipart/byteranges`,
//! which no network-boot client asks for.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};

/// What to send of a body of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slice {
    /// The whole body (no Range, a malformed one, or several ranges).
    Whole,
    /// Bytes `start..=end` (both within the body).
    Part { start: u64, end: u64 },
    /// No byte of the range is in the body.
    Unsatisfiable,
}

impl Slice {
    /// The slice `headers`' `Range` asks of a `len`-byte body.
    pub fn of(headers: &HeaderMap, len: u64) -> Slice {
        match headers.get(header::RANGE).map(HeaderValue::to_str) {
            Some(Ok(value)) => parse(value, len),
            // Not visible ASCII: malformed, so ignored.
            Some(Err(_)) | None => Slice::Whole,
        }
    }

    /// The byte offset and count to send of a `len`-byte body (zero for a 416).
    pub fn span(&self, len: u64) -> (u64, u64) {
        match *self {
            Slice::Whole => (0, len),
            Slice::Part { start, end } => (start, end - start + 1),
            Slice::Unsatisfiable => (0, 0),
        }
    }

    /// The status and headers of the answer (Content-Length included), identical for GET
    /// and HEAD.
    pub fn head(&self, len: u64) -> (StatusCode, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let (_, count) = self.span(len);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
        let (status, range) = match *self {
            Slice::Whole => (StatusCode::OK, None),
            Slice::Part { start, end } => (
                StatusCode::PARTIAL_CONTENT,
                Some(format!("bytes {start}-{end}/{len}")),
            ),
            Slice::Unsatisfiable => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Some(format!("bytes */{len}")),
            ),
        };
        if let Some(value) = range.and_then(|r| HeaderValue::from_str(&r).ok()) {
            headers.insert(header::CONTENT_RANGE, value);
        }
        (status, headers)
    }
}

/// A `Range` header value for a `len`-byte body.
pub fn parse(value: &str, len: u64) -> Slice {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return Slice::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        // Another unit: not ours to honour (RFC 9110 14.2: ignore it).
        return Slice::Whole;
    }
    // Empty list elements are allowed (RFC 9110 5.6.1).
    let specs: Vec<&str> = set
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match specs.as_slice() {
        [one] => spec(one, len).unwrap_or(Slice::Whole),
        // Several ranges, or none: whole body (see the module comment); a malformed
        // member makes it malformed all the same.
        _ => Slice::Whole,
    }
}

/// One `first-last`, `first-` or `-suffix`; `None` when malformed.
fn spec(spec: &str, len: u64) -> Option<Slice> {
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `-n`: the last n bytes; a suffix longer than the body is the whole body.
        let suffix = number(last)?;
        return Some(match suffix {
            Some(0) => Slice::Unsatisfiable,
            _ if len == 0 => Slice::Unsatisfiable,
            Some(n) if n < len => Slice::Part {
                start: len - n,
                end: len - 1,
            },
            // Larger than the body, or than any number: all of it.
            _ => Slice::Part {
                start: 0,
                end: len - 1,
            },
        });
    }
    let start = number(first)?;
    let end = match last {
        "" => None,
        l => Some(number(l)?),
    };
    // `5-2` is invalid syntax (RFC 9110 14.1.1), so ignored; u64::MAX stands in for a number
    // too large to hold, which is past any end.
    if let Some(e) = end {
        if e.unwrap_or(u64::MAX) < start.unwrap_or(u64::MAX) {
            return None;
        }
    }
    let Some(start) = start.filter(|s| *s < len) else {
        return Some(Slice::Unsatisfiable);
    };
    let end = match end {
        Some(Some(e)) => e.min(len - 1),
        // Open-ended, or past any length: to the end.
        _ => len - 1,
    };
    Some(Slice::Part { start, end })
}

/// Digits only: `Some(None)` for digits too many for a u64, `None` for anything else.
fn number(text: &str) -> Option<Option<u64>> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> Slice {
        Slice::Part { start, end }
    }

    #[test]
    fn single_ranges_of_each_form() {
        assert_eq!(parse("bytes=0-99", 1000), part(0, 99));
        assert_eq!(parse("bytes=500-", 1000), part(500, 999));
        assert_eq!(parse("bytes=-100", 1000), part(900, 999));
        assert_eq!(parse("bytes=999-999", 1000), part(999, 999));
        // A last position past the end is clamped.
        assert_eq!(parse("bytes=900-5000", 1000), part(900, 999));
        // The unit is case-insensitive.
        assert_eq!(parse("Bytes=1-2", 10), part(1, 2));
    }

    #[test]
    fn suffixes_longer_than_the_body_and_zero_suffixes() {
        assert_eq!(parse("bytes=-5000", 1000), part(0, 999));
        assert_eq!(parse("bytes=-1000", 1000), part(0, 999));
        assert_eq!(parse("bytes=-0", 1000), Slice::Unsatisfiable);
    }

    #[test]
    fn starts_at_or_past_the_end_are_unsatisfiable() {
        assert_eq!(parse("bytes=1000-", 1000), Slice::Unsatisfiable);
        assert_eq!(parse("bytes=1000-2000", 1000), Slice::Unsatisfiable);
        assert_eq!(parse("bytes=5000-", 1000), Slice::Unsatisfiable);
    }

    #[test]
    fn a_zero_length_body_satisfies_no_range() {
        for r in ["bytes=0-", "bytes=0-0", "bytes=-1", "bytes=-0"] {
            assert_eq!(parse(r, 0), Slice::Unsatisfiable, "{r}");
        }
    }

    #[test]
    fn numbers_too_large_for_u64() {
        let huge = "99999999999999999999999";
        // A start past any length; an end or suffix past any length is the end.
        assert_eq!(parse(&format!("bytes={huge}-"), 10), Slice::Unsatisfiable);
        assert_eq!(parse(&format!("bytes=3-{huge}"), 10), part(3, 9));
        assert_eq!(parse(&format!("bytes=-{huge}"), 10), part(0, 9));
        assert_eq!(
            parse("bytes=18446744073709551615-", 10),
            Slice::Unsatisfiable
        );
        // `huge-1` is last < first: invalid.
        assert_eq!(parse(&format!("bytes={huge}-1"), 10), Slice::Whole);
    }

    #[test]
    fn whitespace_around_the_parts_is_allowed() {
        assert_eq!(parse(" bytes = 1 - 3 ", 10), part(1, 3));
        assert_eq!(parse("bytes=\t-2", 10), part(8, 9));
        assert_eq!(parse("bytes=2-4,", 10), part(2, 4));
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for r in [
            "bytes=5-2",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=0x10-",
            "bytes 0-1",
            "items=0-1",
            "",
            "=",
            "bytes=1",
            "bytes=--1",
        ] {
            assert_eq!(parse(r, 10), Slice::Whole, "{r:?}");
        }
    }

    #[test]
    fn several_ranges_get_the_whole_body() {
        assert_eq!(parse("bytes=0-1,5-6", 10), Slice::Whole);
        assert_eq!(parse("bytes=0-1, -2", 10), Slice::Whole);
    }

    #[test]
    fn headers_name_the_range_and_length() {
        let (status, h) = part(10, 19).head(100);
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(h[header::CONTENT_RANGE], "bytes 10-19/100");
        assert_eq!(h[header::CONTENT_LENGTH], "10");
        assert_eq!(h[header::ACCEPT_RANGES], "bytes");
        let (status, h) = Slice::Unsatisfiable.head(100);
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(h[header::CONTENT_RANGE], "bytes */100");
        assert_eq!(h[header::CONTENT_LENGTH], "0");
        let (status, h) = Slice::Whole.head(100);
        assert_eq!(status, StatusCode::OK);
        assert!(h.get(header::CONTENT_RANGE).is_none());
        assert_eq!(h[header::CONTENT_LENGTH], "100");
        let mut req = HeaderMap::new();
        req.insert(header::RANGE, HeaderValue::from_static("bytes=-3"));
        assert_eq!(Slice::of(&req, 10), part(7, 9));
        req.insert(
            header::RANGE,
            HeaderValue::from_bytes(b"bytes=\xff").unwrap(),
        );
        assert_eq!(Slice::of(&req, 10), Slice::Whole);
    }
}
