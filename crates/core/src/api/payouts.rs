//! The payout routes: money out of the merchant's provider account.
//!
//! Checks, in order, after route, method and size: the switch
//! (`finconnect_payouts` must be `on`, else 422 `unsupported` naming it, no
//! provider call), the payout key (`Authorization: Bearer
//! <finconnect_payouts_api_key>`: 503 unset, 401 wrong — the merchant key
//! `finconnect_api_key` does not open these routes, and a payout key equal
//! to it is refused as not configured), content type, body, the provider's
//! rules, and only then the provider.
//!
//! `POST /payouts` goes through the ledger when there is one: the
//! `Idempotency-Key` header (else the order reference) is claimed before
//! the provider call, a repeat is answered from the ledger
//! (`Idempotent-Replayed: true`), and the payout's states become
//! `payout.*` events ([`crate::ledger::payouts`]).
//!
//! `POST /notifications/clickpesa/payouts` takes ClickPesa's payout
//! webhooks (public, like the other notification routes): checked by its
//! checksum when `clickpesa_checksum_key` is set (forged or unsigned: 401,
//! no event), else confirmed by asking ClickPesa for the payout. The same
//! webhooks delivered to `POST /notifications/clickpesa` (ClickPesa's one
//! merchant-level URL) are recognised by their `PAYOUT ...` event and
//! handled here too ([`is_payout_webhook`]).

use super::ledgered::{param, query_params, unavailable};
use super::{Problem, ProblemCode, Request, Response, bearer_token, json, require_json, respond};
use crate::config::{self, Variables, names};
use crate::domain::Provider;
use crate::flow::Finconnect;
use crate::ledger::payouts::{PayoutBegin, payout_json};
use crate::ledger::{IDEMPOTENCY_KEY_HEADER, Ledger, REPLAYED_HEADER, Store, StoredResponse};
use crate::payouts::{
    Balances, PAYOUTS_API_KEY, PAYOUTS_SWITCH, Payout, PayoutDestination, PayoutError,
    PayoutPreview, PayoutRequest,
};
use crate::secret::Secret;
use crate::transport::header_text;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a payout route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutRoute {
    /// `POST /payouts/previews`: fee, total, receiver, balance; no money moves.
    Preview,
    /// `POST /payouts`: moves money, idempotently.
    Create,
    /// `GET /payouts/{provider}/{reference}`: the payouts under a reference.
    Status,
    /// `GET /banks?provider=`: banks bank payouts can go to.
    Banks,
    /// `POST /bank-account-verifications`: the name a bank holds for an account.
    VerifyBankAccount,
    /// `GET /balances?provider=`: the merchant's balances.
    Balances,
    /// `POST /notifications/clickpesa/payouts`: ClickPesa's payout webhooks.
    Webhook,
    /// `GET /payouts?provider=`: a page of the payouts made.
    List,
    /// `GET /statements?provider=&currency=`: the account statement.
    Statement,
    /// `GET /exchange-rates?provider=`: the provider's exchange rates.
    ExchangeRates,
    /// `GET /payouts/lipa-namba-providers?provider=`: the networks Lipa
    /// Namba payouts go to.
    LipaNambaProviders,
}

/// The payout routes, for [`super::routes`].
pub(super) const ROUTES: [(&str, &str, PayoutRoute); 11] = [
    ("POST", "/payouts/previews", PayoutRoute::Preview),
    ("POST", "/payouts", PayoutRoute::Create),
    (
        "GET",
        "/payouts/{provider}/{reference}",
        PayoutRoute::Status,
    ),
    ("GET", "/banks", PayoutRoute::Banks),
    (
        "POST",
        "/bank-account-verifications",
        PayoutRoute::VerifyBankAccount,
    ),
    ("GET", "/balances", PayoutRoute::Balances),
    (
        "POST",
        "/notifications/clickpesa/payouts",
        PayoutRoute::Webhook,
    ),
    ("GET", "/payouts", PayoutRoute::List),
    ("GET", "/statements", PayoutRoute::Statement),
    ("GET", "/exchange-rates", PayoutRoute::ExchangeRates),
    (
        "GET",
        "/payouts/lipa-namba-providers",
        PayoutRoute::LipaNambaProviders,
    ),
];

/// Serves a payout route.
pub(super) fn serve<S: Store>(
    route: PayoutRoute,
    request: &Request,
    fc: &mut Finconnect<'_>,
    ledger: Option<(&Ledger<S>, u64)>,
    params: &[String],
) -> Result<Response, Problem> {
    let vars = fc.variables();
    switched_on(vars)?;
    if route == PayoutRoute::Webhook {
        return webhook(request, fc, ledger);
    }
    authorize(request, vars)?;
    match route {
        PayoutRoute::Preview => {
            require_json(request)?;
            let (provider, payout) = super::input::payouts::payout(&request.body)?;
            let preview = fc
                .preview_payout(provider, &payout)
                .map_err(|e| problem(provider, &e))?;
            Ok(json(200, &preview_json(provider, &preview)))
        }
        PayoutRoute::Create => {
            require_json(request)?;
            let (provider, payout) = super::input::payouts::payout(&request.body)?;
            create(request, fc, ledger, provider, &payout)
        }
        PayoutRoute::Status => {
            let [provider, reference] = params else {
                return Err(Problem::new(404, ProblemCode::NotFound, "no such route"));
            };
            let provider = path_provider(provider)?;
            let rows = fc
                .payout_status(provider, reference)
                .map_err(|e| problem(provider, &e))?;
            if let Some((ledger, now)) = ledger {
                for row in &rows {
                    // A query is a verified answer: its states are announced.
                    ledger
                        .observe_payout(row, now)
                        .map_err(|e| unavailable(&e))?;
                }
            }
            let data: Vec<_> = rows.iter().map(payout_json).collect();
            Ok(json(
                200,
                &serde_json::json!({
                    "provider": provider.as_str(),
                    "reference": reference,
                    "data": data,
                }),
            ))
        }
        PayoutRoute::LipaNambaProviders => {
            let provider = query_provider(request)?;
            let providers = fc
                .list_lipa_namba_providers(provider)
                .map_err(|e| problem(provider, &e))?;
            let data: Vec<_> = providers
                .iter()
                .map(|p| serde_json::json!({ "name": p.name, "provider_code": p.provider_code }))
                .collect();
            Ok(json(
                200,
                &serde_json::json!({ "provider": provider.as_str(), "data": data }),
            ))
        }
        PayoutRoute::Banks => {
            let provider = query_provider(request)?;
            let banks = fc.list_banks(provider).map_err(|e| problem(provider, &e))?;
            let data: Vec<_> = banks
                .iter()
                .map(|bank| serde_json::json!({ "name": bank.name, "bic": bank.bic }))
                .collect();
            Ok(json(
                200,
                &serde_json::json!({ "provider": provider.as_str(), "data": data }),
            ))
        }
        PayoutRoute::VerifyBankAccount => {
            require_json(request)?;
            let (provider, query) = super::input::payouts::bank_account(&request.body)?;
            let account = fc
                .verify_bank_account(provider, &query)
                .map_err(|e| problem(provider, &e))?;
            Ok(json(
                200,
                &serde_json::json!({
                    "provider": provider.as_str(),
                    "account_number": query.account_number,
                    "bic": query.bic,
                    "account_name": account.account_name,
                }),
            ))
        }
        PayoutRoute::Balances => {
            let provider = query_provider(request)?;
            let balances = fc.balances(provider).map_err(|e| problem(provider, &e))?;
            let body = match balances {
                Balances::Accounts(rows) => serde_json::json!({
                    "provider": provider.as_str(),
                    "balances": rows.iter().map(|row| serde_json::json!({
                        "currency": row.currency,
                        "balance": row.balance,
                    })).collect::<Vec<_>>(),
                    "message": null,
                }),
                Balances::NoBalanceYet { message } => serde_json::json!({
                    "provider": provider.as_str(),
                    "balances": [],
                    "message": message,
                }),
            };
            Ok(json(200, &body))
        }
        PayoutRoute::Webhook => webhook(request, fc, ledger),
        PayoutRoute::List => {
            let provider = query_provider(request)?;
            let params = query_params(request)?;
            let number = |name: &str| -> Result<Option<u32>, Problem> {
                param(&params, name)
                    .map(|text| {
                        text.parse::<u32>()
                            .map_err(|_| Problem::invalid(422, name, "must be a whole number"))
                    })
                    .transpose()
            };
            let owned = |name: &str| param(&params, name).map(str::to_owned);
            let filter = crate::providers::clickpesa::account::PayoutFilter {
                start_date: owned("start_date"),
                end_date: owned("end_date"),
                status: owned("status"),
                currency: owned("currency"),
                skip: number("skip")?,
                limit: number("limit")?,
            };
            let page = fc
                .list_payouts(provider, &filter)
                .map_err(|e| problem(provider, &e))?;
            let data: Vec<_> = page.payouts.iter().map(payout_json).collect();
            Ok(json(
                200,
                &serde_json::json!({
                    "provider": provider.as_str(),
                    "data": data,
                    "total_count": page.total_count,
                }),
            ))
        }
        PayoutRoute::Statement => {
            let provider = query_provider(request)?;
            let params = query_params(request)?;
            let currency = param(&params, "currency")
                .ok_or_else(|| Problem::invalid(422, "currency", "is required (TZS or USD)"))?;
            let statement = fc
                .statement(
                    provider,
                    currency,
                    param(&params, "start_date"),
                    param(&params, "end_date"),
                )
                .map_err(|e| problem(provider, &e))?;
            let transactions: Vec<_> = statement
                .transactions
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "id": t.id, "date": t.date, "description": t.description,
                        "entry": t.entry, "amount": t.amount, "currency": t.currency,
                        "balance": t.balance, "order_reference": t.order_reference,
                        "type": t.kind,
                    })
                })
                .collect();
            Ok(json(
                200,
                &serde_json::json!({
                    "provider": provider.as_str(),
                    "currency": statement.currency,
                    "opening_balance": statement.opening_balance,
                    "closing_balance": statement.closing_balance,
                    "total_credits": statement.total_credits,
                    "total_debits": statement.total_debits,
                    "transactions": transactions,
                }),
            ))
        }
        PayoutRoute::ExchangeRates => {
            let provider = query_provider(request)?;
            let params = query_params(request)?;
            let rates = fc
                .exchange_rates(provider, param(&params, "source"), param(&params, "target"))
                .map_err(|e| problem(provider, &e))?;
            let data: Vec<_> = rates
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "source": r.source, "target": r.target, "rate": r.rate, "date": r.date,
                    })
                })
                .collect();
            Ok(json(
                200,
                &serde_json::json!({ "provider": provider.as_str(), "data": data }),
            ))
        }
    }
}

/// 422 `unsupported` naming the switch while payouts are off.
fn switched_on(vars: &dyn Variables) -> Result<(), Problem> {
    match config::optional(vars, PAYOUTS_SWITCH) {
        Ok(Some(value)) if value.eq_ignore_ascii_case("on") => Ok(()),
        _ => Err(Problem::new(
            422,
            ProblemCode::Unsupported,
            format!(
                "payouts are switched off; set the variable `{PAYOUTS_SWITCH}` to `on` (and \
                 `{PAYOUTS_API_KEY}`) to send money out"
            ),
        )),
    }
}

/// Checks `Authorization: Bearer <finconnect_payouts_api_key>` as the
/// merchant key is checked (both sides hashed, compared in constant time).
/// A payout key equal to the merchant key closes the routes: the
/// collection key alone must never move money out.
fn authorize(request: &Request, vars: &dyn Variables) -> Result<(), Problem> {
    let not_configured = |why: &str| {
        Problem::new(
            503,
            ProblemCode::NotConfigured,
            format!(
                "the payout routes are closed: variable `{PAYOUTS_API_KEY}` {why}; set it as a \
                 component variable (environment form SPIN_VARIABLE_{})",
                PAYOUTS_API_KEY.to_ascii_uppercase()
            ),
        )
    };
    let expected = match config::optional(vars, PAYOUTS_API_KEY) {
        Ok(Some(key)) => Secret::new(key),
        Ok(None) => return Err(not_configured("is not set")),
        Err(_) => return Err(not_configured("could not be read from the host")),
    };
    let digest = |text: &str| Sha256::digest(text.as_bytes());
    if let Ok(Some(merchant)) = config::optional(vars, names::FINCONNECT_API_KEY) {
        let same = digest(&merchant)
            .as_slice()
            .ct_eq(digest(expected.expose()).as_slice());
        if bool::from(same) {
            return Err(not_configured(&format!(
                "is the same as `{}`; give payouts a key of their own",
                names::FINCONNECT_API_KEY
            )));
        }
    }
    let unauthorized = |detail: &str| {
        Problem::new(401, ProblemCode::Unauthorized, detail)
            .with_header("www-authenticate", "Bearer")
    };
    let Some(presented) = bearer_token(request) else {
        return Err(unauthorized(&format!(
            "send `Authorization: Bearer <key>` with the key set in `{PAYOUTS_API_KEY}`"
        )));
    };
    if bool::from(
        digest(presented)
            .as_slice()
            .ct_eq(digest(expected.expose()).as_slice()),
    ) {
        Ok(())
    } else {
        Err(unauthorized("the bearer key is not valid for payouts"))
    }
}

fn path_provider(text: &str) -> Result<Provider, Problem> {
    text.parse::<Provider>().map_err(|()| {
        Problem::new(
            404,
            ProblemCode::NotFound,
            format!(
                "unknown provider in the path; use {}",
                Provider::names_for_message()
            ),
        )
    })
}

fn query_provider(request: &Request) -> Result<Provider, Problem> {
    let params = query_params(request)?;
    let name = param(&params, "provider").ok_or_else(|| {
        Problem::invalid(
            422,
            "provider",
            &format!("is required; use {}", Provider::names_for_message()),
        )
    })?;
    name.parse::<Provider>().map_err(|()| {
        Problem::invalid(
            422,
            "provider",
            &format!("must be {}", Provider::names_for_message()),
        )
    })
}

/// The problem for a payout error: typed refusals with their own codes.
pub(super) fn problem(provider: Provider, error: &PayoutError) -> Problem {
    match error {
        PayoutError::InsufficientBalance { available, message } => Problem::payout_refusal(
            422,
            ProblemCode::InsufficientBalance,
            provider,
            match available {
                Some(available) => format!(
                    "the balance ({available}) does not cover the payout and its fee; top it up \
                     or pay less"
                ),
                None => "the balance does not cover the payout and its fee".to_owned(),
            },
            message,
        ),
        PayoutError::InProgress {
            retry_after_seconds,
            message,
        } => {
            let problem = Problem::payout_refusal(
                409,
                ProblemCode::PayoutCooldown,
                provider,
                match retry_after_seconds {
                    Some(seconds) => format!(
                        "another payout request is still being processed; retry after \
                         {seconds} seconds (nothing was paid)"
                    ),
                    None => "another payout request is still being processed; retry later \
                             (nothing was paid)"
                        .to_owned(),
                },
                message,
            );
            match retry_after_seconds {
                Some(seconds) => problem.with_header("retry-after", seconds.to_string()),
                None => problem,
            }
        }
        PayoutError::UnsupportedChannelProvider { message } => Problem::payout_refusal(
            422,
            ProblemCode::UnsupportedChannelProvider,
            provider,
            "the destination's network or bank is not supported for payouts",
            message,
        ),
        PayoutError::ReferenceReused { message } => Problem::payout_refusal(
            409,
            ProblemCode::ReferenceReused,
            provider,
            "the provider has seen this order reference before; nothing was paid this time \
             (ask GET /payouts/{provider}/{reference} for the earlier payout)",
            message,
        ),
        PayoutError::ReceiverUnresolved { message } => Problem::payout_refusal(
            422,
            ProblemCode::ReceiverUnresolved,
            provider,
            "the Lipa Namba / TanQR receiver is not resolved yet; preview the payout \
             (POST /payouts/previews) first, then create it (nothing was paid)",
            message,
        ),
        PayoutError::NotFound { message } => Problem::payout_refusal(
            404,
            ProblemCode::NotFound,
            provider,
            "the provider does not know it",
            message,
        ),
        PayoutError::Failed(error) => Problem::from_error(error),
    }
}

/// The idempotency key: the header, else the order reference.
fn idempotency_key(request: &Request, payout: &PayoutRequest) -> Result<String, Problem> {
    match request.single_header(IDEMPOTENCY_KEY_HEADER) {
        Err(()) => Err(Problem::invalid(
            400,
            "Idempotency-Key",
            "is given more than once",
        )),
        Ok(None) => Ok(payout.reference.clone()),
        Ok(Some(value)) => {
            let text = header_text(value)
                .ok_or_else(|| Problem::invalid(400, "Idempotency-Key", "is not readable text"))?;
            crate::ledger::idempotency_key(text).map_err(|e| Problem::from_error(&e))
        }
    }
}

/// What identifies a payout request: the same request, the same text.
fn fingerprint(provider: Provider, payout: &PayoutRequest) -> String {
    let amount = payout
        .amount
        .parse::<crate::money::Amount>()
        .map(|amount| amount.to_fixed2())
        .unwrap_or_else(|_| payout.amount.clone());
    let destination = match &payout.destination {
        PayoutDestination::MobileMoney { phone } => format!("mobile_money|{phone}"),
        PayoutDestination::Bank {
            account_number,
            bic,
            account_name,
            account_currency,
            transfer_type,
        } => format!(
            "bank|{account_number}|{bic}|{}|{}|{}",
            account_name.as_deref().unwrap_or_default(),
            account_currency.as_deref().unwrap_or_default(),
            transfer_type.map(|t| t.as_str()).unwrap_or_default()
        ),
        PayoutDestination::LipaNamba {
            lipa_namba,
            provider_code,
            qr_code,
        } => format!(
            "lipa_namba|{}|{}|{}",
            lipa_namba.as_deref().unwrap_or_default(),
            provider_code.as_deref().unwrap_or_default(),
            qr_code.as_deref().unwrap_or_default()
        ),
    };
    let text = format!(
        "{}\n{}\n{amount}\n{}\n{destination}",
        provider.as_str(),
        payout.reference,
        payout.currency
    );
    crate::ledger::record::hex(&Sha256::digest(text.as_bytes()))
}

/// `POST /payouts`: with the ledger, claimed before the provider call.
fn create<S: Store>(
    request: &Request,
    fc: &mut Finconnect<'_>,
    ledger: Option<(&Ledger<S>, u64)>,
    provider: Provider,
    payout: &PayoutRequest,
) -> Result<Response, Problem> {
    let Some((ledger, now)) = ledger else {
        let created = fc
            .create_payout(provider, payout)
            .map_err(|e| problem(provider, &e))?;
        return Ok(json(201, &payout_json(&created)));
    };
    let key = idempotency_key(request, payout)?;
    // Only a payout that could be sent is claimed.
    fc.check_payout(provider, payout, true)
        .map_err(|e| problem(provider, &e))?;
    let fingerprint = fingerprint(provider, payout);
    let mut decision = ledger
        .begin_payout(provider, &key, &fingerprint, &payout.reference, now)
        .map_err(|e| unavailable(&e))?;
    if let PayoutBegin::AskProvider { reference } = &decision {
        let found = match fc.payout_status(provider, reference) {
            Ok(rows) => rows.first().map(|row| stored(&payout_json(row))),
            Err(PayoutError::NotFound { .. }) => None,
            Err(error) => return Err(problem(provider, &error)),
        };
        decision = ledger
            .resolve_payout(provider, &key, found, now)
            .map_err(|e| unavailable(&e))?;
    }
    let ticket = match decision {
        PayoutBegin::Proceed(ticket) => ticket,
        PayoutBegin::Replay(stored) => {
            return Ok(
                respond(stored.status, "application/json", stored.body.into_bytes())
                    .with_header(REPLAYED_HEADER, "true"),
            );
        }
        PayoutBegin::KeyReused => {
            return Err(Problem::new(
                422,
                ProblemCode::IdempotencyKeyReused,
                "this idempotency key was used for a different payout request; use a new key \
                 for a new request",
            ));
        }
        PayoutBegin::InProgress | PayoutBegin::AskProvider { .. } => {
            return Err(Problem::new(
                409,
                ProblemCode::RequestInProgress,
                "a payout request with this idempotency key is still being processed; retry \
                 after it has finished",
            )
            .with_header("retry-after", "1"));
        }
    };
    match fc.create_payout(provider, payout) {
        Ok(created) => {
            let body = payout_json(&created);
            let response = stored(&body);
            ledger
                .finish_payout(&ticket, response)
                .map_err(|e| unavailable(&e))?;
            // The event follows the answer's record; a failure to write it
            // does not undo the payout (a later query announces it).
            let _ = ledger.observe_payout(&created, fc.time_ms(now));
            Ok(json(201, &body))
        }
        Err(error) => {
            if moved_no_money(&error) {
                ledger
                    .release_payout(&ticket)
                    .map_err(|e| unavailable(&e))?;
            }
            Err(problem(provider, &error))
        }
    }
}

/// Whether a failed create certainly paid nothing (the key may be used again).
fn moved_no_money(error: &PayoutError) -> bool {
    match error {
        PayoutError::InsufficientBalance { .. }
        | PayoutError::InProgress { .. }
        | PayoutError::UnsupportedChannelProvider { .. }
        | PayoutError::ReferenceReused { .. }
        | PayoutError::ReceiverUnresolved { .. }
        | PayoutError::NotFound { .. } => true,
        PayoutError::Failed(error) => {
            crate::ledger::Outcome::of(error) != crate::ledger::Outcome::Ambiguous
        }
    }
}

fn stored(body: &serde_json::Value) -> StoredResponse {
    StoredResponse {
        status: 201,
        content_type: "application/json".to_owned(),
        body: body.to_string(),
    }
}

fn preview_json(provider: Provider, preview: &PayoutPreview) -> serde_json::Value {
    serde_json::json!({
        "provider": provider.as_str(),
        "reference": preview.reference,
        "amount": preview.amount,
        "fee": preview.fee,
        "total": preview.total,
        "currency": preview.currency,
        "balance": preview.balance,
        "fee_bearer": preview.fee_bearer,
        "channel_provider": preview.channel_provider,
        "receiver_name": preview.receiver_name,
        "receiver_account": preview.receiver_account,
        "name_lookup": preview.name_lookup,
        "transfer_type": preview.transfer_type,
        "estimated_arrival": preview.estimated_arrival,
        "exchanged": preview.exchanged,
    })
}

/// Whether a notification delivered to `/notifications/clickpesa` is a
/// payout webhook (`event`/`eventType` `PAYOUT ...`): ClickPesa falls back
/// to the one merchant-level webhook URL for every event (spec §8.1). Only
/// a peek at the event name; [`webhook`] reads and verifies the body.
pub(super) fn is_payout_webhook(provider: Provider, request: &Request) -> bool {
    if provider != Provider::Clickpesa || request.method != "POST" {
        return false;
    }
    let Ok(serde_json::Value::Object(body)) =
        serde_json::from_slice::<serde_json::Value>(&request.body)
    else {
        return false;
    };
    body.get("event")
        .or_else(|| body.get("eventType"))
        .and_then(serde_json::Value::as_str)
        .is_some_and(|event| {
            event
                .trim_start()
                .get(..6)
                .is_some_and(|head| head.eq_ignore_ascii_case("PAYOUT"))
        })
}

/// ClickPesa's payout webhook: verified by checksum (key set) or confirmed
/// by a payout query (no key), then announced.
fn webhook<S: Store>(
    request: &Request,
    fc: &mut Finconnect<'_>,
    ledger: Option<(&Ledger<S>, u64)>,
) -> Result<Response, Problem> {
    use crate::providers::clickpesa::payouts::{PayoutWebhookError, read_payout_webhook};
    if super::is_json(request) == Some(false) {
        return Err(super::not_json());
    }
    let vars = fc.variables();
    let key = config::optional(vars, names::CLICKPESA_CHECKSUM_KEY)
        .map_err(|e| Problem::from_error(&e))?
        .map(Secret::new);
    let notice = read_payout_webhook(&request.body, key.as_ref()).map_err(|error| match error {
        PayoutWebhookError::Unverified(why) => Problem::new(
            401,
            ProblemCode::Unauthorized,
            format!(
                "the notification's `checksum` {why}; it is checked with \
                 `clickpesa_checksum_key`"
            ),
        )
        .with_field("checksum"),
        PayoutWebhookError::Malformed(field, reason) => Problem::invalid(400, field, reason),
    })?;
    let provider = Provider::Clickpesa;
    let payouts: Vec<Payout> = if notice.verified {
        vec![notice.payout.clone()]
    } else {
        let reference = notice.payout.reference.clone().ok_or_else(|| {
            Problem::invalid(
                400,
                "data.orderReference",
                "is missing, so the webhook cannot be confirmed",
            )
        })?;
        fc.payout_status(provider, &reference)
            .map_err(|e| problem(provider, &e))?
    };
    if let Some((ledger, now)) = ledger {
        for payout in &payouts {
            // Acknowledged even if recording fails: a query records it later.
            let _ = ledger.observe_payout(payout, fc.time_ms(now));
        }
    }
    let latest = payouts.first().unwrap_or(&notice.payout);
    Ok(json(
        200,
        &serde_json::json!({
            "event": notice.event,
            "reference": latest.reference,
            "status": latest.status.as_str(),
            "verified": notice.verified,
            "accepted": true,
        }),
    ))
}
