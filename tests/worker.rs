//! The Worker proxy's pure logic: configuration from Worker vars and secrets, inbound access
//! keys, the upstream URL (which never leaves the origin), which headers travel, the replay
//! buffer rule, how token failures are answered, and `Server-Timing`.
// On wasm32 the Worker's modules exist only with the `worker` feature.
#![cfg(any(not(target_arch = "wasm32"), feature = "worker"))]

mod common;

use std::collections::HashMap;

use common::{assert_no_secret, fixture, response, SerdeJson, ACCESS_TOKEN, SECRET, T0};
use edge_oauth::config::{AuthMethod, BasicAuthEncoding, Endpoint, Timing};
use edge_oauth::response::{parse_token_response, HttpResponse};
use edge_oauth::worker::access::{check_access, Refusal};
use edge_oauth::worker::answer::{
    json_error, json_escape, server_timing, token_failure, TokenSource,
};
use edge_oauth::worker::config::{proxy_config, Access, ProxyConfig};
use edge_oauth::worker::headers::{hop_by_hop_headers, request_headers_to_drop};
use edge_oauth::worker::upstream::{
    buffer_for_replay, path_and_query, upstream_url, REPLAY_LIMIT_BYTES,
};
use edge_oauth::TokenError;

/// `scheme://host[:port]` of the origin requests go to.
fn origin_of(config: &ProxyConfig) -> String {
    let base = &config.origin_base;
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    base[..end].to_owned()
}

/// Whether an inbound request header is dropped on the way to the origin.
fn drop_request_header(config: &ProxyConfig, name: &str, connection: &str) -> bool {
    request_headers_to_drop(&config.key_header, &config.client.header_name, connection)
        .any(|dropped| dropped.eq_ignore_ascii_case(name))
}

/// Whether a response header from the origin is dropped on the way back.
fn drop_response_header(name: &str, connection: &str) -> bool {
    hop_by_hop_headers(connection).any(|dropped| dropped.eq_ignore_ascii_case(name))
}

/// The two keys callers may present; no output may ever contain either.
const KEY_ONE: &str = "KEY-one-7c1d0a";
const KEY_TWO: &str = "KEY-two-9e4b22";
/// `PROXY_KEYS` as set with `wrangler secret put`: comma-separated, with stray spaces.
const PROXY_KEYS: &str = "KEY-one-7c1d0a, KEY-two-9e4b22";

const ORIGIN_URL: &str = "https://api.example.test/v1";
const TOKEN_URL: &str = "https://auth.example.test/oauth2/token";

/// Every value that must never be printed.
const SECRETS: [&str; 5] = [SECRET, KEY_ONE, KEY_TWO, PROXY_KEYS, ACCESS_TOKEN];

// ---- helpers ------------------------------------------------------------------------------

/// The smallest valid set of Worker vars and secrets.
fn base_vars() -> HashMap<String, String> {
    [
        ("ORIGIN_URL", ORIGIN_URL),
        ("TOKEN_URL", TOKEN_URL),
        ("CLIENT_ID", "edge-client"),
        ("CLIENT_SECRET", SECRET),
        ("PROXY_KEYS", PROXY_KEYS),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// `base_vars()` with each `(name, Some(value))` set and each `(name, None)` removed.
fn vars(changes: &[(&str, Option<&str>)]) -> HashMap<String, String> {
    let mut vars = base_vars();
    for (name, value) in changes {
        match value {
            Some(value) => vars.insert((*name).to_owned(), (*value).to_owned()),
            None => vars.remove(*name),
        };
    }
    vars
}

/// `proxy_config` over a var map.
fn load(vars: HashMap<String, String>) -> Result<ProxyConfig, TokenError> {
    proxy_config(move |name| vars.get(name).cloned(), &SerdeJson)
}

fn scan(what: &str, text: &str) {
    assert_no_secret(what, text, &SECRETS);
}

/// The configuration for `base_vars()` with `changes`; its Debug must not hold a secret.
fn config_with(changes: &[(&str, Option<&str>)]) -> ProxyConfig {
    let config =
        load(vars(changes)).unwrap_or_else(|error| panic!("{changes:?} should be valid: {error}"));
    scan("ProxyConfig (Debug)", &format!("{config:?}"));
    scan("ProxyConfig (Debug, pretty)", &format!("{config:#?}"));
    config
}

fn config() -> ProxyConfig {
    config_with(&[])
}

/// The configuration error for `base_vars()` with `changes`: checked to be a `Config` error
/// with no secret in its Display or Debug, and no TokenClient option name where a Worker var
/// name belongs. Returns the Display.
fn config_error(changes: &[(&str, Option<&str>)]) -> String {
    let error = match load(vars(changes)) {
        Ok(config) => panic!("{changes:?} should be refused, got {config:?}"),
        Err(error) => error,
    };
    assert!(matches!(error, TokenError::Config { .. }), "{error:?}");
    assert_eq!(error.code(), "config");
    let display = error.to_string();
    scan("config error (Display)", &display);
    scan("config error (Debug)", &format!("{error:?}"));
    assert!(display.starts_with("invalid configuration: "), "{display}");
    for option in [
        "tokenUrl",
        "keycloak.",
        "clientId",
        "clientSecret",
        "authMethod",
        "basicAuthEncoding",
        "headerName",
        "Seconds",
        "timeoutMs",
        "maxRetries",
        "allowInsecureHttp",
    ] {
        assert!(
            !display.contains(option),
            "{changes:?}: '{display}' names the option {option} instead of a Worker var"
        );
    }
    display
}

fn assert_names(message: &str, names: &[&str]) {
    for name in names {
        assert!(message.contains(name), "'{message}' does not name {name}");
    }
}

// ---- proxy_config: values and defaults ---------------------------------------------------

#[test]
fn defaults() {
    let config = config();
    assert_eq!(origin_of(&config), "https://api.example.test");
    assert_eq!(config.origin_base, "https://api.example.test/v1");
    assert_eq!(config.key_header, "proxy-authorization");
    assert!(!config.debug_log);
    assert!(matches!(&config.access, Access::Keys(keys) if keys.len() == 2));

    let client = &config.client;
    assert_eq!(client.endpoint, Endpoint::TokenUrl(TOKEN_URL.into()));
    assert_eq!(client.client_id, "edge-client");
    assert_eq!(
        client.client_secret.as_ref().map(|s| s.expose()),
        Some(SECRET)
    );
    assert_eq!(client.header_name, "Authorization");
    assert_eq!(client.auth_method, None);
    assert_eq!(client.basic_auth_encoding, BasicAuthEncoding::Rfc6749);
    assert_eq!(client.scope, None);
    assert_eq!(
        client.timing,
        Timing {
            refresh_ahead_ms: 60_000,
            expiry_margin_ms: 10_000,
            default_expires_in_ms: 300_000,
        }
    );
    assert_eq!(client.timeout_ms, 10_000);
    assert_eq!(client.max_retries, 2);
    assert!(!client.allow_insecure_http);
}

#[test]
fn every_var_is_read() {
    let config = config_with(&[
        ("ORIGIN_URL", Some("https://API.Example.test:8443/base/v2/")),
        ("TOKEN_URL", Some("http://auth.internal.test/token")),
        ("CLIENT_ID", Some("other-client")),
        ("SCOPE", Some("orders:read  orders:write")),
        ("AUTH_METHOD", Some("client_secret_post")),
        ("BASIC_AUTH_ENCODING", Some("raw")),
        ("AUTH_HEADER", Some("X-Api-Token")),
        ("REFRESH_AHEAD_SECONDS", Some("30")),
        ("EXPIRY_MARGIN_SECONDS", Some("2.5")),
        ("DEFAULT_EXPIRES_IN_SECONDS", Some("600")),
        ("TIMEOUT_MS", Some("2500")),
        ("MAX_RETRIES", Some("0")),
        ("ALLOW_INSECURE_HTTP", Some("true")),
        ("PROXY_KEY_HEADER", Some("X-Proxy-Key")),
        ("LOG_LEVEL", Some("debug")),
    ]);
    assert_eq!(origin_of(&config), "https://api.example.test:8443");
    assert_eq!(config.origin_base, "https://api.example.test:8443/base/v2");
    assert_eq!(config.key_header, "x-proxy-key");
    assert!(config.debug_log);

    let client = &config.client;
    assert_eq!(
        client.endpoint,
        Endpoint::TokenUrl("http://auth.internal.test/token".into())
    );
    assert_eq!(client.client_id, "other-client");
    assert_eq!(client.scope.as_deref(), Some("orders:read orders:write"));
    assert_eq!(client.auth_method, Some(AuthMethod::ClientSecretPost));
    assert_eq!(client.basic_auth_encoding, BasicAuthEncoding::Raw);
    assert_eq!(client.header_name, "X-Api-Token");
    assert_eq!(
        client.timing,
        Timing {
            refresh_ahead_ms: 30_000,
            expiry_margin_ms: 2_500,
            default_expires_in_ms: 600_000,
        }
    );
    assert_eq!(client.timeout_ms, 2500);
    assert_eq!(client.max_retries, 0);
    assert!(client.allow_insecure_http);
    for key in [KEY_ONE, KEY_TWO] {
        assert_eq!(check_access(&config.access, Some(key)), Ok(()), "{key}");
    }
}

#[test]
fn values_are_trimmed_and_empty_ones_are_unset() {
    let config = config_with(&[
        ("ORIGIN_URL", Some("  https://api.example.test/v1/ \n")),
        ("CLIENT_ID", Some(" edge-client\t")),
        ("TIMEOUT_MS", Some(" 1500 ")),
        ("MAX_RETRIES", Some("")),
        ("SCOPE", Some("   ")),
        ("AUTH_HEADER", Some("")),
        ("PROXY_KEY_HEADER", Some(" ")),
        ("LOG_LEVEL", Some("DEBUG")),
    ]);
    assert_eq!(config.origin_base, "https://api.example.test/v1");
    assert_eq!(config.client.client_id, "edge-client");
    assert_eq!(config.client.timeout_ms, 1500);
    assert_eq!(config.client.max_retries, 2);
    assert_eq!(config.client.scope, None);
    assert_eq!(config.client.header_name, "Authorization");
    assert_eq!(config.key_header, "proxy-authorization");
    assert!(config.debug_log);

    assert!(!config_with(&[("LOG_LEVEL", Some("info"))]).debug_log);
}

#[test]
fn issuer_and_keycloak_endpoints() {
    let issuer = config_with(&[
        ("TOKEN_URL", None),
        ("ISSUER", Some("https://auth.example.test/tenant/")),
    ]);
    assert_eq!(
        issuer.client.endpoint,
        Endpoint::Issuer("https://auth.example.test/tenant/".into())
    );

    let keycloak = config_with(&[
        ("TOKEN_URL", None),
        ("KEYCLOAK_BASE_URL", Some("https://sso.example.test/")),
        ("KEYCLOAK_REALM", Some("ncp")),
    ]);
    assert_eq!(
        keycloak.client.endpoint,
        Endpoint::TokenUrl(
            "https://sso.example.test/realms/ncp/protocol/openid-connect/token".into()
        )
    );
}

#[test]
fn origin_url_forms() {
    for (url, origin, base) in [
        (
            "https://api.example.test/v1",
            "https://api.example.test",
            "https://api.example.test/v1",
        ),
        (
            "https://api.example.test/v1/",
            "https://api.example.test",
            "https://api.example.test/v1",
        ),
        (
            "https://api.example.test/v1//",
            "https://api.example.test",
            "https://api.example.test/v1",
        ),
        (
            "https://api.example.test",
            "https://api.example.test",
            "https://api.example.test",
        ),
        (
            "https://api.example.test/",
            "https://api.example.test",
            "https://api.example.test",
        ),
        (
            "HTTPS://API.Example.TEST:8443/Mixed/Case",
            "https://api.example.test:8443",
            "https://api.example.test:8443/Mixed/Case",
        ),
        (
            "https://[2001:db8::1]:8443/api",
            "https://[2001:db8::1]:8443",
            "https://[2001:db8::1]:8443/api",
        ),
    ] {
        let config = config_with(&[("ORIGIN_URL", Some(url))]);
        assert_eq!(origin_of(&config), origin, "{url}");
        assert_eq!(config.origin_base, base, "{url}");
    }
}

// ---- proxy_config: what is refused ------------------------------------------------------

/// What a refused configuration's message must say.
enum Says {
    /// Exactly this message.
    Exactly(&'static str),
    /// A message naming each of these.
    Names(&'static [&'static str]),
}

type Changes = &'static [(&'static str, Option<&'static str>)];

const TOKEN_ENDPOINT_VARS: Says =
    Says::Names(&["TOKEN_URL", "ISSUER", "KEYCLOAK_BASE_URL", "KEYCLOAK_REALM"]);
const KEYCLOAK_PAIR: Says = Says::Exactly(
    "invalid configuration: set both KEYCLOAK_BASE_URL and KEYCLOAK_REALM, or neither",
);
const ISSUER: (&str, Option<&str>) = ("ISSUER", Some("https://auth.example.test"));
const KEYCLOAK_BASE_URL: (&str, Option<&str>) =
    ("KEYCLOAK_BASE_URL", Some("https://sso.example.test"));
const KEYCLOAK_REALM: (&str, Option<&str>) = ("KEYCLOAK_REALM", Some("ncp"));

/// Missing, conflicting or half-given vars: (case, changes to `base_vars()`, the message).
const REFUSED: &[(&str, Changes, Says)] = {
    use Says::*;
    const ORIGIN_URL_REQUIRED: Says =
        Exactly("invalid configuration: ORIGIN_URL is required: the URL requests are forwarded to");
    const CLIENT_ID_REQUIRED: Says = Exactly("invalid configuration: CLIENT_ID is required");
    const CLIENT_SECRET_REQUIRED: Says = Names(&["CLIENT_SECRET is required", "AUTH_METHOD"]);
    const KEYS_OR_ANONYMOUS: Says = Names(&["PROXY_KEYS", "ALLOW_ANONYMOUS=true"]);
    const TRUE_OR_FALSE: Says =
        Exactly("invalid configuration: ALLOW_ANONYMOUS must be true or false");
    &[
        (
            "ORIGIN_URL unset",
            &[("ORIGIN_URL", None)],
            ORIGIN_URL_REQUIRED,
        ),
        (
            "ORIGIN_URL empty",
            &[("ORIGIN_URL", Some(""))],
            ORIGIN_URL_REQUIRED,
        ),
        (
            "ORIGIN_URL blank",
            &[("ORIGIN_URL", Some("   "))],
            ORIGIN_URL_REQUIRED,
        ),
        (
            "CLIENT_ID unset",
            &[("CLIENT_ID", None)],
            CLIENT_ID_REQUIRED,
        ),
        (
            "CLIENT_ID empty",
            &[("CLIENT_ID", Some(""))],
            CLIENT_ID_REQUIRED,
        ),
        (
            "CLIENT_ID blank",
            &[("CLIENT_ID", Some(" "))],
            CLIENT_ID_REQUIRED,
        ),
        (
            "CLIENT_SECRET unset",
            &[("CLIENT_SECRET", None)],
            CLIENT_SECRET_REQUIRED,
        ),
        (
            "CLIENT_SECRET empty",
            &[("CLIENT_SECRET", Some(""))],
            CLIENT_SECRET_REQUIRED,
        ),
        (
            "AUTH_METHOD none with a CLIENT_SECRET",
            &[("AUTH_METHOD", Some("none"))],
            Names(&["AUTH_METHOD", "CLIENT_SECRET"]),
        ),
        (
            "no token endpoint: TOKEN_URL unset",
            &[("TOKEN_URL", None)],
            TOKEN_ENDPOINT_VARS,
        ),
        (
            "no token endpoint: TOKEN_URL blank",
            &[("TOKEN_URL", Some(" "))],
            TOKEN_ENDPOINT_VARS,
        ),
        (
            "no token endpoint: TOKEN_URL unset, ISSUER empty",
            &[("TOKEN_URL", None), ("ISSUER", Some(""))],
            TOKEN_ENDPOINT_VARS,
        ),
        (
            "two token endpoints: TOKEN_URL and ISSUER",
            &[ISSUER],
            TOKEN_ENDPOINT_VARS,
        ),
        (
            "two token endpoints: TOKEN_URL and KEYCLOAK_*",
            &[KEYCLOAK_BASE_URL, KEYCLOAK_REALM],
            TOKEN_ENDPOINT_VARS,
        ),
        (
            "two token endpoints: ISSUER and KEYCLOAK_*",
            &[
                ("TOKEN_URL", None),
                ISSUER,
                KEYCLOAK_BASE_URL,
                KEYCLOAK_REALM,
            ],
            TOKEN_ENDPOINT_VARS,
        ),
        (
            "KEYCLOAK_BASE_URL alone",
            &[("TOKEN_URL", None), KEYCLOAK_BASE_URL],
            KEYCLOAK_PAIR,
        ),
        (
            "KEYCLOAK_REALM alone",
            &[("TOKEN_URL", None), KEYCLOAK_REALM],
            KEYCLOAK_PAIR,
        ),
        // Half a pair is refused even next to a TOKEN_URL: it is a mistake either way.
        (
            "KEYCLOAK_REALM beside TOKEN_URL",
            &[KEYCLOAK_REALM, ("ISSUER", Some(""))],
            KEYCLOAK_PAIR,
        ),
        (
            "PROXY_KEYS unset",
            &[("PROXY_KEYS", None)],
            KEYS_OR_ANONYMOUS,
        ),
        (
            "PROXY_KEYS empty",
            &[("PROXY_KEYS", Some(""))],
            KEYS_OR_ANONYMOUS,
        ),
        (
            "PROXY_KEYS all commas",
            &[("PROXY_KEYS", Some(" , ,, "))],
            KEYS_OR_ANONYMOUS,
        ),
        (
            "PROXY_KEYS unset, ALLOW_ANONYMOUS false",
            &[("PROXY_KEYS", None), ("ALLOW_ANONYMOUS", Some("false"))],
            KEYS_OR_ANONYMOUS,
        ),
        (
            "ALLOW_ANONYMOUS yes",
            &[("PROXY_KEYS", None), ("ALLOW_ANONYMOUS", Some("yes"))],
            TRUE_OR_FALSE,
        ),
        (
            "ALLOW_ANONYMOUS 1",
            &[("PROXY_KEYS", None), ("ALLOW_ANONYMOUS", Some("1"))],
            TRUE_OR_FALSE,
        ),
        (
            "ALLOW_ANONYMOUS TRUE",
            &[("PROXY_KEYS", None), ("ALLOW_ANONYMOUS", Some("TRUE"))],
            TRUE_OR_FALSE,
        ),
    ]
};

#[test]
fn missing_conflicting_or_half_given_vars_are_refused() {
    for (case, changes, says) in REFUSED {
        let message = config_error(changes);
        match says {
            Says::Exactly(expected) => assert_eq!(&message, expected, "{case}"),
            Says::Names(names) => {
                for name in *names {
                    assert!(
                        message.contains(name),
                        "{case}: '{message}' does not name {name}"
                    );
                }
            }
        }
    }
}

#[test]
fn no_client_secret_with_auth_method_none() {
    let public = config_with(&[("CLIENT_SECRET", None), ("AUTH_METHOD", Some("none"))]);
    assert_eq!(public.client.auth_method, Some(AuthMethod::None));
    assert!(public.client.client_secret.is_none());
}

#[test]
fn anonymous_access_is_explicit_and_keys_win() {
    let anonymous = config_with(&[("PROXY_KEYS", None), ("ALLOW_ANONYMOUS", Some("true"))]);
    assert!(matches!(anonymous.access, Access::Anonymous));

    // Keys win over ALLOW_ANONYMOUS: a caller without a key is still refused.
    let keyed = config_with(&[("ALLOW_ANONYMOUS", Some("true"))]);
    assert!(matches!(&keyed.access, Access::Keys(keys) if keys.len() == 2));
    assert_eq!(
        check_access(&keyed.access, None),
        Err(Refusal::Unauthorized)
    );
}

#[test]
fn bad_numbers_name_the_var() {
    let numeric = [
        "REFRESH_AHEAD_SECONDS",
        "EXPIRY_MARGIN_SECONDS",
        "DEFAULT_EXPIRES_IN_SECONDS",
        "TIMEOUT_MS",
        "MAX_RETRIES",
    ];
    for name in numeric {
        for text in ["abc", "12abc", "1,5", "0x10"] {
            // Not a number: the message says what a number must be, as for one out of range.
            let message = config_error(&[(name, Some(text))]);
            assert!(
                message.starts_with(&format!("invalid configuration: {name} must be a ")),
                "{name}={text}: {message}"
            );
            assert!(message.contains(" from "), "{name}={text}: {message}");
        }
    }
    for (name, text) in [
        ("REFRESH_AHEAD_SECONDS", "-1"),
        ("REFRESH_AHEAD_SECONDS", "NaN"),
        ("EXPIRY_MARGIN_SECONDS", "86401"),
        ("EXPIRY_MARGIN_SECONDS", "inf"),
        ("DEFAULT_EXPIRES_IN_SECONDS", "0"),
        ("TIMEOUT_MS", "0"),
        ("TIMEOUT_MS", "600001"),
        ("MAX_RETRIES", "1.5"),
        ("MAX_RETRIES", "11"),
        ("MAX_RETRIES", "NaN"),
    ] {
        let message = config_error(&[(name, Some(text))]);
        assert!(
            message.starts_with(&format!("invalid configuration: {name} must be a ")),
            "{name}={text}: {message}"
        );
    }
}

#[test]
fn other_bad_values_name_the_var() {
    for (name, value, expected) in [
        (
            "ALLOW_INSECURE_HTTP",
            "yes",
            "ALLOW_INSECURE_HTTP must be true or false",
        ),
        (
            "AUTH_METHOD",
            "private_key_jwt",
            "AUTH_METHOD 'private_key_jwt' is not supported",
        ),
        (
            "BASIC_AUTH_ENCODING",
            "latin1",
            "BASIC_AUTH_ENCODING 'latin1' is not supported",
        ),
        (
            "AUTH_HEADER",
            "X Api Token",
            "AUTH_HEADER must be a valid HTTP header name",
        ),
        ("SCOPE", "read \"write\"", "SCOPE: each scope must be"),
    ] {
        let message = config_error(&[(name, Some(value))]);
        assert!(message.contains(expected), "{name}={value}: {message}");
    }
}

#[test]
fn plain_http_is_refused_unless_loopback_or_allowed() {
    for (name, url, host) in [
        (
            "ORIGIN_URL",
            "http://api.example.test/v1",
            "api.example.test",
        ),
        (
            "TOKEN_URL",
            "http://auth.example.test/token",
            "auth.example.test",
        ),
    ] {
        let message = config_error(&[(name, Some(url))]);
        assert_names(
            &message,
            &[
                name,
                "plain http",
                &format!("'{host}'"),
                "ALLOW_INSECURE_HTTP",
            ],
        );
        let allowed = config_with(&[(name, Some(url)), ("ALLOW_INSECURE_HTTP", Some("true"))]);
        assert!(allowed.client.allow_insecure_http);
        let refused = config_error(&[(name, Some(url)), ("ALLOW_INSECURE_HTTP", Some("false"))]);
        assert_eq!(refused, message);
    }
    for (name, changes) in [
        (
            "ISSUER",
            vec![
                ("TOKEN_URL", None),
                ("ISSUER", Some("http://auth.example.test")),
            ],
        ),
        (
            "KEYCLOAK_BASE_URL",
            vec![
                ("TOKEN_URL", None),
                ("KEYCLOAK_BASE_URL", Some("http://sso.example.test")),
                ("KEYCLOAK_REALM", Some("ncp")),
            ],
        ),
    ] {
        let message = config_error(&changes);
        assert_names(&message, &[name, "ALLOW_INSECURE_HTTP"]);
    }

    for url in [
        "http://localhost:8787/v1",
        "http://127.0.0.1:9000",
        "http://[::1]:8080/api",
    ] {
        let origin = config_with(&[("ORIGIN_URL", Some(url))]);
        assert!(!origin.client.allow_insecure_http);
        config_with(&[("TOKEN_URL", Some(url))]);
    }
    let origin = config_with(&[("ORIGIN_URL", Some("http://localhost:8787/v1/"))]);
    assert_eq!(origin_of(&origin), "http://localhost:8787");
    assert_eq!(origin.origin_base, "http://localhost:8787/v1");
}

#[test]
fn hosts_in_messages_are_quoted_as_given() {
    // Option names are rewritten into var names, but not inside the quoted host.
    for name in ["ORIGIN_URL", "TOKEN_URL"] {
        let message = config_error(&[(name, Some("http://scope.issuer.example/clientId"))]);
        assert_names(
            &message,
            &[
                &format!("{name} uses plain http to 'scope.issuer.example'"),
                "set ALLOW_INSECURE_HTTP",
            ],
        );
    }
    let message = config_error(&[("AUTH_METHOD", Some("issuer"))]);
    assert_names(
        &message,
        &["AUTH_METHOD 'issuer' is not supported", "'none'"],
    );
}

#[test]
fn origin_url_with_query_fragment_credentials_or_no_host_is_refused() {
    let shape = "invalid configuration: ORIGIN_URL must be an absolute http(s) URL without query, fragment or credentials, such as https://api.example.com/v1";
    for url in [
        "https://api.example.test/v1?tenant=a",
        "https://api.example.test/v1?",
        "https://api.example.test/v1#top",
        // The password is the client secret: the message must not quote the URL.
        &format!("https://edge:{SECRET}@api.example.test/v1"),
        &format!("https://{KEY_ONE}@api.example.test"),
        "https://api.example.test\\@evil.example/",
        "ftp://api.example.test/v1",
        "wss://api.example.test/v1",
        "api.example.test/v1",
        "//api.example.test/v1",
        "https:///v1",
    ] {
        let message = config_error(&[("ORIGIN_URL", Some(url))]);
        assert_eq!(message, shape, "{url}");
    }
    // A port without a host passes the shape check, then the endpoint check names it.
    let message = config_error(&[("ORIGIN_URL", Some("https://:8443/v1"))]);
    assert_names(&message, &["ORIGIN_URL must be an absolute URL"]);
}

#[test]
fn token_url_with_credentials_is_refused_without_quoting_them() {
    let message = config_error(&[(
        "TOKEN_URL",
        Some(&format!(
            "https://edge-client:{SECRET}@auth.example.test/token"
        )),
    )]);
    assert_names(
        &message,
        &["TOKEN_URL must not carry credentials", "CLIENT_SECRET"],
    );
}

#[test]
fn secrets_are_in_no_error_and_no_debug() {
    // Every error above goes through config_error(), which scans it; here, the errors that
    // come after the secrets were read, and the Debug of every part of a config.
    for changes in [
        vec![("MAX_RETRIES", Some("x"))],
        vec![("AUTH_METHOD", Some("none"))],
        vec![("ORIGIN_URL", Some("http://api.example.test"))],
        vec![("ALLOW_ANONYMOUS", Some("maybe"))],
    ] {
        config_error(&changes);
    }
    let config = config();
    scan("Access (Debug)", &format!("{:?}", config.access));
    if let Access::Keys(keys) = &config.access {
        for key in keys {
            assert_eq!(format!("{key:?}"), "ProxyKey([redacted])");
        }
    }
    let debug = format!("{config:?}");
    assert!(debug.contains("ProxyKey([redacted])"), "{debug}");
    assert!(debug.contains("ClientSecret([redacted])"), "{debug}");
    // The scan itself catches a leak.
    let leaked =
        std::panic::catch_unwind(|| scan("a leak", &format!("keys: {PROXY_KEYS}"))).is_err();
    assert!(leaked);
}

// ---- check_access -----------------------------------------------------------------------

#[test]
fn a_listed_key_is_accepted_with_or_without_bearer() {
    let access = config().access;
    for presented in [
        format!("Bearer {KEY_ONE}"),
        format!("bearer {KEY_ONE}"),
        format!("BEARER {KEY_TWO}"),
        format!("BeArEr {KEY_TWO}"),
        format!("  Bearer   {KEY_ONE}  "),
        KEY_ONE.to_owned(),
        format!(" {KEY_TWO} "),
    ] {
        assert_eq!(
            check_access(&access, Some(&presented)),
            Ok(()),
            "{presented:?}"
        );
    }
}

#[test]
fn anything_else_is_unauthorized() {
    let access = config().access;
    let prefix = &KEY_ONE[..KEY_ONE.len() - 1];
    for presented in [
        None,
        Some(String::new()),
        Some("   ".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some("Bearer wrong-key".to_owned()),
        Some("wrong-key".to_owned()),
        // A prefix of a real key, bare and with Bearer; and a real key with more after it.
        Some(prefix.to_owned()),
        Some(format!("Bearer {prefix}")),
        Some(format!("{KEY_ONE}x")),
        Some(format!("Bearer {KEY_ONE}x")),
        Some(format!("Bearer {KEY_ONE} {KEY_TWO}")),
        // Another scheme, the whole list, and a key in the wrong case.
        Some(format!("Basic {KEY_ONE}")),
        Some(format!("Token {KEY_ONE}")),
        Some(PROXY_KEYS.to_owned()),
        Some(format!("{KEY_ONE},{KEY_TWO}")),
        Some(KEY_ONE.to_ascii_uppercase()),
        Some(format!("Bearer{KEY_ONE}")),
    ] {
        assert_eq!(
            check_access(&access, presented.as_deref()),
            Err(Refusal::Unauthorized),
            "{presented:?}"
        );
    }
}

#[test]
fn a_single_key_and_several_keys() {
    let single = config_with(&[("PROXY_KEYS", Some("only-key-3f9a"))]).access;
    assert!(matches!(&single, Access::Keys(keys) if keys.len() == 1));
    assert_eq!(check_access(&single, Some("Bearer only-key-3f9a")), Ok(()));
    assert_eq!(
        check_access(&single, Some(KEY_ONE)),
        Err(Refusal::Unauthorized)
    );

    let several = config_with(&[("PROXY_KEYS", Some(",k-aaaa , k-bbbb,,k-cccc,"))]).access;
    assert!(matches!(&several, Access::Keys(keys) if keys.len() == 3));
    for key in ["k-aaaa", "k-bbbb", "k-cccc"] {
        assert_eq!(check_access(&several, Some(key)), Ok(()), "{key}");
        assert_eq!(
            check_access(&several, Some(&format!("Bearer {key}"))),
            Ok(()),
            "{key}"
        );
    }
    for wrong in ["k-aaa", "k-aaaa , k-bbbb", "", "k-dddd"] {
        assert_eq!(
            check_access(&several, Some(wrong)),
            Err(Refusal::Unauthorized),
            "{wrong:?}"
        );
    }
}

#[test]
fn anonymous_access_needs_no_key() {
    let access = config_with(&[("PROXY_KEYS", None), ("ALLOW_ANONYMOUS", Some("true"))]).access;
    for presented in [None, Some(""), Some("Bearer anything"), Some(KEY_ONE)] {
        assert_eq!(check_access(&access, presented), Ok(()), "{presented:?}");
    }
}

// ---- upstream_url -----------------------------------------------------------------------

/// The authority of an absolute URL, as a WHATWG parser finds it for http(s) (where `\` ends
/// it like `/`).
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").expect("an absolute URL").1;
    rest.split(['/', '\\', '?', '#']).next().unwrap()
}

/// The path an origin would serve for `url` if it decoded `%2e`, `%2f` and `%5c`, took `\`
/// for `/`, and then removed dot segments (RFC 3986 §5.2.4): a lenient origin's view.
fn path_seen_by_a_lenient_origin(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let path = &rest[rest.find('/').unwrap_or(rest.len())..];
    let mut path = path.split('?').next().unwrap().replace('\\', "/");
    for (encoded, decoded) in [
        ("%2e", "."),
        ("%2E", "."),
        ("%2f", "/"),
        ("%2F", "/"),
        ("%5c", "/"),
        ("%5C", "/"),
    ] {
        path = path.replace(encoded, decoded);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            ".." => {
                segments.pop();
            }
            "." => {}
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/"))
}

/// `upstream_url`, with the invariants every accepted URL must hold: it starts with the base
/// and a `/`, its authority is the origin's, and even a lenient origin keeps it under the
/// base path.
fn upstream(config: &ProxyConfig, path_and_query: &str) -> Result<String, Refusal> {
    let result = upstream_url(&config.origin_base, path_and_query);
    if let Ok(url) = &result {
        assert!(
            url.starts_with(&format!("{}/", config.origin_base)) || *url == config.origin_base,
            "{path_and_query:?} → {url} is not under {}",
            config.origin_base
        );
        assert_eq!(
            authority(url),
            authority(&origin_of(config)),
            "{path_and_query:?} → {url} leaves the origin"
        );
        let base_path = path_seen_by_a_lenient_origin(&config.origin_base);
        let base_path = base_path.trim_end_matches('/');
        let seen = path_seen_by_a_lenient_origin(url);
        assert!(
            seen == base_path || seen.starts_with(&format!("{base_path}/")),
            "{path_and_query:?} → {url} reaches {seen}, outside {base_path}"
        );
    }
    result
}

/// The three base shapes: a path, the same with a trailing slash, and no path.
fn bases() -> Vec<(ProxyConfig, &'static str)> {
    vec![
        (
            config_with(&[("ORIGIN_URL", Some("https://api.example.test/v1"))]),
            "https://api.example.test/v1",
        ),
        (
            config_with(&[("ORIGIN_URL", Some("https://api.example.test/v1/"))]),
            "https://api.example.test/v1",
        ),
        (
            config_with(&[("ORIGIN_URL", Some("https://api.example.test"))]),
            "https://api.example.test",
        ),
    ]
}

#[test]
fn path_and_query_are_appended_to_the_base() {
    for (config, base) in bases() {
        for (path_and_query, tail) in [
            ("/", "/"),
            ("/users/42", "/users/42"),
            ("/users/42/", "/users/42/"),
            ("/search?q=a+b&page=2", "/search?q=a+b&page=2"),
            ("/?q", "/?q"),
            (
                "/x?next=//evil.example/&u=http://evil.example",
                "/x?next=//evil.example/&u=http://evil.example",
            ),
            ("/files/a%2Fb", "/files/a%2Fb"),
            ("/caf%C3%A9/caf\u{e9}", "/caf%C3%A9/caf\u{e9}"),
            ("/a..b/...", "/a..b/..."),
            ("/..a/b../.x/x.", "/..a/b../.x/x."),
            ("/a?x=/../..&y=%2e%2e", "/a?x=/../..&y=%2e%2e"),
        ] {
            assert_eq!(
                upstream(&config, path_and_query),
                Ok(format!("{base}{tail}")),
                "{path_and_query:?} on {base}"
            );
        }
    }
}

#[test]
fn other_hosts_in_the_path_stay_on_the_origin() {
    for (config, base) in bases() {
        for path in [
            "//evil.example/x",
            "///evil.example",
            "/http://evil.example",
            "/https:/evil.example/",
            "/@evil.example",
            "/@evil.example:443/x",
            "/:@evil.example",
            "/%2F%2Fevil.example/x",
            "/%40evil.example",
        ] {
            assert_eq!(
                upstream(&config, path),
                Ok(format!("{base}{path}")),
                "{path:?} on {base}"
            );
        }
    }
}

#[test]
fn paths_that_are_not_paths_are_refused() {
    for (config, _) in bases() {
        for path_and_query in [
            "",
            "?q=1",
            "evil.example/x",
            "http://evil.example/x",
            "https://evil.example",
            "@evil.example",
            "*",
        ] {
            assert_eq!(
                upstream(&config, path_and_query),
                Err(Refusal::BadPath),
                "{path_and_query:?}"
            );
        }
    }
}

#[test]
fn dot_segments_raw_or_encoded_are_refused() {
    for (config, _) in bases() {
        for path in [
            "/..",
            "/../",
            "/../x",
            "/../../etc/passwd",
            "/a/../b",
            "/a/..",
            "/.",
            "/./x",
            "/a/./b",
            "/a/.",
            "/%2e%2e",
            "/%2E%2E/x",
            "/%2E%2e",
            "/%2e%2E/admin",
            "/.%2e",
            "/%2e.",
            "/.%2E/x",
            "/a/%2e",
            "/a/%2E/b",
            "/..?q=1",
            "/a/%2e%2e?next=/",
        ] {
            assert_eq!(upstream(&config, path), Err(Refusal::BadPath), "{path:?}");
        }
    }
}

#[test]
fn dot_segments_hidden_behind_encoded_slashes_are_refused() {
    // An origin that decodes %2F or %5C before resolving dot segments would climb out of the
    // base path with these.
    for (config, _) in bases() {
        for path in [
            "/a/%2F..",
            "/..%2Fadmin",
            "/..%2fadmin",
            "/a/b%2F..%2F..%2Fadmin",
            "/%2e%2e%2Fadmin",
            "/.%2e%2F",
            "/x%2F.%2Fy",
            "/..%5Cadmin",
            "/a%5c..%5cadmin",
        ] {
            assert_eq!(upstream(&config, path), Err(Refusal::BadPath), "{path:?}");
        }
        // Encoded slashes alone are kept as they are.
        assert!(upstream(&config, "/a%2Fb%5Cc").is_ok());
        assert!(upstream(&config, "/%2F").is_ok());
    }
}

#[test]
fn backslashes_and_control_characters_are_refused() {
    for (config, _) in bases() {
        for path in [
            "/a\\b",
            "/\\evil.example",
            "/\\\\evil.example/x",
            "\\evil.example",
            "/..\\admin",
            "/a\tb",
            "/a\nb",
            "/a\rb",
            "/\r\nHost: evil.example",
            "/a\u{0}b",
            "/a\u{1b}b",
            "/a\u{7f}b",
            "/a\u{85}b",
        ] {
            assert_eq!(upstream(&config, path), Err(Refusal::BadPath), "{path:?}");
        }
    }
}

// ---- headers ----------------------------------------------------------------------------

#[test]
fn hop_by_hop_host_key_and_token_headers_are_dropped() {
    let config = config();
    for name in [
        "Connection",
        "keep-alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "PROXY-AUTHORIZATION",
        "proxy-connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "upgrade",
        "Host",
        "host",
        "Authorization",
        "AUTHORIZATION",
    ] {
        assert!(drop_request_header(&config, name, ""), "{name}");
    }
    for name in [
        "Content-Type",
        "content-length",
        "Accept",
        "Accept-Encoding",
        "User-Agent",
        "Cookie",
        "X-Custom",
        "X-Proxy-Key",
        "X-Api-Token",
        "X-Forwarded-For",
        "Hostname",
        "Authorization-Extra",
    ] {
        assert!(!drop_request_header(&config, name, ""), "{name}");
        assert!(
            !drop_request_header(&config, name, "keep-alive, Upgrade"),
            "{name}"
        );
    }
}

#[test]
fn headers_the_connection_header_lists_are_dropped() {
    let config = config();
    let connection = "keep-alive, X-Hop-One ,x-hop-TWO";
    for name in ["X-Hop-One", "x-hop-one", "X-HOP-TWO"] {
        assert!(drop_request_header(&config, name, connection), "{name}");
        assert!(drop_response_header(name, connection), "{name}");
    }
    for name in ["X-Hop", "X-Hop-One-More", "Content-Type"] {
        assert!(!drop_request_header(&config, name, connection), "{name}");
        assert!(!drop_response_header(name, connection), "{name}");
    }
    for connection in ["", " , ,", "close"] {
        assert!(!drop_request_header(&config, "X-Custom", connection));
        assert!(!drop_response_header("X-Custom", connection));
    }
}

#[test]
fn custom_key_and_token_headers_are_dropped() {
    let config = config_with(&[
        ("PROXY_KEY_HEADER", Some("X-Proxy-Key")),
        ("AUTH_HEADER", Some("X-Api-Token")),
    ]);
    for name in [
        "X-Proxy-Key",
        "x-proxy-key",
        "X-PROXY-KEY",
        "X-Api-Token",
        "x-api-token",
        // Hop-by-hop whatever the key header is.
        "Proxy-Authorization",
        "Host",
        // The token goes in X-Api-Token; a caller's own credentials never pass through.
        "Authorization",
    ] {
        assert!(drop_request_header(&config, name, ""), "{name}");
    }
    for name in ["Content-Type", "Accept", "X-Custom"] {
        assert!(!drop_request_header(&config, name, ""), "{name}");
    }

    // The key in Authorization, replaced by the token there.
    let same = config_with(&[("PROXY_KEY_HEADER", Some("Authorization"))]);
    assert_eq!(same.key_header, "authorization");
    assert!(drop_request_header(&same, "Authorization", ""));
    assert!(!drop_request_header(&same, "X-Proxy-Key", ""));
}

#[test]
fn response_headers() {
    for name in [
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "proxy-authorization",
        "Proxy-Connection",
        "te",
        "Trailer",
        "TRANSFER-ENCODING",
        "Upgrade",
    ] {
        assert!(drop_response_header(name, ""), "{name}");
    }
    for name in [
        "Content-Type",
        "Content-Length",
        "Content-Encoding",
        "Set-Cookie",
        "WWW-Authenticate",
        "Cache-Control",
        "Server-Timing",
        "Location",
        "X-Custom",
    ] {
        assert!(!drop_response_header(name, ""), "{name}");
    }
}

// ---- buffer_for_replay ------------------------------------------------------------------

#[test]
fn bodies_up_to_64_kib_are_buffered_for_a_replay() {
    assert_eq!(REPLAY_LIMIT_BYTES, 65_536);
    assert!(buffer_for_replay(false, None), "no body");
    assert!(buffer_for_replay(false, Some(0)), "no body, length 0");
    assert!(buffer_for_replay(true, Some(0)), "empty body");
    assert!(buffer_for_replay(true, Some(1)));
    assert!(buffer_for_replay(true, Some(65_536)), "64 KiB exactly");
    assert!(!buffer_for_replay(true, Some(65_537)), "64 KiB + 1");
    assert!(!buffer_for_replay(true, Some(u64::MAX)));
    assert!(!buffer_for_replay(true, None), "unknown length (streamed)");
}

// ---- token_failure ----------------------------------------------------------------------

/// The body of a failure answer, parsed: exactly `error`, `code` and `message`, all strings,
/// with no secret anywhere.
fn body_fields(body: &str) -> (String, String, String) {
    scan("failure body", body);
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    let object = value.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "error", "message"], "{body}");
    let field = |name: &str| {
        object[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} is not a string: {body}"))
            .to_owned()
    };
    (field("error"), field("code"), field("message"))
}

/// `token_failure(error, None)`, checked against the expected status, Retry-After, `error` and
/// `code`; the message is the Worker's own: never the server's description.
fn assert_failure(
    error: &TokenError,
    status: u16,
    retry_after: Option<u64>,
    kind: &str,
    code: &str,
) {
    let answer = token_failure(error, None);
    assert_eq!(answer.status, status, "{error:?}");
    assert_eq!(answer.retry_after_seconds, retry_after, "{error:?}");
    let (error_field, code_field, message) = body_fields(&answer.body);
    assert_eq!(error_field, kind, "{error:?}");
    assert_eq!(code_field, code, "{error:?}");
    assert!(!message.is_empty());
    if let Some(description) = error.description().filter(|d| d.len() > 3) {
        assert!(!message.contains(description), "{message}");
    }
    scan("failure answer (Debug)", &format!("{answer:?}"));
}

fn parse(response: &HttpResponse) -> TokenError {
    match parse_token_response(&SerdeJson, response, T0, 300_000) {
        Ok(token) => panic!("expected an error, got {token:?}"),
        Err(error) => error,
    }
}

fn server(status: u16, error: &str, retry_after_ms: Option<u64>) -> TokenError {
    TokenError::Server {
        error: error.into(),
        description: None,
        uri: None,
        status,
        retry_after_ms,
    }
}

#[test]
fn network_and_timeout_are_503_with_a_default_retry_after() {
    assert_failure(
        &TokenError::Network("connection refused".into()),
        503,
        Some(5),
        "token_endpoint_unavailable",
        "network",
    );
    assert_failure(
        &TokenError::Timeout { timeout_ms: 10_000 },
        503,
        Some(5),
        "token_endpoint_unavailable",
        "timeout",
    );
}

#[test]
fn rate_limited_is_503_with_the_servers_retry_after() {
    let body = r#"{"error":"slow_down","error_description":"too many requests"}"#;
    let error = parse(&HttpResponse {
        retry_after_ms: Some(7_000),
        ..response(429, "application/json", body)
    });
    assert_eq!(error.retry_after_ms(), Some(7_000));
    assert_failure(
        &error,
        503,
        Some(7),
        "token_endpoint_unavailable",
        "slow_down",
    );

    // A 429 that is not an OAuth error, with no Retry-After.
    let error = parse(&response(429, "text/plain", "Too Many Requests"));
    assert_failure(
        &error,
        503,
        Some(5),
        "token_endpoint_unavailable",
        "invalid_response",
    );

    // Partial seconds round up; the answer's Retry-After stays from 1 s to an hour (the
    // longest cooldown).
    for (ms, seconds) in [
        (6_500, 7),
        (7_000, 7),
        (7_001, 8),
        (0, 1),
        (1, 1),
        (300_000, 300),
        (3_600_000, 3_600),
        (u64::MAX, 3_600),
    ] {
        assert_failure(
            &server(429, "rate_limited", Some(ms)),
            503,
            Some(seconds),
            "token_endpoint_unavailable",
            "rate_limited",
        );
    }
}

#[test]
fn service_unavailable_is_503() {
    let html = fixture("service_unavailable.html");
    let error = parse(&response(503, "text/html", &html));
    assert_eq!(error.retry_after_ms(), None);
    assert_failure(
        &error,
        503,
        Some(5),
        "token_endpoint_unavailable",
        "invalid_response",
    );
    let answer = token_failure(&error, None);
    for detail in ["gateway-7f3a2c", "REQ-31bb4e", "<html"] {
        assert!(!answer.body.contains(detail), "{}", answer.body);
    }

    let error = parse(&HttpResponse {
        retry_after_ms: Some(12_000),
        ..response(503, "text/html", &html)
    });
    assert_failure(
        &error,
        503,
        Some(12),
        "token_endpoint_unavailable",
        "invalid_response",
    );
    assert_failure(
        &server(503, "temporarily_unavailable", None),
        503,
        Some(5),
        "token_endpoint_unavailable",
        "temporarily_unavailable",
    );
}

#[test]
fn other_token_endpoint_errors_are_502() {
    let error = parse(&response(
        500,
        "application/json",
        r#"{"error":"server_error"}"#,
    ));
    assert_failure(
        &error,
        503,
        Some(5),
        "token_endpoint_unavailable",
        "server_error",
    );

    let error = parse(&response(
        401,
        "application/json",
        &fixture("error_invalid_client.json"),
    ));
    assert_failure(&error, 502, None, "token_endpoint_error", "invalid_client");
    let (_, _, message) = body_fields(&token_failure(&error, None).body);
    assert_eq!(
        message, "the token endpoint refused to issue a token (code says why)",
        "the Worker's own words: an IdP's description never reaches a caller"
    );

    let error = parse(&response(
        502,
        "text/html",
        "<html><body>Bad Gateway</body></html>",
    ));
    assert!(
        matches!(error, TokenError::InvalidResponse { status: 502, .. }),
        "{error:?}"
    );
    assert_failure(
        &error,
        503,
        Some(5),
        "token_endpoint_unavailable",
        "invalid_response",
    );
    let error = parse(&response(200, "text/html", "<html>hello</html>"));
    assert_failure(
        &error,
        502,
        None,
        "token_endpoint_error",
        "invalid_response",
    );

    // A Retry-After on an error that is not a rate limit or an outage is not passed on.
    assert_failure(
        &server(400, "invalid_grant", Some(7_000)),
        502,
        None,
        "token_endpoint_error",
        "invalid_grant",
    );
    assert_failure(
        &server(500, "server_error", Some(7_000)),
        503,
        Some(7),
        "token_endpoint_unavailable",
        "server_error",
    );
}

#[test]
fn a_configuration_error_is_500() {
    let error = match load(vars(&[("MAX_RETRIES", Some("many"))])) {
        Err(error) => error,
        Ok(_) => panic!("MAX_RETRIES=many should be refused"),
    };
    assert_failure(&error, 500, None, "configuration", "config");
    let (_, _, message) = body_fields(&token_failure(&error, None).body);
    assert_eq!(
        message,
        "invalid configuration: MAX_RETRIES must be a whole number from 0 to 10"
    );
    // Values the message quotes are left out of the answer; the var names stay.
    let error = match load(vars(&[("AUTH_METHOD", Some("weird-method-x"))])) {
        Err(error) => error,
        Ok(_) => panic!("AUTH_METHOD=weird-method-x should be refused"),
    };
    assert!(
        error.to_string().contains("weird-method-x"),
        "the log has it"
    );
    let (_, _, message) = body_fields(&token_failure(&error, None).body);
    assert!(
        message.starts_with("invalid configuration: AUTH_METHOD '…'"),
        "{message}"
    );
    assert!(!message.contains("weird"), "{message}");
}

#[test]
fn awkward_text_in_an_error_still_gives_valid_json() {
    let error = TokenError::Server {
        error: "weird\"code\\".into(),
        description: Some("line one\nline \"two\"\t\\ end\u{1}\u{7f} \u{e9}\u{1f600}".into()),
        uri: None,
        status: 400,
        retry_after_ms: None,
    };
    assert_failure(&error, 502, None, "token_endpoint_error", "weird\"code\\");
}

// ---- json_escape, json_error, server_timing ---------------------------------------------

#[test]
fn json_escape_exact_output() {
    for (text, escaped) in [
        ("plain text", "plain text"),
        ("", ""),
        ("say \"hi\"", "say \\\"hi\\\""),
        ("C:\\path\\", "C:\\\\path\\\\"),
        ("a\nb", "a\\u000ab"),
        ("\r\t", "\\u000d\\u0009"),
        ("\u{0}\u{1f}", "\\u0000\\u001f"),
        (" ~\u{7f}", " ~\u{7f}"),
        ("/</script>", "/</script>"),
        (
            "caf\u{e9} \u{1f600} \u{2028}",
            "caf\u{e9} \u{1f600} \u{2028}",
        ),
    ] {
        assert_eq!(json_escape(text), escaped, "{text:?}");
    }
}

#[test]
fn json_escape_round_trips_through_serde_json() {
    let mut every_char: String = (0u8..=0x7f).map(char::from).collect();
    every_char.push_str("\u{80}\u{9f}\u{a0}\u{e9}\u{2028}\u{2029}\u{fffd}\u{1f600}\"\\\"\\\\");
    for text in [
        every_char.as_str(),
        "\"",
        "\\",
        "\\\"",
        "\n\n",
        "\\u0041",
        "end\\",
    ] {
        let json = format!("\"{}\"", json_escape(text));
        let back: String = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(back, text);
    }
}

#[test]
fn json_error_shape() {
    assert_eq!(
        json_error("token_endpoint_error", "invalid_client", "said \"no\"\n"),
        r#"{"error":"token_endpoint_error","code":"invalid_client","message":"said \"no\"\u000a"}"#
    );
    let (error, code, message) = body_fields(&json_error("a\\", "\"b", "c\u{0}"));
    assert_eq!(
        (error.as_str(), code.as_str(), message.as_str()),
        ("a\\", "\"b", "c\u{0}")
    );
}

#[test]
fn server_timing_format() {
    for (source, duration, header) in [
        (TokenSource::Cache, 0.0, "token;dur=0.0;desc=\"cache\""),
        (TokenSource::Cache, 0.04, "token;dur=0.0;desc=\"cache\""),
        (
            TokenSource::Fetch,
            123.456,
            "token;dur=123.5;desc=\"fetch\"",
        ),
        (TokenSource::Fetch, 87.0, "token;dur=87.0;desc=\"fetch\""),
        (
            TokenSource::Refresh,
            1500.26,
            "token;dur=1500.3;desc=\"refresh\"",
        ),
        (
            TokenSource::Refresh,
            9.99,
            "token;dur=10.0;desc=\"refresh\"",
        ),
    ] {
        assert_eq!(
            server_timing(source, duration, ""),
            header,
            "{source:?} {duration}"
        );
    }
    // With ROUTES, the route's prefix is a parameter of its own.
    assert_eq!(
        server_timing(TokenSource::Fetch, 12.0, "/ainua/"),
        "token;dur=12.0;desc=\"fetch\";route=\"/ainua/\""
    );
}

#[test]
fn an_at_sign_in_the_origin_path_is_fine_but_not_in_its_authority() {
    let config = config_with(&[("ORIGIN_URL", Some("https://api.example.com/users/@me"))]);
    assert_eq!(origin_of(&config), "https://api.example.com");
    assert_eq!(config.origin_base, "https://api.example.com/users/@me");
    let message = config_error(&[("ORIGIN_URL", Some("https://user@api.example.com/v1"))]);
    assert!(message.contains("ORIGIN_URL"), "{message}");
}

#[test]
fn a_trailing_line_break_is_not_part_of_the_client_secret() {
    let config = config_with(&[("CLIENT_SECRET", Some("piped-secret\n"))]);
    let secret = config.client.client_secret.as_ref().expect("a secret");
    assert_eq!(secret.expose(), "piped-secret");
}

#[test]
fn path_and_query_of_a_serialized_request_url() {
    assert_eq!(
        path_and_query("https://w.example/v1/items?x=1&y=2"),
        "/v1/items?x=1&y=2"
    );
    assert_eq!(path_and_query("http://127.0.0.1:8787/"), "/");
    assert_eq!(path_and_query("http://127.0.0.1:8787"), "/");
    assert_eq!(path_and_query("https://w.example/a?b#frag"), "/a?b");
    // What the runtime serialized is taken as it is; upstream_url judges it.
    assert_eq!(
        path_and_query("https://w.example//evil.example/x"),
        "//evil.example/x"
    );
    assert_eq!(path_and_query("https://w.example/%2e%2e/x"), "/%2e%2e/x");
    let config = config_with(&[("ORIGIN_URL", Some("https://api.example.com/base"))]);
    assert_eq!(
        upstream_url(
            &config.origin_base,
            path_and_query("https://w.example//evil.example/x")
        )
        .unwrap(),
        "https://api.example.com/base//evil.example/x"
    );
    assert_eq!(
        upstream_url(
            &config.origin_base,
            path_and_query("https://w.example/%2e%2e/x")
        ),
        Err(Refusal::BadPath)
    );
}
