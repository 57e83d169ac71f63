//! Pure logic of the Worker proxy: configuration from Worker vars and secrets, inbound access
//! control, the upstream URL (which can never leave the origin), which headers travel, and
//! how a token failure is answered. The Worker adapter (`worker` feature) only does the I/O.

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};
use core::fmt;

use crate::config::{check_endpoint_url, Config, ConfigInput, UrlParser};
use crate::error::TokenError;
use crate::secret::ClientSecret;

/// Request bodies up to this size are buffered so the request can be retried after a 401.
pub const REPLAY_LIMIT_BYTES: u64 = 64 * 1024;

/// Worker var names, and the TokenClient option each one sets (used to word errors).
const VAR_NAMES: [(&str, &str); 17] = [
    ("TOKEN_URL", "tokenUrl"),
    ("ISSUER", "issuer"),
    ("KEYCLOAK_BASE_URL", "keycloak.baseUrl"),
    ("KEYCLOAK_REALM", "keycloak.realm"),
    ("CLIENT_ID", "clientId"),
    ("CLIENT_SECRET", "clientSecret"),
    ("SCOPE", "scope"),
    ("AUTH_METHOD", "authMethod"),
    ("BASIC_AUTH_ENCODING", "basicAuthEncoding"),
    ("AUTH_HEADER", "headerName"),
    ("REFRESH_AHEAD_SECONDS", "refreshAheadSeconds"),
    ("EXPIRY_MARGIN_SECONDS", "expiryMarginSeconds"),
    ("DEFAULT_EXPIRES_IN_SECONDS", "defaultExpiresInSeconds"),
    ("TIMEOUT_MS", "timeoutMs"),
    ("MAX_RETRIES", "maxRetries"),
    ("MAX_WAIT_MS", "maxWaitMs"),
    ("ALLOW_INSECURE_HTTP", "allowInsecureHttp"),
];

/// A key callers present to use the proxy. Compared in constant time, never printed.
#[derive(Clone)]
pub struct ProxyKey(ClientSecret);

impl fmt::Debug for ProxyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyKey([redacted])")
    }
}

/// Who may use the proxy.
#[derive(Clone, Debug)]
pub enum Access {
    /// Callers must present one of these keys.
    Keys(Vec<ProxyKey>),
    /// Anyone (`ALLOW_ANONYMOUS=true`: for Workers reached only through service bindings).
    Anonymous,
}

/// The validated proxy configuration.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The token client's configuration.
    pub client: Config,
    /// `ORIGIN_URL` without a trailing slash, query or fragment.
    pub origin_base: String,
    /// `scheme://host[:port]` of `ORIGIN_URL`, lowercased.
    pub origin: String,
    /// Inbound access control.
    pub access: Access,
    /// The header callers put their key in, lowercased.
    pub key_header: String,
    /// `LOG_LEVEL=debug`: one structured line per request.
    pub debug_log: bool,
}

fn config_error(var: &'static str, message: impl Into<String>) -> TokenError {
    TokenError::config(var, message)
}

/// The Worker var that sets a `TokenClient` option (the name itself for the Worker's own).
pub fn var_name(option: &'static str) -> &'static str {
    VAR_NAMES
        .iter()
        .find(|(_, o)| *o == option)
        .map_or(option, |(var, _)| var)
}

/// Builds the proxy configuration from Worker vars and secrets (`var(name)`), with URLs read by
/// the platform's parser. Errors name the variable to fix and never quote a secret.
pub fn proxy_config(
    var: impl Fn(&str) -> Option<String>,
    urls: &impl UrlParser,
) -> Result<ProxyConfig, TokenError> {
    let get = |name: &str| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let number = |name: &'static str| -> Result<Option<f64>, TokenError> {
        get(name)
            .map(|text| {
                text.parse::<f64>()
                    .map_err(|_| config_error(name, format!("{name} must be a number")))
            })
            .transpose()
    };
    let flag = |name: &'static str| -> Result<bool, TokenError> {
        match get(name).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(config_error(name, format!("{name} must be true or false"))),
        }
    };

    let origin_url = get("ORIGIN_URL").ok_or_else(|| {
        config_error(
            "ORIGIN_URL",
            "ORIGIN_URL is required: the URL requests are forwarded to",
        )
    })?;
    let (origin, origin_base) = split_origin(&origin_url)?;

    let keycloak = match (get("KEYCLOAK_BASE_URL"), get("KEYCLOAK_REALM")) {
        (Some(base), Some(realm)) => Some((base, realm)),
        (None, None) => None,
        _ => {
            return Err(config_error(
                "KEYCLOAK_REALM",
                "set both KEYCLOAK_BASE_URL and KEYCLOAK_REALM, or neither",
            ))
        }
    };
    let input = ConfigInput {
        token_url: get("TOKEN_URL"),
        issuer: get("ISSUER"),
        keycloak,
        client_id: get("CLIENT_ID"),
        // Line breaks trimmed: `echo … | wrangler secret put` leaves one at the end.
        client_secret: var("CLIENT_SECRET")
            .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
            .filter(|s| !s.is_empty())
            .map(ClientSecret::new),
        auth_method: get("AUTH_METHOD"),
        basic_auth_encoding: get("BASIC_AUTH_ENCODING"),
        scope: get("SCOPE")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        header_name: get("AUTH_HEADER"),
        refresh_ahead_seconds: number("REFRESH_AHEAD_SECONDS")?,
        expiry_margin_seconds: number("EXPIRY_MARGIN_SECONDS")?,
        default_expires_in_seconds: number("DEFAULT_EXPIRES_IN_SECONDS")?,
        timeout_ms: number("TIMEOUT_MS")?,
        max_retries: number("MAX_RETRIES")?,
        max_wait_ms: number("MAX_WAIT_MS")?,
        allow_insecure_http: flag("ALLOW_INSECURE_HTTP")?,
        ..ConfigInput::default()
    };
    let endpoints = [
        input.token_url.is_some(),
        input.issuer.is_some(),
        input.keycloak.is_some(),
    ];
    match endpoints.iter().filter(|set| **set).count() {
        0 => {
            return Err(config_error(
                "TOKEN_URL",
                "set TOKEN_URL, ISSUER, or KEYCLOAK_BASE_URL and KEYCLOAK_REALM",
            ))
        }
        1 => {}
        _ => {
            return Err(config_error(
                "TOKEN_URL",
                "set only one of TOKEN_URL, ISSUER, or KEYCLOAK_BASE_URL and KEYCLOAK_REALM",
            ))
        }
    }
    let var_names = |error| match error {
        TokenError::Config { option, message } => {
            config_error(var_name(option), with_var_names(&message))
        }
        other => other,
    };
    let client = input.validate(urls).map_err(var_names)?;
    check_endpoint_url("ORIGIN_URL", &origin_url, client.allow_insecure_http, urls)
        .map_err(var_names)?;

    let keys: Vec<ProxyKey> = get("PROXY_KEYS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| ProxyKey(ClientSecret::new(k)))
        .collect();
    let access = match (keys.is_empty(), flag("ALLOW_ANONYMOUS")?) {
        (false, _) => Access::Keys(keys),
        (true, true) => Access::Anonymous,
        (true, false) => {
            return Err(config_error(
                "PROXY_KEYS",
                "PROXY_KEYS is not set: set it (wrangler secret put PROXY_KEYS) to the comma-separated keys callers may present, or ALLOW_ANONYMOUS=true if this Worker is reached only through service bindings",
            ))
        }
    };
    let key_header = get("PROXY_KEY_HEADER")
        .unwrap_or_else(|| "Proxy-Authorization".into())
        .to_ascii_lowercase();
    if !crate::config::is_header_name(&key_header) {
        return Err(config_error(
            "PROXY_KEY_HEADER",
            "PROXY_KEY_HEADER must be a valid HTTP header name such as X-Proxy-Key",
        ));
    }
    Ok(ProxyConfig {
        client,
        origin_base,
        origin,
        access,
        key_header,
        debug_log: get("LOG_LEVEL").is_some_and(|l| l.eq_ignore_ascii_case("debug")),
    })
}

/// Rewrites TokenClient option names in a validation message into Worker var names. Quoted
/// parts (`'...'`) are the caller's own values, such as a host, and are left as they are.
fn with_var_names(message: &str) -> String {
    let rewrite = |text: &str| {
        VAR_NAMES
            .iter()
            .rev()
            .fold(text.to_owned(), |text, (var, option)| {
                text.replace(option, var)
            })
    };
    message
        .split('\'')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                part.to_owned()
            } else {
                rewrite(part)
            }
        })
        .collect::<Vec<_>>()
        .join("'")
}

/// `(origin, base)` of an origin URL: `https://Api.example.com:8443/v1/?q` →
/// (`https://api.example.com:8443`, `https://api.example.com:8443/v1`).
fn split_origin(url: &str) -> Result<(String, String), TokenError> {
    let bad = || {
        config_error("ORIGIN_URL", "ORIGIN_URL must be an absolute http(s) URL without query, fragment or credentials, such as https://api.example.com/v1")
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if !(scheme == "https" || scheme == "http") || url.contains(['?', '#', '\\']) {
        return Err(bad());
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let origin = format!("{scheme}://{}", authority.to_ascii_lowercase());
    Ok((
        origin.clone(),
        format!("{origin}{}", path.trim_end_matches('/')),
    ))
}

/// Why an inbound request is refused before anything is forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No key, or a wrong one: 401.
    Unauthorized,
    /// A path that could escape the origin's base path: 400.
    BadPath,
}

/// Whether the caller presented one of the keys. The value may be `Bearer <key>` or the key
/// alone; every key is compared, in constant time, whatever matched before.
pub fn check_access(access: &Access, presented: Option<&str>) -> Result<(), Refusal> {
    let Access::Keys(keys) = access else {
        return Ok(());
    };
    let presented = presented.unwrap_or("").trim();
    let presented = match presented.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => presented,
    };
    let matched = keys.iter().fold(false, |found, key| {
        found | constant_time_eq(key.0.expose().as_bytes(), presented.as_bytes())
    });
    if matched && !presented.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Unauthorized)
    }
}

/// Whether `presented` equals `key`, in a time that depends on the key's length only: every
/// byte of the key is compared (with the presented bytes taken round-robin), whatever the
/// presented length and wherever the bytes differ.
fn constant_time_eq(key: &[u8], presented: &[u8]) -> bool {
    let count = presented.len().max(1);
    let differ = key.iter().enumerate().fold(0u8, |acc, (i, x)| {
        acc | (x ^ presented.get(i % count).copied().unwrap_or(0))
    });
    (differ == 0) & (key.len() == presented.len())
}

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

/// The URL to forward to: the inbound path and query appended to the origin's base path.
/// `path_and_query` is what the runtime parsed (it starts with `/`); dot segments, raw or
/// percent-encoded, are refused even so, and the result always starts with the origin.
pub fn upstream_url(config: &ProxyConfig, path_and_query: &str) -> Result<String, Refusal> {
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
    Ok(format!("{}{path}{query}", config.origin_base))
}

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
    config: &'a ProxyConfig,
    connection: &'a str,
) -> impl Iterator<Item = &'a str> {
    hop_by_hop_headers(connection).chain([
        "host",
        "authorization",
        config.key_header.as_str(),
        config.client.header_name.as_str(),
    ])
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

/// Whether an inbound request header is dropped on the way to the origin.
pub fn drop_request_header(config: &ProxyConfig, name: &str, connection: &str) -> bool {
    request_headers_to_drop(config, connection).any(|dropped| dropped.eq_ignore_ascii_case(name))
}

/// Whether a response header from the origin is dropped on the way back.
pub fn drop_response_header(name: &str, connection: &str) -> bool {
    hop_by_hop_headers(connection).any(|dropped| dropped.eq_ignore_ascii_case(name))
}

/// Whether a request body of `length` bytes (`None`: unknown, i.e. streamed) is buffered so
/// that the request can be retried after an origin 401.
pub fn buffer_for_replay(has_body: bool, length: Option<u64>) -> bool {
    !has_body || length.is_some_and(|len| len <= REPLAY_LIMIT_BYTES)
}

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

/// `Server-Timing: token;dur=…;desc="cache|fetch|refresh"`.
pub fn server_timing(source: TokenSource, duration_ms: f64) -> String {
    let desc = match source {
        TokenSource::Cache => "cache",
        TokenSource::Fetch => "fetch",
        TokenSource::Refresh => "refresh",
    };
    // Tenths by integer arithmetic: float formatting is slow on the hot path.
    let tenths = (duration_ms * 10.0 + 0.5) as u64;
    format!("token;dur={}.{};desc=\"{desc}\"", tenths / 10, tenths % 10)
}
