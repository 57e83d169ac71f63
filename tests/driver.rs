//! The sans-IO renewal driver with a fake clock: every `now` is picked by the test, every
//! answer is scripted, and every `random` is given, so each step the driver asks for is
//! checked exactly — which request goes out, how long to sleep, what the waiters get.
//!
//! Tokens are answered at T0 with `expires_in: 3600`, so with the default timing (refresh
//! ahead 60 s, margin 10 s) a token sent for at `t` expires at `t + 1 h`, is fresh until 60 s
//! before that and is served with a background refresh until 10 s before.

mod common;

use common::{
    assert_no_secret, config, decided, input, password_input, response, Look, SerdeJson,
    ACCESS_TOKEN, PASSWORD, REFRESH_TOKEN, SECRET, T0, USERNAME,
};
use edge_oauth::cache::Outcome;
use edge_oauth::config::ConfigInput;
use edge_oauth::driver::{Decision, Driver, Step};
use edge_oauth::request::HttpRequest;
use edge_oauth::response::HttpResponse;
use edge_oauth::TokenError;

const TOKEN_URL: &str = "https://auth.example.test/oauth2/token";
const ISSUER: &str = "https://idp.example.test/realms/edge";
const DISCOVERED_TOKEN_URL: &str =
    "https://idp.example.test/realms/edge/protocol/openid-connect/token";
/// The three well-known locations for ISSUER, in the order `discovery_urls` gives them.
const OPENID_CONFIGURATION: &str =
    "https://idp.example.test/realms/edge/.well-known/openid-configuration";
const RFC8414_INSERTED: &str =
    "https://idp.example.test/.well-known/oauth-authorization-server/realms/edge";
const RFC8414_APPENDED: &str =
    "https://idp.example.test/realms/edge/.well-known/oauth-authorization-server";
/// base64("edge-client:SECRET-c4f1e9").
const BASIC: &str = "Basic ZWRnZS1jbGllbnQ6U0VDUkVULWM0ZjFlOQ==";
const HOUR: u64 = 3_600_000;
const E: u64 = T0 + HOUR;
const FRESH_UNTIL: u64 = E - 60_000;
/// The second access token and a rotated refresh token.
const ACCESS_TOKEN_2: &str = "TOKEN-b7c2d4-second";
const ACCESS_TOKEN_3: &str = "TOKEN-c9e5f1-third";
const ROTATED_REFRESH: &str = "REFRESH-rotated-77aa";
const WAIT_START: Look = Look::Wait { start: true };

// ---- helpers ------------------------------------------------------------------------------

/// A step, owned: what the driver asked for, without its borrow of the driver.
#[derive(Debug)]
enum S {
    Send(HttpRequest),
    Sleep(u64),
    Fresh {
        access_token: String,
        expires_at: u64,
        fresh_until: u64,
    },
    Stale {
        access_token: String,
        expires_at: u64,
    },
    Failed(TokenError),
}

fn flat(step: Step<'_>) -> S {
    match step {
        Step::Send(request) => S::Send(request),
        Step::Sleep(ms) => S::Sleep(ms),
        Step::Done(Outcome::Fresh { token, fresh_until }) => S::Fresh {
            access_token: token.access_token.expose().to_owned(),
            expires_at: token.expires_at_ms,
            fresh_until,
        },
        Step::Done(Outcome::Stale { token, .. }) => S::Stale {
            access_token: token.access_token.expose().to_owned(),
            expires_at: token.expires_at_ms,
        },
        Step::Done(Outcome::Failed { error, .. }) => S::Failed(error),
    }
}

fn driver(input: ConfigInput) -> Driver {
    Driver::new(input.validate(&SerdeJson).expect("valid configuration"))
}

fn issuer_input() -> ConfigInput {
    ConfigInput {
        token_url: None,
        issuer: Some(ISSUER.into()),
        ..input()
    }
}

/// The first step of the renewal a lookup at `now` starts; the lookup must start one.
fn first_step(d: &mut Driver, now: u64) -> Step<'_> {
    match d.lookup(now) {
        Decision::Wait {
            first: Some(request),
        }
        | Decision::Serve {
            refresh: Some(request),
            ..
        } => Step::Send(request.clone()),
        other => panic!("a lookup at {now} starts no renewal: {other:?}"),
    }
}

fn start(d: &mut Driver, now: u64) -> S {
    flat(first_step(d, now))
}

fn resume(d: &mut Driver, now: u64) -> S {
    flat(d.resume(now))
}

/// Reports `response` with the jitter at its middle.
fn answer_with(d: &mut Driver, now: u64, response: &HttpResponse) -> S {
    flat(d.on_response(now, response, &SerdeJson, 0.5))
}

/// Reports a JSON answer with `status`.
fn answer(d: &mut Driver, now: u64, status: u16, body: &str) -> S {
    answer_with(d, now, &response(status, "application/json", body))
}

fn unanswered(d: &mut Driver, now: u64, error: TokenError, random: f64) -> S {
    flat(d.on_unanswered(now, error, random))
}

fn network() -> TokenError {
    TokenError::Network("connection reset".into())
}

fn timeout() -> TokenError {
    TokenError::Timeout { timeout_ms: 10_000 }
}

/// A one-hour token response, with a refresh token when given.
fn token_body(access_token: &str, refresh_token: Option<&str>) -> String {
    let mut body = serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    body.to_string()
}

fn error_body(error: &str) -> String {
    serde_json::json!({ "error": error }).to_string()
}

fn metadata_body(auth_methods: Option<&[&str]>) -> String {
    let mut body = serde_json::json!({
        "issuer": ISSUER,
        "token_endpoint": DISCOVERED_TOKEN_URL,
    });
    if let Some(methods) = auth_methods {
        body["token_endpoint_auth_methods_supported"] = methods.into();
    }
    body.to_string()
}

#[track_caller]
fn sent(step: S) -> HttpRequest {
    match step {
        S::Send(request) => request,
        other => panic!("expected Send, got {other:?}"),
    }
}

#[track_caller]
fn failed(step: S) -> TokenError {
    match step {
        S::Failed(error) => error,
        other => panic!("expected Done(Failed), got {other:?}"),
    }
}

/// The access token of a `Done(Fresh)`, checking its expiry.
#[track_caller]
fn fresh(step: S, expires_at_expected: u64) -> String {
    match step {
        S::Fresh {
            access_token,
            expires_at,
            fresh_until,
        } => {
            assert_eq!(expires_at, expires_at_expected, "expiry of {access_token}");
            assert_eq!(fresh_until, expires_at - 60_000);
            access_token
        }
        other => panic!("expected Done(Fresh), got {other:?}"),
    }
}

/// The form parameter `name` of a request body (raw, still form-encoded), if present.
fn param(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .body
        .as_deref()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn header<'r>(request: &'r HttpRequest, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Checks that `request` is the token POST for `grant_type` to `url`.
#[track_caller]
fn assert_token_post(request: &HttpRequest, url: &str, grant_type: &str) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, url);
    assert_eq!(param(request, "grant_type").as_deref(), Some(grant_type));
    assert_eq!(
        header(request, "Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
}

/// Checks that `request` is a refresh with `refresh_token` to the configured token URL.
#[track_caller]
fn assert_refresh(request: &HttpRequest, refresh_token: &str) {
    assert_token_post(request, TOKEN_URL, "refresh_token");
    assert_eq!(
        param(request, "refresh_token").as_deref(),
        Some(refresh_token)
    );
}

/// Checks that `request` is the client-credentials POST with no refresh token in it.
#[track_caller]
fn assert_client_credentials(request: &HttpRequest) {
    assert_token_post(request, TOKEN_URL, "client_credentials");
    assert_eq!(param(request, "refresh_token"), None);
}

/// The access token a lookup at `now` serves, if it serves one, and the first request of the
/// background refresh it starts, if it starts one.
fn served_with(d: &mut Driver, now: u64) -> Option<(String, Option<HttpRequest>)> {
    match d.lookup(now) {
        Decision::Serve { token, refresh, .. } => {
            Some((token.access_token.expose().to_owned(), refresh.cloned()))
        }
        Decision::Wait { .. } | Decision::CoolingDown { .. } | Decision::Refused { .. } => None,
    }
}

/// The access token a lookup at `now` serves, if it serves one, and whether it starts a
/// background refresh.
fn served(d: &mut Driver, now: u64) -> Option<(String, bool)> {
    served_with(d, now).map(|(token, refresh)| (token, refresh.is_some()))
}

/// The first request of the background refresh a lookup at `now` starts while it serves
/// ACCESS_TOKEN.
fn refresh_started(d: &mut Driver, now: u64) -> HttpRequest {
    match served_with(d, now) {
        Some((token, Some(request))) if token == ACCESS_TOKEN => request,
        other => panic!("at {now}: {other:?}"),
    }
}

/// A driver for `input` holding ACCESS_TOKEN (sent for at T0, expiring at E) and, when
/// given, a refresh token from the same answer.
fn warm(input: ConfigInput, refresh_token: Option<&str>) -> Driver {
    let mut d = driver(input);
    assert_client_credentials(&sent(start(&mut d, T0)));
    let step = answer(
        &mut d,
        T0 + 100,
        200,
        &token_body(ACCESS_TOKEN, refresh_token),
    );
    assert_eq!(fresh(step, E), ACCESS_TOKEN);
    d
}

/// Drops the access token (as after a 401) and starts the next renewal at `now`.
fn renew_after_invalidate(d: &mut Driver, now: u64) -> HttpRequest {
    d.invalidate();
    sent(start(d, now))
}

// ---- 1. token URL --------------------------------------------------------------------------

/// With a token URL the renewal is one client-credentials POST, and its answer is cached.
#[test]
fn token_url_renewal_posts_client_credentials_and_caches_the_answer() {
    let mut d = Driver::new(config());
    let request = sent(start(&mut d, T0));
    assert_client_credentials(&request);
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=client_credentials")
    );
    assert_eq!(header(&request, "Authorization"), Some(BASIC));
    assert_eq!(header(&request, "Accept"), Some("application/json"));
    assert_eq!(d.cache().stats().token_requests, 1);

    let step = answer(&mut d, T0 + 150, 200, &token_body(ACCESS_TOKEN, None));
    assert_eq!(
        fresh(step, E),
        ACCESS_TOKEN,
        "expires_in counts from the send"
    );
    let stats = d.cache().stats();
    assert_eq!((stats.token_requests, stats.failures), (1, 0));
    assert!(!d.cache().in_flight());

    assert_eq!(
        decided(d.lookup(T0 + 60_000)),
        Look::Serve {
            expires_at: E,
            fresh_until: FRESH_UNTIL,
            start_refresh: false
        }
    );
    assert_eq!(
        served(&mut d, T0 + 120_000),
        Some((ACCESS_TOKEN.to_owned(), false))
    );
    assert_eq!(d.cache().stats().token_requests, 1, "served from memory");
}

// ---- 2-3. discovery ------------------------------------------------------------------------

/// An issuer is discovered through each well-known URL in turn while they answer 404, once.
#[test]
fn issuer_discovery_walks_the_well_known_urls_then_posts_to_the_token_endpoint_once() {
    let mut d = driver(issuer_input());
    let request = sent(start(&mut d, T0));
    assert_eq!(request.method, "GET");
    assert_eq!(request.url, OPENID_CONFIGURATION);
    assert_eq!(request.body, None);
    assert_eq!(header(&request, "Authorization"), None, "no credentials");

    let not_found = response(404, "text/html", "<h1>Not Found</h1>");
    let request = sent(answer_with(&mut d, T0 + 10, &not_found));
    assert_eq!(
        (request.method, request.url.as_str()),
        ("GET", RFC8414_INSERTED)
    );
    let request = sent(answer_with(&mut d, T0 + 20, &not_found));
    assert_eq!(
        (request.method, request.url.as_str()),
        ("GET", RFC8414_APPENDED)
    );
    assert_eq!(
        d.cache().stats().token_requests,
        0,
        "discovery GETs are not token requests"
    );

    let request = sent(answer(&mut d, T0 + 30, 200, &metadata_body(None)));
    assert_token_post(&request, DISCOVERED_TOKEN_URL, "client_credentials");
    assert_eq!(
        header(&request, "Authorization"),
        Some(BASIC),
        "basic when the metadata lists no auth methods"
    );
    assert_eq!(d.cache().stats().token_requests, 1);

    let step = answer(&mut d, T0 + 50, 200, &token_body(ACCESS_TOKEN, None));
    assert_eq!(
        fresh(step, T0 + 30 + HOUR),
        ACCESS_TOKEN,
        "expires_in counts from the token POST, not from the discovery GET"
    );
    assert_eq!(d.cache().stats().token_requests, 1);

    // The next renewal goes straight to the discovered endpoint.
    let request = renew_after_invalidate(&mut d, T0 + 60_000);
    assert_token_post(&request, DISCOVERED_TOKEN_URL, "client_credentials");
    assert_eq!(d.cache().stats().token_requests, 2);
    let step = answer(&mut d, T0 + 60_100, 200, &token_body(ACCESS_TOKEN_2, None));
    assert_eq!(fresh(step, T0 + 60_000 + HOUR), ACCESS_TOKEN_2);
}

/// When every well-known URL answers 404 the renewal fails with that 404 instead of looping.
#[test]
fn issuer_discovery_fails_once_every_well_known_url_is_missing() {
    let mut d = driver(issuer_input());
    let mut urls = vec![sent(start(&mut d, T0)).url];
    let not_found = response(404, "application/json", "{}");
    let error = loop {
        match answer_with(&mut d, T0 + 10, &not_found) {
            S::Send(request) => urls.push(request.url),
            other => break failed(other),
        }
        assert!(urls.len() <= 3, "more than three discovery URLs: {urls:?}");
    };
    assert_eq!(
        urls,
        [OPENID_CONFIGURATION, RFC8414_INSERTED, RFC8414_APPENDED]
    );
    assert_eq!(error.code(), "invalid_response");
    assert_eq!(error.status(), Some(404));
    assert_eq!(d.cache().stats().token_requests, 0);
    assert_eq!(d.cache().stats().failures, 1);
}

/// A server that lists only client_secret_post gets the credentials in the body, not Basic.
#[test]
fn discovery_listing_only_client_secret_post_moves_the_credentials_into_the_body() {
    let mut d = driver(issuer_input());
    assert_eq!(sent(start(&mut d, T0)).url, OPENID_CONFIGURATION);
    let metadata = metadata_body(Some(&["client_secret_post", "private_key_jwt"]));
    let request = sent(answer(&mut d, T0 + 10, 200, &metadata));
    assert_token_post(&request, DISCOVERED_TOKEN_URL, "client_credentials");
    assert_eq!(header(&request, "Authorization"), None);
    assert_eq!(param(&request, "client_id").as_deref(), Some("edge-client"));
    assert_eq!(param(&request, "client_secret").as_deref(), Some(SECRET));
}

/// An auth method chosen in the configuration wins over what discovery lists.
#[test]
fn configured_auth_method_wins_over_discovery_metadata() {
    let mut d = driver(ConfigInput {
        auth_method: Some("client_secret_basic".into()),
        ..issuer_input()
    });
    assert_eq!(sent(start(&mut d, T0)).url, OPENID_CONFIGURATION);
    let metadata = metadata_body(Some(&["client_secret_post"]));
    let request = sent(answer(&mut d, T0 + 10, 200, &metadata));
    assert_token_post(&request, DISCOVERED_TOKEN_URL, "client_credentials");
    assert_eq!(header(&request, "Authorization"), Some(BASIC));
    assert_eq!(param(&request, "client_secret"), None);
    assert_eq!(param(&request, "client_id"), None);
}

// ---- 4-5. retries --------------------------------------------------------------------------

/// A 503 with Retry-After is retried after exactly that delay, then fails with the server's code.
#[test]
fn retry_after_503_sleeps_as_told_then_fails_with_the_server_error_when_retries_run_out() {
    let mut d = driver(ConfigInput {
        max_retries: Some(1.0),
        ..input()
    });
    let first = sent(start(&mut d, T0));
    let body = error_body("temporarily_unavailable");
    let busy = HttpResponse {
        status: 503,
        content_type: "application/json",
        retry_after_ms: Some(2_000),
        body: Some(&body),
    };
    match answer_with(&mut d, T0 + 100, &busy) {
        S::Sleep(ms) => assert_eq!(ms, 2000, "Retry-After: 2 is 2000 ms"),
        other => panic!("expected Sleep(2000), got {other:?}"),
    }
    assert_eq!(
        d.cache().stats().token_requests,
        1,
        "sleeping sends nothing"
    );
    assert!(d.cache().in_flight());

    let again = sent(resume(&mut d, T0 + 2100));
    assert_eq!(again.method, first.method);
    assert_eq!(again.url, first.url);
    assert_eq!(again.headers, first.headers);
    assert_eq!(again.body, first.body);
    assert_eq!(d.cache().stats().token_requests, 2);

    let error = failed(answer_with(&mut d, T0 + 2200, &busy));
    assert_eq!(error.code(), "temporarily_unavailable");
    assert_eq!(error.status(), Some(503));
    assert!(error.retryable());
    assert_eq!(error.retry_after_ms(), Some(2000));
    let stats = d.cache().stats();
    assert_eq!((stats.token_requests, stats.failures), (2, 1));
    assert!(!d.cache().in_flight());
    // No token to serve, and the server's Retry-After holds every caller off.
    assert_eq!(
        decided(d.lookup(T0 + 2300)),
        Look::CoolingDown {
            code: "temporarily_unavailable".into(),
            retry_after_ms: 1_900
        }
    );
    let (error, left) = d.failure(T0 + 2300);
    assert_eq!(
        (error.code(), left),
        ("temporarily_unavailable", Some(1_900))
    );
    assert_eq!(decided(d.lookup(T0 + 4200)), WAIT_START);
}

/// A 503 without an OAuth error body ends, once retries run out, as a retryable invalid_response.
#[test]
fn exhausted_503_without_an_oauth_error_is_a_retryable_invalid_response() {
    let mut d = driver(ConfigInput {
        max_retries: Some(1.0),
        ..input()
    });
    sent(start(&mut d, T0));
    let html = HttpResponse {
        status: 503,
        content_type: "text/html",
        retry_after_ms: Some(2_000),
        body: Some("<html><body>Service Unavailable</body></html>"),
    };
    assert!(matches!(
        answer_with(&mut d, T0 + 100, &html),
        S::Sleep(2000)
    ));
    sent(resume(&mut d, T0 + 2100));
    let error = failed(answer_with(&mut d, T0 + 2200, &html));
    assert_eq!(error.code(), "invalid_response");
    assert_eq!(error.status(), Some(503));
    assert!(error.retryable());
}

/// A network error is retried after full-jitter backoff (250 ms ceiling, doubling), same request.
#[test]
fn network_error_is_retried_with_jittered_backoff_and_the_same_request() {
    let mut d = Driver::new(config()); // max_retries defaults to 2
    assert_eq!(d.config().max_retries, 2);
    let first = sent(start(&mut d, T0));

    match unanswered(&mut d, T0 + 100, network(), 0.5) {
        S::Sleep(ms) => {
            assert!(ms <= 250, "first retry within the 250 ms ceiling: {ms}");
            assert_eq!(ms, 125, "random 0.5 is half the first ceiling");
        }
        other => panic!("expected Sleep, got {other:?}"),
    }
    let again = sent(resume(&mut d, T0 + 225));
    assert_eq!(
        (again.method, &again.url, &again.headers, &again.body),
        (first.method, &first.url, &first.headers, &first.body)
    );

    match unanswered(&mut d, T0 + 300, timeout(), 0.5) {
        S::Sleep(ms) => assert_eq!(ms, 250, "random 0.5 is half the doubled 500 ms ceiling"),
        other => panic!("expected Sleep, got {other:?}"),
    }
    let third = sent(resume(&mut d, T0 + 550));
    assert_eq!(third.body, first.body);
    assert_eq!(d.cache().stats().token_requests, 3);

    // The answer to the last attempt counts its lifetime from that attempt's send.
    let step = answer(&mut d, T0 + 600, 200, &token_body(ACCESS_TOKEN, None));
    assert_eq!(fresh(step, T0 + 550 + HOUR), ACCESS_TOKEN);
}

/// With random close to 1 the delay stays under the ceiling, and retries stop at max_retries.
#[test]
fn network_backoff_stays_under_the_ceiling_and_stops_at_max_retries() {
    let mut d = Driver::new(config());
    sent(start(&mut d, T0));
    let almost_one = 1.0 - f64::EPSILON;
    let mut now = T0;
    let mut delays = Vec::new();
    let error = loop {
        now += 100;
        match unanswered(&mut d, now, network(), almost_one) {
            S::Sleep(ms) => {
                delays.push(ms);
                now += ms;
                sent(resume(&mut d, now));
            }
            other => break failed(other),
        }
        assert!(
            delays.len() <= 2,
            "more retries than max_retries: {delays:?}"
        );
    };
    assert_eq!(delays.len(), 2);
    assert!((240..=250).contains(&delays[0]), "{delays:?}");
    assert!((490..=500).contains(&delays[1]), "{delays:?}");
    assert_eq!(error.code(), "network");
    assert_eq!(d.cache().stats().token_requests, 3);
}

// ---- 6-9. refresh tokens -------------------------------------------------------------------

/// The refresh token is used for the next renewal, kept when not rotated, replaced when rotated.
#[test]
fn refresh_token_is_used_next_kept_without_rotation_and_replaced_on_rotation() {
    let mut d = warm(input(), Some(REFRESH_TOKEN));
    assert_eq!(
        d.cache().refresh_token().map(|t| t.expose()),
        Some(REFRESH_TOKEN)
    );

    let request = renew_after_invalidate(&mut d, T0 + 60_000);
    assert_refresh(&request, REFRESH_TOKEN);
    assert_eq!(header(&request, "Authorization"), Some(BASIC));
    let step = answer(&mut d, T0 + 60_100, 200, &token_body(ACCESS_TOKEN_2, None));
    assert_eq!(fresh(step, T0 + 60_000 + HOUR), ACCESS_TOKEN_2);
    assert_eq!(
        served(&mut d, T0 + 61_000),
        Some((ACCESS_TOKEN_2.to_owned(), false))
    );

    // Not rotated: the same refresh token goes again.
    let request = renew_after_invalidate(&mut d, T0 + 120_000);
    assert_refresh(&request, REFRESH_TOKEN);
    let rotated = token_body(ACCESS_TOKEN_3, Some(ROTATED_REFRESH));
    assert_eq!(
        fresh(
            answer(&mut d, T0 + 120_100, 200, &rotated),
            T0 + 120_000 + HOUR
        ),
        ACCESS_TOKEN_3
    );

    // Rotated: the new one replaces it.
    let request = renew_after_invalidate(&mut d, T0 + 180_000);
    assert_refresh(&request, ROTATED_REFRESH);
    assert_eq!(d.cache().stats().token_requests, 4);
    assert_eq!(d.cache().stats().refreshes, 2);
}

/// A refused refresh (invalid_grant) falls back to the original grant at once and is dropped.
#[test]
fn invalid_grant_on_refresh_falls_back_to_client_credentials_in_the_same_renewal() {
    let mut d = warm(input(), Some(REFRESH_TOKEN));
    let request = renew_after_invalidate(&mut d, T0 + 60_000);
    assert_refresh(&request, REFRESH_TOKEN);

    let fallback = sent(answer(
        &mut d,
        T0 + 60_100,
        400,
        &error_body("invalid_grant"),
    ));
    assert_client_credentials(&fallback);
    assert!(d.cache().in_flight(), "still the same renewal");
    assert_eq!(d.cache().stats().failures, 0);
    assert_eq!(d.cache().stats().token_requests, 3);

    let step = answer(&mut d, T0 + 60_200, 200, &token_body(ACCESS_TOKEN_2, None));
    assert_eq!(fresh(step, T0 + 60_100 + HOUR), ACCESS_TOKEN_2);
    assert!(d.cache().refresh_token().is_none());

    let request = renew_after_invalidate(&mut d, T0 + 120_000);
    assert_client_credentials(&request);
}

/// A refresh that may have reached the server unanswered is spent: no retry, the original grant.
#[test]
fn unanswered_refresh_is_not_retried_and_the_refresh_token_is_spent() {
    for error in [network(), timeout()] {
        let code = error.code().to_owned();
        let mut d = warm(
            ConfigInput {
                max_retries: Some(3.0),
                ..input()
            },
            Some(REFRESH_TOKEN),
        );
        let request = renew_after_invalidate(&mut d, T0 + 60_000);
        assert_refresh(&request, REFRESH_TOKEN);

        let fallback = sent(unanswered(&mut d, T0 + 65_000, error, 0.5));
        assert_client_credentials(&fallback);
        assert!(d.cache().refresh_token().is_none(), "{code}");

        let step = answer(&mut d, T0 + 65_100, 200, &token_body(ACCESS_TOKEN_2, None));
        assert_eq!(fresh(step, T0 + 65_000 + HOUR), ACCESS_TOKEN_2, "{code}");
        let request = renew_after_invalidate(&mut d, T0 + 120_000);
        assert_client_credentials(&request);
    }
}

/// A refresh answered with a retryable 5xx is retried, then fails, and its token is kept.
#[test]
fn refresh_failing_with_a_5xx_keeps_the_refresh_token_for_the_next_renewal() {
    let mut d = warm(
        ConfigInput {
            max_retries: Some(1.0),
            ..input()
        },
        Some(REFRESH_TOKEN),
    );
    let request = renew_after_invalidate(&mut d, T0 + 60_000);
    assert_refresh(&request, REFRESH_TOKEN);

    let busy = error_body("temporarily_unavailable");
    match answer(&mut d, T0 + 60_100, 503, &busy) {
        S::Sleep(ms) => assert_eq!(ms, 125),
        other => panic!("expected Sleep, got {other:?}"),
    }
    let again = sent(resume(&mut d, T0 + 60_225));
    assert_refresh(&again, REFRESH_TOKEN);
    assert_eq!(again.body, request.body);

    let error = failed(answer(&mut d, T0 + 60_300, 503, &busy));
    assert_eq!(error.code(), "temporarily_unavailable");
    assert!(error.retryable());
    assert_eq!(
        d.cache().refresh_token().map(|t| t.expose()),
        Some(REFRESH_TOKEN)
    );

    // After the cooldown.
    let request = sent(start(&mut d, T0 + 61_100));
    assert_refresh(&request, REFRESH_TOKEN);
}

// ---- 10. cancel ----------------------------------------------------------------------------

/// A cancelled renewal is dropped: the next lookup starts anew, without its refresh token.
#[test]
fn cancel_drops_the_renewal_and_its_refresh_token() {
    let mut d = warm(input(), Some(REFRESH_TOKEN));
    let request = renew_after_invalidate(&mut d, T0 + 60_000);
    assert_refresh(&request, REFRESH_TOKEN);

    assert!(d.leave(), "the only waiter left: cancel");
    d.cancel();
    assert!(!d.cache().in_flight());
    assert!(d.cache().refresh_token().is_none());

    let request = sent(start(&mut d, T0 + 61_000));
    assert_client_credentials(&request);
    let step = answer(&mut d, T0 + 61_100, 200, &token_body(ACCESS_TOKEN_2, None));
    assert_eq!(fresh(step, T0 + 61_000 + HOUR), ACCESS_TOKEN_2);
}

/// A renewal cancelled during discovery starts over at the first well-known URL.
#[test]
fn cancel_during_discovery_restarts_discovery_from_the_first_url() {
    let mut d = driver(issuer_input());
    assert_eq!(sent(start(&mut d, T0)).url, OPENID_CONFIGURATION);
    let not_found = response(404, "text/html", "Not Found");
    assert_eq!(
        sent(answer_with(&mut d, T0 + 10, &not_found)).url,
        RFC8414_INSERTED
    );
    assert!(d.leave());
    d.cancel();

    assert_eq!(sent(start(&mut d, T0 + 1000)).url, OPENID_CONFIGURATION);
}

/// A renewal cancelled while sleeping before a retry leaves the next one its full retry budget.
#[test]
fn cancel_during_a_retry_wait_gives_the_next_renewal_a_fresh_retry_budget() {
    let mut d = driver(ConfigInput {
        max_retries: Some(1.0),
        ..input()
    });
    sent(start(&mut d, T0));
    assert!(matches!(
        unanswered(&mut d, T0 + 100, network(), 0.5),
        S::Sleep(125)
    ));
    assert!(d.leave());
    d.cancel();

    assert_client_credentials(&sent(start(&mut d, T0 + 1000)));
    assert!(
        matches!(unanswered(&mut d, T0 + 1100, network(), 0.5), S::Sleep(125)),
        "the first retry of a new renewal"
    );
}

// ---- 11-12. stale-if-error, redirects -----------------------------------------------------

/// A background refresh that fails while the old token is valid hands out the old token.
#[test]
fn failed_background_refresh_serves_the_still_valid_token_as_stale() {
    let mut d = warm(
        ConfigInput {
            max_retries: Some(0.0),
            ..input()
        },
        None,
    );
    let now = E - 30_000; // inside the refresh-ahead window, before the margin
    assert_client_credentials(&refresh_started(&mut d, now));

    match answer(
        &mut d,
        now + 100,
        503,
        &error_body("temporarily_unavailable"),
    ) {
        S::Stale {
            access_token,
            expires_at,
        } => assert_eq!((access_token.as_str(), expires_at), (ACCESS_TOKEN, E)),
        other => panic!("expected Done(Stale), got {other:?}"),
    }
    assert_eq!(d.cache().stats().failures, 1);
    // Past the margin it is still served, because the last renewal failed.
    assert_eq!(
        served(&mut d, E - 5_000).map(|(token, _)| token).as_deref(),
        Some(ACCESS_TOKEN)
    );
}

/// A redirect from the token endpoint is never followed with credentials: the renewal fails.
#[test]
fn redirect_from_the_token_endpoint_is_refused_not_followed() {
    for status in [301, 302, 307, 308] {
        let mut d = Driver::new(config()); // retries allowed: still not retried
        sent(start(&mut d, T0));
        let redirect = HttpResponse {
            status,
            content_type: "text/html",
            retry_after_ms: None,
            body: Some("<a href=\"https://evil.example.test/token\">moved</a>"),
        };
        let error = failed(answer_with(&mut d, T0 + 100, &redirect));
        assert_eq!(error.code(), "invalid_response", "{status}");
        assert_eq!(error.status(), Some(status));
        assert!(!error.retryable(), "{status}");
        assert_eq!(
            d.cache().stats().token_requests,
            1,
            "{status}: no second request"
        );
    }
}

// ---- 13. no secrets in Debug ---------------------------------------------------------------

/// Debug of every step and request shows no secret, credential or token, though they are sent.
#[test]
fn debug_of_steps_and_requests_never_shows_secrets_or_tokens() {
    let secrets = [
        SECRET,
        ACCESS_TOKEN,
        REFRESH_TOKEN,
        ACCESS_TOKEN_2,
        ROTATED_REFRESH,
        USERNAME,
        PASSWORD,
        "ZWRnZS1jbGllbnQ6U0VDUkVULWM0ZjFlOQ", // the Basic credentials
        "jane.doe",
        "p%40ss",
    ];
    let mut seen = Vec::new();
    let mut on_the_wire = String::new();
    let mut check = |what: &str, step: Step<'_>| -> S {
        for text in [format!("{step:?}"), format!("{step:#?}")] {
            assert_no_secret(what, &text, &secrets);
        }
        if let Step::Send(request) = &step {
            assert_no_secret(what, &format!("{request:?}"), &secrets);
            assert_no_secret(what, &format!("{request:#?}"), &secrets);
            on_the_wire.push_str(request.body.as_deref().unwrap_or(""));
            on_the_wire.extend(request.headers.iter().map(|(_, value)| value.as_str()));
        }
        seen.push(what.to_owned());
        flat(step)
    };

    for input in [
        input(),
        ConfigInput {
            auth_method: Some("client_secret_post".into()),
            max_retries: Some(1.0),
            ..password_input()
        },
    ] {
        let mut d = driver(input);
        let with_refresh = token_body(ACCESS_TOKEN, Some(REFRESH_TOKEN));
        let rotated = token_body(ACCESS_TOKEN_2, Some(ROTATED_REFRESH));
        let busy = error_body("temporarily_unavailable");
        let refused = error_body("invalid_client");
        let ok = |body| response(200, "application/json", body);

        // The original grant: one retried network error, then a token with a refresh token.
        check("grant Send", first_step(&mut d, T0));
        check("Sleep", d.on_unanswered(T0 + 1, network(), 0.5));
        check("resumed Send", d.resume(T0 + 200));
        check(
            "Fresh",
            d.on_response(T0 + 300, &ok(&with_refresh), &SerdeJson, 0.5),
        );

        // A background refresh answered 503 until retries run out: Stale.
        let now = E - 30_000;
        let refresh = refresh_started(&mut d, now);
        let mut step = check("refresh Send", Step::Send(refresh));
        let mut at = now;
        // At most 3 attempts and 2 sleeps (max_retries ≤ 2) before the renewal ends.
        for _ in 0..=5 {
            at += 100;
            let busy = response(503, "application/json", &busy);
            step = match step {
                S::Send(_) => check("503", d.on_response(at, &busy, &SerdeJson, 0.5)),
                S::Sleep(_) => check("resume", d.resume(at)),
                S::Stale { .. } => break,
                other => panic!("expected Stale at the end, got {other:?}"),
            };
        }
        assert!(matches!(step, S::Stale { .. }), "never ended: {step:?}");

        // Refreshed with rotation, then the rotated one goes unanswered: fallback, refused.
        d.invalidate();
        check("refresh Send", first_step(&mut d, E - 20_000));
        check(
            "rotated Fresh",
            d.on_response(E - 19_900, &ok(&rotated), &SerdeJson, 0.5),
        );
        d.invalidate();
        check("rotated refresh Send", first_step(&mut d, E - 10_000));
        check("fallback Send", d.on_unanswered(E - 9_000, timeout(), 0.5));
        let refused = response(401, "application/json", &refused);
        let step = check(
            "Failed",
            d.on_response(E - 8_900, &refused, &SerdeJson, 0.5),
        );
        assert_eq!(failed(step).code(), "invalid_client");
        assert_no_secret("cache", &format!("{:?}", d.cache()), &secrets);
    }
    assert!(seen.len() >= 24, "{seen:?}");
    // The check is not vacuous: the values it looks for were on the wire.
    for value in [SECRET, REFRESH_TOKEN, ROTATED_REFRESH, "jane.doe", "p%40ss"] {
        assert!(on_the_wire.contains(value), "{value} was never sent");
    }
    assert!(on_the_wire.contains(BASIC));
}

// ---- 11. server text ------------------------------------------------------------------------

/// An IdP that echoes what it holds: every secret the client holds or last held — the client
/// secret, the refresh token sent, the access token just dropped — clear or form-encoded,
/// is `[redacted]` in the error, control characters go, and a non-web `error_uri` is dropped.
#[test]
fn a_server_echoing_secrets_gets_them_redacted() {
    let mut d = warm(
        ConfigInput {
            max_retries: Some(0.0),
            ..input()
        },
        Some(REFRESH_TOKEN),
    );
    let request = renew_after_invalidate(&mut d, T0 + 60_000);
    assert_refresh(&request, REFRESH_TOKEN);
    let basic = request
        .headers
        .iter()
        .find(|(name, _)| *name == "Authorization")
        .map(|(_, value)| value.clone())
        .expect("client_secret_basic by default");
    let echo = format!(
        "refused\u{7}: client_secret={SECRET}&refresh_token={}; last token {ACCESS_TOKEN}; {basic}",
        edge_oauth::request::percent_encode(REFRESH_TOKEN, true)
    );
    let body = serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": echo,
        "error_uri": "javascript:alert(1)",
    })
    .to_string();
    let error = failed(answer(&mut d, T0 + 60_100, 503, &body));
    let description = error.description().unwrap();
    assert_eq!(
        description,
        "refused: client_secret=[redacted]&refresh_token=[redacted]; last token [redacted]; Basic [redacted]"
    );
    assert_eq!(error.uri(), None);
    assert_no_secret(
        "echoed error",
        &format!("{error} {error:?}"),
        &[SECRET, REFRESH_TOKEN, ACCESS_TOKEN, &basic[6..]],
    );
}

/// Control characters in front of a secret do not push it out of what is looked at.
#[test]
fn a_secret_behind_many_control_characters_is_still_redacted() {
    let error = TokenError::Server {
        error: ["\u{1}".repeat(300), SECRET.to_owned()].concat(),
        description: Some(["\u{1}".repeat(1_000), SECRET.to_owned(), "!".into()].concat()),
        uri: None,
        status: 400,
        retry_after_ms: None,
    }
    .cleaned(&[SECRET.to_owned()]);
    assert_eq!(error.code(), "[redacted]");
    assert_eq!(error.description(), Some("[redacted]!"));
}
