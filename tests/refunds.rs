//! Refunds, cancellations and the IPN list through the built component,
//! against the sandbox: through WIT (`api` and the `client` resource) and
//! through HTTP with the ledger (its states and events, and the money
//! safety of a refund whose outcome is unknown).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::{ApiError, NotificationType, PaymentStatus, Provider, RefundRequest};
use finconnect_sandbox::{Fault, FaultKind, Outcome, Sandbox, Target};
use serde_json::{Value, json};

const REFUND: &str = "/pesapalv3/api/Transactions/RefundRequest";
const CANCEL: &str = "/pesapalv3/api/Transactions/CancelOrder";

fn calls_to(sandbox: &Sandbox, path: &str) -> usize {
    sandbox.requests().iter().filter(|r| r.path == path).count()
}

fn refund_body(amount: &str) -> Value {
    json!({"amount": amount, "username": "jane.finance", "remarks": "Goods returned"})
}

fn wit_refund(amount: &str) -> RefundRequest {
    RefundRequest {
        amount: amount.to_owned(),
        username: "jane.finance".to_owned(),
        remarks: "Goods returned".to_owned(),
    }
}

fn event_kinds(host: &finconnect_host::Host) -> Vec<String> {
    kinds(&events(host, 0))
}

/// An IPN registration and a PesaPal payment through HTTP: its tracking id.
fn pay_over_http(host: &finconnect_host::Host, reference: &str) -> String {
    let reply = post(
        host,
        "/ipn-registrations",
        &ipn_body(&unused_ipn_url(), "GET"),
    );
    assert_eq!(reply.status, 201, "{reply}");
    let ipn_id = reply.json()["ipn_id"].as_str().unwrap().to_owned();
    let reply = post(host, "/payments", &pesapal_body(reference, &ipn_id));
    assert_eq!(reply.status, 201, "{reply}");
    reply.json()["tracking_id"].as_str().unwrap().to_owned()
}

#[test]
fn http_a_refund_is_checked_sent_once_pending_then_reversed() {
    let (sandbox, host) = start();
    let tracking_id = pay_over_http(&host, "RF1");
    let path = format!("/payments/pesapal/{tracking_id}/refunds");

    // Unpaid: refused by the status check, naming the id; nothing sent.
    let reply = post(&host, &path, &refund_body("1500.00"));
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["field"], "id");
    // Validation names the field before any call.
    sandbox.clear_requests();
    for (body, field) in [
        (json!({"username": "u", "remarks": "r"}), "amount"),
        (refund_body("1.001"), "amount"),
        (
            json!({"amount": "1", "username": "", "remarks": "r"}),
            "username",
        ),
        (json!({"amount": "1", "username": "u"}), "remarks"),
    ] {
        let reply = post(&host, &path, &body);
        assert_eq!(reply.status, 422, "{reply}");
        assert_eq!(reply.problem()["field"], field, "{body}");
    }
    assert!(sandbox.requests().is_empty(), "{:?}", sandbox.requests());

    sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    // More than was paid: refused against the status (and the record).
    let reply = post(&host, &path, &refund_body("1500.01"));
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["field"], "amount");
    assert_eq!(calls_to(&sandbox, REFUND), 0);

    // By the merchant reference: the record's tracking id is used.
    let reply = post(&host, "/payments/pesapal/RF1/refunds", &refund_body("1500"));
    assert_eq!(reply.status, 202, "{reply}");
    let body = reply.json();
    assert_eq!(body["status"], "pending");
    assert_eq!(body["amount"], "1500.00");
    assert_eq!(body["tracking_id"], tracking_id.as_str());
    assert_eq!(body["message"], "Refund request successfully");
    assert!(
        body["confirmation_code"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert_eq!(calls_to(&sandbox, REFUND), 1);
    assert_eq!(
        event_kinds(&host),
        [
            "payment.pending RF1",
            "payment.completed RF1",
            "refund.pending RF1"
        ]
    );

    // A second refund is refused from the record, without a call.
    let reply = post(&host, &path, &refund_body("1"));
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["field"], "id");
    assert_eq!(calls_to(&sandbox, REFUND), 1);
    let reply = get(&host, "/payments/pesapal/RF1");
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.json()["record"]["status"], "refund_pending");
    assert_eq!(reply.json()["record"]["refund"]["status"], "requested");
    assert_eq!(reply.json()["record"]["refund"]["amount"], "1500.00");

    // PesaPal carries it out: the status reports it reversed.
    sandbox
        .settle_pesapal(&tracking_id, Outcome::Reversed)
        .unwrap();
    let reply = get(&host, "/payments/pesapal/RF1");
    assert_eq!(reply.json()["status"], "reversed", "{reply}");
    assert_eq!(reply.json()["record"]["status"], "reversed");
    assert_eq!(
        event_kinds(&host),
        [
            "payment.pending RF1",
            "payment.completed RF1",
            "refund.pending RF1",
            "payment.reversed RF1"
        ]
    );
}

#[test]
fn http_a_refund_whose_outcome_is_unknown_is_never_sent_again() {
    let (sandbox, host) = start();
    let tracking_id = pay_over_http(&host, "RF2");
    sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    sandbox.inject(Fault::once(Target::PesapalRefund, FaultKind::ResetMidBody));
    let path = format!("/payments/pesapal/{tracking_id}/refunds");
    let reply = post(&host, &path, &refund_body("1500"));
    assert_eq!(reply.status, 502, "{reply}");
    assert_eq!(calls_to(&sandbox, REFUND), 1);
    let reply = post(&host, &path, &refund_body("1500"));
    assert_eq!(reply.status, 409, "{reply}");
    assert_eq!(reply.problem()["code"], "outcome_unknown");
    assert_eq!(calls_to(&sandbox, REFUND), 1, "no second refund request");
    let reply = get(&host, "/payments/pesapal/RF2");
    assert_eq!(
        reply.json()["record"]["refund"]["status"],
        "unknown",
        "{reply}"
    );
    assert_eq!(reply.json()["record"]["status"], "completed");
}

#[test]
fn http_cancellation_of_an_unpaid_order_and_refusal_of_a_paid_one() {
    let (sandbox, host) = start();
    let tracking_id = pay_over_http(&host, "CX1");
    let path = format!("/payments/pesapal/{tracking_id}/cancellation");
    let reply = send(&host, request("POST", &path, None, Some(API_KEY)));
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        reply.json(),
        json!({"provider": "pesapal", "tracking_id": tracking_id, "status": "cancelled",
               "message": "Order successfully cancelled."})
    );
    assert_eq!(
        event_kinds(&host),
        ["payment.pending CX1", "payment.cancelled CX1"]
    );
    // Again: answered from the record, no call.
    let reply = send(&host, request("POST", &path, None, Some(API_KEY)));
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.header("idempotent-replayed"), Some("true"));
    assert_eq!(calls_to(&sandbox, CANCEL), 1);
    // The customer can no longer pay it.
    assert!(
        sandbox
            .settle_pesapal(&tracking_id, Outcome::Completed)
            .is_err()
    );
    let reply = get(&host, "/payments/pesapal/CX1");
    assert_eq!(reply.json()["record"]["status"], "cancelled", "{reply}");

    // A paid order is refused before any call once the ledger knows it.
    let paid = pay_over_http(&host, "CX2");
    sandbox.settle_pesapal(&paid, Outcome::Completed).unwrap();
    let reply = get(&host, "/payments/pesapal/CX2");
    assert_eq!(reply.json()["record"]["status"], "completed", "{reply}");
    let reply = send(
        &host,
        request(
            "POST",
            "/payments/pesapal/CX2/cancellation",
            None,
            Some(API_KEY),
        ),
    );
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["field"], "id");
    assert_eq!(calls_to(&sandbox, CANCEL), 1);

    // Without the merchant key nothing happens.
    let reply = send(&host, request("POST", &path, None, None));
    assert_eq!(reply.status, 401, "{reply}");
}

#[test]
fn http_ipn_list_and_unsupported_providers() {
    let (_sandbox, host) = start();
    let url = unused_ipn_url();
    let reply = post(&host, "/ipn-registrations", &ipn_body(&url, "POST"));
    assert_eq!(reply.status, 201, "{reply}");
    let ipn_id = reply.json()["ipn_id"].as_str().unwrap().to_owned();
    let reply = get(&host, "/ipn-registrations?provider=pesapal");
    assert_eq!(reply.status, 200, "{reply}");
    let data = reply.json()["data"].as_array().cloned().unwrap_or_default();
    let row = data
        .iter()
        .find(|row| row["ipn_id"] == ipn_id.as_str())
        .unwrap_or_else(|| panic!("{data:?}"));
    assert_eq!(row["url"], url.as_str());
    assert_eq!(row["notification_type"], "POST");
    assert_eq!(row["active"], true);

    let reply = get(&host, "/ipn-registrations");
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["field"], "provider");
    for provider in ["clickpesa", "mpesa"] {
        let reply = get(&host, &format!("/ipn-registrations?provider={provider}"));
        assert_eq!(reply.status, 422, "{reply}");
        assert_eq!(reply.problem()["code"], "unsupported");
        let reply = post(
            &host,
            &format!("/payments/{provider}/ORDER1/refunds"),
            &refund_body("1"),
        );
        assert_eq!(reply.status, 422, "{reply}");
        assert_eq!(reply.problem()["code"], "unsupported");
        let reply = send(
            &host,
            request(
                "POST",
                &format!("/payments/{provider}/ORDER1/cancellation"),
                None,
                Some(API_KEY),
            ),
        );
        assert_eq!(reply.status, 422, "{reply}");
        assert_eq!(reply.problem()["code"], "unsupported");
    }
}

#[test]
fn wit_refund_cancel_and_list_ipns() {
    let (sandbox, host) = start();
    let registration = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &ipn_request(&unused_ipn_url(), NotificationType::Get),
        )
        .unwrap()
        .unwrap();
    let paid = host
        .pay_blocking(
            Provider::Pesapal,
            &pesapal_payment("WR1", &registration.ipn_id),
        )
        .unwrap()
        .unwrap();
    sandbox
        .settle_pesapal(&paid.tracking_id, Outcome::Completed)
        .unwrap();
    // Too much: named, nothing sent.
    match host.refund_blocking(Provider::Pesapal, &paid.tracking_id, &wit_refund("2000")) {
        Ok(Err(ApiError::InvalidRequest(error))) => assert_eq!(error.field, "amount"),
        other => panic!("{other:?}"),
    }
    assert_eq!(calls_to(&sandbox, REFUND), 0);
    let refund = host
        .refund_blocking(Provider::Pesapal, &paid.tracking_id, &wit_refund("1500.00"))
        .unwrap()
        .unwrap();
    assert_eq!(refund.amount, "1500.00");
    assert_eq!(refund.currency.as_deref(), Some("KES"));
    // Without the ledger a second one reaches PesaPal, which refuses it.
    match host.refund_blocking(Provider::Pesapal, &paid.tracking_id, &wit_refund("1500.00")) {
        Ok(Err(ApiError::Provider(error))) => {
            assert!(error.message.contains("already"), "{error:?}");
        }
        other => panic!("{other:?}"),
    }

    // The client resource: cancel an unpaid order, list the IPNs.
    let unpaid = host
        .pay_blocking(
            Provider::Pesapal,
            &pesapal_payment("WR2", &registration.ipn_id),
        )
        .unwrap()
        .unwrap();
    let (cancelled, listed, again) = finconnect_host::block_on(async {
        let mut client = host.client(Provider::Pesapal).await.unwrap();
        let cancelled = client.cancel(&unpaid.tracking_id).await.unwrap();
        let listed = client.list_ipns().await.unwrap();
        let again = client.cancel(&unpaid.tracking_id).await.unwrap();
        client.close().await.unwrap();
        (cancelled, listed, again)
    })
    .unwrap();
    assert_eq!(cancelled.unwrap().tracking_id, unpaid.tracking_id);
    assert!(matches!(again, Err(ApiError::Provider(_))), "{again:?}");
    let listed = listed.unwrap();
    assert!(
        listed.iter().any(|row| row.ipn_id == registration.ipn_id),
        "{listed:?}"
    );
    let status = host
        .payment_status_blocking(Provider::Pesapal, &unpaid.tracking_id)
        .unwrap()
        .unwrap();
    assert_eq!(status.status, PaymentStatus::Failed);

    for provider in [Provider::Clickpesa, Provider::Mpesa] {
        match host.refund_blocking(provider, "ORDER1", &wit_refund("1")) {
            Ok(Err(ApiError::Unsupported(error))) => assert_eq!(error.operation, "refund"),
            other => panic!("{other:?}"),
        }
        match host.cancel_blocking(provider, "ORDER1") {
            Ok(Err(ApiError::Unsupported(error))) => assert_eq!(error.operation, "cancel"),
            other => panic!("{other:?}"),
        }
        match host.list_ipns_blocking(provider) {
            Ok(Err(ApiError::Unsupported(error))) => assert_eq!(error.operation, "list-ipns"),
            other => panic!("{other:?}"),
        }
    }
}
