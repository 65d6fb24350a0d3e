//! BillPay control numbers on `api` and its `client` resource: ClickPesa
//! control numbers through the core's flow, with the same validation and
//! typed refusals as the HTTP routes. WIT calls do not use the ledger.

use super::{bindings, run};
use bindings::exports::finconnect::payments::types as wit;
use finconnect_core::Provider;
use finconnect_core::billpay as b;

fn mode(mode: wit::BillPaymentMode) -> b::BillPaymentMode {
    match mode {
        wit::BillPaymentMode::AllowPartialAndOverPayment => {
            b::BillPaymentMode::AllowPartialAndOverPayment
        }
        wit::BillPaymentMode::Exact => b::BillPaymentMode::Exact,
    }
}

fn status(status: wit::BillStatus) -> b::BillStatus {
    match status {
        wit::BillStatus::Active => b::BillStatus::Active,
        wit::BillStatus::Inactive => b::BillStatus::Inactive,
    }
}

fn number(number: b::ControlNumber) -> wit::ControlNumber {
    wit::ControlNumber {
        provider: super::convert::provider_out(number.provider),
        number: number.number,
        status: number.status.map(|status| match status {
            b::BillStatus::Active => wit::BillStatus::Active,
            b::BillStatus::Inactive => wit::BillStatus::Inactive,
        }),
        amount: number.amount,
        description: number.description,
        customer_name: number.customer_name,
        payment_mode: number.payment_mode.map(|mode| match mode {
            b::BillPaymentMode::AllowPartialAndOverPayment => {
                wit::BillPaymentMode::AllowPartialAndOverPayment
            }
            b::BillPaymentMode::Exact => wit::BillPaymentMode::Exact,
        }),
        max_collection_amount: number.max_collection_amount,
    }
}

/// `create-control-number`.
pub(super) fn create(
    provider: Provider,
    request: wit::ControlNumberRequest,
) -> Result<wit::ControlNumber, wit::Error> {
    let request = b::ControlNumberRequest {
        kind: Some(match request.kind {
            wit::ControlNumberKind::Order => b::ControlNumberKind::Order,
            wit::ControlNumberKind::Customer => b::ControlNumberKind::Customer,
        }),
        reference: request.reference,
        amount: request.amount,
        description: request.description,
        payment_mode: request.payment_mode.map(mode),
        max_collection_amount: request.max_collection_amount,
        customer_name: request.customer_name,
        customer_email: request.customer_email,
        customer_phone: request.customer_phone,
    };
    run(|fc| fc.create_control_number(provider, &request)).map(number)
}

/// `get-control-number`.
pub(super) fn get(provider: Provider, id: &str) -> Result<wit::ControlNumber, wit::Error> {
    run(|fc| fc.control_number(provider, id)).map(number)
}

/// `update-control-number`.
pub(super) fn update(
    provider: Provider,
    id: &str,
    update: wit::ControlNumberUpdate,
) -> Result<wit::ControlNumber, wit::Error> {
    let update = b::ControlNumberUpdate {
        status: update.status.map(status),
        amount: update.amount,
        description: update.description,
        payment_mode: update.payment_mode.map(mode),
        max_collection_amount: update.max_collection_amount,
    };
    run(|fc| fc.update_control_number(provider, id, &update)).map(number)
}
