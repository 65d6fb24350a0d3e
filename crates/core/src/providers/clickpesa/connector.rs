//! ClickPesa as a [`Connector`]: the facts about it and the calls it
//! offers, over the module's request builders and reply readers.

use super::ClickpesaConfig;
use super::webhook::{self, WebhookError, WebhookEvent};
use crate::config::{self, Variables, names};
use crate::connector::{
    BaseUrl, BoxedCall, Connector, Exchange, Incoming, NotificationError, Operation, ProviderInfo,
    StatusKey, Variable, Verification,
};
use crate::domain::{
    Payment, PaymentDetails, PaymentMethod, PaymentPreview, PaymentRequest, ProviderPaymentPage,
    ProviderPaymentQuery,
};
use crate::error::{Error, Result};
use crate::providers::AccessToken;
use crate::registry::Provider;
use crate::secret::Secret;
use crate::token_cache;
use crate::transport::{HttpRequest, HttpResponse};
use serde::Serialize;

/// ClickPesa.
pub struct Clickpesa;

static INFO: ProviderInfo = ProviderInfo {
    provider: Provider::Clickpesa,
    name: "clickpesa",
    display_name: "ClickPesa",
    base_url: BaseUrl {
        variable: names::CLICKPESA_BASE_URL,
        origin_variable: "clickpesa_origin",
        path_variable: "clickpesa_path",
        default_origin: "https://api.clickpesa.com",
        default_path: "/third-parties",
    },
    variables: &[
        Variable {
            name: names::CLICKPESA_CLIENT_ID,
            secret: true,
            required: true,
        },
        Variable {
            name: names::CLICKPESA_API_KEY,
            secret: true,
            required: true,
        },
        Variable {
            name: names::CLICKPESA_CHECKSUM_KEY,
            secret: true,
            required: false,
        },
    ],
    status_key: StatusKey::Reference,
    notification_methods: &["POST"],
    unsupported: &[
        (
            Operation::RegisterIpn,
            "ClickPesa webhooks are configured in the ClickPesa dashboard (Settings, Developers), \
             not through the API; point them at /notifications/clickpesa",
        ),
        (
            Operation::Refund,
            "ClickPesa documents no refund call for collected payments (its REFUNDED status is \
             set by ClickPesa itself); return money with a payout, or through the ClickPesa dashboard",
        ),
        (
            Operation::Cancel,
            "ClickPesa documents no way to cancel a USSD push: the customer declines it on the \
             handset, or it expires and is reported failed",
        ),
        (
            Operation::ListIpns,
            "ClickPesa webhook URLs are kept in the ClickPesa dashboard (Settings, Developers), \
             not listed through the API",
        ),
    ],
};

impl Connector for Clickpesa {
    type Config = ClickpesaConfig;
    type Notification = WebhookEvent;

    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn load(&self, vars: &dyn Variables) -> Result<ClickpesaConfig> {
        ClickpesaConfig::load(vars)
    }

    fn token_request(&self, config: &ClickpesaConfig) -> Result<HttpRequest> {
        super::token_request(config)
    }

    fn parse_token(&self, reply: &HttpResponse) -> Result<AccessToken> {
        super::parse_token(reply)
    }

    fn token_cache_key(&self, config: &ClickpesaConfig) -> String {
        token_cache::key(
            Provider::Clickpesa,
            &config.base_url,
            &config.client_id,
            &config.api_key,
        )
    }

    fn token_stale_at(&self, _: &AccessToken, now: u64) -> u64 {
        token_cache::clickpesa_stale_at(now)
    }

    fn pay(&self, request: &PaymentRequest) -> Result<BoxedCall<ClickpesaConfig, Payment>> {
        Ok(match request.method.unwrap_or(PaymentMethod::MobileMoney) {
            PaymentMethod::MobileMoney => Exchange::boxed(
                super::validate_payment(request)?,
                super::ussd_push_request,
                super::parse_ussd_push,
            ),
            PaymentMethod::Card => Exchange::boxed(
                super::validate_card(request)?,
                super::card_request,
                super::parse_card,
            ),
            PaymentMethod::CheckoutLink => Exchange::boxed(
                super::validate_checkout(request)?,
                super::checkout_request,
                super::parse_checkout,
            ),
        })
    }

    fn preview(
        &self,
        request: &PaymentRequest,
        fetch_sender: bool,
    ) -> Result<BoxedCall<ClickpesaConfig, PaymentPreview>> {
        Ok(Exchange::boxed(
            super::validate_preview(request, fetch_sender)?,
            super::preview_request,
            super::parse_preview,
        ))
    }

    fn list_payments(
        &self,
        query: &ProviderPaymentQuery,
    ) -> Result<BoxedCall<ClickpesaConfig, ProviderPaymentPage>> {
        Ok(Exchange::boxed(
            super::validate_list(query)?,
            super::list_request,
            |reply, _| super::parse_list(reply),
        ))
    }

    fn payment_status(&self, id: &str) -> Result<BoxedCall<ClickpesaConfig, PaymentDetails>> {
        super::validate_reference(id, "id")?;
        Ok(Exchange::boxed(
            id.to_owned(),
            |config, token, id| super::status_request(config, token, id),
            |reply, _| super::parse_status(reply),
        ))
    }

    /// A webhook is verified by its checksum when `clickpesa_checksum_key`
    /// is set (missing or wrong: refused); its content type is not
    /// documented, so absent is tolerated and anything but JSON refused.
    fn read_notification(
        &self,
        vars: &dyn Variables,
        incoming: &Incoming<'_>,
    ) -> std::result::Result<(WebhookEvent, Verification), NotificationError> {
        if incoming.declares_non_json() {
            return Err(NotificationError::NotJson);
        }
        let checksum_key = config::optional(vars, names::CLICKPESA_CHECKSUM_KEY)
            .map_err(NotificationError::Failed)?
            .map(Secret::new);
        let event =
            webhook::parse(incoming.body, checksum_key.as_ref()).map_err(|error| match error {
                WebhookError::Unverified(why) => NotificationError::Unverified {
                    field: "checksum",
                    reason: format!("{why}; it is checked with `clickpesa_checksum_key`"),
                },
                WebhookError::Malformed => NotificationError::Malformed {
                    field: "body".to_owned(),
                    reason: "is not well-formed JSON".to_owned(),
                },
                WebhookError::Invalid(error) => NotificationError::Failed(error),
            })?;
        let details = PaymentDetails {
            provider: Provider::Clickpesa,
            reference: event.order_reference.clone(),
            tracking_id: event.tracking_id.clone(),
            status: event.status,
            amount: event.amount.clone(),
            currency: event.currency.clone(),
            method: event.channel.clone(),
            confirmation_code: None,
            description: event.message.clone(),
        };
        // Signed with the checksum key: believed as it is. Unsigned (no key
        // set): only a hint, confirmed by asking ClickPesa about the
        // reference, as PesaPal's IPN is.
        if event.verified {
            return Ok((event, Verification::Verified(details)));
        }
        match event.order_reference.clone() {
            Some(reference) => Ok((event, Verification::Confirm(reference))),
            None => Err(NotificationError::Malformed {
                field: "data.orderReference".to_owned(),
                reason: "is missing, so the webhook cannot be confirmed".to_owned(),
            }),
        }
    }

    /// The event, field by field — never the raw body, which carries
    /// ClickPesa's `clientId`.
    fn acknowledge(
        &self,
        event: &WebhookEvent,
        outcome: std::result::Result<&PaymentDetails, &Error>,
    ) -> HttpResponse {
        let body = EventJson {
            event: &event.event,
            order_reference: event.order_reference.as_deref(),
            tracking_id: event.tracking_id.as_deref(),
            status: event.status.as_str(),
            amount: event.amount.as_deref(),
            currency: event.currency.as_deref(),
            channel: event.channel.as_deref(),
            message: event.message.as_deref(),
            verified: event.verified,
            accepted: outcome.is_ok(),
        };
        // A struct of strings and booleans: serde_json always writes it.
        let body = serde_json::to_vec(&body).unwrap_or_default();
        // ClickPesa documents only "2xx means received". A webhook FinConnect
        // will not take (a payment it never started) gets 404, so that it is
        // not mistaken for one that was recorded.
        let status = if outcome.is_ok() { 200 } else { 404 };
        HttpResponse::new(status, body).with_header("content-type", "application/json")
    }
}

/// The answer to a webhook: the event as FinConnect read it.
#[derive(Serialize)]
struct EventJson<'a> {
    event: &'a str,
    order_reference: Option<&'a str>,
    tracking_id: Option<&'a str>,
    status: &'a str,
    amount: Option<&'a str>,
    currency: Option<&'a str>,
    channel: Option<&'a str>,
    message: Option<&'a str>,
    verified: bool,
    /// Whether FinConnect took it: `false` for a payment it never started.
    accepted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CLICKPESA_API_URL;

    #[test]
    fn the_declared_base_url_is_the_one_the_configuration_defaults_to() {
        let base = INFO.base_url;
        assert_eq!(
            format!("{}{}", base.default_origin, base.default_path),
            CLICKPESA_API_URL
        );
    }
}
