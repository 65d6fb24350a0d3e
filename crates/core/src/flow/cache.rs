//! The opt-in token cache in the flow (cargo feature `token-cache`, on by
//! default for the core; the component compiles it in only with its own
//! `token-cache` feature, so the default component carries none of it).

use super::Finconnect;
use crate::connector::{Call, Connector};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::token_cache::{CachedToken, TokenStore};

/// The opt-in token cache.
pub(super) struct Cache<'a> {
    store: &'a mut dyn TokenStore,
}

/// Where a token came from: a rejected cached token earns one retry.
enum Origin {
    Fresh,
    Cached,
}

impl<'a> Finconnect<'a> {
    /// Keeps tokens in `store` until shortly before they expire, judged at
    /// `now` (Unix seconds, which also becomes the time requests are signed
    /// with). A cached token the provider rejects is dropped and the call is
    /// made once more with a fresh one: the provider refused the first
    /// attempt at the door, so this is safe even for payments.
    pub fn with_token_cache(mut self, store: &'a mut dyn TokenStore, now: u64) -> Self {
        self.cache = Some(Cache { store });
        self.now = now;
        self
    }

    /// Gets a token (from the cache when it is on and fresh), makes the
    /// call, and when the token is refused (a cached one for any
    /// authentication error, a fresh one when the connector allows it)
    /// forgets it and tries once more with a new one.
    pub(super) fn call_with_token<C: Connector, T>(
        &mut self,
        connector: &C,
        config: &C::Config,
        call: &dyn Call<C::Config, Output = T>,
    ) -> Result<T> {
        let key = self
            .cache
            .is_some()
            .then(|| connector.token_cache_key(config));
        let (token, origin) = match key.as_deref().and_then(|key| self.cached(key)) {
            Some(token) => (token, Origin::Cached),
            None => (
                self.fetch_and_keep(connector, config, key.as_deref())?,
                Origin::Fresh,
            ),
        };
        match (self.call_once(connector, config, call, &token), origin) {
            (Err(Error::Authentication { .. }), Origin::Cached) => {
                self.retry(connector, config, call, key.as_deref())
            }
            // Without the cache, the same recovery as a build without it.
            (Err(error), _) if connector.retry_with_new_token(&error) && key.is_none() => {
                self.retry_refused(connector, config, call, token, error)
            }
            (Err(error), _) if connector.retry_with_new_token(&error) => {
                self.retry(connector, config, call, key.as_deref())
            }
            (result, _) => result,
        }
    }

    fn retry<C: Connector, T>(
        &mut self,
        connector: &C,
        config: &C::Config,
        call: &dyn Call<C::Config, Output = T>,
        key: Option<&str>,
    ) -> Result<T> {
        if let Some(key) = key {
            self.forget(key);
        }
        let token = self.fetch_and_keep(connector, config, key)?;
        self.call_once(connector, config, call, &token)
    }

    fn fetch_and_keep<C: Connector>(
        &mut self,
        connector: &C,
        config: &C::Config,
        key: Option<&str>,
    ) -> Result<AccessToken> {
        let token = self.fresh_token(connector, config)?;
        if let Some(key) = key {
            let stale_at = connector.token_stale_at(&token, self.now);
            self.remember(key, &token, stale_at);
        }
        Ok(token)
    }

    fn cached(&mut self, key: &str) -> Option<AccessToken> {
        let cache = self.cache.as_mut()?;
        let stored = CachedToken::decode(&cache.store.get(key)?)?;
        let fresh = stored.is_fresh(self.now);
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
