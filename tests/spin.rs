//! FinConnect under the real Spin CLI (`spin up`), against the provider
//! sandbox on loopback: the same built components the other suites run in
//! the wasmtime host, served by Spin from the project's own `spin.toml`.
//!
//! Each test copies the manifest into a temporary directory (its own
//! `.spin/`: logs, the SQLite key-value store), points `source` at the built
//! file (nothing is rebuilt: no `spin up --build`), sets the provider origins
//! and credentials as `SPIN_VARIABLE_*`, and stops Spin at the end, also on
//! panic.
//!
//! Spin is `SPIN_BIN`, else `spin` on `PATH`, else `../shared/tools/spin/spin`
//! beside the repository. Without it every test prints a loud SKIPPED line and
//! passes, unless `FINCONNECT_REQUIRE_SPIN=1` (CI), which makes it a failure.
//! The components are `FINCONNECT_WASM`, `FINCONNECT_WASM_SPIN_VARIABLES`,
//! `FINCONNECT_WASM_TOKEN_CACHE` (set by `cargo xtask test`), the example shop
//! `FINCONNECT_SHOP_WASM` (default: where `scripts/composition.sh` builds it).
//! The scale-out test also needs `redis-server` (`REDIS_SERVER`, else `PATH`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;
#[path = "spin/harness.rs"]
mod harness;

use common::{
    API_KEY, CLICKPESA_PUSH, CLICKPESA_TOKEN, PESAPAL_REGISTER_IPN, PESAPAL_STATUS, PESAPAL_SUBMIT,
    PESAPAL_TOKEN, Reply, assert_needs_the_ledger, assert_store_not_granted, clickpesa_body,
    ipn_body, pesapal_body, provider_calls,
};
use finconnect_sandbox::{Fault, FaultKind, Outcome, Sandbox, SandboxConfig, Target};
use harness::{Redis, SpinApp, SpinSetup};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Credentials that appear nowhere else, so a leak check finds them.
fn distinct_credentials() -> SandboxConfig {
    SandboxConfig {
        pesapal_consumer_key: "spin-suite-pesapal-key-41c7e2".to_owned(),
        pesapal_consumer_secret: "spin-suite-pesapal-secret-9a0d5b".to_owned(),
        clickpesa_client_id: "spin-suite-clickpesa-client-77f310".to_owned(),
        clickpesa_api_key: "spin-suite-clickpesa-key-c3b8e4".to_owned(),
        mpesa_consumer_key: "spin-suite-mpesa-key-2e61f0".to_owned(),
        mpesa_consumer_secret: "spin-suite-mpesa-secret-b7d9a3".to_owned(),
        ..SandboxConfig::default()
    }
}

/// The credentials, the merchant key, the tokens in `seen` and every token
/// in the sandbox's request log.
fn secrets(sandbox: &Sandbox, config: &SandboxConfig, seen: &[String]) -> Vec<String> {
    let mut secrets = vec![
        config.pesapal_consumer_key.clone(),
        config.pesapal_consumer_secret.clone(),
        config.clickpesa_client_id.clone(),
        config.clickpesa_api_key.clone(),
        config.mpesa_consumer_key.clone(),
        config.mpesa_consumer_secret.clone(),
        config.mpesa_passkey.clone(),
        API_KEY.to_owned(),
    ];
    secrets.extend(
        common::tokens_seen(sandbox)
            .into_iter()
            .chain(seen.iter().cloned())
            .filter(|token| token.len() >= 16),
    );
    secrets
}

/// `METHOD /path` of what the sandbox received since the last drain; keeps
/// the tokens those requests carried in `seen` (for the leak check), then
/// empties the sandbox's log.
fn drain(sandbox: &Sandbox, seen: &mut Vec<String>) -> Vec<String> {
    seen.extend(common::tokens_seen(sandbox));
    let calls = provider_calls(sandbox);
    sandbox.clear_requests();
    calls
}

/// What a test of this suite starts from: Spin, its turn among the suite's
/// tests, and a sandbox with [`distinct_credentials`].
struct Suite<Turn> {
    spin: PathBuf,
    config: SandboxConfig,
    sandbox: Sandbox,
    _turn: Turn,
}

impl<Turn> Suite<Turn> {
    /// `None` when there is no Spin (the harness has said SKIPPED, or failed
    /// the test under `FINCONNECT_REQUIRE_SPIN=1`). `turn` is
    /// [`harness::shared`], or [`harness::exclusive`] for a test that times
    /// requests.
    fn begin(test: &str, turn: fn() -> Turn) -> Option<Self> {
        let spin = harness::spin(test)?;
        let turn = turn();
        let config = distinct_credentials();
        let sandbox = Sandbox::start(config.clone()).unwrap();
        Some(Self {
            spin,
            config,
            sandbox,
            _turn: turn,
        })
    }

    /// FinConnect's own manifest with `wasm`, pointed at the sandbox.
    fn setup(&self, name: &str, wasm: &Path) -> SpinSetup {
        SpinSetup::new(
            name,
            harness::finconnect_manifest(wasm),
            harness::sandbox_variables(&self.sandbox, &self.config),
        )
    }

    /// `spin up` with `setup`.
    fn start(&self, setup: SpinSetup) -> SpinApp {
        SpinApp::start(&self.spin, setup)
    }

    /// The credentials, the merchant key and every token seen (see [`secrets`]).
    fn secrets(&self, seen: &[String]) -> Vec<String> {
        secrets(&self.sandbox, &self.config, seen)
    }
}

/// `setup` with FinConnect's webhooks going to `receiver`, signed with the
/// suites' [`WEBHOOK_SECRET`].
fn webhooks_to(receiver: &common::receiver::Receiver, setup: SpinSetup) -> SpinSetup {
    setup
        .variable("finconnect_webhook_url", &receiver.url())
        .variable("finconnect_webhook_origin", &receiver.origin())
        .variable("finconnect_webhook_secret", WEBHOOK_SECRET)
}

fn assert_problem(reply: &Reply, status: u16, code: &str) -> Value {
    assert_eq!(reply.status, status, "{reply}");
    let problem = reply.problem();
    assert_eq!(problem["code"], code, "{reply}");
    problem
}

fn calls(paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .map(|path| {
            let method = if *path == PESAPAL_STATUS || path.ends_with("/oauth/v1/generate") {
                "GET"
            } else {
                "POST"
            };
            format!("{method} {path}")
        })
        .collect()
}

/// Registers `<app>/notifications/pesapal` as the IPN URL through the app.
fn register_own_ipn(app: &SpinApp, notification_type: &str) -> String {
    let url = format!("{}/notifications/pesapal", app.origin());
    let reply = app.post("/ipn-registrations", &ipn_body(&url, notification_type));
    assert_eq!(reply.status, 201, "{reply}");
    let registered = reply.json();
    assert_eq!(registered["url"], url.as_str());
    registered["ipn_id"].as_str().unwrap().to_owned()
}

/// `POST /payments`; returns the `tracking_id`.
fn pay(app: &SpinApp, body: &Value) -> String {
    let reply = app.post("/payments", body);
    assert_eq!(reply.status, 201, "{reply}");
    let payment = reply.json();
    assert_eq!(payment["status"], "pending", "{reply}");
    assert_eq!(payment["reference"], body["reference"]);
    payment["tracking_id"].as_str().unwrap().to_owned()
}

// ----- 1. the walk-through for every provider -----

/// PesaPal: register the app's own IPN URL, pay, settle in the sandbox
/// (which delivers the IPN to Spin), read the status.
fn pesapal_walk_through(
    app: &SpinApp,
    sandbox: &Sandbox,
    seen: &mut Vec<String>,
    notification_type: &str,
    reference: &str,
) {
    drain(sandbox, seen);
    let ipn_id = register_own_ipn(app, notification_type);
    let tracking_id = pay(app, &pesapal_body(reference, &ipn_id));
    assert_eq!(
        drain(sandbox, seen),
        calls(&[
            PESAPAL_TOKEN,
            PESAPAL_REGISTER_IPN,
            PESAPAL_TOKEN,
            PESAPAL_SUBMIT
        ])
    );

    let delivery = sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    assert_eq!(delivery.method, notification_type);
    assert!(
        delivery
            .url
            .as_deref()
            .is_some_and(|url| url.starts_with(&format!("{}/notifications/pesapal", app.origin()))),
        "{delivery:?}"
    );
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let ack = format!(
        r#"{{"orderNotificationType":"IPNCHANGE","orderTrackingId":"{tracking_id}","orderMerchantReference":"{reference}","status":200}}"#
    );
    assert_eq!(delivery.body, ack, "{delivery:?}");
    assert_eq!(
        drain(sandbox, seen),
        calls(&[PESAPAL_TOKEN, PESAPAL_STATUS]),
        "Spin's FinConnect verified the IPN with a status call"
    );

    let reply = app.get(&format!("/payments/pesapal/{tracking_id}"));
    assert_eq!(reply.status, 200, "{reply}");
    let details = reply.json();
    assert_eq!(details["status"], "completed", "{reply}");
    assert_eq!(details["reference"], reference);
    assert_eq!(details["amount"], "1500.00");
    drain(sandbox, seen);
}

/// ClickPesa: pay, settle (the sandbox delivers the webhook to Spin), read the status.
fn clickpesa_walk_through(
    app: &SpinApp,
    sandbox: &Sandbox,
    seen: &mut Vec<String>,
    reference: &str,
) {
    sandbox.set_clickpesa_webhook_url(Some(format!("{}/notifications/clickpesa", app.origin())));
    drain(sandbox, seen);
    let tracking_id = pay(app, &clickpesa_body(reference));
    assert_eq!(
        drain(sandbox, seen),
        calls(&[CLICKPESA_TOKEN, CLICKPESA_PUSH])
    );
    let delivery = sandbox
        .settle_clickpesa(reference, Outcome::Completed)
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let event: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(event["event"], "PAYMENT RECEIVED", "{event}");
    assert_eq!(event["order_reference"], reference);
    assert_eq!(event["tracking_id"], tracking_id.as_str());
    assert_eq!(event["status"], "completed");

    let reply = app.get(&format!("/payments/clickpesa/{reference}"));
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.json()["status"], "completed", "{reply}");
    drain(sandbox, seen);
}

/// M-Pesa: pay with the app's own callback URL, settle (the sandbox posts
/// the STK callback to Spin, which confirms it with an STK query), read the
/// status.
fn mpesa_walk_through(app: &SpinApp, sandbox: &Sandbox, seen: &mut Vec<String>, reference: &str) {
    const TOKEN: &str = "/mpesa-daraja/oauth/v1/generate";
    const PUSH: &str = "/mpesa-daraja/mpesa/stkpush/v1/processrequest";
    const QUERY: &str = "/mpesa-daraja/mpesa/stkpushquery/v1/query";
    drain(sandbox, seen);
    let body = json!({
        "provider": "mpesa",
        "reference": reference,
        "amount": "10",
        "currency": "KES",
        "customer": {"phone": "0708374149"},
        "callback_url": format!("{}/notifications/mpesa", app.origin()),
    });
    let tracking_id = pay(app, &body);
    assert_eq!(drain(sandbox, seen), calls(&[TOKEN, PUSH]));
    let delivery = sandbox
        .settle_mpesa(&tracking_id, finconnect_sandbox::StkResult::Success)
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let ack: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(ack, json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    assert_eq!(
        drain(sandbox, seen),
        calls(&[TOKEN, QUERY]),
        "Spin's FinConnect confirmed the callback with an STK query"
    );
    let reply = app.get(&format!("/payments/mpesa/{tracking_id}"));
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.json()["status"], "completed", "{reply}");
    drain(sandbox, seen);
}

#[test]
fn walk_through_every_provider_under_spin_and_no_secret_in_its_logs() {
    let test = "walk_through_every_provider_under_spin";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let Some(receiver) = common::receiver::Receiver::start(test, WEBHOOK_SECRET) else {
        return;
    };
    let app = suite.start(webhooks_to(
        &receiver,
        suite.setup("walk", &harness::finconnect_wasm()),
    ));
    let sandbox = &suite.sandbox;
    harness::say(&format!(
        "spin suite: spin up listened after {:?}",
        app.started_in()
    ));

    let mut seen = Vec::new();
    pesapal_walk_through(&app, sandbox, &mut seen, "GET", "SPIN-PP-GET-1");
    pesapal_walk_through(&app, sandbox, &mut seen, "POST", "SPIN-PP-POST-1");
    clickpesa_walk_through(&app, sandbox, &mut seen, "SPINCP1");
    mpesa_walk_through(&app, sandbox, &mut seen, "SPINMP1");
    assert!(
        seen.len() >= 8,
        "the sandbox saw the tokens: {}",
        seen.len()
    );
    // The ledger, in Spin's default store (SQLite under .spin/): a pending
    // and a completed event per payment, in order, each delivered to the
    // merchant and verified by the reference Standard Webhooks package.
    let kinds = event_kinds(&app);
    let expected = ["SPIN-PP-GET-1", "SPIN-PP-POST-1", "SPINCP1", "SPINMP1"]
        .iter()
        .flat_map(|reference| {
            [
                format!("payment.pending {reference}"),
                format!("payment.completed {reference}"),
            ]
        })
        .collect::<Vec<_>>();
    let listed: Vec<String> = kinds
        .iter()
        .map(|line| line.split_once(' ').unwrap().1.to_owned())
        .collect();
    assert_eq!(listed, expected, "{kinds:?}");
    assert!(app.dir().join(".spin/sqlite_key_value.db").exists());
    let got = receiver.wait_for(Duration::from_secs(20), |got| {
        got.iter().filter(|r| r.accepted()).count() >= expected.len()
    });
    assert!(got.iter().all(|r| r.verified), "{got:#?}");
    let mut delivered: Vec<String> = got
        .iter()
        .filter(|r| r.accepted())
        .map(|r| {
            format!(
                "{} {}",
                r.body["type"].as_str().unwrap_or_default(),
                r.body["payment"]["reference"].as_str().unwrap_or_default()
            )
        })
        .collect();
    delivered.sort();
    let mut wanted = expected.clone();
    wanted.sort();
    assert_eq!(delivered, wanted);
    let mut secrets = suite.secrets(&seen);
    secrets.push(WEBHOOK_SECRET.to_owned());
    app.assert_no_secrets(&secrets);
}

#[test]
fn bad_input_and_provider_faults_are_problems_under_spin() {
    let test = "bad_input_and_provider_faults_are_problems_under_spin";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let app = suite.start(
        suite
            .setup("problems", &harness::finconnect_wasm())
            .variable("finconnect_first_byte_timeout_ms", "1500"),
    );
    let sandbox = &suite.sandbox;

    // Bad input: refused before any provider call.
    let mut body = pesapal_body("SPIN-BAD-1", common::SOME_GUID);
    body.as_object_mut().unwrap().remove("amount");
    let problem = assert_problem(&app.post("/payments", &body), 422, "invalid_request");
    assert_eq!(problem["field"], "amount", "{problem}");
    let mut body = clickpesa_body("SPINBAD2");
    body["amount"] = json!("12.345");
    let problem = assert_problem(&app.post("/payments", &body), 422, "invalid_request");
    assert_eq!(problem["field"], "amount", "{problem}");
    let body = pesapal_body("SPIN-BAD-3", common::SOME_GUID);
    assert_problem(
        &app.send("POST", "/payments", Some(&body), None),
        401,
        "unauthorized",
    );
    assert_problem(
        &app.send("POST", "/payments", Some(&body), Some("not-the-key")),
        401,
        "unauthorized",
    );
    let auth = format!("Bearer {API_KEY}");
    let reply = common::http_over_tcp(
        app.addr(),
        "POST",
        "/payments",
        &[("authorization", &auth), ("content-type", "text/plain")],
        body.to_string().as_bytes(),
    );
    assert_problem(&reply, 415, "unsupported_media_type");
    assert_problem(&app.get("/no-such-route"), 404, "not_found");
    assert!(
        sandbox.requests().is_empty(),
        "bad input reached the provider: {:?}",
        provider_calls(sandbox)
    );

    // Provider faults: 502 and 504, and the next call works.
    let ipn_id = register_own_ipn(&app, "GET");
    sandbox.inject(Fault::once(Target::PesapalSubmitOrder, FaultKind::Html500));
    let reply = app.post("/payments", &pesapal_body("SPIN-FAULT-1", &ipn_id));
    // An HTML page is not a refusal: it is a reply FinConnect cannot read.
    let problem = assert_problem(&reply, 502, "provider_unreadable_reply");
    assert_eq!(problem["provider"], "pesapal", "{problem}");
    assert_eq!(problem["provider_status"], 500, "{problem}");
    sandbox.inject(Fault::once(
        Target::PesapalToken,
        FaultKind::Status(
            401,
            r#"{"error":{"code":"invalid_consumer_key_or_secret_provided"}}"#.to_owned(),
        ),
    ));
    let reply = app.post("/payments", &pesapal_body("SPIN-FAULT-2", &ipn_id));
    assert_eq!(reply.status, 502, "{reply}");
    sandbox.inject(Fault::once(
        Target::ClickpesaUssdPush,
        FaultKind::Slow(Duration::from_secs(4)),
    ));
    let started = Instant::now();
    let reply = app.post("/payments", &clickpesa_body("SPINFAULT3"));
    assert_problem(&reply, 504, "provider_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "Spin did not apply FinConnect's first-byte timeout: {:?}",
        started.elapsed()
    );
    pay(&app, &pesapal_body("SPIN-FAULT-4", &ipn_id));
    pay(&app, &clickpesa_body("SPINFAULT5"));

    app.assert_no_secrets(&suite.secrets(&[]));
}

/// A sandbox and FinConnect under `spin up` from a manifest without
/// `key_value_stores` (Spin grants no store), with `variables` set on top
/// of the sandbox's.
impl<Turn> Suite<Turn> {
    /// `spin up` with FinConnect's manifest less its `key_value_stores`
    /// line (Spin then grants no store), with `variables` set.
    fn without_a_store(&self, name: &str, variables: &[(&str, &str)]) -> SpinApp {
        let manifest = harness::finconnect_manifest(&harness::finconnect_wasm());
        let line = "key_value_stores = [\"default\"]\n";
        assert!(
            manifest.contains(line),
            "spin.toml grants the default store"
        );
        let mut setup = SpinSetup::new(
            name,
            manifest.replace(line, ""),
            harness::sandbox_variables(&self.sandbox, &self.config),
        );
        for (variable, value) in variables {
            setup = setup.variable(variable, value);
        }
        self.start(setup)
    }
}

/// Without `key_value_stores` in the manifest Spin grants no store, and
/// FinConnect answers every request 503 naming the setting, with no provider
/// call: the same answer as finconnect-host for the same manifest
/// (tests/ledger.rs, `a_manifest_granting_no_store_is_refused_like_spin`).
#[test]
fn a_manifest_granting_no_store_is_refused_naming_the_setting_under_spin() {
    let test = "a_manifest_granting_no_store_is_refused_naming_the_setting_under_spin";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let app = suite.without_a_store("no-store", &[]);
    let sandbox = &suite.sandbox;
    for reply in [
        app.post("/payments", &clickpesa_body("SPINNOSTORE1")),
        app.send("GET", "/payments?provider=clickpesa", None, Some(API_KEY)),
    ] {
        assert_store_not_granted(&reply);
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(sandbox)
    );
}

/// `finconnect_ledger = off` with no store granted, under Spin: a pay is
/// passed through (a repeat reaches the provider, which refuses the reused
/// reference), and `Idempotency-Key` and the ledger's routes answer 503
/// naming the variable, with no provider call: the same answers as
/// finconnect-host (tests/ledger.rs,
/// `with_the_ledger_off_pays_pass_through_and_ledger_features_say_why`).
#[test]
fn with_the_ledger_off_pays_pass_through_under_spin() {
    let test = "with_the_ledger_off_pays_pass_through_under_spin";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let app = suite.without_a_store("ledger-off", &[("finconnect_ledger", "off")]);
    let sandbox = &suite.sandbox;
    let reply = app.post("/payments", &clickpesa_body("SPINLEDGEROFF1"));
    assert_eq!(reply.status, 201, "{reply}");
    let again = app.post("/payments", &clickpesa_body("SPINLEDGEROFF1"));
    assert_eq!(again.status, 502, "{again}");
    assert_eq!(again.json()["provider_status"], 409, "{again}");
    assert_eq!(sandbox.requests().len(), 4, "{:?}", provider_calls(sandbox));
    let keyed = post_with_key(app.addr(), &clickpesa_body("SPINLEDGEROFF2"), "k-1");
    assert_needs_the_ledger(&keyed);
    for route in ["/payments?provider=clickpesa", "/events"] {
        assert_needs_the_ledger(&app.send("GET", route, None, Some(API_KEY)));
    }
    assert_eq!(sandbox.requests().len(), 4, "{:?}", provider_calls(sandbox));
}

/// Every variable from a static provider in a runtime-configuration file,
/// as `cargo xtask spin-variables` writes it, and none through
/// `SPIN_VARIABLE_*` but a wrong merchant key: FinConnect pays through
/// PesaPal and ClickPesa with the file's credentials, and the file's
/// merchant key wins over the environment's (docs/DEPLOY.md says so).
#[test]
fn variables_from_a_static_provider_in_the_runtime_config_serve_pays_under_spin() {
    let test = "variables_from_a_static_provider_in_the_runtime_config_serve_pays_under_spin";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let manifest = harness::finconnect_manifest(&harness::finconnect_wasm());
    let values = harness::sandbox_variables(&suite.sandbox, &suite.config);
    let (provider, given) = xtask::spin_variables::static_provider(&manifest, |name| {
        values
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap();
    assert_eq!(given, values.len(), "every value found a variable");
    let app = suite.start(
        SpinSetup::new("static-variables", manifest, Vec::new())
            .variable("finconnect_api_key", "not-the-files-key")
            .runtime_config(provider),
    );
    let ipn_id = register_own_ipn(&app, "GET");
    pay(&app, &pesapal_body("SPIN-STATIC-1", &ipn_id));
    let reply = app.post("/payments", &clickpesa_body("SPINSTATIC2"));
    assert_eq!(reply.status, 201, "{reply}");
    let refused = app.send(
        "POST",
        "/payments",
        Some(&clickpesa_body("SPINSTATIC3")),
        Some("not-the-files-key"),
    );
    assert_eq!(refused.status, 401, "{refused}");
    app.assert_no_secrets(&suite.secrets(&[]));
}

// ----- 2. the other builds -----

#[test]
fn the_spin_variables_build_pays_through_each_provider_under_spin() {
    let test = "the_spin_variables_build_pays_through_each_provider_under_spin";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let app = suite.start(suite.setup("spin-variables", &harness::spin_variables_wasm()));
    let sandbox = &suite.sandbox;
    let mut seen = Vec::new();
    pesapal_walk_through(&app, sandbox, &mut seen, "GET", "SPIN-SV-1");
    clickpesa_walk_through(&app, sandbox, &mut seen, "SPINSV2");
    mpesa_walk_through(&app, sandbox, &mut seen, "SPINSV3");
    app.assert_no_secrets(&suite.secrets(&seen));
}

/// The bearer token each order submission or USSD push carried.
fn api_tokens(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path == PESAPAL_SUBMIT || r.path == CLICKPESA_PUSH)
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_token_cache_build_does_one_round_trip_per_warm_pay_with_spins_key_value_store() {
    let test = "the_token_cache_build_does_one_round_trip_per_warm_pay";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let wasm = harness::token_cache_wasm();
    let mut app = suite.start(
        suite
            .setup("token-cache", &wasm)
            .variable("finconnect_token_cache", "on"),
    );
    let sandbox = &suite.sandbox;

    let mut seen = Vec::new();
    let ipn_id = register_own_ipn(&app, "GET");
    assert_eq!(
        drain(sandbox, &mut seen),
        calls(&[PESAPAL_TOKEN, PESAPAL_REGISTER_IPN])
    );
    const WARM: usize = 5;
    for n in 0..WARM {
        pay(&app, &pesapal_body(&format!("SPIN-TC-{n}"), &ipn_id));
    }
    assert_eq!(
        drain(sandbox, &mut seen),
        calls(&[PESAPAL_SUBMIT; WARM]),
        "each warm pay is one provider round trip"
    );
    pay(&app, &clickpesa_body("SPINTC1"));
    pay(&app, &clickpesa_body("SPINTC2"));
    assert_eq!(
        drain(sandbox, &mut seen),
        calls(&[CLICKPESA_TOKEN, CLICKPESA_PUSH, CLICKPESA_PUSH])
    );

    // The store is Spin's default: SQLite under the app's .spin/, and it
    // outlives the process: a new `spin up` in the same directory starts warm.
    let db = app.dir().join(".spin/sqlite_key_value.db");
    assert!(
        std::fs::metadata(&db).is_ok_and(|m| m.len() > 0),
        "no {}",
        db.display()
    );
    app.assert_no_secrets(&suite.secrets(&seen));
    app.stop();
    let restarted = suite.start(
        suite
            .setup("token-cache-again", &wasm)
            .variable("finconnect_token_cache", "on")
            .in_dir(app.dir().to_owned()),
    );
    pay(&restarted, &pesapal_body("SPIN-TC-AGAIN", &ipn_id));
    assert_eq!(
        drain(sandbox, &mut seen),
        calls(&[PESAPAL_SUBMIT]),
        "the token cached by the first process was reused after a restart"
    );
    restarted.assert_no_secrets(&suite.secrets(&seen));
    drop(restarted);

    // Off (the manifest's default) on the same build: two round trips again.
    let off = suite.start(suite.setup("token-cache-off", &wasm));
    pay(&off, &pesapal_body("SPIN-TC-OFF", &ipn_id));
    assert_eq!(
        drain(sandbox, &mut seen),
        calls(&[PESAPAL_TOKEN, PESAPAL_SUBMIT])
    );
    off.assert_no_secrets(&suite.secrets(&seen));
}

// ----- 3. composition by Spin -----

/// Registers an IPN directly with the sandbox's PesaPal (no FinConnect involved).
fn sandbox_ipn_id(sandbox: &Sandbox, config: &SandboxConfig) -> String {
    let json_post = |path: &str, token: Option<&str>, body: Value| -> Value {
        let auth = token.map(|token| format!("Bearer {token}"));
        let mut headers = vec![
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        let reply = common::http_over_tcp(
            sandbox.addr(),
            "POST",
            path,
            &headers,
            body.to_string().as_bytes(),
        );
        assert_eq!(reply.status, 200, "{reply}");
        reply.json()
    };
    let token = json_post(
        PESAPAL_TOKEN,
        None,
        json!({"consumer_key": config.pesapal_consumer_key, "consumer_secret": config.pesapal_consumer_secret}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ipn = json_post(
        PESAPAL_REGISTER_IPN,
        Some(&token),
        json!({"url": common::unused_ipn_url(), "ipn_notification_type": "GET"}),
    );
    ipn["ipn_id"].as_str().unwrap().to_owned()
}

#[test]
fn spin_composes_the_shop_with_finconnect_as_a_component_dependency() {
    let test = "spin_composes_the_shop_with_finconnect_as_a_component_dependency";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let (config, sandbox) = (&suite.config, &suite.sandbox);
    let ipn_id = sandbox_ipn_id(sandbox, config);
    sandbox.clear_requests();
    let app = suite.start(SpinSetup::new(
        "dependency",
        harness::dependency_manifest(&harness::shop_wasm(), &harness::finconnect_wasm()),
        harness::sandbox_variables(sandbox, config),
    ));

    let form =
        format!("order_id=spin-shop-1&amount=99.50&email=buyer%40example.com&ipn_id={ipn_id}");
    let reply = common::http_over_tcp(
        app.addr(),
        "POST",
        "/checkout",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(reply.status, 303, "{reply}");
    assert_eq!(
        provider_calls(sandbox),
        calls(&[PESAPAL_TOKEN, PESAPAL_SUBMIT]),
        "the token step first, then the order"
    );
    let requests = sandbox.requests();
    assert!(
        requests[1]
            .header("authorization")
            .is_some_and(|value| value.starts_with("Bearer ")),
        "the order carries the token"
    );
    let orders = sandbox.pesapal_orders();
    let [order] = orders.as_slice() else {
        panic!("expected one order, got {orders:?}");
    };
    assert_eq!(order.merchant_reference, "spin-shop-1");
    assert_eq!(order.amount, "99.50");
    let expected = format!(
        "{}/pesapaliframe/PesapalIframe3/Index?OrderTrackingId={}",
        sandbox.origin(),
        order.order_tracking_id
    );
    assert_eq!(reply.header("location"), Some(expected.as_str()), "{reply}");

    // A validation error inside FinConnect comes back through the shop.
    let mut seen = Vec::new();
    drain(sandbox, &mut seen);
    let form = format!("order_id=spin-shop-2&amount=fifteen&email=b%40example.com&ipn_id={ipn_id}");
    let reply = common::http_over_tcp(
        app.addr(),
        "POST",
        "/checkout",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert!(
        (400..500).contains(&reply.status) && reply.text().contains("amount"),
        "{reply}"
    );
    assert!(sandbox.requests().is_empty());
    app.assert_no_secrets(&suite.secrets(&seen));
}

// ----- 4. more than one instance -----

/// examples/redis-runtime-config.toml with the test's Redis URL.
fn redis_runtime_config(redis: &Redis) -> String {
    let path = Path::new(common::ROOT).join("examples/redis-runtime-config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let shipped = "redis://127.0.0.1:6379";
    assert_eq!(
        text.matches(shipped).count(),
        1,
        "{} should name {shipped} once",
        path.display()
    );
    text.replace(shipped, &redis.url())
}

#[test]
fn two_spin_instances_share_cached_tokens_through_one_redis() {
    let test = "two_spin_instances_share_cached_tokens_through_one_redis";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let Some(redis) = Redis::start(test) else {
        return;
    };
    let (config, sandbox) = (&suite.config, &suite.sandbox);
    let wasm = harness::token_cache_wasm();
    let instance = |name: &str| {
        suite.start(
            suite
                .setup(name, &wasm)
                .variable("finconnect_token_cache", "on")
                .runtime_config(redis_runtime_config(&redis)),
        )
    };
    let a = instance("instance-a");
    let b = instance("instance-b");
    assert_ne!(a.addr(), b.addr());

    let ipn_id = register_own_ipn(&a, "GET");
    pay(&a, &pesapal_body("SPIN-REDIS-A", &ipn_id));
    pay(&b, &pesapal_body("SPIN-REDIS-B", &ipn_id));
    pay(&a, &clickpesa_body("SPINREDISA"));
    pay(&b, &clickpesa_body("SPINREDISB"));
    assert_eq!(
        provider_calls(sandbox),
        calls(&[
            PESAPAL_TOKEN,
            PESAPAL_REGISTER_IPN,
            PESAPAL_SUBMIT,
            PESAPAL_SUBMIT,
            CLICKPESA_TOKEN,
            CLICKPESA_PUSH,
            CLICKPESA_PUSH,
        ]),
        "one token per provider, fetched through A and reused by B"
    );
    let used = api_tokens(sandbox);
    assert_eq!(used[0], used[1], "A and B sent the same PesaPal token");
    assert_eq!(used[2], used[3], "A and B sent the same ClickPesa token");
    assert!(
        !redis.keys().is_empty(),
        "the tokens are in Redis, not in each instance's SQLite"
    );
    for app in [&a, &b] {
        assert!(
            !app.dir().join(".spin/sqlite_key_value.db").exists(),
            "{} used its own SQLite store",
            app.dir().display()
        );
    }
    let tokens = secrets(sandbox, config, &[]);
    a.assert_no_secrets(&tokens);
    b.assert_no_secrets(&tokens);
}

use common::receiver::WEBHOOK_SECRET;

fn event_kinds(app: &SpinApp) -> Vec<String> {
    let reply = app.get("/events?after=0&limit=100");
    assert_eq!(reply.status, 200, "{reply}");
    reply.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            format!(
                "{} {} {}",
                event["seq"],
                event["type"].as_str().unwrap_or_default(),
                event["payment"]["reference"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn two_spin_instances_on_one_redis_share_the_ledger_events_and_webhooks() {
    let test = "two_spin_instances_on_one_redis_share_the_ledger_events_and_webhooks";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let Some(redis) = Redis::start(test) else {
        return;
    };
    let Some(receiver) = common::receiver::Receiver::start(test, WEBHOOK_SECRET) else {
        return;
    };
    let (config, sandbox) = (&suite.config, &suite.sandbox);
    let wasm = harness::finconnect_wasm();
    let instance = |name: &str| {
        suite.start(
            webhooks_to(&receiver, suite.setup(name, &wasm))
                .runtime_config(redis_runtime_config(&redis)),
        )
    };
    let a = instance("ledger-a");
    let b = instance("ledger-b");

    // Paid through A; PesaPal's IPN goes to B, which finds the payment in
    // the shared ledger, verifies it and records the change once.
    let ipn_id = register_own_ipn(&b, "GET");
    let tracking_id = pay(&a, &pesapal_body("SPIN-LEDGER-1", &ipn_id));
    let delivery = sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    assert!(delivery.url.as_deref().unwrap().starts_with(&b.origin()));
    assert!(delivery.body.contains("\"status\":200"), "{delivery:?}");
    // The same IPN again, to A this time: answered from the ledger.
    let target = delivery.url.as_deref().unwrap().replace(&b.origin(), "");
    let again = a.send("GET", &target, None, None);
    assert_eq!(again.status, 200, "{again}");
    let seen_by_a = event_kinds(&a);
    assert_eq!(seen_by_a.len(), 2, "{seen_by_a:?}");
    assert!(
        seen_by_a[0].ends_with("payment.pending SPIN-LEDGER-1"),
        "{seen_by_a:?}"
    );
    assert!(
        seen_by_a[1].ends_with("payment.completed SPIN-LEDGER-1"),
        "{seen_by_a:?}"
    );
    assert_eq!(
        event_kinds(&b),
        seen_by_a,
        "both instances list the same events"
    );

    // Each event reached the merchant, signed so that the reference
    // Standard Webhooks package accepts it. Deliveries go out after
    // requests (a component has no timer), so the wait keeps sending one
    // now and then, as traffic would: an attempt that fails is made again
    // on a request after its retry delay, and a lease whose holder died
    // after 30 s (`LEASE_MS`). (A lease that read back as lost on Redis
    // used to wait those 30 s too; its taker now recognises it.)
    let waiting = Instant::now();
    let deadline = waiting + Duration::from_secs(45);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        got = receiver.wait_for(Duration::from_secs(1), |got| {
            got.iter().filter(|r| r.accepted()).count() >= 2
        });
        if got.iter().filter(|r| r.accepted()).count() >= 2 {
            break;
        }
        let _ = a.get("/events?after=0&limit=1");
    }
    harness::say(&format!(
        "spin suite: two instances on Redis: the webhooks were accepted {:?} after the IPN",
        waiting.elapsed()
    ));
    std::thread::sleep(Duration::from_millis(500));
    let accepted = receiver.accepted();
    assert!(receiver.received().iter().all(|r| r.verified), "{got:#?}");
    let mut ids: Vec<_> = accepted.iter().filter_map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        2,
        "{accepted:#?}\nevents and their attempts: {}",
        a.get("/events?after=0&limit=100").text()
    );
    // Each went out from the instance that wrote its event, listed
    // meanwhile under one of several keys of held deliveries: the outbox,
    // one key that every instance used to change for every event, was
    // never written.
    assert_eq!(
        redis.get("finconnect/ledger/outbox"),
        None,
        "the outbox was written; events and their attempts: {}",
        a.get("/events?after=0&limit=100").text()
    );

    // 32 concurrent pays with one key, spread over both instances: one
    // provider order; every other answer a replay or "in progress".
    sandbox.clear_requests();
    let _ = pay_32_with_one_key(
        &[a.addr(), b.addr()],
        &clickpesa_body("SPINRACE1"),
        "spin-race-1",
        "over two instances",
    );
    let pushes = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/payments/initiate-ussd-push-request"))
        .count();
    assert_eq!(pushes, 1, "one provider order");

    // Spin's Redis store reports its swaps as failed even when they write,
    // and opens a connection per compare-and-swap: the component found
    // that out and creates keys with a guard and a plain write there (the
    // guards are in Redis), and changes them under a lock of its own, not
    // with Spin's compare-and-swap.
    assert_eq!(
        redis.get(KIND_KEY).as_deref(),
        Some(&b"locked"[..]),
        "Spin's Redis store was found to need locks"
    );
    let keys = redis.keys();
    assert!(
        keys.iter()
            .any(|key| key.starts_with("finconnect/cas-guard/")),
        "no creation guard in Redis: {keys:?}"
    );
    // Every lock is released once the instances are idle (work after a
    // response, such as a delivery, may still take and hold one for a
    // moment; a lock left by a holder that died would stay held for a
    // minute). A
    // lock read as 0 is free: a caller that gave up waiting reads the
    // count with `increment(0)`, which leaves 0 where the key was gone.
    let held = || {
        redis
            .keys()
            .into_iter()
            .filter(|key| key.starts_with("finconnect/cas-lock/"))
            .filter(|key| redis.get(key).as_deref() != Some(&b"0"[..]))
            .collect::<Vec<_>>()
    };
    // Idle: no lock held in ten looks, 50 ms apart.
    let idle_by = Instant::now() + Duration::from_secs(10);
    let mut free_looks = 0;
    let mut last = Vec::new();
    while free_looks < 10 && Instant::now() < idle_by {
        last = held();
        free_looks = if last.is_empty() { free_looks + 1 } else { 0 };
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(free_looks >= 10, "locks still held after 10 s: {last:?}");

    let mut secrets = secrets(sandbox, config, &[]);
    secrets.push(WEBHOOK_SECRET.to_owned());
    secrets.push(WEBHOOK_SECRET.trim_start_matches("whsec_").to_owned());
    a.assert_no_secrets(&secrets);
    b.assert_no_secrets(&secrets);
}

/// An authorised `POST /payments` of `body` with `Idempotency-Key: key`,
/// over a fresh connection to `addr`.
fn post_with_key(addr: std::net::SocketAddr, body: &Value, key: &str) -> Reply {
    let auth = format!("Bearer {API_KEY}");
    common::http_over_tcp(
        addr,
        "POST",
        "/payments",
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        body.to_string().as_bytes(),
    )
}

/// 32 requests at once, each `POST /payments` of `body` with one
/// `Idempotency-Key`, spread over `addrs` in turn; the replies, and how many
/// were created, replayed and "in progress" (logged).
fn pay_32_with_one_key(
    addrs: &[std::net::SocketAddr],
    body: &Value,
    key: &str,
    what: &str,
) -> Vec<Reply> {
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|n| {
                let addr = addrs[n % addrs.len()];
                scope.spawn(move || post_with_key(addr, body, key))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = replies
        .iter()
        .filter(|r| r.status == 201 && r.header("idempotent-replayed").is_none())
        .count();
    let replayed = replies
        .iter()
        .filter(|r| r.header("idempotent-replayed") == Some("true"))
        .count();
    let in_progress = replies.iter().filter(|r| r.status == 409).count();
    harness::say(&format!(
        "spin suite: 32 concurrent pays with one key, {what}: {created} created, {replayed} replayed, {in_progress} in progress"
    ));
    assert_eq!(created, 1, "{replies:#?}");
    assert_eq!(created + replayed + in_progress, 32, "{replies:#?}");
    replies
}

/// 32 concurrent pays with one key under one `spin up` with Spin's default
/// store (SQLite): one provider order. That store's compare-and-swap does
/// not make a create exclusive (a swap on a key read as absent upserts),
/// so this fails when the ledger's creates go unguarded there: the
/// component must find that this store needs its creation guard.
#[test]
fn thirty_two_concurrent_pays_with_one_key_under_spins_sqlite_store_make_one_order() {
    thirty_two_pays_with_one_key_under_spins_sqlite_store(
        "thirty_two_concurrent_pays_with_one_key_under_spins_sqlite_store",
        false,
    );
}

/// The same on Spin's store put in WAL mode first, as `cargo xtask build`
/// (`spin up --build`) and `cargo xtask spin-store` leave it: Spin keeps the
/// mode and writes through the log, and the ledger's guard still makes one
/// order.
#[test]
fn thirty_two_concurrent_pays_with_one_key_under_spins_sqlite_store_in_wal_mode_make_one_order() {
    thirty_two_pays_with_one_key_under_spins_sqlite_store(
        "thirty_two_concurrent_pays_with_one_key_under_spins_sqlite_store_in_wal_mode",
        true,
    );
}

fn thirty_two_pays_with_one_key_under_spins_sqlite_store(test: &str, wal: bool) {
    use xtask::spin_store::{JournalMode, SPIN_DEFAULT_STORE, journal_mode};
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let sandbox = &suite.sandbox;
    let (name, label) = if wal {
        ("sqlite-race-wal", "Spin's SQLite store in WAL mode")
    } else {
        ("sqlite-race", "Spin's SQLite store")
    };
    let app = suite.start(
        suite
            .setup(name, &harness::finconnect_wasm())
            .wal_store(wal),
    );
    let replies = pay_32_with_one_key(
        &[app.addr()],
        &clickpesa_body("SPINRACE2"),
        "spin-sqlite-race-1",
        label,
    );
    let pushes = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/payments/initiate-ussd-push-request"))
        .count();
    assert_eq!(pushes, 1, "one provider order; replies: {replies:#?}");
    // Spin wrote to the file this test prepared (or created itself), in the
    // mode the file says: a log beside it while Spin has it open in WAL mode.
    let store = app.dir().join(SPIN_DEFAULT_STORE);
    let log = app.dir().join(format!("{SPIN_DEFAULT_STORE}-wal"));
    if wal {
        assert_eq!(journal_mode(&store).unwrap(), JournalMode::Wal);
        assert!(
            std::fs::metadata(&log).is_ok_and(|m| m.len() > 0),
            "Spin wrote no log beside {}",
            store.display()
        );
    } else {
        // Spin's own choice for a file it creates: a rollback journal. If a
        // Spin release changes it, `cargo xtask build` need not create the
        // file any more (README, "Run it with Spin").
        assert_eq!(journal_mode(&store).unwrap(), JournalMode::Delete);
        assert!(!log.exists(), "{} appeared", log.display());
    }
}

/// Event numbers are taken before their events are written, so a reader
/// finds numbers still empty; its page ends there while the writer may
/// still come, and its cursor never passes an event that lands behind it.
/// Here one reader polls `GET /events` as fast as it can while 48 pays run
/// on 8 connections: every pay is created (a store refusing a write as
/// busy in the first burst is asked again), every payment's event is
/// listed once, the poller's cursor skipped none, and no event appears
/// twice.
#[test]
fn events_polled_while_pays_run_are_each_listed_once_under_spin() {
    let test = "events_polled_while_pays_run_are_each_listed_once_under_spin";
    let Some(suite) = Suite::begin(test, harness::shared) else {
        return;
    };
    let app = suite.start(
        suite
            .setup("events-race", &harness::finconnect_wasm())
            .wal_store(true),
    );
    let page = |after: u64| {
        let reply = app.get(&format!("/events?after={after}&limit=100"));
        assert_eq!(reply.status, 200, "{reply}");
        let page = reply.json();
        let events: Vec<(String, String)> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| {
                (
                    event["id"].as_str().unwrap_or_default().to_owned(),
                    event["payment"]["reference"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        (events, page["next_after"].as_u64().unwrap())
    };
    let paying = std::sync::atomic::AtomicBool::new(true);
    let (polled, polls, refused) = std::thread::scope(|scope| {
        let poller = scope.spawn(|| {
            let (mut seen, mut after, mut polls) = (Vec::new(), 0, 0);
            loop {
                let last_round = !paying.load(std::sync::atomic::Ordering::SeqCst);
                let (events, next) = page(after);
                polls += 1;
                let empty = events.is_empty();
                seen.extend(events);
                after = next;
                if last_round && empty {
                    return (seen, polls);
                }
            }
        });
        let payers: Vec<_> = (0..8)
            .map(|worker| {
                let addr = app.addr();
                scope.spawn(move || {
                    let mut refused = Vec::new();
                    for n in 0..6 {
                        let reference = format!("EVRACE{worker}X{n}");
                        let reply = post_with_key(addr, &clickpesa_body(&reference), &reference);
                        if reply.status != 201 {
                            refused.push(format!("{reference}: {reply}"));
                        }
                    }
                    refused
                })
            })
            .collect();
        // Every payer is joined before the poller is told to stop, and a
        // payer that failed is reported after: the poller never waits on
        // a payer that is gone.
        let refused: Vec<String> = payers
            .into_iter()
            .flat_map(|payer| {
                payer
                    .join()
                    .unwrap_or_else(|_| vec!["a payer panicked".into()])
            })
            .collect();
        paying.store(false, std::sync::atomic::Ordering::SeqCst);
        let (polled, polls) = poller.join().expect("the poller panicked");
        (polled, polls, refused)
    });
    assert!(refused.is_empty(), "pays not created: {refused:#?}");
    let (listed, last) = page(0);
    // Numbers the poller sealed before their writer came show as gaps.
    harness::say(&format!(
        "spin suite: events polled while 48 pays ran: {} seen in {polls} polls, {} listed after, \
         {} numbers sealed by the poller",
        polled.len(),
        listed.len(),
        last.saturating_sub(listed.len() as u64)
    ));
    let mut references: Vec<&str> = listed.iter().map(|(_, r)| r.as_str()).collect();
    references.sort_unstable();
    let mut expected: Vec<String> = (0..8)
        .flat_map(|w| (0..6).map(move |n| format!("EVRACE{w}X{n}")))
        .collect();
    expected.sort_unstable();
    assert_eq!(references, expected, "one event per payment: {listed:?}");
    assert_eq!(
        polled, listed,
        "the polling cursor saw every event, in order, once"
    );
}

/// The wall clock in Unix milliseconds, as the component writes the idle
/// clocks of guards and locks.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A test of this suite that may run beside others ([`harness::shared`]).
type SharedSuite = Suite<std::sync::RwLockReadGuard<'static, ()>>;

/// The suite, a Redis server of its own, and FinConnect under Spin with its
/// ledger in that Redis; `None` when the suite or Redis is skipped (each
/// says so). Dropped in reverse order: Spin stops before Redis.
fn finconnect_on_redis(test: &str, name: &str) -> Option<(SharedSuite, Redis, SpinApp)> {
    let suite = Suite::begin(test, harness::shared)?;
    let redis = Redis::start(test)?;
    let app = suite.start(
        suite
            .setup(name, &harness::finconnect_wasm())
            .runtime_config(redis_runtime_config(&redis)),
    );
    Some((suite, redis, app))
}

/// On a guarded store (Spin's Redis store here) a create that loses the
/// key's guard waits for the winner's write instead of taking the guard
/// again: the store is made to show a winner that has taken the guard of
/// a key but not written it yet, and writes it 400 ms after the request
/// left. The request answers with the winner's record (a replay) and makes
/// no provider call. Without the wait, its retries all lose the guard
/// within a few milliseconds and it answers 503 `ledger_unavailable`, as
/// one of 32 concurrent pays on one key sometimes did on Spin's SQLite
/// store.
#[test]
fn a_create_that_lost_its_guard_waits_for_the_winners_write_under_spin_on_redis() {
    use finconnect_core::{Provider, ledger::record::record_key};
    let test = "a_create_that_lost_its_guard_waits_for_the_winners_write_under_spin_on_redis";
    let Some((suite, redis, app)) = finconnect_on_redis(test, "guard-wait") else {
        return;
    };
    let sandbox = &suite.sandbox;
    let body = clickpesa_body("SPINGUARD1");
    let first = post_with_key(app.addr(), &body, "spin-guard-winner");
    assert_eq!(first.status, 201, "{first}");
    let winner = redis
        .get(&record_key(Provider::Clickpesa, "spin-guard-winner"))
        .expect("the first pay's record is in Redis");
    assert_eq!(
        redis.get(KIND_KEY).as_deref(),
        Some(&b"locked"[..]),
        "Spin's Redis store was found to need creation guards and locks"
    );

    let key = record_key(Provider::Clickpesa, "spin-guard-waiter");
    redis.set(&format!("finconnect/cas-guard/{key}"), b"1");
    sandbox.clear_requests();
    let started = Instant::now();
    let reply = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let reply = post_with_key(app.addr(), &body, "spin-guard-waiter");
            (reply, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(400));
        redis.set(&key, &winner);
        let (reply, took) = waiter.join().unwrap();
        harness::say(&format!(
            "spin suite: a create that lost its guard answered after {took:?} (the winner wrote at 400 ms)"
        ));
        reply
    });
    assert_eq!(reply.status, 201, "{reply}");
    assert_eq!(reply.header("idempotent-replayed"), Some("true"), "{reply}");
    assert_eq!(reply.json(), first.json());
    assert!(
        provider_calls(sandbox).is_empty(),
        "no provider call: {:?}",
        provider_calls(sandbox)
    );
}

/// A guard whose holder died between its `increment` and its `set` used to
/// keep its key from ever being created: every request with that
/// idempotency key answered 503. The store is made to show such a guard.
/// A first request finds the key unwritten, starts the guard's idle clock
/// and still answers 503, and so does a retry, which leaves the clock as it
/// is; once the clock is a minute old (set back here, not waited for), the
/// next request takes the guard over and creates the payment, with its
/// provider calls, and restarts the clock.
#[test]
fn a_guard_whose_holder_died_is_taken_over_after_a_minute_under_spin_on_redis() {
    use finconnect_core::{Provider, ledger::record::record_key};
    let test = "a_guard_whose_holder_died_is_taken_over_after_a_minute_under_spin_on_redis";
    let Some((suite, redis, app)) = finconnect_on_redis(test, "guard-dead") else {
        return;
    };
    let sandbox = &suite.sandbox;
    let body = clickpesa_body("SPINGUARD2");
    // The store's kind is probed on the first create; this one is ordinary.
    let first = post_with_key(
        app.addr(),
        &clickpesa_body("SPINGUARD3"),
        "spin-guard-probe",
    );
    assert_eq!(first.status, 201, "{first}");

    let key = record_key(Provider::Clickpesa, "spin-guard-orphan");
    let guard = format!("finconnect/cas-guard/{key}");
    let clock = format!("finconnect/cas-guard-unwritten/{key}");
    redis.set(&guard, b"1");
    let before = now_ms();
    let blocked = post_with_key(app.addr(), &body, "spin-guard-orphan");
    assert_eq!(blocked.status, 503, "{blocked}");
    assert_eq!(blocked.json()["code"], "ledger_unavailable", "{blocked}");
    let started: u64 = String::from_utf8(redis.get(&clock).expect("the idle clock started"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        started >= before.saturating_sub(5_000) && started <= now_ms() + 5_000,
        "the clock started when the key was found unwritten: {started}, request at {before}"
    );
    assert!(redis.get(&key).is_none(), "nothing created yet");
    // A retry within the minute is refused too, and leaves the clock alone:
    // retries must not keep a dead guard young.
    std::thread::sleep(Duration::from_millis(20));
    let again = post_with_key(app.addr(), &body, "spin-guard-orphan");
    assert_eq!(again.status, 503, "{again}");
    assert_eq!(
        redis.get(&clock),
        Some(started.to_string().into_bytes()),
        "a retry moved the idle clock"
    );

    redis.set(&clock, (before - 61_000).to_string().as_bytes());
    sandbox.clear_requests();
    let taken = post_with_key(app.addr(), &body, "spin-guard-orphan");
    assert_eq!(taken.status, 201, "{taken}");
    assert_eq!(taken.header("idempotent-replayed"), None, "{taken}");
    assert_eq!(taken.json()["reference"], "SPINGUARD2", "{taken}");
    assert!(redis.get(&key).is_some(), "the record was created");
    assert_eq!(
        provider_calls(sandbox).len(),
        2,
        "one token and one payment: {:?}",
        provider_calls(sandbox)
    );
    let restarted: u64 = String::from_utf8(redis.get(&clock).unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        restarted >= before,
        "the taker restarted the clock: {restarted}"
    );
    let replay = post_with_key(app.addr(), &body, "spin-guard-orphan");
    assert_eq!(replay.status, 201, "{replay}");
    assert_eq!(
        replay.header("idempotent-replayed"),
        Some("true"),
        "{replay}"
    );
}

/// Where the component keeps what it found out about the store's
/// compare-and-swap (`exclusive`, `guarded` or `locked`).
const KIND_KEY: &str = "finconnect/store/cas-kind-v3";

/// On Spin's Redis store a change of a record goes through a lock of the
/// component's own on the store's one connection, not through Spin's
/// compare-and-swap, which opens a connection each time and another after
/// each swap it wrongly reports failed. A pay and its IPN open no
/// connection to Redis, and leave no lock. A lock whose holder died is
/// made to show: an IPN then changes nothing (it is acknowledged all the
/// same, as every verified IPN is) and starts the lock's idle clock, a
/// retry within the minute leaves the clock alone, and once the clock is a
/// minute old (set back here, not waited for) the next IPN takes the lock
/// over and records the payment completed, with its event, and releases
/// the lock with its clock.
#[test]
fn a_change_on_redis_takes_a_lock_and_a_dead_holders_lock_is_taken_over_under_spin() {
    use finconnect_core::{Provider, ledger::record::record_key};
    let test = "a_change_on_redis_takes_a_lock_and_a_dead_holders_lock_is_taken_over_under_spin";
    let Some((suite, redis, app)) = finconnect_on_redis(test, "lock-dead") else {
        return;
    };
    let sandbox = &suite.sandbox;
    let ipn_id = register_own_ipn(&app, "GET");
    // The store's kind is probed on the first change; this pay is ordinary.
    pay(&app, &pesapal_body("SPINLOCK1", &ipn_id));
    assert_eq!(redis.get(KIND_KEY).as_deref(), Some(&b"locked"[..]));

    let before = redis.connections_received();
    let tracking_id = pay(&app, &pesapal_body("SPINLOCK2", &ipn_id));
    let delivery = sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    assert!(delivery.body.contains("\"status\":200"), "{delivery:?}");
    let opened = redis.connections_received() - before - 1;
    assert_eq!(
        opened, 0,
        "connections to Redis opened by a pay and its IPN"
    );
    assert!(
        event_kinds(&app)
            .iter()
            .any(|kind| kind.ends_with("payment.completed SPINLOCK2")),
        "{:?}",
        event_kinds(&app)
    );

    let tracking_id = pay(&app, &pesapal_body("SPINLOCK3", &ipn_id));
    let key = record_key(Provider::Pesapal, "SPINLOCK3");
    let lock = format!("finconnect/cas-lock/{key}");
    let clock = format!("finconnect/cas-lock-held/{key}");
    assert!(redis.get(&lock).is_none(), "the pay left its lock");
    redis.set(&lock, b"1");
    let started_at = now_ms();
    let blocked = sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .unwrap();
    let completed = |app: &SpinApp| {
        event_kinds(app)
            .iter()
            .any(|kind| kind.ends_with("payment.completed SPINLOCK3"))
    };
    assert!(!completed(&app), "a locked record was changed: {blocked:?}");
    let started: u64 = String::from_utf8(redis.get(&clock).expect("the lock's clock started"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        started >= started_at.saturating_sub(5_000) && started <= now_ms() + 5_000,
        "the clock started when the lock was found held: {started}, IPN at {started_at}"
    );
    let target = blocked.url.as_deref().unwrap().replace(&app.origin(), "");
    let again = app.send("GET", &target, None, None);
    assert_eq!(again.status, 200, "{again}");
    assert!(!completed(&app), "a locked record was changed on a retry");
    assert_eq!(
        redis.get(&clock),
        Some(started.to_string().into_bytes()),
        "a retry moved the lock's clock"
    );

    redis.set(&clock, (started_at - 61_000).to_string().as_bytes());
    let taken = app.send("GET", &target, None, None);
    assert_eq!(taken.status, 200, "{taken}");
    assert!(completed(&app), "{:?}", event_kinds(&app));
    assert!(redis.get(&lock).is_none(), "the taker released the lock");
    assert!(redis.get(&clock).is_none(), "the clock went with the lock");
}

// ----- 5. no stalls -----

/// Latencies of `count` requests over `concurrency` keep-alive connections,
/// alternating a 422 (no outbound call) and a real PesaPal pay.
fn measure(
    app: &SpinApp,
    ipn_id: &str,
    count: usize,
    concurrency: usize,
    tag: &str,
) -> Vec<Duration> {
    let invalid = {
        let mut body = pesapal_body("STALL-BAD", ipn_id);
        body["amount"] = json!("-1");
        body.to_string()
    };
    let addr = app.addr();
    let per_worker = count / concurrency;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..concurrency)
            .map(|worker| {
                let invalid = invalid.clone();
                scope.spawn(move || {
                    let mut connection = harness::Connection::open(addr);
                    let mut took = Vec::with_capacity(per_worker);
                    for n in 0..per_worker {
                        let (body, expect) = if n % 2 == 0 {
                            (invalid.clone(), 422)
                        } else {
                            let reference = format!("STALL-{tag}-{worker}-{n}");
                            (pesapal_body(&reference, ipn_id).to_string(), 201)
                        };
                        let head = format!(
                            "POST /payments HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {API_KEY}\r\ncontent-type: application/json\r\n"
                        );
                        let started = Instant::now();
                        let (status, answer) = connection.exchange(&head, body.as_bytes());
                        took.push(started.elapsed());
                        assert_eq!(
                            status,
                            expect,
                            "{}",
                            String::from_utf8_lossy(&answer)
                        );
                    }
                    took
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    })
}

#[test]
fn no_request_stalls_under_spin_at_concurrency_1_and_8() {
    let test = "no_request_stalls_under_spin_at_concurrency_1_and_8";
    let Some(suite) = Suite::begin(test, harness::exclusive) else {
        return;
    };
    let count: usize = std::env::var("FINCONNECT_SPIN_STALL_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    const SLOW: Duration = Duration::from_millis(30);
    // The ledger's store in Redis: Spin's default SQLite store commits every
    // write to disk under one lock, and at concurrency 8 pays then queue for
    // it (tens of milliseconds on a slow disk), which would hide the
    // network stalls this test looks for. The SQLite figures are printed
    // by `sqlite_store_latency_is_reported` below.
    let Some(redis) = Redis::start(test) else {
        return;
    };
    let app = suite.start(
        suite
            .setup("stall", &harness::finconnect_wasm())
            .runtime_config(redis_runtime_config(&redis)),
    );
    // The same without the ledger (`finconnect_ledger = off`, no store):
    // the pass-through the Node services are compared with.
    let plain = suite.without_a_store("stall-no-ledger", &[("finconnect_ledger", "off")]);
    let mut failures = Vec::new();
    for (app, what) in [(&app, "ledger in Redis"), (&plain, "ledger off")] {
        let ipn_id = register_own_ipn(app, "GET");
        // Warm up: the first requests compile and fill caches.
        measure(app, &ipn_id, 20, 1, "warm");
        for concurrency in [1, 8] {
            let started = Instant::now();
            let mut took = measure(app, &ipn_id, count, concurrency, &format!("c{concurrency}"));
            let elapsed = started.elapsed();
            took.sort();
            let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
            // A stall (Nagle's algorithm meeting a delayed ACK) adds about 40 ms
            // to what a request normally takes; queueing for the two cores and
            // the store's round trips only widen the spread around the median.
            let limit = at(0.50) + SLOW;
            let slow = took.iter().filter(|d| **d > limit).count();
            harness::say(&format!(
                "spin suite: stall check, {what}, concurrency {concurrency}: {} requests (half 422, half pays) in {elapsed:.2?}; \
                 over p50 + {SLOW:?} ({limit:.2?}): {slow}; over {SLOW:?}: {}; p50 {:.2?}, p99 {:.2?}, max {:.2?}",
                took.len(),
                took.iter().filter(|d| **d > SLOW).count(),
                at(0.50),
                at(0.99),
                took[took.len() - 1],
            ));
            // At concurrency 1, at most 0.5% stalled (a noisy CI machine may
            // pause a few; Nagle meeting delayed ACKs stalled 2-3%). At 8 on two
            // cores queueing spreads latencies further, so only 2.5% is
            // enforced there; the figures are printed either way.
            let allowed_per_mille = if concurrency == 1 { 5 } else { 25 };
            if slow * 1000 > took.len() * allowed_per_mille {
                failures.push(format!(
                    "{what}, concurrency {concurrency}: {slow} of {} requests took over p50 + {SLOW:?} ({limit:.2?})",
                    took.len()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// What the ledger costs with Spin's default store (SQLite under `.spin/`,
/// every write committed to disk), as Spin creates the file (rollback
/// journal) and in WAL mode (as `cargo xtask build` creates it): pay latency
/// at concurrency 1 and 8, printed for the README; nothing is asserted
/// about time.
#[test]
fn sqlite_store_latency_is_reported() {
    let test = "sqlite_store_latency_is_reported";
    let Some(suite) = Suite::begin(test, harness::exclusive) else {
        return;
    };
    for (name, file, wal) in [
        ("sqlite", "rollback journal", false),
        ("sqlite-wal", "WAL", true),
    ] {
        let app = suite.start(
            suite
                .setup(name, &harness::finconnect_wasm())
                .wal_store(wal),
        );
        let ipn_id = register_own_ipn(&app, "GET");
        measure(&app, &ipn_id, 20, 1, "warm");
        for concurrency in [1, 8] {
            let mut took = measure(&app, &ipn_id, 400, concurrency, &format!("q{concurrency}"));
            took.sort();
            let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
            harness::say(&format!(
                "spin suite: Spin's SQLite store ({file}), concurrency {concurrency}: {} requests (half 422, half pays); p50 {:.2?}, p99 {:.2?}",
                took.len(),
                at(0.50),
                at(0.99),
            ));
        }
        assert!(
            app.dir().join(".spin/sqlite_key_value.db").exists(),
            "the ledger was not in Spin's SQLite store"
        );
    }
}
