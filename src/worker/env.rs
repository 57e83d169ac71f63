//! The Worker's `env` as its configuration reads it: vars and secrets as text, `ROUTES` as
//! JSON, and which bindings there are. Shared by the proxy and the token broker.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use worker::Env;

use super::config::{gateway_config, Gateway, WorkerEnv, TOKEN_BROKER};
use super::routes::{read_routes_error, RouteValue};
use crate::error::TokenError;
use crate::js::Platform;

/// The configuration `env` holds.
pub fn gateway_of(env: &Env) -> Result<Gateway, TokenError> {
    let vars = EnvVars(env);
    let routes = vars.routes().transpose()?;
    gateway_config(routes.as_ref(), &vars, &Platform)
}

/// The Worker's `env` as the configuration reads it.
pub struct EnvVars<'a>(pub &'a Env);

impl EnvVars<'_> {
    /// Whether the binding `name` has the method `method`.
    fn has_method(&self, name: &str, method: &str) -> bool {
        self.get(name)
            .and_then(|binding| Reflect::get(&binding, &method.into()).ok())
            .is_some_and(|function| function.is_function())
    }

    /// The binding or var `name`, unless unset.
    pub fn get(&self, name: &str) -> Option<JsValue> {
        Reflect::get(self.0, &JsValue::from_str(name))
            .ok()
            .filter(|value| !value.is_undefined() && !value.is_null())
    }

    /// `ROUTES` as a JSON value: a `[[vars.ROUTES]]` table arrives as an array, a JSON
    /// string is read with the platform's `JSON.parse`. `None` when it is unset.
    fn routes(&self) -> Option<Result<RouteValue, TokenError>> {
        let value = self.get("ROUTES")?;
        let value = match value.as_string() {
            Some(text) if text.trim().is_empty() => return None,
            Some(text) => match js_sys::JSON::parse(&text) {
                Ok(parsed) => parsed,
                Err(_) => return Some(Err(read_routes_error())),
            },
            None => value,
        };
        Some(route_value(&value, 0).ok_or_else(read_routes_error))
    }
}

/// How deep `ROUTES` may nest: routes, a route, a group or secret, and their values.
const MAX_ROUTES_DEPTH: u8 = 6;

/// A JSON-shaped JS value as a [`RouteValue`]: objects by their own enumerable properties,
/// nothing read through a prototype. `None` for what JSON cannot hold (a function, a symbol)
/// or nests deeper than any route does.
fn route_value(value: &JsValue, depth: u8) -> Option<RouteValue> {
    if depth > MAX_ROUTES_DEPTH {
        return None;
    }
    let read = if value.is_null() || value.is_undefined() {
        RouteValue::Null
    } else if let Some(flag) = value.as_bool() {
        RouteValue::Flag(flag)
    } else if let Some(number) = value.as_f64() {
        RouteValue::Number(number)
    } else if let Some(text) = value.as_string() {
        RouteValue::Text(text)
    } else if Array::is_array(value) {
        let items = value.unchecked_ref::<Array>().iter();
        RouteValue::List(
            items
                .map(|item| route_value(&item, depth + 1))
                .collect::<Option<_>>()?,
        )
    } else if value.is_object() && !value.is_function() {
        let mut fields = Vec::new();
        for entry in Object::entries(value.unchecked_ref()).iter() {
            let entry: Array = entry.unchecked_into();
            fields.push((
                entry.get(0).as_string()?,
                route_value(&entry.get(1), depth + 1)?,
            ));
        }
        RouteValue::Object(fields)
    } else {
        return None;
    };
    Some(read)
}

impl WorkerEnv for EnvVars<'_> {
    /// A var as a string, whether `[vars]` gave a string, a number or a boolean.
    fn var(&self, name: &str) -> Option<String> {
        let value = self.get(name)?;
        value
            .as_string()
            .or_else(|| value.as_f64().map(|n| n.to_string()))
            .or_else(|| value.as_bool().map(|b| b.to_string()))
    }

    fn is_service(&self, name: &str) -> bool {
        self.has_method(name, "fetch")
    }

    fn has_token_broker(&self) -> bool {
        self.has_method(TOKEN_BROKER, "idFromName")
    }
}
