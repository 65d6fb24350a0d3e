//! Test helpers: a tiny HTTP/1.1 client and a notification receiver, both on
//! std sockets so that what crosses the wire is exactly what is asserted.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test loudly"
)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use finconnect_sandbox::Sandbox;
use serde_json::Value;

/// A response as read off the socket.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Set when the connection failed before the body was complete.
    pub read_error: Option<ErrorKind>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
}

/// Sends one request (`Connection: close`) and reads everything that comes
/// back, keeping what arrived even if the connection breaks.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let mut read_error = None;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => {
                read_error = Some(e.kind());
                break;
            }
        }
    }
    parse_response(&raw, read_error)
}

fn parse_response(raw: &[u8], read_error: Option<ErrorKind>) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
        read_error,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..pos]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = pos + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

pub fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "GET", target, headers, None)
}

pub fn post_json(addr: SocketAddr, target: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    request(addr, "POST", target, &all, Some(&body.to_string()))
}

// ---------------------------------------------------------------- PesaPal

pub const PP: &str = "/pesapalv3/api";

pub fn pesapal_token(sandbox: &Sandbox) -> String {
    let resp = post_json(
        sandbox.addr(),
        &format!("{PP}/Auth/RequestToken"),
        &[],
        &serde_json::json!({"consumer_key": "sandbox-pesapal-key", "consumer_secret": "sandbox-pesapal-secret"}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["token"].as_str().unwrap().to_owned()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Registers an IPN URL and returns its `ipn_id`.
pub fn register_ipn(sandbox: &Sandbox, token: &str, url: &str, kind: &str) -> String {
    let auth = bearer(token);
    let resp = post_json(
        sandbox.addr(),
        &format!("{PP}/URLSetup/RegisterIPN"),
        &[("Authorization", &auth)],
        &serde_json::json!({"url": url, "ipn_notification_type": kind}),
    );
    assert_eq!(resp.status, 200);
    let body = resp.json();
    assert_eq!(body["status"], "200", "{body}");
    body["ipn_id"].as_str().unwrap().to_owned()
}

/// A valid SubmitOrderRequest body (amount as raw JSON text).
pub fn order_body(id: &str, amount: &str, ipn_id: &str) -> String {
    format!(
        r#"{{"id":"{id}","currency":"KES","amount":{amount},"description":"Order {id}",
"callback_url":"http://127.0.0.1:1/return","notification_id":"{ipn_id}",
"billing_address":{{"email_address":"jane@example.com","phone_number":"0723000000","country_code":"KE","first_name":"Jane"}}}}"#
    )
}

pub fn submit_raw(sandbox: &Sandbox, token: &str, body: &str) -> Resp {
    let auth = bearer(token);
    request(
        sandbox.addr(),
        "POST",
        &format!("{PP}/Transactions/SubmitOrderRequest"),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        Some(body),
    )
}

pub fn status(sandbox: &Sandbox, token: &str, tracking_id: &str) -> Resp {
    let auth = bearer(token);
    get(
        sandbox.addr(),
        &format!("{PP}/Transactions/GetTransactionStatus?orderTrackingId={tracking_id}"),
        &[("Authorization", &auth)],
    )
}

// ---------------------------------------------------------------- ClickPesa

pub const CP: &str = "/third-parties";

pub fn clickpesa_token(sandbox: &Sandbox) -> String {
    let resp = request(
        sandbox.addr(),
        "POST",
        &format!("{CP}/generate-token"),
        &[
            ("client-id", "sandbox-clickpesa-client"),
            ("api-key", "sandbox-clickpesa-key"),
        ],
        None,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["token"].as_str().unwrap().to_owned()
}

pub fn initiate(sandbox: &Sandbox, token: &str, body: &Value) -> Resp {
    post_json(
        sandbox.addr(),
        &format!("{CP}/payments/initiate-ussd-push-request"),
        &[("Authorization", token)],
        body,
    )
}

// ---------------------------------------------------------------- M-Pesa Daraja

pub const MP: &str = "/mpesa-daraja";
pub const MPESA_TOKEN_PATH: &str = "/mpesa-daraja/oauth/v1/generate?grant_type=client_credentials";
pub const STK_PUSH: &str = "/mpesa-daraja/mpesa/stkpush/v1/processrequest";
pub const STK_QUERY: &str = "/mpesa-daraja/mpesa/stkpushquery/v1/query";
pub const TIMESTAMP: &str = "20261006095233";

/// Standard padded base64, written out here so the tests do not trust the
/// sandbox's own encoder.
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn basic(key: &str, secret: &str) -> String {
    format!("Basic {}", base64(format!("{key}:{secret}").as_bytes()))
}

/// `Password` for the sandbox shortcode and passkey at `timestamp`.
pub fn stk_password(timestamp: &str) -> String {
    base64(
        format!(
            "174379bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919{timestamp}"
        )
        .as_bytes(),
    )
}

pub fn mpesa_token(sandbox: &Sandbox) -> String {
    let auth = basic("sandbox-mpesa-key", "sandbox-mpesa-secret");
    let resp = get(
        sandbox.addr(),
        MPESA_TOKEN_PATH,
        &[("Authorization", &auth)],
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["access_token"].as_str().unwrap().to_owned()
}

/// A valid paybill STK push body for `phone`.
pub fn stk_body(phone: &str, callback_url: &str) -> Value {
    serde_json::json!({
        "BusinessShortCode": 174379,
        "Password": stk_password(TIMESTAMP),
        "Timestamp": TIMESTAMP,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": "1",
        "PartyA": phone,
        "PartyB": "174379",
        "PhoneNumber": phone,
        "CallBackURL": callback_url,
        "AccountReference": "INV-001",
        "TransactionDesc": "Payment",
    })
}

pub fn stk_push(sandbox: &Sandbox, token: &str, body: &Value) -> Resp {
    let auth = bearer(token);
    post_json(sandbox.addr(), STK_PUSH, &[("Authorization", &auth)], body)
}

pub fn stk_query(sandbox: &Sandbox, token: &str, checkout_request_id: &str) -> Resp {
    let auth = bearer(token);
    post_json(
        sandbox.addr(),
        STK_QUERY,
        &[("Authorization", &auth)],
        &serde_json::json!({
            "BusinessShortCode": "174379",
            "Password": stk_password(TIMESTAMP),
            "Timestamp": TIMESTAMP,
            "CheckoutRequestID": checkout_request_id,
        }),
    )
}

/// Pushes for `phone` and returns the `CheckoutRequestID`.
pub fn accepted_push(sandbox: &Sandbox, token: &str, phone: &str, callback_url: &str) -> String {
    let resp = stk_push(sandbox, token, &stk_body(phone, callback_url));
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["CheckoutRequestID"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts Daraja's error envelope and returns its `requestId`.
pub fn assert_daraja_error(resp: &Resp, status: u16, code: &str, message: &str) -> String {
    assert_eq!(resp.status, status, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["errorCode"], code, "{body}");
    assert_eq!(body["errorMessage"], message, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    body["requestId"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------- receiver

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Reply = Box<dyn Fn(&Received) -> (u16, String) + Send + Sync>;

/// A loopback HTTP server that records every request and answers with
/// `reply`. Stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    received: mpsc::Receiver<Received>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    pub fn start(reply: impl Fn(&Received) -> (u16, String) + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let reply: Arc<Reply> = Arc::new(Box::new(reply));
        let tx = Arc::new(Mutex::new(tx));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let reply = Arc::clone(&reply);
                let tx = Arc::clone(&tx);
                std::thread::spawn(move || serve_one(stream, &reply, &tx));
            }
        });
        Receiver {
            addr,
            received: rx,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers 200 with PesaPal's acknowledgement-like JSON.
    pub fn ok() -> Receiver {
        Receiver::start(|_| (200, r#"{"status":200}"#.to_owned()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request, waiting up to 5 s.
    pub fn next(&self) -> Received {
        self.received
            .recv_timeout(Duration::from_secs(5))
            .expect("the receiver got no request within 5 s")
    }

    /// True when no further request arrives within `wait`.
    pub fn is_quiet(&self, wait: Duration) -> bool {
        self.received.recv_timeout(wait).is_err()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, reply: &Reply, tx: &Mutex<mpsc::Sender<Received>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        if let Some(pos) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_owned();
    let target = request_line.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = raw[header_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    let received = Received {
        method,
        target,
        headers,
        body,
    };
    let (status, answer) = reply(&received);
    let _ = tx.lock().unwrap().send(received);
    let response = format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}
