//! The router with the ledger, natively: replays without provider calls,
//! forged notifications refused before any call, events listed in order,
//! and a webhook delivery signed so that the Standard Webhooks check
//! passes, retried after a refusal.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on a ledger that cannot be read"
)]

use super::*;
use crate::ledger::deliver::{WebhookTarget, deliver_due};
use crate::ledger::{Config, Ledger, MemoryStore, WebhookSecret};

const NOW: u64 = 1_796_515_200_000;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn ledger(webhooks: bool) -> Ledger<MemoryStore> {
    Ledger::new(
        MemoryStore::new(),
        Config {
            webhooks,
            ..Config::default()
        },
    )
}

/// One request through the ledgered router, with the provider's replies
/// scripted; no canary may leak into the answer.
pub(super) fn serve<S: crate::ledger::Store>(
    request: Request,
    vars: &BTreeMap<String, String>,
    ledger: &Ledger<S>,
    now: u64,
    script: Vec<Result<(u16, &str), TransportError>>,
) -> (Response, Scripted) {
    let mut transport = Scripted::new(script);
    let response = {
        let mut fc = Finconnect::new(vars, &mut transport);
        handle_ledgered(request, &mut fc, ledger, now)
    };
    assert_no_canary(&response);
    (response, transport)
}

fn pay_clickpesa(ledger: &Ledger<MemoryStore>) -> Response {
    let request = merchant("POST", "/payments", &clickpesa_payment().to_string());
    let (response, transport) = serve(
        request,
        &vars(),
        ledger,
        NOW,
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_PUSH))],
    );
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(transport.seen.len(), 2);
    response
}

#[test]
fn a_repeated_payment_is_replayed_from_the_ledger() {
    let ledger = ledger(false);
    let first = pay_clickpesa(&ledger);
    let request = merchant("POST", "/payments", &clickpesa_payment().to_string());
    let (again, transport) = serve(request, &vars(), &ledger, NOW + 5, vec![]);
    assert!(transport.seen.is_empty());
    assert_eq!(again.status, 201);
    assert_eq!(again.header(crate::ledger::REPLAYED_HEADER), Some("true"));
    assert_eq!(body_json(&again), body_json(&first));
}

#[test]
fn two_idempotency_key_headers_are_refused() {
    let ledger = ledger(false);
    let request = merchant("POST", "/payments", &clickpesa_payment().to_string())
        .with_header("idempotency-key", "a")
        .with_header("idempotency-key", "b");
    let (response, transport) = serve(request, &vars(), &ledger, NOW, vec![]);
    assert_problem(&response, 400, "invalid_request", Some("Idempotency-Key"));
    assert!(transport.seen.is_empty());
}

#[test]
fn a_notification_for_an_unknown_id_calls_no_provider() {
    let ledger = ledger(false);
    let ipn = public(
        "GET",
        "/notifications/pesapal?OrderTrackingId=b945e4af-80a5-4ec1-8706-e03f8332fb04&OrderMerchantReference=X&OrderNotificationType=IPNCHANGE",
        None,
        b"",
    );
    let (response, transport) = serve(ipn, &vars(), &ledger, NOW, vec![]);
    assert!(transport.seen.is_empty());
    assert_eq!(response.status, 200);
    assert_eq!(body_json(&response)["status"], 500);
}

#[test]
fn a_verified_webhook_makes_one_event_and_its_delivery_verifies() {
    let ledger = ledger(true);
    pay_clickpesa(&ledger);
    let mut received = json!({"event": "PAYMENT RECEIVED", "data": {
        "id": "ORDER1LCP1", "status": "SUCCESS", "orderReference": "ORDER1",
        "collectedAmount": "1000", "collectedCurrency": "TZS", "channel": "TIGO-PESA"}});
    sign(CHECKSUM_KEY.as_bytes(), &mut received);
    let mut with_key = vars();
    with_key.insert("clickpesa_checksum_key".into(), CHECKSUM_KEY.into());
    for _ in 0..2 {
        let hook = public(
            "POST",
            "/notifications/clickpesa",
            Some("application/json"),
            received.to_string().as_bytes(),
        );
        let (response, transport) = serve(hook, &with_key, &ledger, NOW + 10, vec![]);
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        assert!(transport.seen.is_empty());
    }
    let page = ledger.events(0, 10, NOW + 20).unwrap();
    let kinds: Vec<&str> = page.data.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.pending", "payment.completed"]);

    // Listed through the route, each with its delivery record.
    let (listed, _) = serve(
        merchant("GET", "/events?after=0&limit=1", ""),
        &vars(),
        &ledger,
        NOW + 20,
        vec![],
    );
    let listed = body_json(&listed);
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["data"][0]["type"], "payment.pending");
    assert_eq!(listed["data"][0]["delivery"]["state"], "scheduled");
    assert_eq!(listed["next_after"], page.data[0].seq);

    // The merchant's endpoint refuses once, then accepts: both events end
    // delivered, the refusal kept among the attempts.
    let mut hooks = vars();
    hooks.insert(
        "finconnect_webhook_url".into(),
        "http://127.0.0.1:9/hooks".into(),
    );
    hooks.insert("finconnect_webhook_secret".into(), SECRET.into());
    let target = WebhookTarget::load(&hooks).unwrap().unwrap();
    let mut transport = Scripted::new(vec![Ok((503, "{}")), Ok((204, ""))]);
    let run = deliver_due(&ledger, &target, &mut transport, NOW + 30).unwrap();
    assert_eq!((run.attempted, run.delivered), (2, 1));
    let secret = WebhookSecret::parse(SECRET).unwrap();
    for request in &transport.seen {
        let header = |name: &str| request.header(name).unwrap_or_default().to_owned();
        let timestamp: u64 = header("webhook-timestamp").parse().unwrap();
        assert!(secret.verify(
            &header("webhook-id"),
            timestamp,
            &request.body,
            &header("webhook-signature")
        ));
    }
    // Not due again before the retry delay; due after it.
    let mut idle = Scripted::new(vec![]);
    let run = deliver_due(&ledger, &target, &mut idle, NOW + 31).unwrap();
    assert_eq!(run.attempted, 0);
    let mut later = Scripted::new(vec![Ok((200, "{}"))]);
    let run = deliver_due(&ledger, &target, &mut later, NOW + 30 + 5_000).unwrap();
    assert_eq!((run.attempted, run.delivered), (1, 1));
    assert!(!ledger.deliveries_due(u64::MAX).unwrap());
    let first = ledger.delivery(&page.data[0].id).unwrap().unwrap();
    assert_eq!(first.attempts.len(), 2, "{first:?}");
    assert_eq!(first.attempts[0].status, Some(503));
}

#[test]
fn a_webhook_url_needs_a_valid_secret_and_its_origin() {
    let mut hooks = vars();
    hooks.insert(
        "finconnect_webhook_url".into(),
        "https://shop.example/hooks".into(),
    );
    let error = WebhookTarget::load(&hooks).unwrap_err();
    assert!(
        error.to_string().contains("finconnect_webhook_secret"),
        "{error}"
    );
    hooks.insert("finconnect_webhook_secret".into(), "not-a-secret".into());
    let error = WebhookTarget::load(&hooks).unwrap_err();
    assert!(error.to_string().contains("whsec_"), "{error}");
    hooks.insert("finconnect_webhook_secret".into(), SECRET.into());
    hooks.insert(
        "finconnect_webhook_origin".into(),
        "https://other.example".into(),
    );
    let error = WebhookTarget::load(&hooks).unwrap_err();
    assert!(
        error.to_string().contains("finconnect_webhook_origin"),
        "{error}"
    );
    hooks.insert(
        "finconnect_webhook_origin".into(),
        "https://shop.example".into(),
    );
    assert!(WebhookTarget::load(&hooks).unwrap().is_some());
    hooks.remove("finconnect_webhook_url");
    assert!(WebhookTarget::load(&hooks).unwrap().is_none());
}

#[test]
fn records_are_listed_and_exported_as_json_lines() {
    let ledger = ledger(false);
    pay_clickpesa(&ledger);
    let (listed, _) = serve(
        merchant("GET", "/payments", ""),
        &vars(),
        &ledger,
        NOW,
        vec![],
    );
    let listed = body_json(&listed);
    assert_eq!(listed["data"][0]["reference"], "ORDER1", "{listed}");
    assert_eq!(listed["data"][0]["status"], "pending", "{listed}");
    let (export, _) = serve(
        merchant("GET", "/payments?format=jsonl", ""),
        &vars(),
        &ledger,
        NOW,
        vec![],
    );
    assert_eq!(export.header("content-type"), Some("application/jsonl"));
    let lines: Vec<Value> = String::from_utf8_lossy(&export.body)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(lines[0]["tracking_id"], "ORDER1LCP1");
    let (bad, _) = serve(
        merchant("GET", "/payments?format=csv", ""),
        &vars(),
        &ledger,
        NOW,
        vec![],
    );
    assert_problem(&bad, 422, "invalid_request", Some("format"));
    // Purging runs at most once per period, whoever asks.
    assert!(ledger.purge_if_due(NOW, 1_000).unwrap().is_some());
    assert!(ledger.purge_if_due(NOW + 999, 1_000).unwrap().is_none());
    assert!(ledger.purge_if_due(NOW + 1_000, 1_000).unwrap().is_some());
}

/// With the host's clock given, what a pay records after the provider
/// answered carries the time it was recorded: the event's `created_at` is
/// after the provider call, not when the request began (a reader judges an
/// empty number's age by the events after it). A clock behind the
/// request's start is not trusted.
#[test]
fn a_pays_event_carries_the_time_it_was_recorded() {
    let ledger = ledger(false);
    let request = merchant("POST", "/payments", &clickpesa_payment().to_string());
    let later = || NOW + 7_000;
    let vars = vars();
    let mut transport = Scripted::new(vec![Ok((200, CP_TOKEN)), Ok((200, CP_PUSH))]);
    let response = {
        let mut fc = Finconnect::new(&vars, &mut transport).with_clock(&later);
        assert_eq!(fc.time_ms(NOW), NOW + 7_000);
        assert_eq!(
            fc.time_ms(NOW + 9_000),
            NOW + 9_000,
            "never before the start"
        );
        handle_ledgered(request, &mut fc, &ledger, NOW)
    };
    assert_eq!(response.status, 201);
    let page = ledger.events(0, 10, NOW + 7_000).unwrap();
    let created: Vec<&str> = page.data.iter().map(|e| e.created_at.as_str()).collect();
    assert_eq!(
        created,
        [crate::ledger::record::rfc3339(NOW + 7_000).as_str()]
    );
    let record = &page.data[0].payment;
    assert_eq!(record["reference"], clickpesa_payment()["reference"]);
}

/// A pay the provider's variables do not allow (a secret missing) is looked
/// up in the ledger first, then gives its claim up: nothing is kept and
/// nothing sent, and the same key goes through once the variable is set.
#[test]
fn a_pay_refused_by_its_variables_keeps_nothing() {
    let ledger = ledger(false);
    let body = pesapal_payment().to_string();
    let mut missing = vars();
    assert!(missing.remove("pesapal_consumer_secret").is_some());
    let request = merchant("POST", "/payments", &body).with_header("idempotency-key", "K-1");
    let (response, transport) = serve(request, &missing, &ledger, NOW, vec![]);
    assert!(transport.seen.is_empty());
    assert_eq!(
        response.status,
        500,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(String::from_utf8_lossy(&response.body).contains("pesapal_consumer_secret"));
    assert_eq!(
        ledger.by_reference(Provider::Pesapal, "ORD-1").unwrap(),
        None
    );
    assert_eq!(
        ledger.by_idempotency_key(Provider::Pesapal, "K-1").unwrap(),
        None
    );

    let request = merchant("POST", "/payments", &body).with_header("idempotency-key", "K-1");
    let (response, transport) = serve(
        request,
        &vars(),
        &ledger,
        NOW + 1,
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))],
    );
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header(crate::ledger::REPLAYED_HEADER), None);
    assert_eq!(transport.seen.len(), 2);
}
