//! The JS values the core's results become: plain objects built with `Reflect`.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

use crate::error::TokenError;
use crate::response::Token;

/// A plain JS object with these fields.
pub fn object(fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object
}

/// The text, or `undefined`.
pub fn optional(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::UNDEFINED, JsValue::from_str)
}

/// `{ accessToken, tokenType, headerValue, expiresAt, scope?, freshUntil }`; `headerValue`
/// (`Bearer <token>`) is what a request carries.
pub fn token_info(token: &Token, fresh_until: u64) -> JsValue {
    object(&[
        ("accessToken", token.access_token.expose().into()),
        ("tokenType", token.token_type.as_str().into()),
        ("headerValue", token.header_value().into()),
        ("expiresAt", (token.expires_at_ms as f64).into()),
        ("scope", optional(token.scope.as_deref())),
        ("freshUntil", (fresh_until as f64).into()),
    ])
    .into()
}

/// `{ code, message, status, description, uri, retryable, retryAfter }`, from which the JS
/// side builds its `TokenError`. `retry_after_ms`: the cooldown under way, as whole seconds
/// (at least 1).
pub fn error_fields(error: &TokenError, retry_after_ms: Option<u64>) -> JsValue {
    object(&[
        ("code", error.code().into()),
        ("message", error.message().into()),
        (
            "status",
            error
                .status()
                .map_or(JsValue::UNDEFINED, |s| f64::from(s).into()),
        ),
        ("description", optional(error.description())),
        ("uri", optional(error.uri())),
        ("retryable", error.retryable().into()),
        (
            "retryAfter",
            retry_after_ms.map_or(JsValue::UNDEFINED, |ms| {
                (ms.div_ceil(1000).max(1) as f64).into()
            }),
        ),
    ])
    .into()
}
