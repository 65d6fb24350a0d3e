//! ClickPesa payouts: the exact requests, and every documented reply and
//! refusal shape (spec notes §5, §6).

use super::*;
use crate::payouts::PayoutError;
use crate::providers::clickpesa::test_fixtures::{config, reply, token};

fn mobile(amount: &str) -> PayoutRequest {
    PayoutRequest {
        reference: "PAY001".to_owned(),
        amount: amount.to_owned(),
        currency: "TZS".to_owned(),
        destination: PayoutDestination::MobileMoney {
            phone: "255712345678".to_owned(),
        },
    }
}

fn bank(account_name: Option<&str>, transfer_type: Option<TransferType>) -> PayoutRequest {
    PayoutRequest {
        reference: "PAY002".to_owned(),
        amount: "25000".to_owned(),
        currency: "TZS".to_owned(),
        destination: PayoutDestination::Bank {
            account_number: "0150000000001".to_owned(),
            bic: "CORUTZTZ".to_owned(),
            account_name: account_name.map(str::to_owned),
            account_currency: None,
            transfer_type,
        },
    }
}

fn checked(request: &PayoutRequest, stage: Stage) -> CheckedPayout {
    check_payout(request, stage).unwrap_or_else(|e| unreachable!("{e}"))
}

fn body_text(request: &HttpRequest) -> &str {
    std::str::from_utf8(&request.body).unwrap_or_default()
}

fn ok<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e| unreachable!("{e}"))
}

#[test]
fn a_mobile_payout_sends_the_amount_as_an_exact_json_number() {
    let payout = checked(&mobile("1000.5"), Stage::Create);
    let request = ok(payout_request(&config(None), &token(), &payout));
    assert_eq!(request.method, Method::Post);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payouts/create-mobile-money-payout"
    );
    assert_eq!(request.header("authorization"), Some("Bearer eyJ.tok"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        body_text(&request),
        r#"{"amount":1000.5,"currency":"TZS","orderReference":"PAY001","phoneNumber":"255712345678"}"#
    );
    let preview = checked(&mobile("1000"), Stage::Preview);
    let request = ok(payout_request(&config(None), &token(), &preview));
    assert!(
        request
            .url
            .ends_with("/payouts/preview-mobile-money-payout")
    );
    assert!(body_text(&request).starts_with(r#"{"amount":1000,"#));
}

#[test]
fn amounts_beyond_float_precision_are_written_digit_for_digit() {
    // The largest amount FinConnect takes, and a cent amount f64 cannot
    // hold exactly (0.07 is 0.07000000000000000666...): both as typed.
    let payout = checked(&mobile("999999999999.99"), Stage::Create);
    let request = ok(payout_request(&config(None), &token(), &payout));
    assert!(
        body_text(&request).starts_with(r#"{"amount":999999999999.99,"#),
        "{}",
        body_text(&request)
    );
    let payout = checked(&mobile("0.07"), Stage::Create);
    let request = ok(payout_request(&config(None), &token(), &payout));
    assert!(
        body_text(&request).starts_with(r#"{"amount":0.07,"#),
        "{}",
        body_text(&request)
    );
}

#[test]
fn a_signed_payout_carries_the_documented_checksum() {
    // Test vector 4 of the spec notes (§7.5).
    let payout = checked(&mobile("5000"), Stage::Create);
    let request = ok(payout_request(
        &config(Some("secret-key")),
        &token(),
        &payout,
    ));
    assert_eq!(
        body_text(&request),
        r#"{"amount":5000,"checksum":"bacc465498f3e3f304c0844221afb4f0bab82c0130729c73281e157bd8c58314","currency":"TZS","orderReference":"PAY001","phoneNumber":"255712345678"}"#
    );
}

#[test]
fn a_bank_payout_sends_the_rail_and_the_name_only_on_create() {
    let preview = checked(&bank(None, None), Stage::Preview);
    let request = ok(payout_request(&config(None), &token(), &preview));
    assert!(request.url.ends_with("/payouts/preview-bank-payout"));
    assert_eq!(
        body_text(&request),
        r#"{"accountCurrency":"TZS","accountNumber":"0150000000001","amount":25000,"bic":"CORUTZTZ","currency":"TZS","orderReference":"PAY002","transferType":"ACH"}"#
    );
    let create = checked(
        &bank(Some("TEMBO SHOP"), Some(TransferType::Rtgs)),
        Stage::Create,
    );
    let request = ok(payout_request(&config(None), &token(), &create));
    assert!(request.url.ends_with("/payouts/create-bank-payout"));
    assert_eq!(
        body_text(&request),
        r#"{"accountCurrency":"TZS","accountName":"TEMBO SHOP","accountNumber":"0150000000001","amount":25000,"bic":"CORUTZTZ","currency":"TZS","orderReference":"PAY002","transferType":"RTGS"}"#
    );
}

#[test]
fn the_default_rail_follows_clickpesa_s_limits() {
    let mut large = bank(None, None);
    large.amount = "20000000.01".to_owned();
    let request = ok(payout_request(
        &config(None),
        &token(),
        &checked(&large, Stage::Preview),
    ));
    assert!(body_text(&request).contains(r#""transferType":"RTGS""#));
    let mut usd = bank(None, None);
    usd.currency = "USD".to_owned();
    let request = ok(payout_request(
        &config(None),
        &token(),
        &checked(&usd, Stage::Preview),
    ));
    assert!(body_text(&request).contains(r#""transferType":"RTGS""#));
}

#[test]
fn invalid_payouts_name_the_field_before_anything_is_sent() {
    let cases: Vec<(PayoutRequest, Stage, &str)> = vec![
        (
            PayoutRequest {
                reference: "PAY-1".to_owned(),
                ..mobile("1000")
            },
            Stage::Create,
            "reference",
        ),
        (mobile("0"), Stage::Create, "amount"),
        (mobile("10.001"), Stage::Create, "amount"),
        (mobile("1e3"), Stage::Create, "amount"),
        (
            PayoutRequest {
                currency: "KES".to_owned(),
                ..mobile("1000")
            },
            Stage::Create,
            "currency",
        ),
        (
            PayoutRequest {
                destination: PayoutDestination::MobileMoney {
                    phone: "+255712345678".to_owned(),
                },
                ..mobile("1000")
            },
            Stage::Create,
            "phone",
        ),
        (bank(None, None), Stage::Create, "account_name"),
        (
            PayoutRequest {
                destination: PayoutDestination::Bank {
                    account_number: "01-50".to_owned(),
                    bic: "CORUTZTZ".to_owned(),
                    account_name: None,
                    account_currency: None,
                    transfer_type: None,
                },
                ..mobile("1000")
            },
            Stage::Preview,
            "account_number",
        ),
        (
            PayoutRequest {
                destination: PayoutDestination::Bank {
                    account_number: "0150".to_owned(),
                    bic: "CRDB".to_owned(),
                    account_name: None,
                    account_currency: None,
                    transfer_type: None,
                },
                ..mobile("1000")
            },
            Stage::Preview,
            "bic",
        ),
        (
            PayoutRequest {
                destination: PayoutDestination::Bank {
                    account_number: "0150".to_owned(),
                    bic: "CORUTZTZ".to_owned(),
                    account_name: None,
                    account_currency: Some("USD".to_owned()),
                    transfer_type: None,
                },
                ..mobile("1000")
            },
            Stage::Preview,
            "account_currency",
        ),
    ];
    for (request, stage, field) in cases {
        match check_payout(&request, stage) {
            Err(Error::InvalidRequest { field: named, .. }) => assert_eq!(named, field),
            other => unreachable!("{field}: {other:?}"),
        }
    }
}

#[test]
fn the_mobile_preview_reply_is_read_exactly() {
    let payout = checked(&mobile("1000"), Stage::Preview);
    let preview = ok(parse_preview(
        &reply(
            200,
            r#"{"amount":1047.1,"balance":2000,"channelProvider":"TIGO PESA","fee":47.1,
                "exchanged":false,"order":{"amount":1000,"currency":"TZS","id":"UNIQUEREFERENCE"},
                "payoutFeeBearer":"merchant",
                "receiver":{"accountName":"John Doe","accountNumber":"255650000000","accountCurrency":"TZS","amount":1000}}"#,
        ),
        &payout,
    ));
    assert_eq!(preview.total.as_deref(), Some("1047.10"));
    assert_eq!(preview.fee.as_deref(), Some("47.10"));
    assert_eq!(preview.amount.as_deref(), Some("1000.00"));
    assert_eq!(preview.balance.as_deref(), Some("2000.00"));
    assert_eq!(preview.currency.as_deref(), Some("TZS"));
    assert_eq!(preview.reference.as_deref(), Some("UNIQUEREFERENCE"));
    assert_eq!(preview.receiver_name.as_deref(), Some("John Doe"));
    assert_eq!(preview.receiver_account.as_deref(), Some("255650000000"));
    assert_eq!(preview.channel_provider.as_deref(), Some("TIGO PESA"));
    assert_eq!(preview.fee_bearer.as_deref(), Some("merchant"));
    assert!(!preview.exchanged);
}

#[test]
fn the_bank_preview_reply_reads_the_lookup_and_the_rail() {
    let payout = checked(&bank(None, None), Stage::Preview);
    let preview = ok(parse_preview(
        &reply(
            200,
            r#"{"amount":27360,"balance":50000,"channelProvider":"CRDB BANK","fee":2360,
                "exchanged":false,"order":{"amount":25000,"currency":"TZS","id":"PAY002"},
                "payoutFeeBearer":"merchant","nameLookupStatus":"UNAVAILABLE",
                "receiver":{"accountNumber":"0150000000001","accountCurrency":"TZS","amount":25000},
                "transferType":"ACH","estimatedArrival":"1-3 Working Days"}"#,
        ),
        &payout,
    ));
    assert_eq!(preview.total.as_deref(), Some("27360.00"));
    assert_eq!(preview.name_lookup.as_deref(), Some("UNAVAILABLE"));
    assert_eq!(preview.receiver_name, None);
    assert_eq!(preview.transfer_type.as_deref(), Some("ACH"));
    assert_eq!(
        preview.estimated_arrival.as_deref(),
        Some("1-3 Working Days")
    );
    // A reply without the total is not what ClickPesa documents.
    assert!(matches!(
        parse_preview(&reply(200, r#"{"fee":1}"#), &payout),
        Err(Error::UnreadableReply { .. })
    ));
}

#[test]
fn the_create_reply_is_a_payout() {
    let payout = checked(&mobile("1000"), Stage::Create);
    let created = ok(parse_created(
        &reply(
            200,
            r#"{"id":"PAY001LCP1","orderReference":"PAY001","amount":"1047.10","currency":"TZS",
                "fee":"47.10","exchanged":false,"status":"AUTHORIZED","channel":"MOBILE MONEY",
                "channelProvider":"MPESA TANZANIA","order":{"amount":"1000.00","currency":"TZS"},
                "beneficiary":{"accountNumber":"255650000000","accountName":"John Doe"},
                "clientId":"IDx","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:01Z"}"#,
        ),
        &payout,
    ));
    assert_eq!(created.id.as_deref(), Some("PAY001LCP1"));
    assert_eq!(created.status, PayoutStatus::Authorized);
    assert_eq!(created.provider_status.as_deref(), Some("AUTHORIZED"));
    assert_eq!(created.amount.as_deref(), Some("1047.10"));
    assert_eq!(created.fee.as_deref(), Some("47.10"));
    assert_eq!(created.channel.as_deref(), Some("MOBILE MONEY"));
    assert_eq!(created.beneficiary_name.as_deref(), Some("John Doe"));
    assert_eq!(created.transfer_type, None);
    assert!(matches!(
        parse_created(&reply(200, r#"{"status":"AUTHORIZED"}"#), &payout),
        Err(Error::UnreadableReply { .. })
    ));
}

#[test]
fn the_rail_is_read_back_under_either_name() {
    for (name, value) in [("transferType", "RTGS"), ("settlementType", "GTB")] {
        let rows = ok(parse_payout_status(&reply(
            200,
            &format!(
                r#"[{{"id":"X","orderReference":"PAY002","status":"SUCCESS","{name}":"{value}",
                     "channel":"BANK TRANSFER","amount":"27360.00","fee":"2360.00"}}]"#
            ),
        )));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].transfer_type.as_deref(), Some(value));
        assert_eq!(rows[0].status, PayoutStatus::Succeeded);
    }
}

#[test]
fn a_payout_query_reads_every_row_and_every_status() {
    let rows = ok(parse_payout_status(&reply(
        200,
        r#"[{"id":"A","orderReference":"P1","status":"REVERSED","notes":"wallet closed"},
            {"id":"B","orderReference":"P1","status":"REFUNDED"},
            {"id":"C","orderReference":"P1","status":"PROCESSING"},
            {"id":"D","orderReference":"P1","status":"PENDING"},
            {"id":"E","orderReference":"P1","status":"FAILED"},
            {"id":"F","orderReference":"P1","status":"SOMETHING NEW"}]"#,
    )));
    let statuses: Vec<PayoutStatus> = rows.iter().map(|row| row.status).collect();
    assert_eq!(
        statuses,
        [
            PayoutStatus::Reversed,
            PayoutStatus::Refunded,
            PayoutStatus::Processing,
            PayoutStatus::Pending,
            PayoutStatus::Failed,
            PayoutStatus::Unknown
        ]
    );
    assert_eq!(rows[0].notes.as_deref(), Some("wallet closed"));
    assert!(matches!(
        parse_payout_status(&reply(200, r#"{"id":"A"}"#)),
        Err(Error::UnreadableReply { .. })
    ));
    let missing = parse_payout_status(&reply(
        404,
        r#"{"message":"Invalid or missing payout: P9"}"#,
    ))
    .map_err(PayoutError::classify);
    assert!(matches!(missing, Err(PayoutError::NotFound { .. })));
}

#[test]
fn a_status_query_goes_to_the_reference() {
    let request = ok(payout_status_request(&config(None), &token(), "PAY001"));
    assert_eq!(request.method, Method::Get);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payouts/PAY001"
    );
    assert!(request.body.is_empty());
    assert!(matches!(
        payout_status_request(&config(None), &token(), "../x"),
        Err(Error::InvalidRequest { .. })
    ));
}

#[test]
fn banks_are_listed() {
    let request = ok(banks_request(&config(None), &token()));
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/list/banks"
    );
    let banks = ok(parse_banks(&reply(
        200,
        r#"[{"name":"EQUITY BANK","bic":"EQBLTZTZ"},{"name":"CRDB","bic":"CORUTZTZ"},{"name":""}]"#,
    )));
    assert_eq!(
        banks,
        [
            Bank {
                name: "EQUITY BANK".to_owned(),
                bic: "EQBLTZTZ".to_owned()
            },
            Bank {
                name: "CRDB".to_owned(),
                bic: "CORUTZTZ".to_owned()
            }
        ]
    );
}

#[test]
fn a_bank_account_is_verified() {
    let query = BankAccountQuery {
        account_number: "0150000000001".to_owned(),
        bic: "CORUTZTZ".to_owned(),
    };
    let request = ok(verify_bank_account_request(
        &config(Some("k")),
        &token(),
        &query,
    ));
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payouts/verify-bank-account"
    );
    assert_eq!(
        body_text(&request),
        r#"{"accountNumber":"0150000000001","bic":"CORUTZTZ"}"#
    );
    assert_eq!(
        ok(parse_bank_account(&reply(
            200,
            r#"{"accountName":"TEMBO SHOP"}"#
        )))
        .account_name,
        "TEMBO SHOP"
    );
    let missing = parse_bank_account(&reply(404, r#"{"message":"Account not found"}"#))
        .map_err(PayoutError::classify);
    assert!(
        matches!(missing, Err(PayoutError::NotFound { message }) if message == "Account not found")
    );
}

#[test]
fn balances_are_an_array_and_a_new_merchant_has_none_yet() {
    let request = ok(balance_request(&config(None), &token()));
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/account/balance"
    );
    assert_eq!(
        ok(parse_balances(&reply(
            200,
            r#"[{"currency":"TZS","balance":12345},{"currency":"USD","balance":"10.5"}]"#
        ))),
        Balances::Accounts(vec![
            Balance {
                currency: "TZS".to_owned(),
                balance: "12345.00".to_owned()
            },
            Balance {
                currency: "USD".to_owned(),
                balance: "10.50".to_owned()
            }
        ])
    );
    let message = "No balance account is linked to this merchant yet. Balance becomes available \
                   after the first successful payment or deposit.";
    assert_eq!(
        ok(parse_balances(&reply(
            404,
            &format!(r#"{{"message":"{message}"}}"#)
        ))),
        Balances::NoBalanceYet {
            message: message.to_owned()
        }
    );
    // Any other 404 stays a refusal.
    assert!(matches!(
        parse_balances(&reply(404, r#"{"message":"Not Found"}"#)),
        Err(Error::Provider(_))
    ));
}

#[test]
fn documented_payout_refusals_become_typed_errors() {
    let payout = checked(&mobile("1000"), Stage::Create);
    let refuse = |status: u16, body: &str| {
        parse_created(&reply(status, body), &payout).map_err(PayoutError::classify)
    };
    assert!(matches!(
        refuse(400, r#"{"message":"Insufficient balance: available balance is 500 TZS"}"#),
        Err(PayoutError::InsufficientBalance { available: Some(a), .. }) if a == "500.00"
    ));
    assert!(matches!(
        refuse(
            400,
            r#"{"message":"Payout request is already in progress, please retry after 37 seconds"}"#
        ),
        Err(PayoutError::InProgress {
            retry_after_seconds: Some(37),
            ..
        })
    ));
    // NestJS's shape, message as an array.
    assert!(matches!(
        refuse(
            400,
            r#"{"statusCode":400,"message":["Unsupported channel provider"],"error":"Bad Request"}"#
        ),
        Err(PayoutError::UnsupportedChannelProvider { .. })
    ));
    assert!(matches!(
        refuse(
            409,
            r#"{"message":"Order reference PAY001 already used: Create a different reference"}"#
        ),
        Err(PayoutError::ReferenceReused { .. })
    ));
    assert!(matches!(
        refuse(401, r#"{"message":"Unauthorized"}"#),
        Err(PayoutError::Failed(Error::Authentication { .. }))
    ));
    assert!(matches!(
        refuse(500, "<html>oops</html>"),
        Err(PayoutError::Failed(Error::UnreadableReply { .. }))
    ));
    assert!(matches!(
        refuse(
            400,
            r#"{"message":"Application has no access to PAYOUT API feature. Enable it on your application."}"#
        ),
        Err(PayoutError::Failed(Error::Provider(_)))
    ));
}
