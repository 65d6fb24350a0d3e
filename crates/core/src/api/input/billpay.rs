//! Bodies of the control number routes: `POST /control-numbers` and
//! `PATCH /control-numbers/{provider}/{number}`. Shapes and vocabularies
//! only; the provider's rules run in the flow before anything is sent.

use super::{Object, Problem, UNPROCESSABLE, provider, string};
use crate::billpay::{
    BillPaymentMode, BillStatus, ControlNumberKind, ControlNumberRequest, ControlNumberUpdate,
};
use crate::domain::Provider;
use crate::providers::Loose;
use serde::Deserialize;

/// `POST /control-numbers` as sent (`provider` is read first, by [`provider`]).
#[derive(Deserialize)]
struct CreateBody {
    kind: Option<Loose>,
    reference: Option<Loose>,
    amount: Option<Loose>,
    description: Option<Loose>,
    payment_mode: Option<Loose>,
    max_collection_amount: Option<Loose>,
    customer_name: Option<Loose>,
    customer_email: Option<Loose>,
    customer_phone: Option<Loose>,
}

/// `PATCH /control-numbers/{provider}/{number}` as sent.
#[derive(Deserialize)]
struct UpdateBody {
    status: Option<Loose>,
    amount: Option<Loose>,
    description: Option<Loose>,
    payment_mode: Option<Loose>,
    max_collection_amount: Option<Loose>,
}

/// An optional amount: a decimal string or a JSON number's literal text.
fn optional_amount(value: Option<Loose>, name: &str) -> Result<Option<String>, Problem> {
    match value {
        None => Ok(None),
        Some(Loose::String(text) | Loose::Number(text)) => Ok(Some(text)),
        Some(_) => Err(Problem::invalid(
            UNPROCESSABLE,
            name,
            "must be a decimal string such as \"1500.00\" or a number with at most 2 decimals",
        )),
    }
}

fn word<T>(
    value: Option<Loose>,
    name: &str,
    words: &[(&str, T)],
    allowed: &str,
) -> Result<Option<T>, Problem>
where
    T: Copy,
{
    string(value, name)?
        .map(|text| {
            words
                .iter()
                .find(|(word, _)| *word == text)
                .map(|(_, value)| *value)
                .ok_or_else(|| {
                    Problem::invalid(UNPROCESSABLE, name, &format!("must be one of {allowed}"))
                })
        })
        .transpose()
}

fn payment_mode(value: Option<Loose>) -> Result<Option<BillPaymentMode>, Problem> {
    word(
        value,
        "payment_mode",
        &[
            (
                "allow_partial_and_over_payment",
                BillPaymentMode::AllowPartialAndOverPayment,
            ),
            ("exact", BillPaymentMode::Exact),
        ],
        "\"allow_partial_and_over_payment\", \"exact\"",
    )
}

/// A creation body: the provider and the control number wanted.
pub(in crate::api) fn create(body: &[u8]) -> Result<(Provider, ControlNumberRequest), Problem> {
    let object = Object::body(body)?;
    let named = provider(&object)?;
    let body: CreateBody = object.read_whole()?;
    let provider =
        named.ok_or_else(|| Problem::invalid(UNPROCESSABLE, "provider", "is required"))?;
    let kind = word(
        body.kind,
        "kind",
        &[
            ("order", ControlNumberKind::Order),
            ("customer", ControlNumberKind::Customer),
        ],
        "\"order\", \"customer\"",
    )?;
    Ok((
        provider,
        ControlNumberRequest {
            kind,
            reference: string(body.reference, "reference")?,
            amount: optional_amount(body.amount, "amount")?,
            description: string(body.description, "description")?,
            payment_mode: payment_mode(body.payment_mode)?,
            max_collection_amount: optional_amount(
                body.max_collection_amount,
                "max_collection_amount",
            )?,
            customer_name: string(body.customer_name, "customer_name")?,
            customer_email: string(body.customer_email, "customer_email")?,
            customer_phone: string(body.customer_phone, "customer_phone")?,
        },
    ))
}

/// An update body.
pub(in crate::api) fn update(body: &[u8]) -> Result<ControlNumberUpdate, Problem> {
    let object = Object::body(body)?;
    let body: UpdateBody = object.read_whole()?;
    Ok(ControlNumberUpdate {
        status: word(
            body.status,
            "status",
            &[
                ("active", BillStatus::Active),
                ("inactive", BillStatus::Inactive),
            ],
            "\"active\", \"inactive\"",
        )?,
        amount: optional_amount(body.amount, "amount")?,
        description: string(body.description, "description")?,
        payment_mode: payment_mode(body.payment_mode)?,
        max_collection_amount: optional_amount(
            body.max_collection_amount,
            "max_collection_amount",
        )?,
    })
}
