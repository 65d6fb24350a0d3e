//! Reading request bodies: JSON objects checked member by member, so a wrong
//! type is reported against the field it is in, and amounts read from their
//! literal text (never through `f64`).

use super::Problem;
use crate::domain::{
    Customer, IpnRequest, NotificationType, PaymentMethod, PaymentRequest, Provider, RedirectMode,
};
use http::StatusCode;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::str::FromStr;

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// A JSON object whose member values are kept as their raw JSON text.
#[derive(Debug)]
pub(super) struct Object {
    members: Vec<(String, Box<RawValue>)>,
    /// The first member name that appeared twice.
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut object = Object {
                    members: Vec::new(),
                    duplicate: None,
                };
                while let Some((name, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    if object.duplicate.is_none() && object.members.iter().any(|(n, _)| *n == name)
                    {
                        object.duplicate = Some(name.clone());
                    }
                    object.members.push((name, value));
                }
                Ok(object)
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

impl Object {
    /// Reads a request body: 400 when it is not well-formed JSON, 422 when
    /// it is JSON but not an object or repeats a member.
    pub(super) fn from_body(body: &[u8]) -> Result<Self, Problem> {
        well_formed(body)?;
        let object = serde_json::from_slice::<Object>(body).map_err(|error| {
            if error.is_data() {
                Problem::invalid(UNPROCESSABLE, "body", "must be a JSON object")
            } else {
                malformed(&error)
            }
        })?;
        object.check_duplicates("")?;
        Ok(object)
    }

    /// Reads a nested object member (`customer`).
    fn nested(raw: &RawValue, path: &str) -> Result<Self, Problem> {
        let object = serde_json::from_str::<Object>(raw.get())
            .map_err(|_| Problem::invalid(UNPROCESSABLE, path, "must be an object"))?;
        object.check_duplicates(&format!("{path}."))?;
        Ok(object)
    }

    fn check_duplicates(&self, prefix: &str) -> Result<(), Problem> {
        match &self.duplicate {
            Some(name) => {
                let field = format!("{prefix}{name}");
                Err(Problem::invalid(
                    UNPROCESSABLE,
                    &field,
                    "appears more than once",
                ))
            }
            None => Ok(()),
        }
    }

    /// A member's raw value; `null` counts as absent.
    fn get(&self, name: &str) -> Option<&RawValue> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_ref())
            .filter(|value| value.get().trim() != "null")
    }

    /// Refuses the request when required members are absent, naming all of them.
    fn require(&self, names: &[&str]) -> Result<(), Problem> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| self.get(name).is_none())
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
        Err(
            Problem::new(UNPROCESSABLE, super::ProblemCode::InvalidRequest, detail)
                .with_field(*first),
        )
    }

    /// An optional string member.
    fn string(&self, name: &str, path: &str) -> Result<Option<String>, Problem> {
        self.get(name)
            .map(|raw| {
                serde_json::from_str::<String>(raw.get())
                    .map_err(|_| Problem::invalid(UNPROCESSABLE, path, "must be a string"))
            })
            .transpose()
    }

    /// A string member already known to be present.
    fn required_string(&self, name: &str) -> Result<String, Problem> {
        self.string(name, name)?
            .ok_or_else(|| Problem::invalid(UNPROCESSABLE, name, "is required"))
    }

    /// A string member from a fixed vocabulary.
    fn choice<T: FromStr>(&self, name: &str, allowed: &'static str) -> Result<Option<T>, Problem> {
        self.string(name, name)?
            .map(|text| {
                text.parse::<T>().map_err(|_| {
                    Problem::invalid(UNPROCESSABLE, name, &format!("must be one of {allowed}"))
                })
            })
            .transpose()
    }

    /// An amount: a JSON string, or a JSON number taken as its literal text
    /// (so `1500.10` stays `1500.10`, and `1e3` is refused later as malformed).
    fn amount(&self, name: &str) -> Result<Option<String>, Problem> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let text = raw.get().trim();
        if text.starts_with('"') {
            return self.string(name, name);
        }
        if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return Ok(Some(text.to_owned()));
        }
        Err(Problem::invalid(
            UNPROCESSABLE,
            name,
            "must be a decimal string such as \"1500.00\" or a number with at most 2 decimals",
        ))
    }

    fn provider(&self) -> Result<Provider, Problem> {
        self.required_string("provider")?
            .parse::<Provider>()
            .map_err(|_| {
                Problem::invalid(
                    UNPROCESSABLE,
                    "provider",
                    "must be one of \"pesapal\", \"clickpesa\"",
                )
            })
    }
}

/// Refuses (400) a body that is not UTF-8 JSON text.
pub(super) fn well_formed(body: &[u8]) -> Result<(), Problem> {
    if std::str::from_utf8(body).is_err() {
        return Err(Problem::invalid(
            StatusCode::BAD_REQUEST,
            "body",
            "is not UTF-8 text",
        ));
    }
    serde_json::from_slice::<IgnoredAny>(body)
        .map(|_| ())
        .map_err(|error| malformed(&error))
}

/// The 400 for JSON that does not parse. serde_json's syntax messages give
/// a position, never the text.
fn malformed(error: &serde_json::Error) -> Problem {
    Problem::invalid(
        StatusCode::BAD_REQUEST,
        "body",
        &format!("is not well-formed JSON ({error})"),
    )
}

/// `POST /payments`: the provider and the payment request. Only shapes and
/// vocabularies are checked here; the provider's own rules run in
/// [`crate::flow::Finconnect::pay`] before anything is sent.
pub(super) fn payment(body: &[u8]) -> Result<(Provider, PaymentRequest), Problem> {
    let object = Object::from_body(body)?;
    object.require(&["provider", "reference", "amount", "currency"])?;
    let provider = object.provider()?;
    let customer = match object.get("customer") {
        None => Customer::default(),
        Some(raw) => {
            let customer = Object::nested(raw, "customer")?;
            Customer {
                email: customer.string("email", "customer.email")?,
                phone: customer.string("phone", "customer.phone")?,
                first_name: customer.string("first_name", "customer.first_name")?,
                last_name: customer.string("last_name", "customer.last_name")?,
                country_code: customer.string("country_code", "customer.country_code")?,
            }
        }
    };
    let request = PaymentRequest {
        reference: object.required_string("reference")?,
        amount: object
            .amount("amount")?
            .ok_or_else(|| Problem::invalid(UNPROCESSABLE, "amount", "is required"))?,
        currency: object.required_string("currency")?,
        description: object.string("description", "description")?,
        customer,
        callback_url: object.string("callback_url", "callback_url")?,
        cancellation_url: object.string("cancellation_url", "cancellation_url")?,
        notification_id: object.string("notification_id", "notification_id")?,
        method: object
            .choice::<PaymentMethod>("method", "\"mobile_money\", \"card\", \"checkout_link\"")?,
        branch: object.string("branch", "branch")?,
        redirect_mode: object
            .choice::<RedirectMode>("redirect_mode", "\"TOP_WINDOW\", \"PARENT_WINDOW\"")?,
    };
    Ok((provider, request))
}

/// `POST /ipn-registrations`: the provider and the notification URL.
pub(super) fn ipn_registration(body: &[u8]) -> Result<(Provider, IpnRequest), Problem> {
    let object = Object::from_body(body)?;
    object.require(&["provider", "url", "notification_type"])?;
    let provider = object.provider()?;
    let url = object.required_string("url")?;
    let notification_type = object
        .choice::<NotificationType>("notification_type", "\"GET\", \"POST\"")?
        .ok_or_else(|| Problem::invalid(UNPROCESSABLE, "notification_type", "is required"))?;
    Ok((
        provider,
        IpnRequest {
            url,
            notification_type,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount_of(body: &str) -> Result<String, (u16, Option<String>)> {
        payment(body.as_bytes())
            .map(|(_, request)| request.amount)
            .map_err(|p| (p.status().as_u16(), p.field().map(str::to_owned)))
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
                p.status().as_u16(),
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
        for body in ["", "{", "{\"a\":}", "[1,]", "{} {}", "nul"] {
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
            utf8.as_ref().map(|p| (p.status().as_u16(), p.detail())),
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
