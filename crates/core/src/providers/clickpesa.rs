//! ClickPesa: `POST /generate-token` with `client-id` and `api-key` headers;
//! the token comes back already prefixed with `Bearer ` and goes into
//! `Authorization` exactly as returned. Collections are USSD push requests.

pub mod checksum;
mod connector;
pub mod webhook;
mod wire;

pub use connector::Clickpesa;

use self::wire::*;
use super::{AccessToken, describe_unreadable, finish, json_tree, request};
use crate::config::{self, Variables, names};
use crate::domain::{
    Payment, PaymentDetails, PaymentMethod, PaymentRequest, PaymentStatus, Provider,
};
use crate::error::{Error, ProviderError, Result};
use crate::json::{Object, Value};
use crate::money::Amount;
use crate::secret::Secret;
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::validate;

const PROVIDER: Provider = Provider::Clickpesa;

/// ClickPesa settings, read from variables at call time.
#[derive(Clone, Debug)]
pub struct ClickpesaConfig {
    /// Base URL without a trailing slash (`https://api.clickpesa.com/third-parties`).
    pub base_url: String,
    /// Application client id.
    pub client_id: Secret,
    /// Application API key.
    pub api_key: Secret,
    /// Checksum key; when set, request bodies are signed.
    pub checksum_key: Option<Secret>,
}

impl ClickpesaConfig {
    /// Reads `clickpesa_base_url`, `clickpesa_client_id`, `clickpesa_api_key`
    /// and the optional `clickpesa_checksum_key`.
    pub fn load(vars: &dyn Variables) -> Result<Self> {
        Ok(Self {
            base_url: config::base_url(vars, names::CLICKPESA_BASE_URL, config::CLICKPESA_API_URL)?,
            client_id: config::required_secret(vars, names::CLICKPESA_CLIENT_ID)?,
            api_key: config::required_secret(vars, names::CLICKPESA_API_KEY)?,
            checksum_key: config::optional(vars, names::CLICKPESA_CHECKSUM_KEY)?.map(Secret::new),
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
    let reply = ClickpesaTokenResponse::read(&json_tree(PROVIDER, response)?)
        .map_err(|problem| not_as_documented(response, problem))?;
    match reply.token.filter(|token| !token.trim().is_empty()) {
        Some(token) if reply.success != Some(false) => Ok(AccessToken {
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

/// A payment request checked against ClickPesa's rules.
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
                detail: "only mobile_money (USSD push) is available for ClickPesa".to_owned(),
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
    let checksum = match &config.checksum_key {
        Some(key) => Some(
            checksum::compute(
                key.expose().as_bytes(),
                &ussd_push_body(push, None).into_value(),
            )
            // The body holds only strings, so this cannot happen.
            .map_err(|refused| Error::invalid("amount", refused.to_string()))?,
        ),
        None => None,
    };
    let body = ussd_push_body(push, checksum);
    finish(
        request(
            Method::Post,
            config.url("/payments/initiate-ussd-push-request"),
        )
        .with_header("authorization", token.value.expose())
        .with_header("content-type", "application/json")
        .with_body(body.to_vec()),
        names::CLICKPESA_BASE_URL,
    )
}

/// The USSD-push body, members in alphabetical order (as it has always been
/// sent), with the checksum after `amount` when there is one.
fn ussd_push_body(push: &UssdPush, checksum: Option<String>) -> Object {
    Object::new()
        .field("amount", push.amount.to_plain())
        .field_opt("checksum", checksum)
        .field("currency", push.currency.as_str())
        .field("orderReference", push.reference.as_str())
        .field("phoneNumber", push.phone.as_str())
}

/// Reads the initiate reply.
pub fn parse_ussd_push(response: &HttpResponse, push: &UssdPush) -> Result<Payment> {
    check_status(response)?;
    let reply = ClickpesaPayment::read(&json_tree(PROVIDER, response)?)
        .ok_or_else(|| not_as_documented(response, "it is not a JSON object"))?;
    let tracking_id = reply
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::unexpected(PROVIDER, response.status, "initiate reply without id"))?;
    Ok(Payment {
        provider: PROVIDER,
        reference: reply
            .order_reference
            .unwrap_or_else(|| push.reference.clone()),
        tracking_id,
        redirect_url: None,
        status: map_status(reply.status.as_deref()),
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
    let reply = json_tree(PROVIDER, response)?;
    let rows: Vec<ClickpesaPayment> = reply
        .as_array()
        .and_then(|rows| rows.iter().map(ClickpesaPayment::read).collect())
        .ok_or_else(|| {
            Error::unexpected(
                PROVIDER,
                response.status,
                "query reply was not the documented array of payments",
            )
        })?;
    let chosen = rows
        .iter()
        .position(|row| map_status(row.status.as_deref()) == PaymentStatus::Completed)
        .unwrap_or(0);
    let row = rows.into_iter().nth(chosen).ok_or_else(|| {
        Error::Provider(ProviderError {
            provider: PROVIDER,
            http_status: response.status,
            code: Some("not_found".to_owned()),
            message: "ClickPesa returned no payment for this reference".to_owned(),
        })
    })?;
    let not_blank = |value: Option<String>| value.filter(|text| !text.is_empty());
    Ok(PaymentDetails {
        provider: PROVIDER,
        status: map_status(row.status.as_deref()),
        reference: not_blank(row.order_reference),
        tracking_id: not_blank(row.id),
        amount: row.collected_amount,
        currency: not_blank(row.collected_currency),
        method: not_blank(row.channel),
        confirmation_code: not_blank(row.payment_reference),
        description: not_blank(row.message),
    })
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

/// A reply that is JSON but not what ClickPesa documents; `problem` names
/// what is wrong.
fn not_as_documented(response: &HttpResponse, problem: &str) -> Error {
    Error::unexpected(
        PROVIDER,
        response.status,
        format!("reply did not have the documented shape: {problem}"),
    )
}

/// The reply read as an error body, if it is a JSON object.
fn error_body(response: &HttpResponse) -> Option<ClickpesaErrorBody> {
    ClickpesaErrorBody::read(&Value::parse(&response.body).ok()?)
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
mod tests;
