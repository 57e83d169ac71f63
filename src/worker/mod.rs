//! The Cloudflare Worker: a proxy that checks the caller's key, attaches a bearer token for the
//! configured client and forwards the request to one origin, streaming both ways. Tokens live
//! in isolate memory, shared by every request the isolate serves, in an engine that steps the
//! same core driver as `TokenClient` (single flight, refresh ahead, cooldown, retries).
//!
//! Its decisions are pure and tested natively (`tests/worker.rs`); the I/O is compiled only
//! for the Worker (`wasm32` with the `worker` feature).

pub mod access;
pub mod answer;
pub mod broker;
pub mod config;
pub mod headers;
pub mod routes;
pub mod upstream;

#[cfg(all(target_arch = "wasm32", feature = "worker"))]
mod broker_client;
#[cfg(all(target_arch = "wasm32", feature = "worker"))]
mod broker_object;
#[cfg(all(target_arch = "wasm32", feature = "worker"))]
mod engine;
#[cfg(all(target_arch = "wasm32", feature = "worker"))]
mod entry;
#[cfg(all(target_arch = "wasm32", feature = "worker"))]
mod env;
#[cfg(all(target_arch = "wasm32", feature = "worker"))]
mod http;
