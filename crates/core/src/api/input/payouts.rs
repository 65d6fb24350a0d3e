//! Bodies of the payout routes: `POST /payouts/previews`, `POST /payouts`
//! and `POST /bank-account-verifications`. Shapes and vocabularies only;
//! the provider's rules run in the flow before anything is sent.

use super::{Object, Problem, UNPROCESSABLE, amount, provider, require, required_string, string};
use crate::domain::Provider;
use crate::payouts::{BankAccountQuery, PayoutDestination, PayoutRequest, TransferType};
use crate::providers::Loose;
use serde::Deserialize;

/// `POST /payouts` and `POST /payouts/previews` as sent.
#[derive(Deserialize)]
struct PayoutBody {
    provider: Option<Loose>,
    reference: Option<Loose>,
    amount: Option<Loose>,
    currency: Option<Loose>,
    destination: Option<Loose>,
}

/// The `destination` object.
#[derive(Deserialize)]
struct DestinationBody {
    #[serde(rename = "type")]
    kind: Option<Loose>,
    phone: Option<Loose>,
    account_number: Option<Loose>,
    bic: Option<Loose>,
    account_name: Option<Loose>,
    account_currency: Option<Loose>,
    transfer_type: Option<Loose>,
    lipa_namba: Option<Loose>,
    provider_code: Option<Loose>,
    qr_code: Option<Loose>,
}

/// `POST /bank-account-verifications` as sent.
#[derive(Deserialize)]
struct VerificationBody {
    provider: Option<Loose>,
    account_number: Option<Loose>,
    bic: Option<Loose>,
}

/// A payout body: the provider and the payout request.
pub(in crate::api) fn payout(body: &[u8]) -> Result<(Provider, PayoutRequest), Problem> {
    let object = Object::body(body)?;
    let named = provider(&object)?;
    let body: PayoutBody = object.read_whole()?;
    require(&[
        ("provider", &body.provider),
        ("reference", &body.reference),
        ("amount", &body.amount),
        ("currency", &body.currency),
        ("destination", &body.destination),
    ])?;
    let provider =
        named.ok_or_else(|| Problem::invalid(UNPROCESSABLE, "provider", "is required"))?;
    let destination = match body.destination {
        Some(Loose::Object(object)) => {
            let object = Object::of(object.get(), "destination.")?;
            let destination: DestinationBody = object.read_whole()?;
            let kind = required_string(destination.kind, "destination.type")?;
            match kind.as_str() {
                "mobile_money" => PayoutDestination::MobileMoney {
                    phone: required_string(destination.phone, "destination.phone")?,
                },
                "bank" => PayoutDestination::Bank {
                    account_number: required_string(
                        destination.account_number,
                        "destination.account_number",
                    )?,
                    bic: required_string(destination.bic, "destination.bic")?,
                    account_name: string(destination.account_name, "destination.account_name")?,
                    account_currency: string(
                        destination.account_currency,
                        "destination.account_currency",
                    )?,
                    transfer_type: string(destination.transfer_type, "destination.transfer_type")?
                        .map(|text| {
                            TransferType::parse(&text).ok_or_else(|| {
                                Problem::invalid(
                                    UNPROCESSABLE,
                                    "destination.transfer_type",
                                    "must be \"ACH\" or \"RTGS\"",
                                )
                            })
                        })
                        .transpose()?,
                },
                // Exactly one of the two destinations is checked with the
                // provider's rules, before anything is sent.
                "lipa_namba" => PayoutDestination::LipaNamba {
                    lipa_namba: string(destination.lipa_namba, "destination.lipa_namba")?,
                    provider_code: string(destination.provider_code, "destination.provider_code")?,
                    qr_code: string(destination.qr_code, "destination.qr_code")?,
                },
                _ => {
                    return Err(Problem::invalid(
                        UNPROCESSABLE,
                        "destination.type",
                        "must be \"mobile_money\", \"bank\" or \"lipa_namba\"",
                    ));
                }
            }
        }
        _ => {
            return Err(Problem::invalid(
                UNPROCESSABLE,
                "destination",
                "must be an object",
            ));
        }
    };
    Ok((
        provider,
        PayoutRequest {
            reference: required_string(body.reference, "reference")?,
            amount: amount(body.amount)?,
            currency: required_string(body.currency, "currency")?,
            destination,
        },
    ))
}

/// A bank account verification body.
pub(in crate::api) fn bank_account(body: &[u8]) -> Result<(Provider, BankAccountQuery), Problem> {
    let object = Object::body(body)?;
    let named = provider(&object)?;
    let body: VerificationBody = object.read_whole()?;
    require(&[
        ("provider", &body.provider),
        ("account_number", &body.account_number),
        ("bic", &body.bic),
    ])?;
    let provider =
        named.ok_or_else(|| Problem::invalid(UNPROCESSABLE, "provider", "is required"))?;
    Ok((
        provider,
        BankAccountQuery {
            account_number: required_string(body.account_number, "account_number")?,
            bic: required_string(body.bic, "bic")?,
        },
    ))
}
