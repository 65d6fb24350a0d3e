//! A wasmtime host for the FinConnect component: the test harness and the
//! local runner behind `finconnect-host up`.
//!
//! It runs `finconnect.wasm` the way Spin does: variables resolved from
//! `spin.toml` (defaults, `.env`, `SPIN_VARIABLE_*`), served to the component
//! through `wasi:config/store` (and `fermyon:spin/variables` for the
//! `spin-variables` build), outbound HTTP limited to `allowed_outbound_hosts`,
//! Spin's `default` key-value store (`wasi:keyvalue/store`, `batch` and
//! `atomics`, shared by the host's instances: in memory, or in a SQLite file
//! with [`HostBuilder::keyvalue_file`]), and a fresh instance for every call
//! or request.
//!
//! ```no_run
//! use finconnect_host::{Host, PaymentRequest, Provider};
//! # fn request() -> PaymentRequest { unimplemented!() }
//! # fn main() -> anyhow::Result<()> {
//! let host = Host::builder("target/wasm32-wasip2/release/finconnect.wasm")
//!     .manifest("spin.toml")
//!     .app_variable("pesapal_origin", "http://127.0.0.1:9400")
//!     .build()?;
//! let payment = host.pay_blocking(Provider::Pesapal, &request())?;
//! println!("{payment:?}");
//! # Ok(()) }
//! ```
//!
//! The `async` methods need a tokio runtime (they use it for outbound HTTP);
//! the `*_blocking` ones bring their own.

mod allowed_hosts;
mod billpay_calls;
pub mod bindings;
pub mod compose;
pub mod imports;
mod keyvalue;
pub mod manifest;
mod outbound;
mod output;
mod payout_calls;
mod state;

pub use allowed_hosts::AllowedHosts;
pub use bindings::exports::finconnect::payments::payouts;
pub use bindings::exports::finconnect::payments::types;
/// The component's `error` variant (`types::Error`), renamed so it does not read as a host error.
pub use bindings::exports::finconnect::payments::types::Error as ApiError;
pub use bindings::exports::finconnect::payments::types::{
    Acknowledgement, AuthError, CallError, Cancellation, ConfigError, Customer, FieldError,
    IncomingNotification, IpnListing, IpnRegistration, IpnRequest, NotificationCheck,
    NotificationError, NotificationFacts, NotificationResult, NotificationType, Payment,
    PaymentDetails, PaymentMethod, PaymentRequest, PaymentStatus, PendingRefund, Provider,
    ProviderError, RedirectMode, RefundRequest, UnreadableReply, UnsupportedError,
};
pub use bindings::exports::finconnect::payments::types::{
    BillPaymentMode, BillStatus, ControlNumber, ControlNumberKind, ControlNumberRequest,
    ControlNumberUpdate,
};
pub use bindings::exports::finconnect::payments::types::{
    MethodStatus, PaymentPreview, PreviewMethod, PreviewSender, ProviderPaymentPage,
    ProviderPaymentQuery, SortOrder,
};
/// The `http` crate of [`Host::handle`]'s request and response types.
pub use http;
pub use keyvalue::KeyValueOpCounts;
pub use manifest::{Manifest, VariableSources};
pub use outbound::OutboundRequest;

use anyhow::{Context as _, anyhow, bail};
use bindings::{Finconnect, FinconnectPre};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use keyvalue::KeyValueStores;
use outbound::{Outbound, OutboundLog, ProviderClient};
use output::GuestOutput;
use state::StoreState;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView as _};

/// Where `cargo build --target wasm32-wasip2 --release` puts the component.
pub const DEFAULT_WASM: &str = "target/wasm32-wasip2/release/finconnect.wasm";

/// Where `finconnect-host up` keeps its key-value store (`--keyvalue-file`),
/// relative to its working directory.
pub const DEFAULT_KEYVALUE_FILE: &str = ".finconnect/keyvalue.sqlite";

/// Configures and builds a [`Host`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HostBuilder {
    wasm: PathBuf,
    manifest: Option<PathBuf>,
    component: Option<String>,
    app_variables: BTreeMap<String, String>,
    component_variables: BTreeMap<String, Option<String>>,
    extra_allowed_hosts: Vec<String>,
    enforce_allowed_hosts: bool,
    pooling: bool,
    read_environment: bool,
    dotenv: PathBuf,
    forward_guest_output: bool,
    keep_alive: bool,
    keyvalue_file: Option<PathBuf>,
    keyvalue_atomics: bool,
    record_outbound: bool,
}

impl HostBuilder {
    /// A host for the component at `wasm`, with no manifest yet.
    pub fn new(wasm: impl Into<PathBuf>) -> Self {
        Self {
            wasm: wasm.into(),
            manifest: None,
            component: None,
            app_variables: BTreeMap::new(),
            component_variables: BTreeMap::new(),
            extra_allowed_hosts: Vec::new(),
            enforce_allowed_hosts: true,
            pooling: false,
            read_environment: true,
            dotenv: PathBuf::from(".env"),
            forward_guest_output: false,
            keep_alive: true,
            keyvalue_file: None,
            keyvalue_atomics: true,
            record_outbound: true,
        }
    }

    /// Reads variables and `allowed_outbound_hosts` from this `spin.toml`.
    /// Without one, the component sees only [`HostBuilder::component_variable`]s
    /// and, with enforcement on, may reach only [`HostBuilder::allow_outbound_host`]s.
    pub fn manifest(mut self, path: impl Into<PathBuf>) -> Self {
        self.manifest = Some(path.into());
        self
    }

    /// Which `[component.<id>]` of the manifest to run (default: the only one, or `finconnect`).
    pub fn component(mut self, id: impl Into<String>) -> Self {
        self.component = Some(id.into());
        self
    }

    /// Sets application variable `name`, above the environment, `.env` and the default.
    pub fn app_variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.app_variables.insert(name.into(), value.into());
        self
    }

    /// Replaces component variable `name` after resolution: `Some` sets it,
    /// `None` removes it (the component then reads `none` from `wasi:config`;
    /// [`HostBuilder::unset_component_variable`] says the same without a type annotation).
    pub fn component_variable<S: AsRef<str> + ?Sized>(
        mut self,
        name: impl Into<String>,
        value: Option<&S>,
    ) -> Self {
        self.component_variables
            .insert(name.into(), value.map(|v| v.as_ref().to_owned()));
        self
    }

    /// Removes component variable `name`: the component reads `none` for it.
    pub fn unset_component_variable(mut self, name: impl Into<String>) -> Self {
        self.component_variables.insert(name.into(), None);
        self
    }

    /// Allows one more outbound destination (`scheme://host[:port]`) besides the manifest's.
    pub fn allow_outbound_host(mut self, entry: impl Into<String>) -> Self {
        self.extra_allowed_hosts.push(entry.into());
        self
    }

    /// Deny requests outside `allowed_outbound_hosts` (default: on, like Spin).
    pub fn enforce_allowed_hosts(mut self, enforce: bool) -> Self {
        self.enforce_allowed_hosts = enforce;
        self
    }

    /// Keep provider connections alive between requests, in a pool shared by
    /// the host's instances (default: on). Off: a new connection for every
    /// request, as wasmtime-wasi-http's default client.
    pub fn keep_alive(mut self, keep_alive: bool) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Record every outbound request for [`Host::outbound_log`] (default: on,
    /// for tests). `finconnect-host up` turns it off: a server's record would
    /// grow by about 2 KB a payment and keep every request's credentials.
    pub fn record_outbound(mut self, record: bool) -> Self {
        self.record_outbound = record;
        self
    }

    /// Use wasmtime's pooling instance allocator (default: off; `finconnect-host up` turns it on).
    pub fn pooling(mut self, pooling: bool) -> Self {
        self.pooling = pooling;
        self
    }

    /// Read `SPIN_VARIABLE_*` from the process environment and the `.env` file
    /// (default: on, like `spin up`).
    pub fn read_environment(mut self, read: bool) -> Self {
        self.read_environment = read;
        self
    }

    /// The `.env` file to read (default: `.env` in the working directory).
    pub fn dotenv(mut self, path: impl Into<PathBuf>) -> Self {
        self.dotenv = path.into();
        self
    }

    /// Copy the component's stdout and stderr to the host's stderr as well as
    /// keeping them for [`Host::guest_output`] (default: off).
    pub fn forward_guest_output(mut self, forward: bool) -> Self {
        self.forward_guest_output = forward;
        self
    }

    /// Keep the key-value store (`wasi:keyvalue`) in the SQLite file at
    /// `path`, created with its directory when missing, instead of in memory
    /// (the default). What the file holds outlives the host, and hosts that
    /// open the same file, in this process or another, see each other's writes.
    pub fn keyvalue_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keyvalue_file = Some(path.into());
        self
    }

    /// Link `wasi:keyvalue/store` and `batch` but not `wasi:keyvalue/atomics`
    /// (linked by default): a component that imports `atomics` then fails to
    /// link, as under a host whose store has no compare-and-swap.
    pub fn without_keyvalue_atomics(mut self) -> Self {
        self.keyvalue_atomics = false;
        self
    }

    /// Resolves variables, compiles (or reuses) the component and links it.
    ///
    /// # Errors
    /// Unreadable or invalid manifest, a required variable without a value,
    /// a malformed `allowed_outbound_hosts` entry, a missing or invalid
    /// component, an import the host does not provide, or a key-value file
    /// that cannot be opened.
    pub fn build(self) -> anyhow::Result<Host> {
        let sources = VariableSources {
            overrides: self.app_variables.clone(),
            ..if self.read_environment {
                VariableSources::from_environment(Some(&self.dotenv))?
            } else {
                VariableSources::default()
            }
        };
        let (resolved, manifest) = match &self.manifest {
            Some(path) => {
                let manifest = Manifest::from_path(path, self.component.as_deref())?;
                let resolved = manifest
                    .resolve(&sources, &self.component_variables)
                    .with_context(|| {
                        format!("cannot resolve the variables of {}", path.display())
                    })?;
                (resolved, Some(manifest))
            }
            None => {
                if !self.app_variables.is_empty() {
                    bail!("application variables need a manifest: call `.manifest(\"spin.toml\")`");
                }
                // An empty manifest: the component sees only the explicit component variables.
                let resolved = Manifest::default()
                    .resolve(&VariableSources::default(), &self.component_variables)?;
                (resolved, None)
            }
        };
        let mut allowed_hosts = resolved.allowed_hosts;
        for entry in &self.extra_allowed_hosts {
            allowed_hosts.push(entry)?;
        }

        let engine = engine(self.pooling)?;
        let component = component(&engine, self.pooling, &self.wasm)?;

        let mut linker = Linker::<StoreState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Finconnect::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |state| state)?;
        keyvalue::add_to_linker(&mut linker, self.keyvalue_atomics)?;
        bindings::spin::HostSpinVariables::add_to_linker::<StoreState, HasSelf<StoreState>>(
            &mut linker,
            |state| state,
        )?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot link {} with this host", self.wasm.display()))?;
        let api = FinconnectPre::new(pre.clone()).map_err(|err| format!("{err:#}"));
        let proxy = ProxyPre::new(pre).map_err(|err| format!("{err:#}"));
        if let (Err(api), Err(proxy)) = (&api, &proxy) {
            bail!(
                "{} exports neither finconnect:payments/api ({api}) nor wasi:http/incoming-handler ({proxy})",
                self.wasm.display()
            );
        }

        // The stores the manifest grants, as `spin up` grants them (only
        // `default` exists without a runtime configuration); without a
        // manifest, `default`.
        let granted = match &manifest {
            Some(manifest) => {
                if let Some(label) = manifest
                    .key_value_stores
                    .iter()
                    .find(|label| label.as_str() != keyvalue::DEFAULT_STORE)
                {
                    bail!(
                        "`component.{}.key_value_stores` names {label:?}: this host has only the \
                         `{}` store",
                        manifest.component,
                        keyvalue::DEFAULT_STORE
                    );
                }
                manifest.key_value_stores.clone()
            }
            None => vec![keyvalue::DEFAULT_STORE.to_owned()],
        };
        let keyvalue = match &self.keyvalue_file {
            Some(path) => KeyValueStores::sqlite(path, granted)?,
            None => KeyValueStores::in_memory(granted),
        };

        let secrets = manifest
            .as_ref()
            .map(|m| {
                m.variables
                    .iter()
                    .filter(|(_, v)| v.secret)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Host {
            inner: Arc::new(Inner {
                engine,
                component,
                linker,
                wasm: self.wasm,
                api,
                proxy,
                variables: Arc::new(resolved.component),
                app_variables: resolved.app,
                secrets,
                environment: manifest
                    .map(|m| m.environment.into_iter().collect())
                    .unwrap_or_default(),
                allowed_hosts: Arc::new(allowed_hosts),
                enforce_allowed_hosts: self.enforce_allowed_hosts,
                outbound: OutboundLog::new(self.record_outbound),
                output: GuestOutput::new(self.forward_guest_output),
                keyvalue,
                pooling: self.pooling,
                client: ProviderClient::new(self.keep_alive),
                variable_reads: Default::default(),
                fuel_used: Default::default(),
            }),
        })
    }
}

/// The component, compiled and linked, ready to be instantiated per call.
///
/// Cheap to clone: clones share the compiled component, the outbound log and
/// the captured output.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    component: Component,
    linker: Linker<StoreState>,
    wasm: PathBuf,
    api: Result<FinconnectPre<StoreState>, String>,
    proxy: Result<ProxyPre<StoreState>, String>,
    variables: Arc<BTreeMap<String, String>>,
    app_variables: BTreeMap<String, String>,
    secrets: Vec<String>,
    environment: Vec<(String, String)>,
    allowed_hosts: Arc<AllowedHosts>,
    enforce_allowed_hosts: bool,
    outbound: OutboundLog,
    output: GuestOutput,
    keyvalue: KeyValueStores,
    pooling: bool,
    /// Kept-alive provider connections, shared by every instance of this host.
    client: ProviderClient,
    /// How often each variable was read through `wasi:config`.
    variable_reads: state::VariableReads,
    /// Fuel the HTTP handler's instances have used, when fuel is counted.
    fuel_used: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Variable values stay out: several are secrets.
        f.debug_struct("Host")
            .field("wasm", &self.inner.wasm)
            .field(
                "component_variables",
                &self.inner.variables.keys().collect::<Vec<_>>(),
            )
            .field("allowed_hosts", &self.inner.allowed_hosts)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Starts configuring a host for the component at `wasm`.
    pub fn builder(wasm: impl Into<PathBuf>) -> HostBuilder {
        HostBuilder::new(wasm)
    }

    // ----- the WIT exports (`finconnect:payments/api`) -----

    /// Calls `api.pay` in a fresh instance.
    ///
    /// The outer `Err` is the host's (instantiation failure, trap); the inner
    /// `Result` is what the component returned.
    pub async fn call_pay(
        &self,
        provider: Provider,
        request: &PaymentRequest,
    ) -> anyhow::Result<Result<Payment, ApiError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_api()
            .call_pay(&mut store, provider, request)
            .await?;
        Ok(result)
    }

    /// Calls `api.register-ipn` in a fresh instance.
    pub async fn call_register_ipn(
        &self,
        provider: Provider,
        request: &IpnRequest,
    ) -> anyhow::Result<Result<IpnRegistration, ApiError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_api()
            .call_register_ipn(&mut store, provider, request)
            .await?;
        Ok(result)
    }

    /// Calls `api.payment-status` in a fresh instance.
    pub async fn call_payment_status(
        &self,
        provider: Provider,
        id: &str,
    ) -> anyhow::Result<Result<PaymentDetails, ApiError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_api()
            .call_payment_status(&mut store, provider, id)
            .await?;
        Ok(result)
    }

    /// Calls `api.refund` in a fresh instance.
    pub async fn call_refund(
        &self,
        provider: Provider,
        id: &str,
        request: &RefundRequest,
    ) -> anyhow::Result<Result<PendingRefund, ApiError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_api()
            .call_refund(&mut store, provider, id, request)
            .await?;
        Ok(result)
    }

    /// Calls `api.cancel` in a fresh instance.
    pub async fn call_cancel(
        &self,
        provider: Provider,
        id: &str,
    ) -> anyhow::Result<Result<Cancellation, ApiError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_api()
            .call_cancel(&mut store, provider, id)
            .await?;
        Ok(result)
    }

    /// Calls `api.list-ipns` in a fresh instance.
    pub async fn call_list_ipns(
        &self,
        provider: Provider,
    ) -> anyhow::Result<Result<Vec<IpnListing>, ApiError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_api()
            .call_list_ipns(&mut store, provider)
            .await?;
        Ok(result)
    }

    /// Calls `api.preview` in a fresh instance.
    pub async fn call_preview(
        &self,
        provider: Provider,
        request: &PaymentRequest,
        fetch_sender: bool,
    ) -> anyhow::Result<Result<PaymentPreview, ApiError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_api()
            .call_preview(&mut store, provider, request, fetch_sender)
            .await?;
        Ok(result)
    }

    /// Calls `api.list-provider-payments` in a fresh instance.
    pub async fn call_list_provider_payments(
        &self,
        provider: Provider,
        query: &ProviderPaymentQuery,
    ) -> anyhow::Result<Result<ProviderPaymentPage, ApiError>> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_api()
            .call_list_provider_payments(&mut store, provider, query)
            .await?;
        Ok(result)
    }

    /// Calls `notifications.verify` in a fresh instance. It has no error of
    /// its own: the result always carries the acknowledgement.
    pub async fn call_verify_notification(
        &self,
        provider: Provider,
        notification: &IncomingNotification,
    ) -> anyhow::Result<NotificationResult> {
        let (mut store, instance) = self.instantiate_api().await?;
        let result = instance
            .finconnect_payments_notifications()
            .call_verify(&mut store, provider, notification)
            .await?;
        Ok(result)
    }

    /// Creates an `api.client` resource in a fresh instance, which lives as long as the [`Client`].
    pub async fn client(&self, provider: Provider) -> anyhow::Result<Client> {
        let (mut store, instance) = self.instantiate_api().await?;
        let handle = instance
            .finconnect_payments_api()
            .client()
            .call_constructor(&mut store, provider)
            .await?;
        Ok(Client {
            store,
            instance,
            handle,
        })
    }

    /// Creates a fresh store and instance of `finconnect:payments/api`, then
    /// drops them without calling anything: what every call pays before the
    /// guest runs (`cargo xtask bench` measures it).
    pub async fn instantiate(&self) -> anyhow::Result<()> {
        self.instantiate_api().await.map(drop)
    }

    async fn instantiate_api(&self) -> anyhow::Result<(Store<StoreState>, Finconnect)> {
        let pre = self.inner.api.as_ref().map_err(|err| {
            anyhow!(
                "{} does not export finconnect:payments/api: {err}",
                self.inner.wasm.display()
            )
        })?;
        let mut store = self.new_store();
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("cannot instantiate the component")?;
        Ok((store, instance))
    }

    pub(crate) fn new_store(&self) -> Store<StoreState> {
        let inner = &self.inner;
        let wasi = WasiCtx::builder()
            .stdout(inner.output.clone())
            .stderr(inner.output.clone())
            .envs(&inner.environment)
            .build();
        let state = StoreState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            outbound: Outbound {
                log: inner.outbound.clone(),
                allowed: inner
                    .enforce_allowed_hosts
                    .then(|| inner.allowed_hosts.clone()),
                // When the guest's output goes to stderr, denials are said there too.
                report_denials: inner.output.forwards(),
                client: inner.client.clone(),
            },
            variables: inner.variables.clone(),
            keyvalue: inner.keyvalue.clone(),
            variable_reads: inner.variable_reads.clone(),
        };
        let mut store = Store::new(&inner.engine, state);
        if counts_fuel() {
            // Only fails when the engine does not count fuel.
            let _ = store.set_fuel(u64::MAX);
        }
        store
    }

    // ----- the HTTP export (`wasi:http/incoming-handler`) -----

    /// Sends one request through the component's HTTP handler, in process.
    ///
    /// A request without an authority and without a `host` header gets `host: localhost`.
    pub async fn handle(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> anyhow::Result<http::Response<Vec<u8>>> {
        let (mut parts, body) = request.into_parts();
        if parts.uri.authority().is_none() && !parts.headers.contains_key(http::header::HOST) {
            parts.headers.insert(
                http::header::HOST,
                http::HeaderValue::from_static("localhost"),
            );
        }
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let (response, task) = self.dispatch(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map(|collected| collected.to_bytes());
        // A trap while writing the body explains a broken body: report it first.
        task.await.context("the component's task failed")??;
        let body = body.context("cannot read the component's response body")?;
        Ok(http::Response::from_parts(parts, body.to_vec()))
    }

    /// Starts the handler in a fresh instance; returns the response head (its
    /// body streams while the guest keeps running) and the guest's task.
    async fn dispatch<B>(
        &self,
        request: http::Request<B>,
    ) -> anyhow::Result<(
        http::Response<HyperOutgoingBody>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let pre = self
            .inner
            .proxy
            .as_ref()
            .map_err(|err| {
                anyhow!(
                    "{} does not export wasi:http/incoming-handler: {err}",
                    self.inner.wasm.display()
                )
            })?
            .clone();
        let mut store = self.new_store();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let fuel_used = self.inner.fuel_used.clone();
        // `finconnect-host up` (which forwards the guest's output) also says
        // each request's fuel on stderr.
        let say_fuel = self.inner.output.forwards();
        let task = tokio::spawn(async move {
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(anyhow::Error::from)
                .context("cannot instantiate the component")?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, outparam)
                .await?;
            if counts_fuel() {
                let used = u64::MAX - store.get_fuel().unwrap_or(u64::MAX);
                fuel_used.fetch_add(used, std::sync::atomic::Ordering::Relaxed);
                if say_fuel {
                    eprintln!("finconnect-host: fuel used {used}");
                }
            }
            Ok(())
        });
        match receiver.await {
            Ok(Ok(response)) => Ok((response, task)),
            Ok(Err(code)) => {
                task.abort();
                bail!("the component answered with an error instead of a response: {code:?}")
            }
            Err(_) => Err(match task.await {
                Ok(Ok(())) => anyhow!("the component returned without setting a response"),
                Ok(Err(err)) => err.context("the component failed before responding"),
                Err(err) => anyhow!(err).context("the component's task failed"),
            }),
        }
    }

    /// Serves HTTP/1.1 on `addr`, each request through a fresh instance, until an accept error.
    pub async fn serve(&self, addr: SocketAddr) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        self.serve_listener(listener).await
    }

    /// Like [`Host::serve`], on a listener the caller bound (port 0 in tests).
    pub async fn serve_listener(&self, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) if is_transient_accept_error(&err) => {
                    eprintln!("finconnect-host: accept failed: {err}");
                    continue;
                }
                Err(err) => return Err(err).context("cannot accept connections"),
            };
            let host = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let host = host.clone();
                    async move { Ok::<_, std::convert::Infallible>(host.respond(request).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(wasmtime_wasi_http::io::TokioIo::new(stream), service);
                if let Err(err) = connection.await {
                    eprintln!("finconnect-host: connection from {peer}: {err}");
                }
            });
        }
    }

    async fn respond(
        &self,
        request: http::Request<hyper::body::Incoming>,
    ) -> http::Response<HyperOutgoingBody> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        match self.dispatch(request).await {
            Ok((response, task)) => {
                tokio::spawn(async move {
                    match task.await {
                        Ok(Ok(())) => {}
                        Ok(Err(err)) => eprintln!("finconnect-host: {method} {path}: {err:#}"),
                        Err(err) => eprintln!("finconnect-host: {method} {path}: {err}"),
                    }
                });
                response
            }
            Err(err) => {
                eprintln!("finconnect-host: {method} {path}: {err:#}");
                let mut response = http::Response::new(
                    Full::new(Bytes::from_static(
                        b"internal error in the FinConnect component\n",
                    ))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
                );
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        }
    }

    // ----- what tests look at -----

    /// Every outbound request the component attempted since the host was built
    /// (or since [`Host::clear_outbound_log`]), denied ones included; empty
    /// when the host was built with [`HostBuilder::record_outbound`] off.
    pub fn outbound_log(&self) -> Vec<OutboundRequest> {
        self.inner.outbound.snapshot()
    }

    /// Forgets the recorded outbound requests.
    pub fn clear_outbound_log(&self) {
        self.inner.outbound.clear();
    }

    /// Everything the component wrote to stdout and stderr (the last 4 MiB).
    pub fn guest_output(&self) -> String {
        self.inner.output.text()
    }

    /// Forgets the captured output.
    pub fn clear_guest_output(&self) {
        self.inner.output.clear();
    }

    /// The resolved value of application variable `name`.
    pub fn app_variable(&self, name: &str) -> Option<&str> {
        self.inner.app_variables.get(name).map(String::as_str)
    }

    /// Whether the manifest marks application variable `name` `secret`.
    pub fn is_secret(&self, name: &str) -> bool {
        self.inner.secrets.iter().any(|secret| secret == name)
    }

    /// The keys in the host's key-value store `store` (`wasi:keyvalue`; the
    /// host has one store, `default`, shared by all its instances), sorted, or
    /// `None` when there is no such store or it cannot be read
    /// ([`Host::try_key_value_keys`] tells those apart). Values stay out: they
    /// may be secrets.
    pub fn key_value_keys(&self, store: &str) -> Option<Vec<String>> {
        self.try_key_value_keys(store).ok().flatten()
    }

    /// The keys in the host's key-value store `store`, sorted, or `None` when
    /// there is no such store.
    ///
    /// # Errors
    /// The store's SQLite file cannot be read.
    pub fn try_key_value_keys(&self, store: &str) -> anyhow::Result<Option<Vec<String>>> {
        let keyvalue = &self.inner.keyvalue;
        if !keyvalue.has_store(store) {
            return Ok(None);
        }
        match keyvalue.keys(store) {
            Ok(keys) => Ok(Some(keys)),
            Err(err) => bail!(
                "cannot list the keys of {store:?}: {}",
                keyvalue::describe(&err)
            ),
        }
    }

    /// Empties the host's key-value stores (e.g. to start with a cold token
    /// cache); in a SQLite file, only this host's stores. A failure is
    /// reported on stderr ([`Host::try_clear_key_value_stores`] returns it).
    pub fn clear_key_value_stores(&self) {
        if let Err(err) = self.try_clear_key_value_stores() {
            eprintln!("finconnect-host: {err:#}");
        }
    }

    /// Empties the host's key-value stores.
    ///
    /// # Errors
    /// The store's SQLite file cannot be written.
    pub fn try_clear_key_value_stores(&self) -> anyhow::Result<()> {
        self.inner.keyvalue.clear().map_err(|err| {
            anyhow!(
                "cannot empty the key-value stores: {}",
                keyvalue::describe(&err)
            )
        })
    }

    /// How many key-value operations the host's instances have made since
    /// it was built, by kind (relaxed counters: exact once the calls that
    /// made them have returned). Subtract two snapshots
    /// ([`KeyValueOpCounts::since`]) to count what one request did.
    pub fn key_value_op_counts(&self) -> KeyValueOpCounts {
        self.inner.keyvalue.op_counts()
    }

    /// The SQLite file of the key-value store, or `None` when it is in memory.
    pub fn keyvalue_file(&self) -> Option<&Path> {
        self.inner.keyvalue.file()
    }

    /// How many times the component has read each variable through
    /// `wasi:config` (`get`, and every key of `get-all`) since the host was
    /// built, by name: under `spin up` each read resolves the variable's
    /// template anew, so a request should read a variable at most once.
    /// Subtract two snapshots to count what one request read.
    pub fn variable_reads(&self) -> BTreeMap<String, u64> {
        self.inner
            .variable_reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The fuel (about one unit per WebAssembly operator) that the instances
    /// serving HTTP requests have used since the host was built, counted
    /// once each request's handler has returned; `None` unless the process
    /// runs with `FINCONNECT_HOST_FUEL=1`, which makes every engine count
    /// fuel (and the guest slower). The guest's own work, the same from one
    /// run to the next whatever the machine's load.
    pub fn fuel_used(&self) -> Option<u64> {
        counts_fuel().then(|| {
            self.inner
                .fuel_used
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// What the component reads through `wasi:config` (values may be secrets: do not print them).
    pub fn component_variables(&self) -> &BTreeMap<String, String> {
        &self.inner.variables
    }

    /// The resolved allow-list (also when not enforced).
    pub fn allowed_hosts(&self) -> &AllowedHosts {
        &self.inner.allowed_hosts
    }

    /// The compiled component (e.g. to list its imports and exports).
    pub fn component(&self) -> &Component {
        &self.inner.component
    }

    /// Loads another component (e.g. a consumer plugged with FinConnect by
    /// `wac plug`) with this host's imports, variables and allow-list.
    pub fn load_component(
        &self,
        path: impl AsRef<Path>,
    ) -> anyhow::Result<compose::LoadedComponent> {
        let path = path.as_ref();
        let inner = &self.inner;
        let component = component(&inner.engine, inner.pooling, path)?;
        let pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot link {} with this host", path.display()))?;
        Ok(compose::LoadedComponent::new(self.clone(), component, pre))
    }

    /// The engine the component was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    // ----- blocking conveniences for plain `#[test]`s -----

    /// [`Host::call_pay`] on the crate's runtime.
    pub fn pay_blocking(
        &self,
        provider: Provider,
        request: &PaymentRequest,
    ) -> anyhow::Result<Result<Payment, ApiError>> {
        block_on(self.call_pay(provider, request))?
    }

    /// [`Host::call_register_ipn`] on the crate's runtime.
    pub fn register_ipn_blocking(
        &self,
        provider: Provider,
        request: &IpnRequest,
    ) -> anyhow::Result<Result<IpnRegistration, ApiError>> {
        block_on(self.call_register_ipn(provider, request))?
    }

    /// [`Host::call_payment_status`] on the crate's runtime.
    pub fn payment_status_blocking(
        &self,
        provider: Provider,
        id: &str,
    ) -> anyhow::Result<Result<PaymentDetails, ApiError>> {
        block_on(self.call_payment_status(provider, id))?
    }

    /// [`Host::call_refund`] on the crate's runtime.
    pub fn refund_blocking(
        &self,
        provider: Provider,
        id: &str,
        request: &RefundRequest,
    ) -> anyhow::Result<Result<PendingRefund, ApiError>> {
        block_on(self.call_refund(provider, id, request))?
    }

    /// [`Host::call_cancel`] on the crate's runtime.
    pub fn cancel_blocking(
        &self,
        provider: Provider,
        id: &str,
    ) -> anyhow::Result<Result<Cancellation, ApiError>> {
        block_on(self.call_cancel(provider, id))?
    }

    /// [`Host::call_list_ipns`] on the crate's runtime.
    pub fn list_ipns_blocking(
        &self,
        provider: Provider,
    ) -> anyhow::Result<Result<Vec<IpnListing>, ApiError>> {
        block_on(self.call_list_ipns(provider))?
    }

    /// [`Host::call_preview`] on the crate's runtime.
    pub fn preview_blocking(
        &self,
        provider: Provider,
        request: &PaymentRequest,
        fetch_sender: bool,
    ) -> anyhow::Result<Result<PaymentPreview, ApiError>> {
        block_on(self.call_preview(provider, request, fetch_sender))?
    }

    /// [`Host::call_list_provider_payments`] on the crate's runtime.
    pub fn list_provider_payments_blocking(
        &self,
        provider: Provider,
        query: &ProviderPaymentQuery,
    ) -> anyhow::Result<Result<ProviderPaymentPage, ApiError>> {
        block_on(self.call_list_provider_payments(provider, query))?
    }

    /// [`Host::call_verify_notification`] on the crate's runtime.
    pub fn verify_notification_blocking(
        &self,
        provider: Provider,
        notification: &IncomingNotification,
    ) -> anyhow::Result<NotificationResult> {
        block_on(self.call_verify_notification(provider, notification))?
    }

    /// [`Host::handle`] on the crate's runtime.
    pub fn handle_blocking(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> anyhow::Result<http::Response<Vec<u8>>> {
        block_on(self.handle(request))?
    }
}

/// An `api.client` resource and the instance that owns it.
pub struct Client {
    store: Store<StoreState>,
    instance: Finconnect,
    handle: ResourceAny,
}

impl Client {
    /// `client.pay`.
    pub async fn pay(
        &mut self,
        request: &PaymentRequest,
    ) -> anyhow::Result<Result<Payment, ApiError>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api.call_pay(&mut self.store, self.handle, request).await?)
    }

    /// `client.register-ipn`.
    pub async fn register_ipn(
        &mut self,
        request: &IpnRequest,
    ) -> anyhow::Result<Result<IpnRegistration, ApiError>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_register_ipn(&mut self.store, self.handle, request)
            .await?)
    }

    /// `client.payment-status`.
    pub async fn payment_status(
        &mut self,
        id: &str,
    ) -> anyhow::Result<Result<PaymentDetails, ApiError>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_payment_status(&mut self.store, self.handle, id)
            .await?)
    }

    /// `client.refund`.
    pub async fn refund(
        &mut self,
        id: &str,
        request: &RefundRequest,
    ) -> anyhow::Result<Result<PendingRefund, ApiError>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_refund(&mut self.store, self.handle, id, request)
            .await?)
    }

    /// `client.cancel`.
    pub async fn cancel(&mut self, id: &str) -> anyhow::Result<Result<Cancellation, ApiError>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api.call_cancel(&mut self.store, self.handle, id).await?)
    }

    /// `client.list-ipns`.
    pub async fn list_ipns(&mut self) -> anyhow::Result<Result<Vec<IpnListing>, ApiError>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api.call_list_ipns(&mut self.store, self.handle).await?)
    }

    /// `client.preview`.
    pub async fn preview(
        &mut self,
        request: &PaymentRequest,
        fetch_sender: bool,
    ) -> anyhow::Result<Result<PaymentPreview, ApiError>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_preview(&mut self.store, self.handle, request, fetch_sender)
            .await?)
    }

    /// `client.list-provider-payments`.
    pub async fn list_provider_payments(
        &mut self,
        query: &ProviderPaymentQuery,
    ) -> anyhow::Result<Result<ProviderPaymentPage, ApiError>> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_list_provider_payments(&mut self.store, self.handle, query)
            .await?)
    }

    /// `client.verify-notification`.
    pub async fn verify_notification(
        &mut self,
        notification: &IncomingNotification,
    ) -> anyhow::Result<NotificationResult> {
        let api = self.instance.finconnect_payments_api().client();
        Ok(api
            .call_verify_notification(&mut self.store, self.handle, notification)
            .await?)
    }

    /// Drops the resource in the guest (runs its destructor), then the instance.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.handle.resource_drop_async(&mut self.store).await?;
        Ok(())
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

fn is_transient_accept_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
    matches!(err.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock)
        // Out of file descriptors: wait for connections to close.
        || err.raw_os_error() == Some(24)
}

// ----- engines, components and the runtime, shared process-wide -----

/// `FINCONNECT_HOST_FUEL=1`: every store starts with all the fuel there is,
/// and what each HTTP request's instance used is added to
/// [`Host::fuel_used`] (and printed to stderr by a host that forwards the
/// guest's output, as `finconnect-host up` does): about one unit per
/// WebAssembly operator the guest ran, a count of the guest's own work
/// that, unlike CPU time, does not move with the machine's load.
/// The fuel checks slow the guest down; measure time without it.
fn counts_fuel() -> bool {
    static FUEL: OnceLock<bool> = OnceLock::new();
    *FUEL.get_or_init(|| std::env::var_os("FINCONNECT_HOST_FUEL").is_some_and(|v| v == "1"))
}

/// One engine per allocation strategy, shared by every host of the process.
fn engine(pooling: bool) -> anyhow::Result<Engine> {
    static ENGINES: OnceLock<Mutex<HashMap<bool, Engine>>> = OnceLock::new();
    let mut engines = ENGINES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(engine) = engines.get(&pooling) {
        return Ok(engine.clone());
    }
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    // `FINCONNECT_HOST_PERFMAP=1`: write /tmp/perf-<pid>.map so that `perf`
    // names the component's functions (build it unstripped to get names).
    if std::env::var_os("FINCONNECT_HOST_PERFMAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config.consume_fuel(counts_fuel());
    if pooling {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        // Enough for a local server and parallel tests, far less address space than the defaults.
        pool.total_component_instances(100)
            .total_core_instances(400)
            .total_memories(100)
            .total_tables(400)
            .total_stacks(100);
        // As Spin does: an instance's slot keeps its first 2 MiB of memory
        // (and 1 MiB of tables) mapped and is reset by `memset`, instead of
        // `madvise` freeing the pages and the next instance faulting them in
        // again; each `madvise` also interrupts the other cores to flush
        // TLBs. And where the kernel has the `PAGEMAP_SCAN` ioctl (Linux
        // 6.7+), only the pages an instance wrote are reset. Together about
        // a quarter less CPU per pay (docs/PERFORMANCE.md).
        pool.linear_memory_keep_resident(2 << 20)
            .table_keep_resident(1 << 20)
            .pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!("cannot create a wasmtime engine (pooling allocator: {pooling})")
        })?;
    engines.insert(pooling, engine.clone());
    Ok(engine)
}

/// Compiles `path`, or reuses the compilation of the same unchanged file.
fn component(engine: &Engine, pooling: bool, path: &Path) -> anyhow::Result<Component> {
    type Key = (bool, PathBuf, Option<SystemTime>, u64);
    static COMPONENTS: OnceLock<Mutex<HashMap<Key, Component>>> = OnceLock::new();
    let metadata = std::fs::metadata(path).with_context(|| {
        format!(
            "cannot read the component {} (build it: `cargo build --target wasm32-wasip2 --release`, \
             or `cargo xtask build`)",
            path.display()
        )
    })?;
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let key = (pooling, canonical, metadata.modified().ok(), metadata.len());
    let cache = COMPONENTS.get_or_init(Default::default);
    if let Some(component) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(component.clone());
    }
    // Compiling takes a while: do it without holding the lock.
    let component = Component::from_file(engine, path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} is not a valid WebAssembly component", path.display()))?;
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, component.clone());
    Ok(component)
}

/// Runs `future` to completion on a runtime owned by this crate (two worker threads).
///
/// # Errors
/// When called from inside a tokio runtime (use the `async` methods there),
/// or when the runtime cannot start.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if tokio::runtime::Handle::try_current().is_ok() {
        bail!("block_on called inside a tokio runtime: await the async method instead");
    }
    let runtime = match RUNTIME.get() {
        Some(runtime) => runtime,
        None => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("finconnect-host")
                .enable_all()
                .build()
                .context("cannot start a tokio runtime")?;
            RUNTIME.get_or_init(|| runtime)
        }
    };
    Ok(runtime.block_on(future))
}
