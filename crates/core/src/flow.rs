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
use crate::token_cache;
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

#[cfg(feature = "token-cache")]
mod cache;

/// FinConnect's operations over one variable source and one transport.
pub struct Finconnect<'a> {
    vars: &'a dyn Variables,
    transport: &'a mut dyn Transport,
    #[cfg(feature = "token-cache")]
    cache: Option<cache::Cache<'a>>,
}

/// M-Pesa is in the provider list but its connector is not wired yet.
fn mpesa_not_wired(operation: &str) -> Error {
    Error::Unsupported {
        provider: Provider::Mpesa,
        operation: operation.to_owned(),
        detail: "not yet wired".to_owned(),
    }
}

impl<'a> Finconnect<'a> {
    /// Binds the operations to where variables come from and how HTTP goes
    /// out. Every call fetches a fresh token.
    pub fn new(vars: &'a dyn Variables, transport: &'a mut dyn Transport) -> Self {
        Self {
            vars,
            transport,
            #[cfg(feature = "token-cache")]
            cache: None,
        }
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
            Provider::Mpesa => Err(mpesa_not_wired("pay")),
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
            Provider::Mpesa => Err(mpesa_not_wired("register-ipn")),
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
            Provider::Mpesa => Err(mpesa_not_wired("payment-status")),
        }
    }

    /// A PesaPal API call: token step (or cached token), then the call.
    fn pesapal_call<T>(
        &mut self,
        config: &PesapalConfig,
        build: impl Fn(&AccessToken) -> Result<HttpRequest>,
        parse: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Result<T> {
        let tokens = Tokens {
            provider: Provider::Pesapal,
            key: || {
                token_cache::key(
                    Provider::Pesapal,
                    &config.base_url,
                    &config.consumer_key,
                    &config.consumer_secret,
                )
            },
            fetch: |fc: &mut Self| {
                let reply = fc.send(Provider::Pesapal, pesapal::token_request(config)?)?;
                pesapal::parse_token(&reply)
            },
            stale_at: |token: &AccessToken, now| {
                token_cache::pesapal_stale_at(token.expires.as_deref(), now)
            },
        };
        self.call_with_token(tokens, build, parse)
    }

    /// A ClickPesa API call: token step (or cached token), then the call.
    fn clickpesa_call<T>(
        &mut self,
        config: &ClickpesaConfig,
        build: impl Fn(&AccessToken) -> Result<HttpRequest>,
        parse: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Result<T> {
        let tokens = Tokens {
            provider: Provider::Clickpesa,
            key: || {
                token_cache::key(
                    Provider::Clickpesa,
                    &config.base_url,
                    &config.client_id,
                    &config.api_key,
                )
            },
            fetch: |fc: &mut Self| {
                let reply = fc.send(Provider::Clickpesa, clickpesa::token_request(config)?)?;
                clickpesa::parse_token(&reply)
            },
            stale_at: |_: &AccessToken, now| token_cache::clickpesa_stale_at(now),
        };
        self.call_with_token(tokens, build, parse)
    }

    /// Without the token cache compiled in: a fresh token, then the call.
    #[cfg(not(feature = "token-cache"))]
    fn call_with_token<T, K, F, S>(
        &mut self,
        tokens: Tokens<K, F, S>,
        build: impl Fn(&AccessToken) -> Result<HttpRequest>,
        parse: impl Fn(&HttpResponse) -> Result<T>,
    ) -> Result<T>
    where
        F: Fn(&mut Self) -> Result<AccessToken>,
    {
        let token = (tokens.fetch)(self)?;
        let reply = self.send(tokens.provider, build(&token)?)?;
        parse(&reply)
    }

    fn send(&mut self, provider: Provider, request: HttpRequest) -> Result<HttpResponse> {
        self.transport.send(request).map_err(|error| match error {
            TransportError::Timeout(message) => Error::Timeout { provider, message },
            TransportError::Failed(message) => Error::Transport { provider, message },
        })
    }
}

/// How one provider's tokens are fetched and, with the token cache, keyed
/// and aged. `key` and `stale_at` are only called when the cache is on.
struct Tokens<K, F, S> {
    provider: Provider,
    /// The cache key: provider, base URL and a digest of the credentials.
    #[cfg_attr(not(feature = "token-cache"), allow(dead_code))]
    key: K,
    /// The token step.
    fetch: F,
    /// When a token fetched at `now` stops being used (Unix seconds).
    #[cfg_attr(not(feature = "token-cache"), allow(dead_code))]
    stale_at: S,
}

#[cfg(test)]
mod tests;
