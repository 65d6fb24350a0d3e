//! ClickPesa's hosted pages: the checkout link
//! (`POST /checkout-link/generate-checkout-url`, `method: checkout_link`)
//! and the card payment link (`POST /payments/initiate-card-payment`,
//! `method: card`). Both answer a link the customer opens; the outcome
//! arrives later by webhook or status query, keyed by the order reference.

use super::{PROVIDER, check_status, not_as_documented, object_reply, validate_reference};
use crate::config::names;
use crate::domain::{Payment, PaymentRequest, PaymentStatus};
use crate::error::{Error, Result};
use crate::money::Amount;
use crate::providers::{AccessToken, Loose, finish, request, text_of};
use crate::transport::{HttpRequest, HttpResponse, Method};
use crate::validate;
use serde::{Deserialize, Serialize};

/// The longest description sent (ClickPesa's BillPay limit; the checkout
/// documents none).
const DESCRIPTION_MAX: usize = 500;
/// The longest customer name sent.
const NAME_MAX: usize = 100;

/// A checkout-link request checked against ClickPesa's rules (the total
/// variant: one price for the whole order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostedCheckout {
    reference: String,
    amount: Amount,
    currency: String,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_phone: Option<String>,
    description: Option<String>,
}

/// A card payment checked against ClickPesa's rules: USD, and the card
/// holder named in full with an email and a phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardPayment {
    reference: String,
    amount: Amount,
    full_name: String,
    email: String,
    phone: String,
}

/// The checkout body (total variant), members in alphabetical order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckoutBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    order_currency: &'a str,
    order_reference: &'a str,
    /// Decimal text in major units (a string, as documented).
    total_price: String,
}

/// The card body's `customer`, the full-details variant.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CardCustomer<'a> {
    email: &'a str,
    full_name: &'a str,
    phone_number: &'a str,
}

/// The card body, members in alphabetical order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CardBody<'a> {
    /// Decimal text in major units (a string, as documented).
    amount: String,
    currency: &'a str,
    customer: CardCustomer<'a>,
    order_reference: &'a str,
}

/// The checkout reply: `{"checkoutLink", "clientId"}`; `clientId` is not read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckoutReply {
    checkout_link: Option<Loose>,
}

/// The card reply: `{"cardPaymentLink", "clientId"}`; `clientId` is not read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CardReply {
    card_payment_link: Option<Loose>,
}

/// Optional text: absent or checked with [`validate::text`].
fn optional_text(value: Option<&str>, field: &str, max: usize) -> Result<Option<String>> {
    value
        .map(|text| {
            validate::text(text, max)
                .map(|()| text.to_owned())
                .map_err(|reason| Error::invalid(field, reason))
        })
        .transpose()
}

/// A ClickPesa mobile number: `255` and nine digits, no `+`.
pub(super) fn tanzanian_phone(phone: &str) -> Result<()> {
    if phone.len() == 12 && phone.starts_with("255") && phone.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "customer.phone",
            "must be 255 followed by 9 digits, without + (e.g. 255712345678)",
        ))
    }
}

/// The customer's full name: first name, then last name when given.
fn full_name(request: &PaymentRequest) -> Result<Option<String>> {
    let first = optional_text(
        request.customer.first_name.as_deref(),
        "customer.first_name",
        NAME_MAX,
    )?;
    let last = optional_text(
        request.customer.last_name.as_deref(),
        "customer.last_name",
        NAME_MAX,
    )?;
    Ok(match (first, last) {
        (Some(first), Some(last)) => Some(format!("{} {}", first.trim(), last.trim())),
        (Some(first), None) => Some(first.trim().to_owned()),
        (None, Some(_)) => {
            return Err(Error::invalid(
                "customer.first_name",
                "is required when customer.last_name is given",
            ));
        }
        (None, None) => None,
    })
}

/// The reference and amount every hosted payment needs.
fn reference_and_amount(request: &PaymentRequest) -> Result<Amount> {
    validate_reference(&request.reference, "reference")?;
    let amount = validate::amount(&request.amount).map_err(|r| Error::invalid("amount", r))?;
    validate::currency(&request.currency).map_err(|r| Error::invalid("currency", r))?;
    Ok(amount)
}

/// Checks a `checkout_link` payment; nothing is sent if this fails.
pub fn validate_checkout(request: &PaymentRequest) -> Result<HostedCheckout> {
    let amount = reference_and_amount(request)?;
    if !matches!(request.currency.as_str(), "TZS" | "USD") {
        return Err(Error::invalid(
            "currency",
            "must be TZS or USD for a ClickPesa checkout link",
        ));
    }
    let customer_name = full_name(request)?;
    if let Some(email) = &request.customer.email {
        validate::email(email).map_err(|r| Error::invalid("customer.email", r))?;
    }
    if let Some(phone) = &request.customer.phone {
        tanzanian_phone(phone)?;
    }
    Ok(HostedCheckout {
        reference: request.reference.clone(),
        amount,
        currency: request.currency.clone(),
        customer_name,
        customer_email: request.customer.email.clone(),
        customer_phone: request.customer.phone.clone(),
        description: optional_text(
            request.description.as_deref(),
            "description",
            DESCRIPTION_MAX,
        )?,
    })
}

/// Checks a `card` payment; nothing is sent if this fails.
pub fn validate_card(request: &PaymentRequest) -> Result<CardPayment> {
    let amount = reference_and_amount(request)?;
    if request.currency != "USD" {
        return Err(Error::invalid(
            "currency",
            "must be USD for a ClickPesa card payment (card collection is USD only)",
        ));
    }
    let full_name = full_name(request)?.ok_or_else(|| {
        Error::invalid(
            "customer.first_name",
            "is required for a ClickPesa card payment (the card holder's name)",
        )
    })?;
    let email = request.customer.email.clone().ok_or_else(|| {
        Error::invalid("customer.email", "is required for a ClickPesa card payment")
    })?;
    validate::email(&email).map_err(|r| Error::invalid("customer.email", r))?;
    let phone = request.customer.phone.clone().ok_or_else(|| {
        Error::invalid("customer.phone", "is required for a ClickPesa card payment")
    })?;
    validate::phone(&phone).map_err(|r| Error::invalid("customer.phone", r))?;
    Ok(CardPayment {
        reference: request.reference.clone(),
        amount,
        full_name,
        email,
        phone,
    })
}

/// A JSON body, signed with the checksum key when one is set.
pub(super) fn body_of<T: Serialize>(config: &super::ClickpesaConfig, body: &T) -> Result<Vec<u8>> {
    // The bodies hold only strings, which serde_json always writes.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let Some(key) = &config.checksum_key else {
        return Ok(bytes);
    };
    let mut tree = super::checksum::Value::parse(&bytes)
        .map_err(|error| Error::invalid("body", error.to_string()))?;
    super::checksum::sign(key.expose().as_bytes(), &mut tree)
        .map_err(|refused| Error::invalid("amount", refused.to_string()))?;
    Ok(tree.to_vec())
}

/// A signed POST of `body` to `path` with the token verbatim.
pub(super) fn post(
    config: &super::ClickpesaConfig,
    token: &AccessToken,
    path: &str,
    body: Vec<u8>,
) -> Result<HttpRequest> {
    finish(
        request(Method::Post, config.url(path))
            .with_header("authorization", token.value.expose())
            .with_header("content-type", "application/json")
            .with_body(body),
        names::CLICKPESA_BASE_URL,
    )
}

/// `POST {base}/checkout-link/generate-checkout-url` (total variant).
pub fn checkout_request(
    config: &super::ClickpesaConfig,
    token: &AccessToken,
    checkout: &HostedCheckout,
) -> Result<HttpRequest> {
    let body = CheckoutBody {
        customer_email: checkout.customer_email.as_deref(),
        customer_name: checkout.customer_name.as_deref(),
        customer_phone: checkout.customer_phone.as_deref(),
        description: checkout.description.as_deref(),
        order_currency: &checkout.currency,
        order_reference: &checkout.reference,
        total_price: checkout.amount.to_plain(),
    };
    post(
        config,
        token,
        "/checkout-link/generate-checkout-url",
        body_of(config, &body)?,
    )
}

/// `POST {base}/payments/initiate-card-payment` with the customer's details.
pub fn card_request(
    config: &super::ClickpesaConfig,
    token: &AccessToken,
    card: &CardPayment,
) -> Result<HttpRequest> {
    let body = CardBody {
        amount: card.amount.to_plain(),
        currency: "USD",
        customer: CardCustomer {
            email: &card.email,
            full_name: &card.full_name,
            phone_number: &card.phone,
        },
        order_reference: &card.reference,
    };
    post(
        config,
        token,
        "/payments/initiate-card-payment",
        body_of(config, &body)?,
    )
}

/// The link a reply carries in `member`: an absolute http(s) URL, or the
/// reply is not as documented.
fn link(response: &HttpResponse, value: Option<&Loose>, member: &str) -> Result<String> {
    text_of(value)
        .filter(|link| validate::absolute_http_url(link).is_ok())
        .ok_or_else(|| {
            not_as_documented(
                response,
                &format!("`{member}` is missing or not an http(s) URL"),
            )
        })
}

/// A pending payment whose page is at `link`; ClickPesa names it by the
/// order reference.
fn pending(reference: &str, link: String) -> Payment {
    Payment {
        provider: PROVIDER,
        reference: reference.to_owned(),
        tracking_id: reference.to_owned(),
        redirect_url: Some(link),
        status: PaymentStatus::Pending,
    }
}

/// Reads the checkout reply.
pub fn parse_checkout(response: &HttpResponse, checkout: &HostedCheckout) -> Result<Payment> {
    check_status(response)?;
    let reply: CheckoutReply = object_reply(response)?;
    let link = link(response, reply.checkout_link.as_ref(), "checkoutLink")?;
    Ok(pending(&checkout.reference, link))
}

/// Reads the card reply.
pub fn parse_card(response: &HttpResponse, card: &CardPayment) -> Result<Payment> {
    check_status(response)?;
    let reply: CardReply = object_reply(response)?;
    let link = link(
        response,
        reply.card_payment_link.as_ref(),
        "cardPaymentLink",
    )?;
    Ok(pending(&card.reference, link))
}

#[cfg(test)]
#[path = "tests_hosted.rs"]
mod tests;
