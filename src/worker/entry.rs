//! The Worker's entry point: its `fetch` handler and the I/O of one proxied request. The
//! decisions are in the sibling modules (`config`, `access`, `upstream`, `headers`, `answer`),
//! the token in the isolate's [`Engine`].

use std::cell::RefCell;
use std::rc::Rc;

use std::borrow::Cow;

use js_sys::{Date, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Headers, ResponseInit, Url};
use worker::Env;

use super::access::check_access;
use super::answer::{json_error, json_escape, server_timing, token_failure, TokenSource};
use super::config::{proxy_config, ProxyConfig};
use super::engine::{access_token_of, Bearer, Engine, Failure, Got};
use super::headers::{connection_names, hop_by_hop_headers, request_headers_to_drop};
use super::http::{network_from, Fetcher};
use super::upstream::{buffer_for_replay, path_and_query, upstream_url};
use crate::error::TokenError;
use crate::js::Platform;
use crate::options::SETTINGS;

// One boundary crossing each, where the web_sys calls would take one per header. Strings
// that are the same for every request cross as JS strings made once (`&JsValue`).
#[wasm_bindgen(module = "/src/worker/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = copyWithout, catch)]
    fn copy_without(headers: &Headers, dropped: &JsValue) -> Result<Headers, JsValue>;
    #[wasm_bindgen(js_name = sendUpstream, catch)]
    fn send_upstream(
        url: &str,
        method: &str,
        headers: &Headers,
        name: &JsValue,
        value: &JsValue,
        body: &JsValue,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = forwardFresh)]
    #[allow(clippy::too_many_arguments)]
    fn forward_fresh(
        url: &str,
        request: &web_sys::Request,
        dropped: &JsValue,
        name: &JsValue,
        value: &JsValue,
        ctx: &JsValue,
        started: f64,
        on_response: &js_sys::Function,
        on_error: &js_sys::Function,
    ) -> Promise;
    #[wasm_bindgen(js_name = withDeadline)]
    fn with_deadline(promise: &Promise, ms: f64) -> Promise;
    #[wasm_bindgen(js_name = relayResponse, catch)]
    fn relay_response(
        response: &web_sys::Response,
        dropped: &JsValue,
        timing: &JsValue,
    ) -> Result<web_sys::Response, JsValue>;
}

/// The isolate's proxy: built from the first `env` seen, rebuilt if a request brings another.
struct Proxy {
    env: JsValue,
    config: ProxyConfig,
    engine: Engine,
    /// The request headers always dropped.
    request_drop: Names,
    /// The response headers always dropped.
    response_drop: Names,
    /// The header that carries the token.
    header_name: JsValue,
    /// `Server-Timing` for a token served from memory.
    cache_timing: JsValue,
}

/// Header names, comma-separated: as text, and as the JS string the platform calls take.
struct Names {
    text: String,
    js: JsValue,
}

impl Names {
    fn new<'a>(names: impl Iterator<Item = &'a str>) -> Self {
        let text = names.collect::<Vec<_>>().join(",");
        let js = JsValue::from_str(&text);
        Self { text, js }
    }

    /// These, plus the names a `Connection` header lists.
    fn with_connection(&self, connection: &str) -> Cow<'_, JsValue> {
        let mut listed = connection_names(connection).peekable();
        if listed.peek().is_none() {
            return Cow::Borrowed(&self.js);
        }
        let mut text = self.text.clone();
        for name in listed {
            text.push(',');
            text.push_str(name);
        }
        Cow::Owned(JsValue::from_str(&text))
    }
}

thread_local! {
    static PROXY: RefCell<Option<Rc<Proxy>>> = const { RefCell::new(None) };
}

/// The Worker's `fetch` handler, called by worker-build's shim with the platform's own
/// Request (a `worker::Request` would read the method, URL, headers and `cf` of every request
/// up front, and a `worker::Response` be rebuilt into a second `Response` on the way out).
///
/// The common case — no request body, a fresh token, no debug log — runs with no Rust future:
/// the answer is the platform's `fetch` promise chained to [`on_upstream_response`]. Anything
/// else goes through [`forward`].
///
/// No exception escapes: whatever the caller sent and whatever the origin or the token endpoint
/// answered, the request gets its own answer (a JSON 5xx at worst) and the isolate keeps its
/// token and the requests in flight.
#[wasm_bindgen]
pub fn fetch(request: web_sys::Request, env: Env, ctx: JsValue) -> Promise {
    let proxy = match proxy_for(&env) {
        Ok(proxy) => proxy,
        Err(error) => {
            // The answer names the var; the log has the whole message (it may quote a value).
            web_sys::console::error_1(&error.message().into());
            let answer = token_failure(&error, None);
            return settle(json_response(500, None, &answer.body));
        }
    };
    match handle(proxy, request, ctx) {
        Ok(answer) => answer,
        Err(fault) => settle(Err(fault)),
    }
}

/// [`fetch`] with a configured proxy: an error here is answered by [`settle`].
fn handle(proxy: Rc<Proxy>, request: web_sys::Request, ctx: JsValue) -> Result<Promise, JsValue> {
    // Only the debug log line reads the start time.
    let started = if proxy.config.debug_log {
        Date::now()
    } else {
        0.0
    };
    let headers = request.headers();
    let target = match admit(&proxy, &request, &headers, started)? {
        Ok(target) => target,
        Err(refusal) => return Ok(Promise::resolve(JsValue::from(refusal).as_ref())),
    };
    let connection = headers.get("connection").ok().flatten().unwrap_or_default();
    let dropped = proxy.request_drop.with_connection(&connection);
    // No body and a fresh token: no future at all (the debug log line is written on this
    // path too, by the callbacks).
    if request.body().is_none() {
        if let Some(bearer) = proxy.engine.fresh_bearer() {
            return Ok(CALLBACKS.with(|callbacks| {
                forward_fresh(
                    &target,
                    &request,
                    &dropped,
                    &proxy.header_name,
                    &bearer.header_value,
                    &ctx,
                    started,
                    callbacks.on_response.as_ref().unchecked_ref(),
                    callbacks.on_error.as_ref().unchecked_ref(),
                )
            }));
        }
    }
    let outbound = copy_without(&headers, &dropped)?;
    Ok(future_to_promise(async move {
        let answer = forward(&proxy, &request, &ctx, &target, &outbound, started, false).await;
        Ok(settle(answer).into())
    }))
}

/// A response as a settled promise; a fault (a platform call that threw) becomes a JSON 500
/// for this request alone, logged.
fn settle(answer: Result<web_sys::Response, JsValue>) -> Promise {
    let answer = answer.or_else(|fault| {
        web_sys::console::error_2(&"edge-oauth: request failed:".into(), &fault);
        let body = json_error(
            "internal",
            "internal",
            "the Worker could not handle this request",
        );
        json_response(500, None, &body)
    });
    match answer {
        Ok(response) => Promise::resolve(JsValue::from(response).as_ref()),
        Err(fault) => Promise::reject(&fault),
    }
}

/// `(response, status, Connection header, request, header value, ctx, started) -> answer`.
type OnResponse = dyn Fn(
    web_sys::Response,
    u16,
    Option<String>,
    web_sys::Request,
    JsValue,
    JsValue,
    f64,
) -> JsValue;

/// `(error, request, started) -> answer`.
type OnError = dyn Fn(JsValue, web_sys::Request, f64) -> JsValue;

/// The callbacks of the no-future path, made once per isolate.
struct Callbacks {
    on_response: Closure<OnResponse>,
    on_error: Closure<OnError>,
}

thread_local! {
    static CALLBACKS: Callbacks = Callbacks {
        on_response: Closure::new(on_upstream_response),
        on_error: Closure::new(on_upstream_error),
    };
}

/// The origin could not be reached with a fresh token: a 502, logged.
fn on_upstream_error(error: JsValue, request: web_sys::Request, started: f64) -> JsValue {
    let answer = origin_unreachable(&error);
    if let (Some(proxy), Ok(answer)) = (PROXY.with(|p| p.borrow().clone()), &answer) {
        log(
            &proxy,
            &request,
            answer.status(),
            Some(TokenSource::Cache),
            started,
            None,
        );
    }
    settle(answer).into()
}

/// The origin answered a request sent with a fresh token (`header_value`) with `status` (and
/// maybe a `Connection` header): relay the answer, or, when the origin refused the token, drop
/// it and send the request once more with a new one.
fn on_upstream_response(
    response: web_sys::Response,
    status: u16,
    connection: Option<String>,
    request: web_sys::Request,
    header_value: JsValue,
    ctx: JsValue,
    started: f64,
) -> JsValue {
    let Some(proxy) = PROXY.with(|p| p.borrow().clone()) else {
        return settle(Err("the proxy is gone".into())).into();
    };
    let relayed = |proxy: &Proxy| {
        let connection = connection.as_deref().unwrap_or_default();
        // `then` takes the Response itself; only a fault needs a promise.
        match relay(proxy, &response, connection, &proxy.cache_timing) {
            Ok(answer) => {
                // The hot path: the status crosses the boundary only for the debug log.
                if proxy.config.debug_log {
                    let source = Some(TokenSource::Cache);
                    log(proxy, &request, answer.status(), source, started, None);
                }
                JsValue::from(answer)
            }
            Err(fault) => settle(Err(fault)).into(),
        }
    };
    if status != 401 {
        proxy.engine.accepted(&header_value);
        return relayed(&proxy);
    }
    let header_value = header_value.as_string().unwrap_or_default();
    if !proxy.engine.refused(access_token_of(&header_value)) {
        return relayed(&proxy);
    }
    discard(&response);
    future_to_promise(async move {
        let answer = async {
            let headers = request.headers();
            match admit(&proxy, &request, &headers, started)? {
                Ok(target) => {
                    let connection = headers.get("connection")?.unwrap_or_default();
                    let dropped = proxy.request_drop.with_connection(&connection);
                    let outbound = copy_without(&headers, &dropped)?;
                    forward(&proxy, &request, &ctx, &target, &outbound, started, true).await
                }
                Err(refusal) => Ok(refusal),
            }
        };
        Ok(settle(answer.await).into())
    })
    .into()
}

/// A var as a string, whether `[vars]` gave a string, a number or a boolean.
fn read_var(env: &Env, name: &str) -> Option<String> {
    let value = Reflect::get(env, &JsValue::from_str(name)).ok()?;
    value
        .as_string()
        .or_else(|| value.as_f64().map(|n| n.to_string()))
        .or_else(|| value.as_bool().map(|b| b.to_string()))
}

fn proxy_for(env: &Env) -> Result<Rc<Proxy>, TokenError> {
    let cached = PROXY.with(|p| p.borrow().clone());
    if let Some(proxy) = cached.filter(|p| Object::is(&p.env, env)) {
        return Ok(proxy);
    }
    // Only the vars of the settings table: nothing else in `env` is read.
    let declared = |name: &str| SETTINGS.iter().any(|s| s.name.var == name);
    let var = |name: &str| declared(name).then(|| read_var(env, name)).flatten();
    let config = proxy_config(var, &Platform)?;
    let engine = Engine::new(config.client.clone(), Fetcher::global()?);
    let proxy = Rc::new(Proxy {
        env: env.clone().into(),
        request_drop: Names::new(request_headers_to_drop(&config, "")),
        response_drop: Names::new(hop_by_hop_headers("")),
        header_name: JsValue::from_str(&config.client.header_name),
        cache_timing: JsValue::from_str(&server_timing(TokenSource::Cache, 0.0)),
        config,
        engine,
    });
    PROXY.with(|p| p.replace(Some(proxy.clone())));
    Ok(proxy)
}

fn json_response(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<web_sys::Response, JsValue> {
    let headers = Headers::new()?;
    headers.set("content-type", "application/json")?;
    if let Some(seconds) = retry_after {
        headers.set("retry-after", seconds)?;
    }
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(Some(body), &init)
}

/// The answer for a token failure, and the error's whole (cleaned) message for the debug log.
struct TokenFailure {
    answer: web_sys::Response,
    detail: String,
}

/// A token (and whether it came from memory), or the answer for a token failure.
/// A caller waits for a renewal at most `maxWaitMs` (and a little for the timers): the
/// renewal's own attempts end by then; one that has not has been dropped by the platform.
async fn bearer(
    proxy: &Proxy,
    ctx: &JsValue,
) -> Result<Result<(Rc<Bearer>, bool), TokenFailure>, JsValue> {
    if let Some(bearer) = proxy.engine.fresh_bearer() {
        return Ok(Ok((bearer, true)));
    }
    let outcome = match proxy.engine.get(ctx) {
        Got::Now(outcome) => outcome.map(|bearer| (bearer, true)),
        Got::Wait(flight) => {
            let max_wait_ms = proxy.config.client.max_wait_ms;
            let waited = with_deadline(&flight.promise, (max_wait_ms + 250) as f64);
            // `true`: the renewal ended; `false`: another waiter abandoned it; undefined: the
            // deadline passed first, and this waiter abandons it.
            if JsFuture::from(waited).await.is_ok_and(|v| v.is_undefined()) {
                proxy.engine.abandon(&flight);
            }
            let dropped = || {
                let error = TokenError::Timeout {
                    timeout_ms: max_wait_ms,
                };
                Err(Rc::new(Failure {
                    error,
                    retry_after_ms: None,
                }))
            };
            match flight.outcome() {
                Some(outcome) => outcome.map(|bearer| (bearer, false)),
                None => dropped(),
            }
        }
    };
    match outcome {
        Ok(found) => Ok(Ok(found)),
        Err(failure) => {
            let answer = token_failure(&failure.error, failure.retry_after_ms);
            let retry_after = answer.retry_after_seconds.map(|s| s.to_string());
            Ok(Err(TokenFailure {
                answer: json_response(answer.status, retry_after.as_deref(), &answer.body)?,
                detail: failure.error.message(),
            }))
        }
    }
}

/// Checks the caller's key and the path: the upstream URL, or the (logged) refusal.
fn admit(
    proxy: &Proxy,
    request: &web_sys::Request,
    headers: &Headers,
    started: f64,
) -> Result<Result<String, web_sys::Response>, JsValue> {
    let config = &proxy.config;
    if check_access(&config.access, headers.get(&config.key_header)?.as_deref()).is_err() {
        let message = format!(
            "present one of the proxy keys in the {} header",
            config.key_header
        );
        return refuse(proxy, request, 401, "unauthorized", &message, started).map(Err);
    }
    let url = request.url();
    let Ok(target) = upstream_url(config, path_and_query(&url)) else {
        let message = "the path must not contain dot segments, backslashes or control characters";
        return refuse(proxy, request, 400, "bad_path", message, started).map(Err);
    };
    Ok(Ok(target))
}

/// Sends the request with a token, waiting for one if need be; after an origin 401, drops
/// the token and sends once more with a new one if the body can be replayed. `refused`: the
/// previous attempt's token was refused already (no further retry).
async fn forward(
    proxy: &Proxy,
    request: &web_sys::Request,
    ctx: &JsValue,
    target: &str,
    outbound: &Headers,
    started: f64,
    refused: bool,
) -> Result<web_sys::Response, JsValue> {
    let headers = request.headers();
    let method = request.method();

    // No body (GET, HEAD, most proxied calls): nothing to buffer, always replayable. A GET or
    // HEAD that came with an empty body (`Content-Length: 0`) goes without one: fetch refuses
    // a GET with a body.
    let no_body = method == "GET" || method == "HEAD";
    let (body, replayable): (Option<JsValue>, bool) = match request.body() {
        None => (None, true),
        Some(_) if no_body => (None, true),
        Some(stream) => {
            let length = headers
                .get("content-length")?
                .and_then(|l| l.trim().parse::<u64>().ok());
            if buffer_for_replay(true, length) {
                (Some(JsFuture::from(request.array_buffer()?).await?), true)
            } else {
                (Some(stream.into()), false)
            }
        }
    };

    let token_started = Date::now();
    let (mut bearer, mut source) = match self::bearer(proxy, ctx).await? {
        Ok((bearer, _)) if refused => (bearer, TokenSource::Refresh),
        Ok((bearer, true)) => (bearer, TokenSource::Cache),
        Ok((bearer, false)) => (bearer, TokenSource::Fetch),
        Err(failure) => return Ok(logged(proxy, request, failure, started)),
    };
    let mut token_ms = Date::now() - token_started;

    let mut response = send(proxy, target, &method, outbound, &bearer, body.as_ref()).await?;
    let mut retried = refused;
    while response.status() == 401 {
        // A refused token is renewed at most once per request, and not at all when it had
        // replaced a refused one itself (the cache counts that as a failure).
        if !replayable || !proxy.engine.refused(&bearer.access_token) || retried {
            break;
        }
        retried = true;
        discard(&response);
        let refresh_started = Date::now();
        bearer = match self::bearer(proxy, ctx).await? {
            Ok((found, _)) => found,
            Err(failure) => return Ok(logged(proxy, request, failure, started)),
        };
        token_ms += Date::now() - refresh_started;
        source = TokenSource::Refresh;
        response = send(proxy, target, &method, outbound, &bearer, body.as_ref()).await?;
    }
    if response.status() != 401 {
        proxy.engine.accepted(&bearer.header_value);
    }

    let timing = JsValue::from_str(&server_timing(source, token_ms));
    let connection = response.headers().get("connection")?.unwrap_or_default();
    let answer = relay(proxy, &response, &connection, &timing)?;
    log(proxy, request, answer.status(), Some(source), started, None);
    Ok(answer)
}

/// A token-failure answer, logged like every other.
fn logged(
    proxy: &Proxy,
    request: &web_sys::Request,
    failure: TokenFailure,
    started: f64,
) -> web_sys::Response {
    let status = failure.answer.status();
    log(proxy, request, status, None, started, Some(&failure.detail));
    failure.answer
}

fn refuse(
    proxy: &Proxy,
    request: &web_sys::Request,
    status: u16,
    error: &str,
    message: &str,
    started: f64,
) -> Result<web_sys::Response, JsValue> {
    log(proxy, request, status, None, started, None);
    json_response(status, None, &json_error(error, error, message))
}

/// Sends the request to the origin with the token; redirects come back unfollowed.
async fn send(
    proxy: &Proxy,
    target: &str,
    method: &str,
    headers: &Headers,
    bearer: &Bearer,
    body: Option<&JsValue>,
) -> Result<web_sys::Response, JsValue> {
    // The outbound copy is this request's own: setting the token replaces any earlier one.
    let none = JsValue::UNDEFINED;
    let pending = send_upstream(
        target,
        method,
        headers,
        &proxy.header_name,
        &bearer.header_value,
        body.unwrap_or(&none),
    )?;
    match JsFuture::from(pending).await {
        Ok(response) => Ok(response.unchecked_into()),
        Err(error) => origin_unreachable(&error),
    }
}

/// The answer when the origin could not be reached.
fn origin_unreachable(error: &JsValue) -> Result<web_sys::Response, JsValue> {
    let message = network_from(error).to_string();
    json_response(
        502,
        None,
        &json_error("origin_unreachable", "network", &message),
    )
}

/// The origin's response, streamed back, without hop-by-hop headers (and those its
/// `Connection` header names), with `Server-Timing`.
fn relay(
    proxy: &Proxy,
    response: &web_sys::Response,
    connection: &str,
    timing: &JsValue,
) -> Result<web_sys::Response, JsValue> {
    let dropped = proxy.response_drop.with_connection(connection);
    relay_response(response, &dropped, timing)
}

/// Lets go of a response body that will not be read.
fn discard(response: &web_sys::Response) {
    if let Some(body) = response.body() {
        let _ = body.cancel();
    }
}

/// One structured line per request with `LOG_LEVEL=debug`: method, path (no query: it may
/// carry keys), status, token source, time, and a token failure's cleaned message. Never a
/// header value or a token.
fn log(
    proxy: &Proxy,
    request: &web_sys::Request,
    status: u16,
    source: Option<TokenSource>,
    started: f64,
    error: Option<&str>,
) {
    if !proxy.config.debug_log {
        return;
    }
    let path = Url::new(&request.url())
        .map(|u| u.pathname())
        .unwrap_or_default();
    let token = match source {
        Some(TokenSource::Cache) => "cache",
        Some(TokenSource::Fetch) => "fetch",
        Some(TokenSource::Refresh) => "refresh",
        None => "none",
    };
    // A token failure's message, cleaned of secrets and control characters by the core.
    let error = error.map_or(String::new(), |text| {
        format!(",\"error\":\"{}\"", json_escape(text))
    });
    let line = format!(
        "{{\"edgeOauth\":\"request\",\"method\":\"{}\",\"path\":\"{}\",\"status\":{status},\"token\":\"{token}\",\"ms\":{:.1}{error}}}",
        json_escape(&request.method()),
        json_escape(&path),
        Date::now() - started,
    );
    web_sys::console::log_1(&line.into());
}
