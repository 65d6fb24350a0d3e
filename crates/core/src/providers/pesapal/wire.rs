//! PesaPal API 3.0 JSON shapes (snake_case, with the documented exceptions).

use super::super::lenient_string;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Serialize)]
pub(super) struct PesapalTokenRequest<'a> {
    pub(super) consumer_key: &'a str,
    pub(super) consumer_secret: &'a str,
}

#[derive(Deserialize)]
pub(super) struct PesapalTokenResponse {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) token: Option<String>,
    #[serde(default, rename = "expiryDate", deserialize_with = "lenient_string")]
    pub(super) expiry_date: Option<String>,
}

/// The parts of every reply that say whether the call worked.
#[derive(Deserialize, Default)]
pub(super) struct PesapalEnvelope {
    #[serde(default)]
    pub(super) error: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) message: Option<serde_json::Value>,
}

/// PesaPal's error object. The documented key is `type`; in practice it is
/// `error_type`. Every member may be null.
#[derive(Deserialize, Default, Debug, PartialEq, Eq)]
pub(super) struct PesapalApiError {
    #[serde(default, alias = "type", deserialize_with = "lenient_string")]
    pub(super) error_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) message: Option<String>,
}

impl PesapalApiError {
    /// True when at least one member carries something (an all-null error
    /// object means success).
    pub(super) fn is_meaningful(&self) -> bool {
        [&self.error_type, &self.code, &self.message]
            .into_iter()
            .any(|member| member.as_deref().is_some_and(|text| !text.is_empty()))
    }
}

#[derive(Serialize)]
pub(super) struct PesapalSubmitOrderRequest<'a> {
    pub(super) id: &'a str,
    pub(super) currency: &'a str,
    /// A JSON number written from exact decimal text.
    pub(super) amount: &'a RawValue,
    pub(super) description: &'a str,
    pub(super) callback_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cancellation_url: Option<&'a str>,
    pub(super) notification_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) branch: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) redirect_mode: Option<&'a str>,
    pub(super) billing_address: PesapalBillingAddress<'a>,
}

#[derive(Serialize)]
pub(super) struct PesapalBillingAddress<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) email_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) phone_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) country_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) first_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) last_name: Option<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct PesapalSubmitOrderResponse {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) order_tracking_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) merchant_reference: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) redirect_url: Option<String>,
}

#[derive(Serialize)]
pub(super) struct PesapalRegisterIpnRequest<'a> {
    pub(super) url: &'a str,
    pub(super) ipn_notification_type: &'a str,
}

#[derive(Deserialize)]
pub(super) struct PesapalRegisterIpnResponse {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) ipn_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) created_date: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) ipn_notification_type_description: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PesapalStatusResponse<'a> {
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) payment_method: Option<String>,
    #[serde(default, borrow)]
    pub(super) amount: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) confirmation_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) order_tracking_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) payment_status_description: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) description: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) status_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) merchant_reference: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub(super) currency: Option<String>,
}

/// The acknowledgement a merchant returns for an IPN: camelCase keys, the
/// status as a number, in the documented order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PesapalIpnAck<'a> {
    pub(super) order_notification_type: &'a str,
    pub(super) order_tracking_id: &'a str,
    pub(super) order_merchant_reference: &'a str,
    pub(super) status: u16,
}
