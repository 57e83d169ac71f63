//! The cache state machine with a fake clock: every `now` is picked by the test.
//!
//! With the default timing (refresh ahead 60 s, margin 10 s) a one-hour token issued at T0
//! and expiring at E = T0 + 3600 s is fresh until E - 60 s, served with a background refresh
//! until E - 10 s, then waited for.

mod common;

use common::{complete, look, token, token_with, Done, Look, ACCESS_TOKEN, REFRESH_TOKEN, T0};
use edge_oauth::cache::{Lookup, Outcome, Refusal, Stats, TokenCache};
use edge_oauth::config::Timing;
use edge_oauth::TokenError;

const HOUR: u64 = 3_600_000;
const E: u64 = T0 + HOUR;
const FRESH_UNTIL: u64 = E - 60_000;
const SERVE_UNTIL: u64 = E - 10_000;

fn network() -> TokenError {
    TokenError::Network("connection reset".into())
}

fn serve(expires_at: u64, fresh_until: u64, start_refresh: bool) -> Look {
    Look::Serve {
        expires_at,
        fresh_until,
        start_refresh,
    }
}

const WAIT_START: Look = Look::Wait { start: true };
const WAIT_JOIN: Look = Look::Wait { start: false };

/// A cache holding the one-hour token, fetched by one foreground flight at T0.
fn warm_cache() -> TokenCache {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    cache.note_request();
    assert_eq!(
        complete(&mut cache, T0 + 200, Ok(token(T0, E))),
        Done::Fresh {
            expires_at: E,
            fresh_until: FRESH_UNTIL
        }
    );
    assert!(!cache.in_flight());
    cache
}

#[test]
fn cold_cache_waits_and_starts_one_request() {
    let mut cache = TokenCache::new(Timing::default());
    assert!(cache.token().is_none());
    assert!(!cache.in_flight());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    assert!(cache.in_flight());
    assert_eq!(look(&mut cache, T0 + 1), WAIT_JOIN);
    assert_eq!(cache.stats(), Stats::default(), "waits are not cache hits");
}

#[test]
fn fresh_token_is_served_without_io() {
    let mut cache = warm_cache();
    for now in [T0 + 200, T0 + 1_000, T0 + HOUR / 2, FRESH_UNTIL - 1] {
        assert_eq!(
            look(&mut cache, now),
            serve(E, FRESH_UNTIL, false),
            "at {now}"
        );
        assert!(!cache.in_flight(), "no request at {now}");
    }
    assert_eq!(cache.stats().cache_hits, 4);
    assert_eq!(cache.fresh_until(cache.token().unwrap()), FRESH_UNTIL);
}

#[test]
fn refresh_ahead_window_starts_exactly_one_background_refresh() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, FRESH_UNTIL), serve(E, FRESH_UNTIL, true));
    assert!(cache.in_flight());
    // Later callers in the window are served and start nothing while the flight runs.
    for now in [FRESH_UNTIL, FRESH_UNTIL + 1, E - 30_000, SERVE_UNTIL - 1] {
        assert_eq!(
            look(&mut cache, now),
            serve(E, FRESH_UNTIL, false),
            "at {now}"
        );
    }
    // The new token replaces the old one.
    let e2 = FRESH_UNTIL + 300 + HOUR;
    assert_eq!(
        complete(
            &mut cache,
            FRESH_UNTIL + 400,
            Ok(token(FRESH_UNTIL + 300, e2))
        ),
        Done::Fresh {
            expires_at: e2,
            fresh_until: e2 - 60_000
        }
    );
    assert!(!cache.in_flight());
    assert_eq!(look(&mut cache, SERVE_UNTIL), serve(e2, e2 - 60_000, false));
    assert_eq!(cache.stats().refreshes, 1);
}

#[test]
fn refresh_ahead_many_callers_one_start() {
    let mut cache = warm_cache();
    let starts = (0..1000)
        .filter(|i| {
            matches!(
                look(&mut cache, FRESH_UNTIL + i * 10),
                Look::Serve {
                    start_refresh: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(starts, 1);
    assert_eq!(cache.stats().cache_hits, 1000);
}

#[test]
fn past_the_margin_callers_wait_on_a_single_flight() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_START);
    assert!(cache.in_flight());
    assert_eq!(look(&mut cache, SERVE_UNTIL + 1), WAIT_JOIN);
    assert_eq!(look(&mut cache, E - 1), WAIT_JOIN);
    // The old token is still held (it may yet be needed) but never served past the margin.
    assert_eq!(cache.token().unwrap().expires_at_ms, E);
}

#[test]
fn expired_token_single_flight_for_1000_callers() {
    let mut cache = warm_cache();
    let looks: Vec<Look> = (0..1000).map(|i| look(&mut cache, E + i)).collect();
    assert_eq!(looks[0], WAIT_START);
    assert!(looks[1..].iter().all(|l| *l == WAIT_JOIN));
    assert_eq!(looks.iter().filter(|l| **l == WAIT_START).count(), 1);
    assert!(cache.token().is_none(), "an expired token is dropped");
    let e2 = E + 2_000 + HOUR;
    assert_eq!(
        complete(&mut cache, E + 2_500, Ok(token(E + 2_000, e2))),
        Done::Fresh {
            expires_at: e2,
            fresh_until: e2 - 60_000
        }
    );
    assert_eq!(look(&mut cache, E + 3_000), serve(e2, e2 - 60_000, false));
}

#[test]
fn cold_cache_1000_lookups_one_start() {
    let mut cache = TokenCache::new(Timing::default());
    let starts = (0..1000)
        .filter(|_| look(&mut cache, T0) == WAIT_START)
        .count();
    assert_eq!(starts, 1);
    // All 1000 are waiters: 999 leaving does not cancel, the last one does.
    for _ in 0..999 {
        assert!(!cache.leave());
    }
    assert!(cache.leave());
}

#[test]
fn a_waiter_joins_a_running_background_refresh() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, FRESH_UNTIL), serve(E, FRESH_UNTIL, true));
    // Past the margin, with the background flight still running: wait for it, start nothing.
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_JOIN);
    assert_eq!(look(&mut cache, E + 5), WAIT_JOIN);
}

#[test]
fn five_second_token_serves_at_least_half_its_life() {
    // L = 5 s: refresh ahead shrinks to 2.5 s, the margin to 1.25 s.
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    let e = T0 + 5_000;
    assert_eq!(
        complete(&mut cache, T0 + 100, Ok(token(T0, e))),
        Done::Fresh {
            expires_at: e,
            fresh_until: T0 + 2_500
        }
    );
    for now in (T0 + 100..T0 + 2_500).step_by(100).chain([T0 + 2_499]) {
        assert_eq!(
            look(&mut cache, now),
            serve(e, T0 + 2_500, false),
            "at {now}"
        );
    }
    assert!(!cache.in_flight());
    assert_eq!(look(&mut cache, T0 + 2_500), serve(e, T0 + 2_500, true));
    assert_eq!(look(&mut cache, T0 + 3_749), serve(e, T0 + 2_500, false));
    assert_eq!(look(&mut cache, T0 + 3_750), WAIT_JOIN);
}

#[test]
fn two_second_token_thresholds() {
    let mut cache = TokenCache::new(Timing::default());
    let short = token(T0, T0 + 2_000);
    assert_eq!(cache.fresh_until(&short), T0 + 1_000);
    assert_eq!(look(&mut cache, T0), WAIT_START);
    assert!(matches!(
        complete(&mut cache, T0 + 50, Ok(short)),
        Done::Fresh {
            fresh_until,
            ..
        } if fresh_until == T0 + 1_000
    ));
    assert_eq!(
        look(&mut cache, T0 + 999),
        serve(T0 + 2_000, T0 + 1_000, false)
    );
    assert_eq!(
        look(&mut cache, T0 + 1_000),
        serve(T0 + 2_000, T0 + 1_000, true)
    );
    assert_eq!(
        look(&mut cache, T0 + 1_499),
        serve(T0 + 2_000, T0 + 1_000, false)
    );
    assert_eq!(look(&mut cache, T0 + 1_500), WAIT_JOIN);
}

#[test]
fn custom_timing_is_used_for_long_tokens() {
    let timing = Timing {
        refresh_ahead_ms: 120_000,
        expiry_margin_ms: 30_000,
        default_expires_in_ms: 300_000,
    };
    let mut cache = TokenCache::new(timing);
    assert_eq!(look(&mut cache, T0), WAIT_START);
    complete(&mut cache, T0, Ok(token(T0, E)));
    assert_eq!(look(&mut cache, E - 120_001), serve(E, E - 120_000, false));
    assert_eq!(look(&mut cache, E - 120_000), serve(E, E - 120_000, true));
    assert_eq!(look(&mut cache, E - 30_001), serve(E, E - 120_000, false));
    assert_eq!(look(&mut cache, E - 30_000), WAIT_JOIN);
}

#[test]
fn zero_refresh_ahead_never_refreshes_in_the_background() {
    let timing = Timing {
        refresh_ahead_ms: 0,
        ..Timing::default()
    };
    let mut cache = TokenCache::new(timing);
    assert_eq!(look(&mut cache, T0), WAIT_START);
    complete(&mut cache, T0, Ok(token(T0, E)));
    assert_eq!(
        look(&mut cache, SERVE_UNTIL - 1),
        serve(E, SERVE_UNTIL, false)
    );
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_START);
}

#[test]
fn stale_if_error_before_expiry() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, FRESH_UNTIL), serve(E, FRESH_UNTIL, true));
    assert_eq!(
        complete(&mut cache, FRESH_UNTIL + 500, Err(network())),
        Done::Stale {
            expires_at: E,
            fresh_until: FRESH_UNTIL
        }
    );
    assert!(!cache.in_flight());
    assert_eq!(cache.stats().failures, 1);
    // Past the margin the old token keeps serving up to its expiry, and a new refresh starts.
    assert_eq!(
        look(&mut cache, SERVE_UNTIL + 1),
        serve(E, FRESH_UNTIL, true)
    );
    assert_eq!(look(&mut cache, E - 1), serve(E, FRESH_UNTIL, false));
    // That refresh fails too, still before expiry: stale again.
    assert_eq!(
        complete(&mut cache, E - 1, Err(network())),
        Done::Stale {
            expires_at: E,
            fresh_until: FRESH_UNTIL
        }
    );
    // Never a token at or past expires_at; the second failure's cooldown (1–2 s) runs.
    assert_eq!(
        look(&mut cache, E),
        Look::CoolingDown {
            code: "network".into(),
            retry_after_ms: 1_499
        }
    );
    assert!(cache.token().is_none());
    assert_eq!(look(&mut cache, E - 1 + 1_500), WAIT_START);
}

#[test]
fn foreground_failure_before_expiry_serves_stale() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_START);
    assert_eq!(look(&mut cache, SERVE_UNTIL + 10), WAIT_JOIN);
    assert_eq!(
        complete(&mut cache, SERVE_UNTIL + 20, Err(network())),
        Done::Stale {
            expires_at: E,
            fresh_until: FRESH_UNTIL
        }
    );
}

#[test]
fn failure_after_expiry_fails_and_never_serves_the_old_token() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_START);
    // The request outlives the token.
    assert_eq!(
        complete(
            &mut cache,
            E,
            Err(TokenError::Timeout { timeout_ms: 10_000 })
        ),
        Done::Failed("timeout".into())
    );
    assert!(cache.token().is_none());
    assert_eq!(
        look(&mut cache, E + 1),
        Look::CoolingDown {
            code: "timeout".into(),
            retry_after_ms: 749
        }
    );
    assert_eq!(look(&mut cache, E + 750), WAIT_START);
}

#[test]
fn stale_token_is_not_served_after_expiry_even_after_a_stale_outcome() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_START);
    assert!(matches!(
        complete(&mut cache, SERVE_UNTIL + 1, Err(network())),
        Done::Stale { .. }
    ));
    assert_eq!(look(&mut cache, E - 1), serve(E, FRESH_UNTIL, true));
    // The flight started at E - 1 fails after expiry: its waiters get the error.
    assert_eq!(look(&mut cache, E), WAIT_JOIN);
    assert_eq!(
        complete(&mut cache, E + 5, Err(network())),
        Done::Failed("network".into())
    );
    assert!(cache.token().is_none());
}

#[test]
fn failure_does_not_poison_the_cache() {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    let error = TokenError::Server {
        error: "invalid_client".into(),
        description: None,
        uri: None,
        status: 401,
        retry_after_ms: None,
    };
    assert_eq!(
        complete(&mut cache, T0 + 10, Err(error)),
        Done::Failed("invalid_client".into())
    );
    assert!(!cache.in_flight());
    assert!(matches!(
        look(&mut cache, T0 + 11),
        Look::CoolingDown { .. }
    ));
    assert_eq!(look(&mut cache, T0 + 10 + 750), WAIT_START);
    assert_eq!(
        complete(&mut cache, T0 + 20, Ok(token(T0 + 11, T0 + 11 + HOUR))),
        Done::Fresh {
            expires_at: T0 + 11 + HOUR,
            fresh_until: T0 + 11 + HOUR - 60_000
        }
    );
    assert_eq!(
        cache.stats(),
        Stats {
            token_requests: 0,
            cache_hits: 0,
            refreshes: 0,
            failures: 1
        }
    );
}

#[test]
fn the_failed_outcome_carries_the_error() {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    match cache.complete(T0 + 1, Err(TokenError::Network("dns failure".into())), 0.5) {
        Outcome::Failed {
            error,
            retry_after_ms,
        } => {
            assert_eq!(error, TokenError::Network("dns failure".into()));
            assert_eq!(
                retry_after_ms, 750,
                "the first cooldown: half to all of 1 s"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn last_waiter_leaving_cancels_a_foreground_flight() {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    assert_eq!(look(&mut cache, T0), WAIT_JOIN);
    assert_eq!(look(&mut cache, T0), WAIT_JOIN);
    assert!(!cache.leave());
    assert!(!cache.leave());
    assert!(cache.leave(), "the last waiter left");
    cache.cancel_flight();
    assert!(!cache.in_flight());
    assert_eq!(look(&mut cache, T0 + 1), WAIT_START);
}

#[test]
fn a_waiter_leaving_while_others_wait_does_not_cancel() {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    assert!(cache.leave());
    // Had the adapter not cancelled, a new waiter joins the same flight.
    assert_eq!(look(&mut cache, T0), WAIT_JOIN);
    assert_eq!(look(&mut cache, T0), WAIT_JOIN);
    assert!(!cache.leave());
    assert!(cache.in_flight());
}

#[test]
fn leaving_never_cancels_a_background_refresh() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, FRESH_UNTIL), serve(E, FRESH_UNTIL, true));
    assert!(!cache.leave(), "no waiters, background");
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_JOIN);
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_JOIN);
    assert!(!cache.leave());
    assert!(
        !cache.leave(),
        "the last waiter leaves a background flight running"
    );
    assert!(cache.in_flight());
}

#[test]
fn leave_without_a_flight() {
    let mut cache = warm_cache();
    assert!(!cache.leave());
}

#[test]
fn invalidate_drops_the_token() {
    let mut cache = warm_cache();
    cache.invalidate();
    assert!(cache.token().is_none());
    assert_eq!(look(&mut cache, T0 + 1_000), WAIT_START);
}

#[test]
fn invalidate_during_a_flight_keeps_the_arriving_token() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, FRESH_UNTIL), serve(E, FRESH_UNTIL, true));
    cache.invalidate();
    assert_eq!(
        look(&mut cache, FRESH_UNTIL + 1),
        WAIT_JOIN,
        "joins the running flight"
    );
    let e2 = FRESH_UNTIL + HOUR;
    assert!(matches!(
        complete(&mut cache, FRESH_UNTIL + 5, Ok(token(FRESH_UNTIL, e2))),
        Done::Fresh { expires_at, .. } if expires_at == e2
    ));
    assert_eq!(
        look(&mut cache, FRESH_UNTIL + 6),
        serve(e2, e2 - 60_000, false)
    );
}

#[test]
fn invalidate_ends_stale_serving() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_START);
    assert!(matches!(
        complete(&mut cache, SERVE_UNTIL, Err(network())),
        Done::Stale { .. }
    ));
    cache.invalidate();
    // Nothing to serve, and the cooldown holds: invalidate() does not bypass it.
    assert_eq!(
        look(&mut cache, SERVE_UNTIL + 1),
        Look::CoolingDown {
            code: "network".into(),
            retry_after_ms: 749
        }
    );
    assert_eq!(look(&mut cache, SERVE_UNTIL + 750), WAIT_START);
}

#[test]
fn stats_counters() {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    cache.note_request();
    cache.note_request(); // a retry
    complete(&mut cache, T0 + 100, Ok(token(T0, E)));
    for i in 0..5 {
        look(&mut cache, T0 + i);
    }
    // Background refresh: one request, a new token.
    assert_eq!(look(&mut cache, FRESH_UNTIL), serve(E, FRESH_UNTIL, true));
    cache.note_request();
    let e2 = FRESH_UNTIL + HOUR;
    complete(&mut cache, FRESH_UNTIL + 10, Ok(token(FRESH_UNTIL, e2)));
    // A failed background refresh.
    assert_eq!(look(&mut cache, e2 - 60_000), serve(e2, e2 - 60_000, true));
    cache.note_request();
    complete(&mut cache, e2 - 59_000, Err(network()));
    assert_eq!(
        cache.stats(),
        Stats {
            token_requests: 4,
            cache_hits: 7,
            refreshes: 1,
            failures: 1
        }
    );
}

#[test]
fn a_token_expired_on_arrival_is_a_failure() {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    match cache.complete(T0 + 5_000, Ok(token(T0, T0 + 5_000)), 0.5) {
        Outcome::Failed { error, .. } => {
            assert_eq!(error.code(), "invalid_response");
            assert_eq!(error.status(), Some(200));
            assert!(!error.retryable());
            assert_eq!(
                error.to_string(),
                "unusable token response (status 200, content type 'application/json'): the token had already expired when it arrived"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(cache.token().is_none());
    assert_eq!(cache.stats().failures, 1);
    assert_eq!(look(&mut cache, T0 + 5_750), WAIT_START);
}

#[test]
fn a_token_expired_on_arrival_keeps_a_valid_old_token() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_START);
    assert_eq!(
        complete(&mut cache, SERVE_UNTIL + 1, Ok(token(T0, SERVE_UNTIL))),
        Done::Stale {
            expires_at: E,
            fresh_until: FRESH_UNTIL
        }
    );
    assert_eq!(cache.token().unwrap().expires_at_ms, E);
}

#[test]
fn a_token_arriving_late_but_valid_is_fresh() {
    // Sent at T0, answered at T0 + 4 s with a 5 s lifetime: valid, handed to the waiters, and
    // the next caller starts a new request (it is past the shrunken margin).
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(look(&mut cache, T0), WAIT_START);
    assert_eq!(
        complete(&mut cache, T0 + 4_000, Ok(token(T0, T0 + 5_000))),
        Done::Fresh {
            expires_at: T0 + 5_000,
            fresh_until: T0 + 2_500
        }
    );
    assert_eq!(look(&mut cache, T0 + 4_001), WAIT_START);
}

#[test]
fn serve_hands_out_the_cached_token() {
    let mut cache = warm_cache();
    match cache.lookup(T0 + 1) {
        Lookup::Serve { token, .. } => {
            assert_eq!(
                token.header_value(),
                format!("Bearer {}", common::ACCESS_TOKEN)
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---- Refresh tokens -----------------------------------------------------------------------

fn refresh_token_of(cache: &TokenCache) -> Option<&str> {
    cache.refresh_token().map(|t| t.expose())
}

fn server_error(code: &str, status: u16) -> TokenError {
    TokenError::Server {
        error: code.into(),
        description: Some("Credentials or token is invalid or expired".into()),
        uri: None,
        status,
        retry_after_ms: None,
    }
}

#[test]
fn a_cold_cache_has_no_refresh_token() {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(refresh_token_of(&cache), None);
    look(&mut cache, T0);
    complete(&mut cache, T0, Ok(token_with(T0, E, "A", None)));
    assert_eq!(refresh_token_of(&cache), None);
}

#[test]
fn the_refresh_token_is_kept_apart_from_the_served_token() {
    let mut cache = TokenCache::new(Timing::default());
    look(&mut cache, T0);
    match cache.complete(T0 + 200, Ok(token(T0, E)), 0.5) {
        Outcome::Fresh { token, .. } => {
            assert_eq!(token.access_token.expose(), ACCESS_TOKEN);
            assert!(
                token.refresh_token.is_none(),
                "waiters get no refresh token"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(refresh_token_of(&cache), Some(REFRESH_TOKEN));
    assert!(cache.token().unwrap().refresh_token.is_none());
    match cache.lookup(T0 + 300) {
        Lookup::Serve { token, .. } => assert!(token.refresh_token.is_none()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_token_without_a_refresh_token_keeps_the_previous_one() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, FRESH_UNTIL), serve(E, FRESH_UNTIL, true));
    let e2 = FRESH_UNTIL + HOUR;
    complete(
        &mut cache,
        FRESH_UNTIL + 5,
        Ok(token_with(FRESH_UNTIL, e2, "B", None)),
    );
    assert_eq!(cache.token().unwrap().access_token.expose(), "B");
    assert_eq!(refresh_token_of(&cache), Some(REFRESH_TOKEN));
}

#[test]
fn a_rotated_refresh_token_replaces_the_old_one() {
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, FRESH_UNTIL), serve(E, FRESH_UNTIL, true));
    let e2 = FRESH_UNTIL + HOUR;
    complete(
        &mut cache,
        FRESH_UNTIL + 5,
        Ok(token_with(FRESH_UNTIL, e2, "B", Some("REFRESH-rotated-2"))),
    );
    assert_eq!(refresh_token_of(&cache), Some("REFRESH-rotated-2"));
    // And again; then a token without one keeps the newest.
    cache.invalidate();
    look(&mut cache, FRESH_UNTIL + 10);
    complete(
        &mut cache,
        FRESH_UNTIL + 20,
        Ok(token_with(
            FRESH_UNTIL + 10,
            e2,
            "C",
            Some("REFRESH-rotated-3"),
        )),
    );
    cache.invalidate();
    look(&mut cache, FRESH_UNTIL + 30);
    complete(
        &mut cache,
        FRESH_UNTIL + 40,
        Ok(token_with(FRESH_UNTIL + 30, e2, "D", None)),
    );
    assert_eq!(refresh_token_of(&cache), Some("REFRESH-rotated-3"));
}

#[test]
fn a_rotated_refresh_token_on_a_token_expired_on_arrival_is_still_kept() {
    // The server has rotated the refresh token even though its access token came too late:
    // the old refresh token is dead and must not be sent again.
    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, SERVE_UNTIL), WAIT_START);
    assert_eq!(
        complete(
            &mut cache,
            SERVE_UNTIL + 1,
            Ok(token_with(T0, SERVE_UNTIL, "B", Some("REFRESH-rotated-2")))
        ),
        Done::Stale {
            expires_at: E,
            fresh_until: FRESH_UNTIL
        }
    );
    assert_eq!(refresh_token_of(&cache), Some("REFRESH-rotated-2"));
}

#[test]
fn invalidate_and_expiry_keep_the_refresh_token() {
    let mut cache = warm_cache();
    cache.invalidate();
    assert!(cache.token().is_none());
    assert_eq!(refresh_token_of(&cache), Some(REFRESH_TOKEN));

    let mut cache = warm_cache();
    assert_eq!(look(&mut cache, E + 1), WAIT_START);
    assert!(cache.token().is_none(), "the expired token is gone");
    assert_eq!(refresh_token_of(&cache), Some(REFRESH_TOKEN));
    // A failed renewal keeps it too.
    assert_eq!(
        complete(&mut cache, E + 2, Err(network())),
        Done::Failed("network".into())
    );
    assert_eq!(refresh_token_of(&cache), Some(REFRESH_TOKEN));
}

#[test]
fn a_refresh_token_is_taken_while_its_request_is_out() {
    let mut cache = warm_cache();
    let taken = cache.take_refresh_token().expect("the warm cache has one");
    assert_eq!(taken.expose(), REFRESH_TOKEN);
    assert!(
        cache.take_refresh_token().is_none(),
        "no second renewal can send it"
    );
    assert_eq!(refresh_token_of(&cache), None);
}

#[test]
fn a_refused_or_unanswered_refresh_spends_the_refresh_token() {
    let spent = [
        server_error("invalid_grant", 400),
        server_error("invalid_grant", 401),
        // Refused with another code, or with no usable body: servers answer an expired or
        // revoked refresh token in all these ways.
        server_error("invalid_client", 401),
        server_error("invalid_request", 400),
        server_error("unauthorized_client", 400),
        TokenError::InvalidResponse {
            status: 400,
            content_type: "".into(),
            reason: "the body is empty".into(),
            retry_after_ms: None,
        },
        network(),
        TokenError::Timeout { timeout_ms: 10_000 },
        TokenError::Aborted,
    ];
    for error in spent {
        let mut cache = warm_cache();
        let taken = cache.take_refresh_token().unwrap();
        assert!(cache.refresh_failed(&error, taken), "{error:?}");
        assert_eq!(refresh_token_of(&cache), None, "{error:?}");
        // The access token is not the refresh's business.
        assert_eq!(cache.token().unwrap().access_token.expose(), ACCESS_TOKEN);
    }
}

#[test]
fn answers_that_are_retried_leave_the_refresh_token_unused() {
    let errors = [
        server_error("server_error", 500),
        server_error("slow_down", 429),
        server_error("temporarily_unavailable", 503),
        TokenError::InvalidResponse {
            status: 500,
            content_type: "text/html".into(),
            reason: "the body is not a JSON object".into(),
            retry_after_ms: None,
        },
    ];
    for error in errors {
        let mut cache = warm_cache();
        let taken = cache.take_refresh_token().unwrap();
        assert!(!cache.refresh_failed(&error, taken), "{error:?}");
        assert_eq!(refresh_token_of(&cache), Some(REFRESH_TOKEN), "{error:?}");
    }
}

#[test]
fn a_refusal_drops_only_the_token_it_names() {
    let mut cache = warm_cache();
    for other in ["some-other-token", "", &format!("Bearer {ACCESS_TOKEN}")] {
        assert_eq!(cache.token_refused(T0 + 500, other, 0.5), Refusal::Renew);
    }
    assert_eq!(cache.token().unwrap().access_token.expose(), ACCESS_TOKEN);
    assert_eq!(
        look(&mut cache, T0 + 1_000),
        serve(E, FRESH_UNTIL, false),
        "still served"
    );

    assert_eq!(
        cache.token_refused(T0 + 1_000, ACCESS_TOKEN, 0.5),
        Refusal::Renew
    );
    assert!(cache.token().is_none());
    assert_eq!(refresh_token_of(&cache), Some(REFRESH_TOKEN));
    assert_eq!(look(&mut cache, T0 + 1_001), WAIT_START);
}

#[test]
fn a_refusal_on_an_empty_cache() {
    let mut cache = TokenCache::new(Timing::default());
    assert_eq!(cache.token_refused(T0, ACCESS_TOKEN, 0.5), Refusal::Renew);
    assert_eq!(look(&mut cache, T0), WAIT_START);
}

#[test]
fn two_401s_with_the_same_old_token_cause_one_renewal() {
    let mut cache = warm_cache();
    // Both callers were handed the token, and the API refused both.
    assert_eq!(look(&mut cache, T0 + 1_000), serve(E, FRESH_UNTIL, false));
    assert_eq!(look(&mut cache, T0 + 1_000), serve(E, FRESH_UNTIL, false));

    // The first drops it and renews.
    assert_eq!(
        cache.token_refused(T0 + 1_100, ACCESS_TOKEN, 0.5),
        Refusal::Renew
    );
    assert_eq!(look(&mut cache, T0 + 1_100), WAIT_START);
    // The second, while the renewal runs: nothing to drop, it joins the flight.
    assert_eq!(
        cache.token_refused(T0 + 1_150, ACCESS_TOKEN, 0.5),
        Refusal::Renew
    );
    assert_eq!(look(&mut cache, T0 + 1_150), WAIT_JOIN);
    let e2 = T0 + 1_100 + HOUR;
    complete(
        &mut cache,
        T0 + 1_200,
        Ok(token_with(T0 + 1_100, e2, "B", None)),
    );

    // A third, late with the same old token: the new token stays.
    assert_eq!(
        cache.token_refused(T0 + 1_300, ACCESS_TOKEN, 0.5),
        Refusal::Renew
    );
    assert_eq!(cache.token().unwrap().access_token.expose(), "B");
    assert_eq!(look(&mut cache, T0 + 1_300), serve(e2, e2 - 60_000, false));
    assert_eq!(cache.stats().refreshes, 1);
}

#[test]
fn a_refused_replacement_is_passed_back_until_a_doubling_cooldown_ends() {
    let mut cache = warm_cache();
    let mut now = T0 + 1_000;
    let mut renewals = 0;
    // An API that refuses every token: each replacement is refused too.
    for (name, cooldown) in [("B", 1_000), ("C", 2_000), ("D", 4_000)] {
        let refused = cache.token().unwrap().access_token.expose().to_owned();
        assert_eq!(cache.token_refused(now, &refused, 0.99), Refusal::Renew);
        assert_eq!(look(&mut cache, now), WAIT_START);
        renewals += 1;
        complete(&mut cache, now, Ok(token_with(now, now + HOUR, name, None)));
        assert!(cache.awaits_acceptance());
        // Refused too: a failure, with a cooldown; the token stays and the 401 goes back.
        assert_eq!(cache.token_refused(now + 10, name, 0.99), Refusal::PassBack);
        let failures = cache.stats().failures;
        for later in [now + 20, now + 10 + cooldown * 99 / 100 - 1] {
            assert_eq!(cache.token_refused(later, name, 0.99), Refusal::PassBack);
        }
        assert_eq!(cache.stats().failures, failures, "counted once");
        assert_eq!(cache.token().unwrap().access_token.expose(), name);
        now += 10 + cooldown;
    }
    assert_eq!(renewals, 3);
    assert_eq!(cache.stats().failures, 3);
    // The cooldown holds for every renewal: dropping the token does not bypass it.
    let during = now - 100;
    assert_eq!(cache.token_refused(during, "D", 0.99), Refusal::PassBack);
    cache.invalidate();
    assert!(matches!(
        look(&mut cache, during + 1),
        Look::CoolingDown { code, .. } if code == "invalid_token"
    ));
}

#[test]
fn an_accepted_replacement_is_renewed_again_on_a_later_refusal() {
    let mut cache = warm_cache();
    assert_eq!(
        cache.token_refused(T0 + 1_000, ACCESS_TOKEN, 0.5),
        Refusal::Renew
    );
    look(&mut cache, T0 + 1_000);
    complete(
        &mut cache,
        T0 + 1_100,
        Ok(token_with(T0 + 1_000, T0 + HOUR, "B", None)),
    );
    assert!(cache.awaits_acceptance());
    cache.token_accepted("other");
    assert!(cache.awaits_acceptance(), "another token proves nothing");
    cache.token_accepted("B");
    assert!(!cache.awaits_acceptance());
    // Revoked later: renewed at once.
    assert_eq!(cache.token_refused(T0 + 5_000, "B", 0.5), Refusal::Renew);
    assert!(cache.token().is_none());
    assert_eq!(cache.stats().failures, 0);
}
