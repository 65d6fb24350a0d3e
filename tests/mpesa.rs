//! M-Pesa Daraja end to end: the built component in the project's host,
//! against the sandbox's Daraja emulation on loopback, through the WIT
//! exports and through the HTTP API — the STK push, the callback confirmed
//! by an STK query, validation before any call, Daraja's error shapes, and
//! concurrent pays when every new token invalidates the previous one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::{
    ApiError, Customer, KeyValueOpCounts, PaymentRequest, PaymentStatus, Provider,
};
use finconnect_sandbox::{Fault, FaultKind, MpesaOptions, Sandbox, StkResult, Target};
use serde_json::json;

const MPESA_TOKEN: &str = "/mpesa-daraja/oauth/v1/generate";
const MPESA_PUSH: &str = "/mpesa-daraja/mpesa/stkpush/v1/processrequest";
const MPESA_QUERY: &str = "/mpesa-daraja/mpesa/stkpushquery/v1/query";

fn mpesa_payment(reference: &str, callback_url: &str) -> PaymentRequest {
    PaymentRequest {
        reference: reference.to_owned(),
        amount: "100".to_owned(),
        currency: "KES".to_owned(),
        description: Some("Order".to_owned()),
        customer: Customer {
            email: None,
            phone: Some("0708374149".to_owned()),
            first_name: None,
            last_name: None,
            country_code: None,
        },
        callback_url: Some(callback_url.to_owned()),
        cancellation_url: None,
        notification_id: None,
        method: None,
        branch: None,
        redirect_mode: None,
        subscription: None,
    }
}

fn mpesa_body(reference: &str) -> serde_json::Value {
    json!({
        "provider": "mpesa",
        "reference": reference,
        "amount": "100.00",
        "currency": "KES",
        "customer": {"phone": "+254708374149"},
        "callback_url": "https://shop.example/notifications/mpesa",
    })
}

fn paths(sandbox: &Sandbox) -> Vec<String> {
    sandbox.requests().into_iter().map(|r| r.path).collect()
}

#[test]
fn an_stk_push_is_confirmed_by_a_query_when_daraja_calls_back() {
    let (sandbox, host) = start();
    let addr = serve(&host);
    let callback = format!("http://{addr}/notifications/mpesa");

    // Paid through the HTTP face, so the ledger knows the CheckoutRequestID
    // its callback will name (the WIT interface keeps no ledger).
    let mut body = mpesa_body("ORDER1");
    body["callback_url"] = json!(callback);
    let reply = post(&host, "/payments", &body);
    assert_eq!(reply.status, 201, "{reply}");
    let created = reply.json();
    assert_eq!(created["status"], "pending");
    let tracking_id = created["tracking_id"].as_str().unwrap().to_owned();
    assert!(tracking_id.starts_with("ws_CO_"), "{created}");
    assert_eq!(created["redirect_url"], serde_json::Value::Null);
    assert_eq!(paths(&sandbox), [MPESA_TOKEN, MPESA_PUSH]);
    let payment = host
        .payment_status_blocking(Provider::Mpesa, &tracking_id)
        .unwrap()
        .unwrap();
    let payment = finconnect_host::Payment {
        provider: Provider::Mpesa,
        reference: "ORDER1".to_owned(),
        tracking_id: payment.tracking_id.unwrap_or_default(),
        redirect_url: None,
        status: payment.status,
    };
    let push = sandbox.mpesa_stk_pushes().pop().unwrap();
    assert_eq!(push.phone_number, "254708374149");
    assert_eq!(push.account_reference, "ORDER1");
    assert_eq!(push.amount, 100);

    // Before the customer answers, the query says "being processed": pending.
    let details = host
        .payment_status_blocking(Provider::Mpesa, &payment.tracking_id)
        .unwrap()
        .unwrap();
    assert_eq!(details.status, PaymentStatus::Pending);

    sandbox.clear_requests();
    let delivery = sandbox
        .settle_mpesa(&payment.tracking_id, StkResult::Success)
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let ack: serde_json::Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(ack, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    // The callback was believed only after an STK query for its id.
    assert_eq!(paths(&sandbox), [MPESA_TOKEN, MPESA_QUERY]);
    let query: serde_json::Value = serde_json::from_slice(&sandbox.requests()[1].body).unwrap();
    assert_eq!(query["CheckoutRequestID"], payment.tracking_id.as_str());

    let details = host
        .payment_status_blocking(Provider::Mpesa, &payment.tracking_id)
        .unwrap()
        .unwrap();
    assert_eq!(details.status, PaymentStatus::Completed);
}

#[test]
fn a_cancelled_prompt_is_a_failure_in_daraja_s_words() {
    let (sandbox, host) = start();
    let payment = host
        .pay_blocking(Provider::Mpesa, &mpesa_payment("ORDER2", &unused_ipn_url()))
        .unwrap()
        .unwrap();
    sandbox
        .settle_mpesa(&payment.tracking_id, StkResult::CancelledByUser)
        .unwrap();
    let details = host
        .payment_status_blocking(Provider::Mpesa, &payment.tracking_id)
        .unwrap()
        .unwrap();
    assert_eq!(details.status, PaymentStatus::Failed);
    let words = details.description.unwrap_or_default().to_ascii_lowercase();
    assert!(words.contains("cancelled"), "{words}");
}

#[test]
fn a_forged_callback_is_not_acknowledged() {
    let (sandbox, host) = start();
    let forged = json!({"Body": {"stkCallback": {
        "MerchantRequestID": "forged-1",
        "CheckoutRequestID": "ws_CO_01012026000000000708374149",
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
    }}});
    let reply = post(&host, "/notifications/mpesa", &forged);
    assert_eq!(reply.status, 200, "{reply}");
    assert_ne!(reply.json()["ResultCode"], 0, "{reply}");
    // The ledger never issued the id: refused without asking Daraja.
    assert!(paths(&sandbox).is_empty(), "{:?}", paths(&sandbox));

    let reply = post(&host, "/notifications/mpesa", &json!({"Body": {}}));
    assert_eq!(reply.status, 400, "{reply}");
}

#[test]
fn the_http_api_pays_and_points_at_the_status_route() {
    let (sandbox, host) = start();
    let reply = post(&host, "/payments", &mpesa_body("ORDER3"));
    assert_eq!(reply.status, 201, "{reply}");
    let body = reply.json();
    assert_eq!(body["provider"], "mpesa");
    assert_eq!(body["redirect_url"], serde_json::Value::Null);
    let id = body["tracking_id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/payments/mpesa/{id}").as_str())
    );
    sandbox.settle_mpesa(&id, StkResult::Success).unwrap();
    let status = get(&host, &format!("/payments/mpesa/{id}"));
    assert_eq!(status.status, 200, "{status}");
    assert_eq!(status.json()["status"], "completed");
}

/// With the ledger off, the key-value store is opened only for Daraja's
/// token hints: a PesaPal pay touches no store at all, a Daraja pay opens
/// it and leaves its new token there.
#[test]
fn with_the_ledger_off_only_daraja_opens_the_store_for_its_token_hints() {
    let (_sandbox, host) = start_with(Default::default(), |b| {
        b.app_variable("finconnect_ledger", "off")
    });
    let ipn_id = register_pesapal_ipn(&host);
    let before = host.key_value_op_counts();
    let reply = post(&host, "/payments", &pesapal_body("NOSTORE1", &ipn_id));
    assert_eq!(reply.status, 201, "{reply}");
    let pesapal = host.key_value_op_counts().since(&before);
    assert_eq!(pesapal, KeyValueOpCounts::default());

    let before = host.key_value_op_counts();
    let reply = post(&host, "/payments", &mpesa_body("HINTED1"));
    assert_eq!(reply.status, 201, "{reply}");
    let daraja = host.key_value_op_counts().since(&before);
    assert_eq!((daraja.open, daraja.set), (1, 1), "{daraja:?}");
}

/// The field a change should be refused for, and the change.
type Case = (&'static str, fn(&mut serde_json::Value));

#[test]
fn invalid_requests_name_the_field_and_make_no_call() {
    let (sandbox, host) = start();
    let cases: [Case; 6] = [
        ("amount", |b| b["amount"] = json!("100.50")),
        ("amount", |b| b["amount"] = json!("0")),
        ("currency", |b| b["currency"] = json!("TZS")),
        ("reference", |b| b["reference"] = json!("ORDER-WITH-DASHES")),
        ("customer.phone", |b| {
            b["customer"]["phone"] = json!("255712345678")
        }),
        ("description", |b| {
            b["description"] = json!("far too long a description")
        }),
    ];
    for (field, change) in cases {
        let mut body = mpesa_body("ORDER4");
        change(&mut body);
        let reply = post(&host, "/payments", &body);
        assert_eq!(reply.status, 422, "{field}: {reply}");
        assert_eq!(reply.problem()["field"], field, "{reply}");
    }
    assert!(sandbox.requests().is_empty(), "{:?}", paths(&sandbox));
}

#[test]
fn daraja_refusals_and_unreadable_replies_are_typed() {
    let (sandbox, host) = start();
    sandbox.inject(Fault::once(Target::MpesaStkPush, FaultKind::SpikeArrest));
    let result = host
        .pay_blocking(Provider::Mpesa, &mpesa_payment("ORDER5", &unused_ipn_url()))
        .unwrap();
    match result {
        Err(ApiError::Provider(refusal)) => {
            assert_eq!(refusal.code.as_deref(), Some("500.003.02"));
            assert_eq!(refusal.http_status, 500);
        }
        other => panic!("spike arrest: {other:?}"),
    }

    sandbox.inject(Fault::once(Target::MpesaStkPush, FaultKind::Html500));
    let reply = post(&host, "/payments", &mpesa_body("ORDER6"));
    assert_eq!(reply.status, 502, "{reply}");

    // Wrong credentials: the token step fails and no push is attempted.
    sandbox.clear_requests();
    let host = build(builder(&sandbox).app_variable("mpesa_consumer_secret", "not-the-secret"));
    let result = host
        .pay_blocking(Provider::Mpesa, &mpesa_payment("ORDER7", &unused_ipn_url()))
        .unwrap();
    assert!(
        matches!(result, Err(ApiError::Authentication(_))),
        "{result:?}"
    );
    assert_eq!(paths(&sandbox), [MPESA_TOKEN]);
}

/// Daraja's FAQ says issuing a token invalidates the one before it. With
/// every call fetching its own token, concurrent pays then refuse each
/// other's tokens. A refused call (the gateway refused before any prompt
/// was sent) retries with the newest token left in the key-value store, and
/// when there is none newer only the call holding the refused token's
/// lease fetches the next one while the others wait for it: every pay gets
/// through, no reference is pushed twice, and every accepted push is a
/// payment FinConnect reported.
#[test]
fn thirty_two_concurrent_pays_when_each_new_token_kills_the_last() {
    let (sandbox, host) = start();
    sandbox.set_mpesa_options(MpesaOptions {
        reissue_invalidates_previous: true,
        ..MpesaOptions::default()
    });
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|n| {
                let host = host.clone();
                scope.spawn(move || {
                    let mut request = mpesa_payment(&format!("CONC{n}"), &unused_ipn_url());
                    // One pending prompt per phone: give each pay its own.
                    request.customer.phone = Some(format!("07{:08}", 10_000_000 + n));
                    host.pay_blocking(Provider::Mpesa, &request).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let paid = results.iter().filter(|r| r.is_ok()).count();
    for result in &results {
        if let Err(error) = result {
            assert!(
                matches!(error, ApiError::Authentication(_)),
                "a refused token is the only failure expected: {error:?}"
            );
        }
    }
    let pushes = sandbox.mpesa_stk_pushes();
    let mut references: Vec<&str> = pushes
        .iter()
        .map(|p| p.account_reference.as_str())
        .collect();
    references.sort_unstable();
    let before = references.len();
    references.dedup();
    assert_eq!(before, references.len(), "a reference was pushed twice");
    assert_eq!(
        pushes.len(),
        paid,
        "every accepted push is a payment FinConnect reported"
    );
    let tokens = paths(&sandbox).iter().filter(|p| *p == MPESA_TOKEN).count();
    println!(
        "32 concurrent pays with token reissue: {paid} paid, {} refused, {tokens} token requests",
        32 - paid
    );
    assert_eq!(paid, 32, "every pay gets through");
}

/// Sequential pays in the same mode, each preceded by a token issued to
/// someone else: the retry on a new token carries every one.
#[test]
fn a_token_reissued_elsewhere_costs_a_retry_not_a_payment() {
    let (sandbox, host) = start();
    sandbox.set_mpesa_options(MpesaOptions {
        reissue_invalidates_previous: true,
        ..MpesaOptions::default()
    });
    sandbox.inject(Fault::once(Target::MpesaStkPush, FaultKind::WrongToken));
    let payment = host
        .pay_blocking(Provider::Mpesa, &mpesa_payment("RETRY1", &unused_ipn_url()))
        .unwrap();
    assert!(payment.is_ok(), "{payment:?}");
    assert_eq!(
        paths(&sandbox),
        [MPESA_TOKEN, MPESA_PUSH, MPESA_TOKEN, MPESA_PUSH]
    );
    assert_eq!(sandbox.mpesa_stk_pushes().len(), 1);
}
