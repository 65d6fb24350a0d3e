//! ClickPesa's payout listing (`GET /payouts/all`), account statement
//! (`GET /account/statement`) and exchange rates (`GET /exchange-rates/all`),
//! spec notes §5.4 and §5.6, answered from the payouts the sandbox made.
//!
//! The listing filters by `startDate`, `endDate` (`YYYY-MM-DD`), `status`,
//! `currency`, `channel`, `orderReference`, sorts by `createdAt` (`orderBy`
//! `ASC|DESC`, default `DESC`) and pages (`skip` ≥ 0, `limit` ≥ 1, default
//! 20) into `{"data": [...], "totalCount": n}`; rows name the rail
//! `settlementType`, as the query does.
//!
//! The statement of a currency lists each payout as a `Payout` debit and a
//! `Fee - Payout` debit, and a reversed or refunded one as a `Reversed
//! Payout` / `Refunded Payout` credit of both; the closing balance is the
//! current one, the opening balance what it was before those entries. A
//! currency other than TZS or USD is ClickPesa's documented 400.
//!
//! The rates are a fixed table (USD→TZS 2510, TZS→USD 0.000398),
//! filtered by `source` and `target`.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::{ClickpesaPayout, bad_request, number, payout_json};
use crate::clickpesa_listing::{dates, window};
use crate::pesapal::json_response;
use crate::server::Incoming;
use crate::state::State;
use crate::util;

/// The sandbox's exchange rates: source, target, rate (as ClickPesa
/// writes it, a JSON number).
const RATES: [(&str, &str, &str); 2] = [("USD", "TZS", "2510"), ("TZS", "USD", "0.000398")];

fn hundredths(text: &str) -> u64 {
    finconnect_core::money::Amount::parse_reported(text).unwrap_or(0)
}

/// `GET /payouts/all?…`.
pub(super) fn list(state: &State, req: &Incoming) -> Response {
    let query = req.query.as_deref();
    let param = |name: &str| util::query_param(query, name).filter(|v| !v.is_empty());
    let (dates, paging) = match window(query) {
        Ok(window) => window,
        Err(refusal) => return *refusal,
    };
    let (status, currency, channel, reference) = (
        param("status"),
        param("currency"),
        param("channel"),
        param("orderReference"),
    );
    let mut matching: Vec<&ClickpesaPayout> = state
        .payouts
        .payouts
        .iter()
        .filter(|p| dates.cover(&p.created_at))
        .filter(|p| status.as_deref().is_none_or(|s| p.status == s))
        .filter(|p| currency.as_deref().is_none_or(|c| p.currency == c))
        .filter(|p| channel.as_deref().is_none_or(|c| p.channel == c))
        .filter(|p| reference.as_deref().is_none_or(|r| p.order_reference == r))
        .collect();
    // Stable: payouts made in the same millisecond keep their order.
    matching.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    if paging.descending {
        matching.reverse();
    }
    let total = matching.len();
    let data: Vec<Value> = matching
        .into_iter()
        .skip(paging.skip)
        .take(paging.limit)
        .map(|payout| {
            let mut row = payout_json(payout, &state.config.clickpesa_client_id);
            if let Some(rail) = row
                .as_object_mut()
                .and_then(|row| row.remove("transferType"))
            {
                row["settlementType"] = rail;
            }
            row
        })
        .collect();
    json_response(StatusCode::OK, &json!({"data": data, "totalCount": total}))
}

/// `GET /account/statement?currency=…`.
pub(super) fn statement(state: &State, req: &Incoming) -> Response {
    let query = req.query.as_deref();
    let currency = match util::query_param(query, "currency").as_deref() {
        Some(c @ ("TZS" | "USD")) => c.to_owned(),
        _ => return bad_request("Invalid currency: currency must be either TZS or USD"),
    };
    let dates = match dates(query) {
        Ok(dates) => dates,
        Err(refusal) => return *refusal,
    };
    let closing = state.payouts.balances.get(&currency).copied().unwrap_or(0);
    // (entry, amount, type, payout), oldest first.
    let mut entries: Vec<(&str, u64, &str, &ClickpesaPayout)> = Vec::new();
    for payout in state
        .payouts
        .payouts
        .iter()
        .filter(|p| p.currency == currency && dates.cover(&p.created_at))
    {
        entries.push(("Debit", hundredths(&payout.order_amount), "Payout", payout));
        entries.push(("Debit", hundredths(&payout.fee), "Fee - Payout", payout));
        let returned = match payout.status.as_str() {
            "REVERSED" => Some("Reversed Payout"),
            "REFUNDED" => Some("Refunded Payout"),
            _ => None,
        };
        if let Some(kind) = returned {
            entries.push(("Credit", hundredths(&payout.amount), kind, payout));
        }
    }
    let credits: u64 = entries
        .iter()
        .filter(|e| e.0 == "Credit")
        .map(|e| e.1)
        .sum();
    let debits: u64 = entries.iter().filter(|e| e.0 == "Debit").map(|e| e.1).sum();
    let opening = (closing + debits).saturating_sub(credits);
    let mut running = opening;
    let transactions: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, (entry, amount, kind, payout))| {
            running = if *entry == "Credit" {
                running + amount
            } else {
                running.saturating_sub(*amount)
            };
            json!({
                "id": format!("{}TX{}", payout.id, i + 1),
                "date": if *entry == "Credit" { &payout.updated_at } else { &payout.created_at },
                "description": format!("{kind} {}", payout.order_reference),
                "entry": entry,
                "amount": number(*amount),
                "currency": currency,
                "balance": number(running),
                "orderReference": payout.order_reference,
                "type": kind,
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "accountDetails": {
                "currency": currency,
                "openingBalance": number(opening),
                "closingBalance": number(closing),
                "totalCredits": number(credits),
                "totalDebits": number(debits),
            },
            "transactions": transactions,
        }),
    )
}

/// `GET /exchange-rates/all?source=&target=`.
pub(super) fn rates(state: &State, req: &Incoming) -> Response {
    let query = req.query.as_deref();
    let param = |name: &str| util::query_param(query, name).filter(|v| !v.is_empty());
    let (source, target) = (param("source"), param("target"));
    let date = util::utc_millis(state.now());
    let rows: Vec<Value> = RATES
        .iter()
        .filter(|(s, t, _)| {
            source.as_deref().is_none_or(|x| x == *s) && target.as_deref().is_none_or(|x| x == *t)
        })
        .map(|(s, t, rate)| {
            let rate: Value = serde_json::from_str(rate).unwrap_or(Value::Null);
            json!({"source": s, "target": t, "rate": rate, "date": date})
        })
        .collect();
    json_response(StatusCode::OK, &Value::Array(rows))
}
