//! The flow of a RECURRING IPN: the gate is asked about the charge's own
//! id first, then about the account number; a known account admits the
//! charge, which is always verified by a status query for its own id
//! (never answered from the first payment's record), and is marked
//! `recurring` so the ledger records it apart. An ordinary IPN whose id is
//! unknown is asked about by its merchant reference only as a payment
//! without a provider id.

use super::*;
use crate::domain::PaymentStatus;
use crate::transport::scripted::Scripted;
use std::collections::BTreeMap;

const CHARGE: &str = "96a5e1d9-f711-4423-82ce-dd758f972713";
const PP_TOKEN: &str = r#"{"token":"canary-token","expiryDate":"2030-01-01T00:00:00.0000000Z","error":null,"status":"200"}"#;
const PAID: &str = r#"{"payment_method":"Visa","amount":1500,"confirmation_code":"CONF1","order_tracking_id":"96a5e1d9-f711-4423-82ce-dd758f972713","status_code":1,"merchant_reference":"ACC-1","currency":"KES","error":{"error_type":null,"code":null,"message":null},"status":"200"}"#;

fn vars() -> BTreeMap<String, String> {
    [
        ("pesapal_base_url", "http://127.0.0.1:9/pesapalv3"),
        ("pesapal_consumer_key", "canary-pp-key"),
        ("pesapal_consumer_secret", "canary-pp-secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn query(kind: &str) -> String {
    format!("OrderTrackingId={CHARGE}&OrderMerchantReference=ACC-1&OrderNotificationType={kind}")
}

fn incoming(query: &str) -> Incoming<'_> {
    Incoming {
        method: "GET",
        query: Some(query),
        headers: &[],
        body: b"",
    }
}

/// Runs the notification with a gate that answers `first` for the charge's
/// id, `account` for any other id (the account number) and `untracked` for
/// a merchant reference asked about as a payment without a provider id;
/// what the gate was asked (the untracked lookups marked so).
fn run(
    kind: &str,
    first: Gate,
    account: Gate,
    untracked: Gate,
    transport: &mut Scripted,
) -> (
    std::result::Result<Notified, NotificationError>,
    Vec<String>,
) {
    let vars = vars();
    let query = query(kind);
    let mut asked = Vec::new();
    let mut gate = |lookup: Lookup<'_>| match lookup {
        Lookup::Id(id) => {
            asked.push(id.to_owned());
            if id == CHARGE {
                first.clone()
            } else {
                account.clone()
            }
        }
        Lookup::Untracked(reference) => {
            asked.push(format!("untracked {reference}"));
            untracked.clone()
        }
    };
    let notified = Finconnect::new(&vars, transport).notification_gated(
        Provider::Pesapal,
        &incoming(&query),
        &mut gate,
    );
    (notified, asked)
}

#[test]
fn a_new_charge_of_a_known_schedule_is_verified_by_its_own_id() {
    let mut transport = Scripted::new(vec![Ok((200, PP_TOKEN)), Ok((200, PAID))]);
    // The first payment is settled: the gate would answer it from the
    // ledger, but the charge is asked about all the same.
    let settled = PaymentDetails {
        provider: Provider::Pesapal,
        reference: Some("SUB-1".into()),
        tracking_id: Some("someone-else".into()),
        status: PaymentStatus::Completed,
        amount: Some("9.00".into()),
        currency: Some("KES".into()),
        method: None,
        confirmation_code: None,
        description: None,
    };
    let (notified, asked) = run(
        "RECURRING",
        Gate::Refuse,
        Gate::Answer(settled),
        Gate::Refuse,
        &mut transport,
    );
    assert_eq!(asked, [CHARGE, "ACC-1"]);
    let notified = notified.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(notified.recurring.as_deref(), Some("ACC-1"));
    let details = notified.outcome.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(details.tracking_id.as_deref(), Some(CHARGE));
    assert_eq!(details.amount.as_deref(), Some("1500.00"));
    assert_eq!(
        transport.paths(),
        [
            "POST /pesapalv3/api/Auth/RequestToken",
            "GET /pesapalv3/api/Transactions/GetTransactionStatus",
        ]
    );
    assert!(String::from_utf8_lossy(&notified.response.body).contains(r#""status":200"#));
}

#[test]
fn an_unknown_schedule_is_refused_without_a_call() {
    let mut transport = Scripted::new(vec![]);
    let (notified, asked) = run(
        "RECURRING",
        Gate::Refuse,
        Gate::Refuse,
        Gate::Verify,
        &mut transport,
    );
    assert_eq!(asked, [CHARGE, "ACC-1"]);
    let notified = notified.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(notified.outcome.is_err());
    assert_eq!(notified.recurring, None);
    assert!(transport.paths().is_empty());
    assert!(String::from_utf8_lossy(&notified.response.body).contains(r#""status":500"#));
}

#[test]
fn a_charge_already_recorded_goes_by_its_own_id() {
    let mut transport = Scripted::new(vec![Ok((200, PP_TOKEN)), Ok((200, PAID))]);
    let (notified, asked) = run(
        "RECURRING",
        Gate::Verify,
        Gate::Refuse,
        Gate::Verify,
        &mut transport,
    );
    assert_eq!(asked, [CHARGE]);
    let notified = notified.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(notified.recurring, None);
    assert!(notified.outcome.is_ok());
}

#[test]
fn an_ordinary_ipn_never_asks_about_its_reference_as_an_account() {
    let mut transport = Scripted::new(vec![]);
    let (notified, asked) = run(
        "IPNCHANGE",
        Gate::Refuse,
        Gate::Verify,
        Gate::Refuse,
        &mut transport,
    );
    // The reference is asked about only as a payment without a provider id.
    assert_eq!(asked, [CHARGE, "untracked ACC-1"]);
    let notified = notified.unwrap_or_else(|e| unreachable!("{e}"));
    assert!(notified.outcome.is_err());
    assert_eq!(notified.recurring, None);
    assert!(transport.paths().is_empty());
    assert!(String::from_utf8_lossy(&notified.response.body).contains(r#""status":500"#));
}

#[test]
fn an_unknown_id_whose_reference_lacks_its_provider_id_is_asked_about() {
    let mut transport = Scripted::new(vec![Ok((200, PP_TOKEN)), Ok((200, PAID))]);
    let (notified, asked) = run(
        "IPNCHANGE",
        Gate::Refuse,
        Gate::Refuse,
        Gate::Verify,
        &mut transport,
    );
    assert_eq!(asked, [CHARGE, "untracked ACC-1"]);
    let notified = notified.unwrap_or_else(|e| unreachable!("{e}"));
    // Not a recurring charge: the ledger observes it like any payment.
    assert_eq!(notified.recurring, None);
    let details = notified.outcome.unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(details.tracking_id.as_deref(), Some(CHARGE));
    assert_eq!(details.reference.as_deref(), Some("ACC-1"));
    assert_eq!(
        transport.paths(),
        [
            "POST /pesapalv3/api/Auth/RequestToken",
            "GET /pesapalv3/api/Transactions/GetTransactionStatus",
        ]
    );
}

#[test]
fn a_known_id_is_never_looked_up_by_its_reference() {
    let mut transport = Scripted::new(vec![Ok((200, PP_TOKEN)), Ok((200, PAID))]);
    let (notified, asked) = run(
        "IPNCHANGE",
        Gate::Verify,
        Gate::Refuse,
        Gate::Refuse,
        &mut transport,
    );
    assert_eq!(asked, [CHARGE]);
    assert!(
        notified
            .unwrap_or_else(|e| unreachable!("{e}"))
            .outcome
            .is_ok()
    );
}
