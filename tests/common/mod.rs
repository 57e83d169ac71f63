//! Shared helpers for the native integration tests: the core's JSON traits implemented with
//! serde_json, fixture loading, and small builders for configs, responses and tokens.
//!
//! Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use edge_oauth::cache::{Lookup, Outcome, TokenCache};
use edge_oauth::config::{Config, ConfigInput, GrantConfig, ParsedUrl, UrlParser};
use edge_oauth::driver::Decision;
use edge_oauth::response::{Field, HttpResponse, Json, JsonObject, Token};
use edge_oauth::secret::{AccessToken, ClientSecret, Password, RefreshToken, Username};
use serde_json::{Map, Value};

/// The client secret used throughout; no output may ever contain it.
pub const SECRET: &str = "SECRET-c4f1e9";
/// The opaque access token in the fixtures.
pub const ACCESS_TOKEN: &str = "TOKEN-a83f27-opaque";
/// The refresh token in the fixtures.
pub const REFRESH_TOKEN: &str = "REFRESH-5d9e01";
/// The resource owner's username for the password grant: personal data, never printed.
pub const USERNAME: &str = "jane.doe+ops@example.com";
/// The resource owner's password: '@', ' ', '&', '+', '=' and '%' all need form-encoding.
pub const PASSWORD: &str = "p@ss w&rd+1=2%";
/// 2023-11-14T22:13:20Z in milliseconds: the fake clock's starting point.
pub const T0: u64 = 1_700_000_000_000;

/// serde_json standing in for the platform's `JSON.parse`.
pub struct SerdeJson;

/// A JSON object parsed by serde_json.
pub struct SerdeObject(Map<String, Value>);

impl Json for SerdeJson {
    type Object = SerdeObject;

    fn parse_object(&self, text: &str) -> Option<SerdeObject> {
        match serde_json::from_str::<Value>(text).ok()? {
            Value::Object(map) => Some(SerdeObject(map)),
            _ => None,
        }
    }
}

/// The `url` crate (WHATWG URL) standing in for the platform's `URL`.
impl UrlParser for SerdeJson {
    fn parse_url(&self, text: &str) -> Option<ParsedUrl> {
        let url = url::Url::parse(text).ok()?;
        Some(ParsedUrl {
            scheme: url.scheme().to_owned(),
            hostname: url.host_str().unwrap_or("").to_owned(),
            has_credentials: !url.username().is_empty() || url.password().is_some(),
        })
    }
}

impl JsonObject for SerdeObject {
    fn field(&self, name: &str) -> Field {
        match self.0.get(name) {
            None => Field::Missing,
            Some(Value::Null) => Field::Null,
            Some(Value::String(text)) => Field::Str(text.clone()),
            Some(Value::Number(number)) => number.as_f64().map_or(Field::Other, Field::Num),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map_or(Field::Other, Field::Strings),
            Some(_) => Field::Other,
        }
    }

    fn child(&self, name: &str) -> Option<Self> {
        match self.0.get(name) {
            Some(Value::Object(map)) => Some(SerdeObject(map.clone())),
            _ => None,
        }
    }
}

/// The text of `tests/fixtures/{name}`.
pub fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read fixture {}: {error}", path.display()))
}

/// A response with a body and no `Retry-After`.
pub fn response<'a>(status: u16, content_type: &'a str, body: &'a str) -> HttpResponse<'a> {
    HttpResponse {
        status,
        content_type,
        retry_after_ms: None,
        body: Some(body),
    }
}

/// A 200 JSON response.
pub fn json_200(body: &str) -> HttpResponse<'_> {
    response(200, "application/json", body)
}

/// A client-credentials configuration with a token URL, the distinctive secret and defaults.
pub fn input() -> ConfigInput {
    ConfigInput {
        token_url: Some("https://auth.example.test/oauth2/token".into()),
        client_id: Some("edge-client".into()),
        client_secret: Some(ClientSecret::new(SECRET)),
        ..ConfigInput::default()
    }
}

/// `input()` with the password grant for `USERNAME` / `PASSWORD`.
pub fn password_input() -> ConfigInput {
    ConfigInput {
        grant: GrantConfig::Password {
            username: Username::new(USERNAME),
            password: Password::new(PASSWORD),
        },
        ..input()
    }
}

/// `input()` after validation.
pub fn config() -> Config {
    input()
        .validate(&SerdeJson)
        .expect("the base configuration is valid")
}

/// A token issued at `issued_at` that expires at `expires_at`.
pub fn token(issued_at: u64, expires_at: u64) -> Token {
    Token {
        access_token: AccessToken::new(ACCESS_TOKEN),
        token_type: "Bearer".into(),
        issued_at_ms: issued_at,
        expires_at_ms: expires_at,
        scope: None,
        refresh_token: Some(RefreshToken::new(REFRESH_TOKEN)),
    }
}

/// A token with the given access token and refresh token (if any).
pub fn token_with(
    issued_at: u64,
    expires_at: u64,
    access_token: &str,
    refresh_token: Option<&str>,
) -> Token {
    Token {
        access_token: AccessToken::new(access_token),
        refresh_token: refresh_token.map(RefreshToken::new),
        ..token(issued_at, expires_at)
    }
}

/// What a lookup said, without the borrow of the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Look {
    /// `Lookup::Serve`, with the served token's expiry.
    Serve {
        expires_at: u64,
        fresh_until: u64,
        start_refresh: bool,
    },
    /// `Lookup::Wait`.
    Wait { start: bool },
    /// `Lookup::CoolingDown`, with the error's code.
    CoolingDown { code: String, retry_after_ms: u64 },
}

/// `cache.lookup(now)`, flattened.
pub fn look(cache: &mut TokenCache, now: u64) -> Look {
    flatten(cache.lookup(now))
}

/// A lookup's answer without the borrow of the cache.
pub fn flatten(lookup: Lookup<'_>) -> Look {
    match lookup {
        Lookup::Serve {
            token,
            fresh_until,
            start_refresh,
        } => Look::Serve {
            expires_at: token.expires_at_ms,
            fresh_until,
            start_refresh,
        },
        Lookup::Wait { start } => Look::Wait { start },
        Lookup::CoolingDown {
            error,
            retry_after_ms,
        } => Look::CoolingDown {
            code: error.code().to_owned(),
            retry_after_ms,
        },
    }
}

/// A driver's decision as a [`Look`]: a renewal's first request as `start`.
pub fn decided(decision: Decision<'_>) -> Look {
    match decision {
        Decision::Serve {
            token,
            fresh_until,
            refresh,
        } => Look::Serve {
            expires_at: token.expires_at_ms,
            fresh_until,
            start_refresh: refresh.is_some(),
        },
        Decision::Wait { first } => Look::Wait {
            start: first.is_some(),
        },
        Decision::Refused { error } => Look::CoolingDown {
            code: error.code().to_owned(),
            retry_after_ms: 0,
        },
        Decision::CoolingDown {
            error,
            retry_after_ms,
        } => Look::CoolingDown {
            code: error.code().to_owned(),
            retry_after_ms,
        },
    }
}

/// What a completed flight gave its waiters, without the borrow of the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// `Outcome::Fresh`.
    Fresh { expires_at: u64, fresh_until: u64 },
    /// `Outcome::Stale`.
    Stale { expires_at: u64, fresh_until: u64 },
    /// `Outcome::Failed`, with the error's code.
    Failed(String),
}

/// `cache.complete(now, result)`, flattened.
pub fn complete(
    cache: &mut TokenCache,
    now: u64,
    result: Result<Token, edge_oauth::TokenError>,
) -> Done {
    match cache.complete(now, result, 0.5) {
        Outcome::Fresh { token, fresh_until } => Done::Fresh {
            expires_at: token.expires_at_ms,
            fresh_until,
        },
        Outcome::Stale { token, fresh_until } => Done::Stale {
            expires_at: token.expires_at_ms,
            fresh_until,
        },
        Outcome::Failed { error, .. } => Done::Failed(error.code().to_owned()),
    }
}

/// Panics if `text` contains any of `secrets`, naming where it was found.
pub fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} leaks {secret:?}: {text}");
    }
}
