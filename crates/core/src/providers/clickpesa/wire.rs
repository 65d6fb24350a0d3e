//! ClickPesa JSON shapes, spelt as ClickPesa spells them (camelCase).
//! Requests are written in the order they have always been sent. In
//! replies every member is optional and numbers and strings are used
//! loosely, so each is a [`Loose`]; members FinConnect does not read (such
//! as `clientId`) are skipped.

use super::super::Loose;
use serde::{Deserialize, Serialize};

/// The `generate-token` reply: `{"success": true, "token": "Bearer ..."}`.
#[derive(Deserialize)]
pub(super) struct ClickpesaTokenResponse {
    pub(super) success: Option<Loose>,
    pub(super) token: Option<Loose>,
}

/// ClickPesa's error body: `{"message": "..."}`, or NestJS's
/// `{"statusCode": 400, "message": ["..."], "error": "Bad Request"}`.
#[derive(Deserialize)]
pub(super) struct ClickpesaErrorBody {
    /// A string, or an array of strings.
    pub(super) message: Option<Loose>,
    /// A string or a number.
    pub(super) error: Option<Loose>,
}

/// The USSD-push request, members in alphabetical order (as it has always
/// been sent), with the checksum after `amount` when there is one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClickpesaUssdPushRequest<'a> {
    /// Decimal text in major units (a string, as documented).
    pub(super) amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) checksum: Option<String>,
    pub(super) currency: &'a str,
    pub(super) order_reference: &'a str,
    pub(super) phone_number: &'a str,
}

/// A collection as ClickPesa reports it (initiate reply, query rows,
/// webhook `data`). The `clientId` it also carries is deliberately not read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClickpesaPayment {
    pub(super) id: Option<Loose>,
    pub(super) status: Option<Loose>,
    pub(super) order_reference: Option<Loose>,
    /// Read exactly and rendered with two decimals.
    pub(super) collected_amount: Option<Loose>,
    pub(super) collected_currency: Option<Loose>,
    /// The mobile network or rail the customer paid through (`TIGO-PESA`).
    pub(super) channel: Option<Loose>,
    /// What payout and newer records name the network with when `channel`
    /// holds the rail (`MOBILE MONEY`): `TIGO PESA`.
    pub(super) channel_provider: Option<Loose>,
    pub(super) payment_reference: Option<Loose>,
    pub(super) message: Option<Loose>,
}
