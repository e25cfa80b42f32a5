//! Mints the opaque strings the doubles hand out: codes, tokens, cursors and trace ids.
//!
//! Values only need to be unique and unpredictable enough that a client cannot build one
//! by accident; they are not secrets worth a CSPRNG. The alphabet includes `-` and `_` on
//! purpose, as Meta's codes do, so a client that mangles them is caught.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ALPHANUMERIC: usize = 62;

/// Source of unique opaque strings, seeded differently in every double.
#[derive(Debug)]
pub(crate) struct Minter {
    seed: RandomState,
    counter: u64,
}

impl Minter {
    pub(crate) fn new() -> Self {
        Self {
            seed: RandomState::new(),
            counter: 0,
        }
    }

    /// `prefix` followed by `len` characters from `[A-Za-z0-9_-]`.
    pub(crate) fn url_safe(&mut self, prefix: &str, len: usize) -> String {
        self.mint(prefix, len, ALPHABET.len())
    }

    /// `prefix` followed by `len` characters from `[A-Za-z0-9]`.
    pub(crate) fn alphanumeric(&mut self, prefix: &str, len: usize) -> String {
        self.mint(prefix, len, ALPHANUMERIC)
    }

    fn mint(&mut self, prefix: &str, len: usize, alphabet: usize) -> String {
        self.counter += 1;
        let mut out = String::with_capacity(prefix.len() + len);
        out.push_str(prefix);
        let mut block = 0u64;
        let mut word = 0u64;
        for i in 0..len {
            if i % 8 == 0 {
                let mut hasher = self.seed.build_hasher();
                hasher.write_u64(self.counter);
                hasher.write_u64(block);
                word = hasher.finish();
                block += 1;
            }
            let index = usize::from(word.to_le_bytes()[i % 8]) % alphabet;
            out.push(char::from(ALPHABET[index]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_values_are_unique_and_use_the_alphabet() {
        let mut minter = Minter::new();
        let a = minter.url_safe("AQ", 64);
        let b = minter.url_safe("AQ", 64);
        assert_ne!(a, b);
        assert_eq!(a.len(), 66);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        let c = minter.alphanumeric("", 32);
        assert!(c.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
