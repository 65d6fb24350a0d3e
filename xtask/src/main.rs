//! `cargo xtask`: the project's build, test and run tasks.
//!
//! ```text
//! cargo xtask build [--spin-variables]   build the component (and the spin-variables build)
//! cargo xtask test [ARGS...]             build the components, compose the examples, then `cargo test --workspace ARGS...`
//! cargo xtask run [ARGS...]              build the component, then `finconnect-host up --sandbox ARGS...`
//! cargo xtask bench                      build the components, then the benchmark table (release)
//! cargo xtask load [ARGS...]             build the component, then the load test (release)
//! cargo xtask wasm-opt FILE...           optimise components in place (what `build` does to its output)
//! ```

mod shrink;

use anyhow::{Context as _, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  build [--spin-variables]  cargo build --target wasm32-wasip2 --release (the component),
                            then wasm-opt -Oz over its core modules, in place (binaryen from
                            npm, pinned in tools/wasm-opt; WASM_OPT=path uses another; left
                            unoptimised with a warning when neither is available, an error
                            when FINCONNECT_REQUIRE_WASM_OPT is set);
                            with --spin-variables also the `spin-variables` feature build,
                            into target/spin-variables/
  test [ARGS...]            build the three components (default, spin-variables, token-cache),
                            run scripts/composition.sh (wac plug, jco, the Node test), then
                            cargo test --workspace ARGS... with FINCONNECT_WASM,
                            FINCONNECT_WASM_SPIN_VARIABLES, FINCONNECT_WASM_TOKEN_CACHE and
                            FINCONNECT_COMPOSED_WASM set; the browser test (tests/browser.rs)
                            needs /usr/bin/chromium and /usr/bin/chromedriver and is skipped
                            with a warning without them (an error when
                            FINCONNECT_REQUIRE_BROWSER=1)
  run [ARGS...]             build the component, then cargo run -p finconnect-host -- up --sandbox ARGS...
  bench                     build the default and token-cache components, then
                            cargo bench -p finconnect-host --bench perf (release; loopback only):
                            pay latency component vs native core, instantiation, req/s,
                            token cache, component size
  load [ARGS...]            build the component, then the same bench binary with --load:
                            10000 PesaPal pays over POST /payments at concurrency 32
                            (ARGS: --count N, --concurrency C, --max-seconds S)
  wasm-opt FILE...          optimise the given components in place, as `build` does";

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
/// Composes the example consumer with FinConnect and runs the Node test;
/// prints `FINCONNECT_COMPOSED_WASM=<path>` on stdout.
const COMPOSITION_SCRIPT: &str = "scripts/composition.sh";

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
            workspace.run(command, "cargo test --workspace")?;
            if let Some(path) = browser_missing {
                warn_browser_skipped(path);
            }
            Ok(())
        }
        "run" => {
            let wasm = workspace.build_component(Flavour::Default)?;
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
}

impl Flavour {
    const ALL: [Flavour; 3] = [
        Flavour::Default,
        Flavour::SpinVariables,
        Flavour::TokenCache,
    ];

    /// The cargo feature, and the separate target directory it builds into
    /// (so every flavour's file exists side by side).
    fn feature(self) -> Option<&'static str> {
        match self {
            Flavour::Default => None,
            Flavour::SpinVariables => Some("spin-variables"),
            Flavour::TokenCache => Some("token-cache"),
        }
    }

    /// The variable through which the tests find this flavour's file.
    fn env_var(self) -> &'static str {
        match self {
            Flavour::Default => "FINCONNECT_WASM",
            Flavour::SpinVariables => "FINCONNECT_WASM_SPIN_VARIABLES",
            Flavour::TokenCache => "FINCONNECT_WASM_TOKEN_CACHE",
        }
    }
}

struct Workspace {
    root: PathBuf,
    target_dir: PathBuf,
    cargo: OsString,
}

impl Workspace {
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

    fn cargo(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command.current_dir(&self.root);
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

    /// Builds the component and returns the path of the `.wasm` file.
    fn build_component(&self, flavour: Flavour) -> anyhow::Result<PathBuf> {
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
        self.optimise(&wasm, true)?;
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

    /// Fails early, with the fix, when the toolchain lacks the wasm32-wasip2 standard library.
    fn check_wasm_target(&self) -> anyhow::Result<()> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let output = Command::new(&rustc)
            .current_dir(&self.root)
            .args(["--print", "sysroot"])
            .output()
            .context("cannot run `rustc --print sysroot`: is Rust installed?")?;
        if !output.status.success() {
            bail!(
                "`rustc --print sysroot` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let target_lib = sysroot.join("lib").join("rustlib").join(WASM_TARGET);
        if !target_lib.is_dir() {
            bail!(
                "the {WASM_TARGET} target is not installed for the toolchain at {}: \
                 run `rustup target add {WASM_TARGET}` (rust-toolchain.toml lists it, so a \
                 rustup-managed toolchain normally installs it by itself)",
                sysroot.display()
            );
        }
        Ok(())
    }
}
