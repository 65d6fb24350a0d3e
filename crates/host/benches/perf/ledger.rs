//! `cargo xtask bench --ledger`: what the payment ledger costs a pay.
//!
//! `POST /payments` goes through the ledger, kept in the host's
//! `wasi:keyvalue` store. Against one provider sandbox on loopback, in
//! interleaved rounds (every side once per round, the order rotating), this
//! drives the HTTP face of
//!
//! - the same component with `finconnect_ledger = off`, which passes pays
//!   through and writes nothing (`FINCONNECT_WASM_BASELINE` puts another
//!   component, e.g. an older commit's, on that side),
//! - the current component with the host's store in memory,
//! - the same with the store in a SQLite file, as `finconnect-host up` keeps it,
//!
//! sequentially (latency) and from 8 keep-alive connections (req/s). Then it
//! counts, in the host, the key-value operations of one first pay, one
//! replay of it and one verified PesaPal IPN, for the default build (with
//! `wasi:keyvalue/atomics`) and the `keyvalue-store-only` build
//! (`FINCONNECT_WASM_STORE_ONLY`, host without atomics), and turns the
//! writes into the pays/s a 50 writes/s key-value limit allows. Last, the
//! imports the same requests and a pay without the ledger call: the
//! `wasi:*` imports by name (`finconnect_host::imports`), the variable reads
//! and the key-value operations.
//!
//! Figures only: nothing here asserts a time.

use super::{
    Samples, client_runtime, drive, host_builder, ms, pay_in_process, register_ipn,
    register_ipn_at, start_server,
};
use anyhow::{Context as _, bail};
use finconnect_host::imports::{self, ImportCounter, ImportCounts};
use finconnect_host::{Host, KeyValueOpCounts};
use finconnect_sandbox::{Outcome, Sandbox, SandboxConfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Sequential pays per side and round (latency).
const SEQUENTIAL_PAYS: usize = 100;
/// Pays per side and round at [`CONCURRENCY`] (throughput).
const CONCURRENT_PAYS: usize = 240;
const CONCURRENCY: usize = 8;
/// Uncounted pays per side before the first round.
const WARM_UP_PAYS: usize = 20;
/// No new round starts after this (the rounds done so far are reported).
const ROUND_BUDGET: Duration = Duration::from_secs(300);
/// One phase (one side, one concurrency) gives up after this.
const PHASE_LIMIT: Duration = Duration::from_secs(120);
/// The key-value write limit per app the ceiling is computed for (Akamai Functions).
const WRITES_PER_SECOND: f64 = 50.0;

/// One configuration under measurement, and what it measured.
struct Side {
    label: &'static str,
    tag: &'static str,
    host: Host,
    addr: std::net::SocketAddr,
    /// Sequential latencies over every round.
    sequential: Samples,
    /// Sequential p50 of each round (for the per-round ratios).
    round_p50: Vec<Duration>,
    /// req/s at [`CONCURRENCY`], one figure per round.
    throughput: Vec<f64>,
    /// p99 at [`CONCURRENCY`], over every round.
    concurrent: Samples,
}

/// A scratch directory for the SQLite file, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("finconnect-ledger-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn env_file(variable: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .filter(|path| path.is_file())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

pub(super) fn run(wasm: &Path, rounds: usize) -> anyhow::Result<()> {
    let baseline = env_file("FINCONNECT_WASM_BASELINE").unwrap_or_else(|| wasm.to_path_buf());
    let store_only = env_file("FINCONNECT_WASM_STORE_ONLY");
    let sandbox = Sandbox::start(SandboxConfig::default())?;
    let scratch = Scratch::new()?;
    let sqlite = scratch.0.join("keyvalue.sqlite");

    let mut sides = Vec::new();
    for (label, tag, file, builder) in [
        (
            "without the ledger (finconnect_ledger = off)",
            "B",
            baseline.as_path(),
            host_builder(&baseline, &sandbox, true, None).app_variable("finconnect_ledger", "off"),
        ),
        (
            "with the ledger, store in memory",
            "M",
            wasm,
            host_builder(wasm, &sandbox, true, None),
        ),
        (
            "with the ledger, store in a SQLite file",
            "S",
            wasm,
            host_builder(wasm, &sandbox, true, None).keyvalue_file(&sqlite),
        ),
    ] {
        let host = builder
            .build()
            .with_context(|| format!("cannot build the host for {}", file.display()))?;
        let addr = start_server(&host)?;
        sides.push(Side {
            label,
            tag,
            host,
            addr,
            sequential: Samples::default(),
            round_p50: Vec::new(),
            throughput: Vec::new(),
            concurrent: Samples::default(),
        });
    }
    // A baseline from another commit may export another WIT; the IPN id is
    // the sandbox's, so the current component's host registers it for all.
    let ipn_id = register_ipn(&sides[1].host)?;
    let client = client_runtime()?;
    let pay_run = |side: &Side, prefix: String, count: usize, concurrency: usize| {
        let run = client.block_on(drive(
            side.addr,
            prefix,
            ipn_id.clone(),
            count,
            concurrency,
            PHASE_LIMIT,
        ));
        if let Some(first) = run.errors.first() {
            bail!(
                "{}: {} of {count} pays failed at concurrency {concurrency}; first: {first}",
                side.label,
                run.errors.len()
            );
        }
        anyhow::Ok(run)
    };

    eprintln!(
        "perf: ledger: {rounds} rounds of {SEQUENTIAL_PAYS} sequential and {CONCURRENT_PAYS} \
         concurrent ({CONCURRENCY}) pays per side, {} sides",
        sides.len()
    );
    for side in &sides {
        pay_run(side, format!("LW{}", side.tag), WARM_UP_PAYS, 1)?;
    }
    let started = Instant::now();
    let mut done = 0;
    for round in 0..rounds {
        if round > 0 && started.elapsed() > ROUND_BUDGET {
            eprintln!("perf: ledger: round budget spent after {round} rounds");
            break;
        }
        let n = sides.len();
        for i in 0..n {
            let side = &mut sides[(round + i) % n];
            let run = pay_run(side, format!("L{}{round}A", side.tag), SEQUENTIAL_PAYS, 1)?;
            side.round_p50.push(run.latencies.p50());
            side.sequential.0.extend(run.latencies.0);
        }
        for i in 0..n {
            let side = &mut sides[(round + n - 1 - i) % n];
            let run = pay_run(
                side,
                format!("L{}{round}B", side.tag),
                CONCURRENT_PAYS,
                CONCURRENCY,
            )?;
            side.throughput.push(run.throughput());
            side.concurrent.0.extend(run.latencies.0);
        }
        done += 1;
        eprintln!(
            "perf: ledger: round {} of {rounds}: {}",
            round + 1,
            sides
                .iter()
                .map(|side| format!(
                    "{} p50 {} {:.0} req/s",
                    side.tag,
                    ms(*side.round_p50.last().unwrap_or(&Duration::ZERO)),
                    side.throughput.last().copied().unwrap_or(0.0)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let baseline_ops = sides[0].host.key_value_op_counts();
    let stored = sides[2]
        .host
        .key_value_keys("default")
        .map_or(0, |keys| keys.len());

    println!();
    println!(
        "The ledger's cost: `POST /payments` (PesaPal) through `finconnect-host` `serve`, \
         pooling allocator, one loopback sandbox, {done} interleaved rounds, {} CPUs",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!();
    println!(
        "| configuration | c=1 p50 | c=1 p99 | c={CONCURRENCY} req/s (median of rounds) | c={CONCURRENCY} p99 |"
    );
    println!("|---|---|---|---|---|");
    for side in &sides {
        println!(
            "| {} | {} | {} | {:.0} | {} |",
            side.label,
            ms(side.sequential.p50()),
            ms(side.sequential.p99()),
            median(side.throughput.clone()),
            ms(side.concurrent.p99()),
        );
    }
    println!();
    println!(
        "| with the ledger ÷ without | c=1 p50 | c=1 p99 | c=1 p50, median of per-round ratios | c={CONCURRENCY} req/s |"
    );
    println!("|---|---|---|---|---|");
    let base = &sides[0];
    for side in &sides[1..] {
        let per_round: Vec<f64> = side
            .round_p50
            .iter()
            .zip(&base.round_p50)
            .map(|(a, b)| ratio(*a, *b))
            .collect();
        println!(
            "| {} | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
            side.label,
            ratio(side.sequential.p50(), base.sequential.p50()),
            ratio(side.sequential.p99(), base.sequential.p99()),
            median(per_round),
            median(side.throughput.clone()) / median(base.throughput.clone()),
        );
    }
    println!();
    println!(
        "Pays per side: {} sequential, {} at c={CONCURRENCY}; the SQLite store held {stored} keys \
         at the end; the baseline host counted {} key-value operations (expected 0).",
        base.sequential.0.len(),
        base.concurrent.0.len(),
        baseline_ops.reads() + baseline_ops.writes(),
    );
    drop(sides);

    operation_counts(wasm, store_only.as_deref(), &sandbox)
}

/// What one build did per kind of request.
struct Counted {
    label: &'static str,
    first: KeyValueOpCounts,
    replay: KeyValueOpCounts,
    notification: KeyValueOpCounts,
    imports: Vec<(&'static str, Imports)>,
}

/// The imports one request called.
pub(super) struct Imports {
    /// `wasi:*` imports by name (empty when they could not be counted).
    wasi: ImportCounts,
    pub(super) variable_reads: u64,
    key_value_ops: u64,
}

impl Imports {
    pub(super) fn wasi_imports(&self) -> u64 {
        self.wasi.values().sum()
    }

    pub(super) fn all(&self) -> u64 {
        self.wasi_imports() + self.variable_reads + self.key_value_ops
    }
}

/// Everything counted, at one moment.
struct Snapshot {
    ops: KeyValueOpCounts,
    wasi: ImportCounts,
    variable_reads: u64,
}

impl Snapshot {
    /// Once the counts have stopped moving (a guest may still run for a
    /// moment after its response has gone out).
    fn settled(host: &Host, counter: &ImportCounter) -> Self {
        let take = || Self {
            ops: host.key_value_op_counts(),
            wasi: counter.snapshot(),
            variable_reads: host.variable_reads().values().sum(),
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut last = take();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let now = take();
            let moved = now.ops != last.ops
                || now.wasi != last.wasi
                || now.variable_reads != last.variable_reads;
            if !moved || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }

    fn imports_since(&self, earlier: &Self) -> Imports {
        let ops = self.ops.since(&earlier.ops);
        Imports {
            wasi: imports::since(&self.wasi, &earlier.wasi),
            variable_reads: self.variable_reads - earlier.variable_reads,
            key_value_ops: ops.reads() + ops.writes(),
        }
    }
}

fn operation_counts(
    wasm: &Path,
    store_only: Option<&Path>,
    sandbox: &Sandbox,
) -> anyhow::Result<()> {
    // Global: the IPN is served on the server's threads.
    let counter = ImportCounter::new();
    if !counter.install_globally() {
        eprintln!(
            "perf: ledger: another tracing subscriber is installed: wasi:* imports are not counted"
        );
    }
    let pass_through = count_pass_through(wasm, sandbox, &counter)?;
    let mut counted = vec![count_one(
        "default build (atomics)",
        wasm,
        sandbox,
        false,
        "OPSA",
        &counter,
    )?];
    match store_only {
        Some(file) => counted.push(count_one(
            "`keyvalue-store-only` build (host without atomics)",
            file,
            sandbox,
            true,
            "OPSB",
            &counter,
        )?),
        None => eprintln!(
            "perf: ledger: no FINCONNECT_WASM_STORE_ONLY: the keyvalue-store-only build is not counted"
        ),
    }

    println!();
    println!(
        "Key-value operations per request, counted in the host \
         (get includes exists and each key of get-many; writes = set + delete + swap + increment)"
    );
    println!();
    println!(
        "| build | request | get | set | delete | list | cas-open | swap | increment | reads | writes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for build in &counted {
        for (what, ops) in [
            ("first pay", &build.first),
            ("replayed pay", &build.replay),
            ("verified PesaPal IPN (settled)", &build.notification),
        ] {
            println!(
                "| {} | {what} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                build.label,
                ops.get,
                ops.set,
                ops.delete,
                ops.list,
                ops.cas_open,
                ops.swap,
                ops.increment,
                ops.reads(),
                ops.writes()
            );
        }
    }
    println!();
    println!(
        "| build | writes per pay | pays/s at {WRITES_PER_SECOND:.0} writes/s | writes per pay + its IPN | pays/s with their IPNs |"
    );
    println!("|---|---|---|---|---|");
    for build in &counted {
        let pay = build.first.writes();
        let with_ipn = pay + build.notification.writes();
        let ceiling = |writes: u64| {
            if writes == 0 {
                "unbounded".to_owned()
            } else {
                format!("{:.1}", WRITES_PER_SECOND / writes as f64)
            }
        };
        println!(
            "| {} | {pay} | {} | {with_ipn} | {} |",
            build.label,
            ceiling(pay),
            ceiling(with_ipn)
        );
    }
    print_request_imports(&pass_through, &counted);
    println!();
    println!(
        "Baseline: {} with finconnect_ledger = off.",
        if std::env::var_os("FINCONNECT_WASM_BASELINE").is_some() {
            "FINCONNECT_WASM_BASELINE"
        } else {
            "the same component"
        }
    );
    Ok(())
}

/// Counts one build's operations: a warm-up pay (uncounted), a first pay,
/// its replay, then the sandbox settles it and delivers the IPN to the
/// host's own `/notifications/pesapal`.
fn count_one(
    label: &'static str,
    wasm: &Path,
    sandbox: &Sandbox,
    store_only: bool,
    prefix: &str,
    counter: &ImportCounter,
) -> anyhow::Result<Counted> {
    let mut builder = host_builder(wasm, sandbox, true, None);
    if store_only {
        builder = builder.without_keyvalue_atomics();
    }
    let host = builder
        .build()
        .with_context(|| format!("cannot build the host for {}", wasm.display()))?;
    let addr = start_server(&host)?;
    let ipn_id = register_ipn_at(&host, &format!("http://{addr}/notifications/pesapal"))?;

    let pay = |reference: &str| -> anyhow::Result<(String, Option<String>)> {
        let response = pay_in_process(&host, reference, &ipn_id).context(label)?;
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body: serde_json::Value = serde_json::from_slice(response.body())?;
        let tracking = body["tracking_id"]
            .as_str()
            .context("no tracking_id in the answer")?
            .to_owned();
        Ok((tracking, replayed))
    };

    pay(&format!("{prefix}-WARM"))?;
    let reference = format!("{prefix}-1");
    let before = Snapshot::settled(&host, counter);
    let (tracking_id, replayed) = pay(&reference)?;
    let after_first = Snapshot::settled(&host, counter);
    if replayed.is_some() {
        bail!("{label}: the first pay was answered as a replay");
    }
    let (again, replayed) = pay(&reference)?;
    let after_replay = Snapshot::settled(&host, counter);
    if replayed.as_deref() != Some("true") || again != tracking_id {
        bail!("{label}: the second pay was not a replay of the first");
    }
    let delivery = sandbox
        .settle_pesapal(&tracking_id, Outcome::Completed)
        .map_err(|err| anyhow::anyhow!("{label}: cannot settle: {err}"))?;
    if !delivery.is_success() {
        bail!(
            "{label}: the IPN was not accepted: {:?} {}",
            delivery.status,
            delivery.body
        );
    }
    let after_ipn = Snapshot::settled(&host, counter);
    Ok(Counted {
        label,
        first: after_first.ops.since(&before.ops),
        replay: after_replay.ops.since(&after_first.ops),
        notification: after_ipn.ops.since(&after_replay.ops),
        imports: vec![
            ("first pay", after_first.imports_since(&before)),
            ("replayed pay", after_replay.imports_since(&after_first)),
            (
                "verified PesaPal IPN (settled)",
                after_ipn.imports_since(&after_replay),
            ),
        ],
    })
}

/// One PesaPal pay with `finconnect_ledger = off` (after an uncounted
/// one), as the peer benchmark's rows without the ledger make them.
fn count_pass_through(
    wasm: &Path,
    sandbox: &Sandbox,
    counter: &ImportCounter,
) -> anyhow::Result<Imports> {
    let host = host_builder(wasm, sandbox, true, None)
        .app_variable("finconnect_ledger", "off")
        .build()
        .with_context(|| format!("cannot build the host for {}", wasm.display()))?;
    let ipn_id = register_ipn(&host)?;
    imports_of_a_pay(
        &host,
        &ipn_id,
        &format!("XING{}", std::process::id()),
        counter,
    )
    .context("pay without the ledger")
}

/// The imports of one PesaPal pay through `host` in this process, after
/// an uncounted one; references start with `prefix`. `counter` must be the
/// process's subscriber.
pub(super) fn imports_of_a_pay(
    host: &Host,
    ipn_id: &str,
    prefix: &str,
    counter: &ImportCounter,
) -> anyhow::Result<Imports> {
    pay_in_process(host, &format!("{prefix}-WARM"), ipn_id)?;
    let before = Snapshot::settled(host, counter);
    pay_in_process(host, &format!("{prefix}-1"), ipn_id)?;
    Ok(Snapshot::settled(host, counter).imports_since(&before))
}

/// The imports of each counted request, then the `wasi:*` imports by name.
fn print_request_imports(pass_through: &Imports, counted: &[Counted]) {
    let mut rows = vec![(
        "default build, finconnect_ledger = off",
        "pay without the ledger",
        pass_through,
    )];
    for build in counted {
        for (what, imports) in &build.imports {
            rows.push((build.label, what, imports));
        }
    }
    println!();
    println!(
        "Imports called per request (wasi:* counted through the spans of wasmtime's bindings; \
         wasi:config and wasi:keyvalue counted by the host; resource drops are not counted)"
    );
    println!();
    println!(
        "| build | request | wasi:* imports | variable reads | key-value operations | all imports |"
    );
    println!("|---|---|---|---|---|---|");
    for (build, what, imports) in &rows {
        println!(
            "| {build} | {what} | {} | {} | {} | {} |",
            imports.wasi_imports(),
            imports.variable_reads,
            imports.key_value_ops,
            imports.all(),
        );
    }
    let default_rows = &rows[..rows.len().min(4)];
    let names: std::collections::BTreeSet<&String> = default_rows
        .iter()
        .flat_map(|(_, _, imports)| imports.wasi.keys())
        .collect();
    if names.is_empty() {
        return;
    }
    println!();
    println!("`wasi:*` imports by interface and function, default build");
    println!();
    println!("| import | pay without the ledger | first pay | replayed pay | verified IPN |");
    println!("|---|---|---|---|---|");
    for name in names {
        let cells: Vec<String> = default_rows
            .iter()
            .map(|(_, _, imports)| imports.wasi.get(name).copied().unwrap_or(0).to_string())
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
