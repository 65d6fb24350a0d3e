//! PesaPal API 3.0 JSON shapes (snake_case, with the documented exceptions).
//!
//! Requests are written with [`Object`], member by member in the documented
//! order, optional members left out when absent. Replies are read from a
//! [`Value`] tree that the caller has already checked is an object; PesaPal
//! is loose about types, so every text field accepts a string, a number or a
//! boolean ([`Value::text_of`]) and treats null, arrays and objects as absent.

use crate::json::{Object, Value};

pub(super) struct PesapalTokenRequest<'a> {
    pub(super) consumer_key: &'a str,
    pub(super) consumer_secret: &'a str,
}

impl PesapalTokenRequest<'_> {
    pub(super) fn to_json(&self) -> Object {
        Object::new()
            .field("consumer_key", self.consumer_key)
            .field("consumer_secret", self.consumer_secret)
    }
}

pub(super) struct PesapalTokenResponse {
    pub(super) token: Option<String>,
    pub(super) expiry_date: Option<String>,
}

impl PesapalTokenResponse {
    pub(super) fn from_json(reply: &Value) -> Self {
        Self {
            token: reply.text_of("token"),
            expiry_date: reply.text_of("expiryDate"),
        }
    }
}

/// The parts of every reply that say whether the call worked. `error` and
/// `message` are kept as trees: their meaning depends on their type. A null
/// member counts as absent.
#[derive(Default)]
pub(super) struct PesapalEnvelope<'a> {
    pub(super) error: Option<&'a Value>,
    pub(super) status: Option<String>,
    pub(super) message: Option<&'a Value>,
}

impl<'a> PesapalEnvelope<'a> {
    /// Reads the envelope members of `reply`; anything but an object has none.
    pub(super) fn from_json(reply: &'a Value) -> Self {
        let present = |key| reply.get(key).filter(|value| !value.is_null());
        Self {
            error: present("error"),
            status: reply.text_of("status"),
            message: present("message"),
        }
    }
}

/// PesaPal's error object. The documented key is `type`; in practice it is
/// `error_type`. Every member may be null.
#[derive(Default, Debug, PartialEq, Eq)]
pub(super) struct PesapalApiError {
    pub(super) error_type: Option<String>,
    pub(super) code: Option<String>,
    pub(super) message: Option<String>,
}

impl PesapalApiError {
    /// Reads an error object. When both spellings of the type are present,
    /// `error_type` (what PesaPal sends) is preferred to `type`.
    pub(super) fn from_json(error: &Value) -> Self {
        Self {
            error_type: error
                .text_of("error_type")
                .or_else(|| error.text_of("type")),
            code: error.text_of("code"),
            message: error.text_of("message"),
        }
    }

    /// True when at least one member carries something (an all-null error
    /// object means success).
    pub(super) fn is_meaningful(&self) -> bool {
        [&self.error_type, &self.code, &self.message]
            .into_iter()
            .any(|member| member.as_deref().is_some_and(|text| !text.is_empty()))
    }
}

pub(super) struct PesapalSubmitOrderRequest<'a> {
    pub(super) id: &'a str,
    pub(super) currency: &'a str,
    /// Exact decimal text (`1500.00`), written as a JSON number.
    pub(super) amount: &'a str,
    pub(super) description: &'a str,
    pub(super) callback_url: &'a str,
    pub(super) cancellation_url: Option<&'a str>,
    pub(super) notification_id: &'a str,
    pub(super) branch: Option<&'a str>,
    pub(super) redirect_mode: Option<&'a str>,
    pub(super) billing_address: PesapalBillingAddress<'a>,
}

impl PesapalSubmitOrderRequest<'_> {
    pub(super) fn to_json(&self) -> Object {
        Object::new()
            .field("id", self.id)
            .field("currency", self.currency)
            .number("amount", self.amount)
            .field("description", self.description)
            .field("callback_url", self.callback_url)
            .field_opt("cancellation_url", self.cancellation_url)
            .field("notification_id", self.notification_id)
            .field_opt("branch", self.branch)
            .field_opt("redirect_mode", self.redirect_mode)
            .field("billing_address", self.billing_address.to_json())
    }
}

pub(super) struct PesapalBillingAddress<'a> {
    pub(super) email_address: Option<&'a str>,
    pub(super) phone_number: Option<&'a str>,
    pub(super) country_code: Option<&'a str>,
    pub(super) first_name: Option<&'a str>,
    pub(super) last_name: Option<&'a str>,
}

impl PesapalBillingAddress<'_> {
    pub(super) fn to_json(&self) -> Object {
        Object::new()
            .field_opt("email_address", self.email_address)
            .field_opt("phone_number", self.phone_number)
            .field_opt("country_code", self.country_code)
            .field_opt("first_name", self.first_name)
            .field_opt("last_name", self.last_name)
    }
}

pub(super) struct PesapalSubmitOrderResponse {
    pub(super) order_tracking_id: Option<String>,
    pub(super) merchant_reference: Option<String>,
    pub(super) redirect_url: Option<String>,
}

impl PesapalSubmitOrderResponse {
    pub(super) fn from_json(reply: &Value) -> Self {
        Self {
            order_tracking_id: reply.text_of("order_tracking_id"),
            merchant_reference: reply.text_of("merchant_reference"),
            redirect_url: reply.text_of("redirect_url"),
        }
    }
}

pub(super) struct PesapalRegisterIpnRequest<'a> {
    pub(super) url: &'a str,
    pub(super) ipn_notification_type: &'a str,
}

impl PesapalRegisterIpnRequest<'_> {
    pub(super) fn to_json(&self) -> Object {
        Object::new()
            .field("url", self.url)
            .field("ipn_notification_type", self.ipn_notification_type)
    }
}

pub(super) struct PesapalRegisterIpnResponse {
    pub(super) ipn_id: Option<String>,
    pub(super) url: Option<String>,
    pub(super) created_date: Option<String>,
    pub(super) ipn_notification_type_description: Option<String>,
}

impl PesapalRegisterIpnResponse {
    pub(super) fn from_json(reply: &Value) -> Self {
        Self {
            ipn_id: reply.text_of("ipn_id"),
            url: reply.text_of("url"),
            created_date: reply.text_of("created_date"),
            ipn_notification_type_description: reply.text_of("ipn_notification_type_description"),
        }
    }
}

pub(super) struct PesapalStatusResponse<'a> {
    pub(super) payment_method: Option<String>,
    /// Kept as a tree: read exactly by `reported_amount_of`.
    pub(super) amount: Option<&'a Value>,
    pub(super) confirmation_code: Option<String>,
    pub(super) order_tracking_id: Option<String>,
    pub(super) payment_status_description: Option<String>,
    pub(super) description: Option<String>,
    pub(super) status_code: Option<String>,
    pub(super) merchant_reference: Option<String>,
    pub(super) currency: Option<String>,
}

impl<'a> PesapalStatusResponse<'a> {
    pub(super) fn from_json(reply: &'a Value) -> Self {
        Self {
            payment_method: reply.text_of("payment_method"),
            amount: reply.get("amount"),
            confirmation_code: reply.text_of("confirmation_code"),
            order_tracking_id: reply.text_of("order_tracking_id"),
            payment_status_description: reply.text_of("payment_status_description"),
            description: reply.text_of("description"),
            status_code: reply.text_of("status_code"),
            merchant_reference: reply.text_of("merchant_reference"),
            currency: reply.text_of("currency"),
        }
    }
}

/// The acknowledgement a merchant returns for an IPN: camelCase keys, the
/// status as a number, in the documented order.
pub(super) struct PesapalIpnAck<'a> {
    pub(super) order_notification_type: &'a str,
    pub(super) order_tracking_id: &'a str,
    pub(super) order_merchant_reference: &'a str,
    pub(super) status: u16,
}

impl PesapalIpnAck<'_> {
    pub(super) fn to_json(&self) -> Object {
        Object::new()
            .field("orderNotificationType", self.order_notification_type)
            .field("orderTrackingId", self.order_tracking_id)
            .field("orderMerchantReference", self.order_merchant_reference)
            .field("status", self.status)
    }
}
