//! Property tests for the parts of the core that must hold for every input,
//! not just the documented examples: the ClickPesa checksum recipe, the
//! PesaPal IPN acknowledgement, and amount text.

use finconnect_core::money::{Amount, MAX_MAJOR_UNITS};
use finconnect_core::providers::clickpesa::checksum::{canonical_json, compute, sign, verify};
use finconnect_core::providers::pesapal::ipn::{self, IpnNotification};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Object keys: mostly short ASCII (so collisions and near-misses with the
/// signature fields happen), sometimes any Unicode at all.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_]{0,6}",
        1 => Just("checksum".to_owned()),
        1 => Just("checksumMethod".to_owned()),
        2 => ".{0,8}",
    ]
}

/// Any JSON value serde_json can hold without `arbitrary_precision`.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A JSON object (what ClickPesa signs).
fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json()), 0..8).prop_map(|members| members.into_iter().collect())
}

/// Writes `value` as JSON text with the members of every object in an order
/// chosen by `seed` (rotated, and reversed on odd seeds), at every depth.
fn write_permuted(value: &Value, seed: usize, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            if !members.is_empty() {
                let len = members.len();
                members.rotate_left(seed % len);
            }
            if seed % 2 == 1 {
                members.reverse();
            }
            out.push('{');
            for (i, (name, inner)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_permuted(inner, seed.wrapping_mul(31).wrapping_add(i), out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_permuted(item, seed.wrapping_add(i), out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn permuted(value: &Value, seed: usize) -> Value {
    let mut text = String::new();
    write_permuted(value, seed, &mut text);
    serde_json::from_str(&text).unwrap_or_else(|e| unreachable!("{e}: {text}"))
}

/// The value a signer actually signs: the body without the top-level
/// signature fields.
fn without_signature_fields(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(name, _)| !matches!(name.as_str(), "checksum" | "checksumMethod"))
                .map(|(name, inner)| (name.clone(), inner.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A notification id as PesaPal issues them (what `ipn::parse` accepts).
fn tracking_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9-]{1,64}"
}

/// A merchant reference `ipn::parse` accepts: printable ASCII without
/// quotes, backslashes or angle brackets.
fn merchant_reference() -> impl Strategy<Value = String> {
    "[!#-;=?-\\[\\]-~]{1,100}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The canonical string, and so the digest, does not depend on the
    /// order members arrive in, at any depth.
    #[test]
    fn canonical_json_ignores_member_order_at_every_depth(value in json(), seed in any::<usize>()) {
        let reordered = permuted(&value, seed);
        prop_assert_eq!(canonical_json(&reordered), canonical_json(&value));
        prop_assert_eq!(compute(b"k", &reordered), compute(b"k", &value));
    }

    /// The canonical string is JSON for the same value (minus the top-level
    /// signature fields), and canonicalising it again changes nothing.
    #[test]
    fn canonical_json_reparses_to_the_same_value_and_is_stable(value in json()) {
        let canonical = canonical_json(&value);
        let reparsed: Value = serde_json::from_str(&canonical)
            .unwrap_or_else(|e| unreachable!("{e}: {canonical}"));
        prop_assert_eq!(&reparsed, &without_signature_fields(&value));
        prop_assert_eq!(canonical_json(&reparsed), canonical);
    }

    /// `checksum` and `checksumMethod` at the top level are never signed,
    /// whatever they hold.
    #[test]
    fn signature_fields_never_change_the_digest(
        body in json_object(),
        checksum in json(),
        method in json(),
        key in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut bare = body;
        bare.remove("checksum");
        bare.remove("checksumMethod");
        let bare = Value::Object(bare);
        let expected = compute(&key, &bare);
        let mut with_fields = bare.clone();
        with_fields["checksum"] = checksum;
        prop_assert_eq!(compute(&key, &with_fields), expected.clone());
        with_fields["checksumMethod"] = method;
        prop_assert_eq!(compute(&key, &with_fields), expected);
    }

    /// Whatever object is signed verifies under the same key, also after a
    /// trip through JSON text (the webhook path), and not under another key.
    #[test]
    fn verify_accepts_what_sign_produces(
        body in json_object(),
        canonical_method in any::<bool>(),
        key in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut body = body;
        body.remove("checksumMethod");
        if canonical_method {
            body.insert("checksumMethod".to_owned(), Value::String("canonical".to_owned()));
        }
        let mut signed = Value::Object(body);
        sign(&key, &mut signed);
        prop_assert!(verify(&key, &signed));
        let received: Value = serde_json::from_str(&signed.to_string())
            .unwrap_or_else(|e| unreachable!("{e}"));
        prop_assert!(verify(&key, &received));
        let mut other_key = key.clone();
        other_key.push(0x5a);
        prop_assert!(!verify(&other_key, &signed));
    }

    /// The acknowledgement is JSON with the notification's ids, whatever
    /// text they hold.
    #[test]
    fn ipn_ack_is_json_with_the_same_ids(
        order_tracking_id in ".{0,40}",
        merchant_reference in ".{0,40}",
        notification_type in ".{0,12}",
        verified in any::<bool>(),
    ) {
        let notification = IpnNotification { order_tracking_id, merchant_reference, notification_type };
        let ack: Value = serde_json::from_slice(&ipn::ack(&notification, verified))
            .unwrap_or_else(|e| unreachable!("{e}"));
        prop_assert_eq!(&ack["orderTrackingId"], &Value::from(notification.order_tracking_id.as_str()));
        prop_assert_eq!(&ack["orderMerchantReference"], &Value::from(notification.merchant_reference.as_str()));
        prop_assert_eq!(&ack["orderNotificationType"], &Value::from(notification.notification_type.as_str()));
        prop_assert_eq!(&ack["status"], &Value::from(if verified { 200 } else { 500 }));
    }

    /// A notification `ipn::parse` accepts comes back unchanged from its own
    /// acknowledgement (the ack uses the same names, in camelCase).
    #[test]
    fn ipn_parse_accepts_its_own_ack(
        order_tracking_id in tracking_id(),
        merchant_reference in merchant_reference(),
        recurring in any::<bool>(),
        verified in any::<bool>(),
    ) {
        let notification_type = if recurring { "RECURRING" } else { "IPNCHANGE" }.to_owned();
        let query = format!(
            "OrderTrackingId={order_tracking_id}&OrderMerchantReference={}&OrderNotificationType={notification_type}",
            form_encode(&merchant_reference),
        );
        let parsed = ipn::parse(Some(&query), b"");
        let expected = IpnNotification { order_tracking_id, merchant_reference, notification_type };
        prop_assert_eq!(parsed.as_ref(), Ok(&expected));
        let ack = ipn::ack(&expected, verified);
        prop_assert_eq!(ipn::parse(None, &ack), Ok(expected));
    }

    /// Every amount prints as text that parses back to it, in both forms.
    #[test]
    fn amount_text_round_trips(hundredths in 1u64..=MAX_MAJOR_UNITS * 100) {
        let amount = Amount::from_hundredths(hundredths).unwrap_or_else(|e| unreachable!("{e}"));
        let fixed = amount.to_fixed2();
        prop_assert_eq!(fixed.parse::<Amount>(), Ok(amount));
        prop_assert_eq!(amount.to_plain().parse::<Amount>(), Ok(amount));
        prop_assert_eq!(Amount::parse_reported(&fixed), Some(hundredths));
        prop_assert_eq!(Amount::fixed2_from_hundredths(hundredths), fixed);
    }

    /// Decimal text with up to two decimals (leading zeros allowed) means
    /// exactly what it says, and prints back in its shortest form.
    #[test]
    fn amount_text_is_read_exactly(
        zeros in 0usize..4,
        whole in 0u64..=MAX_MAJOR_UNITS,
        fraction in prop::option::of("[0-9]{1,2}"),
    ) {
        let text = match &fraction {
            Some(digits) => format!("{}{whole}.{digits}", "0".repeat(zeros)),
            None => format!("{}{whole}", "0".repeat(zeros)),
        };
        let cents = match fraction.as_deref() {
            Some(digits) if digits.len() == 1 => u64::from(digits.as_bytes()[0] - b'0') * 10,
            Some(digits) => digits.parse::<u64>().unwrap_or_else(|e| unreachable!("{e}")),
            None => 0,
        };
        let hundredths = whole * 100 + cents;
        let parsed = text.parse::<Amount>();
        if hundredths == 0 || hundredths > MAX_MAJOR_UNITS * 100 {
            prop_assert!(parsed.is_err(), "{text} parsed as {parsed:?}");
        } else {
            let amount = parsed.unwrap_or_else(|e| unreachable!("{text}: {e}"));
            prop_assert_eq!(amount.hundredths(), hundredths);
            prop_assert_eq!(Amount::parse_reported(&text), Some(hundredths));
            prop_assert_eq!(amount.to_plain().parse::<Amount>(), Ok(amount));
        }
    }

    /// Any text that parses strictly is read the same way leniently, and
    /// neither reader panics on anything.
    #[test]
    fn strict_and_lenient_readers_agree(text in "[0-9.+ eE-]{0,24}|.{0,24}") {
        if let Ok(amount) = text.parse::<Amount>() {
            prop_assert_eq!(Amount::parse_reported(&text), Some(amount.hundredths()));
            prop_assert_eq!(amount.to_fixed2().parse::<Amount>(), Ok(amount));
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
