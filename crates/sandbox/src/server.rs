//! The HTTP face: provider paths (recorded, fault-injected, dispatched by
//! hand so that PesaPal's case-insensitive routing can be mimicked), the
//! pages for people (`ui`), and the `/_sandbox` control API.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};
use serde_json::json;

use crate::clickpesa;
use crate::control;
use crate::fault::{self, FaultKind, Provider};
use crate::model::RecordedRequest;
use crate::mpesa;
use crate::pesapal::{self, json_response};
use crate::state::Shared;

/// Largest provider request body accepted.
const MAX_BODY: usize = 1 << 20;

/// A provider request with its body read.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(control::routes())
        .merge(crate::clickpesa_payouts::control_routes())
        .merge(crate::ui::routes())
        .fallback(entry)
        .with_state(shared)
}

/// Where the sandbox serves each provider of the core's registry.
pub(crate) fn prefix(provider: Provider) -> &'static str {
    match provider {
        Provider::Pesapal => pesapal::PREFIX,
        Provider::Clickpesa => clickpesa::PREFIX,
        Provider::Mpesa => mpesa::PREFIX,
    }
}

/// The provider a path belongs to, and the rest of the path after its prefix.
fn split_provider(path: &str) -> Option<(Provider, &str)> {
    for provider in Provider::ALL {
        let prefix = prefix(provider);
        if let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Some((provider, rest));
        }
    }
    None
}

/// Every request that no control or page route took.
async fn entry(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let Some((provider, rest)) = split_provider(&path) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({
                "error": format!("no sandbox route for {} {path}", parts.method),
                "hint": "provider paths start with /pesapalv3/, /third-parties/ or /mpesa-daraja/; see GET /_sandbox",
            }),
        );
    };
    let rest = rest.to_owned();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"error": "request body over 1 MiB"}),
        );
    };
    let incoming = Incoming {
        method: parts.method,
        path,
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    record(&shared, &incoming);
    let response = serve_provider(&shared, provider, &rest, &incoming).await;
    let status = response.status();
    shared.log(|| {
        format!(
            "{} {}{} -> {}",
            incoming.method,
            incoming.path,
            incoming
                .query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default(),
            status.as_u16()
        )
    });
    response
}

fn record(shared: &Shared, req: &Incoming) {
    let recorded = RecordedRequest {
        method: req.method.as_str().to_owned(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: req
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: req.body.to_vec(),
    };
    shared.lock().requests.push(recorded);
}

async fn serve_provider(
    shared: &Arc<Shared>,
    provider: Provider,
    rest: &str,
    req: &Incoming,
) -> Response {
    let pesapal_endpoint = pesapal::Endpoint::classify(rest);
    let clickpesa_endpoint = clickpesa::Endpoint::classify(&req.method, rest);
    let mpesa_endpoint = mpesa::Endpoint::classify(rest);
    let target = match provider {
        Provider::Pesapal => pesapal_endpoint.map(pesapal::Endpoint::target),
        Provider::Clickpesa => clickpesa_endpoint.as_ref().map(clickpesa::Endpoint::target),
        Provider::Mpesa => mpesa_endpoint.map(mpesa::Endpoint::target),
    };
    let fault = fault::take(&mut shared.lock().faults, provider, target);
    if let Some(kind) = fault {
        shared.log(|| format!("fault {} on {} {}", kind.name(), req.method, req.path));
        if let FaultKind::Slow(delay) = kind {
            tokio::time::sleep(delay).await;
        } else if let Some(response) = fault::respond(&kind, provider, target, || {
            let now = shared.lock().now();
            shared
                .mint_jwt("rejected", now, std::time::Duration::from_secs(300))
                .0
        }) {
            return response;
        }
    }
    match provider {
        Provider::Pesapal => pesapal::handle(shared, pesapal_endpoint, req),
        Provider::Clickpesa => clickpesa::handle(shared, clickpesa_endpoint, req),
        Provider::Mpesa => mpesa::handle(shared, mpesa_endpoint, req),
    }
}

/// The JSON form of a recorded request for `GET /_sandbox/requests`.
pub(crate) fn recorded_json(req: &RecordedRequest) -> serde_json::Value {
    json!({
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": req.headers,
        "body": req.body_text(),
        "json": req.json().ok(),
    })
}

/// A JSON response with `status`.
pub(crate) fn control_json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_prefixes_need_a_separator() {
        assert_eq!(
            split_provider("/pesapalv3/api/Auth/RequestToken"),
            Some((Provider::Pesapal, "/api/Auth/RequestToken"))
        );
        assert_eq!(
            split_provider("/third-parties/generate-token"),
            Some((Provider::Clickpesa, "/generate-token"))
        );
        assert_eq!(
            split_provider("/mpesa-daraja/oauth/v1/generate"),
            Some((Provider::Mpesa, "/oauth/v1/generate"))
        );
        assert_eq!(split_provider("/mpesa/stkpush/v1/processrequest"), None);
        assert_eq!(split_provider("/pesapalv3x/api"), None);
        assert_eq!(split_provider("/_sandbox/requests"), None);
    }
}
