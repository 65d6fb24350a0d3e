//! Fault injection: every kind, counted down, over real loopback HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use finconnect_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig, Target};
use serde_json::{Value, json};

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).unwrap()
}

fn token_request(sb: &Sandbox) -> Resp {
    post_json(
        sb.addr(),
        &format!("{PP}/Auth/RequestToken"),
        &[],
        &json!({"consumer_key": "sandbox-pesapal-key", "consumer_secret": "sandbox-pesapal-secret"}),
    )
}

#[test]
fn html500_once_then_normal_again() {
    let sb = sandbox();
    sb.inject(Fault::once(Target::PesapalToken, FaultKind::Html500));
    let resp = token_request(&sb);
    assert_eq!(resp.status, 500);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(resp.text().contains("<html"));
    assert!(serde_json::from_slice::<Value>(&resp.body).is_err());
    let resp = token_request(&sb);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["status"], "200");
    assert!(sb.faults().is_empty());
    // Both requests were recorded, fault or not.
    assert_eq!(sb.requests().len(), 2);
}

#[test]
fn truncated_json_is_a_complete_http_response_with_a_cut_body() {
    let sb = sandbox();
    let token = clickpesa_token(&sb);
    sb.inject(Fault::once(
        Target::ClickpesaQuery,
        FaultKind::TruncatedJson,
    ));
    let query = format!("{CP}/payments/ANY");
    let resp = get(sb.addr(), &query, &[("Authorization", &token)]);
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(resp.content_length(), Some(resp.body.len()));
    assert!(resp.read_error.is_none());
    assert!(resp.text().starts_with('['));
    let parsed = serde_json::from_slice::<Value>(&resp.body);
    assert!(parsed.unwrap_err().is_eof(), "valid start, cut short");
    // Next one is handled normally (unknown reference → 404).
    assert_eq!(
        get(sb.addr(), &query, &[("Authorization", &token)]).status,
        404
    );
}

#[test]
fn error_with_200_uses_the_pesapal_envelope() {
    let sb = sandbox();
    let token = pesapal_token(&sb);
    sb.inject(Fault::once(
        Target::PesapalRegisterIpn,
        FaultKind::ErrorWith200,
    ));
    let auth = bearer(&token);
    let resp = post_json(
        sb.addr(),
        &format!("{PP}/URLSetup/RegisterIPN"),
        &[("Authorization", &auth)],
        &json!({"url": "http://127.0.0.1:9/ipn", "ipn_notification_type": "GET"}),
    );
    assert_eq!(resp.status, 200);
    let body = resp.json();
    assert_eq!(body["status"], "500");
    assert!(body["error"]["code"].is_string());
    assert!(body["error"]["error_type"].is_string());
    assert!(
        sb.pesapal_ipns().is_empty(),
        "a fault skips normal handling"
    );
    register_ipn(&sb, &token, "http://127.0.0.1:9/ipn", "GET");
}

#[test]
fn wrong_token_is_issued_and_then_rejected() {
    let sb = sandbox();
    sb.inject(Fault::once(Target::PesapalToken, FaultKind::WrongToken));
    let resp = token_request(&sb);
    assert_eq!(resp.status, 200);
    let body = resp.json();
    assert_eq!(body["status"], "200");
    let bad = body["token"].as_str().unwrap().to_owned();
    let list = format!("{PP}/URLSetup/GetIpnList");
    let resp = get(sb.addr(), &list, &[("Authorization", &bearer(&bad))]);
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.json()["error"]["code"],
        "invalid_api_credentials_provided"
    );
    let good = pesapal_token(&sb);
    assert_eq!(
        get(sb.addr(), &list, &[("Authorization", &bearer(&good))]).status,
        200
    );

    // ClickPesa flavour: a "Bearer …" token that the API refuses.
    sb.inject(Fault::once(Target::ClickpesaToken, FaultKind::WrongToken));
    let bad = clickpesa_token(&sb);
    assert!(bad.starts_with("Bearer "));
    let resp = get(
        sb.addr(),
        &format!("{CP}/payments/X1"),
        &[("Authorization", &bad)],
    );
    assert_eq!(resp.status, 401);

    // On a non-token endpoint it is a rejection of a valid token.
    let good = clickpesa_token(&sb);
    sb.inject(Fault::once(Target::ClickpesaQuery, FaultKind::WrongToken));
    let resp = get(
        sb.addr(),
        &format!("{CP}/payments/X1"),
        &[("Authorization", &good)],
    );
    assert_eq!(resp.status, 401);
    assert_eq!(
        get(
            sb.addr(),
            &format!("{CP}/payments/X1"),
            &[("Authorization", &good)]
        )
        .status,
        404
    );
}

#[test]
fn slow_waits_then_answers_normally() {
    let sb = sandbox();
    sb.inject(Fault::once(
        Target::PesapalToken,
        FaultKind::Slow(Duration::from_millis(300)),
    ));
    let started = Instant::now();
    let resp = token_request(&sb);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.json()["status"], "200");
    let started = Instant::now();
    token_request(&sb);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn reset_mid_body_promises_more_than_it_sends() {
    let sb = sandbox();
    sb.inject(Fault::once(
        Target::PesapalSubmitOrder,
        FaultKind::ResetMidBody,
    ));
    let token = pesapal_token(&sb);
    let resp = submit_raw(&sb, &token, "{}");
    assert_eq!(resp.status, 200);
    let promised = resp.content_length().unwrap();
    assert!(!resp.body.is_empty(), "part of the body arrives");
    assert!(
        resp.body.len() < promised,
        "{} of {promised} bytes",
        resp.body.len()
    );
    // The next request is answered in full.
    let resp = submit_raw(&sb, &token, "{}");
    assert_eq!(resp.content_length(), Some(resp.body.len()));
    assert_eq!(resp.json()["status"], "500");
}

#[test]
fn status_fault_answers_with_the_given_status_and_body() {
    let sb = sandbox();
    sb.inject(Fault::times(
        Target::Any,
        FaultKind::Status(503, r#"{"message":"Service Unavailable"}"#.into()),
        2,
    ));
    let first = token_request(&sb);
    assert_eq!(first.status, 503);
    assert_eq!(first.json(), json!({"message": "Service Unavailable"}));
    let second = request(
        sb.addr(),
        "POST",
        &format!("{CP}/generate-token"),
        &[],
        None,
    );
    assert_eq!(second.status, 503, "Any covers both providers");
    assert_eq!(token_request(&sb).status, 200, "counted down to nothing");

    sb.inject(Fault::always(
        Target::AnyClickpesa,
        FaultKind::Status(429, "slow down".into()),
    ));
    for _ in 0..3 {
        let resp = request(
            sb.addr(),
            "POST",
            &format!("{CP}/generate-token"),
            &[],
            None,
        );
        assert_eq!(resp.status, 429);
        assert!(
            resp.header("content-type")
                .unwrap()
                .starts_with("text/plain")
        );
        assert_eq!(resp.text(), "slow down");
    }
    assert_eq!(token_request(&sb).status, 200, "PesaPal untouched");
    sb.clear_faults();
    assert!(clickpesa_token(&sb).starts_with("Bearer "), "cleared");
}

#[test]
fn faults_over_http_control() {
    let sb = sandbox();
    let resp = post_json(
        sb.addr(),
        "/_sandbox/faults",
        &[],
        &json!([{"target": "pesapal_status", "kind": "slow", "delay_ms": 10, "times": 1},
                {"target": "pesapal_token", "kind": "html500"}]),
    );
    assert_eq!(resp.status, 201);
    assert_eq!(resp.json().as_array().unwrap().len(), 2);
    assert_eq!(token_request(&sb).status, 500);
    assert_eq!(token_request(&sb).status, 500, "no times: until cleared");
    let listed = get(sb.addr(), "/_sandbox/faults", &[]).json();
    assert_eq!(
        listed[1],
        json!({"target": "pesapal_token", "kind": "html500", "times": null})
    );
    let resp = request(sb.addr(), "DELETE", "/_sandbox/faults", &[], None);
    assert_eq!(resp.json(), json!({"cleared": 2}));
    assert_eq!(token_request(&sb).status, 200);

    let bad = post_json(
        sb.addr(),
        "/_sandbox/faults",
        &[],
        &json!({"kind": "explode"}),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("explode"));
}
