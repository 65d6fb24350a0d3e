//! BillPay JSON shapes, spelt as ClickPesa spells them. Requests carry no
//! `checksum` (none appears in any BillPay schema); amounts are JSON
//! numbers written from their exact decimal text.

use super::super::Loose;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The create body (order and customer), members in alphabetical order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_amount: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_max_collection_amount: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_payment_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) customer_email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) customer_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) customer_phone: Option<&'a str>,
}

/// The `PATCH /billpay/{number}` body, members in alphabetical order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_amount: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_max_collection_amount: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_payment_mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) bill_status: Option<&'static str>,
}

/// A control number reply (create, read and update share the members).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ControlNumberReply {
    pub(super) bill_pay_number: Option<Loose>,
    pub(super) bill_status: Option<Loose>,
    pub(super) bill_amount: Option<Loose>,
    pub(super) bill_description: Option<Loose>,
    pub(super) bill_customer_name: Option<Loose>,
    pub(super) bill_payment_mode: Option<Loose>,
    pub(super) bill_max_collection_amount: Option<Loose>,
}
