//! The pages for people over plain HTTP: PesaPal's hosted checkout, the
//! ClickPesa phone prompt and the dashboard (the browser test in the
//! workspace's `tests/browser.rs` clicks through the same pages).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_sandbox::{PaymentState, Sandbox, SandboxConfig};
use serde_json::json;

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

/// An order whose description is markup, placed directly with the sandbox.
fn hostile_order(sb: &Sandbox, receiver: &Receiver) -> (String, String) {
    let token = pesapal_token(sb);
    let ipn = register_ipn(sb, &token, &receiver.url("/ipn"), "GET");
    let body = json!({
        "id": "UI-1",
        "currency": "KES",
        "amount": 1500,
        "description": "<script>alert('x')</script> & \"quotes\"",
        "callback_url": "http://127.0.0.1:1/return?shop=1",
        "notification_id": ipn,
        "billing_address": {"email_address": "jane@example.com"},
    });
    // The amount as PesaPal's clients send it: a number with two decimals.
    let body = body
        .to_string()
        .replace("\"amount\":1500", "\"amount\":1500.00");
    let out = submit_raw(sb, &token, &body).json();
    let id = out["order_tracking_id"].as_str().unwrap().to_owned();
    let redirect = out["redirect_url"].as_str().unwrap().to_owned();
    (id, redirect)
}

fn form(sb: &Sandbox, target: &str, body: &str) -> Resp {
    request(
        sb.addr(),
        "POST",
        target,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(body),
    )
}

#[test]
fn checkout_page_shows_the_order_escaped_with_methods_and_a_strict_policy() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let (id, redirect) = hostile_order(&sb, &receiver);
    let page = get(sb.addr(), redirect.strip_prefix(&sb.origin()).unwrap(), &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'nonce-"), "{policy}");
    let html = page.text();
    for expected in [
        "UI-1",
        "KES",
        "1,500.00",
        "FinConnect Sandbox Shop",
        &id,
        "value=\"MpesaKE\"",
        "value=\"Visa\"",
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in\n{html}");
    }
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("{{"), "an unfilled placeholder:\n{html}");
}

#[test]
fn paying_on_the_page_settles_like_the_control_api_and_redirects_with_the_parameters() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let (id, _) = hostile_order(&sb, &receiver);
    let pay = form(
        &sb,
        &format!("/pesapaliframe/PesapalIframe3/Pay?OrderTrackingId={id}"),
        "method=Visa&outcome=complete",
    );
    assert_eq!(pay.status, 303, "{}", pay.text());
    assert_eq!(
        pay.header("location").unwrap(),
        format!(
            "http://127.0.0.1:1/return?shop=1&OrderTrackingId={id}&OrderMerchantReference=UI-1&OrderNotificationType=CALLBACKURL"
        )
    );
    let ipn = receiver.next();
    assert_eq!(ipn.method, "GET");
    assert!(
        ipn.target.contains(&format!(
            "OrderTrackingId={id}&OrderMerchantReference=UI-1&OrderNotificationType=IPNCHANGE"
        )),
        "{}",
        ipn.target
    );
    assert_eq!(sb.pesapal_orders()[0].state, PaymentState::Completed);
    assert_eq!(sb.deliveries().len(), 1);
    let token = pesapal_token(&sb);
    assert_eq!(status(&sb, &token, &id).json()["payment_method"], "Visa");

    // Back on the page: paid, nothing left to press, a way back to the shop.
    let page = get(
        sb.addr(),
        &format!("/pesapaliframe/PesapalIframe3/Index?OrderTrackingId={id}"),
        &[],
    )
    .text();
    assert!(page.contains("This order has been paid."), "{page}");
    assert!(!page.contains("data-test=\"pay\""), "{page}");
    assert!(page.contains("OrderNotificationType=CALLBACKURL"), "{page}");
}

#[test]
fn declining_fails_the_order_and_the_page_offers_a_retry() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let (id, _) = hostile_order(&sb, &receiver);
    let pay = form(
        &sb,
        &format!("/pesapaliframe/PesapalIframe3/Pay?OrderTrackingId={id}"),
        "method=MpesaKE&outcome=fail",
    );
    assert_eq!(pay.status, 303);
    assert_eq!(sb.pesapal_orders()[0].state, PaymentState::Failed);
    receiver.next();
    let page = get(
        sb.addr(),
        &format!("/pesapaliframe/PesapalIframe3/Index?OrderTrackingId={id}"),
        &[],
    )
    .text();
    assert!(page.contains("You can try again"), "{page}");
    assert!(page.contains("data-test=\"pay\""), "{page}");
}

#[test]
fn the_page_refuses_unknown_orders_methods_and_outcomes() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let (id, _) = hostile_order(&sb, &receiver);
    let pay = |body: &str| {
        form(
            &sb,
            &format!("/pesapaliframe/PesapalIframe3/Pay?OrderTrackingId={id}"),
            body,
        )
    };
    let bad_method = pay("method=Cash&outcome=complete");
    assert_eq!(bad_method.status, 400);
    assert!(bad_method.text().contains("method must be one of"));
    assert_eq!(pay("outcome=reverse").status, 400);
    assert_eq!(sb.pesapal_orders()[0].state, PaymentState::Pending);
    assert!(sb.deliveries().is_empty());

    let unknown = get(
        sb.addr(),
        "/pesapaliframe/PesapalIframe3/Index?OrderTrackingId=nope",
        &[],
    );
    assert_eq!(unknown.status, 404);
    let unknown = form(
        &sb,
        "/pesapaliframe/PesapalIframe3/Pay?OrderTrackingId=nope",
        "outcome=complete",
    );
    assert_eq!(unknown.status, 409);
    assert!(
        unknown.text().contains("no pesapal order"),
        "{}",
        unknown.text()
    );
}

#[test]
fn dashboard_lists_orders_deliveries_requests_and_faults_escaped_and_redacted() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let (id, _) = hostile_order(&sb, &receiver);
    sb.settle_pesapal(&id, finconnect_sandbox::Outcome::Completed)
        .unwrap();
    receiver.next();
    post_json(
        sb.addr(),
        "/_sandbox/faults",
        &[],
        &json!({"target": "pesapal_status", "kind": "slow", "delay_ms": 1500, "times": 2}),
    );

    for path in ["/", "/_sandbox/ui"] {
        let page = get(sb.addr(), path, &[]);
        assert_eq!(page.status, 200, "{path}");
        let html = page.text();
        for expected in [
            "data-test=\"pesapal-order\"",
            "UI-1",
            &id,
            "badge-completed",
            "data-test=\"delivery\"",
            "GET &rarr; 200",
            "data-test=\"request\"",
            "/pesapalv3/api/Auth/RequestToken",
            "slow on pesapal_status (1500 ms), next 2 requests",
            "<option>clickpesa_query</option>",
        ] {
            assert!(html.contains(expected), "{path}: missing {expected:?}");
        }
        assert!(!html.contains("<script>alert"), "{path}");
        assert!(
            !html.contains("sandbox-pesapal-secret"),
            "{path}: a secret shown"
        );
        assert!(!html.contains("{{"), "{path}: an unfilled placeholder");
        // The one script is the page's own, allowed by its nonce.
        let policy = page.header("content-security-policy").unwrap().to_owned();
        let nonce = policy
            .split("script-src 'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap();
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
    }
}

#[test]
fn clickpesa_phone_prompt_settles_a_pending_payment_and_delivers_the_webhook() {
    let receiver = Receiver::ok();
    let sb = Sandbox::start(SandboxConfig {
        clickpesa_webhook_url: Some(receiver.url("/webhook")),
        ..SandboxConfig::default()
    })
    .unwrap();
    let token = clickpesa_token(&sb);
    let out = initiate(
        &sb,
        &token,
        &json!({"amount": "1000", "currency": "TZS", "orderReference": "CPUI1", "phoneNumber": "255712345678"}),
    );
    assert!(out.status < 300, "{}", out.text());

    let dashboard = get(sb.addr(), "/", &[]).text();
    assert!(dashboard.contains("href=\"/_sandbox/ui/clickpesa/CPUI1\""));

    let prompt = get(sb.addr(), "/_sandbox/ui/clickpesa/CPUI1", &[]);
    assert_eq!(prompt.status, 200);
    let html = prompt.text();
    assert!(
        html.contains("Pay TZS 1,000 to FinConnect Sandbox Shop for order CPUI1?"),
        "{html}"
    );
    assert!(html.contains("255712345678"));

    let answer = form(
        &sb,
        "/_sandbox/ui/clickpesa/CPUI1",
        "pin=1234&outcome=complete",
    );
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .text()
            .contains("Payment sent. Merchant webhook: answered HTTP 200")
    );
    let webhook = receiver.next();
    assert_eq!(webhook.json()["event"], "PAYMENT RECEIVED");
    assert_eq!(sb.clickpesa_payments()[0].state, PaymentState::Completed);

    // Final: the prompt no longer offers to pay, and a second answer is refused.
    let again = form(&sb, "/_sandbox/ui/clickpesa/CPUI1", "outcome=fail");
    assert_eq!(again.status, 409);
    assert!(!again.text().contains("data-test=\"pay\""));
    assert_eq!(
        get(sb.addr(), "/_sandbox/ui/clickpesa/NOPE", &[]).status,
        404
    );
}

/// An STK push for 254708374149 with `reference` as the account reference,
/// its callback to `receiver`; returns the `CheckoutRequestID`.
fn stk_push_for(sb: &Sandbox, receiver: &Receiver, reference: &str, amount: &str) -> String {
    let token = mpesa_token(sb);
    let mut body = stk_body("254708374149", &receiver.url("/notifications/mpesa"));
    body["AccountReference"] = json!(reference);
    body["Amount"] = json!(amount);
    let resp = stk_push(sb, &token, &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["CheckoutRequestID"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn mpesa_phone_prompt_shows_the_push_escaped_with_every_answer() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let id = stk_push_for(&sb, &receiver, "<b>INV</b>&'\"", "1500");
    let prompt = get(sb.addr(), &format!("/_sandbox/ui/mpesa/{id}"), &[]);
    assert_eq!(prompt.status, 200);
    assert_eq!(
        prompt.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = prompt.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("style-src 'nonce-"), "{policy}");
    let html = prompt.text();
    for expected in [
        "Do you want to pay KES 1,500 to FinConnect Sandbox Shop (paybill 174379), account no. &lt;b&gt;INV&lt;/b&gt;&amp;&#39;&quot;? Enter your M-PESA PIN.",
        "254708374149",
        "Safaricom",
        "value=\"success\" data-test=\"pay\"",
        "value=\"cancelled_by_user\" data-test=\"decline\"",
        "value=\"wrong_pin\"",
        "value=\"insufficient_funds\"",
        &format!("action=\"/_sandbox/ui/mpesa/{id}\""),
    ] {
        assert!(html.contains(expected), "missing {expected:?} in\n{html}");
    }
    assert!(!html.contains("<b>INV"), "{html}");
    assert!(!html.contains("{{"), "an unfilled placeholder:\n{html}");
    assert!(sb.deliveries().is_empty(), "rendering settles nothing");

    let unknown = get(sb.addr(), "/_sandbox/ui/mpesa/ws_CO_nope", &[]);
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains("CheckoutRequestID"));
}

#[test]
fn mpesa_phone_prompt_pays_through_the_callback_and_shows_the_answer() {
    let receiver = Receiver::start(|_| {
        (
            200,
            r#"{"ResultCode":0,"ResultDesc":"<Accepted>"}"#.to_owned(),
        )
    });
    let sb = sandbox();
    let id = stk_push_for(&sb, &receiver, "INV-7", "250");

    let dashboard = get(sb.addr(), "/", &[]).text();
    assert!(
        dashboard.contains("data-test=\"mpesa-push\""),
        "{dashboard}"
    );
    assert!(dashboard.contains(&format!("href=\"/_sandbox/ui/mpesa/{id}\"")));
    assert!(dashboard.contains(&format!(
        "data-call=\"POST /_sandbox/mpesa/stk/{id}/success\""
    )));
    assert!(dashboard.contains("M-Pesa STK pushes"));

    let answer = form(
        &sb,
        &format!("/_sandbox/ui/mpesa/{id}"),
        "pin=1234&outcome=success",
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let html = answer.text();
    assert!(
        html.contains("Paid: ResultCode 0 (success). Callback: answered HTTP 200."),
        "{html}"
    );
    // FinConnect's answer, escaped.
    assert!(
        html.contains(
            "Answer: {&quot;ResultCode&quot;:0,&quot;ResultDesc&quot;:&quot;&lt;Accepted&gt;&quot;}"
        ),
        "{html}"
    );
    assert!(!html.contains("data-test=\"pay\""), "settled: {html}");

    // The same callback the control API sends, to the push's CallBackURL.
    let callback = receiver.next();
    assert_eq!(callback.method, "POST");
    assert_eq!(callback.target, "/notifications/mpesa");
    let stk = &callback.json()["Body"]["stkCallback"];
    assert_eq!(stk["CheckoutRequestID"], id.as_str());
    assert_eq!(stk["ResultCode"], 0);
    let push = &sb.mpesa_stk_pushes()[0];
    assert_eq!(push.state, PaymentState::Completed);
    assert!(push.receipt_number.is_some());
    assert_eq!(sb.deliveries().len(), 1);

    // Results are final: another answer is refused, nothing more is sent.
    let again = form(
        &sb,
        &format!("/_sandbox/ui/mpesa/{id}"),
        "outcome=cancelled_by_user",
    );
    assert_eq!(again.status, 409);
    assert!(again.text().contains("already ended"), "{}", again.text());
    assert_eq!(sb.deliveries().len(), 1);
    let bad = form(&sb, &format!("/_sandbox/ui/mpesa/{id}"), "outcome=maybe");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("outcome must be one of success,"));

    let page = get(sb.addr(), &format!("/_sandbox/ui/mpesa/{id}"), &[]).text();
    assert!(page.contains("This push ended with 0 (success)"), "{page}");
    let dashboard = get(sb.addr(), "/", &[]).text();
    assert!(dashboard.contains("POST &rarr; 200"), "{dashboard}");
    assert!(dashboard.contains("Resend callback"), "{dashboard}");
    assert!(!dashboard.contains("<Accepted>"), "{dashboard}");
}

#[test]
fn mpesa_phone_prompt_cancel_fails_the_push_with_1032() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let id = stk_push_for(&sb, &receiver, "INV-8", "1");
    let answer = form(
        &sb,
        &format!("/_sandbox/ui/mpesa/{id}"),
        "outcome=cancelled_by_user",
    );
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .text()
            .contains("Not paid: ResultCode 1032 (cancelled_by_user)."),
        "{}",
        answer.text()
    );
    let callback = receiver.next();
    assert_eq!(callback.json()["Body"]["stkCallback"]["ResultCode"], 1032);
    assert_eq!(sb.mpesa_stk_pushes()[0].state, PaymentState::Failed);
}
