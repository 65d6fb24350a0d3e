//! The STK callback Daraja POSTs to `CallBackURL` when a prompt ends, and
//! the merchant's answer to it (spec §5).
//!
//! The callback has no signature: anyone who knows the URL can post a
//! perfect forgery. It is a hint only. The flow must look its
//! `CheckoutRequestID` up, confirm the outcome with an STK query, and only
//! then acknowledge it with [`ack`]`(true)`.
//!
//! Read leniently: `ResultCode` as a number or a string (`"SFC_IC0003"`),
//! `CallbackMetadata` absent on failure, items found by `Name` in any order,
//! `Balance` without `Value`, `Amount` as `1`, `1.00` or a string,
//! `TransactionDate` and `PhoneNumber` as numbers or strings.

use super::wire::{MpesaCallbackEnvelope, MpesaCallbackItem, Text};
use super::{ResultCode, fixed2, validate_checkout_request_id};
use crate::domain::PaymentStatus;
use crate::error::{Error, Result};
use serde_json::value::RawValue;

/// Where the callback's members live, for error messages.
const CALLBACK: &str = "Body.stkCallback";

/// A parsed STK callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StkCallback {
    /// `MerchantRequestID`.
    pub merchant_request_id: Option<String>,
    /// `CheckoutRequestID`: the payment's `tracking_id`.
    pub checkout_request_id: String,
    /// `ResultCode`.
    pub result_code: ResultCode,
    /// `ResultDesc`, the provider's words.
    pub result_desc: Option<String>,
    /// `Amount` in KES with two decimals (`"1.00"`), read from its exact text.
    pub amount: Option<String>,
    /// `MpesaReceiptNumber` (`NLJ7RT61SV`).
    pub receipt_number: Option<String>,
    /// `TransactionDate` as sent: `YYYYMMDDHHmmss`, East Africa Time.
    pub transaction_date: Option<String>,
    /// `TransactionDate` as RFC 3339 with its `+03:00` offset, when it is a
    /// valid date and time.
    pub transaction_time: Option<String>,
    /// `PhoneNumber`, as sent (`254708374149`).
    pub phone_number: Option<String>,
}

impl StkCallback {
    /// What the callback claims (to be confirmed by an STK query).
    pub fn status(&self) -> PaymentStatus {
        PaymentStatus::from(&self.result_code)
    }
}

/// Reads a callback body.
pub fn parse(body: &[u8]) -> Result<StkCallback> {
    let envelope: MpesaCallbackEnvelope = serde_json::from_slice(body).map_err(|error| {
        let reason = if error.is_data() {
            "does not have the shape of an M-Pesa STK callback"
        } else {
            "is not valid JSON"
        };
        Error::invalid("body", reason)
    })?;
    let callback = envelope
        .body
        .and_then(|body| body.stk_callback)
        .ok_or_else(|| Error::invalid(CALLBACK, "is required"))?;
    let text = |member: Option<Text>| member.as_ref().and_then(Text::non_blank).map(str::to_owned);
    let checkout_request_id = text(callback.checkout_request_id)
        .ok_or_else(|| Error::invalid(format!("{CALLBACK}.CheckoutRequestID"), "is required"))?;
    validate_checkout_request_id(&checkout_request_id).map_err(|_| {
        Error::invalid(
            format!("{CALLBACK}.CheckoutRequestID"),
            "is not an M-Pesa CheckoutRequestID",
        )
    })?;
    let result_code = text(callback.result_code)
        .map(|code| ResultCode::parse(&code))
        .ok_or_else(|| Error::invalid(format!("{CALLBACK}.ResultCode"), "is required"))?;
    let items = callback
        .callback_metadata
        .and_then(|metadata| metadata.item)
        .unwrap_or_default();
    let amount = match item_text(&items, "Amount") {
        None => None,
        Some(text) => Some(fixed2(&text).ok_or_else(|| {
            Error::invalid(
                format!("{CALLBACK}.CallbackMetadata.Amount"),
                "must be an exact decimal amount with at most two decimals",
            )
        })?),
    };
    let transaction_date = item_text(&items, "TransactionDate");
    let transaction_time = transaction_date.as_deref().and_then(eat_rfc3339);
    Ok(StkCallback {
        merchant_request_id: text(callback.merchant_request_id),
        checkout_request_id,
        result_code,
        result_desc: text(callback.result_desc),
        amount,
        receipt_number: item_text(&items, "MpesaReceiptNumber"),
        transaction_date,
        transaction_time,
        phone_number: item_text(&items, "PhoneNumber"),
    })
}

/// The value of the first item called `name`, as text: a string's
/// contents, a number's exact digits. `None` when absent, null, blank, or
/// a boolean, array or object.
fn item_text(items: &[MpesaCallbackItem], name: &str) -> Option<String> {
    let item = items
        .iter()
        .find(|item| item.name.as_ref().and_then(Text::non_blank) == Some(name))?;
    raw_text(item.value.as_deref()?).filter(|text| !text.trim().is_empty())
}

fn raw_text(raw: &RawValue) -> Option<String> {
    let json = raw.get().trim();
    match json.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(json).ok(),
        b'-' | b'0'..=b'9' => Some(json.to_owned()),
        _ => None,
    }
}

/// `YYYYMMDDHHmmss` (East Africa Time) as `YYYY-MM-DDTHH:mm:ss+03:00`,
/// when every part is in range.
fn eat_rfc3339(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let (year, month, day) = (part(0..4)?, part(4..6)?, part(6..8)?);
    let (hour, minute, second) = (part(8..10)?, part(10..12)?, part(12..14)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let valid = (1..=days_in_month).contains(&day) && hour < 24 && minute < 60 && second < 60;
    valid.then(|| format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}+03:00"))
}

/// The merchant's answer to a callback: `{"ResultCode":0,"ResultDesc":"Accepted"}`
/// once the callback is confirmed, a non-zero `ResultCode` otherwise.
pub fn ack(accepted: bool) -> Vec<u8> {
    let body: &[u8] = if accepted {
        br#"{"ResultCode":0,"ResultDesc":"Accepted"}"#
    } else {
        br#"{"ResultCode":1,"ResultDesc":"Rejected: the callback could not be confirmed"}"#
    };
    body.to_vec()
}
