//! The sandbox's pages in a real browser (Debian's headless Chromium through
//! chromedriver, all on loopback), against FinConnect (the built component,
//! `FINCONNECT_WASM`) served over TCP by the wasmtime host:
//!
//! register an IPN and `POST /payments` through FinConnect, open the
//! returned `redirect_url`, pay (or decline) on the sandbox's checkout page,
//! then check that the IPN reached FinConnect and was acknowledged, that
//! `GET /payments/pesapal/{id}` reads `completed` (`failed`), and that the
//! browser landed on the shop's `callback_url` with PesaPal's parameters.
//! Finally the dashboard lists both orders.
//!
//! The M-Pesa walk-through: `POST /payments` with provider mpesa (the STK
//! callback to FinConnect's own `/notifications/mpesa`), open the sandbox's
//! phone prompt for the push, press OK, then check that the callback reached
//! FinConnect, was acknowledged with `ResultCode` 0, and that
//! `GET /payments/mpesa/{id}` reads `completed`.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the test says on
//! stderr that it skipped; with `FINCONNECT_REQUIRE_BROWSER=1` (CI) it fails.
//! With `FINCONNECT_UPDATE_SCREENSHOTS=1` it writes the checkout and
//! dashboard screenshots to `docs/`, otherwise under the target directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;
mod webdriver;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use finconnect_sandbox::Sandbox;
use serde_json::{Value, json};

use common::API_KEY;
use webdriver::Browser;

/// The merchant's site: answers every GET with a small page and remembers
/// the request targets (the callback the browser is sent to).
struct Shop {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Shop {
    fn start() -> Shop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            // A thread per connection: a browser may open a connection
            // early and send nothing on it.
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let record = Arc::clone(&record);
                std::thread::spawn(move || answer(stream, &record));
            }
        });
        Shop { addr, seen }
    }

    fn callback_url(&self) -> String {
        format!("http://{}/return", self.addr)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one request head from `stream`, records its target, answers.
fn answer(mut stream: std::net::TcpStream, record: &Mutex<Vec<String>>) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    // Skip the headers (GET requests carry no body).
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let target = line.split(' ').nth(1).unwrap_or("").to_owned();
    record.lock().unwrap().push(target);
    let page = "<!DOCTYPE html><title>Shop</title><h1>Thank you</h1>";
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
}

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

fn screenshot_path(name: &str) -> PathBuf {
    if std::env::var("FINCONNECT_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        PathBuf::from(common::ROOT).join("docs").join(name)
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
    }
}

fn save_png(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
    let path = screenshot_path(name);
    std::fs::write(&path, png).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
}

/// One order through the checkout page; `button` is `pay` or `decline`.
/// Returns the order tracking id.
#[allow(clippy::too_many_arguments, reason = "one scenario, spelled out")]
fn checkout(
    browser: &Browser,
    sandbox: &Sandbox,
    finconnect_addr: SocketAddr,
    shop: &Shop,
    ipn_id: &str,
    reference: &str,
    button: &str,
    screenshot: Option<&str>,
) -> String {
    let mut order = common::pesapal_body(reference, ipn_id);
    order["callback_url"] = json!(shop.callback_url());
    let created = finconnect(finconnect_addr, "POST", "/payments", Some(&order));
    assert_eq!(created["status"], "pending", "{created}");
    let tracking_id = created["tracking_id"].as_str().unwrap().to_owned();
    let redirect_url = created["redirect_url"].as_str().unwrap();
    assert!(
        redirect_url.starts_with(&sandbox.origin()),
        "{redirect_url}"
    );

    browser.goto(redirect_url);
    assert!(browser.title().contains(reference), "{}", browser.title());
    assert_eq!(browser.text("[data-test=reference]"), reference);
    assert_eq!(
        browser.text("[data-test=merchant]"),
        "FinConnect Sandbox Shop"
    );
    assert_eq!(browser.text("[data-test=amount]"), "KES 1,500.00");
    assert_eq!(
        browser.text("[data-test=description]"),
        format!("Order {reference}")
    );
    assert_eq!(browser.text("[data-test=state]").to_lowercase(), "pending");
    assert!(browser.is_selected("input[name=method][value=MpesaKE]"));
    if button == "pay" {
        browser.click("input[name=method][value=Visa]");
        assert!(browser.is_selected("input[name=method][value=Visa]"));
    }
    if let Some(name) = screenshot {
        save_png(name, &browser.screenshot_full(640));
    }
    let deliveries_before = sandbox.deliveries().len();
    browser.click(&format!("[data-test={button}]"));

    // The browser ends on the shop's callback with PesaPal's parameters.
    let landed = browser.wait_for_url(&shop.callback_url());
    let expected = format!(
        "{}?OrderTrackingId={tracking_id}&OrderMerchantReference={reference}&OrderNotificationType=CALLBACKURL",
        shop.callback_url()
    );
    assert_eq!(landed, expected);
    assert!(
        shop.seen()
            .iter()
            .any(|t| expected.ends_with(t.as_str()) && t.starts_with("/return?")),
        "the shop never saw the callback: {:?}",
        shop.seen()
    );

    // The IPN went to FinConnect, which checked the status and acknowledged it.
    let deliveries = sandbox.deliveries();
    assert_eq!(deliveries.len(), deliveries_before + 1, "{deliveries:?}");
    let delivery = deliveries.last().unwrap();
    let ipn_url = delivery.url.as_deref().unwrap();
    assert!(
        ipn_url.starts_with(&format!("http://{finconnect_addr}/notifications/pesapal?")),
        "{ipn_url}"
    );
    assert!(ipn_url.contains(&format!("OrderTrackingId={tracking_id}")));
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let ack: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(ack["status"], 200, "{ack}");
    assert_eq!(ack["orderTrackingId"], tracking_id.as_str());
    assert_eq!(ack["orderNotificationType"], "IPNCHANGE");
    tracking_id
}

#[test]
fn pay_and_decline_on_the_sandbox_checkout_page_in_chromium() {
    if let Err(why) = webdriver::available() {
        webdriver::skip_or_fail(
            "pay_and_decline_on_the_sandbox_checkout_page_in_chromium",
            &why,
        );
        return;
    }
    let sandbox = Sandbox::start(finconnect_sandbox::SandboxConfig::default()).unwrap();
    let host = common::build(common::builder(&sandbox));
    let finconnect_addr = common::serve(&host);
    let shop = Shop::start();

    let ipn = finconnect(
        finconnect_addr,
        "POST",
        "/ipn-registrations",
        Some(&common::ipn_body(
            &format!("http://{finconnect_addr}/notifications/pesapal"),
            "GET",
        )),
    );
    let ipn_id = ipn["ipn_id"].as_str().unwrap().to_owned();

    let browser = Browser::launch();
    let paid = checkout(
        &browser,
        &sandbox,
        finconnect_addr,
        &shop,
        &ipn_id,
        "SHOP-1001",
        "pay",
        Some("sandbox-checkout.png"),
    );
    let status = finconnect(
        finconnect_addr,
        "GET",
        &format!("/payments/pesapal/{paid}"),
        None,
    );
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["reference"], "SHOP-1001");
    assert_eq!(
        status["method"], "Visa",
        "the method chosen on the page: {status}"
    );

    let declined = checkout(
        &browser,
        &sandbox,
        finconnect_addr,
        &shop,
        &ipn_id,
        "SHOP-1002",
        "decline",
        None,
    );
    let status = finconnect(
        finconnect_addr,
        "GET",
        &format!("/payments/pesapal/{declined}"),
        None,
    );
    assert_eq!(status["status"], "failed", "{status}");

    // A third order left pending, so the dashboard shows every state.
    let mut pending = common::pesapal_body("SHOP-1003", &ipn_id);
    pending["callback_url"] = json!(shop.callback_url());
    finconnect(finconnect_addr, "POST", "/payments", Some(&pending));

    browser.goto(&format!("{}/", sandbox.origin()));
    assert_eq!(browser.title(), "finconnect-sandbox");
    let rows = browser.find_all("tr[data-test=pesapal-order]");
    assert_eq!(rows.len(), 3);
    let orders = browser.text("#orders");
    for expected in [
        "SHOP-1001",
        "SHOP-1002",
        "SHOP-1003",
        paid.as_str(),
        declined.as_str(),
    ] {
        assert!(
            orders.contains(expected),
            "{expected} not on the dashboard:\n{orders}"
        );
    }
    let orders_lower = orders.to_lowercase();
    for state in ["completed", "failed", "pending"] {
        assert!(orders_lower.contains(state), "{state}:\n{orders}");
    }
    assert_eq!(browser.find_all("tr[data-test=delivery]").len(), 2);
    assert!(browser.text("#deliveries").contains("GET → 200"));
    let requests = browser.text("#requests");
    assert!(
        requests.contains("/pesapalv3/api/Transactions/SubmitOrderRequest"),
        "{requests}"
    );
    // The page's script runs (the CSP allows it by nonce): the fault form
    // shows the delay field only for the slow kind.
    assert!(
        browser
            .execute("return document.querySelector('.for-slow').hidden")
            .as_bool()
            .unwrap()
    );
    save_png("sandbox-dashboard.png", &browser.screenshot_full(1400));
}

#[test]
fn pay_an_mpesa_stk_push_on_the_sandbox_phone_prompt_in_chromium() {
    if let Err(why) = webdriver::available() {
        webdriver::skip_or_fail(
            "pay_an_mpesa_stk_push_on_the_sandbox_phone_prompt_in_chromium",
            &why,
        );
        return;
    }
    let sandbox = Sandbox::start(finconnect_sandbox::SandboxConfig::default()).unwrap();
    let host = common::build(common::builder(&sandbox));
    let finconnect_addr = common::serve(&host);

    let created = finconnect(
        finconnect_addr,
        "POST",
        "/payments",
        Some(&json!({
            "provider": "mpesa",
            "reference": "SHOP2001",
            "amount": "1500.00",
            "currency": "KES",
            "customer": {"phone": "+254708374149"},
            "callback_url": format!("http://{finconnect_addr}/notifications/mpesa"),
        })),
    );
    assert_eq!(created["status"], "pending", "{created}");
    let tracking_id = created["tracking_id"].as_str().unwrap().to_owned();
    assert!(tracking_id.starts_with("ws_CO_"), "{created}");

    let browser = Browser::launch();
    browser.goto(&format!(
        "{}/_sandbox/ui/mpesa/{tracking_id}",
        sandbox.origin()
    ));
    assert!(
        browser.title().contains("254708374149"),
        "{}",
        browser.title()
    );
    let prompt = browser.text("[data-test=prompt]");
    assert_eq!(
        prompt,
        "Do you want to pay KES 1,500 to FinConnect Sandbox Shop (paybill 174379), account no. SHOP2001? Enter your M-PESA PIN."
    );
    assert!(sandbox.deliveries().is_empty());
    save_png("sandbox-mpesa-prompt.png", &browser.screenshot_full(480));
    browser.click("[data-test=pay]");
    browser.wait_for("[data-test=notice]");

    // The callback went to FinConnect, which confirmed it and acknowledged.
    let deliveries = sandbox.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let delivery = &deliveries[0];
    assert_eq!(
        delivery.url.as_deref(),
        Some(format!("http://{finconnect_addr}/notifications/mpesa").as_str())
    );
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let ack: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(ack["ResultCode"], 0, "{ack}");
    let sent: Value = serde_json::from_str(&delivery.request_body).unwrap();
    assert_eq!(
        sent["Body"]["stkCallback"]["CheckoutRequestID"],
        tracking_id.as_str()
    );

    // The page says so, with FinConnect's answer; nothing left to press.
    let notice = browser.text("[data-test=notice]");
    assert!(
        notice.starts_with("Paid: ResultCode 0 (success). Callback: answered HTTP 200."),
        "{notice}"
    );
    assert!(notice.contains("\"ResultCode\":0"), "{notice}");
    assert!(browser.find_all("[data-test=pay]").is_empty());

    let status = finconnect(
        finconnect_addr,
        "GET",
        &format!("/payments/mpesa/{tracking_id}"),
        None,
    );
    assert_eq!(status["status"], "completed", "{status}");

    browser.goto(&format!("{}/", sandbox.origin()));
    let pushes = browser.text("#mpesa");
    for expected in [
        tracking_id.as_str(),
        "SHOP2001",
        "254708374149",
        "POST → 200",
    ] {
        assert!(
            pushes.contains(expected),
            "{expected} not listed:\n{pushes}"
        );
    }
    assert_eq!(browser.find_all("tr[data-test=mpesa-push]").len(), 1);
}
