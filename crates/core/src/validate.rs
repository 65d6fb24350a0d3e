//! Field checks shared by the providers. Each returns the reason a value is
//! refused; callers attach the field name.

use crate::money::Amount;

/// A reason a value is refused.
pub type Reason = &'static str;

/// An absolute `http://` or `https://` URL with a host, no spaces or control
/// characters. (`javascript:`, relative paths and the like are refused.)
pub fn absolute_http_url(url: &str) -> Result<(), Reason> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must be an absolute http(s) URL")?;
    if url.len() > 2048 {
        return Err("must be at most 2048 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("must be an absolute http(s) URL with a host");
    }
    Ok(())
}

/// Parses an amount as callers give it.
pub fn amount(text: &str) -> Result<Amount, String> {
    text.parse::<Amount>().map_err(|e| e.to_string())
}

/// A three-letter ISO 4217 code in capitals.
pub fn currency(code: &str) -> Result<(), Reason> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err("must be a three-letter ISO 4217 code in capitals, such as \"KES\"")
    }
}

/// A plausible email address: one `@`, text on both sides, a dot in the
/// domain, no spaces, at most 254 characters.
pub fn email(text: &str) -> Result<(), Reason> {
    let valid = text.len() <= 254
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && match text.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(())
    } else {
        Err("must be an email address")
    }
}

/// A phone number of 7 to 15 digits, optionally starting with `+`.
pub fn phone(text: &str) -> Result<(), Reason> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be a phone number of 7 to 15 digits, optionally starting with +")
    }
}

/// A two-letter ISO 3166-1 country code in capitals.
pub fn country_code(code: &str) -> Result<(), Reason> {
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err("must be a two-letter ISO 3166-1 country code in capitals, such as \"KE\"")
    }
}

/// A GUID in its 8-4-4-4-12 hexadecimal form.
pub fn guid(text: &str) -> Result<(), Reason> {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    let valid = groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()));
    if valid {
        Ok(())
    } else {
        Err("must be a GUID such as \"1da86d1c-1e8c-4183-bdfd-dd759463e4ce\"")
    }
}

/// Non-empty text of at most `max` characters without control characters.
pub fn text(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(absolute_http_url("https://shop.example/return?x=1").is_ok());
        assert!(absolute_http_url("http://127.0.0.1:3000/notifications/pesapal").is_ok());
        for bad in [
            "",
            "/relative",
            "javascript:alert(1)",
            "ftp://x.example",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://:80/x",
        ] {
            assert!(absolute_http_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn currencies_emails_phones_countries_guids() {
        assert!(currency("KES").is_ok());
        for bad in ["kes", "KE", "KESS", "K3S", ""] {
            assert!(currency(bad).is_err(), "{bad:?}");
        }
        assert!(email("jane@example.com").is_ok());
        for bad in [
            "jane",
            "@example.com",
            "jane@",
            "jane@example",
            "ja ne@example.com",
            "a@b@c.d",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(phone("0723000000").is_ok());
        assert!(phone("+254723000000").is_ok());
        for bad in ["12345", "07230x0000", "++254723000000", "0723 000 000"] {
            assert!(phone(bad).is_err(), "{bad:?}");
        }
        assert!(country_code("KE").is_ok());
        assert!(country_code("KEN").is_err());
        assert!(guid("1da86d1c-1e8c-4183-bdfd-dd759463e4ce").is_ok());
        assert!(guid("1da86d1c1e8c4183bdfddd759463e4ce").is_err());
        assert!(guid("zzzzzzzz-1e8c-4183-bdfd-dd759463e4ce").is_err());
    }

    #[test]
    fn texts() {
        assert!(text("Order 1", 100).is_ok());
        assert!(text(" ", 100).is_err());
        assert!(text(&"x".repeat(101), 100).is_err());
        assert!(text(&"é".repeat(100), 100).is_ok());
        assert!(text("a\u{0}b", 100).is_err());
    }
}
