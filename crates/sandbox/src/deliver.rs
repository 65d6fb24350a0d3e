//! Sends one notification over plain HTTP/1.1 and reads the answer.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::model::Delivery;

/// Longest wait for the receiver (connect + answer). FinConnect promises to
/// answer within 30 s, so this leaves headroom.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(35);

/// Largest receiver answer kept.
const MAX_ANSWER: usize = 1 << 20;

/// Sends `method url` with an optional JSON body and reports what happened.
pub(crate) async fn send(method: Method, url: &str, json_body: Option<String>) -> Delivery {
    let request_body = json_body.clone().unwrap_or_default();
    let mut delivery = Delivery {
        url: Some(url.to_owned()),
        method: method.as_str().to_owned(),
        status: None,
        body: String::new(),
        request_body,
        error: None,
    };
    match tokio::time::timeout(DELIVERY_TIMEOUT, exchange(method, url, json_body)).await {
        Ok(Ok((status, body))) => {
            delivery.status = Some(status);
            delivery.body = body;
        }
        Ok(Err(err)) => delivery.error = Some(err),
        Err(_) => {
            delivery.error = Some(format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs()));
        }
    }
    delivery
}

async fn exchange(
    method: Method,
    url: &str,
    json_body: Option<String>,
) -> Result<(u16, String), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "the sandbox delivers over plain http only, not {other}"
            ));
        }
        None => return Err(format!("URL {url:?} has no scheme")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("URL {url:?} has no host"))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {authority} failed: {e}"))?;
    tokio::spawn(async move {
        // The outcome is reported through `send_request`.
        let _ = connection.await;
    });
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, authority.as_str())
        .header(
            USER_AGENT,
            concat!("finconnect-sandbox/", env!("CARGO_PKG_VERSION")),
        );
    if json_body.is_some() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(json_body.unwrap_or_default())))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("no answer from {authority}: {e}"))?;
    let status = response.status().as_u16();
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("answer from {authority} broke off: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
