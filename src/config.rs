//! Client configuration and its validation. Bad configuration fails here, at construction,
//! with a message that names the option and says what to fix.

use crate::error::TokenError;
use crate::name;
use crate::options::*;
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
    /// The device authorization grant (RFC 8628): a user approves on another device. Its
    /// token is renewed through the refresh token only; without one, a user must sign in again.
    DeviceCode,
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
/// Each field is a row of [`crate::options`], which says its name, default and limits.
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
    /// The device authorization endpoint (RFC 8628).
    pub device_authorization_url: Option<String>,
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
    /// Whose names the messages use: the npm options' or the Worker vars'.
    pub names: Surface,
}

/// Where settings come from: the npm package's options (their types checked by
/// `options.js`) or the Worker's vars (text). Each method reads one [`Setting`] by its name on
/// [`Source::surface`]; absent is `None`.
pub trait Source {
    /// Whose names the settings have.
    fn surface(&self) -> Surface;
    /// A text setting.
    fn text(&self, name: Name) -> Option<String>;
    /// A secret: text, of which no character is trimmed but line breaks at its end.
    fn secret(&self, name: Name) -> Option<String>;
    /// A number setting; NaN when it is given but is not a number.
    fn number(&self, name: Name) -> Option<f64>;
    /// A flag; an error when it is given but is neither true nor false.
    fn flag(&self, name: Name) -> Result<bool, TokenError>;
    /// A list: scope names, or `extraParams` as name, value, name, value.
    fn list(&self, name: Name) -> Vec<String>;
}

impl ConfigInput {
    /// Reads every client setting from `source`.
    /// `dyn`: one copy of this for every source (the Worker has two: its vars and `ROUTES`).
    pub fn read(source: &dyn Source) -> Result<Self, TokenError> {
        Self::read_from(source)
    }

    /// [`read`](Self::read) compiled for one kind of source, its reads inlined: the npm
    /// package has only its options (650 B less gzipped wasm than through `dyn`).
    pub fn read_from<S: Source + ?Sized>(source: &S) -> Result<Self, TokenError> {
        let names = source.surface();
        // What can fail is read first: nothing read before it needs dropping on the way out.
        let allow_insecure_http = source.flag(name!(ALLOW_INSECURE_HTTP))?;
        let keycloak = match (
            source.text(name!(KEYCLOAK_BASE_URL)),
            source.text(name!(KEYCLOAK_REALM)),
        ) {
            (Some(base), Some(realm)) => Some((base, realm)),
            (None, None) => None,
            _ => {
                let base = names.of(name!(KEYCLOAK_BASE_URL));
                let realm = names.of(name!(KEYCLOAK_REALM));
                let message = ["set both ", base, " and ", realm, ", or neither"].concat();
                return Err(TokenError::config(realm, message));
            }
        };
        let grant_type = source.text(name!(GRANT_TYPE));
        let grant = match choice(names, const { GRANT_TYPE.choice() }, grant_type.as_deref())? {
            Some("password") => {
                let required = |name| {
                    let problem = " is required for grant.type 'password'";
                    source
                        .secret(name)
                        .ok_or_else(|| config_problem(names, name, problem))
                };
                GrantConfig::Password {
                    username: Username::new(required(name!(GRANT_USERNAME))?),
                    password: Password::new(required(name!(GRANT_PASSWORD))?),
                }
            }
            Some("device_code") => GrantConfig::DeviceCode,
            _ => GrantConfig::ClientCredentials,
        };
        // Name, value, name, value: moved into pairs (a name left without a value is dropped).
        let mut list = source.list(name!(EXTRA_PARAMS)).into_iter();
        let mut extra_params = Vec::new();
        while let (Some(name), Some(value)) = (list.next(), list.next()) {
            extra_params.push((name, value));
        }
        Ok(Self {
            token_url: source.text(name!(TOKEN_URL)),
            issuer: source.text(name!(ISSUER)),
            keycloak,
            client_id: source.text(name!(CLIENT_ID)),
            client_secret: source.secret(name!(CLIENT_SECRET)).map(ClientSecret::new),
            auth_method: source.text(name!(AUTH_METHOD)),
            basic_auth_encoding: source.text(name!(BASIC_AUTH_ENCODING)),
            grant,
            scope: source.list(name!(SCOPE)),
            extra_params,
            device_authorization_url: source.text(name!(DEVICE_AUTHORIZATION_URL)),
            header_name: source.text(name!(HEADER_NAME)),
            refresh_ahead_seconds: source.number(name!(REFRESH_AHEAD_SECONDS)),
            expiry_margin_seconds: source.number(name!(EXPIRY_MARGIN_SECONDS)),
            default_expires_in_seconds: source.number(name!(DEFAULT_EXPIRES_IN_SECONDS)),
            timeout_ms: source.number(name!(TIMEOUT_MS)),
            max_retries: source.number(name!(MAX_RETRIES)),
            max_wait_ms: source.number(name!(MAX_WAIT_MS)),
            allow_insecure_http,
            names,
        })
    }
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
    /// The device authorization endpoint, when configured or derived (Keycloak); else
    /// discovery gives it.
    pub device_authorization_url: Option<String>,
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
    /// Whose names messages use.
    pub names: Surface,
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
    /// The settings' defaults.
    fn default() -> Self {
        let ms = |(_, limits): (Name, Limits)| (limits.default * 1000.0) as u64;
        Self {
            refresh_ahead_ms: ms(const { REFRESH_AHEAD_SECONDS.number() }),
            expiry_margin_ms: ms(const { EXPIRY_MARGIN_SECONDS.number() }),
            default_expires_in_ms: ms(const { DEFAULT_EXPIRES_IN_SECONDS.number() }),
        }
    }
}

/// Parameters the client sets itself; `extraParams` may not override them.
const RESERVED_PARAMS: [&str; 8] = [
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "username",
    "password",
    "refresh_token",
    "device_code",
];

impl ConfigInput {
    /// Checks every option and builds the configuration. URLs are read by `urls`, the
    /// platform's WHATWG parser: the one `fetch` will read them with. Messages name each
    /// setting as [`ConfigInput::names`] does.
    pub fn validate(self, urls: &impl UrlParser) -> Result<Config, TokenError> {
        let names = self.names;
        let problem = |name: Name, text: &str| Err(config_problem(names, name, text));
        // Numbers first: an error before any field is moved out drops `self` in one piece.
        let number = |(name, limits), value| checked_number(names, name, &limits, value);
        let millis = |setting, value| number(setting, value).map(|n| n as u64);
        let seconds = |setting, value| number(setting, value).map(|n| (n * 1000.0) as u64);
        let timing = Timing {
            refresh_ahead_ms: seconds(
                const { REFRESH_AHEAD_SECONDS.number() },
                self.refresh_ahead_seconds,
            )?,
            expiry_margin_ms: seconds(
                const { EXPIRY_MARGIN_SECONDS.number() },
                self.expiry_margin_seconds,
            )?,
            default_expires_in_ms: seconds(
                const { DEFAULT_EXPIRES_IN_SECONDS.number() },
                self.default_expires_in_seconds,
            )?,
        };
        let timeout_ms = millis(const { TIMEOUT_MS.number() }, self.timeout_ms)?;
        let max_retries = number(const { MAX_RETRIES.number() }, self.max_retries)? as u32;
        let max_wait_ms = millis(const { MAX_WAIT_MS.number() }, self.max_wait_ms)?;
        let insecure = self.allow_insecure_http;
        // Every check borrows, so that an error drops `self` in one piece; building the
        // configuration at the end cannot fail.
        // Keycloak's endpoints share one base: `{baseUrl}/realms/{realm}/protocol/openid-connect`.
        let mut keycloak_base = None;
        let endpoint = match (&self.token_url, &self.issuer, &self.keycloak) {
            (Some(url), None, None) => {
                check_endpoint_url(names, name!(TOKEN_URL), url, insecure, urls)?;
                Endpoint::TokenUrl(url.clone())
            }
            (None, Some(url), None) => {
                check_endpoint_url(names, name!(ISSUER), url, insecure, urls)?;
                Endpoint::Issuer(url.clone())
            }
            (None, None, Some((base, realm))) => {
                check_endpoint_url(names, name!(KEYCLOAK_BASE_URL), base, insecure, urls)?;
                if realm.is_empty() {
                    return problem(name!(KEYCLOAK_REALM), " must not be empty");
                }
                let realm = crate::request::percent_encode(realm, false);
                let base = [
                    trim_end(base, "/"),
                    "/realms/",
                    &realm,
                    "/protocol/openid-connect",
                ];
                let base = keycloak_base.insert(base.concat());
                Endpoint::TokenUrl([base, "/token"].concat())
            }
            // The Worker says this in its own words before it gets here.
            _ => {
                return Err(TokenError::config(
                    names.of(name!(TOKEN_URL)),
                    "give exactly one of tokenUrl, issuer or keycloak: { baseUrl, realm }",
                ))
            }
        };

        if self.client_id.as_deref().map_or(true, str::is_empty) {
            return problem(name!(CLIENT_ID), " is required");
        }

        if let Some(url) = &self.device_authorization_url {
            check_endpoint_url(names, name!(DEVICE_AUTHORIZATION_URL), url, insecure, urls)?;
        }
        let device_authorization_url = self
            .device_authorization_url
            .clone()
            .or_else(|| keycloak_base.map(|base| [&base, "/auth/device"].concat()));
        let device = matches!(self.grant, GrantConfig::DeviceCode);
        if device && device_authorization_url.is_none() && matches!(endpoint, Endpoint::TokenUrl(_))
        {
            return problem(
                name!(DEVICE_AUTHORIZATION_URL),
                " is required for grant.type 'device_code' with tokenUrl (issuer and keycloak give it themselves)",
            );
        }

        let method = choice(
            names,
            const { AUTH_METHOD.choice() },
            self.auth_method.as_deref(),
        )?
        .and_then(AuthMethod::from_name);
        match (method, &self.client_secret) {
            (Some(AuthMethod::None), Some(_)) => {
                let (secret, method) =
                    (names.of(name!(CLIENT_SECRET)), names.of(name!(AUTH_METHOD)));
                let text = [
                    method,
                    " 'none' sends no secret: remove ",
                    secret,
                    " or choose another ",
                    method,
                ];
                return Err(TokenError::config(secret, text.concat()));
            }
            (Some(AuthMethod::None), None) => {}
            (_, None) => {
                let public = names.assignment(name!(AUTH_METHOD), "'none'");
                return problem(
                    name!(CLIENT_SECRET),
                    &[" is required (or set ", &public, " for a public client)"].concat(),
                );
            }
            (_, Some(value)) if value.expose().is_empty() => {
                return problem(name!(CLIENT_SECRET), " must not be empty")
            }
            _ => {}
        }

        let encoding = match choice(
            names,
            const { BASIC_AUTH_ENCODING.choice() },
            self.basic_auth_encoding.as_deref(),
        )? {
            Some("raw") => BasicAuthEncoding::Raw,
            _ => BasicAuthEncoding::Rfc6749,
        };
        if let GrantConfig::Password { username, .. } = &self.grant {
            if username.expose().is_empty() {
                return problem(name!(GRANT_USERNAME), " must not be empty");
            }
        }

        if !self
            .scope
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(is_scope_char))
        {
            return problem(name!(SCOPE), names.scope_problem());
        }

        for (param, _) in &self.extra_params {
            if param.is_empty() {
                return problem(name!(EXTRA_PARAMS), ": parameter names must not be empty");
            }
            if RESERVED_PARAMS.contains(&param.as_str()) {
                let text = [
                    ": '",
                    param,
                    "' is set by the client itself; use the matching option instead",
                ];
                return problem(name!(EXTRA_PARAMS), &text.concat());
            }
        }

        if !self.header_name.as_deref().map_or(true, is_header_name) {
            return problem(
                name!(HEADER_NAME),
                " must be a valid HTTP header name such as 'Authorization'",
            );
        }

        Ok(Config {
            endpoint,
            client_id: self.client_id.unwrap_or_default(),
            client_secret: self.client_secret,
            auth_method: method,
            basic_auth_encoding: encoding,
            grant: self.grant,
            scope: (!self.scope.is_empty()).then(|| self.scope.join(" ")),
            extra_params: self.extra_params,
            device_authorization_url,
            header_name: self
                .header_name
                .unwrap_or_else(|| const { HEADER_NAME.default }.into()),
            timing,
            timeout_ms,
            max_retries,
            max_wait_ms,
            allow_insecure_http: insecure,
            names,
        })
    }
}

/// A config error for `name`: its name as `names` writes it, then `text`.
fn config_problem(names: Surface, name: Name, text: &str) -> TokenError {
    let name = names.of(name);
    TokenError::config(name, [name, text].concat())
}

/// `value` if it is within `limits`, their default if it is absent, else an error that says
/// what the setting may be: `timeoutMs must be a number of milliseconds from 1 to 600000`.
pub fn checked_number(
    names: Surface,
    name: Name,
    limits: &Limits,
    value: Option<f64>,
) -> Result<f64, TokenError> {
    match value {
        None => Ok(limits.default),
        Some(value) if limits.allows(value) => Ok(value),
        Some(_) => Err(config_problem(
            names,
            name,
            &[" must be ", limits.text].concat(),
        )),
    }
}

/// `value` if it is one of `choices` (as the static name), `None` if absent, else an error
/// that lists them: `basicAuthEncoding 'x' is not supported: use 'rfc6749' (the default) or 'raw'`.
fn choice(
    names: Surface,
    (name, choices, listed): (Name, &'static [&'static str], &str),
    value: Option<&str>,
) -> Result<Option<&'static str>, TokenError> {
    let Some(value) = value else { return Ok(None) };
    match choices.iter().find(|c| **c == value) {
        Some(found) => Ok(Some(found)),
        None => {
            let text = [" '", value, "' is not supported: use ", listed].concat();
            Err(config_problem(names, name, &text))
        }
    }
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
/// fragment. The words follow the setting's name in a message, and name settings as `names`.
pub fn endpoint_url_problem(
    names: Surface,
    url: &str,
    allow_insecure_http: bool,
    urls: &impl UrlParser,
) -> Option<String> {
    let Some(parsed) = urls.parse_url(url) else {
        return Some(" must be an absolute URL such as https://auth.example.com/token".into());
    };
    let insecure = names.of(name!(ALLOW_INSECURE_HTTP));
    if parsed.has_credentials {
        let (id, secret) = (names.of(name!(CLIENT_ID)), names.of(name!(CLIENT_SECRET)));
        return Some(
            [
                " must not carry credentials in the URL: use ",
                id,
                " and ",
                secret,
            ]
            .concat(),
        );
    }
    if url.bytes().any(|b| b == b'#') {
        return Some(" must not have a #fragment".into());
    }
    match parsed.scheme.as_str() {
        "https" => None,
        "http" if allow_insecure_http || is_loopback(&parsed.hostname) => None,
        "http" => Some(
            [
                " uses plain http to '",
                &parsed.hostname,
                "', which would send credentials and tokens unencrypted: use https, or set ",
                &names.assignment(name!(ALLOW_INSECURE_HTTP), "true"),
                " if this host is on a network you trust",
            ]
            .concat(),
        ),
        _ => Some([" must use https:// (or http:// with ", insecure, ")"].concat()),
    }
}

/// [`endpoint_url_problem`] as a config error for the setting `name`.
pub fn check_endpoint_url(
    names: Surface,
    name: Name,
    url: &str,
    allow_insecure_http: bool,
    urls: &impl UrlParser,
) -> Result<(), TokenError> {
    match endpoint_url_problem(names, url, allow_insecure_http, urls) {
        Some(problem) => Err(config_problem(names, name, &problem)),
        None => Ok(()),
    }
}

/// `text` without the `suffix`es at its end. (`trim_end_matches` brings the char searcher into
/// the npm wasm; `strip_suffix` with a `&str` compares bytes.)
pub(crate) fn trim_end<'a>(mut text: &'a str, suffix: &str) -> &'a str {
    while let Some(rest) = text.strip_suffix(suffix) {
        text = rest;
    }
    text
}

/// For splitting text at its dots byte by byte: one copy of the splitter for all such splits,
/// and no char searcher.
pub(crate) fn is_dot(b: &u8) -> bool {
    *b == b'.'
}

/// Loopback hosts as the WHATWG parser writes them, where plain http never leaves the
/// machine: `localhost`, `127.0.0.0/8` and `[::1]`.
pub fn is_loopback(hostname: &str) -> bool {
    hostname == "localhost"
        || hostname == "[::1]"
        || hostname.strip_prefix("127.").is_some_and(|rest| {
            let mut parts = rest.as_bytes().split(is_dot);
            let octet = |part| core::str::from_utf8(part).is_ok_and(|p| p.parse::<u8>().is_ok());
            parts.clone().count() == 3 && parts.all(octet)
        })
}
