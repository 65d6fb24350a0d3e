//! ClickPesa BillPay control numbers through the built component, against
//! the sandbox, over HTTP with the ledger: create → read → update; the
//! documented 409 and 404 typed; invalid requests and other providers cost
//! no provider call; a customer paying a number FinConnect created becomes
//! a payment record and a `payment.*` event once (signed webhooks and
//! unsigned ones confirmed by the payment query); a webhook for a number
//! FinConnect never created is refused with no event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

const CREATE_ORDER: &str = "/third-parties/billpay/create-order-control-number";
const CREATE_CUSTOMER: &str = "/third-parties/billpay/create-customer-control-number";
const CHECKSUM_KEY: &str = "billpay-checksum-key-41";

fn patch(host: &finconnect_host::Host, path: &str, body: &Value) -> Reply {
    send(host, request("PATCH", path, Some(body), Some(API_KEY)))
}

/// A customer pays `number` on the sandbox (its webhook goes out).
fn pay(sandbox: &Sandbox, number: &str, body: &Value) -> Value {
    let reply = http_over_tcp(
        sandbox.addr(),
        "POST",
        &format!("/_sandbox/clickpesa/billpay/{number}/pay"),
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{reply}");
    reply.json()
}

#[test]
fn http_create_read_update_and_the_documented_refusals() {
    let (sandbox, host) = start();

    let created = post(
        &host,
        "/control-numbers",
        &json!({"provider": "clickpesa", "kind": "order", "reference": "INV2024A",
                "amount": "15000.50", "description": "Water bill", "payment_mode": "exact"}),
    );
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(
        created.json(),
        json!({"provider": "clickpesa", "number": "INV2024A", "status": null,
               "amount": "15000.50", "description": "Water bill", "customer_name": null,
               "payment_mode": "exact", "max_collection_amount": null})
    );
    let sent = sandbox
        .requests()
        .into_iter()
        .find(|r| r.path == CREATE_ORDER)
        .unwrap();
    // The amount is a JSON number written from the exact text; no checksum.
    assert_eq!(
        String::from_utf8_lossy(&sent.body),
        r#"{"billAmount":15000.5,"billDescription":"Water bill","billPaymentMode":"EXACT","billReference":"INV2024A"}"#
    );
    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {CLICKPESA_TOKEN}"),
            format!("POST {CREATE_ORDER}")
        ]
    );

    let read = get(&host, "/control-numbers/clickpesa/INV2024A");
    assert_eq!(read.status, 200, "{read}");
    assert_eq!(read.json()["status"], "active");
    assert_eq!(read.json()["amount"], "15000.50");

    let updated = patch(
        &host,
        "/control-numbers/clickpesa/INV2024A",
        &json!({"status": "inactive", "amount": "12000"}),
    );
    assert_eq!(updated.status, 200, "{updated}");
    assert_eq!(updated.json()["status"], "inactive");
    assert_eq!(updated.json()["amount"], "12000.00");
    let sent = sandbox.requests().into_iter().last().unwrap();
    assert_eq!(sent.method, "PATCH");
    assert_eq!(sent.path, "/third-parties/billpay/INV2024A");
    assert_eq!(
        String::from_utf8_lossy(&sent.body),
        r#"{"billAmount":12000,"billStatus":"INACTIVE"}"#
    );
    assert_eq!(
        get(&host, "/control-numbers/clickpesa/INV2024A").json()["status"],
        "inactive"
    );

    // A customer control number: ClickPesa issues the number.
    let customer = post(
        &host,
        "/control-numbers",
        &json!({"provider": "clickpesa", "kind": "customer", "customer_name": "Asha Mwinyi",
                "customer_phone": "255712345678"}),
    );
    assert_eq!(customer.status, 201, "{customer}");
    assert_eq!(customer.json()["customer_name"], "Asha Mwinyi");
    assert!(!customer.json()["number"].as_str().unwrap().is_empty());
    assert!(sandbox.requests().iter().any(|r| r.path == CREATE_CUSTOMER));

    // 409: the reference is used.
    let reused = post(
        &host,
        "/control-numbers",
        &json!({"provider": "clickpesa", "kind": "order", "reference": "INV2024A"}),
    );
    assert_eq!(reused.status, 502, "{reused}");
    let problem = reused.json();
    assert_eq!(problem["code"], "provider_error");
    assert_eq!(problem["provider_status"], 409);
    assert_eq!(problem["provider_code"], "bill_reference_already_used");
    assert_eq!(
        problem["provider_message"],
        "Bill reference already used: Use a different reference"
    );

    // 404: no such number.
    for unknown in [
        get(&host, "/control-numbers/clickpesa/NOSUCH1"),
        patch(
            &host,
            "/control-numbers/clickpesa/NOSUCH1",
            &json!({"status": "active"}),
        ),
    ] {
        assert_eq!(unknown.status, 502, "{unknown}");
        assert_eq!(unknown.json()["provider_status"], 404);
        assert_eq!(unknown.json()["provider_code"], "billpay_number_not_found");
        assert_eq!(
            unknown.json()["provider_message"],
            "BillPay Number does not exist"
        );
    }
}

#[test]
fn http_invalid_requests_and_other_providers_call_nobody() {
    let (sandbox, host) = start();
    let cases = [
        (json!({"provider": "clickpesa"}), "kind"),
        (json!({"provider": "clickpesa", "kind": "bill"}), "kind"),
        (
            json!({"provider": "clickpesa", "kind": "order", "reference": "INV-1"}),
            "reference",
        ),
        (
            json!({"provider": "clickpesa", "kind": "order", "amount": "12,5"}),
            "amount",
        ),
        (
            json!({"provider": "clickpesa", "kind": "order", "amount": 10.001}),
            "amount",
        ),
        (
            json!({"provider": "clickpesa", "kind": "order", "description": "x".repeat(501)}),
            "description",
        ),
        (
            json!({"provider": "clickpesa", "kind": "customer", "customer_email": "a@b.co"}),
            "customer_name",
        ),
        (
            json!({"provider": "clickpesa", "kind": "customer", "customer_name": "Asha"}),
            "customer_email",
        ),
        (
            json!({"provider": "clickpesa", "kind": "order", "customer_name": "Asha"}),
            "customer_name",
        ),
    ];
    for (body, field) in cases {
        let reply = post(&host, "/control-numbers", &body);
        assert_eq!(reply.status, 422, "{body}: {reply}");
        assert_eq!(reply.json()["field"], field, "{body}: {reply}");
    }
    let empty = patch(&host, "/control-numbers/clickpesa/INV1", &json!({}));
    assert_eq!(empty.status, 422, "{empty}");
    assert_eq!(empty.json()["field"], "status");
    let bad_amount = patch(
        &host,
        "/control-numbers/clickpesa/INV1",
        &json!({"amount": "0.00"}),
    );
    assert_eq!(bad_amount.json()["field"], "amount", "{bad_amount}");
    for provider in ["pesapal", "mpesa"] {
        let reply = post(
            &host,
            "/control-numbers",
            &json!({"provider": provider, "kind": "order"}),
        );
        assert_eq!(reply.status, 422, "{reply}");
        assert_eq!(reply.json()["code"], "unsupported");
        let read = get(&host, &format!("/control-numbers/{provider}/INV1"));
        assert_eq!(read.json()["code"], "unsupported", "{read}");
    }
    // The merchant key guards the routes.
    let anonymous = send(
        &host,
        request("GET", "/control-numbers/clickpesa/INV1", None, None),
    );
    assert_eq!(anonymous.status, 401);
    assert!(
        provider_calls(&sandbox).is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

fn payment_events(host: &finconnect_host::Host) -> Vec<Value> {
    events(host, 0)
}

/// Payments to a number FinConnect created: each one a record and an event,
/// once; a number FinConnect never created is refused with no event.
/// `signed`: webhooks carry ClickPesa's checksum, so no payment query is
/// needed; unsigned ones are confirmed by `GET /payments/{orderReference}`.
fn payments_to_a_control_number(sandbox: &Sandbox, host: &finconnect_host::Host, signed: bool) {
    let addr = serve(host);
    sandbox.set_clickpesa_webhook_url(Some(format!("http://{addr}/notifications/clickpesa")));

    let created = post(
        host,
        "/control-numbers",
        &json!({"provider": "clickpesa", "kind": "order", "reference": "BILL77"}),
    );
    assert_eq!(created.status, 201, "{created}");

    let paid = pay(sandbox, "BILL77", &json!({"amount": "2500"}));
    assert_eq!(paid["delivery"]["status"], 200, "{paid}");
    let payment_id = paid["payment_id"].as_str().unwrap().to_owned();
    let after_first = payment_events(host);
    assert_eq!(kinds(&after_first), ["payment.completed BILL77"]);
    assert_eq!(
        after_first[0]["payment"]["tracking_id"],
        payment_id.as_str()
    );
    assert_eq!(after_first[0]["payment"]["amount"], "2500.00");

    // The same webhook again (ClickPesa repeats them): no second event.
    let webhook = paid["delivery"]["request_body"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook: Value = serde_json::from_str(&webhook).unwrap();
    let again = send(
        host,
        request("POST", "/notifications/clickpesa", Some(&webhook), None),
    );
    assert_eq!(again.status, 200, "{again}");
    let queries = provider_calls(sandbox)
        .iter()
        .filter(|call| call.starts_with("GET /third-parties/payments/"))
        .count();
    if signed {
        assert_eq!(queries, 0);
    } else {
        assert!(queries >= 1);
    }
    let record = get(host, &format!("/payments/clickpesa/{payment_id}"));
    assert_eq!(record.status, 200, "{record}");
    assert_eq!(record.json()["record"]["reference"], "BILL77", "{record}");
    assert_eq!(record.json()["record"]["status"], "completed", "{record}");
    assert_eq!(kinds(&payment_events(host)), ["payment.completed BILL77"]);

    // A second customer's payment fails: its own record and event. (Only
    // signed: the payment query names the control number, and ClickPesa
    // answers every payment to it, so an unsigned webhook cannot tell
    // FinConnect which of them it speaks of; see the README.)
    let mut expected = vec!["payment.completed BILL77".to_owned()];
    if signed {
        let failed = pay(
            sandbox,
            "BILL77",
            &json!({"amount": "100", "outcome": "fail"}),
        );
        assert_eq!(failed["delivery"]["status"], 200, "{failed}");
        expected.push("payment.failed BILL77".to_owned());
        assert_eq!(kinds(&payment_events(host)), expected);
    }

    // Paying a number the sandbox issued to someone else's integration
    // (created behind FinConnect's back): refused, no event.
    let foreign = http_over_tcp(
        sandbox.addr(),
        "POST",
        "/third-parties/generate-token",
        &[
            ("client-id", &sandbox.config().clickpesa_client_id),
            ("api-key", &sandbox.config().clickpesa_api_key),
        ],
        b"",
    );
    let token = foreign.json()["token"].as_str().unwrap().to_owned();
    let made = http_over_tcp(
        sandbox.addr(),
        "POST",
        CREATE_ORDER,
        &[
            ("authorization", token.as_str()),
            ("content-type", "application/json"),
        ],
        br#"{"billReference":"ELSEWHERE9","billAmount":500}"#,
    );
    assert_eq!(made.status, 200, "{made}");
    let refused = pay(sandbox, "ELSEWHERE9", &json!({}));
    assert_eq!(refused["delivery"]["status"], 404, "{refused}");
    assert_eq!(kinds(&payment_events(host)), expected);
}

#[test]
fn http_payments_to_a_control_number_confirmed_by_the_query() {
    let (sandbox, host) = start();
    payments_to_a_control_number(&sandbox, &host, false);
}

#[test]
fn http_payments_to_a_control_number_signed_with_the_checksum() {
    let config = SandboxConfig {
        clickpesa_checksum_key: Some(CHECKSUM_KEY.to_owned()),
        ..Default::default()
    };
    let (sandbox, host) = start_with(config, |b| {
        b.app_variable("clickpesa_checksum_key", CHECKSUM_KEY)
    });
    payments_to_a_control_number(&sandbox, &host, true);
}

/// A WIT call's own result (the host itself must not fail).
fn wit<T, E: std::fmt::Debug>(call: impl std::future::Future<Output = Result<T, E>>) -> T {
    finconnect_host::block_on(call).unwrap().unwrap()
}

#[test]
fn wit_create_read_update_and_the_typed_refusals() {
    use finconnect_host::{ApiError, Provider};
    use finconnect_host::{
        BillPaymentMode, BillStatus, ControlNumberKind, ControlNumberRequest, ControlNumberUpdate,
    };
    let (sandbox, host) = start();
    let order = ControlNumberRequest {
        kind: ControlNumberKind::Order,
        reference: Some("WBILL1".to_owned()),
        amount: Some("500.25".to_owned()),
        description: None,
        payment_mode: Some(BillPaymentMode::Exact),
        max_collection_amount: None,
        customer_name: None,
        customer_email: None,
        customer_phone: None,
    };
    let created = wit(host.call_create_control_number(Provider::Clickpesa, &order)).unwrap();
    assert_eq!(created.number, "WBILL1");
    assert_eq!(created.amount.as_deref(), Some("500.25"));
    assert_eq!(created.payment_mode, Some(BillPaymentMode::Exact));
    let sent = sandbox
        .requests()
        .into_iter()
        .find(|r| r.path == CREATE_ORDER)
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sent.body),
        r#"{"billAmount":500.25,"billPaymentMode":"EXACT","billReference":"WBILL1"}"#
    );

    let read = wit(host.call_get_control_number(Provider::Clickpesa, "WBILL1")).unwrap();
    assert_eq!(read.status, Some(BillStatus::Active));
    let update = ControlNumberUpdate {
        status: Some(BillStatus::Inactive),
        amount: None,
        description: Some("Closed".to_owned()),
        payment_mode: None,
        max_collection_amount: None,
    };
    let updated =
        wit(host.call_update_control_number(Provider::Clickpesa, "WBILL1", &update)).unwrap();
    assert_eq!(updated.status, Some(BillStatus::Inactive));
    assert_eq!(updated.description.as_deref(), Some("Closed"));

    let reused = wit(host.call_create_control_number(Provider::Clickpesa, &order));
    assert!(
        matches!(&reused, Err(ApiError::Provider(e)) if e.http_status == 409
            && e.code.as_deref() == Some("bill_reference_already_used")),
        "{reused:?}"
    );
    let unknown = wit(host.call_get_control_number(Provider::Clickpesa, "NOSUCH2"));
    assert!(
        matches!(&unknown, Err(ApiError::Provider(e)) if e.http_status == 404
            && e.message == "BillPay Number does not exist"),
        "{unknown:?}"
    );

    // Invalid requests and other providers: no provider call.
    let before = sandbox.requests().len();
    let mut bad = order.clone();
    bad.amount = Some("0".to_owned());
    let invalid = wit(host.call_create_control_number(Provider::Clickpesa, &bad));
    assert!(
        matches!(&invalid, Err(ApiError::InvalidRequest(e)) if e.field == "amount"),
        "{invalid:?}"
    );
    let mut customer = order.clone();
    customer.kind = ControlNumberKind::Customer;
    customer.customer_name = Some("Asha".to_owned());
    let no_contact = wit(host.call_create_control_number(Provider::Clickpesa, &customer));
    assert!(
        matches!(&no_contact, Err(ApiError::InvalidRequest(e)) if e.field == "customer_email"),
        "{no_contact:?}"
    );
    let pesapal = wit(host.call_get_control_number(Provider::Pesapal, "WBILL1"));
    assert!(
        matches!(&pesapal, Err(ApiError::Unsupported(_))),
        "{pesapal:?}"
    );
    assert_eq!(sandbox.requests().len(), before);
}

/// The same operations on the `client` resource (the original SDK's shape):
/// the provider is chosen once, and each call reaches ClickPesa with the
/// token step first.
#[test]
fn wit_client_resource_creates_reads_and_updates() {
    use finconnect_host::block_on;
    use finconnect_host::{
        ApiError, BillStatus, ControlNumberKind, ControlNumberRequest, ControlNumberUpdate,
        Provider,
    };
    let (sandbox, host) = start();
    let request = ControlNumberRequest {
        kind: ControlNumberKind::Customer,
        reference: Some("CLIENT7".to_owned()),
        amount: None,
        description: Some("Monthly dues".to_owned()),
        payment_mode: None,
        max_collection_amount: None,
        customer_name: Some("Asha Juma".to_owned()),
        customer_email: None,
        customer_phone: Some("255712345678".to_owned()),
    };
    let mut client = block_on(host.client(Provider::Clickpesa)).unwrap().unwrap();
    let created = wit(client.create_control_number(&request)).unwrap();
    assert_eq!(created.number, "CLIENT7");
    assert_eq!(created.customer_name.as_deref(), Some("Asha Juma"));
    let sent = sandbox
        .requests()
        .into_iter()
        .find(|r| r.path == CREATE_CUSTOMER)
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sent.body),
        r#"{"billDescription":"Monthly dues","billReference":"CLIENT7","customerName":"Asha Juma","customerPhone":"255712345678"}"#
    );

    let read = wit(client.get_control_number("CLIENT7")).unwrap();
    assert_eq!(read.status, Some(BillStatus::Active));
    let update = ControlNumberUpdate {
        status: Some(BillStatus::Inactive),
        amount: None,
        description: None,
        payment_mode: None,
        max_collection_amount: None,
    };
    let updated = wit(client.update_control_number("CLIENT7", &update)).unwrap();
    assert_eq!(updated.status, Some(BillStatus::Inactive));
    let patch = sandbox
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(patch.path, "/third-parties/billpay/CLIENT7");
    assert_eq!(
        String::from_utf8_lossy(&patch.body),
        r#"{"billStatus":"INACTIVE"}"#
    );
    // Every operation made the token step, then its request.
    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {CLICKPESA_TOKEN}"),
            format!("POST {CREATE_CUSTOMER}"),
            format!("POST {CLICKPESA_TOKEN}"),
            "GET /third-parties/billpay/CLIENT7".to_owned(),
            format!("POST {CLICKPESA_TOKEN}"),
            "PATCH /third-parties/billpay/CLIENT7".to_owned(),
        ]
    );
    block_on(client.close()).unwrap().unwrap();

    // A client for a provider without BillPay refuses before any call.
    let before = sandbox.requests().len();
    let mut pesapal = block_on(host.client(Provider::Pesapal)).unwrap().unwrap();
    let refused = wit(pesapal.get_control_number("CLIENT7"));
    assert!(
        matches!(&refused, Err(ApiError::Unsupported(_))),
        "{refused:?}"
    );
    assert_eq!(sandbox.requests().len(), before);
}
