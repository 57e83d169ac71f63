//! Every setting, declared once: its `TokenClient` option, its Worker var, its type, default,
//! limits and one line of doc. Validation, defaults and messages read them here; the npm
//! package's option check (`pkg-template/option-table.js`), the option docs in `index.d.ts`
//! and the README's configuration tables are generated from [`SETTINGS`], and
//! `tests/options.rs` fails when one of them drifts (`UPDATE_GENERATED=1` rewrites them).
//!
//! Rows are constants: code that reads one field of one row compiles to that value alone, so
//! the npm wasm carries no docs. Only the Worker walks the whole table (to read its vars).

/// The [`Name`] of the row `$row`, as a constant of its own: `name!(TIMEOUT_MS)`. Reading
/// `TIMEOUT_MS.name` at run time would carry the whole row, docs included, into the wasm.
#[macro_export]
macro_rules! name {
    ($row:ident) => {
        const { $crate::options::$row.name }
    };
}

/// One setting.
#[derive(Debug, PartialEq)]
pub struct Setting {
    /// What it is called.
    pub name: Name,
    /// Its type, and for numbers their limits and default.
    pub kind: Kind,
    /// The default as a user writes it; empty when there is none, and for numbers (their
    /// [`Limits`] hold it).
    pub default: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// One line for the docs.
    pub doc: &'static str,
}

/// What a setting is called. Code that reads a setting takes its `Name` alone, so that the
/// rest of the row never reaches a build that does not list the table (a reference into a
/// constant row would carry the whole row, docs included, into the npm wasm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name {
    /// The `TokenClient` option, dotted when nested (`keycloak.realm`); empty for the
    /// Worker's own settings.
    pub option: &'static str,
    /// The Worker var; empty when the Worker has none. Only where the Worker is built: the npm
    /// wasm carries no var names.
    #[cfg(any(not(target_arch = "wasm32"), feature = "worker"))]
    pub var: &'static str,
}

/// A setting's type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A string.
    Text,
    /// A string that is never quoted or logged.
    Secret,
    /// One of these names; then the list as messages show it, `'rfc6749' (the default) or
    /// 'raw'` (written out so that the npm wasm need not build it; `tests/options.rs` checks it).
    Choice(&'static [&'static str], &'static str),
    /// Scope names: a string or an array of strings (npm), space-separated (Worker).
    Scopes,
    /// A map of string parameters (npm only).
    Params,
    /// A number within limits.
    Number(Limits),
    /// `true` or `false`.
    Flag,
    /// A function (npm only), with its TypeScript type.
    Function(&'static str),
    /// An object whose fields are the rows named `{option}.{field}` (npm only); the TypeScript
    /// type that describes it.
    Group(&'static str),
}

/// What a number may be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// The least value, allowed unless `above_min`.
    pub min: f64,
    /// Whether the value must be more than `min`.
    pub above_min: bool,
    /// The greatest value.
    pub max: f64,
    /// Whether it must be whole.
    pub whole: bool,
    /// `seconds`, `milliseconds`, or empty for a count.
    pub unit: &'static str,
    /// The value when none is given.
    pub default: f64,
    /// What a value must be, as messages say it: `a number of seconds from 0 to 86400`
    /// (written out so that the npm wasm need not build it; `tests/options.rs` checks it).
    pub text: &'static str,
}

impl Setting {
    /// A number setting's limits (a compile-time error for another kind, in a `const` block).
    pub const fn limits(&self) -> Limits {
        match self.kind {
            Kind::Number(limits) => limits,
            _ => panic!("not a number setting"),
        }
    }

    /// A number setting's name and limits: what reading it needs.
    pub const fn number(&self) -> (Name, Limits) {
        (self.name, self.limits())
    }

    /// A choice setting's name, choices and their list: what reading it needs.
    pub const fn choice(&self) -> (Name, &'static [&'static str], &'static str) {
        match self.kind {
            Kind::Choice(choices, listed) => (self.name, choices, listed),
            _ => panic!("not a choice setting"),
        }
    }
}

impl Limits {
    /// Whether `value` is within the limits.
    pub fn allows(&self, value: f64) -> bool {
        let above = if self.above_min {
            value > self.min
        } else {
            value >= self.min
        };
        value.is_finite()
            && above
            && value <= self.max
            && (!self.whole || value == (value as u64) as f64)
    }
}

/// Who reads a setting, and so how messages name it: `timeoutMs` or `TIMEOUT_MS`. (The
/// `cfg` repeated below is "wherever the Worker is built": natively for its tests, or on
/// wasm32 with the `worker` feature.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Surface {
    #[default]
    /// The npm `TokenClient`'s options.
    Npm,
    /// The Worker's vars: only where the Worker is built, so that the npm wasm has no var names.
    #[cfg(any(not(target_arch = "wasm32"), feature = "worker"))]
    Worker,
}

impl Surface {
    /// The setting's name as this surface's user writes it.
    pub fn of(self, name: Name) -> &'static str {
        match self {
            Self::Npm => name.option,
            #[cfg(any(not(target_arch = "wasm32"), feature = "worker"))]
            Self::Worker => name.var,
        }
    }

    /// How a user sets `name` to `value`, written as JS: `authMethod: 'none'` here, or
    /// `AUTH_METHOD=none` for the Worker.
    pub fn assignment(self, name: Name, value: &str) -> alloc::string::String {
        match self {
            Self::Npm => [name.option, ": ", value].concat(),
            #[cfg(any(not(target_arch = "wasm32"), feature = "worker"))]
            Self::Worker => [name.var, "=", value.trim_matches('\'')].concat(),
        }
    }

    /// What follows the name of a scope setting that holds a bad scope: each written out
    /// whole, so that the npm wasm builds no message.
    pub fn scope_problem(self) -> &'static str {
        match self {
            Self::Npm => ": each scope must be non-empty printable ASCII without spaces, quotes or backslashes (pass several as an array or one space-separated string)",
            #[cfg(any(not(target_arch = "wasm32"), feature = "worker"))]
            Self::Worker => ": each scope must be non-empty printable ASCII without spaces, quotes or backslashes (separate several with spaces)",
        }
    }
}

const fn text(option: &'static str, var: &'static str, doc: &'static str) -> Setting {
    with_default(option, var, Kind::Text, "", doc)
}

const fn with_default(
    option: &'static str,
    var: &'static str,
    kind: Kind,
    default: &'static str,
    doc: &'static str,
) -> Setting {
    #[cfg(not(any(not(target_arch = "wasm32"), feature = "worker")))]
    let _ = var;
    Setting {
        name: Name {
            option,
            #[cfg(any(not(target_arch = "wasm32"), feature = "worker"))]
            var,
        },
        kind,
        default,
        required: false,
        doc,
    }
}

/// `setting`, which must be given.
const fn required(setting: Setting) -> Setting {
    Setting {
        required: true,
        ..setting
    }
}

const fn number(
    option: &'static str,
    var: &'static str,
    limits: Limits,
    doc: &'static str,
) -> Setting {
    with_default(option, var, Kind::Number(limits), "", doc)
}

/// Seconds from 0 to a day.
const SECONDS: Limits = Limits {
    min: 0.0,
    above_min: false,
    max: 86_400.0,
    whole: false,
    unit: "seconds",
    default: 0.0,
    text: "a number of seconds from 0 to 86400",
};
/// Milliseconds from 1 to 10 minutes.
const MILLIS: Limits = Limits {
    min: 1.0,
    above_min: false,
    max: 600_000.0,
    whole: false,
    unit: "milliseconds",
    default: 0.0,
    text: "a number of milliseconds from 1 to 600000",
};

/// `tokenUrl` / `TOKEN_URL`.
pub const TOKEN_URL: Setting = text(
    "tokenUrl",
    "TOKEN_URL",
    "the token endpoint; give it, the issuer, or Keycloak's base URL and realm",
);
/// `issuer` / `ISSUER`.
pub const ISSUER: Setting = text("issuer", "ISSUER", "discovery: `{issuer}/.well-known/openid-configuration`, then `/.well-known/oauth-authorization-server`; fetched once, its `issuer` must match exactly");
/// `keycloak`: the group of the two below.
pub const KEYCLOAK: Setting = with_default(
    "keycloak",
    "",
    Kind::Group("{ baseUrl: string; realm: string }"),
    "",
    "Keycloak: `{baseUrl}/realms/{realm}/protocol/openid-connect/token`",
);
/// `keycloak.baseUrl` / `KEYCLOAK_BASE_URL`.
pub const KEYCLOAK_BASE_URL: Setting = text(
    "keycloak.baseUrl",
    "KEYCLOAK_BASE_URL",
    "Keycloak's base URL, with the realm",
);
/// `keycloak.realm` / `KEYCLOAK_REALM`.
pub const KEYCLOAK_REALM: Setting = text(
    "keycloak.realm",
    "KEYCLOAK_REALM",
    "the Keycloak realm, with the base URL",
);
/// `clientId` / `CLIENT_ID`.
pub const CLIENT_ID: Setting = required(text(
    "clientId",
    "CLIENT_ID",
    "the client id registered at the authorization server",
));
/// `clientSecret` / `CLIENT_SECRET`.
pub const CLIENT_SECRET: Setting = with_default(
    "clientSecret",
    "CLIENT_SECRET",
    Kind::Secret,
    "",
    "the client secret, required unless `authMethod` is `none`; never in errors, logs or stats",
);
/// `authMethod` / `AUTH_METHOD`.
pub const AUTH_METHOD: Setting = with_default(
    "authMethod",
    "AUTH_METHOD",
    Kind::Choice(
        &["client_secret_basic", "client_secret_post", "none"],
        "'client_secret_basic', 'client_secret_post' or 'none'",
    ),
    "",
    "how the client authenticates (RFC 6749 §2.3.1): `client_secret_basic`, unless discovery lists only `client_secret_post`; `none` for a public client (`client_id` in the body, no secret)",
);
/// `basicAuthEncoding` / `BASIC_AUTH_ENCODING`.
pub const BASIC_AUTH_ENCODING: Setting = with_default(
    "basicAuthEncoding",
    "BASIC_AUTH_ENCODING",
    Kind::Choice(&["rfc6749", "raw"], "'rfc6749' (the default) or 'raw'"),
    "rfc6749",
    "`rfc6749` form-urlencodes id and secret before base64 (RFC 6749 §2.3.1); `raw` does not, as many servers expect (golang/oauth2#414)",
);
/// `grant`: the group of the three below.
pub const GRANT: Setting = with_default(
    "grant",
    "",
    Kind::Group("{ type: 'client_credentials' } | { type: 'password'; username: string; password: string } | { type: 'device_code' }"),
    "{ type: 'client_credentials' }",
    "the grant for the first token and when a refresh token is refused: client credentials (RFC 6749 §4.4), the resource owner's password (§4.3; username and password are redacted like the secret), or a user's approval on another device (RFC 8628: `startDeviceAuthorization()`; it is never replayed silently)",
);
/// `grant.type`.
pub const GRANT_TYPE: Setting = with_default(
    "grant.type",
    "",
    Kind::Choice(
        &["client_credentials", "password", "device_code"],
        "'client_credentials' (the default), 'password' or 'device_code'",
    ),
    "client_credentials",
    "the grant",
);
/// `grant.username`.
pub const GRANT_USERNAME: Setting = with_default(
    "grant.username",
    "",
    Kind::Secret,
    "",
    "the resource owner's username (password grant)",
);
/// `grant.password`.
pub const GRANT_PASSWORD: Setting = with_default(
    "grant.password",
    "",
    Kind::Secret,
    "",
    "the resource owner's password (password grant)",
);
/// `deviceAuthorizationUrl`.
pub const DEVICE_AUTHORIZATION_URL: Setting = text(
    "deviceAuthorizationUrl",
    "",
    "the device authorization endpoint (RFC 8628), when neither discovery nor `keycloak` gives it",
);
/// `scope` / `SCOPE`.
pub const SCOPE: Setting = with_default(
    "scope",
    "SCOPE",
    Kind::Scopes,
    "",
    "scopes, sent space-separated",
);
/// `extraParams`.
pub const EXTRA_PARAMS: Setting = with_default(
    "extraParams",
    "",
    Kind::Params,
    "",
    "extra form parameters for the token request, e.g. `{ audience: '…' }`",
);
/// `headerName` / `AUTH_HEADER`.
pub const HEADER_NAME: Setting = with_default(
    "headerName",
    "AUTH_HEADER",
    Kind::Text,
    "Authorization",
    "the header the token goes in (the one `authorizationHeader()` names)",
);
/// `refreshAheadSeconds` / `REFRESH_AHEAD_SECONDS`.
pub const REFRESH_AHEAD_SECONDS: Setting = number(
    "refreshAheadSeconds",
    "REFRESH_AHEAD_SECONDS",
    Limits {
        default: 60.0,
        ..SECONDS
    },
    "a background refresh starts this long before expiry",
);
/// `expiryMarginSeconds` / `EXPIRY_MARGIN_SECONDS`.
pub const EXPIRY_MARGIN_SECONDS: Setting = number(
    "expiryMarginSeconds",
    "EXPIRY_MARGIN_SECONDS",
    Limits {
        default: 10.0,
        ..SECONDS
    },
    "a token is no longer handed out this long before expiry",
);
/// `defaultExpiresInSeconds` / `DEFAULT_EXPIRES_IN_SECONDS`.
pub const DEFAULT_EXPIRES_IN_SECONDS: Setting = number(
    "defaultExpiresInSeconds",
    "DEFAULT_EXPIRES_IN_SECONDS",
    Limits {
        above_min: true,
        default: 300.0,
        text: "a number of seconds from more than 0 to 86400",
        ..SECONDS
    },
    "the lifetime assumed when the server sends no `expires_in` and the token has no JWT `exp`",
);
/// `timeoutMs` / `TIMEOUT_MS`.
pub const TIMEOUT_MS: Setting = number(
    "timeoutMs",
    "TIMEOUT_MS",
    Limits {
        default: 10_000.0,
        ..MILLIS
    },
    "the timeout of each attempt, reading the body included",
);
/// `maxRetries` / `MAX_RETRIES`.
pub const MAX_RETRIES: Setting = number(
    "maxRetries",
    "MAX_RETRIES",
    Limits {
        min: 0.0,
        above_min: false,
        max: 10.0,
        whole: true,
        unit: "",
        default: 2.0,
        text: "a whole number from 0 to 10",
    },
    "retries after the first attempt, for network errors, timeouts, 408, 429 and 5xx",
);
/// `maxWaitMs` / `MAX_WAIT_MS`.
pub const MAX_WAIT_MS: Setting = number(
    "maxWaitMs",
    "MAX_WAIT_MS",
    Limits {
        default: 10_000.0,
        ..MILLIS
    },
    "the longest a caller waits for a renewal, retries and `Retry-After` waits included: a retry whose wait would end past it is not made, and each attempt's timeout is cut to what is left",
);
/// `allowInsecureHttp` / `ALLOW_INSECURE_HTTP`.
pub const ALLOW_INSECURE_HTTP: Setting = with_default(
    "allowInsecureHttp",
    "ALLOW_INSECURE_HTTP",
    Kind::Flag,
    "false",
    "plain `http://` is refused unless this is true, except to `localhost`, `127.0.0.0/8` and `[::1]` (the host as the WHATWG URL parser reads it, as `fetch` will)",
);
/// `fetch`.
pub const FETCH: Setting = with_default(
    "fetch",
    "",
    Kind::Function("typeof fetch"),
    "globalThis.fetch",
    "the fetch to use, e.g. a Worker service binding's fetch",
);
/// `onEvent`.
pub const ON_EVENT: Setting = with_default(
    "onEvent",
    "",
    Kind::Function("(event: TokenEvent) => void"),
    "",
    "called with each thing the client does (a renewal starts, a request goes out, a retry, a token, a failure, a stale token served, a device poll); never for cache hits, never with a secret; what it throws is ignored",
);
/// `ORIGIN_URL` (the Worker's own).
pub const ORIGIN_URL: Setting = required(text(
    "",
    "ORIGIN_URL",
    "requests go to this URL's origin, their path appended to its path",
));
/// `ROUTES` (the Worker's own).
pub const ROUTES: Setting = text(
    "",
    "ROUTES",
    "the gateway: a JSON array of routes, each a `prefix`, an `origin` or `service`, its `keys` and its token client's options by their npm names, secrets named as `{ \"secret\": \"NAME\" }` (see Gateway); without it, the vars here serve one origin",
);
/// `PROXY_KEYS` (the Worker's own).
pub const PROXY_KEYS: Setting = with_default(
    "",
    "PROXY_KEYS",
    Kind::Secret,
    "",
    "comma-separated keys; callers send one as `Proxy-Authorization: Bearer <key>`, compared in constant time",
);
/// `PROXY_KEY_HEADER` (the Worker's own).
pub const PROXY_KEY_HEADER: Setting = with_default(
    "",
    "PROXY_KEY_HEADER",
    Kind::Text,
    "Proxy-Authorization",
    "the header callers put their key in",
);
/// `ALLOW_ANONYMOUS` (the Worker's own).
pub const ALLOW_ANONYMOUS: Setting = with_default(
    "",
    "ALLOW_ANONYMOUS",
    Kind::Flag,
    "false",
    "`true` to run without `PROXY_KEYS` (only for Workers reached through service bindings)",
);
/// `BROKER_TIMEOUT_MS` (the Worker's own).
pub const BROKER_TIMEOUT_MS: Setting = number(
    "",
    "BROKER_TIMEOUT_MS",
    Limits {
        min: 1.0,
        above_min: false,
        max: 60_000.0,
        whole: false,
        unit: "milliseconds",
        default: 500.0,
        text: "a number of milliseconds from 1 to 60000",
    },
    "with a `TOKEN_BROKER` binding: how long an isolate waits for the broker before it fetches a token itself",
);
/// `LOG_LEVEL` (the Worker's own).
pub const LOG_LEVEL: Setting = text(
    "",
    "LOG_LEVEL",
    "`debug`: one JSON line per request (method, path without query, status, token source, time, and a token failure's cleaned message)",
);

/// Every setting, in the order the docs list them.
pub const SETTINGS: [&Setting; 33] = [
    &ROUTES,
    &ORIGIN_URL,
    &TOKEN_URL,
    &ISSUER,
    &KEYCLOAK,
    &KEYCLOAK_BASE_URL,
    &KEYCLOAK_REALM,
    &CLIENT_ID,
    &CLIENT_SECRET,
    &AUTH_METHOD,
    &BASIC_AUTH_ENCODING,
    &GRANT,
    &GRANT_TYPE,
    &GRANT_USERNAME,
    &GRANT_PASSWORD,
    &DEVICE_AUTHORIZATION_URL,
    &SCOPE,
    &EXTRA_PARAMS,
    &HEADER_NAME,
    &REFRESH_AHEAD_SECONDS,
    &EXPIRY_MARGIN_SECONDS,
    &DEFAULT_EXPIRES_IN_SECONDS,
    &TIMEOUT_MS,
    &MAX_RETRIES,
    &MAX_WAIT_MS,
    &ALLOW_INSECURE_HTTP,
    &FETCH,
    &ON_EVENT,
    &PROXY_KEYS,
    &PROXY_KEY_HEADER,
    &ALLOW_ANONYMOUS,
    &BROKER_TIMEOUT_MS,
    &LOG_LEVEL,
];
