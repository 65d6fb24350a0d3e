//! BillPay: exact requests (no checksum even with a key), the validation
//! tables, every reply shape and the documented refusals.

use super::*;
use crate::domain::Provider;
use crate::providers::clickpesa::test_fixtures::{config, reply, token};

fn ok<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e| unreachable!("{e}"))
}

fn order() -> ControlNumberRequest {
    ControlNumberRequest {
        kind: Some(ControlNumberKind::Order),
        reference: Some("INV2024".to_owned()),
        amount: Some("15000.50".to_owned()),
        description: Some("Water bill".to_owned()),
        payment_mode: Some(BillPaymentMode::Exact),
        ..ControlNumberRequest::default()
    }
}

fn customer() -> ControlNumberRequest {
    ControlNumberRequest {
        kind: Some(ControlNumberKind::Customer),
        customer_name: Some("Asha Mwinyi".to_owned()),
        customer_email: Some("asha@example.com".to_owned()),
        customer_phone: Some("255712345678".to_owned()),
        ..ControlNumberRequest::default()
    }
}

fn body(request: &HttpRequest) -> String {
    String::from_utf8_lossy(&request.body).into_owned()
}

#[test]
fn the_order_request_is_exact_with_the_amount_a_json_number_and_no_checksum() {
    for key in [None, Some("checksum-secret")] {
        let checked = ok(validate_create(&order()));
        let request = ok(create_request(&config(key), &token(), &checked));
        assert_eq!(request.method, Method::Post);
        assert_eq!(
            request.url,
            "https://api.clickpesa.com/third-parties/billpay/create-order-control-number"
        );
        assert_eq!(request.header("authorization"), Some("Bearer eyJ.tok"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(
            body(&request),
            r#"{"billAmount":15000.5,"billDescription":"Water bill","billPaymentMode":"EXACT","billReference":"INV2024"}"#
        );
    }
}

#[test]
fn an_order_with_nothing_set_sends_an_empty_object() {
    let checked = ok(validate_create(&ControlNumberRequest {
        kind: Some(ControlNumberKind::Order),
        ..ControlNumberRequest::default()
    }));
    let request = ok(create_request(&config(None), &token(), &checked));
    assert_eq!(body(&request), "{}");
}

#[test]
fn the_customer_request_is_exact() {
    let mut wanted = customer();
    wanted.amount = Some("1000".to_owned());
    wanted.max_collection_amount = Some("2500.75".to_owned());
    let checked = ok(validate_create(&wanted));
    let request = ok(create_request(&config(None), &token(), &checked));
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/billpay/create-customer-control-number"
    );
    assert_eq!(
        body(&request),
        r#"{"billAmount":1000,"billMaxCollectionAmount":2500.75,"customerEmail":"asha@example.com","customerName":"Asha Mwinyi","customerPhone":"255712345678"}"#
    );
}

#[test]
fn the_read_request_is_a_get_without_a_body() {
    let request = ok(read_request(&config(None), &token(), "55042914871931"));
    assert_eq!(request.method, Method::Get);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/billpay/55042914871931"
    );
    assert!(request.body.is_empty());
    assert_eq!(request.header("content-type"), None);
    assert!(matches!(
        read_request(&config(None), &token(), "55/../x"),
        Err(Error::InvalidRequest { field, .. }) if field == "number"
    ));
}

#[test]
fn the_update_request_is_an_exact_patch() {
    let update = ControlNumberUpdate {
        status: Some(BillStatus::Inactive),
        amount: Some("0.01".to_owned()),
        description: Some("Paid elsewhere".to_owned()),
        ..ControlNumberUpdate::default()
    };
    let checked = ok(validate_update("55042914871931", &update));
    let request = ok(update_request(&config(Some("k")), &token(), &checked));
    assert_eq!(request.method, Method::Patch);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/billpay/55042914871931"
    );
    assert_eq!(
        body(&request),
        r#"{"billAmount":0.01,"billDescription":"Paid elsewhere","billStatus":"INACTIVE"}"#
    );
}

#[test]
fn creations_are_checked_field_by_field() {
    type Mutation = fn(&mut ControlNumberRequest);
    let cases: [(&str, Mutation); 17] = [
        ("kind", |r| r.kind = None),
        ("reference", |r| r.reference = Some("INV-1".to_owned())),
        ("reference", |r| r.reference = Some(String::new())),
        ("amount", |r| r.amount = Some("0".to_owned())),
        ("amount", |r| r.amount = Some("1.005".to_owned())),
        ("amount", |r| r.amount = Some("1e3".to_owned())),
        ("description", |r| r.description = Some("x".repeat(501))),
        ("description", |r| r.description = Some("  ".to_owned())),
        ("payment_mode", |r| r.amount = None),
        ("max_collection_amount", |r| {
            r.max_collection_amount = Some("20000".to_owned());
        }),
        ("max_collection_amount", |r| {
            r.payment_mode = None;
            r.max_collection_amount = Some("100".to_owned());
        }),
        ("max_collection_amount", |r| {
            r.payment_mode = None;
            r.max_collection_amount = Some("abc".to_owned());
        }),
        ("customer_name", |r| r.customer_name = Some("A".to_owned())),
        ("customer_email", |r| {
            r.customer_email = Some("a@b.co".to_owned())
        }),
        ("customer_phone", |r| {
            r.customer_phone = Some("255712345678".to_owned())
        }),
        ("customer_name", |r| {
            r.kind = Some(ControlNumberKind::Customer);
            r.customer_email = Some("a@b.co".to_owned());
        }),
        ("customer_email", |r| {
            r.kind = Some(ControlNumberKind::Customer);
            r.customer_name = Some("Asha".to_owned());
        }),
    ];
    for (field, mutate) in cases {
        let mut request = order();
        mutate(&mut request);
        match validate_create(&request) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field, "{request:?}"),
            other => unreachable!("{field}: {other:?}"),
        }
    }
    let customer_cases: [(&str, Mutation); 4] = [
        ("customer_name", |r| r.customer_name = None),
        ("customer_email", |r| {
            r.customer_email = Some("nope".to_owned())
        }),
        ("customer_phone", |r| {
            r.customer_phone = Some("+255712345678".to_owned())
        }),
        ("customer_email", |r| {
            r.customer_email = None;
            r.customer_phone = None;
        }),
    ];
    for (field, mutate) in customer_cases {
        let mut request = customer();
        mutate(&mut request);
        match validate_create(&request) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("{field}: {other:?}"),
        }
    }
    let mut phone_only = customer();
    phone_only.customer_email = None;
    assert!(validate_create(&phone_only).is_ok());
}

#[test]
fn updates_are_checked_field_by_field() {
    let empty = ControlNumberUpdate::default();
    assert!(matches!(
        validate_update("5504", &empty),
        Err(Error::InvalidRequest { field, .. }) if field == "status"
    ));
    let with = |f: fn(&mut ControlNumberUpdate)| {
        let mut update = ControlNumberUpdate {
            status: Some(BillStatus::Active),
            ..ControlNumberUpdate::default()
        };
        f(&mut update);
        update
    };
    let cases: [(&str, &str, ControlNumberUpdate); 5] = [
        ("number", "55 04", with(|_| {})),
        (
            "amount",
            "5504",
            with(|u| u.amount = Some("0.00".to_owned())),
        ),
        ("amount", "5504", with(|u| u.amount = Some("-1".to_owned()))),
        (
            "description",
            "5504",
            with(|u| u.description = Some("é".repeat(501))),
        ),
        (
            "max_collection_amount",
            "5504",
            with(|u| {
                u.payment_mode = Some(BillPaymentMode::Exact);
                u.max_collection_amount = Some("10".to_owned());
            }),
        ),
    ];
    for (field, number, update) in cases {
        match validate_update(number, &update) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("{field}: {other:?}"),
        }
    }
    assert!(validate_update("5504", &with(|u| u.description = Some("é".repeat(500)))).is_ok());
}

#[test]
fn every_reply_shape_is_read() {
    let created = ok(parse_control_number(&reply(
        200,
        r#"{"billPayNumber":"55042914871931","billDescription":"Water bill","billAmount":15000.5,"billPaymentMode":"EXACT"}"#,
    )));
    assert_eq!(
        created,
        ControlNumber {
            provider: Provider::Clickpesa,
            number: "55042914871931".to_owned(),
            status: None,
            amount: Some("15000.50".to_owned()),
            description: Some("Water bill".to_owned()),
            customer_name: None,
            payment_mode: Some(BillPaymentMode::Exact),
            max_collection_amount: None,
        }
    );
    let customer = ok(parse_control_number(&reply(
        201,
        r#"{"billPayNumber":"55049988","billCustomerName":"Asha Mwinyi","billAmount":null,"billPaymentMode":"ALLOW_PARTIAL_AND_OVER_PAYMENT"}"#,
    )));
    assert_eq!(customer.customer_name.as_deref(), Some("Asha Mwinyi"));
    assert_eq!(customer.amount, None);
    assert_eq!(
        customer.payment_mode,
        Some(BillPaymentMode::AllowPartialAndOverPayment)
    );
    let detail = ok(parse_control_number(&reply(
        200,
        r#"{"billPayNumber":"55042914871931","billStatus":"INACTIVE","billAmount":"2000","billDescription":"x","billPaymentMode":"ALLOW_PARTIAL_AND_OVER_PAYMENT","billMaxCollectionAmount":5000,"clientId":"ID1"}"#,
    )));
    assert_eq!(detail.status, Some(BillStatus::Inactive));
    assert_eq!(detail.amount.as_deref(), Some("2000.00"));
    assert_eq!(detail.max_collection_amount.as_deref(), Some("5000.00"));
    for bad in [
        r#"[]"#,
        r#"{"billAmount":1}"#,
        r#"{"billPayNumber":""}"#,
        "<html>",
    ] {
        assert!(
            matches!(
                parse_control_number(&reply(200, bad)),
                Err(Error::UnreadableReply { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn the_documented_refusals_are_typed() {
    let refusal = |status: u16, body: &str| match parse_control_number(&reply(status, body)) {
        Err(Error::Provider(refusal)) => refusal,
        other => unreachable!("{other:?}"),
    };
    let reused = refusal(
        409,
        r#"{"message":"Bill reference already used: Use a different reference"}"#,
    );
    assert_eq!(reused.http_status, 409);
    assert_eq!(reused.code.as_deref(), Some("bill_reference_already_used"));
    assert_eq!(
        reused.message,
        "Bill reference already used: Use a different reference"
    );
    let unknown = refusal(404, r#"{"message":"BillPay Number does not exist"}"#);
    assert_eq!(unknown.code.as_deref(), Some("billpay_number_not_found"));
    assert_eq!(unknown.message, "BillPay Number does not exist");
    let nest = refusal(
        400,
        r#"{"statusCode":400,"message":["billAmount must not be less than 0.01"],"error":"Bad Request"}"#,
    );
    assert_eq!(nest.code.as_deref(), Some("Bad Request"));
    assert_eq!(nest.message, "billAmount must not be less than 0.01");
    assert!(matches!(
        parse_control_number(&reply(401, r#"{"message":"Unauthorized"}"#)),
        Err(Error::Authentication { .. })
    ));
    assert!(matches!(
        parse_control_number(&reply(502, "<html>bad gateway</html>")),
        Err(Error::UnreadableReply { .. })
    ));
}
