//! Amount parsing on the input as text (lossily decoded when not UTF-8).
//!
//! Checks: neither reader panics; a strictly parsed amount is in range,
//! prints as two-decimal and shortest text that parse back to it, and the
//! lenient reader agrees with the strict one; what the lenient reader
//! returns prints and reads back unchanged.

#![no_main]

use finconnect_core::money::{Amount, MAX_MAJOR_UNITS};
use finconnect_core::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let strict = text.parse::<Amount>();
    assert_eq!(
        validate::amount(&text).map_err(|_| ()),
        strict.clone().map_err(|_| ())
    );
    match strict {
        Ok(amount) => {
            let hundredths = amount.hundredths();
            assert!(hundredths > 0 && hundredths <= MAX_MAJOR_UNITS * 100);
            let fixed = amount.to_fixed2();
            assert_eq!(fixed.parse::<Amount>(), Ok(amount), "fixed2 of {text:?}");
            assert_eq!(
                amount.to_plain().parse::<Amount>(),
                Ok(amount),
                "plain of {text:?}"
            );
            assert_eq!(amount.to_string(), fixed);
            assert_eq!(Amount::fixed2_from_hundredths(hundredths), fixed);
            assert_eq!(Amount::parse_reported(&text), Some(hundredths), "{text:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
    if let Some(hundredths) = Amount::parse_reported(&text) {
        let fixed = Amount::fixed2_from_hundredths(hundredths);
        assert_eq!(Amount::parse_reported(&fixed), Some(hundredths), "{text:?}");
        if let Ok(amount) = Amount::from_hundredths(hundredths) {
            assert_eq!(amount.to_fixed2(), fixed);
        }
    }
});
