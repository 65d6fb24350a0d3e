//! ClickPesa emulation over real loopback HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_core::providers::clickpesa::checksum;
use finconnect_sandbox::{Outcome, PaymentState, Sandbox, SandboxConfig, SandboxError};
use serde_json::{Value, json};

/// The body as the core's JSON tree (what the checksum functions take).
fn tree(body: &Value) -> checksum::Value {
    checksum::Value::parse(&serde_json::to_vec(body).unwrap()).unwrap()
}

/// Sets `checksum` on a request body as a ClickPesa client would.
fn sign(key: &[u8], body: &mut Value) {
    body["checksum"] = json!(checksum::compute(key, &tree(body)).unwrap());
}

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

fn ussd(reference: &str) -> Value {
    json!({"amount": "1000", "currency": "TZS", "orderReference": reference, "phoneNumber": "255712345678"})
}

#[test]
fn token_needs_both_headers_and_the_right_values() {
    let sb = sandbox();
    let url = format!("{CP}/generate-token");
    let resp = request(sb.addr(), "POST", &url, &[], None);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json(), json!({"message": "Unauthorized"}));
    let resp = request(
        sb.addr(),
        "POST",
        &url,
        &[("client-id", "sandbox-clickpesa-client")],
        None,
    );
    assert_eq!(resp.status, 401);
    let resp = request(
        sb.addr(),
        "POST",
        &url,
        &[
            ("client-id", "sandbox-clickpesa-client"),
            ("api-key", "wrong"),
        ],
        None,
    );
    assert_eq!(resp.status, 403);
    assert_eq!(resp.json(), json!({"message": "Invalid client details"}));

    let resp = request(
        sb.addr(),
        "POST",
        &url,
        &[
            ("client-id", "sandbox-clickpesa-client"),
            ("api-key", "sandbox-clickpesa-key"),
        ],
        Some("{}"),
    );
    assert_eq!(resp.status, 200);
    let body = resp.json();
    assert_eq!(body["success"], true);
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("Bearer ey"), "{token}");
    assert_eq!(body.as_object().unwrap().len(), 2);
    assert_ne!(clickpesa_token(&sb), clickpesa_token(&sb));
}

#[test]
fn the_token_is_sent_verbatim_and_a_doubled_bearer_is_rejected() {
    let sb = sandbox();
    let token = clickpesa_token(&sb);
    let query = format!("{CP}/payments/NOPE1");
    let doubled = format!("Bearer {token}");
    let bare = token.trim_start_matches("Bearer ").to_owned();
    for auth in [doubled.as_str(), bare.as_str(), "Bearer made.up.token"] {
        let resp = get(sb.addr(), &query, &[("Authorization", auth)]);
        assert_eq!(resp.status, 401, "{auth}");
        assert_eq!(
            resp.json(),
            json!({"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"})
        );
    }
    assert_eq!(get(sb.addr(), &query, &[]).status, 401);
    // The verbatim token gets through (to a 404 for an unknown reference).
    let resp = get(sb.addr(), &query, &[("Authorization", &token)]);
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json(),
        json!({"message": "Invalid or missing payment: NOPE1"})
    );
}

#[test]
fn initiate_validates_and_refuses_a_reused_reference() {
    let sb = sandbox();
    let token = clickpesa_token(&sb);
    let cases = [
        (
            json!({"amount": "1000", "currency": "TZS", "orderReference": "ORD-1", "phoneNumber": "255712345678"}),
            "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank",
        ),
        (
            json!({"amount": "1000", "currency": "TZS", "orderReference": "", "phoneNumber": "255712345678"}),
            "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank",
        ),
        (
            json!({"amount": "1000", "currency": "TZS", "orderReference": "ORD1", "phoneNumber": "0712345678"}),
            "Invalid / unsupported phone number",
        ),
        (
            json!({"amount": "1000", "currency": "USD", "orderReference": "ORD1", "phoneNumber": "255712345678"}),
            "currency must be one of the following values: TZS",
        ),
        (
            json!({"amount": 1000, "currency": "TZS", "orderReference": "ORD1", "phoneNumber": "255712345678"}),
            "amount must be a string",
        ),
    ];
    for (body, message) in cases {
        let resp = initiate(&sb, &token, &body);
        assert_eq!(resp.status, 400, "{body}");
        assert_eq!(
            resp.json(),
            json!({"statusCode": 400, "message": message, "error": "Bad Request"})
        );
    }
    assert!(sb.clickpesa_payments().is_empty());

    let resp = initiate(&sb, &token, &ussd("ORDER123"));
    assert_eq!(resp.status, 200);
    let body = resp.json();
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("ORDER123LCP"), "{id}");
    assert_eq!(body["status"], "PROCESSING");
    assert_eq!(body["channel"], "TIGO-PESA");
    assert_eq!(body["orderReference"], "ORDER123");
    assert_eq!(body["collectedAmount"], "1000");
    assert_eq!(body["collectedCurrency"], "TZS");
    assert_eq!(body["clientId"], "sandbox-clickpesa-client");
    assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));

    let again = initiate(&sb, &token, &ussd("ORDER123"));
    assert_eq!(again.status, 409);
    assert_eq!(
        again.json(),
        json!({"statusCode": 409,
               "message": "Order reference ORDER123 already used: Create a different reference",
               "error": "Conflict"})
    );
    assert_eq!(sb.clickpesa_payments().len(), 1, "exactly one payment kept");
}

#[test]
fn query_settle_and_a_signed_webhook() {
    let receiver = Receiver::ok();
    let sb = Sandbox::start(SandboxConfig {
        clickpesa_checksum_key: Some("secret-key".into()),
        clickpesa_webhook_url: Some(receiver.url("/notifications/clickpesa")),
        ..SandboxConfig::default()
    })
    .unwrap();
    let token = clickpesa_token(&sb);

    // Checksum required, then checked.
    let resp = initiate(&sb, &token, &ussd("ORDER123"));
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["message"], "checksum is required");
    let mut wrong = ussd("ORDER123");
    sign(b"other-key", &mut wrong);
    assert_eq!(
        initiate(&sb, &token, &wrong).json()["message"],
        "Invalid checksum"
    );
    let mut signed = ussd("ORDER123");
    sign(b"secret-key", &mut signed);
    // The documented vector for this very body.
    assert_eq!(
        signed["checksum"],
        "9d6548c3728f656cef3b7ecbdc781419cb3cf48662951666dc2187193d1b704f"
    );
    let resp = initiate(&sb, &token, &signed);
    assert_eq!(resp.status, 200, "{}", resp.text());

    let query = get(
        sb.addr(),
        &format!("{CP}/payments/ORDER123"),
        &[("Authorization", &token)],
    );
    assert_eq!(query.status, 200);
    let list = query.json();
    let items = list.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "PROCESSING");
    assert_eq!(items[0]["collectedAmount"], 1000, "a number in queries");
    assert_eq!(items[0]["paymentPhoneNumber"], "255712345678");
    assert_eq!(
        items[0]["channel"], "TIGO-PESA",
        "the network, as initiate reported it"
    );
    assert!(items[0]["customer"].is_object());

    let delivery = sb.settle_clickpesa("ORDER123", Outcome::Completed).unwrap();
    assert_eq!(delivery.status, Some(200));
    assert_eq!(delivery.method, "POST");
    let got = receiver.next();
    assert_eq!(got.method, "POST");
    assert_eq!(got.target, "/notifications/clickpesa");
    let hook = got.json();
    assert_eq!(hook["event"], "PAYMENT RECEIVED");
    assert_eq!(hook["checksumMethod"], "canonical");
    assert_eq!(hook["data"]["status"], "SUCCESS");
    assert_eq!(hook["data"]["orderReference"], "ORDER123");
    assert_eq!(hook["data"]["collectedAmount"], "1000");
    assert!(hook["data"]["paymentReference"].is_string());
    assert!(checksum::verify(b"secret-key", &tree(&hook)));
    assert!(!checksum::verify(b"other-key", &tree(&hook)));
    assert_eq!(hook.to_string(), delivery.request_body);

    let after = get(
        sb.addr(),
        &format!("{CP}/payments/ORDER123"),
        &[("Authorization", &token)],
    )
    .json();
    assert_eq!(after[0]["status"], "SUCCESS");
    assert_eq!(sb.clickpesa_payments()[0].state, PaymentState::Completed);
}

#[test]
fn failed_payments_send_payment_failed_unsigned_without_a_key() {
    let receiver = Receiver::ok();
    let sb = sandbox();
    let token = clickpesa_token(&sb);
    assert_eq!(initiate(&sb, &token, &ussd("FAIL1")).status, 200);
    // No webhook URL yet: state moves, nothing is sent.
    let delivery = sb.settle_clickpesa("FAIL1", Outcome::Failed).unwrap();
    assert_eq!(delivery.url, None);
    assert_eq!(delivery.status, None);
    assert!(receiver.is_quiet(std::time::Duration::from_millis(100)));

    sb.set_clickpesa_webhook_url(Some(receiver.url("/hook")));
    // Settling again with the same outcome redelivers.
    let delivery = sb.settle_clickpesa("FAIL1", Outcome::Failed).unwrap();
    assert_eq!(delivery.status, Some(200));
    let hook = receiver.next().json();
    assert_eq!(hook["event"], "PAYMENT FAILED");
    assert_eq!(hook["data"]["status"], "FAILED");
    assert!(hook.get("checksum").is_none());

    assert!(matches!(
        sb.settle_clickpesa("FAIL1", Outcome::Completed),
        Err(SandboxError::InvalidTransition { .. })
    ));
    assert!(matches!(
        sb.settle_clickpesa("FAIL1", Outcome::Reversed),
        Err(SandboxError::Unsupported(_))
    ));
    assert_eq!(
        sb.settle_clickpesa("NOPE", Outcome::Completed),
        Err(SandboxError::UnknownClickpesaPayment("NOPE".into()))
    );
}

#[test]
fn receiver_answers_are_reported_verbatim() {
    let receiver = Receiver::start(|_| (401, r#"{"code":"unauthorized"}"#.to_owned()));
    let sb = Sandbox::start(SandboxConfig {
        clickpesa_webhook_url: Some(receiver.url("/n")),
        ..SandboxConfig::default()
    })
    .unwrap();
    let token = clickpesa_token(&sb);
    initiate(&sb, &token, &ussd("R1"));
    let delivery = sb.settle_clickpesa("R1", Outcome::Completed).unwrap();
    assert_eq!(delivery.status, Some(401));
    assert!(!delivery.is_success());
    assert_eq!(delivery.body, r#"{"code":"unauthorized"}"#);
    assert_eq!(sb.deliveries(), vec![delivery]);
}

#[test]
fn unknown_routes_get_the_nestjs_404() {
    let sb = sandbox();
    let resp = get(sb.addr(), "/third-parties/generate-token", &[]);
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json(),
        json!({"statusCode": 404, "message": "Cannot GET /third-parties/generate-token", "error": "Not Found"})
    );
}
