//! Reads the JS options object into the core's [`ConfigInput`], checking each value's type.
//! Values are read with `Reflect` rather than serde to keep the wasm small.

use alloc::{borrow::ToOwned, string::String, vec::Vec};
use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::config::{ConfigInput, GrantConfig};
use crate::error::TokenError;
use crate::response::Field;
use crate::secret::{ClientSecret, Password, Username};

use super::json::field_of;

const KNOWN_OPTIONS: [&str; 18] = [
    "tokenUrl",
    "issuer",
    "keycloak",
    "clientId",
    "clientSecret",
    "authMethod",
    "scope",
    "extraParams",
    "headerName",
    "refreshAheadSeconds",
    "expiryMarginSeconds",
    "defaultExpiresInSeconds",
    "timeoutMs",
    "maxRetries",
    "allowInsecureHttp",
    "fetch",
    "grant",
    "basicAuthEncoding",
];

fn wrong_type(name: &str, expected: &str) -> TokenError {
    TokenError::Config([name, " must be ", expected].concat())
}

fn string(object: &JsValue, name: &str) -> Result<Option<String>, TokenError> {
    match field_of(object, name) {
        Field::Missing | Field::Null => Ok(None),
        Field::Str(text) => Ok(Some(text)),
        _ => Err(wrong_type(name, "a string")),
    }
}

fn number(object: &JsValue, name: &str) -> Result<Option<f64>, TokenError> {
    match field_of(object, name) {
        Field::Missing | Field::Null => Ok(None),
        Field::Num(n) => Ok(Some(n)),
        _ => Err(wrong_type(name, "a number")),
    }
}

/// The options object → the core's input. `fetch` must be a function, or the runtime must
/// have a global one.
pub fn read_options(options: &JsValue) -> Result<ConfigInput, TokenError> {
    if !options.is_object() {
        return Err(wrong_type(
            "options",
            "an object such as { tokenUrl, clientId, clientSecret }",
        ));
    }
    for key in Object::keys(options.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !KNOWN_OPTIONS.contains(&key.as_str()) {
            return Err(TokenError::Config(["unknown option '", &key, "'"].concat()));
        }
    }

    let keycloak = match Reflect::get(options, &"keycloak".into()).unwrap_or(JsValue::UNDEFINED) {
        v if v.is_undefined() || v.is_null() => None,
        v if v.is_object() => {
            let base =
                string(&v, "baseUrl")?.ok_or_else(|| wrong_type("keycloak.baseUrl", "a string"))?;
            let realm =
                string(&v, "realm")?.ok_or_else(|| wrong_type("keycloak.realm", "a string"))?;
            Some((base, realm))
        }
        _ => return Err(wrong_type("keycloak", "an object { baseUrl, realm }")),
    };

    let grant = match Reflect::get(options, &"grant".into()).unwrap_or(JsValue::UNDEFINED) {
        v if v.is_undefined() || v.is_null() => GrantConfig::ClientCredentials,
        v if v.is_object() => match string(&v, "type")?.as_deref() {
            Some("client_credentials") => GrantConfig::ClientCredentials,
            Some("password") => GrantConfig::Password {
                username: Username::new(
                    string(&v, "username")?
                        .ok_or_else(|| wrong_type("grant.username", "a string"))?,
                ),
                password: Password::new(
                    string(&v, "password")?
                        .ok_or_else(|| wrong_type("grant.password", "a string"))?,
                ),
            },
            _ => {
                return Err(wrong_type(
                    "grant.type",
                    "'client_credentials' or 'password' (with username and password)",
                ))
            }
        },
        _ => {
            return Err(wrong_type(
                "grant",
                "an object such as { type: 'client_credentials' }",
            ))
        }
    };

    let scope = match field_of(options, "scope") {
        Field::Missing | Field::Null => Vec::new(),
        Field::Str(text) => text.split_whitespace().map(str::to_owned).collect(),
        Field::Strings(list) => list,
        _ => return Err(wrong_type("scope", "a string or an array of strings")),
    };

    let extra = Reflect::get(options, &"extraParams".into()).unwrap_or(JsValue::UNDEFINED);
    let mut extra_params = Vec::new();
    if !(extra.is_undefined() || extra.is_null()) {
        if !extra.is_object() {
            return Err(wrong_type("extraParams", "an object of string values"));
        }
        for key in Object::keys(extra.unchecked_ref::<Object>()).iter() {
            let key = key.as_string().unwrap_or_default();
            let Field::Str(value) = field_of(&extra, &key) else {
                return Err(wrong_type(&["extraParams.", &key].concat(), "a string"));
            };
            extra_params.push((key, value));
        }
    }

    let allow_insecure_http = match Reflect::get(options, &"allowInsecureHttp".into()) {
        Ok(v) if v.is_undefined() || v.is_null() => false,
        Ok(v) => v
            .as_bool()
            .ok_or_else(|| wrong_type("allowInsecureHttp", "true or false"))?,
        Err(_) => false,
    };

    // The JS wrapper does the fetching; it only has to be there.
    match Reflect::get(options, &"fetch".into()).unwrap_or(JsValue::UNDEFINED) {
        v if v.is_undefined() || v.is_null() => {
            let global = Reflect::get(&js_sys::global(), &"fetch".into());
            if !global.is_ok_and(|f| f.is_function()) {
                return Err(TokenError::Config(
                    "this runtime has no global fetch: pass options.fetch".into(),
                ));
            }
        }
        v if v.is_function() => {}
        _ => return Err(wrong_type("fetch", "a function")),
    }

    let input = ConfigInput {
        token_url: string(options, "tokenUrl")?,
        issuer: string(options, "issuer")?,
        keycloak,
        client_id: string(options, "clientId")?,
        client_secret: string(options, "clientSecret")?.map(ClientSecret::new),
        auth_method: string(options, "authMethod")?,
        basic_auth_encoding: string(options, "basicAuthEncoding")?,
        grant,
        scope,
        extra_params,
        header_name: string(options, "headerName")?,
        refresh_ahead_seconds: number(options, "refreshAheadSeconds")?,
        expiry_margin_seconds: number(options, "expiryMarginSeconds")?,
        default_expires_in_seconds: number(options, "defaultExpiresInSeconds")?,
        timeout_ms: number(options, "timeoutMs")?,
        max_retries: number(options, "maxRetries")?,
        allow_insecure_http,
    };
    Ok(input)
}
