//! §3.2 Nicknames: 1 to 32 characters of `A-Z a-z 0-9 _ -`, compared case-insensitively.

use crate::codec::DecodeError;
use core::fmt;
use core::hash::{Hash, Hasher};

use crate::limits::MAX_NICK;

/// A valid nickname (§3.2). It keeps the case it was typed in for display; equality, hashing and
/// [`Nick::canonical`] use the lowercase form.
#[derive(Clone)]
pub struct Nick(String);

impl Nick {
    /// Parses a nickname, or says which rule it breaks.
    pub fn new(s: &str) -> Result<Self, DecodeError> {
        Self::from_bytes(s.as_bytes())
    }

    /// Whether `bytes` is a valid nickname (§3.2), without allocating.
    pub fn is_valid(bytes: &[u8]) -> bool {
        !bytes.is_empty()
            && bytes.len() <= MAX_NICK
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
    }

    /// Parses a nickname from the bytes of a `nick` field (§2.3).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if !Self::is_valid(bytes) {
            return Err(DecodeError::InvalidNick);
        }
        // Only ASCII passed the check above, so this never replaces anything.
        Ok(Self(String::from_utf8_lossy(bytes).into_owned()))
    }

    /// The nickname as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical (lowercase) form: what relays register and what keys bind (§3.2, §5.2).
    pub fn canonical(&self) -> Nick {
        Nick(self.0.to_ascii_lowercase())
    }

    /// Whether the nickname is already in canonical form.
    pub fn is_canonical(&self) -> bool {
        !self.0.bytes().any(|b| b.is_ascii_uppercase())
    }
}

impl PartialEq for Nick {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Nick {}

impl Hash for Nick {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl PartialOrd for Nick {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Nick {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        let a = self.0.bytes().map(|b| b.to_ascii_lowercase());
        let b = other.0.bytes().map(|b| b.to_ascii_lowercase());
        a.cmp(b)
    }
}

impl fmt::Display for Nick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Nick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nick({:?})", self.0)
    }
}

impl core::str::FromStr for Nick {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_3_2_accepts_allowed_characters() {
        assert!(Nick::new("Alice_the-2nd").is_ok());
        assert!(Nick::new(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn nick_3_2_rejects_empty_long_and_other_characters() {
        for bad in ["", &"a".repeat(33), "al ice", "é", "bob!", "a.b"] {
            assert_eq!(
                Nick::new(bad).map(|_| ()),
                Err(DecodeError::InvalidNick),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nick_3_2_compares_case_insensitively() {
        let a = Nick::new("Alice").unwrap();
        let b = Nick::new("aLICE").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.canonical().as_str(), "alice");
        assert!(!a.is_canonical());
        let set: std::collections::HashSet<_> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }
}
