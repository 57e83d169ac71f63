//! The Worker's fetch: sends one [`HttpRequest`] with the platform's `fetch`, under a
//! per-attempt timeout, and reads the response text.

use std::cell::Cell;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use js_sys::{Date, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, RequestInit, RequestRedirect, Response};

use crate::error::TokenError;
use crate::request::HttpRequest;
use crate::response::{HttpResponse, MAX_BODY_BYTES};

#[wasm_bindgen(module = "/src/worker/platform.js")]
extern "C" {
    /// The body's text read to at most `limit` bytes, or `undefined` past it.
    #[wasm_bindgen(js_name = readCapped)]
    fn read_capped(response: &Response, limit: f64) -> Promise;
}

/// A response as read off the wire.
pub struct RawResponse {
    status: u16,
    content_type: String,
    retry_after_ms: Option<u64>,
    /// `None` when left unread for its announced size.
    body: Option<String>,
}

impl RawResponse {
    /// The view the core's parsers take.
    pub fn view(&self) -> HttpResponse<'_> {
        HttpResponse {
            status: self.status,
            content_type: &self.content_type,
            retry_after_ms: self.retry_after_ms,
            body: self.body.as_deref(),
        }
    }
}

/// The global `fetch`, and the global object to call it on.
pub struct Fetcher {
    function: Function,
    this: JsValue,
}

impl Fetcher {
    /// The runtime's global `fetch`.
    pub fn global() -> Result<Self, TokenError> {
        let global = js_sys::global();
        let function = Reflect::get(&global, &"fetch".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| TokenError::config("fetch", "this runtime has no global fetch"))?;
        Ok(Self {
            function,
            this: global.into(),
        })
    }

    /// Calls `fetch(input, init)` and returns what it returned (normally a promise).
    pub fn call(&self, input: &JsValue, init: &JsValue) -> Result<JsValue, JsValue> {
        self.function.call2(&self.this, input, init)
    }

    /// Sends `request`; gives up after `timeout_ms`.
    pub async fn send(
        &self,
        request: &HttpRequest,
        timeout_ms: u64,
    ) -> Result<RawResponse, TokenError> {
        let controller =
            AbortController::new().map_err(|_| network("AbortController is unavailable"))?;
        let timed_out = Rc::new(Cell::new(false));
        let _timer = Timeout::new(u32::try_from(timeout_ms).unwrap_or(u32::MAX), {
            let (controller, timed_out) = (controller.clone(), timed_out.clone());
            move || {
                timed_out.set(true);
                controller.abort();
            }
        });
        self.exchange(request, &controller).await.map_err(|error| {
            if timed_out.get() {
                TokenError::Timeout { timeout_ms }
            } else {
                error
            }
        })
    }

    async fn exchange(
        &self,
        request: &HttpRequest,
        controller: &AbortController,
    ) -> Result<RawResponse, TokenError> {
        let headers = Headers::new().map_err(|_| network("Headers is unavailable"))?;
        for (name, value) in &request.headers {
            headers.append(name, value).map_err(|_| {
                TokenError::config("clientId", format!("the {name} header value is not valid"))
            })?;
        }
        let init = RequestInit::new();
        init.set_method(request.method);
        init.set_headers(&headers);
        if let Some(body) = &request.body {
            init.set_body(&JsValue::from_str(body));
        }
        init.set_signal(Some(&controller.signal()));
        // A redirect is not followed: a redirected POST would carry the credentials to
        // wherever it points, a redirected discovery would trust another origin (the core
        // refuses the 3xx). workerd knows only "follow" and "manual".
        init.set_redirect(RequestRedirect::Manual);

        let pending = self
            .call(&JsValue::from_str(&request.url), &init)
            .map_err(|e| network_from(&e))?;
        let response: Response = JsFuture::from(Promise::resolve(&pending))
            .await
            .map_err(|e| network_from(&e))?
            .unchecked_into();

        let status = response.status();
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let body = JsFuture::from(read_capped(&response, MAX_BODY_BYTES as f64))
            .await
            .map_err(|e| network_from(&e))?
            .as_string();
        Ok(RawResponse {
            status,
            content_type: header("content-type").unwrap_or_default(),
            retry_after_ms: header("retry-after").and_then(|v| retry_after_ms(&v, Date::now())),
            body,
        })
    }
}

/// `Retry-After` as the wait it asks for, in ms: delay-seconds, or an HTTP-date (any form
/// RFC 9110 allows, read by `Date.parse`; a past one means now) less `now`. Anything else,
/// such as a bare number `Date.parse` would take for a date, is ignored. HTTP-dates are GMT,
/// which the asctime form does not say. As `retryAfterMs` in `pkg-template/renewal.js`.
fn retry_after_ms(value: &str, now: f64) -> Option<u64> {
    let text = value.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            text.parse::<u64>()
                .map_or(u64::MAX, |s| s.saturating_mul(1000)),
        );
    }
    let day_name = text
        .get(..3)
        .is_some_and(|d| d.bytes().all(|b| b.is_ascii_alphabetic()));
    let at = match (day_name, text.ends_with("GMT")) {
        (true, true) => Date::parse(text),
        (true, false) => Date::parse(&[text, " GMT"].concat()),
        (false, _) => f64::NAN,
    };
    // NaN stays None; a past date saturates to 0.
    (!at.is_nan()).then_some((at - now) as u64)
}

fn network(message: &str) -> TokenError {
    TokenError::Network(message.to_owned())
}

/// A network error's message, with the `cause` Node puts the real reason in. These messages
/// name hosts and system errors, never request contents.
pub fn network_from(error: &JsValue) -> TokenError {
    let text = |value: &JsValue, key: &str| {
        Reflect::get(value, &key.into())
            .ok()
            .and_then(|v| v.as_string())
    };
    let mut message = text(error, "message").unwrap_or_else(|| "fetch failed".into());
    if let Ok(cause) = Reflect::get(error, &"cause".into()) {
        if let Some(reason) = text(&cause, "message").or_else(|| text(&cause, "code")) {
            message = format!("{message} ({reason})");
        }
    }
    TokenError::Network(message)
}
