//! The page behind a ClickPesa checkout link or card payment link: the
//! tester pays (choosing how) or declines, which settles the collection
//! exactly as `POST /_sandbox/clickpesa/payments/…` does and sends the
//! webhook.

use super::*;
use crate::clickpesa_hosted::page_path;
use crate::model::ClickpesaKind;

/// How a checkout link's customer can pay: the `channel` ClickPesa then
/// reports.
const CHECKOUT_METHODS: &[PayMethod] = &[
    PayMethod {
        value: "M-PESA",
        label: "M-Pesa",
        detail: "Vodacom",
    },
    PayMethod {
        value: "TIGO-PESA",
        label: "Mixx by Yas",
        detail: "Tigo Pesa",
    },
    PayMethod {
        value: "AIRTEL-MONEY",
        label: "Airtel Money",
        detail: "Airtel",
    },
    PayMethod {
        value: "CARD",
        label: "Card",
        detail: "Visa / Mastercard",
    },
];

/// A card link is paid by card only.
const CARD_METHODS: &[PayMethod] = &[PayMethod {
    value: "CARD",
    label: "Visa / Mastercard",
    detail: "Card",
}];

fn methods_for(kind: ClickpesaKind) -> &'static [PayMethod] {
    match kind {
        ClickpesaKind::Card => CARD_METHODS,
        _ => CHECKOUT_METHODS,
    }
}

fn hosted_payment(shared: &Shared, reference: &str) -> Option<ClickpesaPayment> {
    find_payment(shared, reference)
        .filter(|p| matches!(p.kind, ClickpesaKind::CheckoutLink | ClickpesaKind::Card))
}

fn unknown() -> Response {
    problem_page(
        StatusCode::NOT_FOUND,
        "Unknown payment",
        "No sandbox ClickPesa checkout or card link has this orderReference.",
    )
}

fn render(payment: &ClickpesaPayment, notice: Option<(Tone, String)>) -> Response {
    let pending = payment.state == PaymentState::Pending;
    let (provider, description) = match payment.kind {
        ClickpesaKind::Card => ("ClickPesa card payment", "Card payment"),
        _ => ("ClickPesa checkout", "Hosted checkout"),
    };
    let mut facts = Vec::new();
    if !payment.phone_number.is_empty() {
        facts.push(("Customer", payment.phone_number.clone()));
    }
    if !pending {
        facts.push(("Paid with", payment.channel.clone()));
    }
    Checkout {
        provider,
        reference: &payment.order_reference,
        amount: &payment.amount,
        currency: &payment.currency,
        description,
        state: payment.state,
        facts,
        action: pending.then(|| page_path(&payment.order_reference)),
        methods: methods_for(payment.kind),
        notice: notice.or_else(|| {
            (!pending).then(|| (Tone::Info, format!("This payment is {}.", payment.state)))
        }),
        back: (!pending).then(|| "/_sandbox/ui#payments".to_owned()),
    }
    .render()
}

/// `GET /_sandbox/ui/clickpesa-hosted/{order_reference}`.
pub(super) async fn page(
    State(shared): State<Arc<Shared>>,
    Path(reference): Path<String>,
) -> Response {
    match hosted_payment(&shared, &reference) {
        Some(payment) => render(&payment, None),
        None => unknown(),
    }
}

/// `POST /_sandbox/ui/clickpesa-hosted/{order_reference}` with `outcome`
/// (complete|fail) and `method` (the channel paid through).
pub(super) async fn answer(
    State(shared): State<Arc<Shared>>,
    Path(reference): Path<String>,
    body: Bytes,
) -> Response {
    let Some(outcome) = outcome_named(form_value(&body, None, "outcome").as_deref()) else {
        return problem_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "outcome must be complete or fail.",
        );
    };
    let Some(payment) = hosted_payment(&shared, &reference) else {
        return unknown();
    };
    let chosen = form_value(&body, None, "method");
    let method = methods_for(payment.kind)
        .iter()
        .find(|m| Some(m.value) == chosen.as_deref())
        .or_else(|| methods_for(payment.kind).first());
    if outcome == Outcome::Completed
        && let Some(method) = method
    {
        let mut state = shared.lock();
        if let Some(p) = state
            .payments
            .iter_mut()
            .find(|p| p.order_reference == reference && p.state == PaymentState::Pending)
        {
            p.channel = method.value.to_owned();
        }
    }
    let result = settle::clickpesa(&shared, &reference, outcome).await;
    let Some(payment) = hosted_payment(&shared, &reference) else {
        return unknown();
    };
    let notice = match result {
        Ok(delivery) => {
            let what = match outcome {
                Outcome::Completed => "Payment received.",
                _ => "Payment declined.",
            };
            let tone = if delivery.is_success() {
                Tone::Ok
            } else {
                Tone::Bad
            };
            (
                tone,
                format!("{what} Merchant webhook: {}", delivery_summary(&delivery)),
            )
        }
        Err(err) => (Tone::Bad, err.to_string()),
    };
    render(&payment, Some(notice))
}
