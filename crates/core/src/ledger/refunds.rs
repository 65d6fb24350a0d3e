//! Refunds and cancellations on the ledger.
//!
//! # Refunds
//!
//! A refund is claimed on the payment's record before the provider call
//! ([`Ledger::begin_refund`]): the record must be `completed`, the amount at
//! most what the record says was asked, and no other refund may have been
//! asked for it (PesaPal takes one refund per payment). The claim
//! ([`RefundProgress::Sending`]) is then settled by [`Ledger::finish_refund`]:
//!
//! - the provider accepted the request → state `refund_pending`, event
//!   `refund.pending` (no money has moved yet);
//! - the provider refused it, or nothing reached it → the claim is dropped
//!   and a corrected request may be sent;
//! - the call ended without an answer → [`RefundProgress::Unknown`]: the
//!   provider may hold the request, so FinConnect refuses every further
//!   refund of this payment (`outcome_unknown`) instead of sending a second.
//!
//! When the provider later reports the payment `reversed` (a status query
//! or a verified notification, through [`Ledger::observe`]), the record
//! moves to `reversed` and the event `payment.reversed` follows. Those two
//! are the only refund events: PesaPal reports no partial refund state.
//!
//! # Cancellations
//!
//! After the provider cancelled an order, [`Ledger::cancelled`] moves its
//! record to `cancelled` with the event `payment.cancelled`.

use super::record::{RefundMark, RefundProgress, State};
use super::{Ledger, LedgerError, Outcome, PaymentRecord, Recorded, Store};
use crate::error::Error;
use crate::money::Amount;

/// What [`Ledger::begin_refund`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundBegin {
    /// The claim is taken: send the refund, then [`Ledger::finish_refund`].
    Proceed,
    /// The record forbids it (not completed, too much, already asked):
    /// an [`Error::InvalidRequest`] naming the field. Nothing is sent.
    Refused(Error),
    /// Another refund of this payment is being sent right now (409).
    InProgress,
    /// An earlier refund of this payment ended without an answer: it may
    /// have reached the provider (409 `outcome_unknown`).
    OutcomeUnknown(String),
}

impl<S: Store> Ledger<S> {
    /// Claims the refund of `amount` for `record` (see the module).
    pub fn begin_refund(
        &self,
        record: &PaymentRecord,
        amount: Amount,
        now: u64,
    ) -> Result<RefundBegin, LedgerError> {
        let ttl = self.config().claim_ttl_ms;
        let mut decision = RefundBegin::Proceed;
        self.modify(&record.key(), now, |record| {
            let unknown = |mark: &RefundMark| {
                RefundBegin::OutcomeUnknown(format!(
                    "a refund of {} asked at {} ended without an answer and may have reached {}; \
                     check the payment's status (a refund shows as `reversed`) or the provider's \
                     dashboard: FinConnect does not send a second one",
                    mark.amount,
                    super::record::rfc3339(mark.at),
                    record.provider
                ))
            };
            if let Some(mark) = record.refund.clone() {
                match mark.progress {
                    RefundProgress::Requested => {
                        decision = RefundBegin::Refused(Error::invalid(
                            "id",
                            format!(
                                "already has a refund of {} requested; {} takes one refund per payment",
                                mark.amount, record.provider
                            ),
                        ));
                        return false;
                    }
                    RefundProgress::Unknown => {
                        decision = unknown(&mark);
                        return false;
                    }
                    RefundProgress::Sending if now.saturating_sub(mark.at) < ttl => {
                        decision = RefundBegin::InProgress;
                        return false;
                    }
                    RefundProgress::Sending => {
                        // Its sender is presumed gone mid-call.
                        decision = unknown(&mark);
                        record.refund = Some(RefundMark {
                            progress: RefundProgress::Unknown,
                            ..mark
                        });
                        return true;
                    }
                }
            }
            if record.state != State::Completed {
                decision = RefundBegin::Refused(Error::invalid(
                    "id",
                    format!(
                        "names a payment that is {} in the ledger; only completed payments can be refunded",
                        record.state.as_str()
                    ),
                ));
                return false;
            }
            let asked = Amount::parse_reported(&record.amount);
            if asked.is_some_and(|paid| amount.hundredths() > paid) {
                decision = RefundBegin::Refused(Error::invalid(
                    "amount",
                    format!("is more than the {} paid", record.amount),
                ));
                return false;
            }
            decision = RefundBegin::Proceed;
            record.refund = Some(RefundMark {
                amount: amount.to_fixed2(),
                progress: RefundProgress::Sending,
                at: now,
            });
            true
        })?;
        Ok(decision)
    }

    /// Settles the claim of [`Ledger::begin_refund`] with the refund call's
    /// result (see the module).
    pub fn finish_refund<T>(
        &self,
        record: &PaymentRecord,
        result: &Result<T, Error>,
        now: u64,
    ) -> Result<Recorded, LedgerError> {
        let key = record.key();
        let updated = self.modify(&key, now, |record| {
            let Some(mark) = record.refund.clone() else {
                return false;
            };
            if mark.progress != RefundProgress::Sending {
                return false;
            }
            match result {
                Ok(_) => {
                    if record.state.accepts(State::RefundPending) {
                        record.state = State::RefundPending;
                    }
                    record.refund = Some(RefundMark {
                        progress: RefundProgress::Requested,
                        at: now,
                        ..mark
                    });
                }
                Err(error) => match Outcome::of(error) {
                    Outcome::NothingStarted | Outcome::Refused => record.refund = None,
                    Outcome::Ambiguous => {
                        record.refund = Some(RefundMark {
                            progress: RefundProgress::Unknown,
                            at: now,
                            ..mark
                        });
                    }
                },
            }
            true
        })?;
        self.after_change(&key, updated, now)
    }

    /// Drops the claim of [`Ledger::begin_refund`] when the refund request
    /// never left (the status or token step failed).
    pub fn release_refund(&self, record: &PaymentRecord, now: u64) -> Result<(), LedgerError> {
        self.modify(&record.key(), now, |record| {
            let sending = record
                .refund
                .as_ref()
                .is_some_and(|mark| mark.progress == RefundProgress::Sending);
            if sending {
                record.refund = None;
            }
            sending
        })?;
        Ok(())
    }

    /// Records that the provider cancelled `record`'s order: state
    /// `cancelled`, event `payment.cancelled`.
    pub fn cancelled(&self, record: &PaymentRecord, now: u64) -> Result<Recorded, LedgerError> {
        let key = record.key();
        let updated = self.modify(&key, now, |record| {
            if !record.state.accepts(State::Cancelled) {
                return false;
            }
            record.state = State::Cancelled;
            record.claim = None;
            record.verified_at = Some(now);
            true
        })?;
        self.after_change(&key, updated, now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::{Payment, PaymentDetails, PaymentRequest, PaymentStatus, Provider};
    use crate::ledger::{Begin, Config, MemoryStore, StoredResponse};

    const NOW: u64 = 1_796_515_200_000;

    fn recorded(ledger: &Ledger<MemoryStore>, status: PaymentStatus) -> PaymentRecord {
        let request = PaymentRequest {
            reference: "R1".into(),
            amount: "1500".into(),
            currency: "KES".into(),
            ..PaymentRequest::default()
        };
        let Begin::Proceed(ticket) = ledger
            .begin(Provider::Pesapal, &request, None, NOW)
            .unwrap()
        else {
            unreachable!()
        };
        let payment = Payment {
            provider: Provider::Pesapal,
            reference: "R1".into(),
            tracking_id: "T1".into(),
            redirect_url: None,
            status: PaymentStatus::Pending,
        };
        let response = StoredResponse {
            status: 201,
            content_type: "application/json".into(),
            body: "{}".into(),
        };
        ledger.finish(&ticket, &Ok(payment), response, NOW).unwrap();
        let details = PaymentDetails {
            provider: Provider::Pesapal,
            reference: Some("R1".into()),
            tracking_id: Some("T1".into()),
            status,
            amount: None,
            currency: None,
            method: None,
            confirmation_code: None,
            description: None,
        };
        ledger.observe(&details, NOW).unwrap();
        ledger
            .by_tracking_id(Provider::Pesapal, "T1")
            .unwrap()
            .unwrap()
    }

    fn amount(text: &str) -> Amount {
        text.parse().unwrap()
    }

    fn kinds(ledger: &Ledger<MemoryStore>) -> Vec<String> {
        let page = ledger.events(0, 100, NOW + 10).unwrap();
        page.data.into_iter().map(|event| event.kind).collect()
    }

    fn field(decision: RefundBegin) -> String {
        match decision {
            RefundBegin::Refused(Error::InvalidRequest { field, .. }) => field,
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn a_refund_is_claimed_then_pending_then_reversed() {
        let ledger = Ledger::new(MemoryStore::new(), Config::default());
        let record = recorded(&ledger, PaymentStatus::Completed);
        assert_eq!(
            field(
                ledger
                    .begin_refund(&record, amount("1500.01"), NOW)
                    .unwrap()
            ),
            "amount"
        );
        assert_eq!(
            ledger.begin_refund(&record, amount("1500"), NOW).unwrap(),
            RefundBegin::Proceed
        );
        assert_eq!(
            ledger.begin_refund(&record, amount("1"), NOW + 1).unwrap(),
            RefundBegin::InProgress
        );
        let done = ledger.finish_refund(&record, &Ok(()), NOW + 2).unwrap();
        assert_eq!(done.record.map(|r| r.state), Some(State::RefundPending));
        assert_eq!(
            field(ledger.begin_refund(&record, amount("1"), NOW + 3).unwrap()),
            "id"
        );
        // The status keeps saying completed until PesaPal carries it out.
        let mut details = ledger
            .by_tracking_id(Provider::Pesapal, "T1")
            .unwrap()
            .unwrap()
            .details();
        assert_eq!(details.status, PaymentStatus::Completed);
        ledger.observe(&details, NOW + 4).unwrap();
        details.status = PaymentStatus::Reversed;
        ledger.observe(&details, NOW + 5).unwrap();
        assert_eq!(
            kinds(&ledger),
            [
                "payment.pending",
                "payment.completed",
                "refund.pending",
                "payment.reversed"
            ]
        );
    }

    #[test]
    fn a_refused_refund_frees_the_claim_and_an_unknown_one_blocks_every_other() {
        let ledger = Ledger::new(MemoryStore::new(), Config::default());
        let record = recorded(&ledger, PaymentStatus::Completed);
        let refused = Error::Provider(crate::error::ProviderError {
            provider: Provider::Pesapal,
            http_status: 200,
            code: None,
            message: "no".into(),
        });
        assert_eq!(
            ledger.begin_refund(&record, amount("10"), NOW).unwrap(),
            RefundBegin::Proceed
        );
        ledger
            .finish_refund::<()>(&record, &Err(refused), NOW)
            .unwrap();
        assert_eq!(
            ledger.begin_refund(&record, amount("10"), NOW).unwrap(),
            RefundBegin::Proceed
        );
        ledger.release_refund(&record, NOW).unwrap();
        assert_eq!(
            ledger.begin_refund(&record, amount("10"), NOW).unwrap(),
            RefundBegin::Proceed
        );
        let timeout = Error::Timeout {
            provider: Provider::Pesapal,
            message: "slow".into(),
        };
        ledger
            .finish_refund::<()>(&record, &Err(timeout), NOW)
            .unwrap();
        assert!(matches!(
            ledger.begin_refund(&record, amount("10"), NOW + 1).unwrap(),
            RefundBegin::OutcomeUnknown(_)
        ));
        // A claim whose sender vanished reads as unknown after its time.
        let other = Ledger::new(MemoryStore::new(), Config::default());
        let record = recorded(&other, PaymentStatus::Completed);
        other.begin_refund(&record, amount("10"), NOW).unwrap();
        let later = NOW + Config::default().claim_ttl_ms;
        assert!(matches!(
            other.begin_refund(&record, amount("10"), later).unwrap(),
            RefundBegin::OutcomeUnknown(_)
        ));
    }

    #[test]
    fn only_completed_payments_are_refunded_and_unpaid_ones_cancelled() {
        let ledger = Ledger::new(MemoryStore::new(), Config::default());
        let record = recorded(&ledger, PaymentStatus::Pending);
        assert_eq!(
            field(ledger.begin_refund(&record, amount("1"), NOW).unwrap()),
            "id"
        );
        let done = ledger.cancelled(&record, NOW + 1).unwrap();
        assert_eq!(done.record.map(|r| r.state), Some(State::Cancelled));
        assert_eq!(kinds(&ledger), ["payment.pending", "payment.cancelled"]);
        // A later "failed" or "pending" report does not undo it; paid does.
        assert!(!State::Cancelled.accepts(State::Failed));
        assert!(!State::Cancelled.accepts(State::Pending));
        assert!(State::Cancelled.accepts(State::Completed));
        assert!(!State::Completed.accepts(State::Cancelled));
        assert!(!State::RefundPending.accepts(State::Completed));
        assert!(State::RefundPending.accepts(State::Reversed));
    }
}
