//! A loopback emulator of the PesaPal API 3.0, ClickPesa and M-Pesa Daraja
//! endpoints that FinConnect uses, in the spirit of `stripe-mock`.
//!
//! ```no_run
//! use finconnect_sandbox::{Fault, FaultKind, Outcome, Sandbox, SandboxConfig, Target};
//!
//! let sandbox = Sandbox::start(SandboxConfig::default())?;
//! // Point the client at sandbox.pesapal_base_url() / sandbox.clickpesa_base_url(),
//! // create a payment through it, then:
//! let order = sandbox.pesapal_orders().pop().expect("an order");
//! let delivery = sandbox.settle_pesapal(&order.order_tracking_id, Outcome::Completed)?;
//! assert_eq!(delivery.status, Some(200));
//! // Make the next status call fail like an edge proxy would:
//! sandbox.inject(Fault::once(Target::PesapalStatus, FaultKind::Html500));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it emulates (shapes from the provider notes in `shared/specs`):
//!
//! - PesaPal under `/pesapalv3`: `Auth/RequestToken`, `URLSetup/RegisterIPN`,
//!   `URLSetup/GetIpnList`, `Transactions/SubmitOrderRequest`,
//!   `Transactions/GetTransactionStatus`, with PesaPal's habits (HTTP 200
//!   carrying an error, `status` as a string, the "pending looks like an
//!   error" status body), plus a bare hosted payment page at `redirect_url`.
//! - ClickPesa under `/third-parties`: `generate-token`,
//!   `payments/initiate-ussd-push-request`, `payments/{orderReference}`,
//!   `checkout-link/generate-checkout-url` and `payments/initiate-card-payment`
//!   (their links open a sandbox page where the tester pays or declines),
//!   `payments/preview-ussd-push-request` and `payments/preview-card-payment`,
//!   `payments/all` (filters, sorting and paging; `{data, totalCount}`),
//!   with NestJS-style errors and the canonical checksum.
//! - M-Pesa Daraja under `/mpesa-daraja`: `oauth/v1/generate`,
//!   `mpesa/stkpush/v1/processrequest`, `mpesa/stkpushquery/v1/query`, with
//!   Apigee-style `{requestId, errorCode, errorMessage}` errors, Daraja's
//!   order of checks, string `ResponseCode`/`ResultCode`, and the STK
//!   callback envelope byte for byte.
//! - Settling a payment delivers the PesaPal IPN (GET or POST, as
//!   registered) or the ClickPesa webhook (signed when a checksum key is
//!   set) or the M-Pesa STK callback, and reports what the receiver answered.
//! - Faults ([`Fault`]) make chosen endpoints misbehave.
//! - `/_sandbox/…` exposes the same controls as JSON over HTTP.
//!
//! Everything is in memory and forgotten when the [`Sandbox`] is dropped.

mod clickpesa;
mod clickpesa_billpay;
mod clickpesa_hosted;
mod clickpesa_listing;
mod clickpesa_payouts;
mod clickpesa_preview;
mod control;
mod deliver;
mod fault;
mod model;
mod mpesa;
mod pesapal;
mod pesapal_recurring;
mod server;
mod settle;
mod state;
mod ui;
mod util;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

pub use clickpesa_payouts::{ClickpesaPayout, PayoutOutcome};
pub use fault::{Fault, FaultKind, Target};
pub use model::{
    ClickpesaKind, ClickpesaPayment, Delivery, IpnMethod, IpnRegistration, MPESA_CONSUMER_KEY,
    MPESA_CONSUMER_SECRET, MPESA_PASSKEY, MPESA_SHORTCODE, MPESA_TEST_MSISDN, MPESA_TILL_NUMBER,
    MpesaOptions, MpesaStkPush, Outcome, PaymentState, PesapalOrder, RecordedRequest,
    SandboxConfig, SandboxError, StkResult,
};

use state::Shared;

/// A running sandbox. It serves on its own thread with its own Tokio
/// runtime; dropping it stops the server.
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    runtime: tokio::runtime::Handle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts on `127.0.0.1` with a free port.
    ///
    /// # Errors
    /// When the socket cannot be bound or the runtime cannot start.
    pub fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        Sandbox::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config)
    }

    /// Starts on `addr`. The library binds what it is given; the binary
    /// refuses non-loopback addresses unless told otherwise.
    ///
    /// # Errors
    /// When the socket cannot be bound or the runtime cannot start.
    pub fn start_on(addr: SocketAddr, config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared::new(config, format!("http://{addr}")));
        let app = server::router(Arc::clone(&shared));
        let handle = runtime.handle().clone();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("finconnect-sandbox-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let serve = async move { axum::serve(listener, app).await };
                    tokio::select! {
                        _ = serve => {}
                        _ = stop => {}
                    }
                });
                // Connections still open (a slow fault, a keep-alive client)
                // are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Sandbox {
            shared,
            addr,
            runtime: handle,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        self.shared.origin.clone()
    }

    /// The path under which the sandbox serves `provider` (`/pesapalv3`):
    /// the value for FinConnect's `<provider>_path`.
    pub fn path(provider: finconnect_core::Provider) -> &'static str {
        server::prefix(provider)
    }

    /// The PesaPal base URL: origin + `/pesapalv3`.
    pub fn pesapal_base_url(&self) -> String {
        format!("{}{}", self.shared.origin, pesapal::PREFIX)
    }

    /// The ClickPesa base URL: origin + `/third-parties`.
    pub fn clickpesa_base_url(&self) -> String {
        format!("{}{}", self.shared.origin, clickpesa::PREFIX)
    }

    /// The M-Pesa Daraja base URL: origin + `/mpesa-daraja` (FinConnect's
    /// `mpesa_base_url`).
    pub fn mpesa_base_url(&self) -> String {
        format!("{}{}", self.shared.origin, mpesa::PREFIX)
    }

    /// The configuration in force (including a webhook URL or M-Pesa
    /// options set later).
    pub fn config(&self) -> SandboxConfig {
        self.shared.lock().config.clone()
    }

    /// Every provider request received, in order (control calls and the
    /// hosted payment page are not recorded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Adds a fault. Faults are checked in the order added; the first that
    /// covers a request applies (before normal handling) and is counted down.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// The faults still active.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.lock().faults.clone()
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Where ClickPesa webhooks go (`None`: nowhere).
    pub fn set_clickpesa_webhook_url(&self, url: Option<String>) {
        self.shared.lock().config.clickpesa_webhook_url = url;
    }

    /// The Daraja behaviour switches in force.
    pub fn mpesa_options(&self) -> MpesaOptions {
        self.shared.lock().config.mpesa_options.clone()
    }

    /// Replaces the Daraja behaviour switches (takes effect on the next
    /// request).
    pub fn set_mpesa_options(&self, options: MpesaOptions) {
        self.shared.lock().config.mpesa_options = options;
    }

    /// The sandbox's current time (token expiry, Daraja ids and dates).
    pub fn now(&self) -> SystemTime {
        self.shared.lock().now()
    }

    /// Stops the sandbox clock at `at` (plus any offset from
    /// [`Sandbox::advance_clock`]) so that time-derived ids and dates are
    /// fixed.
    pub fn pin_clock(&self, at: SystemTime) {
        self.shared.lock().clock.pinned = Some(at);
    }

    /// Lets the sandbox clock follow the system clock again (keeping the
    /// offset).
    pub fn unpin_clock(&self) {
        self.shared.lock().clock.pinned = None;
    }

    /// Moves the sandbox clock forward, e.g. past a token's lifetime,
    /// without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        let mut state = self.shared.lock();
        state.clock.offset = state.clock.offset.saturating_add(by);
    }

    /// Prints provider requests, faults and deliveries to stderr.
    pub fn set_verbose(&self, on: bool) {
        self.shared.set_verbose(on);
    }

    /// Settles a PesaPal order and delivers the IPN to the URL registered
    /// under its `notification_id` (GET with query parameters or POST with
    /// a JSON body, as registered). Blocks until the receiver answered; the
    /// sandbox keeps serving meanwhile, so the receiver may call
    /// `GetTransactionStatus` before answering. From async code prefer
    /// [`Sandbox::settle_pesapal_async`].
    ///
    /// # Errors
    /// Unknown order, a move the provider would not make (e.g. failing a
    /// completed order), or a stopped sandbox. A receiver that cannot be
    /// reached is not an error: see [`Delivery::status`] and
    /// [`Delivery::error`].
    pub fn settle_pesapal(
        &self,
        order_tracking_id: &str,
        outcome: Outcome,
    ) -> Result<Delivery, SandboxError> {
        let shared = Arc::clone(&self.shared);
        let id = order_tracking_id.to_owned();
        self.block_on_runtime(async move { settle::pesapal(&shared, &id, outcome).await })
    }

    /// [`Sandbox::settle_pesapal`] for async callers (any executor).
    ///
    /// # Errors
    /// As [`Sandbox::settle_pesapal`].
    pub async fn settle_pesapal_async(
        &self,
        order_tracking_id: &str,
        outcome: Outcome,
    ) -> Result<Delivery, SandboxError> {
        let shared = Arc::clone(&self.shared);
        let id = order_tracking_id.to_owned();
        self.await_on_runtime(async move { settle::pesapal(&shared, &id, outcome).await })
            .await
    }

    /// Settles a ClickPesa payment (`Completed` → `SUCCESS` and a
    /// `PAYMENT RECEIVED` webhook, `Failed` → `FAILED` and `PAYMENT FAILED`)
    /// and delivers the webhook to the configured URL, signed when a
    /// checksum key is set. Blocks like [`Sandbox::settle_pesapal`].
    ///
    /// # Errors
    /// Unknown reference, `Reversed` (ClickPesa has no such collection
    /// webhook), changing a final state, or a stopped sandbox.
    pub fn settle_clickpesa(
        &self,
        order_reference: &str,
        outcome: Outcome,
    ) -> Result<Delivery, SandboxError> {
        let shared = Arc::clone(&self.shared);
        let reference = order_reference.to_owned();
        self.block_on_runtime(async move { settle::clickpesa(&shared, &reference, outcome).await })
    }

    /// [`Sandbox::settle_clickpesa`] for async callers (any executor).
    ///
    /// # Errors
    /// As [`Sandbox::settle_clickpesa`].
    pub async fn settle_clickpesa_async(
        &self,
        order_reference: &str,
        outcome: Outcome,
    ) -> Result<Delivery, SandboxError> {
        let shared = Arc::clone(&self.shared);
        let reference = order_reference.to_owned();
        self.await_on_runtime(async move { settle::clickpesa(&shared, &reference, outcome).await })
            .await
    }

    /// Settles an M-Pesa STK push with `result` and POSTs the STK callback
    /// to its `CallBackURL` (success: `CallbackMetadata` with the amount, a
    /// receipt number, a value-less `Balance`, the EAT `TransactionDate`
    /// and the phone; otherwise no metadata). Frees the phone for another
    /// push. Blocks like [`Sandbox::settle_pesapal`].
    ///
    /// # Errors
    /// Unknown `CheckoutRequestID`, a push that already ended with another
    /// result, or a stopped sandbox.
    pub fn settle_mpesa(
        &self,
        checkout_request_id: &str,
        result: StkResult,
    ) -> Result<Delivery, SandboxError> {
        let shared = Arc::clone(&self.shared);
        let id = checkout_request_id.to_owned();
        self.block_on_runtime(async move { settle::mpesa(&shared, &id, result).await })
    }

    /// [`Sandbox::settle_mpesa`] for async callers (any executor).
    ///
    /// # Errors
    /// As [`Sandbox::settle_mpesa`].
    pub async fn settle_mpesa_async(
        &self,
        checkout_request_id: &str,
        result: StkResult,
    ) -> Result<Delivery, SandboxError> {
        let shared = Arc::clone(&self.shared);
        let id = checkout_request_id.to_owned();
        self.await_on_runtime(async move { settle::mpesa(&shared, &id, result).await })
            .await
    }

    /// M-Pesa STK pushes, in acceptance order.
    pub fn mpesa_stk_pushes(&self) -> Vec<MpesaStkPush> {
        self.shared.lock().stk_pushes.clone()
    }

    /// PesaPal IPN registrations, in order.
    pub fn pesapal_ipns(&self) -> Vec<IpnRegistration> {
        self.shared.lock().ipns.clone()
    }

    /// PesaPal orders, in submission order (a re-used merchant reference
    /// shows up twice).
    pub fn pesapal_orders(&self) -> Vec<PesapalOrder> {
        self.shared.lock().orders.clone()
    }

    /// ClickPesa payments, in initiation order.
    pub fn clickpesa_payments(&self) -> Vec<ClickpesaPayment> {
        self.shared.lock().payments.clone()
    }

    /// What the sandbox accepts and serves, as JSON (the same document as
    /// `GET /_sandbox`).
    pub fn describe(&self) -> serde_json::Value {
        control::describe(&self.shared)
    }

    /// Every notification sent so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    /// Runs `future` on the sandbox runtime and waits on this thread.
    fn block_on_runtime<F>(&self, future: F) -> Result<Delivery, SandboxError>
    where
        F: Future<Output = Result<Delivery, SandboxError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().unwrap_or(Err(SandboxError::Stopped))
    }

    /// Runs `future` on the sandbox runtime and awaits it from any executor.
    async fn await_on_runtime<F>(&self, future: F) -> Result<Delivery, SandboxError>
    where
        F: Future<Output = Result<Delivery, SandboxError>> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.await.unwrap_or(Err(SandboxError::Stopped))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync>() {}

    #[test]
    fn the_handle_can_be_shared_between_threads() {
        shareable::<Sandbox>();
        shareable::<Delivery>();
        shareable::<Fault>();
        shareable::<MpesaStkPush>();
    }
}
