//! The opt-in token cache. By default FinConnect fetches a fresh token for
//! every call (the documented behaviour); with the cache on, a token is
//! kept until shortly before it expires, in a store that outlives one
//! request (Spin's key-value store through `wasi:keyvalue`).
//!
//! Tokens are secrets: the store holds them, nothing logs them, and the key
//! is a digest of the provider, base URL and credentials, so two merchants
//! (or two credential sets) never share a token and no credential appears
//! in a key.

use crate::domain::Provider;
use crate::secret::Secret;
use sha2::{Digest, Sha256};

/// Where cached tokens live. Failures are swallowed by the implementation:
/// a cache that cannot be read is a cache miss, never an error.
pub trait TokenStore {
    /// The stored bytes for `key`, if any.
    fn get(&mut self, key: &str) -> Option<Vec<u8>>;
    /// Stores `value` under `key`.
    fn set(&mut self, key: &str, value: &[u8]);
    /// Forgets `key`.
    fn delete(&mut self, key: &str);
}

/// Seconds before the stated expiry at which a token counts as stale.
pub const SKEW_SECONDS: u64 = 30;
/// PesaPal documents tokens as valid for at most five minutes.
pub const PESAPAL_MAX_SECONDS: u64 = 5 * 60;
/// ClickPesa documents tokens as valid for one hour.
pub const CLICKPESA_SECONDS: u64 = 60 * 60;

/// The store key for one provider, base URL and credential pair.
pub fn key(provider: Provider, base_url: &str, id: &Secret, secret: &Secret) -> String {
    let mut digest = Sha256::new();
    for part in [provider.as_str(), base_url, id.expose(), secret.expose()] {
        digest.update(part.as_bytes());
        digest.update([0u8]);
    }
    let hash = digest.finalize();
    let hex = hex::encode(&hash[..16]);
    format!("finconnect/token/{}/{hex}", provider.as_str())
}

/// A token as stored: its text and the Unix second after which it is stale.
#[derive(Clone, Debug)]
pub struct CachedToken {
    /// The token text.
    pub value: Secret,
    /// Unix seconds; the token is used only strictly before this.
    pub stale_at: u64,
}

impl CachedToken {
    /// True while the token may still be used at `now` (Unix seconds).
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.stale_at
    }

    /// The stored form: `<stale_at> <token>`.
    pub fn encode(&self) -> Vec<u8> {
        format!("{} {}", self.stale_at, self.value.expose()).into_bytes()
    }

    /// Reads the stored form; anything else is a miss.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (stale_at, token) = text.split_once(' ')?;
        let stale_at = stale_at.parse().ok()?;
        (!token.is_empty()).then(|| Self {
            value: Secret::new(token),
            stale_at,
        })
    }
}

/// When a PesaPal token goes stale: its `expiryDate`, but never later than
/// five minutes after `now`, less the skew.
pub fn pesapal_stale_at(expiry_date: Option<&str>, now: u64) -> u64 {
    let cap = now.saturating_add(PESAPAL_MAX_SECONDS);
    let expiry = expiry_date
        .and_then(parse_utc)
        .map_or(cap, |at| at.min(cap));
    expiry.saturating_sub(SKEW_SECONDS)
}

/// When a ClickPesa token goes stale: one hour after `now`, less the skew.
pub fn clickpesa_stale_at(now: u64) -> u64 {
    now.saturating_add(CLICKPESA_SECONDS - SKEW_SECONDS)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (PesaPal writes seven fraction
/// digits) into Unix seconds. Other forms are refused.
pub fn parse_utc(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    let time = time.split('.').next()?;
    let mut time_parts = time.splitn(3, ':');
    let hour: u64 = time_parts.next()?.parse().ok()?;
    let minute: u64 = time_parts.next()?.parse().ok()?;
    let second: u64 = time_parts.next()?.parse().ok()?;
    // A four-digit year, as the format says: larger ones overflow the day
    // arithmetic below.
    if !(0..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds =
        days.checked_mul(86_400)? + i64::try_from(hour * 3600 + minute * 60 + second).ok()?;
    u64::try_from(seconds).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// well-known algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cached tokens written by an earlier version are found again: the
    /// key's exact form is pinned.
    #[test]
    fn cache_keys_keep_their_exact_form() {
        assert_eq!(
            key(
                Provider::Pesapal,
                "https://cybqa.pesapal.com/pesapalv3",
                &Secret::new("key-1"),
                &Secret::new("secret-1"),
            ),
            "finconnect/token/pesapal/f35b6b29f2ece0b87feac6eac917a4ae"
        );
    }

    #[test]
    fn parses_pesapal_dates() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_utc("2024-03-18T16:25:45.7793772Z"),
            Some(1_710_779_145)
        );
        assert_eq!(parse_utc("2000-02-29T12:00:00Z"), Some(951_825_600));
        assert_eq!(parse_utc("2024-03-18T16:25:45"), None);
        assert_eq!(parse_utc("2024-13-18T16:25:45Z"), None);
        assert_eq!(parse_utc("garbage"), None);
    }

    /// An `expiryDate` with a huge year used to overflow `days_from_civil`
    /// (a panic in debug builds, a wrapped value in release) on every
    /// PesaPal token reply, cache on or off.
    #[test]
    fn huge_years_are_refused_not_overflowed() {
        for text in [
            "9223372036854775807-03-01T00:00:00Z",
            "+99999999999999999-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_utc(text), None, "{text}");
        }
        assert_eq!(parse_utc("9999-12-31T23:59:59Z"), Some(253_402_300_799));
        assert_eq!(
            pesapal_stale_at(Some("9223372036854775807-03-01T00:00:00Z"), 1_000),
            1_000 + PESAPAL_MAX_SECONDS - SKEW_SECONDS
        );
    }

    #[test]
    fn pesapal_expiry_is_capped_at_five_minutes() {
        let now = 1_710_775_545; // 15:25:45, the recorded reply said 16:25:45
        assert_eq!(
            pesapal_stale_at(Some("2024-03-18T16:25:45.7793772Z"), now),
            now + 300 - 30
        );
        assert_eq!(
            pesapal_stale_at(Some("2024-03-18T15:27:45Z"), now),
            now + 120 - 30
        );
        assert_eq!(pesapal_stale_at(None, now), now + 270);
        assert_eq!(clickpesa_stale_at(now), now + 3570);
    }

    #[test]
    fn keys_separate_credentials_and_hide_them() {
        let a = key(
            Provider::Pesapal,
            "https://x",
            &Secret::new("k1"),
            &Secret::new("s1"),
        );
        let b = key(
            Provider::Pesapal,
            "https://x",
            &Secret::new("k2"),
            &Secret::new("s1"),
        );
        let c = key(
            Provider::Clickpesa,
            "https://x",
            &Secret::new("k1"),
            &Secret::new("s1"),
        );
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(!a.contains("k1") && !a.contains("s1"));
        assert!(a.starts_with("finconnect/token/pesapal/"));
    }

    #[test]
    fn stored_form_round_trips_and_garbage_is_a_miss() {
        let token = CachedToken {
            value: Secret::new("Bearer abc def"),
            stale_at: 42,
        };
        let back = CachedToken::decode(&token.encode());
        assert_eq!(
            back.as_ref().map(|t| t.value.expose()),
            Some("Bearer abc def")
        );
        assert!(back.is_some_and(|t| t.is_fresh(41) && !t.is_fresh(42)));
        assert!(CachedToken::decode(b"nonsense").is_none());
        assert!(CachedToken::decode(b"12 ").is_none());
    }
}
