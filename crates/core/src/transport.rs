//! The seam between pure provider logic and whoever does the I/O.
//!
//! Requests and replies are plain data: no HTTP library is needed to build
//! or read them, so the component carries none.

use std::fmt;

/// The HTTP methods FinConnect sends to providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PATCH` (ClickPesa BillPay updates).
    Patch,
}

impl Method {
    /// The method as it goes on the wire (`"GET"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outbound request, built as data.
///
/// Its `Debug` shows header values only for headers that never carry a
/// credential, and the body only by its length.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL: scheme, authority, path and query.
    pub url: String,
    /// Headers in the order they are sent; names in lower case.
    pub headers: Vec<(&'static str, String)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header; `name` must be in lower case.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The first value of header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        first_value(&self.headers, name)
    }

    /// Whether a host can send this request as it is: the URL splits into
    /// [`UrlParts`] and every header value is a valid field value.
    pub fn is_sendable(&self) -> bool {
        split_url(&self.url).is_some()
            && self.headers.iter().all(|(_, value)| is_field_value(value))
    }
}

#[cfg(test)]
impl HttpRequest {
    /// The URL's path, without the query (tests compare what was called).
    pub(crate) fn path(&self) -> &str {
        let target = split_url(&self.url).map_or("", |parts| parts.path_with_query);
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The URL's query, if it has one.
    pub(crate) fn query(&self) -> Option<&str> {
        split_url(&self.url)?
            .path_with_query
            .split_once('?')
            .map(|(_, query)| query)
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method.as_str())
            .field("url", &self.url)
            .field("headers", &Redacted(&self.headers))
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// An HTTP response as data: a provider's reply to FinConnect, or
/// FinConnect's own answer from [`crate::api`].
///
/// Its `Debug` shows the body only by its length (a token reply carries
/// the token).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers in the order they came or go.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response without headers.
    pub fn new(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first value of header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        first_value(&self.headers, name)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &Redacted(&self.headers))
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// The body length a message declares: its one `Content-Length`, when that
/// is a plain decimal number (none, several, or anything else: `None`).
/// A reader holding this many bytes can stop without asking for more to
/// learn that the body has ended, which in a component is a call into the
/// host.
pub fn declared_length<N: AsRef<str>>(headers: &[(N, String)]) -> Option<usize> {
    let mut lengths = headers
        .iter()
        .filter(|(name, _)| name.as_ref().eq_ignore_ascii_case("content-length"));
    let (_, value) = lengths.next()?;
    if lengths.next().is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The first value of `name` among `headers`, names compared without
/// regard to case.
fn first_value<'a, N: AsRef<str>>(headers: &'a [(N, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(candidate, _)| candidate.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Headers whose values are shown in `Debug` output; any other value (an
/// `authorization`, ClickPesa's `client-id` and `api-key`, ...) is hidden.
const SHOWN_HEADERS: [&str; 5] = [
    "accept",
    "content-length",
    "content-type",
    "location",
    "user-agent",
];

/// `Debug` for a header list: values of [`SHOWN_HEADERS`] in full, every
/// other value hidden.
pub(crate) struct Redacted<'a, N>(pub(crate) &'a [(N, String)]);

impl<N: AsRef<str>> fmt::Debug for Redacted<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in self.0 {
            let name = name.as_ref();
            let shown = SHOWN_HEADERS
                .iter()
                .any(|safe| safe.eq_ignore_ascii_case(name));
            let value = if shown { value.as_str() } else { "<hidden>" };
            list.entry(&(name, value));
        }
        list.finish()
    }
}

/// A header value as text: `Some` when it holds only visible ASCII, spaces
/// and tabs, `None` otherwise. Values from outside are read through this, so
/// odd bytes count as unreadable rather than as text.
pub fn header_text(value: &str) -> Option<&str> {
    value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        .then_some(value)
}

/// Whether `value` may be sent as a header value: no control characters
/// other than tab (a line break would split the header).
pub fn is_field_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// An absolute URL cut into the pieces `wasi:http` takes one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `true` for `https`, `false` for `http`.
    pub https: bool,
    /// Host, with a port when the URL has one (`127.0.0.1:9`).
    pub authority: &'a str,
    /// Path and query; `/` when the URL has no path.
    pub path_with_query: &'a str,
}

/// Splits an absolute `http://` or `https://` URL. `None` for anything a
/// host could not send: another scheme, no host, a fragment, or a character
/// that is not allowed where it stands (spaces, control characters, ...).
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (https, rest) = match url.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, url.strip_prefix("http://")?),
    };
    // Byte searches: these characters are ASCII, and a byte loop is far
    // less WebAssembly per character than a `char` pattern's searcher.
    let end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path_with_query) = rest.split_at(end);
    if !is_authority(authority) || !is_path_with_query(path_with_query) {
        return None;
    }
    Some(UrlParts {
        https,
        authority,
        path_with_query: if path_with_query.is_empty() {
            "/"
        } else {
            path_with_query
        },
    })
}

/// `[userinfo@]host[:port]` in the characters RFC 3986 allows there: a
/// non-empty host (a name, an IPv4 address, or an IPv6 address in brackets)
/// and a port of digits only.
fn is_authority(authority: &str) -> bool {
    // `b'$'..=b'.'` is `$%&'()*+,-.`; a `match` rather than a search of a
    // byte string, which costs a loop per byte in WebAssembly.
    let allowed = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'$'..=b'.' | b':' | b';' | b'=' | b'@' | b'[' | b']' | b'_' | b'~'
            )
    };
    if !authority.bytes().all(allowed) {
        return false;
    }
    // Byte positions throughout: every byte is ASCII by now, and `char`
    // patterns cost a searcher each in WebAssembly.
    let host_port = match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    // The port follows the last `:` after any bracketed IPv6 address.
    let (host, port) = match host_port.bytes().rposition(|b| b == b':') {
        Some(colon) if !host_port.as_bytes()[colon..].contains(&b']') => {
            (&host_port[..colon], &host_port[colon + 1..])
        }
        _ => (host_port, ""),
    };
    let bytes = host.as_bytes();
    let ipv6 = bytes.len() > 2
        && bytes[0] == b'['
        && bytes[bytes.len() - 1] == b']'
        && !bytes[1..bytes.len() - 1]
            .iter()
            .any(|&b| matches!(b, b'[' | b']'));
    let name = !bytes.is_empty()
        && !bytes
            .iter()
            .any(|&b| matches!(b, b'[' | b']' | b':' | b'%'));
    (ipv6 || name) && port.bytes().all(|b| b.is_ascii_digit())
}

/// An absolute path and an optional query, no fragment: empty, or starting
/// with `/`, in the characters a request line carries (non-ASCII text
/// included, as hosts accept it).
fn is_path_with_query(text: &str) -> bool {
    if !(text.is_empty() || text.starts_with('/')) {
        return false;
    }
    let (path, query) = match text.bytes().position(|b| b == b'?') {
        Some(mark) => (&text[..mark], &text[mark + 1..]),
        None => (text, ""),
    };
    let path_byte = |b: u8| {
        matches!(b, b'!' | b'"' | b'$'..=b';' | b'=' | b'@'..=b'_' | b'a'..=b'~') || b >= 0x80
    };
    let query_byte = |b: u8| matches!(b, b'!' | b'$'..=b';' | b'=' | b'?'..=b'~') || b >= 0x80;
    path.bytes().all(path_byte) && query.bytes().all(query_byte)
}

/// Sends one HTTP request. The component implements it with
/// `wasi:http/outgoing-handler`; tests implement it with a script.
pub trait Transport {
    /// Sends `request` and returns the whole reply.
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (**self).send(request)
    }
}

/// Why a request got no reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A deadline passed (connect, first byte, or between bytes).
    #[error("timed out: {0}")]
    Timeout(String),
    /// Anything else: refused, reset, DNS, TLS, denied by the host.
    #[error("{0}")]
    Failed(String),
}

/// The `User-Agent` FinConnect sends.
pub const USER_AGENT: &str = concat!("finconnect/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
pub(crate) mod scripted;
#[cfg(test)]
mod tests;
