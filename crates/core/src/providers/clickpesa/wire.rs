//! ClickPesa JSON shapes (camelCase; numbers and strings used loosely), read
//! from a [`Value`] tree. Every field is optional: what is missing, or of a
//! type a field cannot be read from, is `None` unless said otherwise.

use super::super::reported_amount_of;
use crate::json::Value;

/// The `generate-token` reply: `{"success": true, "token": "Bearer ..."}`.
pub(super) struct ClickpesaTokenResponse {
    pub(super) success: Option<bool>,
    pub(super) token: Option<String>,
}

impl ClickpesaTokenResponse {
    /// Reads the reply, or says which part of it is not as documented.
    pub(super) fn read(reply: &Value) -> Result<Self, &'static str> {
        if reply.as_object().is_none() {
            return Err("it is not a JSON object");
        }
        let success = match reply.get("success") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(flag)) => Some(*flag),
            Some(_) => return Err("`success` is not true or false"),
        };
        Ok(Self {
            success,
            token: reply.text_of("token"),
        })
    }
}

/// ClickPesa's error body: `{"message": "..."}`, or NestJS's
/// `{"statusCode": 400, "message": ["..."], "error": "Bad Request"}`.
pub(super) struct ClickpesaErrorBody {
    /// `message` as text: a string, or the strings of an array joined by `; `.
    pub(super) message: Option<String>,
    /// `error` as text (string or number).
    pub(super) error: Option<String>,
}

impl ClickpesaErrorBody {
    /// Reads an error body; `None` when it is not a JSON object.
    pub(super) fn read(body: &Value) -> Option<Self> {
        body.as_object()?;
        let message = match body.get("message") {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Array(items)) => {
                let texts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                (!texts.is_empty()).then(|| texts.join("; "))
            }
            _ => None,
        };
        Some(Self {
            message,
            error: body.text_of("error"),
        })
    }
}

/// A collection as ClickPesa reports it (initiate reply, query rows). The
/// `clientId` it also carries is deliberately not read.
pub(super) struct ClickpesaPayment {
    pub(super) id: Option<String>,
    pub(super) status: Option<String>,
    pub(super) order_reference: Option<String>,
    /// `collectedAmount` read exactly and rendered with two decimals.
    pub(super) collected_amount: Option<String>,
    pub(super) collected_currency: Option<String>,
    pub(super) channel: Option<String>,
    pub(super) payment_reference: Option<String>,
    pub(super) message: Option<String>,
}

impl ClickpesaPayment {
    /// Reads one payment; `None` when it is not a JSON object.
    pub(super) fn read(payment: &Value) -> Option<Self> {
        payment.as_object()?;
        Some(Self {
            id: payment.text_of("id"),
            status: payment.text_of("status"),
            order_reference: payment.text_of("orderReference"),
            collected_amount: reported_amount_of(payment.get("collectedAmount")),
            collected_currency: payment.text_of("collectedCurrency"),
            channel: payment.text_of("channel"),
            payment_reference: payment.text_of("paymentReference"),
            message: payment.text_of("message"),
        })
    }
}
