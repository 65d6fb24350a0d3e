use super::*;
use crate::domain::Customer;
use crate::providers::clickpesa::test_fixtures::{config, reply, token};
/// A change to a valid request that makes one field invalid.
type Mutation = Box<dyn Fn(&mut PaymentRequest)>;

use serde_json::{Value, json};

pub(crate) fn push_request() -> PaymentRequest {
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

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request.header(name)
}

#[test]
fn token_request_sends_credentials_in_headers_only() {
    let request = token_request(&config(None)).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/generate-token"
    );
    assert_eq!(header(&request, "client-id"), Some("canary-client"));
    assert_eq!(header(&request, "api-key"), Some("canary-api-key"));
    assert_eq!(header(&request, "authorization"), None);
    assert!(request.body.is_empty());
}

#[test]
fn token_is_kept_verbatim_and_used_without_a_second_bearer() {
    let token = parse_token(&reply(200, r#"{"success":true,"token":"Bearer eyJ.abc"}"#))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(token.value.expose(), "Bearer eyJ.abc");
    let push = validate_payment(&push_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let request =
        ussd_push_request(&config(None), &token, &push).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(header(&request, "authorization"), Some("Bearer eyJ.abc"));
}

#[test]
fn token_failures_are_authentication_errors() {
    for (status, body, message) in [
        (401, r#"{"message":"Unauthorized"}"#, "Unauthorized"),
        (
            403,
            r#"{"message":"Invalid client details"}"#,
            "Invalid client details",
        ),
        (
            403,
            r#"{"message":"Invalid or Expired API-Key"}"#,
            "Invalid or Expired API-Key",
        ),
        (403, "<html>", "HTTP 403 from generate-token"),
    ] {
        assert_eq!(
            parse_token(&reply(status, body)).map(|t| t.expires),
            Err(Error::Authentication {
                provider: Provider::Clickpesa,
                message: message.to_owned()
            })
        );
    }
    assert!(matches!(
        parse_token(&reply(200, r#"{"success":false}"#)),
        Err(Error::UnreadableReply {
            http_status: 200,
            ..
        })
    ));
}

#[test]
fn ussd_push_request_is_exact() {
    let push = validate_payment(&push_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let request =
        ussd_push_request(&config(None), &token(), &push).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payments/initiate-ussd-push-request"
    );
    assert_eq!(header(&request, "content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    assert_eq!(
        body,
        json!({"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678"})
    );
}

#[test]
fn with_a_checksum_key_the_body_is_signed_canonically() {
    let push = validate_payment(&push_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let request = ussd_push_request(&config(Some("secret-key")), &token(), &push)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    // Vector 2 of specs/clickpesa.md §7.5.
    assert_eq!(
        body["checksum"],
        "9d6548c3728f656cef3b7ecbdc781419cb3cf48662951666dc2187193d1b704f"
    );
}

/// The bytes on the wire, not just the JSON they mean: keys in the order
/// they always went out (alphabetical, `checksum` after `amount`).
#[test]
fn ussd_push_body_bytes_are_pinned() {
    let push = validate_payment(&push_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let plain =
        ussd_push_request(&config(None), &token(), &push).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        String::from_utf8_lossy(&plain.body),
        r#"{"amount":"1000","currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678"}"#
    );
    let signed = ussd_push_request(&config(Some("secret-key")), &token(), &push)
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        String::from_utf8_lossy(&signed.body),
        concat!(
            r#"{"amount":"1000","#,
            r#""checksum":"9d6548c3728f656cef3b7ecbdc781419cb3cf48662951666dc2187193d1b704f","#,
            r#""currency":"TZS","orderReference":"ORDER123","phoneNumber":"255712345678"}"#
        )
    );
}

#[test]
fn validation_names_the_field_and_unsupported_methods_say_so() {
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|r| r.reference = "ORD-1".into()), "reference"),
        (Box::new(|r| r.reference = "order_1".into()), "reference"),
        (Box::new(|r| r.reference = String::new()), "reference"),
        (Box::new(|r| r.reference = "ORD 1".into()), "reference"),
        (Box::new(|r| r.amount = "0.00".into()), "amount"),
        (Box::new(|r| r.currency = "KES".into()), "currency"),
        (Box::new(|r| r.customer.phone = None), "customer.phone"),
        (
            Box::new(|r| r.customer.phone = Some("+255712345678".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.phone = Some("0712345678".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.phone = Some("2557123456789".into())),
            "customer.phone",
        ),
    ];
    for (mutate, field) in cases {
        let mut request = push_request();
        mutate(&mut request);
        match validate_payment(&request) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("expected {field}: {other:?}"),
        }
    }
    let mut card = push_request();
    card.method = Some(PaymentMethod::Card);
    assert!(matches!(
        validate_payment(&card),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn initiate_reply_and_errors() {
    let push = validate_payment(&push_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let ok = reply(
        200,
        r#"{"id":"ORDER123LCP2C95","status":"PROCESSING","channel":"TIGO-PESA","orderReference":"ORDER123","collectedAmount":"1000","collectedCurrency":"TZS","createdAt":"2023-11-07T05:31:56Z","clientId":"IDxxxx"}"#,
    );
    assert_eq!(
        parse_ussd_push(&ok, &push),
        Ok(Payment {
            provider: Provider::Clickpesa,
            reference: "ORDER123".to_owned(),
            tracking_id: "ORDER123LCP2C95".to_owned(),
            redirect_url: None,
            status: PaymentStatus::Pending,
        })
    );
    let conflict = reply(
        409,
        r#"{"message":"Order reference ORDER123 already used: Create a different reference"}"#,
    );
    assert_eq!(
        parse_ussd_push(&conflict, &push),
        Err(Error::Provider(ProviderError {
            provider: Provider::Clickpesa,
            http_status: 409,
            code: None,
            message: "Order reference ORDER123 already used: Create a different reference"
                .to_owned(),
        }))
    );
    let nest = reply(
        400,
        r#"{"statusCode":400,"message":["Invalid checksum"],"error":"Bad Request"}"#,
    );
    assert_eq!(
        parse_ussd_push(&nest, &push),
        Err(Error::Provider(ProviderError {
            provider: Provider::Clickpesa,
            http_status: 400,
            code: Some("Bad Request".to_owned()),
            message: "Invalid checksum".to_owned(),
        }))
    );
    let expired = reply(
        401,
        r#"{"statusCode":401,"message":"Unauthorized","error":"Unauthorized"}"#,
    );
    assert!(matches!(
        parse_ussd_push(&expired, &push),
        Err(Error::Authentication { .. })
    ));
    let html =
        HttpResponse::new(500, b"<h1>oops</h1>".to_vec()).with_header("content-type", "text/html");
    assert!(matches!(
        parse_ussd_push(&html, &push),
        Err(Error::UnreadableReply {
            provider: Provider::Clickpesa,
            http_status: 500,
            ..
        })
    ));
    let truncated = reply(200, r#"{"id":"ORDER1"#);
    assert!(matches!(
        parse_ussd_push(&truncated, &push),
        Err(Error::UnreadableReply {
            http_status: 200,
            ..
        })
    ));
}

#[test]
fn status_request_and_array_reply() {
    let request =
        status_request(&config(None), &token(), "ORDER123").unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Get);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payments/ORDER123"
    );
    assert_eq!(header(&request, "authorization"), Some("Bearer eyJ.tok"));
    assert!(status_request(&config(None), &token(), "../generate-token").is_err());

    let rows = reply(
        200,
        r#"[{"id":"ORDER123LCP1","status":"FAILED","orderReference":"ORDER123","collectedAmount":1000,"collectedCurrency":"TZS","message":"Insufficient balance","clientId":"ID"},
            {"id":"ORDER123LCP2","status":"SUCCESS","paymentReference":"MP123","orderReference":"ORDER123","collectedAmount":1000,"collectedCurrency":"TZS","channel":"M-PESA","message":"success","clientId":"ID"}]"#,
    );
    assert_eq!(
        parse_status(&rows),
        Ok(PaymentDetails {
            provider: Provider::Clickpesa,
            reference: Some("ORDER123".to_owned()),
            tracking_id: Some("ORDER123LCP2".to_owned()),
            status: PaymentStatus::Completed,
            amount: Some("1000.00".to_owned()),
            currency: Some("TZS".to_owned()),
            method: Some("M-PESA".to_owned()),
            confirmation_code: Some("MP123".to_owned()),
            description: Some("success".to_owned()),
        })
    );
    let missing = reply(404, r#"{"message":"Invalid or missing payment: ORDER9"}"#);
    assert!(matches!(
        parse_status(&missing),
        Err(Error::Provider(ProviderError {
            http_status: 404,
            ..
        }))
    ));
    assert!(matches!(
        parse_status(&reply(200, "[]")),
        Err(Error::Provider(ProviderError { code: Some(code), http_status: 200, .. })) if code == "not_found"
    ));
    assert!(matches!(
        parse_status(&reply(200, r#"{"id":"x"}"#)),
        Err(Error::UnreadableReply {
            http_status: 200,
            ..
        })
    ));
}

#[test]
fn the_method_is_the_channel_clickpesa_reports() {
    let details = |row: &str| parse_status(&reply(200, &format!("[{row}]"))).map(|d| d.method);
    // `channel` names the network on collections ...
    assert_eq!(
        details(
            r#"{"id":"A1LCP1","status":"PROCESSING","orderReference":"A1","channel":"TIGO-PESA"}"#
        ),
        Ok(Some("TIGO-PESA".to_owned()))
    );
    // ... where a record names only the rail there, `channelProvider` names it,
    assert_eq!(
        details(
            r#"{"id":"A1LCP1","status":"SUCCESS","orderReference":"A1","channel":"","channelProvider":"TIGO PESA"}"#
        ),
        Ok(Some("TIGO PESA".to_owned()))
    );
    assert_eq!(
        details(
            r#"{"id":"A1LCP1","status":"SUCCESS","orderReference":"A1","channelProvider":"MPESA TANZANIA"}"#
        ),
        Ok(Some("MPESA TANZANIA".to_owned()))
    );
    // ... and `channel` wins when both are there.
    assert_eq!(
        details(
            r#"{"id":"A1LCP1","status":"SUCCESS","channel":"AIRTEL-MONEY","channelProvider":"X"}"#
        ),
        Ok(Some("AIRTEL-MONEY".to_owned()))
    );
    assert_eq!(details(r#"{"id":"A1LCP1","status":"SUCCESS"}"#), Ok(None));
}

#[test]
fn statuses_map_exhaustively() {
    for (text, expected) in [
        ("PROCESSING", PaymentStatus::Pending),
        ("PENDING", PaymentStatus::Pending),
        ("ON-HOLD", PaymentStatus::Pending),
        ("SUCCESS", PaymentStatus::Completed),
        ("SETTLED", PaymentStatus::Completed),
        ("FAILED", PaymentStatus::Failed),
        ("REFUNDED", PaymentStatus::Reversed),
        ("REVERSED", PaymentStatus::Reversed),
        ("SOMETHING-NEW", PaymentStatus::Unknown),
    ] {
        assert_eq!(map_status(Some(text)), expected, "{text}");
    }
    assert_eq!(map_status(None), PaymentStatus::Unknown);
}

fn provider_error(error: Result<impl std::fmt::Debug>) -> ProviderError {
    match error {
        Err(Error::Provider(error)) => error,
        other => unreachable!("expected a provider error: {other:?}"),
    }
}

/// The HTTP status and FinConnect's description of a reply it could not read.
fn unreadable(error: Result<impl std::fmt::Debug>) -> (u16, String) {
    match error {
        Err(Error::UnreadableReply {
            provider: Provider::Clickpesa,
            http_status,
            message,
        }) => (http_status, message),
        other => unreachable!("expected an unreadable reply: {other:?}"),
    }
}

#[test]
fn error_bodies_of_every_documented_shape_keep_their_words() {
    let push = validate_payment(&push_request()).unwrap_or_else(|e| unreachable!("{e}"));
    for (status, body, code, message) in [
        (
            400,
            r#"{"statusCode":400,"message":["amount must be a string","currency must be TZS"],"error":"Bad Request"}"#,
            Some("Bad Request"),
            "amount must be a string; currency must be TZS",
        ),
        (
            404,
            r#"{"error":"CRDB direct debit mandate not found"}"#,
            Some("CRDB direct debit mandate not found"),
            "CRDB direct debit mandate not found",
        ),
        (500, r#"{"statusCode":500}"#, None, "HTTP 500"),
        (400, r#"{"message":[]}"#, None, "HTTP 400"),
        (
            400,
            r#"{"message":[1,"only text",null]}"#,
            None,
            "only text",
        ),
        (
            400,
            r#"{"message":{"nested":true},"error":400}"#,
            Some("400"),
            "400",
        ),
    ] {
        let error = provider_error(parse_ussd_push(&reply(status, body), &push));
        assert_eq!(error.http_status, status, "{body}");
        assert_eq!(error.code.as_deref(), code, "{body}");
        assert_eq!(error.message, message, "{body}");
    }
    assert_eq!(
        parse_token(&reply(401, r#"{"message":["a","b"]}"#)).map(|t| t.expires),
        Err(Error::Authentication {
            provider: Provider::Clickpesa,
            message: "a; b".to_owned()
        })
    );
    assert_eq!(
        parse_status(&reply(403, r#"{"statusCode":403,"error":"Forbidden"}"#)),
        Err(Error::Authentication {
            provider: Provider::Clickpesa,
            message: "Forbidden".to_owned()
        })
    );
}

#[test]
fn reply_fields_are_read_as_strings_or_numbers() {
    let push = validate_payment(&push_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let payment = parse_ussd_push(&reply(200, r#"{"id":12345,"status":"pending"}"#), &push);
    assert_eq!(
        payment.map(|p| (p.reference, p.tracking_id, p.status)),
        Ok((
            "ORDER123".to_owned(),
            "12345".to_owned(),
            PaymentStatus::Pending
        ))
    );
    for body in [
        r#"{"status":"PROCESSING"}"#,
        r#"{"id":"","status":"PROCESSING"}"#,
        r#"{"id":null}"#,
        r#"{"id":["x"]}"#,
    ] {
        assert!(
            matches!(
                parse_ussd_push(&reply(200, body), &push),
                Err(Error::UnreadableReply { .. })
            ),
            "{body}"
        );
    }
    let token = parse_token(&reply(200, r#"{"token":"Bearer x"}"#));
    assert_eq!(
        token.map(|t| t.value.expose().to_owned()),
        Ok("Bearer x".to_owned())
    );
    for body in [
        r#"{"success":true,"token":"  "}"#,
        r#"{"success":true}"#,
        r#"{"success":"yes","token":"Bearer x"}"#,
        "[]",
        "<html>",
    ] {
        let (status, _) = unreadable(parse_token(&reply(200, body)));
        assert_eq!(status, 200, "{body}");
    }
    // A field of the wrong type is named, and so is a body of the wrong kind.
    let (_, wrong) = unreadable(parse_token(&reply(200, r#"{"success":"yes"}"#)));
    assert_eq!(
        wrong,
        "reply did not have the documented shape: `success` is not true or false"
    );
    let (_, listed) = unreadable(parse_ussd_push(&reply(200, r#"["ORDER123LCP1"]"#), &push));
    assert_eq!(
        listed,
        "reply did not have the documented shape: it is not a JSON object"
    );
    let (_, html) = unreadable(parse_token(&reply(200, "<html>")));
    assert!(html.starts_with("unreadable reply: HTTP 200"), "{html}");

    let rows = reply(
        200,
        r#"[{"id":"A1","status":"PROCESSING","orderReference":"A","collectedAmount":"1500.5","collectedCurrency":"TZS","channel":"","message":null},
            {"id":"A2","status":"FAILED","collectedAmount":{"value":1}}]"#,
    );
    assert_eq!(
        parse_status(&rows),
        Ok(PaymentDetails {
            provider: Provider::Clickpesa,
            reference: Some("A".to_owned()),
            tracking_id: Some("A1".to_owned()),
            status: PaymentStatus::Pending,
            amount: Some("1500.50".to_owned()),
            currency: Some("TZS".to_owned()),
            method: None,
            confirmation_code: None,
            description: None,
        })
    );
    let odd = reply(
        200,
        r#"[{"id":7,"status":"SUCCESS","collectedAmount":25.999,"paymentReference":99}]"#,
    );
    let details = parse_status(&odd).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(details.tracking_id.as_deref(), Some("7"));
    assert_eq!(details.amount.as_deref(), Some("25.99"));
    assert_eq!(details.confirmation_code.as_deref(), Some("99"));
    for body in ["[1]", r#"[{"id":"A1"},"x"]"#, r#""x""#, "null", "<html>"] {
        let (status, _) = unreadable(parse_status(&reply(200, body)));
        assert_eq!(status, 200, "{body}");
    }
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
    let token_call = token_request(&config(None)).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        all_headers(&token_call),
        [
            ("accept", "application/json"),
            ("user-agent", crate::transport::USER_AGENT),
            ("client-id", "canary-client"),
            ("api-key", "canary-api-key"),
        ]
    );
    let push = validate_payment(&push_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let push_call =
        ussd_push_request(&config(None), &token(), &push).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        all_headers(&push_call),
        [
            ("accept", "application/json"),
            ("user-agent", crate::transport::USER_AGENT),
            ("authorization", "Bearer eyJ.tok"),
            ("content-type", "application/json"),
        ]
    );
    let status_call =
        status_request(&config(None), &token(), "ORDER123").unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        all_headers(&status_call),
        [
            ("accept", "application/json"),
            ("user-agent", crate::transport::USER_AGENT),
            ("authorization", "Bearer eyJ.tok"),
        ]
    );
}

#[test]
fn a_request_no_host_could_send_is_a_configuration_error_naming_the_variable() {
    let named = |result: Result<HttpRequest>| match result {
        Err(Error::Configuration { variable, .. }) => variable,
        other => format!("not a configuration error: {other:?}"),
    };
    let line_break = ClickpesaConfig {
        client_id: ClientId(Secret::new("canary\r\nclient")),
        ..config(None)
    };
    assert_eq!(named(token_request(&line_break)), "clickpesa_client_id");
    let spaced = ClickpesaConfig {
        base_url: "https://api.clickpesa.com/third parties".to_owned(),
        ..config(None)
    };
    assert_eq!(named(token_request(&spaced)), "clickpesa_client_id");
    assert_eq!(
        named(status_request(&spaced, &token(), "ORDER123")),
        "clickpesa_base_url"
    );
    let broken_token = AccessToken {
        value: Secret::new("Bearer a\nb"),
        expires: None,
    };
    assert_eq!(
        named(status_request(&config(None), &broken_token, "ORDER123")),
        "clickpesa_base_url"
    );
}
