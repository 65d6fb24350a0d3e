//! The provider-neutral vocabulary: what callers ask for and what they get.

use std::fmt;
use std::str::FromStr;

/// A payment provider FinConnect speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// PesaPal API 3.0.
    Pesapal,
    /// ClickPesa.
    Clickpesa,
    /// Safaricom M-Pesa through the Daraja API.
    Mpesa,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Provider; 3] = [Provider::Pesapal, Provider::Clickpesa, Provider::Mpesa];

    /// The lower-case name used in URLs and JSON (`"pesapal"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Pesapal => "pesapal",
            Provider::Clickpesa => "clickpesa",
            Provider::Mpesa => "mpesa",
        }
    }

    /// The provider's own name, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Pesapal => "PesaPal",
            Provider::Clickpesa => "ClickPesa",
            Provider::Mpesa => "M-Pesa",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for Provider {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|provider| provider.as_str() == text)
            .ok_or(())
    }
}

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
