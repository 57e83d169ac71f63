//! The one error type. Every failure a caller can see is a [`TokenError`] with a stable
//! [`code`](TokenError::code): the RFC 6749 §5.2 `error` value as the server sent it, or one of
//! the client's own codes (`config`, `network`, `timeout`, `invalid_response`, `aborted`).
//!
//! No variant ever holds a secret or a token, so `Display` and `Debug` are safe to log.

use alloc::{string::String, vec::Vec};
use core::fmt;

/// Why a token could not be had.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TokenError {
    /// The client was configured wrongly; the message says what to fix.
    Config {
        /// The option at fault as the npm `TokenClient` names it (`tokenUrl`, `keycloak.realm`),
        /// or the Worker var for the Worker's own settings (`ORIGIN_URL`).
        option: &'static str,
        /// What is wrong and how to fix it. It may quote the value given (a host, a name):
        /// the Worker logs it but never sends it to a caller.
        message: String,
    },
    /// The token endpoint answered with an OAuth error (RFC 6749 §5.2).
    Server {
        /// The `error` value, e.g. `invalid_client`.
        error: String,
        /// `error_description`, if sent.
        description: Option<String>,
        /// `error_uri`, if sent.
        uri: Option<String>,
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` delay in milliseconds, if the server sent one.
        retry_after_ms: Option<u64>,
    },
    /// The response was not a usable token response (HTML, empty, too large, missing fields).
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// The response's content type, as sent.
        content_type: String,
        /// What was wrong, in words that never quote the body.
        reason: String,
        /// The `Retry-After` delay in milliseconds, if the server sent one.
        retry_after_ms: Option<u64>,
    },
    /// The request did not reach the server or no response came back.
    Network(String),
    /// No response came within the configured timeout.
    Timeout {
        /// The timeout that passed.
        timeout_ms: u64,
    },
    /// The caller's `AbortSignal` ended its wait.
    Aborted,
    /// An API refused a token that had itself replaced a refused one (RFC 6750
    /// `invalid_token`): the client cools down before it asks for another.
    TokenRefused,
    /// The device grant has no token and no refresh token left: only a user can sign in
    /// again, with a new device authorization. Nothing was sent.
    AuthorizationRequired,
    /// The device code expired before the user approved (RFC 8628 `expired_token`).
    DeviceCodeExpired,
}

impl TokenError {
    /// The stable code JS callers see as `err.code`.
    pub fn code(&self) -> &str {
        match self {
            Self::Config { .. } => "config",
            Self::Server { error, .. } => error,
            Self::InvalidResponse { .. } => "invalid_response",
            Self::Network(_) => "network",
            Self::Timeout { .. } => "timeout",
            Self::Aborted => "aborted",
            Self::TokenRefused => "invalid_token",
            Self::AuthorizationRequired => "authorization_required",
            Self::DeviceCodeExpired => "expired_token",
        }
    }

    /// The HTTP status of the response that caused the error, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Server { status, .. } | Self::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// `error_description` of a server error.
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::Server { description, .. } => description.as_deref(),
            _ => None,
        }
    }

    /// `error_uri` of a server error.
    pub fn uri(&self) -> Option<&str> {
        match self {
            Self::Server { uri, .. } => uri.as_deref(),
            _ => None,
        }
    }

    /// The server's `Retry-After`, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::Server { retry_after_ms, .. } | Self::InvalidResponse { retry_after_ms, .. } => {
                *retry_after_ms
            }
            _ => None,
        }
    }

    /// Whether trying again may help: network errors, timeouts, 408, 429 and 5xx.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Network(_) | Self::Timeout { .. } => true,
            Self::Server { status, .. } | Self::InvalidResponse { status, .. } => {
                matches!(status, 408 | 429 | 500..=599)
            }
            Self::Config { .. }
            | Self::Aborted
            | Self::TokenRefused
            | Self::AuthorizationRequired
            | Self::DeviceCodeExpired => false,
        }
    }

    /// What went wrong, in words that never quote a secret, a token or a response body.
    /// Built by concatenation: the npm wasm carries no `core::fmt`.
    pub fn message(&self) -> String {
        match self {
            Self::Config { message, .. } => ["invalid configuration: ", message].concat(),
            Self::Server {
                error,
                description,
                status,
                ..
            } => {
                let status = decimal(u64::from(*status));
                let head = ["token endpoint answered ", &status, " ", error].concat();
                match description {
                    Some(text) => [&head, ": ", text].concat(),
                    None => head,
                }
            }
            Self::InvalidResponse {
                status,
                content_type,
                reason,
                ..
            } => [
                "unusable token response (status ",
                &decimal(u64::from(*status)),
                ", content type '",
                content_type,
                "'): ",
                reason,
            ]
            .concat(),
            Self::Network(message) => ["network error: ", message].concat(),
            Self::Timeout { timeout_ms } => [
                "no response from the token endpoint within ",
                &decimal(*timeout_ms),
                " ms",
            ]
            .concat(),
            Self::Aborted => "the caller aborted the wait for a token".into(),
            Self::TokenRefused => {
                "the API refused a new token as it did the one before: no new token until the cooldown ends".into()
            }
            Self::AuthorizationRequired => {
                "no token and no refresh token: a user must sign in (startDeviceAuthorization)".into()
            }
            Self::DeviceCodeExpired => {
                "the device code expired before the user approved: start a new device authorization".into()
            }
        }
    }
}

/// Longest `error`, `error_description`, `error_uri` or content type kept from a server.
pub const MAX_SERVER_TEXT_CHARS: usize = 256;

/// What replaces a secret found in a server's text.
pub const REDACTED: &str = "[redacted]";

impl TokenError {
    /// A config error for `option`.
    pub fn config(option: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            option,
            message: message.into(),
        }
    }

    /// The error with every text a server chose cleaned, so that it can reach a message, a
    /// log line or an answer: control characters removed, each occurrence of `secrets` (as
    /// given; the caller passes their encoded forms too) replaced by `[redacted]`, at most
    /// [`MAX_SERVER_TEXT_CHARS`] characters; an `error_uri` that is not an http(s) URL dropped.
    /// An IdP that echoes its request can put the client secret in any of them.
    pub fn cleaned(self, secrets: &[String]) -> Self {
        let clean = |text: &str| clean_text(text, secrets);
        match self {
            Self::Server {
                error,
                description,
                uri,
                status,
                retry_after_ms,
            } => Self::Server {
                error: clean(&error),
                description: description.map(|d| clean(&d)),
                uri: uri.map(|u| clean(&u)).filter(|u| is_web_url(u)),
                status,
                retry_after_ms,
            },
            Self::InvalidResponse {
                status,
                content_type,
                reason,
                retry_after_ms,
            } => Self::InvalidResponse {
                status,
                content_type: clean(&content_type),
                reason,
                retry_after_ms,
            },
            other => other,
        }
    }
}

fn clean_text(text: &str, secrets: &[String]) -> String {
    // Only what can reach the result is looked at: the kept characters and enough beyond them
    // for a secret that starts among them (a 1 MiB description costs no more than a short one).
    let longest = secrets.iter().map(String::len).max().unwrap_or(0);
    // Counted in visible characters: control characters in front must not push the end of the
    // window into a secret, which would then come out cut, unrecognised.
    let mut visible = 0;
    let window: String = text
        .chars()
        .take_while(|c| {
            visible += usize::from(!c.is_control());
            visible <= MAX_SERVER_TEXT_CHARS + longest
        })
        .collect();
    // Redacted before and after the control characters go, so that neither a secret holding
    // one nor one split by them survives.
    let text = redact(&window, secrets);
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    redact(&text, secrets)
        .chars()
        .take(MAX_SERVER_TEXT_CHARS)
        .collect()
}

/// `text` with every occurrence of `secrets` replaced by [`REDACTED`]. Byte by byte, with no
/// `str::replace`: its substring searcher and slicing panics cost the npm wasm 4 KB.
fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(c) = rest.chars().next() {
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            if let Some(after) = rest.strip_prefix(secret.as_str()) {
                out.push_str(REDACTED);
                rest = after;
                continue 'scan;
            }
        }
        out.push(c);
        rest = rest.get(c.len_utf8()..).unwrap_or_default();
    }
    out
}

/// `http://…` or `https://…`, with no space in it.
fn is_web_url(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !text.bytes().any(|b| b == b' ')
}

/// `n` in decimal digits.
fn decimal(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().map(|&d| char::from(d)).collect()
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for TokenError {}
