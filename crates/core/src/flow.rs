//! The only place that strings calls together, for every provider alike:
//! validate, read configuration, fetch a fresh token, make the API call.
//! I/O goes through [`Transport`]; what each step sends and how each reply
//! reads comes from the provider's [`Connector`].
//!
//! Money safety: a payment request is sent at most once, except when the
//! provider refused the token at its gateway and its connector says that
//! nothing was started ([`Connector::retry_with_new_token`]). Nothing here
//! retries a call that may have reached the provider; after an ambiguous
//! failure the caller asks for the status by reference.

use crate::config::Variables;
use crate::connector::{
    BoxedCall, Call, Connector, Incoming, NotificationError, ProviderInfo, Verification,
};
use crate::domain::{
    IpnRegistration, IpnRequest, Payment, PaymentDetails, PaymentRequest, Provider,
};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

#[cfg(feature = "token-cache")]
mod cache;

/// FinConnect's operations over one variable source and one transport.
pub struct Finconnect<'a> {
    vars: &'a dyn Variables,
    transport: &'a mut dyn Transport,
    /// Unix seconds, for providers that sign requests with the time.
    now: u64,
    #[cfg(feature = "token-cache")]
    cache: Option<cache::Cache<'a>>,
}

/// A notification after FinConnect dealt with it: what it learnt, and the
/// exact answer for the provider.
#[derive(Debug)]
pub struct Notified {
    /// The verified facts, or why they could not be had.
    pub outcome: Result<PaymentDetails>,
    /// The acknowledgement the provider expects.
    pub response: HttpResponse,
    /// How the facts were (or were to be) established.
    pub check: Check,
}

/// How a notification's facts are established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// By asking the provider for the payment's status.
    StatusQuery,
    /// By the notification's own signature.
    Signature,
    /// Not at all: the provider's connector had nothing to check with.
    Unchecked,
}

impl<'a> Finconnect<'a> {
    /// Binds the operations to where variables come from and how HTTP goes
    /// out. Every call fetches a fresh token. The clock reads 0 until
    /// [`Finconnect::at`] sets it.
    pub fn new(vars: &'a dyn Variables, transport: &'a mut dyn Transport) -> Self {
        Self {
            vars,
            transport,
            now: 0,
            #[cfg(feature = "token-cache")]
            cache: None,
        }
    }

    /// Sets the time (Unix seconds) that requests are signed with.
    pub fn at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }

    /// Where this instance reads its variables.
    pub fn variables(&self) -> &'a dyn Variables {
        self.vars
    }

    /// Starts collecting a payment: validation, token, then the payment request.
    pub fn pay(&mut self, provider: Provider, request: &PaymentRequest) -> Result<Payment> {
        provider.connector().pay(self, request)
    }

    /// Registers a notification URL, for providers that take one.
    pub fn register_ipn(
        &mut self,
        provider: Provider,
        request: &IpnRequest,
    ) -> Result<IpnRegistration> {
        provider.connector().register_ipn(self, request)
    }

    /// Asks where a payment stands; the id is the one named by the
    /// provider's [`ProviderInfo::status_key`].
    pub fn payment_status(&mut self, provider: Provider, id: &str) -> Result<PaymentDetails> {
        provider.connector().payment_status(self, id)
    }

    /// Reads a provider's notification, believes it only once verified (by
    /// its signature, or by asking the provider), and builds the answer the
    /// provider expects.
    pub fn notification(
        &mut self,
        provider: Provider,
        incoming: &Incoming<'_>,
    ) -> std::result::Result<Notified, NotificationError> {
        provider.connector().notification(self, incoming)
    }

    /// Runs a validated call of `connector`: its variables, a token, the
    /// request, the reply.
    fn run<C: Connector, T>(&mut self, connector: &C, call: BoxedCall<C::Config, T>) -> Result<T> {
        let config = connector.load(self.vars)?;
        call.prepare(&config)?;
        self.call_with_token(connector, &config, &*call)
    }

    /// Without the token cache compiled in: a fresh token, then the call;
    /// once more with a new token only when the connector says the gateway
    /// refused the token before anything started.
    #[cfg(not(feature = "token-cache"))]
    fn call_with_token<C: Connector, T>(
        &mut self,
        connector: &C,
        config: &C::Config,
        call: &dyn Call<C::Config, Output = T>,
    ) -> Result<T> {
        let token = self.fresh_token(connector, config)?;
        match self.call_once(connector, config, call, &token) {
            Err(error) if connector.retry_with_new_token(&error) => {
                let token = self.fresh_token(connector, config)?;
                self.call_once(connector, config, call, &token)
            }
            result => result,
        }
    }

    /// The token step.
    fn fresh_token<C: Connector>(
        &mut self,
        connector: &C,
        config: &C::Config,
    ) -> Result<AccessToken> {
        let provider = connector.info().provider;
        let reply = self.send(provider, connector.token_request(config)?)?;
        connector.parse_token(&reply)
    }

    /// One API call with `token`.
    fn call_once<C: Connector, T>(
        &mut self,
        connector: &C,
        config: &C::Config,
        call: &dyn Call<C::Config, Output = T>,
        token: &AccessToken,
    ) -> Result<T> {
        let provider = connector.info().provider;
        let reply = self.send(provider, call.request(config, token, self.now)?)?;
        call.parse(config, &reply)
    }

    fn send(&mut self, provider: Provider, request: HttpRequest) -> Result<HttpResponse> {
        self.transport.send(request).map_err(|error| match error {
            TransportError::Timeout(message) => Error::Timeout { provider, message },
            TransportError::Failed(message) => Error::Transport { provider, message },
        })
    }
}

/// A [`Connector`] with its types erased, so the registry can hold every
/// provider in one list. Implemented for every connector; nothing else
/// implements it.
pub trait Dispatch: Sync {
    /// The facts about the provider.
    fn info(&self) -> &'static ProviderInfo;
    /// [`Finconnect::pay`] for this provider.
    fn pay(&self, fc: &mut Finconnect<'_>, request: &PaymentRequest) -> Result<Payment>;
    /// [`Finconnect::register_ipn`] for this provider.
    fn register_ipn(
        &self,
        fc: &mut Finconnect<'_>,
        request: &IpnRequest,
    ) -> Result<IpnRegistration>;
    /// [`Finconnect::payment_status`] for this provider.
    fn payment_status(&self, fc: &mut Finconnect<'_>, id: &str) -> Result<PaymentDetails>;
    /// [`Finconnect::notification`] for this provider.
    fn notification(
        &self,
        fc: &mut Finconnect<'_>,
        incoming: &Incoming<'_>,
    ) -> std::result::Result<Notified, NotificationError>;
}

impl<C: Connector> Dispatch for C {
    fn info(&self) -> &'static ProviderInfo {
        Connector::info(self)
    }

    fn pay(&self, fc: &mut Finconnect<'_>, request: &PaymentRequest) -> Result<Payment> {
        let call = Connector::pay(self, request)?;
        fc.run(self, call)
    }

    fn register_ipn(
        &self,
        fc: &mut Finconnect<'_>,
        request: &IpnRequest,
    ) -> Result<IpnRegistration> {
        let call = Connector::register_ipn(self, request)?;
        fc.run(self, call)
    }

    fn payment_status(&self, fc: &mut Finconnect<'_>, id: &str) -> Result<PaymentDetails> {
        let call = Connector::payment_status(self, id)?;
        fc.run(self, call)
    }

    fn notification(
        &self,
        fc: &mut Finconnect<'_>,
        incoming: &Incoming<'_>,
    ) -> std::result::Result<Notified, NotificationError> {
        let (notification, verification) = self.read_notification(fc.vars, incoming)?;
        let (outcome, check) = match verification {
            Verification::Verified(details) => (Ok(details), Check::Signature),
            Verification::Unchecked(details) => (Ok(details), Check::Unchecked),
            Verification::Confirm(id) => {
                (Dispatch::payment_status(self, fc, &id), Check::StatusQuery)
            }
        };
        let response = self.acknowledge(&notification, outcome.as_ref());
        Ok(Notified {
            outcome,
            response,
            check,
        })
    }
}

#[cfg(test)]
mod tests;
