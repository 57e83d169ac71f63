//! Pure retry policy: which failures are retried, and how long to wait before the next try —
//! exponential backoff with full jitter, or the server's `Retry-After` when it sent one. The
//! adapters read `Retry-After` (delay-seconds, or an HTTP-date through the platform's
//! `Date.parse`) into the wait in ms that [`HttpResponse`](crate::response::HttpResponse)
//! carries.

use crate::error::TokenError;

/// The first backoff step.
pub const BACKOFF_BASE_MS: u64 = 250;
/// The longest jittered backoff.
pub const BACKOFF_CAP_MS: u64 = 10_000;
/// The longest `Retry-After` honoured; a server asking for more gets this.
pub const RETRY_AFTER_CAP_MS: u64 = 30_000;

/// How long to wait before retrying after `error`, or `None` to give up. `retries_done`
/// counts the retries already made; `random` is uniform in `[0, 1)`.
pub fn retry_delay(
    error: &TokenError,
    retries_done: u32,
    max_retries: u32,
    random: f64,
) -> Option<u64> {
    if !error.retryable() || retries_done >= max_retries {
        return None;
    }
    if let Some(wait) = error.retry_after_ms() {
        return Some(wait.min(RETRY_AFTER_CAP_MS));
    }
    let ceiling = BACKOFF_BASE_MS
        .saturating_mul(1u64 << retries_done.min(16))
        .min(BACKOFF_CAP_MS);
    Some((random.clamp(0.0, 1.0) * ceiling as f64) as u64)
}
