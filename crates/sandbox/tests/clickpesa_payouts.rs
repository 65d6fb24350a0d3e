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
