//! The token broker's pure parts: what names a credential (the same credential, the same
//! broker; a rotated secret, another), and the hand-outs between an isolate and its broker.
// On wasm32 the Worker's modules exist only with the `worker` feature.
#![cfg(any(not(target_arch = "wasm32"), feature = "worker"))]

mod common;

use common::SerdeJson;
use edge_oauth::config::{Config, ConfigInput, GrantConfig};
use edge_oauth::response::Token;
use edge_oauth::secret::{AccessToken, ClientSecret, Password, RefreshToken, Username};
use edge_oauth::worker::answer::FailureAnswer;
use edge_oauth::worker::broker::{
    credential_parts, failure_json, parse_hand_out, query_param, reported_fallbacks, token_json,
    token_request_url, BrokerStats, HandOut,
};

fn client(secret: &str) -> Config {
    ConfigInput {
        token_url: Some("https://auth.example.com/token".into()),
        client_id: Some("client".into()),
        client_secret: Some(ClientSecret::new(secret)),
        scope: vec!["a".into(), "b".into()],
        extra_params: vec![("audience".into(), "api".into())],
        ..ConfigInput::default()
    }
    .validate(&SerdeJson)
    .unwrap()
}

#[test]
fn a_credential_is_named_by_what_identifies_it_and_a_hash_input_for_its_secret() {
    let parts = credential_parts(&client("s3cret-Abc"));
    assert_eq!(
        parts.public,
        "edge-oauth broker 1\ntoken https://auth.example.com/token\nclient\nclient_credentials\na b\naudience=api"
    );
    assert!(
        !parts.public.contains("s3cret-Abc"),
        "the secret is not in the public part"
    );
    assert_eq!(parts.secret, "s3cret-Abc\n");

    // Same credential, same parts; a rotated secret changes only the hashed part.
    let again = credential_parts(&client("s3cret-Abc"));
    assert_eq!(
        (again.public, again.secret),
        (parts.public.clone(), parts.secret.clone())
    );
    let rotated = credential_parts(&client("rotated-Xyz"));
    assert_eq!(rotated.public, parts.public);
    assert_ne!(rotated.secret, parts.secret);

    // Another scope or grant is another credential.
    let mut other = client("s3cret-Abc");
    other.scope = Some("a".into());
    assert_ne!(credential_parts(&other).public, parts.public);
    let mut password = client("s3cret-Abc");
    password.grant = GrantConfig::Password {
        username: Username::new("user@example.com"),
        password: Password::new("pa55-Qw"),
    };
    let password = credential_parts(&password);
    assert!(password.public.contains("\npassword\n"));
    assert!(!password.public.contains("user@example.com") && !password.public.contains("pa55-Qw"));
    assert_eq!(password.secret, "s3cret-Abc\nuser@example.com\npa55-Qw");
}

fn token() -> Token {
    Token {
        access_token: AccessToken::new("at-\"quoted\"-Zk1"),
        token_type: "Bearer".into(),
        issued_at_ms: 1_700_000_000_000,
        expires_at_ms: 1_700_000_300_000,
        scope: Some("a b".into()),
        refresh_token: None,
    }
}

#[test]
fn a_token_hand_out_reads_back_as_written_and_the_refresh_token_only_when_asked() {
    let refresh = RefreshToken::new("rt-Mn8");
    for (with_refresh, expected_refresh) in [(false, None), (true, Some("rt-Mn8"))] {
        let json = token_json(&token(), with_refresh.then_some(&refresh));
        assert_eq!(json.contains("rt-Mn8"), with_refresh, "{json}");
        let Some((HandOut::Token(read), refresh)) = parse_hand_out(&json, &SerdeJson) else {
            panic!("a token hand-out: {json}");
        };
        assert_eq!(read.access_token.expose(), "at-\"quoted\"-Zk1");
        assert_eq!(read.token_type, "Bearer");
        assert_eq!(
            (read.issued_at_ms, read.expires_at_ms),
            (1_700_000_000_000, 1_700_000_300_000)
        );
        assert_eq!(read.scope.as_deref(), Some("a b"));
        assert_eq!(refresh.as_ref().map(|r| r.expose()), expected_refresh);
    }
}

#[test]
fn a_failure_hand_out_carries_the_answer_the_isolate_relays() {
    let answer = FailureAnswer {
        status: 503,
        retry_after_seconds: Some(7),
        body: "{\"error\":\"token_endpoint_unavailable\"}".into(),
    };
    let Some((HandOut::Failure(read), None)) = parse_hand_out(&failure_json(&answer), &SerdeJson)
    else {
        panic!("a failure hand-out");
    };
    assert_eq!(read, answer);
}

#[test]
fn what_is_not_a_hand_out_is_none() {
    for text in [
        "",
        "[]",
        "{}",
        "{\"token\":{}}",
        "{\"token\":{\"accessToken\":\"\",\"tokenType\":\"Bearer\",\"issuedAt\":1,\"expiresAt\":2}}",
        "{\"token\":{\"accessToken\":\"x\",\"tokenType\":\"Bearer\",\"issuedAt\":-1,\"expiresAt\":2}}",
        "{\"token\":{\"accessToken\":\"x\",\"tokenType\":\"Bearer\",\"issuedAt\":1.5,\"expiresAt\":2}}",
        "{\"token\":{\"accessToken\":\"x\",\"issuedAt\":1,\"expiresAt\":2}}",
        "{\"failure\":{\"status\":200,\"body\":\"x\"}}",
        "{\"failure\":{\"status\":503}}",
    ] {
        assert!(parse_hand_out(text, &SerdeJson).is_none(), "{text}");
    }
}

#[test]
fn queries_and_stats() {
    assert_eq!(
        token_request_url(3, None),
        "https://broker/token?fallbacks=3"
    );
    assert_eq!(
        token_request_url(0, Some("ab12")),
        "https://broker/token?fallbacks=0&refused=ab12"
    );
    assert_eq!(
        query_param("?fallbacks=0&refused=ab12", "refused"),
        Some("ab12")
    );
    assert_eq!(query_param("?xrefused=1", "refused"), None);
    assert_eq!(reported_fallbacks("?fallbacks=3"), 3);
    assert_eq!(reported_fallbacks("?x=1&fallbacks=12"), 12);
    assert_eq!(reported_fallbacks("?fallbacks=many"), 0);
    assert_eq!(reported_fallbacks(""), 0);
    assert_eq!(query_param("?route=/ainua/", "route"), Some("/ainua/"));
    assert_eq!(query_param("", "route"), None);
    let stats = BrokerStats {
        token_requests: 2,
        hand_outs: 40,
        last_refresh_at: 1_700_000_000_000,
        failures: 1,
        fallbacks: 3,
    };
    assert_eq!(
        stats.to_json(),
        "{\"tokenRequests\":2,\"handOuts\":40,\"lastRefreshAt\":1700000000000,\"failures\":1,\"fallbacks\":3}"
    );
}
