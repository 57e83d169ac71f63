//! The Worker's engine: the core [`Driver`] stepped from Rust, with the platform's `fetch`
//! and timers. One renewal at a time, as one promise that every waiting request shares.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use js_sys::{Date, Math, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::cache::Stats;
use crate::cache::{self as driver, Refusal};
use crate::config::Config;
use crate::driver::{Decision, Driver, Step};
use crate::error::TokenError;
use crate::request::HttpRequest;
use crate::response::Token;
use crate::secret::RefreshToken;

use super::broker::token_json;

use super::http::Fetcher;
use crate::js::Platform;

#[wasm_bindgen(module = "/src/worker/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = withDeadline)]
    fn with_deadline(promise: &Promise, ms: f64) -> Promise;
}

fn now_ms() -> u64 {
    Date::now() as u64
}

/// How a renewal ended: the token, or why there is none.
pub type Outcome = Result<Rc<Bearer>, Rc<Failure>>;

/// A renewal that failed, or the cooldown after one: the error and the cooldown's length.
pub struct Failure {
    /// Why there is no token (cleaned of secrets by the core).
    pub error: TokenError,
    /// The cooldown it started, in ms, if any.
    pub retry_after_ms: Option<u64>,
}

/// The renewal under way: a promise its waiters await (it resolves with `true` when the
/// renewal ended, `false` when it was abandoned), and where its outcome is then, read in Rust.
#[derive(Clone)]
pub struct Flight {
    /// Settles when the renewal ends or is abandoned.
    pub promise: Promise,
    outcome: Rc<OnceCell<Outcome>>,
}

impl Flight {
    /// How the renewal ended; `None` while it runs, or when it was abandoned.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.get().cloned()
    }
}

struct Inner {
    driver: RefCell<Driver>,
    fetcher: Fetcher,
    /// The renewal under way.
    flight: RefCell<Option<Flight>>,
    /// The last fresh token handed out, with its header value.
    last_bearer: RefCell<Option<Rc<Bearer>>>,
    /// Bumped when a stuck renewal is abandoned: its future stops at its next step.
    generation: Cell<u64>,
}

impl Inner {
    /// `token` with its header value, made into a JS string once per token.
    fn bearer(&self, token: &Token) -> Rc<Bearer> {
        let mut last = self.last_bearer.borrow_mut();
        if let Some(bearer) = last
            .as_ref()
            .filter(|b| b.access_token == token.access_token.expose())
        {
            return bearer.clone();
        }
        let bearer = Rc::new(Bearer {
            access_token: token.access_token.expose().to_owned(),
            header_value: JsValue::from_str(&token.header_value()),
        });
        *last = Some(bearer.clone());
        bearer
    }
}

/// A token and the header value that carries it.
pub struct Bearer {
    /// The access token, to recognise it when the origin refuses it.
    pub access_token: String,
    /// `Bearer <token>` (or the token type the server gave), as a JS string.
    pub header_value: JsValue,
}

/// What [`Engine::get`] hands a caller.
pub enum Got {
    /// An answer now: a token from memory, or the failure of the cooldown under way.
    Now(Outcome),
    /// Wait for the renewal under way.
    Wait(Flight),
}

/// One client's driver and the renewal under way.
pub struct Engine {
    inner: Rc<Inner>,
}

impl Engine {
    /// An engine for a validated configuration.
    pub fn new(config: Config, fetcher: Fetcher) -> Self {
        Engine {
            inner: Rc::new(Inner {
                driver: RefCell::new(Driver::new(config)),
                fetcher,
                flight: RefCell::new(None),
                last_bearer: RefCell::new(None),
                generation: Cell::new(0),
            }),
        }
    }

    /// A token: from memory when fresh (starting one background refresh near expiry), else
    /// by waiting for the one renewal under way. A renewal this starts is kept alive past the
    /// request with `ctx.waitUntil`: workerd cancels what a finished request left running,
    /// and every later request would wait on it forever.
    pub fn get(&self, ctx: &JsValue) -> Got {
        let inner = &self.inner;
        let mut driver = inner.driver.borrow_mut();
        let (served, first) = match driver.lookup(now_ms()) {
            Decision::Serve { token, refresh, .. } => (Some(inner.bearer(token)), refresh.cloned()),
            Decision::Wait { first } => (None, first.cloned()),
            Decision::CoolingDown {
                error,
                retry_after_ms,
            } => {
                let failure = Failure {
                    error: error.clone(),
                    retry_after_ms: Some(retry_after_ms),
                };
                return Got::Now(Err(Rc::new(failure)));
            }
            Decision::Refused { error } => {
                let failure = Failure {
                    error: error.clone(),
                    retry_after_ms: None,
                };
                return Got::Now(Err(Rc::new(failure)));
            }
        };
        drop(driver);
        if let Some(request) = first {
            start_renewal(inner.clone(), request, served.is_some(), ctx);
        }
        match (served, inner.flight.borrow().clone()) {
            (Some(bearer), _) => Got::Now(Ok(bearer)),
            (None, Some(flight)) => Got::Wait(flight),
            // A waiter is always given the renewal it waits for; were it not, it would time out.
            (None, None) => Got::Now(Err(Rc::new(Failure {
                error: TokenError::Aborted,
                retry_after_ms: None,
            }))),
        }
    }

    /// A token, and whether it came from memory: as [`get`](Self::get), waiting for the
    /// renewal under way at most `maxWaitMs` (and a little for the timers): the renewal's own
    /// attempts end by then; one that has not has been dropped by the platform.
    pub async fn token(&self, ctx: &JsValue) -> (Outcome, bool) {
        let flight = match self.get(ctx) {
            Got::Now(outcome) => return (outcome, true),
            Got::Wait(flight) => flight,
        };
        let max_wait_ms = self.inner.driver.borrow().config().max_wait_ms;
        let waited = with_deadline(&flight.promise, (max_wait_ms + 250) as f64);
        // `true`: the renewal ended; `false`: another waiter abandoned it; undefined: the
        // deadline passed first, and this waiter abandons it.
        if JsFuture::from(waited).await.is_ok_and(|v| v.is_undefined()) {
            self.abandon(&flight);
        }
        let outcome = flight.outcome().unwrap_or_else(|| {
            Err(Rc::new(Failure {
                error: TokenError::Timeout {
                    timeout_ms: max_wait_ms,
                },
                retry_after_ms: None,
            }))
        });
        (outcome, false)
    }

    /// The cached token when it is fresh: the hot path, with no promise, and its header
    /// value made into a JS string once per token.
    pub fn fresh_bearer(&self) -> Option<Rc<Bearer>> {
        let mut driver = self.inner.driver.borrow_mut();
        let token = driver.fresh(now_ms())?;
        Some(self.inner.bearer(token))
    }

    /// Takes a token obtained elsewhere (the broker's, or the broker's storage): its bearer,
    /// unless it has expired.
    pub fn adopt(&self, token: Token, refresh_token: Option<RefreshToken>) -> Option<Rc<Bearer>> {
        let mut driver = self.inner.driver.borrow_mut();
        driver.adopt(token, refresh_token);
        let token = driver.cache().token()?;
        (now_ms() < token.expires_at_ms).then(|| self.inner.bearer(token))
    }

    /// The token held, as a broker's hand-out (with the refresh token for its own storage);
    /// `None` without one.
    pub fn hand_out(&self, with_refresh_token: bool) -> Option<String> {
        let driver = self.inner.driver.borrow();
        let cache = driver.cache();
        let token = cache.token()?;
        let refresh = cache.refresh_token().filter(|_| with_refresh_token);
        Some(token_json(token, refresh))
    }

    /// The token held: its access token, when it stops being fresh, and when it expires.
    pub fn held(&self) -> Option<(String, u64, u64)> {
        let driver = self.inner.driver.borrow();
        let cache = driver.cache();
        let token = cache.token()?;
        let access_token = token.access_token.expose().to_owned();
        Some((access_token, cache.fresh_until(token), token.expires_at_ms))
    }

    /// Once the renewal under way, if any, has ended.
    pub async fn settled(&self) {
        let flight = self.inner.flight.borrow().clone();
        if let Some(flight) = flight {
            let _ = JsFuture::from(flight.promise).await;
        }
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.inner.driver.borrow().cache().stats()
    }

    /// Gives up on `flight` if it is still the renewal under way: it has outlived every
    /// deadline, so the platform must have dropped it. The next request starts a new one.
    pub fn abandon(&self, flight: &Flight) {
        let inner = &self.inner;
        let current = inner
            .flight
            .borrow()
            .as_ref()
            .is_some_and(|f| Rc::ptr_eq(&f.outcome, &flight.outcome));
        if current {
            inner.generation.set(inner.generation.get() + 1);
            inner.flight.replace(None);
            inner.driver.borrow_mut().cancel();
        }
    }

    /// The origin refused `access_token`: true — get a token again and retry once; false —
    /// hand the refusal to the caller (see `TokenCache::token_refused`).
    pub fn refused(&self, access_token: &str) -> bool {
        let refusal =
            self.inner
                .driver
                .borrow_mut()
                .token_refused(now_ms(), access_token, Math::random());
        refusal == Refusal::Renew
    }

    /// The origin answered a request that carried `header_value` with something else than a
    /// 401: a replacement token waiting for that is proven good.
    pub fn accepted(&self, header_value: &JsValue) {
        let mut driver = self.inner.driver.borrow_mut();
        if driver.cache().awaits_acceptance() {
            if let Some(value) = header_value.as_string() {
                driver.token_accepted(access_token_of(&value));
            }
        }
    }
}

/// A step with nothing borrowed from the driver.
enum Action {
    Send(HttpRequest),
    Sleep(u64),
    Done(Outcome),
}

fn action(inner: &Inner, step: Step<'_>) -> Action {
    match step {
        Step::Send(request) => Action::Send(request),
        Step::Sleep(ms) => Action::Sleep(ms),
        Step::Done(driver::Outcome::Fresh { token, .. } | driver::Outcome::Stale { token, .. }) => {
            Action::Done(Ok(inner.bearer(token)))
        }
        Step::Done(driver::Outcome::Failed {
            error,
            retry_after_ms,
        }) => Action::Done(Err(Rc::new(Failure {
            error,
            retry_after_ms: Some(retry_after_ms),
        }))),
    }
}

/// Runs the renewal a lookup started, from its `first` request to its end, as the flight
/// every waiter shares. A `background` refresh sends on the next task, so the caller that
/// started it gets its cached token first.
fn start_renewal(inner: Rc<Inner>, first: HttpRequest, background: bool, ctx: &JsValue) {
    let generation = inner.generation.get();
    let outcome = Rc::new(OnceCell::new());
    let promise = future_to_promise({
        let (inner, outcome) = (inner.clone(), outcome.clone());
        async move {
            // After each wait: an abandoned renewal touches nothing.
            let abandoned = || inner.generation.get() != generation;
            let gone = Ok(JsValue::FALSE);
            if background {
                gloo_timers::future::TimeoutFuture::new(0).await;
            }
            if abandoned() {
                return gone;
            }
            let mut next = Action::Send(first);
            loop {
                next = match next {
                    Action::Send(request) => {
                        let timeout_ms = inner.driver.borrow().attempt_timeout_ms(now_ms());
                        let sent = inner.fetcher.send(&request, timeout_ms).await;
                        if abandoned() {
                            return gone;
                        }
                        let mut driver = inner.driver.borrow_mut();
                        let step = match &sent {
                            Ok(raw) => {
                                driver.on_response(now_ms(), &raw.view(), &Platform, Math::random())
                            }
                            Err(error) => {
                                driver.on_unanswered(now_ms(), error.clone(), Math::random())
                            }
                        };
                        action(&inner, step)
                    }
                    Action::Sleep(ms) => {
                        let ms = u32::try_from(ms).unwrap_or(u32::MAX);
                        gloo_timers::future::TimeoutFuture::new(ms).await;
                        if abandoned() {
                            return gone;
                        }
                        let mut driver = inner.driver.borrow_mut();
                        action(&inner, driver.resume(now_ms()))
                    }
                    Action::Done(result) => {
                        let _ = outcome.set(result);
                        inner.flight.replace(None);
                        return Ok(JsValue::TRUE);
                    }
                };
            }
        }
    });
    wait_until(ctx, &promise);
    inner.flight.replace(Some(Flight { promise, outcome }));
}

/// `ctx.waitUntil(promise)`, when the request's context has it.
fn wait_until(ctx: &JsValue, promise: &Promise) {
    if let Ok(function) = Reflect::get(ctx, &"waitUntil".into()) {
        if let Some(function) = function.dyn_ref::<js_sys::Function>() {
            let _ = function.call1(ctx, promise);
        }
    }
}

/// The access token in a header value (`Bearer <token>`): token types hold no space.
pub fn access_token_of(header_value: &str) -> &str {
    header_value
        .split_once(' ')
        .map_or(header_value, |(_, token)| token)
}
