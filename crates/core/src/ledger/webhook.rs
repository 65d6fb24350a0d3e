//! Webhooks to the merchant, signed per the Standard Webhooks
//! specification: headers `webhook-id`, `webhook-timestamp` (Unix seconds)
//! and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{id}.{timestamp}.{body}"`, keyed with the base64 part of a
//! `whsec_<base64>` secret. Plus the retry schedule and the record of
//! delivery attempts. All pure.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A webhook signing key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// Why a webhook secret cannot be used. Never holds the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It does not start with `whsec_`.
    #[error("must start with `whsec_` followed by base64")]
    MissingPrefix,
    /// The part after `whsec_` is not base64.
    #[error("the part after `whsec_` is not valid base64")]
    NotBase64,
    /// The decoded key is shorter than 24 bytes (the spec asks for 24 to 64).
    #[error("the decoded key must be 24 to 64 bytes, not {0}")]
    Length(usize),
}

impl WebhookSecret {
    /// Reads `whsec_<base64>`; the decoded bytes are the HMAC key.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = base64_decode(encoded).ok_or(SecretError::NotBase64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self(key))
    }

    /// A secret from raw key bytes (for hosts that keep the key decoded).
    pub fn from_bytes(key: &[u8]) -> Self {
        Self(key.to_vec())
    }

    /// The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of
    /// "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        format!("v1,{}", base64_encode(&self.mac(id, timestamp, body)))
    }

    /// Whether `header` (space-separated `v1,<sig>` entries, as during a
    /// key rotation) holds a valid signature of this message. Comparison
    /// runs in constant time.
    pub fn verify(&self, id: &str, timestamp: u64, body: &[u8], header: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.mac(id, timestamp, body);
        header
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(base64_decode)
            .any(|given| bool::from(given.as_slice().ct_eq(expected.as_slice())))
    }

    fn mac(&self, id: &str, timestamp: u64, body: &[u8]) -> Vec<u8> {
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return Vec::new(),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The three Standard Webhooks headers for one delivery: `webhook-id` is
/// the event id, `webhook-timestamp` the attempt's time in Unix seconds.
pub fn webhook_headers(
    secret: &WebhookSecret,
    event_id: &str,
    now_ms: u64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let timestamp = now_ms / 1000;
    [
        ("webhook-id", event_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", secret.sign(event_id, timestamp, body)),
    ]
}

/// Delays after each failed attempt, in milliseconds: 5 s, 1 min, 5 min,
/// 30 min, 2 h, 6 h, 12 h, 24 h. After the last one the delivery is
/// exhausted — kept, listed, and redeliverable by hand; never dropped.
pub const RETRY_DELAYS_MS: [u64; 8] = [
    5_000,
    60_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    24 * 3_600_000,
];

/// When to try again after `failed_attempts` failures, the last at
/// `last_at` (Unix ms); `None` once the schedule is used up.
pub fn next_attempt_at(failed_attempts: u32, last_at: u64) -> Option<u64> {
    let index = usize::try_from(failed_attempts).ok()?.checked_sub(1)?;
    RETRY_DELAYS_MS
        .get(index)
        .map(|delay| last_at.saturating_add(*delay))
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it was made (Unix ms).
    pub at: u64,
    /// The merchant endpoint's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong, when it did (a transport error, a non-2xx status).
    pub error: Option<String>,
}

impl Attempt {
    /// A 2xx answer counts as delivered.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
            && self
                .status
                .is_some_and(|status| (200..300).contains(&status))
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Scheduled,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every scheduled attempt failed (the event stays in `GET /events`).
    Exhausted,
}

/// The delivery of one event to the merchant's webhook URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Schema version.
    pub version: u32,
    /// The event delivered.
    pub event_id: String,
    /// Its sequence number (to find the event).
    pub seq: u64,
    /// Where it stands.
    pub state: DeliveryState,
    /// When the next attempt is due (Unix ms), while scheduled.
    pub next_attempt_at: Option<u64>,
    /// Failed attempts since the schedule (re)started.
    pub failures: u32,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// A delivery due at once.
    pub fn new(event_id: &str, seq: u64, now_ms: u64) -> Self {
        Self {
            version: super::record::RECORD_VERSION,
            event_id: event_id.to_owned(),
            seq,
            state: DeliveryState::Scheduled,
            next_attempt_at: Some(now_ms),
            failures: 0,
            attempts: Vec::new(),
        }
    }

    /// Records `attempt` and schedules the next one, if any.
    pub fn record(&mut self, attempt: Attempt) {
        let at = attempt.at;
        let succeeded = attempt.succeeded();
        self.attempts.push(attempt);
        if succeeded {
            self.state = DeliveryState::Delivered;
            self.next_attempt_at = None;
            self.failures = 0;
            return;
        }
        self.failures = self.failures.saturating_add(1);
        self.next_attempt_at = next_attempt_at(self.failures, at);
        self.state = if self.next_attempt_at.is_some() {
            DeliveryState::Scheduled
        } else {
            DeliveryState::Exhausted
        };
    }

    /// Starts the schedule again (a manual redelivery), due at `now_ms`.
    /// Earlier attempts stay in the record.
    pub fn reschedule(&mut self, now_ms: u64) {
        self.state = DeliveryState::Scheduled;
        self.next_attempt_at = Some(now_ms);
        self.failures = 0;
    }

    /// Whether an attempt is due at `now_ms`.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.state == DeliveryState::Scheduled
            && self.next_attempt_at.is_some_and(|due| due <= now_ms)
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64 (RFC 4648 §4).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64, padded or not; `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = ALPHABET.iter().position(|&c| c == byte)?;
        acc = (acc << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
