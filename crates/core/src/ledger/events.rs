//! Events: one per verified state change of a payment, numbered in order.
//! JSON as `GET /events` and webhooks send it:
//! `{"id","seq","type","created_at","payment":{"provider","reference",
//! "tracking_id","status","amount","currency",…}}`.

use super::record::{PREFIX, PaymentRecord, State, digest_part, rfc3339};
use serde::{Deserialize, Serialize};

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_` and 32 hex digits derived from the payment and its new state:
    /// the same state change always has the same id (the `webhook-id`).
    pub id: String,
    /// Position in the log: `GET /events?after=<seq>` lists later ones.
    pub seq: u64,
    /// `payment.pending`, `payment.completed`, `payment.failed`,
    /// `payment.reversed`, `refund.pending` or `payment.cancelled`
    /// ([`State::event_type`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// The payment as it stood ([`PaymentRecord::public_json`]); `null`
    /// for a payout event.
    pub payment: serde_json::Value,
    /// The payout as it stood, for `payout.*` events
    /// ([`super::payouts::payout_json`]); absent for payment events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<serde_json::Value>,
}

impl Event {
    /// When it was created, in Unix milliseconds to the second; `None` when
    /// `created_at` is not RFC 3339 UTC.
    pub fn created_ms(&self) -> Option<u64> {
        crate::token_cache::parse_utc(&self.created_at).map(|seconds| seconds.saturating_mul(1000))
    }
}

/// A page of `GET /events`: `{"data":[…],"next_after":<seq>}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events, in `seq` order.
    pub data: Vec<Event>,
    /// Pass as `after` for the next page (the `after` given when empty).
    pub next_after: u64,
}

/// The id of the event announcing that `record` reached `state`.
pub fn event_id(record: &PaymentRecord, state: State) -> String {
    event_id_of_key(&record.key(), state)
}

/// [`event_id`] for the record whose key, [`PaymentRecord::key`], is
/// `key`: for a caller that already made the key (a SHA-256).
pub(crate) fn event_id_of_key(key: &str, state: State) -> String {
    format!("evt_{}", digest_part(&[key, state.as_str()]))
}

/// Builds the event for `record` in its current state, if that state is
/// announced at all.
pub fn event_for(record: &PaymentRecord, seq: u64, now_ms: u64) -> Option<Event> {
    event_with_id(record, event_id(record, record.state), seq, now_ms)
}

/// [`event_for`] with its id, [`event_id`] for the record's state, already
/// made (it hashes the record's key).
pub(crate) fn event_with_id(
    record: &PaymentRecord,
    id: String,
    seq: u64,
    now_ms: u64,
) -> Option<Event> {
    let kind = record.state.event_type()?;
    Some(Event {
        id,
        seq,
        kind: kind.to_owned(),
        created_at: rfc3339(now_ms),
        payment: record.public_json(),
        payout: None,
    })
}

/// The counter of sequence numbers ([`super::store::Mode::Atomic`]).
pub(crate) fn counter_key() -> String {
    format!("{PREFIX}event-seq")
}

/// The number below which readers need not look ([`super::Ledger::purge`]
/// raises it; [`super::store::Mode::Atomic`]).
pub(crate) fn floor_key() -> String {
    format!("{PREFIX}event-floor")
}

/// Where event `seq` is stored (zero-padded, so keys sort like numbers).
pub(crate) fn event_key(seq: u64) -> String {
    format!("{PREFIX}event/{seq:020}")
}

/// The prefix of every event key.
pub(crate) fn event_prefix() -> String {
    format!("{PREFIX}event/")
}

/// The marker that a state change already has its event.
pub(crate) fn change_key(record: &PaymentRecord, state: State) -> String {
    format!(
        "{PREFIX}event-by-change/{}",
        digest_part(&[&record.key(), state.as_str()])
    )
}

/// Where the delivery of event `id` is recorded.
pub(crate) fn delivery_key(event_id: &str) -> String {
    format!("{PREFIX}delivery/{event_id}")
}

/// The one key listing the deliveries still scheduled ([`Outbox`]).
pub(crate) fn outbox_key() -> String {
    format!("{PREFIX}outbox")
}

/// How many keys the deliveries held by the instances that wrote their
/// events are spread over ([`held_key`]). At concurrency 32 under `spin up`
/// on Redis, 64 keys made 1.07–1.31× the pays per second of 16, with a
/// third to a quarter of the p99 (waits for a key's lock).
pub(crate) const HELD_SHARDS: u64 = 64;

/// How long each key of held deliveries is the one looked at for
/// deliveries left past their lease ([`looked_at`]): every key is looked
/// at within `HELD_SHARDS` × this (16 s) while requests keep coming.
pub(crate) const LOOK_EACH_MS: u64 = 250;

/// Where the delivery of event `id` is listed while the instance that
/// wrote the event holds it ([`super::Config::hold_own_deliveries`]): one
/// of [`HELD_SHARDS`] keys, by the id's last two hex digits, so that
/// instances writing events at once rarely change the same key.
pub(crate) fn held_key(event_id: &str) -> String {
    let digits = event_id
        .bytes()
        .rev()
        .take(2)
        .filter_map(|byte| char::from(byte).to_digit(16))
        .fold((0, 1), |(sum, scale), digit| {
            (sum + u64::from(digit) * scale, scale * 16)
        })
        .0;
    held_shard_key(digits)
}

/// The key of held deliveries a request at `now` looks at for deliveries
/// left past their lease ([`super::Ledger::adopt_orphans`]).
pub(crate) fn looked_at(now: u64) -> String {
    held_shard_key(now / LOOK_EACH_MS)
}

/// The `shard`-th key of held deliveries (modulo [`HELD_SHARDS`]).
pub(crate) fn held_shard_key(shard: u64) -> String {
    format!("{PREFIX}outbox/held/{:02x}", shard % HELD_SHARDS)
}

/// The deliveries still to attempt, kept under one key so that checking
/// for due work costs one read (`wasi:keyvalue` lists keys only by walking
/// the whole bucket). Delivered and exhausted ones leave it. A key of held
/// deliveries ([`held_key`]) is a list of the same form.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Outbox {
    pub(crate) entries: Vec<OutboxEntry>,
}

/// One scheduled delivery.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OutboxEntry {
    pub(crate) event_id: String,
    pub(crate) seq: u64,
    /// When it may next be attempted (Unix ms); pushed ahead while an
    /// instance holds it ([`super::Ledger::lease_delivery`]).
    pub(crate) due: u64,
    /// Who holds it, while leased: unique per lease, so that a lease whose
    /// write landed but was reported lost is recognised by its taker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lease: Option<String>,
}

/// A time-sortable sequence number for hosts without `increment`: the
/// time in milliseconds times 1000, plus three digits from the event id
/// so two events of the same millisecond rarely collide.
pub fn time_seq(now_ms: u64, event_id: &str) -> u64 {
    let spread = event_id.bytes().fold(0u64, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 1000;
    now_ms.saturating_mul(1000).saturating_add(spread)
}

/// What a slot of the log holds instead of an event when a reader found it
/// empty (a writer that reserved the number and never wrote it).
pub(crate) const TOMBSTONE: &[u8] = b"-";

/// The marker stored under [`change_key`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ChangeMarker {
    /// When a writer started on it (Unix ms).
    pub(crate) claimed_at: u64,
    /// The `seq` its event is written under, reserved before the claim
    /// (so one write both claims the change and says where its event
    /// goes). `None` in a claim written before the number was reserved
    /// first: such a claim never got its event.
    pub(crate) seq: Option<u64>,
}
