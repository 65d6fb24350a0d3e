//! The files users edit — `spin.toml`, `examples/spin-dependency/spin.toml`
//! and `.env.example` — declare every variable of every provider in the
//! registry, with the base URL built from an origin and a path and only the
//! origin allowed for outbound requests. Adding a provider to the registry
//! without its variables fails here.

use finconnect_core::Provider;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_default()
}

/// The lines of the TOML table `[name]`, up to the next table.
fn table<'a>(toml: &'a str, name: &str) -> Vec<&'a str> {
    toml.lines()
        .skip_while(|line| line.trim() != format!("[{name}]"))
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect()
}

fn assignment<'a>(lines: &[&'a str], key: &str) -> Option<&'a str> {
    lines.iter().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim())
    })
}

fn check_manifest(path: &str, component: &str) {
    let toml = read(path);
    assert!(!toml.is_empty(), "{path} is missing");
    let app = table(&toml, "variables");
    let reads = table(&toml, &format!("component.{component}.variables"));
    let allowed = table(&toml, &format!("component.{component}"))
        .into_iter()
        .find(|line| line.trim_start().starts_with("allowed_outbound_hosts"))
        .unwrap_or_default();
    for provider in Provider::ALL {
        let info = provider.info();
        let base = info.base_url;
        for variable in [base.origin_variable, base.path_variable] {
            assert!(
                assignment(&app, variable).is_some(),
                "{path}: [variables] lacks {variable}"
            );
        }
        assert_eq!(
            assignment(&reads, base.variable),
            Some(
                format!(
                    "\"{{{{ {} }}}}{{{{ {} }}}}\"",
                    base.origin_variable, base.path_variable
                )
                .as_str()
            ),
            "{path}: {} must be built from origin and path",
            base.variable
        );
        assert!(
            allowed.contains(&format!("\"{{{{ {} }}}}\"", base.origin_variable)),
            "{path}: allowed_outbound_hosts lacks {}",
            base.origin_variable
        );
        for variable in info.variables {
            let declared = assignment(&app, variable.name).unwrap_or_default();
            assert!(
                !declared.is_empty(),
                "{path}: [variables] lacks {}",
                variable.name
            );
            assert_eq!(
                declared.contains("secret = true"),
                variable.secret,
                "{path}: {} secret flag",
                variable.name
            );
            assert_eq!(
                assignment(&reads, variable.name),
                Some(format!("\"{{{{ {} }}}}\"", variable.name).as_str()),
                "{path}: the component must read {}",
                variable.name
            );
        }
        assert!(
            app.iter()
                .any(|line| line.contains(&format!("default = \"{}\"", base.default_origin))),
            "{path}: {} should default to {}",
            base.origin_variable,
            base.default_origin
        );
    }
}

#[test]
fn spin_toml_declares_every_provider_variable() {
    check_manifest("spin.toml", "finconnect");
}

#[test]
fn the_spin_dependency_example_declares_every_provider_variable() {
    check_manifest("examples/spin-dependency/spin.toml", "shop");
}

#[test]
fn env_example_lists_every_provider_variable() {
    let env = read(".env.example");
    for provider in Provider::ALL {
        let info = provider.info();
        let base = info.base_url;
        let names = [base.origin_variable, base.path_variable]
            .into_iter()
            .chain(info.variables.iter().map(|variable| variable.name));
        for name in names {
            let key = format!("SPIN_VARIABLE_{}=", name.to_ascii_uppercase());
            assert!(
                env.lines().any(|line| line.starts_with(&key)),
                ".env.example lacks {key}"
            );
        }
    }
}

/// The payout switch and key are declared, read, and the key kept secret,
/// in every file users edit.
#[test]
fn manifests_declare_the_payout_variables() {
    use finconnect_core::payouts::{PAYOUTS_API_KEY, PAYOUTS_SWITCH};
    for (path, component) in [
        ("spin.toml", "finconnect"),
        ("examples/spin-dependency/spin.toml", "shop"),
    ] {
        let toml = read(path);
        let app = table(&toml, "variables");
        let reads = table(&toml, &format!("component.{component}.variables"));
        assert_eq!(
            assignment(&app, PAYOUTS_SWITCH),
            Some("{ default = \"off\" }"),
            "{path}: payouts must default to off"
        );
        assert!(
            assignment(&app, PAYOUTS_API_KEY).is_some_and(|d| d.contains("secret = true")),
            "{path}: {PAYOUTS_API_KEY} must be a secret"
        );
        for name in [PAYOUTS_SWITCH, PAYOUTS_API_KEY] {
            assert_eq!(
                assignment(&reads, name),
                Some(format!("\"{{{{ {name} }}}}\"").as_str()),
                "{path}: the component must read {name}"
            );
        }
    }
    let env = read(".env.example");
    for name in [PAYOUTS_SWITCH, PAYOUTS_API_KEY] {
        let key = format!("SPIN_VARIABLE_{}=", name.to_ascii_uppercase());
        assert!(env.lines().any(|line| line.starts_with(&key)), "{key}");
    }
}
