//! The `payouts` export: ClickPesa payouts through the core's flow, with
//! the same switch (`finconnect_payouts`), validation and typed refusals as
//! the HTTP routes. WIT calls do not use the ledger: a create is sent once,
//! and the provider's own reference check stops a second payout.

use super::{Component, bindings, convert, with_finconnect};
use bindings::exports::finconnect::payments::payouts as wit;
use finconnect_core as core;
use finconnect_core::flow::Finconnect;
use finconnect_core::payouts::{self as p, PayoutError};

/// Runs one payout operation over this call's variables and transport.
fn run<T>(
    operation: impl FnOnce(&mut Finconnect<'_>) -> Result<T, PayoutError>,
) -> Result<T, wit::PayoutError> {
    with_finconnect(operation)
        .map_err(PayoutError::Failed)
        .and_then(|result| result)
        .map_err(error)
}

fn error(error: PayoutError) -> wit::PayoutError {
    match error {
        PayoutError::InsufficientBalance { available, message } => {
            wit::PayoutError::InsufficientBalance(wit::InsufficientBalance { available, message })
        }
        PayoutError::InProgress {
            retry_after_seconds,
            message,
        } => wit::PayoutError::InProgress(wit::PayoutCooldown {
            retry_after_seconds,
            message,
        }),
        PayoutError::UnsupportedChannelProvider { message } => {
            wit::PayoutError::UnsupportedChannelProvider(message)
        }
        PayoutError::ReferenceReused { message } => wit::PayoutError::ReferenceReused(message),
        PayoutError::NotFound { message } => wit::PayoutError::NotFound(message),
        PayoutError::ReceiverUnresolved { message } => {
            wit::PayoutError::ReceiverUnresolved(message)
        }
        PayoutError::Failed(error) => wit::PayoutError::Failed(convert::error(error)),
    }
}

fn request(request: wit::PayoutRequest) -> p::PayoutRequest {
    p::PayoutRequest {
        reference: request.reference,
        amount: request.amount,
        currency: request.currency,
        destination: match request.destination {
            wit::PayoutDestination::MobileMoney(phone) => {
                p::PayoutDestination::MobileMoney { phone }
            }
            wit::PayoutDestination::Bank(bank) => p::PayoutDestination::Bank {
                account_number: bank.account_number,
                bic: bank.bic,
                account_name: bank.account_name,
                account_currency: bank.account_currency,
                transfer_type: bank.transfer_type.map(|rail| match rail {
                    wit::TransferType::Ach => p::TransferType::Ach,
                    wit::TransferType::Rtgs => p::TransferType::Rtgs,
                }),
            },
            wit::PayoutDestination::LipaNamba(lipa) => p::PayoutDestination::LipaNamba {
                lipa_namba: lipa.lipa_namba,
                provider_code: lipa.provider_code,
                qr_code: lipa.qr_code,
            },
        },
    }
}

fn status(status: p::PayoutStatus) -> wit::PayoutState {
    match status {
        p::PayoutStatus::Authorized => wit::PayoutState::Authorized,
        p::PayoutStatus::Processing => wit::PayoutState::Processing,
        p::PayoutStatus::Pending => wit::PayoutState::Pending,
        p::PayoutStatus::Succeeded => wit::PayoutState::Succeeded,
        p::PayoutStatus::Failed => wit::PayoutState::Failed,
        p::PayoutStatus::Refunded => wit::PayoutState::Refunded,
        p::PayoutStatus::Reversed => wit::PayoutState::Reversed,
        p::PayoutStatus::Unknown => wit::PayoutState::Unknown,
    }
}

fn payout(payout: p::Payout) -> wit::Payout {
    wit::Payout {
        provider: convert::provider_out(payout.provider),
        id: payout.id,
        reference: payout.reference,
        status: status(payout.status),
        provider_status: payout.provider_status,
        amount: payout.amount,
        fee: payout.fee,
        currency: payout.currency,
        channel: payout.channel,
        channel_provider: payout.channel_provider,
        transfer_type: payout.transfer_type,
        beneficiary_account: payout.beneficiary_account,
        beneficiary_name: payout.beneficiary_name,
        notes: payout.notes,
        created_at: payout.created_at,
        updated_at: payout.updated_at,
    }
}

fn preview(preview: p::PayoutPreview) -> wit::PayoutPreview {
    wit::PayoutPreview {
        reference: preview.reference,
        amount: preview.amount,
        fee: preview.fee,
        total: preview.total,
        currency: preview.currency,
        balance: preview.balance,
        fee_bearer: preview.fee_bearer,
        channel_provider: preview.channel_provider,
        receiver_name: preview.receiver_name,
        receiver_account: preview.receiver_account,
        name_lookup: preview.name_lookup,
        transfer_type: preview.transfer_type,
        estimated_arrival: preview.estimated_arrival,
        exchanged: preview.exchanged,
    }
}

impl wit::Guest for Component {
    fn preview_payout(
        provider: wit::Provider,
        payout_request: wit::PayoutRequest,
    ) -> Result<wit::PayoutPreview, wit::PayoutError> {
        let payout_request = request(payout_request);
        run(|fc| fc.preview_payout(convert::provider(provider), &payout_request)).map(preview)
    }

    fn create_payout(
        provider: wit::Provider,
        payout_request: wit::PayoutRequest,
    ) -> Result<wit::Payout, wit::PayoutError> {
        let payout_request = request(payout_request);
        run(|fc| fc.create_payout(convert::provider(provider), &payout_request)).map(payout)
    }

    fn payout_status(
        provider: wit::Provider,
        reference: String,
    ) -> Result<Vec<wit::Payout>, wit::PayoutError> {
        run(|fc| fc.payout_status(convert::provider(provider), &reference))
            .map(|rows| rows.into_iter().map(payout).collect())
    }

    fn list_banks(provider: wit::Provider) -> Result<Vec<wit::Bank>, wit::PayoutError> {
        run(|fc| fc.list_banks(convert::provider(provider))).map(|banks| {
            banks
                .into_iter()
                .map(|bank| wit::Bank {
                    name: bank.name,
                    bic: bank.bic,
                })
                .collect()
        })
    }

    fn verify_bank_account(
        provider: wit::Provider,
        query: wit::BankAccountQuery,
    ) -> Result<String, wit::PayoutError> {
        let query = p::BankAccountQuery {
            account_number: query.account_number,
            bic: query.bic,
        };
        run(|fc| fc.verify_bank_account(convert::provider(provider), &query))
            .map(|account| account.account_name)
    }

    fn list_lipa_namba_providers(
        provider: wit::Provider,
    ) -> Result<Vec<wit::LipaNambaProvider>, wit::PayoutError> {
        run(|fc| fc.list_lipa_namba_providers(convert::provider(provider))).map(|providers| {
            providers
                .into_iter()
                .map(|p| wit::LipaNambaProvider {
                    name: p.name,
                    provider_code: p.provider_code,
                })
                .collect()
        })
    }

    fn list_payouts(
        provider: wit::Provider,
        filter: wit::PayoutFilter,
    ) -> Result<wit::PayoutPage, wit::PayoutError> {
        let filter = core::providers::clickpesa::account::PayoutFilter {
            start_date: filter.start_date,
            end_date: filter.end_date,
            status: filter.status,
            currency: filter.currency,
            skip: filter.skip,
            limit: filter.limit,
        };
        run(|fc| fc.list_payouts(convert::provider(provider), &filter)).map(|page| {
            wit::PayoutPage {
                payouts: page.payouts.into_iter().map(payout).collect(),
                total_count: page.total_count,
            }
        })
    }

    fn statement(
        provider: wit::Provider,
        currency: String,
        start_date: Option<String>,
        end_date: Option<String>,
    ) -> Result<wit::AccountStatement, wit::PayoutError> {
        run(|fc| {
            fc.statement(
                convert::provider(provider),
                &currency,
                start_date.as_deref(),
                end_date.as_deref(),
            )
        })
        .map(|statement| wit::AccountStatement {
            currency: statement.currency,
            opening_balance: statement.opening_balance,
            closing_balance: statement.closing_balance,
            total_credits: statement.total_credits,
            total_debits: statement.total_debits,
            transactions: statement
                .transactions
                .into_iter()
                .map(|t| wit::StatementEntry {
                    id: t.id,
                    date: t.date,
                    description: t.description,
                    entry: t.entry,
                    amount: t.amount,
                    currency: t.currency,
                    balance: t.balance,
                    order_reference: t.order_reference,
                    kind: t.kind,
                })
                .collect(),
        })
    }

    fn exchange_rates(
        provider: wit::Provider,
        source: Option<String>,
        target: Option<String>,
    ) -> Result<Vec<wit::ExchangeRate>, wit::PayoutError> {
        run(|fc| {
            fc.exchange_rates(
                convert::provider(provider),
                source.as_deref(),
                target.as_deref(),
            )
        })
        .map(|rates| {
            rates
                .into_iter()
                .map(|r| wit::ExchangeRate {
                    source: r.source,
                    target: r.target,
                    rate: r.rate,
                    date: r.date,
                })
                .collect()
        })
    }

    fn balances(provider: wit::Provider) -> Result<wit::BalanceReport, wit::PayoutError> {
        run(|fc| fc.balances(convert::provider(provider))).map(|balances| match balances {
            p::Balances::Accounts(rows) => wit::BalanceReport::Accounts(
                rows.into_iter()
                    .map(|row| wit::Balance {
                        currency: row.currency,
                        balance: row.balance,
                    })
                    .collect(),
            ),
            p::Balances::NoBalanceYet { message } => wit::BalanceReport::NoBalanceYet(message),
        })
    }
}
