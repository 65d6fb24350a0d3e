//! Spin's variables from a runtime-configuration file instead of the
//! process environment (`cargo xtask spin-variables`).
//!
//! Under `spin up` every lookup of a variable asks Spin's providers in turn,
//! and the environment provider (`SPIN_VARIABLE_*`, and the `.env` file it
//! reads) is always among them. It does its lookup inside tokio's
//! `block_in_place`, which hands the runtime's worker to another thread.
//! Spin looks every application variable up on each request's first
//! outbound call (to check `allowed_outbound_hosts`) and each template again
//! when the component reads it, so with FinConnect's 28 variables that
//! hand-off is most of what Spin spends on a payment without the ledger
//! (docs/PERFORMANCE.md, "Variables from a static provider").
//!
//! A static provider declared in a runtime-configuration file is asked
//! first and answers from memory. Holding a value for every application
//! variable, it answers every lookup, and the environment provider is never
//! reached. This module writes that provider's section from the manifest:
//! each variable's value from the given source (the environment, for the
//! task), else its default.

use anyhow::{Context as _, bail};
use std::collections::HashMap;
use std::path::Path;

/// The runtime-configuration text: one `[[variables_provider]]` of type
/// `static` with a value for every variable in `manifest`'s `[variables]`,
/// taken from `value_of(name)` or else the variable's default. Also the
/// number of values `value_of` gave. Fails naming a variable that has
/// neither (Spin would refuse to start without it).
pub fn static_provider(
    manifest: &str,
    value_of: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(String, usize)> {
    let manifest: toml::Table = manifest.parse().context("the manifest is not TOML")?;
    let Some(variables) = manifest.get("variables").and_then(toml::Value::as_table) else {
        bail!("the manifest has no [variables] table");
    };
    let mut values = toml::Table::new();
    let mut given = 0;
    for (name, declaration) in variables {
        let value = match value_of(name) {
            Some(value) => {
                given += 1;
                value
            }
            None => match declaration.get("default").and_then(toml::Value::as_str) {
                Some(default) => default.to_owned(),
                None => bail!(
                    "the variable `{name}` has no default and no value was given \
                     (SPIN_VARIABLE_{})",
                    name.to_uppercase()
                ),
            },
        };
        values.insert(name.clone(), toml::Value::String(value));
    }
    let mut provider = toml::Table::new();
    provider.insert("type".to_owned(), toml::Value::String("static".to_owned()));
    provider.insert("values".to_owned(), toml::Value::Table(values));
    let mut document = toml::Table::new();
    document.insert(
        "variables_provider".to_owned(),
        toml::Value::Array(vec![toml::Value::Table(provider)]),
    );
    let text = toml::to_string(&document).context("cannot write the provider as TOML")?;
    Ok((text, given))
}

/// The environment variable in which Spin's environment provider looks for
/// the application variable `name`: `SPIN_VARIABLE_` and the name in upper
/// case.
pub fn environment_key(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// The value `environment`, `SPIN_VARIABLE_*` settings held as data (a
/// child process's environment), gives the application variable `name`.
pub fn value_in(environment: &[(String, String)], name: &str) -> Option<String> {
    let key = environment_key(name);
    environment
        .iter()
        .find(|(known, _)| *known == key)
        .map(|(_, value)| value.clone())
}

/// Where Spin's environment provider finds values: `SPIN_VARIABLE_<NAME>`
/// in the process environment, else in the `.env` file of the directory
/// `spin up` runs in.
pub struct SpinEnvironment {
    dotenv: HashMap<String, String>,
}

impl SpinEnvironment {
    /// The process environment and `dotenv` (a missing file is empty).
    pub fn read(dotenv: &Path) -> anyhow::Result<Self> {
        let dotenv = match dotenvy::from_path_iter(dotenv) {
            Ok(entries) => entries
                .collect::<Result<HashMap<_, _>, _>>()
                .with_context(|| format!("cannot read {}", dotenv.display()))?,
            Err(error) if error.not_found() => HashMap::new(),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", dotenv.display()));
            }
        };
        Ok(Self { dotenv })
    }

    /// The value the environment provider would give the variable `name`.
    pub fn value(&self, name: &str) -> Option<String> {
        let key = environment_key(name);
        std::env::var(&key)
            .ok()
            .or_else(|| self.dotenv.get(&key).cloned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[variables]
origin = { default = "https://example.test" }
key = { default = "", secret = true }
required = { required = true }
"#;

    fn provider_values(text: &str) -> toml::Table {
        let document: toml::Table = text.parse().unwrap();
        let providers = document["variables_provider"].as_array().unwrap();
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0]["type"].as_str(), Some("static"));
        providers[0]["values"].as_table().unwrap().clone()
    }

    #[test]
    fn every_variable_gets_its_given_value_or_its_default() {
        let (text, given) = static_provider(MANIFEST, |name| match name {
            "key" => Some("k\"ey\\1".to_owned()),
            "required" => Some("yes".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(given, 2);
        let values = provider_values(&text);
        assert_eq!(values.len(), 3);
        assert_eq!(values["origin"].as_str(), Some("https://example.test"));
        assert_eq!(values["key"].as_str(), Some("k\"ey\\1"));
        assert_eq!(values["required"].as_str(), Some("yes"));
    }

    #[test]
    fn a_variable_without_default_or_value_is_named() {
        let error = static_provider(MANIFEST, |_| None).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("`required`"), "{message}");
        assert!(message.contains("SPIN_VARIABLE_REQUIRED"), "{message}");
    }

    #[test]
    fn a_variable_is_found_under_its_environment_name() {
        let environment = vec![
            (
                "SPIN_VARIABLE_PESAPAL_ORIGIN".to_owned(),
                "http://a".to_owned(),
            ),
            (
                "pesapal_path".to_owned(),
                "/not-an-environment-name".to_owned(),
            ),
        ];
        assert_eq!(
            environment_key("pesapal_origin"),
            "SPIN_VARIABLE_PESAPAL_ORIGIN"
        );
        assert_eq!(
            value_in(&environment, "pesapal_origin").as_deref(),
            Some("http://a")
        );
        assert_eq!(value_in(&environment, "pesapal_path"), None);
    }

    #[test]
    fn values_come_from_a_dotenv_file_when_the_environment_has_none() {
        let dir =
            std::env::temp_dir().join(format!("finconnect-xtask-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".env");
        std::fs::write(&file, "SPIN_VARIABLE_XTASK_TEST_ONLY_IN_DOTENV=from-file\n").unwrap();
        let environment = SpinEnvironment::read(&file).unwrap();
        assert_eq!(
            environment.value("xtask_test_only_in_dotenv").as_deref(),
            Some("from-file")
        );
        assert_eq!(environment.value("xtask_test_nowhere"), None);
        let missing = SpinEnvironment::read(&dir.join("no.env")).unwrap();
        assert_eq!(missing.value("xtask_test_only_in_dotenv"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_projects_manifest_gives_a_value_for_each_of_its_variables() {
        let manifest = include_str!("../../spin.toml");
        let (text, given) = static_provider(manifest, |_| None).unwrap();
        assert_eq!(given, 0);
        let declared: toml::Table = manifest.parse().unwrap();
        let declared = declared["variables"].as_table().unwrap();
        let values = provider_values(&text);
        assert_eq!(
            values.keys().collect::<Vec<_>>(),
            declared.keys().collect::<Vec<_>>()
        );
        assert_eq!(values["finconnect_ledger"].as_str(), Some("on"));
    }
}
