//! A PesaPal payment whose order was created while recording the answer
//! failed: the record keeps its reference but never learned the order's
//! tracking id. Its IPN names that id, unknown to the ledger, and its
//! merchant reference; the reference admits it, the status query verifies
//! it, and the payment is recorded, indexed and announced. A reference
//! whose payment already has another tracking id admits nothing. One failed
//! write of the answer is tried again at once, before any of this is needed.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on a ledger that cannot be read"
)]

use super::*;
use crate::ledger::store::{CasError, MemoryCas, Mode, StoreError};
use crate::ledger::{Config, Ledger, MemoryStore, PaymentRecord, State, Store};
use std::sync::atomic::{AtomicU32, Ordering};

const NOW: u64 = 1_796_515_200_000;

/// A store that fails the next `refusals` writes carrying the tracking id:
/// the ledger can create the record but not record the provider's answer.
struct LosesTheAnswer {
    inner: MemoryStore,
    refusals: AtomicU32,
}

impl LosesTheAnswer {
    fn refuses(&self, value: &[u8]) -> bool {
        value
            .windows(TRACKING_ID.len())
            .any(|window| window == TRACKING_ID.as_bytes())
            && self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }

    /// Fails every such write until [`Self::disarm`].
    fn arm(&self) {
        self.refusals.store(u32::MAX, Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.refusals.store(0, Ordering::SeqCst);
    }
}

impl Store for LosesTheAnswer {
    type Cas = MemoryCas;

    fn mode(&self) -> Mode {
        self.inner.mode()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if self.refuses(value) || self.refuses(key.as_bytes()) {
            return Err(StoreError::Other("disk full".into()));
        }
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_keys(prefix)
    }
    fn cas_open(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        self.inner.cas_open(key)
    }
    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> Result<(), CasError> {
        if self.refuses(value) {
            return Err(StoreError::Other("disk full".into()).into());
        }
        self.inner.cas_swap(cas, value)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner.increment(key, delta)
    }
}

fn ledger() -> Ledger<LosesTheAnswer> {
    Ledger::new(
        LosesTheAnswer {
            inner: MemoryStore::new(),
            refusals: AtomicU32::new(0),
        },
        Config {
            webhooks: true,
            ..Config::default()
        },
    )
}

fn serve(
    request: Request,
    ledger: &Ledger<LosesTheAnswer>,
    now: u64,
    script: Vec<Result<(u16, &str), TransportError>>,
) -> (Response, Scripted) {
    super::ledgered::serve(request, &vars(), ledger, now, script)
}

fn pay(ledger: &Ledger<LosesTheAnswer>) -> Response {
    let request = merchant("POST", "/payments", &pesapal_payment().to_string());
    let (response, transport) = serve(
        request,
        ledger,
        NOW,
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))],
    );
    assert_eq!(transport.seen.len(), 2);
    response
}

/// A ledger whose pay of ORD-1 reached PesaPal while every write of its
/// answer failed.
fn answer_lost() -> Ledger<LosesTheAnswer> {
    let ledger = ledger();
    ledger.store().arm();
    pay(&ledger);
    ledger.store().disarm();
    ledger
}

/// The record of ORD-1.
fn ord_1(ledger: &Ledger<LosesTheAnswer>) -> PaymentRecord {
    ledger
        .by_reference(Provider::Pesapal, "ORD-1")
        .unwrap()
        .unwrap()
}

fn ipn(tracking_id: &str) -> Request {
    public(
        "GET",
        &format!(
            "/notifications/pesapal?OrderTrackingId={tracking_id}&OrderMerchantReference=ORD-1&OrderNotificationType=IPNCHANGE"
        ),
        None,
        b"",
    )
}

#[test]
fn an_ipn_recovers_a_payment_whose_tracking_id_was_never_recorded() {
    let ledger = answer_lost();
    let record = ord_1(&ledger);
    assert_eq!(record.tracking_id, None, "{record:?}");
    assert_eq!(record.state, State::Initiating);
    assert_eq!(
        ledger
            .by_tracking_id(Provider::Pesapal, TRACKING_ID)
            .unwrap(),
        None
    );

    let (response, transport) = serve(
        ipn(TRACKING_ID),
        &ledger,
        NOW + 60_000,
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_COMPLETED))],
    );
    assert_eq!(response.status, 200);
    assert_eq!(body_json(&response)["status"], 200);
    let paths: Vec<&str> = transport.seen.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths[1].contains("GetTransactionStatus?orderTrackingId="),
        "{paths:?}"
    );

    let record = ledger
        .by_tracking_id(Provider::Pesapal, TRACKING_ID)
        .unwrap()
        .unwrap(); // the tracking id is indexed
    assert_eq!(record.reference, "ORD-1");
    assert_eq!(record.state, State::Completed);
    let events = ledger.events(0, 10, NOW + 60_000).unwrap().data;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.completed"]);

    // Known now by its id: the next IPN is answered from the record.
    let (again, transport) = serve(ipn(TRACKING_ID), &ledger, NOW + 61_000, vec![]);
    assert!(transport.seen.is_empty());
    assert_eq!(body_json(&again)["status"], 200);
}

#[test]
fn a_reference_whose_payment_has_a_tracking_id_admits_no_other_id() {
    let ledger = ledger();
    assert_eq!(pay(&ledger).status, 201);
    let record = ord_1(&ledger);
    assert_eq!(record.tracking_id.as_deref(), Some(TRACKING_ID));

    let other = "0b1e8f4c-1d2a-4c3b-9e8f-7a6b5c4d3e2f";
    let (response, transport) = serve(ipn(other), &ledger, NOW + 60_000, vec![]);
    assert!(transport.seen.is_empty());
    assert_eq!(response.status, 200);
    assert_eq!(body_json(&response)["status"], 500);
    let after = ord_1(&ledger);
    assert_eq!(after.state, record.state);
}

#[test]
fn the_status_reply_decides_which_payment_an_admitted_ipn_updates() {
    let ledger = answer_lost();

    // The IPN names ORD-1, but PesaPal says the order is another merchant
    // reference's: nothing of ORD-1 changes.
    let elsewhere = PP_COMPLETED.replace(
        r#""merchant_reference":"ORD-1""#,
        r#""merchant_reference":"ORD-9""#,
    );
    assert_ne!(elsewhere, PP_COMPLETED);
    let (response, transport) = serve(
        ipn(TRACKING_ID),
        &ledger,
        NOW + 60_000,
        vec![Ok((200, PP_TOKEN)), Ok((200, elsewhere.as_str()))],
    );
    assert_eq!(transport.seen.len(), 2);
    assert_eq!(response.status, 200);
    let record = ord_1(&ledger);
    assert_eq!(record.state, State::Initiating);
    assert_eq!(record.tracking_id, None);
    assert_eq!(
        ledger
            .by_tracking_id(Provider::Pesapal, TRACKING_ID)
            .unwrap(),
        None
    );
    assert!(ledger.events(0, 10, NOW + 60_000).unwrap().data.is_empty());
}

#[test]
fn one_failed_write_of_the_answer_is_tried_again_at_once() {
    let ledger = ledger();
    ledger.store().refusals.store(1, Ordering::SeqCst);
    assert_eq!(pay(&ledger).status, 201);
    assert_eq!(ledger.store().refusals.load(Ordering::SeqCst), 0);
    let record = ledger
        .by_tracking_id(Provider::Pesapal, TRACKING_ID)
        .unwrap()
        .unwrap(); // recorded and indexed by the second write
    assert_eq!(record.reference, "ORD-1");
    assert_eq!(record.state, State::Pending);
    let events = ledger.events(0, 10, NOW).unwrap().data;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.pending"]);
}
