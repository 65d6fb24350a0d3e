//! Tests of the HTTP face: every route through `handle`, with a scripted
//! transport that records what would have been sent.

use super::*;
use crate::providers::clickpesa::checksum;
pub(super) use crate::transport::scripted::{Reply, Scripted};
use crate::transport::{HttpRequest, TransportError};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Signs a serde_json body with the core's checksum, which takes a `checksum::Value`.
fn sign(key: &[u8], body: &mut Value) {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let tree = checksum::Value::parse(&bytes).unwrap_or(checksum::Value::Null);
    body["checksum"] = json!(checksum::compute(key, &tree).unwrap_or_default());
}

mod bad_input;
mod ledgered;
mod openapi_contract;
mod payouts;
mod untracked;

// ---------------------------------------------------------------- helpers

pub(super) const API_KEY: &str = "canary-api-key";
const CHECKSUM_KEY: &str = "canary-checksum-key";
const CANARIES: [&str; 8] = [
    "canary-pp-key",
    "canary-pp-secret",
    "canary-cp-client",
    "canary-cp-api-key",
    "canary-token",
    API_KEY,
    CHECKSUM_KEY,
    "canary-payouts-key",
];

pub(super) fn vars() -> BTreeMap<String, String> {
    [
        ("pesapal_base_url", "http://127.0.0.1:9/pesapalv3"),
        ("pesapal_consumer_key", "canary-pp-key"),
        ("pesapal_consumer_secret", "canary-pp-secret"),
        ("clickpesa_base_url", "http://127.0.0.1:9/third-parties"),
        ("clickpesa_client_id", "canary-cp-client"),
        ("clickpesa_api_key", "canary-cp-api-key"),
        ("finconnect_api_key", API_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A merchant request with the right key and a JSON content type.
pub(super) fn merchant(method: &str, path: &str, body: &str) -> Request {
    Request::new(method, path)
        .with_header("authorization", format!("Bearer {API_KEY}"))
        .with_header("content-type", "application/json")
        .with_body(body)
}

fn public(method: &str, uri: &str, content_type: Option<&str>, body: &[u8]) -> Request {
    let mut request = Request::new(method, uri).with_body(body);
    if let Some(content_type) = content_type {
        request = request.with_header("content-type", content_type);
    }
    request
}

/// Replaces every `name` header of `request` with one of this value.
pub(super) fn set_header(request: &mut Request, name: &str, value: &str) {
    remove_header(request, name);
    request.headers.push((name.to_owned(), value.to_owned()));
}

/// Removes every `name` header of `request`.
pub(super) fn remove_header(request: &mut Request, name: &str) {
    request
        .headers
        .retain(|(candidate, _)| !candidate.eq_ignore_ascii_case(name));
}

/// Runs one request; returns the response and the transport, for what it saw.
pub(super) fn run(
    request: Request,
    vars: &BTreeMap<String, String>,
    script: Vec<Reply>,
) -> (Response, Scripted) {
    let mut transport = Scripted::new(script);
    let response = handle(request, vars, &mut transport);
    assert_no_canary(&response);
    (response, transport)
}

pub(super) fn body_json(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.header(name)
}

/// Asserts an `application/problem+json` answer with this status, code and field.
pub(super) fn assert_problem(response: &Response, status: u16, code: &str, field: Option<&str>) {
    let body = body_json(response);
    assert_eq!(
        (response.status, body["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert_eq!(header(response, "content-type"), Some(PROBLEM_CONTENT_TYPE));
    assert_eq!(body["status"], json!(status));
    assert_eq!(
        body["type"].as_str().map(str::to_owned),
        Some(format!("urn:finconnect:problem:{code}"))
    );
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(body["field"].as_str(), field, "{body}");
}

/// No credential, token or key may appear anywhere in a response.
pub(super) fn assert_no_canary(response: &Response) {
    let mut text = String::from_utf8_lossy(&response.body).into_owned();
    for (name, value) in &response.headers {
        text.push_str(&format!("\n{name}: {value}"));
    }
    for canary in CANARIES {
        assert!(!text.contains(canary), "{canary} leaked into {text}");
    }
}

// --------------------------------------------------------------- fixtures

pub(super) const PP_TOKEN: &str = r#"{"token":"canary-token","expiryDate":"2030-01-01T00:00:00.0000000Z","error":null,"status":"200"}"#;
const PP_ORDER: &str = r#"{"order_tracking_id":"96a5e1d9-f711-4423-82ce-dd758f972713","merchant_reference":"ORD-1","redirect_url":"https://pay.example/iframe?OrderTrackingId=96a5e1d9","error":null,"status":"200"}"#;
const PP_IPN: &str = r#"{"url":"https://shop.example/notifications/pesapal","created_date":"2024-03-18T18:20:11.77","ipn_id":"1da86d1c-1e8c-4183-bdfd-dd759463e4ce","notification_type":0,"ipn_notification_type_description":"GET","ipn_status":1,"ipn_status_description":"Active","error":null,"status":"200"}"#;
const PP_COMPLETED: &str = r#"{"payment_method":"MpesaKE","amount":1500.00,"created_date":"2024-03-18T18:25:46.75","confirmation_code":"QK12ABC","order_tracking_id":"96a5e1d9-f711-4423-82ce-dd758f972713","payment_status_description":"Completed","description":null,"message":"Request processed successfully","payment_account":"2547xxx73984","call_back_url":"https://shop.example/return","status_code":1,"merchant_reference":"ORD-1","payment_status_code":"","currency":"KES","error":{"error_type":null,"code":null,"message":null,"call_back_url":null},"status":"200"}"#;
const PP_PENDING: &str = r#"{"payment_method":"","amount":10.00,"created_date":"2024-03-18T18:25:46.75","confirmation_code":"","order_tracking_id":"96a5e1d9-f711-4423-82ce-dd758f972713","payment_status_description":"INVALID","description":null,"message":"Request processed successfully","payment_account":"","status_code":0,"payment_status_code":"","currency":"KES","error":{"error_type":"api_error","code":"payment_details_not_found","message":"Pending Payment","call_back_url":"https://shop.example/return"},"status":"500"}"#;
const PP_BAD_CREDS: &str = r#"{"error":{"error_type":"api_error","code":"invalid_consumer_key_or_secret_provided","message":""},"status":"500"}"#;
const PP_DUPLICATE: &str = r#"{"order_tracking_id":null,"merchant_reference":null,"redirect_url":null,"error":{"error_type":"api_error","code":"duplicate_order_reference","message":"An order with this reference already exists"},"status":"500"}"#;
const CP_TOKEN: &str = r#"{"success":true,"token":"Bearer canary-token"}"#;
const CP_PUSH: &str = r#"{"id":"ORDER1LCP1","status":"PROCESSING","orderReference":"ORDER1","collectedAmount":"1000","collectedCurrency":"TZS","clientId":"canary-cp-client"}"#;
const CP_STATUS: &str = r#"[{"id":"ORDER1LCP1","status":"SETTLED","paymentReference":"PR123","paymentPhoneNumber":"255712345678","orderReference":"ORDER1","collectedAmount":1000,"collectedCurrency":"TZS","message":"Paid","channel":"M-PESA","clientId":"canary-cp-client","customer":{"customerName":"Jane","customerPhoneNumber":"255712345678","customerEmail":"jane@example.com"}}]"#;

const TRACKING_ID: &str = "96a5e1d9-f711-4423-82ce-dd758f972713";

pub(super) fn pesapal_payment() -> Value {
    json!({
        "provider": "pesapal",
        "reference": "ORD-1",
        "amount": "1500.00",
        "currency": "KES",
        "description": "Order 1",
        "callback_url": "https://shop.example/return",
        "notification_id": "1da86d1c-1e8c-4183-bdfd-dd759463e4ce",
        "customer": {"email": "jane@example.com", "first_name": "Jane", "country_code": "KE"}
    })
}

pub(super) fn clickpesa_payment() -> Value {
    json!({
        "provider": "clickpesa",
        "reference": "ORDER1",
        "amount": 1000,
        "currency": "TZS",
        "customer": {"phone": "255712345678"},
        "method": "mobile_money"
    })
}

fn sent_json(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

// --------------------------------------------------------- merchant routes

#[test]
fn pesapal_payment_is_created() {
    let body = pesapal_payment().to_string();
    let (response, transport) = run(
        merchant("POST", "/payments", &body),
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))],
    );
    assert_eq!(response.status, 201);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(
        body_json(&response),
        json!({
            "provider": "pesapal",
            "reference": "ORD-1",
            "tracking_id": TRACKING_ID,
            "redirect_url": "https://pay.example/iframe?OrderTrackingId=96a5e1d9",
            "status": "pending"
        })
    );
    assert_eq!(
        header(&response, "location"),
        Some("/payments/pesapal/96a5e1d9-f711-4423-82ce-dd758f972713")
    );
    assert_eq!(
        transport.paths(),
        [
            "POST /pesapalv3/api/Auth/RequestToken",
            "POST /pesapalv3/api/Transactions/SubmitOrderRequest"
        ]
    );
    let order = sent_json(&transport.seen[1]);
    assert_eq!(order["id"], "ORD-1");
    assert_eq!(
        order["billing_address"]["email_address"],
        "jane@example.com"
    );
}

/// The exact bytes of each success body: members in their documented
/// order, an absent value written as `null` (never left out).
#[test]
fn success_bodies_keep_their_member_order_and_nulls() {
    let text = |response: &Response| String::from_utf8_lossy(&response.body).into_owned();
    let pesapal_order = || vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))];
    let cases: Vec<(Request, Vec<Reply>, String)> = vec![
        (
            merchant("POST", "/payments", &pesapal_payment().to_string()),
            pesapal_order(),
            format!(
                r#"{{"provider":"pesapal","reference":"ORD-1","tracking_id":"{TRACKING_ID}","redirect_url":"https://pay.example/iframe?OrderTrackingId=96a5e1d9","status":"pending"}}"#
            ),
        ),
        (
            merchant("POST", "/payments", &clickpesa_payment().to_string()),
            vec![Ok((200, CP_TOKEN)), Ok((200, CP_PUSH))],
            r#"{"provider":"clickpesa","reference":"ORDER1","tracking_id":"ORDER1LCP1","redirect_url":null,"status":"pending"}"#.to_owned(),
        ),
        (
            merchant(
                "POST",
                "/ipn-registrations",
                r#"{"provider":"pesapal","url":"https://shop.example/notifications/pesapal","notification_type":"GET"}"#,
            ),
            vec![Ok((200, PP_TOKEN)), Ok((200, PP_IPN))],
            r#"{"provider":"pesapal","ipn_id":"1da86d1c-1e8c-4183-bdfd-dd759463e4ce","url":"https://shop.example/notifications/pesapal","notification_type":"GET","created_date":"2024-03-18T18:20:11.77"}"#.to_owned(),
        ),
        (
            merchant("GET", &format!("/payments/pesapal/{TRACKING_ID}"), ""),
            vec![Ok((200, PP_TOKEN)), Ok((200, PP_PENDING))],
            format!(
                r#"{{"provider":"pesapal","reference":null,"tracking_id":"{TRACKING_ID}","status":"pending","amount":"10.00","currency":"KES","method":null,"confirmation_code":null,"description":"INVALID"}}"#
            ),
        ),
        (
            merchant("GET", "/payments/clickpesa/ORDER1", ""),
            vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
            r#"{"provider":"clickpesa","reference":"ORDER1","tracking_id":"ORDER1LCP1","status":"completed","amount":"1000.00","currency":"TZS","method":"M-PESA","confirmation_code":"PR123","description":"Paid"}"#.to_owned(),
        ),
        (
            public(
                "POST",
                "/notifications/clickpesa",
                Some("application/json"),
                br#"{"event":"PAYMENT FAILED","data":{"id":"X1","orderReference":"ORDER1","status":"FAILED"}}"#,
            ),
            // Unsigned (no checksum key): confirmed by a query by reference.
            vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
            r#"{"event":"PAYMENT FAILED","order_reference":"ORDER1","tracking_id":"X1","status":"failed","amount":null,"currency":null,"channel":null,"message":null,"verified":false,"accepted":true}"#.to_owned(),
        ),
        (
            public(
                "POST",
                "/notifications/clickpesa",
                None,
                "{\"event\":\"PAYMENT RECEIVED\",\"data\":{\"id\":\"X1\",\"status\":\"SUCCESS\",\"orderReference\":\"ORDER1\",\"collectedAmount\":\"10\",\"collectedCurrency\":\"TZS\",\"channel\":\"M-PESA\",\"message\":\"\\\"\\u00e9\\t\\u0001/\"}}".as_bytes(),
            ),
            vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
            "{\"event\":\"PAYMENT RECEIVED\",\"order_reference\":\"ORDER1\",\"tracking_id\":\"X1\",\"status\":\"completed\",\"amount\":\"10.00\",\"currency\":\"TZS\",\"channel\":\"M-PESA\",\"message\":\"\\\"\u{e9}\\t\\u0001/\",\"verified\":false,\"accepted\":true}".to_owned(),
        ),
    ];
    for (request, script, expected) in cases {
        let label = format!("{} {}", request.method, request.path_with_query);
        let (response, _) = run(request, &vars(), script);
        assert_eq!(text(&response), expected, "{label}");
    }
}

#[test]
fn clickpesa_payment_is_created_without_a_redirect() {
    let body = clickpesa_payment().to_string();
    let (response, transport) = run(
        merchant("POST", "/payments", &body),
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_PUSH))],
    );
    assert_eq!(response.status, 201);
    assert_eq!(
        body_json(&response),
        json!({
            "provider": "clickpesa",
            "reference": "ORDER1",
            "tracking_id": "ORDER1LCP1",
            "redirect_url": null,
            "status": "pending"
        })
    );
    assert_eq!(
        header(&response, "location"),
        Some("/payments/clickpesa/ORDER1")
    );
    let push = sent_json(&transport.seen[1]);
    assert_eq!(push["amount"], "1000");
    assert_eq!(push["phoneNumber"], "255712345678");
}

#[test]
fn numeric_amounts_reach_the_provider_as_written() {
    let body = pesapal_payment()
        .to_string()
        .replace(r#""amount":"1500.00""#, r#""amount":1500.10"#);
    assert!(body.contains("1500.10"), "fixture must carry the literal");
    let (response, transport) = run(
        merchant("POST", "/payments", &body),
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))],
    );
    assert_eq!(response.status, 201);
    let sent = String::from_utf8_lossy(&transport.seen[1].body).into_owned();
    assert!(sent.contains(r#""amount":1500.10"#), "{sent}");
}

#[test]
fn extra_members_and_a_charset_are_accepted() {
    let mut payment = pesapal_payment();
    payment["unknown_member"] = json!({"nested": [1, 2]});
    let mut request = merchant("POST", "/payments", &payment.to_string());
    set_header(
        &mut request,
        "Content-Type",
        "Application/JSON; charset=utf-8",
    );
    let (response, _) = run(
        request,
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))],
    );
    assert_eq!(response.status, 201);
}

#[test]
fn ipn_url_is_registered() {
    let body = json!({"provider":"pesapal","url":"https://shop.example/notifications/pesapal","notification_type":"GET"});
    let (response, transport) = run(
        merchant("POST", "/ipn-registrations", &body.to_string()),
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_IPN))],
    );
    assert_eq!(response.status, 201);
    assert_eq!(
        body_json(&response),
        json!({
            "provider": "pesapal",
            "ipn_id": "1da86d1c-1e8c-4183-bdfd-dd759463e4ce",
            "url": "https://shop.example/notifications/pesapal",
            "notification_type": "GET",
            "created_date": "2024-03-18T18:20:11.77"
        })
    );
    assert_eq!(
        transport.paths()[1],
        "POST /pesapalv3/api/URLSetup/RegisterIPN"
    );
    assert_eq!(
        sent_json(&transport.seen[1])["ipn_notification_type"],
        "GET"
    );
}

#[test]
fn clickpesa_ipn_registration_is_unsupported_without_a_call() {
    let body =
        json!({"provider":"clickpesa","url":"https://shop.example/n","notification_type":"POST"});
    let (response, transport) = run(
        merchant("POST", "/ipn-registrations", &body.to_string()),
        &vars(),
        vec![Ok((200, CP_TOKEN))],
    );
    assert_problem(&response, 422, "unsupported", None);
    assert_eq!(body_json(&response)["provider"], "clickpesa");
    assert!(transport.seen.is_empty());
}

#[test]
fn clickpesa_card_payments_in_tzs_are_refused_without_a_call() {
    let mut payment = clickpesa_payment();
    payment["method"] = json!("card");
    let (response, transport) = run(
        merchant("POST", "/payments", &payment.to_string()),
        &vars(),
        vec![Ok((200, CP_TOKEN))],
    );
    assert_problem(&response, 422, "invalid_request", Some("currency"));
    assert!(transport.seen.is_empty());
}

#[test]
fn a_clickpesa_checkout_link_is_the_redirect_url() {
    let mut payment = clickpesa_payment();
    payment["method"] = json!("checkout_link");
    let (response, transport) = run(
        merchant("POST", "/payments", &payment.to_string()),
        &vars(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((
                200,
                r#"{"checkoutLink":"https://checkout.clickpesa.com/ORDER1","clientId":"c"}"#,
            )),
        ],
    );
    assert_eq!(response.status, 201, "{}", body_json(&response));
    let body = body_json(&response);
    assert_eq!(
        (&body["redirect_url"], &body["tracking_id"], &body["status"]),
        (
            &json!("https://checkout.clickpesa.com/ORDER1"),
            &json!("ORDER1"),
            &json!("pending")
        )
    );
    assert_eq!(
        transport.paths(),
        [
            "POST /third-parties/generate-token",
            "POST /third-parties/checkout-link/generate-checkout-url"
        ]
    );
}

#[test]
fn pesapal_status_is_reported() {
    let (response, transport) = run(
        merchant("GET", &format!("/payments/pesapal/{TRACKING_ID}"), ""),
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_COMPLETED))],
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        body_json(&response),
        json!({
            "provider": "pesapal",
            "reference": "ORD-1",
            "tracking_id": TRACKING_ID,
            "status": "completed",
            "amount": "1500.00",
            "currency": "KES",
            "method": "MpesaKE",
            "confirmation_code": "QK12ABC",
            "description": "Completed"
        })
    );
    let query = transport.seen[1].query().unwrap_or_default().to_owned();
    assert_eq!(query, format!("orderTrackingId={TRACKING_ID}"));
}

#[test]
fn clickpesa_status_is_reported_without_its_client_id() {
    let (response, transport) = run(
        merchant("GET", "/payments/clickpesa/ORDER1", ""),
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        body_json(&response),
        json!({
            "provider": "clickpesa",
            "reference": "ORDER1",
            "tracking_id": "ORDER1LCP1",
            "status": "completed",
            "amount": "1000.00",
            "currency": "TZS",
            "method": "M-PESA",
            "confirmation_code": "PR123",
            "description": "Paid"
        })
    );
    assert_eq!(transport.paths()[1], "GET /third-parties/payments/ORDER1");
}

#[test]
fn pending_pesapal_payments_are_nulls_not_errors() {
    let (response, _) = run(
        merchant("GET", &format!("/payments/pesapal/{TRACKING_ID}"), ""),
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_PENDING))],
    );
    let body = body_json(&response);
    assert_eq!(response.status, 200);
    assert_eq!(body["status"], "pending");
    assert_eq!(body["reference"], Value::Null);
    assert_eq!(body["confirmation_code"], Value::Null);
}

#[test]
fn an_unknown_provider_in_a_body_is_named_before_any_other_field() {
    for (path, body) in [
        (
            "/payments",
            r#"{"provider":"mpesa-x","reference":"R1","amount":"10"}"#,
        ),
        ("/payments", r#"{"provider":"mpesa-x"}"#),
        (
            "/payments",
            r#"{"amount":true,"reference":"R1","reference":"R2","customer":7,"provider":"mpesa-x"}"#,
        ),
        ("/payments", r#"{"provider":7,"reference":"R1"}"#),
        ("/ipn-registrations", r#"{"provider":"mpesa-x","url":1}"#),
    ] {
        let (response, transport) = run(merchant("POST", path, body), &vars(), vec![]);
        assert_problem(&response, 422, "invalid_request", Some("provider"));
        assert!(transport.seen.is_empty(), "{body}");
    }
}

#[test]
fn unknown_provider_in_the_path_is_404_without_a_call() {
    for path in ["/payments/paypal/ORDER1", "/payments/PesaPal/ORDER1"] {
        let (response, transport) = run(merchant("GET", path, ""), &vars(), vec![]);
        assert_problem(&response, 404, "not_found", None);
        assert!(transport.seen.is_empty());
    }
}

#[test]
fn percent_escapes_in_the_path_are_decoded_then_validated() {
    let (response, transport) = run(
        merchant("GET", "/payments/clickpesa/ORDER%31", ""),
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
    );
    assert_eq!(response.status, 200);
    assert_eq!(transport.paths()[1], "GET /third-parties/payments/ORDER1");
    // A `%` must be followed by two hex digits: `%+31` is not `1`.
    for path in [
        "/payments/clickpesa/ORDER%2F1",
        "/payments/clickpesa/%E0%A4",
        "/payments/clickpesa/ORDER%+31",
        "/payments/clickpesa/ORDER%3",
        "/payments/clickpesa/ORDER%G1",
    ] {
        let (response, transport) = run(merchant("GET", path, ""), &vars(), vec![]);
        assert_eq!(response.status / 100, 4, "{path}");
        assert!(transport.seen.is_empty(), "{path}");
    }
}

// -------------------------------------------------------------------- auth

fn merchant_requests() -> Vec<Request> {
    vec![
        merchant("POST", "/payments", &pesapal_payment().to_string()),
        merchant(
            "POST",
            "/ipn-registrations",
            r#"{"provider":"pesapal","url":"https://shop.example/n","notification_type":"GET"}"#,
        ),
        merchant("GET", &format!("/payments/pesapal/{TRACKING_ID}"), ""),
        merchant("GET", "/payments/clickpesa/ORDER1", ""),
    ]
}

fn happy_script() -> Vec<Reply> {
    vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))]
}

#[test]
fn missing_or_wrong_keys_are_401_without_a_call() {
    let presented: [Option<&str>; 7] = [
        None,
        Some("Bearer wrong-key"),
        Some("Bearer canary-api-ke"),
        Some("Bearer canary-api-keyX"),
        Some("Basic Y2FuYXJ5LWFwaS1rZXk6"),
        Some("Bearer "),
        Some("canary-api-key"),
    ];
    for request in merchant_requests() {
        for auth in presented {
            let mut request = request.clone();
            remove_header(&mut request, "authorization");
            if let Some(auth) = auth {
                set_header(&mut request, "authorization", auth);
            }
            let (response, transport) = run(request, &vars(), happy_script());
            assert_problem(&response, 401, "unauthorized", None);
            assert_eq!(header(&response, "www-authenticate"), Some("Bearer"));
            assert!(transport.seen.is_empty(), "{auth:?}");
        }
    }
}

#[test]
fn two_authorization_headers_are_refused() {
    let mut request = merchant("GET", "/payments/clickpesa/ORDER1", "");
    request = request.with_header("Authorization", "Bearer other");
    let (response, transport) = run(request, &vars(), vec![]);
    assert_problem(&response, 401, "unauthorized", None);
    assert!(transport.seen.is_empty());
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let mut request = merchant("GET", "/payments/clickpesa/ORDER1", "");
    set_header(&mut request, "authorization", "bearer canary-api-key");
    let (response, _) = run(
        request,
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
    );
    assert_eq!(response.status, 200);
}

struct FailingHost;

impl Variables for FailingHost {
    fn get(&self, _: &str) -> Result<Option<String>, String> {
        Err("store unavailable".to_owned())
    }
}

#[test]
fn an_unset_api_key_closes_the_merchant_routes() {
    let mut unset = vars();
    unset.remove("finconnect_api_key");
    let mut blank = vars();
    blank.insert("finconnect_api_key".to_owned(), " \n".to_owned());
    for map in [unset, blank] {
        for request in merchant_requests() {
            let (response, transport) = run(request, &map, happy_script());
            assert_problem(&response, 503, "not_configured", None);
            let detail = body_json(&response)["detail"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(detail.contains("`finconnect_api_key`"), "{detail}");
            assert!(transport.seen.is_empty());
        }
    }
    for request in merchant_requests() {
        let mut transport = Scripted::new(happy_script());
        let response = handle(request, &FailingHost, &mut transport);
        assert_problem(&response, 503, "not_configured", None);
        assert!(transport.seen.is_empty());
    }
}

#[test]
fn the_key_is_read_on_every_request() {
    let mut map = vars();
    let request = merchant("GET", "/payments/clickpesa/ORDER1", "");
    let (first, _) = run(
        request.clone(),
        &map,
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
    );
    assert_eq!(first.status, 200);
    map.insert("finconnect_api_key".to_owned(), "rotated-key".to_owned());
    let (second, transport) = run(request, &map, vec![]);
    assert_problem(&second, 401, "unauthorized", None);
    assert!(transport.seen.is_empty());
}

#[test]
fn auth_comes_before_the_body_and_the_content_type() {
    let mut request = merchant("POST", "/payments", "{not json");
    remove_header(&mut request, "authorization");
    set_header(&mut request, "content-type", "text/plain");
    let (response, transport) = run(request, &vars(), vec![]);
    assert_problem(&response, 401, "unauthorized", None);
    assert!(transport.seen.is_empty());
}

#[test]
fn notification_routes_need_no_key_even_when_it_is_unset() {
    let mut map = vars();
    map.remove("finconnect_api_key");
    let query = format!(
        "/notifications/pesapal?OrderTrackingId={TRACKING_ID}&OrderMerchantReference=ORD-1&OrderNotificationType=IPNCHANGE"
    );
    let (response, _) = run(
        public("GET", &query, None, b""),
        &map,
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_COMPLETED))],
    );
    assert_eq!(response.status, 200);
    let event = json!({"event":"PAYMENT FAILED","data":{"id":"X1","orderReference":"ORDER1","status":"FAILED"}});
    let (response, _) = run(
        public(
            "POST",
            "/notifications/clickpesa",
            Some("application/json"),
            event.to_string().as_bytes(),
        ),
        &map,
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
    );
    assert_eq!(response.status, 200);
}

#[test]
fn request_headers_are_never_echoed() {
    let mut request = merchant("POST", "/payments", "{\"provider\":");
    set_header(&mut request, "authorization", "Bearer canary-token");
    set_header(&mut request, "x-forwarded-for", "canary-pp-secret");
    // `run` fails the test if a canary shows up anywhere in the response.
    let (response, _) = run(request, &vars(), vec![]);
    assert_problem(&response, 401, "unauthorized", None);
}

// ----------------------------------------------------------------- routing

#[test]
fn unknown_routes_are_404() {
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/nope"),
        ("POST", "/payments/"),
        ("GET", "/payments/pesapal"),
        ("GET", "/payments/pesapal/"),
        ("GET", "/payments/pesapal/x/y"),
        ("POST", "/notifications"),
        ("POST", "/notifications/airtel"),
        ("POST", "/Payments"),
    ] {
        let (response, transport) = run(merchant(method, path, "{}"), &vars(), vec![]);
        assert_problem(&response, 404, "not_found", None);
        assert!(transport.seen.is_empty(), "{method} {path}");
    }
}

#[test]
fn wrong_methods_are_405_with_allow() {
    for (method, path, allow) in [
        ("PUT", "/payments", "POST, GET"),
        ("DELETE", "/payments", "POST, GET"),
        ("POST", "/payments/pesapal/ORD1", "GET"),
        ("HEAD", "/payments/pesapal/ORD1", "GET"),
        ("PUT", "/ipn-registrations", "POST, GET"),
        ("GET", "/payments/pesapal/ORD1/refunds", "POST"),
        ("DELETE", "/payments/pesapal/ORD1/cancellation", "POST"),
        ("GET", "/events/evt_1/deliveries", "POST"),
        ("POST", "/events", "GET"),
        ("PUT", "/notifications/pesapal", "GET, POST"),
        ("GET", "/notifications/clickpesa", "POST"),
    ] {
        let request = Request::new(method, path);
        let (response, transport) = run(request, &vars(), vec![]);
        assert_problem(&response, 405, "method_not_allowed", None);
        assert_eq!(header(&response, "allow"), Some(allow), "{method} {path}");
        assert!(transport.seen.is_empty());
    }
}

#[test]
fn every_listed_route_is_served() {
    for route in routes() {
        let path = route
            .path
            .replace("{provider}", "clickpesa")
            .replace("{id}", "ORDER1");
        let request = merchant(route.method, &path, "{}");
        let (response, _) = run(request, &vars(), vec![]);
        let status = response.status;
        assert!(
            status != 404 && status != 405,
            "{} {path}: {status}",
            route.method
        );
    }
}

#[test]
fn query_strings_do_not_change_the_route() {
    let (response, _) = run(
        merchant("GET", "/payments/clickpesa/ORDER1?x=1", ""),
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
    );
    assert_eq!(response.status, 200);
}

// ------------------------------------------------------------ size, types

#[test]
fn bodies_over_the_limit_are_413() {
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
    assert!(big.len() > MAX_BODY_BYTES);
    let (response, transport) = run(merchant("POST", "/payments", &big), &vars(), vec![]);
    assert_problem(&response, 413, "payload_too_large", None);
    assert!(transport.seen.is_empty());

    let mut declared = merchant("POST", "/payments", "{}");
    set_header(&mut declared, "content-length", "65537");
    let (response, _) = run(declared, &vars(), vec![]);
    assert_problem(&response, 413, "payload_too_large", None);

    let webhook = public(
        "POST",
        "/notifications/clickpesa",
        Some("application/json"),
        big.as_bytes(),
    );
    let (response, _) = run(webhook, &vars(), vec![]);
    assert_problem(&response, 413, "payload_too_large", None);
}

#[test]
fn a_body_of_exactly_the_limit_is_read() {
    let mut payment = pesapal_payment();
    payment["pad"] = json!("");
    let base = payment.to_string().len();
    payment["pad"] = json!("x".repeat(MAX_BODY_BYTES - base));
    let body = payment.to_string();
    assert_eq!(body.len(), MAX_BODY_BYTES);
    let (response, _) = run(
        merchant("POST", "/payments", &body),
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))],
    );
    assert_eq!(response.status, 201);
}

// ------------------------------------------------------------ PesaPal IPN

fn ipn_query() -> String {
    format!(
        "OrderTrackingId={TRACKING_ID}&OrderMerchantReference=ORD-1&OrderNotificationType=IPNCHANGE"
    )
}

fn ack(status: u16) -> String {
    format!(
        r#"{{"orderNotificationType":"IPNCHANGE","orderTrackingId":"{TRACKING_ID}","orderMerchantReference":"ORD-1","status":{status}}}"#
    )
}

fn ipn_requests() -> Vec<Request> {
    let json_body = format!(
        r#"{{"OrderTrackingId":"{TRACKING_ID}","OrderMerchantReference":"ORD-1","OrderNotificationType":"IPNCHANGE"}}"#
    );
    vec![
        public(
            "GET",
            &format!("/notifications/pesapal?{}", ipn_query()),
            None,
            b"",
        ),
        public(
            "POST",
            "/notifications/pesapal",
            Some("application/json"),
            json_body.as_bytes(),
        ),
        public(
            "POST",
            "/notifications/pesapal",
            Some("application/x-www-form-urlencoded"),
            ipn_query().as_bytes(),
        ),
        public(
            "POST",
            &format!("/notifications/pesapal?{}", ipn_query()),
            None,
            b"",
        ),
    ]
}

#[test]
fn a_verified_ipn_is_acknowledged_with_exact_bytes_and_status_headers() {
    for request in ipn_requests() {
        let label = format!("{} {}", request.method, request.path_with_query);
        let (response, transport) = run(
            request,
            &vars(),
            vec![Ok((200, PP_TOKEN)), Ok((200, PP_COMPLETED))],
        );
        assert_eq!(response.status, 200, "{label}");
        assert_eq!(header(&response, "content-type"), Some("application/json"));
        assert_eq!(String::from_utf8_lossy(&response.body), ack(200), "{label}");
        assert_eq!(
            header(&response, "finconnect-payment-status"),
            Some("completed")
        );
        assert_eq!(
            header(&response, "finconnect-payment-reference"),
            Some("ORD-1")
        );
        assert_eq!(
            header(&response, "finconnect-tracking-id"),
            Some(TRACKING_ID)
        );
        assert_eq!(
            transport.paths(),
            [
                "POST /pesapalv3/api/Auth/RequestToken",
                "GET /pesapalv3/api/Transactions/GetTransactionStatus"
            ],
            "{label}"
        );
    }
}

#[test]
fn a_pending_payment_still_verifies_the_ipn() {
    let request = public(
        "GET",
        &format!("/notifications/pesapal?{}", ipn_query()),
        None,
        b"",
    );
    let (response, _) = run(
        request,
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_PENDING))],
    );
    assert_eq!(String::from_utf8_lossy(&response.body), ack(200));
    assert_eq!(
        header(&response, "finconnect-payment-status"),
        Some("pending")
    );
    assert_eq!(header(&response, "finconnect-payment-reference"), None);
}

#[test]
fn an_ipn_that_cannot_be_verified_is_acknowledged_with_500() {
    let mut missing_secret = vars();
    missing_secret.remove("pesapal_consumer_secret");
    let failures: Vec<(BTreeMap<String, String>, Vec<Reply>)> = vec![
        (
            vars(),
            vec![Err(TransportError::Failed("connection refused".to_owned()))],
        ),
        (
            vars(),
            vec![
                Ok((200, PP_TOKEN)),
                Err(TransportError::Timeout("first byte".to_owned())),
            ],
        ),
        (vars(), vec![Ok((200, PP_BAD_CREDS))]),
        (
            vars(),
            vec![Ok((200, PP_TOKEN)), Ok((500, "<html>oops</html>"))],
        ),
        (missing_secret, vec![]),
    ];
    for (map, script) in failures {
        for request in ipn_requests() {
            let (response, _) = run(request, &map, script.clone());
            assert_eq!(response.status, 200);
            assert_eq!(String::from_utf8_lossy(&response.body), ack(500));
            assert_eq!(header(&response, "finconnect-payment-status"), None);
            assert_eq!(header(&response, "finconnect-tracking-id"), None);
        }
    }
}

#[test]
fn status_reported_by_the_ipn_body_is_ignored() {
    let body = format!(
        r#"{{"OrderTrackingId":"{TRACKING_ID}","OrderMerchantReference":"ORD-1","OrderNotificationType":"IPNCHANGE","status":"COMPLETED","status_code":1}}"#
    );
    let request = public(
        "POST",
        "/notifications/pesapal",
        Some("application/json"),
        body.as_bytes(),
    );
    let (response, _) = run(
        request,
        &vars(),
        vec![Ok((200, PP_TOKEN)), Ok((200, PP_PENDING))],
    );
    assert_eq!(
        header(&response, "finconnect-payment-status"),
        Some("pending")
    );
}

// -------------------------------------------------------- ClickPesa webhook

fn received() -> Value {
    json!({"event":"PAYMENT RECEIVED","data":{
        "id":"ORD123456LCP7890","status":"SUCCESS","paymentReference":"abc123def456ghi789",
        "orderReference":"ORD123456","collectedAmount":"10000","collectedCurrency":"TZS",
        "message":"success","channel":"TIGO-PESA","clientId":"canary-cp-client",
        "customer":{"customerName":"John Doe","customerEmail":"john@example.com","customerPhoneNumber":"255700000000"}}})
}

fn with_checksum_key() -> BTreeMap<String, String> {
    let mut map = vars();
    map.insert("clickpesa_checksum_key".to_owned(), CHECKSUM_KEY.to_owned());
    map
}

fn webhook(body: &Value) -> Request {
    public(
        "POST",
        "/notifications/clickpesa",
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

#[test]
fn a_signed_webhook_is_verified_and_answered_field_by_field() {
    let mut body = received();
    sign(CHECKSUM_KEY.as_bytes(), &mut body);
    let (response, transport) = run(webhook(&body), &with_checksum_key(), vec![]);
    assert_eq!(response.status, 200);
    assert_eq!(
        body_json(&response),
        json!({
            "event": "PAYMENT RECEIVED",
            "order_reference": "ORD123456",
            "tracking_id": "ORD123456LCP7890",
            "status": "completed",
            "amount": "10000.00",
            "currency": "TZS",
            "channel": "TIGO-PESA",
            "message": "success",
            "verified": true,
            "accepted": true
        })
    );
    assert!(transport.seen.is_empty());
}

#[test]
fn forged_tampered_or_unsigned_webhooks_are_401_when_a_key_is_set() {
    let mut forged = received();
    sign(b"attacker-key", &mut forged);
    let mut tampered = received();
    sign(CHECKSUM_KEY.as_bytes(), &mut tampered);
    tampered["data"]["collectedAmount"] = json!("99999999");
    let mut wrong_type = received();
    wrong_type["checksum"] = json!(12345);
    for body in [forged, tampered, received(), wrong_type] {
        let (response, _) = run(webhook(&body), &with_checksum_key(), vec![]);
        assert_problem(&response, 401, "unauthorized", Some("checksum"));
    }
}

/// ClickPesa's status answer for `received()`'s order.
const RECEIVED_STATUS: &str = r#"[{"id":"ORD123456LCP1","status":"SETTLED","paymentReference":"PR123","paymentPhoneNumber":"255712345678","orderReference":"ORD123456","collectedAmount":1000,"collectedCurrency":"TZS","message":"Paid","channel":"M-PESA","clientId":"canary-cp-client","customer":{"customerName":"Jane","customerPhoneNumber":"255712345678","customerEmail":"jane@example.com"}}]"#;

#[test]
fn without_a_key_webhooks_are_confirmed_by_a_query() {
    let (response, transport) = run(
        webhook(&received()),
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, RECEIVED_STATUS))],
    );
    assert_eq!(response.status, 200);
    assert_eq!(body_json(&response)["verified"], json!(false));
    assert_eq!(body_json(&response)["accepted"], json!(true));
    assert_eq!(
        transport.paths(),
        [
            "POST /third-parties/generate-token",
            "GET /third-parties/payments/ORD123456"
        ]
    );
    let unlabelled = public(
        "POST",
        "/notifications/clickpesa",
        None,
        received().to_string().as_bytes(),
    );
    let (response, _) = run(
        unlabelled,
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, RECEIVED_STATUS))],
    );
    assert_eq!(response.status, 200);
    // ClickPesa knows no such payment: not accepted (404), nothing believed.
    let (response, _) = run(
        webhook(&received()),
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, "[]"))],
    );
    assert_eq!(response.status, 404);
    assert_eq!(body_json(&response)["accepted"], json!(false));
}

/// Body, content type, then the expected status, code and field.
type WebhookCase = (
    &'static [u8],
    Option<&'static str>,
    u16,
    &'static str,
    Option<&'static str>,
);

#[test]
fn unreadable_webhooks_are_refused() {
    let cases: [WebhookCase; 7] = [
        (
            b"{not json",
            Some("application/json"),
            400,
            "invalid_request",
            Some("body"),
        ),
        (
            b"",
            Some("application/json"),
            400,
            "invalid_request",
            Some("body"),
        ),
        (
            b"{\"event\":\"\xff\"}",
            Some("application/json"),
            400,
            "invalid_request",
            Some("body"),
        ),
        (
            b"[1,2]",
            Some("application/json"),
            422,
            "invalid_request",
            Some("body"),
        ),
        (
            br#"{"data":{}}"#,
            Some("application/json"),
            422,
            "invalid_request",
            Some("event"),
        ),
        (
            br#"{"event":"PAYMENT RECEIVED"}"#,
            None,
            422,
            "invalid_request",
            Some("data"),
        ),
        (
            br#"{"event":"x","data":{}}"#,
            Some("text/plain"),
            415,
            "unsupported_media_type",
            None,
        ),
    ];
    for (body, content_type, status, code, field) in cases {
        let request = public("POST", "/notifications/clickpesa", content_type, body);
        let (response, _) = run(request, &vars(), vec![]);
        assert_problem(&response, status, code, field);
    }
}

#[test]
fn an_unreadable_checksum_key_fails_closed() {
    let mut transport = Scripted::new(vec![]);
    let response = handle(webhook(&received()), &FailingHost, &mut transport);
    assert_problem(&response, 500, "not_configured", None);
}

// ---------------------------------------------------------- provider faults

#[test]
fn provider_faults_map_to_problems() {
    let pay = || merchant("POST", "/payments", &pesapal_payment().to_string());
    let cases: Vec<(Vec<Reply>, u16, &str, Value)> = vec![
        (
            vec![
                Ok((200, PP_TOKEN)),
                Ok((500, "<html><body>Server Error</body></html>")),
            ],
            502,
            "provider_unreadable_reply",
            // The status, but neither a provider code nor the page's words.
            json!({"provider":"pesapal","provider_code":null,"provider_message":null,"provider_status":500}),
        ),
        (
            vec![Ok((200, PP_TOKEN)), Ok((200, PP_DUPLICATE))],
            502,
            "provider_error",
            json!({"provider":"pesapal","provider_code":"duplicate_order_reference","provider_status":200,
                   "provider_message":"An order with this reference already exists"}),
        ),
        (
            vec![
                Ok((200, PP_TOKEN)),
                Err(TransportError::Timeout(
                    "no first byte after 20000 ms".to_owned(),
                )),
            ],
            504,
            "provider_timeout",
            json!({"provider":"pesapal"}),
        ),
        (
            vec![Err(TransportError::Failed("connection refused".to_owned()))],
            502,
            "provider_unavailable",
            json!({"provider":"pesapal"}),
        ),
        (
            vec![Ok((200, PP_BAD_CREDS))],
            502,
            "provider_auth_failed",
            json!({"provider":"pesapal"}),
        ),
    ];
    for (script, status, code, members) in cases {
        let (response, transport) = run(pay(), &vars(), script);
        assert_problem(&response, status, code, None);
        let body = body_json(&response);
        for (name, value) in members.as_object().into_iter().flatten() {
            assert_eq!(&body[name], value, "{code}: {body}");
        }
        let orders = transport
            .paths()
            .iter()
            .filter(|p| p.ends_with("SubmitOrderRequest"))
            .count();
        assert!(orders <= 1, "a payment is never sent twice");
    }
}

#[test]
fn clickpesa_faults_map_to_problems() {
    let pay = || merchant("POST", "/payments", &clickpesa_payment().to_string());
    let (response, _) = run(
        pay(),
        &vars(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((409, r#"{"message":"Order reference ORDER1 already used"}"#)),
        ],
    );
    assert_problem(&response, 502, "provider_error", None);
    assert_eq!(body_json(&response)["provider_status"], json!(409));
    assert_eq!(
        body_json(&response)["provider_message"],
        "Order reference ORDER1 already used"
    );
    let (response, _) = run(
        pay(),
        &vars(),
        vec![Ok((403, r#"{"message":"Invalid client details"}"#))],
    );
    assert_problem(&response, 502, "provider_auth_failed", None);
    let (response, _) = run(
        merchant("GET", "/payments/clickpesa/ORDER1", ""),
        &vars(),
        vec![
            Ok((200, CP_TOKEN)),
            Ok((404, r#"{"message":"Invalid or missing payment: ORDER1"}"#)),
        ],
    );
    assert_problem(&response, 502, "provider_error", None);
}

#[test]
fn missing_provider_variables_are_500_naming_the_variable_only() {
    let mut map = vars();
    map.remove("pesapal_consumer_key");
    let (response, transport) = run(
        merchant("POST", "/payments", &pesapal_payment().to_string()),
        &map,
        happy_script(),
    );
    assert_problem(&response, 500, "not_configured", None);
    let detail = body_json(&response)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("`pesapal_consumer_key`"), "{detail}");
    assert!(
        detail.contains("SPIN_VARIABLE_PESAPAL_CONSUMER_KEY"),
        "{detail}"
    );
    assert!(transport.seen.is_empty());

    let mut bad_url = vars();
    bad_url.insert(
        "clickpesa_base_url".to_owned(),
        "ftp://canary-token@host".to_owned(),
    );
    let (response, transport) = run(
        merchant("POST", "/payments", &clickpesa_payment().to_string()),
        &bad_url,
        vec![],
    );
    assert_problem(&response, 500, "not_configured", None);
    assert!(transport.seen.is_empty());
}

#[test]
fn every_response_is_uncacheable() {
    let (ok, _) = run(
        merchant("GET", "/payments/clickpesa/ORDER1", ""),
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, CP_STATUS))],
    );
    let (problem, _) = run(merchant("GET", "/nope", ""), &vars(), vec![]);
    for response in [ok, problem] {
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    }
}

// ------------------------------------------------------- the request type

#[test]
fn request_debug_hides_the_bearer_key_and_the_body() {
    let request = merchant("POST", "/payments", &pesapal_payment().to_string());
    let debug = format!("{request:?}");
    assert!(!debug.contains(API_KEY), "{debug}");
    assert!(!debug.contains("ORD-1"), "{debug}");
    assert!(debug.contains("/payments") && debug.contains("application/json"));
}

#[test]
fn the_target_splits_into_path_and_query_as_before() {
    let cases = [
        ("/payments", "/payments", None),
        ("/payments?", "/payments", Some("")),
        ("/payments?a=1&b=2", "/payments", Some("a=1&b=2")),
        ("/payments?a=1#frag", "/payments", Some("a=1")),
        ("/payments#frag?a=1", "/payments", None),
        ("/p?a=1?b", "/p", Some("a=1?b")),
    ];
    for (target, path, query) in cases {
        let request = Request::new("GET", target);
        assert_eq!((request.path(), request.query()), (path, query), "{target}");
    }
}

#[test]
fn header_names_match_in_any_case() {
    let request = Request::new("POST", "/payments")
        .with_header("AUTHORIZATION", format!("Bearer {API_KEY}"))
        .with_header("Content-Type", "application/json")
        .with_body(pesapal_payment().to_string());
    let (response, _) = run(request, &vars(), happy_script());
    assert_eq!(response.status, 201);
}

#[test]
fn header_values_outside_visible_ascii_count_as_unreadable() {
    // An `Authorization` that is not plain text is no bearer key at all.
    let mut request = merchant("GET", "/payments/clickpesa/ORDER1", "");
    set_header(
        &mut request,
        "authorization",
        &format!("Bearer {API_KEY}\u{e9}"),
    );
    let (response, transport) = run(request, &vars(), vec![]);
    assert_problem(&response, 401, "unauthorized", None);
    let detail = body_json(&response)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.starts_with("send `Authorization: Bearer"),
        "{detail}"
    );
    assert!(transport.seen.is_empty());

    // A merchant route needs a readable JSON content type...
    let mut request = merchant("POST", "/payments", &pesapal_payment().to_string());
    set_header(&mut request, "content-type", "application/json\u{fffd}");
    let (response, _) = run(request, &vars(), happy_script());
    assert_problem(&response, 415, "unsupported_media_type", None);

    // ...while the webhook treats an unreadable one like a missing one.
    let request = public(
        "POST",
        "/notifications/clickpesa",
        Some("application/json\u{e9}"),
        received().to_string().as_bytes(),
    );
    let (response, _) = run(
        request,
        &vars(),
        vec![Ok((200, CP_TOKEN)), Ok((200, RECEIVED_STATUS))],
    );
    assert_eq!(response.status, 200);
}

#[test]
fn provider_text_reaches_a_response_header_only_when_a_header_can_carry_it() {
    let completed = PP_COMPLETED.replace(
        r#""merchant_reference":"ORD-1""#,
        r#""merchant_reference":"ORD-1\r\nSet-Cookie: x=1""#,
    );
    let mut transport = Scripted::new(vec![Ok((200, PP_TOKEN)), Ok((200, completed.as_str()))]);
    let request = public(
        "GET",
        &format!("/notifications/pesapal?{}", ipn_query()),
        None,
        b"",
    );
    let response = handle(request, &vars(), &mut transport);
    assert_eq!(response.status, 200);
    assert_eq!(
        header(&response, "finconnect-payment-status"),
        Some("completed")
    );
    assert_eq!(header(&response, "finconnect-payment-reference"), None);
    assert_eq!(
        header(&response, "finconnect-tracking-id"),
        Some(TRACKING_ID)
    );
}
