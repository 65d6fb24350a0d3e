//! `/_sandbox/…`: the JSON control API (the HTTP twin of the library API).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::{Value, json};

use crate::fault::{Fault, Target};
use crate::model::{MPESA_PASSKEY, MpesaOptions, Outcome, SandboxError, StkResult};
use crate::server::{control_json, recorded_json};
use crate::settle;
use crate::state::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sandbox", get(index))
        .route("/_sandbox/", get(index))
        .route(
            "/_sandbox/requests",
            get(list_requests).delete(clear_requests),
        )
        .route(
            "/_sandbox/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route(
            "/_sandbox/pesapal/orders/{order_tracking_id}/{action}",
            post(settle_pesapal),
        )
        .route(
            "/_sandbox/clickpesa/payments/{order_reference}/{action}",
            post(settle_clickpesa),
        )
        .route(
            "/_sandbox/clickpesa/billpay/{number}/{action}",
            post(crate::clickpesa_billpay::pay_control),
        )
        .route(
            "/_sandbox/clickpesa/webhook",
            get(get_webhook).put(put_webhook),
        )
        .route(
            "/_sandbox/mpesa/stk/{checkout_request_id}/{result}",
            post(settle_mpesa),
        )
        .route(
            "/_sandbox/mpesa/options",
            get(get_mpesa_options).put(put_mpesa_options),
        )
        .route("/_sandbox/orders", get(orders))
        .route("/_sandbox/deliveries", get(deliveries))
}

/// What a developer needs to point a client at the sandbox.
pub(crate) fn describe(shared: &Shared) -> Value {
    let state = shared.lock();
    let origin = &shared.origin;
    json!({
        "pesapal": {
            "base_url": format!("{origin}/pesapalv3"),
            "consumer_key": state.config.pesapal_consumer_key,
            "consumer_secret": state.config.pesapal_consumer_secret,
            "token_ttl_seconds": state.config.token_ttl.as_secs(),
        },
        "clickpesa": {
            "base_url": format!("{origin}/third-parties"),
            "client_id": state.config.clickpesa_client_id,
            "api_key": state.config.clickpesa_api_key,
            "checksum_key": state.config.clickpesa_checksum_key,
            "webhook_url": state.config.clickpesa_webhook_url,
        },
        "mpesa": {
            "base_url": format!("{origin}{}", crate::mpesa::PREFIX),
            "consumer_key": state.config.mpesa_consumer_key,
            "consumer_secret": state.config.mpesa_consumer_secret,
            "shortcode": state.config.mpesa_shortcode,
            // The public sandbox passkey is shown; a configured one is not.
            "passkey": if state.config.mpesa_passkey == MPESA_PASSKEY {
                MPESA_PASSKEY
            } else {
                "[configured, not shown]"
            },
            "till_number": state.config.mpesa_till_number,
            "token_ttl_seconds": state.config.mpesa_token_ttl.as_secs(),
            "options": state.config.mpesa_options,
            "stk_results": StkResult::ALL
                .iter()
                .map(|r| json!({"name": r.name(), "code": r.code(), "desc": r.description()}))
                .collect::<Vec<_>>(),
        },
        "control": {
            "GET /_sandbox/requests": "provider requests received, in order",
            "DELETE /_sandbox/requests": "forget them",
            "GET /_sandbox/faults": "active faults",
            "POST /_sandbox/faults": "add a fault (or an array): {\"target\": \"pesapal_token\", \"kind\": \"html500\", \"times\": 1}",
            "DELETE /_sandbox/faults": "remove all faults",
            "POST /_sandbox/pesapal/orders/{order_tracking_id}/{complete|fail|reverse}": "settle and deliver the IPN",
            "POST /_sandbox/pesapal/orders/{order_tracking_id}/charge": "charge a completed order's recurring schedule once (a new order) and deliver its RECURRING IPN",
            "POST /_sandbox/clickpesa/payments/{order_reference}/{complete|fail}": "settle and deliver the webhook",
            "POST /_sandbox/mpesa/stk/{checkout_request_id}/{result}": "settle an STK push (result: a name such as cancelled_by_user, or a code such as 1032) and deliver the callback",
            "GET|PUT /_sandbox/mpesa/options": "Daraja behaviour switches; PUT merges the keys given",
            "POST /_sandbox/clickpesa/billpay/{number}/pay": "pay a BillPay control number and deliver the webhook: {\"amount\": \"1000\"} (optional when the number has an amount; \"outcome\": \"fail\" for PAYMENT FAILED)",
            "GET|PUT /_sandbox/clickpesa/webhook": "{\"url\": \"http://127.0.0.1:PORT/notifications/clickpesa\"}",
            "GET /_sandbox/orders": "PesaPal IPNs and orders, ClickPesa payments, M-Pesa STK pushes",
            "GET /_sandbox/deliveries": "notifications sent and what the receivers answered",
            "PUT /_sandbox/clickpesa/balance": "seed a ClickPesa balance: {\"currency\": \"TZS\", \"balance\": \"100000\"}",
            "GET|PUT /_sandbox/clickpesa/payouts": "payouts, balances and options; PUT merges {\"cooldown_seconds\": 60, \"webhook_url\": \"http://…/notifications/clickpesa/payouts\"}",
            "POST /_sandbox/clickpesa/payouts/{order_reference}/{succeed|reverse|refund}": "settle a payout and deliver its webhook",
        },
        // Tokens remembered (live, or expired but not yet pruned).
        "tokens_held": {
            "pesapal": state.pesapal_tokens.len(),
            "clickpesa": state.clickpesa_tokens.len(),
            "mpesa": state.mpesa_tokens.len(),
        },
        "fault_targets": Target::ALL.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "fault_kinds": ["html500", "truncated_json", "error_with_200", "wrong_token",
                        "slow (delay_ms)", "reset_mid_body", "status (status, body)",
                        "spike_arrest", "quota_violation"],
    })
}

async fn index(State(shared): State<Arc<Shared>>) -> Response {
    control_json(StatusCode::OK, &describe(&shared))
}

async fn list_requests(State(shared): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = shared.lock().requests.iter().map(recorded_json).collect();
    control_json(StatusCode::OK, &Value::Array(list))
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> Response {
    let mut state = shared.lock();
    let cleared = state.requests.len();
    state.requests.clear();
    control_json(StatusCode::OK, &json!({"cleared": cleared}))
}

fn faults_json(faults: &[Fault]) -> Value {
    Value::Array(faults.iter().map(Fault::to_json).collect())
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    control_json(StatusCode::OK, &faults_json(&shared.lock().faults))
}

async fn add_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => {
            return control_json(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("body is not JSON: {err}")}),
            );
        }
    };
    let items = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    let mut parsed = Vec::with_capacity(items.len());
    for item in &items {
        match Fault::from_json(item) {
            Ok(fault) => parsed.push(fault),
            Err(err) => return control_json(StatusCode::BAD_REQUEST, &json!({"error": err})),
        }
    }
    let mut state = shared.lock();
    state.faults.extend(parsed);
    control_json(StatusCode::CREATED, &faults_json(&state.faults))
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    let mut state = shared.lock();
    let cleared = state.faults.len();
    state.faults.clear();
    control_json(StatusCode::OK, &json!({"cleared": cleared}))
}

fn error_status(err: &SandboxError) -> StatusCode {
    match err {
        SandboxError::UnknownPesapalOrder(_)
        | SandboxError::UnknownClickpesaPayment(_)
        | SandboxError::UnknownMpesaCheckout(_) => StatusCode::NOT_FOUND,
        SandboxError::InvalidTransition { .. } | SandboxError::MpesaAlreadySettled { .. } => {
            StatusCode::CONFLICT
        }
        SandboxError::Unsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SandboxError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn settled(
    provider: &str,
    id: &str,
    outcome: Value,
    result: Result<crate::model::Delivery, SandboxError>,
) -> Response {
    match result {
        Ok(delivery) => control_json(
            StatusCode::OK,
            &json!({
                "provider": provider,
                "id": id,
                "outcome": outcome,
                "delivery": delivery,
            }),
        ),
        Err(err) => control_json(error_status(&err), &json!({"error": err.to_string()})),
    }
}

fn bad_action(action: &str, allowed: &str) -> Response {
    control_json(
        StatusCode::NOT_FOUND,
        &json!({"error": format!("unknown action {action:?}; use one of {allowed}")}),
    )
}

async fn settle_pesapal(
    State(shared): State<Arc<Shared>>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let outcome = match action.as_str() {
        "complete" => Outcome::Completed,
        "fail" => Outcome::Failed,
        "reverse" => Outcome::Reversed,
        // A charge of the order's recurring schedule, with its RECURRING IPN.
        "charge" => return crate::pesapal_recurring::charge_control(&shared, &id).await,
        other => return bad_action(other, "complete, fail, reverse, charge"),
    };
    let result = settle::pesapal(&shared, &id, outcome).await;
    settled("pesapal", &id, json!(outcome), result)
}

async fn settle_clickpesa(
    State(shared): State<Arc<Shared>>,
    Path((reference, action)): Path<(String, String)>,
) -> Response {
    let outcome = match action.as_str() {
        "complete" => Outcome::Completed,
        "fail" => Outcome::Failed,
        other => return bad_action(other, "complete, fail"),
    };
    let result = settle::clickpesa(&shared, &reference, outcome).await;
    settled("clickpesa", &reference, json!(outcome), result)
}

async fn settle_mpesa(
    State(shared): State<Arc<Shared>>,
    Path((id, result)): Path<(String, String)>,
) -> Response {
    let Some(stk_result) = StkResult::parse(&result) else {
        let names: Vec<String> = StkResult::ALL
            .iter()
            .map(|r| format!("{} ({})", r.name(), r.code()))
            .collect();
        return bad_action(&result, &names.join(", "));
    };
    let settled_as = json!({"name": stk_result.name(), "code": stk_result.code()});
    let delivery = settle::mpesa(&shared, &id, stk_result).await;
    settled("mpesa", &id, settled_as, delivery)
}

async fn get_mpesa_options(State(shared): State<Arc<Shared>>) -> Response {
    control_json(StatusCode::OK, &json!(shared.lock().config.mpesa_options))
}

/// Merges the keys of a JSON object into `options`; unknown keys and wrong
/// types are refused (nothing changes then).
pub(crate) fn merge_mpesa_options(options: &mut MpesaOptions, value: &Value) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err("body must be a JSON object of option names to values".to_owned());
    };
    let mut merged = options.clone();
    for (key, value) in map {
        let flag = || {
            value
                .as_bool()
                .ok_or_else(|| format!("{key:?} must be true or false"))
        };
        match key.as_str() {
            "expires_in_as_number" => merged.expires_in_as_number = flag()?,
            "reissue_invalidates_previous" => merged.reissue_invalidates_previous = flag()?,
            "callback_amount_decimals" => merged.callback_amount_decimals = flag()?,
            "wrong_credentials_empty_body" => merged.wrong_credentials_empty_body = flag()?,
            "merchant_validate_prefix" => merged.merchant_validate_prefix = flag()?,
            "query_description_typo" => merged.query_description_typo = flag()?,
            "seed" => {
                merged.seed = value
                    .as_u64()
                    .ok_or_else(|| "\"seed\" must be a non-negative integer".to_owned())?;
            }
            other => {
                return Err(format!(
                    "unknown option {other:?}; one of expires_in_as_number, \
                     reissue_invalidates_previous, callback_amount_decimals, \
                     wrong_credentials_empty_body, merchant_validate_prefix, \
                     query_description_typo, seed"
                ));
            }
        }
    }
    *options = merged;
    Ok(())
}

async fn put_mpesa_options(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => {
            return control_json(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("body is not JSON: {err}")}),
            );
        }
    };
    let mut state = shared.lock();
    match merge_mpesa_options(&mut state.config.mpesa_options, &value) {
        Ok(()) => control_json(StatusCode::OK, &json!(state.config.mpesa_options)),
        Err(err) => control_json(StatusCode::BAD_REQUEST, &json!({"error": err})),
    }
}

async fn get_webhook(State(shared): State<Arc<Shared>>) -> Response {
    let url = shared.lock().config.clickpesa_webhook_url.clone();
    control_json(StatusCode::OK, &json!({"url": url}))
}

async fn put_webhook(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let url = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => match map.get("url") {
            Some(Value::String(url)) if !url.trim().is_empty() => Some(url.trim().to_owned()),
            None | Some(Value::Null) => None,
            Some(Value::String(_)) => None,
            Some(_) => {
                return control_json(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "\"url\" must be a string or null"}),
                );
            }
        },
        _ => {
            return control_json(
                StatusCode::BAD_REQUEST,
                &json!({"error": "body must be {\"url\": \"http://…\"} or {\"url\": null}"}),
            );
        }
    };
    shared.lock().config.clickpesa_webhook_url = url.clone();
    control_json(StatusCode::OK, &json!({"url": url}))
}

async fn orders(State(shared): State<Arc<Shared>>) -> Response {
    let state = shared.lock();
    control_json(
        StatusCode::OK,
        &json!({
            "pesapal": {"ipns": state.ipns, "orders": state.orders},
            "clickpesa": {"payments": state.payments},
            "mpesa": {"stk_pushes": state.stk_pushes},
        }),
    )
}

async fn deliveries(State(shared): State<Arc<Shared>>) -> Response {
    control_json(StatusCode::OK, &json!(shared.lock().deliveries))
}
