//! FinConnect's core: everything about PesaPal and ClickPesa that is not I/O.
//!
//! Requests are built as data ([`transport::HttpRequest`]), replies are
//! parsed from data, and [`flow::Finconnect`] strings the steps together
//! over a [`transport::Transport`] that someone else implements: the Wasm
//! component with `wasi:http`, the tests with a script.
//!
//! ```
//! use finconnect_core::flow::Finconnect;
//! use finconnect_core::transport::{HttpRequest, HttpResponse, Transport, TransportError};
//! use finconnect_core::{Provider, PaymentRequest};
//! use std::collections::BTreeMap;
//!
//! struct Offline;
//! impl Transport for Offline {
//!     fn send(&mut self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
//!         Err(TransportError::Failed("offline".into()))
//!     }
//! }
//!
//! let vars = BTreeMap::new();
//! let mut transport = Offline;
//! let mut fc = Finconnect::new(&vars, &mut transport);
//! // Validation happens before anything is sent:
//! let err = fc.pay(Provider::Pesapal, &PaymentRequest::default()).unwrap_err();
//! assert_eq!(err.to_string(), "invalid request: `reference` must be 1 to 50 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-' for PesaPal");
//! ```
//!
//! In scope: PesaPal API 3.0 (token, RegisterIPN, SubmitOrderRequest,
//! GetTransactionStatus, IPN parsing and acknowledgement) and ClickPesa
//! (token, USSD push, query by reference, checksum, webhooks). Out of scope:
//! refunds, cancellations, payouts, subscriptions.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Never called: naming the crate makes rustc load it, so the string writer it
// compiles at "s" is the one this crate's JSON output shares (see its docs).
use finconnect_json_writer as _;

pub mod api;
pub mod billpay;
pub mod config;
pub mod connector;
pub mod domain;
pub mod error;
pub mod flow;
pub mod ledger;
pub mod money;
pub mod payouts;
pub mod providers;
pub mod recurring;
pub mod registry;
pub mod secret;
pub mod token_cache;
pub mod token_hints;
pub mod transport;
pub mod validate;

pub use domain::*;
pub use error::{Error, ProviderError, Result};
pub use secret::Secret;
