//! Helpers shared by the fuzz targets: turning fuzz bytes into provider
//! replies, and the checks every target repeats.
//!
//! Inputs are text formats so seeds can be written by hand (see README.md).

use finconnect_core::money::Amount;
use finconnect_core::transport::{HttpResponse, is_field_value};

/// A provider reply as data.
pub type Reply = HttpResponse;

/// Splits off the first line (without its `\n`); `None` when there is no `\n`.
pub fn split_line(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = data.iter().position(|&b| b == b'\n')?;
    Some((&data[..end], &data[end + 1..]))
}

/// Any number becomes a three-digit status (100 to 999).
pub fn status_from(number: u32) -> u16 {
    u16::try_from(number)
        .ok()
        .filter(|n| (100..=999).contains(n))
        .unwrap_or_else(|| {
            // 100 + (number mod 900) is always in range.
            100 + u16::try_from(number % 900).unwrap_or_default()
        })
}

/// Reads `<status>[ <content-type>]\n<body>`. Without a leading number the
/// whole input is the body of a `200` with `application/json`.
///
/// The content type is any bytes a host accepts in a header value (no
/// control characters but tab), read as the component reads them: bytes
/// that are not UTF-8 become replacement characters. So replies with no,
/// odd or non-UTF-8 content types are all reached.
pub fn reply(data: &[u8]) -> Reply {
    let parsed = split_line(data).and_then(|(head, body)| {
        let digits = head.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let number = head[..digits].iter().fold(0u32, |n, d| {
            n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        });
        let content_type = head[digits..].strip_prefix(b" ").unwrap_or(&head[digits..]);
        let content_type = (!content_type.is_empty()).then_some(content_type);
        Some((status_from(number), content_type, body))
    });
    let (status, content_type, body) =
        parsed.unwrap_or((200, Some(&b"application/json"[..]), data));
    let response = HttpResponse::new(status, body.to_vec());
    match content_type.map(String::from_utf8_lossy) {
        Some(value) if is_field_value(&value) => {
            response.with_header("content-type", value.into_owned())
        }
        _ => response,
    }
}

/// An amount as the core reports it: digits, a point, exactly two digits,
/// and it reads back as the same number of hundredths.
pub fn assert_reported_amount(amount: Option<&str>) {
    let Some(amount) = amount else {
        return;
    };
    let (whole, cents) = amount
        .split_once('.')
        .unwrap_or_else(|| panic!("reported amount without a point: {amount:?}"));
    assert!(
        !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()),
        "reported amount {amount:?}"
    );
    assert!(
        cents.len() == 2 && cents.bytes().all(|b| b.is_ascii_digit()),
        "reported amount {amount:?}"
    );
    let hundredths = Amount::parse_reported(amount)
        .unwrap_or_else(|| panic!("reported amount does not read back: {amount:?}"));
    assert_eq!(Amount::fixed2_from_hundredths(hundredths), amount);
}

/// Every error must render (Display and Debug) without panicking.
pub fn render<E: std::fmt::Display + std::fmt::Debug>(error: &E) {
    let _ = error.to_string();
    let _ = format!("{error:?}");
}
