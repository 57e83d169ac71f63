//! The platform's `JSON.parse`, seen through the core's [`Json`] trait.

use alloc::{string::String, vec::Vec};
use js_sys::{Array, Reflect, JSON};
use wasm_bindgen::JsValue;

use crate::response::{Field, Json, JsonObject};

/// `JSON.parse`, accepting objects only.
pub struct PlatformJson;

/// An object that `JSON.parse` returned.
pub struct JsObject(JsValue);

impl Json for PlatformJson {
    type Object = JsObject;

    fn parse_object(&self, text: &str) -> Option<JsObject> {
        let value = JSON::parse(text).ok()?;
        (value.is_object() && !Array::is_array(&value)).then_some(JsObject(value))
    }
}

impl JsonObject for JsObject {
    fn field(&self, name: &str) -> Field {
        field_of(&self.0, name)
    }

    fn child(&self, name: &str) -> Option<Self> {
        let value = Reflect::get(&self.0, &JsValue::from_str(name)).ok()?;
        (value.is_object() && !Array::is_array(&value)).then_some(JsObject(value))
    }
}

/// Reads one field of any JS object as the core sees it.
pub fn field_of(object: &JsValue, name: &str) -> Field {
    let value = Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
    if value.is_undefined() {
        Field::Missing
    } else if value.is_null() {
        Field::Null
    } else if let Some(text) = value.as_string() {
        Field::Str(text)
    } else if let Some(number) = value.as_f64() {
        Field::Num(number)
    } else if Array::is_array(&value) {
        let strings: Option<Vec<String>> =
            Array::from(&value).iter().map(|v| v.as_string()).collect();
        strings.map_or(Field::Other, Field::Strings)
    } else {
        Field::Other
    }
}
