//! The seam between pure provider logic and whoever does the I/O.

/// An outbound request, built as data.
pub type HttpRequest = http::Request<Vec<u8>>;
/// A provider's reply, as data.
pub type HttpResponse = http::Response<Vec<u8>>;

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
