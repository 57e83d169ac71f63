//! The flat options object that `pkg-template/options.js` makes from the caller's options, as
//! a [`Source`] of settings: each read by its option name (`timeoutMs`, `keycloak.realm`), its
//! type already checked there. Whatever is not of the expected type here counts as absent;
//! the values are checked by [`crate::config::ConfigInput::validate`].

use alloc::{string::String, vec::Vec};
use wasm_bindgen::JsValue;

use crate::config::Source;
use crate::error::TokenError;
use crate::options::{Name, Surface};
use crate::response::Field;

use crate::js::field_of;

/// The flat options object.
pub struct FlatOptions<'a>(pub &'a JsValue);

impl Source for FlatOptions<'_> {
    fn surface(&self) -> Surface {
        Surface::Npm
    }

    fn text(&self, name: Name) -> Option<String> {
        match field_of(self.0, name.option) {
            Field::Str(text) => Some(text),
            _ => None,
        }
    }

    fn secret(&self, name: Name) -> Option<String> {
        self.text(name)
    }

    fn number(&self, name: Name) -> Option<f64> {
        match field_of(self.0, name.option) {
            Field::Num(number) => Some(number),
            _ => None,
        }
    }

    /// A flag arrives as 1 or 0 (`options.js`): the wasm reads no booleans otherwise.
    fn flag(&self, name: Name) -> Result<bool, TokenError> {
        Ok(matches!(field_of(self.0, name.option), Field::Num(n) if n == 1.0))
    }

    fn list(&self, name: Name) -> Vec<String> {
        match field_of(self.0, name.option) {
            Field::Strings(list) => list,
            _ => Vec::new(),
        }
    }
}
