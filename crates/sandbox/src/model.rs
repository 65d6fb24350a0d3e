//! The public data types: configuration, what was recorded, payments and
//! deliveries.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Credentials the sandbox accepts and how it signs and delivers.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// PesaPal `consumer_key` accepted by `Auth/RequestToken`.
    pub pesapal_consumer_key: String,
    /// PesaPal `consumer_secret` accepted by `Auth/RequestToken`.
    pub pesapal_consumer_secret: String,
    /// ClickPesa `client-id` header accepted by `generate-token`.
    pub clickpesa_client_id: String,
    /// ClickPesa `api-key` header accepted by `generate-token`.
    pub clickpesa_api_key: String,
    /// When set, ClickPesa initiate requests must carry a valid `checksum`
    /// and webhooks are signed with it.
    pub clickpesa_checksum_key: Option<String>,
    /// Where ClickPesa webhooks are delivered (plain `http://` only).
    pub clickpesa_webhook_url: Option<String>,
    /// Lifetime of PesaPal tokens: `expiryDate` = issue time + this.
    pub token_ttl: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            pesapal_consumer_key: "sandbox-pesapal-key".to_owned(),
            pesapal_consumer_secret: "sandbox-pesapal-secret".to_owned(),
            clickpesa_client_id: "sandbox-clickpesa-client".to_owned(),
            clickpesa_api_key: "sandbox-clickpesa-key".to_owned(),
            clickpesa_checksum_key: None,
            clickpesa_webhook_url: None,
            token_ttl: Duration::from_secs(300),
        }
    }
}

impl fmt::Debug for SandboxConfig {
    // The values are throwaway sandbox credentials, but keep them out of
    // logs anyway so that real keys pasted here do not leak.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("pesapal_consumer_key", &"[redacted]")
            .field("pesapal_consumer_secret", &"[redacted]")
            .field("clickpesa_client_id", &"[redacted]")
            .field("clickpesa_api_key", &"[redacted]")
            .field(
                "clickpesa_checksum_key",
                &self.clickpesa_checksum_key.as_ref().map(|_| "[redacted]"),
            )
            .field("clickpesa_webhook_url", &self.clickpesa_webhook_url)
            .field("token_ttl", &self.token_ttl)
            .finish()
    }
}

/// One HTTP request received on a provider path (`/pesapalv3/…` or
/// `/third-parties/…`), exactly as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The full path, prefix included, e.g. `/pesapalv3/api/Auth/RequestToken`.
    pub path: String,
    /// The raw query string without `?`.
    pub query: Option<String>,
    /// Header names in lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// When the body is not JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How a payment ends when the sandbox settles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Paid: PesaPal `status_code` 1, ClickPesa `SUCCESS` / `PAYMENT RECEIVED`.
    Completed,
    /// Not paid: PesaPal `status_code` 2, ClickPesa `FAILED` / `PAYMENT FAILED`.
    Failed,
    /// Paid then returned: PesaPal `status_code` 3 (ClickPesa has no
    /// collection reversal webhook, so it refuses this outcome).
    Reversed,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Reversed => "reversed",
        })
    }
}

/// Where a sandbox payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Created, not settled (PesaPal "INVALID"/pending, ClickPesa `PROCESSING`).
    Pending,
    /// Settled as paid.
    Completed,
    /// Settled as not paid.
    Failed,
    /// Paid then reversed (PesaPal only).
    Reversed,
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaymentState::Pending => "pending",
            PaymentState::Completed => "completed",
            PaymentState::Failed => "failed",
            PaymentState::Reversed => "reversed",
        })
    }
}

impl From<Outcome> for PaymentState {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Completed => PaymentState::Completed,
            Outcome::Failed => PaymentState::Failed,
            Outcome::Reversed => PaymentState::Reversed,
        }
    }
}

/// The HTTP method PesaPal uses to call an IPN URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum IpnMethod {
    /// Query-string parameters (`notification_type` 0).
    #[serde(rename = "GET")]
    Get,
    /// JSON body (`notification_type` 1).
    #[serde(rename = "POST")]
    Post,
}

impl IpnMethod {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            IpnMethod::Get => "GET",
            IpnMethod::Post => "POST",
        }
    }
}

/// A PesaPal IPN registration (`URLSetup/RegisterIPN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpnRegistration {
    /// PesaPal's internal numeric id.
    pub id: u64,
    /// The GUID sent back as `ipn_id` (FinConnect's `notification_id`).
    pub ipn_id: String,
    /// The registered URL.
    pub url: String,
    /// How notifications are sent.
    pub method: IpnMethod,
    /// UTC, seven fractional digits.
    pub created_date: String,
}

/// A PesaPal order (`Transactions/SubmitOrderRequest`) and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PesapalOrder {
    /// The GUID PesaPal assigned.
    pub order_tracking_id: String,
    /// The merchant's `id`.
    pub merchant_reference: String,
    /// The exact text of the JSON number that was sent (`"1500.00"`).
    pub amount: String,
    /// ISO 4217 code as sent.
    pub currency: String,
    /// As sent.
    pub description: String,
    /// As sent.
    pub callback_url: String,
    /// As sent, if any.
    pub cancellation_url: Option<String>,
    /// The IPN registration the order points at.
    pub notification_id: String,
    /// `billing_address.email_address`, if sent.
    pub email_address: Option<String>,
    /// `billing_address.phone_number`, if sent.
    pub phone_number: Option<String>,
    /// Where the order stands.
    pub state: PaymentState,
    /// Set once the order is completed.
    pub confirmation_code: Option<String>,
    /// The method chosen on the hosted page (`MpesaKE`, `Visa`, …), as
    /// GetTransactionStatus reports it; `None` until then (an order settled
    /// through the control API reports `MpesaKE`).
    pub payment_method: Option<String>,
    /// EAT, no offset (as GetTransactionStatus reports it).
    pub created_date: String,
}

/// A ClickPesa USSD-push payment (`payments/initiate-ussd-push-request`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClickpesaPayment {
    /// ClickPesa's id (`<orderReference>LCP<suffix>`).
    pub id: String,
    /// The merchant's `orderReference`.
    pub order_reference: String,
    /// The `amount` string as sent.
    pub amount: String,
    /// Always `TZS`.
    pub currency: String,
    /// The `phoneNumber` as sent.
    pub phone_number: String,
    /// The mobile-money channel reported.
    pub channel: String,
    /// Where the payment stands.
    pub state: PaymentState,
    /// Set once the payment succeeded.
    pub payment_reference: Option<String>,
    /// UTC milliseconds.
    pub created_at: String,
    /// UTC milliseconds.
    pub updated_at: String,
}

/// One notification the sandbox sent (PesaPal IPN or ClickPesa webhook)
/// and what the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The full target URL (query included for GET IPNs); `None` when no
    /// URL was configured, so nothing was sent.
    pub url: Option<String>,
    /// `GET` or `POST`.
    pub method: String,
    /// The receiver's HTTP status; `None` when nothing answered.
    pub status: Option<u16>,
    /// The receiver's response body (lossy UTF-8).
    pub body: String,
    /// The body that was sent (empty for GET IPNs).
    pub request_body: String,
    /// Why nothing answered (connection refused, timeout, unsupported URL…).
    pub error: Option<String>,
}

impl Delivery {
    /// True when the receiver answered with a 2xx status.
    pub fn is_success(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
}

/// Why a settle call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// No PesaPal order has this `order_tracking_id`.
    #[error("no pesapal order with order_tracking_id {0}")]
    UnknownPesapalOrder(String),
    /// No ClickPesa payment has this `orderReference`.
    #[error("no clickpesa payment with orderReference {0}")]
    UnknownClickpesaPayment(String),
    /// The payment cannot move from its current state to the outcome.
    #[error("cannot settle a {from} payment as {to}")]
    InvalidTransition {
        /// Current state.
        from: PaymentState,
        /// Requested outcome.
        to: Outcome,
    },
    /// The provider has no such behaviour.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The sandbox was shut down while the call was in progress.
    #[error("the sandbox has stopped")]
    Stopped,
}
