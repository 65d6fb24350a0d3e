//! The ClickPesa webhook parser on the whole input, without a checksum key
//! and with one.
//!
//! Checks: with a key nothing unverified is accepted, without one nothing
//! claims to be verified; what is accepted with a key reads the same
//! without; the input signed with the key is never refused for its
//! checksum (or, when it holds a number JavaScript would round, never
//! accepted with any checksum); amounts are two-decimal text.

#![no_main]

use finconnect_core::Secret;
use finconnect_core::providers::clickpesa::checksum;
use finconnect_core::providers::clickpesa::checksum::Value;
use finconnect_core::providers::clickpesa::webhook::{self, WebhookError};
use finconnect_fuzz::{assert_reported_amount, render};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "fuzz-checksum-key";

fuzz_target!(|data: &[u8]| {
    let key = Secret::new(KEY);

    let open = webhook::parse(data, None);
    match &open {
        Ok(event) => {
            assert!(!event.verified);
            assert!(!event.event.trim().is_empty());
            assert_reported_amount(event.amount.as_deref());
        }
        Err(error) => {
            render(error);
            assert!(
                matches!(error, WebhookError::Invalid(_) | WebhookError::Malformed),
                "without a key nothing is unverified: {error:?}"
            );
        }
    }

    match webhook::parse(data, Some(&key)) {
        Ok(event) => {
            assert!(event.verified);
            let mut unverified = event.clone();
            unverified.verified = false;
            assert_eq!(open.as_ref(), Ok(&unverified));
        }
        Err(error) => render(&error),
    }

    // Sign the input as ClickPesa would and deliver it as text: it must
    // never fail for its checksum (only for its shape).
    let Ok(mut body) = Value::parse(data) else {
        return;
    };
    let Value::Object(members) = &mut body else {
        return;
    };
    members.retain(|(name, _)| name != "checksumMethod");
    if checksum::sign(KEY.as_bytes(), &mut body).is_err() {
        // Not signable here, so not verifiable either, whatever it carries.
        if let Value::Object(members) = &mut body {
            members.retain(|(name, _)| name != "checksum");
            members.push(("checksum".to_owned(), Value::from("0".repeat(64))));
        }
        assert_eq!(
            webhook::parse(&body.to_vec(), Some(&key)),
            Err(WebhookError::Unverified("does not match"))
        );
        return;
    }
    let delivered = body.to_json();
    match webhook::parse(delivered.as_bytes(), Some(&key)) {
        Ok(event) => assert!(event.verified),
        Err(WebhookError::Invalid(_)) => {}
        Err(WebhookError::Malformed) => {
            panic!("a body written from a parsed value is JSON: {delivered}")
        }
        Err(error @ WebhookError::Unverified(_)) => {
            panic!("a correctly signed body was refused ({error}): {delivered}")
        }
    }
});
