//! The HTTP face of the built component (`wasi:http/incoming-handler`) in
//! the wasmtime host, against the provider sandbox on loopback: issue 3
//! through HTTP, issue 4 (every route's successes and failures, the
//! README's story over real TCP with the sandbox delivering the IPN and the
//! webhook to the served host, unauthenticated calls that reach no
//! provider), and issue 6's bad-input table (suite 1) and access rules
//! (suite 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::{Host, http};
use finconnect_sandbox::{Fault, FaultKind, Outcome, Sandbox, SandboxConfig, Target};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// Registers an IPN through the HTTP API; returns its `ipn_id`.
fn register_ipn(host: &Host, url: &str, notification_type: &str) -> String {
    let reply = post(
        host,
        "/ipn-registrations",
        &ipn_body(url, notification_type),
    );
    assert_eq!(reply.status, 201, "{reply}");
    reply.json()["ipn_id"].as_str().unwrap().to_owned()
}

fn assert_problem(reply: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(reply.status, status, "{reply}");
    let problem = reply.problem();
    assert_eq!(problem["code"], code, "{reply}");
    assert_eq!(
        problem["type"],
        format!("urn:finconnect:problem:{code}"),
        "{reply}"
    );
    problem
}

// ----- issue 3 through HTTP -----

#[test]
fn pay_and_register_ipn_for_both_providers_through_http() {
    let (sandbox, host) = start();
    let url = unused_ipn_url();
    let registered = post(&host, "/ipn-registrations", &ipn_body(&url, "POST"));
    assert_eq!(registered.status, 201, "{registered}");
    let body = registered.json();
    assert_eq!(body["provider"], "pesapal");
    assert_eq!(body["url"], url.as_str());
    assert_eq!(body["notification_type"], "POST");
    assert_eq!(body["ipn_id"], sandbox.pesapal_ipns()[0].ipn_id.as_str());
    let ipn_id = body["ipn_id"].as_str().unwrap().to_owned();

    let clickpesa_ipn = post(
        &host,
        "/ipn-registrations",
        &json!({"provider": "clickpesa", "url": url, "notification_type": "POST"}),
    );
    let problem = assert_problem(&clickpesa_ipn, 422, "unsupported");
    assert!(
        problem["detail"].as_str().unwrap().contains("dashboard"),
        "{clickpesa_ipn}"
    );
    assert_eq!(problem["provider"], "clickpesa");

    let created = post(&host, "/payments", &pesapal_body("HTTP-PP-1", &ipn_id));
    assert_eq!(created.status, 201, "{created}");
    let payment = created.json();
    let order = &sandbox.pesapal_orders()[0];
    assert_eq!(payment["provider"], "pesapal");
    assert_eq!(payment["reference"], "HTTP-PP-1");
    assert_eq!(payment["tracking_id"], order.order_tracking_id.as_str());
    assert_eq!(payment["status"], "pending");
    assert!(
        payment["redirect_url"]
            .as_str()
            .is_some_and(|u| u.starts_with(&sandbox.origin())),
        "{created}"
    );
    assert_eq!(
        created.header("location"),
        Some(format!("/payments/pesapal/{}", order.order_tracking_id).as_str())
    );

    let created = post(&host, "/payments", &clickpesa_body("HTTPCP1"));
    assert_eq!(created.status, 201, "{created}");
    let payment = created.json();
    assert_eq!(payment["provider"], "clickpesa");
    assert_eq!(payment["reference"], "HTTPCP1");
    assert_eq!(
        payment["tracking_id"],
        sandbox.clickpesa_payments()[0].id.as_str()
    );
    assert_eq!(payment["redirect_url"], Value::Null);
    assert_eq!(payment["status"], "pending");
    assert_eq!(
        created.header("location"),
        Some("/payments/clickpesa/HTTPCP1")
    );
    assert!(
        !created
            .text()
            .contains(&sandbox.config().clickpesa_client_id),
        "ClickPesa's clientId passed through: {created}"
    );

    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {PESAPAL_TOKEN}"),
            format!("POST {PESAPAL_REGISTER_IPN}"),
            format!("POST {PESAPAL_TOKEN}"),
            format!("POST {PESAPAL_SUBMIT}"),
            format!("POST {CLICKPESA_TOKEN}"),
            format!("POST {CLICKPESA_PUSH}"),
        ]
    );
    let requests = sandbox.requests();
    let pesapal_auth = requests[3].header("authorization").unwrap();
    assert!(pesapal_auth.starts_with("Bearer ") && pesapal_auth.matches("Bearer").count() == 1);
    let clickpesa_auth = requests[5].header("authorization").unwrap();
    assert!(
        clickpesa_auth.starts_with("Bearer ") && clickpesa_auth.matches("Bearer").count() == 1,
        "{clickpesa_auth:?}"
    );
}

#[test]
fn provider_side_failures_through_http_are_problems_and_the_next_call_works() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();

    // Wrong credentials: 502 provider_auth_failed.
    let host = build(builder(&sandbox).app_variable("pesapal_consumer_key", "wrong-key-3e9"));
    let reply = post(
        &host,
        "/ipn-registrations",
        &ipn_body(&unused_ipn_url(), "GET"),
    );
    let problem = assert_problem(&reply, 502, "provider_auth_failed");
    assert_eq!(problem["provider"], "pesapal");
    assert!(!reply.text().contains("wrong-key-3e9"), "{reply}");
    assert_eq!(
        post(&host, "/payments", &clickpesa_body("NEXT1")).status,
        201
    );

    // A missing credential: 500 not_configured naming it.
    let host = build(builder(&sandbox).unset_component_variable("clickpesa_api_key"));
    let reply = post(&host, "/payments", &clickpesa_body("CFG1"));
    let problem = assert_problem(&reply, 500, "not_configured");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("clickpesa_api_key"),
        "{reply}"
    );
    assert_eq!(
        post(
            &host,
            "/ipn-registrations",
            &ipn_body(&unused_ipn_url(), "GET")
        )
        .status,
        201
    );

    // An HTML 5xx page: 502 provider_unreadable_reply with the provider's status.
    let host = build(builder(&sandbox));
    sandbox.inject(Fault::once(Target::ClickpesaUssdPush, FaultKind::Html500));
    let reply = post(&host, "/payments", &clickpesa_body("HTML1"));
    let problem = assert_problem(&reply, 502, "provider_unreadable_reply");
    assert_eq!(problem["provider_status"], 500);
    assert_eq!(problem["provider_code"], Value::Null);
    assert!(!reply.text().contains("<html"), "{reply}");
    assert_eq!(
        post(&host, "/payments", &clickpesa_body("HTML1")).status,
        201
    );

    // The provider is down: 502 provider_unavailable.
    let host = build(builder(&sandbox).app_variable("pesapal_origin", closed_origin()));
    let reply = get(&host, &format!("/payments/pesapal/{SOME_GUID}"));
    let problem = assert_problem(&reply, 502, "provider_unavailable");
    assert_eq!(problem["provider"], "pesapal");
    assert_eq!(post(&host, "/payments", &clickpesa_body("UP1")).status, 201);
}

// ----- issue 4: every route -----

#[test]
fn post_payments_route() {
    let (sandbox, host) = start();
    let ipn_id = register_ipn(&host, &unused_ipn_url(), "GET");
    sandbox.clear_requests();

    let body = pesapal_body("ROUTE-PAY-1", &ipn_id);
    let created = post(&host, "/payments", &body);
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(created.header("cache-control"), Some("no-store"));

    // A charset parameter on the content type is fine; a number with two decimals too.
    let mut number = pesapal_body("ROUTE-PAY-2", &ipn_id);
    number["amount"] = json!(1500.5);
    let request = http::Request::post("/payments")
        .header("authorization", format!("Bearer {API_KEY}"))
        .header("content-type", "application/json; charset=utf-8")
        .body(number.to_string().into_bytes())
        .unwrap();
    let reply = send(&host, request);
    assert_eq!(reply.status, 201, "{reply}");
    assert_eq!(sandbox.pesapal_orders()[1].amount, "1500.50");

    sandbox.clear_requests();
    let mut invalid = body.clone();
    invalid["amount"] = json!("0");
    let problem = assert_problem(&post(&host, "/payments", &invalid), 422, "invalid_request");
    assert_eq!(problem["field"], "amount");
    let malformed = send(
        &host,
        http::Request::post("/payments")
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("content-type", "application/json")
            .body(b"{\"provider\":".to_vec())
            .unwrap(),
    );
    assert_eq!(
        assert_problem(&malformed, 400, "invalid_request")["field"],
        "body"
    );
    let text = send(
        &host,
        http::Request::post("/payments")
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("content-type", "text/plain")
            .body(body.to_string().into_bytes())
            .unwrap(),
    );
    assert_problem(&text, 415, "unsupported_media_type");
    assert_eq!(text.header("accept-post"), Some("application/json"));
    let unauthorized = send(&host, request_json("POST", "/payments", &body, None));
    assert_problem(&unauthorized, 401, "unauthorized");
    assert_eq!(unauthorized.header("www-authenticate"), Some("Bearer"));
    let duplicate = post(&host, "/payments", &clickpesa_body("DUP1"));
    assert_eq!(duplicate.status, 201, "{duplicate}");
    // The same request again is a replay from the ledger...
    let again = post(&host, "/payments", &clickpesa_body("DUP1"));
    assert_eq!(again.status, 201, "{again}");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // ...while a new idempotency key with a used reference reaches
    // ClickPesa, which refuses the reference itself.
    let mut request = request_json("POST", "/payments", &clickpesa_body("DUP1"), Some(API_KEY));
    request
        .headers_mut()
        .insert("idempotency-key", "another-key".parse().unwrap());
    let again = send(&host, request);
    let problem = assert_problem(&again, 502, "provider_error");
    assert_eq!(problem["provider_status"], 409, "{again}");
    assert_eq!(sandbox.clickpesa_payments().len(), 1);
}

fn request_json(
    method: &str,
    path: &str,
    body: &Value,
    key: Option<&str>,
) -> http::Request<Vec<u8>> {
    request(method, path, Some(body), key)
}

#[test]
fn get_payment_status_route() {
    let (sandbox, host) = start();
    let ipn_id = register_ipn(&host, &unused_ipn_url(), "GET");
    let tracking_id =
        post(&host, "/payments", &pesapal_body("ROUTE-ST-1", &ipn_id)).json()["tracking_id"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(
        post(&host, "/payments", &clickpesa_body("ROUTEST2")).status,
        201
    );

    let pending = get(&host, &format!("/payments/pesapal/{tracking_id}"));
    assert_eq!(pending.status, 200, "{pending}");
    let details = pending.json();
    assert_eq!(details["provider"], "pesapal");
    assert_eq!(details["status"], "pending");
    assert_eq!(details["tracking_id"], tracking_id.as_str());

    let clickpesa = get(&host, "/payments/clickpesa/ROUTEST2");
    assert_eq!(clickpesa.status, 200, "{clickpesa}");
    assert_eq!(clickpesa.json()["status"], "pending");
    assert_eq!(clickpesa.json()["reference"], "ROUTEST2");
    // The network the sandbox reports (`channel`), not null.
    assert_eq!(clickpesa.json()["method"], "TIGO-PESA");

    sandbox.clear_requests();
    let unknown_provider = get(&host, "/payments/airtel/ROUTEST2");
    assert_problem(&unknown_provider, 404, "not_found");
    let bad_id = get(&host, "/payments/clickpesa/ROUTE-ST-2");
    assert_eq!(
        assert_problem(&bad_id, 422, "invalid_request")["field"],
        "id"
    );
    let bad_id = get(&host, "/payments/pesapal/not%20a%20tracking%20id");
    assert_eq!(
        assert_problem(&bad_id, 422, "invalid_request")["field"],
        "id"
    );
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );

    let unknown_order = get(&host, &format!("/payments/pesapal/{SOME_GUID}"));
    assert_problem(&unknown_order, 502, "provider_error");
    let unknown_payment = get(&host, "/payments/clickpesa/NOSUCHORDER");
    let problem = assert_problem(&unknown_payment, 502, "provider_error");
    assert_eq!(problem["provider_status"], 404);

    let unauthorized = send(
        &host,
        request("GET", "/payments/clickpesa/ROUTEST2", None, None),
    );
    assert_problem(&unauthorized, 401, "unauthorized");
}

#[test]
fn post_ipn_registrations_route() {
    let (sandbox, host) = start();
    let url = unused_ipn_url();
    for kind in ["GET", "POST"] {
        let reply = post(&host, "/ipn-registrations", &ipn_body(&url, kind));
        assert_eq!(reply.status, 201, "{reply}");
        assert_eq!(reply.json()["notification_type"], kind);
        assert!(reply.json()["created_date"].is_string(), "{reply}");
    }
    assert_eq!(sandbox.pesapal_ipns().len(), 2);
    sandbox.clear_requests();
    let relative = post(&host, "/ipn-registrations", &ipn_body("/notify", "GET"));
    assert_eq!(
        assert_problem(&relative, 422, "invalid_request")["field"],
        "url"
    );
    let kind = post(&host, "/ipn-registrations", &ipn_body(&url, "PUT"));
    assert_eq!(
        assert_problem(&kind, 422, "invalid_request")["field"],
        "notification_type"
    );
    let unsupported = post(
        &host,
        "/ipn-registrations",
        &json!({"provider": "clickpesa", "url": url, "notification_type": "GET"}),
    );
    assert_problem(&unsupported, 422, "unsupported");
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

#[test]
fn pesapal_notification_route_get_and_post() {
    let (sandbox, host) = start();
    let ipn_id = register_ipn(&host, &unused_ipn_url(), "GET");
    let tracking_id =
        post(&host, "/payments", &pesapal_body("ROUTE-IPN-1", &ipn_id)).json()["tracking_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let expected = |status: u16| {
        format!(
            r#"{{"orderNotificationType":"IPNCHANGE","orderTrackingId":"{tracking_id}","orderMerchantReference":"ROUTE-IPN-1","status":{status}}}"#
        )
    };

    // Pending: verified (the status call succeeded), status pending.
    sandbox.clear_requests();
    let query = format!(
        "/notifications/pesapal?OrderTrackingId={tracking_id}&OrderMerchantReference=ROUTE-IPN-1&OrderNotificationType=IPNCHANGE"
    );
    let reply = send(&host, request("GET", &query, None, None));
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.text(), expected(200));
    assert_eq!(reply.header("finconnect-payment-status"), Some("pending"));
    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {PESAPAL_TOKEN}"),
            format!("GET {PESAPAL_STATUS}")
        ],
        "an IPN is verified with a status call"
    );

    sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    let body = json!({
        "OrderTrackingId": tracking_id,
        "OrderMerchantReference": "ROUTE-IPN-1",
        "OrderNotificationType": "IPNCHANGE",
    });
    let reply = send(
        &host,
        request("POST", "/notifications/pesapal", Some(&body), None),
    );
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.text(), expected(200));
    assert_eq!(reply.header("finconnect-payment-status"), Some("completed"));
    assert_eq!(
        reply.header("finconnect-payment-reference"),
        Some("ROUTE-IPN-1")
    );
    assert_eq!(
        reply.header("finconnect-tracking-id"),
        Some(tracking_id.as_str())
    );

    // Settled and just confirmed: a repeat is answered from the ledger,
    // without asking PesaPal (whose status call would now fail).
    sandbox.inject(Fault::once(Target::PesapalStatus, FaultKind::Html500));
    sandbox.clear_requests();
    let reply = send(&host, request("GET", &query, None, None));
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.text(), expected(200));
    assert_eq!(reply.header("finconnect-payment-status"), Some("completed"));
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );

    // Not verifiable (a pending order whose status call fails):
    // acknowledged with status 500, no verdict.
    let pending =
        post(&host, "/payments", &pesapal_body("ROUTE-IPN-2", &ipn_id)).json()["tracking_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let reply = send(
        &host,
        request(
            "GET",
            &format!(
                "/notifications/pesapal?OrderTrackingId={pending}&OrderMerchantReference=ROUTE-IPN-2&OrderNotificationType=IPNCHANGE"
            ),
            None,
            None,
        ),
    );
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        reply.text(),
        format!(
            r#"{{"orderNotificationType":"IPNCHANGE","orderTrackingId":"{pending}","orderMerchantReference":"ROUTE-IPN-2","status":500}}"#
        )
    );
    assert_eq!(reply.header("finconnect-payment-status"), None, "{reply}");

    // Without its ids it cannot even be acknowledged.
    sandbox.clear_requests();
    let reply = send(&host, request("GET", "/notifications/pesapal", None, None));
    assert_eq!(
        assert_problem(&reply, 400, "invalid_request")["field"],
        "OrderTrackingId"
    );
    let reply = send(
        &host,
        http::Request::post("/notifications/pesapal")
            .header("content-type", "application/json")
            .body(b"{\"OrderTrackingId\":".to_vec())
            .unwrap(),
    );
    assert_eq!(
        assert_problem(&reply, 400, "invalid_request")["field"],
        "body"
    );
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

#[test]
fn clickpesa_webhook_route_without_and_with_a_checksum_key() {
    let (sandbox, host) = start();
    // A payment FinConnect started (webhooks for others are refused).
    assert_eq!(
        post(&host, "/payments", &clickpesa_body("WHK1")).status,
        201
    );
    sandbox.clear_requests();
    let event = json!({"event": "PAYMENT RECEIVED", "data": {
        "id": "WHK1LCP0001", "status": "SUCCESS", "orderReference": "WHK1",
        "collectedAmount": "1000", "collectedCurrency": "TZS", "channel": "TIGO-PESA",
        "clientId": "client-id-that-must-not-echo",
    }});
    let reply = send(
        &host,
        request("POST", "/notifications/clickpesa", Some(&event), None),
    );
    assert_eq!(reply.status, 200, "{reply}");
    let body = reply.json();
    assert_eq!(body["event"], "PAYMENT RECEIVED");
    assert_eq!(body["order_reference"], "WHK1");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["amount"], "1000.00");
    assert_eq!(body["verified"], false, "no key, nothing verified");
    assert_eq!(body["accepted"], true, "confirmed by asking ClickPesa");
    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {CLICKPESA_TOKEN}"),
            "GET /third-parties/payments/WHK1".to_owned()
        ]
    );
    assert!(!reply.text().contains("client-id-that-must-not-echo"));
    // A webhook for a payment FinConnect never started: refused, no call.
    sandbox.clear_requests();
    let mut stranger = event.clone();
    stranger["data"]["orderReference"] = json!("NOTOURS1");
    stranger["data"]["id"] = json!("NOTOURS1LCP1");
    let reply = send(
        &host,
        request("POST", "/notifications/clickpesa", Some(&stranger), None),
    );
    assert_eq!(reply.status, 404, "{reply}");
    assert_eq!(reply.json()["accepted"], false);
    assert!(sandbox.requests().is_empty());

    let text = send(
        &host,
        http::Request::post("/notifications/clickpesa")
            .header("content-type", "text/plain")
            .body(event.to_string().into_bytes())
            .unwrap(),
    );
    assert_problem(&text, 415, "unsupported_media_type");
    let malformed = send(
        &host,
        http::Request::post("/notifications/clickpesa")
            .header("content-type", "application/json")
            .body(b"{\"event\"".to_vec())
            .unwrap(),
    );
    assert_problem(&malformed, 400, "invalid_request");
    let no_event = send(
        &host,
        request(
            "POST",
            "/notifications/clickpesa",
            Some(&json!({"data": {}})),
            None,
        ),
    );
    assert_eq!(
        assert_problem(&no_event, 422, "invalid_request")["field"],
        "event"
    );

    let keyed = build(builder(&sandbox).app_variable("clickpesa_checksum_key", "webhook-key-1"));
    assert_eq!(
        post(&keyed, "/payments", &clickpesa_body("WHK2")).status,
        201
    );
    sandbox.clear_requests();
    let mut event = event.clone();
    event["data"]["orderReference"] = json!("WHK2");
    event["data"]["id"] = json!("WHK2LCP0001");
    let unsigned = send(
        &keyed,
        request("POST", "/notifications/clickpesa", Some(&event), None),
    );
    assert_eq!(
        assert_problem(&unsigned, 401, "unauthorized")["field"],
        "checksum"
    );
    let mut signed = event.clone();
    sign_clickpesa(b"webhook-key-1", &mut signed);
    let reply = send(
        &keyed,
        request("POST", "/notifications/clickpesa", Some(&signed), None),
    );
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.json()["verified"], true);
    assert!(sandbox.requests().is_empty(), "a webhook calls no provider");
}

#[test]
fn unknown_routes_and_wrong_methods() {
    let (sandbox, host) = start();
    for path in [
        "/",
        "/nope",
        "/payments/pesapal",
        "/payments/pesapal/a/b",
        "/PAYMENTS",
    ] {
        let reply = send(&host, request("GET", path, None, Some(API_KEY)));
        assert_problem(&reply, 404, "not_found");
    }
    for (method, path, allow) in [
        ("PUT", "/payments", "POST, GET"),
        ("DELETE", "/payments", "POST, GET"),
        ("POST", "/payments/pesapal/x", "GET"),
        ("PUT", "/ipn-registrations", "POST, GET"),
        ("PUT", "/notifications/pesapal", "GET, POST"),
        ("GET", "/notifications/clickpesa", "POST"),
    ] {
        let reply = send(&host, request(method, path, None, Some(API_KEY)));
        assert_problem(&reply, 405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
    }
    assert!(sandbox.requests().is_empty());
}

// ----- issue 4: the README's story over real TCP -----

fn tcp(addr: SocketAddr, method: &str, target: &str, body: Option<&Value>) -> Reply {
    let auth = format!("Bearer {API_KEY}");
    let mut headers = vec![("authorization", auth.as_str())];
    let bytes = match body {
        Some(body) => {
            headers.push(("content-type", "application/json"));
            body.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    http_over_tcp(addr, method, target, &headers, &bytes)
}

/// Registers an IPN at the served host's own `/notifications/pesapal`, pays,
/// completes the order in the sandbox (which delivers the IPN to the served
/// host over TCP), and reads the status.
fn readme_story(notification_type: &str, reference: &str) {
    let (sandbox, host) = start();
    let addr = serve(&host);
    let origin = format!("http://{addr}");

    let reply = tcp(
        addr,
        "POST",
        "/ipn-registrations",
        Some(&ipn_body(
            &format!("{origin}/notifications/pesapal"),
            notification_type,
        )),
    );
    assert_eq!(reply.status, 201, "{reply}");
    let ipn_id = reply.json()["ipn_id"].as_str().unwrap().to_owned();

    let reply = tcp(
        addr,
        "POST",
        "/payments",
        Some(&pesapal_body(reference, &ipn_id)),
    );
    assert_eq!(reply.status, 201, "{reply}");
    let tracking_id = reply.json()["tracking_id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json()["status"], "pending");

    sandbox.clear_requests();
    let delivery = sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    assert_eq!(delivery.method, notification_type);
    let delivered_to = delivery.url.clone().unwrap();
    assert!(
        delivered_to.starts_with(&format!("{origin}/notifications/pesapal")),
        "{delivery:?}"
    );
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let ack = format!(
        r#"{{"orderNotificationType":"IPNCHANGE","orderTrackingId":"{tracking_id}","orderMerchantReference":"{reference}","status":200}}"#
    );
    assert_eq!(delivery.body.as_bytes(), ack.as_bytes(), "{delivery:?}");
    // The IPN was verified: FinConnect asked PesaPal before acknowledging.
    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {PESAPAL_TOKEN}"),
            format!("GET {PESAPAL_STATUS}")
        ]
    );
    let status_call = &sandbox.requests()[1];
    assert_eq!(
        status_call.query.as_deref(),
        Some(format!("orderTrackingId={tracking_id}").as_str())
    );

    // The sandbox keeps only the body of the answer: send the same
    // notification again over TCP to read the verdict headers too.
    let target = delivered_to.strip_prefix(&origin).unwrap();
    let replay = match notification_type {
        "GET" => http_over_tcp(addr, "GET", target, &[], &[]),
        _ => http_over_tcp(
            addr,
            "POST",
            target,
            &[("content-type", "application/json")],
            delivery.request_body.as_bytes(),
        ),
    };
    assert_eq!(replay.status, 200, "{replay}");
    assert_eq!(replay.body, ack.as_bytes(), "{replay}");
    assert_eq!(
        replay.header("finconnect-payment-status"),
        Some("completed"),
        "{replay}"
    );
    assert_eq!(
        replay.header("finconnect-payment-reference"),
        Some(reference)
    );

    let reply = tcp(
        addr,
        "GET",
        &format!("/payments/pesapal/{tracking_id}"),
        None,
    );
    assert_eq!(reply.status, 200, "{reply}");
    let details = reply.json();
    assert_eq!(details["status"], "completed", "{reply}");
    assert_eq!(details["amount"], "1500.00");
    assert_eq!(details["currency"], "KES");
    assert_eq!(details["method"], "MpesaKE");
    assert_eq!(details["reference"], reference);
    assert!(details["confirmation_code"].is_string(), "{reply}");
}

#[test]
fn readme_story_over_tcp_with_a_get_ipn() {
    readme_story("GET", "STORY-GET-1");
}

#[test]
fn readme_story_over_tcp_with_a_post_ipn() {
    readme_story("POST", "STORY-POST-1");
}

#[test]
fn clickpesa_webhooks_over_tcp_forged_is_401_genuine_is_verified() {
    let config = SandboxConfig {
        clickpesa_checksum_key: Some("sandbox-checksum-key-9d2".to_owned()),
        ..SandboxConfig::default()
    };
    let (sandbox, host) = start_with(config.clone(), |b| {
        b.app_variable("clickpesa_checksum_key", "sandbox-checksum-key-9d2")
    });
    let addr = serve(&host);
    sandbox.set_clickpesa_webhook_url(Some(format!("http://{addr}/notifications/clickpesa")));

    let reply = tcp(addr, "POST", "/payments", Some(&clickpesa_body("HOOK1")));
    assert_eq!(reply.status, 201, "{reply}");
    let push = &sandbox.requests()[1];
    assert!(
        push.json().unwrap()["checksum"].is_string(),
        "the push was signed"
    );

    // Forged: a webhook signed with another key.
    let mut forged = json!({"event": "PAYMENT RECEIVED", "data": {
        "id": "HOOK1LCP0000", "status": "SUCCESS", "orderReference": "HOOK1",
        "collectedAmount": "1000", "collectedCurrency": "TZS", "channel": "TIGO-PESA",
    }});
    sign_clickpesa(b"an-attacker-key", &mut forged);
    forged["checksumMethod"] = json!("canonical");
    let reply = http_over_tcp(
        addr,
        "POST",
        "/notifications/clickpesa",
        &[("content-type", "application/json")],
        forged.to_string().as_bytes(),
    );
    let problem = assert_problem(&reply, 401, "unauthorized");
    assert_eq!(problem["field"], "checksum");

    // Genuine: the sandbox settles and delivers a webhook signed with the shared key.
    let delivery = sandbox
        .settle_clickpesa("HOOK1", Outcome::Completed)
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let event: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(event["verified"], true);
    assert_eq!(event["event"], "PAYMENT RECEIVED");
    assert_eq!(event["order_reference"], "HOOK1");
    assert_eq!(
        event["tracking_id"],
        sandbox.clickpesa_payments()[0].id.as_str()
    );
    assert_eq!(event["status"], "completed");
    assert_eq!(event["amount"], "1000.00");
    assert_eq!(event["currency"], "TZS");
    assert!(
        delivery.request_body.contains(&config.clickpesa_client_id),
        "the sandbox sent its clientId"
    );
    assert!(
        !delivery.body.contains(&config.clickpesa_client_id),
        "FinConnect echoed it: {}",
        delivery.body
    );

    // The genuine body with one value changed no longer verifies.
    let mut tampered: Value = serde_json::from_str(&delivery.request_body).unwrap();
    tampered["data"]["collectedAmount"] = json!("999999");
    let reply = http_over_tcp(
        addr,
        "POST",
        "/notifications/clickpesa",
        &[("content-type", "application/json")],
        tampered.to_string().as_bytes(),
    );
    assert_problem(&reply, 401, "unauthorized");

    let reply = tcp(addr, "GET", "/payments/clickpesa/HOOK1", None);
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.json()["status"], "completed");
}

#[test]
fn unauthenticated_merchant_calls_make_zero_provider_calls() {
    let (sandbox, host) = start();
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/payments".into(),
            Some(pesapal_body("NOAUTH-1", SOME_GUID)),
        ),
        ("POST", "/payments".into(), Some(clickpesa_body("NOAUTH2"))),
        (
            "POST",
            "/ipn-registrations".into(),
            Some(ipn_body(&unused_ipn_url(), "GET")),
        ),
        ("GET", "/payments/clickpesa/NOAUTH2".into(), None),
        ("GET", format!("/payments/pesapal/{SOME_GUID}"), None),
    ];
    for (method, path, body) in &routes {
        for key in [None, Some("wrong-key"), Some(&API_KEY[..API_KEY.len() - 1])] {
            let reply = send(&host, request(method, path, body.as_ref(), key));
            assert_problem(&reply, 401, "unauthorized");
        }
    }
    let closed = build(builder(&sandbox).app_variable("finconnect_api_key", ""));
    for (method, path, body) in &routes {
        for key in [None, Some(API_KEY), Some("")] {
            let reply = send(&closed, request(method, path, body.as_ref(), key));
            let problem = assert_problem(&reply, 503, "not_configured");
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("finconnect_api_key"),
                "{reply}"
            );
        }
    }
    assert!(
        sandbox.requests().is_empty(),
        "unauthenticated calls reached the provider: {:?}",
        provider_calls(&sandbox)
    );
}

// ----- issue 6, suite 1: bad input through HTTP -----

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn payment_case(
    name: &'static str,
    base: &Value,
    edit: impl FnOnce(&mut Value),
    field: &'static str,
) -> Case {
    let mut body = base.clone();
    edit(&mut body);
    Case {
        name,
        method: "POST",
        path: "/payments".to_owned(),
        content_type: Some("application/json"),
        body: body.to_string().into_bytes(),
        status: 422,
        code: "invalid_request",
        field: Some(field),
    }
}

fn raw_case(
    name: &'static str,
    path: &str,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        method: "POST",
        path: path.to_owned(),
        content_type,
        body: body.into(),
        status,
        code,
        field,
    }
}

fn ipn_query_case(name: &'static str, query: &str, field: &'static str) -> Case {
    Case {
        name,
        method: "GET",
        path: format!("/notifications/pesapal{query}"),
        content_type: None,
        body: Vec::new(),
        status: 400,
        code: "invalid_request",
        field: Some(field),
    }
}

fn bad_input_cases() -> Vec<Case> {
    let pp = pesapal_body("BAD-1", SOME_GUID);
    let cp = clickpesa_body("BAD1");
    let json = Some("application/json");
    let id = SOME_GUID;
    let mut cases = vec![
        // amounts
        payment_case("amount zero", &pp, |b| b["amount"] = json!("0"), "amount"),
        payment_case("amount 0.00", &pp, |b| b["amount"] = json!("0.00"), "amount"),
        payment_case("amount negative", &pp, |b| b["amount"] = json!("-5.00"), "amount"),
        payment_case("amount negative number", &pp, |b| b["amount"] = json!(-5), "amount"),
        payment_case("amount NaN", &pp, |b| b["amount"] = json!("NaN"), "amount"),
        payment_case("amount Infinity", &pp, |b| b["amount"] = json!("Infinity"), "amount"),
        payment_case("amount 1e3 text", &pp, |b| b["amount"] = json!("1e3"), "amount"),
        payment_case("amount three decimals", &pp, |b| b["amount"] = json!("10.005"), "amount"),
        payment_case("amount huge", &pp, |b| b["amount"] = json!("1000000000000.01"), "amount"),
        payment_case("amount empty", &pp, |b| b["amount"] = json!(""), "amount"),
        payment_case("amount spaces", &pp, |b| b["amount"] = json!("1 500"), "amount"),
        payment_case("amount comma", &pp, |b| b["amount"] = json!("1,500.00"), "amount"),
        payment_case("amount object", &pp, |b| b["amount"] = json!({"value": 1}), "amount"),
        payment_case("amount boolean", &pp, |b| b["amount"] = json!(true), "amount"),
        payment_case("amount array", &pp, |b| b["amount"] = json!([1500]), "amount"),
        payment_case("amount null", &pp, |b| b["amount"] = Value::Null, "amount"),
        payment_case("clickpesa amount three decimals", &cp, |b| b["amount"] = json!("1000.001"), "amount"),
        // currencies
        payment_case("currency lower case", &pp, |b| b["currency"] = json!("kes"), "currency"),
        payment_case("currency four letters", &pp, |b| b["currency"] = json!("KESS"), "currency"),
        payment_case("currency empty", &pp, |b| b["currency"] = json!(""), "currency"),
        payment_case("currency number", &pp, |b| b["currency"] = json!(404), "currency"),
        payment_case("clickpesa currency not TZS", &cp, |b| b["currency"] = json!("KES"), "currency"),
        // references
        payment_case("reference too long", &pp, |b| b["reference"] = json!("R".repeat(51)), "reference"),
        payment_case("reference empty", &pp, |b| b["reference"] = json!(""), "reference"),
        payment_case("reference spaces", &pp, |b| b["reference"] = json!("ORDER 1"), "reference"),
        payment_case("reference unicode", &pp, |b| b["reference"] = json!("ORDRE-\u{e9}t\u{e9}"), "reference"),
        payment_case("reference number", &pp, |b| b["reference"] = json!(1001), "reference"),
        payment_case("clickpesa reference with a dash", &cp, |b| b["reference"] = json!("ORDER-1"), "reference"),
        payment_case("clickpesa reference with an underscore", &cp, |b| b["reference"] = json!("ORDER_1"), "reference"),
        payment_case("clickpesa reference too long", &cp, |b| b["reference"] = json!("R".repeat(101)), "reference"),
        // phones and emails
        payment_case("phone too short", &pp, |b| b["customer"]["phone"] = json!("12345"), "customer.phone"),
        payment_case("phone with spaces", &pp, |b| b["customer"]["phone"] = json!("0723 000 000"), "customer.phone"),
        payment_case("clickpesa phone with +", &cp, |b| b["customer"]["phone"] = json!("+255712345678"), "customer.phone"),
        payment_case("clickpesa phone wrong country", &cp, |b| b["customer"]["phone"] = json!("254712345678"), "customer.phone"),
        payment_case("clickpesa phone missing", &cp, |b| b["customer"] = json!({}), "customer.phone"),
        payment_case("email without @", &pp, |b| b["customer"]["email"] = json!("jane"), "customer.email"),
        payment_case("email without a dot", &pp, |b| b["customer"]["email"] = json!("jane@example"), "customer.email"),
        payment_case("email number", &pp, |b| b["customer"]["email"] = json!(42), "customer.email"),
        payment_case("no email and no phone", &pp, |b| b["customer"] = json!({"first_name": "Jane"}), "customer"),
        payment_case("customer a string", &pp, |b| b["customer"] = json!("jane@example.com"), "customer"),
        payment_case("country code three letters", &pp, |b| b["customer"]["country_code"] = json!("KEN"), "customer.country_code"),
        // URLs
        payment_case("callback relative", &pp, |b| b["callback_url"] = json!("/return"), "callback_url"),
        payment_case("callback javascript", &pp, |b| b["callback_url"] = json!("javascript:alert(1)"), "callback_url"),
        payment_case("callback missing", &pp, |b| drop(b.as_object_mut().unwrap().remove("callback_url")), "callback_url"),
        payment_case("cancellation ftp", &pp, |b| b["cancellation_url"] = json!("ftp://shop.example/x"), "cancellation_url"),
        // providers, missing fields, types
        payment_case("unknown provider", &pp, |b| b["provider"] = json!("airtel"), "provider"),
        payment_case("provider number", &pp, |b| b["provider"] = json!(7), "provider"),
        payment_case("provider missing", &pp, |b| drop(b.as_object_mut().unwrap().remove("provider")), "provider"),
        payment_case("reference missing", &pp, |b| drop(b.as_object_mut().unwrap().remove("reference")), "reference"),
        payment_case("amount and currency missing", &pp, |b| {
            let object = b.as_object_mut().unwrap();
            object.remove("amount");
            object.remove("currency");
        }, "amount"),
        payment_case("description missing", &pp, |b| drop(b.as_object_mut().unwrap().remove("description")), "description"),
        payment_case("description too long", &pp, |b| b["description"] = json!("d".repeat(101)), "description"),
        payment_case("notification id missing", &pp, |b| drop(b.as_object_mut().unwrap().remove("notification_id")), "notification_id"),
        payment_case("notification id not a GUID", &pp, |b| b["notification_id"] = json!("ipn-1"), "notification_id"),
        payment_case("unknown method", &cp, |b| b["method"] = json!("bitcoin"), "method"),
        payment_case("unknown redirect mode", &pp, |b| b["redirect_mode"] = json!("NEW_TAB"), "redirect_mode"),
        // bodies
        raw_case("body an array", "/payments", json, "[]", 422, "invalid_request", Some("body")),
        raw_case("body a string", "/payments", json, "\"pay\"", 422, "invalid_request", Some("body")),
        raw_case("malformed JSON", "/payments", json, "{provider: pesapal}", 400, "invalid_request", Some("body")),
        raw_case("truncated JSON", "/payments", json, pp.to_string()[..40].to_owned(), 400, "invalid_request", Some("body")),
        raw_case("empty body", "/payments", json, "", 400, "invalid_request", Some("body")),
        raw_case("not UTF-8", "/payments", json, b"{\"provider\":\"\xff\xfe\"}".to_vec(), 400, "invalid_request", Some("body")),
        raw_case(
            "duplicate member",
            "/payments",
            json,
            pp.to_string().replacen('{', "{\"amount\":\"1.00\",", 1),
            422,
            "invalid_request",
            Some("amount"),
        ),
        raw_case("text/plain", "/payments", Some("text/plain"), pp.to_string(), 415, "unsupported_media_type", None),
        raw_case("form encoded", "/payments", Some("application/x-www-form-urlencoded"), "provider=pesapal", 415, "unsupported_media_type", None),
        raw_case("no content type", "/payments", None, pp.to_string(), 415, "unsupported_media_type", None),
        raw_case("two content types", "/payments", Some("application/json, text/plain"), pp.to_string(), 415, "unsupported_media_type", None),
        // IPN registrations
        raw_case("ipn url relative", "/ipn-registrations", json, ipn_body("/ipn", "GET").to_string(), 422, "invalid_request", Some("url")),
        raw_case("ipn url javascript", "/ipn-registrations", json, ipn_body("javascript:alert(1)", "GET").to_string(), 422, "invalid_request", Some("url")),
        raw_case("ipn url missing", "/ipn-registrations", json, json!({"provider": "pesapal", "notification_type": "GET"}).to_string(), 422, "invalid_request", Some("url")),
        raw_case("ipn type unknown", "/ipn-registrations", json, ipn_body("https://shop.example/ipn", "PUT").to_string(), 422, "invalid_request", Some("notification_type")),
        raw_case("ipn type number", "/ipn-registrations", json, json!({"provider": "pesapal", "url": "https://shop.example/ipn", "notification_type": 0}).to_string(), 422, "invalid_request", Some("notification_type")),
        raw_case("ipn unknown provider", "/ipn-registrations", json, json!({"provider": "paypal", "url": "https://shop.example/ipn", "notification_type": "GET"}).to_string(), 422, "invalid_request", Some("provider")),
        // IPN query strings: missing fields and injection attempts
        ipn_query_case("ipn no query", "", "OrderTrackingId"),
        ipn_query_case("ipn only a tracking id", &format!("?OrderTrackingId={id}"), "OrderMerchantReference"),
        ipn_query_case("ipn no type", &format!("?OrderTrackingId={id}&OrderMerchantReference=R1"), "OrderNotificationType"),
        ipn_query_case("ipn unknown type", &format!("?OrderTrackingId={id}&OrderMerchantReference=R1&OrderNotificationType=CHANGE"), "OrderNotificationType"),
        ipn_query_case("ipn path traversal id", "?OrderTrackingId=..%2F..%2Fetc%2Fpasswd&OrderMerchantReference=R1&OrderNotificationType=IPNCHANGE", "OrderTrackingId"),
        ipn_query_case("ipn SQL in the id", "?OrderTrackingId=%27%20OR%201%3D1--&OrderMerchantReference=R1&OrderNotificationType=IPNCHANGE", "OrderTrackingId"),
        ipn_query_case("ipn query in the id", &format!("?OrderTrackingId={id}%26status%3Dcompleted&OrderMerchantReference=R1&OrderNotificationType=IPNCHANGE"), "OrderTrackingId"),
        ipn_query_case("ipn script in the reference", &format!("?OrderTrackingId={id}&OrderMerchantReference=%3Cscript%3Ealert(1)%3C%2Fscript%3E&OrderNotificationType=IPNCHANGE"), "OrderMerchantReference"),
        ipn_query_case("ipn header injection in the reference", &format!("?OrderTrackingId={id}&OrderMerchantReference=R1%0D%0ASet-Cookie%3A%20x%3D1&OrderNotificationType=IPNCHANGE"), "OrderMerchantReference"),
        ipn_query_case("ipn quote in the reference", &format!("?OrderTrackingId={id}&OrderMerchantReference=R1%22%2C%22status%22%3A200&OrderNotificationType=IPNCHANGE"), "OrderMerchantReference"),
        raw_case("ipn POST malformed", "/notifications/pesapal", json, "{\"OrderTrackingId\"", 400, "invalid_request", Some("body")),
        raw_case(
            "ipn POST injection in the id",
            "/notifications/pesapal",
            json,
            json!({"OrderTrackingId": "x\"}; DROP TABLE orders;--", "OrderMerchantReference": "R1", "OrderNotificationType": "IPNCHANGE"}).to_string(),
            400,
            "invalid_request",
            Some("OrderTrackingId"),
        ),
    ];
    // Over 64 KiB: refused before anything is read from it.
    let mut big = pp.clone();
    big["description"] = json!("x".repeat(64 * 1024));
    cases.push(raw_case(
        "body over 64 KiB",
        "/payments",
        json,
        big.to_string(),
        413,
        "payload_too_large",
        None,
    ));
    cases
}

#[test]
fn bad_input_table_through_http_is_refused_naming_the_field_with_zero_provider_calls() {
    let (sandbox, host) = start();
    let cases = bad_input_cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let mut builder = http::Request::builder()
            .method(case.method)
            .uri(case.path.as_str())
            .header("authorization", format!("Bearer {API_KEY}"));
        if let Some(content_type) = case.content_type {
            builder = builder.header("content-type", content_type);
        }
        let reply = send(&host, builder.body(case.body.clone()).unwrap());
        let problem: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        let ok = reply.status == case.status
            && (400..500).contains(&reply.status)
            && reply.header("content-type") == Some("application/problem+json")
            && problem["code"] == case.code
            && problem["status"] == case.status
            && match case.field {
                Some(field) => problem["field"] == field,
                None => problem.get("field").is_none(),
            };
        if !ok {
            failures.push(format!(
                "{}: wanted {} {} field {:?}, got {reply}",
                case.name, case.status, case.code, case.field
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        sandbox.requests().is_empty(),
        "bad input reached the provider: {:?}",
        provider_calls(&sandbox)
    );
}

// ----- issue 6, suite 5: access -----

#[test]
fn merchant_routes_reject_every_malformed_or_wrong_key() {
    let (sandbox, host) = start();
    let body = clickpesa_body("ACCESS1");
    let shouted = API_KEY.to_ascii_uppercase();
    let attempts: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("authorization", String::new())],
        vec![("authorization", "Bearer".to_owned())],
        vec![("authorization", "Bearer ".to_owned())],
        vec![("authorization", API_KEY.to_owned())],
        vec![("authorization", format!("Basic {API_KEY}"))],
        vec![("authorization", format!("Token {API_KEY}"))],
        vec![("authorization", format!("Bearer {shouted}"))],
        vec![("authorization", format!("Bearer {API_KEY}x"))],
        vec![("authorization", format!("Bearer x{API_KEY}"))],
        vec![("authorization", format!("Bearer {API_KEY} {API_KEY}"))],
        vec![
            ("authorization", format!("Bearer {API_KEY}")),
            ("authorization", format!("Bearer {API_KEY}")),
        ],
        vec![("x-api-key", API_KEY.to_owned())],
        vec![("cookie", format!("finconnect_api_key={API_KEY}"))],
    ];
    let targets = [
        ("POST", "/payments".to_owned()),
        ("POST", "/ipn-registrations".to_owned()),
        ("GET", "/payments/clickpesa/ACCESS1".to_owned()),
    ];
    for (method, path) in &targets {
        for headers in &attempts {
            let mut builder = http::Request::builder()
                .method(*method)
                .uri(path.as_str())
                .header("content-type", "application/json");
            for (name, value) in headers {
                builder = builder.header(*name, value.as_str());
            }
            let payload = if *method == "POST" {
                body.to_string().into_bytes()
            } else {
                Vec::new()
            };
            let reply = send(&host, builder.body(payload).unwrap());
            assert_eq!(
                reply.status, 401,
                "{method} {path} with {headers:?}: {reply}"
            );
            assert_eq!(reply.problem()["code"], "unauthorized");
        }
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
    // The right key, for contrast.
    assert_eq!(post(&host, "/payments", &body).status, 201);
    // A key with surrounding spaces in the header is the same key.
    let reply = send(
        &host,
        http::Request::get("/payments/clickpesa/ACCESS1")
            .header("authorization", format!("Bearer   {API_KEY}  "))
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(reply.status, 200, "{reply}");
}

#[test]
fn no_route_echoes_request_headers() {
    let (sandbox, host) = start();
    let ipn_id = register_ipn(&host, &unused_ipn_url(), "GET");
    let tracking_id =
        post(&host, "/payments", &pesapal_body("ECHO-1", &ipn_id)).json()["tracking_id"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(
        post(&host, "/payments", &clickpesa_body("ECHO2")).status,
        201
    );

    let marker = "echo-marker-31f7c0a2";
    let wrong_key = "wrong-key-echo-8c44e1";
    let ipn_query = format!(
        "/notifications/pesapal?OrderTrackingId={tracking_id}&OrderMerchantReference=ECHO-1&OrderNotificationType=IPNCHANGE"
    );
    let webhook = json!({"event": "PAYMENT RECEIVED", "data": {"orderReference": "ECHO2", "status": "SUCCESS"}});
    let requests: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/payments".into(),
            Some(pesapal_body("ECHO-3", &ipn_id)),
        ),
        (
            "POST",
            "/payments".into(),
            Some(json!({"provider": "pesapal"})),
        ),
        ("POST", "/payments".into(), Some(clickpesa_body("ECHO-4"))),
        (
            "POST",
            "/ipn-registrations".into(),
            Some(ipn_body(&unused_ipn_url(), "POST")),
        ),
        (
            "POST",
            "/ipn-registrations".into(),
            Some(
                json!({"provider": "clickpesa", "url": "https://shop.example/x", "notification_type": "GET"}),
            ),
        ),
        ("GET", format!("/payments/pesapal/{tracking_id}"), None),
        ("GET", "/payments/clickpesa/ECHO2".into(), None),
        ("GET", "/payments/airtel/ECHO2".into(), None),
        ("GET", ipn_query.clone(), None),
        (
            "POST",
            "/notifications/pesapal".into(),
            Some(
                json!({"OrderTrackingId": tracking_id, "OrderMerchantReference": "ECHO-1", "OrderNotificationType": "IPNCHANGE"}),
            ),
        ),
        ("GET", "/notifications/pesapal".into(), None),
        ("POST", "/notifications/clickpesa".into(), Some(webhook)),
        ("POST", "/notifications/clickpesa".into(), Some(json!([]))),
        ("GET", "/nowhere".into(), None),
        ("DELETE", "/payments".into(), None),
    ];
    let mut checked = 0;
    for (method, path, body) in &requests {
        for key in [API_KEY, wrong_key] {
            let mut builder = http::Request::builder()
                .method(*method)
                .uri(path.as_str())
                .header("authorization", format!("Bearer {key}"))
                .header("x-request-id", marker)
                .header("x-forwarded-for", marker)
                .header("user-agent", marker)
                .header("cookie", format!("session={marker}"))
                .header("referer", format!("https://{marker}.example/"))
                .header("origin", format!("https://{marker}.example"));
            let payload = match body {
                Some(body) => {
                    builder = builder.header("content-type", "application/json");
                    body.to_string().into_bytes()
                }
                None => Vec::new(),
            };
            let reply = send(&host, builder.body(payload).unwrap());
            let everything = reply.everything();
            assert!(
                !everything.contains(marker) && !everything.contains(wrong_key),
                "{method} {path} echoed a request header: {reply}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, requests.len() * 2);
    // Over TCP as well (the host's own HTTP layer).
    let addr = serve(&host);
    for (method, path) in [
        ("GET", ipn_query.as_str()),
        ("GET", "/payments/clickpesa/ECHO2"),
    ] {
        let auth = format!("Bearer {wrong_key}");
        let reply = http_over_tcp(
            addr,
            method,
            path,
            &[("authorization", auth.as_str()), ("x-request-id", marker)],
            &[],
        );
        assert!(reply.status < 500, "{reply}");
        let everything = reply.everything();
        assert!(
            !everything.contains(marker) && !everything.contains(wrong_key),
            "{reply}"
        );
    }
    drop(sandbox);
}
