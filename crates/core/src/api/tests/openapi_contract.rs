//! `openapi.yaml` and the router describe the same API.
//!
//! The YAML is read with a deliberately small reader that relies on the
//! document's layout: `paths:` at column 0, each path two spaces in, each
//! operation four spaces in.

use super::*;
use std::collections::BTreeSet;

const OPENAPI: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml"));

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The (METHOD, path template) pairs under `paths:`.
fn documented_routes(yaml: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut in_paths = false;
    let mut current_path: Option<String> = None;
    for line in yaml.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_paths = trimmed == "paths:";
            current_path = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        let key = trimmed
            .strip_suffix(':')
            .map(|key| key.trim_matches(|c| c == '\'' || c == '"'));
        match (indent, key) {
            (2, Some(path)) => current_path = Some(path.to_owned()),
            (4, Some(method)) if HTTP_METHODS.contains(&method) => {
                if let Some(path) = &current_path {
                    routes.insert((method.to_ascii_uppercase(), path.clone()));
                }
            }
            _ => {}
        }
    }
    routes
}

#[test]
fn openapi_lists_exactly_the_routes_the_router_serves() {
    let documented = documented_routes(OPENAPI);
    let served: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn openapi_s_provider_enum_is_the_registry() {
    let line = OPENAPI
        .lines()
        .skip_while(|line| line.trim() != "Provider:")
        .find(|line| line.trim().starts_with("enum:"))
        .unwrap_or_default();
    let documented: Vec<&str> = line
        .trim()
        .trim_start_matches("enum:")
        .trim()
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(str::trim)
        .collect();
    let registered: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(documented, registered);
}

#[test]
fn the_reader_sees_what_it_should() {
    let yaml = "openapi: 3.1.0\npaths:\n  /a:\n    get:\n      summary: x\n    post:\n      \
                responses: {}\n  '/b/{id}':\n    delete:\n      x: y\ncomponents:\n  schemas:\n    get:\n";
    let expected: BTreeSet<(String, String)> =
        [("GET", "/a"), ("POST", "/a"), ("DELETE", "/b/{id}")]
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
    assert_eq!(documented_routes(yaml), expected);
}

#[test]
fn openapi_documents_every_problem_code_and_header() {
    assert!(OPENAPI.starts_with("openapi: 3.1."));
    for code in ProblemCode::ALL {
        assert!(
            OPENAPI.contains(&format!("- {}\n", code.as_str())),
            "problem code {} is not in the Problem schema's enum",
            code.as_str()
        );
    }
    for name in [
        PAYMENT_STATUS_HEADER,
        PAYMENT_REFERENCE_HEADER,
        TRACKING_ID_HEADER,
    ] {
        let documented = OPENAPI
            .lines()
            .any(|line| line.trim().trim_end_matches(':').eq_ignore_ascii_case(name));
        assert!(documented, "header {name} is not documented");
    }
    assert!(OPENAPI.contains(&MAX_BODY_BYTES.to_string()));
    assert!(OPENAPI.contains(PROBLEM_TYPE_BASE));
    assert!(OPENAPI.contains("scheme: bearer"));
}
