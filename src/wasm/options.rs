//! Reads the flat options object that `pkg-template/options.js` makes from the caller's
//! options, its types already checked there, into the core's [`ConfigInput`]. Whatever is
//! not of the expected type here counts as absent; the values are checked by
//! [`ConfigInput::validate`].

use alloc::vec::Vec;
use wasm_bindgen::JsValue;

use crate::config::{ConfigInput, GrantConfig};
use crate::response::Field;
use crate::secret::{ClientSecret, Password, Username};

use super::json::{field_of, own};

/// The flat options → the core's input.
pub fn read_options(flat: &JsValue) -> ConfigInput {
    let text = |name| match field_of(flat, name) {
        Field::Str(text) => Some(text),
        _ => None,
    };
    let number = |name| match field_of(flat, name) {
        Field::Num(number) => Some(number),
        _ => None,
    };
    let strings = |name| match field_of(flat, name) {
        Field::Strings(list) => list,
        _ => Vec::new(),
    };
    let grant = match (text("username"), text("password")) {
        (Some(username), Some(password)) => GrantConfig::Password {
            username: Username::new(username),
            password: Password::new(password),
        },
        _ => GrantConfig::ClientCredentials,
    };
    let extra_params = strings("extraParams")
        .chunks_exact(2)
        .filter_map(|pair| match pair {
            [name, value] => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect();
    ConfigInput {
        token_url: text("tokenUrl"),
        issuer: text("issuer"),
        keycloak: text("keycloakBaseUrl").zip(text("keycloakRealm")),
        client_id: text("clientId"),
        client_secret: text("clientSecret").map(ClientSecret::new),
        auth_method: text("authMethod"),
        basic_auth_encoding: text("basicAuthEncoding"),
        grant,
        scope: strings("scope"),
        extra_params,
        header_name: text("headerName"),
        refresh_ahead_seconds: number("refreshAheadSeconds"),
        expiry_margin_seconds: number("expiryMarginSeconds"),
        default_expires_in_seconds: number("defaultExpiresInSeconds"),
        timeout_ms: number("timeoutMs"),
        max_retries: number("maxRetries"),
        max_wait_ms: number("maxWaitMs"),
        allow_insecure_http: own(flat, "allowInsecureHttp")
            .is_some_and(|v| v.as_bool() == Some(true)),
    }
}
