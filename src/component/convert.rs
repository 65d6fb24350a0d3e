//! Conversions between the WIT types and the core's types, and nothing else.

use super::wit;
use finconnect_core as core;
use finconnect_core::api;
use finconnect_core::connector::NotificationError;
use finconnect_core::flow::{Check, Notified};

pub(super) fn provider(provider: wit::Provider) -> core::Provider {
    match provider {
        wit::Provider::Pesapal => core::Provider::Pesapal,
        wit::Provider::Clickpesa => core::Provider::Clickpesa,
        wit::Provider::Mpesa => core::Provider::Mpesa,
    }
}

pub(super) fn provider_out(provider: core::Provider) -> wit::Provider {
    match provider {
        core::Provider::Pesapal => wit::Provider::Pesapal,
        core::Provider::Clickpesa => wit::Provider::Clickpesa,
        core::Provider::Mpesa => wit::Provider::Mpesa,
    }
}

pub(super) fn payment_request(request: wit::PaymentRequest) -> core::PaymentRequest {
    core::PaymentRequest {
        reference: request.reference,
        amount: request.amount,
        currency: request.currency,
        description: request.description,
        customer: core::Customer {
            email: request.customer.email,
            phone: request.customer.phone,
            first_name: request.customer.first_name,
            last_name: request.customer.last_name,
            country_code: request.customer.country_code,
        },
        callback_url: request.callback_url,
        cancellation_url: request.cancellation_url,
        notification_id: request.notification_id,
        method: request.method.map(|method| match method {
            wit::PaymentMethod::MobileMoney => core::PaymentMethod::MobileMoney,
            wit::PaymentMethod::Card => core::PaymentMethod::Card,
            wit::PaymentMethod::CheckoutLink => core::PaymentMethod::CheckoutLink,
        }),
        branch: request.branch,
        redirect_mode: request.redirect_mode.map(|mode| match mode {
            wit::RedirectMode::TopWindow => core::RedirectMode::TopWindow,
            wit::RedirectMode::ParentWindow => core::RedirectMode::ParentWindow,
        }),
        subscription: request.subscription.map(subscription),
    }
}

fn subscription(subscription: wit::Subscription) -> finconnect_core::recurring::Subscription {
    use finconnect_core::recurring::SubscriptionFrequency as Frequency;
    finconnect_core::recurring::Subscription {
        account_number: subscription.account_number,
        start_date: subscription.start_date,
        end_date: subscription.end_date,
        frequency: match subscription.frequency {
            wit::SubscriptionFrequency::Daily => Frequency::Daily,
            wit::SubscriptionFrequency::Weekly => Frequency::Weekly,
            wit::SubscriptionFrequency::Monthly => Frequency::Monthly,
            wit::SubscriptionFrequency::Yearly => Frequency::Yearly,
        },
    }
}

fn status(status: core::PaymentStatus) -> wit::PaymentStatus {
    match status {
        core::PaymentStatus::Pending => wit::PaymentStatus::Pending,
        core::PaymentStatus::Completed => wit::PaymentStatus::Completed,
        core::PaymentStatus::Failed => wit::PaymentStatus::Failed,
        core::PaymentStatus::Reversed => wit::PaymentStatus::Reversed,
        core::PaymentStatus::Cancelled => wit::PaymentStatus::Cancelled,
        core::PaymentStatus::Unknown => wit::PaymentStatus::Unknown,
    }
}

pub(super) fn payment(payment: core::Payment) -> wit::Payment {
    wit::Payment {
        provider: provider_out(payment.provider),
        reference: payment.reference,
        tracking_id: payment.tracking_id,
        redirect_url: payment.redirect_url,
        status: status(payment.status),
    }
}

fn notification_type_in(kind: wit::NotificationType) -> core::NotificationType {
    match kind {
        wit::NotificationType::Get => core::NotificationType::Get,
        wit::NotificationType::Post => core::NotificationType::Post,
    }
}

fn notification_type_out(kind: core::NotificationType) -> wit::NotificationType {
    match kind {
        core::NotificationType::Get => wit::NotificationType::Get,
        core::NotificationType::Post => wit::NotificationType::Post,
    }
}

pub(super) fn ipn_request(request: wit::IpnRequest) -> core::IpnRequest {
    core::IpnRequest {
        url: request.url,
        notification_type: notification_type_in(request.notification_type),
    }
}

pub(super) fn ipn_registration(registration: core::IpnRegistration) -> wit::IpnRegistration {
    wit::IpnRegistration {
        provider: provider_out(registration.provider),
        ipn_id: registration.ipn_id,
        url: registration.url,
        notification_type: notification_type_out(registration.notification_type),
        created_date: registration.created_date,
    }
}

pub(super) fn payment_details(details: core::PaymentDetails) -> wit::PaymentDetails {
    wit::PaymentDetails {
        provider: provider_out(details.provider),
        reference: details.reference,
        tracking_id: details.tracking_id,
        status: status(details.status),
        amount: details.amount,
        currency: details.currency,
        method: details.method,
        confirmation_code: details.confirmation_code,
        description: details.description,
    }
}

pub(super) fn refund_request(request: wit::RefundRequest) -> core::RefundRequest {
    core::RefundRequest {
        amount: request.amount,
        username: request.username,
        remarks: request.remarks,
    }
}

pub(super) fn refund(refund: core::Refund) -> wit::PendingRefund {
    wit::PendingRefund {
        provider: provider_out(refund.provider),
        tracking_id: refund.tracking_id,
        confirmation_code: refund.confirmation_code,
        amount: refund.amount,
        currency: refund.currency,
        message: refund.message,
    }
}

pub(super) fn cancellation(cancelled: core::Cancellation) -> wit::Cancellation {
    wit::Cancellation {
        provider: provider_out(cancelled.provider),
        tracking_id: cancelled.tracking_id,
        message: cancelled.message,
    }
}

pub(super) fn ipn_listings(listed: Vec<core::IpnListing>) -> Vec<wit::IpnListing> {
    listed
        .into_iter()
        .map(|listing| wit::IpnListing {
            provider: provider_out(listing.provider),
            ipn_id: listing.ipn_id,
            url: listing.url,
            notification_type: listing.notification_type.map(notification_type_out),
            created_date: listing.created_date,
            active: listing.active,
        })
        .collect()
}

pub(super) fn preview(preview: core::PaymentPreview) -> wit::PaymentPreview {
    wit::PaymentPreview {
        provider: provider_out(preview.provider),
        reference: preview.reference,
        methods: preview
            .methods
            .into_iter()
            .map(|method| wit::PreviewMethod {
                name: method.name,
                status: match method.status {
                    core::MethodStatus::Available => wit::MethodStatus::Available,
                    core::MethodStatus::Unavailable => wit::MethodStatus::Unavailable,
                },
                fee: method.fee,
                message: method.message,
            })
            .collect(),
        sender: preview.sender.map(|sender| wit::PreviewSender {
            account_name: sender.account_name,
            account_number: sender.account_number,
            account_provider: sender.account_provider,
        }),
    }
}

pub(super) fn provider_payment_query(
    query: wit::ProviderPaymentQuery,
) -> core::ProviderPaymentQuery {
    core::ProviderPaymentQuery {
        start_date: query.start_date,
        end_date: query.end_date,
        status: query.status,
        currency: query.currency,
        channel: query.channel,
        reference: query.reference,
        sort_by: query.sort_by,
        order: query.order.map(|order| match order {
            wit::SortOrder::Ascending => core::SortOrder::Ascending,
            wit::SortOrder::Descending => core::SortOrder::Descending,
        }),
        skip: query.skip,
        limit: query.limit,
    }
}

pub(super) fn provider_payment_page(page: core::ProviderPaymentPage) -> wit::ProviderPaymentPage {
    wit::ProviderPaymentPage {
        provider: provider_out(page.provider),
        payments: page.payments.into_iter().map(payment_details).collect(),
        total_count: page.total_count,
    }
}

/// The one mapping from core errors to the WIT `error` variant, field by
/// field (no core error holds a secret). Exhaustive on purpose: a new core
/// error does not compile until it has a WIT case.
pub(super) fn error(error: core::Error) -> wit::Error {
    match error {
        core::Error::InvalidRequest { field, reason } => {
            wit::Error::InvalidRequest(wit::FieldError { field, reason })
        }
        core::Error::Configuration { variable, problem } => {
            wit::Error::Configuration(wit::ConfigError {
                variable,
                reason: problem,
            })
        }
        core::Error::Authentication { provider, message } => {
            wit::Error::Authentication(wit::AuthError {
                provider: provider_out(provider),
                message,
            })
        }
        core::Error::Provider(refusal) => wit::Error::Provider(wit::ProviderError {
            provider: provider_out(refusal.provider),
            code: refusal.code,
            message: refusal.message,
            http_status: refusal.http_status,
        }),
        core::Error::UnreadableReply {
            provider,
            http_status,
            message,
        } => wit::Error::UnreadableReply(wit::UnreadableReply {
            provider: provider_out(provider),
            http_status,
            detail: message,
        }),
        core::Error::Transport { provider, message } => wit::Error::Transport(wit::CallError {
            provider: provider_out(provider),
            message,
        }),
        core::Error::Timeout { provider, message } => wit::Error::Timeout(wit::CallError {
            provider: provider_out(provider),
            message,
        }),
        core::Error::Unsupported {
            provider,
            operation,
            detail,
        } => wit::Error::Unsupported(wit::UnsupportedError {
            provider: provider_out(provider),
            operation,
            reason: detail,
        }),
    }
}

/// A notification as the core's router holds a request. A header value that
/// is not UTF-8 gets replacement characters, as on the HTTP face, and then
/// reads as unreadable.
pub(super) fn incoming_notification(notification: wit::IncomingNotification) -> api::Request {
    api::Request {
        method: notification.method,
        path_with_query: notification
            .path_with_query
            .unwrap_or_else(|| "/".to_owned()),
        headers: notification
            .headers
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect(),
        body: notification.body,
    }
}

fn check(check: Check) -> wit::NotificationCheck {
    match check {
        Check::StatusQuery => wit::NotificationCheck::StatusQuery,
        Check::Signature => wit::NotificationCheck::Checksum,
    }
}

fn notification_error(refusal: NotificationError) -> wit::NotificationError {
    match refusal {
        NotificationError::Malformed { field, reason } => {
            wit::NotificationError::Malformed(wit::FieldError { field, reason })
        }
        NotificationError::Unverified { field, reason } => {
            wit::NotificationError::Unverified(wit::FieldError {
                field: field.to_owned(),
                reason,
            })
        }
        NotificationError::NotJson => wit::NotificationError::NotJson,
        NotificationError::Failed(failure) => wit::NotificationError::Failed(error(failure)),
    }
}

/// What the core made of a notification, with the answer for the provider.
pub(super) fn notification_result(
    notified: Result<Notified, NotificationError>,
    answer: api::Response,
) -> wit::NotificationResult {
    let outcome = match notified {
        Ok(Notified {
            outcome: Ok(details),
            check: how,
            ..
        }) => Ok(wit::NotificationFacts {
            details: payment_details(details),
            checked_by: check(how),
        }),
        Ok(Notified {
            outcome: Err(failure),
            ..
        }) => Err(wit::NotificationError::Failed(error(failure))),
        Err(refusal) => Err(notification_error(refusal)),
    };
    wit::NotificationResult {
        outcome,
        acknowledgement: wit::Acknowledgement {
            status: answer.status,
            headers: answer
                .headers
                .into_iter()
                .map(|(name, value)| (name, value.into_bytes()))
                .collect(),
            body: answer.body,
        },
    }
}
