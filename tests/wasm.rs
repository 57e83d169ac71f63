//! `CoreClient` — the core as the npm package's JS wrapper sees it, given the flat options
//! `options.js` makes — in Node and in headless Chromium: its steps driven by hand with the
//! platform's own `fetch` against the oidc-provider server that `.ci/test` starts before
//! `cargo test` (its issuer is passed in at compile time as EDGE_OAUTH_TEST_ISSUER), and with
//! canned answers where a server cannot be made to give them. Run once plain (Node) and once
//! with WASM_BINDGEN_USE_BROWSER=1.
#![cfg(all(target_arch = "wasm32", not(feature = "worker")))]

use edge_oauth::npm::CoreClient;
use js_sys::{Date, Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

/// The bits of `CoreClient::lookup`.
const SERVE: u8 = 1;
const START: u8 = 2;

fn issuer() -> &'static str {
    match option_env!("EDGE_OAUTH_TEST_ISSUER") {
        Some(issuer) => issuer,
        None => panic!(
            "build with EDGE_OAUTH_TEST_ISSUER set to a running tests/support/auth-server.mjs"
        ),
    }
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &JsValue::from_str(name), value).unwrap();
    }
    object.into()
}

fn client(extra: &[(&str, JsValue)]) -> CoreClient {
    let mut fields = vec![
        (
            "tokenUrl",
            JsValue::from_str(&format!("{}/token", issuer())),
        ),
        ("clientId", "basic-client".into()),
        ("clientSecret", "basic-secret-Zq81".into()),
        ("maxRetries", 0.into()),
    ];
    for (name, value) in extra {
        fields.retain(|(n, _)| n != name);
        fields.push((name, value.clone()));
    }
    CoreClient::new(object(&fields)).unwrap_or_else(|e| panic!("config refused: {e:?}"))
}

fn get(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).unwrap()
}

fn text(object: &JsValue, name: &str) -> String {
    get(object, name)
        .as_string()
        .unwrap_or_else(|| panic!("{name} is not a string"))
}

fn stat(client: &mut CoreClient, name: &str) -> f64 {
    get(&client.stats(), name).as_f64().unwrap()
}

/// Does what the JS wrapper does with each `send` step, with the global `fetch`, until the
/// core answers with `info` or `error`.
async fn run(client: &mut CoreClient, mut step: JsValue) -> JsValue {
    let fetch: Function = get(&js_sys::global(), "fetch").unchecked_into();
    loop {
        let send = get(&step, "send");
        if send.is_undefined() {
            return step;
        }
        let pending = fetch.call2(&JsValue::UNDEFINED, &get(&send, "url"), &send);
        let response: web_sys::Response = JsFuture::from(Promise::resolve(&pending.unwrap()))
            .await
            .expect("the test server answers")
            .unchecked_into();
        let body = JsFuture::from(response.text().unwrap()).await.unwrap();
        let header = |name| response.headers().get(name).unwrap();
        step = client
            .answer(
                Date::now(),
                response.status(),
                &header("content-type").unwrap_or_default(),
                // Delay-seconds only: the servers here send no HTTP-date.
                header("retry-after")
                    .and_then(|v| v.parse::<f64>().ok())
                    .map(|s| s * 1000.0),
                body.as_string(),
                0.5,
                false,
            )
            .into();
    }
}

#[wasm_bindgen_test]
async fn basic_auth_token_then_cache_hit() {
    // As options.js hands it over: the scope as a list.
    let mut client = client(&[("scope", js_sys::Array::of1(&"api:read".into()).into())]);
    assert_eq!(
        client.lookup(Date::now()),
        START,
        "a cold client waits and starts"
    );
    assert!(client.info().is_undefined());
    assert_eq!(
        client.lookup(Date::now()),
        0,
        "a second caller joins the renewal under way"
    );

    let step: JsValue = client.first(Date::now()).into();
    let headers = get(&get(&step, "send"), "headers");
    assert!(text(&headers, "Authorization").starts_with("Basic "));
    let info = get(&run(&mut client, step).await, "info");
    let token = text(&info, "accessToken");
    assert_eq!(token.split('.').count(), 3, "oidc-provider issues JWTs");
    assert_eq!(get(&info, "tokenType"), "Bearer");
    assert_eq!(get(&info, "scope"), "api:read");
    assert!(get(&info, "expiresAt").as_f64().unwrap() > Date::now());
    assert!(get(&info, "freshUntil").as_f64().unwrap() > Date::now());

    assert_eq!(client.lookup(Date::now()), SERVE, "served, no renewal");
    assert_eq!(text(&client.info(), "accessToken"), token);
    assert_eq!(stat(&mut client, "tokenRequests"), 1.0);
    assert_eq!(stat(&mut client, "cacheHits"), 1.0);
}

#[wasm_bindgen_test]
async fn post_auth_through_discovery() {
    let mut client = client(&[
        ("tokenUrl", JsValue::UNDEFINED),
        ("issuer", issuer().into()),
        ("clientId", "post-client".into()),
        ("clientSecret", "post-secret-Xk27".into()),
        ("authMethod", "client_secret_post".into()),
    ]);
    client.lookup(Date::now());
    let step: JsValue = client.first(Date::now()).into();
    let send = get(&step, "send");
    assert_eq!(get(&send, "method"), "GET");
    assert!(text(&send, "url").contains("/.well-known/"));
    let info = get(&run(&mut client, step).await, "info");
    assert!(text(&info, "accessToken").len() > 20);
    assert_eq!(
        stat(&mut client, "tokenRequests"),
        1.0,
        "discovery is not a token request"
    );
}

#[wasm_bindgen_test]
async fn wrong_secret_is_invalid_client_without_the_secret() {
    let mut client = client(&[("clientSecret", "WASM-WRONG-SECRET-77".into())]);
    client.lookup(Date::now());
    let step = client.first(Date::now()).into();
    let error = get(&run(&mut client, step).await, "error");
    assert_eq!(get(&error, "code"), "invalid_client");
    assert_eq!(get(&error, "status"), 401);
    assert_eq!(get(&error, "retryable"), false);
    let message = text(&error, "message");
    assert!(!message.contains("WASM-WRONG-SECRET-77"), "{message}");
}

#[wasm_bindgen_test]
fn retry_after_becomes_a_sleep_step_then_the_same_request() {
    let mut client = client(&[("maxRetries", 1.into())]);
    client.lookup(Date::now());
    let first = get(&client.first(Date::now()), "send");
    let busy = r#"{"error":"temporarily_unavailable"}"#;
    let step = client.answer(
        Date::now(),
        503,
        "application/json",
        Some(2000.0),
        Some(busy.into()),
        0.5,
        false,
    );
    assert_eq!(get(&step, "sleep"), 2000);
    let again = get(&client.resume(Date::now(), false), "send");
    assert_eq!(get(&again, "body"), get(&first, "body"));
    let step = client.answer(
        Date::now(),
        503,
        "application/json",
        None,
        Some(busy.into()),
        0.5,
        false,
    );
    let error = get(&step, "error");
    assert_eq!(get(&error, "code"), "temporarily_unavailable");
    assert_eq!(get(&error, "retryable"), true);
}

#[wasm_bindgen_test]
fn a_timeout_is_an_error_step() {
    let mut client = client(&[("timeoutMs", 1500.into())]);
    client.lookup(Date::now());
    client.first(Date::now());
    let step = client.unanswered(Date::now(), true, "aborted".into(), 0.5, false);
    let error = get(&step, "error");
    assert_eq!(get(&error, "code"), "timeout");
    assert!(text(&error, "message").contains("1500 ms"));
}

#[wasm_bindgen_test]
fn the_last_waiter_leaving_cancels_and_the_next_caller_starts_again() {
    let mut client = client(&[]);
    client.lookup(Date::now());
    client.first(Date::now());
    assert!(client.leave(), "nobody else waits");
    client.cancel(false);
    assert_eq!(client.lookup(Date::now()), START);
    assert_eq!(get(&client.abort_error(), "code"), "aborted");
}

#[wasm_bindgen_test]
fn bad_options_throw_a_config_error() {
    let error = CoreClient::new(object(&[("tokenUrl", "https://a.example/token".into())]))
        .err()
        .expect("clientId is missing");
    assert_eq!(get(&error, "code"), "config");
    assert!(text(&error, "message").contains("clientId"));
}
