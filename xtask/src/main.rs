//! `cargo xtask`: the project's build, test and run tasks.
//!
//! ```text
//! cargo xtask build [--spin-variables]   build the component (and the spin-variables build)
//! cargo xtask test [ARGS...]             build both components, then `cargo test --workspace ARGS...`
//! cargo xtask run [ARGS...]              build the component, then `finconnect-host up --sandbox ARGS...`
//! ```

use anyhow::{Context as _, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  build [--spin-variables]  cargo build --target wasm32-wasip2 --release (the component);
                            with --spin-variables also the `spin-variables` feature build,
                            into target/spin-variables/
  test [ARGS...]            build both components, then cargo test --workspace ARGS...
                            with FINCONNECT_WASM and FINCONNECT_WASM_SPIN_VARIABLES set
  run [ARGS...]             build the component, then cargo run -p finconnect-host -- up --sandbox ARGS...";

const WASM_TARGET: &str = "wasm32-wasip2";
const COMPONENT_FILE: &str = "finconnect.wasm";
/// Separate target directory of the `spin-variables` build, so both files exist side by side.
const SPIN_VARIABLES_DIR: &str = "spin-variables";

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
            let wasm = workspace.build_component(Flavour::Default)?;
            let spin = workspace.build_component(Flavour::SpinVariables)?;
            let mut command = workspace.cargo();
            command
                .args(["test", "--workspace"])
                .args(rest)
                .env("FINCONNECT_WASM", &wasm)
                .env("FINCONNECT_WASM_SPIN_VARIABLES", &spin);
            workspace.run(command, "cargo test --workspace")
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
        let (what, target_dir) = match flavour {
            Flavour::Default => (
                "cargo build --target wasm32-wasip2 --release",
                self.target_dir.clone(),
            ),
            Flavour::SpinVariables => {
                let dir = self.target_dir.join(SPIN_VARIABLES_DIR);
                command
                    .args(["--features", "spin-variables", "--target-dir"])
                    .arg(&dir);
                (
                    "cargo build --target wasm32-wasip2 --release --features spin-variables",
                    dir,
                )
            }
        };
        println!("xtask: {what}");
        self.run(command, what)?;
        let wasm = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(COMPONENT_FILE);
        if !wasm.is_file() {
            bail!("`{what}` succeeded but {} is missing", wasm.display());
        }
        Ok(wasm)
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
