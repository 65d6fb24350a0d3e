//! Fault injection: which endpoint misbehaves, how, and how many times.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use http_body::Frame;
use serde_json::{Value, json};

/// The provider endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Every provider request.
    Any,
    /// Every PesaPal request.
    AnyPesapal,
    /// Every ClickPesa request.
    AnyClickpesa,
    /// `POST /api/Auth/RequestToken`.
    PesapalToken,
    /// `POST /api/URLSetup/RegisterIPN`.
    PesapalRegisterIpn,
    /// `GET /api/URLSetup/GetIpnList`.
    PesapalIpnList,
    /// `POST /api/Transactions/SubmitOrderRequest`.
    PesapalSubmitOrder,
    /// `GET /api/Transactions/GetTransactionStatus`.
    PesapalStatus,
    /// `POST /api/Transactions/RefundRequest`.
    PesapalRefund,
    /// `POST /api/Transactions/CancelOrder`.
    PesapalCancel,
    /// `POST /generate-token`.
    ClickpesaToken,
    /// `POST /payments/initiate-ussd-push-request`.
    ClickpesaUssdPush,
    /// `GET /payments/{orderReference}`.
    ClickpesaQuery,
    /// `POST /checkout-link/generate-checkout-url`.
    ClickpesaCheckoutLink,
    /// `POST /payments/initiate-card-payment`.
    ClickpesaCardPayment,
    /// `POST /payments/preview-ussd-push-request` and `/payments/preview-card-payment`.
    ClickpesaPreview,
    /// `GET /payments/all`.
    ClickpesaList,
    /// Every M-Pesa Daraja request.
    AnyMpesa,
    /// `GET /oauth/v1/generate`.
    MpesaToken,
    /// `POST /mpesa/stkpush/v1/processrequest`.
    MpesaStkPush,
    /// `POST /mpesa/stkpushquery/v1/query`.
    MpesaStkQuery,
}

/// Which provider a request went to: the core's registry, so a provider
/// added there does not compile here until the sandbox emulates it.
pub(crate) use finconnect_core::Provider;

impl Target {
    /// Every target, in the order the control API lists them.
    pub const ALL: [Target; 21] = [
        Target::Any,
        Target::AnyPesapal,
        Target::AnyClickpesa,
        Target::PesapalToken,
        Target::PesapalRegisterIpn,
        Target::PesapalIpnList,
        Target::PesapalSubmitOrder,
        Target::PesapalStatus,
        Target::PesapalRefund,
        Target::PesapalCancel,
        Target::ClickpesaToken,
        Target::ClickpesaUssdPush,
        Target::ClickpesaQuery,
        Target::ClickpesaCheckoutLink,
        Target::ClickpesaCardPayment,
        Target::ClickpesaPreview,
        Target::ClickpesaList,
        Target::AnyMpesa,
        Target::MpesaToken,
        Target::MpesaStkPush,
        Target::MpesaStkQuery,
    ];

    /// The snake_case name used by the HTTP control API.
    pub fn name(self) -> &'static str {
        match self {
            Target::Any => "any",
            Target::AnyPesapal => "pesapal",
            Target::AnyClickpesa => "clickpesa",
            Target::PesapalToken => "pesapal_token",
            Target::PesapalRegisterIpn => "pesapal_register_ipn",
            Target::PesapalIpnList => "pesapal_ipn_list",
            Target::PesapalSubmitOrder => "pesapal_submit_order",
            Target::PesapalStatus => "pesapal_status",
            Target::PesapalRefund => "pesapal_refund",
            Target::PesapalCancel => "pesapal_cancel",
            Target::ClickpesaToken => "clickpesa_token",
            Target::ClickpesaUssdPush => "clickpesa_ussd_push",
            Target::ClickpesaQuery => "clickpesa_query",
            Target::ClickpesaCheckoutLink => "clickpesa_checkout_link",
            Target::ClickpesaCardPayment => "clickpesa_card_payment",
            Target::ClickpesaPreview => "clickpesa_preview",
            Target::ClickpesaList => "clickpesa_list",
            Target::AnyMpesa => "mpesa",
            Target::MpesaToken => "mpesa_token",
            Target::MpesaStkPush => "mpesa_stk_push",
            Target::MpesaStkQuery => "mpesa_stk_query",
        }
    }

    /// The target called `name` (see [`Target::name`]).
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether a fault aimed at `self` applies to a request that hit
    /// `endpoint` (an exact target, or `None` for an unknown path) of
    /// `provider`.
    pub(crate) fn covers(self, provider: Provider, endpoint: Option<Target>) -> bool {
        match self {
            Target::Any => true,
            Target::AnyPesapal => provider == Provider::Pesapal,
            Target::AnyClickpesa => provider == Provider::Clickpesa,
            Target::AnyMpesa => provider == Provider::Mpesa,
            exact => endpoint == Some(exact),
        }
    }

    fn is_token(self) -> bool {
        matches!(
            self,
            Target::PesapalToken | Target::ClickpesaToken | Target::MpesaToken
        )
    }
}

/// How an endpoint misbehaves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// HTTP 500 with an HTML error page, as an edge proxy sends.
    Html500,
    /// HTTP 200, JSON content type, a body that starts as valid JSON and
    /// stops half-way (the `Content-Length` matches what is sent).
    TruncatedJson,
    /// HTTP 200 with a PesaPal-style error envelope (`error` object,
    /// `status` `"500"`).
    ErrorWith200,
    /// Token endpoints issue a token the other endpoints reject; other
    /// endpoints answer as if the caller's token were invalid.
    WrongToken,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Send the status line and headers with a `Content-Length` larger than
    /// the bytes that follow, then drop the connection.
    ResetMidBody,
    /// Answer with this status and body (JSON content type when the body
    /// parses as JSON, plain text otherwise).
    Status(u16, String),
    /// HTTP 500 with Daraja's (Apigee's) throttling error `500.003.02`
    /// "Error Occurred: Spike Arrest Violation" (the same body on any
    /// provider's path).
    SpikeArrest,
    /// HTTP 500 with Daraja's quota error `500.003.03` "Quota Violation".
    QuotaViolation,
}

impl FaultKind {
    /// The snake_case name used by the HTTP control API.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Html500 => "html500",
            FaultKind::TruncatedJson => "truncated_json",
            FaultKind::ErrorWith200 => "error_with_200",
            FaultKind::WrongToken => "wrong_token",
            FaultKind::Slow(_) => "slow",
            FaultKind::ResetMidBody => "reset_mid_body",
            FaultKind::Status(..) => "status",
            FaultKind::SpikeArrest => "spike_arrest",
            FaultKind::QuotaViolation => "quota_violation",
        }
    }
}

/// A fault: `kind` on requests matching `target`, for the next `times`
/// matching requests (`None`: until cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Which requests.
    pub target: Target,
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests it applies to; `None` = until cleared.
    pub times: Option<u32>,
}

impl Fault {
    /// A fault for the next matching request only.
    pub fn once(target: Target, kind: FaultKind) -> Fault {
        Fault {
            target,
            kind,
            times: Some(1),
        }
    }

    /// A fault for the next `times` matching requests.
    pub fn times(target: Target, kind: FaultKind, times: u32) -> Fault {
        Fault {
            target,
            kind,
            times: Some(times),
        }
    }

    /// A fault for every matching request until cleared.
    pub fn always(target: Target, kind: FaultKind) -> Fault {
        Fault {
            target,
            kind,
            times: None,
        }
    }

    /// The JSON form used by the control API.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = json!({
            "target": self.target.name(),
            "kind": self.kind.name(),
            "times": self.times,
        });
        match &self.kind {
            FaultKind::Slow(delay) => {
                out["delay_ms"] = json!(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
            }
            FaultKind::Status(status, body) => {
                out["status"] = json!(status);
                out["body"] = json!(body);
            }
            _ => {}
        }
        out
    }

    /// Reads the control API's JSON form:
    /// `{"target": "pesapal_token", "kind": "slow", "delay_ms": 2000, "times": 1}`.
    pub(crate) fn from_json(value: &Value) -> Result<Fault, String> {
        let target_name = value.get("target").and_then(Value::as_str).unwrap_or("any");
        let target = Target::from_name(target_name).ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            format!(
                "unknown target {target_name:?}; one of {}",
                names.join(", ")
            )
        })?;
        let kind_name = value
            .get("kind")
            .and_then(Value::as_str)
            .ok_or("missing \"kind\"")?;
        let kind = match kind_name {
            "html500" => FaultKind::Html500,
            "truncated_json" => FaultKind::TruncatedJson,
            "error_with_200" => FaultKind::ErrorWith200,
            "wrong_token" => FaultKind::WrongToken,
            "reset_mid_body" => FaultKind::ResetMidBody,
            "spike_arrest" => FaultKind::SpikeArrest,
            "quota_violation" => FaultKind::QuotaViolation,
            "slow" => {
                let ms = value
                    .get("delay_ms")
                    .and_then(Value::as_u64)
                    .ok_or("\"slow\" needs \"delay_ms\" (a non-negative integer)")?;
                FaultKind::Slow(Duration::from_millis(ms))
            }
            "status" => {
                let status = value
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .filter(|s| (100..=599).contains(s))
                    .ok_or("\"status\" needs \"status\" between 100 and 599")?;
                let body = match value.get("body") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                };
                FaultKind::Status(status, body)
            }
            other => {
                return Err(format!(
                    "unknown kind {other:?}; one of html500, truncated_json, error_with_200, \
                     wrong_token, slow, reset_mid_body, status, spike_arrest, quota_violation"
                ));
            }
        };
        let times = match value.get("times") {
            None | Some(Value::Null) => None,
            Some(n) => Some(
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("\"times\" must be a non-negative integer or null")?,
            ),
        };
        Ok(Fault {
            target,
            kind,
            times,
        })
    }
}

/// Finds the first active fault covering the request, counts it down and
/// returns its kind.
pub(crate) fn take(
    faults: &mut Vec<Fault>,
    provider: Provider,
    endpoint: Option<Target>,
) -> Option<FaultKind> {
    faults.retain(|f| f.times != Some(0));
    let index = faults
        .iter()
        .position(|f| f.target.covers(provider, endpoint))?;
    let fault = &mut faults[index];
    let kind = fault.kind.clone();
    if let Some(times) = &mut fault.times {
        *times -= 1;
        if *times == 0 {
            faults.remove(index);
        }
    }
    Some(kind)
}

/// The response a fault produces. `Slow` has none (the caller waits and then
/// handles the request normally).
pub(crate) fn respond(
    kind: &FaultKind,
    provider: Provider,
    endpoint: Option<Target>,
    token: impl FnOnce() -> String,
) -> Option<Response> {
    let response = match kind {
        FaultKind::Slow(_) => return None,
        FaultKind::Html500 => with_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html; charset=UTF-8",
            HTML_500.to_owned(),
        ),
        FaultKind::TruncatedJson => {
            let full = sample_body(provider, endpoint);
            let mut cut = full.len() / 2;
            while !full.is_char_boundary(cut) {
                cut -= 1;
            }
            with_body(StatusCode::OK, JSON, full[..cut].to_owned())
        }
        FaultKind::ErrorWith200 => with_body(
            StatusCode::OK,
            JSON,
            json!({
                "error": {
                    "error_type": "api_error",
                    "code": "internal_server_error",
                    "message": "Injected fault: the request could not be processed"
                },
                "status": "500"
            })
            .to_string(),
        ),
        FaultKind::WrongToken => wrong_token(provider, endpoint, token()),
        FaultKind::ResetMidBody => reset_mid_body(provider, endpoint),
        FaultKind::SpikeArrest => crate::mpesa::gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &crate::mpesa::fault_request_id(),
            "500.003.02",
            "Error Occurred: Spike Arrest Violation",
        ),
        FaultKind::QuotaViolation => crate::mpesa::gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &crate::mpesa::fault_request_id(),
            "500.003.03",
            "Quota Violation",
        ),
        FaultKind::Status(status, body) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let content_type = if serde_json::from_str::<Value>(body).is_ok() {
                JSON
            } else {
                "text/plain; charset=utf-8"
            };
            with_body(status, content_type, body.clone())
        }
    };
    Some(response)
}

const JSON: &str = "application/json; charset=utf-8";

const HTML_500: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>Internal server error | finconnect-sandbox edge</title>\n</head>\n<body>\n\
<h1>Error 500</h1>\n<p>Internal server error.</p>\n\
<p>The web server reported an error while handling this request (injected by finconnect-sandbox).</p>\n\
<p>Ray ID: sandbox &bull; Performance &amp; security by an imaginary edge proxy</p>\n\
</body>\n</html>\n";

fn with_body(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A plausible successful body for the endpoint; `TruncatedJson` and
/// `ResetMidBody` send a prefix of it.
fn sample_body(provider: Provider, endpoint: Option<Target>) -> String {
    let value = match (provider, endpoint) {
        (_, Some(Target::PesapalToken)) => json!({
            "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJmaW5jb25uZWN0LXNhbmRib3gifQ.c2FuZGJveA",
            "expiryDate": "2024-03-18T16:25:45.7793772Z",
            "error": null,
            "status": "200",
            "message": "Request processed successfully"
        }),
        (_, Some(Target::ClickpesaToken)) => json!({
            "success": true,
            "token": "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJmaW5jb25uZWN0LXNhbmRib3gifQ.c2FuZGJveA"
        }),
        (_, Some(Target::PesapalStatus)) => json!({
            "payment_method": "MpesaKE",
            "amount": 1500.00,
            "created_date": "2024-03-18T18:25:46.75",
            "confirmation_code": "SANDBOX0000",
            "order_tracking_id": "00000000-0000-4000-8000-000000000000",
            "payment_status_description": "Completed",
            "description": null,
            "message": "Request processed successfully",
            "payment_account": "2547xxx0000",
            "call_back_url": "http://127.0.0.1/return?OrderTrackingId=00000000-0000-4000-8000-000000000000",
            "status_code": 1,
            "merchant_reference": "SANDBOX-TRUNCATED",
            "payment_status_code": "",
            "currency": "KES",
            "error": {"error_type": null, "code": null, "message": null, "call_back_url": null},
            "status": "200"
        }),
        (_, Some(Target::MpesaToken)) => json!({
            "access_token": "c9SQxWWhmdVRlyh0zh8gZDTkubVF",
            "expires_in": "3599"
        }),
        (_, Some(Target::MpesaStkQuery)) => json!({
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successfully",
            "MerchantRequestID": "ac7b-470b-8df7-23ab3cef38271071873",
            "CheckoutRequestID": "ws_CO_06102026095233123708374149",
            "ResultCode": "0",
            "ResultDesc": "The service request is processed successfully."
        }),
        (Provider::Mpesa, _) => json!({
            "MerchantRequestID": "ac7b-470b-8df7-23ab3cef38271071873",
            "CheckoutRequestID": "ws_CO_06102026095233123708374149",
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing"
        }),
        (Provider::Pesapal, _) => json!({
            "order_tracking_id": "00000000-0000-4000-8000-000000000000",
            "merchant_reference": "SANDBOX-TRUNCATED",
            "redirect_url": "http://127.0.0.1/pesapaliframe/PesapalIframe3/Index?OrderTrackingId=00000000-0000-4000-8000-000000000000",
            "error": null,
            "status": "200"
        }),
        (Provider::Clickpesa, _) => json!([{
            "id": "SANDBOXLCP0000",
            "status": "PROCESSING",
            "orderReference": "SANDBOX",
            "collectedAmount": 1000,
            "collectedCurrency": "TZS",
            "createdAt": "2024-04-10T18:22:16.949Z"
        }]),
    };
    value.to_string()
}

fn wrong_token(provider: Provider, endpoint: Option<Target>, token: String) -> Response {
    match (provider, endpoint.is_some_and(Target::is_token)) {
        (Provider::Pesapal, true) => with_body(
            StatusCode::OK,
            JSON,
            json!({
                "token": token,
                "expiryDate": crate::util::utc_ticks(
                    std::time::SystemTime::now() + Duration::from_secs(300)
                ),
                "error": null,
                "status": "200",
                "message": "Request processed successfully"
            })
            .to_string(),
        ),
        (Provider::Clickpesa, true) => with_body(
            StatusCode::OK,
            JSON,
            json!({"success": true, "token": format!("Bearer {token}")}).to_string(),
        ),
        (Provider::Mpesa, true) => {
            crate::mpesa::token_body(&crate::mpesa::random_token(), 3599, false)
        }
        (Provider::Pesapal, false) => crate::pesapal::invalid_token(),
        (Provider::Clickpesa, false) => crate::clickpesa::unauthorized(),
        (Provider::Mpesa, false) => crate::mpesa::invalid_token(&crate::mpesa::fault_request_id()),
    }
}

/// Headers promising the whole sample body, then half of it, then an error
/// from the body stream, which makes the server abort the connection.
fn reset_mid_body(provider: Provider, endpoint: Option<Target>) -> Response {
    let full = sample_body(provider, endpoint);
    let half = Bytes::from(full.as_bytes()[..full.len() / 2].to_vec());
    let mut response = Response::new(Body::new(Broken {
        chunk: Some(half),
        pause: Some(Box::pin(tokio::time::sleep(Duration::from_millis(50)))),
    }));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(full.len()));
    response
}

/// A body that yields one chunk, waits a moment (so the chunk is flushed to
/// the socket), then fails.
struct Broken {
    chunk: Option<Bytes>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Broken {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(chunk) = self.chunk.take() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(pause) = self.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection reset mid-body",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_count_down_and_disappear() {
        let mut faults = vec![Fault::times(Target::PesapalToken, FaultKind::Html500, 2)];
        let hit = || Some(Target::PesapalToken);
        assert_eq!(
            take(&mut faults, Provider::Pesapal, Some(Target::PesapalStatus)),
            None
        );
        assert_eq!(
            take(&mut faults, Provider::Pesapal, hit()),
            Some(FaultKind::Html500)
        );
        assert_eq!(
            take(&mut faults, Provider::Pesapal, hit()),
            Some(FaultKind::Html500)
        );
        assert_eq!(take(&mut faults, Provider::Pesapal, hit()), None);
        assert!(faults.is_empty());
    }

    #[test]
    fn group_targets_cover_their_provider_only() {
        assert!(Target::AnyPesapal.covers(Provider::Pesapal, None));
        assert!(!Target::AnyPesapal.covers(Provider::Clickpesa, Some(Target::ClickpesaQuery)));
        assert!(Target::Any.covers(Provider::Clickpesa, None));
        assert!(!Target::PesapalStatus.covers(Provider::Pesapal, None));
        assert!(Target::AnyMpesa.covers(Provider::Mpesa, Some(Target::MpesaStkQuery)));
        assert!(!Target::AnyMpesa.covers(Provider::Pesapal, None));
        assert!(!Target::MpesaToken.covers(Provider::Mpesa, Some(Target::MpesaStkPush)));
        for target in Target::ALL {
            assert_eq!(Target::from_name(target.name()), Some(target));
        }
    }

    #[test]
    fn json_form_round_trips() {
        for fault in [
            Fault::once(
                Target::ClickpesaQuery,
                FaultKind::Slow(Duration::from_millis(250)),
            ),
            Fault::always(Target::Any, FaultKind::Status(503, "{\"a\":1}".into())),
            Fault::times(Target::PesapalStatus, FaultKind::ResetMidBody, 3),
            Fault::once(Target::MpesaStkPush, FaultKind::SpikeArrest),
            Fault::always(Target::AnyMpesa, FaultKind::QuotaViolation),
        ] {
            assert_eq!(Fault::from_json(&fault.to_json()), Ok(fault));
        }
        assert!(Fault::from_json(&json!({"kind": "nope"})).is_err());
        assert!(Fault::from_json(&json!({"kind": "status", "status": 42})).is_err());
        assert!(Fault::from_json(&json!({"target": "x", "kind": "html500"})).is_err());
    }
}
