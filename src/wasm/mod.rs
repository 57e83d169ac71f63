//! The wasm adapter: the JS-facing `CoreClient` and the platform I/O it drives — the global
//! `fetch`, `Date.now()`, `setTimeout` and `AbortController`. The logic lives in the core; this
//! module only moves values across the boundary.

mod client;
pub(crate) mod engine;
pub(crate) mod http;
mod json;
mod options;

pub use client::CoreClient;
