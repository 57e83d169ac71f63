//! The device authorization grant (RFC 8628) with a fake clock: reading the device
//! authorization response, the polling rules (§3.4–3.5), and the driver's device sequence from
//! discovery to a cached token renewed through its refresh token; `getToken()` before an
//! approval, or once the refresh token is spent, sends nothing.

mod common;

use common::{input, json_200, response, SerdeJson, T0};
use edge_oauth::cache::Outcome;
use edge_oauth::config::{ConfigInput, GrantConfig};
use edge_oauth::device::{parse_device_authorization, Next, Polling, DEFAULT_INTERVAL_MS};
use edge_oauth::driver::{Decision, DeviceStep, Driver, Step};
use edge_oauth::request::HttpRequest;
use edge_oauth::response::HttpResponse;
use edge_oauth::TokenError;

const DEVICE_URL: &str = "https://auth.example.test/oauth2/device";
const DEVICE_CODE: &str = "DEVICE-CODE-9f3e1a-secret";
const USER_CODE: &str = "WDJB-MJHT";
const POLL_GRANT: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

fn device_input() -> ConfigInput {
    ConfigInput {
        grant: GrantConfig::DeviceCode,
        device_authorization_url: Some(DEVICE_URL.into()),
        client_secret: None,
        auth_method: Some("none".into()),
        scope: vec!["openid".into(), "offline_access".into()],
        ..input()
    }
}

fn driver(input: ConfigInput) -> Driver {
    Driver::new(input.validate(&SerdeJson).expect("valid configuration"))
}

fn authorization_body(interval: Option<u32>) -> String {
    let interval = interval.map_or(String::new(), |s| format!(r#","interval":{s}"#));
    format!(
        r#"{{"device_code":"{DEVICE_CODE}","user_code":"{USER_CODE}","verification_uri":"https://auth.example.test/device","verification_uri_complete":"https://auth.example.test/device?user_code={USER_CODE}","expires_in":600{interval}}}"#
    )
}

fn error_400(error: &str) -> String {
    format!(r#"{{"error":"{error}"}}"#)
}

fn sent(step: DeviceStep<'_>) -> HttpRequest {
    match step {
        DeviceStep::Send(request) => request,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn slept(step: DeviceStep<'_>) -> u64 {
    match step {
        DeviceStep::Sleep(ms) => ms,
        other => panic!("expected a sleep, got {other:?}"),
    }
}

fn failed(step: DeviceStep<'_>) -> TokenError {
    match step {
        DeviceStep::Done(Outcome::Failed { error, .. }) => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Starts the flow at T0 and answers the device authorization: the flow is polling.
fn authorized(d: &mut Driver, interval: Option<u32>) {
    sent(d.device_start(T0, None));
    let body = authorization_body(interval);
    match d.device_response(T0 + 10, &json_200(&body), &SerdeJson, 0.5) {
        DeviceStep::Authorized(authorization) => {
            assert_eq!(authorization.user_code, USER_CODE);
        }
        other => panic!("expected the authorization, got {other:?}"),
    }
}

fn pending(code: &str) -> String {
    error_400(code)
}

fn answer<'a>(d: &'a mut Driver, now: u64, response: &HttpResponse) -> DeviceStep<'a> {
    d.device_response(now, response, &SerdeJson, 0.5)
}

// ---- the device authorization response ---------------------------------------------------

#[test]
fn the_device_authorization_response_is_read_with_its_defaults() {
    let body = authorization_body(None);
    let authorization = parse_device_authorization(&SerdeJson, &json_200(&body), T0).unwrap();
    assert_eq!(authorization.device_code.expose(), DEVICE_CODE);
    assert_eq!(authorization.user_code, USER_CODE);
    assert_eq!(
        authorization.verification_uri,
        "https://auth.example.test/device"
    );
    assert_eq!(
        authorization.verification_uri_complete.as_deref(),
        Some("https://auth.example.test/device?user_code=WDJB-MJHT")
    );
    assert_eq!(authorization.expires_at_ms, T0 + 600_000);
    assert_eq!(
        authorization.interval_ms, DEFAULT_INTERVAL_MS,
        "5 s when not given"
    );
    // The device code is a secret: Debug never shows it.
    assert!(!format!("{authorization:?}").contains(DEVICE_CODE));
}

#[test]
fn unusable_device_authorization_responses_are_refused() {
    let cases = [
        (
            "no device_code",
            r#"{"user_code":"A","verification_uri":"https://a.test/d","expires_in":60}"#,
            "invalid_response",
        ),
        (
            "no user_code",
            r#"{"device_code":"D","verification_uri":"https://a.test/d","expires_in":60}"#,
            "invalid_response",
        ),
        (
            "a javascript: verification_uri",
            r#"{"device_code":"D","user_code":"A","verification_uri":"javascript:alert(1)","expires_in":60}"#,
            "invalid_response",
        ),
        (
            "no expires_in",
            r#"{"device_code":"D","user_code":"A","verification_uri":"https://a.test/d"}"#,
            "invalid_response",
        ),
        (
            "a device_code with a line break",
            r#"{"device_code":"D\nX","user_code":"A","verification_uri":"https://a.test/d","expires_in":60}"#,
            "invalid_response",
        ),
    ];
    for (case, body, code) in cases {
        let error = parse_device_authorization(&SerdeJson, &json_200(body), T0).unwrap_err();
        assert_eq!(error.code(), code, "{case}");
    }
    // Google calls it verification_url.
    let google = r#"{"device_code":"D","user_code":"A","verification_url":"https://www.google.com/device","expires_in":60,"interval":5}"#;
    let authorization = parse_device_authorization(&SerdeJson, &json_200(google), T0).unwrap();
    assert_eq!(
        authorization.verification_uri,
        "https://www.google.com/device"
    );
    // An OAuth error comes back as such.
    let body = error_400("invalid_client");
    let refused = response(401, "application/json", &body);
    let error = parse_device_authorization(&SerdeJson, &refused, T0).unwrap_err();
    assert_eq!(error.code(), "invalid_client");
}

// ---- polling (§3.4–3.5) ---------------------------------------------------------------------

fn polling(interval_ms: u64) -> Polling {
    Polling {
        interval_ms,
        next_at_ms: T0 + interval_ms,
        expires_at_ms: T0 + 600_000,
    }
}

fn server(code: &str) -> TokenError {
    TokenError::Server {
        error: code.into(),
        description: None,
        uri: None,
        status: 400,
        retry_after_ms: None,
    }
}

#[test]
fn polling_rules() {
    // (case, interval before, error, interval after, or the code the flow stops with)
    let cases: [(&str, u64, TokenError, Result<u64, &str>); 7] = [
        (
            "authorization_pending keeps the interval",
            5_000,
            server("authorization_pending"),
            Ok(5_000),
        ),
        ("slow_down adds 5 s", 5_000, server("slow_down"), Ok(10_000)),
        (
            "slow_down again adds 5 s more",
            10_000,
            server("slow_down"),
            Ok(15_000),
        ),
        (
            "a network error doubles it",
            5_000,
            TokenError::Network("reset".into()),
            Ok(10_000),
        ),
        (
            "a timeout doubles it, up to a minute",
            40_000,
            TokenError::Timeout { timeout_ms: 10 },
            Ok(60_000),
        ),
        (
            "access_denied stops",
            5_000,
            server("access_denied"),
            Err("access_denied"),
        ),
        (
            "expired_token stops",
            5_000,
            server("expired_token"),
            Err("expired_token"),
        ),
    ];
    for (case, before, error, expected) in cases {
        let mut p = polling(before);
        let now = T0 + 20_000;
        match (p.failed(now, error), expected) {
            (Next::Poll, Ok(interval)) => {
                assert_eq!(p.interval_ms, interval, "{case}");
                assert_eq!(p.next_at_ms, now + interval, "{case}");
                assert_eq!(p.wait(now), Ok(interval), "{case}");
            }
            (Next::Stop(error), Err(code)) => assert_eq!(error.code(), code, "{case}"),
            (next, expected) => panic!("{case}: {next:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn polling_stops_when_the_device_code_expires() {
    let mut p = polling(5_000);
    assert_eq!(p.wait(T0), Ok(5_000));
    assert_eq!(
        p.wait(T0 + 599_999),
        Ok(0),
        "a poll 1 ms before the expiry goes"
    );
    assert_eq!(p.wait(T0 + 600_000).unwrap_err().code(), "expired_token");
    // A poll whose turn would come after the expiry is not made: the wait ends at the
    // expiry, and so does the flow.
    assert_eq!(
        p.failed(T0 + 597_000, server("authorization_pending")),
        Next::Poll
    );
    assert_eq!(p.wait(T0 + 597_000), Ok(3_000));
    assert_eq!(p.wait(T0 + 600_000).unwrap_err().code(), "expired_token");
}

// ---- the driver's device sequence -----------------------------------------------------------

#[test]
fn before_an_approval_get_token_is_authorization_required_and_sends_nothing() {
    let mut d = driver(device_input());
    for now in [T0, T0 + 1, T0 + 120_000] {
        match d.lookup(now) {
            Decision::Refused { error } => {
                assert_eq!(error.code(), "authorization_required", "at {now}")
            }
            other => panic!("at {now}: {other:?}"),
        }
    }
    assert_eq!(d.cache().stats().token_requests, 0, "nothing was sent");
    assert_eq!(d.cache().stats().failures, 0, "no renewal failed: none ran");
    // What the adapter reports for it, read without another lookup.
    let (error, retry_after_ms) = d.failure(T0 + 1);
    assert_eq!(
        (error.code(), retry_after_ms),
        ("authorization_required", None)
    );
}

#[test]
fn device_flow_from_authorization_to_a_token_renewed_through_its_refresh_token() {
    let mut d = driver(device_input());
    let request = sent(d.device_start(T0, None));
    assert_eq!(request.url, DEVICE_URL);
    assert_eq!(
        request.body.as_deref(),
        Some("scope=openid+offline_access&client_id=edge-client")
    );
    let body = authorization_body(Some(1));
    match d.device_response(T0 + 10, &json_200(&body), &SerdeJson, 0.5) {
        DeviceStep::Authorized(authorization) => {
            assert_eq!(authorization.user_code, USER_CODE);
            assert_eq!(authorization.interval_ms, 1_000);
        }
        other => panic!("{other:?}"),
    }
    // The first poll one interval after the authorization arrived.
    assert_eq!(slept(d.device_next(T0 + 10)), 1_000);
    let poll = sent(d.device_next(T0 + 1_010));
    assert_eq!(poll.url, common::input().token_url.unwrap());
    assert_eq!(
        poll.body.as_deref(),
        Some(format!("{POLL_GRANT}&device_code={DEVICE_CODE}&client_id=edge-client").as_str())
    );
    // Pending, then slow_down (+5 s), then the token.
    let body = pending("authorization_pending");
    assert_eq!(
        slept(answer(
            &mut d,
            T0 + 1_100,
            &response(400, "application/json", &body)
        )),
        1_000
    );
    sent(d.device_next(T0 + 2_100));
    let body = pending("slow_down");
    assert_eq!(
        slept(answer(
            &mut d,
            T0 + 2_200,
            &response(400, "application/json", &body)
        )),
        6_000
    );
    assert_eq!(
        slept(d.device_next(T0 + 5_000)),
        3_200,
        "the slower interval holds"
    );
    sent(d.device_next(T0 + 8_200));
    let token = r#"{"access_token":"DEVICE-ACCESS-1","token_type":"Bearer","expires_in":3600,"refresh_token":"DEVICE-REFRESH-1"}"#;
    match answer(&mut d, T0 + 8_300, &json_200(token)) {
        DeviceStep::Done(Outcome::Fresh { token, .. }) => {
            assert_eq!(token.access_token.expose(), "DEVICE-ACCESS-1")
        }
        other => panic!("{other:?}"),
    }
    // getToken() serves it; near expiry the refresh token renews it.
    match d.lookup(T0 + 10_000) {
        Decision::Serve { token, refresh, .. } => {
            assert_eq!(token.access_token.expose(), "DEVICE-ACCESS-1");
            assert!(refresh.is_none());
        }
        other => panic!("{other:?}"),
    }
    let near_expiry = T0 + 8_200 + 3_600_000 - 30_000;
    let refresh = match d.lookup(near_expiry) {
        Decision::Serve {
            refresh: Some(request),
            ..
        } => request.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refresh.body.as_deref(),
        Some("grant_type=refresh_token&refresh_token=DEVICE-REFRESH-1&client_id=edge-client")
    );
    // The refresh token is refused: only a user can sign in again.
    let body = error_400("invalid_grant");
    match d.on_response(
        near_expiry + 50,
        &response(400, "application/json", &body),
        &SerdeJson,
        0.5,
    ) {
        Step::Done(Outcome::Stale { .. }) => {}
        other => panic!("the token still serves until it expires: {other:?}"),
    }
    let requests = d.cache().stats().token_requests;
    match d.lookup(T0 + 8_200 + 3_600_000 + 1) {
        Decision::Refused { error } => assert_eq!(error.code(), "authorization_required"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        d.cache().stats().token_requests,
        requests,
        "nothing more was sent"
    );
}

#[test]
fn access_denied_and_expiry_end_the_flow_without_a_cooldown_for_get_token() {
    let mut d = driver(device_input());
    authorized(&mut d, None);
    sent(d.device_next(T0 + 10 + 5_000));
    let body = error_400("access_denied");
    let error = failed(answer(
        &mut d,
        T0 + 5_100,
        &response(400, "application/json", &body),
    ));
    assert_eq!(error.code(), "access_denied");
    // Nothing more to poll; a new flow may start.
    assert_eq!(failed(d.device_next(T0 + 20_000)).code(), "aborted");
    authorized(&mut d, None);
    assert_eq!(failed(d.device_next(T0 + 700_000)).code(), "expired_token");
}

#[test]
fn a_server_cannot_make_the_client_poll_without_pause_or_for_ever() {
    let body = r#"{"device_code":"dc-1","user_code":"U-1","verification_uri":"https://auth.example.test/device","expires_in":1e12,"interval":0.0004}"#;
    let authorization = parse_device_authorization(&SerdeJson, &json_200(body), T0).unwrap();
    assert_eq!(authorization.interval_ms, 1_000);
    assert_eq!(authorization.expires_at_ms, T0 + 86_400_000);
}

#[test]
fn a_poll_under_way_is_not_sent_again_by_a_second_waiter() {
    let mut d = driver(device_input());
    authorized(&mut d, None);
    sent(d.device_next(T0 + 5_010));
    // Another waitForToken() at the same moment waits for the answer's interval.
    assert_eq!(slept(d.device_next(T0 + 5_010)), 5_000);
}

#[test]
fn a_network_error_while_polling_backs_off_and_polling_goes_on() {
    let mut d = driver(device_input());
    authorized(&mut d, None);
    sent(d.device_next(T0 + 5_010));
    let wait = slept(d.device_unanswered(T0 + 5_100, TokenError::Network("reset".into())));
    assert_eq!(wait, 10_000);
    sent(d.device_next(T0 + 15_100));
}

#[test]
fn an_idp_that_echoes_the_device_code_gets_it_redacted() {
    let mut d = driver(device_input());
    authorized(&mut d, None);
    sent(d.device_next(T0 + 5_010));
    let body = format!(
        r#"{{"error":"invalid_request","error_description":"bad device_code={DEVICE_CODE}"}}"#
    );
    let error = failed(answer(
        &mut d,
        T0 + 5_100,
        &response(400, "application/json", &body),
    ));
    let message = error.message();
    assert!(!message.contains(DEVICE_CODE), "{message}");
    assert!(message.contains("[redacted]"), "{message}");
}

#[test]
fn the_device_endpoint_comes_from_discovery_or_keycloak() {
    // Discovery.
    let mut d = driver(ConfigInput {
        token_url: None,
        issuer: Some("https://idp.example.test".into()),
        device_authorization_url: None,
        ..device_input()
    });
    let discovery = sent(d.device_start(T0, Some("openid")));
    assert!(discovery.url.ends_with("/.well-known/openid-configuration"));
    let metadata = r#"{"issuer":"https://idp.example.test","token_endpoint":"https://idp.example.test/token","device_authorization_endpoint":"https://idp.example.test/device"}"#;
    let request = sent(d.device_response(T0 + 5, &json_200(metadata), &SerdeJson, 0.5));
    assert_eq!(request.url, "https://idp.example.test/device");
    assert_eq!(
        request.body.as_deref(),
        Some("scope=openid&client_id=edge-client")
    );
    // An issuer with a configured device endpoint: discovery still names the token endpoint,
    // and the configured device endpoint wins.
    let mut d = driver(ConfigInput {
        token_url: None,
        issuer: Some("https://idp.example.test".into()),
        ..device_input()
    });
    sent(d.device_start(T0, None));
    let request = sent(d.device_response(T0 + 5, &json_200(metadata), &SerdeJson, 0.5));
    assert_eq!(request.url, DEVICE_URL);
    // Keycloak.
    let config = ConfigInput {
        token_url: None,
        keycloak: Some(("https://kc.example.test/".into(), "edge".into())),
        device_authorization_url: None,
        ..device_input()
    }
    .validate(&SerdeJson)
    .unwrap();
    assert_eq!(
        config.device_authorization_url.as_deref(),
        Some("https://kc.example.test/realms/edge/protocol/openid-connect/auth/device")
    );
    // A token URL alone names no device endpoint.
    let error = ConfigInput {
        device_authorization_url: None,
        ..device_input()
    }
    .validate(&SerdeJson)
    .unwrap_err();
    assert!(
        error
            .message()
            .contains("deviceAuthorizationUrl is required"),
        "{error}"
    );
}
