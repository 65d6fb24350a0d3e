//! Bad input, one row per case: each must be answered with the right 4xx
//! problem naming the field, and must not reach the transport (the script
//! would let a provider call succeed, so a missed check would show).

use super::*;

/// What the test sends.
enum Input {
    /// A merchant POST to this path with the key and `Content-Type: application/json`.
    Json(&'static str, String),
    /// A merchant GET of this path.
    Get(String),
    /// A merchant request with this content type (or none).
    Typed(Option<&'static str>, Vec<u8>),
    /// A public request: method, URI, content type, body.
    Public(&'static str, String, Option<&'static str>, Vec<u8>),
}

struct Case {
    name: &'static str,
    input: Input,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

const ID: &str = "96a5e1d9-f711-4423-82ce-dd758f972713";

fn edit(base: Value, change: impl FnOnce(&mut Value)) -> String {
    let mut value = base;
    change(&mut value);
    value.to_string()
}

fn pesapal(change: impl FnOnce(&mut Value)) -> Input {
    Input::Json("/payments", edit(pesapal_payment(), change))
}

fn clickpesa(change: impl FnOnce(&mut Value)) -> Input {
    Input::Json("/payments", edit(clickpesa_payment(), change))
}

/// A PesaPal payment whose `amount` member is this literal JSON text.
fn pesapal_amount(literal: &str) -> Input {
    let body = pesapal_payment()
        .to_string()
        .replace(r#""amount":"1500.00""#, &format!(r#""amount":{literal}"#));
    Input::Json("/payments", body)
}

fn ipn_registration(change: impl FnOnce(&mut Value)) -> Input {
    let base =
        json!({"provider":"pesapal","url":"https://shop.example/n","notification_type":"GET"});
    Input::Json("/ipn-registrations", edit(base, change))
}

fn raw(body: &str) -> Input {
    Input::Json("/payments", body.to_owned())
}

fn status_of(path: &str) -> Input {
    Input::Get(path.to_owned())
}

fn ipn_get(query: &str) -> Input {
    Input::Public(
        "GET",
        format!("/notifications/pesapal?{query}"),
        None,
        Vec::new(),
    )
}

fn ipn_post(content_type: &'static str, body: &str) -> Input {
    Input::Public(
        "POST",
        "/notifications/pesapal".to_owned(),
        Some(content_type),
        body.as_bytes().to_vec(),
    )
}

fn case(
    name: &'static str,
    input: Input,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        input,
        status,
        code,
        field,
    }
}

fn invalid(name: &'static str, input: Input, field: &'static str) -> Case {
    case(name, input, 422, "invalid_request", Some(field))
}

fn malformed(name: &'static str, input: Input) -> Case {
    case(name, input, 400, "invalid_request", Some("body"))
}

fn bad_ipn(name: &'static str, input: Input, field: &'static str) -> Case {
    case(name, input, 400, "invalid_request", Some(field))
}

fn cases() -> Vec<Case> {
    let long = "A".repeat(51);
    let very_long = "A".repeat(101);
    vec![
        // Amounts.
        invalid("amount zero", pesapal_amount("\"0\""), "amount"),
        invalid("amount 0.00 as a number", pesapal_amount("0.00"), "amount"),
        invalid("amount negative string", pesapal_amount("\"-5\""), "amount"),
        invalid("amount negative number", pesapal_amount("-5"), "amount"),
        invalid("amount NaN string", pesapal_amount("\"NaN\""), "amount"),
        malformed("amount bare NaN is not JSON", pesapal_amount("NaN")),
        invalid("amount 1e3 number", pesapal_amount("1e3"), "amount"),
        invalid("amount 1e3 string", pesapal_amount("\"1e3\""), "amount"),
        invalid(
            "amount three decimals number",
            pesapal_amount("12.345"),
            "amount",
        ),
        invalid(
            "amount three decimals string",
            pesapal_amount("\"12.345\""),
            "amount",
        ),
        invalid(
            "amount trailing zero decimals",
            pesapal_amount("1500.000"),
            "amount",
        ),
        invalid(
            "amount huge string",
            pesapal_amount("\"99999999999999999999\""),
            "amount",
        ),
        invalid(
            "amount huge number",
            pesapal_amount("123456789012345678901234567890"),
            "amount",
        ),
        invalid(
            "amount object",
            pesapal_amount("{\"value\":\"1500.00\"}"),
            "amount",
        ),
        invalid("amount bool", pesapal_amount("true"), "amount"),
        invalid("amount array", pesapal_amount("[1500]"), "amount"),
        invalid("amount with spaces", pesapal_amount("\" 1500\""), "amount"),
        invalid(
            "amount with separator",
            pesapal_amount("\"1,500\""),
            "amount",
        ),
        invalid("amount empty", pesapal_amount("\"\""), "amount"),
        invalid("amount null", pesapal_amount("null"), "amount"),
        // Currencies.
        invalid(
            "currency lower case",
            pesapal(|v| v["currency"] = json!("kes")),
            "currency",
        ),
        invalid(
            "currency four letters",
            pesapal(|v| v["currency"] = json!("KESS")),
            "currency",
        ),
        invalid(
            "currency number",
            pesapal(|v| v["currency"] = json!(404)),
            "currency",
        ),
        invalid(
            "ClickPesa currency not TZS",
            clickpesa(|v| v["currency"] = json!("KES")),
            "currency",
        ),
        // References.
        invalid(
            "reference too long",
            pesapal(|v| v["reference"] = json!(long)),
            "reference",
        ),
        invalid(
            "reference empty",
            pesapal(|v| v["reference"] = json!("")),
            "reference",
        ),
        invalid(
            "reference spaces",
            pesapal(|v| v["reference"] = json!("ORD 1")),
            "reference",
        ),
        invalid(
            "reference unicode",
            pesapal(|v| v["reference"] = json!("ORDÉ1")),
            "reference",
        ),
        invalid(
            "reference quote",
            pesapal(|v| v["reference"] = json!("ORD\"1")),
            "reference",
        ),
        invalid(
            "ClickPesa reference with dash",
            clickpesa(|v| v["reference"] = json!("ORD-1")),
            "reference",
        ),
        invalid(
            "ClickPesa reference too long",
            clickpesa(|v| v["reference"] = json!(very_long)),
            "reference",
        ),
        invalid(
            "reference number",
            pesapal(|v| v["reference"] = json!(12)),
            "reference",
        ),
        // Phones.
        invalid(
            "ClickPesa phone local form",
            clickpesa(|v| v["customer"]["phone"] = json!("0712345678")),
            "customer.phone",
        ),
        invalid(
            "ClickPesa phone with plus",
            clickpesa(|v| v["customer"]["phone"] = json!("+255712345678")),
            "customer.phone",
        ),
        invalid(
            "ClickPesa phone missing",
            clickpesa(|v| v["customer"] = json!({})),
            "customer.phone",
        ),
        invalid(
            "ClickPesa phone as number",
            clickpesa(|v| v["customer"]["phone"] = json!(255712345678_u64)),
            "customer.phone",
        ),
        invalid(
            "PesaPal phone letters",
            pesapal(|v| v["customer"]["phone"] = json!("07230x0000")),
            "customer.phone",
        ),
        // Emails and names.
        invalid(
            "email without at",
            pesapal(|v| v["customer"]["email"] = json!("jane")),
            "customer.email",
        ),
        invalid(
            "email without dot",
            pesapal(|v| v["customer"]["email"] = json!("jane@example")),
            "customer.email",
        ),
        invalid(
            "email with space",
            pesapal(|v| v["customer"]["email"] = json!("ja ne@example.com")),
            "customer.email",
        ),
        invalid(
            "PesaPal customer without contact",
            pesapal(|v| v["customer"] = json!({"first_name":"Jane"})),
            "customer",
        ),
        invalid(
            "country code long",
            pesapal(|v| v["customer"]["country_code"] = json!("KEN")),
            "customer.country_code",
        ),
        invalid(
            "first name control char",
            pesapal(|v| v["customer"]["first_name"] = json!("Ja\u{7}ne")),
            "customer.first_name",
        ),
        invalid(
            "customer string",
            pesapal(|v| v["customer"] = json!("jane@example.com")),
            "customer",
        ),
        invalid(
            "customer array",
            pesapal(|v| v["customer"] = json!([])),
            "customer",
        ),
        // URLs and PesaPal-required members.
        invalid(
            "callback relative",
            pesapal(|v| v["callback_url"] = json!("/return")),
            "callback_url",
        ),
        invalid(
            "callback javascript",
            pesapal(|v| v["callback_url"] = json!("javascript:alert(1)")),
            "callback_url",
        ),
        invalid(
            "callback missing",
            pesapal(|v| v["callback_url"] = Value::Null),
            "callback_url",
        ),
        invalid(
            "callback with spaces",
            pesapal(|v| v["callback_url"] = json!("https://shop.example/a b")),
            "callback_url",
        ),
        invalid(
            "cancellation ftp",
            pesapal(|v| v["cancellation_url"] = json!("ftp://shop.example/x")),
            "cancellation_url",
        ),
        invalid(
            "notification id not a GUID",
            pesapal(|v| v["notification_id"] = json!("abc")),
            "notification_id",
        ),
        invalid(
            "description missing",
            pesapal(|v| v["description"] = Value::Null),
            "description",
        ),
        invalid(
            "description too long",
            pesapal(|v| v["description"] = json!("d".repeat(101))),
            "description",
        ),
        invalid(
            "description number",
            pesapal(|v| v["description"] = json!(5)),
            "description",
        ),
        invalid(
            "IPN url javascript",
            ipn_registration(|v| v["url"] = json!("javascript:alert(1)")),
            "url",
        ),
        invalid(
            "IPN url relative",
            ipn_registration(|v| v["url"] = json!("/notifications/pesapal")),
            "url",
        ),
        invalid(
            "IPN url missing",
            ipn_registration(|v| v["url"] = Value::Null),
            "url",
        ),
        invalid(
            "IPN type PUT",
            ipn_registration(|v| v["notification_type"] = json!("PUT")),
            "notification_type",
        ),
        invalid(
            "IPN type lower case",
            ipn_registration(|v| v["notification_type"] = json!("get")),
            "notification_type",
        ),
        invalid(
            "IPN type missing",
            ipn_registration(|v| v["notification_type"] = Value::Null),
            "notification_type",
        ),
        // Providers and vocabularies.
        invalid(
            "provider unknown",
            pesapal(|v| v["provider"] = json!("paypal")),
            "provider",
        ),
        invalid(
            "provider capitalised",
            pesapal(|v| v["provider"] = json!("PesaPal")),
            "provider",
        ),
        invalid(
            "provider number",
            pesapal(|v| v["provider"] = json!(1)),
            "provider",
        ),
        invalid(
            "provider missing",
            pesapal(|v| v["provider"] = Value::Null),
            "provider",
        ),
        invalid(
            "IPN provider unknown",
            ipn_registration(|v| v["provider"] = json!("airtel")),
            "provider",
        ),
        invalid(
            "method unknown",
            clickpesa(|v| v["method"] = json!("bank")),
            "method",
        ),
        invalid(
            "method number",
            clickpesa(|v| v["method"] = json!(1)),
            "method",
        ),
        invalid(
            "redirect mode unknown",
            pesapal(|v| v["redirect_mode"] = json!("TOP")),
            "redirect_mode",
        ),
        // Missing members and shapes.
        invalid("empty object", raw("{}"), "provider"),
        invalid(
            "amount missing",
            pesapal(|v| v["amount"] = Value::Null),
            "amount",
        ),
        invalid(
            "reference missing",
            clickpesa(|v| v["reference"] = Value::Null),
            "reference",
        ),
        invalid("body is an array", raw("[1,2,3]"), "body"),
        invalid("body is a string", raw("\"pay\""), "body"),
        invalid("body is null", raw("null"), "body"),
        invalid(
            "member repeated",
            raw(
                r#"{"provider":"pesapal","provider":"clickpesa","reference":"R","amount":"1","currency":"KES"}"#,
            ),
            "provider",
        ),
        // Malformed JSON.
        malformed("truncated", raw(r#"{"provider":"pesapal","reference":"#)),
        malformed("unquoted key", raw(r#"{provider:"pesapal"}"#)),
        malformed("trailing comma", raw(r#"{"provider":"pesapal",}"#)),
        malformed("trailing garbage", raw(r#"{"provider":"pesapal"} x"#)),
        malformed("empty body", raw("")),
        malformed("single quotes", raw("{'provider':'pesapal'}")),
        malformed(
            "invalid UTF-8",
            Input::Typed(
                Some("application/json"),
                b"{\"provider\":\"pes\xff\"}".to_vec(),
            ),
        ),
        // Size and content type.
        case(
            "body over the limit",
            Input::Typed(Some("application/json"), vec![b' '; MAX_BODY_BYTES + 1]),
            413,
            "payload_too_large",
            None,
        ),
        case(
            "text/plain",
            Input::Typed(
                Some("text/plain"),
                pesapal_payment().to_string().into_bytes(),
            ),
            415,
            "unsupported_media_type",
            None,
        ),
        case(
            "no content type",
            Input::Typed(None, pesapal_payment().to_string().into_bytes()),
            415,
            "unsupported_media_type",
            None,
        ),
        case(
            "form content type",
            Input::Typed(
                Some("application/x-www-form-urlencoded"),
                b"provider=pesapal".to_vec(),
            ),
            415,
            "unsupported_media_type",
            None,
        ),
        case(
            "json look-alike type",
            Input::Typed(
                Some("application/jsonp"),
                pesapal_payment().to_string().into_bytes(),
            ),
            415,
            "unsupported_media_type",
            None,
        ),
        // Status path ids.
        invalid(
            "PesaPal id with space",
            status_of("/payments/pesapal/abc%20def"),
            "id",
        ),
        invalid(
            "PesaPal id with quote",
            status_of("/payments/pesapal/abc%22def"),
            "id",
        ),
        invalid(
            "ClickPesa id with dash",
            status_of("/payments/clickpesa/ORD-1"),
            "id",
        ),
        case(
            "unknown provider path",
            status_of("/payments/stripe/ORD1"),
            404,
            "not_found",
            None,
        ),
        // PesaPal IPN query strings and bodies.
        bad_ipn("IPN empty query", ipn_get(""), "OrderTrackingId"),
        bad_ipn(
            "IPN without reference",
            ipn_get(&format!("OrderTrackingId={ID}")),
            "OrderMerchantReference",
        ),
        bad_ipn(
            "IPN without type",
            ipn_get(&format!("OrderTrackingId={ID}&OrderMerchantReference=R1")),
            "OrderNotificationType",
        ),
        bad_ipn(
            "IPN unknown type",
            ipn_get(&format!(
                "OrderTrackingId={ID}&OrderMerchantReference=R1&OrderNotificationType=CHANGE"
            )),
            "OrderNotificationType",
        ),
        bad_ipn(
            "IPN id smuggling a parameter",
            ipn_get(
                "OrderTrackingId=x%26status%3D200&OrderMerchantReference=R1&OrderNotificationType=IPNCHANGE",
            ),
            "OrderTrackingId",
        ),
        bad_ipn(
            "IPN id path traversal",
            ipn_get(
                "OrderTrackingId=..%2F..%2Fadmin&OrderMerchantReference=R1&OrderNotificationType=IPNCHANGE",
            ),
            "OrderTrackingId",
        ),
        bad_ipn(
            "IPN reference with markup",
            ipn_get(&format!(
                "OrderTrackingId={ID}&OrderMerchantReference=%22%3E%3Cscript%3E&OrderNotificationType=IPNCHANGE"
            )),
            "OrderMerchantReference",
        ),
        bad_ipn(
            "IPN reference with CRLF",
            ipn_get(&format!(
                "OrderTrackingId={ID}&OrderMerchantReference=R1%0D%0ASet-Cookie:%20x&OrderNotificationType=IPNCHANGE"
            )),
            "OrderMerchantReference",
        ),
        bad_ipn(
            "IPN id too long",
            ipn_get(&format!(
                "OrderTrackingId={}&OrderMerchantReference=R1&OrderNotificationType=IPNCHANGE",
                "a".repeat(65)
            )),
            "OrderTrackingId",
        ),
        bad_ipn(
            "IPN POST malformed JSON",
            ipn_post("application/json", "{\"OrderTrackingId\":"),
            "body",
        ),
        bad_ipn(
            "IPN POST id as number",
            ipn_post(
                "application/json",
                r#"{"OrderTrackingId":5,"OrderMerchantReference":"R1","OrderNotificationType":"IPNCHANGE"}"#,
            ),
            "OrderTrackingId",
        ),
        case(
            "IPN over the limit",
            Input::Public(
                "POST",
                "/notifications/pesapal".to_owned(),
                Some("application/json"),
                vec![b' '; MAX_BODY_BYTES + 1],
            ),
            413,
            "payload_too_large",
            None,
        ),
    ]
}

fn request(input: Input) -> Request {
    match input {
        Input::Json(path, body) => merchant("POST", path, &body),
        Input::Get(path) => merchant("GET", &path, ""),
        Input::Typed(content_type, body) => {
            let mut request = merchant("POST", "/payments", "").with_body(body);
            remove_header(&mut request, "content-type");
            if let Some(content_type) = content_type {
                set_header(&mut request, "content-type", content_type);
            }
            request
        }
        Input::Public(method, uri, content_type, body) => {
            let mut request = Request::new(method, uri).with_body(body);
            if let Some(content_type) = content_type {
                request = request.with_header("content-type", content_type);
            }
            request
        }
    }
}

#[test]
fn bad_input_is_refused_naming_the_field_without_a_call() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let happy: Vec<Reply> = vec![
        Ok((200, PP_TOKEN)),
        Ok((
            200,
            r#"{"order_tracking_id":"96a5e1d9-f711-4423-82ce-dd758f972713","redirect_url":"https://pay.example/x","status":"200"}"#,
        )),
    ];
    let mut failures = Vec::new();
    for case in cases {
        let (response, transport) = run(request(case.input), &vars(), happy.clone());
        let body = body_json(&response);
        let got = (
            response.status,
            body["code"].as_str().map(str::to_owned),
            body["field"].as_str().map(str::to_owned),
        );
        let want = (
            case.status,
            Some(case.code.to_owned()),
            case.field.map(str::to_owned),
        );
        if got != want || !transport.seen.is_empty() {
            failures.push(format!(
                "{}: got {got:?} with {} call(s), want {want:?}; {body}",
                case.name,
                transport.seen.len()
            ));
            continue;
        }
        assert_problem(&response, case.status, case.code, case.field);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_valid_fixtures_pass_the_same_checks() {
    // Guards the table: the bodies it edits are accepted as they are.
    let (response, _) = run(
        merchant("POST", "/payments", &pesapal_payment().to_string()),
        &vars(),
        vec![
            Ok((200, PP_TOKEN)),
            Ok((
                200,
                r#"{"order_tracking_id":"96a5e1d9-f711-4423-82ce-dd758f972713","redirect_url":"https://pay.example/x","status":"200"}"#,
            )),
        ],
    );
    assert_eq!(response.status, 201);
}
