//! Reading request bodies: JSON objects checked member by member, so a wrong
//! type is reported against the field it is in, and amounts read from their
//! literal text (never through `f64`).
//!
//! A body is parsed once into a [`Value`]. That tree keeps only the last of
//! two members with the same name, so the names a body repeats are found in
//! a second, event-level pass over the same (already valid) text.

use super::Problem;
use crate::domain::{
    Customer, IpnRequest, NotificationType, PaymentMethod, PaymentRequest, Provider, RedirectMode,
};
use crate::json::{SyntaxError, Value};
use json_event_parser::{JsonEvent, SliceJsonParser};
use std::collections::BTreeSet;
use std::str::FromStr;

/// A well-formed body with a wrong value.
const UNPROCESSABLE: u16 = 422;
/// A body that is not UTF-8 JSON text.
const BAD_REQUEST: u16 = 400;

/// A request body that is a JSON object, with the names it repeats.
#[derive(Debug)]
struct Body {
    members: Vec<(String, Value)>,
    /// For the body (empty path) and each object reached from it through
    /// members alone (`["customer"]`): the first name that object repeats.
    repeated: Vec<(Vec<String>, String)>,
}

impl Body {
    /// Reads a request body: 400 when it is not well-formed JSON, 422 when
    /// it is JSON but not an object or repeats a member.
    fn from_body(body: &[u8]) -> Result<Self, Problem> {
        let Value::Object(members) = parse(body)? else {
            return Err(Problem::invalid(
                UNPROCESSABLE,
                "body",
                "must be a JSON object",
            ));
        };
        let body = Body {
            members,
            repeated: repeated_names(body),
        };
        body.check_repeats(&[])?;
        Ok(body)
    }

    /// The body's own members.
    fn object(&self) -> Object<'_> {
        Object {
            members: &self.members,
        }
    }

    /// The member object `name` (`customer`); `None` when absent or null.
    fn nested(&self, name: &str) -> Result<Option<Object<'_>>, Problem> {
        match self.object().get(name) {
            None => Ok(None),
            Some(Value::Object(members)) => {
                self.check_repeats(&[name])?;
                Ok(Some(Object { members }))
            }
            Some(_) => Err(Problem::invalid(UNPROCESSABLE, name, "must be an object")),
        }
    }

    /// 422 when the object at `path` repeats a name, naming it by its full
    /// path (`customer.email`).
    fn check_repeats(&self, path: &[&str]) -> Result<(), Problem> {
        let repeated = self
            .repeated
            .iter()
            .find(|(at, _)| at.iter().map(String::as_str).eq(path.iter().copied()));
        match repeated {
            Some((_, name)) => {
                let field = path
                    .iter()
                    .copied()
                    .chain([name.as_str()])
                    .collect::<Vec<_>>()
                    .join(".");
                Err(Problem::invalid(
                    UNPROCESSABLE,
                    &field,
                    "appears more than once",
                ))
            }
            None => Ok(()),
        }
    }
}

/// The members of one JSON object, read field by field.
#[derive(Clone, Copy, Debug)]
struct Object<'a> {
    members: &'a [(String, Value)],
}

impl<'a> Object<'a> {
    /// A member's value; `null` counts as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value)
            .filter(|value| !value.is_null())
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
            .map(|value| {
                value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Problem::invalid(UNPROCESSABLE, path, "must be a string"))
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
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text) | Value::Number(text)) => Ok(Some(text.clone())),
            Some(_) => Err(Problem::invalid(
                UNPROCESSABLE,
                name,
                "must be a decimal string such as \"1500.00\" or a number with at most 2 decimals",
            )),
        }
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

/// Parses a body: 400 when it is not UTF-8, or not JSON.
fn parse(body: &[u8]) -> Result<Value, Problem> {
    if std::str::from_utf8(body).is_err() {
        return Err(Problem::invalid(BAD_REQUEST, "body", "is not UTF-8 text"));
    }
    // json-event-parser skips a leading byte order mark; JSON text must not
    // start with one (RFC 8259, section 8.1) and FinConnect has always refused it.
    if body.starts_with("\u{feff}".as_bytes()) {
        return Err(malformed(&SyntaxError {
            message: "a byte order mark is not JSON".to_owned(),
            line: 1,
            column: 1,
        }));
    }
    Value::parse(body).map_err(|error| malformed(&error))
}

/// The 400 for JSON that does not parse: what is wrong and where (line and
/// column), never the text itself.
fn malformed(error: &SyntaxError) -> Problem {
    Problem::invalid(
        BAD_REQUEST,
        "body",
        &format!("is not well-formed JSON ({error})"),
    )
}

/// For the top-level object of `body` and each object reached from it
/// through members only (not through arrays) that repeats a name: its path
/// of member names and the first name it repeats. Call it only on text
/// [`Value::parse`] accepted; anything else gives what was seen before the
/// first error.
fn repeated_names(body: &[u8]) -> Vec<(Vec<String>, String)> {
    /// An array, or an object with its path (`None` below an array), the
    /// names seen so far, the key of the member being read, and the first
    /// repeat.
    enum Open {
        Array,
        Object {
            path: Option<Vec<String>>,
            seen: BTreeSet<String>,
            key: Option<String>,
            repeated: Option<String>,
        },
    }
    let mut parser = SliceJsonParser::new(body);
    let mut stack: Vec<Open> = Vec::new();
    let mut found = Vec::new();
    while let Ok(event) = parser.parse_next() {
        match event {
            JsonEvent::Eof => break,
            JsonEvent::StartArray => stack.push(Open::Array),
            JsonEvent::StartObject => {
                let path = match stack.last() {
                    None => Some(Vec::new()),
                    Some(Open::Object {
                        path: Some(path),
                        key: Some(key),
                        ..
                    }) => {
                        let mut path = path.clone();
                        path.push(key.clone());
                        Some(path)
                    }
                    Some(_) => None,
                };
                stack.push(Open::Object {
                    path,
                    seen: BTreeSet::new(),
                    key: None,
                    repeated: None,
                });
            }
            JsonEvent::ObjectKey(name) => {
                if let Some(Open::Object {
                    path: Some(_),
                    seen,
                    key,
                    repeated,
                }) = stack.last_mut()
                {
                    let name = name.into_owned();
                    if !seen.insert(name.clone()) && repeated.is_none() {
                        *repeated = Some(name.clone());
                    }
                    *key = Some(name);
                }
            }
            JsonEvent::EndArray | JsonEvent::EndObject => {
                if let Some(Open::Object {
                    path: Some(path),
                    repeated: Some(name),
                    ..
                }) = stack.pop()
                {
                    found.push((path, name));
                }
            }
            JsonEvent::String(_)
            | JsonEvent::Number(_)
            | JsonEvent::Boolean(_)
            | JsonEvent::Null => {}
        }
    }
    found
}

/// `POST /payments`: the provider and the payment request. Only shapes and
/// vocabularies are checked here; the provider's own rules run in
/// [`crate::flow::Finconnect::pay`] before anything is sent.
pub(super) fn payment(body: &[u8]) -> Result<(Provider, PaymentRequest), Problem> {
    let body = Body::from_body(body)?;
    let object = body.object();
    object.require(&["provider", "reference", "amount", "currency"])?;
    let provider = object.provider()?;
    let customer = match body.nested("customer")? {
        None => Customer::default(),
        Some(customer) => Customer {
            email: customer.string("email", "customer.email")?,
            phone: customer.string("phone", "customer.phone")?,
            first_name: customer.string("first_name", "customer.first_name")?,
            last_name: customer.string("last_name", "customer.last_name")?,
            country_code: customer.string("country_code", "customer.country_code")?,
        },
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
    let body = Body::from_body(body)?;
    let object = body.object();
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
        // text) and nesting deeper than `json::MAX_DEPTH`, even in members
        // FinConnect does not read.
        let deep = format!(
            "{{\"extra\":{}{}}}",
            "[".repeat(crate::json::MAX_DEPTH),
            "]".repeat(crate::json::MAX_DEPTH)
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
