//! The payment ledger: what FinConnect started, where each payment stands,
//! idempotent retries, the event log and webhook deliveries — as pure
//! logic over a key-value [`Store`], with the time passed in (Unix
//! milliseconds) and no other I/O.
//!
//! # How a payment goes through it
//!
//! 1. [`Ledger::begin`] records the payment in state `initiating`, with
//!    the SHA-256 [`fingerprint`] of the validated request, *before* any
//!    provider call. Its key is the `Idempotency-Key` header, else the
//!    merchant reference, scoped per provider. The answer ([`Begin`]) says
//!    whether to call the provider ([`Begin::Proceed`]) or what to answer
//!    instead (a replay, `idempotency_key_reused`, `request_in_progress`,
//!    a status query first, `outcome_unknown`).
//! 2. The caller makes the provider call, then [`Ledger::finish`] records
//!    the result: `pending` with the provider's ids, `failed` with the
//!    typed error (code and message, never a secret), `unknown` after a
//!    transport error, a timeout or an unreadable reply. A failure found
//!    before anything was sent (validation, configuration, a refused
//!    token) releases the key: nothing is kept.
//! 3. Status queries and verified notifications go through
//!    [`Ledger::observe`]; a notification is first checked by
//!    [`Ledger::admit`], which refuses ids the ledger never issued and
//!    answers repeats for settled payments from the ledger, without a
//!    provider call.
//! 4. Each verified state change (`pending`, `completed`, `failed`,
//!    `reversed`) creates exactly one [`Event`], listed by
//!    [`Ledger::events`] and, when webhooks are on, queued as a
//!    [`Delivery`] signed per Standard Webhooks ([`webhook`]).
//!
//! # Guarantees with `wasi:keyvalue/atomics` ([`Mode::Atomic`])
//!
//! - **One provider call per key.** The claim is a compare-and-swap that
//!   creates the record only if absent, so of any number of requests with
//!   one key — on one instance or many sharing the store — exactly one
//!   proceeds; the others get `request_in_progress` while it runs and the
//!   stored response after.
//! - **No second payment after an ambiguous failure.** A record in
//!   `unknown` (or an `initiating` claim older than
//!   [`Config::claim_ttl_ms`], whose owner may have crashed mid-call) is
//!   never retried blindly: the retry is told to ask the provider first
//!   ([`Begin::AskProvider`]) when the provider can be asked by what the
//!   ledger knows, else `outcome_unknown`. Only a provider's "no such
//!   payment" ([`Probe::NotFound`]) reopens the key, again by CAS.
//! - **One event per state change, none lost.** The event is claimed
//!   before it is written, by CAS, naming the sequence number (from
//!   `increment`) it goes to: for a payment in the very write that moves
//!   the record into the new state ([`Announcing`]), for a payout (and a
//!   payment recorded before records carried the claim) in a marker per
//!   change. A claim left by a call that died before its event is
//!   recognised (its slot holds no such event) and taken over after the
//!   claim TTL. A reader that finds a number reserved but not written
//!   stops there while the writer may still come; once an event numbered
//!   after it is older than [`Config::settle_window_ms`], the reader seals
//!   it with a tombstone (by CAS, so a writer slower still takes a new
//!   number, and its claim follows, instead of being overwritten).
//! - Record updates are CAS loops: concurrent notifications never lose
//!   each other's writes.
//!
//! # Where it weakens without atomics ([`Mode::StoreOnly`])
//!
//! - **Claims have a race window.** A claim is read, written, then read
//!   back; two instances that both read "absent" before either writes can
//!   both proceed (the read-back catches only the slower writer when the
//!   other's write landed first). With one reference per payment the
//!   provider's own duplicate-reference check is the last line.
//! - **Sequence numbers come from the clock** ([`events::time_seq`]), not
//!   a counter: they sort by time, and listing holds back events younger
//!   than [`Config::settle_window_ms`] so a slightly late write is not
//!   skipped; clocks further apart than that can still reorder or skip.
//! - **Duplicate events are possible** when two instances record the same
//!   change at once; both carry the same id (derived from the payment and
//!   the state), so receivers that drop repeated `webhook-id`s, as the
//!   Standard Webhooks spec asks, see one.
//! - Record updates are last-writer-wins.
//!
//! # Keys and lookups
//!
//! All keys start with `finconnect/ledger/` and end in a digest of the
//! caller's text (never the text itself). A record lives under its
//! idempotency key; `by-reference/` and `by-tracking-id/` entries point to
//! it. When two idempotency keys are used with one merchant reference, the
//! reference points to the one begun last (providers refuse a reused
//! reference themselves).
//!
//! # Retention
//!
//! Records of settled payments (completed, failed, reversed) and events
//! are kept [`Config::retention_days`] days after their last change
//! (default 90), then removed by [`Ledger::purge`], which the host runs
//! from time to time (`wasi:keyvalue` has no expiry). Records that still
//! need attention (`initiating`, `pending`, `unknown`) are never purged.
//! [`Ledger::export_jsonl`] writes every record as JSON lines first.
//!
//! # Store operations
//!
//! Wrap the store in [`Counted`] to count round trips; the ledger's tests
//! print the figures for one payment.

//!
//! # Wiring it into `POST /payments` (a sketch)
//!
//! ```
//! use finconnect_core::ledger::{Begin, Config, Ledger, MemoryStore, Probe, StoredResponse};
//! use finconnect_core::{Error, Payment, PaymentDetails, PaymentRequest, PaymentStatus, Provider};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ledger = Ledger::new(MemoryStore::new(), Config::default());
//! let request = PaymentRequest { reference: "INV-1".into(), amount: "1500".into(),
//!     currency: "TZS".into(), ..PaymentRequest::default() };
//! let now = 1_796_515_200_000; // Unix ms, from the host's clock
//! // Stand-ins for `Finconnect::pay` and `Finconnect::payment_status`:
//! let pay = |_: &PaymentRequest| -> Result<Payment, Error> {
//!     Ok(Payment { provider: Provider::Clickpesa, reference: "INV-1".into(),
//!         tracking_id: "CP-1".into(), redirect_url: None, status: PaymentStatus::Pending })
//! };
//! let status = |_: &str| -> Result<PaymentDetails, Error> { unimplemented!() };
//!
//! let mut decision = ledger.begin(Provider::Clickpesa, &request, None, now)?;
//! if let Begin::AskProvider { id, .. } = &decision {
//!     let probe = Probe::from_status(&status(id));
//!     decision = ledger.resolve(Provider::Clickpesa, &request, None, &probe, now)?;
//! }
//! let answer: (u16, String) = match decision {
//!     Begin::Proceed(ticket) => {
//!         let result = pay(&request);
//!         // Render the answer as the API does, then record it with the result.
//!         let (status, body) = match &result {
//!             Ok(_) => (201, r#"{"status":"pending"}"#.to_owned()),
//!             Err(error) => (502, error.to_string()),
//!         };
//!         let response = StoredResponse { status, content_type: "application/json".into(),
//!             body: body.clone() };
//!         ledger.finish(&ticket, &result, response, now)?;
//!         (status, body)
//!     }
//!     Begin::Replay(stored) => (stored.status, stored.body), // + `Idempotent-Replayed: true`
//!     other => {
//!         let (status, code) = other.problem().unwrap_or((500, "internal"));
//!         (status, format!("{code}: {}", other.detail().unwrap_or_default()))
//!     }
//! };
//! assert_eq!(answer.0, 201);
//! assert_eq!(ledger.events(0, 10, now)?.data[0].kind, "payment.pending");
//! # Ok(())
//! # }
//! ```

pub mod billpay;
pub mod deliver;
pub mod events;
pub mod payouts;
pub mod record;
pub mod recurring;
pub mod refunds;
pub mod store;
pub mod webhook;

#[cfg(test)]
mod tests;

pub use events::{Event, EventPage};
pub use record::{
    Announcing, Claim, PaymentRecord, RECORD_VERSION, RecordedError, RefundMark, RefundProgress,
    State, StoredResponse, fingerprint,
};
pub use store::{
    CasError, Counted, MemoryStore, Mode, OpCounts, Store, StoreError, cas_creates_exclusively,
};
pub use webhook::{Attempt, Delivery, DeliveryState, WebhookSecret};

use crate::connector::StatusKey;
use crate::domain::{Payment, PaymentDetails, PaymentRequest, Provider};
use crate::error::Error;
use events::{ChangeMarker, Outbox, OutboxEntry, TOMBSTONE};
use record::{account_key, record_key, reference_key, tracking_key};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// How many times a compare-and-swap is retried before giving up with
/// [`LedgerError::Contention`].
const CAS_ATTEMPTS: usize = 16;

/// The ledger's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Unique per running instance (the host draws it from `wasi:random`);
    /// it makes claim ids unique across instances.
    pub instance_id: String,
    /// How long an `initiating` claim is respected (Unix ms). Longer than
    /// FinConnect's 30-second answer limit; after it, the claim's owner is
    /// presumed gone and its outcome unknown.
    pub claim_ttl_ms: u64,
    /// How long settled records and events are kept after their last change.
    pub retention_days: u32,
    /// A notification for a settled payment is answered from the ledger
    /// unless the provider last confirmed it longer ago than this (so a
    /// later reversal is still seen, at most one provider call per period).
    pub recheck_settled_ms: u64,
    /// Queue a webhook [`Delivery`] for every new event.
    pub webhooks: bool,
    /// The caller sends the deliveries of the events it writes itself,
    /// right after its answer ([`deliver::deliver_due`] does, first): each
    /// is listed apart from the outbox, in one of the keys of held
    /// deliveries, leased to this ledger for [`deliver::LEASE_MS`], so
    /// other instances leave it alone instead of racing for it; it goes
    /// into the outbox only if this one never sent it
    /// ([`Ledger::adopt_orphans`]). The HTTP face sets it; off, a new
    /// delivery is in the outbox, due at once.
    pub hold_own_deliveries: bool,
    /// [`Mode::StoreOnly`]: events younger than this are not listed yet.
    /// [`Mode::Atomic`]: a number reserved but not written is sealed once
    /// an event numbered after it is older than this.
    pub settle_window_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            instance_id: "local".into(),
            claim_ttl_ms: 60_000,
            retention_days: 90,
            recheck_settled_ms: 3_600_000,
            webhooks: false,
            hold_own_deliveries: false,
            settle_window_ms: 5_000,
        }
    }
}

/// Why the ledger could not do its part.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value does not read.
    #[error("the ledger entry `{key}` is unreadable: {reason}")]
    Corrupt {
        /// Its key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Too many concurrent writers kept changing the same key.
    #[error("the ledger entry `{key}` kept changing under concurrent writers")]
    Contention {
        /// Its key.
        key: String,
    },
}

/// What to do with a payment request, decided by [`Ledger::begin`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    /// This request holds the key: call the provider, then
    /// [`Ledger::finish`] with the ticket.
    Proceed(Ticket),
    /// The same request was answered before: send this response again,
    /// with `Idempotent-Replayed: true`. No provider call.
    Replay(StoredResponse),
    /// The key was used for a different request (422 `idempotency_key_reused`).
    KeyReused,
    /// The first request with this key is still running (409 `request_in_progress`).
    InProgress,
    /// The first attempt's outcome is unknown: ask the provider for the
    /// status of `id` (its [`crate::connector::ProviderInfo::status_key`]),
    /// then hand the answer to [`Ledger::resolve`]. No payment call.
    AskProvider {
        /// Who to ask.
        provider: Provider,
        /// The id its status query takes.
        id: String,
    },
    /// The first attempt's outcome is unknown and FinConnect cannot find
    /// out by itself (409 `outcome_unknown`); `detail` says what to check.
    OutcomeUnknown {
        /// What to check, for the problem's `detail`.
        detail: String,
    },
}

impl Begin {
    /// The HTTP status and problem code for the answers that are
    /// problems; `None` for [`Begin::Proceed`], [`Begin::Replay`] and
    /// [`Begin::AskProvider`].
    pub fn problem(&self) -> Option<(u16, &'static str)> {
        match self {
            Begin::KeyReused => Some((422, "idempotency_key_reused")),
            Begin::InProgress => Some((409, "request_in_progress")),
            Begin::OutcomeUnknown { .. } => Some((409, "outcome_unknown")),
            Begin::Proceed(_) | Begin::Replay(_) | Begin::AskProvider { .. } => None,
        }
    }

    /// The problem's `detail` for the answers that are problems.
    pub fn detail(&self) -> Option<String> {
        match self {
            Begin::KeyReused => Some(
                "this idempotency key was used for a different payment request; use a new key for a new request"
                    .to_owned(),
            ),
            Begin::InProgress => Some(
                "a request with this idempotency key is still being processed; retry after it has finished"
                    .to_owned(),
            ),
            Begin::OutcomeUnknown { detail } => Some(detail.clone()),
            Begin::Proceed(_) | Begin::Replay(_) | Begin::AskProvider { .. } => None,
        }
    }
}

/// The request header carrying the idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The response header on a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Reads an `Idempotency-Key` header value. The IETF draft makes it a
/// Structured Field string (`"8e03978e-…"`); the unquoted form many clients
/// send is accepted too. 1 to 255 visible ASCII characters.
pub fn idempotency_key(header: &str) -> Result<String, Error> {
    let text = header.trim();
    let key = match text.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or_else(|| {
            Error::invalid(
                "Idempotency-Key",
                "has an opening quote without a closing one",
            )
        })?,
        None => text,
    };
    let visible = key
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if key.is_empty() || key.len() > 255 || !visible {
        return Err(Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters (quotes and backslashes excluded)",
        ));
    }
    Ok(key.to_owned())
}

/// The right to call the provider for one key, returned by
/// [`Begin::Proceed`] and handed back to [`Ledger::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The record's key.
    pub key: String,
    /// The claim's id.
    pub claim_id: String,
    /// The record as this call wrote it, with its stored bytes: finishing
    /// finds those bytes unchanged unless someone wrote meanwhile, and then
    /// takes this record instead of decoding them again.
    written: Option<Arc<Written>>,
}

/// A first request's record as [`Ledger::begin`] writes it, with its
/// bytes, and the claim it carries.
struct Fresh {
    written: Written,
    claim: Claim,
}

/// A record and the bytes it was stored as.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    bytes: Vec<u8>,
    record: PaymentRecord,
}

impl Written {
    /// `self.record` when `bytes` are the ones it was stored as, else
    /// `bytes` decoded.
    fn or_decode(
        known: Option<&Self>,
        key: &str,
        bytes: &[u8],
    ) -> Result<PaymentRecord, LedgerError> {
        match known {
            Some(known) if known.bytes == bytes => Ok(known.record.clone()),
            _ => decode(key, bytes),
        }
    }
}

/// What a failed provider call means for the money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing reached the provider's payment API (invalid request,
    /// missing variable, unsupported operation, credentials refused).
    NothingStarted,
    /// The provider answered and refused the payment.
    Refused,
    /// It may or may not have started (transport error, timeout, an
    /// unreadable or 5xx reply).
    Ambiguous,
}

impl Outcome {
    /// How `error`, returned by a payment call, leaves the payment.
    pub fn of(error: &Error) -> Outcome {
        match error {
            Error::InvalidRequest { .. }
            | Error::Configuration { .. }
            | Error::Unsupported { .. }
            | Error::Authentication { .. } => Outcome::NothingStarted,
            Error::Transport { .. } | Error::Timeout { .. } => Outcome::Ambiguous,
            // A success status with a body FinConnect cannot read may have
            // started the payment.
            Error::UnreadableReply { http_status, .. }
                if (200..300).contains(http_status) || *http_status >= 500 =>
            {
                Outcome::Ambiguous
            }
            Error::UnreadableReply { .. } => Outcome::Refused,
            Error::Provider(provider) => {
                if provider.http_status >= 500 {
                    Outcome::Ambiguous
                } else {
                    Outcome::Refused
                }
            }
        }
    }
}

/// The error as recorded: a stable code and the message.
pub fn recorded_error(error: &Error) -> RecordedError {
    let (code, http_status) = match error {
        Error::InvalidRequest { .. } => ("invalid_request".to_owned(), None),
        Error::Configuration { .. } => ("not_configured".to_owned(), None),
        Error::Authentication { .. } => ("provider_auth_failed".to_owned(), None),
        Error::Provider(provider) => (
            provider
                .code
                .clone()
                .unwrap_or_else(|| "provider_error".to_owned()),
            Some(provider.http_status),
        ),
        Error::UnreadableReply { http_status, .. } => {
            ("provider_unreadable_reply".to_owned(), Some(*http_status))
        }
        Error::Transport { .. } => ("provider_unavailable".to_owned(), None),
        Error::Timeout { .. } => ("provider_timeout".to_owned(), None),
        Error::Unsupported { .. } => ("unsupported".to_owned(), None),
    };
    RecordedError {
        code,
        message: error.to_string(),
        http_status,
    }
}

/// What the provider's status query said, for [`Ledger::resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// It knows the payment.
    Found(PaymentDetails),
    /// It answered that no such payment exists: the first attempt did not
    /// start it.
    NotFound,
    /// The query failed; nothing was learnt.
    Failed(String),
}

impl Probe {
    /// Reads a status query's result. "No such payment" is believed only
    /// from providers queried by merchant reference (ClickPesa): an empty
    /// answer (the connector's `not_found` code) or HTTP 404. Elsewhere a
    /// 404 means something else (Daraja answers 404 to a bad token), and
    /// any other error teaches nothing.
    pub fn from_status(result: &Result<PaymentDetails, Error>) -> Probe {
        match result {
            Ok(details) => Probe::Found(details.clone()),
            Err(Error::Provider(error))
                if error.provider.info().status_key == StatusKey::Reference
                    && (error.http_status == 404 || error.code.as_deref() == Some("not_found")) =>
            {
                Probe::NotFound
            }
            Err(error) => Probe::Failed(error.to_string()),
        }
    }
}

/// What [`Ledger::finish`] and [`Ledger::observe`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The record as it now stands (`None`: released, or not in the ledger).
    pub record: Option<PaymentRecord>,
    /// Whether its state changed.
    pub changed: bool,
    /// The event created, if this call created one.
    pub event: Option<Event>,
}

impl Recorded {
    /// Nothing recorded: the payment is not the ledger's.
    pub(crate) fn nothing() -> Self {
        Self {
            record: None,
            changed: false,
            event: None,
        }
    }
}

/// How to treat an incoming notification, decided by [`Ledger::admit`]
/// before any provider call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The ledger never issued this id: refuse it, call nobody.
    Refuse,
    /// The payment is settled and recently confirmed: acknowledge from
    /// this record, call nobody.
    Answer(PaymentRecord),
    /// Verify it with the provider (or its signature), then
    /// [`Ledger::observe`].
    Verify(PaymentRecord),
}

/// What [`Ledger::purge`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Payment records.
    pub records: usize,
    /// Events.
    pub events: usize,
}

/// The ledger over one store.
#[derive(Debug)]
pub struct Ledger<S: Store> {
    store: S,
    config: Config,
    claims: AtomicU64,
    /// The deliveries this ledger leased to itself as it queued them
    /// ([`Config::hold_own_deliveries`]), not yet sent.
    held: Mutex<Vec<Held>>,
}

/// A delivery queued by this ledger and leased to it until `until`.
#[derive(Debug)]
struct Held {
    event_id: String,
    seq: u64,
    until: u64,
}

impl<S: Store> Ledger<S> {
    /// A ledger over `store` with `config`.
    pub fn new(store: S, config: Config) -> Self {
        Self {
            store,
            config,
            claims: AtomicU64::new(0),
            held: Mutex::new(Vec::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn atomic(&self) -> bool {
        self.store.mode() == Mode::Atomic
    }

    // ----- payments -------------------------------------------------------

    /// Records a validated payment request before its provider call and
    /// decides what to do (see [`Begin`]). `idempotency_key` is the
    /// `Idempotency-Key` header; without it the merchant reference is the key.
    pub fn begin(
        &self,
        provider: Provider,
        request: &PaymentRequest,
        idempotency_key: Option<&str>,
        now: u64,
    ) -> Result<Begin, LedgerError> {
        let idempotency_key = idempotency_key.unwrap_or(&request.reference);
        let key = record_key(provider, idempotency_key);
        let fingerprint = fingerprint(provider, request);
        // The new record, its claim and its bytes, made only once the key is
        // found free: a replay or a reused key needs none of them.
        let fresh = || -> Result<Fresh, LedgerError> {
            let claim = self.new_claim(now);
            let record = PaymentRecord {
                version: RECORD_VERSION,
                provider,
                reference: request.reference.clone(),
                idempotency_key: idempotency_key.to_owned(),
                fingerprint: fingerprint.clone(),
                state: State::Initiating,
                tracking_id: None,
                redirect_url: None,
                amount: request
                    .amount
                    .parse::<crate::money::Amount>()
                    .map(|amount| amount.to_fixed2())
                    .unwrap_or_else(|_| request.amount.clone()),
                currency: request.currency.clone(),
                method: request.method.map(|method| method.as_str().to_owned()),
                error: None,
                response: None,
                claim: Some(claim.clone()),
                created_at: now,
                updated_at: now,
                verified_at: None,
                refund: None,
                revision: 1,
                account_number: request
                    .subscription
                    .as_ref()
                    .map(|s| s.account_number.clone()),
                recurring_of: None,
                announcing: None,
            };
            let bytes = encode(&record)?;
            Ok(Fresh {
                written: Written { bytes, record },
                claim,
            })
        };
        if self.atomic() {
            // Kept across a lost swap: the next try writes the same record.
            let mut made: Option<Fresh> = None;
            for _ in 0..CAS_ATTEMPTS {
                let (cas, current) = self.store.cas_open(&key)?;
                match current {
                    None => {
                        let new = match made.take() {
                            Some(new) => new,
                            None => fresh()?,
                        };
                        // The record and its indexes in one write where the
                        // store can (Spin's: one batch instead of two syncs).
                        let indexes = self.new_indexes(&new.written.record, &key)?;
                        match self.store.cas_swap_with(cas, &new.written.bytes, &indexes) {
                            Ok(()) => {
                                return Ok(Self::proceed(key, new.claim, Some(new.written)));
                            }
                            Err(CasError::Conflict) => made = Some(new),
                            Err(CasError::Store(error)) => return Err(error.into()),
                        }
                    }
                    Some(existing) => {
                        let existing = decode(&key, &existing)?;
                        return Ok(self.decide(&existing, &fingerprint, now));
                    }
                }
            }
            Err(LedgerError::Contention { key })
        } else {
            if let Some(existing) = self.store.get(&key)? {
                let existing = decode(&key, &existing)?;
                return Ok(self.decide(&existing, &fingerprint, now));
            }
            let new = fresh()?;
            // The race window of store-only mode: another instance may
            // write between the read above and this write.
            self.store.set(&key, &new.written.bytes)?;
            match self.store.get(&key)? {
                Some(stored) => {
                    let stored = decode(&key, &stored)?;
                    if stored.claim.as_ref().map(|c| &c.id) == Some(&new.claim.id) {
                        self.claimed(&new.written.record, key, new.claim)
                    } else {
                        Ok(self.decide(&stored, &fingerprint, now))
                    }
                }
                None => Err(LedgerError::Corrupt {
                    key,
                    reason: "the claim vanished right after it was written".into(),
                }),
            }
        }
    }

    /// Store-only mode: `record` is written and this call's; its indexes
    /// follow.
    /// `key`: the record's [`PaymentRecord::key`], already made.
    fn claimed(
        &self,
        record: &PaymentRecord,
        key: String,
        claim: Claim,
    ) -> Result<Begin, LedgerError> {
        self.write_all(&mut self.new_indexes(record, &key)?)?;
        Ok(Self::proceed(key, claim, None))
    }

    /// The index entries a new record needs. Keyed by its own reference (no
    /// `Idempotency-Key`), the record is found by the reference without an
    /// index: one write less, unless an index for the reference exists and
    /// must now point here. A subscription's account is indexed too.
    /// `key` is the record's [`PaymentRecord::key`], which the caller made
    /// already (it hashes the idempotency key).
    fn new_indexes(
        &self,
        record: &PaymentRecord,
        key: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, LedgerError> {
        let mut indexes = Vec::new();
        let index = reference_key(record.provider, &record.reference);
        if record.idempotency_key != record.reference || self.store.get(&index)?.is_some() {
            indexes.push((index, key.as_bytes().to_vec()));
        }
        if let Some(account) = &record.account_number {
            indexes.push((
                account_key(record.provider, account),
                key.as_bytes().to_vec(),
            ));
        }
        Ok(indexes)
    }

    fn proceed(key: String, claim: Claim, written: Option<Written>) -> Begin {
        Begin::Proceed(Ticket {
            key,
            claim_id: claim.id,
            written: written.map(Arc::new),
        })
    }

    fn new_claim(&self, now: u64) -> Claim {
        let n = self.claims.fetch_add(1, Ordering::Relaxed);
        Claim {
            id: format!("{}/{n}", self.config.instance_id),
            at: now,
        }
    }

    /// What a request with `fingerprint` gets when `existing` holds its key.
    fn decide(&self, existing: &PaymentRecord, fingerprint: &str, now: u64) -> Begin {
        if existing.fingerprint != fingerprint {
            return Begin::KeyReused;
        }
        match existing.state {
            State::Initiating if !self.claim_expired(existing, now) => Begin::InProgress,
            State::Initiating | State::Unknown => self.ask_first(existing),
            State::Pending
            | State::Completed
            | State::Failed
            | State::Reversed
            | State::RefundPending
            | State::Cancelled => Begin::Replay(replay_response(existing)),
        }
    }

    fn claim_expired(&self, record: &PaymentRecord, now: u64) -> bool {
        let since = record.claim.as_ref().map_or(record.updated_at, |c| c.at);
        now.saturating_sub(since) >= self.config.claim_ttl_ms
    }

    /// After an ambiguous failure: ask the provider when it can be asked
    /// by what the ledger knows, else say what to check.
    fn ask_first(&self, record: &PaymentRecord) -> Begin {
        let provider = record.provider;
        let id = match provider.info().status_key {
            StatusKey::Reference => Some(record.reference.clone()),
            StatusKey::TrackingId => record.tracking_id.clone(),
        };
        match id {
            Some(id) => Begin::AskProvider { provider, id },
            None => Begin::OutcomeUnknown {
                detail: format!(
                    "the first attempt with this key may have reached {provider} and its outcome is unknown; \
                     {provider} cannot be asked by merchant reference, so check reference `{}` with {provider} \
                     (its dashboard, or its notification when it arrives) before paying again under a new reference",
                    record.reference
                ),
            },
        }
    }

    /// Records the provider call's result for `ticket`. `response` is what
    /// the caller answers now; it is kept for replay when the outcome is
    /// definite (`pending`, `failed`).
    pub fn finish(
        &self,
        ticket: &Ticket,
        result: &Result<Payment, Error>,
        response: StoredResponse,
        now: u64,
    ) -> Result<Recorded, LedgerError> {
        if let Err(error) = result
            && Outcome::of(error) == Outcome::NothingStarted
        {
            return self.release(ticket);
        }
        // Whether this call's write gave the record its tracking id: its
        // index then cannot exist yet but through another call that learned
        // the same id, and is written without reading it first.
        let mut learned_tracking_id = false;
        let known = ticket.written.as_deref();
        let updated = self.modify_known(&ticket.key, known, now, |record| {
            learned_tracking_id = false;
            // Another instance may have probed and resolved it meanwhile;
            // only a record still waiting for this call's result changes.
            if !matches!(record.state, State::Initiating | State::Unknown) {
                return false;
            }
            match result {
                Ok(payment) => {
                    record.state = State::from_status(payment.status)
                        .filter(|state| *state != State::Reversed)
                        .unwrap_or(State::Pending);
                    learned_tracking_id = record.tracking_id.is_none();
                    record.tracking_id = Some(payment.tracking_id.clone());
                    record.redirect_url = payment.redirect_url.clone();
                    record.verified_at = Some(now);
                    record.response = Some(response.clone());
                }
                Err(error) => {
                    record.error = Some(recorded_error(error));
                    if Outcome::of(error) == Outcome::Refused {
                        record.state = State::Failed;
                        record.response = Some(response.clone());
                    } else {
                        record.state = State::Unknown;
                    }
                }
            }
            record.claim = None;
            true
        })?;
        let fresh_index =
            learned_tracking_id && updated.as_ref().is_some_and(|(_, changed)| *changed);
        self.after_change_with(&ticket.key, updated, now, fresh_index)
    }

    /// Forgets a claim whose call never reached the provider.
    /// Gives the key of `ticket` up: the payment request was never sent
    /// (the token step failed, say), so nothing is kept and a retry with
    /// the key starts afresh.
    pub fn release(&self, ticket: &Ticket) -> Result<Recorded, LedgerError> {
        let Some(record) = self.load(&ticket.key)? else {
            return Ok(Recorded {
                record: None,
                changed: false,
                event: None,
            });
        };
        let ours = record.state == State::Initiating
            && record.claim.as_ref().map(|c| &c.id) == Some(&ticket.claim_id);
        if ours {
            // Deleting is not a compare-and-swap: a takeover between the
            // read above and here would lose its claim. Claims are taken
            // over only after `claim_ttl_ms`, far longer than this gap.
            self.store.delete(&ticket.key)?;
            let reference = reference_key(record.provider, &record.reference);
            if self.store.get(&reference)?.as_deref() == Some(ticket.key.as_bytes()) {
                self.store.delete(&reference)?;
            }
        }
        Ok(Recorded {
            record: None,
            changed: ours,
            event: None,
        })
    }

    /// After [`Begin::AskProvider`]: records what the provider said and
    /// decides again. Found → the payment is recorded and its response
    /// replayed; not found → the key reopens for one new attempt
    /// ([`Begin::Proceed`], claimed by CAS); a failed query →
    /// `outcome_unknown`.
    pub fn resolve(
        &self,
        provider: Provider,
        request: &PaymentRequest,
        idempotency_key: Option<&str>,
        probe: &Probe,
        now: u64,
    ) -> Result<Begin, LedgerError> {
        let idempotency_key = idempotency_key.unwrap_or(&request.reference);
        let key = record_key(provider, idempotency_key);
        let fingerprint = fingerprint(provider, request);
        match probe {
            Probe::Failed(reason) => Ok(Begin::OutcomeUnknown {
                detail: format!(
                    "the first attempt's outcome is unknown and asking {provider} about reference `{}` failed ({reason}); retry later",
                    request.reference
                ),
            }),
            Probe::Found(details) => {
                let updated = self.modify(&key, now, |record| {
                    if record.fingerprint != fingerprint
                        || !matches!(record.state, State::Initiating | State::Unknown)
                    {
                        return false;
                    }
                    record.state = State::from_status(details.status).unwrap_or(State::Pending);
                    if let Some(tracking_id) = &details.tracking_id {
                        record.tracking_id = Some(tracking_id.clone());
                    }
                    record.verified_at = Some(now);
                    record.claim = None;
                    record.response = Some(StoredResponse {
                        status: 201,
                        content_type: "application/json".into(),
                        body: record.created_json().to_string(),
                    });
                    true
                })?;
                self.after_change(&key, updated, now)?;
                self.begin(provider, request, Some(idempotency_key), now)
            }
            Probe::NotFound => {
                let claim = self.new_claim(now);
                let updated = self.modify(&key, now, |record| {
                    if record.fingerprint != fingerprint
                        || !(record.state == State::Unknown
                            || (record.state == State::Initiating
                                && self.claim_expired(record, now)))
                    {
                        return false;
                    }
                    record.state = State::Initiating;
                    record.error = None;
                    record.claim = Some(claim.clone());
                    true
                })?;
                match updated {
                    Some((_, true)) => Ok(Begin::Proceed(Ticket {
                        key,
                        claim_id: claim.id,
                        written: None,
                    })),
                    _ => self.begin(provider, request, Some(idempotency_key), now),
                }
            }
        }
    }

    // ----- status and notifications --------------------------------------

    /// Checks a notification naming `id` (the provider's tracking id, or
    /// the merchant reference for providers whose notifications carry it)
    /// before anything is called.
    pub fn admit(&self, provider: Provider, id: &str, now: u64) -> Result<Admission, LedgerError> {
        let found = match self.find(provider, id)? {
            Some(record) => Some(record),
            // A recurring charge names its schedule's account number.
            None => self.by_account(provider, id)?,
        };
        let Some(record) = found else {
            return Ok(Admission::Refuse);
        };
        let recently_verified = record
            .verified_at
            .is_some_and(|at| now.saturating_sub(at) < self.config.recheck_settled_ms);
        if record.state.is_final() || (record.state.is_settled() && recently_verified) {
            Ok(Admission::Answer(record))
        } else {
            Ok(Admission::Verify(record))
        }
    }

    /// Checks a notification's merchant reference, asked about when the
    /// provider id it names is unknown ([`Ledger::admit`] refused it):
    /// admitted, to be verified, only for a payment that has no provider
    /// id yet, the trace of a call that succeeded at the provider while
    /// recording its answer failed. A payment with a provider id already is
    /// not another order's to update.
    pub fn admit_untracked(
        &self,
        provider: Provider,
        reference: &str,
    ) -> Result<Admission, LedgerError> {
        Ok(match self.by_reference(provider, reference)? {
            Some(record) if record.tracking_id.is_none() && !record.state.is_final() => {
                Admission::Verify(record)
            }
            _ => Admission::Refuse,
        })
    }

    /// Records what a status query or a verified notification said. A
    /// payment the ledger does not hold is left alone (`record: None`).
    /// The same report twice changes nothing and creates no second event.
    pub fn observe(&self, details: &PaymentDetails, now: u64) -> Result<Recorded, LedgerError> {
        let provider = details.provider;
        let mut found = None;
        for id in [details.tracking_id.as_deref(), details.reference.as_deref()]
            .into_iter()
            .flatten()
        {
            if let Some(record) = self.find(provider, id)? {
                found = Some(record);
                break;
            }
        }
        let Some(record) = found else {
            return Ok(Recorded {
                record: None,
                changed: false,
                event: None,
            });
        };
        let next = State::from_status(details.status);
        let key = record.key();
        let updated = self.modify(&key, now, |record| {
            let mut changed = false;
            if let Some(next) = next
                && record.state.accepts(next)
            {
                record.state = next;
                record.claim = None;
                changed = true;
            }
            if record.tracking_id.is_none()
                && let Some(tracking_id) = &details.tracking_id
            {
                record.tracking_id = Some(tracking_id.clone());
                changed = true;
            }
            if changed || next.is_some() {
                record.verified_at = Some(now);
            }
            changed || next.is_some()
        })?;
        self.after_change(&key, updated, now)
    }

    /// The record for a merchant reference.
    pub fn by_reference(
        &self,
        provider: Provider,
        reference: &str,
    ) -> Result<Option<PaymentRecord>, LedgerError> {
        if let Some(record) = self.follow(&reference_key(provider, reference))? {
            return Ok(Some(record));
        }
        // A record keyed by its own reference has no index.
        Ok(self
            .load(&record_key(provider, reference))?
            .filter(|record| record.reference == reference))
    }

    /// The record for a provider's tracking id.
    pub fn by_tracking_id(
        &self,
        provider: Provider,
        tracking_id: &str,
    ) -> Result<Option<PaymentRecord>, LedgerError> {
        self.follow(&tracking_key(provider, tracking_id))
    }

    /// The record for an idempotency key.
    pub fn by_idempotency_key(
        &self,
        provider: Provider,
        idempotency_key: &str,
    ) -> Result<Option<PaymentRecord>, LedgerError> {
        self.load(&record_key(provider, idempotency_key))
    }

    /// Every record, oldest first (for `GET /payments`; the store lists
    /// keys, so this reads them all).
    pub fn records(&self) -> Result<Vec<PaymentRecord>, LedgerError> {
        let mut records = self.records_in_store_order()?;
        // Ties broken by the key each record was read from, which is its
        // `key()` without hashing it again (a SHA-256 per comparison).
        records.sort_unstable_by(|(a_key, a), (b_key, b)| {
            (a.created_at, a_key).cmp(&(b.created_at, b_key))
        });
        Ok(records.into_iter().map(|(_, record)| record).collect())
    }

    /// Every record with its key, in the order the store lists the keys.
    fn records_in_store_order(&self) -> Result<Vec<(String, PaymentRecord)>, LedgerError> {
        let mut records = Vec::new();
        for key in self
            .store
            .list_keys(&format!("{}payment/", record::PREFIX))?
        {
            if let Some(record) = self.load(&key)? {
                records.push((key, record));
            }
        }
        Ok(records)
    }

    /// Every record as JSON lines (the stored form, with `version`).
    pub fn export_jsonl(&self) -> Result<String, LedgerError> {
        let mut out = String::new();
        for record in self.records()? {
            let line = serde_json::to_string(&record).map_err(|error| LedgerError::Corrupt {
                key: record.key(),
                reason: error.to_string(),
            })?;
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }

    fn find(&self, provider: Provider, id: &str) -> Result<Option<PaymentRecord>, LedgerError> {
        match self.by_tracking_id(provider, id)? {
            Some(record) => Ok(Some(record)),
            None => self.by_reference(provider, id),
        }
    }

    fn follow(&self, index_key: &str) -> Result<Option<PaymentRecord>, LedgerError> {
        let Some(target) = self.store.get(index_key)? else {
            return Ok(None);
        };
        let target = String::from_utf8(target).map_err(|_| LedgerError::Corrupt {
            key: index_key.to_owned(),
            reason: "the index entry is not text".into(),
        })?;
        self.load(&target)
    }

    fn load(&self, key: &str) -> Result<Option<PaymentRecord>, LedgerError> {
        self.store
            .get(key)?
            .map(|bytes| decode(key, &bytes))
            .transpose()
    }

    /// Changes the record under `key` with `change` (which says whether it
    /// changed anything), by CAS where the host offers it. `None` when the
    /// key holds nothing. A change into an announced state also claims its
    /// event in the same write ([`Announcing`]): the event's number is
    /// reserved first (kept across CAS retries into the same state); a
    /// number reserved and then not used is given up ([`Self::give_up`]).
    fn modify(
        &self,
        key: &str,
        now: u64,
        change: impl FnMut(&mut PaymentRecord) -> bool,
    ) -> Result<Option<(PaymentRecord, bool)>, LedgerError> {
        self.modify_known(key, None, now, change)
    }

    /// [`Self::modify`] where the record may still be as `known` holds it.
    fn modify_known(
        &self,
        key: &str,
        known: Option<&Written>,
        now: u64,
        change: impl FnMut(&mut PaymentRecord) -> bool,
    ) -> Result<Option<(PaymentRecord, bool)>, LedgerError> {
        let mut reserved = Vec::new();
        let result = self.modify_reserving(key, known, now, change, &mut reserved);
        let used = match &result {
            Ok(Some((record, _))) => record.announcing.map(|claim| claim.seq),
            _ => None,
        };
        for seq in reserved {
            if Some(seq) != used {
                self.give_up(seq);
            }
        }
        result
    }

    /// [`Self::modify`]; every number it reserves is pushed to `reserved`.
    fn modify_reserving(
        &self,
        key: &str,
        known: Option<&Written>,
        now: u64,
        mut change: impl FnMut(&mut PaymentRecord) -> bool,
        numbers: &mut Vec<u64>,
    ) -> Result<Option<(PaymentRecord, bool)>, LedgerError> {
        let mut reserved: Option<(State, u64)> = None;
        let mut apply = |record: &mut PaymentRecord| -> Result<bool, LedgerError> {
            let before = record.state;
            if !change(record) {
                return Ok(false);
            }
            record.revision += 1;
            record.updated_at = now;
            if record.state != before && record.state.event_type().is_some() {
                let seq = match reserved {
                    Some((state, seq)) if state == record.state => seq,
                    _ => {
                        let seq = self.reserve_seq(record, now)?;
                        if self.atomic() {
                            numbers.push(seq);
                        }
                        reserved = Some((record.state, seq));
                        seq
                    }
                };
                record.announcing = Some(Announcing {
                    state: record.state,
                    seq,
                    at: now,
                });
            }
            Ok(true)
        };
        if !self.atomic() {
            // Store-only tickets carry no record (`begin` wrote it without a
            // CAS and read it back), so there is nothing known to reuse.
            let Some(mut record) = self.load(key)? else {
                return Ok(None);
            };
            let before = record.state;
            if !apply(&mut record)? {
                return Ok(Some((record, false)));
            }
            self.store.set(key, &encode(&record)?)?;
            let changed = record.state != before;
            return Ok(Some((record, changed)));
        }
        // The claim the last try's write put on the record, when it moved
        // the state: its reserved number is unique, so finding it on the
        // record means that write landed though its swap was reported lost
        // (Spin's Redis store reports every swap as failed, and the value
        // read back differs once another writer has changed the record).
        let mut written: Option<Announcing> = None;
        for attempt in 0..CAS_ATTEMPTS {
            // What this call wrote is what the key holds, unless another
            // writer came since: a store that compares values at the swap
            // need not read it for the first try.
            let (cas, current) = match known.filter(|_| attempt == 0) {
                Some(known) => self.store.cas_open_expecting(key, &known.bytes)?,
                None => self.store.cas_open_existing(key)?,
            };
            let Some(current) = current else {
                return Ok(None);
            };
            let mut record = Written::or_decode(known, key, &current)?;
            if written.is_some() && record.announcing == written {
                return Ok(Some((record, true)));
            }
            let before = record.state;
            if !apply(&mut record)? {
                return Ok(Some((record, false)));
            }
            match self.store.cas_swap(cas, &encode(&record)?) {
                Ok(()) => {
                    let changed = record.state != before;
                    return Ok(Some((record, changed)));
                }
                Err(CasError::Conflict) => {
                    written = record.announcing.filter(|_| record.state != before);
                }
                Err(CasError::Store(error)) => return Err(error.into()),
            }
        }
        Err(LedgerError::Contention {
            key: key.to_owned(),
        })
    }

    /// A sequence number for the event announcing `record`'s state: the
    /// counter's next one with atomics, else one from the clock.
    fn reserve_seq(&self, record: &PaymentRecord, now: u64) -> Result<u64, LedgerError> {
        if self.atomic() {
            self.next_seq()
        } else {
            Ok(events::time_seq(
                now,
                &events::event_id(record, record.state),
            ))
        }
    }

    /// Indexes and the event after a write. `changed`: this call's own
    /// write moved the record into its state, so the event claimed in that
    /// write is this call's to write. The event is ensured whenever the
    /// record stands in an announced state, changed or not: a writer that
    /// crashed between the record and its event is healed by the next
    /// report after the claim TTL, and the claim keeps it to one event.
    /// `key` is the record's [`PaymentRecord::key`], which the caller made
    /// already (a SHA-256).
    fn after_change(
        &self,
        key: &str,
        updated: Option<(PaymentRecord, bool)>,
        now: u64,
    ) -> Result<Recorded, LedgerError> {
        self.after_change_with(key, updated, now, false)
    }

    /// [`Self::after_change`]; `fresh_index`: the write gave the record its
    /// tracking id, so the index is written without being read first (a
    /// write of the same bytes when another call wrote it meanwhile).
    fn after_change_with(
        &self,
        key: &str,
        updated: Option<(PaymentRecord, bool)>,
        now: u64,
        fresh_index: bool,
    ) -> Result<Recorded, LedgerError> {
        let Some((record, changed)) = updated else {
            return Ok(Recorded {
                record: None,
                changed: false,
                event: None,
            });
        };
        // The record's key, for the index and the event's id, when one of
        // them needs it.
        let own = (record.tracking_id.is_some() || record.state.event_type().is_some())
            .then(|| key.to_owned());
        let mut index = Vec::new();
        if let (Some(tracking_id), Some(own)) = (&record.tracking_id, &own) {
            let key = tracking_key(record.provider, tracking_id);
            if fresh_index || self.store.get(&key)?.as_deref() != Some(own.as_bytes()) {
                index.push((key, own.clone().into_bytes()));
            }
        }
        // The index goes out with the event where the store can write both
        // at once, and never after it: a merchant told of the event finds
        // the payment by its tracking id. Without an event of this call's
        // to write, or when that write failed, it is written alone.
        let event = match &own {
            Some(own) => self.ensure_event(&record, own, changed, now, &mut index),
            // Neither a tracking id nor an announced state: no event.
            None => Ok(None),
        };
        self.write_all(&mut index)?;
        let event = event?;
        Ok(Recorded {
            record: Some(record),
            changed,
            event,
        })
    }

    /// Writes `record`, a payment the ledger admitted through an index
    /// (a recurring charge, a payment to a control number), unless a record
    /// is already under its key: then `details` is observed like a repeat.
    /// Indexes its tracking id and announces its state.
    fn insert_observed(
        &self,
        record: PaymentRecord,
        details: &PaymentDetails,
        tracking_id: &str,
        now: u64,
    ) -> Result<Recorded, LedgerError> {
        let provider = record.provider;
        let key = record_key(provider, &record.idempotency_key);
        let mut record = record;
        if record.state.event_type().is_some() {
            record.announcing = Some(Announcing {
                state: record.state,
                seq: self.reserve_seq(&record, now)?,
                at: now,
            });
        }
        let bytes = encode(&record)?;
        if self.atomic() {
            let mut created = false;
            for _ in 0..CAS_ATTEMPTS {
                let (cas, current) = self.store.cas_open(&key)?;
                if current.is_some() {
                    break;
                }
                match self.store.cas_swap(cas, &bytes) {
                    Ok(()) => {
                        created = true;
                        break;
                    }
                    Err(CasError::Conflict) => continue,
                    Err(CasError::Store(error)) => return Err(error.into()),
                }
            }
            if !created {
                // Another instance recorded it first: report like a repeat.
                if let Some(claim) = record.announcing {
                    self.give_up(claim.seq);
                }
                return self.observe(details, now);
            }
        } else {
            if self.store.get(&key)?.is_some() {
                return self.observe(details, now);
            }
            self.store.set(&key, &bytes)?;
        }
        self.store
            .set(&tracking_key(provider, tracking_id), key.as_bytes())?;
        // The event claimed in the record this call created is its to write.
        self.after_change(&key, Some((record, true)), now)
    }

    // ----- events ----------------------------------------------------------

    /// Creates the event for `record`'s current state unless it exists.
    /// `key`: the record's [`PaymentRecord::key`], which the caller made.
    /// `owner`: `record` is what this call wrote when it moved the record
    /// into its state, claim included.
    /// `companions`: plain writes that must land no later than the event
    /// (see [`Self::append_event`]); those written are taken out.
    fn ensure_event(
        &self,
        record: &PaymentRecord,
        key: &str,
        owner: bool,
        now: u64,
        companions: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<Option<Event>, LedgerError> {
        if record.state.event_type().is_none() {
            return Ok(None);
        }
        let id = events::event_id_of_key(key, record.state);
        let make = |seq: u64| {
            events::event_with_id(record, id.clone(), seq, now).ok_or_else(|| no_event(record))
        };
        let Some(claim) = record.announcing.filter(|a| a.state == record.state) else {
            // Written before records carried the claim: the change's marker.
            let marker_key = events::change_key(record, record.state);
            self.write_all(companions)?;
            return self.announce(&marker_key, &id, now, make);
        };
        let seq = if owner {
            claim.seq
        } else {
            if !self.claim_abandoned(claim.at, Some(claim.seq), &id, now)? {
                return Ok(None);
            }
            // Take the claim over, by CAS on the record: one taker wins.
            let seq = self.reserve_seq(record, now)?;
            let taken = Announcing {
                state: claim.state,
                seq,
                at: now,
            };
            let updated = self.modify(key, now, |current| {
                if current.announcing != Some(claim) {
                    return false;
                }
                current.announcing = Some(taken);
                true
            })?;
            if updated.map(|(current, _)| current.announcing) != Some(Some(taken)) {
                self.give_up(seq);
                return Ok(None);
            }
            seq
        };
        let (event, delivery) = if self.atomic() {
            self.append_event(seq, make, companions, now, |next| {
                // A reader sealed the number: the claim moves to the next.
                self.modify(key, now, |current| {
                    let Some(mut moved) = current.announcing.filter(|a| a.state == claim.state)
                    else {
                        return false;
                    };
                    moved.seq = next;
                    current.announcing = Some(moved);
                    true
                })
                .map(|_| ())
            })?
        } else {
            let event = make(seq)?;
            let key = events::event_key(seq);
            self.write_all(companions)?;
            self.store.set(&key, &encode_json(&key, &event)?)?;
            (event, None)
        };
        self.schedule_event(&event, now, delivery)?;
        Ok(Some(event))
    }

    /// Writes `entries` one by one, taking out each one written.
    fn write_all(&self, entries: &mut Vec<(String, Vec<u8>)>) -> Result<(), LedgerError> {
        while let Some((key, value)) = entries.first() {
            self.store.set(key, value)?;
            entries.remove(0);
        }
        Ok(())
    }

    /// Announces one change once: reserves the event's sequence number,
    /// claims the change's marker at `marker_key` with that number in it,
    /// writes the event `make` builds for it and schedules its delivery.
    /// `None` when another call has announced it or is announcing it.
    ///
    /// The marker is written once: it names the number its event goes to,
    /// so "claimed" and "announced" need no second write. Whether the
    /// event was written is read from that slot of the log, and only when
    /// it matters: a claim older than the claim TTL whose slot holds no
    /// event with this id (a call that died half way) is taken over. A
    /// number reserved by a claimer that then lost the marker stays empty
    /// and is sealed by the next reader, like any other unwritten number.
    pub(super) fn announce(
        &self,
        marker_key: &str,
        id: &str,
        now: u64,
        make: impl Fn(u64) -> Result<Event, LedgerError>,
    ) -> Result<Option<Event>, LedgerError> {
        let marker = |seq: u64| {
            encode_json(
                marker_key,
                &ChangeMarker {
                    claimed_at: now,
                    seq: Some(seq),
                },
            )
        };
        let (event, delivery) = if self.atomic() {
            let (cas, current) = self.store.cas_open(marker_key)?;
            if let Some(current) = current
                && !self.abandoned(marker_key, &current, id, now)?
            {
                return Ok(None);
            }
            let seq = self.next_seq()?;
            match self.store.cas_swap(cas, &marker(seq)?) {
                Ok(()) => {}
                Err(CasError::Conflict) => {
                    self.give_up(seq);
                    return Ok(None);
                }
                Err(CasError::Store(error)) => return Err(error.into()),
            }
            self.append_event(seq, &make, &mut Vec::new(), now, |next| {
                Ok(self.store.set(marker_key, &marker(next)?)?)
            })?
        } else {
            if let Some(current) = self.store.get(marker_key)?
                && !self.abandoned(marker_key, &current, id, now)?
            {
                return Ok(None);
            }
            let event = make(events::time_seq(now, id))?;
            self.store.set(marker_key, &marker(event.seq)?)?;
            let key = events::event_key(event.seq);
            self.store.set(&key, &encode_json(&key, &event)?)?;
            (event, None)
        };
        self.schedule_event(&event, now, delivery)?;
        Ok(Some(event))
    }

    /// Queues the delivery of a new event when webhooks are on: writes its
    /// record, unless it went out with the event (`written`), and puts it
    /// in the outbox.
    fn schedule_event(
        &self,
        event: &Event,
        now: u64,
        written: Option<Delivery>,
    ) -> Result<(), LedgerError> {
        let delivery = match written {
            Some(delivery) => delivery,
            None => match self.new_delivery(event, now)? {
                Some((key, bytes, delivery)) => {
                    self.store.set(&key, &bytes)?;
                    delivery
                }
                None => return Ok(()),
            },
        };
        if !self.config.hold_own_deliveries {
            return self.schedule(&delivery);
        }
        // Listed apart from the outbox, under one of several keys: a
        // delivery sent at once then never changes the outbox. The list is
        // only for an instance that stops before sending: one that could
        // not be written (the store kept refusing, or writers kept
        // changing it) fails nothing, and this ledger sends the delivery
        // all the same. Failing the call instead would leave the event
        // written and its delivery in no list at all.
        let until = now.saturating_add(deliver::LEASE_MS);
        let lease = self.new_claim(now).id;
        let key = events::held_key(&delivery.event_id);
        let _ = self.list_at(
            &key,
            &delivery.event_id,
            delivery.seq,
            Some(until),
            Some(&lease),
        );
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Held {
                event_id: delivery.event_id,
                seq: delivery.seq,
                until,
            });
        Ok(())
    }

    /// Whether this ledger holds deliveries it queued and has not sent
    /// ([`Config::hold_own_deliveries`]).
    pub fn holds_deliveries(&self) -> bool {
        !self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Takes the events whose deliveries this ledger queued and still
    /// holds at `now`, in the order it wrote them, for the caller to send
    /// and record ([`Self::record_held_attempt`]). One whose lease ran out
    /// is left in its list, for [`Self::adopt_orphans`] to move into the
    /// outbox.
    pub fn take_held_deliveries(&self, now: u64) -> Vec<(String, u64)> {
        std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .filter(|held| held.until > now)
            .map(|held| (held.event_id, held.seq))
            .collect()
    }

    /// The delivery record a new event gets when webhooks are on: its key,
    /// its bytes, and the record.
    fn new_delivery(
        &self,
        event: &Event,
        now: u64,
    ) -> Result<Option<(String, Vec<u8>, Delivery)>, LedgerError> {
        if !self.config.webhooks {
            return Ok(None);
        }
        let delivery = Delivery::new(&event.id, event.seq, now);
        let key = events::delivery_key(&event.id);
        let bytes = encode_json(&key, &delivery)?;
        Ok(Some((key, bytes, delivery)))
    }

    /// Whether the claim in `marker` (the bytes under `marker_key`) was left
    /// by a call that died before writing event `id` ([`Self::claim_abandoned`]).
    fn abandoned(
        &self,
        marker_key: &str,
        marker: &[u8],
        id: &str,
        now: u64,
    ) -> Result<bool, LedgerError> {
        let marker: ChangeMarker = decode_json(marker_key, marker)?;
        self.claim_abandoned(marker.claimed_at, marker.seq, id, now)
    }

    /// Whether a claim on event `id` made at `claimed_at` for number `seq`
    /// was left by a call that died before writing it: older than the claim
    /// TTL, and its slot of the log holds no such event. A claim without a
    /// number (a marker written before numbers were reserved first) counts
    /// as unfinished. A claim older than the retention less a day is never
    /// taken over: its event may have been purged since, which reads the
    /// same as never written.
    fn claim_abandoned(
        &self,
        claimed_at: u64,
        seq: Option<u64>,
        id: &str,
        now: u64,
    ) -> Result<bool, LedgerError> {
        let age = now.saturating_sub(claimed_at);
        if age < self.config.claim_ttl_ms {
            return Ok(false);
        }
        let Some(seq) = seq else {
            return Ok(true);
        };
        let retention_ms = u64::from(self.config.retention_days) * 86_400_000;
        if age >= retention_ms.saturating_sub(86_400_000) {
            return Ok(false);
        }
        let key = events::event_key(seq);
        Ok(match self.store.get(&key)? {
            Some(bytes) if bytes != TOMBSTONE => decode_json::<Event>(&key, &bytes)?.id != id,
            _ => true,
        })
    }

    /// The next sequence number ([`Mode::Atomic`]).
    fn next_seq(&self) -> Result<u64, LedgerError> {
        let counter = events::counter_key();
        let seq = self.store.increment(&counter, 1)?;
        u64::try_from(seq).map_err(|_| LedgerError::Corrupt {
            key: counter,
            reason: format!("the counter went negative ({seq})"),
        })
    }

    /// Seals `seq`, a number this call reserved and will not write an
    /// event under ([`Mode::Atomic`]), so that readers need not wait for
    /// the settle window to pass it ([`Self::events`]). Best effort: if
    /// the store fails here, a reader seals it once a later event settled.
    fn give_up(&self, seq: u64) {
        let _ = self.seal(&events::event_key(seq));
    }

    /// Writes a tombstone into the event slot `key` unless something is
    /// there, by CAS: a writer and a sealer never both win. What the slot
    /// holds afterwards: `None` once sealed (by this call or another).
    fn seal(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let (cas, current) = self.store.cas_open(key)?;
        if current.is_some() {
            return Ok(current);
        }
        match self.store.cas_swap(cas, TOMBSTONE) {
            Ok(()) => Ok(None),
            Err(CasError::Conflict) => Ok(self.store.get(key)?),
            Err(CasError::Store(error)) => Err(error.into()),
        }
    }

    /// Writes the event `make` builds under `seq`, the number its claim
    /// names ([`Mode::Atomic`]). When a reader sealed that number meanwhile,
    /// the event takes the next one, and `repoint` moves the claim to it
    /// first. `companions` (plain writes) go out with the event, in one
    /// host call where the store can, and are emptied once written; so
    /// does the event's delivery record when webhooks are on (returned, for
    /// [`Self::schedule_event`] to queue it).
    fn append_event(
        &self,
        mut seq: u64,
        make: impl Fn(u64) -> Result<Event, LedgerError>,
        companions: &mut Vec<(String, Vec<u8>)>,
        now: u64,
        repoint: impl Fn(u64) -> Result<(), LedgerError>,
    ) -> Result<(Event, Option<Delivery>), LedgerError> {
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                seq = self.next_seq()?;
                if let Err(error) = repoint(seq) {
                    self.give_up(seq);
                    return Err(error);
                }
            }
            let event = make(seq)?;
            let key = events::event_key(seq);
            let (cas, current) = self.store.cas_open(&key)?;
            if current.is_some() {
                continue;
            }
            let delivery = self.new_delivery(&event, now)?;
            let mut with = companions.clone();
            with.extend(
                delivery
                    .iter()
                    .map(|(key, bytes, _)| (key.clone(), bytes.clone())),
            );
            match self
                .store
                .cas_swap_with(cas, &encode_json(&key, &event)?, &with)
            {
                Ok(()) => {
                    companions.clear();
                    return Ok((event, delivery.map(|(_, _, delivery)| delivery)));
                }
                // A reader sealed this number while we were writing: take
                // the next one.
                Err(CasError::Conflict) => continue,
                Err(CasError::Store(error)) => return Err(error.into()),
            }
        }
        Err(LedgerError::Contention {
            key: events::counter_key(),
        })
    }

    /// Events after `after`, at most `limit`, in order. With atomics, a
    /// number reserved but not written yet ends the page while its writer
    /// may still be on its way: until a later slot holds an event older
    /// than [`Config::settle_window_ms`]. Then the number
    /// is sealed with a tombstone, by CAS, so that an event can never
    /// appear behind a cursor that passed it; its writer, if alive after
    /// all, takes a new number. Sealing a number as soon as it was seen
    /// empty let a reader polling in a loop seal a writer's every new
    /// number in turn until the writer gave up.
    pub fn events(&self, after: u64, limit: usize, now: u64) -> Result<EventPage, LedgerError> {
        let mut data = Vec::new();
        let mut cursor = after;
        if self.atomic() {
            // `increment` by 0 reads the counter whatever bytes the host
            // stores it as (hosts differ: text, or a binary integer).
            let counter = events::counter_key();
            let last = self.store.increment(&counter, 0)?;
            let last = u64::try_from(last).map_err(|_| LedgerError::Corrupt {
                key: counter.clone(),
                reason: format!("the counter went negative ({last})"),
            })?;
            // Empty slots below this number are known to be settled: a
            // settled event was found there, looking past the first one.
            let mut settled_below = 0;
            let mut seq = after.max(self.event_floor()?);
            cursor = seq;
            while data.len() < limit && seq < last {
                seq += 1;
                let key = events::event_key(seq);
                let mut value = self.store.get(&key)?;
                if value.is_none() {
                    // Reserved and not written: its writer may be on its
                    // way. It is sealed only once a later event settled.
                    if seq >= settled_below {
                        match self.next_event(seq, last)? {
                            Some((at, bytes)) if self.settled(&bytes, now) => settled_below = at,
                            _ => break,
                        }
                    }
                    value = self.seal(&key)?;
                }
                if let Some(bytes) = value
                    && bytes != TOMBSTONE
                {
                    data.push(decode_json::<Event>(&key, &bytes)?);
                }
                cursor = seq;
            }
        } else {
            let prefix = events::event_prefix();
            let settled_before = now.saturating_sub(self.config.settle_window_ms);
            let mut seqs: Vec<u64> = self
                .store
                .list_keys(&prefix)?
                .iter()
                .filter_map(|key| key.strip_prefix(&prefix)?.parse().ok())
                .filter(|seq| *seq > after && seq / 1000 <= settled_before)
                .collect();
            seqs.sort_unstable();
            for seq in seqs.into_iter().take(limit) {
                let key = events::event_key(seq);
                if let Some(bytes) = self.store.get(&key)? {
                    data.push(decode_json::<Event>(&key, &bytes)?);
                }
                cursor = seq;
            }
        }
        Ok(EventPage {
            data,
            next_after: cursor,
        })
    }

    /// The number below which every slot of the log is done with (purged,
    /// sealed, or never to be written), so readers start above it: 0 until
    /// [`Self::purge`] first raised it ([`Mode::Atomic`]).
    fn event_floor(&self) -> Result<u64, LedgerError> {
        let key = events::floor_key();
        Ok(match self.store.get(&key)? {
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| LedgerError::Corrupt {
                    key,
                    reason: "the event floor is not a number".into(),
                })?,
            None => 0,
        })
    }

    /// Raises the event floor past what a purge left behind: up to the
    /// last purged number that only purged, sealed or empty slots precede.
    /// Every number below a purged event was reserved longer ago than the
    /// retention period, so an empty slot there will never be written;
    /// without the floor, a reader whose cursor is that old would walk
    /// (and wait at) those empty slots on every call. Tombstones below the
    /// floor are removed with it.
    /// `slots`: each slot the purge saw, in order of number.
    fn raise_floor(&self, slots: &[(u64, Slot)]) -> Result<(), LedgerError> {
        let floor = self.event_floor()?;
        let mut raised = floor;
        for &(seq, slot) in slots.iter().filter(|(seq, _)| *seq > floor) {
            match slot {
                Slot::Event => break,
                Slot::Purged => raised = seq,
                Slot::Tombstone => {}
            }
        }
        if raised == floor {
            return Ok(());
        }
        self.store
            .set(&events::floor_key(), raised.to_string().as_bytes())?;
        for &(seq, _) in slots
            .iter()
            .filter(|&&(seq, slot)| seq > floor && seq <= raised && slot == Slot::Tombstone)
        {
            self.store.delete(&events::event_key(seq))?;
        }
        Ok(())
    }

    /// The first slot after `seq`, up to `last`, that holds an event, with
    /// its bytes.
    fn next_event(&self, seq: u64, last: u64) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        for later in seq + 1..=last {
            if let Some(bytes) = self.store.get(&events::event_key(later))?
                && bytes != TOMBSTONE
            {
                return Ok(Some((later, bytes)));
            }
        }
        Ok(None)
    }

    /// Whether `bytes`, an event numbered after an empty slot, shows that
    /// the slot's writer is gone: it was created at least
    /// [`Config::settle_window_ms`] ago (to the second), and its number was
    /// reserved after the empty one's. (A tombstone proves nothing: a
    /// number given up by its own writer is sealed at once.)
    fn settled(&self, bytes: &[u8], now: u64) -> bool {
        serde_json::from_slice::<Event>(bytes)
            .ok()
            .and_then(|event| event.created_ms())
            .is_some_and(|created| created.saturating_add(self.config.settle_window_ms) <= now)
    }

    /// Event `id`, numbered `seq` (as its delivery record says): `None`
    /// when that slot of the log holds no event, or another one.
    pub fn numbered_event(&self, seq: u64, id: &str) -> Result<Option<Event>, LedgerError> {
        let key = events::event_key(seq);
        Ok(match self.store.get(&key)? {
            Some(bytes) if bytes != TOMBSTONE => {
                Some(decode_json::<Event>(&key, &bytes)?).filter(|event| event.id == id)
            }
            _ => None,
        })
    }

    /// The event with `id` (for `POST /events/{id}/deliveries`), through
    /// its delivery record when webhooks are on, else by scanning.
    pub fn event(&self, id: &str) -> Result<Option<Event>, LedgerError> {
        let delivery_key = events::delivery_key(id);
        if let Some(bytes) = self.store.get(&delivery_key)? {
            let delivery: Delivery = decode_json(&delivery_key, &bytes)?;
            return self.numbered_event(delivery.seq, id);
        }
        for key in self.store.list_keys(&events::event_prefix())? {
            if let Some(bytes) = self.store.get(&key)?
                && bytes != TOMBSTONE
            {
                let event: Event = decode_json(&key, &bytes)?;
                if event.id == id {
                    return Ok(Some(event));
                }
            }
        }
        Ok(None)
    }

    // ----- webhook deliveries ----------------------------------------------

    /// Deliveries due at `now`, oldest event first. Read from the outbox
    /// (one key listing the deliveries still scheduled), so checking costs
    /// one read however many events were ever delivered.
    pub fn due_deliveries(&self, now: u64) -> Result<Vec<Delivery>, LedgerError> {
        let mut due = Vec::new();
        let mut finished = Vec::new();
        for entry in self.outbox()?.entries {
            if entry.due > now {
                continue;
            }
            let key = events::delivery_key(&entry.event_id);
            let delivery = match self.store.get(&key)? {
                Some(bytes) => decode_json::<Delivery>(&key, &bytes)?,
                None => Delivery::new(&entry.event_id, entry.seq, entry.due),
            };
            if delivery.is_due(now) {
                due.push(delivery);
            } else if delivery.state != DeliveryState::Scheduled {
                finished.push(entry.event_id);
            }
        }
        if !finished.is_empty() {
            // An entry left for a delivery that is over (put back by
            // `restore_scheduled` as it finished elsewhere): it would make
            // every request look for due deliveries.
            self.update_outbox(&events::outbox_key(), |outbox| {
                let before = outbox.entries.len();
                outbox
                    .entries
                    .retain(|entry| !finished.contains(&entry.event_id));
                outbox.entries.len() != before
            })?;
        }
        due.sort_by_key(|delivery| delivery.seq);
        Ok(due)
    }

    /// Puts back in the outbox each of the `listed` deliveries (as a listing
    /// just read them) that is still scheduled but missing from it. A call
    /// that wrote an event and its delivery record, then failed to update
    /// the outbox (a store error, contention: the notification is
    /// acknowledged all the same), left a delivery no instance would
    /// attempt; listing the event restores it. Returns how many were put
    /// back.
    pub fn restore_scheduled(&self, listed: &[&Delivery]) -> Result<usize, LedgerError> {
        let scheduled = |delivery: &Delivery| {
            delivery.state == DeliveryState::Scheduled && delivery.next_attempt_at.is_some()
        };
        if !self.config.webhooks || !listed.iter().any(|delivery| scheduled(delivery)) {
            return Ok(0);
        }
        let outbox = self.outbox()?;
        let listed_in = |outbox: &Outbox, event_id: &str| {
            outbox
                .entries
                .iter()
                .any(|entry| entry.event_id == event_id)
        };
        let mut restored = 0;
        for delivery in listed.iter().filter(|delivery| scheduled(delivery)) {
            if listed_in(&outbox, &delivery.event_id) {
                continue;
            }
            // Held by the instance that wrote it: sent by it, or adopted
            // from there once its lease runs out.
            if listed_in(
                &self.outbox_at(&events::held_key(&delivery.event_id))?,
                &delivery.event_id,
            ) {
                continue;
            }
            // Read again after the outbox: one finished since is left out.
            let Some(current) = self.delivery(&delivery.event_id)? else {
                continue;
            };
            if scheduled(&current) {
                self.schedule(&current)?;
                restored += 1;
            }
        }
        Ok(restored)
    }

    /// Whether any delivery may be due at `now`: one read of the outbox,
    /// and, with [`Config::hold_own_deliveries`], one of the key of held
    /// deliveries [`Self::adopt_orphans`] looks at by then.
    pub fn deliveries_due(&self, now: u64) -> Result<bool, LedgerError> {
        let due = |outbox: Outbox| outbox.entries.iter().any(|entry| entry.due <= now);
        Ok(due(self.outbox()?)
            || (self.config.hold_own_deliveries && due(self.outbox_at(&events::looked_at(now))?)))
    }

    /// Takes the right to attempt the delivery of `event_id` now: its
    /// outbox entry, if due, is pushed `lease_ms` into the future (by CAS
    /// where the host offers it), so another instance checking at the
    /// same time leaves it alone. `false`: not due, or someone else took it.
    pub fn lease_delivery(
        &self,
        event_id: &str,
        now: u64,
        lease_ms: u64,
    ) -> Result<bool, LedgerError> {
        let lease = self.new_claim(now).id;
        let mut leased = false;
        self.update_outbox(&events::outbox_key(), |outbox| {
            let Some(entry) = outbox
                .entries
                .iter_mut()
                .find(|entry| entry.event_id == event_id)
            else {
                leased = false;
                return false;
            };
            // Already this call's: an earlier try wrote it, and its swap was
            // reported lost. (Spin's Redis store reports every swap as
            // failed; the component reads the value back, and a writer that
            // changed the outbox right after makes that read differ.)
            leased = entry.lease.as_deref() == Some(lease.as_str());
            if leased || entry.due > now {
                return false;
            }
            entry.due = now.saturating_add(lease_ms);
            entry.lease = Some(lease.clone());
            leased = true;
            true
        })?;
        Ok(leased)
    }

    /// Records one attempt to deliver event `event_id` and schedules the
    /// next. An attempt for an event without a delivery record starts one.
    pub fn record_attempt(
        &self,
        event_id: &str,
        seq: u64,
        attempt: Attempt,
    ) -> Result<Delivery, LedgerError> {
        self.record(event_id, seq, attempt, false)
    }

    /// [`Self::record_attempt`] for a delivery this ledger held (one
    /// [`Self::take_held_deliveries`] gave): the next try, if any, goes in
    /// the outbox, which a delivery sent at once never changes, and the
    /// delivery leaves the held list.
    pub fn record_held_attempt(
        &self,
        event_id: &str,
        seq: u64,
        attempt: Attempt,
    ) -> Result<Delivery, LedgerError> {
        self.record(event_id, seq, attempt, true)
    }

    fn record(
        &self,
        event_id: &str,
        seq: u64,
        attempt: Attempt,
        held: bool,
    ) -> Result<Delivery, LedgerError> {
        let key = events::delivery_key(event_id);
        let at = attempt.at;
        let delivery = self.update_delivery(&key, event_id, seq, at, |delivery| {
            // Already there: an earlier try wrote it and its swap was
            // reported lost (see `modify`). One lease, one attempt.
            if delivery.attempts.last() != Some(&attempt) {
                delivery.record(attempt.clone());
            }
        })?;
        if !held || delivery.next_attempt_at.is_some() {
            self.schedule(&delivery)?;
        }
        if held {
            // Out of the held list only once the retry is in the outbox.
            self.list_at(&events::held_key(event_id), event_id, seq, None, None)?;
        }
        Ok(delivery)
    }

    /// Moves the deliveries whose holders let their lease run out (the
    /// instance stopped before sending them) from one key of held
    /// deliveries, chosen by `now`, into the outbox, due at `now`. Each
    /// request with webhooks looks at one such key, a different one every
    /// quarter of a second (`events::LOOK_EACH_MS`). An entry whose
    /// delivery is no longer scheduled (sent, but its holder could not take
    /// it out of the list) only leaves the list. Returns how many moved
    /// into the outbox; nothing is read without
    /// [`Config::hold_own_deliveries`], as in [`Self::deliveries_due`].
    pub fn adopt_orphans(&self, now: u64) -> Result<usize, LedgerError> {
        if !self.config.hold_own_deliveries {
            return Ok(0);
        }
        let key = events::looked_at(now);
        let outbox = events::outbox_key();
        let mut moved = 0;
        for orphan in self.outbox_at(&key)?.entries {
            if orphan.due > now {
                continue;
            }
            let scheduled = self
                .delivery(&orphan.event_id)?
                .is_none_or(|delivery| delivery.state == DeliveryState::Scheduled);
            if scheduled {
                self.list_at(&outbox, &orphan.event_id, orphan.seq, Some(now), None)?;
                moved += 1;
            }
            self.list_at(&key, &orphan.event_id, orphan.seq, None, None)?;
        }
        Ok(moved)
    }

    /// Starts the retry schedule of event `event_id` again, due at `now`
    /// (`POST /events/{id}/deliveries`).
    pub fn redeliver(&self, event_id: &str, seq: u64, now: u64) -> Result<Delivery, LedgerError> {
        let key = events::delivery_key(event_id);
        let delivery = self.update_delivery(&key, event_id, seq, now, |delivery| {
            delivery.reschedule(now)
        })?;
        self.schedule(&delivery)?;
        Ok(delivery)
    }

    /// The delivery record of event `event_id`, if it has one.
    pub fn delivery(&self, event_id: &str) -> Result<Option<Delivery>, LedgerError> {
        let key = events::delivery_key(event_id);
        self.store
            .get(&key)?
            .map(|bytes| decode_json(&key, &bytes))
            .transpose()
    }

    /// Puts `delivery` in the outbox at its next attempt, or takes it out
    /// once delivered or exhausted.
    fn schedule(&self, delivery: &Delivery) -> Result<(), LedgerError> {
        self.list_at(
            &events::outbox_key(),
            &delivery.event_id,
            delivery.seq,
            delivery.next_attempt_at,
            None,
        )
    }

    /// Lists event `event_id`'s delivery under `key` (the outbox or a key
    /// of held deliveries) as due at `due` and leased to `lease`, or takes
    /// it out (`due` `None`).
    fn list_at(
        &self,
        key: &str,
        event_id: &str,
        seq: u64,
        due: Option<u64>,
        lease: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.update_outbox(key, |outbox| {
            let position = outbox
                .entries
                .iter()
                .position(|entry| entry.event_id == event_id);
            match (due, position) {
                (Some(due), Some(index)) => {
                    // Unchanged when an earlier try wrote it and its swap
                    // was reported lost.
                    let entry = &mut outbox.entries[index];
                    let changed = entry.due != due || entry.lease.as_deref() != lease;
                    entry.due = due;
                    entry.lease = lease.map(str::to_owned);
                    changed
                }
                (Some(due), None) => {
                    outbox.entries.push(OutboxEntry {
                        event_id: event_id.to_owned(),
                        seq,
                        due,
                        lease: lease.map(str::to_owned),
                    });
                    true
                }
                (None, Some(index)) => {
                    outbox.entries.remove(index);
                    true
                }
                (None, None) => false,
            }
        })
    }

    fn outbox(&self) -> Result<Outbox, LedgerError> {
        self.outbox_at(&events::outbox_key())
    }

    /// The outbox, or a key of held deliveries.
    fn outbox_at(&self, key: &str) -> Result<Outbox, LedgerError> {
        Ok(match self.store.get(key)? {
            Some(bytes) => decode_json(key, &bytes)?,
            None => Outbox::default(),
        })
    }

    /// Changes the outbox with `change` (which says whether it changed
    /// anything), by CAS where the host offers it.
    fn update_outbox(
        &self,
        key: &str,
        mut change: impl FnMut(&mut Outbox) -> bool,
    ) -> Result<(), LedgerError> {
        let read = |current: Option<Vec<u8>>| -> Result<Outbox, LedgerError> {
            match current {
                Some(bytes) => decode_json(key, &bytes),
                None => Ok(Outbox::default()),
            }
        };
        if !self.atomic() {
            let mut outbox = read(self.store.get(key)?)?;
            if change(&mut outbox) {
                self.store.set(key, &encode_json(key, &outbox)?)?;
            }
            return Ok(());
        }
        for _ in 0..CAS_ATTEMPTS {
            let (cas, current) = self.store.cas_open_existing(key)?;
            let mut outbox = read(current)?;
            if !change(&mut outbox) {
                return Ok(());
            }
            match self.store.cas_swap(cas, &encode_json(key, &outbox)?) {
                Ok(()) => return Ok(()),
                Err(CasError::Conflict) => continue,
                Err(CasError::Store(error)) => return Err(error.into()),
            }
        }
        Err(LedgerError::Contention {
            key: key.to_owned(),
        })
    }

    fn update_delivery(
        &self,
        key: &str,
        event_id: &str,
        seq: u64,
        now: u64,
        mut change: impl FnMut(&mut Delivery),
    ) -> Result<Delivery, LedgerError> {
        let start = |current: Option<Vec<u8>>| -> Result<Delivery, LedgerError> {
            match current {
                Some(bytes) => decode_json(key, &bytes),
                None => Ok(Delivery::new(event_id, seq, now)),
            }
        };
        if !self.atomic() {
            let mut delivery = start(self.store.get(key)?)?;
            change(&mut delivery);
            self.store.set(key, &encode_json(key, &delivery)?)?;
            return Ok(delivery);
        }
        for _ in 0..CAS_ATTEMPTS {
            let (cas, current) = self.store.cas_open_existing(key)?;
            let mut delivery = start(current)?;
            change(&mut delivery);
            match self.store.cas_swap(cas, &encode_json(key, &delivery)?) {
                Ok(()) => return Ok(delivery),
                Err(CasError::Conflict) => continue,
                Err(CasError::Store(error)) => return Err(error.into()),
            }
        }
        Err(LedgerError::Contention {
            key: key.to_owned(),
        })
    }

    // ----- retention -------------------------------------------------------

    /// Runs [`Ledger::purge`] when the last run (by any instance) is more
    /// than `every_ms` ago, recording the time first so that instances
    /// checking together rarely both run it. `None`: not due.
    pub fn purge_if_due(&self, now: u64, every_ms: u64) -> Result<Option<Purged>, LedgerError> {
        let key = format!("{}purged-at", record::PREFIX);
        let last = self
            .store
            .get(&key)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse::<u64>().ok());
        if last.is_some_and(|last| now.saturating_sub(last) < every_ms) {
            return Ok(None);
        }
        self.store.set(&key, now.to_string().as_bytes())?;
        self.purge(now).map(Some)
    }

    /// Removes settled records, and events, whose last change is older
    /// than [`Config::retention_days`] at `now`. Records still needing
    /// attention stay. Run [`Ledger::export_jsonl`] first to keep a copy.
    pub fn purge(&self, now: u64) -> Result<Purged, LedgerError> {
        let retention_ms = u64::from(self.config.retention_days) * 86_400_000;
        let cutoff = now.saturating_sub(retention_ms);
        let mut purged = Purged::default();
        // Each record is judged on its own: no order needed.
        for (_, record) in self.records_in_store_order()? {
            if !record.state.is_settled() || record.updated_at >= cutoff {
                continue;
            }
            let key = record.key();
            let mut indexes = vec![reference_key(record.provider, &record.reference)];
            if let Some(tracking_id) = &record.tracking_id {
                indexes.push(tracking_key(record.provider, tracking_id));
            }
            for index in indexes {
                if self.store.get(&index)?.as_deref() == Some(key.as_bytes()) {
                    self.store.delete(&index)?;
                }
            }
            for state in [
                State::Pending,
                State::Completed,
                State::Failed,
                State::Reversed,
                State::RefundPending,
                State::Cancelled,
            ] {
                self.store.delete(&events::change_key(&record, state))?;
            }
            self.store.delete(&key)?;
            purged.records += 1;
        }
        let prefix = events::event_prefix();
        // What each slot of the log holds after this purge.
        let mut slots = Vec::new();
        for key in self.store.list_keys(&prefix)? {
            let Some(seq) = key
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let Some(bytes) = self.store.get(&key)? else {
                continue;
            };
            if bytes == TOMBSTONE {
                slots.push((seq, Slot::Tombstone));
                continue;
            }
            let event: Event = decode_json(&key, &bytes)?;
            let created = event.created_ms().unwrap_or(0);
            if created < cutoff {
                self.store.delete(&events::delivery_key(&event.id))?;
                self.store.delete(&key)?;
                purged.events += 1;
                slots.push((seq, Slot::Purged));
            } else {
                slots.push((seq, Slot::Event));
            }
        }
        if self.atomic() {
            slots.sort_unstable_by_key(|(seq, _)| *seq);
            self.raise_floor(&slots)?;
        }
        // Payout idempotency keys (see `payouts`), counted with the records.
        purged.records += self.purge_payout_claims(cutoff)?;
        // Payout event markers go with the events (not counted).
        self.purge_payout_markers(cutoff)?;
        Ok(purged)
    }
}

/// What [`Ledger::purge`] left in one slot of the event log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// An event it kept.
    Event,
    /// An event it removed.
    Purged,
    /// A number sealed before.
    Tombstone,
}

/// The response replayed for a record that has none stored (written by a
/// status query, for instance): the `201` body of `POST /payments`, or a
/// problem for a failed payment.
fn replay_response(record: &PaymentRecord) -> StoredResponse {
    if let Some(response) = &record.response {
        return response.clone();
    }
    match (&record.state, &record.error) {
        (State::Failed, Some(error)) => StoredResponse {
            status: 502,
            content_type: "application/problem+json".into(),
            body: serde_json::json!({
                "type": crate::api::ProblemCode::ProviderError.type_uri(),
                "title": "The provider refused the request",
                "status": 502,
                "detail": error.message,
                "code": "provider_error",
                "provider_code": error.code,
            })
            .to_string(),
        },
        _ => StoredResponse {
            status: 201,
            content_type: "application/json".into(),
            body: record.created_json().to_string(),
        },
    }
}

fn no_event(record: &PaymentRecord) -> LedgerError {
    LedgerError::Corrupt {
        key: record.key(),
        reason: format!("state `{}` has no event", record.state.as_str()),
    }
}

fn encode(record: &PaymentRecord) -> Result<Vec<u8>, LedgerError> {
    // The key (a SHA-256 of the idempotency key) only when it is needed.
    encode_naming(record, || record.key())
}

fn decode(key: &str, bytes: &[u8]) -> Result<PaymentRecord, LedgerError> {
    let record: PaymentRecord = decode_json(key, bytes)?;
    if record.version != RECORD_VERSION {
        return Err(LedgerError::Corrupt {
            key: key.to_owned(),
            reason: format!(
                "record version {} (this FinConnect reads {RECORD_VERSION})",
                record.version
            ),
        });
    }
    Ok(record)
}

fn encode_json<T: serde::Serialize>(key: &str, value: &T) -> Result<Vec<u8>, LedgerError> {
    encode_naming(value, || key.to_owned())
}

/// Room for a stored value at the start: a payment record is about 500
/// bytes before its answer is kept and 1,000 after, an event about 500.
/// (`serde_json::to_vec` starts at 128 and doubles three times.)
const ENCODED_CAPACITY: usize = 1024;

/// `value` as JSON; an error names the key `key` makes, made only then.
fn encode_naming<T: serde::Serialize>(
    value: &T,
    key: impl FnOnce() -> String,
) -> Result<Vec<u8>, LedgerError> {
    let mut bytes = Vec::with_capacity(ENCODED_CAPACITY);
    match serde_json::to_writer(&mut bytes, value) {
        Ok(()) => Ok(bytes),
        Err(error) => Err(LedgerError::Corrupt {
            key: key(),
            reason: error.to_string(),
        }),
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, LedgerError> {
    serde_json::from_slice(bytes).map_err(|error| LedgerError::Corrupt {
        key: key.to_owned(),
        reason: error.to_string(),
    })
}
