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
    /// Fallbacks since the last report to the broker, and those the question under way reports.
    fallbacks: Cell<u64>,
    reporting: Cell<u64>,
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
            reporting: Cell::new(0),
            timeout_ms,
        }
    }

    /// The broker's hand-out; `None` when it did not answer in time, or not with one.
    pub async fn ask(&self) -> Option<HandOut> {
        let name = self.name().await?;
        // Checked and set with no wait in between: one question at a time.
        let current = self.flight.borrow().clone();
        let promise = current.unwrap_or_else(|| {
            let fallbacks = self.fallbacks.replace(0);
            self.reporting.set(fallbacks);
            let url = token_request_url(fallbacks);
            let promise = ask_broker(&self.namespace, &name, &url, self.timeout_ms as f64);
            self.flight.replace(Some(promise.clone()));
            promise
        });
        let text = JsFuture::from(promise.clone()).await.ok();
        if self
            .flight
            .borrow()
            .as_ref()
            .is_some_and(|f| Object::is(f, &promise))
        {
            self.flight.replace(None);
            let reported = self.reporting.replace(0);
            if !matches!(&text, Some(t) if t.is_string()) {
                // The report did not arrive: it goes with the next question.
                self.fallbacks.set(self.fallbacks.get() + reported);
            }
        }
        let text = text?.as_string()?;
        parse_hand_out(&text, &Platform).map(|(hand_out, _)| hand_out)
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

    /// The broker did not answer: the isolate gets the token itself, counted and logged.
    pub fn fell_back(&self, route: &str, timeout_ms: u64) {
        self.fallbacks.set(self.fallbacks.get() + 1);
        let line = format!(
            "{{\"edgeOauth\":\"broker_fallback\",\"route\":\"{route}\",\"timeoutMs\":{timeout_ms}}}"
        );
        web_sys::console::warn_1(&line.into());
    }
}
