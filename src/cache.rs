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
use crate::secret::RefreshToken;

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
    Failed(TokenError),
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
        }
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
            return self.join_flight();
        };
        let (fresh_until, serve_until) = self.thresholds(token);
        let stale_ok = self.stale_ok && now < token.expires_at_ms;
        if now < serve_until || stale_ok {
            let start_refresh = now >= fresh_until && self.flight.is_none();
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
            self.token = None;
            self.stale_ok = false;
        }
        self.join_flight()
    }

    fn join_flight(&mut self) -> Lookup<'_> {
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

    /// Records the end of the request in flight and says what its waiters get.
    pub fn complete(&mut self, now: u64, mut result: Result<Token, TokenError>) -> Outcome<'_> {
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
                let fresh_until = self.fresh_until(&token);
                Outcome::Fresh {
                    token: self.token.insert(token),
                    fresh_until,
                }
            }
            Ok(_) => self.fail(now, expired_on_arrival()),
            Err(error) => self.fail(now, error),
        }
    }

    fn fail(&mut self, now: u64, error: TokenError) -> Outcome<'_> {
        self.stats.failures += 1;
        self.stale_ok = self.token.as_ref().is_some_and(|t| now < t.expires_at_ms);
        if !self.stale_ok {
            self.token = None;
        }
        match self.token.as_ref() {
            Some(token) => Outcome::Stale {
                fresh_until: self.fresh_until(token),
                token,
            },
            None => Outcome::Failed(error),
        }
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
    /// the original grant must be used, once, right away: the server refused it
    /// (`invalid_grant`: expired or revoked), or it may have reached the server unanswered
    /// (timeout, network error, abort), when sending it again could trip reuse detection. Any
    /// other answer leaves it unused: it is kept, and the error goes to the callers.
    pub fn refresh_failed(&mut self, error: &TokenError, token: RefreshToken) -> bool {
        let spent = error.code() == "invalid_grant"
            || matches!(
                error,
                TokenError::Network(_) | TokenError::Timeout { .. } | TokenError::Aborted
            );
        if !spent && self.refresh_token.is_none() {
            self.refresh_token = Some(token);
        }
        spent
    }

    /// Drops the cached token if it is still `access_token` (the one an API just refused).
    /// Many callers refused with the same token so cause one renewal, not one each.
    pub fn invalidate_token(&mut self, access_token: &str) -> bool {
        let current = self
            .token
            .as_ref()
            .is_some_and(|t| t.access_token.expose() == access_token);
        if current {
            self.invalidate();
        }
        current
    }

    /// Drops the cached token (after a 401, say); the refresh token stays. A request in flight
    /// carries on, and its token is kept when it arrives.
    pub fn invalidate(&mut self) {
        self.token = None;
        self.stale_ok = false;
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
