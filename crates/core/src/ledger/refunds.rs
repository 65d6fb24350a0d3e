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
        let updated = self.modify(&record.key(), now, |record| {
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
        self.after_change(updated, now)
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
        let updated = self.modify(&record.key(), now, |record| {
            if !record.state.accepts(State::Cancelled) {
                return false;
            }
            record.state = State::Cancelled;
            record.claim = None;
            record.verified_at = Some(now);
            true
        })?;
        self.after_change(updated, now)
    }
}
