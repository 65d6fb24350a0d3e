//! A ClickPesa checkout link paid in a real browser (Debian's headless
//! Chromium through chromedriver, all on loopback), against FinConnect (the
//! built component, `FINCONNECT_WASM`) served over TCP: `POST /payments`
//! with `method: checkout_link`, open the returned `redirect_url` (the
//! sandbox's hosted checkout page), choose Airtel Money and pay, then check
//! that the webhook reached FinConnect, that the ledger emitted
//! `payment.completed`, and that `GET /payments/clickpesa/{reference}` reads
//! `completed`. Skipped (or failed with `FINCONNECT_REQUIRE_BROWSER=1`)
//! without Chromium, as `tests/browser.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;
mod webdriver;

use std::net::SocketAddr;

use finconnect_sandbox::{PaymentState, Sandbox, SandboxConfig};
use serde_json::{Value, json};

use common::API_KEY;
use webdriver::Browser;

/// FinConnect over TCP: a JSON request with the merchant key.
fn finconnect(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let auth = format!("Bearer {API_KEY}");
    let body = body.map(Value::to_string).unwrap_or_default();
    let reply = common::http_over_tcp(
        addr,
        method,
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert!(reply.status < 300, "{method} {path}: {reply}");
    reply.json()
}

#[test]
fn pay_a_clickpesa_checkout_link_on_the_sandbox_page_in_chromium() {
    if let Err(why) = webdriver::available() {
        webdriver::skip_or_fail(
            "pay_a_clickpesa_checkout_link_on_the_sandbox_page_in_chromium",
            &why,
        );
        return;
    }
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = common::build(common::builder(&sandbox));
    let finconnect_addr = common::serve(&host);
    sandbox.set_clickpesa_webhook_url(Some(format!(
        "http://{finconnect_addr}/notifications/clickpesa"
    )));

    let created = finconnect(
        finconnect_addr,
        "POST",
        "/payments",
        Some(&json!({
            "provider": "clickpesa",
            "reference": "SHOP3001",
            "amount": "25000",
            "currency": "TZS",
            "method": "checkout_link",
            "description": "Order 3001",
        })),
    );
    assert_eq!(created["status"], "pending", "{created}");
    let link = created["redirect_url"].as_str().unwrap().to_owned();

    let browser = Browser::launch();
    browser.goto(&link);
    assert!(browser.title().contains("SHOP3001"), "{}", browser.title());
    assert_eq!(browser.text("[data-test=amount]"), "TZS 25,000");
    browser.click("input[name=method][value=AIRTEL-MONEY]");
    browser.click("[data-test=pay]");
    browser.wait_for("[data-test=notice]");
    let notice = browser.text("[data-test=notice]");
    assert!(
        notice.starts_with("Payment received. Merchant webhook:"),
        "{notice}"
    );
    assert!(browser.find_all("[data-test=pay]").is_empty());

    // The webhook reached FinConnect and was taken.
    let deliveries = sandbox.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].status, Some(200), "{:?}", deliveries[0]);
    let ack: Value = serde_json::from_str(&deliveries[0].body).unwrap();
    assert_eq!(ack["accepted"], true, "{ack}");
    assert_eq!(ack["channel"], "AIRTEL-MONEY", "{ack}");
    assert_eq!(
        sandbox.clickpesa_payments()[0].state,
        PaymentState::Completed
    );

    let events = finconnect(finconnect_addr, "GET", "/events", None);
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["payment.pending", "payment.completed"], "{events}");
    let status = finconnect(finconnect_addr, "GET", "/payments/clickpesa/SHOP3001", None);
    assert_eq!(status["status"], "completed", "{status}");
}
