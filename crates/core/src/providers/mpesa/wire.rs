//! M-Pesa Daraja JSON shapes, with Daraja's own member names (PascalCase,
//! `ID` in capitals, camelCase in the gateway's error body).
//!
//! Replies are read leniently, as `specs/mpesa-daraja.md` §9.1 asks: every
//! member is optional (the caller says which ones it needs), unknown members
//! are ignored, and codes that Daraja sends sometimes as a string and
//! sometimes as a number (`expires_in`, `ResponseCode`, `ResultCode`) are
//! read as [`Text`]. Callback item values are kept as raw JSON text so that
//! an amount such as `1.00` is read from its exact digits, never through a
//! float.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;

/// Text that Daraja sends either as a JSON string or as an integer
/// (`"3599"` or `3599`, `"0"` or `0`). A number with a fraction or an
/// exponent, a boolean, an array or an object is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Text(pub(super) String);

impl Text {
    /// The text, trimmed; `None` when blank.
    pub(super) fn non_blank(&self) -> Option<&str> {
        let text = self.0.trim();
        (!text.is_empty()).then_some(text)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl Visitor<'_> for TextVisitor {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text, E> {
                Ok(Text(text.to_owned()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text, E> {
                Ok(Text(text))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Text, E> {
                Ok(Text(number.to_string()))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Text, E> {
                Ok(Text(number.to_string()))
            }
        }

        deserializer.deserialize_any(TextVisitor)
    }
}

/// The OAuth reply: `{"access_token":"…","expires_in":"3599"}` (the portal
/// shows a number for `expires_in`, captures a string).
#[derive(Deserialize)]
pub(super) struct MpesaTokenResponse {
    pub(super) access_token: Option<Text>,
    pub(super) expires_in: Option<Text>,
}

/// The gateway's error body: `{"requestId","errorCode","errorMessage"}`.
/// Read from every reply; a success reply simply has none of them. In the
/// query's "being processed" answer `requestId` echoes the CheckoutRequestID.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MpesaErrorBody {
    pub(super) request_id: Option<Text>,
    pub(super) error_code: Option<Text>,
    pub(super) error_message: Option<Text>,
}

/// `POST /mpesa/stkpush/v1/processrequest`. Shortcode, parties and phone go
/// as digit strings (Daraja takes strings or numbers, §3); the amount as a
/// JSON integer (whole shillings).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaStkPushRequest<'a> {
    pub(super) business_short_code: &'a str,
    pub(super) password: &'a str,
    pub(super) timestamp: &'a str,
    pub(super) transaction_type: &'a str,
    pub(super) amount: u32,
    pub(super) party_a: &'a str,
    pub(super) party_b: &'a str,
    pub(super) phone_number: &'a str,
    #[serde(rename = "CallBackURL")]
    pub(super) call_back_url: &'a str,
    pub(super) account_reference: &'a str,
    pub(super) transaction_desc: &'a str,
}

/// The STK push reply (all strings as observed).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaStkPushResponse {
    #[serde(rename = "CheckoutRequestID")]
    pub(super) checkout_request_id: Option<Text>,
    pub(super) response_code: Option<Text>,
    pub(super) response_description: Option<Text>,
    pub(super) customer_message: Option<Text>,
}

/// `POST /mpesa/stkpushquery/v1/query`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaStkQueryRequest<'a> {
    pub(super) business_short_code: &'a str,
    pub(super) password: &'a str,
    pub(super) timestamp: &'a str,
    #[serde(rename = "CheckoutRequestID")]
    pub(super) checkout_request_id: &'a str,
}

/// The STK query reply. `ResultCode` is a string here (a number in the
/// callback); both are read.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaStkQueryResponse {
    pub(super) response_code: Option<Text>,
    pub(super) response_description: Option<Text>,
    #[serde(rename = "CheckoutRequestID")]
    pub(super) checkout_request_id: Option<Text>,
    pub(super) result_code: Option<Text>,
    pub(super) result_desc: Option<Text>,
}

/// The STK callback envelope: `{"Body":{"stkCallback":{…}}}`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaCallbackEnvelope {
    pub(super) body: Option<MpesaCallbackBody>,
}

#[derive(Deserialize)]
pub(super) struct MpesaCallbackBody {
    #[serde(rename = "stkCallback")]
    pub(super) stk_callback: Option<MpesaStkCallback>,
}

/// The callback itself; `CallbackMetadata` is absent on failure, and
/// `ResultCode` is a number except for codes such as `"SFC_IC0003"`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaStkCallback {
    #[serde(rename = "MerchantRequestID")]
    pub(super) merchant_request_id: Option<Text>,
    #[serde(rename = "CheckoutRequestID")]
    pub(super) checkout_request_id: Option<Text>,
    pub(super) result_code: Option<Text>,
    pub(super) result_desc: Option<Text>,
    pub(super) callback_metadata: Option<MpesaCallbackMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaCallbackMetadata {
    pub(super) item: Option<Vec<MpesaCallbackItem>>,
}

/// One `{Name, Value?}` item. `Value` is kept as raw JSON text: `Balance`
/// comes without it, `Amount` is `1.00` or `1`, `TransactionDate` and
/// `PhoneNumber` are numbers (strings are accepted too).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MpesaCallbackItem {
    pub(super) name: Option<Text>,
    pub(super) value: Option<Box<RawValue>>,
}
