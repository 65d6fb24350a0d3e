//! Everything the sandbox remembers, behind one mutex.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::fault::Fault;
use crate::model::{
    ClickpesaPayment, Delivery, IpnRegistration, MpesaStkPush, PesapalOrder, RecordedRequest,
    SandboxConfig,
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
    /// The sandbox's notion of now (the system clock unless pinned or moved).
    pub(crate) clock: Clock,
    /// PesaPal tokens.
    pub(crate) pesapal_tokens: TokenStore,
    /// ClickPesa tokens: the full `Bearer …` string.
    pub(crate) clickpesa_tokens: TokenStore,
    /// M-Pesa Daraja access tokens, owned by the consumer key that asked.
    pub(crate) mpesa_tokens: TokenStore,
    /// M-Pesa STK pushes, in order.
    pub(crate) stk_pushes: Vec<MpesaStkPush>,
    /// `CheckoutRequestID` → index in `stk_pushes`.
    pub(crate) stk_index: HashMap<String, usize>,
    /// MSISDN → `CheckoutRequestID` of the prompt pending on that phone.
    pub(crate) stk_pending: HashMap<String, String>,
    /// Feeds the Daraja identifiers (with the configured seed).
    pub(crate) mpesa_counter: u64,
    pub(crate) ipns: Vec<IpnRegistration>,
    pub(crate) next_ipn_number: u64,
    pub(crate) orders: Vec<PesapalOrder>,
    pub(crate) payments: Vec<ClickpesaPayment>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) deliveries: Vec<Delivery>,
    /// ClickPesa payouts: balances, payouts, cooldown, webhook URL.
    pub(crate) payouts: crate::clickpesa_payouts::Book,
    /// ClickPesa BillPay control numbers.
    pub(crate) billpay: crate::clickpesa_billpay::Book,
}

impl Shared {
    pub(crate) fn new(config: SandboxConfig, origin: String) -> Shared {
        Shared {
            state: Mutex::new(State {
                config,
                clock: Clock::default(),
                pesapal_tokens: TokenStore::default(),
                clickpesa_tokens: TokenStore::default(),
                mpesa_tokens: TokenStore::default(),
                stk_pushes: Vec::new(),
                stk_index: HashMap::new(),
                stk_pending: HashMap::new(),
                mpesa_counter: 0,
                ipns: Vec::new(),
                next_ipn_number: 4200,
                orders: Vec::new(),
                payments: Vec::new(),
                requests: Vec::new(),
                faults: Vec::new(),
                deliveries: Vec::new(),
                payouts: crate::clickpesa_payouts::Book::default(),
                billpay: crate::clickpesa_billpay::Book::default(),
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

    /// A unique HS256 JWT for `audience`, valid for `ttl` from `now`.
    pub(crate) fn mint_jwt(
        &self,
        audience: &str,
        now: SystemTime,
        ttl: Duration,
    ) -> (String, SystemTime) {
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
    /// The sandbox's current time.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }
}

/// The sandbox clock: the system clock, or a pinned instant, plus an offset
/// that tests move forward instead of sleeping.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clock {
    pub(crate) pinned: Option<SystemTime>,
    pub(crate) offset: Duration,
}

impl Clock {
    pub(crate) fn now(&self) -> SystemTime {
        self.pinned.unwrap_or_else(SystemTime::now) + self.offset
    }
}

/// Live bearer tokens: a hash map for constant-time lookup, and a min-heap
/// on expiry so that expired tokens are dropped oldest first when a token
/// is issued (each token is pushed and popped once: amortised O(log n) per
/// issue instead of a scan of every live token).
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    live: HashMap<String, SystemTime>,
    by_expiry: BinaryHeap<Reverse<(SystemTime, String)>>,
    /// Owner (e.g. a consumer key) → the token issued to it last.
    latest: HashMap<String, String>,
}

impl TokenStore {
    /// Records `token` valid until `expiry`, pruning what expired by `now`.
    pub(crate) fn insert(&mut self, token: String, expiry: SystemTime, now: SystemTime) {
        self.prune(now);
        self.by_expiry.push(Reverse((expiry, token.clone())));
        self.live.insert(token, expiry);
    }

    /// [`TokenStore::insert`] for a token issued to `owner`; when
    /// `invalidate_previous`, the token issued to `owner` before stops working.
    pub(crate) fn insert_for(
        &mut self,
        owner: &str,
        token: String,
        expiry: SystemTime,
        now: SystemTime,
        invalidate_previous: bool,
    ) {
        if let Some(previous) = self.latest.insert(owner.to_owned(), token.clone())
            && invalidate_previous
        {
            self.live.remove(&previous);
        }
        self.insert(token, expiry, now);
    }

    /// True when `token` was issued, not invalidated, and expires after `now`.
    pub(crate) fn is_valid(&self, token: &str, now: SystemTime) -> bool {
        self.live.get(token).is_some_and(|expiry| *expiry > now)
    }

    /// Drops every token that expired by `now`, in expiry order.
    pub(crate) fn prune(&mut self, now: SystemTime) {
        while self
            .by_expiry
            .peek()
            .is_some_and(|Reverse((expiry, _))| *expiry <= now)
        {
            if let Some(Reverse((_, token))) = self.by_expiry.pop() {
                self.live.remove(&token);
            }
        }
    }

    /// How many tokens are remembered (live or not yet pruned).
    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_are_pruned_in_expiry_order() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut store = TokenStore::default();
        store.insert("a".into(), t0 + Duration::from_secs(10), t0);
        store.insert("b".into(), t0 + Duration::from_secs(30), t0);
        store.insert("c".into(), t0 + Duration::from_secs(20), t0);
        assert!(store.is_valid("a", t0));
        assert!(!store.is_valid("a", t0 + Duration::from_secs(10)));
        assert!(!store.is_valid("zzz", t0));
        assert_eq!(store.len(), 3);
        // Issuing at t0 + 25 s drops a and c, keeps b.
        store.insert(
            "d".into(),
            t0 + Duration::from_secs(100),
            t0 + Duration::from_secs(25),
        );
        assert_eq!(store.len(), 2);
        assert!(store.is_valid("b", t0 + Duration::from_secs(25)));
        assert!(store.is_valid("d", t0 + Duration::from_secs(25)));
        store.prune(t0 + Duration::from_secs(1000));
        assert_eq!(store.len(), 0);
        assert!(store.by_expiry.is_empty());
    }

    #[test]
    fn reissue_can_invalidate_the_owner_s_previous_token() {
        let t0 = SystemTime::UNIX_EPOCH;
        let later = t0 + Duration::from_secs(60);
        let mut store = TokenStore::default();
        store.insert_for("k", "one".into(), later, t0, false);
        store.insert_for("k", "two".into(), later, t0, false);
        assert!(store.is_valid("one", t0) && store.is_valid("two", t0));
        store.insert_for("k", "three".into(), later, t0, true);
        assert!(!store.is_valid("two", t0));
        assert!(store.is_valid("one", t0), "only the latest is replaced");
        assert!(store.is_valid("three", t0));
        store.insert_for("other", "four".into(), later, t0, true);
        assert!(store.is_valid("three", t0), "owners are independent");
        // Invalidated tokens still leave the heap when they expire.
        store.prune(later);
        assert_eq!(store.len(), 0);
        assert!(store.by_expiry.is_empty());
    }
}
