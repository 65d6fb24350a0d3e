//! `cargo xtask`: the project's build, test and run tasks.
//!
//! ```text
//! cargo xtask build [--spin-variables]   build the component (and the spin-variables build)
//! cargo xtask test [ARGS...]             build the components, compose the examples, then `cargo test --workspace ARGS...`
//! cargo xtask run [ARGS...]              build the component and the host, then `finconnect-host up --sandbox ARGS...`
//! cargo xtask bench                      build the components, then the benchmark table (release)
//! cargo xtask bench --peers [--rounds N]  FinConnect against Node, Spin, a minimal component, the floor
//! cargo xtask bench --ledger [--rounds N] the ledger's cost: the component with it against without it
//! cargo xtask bench --fuel               the guest's work per request, counted in fuel
//! cargo xtask load [ARGS...]             build the component, then the load test (release)
//! cargo xtask wasm-opt FILE...           optimise components in place (what `build` does to its output)
//! cargo xtask spin-store [PATH]          put Spin's SQLite key-value file in WAL mode
//! cargo xtask spin-variables PATH        write Spin's variables to a runtime-configuration file
//! ```

mod shrink;

use anyhow::{Context as _, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use xtask::spin_store::{self, SPIN_DEFAULT_STORE};
use xtask::spin_variables;

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  build [--spin-variables]  cargo build --target wasm32-wasip2 --release (the component),
                            then wasm-opt -Oz over its core modules, in place (binaryen from
                            npm, pinned in tools/wasm-opt; WASM_OPT=path uses another; left
                            unoptimised with a warning when neither is available, an error
                            when FINCONNECT_REQUIRE_WASM_OPT is set);
                            with --spin-variables also the `spin-variables` feature build,
                            into target/spin-variables/; when Spin's default key-value file
                            (.spin/sqlite_key_value.db next to spin.toml) does not exist
                            yet, creates it in WAL mode (see spin-store)
  test [ARGS...]            build the four components (default, spin-variables, token-cache,
                            keyvalue-store-only),
                            run scripts/composition.sh (wac plug, jco, the Node test), then
                            cargo test --workspace ARGS... with FINCONNECT_WASM,
                            FINCONNECT_WASM_SPIN_VARIABLES, FINCONNECT_WASM_TOKEN_CACHE,
                            FINCONNECT_WASM_STORE_ONLY,
                            FINCONNECT_COMPOSED_WASM and FINCONNECT_SHOP_WASM set (the Spin
                            suite, tests/spin.rs, also needs Spin: SPIN_BIN, `spin` on PATH
                            or ../shared/tools/spin/spin; it skips loudly without it unless
                            FINCONNECT_REQUIRE_SPIN=1); the browser test (tests/browser.rs)
                            needs /usr/bin/chromium and /usr/bin/chromedriver and is skipped
                            with a warning without them (an error when
                            FINCONNECT_REQUIRE_BROWSER=1); the webhook tests (tests/webhooks.rs)
                            run Node and `npm ci` in tests/webhook-receiver on first use, and
                            skip loudly without Node unless FINCONNECT_REQUIRE_NODE=1
  run [ARGS...]             build the component (without wasm-opt) and, alongside, the host;
                            then cargo run -p finconnect-host -- up --sandbox ARGS...
  bench                     build the default and token-cache components, then
                            cargo bench -p finconnect-host --bench perf (release; loopback only):
                            pay latency component vs native core, instantiation, req/s,
                            token cache, component size
  bench --peers [--rounds N]
                            FinConnect against its peers, one sandbox, interleaved rounds
                            (default 5): the Node SDK (fetch / node:http) behind node:http,
                            finconnect-host, spin up (SPIN_BIN or ../shared/tools/spin/spin;
                            skipped with a note when absent), a minimal component under the
                            same Spin (bench/minimal), the floor, and in process the Node SDK
                            and FinConnect through jco; then the imports one pay of FinConnect
                            and of the minimal component calls; builds everything it runs first
  bench --fuel              the guest's work per request in fuel (about one unit per
                            WebAssembly operator, the same whatever the load): a PesaPal
                            pay without the ledger, a first pay and its replay with the
                            ledger in memory, a 404 and a 422; median of 50 each
                            (FINCONNECT_WASM_BASELINE=path adds another component's rows)
  bench --ledger [--rounds N]
                            the payment ledger's cost, one sandbox, interleaved rounds
                            (default 5): POST /payments latency (c=1) and req/s (c=8) of
                            the component with its ledger (the host's store in memory and
                            in SQLite) against the same component with finconnect_ledger =
                            off (FINCONNECT_WASM_BASELINE=path runs another component on
                            that side); then key-value operations per first
                            pay, replay and IPN, default and keyvalue-store-only builds,
                            and the imports each of them and a pay without the ledger
                            calls (wasi:* by name, variable reads, key-value operations)
  load [ARGS...]            build the component, then the same bench binary with --load:
                            10000 PesaPal pays over POST /payments at concurrency 32
                            (ARGS: --count N, --concurrency C, --max-seconds S;
                            --spin drives `spin up` instead of the host, with Spin's SQLite
                            store in WAL mode (as `build` leaves it), or with --redis a
                            throwaway redis-server; --static-variables gives Spin its
                            variables in a static provider, as `spin-variables` writes it)
  wasm-opt FILE...          optimise the given components in place, as `build` does
  spin-store [PATH]         put the SQLite file Spin keeps its key-value store in (default
                            .spin/sqlite_key_value.db next to spin.toml; with --state-dir DIR
                            it is DIR/sqlite_key_value.db) in write-ahead-log mode: created if
                            missing, switched if it uses a rollback journal (data kept; best
                            with Spin stopped). Spin keeps the mode; each write then costs one
                            sync instead of a journal file's create, syncs and removal
  spin-variables PATH       write PATH, a Spin runtime-configuration file whose static
                            variables provider holds every variable of spin.toml: the value
                            of SPIN_VARIABLE_<NAME> when set (environment, then ./.env),
                            else the default (file mode 0600; no value is printed).
                            `spin up --runtime-config-file PATH` then resolves variables
                            from memory instead of its environment provider, which blocks a
                            thread per lookup (about a third of Spin's CPU per pay without
                            the ledger; docs/DEPLOY.md)";

/// What the browser test (`tests/browser.rs`) drives: Debian's Chromium
/// and its chromedriver.
const BROWSER_FILES: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromedriver"];

/// The first browser file that is missing, after saying loudly that the
/// browser test will be skipped; an error instead when
/// `FINCONNECT_REQUIRE_BROWSER=1`.
fn missing_browser() -> anyhow::Result<Option<&'static str>> {
    let Some(path) = BROWSER_FILES
        .into_iter()
        .find(|path| !Path::new(path).is_file())
    else {
        return Ok(None);
    };
    if std::env::var("FINCONNECT_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        bail!(
            "{path} is missing and FINCONNECT_REQUIRE_BROWSER=1: install it with \
             `apt-get install -y chromium chromium-driver`"
        );
    }
    warn_browser_skipped(path);
    Ok(Some(path))
}

fn warn_browser_skipped(path: &str) {
    eprintln!(
        "\nxtask: WARNING: {path} is missing, so the browser test (tests/browser.rs) is SKIPPED.\n\
         xtask: install it with `apt-get install -y chromium chromium-driver`; \
         FINCONNECT_REQUIRE_BROWSER=1 makes this an error.\n"
    );
}

const WASM_TARGET: &str = "wasm32-wasip2";
const COMPONENT_FILE: &str = "finconnect.wasm";
/// Where the pinned binaryen (npm package) that provides `wasm-opt` lives.
const WASM_OPT_DIR: &str = "tools/wasm-opt";
/// What `wasm-opt` does to each core module (the flags `jco opt` uses).
const WASM_OPT_ARGS: [&str; 4] = [
    "-Oz",
    "--low-memory-unused",
    "--enable-bulk-memory",
    "--strip-debug",
];
/// When set, a missing `wasm-opt` fails the build instead of leaving the
/// component unoptimised (CI sets it).
const REQUIRE_WASM_OPT: &str = "FINCONNECT_REQUIRE_WASM_OPT";
/// The example consumer as `scripts/composition.sh` builds it, and the
/// variable through which tests/spin.rs finds it.
const SHOP_WASM: &str = "examples/shop/target/wasm32-wasip2/release/shop.wasm";
const SHOP_WASM_VAR: &str = "FINCONNECT_SHOP_WASM";
/// Composes the example consumer with FinConnect and runs the Node test;
/// prints `FINCONNECT_COMPOSED_WASM=<path>` on stdout.
const COMPOSITION_SCRIPT: &str = "scripts/composition.sh";
/// What `run` builds besides the component: the host and the sandbox, in the
/// dev profile that `cargo test` uses too (one build of wasmtime for both).
const RUN_HOST_BUILD: &str = "cargo build --package finconnect-host";

/// Writes `bytes` to a new file and renames it over `path`: the old file is
/// replaced, not rewritten (cargo hard-links its outputs to `deps/`).
fn replace_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let next = path.with_extension("wasm-opt-next");
    std::fs::write(&next, bytes).with_context(|| format!("cannot write {}", next.display()))?;
    std::fs::rename(&next, path).with_context(|| format!("cannot replace {}", path.display()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let workspace = Workspace::locate()?;
    let Some((task, rest)) = args.split_first() else {
        bail!("no task given\n\n{USAGE}");
    };
    match task.as_str() {
        "build" => {
            let spin_variables = match rest {
                [] => false,
                [flag] if flag == "--spin-variables" => true,
                _ => bail!("`build` takes only --spin-variables, got {rest:?}\n\n{USAGE}"),
            };
            let wasm = workspace.build_component(Flavour::Default)?;
            println!("xtask: built {}", wasm.display());
            if spin_variables {
                let wasm = workspace.build_component(Flavour::SpinVariables)?;
                println!("xtask: built {}", wasm.display());
            }
            // `spin up --build` runs this task: have Spin's default store in
            // WAL mode before Spin creates it with a rollback journal. Only
            // a missing file is created; an existing one is left to
            // `spin-store` (a Spin may have it open right now).
            workspace.prepare_spin_store();
            Ok(())
        }
        "spin-variables" => {
            let path = match rest {
                [path] if !path.starts_with('-') => PathBuf::from(path),
                _ => bail!("`spin-variables` takes one path, got {rest:?}\n\n{USAGE}"),
            };
            let manifest = std::fs::read_to_string(workspace.root.join("spin.toml"))
                .context("cannot read spin.toml")?;
            let environment = spin_variables::SpinEnvironment::read(Path::new(".env"))?;
            let (text, given) =
                spin_variables::static_provider(&manifest, |name| environment.value(name))?;
            write_private(
                &path,
                &format!(
                    "# Written by `cargo xtask spin-variables` from spin.toml's [variables] and\n\
                     # SPIN_VARIABLE_* (environment, then .env): a value here wins over both,\n\
                     # so run it again after changing either. It holds secrets: keep it out of\n\
                     # version control. Other runtime settings (a Redis key-value store) can\n\
                     # follow below. Use: spin up --runtime-config-file {}\n\n{text}",
                    path.display()
                ),
            )?;
            println!(
                "xtask: wrote {} with a value for every variable in spin.toml ({given} from \
                 SPIN_VARIABLE_* in the environment or .env, the rest its default; no value \
                 is printed); serve with \
                 `spin up --runtime-config-file {}`",
                path.display(),
                path.display()
            );
            Ok(())
        }
        "spin-store" => {
            let path = match rest {
                [] => workspace.root.join(SPIN_DEFAULT_STORE),
                [path] if !path.starts_with('-') => PathBuf::from(path),
                _ => bail!("`spin-store` takes one path at most, got {rest:?}\n\n{USAGE}"),
            };
            let outcome = spin_store::use_wal(&path)?;
            println!("xtask: {}", describe_store(&path, outcome));
            Ok(())
        }
        "test" => {
            let browser_missing = missing_browser()?;
            let mut command = workspace.cargo();
            command.args(["test", "--workspace"]).args(rest);
            let mut default_wasm = None;
            for flavour in Flavour::ALL {
                let wasm = workspace.build_component(flavour)?;
                command.env(flavour.env_var(), &wasm);
                if flavour == Flavour::Default {
                    default_wasm = Some(wasm);
                }
            }
            let wasm = default_wasm.context("the default component was not built")?;
            let composed = workspace.compose(&wasm)?;
            command.env("FINCONNECT_COMPOSED_WASM", composed);
            // The example shop the composition script built, for the Spin
            // suite's component-dependency test (tests/spin.rs).
            if std::env::var_os(SHOP_WASM_VAR).is_none() {
                command.env(SHOP_WASM_VAR, workspace.root.join(SHOP_WASM));
            }
            workspace.run(command, "cargo test --workspace")?;
            if let Some(path) = browser_missing {
                warn_browser_skipped(path);
            }
            Ok(())
        }
        "run" => {
            // The host build does not need the component: it runs alongside
            // the component's (whose fat-LTO link keeps one core busy and the
            // other idle), in its own part of the target directory. The
            // component is served as cargo built it: wasm-opt only makes it
            // smaller, so `run` needs neither npm nor binaryen.
            println!("xtask: {RUN_HOST_BUILD} (alongside the component's build)");
            let mut host_build = workspace.cargo();
            host_build.args(RUN_HOST_BUILD.split(' ').skip(1));
            let mut host_build = host_build
                .spawn()
                .with_context(|| format!("cannot start `{RUN_HOST_BUILD}`"))?;
            let wasm = match workspace.build_component_unoptimised(Flavour::Default) {
                Ok(wasm) => wasm,
                Err(err) => {
                    // Nothing to run: stop the host build rather than wait for it.
                    let _ = host_build.kill();
                    let _ = host_build.wait();
                    return Err(err);
                }
            };
            wait(host_build, RUN_HOST_BUILD)?;
            let mut command = workspace.cargo();
            command.args([
                "run",
                "--package",
                "finconnect-host",
                "--",
                "up",
                "--sandbox",
            ]);
            if !rest
                .iter()
                .any(|arg| arg == "--wasm" || arg.starts_with("--wasm="))
            {
                command.arg("--wasm").arg(&wasm);
            }
            command.args(rest);
            workspace.run(command, "cargo run --package finconnect-host")
        }
        "bench" if rest.first().is_some_and(|arg| arg == "--peers") => {
            let mut command = workspace.peers_command()?;
            command.args(rest);
            workspace.run(
                command,
                "cargo bench --package finconnect-host --bench perf -- --peers",
            )
        }
        "bench" if rest.first().is_some_and(|arg| arg == "--fuel") => {
            let mut command = workspace.cargo();
            command.args(["bench", "--package", "finconnect-host", "--bench", "perf"]);
            command.env(
                Flavour::Default.env_var(),
                workspace.build_component(Flavour::Default)?,
            );
            // Every engine of the benchmark's process counts fuel.
            command.env("FINCONNECT_HOST_FUEL", "1");
            // `FINCONNECT_WASM_BASELINE` (optional) is passed through as is.
            command.arg("--").args(rest);
            workspace.run(
                command,
                "cargo bench --package finconnect-host --bench perf -- --fuel",
            )
        }
        "bench" if rest.first().is_some_and(|arg| arg == "--ledger") => {
            let mut command = workspace.cargo();
            command.args(["bench", "--package", "finconnect-host", "--bench", "perf"]);
            for flavour in [Flavour::Default, Flavour::StoreOnly] {
                command.env(flavour.env_var(), workspace.build_component(flavour)?);
            }
            // `FINCONNECT_WASM_BASELINE` (optional) is passed through as is.
            command.arg("--").args(rest);
            workspace.run(
                command,
                "cargo bench --package finconnect-host --bench perf -- --ledger",
            )
        }
        "bench" | "load" => {
            let flavours: &[Flavour] = if task == "bench" {
                &[Flavour::Default, Flavour::TokenCache]
            } else {
                &[Flavour::Default]
            };
            let mut command = workspace.cargo();
            command.args(["bench", "--package", "finconnect-host", "--bench", "perf"]);
            for &flavour in flavours {
                command.env(flavour.env_var(), workspace.build_component(flavour)?);
            }
            command.arg("--");
            if task == "load" {
                command.arg("--load");
            }
            command.args(rest);
            workspace.run(
                command,
                "cargo bench --package finconnect-host --bench perf",
            )
        }
        "wasm-opt" => {
            if rest.is_empty() {
                bail!("`wasm-opt` needs at least one component file\n\n{USAGE}");
            }
            for file in rest {
                workspace.optimise(Path::new(file), false)?;
            }
            Ok(())
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// Reads variables through `wasi:config/store`.
    Default,
    /// `--features spin-variables`: reads them through `fermyon:spin/variables`.
    SpinVariables,
    /// `--features token-cache`: keeps tokens in `wasi:keyvalue` when asked to.
    TokenCache,
    /// `--features keyvalue-store-only`: the ledger without `wasi:keyvalue/atomics`.
    StoreOnly,
}

impl Flavour {
    const ALL: [Flavour; 4] = [
        Flavour::Default,
        Flavour::SpinVariables,
        Flavour::TokenCache,
        Flavour::StoreOnly,
    ];

    /// The cargo feature, and the separate target directory it builds into
    /// (so every flavour's file exists side by side).
    fn feature(self) -> Option<&'static str> {
        match self {
            Flavour::Default => None,
            Flavour::SpinVariables => Some("spin-variables"),
            Flavour::TokenCache => Some("token-cache"),
            Flavour::StoreOnly => Some("keyvalue-store-only"),
        }
    }

    /// The variable through which the tests find this flavour's file.
    fn env_var(self) -> &'static str {
        match self {
            Flavour::Default => "FINCONNECT_WASM",
            Flavour::SpinVariables => "FINCONNECT_WASM_SPIN_VARIABLES",
            Flavour::TokenCache => "FINCONNECT_WASM_TOKEN_CACHE",
            Flavour::StoreOnly => "FINCONNECT_WASM_STORE_ONLY",
        }
    }
}

struct Workspace {
    root: PathBuf,
    target_dir: PathBuf,
    cargo: OsString,
}

/// Writes `text` to `path` readable by its owner only (it holds secrets),
/// replacing what was there.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        // A file that existed keeps its mode through `open`: tighten it first.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", path.display()))?;
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// One line on what `spin-store` (or `build`) did to Spin's store file.
fn describe_store(path: &Path, outcome: spin_store::Outcome) -> String {
    let path = path.display();
    match outcome {
        spin_store::Outcome::Created => {
            format!("created Spin's key-value store {path} in WAL mode")
        }
        spin_store::Outcome::Switched { from } => {
            format!("switched Spin's key-value store {path} from `{from}` to WAL mode")
        }
        spin_store::Outcome::AlreadyWal => {
            format!("Spin's key-value store {path} is in WAL mode already")
        }
    }
}

impl Workspace {
    /// After `build`: creates Spin's default store in WAL mode when it does
    /// not exist; says how to switch one that uses a rollback journal. A
    /// failure is a warning: the component is built either way.
    fn prepare_spin_store(&self) {
        let path = self.root.join(SPIN_DEFAULT_STORE);
        let result = if path.exists() {
            spin_store::journal_mode(&path).map(|mode| {
                if mode != spin_store::JournalMode::Wal {
                    println!(
                        "xtask: note: Spin's key-value store {} uses a `{mode}` journal; \
                         `cargo xtask spin-store` (with Spin stopped) puts it in WAL mode, \
                         about three times the pays per second under `spin up`",
                        path.display()
                    );
                }
            })
        } else {
            spin_store::use_wal(&path)
                .map(|outcome| println!("xtask: {}", describe_store(&path, outcome)))
        };
        if let Err(err) = result {
            eprintln!("xtask: WARNING: Spin's key-value store left as it is: {err:#}");
        }
    }

    fn locate() -> anyhow::Result<Self> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir
            .parent()
            .context("xtask is expected one level below the workspace root")?
            .to_path_buf();
        if !root.join("Cargo.toml").is_file() {
            bail!("no Cargo.toml in {} (the workspace root)", root.display());
        }
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        Ok(Self {
            root,
            target_dir,
            cargo,
        })
    }

    /// `cargo` in the workspace, with the environment of a cargo started from
    /// a shell: without the `CARGO_PKG_*` and `CARGO_MANIFEST_*` variables
    /// that `cargo run` gave xtask. Build scripts such as ring's rerun when
    /// those change, so leaving them in would rebuild ring, rustls and
    /// wasmtime-wasi-http each time one switches between `cargo xtask ...`
    /// and a plain `cargo test` or `cargo build`.
    fn cargo(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command.current_dir(&self.root);
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_run_variable) {
                command.env_remove(name);
            }
        }
        command
    }

    /// Runs `command`, failing with `what` and its exit status when it fails.
    fn run(&self, mut command: Command, what: &str) -> anyhow::Result<()> {
        let status = command
            .status()
            .with_context(|| format!("cannot start `{what}`"))?;
        if !status.success() {
            bail!("`{what}` failed ({status})");
        }
        Ok(())
    }

    /// Builds the component, optimises it with wasm-opt and returns the path
    /// of the `.wasm` file.
    fn build_component(&self, flavour: Flavour) -> anyhow::Result<PathBuf> {
        let wasm = self.build_component_unoptimised(flavour)?;
        self.optimise(&wasm, true)?;
        Ok(wasm)
    }

    /// Builds the component and returns the path of the `.wasm` file as cargo
    /// wrote it.
    fn build_component_unoptimised(&self, flavour: Flavour) -> anyhow::Result<PathBuf> {
        self.check_wasm_target()?;
        let mut command = self.cargo();
        command.args([
            "build",
            "--package",
            "finconnect",
            "--target",
            WASM_TARGET,
            "--release",
        ]);
        let (what, target_dir) = match flavour.feature() {
            None => (
                "cargo build --target wasm32-wasip2 --release".to_owned(),
                self.target_dir.clone(),
            ),
            Some(feature) => {
                let dir = self.target_dir.join(feature);
                command
                    .args(["--features", feature, "--target-dir"])
                    .arg(&dir);
                (
                    format!("cargo build --target wasm32-wasip2 --release --features {feature}"),
                    dir,
                )
            }
        };
        println!("xtask: {what}");
        self.run(command, &what)?;
        let wasm = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(COMPONENT_FILE);
        if !wasm.is_file() {
            bail!("`{what}` succeeded but {} is missing", wasm.display());
        }
        Ok(wasm)
    }

    /// Runs binaryen's `wasm-opt -Oz` over the core modules of the component
    /// at `wasm` and puts the result in its place (cargo's own output stays
    /// in `deps/`; cargo links it back on its next build, so this runs after
    /// every `cargo build`). The last result is kept next to the file, keyed
    /// by a hash of its input (when `keep` is set), so an unchanged build is
    /// not optimised twice.
    fn optimise(&self, wasm: &Path, keep: bool) -> anyhow::Result<()> {
        let raw = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
        let key = {
            use std::hash::{Hash as _, Hasher as _};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            raw.hash(&mut hasher);
            WASM_OPT_ARGS.hash(&mut hasher);
            shrink::DROPPED_CUSTOM_SECTIONS.hash(&mut hasher);
            format!("{:016x}\n", hasher.finish())
        };
        let cache = wasm.with_extension("wasm-opt-cache");
        let cache_key = wasm.with_extension("wasm-opt-key");
        if keep
            && std::fs::read_to_string(&cache_key).is_ok_and(|text| text == key)
            && let Ok(optimised) = std::fs::read(&cache)
        {
            replace_file(wasm, &optimised)?;
            println!(
                "xtask: wasm-opt: {} bytes -> {} bytes (unchanged input, kept result)",
                raw.len(),
                optimised.len()
            );
            return Ok(());
        }
        let Some(wasm_opt) = self.wasm_opt()? else {
            if std::env::var_os(REQUIRE_WASM_OPT).is_some() {
                bail!(
                    "{REQUIRE_WASM_OPT} is set but wasm-opt is not available: install Node.js \
                     and npm (then `cargo xtask build` installs binaryen from {WASM_OPT_DIR}), \
                     or set WASM_OPT to a binaryen wasm-opt"
                );
            }
            println!(
                "xtask: warning: wasm-opt is not available (no npm to install binaryen from \
                 {WASM_OPT_DIR}, and WASM_OPT is not set): {} stays unoptimised, about 20% larger",
                wasm.display()
            );
            return Ok(());
        };
        let scratch = wasm.with_extension("wasm-opt-scratch");
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        let mut count = 0;
        let (optimised, sizes) = shrink::optimise_modules(&raw, |module| {
            count += 1;
            let input = scratch.join(format!("module{count}.wasm"));
            let output = scratch.join(format!("module{count}.opt.wasm"));
            std::fs::write(&input, module)
                .with_context(|| format!("cannot write {}", input.display()))?;
            let mut command = Command::new(&wasm_opt);
            command
                .args(WASM_OPT_ARGS)
                .arg(&input)
                .arg("-o")
                .arg(&output);
            self.run(command, &format!("wasm-opt {}", WASM_OPT_ARGS.join(" ")))?;
            std::fs::read(&output).with_context(|| format!("cannot read {}", output.display()))
        })?;
        let _ = std::fs::remove_dir_all(&scratch);
        replace_file(wasm, &optimised)?;
        if keep {
            std::fs::write(&cache, &optimised)
                .and_then(|()| std::fs::write(&cache_key, &key))
                .with_context(|| format!("cannot write {}", cache.display()))?;
        }
        let modules: Vec<String> = sizes
            .iter()
            .map(|(before, after)| format!("{before} -> {after}"))
            .collect();
        println!(
            "xtask: wasm-opt: {} bytes -> {} bytes ({}; core modules {})",
            raw.len(),
            optimised.len(),
            wasm.display(),
            modules.join(", ")
        );
        Ok(())
    }

    /// binaryen's `wasm-opt`: `WASM_OPT` when set, else the pinned npm
    /// package in tools/wasm-opt (installed with `npm ci` the first time).
    /// `None` when neither is possible.
    fn wasm_opt(&self) -> anyhow::Result<Option<PathBuf>> {
        if let Some(path) = std::env::var_os("WASM_OPT") {
            return Ok(Some(PathBuf::from(path)));
        }
        let dir = self.root.join(WASM_OPT_DIR);
        let bin = dir.join("node_modules").join(".bin").join("wasm-opt");
        if !bin.is_file() {
            let npm_works = Command::new("npm")
                .arg("--version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !npm_works {
                return Ok(None);
            }
            println!("xtask: npm ci (binaryen for wasm-opt, pinned in {WASM_OPT_DIR})");
            let mut command = Command::new("npm");
            command
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir);
            self.run(command, &format!("npm ci in {WASM_OPT_DIR}"))?;
            if !bin.is_file() {
                bail!(
                    "`npm ci` in {WASM_OPT_DIR} did not install {}",
                    bin.display()
                );
            }
        }
        Ok(Some(bin))
    }

    /// Runs the composition script for `wasm` and returns the composed file.
    fn compose(&self, wasm: &Path) -> anyhow::Result<PathBuf> {
        println!("xtask: {COMPOSITION_SCRIPT}");
        let output = Command::new("bash")
            .arg(self.root.join(COMPOSITION_SCRIPT))
            .current_dir(&self.root)
            .env("FINCONNECT_WASM", wasm)
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("cannot start `{COMPOSITION_SCRIPT}`"))?;
        if !output.status.success() {
            bail!("`{COMPOSITION_SCRIPT}` failed ({})", output.status);
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let composed = stdout
            .lines()
            .find_map(|line| line.strip_prefix("FINCONNECT_COMPOSED_WASM="))
            .with_context(|| {
                format!("`{COMPOSITION_SCRIPT}` did not print FINCONNECT_COMPOSED_WASM=<path>")
            })?;
        Ok(PathBuf::from(composed.trim()))
    }

    /// Builds what the peer benchmark runs (the component, the minimal
    /// component, the `finconnect-host` binary with the bench profile,
    /// FinConnect transpiled by jco) and returns the `cargo bench` command
    /// that runs it, with their paths in its environment.
    fn peers_command(&self) -> anyhow::Result<Command> {
        let wasm = self.build_component(Flavour::Default)?;

        let minimal_target = self.target_dir.join("peers-minimal");
        let mut command = self.cargo();
        command
            .args([
                "build",
                "--manifest-path",
                "bench/minimal/Cargo.toml",
                "--locked",
            ])
            .args(["--target", WASM_TARGET, "--release", "--target-dir"])
            .arg(&minimal_target);
        self.run(command, "cargo build (bench/minimal)")?;
        let minimal = minimal_target
            .join(WASM_TARGET)
            .join("release")
            .join("minimal_pay.wasm");

        let mut command = self.cargo();
        command.args([
            "build",
            "--profile",
            "bench",
            "--package",
            "finconnect-host",
            "--bin",
            "finconnect-host",
        ]);
        self.run(command, "cargo build --profile bench --bin finconnect-host")?;
        let host_bin = self.target_dir.join("release").join("finconnect-host");

        // jco from examples/node (its pinned version), output beside the target.
        let node_dir = self.root.join("examples/node");
        let jco = node_dir.join("node_modules/.bin/jco");
        if !jco.is_file() {
            let mut command = Command::new("npm");
            command
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&node_dir);
            self.run(command, "npm ci in examples/node (jco)")?;
        }
        let out = self.target_dir.join("peers-jco");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out)?;
        let mut command = Command::new(&jco);
        command
            .arg("transpile")
            .arg(&wasm)
            .arg("-o")
            .arg(&out)
            .args(["--name", "finconnect", "--quiet", "--map"])
            .arg(format!(
                "wasi:config/store={}",
                node_dir.join("config.mjs").display()
            ));
        // The ledger's store, as examples/node maps it (scripts/composition.sh).
        for interface in [
            "wasi:keyvalue/store",
            "wasi:keyvalue/atomics",
            "wasi:keyvalue/batch",
        ] {
            command.arg("--map").arg(format!(
                "{interface}={}",
                node_dir.join("keyvalue.mjs").display()
            ));
        }
        self.run(command, "jco transpile (peer benchmark)")?;
        // The transpiled code imports @bytecodealliance/preview2-shim.
        let link = out.join("node_modules");
        if !link.exists() {
            std::os::unix::fs::symlink(node_dir.join("node_modules"), &link)
                .with_context(|| format!("cannot link {}", link.display()))?;
        }

        let mut command = self.cargo();
        command
            .args(["bench", "--package", "finconnect-host", "--bench", "perf"])
            .env(Flavour::Default.env_var(), &wasm)
            .env("FINCONNECT_MINIMAL_WASM", minimal)
            .env("FINCONNECT_HOST_BIN", host_bin)
            .env("FINCONNECT_JCO_JS", out.join("finconnect.js"))
            .arg("--");
        Ok(command)
    }

    /// Makes sure the toolchain has the wasm32-wasip2 standard library: adds
    /// it through rustup when it is missing, or fails with the fix when
    /// rustup is not there to do it.
    fn check_wasm_target(&self) -> anyhow::Result<()> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        ensure_wasm_target(&self.root, Path::new(&rustc), Path::new("rustup"))
    }
}

/// Whether `name` is one of the variables `cargo run` sets for the program it
/// runs (about xtask's own package), rather than one the user set.
fn is_run_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
        )
}

/// Waits for `child`, failing with `what` and its exit status when it fails.
fn wait(mut child: std::process::Child, what: &str) -> anyhow::Result<()> {
    let status = child
        .wait()
        .with_context(|| format!("cannot wait for `{what}`"))?;
    if !status.success() {
        bail!("`{what}` failed ({status})");
    }
    Ok(())
}

/// The sysroot of `rustc`, as `rustc --print sysroot` gives it.
fn sysroot(root: &Path, rustc: &Path) -> anyhow::Result<PathBuf> {
    let output = Command::new(rustc)
        .current_dir(root)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| {
            format!(
                "cannot run `{} --print sysroot`: is Rust installed?",
                rustc.display()
            )
        })?;
    if !output.status.success() {
        bail!(
            "`rustc --print sysroot` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Whether the toolchain at `sysroot` has the standard library of [`WASM_TARGET`].
fn has_wasm_target(sysroot: &Path) -> bool {
    sysroot
        .join("lib")
        .join("rustlib")
        .join(WASM_TARGET)
        .is_dir()
}

/// Adds [`WASM_TARGET`] with `rustup target add` when the toolchain of
/// `rustc` lacks it. The toolchain is the one rustup chose for this build
/// (`RUSTUP_TOOLCHAIN`, set by rustup's proxies), so the target lands where
/// `cargo build` looks. Without rustup, the error says what to install.
fn ensure_wasm_target(root: &Path, rustc: &Path, rustup: &Path) -> anyhow::Result<()> {
    let sysroot = sysroot(root, rustc)?;
    if has_wasm_target(&sysroot) {
        return Ok(());
    }
    let rustup_works = Command::new(rustup)
        .arg("--version")
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !rustup_works {
        bail!(
            "the {WASM_TARGET} target is not installed for the toolchain at {}, and rustup is \
             not available to add it: install the {WASM_TARGET} standard library for this \
             toolchain (with rustup: `rustup target add {WASM_TARGET}`)",
            sysroot.display()
        );
    }
    let mut command = Command::new(rustup);
    command.current_dir(root).args(["target", "add"]);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        command.arg("--toolchain").arg(toolchain);
    }
    command.arg(WASM_TARGET);
    println!("xtask: the {WASM_TARGET} target is missing: rustup target add {WASM_TARGET}");
    let status = command.status().context("cannot run `rustup target add`")?;
    if !status.success() {
        bail!(
            "`rustup target add {WASM_TARGET}` failed ({status}); the {WASM_TARGET} target is \
             not installed for the toolchain at {}",
            sysroot.display()
        );
    }
    if !has_wasm_target(&sysroot) {
        bail!(
            "`rustup target add {WASM_TARGET}` succeeded but {} still has no {WASM_TARGET} \
             standard library: is `rustc` ({}) the toolchain rustup manages?",
            sysroot.display(),
            rustc.display()
        );
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// A scratch directory with a fake toolchain: `rustc` prints `sysroot`,
    /// `rustup` records its arguments and, when asked to add a target,
    /// creates its standard library directory (as rustup does).
    struct Fake {
        dir: PathBuf,
        sysroot: PathBuf,
        /// One fake at a time: a test that writes its scripts while another
        /// test's child is between `fork` and `exec` leaves the script open
        /// for writing in that child, and running it then fails with "Text
        /// file busy" (ETXTBSY; seen once in CI).
        _alone: std::sync::MutexGuard<'static, ()>,
    }

    static ONE_FAKE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    impl Fake {
        fn new(name: &str) -> Self {
            let alone = ONE_FAKE_AT_A_TIME
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let sysroot = dir.join("sysroot");
            std::fs::create_dir_all(sysroot.join("lib").join("rustlib")).unwrap();
            let fake = Self {
                dir,
                sysroot,
                _alone: alone,
            };
            fake.script("rustc", &format!("echo '{}'", fake.sysroot.display()));
            fake.script(
                "rustup",
                &format!(
                    "echo \"$@\" >> '{log}'\n\
                     if [ \"$1\" = target ] && [ \"$2\" = add ]; then\n\
                       for last; do :; done\n\
                       mkdir -p '{sysroot}/lib/rustlib/'\"$last\"\n\
                     fi",
                    log = fake.dir.join("rustup.log").display(),
                    sysroot = fake.sysroot.display()
                ),
            );
            fake
        }

        fn script(&self, name: &str, body: &str) {
            let path = self.dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }

        fn rustup_calls(&self) -> String {
            std::fs::read_to_string(self.dir.join("rustup.log")).unwrap_or_default()
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn cargo_is_started_without_the_variables_cargo_run_set_for_xtask() {
        // `cargo test` sets them for this test as `cargo run` does for xtask.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let workspace = Workspace::locate().unwrap();
        let command = workspace.cargo();
        let removed: Vec<String> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
        ] {
            assert!(
                removed.iter().any(|r| r == name),
                "{name} kept: {removed:?}"
            );
        }
        assert!(!is_run_variable("CARGO_TARGET_DIR") && !is_run_variable("CARGO_HOME"));
    }

    #[test]
    fn a_missing_target_is_added_through_rustup() {
        let fake = Fake::new("add");
        ensure_wasm_target(&fake.dir, &fake.path("rustc"), &fake.path("rustup")).unwrap();
        assert!(has_wasm_target(&fake.sysroot));
        let calls = fake.rustup_calls();
        assert!(
            calls
                .lines()
                .any(|line| line.starts_with("target add") && line.ends_with(WASM_TARGET)),
            "rustup was called with: {calls:?}"
        );
    }

    #[test]
    fn an_installed_target_needs_no_rustup() {
        let fake = Fake::new("present");
        std::fs::create_dir_all(fake.sysroot.join("lib/rustlib").join(WASM_TARGET)).unwrap();
        ensure_wasm_target(&fake.dir, &fake.path("rustc"), &fake.path("rustup")).unwrap();
        assert_eq!(fake.rustup_calls(), "");
    }

    #[test]
    fn without_rustup_the_error_says_what_to_install() {
        let fake = Fake::new("no-rustup");
        let err = ensure_wasm_target(&fake.dir, &fake.path("rustc"), &fake.path("no-such-rustup"))
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("rustup target add {WASM_TARGET}"))
                && text.contains("rustup is not available"),
            "{text}"
        );
        assert!(!has_wasm_target(&fake.sysroot));
    }

    #[test]
    fn a_failing_rustup_is_reported() {
        let fake = Fake::new("rustup-fails");
        fake.script(
            "rustup",
            "if [ \"$1\" = --version ]; then exit 0; fi\necho offline >&2\nexit 1",
        );
        let err =
            ensure_wasm_target(&fake.dir, &fake.path("rustc"), &fake.path("rustup")).unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("`rustup target add {WASM_TARGET}` failed")),
            "{err:#}"
        );
    }
}
