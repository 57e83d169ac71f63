//! What the Worker answers on its own: token failures (JSON, with `Retry-After` when the
//! token endpoint is unavailable) and `Server-Timing`.

use alloc::{format, string::String, vec::Vec};

use crate::error::TokenError;

/// How the Worker answers when it could not get a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureAnswer {
    /// 500 (configuration), 502 (the token endpoint refused) or 503 (rate-limited, down).
    pub status: u16,
    /// `Retry-After` seconds, with 503.
    pub retry_after_seconds: Option<u64>,
    /// The JSON body `{ error, code, message }`.
    pub body: String,
}

/// The answer for a token failure: 503 with `Retry-After` while the token endpoint rate-limits
/// or is unavailable (429, 5xx, network, timeout), 502 for any other error from it, 500 for
/// bad configuration. `retry_after_ms`: the client's cooldown, when one runs. The message is
/// the Worker's own: nothing a server wrote (its `error_description`) and no configured value
/// reaches the caller; the full error goes to the log.
pub fn token_failure(error: &TokenError, retry_after_ms: Option<u64>) -> FailureAnswer {
    let unavailable = matches!(error, TokenError::Network(_) | TokenError::Timeout { .. })
        || matches!(error.status(), Some(429 | 500..=599));
    let (status, kind, message) = match error {
        TokenError::Config { message, .. } => {
            let message = format!("invalid configuration: {}", without_quoted_values(message));
            return FailureAnswer {
                status: 500,
                retry_after_seconds: None,
                body: json_error("configuration", "config", &message),
            };
        }
        _ if unavailable => (
            503,
            "token_endpoint_unavailable",
            "the token endpoint is unavailable or rate-limiting: try again after Retry-After",
        ),
        TokenError::Server { .. } => (
            502,
            "token_endpoint_error",
            "the token endpoint refused to issue a token (code says why)",
        ),
        TokenError::TokenRefused => (
            502,
            "origin_refused_token",
            "the origin refused a new token as it did the one before: no new token until the cooldown ends",
        ),
        _ => (
            502,
            "token_endpoint_error",
            "the token endpoint's answer was not a usable token response",
        ),
    };
    let retry_after_seconds = (status == 503).then(|| {
        retry_after_ms
            .or(error.retry_after_ms())
            .map_or(5, |ms| ms.div_ceil(1000).clamp(1, 3_600))
    });
    FailureAnswer {
        status,
        retry_after_seconds,
        body: json_error(kind, error.code(), message),
    }
}

/// A config message with every value it quotes (`'…'`: a host, a name as given) elided: what
/// a caller may read. The var names and the advice stay.
fn without_quoted_values(message: &str) -> String {
    message
        .split('\'')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect::<Vec<_>>()
        .join("'")
}

/// The JSON body of an error answer.
pub fn json_error(error: &str, code: &str, message: &str) -> String {
    format!(
        "{{\"error\":\"{}\",\"code\":\"{}\",\"message\":\"{}\"}}",
        json_escape(error),
        json_escape(code),
        json_escape(message)
    )
}

/// Escapes text for a JSON string.
pub fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Where the token for a proxied request came from, for `Server-Timing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// From memory.
    Cache,
    /// The request waited for a token request.
    Fetch,
    /// The origin refused the token, and a new one was fetched.
    Refresh,
}

/// `Server-Timing: token;dur=…;desc="cache|fetch|refresh"`, and `;route="/prefix/"` with
/// `ROUTES` (a prefix is printable ASCII without quotes or backslashes).
pub fn server_timing(source: TokenSource, duration_ms: f64, route: &str) -> String {
    let desc = match source {
        TokenSource::Cache => "cache",
        TokenSource::Fetch => "fetch",
        TokenSource::Refresh => "refresh",
    };
    // Tenths by integer arithmetic: float formatting is slow on the hot path.
    let tenths = (duration_ms * 10.0 + 0.5) as u64;
    let (route_param, route, end) = if route.is_empty() {
        ("", "", "")
    } else {
        (";route=\"", route, "\"")
    };
    format!(
        "token;dur={}.{};desc=\"{desc}\"{route_param}{route}{end}",
        tenths / 10,
        tenths % 10
    )
}
