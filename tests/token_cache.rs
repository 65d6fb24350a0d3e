//! The opt-in token cache end to end: the `token-cache` build in the wasmtime
//! host (whose `wasi:keyvalue/store` is an in-memory store shared by all its
//! instances) against the provider sandbox on loopback.
//!
//! The `token-cache` build is `FINCONNECT_WASM_TOKEN_CACHE` (default
//! `target/token-cache/wasm32-wasip2/release/finconnect.wasm`; `cargo xtask
//! test` builds it and sets the variable); the default build is
//! `FINCONNECT_WASM`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use finconnect_host::{ApiError, Host, NotificationType, Provider, http};
mod common;

use common::API_KEY;
use finconnect_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig, Target};
use std::path::{Path, PathBuf};

const TOKEN: &str = "POST /pesapalv3/api/Auth/RequestToken";
const SUBMIT: &str = "POST /pesapalv3/api/Transactions/SubmitOrderRequest";
const CACHE_VARIABLE: &str = "finconnect_token_cache";

/// The `token-cache` build, or `None` (the test is skipped) when it was not built.
fn token_cache_wasm() -> Option<PathBuf> {
    let wasm = common::token_cache_wasm();
    if wasm.is_none() {
        eprintln!(
            "skipped: no token-cache build (run `cargo xtask test`, which builds it and sets \
             FINCONNECT_WASM_TOKEN_CACHE)"
        );
    }
    wasm
}

/// FinConnect from the project's spin.toml against the sandbox, with the
/// cache variable set to `cache` (`None`: the manifest's default, `off`).
fn host(wasm: &Path, sandbox: &Sandbox, cache: Option<&str>) -> Host {
    let mut builder = common::builder_for(wasm, sandbox, &SandboxConfig::default());
    if let Some(cache) = cache {
        builder = builder.app_variable(CACHE_VARIABLE, cache);
    }
    builder.build().unwrap()
}

/// Registers an IPN, then forgets what that took (its requests and any
/// cached token), so a test starts from a cold cache.
fn register_ipn(host: &Host, sandbox: &Sandbox) -> String {
    let ipn = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &common::ipn_request(
                "https://shop.example/notifications/pesapal",
                NotificationType::Get,
            ),
        )
        .unwrap()
        .expect("PesaPal registered the IPN");
    sandbox.clear_requests();
    host.clear_key_value_stores();
    host.clear_outbound_log();
    ipn.ipn_id
}

fn pay(host: &Host, reference: &str, ipn_id: &str) {
    let payment = host
        .pay_blocking(
            Provider::Pesapal,
            &common::pesapal_payment(reference, ipn_id),
        )
        .expect("pay ran")
        .unwrap_or_else(|err| panic!("PesaPal refused {reference}: {err:?}"));
    assert_eq!(payment.reference, reference);
}

/// `METHOD /path` of every request the sandbox saw.
fn provider_calls(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The bearer token of every order submission, in order.
fn submitted_tokens(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .iter()
        .filter(|r| format!("{} {}", r.method, r.path) == SUBMIT)
        .map(|r| {
            r.header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .expect("a bearer token")
                .to_owned()
        })
        .collect()
}

/// Neither a token nor a credential may appear in what the component printed.
fn assert_no_secret_in_output(host: &Host, tokens: &[String]) {
    let output = host.guest_output();
    let config = SandboxConfig::default();
    for secret in tokens
        .iter()
        .chain([&config.pesapal_consumer_secret, &API_KEY.to_owned()])
    {
        assert!(
            !output.contains(secret.as_str()),
            "the component printed a secret: {output}"
        );
    }
}

#[test]
fn with_the_cache_on_a_warm_pay_is_one_provider_round_trip() {
    let Some(wasm) = token_cache_wasm() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host(&wasm, &sandbox, Some("on"));
    let ipn_id = register_ipn(&host, &sandbox);

    pay(&host, "CACHE-ON-1", &ipn_id);
    pay(&host, "CACHE-ON-2", &ipn_id);

    assert_eq!(provider_calls(&sandbox), [TOKEN, SUBMIT, SUBMIT]);
    let tokens = submitted_tokens(&sandbox);
    assert_eq!(tokens[0], tokens[1], "the second pay reused the token");
    assert_eq!(sandbox.pesapal_orders().len(), 2);
    // One entry, keyed by a digest: no credential in the key.
    let keys = host.key_value_keys("default").unwrap();
    let [key] = keys.as_slice() else {
        panic!("expected one cached token, got keys {keys:?}")
    };
    assert!(key.starts_with("finconnect/token/pesapal/"), "{key}");
    assert!(!key.contains(&SandboxConfig::default().pesapal_consumer_key));
    assert_no_secret_in_output(&host, &tokens);
}

#[test]
fn with_the_cache_off_every_pay_fetches_a_token() {
    let Some(wasm) = token_cache_wasm() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    // The manifest's default for finconnect_token_cache is `off`.
    let host = host(&wasm, &sandbox, None);
    let ipn_id = register_ipn(&host, &sandbox);

    pay(&host, "CACHE-OFF-1", &ipn_id);
    pay(&host, "CACHE-OFF-2", &ipn_id);

    assert_eq!(provider_calls(&sandbox), [TOKEN, SUBMIT, TOKEN, SUBMIT]);
    let tokens = submitted_tokens(&sandbox);
    assert_ne!(tokens[0], tokens[1]);
    assert_eq!(
        host.key_value_keys("default").unwrap(),
        Vec::<String>::new()
    );
    assert_no_secret_in_output(&host, &tokens);
}

#[test]
fn a_cached_token_the_provider_rejects_is_dropped_and_the_pay_retried_once() {
    let Some(wasm) = token_cache_wasm() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host(&wasm, &sandbox, Some("on"));
    let ipn_id = register_ipn(&host, &sandbox);
    pay(&host, "REJECTED-1", &ipn_id);

    // The next order submission answers as if its token were invalid
    // (PesaPal's 401 for a revoked or expired token).
    sandbox.inject(Fault::once(
        Target::PesapalSubmitOrder,
        FaultKind::WrongToken,
    ));
    pay(&host, "REJECTED-2", &ipn_id);

    assert_eq!(
        provider_calls(&sandbox),
        [TOKEN, SUBMIT, SUBMIT, TOKEN, SUBMIT],
        "rejected at the door, then one retry with a fresh token"
    );
    let tokens = submitted_tokens(&sandbox);
    assert_eq!(tokens[0], tokens[1], "the cached token was tried first");
    assert_ne!(tokens[1], tokens[2], "the retry used a fresh token");
    let references: Vec<String> = sandbox
        .pesapal_orders()
        .into_iter()
        .map(|order| order.merchant_reference)
        .collect();
    assert_eq!(references, ["REJECTED-1", "REJECTED-2"], "no order twice");

    // The fresh token replaced the rejected one: the next pay uses it.
    sandbox.clear_requests();
    pay(&host, "REJECTED-3", &ipn_id);
    assert_eq!(provider_calls(&sandbox), [SUBMIT]);
    assert_eq!(submitted_tokens(&sandbox), [tokens[2].clone()]);
    assert_no_secret_in_output(&host, &tokens);
}

#[test]
fn the_cache_serves_the_http_face_too() {
    let Some(wasm) = token_cache_wasm() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host(&wasm, &sandbox, Some("on"));
    let ipn_id = register_ipn(&host, &sandbox);
    for reference in ["HTTP-CACHE-1", "HTTP-CACHE-2"] {
        let body = serde_json::json!({
            "provider": "pesapal",
            "reference": reference,
            "amount": "1500.00",
            "currency": "KES",
            "description": "Order",
            "callback_url": "https://shop.example/return",
            "notification_id": ipn_id,
            "customer": {"email": "jane@example.com"},
        });
        let request = http::Request::post("/payments")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {API_KEY}"))
            .body(body.to_string().into_bytes())
            .unwrap();
        let response = host.handle_blocking(request).unwrap();
        assert_eq!(
            response.status(),
            201,
            "{}",
            String::from_utf8_lossy(response.body())
        );
    }
    assert_eq!(provider_calls(&sandbox), [TOKEN, SUBMIT, SUBMIT]);
    assert_no_secret_in_output(&host, &submitted_tokens(&sandbox));
}

#[test]
fn the_token_cache_build_opens_only_the_default_store() {
    let Some(wasm) = token_cache_wasm() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host(&wasm, &sandbox, Some("on"));
    let ty = host.component().component_type();
    let imports: Vec<&str> = ty.imports(host.engine()).map(|(name, _)| name).collect();
    assert!(
        imports.contains(&"wasi:keyvalue/store@0.2.0-draft2"),
        "{imports:?}"
    );
    assert_eq!(host.key_value_keys("default"), Some(Vec::new()));
    assert_eq!(host.key_value_keys("other"), None);
}

#[test]
fn the_default_build_refuses_the_cache_by_name() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host(&common::finconnect_wasm(), &sandbox, Some("on"));
    let result = host
        .pay_blocking(
            Provider::Pesapal,
            // A valid request: the switch is checked when a call is about
            // to be made, after the request's own fields.
            &common::pesapal_payment("NO-CACHE-BUILD", "1da86d1c-1e8c-4183-bdfd-dd759463e4ce"),
        )
        .unwrap();
    match result {
        Err(ApiError::Configuration(error)) => {
            assert_eq!(error.variable, CACHE_VARIABLE, "{error:?}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert!(
        sandbox.requests().is_empty(),
        "no provider call: {:?}",
        provider_calls(&sandbox)
    );
}
