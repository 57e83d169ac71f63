//! The device authorization grant (RFC 8628) without I/O: reading the device authorization
//! response (§3.2) and deciding, poll by poll, when to ask the token endpoint again (§3.4–3.5).
//! `now` is always an argument.

use alloc::string::String;

use crate::config::UrlParser;
use crate::error::TokenError;
use crate::response::{
    invalid, is_token_text, parse_json_body, Field, HttpResponse, Json, JsonObject,
};
use crate::secret::DeviceCode;

/// The poll interval when the server names none (§3.2).
pub const DEFAULT_INTERVAL_MS: u64 = 5_000;
/// The shortest poll interval, whatever a server says (§3.5 counts in whole seconds).
pub const MIN_INTERVAL_MS: u64 = 1_000;
/// The longest a device code is polled for, whatever a server says.
pub const MAX_EXPIRES_IN_MS: u64 = 86_400_000;
/// What `slow_down` adds to the interval, for every later poll (§3.5).
pub const SLOW_DOWN_MS: u64 = 5_000;
/// The longest interval a failed poll backs off to.
pub const MAX_INTERVAL_MS: u64 = 60_000;

/// A device authorization: what the user is shown, and the device code the client polls with.
#[derive(Clone, Debug)]
pub struct DeviceAuthorization {
    /// Secret: whoever holds it gets the token once the user approves.
    pub device_code: DeviceCode,
    /// The code the user enters.
    pub user_code: String,
    /// Where the user enters it.
    pub verification_uri: String,
    /// The same with the code filled in, when the server gives one.
    pub verification_uri_complete: Option<String>,
    /// When the device code expires, in ms since the epoch.
    pub expires_at_ms: u64,
    /// The poll interval the server asked for, in ms.
    pub interval_ms: u64,
}

/// Parses a device authorization response (§3.2) received at `now`. The verification URIs
/// must be http(s) URLs as the platform reads them: they are shown to a user to open.
pub fn parse_device_authorization<P: Json + UrlParser>(
    platform: &P,
    response: &HttpResponse,
    now: u64,
) -> Result<DeviceAuthorization, TokenError> {
    let object = parse_json_body(platform, response)?;
    let invalid = |reason| invalid(response, reason);
    let text = |name| match object.field(name) {
        Field::Str(text) if is_token_text(&text) => Some(text),
        _ => None,
    };
    let web_url = |url: String| {
        let scheme = platform.parse_url(&url).map(|parsed| parsed.scheme);
        matches!(scheme.as_deref(), Some("https" | "http")).then_some(url)
    };
    let device_code = text("device_code")
        .ok_or_else(|| invalid("device_code is missing or not visible ASCII"))?;
    let user_code =
        text("user_code").ok_or_else(|| invalid("user_code is missing or not visible ASCII"))?;
    // Some servers (Google) call it verification_url.
    let verification_uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .and_then(web_url)
        .ok_or_else(|| invalid("verification_uri is missing or not an http(s) URL"))?;
    let seconds = |name| match object.field(name) {
        Field::Num(n) if n.is_finite() && n > 0.0 => Some((n * 1000.0) as u64),
        _ => None,
    };
    let expires_in_ms =
        seconds("expires_in").ok_or_else(|| invalid("expires_in is not a number of seconds"))?;
    // A server cannot make the client poll without pause, nor for longer than a day.
    let expires_in_ms = expires_in_ms.min(MAX_EXPIRES_IN_MS);
    let interval_ms = seconds("interval").map_or(DEFAULT_INTERVAL_MS, |ms| ms.max(MIN_INTERVAL_MS));
    Ok(DeviceAuthorization {
        device_code: DeviceCode::new(device_code),
        user_code,
        verification_uri,
        verification_uri_complete: text("verification_uri_complete").and_then(web_url),
        expires_at_ms: now.saturating_add(expires_in_ms),
        interval_ms,
    })
}

/// When to poll next, and when to stop.
#[derive(Clone, Debug)]
pub struct Polling {
    /// The current interval, in ms: the server's, grown by `slow_down` and failures.
    pub interval_ms: u64,
    /// When the next poll is due.
    pub next_at_ms: u64,
    /// When the device code expires: no poll is sent from then on.
    pub expires_at_ms: u64,
}

/// What the poller says after a poll failed.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// Poll again at `next_at_ms`.
    Poll,
    /// Stop: the flow ends with this error.
    Stop(TokenError),
}

impl Polling {
    /// Polling for `authorization`, which arrived at `now`: the first poll one interval later.
    pub fn new(authorization: &DeviceAuthorization, now: u64) -> Self {
        Self {
            interval_ms: authorization.interval_ms,
            next_at_ms: now.saturating_add(authorization.interval_ms),
            expires_at_ms: authorization.expires_at_ms,
        }
    }

    /// How long to wait at `now` before the next poll (0: now); an error once the code has
    /// expired. A poll that would come at or after the expiry is not made: the wait then ends
    /// at the expiry, and so does the flow.
    pub fn wait(&self, now: u64) -> Result<u64, TokenError> {
        if now >= self.expires_at_ms {
            return Err(TokenError::DeviceCodeExpired);
        }
        Ok(self.next_at_ms.min(self.expires_at_ms).saturating_sub(now))
    }

    /// The poll sent at `now` failed with `error`: `authorization_pending` keeps the interval,
    /// `slow_down` adds 5 s to it for every later poll, a network error or timeout doubles it
    /// (up to a minute); `access_denied`, `expired_token` and anything else stop the flow.
    pub fn failed(&mut self, now: u64, error: TokenError) -> Next {
        match &error {
            TokenError::Server { error: code, .. } if code == "authorization_pending" => {}
            TokenError::Server { error: code, .. } if code == "slow_down" => {
                self.interval_ms = self.interval_ms.saturating_add(SLOW_DOWN_MS);
            }
            TokenError::Network(_) | TokenError::Timeout { .. } => {
                self.interval_ms = self.interval_ms.saturating_mul(2).min(MAX_INTERVAL_MS);
            }
            _ => return Next::Stop(error),
        }
        self.next_at_ms = now.saturating_add(self.interval_ms);
        match self.wait(now) {
            Ok(_) => Next::Poll,
            Err(expired) => Next::Stop(expired),
        }
    }
}
