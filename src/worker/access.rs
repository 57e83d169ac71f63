//! Who may use the Worker: the caller's proxy key, compared in constant time.

use super::config::Access;

/// Why an inbound request is refused before anything is forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No key, or a wrong one: 401.
    Unauthorized,
    /// A path that could escape the origin's base path: 400.
    BadPath,
}

/// Whether the caller presented one of the keys. The value may be `Bearer <key>` or the key
/// alone; every key is compared, in constant time, whatever matched before.
pub fn check_access(access: &Access, presented: Option<&str>) -> Result<(), Refusal> {
    let Access::Keys(keys) = access else {
        return Ok(());
    };
    let presented = presented.unwrap_or("").trim();
    let presented = match presented.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => presented,
    };
    let matched = keys.iter().fold(false, |found, key| {
        found | constant_time_eq(key.0.expose().as_bytes(), presented.as_bytes())
    });
    if matched && !presented.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Unauthorized)
    }
}

/// Whether `presented` equals `key`, in a time that depends on the key's length only: every
/// byte of the key is compared (with the presented bytes taken round-robin), whatever the
/// presented length and wherever the bytes differ.
fn constant_time_eq(key: &[u8], presented: &[u8]) -> bool {
    let count = presented.len().max(1);
    let differ = key.iter().enumerate().fold(0u8, |acc, (i, x)| {
        acc | (x ^ presented.get(i % count).copied().unwrap_or(0))
    });
    (differ == 0) & (key.len() == presented.len())
}
