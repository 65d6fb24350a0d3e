//! ClickPesa payouts through the built component, over HTTP (with the
//! ledger) and WIT, against the sandbox: the switch, the payout key, preview
//! then create, one payout per key, typed refusals, and payout webhooks
//! (forged: no event; real: an event).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::payouts::{
    BalanceReport, BankAccountQuery, PayoutDestination, PayoutError, PayoutRequest, PayoutState,
};
use finconnect_host::{ApiError, Host, Provider};
use finconnect_sandbox::{PayoutOutcome, Sandbox, SandboxConfig};
use serde_json::{Value, json};

const PAYOUTS_KEY: &str = "suite-payouts-key-8c2e";
const CHECKSUM_KEY: &str = "suite-checksum-key-41aa";
const CREATE_MOBILE: &str = "/third-parties/payouts/create-mobile-money-payout";

/// A sandbox and a host with payouts switched on and their own key.
fn start_on(config: SandboxConfig) -> (Sandbox, Host) {
    let checksum = config.clickpesa_checksum_key.clone();
    start_with(config, |builder| {
        let builder = builder
            .app_variable("finconnect_payouts", "on")
            .app_variable("finconnect_payouts_api_key", PAYOUTS_KEY);
        match checksum {
            Some(key) => builder.app_variable("clickpesa_checksum_key", key),
            None => builder,
        }
    })
}

fn payout_body(reference: &str, amount: &str) -> Value {
    json!({
        "provider": "clickpesa",
        "reference": reference,
        "amount": amount,
        "currency": "TZS",
        "destination": {"type": "mobile_money", "phone": "255712345678"}
    })
}

fn payouts_post(host: &Host, path: &str, body: &Value, key: Option<&str>) -> Reply {
    send(host, request("POST", path, Some(body), key))
}

fn creates(sandbox: &Sandbox) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path == CREATE_MOBILE)
        .count()
}

/// The types of the events in the log.
fn event_types(host: &Host) -> Vec<String> {
    events(host, 0)
        .iter()
        .map(|event| event["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Runs one WIT call; the host's own failure fails the test.
fn wit<T, E: std::fmt::Debug>(call: impl std::future::Future<Output = Result<T, E>>) -> T {
    finconnect_host::block_on(call).unwrap().unwrap()
}

fn wit_payout(reference: &str, amount: &str) -> PayoutRequest {
    PayoutRequest {
        reference: reference.to_owned(),
        amount: amount.to_owned(),
        currency: "TZS".to_owned(),
        destination: PayoutDestination::MobileMoney("255712345678".to_owned()),
    }
}

#[test]
fn payouts_off_answer_unsupported_naming_the_variable_and_call_nobody() {
    let (sandbox, host) = start_with(SandboxConfig::default(), |builder| {
        builder.app_variable("finconnect_payouts_api_key", PAYOUTS_KEY)
    });
    let reply = payouts_post(
        &host,
        "/payouts",
        &payout_body("OFF1", "1000"),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(reply.status, 422, "{reply}");
    let problem = reply.problem();
    assert_eq!(problem["code"], "unsupported");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("finconnect_payouts")
    );
    let created = wit(host.call_create_payout(Provider::Clickpesa, &wit_payout("OFF2", "1000")));
    match created {
        Err(PayoutError::Failed(ApiError::Unsupported(e))) => {
            assert!(e.reason.contains("finconnect_payouts"), "{}", e.reason);
        }
        other => panic!("{other:?}"),
    }
    assert!(sandbox.requests().is_empty());
}

#[test]
fn the_merchant_key_or_a_wrong_key_is_401_and_calls_nobody() {
    let (sandbox, host) = start_on(SandboxConfig::default());
    sandbox.set_clickpesa_balance("TZS", "100000");
    for key in [Some(API_KEY), Some("not-the-key"), None] {
        let reply = payouts_post(&host, "/payouts", &payout_body("K1", "1000"), key);
        assert_eq!(reply.status, 401, "{key:?}: {reply}");
        assert_eq!(reply.problem()["code"], "unauthorized");
    }
    let reply = send(
        &host,
        request("GET", "/balances?provider=clickpesa", None, Some(API_KEY)),
    );
    assert_eq!(reply.status, 401, "{reply}");
    assert!(sandbox.requests().is_empty());
}

#[test]
fn preview_then_create_and_the_same_key_makes_one_provider_payout() {
    let (sandbox, host) = start_on(SandboxConfig::default());
    sandbox.set_clickpesa_balance("TZS", "5000");
    let reply = payouts_post(
        &host,
        "/payouts/previews",
        &payout_body("PAY1", "1000"),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(reply.status, 200, "{reply}");
    let preview = reply.json();
    assert_eq!(preview["fee"], "47.10");
    assert_eq!(preview["total"], "1047.10");
    assert_eq!(preview["balance"], "5000.00");
    assert_eq!(preview["receiver_name"], "SANDBOX RECEIVER 5678");
    assert_eq!(sandbox.clickpesa_balance("TZS").as_deref(), Some("5000.00"));

    let create = || {
        send(
            &host,
            finconnect_host::http::Request::builder()
                .method("POST")
                .uri("/payouts")
                .header("authorization", format!("Bearer {PAYOUTS_KEY}"))
                .header("content-type", "application/json")
                .header("idempotency-key", "pay-1-attempt")
                .body(payout_body("PAY1", "1000").to_string().into_bytes())
                .unwrap(),
        )
    };
    let first = create();
    assert_eq!(first.status, 201, "{first}");
    assert_eq!(first.json()["status"], "authorized");
    assert_eq!(first.json()["amount"], "1047.10");
    let again = create();
    assert_eq!(again.status, 201, "{again}");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), first.json());
    assert_eq!(creates(&sandbox), 1);
    assert_eq!(sandbox.clickpesa_payouts().len(), 1);
    assert_eq!(sandbox.clickpesa_balance("TZS").as_deref(), Some("3952.90"));
    assert_eq!(event_types(&host), ["payout.authorized"]);

    // The payout by reference: the array, its state announced once.
    let reply = send(
        &host,
        request("GET", "/payouts/clickpesa/PAY1", None, Some(PAYOUTS_KEY)),
    );
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.json()["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(event_types(&host), ["payout.authorized"]);
}

#[test]
fn insufficient_balance_and_the_cooldown_are_typed() {
    let (sandbox, host) = start_on(SandboxConfig::default());
    sandbox.set_clickpesa_balance("TZS", "500");
    let reply = payouts_post(
        &host,
        "/payouts",
        &payout_body("LOW1", "1000"),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(reply.status, 422, "{reply}");
    let problem = reply.problem();
    assert_eq!(problem["code"], "insufficient_balance");
    assert_eq!(
        problem["provider_message"],
        "Insufficient balance: available balance is 500 TZS"
    );
    // Nothing was paid: the key is free again once the balance is there.
    sandbox.set_clickpesa_balance("TZS", "100000");
    sandbox.set_clickpesa_payout_cooldown(60);
    let reply = payouts_post(
        &host,
        "/payouts",
        &payout_body("LOW1", "1000"),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(reply.status, 201, "{reply}");
    let reply = payouts_post(
        &host,
        "/payouts",
        &payout_body("NEXT1", "1000"),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(reply.status, 409, "{reply}");
    assert_eq!(reply.problem()["code"], "payout_cooldown");
    assert_eq!(reply.header("retry-after"), Some("60"));

    // Through WIT: the same refusals, typed.
    let cooldown = wit(host.call_create_payout(Provider::Clickpesa, &wit_payout("NEXT2", "1000")));
    match cooldown {
        Err(PayoutError::InProgress(c)) => assert_eq!(c.retry_after_seconds, Some(60)),
        other => panic!("{other:?}"),
    }
    sandbox.set_clickpesa_payout_cooldown(0);
    let low = wit(host.call_create_payout(Provider::Clickpesa, &wit_payout("BIG1", "1000000")));
    match low {
        Err(PayoutError::InsufficientBalance(b)) => {
            assert_eq!(b.available.as_deref(), Some("98952.90"));
        }
        other => panic!("{other:?}"),
    }
}

/// One authorized payout `reference` (checksums on); then a webhook for it
/// at `route`, first forged (claiming `forged`, signed with another key:
/// 401, no event, nobody called), then the sandbox's own when it settles
/// the payout with `outcome`, which makes the event `expected`. Returns the
/// sandbox, the host and that last event.
fn forged_then_real_payout_webhook(
    reference: &str,
    route: &str,
    forged: (&str, &str),
    outcome: PayoutOutcome,
    expected: &str,
) -> (Sandbox, Host, Value) {
    let (sandbox, host) = start_on(SandboxConfig {
        clickpesa_checksum_key: Some(CHECKSUM_KEY.to_owned()),
        ..SandboxConfig::default()
    });
    sandbox.set_clickpesa_balance("TZS", "5000");
    let reply = payouts_post(
        &host,
        "/payouts",
        &payout_body(reference, "1000"),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(reply.status, 201, "{reply}");
    assert_eq!(event_types(&host), ["payout.authorized"]);

    let (event, status) = forged;
    let mut forged = json!({"event": event, "data": {
        "id": format!("{reference}PCPX"), "orderReference": reference, "amount": "1047.10",
        "fee": "47.10", "currency": "TZS", "status": status, "channel": "MOBILE MONEY"}});
    sign_clickpesa(b"attacker-key", &mut forged);
    sandbox.clear_requests();
    let reply = send(&host, request("POST", route, Some(&forged), None));
    assert_eq!(reply.status, 401, "{reply}");
    assert!(sandbox.requests().is_empty());
    assert_eq!(event_types(&host), ["payout.authorized"]);

    // The sandbox settles the payout and delivers its signed webhook.
    let addr = serve(&host);
    sandbox.set_clickpesa_payout_webhook_url(Some(format!("http://{addr}{route}")));
    let delivery = sandbox.settle_clickpesa_payout(reference, outcome).unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    assert_eq!(event_types(&host), ["payout.authorized", expected]);
    let last = events(&host, 0).pop().unwrap();
    assert_eq!(last["payout"]["reference"], reference);
    (sandbox, host, last)
}

#[test]
fn a_forged_payout_webhook_makes_no_event_and_a_real_one_does() {
    let (_sandbox, _host, last) = forged_then_real_payout_webhook(
        "WH1",
        "/notifications/clickpesa/payouts",
        ("PAYOUT INITIATED", "SUCCESS"),
        PayoutOutcome::Succeed,
        "payout.succeeded",
    );
    assert_eq!(last["payout"]["status"], "succeeded");
}

#[test]
fn wit_preview_create_status_banks_account_and_balances() {
    let (sandbox, host) = start_on(SandboxConfig::default());
    let balances = wit(host.call_balances(Provider::Clickpesa));
    assert!(
        matches!(&balances, Ok(BalanceReport::NoBalanceYet(m)) if m.starts_with("No balance account")),
        "{balances:?}"
    );
    sandbox.set_clickpesa_balance("TZS", "5000");
    let preview =
        wit(host.call_preview_payout(Provider::Clickpesa, &wit_payout("W1", "1000"))).unwrap();
    assert_eq!(preview.total.as_deref(), Some("1047.10"));
    assert_eq!(
        preview.receiver_name.as_deref(),
        Some("SANDBOX RECEIVER 5678")
    );
    let created =
        wit(host.call_create_payout(Provider::Clickpesa, &wit_payout("W1", "1000"))).unwrap();
    assert_eq!(created.status, PayoutState::Authorized);
    // The same reference again: refused by ClickPesa, not paid twice.
    let again = wit(host.call_create_payout(Provider::Clickpesa, &wit_payout("W1", "1000")));
    assert!(
        matches!(again, Err(PayoutError::ReferenceReused(_))),
        "{again:?}"
    );
    assert_eq!(sandbox.clickpesa_payouts().len(), 1);
    let rows = wit(host.call_payout_status(Provider::Clickpesa, "W1")).unwrap();
    assert_eq!(rows.len(), 1);
    let banks = wit(host.call_list_banks(Provider::Clickpesa)).unwrap();
    assert!(banks.iter().any(|bank| bank.bic == "CORUTZTZ"));
    let name = wit(host.call_verify_bank_account(
        Provider::Clickpesa,
        &BankAccountQuery {
            account_number: "0150001".to_owned(),
            bic: "CORUTZTZ".to_owned(),
        },
    ));
    assert_eq!(name.as_deref(), Ok("SANDBOX RECEIVER 0001"));
    // PesaPal has no payouts: unsupported, no call.
    sandbox.clear_requests();
    let pesapal = wit(host.call_create_payout(Provider::Pesapal, &wit_payout("W2", "1000")));
    assert!(
        matches!(pesapal, Err(PayoutError::Failed(ApiError::Unsupported(_)))),
        "{pesapal:?}"
    );
    assert!(sandbox.requests().is_empty());
}

/// ClickPesa's one merchant-level webhook URL: payout webhooks delivered to
/// `/notifications/clickpesa` are verified and become payout events.
#[test]
fn payout_webhooks_at_the_collection_route_make_payout_events() {
    let (_sandbox, host, _last) = forged_then_real_payout_webhook(
        "MW1",
        "/notifications/clickpesa",
        ("PAYOUT REVERSED", "REVERSED"),
        PayoutOutcome::Reverse,
        "payout.reversed",
    );
    // No payment record was made of it.
    let payments = get(&host, "/payments");
    assert_eq!(payments.status, 200, "{payments}");
    assert_eq!(payments.json()["data"], json!([]));
}

fn payouts_get(host: &Host, path: &str) -> Reply {
    send(host, request("GET", path, None, Some(PAYOUTS_KEY)))
}

/// The listing, the statement and the rates, end to end.
#[test]
fn listing_statement_and_rates_through_the_component() {
    let (sandbox, host) = start_on(SandboxConfig::default());
    sandbox.set_clickpesa_balance("TZS", "10000");
    for reference in ["LS1", "LS2"] {
        let reply = payouts_post(
            &host,
            "/payouts",
            &payout_body(reference, "1000"),
            Some(PAYOUTS_KEY),
        );
        assert_eq!(reply.status, 201, "{reply}");
    }
    sandbox
        .settle_clickpesa_payout("LS1", PayoutOutcome::Reverse)
        .unwrap();

    let page = payouts_get(&host, "/payouts?provider=clickpesa&limit=1");
    assert_eq!(page.status, 200, "{page}");
    let page = page.json();
    assert_eq!(page["total_count"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    // Newest first.
    assert_eq!(page["data"][0]["reference"], "LS2");
    let reversed = payouts_get(&host, "/payouts?provider=clickpesa&status=REVERSED").json();
    assert_eq!(reversed["total_count"], 1);
    assert_eq!(reversed["data"][0]["reference"], "LS1");
    assert_eq!(reversed["data"][0]["status"], "reversed");
    // The sandbox refuses a bad date as ClickPesa does; ours is checked first.
    let bad = payouts_get(&host, "/payouts?provider=clickpesa&limit=x");
    assert_eq!(bad.status, 422, "{bad}");

    // 10,000 − 2 × 1,047.10 + 1,047.10 (LS1 returned) = 8,952.90.
    let statement = payouts_get(&host, "/statements?provider=clickpesa&currency=TZS");
    assert_eq!(statement.status, 200, "{statement}");
    let statement = statement.json();
    assert_eq!(statement["currency"], "TZS");
    assert_eq!(statement["closing_balance"], "8952.90");
    assert_eq!(statement["opening_balance"], "10000.00");
    assert_eq!(statement["total_debits"], "2094.20");
    assert_eq!(statement["total_credits"], "1047.10");
    let types: Vec<&str> = statement["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Payout",
            "Fee - Payout",
            "Reversed Payout",
            "Payout",
            "Fee - Payout"
        ]
    );
    // A currency ClickPesa has no statement for: refused before any call.
    sandbox.clear_requests();
    let refused = payouts_get(&host, "/statements?provider=clickpesa&currency=EUR");
    assert_eq!(refused.status, 422, "{refused}");
    assert!(sandbox.requests().is_empty());

    let rates = payouts_get(&host, "/exchange-rates?provider=clickpesa&source=USD");
    assert_eq!(rates.status, 200, "{rates}");
    let rates = rates.json();
    let rows = rates["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["target"], "TZS");
    assert_eq!(rows[0]["rate"], "2510");
    // Without payouts' key: 401, nobody called.
    sandbox.clear_requests();
    let locked = get(&host, "/exchange-rates?provider=clickpesa");
    assert_eq!(locked.status, 401, "{locked}");
    assert!(sandbox.requests().is_empty());
}

fn lipa_body(reference: &str, destination: Value) -> Value {
    json!({
        "provider": "clickpesa",
        "reference": reference,
        "amount": "1000",
        "currency": "TZS",
        "destination": destination,
    })
}

/// Lipa Namba / TanQR over HTTP: the providers list, the one-destination
/// rule (422 naming the field, nobody called), preview before create, and
/// ClickPesa's refusal of an unresolved receiver, typed.
#[test]
fn lipa_namba_payouts_need_one_destination_and_a_preview_first() {
    let (sandbox, host) = start_on(SandboxConfig::default());
    sandbox.set_clickpesa_balance("TZS", "10000");
    let providers = payouts_get(&host, "/payouts/lipa-namba-providers?provider=clickpesa");
    assert_eq!(providers.status, 200, "{providers}");
    let providers = providers.json();
    assert!(
        providers["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["provider_code"] == "503" && p["name"] == "Vodacom M-Pesa"),
        "{providers}"
    );

    sandbox.clear_requests();
    for (destination, field) in [
        (json!({"type": "lipa_namba"}), "lipa_namba"),
        (
            json!({"type": "lipa_namba", "lipa_namba": "123456"}),
            "provider_code",
        ),
        (
            json!({"type": "lipa_namba", "lipa_namba": "123456", "provider_code": "503",
                   "qr_code": "000201tz.go.bot.tips"}),
            "qr_code",
        ),
        (
            json!({"type": "lipa_namba", "qr_code": "000201not-a-tanqr"}),
            "qr_code",
        ),
    ] {
        let reply = payouts_post(
            &host,
            "/payouts/previews",
            &lipa_body("LN0", destination),
            Some(PAYOUTS_KEY),
        );
        assert_eq!(reply.status, 422, "{reply}");
        assert_eq!(reply.problem()["field"], field, "{reply}");
    }
    assert!(sandbox.requests().is_empty());

    let number = json!({"type": "lipa_namba", "lipa_namba": "123456", "provider_code": "503"});
    // Created before any preview: ClickPesa's refusal, typed; the key is free.
    let refused = payouts_post(
        &host,
        "/payouts",
        &lipa_body("LN1", number.clone()),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(refused.status, 422, "{refused}");
    assert_eq!(refused.problem()["code"], "receiver_unresolved");
    assert!(sandbox.clickpesa_payouts().is_empty());

    let preview = payouts_post(
        &host,
        "/payouts/previews",
        &lipa_body("LN1", number.clone()),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(preview.status, 200, "{preview}");
    let preview = preview.json();
    assert_eq!(preview["receiver_name"], "SANDBOX RECEIVER 3456");
    assert_eq!(preview["name_lookup"], "RESOLVED");
    assert_eq!(preview["total"], "1047.10");

    let created = payouts_post(
        &host,
        "/payouts",
        &lipa_body("LN1", number),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(created.status, 201, "{created}");
    let created = created.json();
    assert_eq!(created["status"], "authorized");
    assert_eq!(created["channel"], "TIPS LIPA NAMBA");
    assert_eq!(sandbox.clickpesa_payouts().len(), 1);

    // A TanQR code: preview, then create.
    let qr =
        json!({"type": "lipa_namba", "qr_code": "00020101021126430014tz.go.bot.tips0109255998877"});
    let preview = payouts_post(
        &host,
        "/payouts/previews",
        &lipa_body("LN2", qr.clone()),
        Some(PAYOUTS_KEY),
    );
    assert_eq!(preview.status, 200, "{preview}");
    assert!(
        preview.json()["receiver_name"]
            .as_str()
            .unwrap()
            .starts_with("SANDBOX QR MERCHANT")
    );
    let created = payouts_post(&host, "/payouts", &lipa_body("LN2", qr), Some(PAYOUTS_KEY));
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(sandbox.clickpesa_payouts().len(), 2);
}

/// Lipa Namba through WIT: the providers list, the unresolved refusal
/// typed, and preview then create.
#[test]
fn wit_lipa_namba_providers_preview_and_create() {
    use finconnect_host::payouts::LipaNambaDestination;
    let (sandbox, host) = start_on(SandboxConfig::default());
    sandbox.set_clickpesa_balance("TZS", "10000");
    let providers = wit(host.call_list_lipa_namba_providers(Provider::Clickpesa)).unwrap();
    assert!(providers.iter().any(|p| p.provider_code == "503"));
    let request = PayoutRequest {
        reference: "WLN1".to_owned(),
        amount: "1000".to_owned(),
        currency: "TZS".to_owned(),
        destination: PayoutDestination::LipaNamba(LipaNambaDestination {
            lipa_namba: Some("654321".to_owned()),
            provider_code: Some("505".to_owned()),
            qr_code: None,
        }),
    };
    let refused = wit(host.call_create_payout(Provider::Clickpesa, &request));
    assert!(
        matches!(&refused, Err(PayoutError::ReceiverUnresolved(m)) if m.contains("Preview is required")),
        "{refused:?}"
    );
    let preview = wit(host.call_preview_payout(Provider::Clickpesa, &request)).unwrap();
    assert_eq!(
        preview.receiver_name.as_deref(),
        Some("SANDBOX RECEIVER 4321")
    );
    let created = wit(host.call_create_payout(Provider::Clickpesa, &request)).unwrap();
    assert_eq!(created.status, PayoutState::Authorized);
    assert_eq!(created.channel.as_deref(), Some("TIPS LIPA NAMBA"));
}

/// The listing, the statement and the rates through WIT.
#[test]
fn wit_listing_statement_and_rates() {
    use finconnect_host::payouts::PayoutFilter;
    let (sandbox, host) = start_on(SandboxConfig::default());
    sandbox.set_clickpesa_balance("TZS", "5000");
    wit(host.call_create_payout(Provider::Clickpesa, &wit_payout("WL1", "1000"))).unwrap();
    let page = wit(host.call_list_payouts(
        Provider::Clickpesa,
        &PayoutFilter {
            start_date: None,
            end_date: None,
            status: Some("AUTHORIZED".to_owned()),
            currency: Some("TZS".to_owned()),
            skip: None,
            limit: Some(5),
        },
    ))
    .unwrap();
    assert_eq!(page.total_count, Some(1));
    assert_eq!(page.payouts[0].reference.as_deref(), Some("WL1"));
    let statement = wit(host.call_statement(Provider::Clickpesa, "TZS", None, None)).unwrap();
    assert_eq!(statement.closing_balance.as_deref(), Some("3952.90"));
    assert_eq!(statement.transactions.len(), 2);
    let refused = wit(host.call_statement(Provider::Clickpesa, "EUR", None, None));
    assert!(
        matches!(
            refused,
            Err(PayoutError::Failed(ApiError::InvalidRequest(_)))
        ),
        "{refused:?}"
    );
    let rates = wit(host.call_exchange_rates(Provider::Clickpesa, Some("TZS"), None)).unwrap();
    assert_eq!(rates.len(), 1);
    assert_eq!(rates[0].rate, "0.000398");
}
