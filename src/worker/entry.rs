//! The Worker's entry point: its `fetch` handler and the I/O of one proxied request. The
//! decisions are in the sibling modules (`config`, `access`, `upstream`, `headers`, `answer`),
//! the token in the isolate's [`Engine`].

use std::cell::RefCell;
use std::rc::Rc;

use std::borrow::Cow;

use js_sys::{Date, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Headers, ResponseInit, Url};
use worker::Env;

use super::access::check_access;
use super::answer::{json_error, json_escape, server_timing, token_failure, TokenSource};
use super::broker::{query_param, HandOut, STATS_ROUTE};
use super::broker_client::BrokerClient;
use super::config::{Access, TOKEN_BROKER};
use super::engine::{access_token_of, Bearer, Engine};
use super::env::{gateway_of, EnvVars};
use super::headers::{connection_names, hop_by_hop_headers, request_headers_to_drop};
use super::http::{network_from, Fetcher};
use super::routes::{route_for, Route};
use super::upstream::{buffer_for_replay, path_and_query, upstream_url};
use crate::error::TokenError;

// One boundary crossing each, where the web_sys calls would take one per header. Strings
// that are the same for every request cross as JS strings made once (`&JsValue`).
#[wasm_bindgen(module = "/src/worker/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = copyWithout, catch)]
    fn copy_without(headers: &Headers, dropped: &JsValue) -> Result<Headers, JsValue>;
    #[wasm_bindgen(js_name = sendUpstream, catch)]
    fn send_upstream(
        via: &JsValue,
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
        via: &JsValue,
        url: &str,
        request: &web_sys::Request,
        dropped: &JsValue,
        name: &JsValue,
        value: &JsValue,
        ctx: &JsValue,
        route: u32,
        started: f64,
        on_response: &js_sys::Function,
        on_error: &js_sys::Function,
    ) -> Promise;
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
    /// The routes, each with its own token engine.
    gates: Vec<Gate>,
    /// The header callers put their key in, lowercased.
    key_header: String,
    /// `LOG_LEVEL=debug`.
    debug_log: bool,
    /// The response headers always dropped.
    response_drop: Names,
}

/// A route and what serving it takes: its own engine (cache, single flight, cooldown), so
/// that one route's token endpoint failing slows no other.
struct Gate {
    route: Route,
    engine: Engine,
    /// The route's token broker, when it has one.
    broker: Option<BrokerClient>,
    /// What the origin is fetched through: the global object, or the service binding.
    via: JsValue,
    /// The request headers always dropped.
    request_drop: Names,
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
            // The answer names the var or route and field; the log has the whole message (it
            // may quote a value).
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
    let started = if proxy.debug_log { Date::now() } else { 0.0 };
    let headers = request.headers();
    let url = request.url();
    let stats_query = path_and_query(&url)
        .strip_prefix(STATS_ROUTE)
        .filter(|rest| rest.is_empty() || rest.starts_with('?'))
        .map(|query| query_param(query, "route").unwrap_or("").to_owned());
    if let Some(route) = stats_query {
        // As `URLSearchParams` writes it: `/` may come as `%2F`.
        let route = js_sys::decode_uri_component(&route).map_or(route, String::from);
        return Ok(future_to_promise(async move {
            let answer = broker_stats(&proxy, &headers, &route).await;
            Ok(settle(answer).into())
        }));
    }
    let (index, target) = match admit(&proxy, &request, &url, &headers, started)? {
        Ok(admitted) => admitted,
        Err(refusal) => return Ok(Promise::resolve(JsValue::from(refusal).as_ref())),
    };
    let gate = &proxy.gates[index];
    let connection = headers.get("connection").ok().flatten().unwrap_or_default();
    let dropped = gate.request_drop.with_connection(&connection);
    // No body and a fresh token: no future at all (the debug log line is written on this
    // path too, by the callbacks).
    if request.body().is_none() {
        if let Some(bearer) = gate.engine.fresh_bearer() {
            return Ok(CALLBACKS.with(|callbacks| {
                forward_fresh(
                    &gate.via,
                    &target,
                    &request,
                    &dropped,
                    &gate.header_name,
                    &bearer.header_value,
                    &ctx,
                    index as u32,
                    started,
                    callbacks.on_response.as_ref().unchecked_ref(),
                    callbacks.on_error.as_ref().unchecked_ref(),
                )
            }));
        }
    }
    let outbound = copy_without(&headers, &dropped)?;
    Ok(future_to_promise(async move {
        let gate = &proxy.gates[index];
        let answer = forward(
            &proxy, gate, &request, &ctx, &target, &outbound, started, None,
        )
        .await;
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

/// `(response, status, Connection header, request, header value, ctx, route, started) -> answer`.
type OnResponse = dyn Fn(
    web_sys::Response,
    u16,
    Option<String>,
    web_sys::Request,
    JsValue,
    JsValue,
    u32,
    f64,
) -> JsValue;

/// `(error, request, route, started) -> answer`.
type OnError = dyn Fn(JsValue, web_sys::Request, u32, f64) -> JsValue;

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

/// The proxy and the route a callback of the no-future path was made for.
fn current_gate(route: u32) -> Option<(Rc<Proxy>, usize)> {
    let proxy = PROXY.with(|p| p.borrow().clone())?;
    let index = route as usize;
    (index < proxy.gates.len()).then_some((proxy, index))
}

/// The origin could not be reached with a fresh token: a 502, logged.
fn on_upstream_error(
    error: JsValue,
    request: web_sys::Request,
    route: u32,
    started: f64,
) -> JsValue {
    let answer = origin_unreachable(&error);
    if let (Some((proxy, index)), Ok(answer)) = (current_gate(route), &answer) {
        let gate = Some(&proxy.gates[index]);
        let source = Some(TokenSource::Cache);
        log(
            &proxy,
            gate,
            &request,
            answer.status(),
            source,
            started,
            None,
        );
    }
    settle(answer).into()
}

/// The origin answered a request sent with a fresh token (`header_value`) with `status` (and
/// maybe a `Connection` header): relay the answer, or, when the origin refused the token, drop
/// it and send the request once more with a new one.
#[allow(clippy::too_many_arguments)]
fn on_upstream_response(
    response: web_sys::Response,
    status: u16,
    connection: Option<String>,
    request: web_sys::Request,
    header_value: JsValue,
    ctx: JsValue,
    route: u32,
    started: f64,
) -> JsValue {
    let Some((proxy, index)) = current_gate(route) else {
        return settle(Err("the proxy is gone".into())).into();
    };
    let relayed = |proxy: &Proxy, gate: &Gate| {
        let connection = connection.as_deref().unwrap_or_default();
        // `then` takes the Response itself; only a fault needs a promise.
        match relay(proxy, &response, connection, &gate.cache_timing) {
            Ok(answer) => {
                // The hot path: the status crosses the boundary only for the debug log.
                if proxy.debug_log {
                    let source = Some(TokenSource::Cache);
                    log(
                        proxy,
                        Some(gate),
                        &request,
                        answer.status(),
                        source,
                        started,
                        None,
                    );
                }
                JsValue::from(answer)
            }
            Err(fault) => settle(Err(fault)).into(),
        }
    };
    let gate = &proxy.gates[index];
    if status != 401 {
        gate.engine.accepted(&header_value);
        return relayed(&proxy, gate);
    }
    let header_value = header_value.as_string().unwrap_or_default();
    let refused = access_token_of(&header_value).to_owned();
    if !gate.engine.refused(&refused) {
        return relayed(&proxy, gate);
    }
    discard(&response);
    future_to_promise(async move {
        let answer = async {
            let headers = request.headers();
            match admit(&proxy, &request, &request.url(), &headers, started)? {
                Ok((index, target)) => {
                    let gate = &proxy.gates[index];
                    let connection = headers.get("connection")?.unwrap_or_default();
                    let dropped = gate.request_drop.with_connection(&connection);
                    let outbound = copy_without(&headers, &dropped)?;
                    let refused = Some(refused.as_str());
                    forward(
                        &proxy, gate, &request, &ctx, &target, &outbound, started, refused,
                    )
                    .await
                }
                Err(refusal) => Ok(refusal),
            }
        };
        Ok(settle(answer.await).into())
    })
    .into()
}

fn proxy_for(env: &Env) -> Result<Rc<Proxy>, TokenError> {
    let cached = PROXY.with(|p| p.borrow().clone());
    if let Some(proxy) = cached.filter(|p| Object::is(&p.env, env)) {
        return Ok(proxy);
    }
    let vars = EnvVars(env);
    let gateway = gateway_of(env)?;
    let mut gates = Vec::with_capacity(gateway.routes.len());
    for route in gateway.routes {
        let via = match &route.service {
            None => js_sys::global().into(),
            Some(name) => vars.get(name).unwrap_or_default(),
        };
        let broker = route.broker.then(|| {
            let namespace = vars.get(TOKEN_BROKER).unwrap_or_default();
            BrokerClient::new(namespace, &route.client, gateway.broker_timeout_ms)
        });
        // With a broker, the isolate's copy is used until it expires (less the margin) and
        // then asked for again: the broker refreshes ahead, once for every isolate.
        let mut client = route.client.clone();
        if broker.is_some() {
            client.timing.refresh_ahead_ms = 0;
        }
        let timing = server_timing(TokenSource::Cache, 0.0, &route.prefix);
        gates.push(Gate {
            engine: Engine::new(client, Fetcher::global()?),
            broker,
            via,
            request_drop: Names::new(request_headers_to_drop(
                &gateway.key_header,
                &route.client.header_name,
                "",
            )),
            header_name: JsValue::from_str(&route.client.header_name),
            cache_timing: JsValue::from_str(&timing),
            route,
        });
    }
    let proxy = Rc::new(Proxy {
        env: env.clone().into(),
        gates,
        key_header: gateway.key_header,
        debug_log: gateway.debug_log,
        response_drop: Names::new(hop_by_hop_headers("")),
    });
    PROXY.with(|p| p.replace(Some(proxy.clone())));
    Ok(proxy)
}

/// A JSON answer with `status` (and `Retry-After`).
pub(super) fn json_response(
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

/// A token (and whether it came from memory), or the answer for a token failure: from the
/// isolate's memory, else from the route's token broker when it has one, else (or when the
/// broker does not answer in time) by its own renewal. `refused`: the token the origin has
/// just refused, which the broker then drops too.
async fn bearer(
    gate: &Gate,
    ctx: &JsValue,
    refused: Option<&str>,
) -> Result<Result<(Rc<Bearer>, bool), TokenFailure>, JsValue> {
    if let Some(bearer) = gate.engine.fresh_bearer() {
        return Ok(Ok((bearer, true)));
    }
    if let Some(broker) = &gate.broker {
        match broker.ask(&gate.route.prefix, refused).await {
            Some(HandOut::Token(token)) => {
                if let Some(bearer) = gate.engine.adopt(token, None) {
                    return Ok(Ok((bearer, false)));
                }
            }
            Some(HandOut::Failure(answer)) => {
                let retry_after = answer.retry_after_seconds.map(|s| s.to_string());
                return Ok(Err(TokenFailure {
                    answer: json_response(answer.status, retry_after.as_deref(), &answer.body)?,
                    detail: "the token broker answered with a token failure".into(),
                }));
            }
            // Counted and logged by the one question that fell through.
            None => {}
        }
    }
    let (outcome, from_memory) = gate.engine.token(ctx).await;
    match outcome {
        Ok(bearer) => Ok(Ok((bearer, from_memory))),
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

/// The stats of `route`'s token broker, for a caller with one of the route's keys.
async fn broker_stats(
    proxy: &Proxy,
    headers: &Headers,
    route: &str,
) -> Result<web_sys::Response, JsValue> {
    let gate = proxy.gates.iter().find(|g| g.route.prefix == route);
    let Some((gate, broker)) = gate.and_then(|g| Some((g, g.broker.as_ref()?))) else {
        let body = json_error(
            "no_broker",
            "no_broker",
            "no route with a token broker has this prefix",
        );
        return json_response(404, None, &body);
    };
    // Only with a key: a route open to anyone (ALLOW_ANONYMOUS) shows no stats.
    let presented = headers.get(&proxy.key_header)?;
    let keyed = matches!(gate.route.access, Access::Keys(_));
    if !keyed || check_access(&gate.route.access, presented.as_deref()).is_err() {
        let message = "present one of the route's proxy keys";
        return json_response(
            401,
            None,
            &json_error("unauthorized", "unauthorized", message),
        );
    }
    match broker.stats().await {
        Some(stats) => json_response(200, None, &stats),
        None => {
            let message = "the token broker did not answer in time";
            json_response(
                503,
                None,
                &json_error("broker_unavailable", "broker_unavailable", message),
            )
        }
    }
}

/// Finds the route, checks the caller's key for it and the path: the route's index and the
/// upstream URL, or the (logged) refusal.
fn admit(
    proxy: &Proxy,
    request: &web_sys::Request,
    url: &str,
    headers: &Headers,
    started: f64,
) -> Result<Result<(usize, String), web_sys::Response>, JsValue> {
    let routes = proxy.gates.iter().map(|g| &g.route);
    let Some((index, path)) = route_for(routes, path_and_query(url)) else {
        let message = "no route serves this path";
        return refuse(proxy, None, request, 404, "no_route", message, started).map(Err);
    };
    let route = &proxy.gates[index].route;
    let gate = Some(&proxy.gates[index]);
    let presented = headers.get(&proxy.key_header)?;
    if check_access(&route.access, presented.as_deref()).is_err() {
        let message = format!(
            "present one of the proxy keys in the {} header",
            proxy.key_header
        );
        return refuse(proxy, gate, request, 401, "unauthorized", &message, started).map(Err);
    }
    let Ok(target) = upstream_url(&route.base, &path.to_path()) else {
        let message = "the path must not contain dot segments, backslashes or control characters";
        return refuse(proxy, gate, request, 400, "bad_path", message, started).map(Err);
    };
    Ok(Ok((index, target)))
}
/// Sends the request with a token, waiting for one if need be; after an origin 401, drops
/// the token and sends once more with a new one if the body can be replayed. `refused`: the
/// token the previous attempt had, refused already (no further retry).
#[allow(clippy::too_many_arguments)]
async fn forward(
    proxy: &Proxy,
    gate: &Gate,
    request: &web_sys::Request,
    ctx: &JsValue,
    target: &str,
    outbound: &Headers,
    started: f64,
    refused: Option<&str>,
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
    let (mut bearer, mut source) = match self::bearer(gate, ctx, refused).await? {
        Ok((bearer, _)) if refused.is_some() => (bearer, TokenSource::Refresh),
        Ok((bearer, true)) => (bearer, TokenSource::Cache),
        Ok((bearer, false)) => (bearer, TokenSource::Fetch),
        Err(failure) => return Ok(logged(proxy, gate, request, failure, started)),
    };
    let mut token_ms = Date::now() - token_started;

    let mut response = send(gate, target, &method, outbound, &bearer, body.as_ref()).await?;
    let mut retried = refused.is_some();
    while response.status() == 401 {
        // A refused token is renewed at most once per request, and not at all when it had
        // replaced a refused one itself (the cache counts that as a failure).
        if !replayable || !gate.engine.refused(&bearer.access_token) || retried {
            break;
        }
        retried = true;
        discard(&response);
        let refresh_started = Date::now();
        let refused = Some(bearer.access_token.as_str());
        bearer = match self::bearer(gate, ctx, refused).await? {
            Ok((found, _)) => found,
            Err(failure) => return Ok(logged(proxy, gate, request, failure, started)),
        };
        token_ms += Date::now() - refresh_started;
        source = TokenSource::Refresh;
        response = send(gate, target, &method, outbound, &bearer, body.as_ref()).await?;
    }
    if response.status() != 401 {
        gate.engine.accepted(&bearer.header_value);
    }

    let timing = JsValue::from_str(&server_timing(source, token_ms, &gate.route.prefix));
    let connection = response.headers().get("connection")?.unwrap_or_default();
    let answer = relay(proxy, &response, &connection, &timing)?;
    log(
        proxy,
        Some(gate),
        request,
        answer.status(),
        Some(source),
        started,
        None,
    );
    Ok(answer)
}

/// A token-failure answer, logged like every other.
fn logged(
    proxy: &Proxy,
    gate: &Gate,
    request: &web_sys::Request,
    failure: TokenFailure,
    started: f64,
) -> web_sys::Response {
    let status = failure.answer.status();
    let detail = Some(failure.detail.as_str());
    log(proxy, Some(gate), request, status, None, started, detail);
    failure.answer
}

fn refuse(
    proxy: &Proxy,
    gate: Option<&Gate>,
    request: &web_sys::Request,
    status: u16,
    error: &str,
    message: &str,
    started: f64,
) -> Result<web_sys::Response, JsValue> {
    log(proxy, gate, request, status, None, started, None);
    json_response(status, None, &json_error(error, error, message))
}

/// Sends the request to the origin with the token; redirects come back unfollowed.
async fn send(
    gate: &Gate,
    target: &str,
    method: &str,
    headers: &Headers,
    bearer: &Bearer,
    body: Option<&JsValue>,
) -> Result<web_sys::Response, JsValue> {
    // The outbound copy is this request's own: setting the token replaces any earlier one.
    let none = JsValue::UNDEFINED;
    let pending = send_upstream(
        &gate.via,
        target,
        method,
        headers,
        &gate.header_name,
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
/// carry keys), the route's prefix (with `ROUTES`), status, token source, time, and a token
/// failure's cleaned message. Never a header value or a token.
fn log(
    proxy: &Proxy,
    gate: Option<&Gate>,
    request: &web_sys::Request,
    status: u16,
    source: Option<TokenSource>,
    started: f64,
    error: Option<&str>,
) {
    if !proxy.debug_log {
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
    // The prefix is checked printable ASCII without quotes or backslashes.
    let route = match gate {
        Some(gate) if !gate.route.prefix.is_empty() => {
            format!(",\"route\":\"{}\"", gate.route.prefix)
        }
        _ => String::new(),
    };
    let line = format!(
        "{{\"edgeOauth\":\"request\",\"method\":\"{}\",\"path\":\"{}\"{route},\"status\":{status},\"token\":\"{token}\",\"ms\":{:.1}{error}}}",
        json_escape(&request.method()),
        json_escape(&path),
        Date::now() - started,
    );
    web_sys::console::log_1(&line.into());
}
