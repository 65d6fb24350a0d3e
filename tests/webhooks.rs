//! The merchant's webhook endpoint that the suites deliver to
//! (`tests/webhook-receiver`, run through `common::receiver`), checked on
//! its own: it must accept what is correctly signed and nothing else, or a
//! webhook test that passes would prove nothing.
//!
//! The deliveries here are signed with FinConnect's own signer
//! (`finconnect_core::ledger::webhook`) and checked by the reference
//! `standardwebhooks` npm package, so these tests also cross-check the two.
//!
//! Without Node (or when `npm ci` cannot install the receiver's packages)
//! the tests that run the receiver print a loud SKIPPED line and pass,
//! unless `FINCONNECT_REQUIRE_NODE=1` (CI), which makes that a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::receiver::{RECEIVER_DIR, Receiver, WEBHOOK_PATH};
use common::{Reply, http_over_tcp};
use finconnect_core::ledger::WebhookSecret;
use finconnect_core::ledger::webhook::webhook_headers;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

/// The merchant's secret in these tests (32 random bytes).
const SECRET: &str = "whsec_Nm/z+k7upX0UOpRR4DXnC3bBNzU3/BHXHhFucS66nek=";
/// Someone else's secret (24 other random bytes).
const OTHER_SECRET: &str = "whsec_q0b6WcYf3oJ1Xr9Lk2mT8vPzS4uNeHdA";

/// Request headers as `webhook_headers` writes them.
type Headers = Vec<(&'static str, String)>;

fn secret() -> WebhookSecret {
    WebhookSecret::parse(SECRET).unwrap()
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

fn event(id: &str, kind: &str) -> Vec<u8> {
    json!({
        "id": id,
        "type": kind,
        "created_at": now_ms(),
        "data": {"provider": "pesapal", "reference": "ORDER-1001", "amount": "1500.00", "currency": "KES"},
    })
    .to_string()
    .into_bytes()
}

/// POSTs `body` to the receiver's webhook path with `headers`.
fn deliver(receiver: &Receiver, headers: &[(&str, String)], body: &[u8]) -> Reply {
    let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    all.extend(headers.iter().map(|(name, value)| (*name, value.as_str())));
    http_over_tcp(receiver.addr(), "POST", WEBHOOK_PATH, &all, body)
}

/// POSTs `body` signed by FinConnect's signer with `secret`, now.
fn deliver_signed(receiver: &Receiver, secret: &WebhookSecret, id: &str, body: &[u8]) -> Reply {
    let headers = webhook_headers(secret, id, now_ms(), body);
    deliver(receiver, &headers, body)
}

fn last(receiver: &Receiver) -> common::receiver::Received {
    receiver.received().pop().expect("something was received")
}

#[test]
fn receiver_pins_the_reference_verifier_and_commits_its_lockfile() {
    let read = |name: &str| -> serde_json::Value {
        let path = std::path::Path::new(common::ROOT)
            .join(RECEIVER_DIR)
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let package = read("package.json");
    let lock = read("package-lock.json");
    let wanted = package["dependencies"]["standardwebhooks"]
        .as_str()
        .expect("standardwebhooks is a dependency");
    assert_eq!(
        wanted, "1.1.1",
        "the receiver must verify with an exact, reviewed version of standardwebhooks"
    );
    assert_eq!(
        lock["packages"]["node_modules/standardwebhooks"]["version"].as_str(),
        Some(wanted),
        "{RECEIVER_DIR}/package-lock.json is out of date"
    );
    assert_eq!(
        lock["packages"][""]["dependencies"], package["dependencies"],
        "{RECEIVER_DIR}/package-lock.json was not made from this package.json"
    );
}

#[test]
fn finconnect_signatures_pass_the_reference_verifier() {
    let Some(receiver) =
        Receiver::start("finconnect_signatures_pass_the_reference_verifier", SECRET)
    else {
        return;
    };
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("evt_01", event("evt_01", "payment.completed")),
        // Non-ASCII text: the signature is over the UTF-8 bytes.
        (
            "evt_02",
            json!({"id": "evt_02", "type": "payment.failed", "data": {"description": "Malipo ya Zoë — KES 1 500"}})
                .to_string()
                .into_bytes(),
        ),
        ("evt_03", b"{}".to_vec()),
        // Large enough to arrive in several chunks.
        (
            "evt_04",
            json!({"id": "evt_04", "padding": "x".repeat(200_000)})
                .to_string()
                .into_bytes(),
        ),
    ];
    for (id, body) in &bodies {
        let reply = deliver_signed(&receiver, &secret(), id, body);
        assert_eq!(
            reply.status,
            204,
            "{id}: {reply}\n{:#?}",
            receiver.received()
        );
    }

    let received = receiver.received();
    assert_eq!(received.len(), bodies.len(), "{received:#?}");
    for ((id, body), got) in bodies.iter().zip(&received) {
        assert!(got.verified, "{id}: {:?}", got.error);
        assert!(
            got.accepted() && !got.refused && got.error.is_none(),
            "{got:#?}"
        );
        assert_eq!(got.id.as_deref(), Some(*id));
        assert_eq!(got.path, WEBHOOK_PATH);
        let sent: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(got.body, sent, "{id}: the body arrived changed");
        let timestamp = got.timestamp_secs().expect("a numeric webhook-timestamp");
        assert!(timestamp.abs_diff(now_ms() / 1000) < 60, "{got:#?}");
        // The signature the receiver saw is the project's, byte for byte.
        assert_eq!(
            got.signature,
            Some(secret().sign(id, timestamp, body)),
            "{id}"
        );
    }
    assert_eq!(receiver.accepted().len(), bodies.len());
}

#[test]
fn tampered_or_wrongly_signed_deliveries_are_rejected() {
    let Some(receiver) =
        Receiver::start("tampered_or_wrongly_signed_deliveries_are_rejected", SECRET)
    else {
        return;
    };
    let body = event("evt_10", "payment.completed");
    let now = now_ms();
    let good = webhook_headers(&secret(), "evt_10", now, &body);
    let header = |name: &str| -> String {
        good.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
            .unwrap()
    };

    // A control: the untouched delivery is accepted, so the rejections
    // below are about what each one changed.
    assert_eq!(deliver(&receiver, &good, &body).status, 204);

    let mut tampered = body.clone();
    let at = tampered.windows(7).position(|w| w == b"1500.00").unwrap();
    tampered[at] = b'9';
    let other = WebhookSecret::parse(OTHER_SECRET).unwrap();
    let stale = now - 10 * 60 * 1000;
    // (what was changed, the headers, the body, the error expected)
    let cases: Vec<(&str, Headers, Vec<u8>, &str)> = vec![
        (
            "a changed amount",
            good.to_vec(),
            tampered,
            "No matching signature found",
        ),
        (
            "another merchant's secret",
            webhook_headers(&other, "evt_10", now, &body).to_vec(),
            body.clone(),
            "No matching signature found",
        ),
        (
            "a changed webhook-id",
            vec![
                ("webhook-id", "evt_11".to_owned()),
                ("webhook-timestamp", header("webhook-timestamp")),
                ("webhook-signature", header("webhook-signature")),
            ],
            body.clone(),
            "No matching signature found",
        ),
        (
            "a changed webhook-timestamp",
            vec![
                ("webhook-id", "evt_10".to_owned()),
                ("webhook-timestamp", (now / 1000 - 1).to_string()),
                ("webhook-signature", header("webhook-signature")),
            ],
            body.clone(),
            "No matching signature found",
        ),
        (
            "a correct signature ten minutes old",
            webhook_headers(&secret(), "evt_10", stale, &body).to_vec(),
            body.clone(),
            "Message timestamp too old",
        ),
        (
            "no webhook-signature",
            vec![
                ("webhook-id", "evt_10".to_owned()),
                ("webhook-timestamp", header("webhook-timestamp")),
            ],
            body.clone(),
            "Missing required headers",
        ),
    ];
    for (what, headers, body, why) in &cases {
        let reply = deliver(&receiver, headers, body);
        assert_eq!(reply.status, 400, "{what}: {reply}");
        let got = last(&receiver);
        assert!(!got.verified && !got.accepted(), "{what}: {got:#?}");
        assert!(!got.refused, "{what}: {got:#?}");
        let error = got.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("WebhookVerificationError") && error.contains(why),
            "{what}: expected {why:?}, got {error:?}"
        );
    }
    assert_eq!(receiver.received().len(), cases.len() + 1);
    assert_eq!(receiver.accepted().len(), 1);
}

#[test]
fn signature_lists_from_a_key_rotation_verify_on_both_sides() {
    let Some(receiver) = Receiver::start(
        "signature_lists_from_a_key_rotation_verify_on_both_sides",
        SECRET,
    ) else {
        return;
    };
    let body = event("evt_20", "payment.completed");
    let timestamp = now_ms() / 1000;
    let old = WebhookSecret::parse(OTHER_SECRET)
        .unwrap()
        .sign("evt_20", timestamp, &body);
    let new = secret().sign("evt_20", timestamp, &body);
    for (header, accepted) in [
        (format!("{old} {new}"), true),
        (format!("{new} {old}"), true),
        (old.clone(), false),
        // An unknown version is skipped, not trusted.
        (new.replacen("v1,", "v2,", 1), false),
    ] {
        let headers = [
            ("webhook-id", "evt_20".to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", header.clone()),
        ];
        let reply = deliver(&receiver, &headers, &body);
        assert_eq!(reply.status, if accepted { 204 } else { 400 }, "{header}");
        assert_eq!(last(&receiver).verified, accepted, "{header}");
        // FinConnect's own verifier agrees with the reference package.
        assert_eq!(
            secret().verify("evt_20", timestamp, &body, &header),
            accepted,
            "{header}"
        );
    }
}

#[test]
fn refusals_answer_503_and_never_count_as_accepted() {
    let Some(receiver) = Receiver::start("refusals_answer_503_and_never_count_as_accepted", SECRET)
    else {
        return;
    };
    let body = event("evt_30", "payment.completed");
    let status = || deliver_signed(&receiver, &secret(), "evt_30", &body).status;

    receiver.refuse(1);
    assert_eq!(status(), 503, "the refused delivery");
    assert_eq!(status(), 204, "the next one");

    receiver.refuse_all(true);
    assert_eq!([status(), status(), status()], [503; 3]);
    receiver.refuse_all(false);
    assert_eq!(status(), 204);

    // refuse(2) then refuse(0): the count is replaced, not added to.
    receiver.refuse(2);
    receiver.refuse(0);
    assert_eq!(status(), 204);

    let received = receiver.received();
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 204, 503, 503, 503, 204, 204]);
    // A refused delivery is still checked (it was correctly signed) but
    // never accepted.
    for got in &received {
        assert!(got.verified, "{got:#?}");
        assert_eq!(got.refused, got.status == 503, "{got:#?}");
        assert_eq!(got.accepted(), got.status == 204, "{got:#?}");
    }
    assert_eq!(receiver.refused_count(), 4);
    assert_eq!(receiver.accepted().len(), 3);

    // A wrongly signed delivery is refused while refusing, too (503, not 400).
    receiver.refuse(1);
    let other = WebhookSecret::parse(OTHER_SECRET).unwrap();
    assert_eq!(
        deliver_signed(&receiver, &other, "evt_31", &body).status,
        503
    );
    let got = last(&receiver);
    assert!(got.refused && !got.verified && !got.accepted(), "{got:#?}");

    receiver.clear();
    assert!(receiver.received().is_empty());
}

#[test]
fn receiver_controls_reject_bad_commands() {
    let Some(receiver) = Receiver::start("receiver_controls_reject_bad_commands", SECRET) else {
        return;
    };
    for bad in [
        "not json",
        "[]",
        r#"{"refuse": -1}"#,
        r#"{"refuse": "2"}"#,
        r#"{"refuse_all": 1}"#,
        r#"{"refuse_everything": true}"#,
    ] {
        let reply = http_over_tcp(receiver.addr(), "POST", "/control", &[], bad.as_bytes());
        assert_eq!(reply.status, 400, "{bad}: {reply}");
    }
    // Nothing was recorded as a delivery.
    assert!(receiver.received().is_empty());
}

#[test]
fn receiver_exits_cleanly_on_sigterm() {
    let Some(receiver) = Receiver::start("receiver_exits_cleanly_on_sigterm", SECRET) else {
        return;
    };
    assert_eq!(
        deliver_signed(&receiver, &secret(), "evt_40", b"{}").status,
        204
    );
    let stderr = receiver.stderr();
    let status = receiver.terminate();
    assert!(status.success(), "{status}; stderr:\n{stderr}");
}
