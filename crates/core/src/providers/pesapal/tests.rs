use super::*;
use crate::domain::{Customer, RedirectMode};
/// A change to a valid request that makes one field invalid.
type Mutation = Box<dyn Fn(&mut PaymentRequest)>;

use serde_json::{Value, json};

const IPN_ID: &str = "1da86d1c-1e8c-4183-bdfd-dd759463e4ce";
const TRACKING: &str = "96a5e1d9-f711-4423-82ce-dd758f972713";

fn config() -> PesapalConfig {
    PesapalConfig {
        base_url: "https://cybqa.pesapal.com/pesapalv3".to_owned(),
        consumer_key: ConsumerKey(Secret::new("canary-key")),
        consumer_secret: ConsumerSecret(Secret::new("canary-secret")),
    }
}

fn token() -> AccessToken {
    AccessToken {
        value: Secret::new("tok-123"),
        expires: None,
    }
}

pub(crate) fn order_request() -> PaymentRequest {
    PaymentRequest {
        reference: "ORD-2024-000123".to_owned(),
        amount: "1500".to_owned(),
        currency: "KES".to_owned(),
        description: Some("Order 123".to_owned()),
        customer: Customer {
            email: Some("jane@example.com".to_owned()),
            phone: Some("0723000000".to_owned()),
            first_name: Some("Jane".to_owned()),
            last_name: Some("Doe".to_owned()),
            country_code: Some("KE".to_owned()),
        },
        callback_url: Some("https://shop.example/pesapal/return".to_owned()),
        cancellation_url: Some("https://shop.example/pesapal/cancel".to_owned()),
        notification_id: Some(IPN_ID.to_owned()),
        method: None,
        branch: Some("Nairobi CBD".to_owned()),
        redirect_mode: Some(RedirectMode::TopWindow),
        subscription: None,
    }
}

fn reply(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, body.as_bytes().to_vec())
        .with_header("content-type", "application/json; charset=utf-8")
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request.header(name)
}

fn body_json(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

#[test]
fn token_request_is_exact() {
    let request = token_request(&config()).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://cybqa.pesapal.com/pesapalv3/api/Auth/RequestToken"
    );
    assert_eq!(header(&request, "accept"), Some("application/json"));
    assert_eq!(header(&request, "content-type"), Some("application/json"));
    assert_eq!(header(&request, "authorization"), None);
    assert_eq!(
        body_json(&request),
        json!({"consumer_key":"canary-key","consumer_secret":"canary-secret"})
    );
}

#[test]
fn token_reply_is_read_and_bad_credentials_are_authentication_errors() {
    let ok = reply(
        200,
        r#"{"token":"eyJhbGciOiJIUzI1NiIs.x.y","expiryDate":"2024-03-18T16:25:45.7793772Z","error":null,"status":"200","message":"Request processed successfully"}"#,
    );
    let token = parse_token(&ok).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(token.value.expose(), "eyJhbGciOiJIUzI1NiIs.x.y");
    assert_eq!(
        token.expires.as_deref(),
        Some("2024-03-18T16:25:45.7793772Z")
    );

    let bad = r#"{"error":{"error_type":"api_error","code":"invalid_consumer_key_or_secret_provided","message":""},"status":"500"}"#;
    for status in [200, 401, 500] {
        match parse_token(&reply(status, bad)) {
            Err(Error::Authentication { provider, message }) => {
                assert_eq!(provider, Provider::Pesapal);
                assert_eq!(message, "invalid_consumer_key_or_secret_provided");
            }
            other => unreachable!("HTTP {status}: {other:?}"),
        }
    }
}

#[test]
fn submit_order_request_carries_every_documented_field() {
    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let request =
        submit_order_request(&config(), &token(), &order).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://cybqa.pesapal.com/pesapalv3/api/Transactions/SubmitOrderRequest"
    );
    assert_eq!(header(&request, "authorization"), Some("Bearer tok-123"));
    assert_eq!(header(&request, "content-type"), Some("application/json"));
    assert_eq!(
        body_json(&request),
        json!({
            "id": "ORD-2024-000123",
            "currency": "KES",
            "amount": 1500.00,
            "description": "Order 123",
            "callback_url": "https://shop.example/pesapal/return",
            "cancellation_url": "https://shop.example/pesapal/cancel",
            "notification_id": IPN_ID,
            "branch": "Nairobi CBD",
            "redirect_mode": "TOP_WINDOW",
            "billing_address": {
                "email_address": "jane@example.com",
                "phone_number": "0723000000",
                "country_code": "KE",
                "first_name": "Jane",
                "last_name": "Doe"
            }
        })
    );
    // The amount is a JSON number written from exact text, never a float.
    let text = String::from_utf8_lossy(&request.body).into_owned();
    assert!(text.contains(r#""amount":1500.00"#), "{text}");
}

#[test]
fn optional_fields_are_left_out_when_absent() {
    let mut request = order_request();
    request.cancellation_url = None;
    request.branch = None;
    request.redirect_mode = None;
    request.customer = Customer {
        phone: Some("+254723000000".to_owned()),
        ..Customer::default()
    };
    request.amount = "10.5".to_owned();
    let order = validate_order(&request).unwrap_or_else(|e| unreachable!("{e}"));
    let built =
        submit_order_request(&config(), &token(), &order).unwrap_or_else(|e| unreachable!("{e}"));
    let body = body_json(&built);
    assert_eq!(
        body["billing_address"],
        json!({"phone_number": "+254723000000"})
    );
    for absent in ["cancellation_url", "branch", "redirect_mode"] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
    assert!(String::from_utf8_lossy(&built.body).contains(r#""amount":10.50"#));
}

#[test]
fn validation_names_the_field() {
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|r| r.reference = String::new()), "reference"),
        (Box::new(|r| r.reference = "x".repeat(51)), "reference"),
        (Box::new(|r| r.reference = "has space".into()), "reference"),
        (Box::new(|r| r.reference = "ünïcode".into()), "reference"),
        (Box::new(|r| r.amount = "0".into()), "amount"),
        (Box::new(|r| r.amount = "-1".into()), "amount"),
        (Box::new(|r| r.amount = "1.001".into()), "amount"),
        (Box::new(|r| r.amount = "1e3".into()), "amount"),
        (Box::new(|r| r.currency = "kes".into()), "currency"),
        (Box::new(|r| r.description = None), "description"),
        (
            Box::new(|r| r.description = Some("d".repeat(101))),
            "description",
        ),
        (Box::new(|r| r.callback_url = None), "callback_url"),
        (
            Box::new(|r| r.callback_url = Some("/return".into())),
            "callback_url",
        ),
        (
            Box::new(|r| r.callback_url = Some("javascript:alert(1)".into())),
            "callback_url",
        ),
        (
            Box::new(|r| r.cancellation_url = Some("nope".into())),
            "cancellation_url",
        ),
        (Box::new(|r| r.notification_id = None), "notification_id"),
        (
            Box::new(|r| r.notification_id = Some("not-a-guid".into())),
            "notification_id",
        ),
        (
            Box::new(|r| {
                r.customer.email = None;
                r.customer.phone = None;
            }),
            "customer",
        ),
        (
            Box::new(|r| r.customer.email = Some("jane".into())),
            "customer.email",
        ),
        (
            Box::new(|r| r.customer.phone = Some("12ab".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.country_code = Some("Kenya".into())),
            "customer.country_code",
        ),
    ];
    for (mutate, field) in cases {
        let mut request = order_request();
        mutate(&mut request);
        match validate_order(&request) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("expected {field}: {other:?}"),
        }
    }
}

#[test]
fn submit_order_reply_is_read() {
    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let ok = reply(
        200,
        &format!(
            r#"{{"order_tracking_id":"{TRACKING}","merchant_reference":"ORD-2024-000123","redirect_url":"https://cybqa.pesapal.com/pesapaliframe/PesapalIframe3/Index?OrderTrackingId={TRACKING}","error":null,"status":"200"}}"#
        ),
    );
    let payment = parse_submit_order(&ok, &order).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(payment.tracking_id, TRACKING);
    assert_eq!(payment.reference, "ORD-2024-000123");
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert!(
        payment
            .redirect_url
            .is_some_and(|url| url.ends_with(TRACKING))
    );
}

#[test]
fn every_documented_error_shape_is_an_error() {
    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let provider_error = |status, code: Option<&str>, message: &str| {
        Err::<Payment, Error>(Error::Provider(ProviderError {
            provider: Provider::Pesapal,
            http_status: status,
            code: code.map(str::to_owned),
            message: message.to_owned(),
        }))
    };
    let cases = [
        (
            reply(
                200,
                r#"{"error":{"error_type":"api_error","code":"amount_exceeds_default_limit","message":"Amount exceeds limit"},"status":"500"}"#,
            ),
            provider_error(
                200,
                Some("amount_exceeds_default_limit"),
                "Amount exceeds limit",
            ),
        ),
        (
            reply(
                200,
                r#"{"error":{"type":"invalid_request_error","code":"invalid_api_request_parameters","message":""},"status":"500"}"#,
            ),
            provider_error(
                200,
                Some("invalid_api_request_parameters"),
                "invalid_api_request_parameters",
            ),
        ),
        (
            reply(
                200,
                r#"{"error":{"error_type":"api_error","code":"InvalidIpnId","message":"Invalid IPN"},"status":"500"}"#,
            ),
            provider_error(200, Some("InvalidIpnId"), "Invalid IPN"),
        ),
        (
            reply(
                200,
                r#"{"message":"{\"error\":{\"error_type\":\"api_error\",\"code\":\"maximum_amount_limit_exceeded\",\"message\":\"Too much\"},\"status\":\"500\"}"}"#,
            ),
            provider_error(200, Some("maximum_amount_limit_exceeded"), "Too much"),
        ),
        (
            reply(200, r#"{"error":"Something failed","status":"500"}"#),
            provider_error(200, None, "Something failed"),
        ),
        (
            reply(200, r#"{"status":"500","message":"Order failed"}"#),
            provider_error(200, None, "Order failed"),
        ),
        (
            reply(502, r#"{"status":null}"#),
            provider_error(502, None, "HTTP 502"),
        ),
    ];
    for (response, expected) in cases {
        assert_eq!(parse_submit_order(&response, &order), expected);
    }
    let token_rejected = reply(
        401,
        r#"{"error":{"error_type":"authentication_error","code":"invalid_api_credentials_provided","message":"Invalid Access Token"},"status":null}"#,
    );
    assert!(matches!(
        parse_submit_order(&token_rejected, &order),
        Err(Error::Authentication { .. })
    ));
}

#[test]
fn html_and_truncated_bodies_are_typed_errors() {
    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let html = HttpResponse::new(503, b"<html><body>Cloudflare</body></html>".to_vec())
        .with_header("content-type", "text/html");
    match parse_submit_order(&html, &order) {
        Err(Error::UnreadableReply {
            provider: Provider::Pesapal,
            http_status,
            message,
        }) => {
            assert_eq!(http_status, 503);
            assert!(message.contains("text/html"), "{message}");
            assert!(!message.contains("Cloudflare"));
        }
        other => unreachable!("{other:?}"),
    }
    let truncated = reply(200, r#"{"order_tracking_id":"96a5e1d9-f7"#);
    assert!(matches!(
        parse_submit_order(&truncated, &order),
        Err(Error::UnreadableReply { .. })
    ));
    let missing = reply(200, r#"{"error":null,"status":"200"}"#);
    assert!(matches!(
        parse_submit_order(&missing, &order),
        Err(Error::UnreadableReply {
            http_status: 200,
            ..
        })
    ));
}

#[test]
fn register_ipn_request_and_reply() {
    let ipn = IpnRequest {
        url: "https://shop.example/ipn".to_owned(),
        notification_type: NotificationType::Post,
    };
    let request =
        register_ipn_request(&config(), &token(), &ipn).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        request.url,
        "https://cybqa.pesapal.com/pesapalv3/api/URLSetup/RegisterIPN"
    );
    assert_eq!(header(&request, "authorization"), Some("Bearer tok-123"));
    assert_eq!(
        body_json(&request),
        json!({"url":"https://shop.example/ipn","ipn_notification_type":"POST"})
    );
    let recorded = reply(
        200,
        &format!(
            r#"{{"id":4278,"url":"https://shop.example/ipn","created_date":"2024-03-18T15:25:46.2652354Z","ipn_id":"{IPN_ID}","notification_type":1,"ipn_notification_type_description":"POST","ipn_status":1,"ipn_status_decription":"Active","error":null,"status":"200"}}"#
        ),
    );
    assert_eq!(
        parse_register_ipn(&recorded, &ipn),
        Ok(IpnRegistration {
            provider: Provider::Pesapal,
            ipn_id: IPN_ID.to_owned(),
            url: "https://shop.example/ipn".to_owned(),
            notification_type: NotificationType::Post,
            created_date: Some("2024-03-18T15:25:46.2652354Z".to_owned()),
        })
    );
    assert!(
        validate_ipn(&IpnRequest {
            url: "localhost/ipn".to_owned(),
            notification_type: NotificationType::Get
        })
        .is_err()
    );
}

#[test]
fn status_request_is_exact() {
    let request =
        status_request(&config(), &token(), TRACKING).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Get);
    assert_eq!(
        request.url,
        format!(
            "https://cybqa.pesapal.com/pesapalv3/api/Transactions/GetTransactionStatus?orderTrackingId={TRACKING}"
        )
    );
    assert_eq!(header(&request, "authorization"), Some("Bearer tok-123"));
    assert!(request.body.is_empty());
    assert!(validate_tracking_id("x&status=1").is_err());
}

#[test]
fn status_maps_pending_completed_failed_reversed() {
    let pending = reply(
        200,
        &format!(
            r#"{{"payment_method":"","amount":10.00,"created_date":"2024-03-18T18:25:46.75","confirmation_code":"","order_tracking_id":"{TRACKING}","payment_status_description":"INVALID","description":null,"message":"Request processed successfully","payment_account":"","call_back_url":"https://x/cb","status_code":0,"merchant_reference":"M1","payment_status_code":"","currency":"KES","error":{{"error_type":"api_error","code":"payment_details_not_found","message":"Pending Payment","call_back_url":"https://x/cb"}},"status":"500"}}"#
        ),
    );
    let details = parse_status(&pending).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(details.status, PaymentStatus::Pending);
    assert_eq!(details.amount.as_deref(), Some("10.00"));
    assert_eq!(details.method, None);
    assert_eq!(details.tracking_id.as_deref(), Some(TRACKING));

    let failed = reply(
        200,
        r#"{"payment_method":"Visa","amount":100,"created_date":"2022-04-30T07:41:09.763","confirmation_code":"6513008693186320103009","payment_status_description":"Failed","description":"Unable to Authorize Transaction.Kindly contact your bank for assistance","message":"Request processed successfully","payment_account":"476173**0010","call_back_url":"https://x","status_code":2,"merchant_reference":"1515111111","payment_status_code":"","currency":"KES","error":{"error_type":null,"code":null,"message":null,"call_back_url":null},"status":"200"}"#,
    );
    let details = parse_status(&failed).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        details,
        PaymentDetails {
            provider: Provider::Pesapal,
            reference: Some("1515111111".to_owned()),
            tracking_id: None,
            status: PaymentStatus::Failed,
            amount: Some("100.00".to_owned()),
            currency: Some("KES".to_owned()),
            method: Some("Visa".to_owned()),
            confirmation_code: Some("6513008693186320103009".to_owned()),
            description: Some(
                "Unable to Authorize Transaction.Kindly contact your bank for assistance"
                    .to_owned()
            ),
        }
    );
    for (code, expected) in [
        ("1", PaymentStatus::Completed),
        ("3", PaymentStatus::Reversed),
        ("7", PaymentStatus::Unknown),
    ] {
        let body = format!(
            r#"{{"status_code":{code},"amount":1500.5,"currency":"KES","payment_method":"MpesaKE","error":{{"error_type":null,"code":null,"message":null}},"status":"200"}}"#
        );
        let details = parse_status(&reply(200, &body)).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(details.status, expected);
        assert_eq!(details.amount.as_deref(), Some("1500.50"));
    }
}

#[test]
fn status_errors_stay_errors() {
    let unknown = reply(
        200,
        r#"{"status_code":0,"error":{"error_type":"api_error","code":"invalid_order_tracking_id","message":"Not found"},"status":"500"}"#,
    );
    assert!(matches!(
        parse_status(&unknown),
        Err(Error::Provider(ProviderError { code: Some(code), .. })) if code == "invalid_order_tracking_id"
    ));
    let auth = reply(
        401,
        r#"{"error":{"error_type":"authentication_error","code":"invalid_api_credentials_provided","message":"Invalid Access Token"},"status":null}"#,
    );
    assert!(matches!(
        parse_status(&auth),
        Err(Error::Authentication { .. })
    ));
    let html = HttpResponse::new(500, b"<html>".to_vec());
    assert!(matches!(
        parse_status(&html),
        Err(Error::UnreadableReply {
            http_status: 500,
            ..
        })
    ));
}

#[test]
fn a_state_in_an_http_error_reply_is_never_believed() {
    for http_status in [500, 502, 503, 404, 302] {
        for code in ["0", "1", "2", "3"] {
            let body = format!(
                r#"{{"status_code":{code},"amount":1500,"currency":"KES","error":{{"error_type":null,"code":null,"message":null}},"status":"200"}}"#
            );
            let result = parse_status(&reply(http_status, &body));
            assert!(
                matches!(
                    result,
                    Err(Error::Provider(ProviderError { http_status: got, .. })
                        | Error::UnreadableReply { http_status: got, .. })
                        if got == http_status
                ),
                "HTTP {http_status} with status_code {code}: {result:?}"
            );
        }
    }
    // The same body at HTTP 200 is a state.
    let body = r#"{"status_code":1,"amount":1500,"currency":"KES","status":"200"}"#;
    assert!(matches!(
        parse_status(&reply(200, body)),
        Ok(PaymentDetails {
            status: PaymentStatus::Completed,
            ..
        })
    ));
}

/// A string as serde_json writes it: the escaping the request bodies have
/// always had.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn unexpected_message(result: Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::UnreadableReply {
            provider: Provider::Pesapal,
            message,
            ..
        }) => message,
        other => unreachable!("expected an unreadable reply: {other:?}"),
    }
}

#[test]
fn request_bodies_are_byte_exact() {
    let credentials = token_request(&config()).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        String::from_utf8_lossy(&credentials.body),
        r#"{"consumer_key":"canary-key","consumer_secret":"canary-secret"}"#
    );

    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let full =
        submit_order_request(&config(), &token(), &order).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        String::from_utf8_lossy(&full.body),
        format!(
            r#"{{"id":"ORD-2024-000123","currency":"KES","amount":1500.00,"description":"Order 123","callback_url":"https://shop.example/pesapal/return","cancellation_url":"https://shop.example/pesapal/cancel","notification_id":"{IPN_ID}","branch":"Nairobi CBD","redirect_mode":"TOP_WINDOW","billing_address":{{"email_address":"jane@example.com","phone_number":"0723000000","country_code":"KE","first_name":"Jane","last_name":"Doe"}}}}"#
        )
    );

    let mut request = order_request();
    request.cancellation_url = None;
    request.branch = None;
    request.redirect_mode = None;
    request.customer = Customer {
        email: Some("jane@example.com".to_owned()),
        ..Customer::default()
    };
    request.amount = "0.5".to_owned();
    let order = validate_order(&request).unwrap_or_else(|e| unreachable!("{e}"));
    let minimal =
        submit_order_request(&config(), &token(), &order).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        String::from_utf8_lossy(&minimal.body),
        format!(
            r#"{{"id":"ORD-2024-000123","currency":"KES","amount":0.50,"description":"Order 123","callback_url":"https://shop.example/pesapal/return","notification_id":"{IPN_ID}","billing_address":{{"email_address":"jane@example.com"}}}}"#
        )
    );

    let ipn = IpnRequest {
        url: "https://shop.example/ipn?a=1&b=\"2\"".to_owned(),
        notification_type: NotificationType::Get,
    };
    let register =
        register_ipn_request(&config(), &token(), &ipn).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        String::from_utf8_lossy(&register.body),
        r#"{"url":"https://shop.example/ipn?a=1&b=\"2\"","ipn_notification_type":"GET"}"#
    );
}

proptest::proptest! {
    /// Whatever text the fields hold, the bodies are the bytes serde_json
    /// wrote for them: same member order, same escaping.
    #[test]
    fn request_bodies_escape_text_as_before(
        key in "\\PC*|[\\x00-\\x1f\"\\\\/\\x7f]{0,8}",
        secret in ".*",
        text in proptest::collection::vec("\\PC{0,6}|[\\x00-\\x20\"\\\\\\u{2028}\\u{7f}é😀]{0,6}", 9),
        hundredths in 1u64..=10_000_000_000,
    ) {
        let pesapal = PesapalConfig {
            consumer_key: ConsumerKey(Secret::new(key.clone())),
            consumer_secret: ConsumerSecret(Secret::new(secret.clone())),
            ..config()
        };
        let credentials = token_request(&pesapal).unwrap_or_else(|e| unreachable!("{e}"));
        proptest::prop_assert_eq!(
            String::from_utf8_lossy(&credentials.body),
            format!(r#"{{"consumer_key":{},"consumer_secret":{}}}"#, quoted(&key), quoted(&secret))
        );

        let amount = crate::money::Amount::from_hundredths(hundredths)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let order = PesapalOrder {
            reference: text[0].clone(),
            amount,
            currency: text[1].clone(),
            description: text[2].clone(),
            callback_url: text[3].clone(),
            cancellation_url: Some(text[4].clone()),
            notification_id: text[5].clone(),
            branch: Some(text[6].clone()),
            redirect_mode: Some(RedirectMode::ParentWindow),
            customer: Customer {
                email: Some(text[7].clone()),
                phone: None,
                country_code: None,
                first_name: Some(text[8].clone()),
                last_name: Some(key.clone()),
            },
            subscription: None,
        };
        let built = submit_order_request(&config(), &token(), &order)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let expected = format!(
            r#"{{"id":{},"currency":{},"amount":{},"description":{},"callback_url":{},"cancellation_url":{},"notification_id":{},"branch":{},"redirect_mode":"PARENT_WINDOW","billing_address":{{"email_address":{},"first_name":{},"last_name":{}}}}}"#,
            quoted(&text[0]),
            quoted(&text[1]),
            amount.to_fixed2(),
            quoted(&text[2]),
            quoted(&text[3]),
            quoted(&text[4]),
            quoted(&text[5]),
            quoted(&text[6]),
            quoted(&text[7]),
            quoted(&text[8]),
            quoted(&key),
        );
        proptest::prop_assert_eq!(String::from_utf8_lossy(&built.body), expected);
    }
}

#[test]
fn a_reply_that_is_json_but_not_an_object_is_a_shape_error_that_says_what_it_is() {
    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let ipn = IpnRequest {
        url: "https://shop.example/ipn".to_owned(),
        notification_type: NotificationType::Get,
    };
    for (body, found) in [
        ("null", "null"),
        ("true", "a boolean"),
        ("42", "a number"),
        (r#""token""#, "a string"),
        ("[]", "an array"),
    ] {
        let response = reply(200, body);
        let expected = format!(
            "reply did not have the documented shape: the body is {found}, not a JSON object"
        );
        assert_eq!(unexpected_message(parse_token(&response)), expected);
        assert_eq!(
            unexpected_message(parse_submit_order(&response, &order)),
            expected
        );
        assert_eq!(
            unexpected_message(parse_register_ipn(&response, &ipn)),
            expected
        );
        assert_eq!(unexpected_message(parse_status(&response)), expected);

        // An HTTP error status still comes first for the calls that check
        // the envelope before reading the reply, as it always has.
        let failed = reply(502, body);
        assert!(matches!(
            parse_token(&failed),
            Err(Error::Provider(ProviderError { message, .. })) if message == "HTTP 502"
        ));
        assert_eq!(unexpected_message(parse_status(&failed)), expected);
    }
}

#[test]
fn a_missing_field_is_named() {
    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let ipn = IpnRequest {
        url: "https://shop.example/ipn".to_owned(),
        notification_type: NotificationType::Get,
    };
    let empty = reply(200, r#"{"error":null,"status":"200"}"#);
    assert_eq!(
        unexpected_message(parse_token(&empty)),
        "token reply without a token"
    );
    assert_eq!(
        unexpected_message(parse_submit_order(&empty, &order)),
        "order reply without order_tracking_id"
    );
    let no_redirect = reply(
        200,
        &format!(r#"{{"order_tracking_id":"{TRACKING}","redirect_url":[],"status":"200"}}"#),
    );
    assert_eq!(
        unexpected_message(parse_submit_order(&no_redirect, &order)),
        "order reply without redirect_url"
    );
    assert_eq!(
        unexpected_message(parse_register_ipn(&empty, &ipn)),
        "IPN reply without ipn_id"
    );
    let no_code = reply(200, r#"{"status_code":{"code":1},"status":"200"}"#);
    assert_eq!(
        unexpected_message(parse_status(&no_code)),
        "status reply without status_code"
    );
}

#[test]
fn loosely_typed_fields_are_read_as_text() {
    let token = parse_token(&reply(200, r#"{"token":12345,"expiryDate":true}"#))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(token.value.expose(), "12345");
    assert_eq!(token.expires.as_deref(), Some("true"));

    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let payment = parse_submit_order(
        &reply(
            200,
            r#"{"order_tracking_id":7,"merchant_reference":1515111111,"redirect_url":"https://x/7","status":200}"#,
        ),
        &order,
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(payment.tracking_id, "7");
    assert_eq!(payment.reference, "1515111111");

    let details = parse_status(&reply(
        200,
        r#"{"status_code":" 1 ","amount":"1500.5","confirmation_code":651300869318632,"currency":null,"status":"200"}"#,
    ))
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(details.status, PaymentStatus::Completed);
    assert_eq!(details.amount.as_deref(), Some("1500.50"));
    assert_eq!(
        details.confirmation_code.as_deref(),
        Some("651300869318632")
    );
    assert_eq!(details.currency, None);

    // A numeric envelope status counts like its text.
    assert_eq!(
        parse_token(&reply(200, r#"{"token":"t","status":500}"#)).map(|_| ()),
        Err(Error::Provider(ProviderError {
            provider: Provider::Pesapal,
            http_status: 200,
            code: None,
            message: "PesaPal reported status 500".to_owned(),
        }))
    );
}

#[test]
fn error_objects_are_read_with_either_type_key() {
    let both = reply(
        200,
        r#"{"error":{"type":"invalid_request_error","error_type":"authentication_error","code":"x","message":"m"},"status":"500"}"#,
    );
    assert!(matches!(
        parse_token(&both),
        Err(Error::Authentication { message, .. }) if message == "x: m"
    ));
    let only_type = reply(
        200,
        r#"{"error":{"type":"authentication_error","code":null,"message":"Expired"},"status":"200"}"#,
    );
    assert!(matches!(
        parse_token(&only_type),
        Err(Error::Authentication { message, .. }) if message == "Expired"
    ));
}

#[test]
fn message_text_is_an_error_only_when_it_nests_a_meaningful_error_object() {
    for message in [
        r#"Request processed successfully"#,
        r#"{\"error\":null,\"status\":\"200\"}"#,
        r#"{\"error\":{\"error_type\":null,\"code\":null,\"message\":null}}"#,
        r#"{\"error\":\"text\"}"#,
        r#"{\"error\":{\"code\":\"x\"}"#,
    ] {
        let body = format!(r#"{{"token":"t","message":"{message}","status":"200"}}"#);
        assert!(parse_token(&reply(200, &body)).is_ok(), "{body}");
    }
    let nested = reply(
        200,
        r#"{"token":"t","error":{"error_type":null,"code":null,"message":null},"message":"{\"error\":{\"type\":\"api_error\",\"code\":\"c\",\"message\":\"\"}}"}"#,
    );
    assert_eq!(
        parse_token(&nested).map(|_| ()),
        Err(Error::Provider(ProviderError {
            provider: Provider::Pesapal,
            http_status: 200,
            code: Some("c".to_owned()),
            message: "c".to_owned(),
        }))
    );
}

/// Every header of `request`, in order, as name and value.
fn all_headers(request: &HttpRequest) -> Vec<(&str, &str)> {
    request
        .headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

#[test]
fn requests_carry_exactly_these_headers_in_this_order() {
    let token_call = token_request(&config()).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        all_headers(&token_call),
        [
            ("accept", "application/json"),
            ("user-agent", crate::transport::USER_AGENT),
            ("content-type", "application/json"),
        ]
    );
    let order = validate_order(&order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let order_call =
        submit_order_request(&config(), &token(), &order).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        all_headers(&order_call),
        [
            ("accept", "application/json"),
            ("user-agent", crate::transport::USER_AGENT),
            ("authorization", "Bearer tok-123"),
            ("content-type", "application/json"),
        ]
    );
    let status_call =
        status_request(&config(), &token(), TRACKING).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        all_headers(&status_call),
        [
            ("accept", "application/json"),
            ("user-agent", crate::transport::USER_AGENT),
            ("authorization", "Bearer tok-123"),
        ]
    );
}

#[test]
fn a_request_no_host_could_send_is_a_configuration_error_naming_the_variable() {
    let named = |result: Result<HttpRequest>| match result {
        Err(Error::Configuration { variable, .. }) => variable,
        other => format!("not a configuration error: {other:?}"),
    };
    for base_url in [
        "https://cybqa.pesapal.com/pesapal v3",
        "https://cybqa.pesapal.com:port/pesapalv3",
        "https://cybqa.pesapal.com/pesapalv3#x",
    ] {
        let bad = PesapalConfig {
            base_url: base_url.to_owned(),
            ..config()
        };
        assert_eq!(named(token_request(&bad)), "pesapal_base_url", "{base_url}");
        assert_eq!(
            named(status_request(&bad, &token(), TRACKING)),
            "pesapal_base_url",
            "{base_url}"
        );
    }
    let broken_token = AccessToken {
        value: Secret::new("tok\r\nX-Injected: 1"),
        expires: None,
    };
    assert_eq!(
        named(status_request(&config(), &broken_token, TRACKING)),
        "pesapal_base_url"
    );
}
