//! JSON as FinConnect reads and writes it: a small tree built from the
//! events of `json-event-parser`, written back through its serializer.
//!
//! Numbers stay the exact text the sender wrote ([`Value::Number`]): an
//! amount never passes through a float, and a signed body can be
//! re-serialised the way its signer printed it. Objects keep their members in
//! the order they came; a key given twice keeps its first position and its
//! last value (as most JSON libraries read it). Nesting deeper than
//! [`MAX_DEPTH`] is refused, so neither parsing nor dropping a hostile body
//! can exhaust the stack.
//!
//! Only the tree is built here; what each provider's fields mean is read in
//! the provider modules, with the accessors below.

use json_event_parser::{JsonEvent, LowLevelJsonParser, LowLevelJsonParserResult};
use std::borrow::Cow;
use std::fmt;

/// The deepest nesting of arrays and objects [`Value::parse`] accepts.
pub const MAX_DEPTH: usize = 64;

/// A JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, as the exact text it was written with (`1500.00`, `1e3`).
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: members in the order they came, each key once.
    Object(Vec<(String, Value)>),
}

/// Why a body is not JSON, with where it stopped making sense.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// 1-based line of the problem.
    pub line: u64,
    /// 1-based column of the problem (in characters).
    pub column: u64,
}

impl SyntaxError {
    fn at_end(message: &str, input: &[u8]) -> Self {
        let text = String::from_utf8_lossy(input);
        let line = text.matches('\n').count() as u64 + 1;
        let column = text
            .rsplit('\n')
            .next()
            .map_or(0, |last| last.chars().count()) as u64
            + 1;
        SyntaxError {
            message: message.to_owned(),
            line,
            column,
        }
    }
}

/// A container being filled while parsing.
enum Open {
    Array(Vec<Value>),
    Object(Vec<(String, Value)>, Option<String>),
}

impl Value {
    /// Parses one JSON document (surrounding whitespace allowed, nothing else).
    pub fn parse(input: &[u8]) -> Result<Value, SyntaxError> {
        let mut parser = LowLevelJsonParser::new().with_max_stack_size(MAX_DEPTH * 2 + 2);
        let mut rest = input;
        let mut stack: Vec<Open> = Vec::new();
        let mut done: Option<Value> = None;
        loop {
            let LowLevelJsonParserResult {
                event,
                consumed_bytes,
            } = parser.parse_next(rest, true);
            rest = &rest[consumed_bytes..];
            let Some(event) = event else { continue };
            let event = event.map_err(|error| {
                let start = error.location().start;
                SyntaxError {
                    message: error.message().to_owned(),
                    line: start.line + 1,
                    column: start.column + 1,
                }
            })?;
            let value = match event {
                JsonEvent::Eof => {
                    return done.ok_or_else(|| SyntaxError::at_end("no JSON value", input));
                }
                JsonEvent::StartArray | JsonEvent::StartObject => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(SyntaxError::at_end(
                            "arrays and objects nested too deeply",
                            &input[..input.len() - rest.len()],
                        ));
                    }
                    stack.push(if event == JsonEvent::StartArray {
                        Open::Array(Vec::new())
                    } else {
                        Open::Object(Vec::new(), None)
                    });
                    continue;
                }
                JsonEvent::ObjectKey(key) => {
                    if let Some(Open::Object(_, pending)) = stack.last_mut() {
                        *pending = Some(key.into_owned());
                    }
                    continue;
                }
                JsonEvent::EndArray | JsonEvent::EndObject => match stack.pop() {
                    Some(Open::Array(items)) => Value::Array(items),
                    Some(Open::Object(members, _)) => Value::Object(members),
                    // The parser checks nesting, so this cannot happen.
                    None => continue,
                },
                JsonEvent::String(text) => Value::String(text.into_owned()),
                JsonEvent::Number(text) => Value::Number(text.into_owned()),
                JsonEvent::Boolean(flag) => Value::Bool(flag),
                JsonEvent::Null => Value::Null,
            };
            match stack.last_mut() {
                None => done = Some(value),
                Some(Open::Array(items)) => items.push(value),
                Some(Open::Object(members, pending)) => {
                    let key = pending.take().unwrap_or_default();
                    match members.iter_mut().find(|(existing, _)| *existing == key) {
                        Some(member) => member.1 = value,
                        None => members.push((key, value)),
                    }
                }
            }
        }
    }

    /// The member `key` of an object (`None` for anything else).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// The members of an object.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The items of an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A scalar as text, for fields providers send with loose types: a
    /// string as it is, a number as written, a boolean as `true`/`false`;
    /// `None` for null, arrays and objects.
    pub fn lenient_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::String(text) | Value::Number(text) => Some(Cow::Borrowed(text)),
            Value::Bool(flag) => Some(Cow::Borrowed(if *flag { "true" } else { "false" })),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// [`Value::lenient_text`] of member `key`, owned: the common way a
    /// provider field is read.
    pub fn text_of(&self, key: &str) -> Option<String> {
        self.get(key)?.lenient_text().map(Cow::into_owned)
    }

    /// Compact JSON text.
    pub fn to_json(&self) -> String {
        let mut writer = Writer::default();
        writer.value(self);
        writer.finish()
    }

    /// Compact JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.to_json().into_bytes()
    }
}

/// Writes a tree through json-event-parser's serializer. Writing to a
/// `Vec` cannot fail, and the events are balanced by construction, so the
/// serializer's errors cannot occur here.
#[derive(Default)]
struct Writer {
    serializer: json_event_parser::LowLevelJsonSerializer,
    out: Vec<u8>,
}

impl Writer {
    fn emit(&mut self, event: JsonEvent<'_>) {
        let _ = self.serializer.serialize_event(event, &mut self.out);
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.emit(JsonEvent::Null),
            Value::Bool(flag) => self.emit(JsonEvent::Boolean(*flag)),
            Value::Number(text) => self.emit(JsonEvent::Number(Cow::Borrowed(text))),
            Value::String(text) => self.emit(JsonEvent::String(Cow::Borrowed(text))),
            Value::Array(items) => {
                self.emit(JsonEvent::StartArray);
                for item in items {
                    self.value(item);
                }
                self.emit(JsonEvent::EndArray);
            }
            Value::Object(members) => self.object(members),
        }
    }

    fn object(&mut self, members: &[(String, Value)]) {
        self.emit(JsonEvent::StartObject);
        for (key, value) in members {
            self.emit(JsonEvent::ObjectKey(Cow::Borrowed(key)));
            self.value(value);
        }
        self.emit(JsonEvent::EndObject);
    }

    fn finish(self) -> String {
        // The serializer only writes valid UTF-8 (it copies `str`s and ASCII).
        String::from_utf8(self.out).unwrap_or_default()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::String(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::String(text)
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Bool(flag)
    }
}

impl From<u16> for Value {
    fn from(number: u16) -> Self {
        Value::Number(number.to_string())
    }
}

impl From<u64> for Value {
    fn from(number: u64) -> Self {
        Value::Number(number.to_string())
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Self {
        Value::Object(object.0)
    }
}

/// Builds an object member by member, in the order written.
///
/// ```
/// use finconnect_core::json::Object;
/// let body = Object::new()
///     .field("id", "A-1")
///     .field_opt("branch", None::<&str>)
///     .number("amount", "1500.00")
///     .to_json();
/// assert_eq!(body, r#"{"id":"A-1","amount":1500.00}"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object(Vec::new())
    }

    /// Adds member `key`.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.push((key.to_owned(), value.into()));
        self
    }

    /// Adds member `key` when there is a value; leaves it out otherwise.
    pub fn field_opt<V: Into<Value>>(self, key: &str, value: Option<V>) -> Self {
        match value {
            Some(value) => self.field(key, value),
            None => self,
        }
    }

    /// Adds member `key` as a JSON number written as `text`, which must be
    /// valid JSON number text (FinConnect writes amounts it has checked).
    pub fn number(self, key: &str, text: &str) -> Self {
        debug_assert!(
            Value::parse(text.as_bytes()).is_ok_and(|v| matches!(v, Value::Number(_))),
            "not JSON number text: {text}"
        );
        self.field(key, Value::Number(text.to_owned()))
    }

    /// The object as a [`Value`].
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    /// Compact JSON text of the object.
    pub fn to_json(&self) -> String {
        let mut writer = Writer::default();
        writer.object(&self.0);
        writer.finish()
    }

    /// Compact JSON bytes of the object.
    pub fn to_vec(&self) -> Vec<u8> {
        self.to_json().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Outcome = Result<(), SyntaxError>;

    fn parse(text: &str) -> Result<Value, SyntaxError> {
        Value::parse(text.as_bytes())
    }

    fn refused(text: &str) -> SyntaxError {
        let result = parse(text);
        assert!(result.is_err(), "{text:?} parsed as {result:?}");
        result.err().unwrap_or_default()
    }

    #[test]
    fn numbers_keep_their_exact_text() -> Outcome {
        let value = parse(r#"{"amount": 1500.10, "big": 12345678901234567890.5, "e": 1E3}"#)?;
        assert_eq!(value.get("amount"), Some(&Value::Number("1500.10".into())));
        assert_eq!(
            value.text_of("big").as_deref(),
            Some("12345678901234567890.5")
        );
        assert_eq!(value.text_of("e").as_deref(), Some("1E3"));
        Ok(())
    }

    #[test]
    fn members_keep_their_order_and_a_repeated_key_keeps_its_last_value() -> Outcome {
        let value = parse(r#"{"b":1,"a":2,"b":3}"#)?;
        assert_eq!(
            value,
            Value::Object(vec![
                ("b".into(), Value::Number("3".into())),
                ("a".into(), Value::Number("2".into())),
            ])
        );
        Ok(())
    }

    #[test]
    fn lenient_text_reads_scalars_and_refuses_containers() -> Outcome {
        let value = parse(r#"{"s":"x","n":-2.5,"t":true,"z":null,"a":[],"o":{}}"#)?;
        assert_eq!(value.text_of("s").as_deref(), Some("x"));
        assert_eq!(value.text_of("n").as_deref(), Some("-2.5"));
        assert_eq!(value.text_of("t").as_deref(), Some("true"));
        for key in ["z", "a", "o", "missing"] {
            assert_eq!(value.text_of(key), None, "{key}");
        }
        assert_eq!(Value::Null.get("s"), None);
        Ok(())
    }

    #[test]
    fn strings_are_unescaped_on_the_way_in_and_escaped_like_json_stringify_on_the_way_out()
    -> Outcome {
        let value = parse(r#"["a\"b\\c\/d\n\u00e9\ud83d\ude00\u0001"]"#)?;
        assert_eq!(
            value,
            Value::Array(vec![Value::String("a\"b\\c/d\né😀\u{1}".into())])
        );
        assert_eq!(value.to_json(), r#"["a\"b\\c/d\né😀\u0001"]"#);
        Ok(())
    }

    #[test]
    fn writing_then_reading_gives_the_same_tree() -> Outcome {
        let text = r#"{"a":[1,2.50,{"b":null,"c":false}],"d":"é","e":-0.0}"#;
        let value = parse(text)?;
        assert_eq!(value.to_json(), text);
        assert_eq!(parse(&value.to_json())?, value);
        Ok(())
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_position() {
        for text in [
            "",
            "   ",
            "{",
            "{\"a\":}",
            "[1,]",
            "{\"a\":1} x",
            "<html>",
            "\"\\ud800\"",
            "01",
            "{'a':1}",
        ] {
            let error = refused(text);
            assert!(error.line >= 1 && error.column >= 1, "{text}: {error}");
            assert!(!error.message.is_empty(), "{text}");
        }
        let error = refused("{\n  \"a\": tru\n}");
        assert_eq!(error.line, 2, "{error}");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(Value::parse(b"\"\xff\"").is_err());
    }

    #[test]
    fn nesting_is_limited() -> Outcome {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let error = refused(&deep);
        assert!(error.message.contains("nested too deeply"), "{error}");
        let hostile = "[".repeat(100_000);
        assert!(parse(&hostile).is_err());
        Ok(())
    }

    #[test]
    fn the_object_builder_writes_members_in_order_and_skips_absent_ones() -> Outcome {
        let body = Object::new()
            .field("id", "A-1")
            .field_opt("cancellation_url", None::<&str>)
            .field_opt("branch", Some("Main"))
            .number("amount", "10.50")
            .field("nested", Object::new().field("ok", true))
            .field("status", 200u16);
        assert_eq!(
            body.to_json(),
            r#"{"id":"A-1","branch":"Main","amount":10.50,"nested":{"ok":true},"status":200}"#
        );
        assert_eq!(Value::parse(&body.to_vec())?, body.into_value());
        Ok(())
    }
}
