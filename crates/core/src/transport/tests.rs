use super::*;

fn token_request() -> HttpRequest {
    HttpRequest::new(
        Method::Post,
        "https://api.example/third-parties/generate-token",
    )
    .with_header("accept", "application/json")
    .with_header("user-agent", USER_AGENT)
    .with_header("client-id", "canary-client-id")
    .with_header("api-key", "canary-api-key")
    .with_body(br#"{"consumer_secret":"canary-secret"}"#.to_vec())
}

#[test]
fn request_debug_hides_credentials_and_the_body() {
    let request = token_request()
        .with_header("authorization", "Bearer canary-token")
        .with_header("Authorization", "canary-token-2");
    let debug = format!("{request:?}");
    for canary in [
        "canary-token",
        "canary-client-id",
        "canary-api-key",
        "canary-secret",
    ] {
        assert!(!debug.contains(canary), "{canary} in {debug}");
    }
    // What is not secret is still there to read.
    for shown in [
        "POST",
        "https://api.example/third-parties/generate-token",
        "application/json",
        USER_AGENT,
        "authorization",
        "api-key",
    ] {
        assert!(debug.contains(shown), "{shown} missing from {debug}");
    }
    assert!(format!("{request:#?}").contains("<hidden>"));
}

#[test]
fn response_debug_shows_the_body_only_by_its_length() {
    let reply = HttpResponse::new(200, br#"{"token":"canary-token"}"#.to_vec())
        .with_header("content-type", "application/json")
        .with_header("set-cookie", "canary-cookie");
    let debug = format!("{reply:?}");
    assert!(!debug.contains("canary"), "{debug}");
    assert!(debug.contains("200") && debug.contains("application/json") && debug.contains("24"));
}

#[test]
fn header_lookups_ignore_case_and_take_the_first_value() {
    let request = token_request();
    assert_eq!(request.header("API-Key"), Some("canary-api-key"));
    assert_eq!(request.header("authorization"), None);
    let reply = HttpResponse::new(200, Vec::new())
        .with_header("Content-Type", "text/html")
        .with_header("content-type", "application/json");
    assert_eq!(reply.header("CONTENT-TYPE"), Some("text/html"));
    assert_eq!(reply.header("location"), None);
}

#[test]
fn methods_are_spelt_as_on_the_wire() {
    assert_eq!(Method::Get.as_str(), "GET");
    assert_eq!(Method::Post.to_string(), "POST");
}

#[test]
fn urls_split_into_scheme_authority_and_path_with_query() {
    let parts = |https, authority, path_with_query| {
        Some(UrlParts {
            https,
            authority,
            path_with_query,
        })
    };
    let cases = [
        (
            "https://cybqa.pesapal.com/pesapalv3/api/Auth/RequestToken",
            parts(
                true,
                "cybqa.pesapal.com",
                "/pesapalv3/api/Auth/RequestToken",
            ),
        ),
        (
            "http://127.0.0.1:9/api/Transactions/GetTransactionStatus?orderTrackingId=a-1",
            parts(
                false,
                "127.0.0.1:9",
                "/api/Transactions/GetTransactionStatus?orderTrackingId=a-1",
            ),
        ),
        ("https://api.example", parts(true, "api.example", "/")),
        ("https://api.example?x=1", None),
        ("http://[::1]:8080/v3", parts(false, "[::1]:8080", "/v3")),
        (
            "http://[fe80::1%25eth0]/v3",
            parts(false, "[fe80::1%25eth0]", "/v3"),
        ),
        (
            "https://user:pa%20ss@host/v3",
            parts(true, "user:pa%20ss@host", "/v3"),
        ),
        ("https://host:/v3", parts(true, "host:", "/v3")),
        // The host and port follow the last `@`.
        ("http://u@v@host:8/x", parts(false, "u@v@host:8", "/x")),
        (
            "https://host/caf\u{e9}/{x}|\"y\"",
            parts(true, "host", "/caf\u{e9}/{x}|\"y\""),
        ),
        (
            "https://host/a?b={c}&d=`e`|'f'",
            parts(true, "host", "/a?b={c}&d=`e`|'f'"),
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(split_url(url), expected, "{url}");
    }
}

#[test]
fn urls_a_host_cannot_send_do_not_split() {
    for url in [
        "",
        "/relative",
        "ftp://host/x",
        "HTTPS://host/x",
        "https://",
        "https:///x",
        "https://:80/x",
        "https://host:http/x",
        "https://host:1:2/x",
        "https://ho st/x",
        "https://host/x y",
        "https://host/x\ty",
        "https://host/x\u{7f}",
        "https://host/x#fragment",
        "https://host/x?y#fragment",
        "https://host/a`b",
        "https://host/a<b>",
        "https://host/a?b<c",
        "https://host/a?b\"c",
        "https://host\\x/a",
        "https://ho%73t/a",
        "https://[::1/a",
        "https://::1]/a",
        "https://[]/a",
        "https://[::1]x/a",
        "https://[a]]/a",
        "https://u@host:8@/a",
        "https://user@/a",
        "https://hóst/a",
    ] {
        assert_eq!(split_url(url), None, "{url:?}");
    }
}

#[test]
fn field_values_refuse_line_breaks_and_text_refuses_odd_bytes() {
    for value in ["Bearer abc", "a\tb", "caf\u{e9}", ""] {
        assert!(is_field_value(value), "{value:?}");
    }
    for value in ["a\r\nb", "a\nb", "a\0b", "a\u{7f}"] {
        assert!(!is_field_value(value), "{value:?}");
    }
    assert_eq!(
        header_text("application/json; charset=utf-8"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(header_text("a\tb ~"), Some("a\tb ~"));
    assert_eq!(header_text("caf\u{e9}"), None);
    assert_eq!(header_text("\u{fffd}"), None);
    assert_eq!(header_text("a\nb"), None);
}

#[test]
fn a_request_is_sendable_when_its_url_and_header_values_are() {
    assert!(token_request().is_sendable());
    let mut bad_url = token_request();
    bad_url.url = "https://api.example/third parties".to_owned();
    assert!(!bad_url.is_sendable());
    let bad_header = token_request().with_header("authorization", "Bearer a\r\nX-Evil: 1");
    assert!(!bad_header.is_sendable());
}

#[test]
fn test_helpers_read_the_path_and_query() {
    let request = HttpRequest::new(Method::Get, "http://127.0.0.1:9/v3/payments/ORDER1?x=1&y=2");
    assert_eq!(request.path(), "/v3/payments/ORDER1");
    assert_eq!(request.query(), Some("x=1&y=2"));
    assert_eq!(token_request().query(), None);
}

#[test]
fn a_declared_length_is_one_plain_decimal_content_length() {
    let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    };
    let length = |pairs: &[(&str, &str)]| declared_length(&headers(pairs));
    assert_eq!(length(&[("Content-Length", "42")]), Some(42));
    assert_eq!(
        length(&[("content-type", "x"), ("content-length", "0")]),
        Some(0)
    );
    // Nothing to stop at: absent, repeated, signed, padded, not a number,
    // larger than a usize.
    assert_eq!(length(&[]), None);
    assert_eq!(length(&[("transfer-encoding", "chunked")]), None);
    assert_eq!(
        length(&[("content-length", "5"), ("content-length", "5")]),
        None
    );
    assert_eq!(length(&[("content-length", "+5")]), None);
    assert_eq!(length(&[("content-length", " 5")]), None);
    assert_eq!(length(&[("content-length", "")]), None);
    assert_eq!(length(&[("content-length", "five")]), None);
    assert_eq!(
        length(&[("content-length", "99999999999999999999999")]),
        None
    );
}
