//! The `notifications` export and `client.verify-notification`: a
//! notification that reached the consumer's own route goes through the same
//! core function as FinConnect's `/notifications/{provider}` route, and
//! comes back with the same answer for the provider.

use super::{Component, bindings, convert, wit, with_finconnect};
use finconnect_core::api;
use finconnect_core::connector::{Incoming, NotificationError};

/// Reads, verifies and answers one notification from `provider`.
pub(super) fn verify(
    provider: finconnect_core::Provider,
    notification: wit::IncomingNotification,
) -> wit::NotificationResult {
    let request = convert::incoming_notification(notification);
    let incoming = Incoming {
        method: &request.method,
        query: request.query(),
        headers: &request.headers,
        body: &request.body,
    };
    // Malformed timeout variables fail before the core sees the notification.
    let notified = with_finconnect(|fc| fc.notification(provider, &incoming))
        .unwrap_or_else(|error| Err(NotificationError::Failed(error)));
    let acknowledgement = api::notification_answer(&notified);
    convert::notification_result(notified, acknowledgement)
}

impl bindings::exports::finconnect::payments::notifications::Guest for Component {
    fn verify(
        provider: wit::Provider,
        notification: wit::IncomingNotification,
    ) -> wit::NotificationResult {
        verify(convert::provider(provider), notification)
    }
}
