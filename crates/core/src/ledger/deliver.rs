//! Sending events to the merchant's webhook URL: which deliveries are due,
//! the signed request for each, and the attempt recorded afterwards. The
//! HTTP goes through the caller's [`Transport`], like provider calls.

use super::webhook::{Attempt, WebhookSecret, webhook_headers};
use super::{Ledger, LedgerError, Store};
use crate::config::{self, Variables, names};
use crate::error::{Error, Result};
use crate::transport::{HttpRequest, Method, Transport, TransportError};

/// How long one instance holds a delivery it is attempting before another
/// may try it (Unix ms). Longer than a webhook attempt can take.
pub const LEASE_MS: u64 = 30_000;

/// At most this many deliveries are attempted after one request, so a
/// merchant endpoint that was down for long does not hold one request's
/// instance for minutes; the rest go on the next requests.
pub const MAX_PER_RUN: usize = 8;

/// Where events go and how they are signed, from
/// `finconnect_webhook_url` and `finconnect_webhook_secret`.
#[derive(Clone, Debug)]
pub struct WebhookTarget {
    /// The merchant's endpoint.
    pub url: String,
    /// The signing key (its `Debug` is redacted).
    pub secret: WebhookSecret,
}

impl WebhookTarget {
    /// `None` when `finconnect_webhook_url` is not set (webhooks off).
    /// With the URL set, the secret is required and must be a
    /// `whsec_<base64>` key; the error names the variable.
    pub fn load(vars: &dyn Variables) -> Result<Option<Self>> {
        let Some(url) = config::optional(vars, names::WEBHOOK_URL)? else {
            return Ok(None);
        };
        let url = config::checked_url(names::WEBHOOK_URL, &url)?;
        if let Some(origin) = config::optional(vars, names::WEBHOOK_ORIGIN)? {
            let origin = origin.trim_end_matches('/');
            let matches = url
                .strip_prefix(origin)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
            if !matches {
                return Err(Error::config(
                    names::WEBHOOK_ORIGIN,
                    format!(
                        "must be the origin (scheme, host and port) of `{}`: outbound \
                         requests are allowed only to it",
                        names::WEBHOOK_URL
                    ),
                ));
            }
        }
        let secret = config::optional(vars, names::WEBHOOK_SECRET)?.ok_or_else(|| {
            Error::config(
                names::WEBHOOK_SECRET,
                format!(
                    "is not set, but `{}` is: webhooks must be signed",
                    names::WEBHOOK_URL
                ),
            )
        })?;
        let secret = WebhookSecret::parse(&secret)
            .map_err(|error| Error::config(names::WEBHOOK_SECRET, error.to_string()))?;
        Ok(Some(Self { url, secret }))
    }
}

/// What [`deliver_due`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryRun {
    /// Attempts made.
    pub attempted: usize,
    /// Of those, the ones the endpoint accepted (2xx).
    pub delivered: usize,
}

/// The signed POST of one event: its JSON body and the three Standard
/// Webhooks headers, timestamped `now_ms`.
pub fn webhook_request(
    target: &WebhookTarget,
    event: &super::Event,
    now_ms: u64,
) -> Result<HttpRequest> {
    let body = serde_json::to_vec(event).map_err(|error| {
        Error::invalid("event", format!("could not be written as JSON: {error}"))
    })?;
    let mut request = HttpRequest::new(Method::Post, target.url.clone())
        .with_header("content-type", "application/json")
        .with_header("user-agent", "finconnect-webhooks");
    for (name, value) in webhook_headers(&target.secret, &event.id, now_ms, &body) {
        request = request.with_header(name, value);
    }
    Ok(request.with_body(body))
}

/// Sends the deliveries this ledger holds for the events it wrote
/// ([`super::Config::hold_own_deliveries`]), then every other delivery due
/// at `now_ms`, each leased first so that instances sharing the store do
/// not send the same event at once; at most [`MAX_PER_RUN`] in all. Each
/// attempt is recorded: a 2xx answer delivers it, anything else schedules
/// the next try. Nothing is dropped: a held delivery left over goes into
/// the outbox at the first look at its key after its lease runs out
/// ([`Ledger::adopt_orphans`]).
pub fn deliver_due<S: Store>(
    ledger: &Ledger<S>,
    target: &WebhookTarget,
    transport: &mut dyn Transport,
    now_ms: u64,
) -> std::result::Result<DeliveryRun, LedgerError> {
    let mut run = DeliveryRun::default();
    let mut send = |event_id: &str, seq: u64, held: bool| -> Result<(), LedgerError> {
        let event = ledger.numbered_event(seq, event_id)?;
        let attempt = attempt(target, transport, event.as_ref(), now_ms);
        run.attempted += 1;
        if attempt.succeeded() {
            run.delivered += 1;
        }
        if held {
            ledger.record_held_attempt(event_id, seq, attempt)?;
        } else {
            ledger.record_attempt(event_id, seq, attempt)?;
        }
        Ok(())
    };
    // The held ones first: nothing read or written for the others can
    // keep them from going out.
    let held = ledger.take_held_deliveries(now_ms);
    for (event_id, seq) in held.iter().take(MAX_PER_RUN) {
        send(event_id, *seq, true)?;
    }
    let room = MAX_PER_RUN.saturating_sub(held.len());
    if room > 0 {
        ledger.adopt_orphans(now_ms)?;
        for delivery in ledger.due_deliveries(now_ms)?.into_iter().take(room) {
            if ledger.lease_delivery(&delivery.event_id, now_ms, LEASE_MS)? {
                send(&delivery.event_id, delivery.seq, false)?;
            }
        }
    }
    Ok(run)
}

/// One attempt to send `event` (`None`: it is gone from the ledger).
fn attempt(
    target: &WebhookTarget,
    transport: &mut dyn Transport,
    event: Option<&super::Event>,
    now_ms: u64,
) -> Attempt {
    let failed = |error: String| Attempt {
        at: now_ms,
        status: None,
        error: Some(error),
    };
    let Some(event) = event else {
        return failed("the event is no longer in the ledger".into());
    };
    let request = match webhook_request(target, event, now_ms) {
        Ok(request) => request,
        Err(error) => return failed(error.to_string()),
    };
    match transport.send(request) {
        Ok(reply) if (200..300).contains(&reply.status) => Attempt {
            at: now_ms,
            status: Some(reply.status),
            error: None,
        },
        Ok(reply) => Attempt {
            at: now_ms,
            status: Some(reply.status),
            error: Some(format!("the endpoint answered HTTP {}", reply.status)),
        },
        Err(TransportError::Timeout(message) | TransportError::Failed(message)) => failed(message),
    }
}
