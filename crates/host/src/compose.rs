//! Composition: running other components (such as a consumer plugged with
//! FinConnect by `wac plug`) in the same host, and reading Spin's
//! `[component.<id>.dependencies]`.

use crate::Host;
use crate::state::StoreState;
use anyhow::{Context as _, anyhow, bail};
use std::fmt;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre};

/// Values passed to and returned by [`LoadedComponent::call`].
pub use wasmtime::component::Val;

/// A component linked against a [`Host`]'s imports: it reads the same
/// variables, may reach the same hosts, and writes to the same captured output.
/// Every call runs in a fresh instance.
pub struct LoadedComponent {
    host: Host,
    component: Component,
    pre: InstancePre<StoreState>,
    functions: Vec<(String, ComponentExportIndex)>,
}

impl fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("functions", &self.exported_functions())
            .finish_non_exhaustive()
    }
}

impl LoadedComponent {
    pub(crate) fn new(host: Host, component: Component, pre: InstancePre<StoreState>) -> Self {
        let engine = host.engine();
        let mut functions = Vec::new();
        for (name, export) in component.component_type().exports(engine) {
            match export.ty {
                ComponentItem::ComponentFunc(_) => {
                    if let Some(index) = component.get_export_index(None, name) {
                        functions.push((name.to_owned(), index));
                    }
                }
                ComponentItem::ComponentInstance(instance) => {
                    let Some(parent) = component.get_export_index(None, name) else {
                        continue;
                    };
                    for (function, item) in instance.exports(engine) {
                        if !matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                            continue;
                        }
                        if let Some(index) = component.get_export_index(Some(&parent), function) {
                            functions.push((format!("{name}#{function}"), index));
                        }
                    }
                }
                _ => {}
            }
        }
        Self {
            host,
            component,
            pre,
            functions,
        }
    }

    /// Exported functions: `interface@version#function` for functions of an
    /// exported interface, the bare name for functions the world exports directly.
    pub fn exported_functions(&self) -> Vec<String> {
        self.functions
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        &self.component
    }

    /// Calls exported function `name` (see [`LoadedComponent::exported_functions`]) in a fresh instance.
    pub async fn call(&self, name: &str, params: &[Val]) -> anyhow::Result<Vec<Val>> {
        let (_, index) = self
            .functions
            .iter()
            .find(|(candidate, _)| candidate == name)
            .ok_or_else(|| {
                anyhow!(
                    "no exported function {name:?}; exports: {:?}",
                    self.exported_functions()
                )
            })?;
        let mut store = self.host.new_store();
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("cannot instantiate the component")?;
        let func = instance
            .get_func(&mut store, index)
            .with_context(|| format!("{name} is not a function"))?;
        let mut results = vec![Val::Bool(false); func.ty(&store).results().len()];
        func.call_async(&mut store, params, &mut results)
            .await
            .map_err(anyhow::Error::from)
            .with_context(|| format!("calling {name}"))?;
        Ok(results)
    }

    /// [`LoadedComponent::call`] on the crate's runtime.
    pub fn call_blocking(&self, name: &str, params: &[Val]) -> anyhow::Result<Vec<Val>> {
        crate::block_on(self.call(name, params))?
    }
}

/// One `[component.<id>.dependencies]` entry of a Spin manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The import it satisfies: `ns:pkg/interface[@version]` or a whole package `ns:pkg`.
    pub import: String,
    /// Where the component comes from.
    pub source: DependencySource,
    /// `export = "..."`: which export of the dependency to plug in, when named.
    pub export: Option<String>,
    /// What the dependency may use of the consumer's configuration.
    pub inherit: Inherit,
}

/// Where a dependency's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencySource {
    /// `{ path = "..." }`, relative to the manifest's directory.
    Path(String),
    /// `"1.2.3"` or `{ version = "...", package = "...", registry = "..." }`.
    Registry {
        /// Version requirement.
        version: String,
        /// The package, when it differs from the import's.
        package: Option<String>,
        /// The registry, when not the default one.
        registry: Option<String>,
    },
    /// `{ url = "...", digest = "sha256:..." }`.
    Url {
        /// Where to download it.
        url: String,
        /// Its expected digest.
        digest: String,
    },
    /// `{ component = "id" }`: another component of the same application.
    AppComponent(String),
}

/// Which of the consumer's capabilities a dependency inherits. Spin grants
/// a dependency none by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inherit {
    /// Nothing (the default).
    Nothing,
    /// `inherit_configuration = true`, or the component's `dependencies_inherit_configuration = true`.
    Everything,
    /// `inherit_configuration = ["allowed_outbound_hosts", "variables", ...]`.
    Only(Vec<String>),
}

impl Inherit {
    /// Whether the dependency gets `kind` (`variables`, `allowed_outbound_hosts`, ...).
    pub fn includes(&self, kind: &str) -> bool {
        match self {
            Inherit::Nothing => false,
            Inherit::Everything => true,
            Inherit::Only(kinds) => kinds.iter().any(|k| k == kind),
        }
    }
}

/// Reads the dependencies of component `component` from manifest text.
pub fn dependencies(manifest: &str, component: &str) -> anyhow::Result<Vec<Dependency>> {
    let doc: toml::Table = manifest.parse().context("not valid TOML")?;
    let settings = doc
        .get("component")
        .and_then(|components| components.get(component))
        .and_then(toml::Value::as_table)
        .with_context(|| format!("no `[component.{component}]` in the manifest"))?;
    let inherit_all = match settings.get("dependencies_inherit_configuration") {
        Some(value) => value
            .as_bool()
            .context("`dependencies_inherit_configuration` must be true or false")?,
        None => false,
    };
    let Some(entries) = settings.get("dependencies") else {
        return Ok(Vec::new());
    };
    let entries = entries
        .as_table()
        .with_context(|| format!("`component.{component}.dependencies` must be a table"))?;
    entries
        .iter()
        .map(|(import, value)| {
            parse_dependency(import, value, inherit_all)
                .with_context(|| format!("dependency {import:?}"))
        })
        .collect()
}

fn parse_dependency(
    import: &str,
    value: &toml::Value,
    inherit_all: bool,
) -> anyhow::Result<Dependency> {
    if !import.contains(':') {
        bail!("the name must be a package or interface such as `ns:pkg/interface`");
    }
    let default_inherit = if inherit_all {
        Inherit::Everything
    } else {
        Inherit::Nothing
    };
    let table = match value {
        toml::Value::String(version) => {
            return Ok(Dependency {
                import: import.to_owned(),
                source: DependencySource::Registry {
                    version: version.clone(),
                    package: None,
                    registry: None,
                },
                export: None,
                inherit: default_inherit,
            });
        }
        toml::Value::Table(table) => table,
        _ => bail!("expected a version string or a table"),
    };
    let text = |key: &str| -> anyhow::Result<Option<String>> {
        match table.get(key) {
            Some(value) => Ok(Some(
                value
                    .as_str()
                    .with_context(|| format!("`{key}` must be a string"))?
                    .to_owned(),
            )),
            None => Ok(None),
        }
    };
    let source = if let Some(path) = text("path")? {
        DependencySource::Path(path)
    } else if let Some(url) = text("url")? {
        let digest = text("digest")?.context("`url` needs a `digest`")?;
        DependencySource::Url { url, digest }
    } else if let Some(id) = text("component")? {
        DependencySource::AppComponent(id)
    } else if let Some(version) = text("version")? {
        DependencySource::Registry {
            version,
            package: text("package")?,
            registry: text("registry")?,
        }
    } else {
        bail!("needs one of `path`, `url`, `component` or `version`");
    };
    let inherit = match table.get("inherit_configuration") {
        None => default_inherit,
        Some(toml::Value::Boolean(true)) => Inherit::Everything,
        Some(toml::Value::Boolean(false)) => Inherit::Nothing,
        Some(toml::Value::Array(kinds)) => Inherit::Only(
            kinds
                .iter()
                .map(|kind| {
                    kind.as_str()
                        .map(str::to_owned)
                        .context("`inherit_configuration` lists strings")
                })
                .collect::<anyhow::Result<_>>()?,
        ),
        Some(_) => bail!("`inherit_configuration` must be true, false or a list"),
    };
    Ok(Dependency {
        import: import.to_owned(),
        source,
        export: text("export")?,
        inherit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[component.shop]
source = "shop.wasm"
[component.shop.dependencies]
"finconnect:payments/api" = { path = "../finconnect.wasm", inherit_configuration = ["allowed_outbound_hosts", "variables"] }
"a:b" = "0.1.0"
"c:d/e" = { version = "^0.2", package = "c:other", registry = "ghcr.io", export = "c:other/e" }
"f:g/h" = { url = "https://example.com/g.wasm", digest = "sha256:00", inherit_configuration = true }
"i:j/k" = { component = "other" }
[component.all]
source = "all.wasm"
dependencies_inherit_configuration = true
[component.all.dependencies]
"a:b" = { path = "b.wasm" }
[component.none]
source = "none.wasm"
"#;

    #[test]
    fn every_source_form_is_read() -> anyhow::Result<()> {
        let deps = dependencies(MANIFEST, "shop")?;
        let find = |import: &str| {
            deps.iter()
                .find(|d| d.import == import)
                .cloned()
                .context(import.to_owned())
        };
        let api = find("finconnect:payments/api")?;
        assert_eq!(
            api.source,
            DependencySource::Path("../finconnect.wasm".to_owned())
        );
        assert!(
            api.inherit.includes("variables") && api.inherit.includes("allowed_outbound_hosts")
        );
        assert!(!api.inherit.includes("key_value_stores"));
        let registry = find("a:b")?;
        assert_eq!(
            registry.source,
            DependencySource::Registry {
                version: "0.1.0".to_owned(),
                package: None,
                registry: None
            }
        );
        assert_eq!(registry.inherit, Inherit::Nothing);
        let named = find("c:d/e")?;
        assert_eq!(named.export.as_deref(), Some("c:other/e"));
        assert_eq!(
            named.source,
            DependencySource::Registry {
                version: "^0.2".to_owned(),
                package: Some("c:other".to_owned()),
                registry: Some("ghcr.io".to_owned()),
            }
        );
        let url = find("f:g/h")?;
        assert_eq!(url.inherit, Inherit::Everything);
        assert!(matches!(url.source, DependencySource::Url { .. }));
        assert_eq!(
            find("i:j/k")?.source,
            DependencySource::AppComponent("other".to_owned())
        );
        Ok(())
    }

    #[test]
    fn component_level_inheritance_applies_to_all() -> anyhow::Result<()> {
        let deps = dependencies(MANIFEST, "all")?;
        assert!(deps.iter().all(|d| d.inherit == Inherit::Everything));
        assert!(dependencies(MANIFEST, "none")?.is_empty());
        assert!(dependencies(MANIFEST, "absent").is_err());
        Ok(())
    }

    #[test]
    fn malformed_entries_are_errors() {
        for entry in [
            "\"nocolon\" = { path = \"x.wasm\" }",
            "\"a:b\" = { url = \"https://x\" }",
            "\"a:b\" = { nothing = \"x\" }",
            "\"a:b\" = 3",
            "\"a:b\" = { path = \"x\", inherit_configuration = \"variables\" }",
        ] {
            let text = format!(
                "[component.c]\nsource = \"c.wasm\"\n[component.c.dependencies]\n{entry}\n"
            );
            assert!(dependencies(&text, "c").is_err(), "{entry}");
        }
    }
}
