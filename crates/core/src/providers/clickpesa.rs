//! ClickPesa: `POST /generate-token` with `client-id` and `api-key` headers;
//! the token comes back already prefixed with `Bearer ` and goes into
//! `Authorization` exactly as returned. Collections are USSD push requests.

pub mod account;
pub mod billpay;
mod billpay_wire;
pub mod checksum;
mod connector;
mod hosted;
mod listing;
pub mod payouts;
mod payouts_wire;
mod preview;
pub mod webhook;
mod wire;

pub use connector::Clickpesa;
pub use hosted::{
    CardPayment, HostedCheckout, card_request, checkout_request, parse_card, parse_checkout,
    validate_card, validate_checkout,
};
pub use listing::{ListQuery, list_request, parse_list, validate_list};
pub use preview::{Preview, parse_preview, preview_request, validate_preview};

use self::wire::*;
use super::{
    AccessToken, Loose, describe_unreadable, finish, json_reply, object_members, read_json_array,
    read_json_object, read_members, read_object, reported_amount_of, request, text_of,
};
use crate::config::{self, Variables, names};
use crate::domain::{
    Payment, PaymentDetails, PaymentMethod, PaymentRequest, PaymentStatus, Provider,
};
use crate::error::{Error, ProviderError, Result};
use crate::money::Amount;
use crate::secret::Secret;
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::validate;

const PROVIDER: Provider = Provider::Clickpesa;

crate::secret::credential!(
    /// ClickPesa's application client id (`clickpesa_client_id`).
    ClientId
);
crate::secret::credential!(
    /// ClickPesa's application API key (`clickpesa_api_key`).
    ApiKey
);
crate::secret::credential!(
    /// ClickPesa's checksum key (`clickpesa_checksum_key`).
    ChecksumKey
);

/// ClickPesa settings, read from variables at call time.
#[derive(Clone, Debug)]
pub struct ClickpesaConfig {
    /// Base URL without a trailing slash (`https://api.clickpesa.com/third-parties`).
    pub base_url: String,
    /// Application client id.
    pub client_id: ClientId,
    /// Application API key.
    pub api_key: ApiKey,
    /// Checksum key; when set, request bodies are signed.
    pub checksum_key: Option<ChecksumKey>,
}

impl ClickpesaConfig {
    /// Reads `clickpesa_base_url`, `clickpesa_client_id`, `clickpesa_api_key`
    /// and the optional `clickpesa_checksum_key`.
    pub fn load(vars: &dyn Variables) -> Result<Self> {
        Ok(Self {
            base_url: config::base_url(vars, names::CLICKPESA_BASE_URL, config::CLICKPESA_API_URL)?,
            client_id: ClientId(config::required_secret(vars, names::CLICKPESA_CLIENT_ID)?),
            api_key: ApiKey(config::required_secret(vars, names::CLICKPESA_API_KEY)?),
            checksum_key: config::optional(vars, names::CLICKPESA_CHECKSUM_KEY)?
                .map(|key| ChecksumKey(Secret::new(key))),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

/// `POST {base}/generate-token`: credentials in headers, no body.
pub fn token_request(config: &ClickpesaConfig) -> Result<HttpRequest> {
    finish(
        request(Method::Post, config.url("/generate-token"))
            .with_header("client-id", config.client_id.expose())
            .with_header("api-key", config.api_key.expose()),
        names::CLICKPESA_CLIENT_ID,
    )
}

/// Reads the token reply; the token is kept verbatim.
pub fn parse_token(response: &HttpResponse) -> Result<AccessToken> {
    let status = response.status;
    if matches!(status, 401 | 403) {
        let message = error_body(response).and_then(|body| body.message);
        return Err(Error::Authentication {
            provider: PROVIDER,
            message: message.unwrap_or_else(|| format!("HTTP {status} from generate-token")),
        });
    }
    check_status(response)?;
    let reply: ClickpesaTokenResponse = object_reply(response)?;
    let success = match reply.success {
        None => None,
        Some(Loose::Bool(flag)) => Some(flag),
        Some(_) => {
            return Err(not_as_documented(
                response,
                "`success` is not true or false",
            ));
        }
    };
    match text_of(reply.token.as_ref()).filter(|token| !token.trim().is_empty()) {
        Some(token) if success != Some(false) => Ok(AccessToken {
            value: Secret::new(token),
            expires: None,
        }),
        _ => Err(Error::unexpected(
            PROVIDER,
            status,
            "token reply without a token",
        )),
    }
}

/// A payment request checked against ClickPesa's rules: it owns every field
/// the USSD push needs, already checked.
#[derive(Clone, Debug)]
pub struct UssdPush {
    reference: String,
    amount: Amount,
    currency: String,
    phone: String,
}

/// ClickPesa order references: alphanumeric, not blank, at most 100 characters.
pub fn validate_reference(reference: &str, field: &str) -> Result<()> {
    if (1..=100).contains(&reference.len()) && reference.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be 1 to 100 letters and digits only for ClickPesa (no spaces, '-' or '_')",
        ))
    }
}

/// Checks a payment request for ClickPesa; nothing is sent if this fails.
pub fn validate_payment(request: &PaymentRequest) -> Result<UssdPush> {
    match request.method.unwrap_or(PaymentMethod::MobileMoney) {
        PaymentMethod::MobileMoney => {}
        other => {
            return Err(Error::Unsupported {
                provider: PROVIDER,
                operation: format!("the payment method `{}`", other.as_str()),
                detail: "this check is for mobile_money (USSD push); card and checkout_link \
                         payments are checked by validate_card and validate_checkout"
                    .to_owned(),
            });
        }
    }
    validate_reference(&request.reference, "reference")?;
    let amount = validate::amount(&request.amount).map_err(|r| Error::invalid("amount", r))?;
    validate::currency(&request.currency).map_err(|r| Error::invalid("currency", r))?;
    if request.currency != "TZS" {
        return Err(Error::invalid(
            "currency",
            "must be TZS for ClickPesa mobile money",
        ));
    }
    let phone = request
        .customer
        .phone
        .as_deref()
        .ok_or_else(|| Error::invalid("customer.phone", "is required for ClickPesa"))?;
    let phone_ok =
        phone.len() == 12 && phone.starts_with("255") && phone.bytes().all(|b| b.is_ascii_digit());
    if !phone_ok {
        return Err(Error::invalid(
            "customer.phone",
            "must be 255 followed by 9 digits, without + (e.g. 255712345678)",
        ));
    }
    if let Some(email) = &request.customer.email {
        validate::email(email).map_err(|r| Error::invalid("customer.email", r))?;
    }
    Ok(UssdPush {
        reference: request.reference.clone(),
        amount,
        currency: request.currency.clone(),
        phone: phone.to_owned(),
    })
}

/// `POST {base}/payments/initiate-ussd-push-request`, signed when a checksum key is set.
pub fn ussd_push_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    push: &UssdPush,
) -> Result<HttpRequest> {
    let mut body = ClickpesaUssdPushRequest {
        amount: push.amount.to_plain(),
        checksum: None,
        currency: &push.currency,
        order_reference: &push.reference,
        phone_number: &push.phone,
    };
    if let Some(key) = &config.checksum_key {
        // The body holds only strings, so neither step can fail.
        let unsigned = checksum::Value::parse(&to_body(&body))
            .map_err(|error| Error::invalid("body", error.to_string()))?;
        let signature = checksum::compute(key.expose().as_bytes(), &unsigned)
            .map_err(|refused| Error::invalid("amount", refused.to_string()))?;
        body.checksum = Some(signature);
    }
    finish(
        request(
            Method::Post,
            config.url("/payments/initiate-ussd-push-request"),
        )
        .with_header("authorization", token.value.expose())
        .with_header("content-type", "application/json")
        .with_body(to_body(&body)),
        names::CLICKPESA_BASE_URL,
    )
}

/// A request body: the wire struct as compact JSON.
fn to_body<T: serde::Serialize>(body: &T) -> Vec<u8> {
    // The wire structs hold only strings, which serde_json always writes.
    serde_json::to_vec(body).unwrap_or_default()
}

/// Reads the initiate reply.
pub fn parse_ussd_push(response: &HttpResponse, push: &UssdPush) -> Result<Payment> {
    check_status(response)?;
    let reply: ClickpesaPayment = object_reply(response)?;
    let tracking_id = text_of(reply.id.as_ref())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::unexpected(PROVIDER, response.status, "initiate reply without id"))?;
    Ok(Payment {
        provider: PROVIDER,
        reference: text_of(reply.order_reference.as_ref())
            .unwrap_or_else(|| push.reference.clone()),
        tracking_id,
        redirect_url: None,
        status: map_status(text_of(reply.status.as_ref()).as_deref()),
    })
}

/// `GET {base}/payments/{orderReference}`.
pub fn status_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    reference: &str,
) -> Result<HttpRequest> {
    validate_reference(reference, "id")?;
    finish(
        request(Method::Get, config.url(&format!("/payments/{reference}")))
            .with_header("authorization", token.value.expose()),
        names::CLICKPESA_BASE_URL,
    )
}

/// Reads the query reply: a JSON array (one row per attempt). A completed
/// row wins; otherwise the first row speaks for the payment.
pub fn parse_status(response: &HttpResponse) -> Result<PaymentDetails> {
    check_status(response)?;
    let not_an_array = || {
        Error::unexpected(
            PROVIDER,
            response.status,
            "query reply was not the documented array of payments",
        )
    };
    let Loose::Array(array) = json_reply(PROVIDER, response)? else {
        return Err(not_an_array());
    };
    let items = read_json_array(array.get()).ok_or_else(not_an_array)?;
    let rows = items
        .iter()
        .map(|item| match item {
            Loose::Object(object) => {
                read_object::<ClickpesaPayment>(PROVIDER, response.status, object)
            }
            _ => Err(not_an_array()),
        })
        .collect::<Result<Vec<_>>>()?;
    let row_status = |row: &ClickpesaPayment| map_status(text_of(row.status.as_ref()).as_deref());
    let chosen = rows
        .iter()
        .position(|row| row_status(row) == PaymentStatus::Completed)
        .unwrap_or(0);
    let row = rows.into_iter().nth(chosen).ok_or_else(|| {
        Error::Provider(ProviderError {
            provider: PROVIDER,
            http_status: response.status,
            code: Some("not_found".to_owned()),
            message: "ClickPesa returned no payment for this reference".to_owned(),
        })
    })?;
    Ok(details_of(row))
}

/// A payment row (query, listing) as FinConnect reports payments.
fn details_of(row: ClickpesaPayment) -> PaymentDetails {
    let not_blank = |value: &Option<Loose>| text_of(value.as_ref()).filter(|text| !text.is_empty());
    PaymentDetails {
        provider: PROVIDER,
        status: map_status(text_of(row.status.as_ref()).as_deref()),
        reference: not_blank(&row.order_reference),
        tracking_id: not_blank(&row.id),
        amount: reported_amount_of(row.collected_amount.as_ref()),
        currency: not_blank(&row.collected_currency),
        // The network the customer paid through: `channel`, or on records
        // where `channel` names the rail only, `channelProvider`.
        method: not_blank(&row.channel).or_else(|| not_blank(&row.channel_provider)),
        confirmation_code: not_blank(&row.payment_reference),
        description: not_blank(&row.message),
    }
}

/// ClickPesa's payment states, every documented one named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClickpesaStatus {
    Processing,
    Pending,
    Success,
    Settled,
    Failed,
    OnHold,
    Refunded,
    Reversed,
}

impl ClickpesaStatus {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_uppercase().as_str() {
            "PROCESSING" => Self::Processing,
            "PENDING" => Self::Pending,
            "SUCCESS" => Self::Success,
            "SETTLED" => Self::Settled,
            "FAILED" => Self::Failed,
            "ON-HOLD" | "ON_HOLD" => Self::OnHold,
            "REFUNDED" => Self::Refunded,
            "REVERSED" => Self::Reversed,
            _ => return None,
        })
    }
}

impl From<ClickpesaStatus> for PaymentStatus {
    fn from(status: ClickpesaStatus) -> Self {
        match status {
            ClickpesaStatus::Processing | ClickpesaStatus::Pending | ClickpesaStatus::OnHold => {
                PaymentStatus::Pending
            }
            ClickpesaStatus::Success | ClickpesaStatus::Settled => PaymentStatus::Completed,
            ClickpesaStatus::Failed => PaymentStatus::Failed,
            ClickpesaStatus::Refunded | ClickpesaStatus::Reversed => PaymentStatus::Reversed,
        }
    }
}

fn map_status(text: Option<&str>) -> PaymentStatus {
    text.and_then(ClickpesaStatus::parse)
        .map_or(PaymentStatus::Unknown, PaymentStatus::from)
}

/// Reads a reply that must be one JSON object as the wire struct `T`
/// (in one pass, [`object_members`]); any other JSON is not as documented.
fn object_reply<T: serde::de::DeserializeOwned>(response: &HttpResponse) -> Result<T> {
    read_members(PROVIDER, response.status, &reply_members(response)?)
}

/// The members of a reply that must be one JSON object (not generic, so
/// that each reader adds only its own [`read_members`]).
fn reply_members(response: &HttpResponse) -> Result<super::Members<'_>> {
    object_members(PROVIDER, response)?
        .map_err(|_| not_as_documented(response, "it is not a JSON object"))
}

/// A reply that is JSON but not what ClickPesa documents; `problem` names
/// what is wrong.
fn not_as_documented(response: &HttpResponse, problem: &str) -> Error {
    Error::unexpected(
        PROVIDER,
        response.status,
        format!("reply did not have the documented shape: {problem}"),
    )
}

/// An error body as text: `message` (a string, or the strings of an array
/// joined by `; `) and `error` (string or number).
struct ErrorText {
    message: Option<String>,
    error: Option<String>,
}

/// The reply read as an error body, if it is a JSON object.
fn error_body(response: &HttpResponse) -> Option<ErrorText> {
    let Ok(Loose::Object(object)) = json_reply(PROVIDER, response) else {
        return None;
    };
    let body: ClickpesaErrorBody = read_json_object(object.get()).ok()?;
    let message = match body.message {
        Some(Loose::String(text)) => Some(text),
        Some(Loose::Array(items)) => {
            let items = read_json_array(items.get()).unwrap_or_default();
            let texts: Vec<&str> = items.iter().filter_map(Loose::as_str).collect();
            (!texts.is_empty()).then(|| texts.join("; "))
        }
        _ => None,
    };
    Some(ErrorText {
        message,
        error: text_of(body.error.as_ref()),
    })
}

/// Turns an HTTP error reply into an error: 401/403 are authentication
/// failures, anything else keeps ClickPesa's message as data.
fn check_status(response: &HttpResponse) -> Result<()> {
    let status = response.status;
    if status < 400 {
        return Ok(());
    }
    let Some(body) = error_body(response) else {
        return Err(Error::unexpected(
            PROVIDER,
            status,
            describe_unreadable(response),
        ));
    };
    let message = body
        .message
        .clone()
        .or_else(|| body.error.clone())
        .unwrap_or_else(|| format!("HTTP {status}"));
    if matches!(status, 401 | 403) {
        return Err(Error::Authentication {
            provider: PROVIDER,
            message,
        });
    }
    Err(Error::Provider(ProviderError {
        provider: PROVIDER,
        http_status: status,
        code: body.error,
        message,
    }))
}

#[cfg(test)]
mod test_fixtures;

#[cfg(test)]
mod tests;
