//! ClickPesa account reads (spec notes §5.4, §5.6): the payout listing
//! (`GET /payouts/all`), the account statement (`GET /account/statement`)
//! and exchange rates (`GET /exchange-rates/all`). Requests as data,
//! replies read from data; amounts read exactly, rates kept as written.

use super::payouts::payout_of;
use super::payouts_wire::PayoutReply;
use super::{ClickpesaConfig, check_status, not_as_documented, object_reply};
use crate::config::names;
use crate::connector::{BoxedCall, Exchange};
use crate::domain::Provider;
use crate::error::{Error, Result};
use crate::payouts::{ExchangeRate, PayoutPage, Statement, StatementEntry};
use crate::providers::{
    AccessToken, Loose, finish, json_reply, read_json_array, read_json_object, read_object,
    reported_amount_of, request, text_of,
};
use crate::transport::{HttpRequest, HttpResponse, Method};
use serde::Deserialize;

const PROVIDER: Provider = Provider::Clickpesa;

/// Filters of the payout listing, each checked before anything is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayoutFilter {
    /// `YYYY-MM-DD`.
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub end_date: Option<String>,
    /// `AUTHORIZED`, `SUCCESS`, `REVERSED`, …
    pub status: Option<String>,
    /// `TZS` or `USD`.
    pub currency: Option<String>,
    /// Rows to skip.
    pub skip: Option<u32>,
    /// At most this many rows.
    pub limit: Option<u32>,
}

fn check_date(value: &str, field: &str) -> Result<()> {
    let b = value.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(field, "must be a date as YYYY-MM-DD"))
    }
}

fn check_currency(value: &str, field: &str) -> Result<()> {
    if matches!(value, "TZS" | "USD") {
        Ok(())
    } else {
        Err(Error::invalid(field, "must be TZS or USD"))
    }
}

fn check_word(value: &str, field: &str) -> Result<()> {
    if (1..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be an upper-case ClickPesa status such as SUCCESS",
        ))
    }
}

/// Checks a listing filter.
pub fn check_filter(filter: &PayoutFilter) -> Result<()> {
    if let Some(date) = &filter.start_date {
        check_date(date, "start_date")?;
    }
    if let Some(date) = &filter.end_date {
        check_date(date, "end_date")?;
    }
    if let Some(status) = &filter.status {
        check_word(status, "status")?;
    }
    if let Some(currency) = &filter.currency {
        check_currency(currency, "currency")?;
    }
    if filter.limit == Some(0) {
        return Err(Error::invalid("limit", "must be at least 1"));
    }
    Ok(())
}

/// `GET {base}{path}?{query}` with the token.
fn get(
    config: &ClickpesaConfig,
    token: &AccessToken,
    path: &str,
    query: &[(&str, String)],
) -> Result<HttpRequest> {
    let query: Vec<String> = query
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let url = if query.is_empty() {
        config.url(path)
    } else {
        format!("{}?{}", config.url(path), query.join("&"))
    };
    finish(
        request(Method::Get, url).with_header("authorization", token.value.expose()),
        names::CLICKPESA_BASE_URL,
    )
}

/// `GET {base}/payouts/all` with the filter (values already checked, so
/// they need no escaping).
pub fn payouts_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    filter: &PayoutFilter,
) -> Result<HttpRequest> {
    check_filter(filter)?;
    let mut query = Vec::new();
    let text = [
        ("startDate", &filter.start_date),
        ("endDate", &filter.end_date),
        ("status", &filter.status),
        ("currency", &filter.currency),
    ];
    for (name, value) in text {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    if let Some(skip) = filter.skip {
        query.push(("skip", skip.to_string()));
    }
    if let Some(limit) = filter.limit {
        query.push(("limit", limit.to_string()));
    }
    get(config, token, "/payouts/all", &query)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageReply {
    data: Option<Loose>,
    total_count: Option<Loose>,
}

/// Reads the listing: `{data: [payout], totalCount}`.
pub fn parse_payouts(response: &HttpResponse) -> Result<PayoutPage> {
    check_status(response)?;
    let reply: PageReply = object_reply(response)?;
    let Some(Loose::Array(rows)) = reply.data else {
        return Err(not_as_documented(response, "`data` is not an array"));
    };
    let payouts = read_json_array(rows.get())
        .unwrap_or_default()
        .iter()
        .map(|row| match row {
            Loose::Object(row) => {
                read_object::<PayoutReply>(PROVIDER, response.status, row).map(payout_of)
            }
            _ => Err(not_as_documented(
                response,
                "a row of `data` is not an object",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let total_count = text_of(reply.total_count.as_ref()).and_then(|text| text.parse().ok());
    Ok(PayoutPage {
        payouts,
        total_count,
    })
}

/// Checks a statement query before anything is sent.
pub fn check_statement(
    currency: &str,
    start_date: Option<&str>,
    end_date: Option<&str>,
) -> Result<()> {
    check_currency(currency, "currency")?;
    if let Some(date) = start_date {
        check_date(date, "start_date")?;
    }
    if let Some(date) = end_date {
        check_date(date, "end_date")?;
    }
    Ok(())
}

/// Checks an exchange-rate query before anything is sent.
pub fn check_rates(source: Option<&str>, target: Option<&str>) -> Result<()> {
    for (name, value) in [("source", source), ("target", target)] {
        if let Some(code) = value
            && (code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(Error::invalid(name, "must be a three-letter currency code"));
        }
    }
    Ok(())
}

/// `GET {base}/account/statement?currency=…`.
pub fn statement_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    currency: &str,
    start_date: Option<&str>,
    end_date: Option<&str>,
) -> Result<HttpRequest> {
    check_statement(currency, start_date, end_date)?;
    let mut query = vec![("currency", currency.to_owned())];
    if let Some(date) = start_date {
        query.push(("startDate", date.to_owned()));
    }
    if let Some(date) = end_date {
        query.push(("endDate", date.to_owned()));
    }
    get(config, token, "/account/statement", &query)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatementReply {
    account_details: Option<Loose>,
    transactions: Option<Loose>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountDetails {
    currency: Option<Loose>,
    opening_balance: Option<Loose>,
    closing_balance: Option<Loose>,
    total_credits: Option<Loose>,
    total_debits: Option<Loose>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransactionRow {
    id: Option<Loose>,
    date: Option<Loose>,
    description: Option<Loose>,
    entry: Option<Loose>,
    amount: Option<Loose>,
    currency: Option<Loose>,
    balance: Option<Loose>,
    order_reference: Option<Loose>,
    #[serde(rename = "type")]
    kind: Option<Loose>,
}

fn not_blank(value: Option<&Loose>) -> Option<String> {
    text_of(value).filter(|text| !text.trim().is_empty())
}

/// Reads the statement.
pub fn parse_statement(response: &HttpResponse) -> Result<Statement> {
    check_status(response)?;
    let reply: StatementReply = object_reply(response)?;
    let details: Option<AccountDetails> = match &reply.account_details {
        Some(Loose::Object(raw)) => read_json_object(raw.get()).ok(),
        _ => None,
    };
    let rows = match &reply.transactions {
        Some(Loose::Array(rows)) => read_json_array(rows.get()).unwrap_or_default(),
        None => Vec::new(),
        Some(_) => {
            return Err(not_as_documented(
                response,
                "`transactions` is not an array",
            ));
        }
    };
    let transactions = rows
        .iter()
        .map(|row| match row {
            Loose::Object(row) => {
                let row: TransactionRow = read_object(PROVIDER, response.status, row)?;
                Ok(StatementEntry {
                    id: not_blank(row.id.as_ref()),
                    date: not_blank(row.date.as_ref()),
                    description: not_blank(row.description.as_ref()),
                    entry: not_blank(row.entry.as_ref()),
                    amount: reported_amount_of(row.amount.as_ref()),
                    currency: not_blank(row.currency.as_ref()),
                    balance: reported_amount_of(row.balance.as_ref()),
                    order_reference: not_blank(row.order_reference.as_ref()),
                    kind: not_blank(row.kind.as_ref()),
                })
            }
            _ => Err(not_as_documented(
                response,
                "a transaction is not an object",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let details = details.as_ref();
    Ok(Statement {
        currency: details.and_then(|d| not_blank(d.currency.as_ref())),
        opening_balance: details.and_then(|d| reported_amount_of(d.opening_balance.as_ref())),
        closing_balance: details.and_then(|d| reported_amount_of(d.closing_balance.as_ref())),
        total_credits: details.and_then(|d| reported_amount_of(d.total_credits.as_ref())),
        total_debits: details.and_then(|d| reported_amount_of(d.total_debits.as_ref())),
        transactions,
    })
}

/// `GET {base}/exchange-rates/all` (`source`, `target` optional).
pub fn rates_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    source: Option<&str>,
    target: Option<&str>,
) -> Result<HttpRequest> {
    check_rates(source, target)?;
    let mut query = Vec::new();
    for (name, value) in [("source", source), ("target", target)] {
        if let Some(code) = value {
            query.push((name, code.to_owned()));
        }
    }
    get(config, token, "/exchange-rates/all", &query)
}

#[derive(Deserialize)]
struct RateRow {
    source: Option<Loose>,
    target: Option<Loose>,
    rate: Option<Loose>,
    date: Option<Loose>,
}

/// Reads the rates; a rate is kept as ClickPesa wrote it (a rate, not money).
pub fn parse_rates(response: &HttpResponse) -> Result<Vec<ExchangeRate>> {
    check_status(response)?;
    let Loose::Array(rows) = json_reply(PROVIDER, response)? else {
        return Err(not_as_documented(response, "it is not an array of rates"));
    };
    read_json_array(rows.get())
        .unwrap_or_default()
        .iter()
        .map(|row| match row {
            Loose::Object(row) => {
                let row: RateRow = read_object(PROVIDER, response.status, row)?;
                match (
                    not_blank(row.source.as_ref()),
                    not_blank(row.target.as_ref()),
                    not_blank(row.rate.as_ref()),
                ) {
                    (Some(source), Some(target), Some(rate)) => Ok(ExchangeRate {
                        source,
                        target,
                        rate,
                        date: not_blank(row.date.as_ref()),
                    }),
                    _ => Err(not_as_documented(
                        response,
                        "a rate lacks its source, target or rate",
                    )),
                }
            }
            _ => Err(not_as_documented(response, "a rate is not an object")),
        })
        .collect()
}

/// The payout listing, for the flow.
pub fn payouts_call(filter: PayoutFilter) -> BoxedCall<ClickpesaConfig, PayoutPage> {
    Exchange::boxed(filter, payouts_request, |reply, _| parse_payouts(reply))
}

/// The statement, for the flow: currency, start and end dates.
pub fn statement_call(
    currency: String,
    start: Option<String>,
    end: Option<String>,
) -> BoxedCall<ClickpesaConfig, Statement> {
    Exchange::boxed(
        (currency, start, end),
        |config, token, (currency, start, end)| {
            statement_request(config, token, currency, start.as_deref(), end.as_deref())
        },
        |reply, _| parse_statement(reply),
    )
}

/// The exchange rates, for the flow: source and target.
pub fn rates_call(
    source: Option<String>,
    target: Option<String>,
) -> BoxedCall<ClickpesaConfig, Vec<ExchangeRate>> {
    Exchange::boxed(
        (source, target),
        |config, token, (source, target)| {
            rates_request(config, token, source.as_deref(), target.as_deref())
        },
        |reply, _| parse_rates(reply),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::clickpesa::{ApiKey, ClientId};
    use crate::secret::Secret;

    fn config() -> ClickpesaConfig {
        ClickpesaConfig {
            base_url: "https://api.clickpesa.com/third-parties".to_owned(),
            client_id: ClientId(Secret::new("c")),
            api_key: ApiKey(Secret::new("k")),
            checksum_key: None,
        }
    }

    fn token() -> AccessToken {
        AccessToken {
            value: Secret::new("Bearer t"),
            expires: None,
        }
    }

    fn reply(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, body.as_bytes().to_vec())
            .with_header("content-type", "application/json")
    }

    #[test]
    fn the_listing_sends_its_filters_and_reads_the_page() {
        let filter = PayoutFilter {
            start_date: Some("2026-01-01".into()),
            status: Some("SUCCESS".into()),
            limit: Some(20),
            ..PayoutFilter::default()
        };
        let request =
            payouts_request(&config(), &token(), &filter).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            request.url,
            "https://api.clickpesa.com/third-parties/payouts/all?startDate=2026-01-01&status=SUCCESS&limit=20"
        );
        for (bad, field) in [
            (
                PayoutFilter {
                    start_date: Some("01/01/2026".into()),
                    ..PayoutFilter::default()
                },
                "start_date",
            ),
            (
                PayoutFilter {
                    status: Some("x&y".into()),
                    ..PayoutFilter::default()
                },
                "status",
            ),
            (
                PayoutFilter {
                    currency: Some("KES".into()),
                    ..PayoutFilter::default()
                },
                "currency",
            ),
            (
                PayoutFilter {
                    limit: Some(0),
                    ..PayoutFilter::default()
                },
                "limit",
            ),
        ] {
            assert!(
                matches!(payouts_request(&config(), &token(), &bad), Err(Error::InvalidRequest { field: f, .. }) if f == field)
            );
        }
        let page = parse_payouts(&reply(200, r#"{"data":[{"id":"A","orderReference":"P1","status":"SUCCESS","amount":"1047.10","settlementType":"ACH"}],"totalCount":41}"#))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(page.total_count, Some(41));
        assert_eq!(page.payouts[0].amount.as_deref(), Some("1047.10"));
        assert_eq!(page.payouts[0].transfer_type.as_deref(), Some("ACH"));
        assert!(matches!(
            parse_payouts(&reply(200, "[]")),
            Err(Error::UnreadableReply { .. })
        ));
    }

    #[test]
    fn the_statement_is_read_exactly() {
        let request = statement_request(&config(), &token(), "TZS", Some("2026-01-01"), None)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            request.url,
            "https://api.clickpesa.com/third-parties/account/statement?currency=TZS&startDate=2026-01-01"
        );
        assert!(matches!(
            statement_request(&config(), &token(), "KES", None, None),
            Err(Error::InvalidRequest { .. })
        ));
        let statement = parse_statement(&reply(200, r#"{"accountDetails":{"currency":"TZS","openingBalance":1000,"closingBalance":"2952.9","totalCredits":3000,"totalDebits":1047.1},
            "transactions":[{"id":"T1","date":"2026-01-02T00:00:00Z","description":"Payout","entry":"Debit","amount":1047.1,"currency":"TZS","balance":2952.9,"orderReference":"P1","type":"Payout"}]}"#))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(statement.closing_balance.as_deref(), Some("2952.90"));
        assert_eq!(statement.total_debits.as_deref(), Some("1047.10"));
        assert_eq!(statement.transactions[0].entry.as_deref(), Some("Debit"));
        assert_eq!(statement.transactions[0].kind.as_deref(), Some("Payout"));
        assert_eq!(statement.transactions[0].amount.as_deref(), Some("1047.10"));
        let refused = parse_statement(&reply(
            400,
            r#"{"message":"Invalid currency: currency must be either TZS or USD"}"#,
        ));
        assert!(matches!(refused, Err(Error::Provider(_))));
    }

    #[test]
    fn rates_keep_their_text() {
        let request = rates_request(&config(), &token(), Some("USD"), Some("TZS"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            request.url,
            "https://api.clickpesa.com/third-parties/exchange-rates/all?source=USD&target=TZS"
        );
        assert!(matches!(
            rates_request(&config(), &token(), Some("usd"), None),
            Err(Error::InvalidRequest { .. })
        ));
        let rates = parse_rates(&reply(
            200,
            r#"[{"source":"USD","target":"TZS","rate":2510.125,"date":"2025-08-19T06:58:34Z"}]"#,
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(rates[0].rate, "2510.125");
        assert_eq!(rates[0].date.as_deref(), Some("2025-08-19T06:58:34Z"));
    }
}
