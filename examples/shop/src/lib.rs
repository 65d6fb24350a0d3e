//! A shop component that takes payments through FinConnect.
//!
//! It imports `finconnect:payments/api@0.2.0` and exports
//! `demo:shop/checkout@0.1.0` plus `wasi:http/incoming-handler` (for Spin).
//! Compose it with FinConnect before running it:
//!
//! ```text
//! wac plug shop.wasm --plug finconnect.wasm -o shop-composed.wasm
//! ```

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "demo:shop/shop",
        // Bindings for the imported FinConnect interfaces (and nothing is
        // mapped to another crate's types).
        generate_all,
    });
}

mod http;

use bindings::exports::demo::shop::checkout::Guest;
use bindings::finconnect::payments::api;
use bindings::finconnect::payments::types::{
    AuthError, CallError, ConfigError, Customer, Error, FieldError, PaymentRequest, Provider,
    ProviderError, UnreadableReply, UnsupportedError,
};

/// Where PesaPal sends the customer's browser after paying.
const RETURN_URL: &str = "https://shop.example/checkout/done";

struct Shop;

/// Why a checkout did not produce a payment page.
enum Failure {
    /// The order was rejected before any provider call (the caller's fault).
    Rejected(String),
    /// FinConnect or the provider failed.
    Failed(String),
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::Rejected(text) | Failure::Failed(text) => text,
        }
    }
}

/// Pays for `order_id` through PesaPal and returns the hosted page's URL.
fn start_checkout(
    order_id: &str,
    amount: &str,
    email: &str,
    ipn_id: &str,
) -> Result<String, Failure> {
    let request = PaymentRequest {
        reference: order_id.to_owned(),
        amount: amount.to_owned(),
        currency: "KES".to_owned(),
        description: Some(format!("Shop order {order_id}")),
        customer: Customer {
            email: Some(email.to_owned()),
            phone: None,
            first_name: None,
            last_name: None,
            country_code: Some("KE".to_owned()),
        },
        callback_url: Some(format!("{RETURN_URL}?order={order_id}")),
        cancellation_url: None,
        notification_id: Some(ipn_id.to_owned()),
        method: None,
        branch: None,
        redirect_mode: None,
        subscription: None,
    };
    match api::pay(Provider::Pesapal, &request) {
        Ok(payment) => payment
            .redirect_url
            .ok_or_else(|| Failure::Failed("PesaPal gave no payment page".to_owned())),
        Err(error @ Error::InvalidRequest(_)) => Err(Failure::Rejected(describe(&error))),
        Err(error) => Err(Failure::Failed(describe(&error))),
    }
}

/// One line of text for a FinConnect error (it never carries a credential).
fn describe(error: &Error) -> String {
    match error {
        Error::InvalidRequest(FieldError { field, reason }) => {
            format!("invalid request: `{field}` {reason}")
        }
        Error::Configuration(ConfigError { variable, reason }) => {
            format!("FinConnect is not configured: variable `{variable}` {reason}")
        }
        Error::Authentication(AuthError { message, .. }) => {
            format!("PesaPal refused FinConnect's credentials: {message}")
        }
        Error::Provider(ProviderError {
            code,
            message,
            http_status,
            ..
        }) => match code {
            Some(code) => format!("PesaPal said no ({http_status}, {code}): {message}"),
            None => format!("PesaPal said no ({http_status}): {message}"),
        },
        Error::UnreadableReply(UnreadableReply {
            http_status,
            detail,
            ..
        }) => format!("PesaPal's reply could not be read ({http_status}): {detail}"),
        Error::Transport(CallError { message, .. }) => format!("PesaPal unreachable: {message}"),
        Error::Timeout(CallError { message, .. }) => format!("PesaPal timed out: {message}"),
        Error::Unsupported(UnsupportedError {
            operation, reason, ..
        }) => format!("unsupported: {operation}: {reason}"),
    }
}

impl Guest for Shop {
    fn checkout(
        order_id: String,
        amount: String,
        email: String,
        ipn_id: String,
    ) -> Result<String, String> {
        start_checkout(&order_id, &amount, &email, &ipn_id).map_err(Failure::message)
    }
}

bindings::export!(Shop with_types_in bindings);
wasip2::http::proxy::export!(Shop);
