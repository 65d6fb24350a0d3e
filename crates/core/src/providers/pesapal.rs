//! PesaPal API 3.0: `POST /api/Auth/RequestToken`, then the API call with
//! `Authorization: Bearer <token>`.
//!
//! Quirks handled here: errors that arrive with HTTP 200 (an `error` object
//! and `status` "500"), the `error_type` key, an all-null error object that
//! means success, an error nested as JSON text inside `message`, and the
//! unpaid order whose status reply looks like an error but means "pending".

mod wire;

use self::wire::*;
use super::{AccessToken, finish, json_tree, reported_amount_of, request};
use crate::config::{self, Variables, names};
use crate::domain::{
    IpnRegistration, IpnRequest, NotificationType, Payment, PaymentDetails, PaymentRequest,
    PaymentStatus, Provider,
};
use crate::error::{Error, ProviderError, Result};
use crate::json::Value;
use crate::secret::Secret;
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::validate;

const PROVIDER: Provider = Provider::Pesapal;

/// Codes PesaPal uses when it refuses credentials or a token.
const AUTH_CODES: [&str; 2] = [
    "invalid_consumer_key_or_secret_provided",
    "invalid_api_credentials_provided",
];

/// The pending marker of GetTransactionStatus.
const PENDING_CODE: &str = "payment_details_not_found";

/// PesaPal settings, read from variables at call time.
#[derive(Clone, Debug)]
pub struct PesapalConfig {
    /// Base URL without a trailing slash (`https://cybqa.pesapal.com/pesapalv3`).
    pub base_url: String,
    /// Consumer key.
    pub consumer_key: Secret,
    /// Consumer secret.
    pub consumer_secret: Secret,
}

impl PesapalConfig {
    /// Reads `pesapal_base_url`, `pesapal_consumer_key`, `pesapal_consumer_secret`.
    pub fn load(vars: &dyn Variables) -> Result<Self> {
        Ok(Self {
            base_url: config::base_url(vars, names::PESAPAL_BASE_URL, config::PESAPAL_SANDBOX_URL)?,
            consumer_key: config::required_secret(vars, names::PESAPAL_CONSUMER_KEY)?,
            consumer_secret: config::required_secret(vars, names::PESAPAL_CONSUMER_SECRET)?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

/// `POST {base}/api/Auth/RequestToken` with the consumer key and secret.
pub fn token_request(config: &PesapalConfig) -> Result<HttpRequest> {
    let body = PesapalTokenRequest {
        consumer_key: config.consumer_key.expose(),
        consumer_secret: config.consumer_secret.expose(),
    }
    .to_json()
    .to_vec();
    finish(
        request(Method::Post, config.url("/api/Auth/RequestToken"))
            .with_header("content-type", "application/json")
            .with_body(body),
        names::PESAPAL_BASE_URL,
    )
}

/// Reads the token reply.
pub fn parse_token(response: &HttpResponse) -> Result<AccessToken> {
    let body = checked_reply(response)?;
    let reply = PesapalTokenResponse::from_json(&body);
    match reply.token.filter(|token| !token.is_empty()) {
        Some(token) => Ok(AccessToken {
            value: Secret::new(token),
            expires: reply.expiry_date,
        }),
        None => Err(Error::unexpected(
            PROVIDER,
            response.status,
            "token reply without a token",
        )),
    }
}

/// A payment request checked against PesaPal's rules.
#[derive(Clone, Debug)]
pub struct PesapalOrder {
    request: PaymentRequest,
    amount: crate::money::Amount,
}

/// The merchant reference rule PesaPal documents, in its safe subset:
/// 1 to 50 of `A-Z a-z 0-9 . _ : -`.
pub fn validate_reference(reference: &str) -> Result<()> {
    let valid = (1..=50).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "reference",
            "must be 1 to 50 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-' for PesaPal",
        ))
    }
}

/// Checks a payment request for PesaPal; nothing is sent if this fails.
pub fn validate_order(request: &PaymentRequest) -> Result<PesapalOrder> {
    validate_reference(&request.reference)?;
    let amount = validate::amount(&request.amount).map_err(|r| Error::invalid("amount", r))?;
    validate::currency(&request.currency).map_err(|r| Error::invalid("currency", r))?;
    let description = request
        .description
        .as_deref()
        .ok_or_else(|| Error::invalid("description", "is required for PesaPal"))?;
    validate::text(description, 100).map_err(|r| Error::invalid("description", r))?;
    let callback = request
        .callback_url
        .as_deref()
        .ok_or_else(|| Error::invalid("callback_url", "is required for PesaPal"))?;
    validate::absolute_http_url(callback).map_err(|r| Error::invalid("callback_url", r))?;
    if let Some(url) = &request.cancellation_url {
        validate::absolute_http_url(url).map_err(|r| Error::invalid("cancellation_url", r))?;
    }
    let notification_id = request.notification_id.as_deref().ok_or_else(|| {
        Error::invalid(
            "notification_id",
            "is required for PesaPal: register an IPN URL first and pass its ipn_id",
        )
    })?;
    validate::guid(notification_id).map_err(|r| Error::invalid("notification_id", r))?;
    if let Some(branch) = &request.branch {
        validate::text(branch, 100).map_err(|r| Error::invalid("branch", r))?;
    }
    let customer = &request.customer;
    if customer.email.is_none() && customer.phone.is_none() {
        return Err(Error::invalid(
            "customer",
            "needs an email or a phone for PesaPal",
        ));
    }
    if let Some(email) = &customer.email {
        validate::email(email).map_err(|r| Error::invalid("customer.email", r))?;
    }
    if let Some(phone) = &customer.phone {
        validate::phone(phone).map_err(|r| Error::invalid("customer.phone", r))?;
    }
    if let Some(code) = &customer.country_code {
        validate::country_code(code).map_err(|r| Error::invalid("customer.country_code", r))?;
    }
    for (field, value) in [
        ("customer.first_name", &customer.first_name),
        ("customer.last_name", &customer.last_name),
    ] {
        if let Some(name) = value {
            validate::text(name, 100).map_err(|r| Error::invalid(field, r))?;
        }
    }
    Ok(PesapalOrder {
        request: request.clone(),
        amount,
    })
}

/// `POST {base}/api/Transactions/SubmitOrderRequest`.
pub fn submit_order_request(
    config: &PesapalConfig,
    token: &AccessToken,
    order: &PesapalOrder,
) -> Result<HttpRequest> {
    let request = &order.request;
    let amount = order.amount.to_fixed2();
    let customer = &request.customer;
    let body = PesapalSubmitOrderRequest {
        id: &request.reference,
        currency: &request.currency,
        amount: &amount,
        description: request.description.as_deref().unwrap_or_default(),
        callback_url: request.callback_url.as_deref().unwrap_or_default(),
        cancellation_url: request.cancellation_url.as_deref(),
        notification_id: request.notification_id.as_deref().unwrap_or_default(),
        branch: request.branch.as_deref(),
        redirect_mode: request.redirect_mode.map(|mode| mode.as_str()),
        billing_address: PesapalBillingAddress {
            email_address: customer.email.as_deref(),
            phone_number: customer.phone.as_deref(),
            country_code: customer.country_code.as_deref(),
            first_name: customer.first_name.as_deref(),
            last_name: customer.last_name.as_deref(),
        },
    };
    authorized_json(
        config,
        token,
        "/api/Transactions/SubmitOrderRequest",
        body.to_json().to_vec(),
    )
}

/// Reads the SubmitOrderRequest reply.
pub fn parse_submit_order(response: &HttpResponse, request: &PesapalOrder) -> Result<Payment> {
    let body = checked_reply(response)?;
    let reply = PesapalSubmitOrderResponse::from_json(&body);
    let status = response.status;
    let tracking_id = reply
        .order_tracking_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::unexpected(PROVIDER, status, "order reply without order_tracking_id")
        })?;
    let redirect_url = reply
        .redirect_url
        .filter(|url| !url.is_empty())
        .ok_or_else(|| Error::unexpected(PROVIDER, status, "order reply without redirect_url"))?;
    Ok(Payment {
        provider: PROVIDER,
        reference: reply
            .merchant_reference
            .unwrap_or_else(|| request.request.reference.clone()),
        tracking_id,
        redirect_url: Some(redirect_url),
        status: PaymentStatus::Pending,
    })
}

/// Checks an IPN registration request.
pub fn validate_ipn(request: &IpnRequest) -> Result<()> {
    validate::absolute_http_url(&request.url).map_err(|r| Error::invalid("url", r))
}

/// `POST {base}/api/URLSetup/RegisterIPN`.
pub fn register_ipn_request(
    config: &PesapalConfig,
    token: &AccessToken,
    ipn: &IpnRequest,
) -> Result<HttpRequest> {
    let body = PesapalRegisterIpnRequest {
        url: &ipn.url,
        ipn_notification_type: ipn.notification_type.as_str(),
    };
    authorized_json(
        config,
        token,
        "/api/URLSetup/RegisterIPN",
        body.to_json().to_vec(),
    )
}

/// Reads the RegisterIPN reply.
pub fn parse_register_ipn(
    response: &HttpResponse,
    request: &IpnRequest,
) -> Result<IpnRegistration> {
    let body = checked_reply(response)?;
    let reply = PesapalRegisterIpnResponse::from_json(&body);
    let ipn_id = reply
        .ipn_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::unexpected(PROVIDER, response.status, "IPN reply without ipn_id"))?;
    let notification_type = reply
        .ipn_notification_type_description
        .and_then(|text| text.parse::<NotificationType>().ok())
        .unwrap_or(request.notification_type);
    Ok(IpnRegistration {
        provider: PROVIDER,
        ipn_id,
        url: reply.url.unwrap_or_else(|| request.url.clone()),
        notification_type,
        created_date: reply.created_date,
    })
}

/// An order tracking id: what PesaPal issues (GUIDs), in a safe charset so it
/// can go into a query string untouched.
pub fn validate_tracking_id(id: &str) -> Result<()> {
    let valid =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "id",
            "must be a PesaPal order_tracking_id (1 to 64 of A-Z, a-z, 0-9, '-')",
        ))
    }
}

/// `GET {base}/api/Transactions/GetTransactionStatus?orderTrackingId=<id>`.
pub fn status_request(
    config: &PesapalConfig,
    token: &AccessToken,
    id: &str,
) -> Result<HttpRequest> {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("orderTrackingId", id)
        .finish();
    finish(
        authorized(
            request(
                Method::Get,
                config.url(&format!("/api/Transactions/GetTransactionStatus?{query}")),
            ),
            token,
        ),
        names::PESAPAL_BASE_URL,
    )
}

/// Reads the GetTransactionStatus reply. `status_code` decides: 1 completed,
/// 2 failed, 3 reversed; 0 is pending (PesaPal answers an unpaid order with
/// `payment_details_not_found` and status "500", which is not an error).
pub fn parse_status(response: &HttpResponse) -> Result<PaymentDetails> {
    let body = json_tree(PROVIDER, response)?;
    // The shape comes first here; the envelope only decides below, when
    // `status_code` does not, because a pending order's reply looks like an error.
    require_object(&body, response)?;
    // A state read from an HTTP error reply is not believed, whatever its
    // `status_code` says: an HTTP error means "unknown, ask again later"
    // (specs/pesapal.md §9.4), never paid and never failed.
    if !(200..300).contains(&response.status) {
        check_envelope(&body, response)?;
        return Err(Error::unexpected(
            PROVIDER,
            response.status,
            format!("HTTP {} to a status query", response.status),
        ));
    }
    let error = api_error(&PesapalEnvelope::from_json(&body));
    let reply = PesapalStatusResponse::from_json(&body);
    let status_code = reply
        .status_code
        .as_deref()
        .and_then(|code| code.trim().parse::<i64>().ok());
    let pending_marker = error
        .as_ref()
        .is_some_and(|e| e.code.as_deref() == Some(PENDING_CODE));
    let status = match status_code {
        Some(1) if error.is_none() => PaymentStatus::Completed,
        Some(2) if error.is_none() => PaymentStatus::Failed,
        Some(3) if error.is_none() => PaymentStatus::Reversed,
        Some(0) if error.is_none() || pending_marker => PaymentStatus::Pending,
        Some(_) if error.is_none() => PaymentStatus::Unknown,
        _ => {
            check_envelope(&body, response)?;
            return Err(Error::unexpected(
                PROVIDER,
                response.status,
                "status reply without status_code",
            ));
        }
    };
    let not_blank = |value: Option<String>| value.filter(|text| !text.is_empty());
    Ok(PaymentDetails {
        provider: PROVIDER,
        reference: not_blank(reply.merchant_reference),
        tracking_id: not_blank(reply.order_tracking_id),
        status,
        amount: reported_amount_of(reply.amount),
        currency: not_blank(reply.currency),
        method: not_blank(reply.payment_method),
        confirmation_code: not_blank(reply.confirmation_code),
        description: not_blank(reply.description)
            .or_else(|| not_blank(reply.payment_status_description)),
    })
}

fn authorized(request: HttpRequest, token: &AccessToken) -> HttpRequest {
    request.with_header("authorization", format!("Bearer {}", token.value.expose()))
}

fn authorized_json(
    config: &PesapalConfig,
    token: &AccessToken,
    path: &str,
    body: Vec<u8>,
) -> Result<HttpRequest> {
    finish(
        authorized(request(Method::Post, config.url(path)), token)
            .with_header("content-type", "application/json")
            .with_body(body),
        names::PESAPAL_BASE_URL,
    )
}

/// The error object of a reply, if it says anything. Looks inside `message`
/// too, where PesaPal sometimes nests a whole error envelope as JSON text.
fn api_error(envelope: &PesapalEnvelope<'_>) -> Option<PesapalApiError> {
    let direct = match envelope.error {
        Some(error @ Value::Object(_)) => Some(PesapalApiError::from_json(error)),
        Some(Value::String(text)) if !text.is_empty() => Some(PesapalApiError {
            message: Some(text.clone()),
            ..PesapalApiError::default()
        }),
        _ => None,
    };
    if let Some(error) = direct.filter(PesapalApiError::is_meaningful) {
        return Some(error);
    }
    let text = envelope.message?.as_str()?;
    let nested = Value::parse(text.as_bytes()).ok()?;
    match PesapalEnvelope::from_json(&nested).error {
        Some(error @ Value::Object(_)) => {
            Some(PesapalApiError::from_json(error)).filter(PesapalApiError::is_meaningful)
        }
        _ => None,
    }
}

/// Reads a reply that must be a JSON object: unreadable body first, then the
/// envelope ([`check_envelope`]), then the shape.
fn checked_reply(response: &HttpResponse) -> Result<Value> {
    let body = json_tree(PROVIDER, response)?;
    check_envelope(&body, response)?;
    require_object(&body, response)?;
    Ok(body)
}

/// Refuses a reply body that is JSON but not an object, saying what it is.
fn require_object(body: &Value, response: &HttpResponse) -> Result<()> {
    let found = match body {
        Value::Object(_) => return Ok(()),
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    Err(Error::unexpected(
        PROVIDER,
        response.status,
        format!("reply did not have the documented shape: the body is {found}, not a JSON object"),
    ))
}

/// Classifies a parsed reply: a meaningful `error` object, then `status`
/// other than "200", then an HTTP error status. A body that is not an
/// object has no envelope, so only its HTTP status counts.
fn check_envelope(body: &Value, response: &HttpResponse) -> Result<()> {
    let http_status = response.status;
    let envelope = PesapalEnvelope::from_json(body);
    if let Some(error) = api_error(&envelope) {
        return Err(refusal(http_status, error));
    }
    let status = envelope.status.as_deref().map(str::trim);
    if let Some(code) = status.filter(|code| *code != "200" && !code.is_empty()) {
        let message = envelope
            .message
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("PesaPal reported status {code}"));
        return Err(refusal(
            http_status,
            PesapalApiError {
                message: Some(message),
                ..PesapalApiError::default()
            },
        ));
    }
    if http_status >= 400 {
        return Err(refusal(
            http_status,
            PesapalApiError {
                message: Some(format!("HTTP {http_status}")),
                ..PesapalApiError::default()
            },
        ));
    }
    Ok(())
}

fn refusal(http_status: u16, error: PesapalApiError) -> Error {
    let is_auth = error
        .code
        .as_deref()
        .is_some_and(|code| AUTH_CODES.contains(&code))
        || error.error_type.as_deref() == Some("authentication_error")
        || matches!(http_status, 401 | 403);
    let message = error
        .message
        .clone()
        .filter(|text| !text.is_empty())
        .or_else(|| error.code.clone())
        .unwrap_or_else(|| "no message".to_owned());
    if is_auth {
        let message = match &error.code {
            Some(code) if *code != message => format!("{code}: {message}"),
            _ => message,
        };
        return Error::Authentication {
            provider: PROVIDER,
            message,
        };
    }
    Error::Provider(ProviderError {
        provider: PROVIDER,
        http_status,
        code: error.code,
        message,
    })
}

mod connector;
pub mod ipn;

pub use connector::Pesapal;

#[cfg(test)]
mod tests;
