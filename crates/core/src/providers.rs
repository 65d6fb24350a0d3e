//! One module per provider: `<name>.rs` says what FinConnect calls and how it
//! reads the answers; `<name>/wire.rs` holds the provider's JSON shapes.
//! Nothing here does I/O: requests are built as data, replies parsed from data.

pub mod clickpesa;
pub mod pesapal;

use crate::domain::Provider;
use crate::error::Error;
use crate::secret::Secret;
use crate::transport::{HttpRequest, HttpResponse, USER_AGENT};

/// A provider token, kept secret. For ClickPesa it already carries the
/// `Bearer ` prefix and is sent as it came.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The token text.
    pub value: Secret,
    /// The provider's stated expiry, as it wrote it (PesaPal `expiryDate`).
    pub expires: Option<String>,
}

/// Starts a request with the headers every provider call carries.
fn request(method: http::Method, url: &str) -> http::request::Builder {
    http::Request::builder()
        .method(method)
        .uri(url)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, USER_AGENT)
}

/// Finishes a request; a failure means FinConnect built a bad URL or header
/// (e.g. a base URL http rejects), reported against `variable`.
fn finish(
    builder: http::request::Builder,
    body: Vec<u8>,
    variable: &str,
) -> Result<HttpRequest, Error> {
    builder
        .body(body)
        .map_err(|_| Error::config(variable, "does not make a valid request URL or header"))
}

/// A description of a reply that is not JSON, without echoing its body.
fn describe_unreadable(response: &HttpResponse) -> String {
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    format!(
        "unreadable reply: HTTP {} with {} bytes of {}",
        response.status().as_u16(),
        response.body().len(),
        content_type
    )
}

/// Parses a reply body into a [`crate::json::Value`], or says why it is unreadable.
fn json_tree(provider: Provider, response: &HttpResponse) -> Result<crate::json::Value, Error> {
    crate::json::Value::parse(response.body()).map_err(|_| {
        Error::unexpected(
            provider,
            response.status().as_u16(),
            describe_unreadable(response),
        )
    })
}

/// An amount the provider reported (a JSON number or a numeric string), read
/// from its exact text and rendered with two decimals.
fn reported_amount_of(value: Option<&crate::json::Value>) -> Option<String> {
    let text = value?.lenient_text()?;
    crate::money::Amount::parse_reported(text.trim())
        .map(crate::money::Amount::fixed2_from_hundredths)
}



