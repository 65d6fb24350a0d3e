//! serde_json's string writer for `Vec<u8>`, compiled here at `opt-level = "s"`.
//!
//! Every JSON text FinConnect writes (provider requests, its answers, the
//! ledger's records and events) goes through serde_json's compact serializer
//! into a `Vec<u8>`, and each string in it through one generic function,
//! `format_escaped_str::<&mut Vec<u8>, CompactFormatter>`. A generic function
//! is compiled in the crate that uses it, so that one was compiled in
//! finconnect-core at the release profile's `"z"`, where its loop called a
//! slice's `split_at` out of line for every byte.
//!
//! When rustc optimises for size (`"s"` and `"z"`; not at 2 and 3) it shares generic
//! instances: a crate reuses an instance that a crate it depends on already
//! compiled, instead of compiling its own. [`write_str`] compiles that
//! instance here, at this crate's `"s"` (the workspace's `Cargo.toml`), and
//! finconnect-core, which depends on this crate, and the component, which
//! depends on finconnect-core, use it. Measured in `docs/PERFORMANCE.md`
//! ("serde_json's string writer compiled at "s"").

/// Appends `value` to `out` as a JSON string, quoted and escaped as
/// serde_json escapes it.
pub fn write_str(out: &mut Vec<u8>, value: &str) -> serde_json::Result<()> {
    serde_json::to_writer(out, value)
}

#[cfg(test)]
mod tests {
    use super::write_str;

    #[test]
    fn strings_are_quoted_and_escaped_as_serde_json_escapes_them() -> serde_json::Result<()> {
        let cases = [
            ("", "\"\""),
            ("plain text", "\"plain text\""),
            ("say \"hi\"\\", r#""say \"hi\"\\""#),
            ("tab\tline\nend\r", r#""tab\tline\nend\r""#),
            ("\u{0}\u{1f}", r#""\u0000\u001f""#),
            ("Kes 1,000 — ok ✓", "\"Kes 1,000 — ok ✓\""),
        ];
        for (value, expected) in cases {
            let mut out = b"[".to_vec();
            write_str(&mut out, value)?;
            assert_eq!(out, [b"[", expected.as_bytes()].concat(), "{value:?}");
            assert_eq!(serde_json::from_slice::<String>(&out[1..])?, value);
        }
        Ok(())
    }
}
