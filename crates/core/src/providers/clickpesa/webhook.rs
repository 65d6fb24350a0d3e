//! ClickPesa webhooks: `{"event": "...", "data": {...}}` POSTed to the URL
//! configured in the ClickPesa dashboard. When a checksum key is configured,
//! the body must carry a valid top-level `checksum` (canonical method).

use super::checksum::{self, Value};
use super::map_status;
use crate::domain::PaymentStatus;
use crate::error::Error;
use crate::money::Amount;
use crate::secret::Secret;

/// A verified (or, without a checksum key, accepted) webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `PAYMENT RECEIVED`, `PAYMENT FAILED`, `PAYOUT ...`, `DEPOSIT RECEIVED`.
    pub event: String,
    /// The merchant's order reference.
    pub order_reference: Option<String>,
    /// ClickPesa's id for the payment.
    pub tracking_id: Option<String>,
    /// The state the event reports.
    pub status: PaymentStatus,
    /// Amount in major units with two decimals.
    pub amount: Option<String>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Channel (`TIGO-PESA`, `M-PESA`, ...).
    pub channel: Option<String>,
    /// ClickPesa's message (e.g. a failure reason).
    pub message: Option<String>,
    /// Whether a checksum was verified (false only when no key is configured).
    pub verified: bool,
}

/// Why a webhook was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The body is not well-formed JSON text.
    #[error("the webhook body is not well-formed JSON")]
    Malformed,
    /// The body is JSON, but not a webhook envelope.
    #[error(transparent)]
    Invalid(Error),
    /// A checksum key is configured and the body's checksum is missing or wrong.
    #[error("webhook checksum {0}")]
    Unverified(&'static str),
}

/// Parses and, when `checksum_key` is set, verifies a webhook body. The
/// body is read as a [`checksum::Value`], whose numbers keep their exact
/// text: the checksum is computed over what the signer wrote.
pub fn parse(body: &[u8], checksum_key: Option<&Secret>) -> Result<WebhookEvent, WebhookError> {
    let value = Value::parse(body).map_err(|_| WebhookError::Malformed)?;
    if value.as_object().is_none() {
        return Err(WebhookError::Invalid(Error::invalid(
            "body",
            "must be a JSON object",
        )));
    }
    let verified = match checksum_key {
        Some(key) => {
            if value.get("checksum").is_none() {
                return Err(WebhookError::Unverified("is missing"));
            }
            if !checksum::verify(key.expose().as_bytes(), &value) {
                return Err(WebhookError::Unverified("does not match"));
            }
            true
        }
        None => false,
    };
    let event = value
        .get("event")
        .or_else(|| value.get("eventType"))
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| WebhookError::Invalid(Error::invalid("event", "is required")))?
        .to_owned();
    let data = value
        .get("data")
        .filter(|data| data.as_object().is_some())
        .ok_or_else(|| WebhookError::Invalid(Error::invalid("data", "must be an object")))?;
    // The first of `keys` holding a non-empty string or a number.
    let field = |keys: &[&str]| -> Option<&Value> {
        keys.iter().find_map(|key| {
            data.get(key).filter(|value| {
                matches!(value, Value::String(text) | Value::Number(text) if !text.is_empty())
            })
        })
    };
    // Its text; a number as written.
    let text = |keys: &[&str]| match field(keys) {
        Some(Value::String(text) | Value::Number(text)) => Some(text.clone()),
        _ => None,
    };
    let status = match text(&["status"]) {
        Some(status) => map_status(Some(&status)),
        None if event.eq_ignore_ascii_case("PAYMENT RECEIVED") => PaymentStatus::Completed,
        None if event.eq_ignore_ascii_case("PAYMENT FAILED") => PaymentStatus::Failed,
        None => PaymentStatus::Unknown,
    };
    // An amount sent as a number reads as JavaScript prints it, so `1.5e3`
    // is 1500 (numbers are never rounded here: see `javascript_number`).
    let amount = match field(&["collectedAmount", "amount", "depositAmount"]) {
        Some(Value::Number(number)) => checksum::javascript_number(number),
        other => other.and_then(Value::as_str).map(str::to_owned),
    }
    .and_then(|raw| Amount::parse_reported(&raw))
    .map(Amount::fixed2_from_hundredths);
    Ok(WebhookEvent {
        event,
        order_reference: text(&["orderReference"]),
        tracking_id: text(&["id", "paymentId"]),
        status,
        amount,
        currency: text(&["collectedCurrency", "currency", "depositCurrency"]),
        channel: text(&["channel"]),
        message: text(&["message"]),
        verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received() -> Value {
        let body = br#"{"event":"PAYMENT RECEIVED","data":{
            "id":"ORD123456LCP7890","status":"SUCCESS","paymentReference":"abc123def456ghi789",
            "orderReference":"ORD123456","collectedAmount":"10000","collectedCurrency":"TZS",
            "message":"success","channel":"TIGO-PESA","clientId":"ID-should-not-leak"}}"#;
        Value::parse(body).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn signed(key: &[u8]) -> Value {
        let mut body = received();
        checksum::sign(key, &mut body).unwrap_or_else(|e| unreachable!("{e}"));
        body
    }

    #[test]
    fn a_signed_webhook_verifies_and_is_read() {
        let key = Secret::new("secret-key");
        let body = signed(key.expose().as_bytes());
        let event = parse(&body.to_vec(), Some(&key));
        assert_eq!(
            event,
            Ok(WebhookEvent {
                event: "PAYMENT RECEIVED".to_owned(),
                order_reference: Some("ORD123456".to_owned()),
                tracking_id: Some("ORD123456LCP7890".to_owned()),
                status: PaymentStatus::Completed,
                amount: Some("10000.00".to_owned()),
                currency: Some("TZS".to_owned()),
                channel: Some("TIGO-PESA".to_owned()),
                message: Some("success".to_owned()),
                verified: true,
            })
        );
    }

    #[test]
    fn forged_or_unsigned_webhooks_are_refused_when_a_key_is_set() {
        let key = Secret::new("secret-key");
        let unsigned = received().to_vec();
        assert_eq!(
            parse(&unsigned, Some(&key)),
            Err(WebhookError::Unverified("is missing"))
        );
        let forged = signed(b"attacker-key");
        assert_eq!(
            parse(&forged.to_vec(), Some(&key)),
            Err(WebhookError::Unverified("does not match"))
        );
        let tampered = signed(key.expose().as_bytes()).to_json().replace(
            r#""collectedAmount":"10000""#,
            r#""collectedAmount":"99999999""#,
        );
        assert!(tampered.contains("99999999"));
        assert_eq!(
            parse(tampered.as_bytes(), Some(&key)),
            Err(WebhookError::Unverified("does not match"))
        );
        // A number JavaScript would round cannot be verified, so it is refused.
        let mut rounded = received();
        if let Value::Object(members) = &mut rounded {
            members.push(("sequence".into(), Value::Number("12345678901234567".into())));
            members.push(("checksum".into(), Value::String("0".repeat(64))));
        }
        assert_eq!(
            parse(&rounded.to_vec(), Some(&key)),
            Err(WebhookError::Unverified("does not match"))
        );
        assert!(parse(&rounded.to_vec(), None).is_ok());
    }

    #[test]
    fn the_older_envelope_is_accepted_without_a_key() {
        let old = br#"{"eventType":"PAYMENT FAILED","data":{"paymentId":"P1","orderReference":"R1","message":"Insufficient balance"}}"#;
        let event = parse(old, None);
        assert_eq!(event.as_ref().map(|e| e.status), Ok(PaymentStatus::Failed));
        assert_eq!(event.as_ref().map(|e| e.verified), Ok(false));
        assert_eq!(event.map(|e| e.tracking_id), Ok(Some("P1".to_owned())));
    }

    #[test]
    fn data_fields_are_read_from_strings_or_numbers_with_fallbacks() {
        let body = br#"{"event":"PAYMENT RECEIVED","eventType":"PAYMENT FAILED","data":{
            "paymentId":42,"orderReference":"","collectedAmount":"","amount":10000.5,
            "currency":"TZS","channel":true,"message":["no"]}}"#;
        let event = parse(body, None);
        assert_eq!(
            event,
            Ok(WebhookEvent {
                event: "PAYMENT RECEIVED".to_owned(),
                order_reference: None,
                tracking_id: Some("42".to_owned()),
                status: PaymentStatus::Completed,
                amount: Some("10000.50".to_owned()),
                currency: Some("TZS".to_owned()),
                channel: None,
                message: None,
                verified: false,
            })
        );
        // `event` is read first; when it is there but not text, `eventType` is not consulted.
        let odd = br#"{"event":7,"eventType":"PAYMENT FAILED","data":{}}"#;
        assert!(matches!(
            parse(odd, None),
            Err(WebhookError::Invalid(Error::InvalidRequest { field, .. })) if field == "event"
        ));
        // A number in exponent form is an amount; a string in that form is not.
        for (amount, expected) in [
            ("1.5e3", Some("1500.00")),
            ("1000.999", Some("1000.99")),
            (r#""1e3""#, None),
            ("12345678901234567.5", None),
        ] {
            let body = format!(r#"{{"event":"PAYMENT RECEIVED","data":{{"amount":{amount}}}}}"#);
            let event = parse(body.as_bytes(), None);
            assert_eq!(
                event.map(|e| e.amount),
                Ok(expected.map(str::to_owned)),
                "{amount}"
            );
        }
        let unknown =
            br#"{"event":"DEPOSIT RECEIVED","data":{"depositAmount":"5","status":"WHATEVER"}}"#;
        let event = parse(unknown, None);
        assert_eq!(event.as_ref().map(|e| e.status), Ok(PaymentStatus::Unknown));
        assert_eq!(event.map(|e| e.amount), Ok(Some("5.00".to_owned())));
    }

    #[test]
    fn malformed_bodies_name_the_problem() {
        assert_eq!(parse(b"not json", None), Err(WebhookError::Malformed));
        for (body, field) in [
            (&b"[1]"[..], "body"),
            (b"{\"data\":{}}", "event"),
            (b"{\"event\":\"PAYMENT RECEIVED\"}", "data"),
        ] {
            match parse(body, None) {
                Err(WebhookError::Invalid(Error::InvalidRequest { field: got, .. })) => {
                    assert_eq!(got, field)
                }
                other => unreachable!("{other:?}"),
            }
        }
    }
}
