//! The `/_sandbox` control API, the hosted page, and the library handle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_sandbox::{Outcome, Sandbox, SandboxConfig};
use serde_json::json;

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

#[test]
fn urls_and_requests_are_recorded_in_order_without_control_calls() {
    let sb = sandbox();
    assert!(sb.origin().starts_with("http://127.0.0.1:"));
    assert_eq!(sb.pesapal_base_url(), format!("{}/pesapalv3", sb.origin()));
    assert_eq!(
        sb.clickpesa_base_url(),
        format!("{}/third-parties", sb.origin())
    );
    assert!(sb.addr().ip().is_loopback());

    let token = pesapal_token(&sb);
    get(sb.addr(), "/_sandbox/orders", &[]);
    let auth = bearer(&token);
    get(
        sb.addr(),
        &format!("{PP}/Transactions/GetTransactionStatus?orderTrackingId=abc"),
        &[("Authorization", &auth), ("X-Trace", "t1")],
    );
    let recorded = sb.requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/pesapalv3/api/Auth/RequestToken");
    assert_eq!(
        recorded[0].json().unwrap()["consumer_key"],
        "sandbox-pesapal-key"
    );
    assert_eq!(recorded[1].method, "GET");
    assert_eq!(recorded[1].query.as_deref(), Some("orderTrackingId=abc"));
    assert_eq!(recorded[1].header("x-trace"), Some("t1"));
    assert_eq!(recorded[1].header("AUTHORIZATION"), Some(auth.as_str()));
    assert!(recorded[1].body.is_empty());

    let over_http = get(sb.addr(), "/_sandbox/requests", &[]).json();
    assert_eq!(over_http.as_array().unwrap().len(), 2);
    assert_eq!(
        over_http[0]["json"]["consumer_secret"],
        "sandbox-pesapal-secret"
    );
    assert_eq!(over_http[1]["query"], "orderTrackingId=abc");

    let cleared = request(sb.addr(), "DELETE", "/_sandbox/requests", &[], None).json();
    assert_eq!(cleared, json!({"cleared": 2}));
    assert!(sb.requests().is_empty());
    clickpesa_token(&sb);
    assert_eq!(sb.requests().len(), 1);
    sb.clear_requests();
    assert!(sb.requests().is_empty());
}

#[test]
fn settle_over_http_reports_the_delivery() {
    let receiver = Receiver::start(|_| {
        (
            200,
            r#"{"orderNotificationType":"IPNCHANGE","status":200}"#.to_owned(),
        )
    });
    let sb = sandbox();
    let token = pesapal_token(&sb);
    let ipn = register_ipn(&sb, &token, &receiver.url("/ipn"), "POST");
    let id =
        submit_raw(&sb, &token, &order_body("HTTP1", "250.5", &ipn)).json()["order_tracking_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let resp = request(
        sb.addr(),
        "POST",
        &format!("/_sandbox/pesapal/orders/{id}/complete"),
        &[],
        None,
    );
    assert_eq!(resp.status, 200);
    let out = resp.json();
    assert_eq!(out["provider"], "pesapal");
    assert_eq!(out["outcome"], "completed");
    assert_eq!(out["delivery"]["url"], receiver.url("/ipn"));
    assert_eq!(out["delivery"]["method"], "POST");
    assert_eq!(out["delivery"]["status"], 200);
    assert_eq!(
        out["delivery"]["body"],
        r#"{"orderNotificationType":"IPNCHANGE","status":200}"#
    );
    assert_eq!(receiver.next().json()["OrderTrackingId"], id.as_str());

    // Conflicts and unknowns.
    let resp = request(
        sb.addr(),
        "POST",
        &format!("/_sandbox/pesapal/orders/{id}/fail"),
        &[],
        None,
    );
    assert_eq!(resp.status, 409);
    let resp = request(
        sb.addr(),
        "POST",
        "/_sandbox/pesapal/orders/nope/complete",
        &[],
        None,
    );
    assert_eq!(resp.status, 404);
    let resp = request(
        sb.addr(),
        "POST",
        &format!("/_sandbox/pesapal/orders/{id}/explode"),
        &[],
        None,
    );
    assert_eq!(resp.status, 404);

    let orders = get(sb.addr(), "/_sandbox/orders", &[]).json();
    assert_eq!(
        orders["pesapal"]["orders"][0]["merchant_reference"],
        "HTTP1"
    );
    assert_eq!(orders["pesapal"]["orders"][0]["amount"], "250.5");
    assert_eq!(orders["pesapal"]["orders"][0]["state"], "completed");
    assert_eq!(orders["pesapal"]["ipns"][0]["ipn_id"], ipn.as_str());
    assert_eq!(orders["clickpesa"]["payments"], json!([]));
    let deliveries = get(sb.addr(), "/_sandbox/deliveries", &[]).json();
    assert_eq!(deliveries.as_array().unwrap().len(), 1);
}

#[test]
fn clickpesa_webhook_url_can_be_set_over_http() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let resp = request(
        sb.addr(),
        "PUT",
        "/_sandbox/clickpesa/webhook",
        &[],
        Some(&json!({"url": receiver.url("/cp")}).to_string()),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(sb.config().clickpesa_webhook_url, Some(receiver.url("/cp")));
    let token = clickpesa_token(&sb);
    initiate(
        &sb,
        &token,
        &json!({"amount": "500", "currency": "TZS", "orderReference": "W1", "phoneNumber": "255655000000"}),
    );
    let out = request(
        sb.addr(),
        "POST",
        "/_sandbox/clickpesa/payments/W1/complete",
        &[],
        None,
    )
    .json();
    assert_eq!(out["delivery"]["status"], 200);
    assert_eq!(receiver.next().json()["event"], "PAYMENT RECEIVED");
    let resp = request(
        sb.addr(),
        "POST",
        "/_sandbox/clickpesa/payments/W1/reverse",
        &[],
        None,
    );
    assert_eq!(resp.status, 404, "ClickPesa has no reverse action");
    let orders = get(sb.addr(), "/_sandbox/orders", &[]).json();
    assert_eq!(orders["clickpesa"]["payments"][0]["state"], "completed");

    let resp = request(
        sb.addr(),
        "PUT",
        "/_sandbox/clickpesa/webhook",
        &[],
        Some(r#"{"url": null}"#),
    );
    assert_eq!(resp.json(), json!({"url": null}));
    assert_eq!(sb.config().clickpesa_webhook_url, None);
}

#[test]
fn index_describes_credentials_and_endpoints() {
    let sb = sandbox();
    let index = get(sb.addr(), "/_sandbox", &[]).json();
    assert_eq!(index["pesapal"]["base_url"], sb.pesapal_base_url());
    assert_eq!(index["pesapal"]["consumer_key"], "sandbox-pesapal-key");
    assert_eq!(index["clickpesa"]["client_id"], "sandbox-clickpesa-client");
    assert!(
        index["fault_targets"]
            .as_array()
            .unwrap()
            .contains(&json!("pesapal_status"))
    );
    assert_eq!(sb.describe(), index);
    let other = get(sb.addr(), "/elsewhere", &[]);
    assert_eq!(other.status, 404);
    assert!(sb.requests().is_empty());
}

#[test]
fn hosted_page_settles_and_redirects_to_the_callback() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let token = pesapal_token(&sb);
    let ipn = register_ipn(&sb, &token, &receiver.url("/ipn"), "GET");
    let out = submit_raw(&sb, &token, &order_body("PAGE1", "1", &ipn)).json();
    let redirect = out["redirect_url"].as_str().unwrap();
    let path = redirect.strip_prefix(&sb.origin()).unwrap();
    let page = get(sb.addr(), path, &[]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("PAGE1"));
    let id = out["order_tracking_id"].as_str().unwrap();
    let pay = request(
        sb.addr(),
        "POST",
        &format!("/pesapaliframe/PesapalIframe3/Pay?OrderTrackingId={id}&outcome=complete"),
        &[],
        None,
    );
    assert_eq!(pay.status, 303);
    assert_eq!(
        pay.header("location").unwrap(),
        format!(
            "http://127.0.0.1:1/return?OrderTrackingId={id}&OrderMerchantReference=PAGE1&OrderNotificationType=CALLBACKURL"
        )
    );
    assert_eq!(receiver.next().method, "GET");
    assert_eq!(status(&sb, &token, id).json()["status_code"], 1);
}

#[test]
fn async_settle_works_from_another_runtime_and_drop_stops_the_server() {
    let receiver = Receiver::ok();
    let sb = Sandbox::start(SandboxConfig {
        clickpesa_webhook_url: Some(receiver.url("/a")),
        ..SandboxConfig::default()
    })
    .unwrap();
    let token = clickpesa_token(&sb);
    initiate(
        &sb,
        &token,
        &json!({"amount": "10", "currency": "TZS", "orderReference": "ASYNC1", "phoneNumber": "255712345678"}),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let delivery = runtime
        .block_on(sb.settle_clickpesa_async("ASYNC1", Outcome::Completed))
        .unwrap();
    assert_eq!(delivery.status, Some(200));
    assert_eq!(receiver.next().json()["data"]["orderReference"], "ASYNC1");

    let addr = sb.addr();
    drop(sb);
    assert!(std::net::TcpStream::connect(addr).is_err(), "port closed");
}
