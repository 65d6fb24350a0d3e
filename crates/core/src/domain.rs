//! The provider-neutral vocabulary: what callers ask for and what they get.

use std::str::FromStr;

pub use crate::registry::Provider;

/// Who pays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Customer {
    /// Email address.
    pub email: Option<String>,
    /// Phone number (ClickPesa: `255XXXXXXXXX`).
    pub phone: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: Option<String>,
}

/// How the customer pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentMethod {
    /// Mobile money (ClickPesa USSD push).
    MobileMoney,
    /// Card.
    Card,
    /// Hosted checkout link.
    CheckoutLink,
}

impl PaymentMethod {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::MobileMoney => "mobile_money",
            PaymentMethod::Card => "card",
            PaymentMethod::CheckoutLink => "checkout_link",
        }
    }
}

impl FromStr for PaymentMethod {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            PaymentMethod::MobileMoney,
            PaymentMethod::Card,
            PaymentMethod::CheckoutLink,
        ]
        .into_iter()
        .find(|method| method.as_str() == text)
        .ok_or(())
    }
}

/// PesaPal: which window loads the callback URL when the payment page is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectMode {
    /// The topmost window (PesaPal's default).
    TopWindow,
    /// The immediate parent window.
    ParentWindow,
}

impl RedirectMode {
    /// The name PesaPal uses (`TOP_WINDOW`).
    pub fn as_str(self) -> &'static str {
        match self {
            RedirectMode::TopWindow => "TOP_WINDOW",
            RedirectMode::ParentWindow => "PARENT_WINDOW",
        }
    }
}

impl FromStr for RedirectMode {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "TOP_WINDOW" => Ok(RedirectMode::TopWindow),
            "PARENT_WINDOW" => Ok(RedirectMode::ParentWindow),
            _ => Err(()),
        }
    }
}

/// A request to collect money, as the caller gave it (validated per provider
/// before anything is sent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Merchant reference, unique per payment (also the idempotency key).
    pub reference: String,
    /// Decimal text in major units, at most two decimals.
    pub amount: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// What the customer sees.
    pub description: Option<String>,
    /// Who pays.
    pub customer: Customer,
    /// PesaPal: where the browser returns after paying.
    pub callback_url: Option<String>,
    /// PesaPal: where the browser goes on cancel.
    pub cancellation_url: Option<String>,
    /// PesaPal: the registered IPN id.
    pub notification_id: Option<String>,
    /// How the customer pays; `None` picks the provider's default.
    pub method: Option<PaymentMethod>,
    /// PesaPal: store or branch credited.
    pub branch: Option<String>,
    /// PesaPal: which window loads the callback.
    pub redirect_mode: Option<RedirectMode>,
    /// PesaPal: offer a recurring schedule with this payment.
    pub subscription: Option<crate::recurring::Subscription>,
}

/// Where a payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Waiting for the customer or the network.
    Pending,
    /// Money received.
    Completed,
    /// The attempt failed.
    Failed,
    /// Money returned after completion.
    Reversed,
    /// Cancelled by the merchant before it was paid: the customer can no
    /// longer pay it.
    Cancelled,
    /// A state FinConnect does not know.
    Unknown,
}

impl PaymentStatus {
    /// The lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Completed => "completed",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Reversed => "reversed",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::Unknown => "unknown",
        }
    }
}

/// A payment the provider accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// Who handles it.
    pub provider: Provider,
    /// The merchant reference.
    pub reference: String,
    /// PesaPal `order_tracking_id`; ClickPesa payment `id`.
    pub tracking_id: String,
    /// The hosted page to send the customer to, if the flow has one.
    pub redirect_url: Option<String>,
    /// Where it stands (normally pending).
    pub status: PaymentStatus,
}

/// The HTTP method the provider uses for notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationType {
    /// Query-string GET.
    Get,
    /// POST with a JSON body.
    Post,
}

impl NotificationType {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Get => "GET",
            NotificationType::Post => "POST",
        }
    }
}

impl FromStr for NotificationType {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "GET" => Ok(NotificationType::Get),
            "POST" => Ok(NotificationType::Post),
            _ => Err(()),
        }
    }
}

/// A request to register a notification URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpnRequest {
    /// Absolute http(s) URL the provider will call.
    pub url: String,
    /// How it will call it.
    pub notification_type: NotificationType,
}

/// A registered notification URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpnRegistration {
    /// Who will notify.
    pub provider: Provider,
    /// Pass as `notification_id` when paying.
    pub ipn_id: String,
    /// The registered URL.
    pub url: String,
    /// The method the provider will use.
    pub notification_type: NotificationType,
    /// When the provider registered it, as it wrote it.
    pub created_date: Option<String>,
}

/// What the provider knows of a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentDetails {
    /// Who handles it.
    pub provider: Provider,
    /// The merchant reference.
    pub reference: Option<String>,
    /// The provider's id.
    pub tracking_id: Option<String>,
    /// Where it stands.
    pub status: PaymentStatus,
    /// Amount in major units with two decimals (`"1500.00"`).
    pub amount: Option<String>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Payment method or channel as the provider names it.
    pub method: Option<String>,
    /// The processor's confirmation code.
    pub confirmation_code: Option<String>,
    /// The provider's words about the state.
    pub description: Option<String>,
}

/// A request to give back money of a completed payment. Which payment is
/// named apart (its provider and id), as in `POST /payments/{provider}/{id}/refunds`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefundRequest {
    /// Decimal text in major units, at most two decimals; at most what was paid.
    pub amount: String,
    /// Who asks for the refund (PesaPal `username`).
    pub username: String,
    /// Why (PesaPal `remarks`).
    pub remarks: String,
}

/// A refund the provider accepted as a request. It is not money moved yet:
/// PesaPal finalises it after the merchant's approval, and a later status
/// query reports the payment `reversed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// Who handles it.
    pub provider: Provider,
    /// The payment's id as the caller named it (PesaPal `order_tracking_id`).
    pub tracking_id: String,
    /// The processor's confirmation code of the payment that is refunded.
    pub confirmation_code: String,
    /// The amount asked back, two decimals (`"1500.00"`).
    pub amount: String,
    /// The payment's currency, when the provider reported it.
    pub currency: Option<String>,
    /// The provider's words (`"Refund request successfully"`).
    pub message: Option<String>,
}

/// An order the provider cancelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancellation {
    /// Who handles it.
    pub provider: Provider,
    /// The order's id (PesaPal `order_tracking_id`).
    pub tracking_id: String,
    /// The provider's words (`"Order successfully cancelled."`).
    pub message: Option<String>,
}

/// One notification URL the provider has on record for the merchant
/// (PesaPal `GetIpnList`). Members beyond `ipn_id` and `url` are not
/// documented for every row, so they are optional.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpnListing {
    /// Who holds it.
    pub provider: Provider,
    /// The id to pass as `notification_id`.
    pub ipn_id: String,
    /// The registered URL.
    pub url: String,
    /// The method the provider calls it with, when the row says.
    pub notification_type: Option<NotificationType>,
    /// When it was registered, as the provider wrote it.
    pub created_date: Option<String>,
    /// Whether it is active, when the row says (`ipn_status` 1 or 0).
    pub active: Option<bool>,
}

/// What a payment would go through, asked without starting it (ClickPesa's
/// USSD-push and card previews).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentPreview {
    /// Who answered.
    pub provider: Provider,
    /// The merchant reference the preview was asked for.
    pub reference: String,
    /// The payment methods the provider lists for this payment.
    pub methods: Vec<PreviewMethod>,
    /// The account behind the phone number, when it was asked for and the
    /// provider found it.
    pub sender: Option<PreviewSender>,
}

/// One method a preview lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewMethod {
    /// The method as the provider names it (`M-PESA`, `TIGO-PESA`, `CARD`).
    pub name: String,
    /// Whether the payment can go through it now.
    pub status: MethodStatus,
    /// The fee, as exact decimal text in the provider's unit, when given.
    pub fee: Option<String>,
    /// The provider's words.
    pub message: Option<String>,
}

/// Whether a previewed method can take the payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodStatus {
    /// ClickPesa `AVAILABLE`.
    Available,
    /// ClickPesa `UNAVAILABLE`, or a status FinConnect does not know.
    Unavailable,
}

impl MethodStatus {
    /// The lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodStatus::Available => "available",
            MethodStatus::Unavailable => "unavailable",
        }
    }
}

/// The mobile-money account behind a phone number (ClickPesa `sender`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreviewSender {
    /// The account holder's name.
    pub account_name: Option<String>,
    /// The account number (the phone number).
    pub account_number: Option<String>,
    /// The network (`TIGO-PESA`).
    pub account_provider: Option<String>,
}

/// Filters and paging for a provider's own list of payments (ClickPesa
/// `GET /payments/all`). Every member is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderPaymentQuery {
    /// From this day (`YYYY-MM-DD`).
    pub start_date: Option<String>,
    /// To this day (`YYYY-MM-DD`).
    pub end_date: Option<String>,
    /// The provider's status word (ClickPesa `SUCCESS`, `FAILED`, …).
    pub status: Option<String>,
    /// ISO 4217 code of the collected currency.
    pub currency: Option<String>,
    /// The channel as the provider names it (`TIGO-PESA`).
    pub channel: Option<String>,
    /// One merchant reference.
    pub reference: Option<String>,
    /// The field to sort by, as the provider names it (`createdAt`).
    pub sort_by: Option<String>,
    /// The sort order (the provider's default: newest first).
    pub order: Option<SortOrder>,
    /// How many to skip (paging).
    pub skip: Option<u64>,
    /// How many to return, 1 to 100.
    pub limit: Option<u64>,
}

/// A sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortOrder {
    /// Oldest (smallest) first.
    Ascending,
    /// Newest (largest) first.
    Descending,
}

/// One page of a provider's list of payments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderPaymentPage {
    /// Who answered.
    pub provider: Provider,
    /// The payments on this page, as a status query reports them.
    pub payments: Vec<PaymentDetails>,
    /// How many match the filters in all (`totalCount`).
    pub total_count: u64,
}
