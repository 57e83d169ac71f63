//! The token cache as a pure state machine. It never performs I/O and never reads a clock:
//! the adapter asks [`TokenCache::lookup`] what to do at `now`, sends a request when told to,
//! and reports the outcome with [`TokenCache::complete`].
//!
//! For a token that expires at `E`, with the refresh-ahead `A` and margin `M`:
//!
//! ```text
//!   issued ......... E-A ............ E-M ............ E ........
//!   |   fresh: serve  | serve + one    | wait for a new | gone
//!   |   from memory   | background     | token (serve   |
//!   |                 | refresh        | if stale-ok)   |
//! ```
//!
//! `A` and `M` shrink for short tokens (`A ≤ L/2`, `M ≤ L/4` of the lifetime `L`), so every
//! token serves at least half its lifetime. At most one request is in flight at a time, and
//! every waiter shares it.

use crate::config::Timing;
use crate::error::TokenError;
use crate::response::Token;
use crate::secret::{AccessToken, RefreshToken};

/// Counters a caller can read with `stats()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests sent to the token endpoint (retries included).
    pub token_requests: u64,
    /// Calls answered from memory without waiting.
    pub cache_hits: u64,
    /// New tokens that replaced an earlier one.
    pub refreshes: u64,
    /// Renewals that ended in an error.
    pub failures: u64,
}

/// What the caller of [`TokenCache::lookup`] must do.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// Hand out this token now; when `start_refresh` is set, also start a background refresh.
    Serve {
        /// The token to hand out.
        token: &'a Token,
        /// Until when the token may be handed out with no call into the cache at all.
        fresh_until: u64,
        /// Start the (single) background refresh.
        start_refresh: bool,
    },
    /// Wait for the request in flight; when `start` is set, start it first. The caller is now
    /// counted as a waiter until [`TokenCache::complete`] or [`TokenCache::leave`].
    Wait {
        /// Start the request.
        start: bool,
    },
    /// The last renewal failed and the client is cooling down: answer at once with `error`,
    /// sending nothing.
    CoolingDown {
        /// The error the last renewal ended with.
        error: &'a TokenError,
        /// How long the cooldown still lasts, in ms (at least 1).
        retry_after_ms: u64,
    },
}

/// What to do after an API refused a token (a 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Get a token again (the refused one is dropped, or was already) and retry once.
    Renew,
    /// The token had replaced a refused one and was refused too: hand the refusal to the
    /// caller; no renewal until the cooldown is over.
    PassBack,
}

/// What the waiters of a finished request get.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// A new token.
    Fresh {
        /// The token.
        token: &'a Token,
        /// As in [`Lookup::Serve`].
        fresh_until: u64,
    },
    /// The renewal failed, but the previous token is still valid: it keeps serving.
    Stale {
        /// The token.
        token: &'a Token,
        /// As in [`Lookup::Serve`] (already past: the JS side will not cache it).
        fresh_until: u64,
    },
    /// The renewal failed and there is no valid token.
    Failed {
        /// Why.
        error: TokenError,
        /// The cooldown that now starts, in ms: no token request before it ends.
        retry_after_ms: u64,
    },
}

/// The longest cooldown, whatever `Retry-After` asks for (msal's throttling cap).
pub const COOLDOWN_CAP_MS: u64 = 3_600_000;
/// The first backoff step of the cooldown without `Retry-After`; it doubles while failures
/// continue.
pub const COOLDOWN_BASE_MS: u64 = 1_000;
/// The largest backoff step.
pub const COOLDOWN_STEP_CAP_MS: u64 = 60_000;

/// The cooldown after the `strikes`-th failure in a row: the server's `Retry-After` when it
/// sent one (at least the first step), else a step from 1 s doubling to 60 s, each wait
/// uniformly between half and all of its step (`random` in `[0, 1)`).
pub fn cooldown_ms(strikes: u32, retry_after_ms: Option<u64>, random: f64) -> u64 {
    if let Some(wait) = retry_after_ms {
        return wait.clamp(COOLDOWN_BASE_MS, COOLDOWN_CAP_MS);
    }
    let step = COOLDOWN_BASE_MS
        .saturating_mul(1 << strikes.saturating_sub(1).min(16))
        .min(COOLDOWN_STEP_CAP_MS);
    step / 2 + (random.clamp(0.0, 1.0) * (step / 2) as f64) as u64
}

#[derive(Debug)]
struct Flight {
    waiters: usize,
    background: bool,
}

/// Cached token, the request in flight, and counters.
#[derive(Debug)]
pub struct TokenCache {
    timing: Timing,
    token: Option<Token>,
    flight: Option<Flight>,
    /// The newest refresh token. It outlives the access token (`invalidate` keeps it) and is
    /// replaced when the server rotates it, so an old one is never sent again.
    refresh_token: Option<RefreshToken>,
    /// The last renewal failed while the token was still valid: serve it up to its expiry.
    stale_ok: bool,
    had_token: bool,
    stats: Stats,
    /// No token request before this time (ms since epoch): the cooldown after a failure.
    cooldown_until: u64,
    /// Failures in a row (renewals, and replacement tokens an API refused), for the backoff.
    strikes: u32,
    /// The error of the last failed renewal, answered during its cooldown.
    last_error: Option<TokenError>,
    /// The renewal under way (or due) replaces a token an API refused.
    renewing_refused: bool,
    /// The current token replaced a refused one, and no API has accepted it yet: a refusal
    /// of it is not answered with another renewal until the cooldown is over.
    unproven_replacement: bool,
    /// A refusal of the unproven replacement has started a cooldown already.
    replacement_penalized: bool,
    /// The access token last dropped, never served again: kept only so that a server echoing
    /// it in an error cannot put it in front of a caller.
    retired_access_token: Option<AccessToken>,
}

impl TokenCache {
    /// An empty cache.
    pub fn new(timing: Timing) -> Self {
        Self {
            timing,
            token: None,
            flight: None,
            refresh_token: None,
            stale_ok: false,
            had_token: false,
            stats: Stats::default(),
            cooldown_until: 0,
            strikes: 0,
            last_error: None,
            renewing_refused: false,
            unproven_replacement: false,
            replacement_penalized: false,
            retired_access_token: None,
        }
    }

    /// Drops the cached token, remembering its access token for redaction only.
    fn drop_token(&mut self) {
        if let Some(token) = self.token.take() {
            self.retired_access_token = Some(token.access_token);
        }
    }

    /// The access tokens the client holds or last held: what a server's error text must not
    /// carry on.
    pub fn access_tokens(&self) -> impl Iterator<Item = &AccessToken> {
        let current = self.token.as_ref().map(|t| &t.access_token);
        current
            .into_iter()
            .chain(self.retired_access_token.as_ref())
    }

    /// The error the last failed renewal ended with, while it is the latest news.
    pub fn last_error(&self) -> Option<&TokenError> {
        self.last_error.as_ref()
    }

    /// How long the cooldown still lasts at `now`, in ms; `None` when there is none.
    pub fn cooldown_left(&self, now: u64) -> Option<u64> {
        (now < self.cooldown_until).then(|| self.cooldown_until - now)
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Counts one HTTP request sent to the token endpoint.
    pub fn note_request(&mut self) {
        self.stats.token_requests += 1;
    }

    /// The cached token, if any (whatever its age).
    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    /// Until when `token` may be handed out without any other work.
    pub fn fresh_until(&self, token: &Token) -> u64 {
        self.thresholds(token).0
    }

    /// Forgets the request in flight without an outcome: every waiter left, and the adapter
    /// cancelled it. The next lookup starts a new one.
    pub fn cancel_flight(&mut self) {
        self.flight = None;
    }

    /// `(fresh_until, serve_until)` for a token, with the short-token shrinking applied.
    fn thresholds(&self, token: &Token) -> (u64, u64) {
        let lifetime = token.expires_at_ms.saturating_sub(token.issued_at_ms);
        let ahead = self.timing.refresh_ahead_ms.min(lifetime / 2);
        let margin = self.timing.expiry_margin_ms.min(lifetime / 4);
        let serve_until = token.expires_at_ms - margin;
        ((token.expires_at_ms - ahead).min(serve_until), serve_until)
    }

    /// The token, if it is fresh at `now` (no refresh due): a cache hit with no other effect.
    /// Callers that get `None` ask [`lookup`](Self::lookup).
    pub fn fresh(&mut self, now: u64) -> Option<&Token> {
        let token = self.token.as_ref()?;
        if now >= self.thresholds(token).0 {
            return None;
        }
        self.stats.cache_hits += 1;
        Some(token)
    }

    /// Decides what a caller asking for a token at `now` gets.
    pub fn lookup(&mut self, now: u64) -> Lookup<'_> {
        let Some(token) = self.token.as_ref() else {
            return self.join_flight(now);
        };
        let (fresh_until, serve_until) = self.thresholds(token);
        let stale_ok = self.stale_ok && now < token.expires_at_ms;
        if now < serve_until || stale_ok {
            let start_refresh =
                now >= fresh_until && self.flight.is_none() && now >= self.cooldown_until;
            if start_refresh {
                self.flight = Some(Flight {
                    waiters: 0,
                    background: true,
                });
            }
            self.stats.cache_hits += 1;
            return Lookup::Serve {
                token: self.token.as_ref().expect("checked above"),
                fresh_until,
                start_refresh,
            };
        }
        if now >= token.expires_at_ms {
            self.drop_token();
            self.stale_ok = false;
        }
        self.join_flight(now)
    }

    fn join_flight(&mut self, now: u64) -> Lookup<'_> {
        if let (None, Some(error), Some(left)) =
            (&self.flight, &self.last_error, self.cooldown_left(now))
        {
            return Lookup::CoolingDown {
                error,
                retry_after_ms: left,
            };
        }
        let start = self.flight.is_none();
        let flight = self.flight.get_or_insert(Flight {
            waiters: 0,
            background: false,
        });
        flight.waiters += 1;
        Lookup::Wait { start }
    }

    /// A waiter stopped waiting (its signal aborted). Returns true when the request should be
    /// cancelled: nobody waits for it any more and it is not a background refresh.
    pub fn leave(&mut self) -> bool {
        match self.flight.as_mut() {
            Some(flight) => {
                flight.waiters = flight.waiters.saturating_sub(1);
                flight.waiters == 0 && !flight.background
            }
            None => false,
        }
    }

    /// Whether a request is in flight.
    pub fn in_flight(&self) -> bool {
        self.flight.is_some()
    }

    /// Records the end of the request in flight and says what its waiters get. `random` is
    /// uniform in `[0, 1)`, for the cooldown's jitter after a failure.
    pub fn complete(
        &mut self,
        now: u64,
        mut result: Result<Token, TokenError>,
        random: f64,
    ) -> Outcome<'_> {
        self.flight = None;
        if let Ok(token) = result.as_mut() {
            // Kept even when the access token came too late: the server has rotated it.
            if let Some(rotated) = token.refresh_token.take() {
                self.refresh_token = Some(rotated);
            }
        }
        match result {
            Ok(token) if now < token.expires_at_ms => {
                if self.had_token {
                    self.stats.refreshes += 1;
                }
                self.had_token = true;
                self.stale_ok = false;
                self.cooldown_until = 0;
                self.last_error = None;
                // A replacement for a refused token proves nothing until an API accepts it.
                self.unproven_replacement = core::mem::take(&mut self.renewing_refused);
                self.replacement_penalized = false;
                if !self.unproven_replacement {
                    self.strikes = 0;
                }
                let fresh_until = self.fresh_until(&token);
                Outcome::Fresh {
                    token: self.token.insert(token),
                    fresh_until,
                }
            }
            Ok(_) => self.fail(now, expired_on_arrival(), random),
            Err(error) => self.fail(now, error, random),
        }
    }

    fn fail(&mut self, now: u64, error: TokenError, random: f64) -> Outcome<'_> {
        self.stats.failures += 1;
        self.strikes += 1;
        let cooldown = cooldown_ms(self.strikes, error.retry_after_ms(), random);
        self.cooldown_until = now.saturating_add(cooldown);
        self.stale_ok = self.token.as_ref().is_some_and(|t| now < t.expires_at_ms);
        if !self.stale_ok {
            self.drop_token();
        }
        match self.token.as_ref() {
            Some(token) => {
                self.last_error = Some(error);
                Outcome::Stale {
                    fresh_until: self.fresh_until(token),
                    token,
                }
            }
            None => {
                self.last_error = Some(error.clone());
                Outcome::Failed {
                    error,
                    retry_after_ms: cooldown,
                }
            }
        }
    }

    /// Takes a token obtained elsewhere (a Worker's token broker, or its own storage) unless
    /// the one held lasts as long: no request is counted and no cooldown is kept, as after a
    /// renewal. A refresh token comes along only to a cache that has none.
    pub fn adopt(&mut self, token: Token, refresh_token: Option<RefreshToken>) {
        if refresh_token.is_some() && self.refresh_token.is_none() {
            self.refresh_token = refresh_token;
        }
        if self
            .token
            .as_ref()
            .is_some_and(|held| held.expires_at_ms >= token.expires_at_ms)
        {
            return;
        }
        self.drop_token();
        self.token = Some(token);
        self.had_token = true;
        self.stale_ok = false;
        self.cooldown_until = 0;
        self.strikes = 0;
        self.last_error = None;
    }

    /// The refresh token, if the server gave one.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// Takes the refresh token to renew with. While its request is out, no other renewal can
    /// send it; [`complete`](Self::complete) stores the rotated one, and
    /// [`refresh_failed`](Self::refresh_failed) decides whether it comes back.
    pub fn take_refresh_token(&mut self) -> Option<RefreshToken> {
        self.refresh_token.take()
    }

    /// The refresh with `token` failed with `error`. Returns true when the token is spent and
    /// the original grant must be used, once, right away: the server refused it with an answer
    /// that is not retried (any 4xx but 408 and 429, whatever its body: servers answer an
    /// expired or revoked refresh token with `invalid_grant`, `invalid_request` or nothing at
    /// all), or it may have reached the server unanswered (timeout, network error, abort), when
    /// sending it again could trip reuse detection. Any other answer (a 5xx after the retries,
    /// say) leaves it unused: it is kept, and the error goes to the callers.
    pub fn refresh_failed(&mut self, error: &TokenError, token: RefreshToken) -> bool {
        let refused = error.code() == "invalid_grant"
            || (!error.retryable() && matches!(error.status(), Some(400..=499)));
        let spent = refused
            || matches!(
                error,
                TokenError::Network(_) | TokenError::Timeout { .. } | TokenError::Aborted
            );
        if !spent && self.refresh_token.is_none() {
            self.refresh_token = Some(token);
        }
        spent
    }

    /// An API refused `access_token` at `now` (a 401, or InfoLink's expired-token answer).
    /// A token is renewed at most once per refusal: when it is current it is dropped and
    /// renewed, unless it replaced a refused token itself and no API has accepted it since.
    /// That counts as a failure, with a cooldown, and the refusal goes back to the caller;
    /// after the cooldown one more renewal is tried. Many callers refused with the same token
    /// so cause one renewal, not one each. `random` is for the cooldown's jitter.
    pub fn token_refused(&mut self, now: u64, access_token: &str, random: f64) -> Refusal {
        let current = self
            .token
            .as_ref()
            .is_some_and(|t| t.access_token.expose() == access_token);
        if !current {
            return Refusal::Renew;
        }
        if self.unproven_replacement {
            if now < self.cooldown_until {
                return Refusal::PassBack;
            }
            if !self.replacement_penalized {
                self.replacement_penalized = true;
                self.stats.failures += 1;
                self.strikes += 1;
                self.cooldown_until = now.saturating_add(cooldown_ms(self.strikes, None, random));
                // What callers get if they ask for a new token during the cooldown.
                self.last_error = Some(TokenError::TokenRefused);
                return Refusal::PassBack;
            }
        }
        self.invalidate();
        self.renewing_refused = true;
        Refusal::Renew
    }

    /// An API accepted `access_token`: a replacement for a refused token is proven good, and
    /// the failures in a row end. Cheap to ask first: [`awaits_acceptance`](Self::awaits_acceptance).
    pub fn token_accepted(&mut self, access_token: &str) {
        let current = self
            .token
            .as_ref()
            .is_some_and(|t| t.access_token.expose() == access_token);
        if current && self.unproven_replacement {
            self.unproven_replacement = false;
            self.strikes = 0;
        }
    }

    /// Whether the current token replaced a refused one and waits for an API to accept it.
    pub fn awaits_acceptance(&self) -> bool {
        self.unproven_replacement
    }

    /// Drops the cached token (after a 401, say); the refresh token stays. A request in flight
    /// carries on, and its token is kept when it arrives.
    pub fn invalidate(&mut self) {
        self.drop_token();
        self.stale_ok = false;
        self.unproven_replacement = false;
        self.replacement_penalized = false;
    }
}

fn expired_on_arrival() -> TokenError {
    TokenError::InvalidResponse {
        status: 200,
        content_type: "application/json".into(),
        reason: "the token had already expired when it arrived".into(),
        retry_after_ms: None,
    }
}
