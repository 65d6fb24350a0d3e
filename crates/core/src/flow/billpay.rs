//! Control numbers through the flow: the provider first (only ClickPesa
//! offers BillPay), then validation, then the token and the one call.

use super::Finconnect;
use crate::billpay::{ControlNumber, ControlNumberRequest, ControlNumberUpdate};
use crate::domain::Provider;
use crate::error::{Error, Result};
use crate::providers::clickpesa::Clickpesa;
use crate::providers::clickpesa::billpay as clickpesa;

/// Why a provider other than ClickPesa has no control numbers.
fn clickpesa_only(provider: Provider) -> Result<()> {
    let detail = match provider {
        Provider::Clickpesa => return Ok(()),
        Provider::Pesapal => {
            "PesaPal documents no control-number (bill reference) API; a PesaPal payment \
             starts with an order (pay)"
        }
        Provider::Mpesa => {
            "M-Pesa Daraja documents no control-number API; customers pay a paybill account \
             number, which C2B handles"
        }
    };
    Err(Error::Unsupported {
        provider,
        operation: "control numbers".to_owned(),
        detail: detail.to_owned(),
    })
}

impl Finconnect<'_> {
    /// Everything a control number creation checks before the network.
    pub fn check_control_number(
        &self,
        provider: Provider,
        request: &ControlNumberRequest,
    ) -> Result<()> {
        clickpesa_only(provider)?;
        clickpesa::validate_create(request)?;
        crate::connector::Connector::load(&Clickpesa, self.vars)?;
        Ok(())
    }

    /// Creates a control number (order or customer).
    pub fn create_control_number(
        &mut self,
        provider: Provider,
        request: &ControlNumberRequest,
    ) -> Result<ControlNumber> {
        clickpesa_only(provider)?;
        let checked = clickpesa::validate_create(request)?;
        self.run(&Clickpesa, clickpesa::create_call(checked))
    }

    /// Reads a control number.
    pub fn control_number(&mut self, provider: Provider, number: &str) -> Result<ControlNumber> {
        clickpesa_only(provider)?;
        clickpesa::validate_number(number)?;
        self.run(&Clickpesa, clickpesa::read_call(number.to_owned()))
    }

    /// Changes a control number's status, amount, description or mode.
    pub fn update_control_number(
        &mut self,
        provider: Provider,
        number: &str,
        update: &ControlNumberUpdate,
    ) -> Result<ControlNumber> {
        clickpesa_only(provider)?;
        let checked = clickpesa::validate_update(number, update)?;
        self.run(&Clickpesa, clickpesa::update_call(checked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billpay::{BillStatus, ControlNumberKind};
    use crate::transport::scripted::Scripted;
    use std::collections::BTreeMap;

    fn vars() -> BTreeMap<String, String> {
        [
            ("clickpesa_base_url", "http://127.0.0.1:9/third-parties"),
            ("clickpesa_client_id", "client"),
            ("clickpesa_api_key", "key"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    const TOKEN: &str = r#"{"success":true,"token":"Bearer canary"}"#;

    fn order() -> ControlNumberRequest {
        ControlNumberRequest {
            kind: Some(ControlNumberKind::Order),
            reference: Some("INV1".to_owned()),
            ..ControlNumberRequest::default()
        }
    }

    #[test]
    fn other_providers_and_invalid_requests_call_nobody() {
        let vars = vars();
        let mut transport = Scripted::new(Vec::new());
        let mut fc = Finconnect::new(&vars, &mut transport);
        for provider in [Provider::Pesapal, Provider::Mpesa] {
            assert!(matches!(
                fc.create_control_number(provider, &order()),
                Err(Error::Unsupported { .. })
            ));
            assert!(matches!(
                fc.control_number(provider, "5504"),
                Err(Error::Unsupported { .. })
            ));
        }
        let mut bad = order();
        bad.amount = Some("0".to_owned());
        assert!(matches!(
            fc.create_control_number(Provider::Clickpesa, &bad),
            Err(Error::InvalidRequest { field, .. }) if field == "amount"
        ));
        assert!(matches!(
            fc.update_control_number(Provider::Clickpesa, "5504", &ControlNumberUpdate::default()),
            Err(Error::InvalidRequest { .. })
        ));
        assert_eq!(fc.api_requests_sent(), 0);
        assert!(transport.seen.is_empty());
    }

    #[test]
    fn each_operation_is_the_token_then_one_request() {
        let vars = vars();
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((
                200,
                r#"{"billPayNumber":"INV1","billPaymentMode":"ALLOW_PARTIAL_AND_OVER_PAYMENT"}"#,
            )),
            Ok((200, TOKEN)),
            Ok((404, r#"{"message":"BillPay Number does not exist"}"#)),
            Ok((200, TOKEN)),
            Ok((200, r#"{"billPayNumber":"INV1","billStatus":"INACTIVE"}"#)),
        ]);
        let mut fc = Finconnect::new(&vars, &mut transport);
        let created = fc.create_control_number(Provider::Clickpesa, &order());
        assert_eq!(created.map(|c| c.number).ok().as_deref(), Some("INV1"));
        assert!(matches!(
            fc.control_number(Provider::Clickpesa, "NOPE1"),
            Err(Error::Provider(refusal)) if refusal.code.as_deref() == Some("billpay_number_not_found")
        ));
        let update = ControlNumberUpdate {
            status: Some(BillStatus::Inactive),
            ..ControlNumberUpdate::default()
        };
        let updated = fc.update_control_number(Provider::Clickpesa, "INV1", &update);
        assert_eq!(
            updated.ok().and_then(|c| c.status),
            Some(BillStatus::Inactive)
        );
        let seen: Vec<String> = transport
            .seen
            .iter()
            .map(|r| format!("{} {}", r.method, r.url))
            .collect();
        assert_eq!(
            seen,
            [
                "POST http://127.0.0.1:9/third-parties/generate-token",
                "POST http://127.0.0.1:9/third-parties/billpay/create-order-control-number",
                "POST http://127.0.0.1:9/third-parties/generate-token",
                "GET http://127.0.0.1:9/third-parties/billpay/NOPE1",
                "POST http://127.0.0.1:9/third-parties/generate-token",
                "PATCH http://127.0.0.1:9/third-parties/billpay/INV1",
            ]
        );
    }
}
