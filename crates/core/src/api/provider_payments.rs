//! `GET /provider-payments?provider=clickpesa&…`: one page of the
//! provider's own list of payments (ClickPesa `GET /payments/all`), whatever
//! the ledger holds. PesaPal and M-Pesa have no such call (`unsupported`).

use super::ledgered::{number, param, query_params};
use super::{Problem, Request, Response, details_json, json};
use crate::domain::{Provider, ProviderPaymentQuery, SortOrder};
use crate::flow::Finconnect;

/// The query parameters this route reads (others are refused, so a typo is
/// not silently an unfiltered list).
const KNOWN: [&str; 11] = [
    "provider",
    "start_date",
    "end_date",
    "status",
    "currency",
    "channel",
    "reference",
    "sort_by",
    "order",
    "skip",
    "limit",
];

/// `200 {"provider","data":[payment…],"total_count"}`.
pub(super) fn list(request: &Request, fc: &mut Finconnect<'_>) -> Result<Response, Problem> {
    let params = query_params(request)?;
    if let Some((name, _)) = params
        .iter()
        .find(|(name, _)| !KNOWN.contains(&name.as_str()))
    {
        return Err(Problem::invalid(
            422,
            name,
            &format!("is not a filter of this list; use {}", KNOWN.join(", ")),
        ));
    }
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
    let text = |name: &str| param(&params, name).map(str::to_owned);
    let order = match param(&params, "order") {
        None => None,
        Some("asc") => Some(SortOrder::Ascending),
        Some("desc") => Some(SortOrder::Descending),
        Some(_) => {
            return Err(Problem::invalid(422, "order", "must be `asc` or `desc`"));
        }
    };
    let query = ProviderPaymentQuery {
        start_date: text("start_date"),
        end_date: text("end_date"),
        status: text("status"),
        currency: text("currency"),
        channel: text("channel"),
        reference: text("reference"),
        sort_by: text("sort_by"),
        order,
        skip: number(&params, "skip", 0, u64::MAX)?,
        limit: number(&params, "limit", 0, u64::MAX)?,
    };
    let page = fc
        .list_provider_payments(provider, &query)
        .map_err(|e| Problem::from_error(&e))?;
    let data: Vec<_> = page.payments.iter().map(details_json).collect();
    Ok(json(
        200,
        &serde_json::json!({
            "provider": page.provider.as_str(),
            "data": data,
            "total_count": page.total_count,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_problem, body_json, merchant, run, vars};
    use serde_json::json;

    const CP_TOKEN: &str = r#"{"success":true,"token":"Bearer canary-token"}"#;

    #[test]
    fn the_list_is_a_page_of_details_with_the_total() {
        let (response, transport) = run(
            merchant(
                "GET",
                "/provider-payments?provider=clickpesa&status=success&order=asc&skip=20&limit=10",
                "",
            ),
            &vars(),
            vec![
                Ok((200, CP_TOKEN)),
                Ok((
                    200,
                    r#"{"data":[{"id":"O1LCP1","status":"SUCCESS","orderReference":"O1","collectedAmount":"1000","collectedCurrency":"TZS","channel":"TIGO-PESA"}],"totalCount":21}"#,
                )),
            ],
        );
        assert_eq!(response.status, 200, "{}", body_json(&response));
        assert_eq!(
            body_json(&response),
            json!({"provider": "clickpesa", "total_count": 21, "data": [{
                "provider": "clickpesa", "reference": "O1", "tracking_id": "O1LCP1",
                "status": "completed", "amount": "1000.00", "currency": "TZS",
                "method": "TIGO-PESA", "confirmation_code": null, "description": null,
            }]})
        );
        assert_eq!(
            transport.seen[1].url,
            "http://127.0.0.1:9/third-parties/payments/all?status=SUCCESS&orderBy=ASC&skip=20&limit=10"
        );
    }

    #[test]
    fn bad_queries_and_other_providers_send_nothing() {
        for (path, status, code, field) in [
            (
                "/provider-payments",
                422,
                "invalid_request",
                Some("provider"),
            ),
            (
                "/provider-payments?provider=clickpesa&limit=0",
                422,
                "invalid_request",
                Some("limit"),
            ),
            (
                "/provider-payments?provider=clickpesa&order=up",
                422,
                "invalid_request",
                Some("order"),
            ),
            (
                "/provider-payments?provider=clickpesa&stauts=FAILED",
                422,
                "invalid_request",
                Some("stauts"),
            ),
            (
                "/provider-payments?provider=clickpesa&start_date=01-01-2026",
                422,
                "invalid_request",
                Some("start_date"),
            ),
            (
                "/provider-payments?provider=pesapal",
                422,
                "unsupported",
                None,
            ),
            (
                "/provider-payments?provider=mpesa",
                422,
                "unsupported",
                None,
            ),
        ] {
            let (response, transport) = run(merchant("GET", path, ""), &vars(), vec![]);
            assert_problem(&response, status, code, field);
            assert!(transport.seen.is_empty(), "{path}");
        }
    }
}
