//! Every M-Pesa Daraja reply parser on the same reply:
//! `<status>[ <content-type>]\n<body>` (see `finconnect_fuzz::reply`), and
//! the STK callback reader on the body alone.
//!
//! Besides "never panics": a token or a push is never accepted from an HTTP
//! error; the only state a query may read from an HTTP error is pending
//! (Daraja's "being processed" answer); amounts are two-decimal text.

#![no_main]

use finconnect_core::domain::{Customer, PaymentRequest, PaymentStatus};
use finconnect_core::providers::mpesa::{self, StkPush, callback};
use finconnect_fuzz::{assert_reported_amount, render, reply};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn push() -> &'static StkPush {
    static PUSH: OnceLock<StkPush> = OnceLock::new();
    PUSH.get_or_init(|| {
        let request = PaymentRequest {
            reference: "ORDER123".to_owned(),
            amount: "100".to_owned(),
            currency: "KES".to_owned(),
            customer: Customer {
                phone: Some("254708374149".to_owned()),
                ..Customer::default()
            },
            ..PaymentRequest::default()
        };
        mpesa::validate_payment(&request).unwrap_or_else(|e| panic!("seed push: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let response = reply(data);
    let http_error = response.status >= 400;

    match mpesa::parse_token(&response) {
        Ok(token) => {
            assert!(!http_error, "token accepted from HTTP {}", response.status);
            assert!(!token.value.expose().trim().is_empty());
        }
        Err(error) => render(&error),
    }

    match mpesa::parse_stk_push(&response, push()) {
        Ok(payment) => {
            assert!(!http_error, "push accepted from HTTP {}", response.status);
            assert!(!payment.tracking_id.is_empty());
        }
        Err(error) => render(&error),
    }

    match mpesa::parse_stk_query(&response) {
        Ok(details) => {
            assert!(
                !http_error || details.status == PaymentStatus::Pending,
                "{:?} read from HTTP {}",
                details.status,
                response.status
            );
            assert_reported_amount(details.amount.as_deref());
        }
        Err(error) => render(&error),
    }

    if let Ok(callback) = callback::parse(&response.body) {
        assert!(!callback.checkout_request_id.is_empty());
        assert_reported_amount(callback.amount.as_deref());
    }
});
