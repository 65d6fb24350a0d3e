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
use crate::model::{Outcome, SandboxError};
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
            "/_sandbox/clickpesa/webhook",
            get(get_webhook).put(put_webhook),
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
        "control": {
            "GET /_sandbox/requests": "provider requests received, in order",
            "DELETE /_sandbox/requests": "forget them",
            "GET /_sandbox/faults": "active faults",
            "POST /_sandbox/faults": "add a fault (or an array): {\"target\": \"pesapal_token\", \"kind\": \"html500\", \"times\": 1}",
            "DELETE /_sandbox/faults": "remove all faults",
            "POST /_sandbox/pesapal/orders/{order_tracking_id}/{complete|fail|reverse}": "settle and deliver the IPN",
            "POST /_sandbox/clickpesa/payments/{order_reference}/{complete|fail}": "settle and deliver the webhook",
            "GET|PUT /_sandbox/clickpesa/webhook": "{\"url\": \"http://127.0.0.1:PORT/notifications/clickpesa\"}",
            "GET /_sandbox/orders": "PesaPal IPNs and orders, ClickPesa payments",
            "GET /_sandbox/deliveries": "notifications sent and what the receivers answered",
        },
        "fault_targets": Target::ALL.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "fault_kinds": ["html500", "truncated_json", "error_with_200", "wrong_token",
                        "slow (delay_ms)", "reset_mid_body", "status (status, body)"],
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
        SandboxError::UnknownPesapalOrder(_) | SandboxError::UnknownClickpesaPayment(_) => {
            StatusCode::NOT_FOUND
        }
        SandboxError::InvalidTransition { .. } => StatusCode::CONFLICT,
        SandboxError::Unsupported(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SandboxError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn settled(
    provider: &str,
    id: &str,
    outcome: Outcome,
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
        other => return bad_action(other, "complete, fail, reverse"),
    };
    let result = settle::pesapal(&shared, &id, outcome).await;
    settled("pesapal", &id, outcome, result)
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
    settled("clickpesa", &reference, outcome, result)
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
        }),
    )
}

async fn deliveries(State(shared): State<Arc<Shared>>) -> Response {
    control_json(StatusCode::OK, &json!(shared.lock().deliveries))
}
