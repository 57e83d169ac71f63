//! The token client without I/O: the configuration, the cache, the token endpoint once known,
//! and the one renewal under way, moved forward step by step by an adapter (quinn-proto's
//! shape). The adapter asks [`Driver::lookup`] what a caller gets; when that starts a renewal
//! it carries the renewal's first request. The adapter sends it, then does what each [`Step`]
//! says — send a request, sleep — and reports back with [`Driver::on_response`],
//! [`Driver::on_unanswered`] or [`Driver::resume`] until the step is [`Step::Done`].
//!
//! A renewal runs discovery first when only an issuer is configured (each well-known location
//! in turn while the server answers 4xx), then the refresh token when there is one, falling
//! back once to the original grant when it is spent, with retries as [`retry`](crate::retry)
//! allows.

use crate::cache::{Lookup, Outcome, Refusal, TokenCache};
use crate::config::{AuthMethod, Config, Endpoint, GrantConfig, UrlParser};
use crate::error::TokenError;
use crate::request::{base64_encode, percent_encode};
use crate::request::{discovery_request, discovery_urls, token_request, Grant, HttpRequest};
use crate::response::{parse_metadata, parse_token_response, HttpResponse, Json, Metadata, Token};
use crate::retry::retry_delay;
use crate::secret::RefreshToken;
use alloc::string::String;
use alloc::vec::Vec;

/// What the adapter does next for the renewal under way. A step left undone stalls the
/// renewal and every caller waiting for it.
#[derive(Debug)]
#[must_use]
pub enum Step<'a> {
    /// Send this request, then report its response or why none came.
    Send(HttpRequest),
    /// Wait this many milliseconds, then call [`Driver::resume`].
    Sleep(u64),
    /// The renewal is over: what its waiters get.
    Done(Outcome<'a>),
}

/// What a caller asking for a token gets: [`Driver::lookup`].
#[derive(Debug)]
#[must_use]
pub enum Decision<'a> {
    /// Hand out `token` now. `refresh` is the first request of the background refresh this
    /// lookup started, if it started one: send it and report back, without holding the caller.
    Serve {
        /// The token to hand out.
        token: &'a Token,
        /// Until when the token may be handed out with no call into the driver at all.
        fresh_until: u64,
        /// The background refresh's first request.
        refresh: Option<&'a HttpRequest>,
    },
    /// Wait for the renewal under way, counted as its waiter until it ends or
    /// [`Driver::leave`]. `first` is its first request when this lookup started it: send it
    /// and report back.
    Wait {
        /// The renewal's first request, when this lookup started it.
        first: Option<&'a HttpRequest>,
    },
    /// Nothing can be sent without a user (a device grant with no token and no refresh
    /// token): answer at once with `error` (`authorization_required`). No cooldown starts.
    Refused {
        /// Why.
        error: &'a TokenError,
    },
    /// The last renewal failed and the cooldown is not over: answer at once with `error`.
    CoolingDown {
        /// The error the last renewal ended with.
        error: &'a TokenError,
        /// How long the cooldown still lasts, in ms (at least 1).
        retry_after_ms: u64,
    },
}

/// Which request the renewal is sending.
enum Phase {
    /// A discovery URL; `rest` are the ones still to try.
    Discovery { rest: Vec<String> },
    /// The refresh token, sent at most once unless the server answered.
    Refresh { refresh_token: RefreshToken },
    /// The configured grant (client credentials or password).
    Grant,
}

struct Renewal {
    phase: Phase,
    request: HttpRequest,
    sent_at: u64,
    retries: u32,
    /// `maxWaitMs` after the renewal began: no attempt or wait goes past it.
    deadline: u64,
}

mod device;

/// What a caller gets when only a user can get a token.
static AUTHORIZATION_REQUIRED: TokenError = TokenError::AuthorizationRequired;

pub use device::DeviceStep;

/// Configuration, cache, endpoint and the renewal under way.
pub struct Driver {
    config: Config,
    cache: TokenCache,
    /// The token endpoint and auth method, once known (discovery runs at most once).
    endpoint: Option<(String, AuthMethod)>,
    /// The device authorization endpoint, once known (configured, or discovered).
    device_endpoint: Option<String>,
    renewal: Option<Renewal>,
    /// The device flow under way, if any (`driver/device.rs`).
    device: Option<device::DeviceFlow>,
    /// The error code of the attempt the last `Sleep` step waits to repeat (a retry, or the
    /// device flow's next poll): what an adapter reports about the wait.
    sleep_cause: Option<String>,
}

impl Driver {
    /// A driver for a validated configuration, with an empty cache.
    pub fn new(config: Config) -> Self {
        let endpoint = match &config.endpoint {
            Endpoint::TokenUrl(url) => Some((
                url.clone(),
                config.auth_method.unwrap_or(AuthMethod::ClientSecretBasic),
            )),
            Endpoint::Issuer(_) => None,
        };
        Self {
            cache: TokenCache::new(config.timing),
            device_endpoint: config.device_authorization_url.clone(),
            config,
            endpoint,
            renewal: None,
            device: None,
            sleep_cause: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The error code of the attempt the last `Sleep` step (or device `Sleep`) waits to
    /// repeat: `temporarily_unavailable`, `network`, `authorization_pending`, `slow_down`, ….
    pub fn sleep_cause(&self) -> Option<&str> {
        self.sleep_cause.as_deref()
    }

    /// The token endpoint, once known: configured, or discovered.
    pub fn token_endpoint(&self) -> Option<&str> {
        self.endpoint.as_ref().map(|(url, _)| url.as_str())
    }

    /// The cache, to read: counters, the token, what is in flight. It changes only through
    /// the driver's own calls.
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// What a caller asking for a token at `now` gets (the rules are [`TokenCache::lookup`]'s),
    /// the first request of a renewal included when this starts one.
    pub fn lookup(&mut self, now: u64) -> Decision<'_> {
        let (fresh_until, start) = match self.cache.lookup(now) {
            Lookup::Serve {
                fresh_until,
                start_refresh,
                ..
            } => (Some(fresh_until), start_refresh),
            Lookup::Wait { start } => (None, start),
            Lookup::CoolingDown { retry_after_ms, .. } => {
                return match self.cache.last_error() {
                    Some(error) => Decision::CoolingDown {
                        error,
                        retry_after_ms,
                    },
                    None => Decision::Wait { first: None },
                }
            }
        };
        if start {
            self.start(now);
            if self.renewal.is_none() {
                // Nothing can be sent without a user (a device grant with no refresh token):
                // no renewal; a token still valid serves until it expires.
                self.cache.cancel_flight();
                return match (fresh_until, self.cache.token()) {
                    (Some(fresh_until), Some(token)) => Decision::Serve {
                        token,
                        fresh_until,
                        refresh: None,
                    },
                    _ => Decision::Refused {
                        error: &AUTHORIZATION_REQUIRED,
                    },
                };
            }
        }
        let first = match (start, &self.renewal) {
            (true, Some(renewal)) => Some(&renewal.request),
            _ => None,
        };
        match (fresh_until, self.cache.token()) {
            (Some(fresh_until), Some(token)) => Decision::Serve {
                token,
                fresh_until,
                refresh: first,
            },
            _ => Decision::Wait { first },
        }
    }

    /// Why a lookup at `now` answered with an error at once (`CoolingDown` or `Refused`), read
    /// without looking up again: the cooldown's error and what is left of it, or
    /// `authorization_required`.
    pub fn failure(&self, now: u64) -> (&TokenError, Option<u64>) {
        match (self.cache.last_error(), self.cache.cooldown_left(now)) {
            (Some(error), Some(left)) => (error, Some(left)),
            _ => (&AUTHORIZATION_REQUIRED, None),
        }
    }

    /// The token, if fresh at `now`: a cache hit with no other effect.
    pub fn fresh(&mut self, now: u64) -> Option<&Token> {
        self.cache.fresh(now)
    }

    /// A waiter stopped waiting; true when the renewal should be cancelled
    /// ([`cancel`](Self::cancel)): nobody else waits for it.
    pub fn leave(&mut self) -> bool {
        self.cache.leave()
    }

    /// Takes a token obtained elsewhere (see [`TokenCache::adopt`]).
    pub fn adopt(&mut self, token: Token, refresh_token: Option<RefreshToken>) {
        self.cache.adopt(token, refresh_token);
    }

    /// Drops the cached token (the refresh token stays).
    pub fn invalidate(&mut self) {
        self.cache.invalidate();
    }

    /// An API refused `access_token` at `now` (see [`TokenCache::token_refused`]).
    pub fn token_refused(&mut self, now: u64, access_token: &str, random: f64) -> Refusal {
        self.cache.token_refused(now, access_token, random)
    }

    /// An API accepted `access_token` (see [`TokenCache::token_accepted`]).
    pub fn token_accepted(&mut self, access_token: &str) {
        self.cache.token_accepted(access_token);
    }

    /// Starts the renewal the cache asked for.
    fn start(&mut self, now: u64) {
        if Grant::original(&self.config).is_none() && self.cache.refresh_token().is_none() {
            return;
        }
        let deadline = now.saturating_add(self.config.max_wait_ms);
        match (&self.endpoint, &self.config.endpoint) {
            (None, Endpoint::Issuer(issuer)) => {
                let mut rest = discovery_urls(issuer);
                let first = rest.remove(0);
                self.begin(
                    now,
                    deadline,
                    Phase::Discovery { rest },
                    discovery_request(first),
                );
            }
            // Known: a token URL from the start, an issuer's endpoint once discovered.
            _ => self.endpoint_known(now, deadline),
        }
    }

    /// How long the request of the last [`Step::Send`] may take, at `now`: the per-attempt
    /// timeout, cut to what is left of `maxWaitMs` (at least 1 ms). Reading the body counts.
    pub fn attempt_timeout_ms(&self, now: u64) -> u64 {
        let timeout = self.config.timeout_ms;
        match &self.renewal {
            Some(renewal) => timeout.min(renewal.deadline.saturating_sub(now)).max(1),
            None => timeout,
        }
    }

    /// The request sent by the last [`Step::Send`] got `response`. `platform` parses its JSON
    /// and URLs; `random` is uniform in `[0, 1)`, for the retry jitter.
    pub fn on_response<P: Json + UrlParser>(
        &mut self,
        now: u64,
        response: &HttpResponse,
        platform: &P,
        random: f64,
    ) -> Step<'_> {
        let Some(renewal) = self.renewal.take() else {
            return self.finish(now, Err(TokenError::Aborted), random);
        };
        if let (Phase::Discovery { .. }, Endpoint::Issuer(issuer)) =
            (&renewal.phase, &self.config.endpoint)
        {
            let insecure = self.config.allow_insecure_http;
            return match parse_metadata(platform, response, issuer, insecure, self.config.names) {
                Ok(metadata) => {
                    self.discovered(metadata);
                    self.endpoint_known(now, renewal.deadline);
                    match self.renewal {
                        Some(_) => self.send_step(),
                        None => self.finish(now, Err(TokenError::AuthorizationRequired), random),
                    }
                }
                Err(error) => self.failed(now, renewal, error, random),
            };
        }
        let default_ms = self.config.timing.default_expires_in_ms;
        match parse_token_response(platform, response, renewal.sent_at, default_ms) {
            Ok(mut token) => {
                if let Phase::Refresh { refresh_token } = renewal.phase {
                    // A server that does not rotate keeps the one it was sent.
                    token.refresh_token.get_or_insert(refresh_token);
                }
                self.finish(now, Ok(token), random)
            }
            Err(error) => self.failed(now, renewal, error, random),
        }
    }

    /// The request sent by the last [`Step::Send`] got no response: `error` is a network
    /// error or a timeout.
    pub fn on_unanswered(&mut self, now: u64, error: TokenError, random: f64) -> Step<'_> {
        match self.renewal.take() {
            Some(renewal) => self.failed(now, renewal, error, random),
            None => self.finish(now, Err(error), random),
        }
    }

    /// The [`Step::Sleep`] is over: the same request goes again.
    pub fn resume(&mut self, now: u64) -> Step<'_> {
        match self.renewal.as_mut() {
            Some(renewal) => {
                renewal.sent_at = now;
                let discovery = matches!(renewal.phase, Phase::Discovery { .. });
                self.sending(discovery);
                self.send_step()
            }
            None => self.finish(now, Err(TokenError::Aborted), 0.5),
        }
    }

    /// Drops the renewal under way without an outcome: every waiter left and the adapter
    /// cancelled its request. A refresh token it held may have reached the server: it is
    /// spent. The next lookup starts a new renewal.
    pub fn cancel(&mut self) {
        self.renewal = None;
        self.cache.cancel_flight();
    }

    /// Begins the refresh, else the configured grant, at the endpoint: known here (no panic
    /// path for the case that cannot happen).
    fn endpoint_known(&mut self, now: u64, deadline: u64) {
        let Some((url, auth)) = &self.endpoint else {
            return;
        };
        match self.cache.take_refresh_token() {
            Some(refresh_token) => {
                let grant = Grant::RefreshToken(&refresh_token);
                let request = token_request(&self.config, url, *auth, grant);
                self.begin(now, deadline, Phase::Refresh { refresh_token }, request)
            }
            None => {
                self.original_grant(now, deadline);
            }
        }
    }

    /// Begins the configured grant; false when it cannot run without a user (device code), or
    /// without a known endpoint (which cannot happen, as in [`endpoint_known`]).
    ///
    /// [`endpoint_known`]: Self::endpoint_known
    fn original_grant(&mut self, now: u64, deadline: u64) -> bool {
        let (Some(grant), Some((url, auth))) = (Grant::original(&self.config), &self.endpoint)
        else {
            return false;
        };
        let request = token_request(&self.config, url, *auth, grant);
        self.begin(now, deadline, Phase::Grant, request);
        true
    }

    /// Discovery answered: the token endpoint, its auth method and the device endpoint.
    fn discovered(&mut self, metadata: Metadata) {
        let auth = self
            .config
            .auth_method
            .unwrap_or_else(|| metadata.default_auth_method());
        self.endpoint = Some((metadata.token_endpoint, auth));
        if self.device_endpoint.is_none() {
            self.device_endpoint = metadata.device_authorization_endpoint;
        }
    }

    fn begin(&mut self, now: u64, deadline: u64, phase: Phase, request: HttpRequest) {
        let discovery = matches!(phase, Phase::Discovery { .. });
        self.renewal = Some(Renewal {
            phase,
            request,
            sent_at: now,
            retries: 0,
            deadline,
        });
        self.sending(discovery);
    }

    /// The renewal's request goes out (again): counted when it goes to the token endpoint.
    fn sending(&mut self, discovery: bool) {
        if !discovery {
            self.cache.note_request();
        }
    }

    /// The step that sends the renewal's request.
    fn send_step(&self) -> Step<'_> {
        match &self.renewal {
            Some(renewal) => Step::Send(renewal.request.clone()),
            None => Step::Done(Outcome::Failed {
                error: TokenError::Aborted,
                retry_after_ms: 0,
            }),
        }
    }

    /// Every secret the client holds, clear and form- or URL-encoded: what a server's error
    /// text must not carry on (an IdP that echoes its request would send them back).
    /// `held`: a secret the request under way carries besides those (a refresh token taken
    /// from the cache, or a device code).
    fn secrets(&self, held: Option<&str>) -> Vec<String> {
        let mut clear: Vec<&str> = Vec::new();
        // The Basic credentials as sent (both encodings): an echoed header decodes to them.
        let mut basic: Vec<String> = Vec::new();
        if let Some(secret) = &self.config.client_secret {
            let (id, secret) = (self.config.client_id.as_str(), secret.expose());
            clear.push(secret);
            let encoded = [
                &percent_encode(id, true),
                ":",
                &percent_encode(secret, true),
            ]
            .concat();
            basic.push(base64_encode(encoded.as_bytes()));
            basic.push(base64_encode([id, ":", secret].concat().as_bytes()));
        }
        clear.extend(basic.iter().map(String::as_str));
        if let GrantConfig::Password { username, password } = &self.config.grant {
            clear.extend([username.expose(), password.expose()]);
        }
        clear.extend(held);
        if let Some(token) = self.cache.refresh_token() {
            clear.push(token.expose());
        }
        clear.extend(self.cache.access_tokens().map(|t| t.expose()));
        let mut secrets = Vec::with_capacity(3 * clear.len());
        for text in clear {
            secrets.push(text.into());
            secrets.push(percent_encode(text, true));
            secrets.push(percent_encode(text, false));
        }
        secrets
    }

    /// The request failed: retry it, move on to the next request, or end the renewal.
    fn failed(
        &mut self,
        now: u64,
        mut renewal: Renewal,
        error: TokenError,
        random: f64,
    ) -> Step<'_> {
        let held = match &renewal.phase {
            Phase::Refresh { refresh_token } => Some(refresh_token.expose()),
            _ => None,
        };
        let error = error.cleaned(&self.secrets(held));
        let unanswered = matches!(error, TokenError::Network(_) | TokenError::Timeout { .. });
        // A refresh that may have reached the server is never sent again.
        let may_retry = !(unanswered && matches!(renewal.phase, Phase::Refresh { .. }));
        let delay = retry_delay(&error, renewal.retries, self.config.max_retries, random)
            // A retry whose wait would end past maxWaitMs is not made.
            .filter(|delay| now.saturating_add(*delay) < renewal.deadline);
        if let (true, Some(delay)) = (may_retry, delay) {
            renewal.retries += 1;
            self.renewal = Some(renewal);
            self.sleep_cause = Some(error.code().into());
            return Step::Sleep(delay);
        }
        let deadline = renewal.deadline;
        let time_left = now < deadline;
        match renewal.phase {
            Phase::Discovery { mut rest }
                if time_left && !rest.is_empty() && matches!(error.status(), Some(400..=499)) =>
            {
                let next = rest.remove(0);
                let phase = Phase::Discovery { rest };
                self.begin(now, deadline, phase, discovery_request(next));
                self.send_step()
            }
            Phase::Refresh { refresh_token } => {
                let spent = self.cache.refresh_failed(&error, refresh_token);
                if spent && time_left && self.original_grant(now, deadline) {
                    self.send_step()
                } else if spent && Grant::original(&self.config).is_none() {
                    // Only a user can replace a spent device grant.
                    self.finish(now, Err(TokenError::AuthorizationRequired), random)
                } else {
                    self.finish(now, Err(error), random)
                }
            }
            _ => self.finish(now, Err(error), random),
        }
    }

    fn finish(&mut self, now: u64, result: Result<Token, TokenError>, random: f64) -> Step<'_> {
        self.renewal = None;
        Step::Done(self.cache.complete(now, result, random))
    }
}
