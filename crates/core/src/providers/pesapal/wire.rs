//! PesaPal API 3.0 JSON shapes, spelt as PesaPal spells them (snake_case,
//! with the documented exceptions such as `expiryDate`).
//!
//! Requests are written in the documented member order, optional members
//! left out when absent. Replies tolerate members FinConnect does not read,
//! and PesaPal is loose about types, so every reply member is a [`Loose`]:
//! a string, a number or a boolean reads as text, null, arrays and objects
//! as absent (see [`text_of`](super::super::text_of)).

use super::super::Loose;
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
pub(super) struct PesapalTokenRequest<'a> {
    pub(super) consumer_key: &'a str,
    pub(super) consumer_secret: &'a str,
}

#[derive(Deserialize)]
pub(super) struct PesapalTokenResponse {
    pub(super) token: Option<Loose>,
    #[serde(rename = "expiryDate")]
    pub(super) expiry_date: Option<Loose>,
}

/// The parts of every reply that say whether the call worked. `error` and
/// `message` keep their type: their meaning depends on it. A null member is
/// `None`.
#[derive(Default, Deserialize)]
pub(super) struct PesapalEnvelope {
    pub(super) error: Option<Loose>,
    pub(super) status: Option<Loose>,
    pub(super) message: Option<Loose>,
}

/// PesaPal's error object. The documented key is `type`; in practice it is
/// `error_type`. Every member may be null.
#[derive(Default, Deserialize)]
pub(super) struct PesapalErrorObject {
    pub(super) error_type: Option<Loose>,
    #[serde(rename = "type")]
    pub(super) documented_type: Option<Loose>,
    pub(super) code: Option<Loose>,
    pub(super) message: Option<Loose>,
}

#[derive(Serialize)]
pub(super) struct PesapalSubmitOrderRequest<'a> {
    pub(super) id: &'a str,
    pub(super) currency: &'a str,
    /// Exact decimal text (`1500.00`), written as a JSON number.
    pub(super) amount: &'a RawNumber,
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
    /// Turns the recurring option on (§10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) account_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) subscription_details: Option<PesapalSubscriptionDetails<'a>>,
}

/// `subscription_details` of SubmitOrderRequest: dates `dd-MM-yyyy`.
#[derive(Serialize)]
pub(super) struct PesapalSubscriptionDetails<'a> {
    pub(super) start_date: &'a str,
    pub(super) end_date: &'a str,
    pub(super) frequency: &'a str,
}

/// A JSON number written as its exact text (serde_json's `RawValue`).
pub(super) type RawNumber = serde_json::value::RawValue;

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
    pub(super) order_tracking_id: Option<Loose>,
    pub(super) merchant_reference: Option<Loose>,
    pub(super) redirect_url: Option<Loose>,
}

#[derive(Serialize)]
pub(super) struct PesapalRegisterIpnRequest<'a> {
    pub(super) url: &'a str,
    pub(super) ipn_notification_type: &'a str,
}

#[derive(Deserialize)]
pub(super) struct PesapalRegisterIpnResponse {
    pub(super) ipn_id: Option<Loose>,
    pub(super) url: Option<Loose>,
    pub(super) created_date: Option<Loose>,
    pub(super) ipn_notification_type_description: Option<Loose>,
}

#[derive(Deserialize)]
pub(super) struct PesapalStatusResponse {
    pub(super) payment_method: Option<Loose>,
    /// Read exactly by `reported_amount_of`.
    pub(super) amount: Option<Loose>,
    pub(super) confirmation_code: Option<Loose>,
    pub(super) order_tracking_id: Option<Loose>,
    pub(super) payment_status_description: Option<Loose>,
    pub(super) description: Option<Loose>,
    pub(super) status_code: Option<Loose>,
    pub(super) merchant_reference: Option<Loose>,
    pub(super) currency: Option<Loose>,
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

/// A notification PesaPal POSTs as JSON: only its string members are read,
/// under whatever spelling of the keys it uses (matched in `ipn.rs`), so it
/// is read as its members rather than as a struct.
pub(super) type PesapalIpnBody = std::collections::BTreeMap<String, Loose>;

/// `POST /api/Transactions/RefundRequest`, in the documented member order.
/// The amount goes as a decimal string, as PesaPal's own sample sends it.
#[derive(Serialize)]
pub(super) struct PesapalRefundRequest<'a> {
    pub(super) confirmation_code: &'a str,
    pub(super) amount: &'a str,
    pub(super) username: &'a str,
    pub(super) remarks: &'a str,
}

/// `POST /api/Transactions/CancelOrder`.
#[derive(Serialize)]
pub(super) struct PesapalCancelOrderRequest<'a> {
    pub(super) order_tracking_id: &'a str,
}

/// One row of `GET /api/URLSetup/GetIpnList` (a bare JSON array of these).
#[derive(Deserialize)]
pub(super) struct PesapalIpnRow {
    pub(super) ipn_id: Option<Loose>,
    pub(super) url: Option<Loose>,
    pub(super) created_date: Option<Loose>,
    pub(super) ipn_notification_type_description: Option<Loose>,
    pub(super) ipn_status: Option<Loose>,
}
