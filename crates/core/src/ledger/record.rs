//! The payment record as stored (JSON with a `version`), its states, the
//! request fingerprint and the store keys.

use crate::domain::{PaymentDetails, PaymentRequest, PaymentStatus, Provider};
use crate::money::Amount;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The schema version written into every record and event.
pub const RECORD_VERSION: u32 = 1;

/// Every ledger key starts with this (bucket `default` is shared with the
/// token cache, whose keys start with `finconnect/token/`).
pub const PREFIX: &str = "finconnect/ledger/";

/// Where a payment stands in FinConnect's ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Recorded before the provider call; the call may be under way.
    Initiating,
    /// The provider accepted it and is waiting for the customer.
    Pending,
    /// Money received.
    Completed,
    /// The provider refused it, or reported it failed.
    Failed,
    /// Money returned after completion.
    Reversed,
    /// Completed, and the provider accepted a refund request for it (not
    /// money moved yet: the provider reports `reversed` once it is).
    RefundPending,
    /// Cancelled by the merchant before it was paid.
    Cancelled,
    /// The provider call failed without an answer (transport error,
    /// timeout, unreadable reply): it may or may not have started.
    Unknown,
}

impl State {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initiating => "initiating",
            State::Pending => "pending",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Reversed => "reversed",
            State::RefundPending => "refund_pending",
            State::Cancelled => "cancelled",
            State::Unknown => "unknown",
        }
    }

    /// The state a provider's status means; `None` for a status FinConnect
    /// does not know (it changes nothing).
    pub fn from_status(status: PaymentStatus) -> Option<State> {
        match status {
            PaymentStatus::Pending => Some(State::Pending),
            PaymentStatus::Completed => Some(State::Completed),
            PaymentStatus::Failed => Some(State::Failed),
            PaymentStatus::Reversed => Some(State::Reversed),
            PaymentStatus::Cancelled => Some(State::Cancelled),
            PaymentStatus::Unknown => None,
        }
    }

    /// Whether a verified report of `next` moves a payment in this state.
    /// Forward only: a pending payment may complete or fail, a completed
    /// one may be reversed, a failed one may still turn out completed
    /// (money received is never dropped); nothing goes back to pending,
    /// and nothing leaves `reversed`. A pending or failed order may be
    /// cancelled, and a cancelled one that the provider reports paid all
    /// the same is completed. A completed payment whose refund the
    /// provider accepted is `refund_pending` until it reports `reversed`.
    pub fn accepts(self, next: State) -> bool {
        use State::*;
        match (self, next) {
            (_, Initiating | Unknown) => false,
            (Initiating | Unknown, _) => true,
            (Pending, Completed | Failed | Reversed | Cancelled) => true,
            (Failed, Completed | Cancelled) => true,
            (Completed, Reversed | RefundPending) => true,
            (RefundPending, Reversed) => true,
            (Cancelled, Completed) => true,
            _ => false,
        }
    }

    /// Final: no notification can change it any more.
    pub fn is_final(self) -> bool {
        matches!(self, State::Reversed)
    }

    /// Settled: the customer's part is over (completed, failed, reversed,
    /// cancelled). A pending refund is not: the provider's report of it is
    /// still awaited, so its notifications are verified, never answered
    /// from the record, and the record is not purged.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            State::Completed | State::Failed | State::Reversed | State::Cancelled
        )
    }

    /// The event type announcing this state, for states that are verified
    /// facts (`initiating` and `unknown` are not).
    pub fn event_type(self) -> Option<&'static str> {
        match self {
            State::Pending => Some("payment.pending"),
            State::Completed => Some("payment.completed"),
            State::Failed => Some("payment.failed"),
            State::Reversed => Some("payment.reversed"),
            State::RefundPending => Some("refund.pending"),
            State::Cancelled => Some("payment.cancelled"),
            State::Initiating | State::Unknown => None,
        }
    }
}

/// A typed error as recorded: code and message only, never a secret
/// (FinConnect's errors never hold one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedError {
    /// FinConnect's problem code (`provider_error`) or the provider's own
    /// code when it gave one.
    pub code: String,
    /// The message.
    pub message: String,
    /// The provider's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

/// An HTTP response kept for idempotent replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// Its status code.
    pub status: u16,
    /// Its content type.
    pub content_type: String,
    /// Its body (JSON text).
    pub body: String,
}

/// Where a refund asked for through FinConnect stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundProgress {
    /// The refund request is being sent (claimed before the provider call).
    Sending,
    /// The provider accepted the request (`refund.pending`).
    Requested,
    /// The call ended without an answer: the provider may have the
    /// request. FinConnect never sends another one for this payment.
    Unknown,
}

impl RefundProgress {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundProgress::Sending => "sending",
            RefundProgress::Requested => "requested",
            RefundProgress::Unknown => "unknown",
        }
    }
}

/// The refund asked for a payment, kept on its record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundMark {
    /// The amount asked back, two decimals.
    pub amount: String,
    /// Where it stands.
    pub progress: RefundProgress,
    /// When it was claimed or last changed (Unix milliseconds).
    pub at: u64,
}

/// Who holds the right to call the provider for a record in `initiating`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Unique per attempt: the ledger's instance id and a counter.
    pub id: String,
    /// When it was taken (Unix milliseconds).
    pub at: u64,
}

/// The event a record's state is announced by: the write that moved the
/// record into `state` reserved event number `seq` and claimed the event
/// in the same write, so no separate marker is needed. A claim whose slot
/// of the log is still empty after the claim TTL was left by a call that
/// died before the event, and is taken over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcing {
    /// The state announced.
    pub state: State,
    /// The event's sequence number.
    pub seq: u64,
    /// When the claim was made (Unix milliseconds).
    pub at: u64,
}

/// One payment FinConnect started, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// Schema version ([`RECORD_VERSION`]).
    pub version: u32,
    /// Who handles it.
    #[serde(with = "provider_name")]
    pub provider: Provider,
    /// The merchant reference.
    pub reference: String,
    /// The idempotency key (the `Idempotency-Key` header, else the reference).
    pub idempotency_key: String,
    /// SHA-256 (hex) of the request's canonical form ([`fingerprint`]).
    pub fingerprint: String,
    /// Where it stands.
    pub state: State,
    /// The provider's id, once known.
    pub tracking_id: Option<String>,
    /// The hosted page, when the flow has one.
    pub redirect_url: Option<String>,
    /// The amount asked for, two decimals (`"1500.00"`).
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The method asked for, if any (`mobile_money`).
    #[serde(default)]
    pub method: Option<String>,
    /// Why it failed, when it did.
    #[serde(default)]
    pub error: Option<RecordedError>,
    /// The answer given to the first request, replayed to retries.
    #[serde(default)]
    pub response: Option<StoredResponse>,
    /// The claim of the attempt under way (state `initiating`).
    #[serde(default)]
    pub claim: Option<Claim>,
    /// When it was recorded (Unix milliseconds).
    pub created_at: u64,
    /// When it last changed (Unix milliseconds).
    pub updated_at: u64,
    /// When the provider last confirmed its state (Unix milliseconds).
    #[serde(default)]
    pub verified_at: Option<u64>,
    /// The refund asked for through FinConnect, if any (PesaPal takes one
    /// refund per payment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundMark>,
    /// How many times it was written.
    pub revision: u64,
    /// The subscription's account number, when the payment set up a
    /// recurring schedule (PesaPal): its later charges name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    /// For a charge of a recurring schedule: the merchant reference of
    /// the payment that set the schedule up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring_of: Option<String>,
    /// The claim on the event of the current state ([`Announcing`]); absent
    /// in records written before it was kept here (their events are claimed
    /// by a marker key of their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcing: Option<Announcing>,
}

impl PaymentRecord {
    /// The record's store key.
    pub fn key(&self) -> String {
        record_key(self.provider, &self.idempotency_key)
    }

    /// The public view used in events and listings: `provider`,
    /// `reference`, `tracking_id`, `status`, `amount`, `currency`,
    /// `method`, `redirect_url`, `created_at`, `updated_at` (RFC 3339).
    pub fn public_json(&self) -> serde_json::Value {
        let mut json = self.public_json_without_refund();
        if let Some(refund) = &self.refund {
            json["refund"] = serde_json::json!({
                "amount": refund.amount,
                "status": refund.progress.as_str(),
                "requested_at": rfc3339(refund.at),
            });
        }
        json
    }

    fn public_json_without_refund(&self) -> serde_json::Value {
        let mut json = self.public_json_basics();
        if self.account_number.is_some() || self.recurring_of.is_some() {
            json["recurring"] = serde_json::json!({
                "account_number": self.account_number,
                "original_reference": self.recurring_of,
            });
        }
        json
    }

    fn public_json_basics(&self) -> serde_json::Value {
        serde_json::json!({
            "provider": self.provider.as_str(),
            "reference": self.reference,
            "tracking_id": self.tracking_id,
            "status": self.state.as_str(),
            "amount": self.amount,
            "currency": self.currency,
            "method": self.method,
            "redirect_url": self.redirect_url,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }

    /// What the ledger knows, in the shape a status query answers: for
    /// acknowledging a notification without asking the provider again.
    pub fn details(&self) -> PaymentDetails {
        let status = match self.state {
            State::Pending => PaymentStatus::Pending,
            State::Completed => PaymentStatus::Completed,
            State::Failed => PaymentStatus::Failed,
            State::Reversed => PaymentStatus::Reversed,
            // The money is still with the merchant until the provider
            // reports the refund done.
            State::RefundPending => PaymentStatus::Completed,
            State::Cancelled => PaymentStatus::Cancelled,
            State::Initiating | State::Unknown => PaymentStatus::Unknown,
        };
        PaymentDetails {
            provider: self.provider,
            reference: Some(self.reference.clone()),
            tracking_id: self.tracking_id.clone(),
            status,
            amount: Some(self.amount.clone()),
            currency: Some(self.currency.clone()),
            method: self.method.clone(),
            confirmation_code: None,
            description: None,
        }
    }

    /// The body `POST /payments` answers for it (`201`):
    /// `{"provider","reference","tracking_id","redirect_url","status"}`.
    pub fn created_json(&self) -> serde_json::Value {
        serde_json::json!({
            "provider": self.provider.as_str(),
            "reference": self.reference,
            "tracking_id": self.tracking_id,
            "redirect_url": self.redirect_url,
            "status": self.state.as_str(),
        })
    }
}

/// Serde for [`Provider`] as its lower-case name.
mod provider_name {
    use crate::domain::Provider;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(provider: &Provider, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(provider.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Provider, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|()| serde::de::Error::custom(format!("unknown provider `{name}`")))
    }
}

/// SHA-256 (lower-case hex) over a canonical form of the request fields
/// that decide what is paid: provider, reference, amount (as hundredths,
/// so `"1500"` and `"1500.00"` agree), currency, description, customer,
/// URLs, notification id, method, branch and redirect mode. Each field is
/// written as its name, its length and its bytes, in a fixed order, so no
/// two requests share a form. Call it on a request that passed validation.
pub fn fingerprint(provider: Provider, request: &PaymentRequest) -> String {
    let amount = request
        .amount
        .parse::<Amount>()
        .map(|amount| amount.to_fixed2())
        .unwrap_or_else(|_| request.amount.clone());
    let customer = &request.customer;
    let fields: [(&str, Option<&str>); 16] = [
        ("provider", Some(provider.as_str())),
        ("reference", Some(&request.reference)),
        ("amount", Some(&amount)),
        ("currency", Some(&request.currency)),
        ("description", request.description.as_deref()),
        ("customer.email", customer.email.as_deref()),
        ("customer.phone", customer.phone.as_deref()),
        ("customer.first_name", customer.first_name.as_deref()),
        ("customer.last_name", customer.last_name.as_deref()),
        ("customer.country_code", customer.country_code.as_deref()),
        ("callback_url", request.callback_url.as_deref()),
        ("cancellation_url", request.cancellation_url.as_deref()),
        ("notification_id", request.notification_id.as_deref()),
        ("method", request.method.map(|m| m.as_str())),
        ("branch", request.branch.as_deref()),
        ("redirect_mode", request.redirect_mode.map(|m| m.as_str())),
    ];
    let subscription = request.subscription.as_ref();
    // Written only when present, so requests without one keep their form.
    let recurring: Vec<(&str, Option<&str>)> = subscription
        .map(|s| {
            vec![
                (
                    "subscription.account_number",
                    Some(s.account_number.as_str()),
                ),
                ("subscription.start_date", Some(s.start_date.as_str())),
                ("subscription.end_date", Some(s.end_date.as_str())),
                ("subscription.frequency", Some(s.frequency.as_str())),
            ]
        })
        .unwrap_or_default();
    // The canonical text is written out whole and hashed once: each of
    // the fifty-odd small `update` calls it took before went through the
    // hasher's block buffer on its own.
    let mut text = Vec::with_capacity(512);
    text.extend_from_slice(b"finconnect-payment-v1\n");
    for (name, value) in fields.into_iter().chain(recurring) {
        text.extend_from_slice(name.as_bytes());
        match value {
            None => text.extend_from_slice(b"=-\n"),
            Some(value) => {
                text.push(b'=');
                text.extend_from_slice(itoa::Buffer::new().format(value.len()).as_bytes());
                text.push(b':');
                text.extend_from_slice(value.as_bytes());
                text.push(b'\n');
            }
        }
    }
    hex(&Sha256::digest(&text))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// A fixed-length key part for any text: 32 hex digits of its SHA-256.
/// Keys never hold caller text, so no character or length limit of a
/// store's keys can be hit.
pub(crate) fn digest_part(parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0u8]);
    }
    hex(&digest.finalize()[..16])
}

/// The record of one idempotency key (scoped per provider).
pub fn record_key(provider: Provider, idempotency_key: &str) -> String {
    format!(
        "{PREFIX}payment/{}/{}",
        provider.as_str(),
        digest_part(&[idempotency_key])
    )
}

/// The index entry from a merchant reference to its record key.
pub fn reference_key(provider: Provider, reference: &str) -> String {
    format!(
        "{PREFIX}by-reference/{}/{}",
        provider.as_str(),
        digest_part(&[reference])
    )
}

/// The index entry from a subscription's account number to the record of
/// the payment that set the schedule up.
pub fn account_key(provider: Provider, account_number: &str) -> String {
    format!(
        "{PREFIX}by-account/{}/{}",
        provider.as_str(),
        digest_part(&[account_number])
    )
}

/// The index entry from a provider's tracking id to its record key.
pub fn tracking_key(provider: Provider, tracking_id: &str) -> String {
    format!(
        "{PREFIX}by-tracking-id/{}/{}",
        provider.as_str(),
        digest_part(&[tracking_id])
    )
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds
/// (`2026-12-06T00:45:00.123Z`).
pub fn rfc3339(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    let millis = unix_ms % 1000;
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (the inverse of
/// the usual days-from-civil computation, over 400-year eras).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
