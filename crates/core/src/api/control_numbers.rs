//! The control number routes (ClickPesa BillPay), behind the merchant key:
//! `POST /control-numbers` creates one (order or customer),
//! `GET /control-numbers/{provider}/{number}` reads one and
//! `PATCH /control-numbers/{provider}/{number}` changes its status, amount,
//! description or payment mode. Bodies and the provider's rules are checked
//! before any provider call (422 naming the field). With the ledger, a
//! created number is remembered, so ClickPesa's payment webhooks for it are
//! admitted and become payments and events ([`crate::ledger::billpay`]).

use super::{Problem, Request, Response, json, require_json, status_params};
use crate::billpay::{BillPaymentMode, BillStatus, ControlNumber};
use crate::flow::Finconnect;
use crate::ledger::{Ledger, Store};
use serde::Serialize;

/// What a control number route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlNumberRoute {
    /// `POST /control-numbers`.
    Create,
    /// `GET /control-numbers/{provider}/{number}`.
    Read,
    /// `PATCH /control-numbers/{provider}/{number}`.
    Update,
}

/// The control number routes, for [`super::routes`].
pub(super) const ROUTES: [(&str, &str, ControlNumberRoute); 3] = [
    ("POST", "/control-numbers", ControlNumberRoute::Create),
    (
        "GET",
        "/control-numbers/{provider}/{number}",
        ControlNumberRoute::Read,
    ),
    (
        "PATCH",
        "/control-numbers/{provider}/{number}",
        ControlNumberRoute::Update,
    ),
];

/// Serves a control number route (the merchant key is already checked).
pub(super) fn serve<S: Store>(
    route: ControlNumberRoute,
    request: &Request,
    fc: &mut Finconnect<'_>,
    ledger: Option<(&Ledger<S>, u64)>,
    params: &[String],
) -> Result<Response, Problem> {
    let problem = |e: crate::error::Error| Problem::from_error(&e);
    match route {
        ControlNumberRoute::Create => {
            require_json(request)?;
            let (provider, wanted) = super::input::billpay::create(&request.body)?;
            fc.check_control_number(provider, &wanted)
                .map_err(problem)?;
            let created = fc
                .create_control_number(provider, &wanted)
                .map_err(problem)?;
            // Remembered so that payments to it are admitted; a ledger that
            // cannot write is reported (the number exists at ClickPesa all
            // the same: reading it again is safe, creating it again is a 409).
            if let Some((ledger, _)) = ledger {
                ledger
                    .remember_control_number(&created)
                    .map_err(|e| super::ledgered::unavailable(&e))?;
            }
            Ok(json(201, &ControlNumberJson::from(&created)))
        }
        ControlNumberRoute::Read => {
            let (provider, number) = status_params(params)?;
            let found = fc.control_number(provider, &number).map_err(problem)?;
            Ok(json(200, &ControlNumberJson::from(&found)))
        }
        ControlNumberRoute::Update => {
            require_json(request)?;
            let (provider, number) = status_params(params)?;
            let update = super::input::billpay::update(&request.body)?;
            let updated = fc
                .update_control_number(provider, &number, &update)
                .map_err(problem)?;
            Ok(json(200, &ControlNumberJson::from(&updated)))
        }
    }
}

/// A control number as FinConnect answers it.
#[derive(Serialize)]
struct ControlNumberJson<'a> {
    provider: &'a str,
    number: &'a str,
    status: Option<&'static str>,
    amount: Option<&'a str>,
    description: Option<&'a str>,
    customer_name: Option<&'a str>,
    payment_mode: Option<&'static str>,
    max_collection_amount: Option<&'a str>,
}

impl<'a> From<&'a ControlNumber> for ControlNumberJson<'a> {
    fn from(number: &'a ControlNumber) -> Self {
        ControlNumberJson {
            provider: number.provider.as_str(),
            number: &number.number,
            status: number.status.map(|status| match status {
                BillStatus::Active => "active",
                BillStatus::Inactive => "inactive",
            }),
            amount: number.amount.as_deref(),
            description: number.description.as_deref(),
            customer_name: number.customer_name.as_deref(),
            payment_mode: number.payment_mode.map(|mode| match mode {
                BillPaymentMode::AllowPartialAndOverPayment => "allow_partial_and_over_payment",
                BillPaymentMode::Exact => "exact",
            }),
            max_collection_amount: number.max_collection_amount.as_deref(),
        }
    }
}
