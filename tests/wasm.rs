//! The real fetch adapter, in Node and in headless Chromium, against the oidc-provider
//! server that `.ci/test` starts before `cargo test` (its issuer is passed in at compile time
//! as EDGE_OAUTH_TEST_ISSUER). Run once plain (Node) and once with WASM_BINDGEN_USE_BROWSER=1.
#![cfg(target_arch = "wasm32")]

use edge_oauth::wasm::CoreClient;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

fn issuer() -> &'static str {
    match option_env!("EDGE_OAUTH_TEST_ISSUER") {
        Some(issuer) => issuer,
        None => panic!(
            "build with EDGE_OAUTH_TEST_ISSUER set to a running tests/support/auth-server.mjs"
        ),
    }
}

fn options(fields: &[(&str, JsValue)]) -> JsValue {
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
    CoreClient::new(options(&fields), identity())
        .unwrap_or_else(|e| panic!("config refused: {e:?}"))
}

/// The error factory: hands back the fields object, so tests read `code` off it.
fn identity() -> Function {
    Function::new_with_args("fields", "return fields")
}

fn get(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).unwrap()
}

async fn settle(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

fn stat(client: &CoreClient, name: &str) -> f64 {
    get(&client.stats(), name).as_f64().unwrap()
}

#[wasm_bindgen_test]
async fn basic_auth_token_then_cache_hit() {
    let client = client(&[("scope", "api:read".into())]);
    let info = settle(client.get(false, None)).await.expect("a token");
    let token = get(&info, "accessToken").as_string().unwrap();
    assert_eq!(
        token.split('.').count(),
        3,
        "oidc-provider issues JWT access tokens"
    );
    assert_eq!(get(&info, "tokenType"), "Bearer");
    assert_eq!(get(&info, "scope"), "api:read");
    assert!(get(&info, "expiresAt").as_f64().unwrap() > js_sys::Date::now());

    let again = settle(client.get(false, None)).await.unwrap();
    assert_eq!(get(&again, "accessToken").as_string().unwrap(), token);
    assert_eq!(stat(&client, "tokenRequests"), 1.0);
    assert_eq!(stat(&client, "cacheHits"), 1.0);
}

#[wasm_bindgen_test]
async fn post_auth_through_discovery() {
    let client = client(&[
        ("tokenUrl", JsValue::UNDEFINED),
        ("issuer", issuer().into()),
        ("clientId", "post-client".into()),
        ("clientSecret", "post-secret-Xk27".into()),
        ("authMethod", "client_secret_post".into()),
    ]);
    let info = settle(client.get(false, None))
        .await
        .expect("a token via discovery");
    assert!(get(&info, "accessToken").as_string().unwrap().len() > 20);
}

#[wasm_bindgen_test]
async fn concurrent_cold_calls_share_one_request() {
    let client = client(&[]);
    let calls: Vec<Promise> = (0..50).map(|_| client.get(false, None)).collect();
    let all = settle(Promise::all(&calls.iter().collect::<js_sys::Array>()))
        .await
        .unwrap();
    let first = get(&js_sys::Array::from(&all).get(0), "accessToken");
    assert!(js_sys::Array::from(&all)
        .iter()
        .all(|info| get(&info, "accessToken") == first));
    assert_eq!(stat(&client, "tokenRequests"), 1.0);
}

#[wasm_bindgen_test]
async fn wrong_secret_is_invalid_client_without_the_secret() {
    let client = client(&[("clientSecret", "WASM-WRONG-SECRET-77".into())]);
    let error = settle(client.get(false, None)).await.expect_err("refused");
    assert_eq!(get(&error, "code"), "invalid_client");
    assert_eq!(get(&error, "status"), 401);
    assert_eq!(get(&error, "retryable"), false);
    let message = get(&error, "message").as_string().unwrap();
    assert!(!message.contains("WASM-WRONG-SECRET-77"), "{message}");
}

#[wasm_bindgen_test]
async fn closed_port_is_a_network_error() {
    let client = client(&[("tokenUrl", "http://127.0.0.1:9/token".into())]);
    let error = settle(client.get(false, None))
        .await
        .expect_err("nothing listens there");
    assert_eq!(get(&error, "code"), "network");
    assert_eq!(get(&error, "retryable"), true);
}

#[wasm_bindgen_test]
async fn an_aborted_signal_ends_the_wait() {
    let client = client(&[]);
    let controller = web_sys::AbortController::new().unwrap();
    let pending = client.get(false, Some(controller.signal()));
    controller.abort();
    let error = settle(pending).await.expect_err("aborted");
    assert_eq!(get(&error, "code"), "aborted");
    // The next caller is not poisoned by the cancelled request.
    assert!(settle(client.get(false, None)).await.is_ok());
}

#[wasm_bindgen_test]
fn bad_options_throw_a_config_error() {
    let error = CoreClient::new(
        options(&[("tokenUrl", "https://a.example/token".into())]),
        identity(),
    )
    .err()
    .expect("clientId is missing");
    assert_eq!(get(&error, "code"), "config");
    assert!(get(&error, "message")
        .as_string()
        .unwrap()
        .contains("clientId"));
}
