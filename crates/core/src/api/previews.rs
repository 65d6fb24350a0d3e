//! `POST /payment-previews`: what a payment would go through — the
//! provider's active methods, their fees and, when asked, the account behind
//! the phone number — without starting it. Nothing is recorded in the
//! ledger: a preview moves no money.

use super::{Problem, Response, json};
use crate::domain::{PaymentPreview, PaymentRequest, Provider};
use crate::flow::Finconnect;
use serde::Serialize;

/// `200` with the preview; the provider's refusals and `unsupported` as
/// problems.
pub(super) fn preview(
    fc: &mut Finconnect<'_>,
    provider: Provider,
    request: &PaymentRequest,
    fetch_sender: bool,
) -> Result<Response, Problem> {
    let preview = fc
        .preview(provider, request, fetch_sender)
        .map_err(|e| Problem::from_error(&e))?;
    Ok(json(200, &PreviewJson::from(&preview)))
}

/// The body of a preview.
#[derive(Serialize)]
pub(super) struct PreviewJson<'a> {
    provider: &'a str,
    reference: &'a str,
    methods: Vec<MethodJson<'a>>,
    sender: Option<SenderJson<'a>>,
}

#[derive(Serialize)]
struct MethodJson<'a> {
    name: &'a str,
    status: &'a str,
    /// Exact decimal text, as the provider wrote it.
    fee: Option<&'a str>,
    message: Option<&'a str>,
}

#[derive(Serialize)]
struct SenderJson<'a> {
    account_name: Option<&'a str>,
    account_number: Option<&'a str>,
    account_provider: Option<&'a str>,
}

impl<'a> From<&'a PaymentPreview> for PreviewJson<'a> {
    fn from(preview: &'a PaymentPreview) -> Self {
        PreviewJson {
            provider: preview.provider.as_str(),
            reference: &preview.reference,
            methods: preview
                .methods
                .iter()
                .map(|method| MethodJson {
                    name: &method.name,
                    status: method.status.as_str(),
                    fee: method.fee.as_deref(),
                    message: method.message.as_deref(),
                })
                .collect(),
            sender: preview.sender.as_ref().map(|sender| SenderJson {
                account_name: sender.account_name.as_deref(),
                account_number: sender.account_number.as_deref(),
                account_provider: sender.account_provider.as_deref(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_problem, body_json, merchant, run, vars};
    use serde_json::json;

    const CP_TOKEN: &str = r#"{"success":true,"token":"Bearer canary-token"}"#;

    fn body() -> serde_json::Value {
        json!({"provider": "clickpesa", "reference": "ORDER1", "amount": "1000", "currency": "TZS",
               "customer": {"phone": "255712345678"}, "fetch_sender_details": true})
    }

    #[test]
    fn a_preview_lists_the_methods_and_the_sender() {
        let (response, transport) = run(
            merchant("POST", "/payment-previews", &body().to_string()),
            &vars(),
            vec![
                Ok((200, CP_TOKEN)),
                Ok((
                    200,
                    r#"{"activeMethods":[{"name":"M-PESA","status":"AVAILABLE","fee":580}],"sender":{"accountName":"Mathayo John","accountNumber":"255712345678","accountProvider":"M-PESA"}}"#,
                )),
            ],
        );
        assert_eq!(response.status, 200, "{}", body_json(&response));
        assert_eq!(
            body_json(&response),
            json!({
                "provider": "clickpesa",
                "reference": "ORDER1",
                "methods": [{"name": "M-PESA", "status": "available", "fee": "580", "message": null}],
                "sender": {"account_name": "Mathayo John", "account_number": "255712345678", "account_provider": "M-PESA"},
            })
        );
        assert_eq!(
            transport.paths(),
            [
                "POST /third-parties/generate-token",
                "POST /third-parties/payments/preview-ussd-push-request"
            ]
        );
    }

    #[test]
    fn invalid_previews_and_other_providers_send_nothing() {
        let mut not_a_flag = body();
        not_a_flag["fetch_sender_details"] = json!("yes");
        let mut no_phone = body();
        no_phone["customer"] = json!({});
        for (body, field) in [
            (not_a_flag, "fetch_sender_details"),
            (no_phone, "customer.phone"),
        ] {
            let (response, transport) = run(
                merchant("POST", "/payment-previews", &body.to_string()),
                &vars(),
                vec![],
            );
            assert_problem(&response, 422, "invalid_request", Some(field));
            assert!(transport.seen.is_empty());
        }
        let mesa =
            json!({"provider": "mpesa", "reference": "A1", "amount": "10", "currency": "KES"});
        let (response, transport) = run(
            merchant("POST", "/payment-previews", &mesa.to_string()),
            &vars(),
            vec![],
        );
        assert_problem(&response, 422, "unsupported", None);
        assert!(transport.seen.is_empty());
        let (response, _) = run(
            crate::api::Request::new("POST", "/payment-previews")
                .with_header("content-type", "application/json")
                .with_body(body().to_string()),
            &vars(),
            vec![],
        );
        assert_eq!(response.status, 401);
    }
}
