//! The previews: exact requests (the documented checksum vector included),
//! the validation table, the reply with and without `sender`, every
//! documented error, and the flow (token, then the preview; PesaPal and
//! M-Pesa answer `unsupported` without a call).

use super::*;
use crate::domain::{Customer, Provider};
use crate::error::ProviderError;
use crate::flow::Finconnect;
use crate::providers::clickpesa::test_fixtures::{config, reply, token};
use crate::transport::Method;
use crate::transport::scripted::Scripted;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type Mutation = fn(&mut PaymentRequest);

fn ussd() -> PaymentRequest {
    PaymentRequest {
        reference: "ORDER123".to_owned(),
        amount: "1000".to_owned(),
        currency: "TZS".to_owned(),
        customer: Customer {
            phone: Some("255712345678".to_owned()),
            ..Customer::default()
        },
        ..PaymentRequest::default()
    }
}

fn card() -> PaymentRequest {
    PaymentRequest {
        reference: "CARD7".to_owned(),
        amount: "12.50".to_owned(),
        currency: "USD".to_owned(),
        method: Some(PaymentMethod::Card),
        ..PaymentRequest::default()
    }
}

fn ok<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e| unreachable!("{e}"))
}

#[test]
fn the_ussd_preview_request_is_exact_and_signed_as_documented() {
    let preview = ok(validate_preview(&ussd(), false));
    let request = ok(preview_request(&config(None), &token(), &preview));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payments/preview-ussd-push-request"
    );
    assert_eq!(request.header("authorization"), Some("Bearer eyJ.tok"));
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        r#"{"amount":"1000","currency":"TZS","fetchSenderDetails":false,"orderReference":"ORDER123","phoneNumber":"255712345678"}"#
    );
    // The spec's vector 3 is this very body.
    let signed = ok(preview_request(
        &config(Some("secret-key")),
        &token(),
        &preview,
    ));
    let body: Value = serde_json::from_slice(&signed.body).unwrap_or(Value::Null);
    assert_eq!(
        body["checksum"],
        "4df5a5a878bdb4d633c31f653f2cedd045ac2bd30b59d1b6b3cfe1e1439e743b"
    );
}

#[test]
fn the_phone_is_optional_unless_the_sender_is_asked_for() {
    let mut no_phone = ussd();
    no_phone.customer.phone = None;
    let request = ok(preview_request(
        &config(None),
        &token(),
        &ok(validate_preview(&no_phone, false)),
    ));
    assert_eq!(
        serde_json::from_slice::<Value>(&request.body).unwrap_or(Value::Null),
        json!({"amount": "1000", "currency": "TZS", "fetchSenderDetails": false, "orderReference": "ORDER123"})
    );
    let asked = ok(preview_request(
        &config(None),
        &token(),
        &ok(validate_preview(&ussd(), true)),
    ));
    assert_eq!(
        serde_json::from_slice::<Value>(&asked.body).unwrap_or(Value::Null)["fetchSenderDetails"],
        true
    );
}

#[test]
fn the_card_preview_request_is_exact() {
    let request = ok(preview_request(
        &config(None),
        &token(),
        &ok(validate_preview(&card(), false)),
    ));
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payments/preview-card-payment"
    );
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        r#"{"amount":"12.5","currency":"USD","orderReference":"CARD7"}"#
    );
}

#[test]
fn preview_validation_names_the_field() {
    let ussd_cases: [(Mutation, bool, &str); 6] = [
        (|r| r.reference = "ORDER-1".into(), false, "reference"),
        (|r| r.amount = "0".into(), false, "amount"),
        (|r| r.currency = "USD".into(), false, "currency"),
        (
            |r| r.customer.phone = Some("+255712345678".into()),
            false,
            "customer.phone",
        ),
        (|r| r.customer.phone = None, true, "customer.phone"),
        (|r| r.amount = "1.234".into(), false, "amount"),
    ];
    for (mutate, fetch, field) in ussd_cases {
        let mut request = ussd();
        mutate(&mut request);
        match validate_preview(&request, fetch) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("expected {field}: {other:?}"),
        }
    }
    let card_cases: [(Mutation, bool, &str); 2] = [
        (|r| r.currency = "TZS".into(), false, "currency"),
        (|_| {}, true, "fetch_sender_details"),
    ];
    for (mutate, fetch, field) in card_cases {
        let mut request = card();
        mutate(&mut request);
        match validate_preview(&request, fetch) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("expected {field}: {other:?}"),
        }
    }
    let mut checkout = ussd();
    checkout.method = Some(PaymentMethod::CheckoutLink);
    assert!(matches!(
        validate_preview(&checkout, false),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn the_reply_lists_methods_fees_as_exact_text_and_the_sender() {
    let preview = ok(validate_preview(&ussd(), true));
    let parsed = parse_preview(
        &reply(
            200,
            r#"{"activeMethods":[{"name":"M-PESA","status":"AVAILABLE","fee":580,"message":"ok"},{"name":"AIRTEL-MONEY","status":"UNAVAILABLE","fee":"1.25"},{"name":"HALOPESA","status":"SOMETHING-NEW"}],"sender":{"accountName":"Mathayo John","accountNumber":"255712345678","accountProvider":"TIGO-PESA"}}"#,
        ),
        &preview,
    );
    assert_eq!(
        parsed,
        Ok(PaymentPreview {
            provider: Provider::Clickpesa,
            reference: "ORDER123".to_owned(),
            methods: vec![
                PreviewMethod {
                    name: "M-PESA".to_owned(),
                    status: MethodStatus::Available,
                    fee: Some("580".to_owned()),
                    message: Some("ok".to_owned()),
                },
                PreviewMethod {
                    name: "AIRTEL-MONEY".to_owned(),
                    status: MethodStatus::Unavailable,
                    fee: Some("1.25".to_owned()),
                    message: None,
                },
                PreviewMethod {
                    name: "HALOPESA".to_owned(),
                    status: MethodStatus::Unavailable,
                    fee: None,
                    message: None,
                },
            ],
            sender: Some(PreviewSender {
                account_name: Some("Mathayo John".to_owned()),
                account_number: Some("255712345678".to_owned()),
                account_provider: Some("TIGO-PESA".to_owned()),
            }),
        })
    );
    // A fee with many decimals keeps every digit.
    let exact = parse_preview(
        &reply(
            200,
            r#"{"activeMethods":[{"name":"CARD","status":"AVAILABLE","fee":0.123456789012345678}]}"#,
        ),
        &preview,
    );
    assert_eq!(
        exact.map(|p| (p.methods[0].fee.clone(), p.sender)),
        Ok((Some("0.123456789012345678".to_owned()), None))
    );
    for body in [
        r#"{}"#,
        r#"{"activeMethods":{}}"#,
        r#"{"activeMethods":[{"status":"AVAILABLE"}]}"#,
        r#"{"activeMethods":[{"name":"M-PESA","fee":"-1"}]}"#,
        r#"{"activeMethods":[{"name":"M-PESA","fee":"1e3"}]}"#,
        r#"{"activeMethods":[],"sender":"Mathayo"}"#,
        r#"[]"#,
    ] {
        assert!(
            matches!(
                parse_preview(&reply(200, body), &preview),
                Err(Error::UnreadableReply { .. })
            ),
            "{body}"
        );
    }
}

#[test]
fn every_documented_preview_error_is_kept_as_data() {
    let preview = ok(validate_preview(&ussd(), false));
    for (status, message) in [
        (400, "Valid Client ID is required"),
        (
            400,
            "Application has no access to COLLECTION API feature. Enable it on your application.",
        ),
        (404, "Account has no payment collection methods"),
        (404, "Account has no valid payment method"),
        (
            409,
            "Order reference ORDER123 already used: Create a different reference",
        ),
    ] {
        let body = json!({ "message": message }).to_string();
        assert_eq!(
            parse_preview(&reply(status, &body), &preview),
            Err(Error::Provider(ProviderError {
                provider: Provider::Clickpesa,
                http_status: status,
                code: None,
                message: message.to_owned(),
            }))
        );
    }
    assert!(matches!(
        parse_preview(&reply(401, r#"{"message":"Unauthorized"}"#), &preview),
        Err(Error::Authentication { .. })
    ));
}

fn vars() -> BTreeMap<String, String> {
    [
        ("clickpesa_base_url", "http://127.0.0.1:9/third-parties"),
        ("clickpesa_client_id", "canary-cp-client"),
        ("clickpesa_api_key", "canary-cp-api-key"),
        ("pesapal_base_url", "http://127.0.0.1:9/pesapalv3"),
        ("pesapal_consumer_key", "k"),
        ("pesapal_consumer_secret", "s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn the_flow_asks_for_a_token_then_previews_and_others_are_unsupported() {
    let vars = vars();
    let mut transport = Scripted::new(vec![
        Ok((200, r#"{"success":true,"token":"Bearer canary-token"}"#)),
        Ok((
            200,
            r#"{"activeMethods":[{"name":"M-PESA","status":"AVAILABLE","fee":580}]}"#,
        )),
    ]);
    let preview =
        Finconnect::new(&vars, &mut transport).preview(Provider::Clickpesa, &ussd(), false);
    assert_eq!(preview.map(|p| p.methods.len()), Ok(1));
    assert_eq!(
        transport.paths(),
        [
            "POST /third-parties/generate-token",
            "POST /third-parties/payments/preview-ussd-push-request"
        ]
    );
    assert_eq!(
        transport.seen[1].header("authorization"),
        Some("Bearer canary-token")
    );
    for provider in [Provider::Pesapal, Provider::Mpesa] {
        let mut transport = Scripted::new(vec![]);
        let result = Finconnect::new(&vars, &mut transport).preview(provider, &ussd(), false);
        match result {
            Err(Error::Unsupported {
                operation, detail, ..
            }) => {
                assert_eq!(operation, "preview");
                assert!(!detail.is_empty());
            }
            other => unreachable!("{provider:?}: {other:?}"),
        }
        assert!(transport.seen.is_empty());
    }
    // Invalid: nothing sent.
    let mut transport = Scripted::new(vec![]);
    let mut bad = ussd();
    bad.currency = "KES".to_owned();
    assert!(matches!(
        Finconnect::new(&vars, &mut transport).preview(Provider::Clickpesa, &bad, false),
        Err(Error::InvalidRequest { .. })
    ));
    assert!(transport.seen.is_empty());
}
