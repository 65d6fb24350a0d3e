//! Safaricom M-Pesa Daraja (Kenya) under `/mpesa-daraja`: OAuth, STK push
//! (M-Pesa Express), STK push query, and the STK callback body.
//!
//! Shapes, codes and the order of checks follow the Daraja notes in
//! `shared/specs/mpesa-daraja.md` (§2–§5, §9.2).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::fault::Target;
use crate::model::{MpesaStkPush, PaymentState};
use crate::server::Incoming;
use crate::state::{Shared, State};
use crate::util;

/// Path prefix of the Daraja emulation: FinConnect's `mpesa_base_url` is
/// the sandbox origin followed by this.
pub(crate) const PREFIX: &str = "/mpesa-daraja";

/// Daraja's content type (Apigee answers with this spelling).
const JSON: &str = "application/json;charset=UTF-8";

/// The Daraja endpoints the sandbox knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    StkPush,
    StkQuery,
}

impl Endpoint {
    /// The endpoint at `rest` (the path after the prefix), matched exactly.
    pub(crate) fn classify(rest: &str) -> Option<Endpoint> {
        match rest {
            "/oauth/v1/generate" => Some(Endpoint::Token),
            "/mpesa/stkpush/v1/processrequest" => Some(Endpoint::StkPush),
            "/mpesa/stkpushquery/v1/query" => Some(Endpoint::StkQuery),
            _ => None,
        }
    }

    pub(crate) fn target(self) -> Target {
        match self {
            Endpoint::Token => Target::MpesaToken,
            Endpoint::StkPush => Target::MpesaStkPush,
            Endpoint::StkQuery => Target::MpesaStkQuery,
        }
    }

    fn method(self) -> Method {
        match self {
            Endpoint::Token => Method::GET,
            Endpoint::StkPush | Endpoint::StkQuery => Method::POST,
        }
    }
}

/// Answers a request on a Daraja path (`endpoint` `None`: unknown path).
pub(crate) fn handle(shared: &Arc<Shared>, endpoint: Option<Endpoint>, req: &Incoming) -> Response {
    let mut state = shared.lock();
    let state = &mut *state;
    let Some(endpoint) = endpoint else {
        let id = request_id(state);
        return gateway_error(
            StatusCode::NOT_FOUND,
            &id,
            "404.001.01",
            "Resource not found",
        );
    };
    if req.method != endpoint.method() {
        let id = request_id(state);
        return gateway_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &id,
            "405.001",
            "Method Not Allowed",
        );
    }
    match endpoint {
        Endpoint::Token => generate_token(state, req),
        _ if !bearer_is_valid(state, req) => {
            let id = request_id(state);
            invalid_token(&id)
        }
        Endpoint::StkPush => stk_push(state, req),
        Endpoint::StkQuery => stk_query(state, req),
    }
}

// ------------------------------------------------------------ responses

fn daraja_json(status: StatusCode, body: &impl Serialize) -> Response {
    let (status, text) = match serde_json::to_string(body) {
        Ok(text) => (status, text),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("sandbox bug: {err}")}).to_string(),
        ),
    };
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// Daraja's error envelope, fields in the documented order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayError<'a> {
    request_id: &'a str,
    error_code: &'a str,
    error_message: &'a str,
}

/// `{"requestId", "errorCode", "errorMessage"}` with `status`.
pub(crate) fn gateway_error(
    status: StatusCode,
    request_id: &str,
    error_code: &str,
    error_message: &str,
) -> Response {
    daraja_json(
        status,
        &GatewayError {
            request_id,
            error_code,
            error_message,
        },
    )
}

/// HTTP 404 `404.001.03` "Invalid Access Token".
pub(crate) fn invalid_token(request_id: &str) -> Response {
    gateway_error(
        StatusCode::NOT_FOUND,
        request_id,
        "404.001.03",
        "Invalid Access Token",
    )
}

fn bad_request(state: &mut State, field: &str) -> Response {
    let id = request_id(state);
    gateway_error(
        StatusCode::BAD_REQUEST,
        &id,
        "400.002.02",
        &format!("Bad Request - Invalid {field}"),
    )
}

fn refused(state: &mut State, message: &str) -> Response {
    let id = request_id(state);
    gateway_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &id,
        "500.001.1001",
        message,
    )
}

// ------------------------------------------------------------ identifiers

/// One step of SplitMix64: a good spread of bits from a counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The next pseudo-random word of this sandbox's Daraja sequence.
fn next_word(state: &mut State) -> u64 {
    state.mpesa_counter += 1;
    let seed = state.config.mpesa_options.seed;
    splitmix64(seed ^ state.mpesa_counter.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// New-style id (`ac7b-470b-8df7-23ab3cef38271071873`: hex groups, then
/// digits) from two words and the counter.
fn hex_id(a: u64, b: u64, n: u64) -> String {
    format!(
        "{:04x}-{:04x}-{:04x}-{:012x}{}",
        a >> 48,
        (a >> 32) & 0xffff,
        (a >> 16) & 0xffff,
        b & 0xffff_ffff_ffff,
        1_000_000 + n % 9_000_000
    )
}

/// A `MerchantRequestID` / error `requestId`, from the seeded counter.
fn request_id(state: &mut State) -> String {
    let a = next_word(state);
    let b = next_word(state);
    hex_id(a, b, state.mpesa_counter)
}

/// A `requestId` for injected faults, which see no state.
pub(crate) fn fault_request_id() -> String {
    hex_id(util::random_u64(), util::random_u64(), 0)
}

/// A 10-character `MpesaReceiptNumber` (letter first, then upper-case
/// letters and digits), from the seeded counter.
pub(crate) fn receipt_number(state: &mut State) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut word = next_word(state);
    let mut out = String::with_capacity(10);
    out.push(char::from(LETTERS[(word % 26) as usize]));
    word /= 26;
    for i in 0..9 {
        if i == 5 {
            word = next_word(state);
        }
        out.push(char::from(ALNUM[(word % 36) as usize]));
        word /= 36;
    }
    out
}

/// An opaque 28-character alphanumeric access token (random: a token from
/// another sandbox run must not work here).
pub(crate) fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    util::random_bytes(28)
        .into_iter()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

// ------------------------------------------------------------ OAuth

fn header(req: &Incoming, name: http::HeaderName) -> Option<&str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The credentials part of `Authorization: <scheme> <credentials>` when the
/// scheme is `scheme` (any case).
fn credentials<'a>(req: &'a Incoming, scheme: &str) -> Option<&'a str> {
    let (found, rest) = header(req, AUTHORIZATION)?.trim().split_once(' ')?;
    found.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// `{"access_token", "expires_in"}`; `expires_in` a string unless asked
/// for a number.
pub(crate) fn token_body(token: &str, expires_in: u64, as_number: bool) -> Response {
    let expires_in = if as_number {
        json!(expires_in)
    } else {
        json!(expires_in.to_string())
    };
    daraja_json(
        StatusCode::OK,
        &json!({"access_token": token, "expires_in": expires_in}),
    )
}

fn generate_token(state: &mut State, req: &Incoming) -> Response {
    let Some(presented) = credentials(req, "Basic") else {
        let id = request_id(state);
        return gateway_error(
            StatusCode::BAD_REQUEST,
            &id,
            "400.008.01",
            "Invalid Authentication passed",
        );
    };
    if util::query_param(req.query.as_deref(), "grant_type").as_deref()
        != Some("client_credentials")
    {
        let id = request_id(state);
        return gateway_error(
            StatusCode::BAD_REQUEST,
            &id,
            "400.008.02",
            "Invalid grant type passed",
        );
    }
    let key = state.config.mpesa_consumer_key.clone();
    let expected =
        util::base64_std(format!("{key}:{}", state.config.mpesa_consumer_secret).as_bytes());
    if presented != expected {
        if state.config.mpesa_options.wrong_credentials_empty_body {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
        let id = request_id(state);
        return gateway_error(
            StatusCode::BAD_REQUEST,
            &id,
            "400.008.01",
            "Invalid Authentication passed",
        );
    }
    let now = state.now();
    let ttl = state.config.mpesa_token_ttl;
    let token = random_token();
    let invalidate = state.config.mpesa_options.reissue_invalidates_previous;
    state
        .mpesa_tokens
        .insert_for(&key, token.clone(), now + ttl, now, invalidate);
    token_body(
        &token,
        ttl.as_secs(),
        state.config.mpesa_options.expires_in_as_number,
    )
}

fn bearer_is_valid(state: &State, req: &Incoming) -> bool {
    credentials(req, "Bearer").is_some_and(|token| state.mpesa_tokens.is_valid(token, state.now()))
}

// ------------------------------------------------------------ request bodies

/// True when the `Content-Type` is JSON (parameters ignored).
fn is_json(req: &Incoming) -> bool {
    header(req, CONTENT_TYPE).is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// A number or a string of digits, as digits.
fn digits(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// A non-empty string.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn shortcode(map: &Map<String, Value>) -> Option<String> {
    digits(map.get("BusinessShortCode")).filter(|s| (5..=7).contains(&s.len()))
}

/// An integer ≥ 1, sent as a JSON integer or a string of digits.
fn whole_amount(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
    .filter(|amount| *amount >= 1)
}

/// `^254(7|1)\d{8}$`.
fn is_msisdn(phone: &str) -> bool {
    phone.len() == 12
        && phone.starts_with("254")
        && matches!(phone.as_bytes()[3], b'7' | b'1')
        && phone.bytes().all(|b| b.is_ascii_digit())
}

fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len())
}

/// The body as a JSON object.
fn body_object(req: &Incoming) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&req.body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Daraja's answer to a body that is not a JSON object.
fn invalid_payload(state: &mut State) -> Response {
    let id = request_id(state);
    gateway_error(
        StatusCode::BAD_REQUEST,
        &id,
        "400.002.05",
        "Invalid Request Payload",
    )
}

/// Timestamp format, then a known shortcode, then the password, in that
/// order (shared by the push and the query); `Some` is the refusal.
fn check_credentials(
    state: &mut State,
    shortcode: &str,
    password: &str,
    timestamp: &str,
) -> Option<Response> {
    if !util::is_compact_timestamp(timestamp) {
        return Some(bad_request(state, "Timestamp"));
    }
    if shortcode != state.config.mpesa_shortcode {
        return Some(refused(state, "Merchant does not exist"));
    }
    let expected = util::base64_std(
        format!("{shortcode}{}{timestamp}", state.config.mpesa_passkey).as_bytes(),
    );
    if password != expected {
        let message = if state.config.mpesa_options.merchant_validate_prefix {
            "[MerchantValidate] - Wrong credentials"
        } else {
            "Wrong credentials"
        };
        return Some(refused(state, message));
    }
    None
}

// ------------------------------------------------------------ STK push

#[derive(Serialize)]
struct Accepted<'a> {
    #[serde(rename = "MerchantRequestID")]
    merchant_request_id: &'a str,
    #[serde(rename = "CheckoutRequestID")]
    checkout_request_id: &'a str,
    #[serde(rename = "ResponseCode")]
    response_code: &'static str,
    #[serde(rename = "ResponseDescription")]
    response_description: &'static str,
    #[serde(rename = "CustomerMessage")]
    customer_message: &'static str,
}

const ACCEPTED: &str = "Success. Request accepted for processing";

const TRANSACTION_TYPES: [&str; 2] = ["CustomerPayBillOnline", "CustomerBuyGoodsOnline"];

/// Checks in the order of §9.2 item 4; the first failure answers.
fn stk_push(state: &mut State, req: &Incoming) -> Response {
    if !is_json(req) {
        // What Daraja says without a JSON content type.
        return bad_request(state, "BusinessShortCode");
    }
    let Some(map) = body_object(req) else {
        return invalid_payload(state);
    };
    let Some(business_short_code) = shortcode(&map) else {
        return bad_request(state, "BusinessShortCode");
    };
    let Some(password) = text(map.get("Password")) else {
        return bad_request(state, "Password");
    };
    let Some(timestamp) = text(map.get("Timestamp")) else {
        return bad_request(state, "Timestamp");
    };
    let Some(transaction_type) =
        text(map.get("TransactionType")).filter(|t| TRANSACTION_TYPES.contains(&t.as_str()))
    else {
        return bad_request(state, "TransactionType");
    };
    let Some(amount) = map
        .get("Amount")
        .filter(|a| matches!(a, Value::Number(_) | Value::String(_)))
    else {
        return bad_request(state, "Amount");
    };
    let Some(party_a) = digits(map.get("PartyA")) else {
        return bad_request(state, "PartyA");
    };
    let Some(party_b) = digits(map.get("PartyB")) else {
        return bad_request(state, "PartyB");
    };
    let Some(phone_number) = digits(map.get("PhoneNumber")) else {
        return bad_request(state, "PhoneNumber");
    };
    let Some(callback_url) = text(map.get("CallBackURL")) else {
        return bad_request(state, "CallBackURL");
    };
    let Some(account_reference) = text(map.get("AccountReference")) else {
        return bad_request(state, "AccountReference");
    };
    let transaction_desc = match map.get("TransactionDesc") {
        None | Some(Value::Null) => None,
        Some(Value::String(desc)) => Some(desc.clone()),
        Some(_) => return bad_request(state, "TransactionDesc"),
    };
    if let Some(response) = check_credentials(state, &business_short_code, &password, &timestamp) {
        return response;
    }
    let Some(amount) = whole_amount(amount) else {
        return bad_request(state, "Amount");
    };
    if !is_msisdn(&phone_number) {
        return bad_request(state, "PhoneNumber");
    }
    if !is_msisdn(&party_a) {
        return bad_request(state, "PartyA");
    }
    // Daraja fails a wrong PartyB asynchronously (2028 / SFC_IC0003); the
    // sandbox refuses at once so that the mistake shows in tests.
    let expected_party_b = if transaction_type == "CustomerBuyGoodsOnline" {
        &state.config.mpesa_till_number
    } else {
        &state.config.mpesa_shortcode
    };
    if party_b != *expected_party_b {
        return bad_request(state, "PartyB");
    }
    if !is_http_url(&callback_url) {
        return bad_request(state, "CallBackURL");
    }
    if state.stk_pending.contains_key(&phone_number) {
        return refused(
            state,
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        );
    }
    let now = state.now();
    let merchant_request_id = request_id(state);
    // `ws_CO_` + EAT DDMMYYYYHHmmss + milliseconds + the 9-digit national
    // number; a later millisecond when that id exists (a pinned clock).
    let national = &phone_number[3..];
    let mut at = now;
    let checkout_request_id = loop {
        let id = format!("ws_CO_{}{national}", util::eat_checkout_stamp(at));
        if !state.stk_index.contains_key(&id) {
            break id;
        }
        at += Duration::from_millis(1);
    };
    let push = MpesaStkPush {
        merchant_request_id,
        checkout_request_id: checkout_request_id.clone(),
        business_short_code,
        transaction_type,
        amount,
        party_a,
        party_b,
        phone_number: phone_number.clone(),
        callback_url,
        account_reference,
        transaction_desc,
        state: PaymentState::Pending,
        result: None,
        receipt_number: None,
        transaction_date: None,
        created_at: util::eat_compact(now),
    };
    let body = daraja_json(
        StatusCode::OK,
        &Accepted {
            merchant_request_id: &push.merchant_request_id,
            checkout_request_id: &push.checkout_request_id,
            response_code: "0",
            response_description: ACCEPTED,
            customer_message: ACCEPTED,
        },
    );
    state
        .stk_index
        .insert(checkout_request_id.clone(), state.stk_pushes.len());
    state.stk_pending.insert(phone_number, checkout_request_id);
    state.stk_pushes.push(push);
    body
}

// ------------------------------------------------------------ STK query

#[derive(Serialize)]
struct QueryResult<'a> {
    #[serde(rename = "ResponseCode")]
    response_code: &'static str,
    #[serde(rename = "ResponseDescription")]
    response_description: &'static str,
    #[serde(rename = "MerchantRequestID")]
    merchant_request_id: &'a str,
    #[serde(rename = "CheckoutRequestID")]
    checkout_request_id: &'a str,
    #[serde(rename = "ResultCode")]
    result_code: &'static str,
    #[serde(rename = "ResultDesc")]
    result_desc: &'static str,
}

fn stk_query(state: &mut State, req: &Incoming) -> Response {
    if !is_json(req) {
        return bad_request(state, "BusinessShortCode");
    }
    let Some(map) = body_object(req) else {
        return invalid_payload(state);
    };
    let Some(business_short_code) = shortcode(&map) else {
        return bad_request(state, "BusinessShortCode");
    };
    let Some(password) = text(map.get("Password")) else {
        return bad_request(state, "Password");
    };
    let Some(timestamp) = text(map.get("Timestamp")) else {
        return bad_request(state, "Timestamp");
    };
    let Some(checkout_request_id) = text(map.get("CheckoutRequestID")) else {
        return bad_request(state, "CheckoutRequestID");
    };
    if let Some(response) = check_credentials(state, &business_short_code, &password, &timestamp) {
        return response;
    }
    let Some(&index) = state.stk_index.get(&checkout_request_id) else {
        return bad_request(state, "CheckoutRequestID");
    };
    let push = &state.stk_pushes[index];
    let Some(result) = push.result else {
        // Too early: the request id echoes the CheckoutRequestID.
        return gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &push.checkout_request_id,
            "500.001.1001",
            "The transaction is being processed",
        );
    };
    let response_description = if state.config.mpesa_options.query_description_typo {
        "The service request has been accepted successsfully"
    } else {
        "The service request has been accepted successfully"
    };
    daraja_json(
        StatusCode::OK,
        &QueryResult {
            response_code: "0",
            response_description,
            merchant_request_id: &push.merchant_request_id,
            checkout_request_id: &push.checkout_request_id,
            result_code: result.code(),
            result_desc: result.description(),
        },
    )
}

// ------------------------------------------------------------ callback

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "Body")]
    body: CallbackBody<'a>,
}

#[derive(Serialize)]
struct CallbackBody<'a> {
    #[serde(rename = "stkCallback")]
    stk_callback: StkCallback<'a>,
}

#[derive(Serialize)]
struct StkCallback<'a> {
    #[serde(rename = "MerchantRequestID")]
    merchant_request_id: &'a str,
    #[serde(rename = "CheckoutRequestID")]
    checkout_request_id: &'a str,
    #[serde(rename = "ResultCode")]
    result_code: Box<RawValue>,
    #[serde(rename = "ResultDesc")]
    result_desc: &'static str,
    #[serde(rename = "CallbackMetadata", skip_serializing_if = "Option::is_none")]
    callback_metadata: Option<Metadata>,
}

#[derive(Serialize)]
struct Metadata {
    #[serde(rename = "Item")]
    item: Vec<Item>,
}

#[derive(Serialize)]
struct Item {
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Value", skip_serializing_if = "Option::is_none")]
    value: Option<Box<RawValue>>,
}

fn raw(text: String) -> Result<Box<RawValue>, serde_json::Error> {
    RawValue::from_string(text)
}

/// The STK callback for a settled push: `ResultCode` a number (a string
/// for `SFC_IC0003`); on success the metadata items in the observed order
/// with a value-less `Balance`, numeric EAT `TransactionDate` and numeric
/// `PhoneNumber`; no metadata on failure.
pub(crate) fn callback_body(
    push: &MpesaStkPush,
    amount_decimals: bool,
) -> Result<String, serde_json::Error> {
    let result = push.result.unwrap_or(crate::model::StkResult::NoResponse);
    let result_code = if result.code().bytes().all(|b| b.is_ascii_digit()) {
        raw(result.code().to_owned())?
    } else {
        raw(serde_json::to_string(result.code())?)?
    };
    let callback_metadata = if result.is_success() {
        let amount = if amount_decimals {
            format!("{}.00", push.amount)
        } else {
            push.amount.to_string()
        };
        let receipt = push.receipt_number.as_deref().unwrap_or_default();
        let date = push.transaction_date.clone().unwrap_or_default();
        Some(Metadata {
            item: vec![
                Item {
                    name: "Amount",
                    value: Some(raw(amount)?),
                },
                Item {
                    name: "MpesaReceiptNumber",
                    value: Some(raw(serde_json::to_string(receipt)?)?),
                },
                Item {
                    name: "Balance",
                    value: None,
                },
                Item {
                    name: "TransactionDate",
                    value: Some(raw(date)?),
                },
                Item {
                    name: "PhoneNumber",
                    value: Some(raw(push.phone_number.clone())?),
                },
            ],
        })
    } else {
        None
    };
    serde_json::to_string(&Envelope {
        body: CallbackBody {
            stk_callback: StkCallback {
                merchant_request_id: &push.merchant_request_id,
                checkout_request_id: &push.checkout_request_id,
                result_code,
                result_desc: result.description(),
                callback_metadata,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StkResult;

    #[test]
    fn routes_are_exact() {
        assert_eq!(
            Endpoint::classify("/oauth/v1/generate"),
            Some(Endpoint::Token)
        );
        assert_eq!(
            Endpoint::classify("/mpesa/stkpushquery/v1/query"),
            Some(Endpoint::StkQuery)
        );
        assert_eq!(Endpoint::classify("/mpesa/stkpush/v1/query"), None);
        assert_eq!(Endpoint::classify("/OAUTH/v1/generate"), None);
    }

    #[test]
    fn field_rules() {
        for good in ["254708374149", "254112345678"] {
            assert!(is_msisdn(good), "{good}");
        }
        for bad in [
            "0708374149",
            "+254708374149",
            "254808374149",
            "2547083741490",
        ] {
            assert!(!is_msisdn(bad), "{bad}");
        }
        assert_eq!(whole_amount(&json!(1)), Some(1));
        assert_eq!(whole_amount(&json!("250")), Some(250));
        for bad in [
            json!(0),
            json!("0"),
            json!(1.5),
            json!("1.00"),
            json!(-1),
            json!(""),
        ] {
            assert_eq!(whole_amount(&bad), None, "{bad}");
        }
        assert_eq!(digits(Some(&json!(174379))).as_deref(), Some("174379"));
        assert_eq!(digits(Some(&json!("174379"))).as_deref(), Some("174379"));
        assert_eq!(digits(Some(&json!("17437a"))), None);
    }

    #[test]
    fn ids_follow_the_observed_shapes() {
        let id = hex_id(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210, 42);
        assert_eq!(id, "0123-4567-89ab-ba98765432101000042");
        let token = random_token();
        assert_eq!(token.len(), 28);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    fn push(result: StkResult) -> MpesaStkPush {
        MpesaStkPush {
            merchant_request_id: "m-1".into(),
            checkout_request_id: "ws_CO_1".into(),
            business_short_code: "174379".into(),
            transaction_type: "CustomerPayBillOnline".into(),
            amount: 1,
            party_a: "254708374149".into(),
            party_b: "174379".into(),
            phone_number: "254708374149".into(),
            callback_url: "http://127.0.0.1:1/cb".into(),
            account_reference: "ref".into(),
            transaction_desc: None,
            state: PaymentState::Completed,
            result: Some(result),
            receipt_number: Some("NLJ7RT61SV".into()),
            transaction_date: Some("20191219102115".into()),
            created_at: "20191219102100".into(),
        }
    }

    #[test]
    fn callback_bodies_are_byte_exact() {
        assert_eq!(
            callback_body(&push(StkResult::Success), true)
                .ok()
                .as_deref(),
            Some(concat!(
                r#"{"Body":{"stkCallback":{"MerchantRequestID":"m-1","CheckoutRequestID":"ws_CO_1","#,
                r#""ResultCode":0,"ResultDesc":"The service request is processed successfully.","#,
                r#""CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.00},"#,
                r#"{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"Balance"},"#,
                r#"{"Name":"TransactionDate","Value":20191219102115},"#,
                r#"{"Name":"PhoneNumber","Value":254708374149}]}}}}"#
            ))
        );
        assert_eq!(
            callback_body(&push(StkResult::CancelledByUser), false)
                .ok()
                .as_deref(),
            Some(concat!(
                r#"{"Body":{"stkCallback":{"MerchantRequestID":"m-1","CheckoutRequestID":"ws_CO_1","#,
                r#""ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}"#
            ))
        );
        let odd = callback_body(&push(StkResult::OperatorDoesNotExist), false).unwrap_or_default();
        assert!(odd.contains(r#""ResultCode":"SFC_IC0003""#), "{odd}");
    }
}
