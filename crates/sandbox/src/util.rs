//! Small helpers with no dependencies: clock formatting, identifiers,
//! base64url, percent-encoding and query parsing.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A date and time split into its civil parts.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    nanos: u32,
}

/// Splits `t + offset_secs` (seconds east of UTC) into civil parts.
fn civil(t: SystemTime, offset_secs: i64) -> Civil {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = i64::try_from(since.as_secs())
        .unwrap_or(i64::MAX / 2)
        .saturating_add(offset_secs);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400).unsigned_abs();
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: (rem % 3600) / 60,
        second: rem % 60,
        nanos: since.subsec_nanos(),
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); the
/// well-known era-based conversion.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

fn date_time(c: &Civil) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// UTC with seven fractional digits (.NET ticks) and `Z`, as PesaPal writes
/// `expiryDate` and `created_date` of IPN registrations.
pub(crate) fn utc_ticks(t: SystemTime) -> String {
    let c = civil(t, 0);
    format!("{}.{:07}Z", date_time(&c), c.nanos / 100)
}

/// East Africa Time (UTC+3) with milliseconds and no offset, as PesaPal
/// writes `created_date` in GetTransactionStatus.
pub(crate) fn eat_millis(t: SystemTime) -> String {
    let c = civil(t, 3 * 3600);
    format!("{}.{:03}", date_time(&c), c.nanos / 1_000_000)
}

/// UTC with milliseconds and `Z`, as ClickPesa writes timestamps.
pub(crate) fn utc_millis(t: SystemTime) -> String {
    let c = civil(t, 0);
    format!("{}.{:03}Z", date_time(&c), c.nanos / 1_000_000)
}

/// East Africa Time as the 14 digits `YYYYMMDDHHmmss` (Daraja's
/// `Timestamp` and callback `TransactionDate`).
pub(crate) fn eat_compact(t: SystemTime) -> String {
    let c = civil(t, 3 * 3600);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// East Africa Time as `DDMMYYYYHHmmss` followed by three millisecond
/// digits, as in Daraja's `ws_CO_…` checkout ids.
pub(crate) fn eat_checkout_stamp(t: SystemTime) -> String {
    let c = civil(t, 3 * 3600);
    format!(
        "{:02}{:02}{:04}{:02}{:02}{:02}{:03}",
        c.day,
        c.month,
        c.year,
        c.hour,
        c.minute,
        c.second,
        c.nanos / 1_000_000
    )
}

/// True for 14 digits `YYYYMMDDHHmmss` naming a real calendar instant.
pub(crate) fn is_compact_timestamp(text: &str) -> bool {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let part = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(u32::MAX);
    let (year, month, day) = (part(0..4), part(4..6), part(6..8));
    let (hour, minute, second) = (part(8..10), part(10..12), part(12..14));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1970 && (1..=days).contains(&day) && hour < 24 && minute < 60 && second < 60
}

/// Standard base64 (RFC 4648 §4) with padding.
pub(crate) fn base64_std(bytes: &[u8]) -> String {
    let mut out = base64url(bytes).replace('-', "+").replace('_', "/");
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 unpredictable-enough bits: std's randomly keyed SipHash over a
/// process-wide counter and the clock. Identifiers only, not cryptography.
pub(crate) fn random_u64() -> u64 {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos();
    RandomState::new().hash_one((n, nanos))
}

/// `n` random bytes.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&random_u64().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A random version-4 GUID in lower case, like PesaPal's ids.
pub(crate) fn guid() -> String {
    let hi = random_u64();
    let lo = random_u64();
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// `len` random characters from upper-case letters and digits.
pub(crate) fn random_code(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    random_bytes(len)
        .into_iter()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

/// Base64url without padding.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(TABLE[index as usize]));
        }
    }
    out
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(value) => {
                        out.push(value);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of `name` in a query string, matching the name without
/// regard to ASCII case (ASP.NET binds query parameters that way).
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            percent_decode(key)
                .eq_ignore_ascii_case(name)
                .then(|| percent_decode(value))
        })
}

/// Appends `pairs` to `url`'s query string.
pub(crate) fn append_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = url.to_owned();
    let mut separator = if url.contains('?') {
        if url.ends_with('?') || url.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    for (key, value) in pairs {
        out.push_str(separator);
        out.push_str(&percent_encode(key));
        out.push('=');
        out.push_str(&percent_encode(value));
        separator = "&";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_are_right_around_known_instants() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_710_775_545_779_377_200);
        assert_eq!(utc_ticks(t), "2024-03-18T15:25:45.7793772Z");
        assert_eq!(eat_millis(t), "2024-03-18T18:25:45.779");
        assert_eq!(utc_millis(t), "2024-03-18T15:25:45.779Z");
        assert_eq!(utc_ticks(UNIX_EPOCH), "1970-01-01T00:00:00.0000000Z");
        // A leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_164_800);
        assert_eq!(utc_millis(leap), "2024-02-29T00:00:00.000Z");
    }

    #[test]
    fn daraja_stamps_are_eat() {
        // 2026-10-06T06:52:33.123Z is 09:52:33 EAT.
        let t = UNIX_EPOCH + Duration::from_millis(1_791_269_553_123);
        assert_eq!(eat_compact(t), "20261006095233");
        assert_eq!(eat_checkout_stamp(t), "06102026095233123");
        assert!(is_compact_timestamp("20210628092408"));
        assert!(is_compact_timestamp("20240229235959"));
        for bad in [
            "20230229000000",
            "2021062809240",
            "2021-06-28T09:24",
            "20211328092408",
            "20210628242408",
            "20210600092408",
        ] {
            assert!(!is_compact_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn standard_base64_pads() {
        assert_eq!(base64_std(b"key:secret"), "a2V5OnNlY3JldA==");
        assert_eq!(base64_std(b"foo"), "Zm9v");
        assert_eq!(base64_std(&[0xfb, 0xff]), "+/8=");
        let plain =
            "174379bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c91920160216165627";
        assert_eq!(
            base64_std(plain.as_bytes()),
            "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
        );
    }

    #[test]
    fn guids_have_the_v4_shape_and_differ() {
        let a = guid();
        let b = guid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
    }

    #[test]
    fn base64url_matches_known_values() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn query_helpers_round_trip() {
        let url = append_query(
            "http://127.0.0.1:1/ipn?x=1",
            &[("OrderTrackingId", "a b&c"), ("N", "IPNCHANGE")],
        );
        assert_eq!(
            url,
            "http://127.0.0.1:1/ipn?x=1&OrderTrackingId=a%20b%26c&N=IPNCHANGE"
        );
        let query = url.split_once('?').map(|(_, q)| q);
        assert_eq!(
            query_param(query, "ordertrackingid").as_deref(),
            Some("a b&c")
        );
        assert_eq!(query_param(query, "missing"), None);
        assert_eq!(percent_decode("a+b%2x%41"), "a b%2xA");
        assert_eq!(append_query("http://h/p", &[("a", "1")]), "http://h/p?a=1");
    }
}
