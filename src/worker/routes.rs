//! The gateway's routes (`ROUTES`): a JSON array in which each entry sends the paths under a
//! prefix to its own origin (or service binding) with its own token client, named as the npm
//! `TokenClient` options are. Each entry is checked against the settings table
//! ([`crate::options`]) and read through the same [`ConfigInput::read`] as everything else;
//! secrets are never inline, only named (`{ "secret": "NAME" }`). Errors name the route and
//! the field, and quote values only inside `'…'`, which a caller's answer elides.

use alloc::{
    borrow::{Cow, ToOwned},
    string::{String, ToString},
    vec::Vec,
};

use super::config::{keys_from, origin_base, Access, WorkerEnv};
use crate::config::{check_endpoint_url, Config, ConfigInput, GrantConfig, Source, UrlParser};
use crate::error::TokenError;
use crate::options::*;

/// A JSON value of `ROUTES`, as the Worker reads it from the platform's object (`JSON.parse`
/// of a string var, or wrangler's `[[vars.ROUTES]]` table). Any JSON reads: what each field
/// must be is checked against the settings table. No `Debug`: a misplaced secret would print.
pub enum RouteValue {
    /// `null` (or `undefined`): as if absent.
    Null,
    /// `true` or `false`.
    Flag(bool),
    /// A number.
    Number(f64),
    /// A string.
    Text(String),
    /// An array.
    List(Vec<RouteValue>),
    /// An object's fields (a list: a route has few, and a map's code would cost the wasm).
    Object(Vec<(String, RouteValue)>),
}

impl RouteValue {
    /// The field `name` of an object.
    fn field<'a>(fields: &'a [(String, RouteValue)], name: &str) -> Option<&'a RouteValue> {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value)
    }
}

/// One route, validated.
#[derive(Clone, Debug)]
pub struct Route {
    /// The path prefix it serves; empty for the one implicit route of the single-origin vars.
    pub prefix: String,
    /// Whether the prefix stays on the path sent upstream.
    pub keep_prefix: bool,
    /// The URL base the path is appended to: the origin's (read as `ORIGIN_URL` is), or
    /// `https://{service}` for a service binding.
    pub base: String,
    /// The service binding requests go through (another Worker), instead of the network.
    pub service: Option<String>,
    /// Its token client.
    pub client: Config,
    /// Who may call it.
    pub access: Access,
    /// Whether its token comes through the `TOKEN_BROKER` Durable Object, shared by every
    /// isolate.
    pub broker: bool,
}

impl Route {
    /// The path and query to send upstream when this route serves `path_and_query`, or `None`
    /// when it does not. A prefix ending in `/` matches what starts with it; any other
    /// matches whole segments (`/api` serves `/api`, `/api/x` and `/api?q`, not `/apix`).
    pub fn serves<'a>(&self, path_and_query: &'a str) -> Option<RoutedPath<'a>> {
        let rest = path_and_query.strip_prefix(self.prefix.as_str())?;
        let boundary = self.prefix.is_empty()
            || self.prefix.ends_with('/')
            || rest.is_empty()
            || rest.starts_with(['/', '?']);
        if !boundary {
            return None;
        }
        Some(if self.keep_prefix || self.prefix.is_empty() {
            RoutedPath::Whole(path_and_query)
        } else {
            RoutedPath::Rest(rest)
        })
    }
}

/// The path a route sends upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoutedPath<'a> {
    /// The path and query as they came.
    Whole(&'a str),
    /// What follows the prefix: `/` goes before it unless it starts with one.
    Rest(&'a str),
}

impl<'a> RoutedPath<'a> {
    /// As a path and query that starts with `/`.
    pub fn to_path(self) -> Cow<'a, str> {
        match self {
            Self::Whole(path) => Cow::Borrowed(path),
            Self::Rest(rest) if rest.starts_with('/') => Cow::Borrowed(rest),
            Self::Rest(rest) => Cow::Owned(["/", rest].concat()),
        }
    }
}

/// The route of `routes` that serves `path_and_query` with the longest prefix, by its index,
/// and the path it sends upstream.
pub fn route_for<'r, 'p>(
    routes: impl IntoIterator<Item = &'r Route>,
    path_and_query: &'p str,
) -> Option<(usize, RoutedPath<'p>)> {
    let serving = routes.into_iter().enumerate().filter_map(|(index, route)| {
        let path = route.serves(path_and_query)?;
        Some((route.prefix.len(), index, path))
    });
    serving
        .max_by_key(|(length, ..)| *length)
        .map(|(_, index, path)| (index, path))
}

/// The fields of a route that are not token-client options.
const ROUTE_FIELDS: [&str; 6] = [
    "prefix",
    "origin",
    "service",
    "keepPrefix",
    "keys",
    "broker",
];

/// The most routes, the longest prefix, and the longest unknown field name a message repeats.
const MAX_ROUTES: usize = 256;
const MAX_PREFIX_CHARS: usize = 256;
const MAX_FIELD_CHARS: usize = 64;

/// Reads `ROUTES`: every route checked, in the order given.
pub fn read_routes(
    routes: &RouteValue,
    env: &impl WorkerEnv,
    urls: &impl UrlParser,
) -> Result<Vec<Route>, TokenError> {
    let RouteValue::List(entries) = routes else {
        return Err(read_routes_error());
    };
    if entries.is_empty() || entries.len() > MAX_ROUTES {
        return Err(TokenError::config(
            ROUTES.name.var,
            "ROUTES must hold from 1 to 256 routes",
        ));
    }
    let mut read: Vec<Route> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let route = read_route(index, entry, env, urls)?;
        if read.iter().any(|r| r.prefix == route.prefix) {
            let message = [&label(&route.prefix), ": two routes have this prefix"].concat();
            return Err(TokenError::config("prefix", message));
        }
        read.push(route);
    }
    Ok(read)
}

/// `ROUTES` is not a JSON array (or not JSON).
pub fn read_routes_error() -> TokenError {
    TokenError::config(
        ROUTES.name.var,
        "ROUTES must be a JSON array of routes such as [{ \"prefix\": \"/api/\", \"origin\": \"https://api.example.com\", \"tokenUrl\": \"…\", \"clientId\": \"…\", \"clientSecret\": { \"secret\": \"API_CLIENT_SECRET\" } }]",
    )
}

/// How messages name a route: by its prefix.
fn label(prefix: &str) -> String {
    ["ROUTES ", prefix].concat()
}

/// A config error about `field` of the route labelled `route`.
fn problem(route: &str, field: &'static str, what: &str) -> TokenError {
    TokenError::config(field, [route, ": ", field, what].concat())
}

fn read_route(
    index: usize,
    entry: &RouteValue,
    env: &impl WorkerEnv,
    urls: &impl UrlParser,
) -> Result<Route, TokenError> {
    let at = ["ROUTES[", &index.to_string(), "]"].concat();
    let RouteValue::Object(fields) = entry else {
        return Err(TokenError::config(
            ROUTES.name.var,
            [&at, " must be an object with a prefix"].concat(),
        ));
    };
    let get = |name| RouteValue::field(fields, name);
    let prefix = match get("prefix") {
        Some(RouteValue::Text(prefix)) if is_prefix(prefix) => prefix.clone(),
        _ => return Err(problem(&at, "prefix", " must be a path that starts with /, of visible ASCII without quotes, backslashes, ? or #, such as /api/")),
    };
    let route = label(&prefix);
    let text = |field: &'static str| match get(field) {
        None | Some(RouteValue::Null) => Ok(None),
        Some(RouteValue::Text(text)) if !text.trim().is_empty() => Ok(Some(text.trim())),
        Some(_) => Err(problem(&route, field, " must be a non-empty string")),
    };
    let flag = |field: &'static str| match get(field) {
        None | Some(RouteValue::Null) => Ok(false),
        Some(RouteValue::Flag(flag)) => Ok(*flag),
        Some(_) => Err(problem(&route, field, " must be true or false")),
    };
    let keep_prefix = flag("keepPrefix")?;
    let broker = flag("broker")?;
    if broker && !env.has_token_broker() {
        let what = ": true needs the TOKEN_BROKER Durable Object binding ([[durable_objects.bindings]] in wrangler.toml)";
        return Err(problem(&route, "broker", what));
    }
    let origin = text("origin")?;
    let service = text("service")?;
    let keys = text("keys")?;

    let flat = flatten(&route, fields, env)?;
    let in_route = |error: TokenError| match error {
        TokenError::Config { option, message } => TokenError::Config {
            option,
            message: [route.as_str(), ": ", &message].concat(),
        },
        other => other,
    };
    let client = ConfigInput::read(&flat)
        .and_then(|input| input.validate(urls))
        .map_err(in_route)?;
    if matches!(client.grant, GrantConfig::DeviceCode) {
        let what = ": the device code grant needs a person to approve each sign-in, which a proxy cannot ask for";
        return Err(problem(&route, "grant", what));
    }
    let (base, service) = match (origin, service) {
        (Some(origin), None) => {
            check_endpoint_url(
                Surface::Npm,
                Name {
                    option: "origin",
                    var: "",
                },
                origin,
                client.allow_insecure_http,
                urls,
            )
            .map_err(in_route)?;
            let base = origin_base(origin).map_err(|_| {
                problem(&route, "origin", " must be an absolute http(s) URL without query, fragment or credentials, such as https://api.example.com/v1")
            })?;
            (base, None)
        }
        // Binding names are JS identifiers: one makes a host name.
        (None, Some(service)) if is_binding_name(service) && env.is_service(service) => {
            let base = ["https://", &service.to_ascii_lowercase()].concat();
            (base, Some(service.to_owned()))
        }
        (None, Some(service)) => {
            let what = [
                " names ",
                &quoted_name(service),
                ", which is not a service binding of this Worker ([[services]] in wrangler.toml)",
            ]
            .concat();
            return Err(problem(&route, "service", &what));
        }
        _ => {
            return Err(problem(
                &route,
                "origin",
                ": give either origin (a URL) or service (a service binding's name)",
            ))
        }
    };
    let access = match keys {
        Some(name) => match keys_from(env.var(name)) {
            Some(keys) => Access::Keys(keys),
            None => {
                let what = [
                    " names the secret ",
                    &quoted_name(name),
                    ", which is not set (wrangler secret put)",
                ]
                .concat();
                return Err(problem(&route, "keys", &what));
            }
        },
        None => Access::from_env(env)?,
    };
    Ok(Route {
        prefix,
        keep_prefix,
        base,
        service,
        client,
        access,
        broker,
    })
}

/// A prefix the route table can hold: a path that starts with `/`, of visible ASCII, with
/// nothing a path cannot hold as the runtime serializes it.
fn is_prefix(prefix: &str) -> bool {
    prefix.starts_with('/')
        && prefix.len() <= MAX_PREFIX_CHARS
        && prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"\\?#".contains(&b))
}

/// A binding's name, quoted for the log (a caller's answer elides it), when it looks like one:
/// what was pasted in its place (a secret, a list of keys) is never repeated.
fn quoted_name(name: &str) -> String {
    if is_binding_name(name) && name.len() <= MAX_FIELD_CHARS {
        ["'", name, "'"].concat()
    } else {
        "a name that is not a binding's".into()
    }
}

/// A service binding's name as wrangler allows it: a JS identifier.
fn is_binding_name(name: &str) -> bool {
    !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

/// A route's token-client options, flattened as `options.js` flattens the npm ones: keyed by
/// option name (`keycloak.realm`), secrets read from the secrets they name.
struct RouteOptions(Vec<(&'static str, Flat)>);

impl RouteOptions {
    fn get(&self, name: Name) -> Option<&Flat> {
        let found = self.0.iter().find(|(option, _)| *option == name.option);
        found.map(|(_, value)| value)
    }
}

enum Flat {
    Text(String),
    Number(f64),
    Flag(bool),
    List(Vec<String>),
}

/// Whether a route may set `setting`: a token-client option, but not the npm package's
/// functions (`fetch`, `onEvent`) nor the device flow's endpoint, which a proxy cannot use.
fn route_option(setting: &Setting, path: &str) -> bool {
    setting.name.option == path
        && !path.is_empty()
        && !matches!(setting.kind, Kind::Function(_))
        && setting.name != DEVICE_AUTHORIZATION_URL.name
}

/// A field name a message may repeat, or a stand-in.
fn field_label(name: &str) -> &str {
    let plain = !name.is_empty()
        && name.len() <= MAX_FIELD_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if plain {
        name
    } else {
        "(a name that is not an option)"
    }
}

fn flatten(
    route: &str,
    fields: &[(String, RouteValue)],
    env: &impl WorkerEnv,
) -> Result<RouteOptions, TokenError> {
    let mut flat = Vec::new();
    for (name, value) in fields {
        if ROUTE_FIELDS.contains(&name.as_str()) {
            continue;
        }
        let setting = SETTINGS.iter().find(|s| route_option(s, name));
        let Some(setting) = setting.filter(|s| !s.name.option.contains('.')) else {
            let message = [route, ": unknown field ", field_label(name)].concat();
            return Err(TokenError::config("ROUTES", message));
        };
        if let (Kind::Group(_), RouteValue::Object(members)) = (setting.kind, value) {
            for (member, value) in members {
                let path = [name.as_str(), ".", member].concat();
                let Some(setting) = SETTINGS.iter().find(|s| route_option(s, &path)) else {
                    let message = [route, ": unknown field ", field_label(&path)].concat();
                    return Err(TokenError::config("ROUTES", message));
                };
                flatten_one(route, setting, value, env, &mut flat)?;
            }
        } else {
            flatten_one(route, setting, value, env, &mut flat)?;
        }
    }
    Ok(RouteOptions(flat))
}

/// Checks one option's value against its row and adds it to `flat`.
fn flatten_one(
    route: &str,
    setting: &Setting,
    value: &RouteValue,
    env: &impl WorkerEnv,
    flat: &mut Vec<(&'static str, Flat)>,
) -> Result<(), TokenError> {
    let name = setting.name.option;
    let fail = |what: &str| Err(problem(route, name, what));
    let read = match (setting.kind, value) {
        (_, RouteValue::Null) => return Ok(()),
        (Kind::Text | Kind::Choice(..), RouteValue::Text(text)) => Flat::Text(text.clone()),
        (Kind::Number(_), RouteValue::Number(number)) => Flat::Number(*number),
        (Kind::Flag, RouteValue::Flag(flag)) => Flat::Flag(*flag),
        (Kind::Scopes, RouteValue::Text(text)) => {
            Flat::List(text.split_whitespace().map(str::to_owned).collect())
        }
        (Kind::Scopes, RouteValue::List(items)) => match strings(items) {
            Some(list) => Flat::List(list),
            None => return fail(" must be a string or an array of strings"),
        },
        (Kind::Params, RouteValue::Object(params)) => {
            let mut list = Vec::with_capacity(params.len() * 2);
            for (param, value) in params {
                let RouteValue::Text(value) = value else {
                    return fail(" must be an object of string values");
                };
                list.extend([param.clone(), value.clone()]);
            }
            Flat::List(list)
        }
        // A username is an identifier, not a credential: it may be written out.
        (Kind::Secret, RouteValue::Text(text)) if setting.name == GRANT_USERNAME.name => {
            Flat::Text(text.clone())
        }
        (Kind::Secret, RouteValue::Object(reference)) => {
            let secret_name = match reference.as_slice() {
                [(field, RouteValue::Text(secret_name))] if field == "secret" => secret_name,
                _ => return fail(" must be { \"secret\": \"NAME\" }, naming a Worker secret"),
            };
            // Only line breaks are trimmed, as for CLIENT_SECRET.
            let secret = env.var(secret_name);
            match secret.as_deref().map(|s| s.trim_end_matches(['\r', '\n'])) {
                Some(secret) if !secret.is_empty() => Flat::Text(secret.to_owned()),
                _ => {
                    let what = [
                        " names the secret ",
                        &quoted_name(secret_name),
                        ", which is not set (wrangler secret put)",
                    ]
                    .concat();
                    return fail(&what);
                }
            }
        }
        (Kind::Secret, _) => {
            return fail(" must name a Worker secret as { \"secret\": \"NAME\" }, never hold the secret itself (wrangler secret put NAME)");
        }
        (Kind::Text | Kind::Choice(..), _) => return fail(" must be a string"),
        (Kind::Number(limits), _) => return fail(&[" must be ", limits.text].concat()),
        (Kind::Flag, _) => return fail(" must be true or false"),
        (Kind::Scopes, _) => return fail(" must be a string or an array of strings"),
        (Kind::Params, _) => return fail(" must be an object of string values"),
        (Kind::Group(_) | Kind::Function(_), _) => return fail(" must be an object"),
    };
    flat.push((name, read));
    Ok(())
}

/// The items, if all are strings.
fn strings(items: &[RouteValue]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|item| match item {
            RouteValue::Text(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

impl Source for RouteOptions {
    fn surface(&self) -> Surface {
        Surface::Npm
    }

    fn text(&self, name: Name) -> Option<String> {
        match self.get(name) {
            Some(Flat::Text(text)) => Some(text.clone()),
            _ => None,
        }
    }

    fn secret(&self, name: Name) -> Option<String> {
        self.text(name)
    }

    fn number(&self, name: Name) -> Option<f64> {
        match self.get(name) {
            Some(Flat::Number(number)) => Some(*number),
            _ => None,
        }
    }

    fn flag(&self, name: Name) -> Result<bool, TokenError> {
        Ok(matches!(self.get(name), Some(Flat::Flag(true))))
    }

    fn list(&self, name: Name) -> Vec<String> {
        match self.get(name) {
            Some(Flat::List(list)) => list.clone(),
            _ => Vec::new(),
        }
    }
}
