//! Running FinConnect under the real `spin up`: finding the Spin binary,
//! one Spin application per test in a temporary directory of its own (so
//! `.spin/` state, logs and the SQLite key-value store are per test), a
//! throwaway Redis server, and a small keep-alive HTTP client.
//!
//! Every process started here is stopped by a `Drop` guard, also when the
//! test panics.

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a helper module of one test binary; tests fail loudly"
)]

use crate::common::{self, API_KEY, ROOT, Reply};
use finconnect_sandbox::{Sandbox, SandboxConfig};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Set to `1` (CI does) to make a missing Spin or Redis a failure instead of a skip.
pub const REQUIRE_SPIN: &str = "FINCONNECT_REQUIRE_SPIN";
/// The Spin binary to use; else `spin` on `PATH`, else `../shared/tools/spin/spin`.
pub const SPIN_BIN: &str = "SPIN_BIN";
/// The `redis-server` binary to use; else `redis-server` on `PATH`.
pub const REDIS_SERVER: &str = "REDIS_SERVER";
/// The example consumer built by `scripts/composition.sh`.
pub const SHOP_WASM: &str = "FINCONNECT_SHOP_WASM";

/// The manifest's `source` line that each test points at the built file.
const FINCONNECT_SOURCE: &str = r#"source = "target/wasm32-wasip2/release/finconnect.wasm""#;
const SHOP_SOURCE: &str = r#"source = "../shop/target/wasm32-wasip2/release/shop.wasm""#;
const DEPENDENCY_PATH: &str = r#"path = "../../target/wasm32-wasip2/release/finconnect.wasm""#;

/// How long `spin up` may take to listen (a cold compile on a busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

// ----- skipping loudly, or failing -----

fn required() -> bool {
    std::env::var(REQUIRE_SPIN).is_ok_and(|value| value == "1")
}

/// Writes straight to the process's stderr, past libtest's output capture,
/// so a skip or a measurement shows even without `--nocapture`.
pub fn say(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// Skips the calling test with a loud line, or fails it when
/// [`REQUIRE_SPIN`] is `1`.
pub fn skip_or_fail(test: &str, why: &str) {
    if required() {
        panic!("{REQUIRE_SPIN}=1 and {test} cannot run: {why}");
    }
    say(&format!(
        "\n*** SKIPPED {test}: {why} (set {REQUIRE_SPIN}=1 to make this a failure) ***\n"
    ));
}

// ----- the Spin binary -----

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn find_spin() -> Result<(PathBuf, String), String> {
    let (path, how) = if let Some(path) = std::env::var_os(SPIN_BIN) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!("{SPIN_BIN} = {} does not exist", path.display()));
        }
        (path, SPIN_BIN.to_owned())
    } else if let Some(path) = on_path("spin") {
        (path, "PATH".to_owned())
    } else {
        let shared = Path::new(ROOT).join("../shared/tools/spin/spin");
        if !shared.is_file() {
            return Err(format!(
                "no Spin binary: {SPIN_BIN} is not set, there is no `spin` on PATH and no {}",
                shared.display()
            ));
        }
        (shared, "../shared/tools/spin/spin".to_owned())
    };
    // The shared script unpacks the real binary on first use: run it once here.
    let output = Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("{} (from {how}) does not run: {err}", path.display()))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || !version.starts_with("spin ") {
        return Err(format!(
            "`{} --version` (from {how}) failed: {} {}",
            path.display(),
            version,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let description = format!("{version}, {} (from {how})", path.display());
    Ok((path, description))
}

/// The Spin binary, or `None` after a loud skip line (a failure when
/// [`REQUIRE_SPIN`] is `1`).
pub fn spin(test: &str) -> Option<PathBuf> {
    static FOUND: OnceLock<Result<(PathBuf, String), String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let found = find_spin();
        if let Ok((_, description)) = &found {
            say(&format!("spin suite: using {description}"));
        }
        found
    });
    match found {
        Ok((path, _)) => Some(path.clone()),
        Err(why) => {
            skip_or_fail(test, why);
            None
        }
    }
}

// ----- one test at a time where it matters -----

static EXCLUSIVE: RwLock<()> = RwLock::new(());

/// Taken by every test; several may run side by side.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Taken by the latency test: nothing else of this suite runs meanwhile.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    EXCLUSIVE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ----- files -----

fn file(variable: &str, default: &str, what: &str) -> PathBuf {
    let path = match std::env::var_os(variable) {
        Some(path) => PathBuf::from(path),
        None => Path::new(ROOT).join(default),
    };
    assert!(
        path.is_file(),
        "{what} {} is missing ({variable}; `cargo xtask test` builds it and sets the variable)",
        path.display()
    );
    path
}

pub fn finconnect_wasm() -> PathBuf {
    common::finconnect_wasm()
}

pub fn spin_variables_wasm() -> PathBuf {
    file(
        "FINCONNECT_WASM_SPIN_VARIABLES",
        "target/spin-variables/wasm32-wasip2/release/finconnect.wasm",
        "the spin-variables build",
    )
}

pub fn token_cache_wasm() -> PathBuf {
    file(
        "FINCONNECT_WASM_TOKEN_CACHE",
        "target/token-cache/wasm32-wasip2/release/finconnect.wasm",
        "the token-cache build",
    )
}

pub fn shop_wasm() -> PathBuf {
    file(
        SHOP_WASM,
        "examples/shop/target/wasm32-wasip2/release/shop.wasm",
        "the example shop (built by scripts/composition.sh)",
    )
}

fn toml_string(path: &Path) -> String {
    let text = path.display().to_string();
    assert!(
        !text.contains(['"', '\\']) && !text.chars().any(char::is_control),
        "unexpected characters in {text:?}"
    );
    format!("\"{text}\"")
}

/// Replaces the one line `from` of `text` by `to`; fails when it is not there once.
fn replace_once(text: &str, from: &str, to: &str, what: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{what}: expected exactly one `{from}`"
    );
    text.replace(from, to)
}

/// The project's own spin.toml, its component's `source` pointing at `wasm`.
pub fn finconnect_manifest(wasm: &Path) -> String {
    let text = std::fs::read_to_string(Path::new(ROOT).join("spin.toml")).unwrap();
    replace_once(
        &text,
        FINCONNECT_SOURCE,
        &format!("source = {}", toml_string(wasm)),
        "spin.toml",
    )
}

/// examples/spin-dependency/spin.toml with the shop and FinConnect files it names.
pub fn dependency_manifest(shop: &Path, finconnect: &Path) -> String {
    let path = Path::new(ROOT).join("examples/spin-dependency/spin.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let text = replace_once(
        &text,
        SHOP_SOURCE,
        &format!("source = {}", toml_string(shop)),
        "examples/spin-dependency/spin.toml",
    );
    replace_once(
        &text,
        DEPENDENCY_PATH,
        &format!("path = {}", toml_string(finconnect)),
        "examples/spin-dependency/spin.toml",
    )
}

/// A fresh directory under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "finconnect-spin-{}-{}-{name}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}

fn wait_for_port(addr: SocketAddr, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status}) before listening on {addr}"));
        }
        if Instant::now() > deadline {
            return Err(format!("did not listen on {addr} within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A child process, leader of its own process group (see [`in_own_group`]),
/// stopped with its whole group when dropped. `spin up` runs the HTTP
/// trigger as a child process of its own: killing only `spin up` would leave
/// that one serving.
struct Guard(Child);

/// Puts the command's process in a new process group led by itself.
fn in_own_group(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt as _;
    command.process_group(0)
}

fn signal_group(leader: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{leader}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Guard {
    fn drop(&mut self) {
        let leader = self.0.id();
        // SIGTERM first: `spin up` then stops its trigger process itself.
        signal_group(leader, "-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of the group (the trigger process included).
        signal_group(leader, "-KILL");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ----- Spin applications -----

/// The application variables that point both providers at `sandbox` with the
/// credentials of `config`, and set the merchant key [`API_KEY`].
pub fn sandbox_variables(sandbox: &Sandbox, config: &SandboxConfig) -> Vec<(String, String)> {
    [
        ("pesapal_origin", sandbox.origin()),
        ("clickpesa_origin", sandbox.origin()),
        ("pesapal_consumer_key", config.pesapal_consumer_key.clone()),
        (
            "pesapal_consumer_secret",
            config.pesapal_consumer_secret.clone(),
        ),
        ("clickpesa_client_id", config.clickpesa_client_id.clone()),
        ("clickpesa_api_key", config.clickpesa_api_key.clone()),
        ("mpesa_origin", sandbox.origin()),
        (
            "mpesa_path",
            Sandbox::path(finconnect_core::Provider::Mpesa).to_owned(),
        ),
        ("mpesa_consumer_key", config.mpesa_consumer_key.clone()),
        (
            "mpesa_consumer_secret",
            config.mpesa_consumer_secret.clone(),
        ),
        ("mpesa_passkey", config.mpesa_passkey.clone()),
        ("mpesa_shortcode", config.mpesa_shortcode.clone()),
        ("finconnect_api_key", API_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// What to start: a manifest, its variables, an optional runtime config.
pub struct SpinSetup {
    pub name: String,
    pub manifest: String,
    pub variables: Vec<(String, String)>,
    pub runtime_config: Option<String>,
    /// Reuse this directory (and its `.spin/`) instead of a fresh one.
    pub dir: Option<PathBuf>,
    /// Put Spin's default key-value file in WAL mode before `spin up`
    /// (`xtask::spin_store`, as `cargo xtask build` does).
    pub wal_store: bool,
}

impl SpinSetup {
    pub fn new(name: &str, manifest: String, variables: Vec<(String, String)>) -> SpinSetup {
        SpinSetup {
            name: name.to_owned(),
            manifest,
            variables,
            runtime_config: None,
            dir: None,
            wal_store: false,
        }
    }

    pub fn variable(mut self, name: &str, value: &str) -> SpinSetup {
        self.variables.retain(|(known, _)| known != name);
        self.variables.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn runtime_config(mut self, text: String) -> SpinSetup {
        self.runtime_config = Some(text);
        self
    }

    pub fn in_dir(mut self, dir: PathBuf) -> SpinSetup {
        self.dir = Some(dir);
        self
    }

    /// With `on`, Spin's default key-value file is put in WAL mode first.
    pub fn wal_store(mut self, on: bool) -> SpinSetup {
        self.wal_store = on;
        self
    }
}

/// One `spin up`, stopped when dropped. Its directory is removed too, unless
/// the test failed (then its path is printed, logs included).
pub struct SpinApp {
    child: Option<Guard>,
    dir: PathBuf,
    keep_dir: bool,
    addr: SocketAddr,
    started_in: Duration,
}

impl SpinApp {
    /// `spin up --listen 127.0.0.1:<free port>` in a directory of its own.
    pub fn start(spin: &Path, setup: SpinSetup) -> SpinApp {
        let (dir, keep_dir) = match setup.dir {
            Some(dir) => (dir, true),
            None => (temp_dir(&setup.name), false),
        };
        std::fs::write(dir.join("spin.toml"), &setup.manifest).unwrap();
        if let Some(config) = &setup.runtime_config {
            std::fs::write(dir.join("runtime-config.toml"), config).unwrap();
        }
        if setup.wal_store {
            let store = dir.join(xtask::spin_store::SPIN_DEFAULT_STORE);
            xtask::spin_store::use_wal(&store).unwrap();
        }
        let mut last_error = String::new();
        for attempt in 0..3 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let stdout = std::fs::File::create(dir.join(format!("spin-stdout-{attempt}.txt")));
            let stderr = std::fs::File::create(dir.join(format!("spin-stderr-{attempt}.txt")));
            let mut command = Command::new(spin);
            in_own_group(&mut command)
                .current_dir(&dir)
                .args(["up", "--from", "spin.toml", "--listen"])
                .arg(addr.to_string())
                .stdin(Stdio::null())
                .stdout(stdout.unwrap())
                .stderr(stderr.unwrap());
            if setup.runtime_config.is_some() {
                command.args(["--runtime-config-file", "runtime-config.toml"]);
            }
            // Only what the test sets: nothing from the caller's environment.
            for (name, _) in std::env::vars_os() {
                if name
                    .to_str()
                    .is_some_and(|name| name.to_ascii_uppercase().starts_with("SPIN_VARIABLE_"))
                {
                    command.env_remove(name);
                }
            }
            for (name, value) in &setup.variables {
                command.env(xtask::spin_variables::environment_key(name), value);
            }
            let started = Instant::now();
            let mut child = command
                .spawn()
                .unwrap_or_else(|err| panic!("cannot start {}: {err}", spin.display()));
            match wait_for_port(addr, &mut child) {
                Ok(()) => {
                    return SpinApp {
                        child: Some(Guard(child)),
                        dir,
                        keep_dir,
                        addr,
                        started_in: started.elapsed(),
                    };
                }
                Err(why) => {
                    drop(Guard(child));
                    let stderr =
                        std::fs::read_to_string(dir.join(format!("spin-stderr-{attempt}.txt")))
                            .unwrap_or_default();
                    last_error = format!("spin up ({}) {why}:\n{stderr}", setup.name);
                    // Another process may have taken the port in between: retry.
                    if !stderr.contains("in use") {
                        break;
                    }
                }
            }
        }
        panic!("{last_error}\n(directory {})", dir.display());
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Stops `spin up` (the directory stays until the value is dropped).
    pub fn stop(&mut self) {
        drop(self.child.take());
    }

    /// Everything Spin and the component wrote: Spin's own stdout and stderr
    /// and every file under `.spin/logs/`.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with("spin-std"))
            })
            .collect();
        files.extend(
            std::fs::read_dir(self.dir.join(".spin/logs"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path()),
        );
        files.sort();
        for path in files {
            let content = std::fs::read(&path).unwrap_or_default();
            text.push_str(&format!("=== {}\n", path.display()));
            text.push_str(&String::from_utf8_lossy(&content));
            text.push('\n');
        }
        text
    }

    /// Fails when any of `secrets` appears in [`SpinApp::logs`].
    pub fn assert_no_secrets(&self, secrets: &[String]) {
        let logs = self.logs();
        assert!(
            logs.contains("Serving http://"),
            "Spin's own output was not captured: {logs}"
        );
        if let Some(found) = common::find_any(&logs, secrets) {
            let position = logs.find(found).unwrap_or(0);
            let start = logs[..position]
                .char_indices()
                .rev()
                .nth(200)
                .map_or(0, |(i, _)| i);
            panic!(
                "a secret ({} characters) appears in Spin's logs of {}, here: {:?}",
                found.len(),
                self.dir.display(),
                &logs[start..position]
            );
        }
    }

    /// One request over a fresh connection.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        key: Option<&str>,
    ) -> Reply {
        let auth = key.map(|key| format!("Bearer {key}"));
        let mut headers = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        let bytes = match body {
            Some(body) => {
                headers.push(("content-type", "application/json"));
                body.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        common::http_over_tcp(self.addr, method, path, &headers, &bytes)
    }

    /// An authorised `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.send("POST", path, Some(body), Some(API_KEY))
    }

    /// An authorised `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, Some(API_KEY))
    }
}

impl Drop for SpinApp {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            say(&format!(
                "spin suite: kept {} for inspection; its logs:\n{}",
                self.dir.display(),
                self.logs()
            ));
        } else if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ----- Redis -----

/// A throwaway `redis-server` on a loopback port, without persistence.
pub struct Redis {
    _child: Guard,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// `None` after a loud skip line when `redis-server` is not installed
    /// (a failure when [`REQUIRE_SPIN`] is `1`).
    pub fn start(test: &str) -> Option<Redis> {
        let binary = match std::env::var_os(REDIS_SERVER) {
            Some(path) => Some(PathBuf::from(path)),
            None => on_path("redis-server"),
        };
        let Some(binary) = binary.filter(|path| path.is_file()) else {
            skip_or_fail(
                test,
                "no redis-server (set REDIS_SERVER, or `apt-get install redis-server`; .ci/run does)",
            );
            return None;
        };
        let dir = temp_dir("redis");
        for _ in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(dir.join("redis.log")).unwrap();
            let mut child = in_own_group(&mut Command::new(&binary))
                .current_dir(&dir)
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--protected-mode", "yes"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if wait_for_port(addr, &mut child).is_ok() {
                return Some(Redis {
                    _child: Guard(child),
                    port,
                    dir,
                });
            }
            drop(Guard(child));
        }
        let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
        panic!("redis-server did not start:\n{log}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one command (a tiny RESP exchange, no client library) and
    /// returns the connection, positioned at the answer.
    fn command(&self, args: &[&[u8]]) -> BufReader<TcpStream> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request).unwrap();
        BufReader::new(stream)
    }

    /// Reads an answer's first line, `{kind}{number}` (`*3`, `$5`, `$-1`).
    fn length(reader: &mut BufReader<TcpStream>, kind: char) -> i64 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix(kind)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected Redis answer {line:?}"))
    }

    /// Reads one bulk string (`$len`, or `$-1` for none).
    fn bulk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
        let len = usize::try_from(Self::length(reader, '$')).ok()?;
        let mut value = vec![0; len + 2];
        reader.read_exact(&mut value).unwrap();
        value.truncate(len);
        Some(value)
    }

    /// Every key in the server.
    pub fn keys(&self) -> Vec<String> {
        let mut reader = self.command(&[b"KEYS", b"*"]);
        let count = Self::length(&mut reader, '*');
        (0..count)
            .map(|_| String::from_utf8_lossy(&Self::bulk(&mut reader).unwrap()).into_owned())
            .collect()
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        Self::bulk(&mut self.command(&[b"GET", key.as_bytes()]))
    }

    /// The server's count of connections it has accepted, this query's
    /// own included (`INFO stats`, `total_connections_received`).
    pub fn connections_received(&self) -> u64 {
        let mut reader = self.command(&[b"INFO", b"stats"]);
        let info = Self::bulk(&mut reader).expect("INFO answers");
        String::from_utf8_lossy(&info)
            .lines()
            .find_map(|line| line.strip_prefix("total_connections_received:"))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("no total_connections_received in INFO stats"))
    }

    /// Writes `value` under `key`.
    pub fn set(&self, key: &str, value: &[u8]) {
        let mut reader = self.command(&[b"SET", key.as_bytes(), value]);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "+OK", "SET {key}");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ----- a keep-alive client for the latency test -----

/// One HTTP/1.1 connection reused for many requests.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(addr: SocketAddr) -> Connection {
        let stream = TcpStream::connect(addr).unwrap_or_else(|err| panic!("{addr}: {err}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Connection {
            reader: BufReader::new(stream),
        }
    }

    /// Sends one request and reads its whole response (status and body).
    pub fn exchange(&mut self, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let stream = self.reader.get_mut();
        let mut message = Vec::with_capacity(head.len() + body.len() + 32);
        message.extend_from_slice(head.as_bytes());
        message.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        message.extend_from_slice(body);
        stream.write_all(&message).unwrap();

        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.to_ascii_lowercase().contains("chunked");
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).unwrap();
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .unwrap_or_else(|_| panic!("bad chunk size {line:?}"));
                if size == 0 {
                    // Trailers (none expected), then the empty line.
                    loop {
                        line.clear();
                        self.reader.read_line(&mut line).unwrap();
                        if line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size + 2, 0);
                self.reader.read_exact(&mut body[start..]).unwrap();
                body.truncate(start + size);
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            self.reader.read_exact(&mut body).unwrap();
        }
        (status, body)
    }
}
