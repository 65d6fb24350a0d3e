//! The payout routes: off unless switched on, their own key, typed
//! refusals, idempotent creation through the ledger, verified webhooks.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on a ledger that cannot be read"
)]

use super::*;
use crate::ledger::{Config, Ledger, MemoryStore};

const PAYOUTS_KEY: &str = "canary-payouts-key";
const NOW: u64 = 1_796_515_200_000;
const CREATED: &str = r#"{"id":"PAY1LCP1","orderReference":"PAY1","amount":"1047.10","currency":"TZS","fee":"47.10","status":"AUTHORIZED","channel":"MOBILE MONEY","channelProvider":"TIGO PESA","beneficiary":{"accountNumber":"255712345678","accountName":"John Doe"},"clientId":"canary-cp-client"}"#;
const PREVIEW: &str = r#"{"amount":1047.1,"balance":2000,"channelProvider":"TIGO PESA","fee":47.1,"exchanged":false,"order":{"amount":1000,"currency":"TZS","id":"PAY1"},"payoutFeeBearer":"merchant","receiver":{"accountName":"John Doe","accountNumber":"255712345678","accountCurrency":"TZS","amount":1000}}"#;

fn on() -> BTreeMap<String, String> {
    let mut vars = vars();
    vars.insert("finconnect_payouts".into(), "on".into());
    vars.insert("finconnect_payouts_api_key".into(), PAYOUTS_KEY.into());
    vars
}

fn payout_body() -> String {
    json!({
        "provider": "clickpesa",
        "reference": "PAY1",
        "amount": "1000",
        "currency": "TZS",
        "destination": {"type": "mobile_money", "phone": "255712345678"}
    })
    .to_string()
}

fn with_key(method: &str, path: &str, body: &str, key: &str) -> Request {
    Request::new(method, path)
        .with_header("authorization", format!("Bearer {key}"))
        .with_header("content-type", "application/json")
        .with_body(body)
}

fn payouts(method: &str, path: &str, body: &str) -> Request {
    with_key(method, path, body, PAYOUTS_KEY)
}

fn ledgered(
    request: Request,
    vars: &BTreeMap<String, String>,
    ledger: &Ledger<MemoryStore>,
    script: Vec<Reply>,
) -> (Response, Scripted) {
    let mut transport = Scripted::new(script);
    let response = {
        let mut fc = Finconnect::new(vars, &mut transport);
        handle_ledgered(request, &mut fc, ledger, NOW)
    };
    assert_no_canary(&response);
    (response, transport)
}

#[test]
fn payouts_are_off_until_switched_on_and_nobody_is_called() {
    let mut vars = vars();
    vars.insert("finconnect_payouts_api_key".into(), PAYOUTS_KEY.into());
    for (method, path) in [
        ("POST", "/payouts"),
        ("POST", "/payouts/previews"),
        ("GET", "/balances?provider=clickpesa"),
        ("GET", "/banks?provider=clickpesa"),
        ("GET", "/payouts/clickpesa/PAY1"),
        ("POST", "/bank-account-verifications"),
        ("POST", "/notifications/clickpesa/payouts"),
    ] {
        let (response, transport) = run(payouts(method, path, &payout_body()), &vars, vec![]);
        assert_problem(&response, 422, "unsupported", None);
        assert!(
            body_json(&response)["detail"]
                .as_str()
                .is_some_and(|d| d.contains("finconnect_payouts")),
            "{path}"
        );
        assert!(transport.seen.is_empty());
    }
}

#[test]
fn the_merchant_key_does_not_open_payouts() {
    let vars = on();
    for key in [API_KEY, "wrong"] {
        let (response, transport) = run(
            with_key("POST", "/payouts", &payout_body(), key),
            &vars,
            vec![],
        );
        assert_problem(&response, 401, "unauthorized", None);
        assert!(transport.seen.is_empty());
    }
    let (response, transport) = run(
        Request::new("GET", "/balances?provider=clickpesa"),
        &vars,
        vec![],
    );
    assert_problem(&response, 401, "unauthorized", None);
    assert!(transport.seen.is_empty());
    // Payout key unset, or the same as the merchant key: closed.
    let mut unset = on();
    unset.remove("finconnect_payouts_api_key");
    let (response, _) = run(payouts("POST", "/payouts", &payout_body()), &unset, vec![]);
    assert_problem(&response, 503, "not_configured", None);
    let mut same = on();
    same.insert("finconnect_payouts_api_key".into(), API_KEY.into());
    let (response, transport) = run(
        with_key("POST", "/payouts", &payout_body(), API_KEY),
        &same,
        vec![],
    );
    assert_problem(&response, 503, "not_configured", None);
    assert!(transport.seen.is_empty());
    // And the payout key opens no merchant route.
    let (response, _) = run(
        payouts("GET", "/ipn-registrations?provider=pesapal", ""),
        &vars,
        vec![],
    );
    assert_problem(&response, 401, "unauthorized", None);
}

#[test]
fn a_preview_answers_fee_total_receiver_and_balance() {
    let (response, transport) = run(
        payouts("POST", "/payouts/previews", &payout_body()),
        &on(),
        vec![Ok((200, CP_TOKEN)), Ok((200, PREVIEW))],
    );
    assert_eq!(response.status, 200, "{}", body_json(&response));
    let body = body_json(&response);
    assert_eq!(body["total"], json!("1047.10"));
    assert_eq!(body["fee"], json!("47.10"));
    assert_eq!(body["amount"], json!("1000.00"));
    assert_eq!(body["balance"], json!("2000.00"));
    assert_eq!(body["receiver_name"], json!("John Doe"));
    assert_eq!(
        transport.paths(),
        [
            "POST /third-parties/generate-token",
            "POST /third-parties/payouts/preview-mobile-money-payout"
        ]
    );
}

#[test]
fn invalid_payouts_and_other_providers_call_nobody() {
    let mut bad: Value = serde_json::from_str(&payout_body()).unwrap();
    bad["destination"]["phone"] = json!("0712345678");
    let (response, transport) = run(payouts("POST", "/payouts", &bad.to_string()), &on(), vec![]);
    assert_problem(&response, 422, "invalid_request", Some("phone"));
    assert!(transport.seen.is_empty());
    let mut kind: Value = serde_json::from_str(&payout_body()).unwrap();
    kind["destination"]["type"] = json!("card");
    let (response, _) = run(
        payouts("POST", "/payouts", &kind.to_string()),
        &on(),
        vec![],
    );
    assert_problem(&response, 422, "invalid_request", Some("destination.type"));
    for provider in ["pesapal", "mpesa"] {
        let mut other: Value = serde_json::from_str(&payout_body()).unwrap();
        other["provider"] = json!(provider);
        let (response, transport) = run(
            payouts("POST", "/payouts", &other.to_string()),
            &on(),
            vec![],
        );
        assert_problem(&response, 422, "unsupported", None);
        assert!(transport.seen.is_empty());
    }
}

#[test]
fn refusals_are_typed() {
    let (response, _) = run(
        payouts("POST", "/payouts", &payout_body()),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                400,
                r#"{"message":"Insufficient balance: available balance is 500 TZS"}"#,
            )),
        ],
    );
    assert_problem(&response, 422, "insufficient_balance", None);
    let body = body_json(&response);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("500.00")
    );
    assert_eq!(body["provider"], json!("clickpesa"));
    let (response, _) = run(
        payouts("POST", "/payouts", &payout_body()),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                400,
                r#"{"message":"Payout request is already in progress, please retry after 45 seconds"}"#,
            )),
        ],
    );
    assert_problem(&response, 409, "payout_cooldown", None);
    assert_eq!(response.header("retry-after"), Some("45"));
    let (response, _) = run(
        payouts("POST", "/payouts", &payout_body()),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                409,
                r#"{"message":"Order reference PAY1 already used: Create a different reference"}"#,
            )),
        ],
    );
    assert_problem(&response, 409, "reference_reused", None);
}

#[test]
fn one_key_makes_one_provider_payout() {
    let ledger = Ledger::new(MemoryStore::new(), Config::default());
    let vars = on();
    let request =
        || payouts("POST", "/payouts", &payout_body()).with_header("idempotency-key", "k-1");
    let (first, transport) = ledgered(
        request(),
        &vars,
        &ledger,
        vec![Ok((200, CP_TOKEN)), Ok((200, CREATED))],
    );
    assert_eq!(first.status, 201, "{}", body_json(&first));
    assert_eq!(transport.seen.len(), 2);
    assert_eq!(body_json(&first)["status"], json!("authorized"));
    let (again, transport) = ledgered(request(), &vars, &ledger, vec![]);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(body_json(&again), body_json(&first));
    assert!(transport.seen.is_empty());
    // The same key with another amount is refused without a call.
    let mut other: Value = serde_json::from_str(&payout_body()).unwrap();
    other["amount"] = json!("2000");
    let (reused, transport) = ledgered(
        payouts("POST", "/payouts", &other.to_string()).with_header("idempotency-key", "k-1"),
        &vars,
        &ledger,
        vec![],
    );
    assert_problem(&reused, 422, "idempotency_key_reused", None);
    assert!(transport.seen.is_empty());
    // The created payout was announced.
    let page = ledger.events(0, 10, NOW).unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].kind, "payout.authorized");
}

#[test]
fn a_refusal_frees_the_key() {
    let ledger = Ledger::new(MemoryStore::new(), Config::default());
    let vars = on();
    let (refused, _) = ledgered(
        payouts("POST", "/payouts", &payout_body()),
        &vars,
        &ledger,
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                400,
                r#"{"message":"Insufficient balance: available balance is 0 TZS"}"#,
            )),
        ],
    );
    assert_problem(&refused, 422, "insufficient_balance", None);
    let (created, transport) = ledgered(
        payouts("POST", "/payouts", &payout_body()),
        &vars,
        &ledger,
        vec![Ok((200, CP_TOKEN)), Ok((200, CREATED))],
    );
    assert_eq!(created.status, 201);
    assert_eq!(transport.seen.len(), 2);
}

fn webhook_body(status: &str) -> Value {
    json!({
        "event": "PAYOUT INITIATED",
        "data": {
            "id": "PAY1LCP1", "orderReference": "PAY1", "amount": "1047.10",
            "currency": "TZS", "fee": "47.10", "status": status,
            "channel": "MOBILE MONEY", "channelProvider": "TIGO PESA",
            "beneficiary": {"accountNumber": "255712345678", "accountName": "John Doe"}
        }
    })
}

#[test]
fn a_forged_payout_webhook_makes_no_event_and_a_signed_one_does() {
    let ledger = Ledger::new(MemoryStore::new(), Config::default());
    let mut vars = on();
    vars.insert("clickpesa_checksum_key".into(), CHECKSUM_KEY.into());
    let mut forged = webhook_body("SUCCESS");
    sign(b"attacker-key", &mut forged);
    let request = |body: &Value| {
        Request::new("POST", "/notifications/clickpesa/payouts")
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
    };
    let (response, transport) = ledgered(request(&forged), &vars, &ledger, vec![]);
    assert_problem(&response, 401, "unauthorized", Some("checksum"));
    assert!(transport.seen.is_empty());
    let (response, _) = ledgered(request(&webhook_body("SUCCESS")), &vars, &ledger, vec![]);
    assert_problem(&response, 401, "unauthorized", Some("checksum"));
    assert!(ledger.events(0, 10, NOW).unwrap().data.is_empty());
    let mut signed = webhook_body("SUCCESS");
    sign(CHECKSUM_KEY.as_bytes(), &mut signed);
    let (response, transport) = ledgered(request(&signed), &vars, &ledger, vec![]);
    assert_eq!(response.status, 200, "{}", body_json(&response));
    assert_eq!(body_json(&response)["verified"], json!(true));
    assert!(transport.seen.is_empty());
    let events = ledger.events(0, 10, NOW).unwrap().data;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "payout.succeeded");
    // The same webhook again: no second event.
    let _ = ledgered(request(&signed), &vars, &ledger, vec![]);
    assert_eq!(ledger.events(0, 10, NOW).unwrap().data.len(), 1);
}

#[test]
fn an_unsigned_payout_webhook_is_confirmed_by_a_query() {
    let ledger = Ledger::new(MemoryStore::new(), Config::default());
    let request = Request::new("POST", "/notifications/clickpesa/payouts")
        .with_header("content-type", "application/json")
        .with_body(webhook_body("SUCCESS").to_string());
    let (response, transport) = ledgered(
        request,
        &on(),
        &ledger,
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                200,
                r#"[{"id":"PAY1LCP1","orderReference":"PAY1","status":"REVERSED","amount":"1047.10"}]"#,
            )),
        ],
    );
    assert_eq!(response.status, 200, "{}", body_json(&response));
    assert_eq!(body_json(&response)["status"], json!("reversed"));
    assert_eq!(transport.paths()[1], "GET /third-parties/payouts/PAY1");
    let events = ledger.events(0, 10, NOW).unwrap().data;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "payout.reversed");
}

#[test]
fn queries_banks_verification_and_balances() {
    let ledger = Ledger::new(MemoryStore::new(), Config::default());
    let (response, _) = ledgered(
        payouts("GET", "/payouts/clickpesa/PAY1", ""),
        &on(),
        &ledger,
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                200,
                r#"[{"id":"PAY1LCP1","orderReference":"PAY1","status":"SUCCESS","settlementType":"ACH"}]"#,
            )),
        ],
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        body_json(&response)["data"][0]["transfer_type"],
        json!("ACH")
    );
    assert_eq!(
        ledger.events(0, 10, NOW).unwrap().data[0].kind,
        "payout.succeeded"
    );
    let (response, _) = run(
        payouts("GET", "/banks?provider=clickpesa", ""),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((200, r#"[{"name":"CRDB","bic":"CORUTZTZ"}]"#)),
        ],
    );
    assert_eq!(
        body_json(&response)["data"],
        json!([{"name":"CRDB","bic":"CORUTZTZ"}])
    );
    let (response, transport) = run(
        payouts(
            "POST",
            "/bank-account-verifications",
            r#"{"provider":"clickpesa","account_number":"0150000000001","bic":"CORUTZTZ"}"#,
        ),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((200, r#"{"accountName":"TEMBO SHOP"}"#)),
        ],
    );
    assert_eq!(body_json(&response)["account_name"], json!("TEMBO SHOP"));
    assert_eq!(
        transport.paths()[1],
        "POST /third-parties/payouts/verify-bank-account"
    );
    let (response, _) = run(
        payouts("GET", "/balances?provider=clickpesa", ""),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                404,
                r#"{"message":"No balance account is linked to this merchant yet. Balance becomes available after the first successful payment or deposit."}"#,
            )),
        ],
    );
    assert_eq!(response.status, 200);
    assert_eq!(body_json(&response)["balances"], json!([]));
    assert!(
        body_json(&response)["message"]
            .as_str()
            .is_some_and(|m| m.contains("No balance"))
    );
}

#[test]
fn listing_statement_and_rates() {
    let (response, transport) = run(
        payouts(
            "GET",
            "/payouts?provider=clickpesa&status=SUCCESS&limit=10",
            "",
        ),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                200,
                r#"{"data":[{"id":"A","orderReference":"P1","status":"SUCCESS","amount":"1047.10"}],"totalCount":1}"#,
            )),
        ],
    );
    assert_eq!(response.status, 200, "{}", body_json(&response));
    assert_eq!(body_json(&response)["total_count"], json!(1));
    assert_eq!(
        body_json(&response)["data"][0]["status"],
        json!("succeeded")
    );
    assert_eq!(
        transport.seen[1].url,
        "http://127.0.0.1:9/third-parties/payouts/all?status=SUCCESS&limit=10"
    );
    // A bad filter is named before any call.
    let (response, transport) = run(
        payouts(
            "GET",
            "/payouts?provider=clickpesa&start_date=yesterday",
            "",
        ),
        &on(),
        vec![],
    );
    assert_problem(&response, 422, "invalid_request", Some("start_date"));
    assert!(transport.seen.is_empty());
    let (response, _) = run(
        payouts("GET", "/statements?provider=clickpesa&currency=TZS", ""),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                200,
                r#"{"accountDetails":{"currency":"TZS","openingBalance":0,"closingBalance":952.9},"transactions":[{"entry":"Debit","amount":1047.1,"type":"Payout"}]}"#,
            )),
        ],
    );
    assert_eq!(response.status, 200, "{}", body_json(&response));
    assert_eq!(body_json(&response)["closing_balance"], json!("952.90"));
    assert_eq!(
        body_json(&response)["transactions"][0]["amount"],
        json!("1047.10")
    );
    let (response, transport) = run(
        payouts("GET", "/statements?provider=clickpesa&currency=KES", ""),
        &on(),
        vec![],
    );
    assert_problem(&response, 422, "invalid_request", Some("currency"));
    assert!(transport.seen.is_empty());
    let (response, _) = run(
        payouts("GET", "/exchange-rates?provider=clickpesa&source=USD", ""),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                200,
                r#"[{"source":"USD","target":"TZS","rate":2510,"date":"2025-08-19T06:58:34Z"}]"#,
            )),
        ],
    );
    assert_eq!(response.status, 200, "{}", body_json(&response));
    assert_eq!(body_json(&response)["data"][0]["rate"], json!("2510"));
    // The merchant key does not open them either.
    let (response, transport) = run(
        with_key("GET", "/exchange-rates?provider=clickpesa", "", API_KEY),
        &on(),
        vec![],
    );
    assert_problem(&response, 401, "unauthorized", None);
    assert!(transport.seen.is_empty());
}

/// ClickPesa's one merchant-level webhook URL gets payout events too: at
/// `/notifications/clickpesa` they are verified and recorded as payouts.
#[test]
fn payout_webhooks_at_the_collection_route_are_payout_events() {
    let ledger = Ledger::new(MemoryStore::new(), Config::default());
    let mut signed_vars = on();
    signed_vars.insert("clickpesa_checksum_key".into(), CHECKSUM_KEY.into());
    let request = |body: &Value| {
        Request::new("POST", "/notifications/clickpesa")
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
    };
    let mut forged = webhook_body("SUCCESS");
    sign(b"attacker-key", &mut forged);
    let (response, transport) = ledgered(request(&forged), &signed_vars, &ledger, vec![]);
    assert_problem(&response, 401, "unauthorized", Some("checksum"));
    assert!(transport.seen.is_empty());
    assert!(ledger.events(0, 10, NOW).unwrap().data.is_empty());
    for (event, status, kind) in [
        ("PAYOUT INITIATED", "SUCCESS", "payout.succeeded"),
        ("PAYOUT REVERSED", "REVERSED", "payout.reversed"),
    ] {
        let mut signed = webhook_body(status);
        signed["event"] = json!(event);
        sign(CHECKSUM_KEY.as_bytes(), &mut signed);
        let (response, transport) = ledgered(request(&signed), &signed_vars, &ledger, vec![]);
        assert_eq!(response.status, 200, "{}", body_json(&response));
        assert_eq!(body_json(&response)["event"], json!(event));
        assert!(transport.seen.is_empty());
        let events = ledger.events(0, 10, NOW).unwrap().data;
        assert_eq!(events.last().unwrap().kind, kind);
    }
    // The older `eventType` envelope, unsigned and without a key: confirmed
    // by a payout query, as at the payout route.
    let mut old = webhook_body("REFUNDED");
    let event = old.as_object_mut().unwrap().remove("event").unwrap();
    old["eventType"] = json!(event.as_str().unwrap().replace("INITIATED", "REFUNDED"));
    let ledger = Ledger::new(MemoryStore::new(), Config::default());
    let (response, transport) = ledgered(
        request(&old),
        &on(),
        &ledger,
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                200,
                r#"[{"id":"PAY1LCP1","orderReference":"PAY1","status":"REFUNDED","amount":"1047.10"}]"#,
            )),
        ],
    );
    assert_eq!(response.status, 200, "{}", body_json(&response));
    assert_eq!(transport.paths()[1], "GET /third-parties/payouts/PAY1");
    let events = ledger.events(0, 10, NOW).unwrap().data;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "payout.refunded");
    // Switched off, a payout event at the collection route is not taken
    // for a payment: the switch is named, nobody is called.
    let mut off = vars();
    off.insert("clickpesa_checksum_key".into(), CHECKSUM_KEY.into());
    let mut signed = webhook_body("SUCCESS");
    sign(CHECKSUM_KEY.as_bytes(), &mut signed);
    let (response, transport) = run(request(&signed), &off, vec![]);
    assert_problem(&response, 422, "unsupported", None);
    assert!(transport.seen.is_empty());
}

fn lipa_body(destination: Value) -> String {
    json!({
        "provider": "clickpesa", "reference": "PAY1", "amount": "1000", "currency": "TZS",
        "destination": destination,
    })
    .to_string()
}

#[test]
fn lipa_namba_payouts_take_one_destination_and_an_unresolved_receiver_is_typed() {
    let (response, transport) = run(
        payouts(
            "GET",
            "/payouts/lipa-namba-providers?provider=clickpesa",
            "",
        ),
        &on(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((200, r#"[{"name":"Vodacom M-Pesa","providerCode":"503"}]"#)),
        ],
    );
    assert_eq!(response.status, 200, "{}", body_json(&response));
    assert_eq!(
        body_json(&response)["data"],
        json!([{"name": "Vodacom M-Pesa", "provider_code": "503"}])
    );
    assert_eq!(
        transport.paths()[1],
        "GET /third-parties/payouts/lipa-namba-providers"
    );
    for (destination, field) in [
        (json!({"type": "lipa_namba"}), "lipa_namba"),
        (
            json!({"type": "lipa_namba", "lipa_namba": "123456"}),
            "provider_code",
        ),
        (
            json!({"type": "lipa_namba", "qr_code": "tz.go.bot.tips", "provider_code": "503"}),
            "qr_code",
        ),
    ] {
        let (response, transport) = run(
            payouts("POST", "/payouts/previews", &lipa_body(destination)),
            &on(),
            vec![],
        );
        assert_problem(&response, 422, "invalid_request", Some(field));
        assert!(transport.seen.is_empty());
    }
    let ledger = Ledger::new(MemoryStore::new(), Config::default());
    let number = json!({"type": "lipa_namba", "lipa_namba": "123456", "provider_code": "503"});
    let (refused, transport) = ledgered(
        payouts("POST", "/payouts", &lipa_body(number.clone())),
        &on(),
        &ledger,
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                400,
                r#"{"statusCode":400,"message":"Lipa Namba 123456 could not be resolved. Preview is required before payout.","error":"Bad Request"}"#,
            )),
        ],
    );
    assert_problem(&refused, 422, "receiver_unresolved", None);
    assert_eq!(
        transport.paths()[1],
        "POST /third-parties/payouts/create-lipa-namba-payout"
    );
    // Nothing was paid: the key is free for the create after a preview.
    let (created, transport) = ledgered(
        payouts("POST", "/payouts", &lipa_body(number)),
        &on(),
        &ledger,
        vec![Ok((200, CP_TOKEN)), Ok((200, CREATED))],
    );
    assert_eq!(created.status, 201, "{}", body_json(&created));
    assert_eq!(transport.seen.len(), 2);
}
