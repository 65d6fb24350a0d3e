//! FinConnect's benchmark and load test, on loopback only: the component in
//! the wasmtime host against the provider sandbox, and the same core compiled
//! natively for comparison.
//!
//! Run it through xtask, which builds the release components first:
//!
//! ```text
//! cargo xtask bench                        the table (latency, instantiation, req/s, token cache, size)
//! cargo xtask load [--count N] [--concurrency C] [--max-seconds S]
//!                                          N PesaPal pays over POST /payments (default 10000, 32, 600)
//! cargo xtask bench --peers [--rounds N]   FinConnect against Node, Spin, a minimal component
//!                                          and the floor (perf/peers.rs; default 5 rounds)
//! cargo xtask bench --ledger [--rounds N]  the payment ledger's cost: the component with it
//!                                          against the one without it, store in memory and in
//!                                          SQLite, key-value operations per pay (perf/ledger.rs)
//! cargo xtask bench --fuel                 the guest's work per request, in fuel (perf/fuel.rs)
//! ```
//!
//! Every loop is bounded in count and in time; nothing leaves 127.0.0.1.
//! This is a benchmark, not a test: `cargo test` does not build or run it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a benchmark binary reports on stdout and fails loudly"
)]

use anyhow::{Context as _, bail};
use bytes::Bytes;
use finconnect_core::flow::Finconnect;
use finconnect_core::transport::{HttpRequest, HttpResponse, Transport, TransportError, split_url};
use finconnect_host::{Customer, Host, IpnRequest, NotificationType, PaymentRequest, Provider};
use finconnect_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig, Target};
use http_body_util::{BodyExt as _, Full};
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::io::TokioIo;

#[path = "perf/fuel.rs"]
mod fuel;
#[path = "perf/ledger.rs"]
mod ledger;
#[path = "perf/peers.rs"]
mod peers;

/// The workspace root (this file is in `crates/host/benches`).
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const API_KEY: &str = "bench-api-key";

/// Sequential pays per side for the latency comparison.
const LATENCY_PAYS: usize = 1_000;
/// Rounds the latency pays are split into, alternating component and native.
const LATENCY_ROUNDS: usize = 10;
/// What the sandbox waits before each provider answer in the second comparison.
const PROVIDER_DELAY: Duration = Duration::from_millis(20);
/// Sequential pays per side with that delay.
const DELAYED_PAYS: usize = 200;
/// Instantiations per allocator.
const INSTANTIATIONS: usize = 2_000;
/// Requests per concurrency level for the req/s figures.
const RPS_REQUESTS: usize = 1_000;
/// Warm pays per token-cache setting.
const CACHE_PAYS: usize = 300;
/// No phase of the benchmark runs longer than this.
const PHASE_LIMIT: Duration = Duration::from_secs(180);
/// One request of the load client gives up after this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("perf: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    load: bool,
    /// `--load --spin`: drive `spin up` (Spin's SQLite store) instead of the host.
    spin: bool,
    /// `--load --spin --redis`: with the key-value store in a throwaway redis-server.
    redis: bool,
    /// `--load --spin --static-variables`: Spin's variables from a static
    /// provider in its runtime configuration instead of `SPIN_VARIABLE_*`.
    static_variables: bool,
    peers: bool,
    ledger: bool,
    /// `--fuel`: the guest's work per request (needs `FINCONNECT_HOST_FUEL=1`).
    fuel: bool,
    rounds: usize,
    profile_pays: Option<usize>,
    count: usize,
    concurrency: usize,
    max_seconds: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        load: false,
        spin: false,
        redis: false,
        static_variables: false,
        peers: false,
        ledger: false,
        fuel: false,
        rounds: 5,
        profile_pays: None,
        count: 10_000,
        concurrency: 32,
        max_seconds: 600,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> anyhow::Result<u64> {
            args.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            "--load" => options.load = true,
            "--spin" => options.spin = true,
            "--redis" => options.redis = true,
            "--static-variables" => options.static_variables = true,
            "--peers" => options.peers = true,
            "--ledger" => options.ledger = true,
            "--fuel" => options.fuel = true,
            "--rounds" => options.rounds = usize::try_from(number("--rounds")?)?,
            "--profile-pays" => {
                options.profile_pays = Some(usize::try_from(number("--profile-pays")?)?);
            }
            "--count" => options.count = usize::try_from(number("--count")?)?,
            "--concurrency" => options.concurrency = usize::try_from(number("--concurrency")?)?,
            "--max-seconds" => options.max_seconds = number("--max-seconds")?,
            other => bail!(
                "unknown argument {other:?} (expected --load [--spin [--redis] [--static-variables]], --count N, --concurrency C, --max-seconds S, --peers, --ledger, --fuel, --rounds N)"
            ),
        }
    }
    if options.count == 0 || options.count > 1_000_000 {
        bail!("--count must be 1 to 1000000");
    }
    if options.concurrency == 0 || options.concurrency > 256 {
        bail!("--concurrency must be 1 to 256");
    }
    if options.rounds == 0 || options.rounds > 20 {
        bail!("--rounds must be 1 to 20");
    }
    Ok(options)
}

fn run() -> anyhow::Result<()> {
    let options = options()?;
    let wasm = component_file(
        "FINCONNECT_WASM",
        "target/wasm32-wasip2/release/finconnect.wasm",
    )
    .context("no component: run `cargo xtask bench` (it builds the release component)")?;
    if options.load {
        load_test(&wasm, &options)
    } else if options.peers {
        peers::run(&wasm, options.rounds)
    } else if options.ledger {
        ledger::run(&wasm, options.rounds)
    } else if options.fuel {
        let baseline = std::env::var_os("FINCONNECT_WASM_BASELINE").map(PathBuf::from);
        fuel::run(&wasm, baseline.as_deref())
    } else if let Some(pays) = options.profile_pays {
        profile_pays(&wasm, pays)
    } else {
        benchmark(&wasm)
    }
}

fn component_file(variable: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join(default));
    path.is_file().then_some(path)
}

// ----- hosts, requests -----

/// FinConnect as the project's spin.toml runs it, pointed at the sandbox.
fn host(
    wasm: &Path,
    sandbox: &Sandbox,
    pooling: bool,
    cache: Option<&str>,
) -> anyhow::Result<Host> {
    host_builder(wasm, sandbox, pooling, cache).build()
}

/// [`host`] before it is built, for callers that change more (the key-value store).
fn host_builder(
    wasm: &Path,
    sandbox: &Sandbox,
    pooling: bool,
    cache: Option<&str>,
) -> finconnect_host::HostBuilder {
    let config = SandboxConfig::default();
    let mut builder = Host::builder(wasm)
        .manifest(Path::new(ROOT).join("spin.toml"))
        .read_environment(false)
        .pooling(pooling)
        .app_variable("pesapal_origin", sandbox.origin())
        .app_variable("clickpesa_origin", sandbox.origin())
        .app_variable("pesapal_consumer_key", config.pesapal_consumer_key)
        .app_variable("pesapal_consumer_secret", config.pesapal_consumer_secret)
        .app_variable("clickpesa_client_id", config.clickpesa_client_id)
        .app_variable("clickpesa_api_key", config.clickpesa_api_key)
        .app_variable("finconnect_api_key", API_KEY);
    if let Some(cache) = cache {
        builder = builder.app_variable("finconnect_token_cache", cache);
    }
    builder
}

/// Registers a PesaPal IPN through the component; returns its id.
fn register_ipn(host: &Host) -> anyhow::Result<String> {
    register_ipn_at(host, "https://shop.example/notifications/pesapal")
}

/// Registers a PesaPal IPN (GET) at `url` through the component; returns its id.
fn register_ipn_at(host: &Host, url: &str) -> anyhow::Result<String> {
    let registration = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &IpnRequest {
                url: url.to_owned(),
                notification_type: NotificationType::Get,
            },
        )?
        .map_err(|err| anyhow::anyhow!("register-ipn failed: {err:?}"))?;
    Ok(registration.ipn_id)
}

fn wit_request(reference: &str, ipn_id: &str) -> PaymentRequest {
    PaymentRequest {
        reference: reference.to_owned(),
        amount: "1500.00".to_owned(),
        currency: "KES".to_owned(),
        description: Some("Benchmark order".to_owned()),
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

fn core_request(reference: &str, ipn_id: &str) -> finconnect_core::PaymentRequest {
    finconnect_core::PaymentRequest {
        reference: reference.to_owned(),
        amount: "1500.00".to_owned(),
        currency: "KES".to_owned(),
        description: Some("Benchmark order".to_owned()),
        customer: finconnect_core::Customer {
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

/// `POST /payments` (PesaPal) through `host`'s HTTP face in this process,
/// with its `Content-Length` as a client sends it; anything but a 201 is an
/// error.
fn pay_in_process(
    host: &Host,
    reference: &str,
    ipn_id: &str,
) -> anyhow::Result<http::Response<Vec<u8>>> {
    let body = payment_body(reference, ipn_id).to_vec();
    let request = http::Request::post("/payments")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, format!("Bearer {API_KEY}"))
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)?;
    let response = finconnect_host::block_on(host.handle(request))??;
    if response.status() != http::StatusCode::CREATED {
        bail!(
            "pay {reference}: HTTP {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        );
    }
    Ok(response)
}

/// The JSON body of `POST /payments` for one PesaPal pay.
fn payment_body(reference: &str, ipn_id: &str) -> Bytes {
    let body = serde_json::json!({
        "provider": "pesapal",
        "reference": reference,
        "amount": "1500.00",
        "currency": "KES",
        "description": "Load test order",
        "callback_url": "https://shop.example/return",
        "notification_id": ipn_id,
        "customer": {"email": "jane@example.com", "first_name": "Jane", "last_name": "Doe", "country_code": "KE"},
    });
    Bytes::from(body.to_string())
}

// ----- the native baseline: the same core, a native HTTP client -----

/// `Transport` over hyper: a fresh connection per request, as
/// wasmtime-wasi-http's `default_send_request` does for the component (same
/// client library, no Nagle change, no connection reuse), on a tokio runtime
/// shaped like the host's (two workers; the connection runs as its own task).
struct NativeTransport {
    runtime: tokio::runtime::Runtime,
}

impl NativeTransport {
    fn new() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("perf-native")
            .enable_all()
            .build()?;
        Ok(Self { runtime })
    }
}

impl Transport for NativeTransport {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.runtime
            .block_on(async { tokio::time::timeout(REQUEST_TIMEOUT, native_send(request)).await })
            .map_err(|_| TransportError::Timeout("native request".to_owned()))?
            .map_err(|err| TransportError::Failed(format!("{err:#}")))
    }
}

/// Sends one core request over a fresh hyper connection and reads the
/// whole reply into the core's response type.
async fn native_send(request: HttpRequest) -> anyhow::Result<HttpResponse> {
    let parts = split_url(&request.url).context("the core builds absolute URLs")?;
    let authority: http::uri::Authority = parts.authority.parse()?;
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((authority.host(), port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let mut builder = http::Request::builder()
        .method(request.method.as_str())
        .uri(parts.path_with_query);
    for (name, value) in &request.headers {
        builder = builder.header(*name, value.as_str());
    }
    if request.header("host").is_none() {
        builder = builder.header(http::header::HOST, parts.authority);
    }
    let response = sender
        .send_request(builder.body(Full::new(Bytes::from(request.body)))?)
        .await?;
    let (head, body) = response.into_parts();
    let body = body.collect().await?.to_bytes().to_vec();
    drop(sender);
    connection.abort();
    let headers = head
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    Ok(HttpResponse {
        status: head.status.as_u16(),
        headers,
        body,
    })
}

// ----- statistics -----

#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    fn percentile(&self, q: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index from a fraction of a small length"
        )]
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn p50(&self) -> Duration {
        self.percentile(0.50)
    }

    fn p99(&self) -> Duration {
        self.percentile(0.99)
    }

    fn mean(&self) -> Duration {
        let total: Duration = self.0.iter().sum();
        total / u32::try_from(self.0.len().max(1)).unwrap_or(u32::MAX)
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn us(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

/// A table of two columns, printed as Markdown.
#[derive(Default)]
struct Table(Vec<(String, String)>);

impl Table {
    fn row(&mut self, what: impl Into<String>, value: impl Into<String>) {
        let (what, value) = (what.into(), value.into());
        eprintln!("perf: {what}: {value}");
        self.0.push((what, value));
    }

    fn print(&self, title: &str) {
        println!();
        println!("{title}");
        println!();
        println!("| measurement | result |");
        println!("|---|---|");
        for (what, value) in &self.0 {
            println!("| {what} | {value} |");
        }
    }
}

fn check_deadline(started: Instant, what: &str) -> anyhow::Result<()> {
    if started.elapsed() > PHASE_LIMIT {
        bail!("{what} took longer than {PHASE_LIMIT:?}: stopped");
    }
    Ok(())
}

// ----- the benchmark -----

fn benchmark(wasm: &Path) -> anyhow::Result<()> {
    let mut table = Table::default();
    let size = std::fs::metadata(wasm)?.len();
    table.row(
        format!("release component size ({})", display_path(wasm)),
        format!("{size} bytes ({:.1} KiB)", size as f64 / 1024.0),
    );
    let sandbox = Sandbox::start(SandboxConfig::default())?;

    pay_latency(wasm, &sandbox, &mut table)?;
    instantiation(wasm, &sandbox, &mut table)?;
    requests_per_second(wasm, &sandbox, &mut table)?;
    token_cache(&sandbox, &mut table)?;

    table.print(&format!(
        "FinConnect benchmark: loopback sandbox, one run, {} CPUs",
        std::thread::available_parallelism().map_or(0, usize::from)
    ));
    Ok(())
}

fn display_path(path: &Path) -> String {
    let root = Path::new(ROOT).canonicalize().ok();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    root.and_then(|root| path.strip_prefix(root).ok().map(Path::to_path_buf))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Sequential pays: the component through its WIT export (fresh instance per
/// call, pooling allocator as `finconnect-host up` runs it) against the core
/// compiled natively with a native client. Both make the same two provider
/// calls (token, SubmitOrderRequest). Measured twice: with the sandbox
/// answering at once (the overhead laid bare) and with every provider call
/// delayed by [`PROVIDER_DELAY`] (closer to a real provider).
fn pay_latency(wasm: &Path, sandbox: &Sandbox, table: &mut Table) -> anyhow::Result<()> {
    let host = host(wasm, sandbox, true, None)?;
    let ipn_id = register_ipn(&host)?;
    // The native core reads exactly what the component reads through wasi:config.
    let vars: BTreeMap<String, String> = host.component_variables().clone();
    let mut transport = NativeTransport::new()?;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();

    let (component, native) = compare(&host, &vars, &mut transport, &ipn_id, LATENCY_PAYS)?;
    table.row(
        format!(
            "pay latency, component in host via WIT `pay` ({} pays; p50 / p99)",
            component.0.len()
        ),
        format!("{} / {}", ms(component.p50()), ms(component.p99())),
    );
    table.row(
        format!(
            "pay latency, same core native + hyper ({} pays; p50 / p99)",
            native.0.len()
        ),
        format!("{} / {}", ms(native.p50()), ms(native.p99())),
    );
    table.row(
        "component ÷ native, sandbox answering at once (p50 / p99; goal ≤ 1.10×)",
        format!(
            "{:.2}× / {:.2}×",
            ratio(component.p50(), native.p50()),
            ratio(component.p99(), native.p99())
        ),
    );
    table.row(
        "component − native at p50 (instantiation, Wasm, wasi-http per call)",
        ms(component.p50().saturating_sub(native.p50())),
    );

    sandbox.inject(Fault {
        target: Target::AnyPesapal,
        kind: FaultKind::Slow(PROVIDER_DELAY),
        times: None,
    });
    let delayed = compare(&host, &vars, &mut transport, &ipn_id, DELAYED_PAYS);
    sandbox.clear_faults();
    let (component, native) = delayed?;
    table.row(
        format!(
            "pay latency with {} ms per provider call, component / native ({} pays each; p50)",
            PROVIDER_DELAY.as_millis(),
            component.0.len()
        ),
        format!("{} / {}", ms(component.p50()), ms(native.p50())),
    );
    table.row(
        format!(
            "component ÷ native, {} ms per provider call (p50 / p99)",
            PROVIDER_DELAY.as_millis()
        ),
        format!(
            "{:.2}× / {:.2}×",
            ratio(component.p50(), native.p50()),
            ratio(component.p99(), native.p99())
        ),
    );
    Ok(())
}

/// `pays` pays each way, in [`LATENCY_ROUNDS`] alternating rounds after a
/// short uncounted warm-up; returns (component, native) samples.
fn compare(
    host: &Host,
    vars: &BTreeMap<String, String>,
    transport: &mut NativeTransport,
    ipn_id: &str,
    pays: usize,
) -> anyhow::Result<(Samples, Samples)> {
    static BATCH: AtomicUsize = AtomicUsize::new(0);
    let mut component = Samples::default();
    let mut native = Samples::default();
    let started = Instant::now();
    let per_round = (pays / LATENCY_ROUNDS).max(1);
    let warm_up = (per_round / 5).max(1);
    for round in 0..=LATENCY_ROUNDS {
        let count = if round == 0 { warm_up } else { per_round };
        let batch = BATCH.fetch_add(1, Ordering::Relaxed);
        let samples = finconnect_host::block_on(async {
            let mut samples = Vec::with_capacity(count);
            for i in 0..count {
                let request = wit_request(&format!("WIT-{batch}-{i}"), ipn_id);
                let start = Instant::now();
                host.call_pay(Provider::Pesapal, &request)
                    .await?
                    .map_err(|err| anyhow::anyhow!("component pay failed: {err:?}"))?;
                samples.push(start.elapsed());
            }
            anyhow::Ok(samples)
        })??;
        for i in 0..count {
            let request = core_request(&format!("NATIVE-{batch}-{i}"), ipn_id);
            let start = Instant::now();
            Finconnect::new(vars, transport)
                .pay(finconnect_core::Provider::Pesapal, &request)
                .map_err(|err| anyhow::anyhow!("native pay failed: {err}"))?;
            let elapsed = start.elapsed();
            if round > 0 {
                native.push(elapsed);
            }
        }
        if round > 0 {
            for sample in samples {
                component.push(sample);
            }
        }
        check_deadline(started, "the latency comparison")?;
    }
    Ok((component, native))
}

/// A fresh `Store` and instance from the pre-linked component (`InstancePre`),
/// dropped unused: what each call and each HTTP request pays up front.
fn instantiation(wasm: &Path, sandbox: &Sandbox, table: &mut Table) -> anyhow::Result<()> {
    for pooling in [false, true] {
        let host = host(wasm, sandbox, pooling, None)?;
        let started = Instant::now();
        let samples = finconnect_host::block_on(async {
            for _ in 0..100 {
                host.instantiate().await?;
            }
            let mut samples = Samples::default();
            for _ in 0..INSTANTIATIONS {
                let start = Instant::now();
                host.instantiate().await?;
                samples.push(start.elapsed());
            }
            anyhow::Ok(samples)
        })??;
        check_deadline(started, "instantiation")?;
        let allocator = if pooling {
            "pooling allocator"
        } else {
            "default (on-demand) allocator"
        };
        table.row(
            format!("instantiation per request, {allocator} ({INSTANTIATIONS}×; p50 / p99 / mean)"),
            format!(
                "{} / {} / {}",
                us(samples.p50()),
                us(samples.p99()),
                us(samples.mean())
            ),
        );
    }
    Ok(())
}

/// `serve` on loopback (pooling on, as `finconnect-host up`), driven by a
/// keep-alive client at several concurrencies.
fn requests_per_second(wasm: &Path, sandbox: &Sandbox, table: &mut Table) -> anyhow::Result<()> {
    let host = host(wasm, sandbox, true, None)?;
    let ipn_id = register_ipn(&host)?;
    let addr = start_server(&host)?;
    let client = client_runtime()?;
    for concurrency in [1, 8, 32] {
        let run = client.block_on(drive(
            addr,
            format!("RPS{concurrency}"),
            ipn_id.clone(),
            RPS_REQUESTS,
            concurrency,
            PHASE_LIMIT,
        ));
        if !run.errors.is_empty() {
            bail!(
                "{} of {RPS_REQUESTS} requests failed at concurrency {concurrency}; first: {}",
                run.errors.len(),
                run.errors[0]
            );
        }
        table.row(
            format!("HTTP face `POST /payments`, concurrency {concurrency} ({RPS_REQUESTS} pays)"),
            format!(
                "{:.0} req/s (p50 {}, p99 {})",
                run.throughput(),
                ms(run.latencies.p50()),
                ms(run.latencies.p99())
            ),
        );
    }
    Ok(())
}

/// Provider round trips per pay and warm pay latency, token cache off and on
/// (the `token-cache` build, through the WIT export).
fn token_cache(sandbox: &Sandbox, table: &mut Table) -> anyhow::Result<()> {
    let Some(wasm) = component_file(
        "FINCONNECT_WASM_TOKEN_CACHE",
        "target/token-cache/wasm32-wasip2/release/finconnect.wasm",
    ) else {
        table.row(
            "token cache",
            "skipped: no token-cache build (`cargo xtask bench` builds it)",
        );
        return Ok(());
    };
    for cache in ["off", "on"] {
        let host = host(&wasm, sandbox, false, Some(cache))?;
        let ipn_id = register_ipn(&host)?;
        let started = Instant::now();
        let samples = finconnect_host::block_on(async {
            // The first pay fills the cache (when on); it is not counted.
            let pay = |reference: String| {
                let host = host.clone();
                let request = wit_request(&reference, &ipn_id);
                async move {
                    host.call_pay(Provider::Pesapal, &request)
                        .await?
                        .map_err(|err| anyhow::anyhow!("pay failed: {err:?}"))
                }
            };
            pay(format!("CACHE-{cache}-warm")).await?;
            sandbox.clear_requests();
            let mut samples = Samples::default();
            for i in 0..CACHE_PAYS {
                let start = Instant::now();
                pay(format!("CACHE-{cache}-{i}")).await?;
                samples.push(start.elapsed());
            }
            anyhow::Ok(samples)
        })??;
        check_deadline(started, "the token cache runs")?;
        let round_trips = sandbox.requests().len() as f64 / CACHE_PAYS as f64;
        table.row(
            format!("token-cache build, `finconnect_token_cache={cache}`: provider round trips per pay ({CACHE_PAYS} pays)"),
            format!("{round_trips:.2}"),
        );
        table.row(
            format!("token-cache build, `finconnect_token_cache={cache}`: pay latency (p50 / p99)"),
            format!("{} / {}", ms(samples.p50()), ms(samples.p99())),
        );
    }
    Ok(())
}

// ----- the HTTP face: server and load client -----

/// Starts `host.serve` on a free loopback port, on the host crate's runtime.
fn start_server(host: &Host) -> anyhow::Result<SocketAddr> {
    let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let server = host.clone();
    std::thread::Builder::new()
        .name("perf-serve".to_owned())
        .spawn(move || {
            if let Err(err) = finconnect_host::block_on(server.serve(addr)) {
                eprintln!("perf: the server stopped: {err:#}");
            }
        })?;
    // Wait until it listens.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("the host does not listen on {addr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(addr)
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("perf-client")
        .enable_all()
        .build()?)
}

/// What one load run saw.
struct Run {
    latencies: Samples,
    errors: Vec<String>,
    /// The references of the requests sent, answered or not.
    sent: Vec<String>,
    elapsed: Duration,
}

impl Run {
    fn throughput(&self) -> f64 {
        self.latencies.0.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Where the load client sends its pays.
#[derive(Clone, Copy)]
enum LoadTarget {
    /// `POST /payments` to a FinConnect-shaped server.
    Server(SocketAddr),
    /// The floor: token then SubmitOrderRequest straight to the sandbox.
    Floor(SocketAddr),
}

/// `count` PesaPal pays over `POST /payments` from `concurrency` keep-alive
/// connections; references are `{prefix}-{n}`. Stops sending at `limit`.
async fn drive(
    addr: SocketAddr,
    prefix: String,
    ipn_id: String,
    count: usize,
    concurrency: usize,
    limit: Duration,
) -> Run {
    drive_target(
        LoadTarget::Server(addr),
        prefix,
        ipn_id,
        count,
        concurrency,
        limit,
    )
    .await
}

/// [`drive`] against any [`LoadTarget`].
async fn drive_target(
    target: LoadTarget,
    prefix: String,
    ipn_id: String,
    count: usize,
    concurrency: usize,
    limit: Duration,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Mutex::new(Run {
        latencies: Samples::default(),
        errors: Vec::new(),
        sent: Vec::with_capacity(count),
        elapsed: Duration::ZERO,
    }));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (next, shared, prefix, ipn_id) = (
            Arc::clone(&next),
            Arc::clone(&shared),
            prefix.clone(),
            ipn_id.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut connection = None;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count || started.elapsed() > limit {
                    break;
                }
                let reference = format!("{prefix}-{n}");
                shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .sent
                    .push(reference.clone());
                let start = Instant::now();
                let outcome = match target {
                    LoadTarget::Server(addr) => {
                        let body = payment_body(&reference, &ipn_id);
                        tokio::time::timeout(REQUEST_TIMEOUT, post(addr, &mut connection, body))
                            .await
                    }
                    LoadTarget::Floor(addr) => {
                        tokio::time::timeout(
                            REQUEST_TIMEOUT,
                            floor_pay(addr, &mut connection, &reference, &ipn_id),
                        )
                        .await
                    }
                };
                let elapsed = start.elapsed();
                let mut run = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match outcome {
                    Ok(Ok((201, _))) => run.latencies.push(elapsed),
                    Ok(Ok((status, body))) => {
                        run.errors
                            .push(format!("{reference}: HTTP {status}: {body}"));
                    }
                    Ok(Err(err)) => {
                        connection = None;
                        run.errors.push(format!("{reference}: {err:#}"));
                    }
                    Err(_) => {
                        connection = None;
                        run.errors
                            .push(format!("{reference}: no answer in {REQUEST_TIMEOUT:?}"));
                    }
                }
            }
        }));
    }
    for worker in workers {
        if let Err(err) = worker.await {
            shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .errors
                .push(format!("a client task failed: {err}"));
        }
    }
    let elapsed = started.elapsed();
    let mut run = std::mem::replace(
        &mut *shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        Run {
            latencies: Samples::default(),
            errors: Vec::new(),
            sent: Vec::new(),
            elapsed: Duration::ZERO,
        },
    );
    run.elapsed = elapsed;
    run
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One `POST /payments` on the worker's keep-alive connection (opened on first use).
async fn post(
    addr: SocketAddr,
    connection: &mut Option<Sender>,
    body: Bytes,
) -> anyhow::Result<(u16, String)> {
    if connection.as_ref().is_none_or(Sender::is_closed) {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(driver);
        *connection = Some(sender);
    }
    let sender = connection.as_mut().context("no connection")?;
    sender.ready().await?;
    let request = http::Request::post("/payments")
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, format!("Bearer {API_KEY}"))
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The floor of the peer comparison: what any PesaPal client must do per
/// pay, a token call then SubmitOrderRequest, sent by the load client
/// itself over its keep-alive connection to the sandbox. Answers like
/// [`post`]: 201 and the order reply.
async fn floor_pay(
    addr: SocketAddr,
    connection: &mut Option<Sender>,
    reference: &str,
    ipn_id: &str,
) -> anyhow::Result<(u16, String)> {
    let config = SandboxConfig::default();
    let token = serde_json::json!({
        "consumer_key": config.pesapal_consumer_key,
        "consumer_secret": config.pesapal_consumer_secret,
    });
    let (status, reply) = sandbox_post(
        addr,
        connection,
        "/pesapalv3/api/Auth/RequestToken",
        None,
        token.to_string(),
    )
    .await?;
    if status != 200 {
        return Ok((status, reply));
    }
    let reply: serde_json::Value = serde_json::from_str(&reply)?;
    let token = reply["token"].as_str().context("no token")?.to_owned();
    let order = serde_json::json!({
        "id": reference,
        "currency": "KES",
        "amount": 1500.00,
        "description": "Benchmark order",
        "callback_url": "https://shop.example/return",
        "notification_id": ipn_id,
        "billing_address": {"email_address": "jane@example.com", "country_code": "KE", "first_name": "Jane", "last_name": "Doe"},
    });
    let (status, reply) = sandbox_post(
        addr,
        connection,
        "/pesapalv3/api/Transactions/SubmitOrderRequest",
        Some(&token),
        order.to_string(),
    )
    .await?;
    Ok((if status == 200 { 201 } else { status }, reply))
}

async fn sandbox_post(
    addr: SocketAddr,
    connection: &mut Option<Sender>,
    path: &str,
    token: Option<&str>,
    body: String,
) -> anyhow::Result<(u16, String)> {
    if connection.as_ref().is_none_or(Sender::is_closed) {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(driver);
        *connection = Some(sender);
    }
    let sender = connection.as_mut().context("no connection")?;
    sender.ready().await?;
    let mut request = http::Request::post(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json");
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `--profile-pays N`: N PesaPal pays through the HTTP face in process
/// (`Host::handle`, fresh instance each, pooling allocator), nothing else:
/// the workload for a profiler (`valgrind --tool=callgrind`). Run it with N
/// and 2N and subtract, so start-up and compilation drop out.
fn profile_pays(wasm: &Path, pays: usize) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default())?;
    let host = host(wasm, &sandbox, true, None)?;
    let ipn_id = register_ipn(&host)?;
    sandbox.clear_requests();
    let started = Instant::now();
    finconnect_host::block_on(async {
        for i in 0..pays {
            let request = http::Request::post("/payments")
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::AUTHORIZATION, format!("Bearer {API_KEY}"))
                .body(payment_body(&format!("PROFILE-{i}"), &ipn_id).to_vec())?;
            let response = host.handle(request).await?;
            if response.status() != http::StatusCode::CREATED {
                bail!(
                    "pay {i}: HTTP {}: {}",
                    response.status(),
                    String::from_utf8_lossy(response.body())
                );
            }
        }
        anyhow::Ok(())
    })??;
    println!(
        "profile: {pays} pays through Host::handle in {:.2} s, {} provider requests",
        started.elapsed().as_secs_f64(),
        sandbox.requests().len()
    );
    Ok(())
}

// ----- the load test (issue 6, item 7) -----

/// `spin up` serving FinConnect against `sandbox` (for `--load --spin`),
/// with its key-value store in Spin's SQLite file (in WAL mode, as `spin up --build`
/// leaves it) or, with `redis`, in a throwaway redis-server; both stop when the returned guards drop.
/// With `static_variables` the variables come from a static provider in the
/// runtime configuration (`cargo xtask spin-variables`), not `SPIN_VARIABLE_*`.
fn spin_server(
    wasm: &Path,
    sandbox: &Sandbox,
    redis: bool,
    static_variables: bool,
) -> anyhow::Result<(SocketAddr, Vec<peers::Server>, &'static str)> {
    let root = Path::new(ROOT);
    let spin = std::env::var_os("SPIN_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            ["../shared/tools/spin/spin", "../../shared/tools/spin/spin"]
                .iter()
                .map(|rel| root.join(rel))
                .find(|path| path.is_file())
        })
        .context("--spin needs Spin: set SPIN_BIN or put it at ../shared/tools/spin/spin")?;
    let work = std::env::temp_dir().join(format!(
        "finconnect-load-spin-{}-{}{}",
        std::process::id(),
        if redis { "redis" } else { "sqlite" },
        if static_variables { "-static" } else { "" }
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let manifest = std::fs::read_to_string(root.join("spin.toml"))?.replace(
        "source = \"target/wasm32-wasip2/release/finconnect.wasm\"",
        &format!("source = {:?}", wasm.display().to_string()),
    );
    let variables = peers::spin_variables(sandbox);
    // The static provider's section, when asked for, opens the runtime configuration.
    let mut runtime_config = String::new();
    if static_variables {
        let value_of = |name: &str| xtask::spin_variables::value_in(&variables, name);
        runtime_config = xtask::spin_variables::static_provider(&manifest, value_of)?.0;
    }
    std::fs::write(work.join("spin.toml"), manifest)?;
    let mut guards = Vec::new();
    let mut args = vec!["up".to_owned(), "--from".to_owned(), "spin.toml".to_owned()];
    let store = if redis {
        let redis_addr = peers::free_addr()?;
        let mut command = std::process::Command::new("redis-server");
        command.args([
            "--port",
            &redis_addr.port().to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        guards.push(peers::Server::start(
            command,
            redis_addr,
            &work.join("redis.log"),
            "redis-server",
        )?);
        runtime_config.push_str(&format!(
            "\n[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://{redis_addr}\"\n"
        ));
        "Redis"
    } else {
        xtask::spin_store::use_wal(&work.join(xtask::spin_store::SPIN_DEFAULT_STORE))?;
        "Spin's SQLite store in WAL mode, as `spin up --build` leaves it"
    };
    if !runtime_config.is_empty() {
        std::fs::write(work.join("runtime-config.toml"), runtime_config)?;
        args.extend([
            "--runtime-config-file".to_owned(),
            "runtime-config.toml".to_owned(),
        ]);
    }
    let addr = peers::free_addr()?;
    args.extend(["--listen".to_owned(), addr.to_string()]);
    let mut command = std::process::Command::new(spin);
    command.args(&args).current_dir(&work);
    if !static_variables {
        command.envs(variables);
    }
    guards.push(peers::Server::start(
        command,
        addr,
        &work.join("spin.log"),
        "spin up",
    )?);
    Ok((addr, guards, store))
}

fn load_test(wasm: &Path, options: &Options) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default())?;
    let host = host(wasm, &sandbox, true, None)?;
    let ipn_id = register_ipn(&host)?;
    sandbox.clear_requests();
    // Dropped at the end of the test: stops Spin and Redis.
    let mut _servers = Vec::new();
    let mut served_by = "host `serve` on loopback (pooling allocator)".to_owned();
    let addr = if options.spin {
        let (addr, servers, store) =
            spin_server(wasm, &sandbox, options.redis, options.static_variables)?;
        _servers = servers;
        served_by = format!(
            "`spin up` (key-value store: {store}; variables from {})",
            if options.static_variables {
                "a static provider"
            } else {
                "SPIN_VARIABLE_*"
            }
        );
        addr
    } else {
        start_server(&host)?
    };
    let client = client_runtime()?;
    eprintln!(
        "perf: load test: {} PesaPal pays over POST /payments at concurrency {} (at most {} s)",
        options.count, options.concurrency, options.max_seconds
    );
    let run = client.block_on(drive(
        addr,
        "LOAD".to_owned(),
        ipn_id,
        options.count,
        options.concurrency,
        Duration::from_secs(options.max_seconds),
    ));

    // Every reference sent must be in the sandbox exactly once, and nothing else.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for order in sandbox.pesapal_orders() {
        *seen.entry(order.merchant_reference).or_default() += 1;
    }
    let lost: Vec<&String> = run
        .sent
        .iter()
        .filter(|reference| !seen.contains_key(*reference))
        .collect();
    let duplicated = seen.values().filter(|&&n| n > 1).count();
    let unexpected = seen.len() - (run.sent.len() - lost.len());
    let provider_requests = sandbox.requests().len();

    let mut table = Table::default();
    table.row("pays requested", options.count.to_string());
    table.row("pays sent", run.sent.len().to_string());
    table.row(
        "concurrency (keep-alive connections)",
        options.concurrency.to_string(),
    );
    table.row("answered 201 Created", run.latencies.0.len().to_string());
    table.row(
        "errors (non-201 or no answer)",
        run.errors.len().to_string(),
    );
    table.row(
        "lost payments (sent, not in the sandbox)",
        lost.len().to_string(),
    );
    table.row(
        "payments in the sandbox more than once",
        duplicated.to_string(),
    );
    table.row("orders in the sandbox nobody sent", unexpected.to_string());
    table.row(
        "provider requests seen by the sandbox (token + submit per pay)",
        provider_requests.to_string(),
    );
    table.row(
        "latency p50 / p99",
        format!("{} / {}", ms(run.latencies.p50()), ms(run.latencies.p99())),
    );
    table.row("throughput", format!("{:.0} pays/s", run.throughput()));
    table.row("elapsed", format!("{:.1} s", run.elapsed.as_secs_f64()));
    table.print(&format!(
        "FinConnect load test: {served_by}, sandbox on loopback, {} CPUs",
        std::thread::available_parallelism().map_or(0, usize::from)
    ));
    for error in run.errors.iter().take(5) {
        eprintln!("perf: error: {error}");
    }
    for reference in lost.iter().take(5) {
        eprintln!("perf: lost: {reference}");
    }
    let complete = run.sent.len() == options.count;
    if !run.errors.is_empty() || !lost.is_empty() || duplicated > 0 || unexpected > 0 || !complete {
        bail!(
            "the load test failed: {} errors, {} lost, {duplicated} duplicated, {unexpected} unexpected, {} of {} sent",
            run.errors.len(),
            lost.len(),
            run.sent.len(),
            options.count
        );
    }
    println!();
    println!("load test passed: zero errors, zero lost payments");
    Ok(())
}
