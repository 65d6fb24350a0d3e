//! Provider calls through `wasi:http/outgoing-handler`, blocking on WASI
//! pollables (the exports are synchronous, so no async runtime is needed).

use finconnect_core::config::{Timeouts, Variables};
use finconnect_core::transport::{
    self, HttpRequest, HttpResponse, Transport, TransportError, UrlParts,
};
use std::cell::OnceCell;
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::{OutputStream, StreamError};

/// A provider reply larger than this is refused rather than buffered.
const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// Every operation (token step and API call together) ends within this
/// budget, so FinConnect answers within 30 s even when a provider hangs.
const OPERATION_BUDGET_NS: u64 = 28_000_000_000;
/// Bytes written per call to the output stream.
const WRITE_CHUNK: usize = 4096;

/// Sends requests with the configured timeouts, within one budget per operation.
pub(super) struct WasiTransport<'v> {
    timeouts: Settings<'v>,
    /// When the budget ends: set by the first request, from the clock read
    /// it makes anyway (an operation that sends nothing reads no clock).
    deadline: Option<u64>,
}

/// The timeouts, or where the first request finds them: an operation that
/// sends nothing reads none.
enum Settings<'v> {
    /// Parsed by the provider call's check (`call_settings` in
    /// component.rs) into the cell, else read from the variables.
    Unread(&'v dyn Variables, &'v OnceCell<Timeouts>),
    Read(Timeouts),
}

impl<'v> WasiTransport<'v> {
    /// A transport whose timeouts are the variables'
    /// (`finconnect_connect_timeout_ms`, `finconnect_first_byte_timeout_ms`),
    /// taken from `checked` when the call's check parsed them already.
    pub(super) fn new(vars: &'v dyn Variables, checked: &'v OnceCell<Timeouts>) -> Self {
        Self {
            timeouts: Settings::Unread(vars, checked),
            deadline: None,
        }
    }

    /// A transport with fixed timeouts (webhook deliveries').
    pub(super) fn with_timeouts(timeouts: Timeouts) -> Self {
        Self {
            timeouts: Settings::Read(timeouts),
            deadline: None,
        }
    }

    /// The timeouts, read once. Every provider call has had them checked
    /// before its first request (`call_settings` in component.rs), so a
    /// malformed one has been named as a configuration error by then; were
    /// it not, the request fails naming the variable.
    fn timeouts(&mut self) -> Result<Timeouts, TransportError> {
        let timeouts = match self.timeouts {
            Settings::Read(timeouts) => timeouts,
            Settings::Unread(vars, checked) => match checked.get() {
                Some(timeouts) => *timeouts,
                None => Timeouts::load(vars)
                    .map_err(|error| TransportError::Failed(error.to_string()))?,
            },
        };
        self.timeouts = Settings::Read(timeouts);
        Ok(timeouts)
    }

    fn options(&mut self) -> Result<RequestOptions, TransportError> {
        let timeouts = self.timeouts()?;
        let now = monotonic_clock::now();
        let deadline = *self
            .deadline
            .get_or_insert_with(|| now.saturating_add(OPERATION_BUDGET_NS));
        let remaining = deadline.saturating_sub(now);
        if remaining == 0 {
            return Err(TransportError::Timeout(
                "the 28 s budget of this operation is spent".to_owned(),
            ));
        }
        let millis = |ms: u64| ms.saturating_mul(1_000_000).min(remaining);
        let options = RequestOptions::new();
        // A host that cannot apply a timeout still sends the request.
        let _ = options.set_connect_timeout(Some(millis(timeouts.connect_ms)));
        let _ = options.set_first_byte_timeout(Some(millis(timeouts.first_byte_ms)));
        let _ = options.set_between_bytes_timeout(Some(millis(timeouts.first_byte_ms)));
        Ok(options)
    }
}

impl Transport for WasiTransport<'_> {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let options = self.options()?;
        let (outgoing, outgoing_body) = outgoing_request(&request)?;
        let stream = if request.body.is_empty() {
            None
        } else {
            Some(
                outgoing_body
                    .write()
                    .map_err(|_| failed("the request body stream was unavailable".to_owned()))?,
            )
        };

        // The body is small and whole: write and finish it before handing the
        // request over, so the host has head and body together and can send
        // them in one write (a head sent alone waits on Nagle and the
        // provider's delayed ACK, about 40 ms on loopback). A body the host
        // will not take in one write goes after `handle`, as it streams.
        let (pending, sent) = if stream
            .as_ref()
            .is_none_or(|stream| write_at_once(stream, &request.body))
        {
            drop(stream);
            OutgoingBody::finish(outgoing_body, None).map_err(from_code)?;
            let pending = outgoing_handler::handle(outgoing, Some(options)).map_err(from_code)?;
            (pending, Ok(()))
        } else {
            let pending = outgoing_handler::handle(outgoing, Some(options)).map_err(from_code)?;
            // On failure the body is dropped unfinished, which aborts the request.
            let sent = stream
                .as_ref()
                .map_or(Ok(()), |stream| write_body(stream, &request.body));
            drop(stream);
            let sent =
                sent.and_then(|()| OutgoingBody::finish(outgoing_body, None).map_err(from_code));
            (pending, sent)
        };

        // When the body could not be sent, the response still says why
        // (connection refused, DNS, ...): that is the error to report.
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(from_code(code)),
            Some(Err(())) | None => return Err(failed("the host lost the response".to_owned())),
        };
        sent?;
        let status = response.status();
        let headers = super::header_pairs(&response.headers());
        let incoming = response
            .consume()
            .map_err(|_| failed("the response body was already taken".to_owned()))?;
        let body = read_body(&incoming, transport::declared_length(&headers))?;
        // Read to its end: dropped as it is, without `finish` and the
        // trailers it would hand back (nobody reads them), one call fewer.
        drop(incoming);
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// The `wasi:http` request for `request`, and its body to write.
fn outgoing_request(
    request: &HttpRequest,
) -> Result<(OutgoingRequest, OutgoingBody), TransportError> {
    let UrlParts {
        https,
        authority,
        path_with_query,
    } = transport::split_url(&request.url)
        .ok_or_else(|| failed("the request URL is not an absolute http(s) URL".to_owned()))?;
    // One host call for the whole header list, not one per header.
    let mut list: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
        .collect();
    // The body is written whole, so say its length: the host can then send
    // it as it is instead of in chunked transfer coding (as a native client
    // with a complete body does).
    if !request.body.is_empty() {
        list.push((
            "content-length".to_owned(),
            request.body.len().to_string().into_bytes(),
        ));
    }
    let headers = Fields::from_list(&list).map_err(|_| {
        let names: Vec<&str> = list.iter().map(|(name, _)| name.as_str()).collect();
        failed(format!(
            "the host refused the request headers ({})",
            names.join(", ")
        ))
    })?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method {
        transport::Method::Get => Method::Get,
        transport::Method::Post => Method::Post,
        transport::Method::Patch => Method::Patch,
    };
    let scheme = if https { Scheme::Https } else { Scheme::Http };
    let refused = |what: &str| failed(format!("the host refused the request {what}"));
    outgoing
        .set_method(&method)
        .map_err(|_| refused("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|_| refused("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|_| refused("host"))?;
    outgoing
        .set_path_with_query(Some(path_with_query))
        .map_err(|_| refused("path"))?;
    let body = outgoing.body().map_err(|_| refused("body"))?;
    Ok((outgoing, body))
}

/// Writes `bytes` in one non-blocking write when the host accepts that
/// many now; false (nothing written) when it does not.
fn write_at_once(stream: &OutputStream, bytes: &[u8]) -> bool {
    stream
        .check_write()
        .is_ok_and(|permit| permit >= bytes.len() as u64)
        && stream.write(bytes).is_ok()
}

fn write_body(stream: &OutputStream, bytes: &[u8]) -> Result<(), TransportError> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| stream_failure("sending the request body", e))?;
    }
    Ok(())
}

/// The reply's body, read until the stream ends or, when the reply
/// declares its length, until that many bytes have come.
fn read_body(body: &IncomingBody, declared: Option<usize>) -> Result<Vec<u8>, TransportError> {
    let stream = body
        .stream()
        .map_err(|_| failed("the response body stream was unavailable".to_owned()))?;
    let mut bytes = Vec::new();
    loop {
        if declared.is_some_and(|length| bytes.len() >= length) {
            return Ok(bytes);
        }
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_REPLY_BYTES {
                    return Err(failed(format!(
                        "the provider's reply exceeded {MAX_REPLY_BYTES} bytes"
                    )));
                }
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(error) => return Err(stream_failure("reading the reply", error)),
        }
    }
}

fn stream_failure(what: &str, error: StreamError) -> TransportError {
    match error {
        StreamError::LastOperationFailed(detail) => {
            let detail = detail.to_debug_string();
            if detail.to_ascii_lowercase().contains("timeout") {
                TransportError::Timeout(format!("{what}: {detail}"))
            } else {
                failed(format!("connection broke while {what}: {detail}"))
            }
        }
        StreamError::Closed => failed(format!("connection closed while {what}")),
    }
}

fn failed(message: String) -> TransportError {
    TransportError::Failed(message)
}

/// Maps the host's error codes: deadlines to timeouts, the rest to failures.
fn from_code(code: ErrorCode) -> TransportError {
    match code {
        ErrorCode::ConnectionTimeout => {
            TransportError::Timeout("no connection within the connect timeout".to_owned())
        }
        ErrorCode::ConnectionReadTimeout | ErrorCode::ConnectionWriteTimeout => {
            TransportError::Timeout("the connection stalled".to_owned())
        }
        ErrorCode::HttpResponseTimeout => {
            TransportError::Timeout("no reply within the first-byte timeout".to_owned())
        }
        ErrorCode::ConnectionRefused => failed("connection refused".to_owned()),
        ErrorCode::DnsError(_) => failed("the provider's host name did not resolve".to_owned()),
        ErrorCode::HttpRequestDenied => failed(
            "the host denied the request (check allowed_outbound_hosts in spin.toml)".to_owned(),
        ),
        ErrorCode::ConnectionTerminated | ErrorCode::HttpProtocolError => {
            failed("the connection was closed early".to_owned())
        }
        ErrorCode::DnsTimeout => {
            TransportError::Timeout("the provider's host name did not resolve in time".to_owned())
        }
        ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable => {
            failed("the provider's address is unreachable".to_owned())
        }
        ErrorCode::ConnectionLimitReached => {
            failed("the host's limit of outbound connections is reached".to_owned())
        }
        ErrorCode::TlsProtocolError | ErrorCode::TlsCertificateError => {
            failed("the TLS handshake with the provider failed".to_owned())
        }
        ErrorCode::TlsAlertReceived(alert) => failed(match alert.alert_message {
            Some(text) => format!("the provider ended the TLS handshake: {text}"),
            None => "the provider ended the TLS handshake".to_owned(),
        }),
        ErrorCode::InternalError(Some(text)) => failed(format!("the host failed: {text}")),
        ErrorCode::LoopDetected
        | ErrorCode::ConfigurationError
        | ErrorCode::InternalError(None) => {
            failed("the host could not send the request".to_owned())
        }
        // Request or reply outside what the host accepts (sizes, codings, URI).
        _ => {
            failed("the host refused the request or the reply as malformed or too large".to_owned())
        }
    }
}
