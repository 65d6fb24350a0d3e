//! ClickPesa's previews: `POST /payments/preview-ussd-push-request` (mobile
//! money: the active methods, their fees and, when asked, the account
//! behind the phone number) and `POST /payments/preview-card-payment`
//! (card, USD). Neither charges anything or starts a payment.

use super::hosted::{body_of, post, tanzanian_phone};
use super::{
    ClickpesaConfig, PROVIDER, check_status, not_as_documented, object_reply, validate_reference,
};
use crate::domain::{
    MethodStatus, PaymentMethod, PaymentPreview, PaymentRequest, PreviewMethod, PreviewSender,
};
use crate::error::{Error, Result};
use crate::money::Amount;
use crate::providers::{
    AccessToken, Loose, read_json_array, read_json_object, read_object, text_of,
};
use crate::transport::{HttpRequest, HttpResponse};
use crate::validate;
use serde::{Deserialize, Serialize};

/// A preview checked against ClickPesa's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preview {
    /// Mobile money (USSD push), TZS; the phone is optional unless the
    /// sender is asked for.
    Ussd {
        /// The merchant reference.
        reference: String,
        /// The amount.
        amount: Amount,
        /// `255XXXXXXXXX`, when given.
        phone: Option<String>,
        /// Whether to ask for the account behind the phone.
        fetch_sender: bool,
    },
    /// Card, USD.
    Card {
        /// The merchant reference.
        reference: String,
        /// The amount.
        amount: Amount,
    },
}

impl Preview {
    fn reference(&self) -> &str {
        match self {
            Preview::Ussd { reference, .. } | Preview::Card { reference, .. } => reference,
        }
    }
}

/// Checks a preview; nothing is sent if this fails.
pub fn validate_preview(request: &PaymentRequest, fetch_sender: bool) -> Result<Preview> {
    let method = request.method.unwrap_or(PaymentMethod::MobileMoney);
    if method == PaymentMethod::CheckoutLink {
        return Err(Error::Unsupported {
            provider: PROVIDER,
            operation: "preview of a checkout_link payment".to_owned(),
            detail: "ClickPesa documents previews for mobile_money (USSD push) and card only; \
                     its checkout page shows the methods itself"
                .to_owned(),
        });
    }
    validate_reference(&request.reference, "reference")?;
    let amount = validate::amount(&request.amount).map_err(|r| Error::invalid("amount", r))?;
    validate::currency(&request.currency).map_err(|r| Error::invalid("currency", r))?;
    if method == PaymentMethod::Card {
        if request.currency != "USD" {
            return Err(Error::invalid(
                "currency",
                "must be USD for a ClickPesa card preview (card collection is USD only)",
            ));
        }
        if fetch_sender {
            return Err(Error::invalid(
                "fetch_sender_details",
                "is for mobile_money previews only (the sender is a mobile-money account)",
            ));
        }
        return Ok(Preview::Card {
            reference: request.reference.clone(),
            amount,
        });
    }
    if request.currency != "TZS" {
        return Err(Error::invalid(
            "currency",
            "must be TZS for a ClickPesa mobile money preview",
        ));
    }
    if let Some(phone) = &request.customer.phone {
        tanzanian_phone(phone)?;
    } else if fetch_sender {
        return Err(Error::invalid(
            "customer.phone",
            "is required to fetch the sender's details",
        ));
    }
    Ok(Preview::Ussd {
        reference: request.reference.clone(),
        amount,
        phone: request.customer.phone.clone(),
        fetch_sender,
    })
}

/// The USSD preview body, members in alphabetical order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UssdPreviewBody<'a> {
    amount: String,
    currency: &'a str,
    fetch_sender_details: bool,
    order_reference: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
}

/// The card preview body, members in alphabetical order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CardPreviewBody<'a> {
    amount: String,
    currency: &'a str,
    order_reference: &'a str,
}

/// `POST {base}/payments/preview-ussd-push-request` or
/// `POST {base}/payments/preview-card-payment`, signed when a checksum key
/// is set.
pub fn preview_request(
    config: &ClickpesaConfig,
    token: &AccessToken,
    preview: &Preview,
) -> Result<HttpRequest> {
    match preview {
        Preview::Ussd {
            reference,
            amount,
            phone,
            fetch_sender,
        } => {
            let body = UssdPreviewBody {
                amount: amount.to_plain(),
                currency: "TZS",
                fetch_sender_details: *fetch_sender,
                order_reference: reference,
                phone_number: phone.as_deref(),
            };
            post(
                config,
                token,
                "/payments/preview-ussd-push-request",
                body_of(config, &body)?,
            )
        }
        Preview::Card { reference, amount } => {
            let body = CardPreviewBody {
                amount: amount.to_plain(),
                currency: "USD",
                order_reference: reference,
            };
            post(
                config,
                token,
                "/payments/preview-card-payment",
                body_of(config, &body)?,
            )
        }
    }
}

/// The preview reply: `{"activeMethods": [...], "sender": {...}}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreviewReply {
    active_methods: Option<Loose>,
    sender: Option<Loose>,
}

/// One `activeMethods` row.
#[derive(Deserialize)]
struct MethodRow {
    name: Option<Loose>,
    status: Option<Loose>,
    fee: Option<Loose>,
    message: Option<Loose>,
}

/// The `sender` object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SenderRow {
    account_name: Option<Loose>,
    account_number: Option<Loose>,
    account_provider: Option<Loose>,
}

/// A fee as the exact decimal text ClickPesa wrote (`580`, `580.5`):
/// digits, optionally a point and more digits. Anything else is not a fee.
fn fee_text(value: &Loose) -> Option<String> {
    let text = match value {
        Loose::Number(text) | Loose::String(text) => text.trim(),
        _ => return None,
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid = !whole.is_empty()
        && digits(whole)
        && digits(fraction)
        && (!text.contains('.') || !fraction.is_empty());
    valid.then(|| text.to_owned())
}

fn not_blank(value: Option<&Loose>) -> Option<String> {
    text_of(value).filter(|text| !text.trim().is_empty())
}

fn method_row(response: &HttpResponse, item: &Loose) -> Result<PreviewMethod> {
    let Loose::Object(object) = item else {
        return Err(not_as_documented(
            response,
            "an `activeMethods` row is not an object",
        ));
    };
    let row: MethodRow = read_object(PROVIDER, response.status, object)?;
    let name = not_blank(row.name.as_ref())
        .ok_or_else(|| not_as_documented(response, "an `activeMethods` row has no `name`"))?;
    let status = match text_of(row.status.as_ref()) {
        Some(status) if status.trim().eq_ignore_ascii_case("AVAILABLE") => MethodStatus::Available,
        _ => MethodStatus::Unavailable,
    };
    let fee = match &row.fee {
        None | Some(Loose::Null) => None,
        Some(fee) => Some(fee_text(fee).ok_or_else(|| {
            not_as_documented(response, "an `activeMethods` fee is not a decimal number")
        })?),
    };
    Ok(PreviewMethod {
        name,
        status,
        fee,
        message: not_blank(row.message.as_ref()),
    })
}

/// Reads the preview reply (either preview: the shape is the same).
pub fn parse_preview(response: &HttpResponse, preview: &Preview) -> Result<PaymentPreview> {
    check_status(response)?;
    let reply: PreviewReply = object_reply(response)?;
    let items = match &reply.active_methods {
        Some(Loose::Array(items)) => read_json_array(items.get()),
        _ => None,
    }
    .ok_or_else(|| not_as_documented(response, "`activeMethods` is not an array"))?;
    let methods = items
        .iter()
        .map(|item| method_row(response, item))
        .collect::<Result<Vec<_>>>()?;
    let sender = match &reply.sender {
        None | Some(Loose::Null) => None,
        Some(Loose::Object(object)) => {
            let row: SenderRow = read_json_object(object.get())
                .map_err(|_| not_as_documented(response, "`sender` is not readable"))?;
            Some(PreviewSender {
                account_name: not_blank(row.account_name.as_ref()),
                account_number: not_blank(row.account_number.as_ref()),
                account_provider: not_blank(row.account_provider.as_ref()),
            })
        }
        Some(_) => return Err(not_as_documented(response, "`sender` is not an object")),
    };
    Ok(PaymentPreview {
        provider: PROVIDER,
        reference: preview.reference().to_owned(),
        methods,
        sender,
    })
}

#[cfg(test)]
#[path = "tests_preview.rs"]
mod tests;
