//! The opt-in token cache in the flow (cargo feature `token-cache`, on by
//! default for the core; the component compiles it in only with its own
//! `token-cache` feature, so the default component carries none of it).

use super::{Finconnect, Tokens};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::token_cache::{CachedToken, TokenStore};
use crate::transport::{HttpRequest, HttpResponse};

/// The opt-in token cache and the time it is judged at.
pub(super) struct Cache<'a> {
    store: &'a mut dyn TokenStore,
    now: u64,
}

/// Where a token came from: a rejected cached token earns one retry.
enum Origin {
    Fresh,
    Cached(String),
}

impl<'a> Finconnect<'a> {
    /// Keeps tokens in `store` until shortly before they expire, judged at
    /// `now` (Unix seconds). A cached token the provider rejects is dropped
    /// and the call is made once more with a fresh one: the provider refused
    /// the first attempt at the door, so this is safe even for payments.
    pub fn with_token_cache(mut self, store: &'a mut dyn TokenStore, now: u64) -> Self {
        self.cache = Some(Cache { store, now });
        self
    }

    /// Gets a token (from the cache when it is on and fresh), makes the
    /// call, and when a cached token is rejected drops it and tries once
    /// more with a fresh one.
    pub(super) fn call_with_token<T, K, F, S>(
        &mut self,
        tokens: Tokens<K, F, S>,
        build: impl Fn(&AccessToken) -> Result<HttpRequest>,
        parse: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Result<T>
    where
        K: FnOnce() -> String,
        F: Fn(&mut Self) -> Result<AccessToken>,
        S: Fn(&AccessToken, u64) -> u64,
    {
        let Tokens {
            provider,
            key,
            fetch,
            stale_at,
        } = tokens;
        let key = self.cache.is_some().then(key);
        let fetch_and_keep = |fc: &mut Self, key: Option<&str>| -> Result<AccessToken> {
            let token = fetch(fc)?;
            if let Some(key) = key {
                let now = fc.cache.as_ref().map_or(0, |cache| cache.now);
                fc.remember(key, &token, stale_at(&token, now));
            }
            Ok(token)
        };
        let (token, origin) = match key.as_deref().and_then(|key| self.cached(key)) {
            Some(token) => (token, Origin::Cached(key.unwrap_or_default())),
            None => (fetch_and_keep(self, key.as_deref())?, Origin::Fresh),
        };
        let reply = self.send(provider, build(&token)?)?;
        match (parse(&reply), origin) {
            (Err(Error::Authentication { .. }), Origin::Cached(key)) => {
                self.forget(&key);
                let token = fetch_and_keep(self, Some(&key))?;
                let reply = self.send(provider, build(&token)?)?;
                parse(&reply)
            }
            (result, _) => result,
        }
    }

    fn cached(&mut self, key: &str) -> Option<AccessToken> {
        let cache = self.cache.as_mut()?;
        let stored = CachedToken::decode(&cache.store.get(key)?)?;
        let fresh = stored.is_fresh(cache.now);
        fresh.then_some(AccessToken {
            value: stored.value,
            expires: None,
        })
    }

    fn remember(&mut self, key: &str, token: &AccessToken, stale_at: u64) {
        if let Some(cache) = self.cache.as_mut() {
            let entry = CachedToken {
                value: token.value.clone(),
                stale_at,
            };
            cache.store.set(key, &entry.encode());
        }
    }

    fn forget(&mut self, key: &str) {
        if let Some(cache) = self.cache.as_mut() {
            cache.store.delete(key);
        }
    }
}
