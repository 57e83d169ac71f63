//! The gateway's `ROUTES`: how routes are read (the four seed systems as the example), how a
//! path finds its route, and what is refused, naming the route and the field and quoting no
//! value in the caller's answer.
// On wasm32 the Worker's modules exist only with the `worker` feature.
#![cfg(any(not(target_arch = "wasm32"), feature = "worker"))]

mod common;

use std::collections::HashMap;

use common::{assert_no_secret, SerdeJson};
use edge_oauth::config::{AuthMethod, Endpoint, GrantConfig};
use edge_oauth::worker::access::{check_access, Refusal};
use edge_oauth::worker::answer::token_failure;
use edge_oauth::worker::config::{gateway_config, Access, Gateway, WorkerEnv};
use edge_oauth::worker::routes::{route_for, RouteValue, RoutedPath};
use edge_oauth::TokenError;

const AINUA_SECRET: &str = "ainua-s3cret-Zq8";
const APITURE_SECRET: &str = "apiture-s3cret-Kp2";
const REALM_SECRET: &str = "realm-s3cret-Wd5";
const INFOLINK_SECRET: &str = "infolink-s3cret-Rt7";
const INFOLINK_PASSWORD: &str = "infolink-pa55word-Yh3";
const PROXY_KEYS: &str = "gateway-key-1,gateway-key-2";
const AINUA_KEYS: &str = "ainua-key-Lm4";
const SECRETS: [&str; 7] = [
    AINUA_SECRET,
    APITURE_SECRET,
    REALM_SECRET,
    INFOLINK_SECRET,
    INFOLINK_PASSWORD,
    "gateway-key-1",
    AINUA_KEYS,
];

/// The four seed systems behind one Worker, as the README shows them.
const SEED_ROUTES: &str = r#"[
  { "prefix": "/ainua/", "origin": "https://ainua.example.com/api",
    "keycloak": { "baseUrl": "https://ainua.example.com", "realm": "ncp" },
    "clientId": "ainua-connector", "clientSecret": { "secret": "AINUA_CLIENT_SECRET" },
    "authMethod": "client_secret_post", "headerName": "Authentication", "keys": "AINUA_KEYS" },
  { "prefix": "/apiture/", "origin": "https://api.apiture.com",
    "issuer": "https://auth.apiture.com/oidc", "clientId": "apiture-app",
    "clientSecret": { "secret": "APITURE_CLIENT_SECRET" }, "authMethod": "client_secret_basic",
    "scope": ["banking/read", "banking/write"] },
  { "prefix": "/realm", "origin": "https://realm-api.example.com/v1",
    "tokenUrl": "https://sso.example.com/realms/apps/protocol/openid-connect/token",
    "clientId": "realm-client", "clientSecret": { "secret": "REALM_CLIENT_SECRET" },
    "authMethod": "client_secret_post", "scope": "openid", "timeoutMs": 3000, "maxWaitMs": 4000 },
  { "prefix": "/infolink/", "origin": "http://10.0.0.7:8080/api/v1", "keepPrefix": false,
    "tokenUrl": "http://10.0.0.7:8080/api/v1/oauth2/token", "allowInsecureHttp": true,
    "clientId": "infolink-client", "clientSecret": { "secret": "INFOLINK_CLIENT_SECRET" },
    "authMethod": "client_secret_post",
    "grant": { "type": "password", "username": "svc-user", "password": { "secret": "INFOLINK_PASSWORD" } },
    "extraParams": { "audience": "jobs" } }
]"#;

/// A Worker `env`: vars and secrets, and the names of its service bindings.
struct FakeEnv {
    vars: HashMap<&'static str, &'static str>,
    services: Vec<&'static str>,
    broker: bool,
}

impl WorkerEnv for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|v| v.to_string())
    }

    fn is_service(&self, name: &str) -> bool {
        self.services.contains(&name)
    }

    fn has_token_broker(&self) -> bool {
        self.broker
    }
}

fn env() -> FakeEnv {
    FakeEnv {
        vars: HashMap::from([
            ("AINUA_CLIENT_SECRET", AINUA_SECRET),
            ("APITURE_CLIENT_SECRET", APITURE_SECRET),
            ("REALM_CLIENT_SECRET", "realm-s3cret-Wd5\n"),
            ("INFOLINK_CLIENT_SECRET", INFOLINK_SECRET),
            ("INFOLINK_PASSWORD", INFOLINK_PASSWORD),
            ("PROXY_KEYS", PROXY_KEYS),
            ("AINUA_KEYS", AINUA_KEYS),
        ]),
        services: vec!["BACKEND"],
        broker: false,
    }
}

fn routes_value(json: &str) -> RouteValue {
    route_value(&serde_json::from_str(json).expect("the test's ROUTES are JSON"))
}

/// JSON as the Worker reads it from the platform's object (`route_value` in entry.rs).
fn route_value(value: &serde_json::Value) -> RouteValue {
    use serde_json::Value;
    match value {
        Value::Null => RouteValue::Null,
        Value::Bool(flag) => RouteValue::Flag(*flag),
        Value::Number(number) => RouteValue::Number(number.as_f64().unwrap()),
        Value::String(text) => RouteValue::Text(text.clone()),
        Value::Array(items) => RouteValue::List(items.iter().map(route_value).collect()),
        Value::Object(fields) => RouteValue::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), route_value(v)))
                .collect(),
        ),
    }
}

fn load_with(json: &str, env: &FakeEnv) -> Result<Gateway, TokenError> {
    let gateway = gateway_config(Some(&routes_value(json)), env, &SerdeJson);
    match &gateway {
        Ok(gateway) => assert_no_secret("Gateway (Debug)", &format!("{gateway:?}"), &SECRETS),
        Err(error) => {
            assert_no_secret("error (Debug)", &format!("{error:?}"), &SECRETS);
            assert_no_secret("error", &error.message(), &SECRETS);
        }
    }
    gateway
}

fn load(json: &str) -> Gateway {
    load_with(json, &env()).unwrap_or_else(|e| panic!("should load: {e}"))
}

/// The error for `json`, and the body of the 500 a caller gets for it.
fn refused_with(json: &str, env: &FakeEnv) -> (String, String) {
    let error = match load_with(json, env) {
        Ok(gateway) => panic!("should be refused: {gateway:?}"),
        Err(error) => error,
    };
    assert_eq!(error.code(), "config");
    let answer = token_failure(&error, None);
    assert_eq!(answer.status, 500);
    assert_no_secret("answer", &answer.body, &SECRETS);
    (error.message(), answer.body)
}

fn refused(json: &str) -> (String, String) {
    refused_with(json, &env())
}

/// One route with `fields` added to a valid base.
fn one_route(fields: &str) -> String {
    format!(
        r#"[{{ "prefix": "/api/", "tokenUrl": "https://auth.example.com/token", "clientId": "c",
              "clientSecret": {{ "secret": "AINUA_CLIENT_SECRET" }} {fields} }}]"#
    )
}

fn with_origin(fields: &str) -> String {
    one_route(&format!(
        r#", "origin": "https://api.example.com" {fields}"#
    ))
}

#[test]
fn the_four_seed_systems_each_get_their_own_client() {
    let gateway = load(SEED_ROUTES);
    let prefixes: Vec<&str> = gateway.routes.iter().map(|r| r.prefix.as_str()).collect();
    assert_eq!(prefixes, ["/ainua/", "/apiture/", "/realm", "/infolink/"]);
    let route = |prefix: &str| gateway.routes.iter().find(|r| r.prefix == prefix).unwrap();

    let ainua = route("/ainua/");
    assert_eq!(ainua.base, "https://ainua.example.com/api");
    assert_eq!(
        ainua.client.endpoint,
        Endpoint::TokenUrl(
            "https://ainua.example.com/realms/ncp/protocol/openid-connect/token".into()
        )
    );
    assert_eq!(ainua.client.auth_method, Some(AuthMethod::ClientSecretPost));
    assert_eq!(ainua.client.header_name, "Authentication");
    assert_eq!(
        ainua.client.client_secret.as_ref().unwrap().expose(),
        AINUA_SECRET
    );
    assert!(check_access(&ainua.access, Some(AINUA_KEYS)).is_ok());
    assert_eq!(
        check_access(&ainua.access, Some("gateway-key-1")),
        Err(Refusal::Unauthorized),
        "a key of another route"
    );

    let apiture = route("/apiture/");
    assert_eq!(
        apiture.client.endpoint,
        Endpoint::Issuer("https://auth.apiture.com/oidc".into())
    );
    assert_eq!(
        apiture.client.auth_method,
        Some(AuthMethod::ClientSecretBasic)
    );
    assert_eq!(
        apiture.client.scope.as_deref(),
        Some("banking/read banking/write")
    );
    assert_eq!(apiture.client.header_name, "Authorization");
    assert!(check_access(&apiture.access, Some("Bearer gateway-key-2")).is_ok());
    assert_eq!(
        check_access(&apiture.access, Some(AINUA_KEYS)),
        Err(Refusal::Unauthorized)
    );

    let realm = route("/realm");
    assert_eq!(
        realm.client.client_secret.as_ref().unwrap().expose(),
        REALM_SECRET
    );
    assert_eq!(realm.client.scope.as_deref(), Some("openid"));
    assert_eq!(realm.client.timeout_ms, 3000);
    assert_eq!(realm.client.max_wait_ms, 4000);

    let infolink = route("/infolink/");
    assert_eq!(infolink.base, "http://10.0.0.7:8080/api/v1");
    match &infolink.client.grant {
        GrantConfig::Password { username, password } => {
            assert_eq!(username.expose(), "svc-user");
            assert_eq!(password.expose(), INFOLINK_PASSWORD);
        }
        other => panic!("expected the password grant, got {other:?}"),
    }
    assert_eq!(
        infolink.client.extra_params,
        [("audience".to_string(), "jobs".to_string())]
    );
    assert!(infolink.service.is_none());
}

#[test]
fn a_path_finds_the_longest_prefix_and_loses_it_upstream() {
    let gateway = load(
        r#"[
      { "prefix": "/api/", "origin": "https://a.example.com", "tokenUrl": "https://auth.example.com/t", "clientId": "a", "clientSecret": { "secret": "AINUA_CLIENT_SECRET" } },
      { "prefix": "/api/v2/", "origin": "https://b.example.com/base", "tokenUrl": "https://auth.example.com/t", "clientId": "b", "clientSecret": { "secret": "AINUA_CLIENT_SECRET" } },
      { "prefix": "/kept", "keepPrefix": true, "origin": "https://c.example.com", "tokenUrl": "https://auth.example.com/t", "clientId": "c", "clientSecret": { "secret": "AINUA_CLIENT_SECRET" } }
    ]"#,
    );
    let upstream = |path: &str| {
        route_for(&gateway.routes, path).map(|(index, routed)| {
            let route = &gateway.routes[index];
            (
                route.client.client_id.as_str(),
                [route.base.as_str(), &routed.to_path()].concat(),
            )
        })
    };
    assert_eq!(
        upstream("/api/items?x=1"),
        Some(("a", "https://a.example.com/items?x=1".into()))
    );
    assert_eq!(
        upstream("/api/"),
        Some(("a", "https://a.example.com/".into()))
    );
    assert_eq!(
        upstream("/api/v2/items"),
        Some(("b", "https://b.example.com/base/items".into()))
    );
    assert_eq!(
        upstream("/api/v2/"),
        Some(("b", "https://b.example.com/base/".into()))
    );
    assert_eq!(
        upstream("/api/v2"),
        Some(("a", "https://a.example.com/v2".into()))
    );
    // A prefix without a trailing slash matches whole segments only, and may be kept.
    assert_eq!(
        upstream("/kept"),
        Some(("c", "https://c.example.com/kept".into()))
    );
    assert_eq!(
        upstream("/kept/x?q"),
        Some(("c", "https://c.example.com/kept/x?q".into()))
    );
    assert_eq!(
        upstream("/kept?q=1"),
        Some(("c", "https://c.example.com/kept?q=1".into()))
    );
    assert_eq!(upstream("/keptx"), None);
    assert_eq!(upstream("/api"), None, "/api/ needs its slash");
    assert_eq!(upstream("/"), None);
    assert_eq!(upstream("/other/api/"), None);

    let (_, routed) = route_for(&gateway.routes, "/api/v2/x").unwrap();
    assert_eq!(routed, RoutedPath::Rest("x"));
}

#[test]
fn the_single_origin_vars_are_one_route_for_every_path() {
    let mut env = env();
    env.vars.extend([
        ("ORIGIN_URL", "https://api.example.com/v1"),
        ("TOKEN_URL", "https://auth.example.com/token"),
        ("CLIENT_ID", "c"),
        ("CLIENT_SECRET", AINUA_SECRET),
    ]);
    let gateway = gateway_config(None, &env, &SerdeJson).unwrap();
    assert_eq!(gateway.routes.len(), 1);
    let route = &gateway.routes[0];
    assert_eq!(route.prefix, "");
    for path in ["/", "/x/y?z", "/ainua/"] {
        let (index, routed) = route_for(&gateway.routes, path).unwrap();
        assert_eq!((index, routed), (0, RoutedPath::Whole(path)));
    }
    assert_eq!(route.base, "https://api.example.com/v1");
}

#[test]
fn a_service_binding_route_goes_through_the_binding() {
    let gateway = load(&one_route(r#", "service": "BACKEND""#));
    let route = &gateway.routes[0];
    assert_eq!(route.service.as_deref(), Some("BACKEND"));
    assert_eq!(route.base, "https://backend");

    let (message, answer) = refused(&one_route(r#", "service": "NOT_BOUND""#));
    assert!(
        message.contains("ROUTES /api/: service names 'NOT_BOUND', which is not a service binding"),
        "{message}"
    );
    assert!(
        answer.contains("ROUTES /api/: service names '…'"),
        "{answer}"
    );
    let (message, _) = refused(&one_route(
        r#", "service": "BACKEND", "origin": "https://x.example.com""#,
    ));
    assert!(
        message.contains("ROUTES /api/: origin: give either origin (a URL) or service"),
        "{message}"
    );
    let (message, _) = refused(&one_route(""));
    assert!(message.contains("give either origin"), "{message}");
}

#[test]
fn what_is_refused_names_the_route_and_the_field_and_quotes_no_value() {
    // (fields added to a valid route, what the message says, what the answer must not hold)
    let cases: [(&str, &str, &str); 16] = [
        (r#", "clientSecret": "inline-s3cret-Q1""#, "ROUTES /api/: clientSecret must name a Worker secret as { \"secret\": \"NAME\" }, never hold the secret itself", "inline-s3cret-Q1"),
        (r#", "grant": { "type": "password", "username": "u", "password": "inline-pa55-Q2" }"#, "ROUTES /api/: grant.password must name a Worker secret", "inline-pa55-Q2"),
        (r#", "clientSecret": { "secret": "MISSING_SECRET" }"#, "ROUTES /api/: clientSecret names the secret 'MISSING_SECRET', which is not set (wrangler secret put)", "MISSING_SECRET"),
        (r#", "clientSecret": { "secret": "AINUA_CLIENT_SECRET", "also": 1 }"#, "ROUTES /api/: clientSecret must be { \"secret\": \"NAME\" }", "AINUA_CLIENT_SECRET"),
        (r#", "keys": "MISSING_KEYS""#, "ROUTES /api/: keys names the secret 'MISSING_KEYS', which is not set", "MISSING_KEYS"),
        (r#", "tokenUrll": "https://x""#, "ROUTES /api/: unknown field tokenUrll", "https://x"),
        (r#", "keycloak": { "baseUrl": "https://k", "realmm": "r" }"#, "ROUTES /api/: unknown field keycloak.realmm", "https://k"),
        (r#", "fetch": "x""#, "ROUTES /api/: unknown field fetch", "\"x\""),
        (r#", "deviceAuthorizationUrl": "https://d.example.com""#, "ROUTES /api/: unknown field deviceAuthorizationUrl", "d.example.com"),
        (r#", "timeoutMs": 0"#, "ROUTES /api/: timeoutMs must be a number of milliseconds from 1 to 600000", "\"0\""),
        (r#", "timeoutMs": "5000""#, "ROUTES /api/: timeoutMs must be a number of milliseconds from 1 to 600000", "\"5000\""),
        (r#", "authMethod": "private_key_jwt""#, "ROUTES /api/: authMethod 'private_key_jwt' is not supported", "private_key_jwt"),
        (r#", "scope": ["ok", 3]"#, "ROUTES /api/: scope must be a string or an array of strings", "\"ok\""),
        (r#", "keepPrefix": "yes""#, "ROUTES /api/: keepPrefix must be true or false", "yes"),
        (r#", "grant": { "type": "device_code" }, "deviceAuthorizationUrll": 1"#, "unknown field deviceAuthorizationUrll", "device_code"),
        (r#", "headerName": "Bad Header""#, "ROUTES /api/: headerName", "Bad Header"),
    ];
    for (fields, says, never) in cases {
        let (message, answer) = refused(&with_origin(fields));
        assert!(
            message.contains(says),
            "{fields}: '{message}' should say '{says}'"
        );
        assert!(
            answer.contains("ROUTES /api/"),
            "{fields}: the answer names the route: {answer}"
        );
        assert!(
            !answer.contains(never),
            "{fields}: the answer quotes '{never}': {answer}"
        );
    }
}

#[test]
fn what_was_pasted_in_place_of_a_name_is_never_repeated() {
    for (fields, says) in [
        (
            r#", "clientSecret": { "secret": "pasted s3cret value!" }"#,
            "clientSecret names the secret a name that is not a binding's, which is not set",
        ),
        (
            r#", "keys": "key-one,key-two""#,
            "keys names the secret a name that is not a binding's",
        ),
        (
            r#", "": "x""#,
            "unknown field (a name that is not an option)",
        ),
    ] {
        let (message, answer) = refused(&with_origin(fields));
        assert!(message.contains(says), "{fields}: {message}");
        for pasted in ["pasted s3cret", "key-one"] {
            assert!(
                !message.contains(pasted) && !answer.contains(pasted),
                "{message}"
            );
        }
    }
}

#[test]
fn the_routes_themselves_must_be_well_formed() {
    let base = r#""origin": "https://a.example.com", "tokenUrl": "https://auth.example.com/t", "clientId": "c", "clientSecret": { "secret": "AINUA_CLIENT_SECRET" }"#;
    let cases = [
        ("{}".to_string(), "ROUTES must be a JSON array of routes"),
        ("[]".to_string(), "ROUTES must hold from 1 to 256 routes"),
        (
            "[1]".to_string(),
            "ROUTES[0] must be an object with a prefix",
        ),
        (
            format!("[{{ {base} }}]"),
            "ROUTES[0]: prefix must be a path that starts with /",
        ),
        (
            format!(r#"[{{ "prefix": "api/", {base} }}]"#),
            "ROUTES[0]: prefix must be",
        ),
        (
            format!(r#"[{{ "prefix": "/a\"b/", {base} }}]"#),
            "ROUTES[0]: prefix must be",
        ),
        (
            format!(r#"[{{ "prefix": "/a/", {base} }}, {{ "prefix": "/b/", "origin": 7 }}]"#),
            "ROUTES /b/: origin must be a non-empty string",
        ),
        (
            format!(r#"[{{ "prefix": "/a/", {base} }}, {{ "prefix": "/a/", {base} }}]"#),
            "ROUTES /a/: two routes have this prefix",
        ),
        (
            r#"[{ "prefix": "/a/", "origin": "ftp://a.example.com", "tokenUrl": "https://auth.example.com/t", "clientId": "c", "clientSecret": { "secret": "AINUA_CLIENT_SECRET" } }]"#.to_string(),
            "ROUTES /a/: origin",
        ),
        (
            r#"[{ "prefix": "/a/", "origin": "https://a.example.com", "clientId": "c", "clientSecret": { "secret": "AINUA_CLIENT_SECRET" } }]"#.to_string(),
            "ROUTES /a/: give exactly one of tokenUrl, issuer or keycloak",
        ),
        (
            r#"[{ "prefix": "/a/", "origin": "https://a.example.com", "keycloak": { "baseUrl": "https://k.example.com", "realm": "r" }, "clientId": "c", "authMethod": "none", "grant": { "type": "device_code" } }]"#.to_string(),
            "ROUTES /a/: grant: the device code grant needs a person to approve each sign-in",
        ),
    ];
    for (json, says) in cases {
        let (message, answer) = refused(&json);
        assert!(
            message.contains(says),
            "{json}: '{message}' should say '{says}'"
        );
        assert!(answer.contains("ROUTES"), "{answer}");
    }
}

#[test]
fn broker_routes_need_the_binding_and_broker_timeout_ms_its_limits() {
    let (message, answer) = refused(&with_origin(r#", "broker": true"#));
    assert!(
        message
            .contains("ROUTES /api/: broker: true needs the TOKEN_BROKER Durable Object binding"),
        "{message}"
    );
    assert!(answer.contains("broker"), "{answer}");
    let mut env = env();
    env.broker = true;
    let gateway = load_with(&with_origin(r#", "broker": true"#), &env).unwrap();
    assert!(gateway.routes[0].broker);
    assert_eq!(gateway.broker_timeout_ms, 500);
    assert!(
        !load_with(&with_origin(""), &env).unwrap().routes[0].broker,
        "opt-in per route"
    );
    let (message, _) = refused(&with_origin(r#", "broker": "yes""#));
    assert!(
        message.contains("broker must be true or false"),
        "{message}"
    );
    for (value, ok) in [
        ("250", Some(250)),
        ("60000", Some(60_000)),
        ("0", None),
        ("fast", None),
    ] {
        env.vars.insert("BROKER_TIMEOUT_MS", value);
        let loaded = load_with(&with_origin(r#", "broker": true"#), &env);
        match ok {
            Some(ms) => assert_eq!(loaded.unwrap().broker_timeout_ms, ms),
            None => assert!(loaded
                .unwrap_err()
                .message()
                .contains("BROKER_TIMEOUT_MS must be a number of milliseconds from 1 to 60000")),
        }
    }
    // Without ROUTES, the binding alone opts the one route in.
    let mut env = self::env();
    env.vars.extend([
        ("ORIGIN_URL", "https://api.example.com"),
        ("TOKEN_URL", "https://auth.example.com/t"),
        ("CLIENT_ID", "c"),
        ("CLIENT_SECRET", AINUA_SECRET),
    ]);
    assert!(!gateway_config(None, &env, &SerdeJson).unwrap().routes[0].broker);
    env.broker = true;
    assert!(gateway_config(None, &env, &SerdeJson).unwrap().routes[0].broker);
}

#[test]
fn routes_and_the_single_origin_vars_do_not_mix() {
    let mut env = env();
    env.vars
        .insert("TOKEN_URL", "https://auth.example.com/token");
    let (message, answer) = refused_with(&with_origin(""), &env);
    assert!(
        message.contains("ROUTES is set, and so is TOKEN_URL"),
        "{message}"
    );
    assert!(answer.contains("TOKEN_URL"), "{answer}");
    // Secrets may stay: routes name them.
    let mut env = self::env();
    env.vars.insert("CLIENT_SECRET", "old-secret");
    assert!(load_with(&with_origin(""), &env).is_ok());
}

#[test]
fn a_route_without_keys_uses_proxy_keys_or_allow_anonymous() {
    let mut env = env();
    env.vars.remove("PROXY_KEYS");
    let (message, _) = refused_with(&with_origin(""), &env);
    assert!(message.contains("PROXY_KEYS is not set"), "{message}");
    env.vars.insert("ALLOW_ANONYMOUS", "true");
    let gateway = load_with(&with_origin(""), &env).unwrap();
    assert!(matches!(gateway.routes[0].access, Access::Anonymous));
    // A route that names its keys needs them, anonymous or not.
    let (message, _) = refused_with(&with_origin(r#", "keys": "NOPE""#), &env);
    assert!(
        message.contains("keys names the secret 'NOPE'"),
        "{message}"
    );
}
