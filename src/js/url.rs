//! The platform's WHATWG URL parser (`new URL(text)`), seen through the core's [`UrlParser`]:
//! the same parser `fetch` reads the URL with.

use alloc::string::String;
use wasm_bindgen::prelude::*;

use super::json::Platform;
use crate::config::{ParsedUrl, UrlParser};

#[wasm_bindgen]
extern "C" {
    type Url;

    #[wasm_bindgen(constructor, catch, js_class = "URL")]
    fn new(text: &str) -> Result<Url, JsValue>;
    #[wasm_bindgen(method, getter, js_class = "URL")]
    fn protocol(this: &Url) -> String;
    #[wasm_bindgen(method, getter, js_class = "URL")]
    fn hostname(this: &Url) -> String;
    #[wasm_bindgen(method, getter, js_class = "URL")]
    fn username(this: &Url) -> String;
    #[wasm_bindgen(method, getter, js_class = "URL")]
    fn password(this: &Url) -> String;
}

impl UrlParser for Platform {
    fn parse_url(&self, text: &str) -> Option<ParsedUrl> {
        let url = Url::new(text).ok()?;
        let protocol = url.protocol();
        Some(ParsedUrl {
            scheme: crate::config::trim_end(&protocol, ":").into(),
            hostname: url.hostname(),
            has_credentials: !url.username().is_empty() || !url.password().is_empty(),
        })
    }
}
