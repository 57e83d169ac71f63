//! Parsing token responses (RFC 6749 §5.1), error responses (§5.2), the odd bodies servers
//! send, and discovery metadata — all from files under tests/fixtures/.

mod common;

use common::{fixture, json_200, response, SerdeJson, ACCESS_TOKEN, REFRESH_TOKEN, T0};
use edge_oauth::config::AuthMethod;
use edge_oauth::options::Surface;
use edge_oauth::response::{
    expires_at, parse_metadata, parse_token_response, HttpResponse, JwtTimes, Metadata, Token,
    MAX_BODY_BYTES,
};
use edge_oauth::TokenError;

/// The configured default lifetime (300 s).
const DEFAULT_MS: u64 = 300_000;
/// The JWT in token_jwt_no_expires_in.json / token_jwt_exp_earlier.json has exp 1700000300.
const JWT_EXP_MS: u64 = 1_700_000_300_000;
/// When a JWT with `iat` T0 and `exp` JWT_EXP_MS, asked for at T0, is taken to expire: its
/// lifetime, less the second its whole-second `iat` may have been rounded down by.
const JWT_EXPIRY_MS: u64 = JWT_EXP_MS - 1_000;

fn parse_at(response: &HttpResponse, sent_at: u64) -> Result<Token, TokenError> {
    parse_token_response(&SerdeJson, response, sent_at, DEFAULT_MS)
}

fn parse(response: &HttpResponse) -> Result<Token, TokenError> {
    parse_at(response, T0)
}

fn parse_fixture(name: &str) -> Token {
    let body = fixture(name);
    parse(&json_200(&body)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse_error(response: &HttpResponse) -> TokenError {
    match parse(response) {
        Ok(token) => panic!("expected an error, got {token:?}"),
        Err(error) => error,
    }
}

fn jwt_in(name: &str) -> String {
    let body = fixture(name);
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["access_token"].as_str().unwrap().to_owned()
}

// ---- successful token responses -------------------------------------------------------

#[test]
fn numeric_expires_in_counts_from_the_send_time() {
    let token = parse_fixture("token_bearer.json");
    assert_eq!(token.access_token.expose(), ACCESS_TOKEN);
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.issued_at_ms, T0);
    assert_eq!(token.expires_at_ms, T0 + 3_600_000);
    assert_eq!(token.scope, None);
    assert!(token.refresh_token.is_none());
    assert_eq!(token.header_value(), format!("Bearer {ACCESS_TOKEN}"));
}

#[test]
fn string_expires_in() {
    let token = parse_fixture("token_expires_in_string.json");
    assert_eq!(token.expires_at_ms, T0 + 3_600_000);
}

#[test]
fn expires_in_variants() {
    let cases: [(&str, u64); 6] = [
        (r#"{"access_token":"t","expires_in":3599.5}"#, 3_599_500),
        (r#"{"access_token":"t","expires_in":" 60 "}"#, 60_000),
        (r#"{"access_token":"t","expires_in":"1.5"}"#, 1_500),
        (r#"{"access_token":"t","expires_in":0}"#, 0),
        (r#"{"access_token":"t","expires_in":null}"#, DEFAULT_MS),
        (r#"{"access_token":"t"}"#, DEFAULT_MS),
    ];
    for (body, lifetime) in cases {
        let token = parse(&json_200(body)).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(token.expires_at_ms, T0 + lifetime, "{body}");
    }
}

#[test]
fn no_expires_in_and_no_jwt_uses_the_default() {
    let token = parse_fixture("token_no_expires_in_opaque.json");
    assert_eq!(token.expires_at_ms, T0 + DEFAULT_MS);
    let body = fixture("token_no_expires_in_opaque.json");
    let token = parse_token_response(&SerdeJson, &json_200(&body), T0, 42_000).unwrap();
    assert_eq!(token.expires_at_ms, T0 + 42_000);
}

/// Base64url without padding, decoded here independently of the crate.
fn base64url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[test]
fn jwt_fixture_is_what_it_claims() {
    // Guard the hand-built fixture: header.payload.signature, payload exp = 1700000300.
    let jwt = jwt_in("token_jwt_no_expires_in.json");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value = serde_json::from_slice(&base64url_decode(parts[0])).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let claims: serde_json::Value = serde_json::from_slice(&base64url_decode(parts[1])).unwrap();
    assert_eq!(claims["exp"], 1_700_000_300u64);
    assert_eq!(claims["iat"], 1_700_000_000u64);
}

#[test]
fn no_expires_in_with_a_jwt_uses_exp() {
    let token = parse_fixture("token_jwt_no_expires_in.json");
    assert_eq!(token.expires_at_ms, JWT_EXPIRY_MS);
    assert_eq!(
        token.access_token.expose(),
        jwt_in("token_jwt_no_expires_in.json")
    );
}

#[test]
fn jwt_exp_earlier_than_expires_in_wins() {
    // expires_in 3600 would give T0 + 3600 s; exp is T0 + 300 s.
    let token = parse_fixture("token_jwt_exp_earlier.json");
    assert_eq!(token.expires_at_ms, JWT_EXPIRY_MS);
}

#[test]
fn jwt_lifetime_counts_from_the_send_time() {
    // Sent at T0 + 750 ms with expires_in 3600; iat T0/1000, exp iat + 3600: the token lives
    // 3600 s from when it was asked for, whatever the two clocks say.
    let body = fixture("token_jwt_exp_rounded_down.json");
    let token = parse_at(&json_200(&body), T0 + 750).unwrap();
    assert_eq!(token.issued_at_ms, T0 + 750);
    assert_eq!(token.expires_at_ms, T0 + 750 + 3_599_000);
}

#[test]
fn the_shorter_of_expires_in_and_exp_minus_iat_wins_whatever_the_local_clock() {
    // exp − iat is 300 s, expires_in 3600 s: 300 s from the send time, even when our clock is
    // 3500 s behind the server's.
    let body = fixture("token_jwt_exp_earlier.json");
    let sent = T0 - 3_500_000;
    let token = parse_at(&json_200(&body), sent).unwrap();
    assert_eq!(token.expires_at_ms, sent + 299_000);
}

#[test]
fn a_jwt_from_a_server_clock_behind_ours_is_not_expired_on_arrival() {
    // exp 1699999000 is 1000 s before T0, iat 300 s before that: the server's clock is behind;
    // the token lives exp − iat = 300 s from the send time.
    let token = parse_fixture("token_jwt_exp_in_past.json");
    assert_eq!(token.expires_at_ms, T0 + 299_000);
    let body = fixture("token_jwt_exp_in_past_no_expires_in.json");
    let token = parse_token_response(&SerdeJson, &json_200(&body), T0, 120_000).unwrap();
    assert_eq!(token.expires_at_ms, T0 + 299_000);
}

/// An unsigned JWT carrying `claims`, base64url without padding.
fn unsigned_jwt(claims: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let part = |text: &str| {
        let mut out = String::new();
        for chunk in text.as_bytes().chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    };
    format!("{}.{}.sig", part(r#"{"alg":"none"}"#), part(claims))
}

#[test]
fn a_jwt_expired_by_its_own_claims_is_refused() {
    let past = (T0 / 1000) - 10;
    // exp already past, with neither iat nor expires_in.
    let alone = format!(
        r#"{{"access_token":"{}"}}"#,
        unsigned_jwt(&format!(r#"{{"exp":{past}}}"#))
    );
    // exp ≤ iat: expired at issue, whatever expires_in says.
    let at_issue = format!(
        r#"{{"access_token":"{}","expires_in":60}}"#,
        unsigned_jwt(&format!(r#"{{"iat":{past},"exp":{past}}}"#))
    );
    for (body, what) in [(alone, "past exp alone"), (at_issue, "exp = iat")] {
        let error = parse_token_response(&SerdeJson, &json_200(&body), T0, 120_000).unwrap_err();
        assert_eq!(error.code(), "invalid_response", "{what}");
        assert!(error.to_string().contains("expired"), "{what}: {error}");
    }
}

#[test]
fn tokens_with_characters_a_header_cannot_carry_are_refused_unquoted() {
    for token in ["abc\\r\\nX-Evil: 1", "two words", "caf\u{e9}", "tab\\there"] {
        let body = format!(r#"{{"access_token":"{token}","token_type":"Bearer"}}"#);
        let error = parse_error(&json_200(&body));
        assert_eq!(error.code(), "invalid_response", "{token}");
        for part in ["abc", "words", "caf", "tab"] {
            assert!(!error.to_string().contains(part), "{error}");
            assert!(!format!("{error:?}").contains(part), "{error:?}");
        }
    }
    let body = r#"{"access_token":"ok","token_type":"Bearer\nX"}"#;
    assert_eq!(parse_error(&json_200(body)).code(), "invalid_response");
}

#[test]
fn expires_at_rules() {
    let exp = |exp_ms| JwtTimes {
        iat_ms: None,
        exp_ms: Some(exp_ms),
    };
    let none = JwtTimes::default();
    assert_eq!(expires_at(1_000, Some(500), none, 9), Some(1_500));
    assert_eq!(expires_at(1_000, Some(500), exp(1_200), 9), Some(1_200));
    assert_eq!(expires_at(1_000, Some(500), exp(2_000), 9), Some(1_500));
    assert_eq!(expires_at(1_000, None, exp(2_000), 9), Some(2_000));
    assert_eq!(
        expires_at(1_000, None, exp(1_000), 9),
        None,
        "exp already past, and nothing else says how long: refused"
    );
    assert_eq!(
        expires_at(1_000, Some(500), exp(999), 9),
        Some(1_500),
        "exp past but expires_in given: the clocks disagree, expires_in wins"
    );
    assert_eq!(expires_at(1_000, None, none, 9), Some(1_009));
    assert_eq!(expires_at(u64::MAX - 5, Some(100), none, 9), Some(u64::MAX));
}

#[test]
fn iat_and_exp_give_a_lifetime_that_counts_from_the_send_time() {
    // The server's clock is an hour ahead of ours: exp − iat still says 300 s.
    let skewed = JwtTimes {
        iat_ms: Some(T0 + 3_600_000),
        exp_ms: Some(T0 + 3_900_000),
    };
    // Less a second: a whole-second iat was rounded down.
    assert_eq!(expires_at(T0, None, skewed, 9), Some(T0 + 299_000));
    assert_eq!(
        expires_at(T0, Some(200_000), skewed, 9),
        Some(T0 + 200_000),
        "the shorter of expires_in and exp − iat"
    );
    // An hour behind: not expired on arrival, 300 s from now.
    let behind = JwtTimes {
        iat_ms: Some(T0 - 3_600_000),
        exp_ms: Some(T0 - 3_300_000),
    };
    assert_eq!(expires_at(T0, Some(600_000), behind, 9), Some(T0 + 299_000));
    // An iat with a fraction was not rounded.
    let precise = JwtTimes {
        iat_ms: Some(T0 + 500),
        exp_ms: Some(T0 + 300_500),
    };
    assert_eq!(expires_at(T0, None, precise, 9), Some(T0 + 300_000));
    // exp ≤ iat: expired at issue.
    let dead = JwtTimes {
        iat_ms: Some(T0),
        exp_ms: Some(T0),
    };
    assert_eq!(expires_at(T0, Some(600_000), dead, 9), None);
}

#[test]
fn malformed_jwt_like_tokens_fall_back_to_expires_in() {
    for token in [
        "a.b",
        "not.base64!.sig",
        // payload "not json"
        "eyJhbGciOiJub25lIn0.bm90IGpzb24.sig",
        // exp is a string
        "eyJhbGciOiJub25lIn0.eyJleHAiOiIxNzAwMDAwMzAwIn0.sig",
        // four parts
        "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAzMDB9.sig.extra",
    ] {
        let body = format!(r#"{{"access_token":"{token}","expires_in":60}}"#);
        let parsed = parse(&json_200(&body)).unwrap();
        assert_eq!(parsed.expires_at_ms, T0 + 60_000, "{token}");
    }
    // The same JWT with exactly three parts is used.
    let body =
        r#"{"access_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAzMDB9.sig","expires_in":3600}"#;
    assert_eq!(parse(&json_200(body)).unwrap().expires_at_ms, JWT_EXP_MS);
}

#[test]
fn missing_token_type_is_bearer() {
    let token = parse_fixture("token_no_token_type.json");
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.header_value(), format!("Bearer {ACCESS_TOKEN}"));
}

#[test]
fn lowercase_bearer_is_normalised() {
    let token = parse_fixture("token_lowercase_bearer.json");
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.header_value(), format!("Bearer {ACCESS_TOKEN}"));
}

#[test]
fn other_token_types() {
    for (sent, kept) in [
        ("BEARER", "Bearer"),
        ("dpop", "DPoP"),
        ("DPOP", "DPoP"),
        ("N_A", "N_A"),
        ("mac", "mac"),
    ] {
        let body = format!(r#"{{"access_token":"t","token_type":"{sent}"}}"#);
        assert_eq!(parse(&json_200(&body)).unwrap().token_type, kept, "{sent}");
    }
    let body = r#"{"access_token":"t","token_type":null}"#;
    assert_eq!(parse(&json_200(body)).unwrap().token_type, "Bearer");
    for bad in [r#"42"#, r#""""#, r#"["Bearer"]"#] {
        let body = format!(r#"{{"access_token":"t","token_type":{bad}}}"#);
        let error = parse_error(&json_200(&body));
        assert_eq!(error.code(), "invalid_response", "{bad}");
        assert!(
            error
                .to_string()
                .ends_with("token_type is not a non-empty string of visible ASCII"),
            "{bad}: {error}"
        );
    }
}

#[test]
fn refresh_token_and_scope_are_kept() {
    // Seed 003: InfoLink's client_credentials answer also carries a refresh token.
    let token = parse_fixture("token_refresh_and_scope.json");
    assert_eq!(token.access_token.expose(), ACCESS_TOKEN);
    assert_eq!(
        token.refresh_token.as_ref().map(|t| t.expose()),
        Some(REFRESH_TOKEN)
    );
    assert_eq!(token.scope.as_deref(), Some("banking/read banking/write"));
    assert_eq!(token.expires_at_ms, T0 + 1_800_000);
}

#[test]
fn empty_scope_and_refresh_token_are_absent() {
    let body = r#"{"access_token":"t","scope":"","refresh_token":""}"#;
    let token = parse(&json_200(body)).unwrap();
    assert_eq!(token.scope, None);
    assert!(token.refresh_token.is_none());
}

// ---- RFC 6749 §5.2 errors ---------------------------------------------------------------

#[test]
fn each_rfc_6749_error() {
    let cases = [
        ("invalid_request", 400),
        ("invalid_client", 401),
        ("invalid_grant", 400),
        ("unauthorized_client", 400),
        ("unsupported_grant_type", 400),
        ("invalid_scope", 400),
    ];
    for (code, status) in cases {
        let body = fixture(&format!("error_{code}.json"));
        let error = parse_error(&response(status, "application/json;charset=UTF-8", &body));
        let description = format!("description of {code} for the test");
        let uri = format!("https://auth.example.test/docs/errors#{code}");
        assert_eq!(
            error,
            TokenError::Server {
                error: code.into(),
                description: Some(description.clone()),
                uri: Some(uri.clone()),
                status,
                retry_after_ms: None,
            }
        );
        assert_eq!(error.code(), code);
        assert_eq!(error.status(), Some(status));
        assert_eq!(error.description(), Some(description.as_str()));
        assert_eq!(error.uri(), Some(uri.as_str()));
        assert!(!error.retryable(), "{code}");
        assert_eq!(
            error.to_string(),
            format!("token endpoint answered {status} {code}: {description}")
        );
    }
}

#[test]
fn error_without_description() {
    let error = parse_error(&response(
        400,
        "application/json",
        r#"{"error":"invalid_grant"}"#,
    ));
    assert_eq!(error.code(), "invalid_grant");
    assert_eq!(error.description(), None);
    assert_eq!(error.uri(), None);
    assert_eq!(
        error.to_string(),
        "token endpoint answered 400 invalid_grant"
    );
}

#[test]
fn infolink_expired_refresh_token() {
    let body = fixture("error_infolink_expired_refresh.json");
    let error = parse_error(&response(400, "application/json", &body));
    assert_eq!(error.code(), "invalid_grant");
    assert_eq!(
        error.description(),
        Some("Refresh token is invalid or expired")
    );
}

#[test]
fn infolink_invalid_grant_with_the_guide_text() {
    // InfoLink's answer to an expired refresh token (and to a wrong password), as its guide
    // shows it: the RFC 6749 shape with the fields in the other order.
    let body = fixture("error_infolink_invalid_grant.json");
    let error = parse_error(&response(400, "application/json", &body));
    assert_eq!(
        error,
        TokenError::Server {
            error: "invalid_grant".into(),
            description: Some("Credentials or token is invalid or expired".into()),
            uri: None,
            status: 400,
            retry_after_ms: None,
        }
    );
    assert_eq!(error.code(), "invalid_grant");
    assert_eq!(
        error.description(),
        Some("Credentials or token is invalid or expired")
    );
    assert!(!error.retryable());
    assert_eq!(
        error.to_string(),
        "token endpoint answered 400 invalid_grant: Credentials or token is invalid or expired"
    );
}

#[test]
fn an_error_on_a_200_is_an_error() {
    let body = fixture("error_on_200.json");
    let error = parse_error(&json_200(&body));
    assert_eq!(
        error,
        TokenError::Server {
            error: "invalid_scope".into(),
            description: Some("scope banking/admin is not allowed".into()),
            uri: None,
            status: 200,
            retry_after_ms: None,
        }
    );
    assert!(!error.retryable());
}

#[test]
fn server_errors_carry_retry_after() {
    let body = r#"{"error":"temporarily_unavailable"}"#;
    let response = HttpResponse {
        status: 503,
        content_type: "application/json",
        retry_after_ms: Some(7_000),
        body: Some(body),
    };
    let error = parse_error(&response);
    assert_eq!(error.code(), "temporarily_unavailable");
    assert_eq!(error.retry_after_ms(), Some(7_000));
    assert!(error.retryable());

    let response = HttpResponse {
        status: 429,
        content_type: "application/json",
        retry_after_ms: Some(9_850),
        body: Some(r#"{"error":"slow_down"}"#),
    };
    assert_eq!(parse_error(&response).retry_after_ms(), Some(9_850));
}

#[test]
fn infolink_nested_error_body_is_an_oauth_error() {
    // Seed 003's API-side shape: {"result":{"code","message"},"status":"error"}.
    let body = fixture("infolink_nonstandard_error.json");
    let error = parse_error(&response(401, "application/json", &body));
    assert_eq!(
        error,
        TokenError::Server {
            error: "invalid_grant".into(),
            description: Some("Credentials or token is invalid or expired".into()),
            uri: None,
            status: 401,
            retry_after_ms: None,
        }
    );
    assert!(!error.retryable());
}

#[test]
fn nested_result_without_error_status_is_not_an_oauth_error() {
    let body = r#"{"result":{"code":"invalid_grant","message":"x"},"status":"ok"}"#;
    let error = parse_error(&response(401, "application/json", body));
    assert_eq!(error.code(), "invalid_response");
}

#[test]
fn an_html_503_is_a_retryable_invalid_response() {
    let body = fixture("service_unavailable.html");
    let response = HttpResponse {
        status: 503,
        content_type: "text/html; charset=utf-8",
        retry_after_ms: Some(120_000),
        body: Some(&body),
    };
    let error = parse_error(&response);
    assert_eq!(error.code(), "invalid_response");
    assert_eq!(error.status(), Some(503));
    assert!(error.retryable());
    assert_eq!(error.retry_after_ms(), Some(120_000));
    let message = error.to_string();
    assert_eq!(
        message,
        "unusable token response (status 503, content type 'text/html; charset=utf-8'): the body is not a JSON object"
    );
    let debug = format!("{error:?}");
    for text in [&message, &debug] {
        for quoted in [
            "<html",
            "Service Temporarily",
            "gateway-7f3a2c",
            "REQ-31bb4e",
        ] {
            assert!(!text.contains(quoted), "{quoted} quoted in {text}");
        }
    }
}

#[test]
fn an_html_200_is_not_retryable() {
    let body = fixture("service_unavailable.html");
    let error = parse_error(&response(200, "text/html", &body));
    assert_eq!(error.code(), "invalid_response");
    assert!(!error.retryable());
}

#[test]
fn an_empty_body() {
    let body = fixture("empty.txt");
    assert_eq!(body, "");
    for (status, text) in [(200, body.as_str()), (502, "  \n")] {
        let error = parse_error(&response(status, "", text));
        assert_eq!(
            error,
            TokenError::InvalidResponse {
                status,
                content_type: String::new(),
                reason: "the body is empty".into(),
                retry_after_ms: None,
            }
        );
    }
    assert!(parse_error(&response(502, "", "")).retryable());
}

#[test]
fn json_that_is_not_an_object() {
    for body in ["[]", "\"token\"", "42", "null", "{\"access_token\":"] {
        let error = parse_error(&json_200(body));
        assert_eq!(error.code(), "invalid_response", "{body}");
        assert!(
            error.to_string().ends_with("the body is not a JSON object"),
            "{body}: {error}"
        );
    }
}

#[test]
fn an_oversized_body_left_unread() {
    let response = HttpResponse {
        status: 200,
        content_type: "application/json",
        retry_after_ms: None,
        body: None,
    };
    let error = parse_error(&response);
    assert_eq!(
        error,
        TokenError::InvalidResponse {
            status: 200,
            content_type: "application/json".into(),
            reason: "the body is larger than 1 MiB".into(),
            retry_after_ms: None,
        }
    );
}

/// A valid token response padded with spaces to exactly `len` bytes.
fn padded_token_body(len: usize) -> String {
    let json = format!(r#"{{"access_token":"{ACCESS_TOKEN}","expires_in":60}}"#);
    let mut body = String::with_capacity(len);
    body.push_str(&json);
    body.push_str(&" ".repeat(len - json.len()));
    body
}

#[test]
fn an_oversized_body_string() {
    assert_eq!(MAX_BODY_BYTES, 1_048_576);
    let body = padded_token_body(MAX_BODY_BYTES + 1);
    let error = parse_error(&json_200(&body));
    assert_eq!(error.code(), "invalid_response");
    assert!(error.to_string().ends_with("the body is larger than 1 MiB"));
    assert!(!error.to_string().contains(ACCESS_TOKEN));

    // Exactly 1 MiB is still read.
    let body = padded_token_body(MAX_BODY_BYTES);
    let token = parse(&json_200(&body)).unwrap();
    assert_eq!(token.access_token.expose(), ACCESS_TOKEN);
}

#[test]
fn missing_or_empty_access_token() {
    for name in [
        "token_missing_access_token.json",
        "token_empty_access_token.json",
    ] {
        let body = fixture(name);
        let error = parse_error(&json_200(&body));
        assert_eq!(
            error,
            TokenError::InvalidResponse {
                status: 200,
                content_type: "application/json".into(),
                reason: "access_token is missing or not a non-empty string".into(),
                retry_after_ms: None,
            },
            "{name}"
        );
    }
    for bad in ["null", "42", "{}", "[\"t\"]"] {
        let body = format!(r#"{{"access_token":{bad},"expires_in":60}}"#);
        assert_eq!(
            parse_error(&json_200(&body)).code(),
            "invalid_response",
            "{bad}"
        );
    }
}

#[test]
fn expires_in_that_is_not_a_number() {
    for name in [
        "token_expires_in_not_a_number.json",
        "token_expires_in_bool.json",
    ] {
        let body = fixture(name);
        let error = parse_error(&json_200(&body));
        assert_eq!(
            error,
            TokenError::InvalidResponse {
                status: 200,
                content_type: "application/json".into(),
                reason: "expires_in is not a number of seconds".into(),
                retry_after_ms: None,
            },
            "{name}"
        );
    }
    for bad in [
        r#"-1"#,
        r#""-60""#,
        r#""NaN""#,
        r#""inf""#,
        r#""""#,
        r#"{}"#,
        r#"[3600]"#,
    ] {
        let body = format!(r#"{{"access_token":"t","expires_in":{bad}}}"#);
        let error = parse_error(&json_200(&body));
        assert!(
            error
                .to_string()
                .ends_with("expires_in is not a number of seconds"),
            "{bad}: {error}"
        );
    }
}

#[test]
fn a_long_content_type_is_cut_to_100_characters() {
    let content_type = "x".repeat(300);
    let error = parse_error(&response(500, &content_type, "oops"));
    let TokenError::InvalidResponse { content_type, .. } = error else {
        panic!("{error:?}");
    };
    assert_eq!(content_type, "x".repeat(100));
}

// ---- discovery metadata -----------------------------------------------------------------

/// The fixture `name` as the discovery document of the issuer it names.
fn metadata(name: &str, insecure: bool) -> Result<Metadata, TokenError> {
    let body = fixture(name);
    let document: serde_json::Value = serde_json::from_str(&body).unwrap();
    let issuer = document["issuer"].as_str().unwrap();
    parse_metadata(&SerdeJson, &json_200(&body), issuer, insecure, Surface::Npm)
}

#[test]
fn apiture_discovery_document() {
    let metadata = metadata("discovery_apiture.json", false).unwrap();
    assert_eq!(
        metadata,
        Metadata {
            token_endpoint: "https://auth.apiture.example/oauth2/token".into(),
            auth_methods: vec!["client_secret_basic".into(), "client_secret_post".into()],
            device_authorization_endpoint: None,
        }
    );
    assert_eq!(
        metadata.default_auth_method(),
        AuthMethod::ClientSecretBasic
    );
}

#[test]
fn default_auth_method_is_post_only_when_basic_is_not_listed() {
    let post_only = metadata("discovery_post_only.json", false).unwrap();
    assert_eq!(
        post_only.token_endpoint,
        "https://sso.example.test/realms/ncp/protocol/openid-connect/token"
    );
    assert_eq!(
        post_only.auth_methods,
        vec!["client_secret_post".to_owned()]
    );
    assert_eq!(
        post_only.default_auth_method(),
        AuthMethod::ClientSecretPost
    );

    let post_and_jwt = metadata("discovery_post_and_jwt.json", false).unwrap();
    assert_eq!(
        post_and_jwt.default_auth_method(),
        AuthMethod::ClientSecretPost
    );

    let none_listed = metadata("discovery_no_auth_methods.json", false).unwrap();
    assert!(none_listed.auth_methods.is_empty());
    assert_eq!(
        none_listed.default_auth_method(),
        AuthMethod::ClientSecretBasic
    );

    let basic_only = Metadata {
        token_endpoint: "https://a.test/token".into(),
        auth_methods: vec!["client_secret_basic".into()],
        device_authorization_endpoint: None,
    };
    assert_eq!(
        basic_only.default_auth_method(),
        AuthMethod::ClientSecretBasic
    );
    let jwt_only = Metadata {
        token_endpoint: "https://a.test/token".into(),
        auth_methods: vec!["private_key_jwt".into()],
        device_authorization_endpoint: None,
    };
    assert_eq!(
        jwt_only.default_auth_method(),
        AuthMethod::ClientSecretBasic
    );
}

#[test]
fn discovery_with_an_http_token_endpoint_is_refused() {
    let error = metadata("discovery_http_token_endpoint.json", false).unwrap_err();
    assert_eq!(
        error.code(),
        "invalid_response",
        "the IdP's answer, not our configuration"
    );
    let message = error.to_string();
    assert!(
        message.contains(
            "the discovery document's token_endpoint uses plain http to 'auth.example.test'"
        ),
        "{message}"
    );
    assert!(message.contains("allowInsecureHttp: true"), "{message}");

    let allowed = metadata("discovery_http_token_endpoint.json", true).unwrap();
    assert_eq!(
        allowed.token_endpoint,
        "http://auth.example.test/oauth/token"
    );
    let loopback = metadata("discovery_loopback_http.json", false).unwrap();
    assert_eq!(loopback.token_endpoint, "http://127.0.0.1:4000/token");
}

#[test]
fn discovery_without_a_token_endpoint() {
    let error = metadata("discovery_no_token_endpoint.json", false).unwrap_err();
    assert_eq!(
        error,
        TokenError::InvalidResponse {
            status: 200,
            content_type: "application/json".into(),
            reason: "the discovery document has no token_endpoint".into(),
            retry_after_ms: None,
        }
    );
}

#[test]
fn discovery_auth_methods_that_are_not_strings_are_ignored() {
    let body = r#"{"issuer":"https://a.test","token_endpoint":"https://a.test/token","token_endpoint_auth_methods_supported":["client_secret_post",7]}"#;
    let metadata = parse_metadata(
        &SerdeJson,
        &json_200(body),
        "https://a.test",
        false,
        Surface::Npm,
    )
    .unwrap();
    assert!(metadata.auth_methods.is_empty());
    assert_eq!(
        metadata.default_auth_method(),
        AuthMethod::ClientSecretBasic
    );
}

#[test]
fn discovery_404_html() {
    let body = fixture("service_unavailable.html");
    let error = parse_metadata(
        &SerdeJson,
        &response(404, "text/html", &body),
        "https://a.test",
        false,
        Surface::Npm,
    )
    .unwrap_err();
    assert_eq!(error.code(), "invalid_response");
    assert_eq!(error.status(), Some(404));
    assert!(!error.retryable());
}

#[test]
fn a_redirect_from_the_token_endpoint_is_refused() {
    // 302 from a server, and status 0 for a browser's opaque redirect: never followed.
    for status in [0, 301, 302, 307, 308] {
        let error = parse_error(&response(status, "text/html", "<a href=x>moved</a>"));
        assert_eq!(error.code(), "invalid_response", "status {status}");
        assert!(error.to_string().contains("redirect"), "{error}");
        assert!(!error.retryable());
    }
}

#[test]
fn expires_in_strings_are_plain_decimal_seconds() {
    let parse = |expires_in: &str| {
        let body = format!(r#"{{"access_token":"a","expires_in":"{expires_in}"}}"#);
        parse_token_response(&SerdeJson, &json_200(&body), T0, 300_000)
            .map(|t| t.expires_at_ms - T0)
    };
    assert_eq!(parse("3600").unwrap(), 3_600_000);
    assert_eq!(parse(" 90 ").unwrap(), 90_000);
    assert_eq!(parse("1.5").unwrap(), 1_500);
    assert_eq!(parse("0").unwrap(), 0);
    for bad in [
        "",
        "-5",
        "1e3",
        "abc",
        "1.2.3",
        ".5",
        "12a",
        "1234567890123456",
    ] {
        assert_eq!(
            parse(bad).unwrap_err().code(),
            "invalid_response",
            "{bad:?}"
        );
    }
}
