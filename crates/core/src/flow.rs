//! The only place that strings calls together, for every provider alike:
//! validate, read configuration, fetch a fresh token, make the API call.
//! I/O goes through [`Transport`]; what each step sends and how each reply
//! reads comes from the provider's [`Connector`].
//!
//! Money safety: a payment request is sent at most once, except when the
//! provider refused the token at its gateway and its connector says that
//! nothing was started ([`Connector::retry_with_new_token`]). Nothing here
//! retries a call that may have reached the provider; after an ambiguous
//! failure the caller asks for the status by reference. The same holds for
//! a refund and a cancellation: each is sent at most once per call, and
//! nothing here sends it again.

use crate::config::Variables;
use crate::connector::{
    BoxedCall, Call, Connector, Incoming, NotificationError, ProviderInfo, Verification,
};
use crate::domain::{
    Cancellation, IpnListing, IpnRegistration, IpnRequest, Payment, PaymentDetails, PaymentPreview,
    PaymentRequest, Provider, ProviderPaymentPage, ProviderPaymentQuery, Refund, RefundRequest,
};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::secret::Secret;
use crate::token_hints::{self, TokenHints};
use crate::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// With a token hint store, a call whose fresh token was refused at the
/// gateway is tried this many more times (each with the newest token
/// another call left, or one fetched by whichever call won the refresh
/// lease); without a store, once. Every retry follows a refusal, so none
/// can start a second payment. A call can be refused once for every token
/// issued after its own, and each concurrent call issues one: 8 retries
/// let 1 to 3 of 32 concurrent pays fail in about one test run in ten on a
/// loaded machine; this many let all through (tests/mpesa.rs).
const HINTED_TOKEN_RETRIES: usize = 64;

/// Of those retries, how many may use a token this call fetched itself
/// (it held the refused token's lease): a gateway that keeps refusing
/// every token costs at most this many token requests per call, as before.
const HINTED_TOKEN_REFRESHES: u32 = 8;

/// How long, in all, one call waits for another to publish the token that
/// replaces a refused one before giving up with the refusal.
const HINT_WAIT_MS: u32 = 2_000;

/// How often a waiting call reads the hint store again.
const HINT_POLL_MS: u32 = 10;

mod billpay;
#[cfg(feature = "token-cache")]
mod cache;
mod payouts;

/// FinConnect's operations over one variable source and one transport.
pub struct Finconnect<'a> {
    vars: &'a dyn Variables,
    transport: &'a mut dyn Transport,
    /// Unix seconds, for providers that sign requests with the time.
    now: u64,
    #[cfg(feature = "token-cache")]
    cache: Option<cache::Cache<'a>>,
    /// Where the newest token of providers that invalidate old tokens on
    /// reissue is left for concurrent calls ([`Finconnect::with_token_hints`]).
    hints: Option<&'a mut dyn TokenHints>,
    /// How many API requests (not token requests) were handed to the
    /// transport ([`Finconnect::api_requests_sent`]).
    api_requests: u32,
    /// The host's clock in Unix milliseconds ([`Finconnect::with_clock`]).
    clock: Option<&'a dyn Fn() -> u64>,
    /// The settings only a provider call needs, checked before the first
    /// one ([`Finconnect::with_call_settings`]).
    call_settings: Option<&'a dyn Fn() -> Result<()>>,
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
    /// For a new charge of a recurring schedule, admitted because the
    /// gate knew its account number (not its id): that account number,
    /// so the charge can be recorded as a payment of its own, linked to
    /// the one that set the schedule up.
    pub recurring: Option<String>,
}

/// How a notification's facts are established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// By asking the provider for the payment's status.
    StatusQuery,
    /// By the notification's own signature.
    Signature,
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
            hints: None,
            api_requests: 0,
            clock: None,
            call_settings: None,
        }
    }

    /// Settings that matter only to a provider call (the transport's
    /// timeouts, say) are read only by an operation that makes one:
    /// `check` reads them and names a malformed one, before the
    /// operation's first request. An operation answered without a call (a
    /// replay from the ledger, a list of events) never runs it.
    pub fn with_call_settings(mut self, check: &'a dyn Fn() -> Result<()>) -> Self {
        self.call_settings = Some(check);
        self
    }

    /// Lets records written after a provider call carry the time they were
    /// written rather than the time the request began: `clock` answers
    /// Unix milliseconds ([`Finconnect::time_ms`]).
    pub fn with_clock(mut self, clock: &'a dyn Fn() -> u64) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The time now by [`Finconnect::with_clock`], never before `started`
    /// (the time the request began, which is also the answer without a
    /// clock).
    pub fn time_ms(&self, started: u64) -> u64 {
        self.clock.map_or(started, |clock| clock().max(started))
    }

    /// How many API requests (token requests not counted) this instance
    /// has handed to the transport. A payment whose count did not move was
    /// never sent: a failure in the token step started nothing.
    pub fn api_requests_sent(&self) -> u32 {
        self.api_requests
    }

    /// Shares tokens of providers that invalidate older tokens when they
    /// issue a new one ([`Connector::token_reissue_invalidates`]): each
    /// fresh token is left in `store`, and a call refused for an outdated
    /// token retries with the newest one found there. When the store holds
    /// nothing newer than the refused token, one call (the one that takes
    /// the refused token's lease, [`TokenHints::claim`]) fetches the next
    /// token and leaves it there; the others wait for it, polling, for at
    /// most two seconds in all. Every call still starts with a fresh token
    /// of its own; the store only settles races between concurrent calls.
    pub fn with_token_hints(mut self, store: &'a mut dyn TokenHints) -> Self {
        self.hints = Some(store);
        self
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

    /// What [`Finconnect::pay`] checks first, reading no variable and
    /// calling no one: the request's own fields, as the provider takes
    /// them. Enough to look a request up in the ledger, whose replay needs
    /// no variable either.
    pub fn check_request(&self, provider: Provider, request: &PaymentRequest) -> Result<()> {
        provider.connector().check_request(request)
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

    /// Asks for money of a completed payment back: validation, then the
    /// payment's status (token, status query), then — only for a completed
    /// payment and an amount at most what was paid — the refund request
    /// (token, request). Never sent twice: see the module's money safety.
    pub fn refund(
        &mut self,
        provider: Provider,
        id: &str,
        request: &RefundRequest,
    ) -> Result<Refund> {
        provider.connector().check_refund(self, id, request)?;
        let payment = self.payment_status(provider, id)?;
        self.refund_after_status(provider, id, request, &payment)
    }

    /// The refund request alone, for a payment whose status the caller has
    /// just asked for ([`Finconnect::refund`] without its status step).
    pub fn refund_after_status(
        &mut self,
        provider: Provider,
        id: &str,
        request: &RefundRequest,
        payment: &PaymentDetails,
    ) -> Result<Refund> {
        provider
            .connector()
            .refund_after_status(self, id, request, payment)
    }

    /// Everything [`Finconnect::refund`] checks before the network.
    pub fn check_refund(
        &self,
        provider: Provider,
        id: &str,
        request: &RefundRequest,
    ) -> Result<()> {
        provider.connector().check_refund(self, id, request)
    }

    /// Cancels an order that is not paid: validation, token, then the
    /// cancellation request.
    pub fn cancel(&mut self, provider: Provider, id: &str) -> Result<Cancellation> {
        provider.connector().cancel(self, id)
    }

    /// Everything [`Finconnect::cancel`] checks before the network.
    pub fn check_cancel(&self, provider: Provider, id: &str) -> Result<()> {
        provider.connector().check_cancel(self, id)
    }

    /// Lists the notification URLs the provider has on record.
    pub fn list_ipns(&mut self, provider: Provider) -> Result<Vec<IpnListing>> {
        provider.connector().list_ipns(self)
    }

    /// Previews a payment without starting it: validation, token, then the
    /// preview request. Nothing is charged and nothing is recorded.
    pub fn preview(
        &mut self,
        provider: Provider,
        request: &PaymentRequest,
        fetch_sender: bool,
    ) -> Result<PaymentPreview> {
        provider.connector().preview(self, request, fetch_sender)
    }

    /// One page of the provider's own list of payments: validation, token,
    /// then the list request.
    pub fn list_provider_payments(
        &mut self,
        provider: Provider,
        query: &ProviderPaymentQuery,
    ) -> Result<ProviderPaymentPage> {
        provider.connector().list_provider_payments(self, query)
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

    /// [`Finconnect::notification`], with `gate` asked before anything is
    /// called: it gets the id the notification names (the provider's id,
    /// or the merchant reference; see [`Lookup`]) and may refuse it (an id
    /// nobody issued: no provider call, the provider's negative
    /// acknowledgement) or answer it from what is already known (a settled
    /// payment).
    pub fn notification_gated(
        &mut self,
        provider: Provider,
        incoming: &Incoming<'_>,
        gate: &mut dyn FnMut(Lookup<'_>) -> Gate,
    ) -> std::result::Result<Notified, NotificationError> {
        provider
            .connector()
            .notification_gated(self, incoming, gate)
    }

    /// Runs a validated call of `connector`: its variables, a token, the
    /// request, the reply.
    fn run<C: Connector, T>(&mut self, connector: &C, call: BoxedCall<C::Config, T>) -> Result<T> {
        let config = connector.load(self.vars)?;
        call.prepare(&config)?;
        if let Some(check) = self.call_settings {
            check()?;
        }
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
                self.retry_refused(connector, config, call, token, error)
            }
            result => result,
        }
    }

    /// After the gateway refused `refused` (nothing was started): tries
    /// again, as long as the refusals continue and the retries last (once
    /// without a hint store), with the token [`Finconnect::next_token`]
    /// finds, or without a hint store with a new one.
    fn retry_refused<C: Connector, T>(
        &mut self,
        connector: &C,
        config: &C::Config,
        call: &dyn Call<C::Config, Output = T>,
        mut refused: AccessToken,
        mut error: Error,
    ) -> Result<T> {
        let hinted = connector.token_reissue_invalidates() && self.has_hints();
        let retries = if hinted { HINTED_TOKEN_RETRIES } else { 1 };
        let mut waited = 0;
        let mut refreshed = 0;
        for _ in 0..retries {
            let token = if hinted {
                match self.next_token(connector, config, &refused, &mut waited, &mut refreshed)? {
                    Some(token) => token,
                    // Nobody published a successor in time: the refusal
                    // stands (nothing was started).
                    None => return Err(error),
                }
            } else {
                self.fresh_token(connector, config)?
            };
            match self.call_once(connector, config, call, &token) {
                Err(next) if connector.retry_with_new_token(&next) => {
                    refused = token;
                    error = next;
                }
                result => return result,
            }
        }
        Err(error)
    }

    /// The token to try after `refused`, with a hint store: the newest one
    /// another call left, if it differs from `refused`; else, for the call
    /// that takes the refused token's lease, a new one (left in the store
    /// for the others); else, for the others, whatever the lease holder
    /// leaves, polled for until `waited` (milliseconds, shared by all the
    /// retries of one call) reaches [`HINT_WAIT_MS`]: `None` then. `None`
    /// too when the call would fetch a token itself after `refreshed`
    /// (shared likewise) reached [`HINTED_TOKEN_REFRESHES`].
    fn next_token<C: Connector>(
        &mut self,
        connector: &C,
        config: &C::Config,
        refused: &AccessToken,
        waited: &mut u32,
        refreshed: &mut u32,
    ) -> Result<Option<AccessToken>> {
        let lease = token_hints::lease_key(&connector.token_cache_key(config), &refused.value);
        loop {
            if let Some(token) = self.newer_hint(connector, config, refused) {
                return Ok(Some(token));
            }
            let Some(hints) = self.hints.as_mut() else {
                return self.fresh_token(connector, config).map(Some);
            };
            if hints.claim(&lease) {
                // Another call may have published between the read and the
                // claim: then its token does, and no new one is issued.
                let token = match self.newer_hint(connector, config, refused) {
                    Some(token) => Ok(Some(token)),
                    None if *refreshed >= HINTED_TOKEN_REFRESHES => Ok(None),
                    None => {
                        *refreshed += 1;
                        self.fresh_token(connector, config).map(Some)
                    }
                };
                // Released after the new token is published, so that a late
                // claimer finds it instead of fetching yet another.
                if let Some(hints) = self.hints.as_mut() {
                    hints.release(&lease);
                }
                return token;
            }
            if *waited >= HINT_WAIT_MS {
                return Ok(None);
            }
            hints.pause(HINT_POLL_MS);
            *waited += HINT_POLL_MS;
        }
    }

    /// Whether a hint store was given and is there
    /// ([`TokenHints::is_available`]).
    fn has_hints(&mut self) -> bool {
        self.hints
            .as_mut()
            .is_some_and(|hints| hints.is_available())
    }

    /// The hint store's key for these settings (a digest, never a credential).
    fn hint_key<C: Connector>(connector: &C, config: &C::Config) -> String {
        token_hints::newest_key(&connector.token_cache_key(config))
    }

    /// The token another call left in the hint store, if it differs from
    /// the one just refused.
    fn newer_hint<C: Connector>(
        &mut self,
        connector: &C,
        config: &C::Config,
        refused: &AccessToken,
    ) -> Option<AccessToken> {
        if !connector.token_reissue_invalidates() {
            return None;
        }
        let key = Self::hint_key(connector, config);
        let bytes = self.hints.as_mut()?.get(&key)?;
        let text = String::from_utf8(bytes).ok()?;
        (!text.is_empty() && text != refused.value.expose()).then(|| AccessToken {
            value: Secret::new(text),
            expires: None,
        })
    }

    /// The token step. A provider that invalidates older tokens on reissue
    /// has the new one left in the hint store, if there is one.
    fn fresh_token<C: Connector>(
        &mut self,
        connector: &C,
        config: &C::Config,
    ) -> Result<AccessToken> {
        let provider = connector.info().provider;
        let reply = self.send(provider, connector.token_request(config)?)?;
        let token = connector.parse_token(&reply)?;
        if connector.token_reissue_invalidates()
            && let Some(hints) = self.hints.as_mut()
            && hints.is_available()
        {
            hints.set(
                &Self::hint_key(connector, config),
                token.value.expose().as_bytes(),
            );
        }
        Ok(token)
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
        let request = call.request(config, token, self.now)?;
        self.api_requests += 1;
        let reply = self.send(provider, request)?;
        call.parse(config, &reply)
    }

    fn send(&mut self, provider: Provider, request: HttpRequest) -> Result<HttpResponse> {
        self.transport.send(request).map_err(|error| match error {
            TransportError::Timeout(message) => Error::Timeout { provider, message },
            TransportError::Failed(message) => Error::Transport { provider, message },
        })
    }
}

/// `connector`'s payment call for `request`, its fields checked
/// ([`Finconnect::check_request`]).
fn pay_call<C: Connector>(
    connector: &C,
    request: &PaymentRequest,
) -> Result<BoxedCall<C::Config, Payment>> {
    subscription_supported(Connector::info(connector).provider, request)?;
    Connector::pay(connector, request)
}

/// Only PesaPal schedules recurring charges; elsewhere a subscription is
/// refused before anything is sent.
fn subscription_supported(provider: Provider, request: &PaymentRequest) -> Result<()> {
    if request.subscription.is_some() && provider != Provider::Pesapal {
        return Err(Error::invalid(
            "subscription",
            format!("recurring payments are PesaPal only; {provider} takes no subscription"),
        ));
    }
    Ok(())
}

/// What to do with a notification before verifying it
/// ([`Finconnect::notification_gated`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Verify it (by its signature, or by asking the provider).
    Verify,
    /// Refuse it without calling anyone: FinConnect never issued the id.
    Refuse,
    /// Acknowledge it with these facts, already verified, without calling
    /// anyone.
    Answer(PaymentDetails),
}

/// What a notification's gate is asked about
/// ([`Finconnect::notification_gated`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// An id the notification names: the provider's id, a merchant
    /// reference, a recurring schedule's account number, a control number.
    Id(&'a str),
    /// The merchant reference a notification names beside the provider's
    /// id, asked about only when that id is unknown: known only for a
    /// payment whose provider id FinConnect never recorded (the call that
    /// created it succeeded, recording its answer did not).
    Untracked(&'a str),
}

/// A [`Connector`] with its types erased, so the registry can hold every
/// provider in one list. Implemented for every connector; nothing else
/// implements it.
pub trait Dispatch: Sync {
    /// The facts about the provider.
    fn info(&self) -> &'static ProviderInfo;
    /// [`Finconnect::pay`] for this provider.
    fn pay(&self, fc: &mut Finconnect<'_>, request: &PaymentRequest) -> Result<Payment>;
    /// [`Finconnect::check_request`] for this provider.
    fn check_request(&self, request: &PaymentRequest) -> Result<()>;
    /// [`Finconnect::register_ipn`] for this provider.
    fn register_ipn(
        &self,
        fc: &mut Finconnect<'_>,
        request: &IpnRequest,
    ) -> Result<IpnRegistration>;
    /// [`Finconnect::payment_status`] for this provider.
    fn payment_status(&self, fc: &mut Finconnect<'_>, id: &str) -> Result<PaymentDetails>;
    /// [`Finconnect::notification_gated`] for this provider.
    fn notification_gated(
        &self,
        fc: &mut Finconnect<'_>,
        incoming: &Incoming<'_>,
        gate: &mut dyn FnMut(Lookup<'_>) -> Gate,
    ) -> std::result::Result<Notified, NotificationError>;
    /// [`Finconnect::check_refund`] for this provider.
    fn check_refund(&self, fc: &Finconnect<'_>, id: &str, request: &RefundRequest) -> Result<()>;
    /// [`Finconnect::refund_after_status`] for this provider.
    fn refund_after_status(
        &self,
        fc: &mut Finconnect<'_>,
        id: &str,
        request: &RefundRequest,
        payment: &PaymentDetails,
    ) -> Result<Refund>;
    /// [`Finconnect::cancel`] for this provider.
    fn cancel(&self, fc: &mut Finconnect<'_>, id: &str) -> Result<Cancellation>;
    /// [`Finconnect::check_cancel`] for this provider.
    fn check_cancel(&self, fc: &Finconnect<'_>, id: &str) -> Result<()>;
    /// [`Finconnect::list_ipns`] for this provider.
    fn list_ipns(&self, fc: &mut Finconnect<'_>) -> Result<Vec<IpnListing>>;
    /// [`Finconnect::preview`] for this provider.
    fn preview(
        &self,
        fc: &mut Finconnect<'_>,
        request: &PaymentRequest,
        fetch_sender: bool,
    ) -> Result<PaymentPreview>;
    /// [`Finconnect::list_provider_payments`] for this provider.
    fn list_provider_payments(
        &self,
        fc: &mut Finconnect<'_>,
        query: &ProviderPaymentQuery,
    ) -> Result<ProviderPaymentPage>;

    /// [`Finconnect::notification`] for this provider.
    fn notification(
        &self,
        fc: &mut Finconnect<'_>,
        incoming: &Incoming<'_>,
    ) -> std::result::Result<Notified, NotificationError> {
        self.notification_gated(fc, incoming, &mut |_| Gate::Verify)
    }
}

impl<C: Connector> Dispatch for C {
    fn info(&self) -> &'static ProviderInfo {
        Connector::info(self)
    }

    fn pay(&self, fc: &mut Finconnect<'_>, request: &PaymentRequest) -> Result<Payment> {
        let call = pay_call(self, request)?;
        fc.run(self, call)
    }

    fn check_request(&self, request: &PaymentRequest) -> Result<()> {
        pay_call(self, request).map(|_| ())
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

    fn check_refund(&self, fc: &Finconnect<'_>, id: &str, request: &RefundRequest) -> Result<()> {
        Connector::refund(self, id, request)?;
        self.load(fc.vars).map(|_| ())
    }

    fn refund_after_status(
        &self,
        fc: &mut Finconnect<'_>,
        id: &str,
        request: &RefundRequest,
        payment: &PaymentDetails,
    ) -> Result<Refund> {
        let call = Connector::refund(self, id, request)?.against(payment)?;
        fc.run(self, call)
    }

    fn cancel(&self, fc: &mut Finconnect<'_>, id: &str) -> Result<Cancellation> {
        let call = Connector::cancel(self, id)?;
        fc.run(self, call)
    }

    fn check_cancel(&self, fc: &Finconnect<'_>, id: &str) -> Result<()> {
        let call = Connector::cancel(self, id)?;
        let config = self.load(fc.vars)?;
        call.prepare(&config)
    }

    fn list_ipns(&self, fc: &mut Finconnect<'_>) -> Result<Vec<IpnListing>> {
        let call = Connector::list_ipns(self)?;
        fc.run(self, call)
    }

    fn preview(
        &self,
        fc: &mut Finconnect<'_>,
        request: &PaymentRequest,
        fetch_sender: bool,
    ) -> Result<PaymentPreview> {
        let call = Connector::preview(self, request, fetch_sender)?;
        fc.run(self, call)
    }

    fn list_provider_payments(
        &self,
        fc: &mut Finconnect<'_>,
        query: &ProviderPaymentQuery,
    ) -> Result<ProviderPaymentPage> {
        let call = Connector::list_payments(self, query)?;
        fc.run(self, call)
    }

    fn notification_gated(
        &self,
        fc: &mut Finconnect<'_>,
        incoming: &Incoming<'_>,
        gate: &mut dyn FnMut(Lookup<'_>) -> Gate,
    ) -> std::result::Result<Notified, NotificationError> {
        let (notification, verification) = self.read_notification(fc.vars, incoming)?;
        let provider = Connector::info(self).provider;
        let refused = |id: &str| {
            Err(Error::invalid(
                "notification",
                format!("names {provider} payment `{id}`, which FinConnect did not start"),
            ))
        };
        let mut recurring = None;
        let (outcome, check) = match verification {
            Verification::Verified(details) => {
                // Known by either of its ids is known.
                let ids = [details.tracking_id.as_deref(), details.reference.as_deref()];
                let known = ids
                    .into_iter()
                    .flatten()
                    .any(|id| gate(Lookup::Id(id)) != Gate::Refuse);
                let outcome = if known {
                    // A signed notification is fresher than the ledger.
                    Ok(details)
                } else {
                    refused(ids.into_iter().flatten().next().unwrap_or_default())
                };
                (outcome, Check::Signature)
            }
            Verification::Confirm(id) => {
                let outcome = match gate(Lookup::Id(&id)) {
                    Gate::Verify => Dispatch::payment_status(self, fc, &id),
                    Gate::Refuse => refused(&id),
                    Gate::Answer(details) => Ok(details),
                };
                (outcome, Check::StatusQuery)
            }
            Verification::ConfirmWithReference { id, reference } => {
                let outcome = match gate(Lookup::Id(&id)) {
                    Gate::Verify => Dispatch::payment_status(self, fc, &id),
                    Gate::Answer(details) => Ok(details),
                    // An id never recorded, for a payment FinConnect
                    // started but could not record the id of: asked about,
                    // and the provider's answer (which names the reference
                    // again) is what links the two.
                    Gate::Refuse if gate(Lookup::Untracked(&reference)) != Gate::Refuse => {
                        Dispatch::payment_status(self, fc, &id)
                    }
                    Gate::Refuse => refused(&id),
                };
                (outcome, Check::StatusQuery)
            }
            Verification::ConfirmRecurring { id, account } => {
                let outcome = match gate(Lookup::Id(&id)) {
                    Gate::Verify => Dispatch::payment_status(self, fc, &id),
                    Gate::Answer(details) => Ok(details),
                    // A charge not seen yet: known through its schedule's
                    // account number, and always asked about (whatever
                    // the ledger knows of the first payment).
                    Gate::Refuse if gate(Lookup::Id(&account)) != Gate::Refuse => {
                        recurring = Some(account);
                        Dispatch::payment_status(self, fc, &id)
                    }
                    Gate::Refuse => refused(&id),
                };
                (outcome, Check::StatusQuery)
            }
        };
        let response = self.acknowledge(&notification, outcome.as_ref());
        Ok(Notified {
            outcome,
            response,
            check,
            recurring,
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_recurring;
#[cfg(test)]
mod tests_refunds;
