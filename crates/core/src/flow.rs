//! The only place that strings calls together: validate, read configuration,
//! fetch a fresh token, make the API call. I/O goes through [`Transport`].
//!
//! Money safety: a payment request is sent at most once. Nothing here
//! retries a call that may have reached the provider; after an ambiguous
//! failure the caller asks for the status by reference.

use crate::config::Variables;
use crate::domain::{
    IpnRegistration, IpnRequest, Payment, PaymentDetails, PaymentRequest, Provider,
};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::providers::clickpesa::{self, ClickpesaConfig};
use crate::providers::pesapal::{self, PesapalConfig};
use crate::token_cache::{self, CachedToken, TokenStore};
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// FinConnect's operations over one variable source and one transport.
pub struct Finconnect<'a> {
    vars: &'a dyn Variables,
    transport: &'a mut dyn Transport,
    cache: Option<Cache<'a>>,
}

/// The opt-in token cache and the time it is judged at.
struct Cache<'a> {
    store: &'a mut dyn TokenStore,
    now: u64,
}

/// Where a token came from: a rejected cached token earns one retry.
enum Origin {
    Fresh,
    Cached(String),
}

impl<'a> Finconnect<'a> {
    /// Binds the operations to where variables come from and how HTTP goes
    /// out. Every call fetches a fresh token.
    pub fn new(vars: &'a dyn Variables, transport: &'a mut dyn Transport) -> Self {
        Self {
            vars,
            transport,
            cache: None,
        }
    }

    /// Keeps tokens in `store` until shortly before they expire, judged at
    /// `now` (Unix seconds). A cached token the provider rejects is dropped
    /// and the call is made once more with a fresh one: the provider refused
    /// the first attempt at the door, so this is safe even for payments.
    pub fn with_token_cache(mut self, store: &'a mut dyn TokenStore, now: u64) -> Self {
        self.cache = Some(Cache { store, now });
        self
    }

    /// Where this instance reads its variables.
    pub fn variables(&self) -> &'a dyn Variables {
        self.vars
    }

    /// Starts collecting a payment: token, then the payment request.
    pub fn pay(&mut self, provider: Provider, request: &PaymentRequest) -> Result<Payment> {
        match provider {
            Provider::Pesapal => {
                let order = pesapal::validate_order(request)?;
                let config = PesapalConfig::load(self.vars)?;
                self.pesapal_call(
                    &config,
                    |token| pesapal::submit_order_request(&config, token, &order),
                    |reply| pesapal::parse_submit_order(reply, &order),
                )
            }
            Provider::Clickpesa => {
                let push = clickpesa::validate_payment(request)?;
                let config = ClickpesaConfig::load(self.vars)?;
                self.clickpesa_call(
                    &config,
                    |token| clickpesa::ussd_push_request(&config, token, &push),
                    |reply| clickpesa::parse_ussd_push(reply, &push),
                )
            }
        }
    }

    /// Registers a notification URL (PesaPal). ClickPesa's webhooks are set
    /// in its dashboard, so it answers [`Error::Unsupported`].
    pub fn register_ipn(
        &mut self,
        provider: Provider,
        request: &IpnRequest,
    ) -> Result<IpnRegistration> {
        match provider {
            Provider::Pesapal => {
                pesapal::validate_ipn(request)?;
                let config = PesapalConfig::load(self.vars)?;
                self.pesapal_call(
                    &config,
                    |token| pesapal::register_ipn_request(&config, token, request),
                    |reply| pesapal::parse_register_ipn(reply, request),
                )
            }
            Provider::Clickpesa => Err(Error::Unsupported {
                provider,
                operation: "register-ipn".to_owned(),
                detail: "ClickPesa webhooks are configured in the ClickPesa dashboard \
                         (Settings, Developers), not through the API; point them at \
                         /notifications/clickpesa"
                    .to_owned(),
            }),
        }
    }

    /// Asks where a payment stands. `id` is PesaPal's order tracking id or
    /// ClickPesa's order reference.
    pub fn payment_status(&mut self, provider: Provider, id: &str) -> Result<PaymentDetails> {
        match provider {
            Provider::Pesapal => {
                pesapal::validate_tracking_id(id)?;
                let config = PesapalConfig::load(self.vars)?;
                self.pesapal_call(
                    &config,
                    |token| pesapal::status_request(&config, token, id),
                    pesapal::parse_status,
                )
            }
            Provider::Clickpesa => {
                clickpesa::validate_reference(id, "id")?;
                let config = ClickpesaConfig::load(self.vars)?;
                self.clickpesa_call(
                    &config,
                    |token| clickpesa::status_request(&config, token, id),
                    clickpesa::parse_status,
                )
            }
        }
    }

    /// A PesaPal API call: token step (or cached token), then the call.
    fn pesapal_call<T>(
        &mut self,
        config: &PesapalConfig,
        build: impl Fn(&AccessToken) -> Result<HttpRequest>,
        parse: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Result<T> {
        let key = token_cache::key(
            Provider::Pesapal,
            &config.base_url,
            &config.consumer_key,
            &config.consumer_secret,
        );
        let fetch = |fc: &mut Self| -> Result<(AccessToken, u64)> {
            let reply = fc.send(Provider::Pesapal, pesapal::token_request(config)?)?;
            let token = pesapal::parse_token(&reply)?;
            let now = fc.cache.as_ref().map_or(0, |cache| cache.now);
            let stale_at = token_cache::pesapal_stale_at(token.expires.as_deref(), now);
            Ok((token, stale_at))
        };
        self.call_with_token(Provider::Pesapal, key, fetch, build, parse)
    }

    /// A ClickPesa API call: token step (or cached token), then the call.
    fn clickpesa_call<T>(
        &mut self,
        config: &ClickpesaConfig,
        build: impl Fn(&AccessToken) -> Result<HttpRequest>,
        parse: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Result<T> {
        let key = token_cache::key(
            Provider::Clickpesa,
            &config.base_url,
            &config.client_id,
            &config.api_key,
        );
        let fetch = |fc: &mut Self| -> Result<(AccessToken, u64)> {
            let reply = fc.send(Provider::Clickpesa, clickpesa::token_request(config)?)?;
            let token = clickpesa::parse_token(&reply)?;
            let now = fc.cache.as_ref().map_or(0, |cache| cache.now);
            Ok((token, token_cache::clickpesa_stale_at(now)))
        };
        self.call_with_token(Provider::Clickpesa, key, fetch, build, parse)
    }

    /// Gets a token (from the cache when it is on and fresh), makes the
    /// call, and when a cached token is rejected drops it and tries once
    /// more with a fresh one.
    fn call_with_token<T>(
        &mut self,
        provider: Provider,
        key: String,
        fetch: impl Fn(&mut Self) -> Result<(AccessToken, u64)>,
        build: impl Fn(&AccessToken) -> Result<HttpRequest>,
        parse: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Result<T> {
        let (token, origin) = match self.cached(&key) {
            Some(token) => (token, Origin::Cached(key)),
            None => {
                let (token, stale_at) = fetch(self)?;
                self.remember(&key, &token, stale_at);
                (token, Origin::Fresh)
            }
        };
        let reply = self.send(provider, build(&token)?)?;
        match (parse(&reply), origin) {
            (Err(Error::Authentication { .. }), Origin::Cached(key)) => {
                self.forget(&key);
                let (token, stale_at) = fetch(self)?;
                self.remember(&key, &token, stale_at);
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

    fn send(&mut self, provider: Provider, request: HttpRequest) -> Result<HttpResponse> {
        self.transport.send(request).map_err(|error| match error {
            TransportError::Timeout(message) => Error::Timeout { provider, message },
            TransportError::Failed(message) => Error::Transport { provider, message },
        })
    }
}

#[cfg(test)]
mod tests;
