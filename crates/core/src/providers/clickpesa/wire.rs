//! ClickPesa JSON shapes (camelCase; numbers and strings used loosely).

use super::super::lenient_string;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

#[derive(Deserialize)]
pub(super) struct ClickpesaTokenResponse {
    #[serde(default)]
    pub(super) success: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) token: Option<String>,
}

/// ClickPesa's error body: `{"message": "..."}`, or NestJS's
/// `{"statusCode": 400, "message": ["..."], "error": "Bad Request"}`.
#[derive(Deserialize, Default)]
pub(super) struct ClickpesaErrorBody {
    #[serde(default, deserialize_with = "message_text")]
    pub(super) message: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) error: Option<String>,
}

fn message_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Some(text),
        serde_json::Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect();
            (!texts.is_empty()).then(|| texts.join("; "))
        }
        _ => None,
    })
}

/// A collection as ClickPesa reports it (initiate reply, query rows). The
/// `clientId` it also carries is deliberately not read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClickpesaPayment<'a> {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) status: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) order_reference: Option<String>,
    #[serde(default, borrow)]
    pub(super) collected_amount: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) collected_currency: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) channel: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) payment_reference: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) message: Option<String>,
}
