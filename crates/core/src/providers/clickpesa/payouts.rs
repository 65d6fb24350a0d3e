//! ClickPesa payouts (Disbursement API, §5 of the spec notes): mobile-money
//! and bank payouts (preview, then create), the banks list, bank account
//! checks, payout queries by reference and the account balance. Requests are
//! built as data, replies read from data; the flow runs them
//! ([`crate::flow`]).
//!
//! Payout amounts go out as JSON numbers (ClickPesa's schema), written
//! from the exact decimal text of an [`Amount`] through serde_json's
//! `RawValue` — never through a float — and signed with the checksum key
//! when one is set, as collections are.

use super::payouts_wire::*;
use super::{
    ClickpesaConfig, check_status, checksum, not_as_documented, object_reply, validate_reference,
};
use crate::config::names;
use crate::connector::{BoxedCall, Exchange};
use crate::domain::Provider;
use crate::error::{Error, ProviderError, Result};
use crate::money::Amount;
use crate::payouts::{
    Balance, Balances, Bank, BankAccount, BankAccountQuery, LipaNambaProvider, Payout,
    PayoutDestination, PayoutPreview, PayoutRequest, PayoutStatus, TransferType,
};
use crate::providers::{
    AccessToken, Loose, finish, json_reply, read_json_array, read_json_object, read_object,
    reported_amount_of, request, text_of,
};
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::validate;
use serde_json::value::RawValue;

const PROVIDER: Provider = Provider::Clickpesa;

/// ClickPesa picks ACH for TZS payouts up to this many shillings, RTGS above.
const ACH_LIMIT_TZS: u64 = 20_000_000;

/// Whether a payout is previewed or created: creating a bank payout needs
/// the account holder's name, previewing does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `preview-*-payout`: nothing moves.
    Preview,
    /// `create-*-payout`: money moves.
    Create,
}

/// A payout checked against ClickPesa's rules; nothing is sent for one
/// that fails them.
#[derive(Clone, Debug)]
pub struct CheckedPayout {
    stage: Stage,
    reference: String,
    amount: Amount,
    currency: String,
    destination: Destination,
}

#[derive(Clone, Debug)]
enum Destination {
    Mobile {
        phone: String,
    },
    Bank {
        account_number: String,
        bic: String,
        account_name: Option<String>,
        account_currency: String,
        transfer_type: TransferType,
    },
    LipaNamba(LipaTarget),
}

/// A Lipa Namba payout's one destination.
#[derive(Clone, Debug)]
enum LipaTarget {
    Number {
        lipa_namba: String,
        provider_code: String,
    },
    Qr(String),
}

/// What every TanQR code carries (the TIPS domain), spec §5.3.
const TANQR_MARK: &str = "tz.go.bot.tips";

/// Checks a Lipa Namba / TanQR destination: exactly one of `lipa_namba`
/// with `provider_code`, or `qr_code`.
fn check_lipa_namba(
    lipa_namba: Option<&str>,
    provider_code: Option<&str>,
    qr_code: Option<&str>,
) -> Result<LipaTarget> {
    fn given(value: Option<&str>) -> Option<&str> {
        value.map(str::trim).filter(|text| !text.is_empty())
    }
    match (given(lipa_namba), given(provider_code), given(qr_code)) {
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(Error::invalid(
            "qr_code",
            "give either lipa_namba with provider_code, or qr_code, not both",
        )),
        (None, None, None) => Err(Error::invalid(
            "lipa_namba",
            "is required (with provider_code), unless qr_code is given",
        )),
        (None, Some(_), None) => Err(Error::invalid(
            "lipa_namba",
            "is required with provider_code",
        )),
        (Some(_), None, None) => Err(Error::invalid(
            "provider_code",
            "is required with lipa_namba (see the Lipa Namba providers list)",
        )),
        (Some(number), Some(code), None) => {
            if !(1..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::invalid("lipa_namba", "must be 1 to 20 digits"));
            }
            if !(1..=10).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(Error::invalid(
                    "provider_code",
                    "must be a provider code from the Lipa Namba providers list (e.g. 503)",
                ));
            }
            Ok(LipaTarget::Number {
                lipa_namba: number.to_owned(),
                provider_code: code.to_owned(),
            })
        }
        (None, None, Some(qr)) => {
            let printable = qr.bytes().all(|b| (0x20..0x7f).contains(&b));
            if qr.len() > 512 || !printable || !qr.contains(TANQR_MARK) {
                return Err(Error::invalid(
                    "qr_code",
                    "must be the full TanQR text (printable, at most 512 characters, containing                      tz.go.bot.tips)",
                ));
            }
            Ok(LipaTarget::Qr(qr.to_owned()))
        }
    }
}

/// Checks a payout for ClickPesa.
pub fn check_payout(request: &PayoutRequest, stage: Stage) -> Result<CheckedPayout> {
    validate_reference(&request.reference, "reference")?;
    let amount = validate::amount(&request.amount).map_err(|r| Error::invalid("amount", r))?;
    if !matches!(request.currency.as_str(), "TZS" | "USD") {
        return Err(Error::invalid(
            "currency",
            "must be TZS or USD (the ClickPesa balance debited)",
        ));
    }
    let destination = match &request.destination {
        PayoutDestination::MobileMoney { phone } => {
            let ok = phone.len() == 12
                && phone.starts_with("255")
                && phone.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(Error::invalid(
                    "phone",
                    "must be 255 followed by 9 digits, without + (e.g. 255712345678)",
                ));
            }
            Destination::Mobile {
                phone: phone.clone(),
            }
        }
        PayoutDestination::Bank {
            account_number,
            bic,
            account_name,
            account_currency,
            transfer_type,
        } => {
            check_account_number(account_number)?;
            check_bic(bic)?;
            let account_name = match account_name.as_deref().map(str::trim) {
                Some(name) if !name.is_empty() => {
                    validate::text(name, 100).map_err(|r| Error::invalid("account_name", r))?;
                    Some(name.to_owned())
                }
                _ if stage == Stage::Create => {
                    return Err(Error::invalid(
                        "account_name",
                        "is required to create a bank payout (verify the account first)",
                    ));
                }
                _ => None,
            };
            let account_currency = account_currency.clone().unwrap_or_else(|| "TZS".into());
            if account_currency != "TZS" {
                return Err(Error::invalid(
                    "account_currency",
                    "must be TZS for ClickPesa bank payouts",
                ));
            }
            let transfer_type = transfer_type.unwrap_or(
                if request.currency == "TZS" && amount.hundredths() <= ACH_LIMIT_TZS * 100 {
                    TransferType::Ach
                } else {
                    TransferType::Rtgs
                },
            );
            Destination::Bank {
                account_number: account_number.clone(),
                bic: bic.clone(),
                account_name,
                account_currency,
                transfer_type,
            }
        }
        PayoutDestination::LipaNamba {
            lipa_namba,
            provider_code,
            qr_code,
        } => Destination::LipaNamba(check_lipa_namba(
            lipa_namba.as_deref(),
            provider_code.as_deref(),
            qr_code.as_deref(),
        )?),
    };
    Ok(CheckedPayout {
        stage,
        reference: request.reference.clone(),
        amount,
        currency: request.currency.clone(),
        destination,
    })
}

fn check_account_number(account_number: &str) -> Result<()> {
    if (1..=34).contains(&account_number.len())
        && account_number.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Ok(())
    } else {
        Err(Error::invalid(
            "account_number",
            "must be 1 to 34 letters and digits",
        ))
    }
}

fn check_bic(bic: &str) -> Result<()> {
    if matches!(bic.len(), 8 | 11) && bic.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "bic",
            "must be an 8 or 11 character BIC from the banks list (e.g. EQBLTZTZ)",
        ))
    }
}

/// Checks a bank account query for ClickPesa.
pub fn check_account_query(query: &BankAccountQuery) -> Result<()> {
    check_account_number(&query.account_number)?;
    check_bic(&query.bic)
}

/// The path of a payout call.
fn payout_path(payout: &CheckedPayout) -> &'static str {
    match (&payout.destination, payout.stage) {
        (Destination::Mobile { .. }, Stage::Preview) => "/payouts/preview-mobile-money-payout",
        (Destination::Mobile { .. }, Stage::Create) => "/payouts/create-mobile-money-payout",
        (Destination::Bank { .. }, Stage::Preview) => "/payouts/preview-bank-payout",
        (Destination::Bank { .. }, Stage::Create) => "/payouts/create-bank-payout",
        (Destination::LipaNamba(_), Stage::Preview) => "/payouts/preview-lipa-namba-payout",
        (Destination::LipaNamba(_), Stage::Create) => "/payouts/create-lipa-namba-payout",
    }
}

/// The request body, unsigned: the amount as a JSON number from its exact
/// plain text (`1000`, `1000.5`).
fn unsigned_body(payout: &CheckedPayout, checksum: Option<String>) -> Result<Vec<u8>> {
    let amount = RawValue::from_string(payout.amount.to_plain())
        .map_err(|error| Error::invalid("amount", error.to_string()))?;
    let body = match &payout.destination {
        Destination::Mobile { phone } => serde_json::to_vec(&MobileMoneyPayoutRequest {
            amount: &amount,
            checksum,
            currency: &payout.currency,
            order_reference: &payout.reference,
            phone_number: phone,
        }),
        Destination::Bank {
            account_number,
            bic,
            account_name,
            account_currency,
            transfer_type,
        } => serde_json::to_vec(&BankPayoutRequest {
            account_currency,
            account_name: match payout.stage {
                Stage::Create => account_name.as_deref(),
                Stage::Preview => None,
            },
            account_number,
            amount: &amount,
            bic,
            checksum,
            currency: &payout.currency,
            order_reference: &payout.reference,
            transfer_type: transfer_type.as_str(),
        }),
        Destination::LipaNamba(target) => {
            let (lipa_namba, provider_code, qr_code) = match target {
                LipaTarget::Number {
                    lipa_namba,
                    provider_code,
                } => (
                    Some(lipa_namba.as_str()),
                    Some(provider_code.as_str()),
                    None,
                ),
                LipaTarget::Qr(qr) => (None, None, Some(qr.as_str())),
            };
            serde_json::to_vec(&LipaNambaPayoutRequest {
                amount: &amount,
                checksum,
                currency: &payout.currency,
                lipa_namba,
                order_reference: &payout.reference,
                provider_code,
                qr_code,
            })
        }
    };
    body.map_err(|error| Error::invalid("body", error.to_string()))
}

/// `POST {base}/payouts/{preview,create}-{mobile-money,bank}-payout`,
/// signed when a checksum key is set.
pub fn payout_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    payout: &CheckedPayout,
) -> Result<HttpRequest> {
    let mut body = unsigned_body(payout, None)?;
    if let Some(key) = &config.checksum_key {
        let unsigned = checksum::Value::parse(&body)
            .map_err(|error| Error::invalid("body", error.to_string()))?;
        let signature = checksum::compute(key.expose().as_bytes(), &unsigned)
            .map_err(|refused| Error::invalid("amount", refused.to_string()))?;
        body = unsigned_body(payout, Some(signature))?;
    }
    finish(
        request(Method::Post, config.url(payout_path(payout)))
            .with_header("authorization", token.value.expose())
            .with_header("content-type", "application/json")
            .with_body(body),
        names::CLICKPESA_BASE_URL,
    )
}

fn get(config: &ClickpesaConfig, token: &AccessToken, path: &str) -> Result<HttpRequest> {
    finish(
        request(Method::Get, config.url(path)).with_header("authorization", token.value.expose()),
        names::CLICKPESA_BASE_URL,
    )
}

/// `GET {base}/payouts/{orderReference}`.
pub fn payout_status_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    reference: &str,
) -> Result<HttpRequest> {
    validate_reference(reference, "reference")?;
    get(config, token, &format!("/payouts/{reference}"))
}

/// `GET {base}/list/banks`.
pub fn banks_request(config: &ClickpesaConfig, token: &AccessToken) -> Result<HttpRequest> {
    get(config, token, "/list/banks")
}

/// `GET {base}/payouts/lipa-namba-providers`.
pub fn lipa_namba_providers_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
) -> Result<HttpRequest> {
    get(config, token, "/payouts/lipa-namba-providers")
}

/// Reads the Lipa Namba providers; rows without a name or code are left out.
pub fn parse_lipa_namba_providers(response: &HttpResponse) -> Result<Vec<LipaNambaProvider>> {
    let rows: Vec<LipaNambaProviderRow> = array_reply(response, "providers")?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(LipaNambaProvider {
                name: not_blank(row.name.as_ref())?,
                provider_code: not_blank(row.provider_code.as_ref())?,
            })
        })
        .collect())
}

/// The Lipa Namba providers list, for the flow.
pub fn lipa_namba_providers_call() -> BoxedCall<ClickpesaConfig, Vec<LipaNambaProvider>> {
    Exchange::boxed(
        (),
        |config, token, ()| lipa_namba_providers_request(config, token),
        |reply, ()| parse_lipa_namba_providers(reply),
    )
}

/// `GET {base}/account/balance`.
pub fn balance_request(config: &ClickpesaConfig, token: &AccessToken) -> Result<HttpRequest> {
    get(config, token, "/account/balance")
}

/// `POST {base}/payouts/verify-bank-account` (its schema has no checksum).
pub fn verify_bank_account_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    query: &BankAccountQuery,
) -> Result<HttpRequest> {
    check_account_query(query)?;
    let body = serde_json::to_vec(&VerifyBankAccountRequest {
        account_number: &query.account_number,
        bic: &query.bic,
    })
    .map_err(|error| Error::invalid("body", error.to_string()))?;
    finish(
        request(Method::Post, config.url("/payouts/verify-bank-account"))
            .with_header("authorization", token.value.expose())
            .with_header("content-type", "application/json")
            .with_body(body),
        names::CLICKPESA_BASE_URL,
    )
}

/// A reply that must be one JSON object, read as `T` once its status passed.
fn checked_object<T: serde::de::DeserializeOwned>(response: &HttpResponse) -> Result<T> {
    check_status(response)?;
    object_reply(response)
}

/// A reply that must be one JSON array of objects, each read as `T`.
fn array_reply<T: serde::de::DeserializeOwned>(
    response: &HttpResponse,
    what: &str,
) -> Result<Vec<T>> {
    check_status(response)?;
    let not_an_array = || not_as_documented(response, &format!("it is not an array of {what}"));
    let Loose::Array(array) = json_reply(PROVIDER, response)? else {
        return Err(not_an_array());
    };
    read_json_array(array.get())
        .ok_or_else(not_an_array)?
        .iter()
        .map(|item| match item {
            Loose::Object(object) => read_object(PROVIDER, response.status, object),
            _ => Err(not_an_array()),
        })
        .collect()
}

/// A nested object member, read as `T` (absent or not an object: `None`).
fn nested<T: serde::de::DeserializeOwned>(member: Option<&Loose>) -> Option<T> {
    match member? {
        Loose::Object(object) => read_json_object(object.get()).ok(),
        _ => None,
    }
}

fn not_blank(value: Option<&Loose>) -> Option<String> {
    text_of(value).filter(|text| !text.trim().is_empty())
}

/// Reads a preview reply.
pub fn parse_preview(response: &HttpResponse, payout: &CheckedPayout) -> Result<PayoutPreview> {
    let reply: PreviewReply = checked_object(response)?;
    let order: Option<PreviewOrder> = nested(reply.order.as_ref());
    let receiver: Option<PreviewReceiver> = nested(reply.receiver.as_ref());
    let total = reported_amount_of(reply.amount.as_ref());
    if total.is_none() {
        return Err(not_as_documented(response, "the total `amount` is missing"));
    }
    let order_amount = order
        .as_ref()
        .and_then(|order| reported_amount_of(order.amount.as_ref()))
        .or_else(|| {
            receiver
                .as_ref()
                .and_then(|r| reported_amount_of(r.amount.as_ref()))
        });
    Ok(PayoutPreview {
        provider: Some(PROVIDER),
        reference: order
            .as_ref()
            .and_then(|order| not_blank(order.id.as_ref()))
            .or_else(|| Some(payout.reference.clone())),
        total,
        fee: reported_amount_of(reply.fee.as_ref()),
        amount: order_amount,
        currency: order
            .as_ref()
            .and_then(|order| not_blank(order.currency.as_ref()))
            .or_else(|| Some(payout.currency.clone())),
        balance: reported_amount_of(reply.balance.as_ref()),
        fee_bearer: not_blank(reply.payout_fee_bearer.as_ref()),
        channel_provider: not_blank(reply.channel_provider.as_ref()),
        receiver_name: receiver
            .as_ref()
            .and_then(|r| not_blank(r.account_name.as_ref())),
        receiver_account: receiver
            .as_ref()
            .and_then(|r| not_blank(r.account_number.as_ref())),
        name_lookup: not_blank(reply.name_lookup_status.as_ref()),
        transfer_type: not_blank(reply.transfer_type.as_ref())
            .or_else(|| not_blank(reply.settlement_type.as_ref())),
        estimated_arrival: not_blank(reply.estimated_arrival.as_ref()),
        exchanged: matches!(reply.exchanged, Some(Loose::Bool(true))),
    })
}

/// ClickPesa's payout status text as a [`PayoutStatus`].
pub fn payout_status_of(text: Option<&str>) -> PayoutStatus {
    match text.map(|text| text.trim().to_ascii_uppercase()).as_deref() {
        Some("AUTHORIZED") => PayoutStatus::Authorized,
        Some("PROCESSING") => PayoutStatus::Processing,
        Some("PENDING") => PayoutStatus::Pending,
        Some("SUCCESS") => PayoutStatus::Succeeded,
        Some("FAILED") => PayoutStatus::Failed,
        Some("REFUNDED") => PayoutStatus::Refunded,
        Some("REVERSED") => PayoutStatus::Reversed,
        _ => PayoutStatus::Unknown,
    }
}

/// A payout object (create reply, query row, webhook `data`) as a [`Payout`].
pub(super) fn payout_of(reply: PayoutReply) -> Payout {
    let beneficiary: Option<Beneficiary> = nested(reply.beneficiary.as_ref());
    let provider_status = not_blank(reply.status.as_ref());
    Payout {
        provider: PROVIDER,
        id: not_blank(reply.id.as_ref()),
        reference: not_blank(reply.order_reference.as_ref()),
        status: payout_status_of(provider_status.as_deref()),
        provider_status,
        amount: reported_amount_of(reply.amount.as_ref()),
        fee: reported_amount_of(reply.fee.as_ref()),
        currency: not_blank(reply.currency.as_ref()),
        channel: not_blank(reply.channel.as_ref()),
        channel_provider: not_blank(reply.channel_provider.as_ref()),
        transfer_type: not_blank(reply.transfer_type.as_ref())
            .or_else(|| not_blank(reply.settlement_type.as_ref())),
        beneficiary_account: beneficiary.as_ref().and_then(|b| {
            not_blank(b.account_number.as_ref())
                .or_else(|| not_blank(b.beneficiary_mobile_number.as_ref()))
        }),
        beneficiary_name: beneficiary
            .as_ref()
            .and_then(|b| not_blank(b.account_name.as_ref())),
        notes: not_blank(reply.notes.as_ref()),
        created_at: not_blank(reply.created_at.as_ref()),
        updated_at: not_blank(reply.updated_at.as_ref()),
    }
}

/// Reads a create reply: one payout object, which must carry its id.
pub fn parse_created(response: &HttpResponse, payout: &CheckedPayout) -> Result<Payout> {
    let reply: PayoutReply = checked_object(response)?;
    let mut created = payout_of(reply);
    if created.id.is_none() {
        return Err(not_as_documented(response, "the payout has no `id`"));
    }
    created
        .reference
        .get_or_insert_with(|| payout.reference.clone());
    Ok(created)
}

/// Reads a payout query: the documented array, one row per payout.
pub fn parse_payout_status(response: &HttpResponse) -> Result<Vec<Payout>> {
    let rows: Vec<PayoutReply> = array_reply(response, "payouts")?;
    Ok(rows.into_iter().map(payout_of).collect())
}

/// Reads the banks list; rows without a name or BIC are left out.
pub fn parse_banks(response: &HttpResponse) -> Result<Vec<Bank>> {
    let rows: Vec<BankRow> = array_reply(response, "banks")?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(Bank {
                name: not_blank(row.name.as_ref())?,
                bic: not_blank(row.bic.as_ref())?,
            })
        })
        .collect())
}

/// Reads the account check: the bank's name for the account.
pub fn parse_bank_account(response: &HttpResponse) -> Result<BankAccount> {
    let reply: VerifyReply = checked_object(response)?;
    let account_name = not_blank(reply.account_name.as_ref())
        .ok_or_else(|| not_as_documented(response, "`accountName` is missing"))?;
    Ok(BankAccount { account_name })
}

/// Reads the balance: the array of balances, or for a new merchant the
/// documented 404 ("No balance account is linked to this merchant yet"),
/// which is an answer, not a failure.
pub fn parse_balances(response: &HttpResponse) -> Result<Balances> {
    if response.status == 404
        && let Err(Error::Provider(ProviderError { message, .. })) = check_status(response)
        && message.to_ascii_lowercase().contains("no balance account")
    {
        return Ok(Balances::NoBalanceYet { message });
    }
    let rows: Vec<BalanceRow> = array_reply(response, "balances")?;
    rows.into_iter()
        .map(|row| {
            let currency = not_blank(row.currency.as_ref());
            let balance = text_of(row.balance.as_ref())
                .and_then(|text| Amount::parse_reported(text.trim()))
                .map(Amount::fixed2_from_hundredths);
            match (currency, balance) {
                (Some(currency), Some(balance)) => Ok(Balance { currency, balance }),
                _ => Err(not_as_documented(
                    response,
                    "a balance lacks its currency or amount",
                )),
            }
        })
        .collect::<Result<Vec<_>>>()
        .map(Balances::Accounts)
}

/// A payout webhook as read (and, with a checksum key, verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutNotice {
    /// `PAYOUT INITIATED`, `PAYOUT REFUNDED`, `PAYOUT REVERSED`.
    pub event: String,
    /// The payout it reports.
    pub payout: Payout,
    /// Whether its checksum was verified (false only without a key).
    pub verified: bool,
}

/// Why a payout webhook was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutWebhookError {
    /// A checksum key is set and the checksum is missing or wrong.
    Unverified(&'static str),
    /// The body is not a payout webhook: the field, and what is wrong.
    Malformed(&'static str, &'static str),
}

/// Reads a payout webhook, `{"event": "PAYOUT ...", "data": {payout}}`.
/// With `checksum_key`, its top-level `checksum` must verify (canonical
/// method, over the body without `checksum`/`checksumMethod`).
pub fn read_payout_webhook(
    body: &[u8],
    checksum_key: Option<&crate::secret::Secret>,
) -> Result<PayoutNotice, PayoutWebhookError> {
    use PayoutWebhookError::{Malformed, Unverified};
    let value =
        checksum::Value::parse(body).map_err(|_| Malformed("body", "is not well-formed JSON"))?;
    if value.as_object().is_none() {
        return Err(Malformed("body", "must be a JSON object"));
    }
    let verified = match checksum_key {
        Some(key) => {
            if value.get("checksum").is_none() {
                return Err(Unverified("is missing"));
            }
            if !checksum::verify(key.expose().as_bytes(), &value) {
                return Err(Unverified("does not match"));
            }
            true
        }
        None => false,
    };
    let event = value
        .get("event")
        .or_else(|| value.get("eventType"))
        .and_then(checksum::Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .ok_or(Malformed("event", "is required"))?
        .to_owned();
    let upper = event.to_ascii_uppercase();
    if !upper.starts_with("PAYOUT") {
        return Err(Malformed(
            "event",
            "is not a payout event; payment webhooks go to /notifications/clickpesa",
        ));
    }
    let data = value
        .get("data")
        .filter(|data| data.as_object().is_some())
        .ok_or(Malformed("data", "must be an object"))?;
    let reply: PayoutReply =
        read_json_object(&data.to_json()).map_err(|_| Malformed("data", "repeats a member"))?;
    let mut payout = payout_of(reply);
    if payout.status == PayoutStatus::Unknown && payout.provider_status.is_none() {
        payout.status = match upper.as_str() {
            "PAYOUT REFUNDED" => PayoutStatus::Refunded,
            "PAYOUT REVERSED" => PayoutStatus::Reversed,
            "PAYOUT INITIATED" => PayoutStatus::Authorized,
            _ => PayoutStatus::Unknown,
        };
    }
    Ok(PayoutNotice {
        event,
        payout,
        verified,
    })
}

/// A payout preview or create, for the flow.
pub fn payout_call(payout: CheckedPayout) -> BoxedCall<ClickpesaConfig, Payout> {
    Exchange::boxed(payout, payout_request, parse_created)
}

/// A payout preview, for the flow.
pub fn preview_call(payout: CheckedPayout) -> BoxedCall<ClickpesaConfig, PayoutPreview> {
    Exchange::boxed(payout, payout_request, parse_preview)
}

/// A payout query by reference, for the flow.
pub fn status_call(reference: String) -> BoxedCall<ClickpesaConfig, Vec<Payout>> {
    Exchange::boxed(
        reference,
        |config, token, reference| payout_status_request(config, token, reference),
        |reply, _| parse_payout_status(reply),
    )
}

/// The banks list, for the flow.
pub fn banks_call() -> BoxedCall<ClickpesaConfig, Vec<Bank>> {
    Exchange::boxed(
        (),
        |config, token, ()| banks_request(config, token),
        |reply, ()| parse_banks(reply),
    )
}

/// A bank account check, for the flow.
pub fn verify_call(query: BankAccountQuery) -> BoxedCall<ClickpesaConfig, BankAccount> {
    Exchange::boxed(query, verify_bank_account_request, |reply, _| {
        parse_bank_account(reply)
    })
}

/// The balance, for the flow.
pub fn balance_call() -> BoxedCall<ClickpesaConfig, Balances> {
    Exchange::boxed(
        (),
        |config, token, ()| balance_request(config, token),
        |reply, ()| parse_balances(reply),
    )
}

#[cfg(test)]
#[path = "tests_payouts.rs"]
mod tests;

#[cfg(test)]
#[path = "tests_lipa_namba.rs"]
mod tests_lipa_namba;
