//! Error responses: `application/problem+json` (RFC 9457) with a stable
//! FinConnect `code`, and the one mapping from [`Error`] to status and code.

use crate::domain::Provider;
use crate::error::Error;
use serde::Serialize;

/// Every problem `type` is this base followed by the problem's code
/// (`urn:finconnect:problem:provider_timeout`). A URN names the problem type
/// without pointing at a web host the project does not control; RFC 9457
/// allows a `type` that is not a locator, and clients switch on `code` anyway.
pub const PROBLEM_TYPE_BASE: &str = "urn:finconnect:problem:";

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The stable problem codes clients switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemCode {
    /// Malformed JSON (400) or a well-formed body with a wrong value (422).
    InvalidRequest,
    /// Missing or wrong bearer key, or a webhook whose checksum fails (401).
    Unauthorized,
    /// A variable FinConnect needs is not set (500; 503 for the API key).
    NotConfigured,
    /// The provider rejected FinConnect's credentials (502).
    ProviderAuthFailed,
    /// The provider said no (502).
    ProviderError,
    /// The provider answered something FinConnect cannot read (502); the
    /// request may have been carried out, so ask for its status first.
    ProviderUnreadableReply,
    /// The provider could not be reached or dropped the connection (502).
    ProviderUnavailable,
    /// The provider did not answer in time (504).
    ProviderTimeout,
    /// The provider does not offer the operation through FinConnect (422).
    Unsupported,
    /// No such route, or no such provider in a path (404).
    NotFound,
    /// The route exists with other methods (405).
    MethodNotAllowed,
    /// The body is larger than [`super::MAX_BODY_BYTES`] (413).
    PayloadTooLarge,
    /// A JSON route got another content type (415).
    UnsupportedMediaType,
    /// The `Idempotency-Key` was used before for a different request (422).
    IdempotencyKeyReused,
    /// A request with this `Idempotency-Key` is still being processed (409).
    RequestInProgress,
    /// An earlier attempt with this key may or may not have started a
    /// payment, and FinConnect could not find out (409).
    OutcomeUnknown,
    /// The ledger's key-value store failed (503).
    LedgerUnavailable,
    /// The provider balance does not cover a payout and its fee (422).
    InsufficientBalance,
    /// The provider's payout cooldown: another payout request is still
    /// being processed; retry after `Retry-After` seconds (409).
    PayoutCooldown,
    /// The payout's network or bank is not supported by the provider (422).
    UnsupportedChannelProvider,
    /// The provider has seen this order reference before; nothing was
    /// paid this time (409).
    ReferenceReused,
    /// A Lipa Namba / TanQR payout's receiver is not resolved: preview it
    /// before creating it (422).
    ReceiverUnresolved,
}

impl ProblemCode {
    /// Every code, in a stable order.
    pub const ALL: [ProblemCode; 22] = [
        ProblemCode::InvalidRequest,
        ProblemCode::Unauthorized,
        ProblemCode::NotConfigured,
        ProblemCode::ProviderAuthFailed,
        ProblemCode::ProviderError,
        ProblemCode::ProviderUnreadableReply,
        ProblemCode::ProviderUnavailable,
        ProblemCode::ProviderTimeout,
        ProblemCode::Unsupported,
        ProblemCode::NotFound,
        ProblemCode::MethodNotAllowed,
        ProblemCode::PayloadTooLarge,
        ProblemCode::UnsupportedMediaType,
        ProblemCode::IdempotencyKeyReused,
        ProblemCode::RequestInProgress,
        ProblemCode::OutcomeUnknown,
        ProblemCode::LedgerUnavailable,
        ProblemCode::InsufficientBalance,
        ProblemCode::PayoutCooldown,
        ProblemCode::UnsupportedChannelProvider,
        ProblemCode::ReferenceReused,
        ProblemCode::ReceiverUnresolved,
    ];

    /// The snake_case code (`"provider_timeout"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::InvalidRequest => "invalid_request",
            ProblemCode::Unauthorized => "unauthorized",
            ProblemCode::NotConfigured => "not_configured",
            ProblemCode::ProviderAuthFailed => "provider_auth_failed",
            ProblemCode::ProviderError => "provider_error",
            ProblemCode::ProviderUnreadableReply => "provider_unreadable_reply",
            ProblemCode::ProviderUnavailable => "provider_unavailable",
            ProblemCode::ProviderTimeout => "provider_timeout",
            ProblemCode::Unsupported => "unsupported",
            ProblemCode::NotFound => "not_found",
            ProblemCode::MethodNotAllowed => "method_not_allowed",
            ProblemCode::PayloadTooLarge => "payload_too_large",
            ProblemCode::UnsupportedMediaType => "unsupported_media_type",
            ProblemCode::IdempotencyKeyReused => "idempotency_key_reused",
            ProblemCode::RequestInProgress => "request_in_progress",
            ProblemCode::OutcomeUnknown => "outcome_unknown",
            ProblemCode::LedgerUnavailable => "ledger_unavailable",
            ProblemCode::InsufficientBalance => "insufficient_balance",
            ProblemCode::PayoutCooldown => "payout_cooldown",
            ProblemCode::UnsupportedChannelProvider => "unsupported_channel_provider",
            ProblemCode::ReferenceReused => "reference_reused",
            ProblemCode::ReceiverUnresolved => "receiver_unresolved",
        }
    }

    /// A short, fixed summary of the problem type.
    pub fn title(self) -> &'static str {
        match self {
            ProblemCode::InvalidRequest => "The request is invalid",
            ProblemCode::Unauthorized => "Authentication is required",
            ProblemCode::NotConfigured => "FinConnect is not configured",
            ProblemCode::ProviderAuthFailed => "The provider rejected FinConnect's credentials",
            ProblemCode::ProviderError => "The provider refused the request",
            ProblemCode::ProviderUnreadableReply => "The provider's reply could not be read",
            ProblemCode::ProviderUnavailable => "The provider could not be reached",
            ProblemCode::ProviderTimeout => "The provider did not answer in time",
            ProblemCode::Unsupported => "The provider does not support this",
            ProblemCode::NotFound => "Not found",
            ProblemCode::MethodNotAllowed => "Method not allowed",
            ProblemCode::PayloadTooLarge => "The body is too large",
            ProblemCode::UnsupportedMediaType => "Unsupported content type",
            ProblemCode::IdempotencyKeyReused => "The idempotency key was used for another request",
            ProblemCode::RequestInProgress => "A request with this idempotency key is in progress",
            ProblemCode::OutcomeUnknown => "The outcome of an earlier attempt is unknown",
            ProblemCode::LedgerUnavailable => "The ledger's store is unavailable",
            ProblemCode::InsufficientBalance => "The balance does not cover the payout",
            ProblemCode::PayoutCooldown => "Another payout request is still being processed",
            ProblemCode::UnsupportedChannelProvider => {
                "The payout's network or bank is not supported"
            }
            ProblemCode::ReferenceReused => "The order reference was used before",
            ProblemCode::ReceiverUnresolved => "The payout's receiver is not resolved yet",
        }
    }

    /// The problem `type` URI.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.as_str())
    }
}

/// The one mapping from a FinConnect error to an HTTP status and a code.
pub fn status_and_code(error: &Error) -> (u16, ProblemCode) {
    match error {
        Error::InvalidRequest { .. } => (422, ProblemCode::InvalidRequest),
        Error::Configuration { .. } => (500, ProblemCode::NotConfigured),
        Error::Authentication { .. } => (502, ProblemCode::ProviderAuthFailed),
        Error::Provider(_) => (502, ProblemCode::ProviderError),
        Error::UnreadableReply { .. } => (502, ProblemCode::ProviderUnreadableReply),
        Error::Transport { .. } => (502, ProblemCode::ProviderUnavailable),
        Error::Timeout { .. } => (504, ProblemCode::ProviderTimeout),
        Error::Unsupported { .. } => (422, ProblemCode::Unsupported),
    }
}

/// An error response. Built only from FinConnect's own words and from
/// [`Error`] values, which never hold a credential; request headers are
/// never copied into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    status: u16,
    code: ProblemCode,
    detail: String,
    field: Option<String>,
    provider: Option<Box<ProviderSide>>,
    headers: Vec<(&'static str, String)>,
}

/// What a provider said, for problems caused by a provider. Boxed: most
/// problems have none, and a small `Problem` keeps `Result`s cheap.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ProviderSide {
    provider: &'static str,
    code: Option<String>,
    message: Option<String>,
    status: Option<u16>,
}

impl ProviderSide {
    fn new(provider: Provider) -> Box<Self> {
        Box::new(Self {
            provider: provider.as_str(),
            code: None,
            message: None,
            status: None,
        })
    }
}

impl Problem {
    /// A problem with a status, a code and a human explanation.
    pub fn new(status: u16, code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            provider: None,
            headers: Vec::new(),
        }
    }

    /// A 4xx `invalid_request` naming the offending field.
    pub fn invalid(status: u16, field: &str, reason: &str) -> Self {
        Self::new(
            status,
            ProblemCode::InvalidRequest,
            format!("`{field}` {reason}"),
        )
        .with_field(field)
    }

    /// The problem for an error, status and code from [`status_and_code`].
    pub fn from_error(error: &Error) -> Self {
        let (status, code) = status_and_code(error);
        match error {
            Error::InvalidRequest { field, reason } => Self::invalid(status, field, reason),
            Error::Configuration { variable, problem } => Self::new(
                status,
                code,
                format!(
                    "variable `{variable}` {problem}; set it as a component variable \
                     (environment form SPIN_VARIABLE_{})",
                    variable.to_ascii_uppercase()
                ),
            ),
            Error::Authentication { provider, message } => {
                let mut problem = Self::new(
                    status,
                    code,
                    format!("{provider} rejected FinConnect's credentials; check its variables"),
                );
                let mut side = ProviderSide::new(*provider);
                side.message = Some(message.clone());
                problem.provider = Some(side);
                problem
            }
            Error::Provider(refusal) => {
                let mut problem = Self::new(status, code, error.to_string());
                let mut side = ProviderSide::new(refusal.provider);
                side.code = refusal.code.clone();
                side.message = Some(refusal.message.clone());
                side.status = Some(refusal.http_status);
                problem.provider = Some(side);
                problem
            }
            // The provider's status, not its words: an unreadable reply is
            // never copied into a response.
            Error::UnreadableReply {
                provider,
                http_status,
                ..
            } => {
                let mut problem = Self::new(status, code, error.to_string());
                let mut side = ProviderSide::new(*provider);
                side.status = Some(*http_status);
                problem.provider = Some(side);
                problem
            }
            Error::Transport { provider, .. }
            | Error::Timeout { provider, .. }
            | Error::Unsupported { provider, .. } => {
                let mut problem = Self::new(status, code, error.to_string());
                problem.provider = Some(ProviderSide::new(*provider));
                problem
            }
        }
    }

    /// A provider's refusal of a payout, with FinConnect's own status and
    /// code, the provider's message kept as data.
    pub(super) fn payout_refusal(
        status: u16,
        code: ProblemCode,
        provider: Provider,
        detail: impl Into<String>,
        message: &str,
    ) -> Self {
        let mut problem = Self::new(status, code, detail);
        let mut side = ProviderSide::new(provider);
        side.message = Some(message.to_owned());
        problem.provider = Some(side);
        problem
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a response header (`allow`, `www-authenticate`, ...); `name`
    /// in lower case, `value` FinConnect's own text.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The FinConnect code.
    pub fn code(&self) -> ProblemCode {
        self.code
    }

    /// The offending field, for invalid requests.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The human explanation.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The `application/problem+json` body: members in the order RFC 9457
    /// lists them, then FinConnect's; optional ones left out when empty.
    pub fn to_json(&self) -> Vec<u8> {
        let side = self.provider.as_deref();
        let body = ProblemJson {
            type_uri: self.code.type_uri(),
            title: self.code.title(),
            status: self.status,
            detail: &self.detail,
            code: self.code.as_str(),
            field: self.field.as_deref(),
            provider: side.map(|s| s.provider),
            provider_code: side.and_then(|s| s.code.as_deref()),
            provider_message: side.and_then(|s| s.message.as_deref()),
            provider_status: side.and_then(|s| s.status),
        };
        // Strings and numbers only: serde_json always writes them.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The complete HTTP response.
    pub fn into_response(self) -> super::Response {
        let mut response = super::respond(self.status, PROBLEM_CONTENT_TYPE, self.to_json());
        for (name, value) in self.headers {
            response = response.with_header(name, value);
        }
        response
    }
}

/// The problem body as it is written.
#[derive(Serialize)]
struct ProblemJson<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_status: Option<u16>,
}

impl From<&Error> for Problem {
    fn from(error: &Error) -> Self {
        Problem::from_error(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProviderError;

    #[test]
    fn every_error_maps_to_the_contract_status_and_code() {
        let cases = [
            (Error::invalid("amount", "is bad"), 422, "invalid_request"),
            (Error::config("x", "is not set"), 500, "not_configured"),
            (
                Error::Authentication {
                    provider: Provider::Pesapal,
                    message: "no".to_owned(),
                },
                502,
                "provider_auth_failed",
            ),
            (
                Error::Provider(ProviderError {
                    provider: Provider::Pesapal,
                    http_status: 200,
                    code: None,
                    message: "no".to_owned(),
                }),
                502,
                "provider_error",
            ),
            (
                Error::unexpected(Provider::Clickpesa, 500, "html"),
                502,
                "provider_unreadable_reply",
            ),
            (
                Error::Transport {
                    provider: Provider::Pesapal,
                    message: "refused".to_owned(),
                },
                502,
                "provider_unavailable",
            ),
            (
                Error::Timeout {
                    provider: Provider::Pesapal,
                    message: "20 s".to_owned(),
                },
                504,
                "provider_timeout",
            ),
            (
                Error::Unsupported {
                    provider: Provider::Clickpesa,
                    operation: "x".to_owned(),
                    detail: "y".to_owned(),
                },
                422,
                "unsupported",
            ),
        ];
        for (error, status, code) in cases {
            let (got_status, got_code) = status_and_code(&error);
            assert_eq!((got_status, got_code.as_str()), (status, code));
        }
    }

    #[test]
    fn provider_errors_carry_the_provider_s_words() {
        let error = Error::Provider(ProviderError {
            provider: Provider::Pesapal,
            http_status: 200,
            code: Some("duplicate_order_reference".to_owned()),
            message: "Order already exists".to_owned(),
        });
        let json: serde_json::Value =
            serde_json::from_slice(&Problem::from_error(&error).to_json()).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "urn:finconnect:problem:provider_error",
                "title": "The provider refused the request",
                "status": 502,
                "detail": "PesaPal answered HTTP 200 (duplicate_order_reference): Order already exists",
                "code": "provider_error",
                "provider": "pesapal",
                "provider_code": "duplicate_order_reference",
                "provider_message": "Order already exists",
                "provider_status": 200
            })
        );
    }

    #[test]
    fn problem_bodies_list_members_in_rfc_order_and_leave_out_absent_ones() {
        let text = |problem: Problem| String::from_utf8_lossy(&problem.to_json()).into_owned();
        let refusal = Error::Provider(ProviderError {
            provider: Provider::Clickpesa,
            http_status: 409,
            code: None,
            message: "Order \"ORDER1\" already used".to_owned(),
        });
        let cases = [
            (
                Problem::new(404, ProblemCode::NotFound, "no such route"),
                r#"{"type":"urn:finconnect:problem:not_found","title":"Not found","status":404,"detail":"no such route","code":"not_found"}"#,
            ),
            (
                Problem::invalid(400, "body", "is not \"JSON\""),
                r#"{"type":"urn:finconnect:problem:invalid_request","title":"The request is invalid","status":400,"detail":"`body` is not \"JSON\"","code":"invalid_request","field":"body"}"#,
            ),
            (
                Problem::from_error(&refusal),
                r#"{"type":"urn:finconnect:problem:provider_error","title":"The provider refused the request","status":502,"detail":"ClickPesa answered HTTP 409: Order \"ORDER1\" already used","code":"provider_error","provider":"clickpesa","provider_message":"Order \"ORDER1\" already used","provider_status":409}"#,
            ),
            (
                Problem::from_error(&Error::Authentication {
                    provider: Provider::Pesapal,
                    message: "no".to_owned(),
                }),
                r#"{"type":"urn:finconnect:problem:provider_auth_failed","title":"The provider rejected FinConnect's credentials","status":502,"detail":"PesaPal rejected FinConnect's credentials; check its variables","code":"provider_auth_failed","provider":"pesapal","provider_message":"no"}"#,
            ),
            (
                Problem::from_error(&Error::unexpected(
                    Provider::Clickpesa,
                    500,
                    "an HTML page instead of JSON",
                )),
                r#"{"type":"urn:finconnect:problem:provider_unreadable_reply","title":"The provider's reply could not be read","status":502,"detail":"ClickPesa answered HTTP 500 with a reply FinConnect cannot read: an HTML page instead of JSON","code":"provider_unreadable_reply","provider":"clickpesa","provider_status":500}"#,
            ),
        ];
        for (problem, expected) in cases {
            assert_eq!(text(problem), expected);
        }
    }

    #[test]
    fn codes_are_distinct_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ProblemCode::ALL {
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert!(seen.insert(code.as_str()), "{code:?} repeated");
        }
    }
}
