//! The flow of refunds, cancellations and the IPN list: validation before
//! any call, the token before each request, the status before a refund,
//! `unsupported` from the connector's table, nothing sent twice.

use super::*;
use crate::connector::Operation;
use crate::transport::scripted::Scripted;
use std::collections::BTreeMap;

const TRACKING: &str = "96a5e1d9-f711-4423-82ce-dd758f972713";
const PP_TOKEN: &str = r#"{"token":"canary-token","expiryDate":"2030-01-01T00:00:00.0000000Z","error":null,"status":"200"}"#;
const PAID: &str = r#"{"payment_method":"Visa","amount":1500,"confirmation_code":"CONF1","order_tracking_id":"96a5e1d9-f711-4423-82ce-dd758f972713","status_code":1,"currency":"KES","error":{"error_type":null,"code":null,"message":null},"status":"200"}"#;
const UNPAID: &str = r#"{"payment_method":"","amount":1500,"confirmation_code":"","status_code":0,"currency":"KES","error":{"error_type":"api_error","code":"payment_details_not_found","message":"Pending Payment"},"status":"500"}"#;

fn vars() -> BTreeMap<String, String> {
    [
        ("pesapal_base_url", "http://127.0.0.1:9/pesapalv3"),
        ("pesapal_consumer_key", "canary-pp-key"),
        ("pesapal_consumer_secret", "canary-pp-secret"),
        ("clickpesa_base_url", "http://127.0.0.1:9/third-parties"),
        ("clickpesa_client_id", "canary-cp-client"),
        ("clickpesa_api_key", "canary-cp-api-key"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn refund_request(amount: &str) -> RefundRequest {
    RefundRequest {
        amount: amount.to_owned(),
        username: "jane".to_owned(),
        remarks: "returned".to_owned(),
    }
}

#[test]
fn a_refund_asks_for_the_status_first_then_sends_the_request_once() {
    let vars = vars();
    let mut transport = Scripted::new(vec![
        Ok((200, PP_TOKEN)),
        Ok((200, PAID)),
        Ok((200, PP_TOKEN)),
        Ok((
            200,
            r#"{"status":"200","message":"Refund request successfully"}"#,
        )),
    ]);
    let refund = Finconnect::new(&vars, &mut transport).refund(
        Provider::Pesapal,
        TRACKING,
        &refund_request("1500"),
    );
    assert_eq!(
        refund.map(|r| (r.amount, r.confirmation_code)),
        Ok(("1500.00".into(), "CONF1".into()))
    );
    assert_eq!(
        transport.paths(),
        [
            "POST /pesapalv3/api/Auth/RequestToken",
            "GET /pesapalv3/api/Transactions/GetTransactionStatus",
            "POST /pesapalv3/api/Auth/RequestToken",
            "POST /pesapalv3/api/Transactions/RefundRequest",
        ]
    );
}

#[test]
fn a_refund_of_an_unpaid_payment_or_of_too_much_is_never_sent() {
    for (status, amount, field) in [(UNPAID, "10", "id"), (PAID, "1500.01", "amount")] {
        let vars = vars();
        let mut transport = Scripted::new(vec![Ok((200, PP_TOKEN)), Ok((200, status))]);
        let result = Finconnect::new(&vars, &mut transport).refund(
            Provider::Pesapal,
            TRACKING,
            &refund_request(amount),
        );
        match result {
            Err(Error::InvalidRequest { field: named, .. }) => assert_eq!(named, field),
            other => unreachable!("{other:?}"),
        }
        assert_eq!(
            transport.seen.len(),
            2,
            "only the token and the status call"
        );
    }
}

#[test]
fn an_ambiguous_refund_is_not_sent_again() {
    let vars = vars();
    let mut transport = Scripted::new(vec![
        Ok((200, PP_TOKEN)),
        Ok((200, PAID)),
        Ok((200, PP_TOKEN)),
        Ok((502, "<html>bad gateway</html>")),
    ]);
    let mut fc = Finconnect::new(&vars, &mut transport);
    let result = fc.refund(Provider::Pesapal, TRACKING, &refund_request("1"));
    assert!(
        matches!(result, Err(Error::UnreadableReply { .. })),
        "{result:?}"
    );
    assert_eq!(fc.api_requests_sent(), 2);
    assert_eq!(transport.seen.len(), 4);
}

#[test]
fn invalid_refunds_and_cancellations_make_no_call() {
    let vars = vars();
    let mut transport = Scripted::new(vec![]);
    let mut fc = Finconnect::new(&vars, &mut transport);
    assert!(matches!(
        fc.refund(Provider::Pesapal, TRACKING, &refund_request("1.001")),
        Err(Error::InvalidRequest { .. })
    ));
    assert!(matches!(
        fc.refund(Provider::Pesapal, "bad id", &refund_request("1")),
        Err(Error::InvalidRequest { .. })
    ));
    assert!(matches!(
        fc.cancel(Provider::Pesapal, "bad id"),
        Err(Error::InvalidRequest { .. })
    ));
    assert!(transport.seen.is_empty());
    let empty = BTreeMap::new();
    let mut transport = Scripted::new(vec![]);
    let mut fc = Finconnect::new(&empty, &mut transport);
    assert!(matches!(
        fc.refund(Provider::Pesapal, TRACKING, &refund_request("1")),
        Err(Error::Configuration { .. })
    ));
    assert!(matches!(
        fc.list_ipns(Provider::Pesapal),
        Err(Error::Configuration { .. })
    ));
    assert!(transport.seen.is_empty());
}

#[test]
fn cancel_and_ipn_list_fetch_a_token_then_make_the_call() {
    let vars = vars();
    let mut transport = Scripted::new(vec![
        Ok((200, PP_TOKEN)),
        Ok((
            200,
            r#"{"status":"200","message":"Order successfully cancelled."}"#,
        )),
        Ok((200, PP_TOKEN)),
        Ok((200, "[]")),
    ]);
    let mut fc = Finconnect::new(&vars, &mut transport);
    assert_eq!(
        fc.cancel(Provider::Pesapal, TRACKING)
            .map(|c| c.tracking_id),
        Ok(TRACKING.to_owned())
    );
    assert_eq!(fc.list_ipns(Provider::Pesapal), Ok(vec![]));
    assert_eq!(
        transport.paths(),
        [
            "POST /pesapalv3/api/Auth/RequestToken",
            "POST /pesapalv3/api/Transactions/CancelOrder",
            "POST /pesapalv3/api/Auth/RequestToken",
            "GET /pesapalv3/api/URLSetup/GetIpnList",
        ]
    );
}

#[test]
fn providers_without_the_operations_say_why_from_their_table_without_a_call() {
    for provider in [Provider::Clickpesa, Provider::Mpesa] {
        let vars = vars();
        let mut transport = Scripted::new(vec![]);
        let mut fc = Finconnect::new(&vars, &mut transport);
        let results = [
            (
                Operation::Refund,
                fc.refund(provider, "X1", &refund_request("1")).err(),
            ),
            (Operation::Cancel, fc.cancel(provider, "X1").err()),
            (Operation::ListIpns, fc.list_ipns(provider).err()),
        ];
        for (operation, error) in results {
            let expected = crate::connector::unsupported(provider.info(), operation);
            assert_eq!(error, Some(expected.clone()), "{provider:?} {operation:?}");
            let Error::Unsupported { detail, .. } = expected else {
                unreachable!()
            };
            assert_ne!(detail, "the provider offers no such operation");
        }
        assert!(transport.seen.is_empty());
    }
}
