//! Variable resolution as `spin up` does it (wasm-platform.md §13), without the component.

use super::*;
use std::collections::BTreeMap;

type TestResult = anyhow::Result<()>;

const SAMPLE: &str = r#"
spin_manifest_version = 2

[application]
name = "sample"

[variables]
api_origin = { default = "https://api.example.com" }
api_path = { default = "/v1" }
api_key = { required = true, secret = true }
region = { default = "ke" }

[[trigger.http]]
route = "/..."
component = "app"

[component.app]
source = "app.wasm"
allowed_outbound_hosts = ["{{ api_origin }}", "http://127.0.0.1:{{ port_free_literal_is_not_a_var }}"]
"#;

/// A manifest around `[variables]`/component bodies given by each test.
fn manifest(variables: &str, component: &str) -> String {
    format!(
        "spin_manifest_version = 2\n[application]\nname = \"t\"\n[variables]\n{variables}\n\
         [component.app]\nsource = \"app.wasm\"\n{component}\n"
    )
}

fn err_text(result: anyhow::Result<impl std::fmt::Debug>) -> String {
    match result {
        Ok(value) => format!("unexpected success: {value:?}"),
        Err(err) => format!("{err:#}"),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn no_overrides() -> BTreeMap<String, Option<String>> {
    BTreeMap::new()
}

#[test]
fn templates_split_literals_and_variables() -> TestResult {
    let template = Template::parse("{{ origin }}{{path}}/x?y={{ n1 }}")?;
    assert_eq!(
        template.variables().collect::<Vec<_>>(),
        ["origin", "path", "n1"]
    );
    let values = map(&[("origin", "http://h:1"), ("path", "/p"), ("n1", "7")]);
    assert_eq!(
        template.render(&values).as_deref(),
        Some("http://h:1/p/x?y=7")
    );
    assert_eq!(
        template.render(&map(&[("origin", "o")])),
        None,
        "missing values give no result"
    );
    assert_eq!(
        Template::parse("plain text")?
            .render(&BTreeMap::new())
            .as_deref(),
        Some("plain text")
    );
    assert_eq!(
        Template::parse("")?.render(&BTreeMap::new()).as_deref(),
        Some("")
    );
    Ok(())
}

#[test]
fn malformed_templates_are_errors() {
    for text in [
        "{{ origin",
        "{{ }}",
        "{{ Origin }}",
        "{{ a-b }}",
        "x }}",
        "{{ a }} }}",
    ] {
        assert!(Template::parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn variable_names_follow_spin() {
    for good in ["a", "api_key", "pesapal_origin", "x1", "a_b_c9"] {
        assert!(validate_name(good).is_ok(), "{good}");
    }
    for bad in [
        "", "1a", "_a", "a_", "a__b", "API_KEY", "api-key", "api.key", "ä",
    ] {
        assert!(validate_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_template_naming_an_undeclared_variable_fails_to_load() {
    // SAMPLE's second allowed host refers to a variable that is not declared.
    let text = err_text(Manifest::parse(SAMPLE, None));
    assert!(
        text.contains("unknown variable \"port_free_literal_is_not_a_var\""),
        "{text}"
    );

    let text = manifest(
        "a = { default = \"x\" }",
        "[component.app.variables]\nk = \"{{ b }}\"",
    );
    let text = err_text(Manifest::parse(&text, None));
    assert!(text.contains("unknown variable \"b\""), "{text}");
}

#[test]
fn variable_declarations_are_checked() {
    let cases = [
        (
            "a = { required = true, default = \"x\" }",
            "must be `required` OR have a `default`",
        ),
        (
            "a = { secret = true }",
            "needs a `default` or `required = true`",
        ),
        ("a = \"x\"", "must be a table"),
        ("a = { default = 1 }", "`default` must be a string"),
        ("a = { default = \"x\", colour = \"red\" }", "unknown field"),
        ("Upper = { default = \"x\" }", "invalid variable name"),
    ];
    for (declaration, expected) in cases {
        let text = err_text(Manifest::parse(&manifest(declaration, ""), None));
        assert!(text.contains(expected), "{declaration}: {text}");
    }
}

#[test]
fn component_variable_names_are_lower_case() {
    let text = manifest(
        "a = { default = \"x\" }",
        "[component.app.variables]\nApi_Key = \"{{ a }}\"",
    );
    let text = err_text(Manifest::parse(&text, None));
    assert!(text.contains("invalid component variable name"), "{text}");
}

#[test]
fn only_manifest_version_2_is_read() {
    let text = manifest("a = { default = \"x\" }", "")
        .replace("spin_manifest_version = 2", "spin_version = \"1\"");
    assert!(err_text(Manifest::parse(&text, None)).contains("spin_manifest_version = 2"));
}

#[test]
fn the_component_is_chosen_by_id() -> TestResult {
    let two = format!(
        "{}\n[component.other]\nsource = \"o.wasm\"\n[component.other.variables]\nk = \"v\"\n",
        manifest("a = { default = \"x\" }", "")
    );
    assert!(err_text(Manifest::parse(&two, None)).contains("no `[component.finconnect]`"));
    let other = Manifest::parse(&two, Some("other"))?;
    assert_eq!(other.component, "other");
    assert_eq!(other.source.as_deref(), Some("o.wasm"));
    assert!(other.component_variables.contains_key("k"));
    Ok(())
}

fn precedence_manifest() -> anyhow::Result<Manifest> {
    Manifest::parse(
        &manifest(
            "api_origin = { default = \"https://api.example.com\" }\n\
             api_path = { default = \"/v1\" }\n\
             api_key = { default = \"from-default\", secret = true }",
            "allowed_outbound_hosts = [\"{{ api_origin }}\"]\n\
             environment = { RUST_LOG = \"info\" }\n\
             [component.app.variables]\n\
             base_url = \"{{ api_origin }}{{ api_path }}\"\n\
             api_key = \"{{ api_key }}\"\n\
             greeting = \"hello {{ api_path }} world\"\n\
             literal = \"no templates\"",
        ),
        None,
    )
}

#[test]
fn defaults_fill_component_variables() -> TestResult {
    let resolved = precedence_manifest()?.resolve(&VariableSources::default(), &no_overrides())?;
    assert_eq!(
        resolved.component,
        map(&[
            ("api_key", "from-default"),
            ("base_url", "https://api.example.com/v1"),
            ("greeting", "hello /v1 world"),
            ("literal", "no templates"),
        ])
    );
    assert_eq!(
        resolved.app.get("api_path").map(String::as_str),
        Some("/v1")
    );
    Ok(())
}

#[test]
fn environment_beats_dotenv_beats_default_and_overrides_beat_all() -> TestResult {
    let manifest = precedence_manifest()?;
    let key = |sources: &VariableSources| -> anyhow::Result<String> {
        let resolved = manifest.resolve(sources, &no_overrides())?;
        Ok(resolved
            .component
            .get("api_key")
            .cloned()
            .unwrap_or_default())
    };

    let mut sources = VariableSources::default();
    assert_eq!(key(&sources)?, "from-default");
    sources.dotenv = map(&[("SPIN_VARIABLE_API_KEY", "from-dotenv")]);
    assert_eq!(key(&sources)?, "from-dotenv");
    sources.env = map(&[("SPIN_VARIABLE_API_KEY", "from-env")]);
    assert_eq!(key(&sources)?, "from-env");
    sources.overrides = map(&[("api_key", "from-override")]);
    assert_eq!(key(&sources)?, "from-override");

    // Names are matched upper-cased, exactly: a lower-case key is ignored, like Spin does.
    let sources = VariableSources {
        env: map(&[("spin_variable_api_key", "lower")]),
        ..VariableSources::default()
    };
    assert_eq!(key(&sources)?, "from-default");
    // An empty value is a value.
    let sources = VariableSources {
        env: map(&[("SPIN_VARIABLE_API_KEY", "")]),
        ..VariableSources::default()
    };
    assert_eq!(key(&sources)?, "");
    Ok(())
}

#[test]
fn overriding_an_undeclared_variable_is_an_error() -> TestResult {
    let sources = VariableSources {
        overrides: map(&[("nope", "x")]),
        ..VariableSources::default()
    };
    let text = err_text(precedence_manifest()?.resolve(&sources, &no_overrides()));
    assert!(text.contains("\"nope\" is not declared"), "{text}");
    Ok(())
}

#[test]
fn required_variables_without_a_value_stop_the_start_naming_them() -> TestResult {
    let manifest = Manifest::parse(
        &manifest(
            "api_key = { required = true, secret = true }\nclient_id = { required = true }\nregion = { default = \"ke\" }",
            "[component.app.variables]\nkey = \"{{ api_key }}\"",
        ),
        None,
    )?;
    let text = err_text(manifest.resolve(&VariableSources::default(), &no_overrides()));
    assert!(
        text.contains("no provider resolved required variable(s): api_key, client_id"),
        "{text}"
    );
    assert!(text.contains("SPIN_VARIABLE_API_KEY"), "{text}");

    let sources = VariableSources {
        env: map(&[("SPIN_VARIABLE_API_KEY", "k")]),
        dotenv: map(&[("SPIN_VARIABLE_CLIENT_ID", "c")]),
        ..VariableSources::default()
    };
    let resolved = manifest.resolve(&sources, &no_overrides())?;
    assert_eq!(resolved.component, map(&[("key", "k")]));
    Ok(())
}

#[test]
fn component_overrides_set_and_unset_keys() -> TestResult {
    let overrides: BTreeMap<String, Option<String>> = [
        ("api_key".to_owned(), None),
        ("extra".to_owned(), Some("x".to_owned())),
        ("literal".to_owned(), Some("changed".to_owned())),
    ]
    .into();
    let resolved = precedence_manifest()?.resolve(&VariableSources::default(), &overrides)?;
    assert!(
        !resolved.component.contains_key("api_key"),
        "unset means absent"
    );
    assert_eq!(
        resolved.component.get("extra").map(String::as_str),
        Some("x")
    );
    assert_eq!(
        resolved.component.get("literal").map(String::as_str),
        Some("changed")
    );
    Ok(())
}

#[test]
fn allowed_hosts_follow_the_variables() -> TestResult {
    let manifest = precedence_manifest()?;
    let allows = |sources: &VariableSources, uri: &str| -> anyhow::Result<bool> {
        Ok(manifest
            .resolve(sources, &no_overrides())?
            .allowed_hosts
            .allows(&uri.parse()?))
    };
    let defaults = VariableSources::default();
    assert!(allows(&defaults, "https://api.example.com/v1/token")?);
    assert!(!allows(&defaults, "http://127.0.0.1:9400/v1/token")?);

    let local = VariableSources {
        env: map(&[("SPIN_VARIABLE_API_ORIGIN", "http://127.0.0.1:9400")]),
        ..defaults
    };
    assert!(allows(&local, "http://127.0.0.1:9400/v1/token")?);
    assert!(!allows(&local, "https://api.example.com/v1/token")?);

    // A value with a path resolves, loads, and then denies everything (as in Spin).
    let with_path = VariableSources {
        overrides: map(&[("api_origin", "http://127.0.0.1:9400/v1")]),
        ..VariableSources::default()
    };
    let resolved = manifest.resolve(&with_path, &no_overrides())?;
    assert!(
        !resolved
            .allowed_hosts
            .allows(&"http://127.0.0.1:9400/v1/token".parse()?)
    );
    assert_eq!(resolved.allowed_hosts.warnings().len(), 1);

    // A value without a scheme does not load.
    let no_scheme = VariableSources {
        overrides: map(&[("api_origin", "127.0.0.1:9400")]),
        ..VariableSources::default()
    };
    assert!(manifest.resolve(&no_scheme, &no_overrides()).is_err());
    Ok(())
}

#[test]
fn environment_table_is_read() -> TestResult {
    assert_eq!(
        precedence_manifest()?.environment,
        map(&[("RUST_LOG", "info")])
    );
    Ok(())
}

#[test]
fn dotenv_substitutes_dollar_names_like_spin() -> TestResult {
    // What Spin 4.0.2 did with each line (its `.env` reader is dotenvy).
    let env = |name: &str| (name == "FROM_ENV").then(|| "env".to_owned());
    let parsed = parse_dotenv_with(
        "FROM_ENV=file\n\
         EARLIER=early\n\
         SPIN_VARIABLE_A=ab$cd\n\
         SPIN_VARIABLE_B=a${FROM_ENV}b\n\
         SPIN_VARIABLE_C=\"a$EARLIER-b\"\n\
         SPIN_VARIABLE_D='a$EARLIER'\n\
         SPIN_VARIABLE_E=\"a\\$b\"\n\
         SPIN_VARIABLE_F=cost$-5\n",
        env,
    )?;
    assert_eq!(parsed["SPIN_VARIABLE_A"], "ab");
    assert_eq!(parsed["SPIN_VARIABLE_B"], "aenvb");
    assert_eq!(parsed["SPIN_VARIABLE_C"], "aearly-b");
    assert_eq!(parsed["SPIN_VARIABLE_D"], "a$EARLIER");
    assert_eq!(parsed["SPIN_VARIABLE_E"], "a$b");
    assert_eq!(parsed["SPIN_VARIABLE_F"], "cost-5");
    Ok(())
}

#[test]
fn dotenv_lines() -> TestResult {
    let parsed = parse_dotenv(
        "# a comment\n\
         \n\
         SPIN_VARIABLE_A=plain\n\
         export SPIN_VARIABLE_B = spaced # trailing comment\n\
         SPIN_VARIABLE_C=\"double \\\"quoted\\\" # not a comment\"\n\
         SPIN_VARIABLE_D='single # kept'\n\
         SPIN_VARIABLE_E=\n\
         SPIN_VARIABLE_F=a=b\n",
    )?;
    assert_eq!(
        parsed,
        map(&[
            ("SPIN_VARIABLE_A", "plain"),
            ("SPIN_VARIABLE_B", "spaced"),
            ("SPIN_VARIABLE_C", "double \"quoted\" # not a comment"),
            ("SPIN_VARIABLE_D", "single # kept"),
            ("SPIN_VARIABLE_E", ""),
            ("SPIN_VARIABLE_F", "a=b"),
        ])
    );
    for bad in [
        "NO_EQUALS_SIGN",
        "BAD KEY=1",
        "X=\"unterminated",
        "X='unterminated",
    ] {
        assert!(parse_dotenv(bad).is_err(), "{bad}");
    }
    Ok(())
}

#[test]
fn dotenv_file_is_read_and_filtered() -> TestResult {
    let dir = std::env::temp_dir().join(format!("finconnect-host-dotenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(".env");
    std::fs::write(
        &path,
        "SPIN_VARIABLE_XTEST_ONLY_IN_DOTENV=yes\nOTHER=ignored\n",
    )?;
    let sources = VariableSources::from_environment(Some(&path))?;
    std::fs::remove_dir_all(&dir)?;
    assert_eq!(sources.lookup("xtest_only_in_dotenv"), Some("yes"));
    assert!(!sources.dotenv.contains_key("OTHER"));

    let missing = VariableSources::from_environment(Some(&dir.join("absent.env")))?;
    assert!(missing.dotenv.is_empty(), "a missing .env is no error");
    Ok(())
}

/// The project's own `spin.toml`: what the component reads, and where it may connect.
mod project_manifest {
    use super::*;

    fn project() -> anyhow::Result<Manifest> {
        Manifest::from_path(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml"),
            None,
        )
    }

    #[test]
    fn defaults_point_at_the_providers() -> TestResult {
        let manifest = project()?;
        assert_eq!(manifest.component, "finconnect");
        let resolved = manifest.resolve(&VariableSources::default(), &no_overrides())?;
        let get = |key: &str| resolved.component.get(key).map(String::as_str);
        assert_eq!(
            get("pesapal_base_url"),
            Some("https://cybqa.pesapal.com/pesapalv3")
        );
        assert_eq!(
            get("clickpesa_base_url"),
            Some("https://api.clickpesa.com/third-parties")
        );
        assert!(
            resolved
                .allowed_hosts
                .allows(&"https://cybqa.pesapal.com/pesapalv3/api/Auth/RequestToken".parse()?)
        );
        assert!(
            resolved
                .allowed_hosts
                .allows(&"https://api.clickpesa.com/third-parties/generate-token".parse()?)
        );
        assert!(
            !resolved
                .allowed_hosts
                .allows(&"https://pay.pesapal.com/v3/api".parse()?)
        );
        assert!(
            !resolved
                .allowed_hosts
                .allows(&"http://127.0.0.1:9400/pesapalv3".parse()?)
        );
        assert!(resolved.allowed_hosts.warnings().is_empty());
        Ok(())
    }

    #[test]
    fn a_local_sandbox_needs_no_manifest_edit() -> TestResult {
        let sources = VariableSources {
            overrides: map(&[
                ("pesapal_origin", "http://127.0.0.1:9400"),
                ("clickpesa_origin", "http://127.0.0.1:9400"),
            ]),
            ..VariableSources::default()
        };
        let resolved = project()?.resolve(&sources, &no_overrides())?;
        assert_eq!(
            resolved
                .component
                .get("pesapal_base_url")
                .map(String::as_str),
            Some("http://127.0.0.1:9400/pesapalv3")
        );
        assert_eq!(
            resolved
                .component
                .get("clickpesa_base_url")
                .map(String::as_str),
            Some("http://127.0.0.1:9400/third-parties")
        );
        assert!(
            resolved
                .allowed_hosts
                .allows(&"http://127.0.0.1:9400/pesapalv3/api/Transactions".parse()?)
        );
        assert!(
            !resolved
                .allowed_hosts
                .allows(&"http://127.0.0.1:9401/pesapalv3".parse()?)
        );
        assert!(
            !resolved
                .allowed_hosts
                .allows(&"https://cybqa.pesapal.com/pesapalv3".parse()?)
        );
        Ok(())
    }

    #[test]
    fn the_component_reads_the_documented_keys() -> TestResult {
        let manifest = project()?;
        for key in [
            "pesapal_base_url",
            "pesapal_consumer_key",
            "pesapal_consumer_secret",
            "clickpesa_base_url",
            "clickpesa_client_id",
            "clickpesa_api_key",
            "clickpesa_checksum_key",
            "finconnect_api_key",
        ] {
            assert!(manifest.component_variables.contains_key(key), "{key}");
        }
        for secret in [
            "pesapal_consumer_secret",
            "clickpesa_api_key",
            "finconnect_api_key",
        ] {
            assert!(
                manifest.variables.get(secret).is_some_and(|v| v.secret),
                "{secret} should be secret"
            );
        }
        Ok(())
    }
}

#[test]
fn key_value_stores_are_read_and_absent_means_none() -> TestResult {
    let granted = Manifest::parse(&manifest("", "key_value_stores = [\"default\"]"), None)?;
    assert_eq!(granted.key_value_stores, ["default"]);
    let none = Manifest::parse(&manifest("", ""), None)?;
    assert!(none.key_value_stores.is_empty());
    let bad = Manifest::parse(&manifest("", "key_value_stores = \"default\""), None);
    assert!(err_text(bad).contains("key_value_stores` must be a list"));
    Ok(())
}
