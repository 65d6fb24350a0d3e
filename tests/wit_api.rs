//! Issue 3 through the WIT exports (`finconnect:payments/api`): the built
//! component in the wasmtime host against the provider sandbox on loopback.
//! Pay and register-ipn for both providers, the token step before every API
//! call, each failure as its typed `error` case (never a trap), the next
//! call working on the same host after each failure, the `client` resource,
//! the spin-variables build, and invalid requests refused before anything
//! is sent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_host::{
    ApiError, Host, NotificationType, PaymentMethod, PaymentRequest, PaymentStatus, Provider,
};
use finconnect_sandbox::{Fault, FaultKind, Outcome, Sandbox, SandboxConfig, Target};

/// Checks the sandbox's log: every API call comes right after a token call
/// to the same provider; PesaPal calls carry `Bearer <jwt>`, ClickPesa calls
/// the token exactly as ClickPesa issues it (one `Bearer ` prefix, not two).
/// Returns the tokens the API calls carried, in order.
fn assert_token_precedes_every_api_call(sandbox: &Sandbox) -> Vec<String> {
    let requests = sandbox.requests();
    assert!(!requests.is_empty(), "the sandbox saw nothing");
    let mut tokens = Vec::new();
    for (index, request) in requests.iter().enumerate() {
        if is_token_call(request) {
            assert_eq!(request.header("authorization"), None, "{request:?}");
            continue;
        }
        let previous = index
            .checked_sub(1)
            .map(|i| &requests[i])
            .unwrap_or_else(|| panic!("{} came first, without a token call", request.path));
        let pesapal = request.path.starts_with("/pesapalv3/");
        let expected_token_path = if pesapal {
            PESAPAL_TOKEN
        } else {
            CLICKPESA_TOKEN
        };
        assert_eq!(
            previous.path,
            expected_token_path,
            "{} {} was not preceded by its token call: {:?}",
            request.method,
            request.path,
            provider_calls(sandbox)
        );
        let authorization = request
            .header("authorization")
            .unwrap_or_else(|| panic!("{} without Authorization", request.path));
        let jwt = authorization
            .strip_prefix("Bearer ")
            .unwrap_or_else(|| panic!("{authorization:?} is not `Bearer <token>`"));
        assert!(
            !jwt.contains("Bearer") && !jwt.contains(' '),
            "a doubled or malformed prefix: {authorization:?}"
        );
        assert_eq!(
            jwt.split('.').count(),
            3,
            "not the JWT the sandbox issues: {authorization:?}"
        );
        tokens.push(authorization.to_owned());
    }
    tokens
}

#[test]
fn pesapal_register_ipn_pay_and_status_through_the_wit_exports() {
    let (sandbox, host) = start();
    let url = unused_ipn_url();
    let ipn = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &ipn_request(&url, NotificationType::Post),
        )
        .unwrap()
        .expect("PesaPal registered the IPN");
    assert_eq!(ipn.provider, Provider::Pesapal);
    assert_eq!(ipn.url, url);
    assert_eq!(ipn.notification_type, NotificationType::Post);
    let registered = sandbox.pesapal_ipns();
    assert_eq!(registered.len(), 1);
    assert_eq!(ipn.ipn_id, registered[0].ipn_id);

    let payment = host
        .pay_blocking(Provider::Pesapal, &pesapal_payment("WIT-PP-1", &ipn.ipn_id))
        .unwrap()
        .expect("PesaPal accepted the order");
    let orders = sandbox.pesapal_orders();
    let [order] = orders.as_slice() else {
        panic!("expected one order, got {orders:?}")
    };
    assert_eq!(payment.provider, Provider::Pesapal);
    assert_eq!(payment.reference, "WIT-PP-1");
    assert_eq!(payment.tracking_id, order.order_tracking_id);
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!(order.amount, "1500.00");
    assert_eq!(order.notification_id, ipn.ipn_id);
    assert!(
        payment.redirect_url.as_deref().is_some_and(
            |u| u.starts_with(&sandbox.origin()) && u.contains(&order.order_tracking_id)
        ),
        "{payment:?}"
    );

    let pending = host
        .payment_status_blocking(Provider::Pesapal, &payment.tracking_id)
        .unwrap()
        .unwrap();
    assert_eq!(pending.status, PaymentStatus::Pending);
    sandbox
        .settle_pesapal(&payment.tracking_id, Outcome::Completed)
        .unwrap();
    let completed = host
        .payment_status_blocking(Provider::Pesapal, &payment.tracking_id)
        .unwrap()
        .unwrap();
    assert_eq!(completed.status, PaymentStatus::Completed);
    assert_eq!(completed.amount.as_deref(), Some("1500.00"));
    assert_eq!(completed.currency.as_deref(), Some("KES"));
    assert_eq!(completed.reference.as_deref(), Some("WIT-PP-1"));
    assert!(completed.method.is_some(), "{completed:?}");

    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {PESAPAL_TOKEN}"),
            format!("POST {PESAPAL_REGISTER_IPN}"),
            format!("POST {PESAPAL_TOKEN}"),
            format!("POST {PESAPAL_SUBMIT}"),
            format!("POST {PESAPAL_TOKEN}"),
            format!("GET {PESAPAL_STATUS}"),
            format!("POST {PESAPAL_TOKEN}"),
            format!("GET {PESAPAL_STATUS}"),
        ]
    );
    let tokens = assert_token_precedes_every_api_call(&sandbox);
    let distinct: std::collections::BTreeSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), tokens.len(), "a fresh token for every call");
}

#[test]
fn clickpesa_pay_and_status_through_the_wit_exports_send_the_token_verbatim() {
    let (sandbox, host) = start();
    let payment = host
        .pay_blocking(Provider::Clickpesa, &clickpesa_payment("WITCP1"))
        .unwrap()
        .expect("ClickPesa accepted the push");
    let payments = sandbox.clickpesa_payments();
    let [stored] = payments.as_slice() else {
        panic!("expected one payment, got {payments:?}")
    };
    assert_eq!(payment.provider, Provider::Clickpesa);
    assert_eq!(payment.reference, "WITCP1");
    assert_eq!(payment.tracking_id, stored.id);
    assert_eq!(payment.redirect_url, None, "USSD push has no page");
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!(stored.amount, "1000");
    assert_eq!(stored.phone_number, "255712345678");

    sandbox
        .settle_clickpesa("WITCP1", Outcome::Completed)
        .unwrap();
    let details = host
        .payment_status_blocking(Provider::Clickpesa, "WITCP1")
        .unwrap()
        .unwrap();
    assert_eq!(details.status, PaymentStatus::Completed);
    assert_eq!(details.reference.as_deref(), Some("WITCP1"));
    assert_eq!(details.amount.as_deref(), Some("1000.00"));

    assert_eq!(
        provider_calls(&sandbox),
        [
            format!("POST {CLICKPESA_TOKEN}"),
            format!("POST {CLICKPESA_PUSH}"),
            format!("POST {CLICKPESA_TOKEN}"),
            "GET /third-parties/payments/WITCP1".to_owned(),
        ]
    );
    // The sandbox accepts a ClickPesa call only when `Authorization` is the
    // issued string exactly (`Bearer <jwt>`), so the successes above already
    // show it went out verbatim; here: one prefix, never `Bearer Bearer`.
    let tokens = assert_token_precedes_every_api_call(&sandbox);
    for token in &tokens {
        assert_eq!(token.matches("Bearer").count(), 1, "{token:?}");
    }
    // The token step carries the credentials in headers, nothing in Authorization.
    let token_call = &sandbox.requests()[0];
    let config = sandbox.config();
    assert_eq!(
        token_call.header("client-id"),
        Some(config.clickpesa_client_id.as_str())
    );
    assert_eq!(
        token_call.header("api-key"),
        Some(config.clickpesa_api_key.as_str())
    );
}

#[test]
fn clickpesa_register_ipn_is_unsupported_and_points_at_the_dashboard() {
    let (sandbox, host) = start();
    let result = host
        .register_ipn_blocking(
            Provider::Clickpesa,
            &ipn_request(&unused_ipn_url(), NotificationType::Get),
        )
        .unwrap();
    match result {
        Err(ApiError::Unsupported(error)) => {
            assert_eq!(error.provider, Provider::Clickpesa);
            assert_eq!(error.operation, "register-ipn");
            assert!(error.reason.contains("dashboard"), "{error:?}");
        }
        other => panic!("expected unsupported, got {other:?}"),
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

#[test]
fn wrong_credentials_are_an_authentication_error_and_the_host_keeps_working() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();

    // PesaPal refuses the secret; ClickPesa's credentials are right.
    let host = build(builder(&sandbox).app_variable("pesapal_consumer_secret", "not-the-secret"));
    let result = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &ipn_request(&unused_ipn_url(), NotificationType::Get),
        )
        .unwrap();
    match &result {
        Err(ApiError::Authentication(error)) => {
            assert_eq!(error.provider, Provider::Pesapal);
            assert!(!error.message.contains("not-the-secret"), "{error:?}");
        }
        other => panic!("expected authentication, got {other:?}"),
    }
    assert_eq!(
        provider_calls(&sandbox),
        [format!("POST {PESAPAL_TOKEN}")],
        "a refused token step never reaches the API call"
    );
    sandbox.clear_requests();
    host.pay_blocking(Provider::Clickpesa, &clickpesa_payment("AUTHOK1"))
        .unwrap()
        .expect("the next call works on the same host");

    // ClickPesa refuses the API key; PesaPal's credentials are right.
    let host = build(builder(&sandbox).app_variable("clickpesa_api_key", "not-the-api-key"));
    sandbox.clear_requests();
    let result = host
        .pay_blocking(Provider::Clickpesa, &clickpesa_payment("AUTHNO1"))
        .unwrap();
    match &result {
        Err(ApiError::Authentication(error)) => {
            assert_eq!(error.provider, Provider::Clickpesa);
            assert!(!error.message.contains("not-the-api-key"), "{error:?}");
        }
        other => panic!("expected authentication, got {other:?}"),
    }
    assert_eq!(
        provider_calls(&sandbox),
        [format!("POST {CLICKPESA_TOKEN}")]
    );
    assert!(
        sandbox
            .clickpesa_payments()
            .iter()
            .all(|p| p.order_reference != "AUTHNO1")
    );
    host.register_ipn_blocking(
        Provider::Pesapal,
        &ipn_request(&unused_ipn_url(), NotificationType::Get),
    )
    .unwrap()
    .expect("the next call works on the same host");
}

#[test]
fn a_missing_or_malformed_variable_is_a_configuration_error_naming_it_not_its_value() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let config = sandbox.config();

    let host = build(builder(&sandbox).unset_component_variable("pesapal_consumer_secret"));
    let result = host
        .pay_blocking(Provider::Pesapal, &pesapal_payment("CFG-1", SOME_GUID))
        .unwrap();
    match &result {
        Err(ApiError::Configuration(error)) => {
            assert_eq!(error.variable, "pesapal_consumer_secret");
            assert!(
                !error.reason.contains(&config.pesapal_consumer_key),
                "the error shows another credential: {error:?}"
            );
        }
        other => panic!("expected configuration, got {other:?}"),
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
    host.pay_blocking(Provider::Clickpesa, &clickpesa_payment("CFGOK1"))
        .unwrap()
        .expect("the next call works on the same host");

    sandbox.clear_requests();
    let host = build(builder(&sandbox).unset_component_variable("clickpesa_client_id"));
    match host
        .pay_blocking(Provider::Clickpesa, &clickpesa_payment("CFGNO2"))
        .unwrap()
    {
        Err(ApiError::Configuration(error)) => {
            assert_eq!(error.variable, "clickpesa_client_id");
            assert!(
                !error.reason.contains(&config.clickpesa_api_key),
                "{error:?}"
            );
        }
        other => panic!("expected configuration, got {other:?}"),
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );

    // A malformed value is named, never shown.
    let host = build(
        builder(&sandbox).component_variable("finconnect_first_byte_timeout_ms", Some("soon-7c1e")),
    );
    match host
        .pay_blocking(Provider::Clickpesa, &clickpesa_payment("CFGNO3"))
        .unwrap()
    {
        Err(ApiError::Configuration(error)) => {
            assert_eq!(error.variable, "finconnect_first_byte_timeout_ms");
            assert!(!error.reason.contains("soon-7c1e"), "{error:?}");
        }
        other => panic!("expected configuration, got {other:?}"),
    }
    assert!(
        sandbox.requests().is_empty(),
        "{:?}",
        provider_calls(&sandbox)
    );
}

#[test]
fn a_provider_that_is_down_is_a_transport_error_and_the_next_call_works_once_it_is_back() {
    let config = SandboxConfig::default();
    let sandbox = Sandbox::start(config.clone()).unwrap();
    let addr = sandbox.addr();
    let host = build(builder(&sandbox));
    drop(sandbox); // the port is closed now: connections are refused

    let refused = [
        (
            Provider::Pesapal,
            host.register_ipn_blocking(
                Provider::Pesapal,
                &ipn_request(&unused_ipn_url(), NotificationType::Get),
            )
            .map(|result| result.map(drop)),
        ),
        (
            Provider::Clickpesa,
            host.pay_blocking(Provider::Clickpesa, &clickpesa_payment("DOWN1"))
                .map(|result| result.map(drop)),
        ),
    ];
    for (provider, result) in refused {
        let result = result.expect("a refused connection is an error value, not a trap");
        match result {
            Err(ApiError::Transport(error)) => {
                assert_eq!(error.provider, provider);
                assert!(error.message.contains("refused"), "{provider:?}: {error:?}");
            }
            other => panic!("{provider:?}: expected transport, got {other:?}"),
        }
    }

    let sandbox = Sandbox::start_on(addr, config).expect("the same port again");
    host.register_ipn_blocking(
        Provider::Pesapal,
        &ipn_request(&unused_ipn_url(), NotificationType::Get),
    )
    .unwrap()
    .expect("PesaPal works again on the same host");
    host.pay_blocking(Provider::Clickpesa, &clickpesa_payment("DOWN1"))
        .unwrap()
        .expect("ClickPesa works again on the same host");
    assert_eq!(sandbox.clickpesa_payments().len(), 1);
}

#[test]
fn a_provider_5xx_html_page_is_a_typed_provider_error_and_the_next_call_works() {
    let (sandbox, host) = start();
    let ipn = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &ipn_request(&unused_ipn_url(), NotificationType::Get),
        )
        .unwrap()
        .unwrap();

    let cases: [(Target, Provider, PaymentRequest); 4] = [
        (
            Target::PesapalToken,
            Provider::Pesapal,
            pesapal_payment("HTML-1", &ipn.ipn_id),
        ),
        (
            Target::PesapalSubmitOrder,
            Provider::Pesapal,
            pesapal_payment("HTML-2", &ipn.ipn_id),
        ),
        (
            Target::ClickpesaToken,
            Provider::Clickpesa,
            clickpesa_payment("HTML3"),
        ),
        (
            Target::ClickpesaUssdPush,
            Provider::Clickpesa,
            clickpesa_payment("HTML4"),
        ),
    ];
    for (target, provider, request) in cases {
        sandbox.inject(Fault::once(target, FaultKind::Html500));
        let result = host
            .pay_blocking(provider, &request)
            .unwrap_or_else(|err| panic!("{target:?}: the host failed (trap?): {err:#}"));
        match result {
            Err(ApiError::UnreadableReply(error)) => {
                assert_eq!(error.provider, provider, "{target:?}");
                assert_eq!(error.http_status, 500, "{target:?}");
                assert!(!error.detail.contains("<html"), "{error:?}");
            }
            other => panic!("{target:?}: expected an unreadable reply, got {other:?}"),
        }
        assert!(sandbox.faults().is_empty(), "the fault was used");
        let again = host
            .pay_blocking(provider, &request)
            .unwrap()
            .unwrap_or_else(|err| panic!("{target:?}: the next call failed: {err:?}"));
        assert_eq!(again.reference, request.reference);
    }
}

#[test]
fn the_client_resource_pays_with_each_provider() {
    let (sandbox, host) = start();
    finconnect_host::block_on(async {
        let mut pesapal = host.client(Provider::Pesapal).await.unwrap();
        let ipn = pesapal
            .register_ipn(&ipn_request(&unused_ipn_url(), NotificationType::Get))
            .await
            .unwrap()
            .unwrap();
        let payment = pesapal
            .pay(&pesapal_payment("CLIENT-PP-1", &ipn.ipn_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(payment.provider, Provider::Pesapal);
        assert_eq!(payment.status, PaymentStatus::Pending);
        let details = pesapal
            .payment_status(&payment.tracking_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(details.reference.as_deref(), Some("CLIENT-PP-1"));
        pesapal.close().await.unwrap();

        let mut clickpesa = host.client(Provider::Clickpesa).await.unwrap();
        let payment = clickpesa
            .pay(&clickpesa_payment("CLIENTCP1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(payment.provider, Provider::Clickpesa);
        assert_eq!(payment.reference, "CLIENTCP1");
        let refused = clickpesa
            .register_ipn(&ipn_request(&unused_ipn_url(), NotificationType::Get))
            .await
            .unwrap();
        assert!(
            matches!(&refused, Err(ApiError::Unsupported(e)) if e.reason.contains("dashboard")),
            "{refused:?}"
        );
        // An invalid request through the resource is refused like through the functions.
        let invalid = clickpesa
            .pay(&clickpesa_payment("CLIENT-CP-2"))
            .await
            .unwrap();
        assert!(
            matches!(&invalid, Err(ApiError::InvalidRequest(e)) if e.field == "reference"),
            "{invalid:?}"
        );
        clickpesa.close().await.unwrap();
    })
    .unwrap();
    assert_eq!(sandbox.pesapal_orders().len(), 1);
    assert_eq!(sandbox.clickpesa_payments().len(), 1);
    assert_token_precedes_every_api_call(&sandbox);
}

#[test]
fn the_spin_variables_build_pays_with_each_provider() {
    let Some(wasm) = spin_variables_wasm() else {
        eprintln!(
            "skipped: no spin-variables build (`cargo xtask build --spin-variables`, or \
             FINCONNECT_WASM_SPIN_VARIABLES)"
        );
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let host = build(builder_for(&wasm, &sandbox, &sandbox.config()));
    let ty = host.component().component_type();
    let imports: Vec<&str> = ty.imports(host.engine()).map(|(name, _)| name).collect();
    assert!(
        imports.contains(&"fermyon:spin/variables@2.0.0"),
        "{imports:?}"
    );
    assert!(
        !imports.iter().any(|name| name.starts_with("wasi:config/")),
        "{imports:?}"
    );

    let ipn = host
        .register_ipn_blocking(
            Provider::Pesapal,
            &ipn_request(&unused_ipn_url(), NotificationType::Get),
        )
        .unwrap()
        .unwrap();
    let payment = host
        .pay_blocking(
            Provider::Pesapal,
            &pesapal_payment("SPINVAR-PP-1", &ipn.ipn_id),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        payment.tracking_id,
        sandbox.pesapal_orders()[0].order_tracking_id
    );
    let payment = host
        .pay_blocking(Provider::Clickpesa, &clickpesa_payment("SPINVARCP1"))
        .unwrap()
        .unwrap();
    assert_eq!(payment.tracking_id, sandbox.clickpesa_payments()[0].id);
    assert_token_precedes_every_api_call(&sandbox);

    // Spin's interface reports a missing variable as `configuration`, named.
    let host = build(
        builder_for(&wasm, &sandbox, &sandbox.config())
            .unset_component_variable("clickpesa_api_key"),
    );
    match host
        .pay_blocking(Provider::Clickpesa, &clickpesa_payment("SPINVARCP2"))
        .unwrap()
    {
        Err(ApiError::Configuration(error)) => {
            assert_eq!(error.variable, "clickpesa_api_key");
        }
        other => panic!("expected configuration, got {other:?}"),
    }
}

/// A smaller bad-input table through `api.pay`: each is `invalid-request`
/// naming the field (or `unsupported`), and the sandbox sees nothing.
#[test]
fn invalid_payment_requests_through_wit_name_the_field_and_send_nothing() {
    let (sandbox, host) = start();
    type Edit = fn(&mut PaymentRequest);
    let pesapal: [(&str, Edit); 14] = [
        ("amount", |r| r.amount = "0".into()),
        ("amount", |r| r.amount = "-5.00".into()),
        ("amount", |r| r.amount = "NaN".into()),
        ("amount", |r| r.amount = "1e3".into()),
        ("amount", |r| r.amount = "10.005".into()),
        ("amount", |r| r.amount = "99999999999999999999".into()),
        ("currency", |r| r.currency = "kes".into()),
        ("reference", |r| r.reference = "x".repeat(51)),
        ("reference", |r| r.reference = String::new()),
        ("reference", |r| r.reference = "ORDER 1".into()),
        ("callback_url", |r| {
            r.callback_url = Some("javascript:alert(1)".into());
        }),
        ("notification_id", |r| r.notification_id = None),
        ("customer.email", |r| r.customer.email = Some("jane".into())),
        ("customer.phone", |r| {
            r.customer.phone = Some("12345".into())
        }),
    ];
    for (field, edit) in pesapal {
        let mut request = pesapal_payment("WIT-BAD-1", SOME_GUID);
        edit(&mut request);
        let result = host.pay_blocking(Provider::Pesapal, &request).unwrap();
        match result {
            Err(ApiError::InvalidRequest(error)) => {
                assert_eq!(error.field, field, "{error:?}");
                assert!(!error.reason.is_empty(), "{error:?}");
            }
            other => panic!("{field}: expected invalid-request, got {other:?}"),
        }
    }
    let clickpesa: [(&str, Edit); 5] = [
        ("reference", |r| r.reference = "ORDER-1".into()),
        ("currency", |r| r.currency = "KES".into()),
        ("customer.phone", |r| {
            r.customer.phone = Some("+255712345678".into());
        }),
        ("customer.phone", |r| r.customer.phone = None),
        ("amount", |r| r.amount = "1000.001".into()),
    ];
    for (field, edit) in clickpesa {
        let mut request = clickpesa_payment("WITBAD2");
        edit(&mut request);
        match host.pay_blocking(Provider::Clickpesa, &request).unwrap() {
            Err(ApiError::InvalidRequest(error)) => {
                assert_eq!(error.field, field, "{error:?}");
                assert!(!error.reason.is_empty(), "{error:?}");
            }
            other => panic!("{field}: expected invalid-request, got {other:?}"),
        }
    }
    let mut card = clickpesa_payment("WITBAD3");
    card.method = Some(PaymentMethod::Card);
    assert!(
        matches!(
            host.pay_blocking(Provider::Clickpesa, &card).unwrap(),
            Err(ApiError::InvalidRequest(e)) if e.field == "currency"
        ),
        "a ClickPesa card payment is in USD"
    );
    for id in ["", "../../etc/passwd", "a b"] {
        let result = host.payment_status_blocking(Provider::Pesapal, id).unwrap();
        assert!(
            matches!(&result, Err(ApiError::InvalidRequest(e)) if e.field == "id"),
            "{id:?}: {result:?}"
        );
    }
    assert!(
        sandbox.requests().is_empty(),
        "invalid requests reached the provider: {:?}",
        provider_calls(&sandbox)
    );
    // The host is still usable.
    host.pay_blocking(Provider::Clickpesa, &clickpesa_payment("WITOK1"))
        .unwrap()
        .unwrap();
}

#[test]
fn every_failure_leaves_the_shared_host_usable() {
    // One host, one sandbox: a run of failures of each kind, each followed by a success.
    let (sandbox, host) = start();
    let ok = |host: &Host, reference: &str| {
        host.pay_blocking(Provider::Clickpesa, &clickpesa_payment(reference))
            .unwrap()
            .unwrap_or_else(|err| panic!("after a failure, {reference} failed: {err:?}"));
    };
    for (n, kind) in [
        FaultKind::Html500,
        FaultKind::TruncatedJson,
        FaultKind::ErrorWith200,
        FaultKind::WrongToken,
        FaultKind::ResetMidBody,
        FaultKind::Status(503, "Service Unavailable".to_owned()),
    ]
    .into_iter()
    .enumerate()
    {
        sandbox.inject(Fault::once(Target::ClickpesaUssdPush, kind.clone()));
        let result = host
            .pay_blocking(Provider::Clickpesa, &clickpesa_payment(&format!("FAIL{n}")))
            .unwrap_or_else(|err| panic!("{kind:?}: the host failed (trap?): {err:#}"));
        assert!(result.is_err(), "{kind:?}: {result:?}");
        ok(&host, &format!("OK{n}"));
    }
}
