//! Pure request building: the token request for each grant and client-auth method, and the
//! discovery URLs. Nothing here sends anything.

use alloc::{borrow::ToOwned, string::String, vec, vec::Vec};
use core::fmt;

use crate::config::{AuthMethod, BasicAuthEncoding, Config, GrantConfig};
use crate::secret::{DeviceCode, Password, RefreshToken, Username};

/// An HTTP request for an adapter to send.
#[derive(Clone)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Absolute URL.
    pub url: String,
    /// Header name/value pairs.
    pub headers: Vec<(&'static str, String)>,
    /// Form body, for POST.
    pub body: Option<String>,
}

impl fmt::Debug for HttpRequest {
    /// Header values and the body can hold credentials: only names and sizes are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| *name).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_bytes", &self.body.as_ref().map_or(0, String::len))
            .finish()
    }
}

/// What the token request asks for.
#[derive(Clone, Copy, Debug)]
pub enum Grant<'a> {
    /// `grant_type=client_credentials` (RFC 6749 §4.4).
    ClientCredentials,
    /// `grant_type=password` (RFC 6749 §4.3).
    Password {
        /// The resource owner's username.
        username: &'a Username,
        /// The resource owner's password.
        password: &'a Password,
    },
    /// `grant_type=refresh_token` (RFC 6749 §6).
    RefreshToken(&'a RefreshToken),
    /// The device code grant's poll (RFC 8628 §3.4).
    DeviceCode(&'a DeviceCode),
}

/// RFC 8628 §3.4's `grant_type`.
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl<'a> Grant<'a> {
    /// The grant the configuration names, used for the first token and as the fallback;
    /// `None` for the device grant, which only a user can start.
    pub fn original(config: &'a Config) -> Option<Self> {
        match &config.grant {
            GrantConfig::ClientCredentials => Some(Self::ClientCredentials),
            GrantConfig::Password { username, password } => {
                Some(Self::Password { username, password })
            }
            GrantConfig::DeviceCode => None,
        }
    }
}

/// Builds the token request with the client authentication of RFC 6749 §2.3.1. A refresh
/// asks for no scope: it keeps the one originally granted.
pub fn token_request(
    config: &Config,
    token_url: &str,
    auth: AuthMethod,
    grant: Grant,
) -> HttpRequest {
    let mut form = FormBody::default();
    match grant {
        Grant::ClientCredentials => form.push("grant_type", "client_credentials"),
        Grant::Password { username, password } => {
            form.push("grant_type", "password");
            form.push("username", username.expose());
            form.push("password", password.expose());
        }
        Grant::RefreshToken(token) => {
            form.push("grant_type", "refresh_token");
            form.push("refresh_token", token.expose());
        }
        Grant::DeviceCode(code) => {
            form.push("grant_type", DEVICE_CODE_GRANT_TYPE);
            form.push("device_code", code.expose());
        }
    }
    // A refresh keeps the scope granted; a device poll asked for it when it started.
    let scoped = matches!(grant, Grant::ClientCredentials | Grant::Password { .. });
    if let (Some(scope), true) = (&config.scope, scoped) {
        form.push("scope", scope);
    }
    for (name, value) in &config.extra_params {
        form.push(name, value);
    }
    authenticated_post(config, token_url, auth, form)
}

/// The device authorization request (RFC 8628 §3.1): the client, and the scope asked for
/// (`scope`, else the configured one), with the client authentication of the token endpoint.
pub fn device_authorization_request(
    config: &Config,
    url: &str,
    auth: AuthMethod,
    scope: Option<&str>,
) -> HttpRequest {
    let mut form = FormBody::default();
    if let Some(scope) = scope.or(config.scope.as_deref()) {
        form.push("scope", scope);
    }
    for (name, value) in &config.extra_params {
        form.push(name, value);
    }
    authenticated_post(config, url, auth, form)
}

/// A form POST to `url` with the client authentication of RFC 6749 §2.3.1.
fn authenticated_post(
    config: &Config,
    url: &str,
    auth: AuthMethod,
    mut form: FormBody,
) -> HttpRequest {
    let mut headers = vec![
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("Accept", "application/json".to_owned()),
    ];
    let secret = config.client_secret.as_ref().map_or("", |s| s.expose());
    match auth {
        AuthMethod::ClientSecretBasic => {
            let pair = match config.basic_auth_encoding {
                BasicAuthEncoding::Rfc6749 => [
                    &percent_encode(&config.client_id, true),
                    ":",
                    &percent_encode(secret, true),
                ]
                .concat(),
                BasicAuthEncoding::Raw => [&config.client_id, ":", secret].concat(),
            };
            headers.push((
                "Authorization",
                ["Basic ", &base64_encode(pair.as_bytes())].concat(),
            ));
        }
        AuthMethod::ClientSecretPost => {
            form.push("client_id", &config.client_id);
            form.push("client_secret", secret);
        }
        AuthMethod::None => form.push("client_id", &config.client_id),
    }

    HttpRequest {
        method: "POST",
        url: url.to_owned(),
        headers,
        body: Some(form.0),
    }
}

/// The discovery documents to try, in order, for an issuer (without trailing slash).
///
/// OpenID Connect Discovery appends its suffix to the issuer; RFC 8414 §3.1 inserts its
/// suffix between the host and the issuer's path
/// (`https://h/realms/x` → `https://h/.well-known/oauth-authorization-server/realms/x`).
/// Servers that append that suffix to the issuer too are tried last.
pub fn discovery_urls(issuer: &str) -> Vec<String> {
    let issuer = crate::config::trim_end(issuer, "/");
    // The issuer passed `check_endpoint_url`: it starts with `scheme://`.
    let host_start = issuer.bytes().position(|b| b == b':').map_or(0, |i| i + 3);
    let path_start = issuer
        .get(host_start..)
        .and_then(|rest| rest.bytes().position(|b| b == b'/'))
        .map_or(issuer.len(), |i| host_start + i);
    let (origin, path) = issuer.split_at_checked(path_start).unwrap_or((issuer, ""));
    let mut urls = vec![
        [issuer, "/.well-known/openid-configuration"].concat(),
        [origin, "/.well-known/oauth-authorization-server", path].concat(),
    ];
    if !path.is_empty() {
        urls.push([issuer, "/.well-known/oauth-authorization-server"].concat());
    }
    urls
}

/// A GET for a discovery document.
pub fn discovery_request(url: String) -> HttpRequest {
    HttpRequest {
        method: "GET",
        url,
        headers: vec![("Accept", "application/json".to_owned())],
        body: None,
    }
}

/// An `application/x-www-form-urlencoded` body, built pair by pair.
#[derive(Default)]
struct FormBody(String);

impl FormBody {
    fn push(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(&percent_encode(name, true));
        self.0.push('=');
        self.0.push_str(&percent_encode(value, true));
    }
}

/// Percent-encodes everything but `A-Z a-z 0-9 - . _ *` (`~` too outside forms); with `form`,
/// a space becomes `+` as `application/x-www-form-urlencoded` requires.
pub fn percent_encode(input: &str, form: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(b as char),
            b'*' if form => out.push('*'),
            b'~' if !form => out.push('~'),
            b' ' if form => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), as HTTP Basic uses.
pub fn base64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
