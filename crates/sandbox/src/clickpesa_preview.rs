//! ClickPesa's previews: `payments/preview-ussd-push-request` (TZS; the
//! mobile-money methods with their fees, the sender when
//! `fetchSenderDetails` is true) and `payments/preview-card-payment` (USD;
//! the card method). Nothing is recorded: a preview starts no payment, but a
//! reference already used is refused with 409 as ClickPesa does.
//!
//! Fees are the sandbox's own tariff (ClickPesa's is per merchant): 1.5% of
//! the amount for mobile money, rounded up to a whole shilling, and 3.5% for
//! card, in cents. `HALOPESA` is listed `UNAVAILABLE`. The documented 404s
//! ("Account has no payment collection methods", "Account has no valid
//! payment method") describe the merchant account, so they are played with
//! a `status` fault on the target `clickpesa_preview`.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use finconnect_core::money::Amount;

use crate::clickpesa::{bad_request, positive_decimal, reference_used, signed_body, valid_phone};
use crate::pesapal::json_response;
use crate::server::Incoming;
use crate::state::State;

/// Mobile-money methods: name, status, fee rate in tenths of a percent.
const MOBILE_METHODS: [(&str, &str, u64); 4] = [
    ("M-PESA", "AVAILABLE", 15),
    ("TIGO-PESA", "AVAILABLE", 15),
    ("AIRTEL-MONEY", "AVAILABLE", 15),
    ("HALOPESA", "UNAVAILABLE", 15),
];

/// The network a Tanzanian number belongs to, by its prefix (after `255`).
fn network_of(phone: &str) -> &'static str {
    match phone.get(3..5) {
        Some("74" | "75" | "76") => "M-PESA",
        Some("68" | "69" | "78") => "AIRTEL-MONEY",
        Some("62") => "HALOPESA",
        _ => "TIGO-PESA",
    }
}

/// `rate` tenths of a percent of `amount`, rounded up to `unit` hundredths.
fn fee(amount: &str, rate: u64, unit: u64) -> String {
    let hundredths = amount
        .parse::<Amount>()
        .map(Amount::hundredths)
        .unwrap_or(0);
    // hundredths × rate / 1000, rounded up to a multiple of `unit`.
    let raw = hundredths.saturating_mul(rate).div_ceil(1000);
    let rounded = raw.div_ceil(unit).saturating_mul(unit);
    Amount::from_hundredths(rounded)
        .map(Amount::to_plain)
        .unwrap_or_else(|_| "0".to_owned())
}

/// `"580"` → `580`, `"1.25"` → `1.25` (fees are JSON numbers).
fn number(text: &str) -> Value {
    serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!(text))
}

/// What both previews check first: checksum, amount, reference, then 409.
fn common(
    state: &State,
    req: &Incoming,
    currency: &str,
) -> Result<(serde_json::Map<String, Value>, String), Box<Response>> {
    let refuse = |message: &str| Box::new(bad_request(message));
    let body = signed_body(state, req).map_err(refuse)?;
    let amount = match body.get("amount") {
        Some(Value::String(a)) if positive_decimal(a) => a.clone(),
        Some(Value::String(_)) => return Err(refuse("amount must be a positive number string")),
        _ => return Err(refuse("amount must be a string")),
    };
    if body.get("currency").and_then(Value::as_str) != Some(currency) {
        return Err(refuse(&format!(
            "currency must be one of the following values: {currency}"
        )));
    }
    let reference = match body.get("orderReference").and_then(Value::as_str) {
        Some(r) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()) => r.to_owned(),
        _ => {
            return Err(refuse(
                "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank",
            ));
        }
    };
    if let Some(conflict) = reference_used(state, &reference) {
        return Err(Box::new(conflict));
    }
    Ok((body, amount))
}

/// `POST /payments/preview-ussd-push-request`.
pub(crate) fn preview_ussd(state: &State, req: &Incoming) -> Response {
    let (body, amount) = match common(state, req, "TZS") {
        Ok(checked) => checked,
        Err(refusal) => return *refusal,
    };
    let phone = match body.get("phoneNumber") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if valid_phone(p) => Some(p.clone()),
        Some(_) => return bad_request("Invalid / unsupported phone number"),
    };
    let methods: Vec<Value> = MOBILE_METHODS
        .iter()
        .map(|(name, status, rate)| {
            json!({"name": name, "status": status, "fee": number(&fee(&amount, *rate, 100))})
        })
        .collect();
    let mut out = json!({ "activeMethods": methods });
    let fetch = body.get("fetchSenderDetails").and_then(Value::as_bool) == Some(true);
    if fetch && let Some(phone) = phone {
        out["sender"] = json!({
            "accountName": "Sandbox Customer",
            "accountNumber": phone,
            "accountProvider": network_of(&phone),
        });
    }
    json_response(StatusCode::OK, &out)
}

/// `POST /payments/preview-card-payment`.
pub(crate) fn preview_card(state: &State, req: &Incoming) -> Response {
    let amount = match common(state, req, "USD") {
        Ok((_, amount)) => amount,
        Err(refusal) => return *refusal,
    };
    json_response(
        StatusCode::OK,
        &json!({"activeMethods": [
            {"name": "CARD", "status": "AVAILABLE", "fee": number(&fee(&amount, 35, 1))},
        ]}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_are_exact_and_rounded_up() {
        assert_eq!(fee("1000", 15, 100), "15");
        assert_eq!(fee("1001", 15, 100), "16");
        assert_eq!(fee("12.50", 35, 1), "0.44");
        assert_eq!(number("15"), json!(15));
        assert_eq!(number("0.44"), json!(0.44));
    }

    #[test]
    fn networks_follow_the_prefix() {
        assert_eq!(network_of("255754000000"), "M-PESA");
        assert_eq!(network_of("255712345678"), "TIGO-PESA");
        assert_eq!(network_of("255688000000"), "AIRTEL-MONEY");
    }
}
