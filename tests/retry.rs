//! The retry policy: what is retried, how many times, full-jitter backoff bounds and the
//! `Retry-After` wait (read by the adapters: `retryAfterMs` in `pkg-template/renewal.js` and
//! the Worker's `http.rs`, tested in `tests/e2e/resilience.test.mjs` and
//! `tests/e2e/worker.test.mjs`).

use edge_oauth::retry::{retry_delay, BACKOFF_BASE_MS, BACKOFF_CAP_MS, RETRY_AFTER_CAP_MS};
use edge_oauth::TokenError;

/// Just below 1.0, the largest `random` a `[0, 1)` source gives.
const ALMOST_ONE: f64 = 1.0 - f64::EPSILON;

fn server(status: u16, retry_after_ms: Option<u64>) -> TokenError {
    TokenError::Server {
        error: "temporarily_unavailable".into(),
        description: None,
        uri: None,
        status,
        retry_after_ms,
    }
}

fn invalid(status: u16, retry_after_ms: Option<u64>) -> TokenError {
    TokenError::InvalidResponse {
        status,
        content_type: "text/html".into(),
        reason: "the body is not a JSON object".into(),
        retry_after_ms,
    }
}

#[test]
fn constants() {
    assert_eq!(BACKOFF_BASE_MS, 250);
    assert_eq!(BACKOFF_CAP_MS, 10_000);
    assert_eq!(RETRY_AFTER_CAP_MS, 30_000);
}

#[test]
fn retryable_errors() {
    let retryable = [
        TokenError::Network("connection refused".into()),
        TokenError::Timeout { timeout_ms: 10_000 },
        server(408, None),
        server(429, None),
        server(500, None),
        server(502, None),
        server(503, None),
        server(599, None),
        invalid(408, None),
        invalid(429, None),
        invalid(500, None),
        invalid(504, None),
    ];
    for error in retryable {
        assert!(error.retryable(), "{error:?}");
        assert!(retry_delay(&error, 0, 2, 0.5).is_some(), "{error:?}");
    }
}

#[test]
fn errors_that_are_not_retried() {
    let not_retryable = [
        TokenError::config("tokenUrl", "tokenUrl is required"),
        TokenError::Aborted,
        server(200, None),
        server(400, None),
        server(401, None),
        server(403, None),
        server(404, None),
        server(409, None),
        server(499, None),
        invalid(200, None),
        invalid(301, None),
        invalid(400, None),
        invalid(401, None),
        invalid(600, None),
        // Retry-After does not make a 4xx retryable.
        server(400, Some(1_000)),
    ];
    for error in not_retryable {
        assert!(!error.retryable(), "{error:?}");
        assert_eq!(retry_delay(&error, 0, 10, 0.5), None, "{error:?}");
    }
}

#[test]
fn max_retries_is_honoured() {
    let error = TokenError::Network("reset".into());
    assert_eq!(retry_delay(&error, 0, 0, 0.5), None);
    assert!(retry_delay(&error, 0, 2, 0.5).is_some());
    assert!(retry_delay(&error, 1, 2, 0.5).is_some());
    assert_eq!(retry_delay(&error, 2, 2, 0.5), None);
    assert_eq!(retry_delay(&error, 3, 2, 0.5), None);
    let tries = (0..)
        .take_while(|&n| retry_delay(&error, n, 10, 0.5).is_some())
        .count();
    assert_eq!(tries, 10);
    // Retry-After does not lift the limit.
    assert_eq!(retry_delay(&server(503, Some(1_000)), 2, 2, 0.5), None);
}

#[test]
fn full_jitter_bounds() {
    let error = TokenError::Timeout { timeout_ms: 10_000 };
    let ceilings = [250, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000];
    for (n, ceiling) in ceilings.into_iter().enumerate() {
        let n = n as u32;
        assert_eq!(
            retry_delay(&error, n, 100, 0.0),
            Some(0),
            "retry {n}, random 0"
        );
        let high = retry_delay(&error, n, 100, ALMOST_ONE).unwrap();
        assert!(
            high < ceiling && high >= ceiling - 1,
            "retry {n}: {high} for ceiling {ceiling}"
        );
        assert_eq!(
            retry_delay(&error, n, 100, 0.5),
            Some(ceiling / 2),
            "retry {n}"
        );
    }
    // Far past the cap, no overflow.
    assert_eq!(retry_delay(&error, 40, 100, 0.5), Some(5_000));
    assert_eq!(
        retry_delay(&error, u32::MAX - 1, u32::MAX, 0.5),
        Some(5_000)
    );
    // Out-of-range randomness is clamped.
    assert_eq!(retry_delay(&error, 0, 2, -3.0), Some(0));
    assert_eq!(retry_delay(&error, 0, 2, 7.0), Some(250));
}

#[test]
fn retry_after_replaces_the_backoff_and_is_capped() {
    assert_eq!(
        retry_delay(&server(503, Some(2_000)), 0, 2, 0.9),
        Some(2_000)
    );
    assert_eq!(retry_delay(&server(429, Some(0)), 1, 2, 0.9), Some(0));
    assert_eq!(
        retry_delay(&invalid(503, Some(29_999)), 0, 2, 0.0),
        Some(29_999)
    );
    assert_eq!(
        retry_delay(&server(503, Some(30_000)), 0, 2, 0.0),
        Some(30_000)
    );
    assert_eq!(
        retry_delay(&server(503, Some(3_600_000)), 0, 2, 0.0),
        Some(30_000)
    );
    assert_eq!(
        retry_delay(&server(503, Some(u64::MAX)), 0, 2, 0.0),
        Some(30_000)
    );
}
