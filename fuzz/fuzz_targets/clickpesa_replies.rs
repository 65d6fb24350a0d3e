//! Every ClickPesa reply parser on the same reply:
//! `<status>[ <content-type>]\n<body>` (see `finconnect_fuzz::reply`).
//!
//! Besides "never panics": nothing is accepted from an HTTP error, accepted
//! replies carry a token or an id, and reported amounts are two-decimal text.

#![no_main]

use finconnect_core::domain::{Customer, PaymentRequest};
use finconnect_core::providers::clickpesa::{self, UssdPush};
use finconnect_fuzz::{assert_reported_amount, render, reply};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn push() -> &'static UssdPush {
    static PUSH: OnceLock<UssdPush> = OnceLock::new();
    PUSH.get_or_init(|| {
        let request = PaymentRequest {
            reference: "ORDER123".to_owned(),
            amount: "1000".to_owned(),
            currency: "TZS".to_owned(),
            customer: Customer {
                phone: Some("255712345678".to_owned()),
                ..Customer::default()
            },
            ..PaymentRequest::default()
        };
        clickpesa::validate_payment(&request).unwrap_or_else(|e| panic!("seed push: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let response = reply(data);
    let http_error = response.status >= 400;

    match clickpesa::parse_token(&response) {
        Ok(token) => {
            assert!(!http_error, "token accepted from HTTP {}", response.status);
            assert!(!token.value.expose().trim().is_empty());
        }
        Err(error) => render(&error),
    }

    match clickpesa::parse_ussd_push(&response, push()) {
        Ok(payment) => {
            assert!(!http_error, "push accepted from HTTP {}", response.status);
            assert!(!payment.tracking_id.is_empty());
        }
        Err(error) => render(&error),
    }

    match clickpesa::parse_status(&response) {
        Ok(details) => {
            assert!(!http_error, "status accepted from HTTP {}", response.status);
            assert_reported_amount(details.amount.as_deref());
        }
        Err(error) => render(&error),
    }
});
