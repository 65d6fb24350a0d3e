//! FinConnect's HTTP API as one pure function: [`handle`] takes a request
//! whose body has already been read and returns the whole response. Provider
//! calls go through the caller's [`Transport`]; variables are read from the
//! caller's [`Variables`] on every request, so a changed key takes effect at
//! once.
//!
//! The routes are listed once, in [`ROUTES`]; `openapi.yaml` at the
//! repository root describes the same set (a test keeps them equal).
//!
//! Order of checks for every request: route (404), method (405), size
//! (413), then for merchant routes the bearer key (503 when unset, 401 when
//! wrong), content type (415), body (400/422), and only then provider calls.

mod input;
mod problem;

pub use problem::{PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, Problem, ProblemCode, status_and_code};

use crate::config::{self, Variables, names};
use crate::domain::{IpnRegistration, Payment, PaymentDetails, Provider};
use crate::flow::Finconnect;
use crate::json::{Object, Value};
use crate::providers::clickpesa::webhook::{self, WebhookError, WebhookEvent};
use crate::providers::pesapal::ipn;
use crate::secret::Secret;
use crate::transport::Transport;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
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
    /// `GET` or `POST /notifications/pesapal`.
    PesapalNotification,
    /// `POST /notifications/clickpesa`.
    ClickpesaWebhook,
}

impl Operation {
    /// Merchant routes need `Authorization: Bearer <finconnect_api_key>`;
    /// provider callbacks are public and verified instead.
    pub fn is_merchant(self) -> bool {
        match self {
            Operation::CreatePayment | Operation::RegisterIpn | Operation::PaymentStatus => true,
            Operation::PesapalNotification | Operation::ClickpesaWebhook => false,
        }
    }
}

/// One route: a method, a path template (`{name}` matches one non-empty
/// segment), and what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template, as written in `openapi.yaml`.
    pub path: &'static str,
    /// What the route does.
    pub operation: Operation,
}

/// Every route FinConnect serves. The router and the OpenAPI test both read
/// this table.
pub const ROUTES: [Route; 6] = [
    Route {
        method: "POST",
        path: "/payments",
        operation: Operation::CreatePayment,
    },
    Route {
        method: "GET",
        path: "/payments/{provider}/{id}",
        operation: Operation::PaymentStatus,
    },
    Route {
        method: "POST",
        path: "/ipn-registrations",
        operation: Operation::RegisterIpn,
    },
    Route {
        method: "GET",
        path: "/notifications/pesapal",
        operation: Operation::PesapalNotification,
    },
    Route {
        method: "POST",
        path: "/notifications/pesapal",
        operation: Operation::PesapalNotification,
    },
    Route {
        method: "POST",
        path: "/notifications/clickpesa",
        operation: Operation::ClickpesaWebhook,
    },
];

/// Handles one request to FinConnect's HTTP API. No I/O of its own: provider calls go through `transport`, variables are read from `vars` at call time.
pub fn handle(
    request: http::Request<Vec<u8>>,
    vars: &dyn Variables,
    transport: &mut dyn Transport,
) -> http::Response<Vec<u8>> {
    handle_with(request, &mut Finconnect::new(vars, transport))
}

/// [`handle`] with a prepared [`Finconnect`] (for instance one with the
/// token cache switched on); variables are read through it.
pub fn handle_with(
    request: http::Request<Vec<u8>>,
    finconnect: &mut Finconnect<'_>,
) -> http::Response<Vec<u8>> {
    serve(&request, finconnect).unwrap_or_else(Problem::into_response)
}

type Response = http::Response<Vec<u8>>;

fn serve(request: &http::Request<Vec<u8>>, fc: &mut Finconnect<'_>) -> Result<Response, Problem> {
    let vars = fc.variables();
    let (route, params) = find_route(request.method(), request.uri().path())?;
    check_size(request)?;
    if route.operation.is_merchant() {
        authorize(request.headers(), vars)?;
    }
    match route.operation {
        Operation::CreatePayment => {
            require_json(request.headers())?;
            let (provider, payment) = input::payment(request.body())?;
            let created = fc
                .pay(provider, &payment)
                .map_err(|e| Problem::from_error(&e))?;
            Ok(created_payment(&created))
        }
        Operation::RegisterIpn => {
            require_json(request.headers())?;
            let (provider, ipn) = input::ipn_registration(request.body())?;
            let registered = fc
                .register_ipn(provider, &ipn)
                .map_err(|e| Problem::from_error(&e))?;
            Ok(json(StatusCode::CREATED, registration_json(&registered)))
        }
        Operation::PaymentStatus => {
            let (provider, id) = status_params(&params)?;
            let details = fc
                .payment_status(provider, &id)
                .map_err(|e| Problem::from_error(&e))?;
            Ok(json(StatusCode::OK, details_json(&details)))
        }
        Operation::PesapalNotification => pesapal_notification(request, fc),
        Operation::ClickpesaWebhook => clickpesa_webhook(request, vars),
    }
}

/// Finds the route for a method and path: 404 when no template matches the
/// path, 405 (with `Allow`) when templates match but not the method.
fn find_route(method: &Method, path: &str) -> Result<(Route, Vec<String>), Problem> {
    let mut allowed: Vec<&'static str> = Vec::new();
    for route in ROUTES {
        let Some(params) = match_template(route.path, path) else {
            continue;
        };
        if route.method == method.as_str() {
            return Ok((route, params));
        }
        if !allowed.contains(&route.method) {
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "no such route; see openapi.yaml for the routes FinConnect serves",
        ));
    }
    let allow = allowed.join(", ");
    let mut problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ProblemCode::MethodNotAllowed,
        format!("this route accepts {allow}"),
    );
    if let Ok(value) = HeaderValue::from_str(&allow) {
        problem = problem.with_header(header::ALLOW, value);
    }
    Err(problem)
}

/// Matches `path` against a template; returns the `{param}` segments,
/// percent-decoded, in order.
fn match_template(template: &str, path: &str) -> Option<Vec<String>> {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                params.push(percent_decode(g)?);
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Decodes `%XX` escapes; `None` for a broken escape or text that is not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn check_size(request: &http::Request<Vec<u8>>) -> Result<(), Problem> {
    let declared_too_large = request
        .headers()
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|text| text.trim().parse::<u64>().ok())
        .any(|length| length > MAX_BODY_BYTES as u64);
    if declared_too_large || request.body().len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
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
fn authorize(headers: &http::HeaderMap, vars: &dyn Variables) -> Result<(), Problem> {
    let variable = names::FINCONNECT_API_KEY;
    let not_configured = |why: &str| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
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
        Problem::new(StatusCode::UNAUTHORIZED, ProblemCode::Unauthorized, detail)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    };
    let Some(presented) = bearer_token(headers) else {
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
fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// JSON routes take `application/json`, parameters (charset) allowed.
fn require_json(headers: &http::HeaderMap) -> Result<(), Problem> {
    if is_json(headers) == Some(true) {
        Ok(())
    } else {
        Err(not_json())
    }
}

fn not_json() -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ProblemCode::UnsupportedMediaType,
        "send the body as `Content-Type: application/json`",
    )
    .with_header(
        HeaderName::from_static("accept-post"),
        HeaderValue::from_static("application/json"),
    )
}

/// `Some(true)` for `application/json`, `Some(false)` for another type,
/// `None` without a (readable, single) `Content-Type`.
fn is_json(headers: &http::HeaderMap) -> Option<bool> {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return Some(false);
    }
    let text = value.to_str().ok()?;
    let essence = text.split(';').next().unwrap_or_default().trim();
    Some(essence.eq_ignore_ascii_case("application/json"))
}

fn status_params(params: &[String]) -> Result<(Provider, String), Problem> {
    let [provider, id] = params else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "no such route",
        ));
    };
    let provider = provider.parse::<Provider>().map_err(|_| {
        Problem::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "unknown provider in the path; use `pesapal` or `clickpesa`",
        )
    })?;
    Ok((provider, id.clone()))
}

/// PesaPal IPN: never trusted. The notification only names an order; its
/// state comes from GetTransactionStatus. PesaPal always gets HTTP 200 with
/// its acknowledgement, `status` 200 when the status call succeeded and 500
/// when it did not (so PesaPal retries). The verified state is exposed in
/// `FinConnect-*` headers, leaving the acknowledgement bytes exact.
fn pesapal_notification(
    request: &http::Request<Vec<u8>>,
    fc: &mut Finconnect<'_>,
) -> Result<Response, Problem> {
    let body: &[u8] = if request.method() == Method::POST {
        request.body()
    } else {
        &[]
    };
    // Without its ids a notification cannot even be acknowledged: 400.
    let notification = ipn::parse(request.uri().query(), body).map_err(|error| match &error {
        crate::Error::InvalidRequest { field, reason } => {
            Problem::invalid(StatusCode::BAD_REQUEST, field, reason)
        }
        other => Problem::from_error(other),
    })?;
    let verified = fc.payment_status(Provider::Pesapal, &notification.order_tracking_id);
    let mut response = respond(
        StatusCode::OK,
        "application/json",
        ipn::ack(&notification, verified.is_ok()),
    );
    if let Ok(details) = verified {
        let headers = response.headers_mut();
        let mut put = |name: &'static str, value: Option<&str>| {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        put(PAYMENT_STATUS_HEADER, Some(details.status.as_str()));
        put(PAYMENT_REFERENCE_HEADER, details.reference.as_deref());
        put(
            TRACKING_ID_HEADER,
            Some(
                details
                    .tracking_id
                    .as_deref()
                    .unwrap_or(&notification.order_tracking_id),
            ),
        );
    }
    Ok(response)
}

/// ClickPesa webhook: verified by its checksum when `clickpesa_checksum_key`
/// is set (a missing or wrong checksum is 401), answered with the event
/// field by field, never the raw body (ClickPesa includes its `clientId`).
fn clickpesa_webhook(
    request: &http::Request<Vec<u8>>,
    vars: &dyn Variables,
) -> Result<Response, Problem> {
    // ClickPesa's content type is not documented: absent is tolerated,
    // anything other than JSON is refused.
    if is_json(request.headers()) == Some(false) {
        return Err(not_json());
    }
    let checksum_key = config::optional(vars, names::CLICKPESA_CHECKSUM_KEY)
        .map_err(|e| Problem::from_error(&e))?
        .map(Secret::new);
    input::well_formed(request.body())?;
    let event =
        webhook::parse(request.body(), checksum_key.as_ref()).map_err(|error| match error {
            WebhookError::Unverified(why) => Problem::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::Unauthorized,
                format!("the webhook checksum {why}; it is checked with `clickpesa_checksum_key`"),
            )
            .with_field("checksum"),
            WebhookError::Invalid(error) => Problem::from_error(&error),
        })?;
    Ok(json(StatusCode::OK, event_json(&event)))
}

fn created_payment(payment: &Payment) -> Response {
    let mut response = json(StatusCode::CREATED, payment_json(payment));
    // GET /payments/{provider}/{id} takes PesaPal's tracking id and
    // ClickPesa's order reference.
    let id = match payment.provider {
        Provider::Pesapal => &payment.tracking_id,
        Provider::Clickpesa => &payment.reference,
    };
    let path_safe = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if path_safe {
        let location = format!("/payments/{}/{id}", payment.provider.as_str());
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    response
}

/// A response with a body and a content type. Nothing is cached anywhere.
fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn json(status: StatusCode, body: Object) -> Response {
    respond(status, "application/json", body.to_vec())
}

/// An optional value of a success body: `null` when absent (success bodies
/// always carry every member; only problems leave members out).
fn or_null(value: Option<&str>) -> Value {
    value.map_or(Value::Null, Value::from)
}

/// `201` body of `POST /payments`.
fn payment_json(payment: &Payment) -> Object {
    Object::new()
        .field("provider", payment.provider.as_str())
        .field("reference", payment.reference.as_str())
        .field("tracking_id", payment.tracking_id.as_str())
        .field("redirect_url", or_null(payment.redirect_url.as_deref()))
        .field("status", payment.status.as_str())
}

/// `201` body of `POST /ipn-registrations`.
fn registration_json(registration: &IpnRegistration) -> Object {
    Object::new()
        .field("provider", registration.provider.as_str())
        .field("ipn_id", registration.ipn_id.as_str())
        .field("url", registration.url.as_str())
        .field("notification_type", registration.notification_type.as_str())
        .field(
            "created_date",
            or_null(registration.created_date.as_deref()),
        )
}

/// `200` body of `GET /payments/{provider}/{id}`.
fn details_json(details: &PaymentDetails) -> Object {
    Object::new()
        .field("provider", details.provider.as_str())
        .field("reference", or_null(details.reference.as_deref()))
        .field("tracking_id", or_null(details.tracking_id.as_deref()))
        .field("status", details.status.as_str())
        .field("amount", or_null(details.amount.as_deref()))
        .field("currency", or_null(details.currency.as_deref()))
        .field("method", or_null(details.method.as_deref()))
        .field(
            "confirmation_code",
            or_null(details.confirmation_code.as_deref()),
        )
        .field("description", or_null(details.description.as_deref()))
}

/// `200` body of `POST /notifications/clickpesa`.
fn event_json(event: &WebhookEvent) -> Object {
    Object::new()
        .field("event", event.event.as_str())
        .field("order_reference", or_null(event.order_reference.as_deref()))
        .field("tracking_id", or_null(event.tracking_id.as_deref()))
        .field("status", event.status.as_str())
        .field("amount", or_null(event.amount.as_deref()))
        .field("currency", or_null(event.currency.as_deref()))
        .field("channel", or_null(event.channel.as_deref()))
        .field("message", or_null(event.message.as_deref()))
        .field("verified", event.verified)
}

#[cfg(test)]
mod tests;
