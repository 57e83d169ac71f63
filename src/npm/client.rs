//! `CoreClient`: the [`Driver`] as the JS `TokenClient` in `pkg-template/client.js` sees it.
//! The wrapper does the I/O — `fetch`, timers, abort signals, the one promise every waiter
//! shares — and keeps cache hits on its side of the boundary; it calls in here to decide,
//! build and parse. Every call is synchronous and answers with a plain object.

use alloc::{string::String, vec::Vec};
use js_sys::Object;
use wasm_bindgen::prelude::*;

use crate::cache::{Outcome, Refusal};
use crate::driver::{Decision, DeviceStep, Driver, Step};
use crate::error::TokenError;
use crate::request::HttpRequest;
use crate::response::HttpResponse;

use super::options::FlatOptions;
use super::values::{error_fields, object, optional, token_info};
use crate::config::ConfigInput;
use crate::js::Platform;

/// The token client's core, wrapped by the JS `TokenClient`.
#[wasm_bindgen]
pub struct CoreClient {
    driver: Driver,
    /// The first step of the renewal the last lookup started, until [`first`](Self::first).
    first: Option<Object>,
}

#[wasm_bindgen]
impl CoreClient {
    /// Validates the flat options that `options.js` made; throws `{ code: 'config',
    /// message, ... }` when they are wrong.
    #[wasm_bindgen(constructor)]
    pub fn new(flat: JsValue) -> Result<CoreClient, JsValue> {
        let config = ConfigInput::read_from(&FlatOptions(&flat))
            .and_then(|input| input.validate(&Platform))
            .map_err(|e| error_fields(&e, None))?;
        Ok(CoreClient {
            driver: Driver::new(config),
            first: None,
        })
    }

    /// What a caller asking at `now` gets, as bits: 1 — hand out the cached token at once
    /// ([`info`](Self::info)), else wait for the renewal; 2 — a renewal started, its first
    /// step is [`first`](Self::first); 4 — fail at once: the client is cooling down after a
    /// failure, or only a user can get a token ([`failure`](Self::failure)). A number, so
    /// that a waiting caller costs no JS object.
    pub fn lookup(&mut self, now: f64) -> u8 {
        let (bits, first) = match self.driver.lookup(now as u64) {
            Decision::Serve { refresh, .. } => (1 | u8::from(refresh.is_some()) << 1, refresh),
            Decision::Wait { first } => (u8::from(first.is_some()) << 1, first),
            Decision::CoolingDown { .. } | Decision::Refused { .. } => (4, None),
        };
        let first = first.map(send_step);
        // Kept until `first()` takes it: a caller that joins does not clear it.
        if first.is_some() {
            self.first = first;
        }
        bits
    }

    /// The first step of the renewal the last lookup started: `{ send }` (at `now`, what the
    /// renewal under way sends, should there be no such step).
    pub fn first(&mut self, now: f64) -> Object {
        match self.first.take() {
            Some(first) => first,
            None => self.resume(now, false),
        }
    }

    /// The error a caller gets at `now` when the lookup said to fail at once: the cooldown's
    /// (with the seconds left), or `authorization_required`.
    pub fn failure(&self, now: f64) -> JsValue {
        let (error, retry_after_ms) = self.driver.failure(now as u64);
        error_fields(error, retry_after_ms)
    }

    /// `{ accessToken, tokenType, expiresAt, scope?, freshUntil }` of the cached token, if any.
    pub fn info(&self) -> JsValue {
        let cache = self.driver.cache();
        match cache.token() {
            Some(token) => token_info(token, cache.fresh_until(token)),
            None => JsValue::UNDEFINED,
        }
    }

    /// The response to the last `send` step of the renewal, or of the device flow when
    /// `device`; the next step of that sequence. `retry_after_ms`: the wait its
    /// `Retry-After` asked for (`retryAfterMs` in `renewal.js`). `body` is undefined when it
    /// was left unread because its `Content-Length` was over the limit.
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &mut self,
        now: f64,
        status: u16,
        content_type: &str,
        retry_after_ms: Option<f64>,
        body: Option<String>,
        random: f64,
        device: bool,
    ) -> Object {
        let response = HttpResponse {
            status,
            content_type,
            // NaN and negatives saturate to 0, too-large values to u64::MAX.
            retry_after_ms: retry_after_ms.map(|ms| ms as u64),
            body: body.as_deref(),
        };
        let now = now as u64;
        if device {
            return device_step(
                self.driver
                    .device_response(now, &response, &Platform, random),
            );
        }
        step(self.driver.on_response(now, &response, &Platform, random))
    }

    /// The last `send` step (of the device flow when `device`) got no response: it timed
    /// out, or failed with `message` (which names hosts and system errors, never request
    /// contents); the next step.
    pub fn unanswered(
        &mut self,
        now: f64,
        timed_out: bool,
        message: String,
        random: f64,
        device: bool,
    ) -> Object {
        let error = if timed_out {
            TokenError::Timeout {
                timeout_ms: self.driver.config().timeout_ms,
            }
        } else {
            TokenError::Network(message)
        };
        let now = now as u64;
        if device {
            return device_step(self.driver.device_unanswered(now, error));
        }
        step(self.driver.on_unanswered(now, error, random))
    }

    /// The `sleep` step (or the device flow's `authorized` step, when `device`) is over; the
    /// next step.
    pub fn resume(&mut self, now: f64, device: bool) -> Object {
        if device {
            return device_step(self.driver.device_next(now as u64));
        }
        step(self.driver.resume(now as u64))
    }

    /// A waiter's signal aborted. True when nobody else waits: then the wrapper stops the
    /// renewal's request and calls [`cancel`](Self::cancel).
    pub fn leave(&mut self) -> bool {
        self.driver.leave()
    }

    /// Drops the renewal under way (see `Driver::cancel`), or the device flow when `device`.
    pub fn cancel(&mut self, device: bool) {
        if device {
            return self.driver.device_cancel();
        }
        self.first = None;
        self.driver.cancel();
    }

    /// Starts a device authorization at `now` for `scope` (else the configured one); the
    /// first device step: `{ send }`. The device flow's steps then go through `answer`,
    /// `unanswered`, `resume` and `cancel` with `device` set.
    #[wasm_bindgen(js_name = deviceStart)]
    pub fn device_start(&mut self, now: f64, scope: Option<String>) -> Object {
        device_step(self.driver.device_start(now as u64, scope.as_deref()))
    }

    /// The error code of the attempt the last `sleep` step waits to repeat (for events).
    #[wasm_bindgen(getter, js_name = sleepCause)]
    pub fn sleep_cause(&self) -> JsValue {
        optional(self.driver.sleep_cause())
    }

    /// The error an aborted wait rejects with.
    #[wasm_bindgen(js_name = abortError)]
    pub fn abort_error(&self) -> JsValue {
        error_fields(&TokenError::Aborted, None)
    }

    /// Drops the cached token.
    pub fn invalidate(&mut self) {
        self.driver.invalidate();
    }

    /// An API refused `access_token` at `now`: true — get a token again and retry once;
    /// false — hand the refusal to the caller (see `TokenCache::token_refused`).
    pub fn refused(&mut self, now: f64, access_token: &str, random: f64) -> bool {
        self.driver.token_refused(now as u64, access_token, random) == Refusal::Renew
    }

    /// An API accepted `access_token` (called only while `awaitsAcceptance` says so).
    pub fn accepted(&mut self, access_token: &str) {
        self.driver.token_accepted(access_token);
    }

    /// Whether the current token replaced a refused one and waits for an API to accept it.
    #[wasm_bindgen(js_name = awaitsAcceptance)]
    pub fn awaits_acceptance(&self) -> bool {
        self.driver.cache().awaits_acceptance()
    }

    /// The token endpoint, once known (configured, or discovered).
    #[wasm_bindgen(getter, js_name = tokenEndpoint)]
    pub fn token_endpoint(&self) -> JsValue {
        optional(self.driver.token_endpoint())
    }

    /// `{ tokenRequests, cacheHits, refreshes, failures }` as counted by the core.
    pub fn stats(&self) -> Object {
        let stats = self.driver.cache().stats();
        object(&[
            ("tokenRequests", (stats.token_requests as f64).into()),
            ("cacheHits", (stats.cache_hits as f64).into()),
            ("refreshes", (stats.refreshes as f64).into()),
            ("failures", (stats.failures as f64).into()),
        ])
    }

    /// The header that carries the token.
    #[wasm_bindgen(getter, js_name = headerName)]
    pub fn header_name(&self) -> JsValue {
        self.driver.config().header_name.as_str().into()
    }

    /// The longest a caller waits for a renewal (`maxWaitMs`).
    #[wasm_bindgen(getter, js_name = maxWaitMs)]
    pub fn max_wait_ms(&self) -> f64 {
        self.driver.config().max_wait_ms as f64
    }

    /// How long the request just sent may take (see `Driver::attempt_timeout_ms`).
    #[wasm_bindgen(js_name = attemptTimeoutMs)]
    pub fn attempt_timeout_ms(&self, now: f64) -> f64 {
        self.driver.attempt_timeout_ms(now as u64) as f64
    }
}

/// `{ send: { url, method, headers, body } }`, `{ sleep: ms }`, `{ info }` or `{ error }`.
/// A device step: `{ send }`, `{ sleep }`, `{ authorized: { userCode, verificationUri,
/// verificationUriComplete?, expiresAt, interval } }` (interval in seconds), `{ info }` or
/// `{ error }`. The device code stays in here.
fn device_step(step: DeviceStep<'_>) -> Object {
    match step {
        DeviceStep::Send(request) => send_step(&request),
        DeviceStep::Sleep(ms) => self::step(Step::Sleep(ms)),
        DeviceStep::Authorized(authorization) => {
            let fields = object(&[
                ("userCode", authorization.user_code.as_str().into()),
                (
                    "verificationUri",
                    authorization.verification_uri.as_str().into(),
                ),
                (
                    "verificationUriComplete",
                    optional(authorization.verification_uri_complete.as_deref()),
                ),
                ("expiresAt", (authorization.expires_at_ms as f64).into()),
                (
                    "interval",
                    ((authorization.interval_ms / 1000) as f64).into(),
                ),
            ]);
            object(&[("authorized", fields.into())])
        }
        DeviceStep::Done(outcome) => self::step(Step::Done(outcome)),
    }
}

/// `{ send: { url, method, headers, body } }`.
fn send_step(request: &HttpRequest) -> Object {
    let headers: Vec<(&str, JsValue)> = request
        .headers
        .iter()
        .map(|(name, value)| (*name, value.as_str().into()))
        .collect();
    let init = object(&[
        ("url", request.url.as_str().into()),
        ("method", request.method.into()),
        ("headers", object(&headers).into()),
        ("body", optional(request.body.as_deref())),
    ]);
    object(&[("send", init.into())])
}

fn step(step: Step<'_>) -> Object {
    match step {
        Step::Send(request) => send_step(&request),
        Step::Sleep(ms) => object(&[("sleep", (ms as f64).into())]),
        Step::Done(Outcome::Fresh { token, fresh_until }) => {
            object(&[("info", token_info(token, fresh_until))])
        }
        // A refresh failed and the token it was to replace still serves.
        Step::Done(Outcome::Stale { token, fresh_until }) => object(&[
            ("info", token_info(token, fresh_until)),
            ("stale", true.into()),
        ]),
        Step::Done(Outcome::Failed {
            error,
            retry_after_ms,
        }) => object(&[("error", error_fields(&error, Some(retry_after_ms)))]),
    }
}
