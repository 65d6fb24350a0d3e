//! The ClickPesa checksum recipe on arbitrary JSON (the whole input).
//!
//! Checks: the canonical string re-parses to the same value (less the
//! top-level signature fields), canonicalising it again changes nothing,
//! its object keys are sorted at every depth, member order does not matter,
//! the signature fields never change the digest, and whatever `sign`
//! produces verifies, also after a trip through JSON text.
//!
//! This crate enables serde_json's `preserve_order`, so objects keep the
//! order they were written in and the sorting really is `canonical_json`'s.

#![no_main]

use finconnect_core::providers::clickpesa::checksum::{canonical_json, compute, sign, verify};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const KEY: &[u8] = b"secret-key";

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    let canonical = canonical_json(&value);
    let reparsed: Value = serde_json::from_str(&canonical)
        .unwrap_or_else(|e| panic!("canonical string is not JSON ({e}): {canonical}"));
    assert_eq!(reparsed, without_signature_fields(&value), "{canonical}");
    assert_eq!(canonical_json(&reparsed), canonical, "not stable");
    assert_sorted(&reparsed);

    let digest = compute(KEY, &value);
    assert!(
        digest.len() == 64
            && digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    assert_eq!(
        compute(KEY, &reversed(&value)),
        digest,
        "member order changed the digest"
    );

    let Value::Object(map) = &value else {
        // Non-objects cannot carry a checksum: never verified, never signed.
        assert!(!verify(KEY, &value));
        let mut unsigned = value.clone();
        sign(KEY, &mut unsigned);
        assert_eq!(unsigned, value);
        return;
    };

    // verify agrees with compute.
    let carried = map.get("checksum").and_then(Value::as_str);
    let method_ok = match map.get("checksumMethod") {
        None | Some(Value::Null) => true,
        Some(Value::String(method)) => method.eq_ignore_ascii_case("canonical"),
        Some(_) => false,
    };
    let expected = method_ok && carried.is_some_and(|c| c.eq_ignore_ascii_case(&digest));
    assert_eq!(verify(KEY, &value), expected);

    // Adding or replacing the signature fields never changes the digest.
    let mut with_fields = value.clone();
    with_fields["checksum"] = Value::String("0".repeat(64));
    with_fields["checksumMethod"] = Value::String("canonical".to_owned());
    assert_eq!(compute(KEY, &with_fields), digest);

    // What sign produces verifies (unless the body asks for another method),
    // here and on the other side of a trip through text.
    let mut signed = value.clone();
    sign(KEY, &mut signed);
    assert_eq!(signed["checksum"], Value::String(digest.clone()));
    assert_eq!(verify(KEY, &signed), method_ok);
    let received: Value = serde_json::from_str(&signed.to_string())
        .unwrap_or_else(|e| panic!("signed body is not JSON: {e}"));
    assert_eq!(verify(KEY, &received), method_ok, "{signed}");
    assert!(!verify(b"another-key", &signed));
});

fn without_signature_fields(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !matches!(key.as_str(), "checksum" | "checksumMethod"))
                .map(|(key, inner)| (key.clone(), inner.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The same value with every object's members in reverse order.
fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let members: Map<String, Value> = map
                .iter()
                .rev()
                .map(|(key, inner)| (key.clone(), reversed(inner)))
                .collect();
            Value::Object(members)
        }
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        scalar => scalar.clone(),
    }
}

/// Object keys appear in sorted order at every depth (the map keeps the
/// order the canonical text had).
fn assert_sorted(value: &Value) {
    match value {
        Value::Object(map) => {
            let keys: Vec<&String> = map.keys().collect();
            assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
            map.values().for_each(assert_sorted);
        }
        Value::Array(items) => items.iter().for_each(assert_sorted),
        _ => {}
    }
}
