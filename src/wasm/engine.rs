//! The engine behind `TokenClient` and the Worker: it asks the core cache what to do, runs
//! the single request in flight (discovery, refresh-then-original grant, retries, parsing)
//! with the platform's I/O, and hands each caller its token or error as JS values.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Date, Math, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::AbortSignal;

use crate::cache::{Lookup, Outcome, Stats, TokenCache};
use crate::config::{AuthMethod, Config, Endpoint};
use crate::error::TokenError;
use crate::request::{discovery_request, discovery_urls, token_request, Grant, HttpRequest};
use crate::response::{parse_metadata, parse_token_response, HttpResponse, Token};
use crate::retry::retry_delay;

use super::http::{CancelSwitch, Fetcher};
use super::json::PlatformJson;

fn now_ms() -> u64 {
    Date::now() as u64
}

/// Turns an error into the JS value callers are rejected with (built once per failure, so
/// every waiter gets the same object).
pub type ErrorFactory = Box<dyn Fn(&TokenError) -> JsValue>;

/// The request in flight, shared by every caller that waits for it.
struct Flight {
    id: u64,
    promise: Promise,
    cancel: Rc<CancelSwitch>,
}

struct State {
    cache: TokenCache,
    /// The token endpoint and auth method, once known (discovery runs at most once).
    endpoint: Option<(String, AuthMethod)>,
    flight: Option<Flight>,
    next_flight_id: u64,
}

struct Inner {
    config: Config,
    fetcher: Fetcher,
    make_error: ErrorFactory,
    state: RefCell<State>,
}

impl Inner {
    fn error(&self, error: &TokenError) -> JsValue {
        (self.make_error)(error)
    }
}

/// What [`Engine::get`] hands a caller.
pub struct Answer {
    /// Settles with `{ accessToken, tokenType, expiresAt, scope?, freshUntil }` or the error.
    pub promise: Promise,
    /// Served from memory, without waiting for a request.
    #[cfg_attr(not(feature = "worker"), allow(dead_code))]
    pub from_cache: bool,
}

/// One client's token cache and the request in flight.
#[derive(Clone)]
pub struct Engine {
    inner: Rc<Inner>,
}

impl Engine {
    /// An engine for a validated configuration.
    pub fn new(config: Config, fetcher: Fetcher, make_error: ErrorFactory) -> Self {
        let endpoint = match &config.endpoint {
            Endpoint::TokenUrl(url) => Some((
                url.clone(),
                config.auth_method.unwrap_or(AuthMethod::ClientSecretBasic),
            )),
            Endpoint::Issuer(_) => None,
        };
        let state = State {
            cache: TokenCache::new(config.timing),
            endpoint,
            flight: None,
            next_flight_id: 0,
        };
        Engine {
            inner: Rc::new(Inner {
                config,
                fetcher,
                make_error,
                state: RefCell::new(state),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A token: from memory when fresh (starting one background refresh near expiry), else
    /// by waiting for the one request in flight. `signal` ends only this caller's wait.
    pub fn get(&self, force_refresh: bool, signal: Option<AbortSignal>) -> Answer {
        let inner = &self.inner;
        if signal.as_ref().is_some_and(AbortSignal::aborted) {
            let promise = Promise::reject(&inner.error(&TokenError::Aborted));
            return Answer {
                promise,
                from_cache: false,
            };
        }
        let mut state = inner.state.borrow_mut();
        if force_refresh {
            state.cache.invalidate();
        }
        match state.cache.lookup(now_ms()) {
            Lookup::Serve {
                token,
                fresh_until,
                start_refresh,
            } => {
                let info = token_info(token, fresh_until);
                if start_refresh {
                    start_flight(inner, &mut state, true);
                }
                let promise = Promise::resolve(&JsValue::from(info));
                Answer {
                    promise,
                    from_cache: true,
                }
            }
            Lookup::Wait { start } => {
                if start {
                    start_flight(inner, &mut state, false);
                }
                let flight = state
                    .flight
                    .as_ref()
                    .expect("a flight runs while callers wait");
                let promise = match signal {
                    None => flight.promise.clone(),
                    Some(signal) => {
                        wait_or_abort(inner.clone(), flight.id, flight.promise.clone(), signal)
                    }
                };
                Answer {
                    promise,
                    from_cache: false,
                }
            }
        }
    }

    /// `(access token, header value)` when the cached token is fresh: the Worker's hot path,
    /// with no promise and no JS object.
    #[cfg_attr(not(feature = "worker"), allow(dead_code))]
    pub fn fresh_bearer(&self) -> Option<(String, String)> {
        let mut state = self.inner.state.borrow_mut();
        let token = state.cache.fresh(now_ms())?;
        Some((token.access_token.expose().to_owned(), token.header_value()))
    }

    /// Drops the cached token.
    pub fn invalidate(&self) {
        self.inner.state.borrow_mut().cache.invalidate();
    }

    /// Drops the cached token if it is still `access_token`; true when it was.
    pub fn invalidate_token(&self, access_token: &str) -> bool {
        self.inner
            .state
            .borrow_mut()
            .cache
            .invalidate_token(access_token)
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.inner.state.borrow().cache.stats()
    }
}

/// A plain JS object with these fields.
pub fn object(fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object
}

fn token_info(token: &Token, fresh_until: u64) -> Object {
    object(&[
        ("accessToken", token.access_token.expose().into()),
        ("tokenType", token.token_type.as_str().into()),
        ("expiresAt", (token.expires_at_ms as f64).into()),
        (
            "scope",
            token
                .scope
                .as_deref()
                .map_or(JsValue::UNDEFINED, JsValue::from_str),
        ),
        ("freshUntil", (fresh_until as f64).into()),
    ])
}

/// Starts the one request in flight; its promise settles with the token info or the error
/// every waiter gets.
/// A `background` refresh starts on the next task, so the caller that triggered it gets its
/// cached token before any of the request's work runs.
fn start_flight(inner: &Rc<Inner>, state: &mut State, background: bool) {
    let id = state.next_flight_id;
    state.next_flight_id += 1;
    let cancel = Rc::new(CancelSwitch::default());
    let promise = future_to_promise({
        let (inner, cancel) = (inner.clone(), cancel.clone());
        async move {
            if background {
                gloo_timers::future::TimeoutFuture::new(0).await;
            }
            let result = renew(&inner, &cancel).await;
            if cancel.is_cancelled() {
                // Every waiter left; the cache already forgot this flight.
                return Err(inner.error(&TokenError::Aborted));
            }
            let mut state = inner.state.borrow_mut();
            state.flight = None;
            match state.cache.complete(now_ms(), result) {
                Outcome::Fresh { token, fresh_until } | Outcome::Stale { token, fresh_until } => {
                    Ok(token_info(token, fresh_until).into())
                }
                Outcome::Failed(error) => Err(inner.error(&error)),
            }
        }
    });
    // A background refresh may have no waiter: awaiting it here keeps its rejection from
    // being reported as unhandled.
    wasm_bindgen_futures::spawn_local({
        let promise = promise.clone();
        async move {
            let _ = JsFuture::from(promise).await;
        }
    });
    state.flight = Some(Flight {
        id,
        promise,
        cancel,
    });
}

/// Waits for the flight unless `signal` aborts first; the last waiter to leave cancels it.
fn wait_or_abort(
    inner: Rc<Inner>,
    flight_id: u64,
    flight: Promise,
    signal: AbortSignal,
) -> Promise {
    // The listener goes on now, not when the future first runs: an abort in the same tick
    // as the call must not be missed.
    let mut listener = None;
    let aborted = Promise::new(&mut |_resolve, reject| {
        let on_abort = Closure::<dyn FnMut()>::new(move || {
            let _ = reject.call0(&JsValue::UNDEFINED);
        });
        let _ = signal.add_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
        listener = Some(on_abort);
    });
    future_to_promise(async move {
        let result = JsFuture::from(Promise::race(&Array::of2(&flight, &aborted))).await;
        if let Some(on_abort) = listener {
            let _ = signal
                .remove_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
        }
        if !signal.aborted() {
            return result;
        }
        let mut state = inner.state.borrow_mut();
        let current = state
            .flight
            .as_ref()
            .filter(|f| f.id == flight_id)
            .map(|f| f.cancel.clone());
        if let Some(cancel) = current {
            if state.cache.leave() {
                cancel.cancel();
                state.cache.cancel_flight();
                state.flight = None;
            }
        }
        Err(inner.error(&TokenError::Aborted))
    })
}

/// Gets a new token: discovery first if the endpoint is not known yet, then the refresh token
/// if there is one, falling back once to the original grant when it is spent.
async fn renew(inner: &Inner, cancel: &CancelSwitch) -> Result<Token, TokenError> {
    let (token_url, auth) = endpoint(inner, cancel).await?;
    let refresh_token = inner.state.borrow_mut().cache.take_refresh_token();
    if let Some(refresh_token) = refresh_token {
        let grant = Grant::RefreshToken(&refresh_token);
        // A refresh that may have reached the server is never sent again: no retry after a
        // timeout or a network error.
        match token_exchange(inner, cancel, &token_url, auth, grant, false).await {
            Ok(mut token) => {
                token.refresh_token.get_or_insert(refresh_token);
                return Ok(token);
            }
            Err(error) => {
                let mut state = inner.state.borrow_mut();
                if !state.cache.refresh_failed(&error, refresh_token) {
                    return Err(error);
                }
            }
        }
    }
    let grant = Grant::original(&inner.config);
    token_exchange(inner, cancel, &token_url, auth, grant, true).await
}

async fn token_exchange(
    inner: &Inner,
    cancel: &CancelSwitch,
    token_url: &str,
    auth: AuthMethod,
    grant: Grant<'_>,
    retry_unanswered: bool,
) -> Result<Token, TokenError> {
    let request = token_request(&inner.config, token_url, auth, grant);
    let default_ms = inner.config.timing.default_expires_in_ms;
    let parse = |response: &HttpResponse, sent_at| {
        parse_token_response(&PlatformJson, response, sent_at, now_ms(), default_ms)
    };
    send_with_retries(inner, cancel, &request, true, retry_unanswered, parse).await
}

/// The token endpoint and auth method, discovering them on first use.
async fn endpoint(
    inner: &Inner,
    cancel: &CancelSwitch,
) -> Result<(String, AuthMethod), TokenError> {
    if let Some(known) = inner.state.borrow().endpoint.clone() {
        return Ok(known);
    }
    let Endpoint::Issuer(issuer) = &inner.config.endpoint else {
        unreachable!("a token URL is known from the start");
    };
    let insecure = inner.config.allow_insecure_http;
    let parse =
        |response: &HttpResponse, _| parse_metadata(&PlatformJson, response, now_ms(), insecure);
    // Each well-known location in turn, while the server answers 4xx (not there).
    let mut urls = discovery_urls(issuer).into_iter().peekable();
    let metadata = loop {
        let url = urls.next().expect("at least one discovery URL");
        match send_with_retries(inner, cancel, &discovery_request(url), false, true, parse).await {
            Err(error) if urls.peek().is_some() && matches!(error.status(), Some(400..=499)) => {
                continue
            }
            other => break other?,
        }
    };
    let auth = inner
        .config
        .auth_method
        .unwrap_or_else(|| metadata.default_auth_method());
    let known = (metadata.token_endpoint, auth);
    inner.state.borrow_mut().endpoint = Some(known.clone());
    Ok(known)
}

/// Sends `request` and parses the answer, retrying what the retry policy allows.
async fn send_with_retries<T>(
    inner: &Inner,
    cancel: &CancelSwitch,
    request: &HttpRequest,
    counts_as_token_request: bool,
    retry_unanswered: bool,
    parse: impl Fn(&HttpResponse, u64) -> Result<T, TokenError>,
) -> Result<T, TokenError> {
    let mut retries = 0;
    loop {
        if cancel.is_cancelled() {
            return Err(TokenError::Aborted);
        }
        if counts_as_token_request {
            inner.state.borrow_mut().cache.note_request();
        }
        let sent_at = now_ms();
        let result = match inner
            .fetcher
            .send(request, inner.config.timeout_ms, cancel)
            .await
        {
            Ok(raw) => parse(&raw.view(), sent_at),
            Err(error) => Err(error),
        };
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let unanswered = matches!(error, TokenError::Network(_) | TokenError::Timeout { .. });
        if unanswered && !retry_unanswered {
            return Err(error);
        }
        match retry_delay(&error, retries, inner.config.max_retries, Math::random()) {
            Some(delay) if !cancel.is_cancelled() => {
                gloo_timers::future::TimeoutFuture::new(u32::try_from(delay).unwrap_or(u32::MAX))
                    .await;
                retries += 1;
            }
            _ => return Err(error),
        }
    }
}
