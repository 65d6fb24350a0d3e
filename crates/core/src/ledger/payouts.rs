//! Payouts on the ledger: idempotent creation and payout events.
//!
//! # One key, at most one payout
//!
//! `POST /payouts` claims its key (the `Idempotency-Key` header, else the
//! order reference) before the provider call, with the same rules as
//! `POST /payments` ([`Ledger::begin_payout`]):
//!
//! - a new key is claimed: send the payout, then [`Ledger::finish_payout`];
//! - the same request again after an answer: that answer is replayed,
//!   nothing is sent;
//! - the key with a different request: `idempotency_key_reused`;
//! - the key while its first request runs: `request_in_progress`;
//! - the key after its first request died without an answer (the claim is
//!   older than the claim TTL): ask the provider for the payouts under the
//!   reference first ([`PayoutBegin::AskProvider`]). Found: that payout is
//!   the answer. Not found: the claim is taken over and the payout sent —
//!   safe because the reference travels with it, and ClickPesa refuses a
//!   reference it has seen (409) instead of paying twice.
//!
//! A refusal that moved no money (insufficient balance, the cooldown, an
//! invalid request) releases the key, so the same request may be sent
//! again once the cause is gone. A call that ended without an answer keeps
//! the claim (outcome unknown, see above).
//!
//! # Events
//!
//! [`Ledger::observe_payout`] announces a payout's state once per state:
//! `payout.authorized`, `payout.succeeded`, `payout.reversed`,
//! `payout.refunded`, in the same log (and webhooks) as payment events,
//! with the payout in the event's `payout` member.

use super::events::{ChangeMarker, Event};
use super::record::{PREFIX, StoredResponse, digest_part, rfc3339};
use super::{CAS_ATTEMPTS, CasError, Ledger, LedgerError, Store, decode_json, encode_json};
use crate::domain::Provider;
use crate::payouts::{Payout, PayoutStatus};
use serde::{Deserialize, Serialize};

/// What [`Ledger::begin_payout`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutBegin {
    /// The key is claimed: send the payout, then [`Ledger::finish_payout`]
    /// (or [`Ledger::release_payout`]).
    Proceed(PayoutTicket),
    /// Answered before: send this again. No provider call.
    Replay(StoredResponse),
    /// The key was used for a different payout request.
    KeyReused,
    /// The first request with this key is still running.
    InProgress,
    /// The first request died without an answer: ask the provider for the
    /// payouts under `reference`, then [`Ledger::resolve_payout`].
    AskProvider {
        /// The order reference to query.
        reference: String,
    },
}

/// The right to send one payout, for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutTicket {
    key: String,
    claim_id: String,
}

/// The stored state of one payout idempotency key.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PayoutClaim {
    fingerprint: String,
    reference: String,
    claim_id: String,
    claimed_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<StoredResponse>,
}

/// Where the claim of an idempotency key is kept.
fn claim_key(provider: Provider, key: &str) -> String {
    format!(
        "{PREFIX}payout/{}/{}",
        provider.as_str(),
        digest_part(&[key])
    )
}

/// The marker that a payout's state already has its event: under a prefix
/// of its own, so that [`Ledger::purge`] can find and drop old ones.
fn change_key(provider: Provider, payout_id: &str, status: PayoutStatus) -> String {
    format!(
        "{PREFIX}payout-change/{}",
        digest_part(&["payout", provider.as_str(), payout_id, status.as_str()])
    )
}

/// The payout as events carry it.
pub fn payout_json(payout: &Payout) -> serde_json::Value {
    serde_json::json!({
        "provider": payout.provider.as_str(),
        "id": payout.id,
        "reference": payout.reference,
        "status": payout.status.as_str(),
        "provider_status": payout.provider_status,
        "amount": payout.amount,
        "fee": payout.fee,
        "currency": payout.currency,
        "channel": payout.channel,
        "channel_provider": payout.channel_provider,
        "transfer_type": payout.transfer_type,
        "beneficiary_account": payout.beneficiary_account,
        "beneficiary_name": payout.beneficiary_name,
        "notes": payout.notes,
        "created_at": payout.created_at,
        "updated_at": payout.updated_at,
    })
}

impl<S: Store> Ledger<S> {
    /// Claims `key` for a payout request (`fingerprint` identifies the
    /// request: the same request always has the same one).
    pub fn begin_payout(
        &self,
        provider: Provider,
        key: &str,
        fingerprint: &str,
        reference: &str,
        now: u64,
    ) -> Result<PayoutBegin, LedgerError> {
        let store_key = claim_key(provider, key);
        let claim = PayoutClaim {
            fingerprint: fingerprint.to_owned(),
            reference: reference.to_owned(),
            claim_id: self.payout_claim_id(now),
            claimed_at: now,
            response: None,
        };
        let ticket = PayoutTicket {
            key: store_key.clone(),
            claim_id: claim.claim_id.clone(),
        };
        if self.atomic() {
            for _ in 0..CAS_ATTEMPTS {
                let (cas, current) = self.store.cas_open(&store_key)?;
                if let Some(bytes) = current {
                    let existing: PayoutClaim = decode_json(&store_key, &bytes)?;
                    return Ok(self.decide_payout(&existing, fingerprint, now));
                }
                match self.store.cas_swap(cas, &encode_json(&store_key, &claim)?) {
                    Ok(()) => return Ok(PayoutBegin::Proceed(ticket)),
                    Err(CasError::Conflict) => continue,
                    Err(CasError::Store(error)) => return Err(error.into()),
                }
            }
            return Err(LedgerError::Contention { key: store_key });
        }
        if let Some(bytes) = self.store.get(&store_key)? {
            let existing: PayoutClaim = decode_json(&store_key, &bytes)?;
            return Ok(self.decide_payout(&existing, fingerprint, now));
        }
        self.store
            .set(&store_key, &encode_json(&store_key, &claim)?)?;
        Ok(PayoutBegin::Proceed(ticket))
    }

    fn payout_claim_id(&self, now: u64) -> String {
        let n = self
            .claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{now}-{n}", self.config.instance_id)
    }

    fn decide_payout(&self, existing: &PayoutClaim, fingerprint: &str, now: u64) -> PayoutBegin {
        if existing.fingerprint != fingerprint {
            return PayoutBegin::KeyReused;
        }
        if let Some(response) = &existing.response {
            return PayoutBegin::Replay(response.clone());
        }
        if now.saturating_sub(existing.claimed_at) < self.config.claim_ttl_ms {
            return PayoutBegin::InProgress;
        }
        PayoutBegin::AskProvider {
            reference: existing.reference.clone(),
        }
    }

    /// After [`PayoutBegin::AskProvider`]: `found` is what the provider
    /// answered for the reference, when it knew it. With an answer, that
    /// answer is stored for the key and replayed; without one, the stale
    /// claim is taken over and the payout may be sent.
    pub fn resolve_payout(
        &self,
        provider: Provider,
        key: &str,
        found: Option<StoredResponse>,
        now: u64,
    ) -> Result<PayoutBegin, LedgerError> {
        let store_key = claim_key(provider, key);
        let Some(bytes) = self.store.get(&store_key)? else {
            return Ok(PayoutBegin::InProgress);
        };
        let mut claim: PayoutClaim = decode_json(&store_key, &bytes)?;
        if let Some(response) = &claim.response {
            return Ok(PayoutBegin::Replay(response.clone()));
        }
        match found {
            Some(response) => {
                claim.response = Some(response.clone());
                self.store
                    .set(&store_key, &encode_json(&store_key, &claim)?)?;
                Ok(PayoutBegin::Replay(response))
            }
            None => {
                claim.claim_id = self.payout_claim_id(now);
                claim.claimed_at = now;
                self.store
                    .set(&store_key, &encode_json(&store_key, &claim)?)?;
                Ok(PayoutBegin::Proceed(PayoutTicket {
                    key: store_key,
                    claim_id: claim.claim_id,
                }))
            }
        }
    }

    /// Stores the answer for the ticket's key, for replay.
    pub fn finish_payout(
        &self,
        ticket: &PayoutTicket,
        response: StoredResponse,
    ) -> Result<(), LedgerError> {
        let Some(bytes) = self.store.get(&ticket.key)? else {
            return Ok(());
        };
        let mut claim: PayoutClaim = decode_json(&ticket.key, &bytes)?;
        if claim.claim_id != ticket.claim_id {
            return Ok(());
        }
        claim.response = Some(response);
        self.store
            .set(&ticket.key, &encode_json(&ticket.key, &claim)?)
            .map_err(Into::into)
    }

    /// Drops the ticket's claim: nothing was paid, the key may be used again.
    pub fn release_payout(&self, ticket: &PayoutTicket) -> Result<(), LedgerError> {
        let Some(bytes) = self.store.get(&ticket.key)? else {
            return Ok(());
        };
        let claim: PayoutClaim = decode_json(&ticket.key, &bytes)?;
        if claim.claim_id == ticket.claim_id && claim.response.is_none() {
            self.store.delete(&ticket.key)?;
        }
        Ok(())
    }

    /// Drops the claims of payout keys answered before `cutoff` (Unix ms),
    /// as [`Ledger::purge`] drops settled payment records; returns how many.
    /// A claim without an answer is kept: its outcome is still unknown.
    pub(super) fn purge_payout_claims(&self, cutoff: u64) -> Result<usize, LedgerError> {
        let mut purged = 0;
        for key in self.store.list_keys(&format!("{PREFIX}payout/"))? {
            let Some(bytes) = self.store.get(&key)? else {
                continue;
            };
            let claim: PayoutClaim = decode_json(&key, &bytes)?;
            if claim.response.is_some() && claim.claimed_at < cutoff {
                self.store.delete(&key)?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// Drops the markers of payout states announced before `cutoff` (Unix
    /// ms), as [`Ledger::purge`] drops the events themselves; a state seen
    /// again after that is announced again. Returns how many.
    pub(super) fn purge_payout_markers(&self, cutoff: u64) -> Result<usize, LedgerError> {
        let mut purged = 0;
        for key in self.store.list_keys(&format!("{PREFIX}payout-change/"))? {
            let Some(bytes) = self.store.get(&key)? else {
                continue;
            };
            let marker: ChangeMarker = decode_json(&key, &bytes)?;
            if marker.claimed_at < cutoff {
                self.store.delete(&key)?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// Announces `payout`'s state, once per payout and state, when the
    /// state has an event. Returns the new event, if one was written.
    pub fn observe_payout(&self, payout: &Payout, now: u64) -> Result<Option<Event>, LedgerError> {
        let Some(kind) = payout.status.event_type() else {
            return Ok(None);
        };
        let Some(id) = payout.id.as_deref().or(payout.reference.as_deref()) else {
            return Ok(None);
        };
        let marker_key = change_key(payout.provider, id, payout.status);
        let event_id = format!(
            "evt_{}",
            digest_part(&[
                "payout",
                payout.provider.as_str(),
                id,
                payout.status.as_str()
            ])
        );
        self.announce(&marker_key, &event_id, now, |seq| {
            Ok(Event {
                id: event_id.clone(),
                seq,
                kind: kind.to_owned(),
                created_at: rfc3339(now),
                payment: serde_json::Value::Null,
                payout: Some(payout_json(payout)),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Config, MemoryStore};

    fn ledger() -> Ledger<MemoryStore> {
        Ledger::new(MemoryStore::default(), Config::default())
    }

    fn stored(body: &str) -> StoredResponse {
        StoredResponse {
            status: 201,
            content_type: "application/json".to_owned(),
            body: body.to_owned(),
        }
    }

    fn payout(status: PayoutStatus) -> Payout {
        Payout {
            provider: Provider::Clickpesa,
            id: Some("P1".to_owned()),
            reference: Some("PAY001".to_owned()),
            status,
            provider_status: None,
            amount: Some("1047.10".to_owned()),
            fee: Some("47.10".to_owned()),
            currency: Some("TZS".to_owned()),
            channel: None,
            channel_provider: None,
            transfer_type: None,
            beneficiary_account: None,
            beneficiary_name: None,
            notes: None,
            created_at: None,
            updated_at: None,
        }
    }

    fn ok(begin: Result<PayoutBegin, LedgerError>) -> PayoutBegin {
        begin.unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn proceed(begin: Result<PayoutBegin, LedgerError>) -> PayoutTicket {
        match begin {
            Ok(PayoutBegin::Proceed(ticket)) => ticket,
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn one_key_is_one_payout_and_its_answer_is_replayed() {
        let ledger = ledger();
        let ticket = proceed(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", 0));
        assert_eq!(
            ok(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", 10)),
            (PayoutBegin::InProgress)
        );
        ledger
            .finish_payout(&ticket, stored("{}"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            ok(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", 20)),
            (PayoutBegin::Replay(stored("{}")))
        );
        assert_eq!(
            ok(ledger.begin_payout(Provider::Clickpesa, "k1", "f2", "PAY001", 20)),
            (PayoutBegin::KeyReused)
        );
        // Another provider's key space is separate.
        proceed(ledger.begin_payout(Provider::Mpesa, "k1", "f1", "PAY001", 0));
    }

    #[test]
    fn a_released_key_may_be_sent_again() {
        let ledger = ledger();
        let ticket = proceed(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", 0));
        ledger
            .release_payout(&ticket)
            .unwrap_or_else(|e| unreachable!("{e}"));
        proceed(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", 1));
    }

    #[test]
    fn a_dead_claim_asks_the_provider_first() {
        let ledger = ledger();
        proceed(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", 0));
        let late = Config::default().claim_ttl_ms;
        assert_eq!(
            ok(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", late)),
            (PayoutBegin::AskProvider {
                reference: "PAY001".to_owned()
            })
        );
        // Found: that is the answer from now on.
        assert_eq!(
            ok(ledger.resolve_payout(Provider::Clickpesa, "k1", Some(stored("found")), late)),
            (PayoutBegin::Replay(stored("found")))
        );
        assert_eq!(
            ok(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", late + 1)),
            (PayoutBegin::Replay(stored("found")))
        );
        // Not found: the claim is taken over.
        proceed(ledger.begin_payout(Provider::Clickpesa, "k2", "f1", "PAY002", 0));
        proceed(ledger.resolve_payout(Provider::Clickpesa, "k2", None, late));
    }

    #[test]
    fn answered_claims_are_purged_after_retention_and_open_ones_kept() {
        let ledger = ledger();
        let answered = proceed(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", 0));
        ledger
            .finish_payout(&answered, stored("{}"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        proceed(ledger.begin_payout(Provider::Clickpesa, "k2", "f2", "PAY002", 0));
        assert_eq!(ledger.purge_payout_claims(0).ok(), Some(0));
        assert_eq!(ledger.purge_payout_claims(1).ok(), Some(1));
        // The answered key is free again; the open one still holds.
        proceed(ledger.begin_payout(Provider::Clickpesa, "k1", "f1", "PAY001", 2));
        assert_eq!(
            ok(ledger.begin_payout(Provider::Clickpesa, "k2", "f2", "PAY002", 2)),
            PayoutBegin::InProgress
        );
    }

    #[test]
    fn each_payout_state_is_announced_once() {
        let ledger = ledger();
        let first = ledger.observe_payout(&payout(PayoutStatus::Authorized), 1_000);
        let event = first
            .unwrap_or_else(|e| unreachable!("{e}"))
            .unwrap_or_else(|| unreachable!("an event"));
        assert_eq!(event.kind, "payout.authorized");
        assert_eq!(
            event.payout.as_ref().and_then(|p| p["amount"].as_str()),
            Some("1047.10")
        );
        assert!(matches!(
            ledger.observe_payout(&payout(PayoutStatus::Authorized), 2_000),
            Ok(None)
        ));
        assert!(matches!(
            ledger.observe_payout(&payout(PayoutStatus::Processing), 2_000),
            Ok(None)
        ));
        let succeeded = ledger.observe_payout(&payout(PayoutStatus::Succeeded), 3_000);
        assert!(matches!(succeeded, Ok(Some(ref e)) if e.kind == "payout.succeeded"));
        let page = ledger
            .events(0, 10, 10_000)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let kinds: Vec<&str> = page.data.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["payout.authorized", "payout.succeeded"]);
    }

    #[test]
    fn the_purge_drops_old_payout_markers_with_their_events() {
        let ledger = ledger();
        let announced = |now| ledger.observe_payout(&payout(PayoutStatus::Authorized), now);
        assert!(matches!(announced(1_000), Ok(Some(_))));
        let markers = |ledger: &Ledger<MemoryStore>| {
            ledger
                .store
                .list_keys(&format!("{PREFIX}payout-change/"))
                .unwrap_or_else(|e| unreachable!("{e}"))
                .len()
        };
        assert_eq!(markers(&ledger), 1);
        // Within retention nothing goes.
        let day = 86_400_000;
        let retention = u64::from(ledger.config.retention_days) * day;
        ledger
            .purge(1_000 + retention)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(markers(&ledger), 1);
        assert!(matches!(announced(2_000), Ok(None)));
        // After it, the marker goes with the event.
        let purged = ledger
            .purge(1_001 + retention + day)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(purged.events, 1);
        assert_eq!(markers(&ledger), 0);
    }

    #[test]
    fn a_payout_change_claimed_by_a_call_that_died_is_announced_later() {
        let ledger = ledger();
        let authorized = payout(PayoutStatus::Authorized);
        // A call claimed the change at t=1000 and died before writing the event.
        let key = change_key(Provider::Clickpesa, "P1", PayoutStatus::Authorized);
        let marker = serde_json::json!({ "claimed_at": 1_000, "seq": null });
        ledger
            .store()
            .set(&key, marker.to_string().as_bytes())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let ttl = Config::default().claim_ttl_ms;
        // While the claim is fresh another call may still be writing: no event.
        assert!(matches!(
            ledger.observe_payout(&authorized, 1_000 + ttl - 1),
            Ok(None)
        ));
        // Once it is older than the claim TTL it is taken over, once.
        let late = ledger.observe_payout(&authorized, 1_000 + ttl);
        assert!(
            matches!(late, Ok(Some(ref e)) if e.kind == "payout.authorized"),
            "{late:?}"
        );
        assert!(matches!(
            ledger.observe_payout(&authorized, 1_000 + 2 * ttl),
            Ok(None)
        ));
    }
}
