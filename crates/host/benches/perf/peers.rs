//! `cargo xtask bench --peers`: FinConnect against its peers, all against
//! ONE provider sandbox on loopback, every pay a PesaPal token call then
//! SubmitOrderRequest:
//!
//! - the original SDK's flow in Node as a library behind node:http, with
//!   `fetch` (the SDK's shape) and with node:http as the client
//!   (`bench/peers/server.mjs`);
//! - FinConnect on `finconnect-host up` (its own process), without the
//!   ledger also with one worker thread (`--workers 1`), as Node serves
//!   from one;
//! - FinConnect under `spin up`, and a minimal component making the same two
//!   calls under the same Spin (`bench/minimal`), to tell Spin's share from ours;
//!   each without the ledger also with its variables from a static provider
//!   in a runtime-configuration file (`cargo xtask spin-variables`) instead of
//!   `SPIN_VARIABLE_*`;
//! - the floor: the load client making the two calls straight to the sandbox;
//! - in process: the Node SDK as a library, and FinConnect transpiled by jco
//!   (`bench/peers/inprocess.mjs`).
//!
//! Rounds are interleaved (every peer once per round), each figure is the
//! median over the rounds. Each ratio is that of two medians, and is also
//! given round by round (lowest and highest, and in how many rounds a goal
//! was met), since the rounds show how far the machine's noise moves it.
//! Server CPU comes from `/proc/<pid>/stat` of the server's process group,
//! provider round trips from the sandbox's log. Last, one pay of FinConnect
//! without the ledger and one of the minimal component are run in
//! finconnect-host in this process, and the imports each calls are counted
//! (`finconnect_host::imports`): figures the machine's noise does not move.

use super::ledger::{Imports, imports_of_a_pay};
use super::{LoadTarget, client_runtime, drive_target, host, host_builder, register_ipn};
use anyhow::{Context as _, bail};
use finconnect_host::Host;
use finconnect_host::imports::ImportCounter;
use finconnect_sandbox::{Sandbox, SandboxConfig};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Pays per peer and round, at concurrency 1 (latency) and for throughput.
const LATENCY_PAYS: usize = 200;
const RPS8_PAYS: usize = 400;
const RPS32_PAYS: usize = 800;
/// Sequential pays per in-process run (after the script's own warm-up).
const INPROCESS_PAYS: usize = 200;
/// A pay slower than this counts as a stall.
const STALL: Duration = Duration::from_millis(30);
/// No new round starts after this (the rounds done so far are reported).
const ROUND_BUDGET: Duration = Duration::from_secs(200);
const API_KEY: &str = super::API_KEY;

/// What the xtask hands over (environment variables).
struct Inputs {
    wasm: PathBuf,
    host_bin: PathBuf,
    minimal_wasm: Option<PathBuf>,
    jco: Option<PathBuf>,
    spin: Option<PathBuf>,
    scripts: PathBuf,
}

fn inputs(wasm: &Path) -> anyhow::Result<Inputs> {
    let root = Path::new(super::ROOT);
    let file = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_file())
    };
    let host_bin = match file("FINCONNECT_HOST_BIN") {
        Some(bin) => bin,
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("finconnect-host"))
            .filter(|bin| bin.is_file())
            .context(
                "no finconnect-host binary: set FINCONNECT_HOST_BIN or run `cargo xtask bench --peers`",
            )?,
    };
    let spin = file("SPIN_BIN").or_else(|| {
        ["../shared/tools/spin/spin", "../../shared/tools/spin/spin"]
            .iter()
            .map(|rel| root.join(rel))
            .find(|path| path.is_file())
    });
    Ok(Inputs {
        wasm: wasm.to_path_buf(),
        host_bin,
        minimal_wasm: file("FINCONNECT_MINIMAL_WASM"),
        jco: file("FINCONNECT_JCO_JS"),
        spin,
        scripts: root.join("bench/peers"),
    })
}

/// A component named by `variable`, when it names a file.
fn component_env(variable: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// A server process of one peer, in its own process group (Spin starts
/// children); stopped (the whole group) when dropped.
pub(super) struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    pub(super) fn start(
        mut command: Command,
        addr: SocketAddr,
        log: &Path,
        what: &str,
    ) -> anyhow::Result<Self> {
        use std::os::unix::process::CommandExt as _;
        let out = std::fs::File::create(log)?;
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let mut server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{what} exited during start-up ({status}); its output is in {}",
                    log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{what} does not listen on {addr} after 60 s; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// CPU time (user + system) of the server's process group so far.
    fn cpu(&self) -> Duration {
        group_cpu(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only this server's own process group, by its id.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// Sum of utime + stime over the processes whose group is `pgid`.
fn group_cpu(pgid: u32) -> Duration {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    });
    let mut total = 0u64;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) != Some(pgid) {
            continue;
        }
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += field(11) + field(12);
    }
    Duration::from_secs_f64(total as f64 / ticks)
}

pub(super) fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The variables every FinConnect-shaped server reads, as `SPIN_VARIABLE_*`.
pub(super) fn spin_variables(sandbox: &Sandbox) -> Vec<(String, String)> {
    let config = SandboxConfig::default();
    [
        ("pesapal_origin", sandbox.origin()),
        ("clickpesa_origin", sandbox.origin()),
        ("pesapal_consumer_key", config.pesapal_consumer_key),
        ("pesapal_consumer_secret", config.pesapal_consumer_secret),
        ("clickpesa_client_id", config.clickpesa_client_id),
        ("clickpesa_api_key", config.clickpesa_api_key),
        ("finconnect_api_key", API_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (xtask::spin_variables::environment_key(name), value))
    .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    NodeFetch,
    NodeHttp,
    Host,
    HostBefore,
    HostNoLedger,
    HostNoLedgerOneWorker,
    Spin,
    SpinRollback,
    SpinBefore,
    SpinNoLedger,
    SpinRedis,
    SpinRedisStatic,
    SpinNoLedgerStatic,
    SpinMinimal,
    SpinMinimalVariables,
    SpinMinimalStatic,
    Floor,
}

/// The key-value store a `spin up` row gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SpinStore {
    /// None granted (the manifest's `key_value_stores` line removed).
    None,
    /// Spin's SQLite file as Spin creates it: a rollback journal.
    Rollback,
    /// The same file created in WAL mode first (`xtask::spin_store`).
    Wal,
}

struct Peer {
    name: &'static str,
    kind: Kind,
    server: Option<Server>,
    /// Processes the server needs (redis-server): their CPU counts as the server's.
    also: Vec<Server>,
    rounds: Vec<Round>,
}

impl Peer {
    fn new(name: &'static str, kind: Kind, server: Option<Server>) -> Self {
        Self {
            name,
            kind,
            server,
            also: Vec::new(),
            rounds: Vec::new(),
        }
    }

    /// CPU time of the server and of the processes it needs.
    fn cpu(&self) -> Option<Duration> {
        let server = self.server.as_ref()?.cpu();
        Some(self.also.iter().map(Server::cpu).sum::<Duration>() + server)
    }
}

/// One round of one HTTP peer.
#[derive(Default, Clone)]
struct Round {
    p50: Duration,
    p99: Duration,
    stalls: usize,
    rps8: f64,
    rps32: f64,
    cpu_per_pay: Option<Duration>,
    round_trips: f64,
}

/// One round of one in-process run (the script's JSON line).
#[derive(Default, Clone)]
struct InProcessRound {
    p50_ms: f64,
    p99_ms: f64,
    stalls: usize,
    pays_per_s: f64,
    cpu_us: f64,
    round_trips: f64,
}

struct InProcess {
    name: &'static str,
    mode: &'static str,
    rounds: Vec<InProcessRound>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

pub(super) fn run(wasm: &Path, rounds: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let inputs = inputs(wasm)?;
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let work = Path::new(super::ROOT).join("target/peers-run");
    let work = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| Path::new(super::ROOT).join(dir).join("peers-run"))
        .unwrap_or(work);
    std::fs::create_dir_all(&work)?;

    let sandbox = Sandbox::start(SandboxConfig::default())?;
    let ipn_id = register_ipn(&host(wasm, &sandbox, false, None)?)?;
    let variables = spin_variables(&sandbox);
    let config = SandboxConfig::default();

    let mut peers = Vec::new();
    let node_server = |client: &str| -> anyhow::Result<Server> {
        let addr = free_addr()?;
        let mut command = Command::new("node");
        command
            .arg(inputs.scripts.join("server.mjs"))
            .args([
                "--port",
                &addr.port().to_string(),
                "--origin",
                &sandbox.origin(),
            ])
            .args(["--client", client])
            .envs(variables.iter().cloned());
        Server::start(
            command,
            addr,
            &work.join(format!("node-{client}.log")),
            &format!("node server.mjs --client {client}"),
        )
    };
    peers.push(Peer::new(
        "Node SDK (fetch) behind node:http",
        Kind::NodeFetch,
        Some(node_server("fetch")?),
    ));
    peers.push(Peer::new(
        "Node SDK (node:http client) behind node:http",
        Kind::NodeHttp,
        Some(node_server("http")?),
    ));

    // `finconnect_ledger = off`: the rows "without the ledger" run today's
    // component, passing pays through as the Node services do.
    let ledger_off = [(
        "SPIN_VARIABLE_FINCONNECT_LEDGER".to_owned(),
        "off".to_owned(),
    )];
    let host_server = |wasm: &Path,
                       name: &str,
                       store: Option<&str>,
                       extra: &[(String, String)],
                       options: &[&str]|
     -> anyhow::Result<Server> {
        let addr = free_addr()?;
        let mut command = Command::new(&inputs.host_bin);
        command
            .arg("up")
            .arg("--wasm")
            .arg(wasm)
            .arg("--manifest")
            .arg(Path::new(super::ROOT).join("spin.toml"));
        match store {
            // The ledger in a fresh SQLite file: references repeat from run to run.
            Some(file) => {
                let keyvalue = work.join(file);
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", keyvalue.display()));
                }
                command.arg("--keyvalue-file").arg(&keyvalue);
            }
            None => {
                command.arg("--keyvalue-in-memory");
            }
        }
        command
            .args(["--addr", &addr.to_string()])
            .args(options)
            .current_dir(&work)
            .envs(variables.iter().cloned())
            .envs(extra.iter().cloned());
        Server::start(
            command,
            addr,
            &work.join(format!("{name}.log")),
            &format!("finconnect-host up ({name})"),
        )
    };
    peers.push(Peer::new(
        "FinConnect on finconnect-host",
        Kind::Host,
        Some(host_server(
            &inputs.wasm,
            "finconnect-host",
            Some("finconnect-host-keyvalue.sqlite"),
            &[],
            &[],
        )?),
    ));

    // Optional: the same host with another component (an older commit's),
    // for a before/after on one machine (FINCONNECT_PEERS_BEFORE_WASM); it
    // gets a Spin row too.
    let before = component_env("FINCONNECT_PEERS_BEFORE_WASM");
    if let Some(before) = &before {
        peers.push(Peer::new(
            "before: FinConnect on finconnect-host (FINCONNECT_PEERS_BEFORE_WASM)",
            Kind::HostBefore,
            Some(host_server(
                before,
                "finconnect-host-before",
                Some("finconnect-host-before-keyvalue.sqlite"),
                &[],
                &[],
            )?),
        ));
    }
    // Today's component with `finconnect_ledger = off`, as the Node services
    // keep no ledger (its in-memory store serves only token hints, which a
    // PesaPal pay never reads).
    peers.push(Peer::new(
        "FinConnect without the ledger (finconnect_ledger = off) on finconnect-host",
        Kind::HostNoLedger,
        Some(host_server(
            &inputs.wasm,
            "finconnect-host-no-ledger",
            None,
            &ledger_off,
            &[],
        )?),
    ));
    // The same with one worker thread, as the Node services serve from
    // one: on these shared cores the default (a thread per CPU) costs more
    // CPU per pay.
    peers.push(Peer::new(
        "FinConnect without the ledger on finconnect-host --workers 1",
        Kind::HostNoLedgerOneWorker,
        Some(host_server(
            &inputs.wasm,
            "finconnect-host-no-ledger-one-worker",
            None,
            &ledger_off,
            &["--workers", "1"],
        )?),
    ));

    let mut notes = Vec::new();
    match &inputs.spin {
        Some(spin) => {
            // `spin up` in a fresh directory of its own (a fresh Spin SQLite
            // store under `.spin/`: references repeat from run to run).
            // With `static_variables`, Spin gets no SPIN_VARIABLE_* but a
            // runtime-configuration file whose static provider holds every
            // variable of the manifest (`cargo xtask spin-variables`).
            let spin_up = |name: &str,
                           manifest: String,
                           env: &[(String, String)],
                           store: SpinStore,
                           static_variables: bool|
             -> anyhow::Result<Server> {
                let dir = work.join(name);
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)?;
                let env: Vec<(String, String)> = if static_variables {
                    let value_of = |name: &str| xtask::spin_variables::value_in(env, name);
                    let (text, _) = xtask::spin_variables::static_provider(&manifest, value_of)?;
                    std::fs::write(dir.join("runtime-config.toml"), text)?;
                    Vec::new()
                } else {
                    env.to_vec()
                };
                std::fs::write(dir.join("spin.toml"), manifest)?;
                if store == SpinStore::Wal {
                    // As `cargo xtask build` (`spin up --build`) leaves it.
                    xtask::spin_store::use_wal(&dir.join(xtask::spin_store::SPIN_DEFAULT_STORE))?;
                }
                let addr = free_addr()?;
                let mut command = Command::new(spin);
                command
                    .args(["up", "--from", "spin.toml", "--listen", &addr.to_string()])
                    .current_dir(&dir)
                    .envs(env);
                if static_variables {
                    command.args(["--runtime-config-file", "runtime-config.toml"]);
                }
                Server::start(
                    command,
                    addr,
                    &work.join(format!("{name}.log")),
                    &format!("spin up ({name})"),
                )
            };
            let spin_server = |wasm: &Path,
                               name: &str,
                               store: SpinStore,
                               extra: &[(String, String)],
                               static_variables: bool|
             -> anyhow::Result<Server> {
                let manifest = std::fs::read_to_string(Path::new(super::ROOT).join("spin.toml"))?;
                let mut manifest = manifest.replace(
                    "source = \"target/wasm32-wasip2/release/finconnect.wasm\"",
                    &format!("source = {:?}", wasm.display().to_string()),
                );
                if store == SpinStore::None {
                    manifest = manifest.replace("key_value_stores = [\"default\"]\n", "");
                }
                let env: Vec<(String, String)> = variables.iter().chain(extra).cloned().collect();
                spin_up(name, manifest, &env, store, static_variables)
            };
            peers.push(Peer::new(
                "FinConnect under spin up (Spin's SQLite store in WAL mode, as spin up --build leaves it)",
                Kind::Spin,
                Some(spin_server(&inputs.wasm, "spin-finconnect", SpinStore::Wal, &[], false)?),
            ));
            peers.push(Peer::new(
                "FinConnect under spin up, Spin's SQLite store as Spin creates it (rollback journal)",
                Kind::SpinRollback,
                Some(spin_server(
                    &inputs.wasm,
                    "spin-finconnect-rollback",
                    SpinStore::Rollback,
                    &[],
                    false,
                )?),
            ));
            if let Some(before) = &before {
                peers.push(Peer::new(
                    "before: FinConnect under spin up (FINCONNECT_PEERS_BEFORE_WASM)",
                    Kind::SpinBefore,
                    Some(spin_server(
                        before,
                        "spin-finconnect-before",
                        SpinStore::Wal,
                        &[],
                        false,
                    )?),
                ));
            }
            peers.push(Peer::new(
                "FinConnect without the ledger (finconnect_ledger = off) under spin up, no store granted",
                Kind::SpinNoLedger,
                Some(spin_server(
                    &inputs.wasm,
                    "spin-finconnect-no-ledger",
                    SpinStore::None,
                    &ledger_off,
                    false,
                )?),
            ));
            peers.push(Peer::new(
                "FinConnect without the ledger under spin up, no store granted, variables from a static provider (cargo xtask spin-variables)",
                Kind::SpinNoLedgerStatic,
                Some(spin_server(
                    &inputs.wasm,
                    "spin-finconnect-no-ledger-static",
                    SpinStore::None,
                    &ledger_off,
                    true,
                )?),
            ));
            // The same with the ledger's store in Redis, as for more than one
            // instance: with `SPIN_VARIABLE_*`, and with a static provider.
            for (kind, name, static_variables) in [
                (
                    Kind::SpinRedis,
                    "FinConnect under spin up, store in Redis",
                    false,
                ),
                (
                    Kind::SpinRedisStatic,
                    "FinConnect under spin up, store in Redis, variables from a static provider",
                    true,
                ),
            ] {
                match super::spin_server(&inputs.wasm, &sandbox, true, static_variables) {
                    Ok((_, mut servers, _)) => {
                        let spin = servers.pop();
                        let mut peer = Peer::new(name, kind, spin);
                        peer.also = servers;
                        peers.push(peer);
                    }
                    Err(err) => {
                        let note = format!("SKIPPED: {name}: {err:#}");
                        eprintln!("\nperf: ==================== {note} ====================\n");
                        notes.push(note);
                    }
                }
            }
            match &inputs.minimal_wasm {
                Some(minimal) => {
                    let authority = sandbox.addr().to_string();
                    let head = minimal_manifest_head(minimal);
                    // Settings in the component's environment: no Spin variables.
                    let manifest = format!(
                        "{head}allowed_outbound_hosts = [\"http://{authority}\"]\n\
                         environment = {{ SANDBOX_AUTHORITY = \"{authority}\", PESAPAL_KEY = {:?}, PESAPAL_SECRET = {:?}, PESAPAL_IPN_ID = {:?} }}\n",
                        config.pesapal_consumer_key,
                        config.pesapal_consumer_secret,
                        ipn_id,
                    );
                    peers.push(Peer::new("minimal component under spin up", Kind::SpinMinimal, Some(spin_up("spin-minimal", manifest, &[], SpinStore::None, false)?)));
                    let manifest = minimal_variables_manifest(minimal, &sandbox);
                    let env = [
                        ("SPIN_VARIABLE_SANDBOX_ORIGIN", sandbox.origin()),
                        ("SPIN_VARIABLE_PESAPAL_CONSUMER_KEY", config.pesapal_consumer_key.clone()),
                        ("SPIN_VARIABLE_PESAPAL_CONSUMER_SECRET", config.pesapal_consumer_secret.clone()),
                        ("SPIN_VARIABLE_PESAPAL_IPN_ID", ipn_id.clone()),
                    ]
                    .map(|(name, value)| (name.to_owned(), value));
                    peers.push(Peer::new(
                        "minimal component under spin up, settings from Spin variables",
                        Kind::SpinMinimalVariables,
                        Some(spin_up("spin-minimal-variables", manifest.clone(), &env, SpinStore::None, false)?),
                    ));
                    peers.push(Peer::new(
                        "minimal component under spin up, settings from Spin variables in a static provider",
                        Kind::SpinMinimalStatic,
                        Some(spin_up("spin-minimal-static", manifest, &env, SpinStore::None, true)?),
                    ));
                }
                None => notes.push("SKIPPED: minimal component under Spin (FINCONNECT_MINIMAL_WASM not set; `cargo xtask bench --peers` builds it)".to_owned()),
            }
        }
        None => {
            let note = "SKIPPED: no Spin binary (set SPIN_BIN, or put Spin at ../shared/tools/spin/spin): \
                        the spin up rows are missing";
            eprintln!("\nperf: ==================== {note} ====================\n");
            notes.push(note.to_owned());
        }
    }
    peers.push(Peer::new(
        "floor: the two calls straight to the sandbox",
        Kind::Floor,
        None,
    ));

    let mut inprocess = vec![
        InProcess {
            name: "Node SDK (fetch) in process",
            mode: "sdk-fetch",
            rounds: Vec::new(),
        },
        InProcess {
            name: "Node SDK (node:http client) in process",
            mode: "sdk-http",
            rounds: Vec::new(),
        },
    ];
    if inputs.jco.is_some() {
        inprocess.push(InProcess {
            name: "FinConnect via jco in process",
            mode: "jco",
            rounds: Vec::new(),
        });
    } else {
        notes.push("SKIPPED: FinConnect via jco (FINCONNECT_JCO_JS not set; `cargo xtask bench --peers` transpiles it)".to_owned());
    }

    let client = client_runtime()?;
    // One uncounted pass warms every server (JIT, pools, connections).
    for peer in &peers {
        let target = target_of(peer, &sandbox);
        let run = client.block_on(drive_target(
            target,
            format!("WARM-{}", peer.kind as u8),
            ipn_id.clone(),
            100,
            8,
            Duration::from_secs(60),
        ));
        if let Some(error) = run.errors.first() {
            bail!("{}: warm-up failed: {error}", peer.name);
        }
    }

    let mut done = 0;
    for round in 0..rounds {
        if round > 0 && started.elapsed() > ROUND_BUDGET {
            notes.push(format!(
                "stopped after {round} of {rounds} rounds: the {ROUND_BUDGET:?} time budget was spent"
            ));
            break;
        }
        done = round + 1;
        eprintln!(
            "perf: peers round {}/{rounds} ({:.0} s so far)",
            round + 1,
            started.elapsed().as_secs_f64()
        );
        for peer in &mut peers {
            let target = target_of(peer, &sandbox);
            let prefix = format!("R{round}-{}", peer.kind as u8);
            sandbox.clear_requests();
            let cpu_before = peer.cpu();
            let mut record = Round::default();
            let mut pays = 0;
            for (concurrency, count) in [(1, LATENCY_PAYS), (8, RPS8_PAYS), (32, RPS32_PAYS)] {
                let run = client.block_on(drive_target(
                    target,
                    format!("{prefix}-c{concurrency}"),
                    ipn_id.clone(),
                    count,
                    concurrency,
                    Duration::from_secs(60),
                ));
                if let Some(error) = run.errors.first() {
                    bail!(
                        "{} at concurrency {concurrency}: {} errors; first: {error}",
                        peer.name,
                        run.errors.len()
                    );
                }
                pays += run.latencies.0.len();
                match concurrency {
                    1 => {
                        record.p50 = run.latencies.p50();
                        record.p99 = run.latencies.p99();
                        record.stalls = run.latencies.0.iter().filter(|&&l| l > STALL).count();
                    }
                    8 => record.rps8 = run.throughput(),
                    _ => record.rps32 = run.throughput(),
                }
            }
            record.cpu_per_pay = peer.cpu().zip(cpu_before).map(|(after, before)| {
                after.saturating_sub(before) / u32::try_from(pays.max(1)).unwrap_or(1)
            });
            record.round_trips = sandbox.requests().len() as f64 / pays.max(1) as f64;
            peer.rounds.push(record);
        }
        for run in &mut inprocess {
            sandbox.clear_requests();
            let mut command = Command::new("node");
            command
                .arg(inputs.scripts.join("inprocess.mjs"))
                .args([
                    "--mode",
                    run.mode,
                    "--origin",
                    &sandbox.origin(),
                    "--ipn",
                    &ipn_id,
                ])
                .args(["--pays", &INPROCESS_PAYS.to_string()])
                .envs(variables.iter().cloned())
                .stderr(Stdio::inherit());
            if let Some(jco) = &inputs.jco {
                command.arg("--jco").arg(jco);
            }
            let output = command
                .output()
                .with_context(|| format!("cannot run node inprocess.mjs --mode {}", run.mode))?;
            if !output.status.success() {
                bail!(
                    "node inprocess.mjs --mode {} failed ({})",
                    run.mode,
                    output.status
                );
            }
            let line = String::from_utf8_lossy(&output.stdout);
            let json: serde_json::Value = serde_json::from_str(
                line.trim().lines().last().unwrap_or(""),
            )
            .with_context(|| format!("inprocess.mjs --mode {} printed {line:?}", run.mode))?;
            let number = |key: &str| {
                json.get(key)
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(f64::NAN)
            };
            let all_pays = number("pays") + number("warmup");
            run.rounds.push(InProcessRound {
                p50_ms: number("p50_ms"),
                p99_ms: number("p99_ms"),
                stalls: number("over_30ms") as usize,
                pays_per_s: number("pays_per_s"),
                cpu_us: number("cpu_us_per_pay"),
                round_trips: sandbox.requests().len() as f64 / all_pays,
            });
        }
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let imports = count_imports(&inputs, &sandbox, &ipn_id, &work);

    print_table(&peers, &inprocess, done, &notes);
    print_ratios(&peers, &inprocess);
    print_imports(&imports);
    println!();
    println!(
        "load averages (1/5/15 min) before: {}; after: {}; {} CPUs; {:.0} s in all",
        load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_after
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        std::thread::available_parallelism().map_or(0, usize::from),
        started.elapsed().as_secs_f64()
    );
    drop(peers);
    Ok(())
}

fn target_of(peer: &Peer, sandbox: &Sandbox) -> LoadTarget {
    match &peer.server {
        Some(server) => LoadTarget::Server(server.addr),
        None => LoadTarget::Floor(sandbox.addr()),
    }
}

struct Summary {
    p50: f64,
    p99: f64,
    rps8: f64,
    rps32: f64,
    cpu_us: Option<f64>,
    round_trips: f64,
    stalls: usize,
    pays_c1: usize,
}

fn summary(peer: &Peer) -> Summary {
    let values = |f: fn(&Round) -> f64| median(peer.rounds.iter().map(f).collect());
    Summary {
        p50: values(|r| r.p50.as_secs_f64() * 1e3),
        p99: values(|r| r.p99.as_secs_f64() * 1e3),
        rps8: values(|r| r.rps8),
        rps32: values(|r| r.rps32),
        cpu_us: peer
            .server
            .as_ref()
            .map(|_| values(|r| r.cpu_per_pay.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6))),
        round_trips: values(|r| r.round_trips),
        stalls: peer.rounds.iter().map(|r| r.stalls).sum(),
        pays_c1: peer.rounds.len() * LATENCY_PAYS,
    }
}

fn print_table(peers: &[Peer], inprocess: &[InProcess], rounds: usize, notes: &[String]) {
    println!();
    println!(
        "FinConnect and its peers: PesaPal pay (token + SubmitOrderRequest), one sandbox on loopback, \
         {rounds} interleaved rounds, medians over rounds"
    );
    println!();
    println!(
        "| peer | c=1 p50 / p99 | req/s c=8 | req/s c=32 | server CPU per pay | provider round trips per pay | pays over 30 ms (c=1) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for peer in peers {
        let s = summary(peer);
        println!(
            "| {} | {:.2} / {:.2} ms | {:.0} | {:.0} | {} | {:.2} | {} of {} |",
            peer.name,
            s.p50,
            s.p99,
            s.rps8,
            s.rps32,
            s.cpu_us
                .map_or_else(|| "n/a (no server)".to_owned(), |us| format!("{us:.0} µs")),
            s.round_trips,
            s.stalls,
            s.pays_c1,
        );
    }
    for run in inprocess {
        let values = |f: fn(&InProcessRound) -> f64| median(run.rounds.iter().map(f).collect());
        println!(
            "| {} | {:.2} / {:.2} ms | {:.0} pays/s sequential | — | {:.0} µs (whole process) | {:.2} | {} of {} |",
            run.name,
            values(|r| r.p50_ms),
            values(|r| r.p99_ms),
            values(|r| r.pays_per_s),
            values(|r| r.cpu_us),
            values(|r| r.round_trips),
            run.rounds.iter().map(|r| r.stalls).sum::<usize>(),
            run.rounds.len() * INPROCESS_PAYS,
        );
    }
    for note in notes {
        println!();
        println!("**{note}**");
    }
}

/// A ratio of two peers' figures: of their medians over the rounds (the
/// value reported), and round by round. A round measures every peer within
/// a minute of the others, so the spread of the per-round ratios shows how
/// far the machine's noise moves a goal, and how many rounds met it.
struct Ratio {
    value: f64,
    rounds: Vec<f64>,
}

impl Ratio {
    fn of<R>(a: &[R], b: &[R], metric: impl Fn(&R) -> f64) -> Self {
        let med = |rounds: &[R]| median(rounds.iter().map(&metric).collect());
        Self {
            value: med(a) / med(b),
            rounds: a
                .iter()
                .zip(b)
                .map(|(a, b)| metric(a) / metric(b))
                .collect(),
        }
    }

    /// `1.12× (rounds 0.95–1.25×)`.
    fn shown(&self) -> String {
        let low = self.rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let high = self
            .rounds
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        match self.rounds.len() {
            0 | 1 => format!("{:.2}×", self.value),
            _ => format!("{:.2}× (rounds {low:.2}–{high:.2}×)", self.value),
        }
    }

    /// `met (3 of 5 rounds)`: the verdict on the value, and in how many
    /// rounds the ratio alone met the goal.
    fn verdict(&self, met: impl Fn(f64) -> bool) -> String {
        let word = if met(self.value) { "met" } else { "NOT met" };
        match self.rounds.len() {
            0 | 1 => word.to_owned(),
            n => format!(
                "{word} ({} of {n} rounds)",
                self.rounds.iter().filter(|r| met(**r)).count()
            ),
        }
    }
}

fn print_ratios(peers: &[Peer], inprocess: &[InProcess]) {
    let find = |kind: Kind| peers.iter().find(|p| p.kind == kind);
    let inproc = |mode: &str| inprocess.iter().find(|r| r.mode == mode);
    let rps32 = |a: &Peer, b: &Peer| Ratio::of(&a.rounds, &b.rounds, |r| r.rps32);
    let p50 = |a: &Peer, b: &Peer| Ratio::of(&a.rounds, &b.rounds, |r| r.p50.as_secs_f64());
    // One row per ratio: a goal it must reach, must stay under, or none.
    let at_least = |label: &str, r: Ratio, goal: f64| {
        println!(
            "| {label} | {} | ≥ {goal:.2}×: {} |",
            r.shown(),
            r.verdict(|r| r >= goal)
        );
    };
    let at_most = |label: &str, r: Ratio, goal: f64| {
        println!(
            "| {label} | {} | ≤ {goal:.2}×: {} |",
            r.shown(),
            r.verdict(|r| r <= goal)
        );
    };
    let for_reference = |label: &str, r: Ratio| {
        println!("| {label} | {} | (for reference) |", r.shown());
    };
    let cpu = |peer: &Peer| {
        summary(peer)
            .cpu_us
            .map_or_else(|| "?".to_owned(), |us| format!("{us:.0} µs"))
    };
    let before_after = |what: &str, after: &Peer, before: &Peer| {
        println!(
            "| {what} after ÷ before, req/s at c=32 (CPU per pay {} → {}) | {} | (before/after) |",
            cpu(before),
            cpu(after),
            rps32(after, before).shown()
        );
    };
    // The goal of being within 1.2× of the minimal component under one
    // Spin, in throughput and in latency, for one FinConnect row: against
    // the minimal component as it is, and against the same component taking
    // its settings from Spin variables, which costs Spin the same kind of
    // work FinConnect's variables cost it (docs/PERFORMANCE.md).
    let against_minimal = |kind: Kind, name: &str| {
        // A FinConnect row whose variables come from a static provider is
        // held against the minimal component whose variables do too.
        let variables = if kind == Kind::SpinNoLedgerStatic {
            (
                Kind::SpinMinimalStatic,
                "minimal component (settings from Spin variables in a static provider)",
            )
        } else {
            (
                Kind::SpinMinimalVariables,
                "minimal component (settings from Spin variables)",
            )
        };
        for (minimal_kind, minimal_name) in [(Kind::SpinMinimal, "minimal component"), variables] {
            if let (Some(spin), Some(minimal)) = (find(kind), find(minimal_kind)) {
                at_most(
                    &format!("{minimal_name} ÷ {name}, both under Spin, req/s at c=32"),
                    rps32(minimal, spin),
                    1.2,
                );
                at_most(
                    &format!("{name} ÷ {minimal_name}, both under Spin, c=1 p50"),
                    p50(spin, minimal),
                    1.2,
                );
            }
        }
    };
    println!();
    println!("| ratio | value (the medians' ratio; per round, lowest–highest) | goal |");
    println!("|---|---|---|");
    if let (Some(host), Some(lean)) = (find(Kind::Host), find(Kind::NodeHttp)) {
        at_least(
            "finconnect-host ÷ lean Node (node:http client), req/s at c=32",
            rps32(host, lean),
            1.0,
        );
    }
    if let (Some(after), Some(before)) = (find(Kind::Host), find(Kind::HostBefore)) {
        before_after("finconnect-host", after, before);
    }
    if let (Some(after), Some(before)) = (find(Kind::Spin), find(Kind::SpinBefore)) {
        before_after("FinConnect under Spin", after, before);
    }
    if let (Some(wal), Some(rollback)) = (find(Kind::Spin), find(Kind::SpinRollback)) {
        for_reference(
            &format!(
                "FinConnect under Spin, store in WAL mode ÷ as Spin creates it, req/s at c=32 (CPU per pay {} → {})",
                cpu(rollback),
                cpu(wal)
            ),
            rps32(wal, rollback),
        );
    }
    if let (Some(host), Some(lean)) = (find(Kind::HostNoLedger), find(Kind::NodeHttp)) {
        at_least(
            "finconnect-host without the ledger ÷ lean Node (node:http client), req/s at c=32",
            rps32(host, lean),
            1.0,
        );
    }
    if let (Some(host), Some(lean)) = (find(Kind::HostNoLedgerOneWorker), find(Kind::NodeHttp)) {
        at_least(
            "finconnect-host --workers 1 without the ledger ÷ lean Node (node:http client), req/s at c=32",
            rps32(host, lean),
            1.0,
        );
    }
    if let (Some(spin), Some(fetch)) = (find(Kind::SpinNoLedger), find(Kind::NodeFetch)) {
        at_least(
            "FinConnect without the ledger under Spin ÷ Node SDK (fetch), req/s at c=32",
            rps32(spin, fetch),
            1.0,
        );
    }
    against_minimal(Kind::SpinNoLedger, "FinConnect without the ledger");
    if let (Some(spin), Some(fetch)) = (find(Kind::SpinNoLedgerStatic), find(Kind::NodeFetch)) {
        at_least(
            "FinConnect without the ledger under Spin, variables from a static provider ÷ Node SDK (fetch), req/s at c=32",
            rps32(spin, fetch),
            1.0,
        );
    }
    against_minimal(
        Kind::SpinNoLedgerStatic,
        "FinConnect without the ledger, variables from a static provider",
    );
    if let (Some(spin), Some(fetch)) = (find(Kind::Spin), find(Kind::NodeFetch)) {
        at_least(
            "FinConnect under Spin ÷ Node SDK (fetch), req/s at c=32",
            rps32(spin, fetch),
            1.0,
        );
    }
    if let (Some(redis), Some(fetch)) = (find(Kind::SpinRedis), find(Kind::NodeFetch)) {
        for_reference(
            "FinConnect under Spin, store in Redis ÷ Node SDK (fetch), req/s at c=32",
            rps32(redis, fetch),
        );
    }
    if let (Some(redis), Some(fetch)) = (find(Kind::SpinRedisStatic), find(Kind::NodeFetch)) {
        for_reference(
            "FinConnect under Spin, store in Redis, variables from a static provider ÷ Node SDK (fetch), req/s at c=32",
            rps32(redis, fetch),
        );
    }
    against_minimal(Kind::Spin, "FinConnect");
    let in_process_p50 =
        |a: &InProcess, b: &InProcess| Ratio::of(&a.rounds, &b.rounds, |r| r.p50_ms);
    if let (Some(jco), Some(sdk)) = (inproc("jco"), inproc("sdk-fetch")) {
        at_most(
            "FinConnect via jco ÷ Node SDK (fetch), in process, c=1 p50",
            in_process_p50(jco, sdk),
            2.0,
        );
    }
    if let (Some(jco), Some(sdk)) = (inproc("jco"), inproc("sdk-http")) {
        for_reference(
            "FinConnect via jco ÷ Node SDK (node:http client), in process, c=1 p50",
            in_process_p50(jco, sdk),
        );
    }
}

/// The minimal component's manifest up to its component's `source`.
fn minimal_manifest_head(minimal: &Path) -> String {
    format!(
        "spin_manifest_version = 2\n\n[application]\nname = \"minimal-pay\"\nversion = \"0.1.0\"\n\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"minimal\"\n\n\
         [component.minimal]\nsource = {:?}\n",
        minimal.display().to_string(),
    )
}

/// The minimal component's manifest with its settings as Spin variables
/// (credentials and IPN id without values: they come from
/// `SPIN_VARIABLE_*`, a static provider or the host's app variables), with
/// the allowed host templated from one, as FinConnect's spin.toml has
/// them: what any Spin app that takes credentials at run time pays.
/// (Spin checks the allowed host with the default value too.)
fn minimal_variables_manifest(minimal: &Path, sandbox: &Sandbox) -> String {
    let head = minimal_manifest_head(minimal);
    let origin = sandbox.origin();
    let authority = sandbox.addr();
    format!(
        "{head}allowed_outbound_hosts = [\"{{{{ sandbox_origin }}}}\"]\n\
         environment = {{ FROM_SPIN_VARIABLES = \"1\" }}\n\n\
         [variables]\nsandbox_origin = {{ default = \"{origin}\" }}\n\
         pesapal_consumer_key = {{ default = \"\", secret = true }}\n\
         pesapal_consumer_secret = {{ default = \"\", secret = true }}\n\
         pesapal_ipn_id = {{ default = \"\" }}\n\n\
         [component.minimal.variables]\nsandbox_authority = \"{authority}\"\n\
         pesapal_consumer_key = \"{{{{ pesapal_consumer_key }}}}\"\n\
         pesapal_consumer_secret = \"{{{{ pesapal_consumer_secret }}}}\"\n\
         pesapal_ipn_id = \"{{{{ pesapal_ipn_id }}}}\"\n",
    )
}

/// The imports one pay of a component calls.
struct PayImports {
    name: &'static str,
    counted: anyhow::Result<Imports>,
}

/// Counts, in finconnect-host in this process, the imports of one PesaPal
/// pay (after an uncounted one) of FinConnect without the ledger and of
/// the minimal component with its settings from variables: deterministic
/// figures beside the timed ones. The servers timed above are other
/// processes, so the process-wide counter sees only these pays.
fn count_imports(inputs: &Inputs, sandbox: &Sandbox, ipn_id: &str, work: &Path) -> Vec<PayImports> {
    let counter = ImportCounter::new();
    if !counter.install_globally() {
        return Vec::new();
    }
    let count = |host: anyhow::Result<Host>, prefix: &str| {
        imports_of_a_pay(&host?, ipn_id, prefix, &counter)
    };
    let run = std::process::id();
    let mut counted = vec![PayImports {
        name: "FinConnect without the ledger",
        counted: count(
            host_builder(&inputs.wasm, sandbox, true, None)
                .app_variable("finconnect_ledger", "off")
                .build(),
            &format!("IMP{run}"),
        ),
    }];
    if let Some(minimal) = &inputs.minimal_wasm {
        let manifest = work.join("minimal-imports.toml");
        let text = minimal_variables_manifest(minimal, sandbox);
        let config = SandboxConfig::default();
        let host = std::fs::write(&manifest, text)
            .with_context(|| format!("cannot write {}", manifest.display()))
            .and_then(|()| {
                Host::builder(minimal)
                    .manifest(&manifest)
                    .read_environment(false)
                    .pooling(true)
                    .app_variable("pesapal_consumer_key", config.pesapal_consumer_key)
                    .app_variable("pesapal_consumer_secret", config.pesapal_consumer_secret)
                    .app_variable("pesapal_ipn_id", ipn_id)
                    .build()
            });
        counted.push(PayImports {
            name: "minimal component, settings from variables",
            counted: count(host, &format!("IMPM{run}")),
        });
    }
    counted
}

fn print_imports(counted: &[PayImports]) {
    if counted.is_empty() {
        return;
    }
    println!();
    println!(
        "Imports one pay calls, counted in finconnect-host (wasi:* imports through the spans of \
         wasmtime's bindings, and variable reads; resource drops are not imports)"
    );
    println!();
    println!("| component | wasi:* imports | variable reads | all imports |");
    println!("|---|---|---|---|");
    let mut totals = Vec::new();
    for pay in counted {
        match &pay.counted {
            Ok(imports) => {
                println!(
                    "| {} | {} | {} | {} |",
                    pay.name,
                    imports.wasi_imports(),
                    imports.variable_reads,
                    imports.all()
                );
                totals.push(imports.all());
            }
            Err(err) => println!("| {} | not counted: {err:#} | | |", pay.name),
        }
    }
    if let [finconnect, minimal] = totals[..]
        && minimal > 0
    {
        println!();
        println!(
            "FinConnect without the ledger ÷ minimal component, imports per pay: {:.2}×",
            finconnect as f64 / minimal as f64
        );
    }
}
