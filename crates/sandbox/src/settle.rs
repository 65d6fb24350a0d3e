//! Settling payments: move the state first (so a receiver that asks for the
//! status right away sees the new one), then deliver the notification.

use std::sync::Arc;
use std::time::SystemTime;

use http::Method;
use serde_json::json;

use crate::clickpesa;
use crate::deliver;
use crate::model::{Delivery, IpnMethod, Outcome, PaymentState, SandboxError, StkResult};
use crate::mpesa;
use crate::state::Shared;
use crate::util;

/// Which moves PesaPal allows. Settling again with the same outcome is
/// allowed and redelivers the notification (providers retry too).
pub(crate) fn pesapal_allows(from: PaymentState, to: Outcome) -> bool {
    match to {
        // A customer may retry a failed order and pay it.
        Outcome::Completed => matches!(
            from,
            PaymentState::Pending | PaymentState::Failed | PaymentState::Completed
        ),
        Outcome::Failed => matches!(from, PaymentState::Pending | PaymentState::Failed),
        Outcome::Reversed => matches!(from, PaymentState::Completed | PaymentState::Reversed),
    }
}

/// Settles a PesaPal order and delivers the IPN to its registered URL.
pub(crate) async fn pesapal(
    shared: &Arc<Shared>,
    order_tracking_id: &str,
    outcome: Outcome,
) -> Result<Delivery, SandboxError> {
    let (method, url, body) = {
        let mut state = shared.lock();
        let state = &mut *state;
        let order = state
            .orders
            .iter_mut()
            .find(|o| o.order_tracking_id == order_tracking_id)
            .ok_or_else(|| SandboxError::UnknownPesapalOrder(order_tracking_id.to_owned()))?;
        // After cancellation the customer can no longer pay the order.
        if !pesapal_allows(order.state, outcome)
            || (order.cancelled && outcome == Outcome::Completed)
        {
            return Err(SandboxError::InvalidTransition {
                from: order.state,
                to: outcome,
            });
        }
        order.state = outcome.into();
        if outcome == Outcome::Completed && order.confirmation_code.is_none() {
            order.confirmation_code = Some(util::random_code(10));
        }
        let ipn = state
            .ipns
            .iter()
            .find(|i| i.ipn_id == order.notification_id)
            .cloned();
        let params = [
            ("OrderTrackingId", order.order_tracking_id.as_str()),
            ("OrderMerchantReference", order.merchant_reference.as_str()),
            ("OrderNotificationType", "IPNCHANGE"),
        ];
        match ipn {
            Some(ipn) if ipn.method == IpnMethod::Get => (
                Method::GET,
                Some(util::append_query(&ipn.url, &params)),
                None,
            ),
            Some(ipn) => {
                let body = json!({
                    "OrderTrackingId": order.order_tracking_id,
                    "OrderMerchantReference": order.merchant_reference,
                    "OrderNotificationType": "IPNCHANGE",
                });
                (Method::POST, Some(ipn.url), Some(body.to_string()))
            }
            None => (Method::GET, None, None),
        }
    };
    shared.log(|| format!("pesapal order {order_tracking_id} settled as {outcome}"));
    Ok(deliver_and_record(shared, method, url, body).await)
}

fn clickpesa_allows(from: PaymentState, to: Outcome) -> bool {
    match to {
        Outcome::Completed => matches!(from, PaymentState::Pending | PaymentState::Completed),
        Outcome::Failed => matches!(from, PaymentState::Pending | PaymentState::Failed),
        Outcome::Reversed => false,
    }
}

/// Settles a ClickPesa payment and delivers the webhook to the configured URL.
pub(crate) async fn clickpesa(
    shared: &Arc<Shared>,
    order_reference: &str,
    outcome: Outcome,
) -> Result<Delivery, SandboxError> {
    if outcome == Outcome::Reversed {
        return Err(SandboxError::Unsupported(
            "clickpesa has no reversal webhook for collections; settle as completed or failed",
        ));
    }
    let (url, body) = {
        let mut state = shared.lock();
        let state = &mut *state;
        let payment = state
            .payments
            .iter_mut()
            .find(|p| p.order_reference == order_reference)
            .ok_or_else(|| SandboxError::UnknownClickpesaPayment(order_reference.to_owned()))?;
        if !clickpesa_allows(payment.state, outcome) {
            return Err(SandboxError::InvalidTransition {
                from: payment.state,
                to: outcome,
            });
        }
        payment.state = outcome.into();
        payment.updated_at = util::utc_millis(SystemTime::now());
        if outcome == Outcome::Completed && payment.payment_reference.is_none() {
            payment.payment_reference = Some(util::random_code(16));
        }
        let body = clickpesa::webhook_body(
            payment,
            &state.config.clickpesa_client_id,
            state.config.clickpesa_checksum_key.as_deref(),
        );
        (state.config.clickpesa_webhook_url.clone(), body.to_string())
    };
    shared.log(|| format!("clickpesa payment {order_reference} settled as {outcome}"));
    Ok(deliver_and_record(shared, Method::POST, url, Some(body)).await)
}

/// Settles an M-Pesa STK push with `result` and POSTs the STK callback to
/// its `CallBackURL`. Results are final; settling again with the same
/// result redelivers the same callback.
pub(crate) async fn mpesa(
    shared: &Arc<Shared>,
    checkout_request_id: &str,
    result: StkResult,
) -> Result<Delivery, SandboxError> {
    let (url, body) = {
        let mut state = shared.lock();
        let state = &mut *state;
        let now = state.now();
        let index = *state
            .stk_index
            .get(checkout_request_id)
            .ok_or_else(|| SandboxError::UnknownMpesaCheckout(checkout_request_id.to_owned()))?;
        let (current, has_receipt) = {
            let push = &state.stk_pushes[index];
            (push.result, push.receipt_number.is_some())
        };
        if let Some(current) = current
            && current != result
        {
            return Err(SandboxError::MpesaAlreadySettled {
                checkout_request_id: checkout_request_id.to_owned(),
                current,
                requested: result,
            });
        }
        let receipt = (result.is_success() && !has_receipt).then(|| mpesa::receipt_number(state));
        let decimals = state.config.mpesa_options.callback_amount_decimals;
        let push = &mut state.stk_pushes[index];
        push.result = Some(result);
        push.state = if result.is_success() {
            PaymentState::Completed
        } else {
            PaymentState::Failed
        };
        if receipt.is_some() {
            push.receipt_number = receipt;
        }
        if push.transaction_date.is_none() {
            push.transaction_date = Some(util::eat_compact(now));
        }
        let body = mpesa::callback_body(push, decimals).map_err(|_| {
            SandboxError::Unsupported("sandbox bug: the STK callback could not be serialised")
        })?;
        let url = push.callback_url.clone();
        let phone = push.phone_number.clone();
        if state
            .stk_pending
            .get(&phone)
            .is_some_and(|id| id == checkout_request_id)
        {
            state.stk_pending.remove(&phone);
        }
        (url, body)
    };
    shared.log(|| format!("m-pesa stk push {checkout_request_id} settled as {result}"));
    Ok(deliver_and_record(shared, Method::POST, Some(url), Some(body)).await)
}

pub(crate) async fn deliver_and_record(
    shared: &Arc<Shared>,
    method: Method,
    url: Option<String>,
    body: Option<String>,
) -> Delivery {
    let delivery = match url {
        Some(url) => deliver::send(method, &url, body).await,
        None => Delivery {
            url: None,
            method: method.as_str().to_owned(),
            status: None,
            body: String::new(),
            request_body: body.unwrap_or_default(),
            error: Some("no notification URL is configured".to_owned()),
        },
    };
    shared.log(|| match (&delivery.url, delivery.status) {
        (Some(url), Some(status)) => format!("delivered {} {url} -> {status}", delivery.method),
        (Some(url), None) => format!(
            "delivery {} {url} failed: {}",
            delivery.method,
            delivery.error.as_deref().unwrap_or("")
        ),
        (None, _) => "nothing delivered: no notification URL".to_owned(),
    });
    shared.lock().deliveries.push(delivery.clone());
    delivery
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        use Outcome as O;
        use PaymentState as S;
        assert!(pesapal_allows(S::Pending, O::Completed));
        assert!(pesapal_allows(S::Failed, O::Completed));
        assert!(!pesapal_allows(S::Pending, O::Reversed));
        assert!(pesapal_allows(S::Completed, O::Reversed));
        assert!(!pesapal_allows(S::Completed, O::Failed));
        assert!(!pesapal_allows(S::Reversed, O::Completed));
        assert!(clickpesa_allows(S::Pending, O::Failed));
        assert!(!clickpesa_allows(S::Failed, O::Completed));
        assert!(!clickpesa_allows(S::Completed, O::Reversed));
    }
}
