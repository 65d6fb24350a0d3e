use super::*;
use crate::domain::{Customer, NotificationType, PaymentStatus};
use crate::transport::scripted::Scripted;
use std::collections::BTreeMap;

const CANARIES: [&str; 5] = [
    "canary-pp-key",
    "canary-pp-secret",
    "canary-cp-client",
    "canary-cp-api-key",
    "canary-token",
];

fn vars() -> BTreeMap<String, String> {
    [
        ("pesapal_base_url", "http://127.0.0.1:9/pesapalv3"),
        ("pesapal_consumer_key", CANARIES[0]),
        ("pesapal_consumer_secret", CANARIES[1]),
        ("clickpesa_base_url", "http://127.0.0.1:9/third-parties"),
        ("clickpesa_client_id", CANARIES[2]),
        ("clickpesa_api_key", CANARIES[3]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn pesapal_request() -> PaymentRequest {
    PaymentRequest {
        reference: "ORD-1".to_owned(),
        amount: "1500.00".to_owned(),
        currency: "KES".to_owned(),
        description: Some("Order 1".to_owned()),
        customer: Customer {
            email: Some("jane@example.com".to_owned()),
            ..Customer::default()
        },
        callback_url: Some("https://shop.example/return".to_owned()),
        notification_id: Some("1da86d1c-1e8c-4183-bdfd-dd759463e4ce".to_owned()),
        ..PaymentRequest::default()
    }
}

fn clickpesa_request() -> PaymentRequest {
    PaymentRequest {
        reference: "ORDER1".to_owned(),
        amount: "1000".to_owned(),
        currency: "TZS".to_owned(),
        customer: Customer {
            phone: Some("255712345678".to_owned()),
            ..Customer::default()
        },
        ..PaymentRequest::default()
    }
}

const PP_TOKEN: &str = r#"{"token":"canary-token","expiryDate":"2030-01-01T00:00:00.0000000Z","error":null,"status":"200"}"#;
const PP_BAD_CREDS: &str = r#"{"error":{"error_type":"api_error","code":"invalid_consumer_key_or_secret_provided","message":""},"status":"500"}"#;
const PP_ORDER: &str = r#"{"order_tracking_id":"96a5e1d9-f711-4423-82ce-dd758f972713","merchant_reference":"ORD-1","redirect_url":"https://pay.example/?OrderTrackingId=96a5e1d9","error":null,"status":"200"}"#;
const CP_TOKEN: &str = r#"{"success":true,"token":"Bearer canary-token"}"#;
const CP_PUSH: &str = r#"{"id":"ORDER1LCP1","status":"PROCESSING","orderReference":"ORDER1","collectedAmount":"1000","collectedCurrency":"TZS","clientId":"canary-cp-client"}"#;

fn assert_no_canary(text: &str) {
    for canary in CANARIES {
        assert!(!text.contains(canary), "{canary} leaked into {text}");
    }
}

#[test]
fn pesapal_pay_fetches_a_token_then_submits_the_order() {
    let vars = vars();
    let mut transport = Scripted::new(vec![Ok((200, PP_TOKEN)), Ok((200, PP_ORDER))]);
    let payment = Finconnect::new(&vars, &mut transport).pay(Provider::Pesapal, &pesapal_request());
    assert_eq!(payment.map(|p| p.status), Ok(PaymentStatus::Pending));
    assert_eq!(
        transport.paths(),
        [
            "POST /pesapalv3/api/Auth/RequestToken",
            "POST /pesapalv3/api/Transactions/SubmitOrderRequest"
        ]
    );
    let auth = transport.seen[1].header("authorization");
    assert_eq!(auth, Some("Bearer canary-token"));
}

#[test]
fn a_fresh_token_is_fetched_for_every_call() {
    let vars = vars();
    let mut transport = Scripted::new(vec![
        Ok((200, PP_TOKEN)),
        Ok((200, PP_ORDER)),
        Ok((200, PP_TOKEN)),
        Ok((200, PP_ORDER)),
    ]);
    let mut fc = Finconnect::new(&vars, &mut transport);
    assert!(fc.pay(Provider::Pesapal, &pesapal_request()).is_ok());
    assert!(fc.pay(Provider::Pesapal, &pesapal_request()).is_ok());
    let tokens = transport
        .paths()
        .iter()
        .filter(|p| p.ends_with("RequestToken"))
        .count();
    assert_eq!(tokens, 2);
}

#[test]
fn a_failed_token_step_never_reaches_the_api_call() {
    let vars = vars();
    let mut transport = Scripted::new(vec![Ok((200, PP_BAD_CREDS))]);
    let result = Finconnect::new(&vars, &mut transport).pay(Provider::Pesapal, &pesapal_request());
    assert!(matches!(
        result,
        Err(Error::Authentication {
            provider: Provider::Pesapal,
            ..
        })
    ));
    assert_eq!(transport.seen.len(), 1);

    let mut transport = Scripted::new(vec![Ok((403, r#"{"message":"Invalid client details"}"#))]);
    let result =
        Finconnect::new(&vars, &mut transport).pay(Provider::Clickpesa, &clickpesa_request());
    assert!(matches!(
        result,
        Err(Error::Authentication {
            provider: Provider::Clickpesa,
            ..
        })
    ));
    assert_eq!(transport.seen.len(), 1);
}

#[test]
fn clickpesa_pay_sends_the_token_verbatim() {
    let vars = vars();
    let mut transport = Scripted::new(vec![Ok((200, CP_TOKEN)), Ok((200, CP_PUSH))]);
    let payment =
        Finconnect::new(&vars, &mut transport).pay(Provider::Clickpesa, &clickpesa_request());
    assert_eq!(payment.map(|p| p.tracking_id), Ok("ORDER1LCP1".to_owned()));
    assert_eq!(
        transport.paths(),
        [
            "POST /third-parties/generate-token",
            "POST /third-parties/payments/initiate-ussd-push-request"
        ]
    );
    let auth = transport.seen[1].header("authorization");
    assert_eq!(auth, Some("Bearer canary-token"));
}

#[test]
fn invalid_requests_and_missing_variables_make_no_call() {
    let vars = vars();
    let mut transport = Scripted::new(vec![]);
    let mut bad = pesapal_request();
    bad.amount = "12.345".to_owned();
    let mut fc = Finconnect::new(&vars, &mut transport);
    assert!(matches!(
        fc.pay(Provider::Pesapal, &bad),
        Err(Error::InvalidRequest { field, .. }) if field == "amount"
    ));
    let mut partial = vars.clone();
    partial.remove("clickpesa_api_key");
    let mut fc = Finconnect::new(&partial, &mut transport);
    assert_eq!(
        fc.pay(Provider::Clickpesa, &clickpesa_request())
            .map(|p| p.reference),
        Err(Error::config("clickpesa_api_key", "is not set"))
    );
    assert!(transport.seen.is_empty());
}

#[test]
fn transport_failures_are_typed_and_a_payment_is_never_retried() {
    let vars = vars();
    let mut transport = Scripted::new(vec![
        Ok((200, PP_TOKEN)),
        Err(TransportError::Timeout(
            "first byte after 20000 ms".to_owned(),
        )),
    ]);
    let result = Finconnect::new(&vars, &mut transport).pay(Provider::Pesapal, &pesapal_request());
    assert!(matches!(
        result,
        Err(Error::Timeout {
            provider: Provider::Pesapal,
            ..
        })
    ));
    assert_eq!(transport.seen.len(), 2, "the order must not be sent twice");

    let mut transport = Scripted::new(vec![Err(TransportError::Failed(
        "connection refused".to_owned(),
    ))]);
    let result =
        Finconnect::new(&vars, &mut transport).pay(Provider::Clickpesa, &clickpesa_request());
    assert_eq!(
        result.map(|p| p.reference),
        Err(Error::Transport {
            provider: Provider::Clickpesa,
            message: "connection refused".to_owned()
        })
    );
}

#[test]
fn clickpesa_register_ipn_is_unsupported_without_a_call() {
    let vars = vars();
    let mut transport = Scripted::new(vec![]);
    let request = IpnRequest {
        url: "https://shop.example/ipn".to_owned(),
        notification_type: NotificationType::Post,
    };
    let result = Finconnect::new(&vars, &mut transport).register_ipn(Provider::Clickpesa, &request);
    match result {
        Err(error @ Error::Unsupported { .. }) => assert!(error.to_string().contains("dashboard")),
        other => unreachable!("{other:?}"),
    }
    assert!(transport.seen.is_empty());
}

#[test]
fn status_flows_hit_the_documented_endpoints() {
    let vars = vars();
    let mut transport = Scripted::new(vec![
        Ok((200, PP_TOKEN)),
        Ok((
            200,
            r#"{"status_code":1,"amount":1500,"currency":"KES","error":null,"status":"200"}"#,
        )),
        Ok((200, CP_TOKEN)),
        Ok((
            200,
            r#"[{"id":"ORDER1LCP1","status":"SETTLED","orderReference":"ORDER1"}]"#,
        )),
    ]);
    let mut fc = Finconnect::new(&vars, &mut transport);
    let pesapal = fc.payment_status(Provider::Pesapal, "96a5e1d9-f711-4423-82ce-dd758f972713");
    assert_eq!(pesapal.map(|d| d.status), Ok(PaymentStatus::Completed));
    let clickpesa = fc.payment_status(Provider::Clickpesa, "ORDER1");
    assert_eq!(clickpesa.map(|d| d.status), Ok(PaymentStatus::Completed));
    assert_eq!(
        transport.paths(),
        [
            "POST /pesapalv3/api/Auth/RequestToken",
            "GET /pesapalv3/api/Transactions/GetTransactionStatus",
            "POST /third-parties/generate-token",
            "GET /third-parties/payments/ORDER1"
        ]
    );
}

#[test]
fn a_clickpesa_webhook_says_how_it_was_checked() {
    use crate::providers::clickpesa::checksum;
    let unsigned =
        br#"{"event":"PAYMENT RECEIVED","data":{"orderReference":"W1","status":"SUCCESS"}}"#;
    let status = r#"[{"id":"W1LCP1","status":"SUCCESS","orderReference":"W1","collectedAmount":1000,"collectedCurrency":"TZS"}]"#;
    let check_with = |vars: &BTreeMap<String, String>, body: &[u8], script| {
        let incoming = Incoming {
            method: "POST",
            query: None,
            headers: &[],
            body,
        };
        let mut transport = Scripted::new(script);
        let notified =
            Finconnect::new(vars, &mut transport).notification(Provider::Clickpesa, &incoming);
        let paths = transport.paths();
        (
            notified.map(|notified| (notified.check, notified.outcome.map(|d| d.status))),
            paths,
        )
    };
    let check = |vars: &BTreeMap<String, String>, body: &[u8]| {
        let (notified, paths) = check_with(vars, body, Vec::new());
        assert!(paths.is_empty(), "a signed webhook calls no provider");
        notified
    };

    // Without a key the webhook is only a hint: ClickPesa is asked.
    let (notified, paths) = check_with(
        &vars(),
        unsigned,
        vec![Ok((200, r#"{"token":"Bearer t"}"#)), Ok((200, status))],
    );
    assert_eq!(
        notified,
        Ok((Check::StatusQuery, Ok(PaymentStatus::Completed)))
    );
    assert_eq!(
        paths,
        [
            "POST /third-parties/generate-token",
            "GET /third-parties/payments/W1"
        ]
    );

    let mut keyed = vars();
    keyed.insert(
        "clickpesa_checksum_key".to_owned(),
        "webhook-key".to_owned(),
    );
    let signature = checksum::Value::parse(unsigned)
        .ok()
        .and_then(|tree| checksum::compute(b"webhook-key", &tree).ok())
        .unwrap_or_default();
    let mut signed: serde_json::Value = serde_json::from_slice(unsigned).unwrap_or_default();
    signed["checksum"] = serde_json::Value::String(signature);
    let signed = signed.to_string();
    assert_eq!(
        check(&keyed, signed.as_bytes()),
        Ok((Check::Signature, Ok(PaymentStatus::Completed)))
    );
    assert!(matches!(
        check(&keyed, unsigned),
        Err(NotificationError::Unverified {
            field: "checksum",
            ..
        })
    ));
}

#[test]
fn canary_credentials_never_appear_in_errors() {
    let vars = vars();
    let scripts: Vec<Vec<std::result::Result<(u16, &str), TransportError>>> = vec![
        vec![Ok((200, PP_BAD_CREDS))],
        vec![Ok((200, PP_TOKEN)), Ok((500, "<html>canary-token</html>"))],
        vec![
            Ok((200, PP_TOKEN)),
            Ok((
                401,
                r#"{"error":{"error_type":"authentication_error","code":"invalid_api_credentials_provided","message":"Invalid Access Token"}}"#,
            )),
        ],
        vec![Err(TransportError::Failed("refused".to_owned()))],
    ];
    for script in scripts {
        let mut transport = Scripted::new(script);
        let error = Finconnect::new(&vars, &mut transport)
            .pay(Provider::Pesapal, &pesapal_request())
            .err();
        assert!(error.is_some());
        assert_no_canary(&format!("{error:?}"));
        assert_no_canary(&error.map(|e| e.to_string()).unwrap_or_default());
    }
    for script in [
        vec![Ok((403, r#"{"message":"Invalid client details"}"#))],
        vec![
            Ok((200, CP_TOKEN)),
            Ok((409, r#"{"message":"Order reference ORDER1 already used"}"#)),
        ],
    ] {
        let mut transport = Scripted::new(script);
        let error = Finconnect::new(&vars, &mut transport)
            .pay(Provider::Clickpesa, &clickpesa_request())
            .err();
        assert_no_canary(&format!("{error:?}"));
    }
    let config = crate::providers::pesapal::PesapalConfig::load(&vars);
    assert_no_canary(&format!("{config:?}"));
}

/// The opt-in token cache (compiled in with the `token-cache` feature).
#[cfg(feature = "token-cache")]
mod with_the_token_cache {
    use super::*;
    use crate::token_cache::TokenStore;

    /// An in-memory token store, as Spin's key-value store would be.
    #[derive(Default)]
    struct MemoryStore(BTreeMap<String, Vec<u8>>);

    impl TokenStore for MemoryStore {
        fn get(&mut self, key: &str) -> Option<Vec<u8>> {
            self.0.get(key).cloned()
        }
        fn set(&mut self, key: &str, value: &[u8]) {
            self.0.insert(key.to_owned(), value.to_vec());
        }
        fn delete(&mut self, key: &str) {
            self.0.remove(key);
        }
    }

    /// 2027-01-15: before the scripted tokens' 2030 expiry.
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn with_the_cache_a_warm_pay_is_one_round_trip() {
        let vars = vars();
        let mut store = MemoryStore::default();
        let mut transport = Scripted::new(vec![
            Ok((200, PP_TOKEN)),
            Ok((200, PP_ORDER)),
            Ok((200, PP_ORDER)),
        ]);
        for _ in 0..2 {
            let mut fc = Finconnect::new(&vars, &mut transport).with_token_cache(&mut store, NOW);
            assert!(fc.pay(Provider::Pesapal, &pesapal_request()).is_ok());
        }
        assert_eq!(
            transport.paths(),
            [
                "POST /pesapalv3/api/Auth/RequestToken",
                "POST /pesapalv3/api/Transactions/SubmitOrderRequest",
                "POST /pesapalv3/api/Transactions/SubmitOrderRequest"
            ]
        );
        // The stored token is keyed by a digest, never by a credential.
        assert_eq!(store.0.len(), 1);
        for key in store.0.keys() {
            assert_no_canary(key);
        }
    }

    #[test]
    fn a_stale_cached_token_is_refetched() {
        let vars = vars();
        let mut store = MemoryStore::default();
        let mut transport = Scripted::new(vec![
            Ok((200, CP_TOKEN)),
            Ok((200, CP_PUSH)),
            Ok((200, CP_TOKEN)),
            Ok((200, CP_PUSH)),
        ]);
        let mut fc = Finconnect::new(&vars, &mut transport).with_token_cache(&mut store, NOW);
        assert!(fc.pay(Provider::Clickpesa, &clickpesa_request()).is_ok());
        let later = NOW + 3600;
        let mut fc = Finconnect::new(&vars, &mut transport).with_token_cache(&mut store, later);
        assert!(fc.pay(Provider::Clickpesa, &clickpesa_request()).is_ok());
        assert_eq!(transport.seen.len(), 4);
    }

    #[test]
    fn a_rejected_cached_token_is_dropped_and_the_call_retried_once() {
        let vars = vars();
        let mut store = MemoryStore::default();
        let rejected = r#"{"error":{"error_type":"authentication_error","code":"invalid_api_credentials_provided","message":"Invalid Access Token"},"status":null}"#;
        let mut transport = Scripted::new(vec![
            Ok((200, PP_TOKEN)),
            Ok((200, PP_ORDER)),
            Ok((401, rejected)),
            Ok((200, PP_TOKEN)),
            Ok((200, PP_ORDER)),
        ]);
        for _ in 0..2 {
            let mut fc = Finconnect::new(&vars, &mut transport).with_token_cache(&mut store, NOW);
            assert!(fc.pay(Provider::Pesapal, &pesapal_request()).is_ok());
        }
        assert_eq!(transport.seen.len(), 5);

        // A fresh token that is rejected is not retried: that is a real
        // authentication failure.
        let mut store = MemoryStore::default();
        let mut transport = Scripted::new(vec![Ok((200, PP_TOKEN)), Ok((401, rejected))]);
        let mut fc = Finconnect::new(&vars, &mut transport).with_token_cache(&mut store, NOW);
        assert!(matches!(
            fc.pay(Provider::Pesapal, &pesapal_request()),
            Err(Error::Authentication { .. })
        ));
        assert_eq!(transport.seen.len(), 2);
    }

    #[test]
    fn two_credential_sets_never_share_a_cached_token() {
        let vars_a = vars();
        let mut vars_b = vars();
        vars_b.insert(
            "pesapal_consumer_key".to_owned(),
            "other-merchant".to_owned(),
        );
        let mut store = MemoryStore::default();
        let mut transport = Scripted::new(vec![
            Ok((200, PP_TOKEN)),
            Ok((200, PP_ORDER)),
            Ok((200, PP_TOKEN)),
            Ok((200, PP_ORDER)),
        ]);
        for vars in [&vars_a, &vars_b] {
            let mut fc = Finconnect::new(vars, &mut transport).with_token_cache(&mut store, NOW);
            assert!(fc.pay(Provider::Pesapal, &pesapal_request()).is_ok());
        }
        let tokens = transport
            .paths()
            .iter()
            .filter(|p| p.ends_with("RequestToken"))
            .count();
        assert_eq!(tokens, 2);
        assert_eq!(store.0.len(), 2);
    }
}

mod mpesa {
    use super::*;
    use crate::connector::Incoming;

    /// 2026-12-06 09:30:00 UTC: 12:30:00 in East Africa Time.
    const NOW: u64 = 1_796_549_400;

    fn vars() -> BTreeMap<String, String> {
        [
            ("mpesa_base_url", "http://127.0.0.1:9/daraja"),
            ("mpesa_consumer_key", "canary-mp-key"),
            ("mpesa_consumer_secret", "canary-mp-secret"),
            (
                "mpesa_passkey",
                "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
            ),
            ("mpesa_shortcode", "174379"),
            (
                "mpesa_callback_url",
                "https://shop.example/notifications/mpesa",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub(super) fn vars_for_hints() -> BTreeMap<String, String> {
        vars()
    }

    pub(super) fn request_for_hints() -> PaymentRequest {
        request()
    }

    fn request() -> PaymentRequest {
        PaymentRequest {
            reference: "ORDER1".to_owned(),
            amount: "100".to_owned(),
            currency: "KES".to_owned(),
            customer: Customer {
                phone: Some("0708374149".to_owned()),
                ..Customer::default()
            },
            ..PaymentRequest::default()
        }
    }

    const TOKEN: &str = r#"{"access_token":"canary-token","expires_in":"3599"}"#;
    const PUSHED: &str = r#"{"MerchantRequestID":"ac7b-1","CheckoutRequestID":"ws_CO_06122026123000123708374149","ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}"#;
    const BAD_TOKEN: &str =
        r#"{"requestId":"r-1","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}"#;
    const PAID: &str = r#"{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successfully","MerchantRequestID":"ac7b-1","CheckoutRequestID":"ws_CO_06122026123000123708374149","ResultCode":"0","ResultDesc":"The service request is processed successfully."}"#;

    #[test]
    fn pay_fetches_a_token_then_pushes_signed_with_the_time_passed_in() {
        let vars = vars();
        let mut transport = Scripted::new(vec![Ok((200, TOKEN)), Ok((200, PUSHED))]);
        let payment = Finconnect::new(&vars, &mut transport)
            .at(NOW)
            .pay(Provider::Mpesa, &request());
        assert_eq!(
            payment.map(|p| (p.tracking_id, p.redirect_url)),
            Ok(("ws_CO_06122026123000123708374149".to_owned(), None))
        );
        assert_eq!(
            transport.paths(),
            [
                "GET /daraja/oauth/v1/generate",
                "POST /daraja/mpesa/stkpush/v1/processrequest"
            ]
        );
        let body: serde_json::Value =
            serde_json::from_slice(&transport.seen[1].body).unwrap_or_default();
        assert_eq!(body["Timestamp"], "20261206123000");
        assert_eq!(body["PhoneNumber"], "254708374149");
    }

    #[test]
    fn a_refused_fresh_token_earns_exactly_one_retry_with_a_new_token() {
        let vars = vars();
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((404, BAD_TOKEN)),
            Ok((200, TOKEN)),
            Ok((200, PUSHED)),
        ]);
        let payment = Finconnect::new(&vars, &mut transport)
            .at(NOW)
            .pay(Provider::Mpesa, &request());
        assert!(payment.is_ok(), "{payment:?}");
        assert_eq!(transport.seen.len(), 4);

        // Refused twice: the second refusal is the answer, with no third push.
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((404, BAD_TOKEN)),
            Ok((200, TOKEN)),
            Ok((404, BAD_TOKEN)),
            Ok((200, TOKEN)),
            Ok((200, PUSHED)),
        ]);
        let result = Finconnect::new(&vars, &mut transport)
            .at(NOW)
            .pay(Provider::Mpesa, &request());
        assert!(
            matches!(
                result,
                Err(Error::Authentication {
                    provider: Provider::Mpesa,
                    ..
                })
            ),
            "{result:?}"
        );
        assert_eq!(transport.seen.len(), 4);
    }

    #[test]
    fn other_refusals_and_ambiguous_failures_are_never_retried() {
        let vars = vars();
        let spike = r#"{"requestId":"r-2","errorCode":"500.003.02","errorMessage":"Error Occurred: Spike Arrest Violation"}"#;
        let mut transport = Scripted::new(vec![Ok((200, TOKEN)), Ok((500, spike))]);
        let result = Finconnect::new(&vars, &mut transport)
            .at(NOW)
            .pay(Provider::Mpesa, &request());
        assert!(matches!(result, Err(Error::Provider(_))), "{result:?}");
        assert_eq!(transport.seen.len(), 2);

        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Err(TransportError::Timeout("first byte".to_owned())),
        ]);
        let result = Finconnect::new(&vars, &mut transport)
            .at(NOW)
            .pay(Provider::Mpesa, &request());
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        assert_eq!(transport.seen.len(), 2);
    }

    #[test]
    fn a_missing_callback_url_costs_no_call() {
        let mut vars = vars();
        vars.remove("mpesa_callback_url");
        let mut transport = Scripted::new(vec![]);
        let result = Finconnect::new(&vars, &mut transport)
            .at(NOW)
            .pay(Provider::Mpesa, &request());
        assert!(
            matches!(&result, Err(Error::Configuration { variable, .. }) if variable == "mpesa_callback_url"),
            "{result:?}"
        );
        assert!(transport.seen.is_empty());
    }

    #[test]
    fn a_callback_is_believed_only_through_an_stk_query() {
        let vars = vars();
        // The callback claims a cancellation; the query says it was paid.
        let body = br#"{"Body":{"stkCallback":{"MerchantRequestID":"ac7b-1","CheckoutRequestID":"ws_CO_06122026123000123708374149","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}"#;
        let incoming = Incoming {
            method: "POST",
            query: None,
            headers: &[],
            body,
        };
        let mut transport = Scripted::new(vec![Ok((200, TOKEN)), Ok((200, PAID))]);
        let notified = Finconnect::new(&vars, &mut transport)
            .at(NOW)
            .notification(Provider::Mpesa, &incoming);
        let Ok(notified) = notified else {
            return assert!(notified.is_ok(), "{notified:?}");
        };
        assert_eq!(notified.check, Check::StatusQuery);
        assert_eq!(
            notified.outcome.map(|d| d.status),
            Ok(PaymentStatus::Completed)
        );
        assert_eq!(
            notified.response.body,
            br#"{"ResultCode":0,"ResultDesc":"Accepted"}"#
        );
        assert_eq!(
            transport.paths(),
            [
                "GET /daraja/oauth/v1/generate",
                "POST /daraja/mpesa/stkpushquery/v1/query"
            ]
        );

        // When the query cannot be made, the callback is not acknowledged.
        let mut transport = Scripted::new(vec![Err(TransportError::Failed("down".to_owned()))]);
        let notified = Finconnect::new(&vars, &mut transport)
            .at(NOW)
            .notification(Provider::Mpesa, &incoming);
        let Ok(notified) = notified else {
            return assert!(notified.is_ok(), "{notified:?}");
        };
        assert!(notified.outcome.is_err());
        let ack: serde_json::Value =
            serde_json::from_slice(&notified.response.body).unwrap_or_default();
        assert_ne!(ack["ResultCode"], 0);
    }
}

/// The token hint store against Daraja's "a new token invalidates the last
/// one": the other concurrent calls are played by the fake store, which
/// changes under the call at its reads, claims and pauses.
mod token_hints {
    use super::*;
    use crate::token_hints::TokenHints;

    const NOW: u64 = 1_796_549_400;
    const TOKEN: &str = r#"{"access_token":"own-token","expires_in":"3599"}"#;
    const NEXT_TOKEN: &str = r#"{"access_token":"next-token","expires_in":"3599"}"#;
    const PUSHED: &str = r#"{"MerchantRequestID":"ac7b-1","CheckoutRequestID":"ws_CO_06122026123000123708374149","ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}"#;
    const BAD_TOKEN: &str =
        r#"{"requestId":"r-1","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}"#;
    const SPIKE: &str = r#"{"requestId":"r-2","errorCode":"500.003.02","errorMessage":"Error Occurred: Spike Arrest Violation"}"#;
    const TOKEN_PATH: &str = "GET /daraja/oauth/v1/generate";
    const PUSH_PATH: &str = "POST /daraja/mpesa/stkpush/v1/processrequest";

    /// What the call under test is doing when the others act.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Op {
        Get,
        Claim,
        Pause,
    }

    /// The shared store as the key-value store would hold it.
    #[derive(Default)]
    struct Shared {
        values: BTreeMap<String, Vec<u8>>,
        counters: BTreeMap<String, i64>,
    }

    impl Shared {
        fn newest(&self) -> Option<&str> {
            self.values
                .iter()
                .find(|(key, _)| key.ends_with("/newest"))
                .and_then(|(_, value)| std::str::from_utf8(value).ok())
        }

        /// Leaves `token` as the newest, as another call would.
        fn publish(&mut self, token: &str) {
            let key = self
                .values
                .keys()
                .find(|key| key.ends_with("/newest"))
                .cloned()
                .unwrap_or_default();
            self.values.insert(key, token.as_bytes().to_vec());
        }
    }

    type Others = Box<dyn FnMut(Op, &str, &mut Shared)>;

    /// A hint store whose `others` run before each of the call's reads,
    /// claims and pauses (with the key, empty for a pause).
    struct Fake {
        shared: Shared,
        others: Others,
        claims: Vec<(String, bool)>,
        pauses: u32,
        paused_ms: u32,
    }

    impl Fake {
        fn new(others: impl FnMut(Op, &str, &mut Shared) + 'static) -> Self {
            Self {
                shared: Shared::default(),
                others: Box::new(others),
                claims: Vec::new(),
                pauses: 0,
                paused_ms: 0,
            }
        }

        fn alone() -> Self {
            Self::new(|_, _, _| {})
        }
    }

    impl TokenHints for Fake {
        fn get(&mut self, key: &str) -> Option<Vec<u8>> {
            (self.others)(Op::Get, key, &mut self.shared);
            self.shared.values.get(key).cloned()
        }
        fn set(&mut self, key: &str, value: &[u8]) {
            self.shared.values.insert(key.to_owned(), value.to_vec());
        }
        fn claim(&mut self, key: &str) -> bool {
            (self.others)(Op::Claim, key, &mut self.shared);
            let count = self.shared.counters.entry(key.to_owned()).or_default();
            *count += 1;
            let won = *count == 1;
            self.claims.push((key.to_owned(), won));
            won
        }
        fn release(&mut self, key: &str) {
            self.shared.counters.remove(key);
        }
        fn pause(&mut self, millis: u32) {
            (self.others)(Op::Pause, "", &mut self.shared);
            self.pauses += 1;
            self.paused_ms += millis;
        }
    }

    fn pay(transport: &mut Scripted, hints: &mut Fake) -> Result<Payment> {
        let vars = mpesa::vars_for_hints();
        Finconnect::new(&vars, transport)
            .with_token_hints(hints)
            .at(NOW)
            .pay(Provider::Mpesa, &mpesa::request_for_hints())
    }

    fn bearers(transport: &Scripted) -> Vec<String> {
        transport
            .seen
            .iter()
            .filter_map(|request| request.header("authorization"))
            .filter(|value| value.starts_with("Bearer "))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_fresh_token_is_left_in_the_store_and_an_unrefused_call_claims_nothing() {
        let mut hints = Fake::alone();
        let mut transport = Scripted::new(vec![Ok((200, TOKEN)), Ok((200, PUSHED))]);
        assert!(pay(&mut transport, &mut hints).is_ok());
        assert_eq!(transport.paths(), [TOKEN_PATH, PUSH_PATH]);
        assert_eq!(hints.shared.newest(), Some("own-token"));
        assert!(hints.claims.is_empty());
        let key = hints
            .shared
            .values
            .keys()
            .next()
            .cloned()
            .unwrap_or_default();
        assert!(key.starts_with("finconnect/token/mpesa/"), "{key}");
        assert!(!key.contains("canary"), "{key}");
    }

    #[test]
    fn a_refused_call_retries_with_the_newer_token_another_call_left() {
        // Another call fetched (and left) its token after ours.
        let mut hints = Fake::new(|op, _, shared| {
            if op == Op::Get {
                shared.publish("their-token");
            }
        });
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((404, BAD_TOKEN)),
            Ok((200, PUSHED)),
        ]);
        let payment = pay(&mut transport, &mut hints);
        assert!(payment.is_ok(), "{payment:?}");
        assert_eq!(transport.paths(), [TOKEN_PATH, PUSH_PATH, PUSH_PATH]);
        assert_eq!(
            bearers(&transport),
            ["Bearer own-token", "Bearer their-token"]
        );
        assert!(hints.claims.is_empty(), "{:?}", hints.claims);
        assert_eq!(hints.pauses, 0);
    }

    #[test]
    fn with_nothing_newer_the_lease_holder_fetches_publishes_and_releases() {
        let mut hints = Fake::alone();
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((404, BAD_TOKEN)),
            Ok((200, NEXT_TOKEN)),
            Ok((200, PUSHED)),
        ]);
        let payment = pay(&mut transport, &mut hints);
        assert!(payment.is_ok(), "{payment:?}");
        assert_eq!(
            transport.paths(),
            [TOKEN_PATH, PUSH_PATH, TOKEN_PATH, PUSH_PATH]
        );
        assert_eq!(
            bearers(&transport),
            ["Bearer own-token", "Bearer next-token"]
        );
        assert_eq!(hints.shared.newest(), Some("next-token"));
        // One lease, named by a digest of the refused token, taken and given back.
        assert_eq!(hints.claims.len(), 1, "{:?}", hints.claims);
        let (lease, won) = &hints.claims[0];
        assert!(won);
        assert!(
            lease.contains("/refresh/") && !lease.contains("own-token"),
            "{lease}"
        );
        assert!(
            hints.shared.counters.is_empty(),
            "{:?}",
            hints.shared.counters
        );
        assert_eq!(hints.pauses, 0);
    }

    #[test]
    fn the_others_wait_for_the_lease_holder_s_token_instead_of_fetching() {
        let mut pauses = 0;
        let mut hints = Fake::new(move |op, key, shared| match op {
            // Another call refused with the same token holds the lease...
            Op::Claim => {
                shared.counters.entry(key.to_owned()).or_insert(1);
            }
            // ...and publishes its new token during our third pause.
            Op::Pause => {
                pauses += 1;
                if pauses == 3 {
                    shared.publish("holder-token");
                }
            }
            Op::Get => {}
        });
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((404, BAD_TOKEN)),
            Ok((200, PUSHED)),
        ]);
        let payment = pay(&mut transport, &mut hints);
        assert!(payment.is_ok(), "{payment:?}");
        // One token request: ours, at the start.
        assert_eq!(transport.paths(), [TOKEN_PATH, PUSH_PATH, PUSH_PATH]);
        assert_eq!(
            bearers(&transport),
            ["Bearer own-token", "Bearer holder-token"]
        );
        assert_eq!(hints.pauses, 3);
        assert!(
            hints.claims.iter().all(|(_, won)| !won),
            "{:?}",
            hints.claims
        );
    }

    #[test]
    fn waiting_is_bounded_and_then_the_refusal_stands() {
        // The lease is held for ever and nothing is ever published.
        let mut hints = Fake::new(|op, key, shared| {
            if op == Op::Claim {
                shared.counters.entry(key.to_owned()).or_insert(1);
            }
        });
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((404, BAD_TOKEN)),
            Ok((200, NEXT_TOKEN)),
            Ok((200, PUSHED)),
        ]);
        let result = pay(&mut transport, &mut hints);
        assert!(
            matches!(result, Err(Error::Authentication { .. })),
            "{result:?}"
        );
        assert_eq!(transport.paths(), [TOKEN_PATH, PUSH_PATH]);
        assert_eq!(hints.paused_ms, HINT_WAIT_MS);
        assert_eq!(hints.pauses, HINT_WAIT_MS / HINT_POLL_MS);
    }

    #[test]
    fn refusals_without_end_stop_after_the_last_retry() {
        // Every read finds a token newer than the last refused one, and
        // every push is refused: a storm that never settles.
        let mut count = 0;
        let mut hints = Fake::new(move |op, _, shared| {
            if op == Op::Get {
                count += 1;
                shared.publish(&format!("their-token-{count}"));
            }
        });
        let mut script = vec![Ok((200, TOKEN))];
        script.extend((0..=HINTED_TOKEN_RETRIES + 2).map(|_| Ok((404, BAD_TOKEN))));
        let mut transport = Scripted::new(script);
        let result = pay(&mut transport, &mut hints);
        assert!(
            matches!(result, Err(Error::Authentication { .. })),
            "{result:?}"
        );
        let pushes = transport.paths().iter().filter(|p| *p == PUSH_PATH).count();
        assert_eq!(pushes, 1 + HINTED_TOKEN_RETRIES);
        assert_eq!(transport.paths()[0], TOKEN_PATH);
        assert!(transport.paths()[1..].iter().all(|p| p == PUSH_PATH));
    }

    #[test]
    fn a_call_alone_fetches_at_most_its_refresh_budget_of_tokens() {
        // Nobody else publishes, and the gateway refuses every token: the
        // call holds each refused token's lease and fetches the next one
        // itself, HINTED_TOKEN_REFRESHES times, then the refusal stands.
        let mut hints = Fake::alone();
        let refreshes = HINTED_TOKEN_REFRESHES as usize;
        let tokens: Vec<String> = (0..=refreshes + 2)
            .map(|n| format!(r#"{{"access_token":"token-{n}","expires_in":"3599"}}"#))
            .collect();
        let mut script = Vec::new();
        for token in &tokens {
            script.push(Ok((200, token.as_str())));
            script.push(Ok((404, BAD_TOKEN)));
        }
        let mut transport = Scripted::new(script);
        let result = pay(&mut transport, &mut hints);
        assert!(
            matches!(result, Err(Error::Authentication { .. })),
            "{result:?}"
        );
        let paths = transport.paths();
        let fetched = paths.iter().filter(|p| *p == TOKEN_PATH).count();
        let pushes = paths.iter().filter(|p| *p == PUSH_PATH).count();
        assert_eq!(fetched, 1 + refreshes, "{paths:?}");
        assert_eq!(pushes, 1 + refreshes, "{paths:?}");
        assert_eq!(hints.pauses, 0);
    }

    #[test]
    fn only_a_refused_token_is_retried_even_with_hints() {
        let mut hints = Fake::new(|op, _, shared| {
            if op == Op::Get {
                shared.publish("their-token");
            }
        });
        let mut transport = Scripted::new(vec![Ok((200, TOKEN)), Ok((500, SPIKE))]);
        let result = pay(&mut transport, &mut hints);
        assert!(matches!(result, Err(Error::Provider(_))), "{result:?}");
        assert_eq!(transport.paths(), [TOKEN_PATH, PUSH_PATH]);

        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Err(TransportError::Timeout("first byte".to_owned())),
        ]);
        let result = pay(&mut transport, &mut hints);
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        assert_eq!(transport.paths(), [TOKEN_PATH, PUSH_PATH]);
        assert!(hints.claims.is_empty());
    }

    #[test]
    fn a_lease_holder_whose_token_step_fails_gives_the_lease_back() {
        let mut hints = Fake::alone();
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((404, BAD_TOKEN)),
            Err(TransportError::Failed("down".to_owned())),
        ]);
        let result = pay(&mut transport, &mut hints);
        assert!(matches!(result, Err(Error::Transport { .. })), "{result:?}");
        assert_eq!(transport.paths(), [TOKEN_PATH, PUSH_PATH, TOKEN_PATH]);
        assert_eq!(hints.claims.len(), 1);
        assert!(
            hints.shared.counters.is_empty(),
            "{:?}",
            hints.shared.counters
        );
        // The refused token is still the newest left: nothing new to share.
        assert_eq!(hints.shared.newest(), Some("own-token"));
    }
}
