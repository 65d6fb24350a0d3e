use super::*;
use crate::domain::Customer;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A change to a valid request that makes one field invalid.
type Mutation = Box<dyn Fn(&mut PaymentRequest)>;
/// What a valid request must become.
type Check = fn(&StkPush) -> bool;

/// The public sandbox passkey (spec §1).
const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
const CHECKOUT_ID: &str = "ws_CO_29012025122430700727987765";
/// 2021-06-28T06:24:08Z, that is 20210628092408 in East Africa Time.
const NOW: u64 = 1_624_861_448;
const NOW_PASSWORD: &str = "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4";

fn config() -> MpesaConfig {
    MpesaConfig {
        base_url: "https://sandbox.safaricom.co.ke".to_owned(),
        consumer_key: ConsumerKey::new(Secret::new("key")),
        consumer_secret: ConsumerSecret::new(Secret::new("secret")),
        passkey: Passkey::new(Secret::new(SANDBOX_PASSKEY)),
        shortcode: "174379".to_owned(),
        party_b: None,
        transaction_type: TransactionType::PayBill,
        callback_url: Some("https://shop.example/mpesa/callback".to_owned()),
    }
}

fn token() -> AccessToken {
    AccessToken {
        value: Secret::new("c9SQxWWhmdVRlyh0zh8gZDTkubVF"),
        expires: Some("3599".to_owned()),
    }
}

fn payment_request() -> PaymentRequest {
    PaymentRequest {
        reference: "INV42".to_owned(),
        amount: "100".to_owned(),
        currency: "KES".to_owned(),
        description: Some("Order 42".to_owned()),
        customer: Customer {
            phone: Some("254708374149".to_owned()),
            ..Customer::default()
        },
        ..PaymentRequest::default()
    }
}

fn push() -> StkPush {
    validate_payment(&payment_request()).unwrap_or_else(|e| unreachable!("{e}"))
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn complete_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("mpesa_consumer_key", "canary-key"),
        ("mpesa_consumer_secret", "canary-secret"),
        ("mpesa_passkey", "canary-passkey"),
        ("mpesa_shortcode", "174379"),
    ]
}

fn load_with(extra: &[(&'static str, &'static str)]) -> Result<MpesaConfig> {
    let mut pairs = complete_vars();
    pairs.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
    pairs.extend(extra.iter().copied().filter(|(_, v)| !v.is_empty()));
    MpesaConfig::load(&vars(&pairs))
}

fn config_error_variable(result: Result<MpesaConfig>) -> Option<String> {
    match result {
        Err(Error::Configuration { variable, .. }) => Some(variable),
        _ => None,
    }
}

fn reply(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(status, body.as_bytes().to_vec())
        .with_header("content-type", "application/json;charset=UTF-8")
}

fn body_json(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

fn provider_error(status: u16, code: Option<&str>, message: &str) -> Error {
    Error::Provider(ProviderError {
        provider: PROVIDER,
        http_status: status,
        code: code.map(str::to_owned),
        message: message.to_owned(),
    })
}

fn is_unreadable(result: &Result<impl std::fmt::Debug>, status: u16) -> bool {
    matches!(
        result,
        Err(Error::UnreadableReply { http_status, .. }) if *http_status == status
    )
}

// ---- configuration ----

#[test]
fn config_loads_with_defaults() {
    let config = load_with(&[]).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(config.base_url, "https://sandbox.safaricom.co.ke");
    assert_eq!(config.consumer_key.expose(), "canary-key");
    assert_eq!(config.consumer_secret.expose(), "canary-secret");
    assert_eq!(config.passkey.expose(), "canary-passkey");
    assert_eq!(config.shortcode, "174379");
    assert_eq!(config.transaction_type, TransactionType::PayBill);
    assert_eq!(config.party_b, None);
    assert_eq!(config.callback_url, None);
}

#[test]
fn config_reads_every_variable() {
    let config = load_with(&[
        ("mpesa_base_url", "http://127.0.0.1:9/daraja/"),
        ("mpesa_transaction_type", "BuyGoods"),
        ("mpesa_party_b", "5432109"),
        ("mpesa_callback_url", "https://shop.example/cb"),
    ])
    .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(config.base_url, "http://127.0.0.1:9/daraja");
    assert_eq!(config.transaction_type, TransactionType::BuyGoods);
    assert_eq!(config.party_b.as_deref(), Some("5432109"));
    assert_eq!(
        config.callback_url.as_deref(),
        Some("https://shop.example/cb")
    );
    for (text, expected) in [
        ("paybill", TransactionType::PayBill),
        ("CustomerPayBillOnline", TransactionType::PayBill),
        ("buygoods", TransactionType::BuyGoods),
        ("CustomerBuyGoodsOnline", TransactionType::BuyGoods),
    ] {
        let config = load_with(&[("mpesa_transaction_type", text), ("mpesa_party_b", "12345")]);
        match config {
            // A paybill refuses a PartyB other than its shortcode.
            Err(Error::Configuration { variable, .. }) => {
                assert_eq!(expected, TransactionType::PayBill, "{text}");
                assert_eq!(variable, "mpesa_party_b");
            }
            Ok(config) => assert_eq!(config.transaction_type, expected, "{text}"),
            Err(other) => unreachable!("{text}: {other}"),
        }
    }
}

#[test]
fn config_errors_name_the_variable() {
    let cases: [(&[(&str, &str)], &str); 12] = [
        (&[("mpesa_consumer_key", "")], "mpesa_consumer_key"),
        (&[("mpesa_consumer_secret", "")], "mpesa_consumer_secret"),
        (&[("mpesa_passkey", "")], "mpesa_passkey"),
        (&[("mpesa_shortcode", "")], "mpesa_shortcode"),
        (&[("mpesa_shortcode", "1234")], "mpesa_shortcode"),
        (&[("mpesa_shortcode", "12345678")], "mpesa_shortcode"),
        (&[("mpesa_shortcode", "17437a")], "mpesa_shortcode"),
        (&[("mpesa_base_url", "ftp://x")], "mpesa_base_url"),
        (
            &[("mpesa_transaction_type", "till")],
            "mpesa_transaction_type",
        ),
        (&[("mpesa_transaction_type", "buygoods")], "mpesa_party_b"),
        (&[("mpesa_party_b", "12-45")], "mpesa_party_b"),
        (&[("mpesa_callback_url", "/cb")], "mpesa_callback_url"),
    ];
    for (extra, variable) in cases {
        assert_eq!(
            config_error_variable(load_with(extra)).as_deref(),
            Some(variable),
            "{extra:?}"
        );
    }
    // A paybill's PartyB may only repeat its shortcode.
    assert!(load_with(&[("mpesa_party_b", "174379")]).is_ok());
    assert_eq!(
        config_error_variable(load_with(&[("mpesa_party_b", "600000")])).as_deref(),
        Some("mpesa_party_b")
    );
}

#[test]
fn config_debug_never_shows_secrets() {
    let config = load_with(&[]).unwrap_or_else(|e| unreachable!("{e}"));
    let debug = format!("{config:?}");
    for secret in ["canary-key", "canary-secret", "canary-passkey"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(debug.contains("174379"), "{debug}");
    let request = token_request(&config).unwrap_or_else(|e| unreachable!("{e}"));
    assert!(!format!("{request:?}").contains("Basic"));
}

// ---- token ----

#[test]
fn token_request_is_exact() {
    let request = token_request(&config()).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Get);
    assert_eq!(
        request.url,
        "https://sandbox.safaricom.co.ke/oauth/v1/generate?grant_type=client_credentials"
    );
    assert_eq!(
        request.header("authorization"),
        Some("Basic a2V5OnNlY3JldA==")
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(request.header("content-type"), None);
    assert!(request.body.is_empty());
}

#[test]
fn token_reply_is_read_with_string_or_number_expiry() {
    for body in [
        r#"{"access_token":"c9SQxWWhmdVRlyh0zh8gZDTkubVF","expires_in":"3599"}"#,
        r#"{"access_token":"c9SQxWWhmdVRlyh0zh8gZDTkubVF","expires_in":3599,"scope":"x"}"#,
    ] {
        let token = parse_token(&reply(200, body)).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(token.value.expose(), "c9SQxWWhmdVRlyh0zh8gZDTkubVF");
        assert_eq!(token.expires.as_deref(), Some("3599"));
    }
    let no_expiry = parse_token(&reply(200, r#"{"access_token":"abc"}"#));
    assert!(matches!(no_expiry, Ok(AccessToken { expires: None, .. })));
}

#[test]
fn token_errors() {
    let refused = reply(
        400,
        r#"{"requestId":"","errorCode":"400.008.01","errorMessage":"Invalid Authentication passed"}"#,
    );
    match parse_token(&refused) {
        Err(error @ Error::Authentication { .. }) => {
            assert_eq!(
                error,
                Error::Authentication {
                    provider: PROVIDER,
                    message: "consumer key and secret refused (400.008.01): Invalid Authentication passed"
                        .to_owned()
                }
            );
            // Refused credentials are not a stale token: no retry.
            assert!(!is_invalid_token(&error));
        }
        other => unreachable!("{other:?}"),
    }
    let grant = reply(
        400,
        r#"{"requestId":"","errorCode":"400.008.02","errorMessage":"Invalid grant type passed"}"#,
    );
    assert_eq!(
        parse_token(&grant).err(),
        Some(provider_error(
            400,
            Some("400.008.02"),
            "Invalid grant type passed"
        ))
    );
    assert!(matches!(
        parse_token(&HttpResponse::new(401, Vec::new())),
        Err(Error::Authentication { .. })
    ));
    // Wrong key/secret may come back as an empty 400 (spec §2): unreadable.
    let empty = parse_token(&HttpResponse::new(400, Vec::new()));
    assert!(is_unreadable(&empty, 400));
    assert!(
        empty
            .err()
            .is_some_and(|e| e.to_string().contains("wrong consumer key or secret")),
    );
    for missing in [r#"{"expires_in":"3599"}"#, r#"{"access_token":"  "}"#] {
        assert!(is_unreadable(&parse_token(&reply(200, missing)), 200));
    }
    assert!(is_unreadable(
        &parse_token(&reply(200, r#"{"access_token":"a\nb"}"#)),
        200
    ));
}

#[test]
fn unreadable_replies_never_echo_the_body() {
    for body in [
        r#""secret-token-text""#,
        r#"{"access_token":["secret-token-text"]}"#,
    ] {
        match parse_token(&reply(200, body)) {
            Err(Error::UnreadableReply { message, .. }) => {
                assert!(!message.contains("secret"), "{message}");
            }
            other => unreachable!("{other:?}"),
        }
    }
}

// ---- password and timestamp ----

#[test]
fn password_matches_the_spec_vectors() {
    let passkey = Passkey::new(Secret::new(SANDBOX_PASSKEY));
    assert_eq!(
        password("174379", &passkey, "20160216165627").expose(),
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
    );
    assert_eq!(
        password("174379", &passkey, "20210628092408").expose(),
        NOW_PASSWORD
    );
}

#[test]
fn base64_is_the_standard_padded_alphabet() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
        ("key:secret", "a2V5OnNlY3JldA=="),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
    }
    assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
}

#[test]
fn timestamps_are_east_africa_time() {
    for (unix, expected) in [
        (0, "19700101030000"),
        (1_455_630_987, "20160216165627"),
        (NOW, "20210628092408"),
        // 20:59:59 UTC on New Year's Eve is still 2023 in Nairobi…
        (1_704_056_399, "20231231235959"),
        // …and one second later the year has turned.
        (1_704_056_400, "20240101000000"),
        // 2024-02-28T21:30:00Z is the leap day in Nairobi.
        (1_709_155_800, "20240229003000"),
        (1_791_269_553, "20261006095233"),
    ] {
        assert_eq!(timestamp(unix), expected, "{unix}");
    }
}

#[test]
fn civil_dates_agree_with_counting_days_one_by_one() {
    let (mut year, mut month, mut day) = (1970u64, 1u64, 1u64);
    for days in 0..150_000u64 {
        assert_eq!(civil_date(days), (year, month, day), "day {days}");
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let length = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        day += 1;
        if day > length {
            day = 1;
            month += 1;
            if month > 12 {
                month = 1;
                year += 1;
            }
        }
    }
    // No overflow at the far end of the clock.
    assert!(timestamp(u64::MAX).len() >= 14);
}

// ---- validation ----

#[test]
fn validation_names_the_field() {
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|r| r.currency = "TZS".into()), "currency"),
        (Box::new(|r| r.currency = "kes".into()), "currency"),
        (
            Box::new(|r| r.method = Some(crate::domain::PaymentMethod::Card)),
            "method",
        ),
        (
            Box::new(|r| r.method = Some(crate::domain::PaymentMethod::CheckoutLink)),
            "method",
        ),
        (Box::new(|r| r.amount = "100.50".into()), "amount"),
        (Box::new(|r| r.amount = "100.5".into()), "amount"),
        (Box::new(|r| r.amount = "0.01".into()), "amount"),
        (Box::new(|r| r.amount = "0".into()), "amount"),
        (Box::new(|r| r.amount = "-1".into()), "amount"),
        (Box::new(|r| r.amount = "1e3".into()), "amount"),
        (Box::new(|r| r.amount = "250001".into()), "amount"),
        (Box::new(|r| r.amount = "100.001".into()), "amount"),
        (Box::new(|r| r.reference = String::new()), "reference"),
        (
            Box::new(|r| r.reference = "ABCDEFGHIJKLM".into()),
            "reference",
        ),
        (Box::new(|r| r.reference = "INV-42".into()), "reference"),
        (Box::new(|r| r.reference = "INV 42".into()), "reference"),
        (Box::new(|r| r.reference = "ÄBC".into()), "reference"),
        (
            Box::new(|r| r.description = Some("Fourteen chars".into())),
            "description",
        ),
        (
            Box::new(|r| r.description = Some("  ".into())),
            "description",
        ),
        (
            Box::new(|r| r.description = Some("50% off!".into())),
            "description",
        ),
        (Box::new(|r| r.customer.phone = None), "customer.phone"),
        (
            Box::new(|r| r.customer.phone = Some("255712345678".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.phone = Some("254808374149".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.phone = Some("0708 374149".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.phone = Some("070837414".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.phone = Some("25470837414900".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.phone = Some("+254 708374149".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.customer.phone = Some("708374149".into())),
            "customer.phone",
        ),
        (
            Box::new(|r| r.callback_url = Some("/mpesa/cb".into())),
            "callback_url",
        ),
        (
            Box::new(|r| r.callback_url = Some("javascript:alert(1)".into())),
            "callback_url",
        ),
    ];
    for (mutate, field) in cases {
        let mut request = payment_request();
        mutate(&mut request);
        match validate_payment(&request) {
            Err(Error::InvalidRequest { field: got, .. }) => {
                assert_eq!(got, field, "{request:?}");
            }
            other => unreachable!("expected {field} for {request:?}: {other:?}"),
        }
    }
}

#[test]
fn valid_values_are_kept_in_daraja_form() {
    let valid: Vec<(Mutation, Check)> = vec![
        (Box::new(|r| r.amount = "100.00".into()), |p| {
            p.amount_kes() == 100
        }),
        (Box::new(|r| r.amount = "1".into()), |p| p.amount_kes() == 1),
        (Box::new(|r| r.amount = "250000".into()), |p| {
            p.amount_kes() == 250_000
        }),
        (Box::new(|r| r.reference = "ABCDEFGHIJ12".into()), |p| {
            p.reference() == "ABCDEFGHIJ12"
        }),
        (Box::new(|r| r.description = None), |p| {
            p.description() == "Payment"
        }),
        (
            Box::new(|r| r.description = Some("Order 42, x-1".into())),
            |p| p.description() == "Order 42, x-1",
        ),
        (
            Box::new(|r| r.callback_url = Some("http://127.0.0.1:3000/cb".into())),
            |p| p.callback_url() == Some("http://127.0.0.1:3000/cb"),
        ),
    ];
    for (mutate, check) in valid {
        let mut request = payment_request();
        mutate(&mut request);
        let push = validate_payment(&request).unwrap_or_else(|e| unreachable!("{request:?}: {e}"));
        assert!(check(&push), "{request:?} gave {push:?}");
    }
}

#[test]
fn phone_numbers_are_normalised_to_254() {
    for (given, sent) in [
        ("254708374149", "254708374149"),
        ("254110374149", "254110374149"),
        ("0708374149", "254708374149"),
        ("0110374149", "254110374149"),
        ("+254708374149", "254708374149"),
        ("+254110374149", "254110374149"),
    ] {
        let mut request = payment_request();
        request.customer.phone = Some(given.to_owned());
        let push = validate_payment(&request).unwrap_or_else(|e| unreachable!("{given}: {e}"));
        assert_eq!(push.phone(), sent, "{given}");
    }
}

// ---- STK push ----

#[test]
fn stk_push_request_is_exact() {
    let request =
        stk_push_request(&config(), &token(), &push(), NOW).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://sandbox.safaricom.co.ke/mpesa/stkpush/v1/processrequest"
    );
    assert_eq!(
        request.header("authorization"),
        Some("Bearer c9SQxWWhmdVRlyh0zh8gZDTkubVF")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(
        body_json(&request),
        json!({
            "BusinessShortCode": "174379",
            "Password": NOW_PASSWORD,
            "Timestamp": "20210628092408",
            "TransactionType": "CustomerPayBillOnline",
            "Amount": 100,
            "PartyA": "254708374149",
            "PartyB": "174379",
            "PhoneNumber": "254708374149",
            "CallBackURL": "https://shop.example/mpesa/callback",
            "AccountReference": "INV42",
            "TransactionDesc": "Order 42"
        })
    );
    let debug = format!("{request:?}");
    assert!(
        !debug.contains("c9SQ") && !debug.contains(NOW_PASSWORD),
        "{debug}"
    );
}

#[test]
fn buy_goods_pays_the_till_and_the_request_callback_wins() {
    let mut config = config();
    config.transaction_type = TransactionType::BuyGoods;
    config.party_b = Some("5432109".to_owned());
    let mut request = payment_request();
    request.callback_url = Some("https://shop.example/other".to_owned());
    request.description = None;
    let push = validate_payment(&request).unwrap_or_else(|e| unreachable!("{e}"));
    let built =
        stk_push_request(&config, &token(), &push, NOW).unwrap_or_else(|e| unreachable!("{e}"));
    let body = body_json(&built);
    assert_eq!(body["TransactionType"], "CustomerBuyGoodsOnline");
    assert_eq!(body["BusinessShortCode"], "174379");
    assert_eq!(body["PartyB"], "5432109");
    assert_eq!(body["CallBackURL"], "https://shop.example/other");
    assert_eq!(body["TransactionDesc"], "Payment");
}

#[test]
fn a_push_without_any_callback_url_is_a_configuration_error() {
    let mut config = config();
    config.callback_url = None;
    let expected = Err(Error::config(
        "mpesa_callback_url",
        "is not set and the payment request has no `callback_url`: M-Pesa needs one of them to report the outcome",
    ));
    assert_eq!(callback_url(&config, &push()).map(str::to_owned), expected);
    assert_eq!(
        stk_push_request(&config, &token(), &push(), NOW).err(),
        expected.err()
    );
}

#[test]
fn stk_push_reply_is_read() {
    for code in ["0", "00000000"] {
        let ok = reply(
            200,
            &format!(
                r#"{{"MerchantRequestID":"ac7b-470b-8df7-23ab3cef38271071873","CheckoutRequestID":"{CHECKOUT_ID}","ResponseCode":"{code}","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}}"#
            ),
        );
        assert_eq!(
            parse_stk_push(&ok, &push()),
            Ok(Payment {
                provider: PROVIDER,
                reference: "INV42".to_owned(),
                tracking_id: CHECKOUT_ID.to_owned(),
                redirect_url: None,
                status: PaymentStatus::Pending,
            })
        );
    }
    let numeric = reply(
        200,
        &format!(r#"{{"CheckoutRequestID":"{CHECKOUT_ID}","ResponseCode":0}}"#),
    );
    assert!(parse_stk_push(&numeric, &push()).is_ok());
    let refused = reply(
        200,
        &format!(
            r#"{{"CheckoutRequestID":"{CHECKOUT_ID}","ResponseCode":"1","ResponseDescription":"Rejected"}}"#
        ),
    );
    assert_eq!(
        parse_stk_push(&refused, &push()),
        Err(provider_error(200, Some("1"), "Rejected"))
    );
    for shapeless in [
        r#"{"ResponseCode":"0"}"#.to_owned(),
        format!(r#"{{"CheckoutRequestID":"{CHECKOUT_ID}"}}"#),
        r#"{"CheckoutRequestID":"ws_CO_1/../x","ResponseCode":"0"}"#.to_owned(),
        "[]".to_owned(),
    ] {
        assert!(
            is_unreadable(&parse_stk_push(&reply(200, &shapeless), &push()), 200),
            "{shapeless}"
        );
    }
}

#[test]
fn every_documented_error_shape_is_typed() {
    let error_body = |code: &str, message: &str| {
        format!(
            r#"{{"requestId":"29115-34620561-1","errorCode":"{code}","errorMessage":"{message}"}}"#
        )
    };
    let cases = [
        (404, "404.001.03", "Invalid Access Token"),
        (
            401,
            "401.002.01",
            "Error Occurred - Invalid Access Token - BJGFGOXv5aZnw90KkA4TDtu4Xdyf",
        ),
    ];
    for (status, code, message) in cases {
        let result = parse_stk_push(&reply(status, &error_body(code, message)), &push());
        match result {
            Err(error @ Error::Authentication { .. }) => {
                assert!(is_invalid_token(&error), "{error}");
                assert_eq!(
                    error,
                    Error::Authentication {
                        provider: PROVIDER,
                        message: format!("access token refused ({code}): {message}"),
                    }
                );
            }
            other => unreachable!("{code}: {other:?}"),
        }
    }
    for body in ["", "<html>Unauthorized</html>", r#"{"fault":"x"}"#] {
        let error = parse_stk_push(&reply(401, body), &push()).err();
        assert!(
            error.as_ref().is_some_and(is_invalid_token),
            "{body}: {error:?}"
        );
    }
    let provider_cases = [
        (500, "500.003.02", "Error Occurred: Spike Arrest Violation"),
        (500, "500.003.03", "Quota Violation"),
        (500, "500.001.1001", "Wrong credentials"),
        (
            500,
            "500.001.1001",
            "[MerchantValidate] - Wrong credentials",
        ),
        (500, "500.001.1001", "Merchant does not exist"),
        (
            500,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        ),
        (400, "400.002.02", "Bad Request - Invalid PhoneNumber"),
        (404, "404.001.01", "Resource not found"),
        (405, "405.001", "Method Not Allowed"),
        (500, "500.003.1001", "Internal Server Error"),
    ];
    for (status, code, message) in provider_cases {
        let result = parse_stk_push(&reply(status, &error_body(code, message)), &push());
        assert_eq!(result, Err(provider_error(status, Some(code), message)));
        assert!(!result.err().is_some_and(|e| is_invalid_token(&e)));
    }
    // An error code in a 200 reply is still an error.
    assert_eq!(
        parse_stk_push(
            &reply(200, &error_body("500.003.02", "System is busy")),
            &push()
        ),
        Err(provider_error(200, Some("500.003.02"), "System is busy"))
    );
    // Apigee's SOAP fault as JSON: an error without a code.
    let fault = r#"{"Envelope":{"Body":{"Fault":{"faultcode":"soap:Server","faultstring":"x"}}}}"#;
    assert_eq!(
        parse_stk_push(&reply(500, fault), &push()),
        Err(provider_error(500, None, "HTTP 500 without an error code"))
    );
    // HTML, empty and truncated bodies are unreadable replies.
    let html = HttpResponse::new(503, b"<html><body>Apigee</body></html>".to_vec())
        .with_header("content-type", "text/html");
    match parse_stk_push(&html, &push()) {
        Err(Error::UnreadableReply { message, .. }) => {
            assert!(message.contains("text/html"), "{message}");
            assert!(!message.contains("Apigee"), "{message}");
        }
        other => unreachable!("{other:?}"),
    }
    assert!(is_unreadable(
        &parse_stk_push(&HttpResponse::new(200, Vec::new()), &push()),
        200
    ));
    assert!(is_unreadable(
        &parse_stk_push(&HttpResponse::new(502, Vec::new()), &push()),
        502
    ));
    assert!(is_unreadable(
        &parse_stk_push(&reply(200, r#"{"CheckoutRequestID":"ws_CO"#), &push()),
        200
    ));
}

#[test]
fn is_invalid_token_only_matches_refused_tokens() {
    assert!(!is_invalid_token(&Error::invalid("amount", "x")));
    assert!(!is_invalid_token(&provider_error(
        404,
        Some("404.001.01"),
        "x"
    )));
    assert!(!is_invalid_token(&Error::Authentication {
        provider: PROVIDER,
        message: "consumer key and secret refused (400.008.01)".to_owned(),
    }));
}

// ---- STK query ----

#[test]
fn stk_query_request_is_exact() {
    let request = stk_query_request(&config(), &token(), CHECKOUT_ID, NOW)
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://sandbox.safaricom.co.ke/mpesa/stkpushquery/v1/query"
    );
    assert_eq!(
        request.header("authorization"),
        Some("Bearer c9SQxWWhmdVRlyh0zh8gZDTkubVF")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        body_json(&request),
        json!({
            "BusinessShortCode": "174379",
            "Password": NOW_PASSWORD,
            "Timestamp": "20210628092408",
            "CheckoutRequestID": CHECKOUT_ID
        })
    );
    for bad in ["", "ws_CO_1&x=2", "ws CO", "ws_CO_1/..", &"x".repeat(65)] {
        assert!(
            matches!(
                stk_query_request(&config(), &token(), bad, NOW),
                Err(Error::InvalidRequest { field, .. }) if field == "id"
            ),
            "{bad:?}"
        );
    }
    assert!(validate_checkout_request_id("ws_CO_DMZ_264695293_11032019122104433").is_ok());
}

#[test]
fn a_query_before_the_customer_answers_is_pending() {
    for (status, message) in [
        (500, "The transaction is being processed"),
        (200, "The transaction is being processed"),
        (500, "the TRANSACTION is being processed."),
    ] {
        let body = format!(
            r#"{{"requestId":"ws_CO_20022018230142206","errorCode":"500.001.1001","errorMessage":"{message}"}}"#
        );
        assert_eq!(
            parse_stk_query(&reply(status, &body)),
            Ok(PaymentDetails {
                provider: PROVIDER,
                reference: None,
                tracking_id: Some("ws_CO_20022018230142206".to_owned()),
                status: PaymentStatus::Pending,
                amount: None,
                currency: None,
                method: None,
                confirmation_code: None,
                description: Some(message.to_owned()),
            }),
            "{status} {message}"
        );
    }
    // The same code with another message is an error.
    let wrong =
        r#"{"requestId":"1","errorCode":"500.001.1001","errorMessage":"Wrong credentials"}"#;
    assert_eq!(
        parse_stk_query(&reply(500, wrong)),
        Err(provider_error(
            500,
            Some("500.001.1001"),
            "Wrong credentials"
        ))
    );
    let stale =
        r#"{"requestId":"1","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}"#;
    assert!(parse_stk_query(&reply(404, stale)).is_err_and(|e| is_invalid_token(&e)));
    assert!(
        parse_stk_query(&HttpResponse::new(401, Vec::new())).is_err_and(|e| is_invalid_token(&e))
    );
    assert!(is_unreadable(
        &parse_stk_query(&HttpResponse::new(502, b"<html/>".to_vec())),
        502
    ));
}

fn query_reply(result_code: &str, desc: &str) -> HttpResponse {
    reply(
        200,
        &format!(
            r#"{{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successsfully","MerchantRequestID":"ac7b-470b-8df7-23ab3cef38271071873","CheckoutRequestID":"{CHECKOUT_ID}","ResultCode":{result_code},"ResultDesc":"{desc}"}}"#
        ),
    )
}

#[test]
fn result_codes_map_to_statuses() {
    let cases = [
        (r#""0""#, ResultCode::Success, PaymentStatus::Completed),
        ("0", ResultCode::Success, PaymentStatus::Completed),
        (
            r#""1""#,
            ResultCode::InsufficientBalance,
            PaymentStatus::Failed,
        ),
        (
            r#""2""#,
            ResultCode::DeclinedLimitRule,
            PaymentStatus::Failed,
        ),
        (r#""3""#, ResultCode::AboveMaximum, PaymentStatus::Failed),
        (r#""4""#, ResultCode::DailyLimit, PaymentStatus::Failed),
        (r#""8""#, ResultCode::BalanceLimit, PaymentStatus::Failed),
        (r#""17""#, ResultCode::RuleLimited, PaymentStatus::Failed),
        (r#""26""#, ResultCode::SystemBusy, PaymentStatus::Failed),
        (
            r#""1001""#,
            ResultCode::SubscriberLocked,
            PaymentStatus::Failed,
        ),
        (r#""1019""#, ResultCode::Expired, PaymentStatus::Failed),
        (r#""1025""#, ResultCode::PushFailed, PaymentStatus::Failed),
        (r#""9999""#, ResultCode::PushError, PaymentStatus::Failed),
        (
            r#""1031""#,
            ResultCode::CancelledByUser1031,
            PaymentStatus::Failed,
        ),
        (
            r#""1032""#,
            ResultCode::CancelledByUser,
            PaymentStatus::Failed,
        ),
        ("1032", ResultCode::CancelledByUser, PaymentStatus::Failed),
        (r#""1037""#, ResultCode::NoResponse, PaymentStatus::Failed),
        (
            r#""2001""#,
            ResultCode::InvalidInitiator,
            PaymentStatus::Failed,
        ),
        (r#""2028""#, ResultCode::NotPermitted, PaymentStatus::Failed),
        (
            r#""8006""#,
            ResultCode::CredentialLocked,
            PaymentStatus::Failed,
        ),
        (
            r#""SFC_IC0003""#,
            ResultCode::OperatorDoesNotExist,
            PaymentStatus::Failed,
        ),
        (
            r#""4242""#,
            ResultCode::Other("4242".to_owned()),
            PaymentStatus::Failed,
        ),
        (
            r#""R000002""#,
            ResultCode::Other("R000002".to_owned()),
            PaymentStatus::Failed,
        ),
        (
            r#""-1""#,
            ResultCode::Other("-1".to_owned()),
            PaymentStatus::Failed,
        ),
    ];
    for (json_code, code, status) in cases {
        let details = parse_stk_query(&query_reply(json_code, "Provider words"))
            .unwrap_or_else(|e| unreachable!("{json_code}: {e}"));
        assert_eq!(details.status, status, "{json_code}");
        assert_eq!(details.description.as_deref(), Some("Provider words"));
        assert_eq!(details.tracking_id.as_deref(), Some(CHECKOUT_ID));
        assert_eq!(ResultCode::parse(json_code.trim_matches('"')), code);
    }
    let cancelled = parse_stk_query(&query_reply(r#""1032""#, "Request cancelled by user"));
    assert!(cancelled.is_ok_and(|d| d.status == PaymentStatus::Failed
        && d.description.as_deref() == Some("Request cancelled by user")));
    assert!(ResultCode::CancelledByUser1031.is_cancelled());
    assert!(!ResultCode::NoResponse.is_cancelled());
}

#[test]
fn query_replies_without_a_result_are_not_guessed() {
    let refused = reply(
        200,
        r#"{"ResponseCode":"1","ResponseDescription":"Rejected","ResultCode":"0"}"#,
    );
    assert_eq!(
        parse_stk_query(&refused),
        Err(provider_error(200, Some("1"), "Rejected"))
    );
    let no_result = reply(200, r#"{"ResponseCode":"0","ResultDesc":"?"}"#);
    assert!(is_unreadable(&parse_stk_query(&no_result), 200));
    let float_code = reply(200, r#"{"ResponseCode":"0","ResultCode":0.0}"#);
    assert!(is_unreadable(&parse_stk_query(&float_code), 200));
}

// ---- callback ----

#[test]
fn callback_success_sample_is_read() {
    let body = br#"{"Body":{"stkCallback":{
      "MerchantRequestID":"29115-34620561-1",
      "CheckoutRequestID":"ws_CO_191220191020363925",
      "ResultCode":0,
      "ResultDesc":"The service request is processed successfully.",
      "CallbackMetadata":{"Item":[
        {"Name":"Amount","Value":1.00},
        {"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},
        {"Name":"Balance"},
        {"Name":"TransactionDate","Value":20191219102115},
        {"Name":"PhoneNumber","Value":254708374149}]}}}}"#;
    let callback = callback::parse(body).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        callback,
        callback::StkCallback {
            merchant_request_id: Some("29115-34620561-1".to_owned()),
            checkout_request_id: "ws_CO_191220191020363925".to_owned(),
            result_code: ResultCode::Success,
            result_desc: Some("The service request is processed successfully.".to_owned()),
            amount: Some("1.00".to_owned()),
            receipt_number: Some("NLJ7RT61SV".to_owned()),
            transaction_date: Some("20191219102115".to_owned()),
            transaction_time: Some("2019-12-19T10:21:15+03:00".to_owned()),
            phone_number: Some("254708374149".to_owned()),
        }
    );
    assert_eq!(callback.status(), PaymentStatus::Completed);
}

#[test]
fn callback_failures_and_odd_codes_are_read() {
    let failure =
        br#"{"Body":{"stkCallback":{"MerchantRequestID":"f1e2-4b95-a71d-b30d3cdbb7a7942864",
      "CheckoutRequestID":"ws_CO_21072024125243250722943992","ResultCode":1032,
      "ResultDesc":"Request cancelled by user"}}}"#;
    let callback = callback::parse(failure).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(callback.result_code, ResultCode::CancelledByUser);
    assert_eq!(callback.status(), PaymentStatus::Failed);
    assert_eq!(
        callback.result_desc.as_deref(),
        Some("Request cancelled by user")
    );
    assert_eq!(callback.amount, None);
    assert_eq!(callback.receipt_number, None);

    let sfc = br#"{"Body":{"stkCallback":{"MerchantRequestID":"1","CheckoutRequestID":"ws_CO_1",
      "ResultCode":"SFC_IC0003","ResultDesc":"The operator does not exist."}}}"#;
    let callback = callback::parse(sfc).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(callback.result_code, ResultCode::OperatorDoesNotExist);
    assert_eq!(callback.status(), PaymentStatus::Failed);
}

#[test]
fn callback_values_are_read_leniently_and_exactly() {
    let with_items = |items: &str| {
        format!(
            r#"{{"Body":{{"stkCallback":{{"CheckoutRequestID":"ws_CO_1","ResultCode":"0","CallbackMetadata":{{"Item":[{items}]}},"Extra":true}}}}}}"#
        )
    };
    for (items, amount, date, phone) in [
        (
            r#"{"Name":"PhoneNumber","Value":"254708374149"},{"Name":"Amount","Value":1},{"Name":"TransactionDate","Value":"20261006095233"}"#,
            Some("1.00"),
            Some("2026-10-06T09:52:33+03:00"),
            Some("254708374149"),
        ),
        (
            r#"{"Name":"Amount","Value":"249999.5"},{"Name":"TransactionDate","Value":20261399095233}"#,
            Some("249999.50"),
            None,
            None,
        ),
        (
            r#"{"Name":"Amount","Value":100.000},{"Name":"PhoneNumber","Value":null}"#,
            Some("100.00"),
            None,
            None,
        ),
        (r#"{"Name":"Balance"}"#, None, None, None),
    ] {
        let callback = callback::parse(with_items(items).as_bytes())
            .unwrap_or_else(|e| unreachable!("{items}: {e}"));
        assert_eq!(callback.amount.as_deref(), amount, "{items}");
        assert_eq!(callback.transaction_time.as_deref(), date, "{items}");
        assert_eq!(callback.phone_number.as_deref(), phone, "{items}");
    }
    for bad_amount in [r#""1.005""#, "1e2", r#""""#, "-1", r#""1,000""#] {
        let body = with_items(&format!(r#"{{"Name":"Amount","Value":{bad_amount}}}"#));
        match callback::parse(body.as_bytes()) {
            // A blank amount counts as absent; every other one is refused.
            Ok(callback) => assert!(bad_amount == r#""""# && callback.amount.is_none()),
            Err(Error::InvalidRequest { field, .. }) => {
                assert_eq!(
                    field, "Body.stkCallback.CallbackMetadata.Amount",
                    "{bad_amount}"
                );
            }
            Err(other) => unreachable!("{bad_amount}: {other}"),
        }
    }
}

#[test]
fn callbacks_that_cannot_be_read_name_what_is_wrong() {
    let cases: [(&[u8], &str); 7] = [
        (b"", "body"),
        (b"<xml/>", "body"),
        (br#"{"Body":"x"}"#, "body"),
        (br#"{"Body":{}}"#, "Body.stkCallback"),
        (br#"{}"#, "Body.stkCallback"),
        (
            br#"{"Body":{"stkCallback":{"ResultCode":0}}}"#,
            "Body.stkCallback.CheckoutRequestID",
        ),
        (
            br#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1"}}}"#,
            "Body.stkCallback.ResultCode",
        ),
    ];
    for (body, field) in cases {
        match callback::parse(body) {
            Err(Error::InvalidRequest { field: got, .. }) => {
                assert_eq!(got, field, "{}", String::from_utf8_lossy(body));
            }
            other => unreachable!("{}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
    let forged = br#"{"Body":{"stkCallback":{"CheckoutRequestID":"../admin","ResultCode":0}}}"#;
    assert!(matches!(
        callback::parse(forged),
        Err(Error::InvalidRequest { field, .. }) if field == "Body.stkCallback.CheckoutRequestID"
    ));
}

#[test]
fn callback_acknowledgements() {
    let accepted: Value = serde_json::from_slice(&callback::ack(true)).unwrap_or(Value::Null);
    assert_eq!(accepted, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    let rejected: Value = serde_json::from_slice(&callback::ack(false)).unwrap_or(Value::Null);
    assert_eq!(rejected["ResultCode"], 1);
    assert!(
        rejected["ResultDesc"]
            .as_str()
            .is_some_and(|text| text.starts_with("Rejected: "))
    );
}

proptest! {
    #[test]
    fn readers_never_panic_on_any_reply(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let response = HttpResponse::new(status, body.clone());
        let _ = parse_token(&response);
        let _ = parse_stk_push(&response, &push());
        let _ = parse_stk_query(&response);
        let _ = callback::parse(&body);
    }

    #[test]
    fn only_zero_is_success(code in "[0-9A-Za-z_-]{0,12}") {
        let success = code.bytes().all(|b| b == b'0') && !code.is_empty();
        prop_assert_eq!(ResultCode::parse(&code) == ResultCode::Success, success);
        prop_assert_eq!(PaymentStatus::from(&ResultCode::parse(&code)) == PaymentStatus::Completed, success);
    }

    #[test]
    fn callback_amounts_round_trip_exactly(whole in 0u64..10_000_000, cents in 0u64..100) {
        let body = format!(
            r#"{{"Body":{{"stkCallback":{{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{{"Item":[{{"Name":"Amount","Value":{whole}.{cents:02}}}]}}}}}}}}"#
        );
        let callback = callback::parse(body.as_bytes());
        prop_assert_eq!(
            callback.ok().and_then(|c| c.amount),
            Some(format!("{whole}.{cents:02}"))
        );
    }
}

#[test]
fn null_metadata_members_count_as_absent() {
    let body = br#"{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":1037,"CallbackMetadata":{"Item":null}}}}"#;
    let callback = callback::parse(body).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(callback.result_code, ResultCode::NoResponse);
    assert_eq!(callback.amount, None);
}
