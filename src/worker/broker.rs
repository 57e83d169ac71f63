//! The token broker's pure parts: what names a credential (one Durable Object per credential
//! in the whole deployment), and what crosses between an isolate and its broker. A hand-out
//! is JSON the broker writes and the isolate reads with the platform's `JSON.parse`.

use alloc::{
    format,
    string::{String, ToString},
    vec::Vec,
};

use super::answer::{json_escape, FailureAnswer};
use crate::config::{Config, Endpoint, GrantConfig};
use crate::response::{Field, Json, JsonObject, Token};
use crate::secret::{AccessToken, RefreshToken};

/// What names a credential: the part that may be seen, and the part that is only ever hashed
/// (a rotated secret gets a new broker; the secret itself names nothing).
pub struct CredentialParts {
    /// Token endpoint (or issuer), client id, grant, scope and extra parameters.
    pub public: String,
    /// The client secret and a password grant's username and password.
    pub secret: String,
}

/// The parts that name `client`'s credential: two routes with the same credential get the
/// same broker.
pub fn credential_parts(client: &Config) -> CredentialParts {
    let endpoint = match &client.endpoint {
        Endpoint::TokenUrl(url) => ["token ", url].concat(),
        Endpoint::Issuer(issuer) => ["issuer ", issuer].concat(),
    };
    let (grant, user_secret) = match &client.grant {
        GrantConfig::ClientCredentials => ("client_credentials", String::new()),
        GrantConfig::Password { username, password } => (
            "password",
            [username.expose(), "\n", password.expose()].concat(),
        ),
        GrantConfig::DeviceCode => ("device_code", String::new()),
    };
    let params: Vec<String> = client
        .extra_params
        .iter()
        .map(|(name, value)| [name.as_str(), "=", value].concat())
        .collect();
    let public = [
        "edge-oauth broker 1",
        &endpoint,
        &client.client_id,
        grant,
        client.scope.as_deref().unwrap_or(""),
        &params.join("&"),
    ]
    .join("\n");
    let secret = [
        client.client_secret.as_ref().map_or("", |s| s.expose()),
        "\n",
        &user_secret,
    ]
    .concat();
    CredentialParts { public, secret }
}

/// What a broker answers an isolate: a token, or the answer for a token failure (which the
/// isolate relays: the broker speaks for the token endpoint, and a failing one sees no
/// second request from every isolate).
pub enum HandOut {
    /// The broker's current token.
    Token(Token),
    /// The token failure, answered as the Worker answers it.
    Failure(FailureAnswer),
}

/// The hand-out of `token`: JSON with the access token, its type, when it was requested and
/// when it expires; with `refresh_token`, the refresh token too (only for the broker's own
/// encrypted storage: isolates never get it).
pub fn token_json(token: &Token, refresh_token: Option<&RefreshToken>) -> String {
    let scope = token.scope.as_deref().map_or(String::new(), |scope| {
        format!(",\"scope\":\"{}\"", json_escape(scope))
    });
    let refresh = refresh_token.map_or(String::new(), |refresh| {
        format!(",\"refreshToken\":\"{}\"", json_escape(refresh.expose()))
    });
    format!(
        "{{\"token\":{{\"accessToken\":\"{}\",\"tokenType\":\"{}\",\"issuedAt\":{},\"expiresAt\":{}{scope}{refresh}}}}}",
        json_escape(token.access_token.expose()),
        json_escape(&token.token_type),
        token.issued_at_ms,
        token.expires_at_ms,
    )
}

/// The hand-out of a token failure.
pub fn failure_json(answer: &FailureAnswer) -> String {
    let retry_after = answer
        .retry_after_seconds
        .map_or(String::new(), |s| format!(",\"retryAfter\":{s}"));
    format!(
        "{{\"failure\":{{\"status\":{}{retry_after},\"body\":\"{}\"}}}}",
        answer.status,
        json_escape(&answer.body),
    )
}

/// Reads a hand-out; `None` when it is not one (the broker is then treated as erroring). A
/// token comes with its refresh token when the text had one (the broker's own storage).
pub fn parse_hand_out<J: Json>(text: &str, json: &J) -> Option<(HandOut, Option<RefreshToken>)> {
    let object = json.parse_object(text)?;
    if let Some(token) = object.child("token") {
        let text = |name| match token.field(name) {
            Field::Str(text) => Some(text),
            _ => None,
        };
        let time = |name| match token.field(name) {
            Field::Num(ms) if ms >= 0.0 && ms.fract() == 0.0 => Some(ms as u64),
            _ => None,
        };
        let access_token = text("accessToken").filter(|t| !t.is_empty())?;
        let parsed = Token {
            access_token: AccessToken::new(access_token),
            token_type: text("tokenType").filter(|t| !t.is_empty())?,
            issued_at_ms: time("issuedAt")?,
            expires_at_ms: time("expiresAt")?,
            scope: text("scope"),
            refresh_token: None,
        };
        let refresh = text("refreshToken").map(RefreshToken::new);
        return Some((HandOut::Token(parsed), refresh));
    }
    let failure = object.child("failure")?;
    let status = match failure.field("status") {
        Field::Num(status) if (400.0..600.0).contains(&status) => status as u16,
        _ => return None,
    };
    let retry_after_seconds = match failure.field("retryAfter") {
        Field::Num(s) if s >= 0.0 => Some(s as u64),
        _ => None,
    };
    let Field::Str(body) = failure.field("body") else {
        return None;
    };
    let answer = FailureAnswer {
        status,
        retry_after_seconds,
        body,
    };
    Some((HandOut::Failure(answer), None))
}

/// What a broker has done, for its `stats` answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Requests to the token endpoint.
    pub token_requests: u64,
    /// Tokens handed to isolates.
    pub hand_outs: u64,
    /// When the last token arrived (ms since epoch); 0 before the first.
    pub last_refresh_at: u64,
    /// Renewals that failed.
    pub failures: u64,
    /// Times isolates fetched a token themselves because this broker did not answer in time,
    /// as they reported it on their next call.
    pub fallbacks: u64,
}

impl BrokerStats {
    /// As JSON.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"tokenRequests\":{},\"handOuts\":{},\"lastRefreshAt\":{},\"failures\":{},\"fallbacks\":{}}}",
            self.token_requests, self.hand_outs, self.last_refresh_at, self.failures, self.fallbacks
        )
    }
}

/// The path isolates ask a broker for a token on: `?fallbacks=N` reports the fallbacks since
/// the isolate's last call.
pub const TOKEN_PATH: &str = "/token";
/// The path of a broker's stats.
pub const STATS_PATH: &str = "/stats";

/// The broker request URL (the host is never resolved: a Durable Object stub gets it), with
/// the fallbacks to report and the hash of a token the origin refused.
pub fn token_request_url(fallbacks: u64, refused_hash: Option<&str>) -> String {
    let refused = refused_hash.map_or(String::new(), |hash| ["&refused=", hash].concat());
    let fallbacks = fallbacks.to_string();
    [
        "https://broker",
        TOKEN_PATH,
        "?fallbacks=",
        &fallbacks,
        &refused,
    ]
    .concat()
}

/// The broker stats request URL.
pub fn stats_request_url() -> String {
    ["https://broker", STATS_PATH].concat()
}

/// Where the Worker answers a broker's stats, with a proxy key of the route named by
/// `?route=` (the prefix; none for the single-origin vars).
pub const STATS_ROUTE: &str = "/__edge-oauth/broker-stats";

/// The value of `name` in a query (`?a=1&b=2`), as given.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// The fallbacks an isolate reported in a token request's query.
pub fn reported_fallbacks(query: &str) -> u64 {
    query_param(query, "fallbacks")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The broker's storage key for its sealed token.
pub const STORED_TOKEN_KEY: &str = "sealed-token";

/// The HKDF `info` that makes the storage key, so that no other use of the secret shares it.
pub const SEAL_INFO: &str = "edge-oauth broker token storage 1";
