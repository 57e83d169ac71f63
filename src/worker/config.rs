//! The Worker's configuration from its vars and secrets: the token client's options under
//! their Worker names, the origin, who may call, and the logging level. Errors name the var
//! to fix and never quote a secret.

use alloc::{borrow::ToOwned, format, string::String, vec, vec::Vec};
use core::fmt;

use super::routes::{read_routes, Route, RouteValue};
use crate::config::{
    check_endpoint_url, checked_number, is_header_name, Config, ConfigInput, Source, UrlParser,
};
use crate::error::TokenError;
use crate::options::*;
use crate::secret::ClientSecret;

/// A key callers present to use the proxy. Compared in constant time, never printed.
#[derive(Clone)]
pub struct ProxyKey(pub(super) ClientSecret);

impl fmt::Debug for ProxyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyKey([redacted])")
    }
}

/// Who may use the proxy.
#[derive(Clone, Debug)]
pub enum Access {
    /// Callers must present one of these keys.
    Keys(Vec<ProxyKey>),
    /// Anyone (`ALLOW_ANONYMOUS=true`: for Workers reached only through service bindings).
    Anonymous,
}

/// What the Worker reads from its `env`: vars and secrets by name, and its service bindings.
pub trait WorkerEnv {
    /// The var or secret `name` as text (a number or boolean var as its text); `None` when
    /// unset or not text.
    fn var(&self, name: &str) -> Option<String>;
    /// Whether `name` is a service binding (something with a `fetch`).
    fn is_service(&self, name: &str) -> bool;
    /// Whether the `TOKEN_BROKER` Durable Object binding is there.
    fn has_token_broker(&self) -> bool;
}

/// The Durable Object binding of the token broker.
pub const TOKEN_BROKER: &str = "TOKEN_BROKER";

/// The Worker's configuration: its routes, and what they share.
#[derive(Clone, Debug)]
pub struct Gateway {
    /// As `ROUTES` lists them; for the single-origin vars, one route with an empty prefix.
    pub routes: Vec<Route>,
    /// The header callers put their key in, lowercased.
    pub key_header: String,
    /// `LOG_LEVEL=debug`: one structured line per request.
    pub debug_log: bool,
    /// `BROKER_TIMEOUT_MS`: how long an isolate waits for its token broker.
    pub broker_timeout_ms: u64,
}

/// The vars that hold for every route; with `ROUTES`, the other vars (but secrets, which
/// routes name) must be unset: each route holds its own settings.
const SHARED: [&Setting; 6] = [
    &ROUTES,
    &PROXY_KEYS,
    &PROXY_KEY_HEADER,
    &ALLOW_ANONYMOUS,
    &BROKER_TIMEOUT_MS,
    &LOG_LEVEL,
];

/// Builds the Worker's configuration: from `ROUTES` (`routes`, as read from JSON) when it is
/// set, else from the single-origin vars, as one route for every path.
pub fn gateway_config(
    routes: Option<&RouteValue>,
    env: &impl WorkerEnv,
    urls: &impl UrlParser,
) -> Result<Gateway, TokenError> {
    let vars = Vars(|name: &str| env.var(name));
    let broker_timeout_ms = broker_timeout_ms(&vars)?;
    let Some(routes) = routes else {
        let single = proxy_config(|name| env.var(name), urls)?;
        let route = Route {
            prefix: String::new(),
            keep_prefix: false,
            base: single.origin_base,
            service: None,
            client: single.client,
            access: single.access,
            // Opted in by the binding alone.
            broker: env.has_token_broker(),
        };
        return Ok(Gateway {
            routes: vec![route],
            key_header: single.key_header,
            debug_log: single.debug_log,
            broker_timeout_ms,
        });
    };
    let stray = SETTINGS.iter().find(|setting| {
        !setting.name.var.is_empty()
            && setting.kind != Kind::Secret
            && !SHARED.contains(setting)
            && vars.get(setting.name).is_some()
    });
    if let Some(setting) = stray {
        let var = setting.name.var;
        let message = ["ROUTES is set, and so is ", var, ": each route holds its own settings, so move it into the routes (the npm option names) and unset it"].concat();
        return Err(TokenError::config(var, message));
    }
    let key_header = key_header(&vars)?;
    Ok(Gateway {
        routes: read_routes(routes, env, urls)?,
        key_header,
        debug_log: debug_log(&vars),
        broker_timeout_ms,
    })
}

/// `BROKER_TIMEOUT_MS`, checked against its row.
fn broker_timeout_ms(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<u64, TokenError> {
    let (name, limits) = BROKER_TIMEOUT_MS.number();
    let ms = checked_number(Surface::Worker, name, &limits, vars.number(name))?;
    Ok(ms as u64)
}

/// The validated configuration of the single-origin vars.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The token client's configuration.
    pub client: Config,
    /// `ORIGIN_URL` without a trailing slash, query or fragment.
    pub origin_base: String,
    /// Inbound access control.
    pub access: Access,
    /// The header callers put their key in, lowercased.
    pub key_header: String,
    /// `LOG_LEVEL=debug`: one structured line per request.
    pub debug_log: bool,
}

/// The Worker's vars as a [`Source`] of settings: each read by its var name, trimmed, empty
/// counting as absent. `var` answers for the vars the Worker declares.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The var as set; `None` for a setting the Worker has no var for.
    fn raw(&self, name: Name) -> Option<String> {
        (!name.var.is_empty()).then(|| (self.0)(name.var)).flatten()
    }

    /// The var, trimmed; `None` when unset or blank.
    fn get(&self, name: Name) -> Option<String> {
        let value = self.raw(name)?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }
}

impl<F: Fn(&str) -> Option<String>> Source for Vars<F> {
    fn surface(&self) -> Surface {
        Surface::Worker
    }

    fn text(&self, name: Name) -> Option<String> {
        self.get(name)
    }

    fn secret(&self, name: Name) -> Option<String> {
        // Only line breaks are trimmed: `echo … | wrangler secret put` leaves one at the end.
        let value = self.raw(name)?;
        let value = value.trim_end_matches(['\r', '\n']);
        (!value.is_empty()).then(|| value.to_owned())
    }

    fn number(&self, name: Name) -> Option<f64> {
        // Not a number: NaN, which validation refuses with the message that says what it must be.
        self.get(name).map(|text| text.parse().unwrap_or(f64::NAN))
    }

    fn flag(&self, name: Name) -> Result<bool, TokenError> {
        match self.get(name).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(TokenError::config(
                name.var,
                [name.var, " must be true or false"].concat(),
            )),
        }
    }

    fn list(&self, name: Name) -> Vec<String> {
        self.get(name)
            .map(|text| text.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// Builds the proxy configuration from Worker vars and secrets (`var(name)`), with URLs read by
/// the platform's parser. Errors name the variable to fix and never quote a secret.
pub fn proxy_config(
    var: impl Fn(&str) -> Option<String>,
    urls: &impl UrlParser,
) -> Result<ProxyConfig, TokenError> {
    let vars = Vars(var);
    let required = |setting: &Setting, advice: &str| {
        vars.get(setting.name).ok_or_else(|| {
            let var = setting.name.var;
            TokenError::config(var, [var, " is required: ", advice].concat())
        })
    };
    let origin_url = required(&ORIGIN_URL, "the URL requests are forwarded to")?;
    let origin_base = origin_base(&origin_url)?;

    let input = ConfigInput::read(&vars)?;
    let endpoints = [
        input.token_url.is_some(),
        input.issuer.is_some(),
        input.keycloak.is_some(),
    ];
    let endpoint_advice = match endpoints.iter().filter(|set| **set).count() {
        0 => "set ",
        1 => "",
        _ => "set only one of ",
    };
    if !endpoint_advice.is_empty() {
        let message = [
            endpoint_advice,
            "TOKEN_URL, ISSUER, or KEYCLOAK_BASE_URL and KEYCLOAK_REALM",
        ];
        return Err(TokenError::config(TOKEN_URL.name.var, message.concat()));
    }
    let client = input.validate(urls)?;
    let insecure = client.allow_insecure_http;
    check_endpoint_url(
        Surface::Worker,
        ORIGIN_URL.name,
        &origin_url,
        insecure,
        urls,
    )?;

    Ok(ProxyConfig {
        client,
        origin_base,
        access: access(&vars)?,
        key_header: key_header(&vars)?,
        debug_log: debug_log(&vars),
    })
}

/// The comma-separated keys of a `PROXY_KEYS`-like secret; `None` when it holds none.
pub(super) fn keys_from(secret: Option<String>) -> Option<Vec<ProxyKey>> {
    let keys: Vec<ProxyKey> = secret?
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| ProxyKey(ClientSecret::new(k)))
        .collect();
    (!keys.is_empty()).then_some(keys)
}

/// Who may call: the keys of `PROXY_KEYS`, or anyone with `ALLOW_ANONYMOUS=true`.
fn access(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Access, TokenError> {
    match (keys_from(vars.secret(PROXY_KEYS.name)), vars.flag(ALLOW_ANONYMOUS.name)?) {
        (Some(keys), _) => Ok(Access::Keys(keys)),
        (None, true) => Ok(Access::Anonymous),
        (None, false) => Err(TokenError::config(
            PROXY_KEYS.name.var,
            "PROXY_KEYS is not set: set it (wrangler secret put PROXY_KEYS) to the comma-separated keys callers may present, or ALLOW_ANONYMOUS=true if this Worker is reached only through service bindings",
        )),
    }
}

impl Access {
    /// Who may call a route that names no `keys` of its own: as for the single-origin vars.
    pub(super) fn from_env(env: &impl WorkerEnv) -> Result<Self, TokenError> {
        access(&Vars(|name: &str| env.var(name)))
    }
}

/// `PROXY_KEY_HEADER`, lowercased.
fn key_header(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<String, TokenError> {
    let key_header = vars
        .get(PROXY_KEY_HEADER.name)
        .unwrap_or_else(|| PROXY_KEY_HEADER.default.into())
        .to_ascii_lowercase();
    if !is_header_name(&key_header) {
        return Err(TokenError::config(
            PROXY_KEY_HEADER.name.var,
            "PROXY_KEY_HEADER must be a valid HTTP header name such as X-Proxy-Key",
        ));
    }
    Ok(key_header)
}

/// `LOG_LEVEL=debug`.
fn debug_log(vars: &Vars<impl Fn(&str) -> Option<String>>) -> bool {
    vars.get(LOG_LEVEL.name)
        .is_some_and(|l| l.eq_ignore_ascii_case("debug"))
}

/// The base requests are appended to: `https://Api.example.com:8443/v1/` →
/// `https://api.example.com:8443/v1` (scheme and host lowercased, no trailing slash).
pub(super) fn origin_base(url: &str) -> Result<String, TokenError> {
    let bad = || {
        TokenError::config("ORIGIN_URL", "ORIGIN_URL must be an absolute http(s) URL without query, fragment or credentials, such as https://api.example.com/v1")
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if !(scheme == "https" || scheme == "http") || url.contains(['?', '#', '\\']) {
        return Err(bad());
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    Ok(format!(
        "{scheme}://{}{}",
        authority.to_ascii_lowercase(),
        path.trim_end_matches('/')
    ))
}
