//! What a provider is to FinConnect: one trait, [`Connector`], that each
//! provider module implements, and [`ProviderInfo`], the facts about it that
//! the rest of the project reads (variables, base URL, notification routes,
//! what it does not offer).
//!
//! A connector declares, as data and pure functions:
//!
//! - its variables and how its base URL splits into an origin (the only
//!   part Spin's `allowed_outbound_hosts` may hold) and a path;
//! - its token step: the token request, reading the reply, how long a
//!   token lives, and whether an "invalid token" answer earns one retry;
//! - each operation it offers as a [`Call`]: validation happens when the
//!   call is made (nothing is sent for an invalid request), then the flow
//!   builds the request and parses the reply;
//! - how it reads and acknowledges its notifications.
//!
//! Operations a provider does not offer answer [`Error::Unsupported`] with
//! the reason from its [`ProviderInfo::unsupported`] table, through
//! [`unsupported`] — the one place that builds that answer.
//!
//! The flow ([`crate::flow`]) strings the steps together for any connector;
//! [`crate::registry`] is the only list of providers.

use crate::config::Variables;
use crate::domain::{
    Cancellation, IpnListing, IpnRegistration, IpnRequest, Payment, PaymentDetails, PaymentPreview,
    PaymentRequest, Provider, ProviderPaymentPage, ProviderPaymentQuery, Refund, RefundRequest,
};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::transport::{HttpRequest, HttpResponse, header_text};

/// FinConnect's operations, as named in WIT and in `unsupported` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Start collecting a payment.
    Pay,
    /// Register a notification URL.
    RegisterIpn,
    /// Ask where a payment stands.
    PaymentStatus,
    /// Ask for money of a completed payment back.
    Refund,
    /// Cancel an order not yet paid.
    Cancel,
    /// List the registered notification URLs.
    ListIpns,
    /// Preview a payment's methods and fees without starting it.
    Preview,
    /// List the provider's own record of payments.
    ListProviderPayments,
}

impl Operation {
    /// The WIT name (`register-ipn`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Pay => "pay",
            Operation::RegisterIpn => "register-ipn",
            Operation::PaymentStatus => "payment-status",
            Operation::Refund => "refund",
            Operation::Cancel => "cancel",
            Operation::ListIpns => "list-ipns",
            Operation::Preview => "preview",
            Operation::ListProviderPayments => "list-provider-payments",
        }
    }
}

/// One runtime variable a provider reads (a Spin component variable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// The name (`pesapal_consumer_key`).
    pub name: &'static str,
    /// Whether its value is a secret (never printed, `secret = true` in Spin).
    pub secret: bool,
    /// Whether a call fails with a configuration error without it.
    pub required: bool,
}

/// How a provider's base URL is configured. The component reads `variable`;
/// `spin.toml` builds it as `{{ origin }}{{ path }}` from two application
/// variables and lists only the origin in `allowed_outbound_hosts`, because
/// Spin refuses every request when an allowed host has a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// What the component reads (`pesapal_base_url`).
    pub variable: &'static str,
    /// The application variable for scheme, host and port (`pesapal_origin`).
    pub origin_variable: &'static str,
    /// The application variable for the path (`pesapal_path`).
    pub path_variable: &'static str,
    /// The default origin (`https://cybqa.pesapal.com`).
    pub default_origin: &'static str,
    /// The default path (`/pesapalv3`; may be empty).
    pub default_path: &'static str,
}

/// Which id `GET /payments/{provider}/{id}` takes for a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKey {
    /// The provider's tracking id ([`Payment::tracking_id`]).
    TrackingId,
    /// The merchant reference ([`Payment::reference`]).
    Reference,
}

impl StatusKey {
    /// The id of `payment` that a status query takes.
    pub fn of(self, payment: &Payment) -> &str {
        match self {
            StatusKey::TrackingId => &payment.tracking_id,
            StatusKey::Reference => &payment.reference,
        }
    }
}

/// The facts about a provider that the router, the configuration checks,
/// the OpenAPI test and the sandbox read.
#[derive(Clone, Copy, Debug)]
pub struct ProviderInfo {
    /// The registry's id for it.
    pub provider: Provider,
    /// The lower-case name used in URLs and JSON (`pesapal`).
    pub name: &'static str,
    /// The provider's own spelling, for messages (`PesaPal`).
    pub display_name: &'static str,
    /// Its base URL.
    pub base_url: BaseUrl,
    /// Every other variable it reads (credentials and options).
    pub variables: &'static [Variable],
    /// The id its status query takes.
    pub status_key: StatusKey,
    /// The HTTP methods its notifications arrive with at
    /// `/notifications/{name}` (empty: it sends none).
    pub notification_methods: &'static [&'static str],
    /// Operations it does not offer, each with what to do instead.
    pub unsupported: &'static [(Operation, &'static str)],
}

impl ProviderInfo {
    /// Every variable name it reads, the base URL's first.
    pub fn variable_names(&self) -> impl Iterator<Item = &'static str> + use<> {
        let base = self.base_url.variable;
        std::iter::once(base).chain(self.variables.iter().map(|variable| variable.name))
    }
}

/// The answer for an operation a provider does not offer: its reason from
/// [`ProviderInfo::unsupported`], or a plain statement when it has none.
pub fn unsupported(info: &ProviderInfo, operation: Operation) -> Error {
    let detail = info
        .unsupported
        .iter()
        .find(|(listed, _)| *listed == operation)
        .map_or("the provider offers no such operation", |(_, reason)| {
            reason
        });
    Error::Unsupported {
        provider: info.provider,
        operation: operation.as_str().to_owned(),
        detail: detail.to_owned(),
    }
}

/// One API call, already validated: the request it makes with a token, and
/// how it reads the reply. `C` is the provider's configuration.
pub trait Call<C> {
    /// What a successful reply means.
    type Output;

    /// Checks what the call needs from the configuration, before the token
    /// step, so a missing setting costs no provider call.
    fn prepare(&self, config: &C) -> Result<()> {
        let _ = config;
        Ok(())
    }

    /// The request, with the token attached. `now` is Unix seconds.
    fn request(&self, config: &C, token: &AccessToken, now: u64) -> Result<HttpRequest>;

    /// Reads the reply.
    fn parse(&self, config: &C, reply: &HttpResponse) -> Result<Self::Output>;
}

/// A validated call, ready for the flow.
pub type BoxedCall<C, T> = Box<dyn Call<C, Output = T>>;

/// The request builder a [`Exchange`] calls: configuration, token, input.
pub type BuildRequest<C, I> = fn(&C, &AccessToken, &I) -> Result<HttpRequest>;
/// The reply parser a [`Exchange`] calls: the reply and the same input.
pub type ParseReply<I, O> = fn(&HttpResponse, &I) -> Result<O>;

/// The common shape of a [`Call`]: one validated input, a function that
/// builds the request from it and one that reads the reply (which may look
/// at the input again). Calls that need the clock, the configuration to
/// read the reply, or a `prepare` step implement [`Call`] themselves.
pub struct Exchange<C, I, O> {
    input: I,
    request: BuildRequest<C, I>,
    parse: ParseReply<I, O>,
}

impl<C, I, O> Exchange<C, I, O>
where
    C: 'static,
    I: 'static,
    O: 'static,
{
    /// `input`, sent by `request` and read back by `parse`, boxed for the
    /// flow.
    pub fn boxed(
        input: I,
        request: BuildRequest<C, I>,
        parse: ParseReply<I, O>,
    ) -> BoxedCall<C, O> {
        Box::new(Exchange {
            input,
            request,
            parse,
        })
    }
}

impl<C, I, O> Call<C> for Exchange<C, I, O> {
    type Output = O;

    fn request(&self, config: &C, token: &AccessToken, _: u64) -> Result<HttpRequest> {
        (self.request)(config, token, &self.input)
    }

    fn parse(&self, _: &C, reply: &HttpResponse) -> Result<O> {
        (self.parse)(reply, &self.input)
    }
}

/// A validated refund waiting for the payment's status: the refund call
/// needs what only the status tells (that the payment is completed, how
/// much was paid, the processor's confirmation code).
pub trait RefundPlan<C> {
    /// The refund call for the payment as the provider reported it, or why
    /// it may not be refunded (nothing is sent then).
    fn against(&self, payment: &PaymentDetails) -> Result<BoxedCall<C, Refund>>;
}

/// A notification as it reached FinConnect's public route.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The headers, in order.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
}

impl Incoming<'_> {
    /// Whether the request declares a content type other than JSON. A value
    /// that is not readable text counts as not declared; two declarations
    /// count as not JSON.
    pub fn declares_non_json(&self) -> bool {
        let declared: Vec<&str> = self
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_str())
            .collect();
        match declared.as_slice() {
            [] => false,
            [one] => header_text(one).is_some_and(|text| {
                let essence = text.split(';').next().unwrap_or_default().trim();
                !essence.eq_ignore_ascii_case("application/json")
            }),
            _ => true,
        }
    }
}

/// How a notification is believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// It proved itself (a valid signature): these are its facts.
    Verified(PaymentDetails),
    /// It only names a payment: FinConnect asks the provider for the status
    /// of this id before believing anything.
    Confirm(String),
    /// Like [`Verification::Confirm`], for a notification that names the
    /// merchant reference beside the provider's id (PesaPal's
    /// `OrderMerchantReference`). The reference admits it only when the id
    /// is unknown and the payment holds no provider id yet.
    ConfirmWithReference {
        /// The provider's id (asked about).
        id: String,
        /// The merchant reference the notification names.
        reference: String,
    },
    /// A charge of a recurring schedule (PesaPal `RECURRING`): a new id of
    /// the provider's, confirmed like [`Verification::Confirm`], that names
    /// the schedule's account number, through which it is linked to the
    /// payment FinConnect started.
    ConfirmRecurring {
        /// The charge's own id (asked about).
        id: String,
        /// The account number the first payment's subscription carried.
        account: String,
    },
}

/// Why a notification was refused before any provider call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// It cannot even be read: not the syntax the provider sends, or
    /// without the ids needed to acknowledge it (HTTP 400).
    #[error("malformed notification: `{field}` {reason}")]
    Malformed {
        /// The part that is wrong.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Its signature is missing or wrong (HTTP 401).
    #[error("the notification's `{field}` {reason}")]
    Unverified {
        /// The signature's field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// It declares a content type other than JSON (HTTP 415).
    #[error("the notification is not JSON")]
    NotJson,
    /// It reads, but not as a notification this provider sends (an
    /// [`Error::InvalidRequest`], HTTP 422), or reading it needed something
    /// that failed (a variable, for instance).
    #[error(transparent)]
    Failed(Error),
}

impl From<Error> for NotificationError {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidRequest { field, reason } => {
                NotificationError::Malformed { field, reason }
            }
            other => NotificationError::Failed(other),
        }
    }
}

/// A provider, as FinConnect drives it. Everything here is pure: requests
/// are built as data and replies parsed from data; [`crate::flow`] does the
/// sending, through the caller's transport.
pub trait Connector: Sync + 'static {
    /// Its settings, read from variables at call time (credentials in
    /// distinct secret types).
    type Config;
    /// A notification as it reads it.
    type Notification;

    /// The facts about it.
    fn info(&self) -> &'static ProviderInfo;

    /// Reads its variables; a missing credential names the variable.
    fn load(&self, vars: &dyn Variables) -> Result<Self::Config>;

    /// The token request.
    fn token_request(&self, config: &Self::Config) -> Result<HttpRequest>;

    /// Reads the token reply.
    fn parse_token(&self, reply: &HttpResponse) -> Result<AccessToken>;

    /// The token cache's key for these settings: a digest, never a credential.
    fn token_cache_key(&self, config: &Self::Config) -> String;

    /// When a token fetched at `now` stops being used (Unix seconds).
    fn token_stale_at(&self, token: &AccessToken, now: u64) -> u64;

    /// Whether `error`, answered to an API call made with a token FinConnect
    /// had just fetched, means the token was refused at the gateway and the
    /// call may be made once more with a new token (nothing was started).
    fn retry_with_new_token(&self, error: &Error) -> bool {
        let _ = error;
        false
    }

    /// Whether issuing a token may invalidate the ones issued before it
    /// (Daraja may). Then every fresh token is also left in the token hint
    /// store, when the caller gave one ([`crate::flow::Finconnect::with_token_hints`]),
    /// so that a call whose token was refused because another call fetched
    /// a newer one can retry with that newer token instead of issuing yet
    /// another, which would refuse the others in turn.
    fn token_reissue_invalidates(&self) -> bool {
        false
    }

    /// Validates a payment request and returns the call that starts it.
    fn pay(&self, request: &PaymentRequest) -> Result<BoxedCall<Self::Config, Payment>>;

    /// Validates an IPN registration and returns its call.
    fn register_ipn(
        &self,
        request: &IpnRequest,
    ) -> Result<BoxedCall<Self::Config, IpnRegistration>> {
        let _ = request;
        Err(unsupported(self.info(), Operation::RegisterIpn))
    }

    /// Validates a status id and returns the status call.
    fn payment_status(&self, id: &str) -> Result<BoxedCall<Self::Config, PaymentDetails>>;

    /// Validates a refund of payment `id` (the id its status query takes)
    /// and returns what sends it once the payment's status is known: the
    /// flow asks for the status first, and [`RefundPlan::against`] refuses
    /// a payment that is not completed or an amount above what was paid,
    /// before the refund request is sent.
    fn refund(
        &self,
        id: &str,
        request: &RefundRequest,
    ) -> Result<Box<dyn RefundPlan<Self::Config>>> {
        let _ = (id, request);
        Err(unsupported(self.info(), Operation::Refund))
    }

    /// Validates a cancellation of order `id` and returns its call.
    fn cancel(&self, id: &str) -> Result<BoxedCall<Self::Config, Cancellation>> {
        let _ = id;
        Err(unsupported(self.info(), Operation::Cancel))
    }

    /// Returns the call listing the registered notification URLs.
    fn list_ipns(&self) -> Result<BoxedCall<Self::Config, Vec<IpnListing>>> {
        Err(unsupported(self.info(), Operation::ListIpns))
    }

    /// Validates a preview of `request` (with the account behind the phone
    /// number when `fetch_sender`) and returns its call.
    fn preview(
        &self,
        request: &PaymentRequest,
        fetch_sender: bool,
    ) -> Result<BoxedCall<Self::Config, PaymentPreview>> {
        let _ = (request, fetch_sender);
        Err(unsupported(self.info(), Operation::Preview))
    }

    /// Validates a query of the provider's own list of payments and
    /// returns its call.
    fn list_payments(
        &self,
        query: &ProviderPaymentQuery,
    ) -> Result<BoxedCall<Self::Config, ProviderPaymentPage>> {
        let _ = query;
        Err(unsupported(self.info(), Operation::ListProviderPayments))
    }

    /// Reads a notification and says how to believe it. Variables are
    /// passed (not [`Self::Config`]) because checking a notification must
    /// not need the credentials of the API calls.
    fn read_notification(
        &self,
        vars: &dyn Variables,
        incoming: &Incoming<'_>,
    ) -> std::result::Result<(Self::Notification, Verification), NotificationError>;

    /// The exact answer the provider expects, given what FinConnect learnt:
    /// the verified facts, or why they could not be had.
    fn acknowledge(
        &self,
        notification: &Self::Notification,
        outcome: std::result::Result<&PaymentDetails, &Error>,
    ) -> HttpResponse;
}
