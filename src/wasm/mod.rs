//! The wasm adapter. `CoreClient` is the core as the npm package's JS wrapper sees it: the
//! wrapper does the I/O (`fetch`, timers, abort signals) and calls in to decide, build and
//! parse. The Worker (`src/worker/`) drives the same core from Rust
//! and shares `json` and `values`. Nothing here holds logic: values only cross the boundary.

mod client;
pub(crate) mod json;
mod options;
mod url;
pub(crate) mod values;

pub use client::CoreClient;
