//! The device authorization grant's sequence (RFC 8628), stepped like a renewal: discovery
//! when only an issuer is known, the device authorization request, then polls of the token
//! endpoint as [`Polling`] allows, until the user approves (the token goes into the cache, to
//! be renewed through its refresh token) or the flow ends with an error. Its errors are the
//! caller's own: they start no cooldown for `getToken()`.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Driver, Endpoint};
use crate::cache::Outcome;
use crate::config::UrlParser;
use crate::device::{parse_device_authorization, DeviceAuthorization, Next, Polling};
use crate::error::TokenError;
use crate::request::{
    device_authorization_request, discovery_request, discovery_urls, token_request, Grant,
    HttpRequest,
};
use crate::response::{parse_metadata, parse_token_response, HttpResponse, Json};

/// What the adapter does next for the device flow.
#[derive(Debug)]
#[must_use]
pub enum DeviceStep<'a> {
    /// Send this request, then report its response or why none came.
    Send(HttpRequest),
    /// Wait this many milliseconds, then call [`Driver::device_next`].
    Sleep(u64),
    /// Show the user this code and where to enter it; then call [`Driver::device_next`].
    Authorized(&'a DeviceAuthorization),
    /// The flow is over: the token (now in the cache), or why there is none.
    Done(Outcome<'a>),
}

/// The device flow under way.
pub(super) struct DeviceFlow {
    phase: Phase,
    /// What the request under way is.
    request: HttpRequest,
    sent_at: u64,
    /// The scope the flow asks for, if not the configured one.
    scope: Option<String>,
}

enum Phase {
    /// A discovery URL; `rest` are the ones still to try.
    Discovery { rest: Vec<String> },
    /// The device authorization request.
    Authorization,
    /// Polling the token endpoint until the user approves.
    Polling {
        authorization: DeviceAuthorization,
        polling: Polling,
    },
}

impl Driver {
    /// Starts a device authorization at `now`, asking for `scope` (else the configured one).
    /// Any earlier device flow is dropped.
    pub fn device_start(&mut self, now: u64, scope: Option<&str>) -> DeviceStep<'_> {
        let scope = scope.map(String::from);
        match (&self.endpoint, &self.config.endpoint) {
            // Discovery first: it names the token endpoint, and the device endpoint unless one
            // is configured.
            (None, Endpoint::Issuer(issuer)) => {
                let mut rest = discovery_urls(issuer);
                let first = rest.remove(0);
                self.device_send(
                    now,
                    Phase::Discovery { rest },
                    discovery_request(first),
                    scope,
                )
            }
            _ => self.device_authorize(now, scope),
        }
    }

    /// The request sent by the last [`DeviceStep::Send`] got `response`.
    pub fn device_response<P: Json + UrlParser>(
        &mut self,
        now: u64,
        response: &HttpResponse,
        platform: &P,
        random: f64,
    ) -> DeviceStep<'_> {
        let Some(flow) = self.device.take() else {
            return device_failed(TokenError::Aborted);
        };
        match flow.phase {
            Phase::Discovery { mut rest } => {
                let Endpoint::Issuer(issuer) = &self.config.endpoint else {
                    return device_failed(TokenError::Aborted);
                };
                let (insecure, names) = (self.config.allow_insecure_http, self.config.names);
                match parse_metadata(platform, response, issuer, insecure, names) {
                    Ok(metadata) => {
                        self.discovered(metadata);
                        self.device_authorize(now, flow.scope)
                    }
                    Err(error) if !rest.is_empty() && matches!(error.status(), Some(400..=499)) => {
                        let next = discovery_request(rest.remove(0));
                        self.device_send(now, Phase::Discovery { rest }, next, flow.scope)
                    }
                    Err(error) => self.device_error(error, None),
                }
            }
            Phase::Authorization => match parse_device_authorization(platform, response, now) {
                Ok(authorization) => {
                    let Some((url, auth)) = &self.endpoint else {
                        return device_failed(TokenError::Aborted);
                    };
                    let grant = Grant::DeviceCode(&authorization.device_code);
                    let poll = token_request(&self.config, url, *auth, grant);
                    let polling = Polling::new(&authorization, now);
                    let phase = Phase::Polling {
                        authorization,
                        polling,
                    };
                    let flow = self.device.insert(DeviceFlow {
                        phase,
                        request: poll,
                        sent_at: now,
                        scope: flow.scope,
                    });
                    match &flow.phase {
                        Phase::Polling { authorization, .. } => {
                            DeviceStep::Authorized(authorization)
                        }
                        _ => device_failed(TokenError::Aborted),
                    }
                }
                Err(error) => self.device_error(error, None),
            },
            Phase::Polling {
                authorization,
                polling,
            } => {
                let default_ms = self.config.timing.default_expires_in_ms;
                match parse_token_response(platform, response, flow.sent_at, default_ms) {
                    Ok(token) => DeviceStep::Done(self.cache.complete(now, Ok(token), random)),
                    Err(error) => {
                        let flow = DeviceFlow {
                            phase: Phase::Polling {
                                authorization,
                                polling,
                            },
                            ..flow
                        };
                        self.device_poll_failed(now, flow, error)
                    }
                }
            }
        }
    }

    /// The request sent by the last [`DeviceStep::Send`] got no response (`error`: a network
    /// error or a timeout). A poll backs off and goes on; anything else ends the flow.
    pub fn device_unanswered(&mut self, now: u64, error: TokenError) -> DeviceStep<'_> {
        match self.device.take() {
            Some(
                flow @ DeviceFlow {
                    phase: Phase::Polling { .. },
                    ..
                },
            ) => self.device_poll_failed(now, flow, error),
            _ => self.device_error(error, None),
        }
    }

    /// After [`DeviceStep::Authorized`] or a [`DeviceStep::Sleep`]: the next poll when it is
    /// due at `now`, else how long to wait; the flow ends when the device code expires.
    pub fn device_next(&mut self, now: u64) -> DeviceStep<'_> {
        let Some(flow) = self.device.as_mut() else {
            return device_failed(TokenError::Aborted);
        };
        let Phase::Polling { polling, .. } = &mut flow.phase else {
            return device_failed(TokenError::Aborted);
        };
        match polling.wait(now) {
            Ok(0) => {
                // Not due again until its answer says when: a second waiter sleeps meanwhile.
                polling.next_at_ms = now.saturating_add(polling.interval_ms);
                flow.sent_at = now;
                let request = flow.request.clone();
                self.cache.note_request();
                DeviceStep::Send(request)
            }
            Ok(ms) => DeviceStep::Sleep(ms),
            Err(expired) => {
                self.device = None;
                device_failed(expired)
            }
        }
    }

    /// Drops the device flow under way (an aborted wait): nothing more is sent for it.
    pub fn device_cancel(&mut self) {
        self.device = None;
    }

    fn device_authorize(&mut self, now: u64, scope: Option<String>) -> DeviceStep<'_> {
        let Some(url) = self.device_endpoint.clone() else {
            let reason = "the authorization server names no device_authorization_endpoint: set deviceAuthorizationUrl";
            let option = crate::name!(DEVICE_AUTHORIZATION_URL).option;
            return device_failed(TokenError::config(option, reason));
        };
        let auth = match &self.endpoint {
            Some((_, auth)) => *auth,
            None => return device_failed(TokenError::Aborted),
        };
        let request = device_authorization_request(&self.config, &url, auth, scope.as_deref());
        self.device_send(now, Phase::Authorization, request, scope)
    }

    fn device_send(
        &mut self,
        now: u64,
        phase: Phase,
        request: HttpRequest,
        scope: Option<String>,
    ) -> DeviceStep<'_> {
        let step = DeviceStep::Send(request.clone());
        self.device = Some(DeviceFlow {
            phase,
            request,
            sent_at: now,
            scope,
        });
        step
    }

    fn device_poll_failed(
        &mut self,
        now: u64,
        mut flow: DeviceFlow,
        error: TokenError,
    ) -> DeviceStep<'_> {
        let Phase::Polling {
            polling,
            authorization,
        } = &mut flow.phase
        else {
            return self.device_error(error, None);
        };
        let code = authorization.device_code.expose().to_owned();
        let cause = error.code().to_owned();
        match polling.failed(now, error) {
            Next::Poll => {
                let wait = polling.wait(now).unwrap_or(0);
                self.device = Some(flow);
                self.sleep_cause = Some(cause);
                DeviceStep::Sleep(wait)
            }
            Next::Stop(error) => self.device_error(error, Some(&code)),
        }
    }

    /// Ends the flow with `error`, cleaned of every secret held (the device code too).
    fn device_error(&mut self, error: TokenError, device_code: Option<&str>) -> DeviceStep<'_> {
        self.device = None;
        device_failed(error.cleaned(&self.secrets(device_code)))
    }
}

fn device_failed<'a>(error: TokenError) -> DeviceStep<'a> {
    DeviceStep::Done(Outcome::Failed {
        error,
        retry_after_ms: 0,
    })
}
