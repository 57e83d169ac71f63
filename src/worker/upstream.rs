//! Where a request goes: the upstream URL, which can never leave the origin, and whether its
//! body is kept for a replay after an origin 401.

use alloc::{format, string::String};

use super::access::Refusal;

/// Request bodies up to this size are buffered so the request can be retried after a 401.
pub const REPLAY_LIMIT_BYTES: u64 = 64 * 1024;

/// The path and query of an absolute request URL (`scheme://authority/path?query`), as the
/// runtime serialized it: everything from the first `/` after the authority; `/` when there
/// is none; without a fragment. Serialized URLs re-parse to themselves, so this is what
/// `pathname + search` of a parsed copy would give, without the parse.
pub fn path_and_query(url: &str) -> &str {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let after_scheme = url.find("//").map_or(0, |i| i + 2);
    match url[after_scheme..].find('/') {
        Some(i) => &url[after_scheme + i..],
        None => "/",
    }
}

/// The URL to forward to: the inbound path and query appended to the base (`origin_base`).
/// `path_and_query` is what the runtime parsed (it starts with `/`); dot segments, raw or
/// percent-encoded, are refused even so, and the result always starts with the origin.
pub fn upstream_url(base: &str, path_and_query: &str) -> Result<String, Refusal> {
    let (path, query) =
        path_and_query.split_at(path_and_query.find('?').unwrap_or(path_and_query.len()));
    if !path.starts_with('/') || path.contains('\\') || path.chars().any(char::is_control) {
        return Err(Refusal::BadPath);
    }
    // An origin that decodes `%2F` or `%5C` before resolving dot segments would see `..%2F`
    // as `../`, so encoded slashes separate segments here too.
    let dot_segment = path.split('/').any(|segment| {
        let decoded = segment
            .to_ascii_lowercase()
            .replace("%2e", ".")
            .replace("%5c", "%2f");
        decoded.split("%2f").any(|part| part == "." || part == "..")
    });
    if dot_segment {
        return Err(Refusal::BadPath);
    }
    Ok(format!("{base}{path}{query}"))
}

/// Whether a request body of `length` bytes (`None`: unknown, i.e. streamed) is buffered so
/// that the request can be retried after an origin 401.
pub fn buffer_for_replay(has_body: bool, length: Option<u64>) -> bool {
    !has_body || length.is_some_and(|len| len <= REPLAY_LIMIT_BYTES)
}
