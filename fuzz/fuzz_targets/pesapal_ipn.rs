//! The PesaPal IPN parser. Input: `<query>\n<body>`; without a `\n` the
//! whole input is the body and there is no query (a POST with no query
//! string). A query that is not UTF-8 is passed as no query.
//!
//! Checks: an accepted notification obeys the rules `parse` enforces, its
//! acknowledgement is JSON with the same ids, and `parse` reads its own
//! acknowledgement back to the same notification.

#![no_main]

use finconnect_core::Error;
use finconnect_core::providers::pesapal::{self, ipn};
use finconnect_fuzz::{render, split_line};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (query, body) = match split_line(data) {
        Some((query, body)) => (std::str::from_utf8(query).ok(), body),
        None => (None, data),
    };
    let notification = match ipn::parse(query, body) {
        Ok(notification) => notification,
        Err(error) => {
            render(&error);
            assert!(
                matches!(error, Error::InvalidRequest { .. }),
                "IPN errors are invalid requests: {error:?}"
            );
            return;
        }
    };

    assert!(pesapal::validate_tracking_id(&notification.order_tracking_id).is_ok());
    let reference = &notification.merchant_reference;
    assert!((1..=100).contains(&reference.len()));
    assert!(
        reference
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'<' | b'>'))
    );
    assert!(matches!(
        notification.notification_type.as_str(),
        "IPNCHANGE" | "RECURRING"
    ));

    for verified in [true, false] {
        let ack = ipn::ack(&notification, verified);
        let json: Value = serde_json::from_slice(&ack)
            .unwrap_or_else(|e| panic!("ack is not JSON ({e}): {}", String::from_utf8_lossy(&ack)));
        assert_eq!(
            json["orderTrackingId"],
            notification.order_tracking_id.as_str()
        );
        assert_eq!(json["orderMerchantReference"], reference.as_str());
        assert_eq!(
            json["orderNotificationType"],
            notification.notification_type.as_str()
        );
        assert_eq!(json["status"], if verified { 200 } else { 500 });
        assert_eq!(ipn::parse(None, &ack).as_ref(), Ok(&notification));
    }
});
