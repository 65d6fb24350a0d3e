//! Everything the sandbox remembers, behind one mutex.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::fault::Fault;
use crate::model::{
    ClickpesaPayment, Delivery, IpnRegistration, PesapalOrder, RecordedRequest, SandboxConfig,
};
use crate::util;

/// ClickPesa tokens live one hour (documented).
pub(crate) const CLICKPESA_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// State shared by the server tasks and the [`crate::Sandbox`] handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) origin: String,
    /// Signs the JWT-like tokens (so they look and verify like real ones).
    signing_key: Vec<u8>,
    verbose: AtomicBool,
}

/// The mutable part.
pub(crate) struct State {
    pub(crate) config: SandboxConfig,
    /// Token → expiry.
    pub(crate) pesapal_tokens: HashMap<String, SystemTime>,
    /// Full `Bearer …` string → expiry.
    pub(crate) clickpesa_tokens: HashMap<String, SystemTime>,
    pub(crate) ipns: Vec<IpnRegistration>,
    pub(crate) next_ipn_number: u64,
    pub(crate) orders: Vec<PesapalOrder>,
    pub(crate) payments: Vec<ClickpesaPayment>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) deliveries: Vec<Delivery>,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig, origin: String) -> Shared {
        Shared {
            state: Mutex::new(State {
                config,
                pesapal_tokens: HashMap::new(),
                clickpesa_tokens: HashMap::new(),
                ipns: Vec::new(),
                next_ipn_number: 4200,
                orders: Vec::new(),
                payments: Vec::new(),
                requests: Vec::new(),
                faults: Vec::new(),
                deliveries: Vec::new(),
            }),
            origin,
            signing_key: util::random_bytes(32),
            verbose: AtomicBool::new(false),
        }
    }

    /// The state; a panic in another holder does not make it unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_verbose(&self, on: bool) {
        self.verbose.store(on, Ordering::Relaxed);
    }

    /// Prints a line to stderr when verbose logging is on.
    pub(crate) fn log(&self, line: impl FnOnce() -> String) {
        if self.verbose.load(Ordering::Relaxed) {
            eprintln!("[finconnect-sandbox] {}", line());
        }
    }

    /// A unique HS256 JWT for `audience`, valid for `ttl` from now.
    pub(crate) fn mint_jwt(&self, audience: &str, ttl: Duration) -> (String, SystemTime) {
        let now = SystemTime::now();
        let expiry = now + ttl;
        let header = util::base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = json!({
            "iss": "finconnect-sandbox",
            "aud": audience,
            "jti": util::guid(),
            "nbf": util::unix_seconds(now),
            "iat": util::unix_seconds(now),
            "exp": util::unix_seconds(expiry),
        });
        let payload = util::base64url(claims.to_string().as_bytes());
        let signing_input = format!("{header}.{payload}");
        let signature = match <Hmac<Sha256> as Mac>::new_from_slice(&self.signing_key) {
            Ok(mut mac) => {
                mac.update(signing_input.as_bytes());
                util::base64url(&mac.finalize().into_bytes())
            }
            // HMAC takes keys of any length; fall back to random bytes anyway.
            Err(_) => util::base64url(&util::random_bytes(32)),
        };
        (format!("{signing_input}.{signature}"), expiry)
    }
}

impl State {
    /// Drops expired tokens so that a long-running sandbox does not grow.
    pub(crate) fn prune_tokens(&mut self, now: SystemTime) {
        self.pesapal_tokens.retain(|_, expiry| *expiry > now);
        self.clickpesa_tokens.retain(|_, expiry| *expiry > now);
    }
}
