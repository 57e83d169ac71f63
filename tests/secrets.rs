//! No Debug or Display output contains a secret or a token: every output is scanned for the
//! distinctive secret strings.

mod common;

use common::{
    assert_no_secret, complete, config, fixture, input, json_200, look, password_input, token,
    SerdeJson, ACCESS_TOKEN, PASSWORD, REFRESH_TOKEN, SECRET, T0, USERNAME,
};
use edge_oauth::cache::TokenCache;
use edge_oauth::config::{AuthMethod, ConfigInput, GrantConfig, Timing};
use edge_oauth::options::Surface;
use edge_oauth::request::{token_request, Grant};
use edge_oauth::response::{parse_metadata, parse_token_response, HttpResponse};
use edge_oauth::secret::{AccessToken, ClientSecret, Password, RefreshToken, Username};
use edge_oauth::TokenError;

/// The JWT in token_jwt_no_expires_in.json.
fn jwt() -> String {
    let value: serde_json::Value =
        serde_json::from_str(&fixture("token_jwt_no_expires_in.json")).unwrap();
    value["access_token"].as_str().unwrap().to_owned()
}

/// Every string that must never be printed, including the JWT's signature and the Basic
/// credentials as they go on the wire.
fn secrets() -> Vec<String> {
    let jwt = jwt();
    let signature = jwt.rsplit('.').next().unwrap().to_owned();
    vec![
        SECRET.to_owned(),
        ACCESS_TOKEN.to_owned(),
        REFRESH_TOKEN.to_owned(),
        jwt,
        signature,
        // base64("edge-client:SECRET-c4f1e9"), and the part of it that encodes the secret alone.
        "ZWRnZS1jbGllbnQ6U0VDUkVULWM0ZjFlOQ==".to_owned(),
        "U0VDUkVULWM0ZjFlOQ".to_owned(),
        // The password grant's user credentials, raw and form-encoded.
        USERNAME.to_owned(),
        PASSWORD.to_owned(),
        "jane.doe%2Bops%40example.com".to_owned(),
        "p%40ss+w%26rd%2B1%3D2%25".to_owned(),
    ]
}

fn scan(what: &str, text: &str) {
    let secrets = secrets();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secret(what, text, &refs);
}

fn scan_error(what: &str, error: &TokenError) {
    scan(&format!("{what} (Display)"), &error.to_string());
    scan(&format!("{what} (Debug)"), &format!("{error:?}"));
    scan(&format!("{what} (Debug, pretty)"), &format!("{error:#?}"));
}

#[test]
fn secret_newtypes_debug_is_a_placeholder() {
    let secret = ClientSecret::new(SECRET);
    let access = AccessToken::new(ACCESS_TOKEN);
    let refresh = RefreshToken::new(REFRESH_TOKEN);
    assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
    assert_eq!(format!("{access:?}"), "AccessToken([redacted])");
    assert_eq!(format!("{refresh:?}"), "RefreshToken([redacted])");
    assert_eq!(format!("{:#?}", secret.clone()), "ClientSecret([redacted])");
    assert_eq!(
        format!("{:?}", Some(access.clone())),
        "Some(AccessToken([redacted]))"
    );
    // The value is only reachable on purpose.
    assert_eq!(secret.expose(), SECRET);
    assert_eq!(access.expose(), ACCESS_TOKEN);
    assert_eq!(refresh.clone().expose(), REFRESH_TOKEN);
}

#[test]
fn config_debug() {
    let input = ConfigInput {
        scope: vec!["banking/read".into()],
        ..input()
    };
    scan("ConfigInput", &format!("{input:?}"));
    scan("ConfigInput (pretty)", &format!("{input:#?}"));
    let config = input.validate(&SerdeJson).unwrap();
    let debug = format!("{config:?}");
    scan("Config", &debug);
    scan("Config (pretty)", &format!("{config:#?}"));
    assert!(debug.contains("ClientSecret([redacted])"), "{debug}");
    assert!(
        debug.contains("edge-client"),
        "the id is not a secret: {debug}"
    );
}

#[test]
fn token_debug() {
    let token = token(T0, T0 + 3_600_000);
    let debug = format!("{token:?}");
    scan("Token", &debug);
    scan("Token (pretty)", &format!("{token:#?}"));
    assert!(debug.contains("AccessToken([redacted])"), "{debug}");
    assert!(debug.contains("RefreshToken([redacted])"), "{debug}");

    let body = fixture("token_jwt_no_expires_in.json");
    let parsed = parse_token_response(&SerdeJson, &json_200(&body), T0, 300_000).unwrap();
    scan("Token from a JWT", &format!("{parsed:?}"));
}

#[test]
fn http_response_debug() {
    let body = fixture("token_jwt_no_expires_in.json");
    let response = json_200(&body);
    let debug = format!("{response:?}");
    scan("HttpResponse", &debug);
    scan("HttpResponse (pretty)", &format!("{response:#?}"));
    assert!(
        debug.contains(&format!("body_bytes: Some({})", body.len())),
        "{debug}"
    );
}

#[test]
fn http_request_debug() {
    let config = config();
    for auth in [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ] {
        let request = token_request(
            &config,
            "https://auth.example.test/oauth2/token",
            auth,
            Grant::ClientCredentials,
        );
        let debug = format!("{request:?}");
        scan(&format!("HttpRequest {auth:?}"), &debug);
        scan(
            &format!("HttpRequest {auth:?} (pretty)"),
            &format!("{request:#?}"),
        );
        assert!(!debug.contains("Basic "), "{debug}");
        assert!(
            !debug.contains("grant_type"),
            "the body is not shown: {debug}"
        );
        assert!(
            debug.contains("Content-Type"),
            "header names are shown: {debug}"
        );
    }
    // Make sure the scan would have caught the wire form of the Basic credentials.
    let basic = token_request(
        &config,
        "https://auth.example.test/oauth2/token",
        AuthMethod::ClientSecretBasic,
        Grant::ClientCredentials,
    );
    let authorization = &basic
        .headers
        .iter()
        .find(|(n, _)| *n == "Authorization")
        .unwrap()
        .1;
    assert_eq!(authorization, "Basic ZWRnZS1jbGllbnQ6U0VDUkVULWM0ZjFlOQ==");
}

#[test]
fn cache_debug() {
    let mut cache = TokenCache::new(Timing::default());
    look(&mut cache, T0);
    complete(&mut cache, T0, Ok(token(T0, T0 + 3_600_000)));
    scan("TokenCache", &format!("{cache:?}"));
    let lookup = format!("{:?}", cache.lookup(T0 + 1));
    scan("Lookup", &lookup);
    assert!(lookup.contains("Serve"), "{lookup}");
    let outcome = format!(
        "{:?}",
        cache.complete(T0 + 2, Ok(token(T0, T0 + 7_200_000)), 0.5)
    );
    scan("Outcome", &outcome);
    assert!(outcome.contains("Fresh"), "{outcome}");
}

/// Token-endpoint responses that carry a token and still fail to parse.
fn failing_responses_with_tokens() -> Vec<(&'static str, u16, &'static str, Option<String>)> {
    let jwt = jwt();
    let html = format!(
        "<html><body><h1>502</h1><pre>upstream said: {{\"access_token\":\"{ACCESS_TOKEN}\"}}</pre></body></html>"
    );
    let oversized = format!(
        r#"{{"access_token":"{ACCESS_TOKEN}","refresh_token":"{REFRESH_TOKEN}","pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    vec![
        (
            "expires_in not a number",
            200,
            "application/json",
            Some(format!(
                r#"{{"access_token":"{ACCESS_TOKEN}","refresh_token":"{REFRESH_TOKEN}","expires_in":"{ACCESS_TOKEN}"}}"#
            )),
        ),
        (
            "JWT with a bad expires_in",
            200,
            "application/json",
            Some(format!(r#"{{"access_token":"{jwt}","expires_in":false}}"#)),
        ),
        (
            "token_type not a string",
            200,
            "application/json",
            Some(format!(
                r#"{{"access_token":"{ACCESS_TOKEN}","token_type":7}}"#
            )),
        ),
        (
            "token in the error fields' neighbours on a 200",
            200,
            "application/json",
            Some(format!(
                r#"{{"error":"invalid_grant","access_token":"{ACCESS_TOKEN}","refresh_token":"{REFRESH_TOKEN}"}}"#
            )),
        ),
        (
            "token on a 400 with an OAuth error",
            400,
            "application/json",
            Some(format!(
                r#"{{"error":"invalid_request","error_description":"bad request","access_token":"{jwt}"}}"#
            )),
        ),
        (
            "token on a 500 without an OAuth error",
            500,
            "application/json",
            Some(format!(
                r#"{{"access_token":"{ACCESS_TOKEN}","expires_in":60}}"#
            )),
        ),
        ("HTML echoing the token", 502, "text/html", Some(html)),
        (
            "form-encoded token response",
            200,
            "application/x-www-form-urlencoded",
            Some(format!(
                "access_token={ACCESS_TOKEN}&refresh_token={REFRESH_TOKEN}&token_type=bearer"
            )),
        ),
        (
            "JSON array holding the token",
            200,
            "application/json",
            Some(format!(r#"["{ACCESS_TOKEN}","{jwt}"]"#)),
        ),
        (
            "a bare token as text",
            200,
            "text/plain",
            Some(ACCESS_TOKEN.to_owned()),
        ),
        (
            "oversized body with a token",
            200,
            "application/json",
            Some(oversized),
        ),
        (
            "refresh token only",
            200,
            "application/json",
            Some(format!(r#"{{"refresh_token":"{REFRESH_TOKEN}"}}"#)),
        ),
        (
            "empty access token beside a refresh token",
            200,
            "application/json",
            Some(format!(
                r#"{{"access_token":"","refresh_token":"{REFRESH_TOKEN}"}}"#
            )),
        ),
    ]
}

#[test]
fn token_errors_from_responses_with_tokens_do_not_contain_them() {
    let cases = failing_responses_with_tokens();
    assert_eq!(cases.len(), 13);
    for (what, status, content_type, body) in &cases {
        let response = HttpResponse {
            status: *status,
            content_type,
            retry_after_ms: Some(1_000),
            body: body.as_deref(),
        };
        let error = parse_token_response(&SerdeJson, &response, T0, 300_000).expect_err(what);
        scan_error(what, &error);
        // The same responses read as discovery documents.
        let error = parse_metadata(
            &SerdeJson,
            &response,
            "https://auth.example.test",
            false,
            Surface::Npm,
        )
        .expect_err(what);
        scan_error(&format!("{what} as metadata"), &error);
    }
}

#[test]
fn every_parsing_error_variant_is_covered() {
    // The scan above must have seen both parse-side variants, with each invalid reason.
    let mut server = 0;
    let mut reasons = Vec::new();
    for (what, status, content_type, body) in failing_responses_with_tokens() {
        let response = HttpResponse {
            status,
            content_type,
            retry_after_ms: None,
            body: body.as_deref(),
        };
        match parse_token_response(&SerdeJson, &response, T0, 300_000).expect_err(what) {
            TokenError::Server { .. } => server += 1,
            TokenError::InvalidResponse { reason, .. } => reasons.push(reason),
            other => panic!("{what}: unexpected {other:?}"),
        }
    }
    assert_eq!(server, 2);
    reasons.sort();
    reasons.dedup();
    assert_eq!(
        reasons,
        vec![
            "access_token is missing or not a non-empty string",
            "an error status without an OAuth error code",
            "expires_in is not a number of seconds",
            "the body is larger than 1 MiB",
            "the body is not a JSON object",
            "token_type is not a non-empty string of visible ASCII",
        ]
    );
}

#[test]
fn a_body_left_unread_and_an_http_discovery_endpoint() {
    let unread = HttpResponse {
        status: 200,
        content_type: "application/json",
        retry_after_ms: None,
        body: None,
    };
    let error = parse_token_response(&SerdeJson, &unread, T0, 300_000).unwrap_err();
    scan_error("body left unread", &error);

    let body = format!(
        r#"{{"issuer":"https://auth.example.test","token_endpoint":"http://auth.example.test/token","access_token":"{ACCESS_TOKEN}"}}"#
    );
    let issuer = "https://auth.example.test";
    let error =
        parse_metadata(&SerdeJson, &json_200(&body), issuer, false, Surface::Npm).unwrap_err();
    assert_eq!(error.code(), "invalid_response");
    scan_error("http token_endpoint", &error);
}

#[test]
fn a_token_expired_on_arrival_is_not_printed() {
    let mut cache = TokenCache::new(Timing::default());
    look(&mut cache, T0);
    let body = fixture("token_jwt_no_expires_in.json");
    // The JWT expires at T0 + 300 s; it arrives at T0 + 301 s.
    let parsed = parse_token_response(&SerdeJson, &json_200(&body), T0, 300_000).unwrap();
    match cache.complete(T0 + 301_000, Ok(parsed), 0.5) {
        edge_oauth::cache::Outcome::Failed { error, .. } => {
            scan_error("expired on arrival", &error)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_errors_never_contain_the_secret() {
    let failing = [
        ConfigInput {
            token_url: None,
            ..input()
        },
        ConfigInput {
            token_url: Some("http://auth.example.test/token".into()),
            ..input()
        },
        ConfigInput {
            token_url: Some(format!(
                "https://edge-client:{SECRET}@auth.example.test/token"
            )),
            ..input()
        },
        ConfigInput {
            client_id: None,
            ..input()
        },
        ConfigInput {
            auth_method: Some("none".into()),
            ..input()
        },
        ConfigInput {
            auth_method: Some("magic".into()),
            ..input()
        },
        ConfigInput {
            header_name: Some("X Bad".into()),
            ..input()
        },
        ConfigInput {
            max_retries: Some(99.0),
            ..input()
        },
        ConfigInput {
            timeout_ms: Some(-1.0),
            ..input()
        },
        ConfigInput {
            scope: vec!["a b".into()],
            ..input()
        },
        ConfigInput {
            extra_params: vec![("client_secret".into(), SECRET.into())],
            ..input()
        },
        ConfigInput {
            scope: vec![format!("{SECRET} x")],
            ..input()
        },
    ];
    for case in failing {
        let error = case.validate(&SerdeJson).unwrap_err();
        assert_eq!(error.code(), "config");
        scan_error("config", &error);
    }
}

#[test]
fn the_scan_itself_catches_a_leak() {
    // A deliberately leaky string must trip the scanner, so the tests above can fail.
    let leaky = format!("oops {}", jwt());
    let caught = std::panic::catch_unwind(|| scan("leaky", &leaky));
    assert!(caught.is_err());
}

// ---- The password and refresh-token grants -----------------------------------------------

const TOKEN_URL: &str = "https://auth.example.test/oauth2/token";

#[test]
fn user_credential_newtypes_debug_is_a_placeholder() {
    let username = Username::new(USERNAME);
    let password = Password::new(PASSWORD);
    assert_eq!(format!("{username:?}"), "Username([redacted])");
    assert_eq!(format!("{password:?}"), "Password([redacted])");
    assert_eq!(format!("{:#?}", password.clone()), "Password([redacted])");
    assert_eq!(username.expose(), USERNAME);
    assert_eq!(password.expose(), PASSWORD);
}

#[test]
fn grant_config_debug() {
    let grant = password_input().grant;
    let debug = format!("{grant:?}");
    assert_eq!(
        debug,
        "Password { username: Username([redacted]), password: Password([redacted]) }"
    );
    scan("GrantConfig (pretty)", &format!("{grant:#?}"));
}

#[test]
fn config_with_a_password_grant_debug() {
    let input = ConfigInput {
        scope: vec!["banking/read".into()],
        basic_auth_encoding: Some("raw".into()),
        ..password_input()
    };
    scan("ConfigInput", &format!("{input:?}"));
    scan("ConfigInput (pretty)", &format!("{input:#?}"));
    let config = input.validate(&SerdeJson).unwrap();
    let debug = format!("{config:?}");
    scan("Config", &debug);
    scan("Config (pretty)", &format!("{config:#?}"));
    assert!(
        debug.contains(
            "grant: Password { username: Username([redacted]), password: Password([redacted]) }"
        ),
        "{debug}"
    );
}

#[test]
fn grant_debug() {
    let config = password_input().validate(&SerdeJson).unwrap();
    let password = Grant::original(&config).unwrap();
    assert_eq!(
        format!("{password:?}"),
        "Password { username: Username([redacted]), password: Password([redacted]) }"
    );
    scan("Grant::Password (pretty)", &format!("{password:#?}"));
    let refresh = RefreshToken::new(REFRESH_TOKEN);
    let grant = Grant::RefreshToken(&refresh);
    assert_eq!(
        format!("{grant:?}"),
        "RefreshToken(RefreshToken([redacted]))"
    );
    scan("Grant::RefreshToken (pretty)", &format!("{grant:#?}"));
}

#[test]
fn password_and_refresh_request_debug() {
    let config = password_input().validate(&SerdeJson).unwrap();
    let refresh = RefreshToken::new(REFRESH_TOKEN);
    for auth in [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ] {
        for grant in [
            Grant::original(&config).unwrap(),
            Grant::RefreshToken(&refresh),
        ] {
            let request = token_request(&config, TOKEN_URL, auth, grant);
            // The body does carry them: the scan below is not vacuous.
            let body = request.body.as_deref().unwrap();
            assert!(
                body.contains("jane.doe%2Bops%40example.com") || body.contains(REFRESH_TOKEN),
                "{body}"
            );
            let what = format!("HttpRequest {auth:?} {grant:?}");
            let debug = format!("{request:?}");
            scan(&what, &debug);
            scan(&format!("{what} (pretty)"), &format!("{request:#?}"));
            assert!(!debug.contains("grant_type"), "{debug}");
        }
    }
}

#[test]
fn cache_debug_after_a_refresh_token() {
    let mut cache = TokenCache::new(Timing::default());
    look(&mut cache, T0);
    complete(&mut cache, T0, Ok(token(T0, T0 + 3_600_000)));
    assert!(cache.refresh_token().is_some());
    let debug = format!("{cache:?}");
    scan("TokenCache with a refresh token", &debug);
    scan("TokenCache (pretty)", &format!("{cache:#?}"));
    assert!(
        debug.contains("refresh_token: Some(RefreshToken([redacted]))"),
        "{debug}"
    );
}

#[test]
fn password_grant_config_errors_never_contain_the_credentials() {
    let failing = [
        ConfigInput {
            grant: GrantConfig::Password {
                username: Username::new(""),
                password: Password::new(PASSWORD),
            },
            ..input()
        },
        ConfigInput {
            token_url: Some("http://auth.example.test/token".into()),
            ..password_input()
        },
        ConfigInput {
            basic_auth_encoding: Some("latin1".into()),
            ..password_input()
        },
        ConfigInput {
            extra_params: vec![("username".into(), USERNAME.into())],
            ..password_input()
        },
    ];
    for case in failing {
        let error = case.validate(&SerdeJson).unwrap_err();
        assert_eq!(error.code(), "config");
        scan_error("config with a password grant", &error);
    }
}

#[test]
fn the_scan_catches_the_user_credentials() {
    for leak in [USERNAME, PASSWORD, "p%40ss+w%26rd%2B1%3D2%25"] {
        let leaky = format!("grant {{ {leak} }}");
        assert!(
            std::panic::catch_unwind(|| scan("leaky", &leaky)).is_err(),
            "{leak}"
        );
    }
}
