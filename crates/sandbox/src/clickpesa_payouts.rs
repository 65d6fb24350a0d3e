//! ClickPesa payouts under `/third-parties` (spec notes §5): a balance per
//! currency, previews and creation of mobile-money and bank payouts with
//! fees, the documented refusals, account-name resolution, the banks list,
//! the payout query (an array) and payout webhooks, plus the control
//! endpoints that seed balances, switch the cooldown on and settle payouts.
//!
//! Fees follow ClickPesa's documented samples (there is no published
//! schedule): mobile money 4.71 % (1,000 → 47.10), bank transfers 2,360
//! flat in the debited currency. Amounts are held as hundredths, read from
//! the exact text of the JSON number sent (never through a float).
//!
//! Sandbox conventions: wallets whose network ClickPesa's validator does
//! not list for payouts (255 61…, 255 73…, 255 79…, or anything outside its
//! prefixes) are an "Unsupported channel provider"; bank account numbers
//! starting `0000` are "Account not found"; the cooldown is off until set
//! (`cooldown_seconds`), after which a create within that many seconds of
//! the previous one is refused with the documented message.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use axum::routing::{get, post, put};
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use finconnect_core::money::Amount;
use finconnect_core::providers::clickpesa::checksum;

use crate::model::{Delivery, SandboxError};
use crate::pesapal::json_response;
use crate::server::{Incoming, control_json};
use crate::state::{Shared, State};
use crate::util;

#[path = "clickpesa_account.rs"]
mod account;

/// The banks the sandbox lists (name, BIC).
const BANKS: [(&str, &str); 4] = [
    ("CRDB BANK PLC", "CORUTZTZ"),
    ("EQUITY BANK TANZANIA", "EQBLTZTZ"),
    ("NMB BANK PLC", "NMIBTZTZ"),
    ("NATIONAL BANK OF COMMERCE", "NLCBTZTX"),
];

/// The balance message for a merchant without a balance account.
const NO_BALANCE: &str = "No balance account is linked to this merchant yet. Balance becomes \
                          available after the first successful payment or deposit.";

/// The payout endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /payouts/{preview,create}-{mobile-money,bank}-payout`.
    Payout { create: bool, bank: bool },
    /// `GET /payouts/{orderReference}`.
    Query(String),
    /// `GET /list/banks`.
    Banks,
    /// `POST /payouts/verify-bank-account`.
    VerifyBankAccount,
    /// `GET /account/balance`.
    Balance,
    /// `GET /payouts/all` ([`account`]).
    List,
    /// `GET /account/statement` ([`account`]).
    Statement,
    /// `GET /exchange-rates/all` ([`account`]).
    Rates,
    /// `POST /payouts/{preview,create}-lipa-namba-payout`.
    LipaPayout { create: bool },
    /// `GET /payouts/lipa-namba-providers`.
    LipaProviders,
}

/// What a payout request pays into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mobile,
    Bank,
    Lipa,
}

/// The Lipa Namba networks the sandbox lists (name, provider code).
const LIPA_PROVIDERS: [(&str, &str); 3] = [
    ("Vodacom M-Pesa", "503"),
    ("Mixx by Yas", "504"),
    ("Airtel Money", "505"),
];

/// What every TanQR code carries.
const TANQR_MARK: &str = "tz.go.bot.tips";

impl Endpoint {
    /// The payout endpoint for `method` on `path` (after `/third-parties`).
    pub(crate) fn classify(method: &Method, path: &str) -> Option<Endpoint> {
        let post = *method == Method::POST;
        let get = *method == Method::GET;
        Some(match path {
            "/payouts/preview-mobile-money-payout" if post => Endpoint::Payout {
                create: false,
                bank: false,
            },
            "/payouts/create-mobile-money-payout" if post => Endpoint::Payout {
                create: true,
                bank: false,
            },
            "/payouts/preview-bank-payout" if post => Endpoint::Payout {
                create: false,
                bank: true,
            },
            "/payouts/create-bank-payout" if post => Endpoint::Payout {
                create: true,
                bank: true,
            },
            "/payouts/verify-bank-account" if post => Endpoint::VerifyBankAccount,
            "/list/banks" if get => Endpoint::Banks,
            "/account/balance" if get => Endpoint::Balance,
            "/payouts/all" if get => Endpoint::List,
            "/account/statement" if get => Endpoint::Statement,
            "/exchange-rates/all" if get => Endpoint::Rates,
            "/payouts/preview-lipa-namba-payout" if post => Endpoint::LipaPayout { create: false },
            "/payouts/create-lipa-namba-payout" if post => Endpoint::LipaPayout { create: true },
            "/payouts/lipa-namba-providers" if get => Endpoint::LipaProviders,
            _ if get => {
                let reference = path.strip_prefix("/payouts/")?;
                if reference.is_empty() || reference.contains('/') || reference == "all" {
                    return None;
                }
                Endpoint::Query(util::percent_decode(reference))
            }
            _ => return None,
        })
    }
}

/// A payout the sandbox made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClickpesaPayout {
    /// ClickPesa's id.
    pub id: String,
    /// The merchant's `orderReference`.
    pub order_reference: String,
    /// What the receiver gets, two decimals.
    pub order_amount: String,
    /// The fee, two decimals.
    pub fee: String,
    /// The total debited, two decimals.
    pub amount: String,
    /// The currency debited.
    pub currency: String,
    /// `AUTHORIZED`, `SUCCESS`, `REVERSED` or `REFUNDED`.
    pub status: String,
    /// `MOBILE MONEY` or `BANK TRANSFER`.
    pub channel: String,
    /// The network or bank.
    pub channel_provider: String,
    /// The rail applied, for bank payouts.
    pub transfer_type: Option<String>,
    /// The wallet or account number.
    pub account_number: String,
    /// The receiver's name.
    pub account_name: String,
    /// UTC milliseconds.
    pub created_at: String,
    /// UTC milliseconds.
    pub updated_at: String,
}

/// How a payout is settled through the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutOutcome {
    /// The receiver has the money (`SUCCESS`, webhook `PAYOUT INITIATED`).
    Succeed,
    /// The receiving network refused it; money back (`REVERSED`).
    Reverse,
    /// ClickPesa failed it; money back (`REFUNDED`).
    Refund,
}

impl PayoutOutcome {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "succeed" | "success" => Some(PayoutOutcome::Succeed),
            "reverse" => Some(PayoutOutcome::Reverse),
            "refund" => Some(PayoutOutcome::Refund),
            _ => None,
        }
    }

    fn status(self) -> &'static str {
        match self {
            PayoutOutcome::Succeed => "SUCCESS",
            PayoutOutcome::Reverse => "REVERSED",
            PayoutOutcome::Refund => "REFUNDED",
        }
    }

    fn event(self) -> &'static str {
        match self {
            PayoutOutcome::Succeed => "PAYOUT INITIATED",
            PayoutOutcome::Reverse => "PAYOUT REVERSED",
            PayoutOutcome::Refund => "PAYOUT REFUNDED",
        }
    }
}

/// The payout side of the sandbox's state.
#[derive(Debug, Default)]
pub(crate) struct Book {
    /// Hundredths per currency; a currency absent has no balance account.
    balances: BTreeMap<String, u64>,
    payouts: Vec<ClickpesaPayout>,
    /// 0: no cooldown.
    cooldown_seconds: u64,
    last_create: Option<SystemTime>,
    webhook_url: Option<String>,
    /// Lipa Namba / TanQR destinations a preview resolved (creates need one).
    resolved_lipa: std::collections::BTreeSet<String>,
}

fn plain(hundredths: u64) -> String {
    let whole = hundredths / 100;
    match hundredths % 100 {
        0 => whole.to_string(),
        c if c % 10 == 0 => format!("{whole}.{}", c / 10),
        c => format!("{whole}.{c:02}"),
    }
}

fn fixed2(hundredths: u64) -> String {
    Amount::fixed2_from_hundredths(hundredths)
}

/// A JSON number for hundredths, written from its exact text.
fn number(hundredths: u64) -> Value {
    serde_json::from_str(&plain(hundredths)).unwrap_or(Value::Null)
}

fn nest_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({
            "statusCode": status.as_u16(),
            "message": message,
            "error": status.canonical_reason().unwrap_or("Error"),
        }),
    )
}

fn bad_request(message: &str) -> Response {
    nest_error(StatusCode::BAD_REQUEST, message)
}

/// The mobile network a payout wallet is on, by ClickPesa's validator's
/// prefixes; `None`: no payout channel.
fn network(phone: &str) -> Option<&'static str> {
    match phone.get(3..5)? {
        "74" | "75" | "76" => Some("MPESA TANZANIA"),
        "65" | "67" | "71" | "77" => Some("TIGO PESA"),
        "68" | "69" | "78" => Some("AIRTEL MONEY"),
        "62" => Some("HALOPESA"),
        _ => None,
    }
}

fn valid_phone(phone: &str) -> bool {
    phone.len() == 12 && phone.starts_with("255") && phone.bytes().all(|b| b.is_ascii_digit())
}

/// The name a wallet or account resolves to.
fn holder(number: &str) -> String {
    let tail = &number[number.len().saturating_sub(4)..];
    format!("SANDBOX RECEIVER {tail}")
}

fn fee(bank: bool, amount: u64) -> u64 {
    if bank {
        236_000
    } else {
        (amount * 471 + 5_000) / 10_000
    }
}

/// Answers a payout request (the token was checked by the caller).
pub(crate) fn handle(state: &mut State, endpoint: Endpoint, req: &Incoming) -> Response {
    match endpoint {
        Endpoint::Payout { create, bank } => {
            let kind = if bank { Kind::Bank } else { Kind::Mobile };
            payout(state, create, kind, req)
        }
        Endpoint::LipaPayout { create } => payout(state, create, Kind::Lipa, req),
        Endpoint::LipaProviders => json_response(
            StatusCode::OK,
            &Value::Array(
                LIPA_PROVIDERS
                    .iter()
                    .map(|(name, code)| json!({"name": name, "providerCode": code}))
                    .collect(),
            ),
        ),
        Endpoint::Query(reference) => query(state, &reference),
        Endpoint::Banks => json_response(
            StatusCode::OK,
            &Value::Array(
                BANKS
                    .iter()
                    .map(|(name, bic)| json!({"name": name, "bic": bic}))
                    .collect(),
            ),
        ),
        Endpoint::VerifyBankAccount => verify(req),
        Endpoint::Balance => balance(state),
        Endpoint::List => account::list(state, req),
        Endpoint::Statement => account::statement(state, req),
        Endpoint::Rates => account::rates(state, req),
    }
}

fn balance(state: &State) -> Response {
    let book = &state.payouts;
    if book.balances.is_empty() {
        return nest_error(StatusCode::NOT_FOUND, NO_BALANCE);
    }
    json_response(
        StatusCode::OK,
        &Value::Array(
            book.balances
                .iter()
                .map(|(currency, balance)| json!({"currency": currency, "balance": number(*balance)}))
                .collect(),
        ),
    )
}

fn verify(req: &Incoming) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return bad_request("Invalid JSON body");
    };
    let account = body
        .get("accountNumber")
        .and_then(Value::as_str)
        .unwrap_or("");
    let bic = body.get("bic").and_then(Value::as_str).unwrap_or("");
    if account.is_empty() || bic.is_empty() {
        return bad_request("accountNumber and bic are required");
    }
    if !BANKS.iter().any(|(_, known)| *known == bic) {
        return bad_request("Unsupported channel provider");
    }
    if account.starts_with("0000") {
        return nest_error(StatusCode::NOT_FOUND, "Account not found");
    }
    json_response(StatusCode::OK, &json!({"accountName": holder(account)}))
}

/// Checks the checksum the way the collection endpoints do.
fn checksum_refusal(state: &State, raw: &checksum::Value) -> Option<Response> {
    let key = state.config.clickpesa_checksum_key.as_ref()?;
    match raw.get("checksum") {
        Some(checksum::Value::String(c)) if !c.is_empty() => {
            (!checksum::verify(key.as_bytes(), raw)).then(|| bad_request("Invalid checksum"))
        }
        _ => Some(bad_request("checksum is required")),
    }
}

fn text<'a>(raw: &'a checksum::Value, name: &str) -> Option<&'a str> {
    raw.get(name)
        .and_then(checksum::Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// A Lipa Namba / TanQR destination: exactly one of `lipaNamba` +
/// `providerCode`, or `qrCode`. Returns (the key the preview-before-create
/// rule remembers, provider name, account, resolved name or `None`).
fn lipa_destination(
    raw: &checksum::Value,
) -> Result<(String, String, String, Option<String>), &'static str> {
    let (number, code, qr) = (
        text(raw, "lipaNamba"),
        text(raw, "providerCode"),
        text(raw, "qrCode"),
    );
    match (number, code, qr) {
        (Some(number), Some(code), None) => {
            let Some((name, _)) = LIPA_PROVIDERS.iter().find(|(_, known)| *known == code) else {
                return Err("Unsupported channel provider");
            };
            if !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err("lipaNamba must contain only digits");
            }
            // Sandbox convention: Lipa Nambas starting 0000 do not resolve.
            let resolved = (!number.starts_with("0000")).then(|| holder(number));
            Ok((
                format!("lipa|{code}|{number}"),
                (*name).to_owned(),
                number.to_owned(),
                resolved,
            ))
        }
        (None, None, Some(qr)) => {
            if !qr.contains(TANQR_MARK) {
                return Err("qrCode must be a valid TanQR code");
            }
            let tail: String = qr
                .chars()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Ok((
                format!("qr|{qr}"),
                "TIPS".to_owned(),
                qr.to_owned(),
                Some(format!("SANDBOX QR MERCHANT {tail}")),
            ))
        }
        _ => Err("Provide either lipaNamba with providerCode, or qrCode"),
    }
}

fn payout(state: &mut State, create: bool, kind: Kind, req: &Incoming) -> Response {
    let bank = kind == Kind::Bank;
    let Ok(raw) = checksum::Value::parse(&req.body) else {
        return bad_request("Invalid JSON body");
    };
    if raw.as_object().is_none() {
        return bad_request("Invalid JSON body");
    }
    if let Some(refusal) = checksum_refusal(state, &raw) {
        return refusal;
    }
    // The amount is a JSON number, read from its exact text.
    let order_amount = match raw.get("amount") {
        Some(checksum::Value::Number(text)) => match text.parse::<Amount>() {
            Ok(amount) => amount.hundredths(),
            Err(_) => return bad_request("amount must be a positive number"),
        },
        _ => return bad_request("amount must be a number"),
    };
    let currency = match text(&raw, "currency") {
        Some(c @ ("TZS" | "USD")) => c.to_owned(),
        _ => return bad_request("currency must be one of the following values: TZS, USD"),
    };
    let reference = match text(&raw, "orderReference") {
        Some(r) if r.bytes().all(|b| b.is_ascii_alphanumeric()) => r.to_owned(),
        _ => {
            return bad_request(
                "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank",
            );
        }
    };
    let mut lipa_key = None;
    let (channel, channel_provider, account_number, account_name, transfer_type) =
        if kind == Kind::Lipa {
            let (key, network, account, resolved) = match lipa_destination(&raw) {
                Ok(found) => found,
                Err(message) => return bad_request(message),
            };
            if create && !state.payouts.resolved_lipa.contains(&key) {
                return bad_request(&format!(
                    "Receiver {} could not be resolved. Preview is required before payout.",
                    if key.starts_with("qr|") {
                        "TanQR code"
                    } else {
                        account.as_str()
                    }
                ));
            }
            lipa_key = Some((key, resolved.is_some()));
            (
                "TIPS LIPA NAMBA",
                network,
                account,
                resolved.unwrap_or_default(),
                None,
            )
        } else if bank {
            let Some(account) = text(&raw, "accountNumber") else {
                return bad_request("accountNumber is required");
            };
            let bic = text(&raw, "bic").unwrap_or("");
            let Some((bank_name, _)) = BANKS.iter().find(|(_, known)| *known == bic) else {
                return bad_request("Unsupported channel provider");
            };
            if text(&raw, "accountCurrency").is_some_and(|c| c != "TZS") {
                return bad_request("accountCurrency must be one of the following values: TZS");
            }
            if !matches!(text(&raw, "transferType"), Some("ACH" | "RTGS")) {
                return bad_request("transferType must be one of the following values: ACH, RTGS");
            }
            let name = match (create, text(&raw, "accountName")) {
                (true, None) => return bad_request("accountName is required"),
                (true, Some(name)) => name.to_owned(),
                (false, _) => holder(account),
            };
            // ClickPesa picks the rail: TZS up to 20,000,000 by ACH, above and USD by RTGS.
            let rail = if currency == "TZS" && order_amount <= 2_000_000_000 {
                "ACH"
            } else {
                "RTGS"
            };
            (
                "BANK TRANSFER",
                (*bank_name).to_owned(),
                account.to_owned(),
                name,
                Some(rail.to_owned()),
            )
        } else {
            let phone = text(&raw, "phoneNumber").unwrap_or("");
            if !valid_phone(phone) {
                return bad_request("Invalid / unsupported phone number");
            }
            let Some(network) = network(phone) else {
                return bad_request("Unsupported channel provider");
            };
            (
                "MOBILE MONEY",
                network.to_owned(),
                phone.to_owned(),
                holder(phone),
                None,
            )
        };
    if state
        .payouts
        .payouts
        .iter()
        .any(|p| p.order_reference == reference)
    {
        return nest_error(
            StatusCode::CONFLICT,
            &format!("Order reference {reference} already used: Create a different reference"),
        );
    }
    let fee = fee(bank, order_amount);
    let total = order_amount + fee;
    let available = state.payouts.balances.get(&currency).copied().unwrap_or(0);
    if !create {
        let receiver = json!({
            "accountNumber": account_number,
            "accountCurrency": "TZS",
            "amount": number(order_amount),
            "accountName": account_name,
        });
        let mut out = json!({
            "amount": number(total),
            "balance": number(available),
            "channelProvider": channel_provider,
            "fee": number(fee),
            "exchanged": false,
            "order": {"amount": number(order_amount), "currency": currency, "id": reference},
            "payoutFeeBearer": "merchant",
            "receiver": receiver,
        });
        if let Some((key, resolved)) = lipa_key {
            out["nameLookupStatus"] = json!(if resolved { "RESOLVED" } else { "UNAVAILABLE" });
            if resolved {
                state.payouts.resolved_lipa.insert(key);
            } else {
                out["receiver"]["accountName"] = Value::Null;
            }
        }
        if bank {
            out["nameLookupStatus"] = json!("RESOLVED");
            out["transferType"] = json!(transfer_type);
            out["estimatedArrival"] = json!(if transfer_type.as_deref() == Some("RTGS") {
                "Instant"
            } else {
                "1-3 Working Days"
            });
        }
        return json_response(StatusCode::OK, &out);
    }
    let now = state.now();
    let cooldown = Duration::from_secs(state.payouts.cooldown_seconds);
    if let Some(last) = state.payouts.last_create {
        let elapsed = now.duration_since(last).unwrap_or_default();
        if elapsed < cooldown {
            let left = (cooldown - elapsed).as_millis();
            let remaining = left.div_ceil(1000).max(1);
            return bad_request(&format!(
                "Payout request is already in progress, please retry after {remaining} seconds"
            ));
        }
    }
    if total > available {
        return bad_request(&format!(
            "Insufficient balance: available balance is {} {currency}",
            plain(available)
        ));
    }
    if let Some(balance) = state.payouts.balances.get_mut(&currency) {
        *balance -= total;
    }
    state.payouts.last_create = Some(now);
    let stamp = util::utc_millis(now);
    let payout = ClickpesaPayout {
        id: format!("{reference}PCP{}", util::random_code(4)),
        order_reference: reference,
        order_amount: fixed2(order_amount),
        fee: fixed2(fee),
        amount: fixed2(total),
        currency,
        status: "AUTHORIZED".to_owned(),
        channel: channel.to_owned(),
        channel_provider,
        transfer_type,
        account_number,
        account_name,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let out = payout_json(&payout, &state.config.clickpesa_client_id);
    state.payouts.payouts.push(payout);
    json_response(StatusCode::OK, &out)
}

/// A payout as ClickPesa reports it (create reply, query rows, webhooks).
fn payout_json(payout: &ClickpesaPayout, client_id: &str) -> Value {
    let mut out = json!({
        "id": payout.id,
        "orderReference": payout.order_reference,
        "amount": payout.amount,
        "currency": payout.currency,
        "fee": payout.fee,
        "exchanged": false,
        "status": payout.status,
        "channel": payout.channel,
        "channelProvider": payout.channel_provider,
        "order": {"amount": payout.order_amount, "currency": payout.currency},
        "beneficiary": {"accountNumber": payout.account_number, "accountName": payout.account_name},
        "clientId": client_id,
        "createdAt": payout.created_at,
        "updatedAt": payout.updated_at,
    });
    if let Some(rail) = &payout.transfer_type {
        out["transferType"] = json!(rail);
    }
    out
}

fn query(state: &State, reference: &str) -> Response {
    let rows: Vec<Value> = state
        .payouts
        .payouts
        .iter()
        .filter(|p| p.order_reference == reference)
        .map(|p| {
            let mut row = payout_json(p, &state.config.clickpesa_client_id);
            // Queries name the rail `settlementType` (naming drift, §5.4).
            if let Some(rail) = row
                .as_object_mut()
                .and_then(|row| row.remove("transferType"))
            {
                row["settlementType"] = rail;
            }
            row
        })
        .collect();
    if rows.is_empty() {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": format!("Invalid or missing payout: {reference}")}),
        );
    }
    json_response(StatusCode::OK, &Value::Array(rows))
}

/// The webhook for a settled payout, signed like the collection webhooks.
fn webhook_body(
    payout: &ClickpesaPayout,
    event: &str,
    client_id: &str,
    key: Option<&str>,
) -> Value {
    let mut body = json!({"event": event, "data": payout_json(payout, client_id)});
    if let Some(key) = key {
        let digest = serde_json::to_vec(&body)
            .ok()
            .and_then(|bytes| checksum::Value::parse(&bytes).ok())
            .and_then(|tree| checksum::compute(key.as_bytes(), &tree).ok());
        if let Some(digest) = digest {
            body["checksum"] = json!(digest);
        }
        body["checksumMethod"] = json!("canonical");
    }
    body
}

/// Settles a payout and POSTs its webhook to the payout webhook URL.
pub(crate) async fn settle(
    shared: &Arc<Shared>,
    reference: &str,
    outcome: PayoutOutcome,
) -> Result<Delivery, SandboxError> {
    let (url, body) = {
        let mut state = shared.lock();
        let state = &mut *state;
        let now = util::utc_millis(state.now());
        let book = &mut state.payouts;
        let payout = book
            .payouts
            .iter_mut()
            .find(|p| p.order_reference == reference)
            .ok_or(SandboxError::Unsupported(
                "no clickpesa payout with that orderReference",
            ))?;
        if payout.status != "AUTHORIZED" && payout.status != outcome.status() {
            return Err(SandboxError::Unsupported(
                "the payout is already settled with another outcome",
            ));
        }
        if payout.status == "AUTHORIZED" && outcome != PayoutOutcome::Succeed {
            // Reversed and refunded payouts return the money, fee included.
            let total = Amount::parse_reported(&payout.amount).unwrap_or(0);
            *book.balances.entry(payout.currency.clone()).or_insert(0) += total;
        }
        payout.status = outcome.status().to_owned();
        payout.updated_at = now;
        let body = webhook_body(
            payout,
            outcome.event(),
            &state.config.clickpesa_client_id,
            state.config.clickpesa_checksum_key.as_deref(),
        );
        (book.webhook_url.clone(), body.to_string())
    };
    shared.log(|| {
        format!(
            "clickpesa payout {reference} settled as {}",
            outcome.status()
        )
    });
    let delivery = match url {
        Some(url) => crate::deliver::send(Method::POST, &url, Some(body)).await,
        None => Delivery {
            url: None,
            method: "POST".to_owned(),
            status: None,
            body: String::new(),
            request_body: body,
            error: Some("no payout webhook URL is configured".to_owned()),
        },
    };
    shared.lock().deliveries.push(delivery.clone());
    Ok(delivery)
}

// ----- control API -------------------------------------------------------

pub(crate) fn control_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sandbox/clickpesa/balance", put(put_balance))
        .route(
            "/_sandbox/clickpesa/payouts",
            get(list_payouts).put(put_options),
        )
        .route(
            "/_sandbox/clickpesa/payouts/{order_reference}/{action}",
            post(settle_payout),
        )
}

fn book_json(state: &State) -> Value {
    let book = &state.payouts;
    json!({
        "balances": book.balances.iter().map(|(c, b)| (c.clone(), json!(fixed2(*b)))).collect::<serde_json::Map<_, _>>(),
        "cooldown_seconds": book.cooldown_seconds,
        "webhook_url": book.webhook_url,
        "payouts": book.payouts,
    })
}

async fn list_payouts(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    control_json(StatusCode::OK, &book_json(&shared.lock()))
}

/// `{"currency": "TZS", "balance": "100000"}`.
async fn put_balance(AxumState(shared): AxumState<Arc<Shared>>, body: Bytes) -> Response {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let currency = value.get("currency").and_then(Value::as_str);
    let balance = value
        .get("balance")
        .and_then(Value::as_str)
        .and_then(Amount::parse_reported);
    match (currency, balance) {
        (Some(currency @ ("TZS" | "USD")), Some(balance)) => {
            let mut state = shared.lock();
            state.payouts.balances.insert(currency.to_owned(), balance);
            control_json(StatusCode::OK, &book_json(&state))
        }
        _ => control_json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "body must be {\"currency\": \"TZS\"|\"USD\", \"balance\": \"<decimal text>\"}"}),
        ),
    }
}

/// `{"cooldown_seconds": 60, "webhook_url": "http://…"}`; keys given are merged.
async fn put_options(AxumState(shared): AxumState<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body) else {
        return control_json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "body must be a JSON object"}),
        );
    };
    let mut state = shared.lock();
    if let Some(value) = map.get("cooldown_seconds") {
        match value.as_u64() {
            Some(seconds) => state.payouts.cooldown_seconds = seconds,
            None => {
                return control_json(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "cooldown_seconds must be a whole number"}),
                );
            }
        }
    }
    if let Some(value) = map.get("webhook_url") {
        state.payouts.webhook_url = value.as_str().map(str::to_owned);
    }
    control_json(StatusCode::OK, &book_json(&state))
}

async fn settle_payout(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((reference, action)): Path<(String, String)>,
) -> Response {
    let Some(outcome) = PayoutOutcome::parse(&action) else {
        return control_json(
            StatusCode::NOT_FOUND,
            &json!({"error": "the action is succeed, reverse or refund"}),
        );
    };
    match settle(&shared, &reference, outcome).await {
        Ok(delivery) => control_json(
            StatusCode::OK,
            &json!({"provider": "clickpesa", "id": reference, "outcome": outcome.status(), "delivery": delivery}),
        ),
        Err(error) => control_json(StatusCode::CONFLICT, &json!({"error": error.to_string()})),
    }
}

// ----- library API ---------------------------------------------------------

impl crate::Sandbox {
    /// Sets the ClickPesa balance of `currency` (`TZS` or `USD`) to the
    /// exact decimal `balance`. A merchant with no balance set has none
    /// (the balance query answers ClickPesa's documented 404).
    pub fn set_clickpesa_balance(&self, currency: &str, balance: &str) {
        if let Some(hundredths) = Amount::parse_reported(balance) {
            self.shared
                .lock()
                .payouts
                .balances
                .insert(currency.to_owned(), hundredths);
        }
    }

    /// The ClickPesa balance of `currency`, two decimals.
    pub fn clickpesa_balance(&self, currency: &str) -> Option<String> {
        self.shared
            .lock()
            .payouts
            .balances
            .get(currency)
            .map(|b| fixed2(*b))
    }

    /// Refuses a payout create within `seconds` of the previous one (0: off).
    pub fn set_clickpesa_payout_cooldown(&self, seconds: u64) {
        self.shared.lock().payouts.cooldown_seconds = seconds;
    }

    /// Where payout webhooks go (ClickPesa's Disbursement API webhook).
    pub fn set_clickpesa_payout_webhook_url(&self, url: Option<String>) {
        self.shared.lock().payouts.webhook_url = url;
    }

    /// Every payout made, in order.
    pub fn clickpesa_payouts(&self) -> Vec<ClickpesaPayout> {
        self.shared.lock().payouts.payouts.clone()
    }

    /// Settles a payout and delivers its webhook (signed when a checksum
    /// key is set). Blocks like [`crate::Sandbox::settle_pesapal`].
    ///
    /// # Errors
    /// Unknown reference, a payout settled with another outcome, or a
    /// stopped sandbox.
    pub fn settle_clickpesa_payout(
        &self,
        order_reference: &str,
        outcome: PayoutOutcome,
    ) -> Result<Delivery, SandboxError> {
        let shared = Arc::clone(&self.shared);
        let reference = order_reference.to_owned();
        self.block_on_runtime(async move { settle(&shared, &reference, outcome).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_fees() {
        assert_eq!(
            Endpoint::classify(&Method::POST, "/payouts/create-bank-payout"),
            Some(Endpoint::Payout {
                create: true,
                bank: true
            })
        );
        assert_eq!(
            Endpoint::classify(&Method::GET, "/payouts/PAY1"),
            Some(Endpoint::Query("PAY1".into()))
        );
        assert_eq!(Endpoint::classify(&Method::GET, "/payouts/a/b"), None);
        assert_eq!(Endpoint::classify(&Method::POST, "/payouts/PAY1"), None);
        assert_eq!(fee(false, 100_000), 4_710);
        assert_eq!(fee(true, 100_000), 236_000);
        assert_eq!(plain(104_710), "1047.1");
        assert_eq!(number(104_710), json!(1047.1));
        assert_eq!(network("255712345678"), Some("TIGO PESA"));
        assert_eq!(network("255612345678"), None);
    }

    #[test]
    fn payout_webhooks_verify_with_the_core() {
        let payout = ClickpesaPayout {
            id: "P1".into(),
            order_reference: "PAY1".into(),
            order_amount: "1000.00".into(),
            fee: "47.10".into(),
            amount: "1047.10".into(),
            currency: "TZS".into(),
            status: "SUCCESS".into(),
            channel: "MOBILE MONEY".into(),
            channel_provider: "TIGO PESA".into(),
            transfer_type: None,
            account_number: "255712345678".into(),
            account_name: "X".into(),
            created_at: "t0".into(),
            updated_at: "t1".into(),
        };
        let body = webhook_body(&payout, "PAYOUT INITIATED", "client", Some("k"));
        let tree = checksum::Value::parse(&serde_json::to_vec(&body).unwrap_or_default())
            .unwrap_or(checksum::Value::Null);
        assert!(checksum::verify(b"k", &tree));
        assert!(!checksum::verify(b"other", &tree));
    }
}
