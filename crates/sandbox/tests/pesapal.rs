//! PesaPal emulation over real loopback HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::time::Duration;

use common::*;
use finconnect_sandbox::{Outcome, PaymentState, Sandbox, SandboxConfig, SandboxError};
use serde_json::{Value, json};

/// A named change that makes a valid order body invalid.
type Mutation = Box<dyn Fn(&mut Value)>;

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

#[test]
fn token_success_has_the_documented_shape_and_is_unique_per_call() {
    let sb = sandbox();
    let resp = post_json(
        sb.addr(),
        &format!("{PP}/Auth/RequestToken"),
        &[],
        &json!({"consumer_key": "sandbox-pesapal-key", "consumer_secret": "sandbox-pesapal-secret"}),
    );
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = resp.json();
    assert_eq!(body["status"], "200");
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["message"], "Request processed successfully");
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "JWT-like: {token}");
    // UTC with 7 fractional digits and Z, e.g. 2024-03-18T16:25:45.7793772Z
    let expiry = body["expiryDate"].as_str().unwrap();
    assert_eq!(expiry.len(), 28, "{expiry}");
    assert!(expiry.ends_with('Z'));
    assert_eq!(expiry.split('.').nth(1).unwrap().len(), 8);
    assert_ne!(pesapal_token(&sb), pesapal_token(&sb));
}

#[test]
fn wrong_or_missing_credentials_get_http_200_with_an_error_and_no_token() {
    let sb = sandbox();
    for body in [
        json!({"consumer_key": "sandbox-pesapal-key", "consumer_secret": "nope"}),
        json!({"consumer_key": "other", "consumer_secret": "sandbox-pesapal-secret"}),
        json!({}),
    ] {
        let resp = post_json(sb.addr(), &format!("{PP}/Auth/RequestToken"), &[], &body);
        assert_eq!(resp.status, 200);
        let body = resp.json();
        assert_eq!(body["status"], "500");
        assert_eq!(body["error"]["error_type"], "api_error");
        assert_eq!(
            body["error"]["code"],
            "invalid_consumer_key_or_secret_provided"
        );
        assert_eq!(body["error"]["message"], "");
        assert!(body.get("token").is_none_or(Value::is_null));
    }
    // Garbage body too.
    let resp = request(
        sb.addr(),
        "POST",
        &format!("{PP}/Auth/RequestToken"),
        &[],
        Some("not json"),
    );
    assert_eq!(resp.json()["status"], "500");
}

#[test]
fn bearer_calls_need_an_issued_unexpired_token() {
    let sb = sandbox();
    let list = format!("{PP}/URLSetup/GetIpnList");
    for headers in [
        vec![],
        vec![("Authorization", "Bearer made-up")],
        vec![("Authorization", "made-up")],
    ] {
        let resp = get(sb.addr(), &list, &headers);
        assert_eq!(resp.status, 401);
        let body = resp.json();
        assert_eq!(body["error"]["error_type"], "authentication_error");
        assert_eq!(body["error"]["code"], "invalid_api_credentials_provided");
        assert_eq!(body["error"]["message"], "Invalid Access Token");
        assert_eq!(body["status"], Value::Null);
    }
    let token = pesapal_token(&sb);
    let resp = get(sb.addr(), &list, &[("Authorization", &bearer(&token))]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!([]));

    // A zero lifetime makes tokens useless at once.
    let expired = Sandbox::start(SandboxConfig {
        token_ttl: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .unwrap();
    let token = pesapal_token(&expired);
    let resp = get(expired.addr(), &list, &[("Authorization", &bearer(&token))]);
    assert_eq!(resp.status, 401);
}

#[test]
fn register_ipn_returns_the_full_recorded_shape_and_lists_it() {
    let sb = sandbox();
    let token = pesapal_token(&sb);
    let auth = bearer(&token);
    let resp = post_json(
        sb.addr(),
        &format!("{PP}/URLSetup/RegisterIPN"),
        &[("Authorization", &auth)],
        &json!({"url": "http://127.0.0.1:9/ipn", "ipn_notification_type": "POST"}),
    );
    let row = resp.json();
    assert_eq!(row["url"], "http://127.0.0.1:9/ipn");
    assert!(row["id"].is_u64());
    assert_eq!(row["ipn_id"].as_str().unwrap().len(), 36);
    assert_eq!(row["notification_type"], 1);
    assert_eq!(row["ipn_notification_type_description"], "POST");
    assert_eq!(row["ipn_status"], 1);
    assert_eq!(row["ipn_status_decription"], "Active");
    assert_eq!(row["error"], Value::Null);
    assert_eq!(row["status"], "200");
    assert!(row["created_date"].as_str().unwrap().ends_with('Z'));

    let get_id = register_ipn(&sb, &token, "http://127.0.0.1:9/ipn-get", "GET");
    let list = get(
        sb.addr(),
        &format!("{PP}/URLSetup/GetIpnList"),
        &[("Authorization", &auth)],
    )
    .json();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], row);
    assert_eq!(rows[1]["ipn_id"], get_id.as_str());
    assert_eq!(rows[1]["notification_type"], 0);

    for bad in [
        json!({"url": "http://x/ipn", "ipn_notification_type": "PUT"}),
        json!({"url": "not a url", "ipn_notification_type": "GET"}),
        json!({"ipn_notification_type": "GET"}),
    ] {
        let body = post_json(
            sb.addr(),
            &format!("{PP}/URLSetup/RegisterIPN"),
            &[("Authorization", &auth)],
            &bad,
        )
        .json();
        assert_eq!(body["status"], "500", "{bad}");
        assert_eq!(body["error"]["code"], "invalid_api_request_parameters");
        assert_eq!(body["error"]["error_type"], "invalid_request_error");
    }
    assert_eq!(sb.pesapal_ipns().len(), 2);
}

#[test]
fn submit_order_validates_like_the_provider() {
    let sb = sandbox();
    let token = pesapal_token(&sb);
    let ipn = register_ipn(&sb, &token, "http://127.0.0.1:9/ipn", "GET");
    let good: Value = serde_json::from_str(&order_body("ORD-1", "1500.00", &ipn)).unwrap();
    let cases: Vec<(&str, Mutation)> = vec![
        ("id too long", Box::new(|b| b["id"] = json!("x".repeat(51)))),
        ("id charset", Box::new(|b| b["id"] = json!("has space"))),
        ("currency", Box::new(|b| b["currency"] = json!("KE"))),
        (
            "amount string",
            Box::new(|b| b["amount"] = json!("1500.00")),
        ),
        ("amount zero", Box::new(|b| b["amount"] = json!(0))),
        ("amount negative", Box::new(|b| b["amount"] = json!(-5))),
        (
            "description long",
            Box::new(|b| b["description"] = json!("d".repeat(101))),
        ),
        (
            "callback missing",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("callback_url");
            }),
        ),
        (
            "no email or phone",
            Box::new(|b| b["billing_address"] = json!({"first_name": "Jane"})),
        ),
        (
            "phone as number",
            Box::new(|b| b["billing_address"] = json!({"phone_number": 723000000})),
        ),
        (
            "no billing",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("billing_address");
            }),
        ),
    ];
    for (name, mutate) in cases {
        let mut body = good.clone();
        mutate(&mut body);
        let resp = submit_raw(&sb, &token, &body.to_string());
        assert_eq!(resp.status, 200, "{name}");
        let out = resp.json();
        assert_eq!(out["status"], "500", "{name}: {out}");
        assert_eq!(
            out["error"]["code"], "invalid_api_request_parameters",
            "{name}"
        );
        assert!(out.get("order_tracking_id").is_none(), "{name}");
    }
    let mut unknown_ipn = good.clone();
    unknown_ipn["notification_id"] = json!("00000000-0000-4000-8000-000000000000");
    let out = submit_raw(&sb, &token, &unknown_ipn.to_string()).json();
    assert_eq!(out["error"]["code"], "InvalidIpnId");
    assert_eq!(out["status"], "500");
    assert!(
        sb.pesapal_orders().is_empty(),
        "rejected orders are not kept"
    );

    // The raw text, so that the amount arrives as `1500.00` exactly.
    let out = submit_raw(&sb, &token, &order_body("ORD-1", "1500.00", &ipn)).json();
    assert_eq!(out["status"], "200");
    assert_eq!(out["error"], Value::Null);
    assert_eq!(out["merchant_reference"], "ORD-1");
    let id = out["order_tracking_id"].as_str().unwrap();
    assert_eq!(
        out["redirect_url"],
        format!(
            "{}/pesapaliframe/PesapalIframe3/Index?OrderTrackingId={id}",
            sb.origin()
        )
    );
    let orders = sb.pesapal_orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].amount, "1500.00");
    assert_eq!(orders[0].notification_id, ipn);
    assert_eq!(orders[0].state, PaymentState::Pending);
}

#[test]
fn pending_status_looks_like_an_error_then_completed_after_a_get_ipn() {
    let sb = sandbox();
    let token = pesapal_token(&sb);
    // The receiver asks the sandbox for the status before answering, as
    // FinConnect's IPN handler does: the sandbox must keep serving while it
    // waits for the receiver.
    let addr = sb.addr();
    let check_token = token.clone();
    let receiver = Receiver::start(move |req| {
        let tracking = req
            .target
            .split("OrderTrackingId=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        let auth = bearer(&check_token);
        let resp = get(
            addr,
            &format!("{PP}/Transactions/GetTransactionStatus?orderTrackingId={tracking}"),
            &[("Authorization", &auth)],
        );
        let code = resp.json()["status_code"].clone();
        (
            200,
            json!({"status": 200, "seen_status_code": code}).to_string(),
        )
    });
    let ipn = register_ipn(&sb, &token, &receiver.url("/ipn?source=pesapal"), "GET");
    let out = submit_raw(&sb, &token, &order_body("ORD-42", "10.00", &ipn)).json();
    let id = out["order_tracking_id"].as_str().unwrap().to_owned();

    let pending = status(&sb, &token, &id);
    assert_eq!(pending.status, 200);
    let p = pending.json();
    assert_eq!(p["status"], "500");
    assert_eq!(p["status_code"], 0);
    assert_eq!(p["payment_status_description"], "INVALID");
    assert_eq!(p["payment_method"], "");
    assert_eq!(p["confirmation_code"], "");
    assert_eq!(p["description"], Value::Null);
    assert_eq!(p["error"]["error_type"], "api_error");
    assert_eq!(p["error"]["code"], "payment_details_not_found");
    assert_eq!(p["error"]["message"], "Pending Payment");
    let callback =
        format!("http://127.0.0.1:1/return?OrderTrackingId={id}&OrderMerchantReference=ORD-42");
    assert_eq!(p["error"]["call_back_url"], callback.as_str());
    assert_eq!(p["call_back_url"], callback.as_str());
    assert_eq!(p["merchant_reference"], "ORD-42");
    assert_eq!(p["currency"], "KES");
    // The amount keeps the exact text that was sent.
    assert!(
        pending.text().contains(r#""amount":10.00"#),
        "{}",
        pending.text()
    );
    // EAT, no offset, milliseconds.
    let created = p["created_date"].as_str().unwrap();
    assert!(!created.ends_with('Z') && created.len() == 23, "{created}");

    let delivery = sb.settle_pesapal(&id, Outcome::Completed).unwrap();
    assert_eq!(delivery.method, "GET");
    assert_eq!(delivery.status, Some(200));
    assert!(delivery.is_success());
    assert_eq!(
        serde_json::from_str::<Value>(&delivery.body).unwrap()["seen_status_code"],
        1,
        "the receiver saw the completed status while the IPN was in flight"
    );
    let expected_url = format!(
        "{}&OrderTrackingId={id}&OrderMerchantReference=ORD-42&OrderNotificationType=IPNCHANGE",
        receiver.url("/ipn?source=pesapal")
    );
    assert_eq!(delivery.url.as_deref(), Some(expected_url.as_str()));
    let got = receiver.next();
    assert_eq!(got.method, "GET");
    assert_eq!(
        got.target,
        format!(
            "/ipn?source=pesapal&OrderTrackingId={id}&OrderMerchantReference=ORD-42&OrderNotificationType=IPNCHANGE"
        )
    );

    let done = status(&sb, &token, &id).json();
    assert_eq!(done["status"], "200");
    assert_eq!(done["status_code"], 1);
    assert_eq!(done["payment_status_description"], "Completed");
    assert_eq!(done["payment_method"], "MpesaKE");
    assert!(!done["confirmation_code"].as_str().unwrap().is_empty());
    for member in ["error_type", "code", "message", "call_back_url"] {
        assert_eq!(done["error"][member], Value::Null, "{member}");
    }
    assert_eq!(sb.deliveries().len(), 1);
}

#[test]
fn post_ipn_carries_a_json_body_and_failed_then_reversed_rules_hold() {
    let sb = sandbox();
    let token = pesapal_token(&sb);
    let receiver = Receiver::ok();
    let ipn = register_ipn(&sb, &token, &receiver.url("/ipn"), "POST");
    let first = submit_raw(&sb, &token, &order_body("A1", "100", &ipn)).json();
    let a1 = first["order_tracking_id"].as_str().unwrap().to_owned();

    let delivery = sb.settle_pesapal(&a1, Outcome::Failed).unwrap();
    assert_eq!(delivery.method, "POST");
    assert_eq!(delivery.url.as_deref(), Some(receiver.url("/ipn").as_str()));
    let got = receiver.next();
    assert_eq!(got.method, "POST");
    assert_eq!(got.target, "/ipn");
    assert!(
        got.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        got.json(),
        json!({"OrderTrackingId": a1, "OrderMerchantReference": "A1", "OrderNotificationType": "IPNCHANGE"})
    );
    let failed = status(&sb, &token, &a1).json();
    assert_eq!(failed["status_code"], 2);
    assert_eq!(failed["payment_status_description"], "Failed");
    assert_eq!(failed["status"], "200");
    assert!(failed["description"].is_string());

    // A failed order cannot be reversed; it can be paid on retry, then reversed.
    assert_eq!(
        sb.settle_pesapal(&a1, Outcome::Reversed),
        Err(SandboxError::InvalidTransition {
            from: PaymentState::Failed,
            to: Outcome::Reversed
        })
    );
    sb.settle_pesapal(&a1, Outcome::Completed).unwrap();
    receiver.next();
    sb.settle_pesapal(&a1, Outcome::Reversed).unwrap();
    receiver.next();
    let reversed = status(&sb, &token, &a1).json();
    assert_eq!(reversed["status_code"], 3);
    assert_eq!(reversed["payment_status_description"], "Reversed");
    assert!(matches!(
        sb.settle_pesapal(&a1, Outcome::Failed),
        Err(SandboxError::InvalidTransition { .. })
    ));
    assert_eq!(
        sb.settle_pesapal("nope", Outcome::Completed),
        Err(SandboxError::UnknownPesapalOrder("nope".into()))
    );
}

#[test]
fn unknown_tracking_ids_and_unreachable_receivers_are_reported() {
    let sb = sandbox();
    let token = pesapal_token(&sb);
    let out = status(&sb, &token, "00000000-0000-4000-8000-000000000000");
    assert_eq!(out.status, 200);
    let out = out.json();
    assert_eq!(out["status"], "500");
    assert_eq!(out["error"]["code"], "invalid_order_tracking_id");

    // An IPN URL nobody listens on: settled anyway, delivery says why not.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ipn", closed.local_addr().unwrap());
    drop(closed);
    let ipn = register_ipn(&sb, &token, &url, "GET");
    let id = submit_raw(&sb, &token, &order_body("B1", "5", &ipn)).json()["order_tracking_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let delivery = sb.settle_pesapal(&id, Outcome::Completed).unwrap();
    assert_eq!(delivery.status, None);
    assert!(delivery.error.is_some());
    assert_eq!(status(&sb, &token, &id).json()["status_code"], 1);
}

#[test]
fn routing_ignores_case_and_rejects_wrong_methods() {
    let sb = sandbox();
    let resp = post_json(
        sb.addr(),
        "/pesapalv3/API/auth/requesttoken",
        &[],
        &json!({"consumer_key": "sandbox-pesapal-key", "consumer_secret": "sandbox-pesapal-secret"}),
    );
    assert_eq!(resp.json()["status"], "200");
    let resp = get(sb.addr(), &format!("{PP}/Auth/RequestToken"), &[]);
    assert_eq!(resp.status, 405);
    let resp = get(sb.addr(), &format!("{PP}/Transactions/Nope"), &[]);
    assert_eq!(resp.status, 404);
    assert_eq!(sb.requests().len(), 3, "unknown paths are recorded too");
}
