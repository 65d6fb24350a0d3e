//! PesaPal API 3.0: `POST /api/Auth/RequestToken`, then the API call with
//! `Authorization: Bearer <token>`.
//!
//! Quirks handled here: errors that arrive with HTTP 200 (an `error` object
//! and `status` "500"), the `error_type` key, an all-null error object that
//! means success, an error nested as JSON text inside `message`, and the
//! unpaid order whose status reply looks like an error but means "pending".

mod wire;

use self::wire::*;
use super::{
    AccessToken, Loose, finish, json_reply, object_members, read_json_array, read_json_object,
    read_members, read_object, reported_amount_of, request, text_of,
};
use crate::config::{self, Variables, names};
use crate::domain::{
    Cancellation, Customer, IpnListing, IpnRegistration, IpnRequest, NotificationType, Payment,
    PaymentDetails, PaymentRequest, PaymentStatus, Provider, RedirectMode, Refund, RefundRequest,
};
use crate::error::{Error, ProviderError, Result};
use crate::secret::Secret;
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::validate;
use serde_json::value::RawValue;

const PROVIDER: Provider = Provider::Pesapal;

/// Codes PesaPal uses when it refuses credentials or a token.
const AUTH_CODES: [&str; 2] = [
    "invalid_consumer_key_or_secret_provided",
    "invalid_api_credentials_provided",
];

/// The pending marker of GetTransactionStatus.
const PENDING_CODE: &str = "payment_details_not_found";

crate::secret::credential!(
    /// PesaPal's consumer key (`pesapal_consumer_key`).
    ConsumerKey
);
crate::secret::credential!(
    /// PesaPal's consumer secret (`pesapal_consumer_secret`).
    ConsumerSecret
);

/// PesaPal settings, read from variables at call time.
#[derive(Clone, Debug)]
pub struct PesapalConfig {
    /// Base URL without a trailing slash (`https://cybqa.pesapal.com/pesapalv3`).
    pub base_url: String,
    /// Consumer key.
    pub consumer_key: ConsumerKey,
    /// Consumer secret.
    pub consumer_secret: ConsumerSecret,
}

impl PesapalConfig {
    /// Reads `pesapal_base_url`, `pesapal_consumer_key`, `pesapal_consumer_secret`.
    pub fn load(vars: &dyn Variables) -> Result<Self> {
        Ok(Self {
            base_url: config::base_url(vars, names::PESAPAL_BASE_URL, config::PESAPAL_SANDBOX_URL)?,
            consumer_key: ConsumerKey(config::required_secret(vars, names::PESAPAL_CONSUMER_KEY)?),
            consumer_secret: ConsumerSecret(config::required_secret(
                vars,
                names::PESAPAL_CONSUMER_SECRET,
            )?),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

/// `POST {base}/api/Auth/RequestToken` with the consumer key and secret.
pub fn token_request(config: &PesapalConfig) -> Result<HttpRequest> {
    let body = to_body(&PesapalTokenRequest {
        consumer_key: config.consumer_key.expose(),
        consumer_secret: config.consumer_secret.expose(),
    });
    finish(
        request(Method::Post, config.url("/api/Auth/RequestToken"))
            .with_header("content-type", "application/json")
            .with_body(body),
        names::PESAPAL_BASE_URL,
    )
}

/// Reads the token reply.
pub fn parse_token(response: &HttpResponse) -> Result<AccessToken> {
    let reply: PesapalTokenResponse = checked_reply(response)?;
    match text_of(reply.token.as_ref()).filter(|token| !token.is_empty()) {
        Some(token) => Ok(AccessToken {
            value: Secret::new(token),
            expires: text_of(reply.expiry_date.as_ref()),
        }),
        None => Err(Error::unexpected(
            PROVIDER,
            response.status,
            "token reply without a token",
        )),
    }
}

/// A payment request checked against PesaPal's rules: it owns every field
/// PesaPal requires, already checked, so building the request needs no
/// second look at any of them.
#[derive(Clone, Debug)]
pub struct PesapalOrder {
    reference: String,
    amount: crate::money::Amount,
    currency: String,
    description: String,
    callback_url: String,
    cancellation_url: Option<String>,
    notification_id: String,
    branch: Option<String>,
    redirect_mode: Option<RedirectMode>,
    customer: Customer,
    subscription: Option<crate::recurring::Subscription>,
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
    if let Some(subscription) = &request.subscription {
        crate::recurring::validate(subscription)?;
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
        reference: request.reference.clone(),
        amount,
        currency: request.currency.clone(),
        description: description.to_owned(),
        callback_url: callback.to_owned(),
        cancellation_url: request.cancellation_url.clone(),
        notification_id: notification_id.to_owned(),
        branch: request.branch.clone(),
        redirect_mode: request.redirect_mode,
        customer: customer.clone(),
        subscription: request.subscription.clone(),
    })
}

/// `POST {base}/api/Transactions/SubmitOrderRequest`.
pub fn submit_order_request(
    config: &PesapalConfig,
    token: &AccessToken,
    order: &PesapalOrder,
) -> Result<HttpRequest> {
    // Two decimals of a checked amount are always JSON number text.
    let amount = RawNumber::from_string(order.amount.to_fixed2())
        .map_err(|_| Error::invalid("amount", "is not a decimal number"))?;
    let customer = &order.customer;
    let body = PesapalSubmitOrderRequest {
        id: &order.reference,
        currency: &order.currency,
        amount: &amount,
        description: &order.description,
        callback_url: &order.callback_url,
        cancellation_url: order.cancellation_url.as_deref(),
        notification_id: &order.notification_id,
        branch: order.branch.as_deref(),
        redirect_mode: order.redirect_mode.map(|mode| mode.as_str()),
        billing_address: PesapalBillingAddress {
            email_address: customer.email.as_deref(),
            phone_number: customer.phone.as_deref(),
            country_code: customer.country_code.as_deref(),
            first_name: customer.first_name.as_deref(),
            last_name: customer.last_name.as_deref(),
        },
        account_number: order
            .subscription
            .as_ref()
            .map(|s| s.account_number.as_str()),
        subscription_details: order
            .subscription
            .as_ref()
            .map(|s| PesapalSubscriptionDetails {
                start_date: &s.start_date,
                end_date: &s.end_date,
                frequency: s.frequency.as_str(),
            }),
    };
    authorized_json(
        config,
        token,
        "/api/Transactions/SubmitOrderRequest",
        to_body(&body),
    )
}

/// Reads the SubmitOrderRequest reply.
pub fn parse_submit_order(response: &HttpResponse, request: &PesapalOrder) -> Result<Payment> {
    let reply: PesapalSubmitOrderResponse = checked_reply(response)?;
    let status = response.status;
    let tracking_id = text_of(reply.order_tracking_id.as_ref())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::unexpected(PROVIDER, status, "order reply without order_tracking_id")
        })?;
    let redirect_url = text_of(reply.redirect_url.as_ref())
        .filter(|url| !url.is_empty())
        .ok_or_else(|| Error::unexpected(PROVIDER, status, "order reply without redirect_url"))?;
    Ok(Payment {
        provider: PROVIDER,
        reference: text_of(reply.merchant_reference.as_ref())
            .unwrap_or_else(|| request.reference.clone()),
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
    authorized_json(config, token, "/api/URLSetup/RegisterIPN", to_body(&body))
}

/// Reads the RegisterIPN reply.
pub fn parse_register_ipn(
    response: &HttpResponse,
    request: &IpnRequest,
) -> Result<IpnRegistration> {
    let reply: PesapalRegisterIpnResponse = checked_reply(response)?;
    let ipn_id = text_of(reply.ipn_id.as_ref())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::unexpected(PROVIDER, response.status, "IPN reply without ipn_id"))?;
    let notification_type = text_of(reply.ipn_notification_type_description.as_ref())
        .and_then(|text| text.parse::<NotificationType>().ok())
        .unwrap_or(request.notification_type);
    Ok(IpnRegistration {
        provider: PROVIDER,
        ipn_id,
        url: text_of(reply.url.as_ref()).unwrap_or_else(|| request.url.clone()),
        notification_type,
        created_date: text_of(reply.created_date.as_ref()),
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

/// PesaPal's `status_code` in a GetTransactionStatus reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PesapalStatus {
    /// `0`, INVALID: no payment yet (the customer has not paid).
    Invalid,
    /// `1`, COMPLETED.
    Completed,
    /// `2`, FAILED.
    Failed,
    /// `3`, REVERSED.
    Reversed,
    /// A code PesaPal does not document.
    Other(i64),
}

impl PesapalStatus {
    /// Reads a numeric `status_code`.
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => PesapalStatus::Invalid,
            1 => PesapalStatus::Completed,
            2 => PesapalStatus::Failed,
            3 => PesapalStatus::Reversed,
            other => PesapalStatus::Other(other),
        }
    }
}

impl From<PesapalStatus> for PaymentStatus {
    fn from(status: PesapalStatus) -> Self {
        match status {
            PesapalStatus::Invalid => PaymentStatus::Pending,
            PesapalStatus::Completed => PaymentStatus::Completed,
            PesapalStatus::Failed => PaymentStatus::Failed,
            PesapalStatus::Reversed => PaymentStatus::Reversed,
            PesapalStatus::Other(_) => PaymentStatus::Unknown,
        }
    }
}

/// Reads the GetTransactionStatus reply. `status_code` decides: 1 completed,
/// 2 failed, 3 reversed; 0 is pending (PesaPal answers an unpaid order with
/// `payment_details_not_found` and status "500", which is not an error).
pub fn parse_status(response: &HttpResponse) -> Result<PaymentDetails> {
    // The shape comes first here; the envelope only decides below, when
    // `status_code` does not, because a pending order's reply looks like an error.
    let members =
        object_members(PROVIDER, response)?.map_err(|body| not_an_object(&body, response))?;
    let envelope: PesapalEnvelope = read_members(PROVIDER, response.status, &members)?;
    // A state read from an HTTP error reply is not believed, whatever its
    // `status_code` says: an HTTP error means "unknown, ask again later"
    // (specs/pesapal.md §9.4), never paid and never failed.
    if !(200..300).contains(&response.status) {
        check_envelope(&envelope, response)?;
        return Err(Error::unexpected(
            PROVIDER,
            response.status,
            format!("HTTP {} to a status query", response.status),
        ));
    }
    let error = api_error(&envelope);
    let reply: PesapalStatusResponse = read_members(PROVIDER, response.status, &members)?;
    let status_code =
        text_of(reply.status_code.as_ref()).and_then(|code| code.trim().parse::<i64>().ok());
    let pending_marker = error
        .as_ref()
        .is_some_and(|e| e.code.as_deref() == Some(PENDING_CODE));
    let status = match status_code.map(PesapalStatus::from_code) {
        Some(code) if error.is_none() => PaymentStatus::from(code),
        // An unpaid order's reply carries an error object: still pending.
        Some(code @ PesapalStatus::Invalid) if pending_marker => PaymentStatus::from(code),
        _ => {
            check_envelope(&envelope, response)?;
            return Err(Error::unexpected(
                PROVIDER,
                response.status,
                "status reply without status_code",
            ));
        }
    };
    let not_blank = |value: &Option<Loose>| text_of(value.as_ref()).filter(|text| !text.is_empty());
    Ok(PaymentDetails {
        provider: PROVIDER,
        reference: not_blank(&reply.merchant_reference),
        tracking_id: not_blank(&reply.order_tracking_id),
        status,
        amount: reported_amount_of(reply.amount.as_ref()),
        currency: not_blank(&reply.currency),
        method: not_blank(&reply.payment_method),
        confirmation_code: not_blank(&reply.confirmation_code),
        description: not_blank(&reply.description)
            .or_else(|| not_blank(&reply.payment_status_description)),
    })
}

/// A refund checked against PesaPal's rules, before the payment's status
/// is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PesapalRefund {
    tracking_id: String,
    amount: crate::money::Amount,
    username: String,
    remarks: String,
}

/// A refund ready to send: [`PesapalRefund`] with what the status told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PesapalRefundOrder {
    refund: PesapalRefund,
    confirmation_code: String,
    currency: Option<String>,
}

/// Checks a refund of order `id`; nothing is sent if this fails.
pub fn validate_refund(id: &str, request: &RefundRequest) -> Result<PesapalRefund> {
    validate_tracking_id(id)?;
    let amount = validate::amount(&request.amount).map_err(|r| Error::invalid("amount", r))?;
    validate::text(&request.username, 100).map_err(|r| Error::invalid("username", r))?;
    validate::text(&request.remarks, 255).map_err(|r| Error::invalid("remarks", r))?;
    Ok(PesapalRefund {
        tracking_id: id.to_owned(),
        amount,
        username: request.username.clone(),
        remarks: request.remarks.clone(),
    })
}

/// PesaPal refunds only completed payments, and never more than was paid
/// (specs/pesapal.md §11): checked against the payment's status before the
/// refund request is built.
pub fn refund_against(
    refund: &PesapalRefund,
    payment: &PaymentDetails,
) -> Result<PesapalRefundOrder> {
    if payment.status != PaymentStatus::Completed {
        return Err(Error::invalid(
            "id",
            format!(
                "names a payment that is {}; PesaPal refunds only completed payments",
                payment.status.as_str()
            ),
        ));
    }
    let paid = payment
        .amount
        .as_deref()
        .and_then(crate::money::Amount::parse_reported)
        .ok_or_else(|| {
            Error::unexpected(
                PROVIDER,
                200,
                "status reply without the amount paid; the refund was not sent",
            )
        })?;
    if refund.amount.hundredths() > paid {
        return Err(Error::invalid(
            "amount",
            format!(
                "is more than the {} paid",
                crate::money::Amount::fixed2_from_hundredths(paid)
            ),
        ));
    }
    let confirmation_code = payment
        .confirmation_code
        .clone()
        .filter(|code| !code.is_empty())
        .ok_or_else(|| {
            Error::unexpected(
                PROVIDER,
                200,
                "status reply without confirmation_code; the refund was not sent",
            )
        })?;
    Ok(PesapalRefundOrder {
        refund: refund.clone(),
        confirmation_code,
        currency: payment.currency.clone(),
    })
}

/// `POST {base}/api/Transactions/RefundRequest`.
pub fn refund_request(
    config: &PesapalConfig,
    token: &AccessToken,
    order: &PesapalRefundOrder,
) -> Result<HttpRequest> {
    let amount = order.refund.amount.to_fixed2();
    let body = PesapalRefundRequest {
        confirmation_code: &order.confirmation_code,
        amount: &amount,
        username: &order.refund.username,
        remarks: &order.refund.remarks,
    };
    authorized_json(
        config,
        token,
        "/api/Transactions/RefundRequest",
        to_body(&body),
    )
}

/// Reads the RefundRequest reply: `{"status":"200","message":…}` is a
/// request PesaPal queued (not money moved); `"500"` is a refusal, in
/// `message`.
pub fn parse_refund(response: &HttpResponse, order: &PesapalRefundOrder) -> Result<Refund> {
    let reply: PesapalEnvelope = checked_reply(response)?;
    require_status_200(&reply, response, "refund")?;
    Ok(Refund {
        provider: PROVIDER,
        tracking_id: order.refund.tracking_id.clone(),
        confirmation_code: order.confirmation_code.clone(),
        amount: order.refund.amount.to_fixed2(),
        currency: order.currency.clone(),
        message: text_of(reply.message.as_ref()).filter(|text| !text.is_empty()),
    })
}

/// Checks an order id for cancellation.
pub fn validate_cancel(id: &str) -> Result<()> {
    validate_tracking_id(id)
}

/// `POST {base}/api/Transactions/CancelOrder`.
pub fn cancel_request(
    config: &PesapalConfig,
    token: &AccessToken,
    id: &str,
) -> Result<HttpRequest> {
    let body = PesapalCancelOrderRequest {
        order_tracking_id: id,
    };
    authorized_json(
        config,
        token,
        "/api/Transactions/CancelOrder",
        to_body(&body),
    )
}

/// Reads the CancelOrder reply: `"200"` cancelled, `"500"` refused (a paid
/// order, or one already cancelled), in `message`.
pub fn parse_cancel(response: &HttpResponse, id: &str) -> Result<Cancellation> {
    let reply: PesapalEnvelope = checked_reply(response)?;
    require_status_200(&reply, response, "cancellation")?;
    Ok(Cancellation {
        provider: PROVIDER,
        tracking_id: id.to_owned(),
        message: text_of(reply.message.as_ref()).filter(|text| !text.is_empty()),
    })
}

/// A reply whose only proof of success is `status` "200" (refund, cancel):
/// without it, FinConnect cannot tell what happened.
fn require_status_200(reply: &PesapalEnvelope, response: &HttpResponse, what: &str) -> Result<()> {
    match text_of(reply.status.as_ref()).as_deref().map(str::trim) {
        Some("200") => Ok(()),
        _ => Err(Error::unexpected(
            PROVIDER,
            response.status,
            format!("{what} reply without status \"200\""),
        )),
    }
}

/// `GET {base}/api/URLSetup/GetIpnList`.
pub fn ipn_list_request(config: &PesapalConfig, token: &AccessToken) -> Result<HttpRequest> {
    finish(
        authorized(
            request(Method::Get, config.url("/api/URLSetup/GetIpnList")),
            token,
        ),
        names::PESAPAL_BASE_URL,
    )
}

/// Reads the GetIpnList reply: a bare JSON array of rows (the sandbox's is
/// often empty), or, on failure, an error envelope object.
pub fn parse_ipn_list(response: &HttpResponse) -> Result<Vec<IpnListing>> {
    let body = json_reply(PROVIDER, response)?;
    let items = match &body {
        Loose::Array(raw) => read_json_array(raw.get()).unwrap_or_default(),
        Loose::Object(object) => {
            let envelope: PesapalEnvelope = read_object(PROVIDER, response.status, object)?;
            check_envelope(&envelope, response)?;
            return Err(Error::unexpected(
                PROVIDER,
                response.status,
                "IPN list reply is an object, not the documented array",
            ));
        }
        other => {
            return Err(Error::unexpected(
                PROVIDER,
                response.status,
                format!("IPN list reply is {}, not an array", other.kind()),
            ));
        }
    };
    if response.status >= 400 {
        return Err(Error::unexpected(
            PROVIDER,
            response.status,
            format!("HTTP {} to the IPN list", response.status),
        ));
    }
    let mut listings = Vec::with_capacity(items.len());
    for item in items {
        let Loose::Object(object) = item else {
            return Err(Error::unexpected(
                PROVIDER,
                response.status,
                format!("IPN list row is {}, not an object", item.kind()),
            ));
        };
        let row: PesapalIpnRow = read_object(PROVIDER, response.status, &object)?;
        let not_blank = |value: &Option<Loose>| text_of(value.as_ref()).filter(|t| !t.is_empty());
        let (Some(ipn_id), Some(url)) = (not_blank(&row.ipn_id), not_blank(&row.url)) else {
            return Err(Error::unexpected(
                PROVIDER,
                response.status,
                "IPN list row without ipn_id or url",
            ));
        };
        listings.push(IpnListing {
            provider: PROVIDER,
            ipn_id,
            url,
            notification_type: not_blank(&row.ipn_notification_type_description)
                .and_then(|text| text.to_ascii_uppercase().parse::<NotificationType>().ok()),
            created_date: not_blank(&row.created_date),
            active: match not_blank(&row.ipn_status).as_deref().map(str::trim) {
                Some("1") => Some(true),
                Some("0") => Some(false),
                _ => None,
            },
        });
    }
    Ok(listings)
}

/// A request body: the wire struct as compact JSON.
fn to_body<T: serde::Serialize>(body: &T) -> Vec<u8> {
    // The wire structs hold only strings, numbers and nested structs, which
    // serde_json always writes.
    serde_json::to_vec(body).unwrap_or_default()
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

/// PesaPal's error object, as text (see [`PesapalErrorObject`]).
#[derive(Default, Debug, PartialEq, Eq)]
struct PesapalApiError {
    error_type: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

impl PesapalApiError {
    /// Reads an error object. When both spellings of the type are present,
    /// `error_type` (what PesaPal sends) is preferred to `type`.
    fn read(object: &RawValue) -> Self {
        let error: PesapalErrorObject = read_json_object(object.get()).unwrap_or_default();
        Self {
            error_type: text_of(error.error_type.as_ref())
                .or_else(|| text_of(error.documented_type.as_ref())),
            code: text_of(error.code.as_ref()),
            message: text_of(error.message.as_ref()),
        }
    }

    /// True when at least one member carries something (an all-null error
    /// object means success).
    fn is_meaningful(&self) -> bool {
        [&self.error_type, &self.code, &self.message]
            .into_iter()
            .any(|member| member.as_deref().is_some_and(|text| !text.is_empty()))
    }
}

/// The error object of a reply, if it says anything. Looks inside `message`
/// too, where PesaPal sometimes nests a whole error envelope as JSON text.
fn api_error(envelope: &PesapalEnvelope) -> Option<PesapalApiError> {
    let direct = match &envelope.error {
        Some(Loose::Object(error)) => Some(PesapalApiError::read(error)),
        Some(Loose::String(text)) if !text.is_empty() => Some(PesapalApiError {
            message: Some(text.clone()),
            ..PesapalApiError::default()
        }),
        _ => None,
    };
    if let Some(error) = direct.filter(PesapalApiError::is_meaningful) {
        return Some(error);
    }
    let text = envelope.message.as_ref()?.as_str()?;
    // Most messages are plain text ("Request processed successfully"):
    // only one that can be an object is parsed, so a successful reply does
    // not pay for building and formatting a parse error.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let nested: PesapalEnvelope = read_json_object(text).ok()?;
    match nested.error {
        Some(Loose::Object(error)) => {
            Some(PesapalApiError::read(&error)).filter(PesapalApiError::is_meaningful)
        }
        _ => None,
    }
}

/// Reads a reply that must be a JSON object as the wire struct `T`:
/// unreadable body first, then the envelope ([`check_envelope`]), then the
/// shape.
fn checked_reply<T: serde::de::DeserializeOwned>(response: &HttpResponse) -> Result<T> {
    match object_members(PROVIDER, response)? {
        Ok(members) => {
            let envelope = read_members(PROVIDER, response.status, &members)?;
            check_envelope(&envelope, response)?;
            read_members(PROVIDER, response.status, &members)
        }
        Err(body) => {
            check_envelope(&PesapalEnvelope::default(), response)?;
            Err(not_an_object(&body, response))
        }
    }
}

/// The error for a reply body that is JSON but not an object.
fn not_an_object(body: &Loose, response: &HttpResponse) -> Error {
    Error::unexpected(
        PROVIDER,
        response.status,
        format!(
            "reply did not have the documented shape: the body is {}, not a JSON object",
            body.kind()
        ),
    )
}

/// Classifies a reply's envelope: a meaningful `error` object, then
/// `status` other than "200", then an HTTP error status. A body that is not
/// an object has no envelope, so only its HTTP status counts.
fn check_envelope(envelope: &PesapalEnvelope, response: &HttpResponse) -> Result<()> {
    let http_status = response.status;
    if let Some(error) = api_error(envelope) {
        return Err(refusal(http_status, error));
    }
    let status = text_of(envelope.status.as_ref());
    if let Some(code) = status
        .as_deref()
        .map(str::trim)
        .filter(|code| *code != "200" && !code.is_empty())
    {
        let message = envelope
            .message
            .as_ref()
            .and_then(Loose::as_str)
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
#[cfg(test)]
mod tests_recurring;
#[cfg(test)]
mod tests_refunds;
