//! Outbound HTTP from the component: recorded, checked against
//! `allowed_outbound_hosts`, then sent for real over a pool of kept-alive
//! connections shared by every instance of one host.

use crate::allowed_hosts::AllowedHosts;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// One request the component tried to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full URI, scheme and authority included.
    pub uri: String,
    /// Headers as sent (including any `authorization`: tests look at them; never print them).
    pub headers: Vec<(String, String)>,
    /// False when `allowed_outbound_hosts` denied it (the component got `HttpRequestDenied`).
    pub allowed: bool,
}

impl OutboundRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The shared record of outbound requests of one host, or `None` when the
/// host keeps no record (a server: the record would grow with every request
/// and hold every provider's credentials).
#[derive(Clone, Default)]
pub(crate) struct OutboundLog {
    entries: Option<Arc<Mutex<Vec<OutboundRequest>>>>,
}

impl OutboundLog {
    /// A log that records (`true`) or one that records nothing.
    pub(crate) fn new(record: bool) -> Self {
        Self {
            entries: record.then(Default::default),
        }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Vec<OutboundRequest>>> {
        self.entries
            .as_ref()
            .map(|entries| entries.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn snapshot(&self) -> Vec<OutboundRequest> {
        self.lock()
            .map(|entries| entries.clone())
            .unwrap_or_default()
    }

    pub(crate) fn clear(&self) {
        if let Some(mut entries) = self.lock() {
            entries.clear();
        }
    }

    /// Records the entry `make` builds; a log that records nothing does not
    /// build it.
    fn record(&self, make: impl FnOnce() -> OutboundRequest) {
        if let Some(mut entries) = self.lock() {
            entries.push(make());
        }
    }
}

/// The `wasi:http` hooks of one store.
pub(crate) struct Outbound {
    pub(crate) log: OutboundLog,
    /// `None`: not enforced, everything may go out.
    pub(crate) allowed: Option<Arc<AllowedHosts>>,
    /// Say so on stderr when a request is denied (as Spin logs it).
    pub(crate) report_denials: bool,
    /// The host's connection pool.
    pub(crate) client: ProviderClient,
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> SendFuture {
        let allowed = self
            .allowed
            .as_ref()
            .is_none_or(|hosts| hosts.allows(request.uri()));
        self.log.record(|| OutboundRequest {
            method: request.method().as_str().to_owned(),
            uri: request.uri().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            allowed,
        });
        if !allowed {
            if self.report_denials {
                let uri = request.uri();
                eprintln!(
                    "finconnect-host: outbound network destination not allowed: {}://{} \
                     (not in allowed_outbound_hosts)",
                    uri.scheme_str().unwrap_or("?"),
                    uri.authority().map_or("?", |authority| authority.as_str()),
                );
            }
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let client = self.client.clone();
        Box::new(async move {
            let response = client.send(request, options).await?;
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

// ----- the connection pool -----

/// Idle connections kept per origin (scheme, host and port).
const MAX_IDLE_PER_ORIGIN: usize = 64;
/// An idle connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Without a timeout from the component (`wasi:http` request options), as
/// wasmtime-wasi-http's own client.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

tokio::task_local! {
    /// The request being sent: the pool's connector is shared, the connect
    /// timeout is per request, and the first-byte deadline starts once its
    /// connection (if it needs a new one) is open.
    static ATTEMPT: Arc<Attempt>;
}

/// One request's connect timeout and how far its connection got.
struct Attempt {
    connect_timeout: Duration,
    phase: Mutex<Phase>,
}

#[derive(Clone, Copy)]
enum Phase {
    /// No new connection (yet): an idle one may be used.
    Waiting,
    Connecting(Instant),
    Connected(Instant),
}

impl Attempt {
    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner) = phase;
    }

    /// When the response head must have arrived.
    fn deadline(&self, started: Instant, first_byte: Duration) -> Instant {
        match *self.phase.lock().unwrap_or_else(PoisonError::into_inner) {
            Phase::Waiting => started + first_byte,
            Phase::Connecting(since) => since + self.connect_timeout + first_byte,
            Phase::Connected(at) => at + first_byte,
        }
    }
}

/// HTTP/1.1 client of one host: hyper-util's pool of kept-alive
/// connections per origin (at most [`MAX_IDLE_PER_ORIGIN`] idle, each closed
/// after [`IDLE_TIMEOUT`]), over TCP with `TCP_NODELAY`, TLS for `https`.
/// wasmtime-wasi-http's `default_send_request` opens a new connection (and
/// TLS session) for every request.
#[derive(Clone)]
pub(crate) struct ProviderClient {
    client: Client<Connector, WasiBody>,
}

impl ProviderClient {
    /// `keep_alive` false: no idle connections are kept (a new connection
    /// per request, as wasmtime-wasi-http's `default_send_request`).
    pub(crate) fn new(keep_alive: bool) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(if keep_alive { MAX_IDLE_PER_ORIGIN } else { 0 })
            .pool_timer(TokioTimer::new())
            .build(Connector::default());
        Self { client }
    }

    /// Sends `request` (absolute URI) within the component's timeouts: the
    /// connect timeout when a new connection is needed, the first-byte
    /// timeout for the response head, the between-bytes timeout for its body.
    async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(DEFAULT_TIMEOUT)
        };
        let connect = timeout(|o| o.connect_timeout);
        let first_byte = timeout(|o| o.first_byte_timeout);
        let between_bytes = timeout(|o| o.between_bytes_timeout).max(Duration::from_nanos(1));
        let attempt = Arc::new(Attempt {
            connect_timeout: connect,
            phase: Mutex::new(Phase::Waiting),
        });
        let started = Instant::now();
        let request = ATTEMPT.scope(attempt.clone(), self.client.request(request));
        let mut request = std::pin::pin!(request);
        // As wasmtime-wasi-http's client: the first-byte timeout runs from
        // the moment the connection is there; the connector enforces the
        // connect timeout itself.
        let response = loop {
            let deadline = attempt.deadline(started, first_byte);
            if let Ok(result) = tokio::time::timeout_at(deadline.into(), request.as_mut()).await {
                break result;
            }
            if Instant::now() >= attempt.deadline(started, first_byte) {
                return Err(Error::ConnectionReadTimeout);
            }
        };
        let response = response.map_err(|err| client_error(&err))?;
        Ok(response.map(|incoming| {
            TimedBody {
                incoming,
                between_bytes,
                timer: None,
            }
            .boxed_unsync()
        }))
    }
}

/// The component's view of a failed request, from hyper-util's error.
fn client_error(err: &hyper_util::client::legacy::Error) -> Error {
    use std::error::Error as _;
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return connect.to_wasi();
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            return if hyper.is_timeout() {
                Error::HttpResponseTimeout
            } else if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                Error::ConnectionTerminated
            } else {
                Error::HttpProtocolError
            };
        }
        source = cause.source();
    }
    if err.is_connect() {
        Error::ConnectionTerminated
    } else {
        Error::InternalError(Some(format!("outbound request failed: {err}")))
    }
}

/// The response body, failing when no frame arrives within the
/// between-bytes timeout.
struct TimedBody {
    incoming: hyper::body::Incoming,
    between_bytes: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame.map(|frame| {
                    frame.map_err(|err| {
                        if err.is_timeout() {
                            Error::HttpResponseTimeout
                        } else {
                            Error::from(err)
                        }
                    })
                }))
            }
            Poll::Pending => {
                let between_bytes = this.between_bytes;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(between_bytes)));
                ready!(timer.as_mut().poll(cx));
                this.timer = None;
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.incoming)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.incoming)
    }
}

/// Why a connection could not be made.
#[derive(Debug)]
enum ConnectError {
    Timeout,
    Io(io::Error),
    Tls(io::Error),
    BadUri,
    BadName,
}

impl ConnectError {
    fn to_wasi(&self) -> Error {
        match self {
            Self::Timeout => Error::ConnectionTimeout,
            Self::Io(err) => Error::Connect(io::Error::new(err.kind(), err.to_string())),
            Self::Tls(err) => Error::Tls(io::Error::new(err.kind(), err.to_string())),
            Self::BadUri => Error::HttpRequestUriInvalid,
            Self::BadName => Error::TlsCertificateError,
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("no connection within the connect timeout"),
            Self::Io(err) => write!(f, "cannot connect: {err}"),
            Self::Tls(err) => write!(f, "TLS handshake failed: {err}"),
            Self::BadUri => f.write_str("the request URI has no host"),
            Self::BadName => f.write_str("the host is not a valid TLS server name"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Opens TCP connections (`TCP_NODELAY`), with TLS for `https`, within the
/// current request's connect timeout.
#[derive(Clone, Default)]
struct Connector {
    tls: Arc<std::sync::OnceLock<tokio_rustls::TlsConnector>>,
}

impl Connector {
    fn tls(&self) -> tokio_rustls::TlsConnector {
        self.tls
            .get_or_init(|| {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.into(),
                };
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                tokio_rustls::TlsConnector::from(Arc::new(config))
            })
            .clone()
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        // A connection the pool finishes opening in the background, after
        // the request took an idle one, has no request in scope.
        let attempt = ATTEMPT.try_with(Arc::clone).ok();
        let timeout = attempt
            .as_ref()
            .map_or(DEFAULT_TIMEOUT, |attempt| attempt.connect_timeout);
        let tls = (uri.scheme() == Some(&http::uri::Scheme::HTTPS)).then(|| self.tls());
        Box::pin(async move {
            let host = uri.host().ok_or(ConnectError::BadUri)?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri
                .port_u16()
                .unwrap_or(if tls.is_some() { 443 } else { 80 });
            let connect = async {
                let tcp = TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(ConnectError::Io)?;
                tcp.set_nodelay(true).map_err(ConnectError::Io)?;
                let Some(tls) = tls else {
                    return Ok(Stream::Plain(tcp));
                };
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|_| ConnectError::BadName)?;
                let stream = tls.connect(name, tcp).await.map_err(ConnectError::Tls)?;
                Ok(Stream::Tls(Box::new(stream)))
            };
            if let Some(attempt) = &attempt {
                attempt.set(Phase::Connecting(Instant::now()));
            }
            let stream = match tokio::time::timeout(timeout, connect).await {
                Ok(stream) => stream.map(TokioIo::new)?,
                Err(_) => return Err(ConnectError::Timeout),
            };
            if let Some(attempt) = &attempt {
                attempt.set(Phase::Connected(Instant::now()));
            }
            Ok(stream)
        })
    }
}

/// A connection to a provider: plain TCP or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(tcp) => tcp.is_write_vectored(),
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
