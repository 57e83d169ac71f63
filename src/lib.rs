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
//! argument. Every setting is declared once in [`options`] (its npm option, Worker var, type,
//! default, limits and doc), which [`config`] reads and validates through one
//! [`config::Source`] per adapter. The core builds requests ([`request`]), parses responses
//! ([`response`]), decides retries ([`retry`]) and moves the cache state machine ([`cache`]);
//! [`driver`] steps one renewal through discovery, refresh token, original grant and retries,
//! telling its adapter what to send and how long to sleep. [`driver::Driver::lookup`] answers
//! a caller and, when it starts a renewal, hands out its first request: adapters never decide
//! when to start. The Worker's decisions live beside it in `worker` (`config` from vars,
//! `access` keys, the `upstream` URL, `headers`, failure `answer`s), pure and tested natively
//! too.
//!
//! In JS runtimes, `js` reads JSON and URLs with the platform's own `JSON.parse` and `URL`
//! for both adapters. Two adapters drive the same driver:
//! - the npm package: `npm::CoreClient` (on `wasm32` only) is the core behind a synchronous,
//!   flat interface, and the hand-written JS in `pkg-template/` does the I/O with the
//!   platform's `fetch`, `setTimeout` and `AbortController`, shares one promise per renewal
//!   among its waiters, and answers cache hits without calling into wasm. Built without the
//!   `std` feature, this wasm carries no futures executor, no std panic machinery and no
//!   `core::fmt`: it is small.
//! - the Cloudflare Worker (`worker` feature, `src/worker/`): steps the driver from Rust with
//!   futures, reads each renewal's outcome in Rust, and forwards requests with a fresh token
//!   without any.
//!
//! Renewal: a token response's `refresh_token` is used for the next renewal and sent at most
//! once (a rotated one replaces it); when it is refused or may have reached the server
//! unanswered, the original grant (client credentials or password) is used instead.
//!
//! ## Example: the core driven by hand
//!
//! ```
//! use edge_oauth::config::{ConfigInput, ParsedUrl, UrlParser};
//! use edge_oauth::driver::{Decision, Driver, Step};
//! use edge_oauth::error::TokenError;
//! use edge_oauth::secret::ClientSecret;
//!
//! // The platform's WHATWG URL parser (`URL` in JS runtimes); natively, the `url` crate.
//! struct Urls;
//! impl UrlParser for Urls {
//!     fn parse_url(&self, text: &str) -> Option<ParsedUrl> {
//!         let url = url::Url::parse(text).ok()?;
//!         let hostname = url.host_str()?.to_owned();
//!         let has_credentials = !url.username().is_empty() || url.password().is_some();
//!         Some(ParsedUrl { scheme: url.scheme().to_owned(), hostname, has_credentials })
//!     }
//! }
//!
//! let config = ConfigInput {
//!     token_url: Some("https://auth.example.com/token".into()),
//!     client_id: Some("my-client".into()),
//!     client_secret: Some(ClientSecret::new("s3cret")),
//!     scope: vec!["banking/read".into(), "banking/write".into()],
//!     ..ConfigInput::default()
//! }
//! .validate(&Urls)?;
//!
//! let mut driver = Driver::new(config);
//! let now = 1_700_000_000_000;
//! // The first caller starts the renewal: the decision carries its first request.
//! let Decision::Wait { first: Some(request) } = driver.lookup(now) else { unreachable!() };
//! assert_eq!(
//!     request.body.as_deref(),
//!     Some("grant_type=client_credentials&scope=banking%2Fread+banking%2Fwrite")
//! );
//! // Send it with any HTTP client and report what happened. No answer: retry after a
//! // jittered backoff (here half of the first 250 ms step).
//! let unanswered = TokenError::Network("connection refused".into());
//! assert!(matches!(driver.on_unanswered(now + 40, unanswered, 0.5), Step::Sleep(125)));
//! // After the sleep, `driver.resume(now)` sends the same request again; an answer goes to
//! // `driver.on_response(now, &response, &json, random)`, until `Step::Done(outcome)`.
//! # Ok::<(), TokenError>(())
//! ```
// The core needs only `alloc`. The npm package's wasm is built without the `std` feature: no
// std panic machinery (a panic traps). No unsafe code but the allocator's one line there.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
mod no_std_wasm;

pub mod cache;
pub mod config;
pub mod device;
pub mod driver;
pub mod error;
pub mod options;
pub mod request;
pub mod response;
pub mod retry;
pub mod secret;

// In JS runtimes: the platform's parsers (both adapters), and the npm package's adapter (not
// in the Worker's build).
#[cfg(target_arch = "wasm32")]
pub mod js;
#[cfg(all(target_arch = "wasm32", not(feature = "worker")))]
pub mod npm;

// The Worker's pure decisions are built natively too, for their tests; on wasm32 only for the
// Worker, so the npm package's wasm carries none of it.
#[cfg(any(not(target_arch = "wasm32"), feature = "worker"))]
pub mod worker;

pub use error::TokenError;
