//! # edge-oauth
//!
//! An OAuth 2.0 token client for browsers, Node and edge workers, compiled to WebAssembly.
//! It gets access tokens from a token endpoint, keeps them in memory, refreshes them before
//! they expire, and hands them out at memory speed: one token request per token lifetime,
//! however many callers ask at once.
//!
//! ## Design: a sans-IO core with thin adapters
//!
//! The protocol logic never performs I/O and never reads a clock; `now` is always an
//! argument. It builds requests ([`request`]), parses responses ([`response`]), decides
//! retries ([`retry`]) and moves the cache state machine ([`cache`]); [`proxy`] holds the
//! Worker's decisions (configuration from vars, access keys, the upstream URL, headers,
//! failure answers). The wasm adapter (`wasm`, on `wasm32` only) does the I/O with the
//! platform's `fetch`, `Date.now()`, `setTimeout` and `AbortController`; the JS wrapper in
//! `pkg-template/` keeps the cache-hit path on the JS side of the boundary; and with the
//! `worker` feature, `src/worker/` is the Cloudflare Worker entrypoint on the same engine.
//!
//! Renewal: a token response's `refresh_token` is used for the next renewal and sent at most
//! once (a rotated one replaces it); when it is refused or may have reached the server
//! unanswered, the original grant (client credentials or password) is used instead.
//!
//! ## Example: the core driven by hand
//!
//! ```
//! use edge_oauth::cache::{Lookup, TokenCache};
//! use edge_oauth::config::ConfigInput;
//! use edge_oauth::request::{token_request, Grant};
//! use edge_oauth::secret::ClientSecret;
//!
//! let config = ConfigInput {
//!     token_url: Some("https://auth.example.com/token".into()),
//!     client_id: Some("my-client".into()),
//!     client_secret: Some(ClientSecret::new("s3cret")),
//!     scope: vec!["banking/read".into(), "banking/write".into()],
//!     ..ConfigInput::default()
//! }
//! .validate()?;
//!
//! let mut cache = TokenCache::new(config.timing);
//! let now = 1_700_000_000_000;
//! match cache.lookup(now) {
//!     Lookup::Wait { start: true } => {
//!         let auth = config.auth_method.unwrap_or(edge_oauth::config::AuthMethod::ClientSecretBasic);
//!         let request = token_request(&config, "https://auth.example.com/token", auth, Grant::ClientCredentials);
//!         assert_eq!(request.body.as_deref(), Some("grant_type=client_credentials&scope=banking%2Fread+banking%2Fwrite"));
//!         // ...send it, parse the answer with response::parse_token_response, then cache.complete(now, result)
//!     }
//!     other => unreachable!("a cold cache waits: {other:?}"),
//! }
//! # Ok::<(), edge_oauth::error::TokenError>(())
//! ```
// The core needs only `alloc`. The npm package's wasm is built without the `std` feature: no
// std panic machinery (a panic traps), no `core::fmt` beyond the messages themselves.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
mod no_std_wasm;

pub mod cache;
pub mod config;
pub mod driver;
pub mod error;
pub mod proxy;
pub mod request;
pub mod response;
pub mod retry;
pub mod secret;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(all(target_arch = "wasm32", feature = "worker"))]
mod worker;

pub use error::TokenError;
