//! One module per provider: `<name>.rs` says what FinConnect calls and how it
//! reads the answers; `<name>/wire.rs` holds the provider's JSON shapes.
//! Nothing here does I/O: requests are built as data, replies parsed from data.

pub mod clickpesa;
pub mod mpesa;
pub mod pesapal;

use crate::domain::Provider;
use crate::error::Error;
use crate::secret::Secret;
use crate::transport::{HttpRequest, HttpResponse, Method, USER_AGENT, header_text};

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
fn request(method: Method, url: String) -> HttpRequest {
    HttpRequest::new(method, url)
        .with_header("accept", "application/json")
        .with_header("user-agent", USER_AGENT)
}

/// Finishes a request: refuses one no host could send (a URL or a header
/// value it cannot carry), reported against `variable`.
fn finish(request: HttpRequest, variable: &str) -> Result<HttpRequest, Error> {
    if request.is_sendable() {
        Ok(request)
    } else {
        Err(Error::config(
            variable,
            "does not make a valid request URL or header",
        ))
    }
}

/// A description of a reply that is not JSON, without echoing its body.
fn describe_unreadable(response: &HttpResponse) -> String {
    let content_type = response
        .header("content-type")
        .and_then(header_text)
        .unwrap_or("no content type");
    format!(
        "unreadable reply: HTTP {} with {} bytes of {}",
        response.status,
        response.body.len(),
        content_type
    )
}

/// Parses a reply body into a [`crate::json::Value`], or says why it is unreadable.
fn json_tree(provider: Provider, response: &HttpResponse) -> Result<crate::json::Value, Error> {
    crate::json::Value::parse(&response.body)
        .map_err(|_| Error::unexpected(provider, response.status, describe_unreadable(response)))
}

/// An amount the provider reported (a JSON number or a numeric string), read
/// from its exact text and rendered with two decimals.
fn reported_amount_of(value: Option<&crate::json::Value>) -> Option<String> {
    let text = value?.lenient_text()?;
    crate::money::Amount::parse_reported(text.trim())
        .map(crate::money::Amount::fixed2_from_hundredths)
}
