//! The M-Pesa Daraja emulation over real loopback HTTP: OAuth, STK push and
//! query, settling and the callback, options, faults and token expiry.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use finconnect_sandbox::{
    Fault, FaultKind, MPESA_PASSKEY, MpesaOptions, Sandbox, SandboxConfig, SandboxError, StkResult,
    Target,
};
use serde_json::{Value, json};

const PHONE: &str = "254708374149";

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

/// 2026-10-06T06:52:33.123Z, i.e. 09:52:33.123 EAT.
fn instant() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_791_269_553_123)
}

fn ack_receiver() -> Receiver {
    Receiver::start(|_| {
        (
            200,
            r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#.to_owned(),
        )
    })
}

// ---------------------------------------------------------------- OAuth

#[test]
fn token_success_is_28_alphanumerics_and_a_string_lifetime() {
    let sb = sandbox();
    assert_eq!(sb.mpesa_base_url(), format!("{}/mpesa-daraja", sb.origin()));
    let auth = basic("sandbox-mpesa-key", "sandbox-mpesa-secret");
    let resp = get(sb.addr(), MPESA_TOKEN_PATH, &[("Authorization", &auth)]);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = resp.json();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["expires_in"], "3599");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.len(), 28);
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(mpesa_token(&sb), token, "each call issues a new token");

    sb.set_mpesa_options(MpesaOptions {
        expires_in_as_number: true,
        ..MpesaOptions::default()
    });
    let resp = get(sb.addr(), MPESA_TOKEN_PATH, &[("Authorization", &auth)]);
    assert_eq!(resp.json()["expires_in"], json!(3599));
    // Every round trip is recorded, with the Daraja path.
    let recorded = sb.requests();
    assert_eq!(recorded.len(), 3);
    assert!(
        recorded
            .iter()
            .all(|r| r.path == "/mpesa-daraja/oauth/v1/generate")
    );
    assert_eq!(
        recorded[0].query.as_deref(),
        Some("grant_type=client_credentials")
    );
}

#[test]
fn token_errors_match_daraja() {
    let sb = sandbox();
    let good = basic("sandbox-mpesa-key", "sandbox-mpesa-secret");
    // No Authorization, or not Basic.
    let resp = get(sb.addr(), MPESA_TOKEN_PATH, &[]);
    assert_daraja_error(&resp, 400, "400.008.01", "Invalid Authentication passed");
    let resp = get(
        sb.addr(),
        MPESA_TOKEN_PATH,
        &[("Authorization", "Bearer c2FuZGJveC1tcGVzYS1rZXk=")],
    );
    assert_daraja_error(&resp, 400, "400.008.01", "Invalid Authentication passed");
    // grant_type absent, wrong, or with a trailing space.
    for path in [
        "/mpesa-daraja/oauth/v1/generate",
        "/mpesa-daraja/oauth/v1/generate?grant_type=password",
        "/mpesa-daraja/oauth/v1/generate?grant_type=client_credentials%20",
    ] {
        let resp = get(sb.addr(), path, &[("Authorization", &good)]);
        assert_daraja_error(&resp, 400, "400.008.02", "Invalid grant type passed");
    }
    // Wrong key or secret.
    let wrong = basic("sandbox-mpesa-key", "not-the-secret");
    let resp = get(sb.addr(), MPESA_TOKEN_PATH, &[("Authorization", &wrong)]);
    assert_daraja_error(&resp, 400, "400.008.01", "Invalid Authentication passed");
    sb.set_mpesa_options(MpesaOptions {
        wrong_credentials_empty_body: true,
        ..MpesaOptions::default()
    });
    let resp = get(sb.addr(), MPESA_TOKEN_PATH, &[("Authorization", &wrong)]);
    assert_eq!(resp.status, 400);
    assert!(resp.body.is_empty(), "{}", resp.text());
    // OAuth is GET only.
    let resp = request(
        sb.addr(),
        "POST",
        MPESA_TOKEN_PATH,
        &[("Authorization", &good)],
        None,
    );
    assert_daraja_error(&resp, 405, "405.001", "Method Not Allowed");
}

#[test]
fn other_routes_need_a_live_bearer_token() {
    let sb = sandbox();
    let body = stk_body(PHONE, "http://127.0.0.1:9/cb");
    // Missing, unknown, expired.
    let resp = post_json(sb.addr(), STK_PUSH, &[], &body);
    assert_daraja_error(&resp, 404, "404.001.03", "Invalid Access Token");
    let resp = stk_push(&sb, "c9SQxWWhmdVRlyh0zh8gZDTkubVF", &body);
    assert_daraja_error(&resp, 404, "404.001.03", "Invalid Access Token");
    let token = mpesa_token(&sb);
    sb.advance_clock(Duration::from_secs(3599));
    let resp = stk_query(&sb, &token, "ws_CO_x");
    assert_daraja_error(&resp, 404, "404.001.03", "Invalid Access Token");
    assert!(sb.mpesa_stk_pushes().is_empty());
    // Unknown path, wrong method (the route is checked before the token).
    let resp = post_json(
        sb.addr(),
        "/mpesa-daraja/mpesa/stkpush/v2/processrequest",
        &[],
        &body,
    );
    assert_daraja_error(&resp, 404, "404.001.01", "Resource not found");
    let resp = get(sb.addr(), STK_PUSH, &[]);
    assert_daraja_error(&resp, 405, "405.001", "Method Not Allowed");
}

// ---------------------------------------------------------------- STK push

#[test]
fn stk_push_is_accepted_with_observed_ids() {
    let sb = sandbox();
    sb.pin_clock(instant());
    let token = mpesa_token(&sb);
    let resp = stk_push(&sb, &token, &stk_body(PHONE, "http://127.0.0.1:9/cb"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["ResponseCode"], "0");
    assert_eq!(
        body["ResponseDescription"],
        "Success. Request accepted for processing"
    );
    assert_eq!(
        body["CustomerMessage"],
        "Success. Request accepted for processing"
    );
    assert_eq!(
        body["CheckoutRequestID"],
        "ws_CO_06102026095233123708374149"
    );
    let merchant = body["MerchantRequestID"].as_str().unwrap();
    let groups: Vec<&str> = merchant.split('-').collect();
    assert_eq!(groups.len(), 4, "{merchant}");
    assert!(groups[..3].iter().all(|g| g.len() == 4));
    assert!(groups[3].len() > 12 && groups[3].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(body.as_object().unwrap().len(), 5);
    // Keys in Daraja's order on the wire.
    let text = resp.text();
    assert!(text.starts_with(r#"{"MerchantRequestID":"#), "{text}");

    let pushes = sb.mpesa_stk_pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].amount, 1);
    assert_eq!(pushes[0].phone_number, PHONE);
    assert_eq!(pushes[0].created_at, TIMESTAMP);
    assert_eq!(pushes[0].result, None);

    // Numbers work as well as strings; Buy Goods takes the till as PartyB;
    // a second push at the same pinned instant gets its own id.
    let mut till = stk_body("254112345678", "https://example.invalid/cb");
    till["TransactionType"] = json!("CustomerBuyGoodsOnline");
    till["PartyB"] = json!(174_380);
    till["Amount"] = json!(250);
    till["PartyA"] = json!(254_112_345_678_u64);
    till["PhoneNumber"] = json!(254_112_345_678_u64);
    let resp = stk_push(&sb, &token, &till);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json()["CheckoutRequestID"],
        "ws_CO_06102026095233123112345678"
    );
    assert_eq!(sb.mpesa_stk_pushes()[1].amount, 250);
}

#[test]
fn stk_push_checks_run_in_daraja_order() {
    let sb = sandbox();
    let token = mpesa_token(&sb);
    let auth = bearer(&token);
    // Without a JSON content type Daraja blames the shortcode.
    let raw = stk_body(PHONE, "http://127.0.0.1:9/cb").to_string();
    let resp = request(
        sb.addr(),
        "POST",
        STK_PUSH,
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        Some(&raw),
    );
    assert_daraja_error(
        &resp,
        400,
        "400.002.02",
        "Bad Request - Invalid BusinessShortCode",
    );
    let resp = request(
        sb.addr(),
        "POST",
        STK_PUSH,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some("{\"BusinessShortCode\":"),
    );
    assert_daraja_error(&resp, 400, "400.002.05", "Invalid Request Payload");

    // Start from a body where everything is wrong and mend one field at a
    // time: each answer names the next field in Daraja's order.
    let mut body = json!({
        "BusinessShortCode": "17x379",
        "Password": 12,
        "Timestamp": null,
        "TransactionType": "CustomerPayBill",
        "Amount": true,
        "PartyA": "+254708374149",
        "PartyB": [],
        "PhoneNumber": "+254708374149",
        "CallBackURL": 7,
        "AccountReference": null,
        "TransactionDesc": 5,
    });
    let good = stk_body(PHONE, "http://127.0.0.1:9/cb");
    let steps: Vec<(&str, Value, u16, &str)> = vec![
        (
            "BusinessShortCode",
            json!("999999"),
            400,
            "Bad Request - Invalid BusinessShortCode",
        ),
        (
            "Password",
            json!("d3Jvbmc="),
            400,
            "Bad Request - Invalid Password",
        ),
        (
            "Timestamp",
            json!("2026-10-06 09:52"),
            400,
            "Bad Request - Invalid Timestamp",
        ),
        (
            "TransactionType",
            good["TransactionType"].clone(),
            400,
            "Bad Request - Invalid TransactionType",
        ),
        ("Amount", json!("0"), 400, "Bad Request - Invalid Amount"),
        (
            "PartyA",
            json!("0708374149"),
            400,
            "Bad Request - Invalid PartyA",
        ),
        (
            "PartyB",
            json!("600000"),
            400,
            "Bad Request - Invalid PartyB",
        ),
        (
            "PhoneNumber",
            json!("0708374149"),
            400,
            "Bad Request - Invalid PhoneNumber",
        ),
        (
            "CallBackURL",
            json!("ftp://127.0.0.1/cb"),
            400,
            "Bad Request - Invalid CallBackURL",
        ),
        (
            "AccountReference",
            good["AccountReference"].clone(),
            400,
            "Bad Request - Invalid AccountReference",
        ),
        (
            "TransactionDesc",
            good["TransactionDesc"].clone(),
            400,
            "Bad Request - Invalid TransactionDesc",
        ),
        // Every field is now well typed: the Timestamp format comes next.
        (
            "Timestamp",
            good["Timestamp"].clone(),
            400,
            "Bad Request - Invalid Timestamp",
        ),
        (
            "BusinessShortCode",
            good["BusinessShortCode"].clone(),
            500,
            "Merchant does not exist",
        ),
        (
            "Password",
            good["Password"].clone(),
            500,
            "Wrong credentials",
        ),
        ("Amount", json!(1.5), 400, "Bad Request - Invalid Amount"),
        (
            "Amount",
            good["Amount"].clone(),
            400,
            "Bad Request - Invalid Amount",
        ),
        (
            "PhoneNumber",
            good["PhoneNumber"].clone(),
            400,
            "Bad Request - Invalid PhoneNumber",
        ),
        (
            "PartyA",
            good["PartyA"].clone(),
            400,
            "Bad Request - Invalid PartyA",
        ),
        (
            "PartyB",
            good["PartyB"].clone(),
            400,
            "Bad Request - Invalid PartyB",
        ),
        (
            "CallBackURL",
            good["CallBackURL"].clone(),
            400,
            "Bad Request - Invalid CallBackURL",
        ),
    ];
    for (field, fix, status, message) in steps {
        let resp = stk_push(&sb, &token, &body);
        let code = match status {
            400 => "400.002.02",
            _ => "500.001.1001",
        };
        assert_daraja_error(&resp, status, code, message);
        body[field] = fix;
    }
    assert_eq!(body, good);
    assert!(sb.mpesa_stk_pushes().is_empty(), "nothing accepted so far");
    let resp = stk_push(&sb, &token, &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    // A prompt is pending on that phone.
    let resp = stk_push(&sb, &token, &body);
    assert_daraja_error(
        &resp,
        500,
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    );
    // Another phone is free.
    let resp = stk_push(
        &sb,
        &token,
        &stk_body("254712345678", "http://127.0.0.1:9/cb"),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());

    sb.set_mpesa_options(MpesaOptions {
        merchant_validate_prefix: true,
        ..MpesaOptions::default()
    });
    let mut wrong = stk_body("254712000000", "http://127.0.0.1:9/cb");
    wrong["Password"] = json!(stk_password("20261006095234"));
    let resp = stk_push(&sb, &token, &wrong);
    assert_daraja_error(
        &resp,
        500,
        "500.001.1001",
        "[MerchantValidate] - Wrong credentials",
    );
}

// ---------------------------------------------------------------- query and settling

#[test]
fn query_is_pending_until_settled_then_reports_each_result_as_strings() {
    let sb = sandbox();
    let receiver = ack_receiver();
    let token = mpesa_token(&sb);
    let cases = [
        (
            StkResult::Success,
            "0",
            "The service request is processed successfully.",
        ),
        (
            StkResult::CancelledByUser,
            "1032",
            "Request cancelled by user",
        ),
        (StkResult::NoResponse, "1037", "No response from user."),
        (
            StkResult::WrongPin,
            "2001",
            "[MpesaCB - ]The initiator information is invalid.",
        ),
        (
            StkResult::InsufficientFunds,
            "1",
            "The balance is insufficient for the transaction.",
        ),
    ];
    for (result, code, desc) in cases {
        // The same phone each time: settling frees it.
        let checkout = accepted_push(&sb, &token, PHONE, &receiver.url("/mpesa/callback"));
        let resp = stk_query(&sb, &token, &checkout);
        let request_id = assert_daraja_error(
            &resp,
            500,
            "500.001.1001",
            "The transaction is being processed",
        );
        assert_eq!(
            request_id, checkout,
            "requestId echoes the CheckoutRequestID"
        );

        let delivery = sb.settle_mpesa(&checkout, result).unwrap();
        assert_eq!(delivery.status, Some(200));
        receiver.next();

        let resp = stk_query(&sb, &token, &checkout);
        assert_eq!(resp.status, 200, "{}", resp.text());
        let body = resp.json();
        assert_eq!(body["ResponseCode"], "0");
        assert_eq!(
            body["ResponseDescription"],
            "The service request has been accepted successfully"
        );
        assert_eq!(body["CheckoutRequestID"], checkout.as_str());
        assert_eq!(body["ResultCode"], code, "a string, not a number");
        assert_eq!(body["ResultDesc"], desc);
        assert!(body.get("Amount").is_none(), "the query has no amount");
    }

    // Unknown id, and the same password checks as the push.
    let resp = stk_query(&sb, &token, "ws_CO_00000000000000000000000000");
    assert_daraja_error(
        &resp,
        400,
        "400.002.02",
        "Bad Request - Invalid CheckoutRequestID",
    );
    let auth = bearer(&token);
    let resp = post_json(
        sb.addr(),
        STK_QUERY,
        &[("Authorization", &auth)],
        &json!({"BusinessShortCode": 174379, "Password": stk_password("20261006095234"),
                "Timestamp": TIMESTAMP, "CheckoutRequestID": "ws_CO_x"}),
    );
    assert_daraja_error(&resp, 500, "500.001.1001", "Wrong credentials");
    sb.set_mpesa_options(MpesaOptions {
        query_description_typo: true,
        ..MpesaOptions::default()
    });
    let checkout = sb.mpesa_stk_pushes()[0].checkout_request_id.clone();
    let resp = stk_query(&sb, &token, &checkout);
    assert_eq!(
        resp.json()["ResponseDescription"],
        "The service request has been accepted successsfully"
    );
}

#[test]
fn success_callback_is_the_exact_envelope_and_the_answer_is_recorded() {
    let sb = sandbox();
    sb.pin_clock(instant());
    let receiver = ack_receiver();
    let token = mpesa_token(&sb);
    let checkout = accepted_push(
        &sb,
        &token,
        PHONE,
        &receiver.url("/mpesa/callback?k=s3cret"),
    );
    let merchant = sb.mpesa_stk_pushes()[0].merchant_request_id.clone();
    sb.advance_clock(Duration::from_secs(20));

    let delivery = sb.settle_mpesa(&checkout, StkResult::Success).unwrap();
    let got = receiver.next();
    assert_eq!(got.method, "POST");
    assert_eq!(got.target, "/mpesa/callback?k=s3cret");
    assert!(
        got.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        got.header("authorization").is_none(),
        "Daraja signs nothing"
    );
    let push = &sb.mpesa_stk_pushes()[0];
    let receipt = push.receipt_number.clone().unwrap();
    assert_eq!(receipt.len(), 10);
    assert!(
        receipt
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(push.transaction_date.as_deref(), Some("20261006095253"));
    let expected = format!(
        concat!(
            r#"{{"Body":{{"stkCallback":{{"MerchantRequestID":"{m}","CheckoutRequestID":"{c}","#,
            r#""ResultCode":0,"ResultDesc":"The service request is processed successfully.","#,
            r#""CallbackMetadata":{{"Item":[{{"Name":"Amount","Value":1}},"#,
            r#"{{"Name":"MpesaReceiptNumber","Value":"{r}"}},{{"Name":"Balance"}},"#,
            r#"{{"Name":"TransactionDate","Value":20261006095253}},"#,
            r#"{{"Name":"PhoneNumber","Value":254708374149}}]}}}}}}}}"#
        ),
        m = merchant,
        c = checkout,
        r = receipt
    );
    assert_eq!(String::from_utf8(got.body.clone()).unwrap(), expected);
    assert_eq!(delivery.request_body, expected);
    assert_eq!(delivery.status, Some(200));
    assert_eq!(delivery.body, r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#);
    assert_eq!(delivery.method, "POST");
    assert_eq!(sb.deliveries(), vec![delivery.clone()]);

    // Same result again: the same callback again. Another result: refused.
    let again = sb.settle_mpesa(&checkout, StkResult::Success).unwrap();
    assert_eq!(again.request_body, expected);
    receiver.next();
    assert!(matches!(
        sb.settle_mpesa(&checkout, StkResult::CancelledByUser),
        Err(SandboxError::MpesaAlreadySettled { .. })
    ));
    assert!(matches!(
        sb.settle_mpesa("ws_CO_nope", StkResult::Success),
        Err(SandboxError::UnknownMpesaCheckout(_))
    ));
}

#[test]
fn failure_callbacks_have_no_metadata_and_amount_decimals_is_an_option() {
    let sb = sandbox();
    let receiver = Receiver::start(|_| (500, "nope".to_owned()));
    let token = mpesa_token(&sb);
    let checkout = accepted_push(&sb, &token, PHONE, &receiver.url("/cb"));
    // Over the HTTP control API, by code.
    let resp = request(
        sb.addr(),
        "POST",
        &format!("/_sandbox/mpesa/stk/{checkout}/1032"),
        &[],
        None,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let answer = resp.json();
    assert_eq!(answer["provider"], "mpesa");
    assert_eq!(
        answer["outcome"],
        json!({"name": "cancelled_by_user", "code": "1032"})
    );
    assert_eq!(answer["delivery"]["status"], 500);
    assert_eq!(answer["delivery"]["body"], "nope");
    let merchant = sb.mpesa_stk_pushes()[0].merchant_request_id.clone();
    let got = receiver.next();
    assert_eq!(
        String::from_utf8(got.body).unwrap(),
        format!(
            r#"{{"Body":{{"stkCallback":{{"MerchantRequestID":"{merchant}","CheckoutRequestID":"{checkout}","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}}}}"#
        )
    );
    assert!(sb.mpesa_stk_pushes()[0].receipt_number.is_none());

    // Options over HTTP: amounts with two decimals.
    let resp = request(
        sb.addr(),
        "PUT",
        "/_sandbox/mpesa/options",
        &[("Content-Type", "application/json")],
        Some(r#"{"callback_amount_decimals": true}"#),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["callback_amount_decimals"], true);
    assert!(sb.mpesa_options().callback_amount_decimals);
    let resp = request(
        sb.addr(),
        "PUT",
        "/_sandbox/mpesa/options",
        &[],
        Some(r#"{"callback_amount_decimal": true}"#),
    );
    assert_eq!(resp.status, 400, "unknown option names are refused");
    let checkout = accepted_push(&sb, &token, PHONE, &receiver.url("/cb"));
    let resp = request(
        sb.addr(),
        "POST",
        &format!("/_sandbox/mpesa/stk/{checkout}/success"),
        &[],
        None,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let got = receiver.next().json();
    assert_eq!(
        got["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0],
        json!({"Name": "Amount", "Value": 1.0})
    );
    assert!(String::from_utf8_lossy(&receiver_body_of(&sb, 1)).contains(r#""Value":1.00}"#));
    // Unknown results and ids.
    let resp = request(
        sb.addr(),
        "POST",
        &format!("/_sandbox/mpesa/stk/{checkout}/paid"),
        &[],
        None,
    );
    assert_eq!(resp.status, 404);
    let resp = request(
        sb.addr(),
        "POST",
        "/_sandbox/mpesa/stk/ws_CO_nope/0",
        &[],
        None,
    );
    assert_eq!(resp.status, 404);
    let orders = get(sb.addr(), "/_sandbox/orders", &[]).json();
    assert_eq!(orders["mpesa"]["stk_pushes"].as_array().unwrap().len(), 2);
    assert_eq!(orders["mpesa"]["stk_pushes"][1]["result"], "success");
}

/// The body the sandbox sent in delivery `n`.
fn receiver_body_of(sb: &Sandbox, n: usize) -> Vec<u8> {
    sb.deliveries()[n].request_body.clone().into_bytes()
}

// ---------------------------------------------------------------- options and faults

#[test]
fn reissue_can_invalidate_the_previous_token() {
    let sb = sandbox();
    // Default: older tokens keep working.
    let first = mpesa_token(&sb);
    let second = mpesa_token(&sb);
    assert_eq!(stk_query(&sb, &first, "ws_CO_x").status, 400);
    assert_eq!(stk_query(&sb, &second, "ws_CO_x").status, 400);

    sb.set_mpesa_options(MpesaOptions {
        reissue_invalidates_previous: true,
        ..MpesaOptions::default()
    });
    let a = mpesa_token(&sb);
    let b = mpesa_token(&sb);
    // Two fresh-token clients racing: the first one's token is gone.
    let resp = stk_push(&sb, &a, &stk_body(PHONE, "http://127.0.0.1:9/cb"));
    assert_daraja_error(&resp, 404, "404.001.03", "Invalid Access Token");
    let resp = stk_push(&sb, &b, &stk_body(PHONE, "http://127.0.0.1:9/cb"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        stk_query(&sb, &second, "ws_CO_x").status,
        404,
        "issuing `a` replaced `second`, the latest before it"
    );
}

#[test]
fn spike_arrest_and_generic_faults_hit_daraja_targets() {
    let sb = sandbox();
    let token = mpesa_token(&sb);
    sb.inject(Fault::once(Target::MpesaStkPush, FaultKind::SpikeArrest));
    let body = stk_body(PHONE, "http://127.0.0.1:9/cb");
    let resp = stk_push(&sb, &token, &body);
    assert_daraja_error(
        &resp,
        500,
        "500.003.02",
        "Error Occurred: Spike Arrest Violation",
    );
    assert!(sb.mpesa_stk_pushes().is_empty(), "nothing was accepted");
    let checkout = stk_push(&sb, &token, &body).json()["CheckoutRequestID"].clone();
    assert!(checkout.is_string());

    // Over HTTP: quota on the token endpoint, HTML 500 on the query.
    let resp = post_json(
        sb.addr(),
        "/_sandbox/faults",
        &[],
        &json!([{"target": "mpesa_token", "kind": "quota_violation", "times": 1},
                {"target": "mpesa_stk_query", "kind": "html500", "times": 1}]),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let auth = basic("sandbox-mpesa-key", "sandbox-mpesa-secret");
    let resp = get(sb.addr(), MPESA_TOKEN_PATH, &[("Authorization", &auth)]);
    assert_daraja_error(&resp, 500, "500.003.03", "Quota Violation");
    let resp = stk_query(&sb, &token, checkout.as_str().unwrap());
    assert_eq!(resp.status, 500);
    assert!(resp.text().contains("<html"));

    // A group target covers Daraja only; a wrong token is refused later.
    sb.inject(Fault::once(Target::AnyMpesa, FaultKind::WrongToken));
    assert!(!pesapal_token(&sb).is_empty(), "PesaPal is untouched");
    let rejected = mpesa_token(&sb);
    assert_eq!(rejected.len(), 28);
    let resp = stk_query(&sb, &rejected, checkout.as_str().unwrap());
    assert_daraja_error(&resp, 404, "404.001.03", "Invalid Access Token");
    sb.inject(Fault::once(Target::MpesaStkQuery, FaultKind::TruncatedJson));
    let resp = stk_query(&sb, &token, checkout.as_str().unwrap());
    assert_eq!(resp.status, 200);
    assert!(
        serde_json::from_slice::<Value>(&resp.body)
            .unwrap_err()
            .is_eof()
    );
    assert!(sb.faults().is_empty());
}

// ---------------------------------------------------------------- tokens and the clock

#[test]
fn every_provider_s_tokens_expire_on_the_sandbox_clock_and_are_pruned() {
    let sb = sandbox();
    let pesapal = pesapal_token(&sb);
    let clickpesa = clickpesa_token(&sb);
    let mpesa = mpesa_token(&sb);
    for _ in 0..3 {
        pesapal_token(&sb);
        mpesa_token(&sb);
    }
    let held = |sb: &Sandbox| sb.describe()["tokens_held"].clone();
    assert_eq!(held(&sb), json!({"pesapal": 4, "clickpesa": 1, "mpesa": 4}));
    let list = format!("{PP}/URLSetup/GetIpnList");
    let pesapal_list = || get(sb.addr(), &list, &[("Authorization", &bearer(&pesapal))]);
    let clickpesa_query = || {
        get(
            sb.addr(),
            &format!("{CP}/payments/NONE"),
            &[("Authorization", &clickpesa)],
        )
    };
    assert_eq!(pesapal_list().status, 200);
    assert_eq!(clickpesa_query().status, 404, "authorised, unknown payment");
    assert_eq!(stk_query(&sb, &mpesa, "ws_CO_x").status, 400);

    // PesaPal tokens live 300 s by default.
    sb.advance_clock(Duration::from_secs(300));
    assert_eq!(pesapal_list().status, 401);
    assert_eq!(clickpesa_query().status, 404);
    assert_eq!(stk_query(&sb, &mpesa, "ws_CO_x").status, 400);
    // Daraja's 3599 s.
    sb.advance_clock(Duration::from_secs(3299));
    assert_eq!(stk_query(&sb, &mpesa, "ws_CO_x").status, 404);
    assert_eq!(clickpesa_query().status, 404);
    // ClickPesa's hour.
    sb.advance_clock(Duration::from_secs(1));
    assert_eq!(clickpesa_query().status, 401);

    // Expired tokens are dropped when the next one is issued.
    pesapal_token(&sb);
    mpesa_token(&sb);
    clickpesa_token(&sb);
    assert_eq!(held(&sb), json!({"pesapal": 1, "clickpesa": 1, "mpesa": 1}));
    assert!(sb.now() > SystemTime::now() + Duration::from_secs(3599));
}

#[test]
fn ids_are_deterministic_for_a_seed_and_describe_lists_the_credentials() {
    let run = |seed: u64| {
        let sb = Sandbox::start(SandboxConfig {
            mpesa_options: MpesaOptions {
                seed,
                ..MpesaOptions::default()
            },
            ..SandboxConfig::default()
        })
        .unwrap();
        sb.pin_clock(instant());
        let token = mpesa_token(&sb);
        let resp = stk_push(&sb, &token, &stk_body(PHONE, "http://127.0.0.1:9/cb"));
        resp.json()["MerchantRequestID"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));

    let sb = sandbox();
    let about = sb.describe();
    assert_eq!(about["mpesa"]["base_url"], sb.mpesa_base_url());
    assert_eq!(about["mpesa"]["consumer_key"], "sandbox-mpesa-key");
    assert_eq!(about["mpesa"]["shortcode"], "174379");
    assert_eq!(about["mpesa"]["till_number"], "174380");
    assert_eq!(about["mpesa"]["passkey"], MPESA_PASSKEY);
    assert!(
        about["fault_targets"]
            .as_array()
            .unwrap()
            .contains(&json!("mpesa_stk_push"))
    );
    let custom = Sandbox::start(SandboxConfig {
        mpesa_passkey: "a-real-looking-passkey".to_owned(),
        ..SandboxConfig::default()
    })
    .unwrap();
    assert_eq!(
        custom.describe()["mpesa"]["passkey"],
        "[configured, not shown]"
    );
    assert!(!format!("{:?}", custom.config()).contains("a-real-looking-passkey"));
}
