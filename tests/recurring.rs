//! PesaPal recurring payments through the built component, against the
//! sandbox: the subscription sent on SubmitOrderRequest exactly as PesaPal
//! documents it (through HTTP and WIT), its validation before any call,
//! and the charges PesaPal makes later — `RECURRING` IPNs with a new order
//! tracking id and the account number — verified by a status query,
//! acknowledged exactly, recorded as payments of their own linked to the
//! first one, and announced like any other payment.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::types::{Subscription, SubscriptionFrequency};
use finconnect_host::{ApiError, IncomingNotification, PaymentStatus, Provider, block_on};
use finconnect_sandbox::{Outcome, Sandbox};
use serde_json::{Value, json};
use std::net::SocketAddr;

fn subscription_json() -> Value {
    json!({
        "account_number": "ACC-77",
        "start_date": "24-01-2027",
        "end_date": "31-12-2027",
        "frequency": "MONTHLY",
    })
}

fn with_subscription(mut body: Value, subscription: Value) -> Value {
    body["subscription"] = subscription;
    body
}

/// The last SubmitOrderRequest body the sandbox received.
fn last_order_body(sandbox: &Sandbox) -> Value {
    let request = sandbox
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == PESAPAL_SUBMIT)
        .expect("a SubmitOrderRequest");
    serde_json::from_slice(&request.body).unwrap()
}

/// The sandbox's control action: PesaPal charges the schedule once.
fn charge(sandbox: &Sandbox, tracking_id: &str) -> Value {
    let reply = http_over_tcp(
        sandbox.addr(),
        "POST",
        &format!("/_sandbox/pesapal/orders/{tracking_id}/charge"),
        &[],
        b"",
    );
    assert_eq!(reply.status, 200, "{reply}");
    reply.json()
}

/// An IPN registration pointing at FinConnect's own route, then a
/// recurring PesaPal payment over HTTP: its tracking id.
fn subscribe(host: &finconnect_host::Host, addr: SocketAddr, reference: &str) -> String {
    let reply = post(
        host,
        "/ipn-registrations",
        &ipn_body(&format!("http://{addr}/notifications/pesapal"), "GET"),
    );
    assert_eq!(reply.status, 201, "{reply}");
    let ipn_id = reply.json()["ipn_id"].as_str().unwrap().to_owned();
    let body = with_subscription(pesapal_body(reference, &ipn_id), subscription_json());
    let reply = post(host, "/payments", &body);
    assert_eq!(reply.status, 201, "{reply}");
    reply.json()["tracking_id"].as_str().unwrap().to_owned()
}

#[test]
fn http_the_subscription_goes_out_as_documented_and_each_charge_is_a_payment() {
    let (sandbox, host) = start();
    let addr = serve(&host);
    let first = subscribe(&host, addr, "SUB1");
    let sent = last_order_body(&sandbox);
    assert_eq!(sent["id"], "SUB1");
    assert_eq!(sent["account_number"], "ACC-77");
    assert_eq!(
        sent["subscription_details"],
        json!({"start_date": "24-01-2027", "end_date": "31-12-2027", "frequency": "MONTHLY"})
    );

    // No charge before the customer paid (and opted in).
    let early = http_over_tcp(
        sandbox.addr(),
        "POST",
        &format!("/_sandbox/pesapal/orders/{first}/charge"),
        &[],
        b"",
    );
    assert_eq!(early.status, 409, "{early}");

    sandbox.settle_pesapal(&first, Outcome::Completed).unwrap();
    sandbox.clear_requests();
    let charged = charge(&sandbox, &first);
    let charge_id = charged["charge_tracking_id"].as_str().unwrap().to_owned();
    assert_ne!(charge_id, first);
    let delivery = &charged["delivery"];
    assert_eq!(delivery["status"], 200, "{charged}");
    // PesaPal's acknowledgement, exactly, echoing RECURRING.
    assert_eq!(
        delivery["body"],
        format!(
            r#"{{"orderNotificationType":"RECURRING","orderTrackingId":"{charge_id}","orderMerchantReference":"ACC-77","status":200}}"#
        )
    );
    // Verified by asking PesaPal about the new tracking id.
    let status_calls: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path == PESAPAL_STATUS)
        .collect();
    assert_eq!(status_calls.len(), 1, "{status_calls:?}");
    assert!(
        status_calls[0]
            .query
            .as_deref()
            .is_some_and(|q| q.contains(&charge_id))
    );

    // A record of its own, linked to the first payment; an event like any other.
    let all = events(&host, 0);
    assert_eq!(
        kinds(&all),
        [
            "payment.pending SUB1",
            "payment.completed SUB1",
            "payment.completed SUB1"
        ]
    );
    let last = &all[2]["payment"];
    assert_eq!(last["tracking_id"], charge_id.as_str());
    assert_eq!(last["amount"], "1500.00");
    assert_eq!(last["recurring"]["original_reference"], "SUB1");
    assert_eq!(last["recurring"]["account_number"], "ACC-77");
    assert_eq!(all[1]["payment"]["tracking_id"], first.as_str());

    // The same IPN again: answered from the record, no second event.
    sandbox.clear_requests();
    let target = delivery["url"].as_str().unwrap();
    let target = target.split_once(&addr.to_string()).unwrap().1.to_owned();
    let again = http_over_tcp(addr, "GET", &target, &[], &[]);
    assert_eq!(again.status, 200, "{again}");
    assert_eq!(again.text(), delivery["body"].as_str().unwrap());
    assert!(
        provider_calls(&sandbox).is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
    assert_eq!(events(&host, 0).len(), 3);

    // The next charge: another record, another event.
    let next = charge(&sandbox, &first);
    assert_eq!(next["delivery"]["status"], 200, "{next}");
    let all = events(&host, 0);
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all[3]["payment"]["tracking_id"], next["charge_tracking_id"]);

    // The charge reads like any payment, by its tracking id.
    let reply = get(&host, &format!("/payments/pesapal/{charge_id}"));
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.json()["status"], "completed");
}

#[test]
fn http_a_recurring_ipn_for_an_unknown_account_is_refused_without_a_call() {
    let (sandbox, host) = start();
    let addr = serve(&host);
    subscribe(&host, addr, "SUB2");
    sandbox.clear_requests();
    let target = format!(
        "/notifications/pesapal?OrderTrackingId={SOME_GUID}&OrderMerchantReference=ACC-NOBODY&OrderNotificationType=RECURRING"
    );
    let reply = get(&host, &target);
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        reply.text(),
        format!(
            r#"{{"orderNotificationType":"RECURRING","orderTrackingId":"{SOME_GUID}","orderMerchantReference":"ACC-NOBODY","status":500}}"#
        )
    );
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
    // Known account, but PesaPal does not know the order: asked, then 500.
    let target = format!(
        "/notifications/pesapal?OrderTrackingId={SOME_GUID}&OrderMerchantReference=ACC-77&OrderNotificationType=RECURRING"
    );
    let reply = get(&host, &target);
    assert!(reply.text().ends_with(r#""status":500}"#), "{reply}");
    assert_eq!(
        provider_calls(&sandbox).len(),
        2,
        "{:?}",
        provider_calls(&sandbox)
    );
    assert_eq!(kinds(&events(&host, 0)), ["payment.pending SUB2"]);
}

#[test]
fn http_validation_names_the_field_before_any_call() {
    let (sandbox, host) = start();
    let reply = post(
        &host,
        "/ipn-registrations",
        &ipn_body(&unused_ipn_url(), "GET"),
    );
    let ipn_id = reply.json()["ipn_id"].as_str().unwrap().to_owned();
    sandbox.clear_requests();
    let changed = |name: &str, value: Value| {
        let mut subscription = subscription_json();
        subscription[name] = value;
        subscription
    };
    let without = |name: &str| {
        let mut subscription = subscription_json();
        subscription.as_object_mut().unwrap().remove(name);
        subscription
    };
    let cases = [
        (json!("monthly"), "subscription"),
        (without("account_number"), "subscription.account_number"),
        (
            changed("account_number", json!("")),
            "subscription.account_number",
        ),
        (
            changed("account_number", json!(7)),
            "subscription.account_number",
        ),
        (without("start_date"), "subscription.start_date"),
        (
            changed("start_date", json!("2027-01-24")),
            "subscription.start_date",
        ),
        (
            changed("start_date", json!("30-02-2027")),
            "subscription.start_date",
        ),
        (
            changed("end_date", json!("31/12/2027")),
            "subscription.end_date",
        ),
        (
            changed("end_date", json!("24-01-2027")),
            "subscription.end_date",
        ),
        (
            changed("end_date", json!("01-01-2027")),
            "subscription.end_date",
        ),
        (without("frequency"), "subscription.frequency"),
        (
            changed("frequency", json!("QUARTERLY")),
            "subscription.frequency",
        ),
        (
            changed("frequency", json!("monthly")),
            "subscription.frequency",
        ),
    ];
    for (subscription, field) in cases {
        let body = with_subscription(pesapal_body("SUBV", &ipn_id), subscription.clone());
        let reply = post(&host, "/payments", &body);
        assert_eq!(reply.status, 422, "{subscription}: {reply}");
        assert_eq!(reply.problem()["field"], field, "{subscription}");
    }
    // Only PesaPal takes one.
    let body = with_subscription(clickpesa_body("SUBCP"), subscription_json());
    let reply = post(&host, "/payments", &body);
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["field"], "subscription");
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

fn wit_subscription() -> Subscription {
    Subscription {
        account_number: "ACC-WIT".to_owned(),
        start_date: "01-02-2027".to_owned(),
        end_date: "01-02-2028".to_owned(),
        frequency: SubscriptionFrequency::Weekly,
    }
}

#[test]
fn wit_pay_sends_the_subscription_and_a_recurring_ipn_is_verified() {
    let (sandbox, host) = start();
    let ipn = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &ipn_request(&unused_ipn_url(), finconnect_host::NotificationType::Get),
        )
        .unwrap()
        .unwrap();
    // Invalid: refused before any call, naming the field.
    sandbox.clear_requests();
    let mut request = pesapal_payment("SUBW1", &ipn.ipn_id);
    request.subscription = Some(Subscription {
        end_date: "01-01-2027".to_owned(),
        ..wit_subscription()
    });
    match host.pay_blocking(Provider::Pesapal, &request).unwrap() {
        Err(ApiError::InvalidRequest(error)) => {
            assert_eq!(error.field, "subscription.end_date");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );

    request.subscription = Some(wit_subscription());
    let payment = host
        .pay_blocking(Provider::Pesapal, &request)
        .unwrap()
        .unwrap();
    let sent = last_order_body(&sandbox);
    assert_eq!(sent["account_number"], "ACC-WIT");
    assert_eq!(
        sent["subscription_details"],
        json!({"start_date": "01-02-2027", "end_date": "01-02-2028", "frequency": "WEEKLY"})
    );

    // Through the client resource too; a ClickPesa client refuses it.
    let mut client = block_on(host.client(Provider::Clickpesa)).unwrap().unwrap();
    let mut clickpesa = clickpesa_payment("SUBW2");
    clickpesa.subscription = Some(wit_subscription());
    match block_on(client.pay(&clickpesa)).unwrap().unwrap() {
        Err(ApiError::InvalidRequest(error)) => assert_eq!(error.field, "subscription"),
        other => panic!("{other:?}"),
    }
    block_on(client.close()).unwrap().unwrap();

    sandbox
        .settle_pesapal(&payment.tracking_id, Outcome::Completed)
        .unwrap();
    let charged = charge(&sandbox, &payment.tracking_id);
    let charge_id = charged["charge_tracking_id"].as_str().unwrap();
    // The consumer's own route hands the RECURRING IPN to `verify`.
    let sent = IncomingNotification {
        method: "GET".to_owned(),
        path_with_query: Some(format!(
            "/shop/ipn?OrderTrackingId={charge_id}&OrderMerchantReference=ACC-WIT&OrderNotificationType=RECURRING"
        )),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let result = host
        .verify_notification_blocking(Provider::Pesapal, &sent)
        .unwrap();
    let facts = result.outcome.as_ref().expect("verified");
    assert_eq!(facts.details.status, PaymentStatus::Completed);
    assert_eq!(facts.details.tracking_id.as_deref(), Some(charge_id));
    assert_eq!(facts.details.amount.as_deref(), Some("1500.00"));
    assert_eq!(
        std::str::from_utf8(&result.acknowledgement.body).unwrap(),
        format!(
            r#"{{"orderNotificationType":"RECURRING","orderTrackingId":"{charge_id}","orderMerchantReference":"ACC-WIT","status":200}}"#
        )
    );
}
