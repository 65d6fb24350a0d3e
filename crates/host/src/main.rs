//! `finconnect-host up`: serves the FinConnect component's HTTP API locally,
//! optionally against the in-process provider sandbox.

use anyhow::{Context as _, bail};
use finconnect_core::Provider;
use finconnect_host::{DEFAULT_KEYVALUE_FILE, DEFAULT_WASM, Host, HostBuilder, VariableSources};
use finconnect_sandbox::{Sandbox, SandboxConfig};
use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

// The host's own allocations (hyper, wasmtime's stores and resource tables)
// are many and short-lived: mimalloc took about a tenth off the CPU of a pay
// against glibc's malloc (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
usage: finconnect-host up [options]

Serves the FinConnect component's HTTP API (POST /payments, POST /ipn-registrations,
GET /payments/{provider}/{id}, /notifications/...) with variables resolved like `spin up`:
SPIN_VARIABLE_* in the environment, then .env, then spin.toml defaults.

options:
  --wasm PATH        the component (default: target/wasm32-wasip2/release/finconnect.wasm)
  --manifest PATH    the Spin manifest (default: spin.toml)
  --addr HOST:PORT   where to listen (default: 127.0.0.1:3000)
  --sandbox          start the PesaPal/ClickPesa sandbox in-process (127.0.0.1:9400 or the
                     next free port) and point FinConnect at it with the sandbox's credentials
  --no-pooling       use wasmtime's on-demand allocator instead of the pooling one
  --workers N        threads that run requests (default: one per CPU). On a machine shared
                     with its clients or the providers (a benchmark, a laptop), fewer threads
                     than CPUs cost less CPU per request
  --no-keep-alive    a new provider connection for every outbound request (default: kept
                     alive in a pool, at most 64 idle per origin, closed after 30 s idle)
  --keyvalue-file PATH
                     the SQLite file of the key-value store (wasi:keyvalue, Spin's `default`
                     store), created when missing and kept across restarts
                     (default: .finconnect/keyvalue.sqlite in the working directory)
  --keyvalue-in-memory
                     keep the key-value store in memory instead: it is empty at every start
  -h, --help         this text";

/// The API key `--sandbox` uses when the user set none: the only key the
/// banner ever prints, since it opens nothing but this loopback sandbox run.
const LOCAL_API_KEY: &str = "finconnect-local-key";
/// The payout key `--sandbox` sets when the user set none (payouts are
/// switched on against the sandbox only).
const LOCAL_PAYOUTS_API_KEY: &str = "finconnect-local-payouts-key";
/// What the curl lines use when the key is the user's (never printed).
const API_KEY_VARIABLE: &str = "FINCONNECT_API_KEY";
/// Where `--sandbox` tries to put the sandbox first.
const SANDBOX_PORT: u16 = 9400;

#[derive(Debug)]
struct Options {
    wasm: PathBuf,
    manifest: PathBuf,
    addr: SocketAddr,
    sandbox: bool,
    pooling: bool,
    keep_alive: bool,
    /// `None`: tokio's default, one per CPU.
    workers: Option<NonZeroUsize>,
    /// `None`: in memory.
    keyvalue_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("finconnect-host: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    match args.split_first() {
        Some((command, rest)) if command == "up" => up(parse_options(rest)?),
        Some((flag, _)) if flag == "-h" || flag == "--help" || flag == "help" => {
            println!("{USAGE}");
            Ok(())
        }
        Some((other, _)) => bail!("unknown command {other:?}\n\n{USAGE}"),
        None => bail!("missing command\n\n{USAGE}"),
    }
}

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        wasm: PathBuf::from(DEFAULT_WASM),
        manifest: PathBuf::from("spin.toml"),
        addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        sandbox: false,
        pooling: true,
        keep_alive: true,
        workers: None,
        keyvalue_file: Some(PathBuf::from(DEFAULT_KEYVALUE_FILE)),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> anyhow::Result<String> {
            match inline.clone().or_else(|| args.next().cloned()) {
                Some(value) => Ok(value),
                None => bail!("{name} needs a value"),
            }
        };
        match flag {
            "--wasm" => options.wasm = PathBuf::from(value(flag)?),
            "--manifest" => options.manifest = PathBuf::from(value(flag)?),
            "--addr" => {
                let text = value(flag)?;
                options.addr = text
                    .parse()
                    .with_context(|| format!("--addr {text:?}: expected HOST:PORT"))?;
            }
            "--sandbox" => options.sandbox = true,
            "--no-pooling" => options.pooling = false,
            "--no-keep-alive" => options.keep_alive = false,
            "--workers" => {
                let text = value(flag)?;
                options.workers = Some(text.parse().with_context(|| {
                    format!("--workers {text:?}: expected a whole number of threads, at least 1")
                })?);
            }
            "--keyvalue-file" => options.keyvalue_file = Some(PathBuf::from(value(flag)?)),
            "--keyvalue-in-memory" => options.keyvalue_file = None,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?}\n\n{USAGE}"),
        }
    }
    Ok(options)
}

fn up(options: Options) -> anyhow::Result<()> {
    // Bind first: the sandbox needs the real address for ClickPesa webhooks.
    let listener = TcpListener::bind(options.addr)
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let origin = format!("http://{addr}");

    let mut builder = Host::builder(&options.wasm)
        .manifest(&options.manifest)
        .forward_guest_output(true)
        .record_outbound(false)
        .keep_alive(options.keep_alive);
    if let Some(path) = &options.keyvalue_file {
        builder = builder.keyvalue_file(path);
    }
    // Whether the API key is the sandbox's local one, set here: the banner
    // prints only that one, never a key from the environment, .env or spin.toml.
    let mut local_key = false;
    let sandbox = if options.sandbox {
        let sources = VariableSources::from_environment(Some(".env".as_ref()))?;
        let (sandbox, config) = start_sandbox(&origin)?;
        local_key = sources
            .lookup("finconnect_api_key")
            .is_none_or(str::is_empty);
        builder = sandbox_variables(builder, &sandbox, &config, local_key)
            // Daraja posts STK results here when a payment names no callback_url.
            .app_variable(
                "mpesa_callback_url",
                format!("{origin}/notifications/mpesa"),
            );
        builder = sandbox_payouts(builder, &sandbox, &sources, &origin);
        Some(sandbox)
    } else {
        None
    };

    let host = build(builder, options.pooling)?;
    print_banner(&host, &origin, sandbox.as_ref(), local_key);

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = options.workers {
        runtime.worker_threads(workers.get());
    }
    let runtime = runtime
        .enable_all()
        .thread_name("finconnect-host")
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tokio::select! {
            served = host.serve_listener(listener) => served,
            signal = tokio::signal::ctrl_c() => {
                signal.context("cannot wait for Ctrl-C")?;
                eprintln!("finconnect-host: stopping");
                Ok(())
            }
        }
    })?;
    Ok(())
}

/// Builds the host; if that fails with the pooling allocator (which reserves
/// a lot of address space), tries the on-demand allocator before giving up.
fn build(builder: HostBuilder, pooling: bool) -> anyhow::Result<Host> {
    if !pooling {
        return builder.pooling(false).build();
    }
    match builder.clone().pooling(true).build() {
        Ok(host) => Ok(host),
        Err(pooled) => {
            let host = builder.pooling(false).build()?;
            eprintln!(
                "finconnect-host: pooling allocator unavailable ({pooled:#}); using on-demand allocation"
            );
            Ok(host)
        }
    }
}

fn start_sandbox(finconnect_origin: &str) -> anyhow::Result<(Sandbox, SandboxConfig)> {
    let config = SandboxConfig {
        clickpesa_webhook_url: Some(format!("{finconnect_origin}/notifications/clickpesa")),
        ..SandboxConfig::default()
    };
    let mut last_error = None;
    for port in SANDBOX_PORT..SANDBOX_PORT + 20 {
        match Sandbox::start_on(SocketAddr::from(([127, 0, 0, 1], port)), config.clone()) {
            Ok(sandbox) => return Ok((sandbox, config)),
            Err(err) => last_error = Some(err),
        }
    }
    match Sandbox::start(config.clone()) {
        Ok(sandbox) => Ok((sandbox, config)),
        Err(err) => Err(err).with_context(|| {
            format!("cannot start the sandbox (port {SANDBOX_PORT} and up: {last_error:?})")
        }),
    }
}

/// Points FinConnect at the sandbox: for every provider of the registry,
/// its origin and path variables and the sandbox's credentials.
fn sandbox_variables(
    mut builder: HostBuilder,
    sandbox: &Sandbox,
    config: &SandboxConfig,
    set_api_key: bool,
) -> HostBuilder {
    for provider in Provider::ALL {
        let base = provider.info().base_url;
        builder = builder
            .app_variable(base.origin_variable, sandbox.origin())
            .app_variable(base.path_variable, Sandbox::path(provider));
        for (name, value) in config.finconnect_variables(provider) {
            builder = builder.app_variable(name, value);
        }
    }
    if set_api_key {
        builder.app_variable("finconnect_api_key", LOCAL_API_KEY)
    } else {
        builder
    }
}

/// Payouts against the sandbox: switched on with a local payout key (unless
/// the user set their own), a TZS balance to spend, and payout webhooks
/// pointed at FinConnect.
fn sandbox_payouts(
    mut builder: HostBuilder,
    sandbox: &Sandbox,
    sources: &VariableSources,
    origin: &str,
) -> HostBuilder {
    let unset = |name: &str| sources.lookup(name).is_none_or(str::is_empty);
    if unset("finconnect_payouts") {
        builder = builder.app_variable("finconnect_payouts", "on");
    }
    if unset("finconnect_payouts_api_key") {
        builder = builder.app_variable("finconnect_payouts_api_key", LOCAL_PAYOUTS_API_KEY);
    }
    sandbox.set_clickpesa_balance("TZS", "1000000");
    sandbox.set_clickpesa_payout_webhook_url(Some(format!(
        "{origin}/notifications/clickpesa/payouts"
    )));
    builder
}

/// How the banner shows the API key: the local sandbox key as it is, a key
/// the user set as a shell variable to fill in, never its value.
fn api_key_lines(key: &str, local_key: bool) -> (String, String) {
    if key.is_empty() {
        (
            "  finconnect_api_key is empty: merchant routes answer 503 until SPIN_VARIABLE_FINCONNECT_API_KEY is set"
                .to_owned(),
            format!("${API_KEY_VARIABLE}"),
        )
    } else if local_key && key == LOCAL_API_KEY {
        (
            format!(
                "  API key: {key}\n  (the sandbox's local key; set SPIN_VARIABLE_FINCONNECT_API_KEY to use your own)"
            ),
            key.to_owned(),
        )
    } else {
        (
            format!(
                "  API key: yours, from finconnect_api_key (SPIN_VARIABLE_FINCONNECT_API_KEY, .env or spin.toml); \
                 not printed: the curl lines below read it from ${API_KEY_VARIABLE}"
            ),
            format!("${API_KEY_VARIABLE}"),
        )
    }
}

fn print_banner(host: &Host, origin: &str, sandbox: Option<&Sandbox>, local_key: bool) {
    for warning in host.allowed_hosts().warnings() {
        eprintln!("finconnect-host: warning: {warning}");
    }
    println!("FinConnect listening on {origin}");
    println!("  allowed outbound hosts: {}", host.allowed_hosts());
    let (key_line, key) = api_key_lines(
        host.app_variable("finconnect_api_key").unwrap_or_default(),
        local_key,
    );
    println!("{key_line}");
    match host.keyvalue_file() {
        Some(path) => println!(
            "  key-value store: {} (SQLite, kept across restarts; --keyvalue-file moves it)",
            path.display()
        ),
        None => println!("  key-value store: in memory (emptied at every start)"),
    }
    // The component's own rule, read from the variables it will be given.
    if finconnect_core::config::ledger_on(host.component_variables()) == Ok(false) {
        println!(
            "  ledger: off (finconnect_ledger): pays are passed through and nothing is recorded"
        );
    }
    let Some(sandbox) = sandbox else {
        let origins: Vec<String> = Provider::ALL
            .iter()
            .map(|provider| {
                let info = provider.info();
                format!(
                    "{} {}",
                    info.display_name,
                    app(host, info.base_url.origin_variable)
                )
            })
            .collect();
        println!("  providers: {}", origins.join(", "));
        println!("\nCtrl-C stops.");
        return;
    };
    let sb = sandbox.origin();
    println!("Sandbox (PesaPal, ClickPesa and M-Pesa Daraja emulator) on {sb}");
    println!("  dashboard:      {sb}/  (in a browser: orders, notifications, requests, faults)");
    println!("  PesaPal API:    {}", sandbox.pesapal_base_url());
    println!("  ClickPesa API:  {}", sandbox.clickpesa_base_url());
    println!("  M-Pesa API:     {}", sandbox.mpesa_base_url());
    println!("  ClickPesa webhooks go to {origin}/notifications/clickpesa");
    println!(
        "  ClickPesa payouts: on, TZS 1,000,000 to spend; payout webhooks go to \
         {origin}/notifications/clickpesa/payouts (payout key: {LOCAL_PAYOUTS_API_KEY} unless \
         SPIN_VARIABLE_FINCONNECT_PAYOUTS_API_KEY is set)"
    );
    println!(
        "    PUT  {sb}/_sandbox/clickpesa/balance   {{\"currency\":\"TZS\",\"balance\":\"5000\"}}"
    );
    println!("    POST {sb}/_sandbox/clickpesa/payouts/<order_reference>/succeed|reverse|refund");
    println!("  control endpoints (JSON):");
    println!("    GET  {sb}/_sandbox                 credentials, base URLs, this list");
    println!(
        "    GET  {sb}/_sandbox/requests        provider requests received (DELETE forgets them)"
    );
    println!("    GET  {sb}/_sandbox/orders          IPNs, PesaPal orders, ClickPesa payments");
    println!("    POST {sb}/_sandbox/pesapal/orders/<order_tracking_id>/complete|fail|reverse");
    println!("    POST {sb}/_sandbox/clickpesa/payments/<order_reference>/complete|fail");
    println!("    POST {sb}/_sandbox/mpesa/stk/<checkout_request_id>/success|cancelled_by_user|…");
    println!("    GET  {sb}/_sandbox/deliveries      IPNs and webhooks sent, and the answers");
    println!("    GET|POST|DELETE {sb}/_sandbox/faults   make provider endpoints misbehave");
    // Double quotes: a `$FINCONNECT_API_KEY` in them is expanded by the shell.
    let auth = format!("-H \"Authorization: Bearer {key}\" -H 'Content-Type: application/json'");
    println!(
        "\nTry it:\n\
         # 1. register an IPN URL (gives ipn_id)\n\
         curl -s -X POST {origin}/ipn-registrations {auth} \\\n  \
         -d '{{\"provider\":\"pesapal\",\"url\":\"{origin}/notifications/pesapal\",\"notification_type\":\"GET\"}}'\n\
         # 2. create a PesaPal payment (gives tracking_id and redirect_url)\n\
         curl -s -X POST {origin}/payments {auth} \\\n  \
         -d '{{\"provider\":\"pesapal\",\"reference\":\"ORDER-1001\",\"amount\":\"1500.00\",\"currency\":\"KES\",\
         \"description\":\"Order 1001\",\"callback_url\":\"https://shop.example/return\",\"notification_id\":\"<ipn_id>\",\
         \"customer\":{{\"email\":\"jane@example.com\",\"first_name\":\"Jane\",\"last_name\":\"Doe\",\"country_code\":\"KE\"}}}}'\n\
         # 3. the customer pays: settle the order in the sandbox\n\
         curl -s -X POST {sb}/_sandbox/pesapal/orders/<tracking_id>/complete\n\
         # 4. read its status (by tracking_id, or by your reference ORDER-1001)\n\
         curl -s {origin}/payments/pesapal/<tracking_id> -H \"Authorization: Bearer {key}\"\n\
         # 5. the events your backend learns from (payment.pending, payment.completed)\n\
         curl -s '{origin}/events?after=0' -H \"Authorization: Bearer {key}\"\n\
         \nM-Pesa (STK push; the sandbox posts the callback to {origin}/notifications/mpesa):\n\
         curl -s -X POST {origin}/payments {auth} \\\n  \
         -d '{{\"provider\":\"mpesa\",\"reference\":\"ORDER1002\",\"amount\":\"100\",\"currency\":\"KES\",\
         \"customer\":{{\"phone\":\"0708374149\"}}}}'\n\
         curl -s -X POST {sb}/_sandbox/mpesa/stk/<tracking_id>/success\n\
         curl -s {origin}/payments/mpesa/<tracking_id> -H \"Authorization: Bearer {key}\"\n\
         \nCtrl-C stops."
    );
}

fn app<'a>(host: &'a Host, name: &str) -> &'a str {
    host.app_variable(name).unwrap_or("(unset)")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn only_the_local_sandbox_key_is_shown() {
        let (line, curl) = api_key_lines(LOCAL_API_KEY, true);
        assert!(line.contains(LOCAL_API_KEY), "{line}");
        assert_eq!(curl, LOCAL_API_KEY);

        for (key, local) in [
            ("merchant-secret-1f3a", false),
            // Set by the user to the same text as the local key: still theirs.
            (LOCAL_API_KEY, false),
            // A key that is not the local one is never printed.
            ("merchant-secret-1f3a", true),
        ] {
            let (line, curl) = api_key_lines(key, local);
            assert!(
                !line.contains(key) && !curl.contains(key),
                "{line} / {curl}"
            );
            assert!(line.contains("not printed"), "{line}");
            assert_eq!(curl, "$FINCONNECT_API_KEY");
        }

        let (line, _) = api_key_lines("", false);
        assert!(line.contains("is empty"), "{line}");
    }

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        parse_options(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn workers_default_to_one_per_cpu_and_take_a_positive_count() {
        assert_eq!(parse(&[]).unwrap().workers, None);
        assert_eq!(
            parse(&["--workers", "1"]).unwrap().workers,
            NonZeroUsize::new(1)
        );
        assert_eq!(
            parse(&["--workers=3"]).unwrap().workers,
            NonZeroUsize::new(3)
        );
        for bad in ["0", "-1", "two", ""] {
            let err = parse(&["--workers", bad]).unwrap_err().to_string();
            assert!(
                err.contains("--workers") && err.contains("at least 1"),
                "{bad:?}: {err}"
            );
        }
        let err = parse(&["--workers"]).unwrap_err().to_string();
        assert!(err.contains("--workers needs a value"), "{err}");
    }
}
