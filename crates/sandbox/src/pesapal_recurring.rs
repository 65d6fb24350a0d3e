//! PesaPal recurring payments in the sandbox: SubmitOrderRequest's
//! `account_number` and `subscription_details`, the charges PesaPal makes
//! on the schedule (each a new order whose merchant reference is the
//! account number), their `subscription_transaction_info` in
//! GetTransactionStatus, and the `RECURRING` IPN each charge sends.
//!
//! Control: `POST /_sandbox/pesapal/orders/{order_tracking_id}/charge`
//! charges the (completed) order's schedule once and delivers the IPN.

use std::sync::Arc;
use std::time::SystemTime;

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::model::{IpnMethod, PaymentState, PesapalOrder, PesapalSubscription};
use crate::server::control_json;
use crate::state::Shared;
use crate::util;

const FREQUENCIES: [&str; 4] = ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"];

/// The recurring part of a SubmitOrderRequest body, checked as PesaPal
/// documents it: `subscription_details` needs `account_number`, its dates
/// are `dd-MM-yyyy` and its frequency one of the four.
pub(crate) fn subscription(
    body: &Map<String, Value>,
) -> Result<Option<PesapalSubscription>, String> {
    let account = match body.get("account_number") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(_) => return Err("account_number must be a non-empty string".into()),
    };
    let details = match body.get("subscription_details") {
        None | Some(Value::Null) => None,
        Some(Value::Object(details)) => Some(details),
        Some(_) => return Err("subscription_details must be an object".into()),
    };
    let Some(account_number) = account else {
        return match details {
            Some(_) => Err("subscription_details requires account_number".into()),
            None => Ok(None),
        };
    };
    let mut subscription = PesapalSubscription {
        account_number,
        start_date: None,
        end_date: None,
        frequency: None,
    };
    if let Some(details) = details {
        let date = |name: &str| -> Result<String, String> {
            match details.get(name).and_then(Value::as_str) {
                Some(text) if date_key(text).is_some() => Ok(text.to_owned()),
                _ => Err(format!("subscription_details.{name} must be dd-MM-yyyy")),
            }
        };
        let start = date("start_date")?;
        let end = date("end_date")?;
        if date_key(&end) <= date_key(&start) {
            return Err("subscription_details.end_date must be after start_date".into());
        }
        let frequency = match details.get("frequency").and_then(Value::as_str) {
            Some(f) if FREQUENCIES.contains(&f) => f.to_owned(),
            _ => {
                return Err(
                    "subscription_details.frequency must be DAILY, WEEKLY, MONTHLY or YEARLY"
                        .into(),
                );
            }
        };
        subscription.start_date = Some(start);
        subscription.end_date = Some(end);
        subscription.frequency = Some(frequency);
    }
    Ok(Some(subscription))
}

/// `dd-MM-yyyy` as a sortable `yyyyMMdd` number.
fn date_key(text: &str) -> Option<u32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[2] != b'-' || b[5] != b'-' {
        return None;
    }
    let day: u32 = text.get(0..2)?.parse().ok()?;
    let month: u32 = text.get(3..5)?.parse().ok()?;
    let year: u32 = text.get(6..10)?.parse().ok()?;
    ((1..=31).contains(&day) && (1..=12).contains(&month))
        .then_some(year * 10_000 + month * 100 + day)
}

/// GetTransactionStatus's `subscription_transaction_info` for a charge.
pub(crate) fn transaction_info(order: &PesapalOrder) -> Option<Value> {
    order.recurring_of.as_ref()?;
    let subscription = order.subscription.as_ref()?;
    Some(json!({
        "account_reference": subscription.account_number,
        "amount": order.amount.parse::<f64>().ok(),
        "first_name": "Sandbox",
        "last_name": "Customer",
        "correlation_id": correlation_id(&order.order_tracking_id),
    }))
}

/// A stable integer id for the charge (PesaPal's sample is an integer).
fn correlation_id(tracking_id: &str) -> u64 {
    tracking_id.bytes().fold(17u64, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 1_000_000
}

/// The control action: one charge of `order_tracking_id`'s schedule.
pub(crate) async fn charge_control(shared: &Arc<Shared>, order_tracking_id: &str) -> Response {
    let prepared = {
        let mut state = shared.lock();
        let state = &mut *state;
        prepare_charge(state, order_tracking_id)
    };
    let (charge_id, method, url, body) = match prepared {
        Ok(prepared) => prepared,
        Err((status, message)) => return control_json(status, &json!({"error": message})),
    };
    shared.log(|| format!("pesapal order {order_tracking_id} charged again as {charge_id}"));
    let delivery = crate::settle::deliver_and_record(shared, method, url, body).await;
    control_json(
        StatusCode::OK,
        &json!({
            "provider": "pesapal",
            "id": order_tracking_id,
            "outcome": "charged",
            "charge_tracking_id": charge_id,
            "delivery": delivery,
        }),
    )
}

type Prepared = (String, Method, Option<String>, Option<String>);

fn prepare_charge(
    state: &mut crate::state::State,
    order_tracking_id: &str,
) -> Result<Prepared, (StatusCode, String)> {
    let first = state
        .orders
        .iter()
        .find(|o| o.order_tracking_id == order_tracking_id)
        .cloned()
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("no PesaPal order {order_tracking_id}"),
            )
        })?;
    let Some(subscription) = first.subscription.clone() else {
        return Err((
            StatusCode::CONFLICT,
            "the order carried no account_number: it set up no recurring schedule".into(),
        ));
    };
    if first.state != PaymentState::Completed {
        return Err((
            StatusCode::CONFLICT,
            "the customer has not paid the first order (and opted in) yet".into(),
        ));
    }
    let charge_id = util::guid();
    let charge = PesapalOrder {
        order_tracking_id: charge_id.clone(),
        merchant_reference: subscription.account_number.clone(),
        state: PaymentState::Completed,
        confirmation_code: Some(util::random_code(10)),
        payment_method: Some("Visa".into()),
        created_date: util::eat_millis(SystemTime::now()),
        cancelled: false,
        refund_amount: None,
        subscription: Some(subscription.clone()),
        recurring_of: Some(first.order_tracking_id.clone()),
        ..first.clone()
    };
    state.orders.push(charge);
    let ipn = state
        .ipns
        .iter()
        .find(|i| i.ipn_id == first.notification_id)
        .cloned();
    let params = [
        ("OrderTrackingId", charge_id.as_str()),
        (
            "OrderMerchantReference",
            subscription.account_number.as_str(),
        ),
        ("OrderNotificationType", "RECURRING"),
    ];
    let (method, url, body) = match ipn {
        Some(ipn) if ipn.method == IpnMethod::Get => (
            Method::GET,
            Some(util::append_query(&ipn.url, &params)),
            None,
        ),
        Some(ipn) => {
            let body = json!({
                "OrderTrackingId": charge_id,
                "OrderMerchantReference": subscription.account_number,
                "OrderNotificationType": "RECURRING",
            });
            (Method::POST, Some(ipn.url), Some(body.to_string()))
        }
        None => (Method::GET, None, None),
    };
    Ok((charge_id, method, url, body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn body(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reads_the_documented_fields() {
        let parsed = subscription(&body(
            r#"{"account_number":"ACC-1","subscription_details":{"start_date":"24-01-2027","end_date":"31-12-2027","frequency":"MONTHLY"}}"#,
        ));
        let parsed = parsed.unwrap().unwrap();
        assert_eq!(parsed.account_number, "ACC-1");
        assert_eq!(parsed.frequency.as_deref(), Some("MONTHLY"));
        assert_eq!(subscription(&body("{}")), Ok(None));
        assert!(
            subscription(&body(r#"{"account_number":"ACC-1"}"#))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn refuses_what_pesapal_does_not_take() {
        for text in [
            r#"{"subscription_details":{"start_date":"24-01-2027","end_date":"31-12-2027","frequency":"MONTHLY"}}"#,
            r#"{"account_number":"A","subscription_details":{"start_date":"2027-01-24","end_date":"31-12-2027","frequency":"MONTHLY"}}"#,
            r#"{"account_number":"A","subscription_details":{"start_date":"24-01-2027","end_date":"01-01-2027","frequency":"MONTHLY"}}"#,
            r#"{"account_number":"A","subscription_details":{"start_date":"24-01-2027","end_date":"31-12-2027","frequency":"QUARTERLY"}}"#,
        ] {
            assert!(subscription(&body(text)).is_err(), "{text}");
        }
    }
}
