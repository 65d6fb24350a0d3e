//! Payouts: money out of the merchant's provider account, to a mobile
//! wallet or a bank account. Provider-neutral types, the switch that keeps
//! them off until an operator turns them on, and the typed refusals a
//! caller can act on.
//!
//! Money-safety rules (they hold for every provider that offers payouts):
//!
//! - off unless the variable [`PAYOUTS_SWITCH`] is `on`: until then every
//!   payout operation answers [`Error::Unsupported`] naming the variable,
//!   before any provider call;
//! - amounts are exact decimals (text in, [`Amount`] inside, the provider's
//!   wire format written from that exact text, never through a float);
//! - a create request is sent at most once per call and never retried: the
//!   order reference is the provider's idempotency key, so a repeat with
//!   the same reference is refused by the provider
//!   ([`PayoutError::ReferenceReused`]) instead of paying twice, and the
//!   caller asks for the payout by reference after an ambiguous failure;
//! - refusals the merchant can act on are typed ([`PayoutError`]), apart
//!   from "we could not complete the call" ([`PayoutError::Failed`]).

use crate::config::{self, Variables};
use crate::domain::Provider;
use crate::error::{Error, ProviderError};

/// `on` switches payouts on; anything else (or unset) keeps them off.
pub const PAYOUTS_SWITCH: &str = "finconnect_payouts";

/// The bearer key payout HTTP routes need (the merchant key does not open them).
pub const PAYOUTS_API_KEY: &str = "finconnect_payouts_api_key";

/// Whether payouts are switched on: `Ok(())` when [`PAYOUTS_SWITCH`] is
/// `on`, else [`Error::Unsupported`] for `provider` naming the variable.
pub fn check_enabled(vars: &dyn Variables, provider: Provider) -> Result<(), Error> {
    match config::optional(vars, PAYOUTS_SWITCH)? {
        Some(value) if value.eq_ignore_ascii_case("on") => Ok(()),
        _ => Err(Error::Unsupported {
            provider,
            operation: "payouts".to_owned(),
            detail: format!(
                "payouts are switched off; set the variable `{PAYOUTS_SWITCH}` to `on` (and \
                 `{PAYOUTS_API_KEY}` for the HTTP routes) to send money out"
            ),
        }),
    }
}

/// Where a payout goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutDestination {
    /// A mobile-money wallet: `255` followed by nine digits.
    MobileMoney {
        /// The wallet's phone number (`255712345678`).
        phone: String,
    },
    /// A bank account.
    Bank {
        /// The account number.
        account_number: String,
        /// The bank's BIC (from the banks list), e.g. `EQBLTZTZ`.
        bic: String,
        /// The account holder's name; required to create, optional to preview.
        account_name: Option<String>,
        /// The account's currency (`TZS`, the default).
        account_currency: Option<String>,
        /// The rail asked for; when absent FinConnect picks the one the
        /// provider documents for the amount.
        transfer_type: Option<TransferType>,
    },
    /// A Lipa Namba merchant (TIPS) or a TanQR code: exactly one of
    /// `lipa_namba` with `provider_code`, or `qr_code`. The receiver must
    /// be resolved by a preview before a create.
    LipaNamba {
        /// The merchant's Lipa Namba (digits).
        lipa_namba: Option<String>,
        /// Its network, from the Lipa Namba providers list (`503`).
        provider_code: Option<String>,
        /// The full TanQR text (contains `tz.go.bot.tips`).
        qr_code: Option<String>,
    },
}

/// A network Lipa Namba payouts can go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LipaNambaProvider {
    /// Its name (`Vodacom M-Pesa`).
    pub name: String,
    /// The code Lipa Namba payouts take (`503`).
    pub provider_code: String,
}

/// A bank rail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferType {
    /// Automated clearing (batched).
    Ach,
    /// Real-time gross settlement.
    Rtgs,
}

impl TransferType {
    /// The wire spelling (`ACH`, `RTGS`).
    pub fn as_str(self) -> &'static str {
        match self {
            TransferType::Ach => "ACH",
            TransferType::Rtgs => "RTGS",
        }
    }

    /// Reads `ACH` or `RTGS` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "ACH" => Some(TransferType::Ach),
            "RTGS" => Some(TransferType::Rtgs),
            _ => None,
        }
    }
}

/// A payout to preview or create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutRequest {
    /// The merchant's unique order reference (also the idempotency key).
    pub reference: String,
    /// The amount the receiver gets, exact decimal text (`"1000"`, `"1000.50"`).
    pub amount: String,
    /// The currency of the balance debited (`TZS` or `USD`).
    pub currency: String,
    /// Where the money goes.
    pub destination: PayoutDestination,
}

/// What a payout would cost, without moving money.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayoutPreview {
    /// Who answered.
    pub provider: Option<Provider>,
    /// The order reference previewed.
    pub reference: Option<String>,
    /// The total debited, fee included (two decimals).
    pub total: Option<String>,
    /// The fee (two decimals).
    pub fee: Option<String>,
    /// The amount the receiver gets (two decimals).
    pub amount: Option<String>,
    /// The currency of the order.
    pub currency: Option<String>,
    /// The balance before the payout (two decimals).
    pub balance: Option<String>,
    /// Who pays the fee (`merchant`, `customer`, `both`).
    pub fee_bearer: Option<String>,
    /// The network or bank the money goes through (`TIGO PESA`).
    pub channel_provider: Option<String>,
    /// The receiver's name, as the provider resolved it.
    pub receiver_name: Option<String>,
    /// The receiver's account or wallet number.
    pub receiver_account: Option<String>,
    /// Whether the receiver's name was found (`RESOLVED`, `UNAVAILABLE`).
    pub name_lookup: Option<String>,
    /// The bank rail that would be used.
    pub transfer_type: Option<String>,
    /// When the money would arrive (`Instant`, `1-3 Working Days`).
    pub estimated_arrival: Option<String>,
    /// Whether a currency exchange is involved.
    pub exchanged: bool,
}

/// A payout's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutStatus {
    /// Accepted, about to begin (not yet settled).
    Authorized,
    /// Under way.
    Processing,
    /// Waiting.
    Pending,
    /// The receiver has the money.
    Succeeded,
    /// It failed before money left.
    Failed,
    /// It failed on the provider's side; the money came back.
    Refunded,
    /// It failed at the receiving network or bank; the money came back.
    Reversed,
    /// A state FinConnect does not know.
    Unknown,
}

impl PayoutStatus {
    /// The snake_case name used in JSON and WIT.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Authorized => "authorized",
            PayoutStatus::Processing => "processing",
            PayoutStatus::Pending => "pending",
            PayoutStatus::Succeeded => "succeeded",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Refunded => "refunded",
            PayoutStatus::Reversed => "reversed",
            PayoutStatus::Unknown => "unknown",
        }
    }

    /// The event a change into this state is reported with
    /// (`payout.succeeded`); `None` for states that are not reported.
    pub fn event_type(self) -> Option<&'static str> {
        match self {
            PayoutStatus::Authorized => Some("payout.authorized"),
            PayoutStatus::Succeeded => Some("payout.succeeded"),
            PayoutStatus::Reversed => Some("payout.reversed"),
            PayoutStatus::Refunded => Some("payout.refunded"),
            PayoutStatus::Processing
            | PayoutStatus::Pending
            | PayoutStatus::Failed
            | PayoutStatus::Unknown => None,
        }
    }

    /// Whether the state is final (the money arrived or came back).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PayoutStatus::Succeeded
                | PayoutStatus::Failed
                | PayoutStatus::Refunded
                | PayoutStatus::Reversed
        )
    }
}

/// A payout as the provider reports it (create reply, query rows, webhooks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    /// Who answered.
    pub provider: Provider,
    /// The provider's id for the payout.
    pub id: Option<String>,
    /// The merchant's order reference.
    pub reference: Option<String>,
    /// Its state.
    pub status: PayoutStatus,
    /// The status as the provider wrote it.
    pub provider_status: Option<String>,
    /// The total debited (two decimals).
    pub amount: Option<String>,
    /// The fee (two decimals).
    pub fee: Option<String>,
    /// The currency debited.
    pub currency: Option<String>,
    /// The rail (`MOBILE MONEY`, `BANK TRANSFER`).
    pub channel: Option<String>,
    /// The network or bank (`MPESA TANZANIA`).
    pub channel_provider: Option<String>,
    /// The bank rail applied (`transferType`, or the older `settlementType`).
    pub transfer_type: Option<String>,
    /// The receiver's account or wallet number.
    pub beneficiary_account: Option<String>,
    /// The receiver's name.
    pub beneficiary_name: Option<String>,
    /// The provider's notes or refusal message.
    pub notes: Option<String>,
    /// When it was created (as the provider wrote it).
    pub created_at: Option<String>,
    /// When it last changed (as the provider wrote it).
    pub updated_at: Option<String>,
}

/// A bank payouts can go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bank {
    /// Its name.
    pub name: String,
    /// Its BIC, which bank payouts and account checks take.
    pub bic: String,
}

/// A bank account to check before paying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankAccountQuery {
    /// The account number.
    pub account_number: String,
    /// The bank's BIC.
    pub bic: String,
}

/// A checked bank account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankAccount {
    /// The name the bank holds for it.
    pub account_name: String,
}

/// One currency's balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    /// The currency (`TZS`).
    pub currency: String,
    /// The balance (two decimals).
    pub balance: String,
}

/// The merchant's balances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Balances {
    /// One entry per currency.
    Accounts(Vec<Balance>),
    /// A new merchant has no balance account yet (not a failure): it
    /// appears after the first successful payment or deposit.
    NoBalanceYet {
        /// The provider's explanation.
        message: String,
    },
}

/// A page of the payout listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutPage {
    /// The payouts of the page.
    pub payouts: Vec<Payout>,
    /// How many payouts match in all, when the provider says.
    pub total_count: Option<u64>,
}

/// One line of the account statement (amounts with two decimals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementEntry {
    /// The provider's id.
    pub id: Option<String>,
    /// When (as the provider wrote it).
    pub date: Option<String>,
    /// What it was.
    pub description: Option<String>,
    /// `Credit` or `Debit`.
    pub entry: Option<String>,
    /// The amount.
    pub amount: Option<String>,
    /// The currency.
    pub currency: Option<String>,
    /// The balance after it.
    pub balance: Option<String>,
    /// The order reference it belongs to.
    pub order_reference: Option<String>,
    /// `Payment`, `Payout`, `Fee - Payout`, `Reversed Payout`, …
    pub kind: Option<String>,
}

/// The account statement of one currency (amounts with two decimals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The currency.
    pub currency: Option<String>,
    /// The balance at the start of the period.
    pub opening_balance: Option<String>,
    /// The balance at its end.
    pub closing_balance: Option<String>,
    /// Money in during the period.
    pub total_credits: Option<String>,
    /// Money out during the period.
    pub total_debits: Option<String>,
    /// The lines, as the provider ordered them.
    pub transactions: Vec<StatementEntry>,
}

/// An exchange rate, kept as the provider wrote it (a rate, not money).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeRate {
    /// From (`USD`).
    pub source: String,
    /// To (`TZS`).
    pub target: String,
    /// The rate's exact text (`2510`).
    pub rate: String,
    /// When it was set.
    pub date: Option<String>,
}

/// Why a payout operation did not succeed: refusals a merchant can act on,
/// typed, and everything else as the general [`Error`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    /// The balance does not cover the payout and its fee.
    #[error("insufficient balance: {message}")]
    InsufficientBalance {
        /// The balance the provider reported, two decimals, if it said.
        available: Option<String>,
        /// The provider's message.
        message: String,
    },
    /// Another payout request is still being processed (ClickPesa's
    /// cooldown); try again after the given time.
    #[error("a payout request is already in progress: {message}")]
    InProgress {
        /// Seconds to wait, as the provider said.
        retry_after_seconds: Option<u64>,
        /// The provider's message.
        message: String,
    },
    /// The network or bank of the destination is not supported.
    #[error("unsupported channel provider: {message}")]
    UnsupportedChannelProvider {
        /// The provider's message.
        message: String,
    },
    /// The order reference was used before: nothing was paid this time.
    #[error("order reference already used: {message}")]
    ReferenceReused {
        /// The provider's message.
        message: String,
    },
    /// The Lipa Namba / TanQR receiver could not be resolved: preview the
    /// payout (which resolves the name) before creating it. Nothing was paid.
    #[error("receiver not resolved: {message}")]
    ReceiverUnresolved {
        /// The provider's message.
        message: String,
    },
    /// The bank account (or payout) was not found.
    #[error("not found: {message}")]
    NotFound {
        /// The provider's message.
        message: String,
    },
    /// Anything else: invalid request, configuration, transport, ...
    #[error(transparent)]
    Failed(#[from] Error),
}

impl PayoutError {
    /// Reads a provider refusal into the typed refusal it documents, if any;
    /// every other error stays as it is.
    pub fn classify(error: Error) -> Self {
        let Error::Provider(refusal) = &error else {
            return PayoutError::Failed(error);
        };
        classify_refusal(refusal).unwrap_or(PayoutError::Failed(error))
    }

    /// The provider's message for a typed refusal; `None` for
    /// [`PayoutError::Failed`].
    pub fn provider_message(&self) -> Option<&str> {
        match self {
            PayoutError::InsufficientBalance { message, .. }
            | PayoutError::InProgress { message, .. }
            | PayoutError::UnsupportedChannelProvider { message }
            | PayoutError::ReferenceReused { message }
            | PayoutError::ReceiverUnresolved { message }
            | PayoutError::NotFound { message } => Some(message),
            PayoutError::Failed(_) => None,
        }
    }
}

/// The typed refusal for a provider's answer, by its documented status and
/// message.
fn classify_refusal(refusal: &ProviderError) -> Option<PayoutError> {
    let message = refusal.message.clone();
    let lower = message.to_ascii_lowercase();
    if refusal.http_status == 409 || lower.contains("already used") {
        return Some(PayoutError::ReferenceReused { message });
    }
    if lower.contains("insufficient balance") {
        return Some(PayoutError::InsufficientBalance {
            available: available_balance(&message),
            message,
        });
    }
    if lower.contains("already in progress") {
        return Some(PayoutError::InProgress {
            retry_after_seconds: retry_after(&lower),
            message,
        });
    }
    if lower.contains("could not be resolved") || lower.contains("preview is required") {
        return Some(PayoutError::ReceiverUnresolved { message });
    }
    if lower.contains("unsupported channel provider") {
        return Some(PayoutError::UnsupportedChannelProvider { message });
    }
    if refusal.http_status == 404 {
        return Some(PayoutError::NotFound { message });
    }
    None
}

/// `"... please retry after 42 seconds"` → 42.
fn retry_after(lower: &str) -> Option<u64> {
    let rest = &lower[lower.find("retry after")? + "retry after".len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `"Insufficient balance: available balance is 1500.5 TZS"` → `1500.50`.
fn available_balance(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let rest = &message[lower.find("available balance is")? + "available balance is".len()..];
    let number: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    crate::money::Amount::parse_reported(number.trim_end_matches('.'))
        .map(crate::money::Amount::fixed2_from_hundredths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn refusal(status: u16, message: &str) -> Error {
        Error::Provider(ProviderError {
            provider: Provider::Clickpesa,
            http_status: status,
            code: None,
            message: message.to_owned(),
        })
    }

    #[test]
    fn payouts_are_off_unless_the_switch_says_on() {
        let mut vars = BTreeMap::new();
        for value in [None, Some(""), Some("off"), Some("yes"), Some("true")] {
            if let Some(value) = value {
                vars.insert(PAYOUTS_SWITCH.to_owned(), value.to_owned());
            }
            match check_enabled(&vars, Provider::Clickpesa) {
                Err(Error::Unsupported { detail, .. }) => {
                    assert!(detail.contains("finconnect_payouts"), "{detail}");
                }
                other => unreachable!("{value:?}: {other:?}"),
            }
        }
        vars.insert(PAYOUTS_SWITCH.to_owned(), " On ".to_owned());
        assert_eq!(check_enabled(&vars, Provider::Clickpesa), Ok(()));
    }

    #[test]
    fn the_cooldown_carries_its_seconds() {
        let error = PayoutError::classify(refusal(
            400,
            "Payout request is already in progress, please retry after 42 seconds",
        ));
        assert!(matches!(
            error,
            PayoutError::InProgress {
                retry_after_seconds: Some(42),
                ..
            }
        ));
        let vague = PayoutError::classify(refusal(400, "Payout request is already in progress"));
        assert!(matches!(
            vague,
            PayoutError::InProgress {
                retry_after_seconds: None,
                ..
            }
        ));
    }

    #[test]
    fn insufficient_balance_reports_what_is_available() {
        let error = PayoutError::classify(refusal(
            400,
            "Insufficient balance: available balance is 1500.5 TZS",
        ));
        assert_eq!(
            error,
            PayoutError::InsufficientBalance {
                available: Some("1500.50".to_owned()),
                message: "Insufficient balance: available balance is 1500.5 TZS".to_owned(),
            }
        );
    }

    #[test]
    fn documented_refusals_are_typed_and_the_rest_kept() {
        assert!(matches!(
            PayoutError::classify(refusal(
                409,
                "Order reference PAY1 already used: Create a different reference"
            )),
            PayoutError::ReferenceReused { .. }
        ));
        assert!(matches!(
            PayoutError::classify(refusal(400, "Unsupported channel provider")),
            PayoutError::UnsupportedChannelProvider { .. }
        ));
        assert!(matches!(
            PayoutError::classify(refusal(
                400,
                "Lipa Namba 123456 could not be resolved. Preview is required before payout."
            )),
            PayoutError::ReceiverUnresolved { .. }
        ));
        assert!(matches!(
            PayoutError::classify(refusal(404, "Account not found")),
            PayoutError::NotFound { .. }
        ));
        let other = refusal(400, "Invalid checksum");
        assert_eq!(
            PayoutError::classify(other.clone()),
            PayoutError::Failed(other)
        );
        let timeout = Error::Timeout {
            provider: Provider::Clickpesa,
            message: "first byte".to_owned(),
        };
        assert_eq!(
            PayoutError::classify(timeout.clone()),
            PayoutError::Failed(timeout)
        );
    }

    #[test]
    fn events_exist_for_the_reported_states_only() {
        assert_eq!(
            PayoutStatus::Authorized.event_type(),
            Some("payout.authorized")
        );
        assert_eq!(
            PayoutStatus::Succeeded.event_type(),
            Some("payout.succeeded")
        );
        assert_eq!(PayoutStatus::Reversed.event_type(), Some("payout.reversed"));
        assert_eq!(PayoutStatus::Refunded.event_type(), Some("payout.refunded"));
        assert_eq!(PayoutStatus::Processing.event_type(), None);
    }
}
