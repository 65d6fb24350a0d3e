//! ClickPesa's own list of collections: `GET /payments/all` with its
//! filters (`startDate`, `endDate`, `status`, `collectedCurrency`,
//! `channel`, `orderReference`, `sortBy`, `orderBy`) and paging (`skip`,
//! `limit`), answered as `{"data": [payment…], "totalCount": n}`.

use super::wire::ClickpesaPayment;
use super::{ClickpesaConfig, ClickpesaStatus, PROVIDER, check_status, details_of};
use super::{not_as_documented, object_reply, validate_reference};
use crate::config::names;
use crate::domain::{ProviderPaymentPage, ProviderPaymentQuery, SortOrder};
use crate::error::{Error, Result};
use crate::providers::{AccessToken, Loose, finish, read_json_array, read_object};
use crate::providers::{request, text_of};
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::validate;
use serde::Deserialize;

/// The largest page asked for (ClickPesa documents a default of 20 and no
/// maximum; FinConnect keeps pages bounded).
const MAX_LIMIT: u64 = 100;
/// The largest `skip` sent.
const MAX_SKIP: u64 = 1_000_000_000;

/// A checked listing query: the query parameters, in the order sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery(Vec<(&'static str, String)>);

/// `YYYY-MM-DD` with a plausible month and day.
fn date(text: &str, field: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    let number = |range: std::ops::Range<usize>| text.get(range).and_then(|s| s.parse::<u8>().ok());
    let valid = shaped
        && number(5..7).is_some_and(|m| (1..=12).contains(&m))
        && number(8..10).is_some_and(|d| (1..=31).contains(&d));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(Error::invalid(field, "must be a date as YYYY-MM-DD"))
    }
}

/// A name ClickPesa takes as it is (`channel`, `sortBy`): letters, digits,
/// `-`, `_`, `.` and spaces, 1 to 50 characters.
fn name(text: &str, field: &str) -> Result<String> {
    let valid = (1..=50).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b' '));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(Error::invalid(
            field,
            "must be 1 to 50 letters, digits, '-', '_', '.' or spaces",
        ))
    }
}

/// Checks a listing query; nothing is sent if this fails.
pub fn validate_list(query: &ProviderPaymentQuery) -> Result<ListQuery> {
    let mut params = Vec::new();
    if let Some(start) = &query.start_date {
        params.push(("startDate", date(start, "start_date")?));
    }
    if let Some(end) = &query.end_date {
        params.push(("endDate", date(end, "end_date")?));
    }
    if let (Some(start), Some(end)) = (&query.start_date, &query.end_date)
        && start > end
    {
        return Err(Error::invalid("end_date", "must not be before start_date"));
    }
    if let Some(status) = &query.status {
        let known = ClickpesaStatus::parse(status).is_some() && !status.trim().is_empty();
        if !known {
            return Err(Error::invalid(
                "status",
                "must be one of ClickPesa's statuses: SUCCESS, SETTLED, PROCESSING, PENDING, \
                 FAILED, ON-HOLD, REFUNDED, REVERSED",
            ));
        }
        params.push(("status", status.trim().to_ascii_uppercase()));
    }
    if let Some(currency) = &query.currency {
        validate::currency(currency).map_err(|r| Error::invalid("currency", r))?;
        params.push(("collectedCurrency", currency.clone()));
    }
    if let Some(channel) = &query.channel {
        params.push(("channel", name(channel, "channel")?));
    }
    if let Some(reference) = &query.reference {
        validate_reference(reference, "reference")?;
        params.push(("orderReference", reference.clone()));
    }
    if let Some(sort_by) = &query.sort_by {
        params.push(("sortBy", name(sort_by, "sort_by")?));
    }
    if let Some(order) = query.order {
        let word = match order {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        };
        params.push(("orderBy", word.to_owned()));
    }
    if let Some(skip) = query.skip {
        if skip > MAX_SKIP {
            return Err(Error::invalid(
                "skip",
                format!("must be at most {MAX_SKIP}"),
            ));
        }
        params.push(("skip", skip.to_string()));
    }
    if let Some(limit) = query.limit {
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_LIMIT}")));
        }
        params.push(("limit", limit.to_string()));
    }
    Ok(ListQuery(params))
}

/// `GET {base}/payments/all?…` with the token verbatim.
pub fn list_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    query: &ListQuery,
) -> Result<HttpRequest> {
    let mut path = "/payments/all".to_owned();
    if !query.0.is_empty() {
        let mut encoded = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &query.0 {
            encoded.append_pair(name, value);
        }
        path.push('?');
        path.push_str(&encoded.finish());
    }
    finish(
        request(Method::Get, config.url(&path)).with_header("authorization", token.value.expose()),
        names::CLICKPESA_BASE_URL,
    )
}

/// The listing reply.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListReply {
    data: Option<Loose>,
    total_count: Option<Loose>,
}

/// Reads the listing reply: every row as a status query reports a payment.
pub fn parse_list(response: &HttpResponse) -> Result<ProviderPaymentPage> {
    check_status(response)?;
    let reply: ListReply = object_reply(response)?;
    let items = match &reply.data {
        Some(Loose::Array(items)) => read_json_array(items.get()),
        _ => None,
    }
    .ok_or_else(|| not_as_documented(response, "`data` is not an array"))?;
    let payments = items
        .iter()
        .map(|item| match item {
            Loose::Object(object) => {
                read_object::<ClickpesaPayment>(PROVIDER, response.status, object).map(details_of)
            }
            _ => Err(not_as_documented(response, "a `data` row is not an object")),
        })
        .collect::<Result<Vec<_>>>()?;
    let total_count = text_of(reply.total_count.as_ref())
        .and_then(|count| count.trim().parse::<u64>().ok())
        .ok_or_else(|| not_as_documented(response, "`totalCount` is not a whole number"))?;
    Ok(ProviderPaymentPage {
        provider: PROVIDER,
        payments,
        total_count,
    })
}

#[cfg(test)]
#[path = "tests_listing.rs"]
mod tests;
