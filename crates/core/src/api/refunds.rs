//! `POST /payments/{provider}/{id}/refunds`,
//! `POST /payments/{provider}/{id}/cancellation` and
//! `GET /ipn-registrations?provider=`.
//!
//! With the ledger, a refund is claimed on the payment's record before it
//! is sent and a cancellation is checked against the record before any
//! call (see [`crate::ledger::refunds`]); a payment FinConnect does not
//! hold is checked by the provider's status alone.

use super::ledgered::{param, query_params, unavailable};
use super::{Problem, ProblemCode, Request, Response, json};
use crate::connector::StatusKey;
use crate::domain::{Cancellation, IpnListing, Provider, Refund, RefundRequest};
use crate::flow::Finconnect;
use crate::ledger::refunds::RefundBegin;
use crate::ledger::{Ledger, PaymentRecord, REPLAYED_HEADER, State, Store};
use crate::money::Amount;
use serde::Serialize;

/// The ledger's record for `id` (the provider's id or the merchant
/// reference) and the id the provider's calls take for it.
fn lookup<S: Store>(
    ledger: Option<(&Ledger<S>, u64)>,
    provider: Provider,
    id: &str,
) -> Result<(Option<PaymentRecord>, String), Problem> {
    let Some((ledger, _)) = ledger else {
        return Ok((None, id.to_owned()));
    };
    let record = match ledger.by_tracking_id(provider, id) {
        Ok(Some(record)) => Some(record),
        Ok(None) => ledger
            .by_reference(provider, id)
            .map_err(|e| unavailable(&e))?,
        Err(error) => return Err(unavailable(&error)),
    };
    let call_id = record
        .as_ref()
        .and_then(|record| match provider.info().status_key {
            StatusKey::Reference => Some(record.reference.clone()),
            StatusKey::TrackingId => record.tracking_id.clone(),
        })
        .unwrap_or_else(|| id.to_owned());
    Ok((record, call_id))
}

/// `POST /payments/{provider}/{id}/refunds`: validation, the payment's
/// status (recorded when the ledger holds it), the ledger's claim, then the
/// refund request, once. `202`: the provider queued the request.
pub(super) fn refund<S: Store>(
    fc: &mut Finconnect<'_>,
    ledger: Option<(&Ledger<S>, u64)>,
    provider: Provider,
    id: &str,
    request: &RefundRequest,
) -> Result<Response, Problem> {
    fc.check_refund(provider, id, request)
        .map_err(|e| Problem::from_error(&e))?;
    let (record, call_id) = lookup(ledger, provider, id)?;
    fc.check_refund(provider, &call_id, request)
        .map_err(|e| Problem::from_error(&e))?;
    let details = fc
        .payment_status(provider, &call_id)
        .map_err(|e| Problem::from_error(&e))?;
    let claimed = match (ledger, record) {
        (Some((ledger, now)), Some(_)) => {
            // The status may have moved the record (completed just now).
            let refreshed = ledger
                .observe(&details, now)
                .map_err(|e| unavailable(&e))?
                .record;
            let (record, _) = lookup(Some((ledger, now)), provider, &call_id)?;
            let record = refreshed.or(record).ok_or_else(|| {
                Problem::new(
                    503,
                    ProblemCode::LedgerUnavailable,
                    "the payment's record vanished from the ledger; retry shortly",
                )
            })?;
            let amount = request
                .amount
                .parse::<Amount>()
                .map_err(|e| Problem::invalid(422, "amount", &e.to_string()))?;
            match ledger
                .begin_refund(&record, amount, now)
                .map_err(|e| unavailable(&e))?
            {
                RefundBegin::Proceed => Some((ledger, now, record)),
                RefundBegin::Refused(error) => return Err(Problem::from_error(&error)),
                RefundBegin::InProgress => {
                    return Err(Problem::new(
                        409,
                        ProblemCode::RequestInProgress,
                        "a refund of this payment is being sent; retry after it has finished",
                    )
                    .with_header("retry-after", "1"));
                }
                RefundBegin::OutcomeUnknown(detail) => {
                    return Err(Problem::new(409, ProblemCode::OutcomeUnknown, detail));
                }
            }
        }
        _ => None,
    };
    let sent_before = fc.api_requests_sent();
    let result = fc.refund_after_status(provider, &call_id, request, &details);
    if let Some((ledger, now, record)) = claimed {
        // The provider has answered (or not): its answer goes back even if
        // the record cannot be updated; the claim then stays `sending`, and
        // after its time it reads as an unknown outcome, never as free.
        let _ = if result.is_err() && fc.api_requests_sent() == sent_before {
            ledger.release_refund(&record, now)
        } else {
            ledger
                .finish_refund(&record, &result, fc.time_ms(now))
                .map(|_| ())
        };
    }
    let refund = result.map_err(|e| Problem::from_error(&e))?;
    Ok(json(202, &refund_json(&refund)))
}

/// `POST /payments/{provider}/{id}/cancellation`: for an order not paid.
/// An order the ledger holds as paid is refused before any call; one it
/// holds as cancelled is answered from the record.
pub(super) fn cancel<S: Store>(
    fc: &mut Finconnect<'_>,
    ledger: Option<(&Ledger<S>, u64)>,
    provider: Provider,
    id: &str,
) -> Result<Response, Problem> {
    fc.check_cancel(provider, id)
        .map_err(|e| Problem::from_error(&e))?;
    let (record, call_id) = lookup(ledger, provider, id)?;
    if let Some(record) = &record {
        match record.state {
            State::Cancelled => {
                let cancelled = Cancellation {
                    provider,
                    tracking_id: call_id,
                    message: None,
                };
                return Ok(
                    json(200, &cancellation_json(&cancelled)).with_header(REPLAYED_HEADER, "true")
                );
            }
            State::Completed | State::RefundPending | State::Reversed => {
                return Err(Problem::invalid(
                    422,
                    "id",
                    &format!(
                        "names a payment that is {} in the ledger; only unpaid orders can be cancelled (ask for a refund instead)",
                        record.state.as_str()
                    ),
                ));
            }
            State::Initiating | State::Pending | State::Failed | State::Unknown => {}
        }
    }
    let cancelled = fc
        .cancel(provider, &call_id)
        .map_err(|e| Problem::from_error(&e))?;
    if let (Some((ledger, now)), Some(record)) = (ledger, &record) {
        // The provider cancelled it: the answer goes back even if the
        // record cannot be updated (a later status query shows it).
        let _ = ledger.cancelled(record, now);
    }
    Ok(json(200, &cancellation_json(&cancelled)))
}

/// `GET /ipn-registrations?provider=`: what the provider has on record.
pub(super) fn list_ipns(request: &Request, fc: &mut Finconnect<'_>) -> Result<Response, Problem> {
    let params = query_params(request)?;
    let name = param(&params, "provider").ok_or_else(|| {
        Problem::invalid(
            422,
            "provider",
            &format!("is required; use {}", Provider::names_for_message()),
        )
    })?;
    let provider = name.parse::<Provider>().map_err(|()| {
        Problem::invalid(
            422,
            "provider",
            &format!("must be {}", Provider::names_for_message()),
        )
    })?;
    let listed = fc
        .list_ipns(provider)
        .map_err(|e| Problem::from_error(&e))?;
    let data: Vec<_> = listed.iter().map(listing_json).collect();
    Ok(json(200, &serde_json::json!({ "data": data })))
}

/// `202` body of a refund.
#[derive(Serialize)]
struct RefundJson<'a> {
    provider: &'a str,
    tracking_id: &'a str,
    confirmation_code: &'a str,
    amount: &'a str,
    currency: Option<&'a str>,
    status: &'static str,
    message: Option<&'a str>,
}

fn refund_json(refund: &Refund) -> RefundJson<'_> {
    RefundJson {
        provider: refund.provider.as_str(),
        tracking_id: &refund.tracking_id,
        confirmation_code: &refund.confirmation_code,
        amount: &refund.amount,
        currency: refund.currency.as_deref(),
        status: "pending",
        message: refund.message.as_deref(),
    }
}

/// `200` body of a cancellation.
#[derive(Serialize)]
struct CancellationJson<'a> {
    provider: &'a str,
    tracking_id: &'a str,
    status: &'static str,
    message: Option<&'a str>,
}

fn cancellation_json(cancelled: &Cancellation) -> CancellationJson<'_> {
    CancellationJson {
        provider: cancelled.provider.as_str(),
        tracking_id: &cancelled.tracking_id,
        status: "cancelled",
        message: cancelled.message.as_deref(),
    }
}

/// One row of `GET /ipn-registrations`.
#[derive(Serialize)]
struct ListingJson<'a> {
    provider: &'a str,
    ipn_id: &'a str,
    url: &'a str,
    notification_type: Option<&'static str>,
    created_date: Option<&'a str>,
    active: Option<bool>,
}

fn listing_json(listing: &IpnListing) -> ListingJson<'_> {
    ListingJson {
        provider: listing.provider.as_str(),
        ipn_id: &listing.ipn_id,
        url: &listing.url,
        notification_type: listing.notification_type.map(|kind| kind.as_str()),
        created_date: listing.created_date.as_deref(),
        active: listing.active,
    }
}
