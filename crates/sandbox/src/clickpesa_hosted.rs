//! ClickPesa's hosted pages: `checkout-link/generate-checkout-url` (total
//! or items variant, TZS or USD) and `payments/initiate-card-payment` (USD,
//! a customer id or full name + email + phone). Each records a pending
//! collection and answers a link to a sandbox page
//! (`/_sandbox/ui/clickpesa-hosted/{orderReference}`) where the tester pays
//! or declines; that settles it like the control API and sends the webhook.
//!
//! Account-level refusals ClickPesa documents — 400 "Application has no
//! access to checkout link feature.", 404 "Checkout is not available for
//! this merchant" — are played with a `status` fault on the targets
//! `clickpesa_checkout_link` and `clickpesa_card_payment`.

use std::time::SystemTime;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

use finconnect_core::money::Amount;

use crate::clickpesa::{bad_request, positive_decimal, reference_used, signed_body, valid_phone};
use crate::model::{ClickpesaKind, ClickpesaPayment, PaymentState};
use crate::pesapal::json_response;
use crate::server::Incoming;
use crate::state::State;
use crate::util;

/// The path of a hosted page, under the sandbox's origin.
pub(crate) const PAGE: &str = "/_sandbox/ui/clickpesa-hosted";

/// The link to the hosted page of `order_reference`.
pub(crate) fn page_url(origin: &str, order_reference: &str) -> String {
    format!("{origin}{}", page_path(order_reference))
}

/// The hosted page's path for `order_reference`.
pub(crate) fn page_path(order_reference: &str) -> String {
    format!("{PAGE}/{}", util::percent_encode(order_reference))
}

/// The order reference, checked as ClickPesa checks it.
fn order_reference(body: &Map<String, Value>) -> Result<String, &'static str> {
    match body.get("orderReference") {
        None | Some(Value::Null) => Err("Order reference is required"),
        Some(Value::String(r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Ok(r.clone())
        }
        Some(_) => Err(
            "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank",
        ),
    }
}

/// The order total: `totalPrice`, or the sum of `orderItems` (price ×
/// quantity, exactly, in hundredths).
fn order_total(body: &Map<String, Value>) -> Result<String, &'static str> {
    if let Some(items) = body.get("orderItems") {
        let Some(items) = items.as_array().filter(|items| !items.is_empty()) else {
            return Err("Order items must be a non-empty array");
        };
        let mut total: u64 = 0;
        for item in items {
            let name = item.get("name").and_then(Value::as_str);
            if name.is_none_or(|name| name.trim().is_empty()) {
                return Err("All items must have a name");
            }
            let price = item
                .get("price")
                .and_then(Value::as_str)
                .filter(|price| positive_decimal(price))
                .and_then(|price| price.parse::<Amount>().ok());
            let Some(price) = price else {
                return Err("All items must have a price");
            };
            let Some(quantity) = item
                .get("quantity")
                .and_then(Value::as_u64)
                .filter(|q| *q >= 1)
            else {
                return Err("All items must have a quantity");
            };
            total = price
                .hundredths()
                .checked_mul(quantity)
                .and_then(|line| total.checked_add(line))
                .ok_or("Total Price is too large")?;
        }
        return Amount::from_hundredths(total)
            .map(Amount::to_plain)
            .map_err(|_| "Total Price is too large");
    }
    match body.get("totalPrice") {
        Some(Value::String(price)) if positive_decimal(price) => Ok(price.clone()),
        Some(Value::String(_)) => Err("Total Price must be a positive number string"),
        _ => Err("Total Price is required"),
    }
}

fn text_member(body: &Map<String, Value>, name: &str) -> Option<String> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Records a pending hosted collection.
fn record(
    state: &mut State,
    kind: ClickpesaKind,
    order_reference: String,
    amount: String,
    currency: &str,
    phone_number: String,
) {
    let now = util::utc_millis(SystemTime::now());
    let channel = match kind {
        ClickpesaKind::Card => "CARD",
        // Until the customer picks a method on the page.
        _ => "HOSTED CHECKOUT",
    };
    state.payments.push(ClickpesaPayment {
        id: format!("{order_reference}LCP{}", util::random_code(4)),
        order_reference,
        amount,
        currency: currency.to_owned(),
        phone_number,
        channel: channel.to_owned(),
        state: PaymentState::Pending,
        payment_reference: None,
        created_at: now.clone(),
        updated_at: now,
        kind,
    });
}

/// `POST /checkout-link/generate-checkout-url`.
pub(crate) fn generate_checkout_url(origin: &str, state: &mut State, req: &Incoming) -> Response {
    let body = match signed_body(state, req) {
        Ok(body) => body,
        Err(refusal) => return bad_request(refusal),
    };
    let reference = match order_reference(&body) {
        Ok(reference) => reference,
        Err(refusal) => return bad_request(refusal),
    };
    let currency = match body.get("orderCurrency").and_then(Value::as_str) {
        Some(currency @ ("TZS" | "USD")) => currency.to_owned(),
        _ => return bad_request("orderCurrency must be one of the following values: TZS, USD"),
    };
    let total = match order_total(&body) {
        Ok(total) => total,
        Err(refusal) => return bad_request(refusal),
    };
    let phone = text_member(&body, "customerPhone");
    if phone.as_deref().is_some_and(|phone| !valid_phone(phone)) {
        return bad_request("Invalid / unsupported phone number");
    }
    if let Some(conflict) = reference_used(state, &reference) {
        return conflict;
    }
    let link = page_url(origin, &reference);
    record(
        state,
        ClickpesaKind::CheckoutLink,
        reference,
        total,
        &currency,
        phone.unwrap_or_default(),
    );
    json_response(
        StatusCode::OK,
        &json!({"checkoutLink": link, "clientId": state.config.clickpesa_client_id}),
    )
}

/// `POST /payments/initiate-card-payment`.
pub(crate) fn initiate_card_payment(origin: &str, state: &mut State, req: &Incoming) -> Response {
    let body = match signed_body(state, req) {
        Ok(body) => body,
        Err(refusal) => return bad_request(refusal),
    };
    let amount = match body.get("amount") {
        Some(Value::String(a)) if positive_decimal(a) => a.clone(),
        Some(Value::String(_)) => return bad_request("amount must be a positive number string"),
        _ => return bad_request("amount must be a string"),
    };
    if body.get("currency").and_then(Value::as_str) != Some("USD") {
        return bad_request("currency must be one of the following values: USD");
    }
    let reference = match order_reference(&body) {
        Ok(reference) => reference,
        Err(refusal) => return bad_request(refusal),
    };
    let Some(customer) = body.get("customer").and_then(Value::as_object) else {
        return bad_request("customer must be an object");
    };
    let phone = if text_member(customer, "id").is_some() {
        String::new()
    } else {
        for member in ["fullName", "email", "phoneNumber"] {
            if text_member(customer, member).is_none() {
                return bad_request(&format!("customer.{member} is required"));
            }
        }
        text_member(customer, "phoneNumber").unwrap_or_default()
    };
    if let Some(conflict) = reference_used(state, &reference) {
        return conflict;
    }
    let link = page_url(origin, &reference);
    record(state, ClickpesaKind::Card, reference, amount, "USD", phone);
    json_response(
        StatusCode::OK,
        &json!({"cardPaymentLink": link, "clientId": state.config.clickpesa_client_id}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn the_total_is_the_price_or_the_exact_sum_of_the_items() {
        assert_eq!(
            order_total(&body(json!({"totalPrice": "25000"}))).ok(),
            Some("25000".to_owned())
        );
        assert_eq!(
            order_total(&body(json!({"orderItems": [
                {"name": "Tea", "price": "1500", "quantity": 2},
                {"name": "Bun", "price": "0.10", "quantity": 3},
            ]})))
            .ok(),
            Some("3000.3".to_owned())
        );
        for bad in [
            json!({}),
            json!({"totalPrice": 25000}),
            json!({"totalPrice": "0"}),
            json!({"orderItems": []}),
            json!({"orderItems": [{"price": "1", "quantity": 1}]}),
            json!({"orderItems": [{"name": "Tea", "price": 1, "quantity": 1}]}),
            json!({"orderItems": [{"name": "Tea", "price": "1", "quantity": 0}]}),
        ] {
            assert!(order_total(&body(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_are_required_and_alphanumeric() {
        assert_eq!(
            order_reference(&body(json!({"orderReference": "ORD42"}))).ok(),
            Some("ORD42".to_owned())
        );
        for bad in [
            json!({}),
            json!({"orderReference": ""}),
            json!({"orderReference": "ORD-42"}),
            json!({"orderReference": 42}),
        ] {
            assert!(order_reference(&body(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_point_at_the_sandbox_page() {
        assert_eq!(
            page_url("http://127.0.0.1:1", "ORD42"),
            "http://127.0.0.1:1/_sandbox/ui/clickpesa-hosted/ORD42"
        );
    }
}
