//! The npm package's adapter. `CoreClient` is the core as the package's JS wrapper
//! (`pkg-template/`) sees it: the wrapper does the I/O (`fetch`, timers, abort signals) and
//! calls in to decide, build and parse. Nothing here holds logic: values only cross the
//! boundary, as plain objects (`values`) and the flat options (`options`).

mod client;
mod options;
mod values;

pub use client::CoreClient;
