//! The password and refresh-token grants: the exact request bytes for each client
//! authentication method, `Grant::original`, and the renewal sequence the adapter drives
//! (refresh first, rotation, fallback to the original grant on `invalid_grant`) played through
//! the sans-IO core with a fake clock.
//!
//! Expected bodies and Basic values were computed outside the crate with Python's
//! `urllib.parse.urlencode` and `base64.b64encode`.

mod common;

use common::{
    complete, fixture, input, json_200, look, password_input, response, Done, Look, SerdeJson,
    PASSWORD, REFRESH_TOKEN, T0, USERNAME,
};
use edge_oauth::cache::TokenCache;
use edge_oauth::config::{AuthMethod, Config, ConfigInput, GrantConfig};
use edge_oauth::request::{token_request, Grant, HttpRequest};
use edge_oauth::response::parse_token_response;
use edge_oauth::secret::RefreshToken;

const TOKEN_URL: &str = "https://auth.example.test/oauth2/token";
const FORM: &str = "application/x-www-form-urlencoded";
/// base64("edge-client:SECRET-c4f1e9").
const BASIC: &str = "Basic ZWRnZS1jbGllbnQ6U0VDUkVULWM0ZjFlOQ==";

/// `grant_type=password` for USERNAME / PASSWORD, form-encoded.
const PASSWORD_FORM: &str =
    "grant_type=password&username=jane.doe%2Bops%40example.com&password=p%40ss+w%26rd%2B1%3D2%25";
/// A refresh token with characters that need form-encoding.
const ODD_REFRESH: &str = "rt.A+b/c= x";

fn headers_without_auth() -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", FORM.to_owned()),
        ("Accept", "application/json".to_owned()),
    ]
}

fn headers_with_basic() -> Vec<(&'static str, String)> {
    let mut headers = headers_without_auth();
    headers.push(("Authorization", BASIC.to_owned()));
    headers
}

/// The password grant with two scopes.
fn password_config() -> Config {
    ConfigInput {
        scope: vec!["banking/read".into(), "banking/write".into()],
        ..password_input()
    }
    .validate(&SerdeJson)
    .expect("valid password-grant configuration")
}

/// A public client (authMethod 'none') using `grant`.
fn public_config(grant: GrantConfig) -> Config {
    ConfigInput {
        client_id: Some("public-app".into()),
        client_secret: None,
        auth_method: Some("none".into()),
        grant,
        ..input()
    }
    .validate(&SerdeJson)
    .expect("valid public-client configuration")
}

fn password_grant() -> GrantConfig {
    password_input().grant
}

// ---- grant_type=password ----------------------------------------------------------------

#[test]
fn password_grant_with_basic_auth() {
    let config = password_config();
    let request = token_request(
        &config,
        TOKEN_URL,
        AuthMethod::ClientSecretBasic,
        Grant::original(&config).unwrap(),
    );
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, TOKEN_URL);
    assert_eq!(request.headers, headers_with_basic());
    assert_eq!(
        request.body.as_deref(),
        Some(
            "grant_type=password&username=jane.doe%2Bops%40example.com&password=p%40ss+w%26rd%2B1%3D2%25&scope=banking%2Fread+banking%2Fwrite"
        )
    );
}

#[test]
fn password_grant_with_post_auth() {
    let config = password_config();
    let request = token_request(
        &config,
        TOKEN_URL,
        AuthMethod::ClientSecretPost,
        Grant::original(&config).unwrap(),
    );
    assert_eq!(request.headers, headers_without_auth());
    assert_eq!(
        request.body.as_deref(),
        Some(
            "grant_type=password&username=jane.doe%2Bops%40example.com&password=p%40ss+w%26rd%2B1%3D2%25&scope=banking%2Fread+banking%2Fwrite&client_id=edge-client&client_secret=SECRET-c4f1e9"
        )
    );
}

#[test]
fn password_grant_for_a_public_client() {
    let config = public_config(password_grant());
    assert_eq!(config.auth_method, Some(AuthMethod::None));
    let request = token_request(
        &config,
        TOKEN_URL,
        AuthMethod::None,
        Grant::original(&config).unwrap(),
    );
    assert_eq!(request.headers, headers_without_auth());
    assert_eq!(
        request.body,
        Some(format!("{PASSWORD_FORM}&client_id=public-app"))
    );
}

#[test]
fn password_grant_keeps_extra_params_after_the_scope() {
    let config = ConfigInput {
        scope: vec!["openid".into()],
        extra_params: vec![("audience".into(), "https://api.example.test/v1".into())],
        ..password_input()
    }
    .validate(&SerdeJson)
    .unwrap();
    let request = token_request(
        &config,
        TOKEN_URL,
        AuthMethod::ClientSecretBasic,
        Grant::original(&config).unwrap(),
    );
    assert_eq!(
        request.body,
        Some(format!(
            "{PASSWORD_FORM}&scope=openid&audience=https%3A%2F%2Fapi.example.test%2Fv1"
        ))
    );
}

#[test]
fn the_raw_username_and_password_never_go_on_the_wire_unencoded() {
    // Each contains a character that must be encoded, so the raw forms never appear.
    let config = password_config();
    for auth in [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ] {
        let request = token_request(&config, TOKEN_URL, auth, Grant::original(&config).unwrap());
        let body = request.body.unwrap();
        assert!(!body.contains(USERNAME), "{auth:?}: {body}");
        assert!(!body.contains(PASSWORD), "{auth:?}: {body}");
        assert!(body.starts_with(PASSWORD_FORM), "{auth:?}: {body}");
    }
}

// ---- grant_type=refresh_token -------------------------------------------------------------

/// A configuration with a scope and extra params: the refresh must drop the one and keep the
/// others.
fn refresh_config(input: ConfigInput) -> Config {
    ConfigInput {
        scope: vec!["banking/read".into()],
        extra_params: vec![("audience".into(), "https://api.example.test/v1".into())],
        ..input
    }
    .validate(&SerdeJson)
    .unwrap()
}

const REFRESH_FORM: &str =
    "grant_type=refresh_token&refresh_token=rt.A%2Bb%2Fc%3D+x&audience=https%3A%2F%2Fapi.example.test%2Fv1";

fn refresh_request(config: &Config, auth: AuthMethod) -> HttpRequest {
    let refresh = RefreshToken::new(ODD_REFRESH);
    token_request(config, TOKEN_URL, auth, Grant::RefreshToken(&refresh))
}

#[test]
fn refresh_grant_with_basic_auth() {
    for input in [input(), password_input()] {
        let config = refresh_config(input);
        let request = refresh_request(&config, AuthMethod::ClientSecretBasic);
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, TOKEN_URL);
        assert_eq!(request.headers, headers_with_basic());
        assert_eq!(
            request.body.as_deref(),
            Some(REFRESH_FORM),
            "no scope, no username or password, extraParams kept"
        );
    }
}

#[test]
fn refresh_grant_with_post_auth() {
    for input in [input(), password_input()] {
        let config = refresh_config(input);
        let request = refresh_request(&config, AuthMethod::ClientSecretPost);
        assert_eq!(request.headers, headers_without_auth());
        assert_eq!(
            request.body,
            Some(format!(
                "{REFRESH_FORM}&client_id=edge-client&client_secret=SECRET-c4f1e9"
            ))
        );
    }
}

#[test]
fn refresh_grant_for_a_public_client() {
    for grant in [GrantConfig::ClientCredentials, password_grant()] {
        let config = refresh_config(ConfigInput {
            grant,
            client_id: Some("public-app".into()),
            client_secret: None,
            auth_method: Some("none".into()),
            ..input()
        });
        let request = refresh_request(&config, AuthMethod::None);
        assert_eq!(request.headers, headers_without_auth());
        assert_eq!(
            request.body,
            Some(format!("{REFRESH_FORM}&client_id=public-app"))
        );
    }
}

#[test]
fn refresh_grant_without_scope_or_extra_params() {
    let refresh = RefreshToken::new(REFRESH_TOKEN);
    let request = token_request(
        &common::config(),
        TOKEN_URL,
        AuthMethod::ClientSecretBasic,
        Grant::RefreshToken(&refresh),
    );
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=refresh_token&refresh_token=REFRESH-5d9e01")
    );
}

// ---- Grant::original ----------------------------------------------------------------------

#[test]
fn original_grant_is_client_credentials_by_default() {
    let config = common::config();
    assert!(matches!(
        Grant::original(&config),
        Some(Grant::ClientCredentials)
    ));
    let request = token_request(
        &config,
        TOKEN_URL,
        AuthMethod::ClientSecretBasic,
        Grant::original(&config).unwrap(),
    );
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=client_credentials")
    );
}

#[test]
fn original_grant_borrows_the_configured_credentials() {
    let config = password_config();
    let GrantConfig::Password {
        username: configured_username,
        password: configured_password,
    } = &config.grant
    else {
        panic!("the password grant survives validation: {:?}", config.grant);
    };
    match Grant::original(&config).unwrap() {
        Grant::Password { username, password } => {
            assert_eq!(username.expose(), USERNAME);
            assert_eq!(password.expose(), PASSWORD);
            assert!(std::ptr::eq(username, configured_username));
            assert!(std::ptr::eq(password, configured_password));
        }
        other => panic!("expected the password grant, got {other:?}"),
    }
}

// ---- The renewal sequence -----------------------------------------------------------------

/// The grant the adapter renews with: the refresh token when there is one, else the original.
fn next_request(cache: &TokenCache, config: &Config) -> HttpRequest {
    let grant = cache
        .refresh_token()
        .map_or(Grant::original(config).unwrap(), Grant::RefreshToken);
    token_request(config, TOKEN_URL, AuthMethod::ClientSecretBasic, grant)
}

fn body(request: &HttpRequest) -> &str {
    request.body.as_deref().unwrap()
}

/// Starts a foreground renewal at `now` (the cached token, if any, is dropped first as if an
/// API had refused it) and returns its request.
fn renewal(cache: &mut TokenCache, config: &Config, now: u64) -> HttpRequest {
    cache.invalidate();
    assert_eq!(look(cache, now), Look::Wait { start: true });
    next_request(cache, config)
}

fn fresh_from(cache: &mut TokenCache, now: u64, body: &str) {
    let token =
        parse_token_response(&SerdeJson, &json_200(body), now, 300_000).expect("a token response");
    assert!(matches!(
        complete(cache, now + 100, Ok(token)),
        Done::Fresh { .. }
    ));
}

#[test]
fn renewals_refresh_rotate_and_fall_back_to_the_password_grant() {
    let config = password_config();
    let mut cache = TokenCache::new(config.timing);

    // 1. No refresh token yet: the password grant.
    let first = renewal(&mut cache, &config, T0);
    assert!(body(&first).starts_with(PASSWORD_FORM), "{}", body(&first));
    // InfoLink's answer carries a refresh token.
    fresh_from(&mut cache, T0, &fixture("token_refresh_and_scope.json"));
    assert!(cache.token().unwrap().refresh_token.is_none());

    // 2. The next renewal refreshes, without scope or user credentials.
    let t1 = T0 + 1_000_000;
    let second = renewal(&mut cache, &config, t1);
    assert_eq!(
        body(&second),
        "grant_type=refresh_token&refresh_token=REFRESH-5d9e01"
    );
    // The server rotates the refresh token.
    fresh_from(
        &mut cache,
        t1,
        r#"{"access_token":"TOKEN-2","expires_in":1800,"refresh_token":"REFRESH-rotated-2"}"#,
    );

    // 3. The rotated token is used; the old one is never sent again.
    let t2 = t1 + 1_000_000;
    let third = renewal(&mut cache, &config, t2);
    assert_eq!(
        body(&third),
        "grant_type=refresh_token&refresh_token=REFRESH-rotated-2"
    );
    assert!(!body(&third).contains(REFRESH_TOKEN));
    // An answer without a refresh token keeps the current one.
    fresh_from(
        &mut cache,
        t2,
        r#"{"access_token":"TOKEN-3","expires_in":1800}"#,
    );

    // 4. Still the rotated one; InfoLink says it expired.
    let t3 = t2 + 1_000_000;
    let fourth = renewal(&mut cache, &config, t3);
    assert_eq!(
        body(&fourth),
        "grant_type=refresh_token&refresh_token=REFRESH-rotated-2"
    );
    let refused = fixture("error_infolink_invalid_grant.json");
    let error = parse_token_response(
        &SerdeJson,
        &response(400, "application/json", &refused),
        t3,
        300_000,
    )
    .unwrap_err();
    assert_eq!(error.code(), "invalid_grant");
    let sent = cache.take_refresh_token().unwrap();
    assert!(
        cache.refresh_failed(&error, sent),
        "invalid_grant falls back"
    );
    assert!(cache.refresh_token().is_none());

    // 5. The fallback, in the same flight: the password grant again, no refresh token.
    let fallback = next_request(&cache, &config);
    assert!(
        body(&fallback).starts_with(PASSWORD_FORM),
        "{}",
        body(&fallback)
    );
    assert!(!body(&fallback).contains("refresh_token"));
    fresh_from(
        &mut cache,
        t3,
        r#"{"access_token":"TOKEN-4","expires_in":1800,"refresh_token":"REFRESH-new-4"}"#,
    );
    let t4 = t3 + 1_000_000;
    assert_eq!(
        body(&renewal(&mut cache, &config, t4)),
        "grant_type=refresh_token&refresh_token=REFRESH-new-4"
    );
}

#[test]
fn the_nested_infolink_error_also_falls_back() {
    let mut cache = TokenCache::new(common::config().timing);
    look(&mut cache, T0);
    fresh_from(&mut cache, T0, &fixture("token_refresh_and_scope.json"));
    let body = fixture("infolink_nonstandard_error.json");
    let error = parse_token_response(
        &SerdeJson,
        &response(401, "application/json", &body),
        T0,
        300_000,
    )
    .unwrap_err();
    let sent = cache.take_refresh_token().unwrap();
    assert!(cache.refresh_failed(&error, sent));
    assert!(cache.refresh_token().is_none());
    assert!(matches!(
        Grant::original(&common::config()).unwrap(),
        Grant::ClientCredentials
    ));
}

#[test]
fn a_refresh_refused_with_any_4xx_falls_back() {
    // Servers answer an expired or revoked refresh token with invalid_grant, invalid_request,
    // invalid_client or a bare 400: whatever the code, a refused refresh token is dropped and
    // the original grant is used, so no refresh token is sent again forever.
    let config = password_config();
    let mut cache = TokenCache::new(config.timing);
    look(&mut cache, T0);
    fresh_from(&mut cache, T0, &fixture("token_refresh_and_scope.json"));
    let body = fixture("error_invalid_client.json");
    let error = parse_token_response(
        &SerdeJson,
        &response(401, "application/json", &body),
        T0,
        300_000,
    )
    .unwrap_err();
    assert_eq!(error.code(), "invalid_client");
    let sent = cache.take_refresh_token().unwrap();
    assert!(cache.refresh_failed(&error, sent));
    assert!(cache.refresh_token().is_none());
    assert!(!body_of_next_is_refresh(&cache, &config));
}

fn body_of_next_is_refresh(cache: &TokenCache, config: &Config) -> bool {
    next_request(cache, config)
        .body
        .unwrap()
        .starts_with("grant_type=refresh_token&")
}
