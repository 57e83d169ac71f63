//! The platform's `JSON.parse`, seen through the core's [`Json`] trait. Fields are read from
//! the object's own properties only: a polluted `Object.prototype` adds none.

use alloc::{string::String, vec::Vec};
use js_sys::{Array, Object, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};

use crate::response::{Field, Json, JsonObject};

/// The platform's parsers: `JSON.parse` (objects only) here, `URL` in `url.rs`.
pub struct Platform;

/// An object that `JSON.parse` returned.
pub struct JsObject(JsValue);

impl Json for Platform {
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
        let value = own(&self.0, name)?;
        (value.is_object() && !Array::is_array(&value)).then_some(JsObject(value))
    }
}

/// Reads one field of any JS object as the core sees it.
pub fn field_of(object: &JsValue, name: &str) -> Field {
    let Some(value) = own(object, name) else {
        return Field::Missing;
    };
    if value.is_undefined() {
        Field::Missing
    } else if value.is_null() {
        Field::Null
    } else if let Some(text) = value.as_string() {
        Field::Str(text)
    } else if let Some(number) = value.as_f64() {
        Field::Num(number)
    } else if Array::is_array(&value) {
        let strings: Option<Vec<String>> = value
            .unchecked_ref::<Array>()
            .iter()
            .map(|v| v.as_string())
            .collect();
        strings.map_or(Field::Other, Field::Strings)
    } else {
        Field::Other
    }
}

/// The own property `name` of `object`, never one inherited through its prototype.
fn own(object: &JsValue, name: &str) -> Option<JsValue> {
    if !object.is_object() {
        return None;
    }
    let name = JsValue::from_str(name);
    let object: &Object = object.unchecked_ref();
    if !Object::has_own(object, &name) {
        return None;
    }
    Reflect::get(object, &name).ok()
}
