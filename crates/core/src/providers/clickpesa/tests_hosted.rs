//! The checkout link and the card payment: exact requests, the validation
//! table, every documented reply and error, and the flow (token, then the
//! request, nothing sent after a refusal).

use super::super::checksum;
use super::*;
use crate::domain::{Customer, PaymentMethod, Provider};
use crate::error::ProviderError;
use crate::flow::Finconnect;
use crate::providers::clickpesa::test_fixtures::{config, reply, token};
use crate::transport::scripted::Scripted;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type Mutation = fn(&mut PaymentRequest);

fn checkout_payment() -> PaymentRequest {
    PaymentRequest {
        reference: "ORD42".to_owned(),
        amount: "25000".to_owned(),
        currency: "TZS".to_owned(),
        method: Some(PaymentMethod::CheckoutLink),
        ..PaymentRequest::default()
    }
}

fn card_payment() -> PaymentRequest {
    PaymentRequest {
        reference: "CARD7".to_owned(),
        amount: "12.50".to_owned(),
        currency: "USD".to_owned(),
        method: Some(PaymentMethod::Card),
        customer: Customer {
            first_name: Some("Jane".to_owned()),
            last_name: Some("Doe".to_owned()),
            email: Some("jane@example.com".to_owned()),
            phone: Some("+255712345678".to_owned()),
            ..Customer::default()
        },
        ..PaymentRequest::default()
    }
}

fn body_of(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

fn ok<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e| unreachable!("{e}"))
}

#[test]
fn the_checkout_request_is_exact_total_variant() {
    let checkout = ok(validate_checkout(&checkout_payment()));
    let request = ok(checkout_request(&config(None), &token(), &checkout));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/checkout-link/generate-checkout-url"
    );
    assert_eq!(request.header("authorization"), Some("Bearer eyJ.tok"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        r#"{"orderCurrency":"TZS","orderReference":"ORD42","totalPrice":"25000"}"#
    );
}

#[test]
fn the_checkout_request_carries_the_optional_customer_and_description() {
    let mut payment = checkout_payment();
    payment.currency = "USD".to_owned();
    payment.amount = "19.90".to_owned();
    payment.description = Some("Order 42".to_owned());
    payment.customer = Customer {
        first_name: Some("Jane".to_owned()),
        last_name: Some("Doe".to_owned()),
        email: Some("jane@example.com".to_owned()),
        phone: Some("255712345678".to_owned()),
        ..Customer::default()
    };
    let checkout = ok(validate_checkout(&payment));
    let request = ok(checkout_request(&config(None), &token(), &checkout));
    assert_eq!(
        body_of(&request),
        json!({
            "totalPrice": "19.9",
            "orderReference": "ORD42",
            "orderCurrency": "USD",
            "customerName": "Jane Doe",
            "customerEmail": "jane@example.com",
            "customerPhone": "255712345678",
            "description": "Order 42",
        })
    );
}

#[test]
fn the_card_request_is_exact() {
    let card = ok(validate_card(&card_payment()));
    let request = ok(card_request(&config(None), &token(), &card));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payments/initiate-card-payment"
    );
    assert_eq!(request.header("authorization"), Some("Bearer eyJ.tok"));
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        r#"{"amount":"12.5","currency":"USD","customer":{"email":"jane@example.com","fullName":"Jane Doe","phoneNumber":"+255712345678"},"orderReference":"CARD7"}"#
    );
}

#[test]
fn both_bodies_are_signed_when_a_checksum_key_is_set() {
    let checkout = ok(validate_checkout(&checkout_payment()));
    let card = ok(validate_card(&card_payment()));
    for request in [
        ok(checkout_request(
            &config(Some("secret-key")),
            &token(),
            &checkout,
        )),
        ok(card_request(&config(Some("secret-key")), &token(), &card)),
    ] {
        let tree = checksum::Value::parse(&request.body).unwrap_or(checksum::Value::Null);
        let digest = tree.get("checksum").and_then(checksum::Value::as_str);
        assert_eq!(digest.map(str::len), Some(64), "{tree:?}");
        assert!(checksum::verify(b"secret-key", &tree));
        assert!(!checksum::verify(b"another-key", &tree));
    }
    let unsigned = ok(checkout_request(&config(None), &token(), &checkout));
    assert!(body_of(&unsigned).get("checksum").is_none());
}

#[test]
fn checkout_validation_names_the_field() {
    let cases: [(Mutation, &str); 10] = [
        (|r| r.reference = "ORD-42".into(), "reference"),
        (|r| r.reference = String::new(), "reference"),
        (|r| r.amount = "0".into(), "amount"),
        (|r| r.amount = "10.001".into(), "amount"),
        (|r| r.currency = "KES".into(), "currency"),
        (|r| r.currency = "tzs".into(), "currency"),
        (
            |r| r.customer.phone = Some("0712345678".into()),
            "customer.phone",
        ),
        (
            |r| r.customer.email = Some("not-an-email".into()),
            "customer.email",
        ),
        (
            |r| r.customer.last_name = Some("Doe".into()),
            "customer.first_name",
        ),
        (|r| r.description = Some(" ".into()), "description"),
    ];
    for (mutate, field) in cases {
        let mut request = checkout_payment();
        mutate(&mut request);
        match validate_checkout(&request) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("expected {field}: {other:?}"),
        }
    }
}

#[test]
fn card_validation_names_the_field() {
    let cases: [(Mutation, &str); 10] = [
        (|r| r.reference = "CARD 7".into(), "reference"),
        (|r| r.amount = "-1".into(), "amount"),
        (|r| r.currency = "TZS".into(), "currency"),
        (|r| r.currency = "KES".into(), "currency"),
        (|r| r.customer.first_name = None, "customer.first_name"),
        (|r| r.customer.email = None, "customer.email"),
        (|r| r.customer.email = Some("jane".into()), "customer.email"),
        (|r| r.customer.phone = None, "customer.phone"),
        (|r| r.customer.phone = Some("12".into()), "customer.phone"),
        (
            |r| r.customer.first_name = Some("\u{7}".into()),
            "customer.first_name",
        ),
    ];
    for (mutate, field) in cases {
        let mut request = card_payment();
        mutate(&mut request);
        match validate_card(&request) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("expected {field}: {other:?}"),
        }
    }
    // A single name is a full name.
    let mut single = card_payment();
    single.customer.last_name = None;
    let request = ok(card_request(
        &config(None),
        &token(),
        &ok(validate_card(&single)),
    ));
    assert_eq!(body_of(&request)["customer"]["fullName"], "Jane");
}

#[test]
fn the_links_come_back_as_redirect_urls_of_pending_payments() {
    let checkout = ok(validate_checkout(&checkout_payment()));
    let payment = parse_checkout(
        &reply(
            200,
            r#"{"checkoutLink":"https://checkout.clickpesa.com/pay/abc","clientId":"IDxx"}"#,
        ),
        &checkout,
    );
    assert_eq!(
        payment,
        Ok(Payment {
            provider: Provider::Clickpesa,
            reference: "ORD42".to_owned(),
            tracking_id: "ORD42".to_owned(),
            redirect_url: Some("https://checkout.clickpesa.com/pay/abc".to_owned()),
            status: PaymentStatus::Pending,
        })
    );
    let card = ok(validate_card(&card_payment()));
    let payment = parse_card(
        &reply(
            200,
            r#"{"cardPaymentLink":"https://card.clickpesa.com/x","clientId":"IDxx"}"#,
        ),
        &card,
    );
    assert_eq!(
        payment.map(|p| (p.tracking_id, p.redirect_url, p.status)),
        Ok((
            "CARD7".to_owned(),
            Some("https://card.clickpesa.com/x".to_owned()),
            PaymentStatus::Pending
        ))
    );
    for body in [
        r#"{"clientId":"IDxx"}"#,
        r#"{"checkoutLink":""}"#,
        r#"{"checkoutLink":"javascript:alert(1)"}"#,
        r#"["https://checkout.clickpesa.com"]"#,
    ] {
        assert!(
            matches!(
                parse_checkout(&reply(200, body), &checkout),
                Err(Error::UnreadableReply {
                    http_status: 200,
                    ..
                })
            ),
            "{body}"
        );
    }
    assert!(matches!(
        parse_card(
            &reply(200, r#"{"checkoutLink":"https://x.example"}"#),
            &card
        ),
        Err(Error::UnreadableReply { .. })
    ));
}

fn refused(status: u16, code: Option<&str>, message: &str) -> Error {
    Error::Provider(ProviderError {
        provider: Provider::Clickpesa,
        http_status: status,
        code: code.map(str::to_owned),
        message: message.to_owned(),
    })
}

#[test]
fn every_documented_checkout_error_is_kept_as_data() {
    let checkout = ok(validate_checkout(&checkout_payment()));
    let cases = [
        (
            400,
            r#"{"message":"Application has no access to checkout link feature."}"#,
            refused(
                400,
                None,
                "Application has no access to checkout link feature.",
            ),
        ),
        (
            400,
            r#"{"statusCode":400,"message":["Order reference is required"],"error":"Bad Request"}"#,
            refused(400, Some("Bad Request"), "Order reference is required"),
        ),
        (
            400,
            r#"{"statusCode":400,"message":["Total Price is required","orderCurrency must be one of the following values: TZS, USD"],"error":"Bad Request"}"#,
            refused(
                400,
                Some("Bad Request"),
                "Total Price is required; orderCurrency must be one of the following values: TZS, USD",
            ),
        ),
        (
            404,
            r#"{"message":"Checkout is not available for this merchant"}"#,
            refused(404, None, "Checkout is not available for this merchant"),
        ),
        (
            409,
            r#"{"message":"Order reference ORD42 already used: Create a different reference"}"#,
            refused(
                409,
                None,
                "Order reference ORD42 already used: Create a different reference",
            ),
        ),
    ];
    for (status, body, expected) in cases {
        assert_eq!(
            parse_checkout(&reply(status, body), &checkout),
            Err(expected)
        );
    }
    assert_eq!(
        parse_checkout(&reply(401, r#"{"message":"Unauthorized"}"#), &checkout),
        Err(Error::Authentication {
            provider: Provider::Clickpesa,
            message: "Unauthorized".to_owned()
        })
    );
    assert!(matches!(
        parse_checkout(
            &HttpResponse::new(502, b"<html>bad gateway</html>".to_vec()),
            &checkout
        ),
        Err(Error::UnreadableReply {
            http_status: 502,
            ..
        })
    ));
}

#[test]
fn every_documented_card_error_is_kept_as_data() {
    let card = ok(validate_card(&card_payment()));
    for (status, body, expected) in [
        (
            400,
            r#"{"message":"Application has no access to COLLECTION API feature. Enable it on your application."}"#,
            refused(
                400,
                None,
                "Application has no access to COLLECTION API feature. Enable it on your application.",
            ),
        ),
        (
            404,
            r#"{"message":"Account has no valid payment method"}"#,
            refused(404, None, "Account has no valid payment method"),
        ),
        (
            409,
            r#"{"message":"Order reference CARD7 already used: Create a different reference"}"#,
            refused(
                409,
                None,
                "Order reference CARD7 already used: Create a different reference",
            ),
        ),
    ] {
        assert_eq!(parse_card(&reply(status, body), &card), Err(expected));
    }
}

fn vars() -> BTreeMap<String, String> {
    [
        ("clickpesa_base_url", "http://127.0.0.1:9/third-parties"),
        ("clickpesa_client_id", "canary-cp-client"),
        ("clickpesa_api_key", "canary-cp-api-key"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

const CP_TOKEN: &str = r#"{"success":true,"token":"Bearer canary-token"}"#;

#[test]
fn the_flow_asks_for_a_token_then_sends_the_one_request() {
    for (payment, path, answer) in [
        (
            checkout_payment(),
            "POST /third-parties/checkout-link/generate-checkout-url",
            r#"{"checkoutLink":"https://checkout.clickpesa.com/ORD42","clientId":"c"}"#,
        ),
        (
            card_payment(),
            "POST /third-parties/payments/initiate-card-payment",
            r#"{"cardPaymentLink":"https://card.clickpesa.com/CARD7","clientId":"c"}"#,
        ),
    ] {
        let vars = vars();
        let mut transport = Scripted::new(vec![Ok((200, CP_TOKEN)), Ok((200, answer))]);
        let result = Finconnect::new(&vars, &mut transport).pay(Provider::Clickpesa, &payment);
        assert_eq!(
            result.map(|p| (p.tracking_id, p.status)),
            Ok((payment.reference.clone(), PaymentStatus::Pending))
        );
        assert_eq!(
            transport.paths(),
            ["POST /third-parties/generate-token", path]
        );
        assert_eq!(
            transport.seen[1].header("authorization"),
            Some("Bearer canary-token")
        );
    }
}

#[test]
fn an_invalid_hosted_payment_sends_nothing() {
    let mut card = card_payment();
    card.currency = "TZS".to_owned();
    let mut checkout = checkout_payment();
    checkout.currency = "KES".to_owned();
    for payment in [card, checkout] {
        let vars = vars();
        let mut transport = Scripted::new(vec![]);
        let result = Finconnect::new(&vars, &mut transport).pay(Provider::Clickpesa, &payment);
        assert!(
            matches!(&result, Err(Error::InvalidRequest { field, .. }) if field == "currency"),
            "{result:?}"
        );
        assert!(transport.seen.is_empty());
    }
}
