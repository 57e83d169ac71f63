//! Client configuration and its validation. Bad configuration fails here, at construction,
//! with a message that names the option and says what to fix.

use crate::error::TokenError;
use crate::secret::{ClientSecret, Password, Username};
use alloc::{string::String, vec::Vec};

/// Where the token endpoint is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The token endpoint URL itself.
    TokenUrl(String),
    /// An issuer whose discovery document names the token endpoint.
    Issuer(String),
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic base64(client_id:client_secret)`.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the body, no secret.
    None,
}

impl AuthMethod {
    /// The registered name, as in discovery metadata.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::ClientSecretBasic, Self::ClientSecretPost, Self::None]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// The grant a client uses to get its first token, and again when refreshing is impossible.
#[derive(Clone, Debug, Default)]
pub enum GrantConfig {
    /// `grant_type=client_credentials`.
    #[default]
    ClientCredentials,
    /// The resource owner password credentials grant (RFC 6749 §4.3).
    Password {
        /// The resource owner's username.
        username: Username,
        /// The resource owner's password.
        password: Password,
    },
}

/// How `client_secret_basic` encodes the id and secret before base64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BasicAuthEncoding {
    /// Form-urlencode each, as RFC 6749 §2.3.1 requires.
    #[default]
    Rfc6749,
    /// As they are: what many servers actually expect (golang/oauth2#414).
    Raw,
}

/// Options as a caller gives them; every field optional until [`ConfigInput::validate`].
#[derive(Clone, Debug, Default)]
pub struct ConfigInput {
    /// Explicit token endpoint.
    pub token_url: Option<String>,
    /// Issuer for discovery.
    pub issuer: Option<String>,
    /// Keycloak base URL and realm.
    pub keycloak: Option<(String, String)>,
    /// The client id.
    pub client_id: Option<String>,
    /// The client secret.
    pub client_secret: Option<ClientSecret>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub auth_method: Option<String>,
    /// `rfc6749` or `raw`.
    pub basic_auth_encoding: Option<String>,
    /// The original grant; client credentials when absent.
    pub grant: GrantConfig,
    /// Scopes, sent space-separated.
    pub scope: Vec<String>,
    /// Extra form parameters (audience, resource, ...).
    pub extra_params: Vec<(String, String)>,
    /// The request header that carries the token.
    pub header_name: Option<String>,
    /// Seconds before expiry when a background refresh starts.
    pub refresh_ahead_seconds: Option<f64>,
    /// Seconds before expiry when a token is no longer handed out.
    pub expiry_margin_seconds: Option<f64>,
    /// Lifetime assumed when the server says nothing.
    pub default_expires_in_seconds: Option<f64>,
    /// Per-attempt timeout.
    pub timeout_ms: Option<f64>,
    /// Retries after the first attempt.
    pub max_retries: Option<f64>,
    /// The longest a caller waits for a renewal, retries and their waits included.
    pub max_wait_ms: Option<f64>,
    /// Allow plain http to hosts other than loopback.
    pub allow_insecure_http: bool,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the token endpoint is.
    pub endpoint: Endpoint,
    /// The client id.
    pub client_id: String,
    /// The client secret, absent for public clients.
    pub client_secret: Option<ClientSecret>,
    /// The auth method the caller chose; `None` lets discovery decide (default basic).
    pub auth_method: Option<AuthMethod>,
    /// How Basic credentials are encoded.
    pub basic_auth_encoding: BasicAuthEncoding,
    /// The original grant.
    pub grant: GrantConfig,
    /// Space-separated scopes, if any.
    pub scope: Option<String>,
    /// Extra form parameters.
    pub extra_params: Vec<(String, String)>,
    /// The request header that carries the token.
    pub header_name: String,
    /// Timing rules for the cache.
    pub timing: Timing,
    /// Per-attempt timeout in milliseconds.
    pub timeout_ms: u64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest a renewal may keep its callers waiting, in milliseconds.
    pub max_wait_ms: u64,
    /// Whether plain http to non-loopback hosts is allowed.
    pub allow_insecure_http: bool,
}

/// The cache's timing options, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long before expiry a background refresh starts.
    pub refresh_ahead_ms: u64,
    /// How long before expiry a token stops being handed out.
    pub expiry_margin_ms: u64,
    /// Lifetime assumed when neither `expires_in` nor a JWT `exp` is known.
    pub default_expires_in_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            refresh_ahead_ms: 60_000,
            expiry_margin_ms: 10_000,
            default_expires_in_ms: 300_000,
        }
    }
}

/// Parameters the client sets itself; `extraParams` may not override them.
const RESERVED_PARAMS: [&str; 7] = [
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "username",
    "password",
    "refresh_token",
];

fn config_error(option: &'static str, message: impl Into<String>) -> TokenError {
    TokenError::config(option, message)
}

impl ConfigInput {
    /// Checks every option and builds the configuration. URLs are read by `urls`, the
    /// platform's WHATWG parser: the one `fetch` will read them with.
    pub fn validate(self, urls: &impl UrlParser) -> Result<Config, TokenError> {
        let insecure = self.allow_insecure_http;
        let endpoint = match (self.token_url, self.issuer, self.keycloak) {
            (Some(url), None, None) => {
                check_endpoint_url("tokenUrl", &url, insecure, urls)?;
                Endpoint::TokenUrl(url)
            }
            (None, Some(issuer), None) => {
                check_endpoint_url("issuer", &issuer, insecure, urls)?;
                Endpoint::Issuer(issuer)
            }
            (None, None, Some((base, realm))) => {
                check_endpoint_url("keycloak.baseUrl", &base, insecure, urls)?;
                if realm.is_empty() {
                    return Err(config_error(
                        "keycloak.realm",
                        "keycloak.realm must not be empty",
                    ));
                }
                Endpoint::TokenUrl(
                    [
                        base.trim_end_matches('/'),
                        "/realms/",
                        &crate::request::percent_encode(&realm, false),
                        "/protocol/openid-connect/token",
                    ]
                    .concat(),
                )
            }
            _ => {
                return Err(config_error(
                    "tokenUrl",
                    "give exactly one of tokenUrl, issuer or keycloak: { baseUrl, realm }",
                ))
            }
        };

        let client_id = self
            .client_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| config_error("clientId", "clientId is required"))?;

        let auth_method = match self.auth_method.as_deref() {
            None => None,
            Some(name) => Some(AuthMethod::from_name(name).ok_or_else(|| {
                config_error("authMethod", [
                    "authMethod '",
                    name,
                    "' is not supported: use 'client_secret_basic', 'client_secret_post' or 'none'",
                ].concat())
            })?),
        };
        match (auth_method, &self.client_secret) {
            (Some(AuthMethod::None), Some(_)) => {
                return Err(config_error(
                    "clientSecret",
                    "authMethod 'none' sends no secret: remove clientSecret or choose another authMethod",
                ))
            }
            (Some(AuthMethod::None), None) => {}
            (_, None) => {
                return Err(config_error(
                    "clientSecret",
                    "clientSecret is required (or set authMethod: 'none' for a public client)",
                ))
            }
            (_, Some(secret)) if secret.expose().is_empty() => {
                return Err(config_error("clientSecret", "clientSecret must not be empty"))
            }
            _ => {}
        }

        let basic_auth_encoding = match self.basic_auth_encoding.as_deref() {
            None | Some("rfc6749") => BasicAuthEncoding::Rfc6749,
            Some("raw") => BasicAuthEncoding::Raw,
            Some(other) => {
                return Err(config_error(
                    "basicAuthEncoding",
                    [
                        "basicAuthEncoding '",
                        other,
                        "' is not supported: use 'rfc6749' (the default) or 'raw'",
                    ]
                    .concat(),
                ))
            }
        };
        if let GrantConfig::Password { username, .. } = &self.grant {
            if username.expose().is_empty() {
                return Err(config_error(
                    "grant.username",
                    "grant.username must not be empty",
                ));
            }
        }

        for scope in &self.scope {
            if scope.is_empty() || !scope.bytes().all(is_scope_char) {
                return Err(config_error(
                    "scope",
                    "scope: each scope must be non-empty printable ASCII without spaces, quotes or backslashes (pass several as an array or one space-separated string)",
                ));
            }
        }
        let scope = (!self.scope.is_empty()).then(|| self.scope.join(" "));

        for (name, _) in &self.extra_params {
            if name.is_empty() {
                return Err(config_error(
                    "extraParams",
                    "extraParams: parameter names must not be empty",
                ));
            }
            if RESERVED_PARAMS.contains(&name.as_str()) {
                return Err(config_error(
                    "extraParams",
                    [
                        "extraParams: '",
                        name,
                        "' is set by the client itself; use the matching option instead",
                    ]
                    .concat(),
                ));
            }
        }

        let header_name = self.header_name.unwrap_or_else(|| "Authorization".into());
        if !is_header_name(&header_name) {
            return Err(config_error(
                "headerName",
                "headerName must be a valid HTTP header name such as 'Authorization'",
            ));
        }

        let timing = Timing {
            refresh_ahead_ms: seconds_option(
                "refreshAheadSeconds",
                self.refresh_ahead_seconds,
                60.0,
                true,
            )?,
            expiry_margin_ms: seconds_option(
                "expiryMarginSeconds",
                self.expiry_margin_seconds,
                10.0,
                true,
            )?,
            default_expires_in_ms: seconds_option(
                "defaultExpiresInSeconds",
                self.default_expires_in_seconds,
                300.0,
                false,
            )?,
        };
        let timeout_ms = millis_option("timeoutMs", self.timeout_ms)?;
        let max_wait_ms = millis_option("maxWaitMs", self.max_wait_ms)?;
        let max_retries = match self.max_retries {
            None => 2,
            Some(n) if (0.0..=10.0).contains(&n) && n == f64::from(n as u32) => n as u32,
            Some(_) => {
                return Err(config_error(
                    "maxRetries",
                    "maxRetries must be a whole number from 0 to 10",
                ))
            }
        };

        Ok(Config {
            endpoint,
            client_id,
            client_secret: self.client_secret,
            auth_method,
            basic_auth_encoding,
            grant: self.grant,
            scope,
            extra_params: self.extra_params,
            header_name,
            timing,
            timeout_ms,
            max_retries,
            max_wait_ms,
            allow_insecure_http: insecure,
        })
    }
}

/// A duration in milliseconds from 1 to 600000; 10000 when not given.
fn millis_option(name: &'static str, value: Option<f64>) -> Result<u64, TokenError> {
    match value {
        None => Ok(10_000),
        Some(ms) if (1.0..=600_000.0).contains(&ms) => Ok(ms as u64),
        Some(_) => Err(config_error(
            name,
            [name, " must be a number of milliseconds from 1 to 600000"].concat(),
        )),
    }
}

fn seconds_option(
    name: &'static str,
    value: Option<f64>,
    default: f64,
    zero_ok: bool,
) -> Result<u64, TokenError> {
    let seconds = value.unwrap_or(default);
    let valid = seconds.is_finite()
        && seconds <= 86_400.0
        && (seconds > 0.0 || (zero_ok && seconds == 0.0));
    if !valid {
        let low = if zero_ok { "0" } else { "more than 0" };
        return Err(config_error(
            name,
            [name, " must be a number of seconds from ", low, " to 86400"].concat(),
        ));
    }
    Ok((seconds * 1000.0) as u64)
}

/// RFC 6749 §3.3 scope-token characters.
fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// Whether `name` is a valid HTTP header name (RFC 9110 `token`).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_header_name_char)
}

/// RFC 9110 `tchar`.
fn is_header_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What the platform's WHATWG URL parser (`new URL(text)`) makes of a URL, as far as the
/// client's rules need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedUrl {
    /// The scheme, lowercased, without its colon: `https`.
    pub scheme: String,
    /// The host as `fetch` will connect to it: `127.0.0.1`, `[::1]`, `example.com`.
    pub hostname: String,
    /// Whether the URL carries a username or a password.
    pub has_credentials: bool,
}

/// The platform's WHATWG URL parser: `URL` in JS runtimes (an adapter's), the `url` crate in
/// native tests. The core never parses URLs by hand: a backslash, a tab or an odd IPv4 form
/// would read differently from how `fetch` reads them.
pub trait UrlParser {
    /// Parses `text`; `None` when it is not a valid absolute URL.
    fn parse_url(&self, text: &str) -> Option<ParsedUrl>;
}

/// Why `url` may not be a token endpoint (or issuer), or `None` when it may: an absolute https
/// URL, or http to loopback, or http anywhere when the caller opted in; no credentials, no
/// fragment. The words follow the option's name in a message.
pub fn endpoint_url_problem(
    url: &str,
    allow_insecure_http: bool,
    urls: &impl UrlParser,
) -> Option<String> {
    let Some(parsed) = urls.parse_url(url) else {
        return Some(" must be an absolute URL such as https://auth.example.com/token".into());
    };
    if parsed.has_credentials {
        return Some(
            " must not carry credentials in the URL: use clientId and clientSecret".into(),
        );
    }
    if url.contains('#') {
        return Some(" must not have a #fragment".into());
    }
    match parsed.scheme.as_str() {
        "https" => None,
        "http" if allow_insecure_http || is_loopback(&parsed.hostname) => None,
        "http" => Some([
            " uses plain http to '",
            &parsed.hostname,
            "', which would send credentials and tokens unencrypted: use https, or set allowInsecureHttp: true if this host is on a network you trust",
        ].concat()),
        _ => Some(" must use https:// (or http:// with allowInsecureHttp)".into()),
    }
}

/// [`endpoint_url_problem`] as a config error for `option`.
pub fn check_endpoint_url(
    option: &'static str,
    url: &str,
    allow_insecure_http: bool,
    urls: &impl UrlParser,
) -> Result<(), TokenError> {
    match endpoint_url_problem(url, allow_insecure_http, urls) {
        Some(problem) => Err(config_error(option, [option, &problem].concat())),
        None => Ok(()),
    }
}

/// Loopback hosts as the WHATWG parser writes them, where plain http never leaves the
/// machine: `localhost`, `127.0.0.0/8` and `[::1]`.
pub fn is_loopback(hostname: &str) -> bool {
    hostname == "localhost"
        || hostname == "[::1]"
        || hostname.strip_prefix("127.").is_some_and(|rest| {
            rest.split('.').count() == 3 && rest.split('.').all(|p| p.parse::<u8>().is_ok())
        })
}
