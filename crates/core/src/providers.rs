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
use serde::de::{self, DeserializeOwned, MapAccess, Visitor, value::MapDeserializer};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

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

/// A `Loose` member is read from the raw JSON text [`read_json_object`]
/// hands over for it (see [`RawText`]); nothing else deserialises one.
impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl Visitor<'_> for RawVisitor {
            type Value = Loose;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the raw JSON text of a value")
            }
            fn visit_str<E: de::Error>(self, raw: &str) -> Result<Loose, E> {
                // Checked to be one JSON value without copying it; only
                // what is kept is copied.
                serde_json::from_str::<&RawValue>(raw)
                    .map(Loose::of)
                    .map_err(E::custom)
            }
        }
        deserializer.deserialize_str(RawVisitor)
    }
}

/// The members of a JSON object in the order they came, values still as
/// their raw text (a name given twice appears twice). A name without
/// escapes is borrowed from the text, not copied.
pub(crate) struct Members<'a>(pub(crate) Vec<(Cow<'a, str>, &'a RawValue)>);

/// A member's name as serde_json hands it over: borrowed from the text
/// when it has no escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(name)))
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(name.to_owned())))
            }
            fn visit_string<E: de::Error>(self, name: String) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(name)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some((Name(key), value)) = map.next_entry::<Name<'de>, &'de RawValue>()? {
                    members.push((key, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

impl<'a> Members<'a> {
    /// The members of the JSON object `text`.
    pub(crate) fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The first name the object repeats.
    pub(crate) fn first_repeat(&self) -> Option<&str> {
        let names = self.0.iter().map(|(name, _)| name.as_ref());
        // The objects FinConnect reads have a few members: comparing each
        // with those before it allocates nothing. A long one (a body may
        // hold thousands) gets a set, so the check stays O(n log n).
        if self.0.len() <= 16 {
            return names
                .enumerate()
                .find(|&(at, name)| self.0[..at].iter().any(|(seen, _)| seen == name))
                .map(|(_, name)| name);
        }
        let mut seen = std::collections::BTreeSet::new();
        names.into_iter().find(|name| !seen.insert(*name))
    }

    /// The object read as the wire struct `T`, whose members are [`Loose`]
    /// (or `Option`s of it): serde's `MapDeserializer` over the members,
    /// so serde_json's parser is compiled once ([`Members`]) instead of once
    /// per wire struct. A member `T` names twice is refused (`duplicate
    /// field`), as serde's derive does.
    pub(crate) fn read<T: DeserializeOwned>(&self) -> Result<T, de::value::Error> {
        T::deserialize(MapDeserializer::new(
            self.0
                .iter()
                .map(|(name, value)| (name.as_ref(), RawText(value.get()))),
        ))
    }
}

/// Reads the JSON object `text` as the wire struct `T` (see [`Members::read`]).
pub(crate) fn read_json_object<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let members = Members::parse(text).map_err(|error| error.to_string())?;
    members.read().map_err(|error| error.to_string())
}

/// The items of the JSON array `text`, each as a [`Loose`].
pub(crate) fn read_json_array(text: &str) -> Option<Vec<Loose>> {
    let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
    Some(items.into_iter().map(Loose::of).collect())
}

/// The raw JSON text of one member, as a deserializer: an optional member
/// is `None` when the text is `null`; anything else is handed over as the
/// text itself, which only [`Loose`] (and serde's `IgnoredAny`) read.
#[derive(Clone, Copy)]
struct RawText<'a>(&'a str);

impl<'de> de::IntoDeserializer<'de, de::value::Error> for RawText<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for RawText<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.0 == "null" {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl Loose {
    /// Classifies a JSON value by its first byte (serde_json has checked it),
    /// copying only what is kept: a string unescaped, a number's text, a
    /// container's text.
    pub(crate) fn of(raw: &RawValue) -> Self {
        match raw.get().as_bytes().first() {
            Some(b'{') => Loose::Object(raw.to_owned()),
            Some(b'[') => Loose::Array(raw.to_owned()),
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
        .and_then(|text| serde_json::from_str::<&RawValue>(text).ok())
        .map(Loose::of)
        .ok_or_else(|| Error::unexpected(provider, response.status, describe_unreadable(response)))
}

/// The members of a reply that should be a JSON object, read in one pass
/// over the body (the values stay raw text, checked as JSON). `Ok(Err(_))`:
/// the body is JSON, but not an object; it comes back read by
/// [`json_reply`], for the caller to say what it is. Only such a body is
/// read a second time.
fn object_members(
    provider: Provider,
    response: &HttpResponse,
) -> Result<Result<Members<'_>, Loose>, Error> {
    let parsed = std::str::from_utf8(&response.body).map(Members::parse);
    let error = match parsed {
        Ok(Ok(members)) => return Ok(Ok(members)),
        Ok(Err(error)) => Some(error),
        Err(_) => None,
    };
    match (json_reply(provider, response)?, error) {
        // An object read whole whose members could not be read: both read
        // the same text, so this would take a limit one of them has and
        // the other not; it is refused with the members' error.
        (Loose::Object(_), Some(error)) => Err(shape_error(provider, response.status, &error)),
        (other, _) => Ok(Err(other)),
    }
}

/// Reads a reply object as the wire struct `T`. Every member of a wire reply
/// struct is an optional [`Loose`] (or reads like one), so this fails only
/// for a member the provider wrote twice.
fn read_object<T: serde::de::DeserializeOwned>(
    provider: Provider,
    status: u16,
    object: &RawValue,
) -> Result<T, Error> {
    read_members(provider, status, &reply_members(provider, status, object)?)
}

/// The members of a reply object, parsed once for several reads of it
/// ([`read_members`]).
fn reply_members(provider: Provider, status: u16, object: &RawValue) -> Result<Members<'_>, Error> {
    Members::parse(object.get()).map_err(|error| shape_error(provider, status, &error))
}

/// [`read_object`] over members already parsed.
fn read_members<T: serde::de::DeserializeOwned>(
    provider: Provider,
    status: u16,
    members: &Members<'_>,
) -> Result<T, Error> {
    members
        .read()
        .map_err(|error| shape_error(provider, status, &error))
}

fn shape_error(provider: Provider, status: u16, error: &dyn fmt::Display) -> Error {
    Error::unexpected(
        provider,
        status,
        format!("reply did not have the documented shape: {error}"),
    )
}

/// An amount the provider reported (a JSON number or a numeric string), read
/// from its exact text and rendered with two decimals.
fn reported_amount_of(value: Option<&Loose>) -> Option<String> {
    let text = value?.text()?;
    crate::money::Amount::parse_reported(text.trim())
        .map(crate::money::Amount::fixed2_from_hundredths)
}
