//! ClickPesa's hosted checkout link, card payment and previews through the
//! built component, against the sandbox: through WIT (`api` and the
//! `client` resource) and through HTTP with the ledger — the link comes
//! back as `redirect_url`, the tester pays on the sandbox's page, the
//! webhook completes the payment; a preview lists methods and fees and
//! starts nothing; ClickPesa's own list of payments, and the ledger's list
//! filtered by status and paged with `after`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::{
    ApiError, MethodStatus, PaymentMethod, PaymentStatus, Provider, ProviderPaymentQuery, SortOrder,
};
use finconnect_sandbox::{Fault, FaultKind, Sandbox, Target};
use serde_json::{Value, json};
use std::net::SocketAddr;

const CHECKOUT: &str = "/third-parties/checkout-link/generate-checkout-url";
const CARD: &str = "/third-parties/payments/initiate-card-payment";
const PREVIEW_USSD: &str = "/third-parties/payments/preview-ussd-push-request";

fn checkout_body(reference: &str) -> Value {
    json!({
        "provider": "clickpesa",
        "reference": reference,
        "amount": "25000",
        "currency": "TZS",
        "method": "checkout_link",
        "description": "Order 42",
    })
}

fn card_body(reference: &str) -> Value {
    json!({
        "provider": "clickpesa",
        "reference": reference,
        "amount": "12.50",
        "currency": "USD",
        "method": "card",
        "customer": {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "+255712345678"},
    })
}

fn sandbox_addr(sandbox: &Sandbox) -> SocketAddr {
    sandbox.addr()
}

/// Opens the sandbox page a link leads to and presses a button on it.
fn press(sandbox: &Sandbox, link: &str, form: &str) -> Reply {
    let path = link
        .strip_prefix(&sandbox.origin())
        .unwrap_or_else(|| panic!("{link} is not a sandbox link"));
    let page = http_over_tcp(sandbox_addr(sandbox), "GET", path, &[], b"");
    assert_eq!(page.status, 200, "{page}");
    http_over_tcp(
        sandbox_addr(sandbox),
        "POST",
        path,
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
}

fn calls_to(sandbox: &Sandbox, path: &str) -> usize {
    sandbox.requests().iter().filter(|r| r.path == path).count()
}

#[test]
fn wit_checkout_link_and_card_return_the_link_as_redirect_url() {
    let (sandbox, host) = start();

    let mut checkout = clickpesa_payment("WCHK1");
    checkout.method = Some(PaymentMethod::CheckoutLink);
    checkout.customer.phone = None;
    let payment = host
        .pay_blocking(Provider::Clickpesa, &checkout)
        .unwrap()
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!(payment.tracking_id, "WCHK1");
    let link = payment.redirect_url.clone().unwrap();
    assert_eq!(
        link,
        format!("{}/_sandbox/ui/clickpesa-hosted/WCHK1", sandbox.origin())
    );
    let sent = sandbox
        .requests()
        .into_iter()
        .find(|r| r.path == CHECKOUT)
        .unwrap();
    assert_eq!(
        sent.json().unwrap(),
        json!({"orderCurrency": "TZS", "orderReference": "WCHK1", "totalPrice": "1000"})
    );
    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {CLICKPESA_TOKEN}"),
            format!("POST {CHECKOUT}")
        ]
    );

    // Paid on the page: the status query says so.
    let paid = press(&sandbox, &link, "outcome=complete&method=M-PESA");
    assert_eq!(paid.status, 200, "{paid}");
    let status = host
        .payment_status_blocking(Provider::Clickpesa, "WCHK1")
        .unwrap()
        .unwrap();
    assert_eq!(status.status, PaymentStatus::Completed);
    assert_eq!(status.method.as_deref(), Some("M-PESA"));

    // The client resource: a card payment in USD.
    let mut card = clickpesa_payment("WCARD1");
    card.method = Some(PaymentMethod::Card);
    card.currency = "USD".to_owned();
    card.amount = "12.50".to_owned();
    card.customer.first_name = Some("Jane".to_owned());
    card.customer.last_name = Some("Doe".to_owned());
    card.customer.email = Some("jane@example.com".to_owned());
    let card_payment = finconnect_host::block_on(async {
        let mut client = host.client(Provider::Clickpesa).await.unwrap();
        let paid = client.pay(&card).await.unwrap();
        client.close().await.unwrap();
        paid
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        card_payment.redirect_url.as_deref(),
        Some(format!("{}/_sandbox/ui/clickpesa-hosted/WCARD1", sandbox.origin()).as_str())
    );
    let sent = sandbox
        .requests()
        .into_iter()
        .find(|r| r.path == CARD)
        .unwrap();
    assert_eq!(
        sent.json().unwrap(),
        json!({"amount": "12.5", "currency": "USD", "orderReference": "WCARD1",
               "customer": {"fullName": "Jane Doe", "email": "jane@example.com", "phoneNumber": "255712345678"}})
    );
    // Declined on its page: failed.
    let declined = press(
        &sandbox,
        card_payment.redirect_url.as_deref().unwrap(),
        "outcome=fail",
    );
    assert_eq!(declined.status, 200, "{declined}");
    let status = host
        .payment_status_blocking(Provider::Clickpesa, "WCARD1")
        .unwrap()
        .unwrap();
    assert_eq!(status.status, PaymentStatus::Failed);
}

#[test]
fn wit_invalid_hosted_payments_name_the_field_and_send_nothing() {
    let (sandbox, host) = start();
    let card = |edit: fn(&mut finconnect_host::PaymentRequest)| {
        let mut request = clickpesa_payment("WBAD1");
        request.method = Some(PaymentMethod::Card);
        request.currency = "USD".to_owned();
        request.customer.first_name = Some("Jane".to_owned());
        request.customer.email = Some("jane@example.com".to_owned());
        edit(&mut request);
        request
    };
    let mut checkout_kes = clickpesa_payment("WBAD2");
    checkout_kes.method = Some(PaymentMethod::CheckoutLink);
    checkout_kes.currency = "KES".to_owned();
    let cases = [
        (card(|r| r.currency = "TZS".to_owned()), "currency"),
        (
            card(|r| r.customer.first_name = None),
            "customer.first_name",
        ),
        (card(|r| r.customer.email = None), "customer.email"),
        (card(|r| r.customer.phone = None), "customer.phone"),
        (checkout_kes, "currency"),
    ];
    for (request, field) in cases {
        match host.pay_blocking(Provider::Clickpesa, &request).unwrap() {
            Err(ApiError::InvalidRequest(error)) => assert_eq!(error.field, field, "{error:?}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

#[test]
fn http_a_checkout_link_paid_on_the_page_completes_through_the_webhook() {
    let (sandbox, host) = start();
    let addr = serve(&host);
    sandbox.set_clickpesa_webhook_url(Some(format!("http://{addr}/notifications/clickpesa")));

    let reply = post(&host, "/payments", &checkout_body("HCHK1"));
    assert_eq!(reply.status, 201, "{reply}");
    let body = reply.json();
    assert_eq!(body["status"], "pending");
    assert_eq!(body["tracking_id"], "HCHK1");
    let link = body["redirect_url"].as_str().unwrap().to_owned();
    assert_eq!(
        sandbox
            .requests()
            .into_iter()
            .find(|r| r.path == CHECKOUT)
            .unwrap()
            .json()
            .unwrap()["description"],
        "Order 42"
    );

    let paid = press(&sandbox, &link, "outcome=complete&method=TIGO-PESA");
    assert_eq!(paid.status, 200, "{paid}");
    assert!(paid.text().contains("HTTP 200"), "{}", paid.text());
    let kinds = kinds(&events(&host, 0));
    assert_eq!(kinds, ["payment.pending HCHK1", "payment.completed HCHK1"]);
    let status = get(&host, "/payments/clickpesa/HCHK1");
    assert_eq!(status.status, 200, "{status}");
    assert_eq!(status.json()["status"], "completed");

    // The same reference again is the stored answer; nothing is sent.
    let before = calls_to(&sandbox, CHECKOUT);
    let again = post(&host, "/payments", &checkout_body("HCHK1"));
    assert_eq!(again.status, 201, "{again}");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(calls_to(&sandbox, CHECKOUT), before);
}

#[test]
fn http_card_payments_and_the_documented_refusals() {
    let (sandbox, host) = start();

    let reply = post(&host, "/payments", &card_body("HCARD1"));
    assert_eq!(reply.status, 201, "{reply}");
    assert_eq!(
        reply.json()["redirect_url"],
        format!("{}/_sandbox/ui/clickpesa-hosted/HCARD1", sandbox.origin())
    );

    // Validation before any call: 422 naming the field.
    sandbox.clear_requests();
    let mut tzs = card_body("HCARD2");
    tzs["currency"] = json!("TZS");
    let mut no_phone = card_body("HCARD2");
    no_phone["customer"]
        .as_object_mut()
        .unwrap()
        .remove("phone");
    let mut bad_checkout_phone = checkout_body("HCHK2");
    bad_checkout_phone["customer"] = json!({"phone": "0712345678"});
    for (body, field) in [
        (tzs, "currency"),
        (no_phone, "customer.phone"),
        (bad_checkout_phone, "customer.phone"),
    ] {
        let reply = post(&host, "/payments", &body);
        assert_eq!(reply.status, 422, "{reply}");
        assert_eq!(reply.problem()["field"], field, "{body}");
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );

    // ClickPesa's own refusals are kept as data: an account without the
    // checkout feature, and a reference already used by another collection.
    sandbox.inject(Fault::once(
        Target::ClickpesaCheckoutLink,
        FaultKind::Status(
            400,
            r#"{"message":"Application has no access to checkout link feature."}"#.into(),
        ),
    ));
    let reply = post(&host, "/payments", &checkout_body("HCHK3"));
    assert_eq!(reply.status, 502, "{reply}");
    let problem = reply.problem();
    assert_eq!(problem["code"], "provider_error");
    assert_eq!(problem["provider_status"], 400);
    assert_eq!(
        problem["provider_message"],
        "Application has no access to checkout link feature."
    );

    // A reference a USSD push already used: through WIT (no ledger in
    // front), ClickPesa's 409 comes back as the provider's refusal.
    let push = post(&host, "/payments", &clickpesa_body("HUSED1"));
    assert_eq!(push.status, 201, "{push}");
    let mut reused = clickpesa_payment("HUSED1");
    reused.method = Some(PaymentMethod::CheckoutLink);
    match host.pay_blocking(Provider::Clickpesa, &reused).unwrap() {
        Err(ApiError::Provider(error)) => {
            assert_eq!(error.http_status, 409, "{error:?}");
            assert!(error.message.contains("already used"), "{error:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wit_preview_lists_methods_and_the_sender_without_starting_a_payment() {
    let (sandbox, host) = start();
    let request = clickpesa_payment("WPRE1");
    let preview = host
        .preview_blocking(Provider::Clickpesa, &request, true)
        .unwrap()
        .unwrap();
    assert_eq!(preview.reference, "WPRE1");
    assert_eq!(preview.methods.len(), 4);
    let mpesa = &preview.methods[0];
    assert_eq!(
        (mpesa.name.as_str(), mpesa.status, mpesa.fee.as_deref()),
        ("M-PESA", MethodStatus::Available, Some("15"))
    );
    assert_eq!(preview.methods[3].status, MethodStatus::Unavailable);
    let sender = preview.sender.unwrap();
    assert_eq!(sender.account_number.as_deref(), Some("255712345678"));
    assert_eq!(sender.account_provider.as_deref(), Some("TIGO-PESA"));
    let sent = sandbox
        .requests()
        .into_iter()
        .find(|r| r.path == PREVIEW_USSD)
        .unwrap();
    assert_eq!(
        sent.json().unwrap(),
        json!({"amount": "1000", "currency": "TZS", "fetchSenderDetails": true,
               "orderReference": "WPRE1", "phoneNumber": "255712345678"})
    );
    assert!(sandbox.clickpesa_payments().is_empty(), "nothing started");
    // The same reference can still be paid.
    host.pay_blocking(Provider::Clickpesa, &request)
        .unwrap()
        .unwrap();

    // The client resource: a card preview in USD (fee in cents, exact).
    let mut card = clickpesa_payment("WPRE2");
    card.method = Some(PaymentMethod::Card);
    card.currency = "USD".to_owned();
    card.amount = "12.50".to_owned();
    let card_preview = finconnect_host::block_on(async {
        let mut client = host.client(Provider::Clickpesa).await.unwrap();
        let preview = client.preview(&card, false).await.unwrap();
        client.close().await.unwrap();
        preview
    })
    .unwrap()
    .unwrap();
    assert_eq!(card_preview.methods.len(), 1);
    assert_eq!(card_preview.methods[0].name, "CARD");
    assert_eq!(card_preview.methods[0].fee.as_deref(), Some("0.44"));
    assert!(card_preview.sender.is_none());

    // Validation names the field, before any call; the others are unsupported.
    sandbox.clear_requests();
    let mut no_phone = clickpesa_payment("WPRE3");
    no_phone.customer.phone = None;
    match host
        .preview_blocking(Provider::Clickpesa, &no_phone, true)
        .unwrap()
    {
        Err(ApiError::InvalidRequest(error)) => assert_eq!(error.field, "customer.phone"),
        other => panic!("{other:?}"),
    }
    for provider in [Provider::Pesapal, Provider::Mpesa] {
        match host.preview_blocking(provider, &request, false).unwrap() {
            Err(ApiError::Unsupported(error)) => {
                assert_eq!(error.operation, "preview");
                assert!(!error.reason.is_empty());
            }
            other => panic!("{provider:?}: {other:?}"),
        }
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

#[test]
fn http_preview_and_the_documented_404() {
    let (sandbox, host) = start();
    let mut body = clickpesa_body("HPRE1");
    body["fetch_sender_details"] = json!(true);
    let reply = post(&host, "/payment-previews", &body);
    assert_eq!(reply.status, 200, "{reply}");
    let out = reply.json();
    assert_eq!(out["provider"], "clickpesa");
    assert_eq!(out["reference"], "HPRE1");
    assert_eq!(
        out["methods"][0],
        json!({"name": "M-PESA", "status": "available", "fee": "15", "message": null})
    );
    assert_eq!(out["sender"]["account_number"], "255712345678");
    assert!(events(&host, 0).is_empty(), "a preview is not recorded");

    sandbox.inject(Fault::once(
        Target::ClickpesaPreview,
        FaultKind::Status(
            404,
            r#"{"message":"Account has no valid payment method"}"#.into(),
        ),
    ));
    let reply = post(&host, "/payment-previews", &clickpesa_body("HPRE2"));
    assert_eq!(reply.status, 502, "{reply}");
    let problem = reply.problem();
    assert_eq!(problem["provider_status"], 404);
    assert_eq!(
        problem["provider_message"],
        "Account has no valid payment method"
    );

    let reply = post(
        &host,
        "/payment-previews",
        &json!({"provider": "pesapal", "reference": "X1", "amount": "10", "currency": "KES"}),
    );
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["code"], "unsupported");
}

#[test]
fn wit_lists_the_providers_payments_with_filters_and_paging() {
    let (sandbox, host) = start();
    for reference in ["WL1", "WL2", "WL3"] {
        host.pay_blocking(Provider::Clickpesa, &clickpesa_payment(reference))
            .unwrap()
            .unwrap();
    }
    sandbox
        .settle_clickpesa("WL2", finconnect_sandbox::Outcome::Completed)
        .unwrap();
    sandbox.clear_requests();
    let query = ProviderPaymentQuery {
        start_date: None,
        end_date: None,
        status: Some("success".to_owned()),
        currency: Some("TZS".to_owned()),
        channel: None,
        reference: None,
        sort_by: None,
        order: Some(SortOrder::Descending),
        skip: Some(0),
        limit: Some(10),
    };
    let page = host
        .list_provider_payments_blocking(Provider::Clickpesa, &query)
        .unwrap()
        .unwrap();
    assert_eq!(page.total_count, 1);
    assert_eq!(page.payments.len(), 1);
    assert_eq!(page.payments[0].reference.as_deref(), Some("WL2"));
    assert_eq!(page.payments[0].status, PaymentStatus::Completed);
    assert_eq!(page.payments[0].amount.as_deref(), Some("1000.00"));
    let sent = sandbox.requests();
    assert_eq!(
        sent.iter()
            .map(|r| format!("{} {}?{}", r.method, r.path, r.query.clone().unwrap_or_default()))
            .collect::<Vec<_>>(),
        [
            format!("POST {CLICKPESA_TOKEN}?"),
            "GET /third-parties/payments/all?status=SUCCESS&collectedCurrency=TZS&orderBy=DESC&skip=0&limit=10"
                .to_owned(),
        ]
    );

    // The client resource, paging by two: the total counts all three.
    let paging = ProviderPaymentQuery {
        status: None,
        currency: None,
        order: Some(SortOrder::Ascending),
        skip: Some(2),
        limit: Some(2),
        ..query.clone()
    };
    let second = finconnect_host::block_on(async {
        let mut client = host.client(Provider::Clickpesa).await.unwrap();
        let page = client.list_provider_payments(&paging).await.unwrap();
        client.close().await.unwrap();
        page
    })
    .unwrap()
    .unwrap();
    assert_eq!(second.total_count, 3);
    assert_eq!(
        second
            .payments
            .iter()
            .map(|p| p.reference.clone().unwrap())
            .collect::<Vec<_>>(),
        ["WL3"]
    );

    // Validation names the field before any call; the others are unsupported.
    sandbox.clear_requests();
    let bad = ProviderPaymentQuery {
        limit: Some(0),
        ..paging.clone()
    };
    match host
        .list_provider_payments_blocking(Provider::Clickpesa, &bad)
        .unwrap()
    {
        Err(ApiError::InvalidRequest(error)) => assert_eq!(error.field, "limit"),
        other => panic!("{other:?}"),
    }
    for provider in [Provider::Pesapal, Provider::Mpesa] {
        match host
            .list_provider_payments_blocking(provider, &paging)
            .unwrap()
        {
            Err(ApiError::Unsupported(error)) => {
                assert_eq!(error.operation, "list-provider-payments");
            }
            other => panic!("{provider:?}: {other:?}"),
        }
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

#[test]
fn http_provider_payments_and_the_ledgers_status_and_after() {
    let (sandbox, host) = start();
    for reference in ["HL1", "HL2", "HL3", "HL4"] {
        let reply = post(&host, "/payments", &clickpesa_body(reference));
        assert_eq!(reply.status, 201, "{reply}");
    }
    sandbox
        .settle_clickpesa("HL3", finconnect_sandbox::Outcome::Completed)
        .unwrap();
    // The ledger learns it from a status query.
    assert_eq!(get(&host, "/payments/clickpesa/HL3").status, 200);

    // ClickPesa's own list.
    let reply = get(
        &host,
        "/provider-payments?provider=clickpesa&status=SUCCESS&limit=5",
    );
    assert_eq!(reply.status, 200, "{reply}");
    let body = reply.json();
    assert_eq!(body["provider"], "clickpesa");
    assert_eq!(body["total_count"], 1);
    assert_eq!(body["data"][0]["reference"], "HL3");
    assert_eq!(body["data"][0]["status"], "completed");
    let reply = get(&host, "/provider-payments?provider=pesapal");
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["code"], "unsupported");
    let reply = get(&host, "/provider-payments?provider=clickpesa&limit=101");
    assert_eq!(reply.status, 422, "{reply}");
    assert_eq!(reply.problem()["field"], "limit");

    // The ledger: status= keeps one state, after= pages newest first.
    let completed = get(&host, "/payments?status=completed").json();
    let refs = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reference"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(refs(&completed), ["HL3"]);
    assert_eq!(completed["next"], Value::Null);
    let first = get(&host, "/payments?provider=clickpesa&status=pending&limit=2").json();
    assert_eq!(refs(&first), ["HL4", "HL2"]);
    let cursor = first["next"].as_str().unwrap().to_owned();
    let second = get(
        &host,
        &format!("/payments?provider=clickpesa&status=pending&limit=2&after={cursor}"),
    )
    .json();
    assert_eq!(refs(&second), ["HL1"]);
    assert_eq!(second["next"], Value::Null);
    for (query, field) in [("status=paid", "status"), ("after=nonsense", "after")] {
        let reply = get(&host, &format!("/payments?{query}"));
        assert_eq!(reply.status, 422, "{reply}");
        assert_eq!(reply.problem()["field"], field);
    }
}
