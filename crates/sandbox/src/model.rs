//! The public data types: configuration, what was recorded, payments and
//! deliveries.

use std::fmt;
use std::time::Duration;

use finconnect_core::Provider;
use finconnect_core::config::names;
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
    /// M-Pesa Daraja consumer key (the user half of the OAuth Basic header).
    pub mpesa_consumer_key: String,
    /// M-Pesa Daraja consumer secret (the password half).
    pub mpesa_consumer_secret: String,
    /// The Lipa na M-Pesa Online shortcode (`BusinessShortCode`, and
    /// `PartyB` for paybill pushes).
    pub mpesa_shortcode: String,
    /// The STK passkey: `Password` = base64(shortcode ‖ passkey ‖ Timestamp).
    pub mpesa_passkey: String,
    /// The till number accepted as `PartyB` with `CustomerBuyGoodsOnline`.
    pub mpesa_till_number: String,
    /// Lifetime of Daraja access tokens (`expires_in` reports it in seconds).
    pub mpesa_token_ttl: Duration,
    /// Daraja behaviours that vary or are uncertain.
    pub mpesa_options: MpesaOptions,
}

/// Daraja consumer key the sandbox accepts by default.
pub const MPESA_CONSUMER_KEY: &str = "sandbox-mpesa-key";
/// Daraja consumer secret the sandbox accepts by default.
pub const MPESA_CONSUMER_SECRET: &str = "sandbox-mpesa-secret";
/// The public Daraja sandbox STK shortcode.
pub const MPESA_SHORTCODE: &str = "174379";
/// The public Daraja sandbox STK passkey (published by Safaricom for its
/// sandbox; not a secret).
pub const MPESA_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
/// The till number the sandbox accepts as `PartyB` for Buy Goods pushes.
pub const MPESA_TILL_NUMBER: &str = "174380";
/// The public Daraja sandbox test MSISDN.
pub const MPESA_TEST_MSISDN: &str = "254708374149";

/// Daraja behaviours that are optional, uncertain or seen both ways; each
/// defaults to the most common observation. Changeable at run time
/// ([`crate::Sandbox::set_mpesa_options`], `PUT /_sandbox/mpesa/options`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MpesaOptions {
    /// `expires_in` as a JSON number (`3599`) instead of the observed
    /// string (`"3599"`).
    pub expires_in_as_number: bool,
    /// Issuing a token invalidates the token issued before it to the same
    /// consumer key (Daraja's FAQ says so; unverified). Off by default.
    pub reissue_invalidates_previous: bool,
    /// The callback `Amount` as `1.00` (2017–2023 captures) instead of `1`
    /// (2026 captures).
    pub callback_amount_decimals: bool,
    /// Wrong consumer key/secret: HTTP 400 with an empty body instead of
    /// the `400.008.01` JSON error.
    pub wrong_credentials_empty_body: bool,
    /// Prefix `Wrong credentials` with `[MerchantValidate] - ` (older answers).
    pub merchant_validate_prefix: bool,
    /// Query `ResponseDescription` with the observed "successsfully" typo.
    pub query_description_typo: bool,
    /// Mixed into `MerchantRequestID`, `requestId` and receipt numbers, which
    /// otherwise follow a per-sandbox counter (same seed, same sequence).
    pub seed: u64,
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
            mpesa_consumer_key: MPESA_CONSUMER_KEY.to_owned(),
            mpesa_consumer_secret: MPESA_CONSUMER_SECRET.to_owned(),
            mpesa_shortcode: MPESA_SHORTCODE.to_owned(),
            mpesa_passkey: MPESA_PASSKEY.to_owned(),
            mpesa_till_number: MPESA_TILL_NUMBER.to_owned(),
            mpesa_token_ttl: Duration::from_secs(3599),
            mpesa_options: MpesaOptions::default(),
        }
    }
}

impl SandboxConfig {
    /// The FinConnect variables (names as the component reads them) that
    /// give it this sandbox's credentials for `provider`. With the base URL
    /// from [`crate::Sandbox::base_url`], FinConnect talks to the sandbox.
    pub fn finconnect_variables(&self, provider: Provider) -> Vec<(&'static str, String)> {
        match provider {
            Provider::Pesapal => vec![
                (
                    names::PESAPAL_CONSUMER_KEY,
                    self.pesapal_consumer_key.clone(),
                ),
                (
                    names::PESAPAL_CONSUMER_SECRET,
                    self.pesapal_consumer_secret.clone(),
                ),
            ],
            Provider::Clickpesa => {
                let mut variables = vec![
                    (names::CLICKPESA_CLIENT_ID, self.clickpesa_client_id.clone()),
                    (names::CLICKPESA_API_KEY, self.clickpesa_api_key.clone()),
                ];
                if let Some(key) = &self.clickpesa_checksum_key {
                    variables.push((names::CLICKPESA_CHECKSUM_KEY, key.clone()));
                }
                variables
            }
            Provider::Mpesa => vec![
                (names::MPESA_CONSUMER_KEY, self.mpesa_consumer_key.clone()),
                (
                    names::MPESA_CONSUMER_SECRET,
                    self.mpesa_consumer_secret.clone(),
                ),
                (names::MPESA_PASSKEY, self.mpesa_passkey.clone()),
                (names::MPESA_SHORTCODE, self.mpesa_shortcode.clone()),
            ],
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
            .field("mpesa_consumer_key", &"[redacted]")
            .field("mpesa_consumer_secret", &"[redacted]")
            .field("mpesa_shortcode", &self.mpesa_shortcode)
            .field("mpesa_passkey", &"[redacted]")
            .field("mpesa_till_number", &self.mpesa_till_number)
            .field("mpesa_token_ttl", &self.mpesa_token_ttl)
            .field("mpesa_options", &self.mpesa_options)
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
    /// Cancelled through `CancelOrder`: it can no longer be paid, and its
    /// status reports FAILED (PesaPal does not document which state a
    /// cancelled order reports; this is the sandbox's choice).
    pub cancelled: bool,
    /// The amount of the refund asked through `RefundRequest` (one per
    /// payment), as sent; the control API's `reversed` completes it.
    pub refund_amount: Option<String>,
    /// `account_number` and `subscription_details`, when the order offered
    /// a recurring schedule.
    pub subscription: Option<PesapalSubscription>,
    /// For a charge of a recurring schedule: the tracking id of the order
    /// that set it up.
    pub recurring_of: Option<String>,
}

/// The recurring part of a PesaPal order, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PesapalSubscription {
    /// `account_number`: every charge names it as its merchant reference.
    pub account_number: String,
    /// `subscription_details.start_date` (`dd-MM-yyyy`), if sent.
    pub start_date: Option<String>,
    /// `subscription_details.end_date` (`dd-MM-yyyy`), if sent.
    pub end_date: Option<String>,
    /// `subscription_details.frequency`, if sent.
    pub frequency: Option<String>,
}

/// A ClickPesa collection: a USSD push (`payments/initiate-ussd-push-request`),
/// a checkout link or a card payment link ([`ClickpesaKind`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClickpesaPayment {
    /// ClickPesa's id (`<orderReference>LCP<suffix>`).
    pub id: String,
    /// The merchant's `orderReference`.
    pub order_reference: String,
    /// The `amount` string as sent.
    pub amount: String,
    /// `TZS` (USSD push), `TZS` or `USD` (checkout link), `USD` (card).
    pub currency: String,
    /// The `phoneNumber` as sent (the customer's phone for the hosted
    /// pages, empty when none was given).
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
    /// How it was started: USSD push, checkout link or card link.
    pub kind: ClickpesaKind,
}

/// How a ClickPesa collection was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClickpesaKind {
    /// `payments/initiate-ussd-push-request`: a prompt on the handset.
    UssdPush,
    /// `checkout-link/generate-checkout-url`: a hosted checkout page.
    CheckoutLink,
    /// `payments/initiate-card-payment`: a hosted card page.
    Card,
    /// A payment to a BillPay control number (`/_sandbox/clickpesa/billpay/{number}/pay`).
    BillPay,
}

/// How an M-Pesa STK push ends: the `ResultCode` the callback and the query
/// report (codes and texts from Daraja's result-code table and captures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StkResult {
    /// `0`: paid.
    Success,
    /// `1`: the balance is insufficient.
    InsufficientFunds,
    /// `17`: same amount to the same customer within 2 minutes.
    RuleLimited,
    /// `1001`: another session on the phone.
    SubscriberLocked,
    /// `1019`: the transaction expired.
    Expired,
    /// `1025`: the push could not be sent (prompt too long).
    PushError,
    /// `1032`: the customer dismissed the prompt.
    CancelledByUser,
    /// `1037`: no response from the customer (the sandbox MSISDN's fate).
    NoResponse,
    /// `2001`: wrong M-Pesa PIN.
    WrongPin,
    /// `2028`: wrong TransactionType / PartyB for the product.
    NotPermitted,
    /// `8006`: the customer's PIN is locked.
    CredentialLocked,
    /// `"SFC_IC0003"`: a non-numeric code (till pushes with a wrong PartyB).
    OperatorDoesNotExist,
}

impl StkResult {
    /// Every result, in code order.
    pub const ALL: [StkResult; 12] = [
        StkResult::Success,
        StkResult::InsufficientFunds,
        StkResult::RuleLimited,
        StkResult::SubscriberLocked,
        StkResult::Expired,
        StkResult::PushError,
        StkResult::CancelledByUser,
        StkResult::NoResponse,
        StkResult::WrongPin,
        StkResult::NotPermitted,
        StkResult::CredentialLocked,
        StkResult::OperatorDoesNotExist,
    ];

    /// The `ResultCode` as text (`"0"`, `"1032"`, `"SFC_IC0003"`).
    pub fn code(self) -> &'static str {
        match self {
            StkResult::Success => "0",
            StkResult::InsufficientFunds => "1",
            StkResult::RuleLimited => "17",
            StkResult::SubscriberLocked => "1001",
            StkResult::Expired => "1019",
            StkResult::PushError => "1025",
            StkResult::CancelledByUser => "1032",
            StkResult::NoResponse => "1037",
            StkResult::WrongPin => "2001",
            StkResult::NotPermitted => "2028",
            StkResult::CredentialLocked => "8006",
            StkResult::OperatorDoesNotExist => "SFC_IC0003",
        }
    }

    /// The `ResultDesc` the sandbox sends.
    pub fn description(self) -> &'static str {
        match self {
            StkResult::Success => "The service request is processed successfully.",
            StkResult::InsufficientFunds => "The balance is insufficient for the transaction.",
            StkResult::RuleLimited => "Rule limited.",
            StkResult::SubscriberLocked => {
                "Unable to lock subscriber, a transaction is already in process for the current subscriber"
            }
            StkResult::Expired => "Transaction has expired.",
            StkResult::PushError => "An error occurred while sending a push request.",
            StkResult::CancelledByUser => "Request cancelled by user",
            StkResult::NoResponse => "No response from user.",
            StkResult::WrongPin => "[MpesaCB - ]The initiator information is invalid.",
            StkResult::NotPermitted => {
                "The request is not permitted according to product assignment."
            }
            StkResult::CredentialLocked => "The security credential is locked.",
            StkResult::OperatorDoesNotExist => "The operator does not exist.",
        }
    }

    /// The snake_case name used by the control API (`cancelled_by_user`).
    pub fn name(self) -> &'static str {
        match self {
            StkResult::Success => "success",
            StkResult::InsufficientFunds => "insufficient_funds",
            StkResult::RuleLimited => "rule_limited",
            StkResult::SubscriberLocked => "subscriber_locked",
            StkResult::Expired => "expired",
            StkResult::PushError => "push_error",
            StkResult::CancelledByUser => "cancelled_by_user",
            StkResult::NoResponse => "no_response",
            StkResult::WrongPin => "wrong_pin",
            StkResult::NotPermitted => "not_permitted",
            StkResult::CredentialLocked => "credential_locked",
            StkResult::OperatorDoesNotExist => "operator_does_not_exist",
        }
    }

    /// The result with this name or code (`"cancelled_by_user"` or `"1032"`).
    pub fn parse(text: &str) -> Option<StkResult> {
        StkResult::ALL
            .into_iter()
            .find(|r| r.name() == text || r.code() == text)
    }

    /// True only for `0`.
    pub fn is_success(self) -> bool {
        self == StkResult::Success
    }
}

impl fmt::Display for StkResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name())
    }
}

/// An M-Pesa STK push (`mpesa/stkpush/v1/processrequest`) and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MpesaStkPush {
    /// Daraja's `MerchantRequestID`.
    pub merchant_request_id: String,
    /// Daraja's `CheckoutRequestID` (`ws_CO_…`).
    pub checkout_request_id: String,
    /// `BusinessShortCode` as digits.
    pub business_short_code: String,
    /// `CustomerPayBillOnline` or `CustomerBuyGoodsOnline`.
    pub transaction_type: String,
    /// Whole KES.
    pub amount: u64,
    /// `PartyA` as digits.
    pub party_a: String,
    /// `PartyB` as digits.
    pub party_b: String,
    /// `PhoneNumber` (the prompted MSISDN) as digits.
    pub phone_number: String,
    /// Where the callback goes.
    pub callback_url: String,
    /// As sent.
    pub account_reference: String,
    /// As sent, if any.
    pub transaction_desc: Option<String>,
    /// Pending until settled; then completed (`0`) or failed (any other code).
    pub state: PaymentState,
    /// The result once settled.
    pub result: Option<StkResult>,
    /// `MpesaReceiptNumber`, once settled as paid.
    pub receipt_number: Option<String>,
    /// `TransactionDate` (EAT `YYYYMMDDHHmmss`), once settled.
    pub transaction_date: Option<String>,
    /// When the push was accepted (EAT `YYYYMMDDHHmmss`).
    pub created_at: String,
}

/// One notification the sandbox sent (PesaPal IPN, ClickPesa webhook or
/// M-Pesa STK callback)
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
    /// No M-Pesa STK push has this `CheckoutRequestID`.
    #[error("no m-pesa stk push with CheckoutRequestID {0}")]
    UnknownMpesaCheckout(String),
    /// The STK push already ended with another result (Daraja results are final).
    #[error(
        "m-pesa stk push {checkout_request_id} already ended with {current}; cannot settle it as {requested}"
    )]
    MpesaAlreadySettled {
        /// The push.
        checkout_request_id: String,
        /// Its result.
        current: StkResult,
        /// The result asked for.
        requested: StkResult,
    },
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
