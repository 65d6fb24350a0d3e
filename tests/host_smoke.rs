//! The built component in the wasmtime host (`finconnect-host`), against the
//! provider sandbox on loopback: its interface, one payment through each
//! face, and the Spin behaviours the host reproduces (variables from
//! `spin.toml`, `allowed_outbound_hosts`).
//!
//! The component is `FINCONNECT_WASM` (default
//! `target/wasm32-wasip2/release/finconnect.wasm`); `cargo xtask test` builds
//! it and sets the variable. The `spin-variables` build is
//! `FINCONNECT_WASM_SPIN_VARIABLES` (default
//! `target/spin-variables/wasm32-wasip2/release/finconnect.wasm`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use finconnect_host::{
    ApiError, Host, IpnRequest, NotificationType, PaymentStatus, Provider, http,
};
use finconnect_sandbox::{Sandbox, SandboxConfig};
use std::path::Path;

mod common;

use common::{
    API_KEY, PESAPAL_REGISTER_IPN as REGISTER_IPN_PATH, PESAPAL_SUBMIT as SUBMIT_PATH,
    PESAPAL_TOKEN as TOKEN_PATH, ROOT, finconnect_wasm,
};

/// FinConnect as `spin up` would run it from the project's spin.toml, with
/// the sandbox's origin and credentials set as application variables.
fn host_for(wasm: &Path, sandbox: &Sandbox) -> finconnect_host::HostBuilder {
    common::builder_for(wasm, sandbox, &SandboxConfig::default())
}

/// The IPN registration every test here uses.
fn ipn_request() -> IpnRequest {
    common::ipn_request(
        "https://shop.example/notifications/pesapal",
        NotificationType::Get,
    )
}

/// Registers an IPN and pays through the WIT exports; checks what reached the sandbox.
fn pay_through_the_wit_exports(host: &Host, sandbox: &Sandbox) {
    let ipn = host
        .register_ipn_blocking(Provider::Pesapal, &ipn_request())
        .expect("register-ipn ran")
        .expect("PesaPal registered the IPN");
    assert!(!ipn.ipn_id.is_empty());
    assert_eq!(
        common::provider_calls(sandbox),
        [
            format!("POST {TOKEN_PATH}"),
            format!("POST {REGISTER_IPN_PATH}")
        ]
    );
    sandbox.clear_requests();
    host.clear_outbound_log();

    let payment = host
        .pay_blocking(
            Provider::Pesapal,
            &common::pesapal_payment("ORDER-1001", &ipn.ipn_id),
        )
        .expect("pay ran")
        .expect("PesaPal accepted the order");

    let orders = sandbox.pesapal_orders();
    let [order] = orders.as_slice() else {
        panic!("expected one order, got {orders:?}")
    };
    assert_eq!(payment.provider, Provider::Pesapal);
    assert_eq!(payment.reference, "ORDER-1001");
    assert_eq!(payment.tracking_id, order.order_tracking_id);
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert!(
        payment
            .redirect_url
            .as_deref()
            .is_some_and(|url| url.starts_with(&sandbox.origin()))
    );
    assert_eq!(order.amount, "1500.00");
    assert_eq!(order.notification_id, ipn.ipn_id);

    assert_eq!(
        common::provider_calls(sandbox),
        [format!("POST {TOKEN_PATH}"), format!("POST {SUBMIT_PATH}")]
    );
    let outbound = host.outbound_log();
    assert_eq!(outbound.len(), 2, "{outbound:?}");
    assert!(
        outbound
            .iter()
            .all(|r| r.allowed && r.uri.starts_with(&sandbox.pesapal_base_url()))
    );
    assert!(
        outbound[1]
            .header("authorization")
            .is_some_and(|v| v.starts_with("Bearer "))
    );

    let output = host.guest_output();
    for secret in [
        SandboxConfig::default().pesapal_consumer_secret,
        API_KEY.to_owned(),
    ] {
        assert!(
            !output.contains(&secret),
            "the component printed a secret: {output}"
        );
    }
}

#[test]
fn the_component_imports_only_wasi_and_exports_the_api_and_the_http_handler() {
    let host = Host::builder(finconnect_wasm())
        .read_environment(false)
        .build()
        .unwrap();
    let ty = host.component().component_type();
    let imports: Vec<&str> = ty.imports(host.engine()).map(|(name, _)| name).collect();
    assert!(!imports.is_empty());
    let foreign: Vec<&&str> = imports
        .iter()
        .filter(|name| !name.starts_with("wasi:"))
        .collect();
    assert!(
        foreign.is_empty(),
        "imports outside wasi:*: {foreign:?} (all: {imports:?})"
    );
    assert!(
        imports.contains(&"wasi:config/store@0.2.0-draft-2024-09-27"),
        "{imports:?}"
    );

    let exports: Vec<&str> = ty.exports(host.engine()).map(|(name, _)| name).collect();
    for wanted in [
        "finconnect:payments/api@0.2.0",
        "finconnect:payments/types@0.2.0",
        "finconnect:payments/notifications@0.2.0",
        "finconnect:payments/payouts@0.2.0",
    ] {
        assert!(
            exports.contains(&wanted),
            "{wanted} is not exported: {exports:?}"
        );
    }
    assert!(
        exports
            .iter()
            .any(|name| name.starts_with("wasi:http/incoming-handler@0.2.")),
        "no wasi:http/incoming-handler@0.2.x export: {exports:?}"
    );
}

#[test]
fn pay_pesapal_through_the_wit_exports_against_the_sandbox() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host_for(&finconnect_wasm(), &sandbox).build().unwrap();
    pay_through_the_wit_exports(&host, &sandbox);
}

#[test]
fn the_spin_variables_build_runs_with_spins_variables_interface() {
    let Some(wasm) = common::spin_variables_wasm() else {
        eprintln!(
            "skipped: no spin-variables build (run `cargo xtask test`, which builds it and sets \
             FINCONNECT_WASM_SPIN_VARIABLES)"
        );
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host_for(&wasm, &sandbox).build().unwrap();
    let ty = host.component().component_type();
    let imports: Vec<&str> = ty.imports(host.engine()).map(|(name, _)| name).collect();
    assert!(
        imports.contains(&"fermyon:spin/variables@2.0.0"),
        "{imports:?}"
    );
    pay_through_the_wit_exports(&host, &sandbox);
}

#[test]
fn the_client_resource_keeps_one_instance_for_several_calls() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host_for(&finconnect_wasm(), &sandbox).build().unwrap();
    finconnect_host::block_on(async {
        let mut client = host.client(Provider::Pesapal).await.unwrap();
        let ipn = client.register_ipn(&ipn_request()).await.unwrap().unwrap();
        let payment = client
            .pay(&common::pesapal_payment("ORDER-2002", &ipn.ipn_id))
            .await
            .unwrap()
            .unwrap();
        let details = client
            .payment_status(&payment.tracking_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(details.provider, Provider::Pesapal);
        assert_eq!(details.status, PaymentStatus::Pending);
        client.close().await.unwrap();
    })
    .unwrap();
}

#[test]
fn a_missing_credential_is_a_configuration_error_naming_it() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host_for(&finconnect_wasm(), &sandbox)
        .unset_component_variable("pesapal_consumer_key")
        .build()
        .unwrap();
    let result = host
        .register_ipn_blocking(Provider::Pesapal, &ipn_request())
        .unwrap();
    match result {
        Err(ApiError::Configuration(error)) => {
            assert_eq!(error.variable, "pesapal_consumer_key", "{error:?}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert!(
        sandbox.requests().is_empty(),
        "no provider call without credentials"
    );
}

#[test]
fn requests_outside_allowed_outbound_hosts_are_denied_like_spin_does() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    // The base URL points at the sandbox, but pesapal_origin (the allow-list)
    // still says PesaPal's sandbox: the request must not leave.
    let config = SandboxConfig::default();
    let host = Host::builder(finconnect_wasm())
        .manifest(Path::new(ROOT).join("spin.toml"))
        .read_environment(false)
        .app_variable("pesapal_consumer_key", config.pesapal_consumer_key)
        .app_variable("pesapal_consumer_secret", config.pesapal_consumer_secret)
        .component_variable("pesapal_base_url", Some(&sandbox.pesapal_base_url()))
        .build()
        .unwrap();
    let result = host
        .register_ipn_blocking(Provider::Pesapal, &ipn_request())
        .unwrap();
    assert!(
        matches!(result, Err(ApiError::Transport(_))),
        "a denied request is a transport error, got {result:?}"
    );
    assert!(
        sandbox.requests().is_empty(),
        "the sandbox saw {:?}",
        common::provider_calls(&sandbox)
    );
    let outbound = host.outbound_log();
    assert_eq!(outbound.len(), 1, "{outbound:?}");
    assert!(!outbound[0].allowed);
}

/// `finconnect-host up` keeps no record of outbound requests: it would grow
/// with every payment and hold the provider's credentials. The calls still
/// go out; a host built the default way (as tests build it) records them.
#[test]
fn a_host_built_not_to_record_outbound_requests_keeps_none() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let register = |host: &Host| {
        host.register_ipn_blocking(Provider::Pesapal, &ipn_request())
            .unwrap()
            .expect("PesaPal registered the IPN");
    };
    let silent = host_for(&finconnect_wasm(), &sandbox)
        .record_outbound(false)
        .build()
        .unwrap();
    register(&silent);
    assert_eq!(common::provider_calls(&sandbox).len(), 2);
    assert!(
        silent.outbound_log().is_empty(),
        "{:?}",
        silent.outbound_log()
    );

    let recording = host_for(&finconnect_wasm(), &sandbox).build().unwrap();
    register(&recording);
    let outbound = recording.outbound_log();
    assert_eq!(outbound.len(), 2, "{outbound:?}");
    assert!(outbound.iter().all(|request| request.allowed));
}

#[test]
fn pay_pesapal_through_the_http_api_in_process() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host_for(&finconnect_wasm(), &sandbox).build().unwrap();
    let post = |path: &str, body: serde_json::Value, key: Option<&str>| {
        let mut request = http::Request::post(path).header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        host.handle_blocking(request.body(body.to_string().into_bytes()).unwrap())
            .unwrap()
    };
    let json = |response: &http::Response<Vec<u8>>| -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap_or_else(|err| {
            panic!(
                "not JSON ({err}): {}",
                String::from_utf8_lossy(response.body())
            )
        })
    };

    let ipn = serde_json::json!({
        "provider": "pesapal",
        "url": "http://127.0.0.1:3000/notifications/pesapal",
        "notification_type": "GET",
    });
    let unauthorized = post("/ipn-registrations", ipn.clone(), None);
    assert_eq!(unauthorized.status(), 401);
    assert!(sandbox.requests().is_empty());

    let registered = post("/ipn-registrations", ipn, Some(API_KEY));
    assert_eq!(registered.status(), 201, "{}", json(&registered));
    let ipn_id = json(&registered)["ipn_id"].as_str().unwrap().to_owned();

    let created = post(
        "/payments",
        serde_json::json!({
            "provider": "pesapal",
            "reference": "ORDER-3003",
            "amount": "1500.00",
            "currency": "KES",
            "description": "Order 3003",
            "callback_url": "https://shop.example/return",
            "notification_id": ipn_id,
            "customer": {"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe", "country_code": "KE"},
        }),
        Some(API_KEY),
    );
    assert_eq!(created.status(), 201, "{}", json(&created));
    let payment = json(&created);
    let orders = sandbox.pesapal_orders();
    let [order] = orders.as_slice() else {
        panic!("expected one order, got {orders:?}")
    };
    assert_eq!(payment["tracking_id"], order.order_tracking_id.as_str());
    assert_eq!(payment["status"], "pending");
}

#[test]
fn serve_answers_over_tcp() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = host_for(&finconnect_wasm(), &sandbox)
        .pooling(true)
        .build()
        .unwrap();
    let addr = common::serve(&host);

    let reply = common::http_over_tcp(addr, "GET", "/payments/pesapal/no-such-order", &[], b"");
    assert_eq!(
        reply.status, 401,
        "merchant routes need the API key: {reply}"
    );
    let reply = common::http_over_tcp(addr, "GET", "/no-such-route", &[], b"");
    assert_eq!(reply.status, 404, "{reply}");
}
