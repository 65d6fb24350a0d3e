//! Payouts through the flow: the switch first (off: `unsupported` naming
//! `finconnect_payouts`, no provider call), then the provider (only
//! ClickPesa offers payouts through FinConnect), then validation, then the
//! token and the one call. A create request is sent at most once and never
//! retried here (see the crate's money-safety notes in [`crate::payouts`]).

use super::Finconnect;
use crate::connector::Call;
use crate::domain::Provider;
use crate::error::Error;
use crate::payouts::{
    self, Balances, Bank, BankAccount, BankAccountQuery, LipaNambaProvider, Payout, PayoutError,
    PayoutPreview, PayoutRequest,
};
use crate::providers::clickpesa::payouts::{self as clickpesa, Stage};
use crate::providers::clickpesa::{Clickpesa, ClickpesaConfig};

/// Why a provider other than ClickPesa has no payouts.
fn unsupported(provider: Provider) -> Error {
    let detail = match provider {
        Provider::Pesapal => {
            "PesaPal documents no payout (disbursement) API for merchants; only ClickPesa \
             payouts are offered through FinConnect"
        }
        Provider::Mpesa => {
            "M-Pesa Daraja's B2C payouts need an RSA-encrypted initiator credential, which \
             FinConnect does not implement; only ClickPesa payouts are offered"
        }
        Provider::Clickpesa => "payouts are offered",
    };
    Error::Unsupported {
        provider,
        operation: "payouts".to_owned(),
        detail: detail.to_owned(),
    }
}

impl Finconnect<'_> {
    /// The switch and the provider: `Ok` only for ClickPesa with payouts on.
    fn payouts_open(&self, provider: Provider) -> Result<(), PayoutError> {
        payouts::check_enabled(self.vars, provider)?;
        match provider {
            Provider::Clickpesa => Ok(()),
            other => Err(PayoutError::Failed(unsupported(other))),
        }
    }

    /// Runs a ClickPesa payout call, its refusals typed.
    fn run_payout<T: 'static>(
        &mut self,
        call: Box<dyn Call<ClickpesaConfig, Output = T>>,
    ) -> Result<T, PayoutError> {
        self.run(&Clickpesa, call).map_err(PayoutError::classify)
    }

    /// Everything a payout preview or create checks before the network
    /// (switch, provider, fields, variables), without calling anyone.
    pub fn check_payout(
        &self,
        provider: Provider,
        request: &PayoutRequest,
        create: bool,
    ) -> Result<(), PayoutError> {
        self.payouts_open(provider)?;
        let stage = if create {
            Stage::Create
        } else {
            Stage::Preview
        };
        clickpesa::check_payout(request, stage)?;
        crate::connector::Connector::load(&Clickpesa, self.vars)?;
        Ok(())
    }

    /// What a payout would cost (fee, total debited, the receiver's name,
    /// the balance) without moving money.
    pub fn preview_payout(
        &mut self,
        provider: Provider,
        request: &PayoutRequest,
    ) -> Result<PayoutPreview, PayoutError> {
        self.payouts_open(provider)?;
        let checked = clickpesa::check_payout(request, Stage::Preview)?;
        self.run_payout(clickpesa::preview_call(checked))
    }

    /// Moves money: the create request, sent once. A repeat with the same
    /// reference is refused by the provider ([`PayoutError::ReferenceReused`]).
    pub fn create_payout(
        &mut self,
        provider: Provider,
        request: &PayoutRequest,
    ) -> Result<Payout, PayoutError> {
        self.payouts_open(provider)?;
        let checked = clickpesa::check_payout(request, Stage::Create)?;
        self.run_payout(clickpesa::payout_call(checked))
    }

    /// The payouts made under an order reference (the provider answers a list).
    pub fn payout_status(
        &mut self,
        provider: Provider,
        reference: &str,
    ) -> Result<Vec<Payout>, PayoutError> {
        self.payouts_open(provider)?;
        crate::providers::clickpesa::validate_reference(reference, "reference")?;
        self.run_payout(clickpesa::status_call(reference.to_owned()))
    }

    /// The networks Lipa Namba payouts can go to (their provider codes).
    pub fn list_lipa_namba_providers(
        &mut self,
        provider: Provider,
    ) -> Result<Vec<LipaNambaProvider>, PayoutError> {
        self.payouts_open(provider)?;
        self.run_payout(clickpesa::lipa_namba_providers_call())
    }

    /// The banks bank payouts can go to.
    pub fn list_banks(&mut self, provider: Provider) -> Result<Vec<Bank>, PayoutError> {
        self.payouts_open(provider)?;
        self.run_payout(clickpesa::banks_call())
    }

    /// The name a bank holds for an account, before paying it.
    pub fn verify_bank_account(
        &mut self,
        provider: Provider,
        query: &BankAccountQuery,
    ) -> Result<BankAccount, PayoutError> {
        self.payouts_open(provider)?;
        clickpesa::check_account_query(query)?;
        self.run_payout(clickpesa::verify_call(query.clone()))
    }

    /// A page of the payouts made (ClickPesa `GET /payouts/all`).
    pub fn list_payouts(
        &mut self,
        provider: Provider,
        filter: &crate::providers::clickpesa::account::PayoutFilter,
    ) -> Result<payouts::PayoutPage, PayoutError> {
        use crate::providers::clickpesa::account;
        self.payouts_open(provider)?;
        account::check_filter(filter)?;
        self.run_payout(account::payouts_call(filter.clone()))
    }

    /// The account statement of `currency` (`TZS` or `USD`).
    pub fn statement(
        &mut self,
        provider: Provider,
        currency: &str,
        start_date: Option<&str>,
        end_date: Option<&str>,
    ) -> Result<payouts::Statement, PayoutError> {
        use crate::providers::clickpesa::account;
        self.payouts_open(provider)?;
        account::check_statement(currency, start_date, end_date)?;
        self.run_payout(account::statement_call(
            currency.to_owned(),
            start_date.map(str::to_owned),
            end_date.map(str::to_owned),
        ))
    }

    /// The provider's exchange rates (`source`, `target` optional).
    pub fn exchange_rates(
        &mut self,
        provider: Provider,
        source: Option<&str>,
        target: Option<&str>,
    ) -> Result<Vec<payouts::ExchangeRate>, PayoutError> {
        use crate::providers::clickpesa::account;
        self.payouts_open(provider)?;
        account::check_rates(source, target)?;
        self.run_payout(account::rates_call(
            source.map(str::to_owned),
            target.map(str::to_owned),
        ))
    }

    /// The merchant's balances (none yet for a new merchant).
    pub fn balances(&mut self, provider: Provider) -> Result<Balances, PayoutError> {
        self.payouts_open(provider)?;
        self.run_payout(clickpesa::balance_call())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payouts::PayoutDestination;
    use crate::transport::scripted::Scripted;
    use std::collections::BTreeMap;

    fn vars(on: bool) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        for (name, value) in [
            ("clickpesa_base_url", "http://127.0.0.1:9/third-parties"),
            ("clickpesa_client_id", "client"),
            ("clickpesa_api_key", "key"),
        ] {
            vars.insert(name.to_owned(), value.to_owned());
        }
        if on {
            vars.insert("finconnect_payouts".to_owned(), "on".to_owned());
        }
        vars
    }

    fn request() -> PayoutRequest {
        PayoutRequest {
            reference: "PAY001".to_owned(),
            amount: "1000".to_owned(),
            currency: "TZS".to_owned(),
            destination: PayoutDestination::MobileMoney {
                phone: "255712345678".to_owned(),
            },
        }
    }

    #[test]
    fn payouts_off_or_another_provider_calls_nobody() {
        for (on, provider, needle) in [
            (false, Provider::Clickpesa, "finconnect_payouts"),
            (true, Provider::Pesapal, "PesaPal"),
            (true, Provider::Mpesa, "initiator credential"),
        ] {
            let vars = vars(on);
            let mut transport = Scripted::new(Vec::new());
            let mut fc = Finconnect::new(&vars, &mut transport);
            let created = fc.create_payout(provider, &request());
            assert!(
                matches!(&created, Err(PayoutError::Failed(Error::Unsupported { detail, .. })) if detail.contains(needle)),
                "{created:?}"
            );
            assert!(matches!(
                fc.balances(provider),
                Err(PayoutError::Failed(Error::Unsupported { .. }))
            ));
            assert_eq!(fc.api_requests_sent(), 0);
            assert!(transport.seen.is_empty());
        }
    }

    const TOKEN: &str = r#"{"success":true,"token":"Bearer canary"}"#;

    #[test]
    fn a_create_is_one_token_and_one_request_and_refusals_are_typed() {
        let vars = vars(true);
        let mut transport = Scripted::new(vec![
            Ok((200, TOKEN)),
            Ok((
                200,
                r#"{"id":"P1","orderReference":"PAY001","amount":"1047.10","fee":"47.10","status":"AUTHORIZED"}"#,
            )),
            Ok((200, TOKEN)),
            Ok((
                400,
                r#"{"message":"Insufficient balance: available balance is 0 TZS"}"#,
            )),
            Ok((200, TOKEN)),
            Ok((
                400,
                r#"{"message":"Payout request is already in progress, please retry after 60 seconds"}"#,
            )),
        ]);
        let mut fc = Finconnect::new(&vars, &mut transport);
        let created = fc.create_payout(Provider::Clickpesa, &request());
        assert_eq!(created.map(|p| p.id), Ok(Some("P1".to_owned())));
        assert!(matches!(
            fc.create_payout(Provider::Clickpesa, &request()),
            Err(PayoutError::InsufficientBalance { .. })
        ));
        assert!(matches!(
            fc.create_payout(Provider::Clickpesa, &request()),
            Err(PayoutError::InProgress {
                retry_after_seconds: Some(60),
                ..
            })
        ));
        assert_eq!(
            transport.paths(),
            [
                "POST /third-parties/generate-token",
                "POST /third-parties/payouts/create-mobile-money-payout",
                "POST /third-parties/generate-token",
                "POST /third-parties/payouts/create-mobile-money-payout",
                "POST /third-parties/generate-token",
                "POST /third-parties/payouts/create-mobile-money-payout",
            ]
        );
    }

    #[test]
    fn an_invalid_payout_calls_nobody() {
        let vars = vars(true);
        let mut transport = Scripted::new(Vec::new());
        let mut fc = Finconnect::new(&vars, &mut transport);
        let mut bad = request();
        bad.amount = "12.345".to_owned();
        assert!(matches!(
            fc.create_payout(Provider::Clickpesa, &bad),
            Err(PayoutError::Failed(Error::InvalidRequest { field, .. })) if field == "amount"
        ));
        assert!(
            fc.check_payout(Provider::Clickpesa, &request(), true)
                .is_ok()
        );
        assert!(transport.seen.is_empty());
    }
}
