//! ClickPesa payouts over real loopback HTTP: balances, fees, the
//! documented refusals, names, the payout query array, banks and webhooks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_core::providers::clickpesa::checksum;
use finconnect_sandbox::{PayoutOutcome, Sandbox, SandboxConfig};
use serde_json::{Value, json};

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

fn mobile(reference: &str, amount: &str) -> String {
    format!(
        r#"{{"amount":{amount},"currency":"TZS","orderReference":"{reference}","phoneNumber":"255712345678"}}"#
    )
}

fn send(sb: &Sandbox, token: &str, path: &str, body: &str) -> Resp {
    request(
        sb.addr(),
        "POST",
        &format!("{CP}{path}"),
        &[
            ("authorization", token),
            ("content-type", "application/json"),
        ],
        Some(body),
    )
}

fn message(resp: &Resp) -> String {
    resp.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn balance_is_404_until_seeded_then_an_array() {
    let sb = sandbox();
    let token = clickpesa_token(&sb);
    let resp = get(
        sb.addr(),
        &format!("{CP}/account/balance"),
        &[("authorization", &token)],
    );
    assert_eq!(resp.status, 404);
    assert!(message(&resp).starts_with("No balance account is linked"));
    sb.set_clickpesa_balance("TZS", "2000");
    let resp = get(
        sb.addr(),
        &format!("{CP}/account/balance"),
        &[("authorization", &token)],
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!([{"currency": "TZS", "balance": 2000}]));
    // Without a token: 401.
    let resp = get(sb.addr(), &format!("{CP}/account/balance"), &[]);
    assert_eq!(resp.status, 401);
}

#[test]
fn preview_then_create_debits_amount_and_fee() {
    let sb = sandbox();
    sb.set_clickpesa_balance("TZS", "2000");
    let token = clickpesa_token(&sb);
    let resp = send(
        &sb,
        &token,
        "/payouts/preview-mobile-money-payout",
        &mobile("PAY1", "1000"),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let preview = resp.json();
    assert_eq!(preview["amount"], json!(1047.1));
    assert_eq!(preview["fee"], json!(47.1));
    assert_eq!(preview["balance"], json!(2000));
    assert_eq!(preview["channelProvider"], json!("TIGO PESA"));
    assert_eq!(
        preview["receiver"]["accountName"],
        json!("SANDBOX RECEIVER 5678")
    );
    assert_eq!(sb.clickpesa_balance("TZS").as_deref(), Some("2000.00"));
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        &mobile("PAY1", "1000"),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["status"], json!("AUTHORIZED"));
    assert_eq!(resp.json()["amount"], json!("1047.10"));
    assert_eq!(sb.clickpesa_balance("TZS").as_deref(), Some("952.90"));
    // The reference is spent.
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        &mobile("PAY1", "10"),
    );
    assert_eq!(resp.status, 409);
    assert_eq!(
        message(&resp),
        "Order reference PAY1 already used: Create a different reference"
    );
    // The query is an array.
    let resp = get(
        sb.addr(),
        &format!("{CP}/payouts/PAY1"),
        &[("authorization", &token)],
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json().as_array().map(Vec::len), Some(1));
    let resp = get(
        sb.addr(),
        &format!("{CP}/payouts/NOPE"),
        &[("authorization", &token)],
    );
    assert_eq!(resp.status, 404);
    assert_eq!(message(&resp), "Invalid or missing payout: NOPE");
}

#[test]
fn documented_refusals() {
    let sb = sandbox();
    sb.set_clickpesa_balance("TZS", "500");
    let token = clickpesa_token(&sb);
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        &mobile("P1", "1000"),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        message(&resp),
        "Insufficient balance: available balance is 500 TZS"
    );
    let other_network =
        r#"{"amount":100,"currency":"TZS","orderReference":"P2","phoneNumber":"255612345678"}"#;
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        other_network,
    );
    assert_eq!(resp.status, 400);
    assert_eq!(message(&resp), "Unsupported channel provider");
    // A string amount is not what ClickPesa takes for payouts.
    let string_amount =
        r#"{"amount":"100","currency":"TZS","orderReference":"P3","phoneNumber":"255712345678"}"#;
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        string_amount,
    );
    assert_eq!(resp.status, 400);
    // The cooldown.
    sb.set_clickpesa_payout_cooldown(60);
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        &mobile("P4", "100"),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        &mobile("P5", "100"),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        message(&resp),
        "Payout request is already in progress, please retry after 60 seconds"
    );
    sb.advance_clock(std::time::Duration::from_secs(61));
    let token = clickpesa_token(&sb);
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        &mobile("P5", "100"),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn banks_accounts_and_bank_payouts() {
    let sb = sandbox();
    sb.set_clickpesa_balance("TZS", "100000");
    let token = clickpesa_token(&sb);
    let resp = get(
        sb.addr(),
        &format!("{CP}/list/banks"),
        &[("authorization", &token)],
    );
    assert!(
        resp.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["bic"] == "CORUTZTZ")
    );
    let resp = send(
        &sb,
        &token,
        "/payouts/verify-bank-account",
        r#"{"accountNumber":"0150001","bic":"CORUTZTZ"}"#,
    );
    assert_eq!(resp.json(), json!({"accountName": "SANDBOX RECEIVER 0001"}));
    let resp = send(
        &sb,
        &token,
        "/payouts/verify-bank-account",
        r#"{"accountNumber":"0000123","bic":"CORUTZTZ"}"#,
    );
    assert_eq!(resp.status, 404);
    assert_eq!(message(&resp), "Account not found");
    let bank = |reference: &str, extra: &str| {
        format!(
            r#"{{"amount":25000,"accountNumber":"0150001","bic":"CORUTZTZ","currency":"TZS","accountCurrency":"TZS","orderReference":"{reference}","transferType":"ACH"{extra}}}"#
        )
    };
    let resp = send(&sb, &token, "/payouts/create-bank-payout", &bank("B1", ""));
    assert_eq!(message(&resp), "accountName is required");
    let resp = send(
        &sb,
        &token,
        "/payouts/create-bank-payout",
        &bank("B1", r#","accountName":"TEMBO""#),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["fee"], json!("2360.00"));
    assert_eq!(resp.json()["transferType"], json!("ACH"));
    assert_eq!(sb.clickpesa_balance("TZS").as_deref(), Some("72640.00"));
    // The query names the rail `settlementType`.
    let resp = get(
        sb.addr(),
        &format!("{CP}/payouts/B1"),
        &[("authorization", &token)],
    );
    assert_eq!(resp.json()[0]["settlementType"], json!("ACH"));
    let unknown_bank = bank("B2", r#","accountName":"X""#).replace("CORUTZTZ", "XXXXTZTZ");
    let resp = send(&sb, &token, "/payouts/create-bank-payout", &unknown_bank);
    assert_eq!(message(&resp), "Unsupported channel provider");
}

#[test]
fn signed_requests_are_checked_and_webhooks_are_signed() {
    let sb = Sandbox::start(SandboxConfig {
        clickpesa_checksum_key: Some("k".into()),
        ..SandboxConfig::default()
    })
    .unwrap();
    sb.set_clickpesa_balance("TZS", "5000");
    let token = clickpesa_token(&sb);
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        &mobile("S1", "1000"),
    );
    assert_eq!(message(&resp), "checksum is required");
    let mut body: Value = serde_json::from_str(&mobile("S1", "1000")).unwrap();
    let tree = checksum::Value::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    body["checksum"] = json!(checksum::compute(b"k", &tree).unwrap());
    let resp = send(
        &sb,
        &token,
        "/payouts/create-mobile-money-payout",
        &body.to_string(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    // Reversal: the money comes back, and the webhook verifies.
    let delivery = sb
        .settle_clickpesa_payout("S1", PayoutOutcome::Reverse)
        .unwrap();
    assert_eq!(sb.clickpesa_balance("TZS").as_deref(), Some("5000.00"));
    let sent: Value = serde_json::from_str(&delivery.request_body).unwrap();
    assert_eq!(sent["event"], json!("PAYOUT REVERSED"));
    assert_eq!(sent["data"]["status"], json!("REVERSED"));
    let tree = checksum::Value::parse(delivery.request_body.as_bytes()).unwrap();
    assert!(checksum::verify(b"k", &tree));
    // Settled once: another outcome is refused.
    assert!(
        sb.settle_clickpesa_payout("S1", PayoutOutcome::Succeed)
            .is_err()
    );
}

#[test]
fn lipa_namba_providers_one_destination_and_preview_before_create() {
    let sb = sandbox();
    sb.set_clickpesa_balance("TZS", "5000");
    let token = clickpesa_token(&sb);
    let resp = get(
        sb.addr(),
        &format!("{CP}/payouts/lipa-namba-providers"),
        &[("authorization", &token)],
    );
    assert_eq!(resp.status, 200);
    assert!(
        resp.json()
            .as_array()
            .unwrap()
            .contains(&json!({"name": "Vodacom M-Pesa", "providerCode": "503"}))
    );
    let lipa = |reference: &str, destination: &str| {
        format!(
            r#"{{"amount":1000,"currency":"TZS","orderReference":"{reference}",{destination}}}"#
        )
    };
    let number = r#""lipaNamba":"123456","providerCode":"503""#;
    // Both destinations, or none: refused.
    for destination in [
        r#""lipaNamba":"123456","providerCode":"503","qrCode":"x tz.go.bot.tips""#,
        r#""note":"none""#,
    ] {
        let resp = send(
            &sb,
            &token,
            "/payouts/preview-lipa-namba-payout",
            &lipa("L0", destination),
        );
        assert_eq!(resp.status, 400, "{destination}");
    }
    let resp = send(
        &sb,
        &token,
        "/payouts/preview-lipa-namba-payout",
        &lipa("L0", r#""lipaNamba":"123456","providerCode":"999""#),
    );
    assert_eq!(message(&resp), "Unsupported channel provider");
    // Create before a preview: the documented refusal, nothing debited.
    let resp = send(
        &sb,
        &token,
        "/payouts/create-lipa-namba-payout",
        &lipa("L1", number),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        message(&resp),
        "Receiver 123456 could not be resolved. Preview is required before payout."
    );
    assert_eq!(sb.clickpesa_balance("TZS").as_deref(), Some("5000.00"));
    let resp = send(
        &sb,
        &token,
        "/payouts/preview-lipa-namba-payout",
        &lipa("L1", number),
    );
    assert_eq!(resp.status, 200);
    let preview = resp.json();
    assert_eq!(preview["receiver"]["accountName"], "SANDBOX RECEIVER 3456");
    assert_eq!(preview["nameLookupStatus"], "RESOLVED");
    assert_eq!(preview["amount"], json!(1047.1));
    let resp = send(
        &sb,
        &token,
        "/payouts/create-lipa-namba-payout",
        &lipa("L1", number),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["channel"], "TIPS LIPA NAMBA");
    assert_eq!(resp.json()["status"], "AUTHORIZED");
    // A Lipa Namba that does not resolve stays unresolved after a preview.
    let unknown = r#""lipaNamba":"0000111","providerCode":"503""#;
    let resp = send(
        &sb,
        &token,
        "/payouts/preview-lipa-namba-payout",
        &lipa("L2", unknown),
    );
    assert_eq!(resp.json()["nameLookupStatus"], "UNAVAILABLE");
    let resp = send(
        &sb,
        &token,
        "/payouts/create-lipa-namba-payout",
        &lipa("L2", unknown),
    );
    assert!(message(&resp).contains("Preview is required before payout"));
}

#[test]
fn payout_listing_statement_and_rates() {
    let sb = sandbox();
    sb.set_clickpesa_balance("TZS", "5000");
    let token = clickpesa_token(&sb);
    for reference in ["A1", "A2"] {
        let resp = send(
            &sb,
            &token,
            "/payouts/create-mobile-money-payout",
            &mobile(reference, "1000"),
        );
        assert_eq!(resp.status, 200);
    }
    let get_json = |path: &str| {
        get(
            sb.addr(),
            &format!("{CP}{path}"),
            &[("authorization", &token)],
        )
    };
    let page = get_json("/payouts/all?limit=1&orderBy=ASC");
    assert_eq!(page.status, 200);
    let page = page.json();
    assert_eq!(page["totalCount"], 2);
    assert_eq!(page["data"][0]["orderReference"], "A1");
    assert_eq!(get_json("/payouts/all?limit=0").status, 400);
    assert_eq!(get_json("/payouts/all?startDate=yesterday").status, 400);

    let statement = get_json("/account/statement?currency=TZS");
    assert_eq!(statement.status, 200);
    let statement = statement.json();
    assert_eq!(statement["accountDetails"]["openingBalance"], json!(5000));
    assert_eq!(statement["accountDetails"]["closingBalance"], json!(2905.8));
    assert_eq!(statement["accountDetails"]["totalDebits"], json!(2094.2));
    assert_eq!(statement["transactions"].as_array().unwrap().len(), 4);
    assert_eq!(statement["transactions"][1]["type"], "Fee - Payout");
    assert_eq!(statement["transactions"][1]["balance"], json!(3952.9));
    let refused = get_json("/account/statement?currency=EUR");
    assert_eq!(refused.status, 400);
    assert_eq!(
        message(&refused),
        "Invalid currency: currency must be either TZS or USD"
    );

    let rates = get_json("/exchange-rates/all?source=USD&target=TZS");
    assert_eq!(rates.status, 200);
    let rates = rates.json();
    assert_eq!(rates.as_array().unwrap().len(), 1);
    assert_eq!(rates[0]["rate"], json!(2510));
    assert_eq!(
        get_json("/exchange-rates/all")
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
