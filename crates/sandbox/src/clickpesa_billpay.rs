//! ClickPesa BillPay control numbers: `POST /billpay/create-order-control-number`,
//! `POST /billpay/create-customer-control-number`, `GET /billpay/{number}`
//! and `PATCH /billpay/{number}`, with ClickPesa's documented refusals: 409
//! "Bill reference already used: Use a different reference", 404
//! "BillPay Number does not exist", NestJS 400s for bad fields. BillPay
//! bodies carry no checksum, so none is asked for.
//!
//! The control endpoint `POST /_sandbox/clickpesa/billpay/{number}/pay`
//! (`{"amount": "1000"}`, optional `"outcome": "fail"`) plays a customer
//! paying the number: a payment whose `orderReference` is the number is
//! recorded (the payment query then reports it) and the signed
//! `PAYMENT RECEIVED` / `PAYMENT FAILED` webhook is delivered.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::clickpesa::{bad_request, nest_error, positive_decimal, valid_phone, webhook_body};
use crate::model::{ClickpesaKind, ClickpesaPayment, PaymentState};
use crate::pesapal::json_response;
use crate::server::{Incoming, control_json};
use crate::state::{Shared, State};
use crate::util;

/// The BillPay endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /billpay/create-order-control-number`.
    CreateOrder,
    /// `POST /billpay/create-customer-control-number`.
    CreateCustomer,
    /// `GET /billpay/{number}`.
    Read(String),
    /// `PATCH /billpay/{number}`.
    Update(String),
}

impl Endpoint {
    /// The endpoint for `method` on `path` (after the prefix), if BillPay.
    pub(crate) fn classify(method: &Method, path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix("/billpay/")?;
        if rest.is_empty() || rest.contains('/') {
            return None;
        }
        match (method, rest) {
            (&Method::POST, "create-order-control-number") => Some(Endpoint::CreateOrder),
            (&Method::POST, "create-customer-control-number") => Some(Endpoint::CreateCustomer),
            (&Method::GET, number) => Some(Endpoint::Read(util::percent_decode(number))),
            (&Method::PATCH, number) => Some(Endpoint::Update(util::percent_decode(number))),
            _ => None,
        }
    }
}

/// A control number the sandbox issued.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ControlNumber {
    pub(crate) number: String,
    pub(crate) status: &'static str,
    /// Exact decimal text, when set.
    pub(crate) amount: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) customer_name: Option<String>,
    pub(crate) payment_mode: String,
    pub(crate) max_collection_amount: Option<String>,
}

/// The control numbers issued, in order.
#[derive(Debug, Default)]
pub(crate) struct Book {
    pub(crate) numbers: Vec<ControlNumber>,
    next: u64,
}

/// Serves a BillPay endpoint (the token is already checked).
pub(crate) fn handle(state: &mut State, endpoint: Endpoint, req: &Incoming) -> Response {
    match endpoint {
        Endpoint::CreateOrder => create(state, req, false),
        Endpoint::CreateCustomer => create(state, req, true),
        Endpoint::Read(number) => match find(state, &number) {
            Some(found) => json_response(StatusCode::OK, &detail(found)),
            None => not_found(),
        },
        Endpoint::Update(number) => update(state, req, &number),
    }
}

fn find<'a>(state: &'a State, number: &str) -> Option<&'a ControlNumber> {
    state.billpay.numbers.iter().find(|n| n.number == number)
}

/// A refusal, boxed (responses are large).
type Refusal = Box<Response>;

fn refuse(message: &str) -> Refusal {
    Box::new(bad_request(message))
}

fn not_found() -> Response {
    nest_error(StatusCode::NOT_FOUND, "BillPay Number does not exist")
}

/// A JSON number's text (`15000.5`), or a string's (ClickPesa documents numbers).
fn amount_of(body: &Map<String, Value>, name: &str) -> Result<Option<String>, Refusal> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if positive_decimal(&n.to_string()) => {
            let text = n.to_string();
            let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
            if decimals > 2 {
                return Err(refuse(&format!(
                    "{name} must have at most 2 decimal places"
                )));
            }
            Ok(Some(text))
        }
        Some(_) => Err(refuse(&format!("{name} must not be less than 0.01"))),
    }
}

fn text_of(body: &Map<String, Value>, name: &str) -> Result<Option<String>, Refusal> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(refuse(&format!("{name} must be a string"))),
    }
}

fn mode_of(body: &Map<String, Value>) -> Result<Option<String>, Refusal> {
    match text_of(body, "billPaymentMode")? {
        None => Ok(None),
        Some(mode) if mode == "ALLOW_PARTIAL_AND_OVER_PAYMENT" || mode == "EXACT" => Ok(Some(mode)),
        Some(_) => Err(refuse(
            "billPaymentMode must be one of the following values: ALLOW_PARTIAL_AND_OVER_PAYMENT, EXACT",
        )),
    }
}

fn object(req: &Incoming) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(refuse("Invalid JSON body")),
    }
}

fn create(state: &mut State, req: &Incoming, customer: bool) -> Response {
    match try_create(state, req, customer) {
        Ok(response) => response,
        Err(refusal) => *refusal,
    }
}

fn try_create(state: &mut State, req: &Incoming, customer: bool) -> Result<Response, Refusal> {
    let body = object(req)?;
    let amount = amount_of(&body, "billAmount")?;
    let max = amount_of(&body, "billMaxCollectionAmount")?;
    let description = text_of(&body, "billDescription")?;
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(refuse(
            "billDescription must be shorter than or equal to 500 characters",
        ));
    }
    let mode = mode_of(&body)?;
    let reference = text_of(&body, "billReference")?;
    if let Some(reference) = &reference
        && (reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(refuse(
            "billReference must contain only letters and numbers",
        ));
    }
    let customer_name = if customer {
        let name = text_of(&body, "customerName")?
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| refuse("customerName should not be empty"))?;
        let email = text_of(&body, "customerEmail")?;
        let phone = text_of(&body, "customerPhone")?;
        if email.is_none() && phone.is_none() {
            return Err(refuse("customerEmail or customerPhone is required"));
        }
        if phone.as_deref().is_some_and(|p| !valid_phone(p)) {
            return Err(refuse("Invalid / unsupported phone number"));
        }
        Some(name)
    } else {
        if ["customerName", "customerEmail", "customerPhone"]
            .iter()
            .any(|name| body.contains_key(*name))
        {
            return Err(refuse("property customerName should not exist"));
        }
        None
    };
    if reference.as_ref().is_some_and(|r| find(state, r).is_some()) {
        return Err(Box::new(nest_error(
            StatusCode::CONFLICT,
            "Bill reference already used: Use a different reference",
        )));
    }
    let number = match reference {
        Some(reference) => reference,
        None => {
            state.billpay.next += 1;
            format!("5504{:08}", state.billpay.next)
        }
    };
    let issued = ControlNumber {
        number,
        status: "ACTIVE",
        // The mode applies only with an amount.
        payment_mode: mode
            .filter(|_| amount.is_some())
            .unwrap_or_else(|| "ALLOW_PARTIAL_AND_OVER_PAYMENT".to_owned()),
        amount,
        description,
        customer_name,
        max_collection_amount: max,
    };
    let mut out = json!({
        "billPayNumber": issued.number,
        "billDescription": issued.description,
        "billAmount": issued.amount.as_deref().map(json_number),
        "billPaymentMode": issued.payment_mode,
    });
    if let Some(name) = &issued.customer_name {
        out["billCustomerName"] = json!(name);
    }
    state.billpay.numbers.push(issued);
    Ok(json_response(StatusCode::OK, &out))
}

/// Exact decimal text as a JSON number.
fn json_number(text: &str) -> Value {
    serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!(text))
}

fn detail(found: &ControlNumber) -> Value {
    json!({
        "billPayNumber": found.number,
        "billStatus": found.status,
        "billAmount": found.amount.as_deref().map(json_number),
        "billDescription": found.description,
        "billCustomerName": found.customer_name,
        "billPaymentMode": found.payment_mode,
        "billMaxCollectionAmount": found.max_collection_amount.as_deref().map(json_number),
    })
}

fn update(state: &mut State, req: &Incoming, number: &str) -> Response {
    match try_update(state, req, number) {
        Ok(response) => response,
        Err(refusal) => *refusal,
    }
}

fn try_update(state: &mut State, req: &Incoming, number: &str) -> Result<Response, Refusal> {
    if find(state, number).is_none() {
        return Err(Box::new(not_found()));
    }
    let body = object(req)?;
    let status = match text_of(&body, "billStatus")?.as_deref() {
        None => None,
        Some("ACTIVE") => Some("ACTIVE"),
        Some("INACTIVE") => Some("INACTIVE"),
        Some(_) => {
            return Err(refuse(
                "billStatus must be one of the following values: ACTIVE, INACTIVE",
            ));
        }
    };
    let amount = amount_of(&body, "billAmount")?;
    let max = amount_of(&body, "billMaxCollectionAmount")?;
    let description = text_of(&body, "billDescription")?;
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(refuse(
            "billDescription must be shorter than or equal to 500 characters",
        ));
    }
    let mode = mode_of(&body)?;
    if status.is_none()
        && amount.is_none()
        && max.is_none()
        && description.is_none()
        && mode.is_none()
    {
        return Err(refuse("At least one field must be provided for update"));
    }
    let Some(found) = state
        .billpay
        .numbers
        .iter_mut()
        .find(|n| n.number == number)
    else {
        return Err(Box::new(not_found()));
    };
    if let Some(status) = status {
        found.status = status;
    }
    if amount.is_some() {
        found.amount = amount;
    }
    if description.is_some() {
        found.description = description;
    }
    if let Some(mode) = mode {
        found.payment_mode = mode;
    }
    if max.is_some() {
        found.max_collection_amount = max;
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "billPayNumber": found.number,
            "billStatus": found.status,
            "billAmount": found.amount.as_deref().map(json_number),
            "billDescription": found.description,
            "billPaymentMode": found.payment_mode,
        }),
    ))
}

/// `POST /_sandbox/clickpesa/billpay/{number}/pay`: a customer pays the number.
pub(crate) async fn pay_control(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((number, action)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    if action != "pay" {
        return control_json(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("unknown action {action:?}; use pay")}),
        );
    }
    let body = body.map(|Json(body)| body).unwrap_or(Value::Null);
    let failed = body.get("outcome").and_then(Value::as_str) == Some("fail");
    let prepared = {
        let mut state = shared.lock();
        let state = &mut *state;
        let Some(found) = find(state, &number).cloned() else {
            return control_json(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no BillPay control number {number}")}),
            );
        };
        if found.status != "ACTIVE" {
            return control_json(
                StatusCode::CONFLICT,
                &json!({"error": format!("control number {number} is INACTIVE")}),
            );
        }
        let amount = match body.get("amount").and_then(Value::as_str) {
            Some(amount) if positive_decimal(amount) => amount.to_owned(),
            Some(_) => {
                return control_json(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "amount must be a positive decimal string"}),
                );
            }
            None => match found.amount {
                Some(amount) => amount,
                None => {
                    return control_json(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": "the control number has no amount; give {\"amount\": \"...\"}"}),
                    );
                }
            },
        };
        let now = util::utc_millis(SystemTime::now());
        let payment = ClickpesaPayment {
            id: format!("{number}BP{}", util::random_code(6)),
            order_reference: number.clone(),
            amount,
            currency: "TZS".to_owned(),
            phone_number: String::new(),
            channel: "M-PESA".to_owned(),
            state: if failed {
                PaymentState::Failed
            } else {
                PaymentState::Completed
            },
            payment_reference: (!failed).then(|| util::random_code(16)),
            created_at: now.clone(),
            updated_at: now,
            kind: ClickpesaKind::BillPay,
        };
        let webhook = webhook_body(
            &payment,
            &state.config.clickpesa_client_id,
            state.config.clickpesa_checksum_key.as_deref(),
        );
        let id = payment.id.clone();
        state.payments.push(payment);
        (
            id,
            state.config.clickpesa_webhook_url.clone(),
            webhook.to_string(),
        )
    };
    let (id, url, webhook) = prepared;
    shared.log(|| format!("clickpesa control number {number} paid as {id}"));
    let delivery =
        crate::settle::deliver_and_record(&shared, Method::POST, url, Some(webhook)).await;
    control_json(
        StatusCode::OK,
        &json!({
            "provider": "clickpesa",
            "control_number": number,
            "payment_id": id,
            "outcome": if failed { "failed" } else { "completed" },
            "delivery": delivery,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billpay_routes_depend_on_method_and_path() {
        let cases = [
            (
                Method::POST,
                "/billpay/create-order-control-number",
                Some(Endpoint::CreateOrder),
            ),
            (
                Method::POST,
                "/billpay/create-customer-control-number",
                Some(Endpoint::CreateCustomer),
            ),
            (
                Method::GET,
                "/billpay/5504",
                Some(Endpoint::Read("5504".to_owned())),
            ),
            (
                Method::PATCH,
                "/billpay/5504",
                Some(Endpoint::Update("5504".to_owned())),
            ),
            (Method::PUT, "/billpay/update-status", None),
            (Method::GET, "/billpay/", None),
            (Method::GET, "/billpay/a/b", None),
            (Method::POST, "/payments/all", None),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                Endpoint::classify(&method, path),
                expected,
                "{method} {path}"
            );
        }
    }
}
