//! ClickPesa's `GET /payments/all` over real loopback HTTP: `{data,
//! totalCount}`, filters, sorting and paging.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_sandbox::{Outcome, Sandbox, SandboxConfig};
use serde_json::{Value, json};

fn list(sb: &Sandbox, token: &str, query: &str) -> Resp {
    get(
        sb.addr(),
        &format!("/third-parties/payments/all{query}"),
        &[("Authorization", token)],
    )
}

fn references(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["orderReference"].as_str().unwrap())
        .collect()
}

#[test]
fn the_list_filters_sorts_and_pages_with_the_total() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let token = clickpesa_token(&sb);
    for (reference, amount) in [("A1", "300"), ("B2", "100"), ("C3", "200")] {
        let resp = initiate(
            &sb,
            &token,
            &json!({"amount": amount, "currency": "TZS", "orderReference": reference, "phoneNumber": "255712345678"}),
        );
        assert_eq!(resp.status, 200);
    }
    sb.settle_clickpesa("B2", Outcome::Completed).unwrap();

    let all = list(&sb, &token, "").json();
    assert_eq!(all["totalCount"], 3);
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    assert_eq!(all["data"][0]["collectedCurrency"], "TZS");

    let by_amount = list(&sb, &token, "?sortBy=collectedAmount&orderBy=ASC").json();
    assert_eq!(references(&by_amount), ["B2", "C3", "A1"]);
    let paged = list(
        &sb,
        &token,
        "?sortBy=collectedAmount&orderBy=ASC&skip=1&limit=1",
    )
    .json();
    assert_eq!(references(&paged), ["C3"]);
    assert_eq!(paged["totalCount"], 3, "the total counts every match");

    let success = list(&sb, &token, "?status=SUCCESS").json();
    assert_eq!(references(&success), ["B2"]);
    assert_eq!(success["totalCount"], 1);
    let one = list(&sb, &token, "?orderReference=C3&collectedCurrency=TZS").json();
    assert_eq!(references(&one), ["C3"]);
    let none = list(&sb, &token, "?startDate=2999-01-01").json();
    assert_eq!(none, json!({"data": [], "totalCount": 0}));

    for (query, message) in [
        ("?limit=0", "limit must not be less than 1"),
        ("?skip=-1", "skip must not be less than 0"),
        (
            "?orderBy=UP",
            "orderBy must be one of the following values: ASC, DESC",
        ),
        (
            "?startDate=yesterday",
            "startDate and endDate must be valid ISO 8601 date strings",
        ),
    ] {
        let resp = list(&sb, &token, query);
        assert_eq!(resp.status, 400, "{query}");
        assert_eq!(resp.json()["message"], message);
    }
    assert_eq!(list(&sb, "Bearer nope", "").status, 401);
}
