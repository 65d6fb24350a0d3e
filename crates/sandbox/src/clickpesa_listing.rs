//! ClickPesa's `GET /payments/all`: every collection the sandbox holds,
//! filtered (`startDate`, `endDate`, `status`, `collectedCurrency`,
//! `channel`, `orderReference`, `clientId`), sorted (`sortBy` one of
//! `createdAt`, `updatedAt`, `orderReference`, `collectedAmount`; `orderBy`
//! `ASC|DESC`, default `createdAt` `DESC`) and paged (`skip` ≥ 0, default 0;
//! `limit` ≥ 1, default 20), answered as `{"data": [...], "totalCount": n}`
//! where `totalCount` counts every match, not the page.

use std::cmp::Ordering;

use axum::response::Response;
use http::StatusCode;
use serde_json::json;

use finconnect_core::money::Amount;

use crate::clickpesa::{bad_request, item, status_word};
use crate::model::ClickpesaPayment;
use crate::pesapal::json_response;
use crate::server::Incoming;
use crate::state::State;
use crate::util;

/// `YYYY-MM-DD`.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn amount_of(payment: &ClickpesaPayment) -> u64 {
    payment
        .amount
        .parse::<Amount>()
        .map(Amount::hundredths)
        .unwrap_or(0)
}

/// The date filter of a listing query: `startDate` and `endDate`, each
/// `YYYY-MM-DD` when given, both days included.
pub(crate) struct Dates {
    start: Option<String>,
    end: Option<String>,
}

impl Dates {
    /// Whether the day of `created_at` (an ISO 8601 timestamp) is in range.
    pub(crate) fn cover(&self, created_at: &str) -> bool {
        let day = created_at.get(..10).unwrap_or_default();
        self.start.as_deref().is_none_or(|start| day >= start)
            && self.end.as_deref().is_none_or(|end| day <= end)
    }
}

/// Reads [`Dates`] from a listing query, or ClickPesa's refusal.
pub(crate) fn dates(query: Option<&str>) -> Result<Dates, Box<Response>> {
    let param = |name: &str| util::query_param(query, name).filter(|v| !v.is_empty());
    let (start, end) = (param("startDate"), param("endDate"));
    for date in [&start, &end].into_iter().flatten() {
        if !is_date(date) {
            return Err(Box::new(bad_request(
                "startDate and endDate must be valid ISO 8601 date strings",
            )));
        }
    }
    Ok(Dates { start, end })
}

/// The paging and order of a listing query: `skip` ≥ 0 (default 0),
/// `limit` ≥ 1 (default 20), `orderBy` `ASC|DESC` (default `DESC`).
pub(crate) struct Paging {
    pub(crate) skip: usize,
    pub(crate) limit: usize,
    pub(crate) descending: bool,
}

/// Reads [`Paging`] from a listing query, or ClickPesa's refusal.
pub(crate) fn paging(query: Option<&str>) -> Result<Paging, Box<Response>> {
    let param = |name: &str| util::query_param(query, name).filter(|v| !v.is_empty());
    let skip = match param("skip").map(|s| s.parse::<usize>()) {
        None => 0,
        Some(Ok(skip)) => skip,
        Some(Err(_)) => return Err(Box::new(bad_request("skip must not be less than 0"))),
    };
    let limit = match param("limit").map(|s| s.parse::<usize>()) {
        None => 20,
        Some(Ok(limit)) if limit >= 1 => limit,
        Some(_) => return Err(Box::new(bad_request("limit must not be less than 1"))),
    };
    let descending = match param("orderBy").as_deref() {
        None | Some("DESC") => true,
        Some("ASC") => false,
        Some(_) => {
            return Err(Box::new(bad_request(
                "orderBy must be one of the following values: ASC, DESC",
            )));
        }
    };
    Ok(Paging {
        skip,
        limit,
        descending,
    })
}

/// The date filter and the paging of a listing query ([`dates`], then
/// [`paging`]), or ClickPesa's refusal of the first that is wrong.
pub(crate) fn window(query: Option<&str>) -> Result<(Dates, Paging), Box<Response>> {
    let dates = dates(query)?;
    Ok((dates, paging(query)?))
}

/// `GET /payments/all?…`.
pub(crate) fn list(state: &State, req: &Incoming) -> Response {
    let query = req.query.as_deref();
    let param = |name: &str| util::query_param(query, name).filter(|v| !v.is_empty());
    let (dates, paging) = match window(query) {
        Ok(window) => window,
        Err(refusal) => return *refusal,
    };
    let sort_by = param("sortBy").unwrap_or_else(|| "createdAt".to_owned());
    let status = param("status");
    let currency = param("collectedCurrency");
    let channel = param("channel");
    let reference = param("orderReference");
    let client_id = param("clientId");
    let mut matching: Vec<&ClickpesaPayment> = state
        .payments
        .iter()
        .filter(|p| dates.cover(&p.created_at))
        .filter(|p| status.as_deref().is_none_or(|s| status_word(p.state) == s))
        .filter(|p| currency.as_deref().is_none_or(|c| p.currency == c))
        .filter(|p| channel.as_deref().is_none_or(|c| p.channel == c))
        .filter(|p| reference.as_deref().is_none_or(|r| p.order_reference == r))
        .filter(|_| {
            client_id
                .as_deref()
                .is_none_or(|c| c == state.config.clickpesa_client_id)
        })
        .collect();
    let compare = |a: &&ClickpesaPayment, b: &&ClickpesaPayment| -> Ordering {
        match sort_by.as_str() {
            "updatedAt" => a.updated_at.cmp(&b.updated_at),
            "orderReference" => a.order_reference.cmp(&b.order_reference),
            "collectedAmount" => amount_of(a).cmp(&amount_of(b)),
            _ => a.created_at.cmp(&b.created_at),
        }
    };
    // Stable: payments created in the same millisecond keep their order.
    matching.sort_by(compare);
    if paging.descending {
        matching.reverse();
    }
    let total = matching.len();
    let data: Vec<_> = matching
        .into_iter()
        .skip(paging.skip)
        .take(paging.limit)
        .map(|payment| item(state, payment))
        .collect();
    json_response(StatusCode::OK, &json!({"data": data, "totalCount": total}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked() {
        assert!(is_date("2026-01-31"));
        assert!(!is_date("2026-1-31"));
        assert!(!is_date("31-01-2026"));
    }
}
