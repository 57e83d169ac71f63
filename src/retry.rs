//! Pure retry policy: which failures are retried, and how long to wait before the next try —
//! exponential backoff with full jitter, or the server's `Retry-After` when it sent one.

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

/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an IMF-fixdate such as
/// `Sun, 06 Nov 1994 08:49:37 GMT`, turned into a delay from `now_ms`.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            value
                .parse::<u64>()
                .unwrap_or(u64::MAX / 1000)
                .saturating_mul(1000),
        );
    }
    http_date_ms(value).map(|at| at.saturating_sub(now_ms))
}

/// IMF-fixdate → ms since the epoch.
fn http_date_ms(value: &str) -> Option<u64> {
    let rest = value.split_once(',')?.1.strip_prefix(' ')?;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, day as i64)).ok()?;
    Some((days * 86_400 + h * 3600 + m * 60 + s) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
