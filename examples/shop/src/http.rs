//! The shop's HTTP face, so that Spin can trigger it:
//! `POST /checkout` with a form body `order_id=..&amount=..&email=..&ipn_id=..`
//! answers `303 See Other` to the payment page (its URL is also the body),
//! `400` for a bad order and `502` when FinConnect or PesaPal failed.

use crate::{Failure, Shop, start_checkout};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

/// Forms larger than this are refused.
const MAX_FORM_BYTES: usize = 4096;

impl Guest for Shop {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        if path != "/checkout" {
            return respond(out, 404, None, "not found: try POST /checkout\n");
        }
        if !matches!(request.method(), Method::Post) {
            return respond(out, 405, None, "use POST\n");
        }
        let Some(form) = read_body(&request) else {
            return respond(out, 413, None, "form too large\n");
        };
        let field = |name: &str| form_value(&form, name).unwrap_or_default();
        let (order_id, amount, email, ipn_id) = (
            field("order_id"),
            field("amount"),
            field("email"),
            field("ipn_id"),
        );
        match start_checkout(&order_id, &amount, &email, &ipn_id) {
            Ok(url) => respond(out, 303, Some(&url), &format!("{url}\n")),
            Err(Failure::Rejected(text)) => respond(out, 400, None, &format!("{text}\n")),
            Err(Failure::Failed(text)) => respond(out, 502, None, &format!("{text}\n")),
        }
    }
}

/// The request body, or `None` when it exceeds [`MAX_FORM_BYTES`].
fn read_body(request: &IncomingRequest) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let Ok(body) = request.consume() else {
        return Some(bytes);
    };
    let Ok(stream) = body.stream() else {
        return Some(bytes);
    };
    loop {
        match stream.blocking_read(MAX_FORM_BYTES as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => break,
        }
        if bytes.len() > MAX_FORM_BYTES {
            return None;
        }
    }
    Some(bytes)
}

/// The decoded value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(form: &[u8], name: &str) -> Option<String> {
    form.split(|&b| b == b'&').find_map(|pair| {
        let mut halves = pair.splitn(2, |&b| b == b'=');
        let key = halves.next()?;
        (decode(key) == name).then(|| decode(halves.next().unwrap_or_default()))
    })
}

/// Percent-decoding with `+` as a space; malformed escapes stay as they are.
fn decode(text: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < text.len() => match (hex(text[i + 1]), hex(text[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(out: ResponseOutparam, status: u16, location: Option<&str>, text: &str) {
    let headers = Fields::new();
    let _ = headers.append("content-type", b"text/plain; charset=utf-8");
    if let Some(location) = location {
        let _ = headers.append("location", location.as_bytes());
    }
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(body) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = body.write() {
        // `blocking-write-and-flush` takes at most 4096 bytes per call.
        for chunk in text.as_bytes().chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}
