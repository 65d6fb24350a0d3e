//! The merchant's webhook endpoint for the tests: `tests/webhook-receiver/receiver.mjs`
//! run by Node, which checks every delivery with the reference Standard
//! Webhooks package (`standardwebhooks` on npm, pinned in its package.json)
//! rather than with FinConnect's own code.
//!
//! ```ignore
//! let Some(receiver) = Receiver::start("my_test", SECRET) else { return };
//! // ... point FinConnect's webhook URL at receiver.url(), make it deliver ...
//! let got = receiver.received();
//! assert!(got.iter().all(|r| r.verified), "{got:#?}");
//! ```
//!
//! The first start in a test binary runs `npm ci` in the receiver's folder
//! when its `node_modules` lacks the pinned package. Without `node` or `npm`,
//! or when `npm ci` cannot install (offline), [`Receiver::start`] prints a
//! loud SKIPPED line and returns `None`; with `FINCONNECT_REQUIRE_NODE=1`
//! (CI) it fails the test instead.

use super::{ROOT, http_over_tcp};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// Set to `1` (CI does) to make a missing Node or a failed `npm ci` a
/// failure instead of a skip.
pub const REQUIRE_NODE: &str = "FINCONNECT_REQUIRE_NODE";
/// The receiver's folder, relative to the repository.
pub const RECEIVER_DIR: &str = "tests/webhook-receiver";
/// A webhook signing secret for the suites: 32 random bytes, base64 with
/// its padding (the npm verifier refuses a secret without it).
pub const WEBHOOK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD6p8Hr3aCg9I=";

/// The path deliveries go to (any path but `/control` would do).
pub const WEBHOOK_PATH: &str = "/webhooks/finconnect";

/// How long Node may take to print its port (a busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped receiver may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One POST the receiver got, as it recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The request target (path and query).
    pub path: String,
    /// The `webhook-id` header.
    pub id: Option<String>,
    /// The `webhook-timestamp` header, as sent.
    pub timestamp: Option<String>,
    /// The `webhook-signature` header.
    pub signature: Option<String>,
    /// Whether `new Webhook(secret).verify(body, headers)` accepted it.
    pub verified: bool,
    /// Why not, when it did not (`WebhookVerificationError: ...`).
    pub error: Option<String>,
    /// What the receiver answered: 204 verified, 400 not, 503 refused.
    pub status: u16,
    /// Whether it was answered 503 because the test asked for refusals.
    pub refused: bool,
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub body: serde_json::Value,
    /// The body as text.
    pub raw: String,
}

impl Received {
    /// Verified and answered 204: what FinConnect should count as delivered.
    pub fn accepted(&self) -> bool {
        self.verified && self.status == 204
    }

    /// The `webhook-timestamp` as Unix seconds, when it is a number.
    pub fn timestamp_secs(&self) -> Option<u64> {
        self.timestamp.as_deref()?.parse().ok()
    }

    fn from_json(value: &serde_json::Value) -> Received {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        Received {
            path: text("path").unwrap_or_default(),
            id: text("id"),
            timestamp: text("timestamp"),
            signature: text("signature"),
            verified: value["verified"]
                .as_bool()
                .unwrap_or_else(|| panic!("no `verified` in {value}")),
            error: text("error"),
            status: value["status"]
                .as_u64()
                .and_then(|status| u16::try_from(status).ok())
                .unwrap_or_else(|| panic!("no `status` in {value}")),
            refused: value["refused"].as_bool().unwrap_or(false),
            body: value["body"].clone(),
            raw: text("raw").unwrap_or_default(),
        }
    }
}

/// A running receiver; dropping it stops the Node process.
pub struct Receiver {
    child: Child,
    /// Held open: the receiver exits when it closes (if this test process
    /// dies, so does the receiver).
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Receiver {
    /// Starts a receiver that verifies with `secret` (`whsec_<base64>`), or
    /// returns `None` after a loud skip line when Node or the receiver's npm
    /// packages are not available (a failure when [`REQUIRE_NODE`] is `1`).
    /// `test` names the caller in that line.
    pub fn start(test: &str, secret: &str) -> Option<Receiver> {
        match install() {
            Ok(()) => Some(Receiver::spawn(secret)),
            Err(why) => {
                skip_or_fail(test, why);
                None
            }
        }
    }

    /// Starts the Node process; panics if it does not come up.
    fn spawn(secret: &str) -> Receiver {
        let dir = receiver_dir();
        let mut child = Command::new("node")
            .arg("receiver.mjs")
            .arg("0")
            .current_dir(&dir)
            .env("WEBHOOK_SECRET", secret)
            .env("RECEIVER_EXIT_WITH_STDIN", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run node receiver.mjs: {err}"));

        // Keep both pipes drained so that the receiver never blocks on them.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (first_line, line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = first_line.send(line);
            }
            for _ in lines {}
        });

        let stdin = child.stdin.take();
        let mut receiver = Receiver {
            child,
            stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
        };
        let line = match line.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let status = receiver.child.try_wait().ok().flatten();
                // Let the stderr thread catch up with a receiver that exited.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "the webhook receiver did not print its port within {START_TIMEOUT:?} \
                     (exit status: {status:?}); its stderr:\n{}",
                    receiver.stderr()
                );
            }
        };
        receiver.addr = line
            .strip_prefix("listening ")
            .and_then(|addr| addr.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!("the receiver's first line is not `listening ADDR`: {line:?}")
            });
        receiver
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (for an allowed-hosts list).
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The webhook URL to give FinConnect.
    pub fn url(&self) -> String {
        format!("{}{WEBHOOK_PATH}", self.origin())
    }

    /// Every POST received so far, oldest first, refused ones included.
    pub fn received(&self) -> Vec<Received> {
        let reply = http_over_tcp(self.addr, "GET", "/received", &[], b"");
        assert_eq!(reply.status, 200, "GET /received: {reply}");
        match reply.json() {
            serde_json::Value::Array(items) => items.iter().map(Received::from_json).collect(),
            other => panic!("GET /received is not a list: {other}"),
        }
    }

    /// The deliveries it accepted (verified, answered 204).
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(Received::accepted)
            .collect()
    }

    /// How many deliveries it refused with 503.
    pub fn refused_count(&self) -> usize {
        self.received().iter().filter(|r| r.refused).count()
    }

    /// Polls [`Receiver::received`] until `done` holds for it or `timeout`
    /// passes; returns the last list either way.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) || Instant::now() >= deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Answers the next `n` deliveries with 503 (replaces any count left).
    pub fn refuse(&self, n: u32) {
        self.control(&serde_json::json!({ "refuse": n }));
    }

    /// Answers every delivery with 503 while `on`.
    pub fn refuse_all(&self, on: bool) {
        self.control(&serde_json::json!({ "refuse_all": on }));
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        self.control(&serde_json::json!({ "clear": true }));
    }

    fn control(&self, command: &serde_json::Value) {
        let body = command.to_string();
        let reply = http_over_tcp(
            self.addr,
            "POST",
            "/control",
            &[("content-type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200, "POST /control {body}: {reply}");
    }

    /// What the receiver wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends SIGTERM and waits for the receiver to exit; returns how it
    /// exited (killed after [`STOP_TIMEOUT`]).
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|status| status.success());
        assert!(sent, "could not send SIGTERM to the receiver ({pid})");
        self.wait_or_kill()
    }

    fn wait_or_kill(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().expect("the receiver is reaped")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // Closing stdin asks it to exit (RECEIVER_EXIT_WITH_STDIN=1).
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        self.wait_or_kill();
    }
}

// ----- Node and the receiver's npm packages -----

fn receiver_dir() -> PathBuf {
    Path::new(ROOT).join(RECEIVER_DIR)
}

fn required() -> bool {
    std::env::var(REQUIRE_NODE).is_ok_and(|value| value == "1")
}

/// Skips the calling test with a loud line on the process's stderr (past
/// libtest's capture), or fails it when [`REQUIRE_NODE`] is `1`.
fn skip_or_fail(test: &str, why: &str) {
    if required() {
        panic!("{REQUIRE_NODE}=1 and {test} cannot run: {why}");
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "\n*** SKIPPED {test}: {why} (set {REQUIRE_NODE}=1 to make this a failure) ***\n"
    );
}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The versions package.json pins, and whether node_modules has each.
fn installed(dir: &Path) -> Result<bool, String> {
    let read = |path: &Path| -> Result<serde_json::Value, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))
    };
    let package = read(&dir.join("package.json"))?;
    let Some(pins) = package["dependencies"].as_object() else {
        return Err(format!("{RECEIVER_DIR}/package.json has no dependencies"));
    };
    for (name, version) in pins {
        let path = dir.join("node_modules").join(name).join("package.json");
        let Ok(present) = read(&path) else {
            return Ok(false);
        };
        if present["version"] != *version {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Makes sure `node` runs and the receiver's pinned packages are in its
/// `node_modules` (`npm ci` once per test binary when they are not).
/// `Err` says why the receiver cannot run.
fn install() -> Result<(), &'static str> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            if !runs("node") {
                return Err("`node` (Node 20 or newer) is not installed or does not run".to_owned());
            }
            let dir = receiver_dir();
            if installed(&dir)? {
                return Ok(());
            }
            if !runs("npm") {
                return Err(format!(
                    "{RECEIVER_DIR}/node_modules lacks the pinned packages and `npm` is not \
                     installed to fetch them"
                ));
            }
            let output = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
                .args(["--loglevel=error"])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
                .map_err(|err| format!("cannot run npm ci: {err}"))?;
            if !output.status.success() || !installed(&dir)? {
                return Err(format!(
                    "`npm ci` in {RECEIVER_DIR} could not install its pinned packages \
                     (is the npm registry reachable? offline, copy a node_modules installed \
                     from the same package-lock.json there): {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            Ok(())
        })
        .as_ref()
        .map(|_| ())
        .map_err(String::as_str)
}
