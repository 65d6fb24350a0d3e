//! The `notifications` export (`finconnect:payments/notifications`) and
//! `client.verify-notification`: the built component in the wasmtime host
//! against the provider sandbox on loopback. A consumer hands over what
//! reached its own route and gets the verified facts plus the exact answer
//! for the provider, the same answer FinConnect's `/notifications/{provider}`
//! route gives.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::{
    Acknowledgement, ApiError, Customer, Host, IncomingNotification, NotificationCheck,
    NotificationError, NotificationResult, NotificationType, PaymentRequest, PaymentStatus,
    Provider, block_on, http,
};
use finconnect_sandbox::{Outcome, SandboxConfig, StkResult};
use serde_json::{Value, json};

const MPESA_TOKEN: &str = "/mpesa-daraja/oauth/v1/generate";
const MPESA_QUERY: &str = "/mpesa-daraja/mpesa/stkpushquery/v1/query";

fn incoming(
    method: &str,
    path_with_query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> IncomingNotification {
    IncomingNotification {
        method: method.to_owned(),
        path_with_query: Some(path_with_query.to_owned()),
        headers: content_type
            .map(|value| vec![("content-type".to_owned(), value.as_bytes().to_vec())])
            .unwrap_or_default(),
        body: body.to_vec(),
    }
}

fn json_post(body: &Value) -> IncomingNotification {
    incoming(
        "POST",
        "/shop/hooks",
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

fn header<'a>(ack: &'a Acknowledgement, name: &str) -> Option<&'a str> {
    ack.headers
        .iter()
        .find(|(candidate, _)| candidate == name)
        .map(|(_, value)| std::str::from_utf8(value).unwrap())
}

fn body_text(ack: &Acknowledgement) -> &str {
    std::str::from_utf8(&ack.body).unwrap()
}

/// The same notification through the HTTP route answers byte for byte what
/// the export hands the consumer.
fn assert_same_as_the_route(
    host: &Host,
    provider: &str,
    sent: &IncomingNotification,
    ack: &Acknowledgement,
) {
    let query = sent
        .path_with_query
        .as_deref()
        .and_then(|target| target.split_once('?'))
        .map(|(_, query)| format!("?{query}"))
        .unwrap_or_default();
    let mut request = http::Request::builder()
        .method(sent.method.as_str())
        .uri(format!("/notifications/{provider}{query}"));
    for (name, value) in &sent.headers {
        request = request.header(name.as_str(), value.as_slice());
    }
    let reply = send(host, request.body(sent.body.clone()).unwrap());
    assert_eq!(reply.status, ack.status, "{reply}");
    assert_eq!(reply.body, ack.body, "{reply}");
    for (name, value) in &ack.headers {
        assert_eq!(
            reply.header(name),
            Some(std::str::from_utf8(value).unwrap()),
            "{name}: {reply}"
        );
    }
}

fn verified(result: &NotificationResult) -> &finconnect_host::NotificationFacts {
    match &result.outcome {
        Ok(facts) => facts,
        Err(error) => panic!(
            "not verified: {error:?} (ack {})",
            body_text(&result.acknowledgement)
        ),
    }
}

/// An order at the sandbox's PesaPal: its tracking id.
fn pesapal_order(host: &Host, reference: &str) -> String {
    let ipn = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &ipn_request(&unused_ipn_url(), NotificationType::Get),
        )
        .unwrap()
        .unwrap();
    // Paid through the HTTP face, whose ledger then knows the order: the
    // route refuses notifications for payments it did not start, while the
    // WIT function (stateless) verifies any.
    let reply = post(host, "/payments", &pesapal_body(reference, &ipn.ipn_id));
    assert_eq!(reply.status, 201, "{reply}");
    reply.json()["tracking_id"].as_str().unwrap().to_owned()
}

#[test]
fn a_pesapal_ipn_is_verified_by_a_status_call_and_answered_with_pesapal_s_ack() {
    let (sandbox, host) = start();
    let tracking_id = pesapal_order(&host, "NOTIF-PP-1");
    sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    sandbox.clear_requests();

    let sent = incoming(
        "GET",
        &format!(
            "/shop/ipn?OrderTrackingId={tracking_id}&OrderMerchantReference=NOTIF-PP-1&OrderNotificationType=IPNCHANGE"
        ),
        None,
        b"",
    );
    let result = host
        .verify_notification_blocking(Provider::Pesapal, &sent)
        .unwrap();
    let facts = verified(&result);
    assert_eq!(facts.checked_by, NotificationCheck::StatusQuery);
    let details = &facts.details;
    assert_eq!(details.provider, Provider::Pesapal);
    assert_eq!(details.tracking_id.as_deref(), Some(tracking_id.as_str()));
    assert_eq!(details.reference.as_deref(), Some("NOTIF-PP-1"));
    assert_eq!(details.status, PaymentStatus::Completed);
    assert_eq!(details.amount.as_deref(), Some("1500.00"));
    assert_eq!(details.currency.as_deref(), Some("KES"));
    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {PESAPAL_TOKEN}"),
            format!("GET {PESAPAL_STATUS}")
        ],
        "believed only after a status call"
    );

    let ack = &result.acknowledgement;
    assert_eq!(ack.status, 200);
    assert_eq!(
        body_text(ack),
        format!(
            r#"{{"orderNotificationType":"IPNCHANGE","orderTrackingId":"{tracking_id}","orderMerchantReference":"NOTIF-PP-1","status":200}}"#
        )
    );
    assert_eq!(header(ack, "content-type"), Some("application/json"));
    assert_same_as_the_route(&host, "pesapal", &sent, ack);

    // The same IPN as a POST, through the client resource.
    let body = json!({
        "OrderTrackingId": tracking_id,
        "OrderMerchantReference": "NOTIF-PP-1",
        "OrderNotificationType": "IPNCHANGE",
    });
    let mut client = block_on(host.client(Provider::Pesapal)).unwrap().unwrap();
    let result = block_on(client.verify_notification(&json_post(&body)))
        .unwrap()
        .unwrap();
    block_on(client.close()).unwrap().unwrap();
    assert_eq!(verified(&result).details.status, PaymentStatus::Completed);
    assert!(body_text(&result.acknowledgement).ends_with(r#""status":200}"#));
}

#[test]
fn a_pesapal_ipn_for_an_unknown_order_gets_pesapal_s_negative_ack() {
    let (sandbox, host) = start();
    let sent = incoming(
        "GET",
        &format!(
            "/shop/ipn?OrderTrackingId={SOME_GUID}&OrderMerchantReference=FORGED-1&OrderNotificationType=IPNCHANGE"
        ),
        None,
        b"",
    );
    let result = host
        .verify_notification_blocking(Provider::Pesapal, &sent)
        .unwrap();
    match &result.outcome {
        Err(NotificationError::Failed(ApiError::Provider(refusal))) => {
            assert_eq!(refusal.provider, Provider::Pesapal, "{refusal:?}");
        }
        other => panic!("an unknown order was believed or misread: {other:?}"),
    }
    // PesaPal still gets its acknowledgement, with status 500 so it retries.
    let ack = &result.acknowledgement;
    assert_eq!(ack.status, 200);
    assert_eq!(
        body_text(ack),
        format!(
            r#"{{"orderNotificationType":"IPNCHANGE","orderTrackingId":"{SOME_GUID}","orderMerchantReference":"FORGED-1","status":500}}"#
        )
    );
    assert_eq!(header(ack, "finconnect-payment-status"), None);
    assert_same_as_the_route(&host, "pesapal", &sent, ack);

    // Without its ids it cannot be acknowledged: malformed, answered 400,
    // and nothing is asked of PesaPal.
    sandbox.clear_requests();
    let result = host
        .verify_notification_blocking(Provider::Pesapal, &incoming("GET", "/shop/ipn", None, b""))
        .unwrap();
    match &result.outcome {
        Err(NotificationError::Malformed(error)) => assert_eq!(error.field, "OrderTrackingId"),
        other => panic!("{other:?}"),
    }
    assert_eq!(result.acknowledgement.status, 400);
    assert_eq!(
        header(&result.acknowledgement, "content-type"),
        Some("application/problem+json")
    );
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

#[test]
fn a_clickpesa_webhook_is_checked_by_its_checksum() {
    const KEY: &str = "notif-checksum-key-41c";
    let config = SandboxConfig {
        clickpesa_checksum_key: Some(KEY.to_owned()),
        ..SandboxConfig::default()
    };
    let (sandbox, host) = start_with(config, |b| b.app_variable("clickpesa_checksum_key", KEY));
    sandbox.set_clickpesa_webhook_url(Some(unused_ipn_url()));
    host.pay_blocking(Provider::Clickpesa, &clickpesa_payment("NOTIFCP1"))
        .unwrap()
        .unwrap();
    let delivery = sandbox
        .settle_clickpesa("NOTIFCP1", Outcome::Completed)
        .unwrap();
    let genuine: Value = serde_json::from_str(&delivery.request_body).unwrap();
    sandbox.clear_requests();

    let result = host
        .verify_notification_blocking(Provider::Clickpesa, &json_post(&genuine))
        .unwrap();
    let facts = verified(&result);
    assert_eq!(facts.checked_by, NotificationCheck::Checksum);
    assert_eq!(facts.details.provider, Provider::Clickpesa);
    assert_eq!(facts.details.reference.as_deref(), Some("NOTIFCP1"));
    assert_eq!(facts.details.status, PaymentStatus::Completed);
    assert_eq!(facts.details.amount.as_deref(), Some("1000.00"));
    assert_eq!(result.acknowledgement.status, 200);
    let ack: Value = serde_json::from_slice(&result.acknowledgement.body).unwrap();
    assert_eq!(ack["verified"], true);

    // A wrong checksum: unverified, answered 401, nothing believed.
    let mut forged = genuine.clone();
    forged["data"]["collectedAmount"] = json!("999999");
    let sent = json_post(&forged);
    let result = host
        .verify_notification_blocking(Provider::Clickpesa, &sent)
        .unwrap();
    match &result.outcome {
        Err(NotificationError::Unverified(error)) => assert_eq!(error.field, "checksum"),
        other => panic!("a forged webhook was not refused: {other:?}"),
    }
    assert_eq!(result.acknowledgement.status, 401);
    let problem: Value = serde_json::from_slice(&result.acknowledgement.body).unwrap();
    assert_eq!(problem["field"], "checksum");
    assert_same_as_the_route(&host, "clickpesa", &sent, &result.acknowledgement);

    // Not JSON: refused before reading.
    let result = host
        .verify_notification_blocking(
            Provider::Clickpesa,
            &incoming(
                "POST",
                "/shop/hooks",
                Some("text/plain"),
                genuine.to_string().as_bytes(),
            ),
        )
        .unwrap();
    assert_eq!(result.outcome, Err(NotificationError::NotJson));
    assert_eq!(result.acknowledgement.status, 415);
    assert!(sandbox.requests().is_empty(), "a webhook calls no provider");

    // Without a checksum key the webhook is confirmed by asking ClickPesa
    // about its reference, and the result says so.
    let unkeyed = build(builder(&sandbox));
    sandbox.clear_requests();
    let result = unkeyed
        .verify_notification_blocking(Provider::Clickpesa, &json_post(&genuine))
        .unwrap();
    assert_eq!(verified(&result).checked_by, NotificationCheck::StatusQuery);
    assert_eq!(sandbox.requests().len(), 2, "a token, then the query");
    let ack: Value = serde_json::from_slice(&result.acknowledgement.body).unwrap();
    assert_eq!(ack["verified"], false);
}

fn mpesa_payment(reference: &str) -> PaymentRequest {
    PaymentRequest {
        reference: reference.to_owned(),
        amount: "100".to_owned(),
        currency: "KES".to_owned(),
        description: Some("Order".to_owned()),
        customer: Customer {
            email: None,
            phone: Some("0708374149".to_owned()),
            first_name: None,
            last_name: None,
            country_code: None,
        },
        callback_url: Some(unused_ipn_url()),
        cancellation_url: None,
        notification_id: None,
        method: None,
        branch: None,
        redirect_mode: None,
        subscription: None,
    }
}

#[test]
fn a_daraja_callback_is_confirmed_by_an_stk_query() {
    let (sandbox, host) = start();
    // Through the HTTP face, so that the route's ledger knows the payment.
    let request = mpesa_payment("NOTIFMP1");
    let reply = post(
        &host,
        "/payments",
        &json!({
            "provider": "mpesa", "reference": request.reference, "amount": request.amount,
            "currency": request.currency, "description": request.description,
            "customer": {"phone": request.customer.phone}, "callback_url": request.callback_url,
        }),
    );
    assert_eq!(reply.status, 201, "{reply}");
    let tracking_id = reply.json()["tracking_id"].as_str().unwrap().to_owned();
    let delivery = sandbox
        .settle_mpesa(&tracking_id, StkResult::Success)
        .unwrap();
    let callback: Value = serde_json::from_str(&delivery.request_body).unwrap();
    sandbox.clear_requests();

    let sent = json_post(&callback);
    let result = host
        .verify_notification_blocking(Provider::Mpesa, &sent)
        .unwrap();
    let facts = verified(&result);
    assert_eq!(facts.checked_by, NotificationCheck::StatusQuery);
    assert_eq!(facts.details.provider, Provider::Mpesa);
    assert_eq!(
        facts.details.tracking_id.as_deref(),
        Some(tracking_id.as_str())
    );
    assert_eq!(facts.details.status, PaymentStatus::Completed);
    let paths: Vec<String> = sandbox.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [MPESA_TOKEN, MPESA_QUERY]);
    assert_eq!(result.acknowledgement.status, 200);
    let ack: Value = serde_json::from_slice(&result.acknowledgement.body).unwrap();
    assert_eq!(ack, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    assert_same_as_the_route(&host, "mpesa", &sent, &result.acknowledgement);

    // A callback for an id Daraja does not know: not confirmed, and Daraja
    // is told so with a non-zero ResultCode.
    let mut forged = callback.clone();
    forged["Body"]["stkCallback"]["CheckoutRequestID"] = json!("ws_CO_01012026000000000708374149");
    let result = host
        .verify_notification_blocking(Provider::Mpesa, &json_post(&forged))
        .unwrap();
    assert!(
        matches!(result.outcome, Err(NotificationError::Failed(_))),
        "{:?}",
        result.outcome
    );
    assert_eq!(result.acknowledgement.status, 200);
    let ack: Value = serde_json::from_slice(&result.acknowledgement.body).unwrap();
    assert_ne!(ack["ResultCode"], 0, "{ack}");
}
