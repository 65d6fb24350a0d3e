//! ClickPesa's "canonical" checksum: HMAC-SHA256 over the compact JSON that
//! ClickPesa's JavaScript reference code prints for the body, leaving out the
//! top-level `checksum` and `checksumMethod`. The same recipe signs requests
//! and verifies webhooks.
//!
//! The reference (docs page `/home/checksum`) parses the body with
//! `JSON.parse`, rebuilds every object with `Object.keys(obj).sort()` and
//! prints the result with `JSON.stringify`. [`canonical_json`] reproduces what
//! that prints, JavaScript's quirks included:
//!
//! - keys are sorted by UTF-16 code units (what `Array.prototype.sort` compares),
//!   not by code points;
//! - keys that are array indices (`"0"`, `"7"`, `"42"`, up to 2³² − 2) come
//!   first, in numeric order, because a JavaScript object lists them so;
//! - a `__proto__` key disappears: assigning it to the rebuilt object sets the
//!   prototype instead of adding a member;
//! - arrays keep their order, objects inside them are rebuilt too;
//! - strings are escaped as `JSON.stringify` escapes them (serde_json
//!   escapes exactly the same characters the same way);
//! - numbers are printed as JavaScript prints a double, see [`javascript_number`].
//!
//! A number whose double JavaScript may print differently from the written
//! digits (more than 15 significant digits, unless it is an integer of at
//! most 2⁵³; or a decimal exponent beyond ±307) cannot be printed the way the
//! signer did without float arithmetic. Such a body has no canonical string
//! here: [`compute`] and [`sign`] refuse it and [`verify`] says it is not
//! verified (fail closed). Amounts never come near that limit. A useful
//! consequence: every number that is canonicalised stands for exactly one
//! decimal value, so no two different values share a signature (`1000`,
//! `1000.0` and `1e3` sign alike, and they are the same value).

use crate::providers::Members;
use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use sha2::Sha256;
use std::cmp::Ordering;
use subtle::ConstantTimeEq;

/// A JSON document as the checksum reads it. serde_json's own `Value` turns
/// numbers into binary floats and integers, losing the text the signer
/// wrote; here a number stays that exact text (read through serde_json's
/// `RawValue`), which [`javascript_number`] then spells as JavaScript would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, as the exact text it was written with (`1500.00`, `1e3`).
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: members in the order they came, each key once (a key
    /// given twice keeps its first position and its last value).
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Parses one JSON document (surrounding whitespace allowed, nothing
    /// else); serde_json's error says what is wrong and where.
    pub fn parse(input: &[u8]) -> Result<Value, serde_json::Error> {
        let text = std::str::from_utf8(input)
            .map_err(|_| <serde_json::Error as serde::de::Error>::custom("not UTF-8 text"))?;
        let raw: &RawValue = serde_json::from_str(text)?;
        Value::from_raw(raw)
    }

    /// Reads one value of text serde_json has already checked.
    fn from_raw(raw: &RawValue) -> Result<Value, serde_json::Error> {
        let text = raw.get();
        Ok(match text.as_bytes().first() {
            Some(b'{') => {
                let Members(members) = Members::parse(text)?;
                let mut object: Vec<(String, Value)> = Vec::with_capacity(members.len());
                for (key, raw) in members {
                    let value = Value::from_raw(raw)?;
                    match object.iter_mut().find(|(existing, _)| *existing == key) {
                        Some(member) => member.1 = value,
                        None => object.push((key.into_owned(), value)),
                    }
                }
                Value::Object(object)
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text)?;
                Value::Array(
                    items
                        .into_iter()
                        .map(Value::from_raw)
                        .collect::<Result<_, _>>()?,
                )
            }
            Some(b'"') => Value::String(serde_json::from_str(text)?),
            Some(b't') => Value::Bool(true),
            Some(b'f') => Value::Bool(false),
            Some(b'n') | None => Value::Null,
            Some(_) => Value::Number(text.to_owned()),
        })
    }

    /// The member `key` of an object (`None` for anything else).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// The members of an object.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// Compact JSON text, strings escaped by serde_json (as `JSON.stringify`
    /// escapes them), numbers as their text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Compact JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.to_json().into_bytes()
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
            Value::Number(text) => out.push_str(text),
            Value::String(text) => write_string(text, out),
            Value::Array(items) => {
                out.push('[');
                for (at, item) in items.iter().enumerate() {
                    if at > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (at, (key, value)) in members.iter().enumerate() {
                    if at > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::String(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::String(text)
    }
}

/// A string as JSON text (serde_json cannot fail on a `str`).
fn write_string(text: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

/// Top-level fields that carry the signature and are never signed themselves.
const SIGNATURE_FIELDS: [&str; 2] = ["checksum", "checksumMethod"];

/// Significant digits every double reproduces exactly (`DBL_DIG`): a decimal
/// with this many digits or fewer reads into a double and prints back the same.
const EXACT_DIGITS: usize = 15;

/// Decimal exponents (of `d.ddd × 10^e`) where doubles are normal and finite
/// with room to spare, so [`EXACT_DIGITS`] holds.
const EXPONENT_RANGE: std::ops::RangeInclusive<i64> = -307..=307;

/// The largest integer up to which every integer is a double (2⁵³).
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// A body holds a number whose JavaScript spelling cannot be reproduced
/// without float rounding, so it cannot be signed or verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the number `{0}` may be rounded by JavaScript (more than 15 significant digits, or out of range), so the body cannot be checksummed"
)]
pub struct UnreproducibleNumber(pub String);

/// The canonical string that is signed: what ClickPesa's JavaScript prints
/// for the body without its top-level signature fields (see the module docs).
pub fn canonical_json(body: &Value) -> Result<String, UnreproducibleNumber> {
    let canonical = match body {
        Value::Object(members) => canonical_object(members, &SIGNATURE_FIELDS)?,
        other => canonical_value(other)?,
    };
    Ok(canonical.to_json())
}

/// The value as JavaScript would rebuild it: objects sorted, numbers respelt.
fn canonical_value(value: &Value) -> Result<Value, UnreproducibleNumber> {
    Ok(match value {
        Value::Number(text) => Value::Number(
            javascript_number(text).ok_or_else(|| UnreproducibleNumber(text.clone()))?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(canonical_value)
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(members) => canonical_object(members, &[])?,
        Value::Null | Value::Bool(_) | Value::String(_) => value.clone(),
    })
}

/// An object rebuilt the JavaScript way, without the members named in `left_out`.
/// (One non-generic function, so the sort is compiled once.)
fn canonical_object(
    members: &[(String, Value)],
    left_out: &[&str],
) -> Result<Value, UnreproducibleNumber> {
    let mut sorted = members
        .iter()
        .filter(|(key, _)| key != "__proto__" && !left_out.contains(&key.as_str()))
        .map(|(key, value)| Ok((key.clone(), canonical_value(value)?)))
        .collect::<Result<Vec<_>, _>>()?;
    sorted.sort_by(|(a, _), (b, _)| javascript_key_order(a, b));
    // A JavaScript object has each key once, holding the last value given.
    // (`Value::parse` already guarantees this; a hand-built tree might not.)
    sorted.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
    Ok(Value::Object(sorted))
}

/// The order `JSON.stringify` lists the members of an object whose keys were
/// added in `sort()` order: array indices first by value, then the rest by
/// UTF-16 code units.
fn javascript_key_order(a: &str, b: &str) -> Ordering {
    match (array_index(a), array_index(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

/// The value of a key JavaScript treats as an array index: the canonical
/// decimal spelling of an integer from 0 to 2³² − 2.
fn array_index(key: &str) -> Option<u32> {
    let canonical = key == "0" || (!key.starts_with('0') && (1..=10).contains(&key.len()));
    if !canonical || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|index| *index != u32::MAX)
}

/// How JavaScript prints the JSON number `text` after reading it into a
/// double (`String(JSON.parse(text))`), or `None` when that cannot be known
/// from the text alone.
///
/// The text is reduced to its significant digits `s` (k of them, no leading
/// or trailing zeros) and the position `n` of the decimal point, so the value
/// is `0.s × 10^n`; zero (also `-0`) prints `0`. Then ECMAScript's
/// Number::toString applies:
///
/// - `k ≤ n ≤ 21`: the digits and `n − k` zeros (`1e3` → `1000`);
/// - `0 < n ≤ 21`: the digits with a point after the first `n` (`1.50` → `1.5`);
/// - `−6 < n ≤ 0`: `0.`, `−n` zeros, the digits (`1e-6` → `0.000001`);
/// - otherwise `d[.ddd]e±x` with `x = n − 1` (`1e21` → `1e+21`, `1e-7` → `1e-7`);
///
/// and a minus sign in front of a negative value.
///
/// That is JavaScript's output whenever the written digits are sure to be the
/// shortest that read back as the same double: at most 15 significant digits
/// with a decimal exponent within ±307 (any such decimal survives a trip
/// through a double), or an integer of at most 2⁵³ in magnitude (which a
/// double holds exactly, with no shorter neighbour). Anything else
/// (such as `0.30000000000000001`, which JavaScript prints as `0.3`, or
/// `9007199254740993`, printed as `9007199254740992`) gives `None`. So does
/// text that is not a JSON number.
pub fn javascript_number(text: &str) -> Option<String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) if is_digits(fraction) => (whole, fraction),
        Some(_) => return None,
        None => (mantissa, ""),
    };
    if !is_digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    let exponent = match exponent {
        Some(exponent) => parse_exponent(exponent)?,
        None => 0,
    };

    // The value is `digits × 10^scale` with `digits` = whole ++ fraction.
    let digits = || whole.bytes().chain(fraction.bytes());
    let leading = digits().take_while(|b| *b == b'0').count();
    let total = whole.len() + fraction.len();
    if leading == total {
        return Some("0".to_owned());
    }
    let trailing = digits().rev().take_while(|b| *b == b'0').count();
    let significant: Vec<u8> = digits()
        .skip(leading)
        .take(total - leading - trailing)
        .collect();
    let k = significant.len();
    // n = scale + k, where scale = exponent − |fraction| + trailing.
    let n = exponent
        .saturating_sub(count(fraction.len()))
        .saturating_add(count(trailing))
        .saturating_add(count(k));

    let exact = (k <= EXACT_DIGITS && EXPONENT_RANGE.contains(&n.saturating_sub(1)))
        || is_exact_integer(&significant, n);
    if !exact {
        return None;
    }
    let mut out = String::with_capacity(k + 24);
    if negative {
        out.push('-');
    }
    let digits_text = std::str::from_utf8(&significant).ok()?;
    match usize::try_from(n) {
        Ok(n) if (k..=21).contains(&n) => {
            out.push_str(digits_text);
            out.extend(std::iter::repeat_n('0', n - k));
        }
        Ok(n) if (1..=21).contains(&n) => {
            out.push_str(&digits_text[..n]);
            out.push('.');
            out.push_str(&digits_text[n..]);
        }
        _ if (-5..=0).contains(&n) => {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', n.unsigned_abs() as usize));
            out.push_str(digits_text);
        }
        _ => {
            out.push_str(&digits_text[..1]);
            if k > 1 {
                out.push('.');
                out.push_str(&digits_text[1..]);
            }
            out.push('e');
            out.push(if n > 0 { '+' } else { '-' });
            out.push_str(&n.saturating_sub(1).unsigned_abs().to_string());
        }
    }
    Some(out)
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A length as an exponent adjustment (lengths never come near `i64::MAX`).
fn count(length: usize) -> i64 {
    i64::try_from(length).unwrap_or(i64::MAX)
}

/// The exponent after `e`: optional sign, digits; huge values saturate (they
/// are out of range either way).
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if !is_digits(digits) {
        return None;
    }
    let magnitude = digits.bytes().fold(0i64, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(i64::from(digit - b'0'))
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// True when `0.digits × 10^n` is an integer no larger than 2⁵³, which a
/// double holds exactly and JavaScript prints digit for digit.
fn is_exact_integer(significant: &[u8], n: i64) -> bool {
    let Ok(width) = usize::try_from(n) else {
        return false;
    };
    if width < significant.len() || width > 16 {
        return false;
    }
    let value = significant
        .iter()
        .map(|digit| u64::from(digit - b'0'))
        .chain(std::iter::repeat_n(0, width - significant.len()))
        .fold(0u64, |value, digit| value * 10 + digit);
    value <= MAX_EXACT_INTEGER
}

/// The lower-case hex HMAC-SHA256 of [`canonical_json`] under `key`.
pub fn compute(key: &[u8], body: &Value) -> Result<String, UnreproducibleNumber> {
    let mut mac = hmac_for(key);
    mac.update(canonical_json(body)?.as_bytes());
    Ok(to_hex(&mac.finalize().into_bytes()))
}

/// Sets the `checksum` member of a JSON object body (replacing one already
/// there; other bodies are left alone). A body [`compute`] refuses is left
/// unchanged and the refusal returned.
pub fn sign(key: &[u8], body: &mut Value) -> Result<(), UnreproducibleNumber> {
    if !matches!(body, Value::Object(_)) {
        return Ok(());
    }
    let checksum = Value::String(compute(key, body)?);
    if let Value::Object(members) = body {
        match members.iter_mut().find(|(name, _)| name == "checksum") {
            Some(member) => member.1 = checksum,
            None => members.push(("checksum".to_owned(), checksum)),
        }
    }
    Ok(())
}

/// Checks the `checksum` carried inside a JSON object body, in constant time.
/// Only the canonical method is accepted; a body that asks for another
/// `checksumMethod`, or that holds a number [`compute`] refuses, does not
/// verify.
pub fn verify(key: &[u8], body: &Value) -> bool {
    if body.as_object().is_none() || !method_is_canonical(body) {
        return false;
    }
    let Some(given) = body.get("checksum").and_then(Value::as_str) else {
        return false;
    };
    let Ok(expected) = compute(key, body) else {
        return false;
    };
    let given = given.to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

fn method_is_canonical(body: &Value) -> bool {
    match body.get("checksumMethod") {
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

    const KEY: &[u8] = b"secret-key";

    fn parse(text: &str) -> Value {
        Value::parse(text.as_bytes()).unwrap_or_else(|e| unreachable!("{e}: {text}"))
    }

    fn canonical(text: &str) -> String {
        canonical_json(&parse(text)).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn digest(body: &Value) -> String {
        compute(KEY, body).unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// The vectors of specs/clickpesa.md §7.5 (key `secret-key`): the body
    /// as sent, its canonical string, its digest.
    const VECTORS: [(&str, &str, &str); 8] = [
        (
            r#"{"amount":100,"currency":"USD","reference":"TX123",
                "exchange":{"fromCurrency":"TZS","toCurrency":"TZS","rate":"1","amount":"1000"},
                "customer":{"name":"John Doe","email":"john@example.com","phone":"+255123456789"}}"#,
            r#"{"amount":100,"currency":"USD","customer":{"email":"john@example.com","name":"John Doe","phone":"+255123456789"},"exchange":{"amount":"1000","fromCurrency":"TZS","rate":"1","toCurrency":"TZS"},"reference":"TX123"}"#,
            "d777a80827f17cf7882f9ac5efa68416ec680e2d1ab72ad415228d00e4ac4957",
        ),
        (
            r#"{"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678"}"#,
            r#"{"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678"}"#,
            "9d6548c3728f656cef3b7ecbdc781419cb3cf48662951666dc2187193d1b704f",
        ),
        (
            r#"{"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678","fetchSenderDetails":false}"#,
            r#"{"amount":"1000","currency":"TZS","fetchSenderDetails":false,"orderReference":"ORDER123","phoneNumber":"255712345678"}"#,
            "4df5a5a878bdb4d633c31f653f2cedd045ac2bd30b59d1b6b3cfe1e1439e743b",
        ),
        (
            r#"{"amount":5000,"phoneNumber":"255712345678","currency":"TZS","orderReference":"PAY001"}"#,
            r#"{"amount":5000,"currency":"TZS","orderReference":"PAY001","phoneNumber":"255712345678"}"#,
            "bacc465498f3e3f304c0844221afb4f0bab82c0130729c73281e157bd8c58314",
        ),
        (
            r#"{"orderReference":"ORD42","orderCurrency":"TZS",
                "orderItems":[{"name":"Tea","price":"1500","quantity":2},{"quantity":1,"price":"500","name":"Bun"}]}"#,
            r#"{"orderCurrency":"TZS","orderItems":[{"name":"Tea","price":"1500","quantity":2},{"name":"Bun","price":"500","quantity":1}],"orderReference":"ORD42"}"#,
            "a1fdbac5572fff346ae074f2b947de41f37c8a50aa131dae65415e761ef2cb5e",
        ),
        (
            r#"{"description":"Malipo ya ada — ©/2026","orderReference":"U1"}"#,
            r#"{"description":"Malipo ya ada — ©/2026","orderReference":"U1"}"#,
            "79a77c957f6d9787542f77611d5112766dea25fdacadf6ddfc8c240b33157d81",
        ),
        (
            r#"{"amount":1000.5,"orderReference":"F1"}"#,
            r#"{"amount":1000.5,"orderReference":"F1"}"#,
            "f5ab6056a6ddd01f4c1f53b1d861c8706d80851576ad0c4b3cea266523a23170",
        ),
        (
            r#"{"event":"PAYMENT RECEIVED","data":{
                "id":"ORD123456LCP7890","status":"SUCCESS","paymentReference":"abc123def456ghi789",
                "orderReference":"ORD123456","collectedAmount":"10000","collectedCurrency":"TZS",
                "message":"success","updatedAt":"2024-04-10T18:22:56.153Z","createdAt":"2024-04-10T18:22:16.949Z",
                "channel":"TIGO-PESA",
                "customer":{"customerName":"John Doe","customerPhoneNumber":"255700000000","customerEmail":"john@example.com"}}}"#,
            r#"{"data":{"channel":"TIGO-PESA","collectedAmount":"10000","collectedCurrency":"TZS","createdAt":"2024-04-10T18:22:16.949Z","customer":{"customerEmail":"john@example.com","customerName":"John Doe","customerPhoneNumber":"255700000000"},"id":"ORD123456LCP7890","message":"success","orderReference":"ORD123456","paymentReference":"abc123def456ghi789","status":"SUCCESS","updatedAt":"2024-04-10T18:22:56.153Z"},"event":"PAYMENT RECEIVED"}"#,
            "a005d73256fd1103df33735ffc5e1bde27bae607586800a8628e4b2f46d73516",
        ),
    ];

    #[test]
    fn published_vectors_give_the_expected_canonical_string_and_digest() {
        for (body, expected, expected_digest) in VECTORS {
            let body = parse(body);
            assert_eq!(canonical_json(&body).as_deref(), Ok(expected));
            assert_eq!(digest(&body), expected_digest, "body {expected}");
        }
    }

    #[test]
    fn signature_fields_do_not_change_the_digest() {
        for (body, _, expected_digest) in VECTORS {
            let Value::Object(mut members) = parse(body) else {
                unreachable!("vectors are objects")
            };
            members.insert(0, ("checksum".into(), Value::String("0000".into())));
            members.push(("checksumMethod".into(), Value::String("canonical".into())));
            assert_eq!(digest(&Value::Object(members)), expected_digest);
        }
    }

    #[test]
    fn sign_then_verify_round_trips_and_tampering_is_caught() {
        let mut body = parse(VECTORS[1].0);
        assert_eq!(sign(KEY, &mut body), Ok(()));
        assert_eq!(
            body.get("checksum").and_then(Value::as_str),
            Some("9d6548c3728f656cef3b7ecbdc781419cb3cf48662951666dc2187193d1b704f")
        );
        assert!(verify(KEY, &body));
        assert!(!verify(b"other-key", &body));
        let received = parse(&body.to_json());
        assert!(verify(KEY, &received));
        // Signing again replaces the checksum in place.
        assert_eq!(sign(KEY, &mut body), Ok(()));
        assert_eq!(body, received);
        if let Value::Object(members) = &mut body {
            members[0].1 = Value::String("1001".into());
        }
        assert!(!verify(KEY, &body));
    }

    #[test]
    fn verify_refuses_missing_checksum_legacy_method_and_non_objects() {
        let unsigned = parse(r#"{"event":"PAYMENT RECEIVED"}"#);
        assert!(!verify(KEY, &unsigned));
        let mut legacy = parse(r#"{"amount":100,"currency":"USD","reference":"TX123"}"#);
        assert_eq!(sign(KEY, &mut legacy), Ok(()));
        assert!(verify(KEY, &legacy));
        if let Value::Object(members) = &mut legacy {
            members.push(("checksumMethod".into(), Value::String("legacy".into())));
        }
        assert!(!verify(KEY, &legacy));
        let mut list = parse(r#"["checksum"]"#);
        assert_eq!(sign(KEY, &mut list), Ok(()));
        assert_eq!(list, parse(r#"["checksum"]"#));
        assert!(!verify(KEY, &list));
    }

    /// Numbers as `JSON.stringify(JSON.parse(text))` prints them: each pair
    /// follows from ECMAScript's Number::toString, and none depends on
    /// rounding.
    #[test]
    fn numbers_are_spelt_as_javascript_spells_them() {
        for (text, javascript) in [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("0.000", "0"),
            ("0e7", "0"),
            ("-0E-400", "0"),
            ("1", "1"),
            ("-1", "-1"),
            ("100", "100"),
            ("1000.0", "1000"),
            ("1000.5", "1000.5"),
            ("1000.50", "1000.5"),
            ("1.50", "1.5"),
            ("0.1", "0.1"),
            ("-0.25", "-0.25"),
            ("1e3", "1000"),
            ("1E3", "1000"),
            ("1e+3", "1000"),
            ("1.5e3", "1500"),
            ("123e-2", "1.23"),
            ("1234.5e-1", "123.45"),
            ("0.0012e3", "1.2"),
            ("100e-2", "1"),
            ("1e20", "100000000000000000000"),
            ("100000000000000000000", "100000000000000000000"),
            ("123456789012345e6", "123456789012345000000"),
            ("1e21", "1e+21"),
            ("1000000000000000000000", "1e+21"),
            ("12e20", "1.2e+21"),
            ("1.5e300", "1.5e+300"),
            ("-2.5e+22", "-2.5e+22"),
            ("0.000001", "0.000001"),
            ("1e-6", "0.000001"),
            ("1.2e-6", "0.0000012"),
            ("0.0000001", "1e-7"),
            ("1e-7", "1e-7"),
            ("-1.5e-9", "-1.5e-9"),
            ("123.456e-10", "1.23456e-8"),
            ("1e307", "1e+307"),
            ("1e-307", "1e-307"),
            ("999999999999999", "999999999999999"),
            ("0.123456789012345", "0.123456789012345"),
            ("9007199254740992", "9007199254740992"),
            ("-9007199254740992", "-9007199254740992"),
            ("9007199254740991", "9007199254740991"),
            ("1234567890123456", "1234567890123456"),
            ("9007199254740.992e3", "9007199254740992"),
            ("10000000000000000.0", "10000000000000000"),
        ] {
            assert_eq!(
                javascript_number(text).as_deref(),
                Some(javascript),
                "{text}"
            );
        }
    }

    /// Where JavaScript's double is not the written decimal, or the text is
    /// not a JSON number, there is no answer.
    #[test]
    fn numbers_javascript_would_round_have_no_spelling() {
        for text in [
            // 16 or 17 significant digits that a double does not hold.
            "0.30000000000000001",
            "1.0000000000000001",
            "9007199254740993",
            "9007199254740994",
            "12345678901234567",
            "1234567890123456.5",
            "2.5235132151159298e97",
            "-4.756492604236611e117",
            "12345678901234567890",
            // Beyond the range where 15 digits are safe (or at all finite).
            "1e308",
            "1.7976931348623157e308",
            "1e400",
            "5e-324",
            "1e-308",
            "1e99999999999999999999999",
            "1e-99999999999999999999999",
            // Not JSON numbers.
            "",
            "-",
            "+1",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "0x10",
            "1_000",
            "NaN",
            "Infinity",
            "1.2.3",
            "--1",
            " 1",
        ] {
            assert_eq!(javascript_number(text), None, "{text}");
        }
    }

    /// Key order as `JSON.stringify` lists the members of the object the
    /// reference code rebuilds with `Object.keys(obj).sort()`.
    #[test]
    fn keys_are_ordered_as_a_javascript_object_lists_them() {
        for (body, expected) in [
            (
                r#"{"b":1,"a":2,"10":3,"9":4,"01":5,"-1":6,"0":7}"#,
                r#"{"0":7,"9":4,"10":3,"-1":6,"01":5,"a":2,"b":1}"#,
            ),
            // 2³² − 2 is the last array index; 2³² − 1 sorts as text.
            (
                r#"{"4294967295":1,"4294967294":2,"x":3,"5":4}"#,
                r#"{"5":4,"4294967294":2,"4294967295":1,"x":3}"#,
            ),
            // UTF-16 order: U+1F600 (as D83D DE00) before U+FF61.
            (r#"{"｡":1,"😀":2,"z":3}"#, r#"{"z":3,"😀":2,"｡":1}"#),
            (r#"{"B":1,"a":2,"_":3,"":4}"#, r#"{"":4,"B":1,"_":3,"a":2}"#),
            // `__proto__` does not survive the rebuild, at any depth.
            (
                r#"{"__proto__":{"a":1},"b":[{"__proto__":2,"c":3}]}"#,
                r#"{"b":[{"c":3}]}"#,
            ),
            // Nested signature fields are signed like any other.
            (
                r#"{"data":{"checksum":"x","checksumMethod":"y"},"checksum":"z"}"#,
                r#"{"data":{"checksum":"x","checksumMethod":"y"}}"#,
            ),
            (
                r#"[{"b":1.0,"a":[2e0,{"d":null,"c":true}]},"s",-0]"#,
                r#"[{"a":[2,{"c":true,"d":null}],"b":1},"s",0]"#,
            ),
        ] {
            assert_eq!(canonical(body), expected, "{body}");
        }
    }

    #[test]
    fn a_repeated_key_in_a_built_tree_keeps_its_last_value() {
        let body = Value::Object(vec![
            ("a".into(), Value::Number("1".into())),
            ("b".into(), Value::Null),
            ("a".into(), Value::Number("2".into())),
        ]);
        assert_eq!(canonical_json(&body).as_deref(), Ok(r#"{"a":2,"b":null}"#));
    }

    /// Bodies holding a number JavaScript would round are never signed and
    /// never verified, whatever checksum they carry.
    #[test]
    fn numbers_beyond_exact_reach_fail_closed() {
        for (text, signed_by_javascript) in [
            (
                r#"{"":[{"":2.5235132151159298e97}]}"#,
                r#"{"":[{"":2.5235132151159298e+97}]}"#,
            ),
            (
                r#"{"":[-1.4217651257789108e-202]}"#,
                r#"{"":[-1.4217651257789108e-202]}"#,
            ),
            (r#"{"":0.30000000000000001}"#, r#"{"":0.3}"#),
            (r#"{"":9007199254740993}"#, r#"{"":9007199254740992}"#),
        ] {
            let mut body = parse(text);
            assert!(
                matches!(canonical_json(&body), Err(UnreproducibleNumber(_))),
                "{text}"
            );
            assert!(compute(KEY, &body).is_err(), "{text}");
            let before = body.clone();
            assert!(sign(KEY, &mut body).is_err(), "{text}");
            assert_eq!(body, before, "{text}");
            // Even signed as JavaScript would sign it, it does not verify here.
            let mut mac = hmac_for(KEY);
            mac.update(signed_by_javascript.as_bytes());
            let checksum = to_hex(&mac.finalize().into_bytes());
            if let Value::Object(members) = &mut body {
                members.push(("checksum".into(), Value::String(checksum)));
            }
            assert!(!verify(KEY, &body), "{text}");
        }
    }

    #[test]
    fn a_different_amount_spelling_of_the_same_value_signs_alike() {
        let mut body = parse(r#"{"amount":1000,"orderReference":"F1"}"#);
        assert_eq!(sign(KEY, &mut body), Ok(()));
        let respelt = body
            .to_json()
            .replace(r#""amount":1000,"#, r#""amount":1e3,"#);
        assert!(respelt.contains("1e3") && verify(KEY, &parse(&respelt)));
        let changed = body
            .to_json()
            .replace(r#""amount":1000,"#, r#""amount":1000.01,"#);
        assert!(!verify(KEY, &parse(&changed)));
    }
}
