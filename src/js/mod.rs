//! The JS platform as the core's parsers, shared by both adapters: `JSON.parse` (own
//! properties only) as [`Json`](crate::response::Json), and the WHATWG `URL` as
//! [`UrlParser`](crate::config::UrlParser). The core never parses either by hand in a JS
//! runtime: it reads them as the platform (and so `fetch`) does.

mod json;
mod url;

pub use json::{field_of, Platform};
