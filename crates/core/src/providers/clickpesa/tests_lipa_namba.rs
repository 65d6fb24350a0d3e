//! ClickPesa Lipa Namba / TanQR payouts (spec notes §5.3): the exact
//! requests, the one-destination rule, the providers list and the
//! unresolved-receiver refusal.

use super::*;
use crate::payouts::PayoutError;
use crate::providers::clickpesa::test_fixtures::token;
use crate::providers::clickpesa::{ApiKey, ClientId};
use crate::secret::Secret;

fn config() -> ClickpesaConfig {
    ClickpesaConfig {
        base_url: "https://api.clickpesa.com/third-parties".to_owned(),
        client_id: ClientId(Secret::new("canary-client")),
        api_key: ApiKey(Secret::new("canary-api-key")),
        checksum_key: None,
    }
}

fn lipa(number: Option<&str>, code: Option<&str>, qr: Option<&str>) -> PayoutRequest {
    PayoutRequest {
        reference: "LIPA1".to_owned(),
        amount: "2500.5".to_owned(),
        currency: "TZS".to_owned(),
        destination: PayoutDestination::LipaNamba {
            lipa_namba: number.map(str::to_owned),
            provider_code: code.map(str::to_owned),
            qr_code: qr.map(str::to_owned),
        },
    }
}

const QR: &str = "000201010211264300140tz.go.bot.tips0113255712345678520499995303834";

fn sent(request: &PayoutRequest, stage: Stage) -> HttpRequest {
    let checked = check_payout(request, stage).unwrap_or_else(|e| unreachable!("{e}"));
    payout_request(&config(), &token(), &checked).unwrap_or_else(|e| unreachable!("{e}"))
}

#[test]
fn a_lipa_namba_payout_sends_the_number_and_the_provider_code() {
    let request = sent(&lipa(Some("123456"), Some("503"), None), Stage::Preview);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payouts/preview-lipa-namba-payout"
    );
    assert_eq!(
        std::str::from_utf8(&request.body).unwrap_or_default(),
        r#"{"amount":2500.5,"currency":"TZS","lipaNamba":"123456","orderReference":"LIPA1","providerCode":"503"}"#
    );
    let request = sent(&lipa(None, None, Some(QR)), Stage::Create);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payouts/create-lipa-namba-payout"
    );
    assert_eq!(
        std::str::from_utf8(&request.body).unwrap_or_default(),
        format!(r#"{{"amount":2500.5,"currency":"TZS","orderReference":"LIPA1","qrCode":"{QR}"}}"#)
    );
}

#[test]
fn exactly_one_destination_is_required_and_the_field_is_named() {
    let field = |request: PayoutRequest| match check_payout(&request, Stage::Create) {
        Err(Error::InvalidRequest { field, .. }) => field,
        other => unreachable!("{other:?}"),
    };
    assert_eq!(field(lipa(None, None, None)), "lipa_namba");
    assert_eq!(field(lipa(Some("123456"), None, None)), "provider_code");
    assert_eq!(field(lipa(None, Some("503"), None)), "lipa_namba");
    assert_eq!(
        field(lipa(Some("123456"), Some("503"), Some(QR))),
        "qr_code"
    );
    assert_eq!(field(lipa(Some("12a456"), Some("503"), None)), "lipa_namba");
    assert_eq!(
        field(lipa(Some("123456"), Some("5 3"), None)),
        "provider_code"
    );
    assert_eq!(field(lipa(None, None, Some("0002010102112643"))), "qr_code");
}

#[test]
fn the_providers_list_is_read() {
    let request =
        lipa_namba_providers_request(&config(), &token()).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(request.method, Method::Get);
    assert_eq!(
        request.url,
        "https://api.clickpesa.com/third-parties/payouts/lipa-namba-providers"
    );
    let reply = HttpResponse::new(
        200,
        br#"[{"name":"Vodacom M-Pesa","providerCode":"503"},{"name":"","providerCode":"1"}]"#
            .to_vec(),
    )
    .with_header("content-type", "application/json");
    assert_eq!(
        parse_lipa_namba_providers(&reply).ok(),
        Some(vec![LipaNambaProvider {
            name: "Vodacom M-Pesa".to_owned(),
            provider_code: "503".to_owned(),
        }])
    );
}

#[test]
fn an_unresolved_receiver_is_a_typed_refusal_and_a_lipa_create_reads_its_status() {
    let payout = check_payout(&lipa(Some("123456"), Some("503"), None), Stage::Create)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let refused = HttpResponse::new(
        400,
        br#"{"statusCode":400,"message":"Lipa Namba 123456 could not be resolved. Preview is required before payout.","error":"Bad Request"}"#
            .to_vec(),
    )
    .with_header("content-type", "application/json");
    let error = parse_created(&refused, &payout)
        .map_err(PayoutError::classify)
        .err();
    assert!(
        matches!(error, Some(PayoutError::ReceiverUnresolved { ref message }) if message.contains("Preview is required")),
        "{error:?}"
    );
    for (status, expected) in [
        ("PROCESSING", PayoutStatus::Processing),
        ("FAILED", PayoutStatus::Failed),
        ("AUTHORIZED", PayoutStatus::Authorized),
    ] {
        let body = format!(
            r#"{{"id":"LIPA1LCP1","orderReference":"LIPA1","amount":"2550.50","fee":"50.00","currency":"TZS","status":"{status}","channel":"TIPS LIPA NAMBA","channelProvider":"Vodacom M-Pesa"}}"#
        );
        let reply = HttpResponse::new(200, body.into_bytes())
            .with_header("content-type", "application/json");
        let created = parse_created(&reply, &payout).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(created.status, expected);
        assert_eq!(created.channel.as_deref(), Some("TIPS LIPA NAMBA"));
    }
}
