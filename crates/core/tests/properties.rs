//! Property tests for the parts of the core that must hold for every input,
//! not just the documented examples: the ClickPesa checksum recipe (and the
//! JavaScript number spelling it relies on), ClickPesa webhooks, the PesaPal
//! IPN acknowledgement, and amount text.

use finconnect_core::money::{Amount, MAX_MAJOR_UNITS};
use finconnect_core::providers::clickpesa::checksum as json;
use finconnect_core::providers::clickpesa::checksum::{
    canonical_json, compute, javascript_number, sign, verify,
};
use finconnect_core::providers::clickpesa::webhook::{self, WebhookError};
use finconnect_core::providers::pesapal::ipn::{self, IpnNotification};
use finconnect_core::{PaymentStatus, Secret};
use proptest::prelude::*;
use serde_json::Value;

// ---- Numbers as JavaScript prints them --------------------------------------

/// Text of a JSON number worth `±0.digits × 10^n`, spelt in one of several
/// ways (`style`), with `padding` zeros added where they do not change it.
fn spell(negative: bool, digits: &str, n: i64, style: u8, padding: usize) -> String {
    let k = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let zeros = |count: i64| "0".repeat(usize::try_from(count).unwrap_or(0));
    let sign = if negative { "-" } else { "" };
    let exponent_mark = ["e", "E", "e+", "E+"][padding % 4];
    let body = match style % 3 {
        // Plain decimal: `1500`, `1500.000`, `0.0015`, `15.50`.
        0 => {
            let pad = zeros(i64::try_from(padding).unwrap_or(0));
            if n >= k {
                let point = if padding > 0 {
                    format!(".{pad}")
                } else {
                    String::new()
                };
                format!("{digits}{}{point}", zeros(n - k))
            } else if n > 0 {
                let (whole, fraction) = digits.split_at(usize::try_from(n).unwrap_or(0));
                format!("{whole}.{fraction}{pad}")
            } else {
                format!("0.{}{digits}{pad}", zeros(-n))
            }
        }
        // One digit before the point: `1.5e3`, `1E-7`.
        1 => {
            let (first, rest) = digits.split_at(1);
            let rest = if rest.is_empty() {
                String::new()
            } else {
                format!(".{rest}")
            };
            let e = n - 1;
            let mark = if e < 0 {
                ["e", "E"][padding % 2]
            } else {
                exponent_mark
            };
            format!("{first}{rest}{mark}{e}")
        }
        // All digits before the point, padded: `15000e-1`.
        _ => {
            let e = n - k - i64::try_from(padding).unwrap_or(0);
            let mark = if e < 0 {
                ["e", "E"][padding % 2]
            } else {
                exponent_mark
            };
            format!(
                "{digits}{}{mark}{e}",
                zeros(i64::try_from(padding).unwrap_or(0))
            )
        }
    };
    format!("{sign}{body}")
}

/// Significant digits: `1..=max` of them, no leading or trailing zero.
fn significant_digits(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0u8..10, 1..=max).prop_map(|mut digits| {
        for end in [0, digits.len() - 1] {
            if digits[end] == 0 {
                digits[end] = 1;
            }
        }
        digits.into_iter().map(|d| char::from(b'0' + d)).collect()
    })
}

/// What JavaScript prints for `x`, from Rust's shortest round-trip printing:
/// plain notation from 1e-6 up to 1e21 (where both print all digits), and
/// `d.ddde±x` outside it (Rust writes `e21` where JavaScript writes `e+21`).
fn javascript_from_rust(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude == 0.0 {
        "0".to_owned()
    } else if (1e-6..1e21).contains(&magnitude) {
        format!("{x}")
    } else {
        let scientific = format!("{x:e}");
        match scientific.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                format!("{mantissa}e+{exponent}")
            }
            _ => scientific,
        }
    }
}

/// A number JavaScript prints exactly as written: at most 15 significant
/// digits within ±1e±307, or an integer of at most 2⁵³, in any spelling.
fn exact_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            any::<bool>(),
            significant_digits(15),
            -306i64..=308,
            0u8..3,
            0usize..4
        )
            .prop_map(|(negative, digits, n, style, padding)| spell(
                negative, &digits, n, style, padding
            )),
        (any::<bool>(), 0u64..=(1 << 53), 0u8..3, 0usize..4).prop_map(
            |(negative, integer, style, padding)| {
                let text = integer.to_string();
                let trimmed = text.trim_end_matches('0');
                if trimmed.is_empty() {
                    return if negative {
                        "-0".to_owned()
                    } else {
                        "0".to_owned()
                    };
                }
                let n = i64::try_from(text.len()).unwrap_or(0);
                spell(negative, trimmed, n, style, padding)
            }
        ),
        Just("0".to_owned()),
        Just("-0.0".to_owned()),
    ]
}

/// A number `javascript_number` does not answer for: 16 to 40 significant
/// digits that are not an integer up to 2⁵³ (JavaScript would round them),
/// or up to 15 digits outside ±1e±307.
fn rounded_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            any::<bool>(),
            significant_digits(40),
            -330i64..=330,
            0u8..3,
            0usize..4
        )
            .prop_filter("more than 15 digits", |(_, digits, ..)| digits.len() > 15)
            .prop_filter("not an integer up to 2^53", |(_, digits, n, ..)| {
                !(*n == 16 && digits.len() == 16 && digits.as_str() <= "9007199254740992")
            }),
        (
            any::<bool>(),
            significant_digits(15),
            prop_oneof![-400i64..=-307, 309i64..=400],
            0u8..3,
            0usize..4
        ),
    ]
    .prop_map(|(negative, digits, n, style, padding)| spell(negative, &digits, n, style, padding))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Where JavaScript prints no exponent (1e-6 ≤ |x| < 1e21), a number of
    /// at most 15 significant digits prints exactly as Rust prints the
    /// nearest double, however it was spelt.
    #[test]
    fn javascript_number_matches_the_shortest_double_without_exponent(
        negative in any::<bool>(),
        digits in significant_digits(15),
        n in -5i64..=21,
        style in 0u8..3,
        padding in 0usize..4,
    ) {
        let text = spell(negative, &digits, n, style, padding);
        let parsed = json::Value::parse(text.as_bytes());
        prop_assert_eq!(parsed.ok(), Some(json::Value::Number(text.clone())), "not JSON number text");
        let double: f64 = text.parse().unwrap_or_else(|e| unreachable!("{e}: {text}"));
        prop_assert_eq!(javascript_number(&text), Some(format!("{double}")), "{}", text);
    }

    /// The same over the whole range it answers for, exponents included.
    #[test]
    fn javascript_number_matches_the_shortest_double_everywhere(text in exact_number()) {
        let double: f64 = text.parse().unwrap_or_else(|e| unreachable!("{e}: {text}"));
        prop_assert_eq!(javascript_number(&text), Some(javascript_from_rust(double)), "{}", text);
    }

    /// What it cannot know without rounding, it does not answer.
    #[test]
    fn javascript_number_refuses_what_javascript_would_round(text in rounded_number()) {
        prop_assert_eq!(javascript_number(&text), None, "{}", text);
    }

    /// Its answer is a JSON number that it spells the same way again.
    #[test]
    fn javascript_number_is_stable(text in exact_number()) {
        let spelt = javascript_number(&text).unwrap_or_else(|| unreachable!("{text}"));
        prop_assert_eq!(json::Value::parse(spelt.as_bytes()).ok(), Some(json::Value::Number(spelt.clone())));
        prop_assert_eq!(javascript_number(&spelt), Some(spelt));
    }

    /// Nothing makes it panic, and what it accepts is JSON number text.
    #[test]
    fn javascript_number_never_panics(text in "[-+0-9.eE]{0,30}|.{0,12}") {
        if javascript_number(&text).is_some() {
            prop_assert!(matches!(json::Value::parse(text.as_bytes()), Ok(json::Value::Number(_))), "{}", text);
        }
    }
}

// ---- The checksum recipe ------------------------------------------------------

/// Object keys: mostly short ASCII (so collisions and near-misses with the
/// signature fields happen), keys JavaScript orders or drops specially, and
/// sometimes any Unicode at all.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z_]{0,6}",
        1 => Just("checksum".to_owned()),
        1 => Just("checksumMethod".to_owned()),
        1 => Just("__proto__".to_owned()),
        2 => "0|[1-9][0-9]{0,10}|0[0-9]|-[0-9]",
        1 => "[\u{e000}-\u{ffff}\u{10000}-\u{10ffff}a]{1,3}",
        2 => ".{0,8}",
    ]
}

/// Any JSON value, numbers included when `numbers` says so.
fn tree_with(numbers: BoxedStrategy<String>) -> impl Strategy<Value = json::Value> {
    let leaf = prop_oneof![
        Just(json::Value::Null),
        any::<bool>().prop_map(json::Value::Bool),
        numbers.prop_map(json::Value::Number),
        ".{0,12}".prop_map(json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(json::Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(object),
        ]
    })
}

/// Any JSON value JavaScript prints without rounding.
fn tree() -> impl Strategy<Value = json::Value> {
    tree_with(exact_number().boxed())
}

/// An object (what ClickPesa signs) of such values.
fn body() -> impl Strategy<Value = json::Value> {
    prop::collection::vec((key(), tree()), 0..8).prop_map(object)
}

/// An object from members, a repeated key keeping its first place and last
/// value (as `json::Value::parse` reads one).
fn object(members: Vec<(String, json::Value)>) -> json::Value {
    let mut unique: Vec<(String, json::Value)> = Vec::new();
    for (name, value) in members {
        match unique.iter_mut().find(|(existing, _)| *existing == name) {
            Some(member) => member.1 = value,
            None => unique.push((name, value)),
        }
    }
    json::Value::Object(unique)
}

/// The same value with the members of every object in an order chosen by
/// `seed` (rotated, and reversed on odd seeds), at every depth.
fn permuted(value: &json::Value, seed: usize) -> json::Value {
    match value {
        json::Value::Object(members) => {
            let mut members: Vec<(String, json::Value)> = members
                .iter()
                .enumerate()
                .map(|(i, (name, inner))| {
                    (
                        name.clone(),
                        permuted(inner, seed.wrapping_mul(31).wrapping_add(i)),
                    )
                })
                .collect();
            if !members.is_empty() {
                let len = members.len();
                members.rotate_left(seed % len);
            }
            if seed % 2 == 1 {
                members.reverse();
            }
            json::Value::Object(members)
        }
        json::Value::Array(items) => json::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| permuted(item, seed.wrapping_add(i)))
                .collect(),
        ),
        scalar => scalar.clone(),
    }
}

fn members_mut(value: &mut json::Value) -> &mut Vec<(String, json::Value)> {
    match value {
        json::Value::Object(members) => members,
        _ => unreachable!("bodies are objects"),
    }
}

fn remove(value: &mut json::Value, name: &str) {
    members_mut(value).retain(|(existing, _)| existing != name);
}

/// `a` and `b` mean the same to JavaScript: objects with the same members in
/// any order, numbers of the same double value, everything else equal.
fn same_meaning(a: &json::Value, b: &json::Value) -> bool {
    match (a, b) {
        (json::Value::Number(a), json::Value::Number(b)) => {
            a.parse::<f64>().ok() == b.parse::<f64>().ok()
        }
        (json::Value::Array(a), json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_meaning(a, b))
        }
        (json::Value::Object(a), json::Value::Object(b)) => {
            a.len() == b.len()
                && a.iter().all(|(name, inner)| {
                    b.iter()
                        .find(|(other, _)| other == name)
                        .is_some_and(|(_, other)| same_meaning(inner, other))
                })
        }
        _ => a == b,
    }
}

/// What JavaScript's rebuilt object holds: no `__proto__` member at any
/// depth, and (for the body itself) no signature fields.
fn as_javascript_rebuilds(value: &json::Value, top: bool) -> json::Value {
    match value {
        json::Value::Object(members) => json::Value::Object(
            members
                .iter()
                .filter(|(name, _)| name != "__proto__")
                .filter(|(name, _)| !top || !matches!(name.as_str(), "checksum" | "checksumMethod"))
                .map(|(name, inner)| (name.clone(), as_javascript_rebuilds(inner, false)))
                .collect(),
        ),
        json::Value::Array(items) => json::Value::Array(
            items
                .iter()
                .map(|item| as_javascript_rebuilds(item, false))
                .collect(),
        ),
        scalar => scalar.clone(),
    }
}

fn canonical(value: &json::Value) -> String {
    canonical_json(value).unwrap_or_else(|e| unreachable!("{e}"))
}

fn digest(key: &[u8], value: &json::Value) -> String {
    compute(key, value).unwrap_or_else(|e| unreachable!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The canonical string, and so the digest, does not depend on the
    /// order members arrive in, at any depth, nor on a trip through text.
    #[test]
    fn canonical_json_ignores_member_order_at_every_depth(value in tree(), seed in any::<usize>()) {
        let reordered = permuted(&value, seed);
        prop_assert_eq!(canonical(&reordered), canonical(&value));
        prop_assert_eq!(digest(b"k", &reordered), digest(b"k", &value));
        let received = json::Value::parse(&reordered.to_vec()).unwrap_or_else(|e| unreachable!("{e}"));
        prop_assert_eq!(canonical(&received), canonical(&value));
    }

    /// The canonical string is JSON meaning what the value means to
    /// JavaScript (minus the top-level signature fields and `__proto__`),
    /// and canonicalising it again changes nothing.
    #[test]
    fn canonical_json_reparses_to_the_same_value_and_is_stable(value in tree()) {
        let text = canonical(&value);
        let reparsed = json::Value::parse(text.as_bytes())
            .unwrap_or_else(|e| unreachable!("{e}: {text}"));
        prop_assert!(same_meaning(&reparsed, &as_javascript_rebuilds(&value, true)), "{}", text);
        prop_assert_eq!(canonical(&reparsed), text);
    }

    /// `checksum` and `checksumMethod` at the top level are never signed,
    /// whatever they hold.
    #[test]
    fn signature_fields_never_change_the_digest(
        body in body(),
        checksum in tree(),
        method in tree(),
        key in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut bare = body;
        remove(&mut bare, "checksum");
        remove(&mut bare, "checksumMethod");
        let expected = digest(&key, &bare);
        let mut with_fields = bare.clone();
        members_mut(&mut with_fields).insert(0, ("checksum".to_owned(), checksum));
        prop_assert_eq!(digest(&key, &with_fields), expected.clone());
        members_mut(&mut with_fields).push(("checksumMethod".to_owned(), method));
        prop_assert_eq!(digest(&key, &with_fields), expected);
    }

    /// Whatever object is signed verifies under the same key, also after a
    /// trip through JSON text (the webhook path), and not under another key.
    #[test]
    fn verify_accepts_what_sign_produces(
        body in body(),
        canonical_method in any::<bool>(),
        key in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut signed = body;
        remove(&mut signed, "checksumMethod");
        if canonical_method {
            members_mut(&mut signed).push(("checksumMethod".to_owned(), json::Value::from("canonical")));
        }
        prop_assert_eq!(sign(&key, &mut signed), Ok(()));
        prop_assert!(verify(&key, &signed));
        let received = json::Value::parse(&signed.to_vec()).unwrap_or_else(|e| unreachable!("{e}"));
        prop_assert!(verify(&key, &received));
        let mut other_key = key.clone();
        other_key.push(0x5a);
        prop_assert!(!verify(&other_key, &signed));
    }

    /// A body holding a number JavaScript would round anywhere is never
    /// signed and never verified (fail closed).
    #[test]
    fn bodies_with_rounded_numbers_fail_closed(
        body in body(),
        number in rounded_number(),
        depth in 0usize..3,
        key in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut inner = json::Value::Number(number);
        for _ in 0..depth {
            inner = json::Value::Array(vec![json::Value::Object(vec![("n".to_owned(), inner)])]);
        }
        let mut body = body;
        remove(&mut body, "checksumMethod");
        remove(&mut body, "zz");
        members_mut(&mut body).push(("zz".to_owned(), inner));
        prop_assert!(canonical_json(&body).is_err());
        let before = body.clone();
        prop_assert!(sign(&key, &mut body).is_err());
        prop_assert_eq!(&body, &before);
        remove(&mut body, "checksum");
        members_mut(&mut body).push(("checksum".to_owned(), json::Value::from("0".repeat(64))));
        prop_assert!(!verify(&key, &body));
    }

    /// A webhook signed with the key is accepted as verified and reads as it
    /// does without a key; one signed with another key, or changed after
    /// signing, is refused for its checksum.
    #[test]
    fn signed_webhooks_verify_and_changed_ones_do_not(
        data in body(),
        status in prop_oneof![Just("SUCCESS"), Just("FAILED"), Just("PROCESSING")],
        extra in body(),
    ) {
        let key = Secret::new("webhook-key");
        let mut envelope = extra;
        for name in ["event", "eventType", "data", "checksum", "checksumMethod"] {
            remove(&mut envelope, name);
        }
        let mut data = data;
        remove(&mut data, "status");
        members_mut(&mut data).push(("status".to_owned(), json::Value::from(status)));
        members_mut(&mut envelope).push(("event".to_owned(), json::Value::from("PAYMENT RECEIVED")));
        members_mut(&mut envelope).push(("data".to_owned(), data));
        let unsigned = envelope.clone();

        let mut signed = envelope;
        prop_assert_eq!(sign(key.expose().as_bytes(), &mut signed), Ok(()));
        let accepted = webhook::parse(&signed.to_vec(), Some(&key))
            .unwrap_or_else(|e| unreachable!("{e}"));
        prop_assert!(accepted.verified);
        let expected = match status {
            "SUCCESS" => PaymentStatus::Completed,
            "FAILED" => PaymentStatus::Failed,
            _ => PaymentStatus::Pending,
        };
        prop_assert_eq!(accepted.status, expected);
        let open = webhook::parse(&signed.to_vec(), None).unwrap_or_else(|e| unreachable!("{e}"));
        prop_assert_eq!(open, webhook::WebhookEvent { verified: false, ..accepted });

        let mut forged = unsigned.clone();
        prop_assert_eq!(sign(b"another-key", &mut forged), Ok(()));
        prop_assert_eq!(
            webhook::parse(&forged.to_vec(), Some(&key)),
            Err(WebhookError::Unverified("does not match"))
        );
        let mut changed = signed;
        for member in members_mut(&mut changed).iter_mut() {
            if member.0 == "event" {
                member.1 = json::Value::from("PAYMENT FAILED");
            }
        }
        prop_assert_eq!(
            webhook::parse(&changed.to_vec(), Some(&key)),
            Err(WebhookError::Unverified("does not match"))
        );
    }
}

// ---- PesaPal IPN and amounts ------------------------------------------------

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
