//! The listing: the exact query string, the validation table, the
//! `{data, totalCount}` reply, errors, and the flow (token, then the list;
//! PesaPal and M-Pesa answer `unsupported` without a call).

use super::super::{ApiKey, ClickpesaConfig, ClientId};
use super::*;
use crate::domain::{PaymentStatus, Provider};
use crate::error::ProviderError;
use crate::flow::Finconnect;
use crate::providers::clickpesa::test_fixtures::{reply, token};
use crate::secret::Secret;
use crate::transport::scripted::Scripted;
use std::collections::BTreeMap;

type Mutation = fn(&mut ProviderPaymentQuery);

fn config() -> ClickpesaConfig {
    ClickpesaConfig {
        base_url: "https://api.clickpesa.com/third-parties".to_owned(),
        client_id: ClientId(Secret::new("canary-client")),
        api_key: ApiKey(Secret::new("canary-api-key")),
        checksum_key: None,
    }
}

fn ok<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e| unreachable!("{e}"))
}

fn full() -> ProviderPaymentQuery {
    ProviderPaymentQuery {
        start_date: Some("2026-01-01".to_owned()),
        end_date: Some("2026-01-31".to_owned()),
        status: Some("success".to_owned()),
        currency: Some("TZS".to_owned()),
        channel: Some("TIGO-PESA".to_owned()),
        reference: Some("ORDER1".to_owned()),
        sort_by: Some("customer.customerName".to_owned()),
        order: Some(SortOrder::Ascending),
        skip: Some(40),
        limit: Some(20),
    }
}

#[test]
fn the_list_request_is_exact() {
    let bare = ok(list_request(
        &config(),
        &token(),
        &ok(validate_list(&ProviderPaymentQuery::default())),
    ));
    assert_eq!(bare.method, Method::Get);
    assert_eq!(
        bare.url,
        "https://api.clickpesa.com/third-parties/payments/all"
    );
    assert_eq!(bare.header("authorization"), Some("Bearer eyJ.tok"));
    assert!(bare.body.is_empty());
    let filtered = ok(list_request(
        &config(),
        &token(),
        &ok(validate_list(&full())),
    ));
    assert_eq!(
        filtered.url,
        "https://api.clickpesa.com/third-parties/payments/all?startDate=2026-01-01&endDate=2026-01-31\
         &status=SUCCESS&collectedCurrency=TZS&channel=TIGO-PESA&orderReference=ORDER1\
         &sortBy=customer.customerName&orderBy=ASC&skip=40&limit=20"
    );
    let spaced = ProviderPaymentQuery {
        channel: Some("BANK TRANSFER".to_owned()),
        ..ProviderPaymentQuery::default()
    };
    let request = ok(list_request(
        &config(),
        &token(),
        &ok(validate_list(&spaced)),
    ));
    assert!(
        request.url.ends_with("?channel=BANK+TRANSFER"),
        "{}",
        request.url
    );
}

#[test]
fn list_validation_names_the_field() {
    let cases: [(Mutation, &str); 12] = [
        (|q| q.start_date = Some("2026-1-01".into()), "start_date"),
        (|q| q.start_date = Some("2026-13-01".into()), "start_date"),
        (|q| q.end_date = Some("yesterday".into()), "end_date"),
        (|q| q.end_date = Some("2025-12-31".into()), "end_date"),
        (|q| q.status = Some("PAID".into()), "status"),
        (|q| q.currency = Some("tzs".into()), "currency"),
        (|q| q.channel = Some("a&b=c".into()), "channel"),
        (|q| q.reference = Some("ORDER-1".into()), "reference"),
        (|q| q.sort_by = Some(String::new()), "sort_by"),
        (|q| q.limit = Some(0), "limit"),
        (|q| q.limit = Some(101), "limit"),
        (|q| q.skip = Some(u64::MAX), "skip"),
    ];
    for (mutate, field) in cases {
        let mut query = full();
        mutate(&mut query);
        match validate_list(&query) {
            Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
            other => unreachable!("expected {field}: {other:?}"),
        }
    }
}

#[test]
fn the_reply_is_data_and_total_count() {
    let page = parse_list(&reply(
        200,
        r#"{"data":[{"id":"ORDER1LCP1","status":"SUCCESS","orderReference":"ORDER1","collectedAmount":1000,"collectedCurrency":"TZS","channel":"TIGO-PESA","paymentReference":"R1","exchanged":false},{"id":"ORDER2LCP2","status":"FAILED","orderReference":"ORDER2","collectedAmount":"250.5","collectedCurrency":"TZS","message":"Insufficient balance","exchange":{"sourceCurrency":"USD","targetCurrency":"TZS","sourceAmount":"1","rate":"2500"}}],"totalCount":42}"#,
    ));
    let page = ok(page);
    assert_eq!(page.provider, Provider::Clickpesa);
    assert_eq!(page.total_count, 42);
    assert_eq!(page.payments.len(), 2);
    assert_eq!(page.payments[0].status, PaymentStatus::Completed);
    assert_eq!(page.payments[0].amount.as_deref(), Some("1000.00"));
    assert_eq!(page.payments[0].confirmation_code.as_deref(), Some("R1"));
    assert_eq!(page.payments[1].status, PaymentStatus::Failed);
    assert_eq!(page.payments[1].amount.as_deref(), Some("250.50"));
    assert_eq!(
        page.payments[1].description.as_deref(),
        Some("Insufficient balance")
    );
    let empty = ok(parse_list(&reply(200, r#"{"data":[],"totalCount":"0"}"#)));
    assert_eq!((empty.payments.len(), empty.total_count), (0, 0));
    for body in [
        r#"[]"#,
        r#"{"totalCount":1}"#,
        r#"{"data":{},"totalCount":1}"#,
        r#"{"data":[1],"totalCount":1}"#,
        r#"{"data":[]}"#,
        r#"{"data":[],"totalCount":-1}"#,
    ] {
        assert!(
            matches!(
                parse_list(&reply(200, body)),
                Err(Error::UnreadableReply { .. })
            ),
            "{body}"
        );
    }
    assert_eq!(
        parse_list(&reply(
            400,
            r#"{"statusCode":400,"message":["limit must not be less than 1"],"error":"Bad Request"}"#
        )),
        Err(Error::Provider(ProviderError {
            provider: Provider::Clickpesa,
            http_status: 400,
            code: Some("Bad Request".to_owned()),
            message: "limit must not be less than 1".to_owned(),
        }))
    );
    assert!(matches!(
        parse_list(&reply(401, r#"{"message":"Unauthorized"}"#)),
        Err(Error::Authentication { .. })
    ));
}

#[test]
fn the_flow_asks_for_a_token_then_lists_and_others_are_unsupported() {
    let vars: BTreeMap<String, String> = [
        ("clickpesa_base_url", "http://127.0.0.1:9/third-parties"),
        ("clickpesa_client_id", "canary-cp-client"),
        ("clickpesa_api_key", "canary-cp-api-key"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut transport = Scripted::new(vec![
        Ok((200, r#"{"success":true,"token":"Bearer canary-token"}"#)),
        Ok((200, r#"{"data":[],"totalCount":0}"#)),
    ]);
    let query = ProviderPaymentQuery {
        limit: Some(5),
        ..ProviderPaymentQuery::default()
    };
    let page =
        Finconnect::new(&vars, &mut transport).list_provider_payments(Provider::Clickpesa, &query);
    assert_eq!(page.map(|p| p.total_count), Ok(0));
    assert_eq!(
        transport.paths(),
        [
            "POST /third-parties/generate-token",
            "GET /third-parties/payments/all"
        ]
    );
    for provider in [Provider::Pesapal, Provider::Mpesa] {
        let mut transport = Scripted::new(vec![]);
        match Finconnect::new(&vars, &mut transport).list_provider_payments(provider, &query) {
            Err(Error::Unsupported { operation, .. }) => {
                assert_eq!(operation, "list-provider-payments");
            }
            other => unreachable!("{other:?}"),
        }
        assert!(transport.seen.is_empty());
    }
    let mut transport = Scripted::new(vec![]);
    let bad = ProviderPaymentQuery {
        limit: Some(0),
        ..ProviderPaymentQuery::default()
    };
    assert!(matches!(
        Finconnect::new(&vars, &mut transport).list_provider_payments(Provider::Clickpesa, &bad),
        Err(Error::InvalidRequest { .. })
    ));
    assert!(transport.seen.is_empty());
}
