//! ClickPesa under `/third-parties`: token, USSD-push initiation and the
//! payment query, plus the webhook payloads.

use std::sync::Arc;
use std::time::SystemTime;

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Map, Number, Value, json};

use finconnect_core::providers::clickpesa::checksum;

use crate::fault::Target;
use crate::model::{ClickpesaKind, ClickpesaPayment, PaymentState};
use crate::pesapal::json_response;
use crate::server::Incoming;
use crate::state::{CLICKPESA_TOKEN_TTL, Shared, State};
use crate::util;

/// Path prefix of the ClickPesa emulation.
pub(crate) const PREFIX: &str = "/third-parties";

/// The ClickPesa endpoints the sandbox knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    UssdPush,
    Query(String),
    /// `POST /checkout-link/generate-checkout-url`.
    CheckoutLink,
    /// `POST /payments/initiate-card-payment`.
    CardPayment,
    /// `POST /payments/preview-ussd-push-request`.
    PreviewUssd,
    /// `POST /payments/preview-card-payment`.
    PreviewCard,
    /// `GET /payments/all`.
    ListAll,
    /// A payout endpoint ([`crate::clickpesa_payouts`]).
    Payouts(crate::clickpesa_payouts::Endpoint),
    /// A BillPay endpoint ([`crate::clickpesa_billpay`]).
    BillPay(crate::clickpesa_billpay::Endpoint),
}

impl Endpoint {
    /// The endpoint for `method` on `rest` (the path after the prefix).
    pub(crate) fn classify(method: &Method, rest: &str) -> Option<Endpoint> {
        let path = rest.trim_end_matches('/');
        if *method == Method::POST && path == "/generate-token" {
            return Some(Endpoint::Token);
        }
        if *method == Method::POST && path == "/payments/initiate-ussd-push-request" {
            return Some(Endpoint::UssdPush);
        }
        if *method == Method::POST && path == "/checkout-link/generate-checkout-url" {
            return Some(Endpoint::CheckoutLink);
        }
        if *method == Method::POST && path == "/payments/initiate-card-payment" {
            return Some(Endpoint::CardPayment);
        }
        if *method == Method::POST && path == "/payments/preview-ussd-push-request" {
            return Some(Endpoint::PreviewUssd);
        }
        if *method == Method::POST && path == "/payments/preview-card-payment" {
            return Some(Endpoint::PreviewCard);
        }
        if *method == Method::GET && path == "/payments/all" {
            return Some(Endpoint::ListAll);
        }
        if let Some(billpay) = crate::clickpesa_billpay::Endpoint::classify(method, path) {
            return Some(Endpoint::BillPay(billpay));
        }
        if let Some(payouts) = crate::clickpesa_payouts::Endpoint::classify(method, path) {
            return Some(Endpoint::Payouts(payouts));
        }
        if *method == Method::GET
            && let Some(reference) = path.strip_prefix("/payments/")
            && !reference.is_empty()
            && !reference.contains('/')
        {
            return Some(Endpoint::Query(util::percent_decode(reference)));
        }
        None
    }

    pub(crate) fn target(&self) -> Target {
        match self {
            Endpoint::Token => Target::ClickpesaToken,
            Endpoint::UssdPush => Target::ClickpesaUssdPush,
            Endpoint::Query(_) => Target::ClickpesaQuery,
            Endpoint::CheckoutLink => Target::ClickpesaCheckoutLink,
            Endpoint::CardPayment => Target::ClickpesaCardPayment,
            Endpoint::PreviewUssd | Endpoint::PreviewCard => Target::ClickpesaPreview,
            Endpoint::ListAll => Target::ClickpesaList,
            // Payout calls meet only the faults aimed at all of ClickPesa.
            Endpoint::Payouts(_) => Target::AnyClickpesa,
            Endpoint::BillPay(_) => Target::AnyClickpesa,
        }
    }
}

/// Answers a request on a ClickPesa path (`endpoint` `None`: unknown route).
pub(crate) fn handle(shared: &Arc<Shared>, endpoint: Option<Endpoint>, req: &Incoming) -> Response {
    let Some(endpoint) = endpoint else {
        return nest_error(
            StatusCode::NOT_FOUND,
            &format!("Cannot {} {}", req.method, req.path),
        );
    };
    let mut state = shared.lock();
    if endpoint != Endpoint::Token && !token_is_valid(&state, req) {
        return unauthorized();
    }
    match endpoint {
        Endpoint::Token => generate_token(shared, &mut state, req),
        Endpoint::UssdPush => initiate_ussd_push(&mut state, req),
        Endpoint::Query(reference) => query(&state, &reference),
        Endpoint::CheckoutLink => {
            crate::clickpesa_hosted::generate_checkout_url(&shared.origin, &mut state, req)
        }
        Endpoint::CardPayment => {
            crate::clickpesa_hosted::initiate_card_payment(&shared.origin, &mut state, req)
        }
        Endpoint::PreviewUssd => crate::clickpesa_preview::preview_ussd(&state, req),
        Endpoint::PreviewCard => crate::clickpesa_preview::preview_card(&state, req),
        Endpoint::ListAll => crate::clickpesa_listing::list(&state, req),
        Endpoint::Payouts(payouts) => crate::clickpesa_payouts::handle(&mut state, payouts, req),
        Endpoint::BillPay(billpay) => crate::clickpesa_billpay::handle(&mut state, billpay, req),
    }
}

/// NestJS's error body: `{"statusCode", "message", "error"}`.
pub(crate) fn nest_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({
            "statusCode": status.as_u16(),
            "message": message,
            "error": status.canonical_reason().unwrap_or("Error"),
        }),
    )
}

/// The answer to a missing, unknown or expired token.
pub(crate) fn unauthorized() -> Response {
    nest_error(StatusCode::UNAUTHORIZED, "Unauthorized")
}

fn header<'a>(req: &'a Incoming, name: &str) -> Option<&'a str> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
}

fn generate_token(shared: &Shared, state: &mut State, req: &Incoming) -> Response {
    let (Some(client_id), Some(api_key)) = (header(req, "client-id"), header(req, "api-key"))
    else {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "Unauthorized"}),
        );
    };
    if client_id != state.config.clickpesa_client_id || api_key != state.config.clickpesa_api_key {
        return json_response(
            StatusCode::FORBIDDEN,
            &json!({"message": "Invalid client details"}),
        );
    }
    let now = state.now();
    let (jwt, expiry) = shared.mint_jwt("clickpesa", now, CLICKPESA_TOKEN_TTL);
    let token = format!("Bearer {jwt}");
    state.clickpesa_tokens.insert(token.clone(), expiry, now);
    json_response(StatusCode::OK, &json!({"success": true, "token": token}))
}

/// The `Authorization` header must be the issued string exactly (it already
/// starts with `Bearer `).
fn token_is_valid(state: &State, req: &Incoming) -> bool {
    let Some(value) = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    state.clickpesa_tokens.is_valid(value, state.now())
}

pub(crate) fn bad_request(message: &str) -> Response {
    nest_error(StatusCode::BAD_REQUEST, message)
}

pub(crate) fn positive_decimal(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && digits(whole)
        && digits(fraction)
        && (!text.contains('.') || !fraction.is_empty())
        && text.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

pub(crate) fn valid_phone(phone: &str) -> bool {
    phone.len() == 12 && phone.starts_with("255") && phone.bytes().all(|b| b.is_ascii_digit())
}

/// A JSON object body whose checksum verifies when a checksum key is set;
/// otherwise the message of the 400 ClickPesa answers.
pub(crate) fn signed_body(
    state: &State,
    req: &Incoming,
) -> Result<Map<String, Value>, &'static str> {
    let body: Map<String, Value> = match serde_json::from_slice(&req.body) {
        Ok(Value::Object(map)) => map,
        _ => return Err("Invalid JSON body"),
    };
    if let Some(key) = &state.config.clickpesa_checksum_key {
        match body.get("checksum") {
            Some(Value::String(c)) if !c.is_empty() => {
                // Verified on the bytes received, as ClickPesa's server reads them.
                let verified = checksum::Value::parse(&req.body)
                    .is_ok_and(|tree| checksum::verify(key.as_bytes(), &tree));
                if !verified {
                    return Err("Invalid checksum");
                }
            }
            _ => return Err("checksum is required"),
        }
    }
    Ok(body)
}

/// The 409 for an order reference already used by any collection.
pub(crate) fn reference_used(state: &State, order_reference: &str) -> Option<Response> {
    state
        .payments
        .iter()
        .any(|p| p.order_reference == order_reference)
        .then(|| {
            nest_error(
                StatusCode::CONFLICT,
                &format!(
                    "Order reference {order_reference} already used: Create a different reference"
                ),
            )
        })
}

fn initiate_ussd_push(state: &mut State, req: &Incoming) -> Response {
    let body = match signed_body(state, req) {
        Ok(body) => body,
        Err(refusal) => return bad_request(refusal),
    };
    let amount = match body.get("amount") {
        Some(Value::String(a)) if positive_decimal(a) => a.clone(),
        Some(Value::String(_)) => return bad_request("amount must be a positive number string"),
        _ => return bad_request("amount must be a string"),
    };
    if body.get("currency").and_then(Value::as_str) != Some("TZS") {
        return bad_request("currency must be one of the following values: TZS");
    }
    let order_reference = match body.get("orderReference").and_then(Value::as_str) {
        Some(r) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()) => r.to_owned(),
        _ => {
            return bad_request(
                "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank",
            );
        }
    };
    let phone_number = match body.get("phoneNumber").and_then(Value::as_str) {
        Some(p) if valid_phone(p) => p.to_owned(),
        _ => return bad_request("Invalid / unsupported phone number"),
    };
    if let Some(conflict) = reference_used(state, &order_reference) {
        return conflict;
    }
    let now = util::utc_millis(SystemTime::now());
    let payment = ClickpesaPayment {
        id: format!("{order_reference}LCP{}", util::random_code(4)),
        order_reference,
        amount,
        currency: "TZS".to_owned(),
        phone_number,
        channel: "TIGO-PESA".to_owned(),
        state: PaymentState::Pending,
        payment_reference: None,
        created_at: now.clone(),
        updated_at: now,
        kind: ClickpesaKind::UssdPush,
    };
    let out = json!({
        "id": payment.id,
        "status": "PROCESSING",
        "channel": payment.channel,
        "orderReference": payment.order_reference,
        "collectedAmount": payment.amount,
        "collectedCurrency": payment.currency,
        "createdAt": payment.created_at,
        "clientId": state.config.clickpesa_client_id,
    });
    state.payments.push(payment);
    json_response(StatusCode::OK, &out)
}

/// ClickPesa's status word for a payment state.
pub(crate) fn status_word(state: PaymentState) -> &'static str {
    match state {
        PaymentState::Pending => "PROCESSING",
        PaymentState::Completed => "SUCCESS",
        PaymentState::Failed => "FAILED",
        PaymentState::Reversed => "REVERSED",
    }
}

fn message_for(state: PaymentState) -> &'static str {
    match state {
        PaymentState::Pending => "Waiting for the customer to confirm the USSD prompt",
        PaymentState::Completed => "success",
        PaymentState::Failed => "Insufficient balance",
        PaymentState::Reversed => "reversed",
    }
}

/// `"1000"` → `1000`, `"1000.50"` → `1000.5` (query responses carry a number).
fn amount_number(text: &str) -> Value {
    if let Ok(whole) = text.parse::<u64>() {
        return Value::Number(Number::from(whole));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(text.to_owned()), Value::Number)
}

fn customer(payment: &ClickpesaPayment) -> Value {
    json!({
        "customerName": "Sandbox Customer",
        "customerPhoneNumber": payment.phone_number,
        "customerEmail": null,
    })
}

fn query(state: &State, reference: &str) -> Response {
    let Some(payment) = state
        .payments
        .iter()
        .find(|p| p.order_reference == reference)
    else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": format!("Invalid or missing payment: {reference}")}),
        );
    };
    json_response(StatusCode::OK, &json!([item(state, payment)]))
}

/// A payment as the query and the listing report it.
pub(crate) fn item(state: &State, payment: &ClickpesaPayment) -> Value {
    let mut item = json!({
        "id": payment.id,
        "status": status_word(payment.state),
        "paymentReference": payment.payment_reference,
        "orderReference": payment.order_reference,
        "collectedAmount": amount_number(&payment.amount),
        // The network, as in the initiate reply and the webhooks.
        "channel": payment.channel,
        "collectedCurrency": payment.currency,
        "message": message_for(payment.state),
        "updatedAt": payment.updated_at,
        "createdAt": payment.created_at,
        "customer": customer(payment),
        "clientId": state.config.clickpesa_client_id,
    });
    // The sender's MSISDN is reported for USSD-push payments only.
    if payment.kind == ClickpesaKind::UssdPush {
        item["paymentPhoneNumber"] = json!(payment.phone_number);
    }
    item
}

/// The webhook body for a settled payment, signed when a checksum key is set.
pub(crate) fn webhook_body(
    payment: &ClickpesaPayment,
    client_id: &str,
    checksum_key: Option<&str>,
) -> Value {
    let data = if payment.state == PaymentState::Completed {
        json!({
            "id": payment.id,
            "status": status_word(payment.state),
            "paymentReference": payment.payment_reference,
            "orderReference": payment.order_reference,
            "collectedAmount": payment.amount,
            "collectedCurrency": payment.currency,
            "message": message_for(payment.state),
            "channel": payment.channel,
            "createdAt": payment.created_at,
            "updatedAt": payment.updated_at,
            "customer": customer(payment),
            "clientId": client_id,
        })
    } else {
        json!({
            "id": payment.id,
            "status": status_word(payment.state),
            "channel": payment.channel,
            "orderReference": payment.order_reference,
            "message": message_for(payment.state),
            "createdAt": payment.created_at,
            "updatedAt": payment.updated_at,
            "clientId": client_id,
        })
    };
    let event = if payment.state == PaymentState::Completed {
        "PAYMENT RECEIVED"
    } else {
        "PAYMENT FAILED"
    };
    let mut body = json!({"event": event, "data": data});
    if let Some(key) = checksum_key {
        // The sandbox's bodies hold text and booleans only, so they can
        // always be checksummed; one that could not would go out unsigned.
        let digest = serde_json::to_vec(&body)
            .ok()
            .and_then(|bytes| checksum::Value::parse(&bytes).ok())
            .and_then(|tree| checksum::compute(key.as_bytes(), &tree).ok());
        if let Some(digest) = digest {
            body["checksum"] = json!(digest);
        }
        body["checksumMethod"] = json!("canonical");
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_depend_on_method_and_path() {
        assert_eq!(
            Endpoint::classify(&Method::POST, "/generate-token"),
            Some(Endpoint::Token)
        );
        assert_eq!(
            Endpoint::classify(&Method::GET, "/payments/ORDER1"),
            Some(Endpoint::Query("ORDER1".into()))
        );
        assert_eq!(Endpoint::classify(&Method::GET, "/generate-token"), None);
        assert_eq!(Endpoint::classify(&Method::GET, "/payments/a/b"), None);
    }

    #[test]
    fn amounts_and_phones_are_checked() {
        for good in ["1000", "1000.50", "0.5", "1"] {
            assert!(positive_decimal(good), "{good}");
        }
        for bad in ["", "0", "0.00", "-1", "1e3", "1.", ".5", "10,000", "abc"] {
            assert!(!positive_decimal(bad), "{bad}");
        }
        assert!(valid_phone("255712345678"));
        assert!(!valid_phone("0712345678"));
        assert!(!valid_phone("+255712345678"));
        assert!(!valid_phone("25571234567x"));
        assert_eq!(amount_number("1000"), json!(1000));
        assert_eq!(amount_number("1000.50"), json!(1000.5));
    }

    #[test]
    fn signed_webhooks_verify_with_the_core() {
        let payment = ClickpesaPayment {
            id: "ORD1LCPAB12".into(),
            order_reference: "ORD1".into(),
            amount: "1000".into(),
            currency: "TZS".into(),
            phone_number: "255712345678".into(),
            channel: "TIGO-PESA".into(),
            state: PaymentState::Completed,
            payment_reference: Some("REF".into()),
            created_at: "t0".into(),
            updated_at: "t1".into(),
            kind: ClickpesaKind::UssdPush,
        };
        let body = webhook_body(&payment, "client", Some("k"));
        assert_eq!(body["event"], "PAYMENT RECEIVED");
        assert_eq!(body["checksumMethod"], "canonical");
        let tree = checksum::Value::parse(&serde_json::to_vec(&body).unwrap_or_default())
            .unwrap_or(checksum::Value::Null);
        assert!(checksum::verify(b"k", &tree));
        assert!(!checksum::verify(b"other", &tree));
        let unsigned = webhook_body(&payment, "client", None);
        assert!(unsigned.get("checksum").is_none());
    }
}
