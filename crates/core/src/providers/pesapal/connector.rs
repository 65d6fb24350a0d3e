//! PesaPal as a [`Connector`]: the facts about it and the calls it offers,
//! over the module's request builders and reply readers.

use super::ipn::{self, IpnNotification};
use super::{PesapalConfig, PesapalRefund};
use crate::api::{PAYMENT_REFERENCE_HEADER, PAYMENT_STATUS_HEADER, TRACKING_ID_HEADER};
use crate::config::{Variables, names};
use crate::connector::{
    BaseUrl, BoxedCall, Connector, Exchange, Incoming, NotificationError, Operation, ProviderInfo,
    RefundPlan, StatusKey, Variable, Verification,
};
use crate::domain::{
    Cancellation, IpnListing, IpnRegistration, IpnRequest, Payment, PaymentDetails, PaymentRequest,
    Refund, RefundRequest,
};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::registry::Provider;
use crate::token_cache;
use crate::transport::{HttpRequest, HttpResponse, is_field_value};

/// PesaPal API 3.0.
pub struct Pesapal;

static INFO: ProviderInfo = ProviderInfo {
    provider: Provider::Pesapal,
    name: "pesapal",
    display_name: "PesaPal",
    base_url: BaseUrl {
        variable: names::PESAPAL_BASE_URL,
        origin_variable: "pesapal_origin",
        path_variable: "pesapal_path",
        default_origin: "https://cybqa.pesapal.com",
        default_path: "/pesapalv3",
    },
    variables: &[
        Variable {
            name: names::PESAPAL_CONSUMER_KEY,
            secret: true,
            required: true,
        },
        Variable {
            name: names::PESAPAL_CONSUMER_SECRET,
            secret: true,
            required: true,
        },
    ],
    status_key: StatusKey::TrackingId,
    notification_methods: &["GET", "POST"],
    unsupported: &[
        (
            Operation::Preview,
            "PesaPal documents no preview: the customer picks the method on PesaPal's payment \
             page (redirect_url), which shows the methods the merchant account offers",
        ),
        (
            Operation::ListProviderPayments,
            "PesaPal API 3.0 has no call listing transactions: use FinConnect's own ledger \
             (GET /payments) or the PesaPal merchant dashboard",
        ),
    ],
};

impl Connector for Pesapal {
    type Config = PesapalConfig;
    type Notification = IpnNotification;

    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn load(&self, vars: &dyn Variables) -> Result<PesapalConfig> {
        PesapalConfig::load(vars)
    }

    fn token_request(&self, config: &PesapalConfig) -> Result<HttpRequest> {
        super::token_request(config)
    }

    fn parse_token(&self, reply: &HttpResponse) -> Result<AccessToken> {
        super::parse_token(reply)
    }

    fn token_cache_key(&self, config: &PesapalConfig) -> String {
        token_cache::key(
            Provider::Pesapal,
            &config.base_url,
            &config.consumer_key,
            &config.consumer_secret,
        )
    }

    fn token_stale_at(&self, token: &AccessToken, now: u64) -> u64 {
        token_cache::pesapal_stale_at(token.expires.as_deref(), now)
    }

    fn pay(&self, request: &PaymentRequest) -> Result<BoxedCall<PesapalConfig, Payment>> {
        Ok(Exchange::boxed(
            super::validate_order(request)?,
            super::submit_order_request,
            super::parse_submit_order,
        ))
    }

    fn register_ipn(
        &self,
        request: &IpnRequest,
    ) -> Result<BoxedCall<PesapalConfig, IpnRegistration>> {
        super::validate_ipn(request)?;
        Ok(Exchange::boxed(
            request.clone(),
            super::register_ipn_request,
            super::parse_register_ipn,
        ))
    }

    fn payment_status(&self, id: &str) -> Result<BoxedCall<PesapalConfig, PaymentDetails>> {
        super::validate_tracking_id(id)?;
        Ok(Exchange::boxed(
            id.to_owned(),
            |config, token, id| super::status_request(config, token, id),
            |reply, _| super::parse_status(reply),
        ))
    }

    fn refund(
        &self,
        id: &str,
        request: &RefundRequest,
    ) -> Result<Box<dyn RefundPlan<PesapalConfig>>> {
        Ok(Box::new(super::validate_refund(id, request)?))
    }

    fn cancel(&self, id: &str) -> Result<BoxedCall<PesapalConfig, Cancellation>> {
        super::validate_cancel(id)?;
        Ok(Exchange::boxed(
            id.to_owned(),
            |config, token, id| super::cancel_request(config, token, id),
            |reply, id| super::parse_cancel(reply, id),
        ))
    }

    fn list_ipns(&self) -> Result<BoxedCall<PesapalConfig, Vec<IpnListing>>> {
        Ok(Exchange::boxed(
            (),
            |config, token, ()| super::ipn_list_request(config, token),
            |reply, ()| super::parse_ipn_list(reply),
        ))
    }

    /// A PesaPal IPN names an order and nothing else: it is confirmed with a
    /// status call. Without its ids it cannot even be acknowledged.
    fn read_notification(
        &self,
        _vars: &dyn Variables,
        incoming: &Incoming<'_>,
    ) -> std::result::Result<(IpnNotification, Verification), NotificationError> {
        let body: &[u8] = if incoming.method == "POST" {
            incoming.body
        } else {
            &[]
        };
        let notification = ipn::parse(incoming.query, body)?;
        let id = notification.order_tracking_id.clone();
        let verification = if notification.notification_type == "RECURRING" {
            // PesaPal names the subscription's account number, not an order.
            Verification::ConfirmRecurring {
                id,
                account: notification.merchant_reference.clone(),
            }
        } else {
            Verification::ConfirmWithReference {
                id,
                reference: notification.merchant_reference.clone(),
            }
        };
        Ok((notification, verification))
    }

    /// PesaPal always gets HTTP 200 with its acknowledgement: `status` 200
    /// when the status call succeeded, 500 when it did not (so PesaPal
    /// retries). The verified state rides in `FinConnect-*` headers, leaving
    /// the acknowledgement bytes exact.
    fn acknowledge(
        &self,
        notification: &IpnNotification,
        outcome: std::result::Result<&PaymentDetails, &Error>,
    ) -> HttpResponse {
        let mut response = HttpResponse::new(200, ipn::ack(notification, outcome.is_ok()))
            .with_header("content-type", "application/json");
        if let Ok(details) = outcome {
            let tracking_id = details
                .tracking_id
                .as_deref()
                .unwrap_or(&notification.order_tracking_id);
            for (name, value) in [
                (PAYMENT_STATUS_HEADER, Some(details.status.as_str())),
                (PAYMENT_REFERENCE_HEADER, details.reference.as_deref()),
                (TRACKING_ID_HEADER, Some(tracking_id)),
            ] {
                // PesaPal's words go into headers only when a header can carry them.
                if let Some(value) = value.filter(|v| is_field_value(v)) {
                    response = response.with_header(name, value);
                }
            }
        }
        response
    }
}

impl RefundPlan<PesapalConfig> for PesapalRefund {
    fn against(&self, payment: &PaymentDetails) -> Result<BoxedCall<PesapalConfig, Refund>> {
        Ok(Exchange::boxed(
            super::refund_against(self, payment)?,
            super::refund_request,
            super::parse_refund,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PESAPAL_SANDBOX_URL;

    #[test]
    fn the_declared_base_url_is_the_one_the_configuration_defaults_to() {
        let base = INFO.base_url;
        assert_eq!(
            format!("{}{}", base.default_origin, base.default_path),
            PESAPAL_SANDBOX_URL
        );
    }
}
