//! M-Pesa Daraja as a [`Connector`]: Lipa na M-Pesa Online (STK push),
//! the STK query, and the STK callback confirmed by a query.

use super::callback::{self, StkCallback};
use super::{MpesaConfig, StkPush};
use crate::config::{Variables, names};
use crate::connector::{
    BaseUrl, BoxedCall, Call, Connector, Incoming, NotificationError, Operation, ProviderInfo,
    StatusKey, Variable, Verification,
};
use crate::domain::{Payment, PaymentDetails, PaymentRequest};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::registry::Provider;
use crate::secret::Secret;
use crate::token_cache::{self, SKEW_SECONDS};
use crate::transport::{HttpRequest, HttpResponse};

/// Safaricom M-Pesa Daraja.
pub struct Mpesa;

/// Daraja documents tokens as valid for 3599 seconds.
const TOKEN_SECONDS: u64 = 3599;

static INFO: ProviderInfo = ProviderInfo {
    provider: Provider::Mpesa,
    name: "mpesa",
    display_name: "M-Pesa",
    base_url: BaseUrl {
        variable: names::MPESA_BASE_URL,
        origin_variable: "mpesa_origin",
        path_variable: "mpesa_path",
        default_origin: "https://sandbox.safaricom.co.ke",
        default_path: "",
    },
    variables: &[
        Variable {
            name: names::MPESA_CONSUMER_KEY,
            secret: true,
            required: true,
        },
        Variable {
            name: names::MPESA_CONSUMER_SECRET,
            secret: true,
            required: true,
        },
        Variable {
            name: names::MPESA_PASSKEY,
            secret: true,
            required: true,
        },
        Variable {
            name: names::MPESA_SHORTCODE,
            secret: false,
            required: true,
        },
        Variable {
            name: names::MPESA_PARTY_B,
            secret: false,
            required: false,
        },
        Variable {
            name: names::MPESA_TRANSACTION_TYPE,
            secret: false,
            required: false,
        },
        Variable {
            name: names::MPESA_CALLBACK_URL,
            secret: false,
            required: false,
        },
    ],
    status_key: StatusKey::TrackingId,
    notification_methods: &["POST"],
    unsupported: &[
        (
            Operation::RegisterIpn,
            "Daraja takes the callback URL with each STK push: set `callback_url` on the payment \
             or the variable `mpesa_callback_url`, pointing at /notifications/mpesa",
        ),
        (
            Operation::Refund,
            "Daraja's Reversal API is an initiator API (initiator name and security credential, \
             an asynchronous result URL) that FinConnect does not drive yet; reverse the \
             transaction from the M-Pesa org portal",
        ),
        (
            Operation::Cancel,
            "Daraja has no call to withdraw an STK push: the customer dismisses the prompt, or it \
             times out and the callback reports it cancelled",
        ),
        (
            Operation::ListIpns,
            "Daraja keeps no list of callback URLs for STK push: each push carries its own",
        ),
        (
            Operation::Preview,
            "Daraja has no preview of an STK push: there is one channel (M-Pesa) and the \
             paybill or till's tariff is agreed with Safaricom, not quoted per payment",
        ),
        (
            Operation::ListProviderPayments,
            "Daraja has no API listing STK pushes or collections: use FinConnect's own ledger \
             (GET /payments) or the M-Pesa org portal's statements",
        ),
    ],
};

impl Connector for Mpesa {
    type Config = MpesaConfig;
    type Notification = StkCallback;

    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn load(&self, vars: &dyn Variables) -> Result<MpesaConfig> {
        MpesaConfig::load(vars)
    }

    fn token_request(&self, config: &MpesaConfig) -> Result<HttpRequest> {
        super::token_request(config)
    }

    fn parse_token(&self, reply: &HttpResponse) -> Result<AccessToken> {
        super::parse_token(reply)
    }

    fn token_cache_key(&self, config: &MpesaConfig) -> String {
        token_cache::key(
            Provider::Mpesa,
            &config.base_url,
            &Secret::new(config.consumer_key.expose()),
            &Secret::new(config.consumer_secret.expose()),
        )
    }

    /// `expires_in` as Daraja wrote it (seconds), else its documented 3599.
    fn token_stale_at(&self, token: &AccessToken, now: u64) -> u64 {
        let lifetime = token
            .expires
            .as_deref()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(TOKEN_SECONDS);
        now.saturating_add(lifetime.saturating_sub(SKEW_SECONDS))
    }

    /// A new Daraja token may invalidate the previous one, so a call made
    /// with a token fetched a moment ago can still be refused at the
    /// gateway; nothing was started then, and one more try is safe.
    fn retry_with_new_token(&self, error: &Error) -> bool {
        super::is_invalid_token(error)
    }

    /// Daraja may invalidate earlier tokens when it issues a new one
    /// (mpesa-daraja.md: reissue).
    fn token_reissue_invalidates(&self) -> bool {
        true
    }

    fn pay(&self, request: &PaymentRequest) -> Result<BoxedCall<MpesaConfig, Payment>> {
        Ok(Box::new(StkPushCall(super::validate_payment(request)?)))
    }

    fn payment_status(&self, id: &str) -> Result<BoxedCall<MpesaConfig, PaymentDetails>> {
        super::validate_checkout_request_id(id)?;
        Ok(Box::new(StkQuery(id.to_owned())))
    }

    /// Daraja callbacks carry no signature: a callback only names a
    /// `CheckoutRequestID`, and its state is what an STK query says.
    fn read_notification(
        &self,
        _vars: &dyn Variables,
        incoming: &Incoming<'_>,
    ) -> std::result::Result<(StkCallback, Verification), NotificationError> {
        if incoming.declares_non_json() {
            return Err(NotificationError::NotJson);
        }
        let callback = callback::parse(incoming.body).map_err(|error| match error {
            Error::InvalidRequest { field, reason } => {
                NotificationError::Malformed { field, reason }
            }
            other => NotificationError::Failed(other),
        })?;
        let id = callback.checkout_request_id.clone();
        Ok((callback, Verification::Confirm(id)))
    }

    /// `{"ResultCode":0,"ResultDesc":"Accepted"}` once the query confirmed
    /// the payment's state; a non-zero `ResultCode` when it could not.
    fn acknowledge(
        &self,
        _: &StkCallback,
        outcome: std::result::Result<&PaymentDetails, &Error>,
    ) -> HttpResponse {
        HttpResponse::new(200, callback::ack(outcome.is_ok()))
            .with_header("content-type", "application/json")
    }
}

struct StkPushCall(StkPush);

impl Call<MpesaConfig> for StkPushCall {
    type Output = Payment;

    fn prepare(&self, config: &MpesaConfig) -> Result<()> {
        super::callback_url(config, &self.0).map(drop)
    }

    fn request(&self, config: &MpesaConfig, token: &AccessToken, now: u64) -> Result<HttpRequest> {
        super::stk_push_request(config, token, &self.0, now)
    }

    fn parse(&self, _: &MpesaConfig, reply: &HttpResponse) -> Result<Payment> {
        super::parse_stk_push(reply, &self.0)
    }
}

struct StkQuery(String);

impl Call<MpesaConfig> for StkQuery {
    type Output = PaymentDetails;

    fn request(&self, config: &MpesaConfig, token: &AccessToken, now: u64) -> Result<HttpRequest> {
        super::stk_query_request(config, token, &self.0, now)
    }

    fn parse(&self, _: &MpesaConfig, reply: &HttpResponse) -> Result<PaymentDetails> {
        super::parse_stk_query(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MPESA_SANDBOX_URL;

    #[test]
    fn the_declared_base_url_is_the_one_the_configuration_defaults_to() {
        let base = INFO.base_url;
        assert_eq!(
            format!("{}{}", base.default_origin, base.default_path),
            MPESA_SANDBOX_URL
        );
    }

    #[test]
    fn a_token_goes_stale_before_daraja_s_stated_lifetime() {
        let token = |expires: Option<&str>| AccessToken {
            value: Secret::new("t"),
            expires: expires.map(str::to_owned),
        };
        assert_eq!(
            Mpesa.token_stale_at(&token(Some("3599")), 1_000),
            1_000 + 3599 - 30
        );
        assert_eq!(Mpesa.token_stale_at(&token(Some("120")), 1_000), 1_000 + 90);
        assert_eq!(Mpesa.token_stale_at(&token(None), 1_000), 1_000 + 3599 - 30);
    }
}
