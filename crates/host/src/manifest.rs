//! `spin.toml`, read the way `spin up` reads it.
//!
//! Only what the host needs: application variables, one component's
//! variables, `environment`, `allowed_outbound_hosts` and `key_value_stores`. Values resolve as in
//! Spin: explicit overrides, then `SPIN_VARIABLE_<NAME>` in the process
//! environment, then a `.env` file in the working directory, then the
//! manifest's defaults. A required variable that nothing resolves stops the
//! start, naming every such variable.

use crate::allowed_hosts::AllowedHosts;
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Prefix of the environment variables (and `.env` lines) that set application variables.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// The component the host runs when the caller does not name one.
pub const DEFAULT_COMPONENT: &str = "finconnect";

/// One `[variables]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVariable {
    /// `default = "..."`, when there is one.
    pub default: Option<String>,
    /// `required = true`: the application does not start without a value.
    pub required: bool,
    /// `secret = true`: never print the value.
    pub secret: bool,
}

/// A manifest string that may hold `{{ variable }}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Splits `text` into literal text and `{{ name }}` references.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                bail!("invalid variable template {text:?}: `{{{{` without `}}}}`");
            };
            let name = after[..close].trim();
            validate_name(name).with_context(|| format!("invalid variable template {text:?}"))?;
            parts.push(Part::Variable(name.to_owned()));
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            bail!("invalid variable template {text:?}: `}}}}` without `{{{{`");
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The application variables this template refers to, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Substitutes every reference; `None` when a referenced variable has no value.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(values.get(name)?),
            }
        }
        Some(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Variable(name) => write!(f, "{{{{ {name} }}}}")?,
            }
        }
        Ok(())
    }
}

/// What the host takes from `spin.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// `[variables]`.
    pub variables: BTreeMap<String, AppVariable>,
    /// The component these settings belong to.
    pub component: String,
    /// `[component.<id>] source`, as written.
    pub source: Option<String>,
    /// `[component.<id>.variables]`: what the component can read.
    pub component_variables: BTreeMap<String, Template>,
    /// `[component.<id>] environment`.
    pub environment: BTreeMap<String, String>,
    /// `[component.<id>] allowed_outbound_hosts`, unresolved.
    pub allowed_outbound_hosts: Vec<Template>,
    /// `[component.<id>] key_value_stores`: the stores the component may
    /// open (none when the key is absent, as under Spin).
    pub key_value_stores: Vec<String>,
}

impl Manifest {
    /// Reads and checks the manifest at `path` for `component` (see [`Manifest::parse`]).
    pub fn from_path(path: &Path, component: Option<&str>) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        Self::parse(&text, component)
            .with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses and checks manifest text. Without a `component`, picks the only
    /// component, or the one named [`DEFAULT_COMPONENT`].
    pub fn parse(text: &str, component: Option<&str>) -> anyhow::Result<Self> {
        let doc: toml::Table = text.parse().context("not valid TOML")?;

        let version = doc
            .get("spin_manifest_version")
            .and_then(toml::Value::as_integer);
        if version != Some(2) {
            bail!("only `spin_manifest_version = 2` is supported");
        }

        let mut variables = BTreeMap::new();
        if let Some(table) = doc.get("variables") {
            let table = table.as_table().context("`variables` must be a table")?;
            for (name, value) in table {
                validate_name(name).with_context(|| format!("invalid variable name {name:?}"))?;
                variables.insert(name.clone(), parse_app_variable(name, value)?);
            }
        }

        let components = match doc.get("component") {
            Some(value) => value
                .as_table()
                .context("`component` must be a table")?
                .clone(),
            None => toml::Table::new(),
        };
        let id = match component {
            Some(id) => id.to_owned(),
            None if components.len() == 1 => components.keys().next().cloned().unwrap_or_default(),
            None => DEFAULT_COMPONENT.to_owned(),
        };
        let settings = components
            .get(&id)
            .with_context(|| format!("no `[component.{id}]` in the manifest"))?
            .as_table()
            .with_context(|| format!("`component.{id}` must be a table"))?;

        let source = settings
            .get("source")
            .and_then(toml::Value::as_str)
            .map(str::to_owned);

        let mut component_variables = BTreeMap::new();
        if let Some(table) = settings.get("variables") {
            let table = table
                .as_table()
                .with_context(|| format!("`component.{id}.variables` must be a table"))?;
            for (name, value) in table {
                validate_name(name)
                    .with_context(|| format!("invalid component variable name {name:?}"))?;
                let text = value
                    .as_str()
                    .with_context(|| format!("component variable {name:?} must be a string"))?;
                let template = Template::parse(text)?;
                check_known(&template, &variables)?;
                component_variables.insert(name.clone(), template);
            }
        }

        let mut environment = BTreeMap::new();
        if let Some(table) = settings.get("environment") {
            let table = table
                .as_table()
                .with_context(|| format!("`component.{id}.environment` must be a table"))?;
            for (name, value) in table {
                let value = value
                    .as_str()
                    .with_context(|| format!("environment value {name:?} must be a string"))?;
                environment.insert(name.clone(), value.to_owned());
            }
        }

        let mut allowed_outbound_hosts = Vec::new();
        if let Some(list) = settings.get("allowed_outbound_hosts") {
            let list = list.as_array().with_context(|| {
                format!("`component.{id}.allowed_outbound_hosts` must be a list")
            })?;
            for entry in list {
                let text = entry
                    .as_str()
                    .context("`allowed_outbound_hosts` entries must be strings")?;
                let template = Template::parse(text)?;
                check_known(&template, &variables)?;
                allowed_outbound_hosts.push(template);
            }
        }

        let mut key_value_stores = Vec::new();
        if let Some(list) = settings.get("key_value_stores") {
            let list = list
                .as_array()
                .with_context(|| format!("`component.{id}.key_value_stores` must be a list"))?;
            for entry in list {
                let label = entry
                    .as_str()
                    .context("`key_value_stores` entries must be strings")?;
                key_value_stores.push(label.to_owned());
            }
        }

        Ok(Self {
            variables,
            component: id,
            source,
            component_variables,
            environment,
            allowed_outbound_hosts,
            key_value_stores,
        })
    }
}

fn parse_app_variable(name: &str, value: &toml::Value) -> anyhow::Result<AppVariable> {
    let table = value.as_table().with_context(|| {
        format!("variable {name:?} must be a table such as {{ default = \"...\" }}")
    })?;
    for key in table.keys() {
        if !matches!(key.as_str(), "default" | "required" | "secret") {
            bail!("variable {name:?}: unknown field {key:?}");
        }
    }
    let default = match table.get("default") {
        Some(value) => Some(
            value
                .as_str()
                .with_context(|| format!("variable {name:?}: `default` must be a string"))?
                .to_owned(),
        ),
        None => None,
    };
    let flag = |key: &str| -> anyhow::Result<bool> {
        match table.get(key) {
            Some(value) => value
                .as_bool()
                .with_context(|| format!("variable {name:?}: `{key}` must be true or false")),
            None => Ok(false),
        }
    };
    let required = flag("required")?;
    let secret = flag("secret")?;
    match (required, &default) {
        (true, Some(_)) => {
            bail!("variable {name:?}: must be `required` OR have a `default`, not both")
        }
        (false, None) => bail!("variable {name:?}: needs a `default` or `required = true`"),
        _ => {}
    }
    Ok(AppVariable {
        default,
        required,
        secret,
    })
}

fn check_known(
    template: &Template,
    variables: &BTreeMap<String, AppVariable>,
) -> anyhow::Result<()> {
    for name in template.variables() {
        if !variables.contains_key(name) {
            bail!("invalid variable template {template}: unknown variable {name:?}");
        }
    }
    Ok(())
}

/// Spin's rule for variable names: lower-case ASCII letters, digits and
/// single underscores; starts with a letter, ends with a letter or digit.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let bytes = name.as_bytes();
    let Some((&first, _)) = bytes.split_first() else {
        bail!("a variable name must not be empty");
    };
    if !first.is_ascii_lowercase() {
        bail!("{name:?} must start with a lower-case letter");
    }
    if bytes.last() == Some(&b'_') {
        bail!("{name:?} must not end with `_`");
    }
    if name.contains("__") {
        bail!("{name:?} must not contain `__`");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        bail!("{name:?} may hold only lower-case letters, digits and `_` (found {bad:?})");
    }
    Ok(())
}

/// Where application variable values come from, besides the manifest's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableSources {
    /// Given by the caller (a test, `finconnect-host up --sandbox`): highest priority.
    pub overrides: BTreeMap<String, String>,
    /// `SPIN_VARIABLE_*` from the process environment, keyed as written.
    pub env: BTreeMap<String, String>,
    /// `SPIN_VARIABLE_*` lines of the `.env` file, keyed as written.
    pub dotenv: BTreeMap<String, String>,
}

impl VariableSources {
    /// The process environment and `dotenv` (usually `.env` in the working
    /// directory; a missing file is no error).
    pub fn from_environment(dotenv: Option<&Path>) -> anyhow::Result<Self> {
        let env = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(key, _)| key.starts_with(ENV_PREFIX))
            .collect();
        let dotenv = match dotenv {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => parse_dotenv(&text)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .into_iter()
                    .filter(|(key, _)| key.starts_with(ENV_PREFIX))
                    .collect(),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot read {}", path.display()));
                }
            },
            None => BTreeMap::new(),
        };
        Ok(Self {
            overrides: BTreeMap::new(),
            env,
            dotenv,
        })
    }

    /// The value for application variable `name`, highest priority first,
    /// without looking at the manifest's default.
    pub fn lookup(&self, name: &str) -> Option<&str> {
        let key = env_key(name);
        self.overrides
            .get(name)
            .or_else(|| self.env.get(&key))
            .or_else(|| self.dotenv.get(&key))
            .map(String::as_str)
    }
}

/// `SPIN_VARIABLE_<NAME>` for application variable `name`.
pub fn env_key(name: &str) -> String {
    format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())
}

/// Parses `.env` text: `KEY=value` lines, `#` comments, an optional `export `
/// prefix, values optionally in single or double quotes.
///
/// As in Spin (which reads `.env` with dotenvy), `$NAME` and `${NAME}` in an
/// unquoted or double-quoted value are replaced by the process environment's
/// `NAME`, else by an earlier line's value, else by nothing; single quotes
/// and `\$` inside double quotes keep a `$` as it is.
pub fn parse_dotenv(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    parse_dotenv_with(text, |name| std::env::var(name).ok())
}

/// [`parse_dotenv`] with `env` standing for the process environment.
pub fn parse_dotenv_with(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected KEY=value", index + 1);
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            bail!("line {}: invalid name {key:?}", index + 1);
        }
        let lookup = |name: &str| env(name).or_else(|| out.get(name).cloned());
        let value =
            unquote(value.trim(), &lookup).with_context(|| format!("line {}", index + 1))?;
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// Reads the name after a `$` (`NAME` or `{NAME}`) and pushes its value; a
/// `$` followed by no name is dropped (Spin turned `cost$-5` into `cost-5`).
fn substitute(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    let mut name = String::new();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            match chars.next() {
                Some('}') => break,
                Some(c) => name.push(c),
                None => bail!("unterminated `${{`"),
            }
        }
    } else {
        while let Some(&c) = chars.peek() {
            if !(c.is_ascii_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            chars.next();
        }
    }
    out.push_str(&lookup(&name).unwrap_or_default());
    Ok(())
}

fn unquote(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    if let Some(inner) = value.strip_prefix('\'') {
        let Some(end) = inner.find('\'') else {
            bail!("unterminated single quote")
        };
        return Ok(inner[..end].to_owned());
    }
    if let Some(inner) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(out),
                '$' => substitute(&mut chars, &mut out, lookup)?,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some(other) => out.push(other),
                    None => break,
                },
                other => out.push(other),
            }
        }
        bail!("unterminated double quote");
    }
    // Unquoted: a ` #` starts a comment.
    let value = match value.find(" #") {
        Some(at) => value[..at].trim_end(),
        None => value,
    };
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => substitute(&mut chars, &mut out, lookup)?,
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Variables after resolution: what the component sees, and where it may connect.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// Every application variable that has a value.
    pub app: BTreeMap<String, String>,
    /// The component's `wasi:config` keys and values.
    pub component: BTreeMap<String, String>,
    /// `allowed_outbound_hosts` with templates substituted.
    pub allowed_hosts: AllowedHosts,
}

impl Manifest {
    /// Resolves application variables, component variables and allowed hosts.
    ///
    /// `component_overrides` replaces single component variables afterwards:
    /// `Some(value)` sets one, `None` removes it (the component then reads
    /// nothing for that key).
    pub fn resolve(
        &self,
        sources: &VariableSources,
        component_overrides: &BTreeMap<String, Option<String>>,
    ) -> anyhow::Result<Resolved> {
        for name in sources.overrides.keys() {
            if !self.variables.contains_key(name) {
                bail!("variable {name:?} is not declared in the manifest's [variables]");
            }
        }

        let mut app = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, variable) in &self.variables {
            match sources
                .lookup(name)
                .map(str::to_owned)
                .or_else(|| variable.default.clone())
            {
                Some(value) => {
                    app.insert(name.clone(), value);
                }
                None => missing.push(name.as_str()),
            }
        }
        if !missing.is_empty() {
            bail!(
                "no provider resolved required variable(s): {} (set {})",
                missing.join(", "),
                missing
                    .iter()
                    .map(|name| env_key(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }

        let mut component = BTreeMap::new();
        for (name, template) in &self.component_variables {
            // Every referenced variable is declared and resolved by now.
            if let Some(value) = template.render(&app) {
                component.insert(name.clone(), value);
            }
        }
        for (name, value) in component_overrides {
            match value {
                Some(value) => component.insert(name.clone(), value.clone()),
                None => component.remove(name),
            };
        }

        let mut entries = Vec::new();
        for template in &self.allowed_outbound_hosts {
            let text = template.render(&app).with_context(|| {
                format!("allowed_outbound_hosts entry {template} did not resolve")
            })?;
            entries.push(text);
        }
        let allowed_hosts = AllowedHosts::parse(entries.iter().map(String::as_str))?;

        Ok(Resolved {
            app,
            component,
            allowed_hosts,
        })
    }
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
