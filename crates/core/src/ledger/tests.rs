use super::events::{counter_key, event_key};
use super::store::MemoryStore;
use super::webhook::{
    RETRY_DELAYS_MS, SecretError, base64_decode, base64_encode, next_attempt_at, webhook_headers,
};
use super::*;
use crate::domain::{Customer, PaymentStatus};
use crate::error::ProviderError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::{Arc, Barrier};

type TestResult = Result<(), Box<dyn std::error::Error>>;
/// A change to one field of a request.
type Change = Box<dyn Fn(&mut PaymentRequest)>;

/// 2026-12-06T00:00:00Z in Unix milliseconds.
const NOW: u64 = 1_796_515_200_000;

fn request(reference: &str) -> PaymentRequest {
    PaymentRequest {
        reference: reference.to_owned(),
        amount: "1500".to_owned(),
        currency: "TZS".to_owned(),
        description: Some("Order".to_owned()),
        customer: Customer {
            phone: Some("255712345678".to_owned()),
            ..Customer::default()
        },
        ..PaymentRequest::default()
    }
}

fn accepted(provider: Provider, reference: &str, tracking_id: &str) -> Result<Payment, Error> {
    Ok(Payment {
        provider,
        reference: reference.to_owned(),
        tracking_id: tracking_id.to_owned(),
        redirect_url: None,
        status: PaymentStatus::Pending,
    })
}

fn created(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        content_type: "application/json".into(),
        body: body.to_owned(),
    }
}

fn problem(status: u16) -> StoredResponse {
    StoredResponse {
        status,
        content_type: "application/problem+json".into(),
        body: format!("{{\"status\":{status}}}"),
    }
}

fn details(
    provider: Provider,
    tracking_id: Option<&str>,
    reference: Option<&str>,
    status: PaymentStatus,
) -> PaymentDetails {
    PaymentDetails {
        provider,
        reference: reference.map(str::to_owned),
        tracking_id: tracking_id.map(str::to_owned),
        status,
        amount: Some("1500.00".into()),
        currency: Some("TZS".into()),
        method: None,
        confirmation_code: None,
        description: None,
    }
}

fn transport_error(provider: Provider) -> Result<Payment, Error> {
    Err(Error::Transport {
        provider,
        message: "connection reset".into(),
    })
}

fn provider_error(provider: Provider, status: u16, code: &str) -> Error {
    Error::Provider(ProviderError {
        provider,
        http_status: status,
        code: Some(code.to_owned()),
        message: "refused".into(),
    })
}

fn ledger<S: Store>(store: S) -> Ledger<S> {
    Ledger::new(store, Config::default())
}

fn proceed(begin: Begin) -> Result<Ticket, String> {
    match begin {
        Begin::Proceed(ticket) => Ok(ticket),
        other => Err(format!("expected Proceed, got {other:?}")),
    }
}

fn record_of<S: Store>(
    ledger: &Ledger<S>,
    provider: Provider,
    key: &str,
) -> Result<PaymentRecord, String> {
    ledger
        .by_idempotency_key(provider, key)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no record for {key}"))
}

// ----- fingerprint, states, time ------------------------------------------

#[test]
fn fingerprint_reads_amounts_exactly_and_changes_with_every_field() {
    let base = request("INV-1");
    let fp = fingerprint(Provider::Clickpesa, &base);
    assert_eq!(fp.len(), 64);
    assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut same = base.clone();
    same.amount = "1500.00".into();
    assert_eq!(fingerprint(Provider::Clickpesa, &same), fp);

    let changes: Vec<Change> = vec![
        Box::new(|r| r.reference = "INV-2".into()),
        Box::new(|r| r.amount = "1500.01".into()),
        Box::new(|r| r.currency = "KES".into()),
        Box::new(|r| r.description = None),
        Box::new(|r| r.customer.phone = Some("255712345679".into())),
        Box::new(|r| r.customer.email = Some("a@b.example".into())),
        Box::new(|r| r.callback_url = Some("https://shop.example/cb".into())),
        Box::new(|r| r.method = Some(crate::domain::PaymentMethod::MobileMoney)),
    ];
    for change in changes {
        let mut other = base.clone();
        change(&mut other);
        assert_ne!(fingerprint(Provider::Clickpesa, &other), fp, "{other:?}");
    }
    assert_ne!(fingerprint(Provider::Pesapal, &base), fp);
    // No field can bleed into the next: "" + "x" differs from "x" + "".
    let mut a = base.clone();
    a.description = Some(String::new());
    a.branch = Some("x".into());
    let mut b = base;
    b.description = Some("x".into());
    b.branch = Some(String::new());
    assert_ne!(
        fingerprint(Provider::Pesapal, &a),
        fingerprint(Provider::Pesapal, &b)
    );
}

/// What the ledger stores is found again by later versions: a record's key,
/// its index keys and its request fingerprint are pinned here byte for byte
/// (computed before any change to how they are encoded). A change that moves
/// one of them would make every stored record unreachable, or every retry of
/// an in-flight idempotency key a conflict, after an upgrade.
#[test]
fn stored_keys_and_fingerprints_keep_their_exact_form() {
    let mut req = request("INV-1");
    req.customer.email = Some("a@b.example".into());
    req.callback_url = Some("https://shop.example/cb".into());
    assert_eq!(
        fingerprint(Provider::Pesapal, &req),
        "3eeb29eb5cd0ad9e34d67295028d0fc023741249b7f3aeb4018ce0fe254abbc3"
    );
    req.subscription = Some(crate::recurring::Subscription {
        account_number: "ACC-9".into(),
        start_date: "01-01-2027".into(),
        end_date: "31-12-2027".into(),
        frequency: crate::recurring::SubscriptionFrequency::Monthly,
    });
    assert_eq!(
        fingerprint(Provider::Pesapal, &req),
        "a37b3334586953bb7004af6761e0cfb4835ff2581ae479990667a7db802f46e4"
    );
    assert_eq!(
        record_key(Provider::Clickpesa, "order-42"),
        "finconnect/ledger/payment/clickpesa/ed2898f3892821b50557ead714f6094e"
    );
    assert_eq!(
        reference_key(Provider::Pesapal, "INV-1"),
        "finconnect/ledger/by-reference/pesapal/ca636ff121497a08b612f53ef11a97b7"
    );
    assert_eq!(
        tracking_key(Provider::Mpesa, "ws_CO_0612202612345678"),
        "finconnect/ledger/by-tracking-id/mpesa/0d816a00c92eeda855ca2ee192570405"
    );
}

#[test]
fn states_move_forward_only() {
    use State::*;
    assert!(Initiating.accepts(Pending) && Unknown.accepts(Completed));
    assert!(Pending.accepts(Completed) && Pending.accepts(Failed));
    assert!(Completed.accepts(Reversed) && Failed.accepts(Completed));
    assert!(!Completed.accepts(Pending) && !Completed.accepts(Failed));
    assert!(!Reversed.accepts(Completed) && !Pending.accepts(Pending));
    assert!(!Pending.accepts(Unknown) && !Pending.accepts(Initiating));
    assert_eq!(Initiating.event_type(), None);
    assert_eq!(Unknown.event_type(), None);
    assert_eq!(Completed.event_type(), Some("payment.completed"));
}

#[test]
fn times_are_written_as_rfc3339() {
    assert_eq!(record::rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        record::rfc3339(1_710_779_145_250),
        "2024-03-18T16:25:45.250Z"
    );
    assert_eq!(record::rfc3339(951_825_600_000), "2000-02-29T12:00:00.000Z");
    assert_eq!(record::rfc3339(NOW), "2026-12-06T00:00:00.000Z");
    for ms in [
        0,
        951_825_600_000,
        1_710_779_145_000,
        NOW,
        4_102_444_800_000,
    ] {
        let text = record::rfc3339(ms);
        assert_eq!(
            crate::token_cache::parse_utc(&text).map(|s| s * 1000),
            Some(ms),
            "{text}"
        );
    }
}

#[test]
fn errors_are_classified_for_money_safety() {
    let p = Provider::Pesapal;
    assert_eq!(
        Outcome::of(&Error::invalid("amount", "bad")),
        Outcome::NothingStarted
    );
    assert_eq!(
        Outcome::of(&Error::config("pesapal_consumer_key", "is not set")),
        Outcome::NothingStarted
    );
    assert_eq!(
        Outcome::of(&Error::Authentication {
            provider: p,
            message: "no".into()
        }),
        Outcome::NothingStarted
    );
    assert_eq!(
        Outcome::of(&Error::Timeout {
            provider: p,
            message: "first byte".into()
        }),
        Outcome::Ambiguous
    );
    assert_eq!(
        Outcome::of(&provider_error(p, 400, "invalid_amount")),
        Outcome::Refused
    );
    assert_eq!(
        Outcome::of(&provider_error(p, 503, "busy")),
        Outcome::Ambiguous
    );
    assert_eq!(
        Outcome::of(&Error::unexpected(p, 200, "HTML")),
        Outcome::Ambiguous
    );
    let recorded = recorded_error(&provider_error(p, 400, "invalid_amount"));
    assert_eq!(recorded.code, "invalid_amount");
    assert_eq!(recorded.http_status, Some(400));
}

// ----- the ledger and idempotency -----------------------------------------

#[test]
fn a_payment_is_recorded_before_the_call_and_updated_after() -> TestResult {
    let store = MemoryStore::new();
    let ledger = ledger(&store);
    let p = Provider::Clickpesa;
    let ticket = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;

    // Before any provider call: initiating, with the fingerprint.
    let before = record_of(&ledger, p, "INV-1")?;
    assert_eq!(before.state, State::Initiating);
    assert_eq!(before.fingerprint, fingerprint(p, &request("INV-1")));
    assert_eq!(before.amount, "1500.00");
    assert_eq!(before.version, RECORD_VERSION);
    assert!(ledger.events(0, 10, NOW)?.data.is_empty());

    let done = ledger.finish(
        &ticket,
        &accepted(p, "INV-1", "CP-77"),
        created("{\"status\":\"pending\"}"),
        NOW + 1_000,
    )?;
    let after = done.record.ok_or("no record after finish")?;
    assert_eq!(after.state, State::Pending);
    assert_eq!(after.tracking_id.as_deref(), Some("CP-77"));
    assert_eq!(after.claim, None);
    assert!(done.changed);
    assert_eq!(
        done.event.map(|e| e.kind),
        Some("payment.pending".to_owned())
    );

    assert_eq!(ledger.by_reference(p, "INV-1")?, Some(after.clone()));
    assert_eq!(ledger.by_tracking_id(p, "CP-77")?, Some(after.clone()));
    assert_eq!(ledger.by_tracking_id(Provider::Pesapal, "CP-77")?, None);

    // The stored JSON carries its version.
    let raw = store.get(&after.key())?.ok_or("no stored record")?;
    let json: serde_json::Value = serde_json::from_slice(&raw)?;
    assert_eq!(json["version"], 1);
    assert_eq!(json["state"], "pending");
    Ok(())
}

#[test]
fn a_record_changed_between_begin_and_finish_is_read_anew() -> TestResult {
    // The ticket carries the record as `begin` wrote it; `finish` may use
    // it only while the stored bytes are still those. A store that compares
    // values is opened on those bytes without a read, and its swap finds
    // them changed.
    for store in [
        MemoryStore::new(),
        MemoryStore::store_only(),
        MemoryStore::comparing_values(),
    ] {
        let ledger = ledger(&store);
        let p = Provider::Pesapal;
        let ticket = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
        // What the ticket carries (with atomics: the record was created by
        // CAS) is what decoding the stored bytes gives.
        assert_eq!(ticket.written.is_some(), store.mode() == Mode::Atomic);
        if let Some(written) = &ticket.written {
            assert_eq!(written.record, record_of(&ledger, p, "INV-1")?);
        }
        // A verified notification settles the order while the call is out.
        let report = details(p, Some("TRK-1"), Some("INV-1"), PaymentStatus::Completed);
        assert!(ledger.observe(&report, NOW + 1_000)?.changed);
        let done = ledger.finish(
            &ticket,
            &accepted(p, "INV-1", "TRK-1"),
            created("{}"),
            NOW + 2_000,
        )?;
        assert!(!done.changed, "{:?}", store.mode());
        let record = record_of(&ledger, p, "INV-1")?;
        assert_eq!(record.state, State::Completed, "{:?}", store.mode());
        assert_eq!(record.response, None);
    }
    Ok(())
}

#[test]
fn only_a_request_that_creates_its_record_takes_a_claim() -> TestResult {
    // A replay, a request in progress and a reused key find their record
    // and write nothing: no claim is taken for them (claims are numbered per
    // instance, so the next new record shows it).
    for store in [MemoryStore::new(), MemoryStore::store_only()] {
        let ledger = ledger(&store);
        let p = Provider::Pesapal;
        let first = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
        assert_eq!(
            ledger.begin(p, &request("INV-1"), None, NOW + 1)?,
            Begin::InProgress
        );
        let mut other = request("INV-1");
        other.amount = "2500".into();
        assert_eq!(ledger.begin(p, &other, None, NOW + 2)?, Begin::KeyReused);
        ledger.finish(
            &first,
            &accepted(p, "INV-1", "TRK-1"),
            created("{}"),
            NOW + 3,
        )?;
        assert!(matches!(
            ledger.begin(p, &request("INV-1"), None, NOW + 4)?,
            Begin::Replay(_)
        ));
        let second = proceed(ledger.begin(p, &request("INV-2"), None, NOW + 5)?)?;
        let number = |claim_id: &str| claim_id.rsplit('/').next().map(str::to_owned);
        assert_eq!(
            number(&first.claim_id).as_deref(),
            Some("0"),
            "{:?}",
            store.mode()
        );
        assert_eq!(
            number(&second.claim_id).as_deref(),
            Some("1"),
            "{:?}",
            store.mode()
        );
    }
    Ok(())
}

#[test]
fn the_same_request_is_replayed_and_a_different_one_refused() -> TestResult {
    let store = MemoryStore::new();
    let ledger = ledger(&store);
    let p = Provider::Pesapal;
    let ticket = proceed(ledger.begin(p, &request("INV-1"), Some("key-1"), NOW)?)?;
    let body = "{\"provider\":\"pesapal\",\"status\":\"pending\"}";
    ledger.finish(&ticket, &accepted(p, "INV-1", "TRK"), created(body), NOW)?;

    assert_eq!(
        ledger.begin(p, &request("INV-1"), Some("key-1"), NOW + 5)?,
        Begin::Replay(created(body))
    );
    // The amount written differently is the same request.
    let mut same = request("INV-1");
    same.amount = "1500.00".into();
    assert_eq!(
        ledger.begin(p, &same, Some("key-1"), NOW + 5)?,
        Begin::Replay(created(body))
    );
    let mut different = request("INV-1");
    different.amount = "1600".into();
    let reused = ledger.begin(p, &different, Some("key-1"), NOW + 5)?;
    assert_eq!(reused, Begin::KeyReused);
    assert_eq!(reused.problem(), Some((422, "idempotency_key_reused")));
    // Keys are scoped per provider.
    proceed(ledger.begin(Provider::Clickpesa, &request("INV-1"), Some("key-1"), NOW)?)?;
    Ok(())
}

#[test]
fn a_request_in_flight_is_refused_until_its_claim_expires() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    let p = Provider::Pesapal;
    proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
    let second = ledger.begin(p, &request("INV-1"), None, NOW + 10_000)?;
    assert_eq!(second, Begin::InProgress);
    assert_eq!(second.problem(), Some((409, "request_in_progress")));
    // The first owner vanished mid-call: its outcome is unknown, and
    // PesaPal cannot be asked by reference, so no second payment starts.
    let later = ledger.begin(p, &request("INV-1"), None, NOW + 60_000)?;
    assert!(
        matches!(later, Begin::OutcomeUnknown { ref detail } if detail.contains("INV-1")),
        "{later:?}"
    );
    assert_eq!(later.problem(), Some((409, "outcome_unknown")));
    Ok(())
}

#[test]
fn an_ambiguous_failure_never_starts_a_second_payment() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    // PesaPal: status only by tracking id, which a timeout never gave.
    let p = Provider::Pesapal;
    let ticket = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
    let done = ledger.finish(&ticket, &transport_error(p), problem(502), NOW)?;
    let record = done.record.ok_or("no record")?;
    assert_eq!(record.state, State::Unknown);
    assert_eq!(
        record.error.as_ref().map(|e| e.code.as_str()),
        Some("provider_unavailable")
    );
    assert_eq!(record.response, None, "an ambiguous answer is not replayed");
    assert_eq!(done.event, None, "unknown is not a verified state");
    for _ in 0..3 {
        let retry = ledger.begin(p, &request("INV-1"), None, NOW + 1_000)?;
        assert!(matches!(retry, Begin::OutcomeUnknown { .. }), "{retry:?}");
    }
    // A verified notification later settles it, and the retry replays.
    ledger.observe(
        &details(p, Some("TRK-9"), Some("INV-1"), PaymentStatus::Completed),
        NOW + 2_000,
    )?;
    assert!(matches!(
        ledger.begin(p, &request("INV-1"), None, NOW + 3_000)?,
        Begin::Replay(_)
    ));
    Ok(())
}

#[test]
fn an_ambiguous_failure_is_resolved_by_asking_the_provider() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    // ClickPesa: status by merchant reference.
    let p = Provider::Clickpesa;
    let ticket = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
    ledger.finish(
        &ticket,
        &Err(provider_error(p, 502, "bad_gateway")),
        problem(502),
        NOW,
    )?;
    let ask = ledger.begin(p, &request("INV-1"), None, NOW + 1)?;
    assert_eq!(
        ask,
        Begin::AskProvider {
            provider: p,
            id: "INV-1".into()
        }
    );
    // The query failed: still no payment call.
    let failed = ledger.resolve(
        p,
        &request("INV-1"),
        None,
        &Probe::Failed("timeout".into()),
        NOW + 2,
    )?;
    assert!(matches!(failed, Begin::OutcomeUnknown { .. }));
    // The provider knows it: recorded and replayed, no second payment.
    let found = Probe::from_status(&Ok(details(
        p,
        Some("CP-1"),
        Some("INV-1"),
        PaymentStatus::Pending,
    )));
    let replay = ledger.resolve(p, &request("INV-1"), None, &found, NOW + 3)?;
    let Begin::Replay(response) = replay else {
        return Err(format!("expected a replay, got {replay:?}").into());
    };
    assert_eq!(response.status, 201);
    let body: serde_json::Value = serde_json::from_str(&response.body)?;
    assert_eq!(body["tracking_id"], "CP-1");
    assert_eq!(body["status"], "pending");
    assert_eq!(
        ledger.by_tracking_id(p, "CP-1")?.map(|r| r.state),
        Some(State::Pending)
    );
    Ok(())
}

#[test]
fn a_payment_the_provider_never_saw_may_be_tried_once_more() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    let p = Provider::Clickpesa;
    let ticket = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
    ledger.finish(&ticket, &transport_error(p), problem(502), NOW)?;
    let not_found = Probe::from_status(&Err(provider_error(p, 404, "not_found")));
    assert_eq!(not_found, Probe::NotFound);
    assert_eq!(
        Probe::from_status(&Err(provider_error(p, 200, "not_found"))),
        Probe::NotFound
    );
    // A Daraja 404 is a refused token, not an absent payment.
    assert!(matches!(
        Probe::from_status(&Err(provider_error(Provider::Mpesa, 404, "404.001.03"))),
        Probe::Failed(_)
    ));
    let first = ledger.resolve(p, &request("INV-1"), None, &not_found, NOW + 1)?;
    proceed(first)?;
    // A second retry that also saw "not found" finds the key claimed again.
    let second = ledger.resolve(p, &request("INV-1"), None, &not_found, NOW + 2)?;
    assert_eq!(second, Begin::InProgress);
    Ok(())
}

#[test]
fn a_definite_refusal_is_recorded_and_replayed() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    let p = Provider::Pesapal;
    let ticket = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
    let done = ledger.finish(
        &ticket,
        &Err(provider_error(p, 400, "invalid_currency")),
        problem(502),
        NOW,
    )?;
    let record = done.record.ok_or("no record")?;
    assert_eq!(record.state, State::Failed);
    let error = record.error.ok_or("no error recorded")?;
    assert_eq!(error.code, "invalid_currency");
    assert!(error.message.contains("refused"));
    assert_eq!(done.event.map(|e| e.kind), Some("payment.failed".into()));
    assert_eq!(
        ledger.begin(p, &request("INV-1"), None, NOW + 1)?,
        Begin::Replay(problem(502))
    );
    Ok(())
}

#[test]
fn a_call_that_never_left_releases_the_key() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    let p = Provider::Pesapal;
    let ticket = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
    let done = ledger.finish(
        &ticket,
        &Err(Error::config("pesapal_consumer_key", "is not set")),
        problem(500),
        NOW,
    )?;
    assert_eq!(done.record, None);
    assert_eq!(ledger.by_reference(p, "INV-1")?, None);
    proceed(ledger.begin(p, &request("INV-1"), None, NOW + 1)?)?;
    Ok(())
}

#[test]
fn thirty_two_claimers_of_one_key_get_one_winner() -> TestResult {
    let store = MemoryStore::new();
    let barrier = Barrier::new(32);
    let outcomes: Vec<Result<Begin, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let store = &store;
                let barrier = &barrier;
                scope.spawn(move || {
                    // One ledger per "instance", all on the shared store.
                    let ledger = Ledger::new(
                        store,
                        Config {
                            instance_id: format!("instance-{i}"),
                            ..Config::default()
                        },
                    );
                    barrier.wait();
                    ledger
                        .begin(Provider::Clickpesa, &request("INV-1"), None, NOW)
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let mut winners = 0;
    for outcome in outcomes {
        match outcome? {
            Begin::Proceed(_) => winners += 1,
            Begin::InProgress | Begin::Replay(_) => {}
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    assert_eq!(winners, 1);
    Ok(())
}

#[test]
fn thirty_two_claimers_with_the_winner_finishing_get_replays() -> TestResult {
    let store = Arc::new(MemoryStore::new());
    let barrier = Arc::new(Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || -> Result<Begin, String> {
                let ledger = Ledger::new(
                    &*store,
                    Config {
                        instance_id: format!("i{i}"),
                        ..Config::default()
                    },
                );
                barrier.wait();
                let p = Provider::Clickpesa;
                let begin = ledger
                    .begin(p, &request("INV-1"), None, NOW)
                    .map_err(|e| e.to_string())?;
                if let Begin::Proceed(ticket) = &begin {
                    ledger
                        .finish(ticket, &accepted(p, "INV-1", "CP"), created("{}"), NOW)
                        .map_err(|e| e.to_string())?;
                }
                Ok(begin)
            })
        })
        .collect();
    let mut winners = 0;
    for handle in handles {
        let begin = handle.join().map_err(|_| "thread panicked")??;
        match begin {
            Begin::Proceed(_) => winners += 1,
            Begin::InProgress => {}
            Begin::Replay(response) => assert_eq!(response, created("{}")),
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    assert_eq!(winners, 1);
    let ledger = ledger(&*store);
    assert_eq!(ledger.events(0, 100, NOW)?.data.len(), 1);
    Ok(())
}

/// A second instance slips in between the first one's read and write: with
/// CAS it loses; without atomics both proceed (the documented window).
#[test]
fn the_claim_race_window_exists_only_without_atomics() -> TestResult {
    for (store, expected_winners) in [(MemoryStore::new(), 1), (MemoryStore::store_only(), 2)] {
        let store = Arc::new(store);
        let rival = Arc::clone(&store);
        let rival_outcome = Arc::new(std::sync::Mutex::new(None));
        let slot = Arc::clone(&rival_outcome);
        store.before_next_write("finconnect/ledger/payment/", move |_| {
            let ledger = Ledger::new(
                &*rival,
                Config {
                    instance_id: "rival".into(),
                    ..Config::default()
                },
            );
            let outcome = ledger.begin(Provider::Clickpesa, &request("INV-1"), None, NOW);
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(outcome.map_err(|e| e.to_string()));
            }
        });
        let first = ledger(&*store).begin(Provider::Clickpesa, &request("INV-1"), None, NOW)?;
        let rival = rival_outcome
            .lock()
            .map_err(|_| "poisoned")?
            .take()
            .ok_or("the rival never ran")??;
        let winners = [&first, &rival]
            .iter()
            .filter(|b| matches!(b, Begin::Proceed(_)))
            .count();
        assert_eq!(
            winners,
            expected_winners,
            "{:?}: {first:?} / {rival:?}",
            store.mode()
        );
        if expected_winners == 1 {
            assert!(matches!(rival, Begin::Proceed(_)));
            assert_eq!(first, Begin::InProgress);
        }
    }
    Ok(())
}

// ----- notifications and events -------------------------------------------

fn pending_payment<S: Store>(
    ledger: &Ledger<S>,
    p: Provider,
    reference: &str,
    tracking: &str,
) -> TestResult {
    let ticket = proceed(ledger.begin(p, &request(reference), None, NOW)?)?;
    ledger.finish(
        &ticket,
        &accepted(p, reference, tracking),
        created("{}"),
        NOW,
    )?;
    Ok(())
}

#[test]
fn the_same_notification_twice_makes_one_event() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    let p = Provider::Pesapal;
    pending_payment(&ledger, p, "INV-1", "TRK-1")?;
    let report = details(p, Some("TRK-1"), Some("INV-1"), PaymentStatus::Completed);
    let first = ledger.observe(&report, NOW + 1_000)?;
    assert!(first.changed);
    let event = first.event.ok_or("no event")?;
    assert_eq!(event.kind, "payment.completed");
    assert_eq!(event.seq, 2);
    let second = ledger.observe(&report, NOW + 2_000)?;
    assert!(!second.changed);
    assert_eq!(second.event, None);
    let page = ledger.events(0, 10, NOW + 3_000)?;
    let kinds: Vec<&str> = page.data.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.pending", "payment.completed"]);
    assert_eq!(page.next_after, 2);
    // A late "pending" does not move a completed payment back.
    let stale = ledger.observe(
        &details(p, Some("TRK-1"), None, PaymentStatus::Pending),
        NOW + 4_000,
    )?;
    assert!(!stale.changed && stale.event.is_none());
    assert_eq!(stale.record.map(|r| r.state), Some(State::Completed));
    Ok(())
}

#[test]
fn events_have_the_documented_json_shape_and_page_in_order() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    let p = Provider::Clickpesa;
    pending_payment(&ledger, p, "A", "CP-A")?;
    pending_payment(&ledger, p, "B", "CP-B")?;
    ledger.observe(
        &details(p, None, Some("A"), PaymentStatus::Completed),
        NOW + 5,
    )?;
    let first = ledger.events(0, 2, NOW + 10)?;
    assert_eq!(first.data.len(), 2);
    assert_eq!(first.next_after, 2);
    let rest = ledger.events(first.next_after, 2, NOW + 10)?;
    assert_eq!(rest.data.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(rest.next_after, 3);
    let empty = ledger.events(3, 2, NOW + 10)?;
    assert!(empty.data.is_empty());
    assert_eq!(empty.next_after, 3);

    let json = serde_json::to_value(&rest.data[0])?;
    let object = json.as_object().ok_or("not an object")?;
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "id", "payment", "seq", "type"]);
    assert_eq!(json["type"], "payment.completed");
    assert_eq!(json["seq"], 3);
    assert_eq!(json["created_at"], "2026-12-06T00:00:00.005Z");
    assert!(
        json["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("evt_") && id.len() == 36)
    );
    let payment = &json["payment"];
    assert_eq!(payment["provider"], "clickpesa");
    assert_eq!(payment["reference"], "A");
    assert_eq!(payment["tracking_id"], "CP-A");
    assert_eq!(payment["status"], "completed");
    assert_eq!(payment["amount"], "1500.00");
    assert_eq!(payment["currency"], "TZS");
    Ok(())
}

#[test]
fn a_reserved_but_unwritten_number_is_sealed_once_a_later_event_has_settled() -> TestResult {
    let store = MemoryStore::new();
    let ledger = ledger(&store);
    let settle = Config::default().settle_window_ms;
    // A writer took number 1 and died before writing it.
    store.increment(&counter_key(), 1)?;
    // Nothing after it: its writer may still come, so it stays open.
    let page = ledger.events(0, 10, NOW + 100 * settle)?;
    assert!(page.data.is_empty());
    assert_eq!(page.next_after, 0);
    assert_eq!(store.get(&event_key(1))?, None);
    // The next event takes number 2 (created at NOW). While it is younger
    // than the settle window, the page ends before the empty number.
    pending_payment(&ledger, Provider::Pesapal, "INV-1", "TRK")?;
    let page = ledger.events(0, 10, NOW + settle - 1)?;
    assert!(page.data.is_empty(), "{page:?}");
    assert_eq!(page.next_after, 0);
    assert_eq!(store.get(&event_key(1))?, None);
    // Once it has settled, number 1 is sealed and number 2 listed.
    let page = ledger.events(0, 10, NOW + settle)?;
    assert_eq!(page.data.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
    assert_eq!(page.next_after, 2);
    assert_eq!(store.get(&event_key(1))?.as_deref(), Some(&b"-"[..]));
    Ok(())
}

/// Pesapal payment INV-1 pending (number 1), then its completion reported
/// at NOW + 1 s. Just before that report writes its event (number 2),
/// payment INV-2 writes its own (number 3, created at NOW) and a reader
/// lists events at `read_at`. The completion's event, and the page that
/// reader got.
fn completed_while_a_reader_reads(
    store: &Arc<MemoryStore>,
    read_at: u64,
) -> Result<(Event, Option<EventPage>), Box<dyn std::error::Error>> {
    let p = Provider::Pesapal;
    let ledger = ledger(&**store);
    pending_payment(&ledger, p, "INV-1", "TRK-1")?;
    let other = Arc::clone(store);
    let pages = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&pages);
    store.before_next_write("finconnect/ledger/event/", move |_| {
        let ledger = super::Ledger::new(&*other, Config::default());
        let _ = pending_payment(&ledger, p, "INV-2", "TRK-2");
        if let (Ok(page), Ok(mut pages)) = (ledger.events(0, 10, read_at), seen.lock()) {
            pages.push(page);
        }
    });
    let report = details(p, Some("TRK-1"), None, PaymentStatus::Completed);
    let event = ledger
        .observe(&report, NOW + 1_000)?
        .event
        .ok_or("no event")?;
    let during = pages.lock().map_err(|_| "poisoned")?.first().cloned();
    Ok((event, during))
}

/// The race a reader polling in a loop used to win every time: it reads
/// between the write that reserves a writer's number and the event's
/// write. The number is not sealed; the event lands under it and is listed
/// in order with the one written after it meanwhile.
#[test]
fn a_reader_between_a_writers_number_and_its_event_waits_for_the_event() -> TestResult {
    let store = Arc::new(MemoryStore::new());
    let ledger = ledger(&*store);
    let (event, during) = completed_while_a_reader_reads(&store, NOW + 1_000)?;
    assert_eq!(event.seq, 2, "the writer kept its number");
    let during = during.ok_or("the reader did not run")?;
    assert_eq!(during.data.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(during.next_after, 1, "the page ended before number 2");
    let page = ledger.events(during.next_after, 10, NOW + 1_000)?;
    let listed: Vec<(u64, &str)> = page.data.iter().map(|e| (e.seq, e.kind.as_str())).collect();
    assert_eq!(listed, [(2, "payment.completed"), (3, "payment.pending")]);
    Ok(())
}

#[test]
fn without_atomics_events_use_time_ordered_numbers_and_settle_first() -> TestResult {
    let ledger = ledger(MemoryStore::store_only());
    let p = Provider::Pesapal;
    pending_payment(&ledger, p, "INV-1", "TRK-1")?;
    let report = details(p, Some("TRK-1"), None, PaymentStatus::Completed);
    ledger.observe(&report, NOW + 1_000)?;
    ledger.observe(&report, NOW + 1_500)?;
    // Too young to list yet.
    assert!(ledger.events(0, 10, NOW + 2_000)?.data.is_empty());
    let page = ledger.events(0, 10, NOW + 10_000)?;
    let kinds: Vec<&str> = page.data.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.pending", "payment.completed"]);
    assert!(page.data[0].seq / 1000 == NOW && page.data[1].seq / 1000 == NOW + 1_000);
    assert_eq!(page.next_after, page.data[1].seq);
    Ok(())
}

#[test]
fn notifications_for_unknown_ids_are_refused_and_settled_ones_answered() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    let p = Provider::Pesapal;
    assert_eq!(ledger.admit(p, "never-issued", NOW)?, Admission::Refuse);
    pending_payment(&ledger, p, "INV-1", "TRK-1")?;
    assert_eq!(
        ledger.admit(Provider::Clickpesa, "TRK-1", NOW)?,
        Admission::Refuse
    );
    assert!(matches!(
        ledger.admit(p, "TRK-1", NOW)?,
        Admission::Verify(_)
    ));
    assert!(matches!(
        ledger.admit(p, "INV-1", NOW)?,
        Admission::Verify(_)
    ));
    ledger.observe(
        &details(p, Some("TRK-1"), None, PaymentStatus::Completed),
        NOW + 1_000,
    )?;
    let answered = ledger.admit(p, "TRK-1", NOW + 2_000)?;
    assert!(
        matches!(&answered, Admission::Answer(r) if r.state == State::Completed),
        "{answered:?}"
    );
    // Once an hour a settled payment is checked again (a reversal).
    let later = NOW + 1_000 + Config::default().recheck_settled_ms;
    assert!(matches!(
        ledger.admit(p, "TRK-1", later)?,
        Admission::Verify(_)
    ));
    // A payment not started through FinConnect is left alone.
    let foreign = ledger.observe(
        &details(p, Some("OTHER"), Some("X"), PaymentStatus::Completed),
        NOW,
    )?;
    assert_eq!(foreign.record, None);
    assert_eq!(foreign.event, None);
    Ok(())
}

// ----- webhooks ------------------------------------------------------------

/// The published example of the Standard Webhooks reference libraries
/// (standard-webhooks/standard-webhooks, libraries/go/webhook_test.go,
/// `TestWebhookSign`).
#[test]
fn signing_matches_the_published_standard_webhooks_example() -> TestResult {
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
    let signature = secret.sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    Ok(())
}

/// A second route to the same value: the spec's formula computed here with
/// the `hmac` and `sha2` crates directly.
#[test]
fn signing_matches_the_formula_computed_independently() -> TestResult {
    let key: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(7).wrapping_add(3))
        .collect();
    let secret = WebhookSecret::parse(&format!("whsec_{}", base64_encode(&key)))?;
    let (id, timestamp, body) = ("evt_0123", 1_796_515_200u64, br#"{"seq":1}"#);

    let mut mac = Hmac::<Sha256>::new_from_slice(&key)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let signature = secret.sign(id, timestamp, body);
    let encoded = signature.strip_prefix("v1,").ok_or("no v1 prefix")?;
    assert_eq!(base64_decode(encoded).as_deref(), Some(&expected[..]));

    assert!(secret.verify(id, timestamp, body, &signature));
    assert!(secret.verify(id, timestamp, body, &format!("v1,AAAA {signature}")));
    assert!(!secret.verify(id, timestamp, b"{}", &signature));
    assert!(!secret.verify(id, timestamp + 1, body, &signature));
    assert!(!secret.verify(id, timestamp, body, &signature.replace("v1,", "v2,")));

    let headers = webhook_headers(&secret, id, timestamp * 1000 + 999, body);
    assert_eq!(headers[0], ("webhook-id", id.to_owned()));
    assert_eq!(headers[1], ("webhook-timestamp", timestamp.to_string()));
    assert_eq!(headers[2], ("webhook-signature", signature));
    Ok(())
}

#[test]
fn webhook_secrets_are_checked_and_never_shown() -> TestResult {
    assert_eq!(
        WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        Err(SecretError::MissingPrefix)
    );
    assert_eq!(
        WebhookSecret::parse("whsec_not*base64"),
        Err(SecretError::NotBase64)
    );
    assert_eq!(
        WebhookSecret::parse("whsec_AAAA"),
        Err(SecretError::Length(3))
    );
    let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
    assert_eq!(format!("{secret:?}"), "WebhookSecret([redacted])");
    Ok(())
}

#[test]
fn base64_round_trips() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64_encode(plain.as_bytes()), encoded);
        assert_eq!(base64_decode(encoded).as_deref(), Some(plain.as_bytes()));
    }
    assert_eq!(base64_encode(&[0xfb, 0xff, 0xfe]), "+//+");
    assert_eq!(base64_decode("Zg"), Some(b"f".to_vec()));
    assert_eq!(base64_decode("Z"), None);
    assert_eq!(base64_decode("Zm9v!"), None);
}

#[test]
fn the_retry_schedule_backs_off_then_stops() {
    assert_eq!(next_attempt_at(0, 1_000), None);
    assert_eq!(next_attempt_at(1, 1_000), Some(6_000));
    assert_eq!(next_attempt_at(2, 1_000), Some(61_000));
    assert!(RETRY_DELAYS_MS.windows(2).all(|w| w[0] < w[1]));
    let last = u32::try_from(RETRY_DELAYS_MS.len()).unwrap_or(u32::MAX);
    assert_eq!(next_attempt_at(last, 0), Some(24 * 3_600_000));
    assert_eq!(next_attempt_at(last + 1, 0), None);
}

#[test]
fn deliveries_are_queued_per_event_and_every_attempt_is_kept() -> TestResult {
    let ledger = Ledger::new(
        MemoryStore::new(),
        Config {
            webhooks: true,
            ..Config::default()
        },
    );
    pending_payment(&ledger, Provider::Pesapal, "INV-1", "TRK-1")?;
    let due = ledger.due_deliveries(NOW)?;
    assert_eq!(due.len(), 1);
    let event_id = due[0].event_id.clone();
    assert_eq!(ledger.event(&event_id)?.map(|e| e.seq), Some(1));

    let mut at = NOW;
    let mut delivery = due[0].clone();
    for n in 1..=RETRY_DELAYS_MS.len() + 1 {
        delivery = ledger.record_attempt(
            &event_id,
            1,
            Attempt {
                at,
                status: Some(503),
                error: Some("HTTP 503".into()),
            },
        )?;
        assert_eq!(delivery.attempts.len(), n);
        match delivery.next_attempt_at {
            Some(next) => {
                assert!(ledger.due_deliveries(next - 1)?.is_empty());
                assert_eq!(ledger.due_deliveries(next)?.len(), 1);
                at = next;
            }
            None => break,
        }
    }
    assert_eq!(delivery.state, DeliveryState::Exhausted);
    assert_eq!(delivery.attempts.len(), RETRY_DELAYS_MS.len() + 1);
    // Nothing is lost: the event is still listed and can be redelivered.
    assert_eq!(ledger.events(0, 10, at)?.data.len(), 1);
    let again = ledger.redeliver(&event_id, 1, at + 1)?;
    assert!(again.is_due(at + 1));
    let done = ledger.record_attempt(
        &event_id,
        1,
        Attempt {
            at: at + 2,
            status: Some(204),
            error: None,
        },
    )?;
    assert_eq!(done.state, DeliveryState::Delivered);
    assert!(ledger.due_deliveries(u64::MAX)?.is_empty());
    Ok(())
}

/// A delivery whose outbox entry was lost (the call that wrote the event
/// failed to update the outbox) is put back when its event is listed, and
/// an entry left for a delivery that is over is dropped by the next look
/// for due deliveries.
#[test]
fn a_delivery_lost_from_the_outbox_is_restored_and_a_finished_one_cleaned() -> TestResult {
    let ledger = Ledger::new(
        MemoryStore::new(),
        Config {
            webhooks: true,
            ..Config::default()
        },
    );
    pending_payment(&ledger, Provider::Pesapal, "INV-9", "TRK-9")?;
    let event_id = ledger.due_deliveries(NOW)?[0].event_id.clone();
    let outbox_key = events::outbox_key();
    let full = ledger.store().get(&outbox_key)?.ok_or("no outbox")?;
    // The lost update: the outbox as if the entry had never been added.
    ledger.store().set(&outbox_key, br#"{"entries":[]}"#)?;
    assert!(!ledger.deliveries_due(u64::MAX)?);
    let listed = ledger.delivery(&event_id)?.ok_or("no delivery")?;
    assert_eq!(ledger.restore_scheduled(&[&listed])?, 1);
    assert!(ledger.deliveries_due(NOW)?);
    assert_eq!(ledger.due_deliveries(NOW)?.len(), 1);
    // Listed again: nothing to restore.
    assert_eq!(ledger.restore_scheduled(&[&listed])?, 0);

    // Delivered: the entry goes; one put back afterwards is cleaned away.
    ledger.record_attempt(
        &event_id,
        1,
        Attempt {
            at: NOW,
            status: Some(204),
            error: None,
        },
    )?;
    assert!(!ledger.deliveries_due(u64::MAX)?);
    // Listed as read before it was delivered: read again, not restored.
    assert_eq!(ledger.restore_scheduled(&[&listed])?, 0);
    ledger.store().set(&outbox_key, &full)?;
    assert!(ledger.deliveries_due(u64::MAX)?);
    assert!(ledger.due_deliveries(u64::MAX)?.is_empty());
    assert!(!ledger.deliveries_due(u64::MAX)?);
    Ok(())
}

/// A ledger with webhooks that sends its own deliveries after its answer,
/// as the HTTP face's does.
fn holding_ledger<S: Store>(store: S) -> Ledger<S> {
    Ledger::new(
        store,
        Config {
            webhooks: true,
            hold_own_deliveries: true,
            ..Config::default()
        },
    )
}

/// A holding ledger over `store` that has written one payment's pending
/// event (reference `reference`), and that event.
fn held_event<'a>(
    store: &'a MemoryStore,
    reference: &str,
) -> Result<(Ledger<&'a MemoryStore>, Event), Box<dyn std::error::Error>> {
    let ledger = holding_ledger(store);
    pending_payment(
        &ledger,
        Provider::Pesapal,
        reference,
        &format!("TRK-{reference}"),
    )?;
    // Listed a minute later: a bucket without atomics lists an event only
    // once it is older than the settle window.
    let page = ledger.events(0, 10, NOW + 60_000)?;
    let event = page.data.into_iter().next().ok_or("no event")?;
    Ok((ledger, event))
}

/// Sends what `ledger` holds and what is due at `now`, answered by `replies`.
fn send_due(
    ledger: &Ledger<&MemoryStore>,
    replies: Vec<crate::transport::scripted::Reply>,
    now: u64,
) -> Result<(deliver::DeliveryRun, Vec<String>), Box<dyn std::error::Error>> {
    let mut transport = crate::transport::scripted::Scripted::new(replies);
    let run = deliver::deliver_due(ledger, &webhook_target()?, &mut transport, now)?;
    let sent = transport
        .seen
        .iter()
        .map(|request| String::from_utf8_lossy(&request.body).into_owned())
        .collect();
    Ok((run, sent))
}

fn webhook_target() -> Result<deliver::WebhookTarget, Box<dyn std::error::Error>> {
    Ok(deliver::WebhookTarget {
        url: "http://127.0.0.1:9/hooks".into(),
        secret: WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?,
    })
}

/// The first moment at or after `from` when a look for orphans
/// ([`Ledger::adopt_orphans`]) reads the key holding `event_id`'s delivery.
fn looked_at(event_id: &str, from: u64) -> u64 {
    let key = events::held_key(event_id);
    (0..events::HELD_SHARDS)
        .map(|n| from + n * events::LOOK_EACH_MS)
        .find(|at| events::looked_at(*at) == key)
        .unwrap_or(u64::MAX)
}

/// A delivery the ledger queues for its own event is leased to it and
/// listed apart from the outbox: no other instance finds it due, and the
/// ledger sends it itself, once. Sent at once, it never changes the outbox,
/// the key every instance would otherwise change for every event.
#[test]
fn a_ledger_that_sends_its_own_deliveries_holds_them_and_sends_each_once() -> TestResult {
    let store = MemoryStore::new();
    let (ledger, event) = held_event(&store, "INV-H1")?;
    assert!(ledger.holds_deliveries());
    let held = store.get(&events::held_key(&event.id))?.ok_or("not held")?;
    assert!(String::from_utf8(held)?.contains(&event.id));
    // Another instance over the same store: nothing due for it, whenever
    // it looks within the lease.
    let other = holding_ledger(&store);
    assert!(!other.holds_deliveries());
    for n in 0..events::HELD_SHARDS {
        assert!(!other.deliveries_due(NOW + n * events::LOOK_EACH_MS)?);
    }
    assert_eq!(other.adopt_orphans(looked_at(&event.id, NOW))?, 0);

    let (run, sent) = send_due(&ledger, vec![Ok((204, ""))], NOW + 5)?;
    assert_eq!((run.attempted, run.delivered), (1, 1));
    assert_eq!(sent.len(), 1);
    assert!(!ledger.holds_deliveries());
    let delivery = ledger.delivery(&event.id)?.ok_or("no delivery record")?;
    assert_eq!(delivery.state, DeliveryState::Delivered);
    assert_eq!(
        store.get(&events::outbox_key())?,
        None,
        "the outbox was written"
    );
    let held = store
        .get(&events::held_key(&event.id))?
        .ok_or("no held list")?;
    assert!(!String::from_utf8(held)?.contains(&event.id));
    // Nobody sends it again, even after the lease.
    let late = looked_at(&event.id, NOW + deliver::LEASE_MS);
    assert!(!other.deliveries_due(late)?);
    let (run, _) = send_due(&other, vec![], late)?;
    assert_eq!(run.attempted, 0);
    Ok(())
}

/// An entry left in a held list after its delivery was sent (the holder
/// could not take it out) is dropped by the look after its lease, without
/// a send and without a write to the outbox.
#[test]
fn a_held_entry_left_after_its_delivery_was_sent_is_dropped() -> TestResult {
    let store = MemoryStore::new();
    let (ledger, event) = held_event(&store, "INV-H5")?;
    let key = events::held_key(&event.id);
    let listed = store.get(&key)?.ok_or("not held")?;
    send_due(&ledger, vec![Ok((204, ""))], NOW + 5)?;
    // As if the holder's last write had failed.
    store.set(&key, &listed)?;

    let other = holding_ledger(&store);
    let after = looked_at(&event.id, NOW + deliver::LEASE_MS);
    assert!(other.deliveries_due(after)?, "the entry is there to drop");
    let (run, _) = send_due(&other, vec![], after)?;
    assert_eq!(run.attempted, 0);
    assert_eq!(
        store.get(&events::outbox_key())?,
        None,
        "the outbox was written"
    );
    assert!(!other.deliveries_due(after)?);
    Ok(())
}

/// A held delivery the endpoint refused goes into the outbox at its retry,
/// and out of the held list.
#[test]
fn a_held_delivery_refused_is_retried_from_the_outbox() -> TestResult {
    let store = MemoryStore::new();
    let (ledger, event) = held_event(&store, "INV-H3")?;
    let (run, _) = send_due(&ledger, vec![Ok((503, "{}"))], NOW + 5)?;
    assert_eq!((run.attempted, run.delivered), (1, 0));
    let delivery = ledger.delivery(&event.id)?.ok_or("no delivery record")?;
    let retry = delivery.next_attempt_at.ok_or("no retry")?;
    let other = holding_ledger(&store);
    assert!(other.due_deliveries(retry - 1)?.is_empty());
    assert_eq!(other.due_deliveries(retry)?.len(), 1);
    let held = store
        .get(&events::held_key(&event.id))?
        .ok_or("no held list")?;
    assert!(!String::from_utf8(held)?.contains(&event.id));
    Ok(())
}

/// A ledger that queued a delivery and never sent it (its instance
/// stopped, or the endpoint's variables were wrong) loses nothing: once
/// the lease runs out, the first look at its key moves it into the
/// outbox, due for anyone; the holder, if it asks that late, no longer
/// sends it. Listing the event meanwhile does not put it in the outbox.
#[test]
fn a_held_delivery_never_sent_is_adopted_after_the_lease() -> TestResult {
    let store = MemoryStore::new();
    let (ledger, event) = held_event(&store, "INV-H2")?;
    let listed = ledger.delivery(&event.id)?.ok_or("no delivery record")?;
    let other = holding_ledger(&store);
    assert_eq!(other.restore_scheduled(&[&listed])?, 0);

    let within = looked_at(&event.id, NOW);
    assert!(!other.deliveries_due(within)?);
    assert_eq!(other.adopt_orphans(within)?, 0);
    let after = looked_at(&event.id, NOW + deliver::LEASE_MS);
    assert!(other.deliveries_due(after)?);
    let (run, sent) = send_due(&other, vec![Ok((200, "{}"))], after)?;
    assert_eq!((run.attempted, run.delivered), (1, 1));
    assert!(sent[0].contains(&event.id));
    // The holder, too late: its lease is over, it sends nothing.
    assert!(ledger.take_held_deliveries(after).is_empty());
    assert!(!other.deliveries_due(looked_at(&event.id, after + 1000))?);
    Ok(())
}

/// When the list of held deliveries cannot be written (writers kept
/// changing it, or the store refused), the call that wrote the event still
/// succeeds and still sends its delivery: failing it left the delivery in
/// no list, sent by nobody until someone listed its event.
#[test]
fn a_delivery_whose_held_list_cannot_be_written_is_sent_all_the_same() -> TestResult {
    let held_lists = events::held_shard_key(0);
    let held_lists = held_lists.trim_end_matches("00");
    for store in [MemoryStore::new(), MemoryStore::store_only()] {
        let store = store.refusing_writes_under(held_lists);
        let mode = store.mode();
        let (ledger, _) = held_event(&store, "INV-H4")?;
        assert!(ledger.holds_deliveries(), "{mode:?}");
        let (run, _) = send_due(&ledger, vec![Ok((204, ""))], NOW + 5)?;
        assert_eq!((run.attempted, run.delivered), (1, 1), "{mode:?}");
    }
    Ok(())
}

/// Another writer's change to a key, run right after a swap on it.
type OtherWriter = Box<dyn FnOnce(&MemoryStore) + Send>;

/// A store whose next swap on `key` writes, after which another writer
/// changes the key before the swap is reported: reported as a conflict.
/// That is what the component sees on Spin's Redis store, which reports
/// every swap as failed: it reads the value back, and finds the other
/// writer's bytes.
struct SwapReportedLost {
    inner: MemoryStore,
    armed: std::sync::Mutex<Option<(String, OtherWriter)>>,
}

impl SwapReportedLost {
    /// A ledger with webhooks over an empty one.
    fn ledger() -> Ledger<SwapReportedLost> {
        Ledger::new(
            SwapReportedLost {
                inner: MemoryStore::new(),
                armed: std::sync::Mutex::new(None),
            },
            Config {
                webhooks: true,
                ..Config::default()
            },
        )
    }

    fn arm(&self, key: &str, other_writer: impl FnOnce(&MemoryStore) + Send + 'static) {
        if let Ok(mut armed) = self.armed.lock() {
            *armed = Some((key.to_owned(), Box::new(other_writer)));
        }
    }
}

impl Store for SwapReportedLost {
    type Cas = (store::MemoryCas, String);

    fn mode(&self) -> Mode {
        self.inner.mode()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_keys(prefix)
    }
    fn cas_open(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        let (cas, current) = self.inner.cas_open(key)?;
        Ok(((cas, key.to_owned()), current))
    }
    fn cas_swap(&self, (cas, key): Self::Cas, value: &[u8]) -> Result<(), CasError> {
        self.inner.cas_swap(cas, value)?;
        let armed = match self.armed.lock() {
            Ok(mut armed) if armed.as_ref().is_some_and(|(k, _)| *k == key) => armed.take(),
            _ => None,
        };
        match armed {
            Some((_, other_writer)) => {
                other_writer(&self.inner);
                Err(CasError::Conflict)
            }
            None => Ok(()),
        }
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner.increment(key, delta)
    }
}

/// A lease whose write landed but was reported lost is still the taker's:
/// its retry recognises it, and the delivery is attempted now, once, not
/// left for the lease to run out (30 s). Seen under two Spin instances on
/// one Redis, where the other instance's outbox write came right after.
#[test]
fn a_lease_whose_write_was_reported_lost_is_still_held_by_its_taker() -> TestResult {
    let ledger = SwapReportedLost::ledger();
    pending_payment(&ledger, Provider::Pesapal, "INV-L1", "TRK-L1")?;
    pending_payment(&ledger, Provider::Pesapal, "INV-L2", "TRK-L2")?;
    let due = ledger.due_deliveries(NOW)?;
    assert_eq!(due.len(), 2);
    let (mine, other) = (due[0].event_id.clone(), due[1].event_id.clone());

    // Right after this lease's write, another instance leases the other
    // delivery (a different write to the same outbox).
    let outbox_key = events::outbox_key();
    let other_ledger_entry = other.clone();
    ledger.store().arm(&outbox_key, move |store| {
        let other = Ledger::new(store, Config::default());
        let _ = other.lease_delivery(&other_ledger_entry, NOW, deliver::LEASE_MS);
    });
    assert!(ledger.lease_delivery(&mine, NOW, deliver::LEASE_MS)?);
    // Held: nobody else takes it, and the other lease stands too.
    assert!(!ledger.lease_delivery(&mine, NOW + 1, deliver::LEASE_MS)?);
    assert!(!ledger.lease_delivery(&other, NOW + 1, deliver::LEASE_MS)?);
    assert!(ledger.due_deliveries(NOW + 1)?.is_empty());

    // The attempt ends the lease: a failed one is due again at its retry.
    // Its write lands and reads back as lost too (the merchant asked for
    // a redelivery right after): recorded once.
    let delivery_key = events::delivery_key(&mine);
    let (event, seq) = (mine.clone(), due[0].seq);
    ledger.store().arm(&delivery_key, move |store| {
        let other = Ledger::new(store, Config::default());
        let _ = other.redeliver(&event, seq, NOW);
    });
    let delivery = ledger.record_attempt(
        &mine,
        due[0].seq,
        Attempt {
            at: NOW,
            status: Some(503),
            error: Some("HTTP 503".into()),
        },
    )?;
    assert_eq!(delivery.attempts.len(), 1);
    let retry = delivery.next_attempt_at.ok_or("no retry scheduled")?;
    let again = ledger.due_deliveries(retry)?;
    assert!(again.iter().any(|d| d.event_id == mine), "{again:?}");
    assert!(ledger.lease_delivery(&mine, retry, deliver::LEASE_MS)?);
    Ok(())
}

/// A state change whose write landed but was reported lost (another
/// instance saw the same notification right after, and touched the record)
/// is recognised on the retry by the number it reserved: this call
/// announces the change at once, once, instead of leaving its claim for a
/// reader to take over after the claim TTL.
#[test]
fn a_change_whose_write_was_reported_lost_is_announced_by_its_writer() -> TestResult {
    let ledger = SwapReportedLost::ledger();
    let p = Provider::Pesapal;
    pending_payment(&ledger, p, "INV-R1", "TRK-R1")?;
    let key = ledger.by_reference(p, "INV-R1")?.ok_or("no record")?.key();
    let completed = details(p, Some("TRK-R1"), None, PaymentStatus::Completed);
    let seen_again = completed.clone();
    ledger.store().arm(&key, move |store| {
        let other = Ledger::new(store, Config::default());
        let _ = other.observe(&seen_again, NOW + 1);
    });
    let recorded = ledger.observe(&completed, NOW + 2)?;
    assert!(recorded.changed);
    let event = recorded
        .event
        .ok_or("the change was not announced by its writer")?;
    assert_eq!(event.kind, "payment.completed");
    let listed: Vec<String> = ledger
        .events(0, 10, NOW + 3)?
        .data
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(listed, ["payment.pending", "payment.completed"]);
    Ok(())
}

// ----- retention, export, operation counts ---------------------------------

#[test]
fn purge_keeps_open_payments_and_export_writes_json_lines() -> TestResult {
    let ledger = ledger(MemoryStore::new());
    let p = Provider::Pesapal;
    pending_payment(&ledger, p, "OLD", "TRK-OLD")?;
    pending_payment(&ledger, p, "OPEN", "TRK-OPEN")?;
    ledger.observe(
        &details(p, Some("TRK-OLD"), None, PaymentStatus::Completed),
        NOW,
    )?;

    let export = ledger.export_jsonl()?;
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|line| line["version"] == 1));

    let day = 86_400_000;
    let retention = u64::from(Config::default().retention_days) * day;
    assert_eq!(ledger.purge(NOW + retention - day)?, Purged::default());
    let purged = ledger.purge(NOW + retention + day)?;
    assert_eq!(
        purged,
        Purged {
            records: 1,
            events: 3
        }
    );
    assert_eq!(ledger.by_reference(p, "OLD")?, None);
    assert_eq!(ledger.by_tracking_id(p, "TRK-OLD")?, None);
    assert!(ledger.by_reference(p, "OPEN")?.is_some());
    Ok(())
}

/// Purged events leave their numbers empty. The purge raises a floor past
/// them (and past the tombstones among them, which it removes), so a reader
/// whose cursor is older starts above it instead of walking, and waiting
/// at, numbers that will never be written; a number after the last purged
/// one is still waited for.
#[test]
fn a_purge_raises_the_event_floor_past_what_it_removed() -> TestResult {
    let store = MemoryStore::new();
    let ledger = ledger(&store);
    let p = Provider::Pesapal;
    let settle = Config::default().settle_window_ms;
    let day = 86_400_000;
    let later = NOW + u64::from(Config::default().retention_days) * day + day;
    pending_payment(&ledger, p, "OLD-1", "TRK-1")?; // number 1
    store.increment(&counter_key(), 1)?; // number 2, never written
    pending_payment(&ledger, p, "OLD-2", "TRK-2")?; // number 3
    assert_eq!(ledger.events(0, 10, NOW + settle)?.next_after, 3);
    assert_eq!(store.get(&event_key(2))?.as_deref(), Some(&b"-"[..]));
    store.increment(&counter_key(), 1)?; // number 4, its writer on its way
    let ticket = proceed(ledger.begin(p, &request("NEW"), None, later)?)?;
    ledger.finish(
        &ticket,
        &accepted(p, "NEW", "TRK-NEW"),
        created("{}"),
        later,
    )?; // number 5

    assert_eq!(ledger.purge(later)?.events, 2);
    assert_eq!(
        store.get("finconnect/ledger/event-floor")?.as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(
        store.get(&event_key(2))?,
        None,
        "the tombstone went with the floor"
    );
    let page = ledger.events(0, 10, later)?;
    assert!(page.data.is_empty(), "{page:?}");
    assert_eq!(page.next_after, 3, "the cursor starts at the floor");
    let page = ledger.events(0, 10, later + settle)?;
    assert_eq!(page.data.iter().map(|e| e.seq).collect::<Vec<_>>(), [5]);
    // A second purge with nothing to remove leaves the floor where it is.
    assert_eq!(ledger.purge(later + settle)?.events, 0);
    assert_eq!(
        store.get("finconnect/ledger/event-floor")?.as_deref(),
        Some(&b"3"[..])
    );
    Ok(())
}

#[test]
fn store_operations_per_payment_are_counted() -> TestResult {
    for store in [MemoryStore::new(), MemoryStore::store_only()] {
        let mode = store.mode();
        let counted = Counted::new(store);
        let ledger = ledger(&counted);
        let p = Provider::Clickpesa;
        let ticket = proceed(ledger.begin(p, &request("INV-1"), None, NOW)?)?;
        let begin = counted.take_counts();
        ledger.finish(&ticket, &accepted(p, "INV-1", "CP"), created("{}"), NOW)?;
        let finish = counted.take_counts();
        ledger.begin(p, &request("INV-1"), None, NOW)?;
        let replay = counted.take_counts();
        ledger.observe(&details(p, Some("CP"), None, PaymentStatus::Completed), NOW)?;
        let notify = counted.take_counts();
        println!(
            "{mode:?}: begin {}r/{}w, finish {}r/{}w, replay {}r/{}w, notification {}r/{}w",
            begin.reads(),
            begin.writes(),
            finish.reads(),
            finish.writes(),
            replay.reads(),
            replay.writes(),
            notify.reads(),
            notify.writes()
        );
        assert_eq!(replay.writes(), 0, "a replay writes nothing");
        assert_eq!(replay.reads(), 1, "a replay is one read");
        assert!(begin.total() + finish.total() <= 16, "{begin:?} {finish:?}");
        // Reads of a first pay: the record (store-only: and its read-back),
        // the reference index, the record again to finish (with atomics:
        // and the event's slot); the tracking index it creates is written
        // without being read.
        assert_eq!(
            begin.reads() + finish.reads(),
            4,
            "{mode:?}: {begin:?} {finish:?}"
        );
        // Writes of a first pay and of its notification: the event is
        // claimed in the record's own write (no marker key).
        let expected = match mode {
            Mode::Atomic => (5, 3),
            Mode::StoreOnly => (4, 2),
        };
        assert_eq!(
            (begin.writes() + finish.writes(), notify.writes()),
            expected,
            "{mode:?}"
        );
    }
    Ok(())
}

/// A store that writes what it is asked to, and notes each write in order:
/// `set KEY`, or `swap KEY + COMPANION...` for a compare-and-swap that
/// carries plain writes with it.
struct Logged {
    inner: MemoryStore,
    log: std::sync::Mutex<Vec<String>>,
}

impl Logged {
    fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            log: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn note(&self, line: String) {
        if let Ok(mut log) = self.log.lock() {
            log.push(line);
        }
    }

    fn take(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }
}

impl Store for Logged {
    type Cas = (store::MemoryCas, String);

    fn mode(&self) -> Mode {
        self.inner.mode()
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.note(format!("set {key}"));
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.note(format!("delete {key}"));
        self.inner.delete(key)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_keys(prefix)
    }
    fn cas_open(&self, key: &str) -> Result<(Self::Cas, Option<Vec<u8>>), StoreError> {
        let (cas, current) = self.inner.cas_open(key)?;
        Ok(((cas, key.to_owned()), current))
    }
    fn cas_swap(&self, cas: Self::Cas, value: &[u8]) -> Result<(), CasError> {
        self.cas_swap_with(cas, value, &[])
    }
    fn cas_swap_with(
        &self,
        (cas, key): Self::Cas,
        value: &[u8],
        companions: &[(String, Vec<u8>)],
    ) -> Result<(), CasError> {
        self.inner.cas_swap(cas, value)?;
        let mut line = format!("swap {key}");
        for (companion, value) in companions {
            self.inner.set(companion, value)?;
            line.push_str(&format!(" + {companion}"));
        }
        self.note(line);
        Ok(())
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner.increment(key, delta)
    }
}

/// The indexes a first pay creates go out with the writes they point at,
/// so a store that can write several keys at once (Spin's, through
/// `wasi:keyvalue/batch`) syncs them together: the reference index with the
/// new record, the tracking index (and with webhooks on, the delivery
/// record) with the event. Without atomics there is
/// nothing to carry them, and the tracking index is still written before
/// the event, never after.
#[test]
fn a_first_pays_indexes_travel_with_the_record_and_the_event() -> TestResult {
    let p = Provider::Pesapal;
    let record = record_key(p, "key-1");
    let by_reference = reference_key(p, "INV-1");
    let by_tracking = tracking_key(p, "TRK-1");
    let event = event_key(1);

    let store = Logged::new(MemoryStore::new());
    let atomic = ledger(&store);
    let ticket = proceed(atomic.begin(p, &request("INV-1"), Some("key-1"), NOW)?)?;
    assert_eq!(store.take(), [format!("swap {record} + {by_reference}")]);
    atomic.finish(&ticket, &accepted(p, "INV-1", "TRK-1"), created("{}"), NOW)?;
    assert_eq!(
        store.take(),
        [
            format!("swap {record}"),
            format!("swap {event} + {by_tracking}")
        ]
    );
    // What was carried is really there.
    assert_eq!(
        atomic.by_reference(p, "INV-1")?.map(|r| r.key()),
        Some(record.clone())
    );
    assert_eq!(
        atomic.by_tracking_id(p, "TRK-1")?.map(|r| r.key()),
        Some(record.clone())
    );

    // With webhooks on, the event's delivery record goes with it too; the
    // outbox that queues it follows.
    let store = Logged::new(MemoryStore::new());
    let hooked = Ledger::new(
        &store,
        Config {
            webhooks: true,
            ..Config::default()
        },
    );
    let ticket = proceed(hooked.begin(p, &request("INV-1"), Some("key-1"), NOW)?)?;
    store.take();
    let recorded = hooked.finish(&ticket, &accepted(p, "INV-1", "TRK-1"), created("{}"), NOW)?;
    let Some(announced) = recorded.event else {
        return Err("no event".into());
    };
    let delivery = events::delivery_key(&announced.id);
    let writes = store.take();
    assert_eq!(
        writes[..2],
        [
            format!("swap {record}"),
            format!("swap {event} + {by_tracking} + {delivery}")
        ],
        "{writes:?}"
    );
    assert!(
        writes[2..].iter().all(|line| !line.contains(&delivery)),
        "{writes:?}"
    );
    assert!(hooked.deliveries_due(NOW + 1)?, "the delivery is queued");

    let store = Logged::new(MemoryStore::store_only());
    let plain = ledger(&store);
    let ticket = proceed(plain.begin(p, &request("INV-1"), Some("key-1"), NOW)?)?;
    store.take();
    plain.finish(&ticket, &accepted(p, "INV-1", "TRK-1"), created("{}"), NOW)?;
    let writes = store.take();
    let position = |prefix: &str| writes.iter().position(|line| line.starts_with(prefix));
    let (Some(index), Some(event)) = (
        position(&format!("set {by_tracking}")),
        position(&format!("set {}", events::event_prefix())),
    ) else {
        return Err(format!("no index or no event written: {writes:?}").into());
    };
    assert!(index < event, "{writes:?}");
    Ok(())
}

#[test]
fn idempotency_key_headers_are_read_quoted_or_bare() {
    assert_eq!(
        idempotency_key("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"").ok(),
        Some("8e03978e-40d5-43e8-bc93-6894a57f9324".to_owned())
    );
    assert_eq!(idempotency_key(" abc-1 ").ok(), Some("abc-1".to_owned()));
    for bad in ["", "\"\"", "\"open", "with space", "é", &"k".repeat(256)] {
        let error = idempotency_key(bad).err();
        assert!(
            matches!(&error, Some(Error::InvalidRequest { field, .. }) if field == "Idempotency-Key"),
            "{bad:?}: {error:?}"
        );
    }
    assert!(
        Begin::InProgress
            .detail()
            .is_some_and(|d| d.contains("still"))
    );
}

#[test]
fn thirty_two_copies_of_one_notification_make_one_event() -> TestResult {
    let store = MemoryStore::new();
    let p = Provider::Pesapal;
    pending_payment(&ledger(&store), p, "INV-1", "TRK-1")?;
    let report = details(p, Some("TRK-1"), None, PaymentStatus::Completed);
    let barrier = Barrier::new(32);
    let created: Vec<Result<Option<Event>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let (store, barrier, report) = (&store, &barrier, &report);
                scope.spawn(move || {
                    let ledger = Ledger::new(
                        store,
                        Config {
                            instance_id: format!("i{i}"),
                            ..Config::default()
                        },
                    );
                    barrier.wait();
                    ledger
                        .observe(report, NOW + 1_000)
                        .map(|recorded| recorded.event)
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let mut events = 0;
    for outcome in created {
        events += usize::from(outcome?.is_some());
    }
    assert_eq!(events, 1);
    // Listed at once, within the settle window: each copy that reserved a
    // number and lost the change sealed its number itself.
    let page = ledger(&store).events(0, 100, NOW + 2_000)?;
    let kinds: Vec<&str> = page.data.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.pending", "payment.completed"]);
    let last = u64::try_from(store.increment(&counter_key(), 0)?)?;
    assert_eq!(page.next_after, last, "the page passed every number");
    Ok(())
}

/// A writer that stored the new state and died before its event: the next
/// report of the same state writes the missing event, once.
#[test]
fn a_missing_event_is_written_by_the_next_report() -> TestResult {
    let store = MemoryStore::new();
    let ledger = ledger(&store);
    let p = Provider::Pesapal;
    pending_payment(&ledger, p, "INV-1", "TRK-1")?;
    let mut record = ledger.by_reference(p, "INV-1")?.ok_or("no record")?;
    record.state = State::Completed;
    store.set(&record.key(), &serde_json::to_vec(&record)?)?;

    let report = details(p, Some("TRK-1"), None, PaymentStatus::Completed);
    let healed = ledger.observe(&report, NOW + 1_000)?;
    assert!(!healed.changed);
    assert_eq!(
        healed.event.map(|e| e.kind),
        Some("payment.completed".to_owned())
    );
    assert_eq!(ledger.observe(&report, NOW + 2_000)?.event, None);
    assert_eq!(ledger.events(0, 10, NOW + 3_000)?.data.len(), 2);
    Ok(())
}

/// Without atomics a duplicate event can be written, but it carries the
/// same id, so a receiver dropping repeated `webhook-id`s sees one.
#[test]
fn event_ids_are_stable_per_state_change() -> TestResult {
    let ledger = ledger(MemoryStore::store_only());
    let p = Provider::Pesapal;
    pending_payment(&ledger, p, "INV-1", "TRK-1")?;
    let record = ledger.by_reference(p, "INV-1")?.ok_or("no record")?;
    let a = events::event_for(&record, 1, NOW).ok_or("no event")?;
    let b = events::event_for(&record, 2, NOW + 5).ok_or("no event")?;
    assert_eq!(a.id, b.id);
    let mut completed = record.clone();
    completed.state = State::Completed;
    let c = events::event_for(&completed, 3, NOW).ok_or("no event")?;
    assert_ne!(a.id, c.id);
    Ok(())
}

/// PesaPal's INV-1, pending, as a call that is moving it to `completed`
/// has it: the record in its new state (not stored), the time of the
/// call's claim, the event's id and the sequence number reserved for it
/// (the counter's next one with atomics, else one from the clock).
fn completing(
    ledger: &Ledger<&MemoryStore>,
) -> Result<(PaymentRecord, u64, String, u64), Box<dyn std::error::Error>> {
    let p = Provider::Pesapal;
    pending_payment(ledger, p, "INV-1", "TRK-1")?;
    let mut record = ledger.by_reference(p, "INV-1")?.ok_or("no record")?;
    record.state = State::Completed;
    let claimed_at = NOW + 1_000;
    let id = events::event_id(&record, State::Completed);
    let store = ledger.store();
    let seq = match store.mode() {
        Mode::Atomic => u64::try_from(store.increment(&counter_key(), 1)?)?,
        Mode::StoreOnly => events::time_seq(claimed_at, &id),
    };
    Ok((record, claimed_at, id, seq))
}

/// After a claim on INV-1's `completed` event made at `claimed_at` by a
/// call that died before writing it: while the claim is fresh its owner may
/// still be writing (no event); older than the TTL with an empty slot, the
/// next report writes event `id`, once; later reports write nothing more.
fn taken_over_once(ledger: &Ledger<&MemoryStore>, claimed_at: u64, id: &str) -> TestResult {
    let mode = ledger.store().mode();
    let ttl = Config::default().claim_ttl_ms;
    let report = details(
        Provider::Pesapal,
        Some("TRK-1"),
        None,
        PaymentStatus::Completed,
    );
    let early = ledger.observe(&report, claimed_at + ttl - 1)?;
    assert_eq!(early.event, None, "{mode:?}: the claim is fresh");
    let late = ledger.observe(&report, claimed_at + ttl)?;
    assert_eq!(
        late.event.map(|e| (e.id, e.kind)),
        Some((id.to_owned(), "payment.completed".to_owned())),
        "{mode:?}"
    );
    for later in [2 * ttl, 100 * ttl] {
        let again = ledger.observe(&report, claimed_at + later)?;
        assert_eq!(
            again.event, None,
            "{mode:?}: a second event after {later} ms"
        );
    }
    let page = ledger.events(0, 10, claimed_at + 200 * ttl)?;
    let kinds: Vec<&str> = page.data.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.pending", "payment.completed"], "{mode:?}");
    Ok(())
}

/// A call that stored the new state, claimed the change's marker (with the
/// number its event was to get) and died before writing the event: after
/// the claim TTL the next report writes the event, once; a claim whose
/// event is in the log is never taken over, however old.
#[test]
fn a_claim_that_died_before_its_event_is_taken_over_once() -> TestResult {
    for store in [MemoryStore::new(), MemoryStore::store_only()] {
        let ledger = ledger(&store);
        let (record, claimed_at, id, seq) = completing(&ledger)?;
        store.set(&record.key(), &serde_json::to_vec(&record)?)?;
        let marker = serde_json::json!({ "claimed_at": claimed_at, "seq": seq });
        store.set(
            &events::change_key(&record, State::Completed),
            marker.to_string().as_bytes(),
        )?;

        taken_over_once(&ledger, claimed_at, &id)?;
    }
    Ok(())
}

/// A claim without its event that is older than the retention (less a
/// day) is left alone: its event may have been purged, which looks the
/// same as never written, and announcing it again would repeat it.
#[test]
fn a_claim_older_than_the_retention_is_not_taken_over() -> TestResult {
    let store = MemoryStore::new();
    let ledger = ledger(&store);
    let p = Provider::Pesapal;
    pending_payment(&ledger, p, "INV-1", "TRK-1")?;
    let record = ledger.by_reference(p, "INV-1")?.ok_or("no record")?;
    // The pending event (seq 1) is purged with age; its claim stays in
    // the record, which is still open.
    store.delete(&event_key(1))?;
    let retention = u64::from(Config::default().retention_days) * 86_400_000;
    let report = details(p, Some("TRK-1"), None, PaymentStatus::Pending);
    let recorded = ledger.observe(&report, NOW + retention)?;
    assert_eq!(recorded.event, None);
    let claim = recorded.record.and_then(|r| r.announcing);
    assert_eq!(claim, record.announcing);
    assert_eq!(claim.map(|c| c.seq), Some(1));
    Ok(())
}

/// The probe that lets a component skip the creation guard tells a store
/// whose CAS makes creates exclusive from one that upserts, and leaves no
/// key behind. On the upserting store two claimers of one key both win
/// when nothing guards the create: what the guard is for.
#[test]
fn the_exclusive_create_probe_tells_the_two_kinds_of_store_apart() -> TestResult {
    let exclusive = MemoryStore::new();
    assert!(cas_creates_exclusively(&exclusive, "probe/1")?);
    assert!(exclusive.dump().is_empty());
    let upserting = MemoryStore::with_upserting_creates();
    assert!(!cas_creates_exclusively(&upserting, "probe/1")?);
    assert!(upserting.dump().is_empty());
    assert!(cas_creates_exclusively(&MemoryStore::store_only(), "probe/1").is_err());

    // Two claimers that both saw the key absent: with the upserting store,
    // both swaps write.
    let (first, _) = upserting.cas_open("k")?;
    let (second, _) = upserting.cas_open("k")?;
    assert!(upserting.cas_swap(first, b"a").is_ok());
    assert!(upserting.cas_swap(second, b"b").is_ok());
    let (first, _) = exclusive.cas_open("k")?;
    let (second, _) = exclusive.cas_open("k")?;
    assert!(exclusive.cas_swap(first, b"a").is_ok());
    assert!(matches!(
        exclusive.cas_swap(second, b"b"),
        Err(CasError::Conflict)
    ));
    Ok(())
}

/// A call that moved the record into a new state (claiming its event in
/// that write) and died before writing the event: the next report after
/// the claim TTL writes it, once, in both modes.
#[test]
fn an_event_claimed_in_the_record_and_never_written_is_written_later_once() -> TestResult {
    for store in [MemoryStore::new(), MemoryStore::store_only()] {
        let ledger = ledger(&store);
        let (mut record, claimed_at, id, seq) = completing(&ledger)?;
        record.announcing = Some(Announcing {
            state: State::Completed,
            seq,
            at: claimed_at,
        });
        store.set(&record.key(), &serde_json::to_vec(&record)?)?;

        taken_over_once(&ledger, claimed_at, &id)?;
    }
    Ok(())
}

/// A call that reserved a number for a change and then lost the change
/// to another call seals its number itself: readers list the winner's
/// event at once instead of waiting for the settle window to pass the gap.
#[test]
fn a_number_reserved_for_a_lost_change_is_sealed_by_its_caller() -> TestResult {
    let store = Arc::new(MemoryStore::new());
    let ledger = ledger(&*store);
    let p = Provider::Pesapal;
    pending_payment(&ledger, p, "INV-1", "TRK-1")?;
    let report = details(p, Some("TRK-1"), None, PaymentStatus::Completed);
    let other = Arc::clone(&store);
    let winner = report.clone();
    store.before_next_write("finconnect/ledger/payment/", move |_| {
        // The same report, by another call, lands first (number 3).
        let _ = super::Ledger::new(&*other, Config::default()).observe(&winner, NOW + 1_000);
    });
    // This call reserved number 2, then lost its write of the record.
    assert_eq!(ledger.observe(&report, NOW + 1_000)?.event, None);
    assert_eq!(store.get(&event_key(2))?.as_deref(), Some(&b"-"[..]));
    let page = ledger.events(0, 10, NOW + 1_001)?;
    let listed: Vec<(u64, &str)> = page.data.iter().map(|e| (e.seq, e.kind.as_str())).collect();
    assert_eq!(listed, [(1, "payment.pending"), (3, "payment.completed")]);
    assert_eq!(page.next_after, 3);
    Ok(())
}

/// A reader seals the number the writer reserved (and claimed in the
/// record) just before the writer writes its event, the writer having
/// stalled longer than the settle window after it (a later event has
/// settled): the event takes the next number, the record's claim follows
/// it, and no later report announces the change again.
#[test]
fn a_sealed_number_moves_the_records_claim_to_the_next_one() -> TestResult {
    let store = Arc::new(MemoryStore::new());
    let ledger = ledger(&*store);
    let p = Provider::Pesapal;
    let settle = Config::default().settle_window_ms;
    let (event, during) = completed_while_a_reader_reads(&store, NOW + settle)?;
    assert!(during.is_some(), "the reader ran");
    assert_eq!(event.seq, 4, "number 2 was sealed by the reader");
    let report = details(p, Some("TRK-1"), None, PaymentStatus::Completed);
    assert_eq!(store.get(&event_key(2))?.as_deref(), Some(&b"-"[..]));
    let record = ledger.by_reference(p, "INV-1")?.ok_or("no record")?;
    assert_eq!(record.announcing.map(|a| a.seq), Some(4));
    let ttl = Config::default().claim_ttl_ms;
    assert_eq!(ledger.observe(&report, NOW + 10 * ttl)?.event, None);
    let page = ledger.events(0, 10, NOW + 20 * ttl)?;
    let listed: Vec<(&str, &str)> = page
        .data
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.payment["reference"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("payment.pending", "INV-1"),
            ("payment.pending", "INV-2"),
            ("payment.completed", "INV-1")
        ]
    );
    Ok(())
}

/// The message Spin's SQLite store gave for a write that found another
/// connection's lock (seen under `spin up` in the Spin suite) is busy;
/// other failures are not, and are never sent again.
#[test]
fn a_locked_sqlite_file_is_busy_and_other_store_errors_are_not() {
    let seen = "SqliteFailure(Error { code: DatabaseBusy, extended_code: 5 }, \
                Some(\"database is locked\"))";
    assert!(StoreError::Other(seen.into()).is_busy());
    assert!(StoreError::busy_message("database is locked"));
    for other in [
        StoreError::Other("disk I/O error".into()),
        StoreError::Other("SqliteFailure(Error { code: DiskFull, extended_code: 13 })".into()),
        StoreError::AccessDenied,
        StoreError::NoSuchStore("database is locked".into()),
        StoreError::Unsupported("increment"),
    ] {
        assert!(!other.is_busy(), "{other:?}");
    }
}

/// Held deliveries spread over 64 keys by their event ids, and requests
/// coming all the time look at each of those keys within 16 seconds.
#[test]
fn held_deliveries_spread_over_64_keys_each_looked_at_within_16_seconds() {
    let keys: std::collections::BTreeSet<String> = (0..1024u32)
        .map(|n| events::held_key(&format!("evt_{n:032x}")))
        .collect();
    assert_eq!(keys.len(), 64);
    let looked: std::collections::BTreeSet<String> =
        (0..64).map(|n| events::looked_at(NOW + n * 250)).collect();
    assert_eq!(looked, keys);
}
