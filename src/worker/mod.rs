//! The Cloudflare Worker: a proxy that checks the caller's key, attaches a bearer token for the
//! configured client and forwards the request to one origin, streaming both ways. Tokens live
//! in isolate memory, shared by every request the isolate serves, in an [`Engine`] that steps
//! the same core driver as `TokenClient` (single flight, refresh ahead, retries). The decisions
//! are in [`crate::proxy`]; this module does the I/O.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Date, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, ReadableStream, RequestInit, RequestRedirect, ResponseInit, Url};
use worker::{event, Context, Env};

use crate::error::TokenError;
use crate::proxy::{
    buffer_for_replay, check_access, json_error, path_and_query, proxy_config,
    request_headers_to_drop, response_headers_to_drop, server_timing, token_failure, upstream_url,
    ProxyConfig, Refusal, TokenSource,
};
use crate::wasm::values::object;
use engine::Engine;
use http::{network_from, Fetcher};

mod engine;
mod http;

/// The Worker vars and secrets the proxy reads.
const VARS: [&str; 21] = [
    "ORIGIN_URL",
    "TOKEN_URL",
    "ISSUER",
    "KEYCLOAK_BASE_URL",
    "KEYCLOAK_REALM",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "SCOPE",
    "AUTH_METHOD",
    "BASIC_AUTH_ENCODING",
    "AUTH_HEADER",
    "REFRESH_AHEAD_SECONDS",
    "EXPIRY_MARGIN_SECONDS",
    "DEFAULT_EXPIRES_IN_SECONDS",
    "TIMEOUT_MS",
    "MAX_RETRIES",
    "ALLOW_INSECURE_HTTP",
    "PROXY_KEYS",
    "PROXY_KEY_HEADER",
    "ALLOW_ANONYMOUS",
    "LOG_LEVEL",
];

/// The isolate's proxy: built from the first `env` seen, rebuilt if a request brings another.
struct Proxy {
    env: JsValue,
    config: ProxyConfig,
    engine: Engine,
    fetcher: Fetcher,
}

thread_local! {
    static PROXY: RefCell<Option<Rc<Proxy>>> = const { RefCell::new(None) };
}

/// Takes and returns the platform's own Request and Response: a `worker::Request` reads the
/// method, URL, headers and `cf` of every request up front, and a `worker::Response` is
/// rebuilt into a second `Response` on the way out.
#[event(fetch)]
async fn fetch(
    request: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<web_sys::Response> {
    let response = match proxy_for(&env) {
        Ok(proxy) => forward(&proxy, &request).await,
        Err(error) => json_response(500, None, &token_failure(&error).body),
    };
    response.map_err(worker::Error::from)
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
    let config = proxy_config(|name| VARS.contains(&name).then(|| read_var(env, name)).flatten())?;
    let fetcher = Fetcher::new(None)?;
    let engine = Engine::new(
        config.client.clone(),
        fetcher.clone(),
        Box::new(failure_value),
    );
    let proxy = Rc::new(Proxy {
        env: env.clone().into(),
        config,
        engine,
        fetcher,
    });
    PROXY.with(|p| p.replace(Some(proxy.clone())));
    Ok(proxy)
}

/// What a failed token renewal rejects with: the Worker's answer, ready to send.
fn failure_value(error: &TokenError) -> JsValue {
    let answer = token_failure(error);
    object(&[
        ("status", f64::from(answer.status).into()),
        (
            "retryAfter",
            answer
                .retry_after_seconds
                .map_or(JsValue::UNDEFINED, |s| (s as f64).into()),
        ),
        ("body", answer.body.into()),
    ])
    .into()
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

/// A token and its header value, or the answer to send instead.
struct Bearer {
    access_token: String,
    header_value: String,
}

async fn bearer(proxy: &Proxy) -> Result<(Bearer, bool), web_sys::Response> {
    if let Some((access_token, header_value)) = proxy.engine.fresh_bearer() {
        return Ok((
            Bearer {
                access_token,
                header_value,
            },
            true,
        ));
    }
    let answer = proxy.engine.get();
    match JsFuture::from(answer.promise).await {
        Ok(info) => {
            let text = |name: &str| {
                Reflect::get(&info, &name.into())
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default()
            };
            let access_token = text("accessToken");
            let header_value = format!("{} {access_token}", text("tokenType"));
            Ok((
                Bearer {
                    access_token,
                    header_value,
                },
                answer.from_cache,
            ))
        }
        Err(failure) => {
            let field =
                |name: &str| Reflect::get(&failure, &name.into()).unwrap_or(JsValue::UNDEFINED);
            let status = field("status").as_f64().unwrap_or(502.0) as u16;
            let retry_after = field("retryAfter").as_f64().map(|s| s.to_string());
            let body = field("body").as_string().unwrap_or_default();
            Err(json_response(status, retry_after.as_deref(), &body)
                .expect("a JSON response can always be built"))
        }
    }
}

async fn forward(proxy: &Proxy, request: &web_sys::Request) -> Result<web_sys::Response, JsValue> {
    let started = Date::now();
    let config = &proxy.config;
    let headers = request.headers();
    if check_access(&config.access, headers.get(&config.key_header)?.as_deref()).is_err() {
        let message = format!(
            "present one of the proxy keys in the {} header",
            config.key_header
        );
        return refuse(proxy, request, 401, "unauthorized", &message, started);
    }
    let url = request.url();
    let target = match upstream_url(config, path_and_query(&url)) {
        Ok(target) => target,
        Err(Refusal::BadPath | Refusal::Unauthorized) => {
            return refuse(
                proxy,
                request,
                400,
                "bad_path",
                "the path must not contain dot segments, backslashes or control characters",
                started,
            )
        }
    };

    // Copied by the platform in one call; only the dropped names cross the boundary.
    let connection = headers.get("connection")?.unwrap_or_default();
    let outbound = Headers::new_with_headers(&headers)?;
    for name in request_headers_to_drop(config, &connection) {
        outbound.delete(name)?;
    }

    // No body (GET, HEAD, most proxied calls): nothing to buffer, always replayable.
    let (body, replayable): (Option<JsValue>, bool) = match request.body() {
        None => (None, true),
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
    let (mut bearer, from_cache) = match bearer(proxy).await {
        Ok(found) => found,
        Err(answer) => return Ok(logged(proxy, request, answer, started)),
    };
    let mut source = if from_cache {
        TokenSource::Cache
    } else {
        TokenSource::Fetch
    };
    let mut token_ms = Date::now() - token_started;

    let method = request.method();
    let mut response = send(proxy, &target, &method, &outbound, &bearer, body.as_ref()).await?;
    if response.status() == 401 && replayable {
        discard(&response);
        proxy.engine.invalidate_token(&bearer.access_token);
        let refresh_started = Date::now();
        bearer = match self::bearer(proxy).await {
            Ok((found, _)) => found,
            Err(answer) => return Ok(logged(proxy, request, answer, started)),
        };
        token_ms += Date::now() - refresh_started;
        source = TokenSource::Refresh;
        response = send(proxy, &target, &method, &outbound, &bearer, body.as_ref()).await?;
    }

    let answer = relay(&response, &server_timing(source, token_ms))?;
    log(proxy, request, answer.status(), Some(source), started);
    Ok(answer)
}

/// A token-failure answer, logged like every other.
fn logged(
    proxy: &Proxy,
    request: &web_sys::Request,
    answer: web_sys::Response,
    started: f64,
) -> web_sys::Response {
    log(proxy, request, answer.status(), None, started);
    answer
}

fn refuse(
    proxy: &Proxy,
    request: &web_sys::Request,
    status: u16,
    error: &str,
    message: &str,
    started: f64,
) -> Result<web_sys::Response, JsValue> {
    log(proxy, request, status, None, started);
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
    headers.set(&proxy.config.client.header_name, &bearer.header_value)?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(headers);
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = body {
        init.set_body(body);
    }
    let pending = proxy.fetcher.call(&JsValue::from_str(target), &init)?;
    match JsFuture::from(Promise::resolve(&pending)).await {
        Ok(response) => Ok(response.unchecked_into()),
        Err(error) => {
            let message = network_from(&error).to_string();
            json_response(
                502,
                None,
                &json_error("origin_unreachable", "network", &message),
            )
        }
    }
}

/// The origin's response, streamed back, without hop-by-hop headers, with `Server-Timing`.
fn relay(response: &web_sys::Response, timing: &str) -> Result<web_sys::Response, JsValue> {
    let connection = response.headers().get("connection")?.unwrap_or_default();
    // The upstream response serves as the init: status, status text and headers are copied
    // by the platform, and the copy's headers can be changed.
    let body: Option<ReadableStream> = response.body();
    let answer = web_sys::Response::new_with_opt_readable_stream_and_init(
        body.as_ref(),
        response.unchecked_ref(),
    )?;
    let headers = answer.headers();
    for name in response_headers_to_drop(&connection) {
        headers.delete(name)?;
    }
    headers.append("server-timing", timing)?;
    Ok(answer)
}

/// Lets go of a response body that will not be read.
fn discard(response: &web_sys::Response) {
    if let Some(body) = response.body() {
        let _ = body.cancel();
    }
}

/// One structured line per request with `LOG_LEVEL=debug`: method, path (no query: it may
/// carry keys), status, token source and time. Never a header value or a token.
fn log(
    proxy: &Proxy,
    request: &web_sys::Request,
    status: u16,
    source: Option<TokenSource>,
    started: f64,
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
    let line = format!(
        "{{\"edgeOauth\":\"request\",\"method\":\"{}\",\"path\":\"{}\",\"status\":{status},\"token\":\"{token}\",\"ms\":{:.1}}}",
        crate::proxy::json_escape(&request.method()),
        crate::proxy::json_escape(&path),
        Date::now() - started,
    );
    web_sys::console::log_1(&line.into());
}
