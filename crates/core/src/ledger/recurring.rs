//! Recurring charges on the ledger.
//!
//! A payment that set up a recurring schedule (PesaPal `account_number`)
//! keeps the account number on its record, indexed, so that the charges
//! PesaPal later makes — each a `RECURRING` notification with a new order
//! tracking id and the account number as its reference — are admitted
//! ([`Ledger::admit`] finds the first payment through the account) instead
//! of refused as ids FinConnect never issued.
//!
//! Once verified (a status query for the new tracking id), a charge gets a
//! record of its own ([`Ledger::observe_recurring`]): keyed by its tracking
//! id, with the first payment's merchant reference in `recurring_of`, its
//! own amount and state, and the same events as any other payment. The
//! first payment's record is never changed by its charges. A repeated
//! notification of the same charge finds that record by its tracking id,
//! so a charge is recorded once and announced once per state.

use super::record::{State, account_key};
use super::{Ledger, LedgerError, PaymentRecord, RECORD_VERSION, Recorded, Store};
use crate::domain::{PaymentDetails, Provider};

impl<S: Store> Ledger<S> {
    /// The record of the payment whose subscription carried
    /// `account_number`.
    pub fn by_account(
        &self,
        provider: Provider,
        account_number: &str,
    ) -> Result<Option<PaymentRecord>, LedgerError> {
        self.follow(&account_key(provider, account_number))
    }

    /// Records a verified charge of a recurring schedule named by
    /// `account_number` (or by the first payment's own reference). A charge
    /// already recorded is observed like any payment; a schedule the
    /// ledger does not know records nothing (`record: None`).
    pub fn observe_recurring(
        &self,
        details: &PaymentDetails,
        account_number: &str,
        now: u64,
    ) -> Result<Recorded, LedgerError> {
        let provider = details.provider;
        let Some(tracking_id) = details.tracking_id.as_deref() else {
            return Ok(Recorded::nothing());
        };
        if self.by_tracking_id(provider, tracking_id)?.is_some() {
            return self.observe(details, now);
        }
        let first = match self.by_account(provider, account_number)? {
            Some(record) => Some(record),
            None => self.by_reference(provider, account_number)?,
        };
        let Some(first) = first else {
            return Ok(Recorded::nothing());
        };
        let charge = PaymentRecord {
            version: RECORD_VERSION,
            provider,
            reference: first.reference.clone(),
            idempotency_key: format!("recurring:{tracking_id}"),
            fingerprint: String::new(),
            state: State::from_status(details.status).unwrap_or(State::Pending),
            tracking_id: Some(tracking_id.to_owned()),
            redirect_url: None,
            amount: details
                .amount
                .clone()
                .unwrap_or_else(|| first.amount.clone()),
            currency: details
                .currency
                .clone()
                .unwrap_or_else(|| first.currency.clone()),
            method: details.method.clone().filter(|m| !m.is_empty()),
            error: None,
            response: None,
            claim: None,
            created_at: now,
            updated_at: now,
            verified_at: Some(now),
            refund: None,
            revision: 1,
            account_number: first
                .account_number
                .clone()
                .or_else(|| Some(account_number.to_owned())),
            recurring_of: Some(first.reference.clone()),
            announcing: None,
        };
        self.insert_observed(charge, details, tracking_id, now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "tests fail loudly"
    )]

    use super::super::{Admission, Config, MemoryStore};
    use super::*;
    use crate::domain::{Payment, PaymentRequest, PaymentStatus};
    use crate::recurring::{Subscription, SubscriptionFrequency};

    const FIRST: &str = "5b3c6a7e-0000-4000-8000-000000000001";
    const CHARGE: &str = "5b3c6a7e-0000-4000-8000-000000000002";

    fn request() -> PaymentRequest {
        PaymentRequest {
            reference: "SUB-1".into(),
            amount: "100".into(),
            currency: "KES".into(),
            subscription: Some(Subscription {
                account_number: "ACC-77".into(),
                start_date: "01-01-2027".into(),
                end_date: "31-12-2027".into(),
                frequency: SubscriptionFrequency::Monthly,
            }),
            ..PaymentRequest::default()
        }
    }

    fn charge(status: PaymentStatus) -> PaymentDetails {
        PaymentDetails {
            provider: Provider::Pesapal,
            reference: Some("ACC-77".into()),
            tracking_id: Some(CHARGE.into()),
            status,
            amount: Some("100.00".into()),
            currency: Some("KES".into()),
            method: Some("Visa".into()),
            confirmation_code: Some("C-1".into()),
            description: None,
        }
    }

    fn ledger_with_first(store: MemoryStore) -> Ledger<MemoryStore> {
        let ledger = Ledger::new(store, Config::default());
        let Ok(super::super::Begin::Proceed(ticket)) =
            ledger.begin(Provider::Pesapal, &request(), None, 1)
        else {
            panic!("the first payment is not claimed");
        };
        let payment = Payment {
            provider: Provider::Pesapal,
            reference: "SUB-1".into(),
            tracking_id: FIRST.into(),
            redirect_url: None,
            status: PaymentStatus::Pending,
        };
        let stored = super::super::StoredResponse {
            status: 201,
            content_type: "application/json".into(),
            body: "{}".into(),
        };
        ledger.finish(&ticket, &Ok(payment), stored, 2).unwrap();
        ledger
    }

    fn stores() -> [MemoryStore; 2] {
        [MemoryStore::new(), MemoryStore::store_only()]
    }

    #[test]
    fn the_account_number_admits_a_new_charge_and_nothing_else() {
        for store in stores() {
            let ledger = ledger_with_first(store);
            assert!(matches!(
                ledger.admit(Provider::Pesapal, "ACC-77", 3),
                Ok(Admission::Verify(record)) if record.reference == "SUB-1"
            ));
            assert!(matches!(
                ledger.admit(Provider::Pesapal, "ACC-78", 3),
                Ok(Admission::Refuse)
            ));
            assert!(matches!(
                ledger.admit(Provider::Clickpesa, "ACC-77", 3),
                Ok(Admission::Refuse)
            ));
        }
    }

    #[test]
    fn a_charge_becomes_its_own_record_with_its_own_event() {
        for store in stores() {
            let ledger = ledger_with_first(store);
            let recorded = ledger
                .observe_recurring(&charge(PaymentStatus::Completed), "ACC-77", 10)
                .unwrap();
            let record = recorded.record.expect("a record for the charge");
            assert_eq!(record.tracking_id.as_deref(), Some(CHARGE));
            assert_eq!(record.reference, "SUB-1");
            assert_eq!(record.recurring_of.as_deref(), Some("SUB-1"));
            assert_eq!(record.state, State::Completed);
            assert_eq!(record.amount, "100.00");
            let event = recorded.event.expect("an event");
            assert_eq!(event.kind, "payment.completed");
            assert_eq!(event.payment["tracking_id"], CHARGE);
            assert_eq!(event.payment["recurring"]["original_reference"], "SUB-1");
            assert_eq!(event.payment["recurring"]["account_number"], "ACC-77");
            // The first payment is untouched.
            let first = ledger
                .by_tracking_id(Provider::Pesapal, FIRST)
                .unwrap()
                .unwrap();
            assert_eq!(first.state, State::Pending);
            // The same notification again: no second record, no second event.
            let again = ledger
                .observe_recurring(&charge(PaymentStatus::Completed), "ACC-77", 11)
                .unwrap();
            assert!(again.event.is_none());
            assert_eq!(ledger.records().unwrap().len(), 2);
            // Its id is now known: a repeat is answered from the record.
            assert!(matches!(
                ledger.admit(Provider::Pesapal, CHARGE, 12),
                Ok(Admission::Answer(record)) if record.recurring_of.as_deref() == Some("SUB-1")
            ));
        }
    }

    #[test]
    fn a_pending_charge_moves_on_like_any_payment() {
        let ledger = ledger_with_first(MemoryStore::new());
        let first = ledger
            .observe_recurring(&charge(PaymentStatus::Pending), "ACC-77", 10)
            .unwrap();
        assert_eq!(first.record.map(|r| r.state), Some(State::Pending));
        let later = ledger
            .observe_recurring(&charge(PaymentStatus::Failed), "ACC-77", 11)
            .unwrap();
        assert_eq!(
            later.event.map(|e| e.kind).as_deref(),
            Some("payment.failed")
        );
    }

    #[test]
    fn an_unknown_schedule_records_nothing() {
        let ledger = ledger_with_first(MemoryStore::new());
        let recorded = ledger
            .observe_recurring(&charge(PaymentStatus::Completed), "ACC-00", 10)
            .unwrap();
        assert_eq!(recorded.record, None);
        assert_eq!(ledger.records().unwrap().len(), 1);
    }
}
