//! RefundRequest, CancelOrder and GetIpnList: exact requests, every
//! documented reply and error shape, the validation table.

use super::*;
use serde_json::{Value, json};

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

fn reply(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, body.as_bytes().to_vec())
        .with_header("content-type", "application/json; charset=utf-8")
}

fn refund_request() -> RefundRequest {
    RefundRequest {
        amount: "100".to_owned(),
        username: "jane.finance".to_owned(),
        remarks: "Customer returned the goods".to_owned(),
    }
}

fn completed(amount: &str) -> PaymentDetails {
    PaymentDetails {
        provider: Provider::Pesapal,
        reference: Some("ORD-1".to_owned()),
        tracking_id: Some(TRACKING.to_owned()),
        status: PaymentStatus::Completed,
        amount: Some(amount.to_owned()),
        currency: Some("KES".to_owned()),
        method: Some("Visa".to_owned()),
        confirmation_code: Some("6513008693186320103009".to_owned()),
        description: None,
    }
}

fn order() -> PesapalRefundOrder {
    let refund =
        validate_refund(TRACKING, &refund_request()).unwrap_or_else(|e| unreachable!("{e}"));
    refund_against(&refund, &completed("100.00")).unwrap_or_else(|e| unreachable!("{e}"))
}

fn invalid_field(result: Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::InvalidRequest { field, .. }) => field,
        other => unreachable!("expected an invalid request, got {other:?}"),
    }
}

#[test]
fn refund_request_is_exact() {
    let request = refund_request_for(&order());
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://cybqa.pesapal.com/pesapalv3/api/Transactions/RefundRequest"
    );
    assert_eq!(request.header("authorization"), Some("Bearer tok-123"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("accept"), Some("application/json"));
    // Documented member order, the amount as a decimal string as PesaPal's sample sends it.
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        r#"{"confirmation_code":"6513008693186320103009","amount":"100.00","username":"jane.finance","remarks":"Customer returned the goods"}"#
    );
}

fn refund_request_for(order: &PesapalRefundOrder) -> HttpRequest {
    super::refund_request(&config(), &token(), order).unwrap_or_else(|e| unreachable!("{e}"))
}

#[test]
fn refund_validation_names_the_field() {
    type Case = (&'static str, Box<dyn Fn(&mut RefundRequest)>, &'static str);
    let cases: Vec<Case> = vec![
        ("", Box::new(|_| {}), "id"),
        ("has space", Box::new(|_| {}), "id"),
        (TRACKING, Box::new(|r| r.amount = "0".into()), "amount"),
        (TRACKING, Box::new(|r| r.amount = "1.234".into()), "amount"),
        (TRACKING, Box::new(|r| r.amount = "-5".into()), "amount"),
        (TRACKING, Box::new(|r| r.amount = "ten".into()), "amount"),
        (TRACKING, Box::new(|r| r.username = " ".into()), "username"),
        (
            TRACKING,
            Box::new(|r| r.username = "u".repeat(101)),
            "username",
        ),
        (TRACKING, Box::new(|r| r.remarks = String::new()), "remarks"),
        (
            TRACKING,
            Box::new(|r| r.remarks = "r\u{7}".into()),
            "remarks",
        ),
        (
            TRACKING,
            Box::new(|r| r.remarks = "r".repeat(256)),
            "remarks",
        ),
    ];
    for (id, mutate, field) in cases {
        let mut request = refund_request();
        mutate(&mut request);
        assert_eq!(
            invalid_field(validate_refund(id, &request)),
            field,
            "{request:?}"
        );
    }
    assert!(validate_refund(TRACKING, &refund_request()).is_ok());
}

#[test]
fn only_completed_payments_and_at_most_the_amount_paid_are_refunded() {
    let refund =
        validate_refund(TRACKING, &refund_request()).unwrap_or_else(|e| unreachable!("{e}"));
    for status in [
        PaymentStatus::Pending,
        PaymentStatus::Failed,
        PaymentStatus::Reversed,
        PaymentStatus::Cancelled,
        PaymentStatus::Unknown,
    ] {
        let payment = PaymentDetails {
            status,
            ..completed("100.00")
        };
        assert_eq!(
            invalid_field(refund_against(&refund, &payment)),
            "id",
            "{status:?}"
        );
    }
    assert_eq!(
        invalid_field(refund_against(&refund, &completed("99.99"))),
        "amount"
    );
    let message = refund_against(&refund, &completed("99.99"))
        .map_err(|e| e.to_string())
        .err();
    assert_eq!(
        message.as_deref(),
        Some("invalid request: `amount` is more than the 99.99 paid")
    );
    assert!(refund_against(&refund, &completed("100")).is_ok());
    assert!(refund_against(&refund, &completed("250.50")).is_ok());
    // Without the confirmation code or the amount nothing can be sent.
    let no_code = PaymentDetails {
        confirmation_code: None,
        ..completed("100.00")
    };
    assert!(matches!(
        refund_against(&refund, &no_code),
        Err(Error::UnreadableReply { .. })
    ));
    let no_amount = PaymentDetails {
        amount: None,
        ..completed("100.00")
    };
    assert!(matches!(
        refund_against(&refund, &no_amount),
        Err(Error::UnreadableReply { .. })
    ));
}

#[test]
fn refund_replies_and_their_error_shapes() {
    let order = order();
    let accepted = parse_refund(
        &reply(
            200,
            r#"{"status":"200","message":"Refund request successfully"}"#,
        ),
        &order,
    );
    assert_eq!(
        accepted,
        Ok(Refund {
            provider: Provider::Pesapal,
            tracking_id: TRACKING.to_owned(),
            confirmation_code: "6513008693186320103009".to_owned(),
            amount: "100.00".to_owned(),
            currency: Some("KES".to_owned()),
            message: Some("Refund request successfully".to_owned()),
        })
    );
    // "500" is a refusal, in PesaPal's words.
    match parse_refund(
        &reply(
            200,
            r#"{"status":"500","message":"Refund request already exists"}"#,
        ),
        &order,
    ) {
        Err(Error::Provider(refusal)) => {
            assert_eq!(refusal.http_status, 200);
            assert_eq!(refusal.message, "Refund request already exists");
        }
        other => unreachable!("{other:?}"),
    }
    // The generic error envelope, and the token refusal.
    match parse_refund(
        &reply(
            200,
            r#"{"error":{"error_type":"invalid_request_error","code":"invalid_api_request_parameters","message":""},"status":"500"}"#,
        ),
        &order,
    ) {
        Err(Error::Provider(refusal)) => {
            assert_eq!(
                refusal.code.as_deref(),
                Some("invalid_api_request_parameters")
            );
        }
        other => unreachable!("{other:?}"),
    }
    assert!(matches!(
        parse_refund(
            &reply(
                401,
                r#"{"error":{"error_type":"authentication_error","code":"invalid_api_credentials_provided","message":"Invalid Access Token"},"status":null}"#
            ),
            &order
        ),
        Err(Error::Authentication { .. })
    ));
    // A reply that proves nothing is unreadable, never success.
    for body in ["{}", r#"{"message":"ok"}"#, "[]", "<html>busy</html>"] {
        assert!(
            matches!(
                parse_refund(&reply(200, body), &order),
                Err(Error::UnreadableReply { .. })
            ),
            "{body}"
        );
    }
    assert!(matches!(
        parse_refund(&reply(502, "<html>bad gateway</html>"), &order),
        Err(Error::UnreadableReply {
            http_status: 502,
            ..
        })
    ));
}

#[test]
fn cancel_request_is_exact_and_its_replies_are_read() {
    let request =
        cancel_request(&config(), &token(), TRACKING).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://cybqa.pesapal.com/pesapalv3/api/Transactions/CancelOrder"
    );
    assert_eq!(request.header("authorization"), Some("Bearer tok-123"));
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        format!(r#"{{"order_tracking_id":"{TRACKING}"}}"#)
    );
    assert_eq!(
        parse_cancel(
            &reply(
                200,
                r#"{"status":"200","message":"Order successfully cancelled."}"#
            ),
            TRACKING
        ),
        Ok(Cancellation {
            provider: Provider::Pesapal,
            tracking_id: TRACKING.to_owned(),
            message: Some("Order successfully cancelled.".to_owned()),
        })
    );
    match parse_cancel(
        &reply(
            200,
            r#"{"status":"500","message":"Order could not be cancelled"}"#,
        ),
        TRACKING,
    ) {
        Err(Error::Provider(refusal)) => {
            assert_eq!(refusal.message, "Order could not be cancelled")
        }
        other => unreachable!("{other:?}"),
    }
    assert!(matches!(
        parse_cancel(&reply(200, "{}"), TRACKING),
        Err(Error::UnreadableReply { .. })
    ));
    assert_eq!(invalid_field(validate_cancel("not a guid")), "id");
    assert!(validate_cancel(TRACKING).is_ok());
}

#[test]
fn ipn_list_request_is_exact_and_the_bare_array_is_read() {
    let request = ipn_list_request(&config(), &token()).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Get);
    assert_eq!(
        request.url,
        "https://cybqa.pesapal.com/pesapalv3/api/URLSetup/GetIpnList"
    );
    assert_eq!(request.header("authorization"), Some("Bearer tok-123"));
    assert!(request.body.is_empty());
    // The recorded sandbox answer.
    assert_eq!(parse_ipn_list(&reply(200, "[]")), Ok(vec![]));
    // The documented rows (a minimal one and one with the extra members).
    let rows: Value = json!([
        {"url":"https://shop.example/ipn","created_date":"2024-03-18T15:25:46.2652354Z",
         "ipn_id":"1da86d1c-1e8c-4183-bdfd-dd759463e4ce","error":null,"status":"200"},
        {"id":4278,"url":"https://shop.example/ipn2","created_date":"2024-03-18T15:25:47.1Z",
         "ipn_id":"2ea86d1c-1e8c-4183-bdfd-dd759463e4cf","notification_type":1,
         "ipn_notification_type_description":"POST","ipn_status":1,
         "ipn_status_decription":"Active","error":null,"status":"200"}
    ]);
    let listed =
        parse_ipn_list(&reply(200, &rows.to_string())).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].ipn_id, "1da86d1c-1e8c-4183-bdfd-dd759463e4ce");
    assert_eq!(listed[0].notification_type, None);
    assert_eq!(listed[0].active, None);
    assert_eq!(
        listed[0].created_date.as_deref(),
        Some("2024-03-18T15:25:46.2652354Z")
    );
    assert_eq!(listed[1].notification_type, Some(NotificationType::Post));
    assert_eq!(listed[1].active, Some(true));
    // On failure an error envelope comes instead of the array.
    match parse_ipn_list(&reply(
        200,
        r#"{"error":{"error_type":"api_error","code":"some_failure","message":"Failed"},"status":"500"}"#,
    )) {
        Err(Error::Provider(refusal)) => assert_eq!(refusal.code.as_deref(), Some("some_failure")),
        other => unreachable!("{other:?}"),
    }
    assert!(matches!(
        parse_ipn_list(&reply(
            401,
            r#"{"error":{"error_type":"authentication_error","code":"invalid_api_credentials_provided","message":"Invalid Access Token"},"status":null}"#
        )),
        Err(Error::Authentication { .. })
    ));
    for body in [
        "{}",
        r#"{"ipns":[]}"#,
        "[1]",
        r#"[{"url":"x"}]"#,
        "\"x\"",
        "<html>",
    ] {
        assert!(
            matches!(
                parse_ipn_list(&reply(200, body)),
                Err(Error::UnreadableReply { .. })
            ),
            "{body}"
        );
    }
}
