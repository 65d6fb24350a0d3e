//! Pages for people: the hosted checkout behind PesaPal's `redirect_url`, a
//! handset prompt for ClickPesa USSD push, and the dashboard at `/` (also
//! `/_sandbox/ui`).
//!
//! Everything is rendered here from the templates in `ui/`, every value
//! escaped on the way in ([`esc`]); responses carry a Content-Security-Policy
//! that only lets the page's own nonce-tagged `<style>` and `<script>` run.
//! The only script is the dashboard's, and it only calls the `/_sandbox`
//! control API. Choosing on a page settles through the same `settle::…`
//! functions as the control API, so the notification goes out the same way.
//!
//! Adding a provider's page: fill a [`Checkout`] (hosted payment page) or a
//! [`PhonePrompt`] (push prompt on a handset) from its order, route a GET
//! that renders it and a POST that settles, and add its rows to
//! [`dashboard`].

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use crate::fault::Target;
use crate::model::{
    ClickpesaPayment, Delivery, MpesaStkPush, Outcome, PaymentState, PesapalOrder, RecordedRequest,
    StkResult,
};
use crate::settle;
use crate::state::Shared;
use crate::util;

const LAYOUT: &str = include_str!("ui/layout.html");
const STYLE: &str = include_str!("ui/style.css");
const CHECKOUT: &str = include_str!("ui/checkout.html");
const PHONE: &str = include_str!("ui/phone.html");
const DASHBOARD: &str = include_str!("ui/dashboard.html");
const DASHBOARD_JS: &str = include_str!("ui/dashboard.js");

/// The merchant name the hosted pages show (the sandbox has one account).
pub(crate) const MERCHANT: &str = "FinConnect Sandbox Shop";

/// PesaPal's hosted page, as `redirect_url` names it (with and without the
/// trailing slash the docs show), and where its form posts.
const PESAPAL_PAGE: &str = "/pesapaliframe/PesapalIframe3/Index";
const PESAPAL_PAY: &str = "/pesapaliframe/PesapalIframe3/Pay";
/// The ClickPesa USSD-push prompt for one payment.
const CLICKPESA_PROMPT: &str = "/_sandbox/ui/clickpesa/{order_reference}";
/// The M-Pesa (Daraja) STK-push prompt for one push.
const MPESA_PROMPT: &str = "/_sandbox/ui/mpesa/{checkout_request_id}";

/// Methods offered on PesaPal's page: the `payment_method` value PesaPal
/// reports, the label and a sub-label.
const PESAPAL_METHODS: &[PayMethod] = &[
    PayMethod {
        value: "MpesaKE",
        label: "M-Pesa",
        detail: "Safaricom",
    },
    PayMethod {
        value: "AirtelKE",
        label: "Airtel Money",
        detail: "Airtel",
    },
    PayMethod {
        value: "Visa",
        label: "Visa",
        detail: "Card",
    },
    PayMethod {
        value: "MasterCard",
        label: "Mastercard",
        detail: "Card",
    },
];

/// Fault kinds the control API accepts (`Fault::from_json`).
const FAULT_KINDS: &[&str] = &[
    "html500",
    "truncated_json",
    "error_with_200",
    "wrong_token",
    "slow",
    "reset_mid_body",
    "status",
];

/// How many recorded requests the dashboard lists (newest first).
const REQUESTS_SHOWN: usize = 100;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(dashboard))
        .route("/_sandbox/ui", get(dashboard))
        .route(PESAPAL_PAGE, get(pesapal_page))
        .route(&format!("{PESAPAL_PAGE}/"), get(pesapal_page))
        .route(PESAPAL_PAY, post(pesapal_pay))
        .route(
            CLICKPESA_PROMPT,
            get(clickpesa_prompt).post(clickpesa_answer),
        )
        .route(MPESA_PROMPT, get(mpesa_prompt).post(mpesa_answer))
        .route(
            &format!("{}/{{order_reference}}", crate::clickpesa_hosted::PAGE),
            get(clickpesa_hosted::page).post(clickpesa_hosted::answer),
        )
}

mod clickpesa_hosted;

// ----- HTML plumbing -----

/// `text` safe inside element content and quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Replaces each `{{name}}` of `template` with the HTML given for it, in one
/// pass (text inserted is never scanned again). Slots must already be
/// escaped; a placeholder without a slot is left visible so it gets noticed.
fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match slots.iter().find(|(slot, _)| *slot == name) {
                    Some((_, html)) => out.push_str(html),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A whole page: `body` (HTML) inside the layout, with a fresh nonce for
/// the inline style and script.
fn page(status: StatusCode, title: &str, body_class: &str, body: &str, nonce: &str) -> Response {
    let html = fill(
        LAYOUT,
        &[
            ("title", &esc(title)),
            ("nonce", nonce),
            ("css", STYLE),
            ("body_class", &esc(body_class)),
            ("body", body),
        ],
    );
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let policy = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(CONTENT_SECURITY_POLICY, value);
    }
    response
}

fn nonce() -> String {
    util::random_code(22)
}

/// `1500.00` → `1,500.00`; anything that is not plain digits (with an
/// optional fraction) is returned as it came. Text only, never a float.
fn group_thousands(amount: &str) -> String {
    let (whole, fraction) = match amount.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (amount, None),
    };
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()))
    {
        return amount.to_owned();
    }
    let mut out = String::with_capacity(amount.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

fn badge(state: PaymentState) -> String {
    format!("<span class=\"badge badge-{state}\">{state}</span>")
}

#[derive(Clone, Copy)]
enum Tone {
    Info,
    Ok,
    Bad,
}

fn notice(tone: Tone, text: &str) -> String {
    let class = match tone {
        Tone::Info => "notice-info",
        Tone::Ok => "notice-ok",
        Tone::Bad => "notice-bad",
    };
    format!(
        "<div class=\"notice {class}\" data-test=\"notice\">{}</div>",
        esc(text)
    )
}

/// What a form answered: `outcome` and `method` from the body
/// (`application/x-www-form-urlencoded`) or, failing that, the query.
fn form_value(body: &[u8], query: Option<&str>, name: &str) -> Option<String> {
    let body = String::from_utf8_lossy(body);
    util::query_param(Some(&body), name).or_else(|| util::query_param(query, name))
}

fn outcome_named(name: Option<&str>) -> Option<Outcome> {
    match name {
        Some("complete") => Some(Outcome::Completed),
        Some("fail") => Some(Outcome::Failed),
        _ => None,
    }
}

fn see_other(location: &str) -> Option<Response> {
    let value = HeaderValue::from_str(location).ok()?;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(LOCATION, value);
    Some(response)
}

/// A page that only says something went wrong, in the checkout's frame.
fn problem_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<main class=\"checkout\"><section class=\"card\"><h2>{}</h2>{}\
         <a class=\"btn btn-ghost\" href=\"/_sandbox/ui\">Sandbox dashboard</a></section></main>",
        esc(title),
        notice(Tone::Bad, message)
    );
    page(status, title, "", &body, &nonce())
}

// ----- hosted checkout (any provider with a payment page) -----

/// A payment method a checkout offers.
struct PayMethod {
    value: &'static str,
    label: &'static str,
    detail: &'static str,
}

/// What a hosted checkout page shows. Providers fill one from their order.
struct Checkout<'a> {
    provider: &'a str,
    reference: &'a str,
    amount: &'a str,
    currency: &'a str,
    description: &'a str,
    state: PaymentState,
    /// More rows under the amount: label, text.
    facts: Vec<(&'a str, String)>,
    /// Where the form posts (`outcome` = complete|fail, `method`); `None`
    /// when the payment can no longer be settled from the page.
    action: Option<String>,
    methods: &'a [PayMethod],
    notice: Option<(Tone, String)>,
    /// A link back to the merchant when there is nothing left to do.
    back: Option<String>,
}

impl Checkout<'_> {
    fn render(&self) -> Response {
        let amount = group_thousands(self.amount);
        let mut facts = String::new();
        for (label, text) in &self.facts {
            let _ = write!(facts, "<dt>{}</dt><dd>{}</dd>", esc(label), esc(text));
        }
        let form = match (&self.action, &self.back) {
            (Some(action), _) => {
                let mut methods = String::new();
                if !self.methods.is_empty() {
                    methods.push_str(
                        "<fieldset class=\"methods\"><legend>Pay with</legend><div class=\"method-list\">",
                    );
                    for (i, method) in self.methods.iter().enumerate() {
                        let _ = write!(
                            methods,
                            "<label class=\"method\"><input type=\"radio\" name=\"method\" value=\"{}\"{}>\
                             <span>{}<span class=\"sub\">{}</span></span></label>",
                            esc(method.value),
                            if i == 0 { " checked" } else { "" },
                            esc(method.label),
                            esc(method.detail),
                        );
                    }
                    methods.push_str("</div></fieldset>");
                }
                format!(
                    "<form method=\"post\" action=\"{}\">{methods}<div class=\"actions\">\
                     <button class=\"btn btn-primary\" name=\"outcome\" value=\"complete\" data-test=\"pay\">Pay {} {}</button>\
                     <button class=\"btn btn-danger\" name=\"outcome\" value=\"fail\" data-test=\"decline\">Decline</button>\
                     </div></form>",
                    esc(action),
                    esc(self.currency),
                    esc(&amount),
                )
            }
            (None, Some(back)) => format!(
                "<a class=\"btn btn-ghost\" href=\"{}\" data-test=\"back\">Return to the merchant</a>",
                esc(back)
            ),
            (None, None) => String::new(),
        };
        let notice_html = self
            .notice
            .as_ref()
            .map(|(tone, text)| notice(*tone, text))
            .unwrap_or_default();
        let initial: String = self.provider.chars().take(1).collect();
        let state = self.state.to_string();
        let body = fill(
            CHECKOUT,
            &[
                ("provider", &esc(self.provider)),
                ("provider_initial", &esc(&initial)),
                ("merchant", &esc(MERCHANT)),
                ("state", &esc(&state)),
                ("currency", &esc(self.currency)),
                ("amount", &esc(&amount)),
                ("reference", &esc(self.reference)),
                ("description", &esc(self.description)),
                ("extra_facts", &facts),
                ("notice", &notice_html),
                ("form", &form),
            ],
        );
        let title = format!("{} checkout (sandbox): {}", self.provider, self.reference);
        page(StatusCode::OK, &title, "checkout-page", &body, &nonce())
    }
}

/// PesaPal's hosted page URL for an order, as `redirect_url` carries it.
pub(crate) fn pesapal_redirect_url(origin: &str, order_tracking_id: &str) -> String {
    format!("{origin}{PESAPAL_PAGE}?OrderTrackingId={order_tracking_id}")
}

/// Where PesaPal sends the browser after the page: `callback_url` with the
/// documented query parameters.
fn pesapal_callback(order: &PesapalOrder) -> String {
    util::append_query(
        &order.callback_url,
        &[
            ("OrderTrackingId", &order.order_tracking_id),
            ("OrderMerchantReference", &order.merchant_reference),
            ("OrderNotificationType", "CALLBACKURL"),
        ],
    )
}

fn find_order(shared: &Shared, id: &str) -> Option<PesapalOrder> {
    shared
        .lock()
        .orders
        .iter()
        .find(|o| o.order_tracking_id.eq_ignore_ascii_case(id))
        .cloned()
}

/// `GET /pesapaliframe/PesapalIframe3/Index?OrderTrackingId=…`.
async fn pesapal_page(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let id = util::query_param(request.uri().query(), "OrderTrackingId").unwrap_or_default();
    let Some(order) = find_order(&shared, id.trim()) else {
        return problem_page(
            StatusCode::NOT_FOUND,
            "Unknown order",
            "No sandbox order has this OrderTrackingId.",
        );
    };
    let action = format!(
        "{PESAPAL_PAY}?OrderTrackingId={}",
        util::percent_encode(&order.order_tracking_id)
    );
    let (action, notice, back) = match order.state {
        PaymentState::Pending => (Some(action), None, None),
        PaymentState::Failed => (
            Some(action),
            Some((
                Tone::Info,
                "The last attempt was declined. You can try again.".to_owned(),
            )),
            None,
        ),
        PaymentState::Completed => (
            None,
            Some((Tone::Ok, "This order has been paid.".to_owned())),
            Some(pesapal_callback(&order)),
        ),
        PaymentState::Reversed => (
            None,
            Some((Tone::Info, "This payment was reversed.".to_owned())),
            Some(pesapal_callback(&order)),
        ),
    };
    let mut facts = Vec::new();
    if let Some(email) = &order.email_address {
        facts.push(("Customer", email.clone()));
    } else if let Some(phone) = &order.phone_number {
        facts.push(("Customer", phone.clone()));
    }
    facts.push(("Tracking id", order.order_tracking_id.clone()));
    Checkout {
        provider: "PesaPal",
        reference: &order.merchant_reference,
        amount: &order.amount,
        currency: &order.currency,
        description: &order.description,
        state: order.state,
        facts,
        action,
        methods: PESAPAL_METHODS,
        notice,
        back,
    }
    .render()
}

/// `POST /pesapaliframe/PesapalIframe3/Pay?OrderTrackingId=…` with
/// `outcome` (complete|fail) and optionally `method` in the form body (or
/// the query): settles exactly as `POST /_sandbox/pesapal/orders/…`, then
/// sends the browser to `callback_url` with PesaPal's parameters.
async fn pesapal_pay(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let query = request.uri().query().map(str::to_owned);
    let Ok(body) = axum::body::to_bytes(request.into_body(), 64 * 1024).await else {
        return problem_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Bad request",
            "form body over 64 KiB",
        );
    };
    pesapal_settle_from_page(&shared, query.as_deref(), &body).await
}

async fn pesapal_settle_from_page(
    shared: &Arc<Shared>,
    query: Option<&str>,
    body: &Bytes,
) -> Response {
    let id = util::query_param(query, "OrderTrackingId").unwrap_or_default();
    let Some(outcome) = outcome_named(form_value(body, query, "outcome").as_deref()) else {
        return problem_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "outcome must be complete or fail.",
        );
    };
    let method = form_value(body, query, "method");
    if let Some(method) = &method
        && !PESAPAL_METHODS.iter().any(|m| m.value == method)
    {
        let known: Vec<&str> = PESAPAL_METHODS.iter().map(|m| m.value).collect();
        return problem_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            &format!("method must be one of {}.", known.join(", ")),
        );
    }
    // The chosen method is what GetTransactionStatus reports, also to the
    // status call FinConnect makes while the IPN is being delivered.
    if let Some(method) = method {
        let mut state = shared.lock();
        if let Some(order) = state
            .orders
            .iter_mut()
            .find(|o| o.order_tracking_id == id.trim())
            .filter(|o| settle::pesapal_allows(o.state, outcome))
        {
            order.payment_method = Some(method);
        }
    }
    if let Err(err) = settle::pesapal(shared, id.trim(), outcome).await {
        return problem_page(StatusCode::CONFLICT, "Cannot settle", &err.to_string());
    }
    let target = find_order(shared, id.trim()).map(|order| pesapal_callback(&order));
    match target.as_deref().and_then(see_other) {
        Some(response) => response,
        None => problem_page(
            StatusCode::OK,
            "Settled",
            "The order was settled, but its callback_url cannot be used as a redirect.",
        ),
    }
}

// ----- phone prompt (any provider that pushes to a handset) -----

/// A prompt on the customer's handset (USSD push, STK push).
struct PhonePrompt<'a> {
    provider: &'a str,
    /// The network or channel shown on the handset's status bar.
    network: &'a str,
    phone: &'a str,
    title: &'a str,
    message: String,
    /// Where the form posts (`outcome` = the pressed choice's value);
    /// `None` once settled.
    action: Option<String>,
    /// The buttons under the PIN field.
    choices: &'a [PromptChoice],
    notice: Option<(Tone, String)>,
    /// Where the link shown once settled goes (a dashboard anchor).
    back: &'a str,
}

/// A button on a phone prompt: the `outcome` it posts, its label, its
/// style class and its `data-test` name.
struct PromptChoice {
    value: &'static str,
    label: &'static str,
    class: &'static str,
    test: &'static str,
}

const CLICKPESA_CHOICES: &[PromptChoice] = &[
    PromptChoice {
        value: "fail",
        label: "Cancel",
        class: "btn-ghost",
        test: "decline",
    },
    PromptChoice {
        value: "complete",
        label: "Send",
        class: "btn-primary",
        test: "pay",
    },
];

/// The handset's answers to an STK push: the `StkResult` name each posts.
const MPESA_CHOICES: &[PromptChoice] = &[
    PromptChoice {
        value: "cancelled_by_user",
        label: "Cancel",
        class: "btn-ghost",
        test: "decline",
    },
    PromptChoice {
        value: "success",
        label: "OK",
        class: "btn-primary",
        test: "pay",
    },
    PromptChoice {
        value: "wrong_pin",
        label: "Wrong PIN",
        class: "btn-danger",
        test: "wrong-pin",
    },
    PromptChoice {
        value: "insufficient_funds",
        label: "Insufficient funds",
        class: "btn-danger",
        test: "insufficient-funds",
    },
];

impl PhonePrompt<'_> {
    fn render(&self, status: StatusCode) -> Response {
        let form = match &self.action {
            Some(action) => {
                let buttons: String = self
                    .choices
                    .iter()
                    .map(|choice| {
                        format!(
                            "<button class=\"btn {}\" name=\"outcome\" value=\"{}\" data-test=\"{}\">{}</button>",
                            esc(choice.class),
                            esc(choice.value),
                            esc(choice.test),
                            esc(choice.label)
                        )
                    })
                    .collect();
                format!(
                    "<form method=\"post\" action=\"{}\">\
                     <input type=\"password\" name=\"pin\" inputmode=\"numeric\" maxlength=\"6\" placeholder=\"PIN\" aria-label=\"PIN\" autocomplete=\"off\">\
                     <div class=\"actions\">{buttons}</div></form>",
                    esc(action)
                )
            }
            None => format!(
                "<a class=\"btn btn-ghost\" href=\"{}\" data-test=\"back\">Back to the sandbox dashboard</a>",
                esc(self.back)
            ),
        };
        let notice_html = self
            .notice
            .as_ref()
            .map(|(tone, text)| notice(*tone, text))
            .unwrap_or_default();
        let initial: String = self.provider.chars().take(1).collect();
        let body = fill(
            PHONE,
            &[
                ("provider", &esc(self.provider)),
                ("provider_initial", &esc(&initial)),
                ("network", &esc(self.network)),
                ("phone", &esc(self.phone)),
                ("title", &esc(self.title)),
                ("message", &esc(&self.message)),
                ("notice", &notice_html),
                ("form", &form),
            ],
        );
        let title = format!("{} prompt (sandbox): {}", self.provider, self.phone);
        page(status, &title, "phone-prompt", &body, &nonce())
    }
}

fn clickpesa_prompt_url(order_reference: &str) -> String {
    format!(
        "/_sandbox/ui/clickpesa/{}",
        util::percent_encode(order_reference)
    )
}

fn find_payment(shared: &Shared, reference: &str) -> Option<ClickpesaPayment> {
    shared
        .lock()
        .payments
        .iter()
        .find(|p| p.order_reference == reference)
        .cloned()
}

fn clickpesa_view(payment: &ClickpesaPayment, notice: Option<(Tone, String)>) -> PhonePrompt<'_> {
    let pending = payment.state == PaymentState::Pending;
    PhonePrompt {
        provider: "ClickPesa",
        network: &payment.channel,
        phone: &payment.phone_number,
        title: "ClickPesa payment",
        message: format!(
            "Pay {} {} to {MERCHANT} for order {}? Enter your PIN to confirm.",
            payment.currency,
            group_thousands(&payment.amount),
            payment.order_reference
        ),
        action: pending.then(|| clickpesa_prompt_url(&payment.order_reference)),
        choices: CLICKPESA_CHOICES,
        notice: notice.or_else(|| {
            (!pending).then(|| (Tone::Info, format!("This payment is {}.", payment.state)))
        }),
        back: "/_sandbox/ui#payments",
    }
}

/// `GET /_sandbox/ui/clickpesa/{order_reference}`.
async fn clickpesa_prompt(
    State(shared): State<Arc<Shared>>,
    Path(reference): Path<String>,
) -> Response {
    match find_payment(&shared, &reference) {
        Some(payment) => clickpesa_view(&payment, None).render(StatusCode::OK),
        None => problem_page(
            StatusCode::NOT_FOUND,
            "Unknown payment",
            "No sandbox ClickPesa payment has this orderReference.",
        ),
    }
}

/// `POST /_sandbox/ui/clickpesa/{order_reference}` with `outcome`: settles
/// exactly as `POST /_sandbox/clickpesa/payments/…` and shows the result.
async fn clickpesa_answer(
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
    let result = settle::clickpesa(&shared, &reference, outcome).await;
    let Some(payment) = find_payment(&shared, &reference) else {
        return problem_page(
            StatusCode::NOT_FOUND,
            "Unknown payment",
            "No sandbox ClickPesa payment has this orderReference.",
        );
    };
    let (status, notice) = match result {
        Ok(delivery) => {
            let what = match outcome {
                Outcome::Completed => "Payment sent.",
                _ => "Payment cancelled.",
            };
            let tone = if delivery.is_success() {
                Tone::Ok
            } else {
                Tone::Bad
            };
            (
                StatusCode::OK,
                (
                    tone,
                    format!("{what} Merchant webhook: {}", delivery_summary(&delivery)),
                ),
            )
        }
        Err(err) => (StatusCode::CONFLICT, (Tone::Bad, err.to_string())),
    };
    clickpesa_view(&payment, Some(notice)).render(status)
}

// ----- M-Pesa (Daraja) STK push prompt -----

fn mpesa_prompt_url(checkout_request_id: &str) -> String {
    format!(
        "/_sandbox/ui/mpesa/{}",
        util::percent_encode(checkout_request_id)
    )
}

fn find_stk_push(shared: &Shared, checkout_request_id: &str) -> Option<MpesaStkPush> {
    let state = shared.lock();
    let index = *state.stk_index.get(checkout_request_id)?;
    state.stk_pushes.get(index).cloned()
}

/// What Lipa na M-Pesa Online shows on the handset: who is paid (paybill
/// and account number, or till), how much, and the PIN request.
fn mpesa_message(push: &MpesaStkPush) -> String {
    let amount = group_thousands(&push.amount.to_string());
    if push.transaction_type == "CustomerBuyGoodsOnline" {
        format!(
            "Do you want to pay KES {amount} to {MERCHANT} (till {}) for {}? Enter your M-PESA PIN.",
            push.party_b, push.account_reference
        )
    } else {
        format!(
            "Do you want to pay KES {amount} to {MERCHANT} (paybill {}), account no. {}? Enter your M-PESA PIN.",
            push.business_short_code, push.account_reference
        )
    }
}

fn mpesa_view(push: &MpesaStkPush, notice: Option<(Tone, String)>) -> PhonePrompt<'_> {
    let pending = push.state == PaymentState::Pending && push.result.is_none();
    PhonePrompt {
        provider: "M-Pesa",
        network: "Safaricom",
        phone: &push.phone_number,
        title: "M-PESA",
        message: mpesa_message(push),
        action: pending.then(|| mpesa_prompt_url(&push.checkout_request_id)),
        choices: MPESA_CHOICES,
        notice: notice.or_else(|| {
            push.result.map(|result| {
                (
                    Tone::Info,
                    format!("This push ended with {result}: {}", result.description()),
                )
            })
        }),
        back: "/_sandbox/ui#mpesa",
    }
}

/// `GET /_sandbox/ui/mpesa/{checkout_request_id}`.
async fn mpesa_prompt(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match find_stk_push(&shared, &id) {
        Some(push) => mpesa_view(&push, None).render(StatusCode::OK),
        None => problem_page(
            StatusCode::NOT_FOUND,
            "Unknown STK push",
            "No sandbox M-Pesa STK push has this CheckoutRequestID.",
        ),
    }
}

/// The receiver's answer, shortened for a notice.
fn answer_excerpt(body: &str) -> String {
    const MAX: usize = 300;
    let body = body.trim();
    if body.chars().count() <= MAX {
        return body.to_owned();
    }
    let mut short: String = body.chars().take(MAX).collect();
    short.push('…');
    short
}

/// `POST /_sandbox/ui/mpesa/{checkout_request_id}` with `outcome` (an
/// `StkResult` name or code): settles exactly as `POST
/// /_sandbox/mpesa/stk/{id}/{result}`, so the callback goes to the push's
/// `CallBackURL`, and shows the result and what the receiver answered.
async fn mpesa_answer(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(result) = form_value(&body, None, "outcome")
        .as_deref()
        .and_then(StkResult::parse)
    else {
        let names: Vec<&str> = StkResult::ALL.iter().map(|r| r.name()).collect();
        return problem_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            &format!("outcome must be one of {}.", names.join(", ")),
        );
    };
    let settled = settle::mpesa(&shared, &id, result).await;
    let Some(push) = find_stk_push(&shared, &id) else {
        return problem_page(
            StatusCode::NOT_FOUND,
            "Unknown STK push",
            "No sandbox M-Pesa STK push has this CheckoutRequestID.",
        );
    };
    let (status, notice) = match settled {
        Ok(delivery) => {
            let what = if result.is_success() {
                "Paid"
            } else {
                "Not paid"
            };
            let tone = if delivery.is_success() {
                Tone::Ok
            } else {
                Tone::Bad
            };
            let mut text = format!(
                "{what}: ResultCode {result}. Callback: {}.",
                delivery_summary(&delivery)
            );
            if delivery.status.is_some() && !delivery.body.trim().is_empty() {
                let _ = write!(text, " Answer: {}", answer_excerpt(&delivery.body));
            }
            (StatusCode::OK, (tone, text))
        }
        Err(err) => (StatusCode::CONFLICT, (Tone::Bad, err.to_string())),
    };
    mpesa_view(&push, Some(notice)).render(status)
}

fn delivery_summary(delivery: &Delivery) -> String {
    match (delivery.status, &delivery.error) {
        (Some(status), _) => format!("answered HTTP {status}"),
        (None, Some(error)) => format!("not delivered ({error})"),
        (None, None) => "not delivered".to_owned(),
    }
}

// ----- the dashboard -----

/// Header names whose values are credentials.
fn secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "api-key" | "client-id" | "x-api-key" | "cookie" | "proxy-authorization"
    )
}

/// JSON member names whose values are credentials.
fn secret_member(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("secret")
        || name.contains("password")
        || name.contains("token")
        || name == "consumer_key"
        || name == "api_key"
        || name == "apikey"
}

fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, member) in map.iter_mut() {
                if secret_member(name) {
                    *member = Value::String("[redacted]".to_owned());
                } else {
                    redact_json(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// A recorded body for display: pretty JSON with credentials redacted, or
/// the text (marked when it was not JSON).
fn redacted_body(request: &RecordedRequest) -> String {
    if request.body.is_empty() {
        return String::new();
    }
    match request.json() {
        Ok(mut value) => {
            redact_json(&mut value);
            serde_json::to_string_pretty(&value).unwrap_or_default()
        }
        Err(_) => request.body_text(),
    }
}

fn pretty(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_owned()),
        Err(_) => text.to_owned(),
    }
}

fn details(summary: &str, content: &str) -> String {
    if content.is_empty() {
        return "<span class=\"muted\">&mdash;</span>".to_owned();
    }
    format!(
        "<details><summary>{}</summary><pre>{}</pre></details>",
        esc(summary),
        esc(content)
    )
}

fn table(head: &[&str], rows: &[String], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let mut out = String::from("<div class=\"table-wrap\"><table><thead><tr>");
    for column in head {
        let _ = write!(out, "<th>{}</th>", esc(column));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str(row);
    }
    out.push_str("</tbody></table></div>");
    out
}

fn call_button(label: &str, method: &str, url: &str, class: &str) -> String {
    format!(
        "<button type=\"button\" class=\"btn btn-small {}\" data-call=\"{} {}\">{}</button>",
        esc(class),
        esc(method),
        esc(url),
        esc(label)
    )
}

fn delivery_badge(delivery: Option<&Delivery>) -> String {
    match delivery {
        None => "<span class=\"badge badge-none\">none yet</span>".to_owned(),
        Some(d) => {
            let class = if d.is_success() { "ok" } else { "bad" };
            let text = match d.status {
                Some(status) => format!("{} &rarr; {status}", esc(&d.method)),
                None => format!("{} &rarr; no answer", esc(&d.method)),
            };
            format!("<span class=\"badge badge-{class}\">{text}</span>")
        }
    }
}

/// The last notification that mentions `needle` (a tracking id in a GET
/// IPN's URL, or a reference in a POST body).
fn last_delivery_for<'a>(deliveries: &'a [Delivery], needle: &str) -> Option<&'a Delivery> {
    deliveries.iter().rev().find(|d| {
        d.url.as_deref().is_some_and(|u| u.contains(needle)) || d.request_body.contains(needle)
    })
}

fn state_counts<'a>(states: impl Iterator<Item = &'a PaymentState>) -> String {
    let mut counts = [0usize; 4];
    for state in states {
        counts[match state {
            PaymentState::Pending => 0,
            PaymentState::Completed => 1,
            PaymentState::Failed => 2,
            PaymentState::Reversed => 3,
        }] += 1;
    }
    let mut out = String::new();
    for (i, state) in [
        PaymentState::Pending,
        PaymentState::Completed,
        PaymentState::Failed,
        PaymentState::Reversed,
    ]
    .into_iter()
    .enumerate()
    {
        if counts[i] > 0 {
            let _ = write!(
                out,
                "<span class=\"badge badge-{state}\">{} {state}</span>",
                counts[i]
            );
        }
    }
    out
}

fn tile(value: usize, label: &str, detail: &str) -> String {
    format!(
        "<div class=\"tile\"><div class=\"tile-value\">{value}</div><div class=\"tile-label\">{}</div>\
         <div class=\"tile-detail\">{detail}</div></div>",
        esc(label)
    )
}

fn pesapal_row(order: &PesapalOrder, deliveries: &[Delivery]) -> String {
    let id = &order.order_tracking_id;
    let control = |action: &str| {
        format!(
            "/_sandbox/pesapal/orders/{}/{action}",
            util::percent_encode(id)
        )
    };
    let mut actions = String::new();
    if matches!(order.state, PaymentState::Pending | PaymentState::Failed) {
        let _ = write!(
            actions,
            "<a class=\"btn btn-small btn-ghost\" href=\"{}\" data-test=\"open-checkout\">Checkout page</a>",
            esc(&pesapal_redirect_url("", id))
        );
    }
    for (label, action, outcome, class) in [
        ("Complete", "complete", Outcome::Completed, "btn-primary"),
        ("Fail", "fail", Outcome::Failed, "btn-danger"),
        ("Reverse", "reverse", Outcome::Reversed, "btn-ghost"),
    ] {
        if settle::pesapal_allows(order.state, outcome)
            && order.state != PaymentState::from(outcome)
        {
            actions.push_str(&call_button(label, "POST", &control(action), class));
        }
    }
    format!(
        "<tr data-test=\"pesapal-order\"><td class=\"nowrap\">{created}</td>\
         <td><code>{reference}</code><div class=\"muted small mono\">{id}</div></td>\
         <td class=\"num\">{currency} {amount}</td><td class=\"clip\">{description}</td>\
         <td>{state}</td><td>{delivery}</td><td><div class=\"row-actions\">{actions}</div></td></tr>",
        created = esc(&order.created_date.replace('T', " ")),
        reference = esc(&order.merchant_reference),
        id = esc(id),
        currency = esc(&order.currency),
        amount = esc(&group_thousands(&order.amount)),
        description = esc(&order.description),
        state = badge(order.state),
        delivery = delivery_badge(last_delivery_for(deliveries, id)),
    )
}

fn clickpesa_row(payment: &ClickpesaPayment, deliveries: &[Delivery]) -> String {
    let reference = &payment.order_reference;
    let control = |action: &str| {
        format!(
            "/_sandbox/clickpesa/payments/{}/{action}",
            util::percent_encode(reference)
        )
    };
    let mut actions = String::new();
    if payment.state == PaymentState::Pending {
        let (page, label) = match payment.kind {
            crate::model::ClickpesaKind::UssdPush => {
                (clickpesa_prompt_url(reference), "Phone prompt")
            }
            _ => (
                crate::clickpesa_hosted::page_path(reference),
                "Payment page",
            ),
        };
        let _ = write!(
            actions,
            "<a class=\"btn btn-small btn-ghost\" href=\"{}\" data-test=\"open-prompt\">{label}</a>",
            esc(&page)
        );
        actions.push_str(&call_button(
            "Complete",
            "POST",
            &control("complete"),
            "btn-primary",
        ));
        actions.push_str(&call_button("Fail", "POST", &control("fail"), "btn-danger"));
    }
    format!(
        "<tr data-test=\"clickpesa-payment\"><td class=\"nowrap\">{created}</td>\
         <td><code>{reference}</code><div class=\"muted small mono\">{id}</div></td>\
         <td class=\"num\">{currency} {amount}</td><td class=\"nowrap\">{phone}<div class=\"muted small\">{channel}</div></td>\
         <td>{state}</td><td>{delivery}</td><td><div class=\"row-actions\">{actions}</div></td></tr>",
        created = esc(&payment.created_at.replace('T', " ")),
        reference = esc(reference),
        id = esc(&payment.id),
        currency = esc(&payment.currency),
        amount = esc(&group_thousands(&payment.amount)),
        phone = esc(&payment.phone_number),
        channel = esc(&payment.channel),
        state = badge(payment.state),
        delivery = delivery_badge(last_delivery_for(deliveries, reference)),
    )
}

/// `20261206014512` → `2026-12-06 01:45:12`; other text as it came.
fn compact_time(text: &str) -> String {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_owned();
    }
    format!(
        "{}-{}-{} {}:{}:{}",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[8..10],
        &text[10..12],
        &text[12..14]
    )
}

fn mpesa_row(push: &MpesaStkPush, deliveries: &[Delivery]) -> String {
    let id = &push.checkout_request_id;
    let control = |result: StkResult| {
        format!(
            "/_sandbox/mpesa/stk/{}/{}",
            util::percent_encode(id),
            result.name()
        )
    };
    let mut actions = String::new();
    match push.result {
        None => {
            let _ = write!(
                actions,
                "<a class=\"btn btn-small btn-ghost\" href=\"{}\" data-test=\"open-stk-prompt\">Phone prompt</a>",
                esc(&mpesa_prompt_url(id))
            );
            for (label, result, class) in [
                ("Pay", StkResult::Success, "btn-primary"),
                ("Cancel", StkResult::CancelledByUser, "btn-danger"),
                ("Wrong PIN", StkResult::WrongPin, "btn-ghost"),
                ("No funds", StkResult::InsufficientFunds, "btn-ghost"),
            ] {
                actions.push_str(&call_button(label, "POST", &control(result), class));
            }
        }
        // Daraja results are final; the same result redelivers the callback.
        Some(result) => actions.push_str(&call_button(
            "Resend callback",
            "POST",
            &control(result),
            "btn-ghost",
        )),
    }
    let result = push
        .result
        .map(|r| {
            format!(
                "<div class=\"muted small mono\">{}</div>",
                esc(&r.to_string())
            )
        })
        .unwrap_or_default();
    let last = last_delivery_for(deliveries, id);
    let answer = last
        .filter(|d| d.status.is_some())
        .map(|d| details("answer", &pretty(&d.body)))
        .unwrap_or_default();
    format!(
        "<tr data-test=\"mpesa-push\"><td class=\"nowrap\">{created}</td>\
         <td><code>{reference}</code><div class=\"muted small mono\">{id}</div></td>\
         <td class=\"num\">KES {amount}</td><td class=\"nowrap\">{phone}<div class=\"muted small\">{kind} {shortcode}</div></td>\
         <td>{state}{result}</td><td>{delivery}{answer}</td><td><div class=\"row-actions\">{actions}</div></td></tr>",
        created = esc(&compact_time(&push.created_at)),
        reference = esc(&push.account_reference),
        id = esc(id),
        amount = esc(&group_thousands(&push.amount.to_string())),
        phone = esc(&push.phone_number),
        kind = if push.transaction_type == "CustomerBuyGoodsOnline" {
            "till"
        } else {
            "paybill"
        },
        shortcode = esc(if push.transaction_type == "CustomerBuyGoodsOnline" {
            &push.party_b
        } else {
            &push.business_short_code
        }),
        state = badge(push.state),
        delivery = delivery_badge(last),
    )
}

fn delivery_row(number: usize, delivery: &Delivery) -> String {
    let answer = match (&delivery.status, &delivery.error) {
        (Some(_), _) => details("response body", &pretty(&delivery.body)),
        (None, Some(error)) => format!("<span class=\"muted\">{}</span>", esc(error)),
        (None, None) => String::new(),
    };
    format!(
        "<tr data-test=\"delivery\"><td class=\"num\">{number}</td><td><span class=\"method-tag\">{method}</span></td>\
         <td class=\"clip mono\">{url}</td><td>{sent}</td><td>{status}</td><td>{answer}</td></tr>",
        method = esc(&delivery.method),
        url = esc(delivery.url.as_deref().unwrap_or("(no URL configured)")),
        sent = details("body sent", &pretty(&delivery.request_body)),
        status = delivery_badge(Some(delivery)),
    )
}

fn request_row(number: usize, request: &RecordedRequest) -> String {
    let mut target = request.path.clone();
    if let Some(query) = &request.query {
        target.push('?');
        target.push_str(query);
    }
    let headers: String = request
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if secret_header(name) {
                "[redacted]"
            } else {
                value.as_str()
            };
            format!("{name}: {shown}\n")
        })
        .collect();
    format!(
        "<tr data-test=\"request\"><td class=\"num\">{number}</td><td><span class=\"method-tag\">{method}</span></td>\
         <td class=\"clip mono\">{target}</td><td>{headers}</td><td>{body}</td></tr>",
        method = esc(&request.method),
        target = esc(&target),
        headers = details("headers", headers.trim_end()),
        body = details("body", &redacted_body(request)),
    )
}

fn fault_line(fault: &crate::fault::Fault) -> String {
    let json = fault.to_json();
    let mut text = format!("{} on {}", fault.kind.name(), fault.target.name());
    if let Some(delay) = json.get("delay_ms").and_then(Value::as_u64) {
        let _ = write!(text, " ({delay} ms)");
    }
    if let Some(status) = json.get("status").and_then(Value::as_u64) {
        let _ = write!(text, " (HTTP {status})");
    }
    match fault.times {
        Some(1) => text.push_str(", next request"),
        Some(n) => {
            let _ = write!(text, ", next {n} requests");
        }
        None => text.push_str(", until cleared"),
    }
    format!("<li data-test=\"fault\">{}</li>", esc(&text))
}

/// `GET /` and `GET /_sandbox/ui`.
async fn dashboard(State(shared): State<Arc<Shared>>) -> Response {
    let (orders, payments, pushes, ipns, deliveries, requests, faults, webhook) = {
        let state = shared.lock();
        (
            state.orders.clone(),
            state.payments.clone(),
            state.stk_pushes.clone(),
            state.ipns.clone(),
            state.deliveries.clone(),
            state
                .requests
                .iter()
                .enumerate()
                .rev()
                .take(REQUESTS_SHOWN)
                .map(|(i, r)| (i, r.clone()))
                .collect::<Vec<_>>(),
            state.faults.clone(),
            state.config.clickpesa_webhook_url.clone(),
        )
    };
    let request_total = shared.lock().requests.len();
    let delivered_ok = deliveries.iter().filter(|d| d.is_success()).count();
    let delivered_bad = deliveries.len() - delivered_ok;

    let mut delivery_detail = String::new();
    if delivered_ok > 0 {
        let _ = write!(
            delivery_detail,
            "<span class=\"badge badge-ok\">{delivered_ok} answered 2xx</span>"
        );
    }
    if delivered_bad > 0 {
        let _ = write!(
            delivery_detail,
            "<span class=\"badge badge-bad\">{delivered_bad} not 2xx</span>"
        );
    }
    let tiles = [
        tile(
            orders.len(),
            "PesaPal orders",
            &state_counts(orders.iter().map(|o| &o.state)),
        ),
        tile(
            payments.len(),
            "ClickPesa payments",
            &state_counts(payments.iter().map(|p| &p.state)),
        ),
        tile(
            pushes.len(),
            "M-Pesa STK pushes",
            &state_counts(pushes.iter().map(|p| &p.state)),
        ),
        tile(deliveries.len(), "Notifications sent", &delivery_detail),
        tile(request_total, "Provider requests", ""),
        tile(
            faults.len(),
            "Active faults",
            if faults.is_empty() {
                "<span class=\"badge badge-ok\">all healthy</span>"
            } else {
                "<span class=\"badge badge-bad\">misbehaving</span>"
            },
        ),
    ]
    .concat();

    let order_rows: Vec<String> = orders
        .iter()
        .rev()
        .map(|o| pesapal_row(o, &deliveries))
        .collect();
    let payment_rows: Vec<String> = payments
        .iter()
        .rev()
        .map(|p| clickpesa_row(p, &deliveries))
        .collect();
    let push_rows: Vec<String> = pushes
        .iter()
        .rev()
        .map(|p| mpesa_row(p, &deliveries))
        .collect();
    let delivery_rows: Vec<String> = deliveries
        .iter()
        .enumerate()
        .rev()
        .map(|(i, d)| delivery_row(i + 1, d))
        .collect();
    let request_rows: Vec<String> = requests
        .iter()
        .map(|(i, r)| request_row(i + 1, r))
        .collect();
    let ipn_rows: Vec<String> = ipns
        .iter()
        .map(|ipn| {
            format!(
                "<tr><td><code>{}</code></td><td><span class=\"method-tag\">{}</span></td><td class=\"clip mono\">{}</td><td class=\"nowrap\">{}</td></tr>",
                esc(&ipn.ipn_id),
                esc(ipn.method.as_str()),
                esc(&ipn.url),
                esc(&ipn.created_date.replace('T', " ")),
            )
        })
        .collect();
    let fault_list = if faults.is_empty() {
        "<p class=\"empty\">No faults: every endpoint answers normally.</p>".to_owned()
    } else {
        let items: String = faults.iter().map(fault_line).collect();
        format!("<ul class=\"fault-list\">{items}</ul>")
    };
    let target_options: String = Target::ALL
        .iter()
        .map(|t| format!("<option>{}</option>", esc(t.name())))
        .collect();
    let kind_options: String = FAULT_KINDS
        .iter()
        .map(|k| format!("<option>{}</option>", esc(k)))
        .collect();
    let request_limit = if request_total > REQUESTS_SHOWN {
        format!(", the last {REQUESTS_SHOWN} of {request_total}")
    } else {
        String::new()
    };
    let webhook = match webhook {
        Some(url) => format!("<code>{}</code>", esc(&url)),
        None => "<span class=\"muted\">not set (PUT /_sandbox/clickpesa/webhook)</span>".to_owned(),
    };
    let nonce = nonce();
    let origin = &shared.origin;
    let body = fill(
        DASHBOARD,
        &[
            ("pesapal_base", &esc(&format!("{origin}/pesapalv3"))),
            ("clickpesa_base", &esc(&format!("{origin}/third-parties"))),
            (
                "mpesa_base",
                &esc(&format!("{origin}{}", crate::mpesa::PREFIX)),
            ),
            ("tiles", &tiles),
            ("pesapal_count", &orders.len().to_string()),
            (
                "pesapal_orders",
                &table(
                    &[
                        "created (EAT)",
                        "reference",
                        "amount",
                        "description",
                        "state",
                        "last IPN",
                        "",
                    ],
                    &order_rows,
                    "No orders yet: POST /payments with provider pesapal.",
                ),
            ),
            ("clickpesa_count", &payments.len().to_string()),
            (
                "clickpesa_payments",
                &table(
                    &[
                        "created (UTC)",
                        "reference",
                        "amount",
                        "phone",
                        "state",
                        "last webhook",
                        "",
                    ],
                    &payment_rows,
                    "No payments yet: POST /payments with provider clickpesa.",
                ),
            ),
            ("mpesa_count", &pushes.len().to_string()),
            (
                "mpesa_pushes",
                &table(
                    &[
                        "created (EAT)",
                        "reference",
                        "amount",
                        "phone",
                        "state",
                        "last callback",
                        "",
                    ],
                    &push_rows,
                    "No STK pushes yet: POST /payments with provider mpesa.",
                ),
            ),
            ("delivery_count", &deliveries.len().to_string()),
            (
                "deliveries",
                &table(
                    &["#", "method", "to", "sent", "answer", "answer body"],
                    &delivery_rows,
                    "Nothing sent yet: settle an order.",
                ),
            ),
            ("fault_count", &faults.len().to_string()),
            ("faults", &fault_list),
            ("target_options", &target_options),
            ("kind_options", &kind_options),
            ("ipn_count", &ipns.len().to_string()),
            (
                "ipns",
                &table(
                    &["ipn_id", "method", "url", "registered (UTC)"],
                    &ipn_rows,
                    "No IPN URL registered yet.",
                ),
            ),
            ("webhook_url", &webhook),
            ("request_count", &request_total.to_string()),
            ("request_limit", &esc(&request_limit)),
            (
                "requests",
                &table(
                    &["#", "method", "path", "headers", "body"],
                    &request_rows,
                    "No provider requests yet.",
                ),
            ),
            ("nonce", &nonce),
            ("script", DASHBOARD_JS),
        ],
    );
    page(
        StatusCode::OK,
        "finconnect-sandbox",
        "dashboard-page",
        &body,
        &nonce,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<script>alert('x')</script> & "y""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn fill_does_not_rescan_inserted_text() {
        assert_eq!(
            fill(
                "<p>{{a}} {{b}} {{missing}}</p>",
                &[("a", "{{b}}"), ("b", "B")]
            ),
            "<p>{{b}} B {{missing}}</p>"
        );
        assert_eq!(fill("tail {{open", &[]), "tail {{open");
    }

    #[test]
    fn thousands_are_grouped_as_text() {
        assert_eq!(group_thousands("1500.00"), "1,500.00");
        assert_eq!(group_thousands("1000"), "1,000");
        assert_eq!(group_thousands("999"), "999");
        assert_eq!(group_thousands("1234567.5"), "1,234,567.5");
        assert_eq!(group_thousands("1e3"), "1e3");
        assert_eq!(group_thousands("-5"), "-5");
    }

    #[test]
    fn credentials_are_redacted_from_bodies_and_headers() {
        let request = RecordedRequest {
            method: "POST".to_owned(),
            path: "/pesapalv3/api/Auth/RequestToken".to_owned(),
            query: None,
            headers: vec![("authorization".to_owned(), "Bearer abc".to_owned())],
            body: br#"{"consumer_key":"k1","consumer_secret":"s1","nested":{"api_key":"a1"},"amount":"5"}"#
                .to_vec(),
        };
        let body = redacted_body(&request);
        assert!(
            !body.contains("k1") && !body.contains("s1") && !body.contains("a1"),
            "{body}"
        );
        assert!(body.contains("\"amount\": \"5\""), "{body}");
        let row = request_row(1, &request);
        assert!(!row.contains("Bearer abc"), "{row}");
        assert!(secret_header("Api-Key") && secret_header("client-id"));
        assert!(!secret_header("content-type"));
    }
}
