//! Recurring payments (PesaPal subscriptions): the optional `subscription`
//! part of a payment request, and its checks.
//!
//! PesaPal turns the recurring option on when SubmitOrderRequest carries an
//! `account_number`; `subscription_details` pre-fills the schedule (start
//! and end dates as `dd-MM-yyyy`, a frequency of `DAILY`, `WEEKLY`,
//! `MONTHLY` or `YEARLY`). Every charge PesaPal later makes arrives as a
//! `RECURRING` IPN naming the account number and a new order tracking id.

use crate::error::{Error, Result};
use std::str::FromStr;

/// How often a subscription is charged (PesaPal's documented values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionFrequency {
    /// `DAILY`
    Daily,
    /// `WEEKLY`
    Weekly,
    /// `MONTHLY`
    Monthly,
    /// `YEARLY`
    Yearly,
}

impl SubscriptionFrequency {
    /// PesaPal's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionFrequency::Daily => "DAILY",
            SubscriptionFrequency::Weekly => "WEEKLY",
            SubscriptionFrequency::Monthly => "MONTHLY",
            SubscriptionFrequency::Yearly => "YEARLY",
        }
    }
}

impl FromStr for SubscriptionFrequency {
    type Err = ();

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        match text {
            "DAILY" => Ok(SubscriptionFrequency::Daily),
            "WEEKLY" => Ok(SubscriptionFrequency::Weekly),
            "MONTHLY" => Ok(SubscriptionFrequency::Monthly),
            "YEARLY" => Ok(SubscriptionFrequency::Yearly),
            _ => Err(()),
        }
    }
}

/// A recurring schedule the customer is offered with the first payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The customer's account (or invoice) number in the merchant's
    /// system: every later charge names it.
    pub account_number: String,
    /// First charge, `dd-MM-yyyy`.
    pub start_date: String,
    /// Last charge, `dd-MM-yyyy`, after `start_date`.
    pub end_date: String,
    /// How often.
    pub frequency: SubscriptionFrequency,
}

/// Checks a subscription (field names as in `POST /payments`).
pub fn validate(subscription: &Subscription) -> Result<()> {
    let account = &subscription.account_number;
    let account_ok = (1..=100).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'<' | b'>'));
    if !account_ok {
        return Err(Error::invalid(
            "subscription.account_number",
            "is required: 1 to 100 printable characters without quotes or angle brackets",
        ));
    }
    let start = date(&subscription.start_date)
        .ok_or_else(|| Error::invalid("subscription.start_date", DATE_RULE))?;
    let end = date(&subscription.end_date)
        .ok_or_else(|| Error::invalid("subscription.end_date", DATE_RULE))?;
    if end <= start {
        return Err(Error::invalid(
            "subscription.end_date",
            "must be after subscription.start_date",
        ));
    }
    Ok(())
}

const DATE_RULE: &str = "must be a calendar date written dd-MM-yyyy, e.g. 24-01-2027";

/// `dd-MM-yyyy` as (year, month, day), ordered like the dates; `None`
/// for any other text or a day the calendar lacks.
pub fn date(text: &str) -> Option<(u32, u32, u32)> {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[2] == b'-'
        && bytes[5] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 2 || i == 5 || b.is_ascii_digit());
    if !shape {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let (day, month, year) = (number(0..2)?, number(3..5)?, number(6..10)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (year >= 1 && (1..=days).contains(&day)).then_some((year, month, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(start: &str, end: &str) -> Subscription {
        Subscription {
            account_number: "ACC-1".into(),
            start_date: start.into(),
            end_date: end.into(),
            frequency: SubscriptionFrequency::Monthly,
        }
    }

    fn field(result: Result<()>) -> Option<String> {
        match result {
            Err(Error::InvalidRequest { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn accepts_a_documented_schedule() {
        assert_eq!(validate(&subscription("24-01-2027", "31-12-2027")), Ok(()));
        assert_eq!(validate(&subscription("28-02-2028", "29-02-2028")), Ok(()));
    }

    #[test]
    fn validation_table_names_the_field() {
        let cases = [
            ("2027-01-24", "31-12-2027", "subscription.start_date"),
            ("24/01/2027", "31-12-2027", "subscription.start_date"),
            ("32-01-2027", "31-12-2027", "subscription.start_date"),
            ("29-02-2027", "31-12-2027", "subscription.start_date"),
            ("24-13-2027", "31-12-2027", "subscription.start_date"),
            ("24-01-2027", "", "subscription.end_date"),
            ("24-01-2027", "31-12-27", "subscription.end_date"),
            ("24-01-2027", "24-01-2027", "subscription.end_date"),
            ("24-01-2027", "23-01-2027", "subscription.end_date"),
            ("01-02-2027", "31-01-2027", "subscription.end_date"),
        ];
        for (start, end, expected) in cases {
            assert_eq!(
                field(validate(&subscription(start, end))).as_deref(),
                Some(expected),
                "{start} .. {end}"
            );
        }
        let mut no_account = subscription("24-01-2027", "31-12-2027");
        no_account.account_number = String::new();
        assert_eq!(
            field(validate(&no_account)).as_deref(),
            Some("subscription.account_number")
        );
        no_account.account_number = "a b".into();
        assert_eq!(
            field(validate(&no_account)).as_deref(),
            Some("subscription.account_number")
        );
    }

    #[test]
    fn frequencies_are_the_documented_four() {
        for name in ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"] {
            assert_eq!(
                name.parse::<SubscriptionFrequency>().map(|f| f.as_str()),
                Ok(name)
            );
        }
        for name in ["QUARTERLY", "monthly", ""] {
            assert!(name.parse::<SubscriptionFrequency>().is_err(), "{name}");
        }
    }
}
