//! BillPay control numbers on `finconnect:payments/api` and its `client`
//! resource, each `api` call in a fresh instance like the others.

use crate::bindings::exports::finconnect::payments::types::{
    ControlNumber, ControlNumberRequest, ControlNumberUpdate, Error, Provider,
};
use crate::{Client, Host};

impl Host {
    /// Calls `api.create-control-number` in a fresh instance.
    pub async fn call_create_control_number(
        &self,
        provider: Provider,
        request: &ControlNumberRequest,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_api()
            .call_create_control_number(&mut store, provider, request)
            .await?)
    }

    /// Calls `api.get-control-number` in a fresh instance.
    pub async fn call_get_control_number(
        &self,
        provider: Provider,
        number: &str,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_api()
            .call_get_control_number(&mut store, provider, number)
            .await?)
    }

    /// Calls `api.update-control-number` in a fresh instance.
    pub async fn call_update_control_number(
        &self,
        provider: Provider,
        number: &str,
        update: &ControlNumberUpdate,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_api()
            .call_update_control_number(&mut store, provider, number, update)
            .await?)
    }
}

impl Client {
    /// `client.create-control-number`.
    pub async fn create_control_number(
        &mut self,
        request: &ControlNumberRequest,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_create_control_number(&mut self.store, self.handle, request)
            .await?)
    }

    /// `client.get-control-number`.
    pub async fn get_control_number(
        &mut self,
        number: &str,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_get_control_number(&mut self.store, self.handle, number)
            .await?)
    }

    /// `client.update-control-number`.
    pub async fn update_control_number(
        &mut self,
        number: &str,
        update: &ControlNumberUpdate,
    ) -> anyhow::Result<Result<ControlNumber, Error>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_update_control_number(&mut self.store, self.handle, number, update)
            .await?)
    }
}
