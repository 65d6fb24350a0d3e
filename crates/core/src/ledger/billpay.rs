//! Control numbers (ClickPesa BillPay) on the ledger.
//!
//! A control number created through FinConnect is remembered under
//! `by-control-number/` ([`Ledger::remember_control_number`]), so that the
//! payments customers later make to it — each a ClickPesa `PAYMENT
//! RECEIVED` / `PAYMENT FAILED` webhook whose `orderReference` is the
//! number and whose `id` is new — are admitted instead of refused as
//! payments FinConnect never started. A webhook naming a number the ledger
//! does not hold is refused as before.
//!
//! Once verified (by its checksum, or by the payment query), each payment
//! gets a record of its own ([`Ledger::observe_control_number_payment`]):
//! keyed by ClickPesa's payment id, with the control number as its
//! reference, its own amount and state, and the same `payment.*` events as
//! any other payment. It is indexed by its id only (not by the reference,
//! which every payment to the number shares), so a repeated webhook finds
//! the record by its id and is announced once.

use super::record::{PREFIX, State, digest_part};
use super::{Ledger, LedgerError, PaymentRecord, RECORD_VERSION, Recorded, Store};
use crate::billpay::ControlNumber;
use crate::domain::{PaymentDetails, Provider};

/// The index entry of a control number FinConnect created.
pub fn control_number_key(provider: Provider, number: &str) -> String {
    format!(
        "{PREFIX}by-control-number/{}/{}",
        provider.as_str(),
        digest_part(&[number])
    )
}

impl<S: Store> Ledger<S> {
    /// Remembers a control number FinConnect created, so payments to it are
    /// admitted.
    pub fn remember_control_number(&self, number: &ControlNumber) -> Result<(), LedgerError> {
        self.store.set(
            &control_number_key(number.provider, &number.number),
            number.number.as_bytes(),
        )?;
        Ok(())
    }

    /// Whether FinConnect created the control number `number`.
    pub fn knows_control_number(
        &self,
        provider: Provider,
        number: &str,
    ) -> Result<bool, LedgerError> {
        Ok(self
            .store
            .get(&control_number_key(provider, number))?
            .is_some())
    }

    /// Records a verified payment to the control number `number`. A payment
    /// already recorded (by its id) is observed like any payment; a number
    /// the ledger does not know, or a payment without an id, records
    /// nothing (`record: None`).
    pub fn observe_control_number_payment(
        &self,
        details: &PaymentDetails,
        number: &str,
        now: u64,
    ) -> Result<Recorded, LedgerError> {
        let provider = details.provider;
        let Some(tracking_id) = details.tracking_id.as_deref().filter(|id| !id.is_empty()) else {
            return Ok(Recorded::nothing());
        };
        if self.by_tracking_id(provider, tracking_id)?.is_some() {
            return self.observe(details, now);
        }
        if !self.knows_control_number(provider, number)? {
            return Ok(Recorded::nothing());
        }
        let payment = PaymentRecord {
            version: RECORD_VERSION,
            provider,
            reference: number.to_owned(),
            idempotency_key: format!("control-number:{tracking_id}"),
            fingerprint: String::new(),
            state: State::from_status(details.status).unwrap_or(State::Pending),
            tracking_id: Some(tracking_id.to_owned()),
            redirect_url: None,
            amount: details.amount.clone().unwrap_or_default(),
            currency: details.currency.clone().unwrap_or_else(|| "TZS".to_owned()),
            method: details.method.clone().filter(|m| !m.is_empty()),
            error: None,
            response: None,
            claim: None,
            created_at: now,
            updated_at: now,
            verified_at: Some(now),
            refund: None,
            revision: 1,
            account_number: None,
            recurring_of: None,
            announcing: None,
        };
        self.insert_observed(payment, details, tracking_id, now)
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
    use crate::domain::PaymentStatus;

    fn number() -> ControlNumber {
        ControlNumber {
            provider: Provider::Clickpesa,
            number: "55042914871931".into(),
            status: None,
            amount: None,
            description: None,
            customer_name: None,
            payment_mode: None,
            max_collection_amount: None,
        }
    }

    fn paid(id: &str, status: PaymentStatus) -> PaymentDetails {
        PaymentDetails {
            provider: Provider::Clickpesa,
            reference: Some("55042914871931".into()),
            tracking_id: Some(id.into()),
            status,
            amount: Some("1000.00".into()),
            currency: Some("TZS".into()),
            method: Some("M-PESA".into()),
            confirmation_code: None,
            description: None,
        }
    }

    #[test]
    fn each_payment_to_a_known_number_is_a_record_announced_once() {
        let ledger = Ledger::new(MemoryStore::default(), Config::default());
        assert!(
            !ledger
                .knows_control_number(Provider::Clickpesa, "55042914871931")
                .unwrap()
        );
        let unknown = ledger
            .observe_control_number_payment(
                &paid("P1", PaymentStatus::Completed),
                "55042914871931",
                5,
            )
            .unwrap();
        assert!(unknown.record.is_none());
        ledger.remember_control_number(&number()).unwrap();
        assert!(
            ledger
                .knows_control_number(Provider::Clickpesa, "55042914871931")
                .unwrap()
        );
        let first = ledger
            .observe_control_number_payment(
                &paid("P1", PaymentStatus::Completed),
                "55042914871931",
                10,
            )
            .unwrap();
        let record = first.record.unwrap();
        assert_eq!(record.reference, "55042914871931");
        assert_eq!(record.amount, "1000.00");
        assert!(first.event.is_some());
        let again = ledger
            .observe_control_number_payment(
                &paid("P1", PaymentStatus::Completed),
                "55042914871931",
                11,
            )
            .unwrap();
        assert!(again.event.is_none());
        let second = ledger
            .observe_control_number_payment(
                &paid("P2", PaymentStatus::Failed),
                "55042914871931",
                12,
            )
            .unwrap();
        assert!(second.event.is_some());
        assert_eq!(second.record.unwrap().tracking_id.as_deref(), Some("P2"));
        // The payments are found by their ids, not by the shared number.
        assert!(matches!(
            ledger.admit(Provider::Clickpesa, "P1", 13).unwrap(),
            Admission::Answer(_)
        ));
        assert!(matches!(
            ledger
                .admit(Provider::Clickpesa, "55042914871931", 13)
                .unwrap(),
            Admission::Refuse
        ));
    }
}
