//! Reading request bodies with serde: each body is a derived struct whose
//! members are read loosely ([`Loose`]), then checked member by member in a
//! fixed order, so a wrong type is reported against the field it is in, and
//! amounts are read from their literal text (never through `f64`).
//!
//! A name repeated in the body or in `customer` is answered with 422 naming
//! it (serde's derive would report `duplicate field` only for the members it
//! reads; [`Members::first_repeat`] sees every name). Objects FinConnect
//! does not read are never checked.

use super::Problem;
use crate::domain::{
    Customer, IpnRequest, NotificationType, PaymentMethod, PaymentRequest, Provider, RedirectMode,
    RefundRequest,
};
use crate::providers::{Loose, Members};
use crate::recurring::{Subscription, SubscriptionFrequency};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::str::FromStr;

pub(super) mod billpay;
pub(super) mod payouts;

/// A well-formed body with a wrong value.
const UNPROCESSABLE: u16 = 422;
/// A body that is not UTF-8 JSON text.
const BAD_REQUEST: u16 = 400;

/// The deepest nesting of arrays and objects a request body may have, even
/// in members FinConnect does not read.
pub(super) const MAX_DEPTH: usize = 64;

/// `POST /payments` as sent.
#[derive(Deserialize)]
struct PaymentBody {
    provider: Option<Loose>,
    reference: Option<Loose>,
    amount: Option<Loose>,
    currency: Option<Loose>,
    description: Option<Loose>,
    customer: Option<Loose>,
    callback_url: Option<Loose>,
    cancellation_url: Option<Loose>,
    notification_id: Option<Loose>,
    method: Option<Loose>,
    branch: Option<Loose>,
    redirect_mode: Option<Loose>,
    subscription: Option<Loose>,
}

/// The `subscription` object of `POST /payments` (PesaPal recurring).
#[derive(Deserialize)]
struct SubscriptionBody {
    account_number: Option<Loose>,
    start_date: Option<Loose>,
    end_date: Option<Loose>,
    frequency: Option<Loose>,
}

/// The `customer` object of `POST /payments`.
#[derive(Deserialize)]
struct CustomerBody {
    email: Option<Loose>,
    phone: Option<Loose>,
    first_name: Option<Loose>,
    last_name: Option<Loose>,
    country_code: Option<Loose>,
}

/// `POST /ipn-registrations` as sent.
#[derive(Deserialize)]
struct IpnRegistrationBody {
    provider: Option<Loose>,
    url: Option<Loose>,
    notification_type: Option<Loose>,
}

/// `POST /payments/{provider}/{id}/refunds` as sent.
#[derive(Deserialize)]
struct RefundBody {
    amount: Option<Loose>,
    username: Option<Loose>,
    remarks: Option<Loose>,
}

/// Only the provider, read before anything else: a body for a provider
/// FinConnect does not know is refused for that, whatever else is wrong.
#[derive(Deserialize)]
struct ProviderOnly {
    provider: Option<Loose>,
}

/// A JSON object of the body (the body itself, or one nested in it) parsed
/// once into its members, for the checks and the read that follow, and
/// where it sits (`""`, or `"customer."`), which names its members in errors.
struct Object<'a> {
    members: Members<'a>,
    path: &'static str,
}

impl<'a> Object<'a> {
    /// The members of `text`, a JSON object that [`object_text`] (or the
    /// parse of the object around it) has accepted.
    fn of(text: &'a str, path: &'static str) -> Result<Self, Problem> {
        let members = Members::parse(text).map_err(|error| malformed(&error))?;
        Ok(Self { members, path })
    }

    /// The body, checked as [`object_text`] checks it, as an object. A
    /// body that reads as an object's members and has no flaw is parsed
    /// once; any other is parsed again by [`object_text`] for its error.
    fn body(body: &'a [u8]) -> Result<Self, Problem> {
        if let Ok(text) = std::str::from_utf8(body)
            && let Ok(members) = Members::parse(text)
            && flaw(body).is_none()
        {
            return Ok(Self { members, path: "" });
        }
        Self::of(object_text(body)?, "")
    }

    /// The object as the derived struct `T`, after refusing (422) any name
    /// it repeats, including names `T` does not read. Bodies and nested
    /// objects are read this way; [`Object::read`] alone serves the
    /// provider, read before the check, and bodies already checked.
    fn read_whole<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        match self.members.first_repeat() {
            Some(name) => Err(self.repeated(name)),
            None => self.read(),
        }
    }

    /// 422 for a name the object repeats, named by its full path
    /// (`customer.email`).
    fn repeated(&self, name: &str) -> Problem {
        Problem::invalid(
            UNPROCESSABLE,
            &format!("{}{name}", self.path),
            "appears more than once",
        )
    }

    /// The object as the derived struct `T`: 422 naming the member when
    /// serde's derive finds it twice.
    fn read<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        self.members.read().map_err(|error| {
            let message = error.to_string();
            let repeated = message
                .strip_prefix("duplicate field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(name, _)| name);
            match repeated {
                Some(name) => self.repeated(name),
                // Not reached for text `object_text` accepted; named all the same.
                None => {
                    let field = match self.path.trim_end_matches('.') {
                        "" => "body",
                        object => object,
                    };
                    Problem::invalid(UNPROCESSABLE, field, &message)
                }
            }
        })
    }
}

/// Checks that a body is a well-formed JSON object and returns its text.
fn object_text(body: &[u8]) -> Result<&str, Problem> {
    let raw = parse(body)?;
    if !raw.get().starts_with('{') {
        return Err(Problem::invalid(
            UNPROCESSABLE,
            "body",
            "must be a JSON object",
        ));
    }
    Ok(raw.get())
}

/// Refuses the request when required members are absent, naming all of them.
fn require(members: &[(&str, &Option<Loose>)]) -> Result<(), Problem> {
    let missing: Vec<&str> = members
        .iter()
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    let Some(first) = missing.first() else {
        return Ok(());
    };
    let listed = missing
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = if missing.len() == 1 {
        format!("{listed} is required")
    } else {
        format!("{listed} are required")
    };
    Err(Problem::new(UNPROCESSABLE, super::ProblemCode::InvalidRequest, detail).with_field(*first))
}

/// An optional string member.
fn string(value: Option<Loose>, path: &str) -> Result<Option<String>, Problem> {
    match value {
        None => Ok(None),
        Some(Loose::String(text)) => Ok(Some(text)),
        Some(_) => Err(Problem::invalid(UNPROCESSABLE, path, "must be a string")),
    }
}

/// A string member already known to be present.
fn required_string(value: Option<Loose>, name: &str) -> Result<String, Problem> {
    string(value, name)?.ok_or_else(|| Problem::invalid(UNPROCESSABLE, name, "is required"))
}

/// A string member from a fixed vocabulary.
fn choice<T: FromStr>(
    value: Option<Loose>,
    name: &str,
    allowed: &'static str,
) -> Result<Option<T>, Problem> {
    string(value, name)?
        .map(|text| {
            text.parse::<T>().map_err(|_| {
                Problem::invalid(UNPROCESSABLE, name, &format!("must be one of {allowed}"))
            })
        })
        .transpose()
}

/// An amount: a JSON string, or a JSON number taken as its literal text
/// (so `1500.10` stays `1500.10`, and `1e3` is refused later as malformed).
fn amount(value: Option<Loose>) -> Result<String, Problem> {
    match value {
        None => Err(Problem::invalid(UNPROCESSABLE, "amount", "is required")),
        Some(Loose::String(text) | Loose::Number(text)) => Ok(text),
        Some(_) => Err(Problem::invalid(
            UNPROCESSABLE,
            "amount",
            "must be a decimal string such as \"1500.00\" or a number with at most 2 decimals",
        )),
    }
}

/// The provider, when the body names one: refused (422) when it is not a
/// string or not a provider FinConnect knows. Read before every other
/// member, so it is the first thing a client hears about.
fn provider(object: &Object<'_>) -> Result<Option<Provider>, Problem> {
    let ProviderOnly { provider } = object.read()?;
    provider
        .map(|value| {
            required_string(Some(value), "provider")?
                .parse::<Provider>()
                .map_err(|_| {
                    Problem::invalid(
                        UNPROCESSABLE,
                        "provider",
                        &format!("must be {}", Provider::names_for_message()),
                    )
                })
        })
        .transpose()
}

/// Parses a body: 400 when it is not UTF-8, not JSON, or nested deeper than
/// [`MAX_DEPTH`].
fn parse(body: &[u8]) -> Result<&RawValue, Problem> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(Problem::invalid(BAD_REQUEST, "body", "is not UTF-8 text"));
    };
    let raw: &RawValue = serde_json::from_str(text).map_err(|error| malformed(&error))?;
    if let Some((at, flaw)) = flaw(body) {
        let (line, column) = position(&body[..at]);
        return Err(malformed(&format!("{flaw} at line {line} column {column}")));
    }
    Ok(raw)
}

/// The 400 for JSON that does not parse: what is wrong and where (line and
/// column), never the text itself.
fn malformed(error: &dyn std::fmt::Display) -> Problem {
    Problem::invalid(
        BAD_REQUEST,
        "body",
        &format!("is not well-formed JSON ({error})"),
    )
}

/// What serde_json accepts but FinConnect refuses in a body, and where:
/// arrays and objects nested deeper than [`MAX_DEPTH`], and a `\u` escape
/// of half a surrogate pair, which is not text (`RawValue` skips strings
/// without decoding them). Call it on text serde_json has accepted.
fn flaw(text: &[u8]) -> Option<(usize, &'static str)> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut at = 0;
    while let Some(&byte) = text.get(at) {
        match byte {
            b'\\' if in_string => {
                if text.get(at + 1) != Some(&b'u') {
                    at += 2;
                    continue;
                }
                let next_low = text.get(at + 6..at + 8) == Some(b"\\u");
                match hex4(text, at + 2) {
                    Some(0xD800..=0xDBFF)
                        if next_low && matches!(hex4(text, at + 8), Some(0xDC00..=0xDFFF)) =>
                    {
                        at += 12;
                    }
                    Some(0xD800..=0xDFFF) => {
                        return Some((at, "a lone surrogate escape is not text"));
                    }
                    _ => at += 6,
                }
                continue;
            }
            b'"' => in_string = !in_string,
            b'[' | b'{' if !in_string => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some((at, "arrays and objects nested too deeply"));
                }
            }
            b']' | b'}' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    None
}

/// The four hex digits at `at`, as a UTF-16 code unit.
fn hex4(text: &[u8], at: usize) -> Option<u16> {
    let digits = std::str::from_utf8(text.get(at..at + 4)?).ok()?;
    u16::from_str_radix(digits, 16).ok()
}

/// The 1-based line and column (in characters) just after `before`.
fn position(before: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(before);
    let line = text.matches('\n').count() + 1;
    let column = text
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

/// `POST /payments`: the provider and the payment request. Only shapes and
/// vocabularies are checked here; the provider's own rules run in
/// [`crate::flow::Finconnect::pay`] before anything is sent.
pub(super) fn payment(body: &[u8]) -> Result<(Provider, PaymentRequest), Problem> {
    let object = Object::body(body)?;
    let named = provider(&object)?;
    let body: PaymentBody = object.read_whole()?;
    require(&[
        ("provider", &body.provider),
        ("reference", &body.reference),
        ("amount", &body.amount),
        ("currency", &body.currency),
    ])?;
    let provider =
        named.ok_or_else(|| Problem::invalid(UNPROCESSABLE, "provider", "is required"))?;
    let customer = match body.customer {
        None => Customer::default(),
        Some(Loose::Object(customer)) => {
            let customer = Object::of(customer.get(), "customer.")?;
            let customer: CustomerBody = customer.read_whole()?;
            Customer {
                email: string(customer.email, "customer.email")?,
                phone: string(customer.phone, "customer.phone")?,
                first_name: string(customer.first_name, "customer.first_name")?,
                last_name: string(customer.last_name, "customer.last_name")?,
                country_code: string(customer.country_code, "customer.country_code")?,
            }
        }
        Some(_) => {
            return Err(Problem::invalid(
                UNPROCESSABLE,
                "customer",
                "must be an object",
            ));
        }
    };
    let request = PaymentRequest {
        reference: required_string(body.reference, "reference")?,
        amount: amount(body.amount)?,
        currency: required_string(body.currency, "currency")?,
        description: string(body.description, "description")?,
        customer,
        callback_url: string(body.callback_url, "callback_url")?,
        cancellation_url: string(body.cancellation_url, "cancellation_url")?,
        notification_id: string(body.notification_id, "notification_id")?,
        method: choice::<PaymentMethod>(
            body.method,
            "method",
            "\"mobile_money\", \"card\", \"checkout_link\"",
        )?,
        branch: string(body.branch, "branch")?,
        redirect_mode: choice::<RedirectMode>(
            body.redirect_mode,
            "redirect_mode",
            "\"TOP_WINDOW\", \"PARENT_WINDOW\"",
        )?,
        subscription: subscription(body.subscription)?,
    };
    Ok((provider, request))
}

/// The optional `subscription` object: its four members are required
/// once it is there (`null` is the same as leaving it out); the dates and
/// the account number are checked with the provider's rules.
fn subscription(value: Option<Loose>) -> Result<Option<Subscription>, Problem> {
    let object = match value {
        None | Some(Loose::Null) => return Ok(None),
        Some(Loose::Object(object)) => object,
        Some(_) => {
            return Err(Problem::invalid(
                UNPROCESSABLE,
                "subscription",
                "must be an object",
            ));
        }
    };
    let object = Object::of(object.get(), "subscription.")?;
    let body: SubscriptionBody = object.read_whole()?;
    let account_number = string(body.account_number, "subscription.account_number")?;
    let start_date = string(body.start_date, "subscription.start_date")?;
    let end_date = string(body.end_date, "subscription.end_date")?;
    let frequency = choice::<SubscriptionFrequency>(
        body.frequency,
        "subscription.frequency",
        "\"DAILY\", \"WEEKLY\", \"MONTHLY\", \"YEARLY\"",
    )?;
    let missing = |name: &str| Problem::invalid(UNPROCESSABLE, name, "is required");
    Ok(Some(Subscription {
        account_number: account_number.ok_or_else(|| missing("subscription.account_number"))?,
        start_date: start_date.ok_or_else(|| missing("subscription.start_date"))?,
        end_date: end_date.ok_or_else(|| missing("subscription.end_date"))?,
        frequency: frequency.ok_or_else(|| missing("subscription.frequency"))?,
    }))
}

/// `POST /payments/{provider}/{id}/refunds`: the amount, who asks and why.
/// The provider's rules (amount format, lengths) run in
/// [`crate::flow::Finconnect::check_refund`] before anything is sent.
pub(super) fn refund(body: &[u8]) -> Result<RefundRequest, Problem> {
    let object = Object::body(body)?;
    let body: RefundBody = object.read_whole()?;
    require(&[
        ("amount", &body.amount),
        ("username", &body.username),
        ("remarks", &body.remarks),
    ])?;
    Ok(RefundRequest {
        amount: amount(body.amount)?,
        username: required_string(body.username, "username")?,
        remarks: required_string(body.remarks, "remarks")?,
    })
}

/// `POST /ipn-registrations`: the provider and the notification URL.
pub(super) fn ipn_registration(body: &[u8]) -> Result<(Provider, IpnRequest), Problem> {
    let object = Object::body(body)?;
    let named = provider(&object)?;
    let body: IpnRegistrationBody = object.read_whole()?;
    require(&[
        ("provider", &body.provider),
        ("url", &body.url),
        ("notification_type", &body.notification_type),
    ])?;
    let provider =
        named.ok_or_else(|| Problem::invalid(UNPROCESSABLE, "provider", "is required"))?;
    let url = required_string(body.url, "url")?;
    let notification_type = choice::<NotificationType>(
        body.notification_type,
        "notification_type",
        "\"GET\", \"POST\"",
    )?
    .ok_or_else(|| Problem::invalid(UNPROCESSABLE, "notification_type", "is required"))?;
    Ok((
        provider,
        IpnRequest {
            url,
            notification_type,
        },
    ))
}

/// `POST /payment-previews`: a payment as `POST /payments` takes it, and
/// `fetch_sender_details` (`true` or `false`, default `false`).
pub(super) fn preview(body: &[u8]) -> Result<(Provider, PaymentRequest, bool), Problem> {
    #[derive(Deserialize)]
    struct PreviewFlag {
        fetch_sender_details: Option<Loose>,
    }
    let (provider, request) = payment(body)?;
    let PreviewFlag {
        fetch_sender_details,
    } = Object::body(body)?.read()?;
    let fetch_sender = match fetch_sender_details {
        None | Some(Loose::Null) => false,
        Some(Loose::Bool(flag)) => flag,
        Some(_) => {
            return Err(Problem::invalid(
                UNPROCESSABLE,
                "fetch_sender_details",
                "must be true or false",
            ));
        }
    };
    Ok((provider, request, fetch_sender))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount_of(body: &str) -> Result<String, (u16, Option<String>)> {
        payment(body.as_bytes())
            .map(|(_, request)| request.amount)
            .map_err(|p| (p.status(), p.field().map(str::to_owned)))
    }

    #[test]
    fn amounts_keep_their_literal_text() {
        let base = r#""provider":"pesapal","reference":"R1","currency":"KES""#;
        for (literal, expected) in [
            ("1500.10", "1500.10"),
            ("\"1500.10\"", "1500.10"),
            ("1e3", "1e3"),
            ("-5", "-5"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            ("0.1", "0.1"),
        ] {
            let body = format!("{{{base},\"amount\":{literal}}}");
            assert_eq!(amount_of(&body), Ok(expected.to_owned()), "{literal}");
        }
        for literal in ["true", "{\"value\":1}", "[1]"] {
            let body = format!("{{{base},\"amount\":{literal}}}");
            assert_eq!(
                amount_of(&body),
                Err((422, Some("amount".to_owned()))),
                "{literal}"
            );
        }
    }

    #[test]
    fn duplicates_and_nulls() {
        let duplicate =
            r#"{"provider":"pesapal","reference":"R1","amount":"1","amount":"9","currency":"KES"}"#;
        assert_eq!(amount_of(duplicate), Err((422, Some("amount".to_owned()))));
        let null_amount =
            r#"{"provider":"pesapal","reference":"R1","amount":null,"currency":"KES"}"#;
        assert_eq!(
            amount_of(null_amount),
            Err((422, Some("amount".to_owned())))
        );
        let nested = r#"{"provider":"pesapal","reference":"R1","amount":"1","currency":"KES","customer":{"email":"a@b.c","email":"x@y.z"}}"#;
        assert_eq!(
            amount_of(nested),
            Err((422, Some("customer.email".to_owned())))
        );
    }

    fn refusal(body: &str) -> (u16, Option<String>, String) {
        match payment(body.as_bytes()) {
            Ok(_) => (0, None, String::new()),
            Err(p) => (
                p.status(),
                p.field().map(str::to_owned),
                p.detail().to_owned(),
            ),
        }
    }

    #[test]
    fn the_first_repeated_name_is_reported_and_only_where_it_matters() {
        let full = r#""provider":"pesapal","reference":"R1","amount":"1","currency":"KES""#;
        let refused = |field: &str| {
            (
                422,
                Some(field.to_owned()),
                format!("`{field}` appears more than once"),
            )
        };
        // The name that repeats first, not the one that appeared first.
        assert_eq!(refusal(r#"{"a":1,"b":1,"b":2,"a":2}"#), refused("b"));
        // The same name written with an escape is the same name.
        assert_eq!(refusal(r#"{"a":1,"\u0061":2}"#), refused("a"));
        // Past a few members the names are kept in a set: the same answer.
        let many: Vec<String> = (0..40).map(|n| format!(r#""m{n}":1"#)).collect();
        let long = |repeat: &str| {
            format!(
                "{{{},{repeat},{}}}",
                many[..30].join(","),
                many[30..].join(",")
            )
        };
        assert_eq!(refusal(&long(r#""m7":2"#)), refused("m7"));
        assert_eq!(refusal(&long(r#""\u006d35":2"#)), refused("m35"));
        // A repeat in the body comes before missing members ...
        assert_eq!(
            refusal(r#"{"provider":"pesapal","provider":"pesapal"}"#),
            refused("provider")
        );
        // ... one in `customer` after them, as `customer` is read later.
        assert_eq!(
            refusal(r#"{"provider":"pesapal","customer":{"email":"a","email":"b"}}"#).1,
            Some("reference".to_owned())
        );
        assert_eq!(
            refusal(&format!(
                r#"{{{full},"customer":{{"z":1,"y":1,"y":2,"z":2}}}}"#
            )),
            refused("customer.y")
        );
        // Members FinConnect does not read are not checked.
        for extra in [
            r#""extra":{"k":1,"k":2}"#,
            r#""extra":[{"k":1,"k":2}]"#,
            r#""customer":{"email":"a@b.cd","extra":{"k":1,"k":2}}"#,
        ] {
            let body = format!("{{{full},{extra}}}");
            assert!(payment(body.as_bytes()).is_ok(), "{body}");
        }
    }

    #[test]
    fn malformed_bodies_are_400_with_a_position_and_other_shapes_422() {
        let (status, field, detail) =
            refusal("{\n  \"provider\": \"pesapal\",\n  \"amount\": 1.,\n}");
        assert_eq!((status, field.as_deref()), (400, Some("body")));
        assert!(
            detail.starts_with("`body` is not well-formed JSON (") && detail.ends_with(')'),
            "{detail}"
        );
        let position = detail
            .rsplit_once(" at line ")
            .and_then(|(_, at)| at.trim_end_matches(')').split_once(" column "))
            .and_then(|(line, column)| {
                Some((line.parse::<u64>().ok()?, column.parse::<u64>().ok()?))
            });
        assert!(
            matches!(position, Some((3, column)) if column > 0),
            "{detail}"
        );
        // Also refused: a byte order mark, a lone surrogate escape (not
        // text) and nesting deeper than `MAX_DEPTH`, even in members
        // FinConnect does not read.
        let deep = format!(
            "{{\"extra\":{}{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        for body in [
            "",
            "{",
            "{\"a\":}",
            "[1,]",
            "{} {}",
            "nul",
            "\u{feff}{}",
            r#"{"provider":"pesapal","extra":"\ud800"}"#,
            &deep,
        ] {
            let (status, field, detail) = refusal(body);
            assert_eq!((status, field.as_deref()), (400, Some("body")), "{body:?}");
            assert!(detail.contains(" at line 1 column "), "{body:?}: {detail}");
        }
        assert_eq!(
            refusal("{\"provider\":\"pes\u{fffd}\"}").0,
            422,
            "replacement characters are text"
        );
        let utf8 = payment(b"{\"provider\":\"\xff\"}").err();
        assert_eq!(
            utf8.as_ref().map(|p| (p.status(), p.detail())),
            Some((400, "`body` is not UTF-8 text"))
        );
        for body in ["[]", "\"pay\"", "null", "12", "true"] {
            assert_eq!(
                refusal(body),
                (
                    422,
                    Some("body".to_owned()),
                    "`body` must be a JSON object".to_owned()
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn every_missing_field_is_named() {
        let problem = payment(br#"{"provider":"pesapal"}"#).err();
        assert_eq!(problem.as_ref().and_then(Problem::field), Some("reference"));
        assert_eq!(
            problem.as_ref().map(Problem::detail),
            Some("`reference`, `amount`, `currency` are required")
        );
    }
}
