//! Outbound HTTP from the component: recorded, checked against
//! `allowed_outbound_hosts`, then sent for real.

use crate::allowed_hosts::AllowedHosts;
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex, PoisonError};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

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

/// The shared record of outbound requests of one host.
#[derive(Clone, Default)]
pub(crate) struct OutboundLog {
    entries: Arc<Mutex<Vec<OutboundRequest>>>,
}

impl OutboundLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OutboundRequest>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn snapshot(&self) -> Vec<OutboundRequest> {
        self.lock().clone()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, entry: OutboundRequest) {
        self.lock().push(entry);
    }
}

/// The `wasi:http` hooks of one store.
pub(crate) struct Outbound {
    pub(crate) log: OutboundLog,
    /// `None`: not enforced, everything may go out.
    pub(crate) allowed: Option<Arc<AllowedHosts>>,
    /// Say so on stderr when a request is denied (as Spin logs it).
    pub(crate) report_denials: bool,
}

type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>>
        + Send,
>;

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
        self.log.push(OutboundRequest {
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
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as IoFuture,
            ))
        })
    }
}
