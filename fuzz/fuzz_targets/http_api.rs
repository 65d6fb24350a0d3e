//! The whole HTTP API (`api::handle`) with a scripted provider.
//!
//! Input, as text (see README.md):
//!
//! ```text
//! POST /payments?x=1                 <- method and request target
//! authorization: Bearer fc-canary-api-key-Q9x2
//! content-type: application/json     <- any headers
//! @unset clickpesa_checksum_key      <- variable directives (see below)
//!                                    <- blank line
//! {"provider":"pesapal",...}         <- request body
//! ~~~ 200 application/json           <- first provider reply
//! {"token":"t"}
//! ~~~ timeout                        <- second: a timeout (or `fail`)
//! ```
//!
//! Directives: `@unset <name>` removes a variable, `@broken <name>` makes
//! reading it fail, `@set <name> <value>` sets a non-secret one (base URLs,
//! timeouts). `@cache <now>` serves the request through `api::handle_with`
//! with the token cache on at Unix time `now`, and `@cached <provider>
//! <stored bytes>` puts an entry in that cache. Once the script runs out
//! every further call fails.
//!
//! Checks: no panic; the status is 100-599; every 4xx/5xx is an RFC 9457
//! problem (the PesaPal IPN acknowledgement excepted); 2xx bodies are JSON;
//! and no response (status line, headers, body) contains a credential from
//! the variables, unless the input itself carried that text somewhere other
//! than the request's own `Authorization` header; no cache key holds one.

#![no_main]

use finconnect_core::api::{self, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, ProblemCode, Request};
use finconnect_core::config::{Variables, names};
use finconnect_core::flow::Finconnect;
use finconnect_core::token_cache::TokenStore;
use finconnect_core::transport::{
    HttpRequest, HttpResponse, Transport, TransportError, is_field_value,
};
use finconnect_fuzz::{reply, split_line};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::BTreeMap;

/// Credentials, each a canary: none may ever appear in a response.
const SECRETS: [(&str, &str); 6] = [
    (names::FINCONNECT_API_KEY, "fc-canary-api-key-Q9x2"),
    (names::PESAPAL_CONSUMER_KEY, "pp-canary-key-7Hd3"),
    (names::PESAPAL_CONSUMER_SECRET, "pp-canary-secret-Lm4w"),
    (names::CLICKPESA_CLIENT_ID, "cp-canary-client-Zr8k"),
    (names::CLICKPESA_API_KEY, "cp-canary-apikey-Tq5v"),
    (names::CLICKPESA_CHECKSUM_KEY, "cp-canary-checksum-Wn2j"),
];

/// Variables that are not secret, with their defaults.
const SETTINGS: [(&str, &str); 4] = [
    (names::PESAPAL_BASE_URL, "https://pesapal.invalid/pesapalv3"),
    (
        names::CLICKPESA_BASE_URL,
        "https://clickpesa.invalid/third-parties",
    ),
    (names::CONNECT_TIMEOUT_MS, "5000"),
    (names::FIRST_BYTE_TIMEOUT_MS, "20000"),
];

const REPLY_SEPARATOR: &[u8] = b"\n~~~ ";

struct Vars {
    values: BTreeMap<String, String>,
    broken: Vec<String>,
}

impl Variables for Vars {
    fn get(&self, name: &str) -> Result<Option<String>, String> {
        if self.broken.iter().any(|b| b == name) {
            return Err("the host could not read it".to_owned());
        }
        Ok(self.values.get(name).cloned())
    }
}

/// An in-memory token cache. `@cached` entries answer for any key of
/// their provider (the harness does not recompute the digest keys).
#[derive(Default)]
struct Store {
    entries: BTreeMap<String, Vec<u8>>,
    preset: Vec<(String, Vec<u8>)>,
    deleted: Vec<String>,
}

impl TokenStore for Store {
    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        assert_no_canary_in_key(key);
        if let Some(value) = self.entries.get(key) {
            return Some(value.clone());
        }
        if self.deleted.iter().any(|d| d == key) {
            return None;
        }
        self.preset
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
            .map(|(_, value)| value.clone())
    }

    fn set(&mut self, key: &str, value: &[u8]) {
        assert_no_canary_in_key(key);
        self.entries.insert(key.to_owned(), value.to_vec());
    }

    fn delete(&mut self, key: &str) {
        self.entries.remove(key);
        self.deleted.push(key.to_owned());
    }
}

fn assert_no_canary_in_key(key: &str) {
    for (name, canary) in SECRETS {
        assert!(
            !contains_ignoring_case(key.as_bytes(), canary),
            "`{name}` in a cache key: {key}"
        );
    }
}

enum Scripted {
    Reply(HttpResponse),
    Timeout,
    Fail,
}

struct Script {
    replies: std::vec::IntoIter<Scripted>,
}

impl Transport for Script {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        // Building a request must never produce something unsendable.
        assert!(request.is_sendable(), "{request:?}");
        match self.replies.next() {
            Some(Scripted::Reply(response)) => Ok(response),
            Some(Scripted::Timeout) => Err(TransportError::Timeout("first byte".to_owned())),
            Some(Scripted::Fail) | None => Err(TransportError::Failed("refused".to_owned())),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains_ignoring_case(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fuzz_target!(|data: &[u8]| {
    // Split off the provider replies.
    let (request_part, mut rest) = match find(data, REPLY_SEPARATOR) {
        Some(at) => (&data[..at], Some(&data[at + REPLY_SEPARATOR.len()..])),
        None => (data, None),
    };
    let mut replies = Vec::new();
    while let Some(chunk) = rest {
        let (this, next) = match find(chunk, REPLY_SEPARATOR) {
            Some(at) => (&chunk[..at], Some(&chunk[at + REPLY_SEPARATOR.len()..])),
            None => (chunk, None),
        };
        replies.push(if this.starts_with(b"timeout") {
            Scripted::Timeout
        } else if this.starts_with(b"fail") {
            Scripted::Fail
        } else {
            Scripted::Reply(reply(this))
        });
        rest = next;
    }

    // The request: head up to the first blank line, then the body.
    let (head, body) = match find(request_part, b"\n\n") {
        Some(at) => (&request_part[..at], &request_part[at + 2..]),
        None => (request_part, &[][..]),
    };
    let (first_line, mut header_lines) = match split_line(head) {
        Some((first, more)) => (first, more),
        None => (head, &[][..]),
    };
    let Ok(first_line) = std::str::from_utf8(first_line) else {
        return;
    };
    // Method and target go in as they are: the router must cope with any text.
    let (method, target) = first_line.split_once(' ').unwrap_or((first_line, "/"));

    let mut values: BTreeMap<String, String> = SECRETS
        .iter()
        .chain(SETTINGS.iter())
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let mut broken = Vec::new();
    let mut cache_now: Option<u64> = None;
    let mut store = Store::default();
    let mut request = Request::new(method, target).with_body(body);
    // Input text other than the Authorization header values: a canary found
    // there was put there by the fuzzer and may legitimately come back.
    let mut untrusted: Vec<u8> = Vec::with_capacity(data.len());
    untrusted.extend_from_slice(first_line.as_bytes());
    untrusted.extend_from_slice(body);
    if let Some(at) = find(data, REPLY_SEPARATOR) {
        untrusted.extend_from_slice(&data[at..]);
    }

    loop {
        let (line, more) = match split_line(header_lines) {
            Some((line, more)) => (line, Some(more)),
            None => (header_lines, None),
        };
        if let Some(directive) = line.strip_prefix(b"@") {
            untrusted.extend_from_slice(line);
            let directive = String::from_utf8_lossy(directive);
            let mut words = directive.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("unset"), Some(name), None) => {
                    values.remove(name);
                }
                (Some("broken"), Some(name), None) => broken.push(name.to_owned()),
                // `now` is the host's clock: keep it to years 1970-9999.
                (Some("cache"), Some(now), None) => {
                    cache_now = now.parse::<u64>().ok().map(|n| n % 253_402_300_800);
                }
                (Some("cached"), Some(provider), Some(stored)) => store.preset.push((
                    format!("finconnect/token/{provider}/"),
                    stored.as_bytes().to_vec(),
                )),
                (Some("set"), Some(name), Some(value))
                    if SETTINGS.iter().any(|(setting, _)| *setting == name) =>
                {
                    values.insert(name.to_owned(), value.to_owned());
                }
                _ => {}
            }
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            // Header values as the component reads them: what a host accepts
            // (no control characters but tab), non-UTF-8 bytes replaced.
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            let value = String::from_utf8_lossy(value);
            if let Ok(name) = std::str::from_utf8(name)
                && is_field_value(&value)
            {
                if !name.eq_ignore_ascii_case("authorization") {
                    untrusted.extend_from_slice(line);
                }
                request = request.with_header(name, value.into_owned());
            }
        }
        match more {
            Some(more) => header_lines = more,
            None => break,
        }
    }

    let path = request.path().to_owned();
    let vars = Vars { values, broken };
    let mut transport = Script {
        replies: replies.into_iter(),
    };
    let response = match cache_now {
        None => api::handle(request, &vars, &mut transport),
        Some(now) => {
            let mut finconnect =
                Finconnect::new(&vars, &mut transport).with_token_cache(&mut store, now);
            api::handle_with(request, &mut finconnect)
        }
    };

    let status = response.status;
    assert!((100..=599).contains(&status), "status {status}");
    let content_type = response.header("content-type").unwrap_or_default();
    let body = &response.body;

    if status >= 400 {
        let ipn_ack = path == "/notifications/pesapal"
            && content_type == "application/json"
            && serde_json::from_slice::<Value>(body)
                .is_ok_and(|ack| ack.get("orderNotificationType").is_some());
        if !ipn_ack {
            assert_problem(status, content_type, body);
        }
    } else if (200..300).contains(&status) && !body.is_empty() {
        assert!(
            content_type.starts_with("application/json"),
            "{status} with {content_type}"
        );
        assert!(
            serde_json::from_slice::<Value>(body).is_ok(),
            "{status} body is not JSON: {}",
            String::from_utf8_lossy(body)
        );
    }

    for (name, canary) in SECRETS {
        if contains_ignoring_case(&untrusted, canary) {
            continue;
        }
        assert!(
            !contains_ignoring_case(body, canary),
            "`{name}` leaked into the body: {}",
            String::from_utf8_lossy(body)
        );
        for (header_name, value) in &response.headers {
            assert!(
                !contains_ignoring_case(value.as_bytes(), canary),
                "`{name}` leaked into the {header_name} header"
            );
        }
    }
});

/// An `application/problem+json` body with the members FinConnect promises.
fn assert_problem(status: u16, content_type: &str, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    assert_eq!(content_type, PROBLEM_CONTENT_TYPE, "{status}: {text}");
    let problem: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("problem is not JSON ({e}): {text}"));
    let code = problem["code"].as_str().unwrap_or_default();
    assert!(
        ProblemCode::ALL.iter().any(|known| known.as_str() == code),
        "unknown code: {text}"
    );
    assert_eq!(
        problem["type"].as_str(),
        Some(format!("{PROBLEM_TYPE_BASE}{code}").as_str()),
        "{text}"
    );
    assert_eq!(
        problem["status"].as_u64(),
        Some(u64::from(status)),
        "{text}"
    );
    assert!(problem["title"].is_string(), "{text}");
    assert!(problem["detail"].is_string(), "{text}");
}
