//! ClickPesa previews over real loopback HTTP: the methods with their fees,
//! the sender when asked, the documented refusals, nothing recorded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig, Target};
use serde_json::json;

const USSD: &str = "/third-parties/payments/preview-ussd-push-request";
const CARD: &str = "/third-parties/payments/preview-card-payment";

#[test]
fn a_ussd_preview_lists_methods_fees_and_the_sender_and_records_nothing() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let token = clickpesa_token(&sb);
    let auth = [("Authorization", token.as_str())];
    let body = json!({"amount": "1000", "currency": "TZS", "orderReference": "P1",
                      "phoneNumber": "255754000000", "fetchSenderDetails": true});
    let resp = post_json(sb.addr(), USSD, &auth, &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let out = resp.json();
    let methods = out["activeMethods"].as_array().unwrap();
    assert_eq!(methods.len(), 4);
    assert_eq!(
        methods[0],
        json!({"name": "M-PESA", "status": "AVAILABLE", "fee": 15})
    );
    assert_eq!(methods[3]["status"], "UNAVAILABLE");
    assert_eq!(
        out["sender"],
        json!({"accountName": "Sandbox Customer", "accountNumber": "255754000000", "accountProvider": "M-PESA"})
    );
    // Without fetchSenderDetails (or a phone): no sender.
    let plain = json!({"amount": "1000", "currency": "TZS", "orderReference": "P1"});
    let out = post_json(sb.addr(), USSD, &auth, &plain).json();
    assert!(out.get("sender").is_none());
    assert!(
        sb.clickpesa_payments().is_empty(),
        "a preview starts nothing"
    );

    for (body, message) in [
        (
            json!({"amount": "1000", "currency": "USD", "orderReference": "P1"}),
            "currency must be one of the following values: TZS",
        ),
        (
            json!({"amount": "1000", "currency": "TZS", "orderReference": "P-1"}),
            "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank",
        ),
        (
            json!({"amount": "1000", "currency": "TZS", "orderReference": "P1", "phoneNumber": "0712"}),
            "Invalid / unsupported phone number",
        ),
    ] {
        let resp = post_json(sb.addr(), USSD, &auth, &body);
        assert_eq!(resp.status, 400, "{body}");
        assert_eq!(resp.json()["message"], message);
    }

    // A reference already used by a payment: 409.
    initiate(
        &sb,
        &token,
        &json!({"amount": "1000", "currency": "TZS", "orderReference": "USED1", "phoneNumber": "255712345678"}),
    );
    let used = json!({"amount": "1000", "currency": "TZS", "orderReference": "USED1"});
    assert_eq!(post_json(sb.addr(), USSD, &auth, &used).status, 409);
    assert_eq!(post_json(sb.addr(), USSD, &[], &used).status, 401);
}

#[test]
fn a_card_preview_is_usd_and_the_account_404s_are_faults() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let token = clickpesa_token(&sb);
    let auth = [("Authorization", token.as_str())];
    let body = json!({"amount": "12.50", "currency": "USD", "orderReference": "C1"});
    let out = post_json(sb.addr(), CARD, &auth, &body).json();
    assert_eq!(
        out,
        json!({"activeMethods": [{"name": "CARD", "status": "AVAILABLE", "fee": 0.44}]})
    );
    let tzs = json!({"amount": "12.50", "currency": "TZS", "orderReference": "C1"});
    assert_eq!(post_json(sb.addr(), CARD, &auth, &tzs).status, 400);

    sb.inject(Fault::once(
        Target::ClickpesaPreview,
        FaultKind::Status(
            404,
            r#"{"message":"Account has no payment collection methods"}"#.into(),
        ),
    ));
    let resp = post_json(sb.addr(), CARD, &auth, &body);
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json()["message"],
        "Account has no payment collection methods"
    );
}
