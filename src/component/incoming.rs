//! The HTTP face: turns a `wasi:http` request into data for the core's
//! router and writes its answer back.

use super::{Component, with_finconnect};
use finconnect_core::api::{self, MAX_BODY_BYTES, Problem};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

impl Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let response = match read_request(&request) {
            Ok(request) => with_finconnect(|fc| api::handle_with(request, fc))
                .unwrap_or_else(|error| Problem::from_error(&error).into_response()),
            Err(response) => response,
        };
        write_response(response, response_out);
    }
}

/// Reads method, path, headers and at most `MAX_BODY_BYTES + 1` bytes of
/// body (the router answers 413 beyond the limit).
fn read_request(
    request: &IncomingRequest,
) -> Result<http::Request<Vec<u8>>, http::Response<Vec<u8>>> {
    let method = match request.method() {
        Method::Get => "GET".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Put => "PUT".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Connect => "CONNECT".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Trace => "TRACE".to_owned(),
        Method::Patch => "PATCH".to_owned(),
        Method::Other(other) => other,
    };
    let path = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut builder = http::Request::builder().method(method.as_str()).uri(path);
    for (name, value) in request.headers().entries() {
        builder = builder.header(name, value);
    }
    let body = match request.consume() {
        Ok(body) => read_capped(&body),
        Err(()) => Vec::new(),
    };
    builder
        .body(body)
        .map_err(|_| plain(400, "malformed request line or header"))
}

fn read_capped(body: &IncomingBody) -> Vec<u8> {
    let mut bytes = Vec::new();
    let Ok(stream) = body.stream() else {
        return bytes;
    };
    while bytes.len() <= MAX_BODY_BYTES {
        match stream.blocking_read((MAX_BODY_BYTES + 1 - bytes.len()) as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) | Err(StreamError::LastOperationFailed(_)) => break,
        }
    }
    bytes
}

fn plain(status: u16, text: &str) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(text.as_bytes().to_vec());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    response
}

fn write_response(response: http::Response<Vec<u8>>, out: ResponseOutparam) {
    let (parts, body) = response.into_parts();
    let headers = Fields::new();
    for (name, value) in &parts.headers {
        let _ = headers.append(name.as_str(), value.as_bytes());
    }
    let outgoing = OutgoingResponse::new(headers);
    let _ = outgoing.set_status_code(parts.status.as_u16());
    let Ok(outgoing_body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    if let Ok(stream) = outgoing_body.write() {
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(outgoing_body, None);
}
