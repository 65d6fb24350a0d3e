//! Every PesaPal reply parser on the same reply:
//! `<status>[ <content-type>]\n<body>` (see `finconnect_fuzz::reply`).
//!
//! Besides "never panics": a reply that is accepted was not an HTTP error,
//! accepted replies carry the ids the flow needs, and reported amounts are
//! always two-decimal text.

#![no_main]

use finconnect_core::domain::{
    Customer, IpnRequest, NotificationType, PaymentRequest, PaymentStatus,
};
use finconnect_core::providers::pesapal::{self, PesapalOrder};
use finconnect_fuzz::{assert_reported_amount, render, reply};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn order() -> &'static PesapalOrder {
    static ORDER: OnceLock<PesapalOrder> = OnceLock::new();
    ORDER.get_or_init(|| {
        let request = PaymentRequest {
            reference: "ORD-2024-000123".to_owned(),
            amount: "1500.00".to_owned(),
            currency: "KES".to_owned(),
            description: Some("Order 123".to_owned()),
            customer: Customer {
                email: Some("jane@example.com".to_owned()),
                ..Customer::default()
            },
            callback_url: Some("https://shop.example/return".to_owned()),
            notification_id: Some("1da86d1c-1e8c-4183-bdfd-dd759463e4ce".to_owned()),
            ..PaymentRequest::default()
        };
        pesapal::validate_order(&request).unwrap_or_else(|e| panic!("seed order: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let response = reply(data);
    let http_error = response.status >= 400;

    match pesapal::parse_token(&response) {
        Ok(token) => {
            assert!(!http_error, "token accepted from HTTP {}", response.status);
            assert!(!token.value.expose().is_empty());
        }
        Err(error) => render(&error),
    }

    match pesapal::parse_submit_order(&response, order()) {
        Ok(payment) => {
            assert!(!http_error, "order accepted from HTTP {}", response.status);
            assert!(!payment.tracking_id.is_empty());
            assert!(payment.redirect_url.is_some_and(|url| !url.is_empty()));
            assert_eq!(payment.status, PaymentStatus::Pending);
        }
        Err(error) => render(&error),
    }

    let ipn = IpnRequest {
        url: "https://shop.example/pesapal/ipn".to_owned(),
        notification_type: NotificationType::Get,
    };
    match pesapal::parse_register_ipn(&response, &ipn) {
        Ok(registration) => {
            assert!(!http_error, "IPN accepted from HTTP {}", response.status);
            assert!(!registration.ipn_id.is_empty());
        }
        Err(error) => render(&error),
    }

    match pesapal::parse_status(&response) {
        Ok(details) => assert_reported_amount(details.amount.as_deref()),
        Err(error) => render(&error),
    }
});
