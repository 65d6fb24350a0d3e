//! ClickPesa checkout links and card payment links over real loopback HTTP:
//! the documented refusals, the link to the sandbox page, and the page that
//! settles the payment and sends the webhook.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use common::*;
use finconnect_core::providers::clickpesa::checksum;
use finconnect_sandbox::{
    ClickpesaKind, Fault, FaultKind, PaymentState, Sandbox, SandboxConfig, Target,
};
use serde_json::{Value, json};

const CHECKOUT: &str = "/third-parties/checkout-link/generate-checkout-url";
const CARD: &str = "/third-parties/payments/initiate-card-payment";

fn send(sb: &Sandbox, token: &str, path: &str, body: &Value) -> Resp {
    post_json(sb.addr(), path, &[("Authorization", token)], body)
}

fn card_body(reference: &str) -> Value {
    json!({
        "amount": "12.5",
        "currency": "USD",
        "orderReference": reference,
        "customer": {"fullName": "Jane Doe", "email": "jane@example.com", "phoneNumber": "+255712345678"},
    })
}

#[test]
fn checkout_links_follow_the_documented_rules() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let token = clickpesa_token(&sb);
    let cases = [
        (
            json!({"totalPrice": "100", "orderCurrency": "TZS"}),
            400,
            "Order reference is required",
        ),
        (
            json!({"totalPrice": "100", "orderCurrency": "TZS", "orderReference": "A-1"}),
            400,
            "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank",
        ),
        (
            json!({"totalPrice": "100", "orderCurrency": "KES", "orderReference": "A1"}),
            400,
            "orderCurrency must be one of the following values: TZS, USD",
        ),
        (
            json!({"orderCurrency": "TZS", "orderReference": "A1"}),
            400,
            "Total Price is required",
        ),
        (
            json!({"orderCurrency": "TZS", "orderReference": "A1", "orderItems": [{"name": "Tea", "quantity": 1}]}),
            400,
            "All items must have a price",
        ),
    ];
    for (body, status, message) in cases {
        let resp = send(&sb, &token, CHECKOUT, &body);
        assert_eq!(resp.status, status, "{body}: {}", resp.text());
        assert_eq!(resp.json()["message"], message, "{body}");
    }
    assert!(sb.clickpesa_payments().is_empty());

    let ok = send(
        &sb,
        &token,
        CHECKOUT,
        &json!({"orderCurrency": "TZS", "orderReference": "ORD42", "orderItems": [
            {"name": "Tea", "price": "1500", "quantity": 2},
            {"name": "Bun", "price": "500", "quantity": 1},
        ]}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let link = ok.json()["checkoutLink"].as_str().unwrap().to_owned();
    assert_eq!(
        link,
        format!("{}/_sandbox/ui/clickpesa-hosted/ORD42", sb.origin())
    );
    assert_eq!(ok.json()["clientId"], "sandbox-clickpesa-client");
    let payments = sb.clickpesa_payments();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].amount, "3500", "the items' exact sum");
    assert_eq!(payments[0].kind, ClickpesaKind::CheckoutLink);

    // The reference is used: 409, whichever kind of collection used it.
    let again = send(
        &sb,
        &token,
        CHECKOUT,
        &json!({"totalPrice": "1", "orderCurrency": "USD", "orderReference": "ORD42"}),
    );
    assert_eq!(again.status, 409);
    assert_eq!(send(&sb, &token, CARD, &card_body("ORD42")).status, 409);
    // Without a token: 401.
    assert_eq!(post_json(sb.addr(), CHECKOUT, &[], &json!({})).status, 401);
}

#[test]
fn card_payments_are_usd_with_a_full_customer() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let token = clickpesa_token(&sb);
    let mut tzs = card_body("C1");
    tzs["currency"] = json!("TZS");
    let mut no_email = card_body("C1");
    no_email["customer"]
        .as_object_mut()
        .unwrap()
        .remove("email");
    for (body, message) in [
        (tzs, "currency must be one of the following values: USD"),
        (no_email, "customer.email is required"),
    ] {
        let resp = send(&sb, &token, CARD, &body);
        assert_eq!(resp.status, 400);
        assert_eq!(resp.json()["message"], message);
    }
    let by_id = json!({"amount": "5", "currency": "USD", "orderReference": "C2", "customer": {"id": "CUST1"}});
    assert_eq!(send(&sb, &token, CARD, &by_id).status, 200);
    let ok = send(&sb, &token, CARD, &card_body("C1"));
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(
        ok.json()["cardPaymentLink"],
        format!("{}/_sandbox/ui/clickpesa-hosted/C1", sb.origin())
    );
    // The query reports it, without the USSD-only sender MSISDN.
    let query = get(
        sb.addr(),
        "/third-parties/payments/C1",
        &[("Authorization", &token)],
    )
    .json();
    assert_eq!(query[0]["status"], "PROCESSING");
    assert_eq!(query[0]["collectedCurrency"], "USD");
    assert_eq!(query[0]["channel"], "CARD");
    assert!(query[0].get("paymentPhoneNumber").is_none());
}

#[test]
fn signed_requests_are_checked_when_a_checksum_key_is_set() {
    let sb = Sandbox::start(SandboxConfig {
        clickpesa_checksum_key: Some("secret-key".into()),
        ..SandboxConfig::default()
    })
    .unwrap();
    let token = clickpesa_token(&sb);
    let mut body = json!({"totalPrice": "100", "orderCurrency": "TZS", "orderReference": "S1"});
    assert_eq!(
        send(&sb, &token, CHECKOUT, &body).json()["message"],
        "checksum is required"
    );
    let tree = checksum::Value::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    body["checksum"] = json!(checksum::compute(b"secret-key", &tree).unwrap());
    assert_eq!(send(&sb, &token, CHECKOUT, &body).status, 200);
}

#[test]
fn account_level_refusals_are_faults_on_the_new_targets() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let token = clickpesa_token(&sb);
    sb.inject(Fault::once(
        Target::ClickpesaCheckoutLink,
        FaultKind::Status(
            404,
            r#"{"message":"Checkout is not available for this merchant"}"#.into(),
        ),
    ));
    let resp = send(
        &sb,
        &token,
        CHECKOUT,
        &json!({"totalPrice": "100", "orderCurrency": "TZS", "orderReference": "F1"}),
    );
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json()["message"],
        "Checkout is not available for this merchant"
    );
    assert_eq!(
        Target::from_name("clickpesa_card_payment"),
        Some(Target::ClickpesaCardPayment)
    );
}

#[test]
fn the_page_settles_the_payment_and_sends_the_webhook() {
    let receiver = Receiver::ok();
    let sb = Sandbox::start(SandboxConfig {
        clickpesa_webhook_url: Some(receiver.url("/notifications/clickpesa")),
        ..SandboxConfig::default()
    })
    .unwrap();
    let token = clickpesa_token(&sb);
    let link = send(
        &sb,
        &token,
        CHECKOUT,
        &json!({"totalPrice": "25000", "orderCurrency": "TZS", "orderReference": "PAGE2"}),
    )
    .json()["checkoutLink"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = link.strip_prefix(&sb.origin()).unwrap();
    let page = get(sb.addr(), path, &[]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("PAGE2"));
    assert!(page.text().contains("25,000"));
    assert!(page.text().contains("value=\"AIRTEL-MONEY\""));
    let paid = request(
        sb.addr(),
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("outcome=complete&method=AIRTEL-MONEY"),
    );
    assert_eq!(paid.status, 200, "{}", paid.text());
    assert!(paid.text().contains("Payment received."));
    let hook = receiver.next().json();
    assert_eq!(hook["event"], "PAYMENT RECEIVED");
    assert_eq!(hook["data"]["orderReference"], "PAGE2");
    assert_eq!(hook["data"]["channel"], "AIRTEL-MONEY");
    assert_eq!(sb.clickpesa_payments()[0].state, PaymentState::Completed);
    // A USSD push has no such page.
    initiate(
        &sb,
        &token,
        &json!({"amount": "1000", "currency": "TZS", "orderReference": "U1", "phoneNumber": "255712345678"}),
    );
    assert_eq!(
        get(sb.addr(), "/_sandbox/ui/clickpesa-hosted/U1", &[]).status,
        404
    );

    // A card link declined on its page: PAYMENT FAILED.
    let link = send(&sb, &token, CARD, &card_body("PAGE3")).json()["cardPaymentLink"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = link.strip_prefix(&sb.origin()).unwrap();
    let declined = request(sb.addr(), "POST", path, &[], Some("outcome=fail"));
    assert_eq!(declined.status, 200);
    assert_eq!(receiver.next().json()["event"], "PAYMENT FAILED");
}
