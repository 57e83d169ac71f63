//! Newtypes for values that must never be printed: client secrets, user credentials and
//! tokens.
//!
//! None of them derives `PartialEq` or `Display`; `Debug` prints a fixed placeholder, and the
//! value is only reachable through an explicit `.expose()`, so a leak shows up in review.

use alloc::string::String;
use core::fmt;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself: only for putting it on the wire.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// The client secret registered at the authorization server.
    ClientSecret
);
secret_type!(
    /// An access token, as received from the token endpoint.
    AccessToken
);
secret_type!(
    /// A refresh token, as received from the token endpoint.
    RefreshToken
);
secret_type!(
    /// A resource owner's username (password grant): personal data, kept out of output too.
    Username
);
secret_type!(
    /// A resource owner's password (password grant).
    Password
);
secret_type!(
    /// A device code (RFC 8628): whoever holds it gets the user's token once they approve.
    DeviceCode
);
