//! Pure response parsing: token responses (RFC 6749 §5.1), error responses (§5.2) and
//! discovery metadata (RFC 8414 / OpenID Connect Discovery).
//!
//! JSON syntax is the platform's job (`JSON.parse` in wasm, serde_json in native tests): the
//! core sees a parsed object through [`Json`] and [`JsonObject`] and checks its fields, which
//! keeps a JSON parser out of the wasm.

use crate::config::{endpoint_url_problem, is_dot, AuthMethod, UrlParser};
use crate::error::TokenError;
use crate::options::Surface;
use crate::secret::{AccessToken, RefreshToken};
use alloc::{borrow::ToOwned, string::String, vec::Vec};
use core::fmt;

/// Responses larger than this are refused unread.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// One field of a parsed JSON object.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// Not present.
    Missing,
    /// `null`.
    Null,
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// An array whose elements are all strings.
    Strings(Vec<String>),
    /// Anything else (bool, object, mixed array).
    Other,
}

/// A parsed JSON object.
pub trait JsonObject: Sized {
    /// The field `name`.
    fn field(&self, name: &str) -> Field;
    /// The field `name` when it is an object.
    fn child(&self, name: &str) -> Option<Self>;
}

/// The platform's JSON parser.
pub trait Json {
    /// What a parsed object is.
    type Object: JsonObject;
    /// Parses `text`; `None` unless it is a JSON object.
    fn parse_object(&self, text: &str) -> Option<Self::Object>;
}

/// The parts of an HTTP response the parsers look at.
#[derive(Clone, Copy)]
pub struct HttpResponse<'a> {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, or "" when absent.
    pub content_type: &'a str,
    /// The wait `Retry-After` asked for, in ms, if it was sent and readable: delay-seconds,
    /// or an HTTP-date less the time it arrived (the adapters read it with the platform's
    /// `Date.parse`, which takes every form RFC 9110 allows).
    pub retry_after_ms: Option<u64>,
    /// The body text; `None` when the adapter left it unread because it was announced as
    /// larger than [`MAX_BODY_BYTES`].
    pub body: Option<&'a str>,
}

impl fmt::Debug for HttpResponse<'_> {
    /// A token response's body holds the tokens: only its size is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("retry_after_ms", &self.retry_after_ms)
            .field("body_bytes", &self.body.map(str::len))
            .finish()
    }
}

/// A token as received, with its expiry worked out.
#[derive(Clone, Debug)]
pub struct Token {
    /// The access token.
    pub access_token: AccessToken,
    /// `Bearer`, `DPoP` or the type as sent.
    pub token_type: String,
    /// When the request that got it was sent (ms since epoch).
    pub issued_at_ms: u64,
    /// When it stops being valid (ms since epoch).
    pub expires_at_ms: u64,
    /// The granted scope, if the server said.
    pub scope: Option<String>,
    /// A refresh token, if the server sent one.
    pub refresh_token: Option<RefreshToken>,
}

impl Token {
    /// The header value: `{token_type} {access_token}`.
    pub fn header_value(&self) -> String {
        [&self.token_type, " ", self.access_token.expose()].concat()
    }
}

/// What a discovery document says that the client uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `token_endpoint_auth_methods_supported`, empty when absent.
    pub auth_methods: Vec<String>,
    /// `device_authorization_endpoint` (RFC 8628 §4), when given and it passes the same URL
    /// rules as the token endpoint.
    pub device_authorization_endpoint: Option<String>,
}

impl Metadata {
    /// The auth method to use when the caller chose none: basic, unless the server lists
    /// `client_secret_post` and not basic.
    pub fn default_auth_method(&self) -> AuthMethod {
        let lists = |name: &str| self.auth_methods.iter().any(|m| m == name);
        if lists("client_secret_post") && !lists("client_secret_basic") {
            AuthMethod::ClientSecretPost
        } else {
            AuthMethod::ClientSecretBasic
        }
    }
}

pub(crate) fn invalid(response: &HttpResponse, reason: &str) -> TokenError {
    TokenError::InvalidResponse {
        status: response.status,
        content_type: response.content_type.chars().take(100).collect(),
        reason: reason.to_owned(),
        retry_after_ms: response.retry_after_ms,
    }
}

/// Parses the body as a JSON object and turns an OAuth error (§5.2, also on a 200) or a
/// non-success status into the matching error.
pub(crate) fn parse_json_body<J: Json>(
    json: &J,
    response: &HttpResponse,
) -> Result<J::Object, TokenError> {
    // 3xx, or 0 for a browser's opaque redirect: credentials are never sent on.
    if response.status == 0 || (300..400).contains(&response.status) {
        return Err(invalid(
            response,
            "the endpoint answered with a redirect, which is not followed with credentials: configure the final URL",
        ));
    }
    let Some(body) = response.body.filter(|body| body.len() <= MAX_BODY_BYTES) else {
        return Err(invalid(response, "the body is larger than 1 MiB"));
    };
    let Some(object) = json.parse_object(body) else {
        let reason = if body.trim().is_empty() {
            "the body is empty"
        } else {
            "the body is not a JSON object"
        };
        return Err(invalid(response, reason));
    };
    if let Some((error, description, uri)) = oauth_error(&object) {
        return Err(TokenError::Server {
            error,
            description,
            uri,
            status: response.status,
            retry_after_ms: response.retry_after_ms,
        });
    }
    if !(200..300).contains(&response.status) {
        return Err(invalid(
            response,
            "an error status without an OAuth error code",
        ));
    }
    Ok(object)
}

/// The `(error, error_description, error_uri)` of an error body: RFC 6749 §5.2
/// `{"error": …}`, or InfoLink's `{"result": {"code": …, "message": …}, "status": "error"}`.
fn oauth_error<O: JsonObject>(object: &O) -> Option<(String, Option<String>, Option<String>)> {
    let text = |object: &O, name| match object.field(name) {
        Field::Str(s) => Some(s),
        _ => None,
    };
    if let Some(error) = text(object, "error") {
        return Some((
            error,
            text(object, "error_description"),
            text(object, "error_uri"),
        ));
    }
    let result = object
        .child("result")
        .filter(|_| text(object, "status").as_deref() == Some("error"))?;
    Some((text(&result, "code")?, text(&result, "message"), None))
}

/// Parses a token endpoint response. `sent_at_ms` is when the request was sent: `expires_in`
/// counts from then, not from when the answer arrived.
pub fn parse_token_response<J: Json>(
    json: &J,
    response: &HttpResponse,
    sent_at_ms: u64,
    default_expires_in_ms: u64,
) -> Result<Token, TokenError> {
    let object = parse_json_body(json, response)?;
    let access_token = match object.field("access_token") {
        Field::Str(token) if is_token_text(&token) => token,
        Field::Str(token) if !token.is_empty() => {
            return Err(invalid(
                response,
                "access_token holds characters other than visible ASCII (spaces and line breaks included)",
            ))
        }
        _ => {
            return Err(invalid(
                response,
                "access_token is missing or not a non-empty string",
            ))
        }
    };
    let token_type = match object.field("token_type") {
        Field::Missing | Field::Null => "Bearer".to_owned(),
        Field::Str(kind) if is_token_text(&kind) => normalise_token_type(kind),
        _ => {
            return Err(invalid(
                response,
                "token_type is not a non-empty string of visible ASCII",
            ))
        }
    };
    let bad_expires_in = || invalid(response, "expires_in is not a number of seconds");
    let expires_in_ms = match object.field("expires_in") {
        Field::Missing | Field::Null => None,
        Field::Num(seconds) => Some(seconds_to_ms(seconds).ok_or_else(bad_expires_in)?),
        Field::Str(text) => Some(
            decimal_seconds(text.trim())
                .and_then(seconds_to_ms)
                .ok_or_else(bad_expires_in)?,
        ),
        _ => return Err(bad_expires_in()),
    };
    let claims = jwt_times(json, &access_token);
    let expires_at_ms = expires_at(sent_at_ms, expires_in_ms, claims, default_expires_in_ms)
        .ok_or_else(|| invalid(response, "the access token's own claims say it has expired"))?;
    let text = |name| match object.field(name) {
        Field::Str(s) if !s.is_empty() => Some(s),
        _ => None,
    };
    Ok(Token {
        access_token: AccessToken::new(access_token),
        token_type,
        issued_at_ms: sent_at_ms,
        expires_at_ms,
        scope: text("scope"),
        refresh_token: text("refresh_token").map(RefreshToken::new),
    })
}

/// The `iat` and `exp` claims of a JWT access token, in ms since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JwtTimes {
    /// `iat`, when the token was issued by the server's clock.
    pub iat_ms: Option<u64>,
    /// `exp`, when it expires by the server's clock.
    pub exp_ms: Option<u64>,
}

/// Works out when a token expires, or `None` when its own claims say it already has.
///
/// `expires_in` counts from the send time. A JWT with `iat` and `exp` says how long it lives
/// (`exp − iat`, less the second a whole-second `iat` may have been rounded down by), which
/// also counts from the send time: a local clock minutes off then neither
/// serves it late nor drops it early; the shorter of the two lifetimes wins. A JWT with `exp`
/// alone is compared with the local clock, and wins when earlier (servers round it down); an
/// `exp` already past is ignored when `expires_in` says otherwise (the clocks disagree) and
/// refused when nothing else does. `exp ≤ iat` is refused.
pub fn expires_at(
    sent_at_ms: u64,
    expires_in_ms: Option<u64>,
    jwt: JwtTimes,
    default_ms: u64,
) -> Option<u64> {
    let by_expires_in = expires_in_ms.map(|ms| sent_at_ms.saturating_add(ms));
    match (jwt.iat_ms, jwt.exp_ms) {
        (Some(iat), Some(exp)) if exp <= iat => None,
        (Some(iat), Some(exp)) => {
            // A whole-second `iat` was rounded down: the token was issued up to a second
            // later, so `exp − iat` may be up to a second more than it really has left.
            let rounding = if iat % 1000 == 0 { 1000 } else { 0 };
            let lifetime = (exp - iat).saturating_sub(rounding).max(1);
            let by_claims = sent_at_ms.saturating_add(lifetime);
            Some(by_expires_in.map_or(by_claims, |at| at.min(by_claims)))
        }
        (_, Some(exp)) if exp > sent_at_ms => Some(by_expires_in.map_or(exp, |at| at.min(exp))),
        (_, Some(_)) => by_expires_in,
        (_, None) => Some(by_expires_in.unwrap_or(sent_at_ms.saturating_add(default_ms))),
    }
}

/// Visible ASCII without spaces (0x21–0x7E): all a token or token type may hold, since it
/// goes into a header as it is.
pub(crate) fn is_token_text(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// `"3600"` or `"3600.5"` as seconds: the forms servers send `expires_in` in as a string.
/// (Hand-parsed: the float parser of `core` is larger than all of this module.)
fn decimal_seconds(text: &str) -> Option<f64> {
    let mut parts = text.as_bytes().split(is_dot);
    let (whole, fraction) = (parts.next()?, parts.next().unwrap_or_default());
    if parts.next().is_some() {
        return None;
    }
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    if whole.is_empty() || whole.len() > 15 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let value = |part: &[u8]| part.iter().fold(0.0, |n, b| n * 10.0 + f64::from(b - b'0'));
    let scale = fraction.iter().fold(1.0, |s, _| s * 10.0);
    Some(value(whole) + value(fraction) / scale)
}

fn seconds_to_ms(seconds: f64) -> Option<u64> {
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| (seconds * 1000.0).min(u64::MAX as f64 / 2.0) as u64)
}

/// `bearer` → `Bearer`, `dpop` → `DPoP`; other types are kept as sent.
fn normalise_token_type(kind: String) -> String {
    if kind.eq_ignore_ascii_case("bearer") {
        "Bearer".to_owned()
    } else if kind.eq_ignore_ascii_case("dpop") {
        "DPoP".to_owned()
    } else {
        kind
    }
}

/// The `iat` and `exp` claims of a JWT, decoded but not verified; none for opaque tokens.
fn jwt_times<J: Json>(json: &J, token: &str) -> JwtTimes {
    let claims = (|| {
        let mut parts = token.as_bytes().split(is_dot);
        let (_header, payload) = (parts.next()?, parts.next()?);
        parts.next()?;
        let bytes = base64url_decode(payload)?;
        json.parse_object(core::str::from_utf8(&bytes).ok()?)
    })();
    let time = |name| match claims.as_ref()?.field(name) {
        Field::Num(seconds) => seconds_to_ms(seconds),
        _ => None,
    };
    JwtTimes {
        iat_ms: time("iat"),
        exp_ms: time("exp"),
    }
}

/// Unpadded base64url (RFC 4648 §5), as JWTs use.
fn base64url_decode(mut input: &[u8]) -> Option<Vec<u8>> {
    while let [rest @ .., b'='] = input {
        input = rest;
    }
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in input {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Parses a discovery document: a 200 JSON object whose `issuer` is exactly `issuer`, the
/// one configured (RFC 8414 §3.3, OpenID Connect Discovery §4.3), and whose `token_endpoint`
/// passes the same URL rules as a configured one.
pub fn parse_metadata<P: Json + UrlParser>(
    platform: &P,
    response: &HttpResponse,
    issuer: &str,
    allow_insecure_http: bool,
    names: Surface,
) -> Result<Metadata, TokenError> {
    let object = parse_json_body(platform, response)?;
    if response.status != 200 {
        return Err(invalid(
            response,
            "a discovery document comes with status 200",
        ));
    }
    if object.field("issuer") != Field::Str(issuer.to_owned()) {
        return Err(invalid(
            response,
            "the discovery document's issuer is not the configured issuer: check the issuer option",
        ));
    }
    let Field::Str(token_endpoint) = object.field("token_endpoint") else {
        return Err(invalid(
            response,
            "the discovery document has no token_endpoint",
        ));
    };
    if let Some(problem) =
        endpoint_url_problem(names, &token_endpoint, allow_insecure_http, platform)
    {
        return Err(invalid(
            response,
            &["the discovery document's token_endpoint", &problem].concat(),
        ));
    }
    let auth_methods = match object.field("token_endpoint_auth_methods_supported") {
        Field::Strings(methods) => methods,
        _ => Vec::new(),
    };
    let device_authorization_endpoint = match object.field("device_authorization_endpoint") {
        Field::Str(url)
            if endpoint_url_problem(names, &url, allow_insecure_http, platform).is_none() =>
        {
            Some(url)
        }
        _ => None,
    };
    Ok(Metadata {
        token_endpoint,
        auth_methods,
        device_authorization_endpoint,
    })
}
