//! Helpers shared by the component suites (`wit_api`, `http_api`, `host_smoke`, `token_cache`,
//! `reliability`): where the built component is, a host pointed at a
//! loopback sandbox, requests through the HTTP face in process and over TCP,
//! and readers for problems and the sandbox's request log.
//!
//! [`receiver`] runs the merchant's webhook endpoint (Node and the reference
//! Standard Webhooks verifier) for the suites that check webhooks.
//!
//! Every host of a test binary shares one compilation of the component: the
//! host caches compiled components per file, and [`build`] builds hosts one
//! at a time so that the first compilation is not done twice by tests
//! running in parallel.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "shared by several test binaries, each using a part; tests fail loudly"
)]

pub mod receiver;

use finconnect_host::{
    Customer, Host, HostBuilder, IpnRequest, NotificationType, PaymentMethod, PaymentRequest,
    Provider, http,
};
use finconnect_sandbox::{RecordedRequest, Sandbox, SandboxConfig};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The merchant key the suites' hosts expect.
pub const API_KEY: &str = "suite-merchant-key-5b1d";
/// A syntactically valid PesaPal `notification_id` the sandbox never issued.
pub const SOME_GUID: &str = "1da86d1c-1e8c-4183-bdfd-dd759463e4ce";

pub const PESAPAL_TOKEN: &str = "/pesapalv3/api/Auth/RequestToken";
pub const PESAPAL_REGISTER_IPN: &str = "/pesapalv3/api/URLSetup/RegisterIPN";
pub const PESAPAL_SUBMIT: &str = "/pesapalv3/api/Transactions/SubmitOrderRequest";
pub const PESAPAL_STATUS: &str = "/pesapalv3/api/Transactions/GetTransactionStatus";
pub const CLICKPESA_TOKEN: &str = "/third-parties/generate-token";
pub const CLICKPESA_PUSH: &str = "/third-parties/payments/initiate-ussd-push-request";

// ----- the component files -----

fn wasm(variable: &str, default: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{variable} = {} does not exist",
                path.display()
            );
            Some(path)
        }
        None => Some(Path::new(ROOT).join(default)).filter(|path| path.is_file()),
    }
}

/// `FINCONNECT_WASM`, or the default release build.
pub fn finconnect_wasm() -> PathBuf {
    wasm(
        "FINCONNECT_WASM",
        "target/wasm32-wasip2/release/finconnect.wasm",
    )
    .unwrap_or_else(|| {
        panic!(
            "the component target/wasm32-wasip2/release/finconnect.wasm is missing: run the \
             tests with `cargo xtask test`, or build it with `cargo xtask build`"
        )
    })
}

/// `FINCONNECT_WASM_SPIN_VARIABLES`, or the default spin-variables build, if built.
pub fn spin_variables_wasm() -> Option<PathBuf> {
    wasm(
        "FINCONNECT_WASM_SPIN_VARIABLES",
        "target/spin-variables/wasm32-wasip2/release/finconnect.wasm",
    )
}

/// `FINCONNECT_WASM_TOKEN_CACHE`, or the default token-cache build, if built.
pub fn token_cache_wasm() -> Option<PathBuf> {
    wasm(
        "FINCONNECT_WASM_TOKEN_CACHE",
        "target/token-cache/wasm32-wasip2/release/finconnect.wasm",
    )
}

/// `FINCONNECT_WASM_STORE_ONLY`, or the default keyvalue-store-only build, if built.
pub fn store_only_wasm() -> Option<PathBuf> {
    wasm(
        "FINCONNECT_WASM_STORE_ONLY",
        "target/keyvalue-store-only/wasm32-wasip2/release/finconnect.wasm",
    )
}

// ----- hosts and sandboxes -----

/// FinConnect as `spin up` runs it from the project's spin.toml, both
/// providers pointed at `sandbox` with the credentials of `config` (what the
/// sandbox accepts), the merchant key [`API_KEY`].
pub fn builder_for(wasm: &Path, sandbox: &Sandbox, config: &SandboxConfig) -> HostBuilder {
    Host::builder(wasm)
        .manifest(Path::new(ROOT).join("spin.toml"))
        .read_environment(false)
        .app_variable("pesapal_origin", sandbox.origin())
        .app_variable("clickpesa_origin", sandbox.origin())
        .app_variable("pesapal_consumer_key", &config.pesapal_consumer_key)
        .app_variable("pesapal_consumer_secret", &config.pesapal_consumer_secret)
        .app_variable("clickpesa_client_id", &config.clickpesa_client_id)
        .app_variable("clickpesa_api_key", &config.clickpesa_api_key)
        .app_variable("mpesa_origin", sandbox.origin())
        .app_variable(
            "mpesa_path",
            Sandbox::path(finconnect_core::Provider::Mpesa),
        )
        .app_variable("mpesa_consumer_key", &config.mpesa_consumer_key)
        .app_variable("mpesa_consumer_secret", &config.mpesa_consumer_secret)
        .app_variable("mpesa_passkey", &config.mpesa_passkey)
        .app_variable("mpesa_shortcode", &config.mpesa_shortcode)
        .app_variable("finconnect_api_key", API_KEY)
}

/// [`builder_for`] with the default component and the sandbox's own configuration.
pub fn builder(sandbox: &Sandbox) -> HostBuilder {
    builder_for(&finconnect_wasm(), sandbox, &sandbox.config())
}

/// Builds hosts one at a time: the first build of a binary compiles the
/// component, the others reuse that compilation.
pub fn build(builder: HostBuilder) -> Host {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    builder.build().expect("the host builds")
}

/// A sandbox with default credentials and a host pointed at it.
pub fn start() -> (Sandbox, Host) {
    start_with(SandboxConfig::default(), |b| b)
}

/// A sandbox with `config` and a host pointed at it, adjusted by `adjust`.
pub fn start_with(
    config: SandboxConfig,
    adjust: impl FnOnce(HostBuilder) -> HostBuilder,
) -> (Sandbox, Host) {
    let sandbox = Sandbox::start(config).expect("the sandbox starts");
    let host = build(adjust(builder(&sandbox)));
    (sandbox, host)
}

/// An origin on loopback where nothing listens (connections are refused).
pub fn closed_origin() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// An IPN URL on loopback where nothing listens: a settle in a test
/// delivers nowhere, and never off loopback.
pub fn unused_ipn_url() -> String {
    format!("{}/notifications/pesapal", closed_origin())
}

/// The provider's name as the HTTP API writes it.
pub fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Pesapal => "pesapal",
        Provider::Clickpesa => "clickpesa",
        Provider::Mpesa => "mpesa",
    }
}

// ----- WIT requests -----

pub fn pesapal_payment(reference: &str, ipn_id: &str) -> PaymentRequest {
    PaymentRequest {
        reference: reference.to_owned(),
        amount: "1500.00".to_owned(),
        currency: "KES".to_owned(),
        description: Some(format!("Order {reference}")),
        customer: Customer {
            email: Some("jane@example.com".to_owned()),
            phone: None,
            first_name: Some("Jane".to_owned()),
            last_name: Some("Doe".to_owned()),
            country_code: Some("KE".to_owned()),
        },
        callback_url: Some("https://shop.example/return".to_owned()),
        cancellation_url: None,
        notification_id: Some(ipn_id.to_owned()),
        method: None,
        branch: None,
        redirect_mode: None,
        subscription: None,
    }
}

pub fn clickpesa_payment(reference: &str) -> PaymentRequest {
    PaymentRequest {
        reference: reference.to_owned(),
        amount: "1000".to_owned(),
        currency: "TZS".to_owned(),
        description: None,
        customer: Customer {
            email: None,
            phone: Some("255712345678".to_owned()),
            first_name: None,
            last_name: None,
            country_code: None,
        },
        callback_url: None,
        cancellation_url: None,
        notification_id: None,
        method: Some(PaymentMethod::MobileMoney),
        branch: None,
        redirect_mode: None,
        subscription: None,
    }
}

pub fn ipn_request(url: &str, notification_type: NotificationType) -> IpnRequest {
    IpnRequest {
        url: url.to_owned(),
        notification_type,
    }
}

// ----- JSON bodies for the HTTP API -----

/// Registers a GET IPN at a URL nobody serves; returns its id.
pub fn register_pesapal_ipn(host: &Host) -> String {
    let reply = post(
        host,
        "/ipn-registrations",
        &ipn_body(&unused_ipn_url(), "GET"),
    );
    assert_eq!(reply.status, 201, "{reply}");
    reply.json()["ipn_id"].as_str().unwrap().to_owned()
}

pub fn pesapal_body(reference: &str, ipn_id: &str) -> serde_json::Value {
    serde_json::json!({
        "provider": "pesapal",
        "reference": reference,
        "amount": "1500.00",
        "currency": "KES",
        "description": format!("Order {reference}"),
        "callback_url": "https://shop.example/return",
        "notification_id": ipn_id,
        "customer": {"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe", "country_code": "KE"},
    })
}

pub fn clickpesa_body(reference: &str) -> serde_json::Value {
    serde_json::json!({
        "provider": "clickpesa",
        "reference": reference,
        "amount": "1000",
        "currency": "TZS",
        "method": "mobile_money",
        "customer": {"phone": "255712345678"},
    })
}

pub fn ipn_body(url: &str, notification_type: &str) -> serde_json::Value {
    serde_json::json!({"provider": "pesapal", "url": url, "notification_type": notification_type})
}

// ----- the HTTP face in process -----

/// A response, its body kept as bytes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| panic!("not JSON ({err}): {self}"))
    }

    /// The problem document; asserts the content type and the `status` member.
    pub fn problem(&self) -> serde_json::Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self}"
        );
        let problem = self.json();
        assert_eq!(problem["status"], self.status, "{self}");
        problem
    }

    /// Status line, headers and body, as text (for assertion messages and leak checks).
    pub fn everything(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP {}", self.status)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        write!(f, "\n{}", self.text())
    }
}

impl From<http::Response<Vec<u8>>> for Reply {
    fn from(response: http::Response<Vec<u8>>) -> Self {
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
        }
    }
}

/// Sends a request through the component's HTTP handler; a trap fails the test.
pub fn send(host: &Host, request: http::Request<Vec<u8>>) -> Reply {
    let what = format!("{} {}", request.method(), request.uri());
    host.handle_blocking(request)
        .unwrap_or_else(|err| panic!("{what}: the host failed (trap?): {err:#}"))
        .into()
}

/// `method path` with an optional JSON body and merchant key.
pub fn request(
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    key: Option<&str>,
) -> http::Request<Vec<u8>> {
    let mut builder = http::Request::builder().method(method).uri(path);
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    let bytes = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            body.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    builder.body(bytes).unwrap()
}

/// An authorised `POST path` with a JSON body.
pub fn post(host: &Host, path: &str, body: &serde_json::Value) -> Reply {
    send(host, request("POST", path, Some(body), Some(API_KEY)))
}

/// An authorised `GET path`.
pub fn get(host: &Host, path: &str) -> Reply {
    send(host, request("GET", path, None, Some(API_KEY)))
}

// ----- the ledger's events -----

/// `GET /events?after=<after>&limit=1000`: the events, in order.
pub fn events(host: &Host, after: u64) -> Vec<serde_json::Value> {
    let reply = get(host, &format!("/events?after={after}&limit=1000"));
    assert_eq!(reply.status, 200, "{reply}");
    reply.json()["data"].as_array().cloned().unwrap_or_default()
}

/// Each event as `"<type> <payment reference>"`.
pub fn kinds(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            format!(
                "{} {}",
                event["type"].as_str().unwrap_or_default(),
                event["payment"]["reference"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

// ----- the sandbox's view -----

/// `METHOD /path` of every provider request the sandbox received.
pub fn provider_calls(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

pub fn is_token_call(request: &RecordedRequest) -> bool {
    request.path == PESAPAL_TOKEN || request.path == CLICKPESA_TOKEN
}

/// The token each API call carried, as sent in `Authorization` (PesaPal:
/// after `Bearer `; ClickPesa: the whole value, which ClickPesa issues
/// with its `Bearer ` prefix), and the bare JWTs inside them.
pub fn tokens_seen(sandbox: &Sandbox) -> Vec<String> {
    let mut tokens = Vec::new();
    for request in sandbox.requests() {
        if let Some(value) = request.header("authorization") {
            tokens.push(value.to_owned());
            let bare = value.trim_start_matches("Bearer ").trim();
            if !bare.is_empty() {
                tokens.push(bare.to_owned());
            }
        }
    }
    tokens
}

// ----- real TCP -----

/// Serves `host` on a free loopback port from a thread of its own; returns
/// once the port accepts connections.
pub fn serve(host: &Host) -> SocketAddr {
    for _ in 0..5 {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap();
        let server = host.clone();
        let thread = std::thread::spawn(move || finconnect_host::block_on(server.serve(addr)));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !thread.is_finished() {
            if TcpStream::connect(addr).is_ok() {
                return addr;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The port was taken in between (serve returned an error): try another.
    }
    panic!("could not serve the host on a loopback port");
}

/// One HTTP/1.1 exchange over a plain socket (`connection: close`); the
/// body is de-chunked.
pub fn http_over_tcp(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|err| panic!("{addr}: {err}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
        raw = &raw[end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Whether `haystack` contains any of `needles` (the first one found).
pub fn find_any<'a>(haystack: &str, needles: &'a [String]) -> Option<&'a str> {
    needles
        .iter()
        .filter(|needle| !needle.is_empty())
        .find(|needle| haystack.contains(needle.as_str()))
        .map(String::as_str)
}

/// Sets ClickPesa's canonical `checksum` on a webhook body written with
/// serde_json (the core's checksum reads its own `checksum::Value`, whose
/// numbers keep their exact text).
pub fn sign_clickpesa(key: &[u8], body: &mut serde_json::Value) {
    use finconnect_core::providers::clickpesa::checksum;
    let tree = checksum::Value::parse(&serde_json::to_vec(body).unwrap()).unwrap();
    body["checksum"] = serde_json::Value::String(checksum::compute(key, &tree).unwrap());
}

/// A 503 with problem `code` whose detail says every one of `phrases`.
fn assert_unavailable(reply: &Reply, code: &str, phrases: &[&str]) {
    assert_eq!(reply.status, 503, "{reply}");
    let problem = reply.json();
    assert_eq!(problem["code"], code, "{reply}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        phrases.iter().all(|phrase| detail.contains(phrase)),
        "{reply}"
    );
}

/// What FinConnect answers, with `finconnect_ledger = off`, to a route or a
/// header that needs the ledger: 503 `not_configured` naming the variable.
pub fn assert_needs_the_ledger(reply: &Reply) {
    assert_unavailable(
        reply,
        "not_configured",
        &["needs the ledger", "`finconnect_ledger` is `off`"],
    );
}

/// What FinConnect answers, with its ledger on, when the manifest grants
/// no key-value store: 503 `ledger_unavailable` saying what to add.
pub fn assert_store_not_granted(reply: &Reply) {
    assert_unavailable(
        reply,
        "ledger_unavailable",
        &["not granted", "key_value_stores = [\"default\"]"],
    );
}
