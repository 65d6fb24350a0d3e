//! Token hints, for providers that invalidate older tokens when they issue
//! a new one (Daraja): concurrent calls leave the newest token they fetched
//! in a shared store, and when a token is refused they agree there on which
//! one of them fetches the next token, so that a refusal does not set off
//! a storm of reissues that refuse everyone else in turn
//! ([`crate::flow::Finconnect::with_token_hints`]).
//!
//! The store holds tokens (secrets): nothing logs them, and keys are
//! digests, never a token or a credential.

use crate::secret::Secret;
use sha2::{Digest, Sha256};

/// What the flow needs from the host to share tokens between concurrent
/// calls. The core does no I/O and never sleeps: waiting is the host's.
///
/// Failures are swallowed by the implementation: a read that fails is no
/// hint, a write that fails is no hint left, a claim that cannot be decided
/// is granted (the caller then fetches a token itself, as it would without
/// a store).
pub trait TokenHints {
    /// Whether there is a store at all. Asked before the first hint is
    /// used, and only by providers that use hints, so an implementation
    /// may open its store here rather than for every call.
    fn is_available(&mut self) -> bool {
        true
    }
    /// The bytes stored under `key`, if any.
    fn get(&mut self, key: &str) -> Option<Vec<u8>>;
    /// Stores `value` under `key`.
    fn set(&mut self, key: &str, value: &[u8]);
    /// Takes the lease `key`: true for exactly one caller until it is
    /// released (an atomic increment that moved the key from absent to 1).
    /// A store without atomic increments answers true, and every caller
    /// then believes it holds the lease.
    fn claim(&mut self, key: &str) -> bool;
    /// Gives back a lease taken with [`TokenHints::claim`].
    fn release(&mut self, key: &str);
    /// Waits `millis` milliseconds (the caller polls the store meanwhile).
    fn pause(&mut self, millis: u32);
}

/// The key under which the newest token for `cache_key` (a
/// [`crate::connector::Connector::token_cache_key`]) is left.
pub(crate) fn newest_key(cache_key: &str) -> String {
    format!("{cache_key}/newest")
}

/// The lease key for fetching the token that replaces `refused`: one per
/// refused token, named by a digest of it.
pub(crate) fn lease_key(cache_key: &str, refused: &Secret) -> String {
    let hash = Sha256::digest(refused.expose().as_bytes());
    let hex = hex::encode(&hash[..16]);
    format!("{cache_key}/refresh/{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_keys_hide_the_token_and_tell_tokens_apart() {
        let a = lease_key("finconnect/token/mpesa/00", &Secret::new("token-one"));
        let b = lease_key("finconnect/token/mpesa/00", &Secret::new("token-two"));
        assert_ne!(a, b);
        assert!(a.starts_with("finconnect/token/mpesa/00/refresh/"), "{a}");
        assert!(!a.contains("token-one"), "{a}");
        assert_eq!(
            a,
            lease_key("finconnect/token/mpesa/00", &Secret::new("token-one"))
        );
        // Instances of two versions running side by side share leases.
        assert_eq!(
            a,
            "finconnect/token/mpesa/00/refresh/75c5c10f256c75b650c6ffc2e83c6588"
        );
    }
}
