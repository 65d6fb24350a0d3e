//! The payment ledger through the built component in the project's host:
//! idempotent `POST /payments` (replays, reused keys, concurrent requests,
//! ambiguous failures), events from verified notifications (one per
//! change, however often the provider repeats itself), notifications for
//! ids FinConnect never issued refused without a provider call, and
//! `GET /payments/{provider}/{reference}`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::receiver;
use common::*;
use finconnect_sandbox::{Fault, FaultKind, Outcome, Target};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn calls_to(sandbox: &finconnect_sandbox::Sandbox, path: &str) -> usize {
    sandbox.requests().iter().filter(|r| r.path == path).count()
}

fn post_with_key(host: &finconnect_host::Host, body: &Value, key: &str) -> Reply {
    let mut request = request("POST", "/payments", Some(body), Some(API_KEY));
    request
        .headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    send(host, request)
}

#[test]
fn a_retried_payment_is_replayed_without_a_second_provider_call() {
    let (sandbox, host) = start();
    let body = clickpesa_body("IDEM1");
    let first = post(&host, "/payments", &body);
    assert_eq!(first.status, 201, "{first}");
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = post(&host, "/payments", &body);
    assert_eq!(second.status, 201, "{second}");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.json(), first.json());
    assert_eq!(calls_to(&sandbox, CLICKPESA_PUSH), 1);
    assert_eq!(sandbox.clickpesa_payments().len(), 1);

    // The same reference with other terms is refused, naming the reuse.
    let mut other = clickpesa_body("IDEM1");
    other["amount"] = json!("2000");
    let reply = post(&host, "/payments", &other);
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["code"], "idempotency_key_reused");
    assert_eq!(calls_to(&sandbox, CLICKPESA_PUSH), 1);
}

#[test]
fn an_idempotency_key_header_scopes_the_request() {
    let (sandbox, host) = start();
    let first = post_with_key(&host, &clickpesa_body("KEYED1"), "\"order-7f3a\"");
    assert_eq!(first.status, 201, "{first}");
    // The same key with another request: 422, no provider call.
    let reply = post_with_key(&host, &clickpesa_body("KEYED2"), "order-7f3a");
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["code"], "idempotency_key_reused");
    // A key that is not a visible ASCII string is refused by name.
    let reply = post_with_key(&host, &clickpesa_body("KEYED3"), "\"open");
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["field"], "Idempotency-Key");
    assert_eq!(calls_to(&sandbox, CLICKPESA_PUSH), 1);
}

#[test]
fn thirty_two_concurrent_pays_with_one_key_make_one_provider_order() {
    let (sandbox, host) = start();
    let addr = serve(&host);
    let body = clickpesa_body("RACE1").to_string();
    let auth = format!("Bearer {API_KEY}");
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (body, auth) = (&body, &auth);
                scope.spawn(move || {
                    http_over_tcp(
                        addr,
                        "POST",
                        "/payments",
                        &[
                            ("authorization", auth.as_str()),
                            ("content-type", "application/json"),
                            ("idempotency-key", "race-key-1"),
                        ],
                        body.as_bytes(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by_answer: BTreeMap<String, usize> = BTreeMap::new();
    for reply in &replies {
        let answer = match (reply.status, reply.header("idempotent-replayed")) {
            (201, None) => "created".to_owned(),
            (201, Some("true")) => "replayed".to_owned(),
            (409, _) => format!("409 {}", reply.json()["code"].as_str().unwrap_or_default()),
            _ => format!("unexpected: {reply}"),
        };
        *by_answer.entry(answer).or_default() += 1;
    }
    println!("32 concurrent pays, one key: {by_answer:?}");
    assert_eq!(by_answer.get("created"), Some(&1), "{by_answer:?}");
    assert!(
        by_answer
            .keys()
            .all(|answer| ["created", "replayed", "409 request_in_progress"]
                .contains(&answer.as_str())),
        "{by_answer:?}"
    );
    assert_eq!(calls_to(&sandbox, CLICKPESA_PUSH), 1);
    assert_eq!(sandbox.clickpesa_payments().len(), 1);
}

#[test]
fn after_an_ambiguous_failure_a_retry_asks_the_provider_before_paying_again() {
    let (sandbox, host) = start();
    // ClickPesa: the push's answer is cut off; nobody knows if it started.
    sandbox.inject(Fault::once(
        Target::ClickpesaUssdPush,
        FaultKind::ResetMidBody,
    ));
    let reply = post(&host, "/payments", &clickpesa_body("AMBIG1"));
    assert_eq!(reply.status, 502, "{reply}");
    assert_eq!(calls_to(&sandbox, CLICKPESA_PUSH), 1);
    let record = get(&host, "/payments?provider=clickpesa").json();
    assert_eq!(record["data"][0]["status"], "unknown", "{record}");

    // The retry queries by reference first; ClickPesa has no such payment,
    // so the key reopens and the payment is sent once more.
    sandbox.clear_requests();
    let reply = post(&host, "/payments", &clickpesa_body("AMBIG1"));
    assert_eq!(reply.status, 201, "{reply}");
    let calls = provider_calls(&sandbox);
    let query = calls
        .iter()
        .position(|c| c.starts_with("GET /third-parties/payments/AMBIG1"));
    let push = calls.iter().position(|c| c.ends_with(CLICKPESA_PUSH));
    assert!(
        matches!((query, push), (Some(q), Some(p)) if q < p),
        "{calls:?}"
    );

    // PesaPal cannot be asked by reference: its retry is told the outcome
    // is unknown, and nothing is sent.
    let ipn_id = register_pesapal_ipn(&host);
    sandbox.inject(Fault::once(
        Target::PesapalSubmitOrder,
        FaultKind::ResetMidBody,
    ));
    let reply = post(&host, "/payments", &pesapal_body("AMBIG2", &ipn_id));
    assert_eq!(reply.status, 502, "{reply}");
    sandbox.clear_requests();
    let reply = post(&host, "/payments", &pesapal_body("AMBIG2", &ipn_id));
    assert_eq!(reply.status, 409, "{reply}");
    assert_eq!(reply.problem()["code"], "outcome_unknown");
    assert!(
        provider_calls(&sandbox).is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

/// The variables one request read: the difference of two snapshots.
fn reads_since(
    host: &finconnect_host::Host,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    host.variable_reads()
        .into_iter()
        .map(|(name, n)| {
            let earlier = before.get(&name).copied().unwrap_or(0);
            (name, n - earlier)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Each of `names` read once, as [`reads_since`] reports it.
fn each_once(names: &[&str]) -> BTreeMap<String, u64> {
    names.iter().map(|name| ((*name).to_owned(), 1)).collect()
}

/// Under `spin up` every variable read resolves the variable's template
/// through Spin's providers again (its environment provider blocks a
/// runtime thread for each), so a pay reads each variable it needs exactly
/// once, and nothing it does not need: with the ledger on and off, and a
/// replay none of the provider's.
#[test]
fn a_pay_reads_each_variable_it_needs_once() {
    let expected = each_once(&[
        "finconnect_api_key",
        "finconnect_connect_timeout_ms",
        "finconnect_first_byte_timeout_ms",
        "finconnect_ledger",
        "finconnect_token_cache",
        "finconnect_webhook_url",
        "pesapal_base_url",
        "pesapal_consumer_key",
        "pesapal_consumer_secret",
    ]);
    for ledger in ["on", "off"] {
        let (_sandbox, host) = start_with(Default::default(), |b| {
            b.app_variable("finconnect_ledger", ledger)
        });
        let ipn_id = register_pesapal_ipn(&host);
        let before = host.variable_reads();
        let reply = post(
            &host,
            "/payments",
            &pesapal_body(&format!("VARS-{ledger}"), &ipn_id),
        );
        assert_eq!(reply.status, 201, "{reply}");
        assert_eq!(reads_since(&host, &before), expected, "ledger {ledger}");
        if ledger == "on" {
            // A replay is answered from the ledger: it reads none of the
            // provider's variables, and none of those only a provider call
            // needs (the timeouts, the token cache's switch); just the
            // three every request reads before it is routed.
            let before = host.variable_reads();
            let reply = post(&host, "/payments", &pesapal_body("VARS-on", &ipn_id));
            assert_eq!(reply.status, 201, "{reply}");
            assert_eq!(reply.header("idempotent-replayed"), Some("true"));
            let replay = each_once(&[
                "finconnect_api_key",
                "finconnect_ledger",
                "finconnect_webhook_url",
            ]);
            assert_eq!(reads_since(&host, &before), replay);
            // So does a list of events.
            let before = host.variable_reads();
            let reply = get(&host, "/events");
            assert_eq!(reply.status, 200, "{reply}");
            assert_eq!(reads_since(&host, &before), replay);
        }
    }
}

#[test]
fn one_event_per_verified_change_however_often_the_ipn_comes() {
    let (sandbox, host) = start();
    let addr = serve(&host);
    let reply = post(
        &host,
        "/ipn-registrations",
        &ipn_body(&format!("http://{addr}/notifications/pesapal"), "GET"),
    );
    let ipn_id = reply.json()["ipn_id"].as_str().unwrap().to_owned();
    let reply = post(&host, "/payments", &pesapal_body("EVT1", &ipn_id));
    assert_eq!(reply.status, 201, "{reply}");
    let tracking_id = reply.json()["tracking_id"].as_str().unwrap().to_owned();
    assert_eq!(kinds(&events(&host, 0)), ["payment.pending EVT1"]);

    let delivery = sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    // The provider repeats the IPN: still one `completed` event, and the
    // repeat is answered from the ledger without asking PesaPal again.
    sandbox.clear_requests();
    let target = delivery.url.clone().unwrap();
    let target = target.split_once(&addr.to_string()).unwrap().1.to_owned();
    for _ in 0..3 {
        let again = http_over_tcp(addr, "GET", &target, &[], &[]);
        assert_eq!(again.status, 200, "{again}");
        assert_eq!(again.body, delivery.body.as_bytes());
    }
    assert!(
        provider_calls(&sandbox).is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
    let listed = events(&host, 0);
    assert_eq!(
        kinds(&listed),
        ["payment.pending EVT1", "payment.completed EVT1"]
    );
    let seqs: Vec<u64> = listed.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs[0] < seqs[1], "{seqs:?}");
    assert_eq!(events(&host, seqs[0]).len(), 1);
    assert_eq!(listed[1]["payment"]["tracking_id"], tracking_id.as_str());
    assert_eq!(listed[1]["payment"]["amount"], "1500.00");

    // The status route takes the merchant reference too, and answers the
    // record next to the provider's facts.
    let reply = get(&host, "/payments/pesapal/EVT1");
    assert_eq!(reply.status, 200, "{reply}");
    let details = reply.json();
    assert_eq!(details["status"], "completed", "{details}");
    assert_eq!(details["record"]["status"], "completed", "{details}");
    assert_eq!(details["record"]["reference"], "EVT1", "{details}");
}

#[test]
fn notifications_for_ids_finconnect_never_issued_cost_no_provider_call() {
    let config = finconnect_sandbox::SandboxConfig {
        clickpesa_checksum_key: Some("forgery-test-checksum-key".into()),
        ..Default::default()
    };
    let (sandbox, host) = start_with(config, |b| {
        b.app_variable("clickpesa_checksum_key", "forgery-test-checksum-key")
    });
    let forged = 1000;
    let mut refused = 0;
    for n in 0..forged {
        let target = format!(
            "/notifications/pesapal?OrderTrackingId=00000000-0000-4000-8000-{n:012}&OrderMerchantReference=X{n}&OrderNotificationType=IPNCHANGE"
        );
        let reply = send(&host, request("GET", &target, None, None));
        // PesaPal's acknowledgement with status 500: not accepted.
        let ack = reply.json();
        if ack["status"] == 500 {
            refused += 1;
        }
    }
    // A correctly signed ClickPesa webhook for a reference nobody paid.
    let mut webhook = json!({
        "event": "PAYMENT RECEIVED",
        "data": {"orderReference": "NEVERPAID1", "status": "SUCCESS", "collectedAmount": "1000",
                 "collectedCurrency": "TZS", "channel": "TIGO-PESA", "id": "LEDGERX1"}
    });
    sign_clickpesa(b"forgery-test-checksum-key", &mut webhook);
    let reply = send(
        &host,
        request("POST", "/notifications/clickpesa", Some(&webhook), None),
    );
    assert_ne!(reply.status, 200, "{reply}");
    // A Daraja callback for a CheckoutRequestID nobody started.
    let callback = json!({"Body": {"stkCallback": {
        "MerchantRequestID": "1-2-3", "CheckoutRequestID": "ws_CO_000000000000000000001",
        "ResultCode": 0, "ResultDesc": "The service request is processed successfully."}}});
    let reply = send(
        &host,
        request("POST", "/notifications/mpesa", Some(&callback), None),
    );
    assert_ne!(reply.json()["ResultCode"], 0, "{reply}");

    println!(
        "{forged} forged PesaPal IPNs: {refused} refused; provider requests: {}",
        sandbox.requests().len()
    );
    assert_eq!(refused, forged);
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
    assert!(events(&host, 0).is_empty());
}

use receiver::WEBHOOK_SECRET;

/// A sandbox, and a host whose webhooks go to `receiver`, served over TCP
/// so the sandbox can deliver ClickPesa webhooks to it.
fn with_webhooks(
    receiver: &receiver::Receiver,
) -> (
    finconnect_sandbox::Sandbox,
    finconnect_host::Host,
    std::net::SocketAddr,
) {
    let (sandbox, host) = start_with(Default::default(), |b| {
        b.app_variable("finconnect_webhook_url", receiver.url())
            .app_variable("finconnect_webhook_origin", receiver.origin())
            .app_variable("finconnect_webhook_secret", WEBHOOK_SECRET)
    });
    let addr = serve(&host);
    sandbox.set_clickpesa_webhook_url(Some(format!("http://{addr}/notifications/clickpesa")));
    (sandbox, host, addr)
}

fn wait_accepted(receiver: &receiver::Receiver, n: usize) -> Vec<receiver::Received> {
    receiver
        .wait_for(std::time::Duration::from_secs(20), |got| {
            got.iter().filter(|r| r.accepted()).count() >= n
        })
        .into_iter()
        .filter(|r| r.accepted())
        .collect()
}

#[test]
fn every_event_reaches_the_merchant_signed_so_standardwebhooks_verifies_it() {
    let Some(receiver) = receiver::Receiver::start("ledger webhooks", WEBHOOK_SECRET) else {
        return;
    };
    let (sandbox, host, addr) = with_webhooks(&receiver);
    let reply = post(&host, "/payments", &clickpesa_body("HOOKED1"));
    assert_eq!(reply.status, 201, "{reply}");
    // ClickPesa settles and posts its (unsigned) webhook to FinConnect,
    // which confirms it with a query, records `completed` and tells the
    // merchant.
    let delivery = sandbox
        .settle_clickpesa("HOOKED1", Outcome::Completed)
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let got = wait_accepted(&receiver, 2);
    assert!(receiver.received().iter().all(|r| r.verified), "{got:#?}");
    let listed = events(&host, 0);
    assert_eq!(
        kinds(&listed),
        ["payment.pending HOOKED1", "payment.completed HOOKED1"]
    );
    for (event, delivered) in listed.iter().zip(&got) {
        assert_eq!(delivered.id.as_deref(), event["id"].as_str());
        assert_eq!(delivered.body["type"], event["type"]);
        assert_eq!(delivered.body["seq"], event["seq"]);
        assert_eq!(
            delivered.body["payment"]["status"],
            event["payment"]["status"]
        );
    }
    // Each event shows its delivery.
    let listed = events(&host, 0);
    for event in &listed {
        assert_eq!(event["delivery"]["state"], "delivered", "{event}");
        assert_eq!(event["delivery"]["attempts"][0]["status"], 204, "{event}");
    }
    // The same webhook again: no new event, nothing more delivered.
    let again = http_over_tcp(
        addr,
        "POST",
        "/notifications/clickpesa",
        &[("content-type", "application/json")],
        delivery.request_body.as_bytes(),
    );
    assert_eq!(again.status, 200, "{again}");
    assert_eq!(events(&host, 0).len(), 2);
    assert_eq!(receiver.accepted().len(), 2);
}

#[test]
fn a_refusing_endpoint_gets_every_event_once_it_is_back() {
    let Some(receiver) = receiver::Receiver::start("ledger webhook retries", WEBHOOK_SECRET) else {
        return;
    };
    let (_sandbox, host, _) = with_webhooks(&receiver);
    receiver.refuse_all(true);
    let reply = post(&host, "/payments", &clickpesa_body("DOWN1"));
    assert_eq!(reply.status, 201, "{reply}");
    receiver.wait_for(std::time::Duration::from_secs(20), |got| !got.is_empty());
    let listed = events(&host, 0);
    let event = &listed[0];
    assert_eq!(event["delivery"]["state"], "scheduled", "{event}");
    assert_eq!(event["delivery"]["attempts"][0]["status"], 503, "{event}");
    let event_id = event["id"].as_str().unwrap().to_owned();

    // Back up: the next request after the 5-second retry delay delivers it.
    receiver.refuse_all(false);
    std::thread::sleep(std::time::Duration::from_millis(5_200));
    assert_eq!(get(&host, "/events").status, 200);
    let got = wait_accepted(&receiver, 1);
    assert_eq!(got[0].id.as_deref(), Some(event_id.as_str()));
    let listed = events(&host, 0);
    assert_eq!(listed[0]["delivery"]["state"], "delivered", "{}", listed[0]);
    assert_eq!(
        listed[0]["delivery"]["attempts"].as_array().map(Vec::len),
        Some(2)
    );

    // Sent again by hand: the same id, a third attempt on record.
    let reply = post(&host, &format!("/events/{event_id}/deliveries"), &json!({}));
    assert_eq!(reply.status, 202, "{reply}");
    let got = wait_accepted(&receiver, 2);
    assert_eq!(got[1].id.as_deref(), Some(event_id.as_str()));
    let reply = post(&host, "/events/evt_nosuchevent/deliveries", &json!({}));
    assert_eq!(reply.status, 404, "{reply}");
}

#[test]
fn payments_and_events_survive_a_restart_of_the_host() {
    let dir =
        std::env::temp_dir().join(format!("finconnect-ledger-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("keyvalue.sqlite");
    let sandbox = finconnect_sandbox::Sandbox::start(Default::default()).unwrap();
    let first = build(builder(&sandbox).keyvalue_file(&file));
    let reply = post(&first, "/payments", &clickpesa_body("RESTART1"));
    assert_eq!(reply.status, 201, "{reply}");
    drop(first);

    // A new host on the same file: the payment is known (a retry is a
    // replay), and its notification is accepted and becomes an event.
    let second = build(builder(&sandbox).keyvalue_file(&file));
    sandbox.clear_requests();
    let again = post(&second, "/payments", &clickpesa_body("RESTART1"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"), "{again}");
    assert_eq!(calls_to(&sandbox, CLICKPESA_PUSH), 0);
    let addr = serve(&second);
    sandbox.set_clickpesa_webhook_url(Some(format!("http://{addr}/notifications/clickpesa")));
    let delivery = sandbox
        .settle_clickpesa("RESTART1", Outcome::Completed)
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    assert_eq!(
        kinds(&events(&second, 0)),
        ["payment.pending RESTART1", "payment.completed RESTART1"]
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_store_only_build_keeps_the_ledger_without_atomics() {
    let Some(wasm) = store_only_wasm() else {
        println!(
            "*** SKIPPED: the keyvalue-store-only build is missing (cargo xtask test builds it) ***"
        );
        return;
    };
    let sandbox = finconnect_sandbox::Sandbox::start(Default::default()).unwrap();
    let host = build(builder_for(&wasm, &sandbox, &sandbox.config()).without_keyvalue_atomics());
    let imports: Vec<String> = {
        let ty = host.component().component_type();
        ty.imports(host.engine())
            .map(|(name, _)| name.to_owned())
            .collect()
    };
    assert!(
        !imports
            .iter()
            .any(|name| name.starts_with("wasi:keyvalue/atomics")),
        "{imports:?}"
    );
    let reply = post(&host, "/payments", &clickpesa_body("NOATOM1"));
    assert_eq!(reply.status, 201, "{reply}");
    let again = post(&host, "/payments", &clickpesa_body("NOATOM1"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"), "{again}");
    assert_eq!(calls_to(&sandbox, CLICKPESA_PUSH), 1);
    // Events are numbered by time and listed once they are 5 s old.
    assert!(events(&host, 0).is_empty());
    std::thread::sleep(std::time::Duration::from_millis(5_200));
    let listed = events(&host, 0);
    assert_eq!(kinds(&listed), ["payment.pending NOATOM1"]);
    assert!(listed[0]["seq"].as_u64().unwrap() > 1_000_000_000_000_000);

    // The default build, which imports atomics, does not even link here.
    let error = builder(&sandbox).without_keyvalue_atomics().build();
    assert!(error.is_err(), "the default build linked without atomics");
}

/// A copy of spin.toml, written to `dir/file`, whose `key_value_stores`
/// line is replaced by `stores`: its path.
fn manifest_with_stores(dir: &std::path::Path, file: &str, stores: &str) -> std::path::PathBuf {
    let manifest = std::fs::read_to_string(std::path::Path::new(ROOT).join("spin.toml")).unwrap();
    let line = "key_value_stores = [\"default\"]\n";
    assert!(
        manifest.contains(line),
        "spin.toml grants the default store"
    );
    let path = dir.join(file);
    std::fs::write(&path, manifest.replace(line, stores)).unwrap();
    path
}

/// A copy of spin.toml without `key_value_stores`, in a directory of its
/// own (removed by the caller): the directory and the manifest's path.
fn manifest_granting_no_store(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("finconnect-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = manifest_with_stores(&dir, "spin.toml", "");
    (dir, path)
}

/// The host grants the stores the manifest lists in `key_value_stores`, as
/// `spin up` does. FinConnect's HTTP face needs the ledger, so a manifest
/// granting none gets 503 `ledger_unavailable` naming the setting, with no
/// provider call, under either.
#[test]
fn a_manifest_granting_no_store_is_refused_like_spin() {
    let (dir, path) = manifest_granting_no_store("no-store");

    let sandbox = finconnect_sandbox::Sandbox::start(Default::default()).unwrap();
    let host = build(builder(&sandbox).manifest(&path));
    for reply in [
        post(&host, "/payments", &clickpesa_body("NOSTORE1")),
        get(&host, "/payments?provider=clickpesa"),
    ] {
        assert_store_not_granted(&reply);
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
    assert_eq!(host.key_value_keys("default"), None);

    // A store the host does not have is refused when the host is built.
    let other = manifest_with_stores(&dir, "other.toml", "key_value_stores = [\"sessions\"]\n");
    let refused = builder(&sandbox).manifest(&other).build();
    let message = format!("{:#}", refused.expect_err("an unknown store is refused"));
    assert!(message.contains("\"sessions\""), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `finconnect_ledger = off` (and no store granted): pays and provider
/// reads are passed through with nothing recorded, so a repeated pay
/// reaches the provider again; `Idempotency-Key` and the ledger's routes
/// answer 503 naming the variable, with no provider call. A value other
/// than `on`/`off`, or a webhook URL with the ledger off, is refused
/// naming the variable at fault. tests/spin.rs checks the same under Spin.
#[test]
fn with_the_ledger_off_pays_pass_through_and_ledger_features_say_why() {
    let (dir, path) = manifest_granting_no_store("ledger-off");

    let sandbox = finconnect_sandbox::Sandbox::start(Default::default()).unwrap();
    let off = |value: &str| {
        builder(&sandbox)
            .manifest(&path)
            .app_variable("finconnect_ledger", value)
    };
    let host = build(off("off"));
    let reply = post(&host, "/payments", &clickpesa_body("LEDGEROFF1"));
    assert_eq!(reply.status, 201, "{reply}");
    assert_eq!(reply.json()["status"], "pending", "{reply}");
    // Nothing is recorded, so a repeat is not answered from a ledger: it
    // reaches ClickPesa, which refuses a reused order reference itself.
    let again = post(&host, "/payments", &clickpesa_body("LEDGEROFF1"));
    assert_eq!(again.status, 502, "{again}");
    assert_eq!(again.json()["provider_status"], 409, "{again}");
    assert_eq!(again.header("idempotent-replayed"), None, "{again}");
    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {CLICKPESA_TOKEN}"),
            format!("POST {CLICKPESA_PUSH}"),
            format!("POST {CLICKPESA_TOKEN}"),
            format!("POST {CLICKPESA_PUSH}"),
        ]
    );
    let status = get(&host, "/payments/clickpesa/LEDGEROFF1");
    assert_eq!(status.status, 200, "{status}");
    assert_eq!(status.json()["reference"], "LEDGEROFF1", "{status}");
    let before = sandbox.requests().len();
    assert_needs_the_ledger(&post_with_key(&host, &clickpesa_body("LEDGEROFF2"), "k-1"));
    for route in ["/payments?provider=clickpesa", "/events"] {
        assert_needs_the_ledger(&get(&host, route));
    }
    assert_eq!(
        sandbox.requests().len(),
        before,
        "{:?}",
        provider_calls(&sandbox)
    );
    assert_eq!(host.key_value_keys("default"), None);

    let wrong = build(off("maybe"));
    let reply = post(&wrong, "/payments", &clickpesa_body("LEDGEROFF3"));
    assert_eq!(reply.status, 500, "{reply}");
    assert!(reply.text().contains("finconnect_ledger"), "{reply}");
    let webhooks =
        build(off("off").app_variable("finconnect_webhook_url", "https://merchant.example/hooks"));
    let reply = post(&webhooks, "/payments", &clickpesa_body("LEDGEROFF4"));
    assert_eq!(reply.status, 500, "{reply}");
    assert!(reply.text().contains("finconnect_webhook_url"), "{reply}");
    assert_eq!(
        sandbox.requests().len(),
        before,
        "{:?}",
        provider_calls(&sandbox)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
