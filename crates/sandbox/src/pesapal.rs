//! PesaPal API 3.0 under `/pesapalv3`: token, IPN registration and list,
//! order submission, transaction status, refund requests, order
//! cancellation, and the hosted payment page.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::response::Response;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::ser::Error as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::fault::Target;
use crate::model::{IpnMethod, IpnRegistration, PaymentState, PesapalOrder};
use crate::server::Incoming;
use crate::state::{Shared, State};
use crate::util;

/// Path prefix of the PesaPal emulation (the sandbox's `/pesapalv3`).
pub(crate) const PREFIX: &str = "/pesapalv3";

/// The PesaPal endpoints the sandbox knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    RegisterIpn,
    IpnList,
    SubmitOrder,
    Status,
    Refund,
    Cancel,
}

impl Endpoint {
    /// The endpoint at `rest` (the path after the prefix). ASP.NET routes
    /// without regard to case, and so does this.
    pub(crate) fn classify(rest: &str) -> Option<Endpoint> {
        let lower = rest.trim_end_matches('/').to_ascii_lowercase();
        match lower.as_str() {
            "/api/auth/requesttoken" => Some(Endpoint::Token),
            "/api/urlsetup/registeripn" => Some(Endpoint::RegisterIpn),
            "/api/urlsetup/getipnlist" => Some(Endpoint::IpnList),
            "/api/transactions/submitorderrequest" => Some(Endpoint::SubmitOrder),
            "/api/transactions/gettransactionstatus" => Some(Endpoint::Status),
            "/api/transactions/refundrequest" => Some(Endpoint::Refund),
            "/api/transactions/cancelorder" => Some(Endpoint::Cancel),
            _ => None,
        }
    }

    pub(crate) fn target(self) -> Target {
        match self {
            Endpoint::Token => Target::PesapalToken,
            Endpoint::RegisterIpn => Target::PesapalRegisterIpn,
            Endpoint::IpnList => Target::PesapalIpnList,
            Endpoint::SubmitOrder => Target::PesapalSubmitOrder,
            Endpoint::Status => Target::PesapalStatus,
            Endpoint::Refund => Target::PesapalRefund,
            Endpoint::Cancel => Target::PesapalCancel,
        }
    }

    fn method(self) -> Method {
        match self {
            Endpoint::Token
            | Endpoint::RegisterIpn
            | Endpoint::SubmitOrder
            | Endpoint::Refund
            | Endpoint::Cancel => Method::POST,
            Endpoint::IpnList | Endpoint::Status => Method::GET,
        }
    }
}

/// Answers a request on a PesaPal path (`endpoint` `None`: unknown path).
pub(crate) fn handle(shared: &Arc<Shared>, endpoint: Option<Endpoint>, req: &Incoming) -> Response {
    let Some(endpoint) = endpoint else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({
                "Message": format!(
                    "No HTTP resource was found that matches the request URI '{}{}'.",
                    shared.origin, req.path
                )
            }),
        );
    };
    if req.method != endpoint.method() {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({
                "Message": format!(
                    "The requested resource does not support http method '{}'.",
                    req.method
                )
            }),
        );
    }
    let mut state = shared.lock();
    if endpoint != Endpoint::Token && !bearer_is_valid(&state, req) {
        return invalid_token();
    }
    match endpoint {
        Endpoint::Token => request_token(shared, &mut state, req),
        Endpoint::RegisterIpn => register_ipn(&mut state, req),
        Endpoint::IpnList => json_response(
            StatusCode::OK,
            &Value::Array(state.ipns.iter().map(ipn_json).collect()),
        ),
        Endpoint::SubmitOrder => submit_order(shared, &mut state, req),
        Endpoint::Status => transaction_status(&state, req),
        Endpoint::Refund => refund_request(&mut state, req),
        Endpoint::Cancel => cancel_order(&mut state, req),
    }
}

/// PesaPal's answer to RefundRequest and CancelOrder: `status` and
/// `message` only, HTTP 200 either way.
fn status_message(status: &str, message: &str) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"status": status, "message": message}),
    )
}

/// Decimal text (a JSON number's or a string's) in hundredths, if it is one.
fn hundredths(text: &str) -> Option<u64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = format!("{fraction:0<2}").parse::<u64>().ok()?;
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// Card methods may be refunded in part; mobile money only in full.
fn is_card(method: &str) -> bool {
    let lower = method.to_ascii_lowercase();
    ["visa", "master", "card", "amex"]
        .iter()
        .any(|name| lower.contains(name))
}

/// `POST /api/Transactions/RefundRequest`: only a completed payment, at
/// most what was paid, mobile money only in full, one refund per payment.
/// `"200"` means queued, not money moved.
fn refund_request(state: &mut State, req: &Incoming) -> Response {
    let Some(body) = body_object(req) else {
        return invalid_parameters("the request body must be a JSON object");
    };
    let amount = match body.get("amount") {
        Some(Value::String(text)) => hundredths(text),
        Some(Value::Number(number)) => hundredths(&number.to_string()),
        _ => None,
    };
    let (Some(code), Some(amount), Some(_), Some(_)) = (
        string_field(&body, "confirmation_code"),
        amount.filter(|a| *a > 0),
        string_field(&body, "username"),
        string_field(&body, "remarks"),
    ) else {
        return invalid_parameters(
            "confirmation_code, amount (greater than 0), username and remarks are required",
        );
    };
    let Some(order) = state
        .orders
        .iter_mut()
        .find(|o| o.confirmation_code.as_deref() == Some(code))
    else {
        return status_message("500", "No payment matches the confirmation code");
    };
    if order.state != PaymentState::Completed {
        return status_message("500", "Only completed payments can be refunded");
    }
    if order.refund_amount.is_some() {
        return status_message("500", "A refund was already requested for this payment");
    }
    let paid = hundredths(&order.amount).unwrap_or(0);
    if amount > paid {
        return status_message("500", "The refund amount exceeds the amount paid");
    }
    let method = order.payment_method.as_deref().unwrap_or("MpesaKE");
    if amount < paid && !is_card(method) {
        return status_message("500", "Mobile money payments can only be refunded in full");
    }
    order.refund_amount = Some(format!("{}.{:02}", amount / 100, amount % 100));
    status_message("200", "Refund request successfully")
}

/// `POST /api/Transactions/CancelOrder`: only an order not paid, once.
fn cancel_order(state: &mut State, req: &Incoming) -> Response {
    let Some(body) = body_object(req) else {
        return invalid_parameters("the request body must be a JSON object");
    };
    let Some(id) = string_field(&body, "order_tracking_id") else {
        return invalid_parameters("order_tracking_id is required");
    };
    let Some(order) = state
        .orders
        .iter_mut()
        .find(|o| o.order_tracking_id.eq_ignore_ascii_case(id))
    else {
        return status_message("500", "No order matches the given order_tracking_id");
    };
    if order.cancelled {
        return status_message("500", "The order was already cancelled");
    }
    if matches!(
        order.state,
        PaymentState::Completed | PaymentState::Reversed
    ) {
        return status_message("500", "The order could not be cancelled: it is paid");
    }
    order.cancelled = true;
    status_message("200", "Order successfully cancelled.")
}

/// PesaPal's content type.
const JSON: &str = "application/json; charset=utf-8";

pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => {
            let mut response = Response::new(Body::from(text));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            response
        }
        Err(err) => {
            let mut response = Response::new(Body::from(format!("sandbox bug: {err}")));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

/// HTTP 200 carrying an error envelope with `status` `"500"` (PesaPal's usual
/// way of saying no).
fn error_200(error_type: &str, code: &str, message: &str) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "error": {"error_type": error_type, "code": code, "message": message},
            "status": "500"
        }),
    )
}

fn invalid_parameters(message: &str) -> Response {
    error_200(
        "invalid_request_error",
        "invalid_api_request_parameters",
        message,
    )
}

/// The answer to a missing, unknown or expired bearer token.
pub(crate) fn invalid_token() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({
            "error": {
                "error_type": "authentication_error",
                "code": "invalid_api_credentials_provided",
                "message": "Invalid Access Token"
            },
            "status": null
        }),
    )
}

fn bearer_is_valid(state: &State, req: &Incoming) -> bool {
    let Some(value) = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    state.pesapal_tokens.is_valid(token.trim(), state.now())
}

fn body_object(req: &Incoming) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&req.body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn string_field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    map.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn request_token(shared: &Shared, state: &mut State, req: &Incoming) -> Response {
    let body = body_object(req).unwrap_or_default();
    let key_ok = body.get("consumer_key").and_then(Value::as_str)
        == Some(state.config.pesapal_consumer_key.as_str());
    let secret_ok = body.get("consumer_secret").and_then(Value::as_str)
        == Some(state.config.pesapal_consumer_secret.as_str());
    if !(key_ok && secret_ok) {
        return error_200("api_error", "invalid_consumer_key_or_secret_provided", "");
    }
    let now = state.now();
    let (token, expiry) = shared.mint_jwt("pesapal", now, state.config.token_ttl);
    state.pesapal_tokens.insert(token.clone(), expiry, now);
    json_response(
        StatusCode::OK,
        &json!({
            "token": token,
            "expiryDate": util::utc_ticks(expiry),
            "error": null,
            "status": "200",
            "message": "Request processed successfully"
        }),
    )
}

fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("http://") && lower.len() > "http://".len())
        || (lower.starts_with("https://") && lower.len() > "https://".len())
}

fn ipn_json(ipn: &IpnRegistration) -> Value {
    json!({
        "id": ipn.id,
        "url": ipn.url,
        "created_date": ipn.created_date,
        "ipn_id": ipn.ipn_id,
        "notification_type": match ipn.method { IpnMethod::Get => 0, IpnMethod::Post => 1 },
        "ipn_notification_type_description": ipn.method.as_str(),
        "ipn_status": 1,
        "ipn_status_decription": "Active",
        "error": null,
        "status": "200"
    })
}

fn register_ipn(state: &mut State, req: &Incoming) -> Response {
    let Some(body) = body_object(req) else {
        return invalid_parameters("the request body must be a JSON object");
    };
    let Some(url) = string_field(&body, "url").filter(|u| is_http_url(u)) else {
        return invalid_parameters("url must be an absolute http(s) URL");
    };
    let method = match string_field(&body, "ipn_notification_type") {
        Some(t) if t.eq_ignore_ascii_case("GET") => IpnMethod::Get,
        Some(t) if t.eq_ignore_ascii_case("POST") => IpnMethod::Post,
        _ => return invalid_parameters("ipn_notification_type must be GET or POST"),
    };
    let registration = IpnRegistration {
        id: state.next_ipn_number,
        ipn_id: util::guid(),
        url: url.to_owned(),
        method,
        created_date: util::utc_ticks(SystemTime::now()),
    };
    state.next_ipn_number += 1;
    let out = ipn_json(&registration);
    state.ipns.push(registration);
    json_response(StatusCode::OK, &out)
}

/// The exact text of `amount` when it is a JSON number.
#[derive(serde::Deserialize)]
struct AmountText {
    amount: Option<Box<RawValue>>,
}

fn valid_reference(id: &str) -> bool {
    (1..=50).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn submit_order(shared: &Arc<Shared>, state: &mut State, req: &Incoming) -> Response {
    let Some(body) = body_object(req) else {
        return invalid_parameters("the request body must be a JSON object");
    };
    let id = match body.get("id").and_then(Value::as_str) {
        Some(id) if valid_reference(id) => id.to_owned(),
        _ => {
            return invalid_parameters(
                "id must be 1 to 50 characters of letters, digits, '.', '_', ':' or '-'",
            );
        }
    };
    let currency = match body.get("currency").and_then(Value::as_str) {
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) => c.to_owned(),
        _ => return invalid_parameters("currency must be a 3-letter ISO 4217 code"),
    };
    let amount_positive = body
        .get("amount")
        .and_then(Value::as_f64)
        .is_some_and(|a| a > 0.0 && a.is_finite());
    let amount_text = serde_json::from_slice::<AmountText>(&req.body)
        .ok()
        .and_then(|a| a.amount)
        .map(|raw| raw.get().trim().to_owned());
    let amount = match amount_text {
        Some(text) if amount_positive => text,
        _ => return invalid_parameters("amount must be a JSON number greater than 0"),
    };
    let description = match body.get("description").and_then(Value::as_str) {
        Some(d) if !d.trim().is_empty() && d.chars().count() <= 100 => d.to_owned(),
        _ => return invalid_parameters("description is required, at most 100 characters"),
    };
    let Some(callback_url) = string_field(&body, "callback_url").filter(|u| is_http_url(u)) else {
        return invalid_parameters("callback_url must be an absolute http(s) URL");
    };
    let cancellation_url = match body.get("cancellation_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if u.trim().is_empty() => None,
        Some(Value::String(u)) if is_http_url(u.trim()) => Some(u.trim().to_owned()),
        Some(_) => return invalid_parameters("cancellation_url must be an absolute http(s) URL"),
    };
    match body.get("redirect_mode") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m.is_empty() || m == "TOP_WINDOW" || m == "PARENT_WINDOW" => {}
        Some(_) => {
            return invalid_parameters("redirect_mode must be TOP_WINDOW or PARENT_WINDOW");
        }
    }
    let Some(notification_id) = string_field(&body, "notification_id") else {
        return invalid_parameters("notification_id is required");
    };
    let Some(ipn) = state
        .ipns
        .iter()
        .find(|i| i.ipn_id.eq_ignore_ascii_case(notification_id))
    else {
        return error_200(
            "api_error",
            "InvalidIpnId",
            "notification_id is not a registered IPN id",
        );
    };
    let notification_id = ipn.ipn_id.clone();
    let Some(billing) = body.get("billing_address").and_then(Value::as_object) else {
        return invalid_parameters("billing_address is required");
    };
    for (name, value) in billing {
        if !matches!(value, Value::String(_) | Value::Null)
            && !matches!(name.as_str(), "postal_code" | "zip_code")
        {
            return invalid_parameters(&format!("billing_address.{name} must be a string"));
        }
    }
    let email_address = string_field(billing, "email_address").map(str::to_owned);
    let phone_number = string_field(billing, "phone_number").map(str::to_owned);
    if email_address.is_none() && phone_number.is_none() {
        return invalid_parameters("billing_address needs an email_address or a phone_number");
    }
    let subscription = match crate::pesapal_recurring::subscription(&body) {
        Ok(subscription) => subscription,
        Err(reason) => return invalid_parameters(&reason),
    };
    let order_tracking_id = util::guid();
    let redirect_url = crate::ui::pesapal_redirect_url(&shared.origin, &order_tracking_id);
    state.orders.push(PesapalOrder {
        order_tracking_id: order_tracking_id.clone(),
        merchant_reference: id.clone(),
        amount,
        currency,
        description,
        callback_url: callback_url.to_owned(),
        cancellation_url,
        notification_id,
        email_address,
        phone_number,
        state: PaymentState::Pending,
        confirmation_code: None,
        payment_method: None,
        created_date: util::eat_millis(SystemTime::now()),
        cancelled: false,
        refund_amount: None,
        subscription,
        recurring_of: None,
    });
    json_response(
        StatusCode::OK,
        &json!({
            "order_tracking_id": order_tracking_id,
            "merchant_reference": id,
            "redirect_url": redirect_url,
            "error": null,
            "status": "200"
        }),
    )
}

/// `callback_url` with the tracking id and merchant reference appended, as
/// GetTransactionStatus reports it.
fn callback_with_ids(order: &PesapalOrder) -> String {
    util::append_query(
        &order.callback_url,
        &[
            ("OrderTrackingId", &order.order_tracking_id),
            ("OrderMerchantReference", &order.merchant_reference),
        ],
    )
}

/// A masked payer account like PesaPal's `2547xxx73984`.
fn masked_account(order: &PesapalOrder) -> String {
    match &order.phone_number {
        Some(phone) if phone.len() > 7 => {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            if digits.len() > 7 {
                format!("{}xxx{}", &digits[..4], &digits[digits.len() - 4..])
            } else {
                "xxx".to_owned()
            }
        }
        _ => String::new(),
    }
}

#[derive(Serialize)]
struct StatusError {
    error_type: Option<&'static str>,
    code: Option<&'static str>,
    message: Option<&'static str>,
    call_back_url: Option<String>,
}

#[derive(Serialize)]
struct StatusBody<'a> {
    payment_method: &'a str,
    #[serde(serialize_with = "raw_number")]
    amount: &'a str,
    created_date: &'a str,
    confirmation_code: &'a str,
    order_tracking_id: &'a str,
    payment_status_description: &'static str,
    description: Option<&'static str>,
    message: &'static str,
    payment_account: String,
    call_back_url: String,
    status_code: u8,
    merchant_reference: &'a str,
    payment_status_code: &'static str,
    currency: &'a str,
    error: StatusError,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription_transaction_info: Option<Value>,
}

/// Writes the stored number text verbatim (it was a JSON number on arrival).
fn raw_number<S: serde::Serializer>(text: &&str, serializer: S) -> Result<S::Ok, S::Error> {
    let raw = RawValue::from_string((*text).to_owned()).map_err(S::Error::custom)?;
    raw.serialize(serializer)
}

fn transaction_status(state: &State, req: &Incoming) -> Response {
    let Some(id) = util::query_param(req.query.as_deref(), "orderTrackingId")
        .filter(|id| !id.trim().is_empty())
    else {
        return invalid_parameters("orderTrackingId is required");
    };
    let Some(order) = state
        .orders
        .iter()
        .find(|o| o.order_tracking_id.eq_ignore_ascii_case(id.trim()))
    else {
        return error_200(
            "api_error",
            "invalid_order_tracking_id",
            "No order matches the given orderTrackingId",
        );
    };
    let call_back_url = callback_with_ids(order);
    let all_null = StatusError {
        error_type: None,
        code: None,
        message: None,
        call_back_url: None,
    };
    let confirmation = order.confirmation_code.as_deref().unwrap_or("");
    let chosen = order.payment_method.as_deref().unwrap_or("MpesaKE");
    let (method, code, description, text, error, status) = match order.state {
        PaymentState::Pending | PaymentState::Failed if order.cancelled => (
            "",
            2,
            "Failed",
            Some("The order was cancelled by the merchant"),
            all_null,
            "200",
        ),
        PaymentState::Pending => (
            "",
            0,
            "INVALID",
            None,
            StatusError {
                error_type: Some("api_error"),
                code: Some("payment_details_not_found"),
                message: Some("Pending Payment"),
                call_back_url: Some(call_back_url.clone()),
            },
            "500",
        ),
        PaymentState::Completed => (chosen, 1, "Completed", None, all_null, "200"),
        PaymentState::Failed => (
            chosen,
            2,
            "Failed",
            Some("The payment was not authorised by the customer"),
            all_null,
            "200",
        ),
        PaymentState::Reversed => (
            chosen,
            3,
            "Reversed",
            Some("The payment was reversed"),
            all_null,
            "200",
        ),
    };
    let body = StatusBody {
        payment_method: method,
        amount: &order.amount,
        created_date: &order.created_date,
        confirmation_code: confirmation,
        order_tracking_id: &order.order_tracking_id,
        payment_status_description: description,
        description: text,
        message: "Request processed successfully",
        payment_account: if order.state == PaymentState::Pending {
            String::new()
        } else {
            masked_account(order)
        },
        call_back_url,
        status_code: code,
        merchant_reference: &order.merchant_reference,
        payment_status_code: "",
        currency: &order.currency,
        error,
        status,
        subscription_transaction_info: crate::pesapal_recurring::transaction_info(order),
    };
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_ignore_case_and_trailing_slash() {
        assert_eq!(
            Endpoint::classify("/api/Auth/RequestToken"),
            Some(Endpoint::Token)
        );
        assert_eq!(
            Endpoint::classify("/API/transactions/GETTRANSACTIONSTATUS/"),
            Some(Endpoint::Status)
        );
        assert_eq!(
            Endpoint::classify("/api/Transactions/CancelOrder"),
            Some(Endpoint::Cancel)
        );
        assert_eq!(
            Endpoint::classify("/api/transactions/refundrequest/"),
            Some(Endpoint::Refund)
        );
        assert_eq!(Endpoint::classify("/api/Transactions/Refund"), None);
    }

    #[test]
    fn references_follow_the_safe_charset() {
        assert!(valid_reference("ORD-2024.000_123:a"));
        assert!(!valid_reference(""));
        assert!(!valid_reference("has space"));
        assert!(!valid_reference(&"x".repeat(51)));
        assert!(valid_reference(&"x".repeat(50)));
    }
}
