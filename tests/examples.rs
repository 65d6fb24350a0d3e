//! The composition examples, checked without running anything: the Spin
//! manifest that uses FinConnect as a component dependency
//! (`examples/spin-dependency/spin.toml`), the shop's and the build worlds' WIT
//! dependencies (links to the repository's `wit/`, not copies), and the Node example's
//! pinned packages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use finconnect_core::config::names;
use finconnect_host::Manifest;
use finconnect_host::compose::{DependencySource, dependencies};
use finconnect_host::manifest::VariableSources;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const EXAMPLE_MANIFEST: &str = "examples/spin-dependency/spin.toml";

/// Every key FinConnect reads through `wasi:config`.
const FINCONNECT_READS: [&str; 10] = [
    names::PESAPAL_BASE_URL,
    names::PESAPAL_CONSUMER_KEY,
    names::PESAPAL_CONSUMER_SECRET,
    names::CLICKPESA_BASE_URL,
    names::CLICKPESA_CLIENT_ID,
    names::CLICKPESA_API_KEY,
    names::CLICKPESA_CHECKSUM_KEY,
    names::FINCONNECT_API_KEY,
    names::CONNECT_TIMEOUT_MS,
    names::FIRST_BYTE_TIMEOUT_MS,
];

fn root(path: &str) -> PathBuf {
    Path::new(ROOT).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root(path)).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn example() -> Manifest {
    Manifest::parse(&read(EXAMPLE_MANIFEST), Some("shop")).unwrap()
}

fn finconnect() -> Manifest {
    Manifest::parse(&read("spin.toml"), Some("finconnect")).unwrap()
}

#[test]
fn spin_dependency_consumer_defines_every_variable_finconnect_reads() {
    let shop = example();
    let defined: BTreeSet<&str> = shop
        .component_variables
        .keys()
        .map(String::as_str)
        .collect();
    let missing: Vec<&str> = FINCONNECT_READS
        .iter()
        .copied()
        .filter(|key| !defined.contains(key))
        .collect();
    assert!(
        missing.is_empty(),
        "[component.shop.variables] lacks {missing:?}: FinConnect, as a dependency that \
         inherits `variables`, reads the consumer's component variables"
    );

    // Same keys, same templates and same application variables as FinConnect's
    // own spin.toml, so that the two cannot drift apart.
    let own = finconnect();
    let as_text = |m: &Manifest| -> BTreeMap<String, String> {
        m.component_variables
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    };
    // The ledger's switch and the webhook variables belong to FinConnect's
    // own HTTP face (its ledger and the ledger's deliveries); as a library
    // it never reads them.
    let http_only =
        |name: &String| !name.starts_with("finconnect_webhook_") && name != "finconnect_ledger";
    let mut own_text = as_text(&own);
    own_text.retain(|name, _| http_only(name));
    assert_eq!(as_text(&shop), own_text);
    let mut own_variables = own.variables.clone();
    own_variables.retain(|name, _| http_only(name));
    assert_eq!(shop.variables, own_variables);
}

#[test]
fn spin_dependency_inherits_variables_and_allowed_outbound_hosts() {
    let deps = dependencies(&read(EXAMPLE_MANIFEST), "shop").unwrap();
    let [dep] = deps.as_slice() else {
        panic!("expected exactly one dependency, got {deps:?}");
    };
    assert_eq!(dep.import, "finconnect:payments/api@0.2.0");
    assert_eq!(
        dep.source,
        DependencySource::Path("../../target/wasm32-wasip2/release/finconnect.wasm".to_owned())
    );
    // Relative to the manifest, that is the root build's output.
    let resolved = root("examples/spin-dependency").join(match &dep.source {
        DependencySource::Path(path) => path,
        _ => unreachable!(),
    });
    assert_eq!(
        normalize(&resolved),
        root("target/wasm32-wasip2/release/finconnect.wasm")
    );
    // `key_value_stores` too: Spin 4.0.2 does not load FinConnect's
    // wasi:keyvalue imports in a dependency that does not inherit it.
    for kind in ["variables", "allowed_outbound_hosts", "key_value_stores"] {
        assert!(
            dep.inherit.includes(kind),
            "the dependency must inherit `{kind}` (Spin grants a dependency nothing by default): {:?}",
            dep.inherit
        );
    }
}

#[test]
fn spin_dependency_allowed_hosts_come_from_origin_only_variables() {
    let shop = example();
    assert!(!shop.allowed_outbound_hosts.is_empty());
    let resolved = shop
        .resolve(&VariableSources::default(), &BTreeMap::new())
        .unwrap();
    for template in &shop.allowed_outbound_hosts {
        let vars: Vec<&str> = template.variables().collect();
        assert_eq!(
            template.to_string(),
            format!("{{{{ {} }}}}", vars.join("")),
            "an allowed host is exactly one variable"
        );
        let value = &resolved.app[vars[0]];
        let after_scheme = value.split_once("://").map_or("", |(_, rest)| rest);
        assert!(
            !after_scheme.is_empty() && !after_scheme.contains('/'),
            "{} = {value:?} must be an origin: Spin denies everything when an allowed host has a path",
            vars[0]
        );
    }
    // The base URLs FinConnect reads are allowed by those entries.
    for key in [names::PESAPAL_BASE_URL, names::CLICKPESA_BASE_URL] {
        let url = &resolved.component[key];
        let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        assert!(
            resolved
                .allowed_hosts
                .entries()
                .any(|entry| entry == origin),
            "{key} = {url} is not allowed by {}",
            resolved.allowed_hosts
        );
    }
}

/// Checks that every entry of `deps` is a symlink into the repository's
/// `wit/` (`payments@0.2.0` to `wit/` itself, the others to the folder of the
/// same name in `wit/deps/`) and that each of `needed` is there.
fn check_links_to_the_repository_wit(deps: &str, needed: &[&str]) {
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(root(deps)).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let link = entry.path();
        assert!(
            entry.file_type().unwrap().is_symlink(),
            "{} must be a symlink into the repository's wit/, not a copy",
            link.display()
        );
        let expected = if name == "payments@0.2.0" {
            root("wit")
        } else {
            root("wit/deps").join(&name)
        };
        assert_eq!(
            link.canonicalize().unwrap(),
            expected.canonicalize().unwrap(),
            "{}",
            link.display()
        );
        seen.insert(name);
    }
    for needed in needed {
        assert!(seen.contains(*needed), "{deps} has no link for {needed}");
    }
}

#[test]
fn shop_wit_dependencies_are_links_to_the_repository_wit() {
    // FinConnect's WIT and the one WASI package it refers to (the shop's
    // build fails without them; an extra link is harmless).
    check_links_to_the_repository_wit(
        "examples/shop/wit/deps",
        &["payments@0.2.0", "config@0.2.0-draft-2024-09-27"],
    );
}

#[test]
fn build_worlds_resolve_from_links_to_the_vendored_wit() {
    // wit/build (finconnect:build) refers to finconnect:payments and to the
    // WASI and Spin packages of every build world.
    check_links_to_the_repository_wit(
        "wit/build/deps",
        &[
            "payments@0.2.0",
            "config@0.2.0-draft-2024-09-27",
            "keyvalue@0.2.0-draft2",
            "spin@2.0.0",
            "http@0.2.12",
            "cli@0.2.12",
            "io@0.2.12",
            "clocks@0.2.12",
            "random@0.2.12",
            "filesystem@0.2.12",
            "sockets@0.2.12",
        ],
    );
}

#[test]
fn node_example_pins_exact_versions_and_commits_its_lockfile() {
    let package: serde_json::Value =
        serde_json::from_str(&read("examples/node/package.json")).unwrap();
    let lock: serde_json::Value =
        serde_json::from_str(&read("examples/node/package-lock.json")).unwrap();
    for (section, name) in [
        ("devDependencies", "@bytecodealliance/jco"),
        ("dependencies", "@bytecodealliance/preview2-shim"),
    ] {
        let wanted = package[section][name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} is not in {section}"));
        assert!(
            wanted.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "{name} must be pinned to an exact version, not {wanted:?}"
        );
        assert_eq!(
            lock["packages"][format!("node_modules/{name}")]["version"].as_str(),
            Some(wanted),
            "package-lock.json is out of date for {name}"
        );
    }
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
