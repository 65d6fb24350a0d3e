//! The `billpay` export: ClickPesa BillPay control numbers through the
//! core's flow, with the same validation and typed refusals as the HTTP
//! routes. WIT calls do not use the ledger.

use super::{Component, bindings, convert, with_finconnect};
use bindings::exports::finconnect::payments::billpay as wit;
use bindings::exports::finconnect::payments::types as wit_types;
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

fn provider_out(provider: finconnect_core::Provider) -> wit_types::Provider {
    match provider {
        finconnect_core::Provider::Pesapal => wit_types::Provider::Pesapal,
        finconnect_core::Provider::Clickpesa => wit_types::Provider::Clickpesa,
        finconnect_core::Provider::Mpesa => wit_types::Provider::Mpesa,
    }
}

fn number(number: b::ControlNumber) -> wit::ControlNumber {
    wit::ControlNumber {
        provider: provider_out(number.provider),
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

fn run(
    operation: impl FnOnce(
        &mut finconnect_core::flow::Finconnect<'_>,
    ) -> finconnect_core::error::Result<b::ControlNumber>,
) -> Result<wit::ControlNumber, wit_types::Error> {
    with_finconnect(operation)
        .and_then(|result| result)
        .map(number)
        .map_err(convert::error)
}

impl wit::Guest for Component {
    fn create_control_number(
        provider: wit_types::Provider,
        request: wit::ControlNumberRequest,
    ) -> Result<wit::ControlNumber, wit_types::Error> {
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
        run(|fc| fc.create_control_number(convert::provider(provider), &request))
    }

    fn get_control_number(
        provider: wit_types::Provider,
        number: String,
    ) -> Result<wit::ControlNumber, wit_types::Error> {
        run(|fc| fc.control_number(convert::provider(provider), &number))
    }

    fn update_control_number(
        provider: wit_types::Provider,
        number: String,
        update: wit::ControlNumberUpdate,
    ) -> Result<wit::ControlNumber, wit_types::Error> {
        let update = b::ControlNumberUpdate {
            status: update.status.map(status),
            amount: update.amount,
            description: update.description,
            payment_mode: update.payment_mode.map(mode),
            max_collection_amount: update.max_collection_amount,
        };
        run(|fc| fc.update_control_number(convert::provider(provider), &number, &update))
    }
}
