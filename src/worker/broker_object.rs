//! The token broker: a Durable Object (`TokenBroker`, bound as `TOKEN_BROKER`), one per
//! credential in the whole deployment, that holds the credential's token and renews it ahead
//! of expiry with the same engine as the proxy (single flight, retries, cooldown,
//! stale-if-error), so that at most one token request is in flight for it anywhere. Isolates
//! ask it when their own copy is no longer fresh.
//!
//! Its configuration is the Worker's own (`env`): an isolate names the credential by its hash
//! only, and no secret crosses. With a client secret (or a password), the token is kept in
//! the object's storage sealed with AES-GCM under a key derived from the secret (HKDF), so
//! that it survives an eviction; the secret itself is never stored.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Date, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Request, Url};
use worker::Env;

use super::answer::token_failure;
use super::broker::{
    credential_parts, failure_json, parse_hand_out, query_param, reported_fallbacks, BrokerStats,
    HandOut, SEAL_INFO, STATS_PATH, STORED_TOKEN_KEY, TOKEN_PATH,
};
use super::broker_client::{broker_name, sha256_hex};
use super::engine::Engine;
use super::entry::json_response;
use super::env::gateway_of;
use super::http::Fetcher;
use crate::js::Platform;
use crate::secret::ClientSecret;

#[wasm_bindgen(module = "/src/worker/platform.js")]
extern "C" {
    fn seal(secret: &str, salt: &str, info: &str, plaintext: &str) -> Promise;
    fn unseal(secret: &str, salt: &str, info: &str, sealed: &str) -> Promise;
}

#[wasm_bindgen]
extern "C" {
    /// The Durable Object's state, as the runtime hands it to the constructor.
    type DurableObjectState;
    #[wasm_bindgen(method, getter)]
    fn storage(this: &DurableObjectState) -> Storage;

    /// Its transactional storage.
    type Storage;
    #[wasm_bindgen(method)]
    fn get(this: &Storage, key: &str) -> Promise;
    #[wasm_bindgen(method)]
    fn put(this: &Storage, key: &str, value: &JsValue) -> Promise;
    #[wasm_bindgen(method, js_name = setAlarm)]
    fn set_alarm(this: &Storage, at: f64) -> Promise;
}

/// The storage key of the credential's name (a hash), so that an alarm after an eviction
/// knows which credential it renews.
const CREDENTIAL_KEY: &str = "credential";

/// The header an isolate names the credential in.
const CREDENTIAL_HEADER: &str = "x-edge-oauth-credential";

/// When to try again after a renewal that left no fresh token.
const RETRY_ALARM_MS: f64 = 5_000.0;

/// The Durable Object class the runtime constructs.
#[wasm_bindgen]
pub struct TokenBroker {
    inner: Rc<Broker>,
}

struct Broker {
    state: JsValue,
    env: Env,
    /// The credential's engine, once loaded.
    held: RefCell<Option<Rc<Held>>>,
    /// The load under way: every request of a fresh object waits for the one load.
    loading: RefCell<Option<Promise>>,
}

/// One credential's engine and what the broker keeps beside it.
struct Held {
    name: String,
    engine: Engine,
    /// The client secret and password, the storage key's input; `None` for a public client,
    /// whose token is then not stored (no key could be kept from a reader of the storage).
    seal_secret: Option<ClientSecret>,
    stats: Cell<BrokerStats>,
    /// The expiry of the token last stored, and of the token last seen.
    stored_expiry: Cell<u64>,
    seen_expiry: Cell<u64>,
    /// Whether an isolate asked since the last renewal: a broker nobody asks stops renewing
    /// (the next question renews on demand).
    asked: Cell<bool>,
}

#[wasm_bindgen]
impl TokenBroker {
    #[wasm_bindgen(constructor)]
    pub fn new(state: JsValue, env: Env) -> TokenBroker {
        TokenBroker {
            inner: Rc::new(Broker {
                state,
                env,
                held: RefCell::new(None),
                loading: RefCell::new(None),
            }),
        }
    }

    /// `GET /token?fallbacks=N` (the hand-out) and `GET /stats`, for the credential named in
    /// the `x-edge-oauth-credential` header.
    pub fn fetch(&self, request: Request) -> Promise {
        let broker = self.inner.clone();
        future_to_promise(async move {
            let name = request.headers().get(CREDENTIAL_HEADER).ok().flatten();
            let url = Url::new(&request.url())?;
            let Some(held) = broker.held(name.as_deref()).await else {
                return Ok(json_response(404, None, "{\"error\":\"unknown_credential\"}")?.into());
            };
            let body = match url.pathname().as_str() {
                TOKEN_PATH => {
                    let query = url.search();
                    held.add(|s| s.fallbacks += reported_fallbacks(&query));
                    if let Some(refused) = query_param(&query, "refused") {
                        broker.refused(&held, refused).await;
                    }
                    broker.hand_out(&held).await
                }
                STATS_PATH => held.stats().to_json(),
                _ => return Ok(json_response(404, None, "{\"error\":\"not_found\"}")?.into()),
            };
            Ok(json_response(200, None, &body)?.into())
        })
    }

    /// Renews ahead of expiry, for every isolate at once.
    pub fn alarm(&self) -> Promise {
        let broker = self.inner.clone();
        future_to_promise(async move {
            let name = JsFuture::from(broker.storage().get(CREDENTIAL_KEY)).await?;
            if let Some(held) = broker.held(name.as_string().as_deref()).await {
                if held.asked.replace(false) {
                    let _ = held.engine.token(&broker.state).await;
                    held.engine.settled().await;
                    broker.after_renewal(&held).await;
                }
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl Broker {
    fn storage(&self) -> Storage {
        self.state.unchecked_ref::<DurableObjectState>().storage()
    }

    /// The credential `name`'s engine: loaded once, from the Worker's configuration and the
    /// sealed token in storage. `None` when no broker route of the configuration has it.
    async fn held(self: &Rc<Self>, name: Option<&str>) -> Option<Rc<Held>> {
        let name = name?;
        if self.held.borrow().is_none() {
            let loading = self.loading.borrow().clone();
            let loading = loading.unwrap_or_else(|| {
                let broker = self.clone();
                let name = name.to_owned();
                let promise = future_to_promise(async move {
                    broker.load(&name).await;
                    Ok(JsValue::UNDEFINED)
                });
                self.loading.replace(Some(promise.clone()));
                promise
            });
            let _ = JsFuture::from(loading).await;
            self.loading.replace(None);
        }
        self.held.borrow().clone().filter(|held| held.name == name)
    }

    /// Finds the broker route with credential `name` and makes its engine, with the token
    /// that storage keeps for it.
    async fn load(&self, name: &str) {
        let Ok(gateway) = gateway_of(&self.env) else {
            return;
        };
        for route in gateway.routes.into_iter().filter(|route| route.broker) {
            let parts = credential_parts(&route.client);
            let hashed = JsFuture::from(broker_name(&parts.public, &parts.secret)).await;
            if hashed.ok().and_then(|n| n.as_string()).as_deref() != Some(name) {
                continue;
            }
            let Ok(fetcher) = Fetcher::global() else {
                return;
            };
            let sealable = parts.secret.chars().any(|c| c != '\n');
            let held = Rc::new(Held {
                name: name.to_owned(),
                engine: Engine::new(route.client, fetcher),
                seal_secret: sealable.then(|| ClientSecret::new(parts.secret)),
                stats: Cell::new(BrokerStats::default()),
                stored_expiry: Cell::new(0),
                seen_expiry: Cell::new(0),
                asked: Cell::new(false),
            });
            self.restore(&held).await;
            let _ = JsFuture::from(self.storage().put(CREDENTIAL_KEY, &name.into())).await;
            self.held.replace(Some(held));
            return;
        }
    }

    /// Takes the token storage keeps, when it opens with this credential's key.
    async fn restore(&self, held: &Held) {
        let Some(secret) = &held.seal_secret else {
            return;
        };
        let Ok(sealed) = JsFuture::from(self.storage().get(STORED_TOKEN_KEY)).await else {
            return;
        };
        let Some(sealed) = sealed.as_string() else {
            return;
        };
        let opened = unseal(secret.expose(), &held.name, SEAL_INFO, &sealed);
        let Some(text) = JsFuture::from(opened)
            .await
            .ok()
            .and_then(|t| t.as_string())
        else {
            return;
        };
        if let Some((HandOut::Token(token), refresh_token)) = parse_hand_out(&text, &Platform) {
            let expiry = token.expires_at_ms;
            held.engine.adopt(token, refresh_token);
            held.stored_expiry.set(expiry);
            held.seen_expiry.set(expiry);
        }
    }

    /// The origin refused the token whose SHA-256 is `hash`: when it is the one held, it is
    /// dropped (the engine's refusal rules hold: one renewal, then a cooldown).
    async fn refused(&self, held: &Held, hash: &str) {
        let Some((access_token, ..)) = held.engine.held() else {
            return;
        };
        let hashed = JsFuture::from(sha256_hex(&access_token)).await;
        if hashed.ok().and_then(|h| h.as_string()).as_deref() == Some(hash) {
            held.engine.refused(&access_token);
        }
    }

    /// The token for an isolate, or the answer for its failure.
    async fn hand_out(&self, held: &Held) -> String {
        held.asked.set(true);
        let (outcome, _) = held.engine.token(&self.state).await;
        self.after_renewal(held).await;
        match (outcome, held.engine.hand_out(false)) {
            (Ok(_), Some(json)) => {
                held.add(|s| s.hand_outs += 1);
                json
            }
            (Err(failure), _) => {
                failure_json(&token_failure(&failure.error, failure.retry_after_ms))
            }
            (Ok(_), None) => {
                let error = crate::error::TokenError::Aborted;
                failure_json(&token_failure(&error, None))
            }
        }
    }

    /// After a renewal (or a hand-out): a new token is stored, sealed, and the next renewal
    /// is set for when it stops being fresh; without a fresh token (a failed renewal, a
    /// cooldown), the next try is set a little later.
    async fn after_renewal(&self, held: &Held) {
        let now = Date::now();
        let Some((_, fresh_until, expiry)) = held.engine.held() else {
            let _ = JsFuture::from(self.storage().set_alarm(now + RETRY_ALARM_MS)).await;
            return;
        };
        let renewed = expiry != held.seen_expiry.replace(expiry);
        if renewed {
            held.add(|s| s.last_refresh_at = now as u64);
        }
        if renewed || (fresh_until as f64) <= now {
            let at = (fresh_until as f64).max(now + 1_000.0);
            let _ = JsFuture::from(self.storage().set_alarm(at)).await;
        }
        // Marked before the wait: concurrent hand-outs seal it once, and never an older one
        // over a newer.
        if let Some(secret) = &held.seal_secret {
            let stored = held.stored_expiry.get();
            if expiry > stored {
                held.stored_expiry.set(expiry);
                let plaintext = held.engine.hand_out(true).unwrap_or_default();
                let sealed = seal(secret.expose(), &held.name, SEAL_INFO, &plaintext);
                match JsFuture::from(sealed).await {
                    Ok(sealed) => {
                        let _ = JsFuture::from(self.storage().put(STORED_TOKEN_KEY, &sealed)).await;
                    }
                    Err(_) => held.stored_expiry.set(stored),
                }
            }
        }
    }
}

impl Held {
    fn add(&self, change: impl FnOnce(&mut BrokerStats)) {
        let mut stats = self.stats.get();
        change(&mut stats);
        self.stats.set(stats);
    }

    fn stats(&self) -> BrokerStats {
        let engine = self.engine.stats();
        BrokerStats {
            token_requests: engine.token_requests,
            failures: engine.failures,
            ..self.stats.get()
        }
    }
}
