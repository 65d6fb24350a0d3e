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
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// FinConnect's operations over one variable source and one transport.
pub struct Finconnect<'a> {
    vars: &'a dyn Variables,
    transport: &'a mut dyn Transport,
}

impl<'a> Finconnect<'a> {
    /// Binds the operations to where variables come from and how HTTP goes out.
    pub fn new(vars: &'a dyn Variables, transport: &'a mut dyn Transport) -> Self {
        Self { vars, transport }
    }

    /// Starts collecting a payment: token, then the payment request.
    pub fn pay(&mut self, provider: Provider, request: &PaymentRequest) -> Result<Payment> {
        match provider {
            Provider::Pesapal => {
                let order = pesapal::validate_order(request)?;
                let config = PesapalConfig::load(self.vars)?;
                let token = self.pesapal_token(&config)?;
                let reply = self.send(
                    provider,
                    pesapal::submit_order_request(&config, &token, &order)?,
                )?;
                pesapal::parse_submit_order(&reply, &order)
            }
            Provider::Clickpesa => {
                let push = clickpesa::validate_payment(request)?;
                let config = ClickpesaConfig::load(self.vars)?;
                let token = self.clickpesa_token(&config)?;
                let reply = self.send(
                    provider,
                    clickpesa::ussd_push_request(&config, &token, &push)?,
                )?;
                clickpesa::parse_ussd_push(&reply, &push)
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
                let token = self.pesapal_token(&config)?;
                let reply = self.send(
                    provider,
                    pesapal::register_ipn_request(&config, &token, request)?,
                )?;
                pesapal::parse_register_ipn(&reply, request)
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
                let token = self.pesapal_token(&config)?;
                let reply = self.send(provider, pesapal::status_request(&config, &token, id)?)?;
                pesapal::parse_status(&reply)
            }
            Provider::Clickpesa => {
                clickpesa::validate_reference(id, "id")?;
                let config = ClickpesaConfig::load(self.vars)?;
                let token = self.clickpesa_token(&config)?;
                let reply = self.send(provider, clickpesa::status_request(&config, &token, id)?)?;
                clickpesa::parse_status(&reply)
            }
        }
    }

    fn pesapal_token(&mut self, config: &PesapalConfig) -> Result<AccessToken> {
        let reply = self.send(Provider::Pesapal, pesapal::token_request(config)?)?;
        pesapal::parse_token(&reply)
    }

    fn clickpesa_token(&mut self, config: &ClickpesaConfig) -> Result<AccessToken> {
        let reply = self.send(Provider::Clickpesa, clickpesa::token_request(config)?)?;
        clickpesa::parse_token(&reply)
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
