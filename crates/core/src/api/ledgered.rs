//! The routes that read or write the payment ledger: idempotent
//! `POST /payments`, `GET /payments/{provider}/{id}` by either id,
//! `GET /payments`, `GET /events` and `POST /events/{id}/deliveries`.

use super::{
    Problem, ProblemCode, Request, Response, created_payment, details_json, json, respond,
};
use crate::domain::{PaymentRequest, Provider};
use crate::flow::Finconnect;
use crate::ledger::deliver::WebhookTarget;
use crate::ledger::{
    Begin, IDEMPOTENCY_KEY_HEADER, Ledger, LedgerError, Probe, REPLAYED_HEADER, Store,
    StoredResponse, idempotency_key,
};
use crate::transport::header_text;

/// `GET /events` answers at most this many events per page.
pub(super) const MAX_EVENTS_PAGE: usize = 1000;
/// ... and this many when the request names no `limit`.
const DEFAULT_EVENTS_PAGE: usize = 100;

/// 503 for a ledger route, or a request that asks for idempotency, when
/// FinConnect runs without its ledger (`finconnect_ledger = off`).
pub(super) fn no_ledger(what: &str) -> Problem {
    Problem::new(
        503,
        ProblemCode::NotConfigured,
        format!(
            "{what} needs the ledger, which is off here (`{}` is `off`)",
            crate::config::names::LEDGER
        ),
    )
}

/// 503 when the store failed; says nothing about the store's internals
/// beyond the error's own words.
pub(super) fn unavailable(error: &LedgerError) -> Problem {
    Problem::new(
        503,
        ProblemCode::LedgerUnavailable,
        format!("the ledger could not be read or written: {error}; retry shortly"),
    )
    .with_header("retry-after", "1")
}

/// `POST /payments` through the ledger: the `Idempotency-Key` header
/// (else the merchant reference) is claimed before the provider call; a
/// retry gets the stored answer; a key still running, reused for another
/// request, or whose first attempt's outcome is unknown gets a problem.
pub(super) fn create_payment<S: Store>(
    request: &Request,
    fc: &mut Finconnect<'_>,
    ledger: &Ledger<S>,
    now: u64,
    provider: Provider,
    payment: &PaymentRequest,
) -> Result<Response, Problem> {
    let key = match request.single_header(IDEMPOTENCY_KEY_HEADER) {
        Err(()) => {
            return Err(Problem::invalid(
                400,
                "Idempotency-Key",
                "is given more than once",
            ));
        }
        Ok(None) => None,
        Ok(Some(value)) => {
            let text = header_text(value)
                .ok_or_else(|| Problem::invalid(400, "Idempotency-Key", "is not readable text"))?;
            Some(idempotency_key(text).map_err(|e| Problem::from_error(&e))?)
        }
    };
    let key = key.as_deref();
    // A wrong field is named before the key is looked at. The provider's
    // variables are read only for a request that goes on to the provider,
    // after the lookup: a replay reads none.
    fc.check_request(provider, payment)
        .map_err(|e| Problem::from_error(&e))?;
    let mut decision = ledger
        .begin(provider, payment, key, now)
        .map_err(|e| unavailable(&e))?;
    if let Begin::AskProvider { provider, id } = &decision {
        let probe = Probe::from_status(&fc.payment_status(*provider, id));
        decision = ledger
            .resolve(*provider, payment, key, &probe, now)
            .map_err(|e| unavailable(&e))?;
    }
    match decision {
        Begin::Proceed(ticket) => {
            let sent_before = fc.api_requests_sent();
            let result = fc.pay(provider, payment);
            if let Err(error) = &result
                && fc.api_requests_sent() == sent_before
            {
                // Failed before the payment request left (the provider's
                // variables do not allow it, or the token step failed):
                // only a request that was sent is recorded, so the key is
                // free again, whatever the error was.
                let _ = ledger.release(&ticket);
                return Err(Problem::from_error(error));
            }
            let response = match &result {
                Ok(created) => created_payment(created),
                Err(error) => Problem::from_error(error).into_response(),
            };
            let stored = StoredResponse {
                status: response.status,
                content_type: response
                    .header("content-type")
                    .unwrap_or("application/json")
                    .to_owned(),
                body: String::from_utf8_lossy(&response.body).into_owned(),
            };
            // The provider has answered: its answer goes back even if the
            // record cannot be updated. A failed write is tried once more
            // at once (a busy store, a dropped connection): finishing
            // twice changes nothing the first write did. If that fails too,
            // the claim expires into `unknown`; a retry of the pay asks
            // the provider where it can be asked by reference, and a
            // PesaPal IPN finds the payment by its merchant reference.
            if ledger
                .finish(&ticket, &result, stored.clone(), fc.time_ms(now))
                .is_err()
            {
                let _ = ledger.finish(&ticket, &result, stored, fc.time_ms(now));
            }
            Ok(response)
        }
        Begin::Replay(stored) => {
            let content_type = if stored.content_type.starts_with("application/problem+json") {
                super::PROBLEM_CONTENT_TYPE
            } else {
                "application/json"
            };
            Ok(
                respond(stored.status, content_type, stored.body.into_bytes())
                    .with_header(REPLAYED_HEADER, "true"),
            )
        }
        other => {
            // The ledger names the status and the code; the router only
            // finds the code among its own. A second `AskProvider` (the
            // provider's answer left the outcome open) is `outcome_unknown`.
            let (status, code) = other
                .problem()
                .and_then(|(status, name)| {
                    ProblemCode::ALL
                        .into_iter()
                        .find(|code| code.as_str() == name)
                        .map(|code| (status, code))
                })
                .unwrap_or((409, ProblemCode::OutcomeUnknown));
            let mut problem = Problem::new(status, code, other.detail().unwrap_or_default());
            if code == ProblemCode::RequestInProgress {
                problem = problem.with_header("retry-after", "1");
            }
            Err(problem)
        }
    }
}

/// `GET /payments/{provider}/{id}`: `id` is the provider's id or the
/// merchant reference. A payment in the ledger is looked up by the id its
/// provider's status query takes, refreshed by that query, and answered
/// with its record; any other id is asked about as given.
pub(super) fn payment_status<S: Store>(
    fc: &mut Finconnect<'_>,
    ledger: &Ledger<S>,
    now: u64,
    provider: Provider,
    id: &str,
) -> Result<Response, Problem> {
    let record = match ledger.by_tracking_id(provider, id) {
        Ok(Some(record)) => Some(record),
        Ok(None) => ledger
            .by_reference(provider, id)
            .map_err(|e| unavailable(&e))?,
        Err(error) => return Err(unavailable(&error)),
    };
    let query_id = match &record {
        None => Some(id.to_owned()),
        Some(record) => match provider.info().status_key {
            crate::connector::StatusKey::Reference => Some(record.reference.clone()),
            crate::connector::StatusKey::TrackingId => record.tracking_id.clone(),
        },
    };
    let Some(query_id) = query_id else {
        // Recorded, but the provider never gave an id to ask about (its
        // call is under way, or ended without an answer).
        let record = record.map(|record| record.public_json());
        let mut body = serde_json::json!({ "provider": provider.as_str(), "record": record });
        if let Some(status) = body["record"]["status"].as_str().map(str::to_owned) {
            body["status"] = status.into();
        }
        return Ok(json(200, &body));
    };
    let details = fc
        .payment_status(provider, &query_id)
        .map_err(|e| Problem::from_error(&e))?;
    let recorded = ledger
        .observe(&details, fc.time_ms(now))
        .ok()
        .and_then(|r| r.record);
    let mut body = serde_json::to_value(details_json(&details)).unwrap_or_default();
    body["record"] = recorded
        .or(record)
        .map(|record| record.public_json())
        .unwrap_or(serde_json::Value::Null);
    Ok(json(200, &body))
}

/// `GET /payments?provider=&limit=`: the ledger's records, newest first;
/// `GET /payments?format=jsonl`: all of them as stored, for export.
pub(super) fn list_payments<S: Store>(
    request: &Request,
    ledger: &Ledger<S>,
) -> Result<Response, Problem> {
    let params = query_params(request)?;
    let provider = match param(&params, "provider") {
        None => None,
        Some(name) => Some(name.parse::<Provider>().map_err(|()| {
            Problem::invalid(
                422,
                "provider",
                &format!("must be one of {}", Provider::names_for_message()),
            )
        })?),
    };
    if let Some(format) = param(&params, "format") {
        if format != "jsonl" {
            return Err(Problem::invalid(
                422,
                "format",
                "must be `jsonl` when given",
            ));
        }
        // The export: every record in its stored form (with `version`),
        // one JSON document per line, oldest first.
        let export = ledger.export_jsonl().map_err(|e| unavailable(&e))?;
        return Ok(respond(200, "application/jsonl", export.into_bytes()));
    }
    let limit = number(&params, "limit", 1, MAX_EVENTS_PAGE as u64)?
        .map_or(DEFAULT_EVENTS_PAGE, |n| n as usize);
    let status = param(&params, "status")
        .map(super::ledger_paging::state)
        .transpose()?;
    let after = param(&params, "after")
        .map(super::ledger_paging::Cursor::decode)
        .transpose()?;
    let records = ledger.records().map_err(|e| unavailable(&e))?;
    let keep = |record: &crate::ledger::PaymentRecord| {
        provider.is_none_or(|p| record.provider == p) && status.is_none_or(|s| record.state == s)
    };
    let (page, next) = super::ledger_paging::page(&records, keep, after.as_ref(), limit);
    let data: Vec<_> = page.iter().map(|record| record.public_json()).collect();
    Ok(json(
        200,
        &serde_json::json!({ "data": data, "next": next }),
    ))
}

/// `GET /events?after=<seq>&limit=<n>`: events after `after`, in order,
/// each with its webhook delivery attempts when webhooks are on.
pub(super) fn list_events<S: Store>(
    request: &Request,
    ledger: &Ledger<S>,
    now: u64,
) -> Result<Response, Problem> {
    let params = query_params(request)?;
    let after = number(&params, "after", 0, u64::MAX)?.unwrap_or(0);
    let limit = number(&params, "limit", 1, MAX_EVENTS_PAGE as u64)?
        .map_or(DEFAULT_EVENTS_PAGE, |n| n as usize);
    let page = ledger
        .events(after, limit, now)
        .map_err(|e| unavailable(&e))?;
    let mut data = Vec::with_capacity(page.data.len());
    let mut deliveries = Vec::with_capacity(page.data.len());
    for event in &page.data {
        let mut value = serde_json::to_value(event).unwrap_or_default();
        let delivery = ledger.delivery(&event.id).map_err(|e| unavailable(&e))?;
        value["delivery"] = serde_json::to_value(&delivery).unwrap_or_default();
        data.push(value);
        deliveries.extend(delivery);
    }
    // A scheduled delivery the outbox lost goes back in it; the listing is
    // answered whatever happens to that repair.
    let _ = ledger.restore_scheduled(&deliveries.iter().collect::<Vec<_>>());
    Ok(json(
        200,
        &serde_json::json!({ "data": data, "next_after": page.next_after }),
    ))
}

/// `POST /events/{id}/deliveries`: schedules the event's webhook again, at
/// once; it is sent right after this answer (202).
pub(super) fn redeliver<S: Store>(
    fc: &mut Finconnect<'_>,
    ledger: &Ledger<S>,
    now: u64,
    params: &[String],
) -> Result<Response, Problem> {
    let [id] = params else {
        return Err(Problem::new(404, ProblemCode::NotFound, "no such route"));
    };
    if WebhookTarget::load(fc.variables())
        .map_err(|e| Problem::from_error(&e))?
        .is_none()
    {
        return Err(Problem::new(
            409,
            ProblemCode::NotConfigured,
            format!(
                "webhooks are off: set `{}` (and `{}`) to have events delivered",
                crate::config::names::WEBHOOK_URL,
                crate::config::names::WEBHOOK_SECRET
            ),
        ));
    }
    let event = ledger
        .event(id)
        .map_err(|e| unavailable(&e))?
        .ok_or_else(|| Problem::new(404, ProblemCode::NotFound, "no event with this id"))?;
    let delivery = ledger
        .redeliver(&event.id, event.seq, now)
        .map_err(|e| unavailable(&e))?;
    Ok(json(202, &delivery))
}

/// The query's `name=value` pairs, percent-decoded (`+` is a space).
pub(super) fn query_params(request: &Request) -> Result<Vec<(String, String)>, Problem> {
    let Some(query) = request.query() else {
        return Ok(Vec::new());
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| super::percent_decode(text.replace('+', " ").as_bytes());
            match (decode(name), decode(value)) {
                (Some(name), Some(value)) => Ok((name, value)),
                _ => Err(Problem::invalid(
                    400,
                    "query",
                    "has a broken percent-escape or text that is not UTF-8",
                )),
            }
        })
        .collect()
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(candidate, _)| candidate == name)
        .map(|(_, value)| value.as_str())
}

/// A whole-number query parameter within `min..=max`; 422 naming it otherwise.
pub(super) fn number(
    params: &[(String, String)],
    name: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, Problem> {
    match param(params, name) {
        None => Ok(None),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Problem::invalid(
                422,
                name,
                &format!("must be a whole number from {min} to {max}"),
            )),
        },
    }
}
