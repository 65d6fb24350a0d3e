//! Composition: the example consumer `examples/shop` (it imports
//! `finconnect:payments/api@0.2.0`), plugged with FinConnect by
//! `wac plug`, runs in the wasmtime host against the provider sandbox.
//!
//! The composed file comes from `scripts/composition.sh`: its path is
//! `FINCONNECT_COMPOSED_WASM` (default `target/composed/shop-composed.wasm`).
//! FinConnect itself is `FINCONNECT_WASM` (default
//! `target/wasm32-wasip2/release/finconnect.wasm`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::{
    PESAPAL_SUBMIT as SUBMIT_PATH, PESAPAL_TOKEN as TOKEN_PATH, ROOT, finconnect_wasm,
    provider_calls,
};
use finconnect_host::compose::Val;
use finconnect_host::{Host, NotificationType, Provider};
use finconnect_sandbox::{Sandbox, SandboxConfig};
use std::path::{Path, PathBuf};

const CHECKOUT: &str = "demo:shop/checkout@0.1.0#checkout";
const SANDBOX_KEY: &str = "sandbox-pesapal-key";
const SANDBOX_SECRET: &str = "sandbox-pesapal-secret";

/// The shop plugged with FinConnect, checked to be newer than FinConnect.
fn composed_wasm() -> PathBuf {
    let (path, origin) = match std::env::var_os("FINCONNECT_COMPOSED_WASM") {
        Some(path) => (PathBuf::from(path), "FINCONNECT_COMPOSED_WASM"),
        None => (
            Path::new(ROOT).join("target/composed/shop-composed.wasm"),
            "the default path (FINCONNECT_COMPOSED_WASM is not set)",
        ),
    };
    assert!(
        path.is_file(),
        "the composed component {} ({origin}) is missing: run `scripts/composition.sh` \
         (builds examples/shop and runs `wac plug ... -o target/composed/shop-composed.wasm`), \
         then set FINCONNECT_COMPOSED_WASM to its path",
        path.display()
    );
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let finconnect = finconnect_wasm();
    if let (Some(composed), Some(plugged)) = (modified(&path), modified(&finconnect)) {
        assert!(
            composed >= plugged,
            "{} is older than {}: it holds a stale FinConnect; run `scripts/composition.sh` again",
            path.display(),
            finconnect.display()
        );
    }
    path
}

/// FinConnect alone, configured for the sandbox's PesaPal.
fn finconnect_host(sandbox: &Sandbox) -> Host {
    Host::builder(finconnect_wasm())
        .read_environment(false)
        .component_variable("pesapal_base_url", Some(&sandbox.pesapal_base_url()))
        .component_variable("pesapal_consumer_key", Some(SANDBOX_KEY))
        .component_variable("pesapal_consumer_secret", Some(SANDBOX_SECRET))
        .allow_outbound_host(sandbox.origin())
        .build()
        .expect("a host for finconnect.wasm")
}

/// Registers an IPN URL through FinConnect's own export; returns its id.
fn register_ipn(host: &Host) -> String {
    let request = common::ipn_request(
        "https://shop.example/notifications/pesapal",
        NotificationType::Get,
    );
    host.register_ipn_blocking(Provider::Pesapal, &request)
        .expect("register-ipn ran")
        .expect("PesaPal registered the IPN")
        .ipn_id
}

fn strings(values: &[&str]) -> Vec<Val> {
    values
        .iter()
        .map(|v| Val::String((*v).to_owned()))
        .collect()
}

/// `result<string, string>` as returned by the shop's `checkout`.
fn checkout_result(results: &[Val]) -> Result<String, String> {
    let text = |value: &Option<Box<Val>>| match value.as_deref() {
        Some(Val::String(text)) => text.clone(),
        other => panic!("expected a string payload, got {other:?}"),
    };
    match results {
        [Val::Result(Ok(value))] => Ok(text(value)),
        [Val::Result(Err(value))] => Err(text(value)),
        other => panic!("expected one result<string, string>, got {other:?}"),
    }
}

#[test]
fn wac_composed_shop_pays_through_finconnect_and_returns_the_redirect_url() {
    let composed = composed_wasm();
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = finconnect_host(&sandbox);
    let ipn_id = register_ipn(&host);
    sandbox.clear_requests();
    host.clear_outbound_log();

    // The composed component runs with the same variables and allow-list.
    let shop = host.load_component(&composed).unwrap();
    assert!(
        shop.exported_functions().iter().any(|f| f == CHECKOUT),
        "exports: {:?}",
        shop.exported_functions()
    );
    let results = shop
        .call_blocking(
            CHECKOUT,
            &strings(&["shop-order-1", "1500.00", "buyer@example.com", &ipn_id]),
        )
        .unwrap();
    let url = checkout_result(&results).expect("checkout succeeded");

    assert_eq!(
        provider_calls(&sandbox),
        [format!("POST {TOKEN_PATH}"), format!("POST {SUBMIT_PATH}")],
        "the token call, then the order"
    );
    let submit = &sandbox.requests()[1];
    assert!(
        submit
            .header("authorization")
            .is_some_and(|v| v.starts_with("Bearer ")),
        "the order carries the token"
    );
    let orders = sandbox.pesapal_orders();
    let [order] = orders.as_slice() else {
        panic!("expected one order, got {orders:?}");
    };
    assert_eq!(order.merchant_reference, "shop-order-1");
    assert_eq!(order.amount, "1500.00");
    assert_eq!(order.currency, "KES");
    assert_eq!(order.notification_id, ipn_id);
    assert_eq!(order.email_address.as_deref(), Some("buyer@example.com"));
    assert_eq!(
        url,
        format!(
            "{}/pesapaliframe/PesapalIframe3/Index?OrderTrackingId={}",
            sandbox.origin(),
            order.order_tracking_id
        ),
        "PesaPal's redirect URL came back through the shop"
    );
    let outbound = host.outbound_log();
    assert_eq!(outbound.len(), 2);
    assert!(outbound.iter().all(|r| r.allowed));
}

#[test]
fn wac_composed_shop_passes_finconnect_validation_errors_on_without_calling_pesapal() {
    let composed = composed_wasm();
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = finconnect_host(&sandbox);
    let shop = host.load_component(&composed).unwrap();

    let results = shop
        .call_blocking(
            CHECKOUT,
            &strings(&[
                "shop-order-2",
                "fifteen",
                "buyer@example.com",
                "00000000-0000-0000-0000-000000000000",
            ]),
        )
        .unwrap();
    let error = checkout_result(&results).expect_err("an invalid amount");
    assert!(
        error.starts_with("invalid request: ") && error.contains("amount"),
        "{error}"
    );
    assert!(provider_calls(&sandbox).is_empty());
}

#[test]
fn wac_composed_shop_serves_http_under_the_spin_dependency_manifest() {
    let composed = composed_wasm();
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let ipn_id = register_ipn(&finconnect_host(&sandbox));
    sandbox.clear_requests();

    // Variables and allowed_outbound_hosts resolved from the example's
    // spin.toml as `spin up` would, for the shop: what FinConnect inherits
    // when Spin plugs it in as the shop's dependency.
    let host = Host::builder(&composed)
        .manifest(Path::new(ROOT).join("examples/spin-dependency/spin.toml"))
        .component("shop")
        .read_environment(false)
        .app_variable("pesapal_origin", sandbox.origin())
        .app_variable("pesapal_consumer_key", SANDBOX_KEY)
        .app_variable("pesapal_consumer_secret", SANDBOX_SECRET)
        .build()
        .unwrap();
    let form =
        format!("order_id=shop-order-3&amount=99.50&email=buyer%40example.com&ipn_id={ipn_id}");
    let addr = common::serve(&host);
    let response = common::http_over_tcp(
        addr,
        "POST",
        "/checkout",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    let body = response.text();

    assert_eq!(response.status, 303, "{body}");
    let orders = sandbox.pesapal_orders();
    let [order] = orders.as_slice() else {
        panic!("expected one order, got {orders:?}");
    };
    let expected = format!(
        "{}/pesapaliframe/PesapalIframe3/Index?OrderTrackingId={}",
        sandbox.origin(),
        order.order_tracking_id
    );
    assert_eq!(response.header("location"), Some(expected.as_str()));
    assert_eq!(body.trim_end(), expected);
    assert_eq!(order.amount, "99.50");
    assert_eq!(order.email_address.as_deref(), Some("buyer@example.com"));
    assert_eq!(
        provider_calls(&sandbox),
        [format!("POST {TOKEN_PATH}"), format!("POST {SUBMIT_PATH}")]
    );
    assert!(host.outbound_log().iter().all(|r| r.allowed));
}
