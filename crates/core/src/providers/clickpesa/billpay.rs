//! ClickPesa BillPay control numbers: `POST /billpay/create-order-control-number`,
//! `POST /billpay/create-customer-control-number`, `GET /billpay/{number}`
//! and `PATCH /billpay/{number}`. Everything is checked before any call;
//! BillPay bodies are never signed (no checksum field is documented).

use super::billpay_wire::{ControlNumberReply, CreateBody, UpdateBody};
use super::hosted::tanzanian_phone;
use super::{
    ClickpesaConfig, PROVIDER, check_status, not_as_documented, object_reply, validate_reference,
};
use crate::billpay::{
    BillPaymentMode, BillStatus, ControlNumber, ControlNumberKind, ControlNumberRequest,
    ControlNumberUpdate,
};
use crate::config::names;
use crate::connector::{BoxedCall, Exchange};
use crate::error::{Error, ProviderError, Result};
use crate::money::Amount;
use crate::providers::{AccessToken, Loose, finish, reported_amount_of, request, text_of};
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::validate;
use serde_json::value::RawValue;

/// The longest description ClickPesa takes.
const DESCRIPTION_MAX: usize = 500;

/// A control number creation checked against ClickPesa's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedCreate {
    kind: ControlNumberKind,
    reference: Option<String>,
    amount: Option<Amount>,
    description: Option<String>,
    payment_mode: Option<BillPaymentMode>,
    max_collection: Option<Amount>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_phone: Option<String>,
}

/// An update checked against ClickPesa's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedUpdate {
    number: String,
    status: Option<BillStatus>,
    amount: Option<Amount>,
    description: Option<String>,
    payment_mode: Option<BillPaymentMode>,
    max_collection: Option<Amount>,
}

fn amount_field(text: Option<&str>, field: &str) -> Result<Option<Amount>> {
    text.map(|text| validate::amount(text).map_err(|reason| Error::invalid(field, reason)))
        .transpose()
}

fn description_field(text: Option<&str>) -> Result<Option<String>> {
    text.map(|text| {
        validate::text(text, DESCRIPTION_MAX)
            .map(|()| text.to_owned())
            .map_err(|reason| Error::invalid("description", reason))
    })
    .transpose()
}

/// Checks a control number's number (the path segment): alphanumeric.
pub fn validate_number(number: &str) -> Result<()> {
    validate_reference(number, "number")
}

/// Checks a creation; nothing is sent if this fails.
pub fn validate_create(request: &ControlNumberRequest) -> Result<CheckedCreate> {
    let kind = request
        .kind
        .ok_or_else(|| Error::invalid("kind", "is required: \"order\" or \"customer\""))?;
    if let Some(reference) = &request.reference {
        validate_reference(reference, "reference")?;
    }
    let amount = amount_field(request.amount.as_deref(), "amount")?;
    let description = description_field(request.description.as_deref())?;
    if request.payment_mode.is_some() && amount.is_none() {
        return Err(Error::invalid(
            "payment_mode",
            "applies only to a control number with an amount",
        ));
    }
    let max_collection = amount_field(
        request.max_collection_amount.as_deref(),
        "max_collection_amount",
    )?;
    if let Some(max) = max_collection {
        check_max(max, amount, request.payment_mode)?;
    }
    let customer = [
        ("customer_name", &request.customer_name),
        ("customer_email", &request.customer_email),
        ("customer_phone", &request.customer_phone),
    ];
    let (customer_name, customer_email, customer_phone) = match kind {
        ControlNumberKind::Order => {
            if let Some((field, _)) = customer.iter().find(|(_, value)| value.is_some()) {
                return Err(Error::invalid(
                    *field,
                    "is for customer control numbers only (kind \"customer\")",
                ));
            }
            (None, None, None)
        }
        ControlNumberKind::Customer => {
            let name = request.customer_name.as_deref().ok_or_else(|| {
                Error::invalid("customer_name", "is required for a customer control number")
            })?;
            validate::text(name, 100).map_err(|reason| Error::invalid("customer_name", reason))?;
            if request.customer_email.is_none() && request.customer_phone.is_none() {
                return Err(Error::invalid(
                    "customer_email",
                    "or customer_phone is required for a customer control number",
                ));
            }
            if let Some(email) = &request.customer_email {
                validate::email(email)
                    .map_err(|reason| Error::invalid("customer_email", reason))?;
            }
            if let Some(phone) = &request.customer_phone {
                tanzanian_phone(phone).map_err(|_| {
                    Error::invalid(
                        "customer_phone",
                        "must be 255 followed by 9 digits, without + (e.g. 255712345678)",
                    )
                })?;
            }
            (
                Some(name.to_owned()),
                request.customer_email.clone(),
                request.customer_phone.clone(),
            )
        }
    };
    Ok(CheckedCreate {
        kind,
        reference: request.reference.clone(),
        amount,
        description,
        payment_mode: request.payment_mode,
        max_collection,
        customer_name,
        customer_email,
        customer_phone,
    })
}

/// `billMaxCollectionAmount` is for partial payment only and not below the amount.
fn check_max(max: Amount, amount: Option<Amount>, mode: Option<BillPaymentMode>) -> Result<()> {
    if mode == Some(BillPaymentMode::Exact) {
        return Err(Error::invalid(
            "max_collection_amount",
            "applies only to ALLOW_PARTIAL_AND_OVER_PAYMENT, not EXACT",
        ));
    }
    match amount {
        Some(amount) if max < amount => Err(Error::invalid(
            "max_collection_amount",
            "must be at least the amount",
        )),
        _ => Ok(()),
    }
}

/// Checks an update; nothing is sent if this fails.
pub fn validate_update(number: &str, update: &ControlNumberUpdate) -> Result<CheckedUpdate> {
    validate_number(number)?;
    let nothing = update.status.is_none()
        && update.amount.is_none()
        && update.description.is_none()
        && update.payment_mode.is_none()
        && update.max_collection_amount.is_none();
    if nothing {
        return Err(Error::invalid(
            "status",
            "or amount, description, payment_mode or max_collection_amount is required",
        ));
    }
    let amount = amount_field(update.amount.as_deref(), "amount")?;
    let description = description_field(update.description.as_deref())?;
    let max_collection = amount_field(
        update.max_collection_amount.as_deref(),
        "max_collection_amount",
    )?;
    if let Some(max) = max_collection {
        check_max(max, amount, update.payment_mode)?;
    }
    Ok(CheckedUpdate {
        number: number.to_owned(),
        status: update.status,
        amount,
        description,
        payment_mode: update.payment_mode,
        max_collection,
    })
}

/// An amount as JSON number text (digits and at most one point: always valid JSON).
fn number(amount: Option<Amount>, field: &str) -> Result<Option<Box<RawValue>>> {
    amount
        .map(|amount| {
            RawValue::from_string(amount.to_plain())
                .map_err(|_| Error::invalid(field, "is not a decimal number"))
        })
        .transpose()
}

fn json<T: serde::Serialize>(body: &T) -> Vec<u8> {
    // The bodies hold only strings and checked number text.
    serde_json::to_vec(body).unwrap_or_default()
}

fn call(
    config: &ClickpesaConfig,
    token: &AccessToken,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<HttpRequest> {
    let mut built =
        request(method, config.url(path)).with_header("authorization", token.value.expose());
    if let Some(body) = body {
        built = built
            .with_header("content-type", "application/json")
            .with_body(body);
    }
    finish(built, names::CLICKPESA_BASE_URL)
}

/// `POST {base}/billpay/create-order-control-number` or
/// `POST {base}/billpay/create-customer-control-number`.
pub fn create_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    create: &CheckedCreate,
) -> Result<HttpRequest> {
    let amount = number(create.amount, "amount")?;
    let max = number(create.max_collection, "max_collection_amount")?;
    let body = CreateBody {
        bill_amount: amount.as_deref(),
        bill_description: create.description.as_deref(),
        bill_max_collection_amount: max.as_deref(),
        bill_payment_mode: create.payment_mode.map(BillPaymentMode::as_str),
        bill_reference: create.reference.as_deref(),
        customer_email: create.customer_email.as_deref(),
        customer_name: create.customer_name.as_deref(),
        customer_phone: create.customer_phone.as_deref(),
    };
    let path = match create.kind {
        ControlNumberKind::Order => "/billpay/create-order-control-number",
        ControlNumberKind::Customer => "/billpay/create-customer-control-number",
    };
    call(config, token, Method::Post, path, Some(json(&body)))
}

/// `GET {base}/billpay/{number}`.
pub fn read_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    number: &str,
) -> Result<HttpRequest> {
    validate_number(number)?;
    call(
        config,
        token,
        Method::Get,
        &format!("/billpay/{number}"),
        None,
    )
}

/// `PATCH {base}/billpay/{number}`.
pub fn update_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    update: &CheckedUpdate,
) -> Result<HttpRequest> {
    let amount = number(update.amount, "amount")?;
    let max = number(update.max_collection, "max_collection_amount")?;
    let body = UpdateBody {
        bill_amount: amount.as_deref(),
        bill_description: update.description.as_deref(),
        bill_max_collection_amount: max.as_deref(),
        bill_payment_mode: update.payment_mode.map(BillPaymentMode::as_str),
        bill_status: update.status.map(BillStatus::as_str),
    };
    call(
        config,
        token,
        Method::Patch,
        &format!("/billpay/{}", update.number),
        Some(json(&body)),
    )
}

/// ClickPesa's documented BillPay refusals, typed: a reused reference (409)
/// and an unknown number (404). Anything else is the generic error.
fn check_billpay_status(response: &HttpResponse) -> Result<()> {
    match check_status(response) {
        Err(Error::Provider(mut refusal)) => {
            let code = match refusal.http_status {
                409 => Some("bill_reference_already_used"),
                404 => Some("billpay_number_not_found"),
                _ => None,
            };
            if let Some(code) = code {
                refusal.code = Some(code.to_owned());
            }
            Err(Error::Provider(ProviderError { ..refusal }))
        }
        other => other,
    }
}

fn status_of(value: Option<&Loose>) -> Option<BillStatus> {
    match text_of(value)?.trim().to_ascii_uppercase().as_str() {
        "ACTIVE" => Some(BillStatus::Active),
        "INACTIVE" => Some(BillStatus::Inactive),
        _ => None,
    }
}

fn mode_of(value: Option<&Loose>) -> Option<BillPaymentMode> {
    match text_of(value)?.trim().to_ascii_uppercase().as_str() {
        "ALLOW_PARTIAL_AND_OVER_PAYMENT" => Some(BillPaymentMode::AllowPartialAndOverPayment),
        "EXACT" => Some(BillPaymentMode::Exact),
        _ => None,
    }
}

/// Reads a create, read or update reply: an object with `billPayNumber`.
pub fn parse_control_number(response: &HttpResponse) -> Result<ControlNumber> {
    check_billpay_status(response)?;
    let reply: ControlNumberReply = object_reply(response)?;
    let not_blank =
        |value: &Option<Loose>| text_of(value.as_ref()).filter(|t| !t.trim().is_empty());
    let number = not_blank(&reply.bill_pay_number)
        .ok_or_else(|| not_as_documented(response, "there is no `billPayNumber`"))?;
    Ok(ControlNumber {
        provider: PROVIDER,
        number,
        status: status_of(reply.bill_status.as_ref()),
        amount: reported_amount_of(reply.bill_amount.as_ref()),
        description: not_blank(&reply.bill_description),
        customer_name: not_blank(&reply.bill_customer_name),
        payment_mode: mode_of(reply.bill_payment_mode.as_ref()),
        max_collection_amount: reported_amount_of(reply.bill_max_collection_amount.as_ref()),
    })
}

/// A control number creation, for the flow.
pub fn create_call(create: CheckedCreate) -> BoxedCall<ClickpesaConfig, ControlNumber> {
    Exchange::boxed(create, create_request, |reply, _| {
        parse_control_number(reply)
    })
}

/// A control number read, for the flow.
pub fn read_call(number: String) -> BoxedCall<ClickpesaConfig, ControlNumber> {
    Exchange::boxed(
        number,
        |config, token, number| read_request(config, token, number),
        |reply, _| parse_control_number(reply),
    )
}

/// A control number update, for the flow.
pub fn update_call(update: CheckedUpdate) -> BoxedCall<ClickpesaConfig, ControlNumber> {
    Exchange::boxed(update, update_request, |reply, _| {
        parse_control_number(reply)
    })
}

#[cfg(test)]
#[path = "tests_billpay.rs"]
mod tests;
