//! Composition: the example consumer `examples/shop` (it imports
//! `finconnect:payments/api@0.1.0`), plugged with FinConnect by
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

use finconnect_host::compose::Val;
use finconnect_host::{Host, IpnRequest, NotificationType, Provider};
use finconnect_sandbox::{Sandbox, SandboxConfig};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CHECKOUT: &str = "demo:shop/checkout@0.1.0#checkout";
const SANDBOX_KEY: &str = "sandbox-pesapal-key";
const SANDBOX_SECRET: &str = "sandbox-pesapal-secret";
const TOKEN_PATH: &str = "/pesapalv3/api/Auth/RequestToken";
const SUBMIT_PATH: &str = "/pesapalv3/api/Transactions/SubmitOrderRequest";

/// FinConnect's component.
fn finconnect_wasm() -> PathBuf {
    let path = std::env::var_os("FINCONNECT_WASM").map_or_else(
        || Path::new(ROOT).join("target/wasm32-wasip2/release/finconnect.wasm"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "FinConnect's component {} is missing: build it with \
         `cargo build --target wasm32-wasip2 --release` (or set FINCONNECT_WASM)",
        path.display()
    );
    path
}

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
    let request = IpnRequest {
        url: "https://shop.example/notifications/pesapal".to_owned(),
        notification_type: NotificationType::Get,
    };
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

fn provider_calls(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
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
    let addr = serve(host.clone());
    let response = post_form(addr, "/checkout", &form);
    let body = response.body.clone();

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

/// Serves `host` over HTTP on a free loopback port, on the host crate's
/// runtime, for the rest of the test process.
fn serve(host: Host) -> SocketAddr {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap();
    std::thread::spawn(move || finconnect_host::block_on(host.serve(addr)));
    addr
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 form POST over a plain socket (waits for the server to listen).
fn post_form(addr: SocketAddr, path: &str, form: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => panic!("the host does not listen on {addr}: {err}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: body.to_owned(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(body);
    }
    response
}

/// The payload of a `transfer-encoding: chunked` body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .expect("a hexadecimal chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = after[size..]
            .strip_prefix("\r\n")
            .expect("CRLF after a chunk");
    }
}
