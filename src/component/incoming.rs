//! The HTTP face: turns a `wasi:http` request into data for the core's
//! router and writes its answer back.

use super::ledger_store::KeyValue;
use super::outbound::WasiTransport;
use super::variables::HostVariables;
use super::{Component, now_ms, with_finconnect_over};
use finconnect_core::api::{self, MAX_BODY_BYTES, Problem, ProblemCode};
use finconnect_core::config::{self, Timeouts, Variables};
use finconnect_core::ledger::deliver::{WebhookTarget, deliver_due};
use finconnect_core::ledger::{self, Ledger};
use finconnect_core::transport;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

impl Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let request = read_request(&request);
        let started = now_ms();
        let vars = HostVariables::new();
        let ledger = match config::ledger_on(&vars) {
            Ok(true) => {
                Some(KeyValue::open().map(|store| Ledger::new(store, ledger_config(&vars))))
            }
            Ok(false) => None,
            Err(error) => {
                write_response(Problem::from_error(&error).into_response(), response_out);
                return;
            }
        };
        let response = match &ledger {
            Some(Ok(ledger)) => {
                with_finconnect_over(&vars, Some(ledger.store()), started / 1000, |fc| {
                    api::handle_ledgered(request, fc, ledger, started)
                })
            }
            // `finconnect_ledger = off`: passed through, nothing recorded.
            None => with_finconnect_over(&vars, None, started / 1000, |fc| {
                api::handle_without_ledger::<KeyValue>(request, fc)
            }),
            Some(Err(error)) => Ok(Problem::new(
                503,
                ProblemCode::LedgerUnavailable,
                format!("the payment ledger cannot be used: {error}"),
            )
            .into_response()),
        }
        .unwrap_or_else(|error| Problem::from_error(&error).into_response());
        write_response(response, response_out);
        // The answer is complete; webhooks due now go out after it, so a
        // provider's notification is acknowledged before the merchant's
        // endpoint is called.
        // The clock is read again: what the request recorded after its
        // provider call carries that later time (`Finconnect::with_clock`),
        // and its delivery is due from then.
        if let Some(Ok(ledger)) = &ledger {
            let after = now_ms();
            deliver_webhooks(ledger, &vars, after);
            purge_now_and_then(ledger, after);
        }
    }
}

/// How often the ledger drops records and events past their retention.
const PURGE_EVERY_MS: u64 = 24 * 3_600_000;

/// Retention without a scheduler: about one request in 1024 checks when
/// the ledger was last purged (one read), and purges when a day has
/// passed. Purging reads every key, so it is kept off the common path.
fn purge_now_and_then(ledger: &Ledger<KeyValue>, now_ms: u64) {
    if wasip2::random::random::get_random_u64().is_multiple_of(1024) {
        let _ = ledger.purge_if_due(now_ms, PURGE_EVERY_MS);
    }
}

/// The ledger's settings for this request: a random instance id (claims
/// must be unique across instances), and deliveries queued whenever a
/// webhook URL is set.
fn ledger_config(vars: &dyn Variables) -> ledger::Config {
    let webhooks =
        finconnect_core::config::optional(vars, finconnect_core::config::names::WEBHOOK_URL)
            .is_ok_and(|url| url.is_some());
    ledger::Config {
        instance_id: format!("{:016x}", wasip2::random::random::get_random_u64()),
        webhooks,
        // `deliver_webhooks` sends them after the answer.
        hold_own_deliveries: webhooks,
        ..ledger::Config::default()
    }
}

/// Webhook attempts get shorter deadlines than provider calls: the
/// merchant's endpoint should answer at once, and a failed attempt is
/// retried later anyway.
const WEBHOOK_TIMEOUTS: Timeouts = Timeouts {
    connect_ms: 2_000,
    first_byte_ms: 5_000,
};

/// Sends the webhooks of the events this request wrote, and those due, if
/// webhooks are on. Two reads when nothing is to be sent: the outbox and
/// one key of held deliveries ([`Ledger::deliveries_due`]).
fn deliver_webhooks(ledger: &Ledger<KeyValue>, vars: &dyn Variables, now_ms: u64) {
    // `ledger_config` has read the URL already: without one, nothing more
    // is read; with one, the outbox first unless this request holds
    // deliveries, and the webhook variables only when something is to be
    // sent.
    if !ledger.config().webhooks
        || !(ledger.holds_deliveries() || ledger.deliveries_due(now_ms).unwrap_or(false))
    {
        return;
    }
    // A misconfigured secret leaves deliveries scheduled (nothing is
    // lost: held ones are due once their lease runs out);
    // `POST /events/{id}/deliveries` reports the variable at fault.
    let Ok(Some(target)) = WebhookTarget::load(vars) else {
        return;
    };
    let mut transport = WasiTransport::with_timeouts(WEBHOOK_TIMEOUTS);
    let _ = deliver_due(ledger, &target, &mut transport, now_ms);
}

/// Reads method, target, headers and at most `MAX_BODY_BYTES + 1` bytes of
/// body (the router answers 413 beyond the limit). Header values that are
/// not UTF-8 are kept with replacement characters, which the router reads
/// as unreadable.
fn read_request(request: &IncomingRequest) -> api::Request {
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
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let headers = super::header_pairs(&request.headers());
    let body = match request.consume() {
        Ok(body) => read_capped(&body, transport::declared_length(&headers)),
        Err(()) => Vec::new(),
    };
    api::Request {
        method,
        path_with_query,
        headers,
        body,
    }
}

/// Stops early once a body that declares its length has all of it (a
/// declared `0`: nothing is read).
fn read_capped(body: &IncomingBody, declared: Option<usize>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if declared == Some(0) {
        return bytes;
    }
    let Ok(stream) = body.stream() else {
        return bytes;
    };
    while bytes.len() <= MAX_BODY_BYTES && declared.is_none_or(|length| bytes.len() < length) {
        match stream.blocking_read((MAX_BODY_BYTES + 1 - bytes.len()) as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) | Err(StreamError::LastOperationFailed(_)) => break,
        }
    }
    bytes
}

/// Writes the answer. The whole body is written and finished before the
/// response is handed to `ResponseOutparam::set`, with its `Content-Length`,
/// so the host can send head and body together: with the head leaving alone,
/// Nagle's algorithm on the host's socket and the client's delayed ACK held
/// some answers back by about 40 ms. A body larger than the host will take
/// in one write (not one this API produces) is streamed after `set` instead.
fn write_response(response: api::Response, out: ResponseOutparam) {
    // One host call for the whole header list, not one per header.
    let mut list: Vec<(String, Vec<u8>)> = response
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name.clone(), value.as_bytes().to_vec()))
        .collect();
    list.push((
        "content-length".to_owned(),
        response.body.len().to_string().into_bytes(),
    ));
    let headers = Fields::from_list(&list).unwrap_or_else(|_| {
        // Keep whatever the host accepts, header by header.
        let headers = Fields::new();
        for (name, value) in &list {
            let _ = headers.append(name, value);
        }
        headers
    });
    let outgoing = OutgoingResponse::new(headers);
    let _ = outgoing.set_status_code(response.status);
    let Ok(outgoing_body) = outgoing.body() else {
        return;
    };
    let Ok(stream) = outgoing_body.write() else {
        ResponseOutparam::set(out, Ok(outgoing));
        return;
    };
    let whole = response.body.is_empty()
        || (stream
            .check_write()
            .is_ok_and(|permit| permit >= response.body.len() as u64)
            && stream.write(&response.body).is_ok());
    if whole {
        drop(stream);
        let _ = OutgoingBody::finish(outgoing_body, None);
        ResponseOutparam::set(out, Ok(outgoing));
        return;
    }
    ResponseOutparam::set(out, Ok(outgoing));
    for chunk in response.body.chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            break;
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing_body, None);
}
