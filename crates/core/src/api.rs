//! FinConnect's HTTP API as one pure function: [`handle`] takes a request
//! whose body has already been read and returns the whole response. Provider
//! calls go through the caller's [`Transport`]; variables are read from the
//! caller's [`Variables`] on every request, so a changed key takes effect at
//! once.
//!
//! The routes are listed once, in [`routes`]; `openapi.yaml` at the
//! repository root describes the same set (a test keeps them equal).
//!
//! Order of checks for every request: route (404), method (405), size
//! (413), then for merchant routes the bearer key (503 when unset, 401 when
//! wrong), content type (415), body (400/422), and only then provider calls.

mod control_numbers;
mod input;
mod ledger_paging;
mod ledgered;
mod payouts;
mod previews;
mod problem;
mod provider_payments;
mod refunds;

pub use control_numbers::ControlNumberRoute;
pub use payouts::PayoutRoute;

pub use problem::{PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, Problem, ProblemCode, status_and_code};

use crate::config::{self, Variables, names};
use crate::connector::{Incoming, NotificationError};
use crate::domain::{IpnRegistration, Payment, PaymentDetails, Provider};
use crate::flow::{Finconnect, Gate, Lookup, Notified};
use crate::ledger::{Admission, Ledger, Store};
use crate::secret::Secret;
use crate::transport::{HttpResponse, Redacted, Transport, header_text};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The largest request body FinConnect reads. The shell reads at most one
/// byte more and passes it in; anything longer is answered with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Response header on a verified PesaPal IPN: the payment's status
/// (`completed`, `pending`, `failed`, `reversed`, `unknown`).
pub const PAYMENT_STATUS_HEADER: &str = "finconnect-payment-status";
/// Response header on a verified PesaPal IPN: the merchant reference PesaPal
/// reported in the status call.
pub const PAYMENT_REFERENCE_HEADER: &str = "finconnect-payment-reference";
/// Response header on a verified PesaPal IPN: PesaPal's order tracking id.
pub const TRACKING_ID_HEADER: &str = "finconnect-tracking-id";

/// What a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `POST /payments`.
    CreatePayment,
    /// `POST /ipn-registrations`.
    RegisterIpn,
    /// `GET /payments/{provider}/{id}`.
    PaymentStatus,
    /// `GET /payments`: the ledger's records.
    ListPayments,
    /// `GET /events`: the event log.
    ListEvents,
    /// `POST /events/{id}/deliveries`: send an event's webhook again.
    Redeliver,
    /// `POST /payments/{provider}/{id}/refunds`: ask for money back.
    Refund,
    /// `POST /payments/{provider}/{id}/cancellation`: cancel an unpaid order.
    Cancel,
    /// `GET /ipn-registrations?provider=`: the provider's registered URLs.
    ListIpns,
    /// `POST /payment-previews`: a payment's methods and fees, not started.
    PreviewPayment,
    /// `GET /provider-payments?provider=`: the provider's own list.
    ListProviderPayments,
    /// `/notifications/{provider}`, with the methods the provider's
    /// connector declares.
    Notification(Provider),
    /// A payout route: its own key (`finconnect_payouts_api_key`), or for
    /// ClickPesa's payout webhooks none (see [`payouts`]).
    Payouts(PayoutRoute),
    /// A control number route (ClickPesa BillPay), behind the merchant key.
    ControlNumbers(ControlNumberRoute),
}

impl Operation {
    /// Merchant routes need `Authorization: Bearer <finconnect_api_key>`;
    /// provider callbacks are public and verified instead.
    pub fn is_merchant(self) -> bool {
        match self {
            Operation::CreatePayment
            | Operation::RegisterIpn
            | Operation::PaymentStatus
            | Operation::ListPayments
            | Operation::ListEvents
            | Operation::Redeliver
            | Operation::Refund
            | Operation::Cancel
            | Operation::ListIpns
            | Operation::PreviewPayment
            | Operation::ListProviderPayments
            | Operation::ControlNumbers(_) => true,
            Operation::Notification(_) | Operation::Payouts(_) => false,
        }
    }
}

/// One route: a method, a path template (`{name}` matches one non-empty
/// segment), and what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template, as written in `openapi.yaml`.
    pub path: String,
    /// What the route does.
    pub operation: Operation,
}

/// The merchant routes; [`routes`] adds each provider's notification route.
const MERCHANT_ROUTES: [(&str, &str, Operation); 11] = [
    ("POST", "/payments", Operation::CreatePayment),
    ("GET", "/payments", Operation::ListPayments),
    ("GET", "/payments/{provider}/{id}", Operation::PaymentStatus),
    (
        "POST",
        "/payments/{provider}/{id}/refunds",
        Operation::Refund,
    ),
    (
        "POST",
        "/payments/{provider}/{id}/cancellation",
        Operation::Cancel,
    ),
    ("POST", "/ipn-registrations", Operation::RegisterIpn),
    ("GET", "/ipn-registrations", Operation::ListIpns),
    ("GET", "/events", Operation::ListEvents),
    ("POST", "/events/{id}/deliveries", Operation::Redeliver),
    ("POST", "/payment-previews", Operation::PreviewPayment),
    ("GET", "/provider-payments", Operation::ListProviderPayments),
];

/// Every route FinConnect serves: the merchant routes, then
/// `/notifications/<provider>` for each provider of the registry with the
/// methods its connector declares. The router and the OpenAPI test both
/// read this list (the router through [`route_table`], without building it).
pub fn routes() -> &'static [Route] {
    static ROUTES: std::sync::OnceLock<Vec<Route>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| {
        route_table()
            .map(|(method, template, operation)| Route {
                method,
                path: template.to_string(),
                operation,
            })
            .collect()
    })
}

/// A route's path template.
#[derive(Clone, Copy, Debug)]
enum Template {
    /// Written out, as in `openapi.yaml` (`/payments/{provider}/{id}`).
    Written(&'static str),
    /// `/notifications/<the provider's name>`.
    Notifications(&'static str),
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Template::Written(path) => f.write_str(path),
            Template::Notifications(name) => write!(f, "{NOTIFICATIONS}{name}"),
        }
    }
}

const NOTIFICATIONS: &str = "/notifications/";

/// The routes of [`routes`], in its order, made as they are read: a
/// request is routed without allocating the table (each request runs in a
/// fresh instance, so a table kept after its first use would be built for
/// every request).
fn route_table() -> impl Iterator<Item = (&'static str, Template, Operation)> {
    let merchant = MERCHANT_ROUTES
        .into_iter()
        .map(|(method, path, operation)| (method, Template::Written(path), operation));
    let notifications = Provider::ALL.into_iter().flat_map(|provider| {
        let info = provider.info();
        info.notification_methods.iter().map(move |&method| {
            (
                method,
                Template::Notifications(info.name),
                Operation::Notification(provider),
            )
        })
    });
    let payouts = payouts::ROUTES
        .into_iter()
        .map(|(method, path, route)| (method, Template::Written(path), Operation::Payouts(route)));
    let control_numbers = control_numbers::ROUTES
        .into_iter()
        .map(|(method, path, route)| {
            (
                method,
                Template::Written(path),
                Operation::ControlNumbers(route),
            )
        });
    merchant
        .chain(notifications)
        .chain(payouts)
        .chain(control_numbers)
}

/// A request to the HTTP API, as the shell read it: nothing is parsed or
/// checked yet.
///
/// Its `Debug` hides credential headers (`authorization`, ...) and shows the
/// body only by its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The method as the client sent it (`"POST"`); compared case-sensitively.
    pub method: String,
    /// The request target: path and optional query (`/payments?x=1`).
    pub path_with_query: String,
    /// Headers in the order they came; a name may repeat.
    pub headers: Vec<(String, String)>,
    /// The body, as much of it as the shell read.
    pub body: Vec<u8>,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: impl Into<String>, path_with_query: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            path_with_query: path_with_query.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (after any others of the same name).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The path: the target up to its query or fragment.
    pub fn path(&self) -> &str {
        let target = &self.path_with_query;
        target.find(['?', '#']).map_or(target, |end| &target[..end])
    }

    /// The query: after the first `?` (when it comes before any `#`), up to a `#`.
    pub fn query(&self) -> Option<&str> {
        let target = &self.path_with_query;
        let start = target
            .find(['?', '#'])
            .filter(|&at| target[at..].starts_with('?'))?;
        let query = &target[start + 1..];
        Some(query.find('#').map_or(query, |end| &query[..end]))
    }

    /// Every value of header `name`, in order, names compared without regard
    /// to case.
    pub fn header_values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The value of header `name` when the request carries exactly one, as
    /// text ([`header_text`]); `Err(())` when it carries several.
    fn single_header(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(());
        }
        Ok(first.and_then(header_text))
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path_with_query", &self.path_with_query)
            .field("headers", &Redacted(&self.headers))
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// FinConnect's answer: a status, headers (names in lower case) and the
/// whole body.
pub type Response = HttpResponse;

/// Handles one request to FinConnect's HTTP API without a ledger
/// (`finconnect_ledger = off`): the ledger's routes, and any request with
/// `Idempotency-Key`, answer 503. No I/O of its own: provider calls go
/// through `transport`, variables are read from `vars` at call time.
pub fn handle(request: Request, vars: &dyn Variables, transport: &mut dyn Transport) -> Response {
    handle_with(request, &mut Finconnect::new(vars, transport))
}

/// [`handle`] with a prepared [`Finconnect`] (for instance one with the
/// token cache switched on); variables are read through it.
pub fn handle_with(request: Request, finconnect: &mut Finconnect<'_>) -> Response {
    handle_without_ledger::<crate::ledger::MemoryStore>(request, finconnect)
}

/// [`handle_with`] for a shell that also serves with a ledger over store
/// type `S` (and `finconnect_ledger = off` here): the router is then
/// compiled once, for `S`, instead of once more for [`crate::ledger::MemoryStore`].
pub fn handle_without_ledger<S: Store>(
    request: Request,
    finconnect: &mut Finconnect<'_>,
) -> Response {
    serve::<S>(&request, finconnect, None).unwrap_or_else(Problem::into_response)
}

/// Handles one request with the payment ledger: payments are recorded and
/// idempotent, notifications are checked against it before any provider
/// call, verified changes become events. `now_ms` is the host's clock
/// (Unix milliseconds). Webhook deliveries are not attempted here: after
/// answering, the shell calls [`crate::ledger::deliver::deliver_due`].
pub fn handle_ledgered<S: Store>(
    request: Request,
    finconnect: &mut Finconnect<'_>,
    ledger: &Ledger<S>,
    now_ms: u64,
) -> Response {
    serve(&request, finconnect, Some((ledger, now_ms))).unwrap_or_else(Problem::into_response)
}

fn serve<S: Store>(
    request: &Request,
    fc: &mut Finconnect<'_>,
    ledger: Option<(&Ledger<S>, u64)>,
) -> Result<Response, Problem> {
    let vars = fc.variables();
    let (operation, params) = find_route(&request.method, request.path())?;
    check_size(request)?;
    if operation.is_merchant() {
        authorize(request, vars)?;
    }
    // Without the ledger nothing is deduplicated: a caller counting on
    // `Idempotency-Key` must learn that before anything is sent.
    if ledger.is_none()
        && request
            .header_values(crate::ledger::IDEMPOTENCY_KEY_HEADER)
            .next()
            .is_some()
    {
        return Err(ledgered::no_ledger("`Idempotency-Key`"));
    }
    match (operation, ledger) {
        (Operation::CreatePayment, ledger) => {
            require_json(request)?;
            let (provider, payment) = input::payment(&request.body)?;
            match ledger {
                Some((ledger, now)) => {
                    ledgered::create_payment(request, fc, ledger, now, provider, &payment)
                }
                None => {
                    let created = fc
                        .pay(provider, &payment)
                        .map_err(|e| Problem::from_error(&e))?;
                    Ok(created_payment(&created))
                }
            }
        }
        (Operation::RegisterIpn, _) => {
            require_json(request)?;
            let (provider, ipn) = input::ipn_registration(&request.body)?;
            let registered = fc
                .register_ipn(provider, &ipn)
                .map_err(|e| Problem::from_error(&e))?;
            Ok(json(201, &registration_json(&registered)))
        }
        (Operation::PaymentStatus, ledger) => {
            let (provider, id) = status_params(&params)?;
            match ledger {
                Some((ledger, now)) => ledgered::payment_status(fc, ledger, now, provider, &id),
                None => {
                    let details = fc
                        .payment_status(provider, &id)
                        .map_err(|e| Problem::from_error(&e))?;
                    Ok(json(200, &details_json(&details)))
                }
            }
        }
        (Operation::Refund, ledger) => {
            require_json(request)?;
            let (provider, id) = status_params(&params)?;
            let refund = input::refund(&request.body)?;
            refunds::refund(fc, ledger, provider, &id, &refund)
        }
        (Operation::Cancel, ledger) => {
            let (provider, id) = status_params(&params)?;
            refunds::cancel(fc, ledger, provider, &id)
        }
        (Operation::ListIpns, _) => refunds::list_ipns(request, fc),
        (Operation::PreviewPayment, _) => {
            require_json(request)?;
            let (provider, payment, fetch_sender) = input::preview(&request.body)?;
            previews::preview(fc, provider, &payment, fetch_sender)
        }
        (Operation::ListProviderPayments, _) => provider_payments::list(request, fc),
        (Operation::Notification(provider), ledger) => notification(provider, request, fc, ledger),
        (Operation::Payouts(route), ledger) => payouts::serve(route, request, fc, ledger, &params),
        (Operation::ControlNumbers(route), ledger) => {
            control_numbers::serve(route, request, fc, ledger, &params)
        }
        (Operation::ListPayments, Some((ledger, _))) => ledgered::list_payments(request, ledger),
        (Operation::ListEvents, Some((ledger, now))) => ledgered::list_events(request, ledger, now),
        (Operation::Redeliver, Some((ledger, now))) => {
            ledgered::redeliver(fc, ledger, now, &params)
        }
        (Operation::ListPayments | Operation::ListEvents | Operation::Redeliver, None) => {
            Err(ledgered::no_ledger("this route"))
        }
    }
}

/// Finds the route for a method and path: 404 when no template matches the
/// path, 405 (with `Allow`) when templates match but not the method. Gives
/// the route's operation and its `{param}` segments, percent-decoded, in
/// order.
fn find_route(method: &str, path: &str) -> Result<(Operation, Vec<String>), Problem> {
    let mut allowed: Vec<&'static str> = Vec::new();
    for (route_method, template, operation) in route_table() {
        let Some(params) = match_template(template, path) else {
            continue;
        };
        if route_method == method {
            return Ok((operation, params));
        }
        if !allowed.contains(&route_method) {
            allowed.push(route_method);
        }
    }
    if allowed.is_empty() {
        return Err(Problem::new(
            404,
            ProblemCode::NotFound,
            "no such route; see openapi.yaml for the routes FinConnect serves",
        ));
    }
    let allow = allowed.join(", ");
    Err(Problem::new(
        405,
        ProblemCode::MethodNotAllowed,
        format!("this route accepts {allow}"),
    )
    .with_header("allow", allow))
}

/// Matches `path` against a template; returns the `{param}` segments,
/// percent-decoded, in order. Segments are compared first and decoded only
/// once the whole path matched.
fn match_template(template: Template, path: &str) -> Option<Vec<String>> {
    let template = match template {
        Template::Written(template) => template,
        Template::Notifications(name) => {
            return (path.strip_prefix(NOTIFICATIONS) == Some(name)).then(Vec::new);
        }
    };
    // Split as bytes: `/` is ASCII, and a byte predicate is far less code
    // per character in WebAssembly than a `char` pattern's searcher.
    fn segments(text: &str) -> impl Iterator<Item = &[u8]> {
        text.as_bytes().split(|&byte| byte == b'/')
    }
    let is_param = |segment: &[u8]| segment.starts_with(b"{") && segment.ends_with(b"}");
    let mut wanted = segments(template);
    let mut given = segments(path);
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => break,
            (Some(w), Some(g)) if is_param(w) => {
                if g.is_empty() {
                    return None;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
    segments(template)
        .zip(segments(path))
        .filter(|(w, _)| is_param(w))
        .map(|(_, g)| percent_decode(g))
        .collect()
}

/// Decodes `%XX` escapes; `None` for a broken escape or text that is not UTF-8.
fn percent_decode(segment: &[u8]) -> Option<String> {
    let hex = |at: usize| char::from(*segment.get(at)?).to_digit(16);
    let mut out = Vec::with_capacity(segment.len());
    let mut i = 0;
    while let Some(&byte) = segment.get(i) {
        if byte == b'%' {
            let value = hex(i + 1)? << 4 | hex(i + 2)?;
            out.push(u8::try_from(value).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// 413 when the body, or any `Content-Length` the client declared, is over
/// [`MAX_BODY_BYTES`].
fn check_size(request: &Request) -> Result<(), Problem> {
    let declared_too_large = request
        .header_values("content-length")
        .filter_map(header_text)
        .filter_map(|text| text.trim().parse::<u64>().ok())
        .any(|length| length > MAX_BODY_BYTES as u64);
    if declared_too_large || request.body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            413,
            ProblemCode::PayloadTooLarge,
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Checks `Authorization: Bearer <finconnect_api_key>`. The key is read now,
/// never cached; when it is not set every merchant route is closed (503).
/// Both sides are hashed before the constant-time comparison, so neither
/// the key's bytes nor its length leak through timing.
fn authorize(request: &Request, vars: &dyn Variables) -> Result<(), Problem> {
    let variable = names::FINCONNECT_API_KEY;
    let not_configured = |why: &str| {
        Problem::new(
            503,
            ProblemCode::NotConfigured,
            format!(
                "the merchant API is closed: variable `{variable}` {why}; set it as a component \
                 variable (environment form SPIN_VARIABLE_{})",
                variable.to_ascii_uppercase()
            ),
        )
    };
    let expected = match config::optional(vars, variable) {
        Ok(Some(key)) => Secret::new(key),
        Ok(None) => return Err(not_configured("is not set")),
        Err(_) => return Err(not_configured("could not be read from the host")),
    };
    let unauthorized = |detail: &str| {
        Problem::new(401, ProblemCode::Unauthorized, detail)
            .with_header("www-authenticate", "Bearer")
    };
    let Some(presented) = bearer_token(request) else {
        return Err(unauthorized(
            "send `Authorization: Bearer <key>` with the key set in `finconnect_api_key`",
        ));
    };
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.expose().as_bytes());
    if bool::from(presented.as_slice().ct_eq(expected.as_slice())) {
        Ok(())
    } else {
        Err(unauthorized("the bearer key is not valid"))
    }
}

/// The token of the single `Authorization: Bearer <token>` header.
fn bearer_token(request: &Request) -> Option<&str> {
    let value = request.single_header("authorization").ok()??;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// JSON routes take `application/json`, parameters (charset) allowed.
fn require_json(request: &Request) -> Result<(), Problem> {
    if is_json(request) == Some(true) {
        Ok(())
    } else {
        Err(not_json())
    }
}

fn not_json() -> Problem {
    Problem::new(
        415,
        ProblemCode::UnsupportedMediaType,
        "send the body as `Content-Type: application/json`",
    )
    .with_header("accept-post", "application/json")
}

/// `Some(true)` for `application/json`, `Some(false)` for another type,
/// `None` without a (readable) `Content-Type`. Two of them are `Some(false)`.
fn is_json(request: &Request) -> Option<bool> {
    let Ok(value) = request.single_header("content-type") else {
        return Some(false);
    };
    let text = value?;
    let essence = text.split(';').next().unwrap_or_default().trim();
    Some(essence.eq_ignore_ascii_case("application/json"))
}

fn status_params(params: &[String]) -> Result<(Provider, String), Problem> {
    let [provider, id] = params else {
        return Err(Problem::new(404, ProblemCode::NotFound, "no such route"));
    };
    let provider = provider.parse::<Provider>().map_err(|_| {
        Problem::new(
            404,
            ProblemCode::NotFound,
            format!(
                "unknown provider in the path; use {}",
                Provider::names_for_message()
            ),
        )
    })?;
    Ok((provider, id.clone()))
}

/// A provider's notification: read and verified by its connector (by a
/// signature, or by asking the provider for the status it only hints at),
/// then answered with the exact acknowledgement the provider expects.
/// Nothing in a notification is trusted before that.
fn notification<S: Store>(
    provider: Provider,
    request: &Request,
    fc: &mut Finconnect<'_>,
    ledger: Option<(&Ledger<S>, u64)>,
) -> Result<Response, Problem> {
    // ClickPesa sends every event to one merchant-level URL when no
    // application webhook is set: payout events go to the payout handling.
    if payouts::is_payout_webhook(provider, request) {
        return payouts::serve(PayoutRoute::Webhook, request, fc, ledger, &[]);
    }
    let incoming = Incoming {
        method: &request.method,
        query: request.query(),
        headers: &request.headers,
        body: &request.body,
    };
    // With the ledger, an id FinConnect never issued is refused and a
    // settled payment answered from the record, before any provider call.
    let mut answered = false;
    // A payment to a control number FinConnect created (ClickPesa BillPay):
    // admitted through the number, then recorded on its own.
    let mut control_number: Option<String> = None;
    let notified = match ledger {
        None => fc.notification(provider, &incoming),
        Some((ledger, now)) => {
            let mut gate = |lookup: Lookup<'_>| {
                let admission = match lookup {
                    Lookup::Id(id) => ledger.admit(provider, id, now),
                    Lookup::Untracked(reference) => ledger.admit_untracked(provider, reference),
                };
                match (admission, lookup) {
                    (Ok(Admission::Refuse), Lookup::Id(id))
                        if ledger.knows_control_number(provider, id).unwrap_or(false) =>
                    {
                        control_number = Some(id.to_owned());
                        Gate::Verify
                    }
                    (Ok(Admission::Refuse), _) => Gate::Refuse,
                    (Ok(Admission::Answer(record)), _) => {
                        answered = true;
                        Gate::Answer(record.details())
                    }
                    // A store that fails to answer does not stop verification.
                    (Ok(Admission::Verify(_)) | Err(_), _) => Gate::Verify,
                }
            };
            fc.notification_gated(provider, &incoming, &mut gate)
        }
    };
    if let (
        Some((ledger, now)),
        Ok(Notified {
            outcome: Ok(details),
            ..
        }),
        Some(number),
    ) = (ledger, &notified, &control_number)
    {
        // A payment to a control number: a record of its own, once.
        let _ = ledger.observe_control_number_payment(details, number, fc.time_ms(now));
    } else if let (
        Some((ledger, now)),
        Ok(Notified {
            outcome: Ok(details),
            recurring: Some(account),
            ..
        }),
    ) = (ledger, &notified)
    {
        // A new charge of a recurring schedule: a record of its own.
        let _ = ledger.observe_recurring(details, account, fc.time_ms(now));
    } else if let (
        Some((ledger, now)),
        Ok(Notified {
            outcome: Ok(details),
            ..
        }),
        false,
    ) = (ledger, &notified, answered)
    {
        // The acknowledgement goes out even if recording fails: the
        // provider repeats notifications it thinks were lost, and a status
        // query records the change later.
        let _ = ledger.observe(details, fc.time_ms(now));
    }
    Ok(notification_answer(&notified))
}

/// The answer to a notification, given what [`Finconnect::notification`]
/// made of it: the provider's acknowledgement when it was read (whether or
/// not its verification succeeded), else a problem (400, 401, 415, or the
/// failed call's status). The HTTP route sends it; the WIT export hands it
/// to the consumer, so both answer the provider alike.
pub fn notification_answer(notified: &Result<Notified, NotificationError>) -> Response {
    let problem = match notified {
        Ok(notified) => {
            return notified
                .response
                .clone()
                .with_header("cache-control", "no-store")
                .with_header("x-content-type-options", "nosniff");
        }
        Err(NotificationError::Malformed { field, reason }) => Problem::invalid(400, field, reason),
        Err(NotificationError::Unverified { field, reason }) => Problem::new(
            401,
            ProblemCode::Unauthorized,
            format!("the notification's `{field}` {reason}"),
        )
        .with_field(*field),
        Err(NotificationError::NotJson) => not_json(),
        Err(NotificationError::Failed(error)) => Problem::from_error(error),
    };
    problem.into_response()
}

fn created_payment(payment: &Payment) -> Response {
    let mut response = json(201, &payment_json(payment));
    // GET /payments/{provider}/{id} takes the id the provider's status
    // query takes.
    let id = payment.provider.info().status_key.of(payment);
    let path_safe = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if path_safe {
        let location = format!("/payments/{}/{id}", payment.provider.as_str());
        response = response.with_header("location", location);
    }
    response
}

/// A response with a body and a content type. Nothing is cached anywhere.
fn respond(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
    Response::new(status, body)
        .with_header("content-type", content_type)
        .with_header("cache-control", "no-store")
        .with_header("x-content-type-options", "nosniff")
}

fn json<T: Serialize>(status: u16, body: &T) -> Response {
    // Success bodies are structs of strings and booleans: serde_json
    // always writes them.
    respond(
        status,
        "application/json",
        serde_json::to_vec(body).unwrap_or_default(),
    )
}

// Success bodies always carry every member, `null` when absent; only
// problems leave members out.

/// `201` body of `POST /payments`.
#[derive(Serialize)]
struct PaymentJson<'a> {
    provider: &'a str,
    reference: &'a str,
    tracking_id: &'a str,
    redirect_url: Option<&'a str>,
    status: &'a str,
}

fn payment_json(payment: &Payment) -> PaymentJson<'_> {
    PaymentJson {
        provider: payment.provider.as_str(),
        reference: &payment.reference,
        tracking_id: &payment.tracking_id,
        redirect_url: payment.redirect_url.as_deref(),
        status: payment.status.as_str(),
    }
}

/// `201` body of `POST /ipn-registrations`.
#[derive(Serialize)]
struct RegistrationJson<'a> {
    provider: &'a str,
    ipn_id: &'a str,
    url: &'a str,
    notification_type: &'a str,
    created_date: Option<&'a str>,
}

fn registration_json(registration: &IpnRegistration) -> RegistrationJson<'_> {
    RegistrationJson {
        provider: registration.provider.as_str(),
        ipn_id: &registration.ipn_id,
        url: &registration.url,
        notification_type: registration.notification_type.as_str(),
        created_date: registration.created_date.as_deref(),
    }
}

/// `200` body of `GET /payments/{provider}/{id}`.
#[derive(Serialize)]
struct DetailsJson<'a> {
    provider: &'a str,
    reference: Option<&'a str>,
    tracking_id: Option<&'a str>,
    status: &'a str,
    amount: Option<&'a str>,
    currency: Option<&'a str>,
    method: Option<&'a str>,
    confirmation_code: Option<&'a str>,
    description: Option<&'a str>,
}

fn details_json(details: &PaymentDetails) -> DetailsJson<'_> {
    DetailsJson {
        provider: details.provider.as_str(),
        reference: details.reference.as_deref(),
        tracking_id: details.tracking_id.as_deref(),
        status: details.status.as_str(),
        amount: details.amount.as_deref(),
        currency: details.currency.as_deref(),
        method: details.method.as_deref(),
        confirmation_code: details.confirmation_code.as_deref(),
        description: details.description.as_deref(),
    }
}

#[cfg(test)]
mod tests;
