//! ClickPesa's payout JSON shapes (§5 of the spec notes), spelt as ClickPesa
//! spells them. Request members are written in alphabetical order with the
//! checksum in its sorted place; reply members are all optional [`Loose`]
//! values, read leniently (ClickPesa writes amounts as numbers in previews
//! and as strings in payouts).

use super::super::Loose;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `POST /payouts/{preview,create}-mobile-money-payout`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MobileMoneyPayoutRequest<'a> {
    /// A JSON number written from the exact decimal text.
    pub(super) amount: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) checksum: Option<String>,
    pub(super) currency: &'a str,
    pub(super) order_reference: &'a str,
    pub(super) phone_number: &'a str,
}

/// `POST /payouts/{preview,create}-bank-payout`; `accountName` only on create.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BankPayoutRequest<'a> {
    pub(super) account_currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) account_name: Option<&'a str>,
    pub(super) account_number: &'a str,
    /// A JSON number written from the exact decimal text.
    pub(super) amount: &'a RawValue,
    pub(super) bic: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) checksum: Option<String>,
    pub(super) currency: &'a str,
    pub(super) order_reference: &'a str,
    pub(super) transfer_type: &'a str,
}

/// `POST /payouts/verify-bank-account`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifyBankAccountRequest<'a> {
    pub(super) account_number: &'a str,
    pub(super) bic: &'a str,
}

/// A preview reply.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PreviewReply {
    /// Total debited, fee included.
    pub(super) amount: Option<Loose>,
    pub(super) balance: Option<Loose>,
    pub(super) channel_provider: Option<Loose>,
    pub(super) fee: Option<Loose>,
    pub(super) exchanged: Option<Loose>,
    pub(super) order: Option<Loose>,
    pub(super) payout_fee_bearer: Option<Loose>,
    pub(super) receiver: Option<Loose>,
    pub(super) name_lookup_status: Option<Loose>,
    pub(super) transfer_type: Option<Loose>,
    pub(super) settlement_type: Option<Loose>,
    pub(super) estimated_arrival: Option<Loose>,
}

/// A preview's `order`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PreviewOrder {
    pub(super) amount: Option<Loose>,
    pub(super) currency: Option<Loose>,
    pub(super) id: Option<Loose>,
}

/// A preview's `receiver`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PreviewReceiver {
    pub(super) account_name: Option<Loose>,
    pub(super) account_number: Option<Loose>,
    pub(super) amount: Option<Loose>,
}

/// A payout: the create reply, a query row, a webhook's `data`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PayoutReply {
    pub(super) id: Option<Loose>,
    pub(super) order_reference: Option<Loose>,
    pub(super) amount: Option<Loose>,
    pub(super) currency: Option<Loose>,
    pub(super) fee: Option<Loose>,
    pub(super) status: Option<Loose>,
    pub(super) channel: Option<Loose>,
    pub(super) channel_provider: Option<Loose>,
    pub(super) transfer_type: Option<Loose>,
    /// The older name of `transferType`.
    pub(super) settlement_type: Option<Loose>,
    pub(super) beneficiary: Option<Loose>,
    pub(super) notes: Option<Loose>,
    pub(super) created_at: Option<Loose>,
    pub(super) updated_at: Option<Loose>,
}

/// A payout's `beneficiary`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Beneficiary {
    pub(super) account_number: Option<Loose>,
    pub(super) account_name: Option<Loose>,
    pub(super) beneficiary_mobile_number: Option<Loose>,
}

/// A row of `GET /list/banks`.
#[derive(Deserialize)]
pub(super) struct BankRow {
    pub(super) name: Option<Loose>,
    pub(super) bic: Option<Loose>,
}

/// The `verify-bank-account` reply.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifyReply {
    pub(super) account_name: Option<Loose>,
}

/// A row of `GET /account/balance`.
#[derive(Deserialize)]
pub(super) struct BalanceRow {
    pub(super) currency: Option<Loose>,
    pub(super) balance: Option<Loose>,
}

/// `POST /payouts/{preview,create}-lipa-namba-payout`: exactly one
/// destination, `lipaNamba` + `providerCode` or `qrCode` (spec §5.3).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LipaNambaPayoutRequest<'a> {
    /// A JSON number written from the exact decimal text.
    pub(super) amount: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) checksum: Option<String>,
    pub(super) currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lipa_namba: Option<&'a str>,
    pub(super) order_reference: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) provider_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) qr_code: Option<&'a str>,
}

/// A row of `GET /payouts/lipa-namba-providers`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LipaNambaProviderRow {
    pub(super) name: Option<Loose>,
    pub(super) provider_code: Option<Loose>,
}
