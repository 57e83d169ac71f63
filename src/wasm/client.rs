//! `CoreClient`: the JS-facing face of the [`Engine`], wrapped by the JS `TokenClient` in
//! `pkg-template/client.js`, which keeps the cache-hit path on its side of the boundary
//! using the `freshUntil` this returns.

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

use crate::error::TokenError;

use super::engine::{object, Engine};
use super::http::Fetcher;
use super::options::read_options;

/// The token client's engine, wrapped by the JS `TokenClient`.
#[wasm_bindgen]
pub struct CoreClient {
    engine: Engine,
}

#[wasm_bindgen]
impl CoreClient {
    /// Validates `options`; throws a `TokenError` with code `config` when they are wrong.
    /// `make_error` builds the JS `TokenError` from `{ code, message, status, description,
    /// uri, retryable }`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, make_error: Function) -> Result<CoreClient, JsValue> {
        let make_error: Box<dyn Fn(&TokenError) -> JsValue> =
            Box::new(move |e| js_error(&make_error, e));
        let built = read_options(&options)
            .and_then(|(input, fetch)| Ok((input.validate()?, Fetcher::new(fetch)?)));
        let (config, fetcher) = built.map_err(|e| make_error(&e))?;
        Ok(CoreClient {
            engine: Engine::new(config, fetcher, make_error),
        })
    }

    /// A promise of `{ accessToken, tokenType, expiresAt, scope?, freshUntil }`.
    pub fn get(&self, force_refresh: bool, signal: Option<AbortSignal>) -> Promise {
        self.engine.get(force_refresh, signal).promise
    }

    /// Drops the cached token.
    pub fn invalidate(&self) {
        self.engine.invalidate();
    }

    /// Drops the cached token if it is still `access_token`; true when it was.
    #[wasm_bindgen(js_name = invalidateToken)]
    pub fn invalidate_token(&self, access_token: &str) -> bool {
        self.engine.invalidate_token(access_token)
    }

    /// `{ tokenRequests, cacheHits, refreshes, failures }` as counted by the core.
    pub fn stats(&self) -> Object {
        let stats = self.engine.stats();
        object(&[
            ("tokenRequests", (stats.token_requests as f64).into()),
            ("cacheHits", (stats.cache_hits as f64).into()),
            ("refreshes", (stats.refreshes as f64).into()),
            ("failures", (stats.failures as f64).into()),
        ])
    }

    /// The header that carries the token.
    #[wasm_bindgen(getter, js_name = headerName)]
    pub fn header_name(&self) -> String {
        self.engine.config().header_name.clone()
    }
}

fn js_error(make_error: &Function, error: &TokenError) -> JsValue {
    let optional = |v: Option<&str>| v.map_or(JsValue::UNDEFINED, JsValue::from_str);
    let fields = object(&[
        ("code", error.code().into()),
        ("message", error.to_string().into()),
        (
            "status",
            error
                .status()
                .map_or(JsValue::UNDEFINED, |s| f64::from(s).into()),
        ),
        ("description", optional(error.description())),
        ("uri", optional(error.uri())),
        ("retryable", error.retryable().into()),
    ]);
    make_error
        .call1(&JsValue::UNDEFINED, &fields)
        .unwrap_or_else(|e| e)
}
