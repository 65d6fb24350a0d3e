//! Just enough of a W3C WebDriver client to drive Debian's headless
//! Chromium through `chromedriver` on loopback: JSON over HTTP/1.1 with the
//! suites' own socket helper, no extra crates.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support; tests fail loudly"
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where Debian puts them (`apt-get install chromium chromium-driver`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The WebDriver name of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52f-4a5cd8e3c4bc";

/// Whether a browser test may run here. `Err` says why not; with
/// `FINCONNECT_REQUIRE_BROWSER=1` a missing browser is a failure, otherwise
/// the caller skips loudly.
pub fn available() -> Result<(), String> {
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(path).is_file() {
            return Err(format!(
                "{path} is missing (install with `apt-get install -y chromium chromium-driver`)"
            ));
        }
    }
    Ok(())
}

/// Says on the real stderr (not captured by the test harness) that a test
/// was skipped, or fails it when `FINCONNECT_REQUIRE_BROWSER=1`.
pub fn skip_or_fail(test: &str, why: &str) {
    if std::env::var("FINCONNECT_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("{test}: FINCONNECT_REQUIRE_BROWSER=1 but {why}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED browser test {test}: {why}.\n*** Set FINCONNECT_REQUIRE_BROWSER=1 to make this a failure.\n"
    );
}

/// A headless Chromium session behind its own chromedriver. Dropping it
/// ends the session, stops the driver (the child this process started)
/// and removes the fresh profile directory.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    profile: PathBuf,
}

impl Browser {
    pub fn launch() -> Browser {
        // A session request that chromedriver drops without an answer
        // (a reset connection: a driver that died while starting Chromium
        // on a loaded machine) is tried with a new driver, twice at most,
        // and said on stderr. An answer, even an error, is never retried.
        const ATTEMPTS: u32 = 3;
        let mut attempt = 1;
        loop {
            let mut browser = Browser::start_driver();
            match browser.create_session() {
                Ok(()) => return browser,
                Err(err) if attempt < ATTEMPTS => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "*** chromedriver gave no answer to the session request (attempt {attempt} of {ATTEMPTS}: {err}); starting a new one"
                    );
                    drop(browser);
                    attempt += 1;
                }
                Err(err) => panic!("chromedriver gave no answer to the session request: {err}"),
            }
        }
    }

    /// A chromedriver of its own on a port it picks, with a fresh profile
    /// directory; no session yet.
    fn start_driver() -> Browser {
        // chromedriver picks its own port (`--port=0`) and says which. A
        // port found free here and handed to it could be taken in between,
        // for instance by the DevTools port of a Chromium another test
        // starts at the same moment, and the session request would then go
        // to that listener.
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("{CHROMEDRIVER} does not start: {err}"));
        let port = driver_port(&mut driver, Duration::from_secs(30));
        let profile = std::env::temp_dir().join(format!(
            "finconnect-browser-test-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        Browser {
            driver,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: String::new(),
            profile,
        }
    }

    /// Starts headless Chromium through the driver. `Err` only when the
    /// driver gave no answer; an error it answers fails the test.
    fn create_session(&mut self) -> std::io::Result<()> {
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--user-data-dir={}", self.profile.display()),
        ];
        let body = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let (status, reply) =
            try_exchange(self.addr, "POST", "/session", body.to_string().as_bytes())?;
        let created = answer("POST", "/session", status, &reply);
        self.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Ok(())
    }

    /// One WebDriver command; panics with the driver's message on an error.
    fn raw(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, reply) = exchange(self.addr, method, path, body.as_bytes());
        answer(method, path, status, &reply)
    }

    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_owned()
    }

    pub fn title(&self) -> String {
        self.cmd("GET", "/title", None).as_str().unwrap().to_owned()
    }

    /// The elements matching `css`, as WebDriver element ids.
    pub fn find_all(&self, css: &str) -> Vec<String> {
        self.cmd(
            "POST",
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e.get(ELEMENT_KEY)
                .or_else(|| e.as_object().and_then(|o| o.values().next()))
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("not an element reference: {e}"))
                .to_owned()
        })
        .collect()
    }

    /// The one element matching `css`.
    pub fn find(&self, css: &str) -> String {
        let found = self.find_all(css);
        assert_eq!(found.len(), 1, "expected one element for {css:?}");
        found.into_iter().next().unwrap()
    }

    /// The rendered text of the one element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.cmd("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    pub fn is_selected(&self, css: &str) -> bool {
        let id = self.find(css);
        self.cmd("GET", &format!("/element/{id}/selected"), None)
            .as_bool()
            .unwrap()
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn execute(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// Waits until the loaded page shows an element matching `css` (after a
    /// form post renders the answer). A generous limit, no timing assertion.
    pub fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let script = format!(
            "return document.readyState === 'complete' && document.querySelector({}) !== null",
            json!(css)
        );
        while self.execute(&script) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "the page never showed {css}: {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the page's URL starts with `prefix` (a navigation after
    /// a click); returns the URL. Waiting has a generous limit and no
    /// assertion about how long it took.
    pub fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let url = self.url();
            if url.starts_with(prefix) && self.execute("return document.readyState") == "complete" {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "the browser stayed on {url}, expected {prefix}…"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn set_window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height})),
        );
    }

    /// A PNG of the whole page at `width` CSS pixels: the window is grown to
    /// the document's height first.
    pub fn screenshot_full(&self, width: u32) -> Vec<u8> {
        self.set_window_size(width, 800);
        let height = self
            .execute("return Math.ceil(document.documentElement.scrollHeight)")
            .as_u64()
            .unwrap_or(800);
        let height = u32::try_from(height).unwrap_or(800).clamp(300, 6000);
        // The window's chrome takes some height in headless mode too: size
        // the viewport, not the window.
        let inner = self
            .execute("return window.outerHeight - window.innerHeight")
            .as_u64()
            .unwrap_or(0);
        self.set_window_size(width, height + u32::try_from(inner).unwrap_or(0));
        let encoded = self.cmd("GET", "/screenshot", None);
        decode_base64(encoded.as_str().unwrap())
    }
}

/// The port chromedriver announces on its standard output ("... started
/// successfully on port N."), read within `limit`; its output is drained
/// afterwards so that it never blocks on a full pipe.
fn driver_port(driver: &mut Child, limit: Duration) -> u16 {
    let stdout = driver
        .stdout
        .take()
        .expect("chromedriver's stdout is piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { return };
            let port = line
                .split_once("started successfully on port ")
                .and_then(|(_, rest)| rest.trim_end_matches('.').trim().parse::<u16>().ok());
            if let Some(port) = port {
                let _ = sender.send(port);
                break;
            }
        }
        lines.for_each(drop);
    });
    receiver
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{CHROMEDRIVER} did not say its port within {limit:?}"))
}

/// One HTTP/1.1 exchange with chromedriver, which keeps connections open:
/// the reply is read up to its `Content-Length`.
fn exchange(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    try_exchange(addr, method, path, body)
        .unwrap_or_else(|err| panic!("{method} {path} at {addr}: {err}"))
}

/// [`exchange`], with a connection that fails or closes before a whole
/// answer as an error.
fn try_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut writer = stream.try_clone()?;
    write!(
        writer,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )?;
    writer.write_all(body)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad content-length")
            })?;
        }
    }
    let mut reply = vec![0; length];
    reader.read_exact(&mut reply)?;
    Ok((status, reply))
}

/// A WebDriver answer's `value`; panics with the driver's message unless
/// the status is 200.
fn answer(method: &str, path: &str, status: u16, reply: &[u8]) -> Value {
    let value: Value = serde_json::from_slice(reply).unwrap_or_else(|err| {
        panic!(
            "{method} {path}: not JSON ({err}): {}",
            String::from_utf8_lossy(reply)
        )
    });
    assert!(
        status == 200,
        "{method} {path} -> {status}: {}",
        value["value"]
    );
    value["value"].clone()
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let session = format!("/session/{}", self.session);
            let _ = std::panic::catch_unwind(|| exchange(self.addr, "DELETE", &session, b""));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Standard base64 (what WebDriver screenshots are), padding optional.
pub fn decode_base64(text: &str) -> Vec<u8> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = value(c).unwrap_or_else(|| panic!("not base64: {:?}", char::from(c)));
        buffer = (buffer << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
        }
    }
    out
}

#[test]
fn base64_decodes_known_values() {
    assert_eq!(decode_base64("TWFu"), b"Man");
    assert_eq!(decode_base64("TWE="), b"Ma");
    assert_eq!(decode_base64("TQ=="), b"M");
    assert_eq!(decode_base64("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
}
