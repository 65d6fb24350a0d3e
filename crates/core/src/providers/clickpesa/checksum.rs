//! ClickPesa's "canonical" checksum: HMAC-SHA256 over the body's compact JSON
//! with keys sorted at every depth, leaving out `checksum` and
//! `checksumMethod`. The same recipe signs requests and verifies webhooks.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Top-level fields that carry the signature and are never signed themselves.
const SIGNATURE_FIELDS: [&str; 2] = ["checksum", "checksumMethod"];

/// The canonical string that is signed: compact JSON, object keys sorted
/// at every depth (arrays keep their order), text as raw UTF-8 like
/// JavaScript's `JSON.stringify`.
pub fn canonical_json(body: &Value) -> String {
    let stripped = match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !SIGNATURE_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    let mut out = String::new();
    write_sorted(&stripped, &mut out);
    out
}

fn write_sorted(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(key) {
                    write_sorted(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The lower-case hex HMAC-SHA256 of [`canonical_json`] under `key`.
pub fn compute(key: &[u8], body: &Value) -> String {
    let mut mac = hmac_for(key);
    mac.update(canonical_json(body).as_bytes());
    to_hex(&mac.finalize().into_bytes())
}

/// Adds the `checksum` field to a JSON object body (other bodies are left alone).
pub fn sign(key: &[u8], body: &mut Value) {
    let checksum = compute(key, body);
    if let Value::Object(map) = body {
        map.insert("checksum".to_owned(), Value::String(checksum));
    }
}

/// Checks the `checksum` carried inside a JSON object body, in constant time.
/// Only the canonical method is accepted; a body that asks for another
/// `checksumMethod` does not verify.
pub fn verify(key: &[u8], body: &Value) -> bool {
    let Some(map) = body.as_object() else {
        return false;
    };
    if !method_is_canonical(map) {
        return false;
    }
    let Some(given) = map.get("checksum").and_then(Value::as_str) else {
        return false;
    };
    let expected = compute(key, body);
    let given = given.to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

fn method_is_canonical(map: &Map<String, Value>) -> bool {
    match map.get("checksumMethod") {
        None | Some(Value::Null) => true,
        Some(Value::String(method)) => method.eq_ignore_ascii_case("canonical"),
        Some(_) => false,
    }
}

fn hmac_for(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = b"secret-key";

    /// The vectors of specs/clickpesa.md §7.5 (key `secret-key`).
    fn vectors() -> Vec<(Value, &'static str, &'static str)> {
        vec![
            (
                json!({"amount":100,"currency":"USD","reference":"TX123",
                       "exchange":{"fromCurrency":"TZS","toCurrency":"TZS","rate":"1","amount":"1000"},
                       "customer":{"name":"John Doe","email":"john@example.com","phone":"+255123456789"}}),
                r#"{"amount":100,"currency":"USD","customer":{"email":"john@example.com","name":"John Doe","phone":"+255123456789"},"exchange":{"amount":"1000","fromCurrency":"TZS","rate":"1","toCurrency":"TZS"},"reference":"TX123"}"#,
                "d777a80827f17cf7882f9ac5efa68416ec680e2d1ab72ad415228d00e4ac4957",
            ),
            (
                json!({"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678"}),
                r#"{"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678"}"#,
                "9d6548c3728f656cef3b7ecbdc781419cb3cf48662951666dc2187193d1b704f",
            ),
            (
                json!({"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678","fetchSenderDetails":false}),
                r#"{"amount":"1000","currency":"TZS","fetchSenderDetails":false,"orderReference":"ORDER123","phoneNumber":"255712345678"}"#,
                "4df5a5a878bdb4d633c31f653f2cedd045ac2bd30b59d1b6b3cfe1e1439e743b",
            ),
            (
                json!({"amount":5000,"phoneNumber":"255712345678","currency":"TZS","orderReference":"PAY001"}),
                r#"{"amount":5000,"currency":"TZS","orderReference":"PAY001","phoneNumber":"255712345678"}"#,
                "bacc465498f3e3f304c0844221afb4f0bab82c0130729c73281e157bd8c58314",
            ),
            (
                json!({"orderReference":"ORD42","orderCurrency":"TZS",
                       "orderItems":[{"name":"Tea","price":"1500","quantity":2},{"quantity":1,"price":"500","name":"Bun"}]}),
                r#"{"orderCurrency":"TZS","orderItems":[{"name":"Tea","price":"1500","quantity":2},{"name":"Bun","price":"500","quantity":1}],"orderReference":"ORD42"}"#,
                "a1fdbac5572fff346ae074f2b947de41f37c8a50aa131dae65415e761ef2cb5e",
            ),
            (
                json!({"description":"Malipo ya ada — ©/2026","orderReference":"U1"}),
                r#"{"description":"Malipo ya ada — ©/2026","orderReference":"U1"}"#,
                "79a77c957f6d9787542f77611d5112766dea25fdacadf6ddfc8c240b33157d81",
            ),
            (
                json!({"amount":1000.5,"orderReference":"F1"}),
                r#"{"amount":1000.5,"orderReference":"F1"}"#,
                "f5ab6056a6ddd01f4c1f53b1d861c8706d80851576ad0c4b3cea266523a23170",
            ),
            (
                json!({"event":"PAYMENT RECEIVED","data":{
                    "id":"ORD123456LCP7890","status":"SUCCESS","paymentReference":"abc123def456ghi789",
                    "orderReference":"ORD123456","collectedAmount":"10000","collectedCurrency":"TZS",
                    "message":"success","updatedAt":"2024-04-10T18:22:56.153Z","createdAt":"2024-04-10T18:22:16.949Z",
                    "channel":"TIGO-PESA",
                    "customer":{"customerName":"John Doe","customerPhoneNumber":"255700000000","customerEmail":"john@example.com"}}}),
                r#"{"data":{"channel":"TIGO-PESA","collectedAmount":"10000","collectedCurrency":"TZS","createdAt":"2024-04-10T18:22:16.949Z","customer":{"customerEmail":"john@example.com","customerName":"John Doe","customerPhoneNumber":"255700000000"},"id":"ORD123456LCP7890","message":"success","orderReference":"ORD123456","paymentReference":"abc123def456ghi789","status":"SUCCESS","updatedAt":"2024-04-10T18:22:56.153Z"},"event":"PAYMENT RECEIVED"}"#,
                "a005d73256fd1103df33735ffc5e1bde27bae607586800a8628e4b2f46d73516",
            ),
        ]
    }

    #[test]
    fn published_vectors_give_the_expected_canonical_string_and_digest() {
        for (body, canonical, digest) in vectors() {
            assert_eq!(canonical_json(&body), canonical);
            assert_eq!(compute(KEY, &body), digest, "body {canonical}");
        }
    }

    #[test]
    fn signature_fields_do_not_change_the_digest() {
        for (mut body, _, digest) in vectors() {
            if let Value::Object(map) = &mut body {
                map.insert("checksum".into(), json!("0000"));
                map.insert("checksumMethod".into(), json!("canonical"));
            }
            assert_eq!(compute(KEY, &body), digest);
        }
    }

    #[test]
    fn sign_then_verify_round_trips_and_tampering_is_caught() {
        let mut body = json!({"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678"});
        sign(KEY, &mut body);
        assert_eq!(
            body["checksum"],
            "9d6548c3728f656cef3b7ecbdc781419cb3cf48662951666dc2187193d1b704f"
        );
        assert!(verify(KEY, &body));
        assert!(!verify(b"other-key", &body));
        body["amount"] = json!("1001");
        assert!(!verify(KEY, &body));
    }

    #[test]
    fn verify_refuses_missing_checksum_legacy_method_and_non_objects() {
        let unsigned = json!({"event":"PAYMENT RECEIVED"});
        assert!(!verify(KEY, &unsigned));
        let mut legacy = json!({"amount":100,"currency":"USD","reference":"TX123"});
        sign(KEY, &mut legacy);
        legacy["checksumMethod"] = json!("legacy");
        assert!(!verify(KEY, &legacy));
        assert!(!verify(KEY, &json!(["checksum"])));
    }

    /// Found by the property tests: without exact float parsing, these
    /// numbers came back one ulp off after a trip through JSON text, so the
    /// canonical string changed and a correctly signed body did not verify.
    #[test]
    fn floats_survive_a_trip_through_text() {
        for text in [
            r#"{"":[{"":2.5235132151159298e97}]}"#,
            r#"{"":[{"":-4.756492604236611e117}]}"#,
            r#"{"":[-1.4217651257789108e-202]}"#,
        ] {
            let body: Value = serde_json::from_str(text).unwrap_or_default();
            let canonical = canonical_json(&body);
            let again: Value = serde_json::from_str(&canonical).unwrap_or_default();
            assert_eq!(again, body, "{text}");
            assert_eq!(canonical_json(&again), canonical, "{text}");
            let mut signed = body;
            sign(KEY, &mut signed);
            let received: Value = serde_json::from_str(&signed.to_string()).unwrap_or_default();
            assert!(verify(KEY, &received), "{text}");
        }
    }
}
