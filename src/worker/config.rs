//! The Worker's configuration from its vars and secrets: the token client's options under
//! their Worker names, the origin, who may call, and the logging level. Errors name the var
//! to fix and never quote a secret.

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};
use core::fmt;

use crate::config::{check_endpoint_url, Config, ConfigInput, UrlParser};
use crate::error::TokenError;
use crate::secret::ClientSecret;

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
pub struct ProxyKey(pub(super) ClientSecret);

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
    let origin_base = origin_base(&origin_url)?;

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

/// The base requests are appended to: `https://Api.example.com:8443/v1/` →
/// `https://api.example.com:8443/v1` (scheme and host lowercased, no trailing slash).
fn origin_base(url: &str) -> Result<String, TokenError> {
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
    Ok(format!(
        "{scheme}://{}{}",
        authority.to_ascii_lowercase(),
        path.trim_end_matches('/')
    ))
}
