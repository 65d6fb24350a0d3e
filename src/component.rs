//! The component: bindings, WIT conversions, variables, outbound HTTP and
//! the incoming HTTP handler.

#[cfg(all(feature = "spin-variables", feature = "keyvalue-store-only"))]
compile_error!("`spin-variables` and `keyvalue-store-only` are separate builds; pick one");

mod billpay;
mod convert;
mod incoming;
mod ledger_store;
mod notifications;
mod outbound;
mod payouts;
mod token_cache;
mod variables;

/// Bindings for the world of the build: `finconnect:payments/finconnect`
/// (`wit/world.wit`) by default, or one of the build worlds in
/// `wit/build/build.wit` for the opt-in features.
#[allow(unsafe_code, unreachable_pub, missing_docs, clippy::all)]
mod bindings {
    // The default build: the library world and the ledger's key-value
    // store with atomics (the token cache shares the store).
    #[cfg(all(not(feature = "spin-variables"), not(feature = "keyvalue-store-only")))]
    wit_bindgen::generate!({
        path: "wit/build",
        world: "finconnect:build/app",
        generate_all,
    });

    // Hosts without `wasi:keyvalue/atomics` (Akamai Functions).
    #[cfg(all(not(feature = "spin-variables"), feature = "keyvalue-store-only"))]
    wit_bindgen::generate!({
        path: "wit/build",
        world: "finconnect:build/app-store-only",
        generate_all,
    });

    // With Spin's variables the component must not import wasi:config, so
    // it is generated from a world that only exports the interfaces.
    #[cfg(feature = "spin-variables")]
    wit_bindgen::generate!({
        path: "wit/build",
        world: "finconnect:build/spin-variables",
        generate_all,
    });
}

use bindings::exports::finconnect::payments::api::{self as wit_api, GuestClient};
use bindings::exports::finconnect::payments::types as wit;
use finconnect_core::config::{Timeouts, Variables};
use finconnect_core::flow::Finconnect;
use std::cell::OnceCell;

/// The component's one type: it implements every export.
struct Component;

/// The `client` resource: a provider chosen once, like the original SDK's
/// `new FintechSDK({provider})`.
struct Client {
    provider: finconnect_core::Provider,
}

/// A `wasi:http` header list as name/value text pairs, for the core (bytes
/// that are not UTF-8 become replacement characters; the core then treats
/// the value as unreadable).
fn header_pairs(fields: &wasip2::http::types::Fields) -> Vec<(String, String)> {
    fields
        .entries()
        .into_iter()
        .map(|(name, value)| {
            // Valid UTF-8 (nearly every value) becomes text without a copy.
            let value = String::from_utf8(value)
                .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
            (name, value)
        })
        .collect()
}

/// Unix seconds from the host's wall clock.
fn now() -> u64 {
    wasip2::clocks::wall_clock::now().seconds
}

/// Unix milliseconds from the host's wall clock.
fn now_ms() -> u64 {
    let now = wasip2::clocks::wall_clock::now();
    now.seconds
        .saturating_mul(1000)
        .saturating_add(u64::from(now.nanoseconds / 1_000_000))
}

/// Runs one WIT operation with [`with_finconnect`].
fn run<T>(
    operation: impl FnOnce(&mut Finconnect<'_>) -> finconnect_core::Result<T>,
) -> Result<T, wit::Error> {
    with_finconnect(operation)
        .and_then(|result| result)
        .map_err(convert::error)
}

/// Hands `operation` a [`Finconnect`] over this call's variables (each
/// read when first needed), a fresh transport and, when it is switched on,
/// the token cache, and token hints in the key-value store when the host
/// grants one (opened by the first call that uses them). Fails only in the
/// token-cache build, when `finconnect_token_cache` is malformed (the rest
/// is checked by the operations that need it).
fn with_finconnect<T>(
    operation: impl FnOnce(&mut Finconnect<'_>) -> T,
) -> finconnect_core::Result<T> {
    with_finconnect_over(&variables::HostVariables::new(), None, now(), operation)
}

/// [`with_finconnect`] over variables this call has begun to read (the
/// HTTP face's, which decided on the ledger with them), at `now` (Unix
/// seconds) as the caller read the clock, and over the key-value store the
/// request already has open (its ledger's), if any, so a request opens it
/// once.
fn with_finconnect_over<T>(
    vars: &variables::HostVariables,
    store: Option<&ledger_store::KeyValue>,
    now: u64,
    operation: impl FnOnce(&mut Finconnect<'_>) -> T,
) -> finconnect_core::Result<T> {
    // The timeouts are read by the first provider call, after
    // `call_settings` has checked them: a replay or a list of events reads
    // neither.
    let checked = OnceCell::new();
    let mut transport = outbound::WasiTransport::new(vars, &checked);
    // The cache is opened, or not, before anything: the core needs to know.
    #[cfg(feature = "token-cache")]
    let mut cache = token_cache::open(vars)?;
    let call_settings = || call_settings(vars, &checked);
    // The key-value store, when the host grants one, settles token races
    // for providers that invalidate old tokens on reissue (Daraja); it is
    // opened only when such a provider first asks for it.
    let mut hints = ledger_store::Hints::new(store);
    // What is recorded after a provider call carries the time it was
    // recorded, not the time the request began.
    let finconnect = Finconnect::new(vars, &mut transport)
        .at(now)
        .with_clock(&now_ms)
        .with_call_settings(&call_settings);
    let finconnect = finconnect.with_token_hints(&mut hints);
    #[cfg(feature = "token-cache")]
    let finconnect = match cache.as_mut() {
        Some(store) => finconnect.with_token_cache(store, now),
        None => finconnect,
    };
    let mut finconnect = finconnect;
    Ok(operation(&mut finconnect))
}

/// The variables only a provider call needs, each named when malformed
/// before the call's first request: the two timeouts (kept in `checked` for
/// the transport, which then does not parse them again), and (in a build
/// without the cache) `finconnect_token_cache`, which is refused when `on`.
fn call_settings(
    vars: &dyn Variables,
    checked: &OnceCell<Timeouts>,
) -> finconnect_core::Result<()> {
    // A second provider call in one operation finds the same values.
    let _ = checked.set(Timeouts::load(vars)?);
    #[cfg(not(feature = "token-cache"))]
    token_cache::open(vars)?;
    Ok(())
}

impl wit_api::Guest for Component {
    type Client = Client;

    fn pay(
        provider: wit::Provider,
        request: wit::PaymentRequest,
    ) -> Result<wit::Payment, wit::Error> {
        let request = convert::payment_request(request);
        run(|fc| fc.pay(convert::provider(provider), &request)).map(convert::payment)
    }

    fn register_ipn(
        provider: wit::Provider,
        request: wit::IpnRequest,
    ) -> Result<wit::IpnRegistration, wit::Error> {
        let request = convert::ipn_request(request);
        run(|fc| fc.register_ipn(convert::provider(provider), &request))
            .map(convert::ipn_registration)
    }

    fn payment_status(
        provider: wit::Provider,
        id: String,
    ) -> Result<wit::PaymentDetails, wit::Error> {
        run(|fc| fc.payment_status(convert::provider(provider), &id)).map(convert::payment_details)
    }

    fn refund(
        provider: wit::Provider,
        id: String,
        request: wit::RefundRequest,
    ) -> Result<wit::PendingRefund, wit::Error> {
        let request = convert::refund_request(request);
        run(|fc| fc.refund(convert::provider(provider), &id, &request)).map(convert::refund)
    }

    fn cancel(provider: wit::Provider, id: String) -> Result<wit::Cancellation, wit::Error> {
        run(|fc| fc.cancel(convert::provider(provider), &id)).map(convert::cancellation)
    }

    fn list_ipns(provider: wit::Provider) -> Result<Vec<wit::IpnListing>, wit::Error> {
        run(|fc| fc.list_ipns(convert::provider(provider))).map(convert::ipn_listings)
    }

    fn preview(
        provider: wit::Provider,
        request: wit::PaymentRequest,
        fetch_sender: bool,
    ) -> Result<wit::PaymentPreview, wit::Error> {
        let request = convert::payment_request(request);
        run(|fc| fc.preview(convert::provider(provider), &request, fetch_sender))
            .map(convert::preview)
    }

    fn list_provider_payments(
        provider: wit::Provider,
        query: wit::ProviderPaymentQuery,
    ) -> Result<wit::ProviderPaymentPage, wit::Error> {
        let query = convert::provider_payment_query(query);
        run(|fc| fc.list_provider_payments(convert::provider(provider), &query))
            .map(convert::provider_payment_page)
    }

    fn create_control_number(
        provider: wit::Provider,
        request: wit::ControlNumberRequest,
    ) -> Result<wit::ControlNumber, wit::Error> {
        billpay::create(convert::provider(provider), request)
    }

    fn get_control_number(
        provider: wit::Provider,
        number: String,
    ) -> Result<wit::ControlNumber, wit::Error> {
        billpay::get(convert::provider(provider), &number)
    }

    fn update_control_number(
        provider: wit::Provider,
        number: String,
        update: wit::ControlNumberUpdate,
    ) -> Result<wit::ControlNumber, wit::Error> {
        billpay::update(convert::provider(provider), &number, update)
    }
}

impl GuestClient for Client {
    fn new(provider: wit::Provider) -> Self {
        Client {
            provider: convert::provider(provider),
        }
    }

    fn pay(&self, request: wit::PaymentRequest) -> Result<wit::Payment, wit::Error> {
        let request = convert::payment_request(request);
        run(|fc| fc.pay(self.provider, &request)).map(convert::payment)
    }

    fn register_ipn(&self, request: wit::IpnRequest) -> Result<wit::IpnRegistration, wit::Error> {
        let request = convert::ipn_request(request);
        run(|fc| fc.register_ipn(self.provider, &request)).map(convert::ipn_registration)
    }

    fn payment_status(&self, id: String) -> Result<wit::PaymentDetails, wit::Error> {
        run(|fc| fc.payment_status(self.provider, &id)).map(convert::payment_details)
    }

    fn refund(
        &self,
        id: String,
        request: wit::RefundRequest,
    ) -> Result<wit::PendingRefund, wit::Error> {
        let request = convert::refund_request(request);
        run(|fc| fc.refund(self.provider, &id, &request)).map(convert::refund)
    }

    fn cancel(&self, id: String) -> Result<wit::Cancellation, wit::Error> {
        run(|fc| fc.cancel(self.provider, &id)).map(convert::cancellation)
    }

    fn list_ipns(&self) -> Result<Vec<wit::IpnListing>, wit::Error> {
        run(|fc| fc.list_ipns(self.provider)).map(convert::ipn_listings)
    }

    fn preview(
        &self,
        request: wit::PaymentRequest,
        fetch_sender: bool,
    ) -> Result<wit::PaymentPreview, wit::Error> {
        let request = convert::payment_request(request);
        run(|fc| fc.preview(self.provider, &request, fetch_sender)).map(convert::preview)
    }

    fn list_provider_payments(
        &self,
        query: wit::ProviderPaymentQuery,
    ) -> Result<wit::ProviderPaymentPage, wit::Error> {
        let query = convert::provider_payment_query(query);
        run(|fc| fc.list_provider_payments(self.provider, &query))
            .map(convert::provider_payment_page)
    }

    fn create_control_number(
        &self,
        request: wit::ControlNumberRequest,
    ) -> Result<wit::ControlNumber, wit::Error> {
        billpay::create(self.provider, request)
    }

    fn get_control_number(&self, number: String) -> Result<wit::ControlNumber, wit::Error> {
        billpay::get(self.provider, &number)
    }

    fn update_control_number(
        &self,
        number: String,
        update: wit::ControlNumberUpdate,
    ) -> Result<wit::ControlNumber, wit::Error> {
        billpay::update(self.provider, &number, update)
    }

    fn verify_notification(
        &self,
        notification: wit::IncomingNotification,
    ) -> wit::NotificationResult {
        notifications::verify(self.provider, notification)
    }
}

// The generated export glue is `unsafe` by nature.
#[allow(unsafe_code)]
mod exports {
    use super::{Component, bindings};
    bindings::export!(Component with_types_in bindings);
    wasip2::http::proxy::export!(Component);
}
