//! The ClickPesa checksum recipe on arbitrary JSON (the whole input).
//!
//! Checks: every number is spelt as JavaScript spells the double it reads
//! (compared with Rust's shortest printing), or the body is refused as a
//! whole and then never signed nor verified; otherwise the canonical string
//! re-parses to a value meaning the same (less the top-level signature
//! fields and `__proto__`), canonicalising it again changes nothing, its keys
//! are in JavaScript's order at every depth, member order does not matter,
//! the signature fields never change the digest, and whatever `sign`
//! produces verifies, also after a trip through JSON text.
//!
//! `checksum::Value` keeps members in the order they were written, so the
//! sorting really is `canonical_json`'s.

#![no_main]

use finconnect_core::providers::clickpesa::checksum::Value;
use finconnect_core::providers::clickpesa::checksum::{
    UnreproducibleNumber, canonical_json, compute, javascript_number, sign, verify,
};
use libfuzzer_sys::fuzz_target;
use std::cmp::Ordering;

const KEY: &[u8] = b"secret-key";

fuzz_target!(|data: &[u8]| {
    let Ok(value) = Value::parse(data) else {
        return;
    };
    check_numbers(&value);

    let canonical = match canonical_json(&value) {
        Ok(canonical) => canonical,
        Err(UnreproducibleNumber(text)) => {
            assert_eq!(javascript_number(&text), None, "{text}");
            assert!(compute(KEY, &value).is_err());
            assert!(!verify(KEY, &value));
            let mut unsigned = value.clone();
            assert!(sign(KEY, &mut unsigned).is_err());
            assert_eq!(unsigned, value);
            return;
        }
    };
    let reparsed = Value::parse(canonical.as_bytes())
        .unwrap_or_else(|e| panic!("canonical string is not JSON ({e}): {canonical}"));
    assert!(
        same_meaning(&reparsed, &as_javascript_rebuilds(&value, true)),
        "{canonical}"
    );
    assert_eq!(
        canonical_json(&reparsed).ok(),
        Some(canonical.clone()),
        "not stable"
    );
    assert_in_javascript_order(&reparsed);

    let digest = compute(KEY, &value).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        digest.len() == 64
            && digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    assert_eq!(
        compute(KEY, &reversed(&value)).ok(),
        Some(digest.clone()),
        "member order changed the digest"
    );

    let Value::Object(members) = &value else {
        // Non-objects cannot carry a checksum: never verified, never signed.
        assert!(!verify(KEY, &value));
        let mut unsigned = value.clone();
        assert_eq!(sign(KEY, &mut unsigned), Ok(()));
        assert_eq!(unsigned, value);
        return;
    };

    // verify agrees with compute.
    let carried = value.get("checksum").and_then(Value::as_str);
    let method_ok = match value.get("checksumMethod") {
        None | Some(Value::Null) => true,
        Some(Value::String(method)) => method.eq_ignore_ascii_case("canonical"),
        Some(_) => false,
    };
    let expected = method_ok && carried.is_some_and(|c| c.eq_ignore_ascii_case(&digest));
    assert_eq!(verify(KEY, &value), expected);

    // Adding or replacing the signature fields never changes the digest.
    let mut with_fields: Vec<(String, Value)> = members
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "checksum" | "checksumMethod"))
        .cloned()
        .collect();
    with_fields.insert(0, ("checksum".to_owned(), Value::from("0".repeat(64))));
    with_fields.push(("checksumMethod".to_owned(), Value::from("canonical")));
    assert_eq!(
        compute(KEY, &Value::Object(with_fields)).ok(),
        Some(digest.clone())
    );

    // What sign produces verifies (unless the body asks for another method),
    // here and on the other side of a trip through text.
    let mut signed = value.clone();
    assert_eq!(sign(KEY, &mut signed), Ok(()));
    assert_eq!(signed.get("checksum"), Some(&Value::String(digest.clone())));
    assert_eq!(verify(KEY, &signed), method_ok);
    let received =
        Value::parse(&signed.to_vec()).unwrap_or_else(|e| panic!("signed body is not JSON: {e}"));
    assert_eq!(verify(KEY, &received), method_ok, "{signed}");
    assert!(!verify(b"another-key", &signed));
});

/// Every number JavaScript can be matched on is spelt as it would spell the
/// double: the same double as written, and in the range where JavaScript
/// writes no exponent, Rust's shortest printing of it.
fn check_numbers(value: &Value) {
    match value {
        Value::Number(text) => {
            let Some(spelt) = javascript_number(text) else {
                return;
            };
            let written: f64 = text.parse().unwrap_or_else(|e| panic!("{e}: {text}"));
            let read: f64 = spelt.parse().unwrap_or_else(|e| panic!("{e}: {spelt}"));
            assert_eq!(read, written, "{text} spelt {spelt}");
            let magnitude = written.abs();
            if magnitude == 0.0 {
                assert_eq!(spelt, "0");
            } else if (1e-6..1e21).contains(&magnitude) {
                assert_eq!(spelt, format!("{written}"), "{text}");
            }
        }
        Value::Array(items) => items.iter().for_each(check_numbers),
        Value::Object(members) => members.iter().for_each(|(_, inner)| check_numbers(inner)),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// Objects with the same members in any order, numbers of the same double,
/// everything else equal.
fn same_meaning(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.parse::<f64>().ok() == b.parse::<f64>().ok(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_meaning(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
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

/// What JavaScript's rebuilt object holds: no `__proto__` at any depth, and
/// no signature fields at the top.
fn as_javascript_rebuilds(value: &Value, top: bool) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .filter(|(name, _)| name != "__proto__")
                .filter(|(name, _)| !top || !matches!(name.as_str(), "checksum" | "checksumMethod"))
                .map(|(name, inner)| (name.clone(), as_javascript_rebuilds(inner, false)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| as_javascript_rebuilds(item, false))
                .collect(),
        ),
        scalar => scalar.clone(),
    }
}

/// The same value with every object's members in reverse order.
fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .rev()
                .map(|(key, inner)| (key.clone(), reversed(inner)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        scalar => scalar.clone(),
    }
}

/// Keys at every depth in the order a JavaScript object lists them: integer
/// keys from 0 to 2³² − 2 first by value, the rest by UTF-16 code units;
/// each once.
fn assert_in_javascript_order(value: &Value) {
    fn index(key: &str) -> Option<u64> {
        let number: u64 = key.parse().ok()?;
        (number < u64::from(u32::MAX) && number.to_string() == key).then_some(number)
    }
    fn order(a: &str, b: &str) -> Ordering {
        match (index(a), index(b)) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.encode_utf16().cmp(b.encode_utf16()),
        }
    }
    match value {
        Value::Object(members) => {
            assert!(
                members
                    .windows(2)
                    .all(|pair| order(&pair[0].0, &pair[1].0) == Ordering::Less),
                "{value}"
            );
            members
                .iter()
                .for_each(|(_, inner)| assert_in_javascript_order(inner));
        }
        Value::Array(items) => items.iter().for_each(assert_in_javascript_order),
        _ => {}
    }
}
