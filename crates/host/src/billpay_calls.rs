//! The `billpay` export (`finconnect:payments/billpay`), each call in a
//! fresh instance like the `api` calls.

use crate::Host;
use crate::bindings::exports::finconnect::payments::billpay::{
    ControlNumber, ControlNumberRequest, ControlNumberUpdate,
};
use crate::bindings::exports::finconnect::payments::types::{Error, Provider};

impl Host {
    /// Calls `billpay.create-control-number` in a fresh instance.
    pub async fn call_create_control_number(
        &self,
        provider: Provider,
        request: &ControlNumberRequest,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_billpay()
            .call_create_control_number(&mut store, provider, request)
            .await?)
    }

    /// Calls `billpay.get-control-number` in a fresh instance.
    pub async fn call_get_control_number(
        &self,
        provider: Provider,
        number: &str,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_billpay()
            .call_get_control_number(&mut store, provider, number)
            .await?)
    }

    /// Calls `billpay.update-control-number` in a fresh instance.
    pub async fn call_update_control_number(
        &self,
        provider: Provider,
        number: &str,
        update: &ControlNumberUpdate,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_billpay()
            .call_update_control_number(&mut store, provider, number, update)
            .await?)
    }
}
