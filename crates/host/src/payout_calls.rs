//! The `payouts` export (`finconnect:payments/payouts`), each call in a
//! fresh instance like the `api` calls.

use crate::Host;
use crate::bindings::exports::finconnect::payments::payouts::{
    AccountStatement, BalanceReport, Bank, BankAccountQuery, ExchangeRate, LipaNambaProvider,
    Payout, PayoutError, PayoutFilter, PayoutPage, PayoutPreview, PayoutRequest,
};
use crate::bindings::exports::finconnect::payments::types::Provider;

impl Host {
    /// Calls `payouts.preview-payout` in a fresh instance.
    pub async fn call_preview_payout(
        &self,
        provider: Provider,
        request: &PayoutRequest,
    ) -> anyhow::Result<Result<PayoutPreview, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_preview_payout(&mut store, provider, request)
            .await?)
    }

    /// Calls `payouts.create-payout` in a fresh instance.
    pub async fn call_create_payout(
        &self,
        provider: Provider,
        request: &PayoutRequest,
    ) -> anyhow::Result<Result<Payout, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_create_payout(&mut store, provider, request)
            .await?)
    }

    /// Calls `payouts.payout-status` in a fresh instance.
    pub async fn call_payout_status(
        &self,
        provider: Provider,
        reference: &str,
    ) -> anyhow::Result<Result<Vec<Payout>, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_payout_status(&mut store, provider, reference)
            .await?)
    }

    /// Calls `payouts.list-banks` in a fresh instance.
    pub async fn call_list_banks(
        &self,
        provider: Provider,
    ) -> anyhow::Result<Result<Vec<Bank>, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_list_banks(&mut store, provider)
            .await?)
    }

    /// Calls `payouts.verify-bank-account` in a fresh instance.
    pub async fn call_verify_bank_account(
        &self,
        provider: Provider,
        query: &BankAccountQuery,
    ) -> anyhow::Result<Result<String, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_verify_bank_account(&mut store, provider, query)
            .await?)
    }

    /// Calls `payouts.balances` in a fresh instance.
    pub async fn call_balances(
        &self,
        provider: Provider,
    ) -> anyhow::Result<Result<BalanceReport, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_balances(&mut store, provider)
            .await?)
    }

    /// Calls `payouts.list-lipa-namba-providers` in a fresh instance.
    pub async fn call_list_lipa_namba_providers(
        &self,
        provider: Provider,
    ) -> anyhow::Result<Result<Vec<LipaNambaProvider>, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_list_lipa_namba_providers(&mut store, provider)
            .await?)
    }

    /// Calls `payouts.list-payouts` in a fresh instance.
    pub async fn call_list_payouts(
        &self,
        provider: Provider,
        filter: &PayoutFilter,
    ) -> anyhow::Result<Result<PayoutPage, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_list_payouts(&mut store, provider, filter)
            .await?)
    }

    /// Calls `payouts.statement` in a fresh instance.
    pub async fn call_statement(
        &self,
        provider: Provider,
        currency: &str,
        start_date: Option<&str>,
        end_date: Option<&str>,
    ) -> anyhow::Result<Result<AccountStatement, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_statement(&mut store, provider, currency, start_date, end_date)
            .await?)
    }

    /// Calls `payouts.exchange-rates` in a fresh instance.
    pub async fn call_exchange_rates(
        &self,
        provider: Provider,
        source: Option<&str>,
        target: Option<&str>,
    ) -> anyhow::Result<Result<Vec<ExchangeRate>, PayoutError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        Ok(instance
            .finconnect_payments_payouts()
            .call_exchange_rates(&mut store, provider, source, target)
            .await?)
    }
}
