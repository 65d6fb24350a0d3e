//! One module per provider: `<name>.rs` says what FinConnect calls and how it
//! reads the answers; `<name>/wire.rs` holds the provider's JSON shapes.
//! Nothing here does I/O: requests are built as data, replies parsed from data.

pub mod clickpesa;
pub mod pesapal;

use crate::domain::Provider;
use crate::error::Error;
use crate::secret::Secret;
use crate::transport::{HttpRequest, HttpResponse, Method, USER_AGENT, header_text};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

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

/// A provider field as it came, read without failing whatever its type:
/// providers are loose about types (a code as a string one day, a number the
/// next), so a reply is never refused because one member has a surprising
/// type. Numbers keep their exact text; arrays and objects keep theirs, to be
/// read further when a field may hold one.
#[derive(Clone, Debug)]
pub(crate) enum Loose {
    /// `null` (a member that is `null` in a struct is `None` instead).
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as the exact text it was written with.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array, as its JSON text.
    Array(Box<RawValue>),
    /// An object, as its JSON text.
    Object(Box<RawValue>),
}

impl<'de> Deserialize<'de> for Loose {
    // Not inlined into every member of every wire struct: one copy per reader.
    #[inline(never)]
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Loose::from_raw(raw))
    }
}

impl Loose {
    /// Classifies a JSON value by its first byte (serde_json has checked it).
    #[inline(never)]
    pub(crate) fn from_raw(raw: Box<RawValue>) -> Self {
        match raw.get().as_bytes().first() {
            Some(b'{') => Loose::Object(raw),
            Some(b'[') => Loose::Array(raw),
            Some(b'"') => Loose::String(serde_json::from_str(raw.get()).unwrap_or_default()),
            Some(b't') => Loose::Bool(true),
            Some(b'f') => Loose::Bool(false),
            Some(b'n') | None => Loose::Null,
            Some(_) => Loose::Number(raw.get().to_owned()),
        }
    }

    /// A scalar as text: a string as it is, a number as written, a boolean
    /// as `true`/`false`; `None` for null, arrays and objects.
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Loose::String(text) | Loose::Number(text) => Some(text.clone()),
            Loose::Bool(flag) => Some(flag.to_string()),
            Loose::Null | Loose::Array(_) | Loose::Object(_) => None,
        }
    }

    /// The text of a string, `None` for anything else.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Loose::String(text) => Some(text),
            _ => None,
        }
    }

    /// What kind of JSON value this is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Loose::Null => "null",
            Loose::Bool(_) => "a boolean",
            Loose::Number(_) => "a number",
            Loose::String(_) => "a string",
            Loose::Array(_) => "an array",
            Loose::Object(_) => "an object",
        }
    }
}

/// The lenient text of an optional field (`None` when absent, null, or a container).
pub(crate) fn text_of(field: Option<&Loose>) -> Option<String> {
    field.and_then(Loose::text)
}

/// Parses a reply body as one JSON value, or says why it is unreadable.
fn json_reply(provider: Provider, response: &HttpResponse) -> Result<Loose, Error> {
    std::str::from_utf8(&response.body)
        .ok()
        .and_then(|text| serde_json::from_str::<Box<RawValue>>(text).ok())
        .map(Loose::from_raw)
        .ok_or_else(|| Error::unexpected(provider, response.status, describe_unreadable(response)))
}

/// Reads a reply object as the wire struct `T`. Every member of a wire reply
/// struct is an optional [`Loose`] (or reads like one), so this fails only
/// for a member the provider wrote twice.
fn read_object<T: serde::de::DeserializeOwned>(
    provider: Provider,
    status: u16,
    object: &RawValue,
) -> Result<T, Error> {
    serde_json::from_str(object.get()).map_err(|error| {
        Error::unexpected(
            provider,
            status,
            format!("reply did not have the documented shape: {error}"),
        )
    })
}

/// An amount the provider reported (a JSON number or a numeric string), read
/// from its exact text and rendered with two decimals.
fn reported_amount_of(value: Option<&Loose>) -> Option<String> {
    let text = value?.text()?;
    crate::money::Amount::parse_reported(text.trim())
        .map(crate::money::Amount::fixed2_from_hundredths)
}
