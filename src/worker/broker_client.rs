//! An isolate's side of the token broker: when its own copy of a route's token is no longer
//! fresh, the isolate asks the credential's broker (one Durable Object for the whole
//! deployment) instead of the token endpoint. One question at a time per isolate, however many
//! requests wait; a broker that does not answer within `BROKER_TIMEOUT_MS` is passed over.

use std::cell::{Cell, RefCell};

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::broker::{
    credential_parts, parse_hand_out, stats_request_url, token_request_url, CredentialParts,
    HandOut,
};
use crate::config::Config;
use crate::js::Platform;

#[wasm_bindgen(module = "/src/worker/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = brokerName)]
    pub(super) fn broker_name(public_part: &str, secret_part: &str) -> Promise;
    #[wasm_bindgen(js_name = sha256Hex)]
    pub(super) fn sha256_hex(text: &str) -> Promise;
    #[wasm_bindgen(js_name = askBroker)]
    fn ask_broker(namespace: &JsValue, name: &str, url: &str, timeout_ms: f64) -> Promise;
}

/// A route's way to its broker.
pub struct BrokerClient {
    /// The `TOKEN_BROKER` Durable Object namespace.
    namespace: JsValue,
    /// What names the credential.
    parts: CredentialParts,
    /// The broker's name, once hashed.
    name: RefCell<Option<String>>,
    /// The question under way: its answer's text, or undefined.
    flight: RefCell<Option<Promise>>,
    /// Fallbacks since the last report to the broker.
    fallbacks: Cell<u64>,
    /// `BROKER_TIMEOUT_MS`.
    timeout_ms: u64,
}

impl BrokerClient {
    /// The client of `client`'s broker in `namespace`.
    pub fn new(namespace: JsValue, client: &Config, timeout_ms: u64) -> Self {
        Self {
            namespace,
            parts: credential_parts(client),
            name: RefCell::new(None),
            flight: RefCell::new(None),
            fallbacks: Cell::new(0),
            timeout_ms,
        }
    }

    /// The broker's hand-out; `None` when it did not answer in time, or not with one, and the
    /// isolate is to get the token itself (the question that fell through counts and logs
    /// it, once for all the requests that waited on it). `refused`: the token the origin has
    /// just refused: that question is the caller's own, and tells the broker.
    pub async fn ask(&self, route: &str, refused: Option<&str>) -> Option<HandOut> {
        let name = self.name().await?;
        let refused_hash = match refused {
            Some(token) => Some(JsFuture::from(sha256_hex(token)).await.ok()?.as_string()?),
            None => None,
        };
        // Checked and set with no wait in between: one question at a time.
        let current = self
            .flight
            .borrow()
            .clone()
            .filter(|_| refused_hash.is_none());
        let promise = current.unwrap_or_else(|| {
            let url = token_request_url(self.fallbacks.replace(0), refused_hash.as_deref());
            let promise = ask_broker(&self.namespace, &name, &url, self.timeout_ms as f64);
            self.flight.replace(Some(promise.clone()));
            promise
        });
        let text = JsFuture::from(promise.clone()).await.ok();
        let answer = text
            .and_then(|text| text.as_string())
            .and_then(|text| parse_hand_out(&text, &Platform))
            .map(|(hand_out, _)| hand_out);
        let ended = self
            .flight
            .borrow()
            .as_ref()
            .is_some_and(|f| Object::is(f, &promise));
        if ended {
            self.flight.replace(None);
            if answer.is_none() {
                self.fell_back(route);
            }
        }
        answer
    }

    /// The broker's name: hashed once.
    async fn name(&self) -> Option<String> {
        if let Some(name) = self.name.borrow().clone() {
            return Some(name);
        }
        let hashed = broker_name(&self.parts.public, &self.parts.secret);
        let name = JsFuture::from(hashed).await.ok()?.as_string()?;
        self.name.replace(Some(name.clone()));
        Some(name)
    }

    /// The broker's stats (JSON), or `None` when it did not answer in time.
    pub async fn stats(&self) -> Option<String> {
        let name = self.name().await?;
        let asked = ask_broker(
            &self.namespace,
            &name,
            &stats_request_url(),
            self.timeout_ms as f64,
        );
        JsFuture::from(asked).await.ok()?.as_string()
    }

    /// The broker did not answer: the isolate gets the token itself, counted (and reported
    /// with the next question) and logged.
    fn fell_back(&self, route: &str) {
        self.fallbacks.set(self.fallbacks.get() + 1);
        let line = format!(
            "{{\"edgeOauth\":\"broker_fallback\",\"route\":\"{route}\",\"timeoutMs\":{}}}",
            self.timeout_ms
        );
        web_sys::console::warn_1(&line.into());
    }
}
