//! PesaPal's Instant Payment Notification: what PesaPal sends (GET query or
//! POST body, PascalCase keys) and the acknowledgement the merchant returns.
//!
//! A notification carries no status "for security reasons": it is only a
//! hint to ask GetTransactionStatus. Nothing in it is trusted.

use super::super::Loose;
use super::wire::{PesapalIpnAck, PesapalIpnBody};
use crate::error::{Error, Result};

/// The two notification types PesaPal documents.
const KNOWN_TYPES: [&str; 2] = ["IPNCHANGE", "RECURRING"];

/// A parsed notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpnNotification {
    /// PesaPal's order id (`OrderTrackingId`).
    pub order_tracking_id: String,
    /// The merchant reference (`OrderMerchantReference`; for RECURRING the account number).
    pub merchant_reference: String,
    /// `IPNCHANGE` or `RECURRING`.
    pub notification_type: String,
}

/// Reads a notification from a query string and/or a body (JSON object or
/// form-encoded). Keys match case-insensitively and in snake_case too;
/// query values win over body values.
pub fn parse(query: Option<&str>, body: &[u8]) -> Result<IpnNotification> {
    // Query pairs, then a form body's pairs: the first match wins.
    let mut pairs: Vec<(String, String)> = Vec::new();
    // A JSON body's string members.
    let mut members: Vec<(String, String)> = Vec::new();
    if let Some(query) = query {
        pairs.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    let trimmed = body.trim_ascii();
    if trimmed.starts_with(b"{") {
        let object: PesapalIpnBody = std::str::from_utf8(trimmed)
            .ok()
            .and_then(|text| super::super::Members::parse(text).ok())
            .map(|members| {
                // A name given twice keeps its last value.
                members
                    .0
                    .into_iter()
                    .map(|(name, raw)| (name.into_owned(), Loose::of(raw)))
                    .collect()
            })
            .ok_or_else(|| Error::invalid("body", "is not valid JSON"))?;
        members.extend(
            object
                .into_iter()
                .filter_map(|(key, value)| Some((key, value.as_str()?.to_owned()))),
        );
    } else if !trimmed.is_empty() {
        pairs.extend(form_urlencoded::parse(trimmed).into_owned());
    }
    let find = |wanted: &str| -> Option<String> {
        let matches = |(key, _): &&(String, String)| normalise(key) == wanted;
        pairs
            .iter()
            .find(matches)
            // In a JSON body, document order does not decide: when it spells a
            // key more than one way (`OrderTrackingId` and `orderTrackingId`),
            // the spelling that sorts first is the one read.
            .or_else(|| members.iter().filter(matches).min_by(|a, b| a.0.cmp(&b.0)))
            .map(|(_, value)| value.clone())
    };
    let order_tracking_id =
        find("ordertrackingid").ok_or_else(|| Error::invalid("OrderTrackingId", "is required"))?;
    super::validate_tracking_id(&order_tracking_id)
        .map_err(|_| Error::invalid("OrderTrackingId", "is not a PesaPal order tracking id"))?;
    let merchant_reference = find("ordermerchantreference")
        .ok_or_else(|| Error::invalid("OrderMerchantReference", "is required"))?;
    let reference_ok = (1..=100).contains(&merchant_reference.len())
        && merchant_reference
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'<' | b'>'));
    if !reference_ok {
        return Err(Error::invalid(
            "OrderMerchantReference",
            "must be 1 to 100 printable characters without quotes or angle brackets",
        ));
    }
    let notification_type = find("ordernotificationtype")
        .ok_or_else(|| Error::invalid("OrderNotificationType", "is required"))?
        .to_ascii_uppercase();
    if !KNOWN_TYPES.contains(&notification_type.as_str()) {
        return Err(Error::invalid(
            "OrderNotificationType",
            "must be IPNCHANGE or RECURRING",
        ));
    }
    Ok(IpnNotification {
        order_tracking_id,
        merchant_reference,
        notification_type,
    })
}

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The acknowledgement body: `{"orderNotificationType", "orderTrackingId",
/// "orderMerchantReference", "status"}` with status 200 when the
/// notification was verified and processed, 500 when it was not.
pub fn ack(notification: &IpnNotification, verified: bool) -> Vec<u8> {
    let ack = PesapalIpnAck {
        order_notification_type: &notification.notification_type,
        order_tracking_id: &notification.order_tracking_id,
        order_merchant_reference: &notification.merchant_reference,
        status: if verified { 200 } else { 500 },
    };
    // A struct of strings and a number: serde_json always writes it.
    serde_json::to_vec(&ack).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "b945e4af-80a5-4ec1-8706-e03f8332fb04";

    #[test]
    fn reads_a_get_query() {
        let query = format!(
            "OrderTrackingId={ID}&OrderMerchantReference=TEST1515111119&OrderNotificationType=IPNCHANGE"
        );
        let parsed = parse(Some(&query), b"");
        assert_eq!(
            parsed,
            Ok(IpnNotification {
                order_tracking_id: ID.to_owned(),
                merchant_reference: "TEST1515111119".to_owned(),
                notification_type: "IPNCHANGE".to_owned(),
            })
        );
    }

    #[test]
    fn reads_a_post_json_body_and_other_spellings() {
        let body = format!(
            r#"{{"orderTrackingId":"{ID}","order_merchant_reference":"555-678","OrderNotificationType":"RECURRING"}}"#
        );
        let parsed = parse(None, body.as_bytes()).map(|n| n.merchant_reference);
        assert_eq!(parsed, Ok("555-678".to_owned()));
        let form = format!(
            "OrderTrackingId={ID}&OrderMerchantReference=R1&OrderNotificationType=IPNCHANGE"
        );
        assert!(parse(Some(""), form.as_bytes()).is_ok());
    }

    #[test]
    fn refuses_missing_fields_and_injection() {
        let cases = [
            (String::new(), "OrderTrackingId"),
            (format!("OrderTrackingId={ID}"), "OrderMerchantReference"),
            (
                format!("OrderTrackingId={ID}&OrderMerchantReference=R1"),
                "OrderNotificationType",
            ),
            (
                format!("OrderTrackingId={ID}&OrderMerchantReference=R1&OrderNotificationType=CHANGE"),
                "OrderNotificationType",
            ),
            (
                "OrderTrackingId=x%26status%3D200&OrderMerchantReference=R1&OrderNotificationType=IPNCHANGE".to_owned(),
                "OrderTrackingId",
            ),
            (
                format!("OrderTrackingId={ID}&OrderMerchantReference=%22%3E%3Cscript%3E&OrderNotificationType=IPNCHANGE"),
                "OrderMerchantReference",
            ),
        ];
        for (query, field) in cases {
            match parse(Some(&query), b"") {
                Err(Error::InvalidRequest { field: got, .. }) => assert_eq!(got, field, "{query}"),
                other => unreachable!("{query}: {other:?}"),
            }
        }
        assert!(matches!(
            parse(None, b"{not json"),
            Err(Error::InvalidRequest { .. })
        ));
    }

    #[test]
    fn acknowledgement_bytes_are_exact() {
        let notification = IpnNotification {
            order_tracking_id: "d0fa69d6-f3cd-433b-858e-df86555b86c8".to_owned(),
            merchant_reference: "1515111111".to_owned(),
            notification_type: "IPNCHANGE".to_owned(),
        };
        assert_eq!(
            String::from_utf8_lossy(&ack(&notification, true)),
            r#"{"orderNotificationType":"IPNCHANGE","orderTrackingId":"d0fa69d6-f3cd-433b-858e-df86555b86c8","orderMerchantReference":"1515111111","status":200}"#
        );
        assert_eq!(
            String::from_utf8_lossy(&ack(&notification, false)),
            r#"{"orderNotificationType":"IPNCHANGE","orderTrackingId":"d0fa69d6-f3cd-433b-858e-df86555b86c8","orderMerchantReference":"1515111111","status":500}"#
        );
    }

    #[test]
    fn an_acknowledgement_reads_back_as_its_notification() {
        let notification = IpnNotification {
            order_tracking_id: ID.to_owned(),
            merchant_reference: "A:1/b_2.c-3!".to_owned(),
            notification_type: "RECURRING".to_owned(),
        };
        for verified in [true, false] {
            assert_eq!(
                parse(None, &ack(&notification, verified)),
                Ok(notification.clone())
            );
        }
    }

    #[test]
    fn a_json_body_reads_only_string_members_and_the_first_spelling_in_key_order() {
        let other = "0b5a1e2c-0000-4000-8000-000000000001";
        // `OrderTrackingId` sorts before `orderTrackingId` (upper case first),
        // so it is the one read even though it comes second.
        let body = format!(
            r#"{{"orderTrackingId":"{other}","OrderMerchantReference":7,"order_merchant_reference":"R-1","OrderTrackingId":"{ID}","OrderNotificationType":"ipnchange","extra":{{"a":[1,null]}}}}"#
        );
        assert_eq!(
            parse(None, body.as_bytes()),
            Ok(IpnNotification {
                order_tracking_id: ID.to_owned(),
                merchant_reference: "R-1".to_owned(),
                notification_type: "IPNCHANGE".to_owned(),
            })
        );
        // The query still wins over the body.
        let query = format!("OrderTrackingId={other}");
        assert_eq!(
            parse(Some(&query), body.as_bytes()).map(|n| n.order_tracking_id),
            Ok(other.to_owned())
        );
        let bad_bodies: [&[u8]; 3] = [
            br#"{"OrderTrackingId":"#,
            b"{} trailing",
            b"{\"a\":\"\xff\"}",
        ];
        for bad in bad_bodies {
            assert!(
                matches!(parse(None, bad), Err(Error::InvalidRequest { field, .. }) if field == "body"),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
