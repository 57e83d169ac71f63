//! Which headers travel: hop-by-hop ones and a caller's credentials never do.

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The inbound request headers dropped on the way to the origin: hop-by-hop ones, those the
/// `Connection` header names, `Host`, the proxy-key header, the token header (replaced by the
/// Worker's own token) and `Authorization` even when the token goes elsewhere: a caller's
/// credentials never pass through. Header names compare case-insensitively.
pub fn request_headers_to_drop<'a>(
    key_header: &'a str,
    header_name: &'a str,
    connection: &'a str,
) -> impl Iterator<Item = &'a str> {
    hop_by_hop_headers(connection).chain(["host", "authorization", key_header, header_name])
}

/// The hop-by-hop headers: the standard ones and those the `Connection` header names. They
/// are dropped both ways; they are all the origin's response loses on the way back.
pub fn hop_by_hop_headers(connection: &str) -> impl Iterator<Item = &str> {
    HOP_BY_HOP
        .iter()
        .copied()
        .chain(connection_names(connection))
}

/// The header names a `Connection` header lists (each hop-by-hop for this connection). What
/// is not a header name (`a b`, say) names no header, and is skipped: it could not be deleted.
pub fn connection_names(connection: &str) -> impl Iterator<Item = &str> {
    connection
        .split(',')
        .map(str::trim)
        .filter(|name| crate::config::is_header_name(name))
}
