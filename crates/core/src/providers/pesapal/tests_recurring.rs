//! Recurring payments: the subscription on SubmitOrderRequest, byte exact;
//! a RECURRING IPN is confirmed by its new tracking id and names the
//! account number; a charge's status (with `subscription_transaction_info`)
//! reads like any other.

use super::*;
use crate::config::Variables;
use crate::connector::{Connector, Incoming, Verification};
use crate::recurring::{Subscription, SubscriptionFrequency};

const TRACKING: &str = "96a5e1d9-f711-4423-82ce-dd758f972713";

fn config() -> PesapalConfig {
    PesapalConfig {
        base_url: "https://cybqa.pesapal.com/pesapalv3".to_owned(),
        consumer_key: ConsumerKey(Secret::new("canary-key")),
        consumer_secret: ConsumerSecret(Secret::new("canary-secret")),
    }
}

fn token() -> AccessToken {
    AccessToken {
        value: Secret::new("tok-123"),
        expires: None,
    }
}

fn recurring_request() -> PaymentRequest {
    let mut request = super::tests::order_request();
    request.subscription = Some(Subscription {
        account_number: "555-678".to_owned(),
        start_date: "24-01-2027".to_owned(),
        end_date: "31-12-2027".to_owned(),
        frequency: SubscriptionFrequency::Monthly,
    });
    request
}

#[test]
fn the_subscription_is_sent_as_documented() {
    let order = validate_order(&recurring_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let sent =
        submit_order_request(&config(), &token(), &order).unwrap_or_else(|e| unreachable!("{e}"));
    let text = String::from_utf8_lossy(&sent.body).into_owned();
    assert!(
        text.ends_with(
            r#""last_name":"Doe"},"account_number":"555-678","subscription_details":{"start_date":"24-01-2027","end_date":"31-12-2027","frequency":"MONTHLY"}}"#
        ),
        "{text}"
    );
    // Without a subscription neither member is sent.
    let plain =
        validate_order(&super::tests::order_request()).unwrap_or_else(|e| unreachable!("{e}"));
    let sent =
        submit_order_request(&config(), &token(), &plain).unwrap_or_else(|e| unreachable!("{e}"));
    let text = String::from_utf8_lossy(&sent.body).into_owned();
    assert!(
        !text.contains("account_number") && !text.contains("subscription"),
        "{text}"
    );
}

#[test]
fn an_invalid_subscription_is_refused_naming_the_field() {
    let mut request = recurring_request();
    if let Some(subscription) = request.subscription.as_mut() {
        subscription.start_date = "2027-01-24".to_owned();
    }
    let field = match validate_order(&request) {
        Err(Error::InvalidRequest { field, .. }) => Some(field),
        _ => None,
    };
    assert_eq!(field.as_deref(), Some("subscription.start_date"));
}

struct NoVariables;

impl Variables for NoVariables {
    fn get(&self, _name: &str) -> std::result::Result<Option<String>, String> {
        Ok(None)
    }
}

#[test]
fn a_recurring_ipn_is_confirmed_by_its_tracking_id_and_names_the_account() {
    let query = format!(
        "OrderTrackingId={TRACKING}&OrderMerchantReference=555-678&OrderNotificationType=RECURRING"
    );
    let incoming = Incoming {
        method: "GET",
        query: Some(&query),
        headers: &[],
        body: b"",
    };
    let (notification, verification) = Pesapal
        .read_notification(&NoVariables, &incoming)
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        verification,
        Verification::ConfirmRecurring {
            id: TRACKING.to_owned(),
            account: "555-678".to_owned(),
        }
    );
    let details = PaymentDetails {
        provider: Provider::Pesapal,
        reference: Some("555-678".to_owned()),
        tracking_id: Some(TRACKING.to_owned()),
        status: PaymentStatus::Completed,
        amount: Some("100.00".to_owned()),
        currency: Some("KES".to_owned()),
        method: Some("Visa".to_owned()),
        confirmation_code: None,
        description: None,
    };
    let ack = Pesapal.acknowledge(&notification, Ok(&details));
    assert_eq!(
        String::from_utf8_lossy(&ack.body),
        format!(
            r#"{{"orderNotificationType":"RECURRING","orderTrackingId":"{TRACKING}","orderMerchantReference":"555-678","status":200}}"#
        )
    );
    // An ordinary IPN is confirmed by its id, naming its reference too.
    let query = format!(
        "OrderTrackingId={TRACKING}&OrderMerchantReference=555-678&OrderNotificationType=IPNCHANGE"
    );
    let incoming = Incoming {
        query: Some(&query),
        ..incoming
    };
    let (_, verification) = Pesapal
        .read_notification(&NoVariables, &incoming)
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        verification,
        Verification::ConfirmWithReference {
            id: TRACKING.to_owned(),
            reference: "555-678".to_owned()
        }
    );
}

#[test]
fn a_charge_status_with_subscription_info_reads_like_any_other() {
    let reply = HttpResponse::new(
        200,
        format!(
            r#"{{"payment_method":"Visa","amount":100,"created_date":"2027-02-24T07:41:09.763","confirmation_code":"6513008693186320103009","order_tracking_id":"{TRACKING}","payment_status_description":"Completed","description":null,"message":"Request processed successfully","payment_account":"476173**0010","call_back_url":"https://x","status_code":1,"merchant_reference":"555-678","payment_status_code":"","currency":"KES","subscription_transaction_info":{{"account_reference":"555-678","amount":100,"first_name":"Jane","last_name":"Doe","correlation_id":111222}},"error":{{"error_type":null,"code":null,"message":null,"call_back_url":null}},"status":"200"}}"#
        )
        .into_bytes(),
    )
    .with_header("content-type", "application/json; charset=utf-8");
    let details = parse_status(&reply).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(details.status, PaymentStatus::Completed);
    assert_eq!(details.tracking_id.as_deref(), Some(TRACKING));
    assert_eq!(details.amount.as_deref(), Some("100.00"));
}
