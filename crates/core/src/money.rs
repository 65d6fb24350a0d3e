//! Exact money amounts: a count of hundredths of the major unit, never `f64`.

use std::fmt;
use std::str::FromStr;

/// A positive amount in major units with at most two decimals, held as an
/// integer number of hundredths (`"1500.5"` is 150 050).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount {
    hundredths: u64,
}

/// Amounts above this many major units are refused (no provider takes them,
/// and it keeps every amount far from integer overflow).
pub const MAX_MAJOR_UNITS: u64 = 1_000_000_000_000;

/// Why a decimal string is not an amount.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Empty, or characters other than digits and one point.
    #[error("must be a decimal number such as \"1500.00\"")]
    Malformed,
    /// More than two digits after the point.
    #[error("must have at most 2 decimals")]
    TooManyDecimals,
    /// Zero (or negative, which is malformed anyway).
    #[error("must be greater than 0")]
    NotPositive,
    /// Larger than [`MAX_MAJOR_UNITS`].
    #[error("is too large")]
    TooLarge,
}

impl Amount {
    /// Builds an amount from hundredths of the major unit.
    pub fn from_hundredths(hundredths: u64) -> Result<Self, AmountError> {
        if hundredths == 0 {
            return Err(AmountError::NotPositive);
        }
        if hundredths > MAX_MAJOR_UNITS * 100 {
            return Err(AmountError::TooLarge);
        }
        Ok(Self { hundredths })
    }

    /// The amount in hundredths of the major unit.
    pub fn hundredths(self) -> u64 {
        self.hundredths
    }

    /// Always two decimals: `"1500.00"`, `"0.50"`.
    pub fn to_fixed2(self) -> String {
        format!("{}.{:02}", self.hundredths / 100, self.hundredths % 100)
    }

    /// The shortest exact form: `"1500"`, `"1500.5"`, `"0.05"`.
    pub fn to_plain(self) -> String {
        let whole = self.hundredths / 100;
        let cents = self.hundredths % 100;
        match cents {
            0 => whole.to_string(),
            c if c % 10 == 0 => format!("{whole}.{}", c / 10),
            c => format!("{whole}.{c:02}"),
        }
    }

    /// Reads a provider-supplied amount leniently: a decimal with any number
    /// of decimals, rounded down to hundredths; zero is allowed. For parsing
    /// replies only, never for what a caller asks to be paid.
    pub fn parse_reported(text: &str) -> Option<u64> {
        let text = text.trim();
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: u64 = whole.parse().ok()?;
        let mut cents = 0u64;
        for (i, digit) in fraction.bytes().take(2).enumerate() {
            let weight = if i == 0 { 10 } else { 1 };
            cents += u64::from(digit - b'0') * weight;
        }
        whole.checked_mul(100)?.checked_add(cents)
    }

    /// Formats hundredths as [`Amount::to_fixed2`] does, zero included.
    pub fn fixed2_from_hundredths(hundredths: u64) -> String {
        format!("{}.{:02}", hundredths / 100, hundredths % 100)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    /// Parses `"1500"`, `"1500.5"` or `"1500.50"`. No sign, no exponent,
    /// no spaces, no thousands separators.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::Malformed);
        }
        let fraction = fraction.unwrap_or("");
        if text.ends_with('.') || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::Malformed);
        }
        if fraction.len() > 2 {
            return Err(AmountError::TooManyDecimals);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 13 {
            return Err(AmountError::TooLarge);
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| AmountError::Malformed)?
        };
        let mut cents = 0u64;
        for (i, digit) in fraction.bytes().enumerate() {
            let weight = if i == 0 { 10 } else { 1 };
            cents += u64::from(digit - b'0') * weight;
        }
        Self::from_hundredths(whole * 100 + cents)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_fixed2())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(
            "1500".parse::<Amount>().map(Amount::hundredths),
            Ok(150_000)
        );
        assert_eq!(
            "1500.5".parse::<Amount>().map(Amount::hundredths),
            Ok(150_050)
        );
        assert_eq!("0.05".parse::<Amount>().map(Amount::hundredths), Ok(5));
        assert_eq!("007.10".parse::<Amount>().map(Amount::hundredths), Ok(710));
    }

    #[test]
    fn refuses_what_is_not_an_exact_positive_amount() {
        let cases = [
            ("", AmountError::Malformed),
            ("0", AmountError::NotPositive),
            ("0.00", AmountError::NotPositive),
            ("-5", AmountError::Malformed),
            ("+5", AmountError::Malformed),
            ("1e3", AmountError::Malformed),
            ("NaN", AmountError::Malformed),
            ("1.005", AmountError::TooManyDecimals),
            ("1.", AmountError::Malformed),
            (".5", AmountError::Malformed),
            ("1 000", AmountError::Malformed),
            ("1,000", AmountError::Malformed),
            ("99999999999999999999", AmountError::TooLarge),
            ("1000000000000.01", AmountError::TooLarge),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Amount>(), Err(expected), "input {text:?}");
        }
    }

    #[test]
    fn formats_fixed_and_plain() {
        let amount: Amount = "1500.5".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(amount.to_fixed2(), "1500.50");
        assert_eq!(amount.to_plain(), "1500.5");
        let whole: Amount = "1000".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(whole.to_plain(), "1000");
        assert_eq!(whole.to_string(), "1000.00");
    }

    #[test]
    fn reported_amounts_are_read_leniently() {
        assert_eq!(Amount::parse_reported("10.00"), Some(1000));
        assert_eq!(Amount::parse_reported("1047.1"), Some(104_710));
        assert_eq!(Amount::parse_reported("0"), Some(0));
        assert_eq!(Amount::parse_reported("abc"), None);
    }

    proptest! {
        #[test]
        fn fixed2_round_trips(hundredths in 1u64..=MAX_MAJOR_UNITS * 100) {
            let amount = Amount::from_hundredths(hundredths).unwrap_or_else(|e| unreachable!("{e}"));
            prop_assert_eq!(amount.to_fixed2().parse::<Amount>(), Ok(amount));
            prop_assert_eq!(amount.to_plain().parse::<Amount>(), Ok(amount));
        }

        #[test]
        fn never_panics_on_any_text(text in ".{0,40}") {
            let _ = text.parse::<Amount>();
            let _ = Amount::parse_reported(&text);
        }
    }
}
