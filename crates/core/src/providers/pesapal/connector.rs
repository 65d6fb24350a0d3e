//! PesaPal as a [`Connector`]: the facts about it and the calls it offers,
//! over the module's request builders and reply readers.

use super::ipn::{self, IpnNotification};
use super::{PesapalConfig, PesapalOrder, PesapalRefund, PesapalRefundOrder};
use crate::api::{PAYMENT_REFERENCE_HEADER, PAYMENT_STATUS_HEADER, TRACKING_ID_HEADER};
use crate::config::{Variables, names};
use crate::connector::{
    BaseUrl, BoxedCall, Call, Connector, Incoming, NotificationError, Operation, ProviderInfo,
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
        Ok(Box::new(SubmitOrder(super::validate_order(request)?)))
    }

    fn register_ipn(
        &self,
        request: &IpnRequest,
    ) -> Result<BoxedCall<PesapalConfig, IpnRegistration>> {
        super::validate_ipn(request)?;
        Ok(Box::new(RegisterIpn(request.clone())))
    }

    fn payment_status(&self, id: &str) -> Result<BoxedCall<PesapalConfig, PaymentDetails>> {
        super::validate_tracking_id(id)?;
        Ok(Box::new(Status(id.to_owned())))
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
        Ok(Box::new(CancelOrder(id.to_owned())))
    }

    fn list_ipns(&self) -> Result<BoxedCall<PesapalConfig, Vec<IpnListing>>> {
        Ok(Box::new(IpnList))
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
            Verification::Confirm(id)
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

struct SubmitOrder(PesapalOrder);

impl Call<PesapalConfig> for SubmitOrder {
    type Output = Payment;

    fn request(&self, config: &PesapalConfig, token: &AccessToken, _: u64) -> Result<HttpRequest> {
        super::submit_order_request(config, token, &self.0)
    }

    fn parse(&self, _: &PesapalConfig, reply: &HttpResponse) -> Result<Payment> {
        super::parse_submit_order(reply, &self.0)
    }
}

struct RegisterIpn(IpnRequest);

impl Call<PesapalConfig> for RegisterIpn {
    type Output = IpnRegistration;

    fn request(&self, config: &PesapalConfig, token: &AccessToken, _: u64) -> Result<HttpRequest> {
        super::register_ipn_request(config, token, &self.0)
    }

    fn parse(&self, _: &PesapalConfig, reply: &HttpResponse) -> Result<IpnRegistration> {
        super::parse_register_ipn(reply, &self.0)
    }
}

struct Status(String);

impl Call<PesapalConfig> for Status {
    type Output = PaymentDetails;

    fn request(&self, config: &PesapalConfig, token: &AccessToken, _: u64) -> Result<HttpRequest> {
        super::status_request(config, token, &self.0)
    }

    fn parse(&self, _: &PesapalConfig, reply: &HttpResponse) -> Result<PaymentDetails> {
        super::parse_status(reply)
    }
}

impl RefundPlan<PesapalConfig> for PesapalRefund {
    fn against(&self, payment: &PaymentDetails) -> Result<BoxedCall<PesapalConfig, Refund>> {
        Ok(Box::new(RefundCall(super::refund_against(self, payment)?)))
    }
}

struct RefundCall(PesapalRefundOrder);

impl Call<PesapalConfig> for RefundCall {
    type Output = Refund;

    fn request(&self, config: &PesapalConfig, token: &AccessToken, _: u64) -> Result<HttpRequest> {
        super::refund_request(config, token, &self.0)
    }

    fn parse(&self, _: &PesapalConfig, reply: &HttpResponse) -> Result<Refund> {
        super::parse_refund(reply, &self.0)
    }
}

struct CancelOrder(String);

impl Call<PesapalConfig> for CancelOrder {
    type Output = Cancellation;

    fn request(&self, config: &PesapalConfig, token: &AccessToken, _: u64) -> Result<HttpRequest> {
        super::cancel_request(config, token, &self.0)
    }

    fn parse(&self, _: &PesapalConfig, reply: &HttpResponse) -> Result<Cancellation> {
        super::parse_cancel(reply, &self.0)
    }
}

struct IpnList;

impl Call<PesapalConfig> for IpnList {
    type Output = Vec<IpnListing>;

    fn request(&self, config: &PesapalConfig, token: &AccessToken, _: u64) -> Result<HttpRequest> {
        super::ipn_list_request(config, token)
    }

    fn parse(&self, _: &PesapalConfig, reply: &HttpResponse) -> Result<Vec<IpnListing>> {
        super::parse_ipn_list(reply)
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
