//! Runtime variables: names, defaults, and reading them at call time.
//!
//! The names are public (users set them as Spin variables). Credentials are
//! wrapped in [`Secret`] the moment they are read.

use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::transport::split_url;
use crate::validate::absolute_http_url;

/// Variable names, as the component reads them (`wasi:config` keys / Spin
/// component variables).
pub mod names {
    /// PesaPal base URL, e.g. `https://cybqa.pesapal.com/pesapalv3`.
    pub const PESAPAL_BASE_URL: &str = "pesapal_base_url";
    /// PesaPal consumer key.
    pub const PESAPAL_CONSUMER_KEY: &str = "pesapal_consumer_key";
    /// PesaPal consumer secret.
    pub const PESAPAL_CONSUMER_SECRET: &str = "pesapal_consumer_secret";
    /// ClickPesa base URL, e.g. `https://api.clickpesa.com/third-parties`.
    pub const CLICKPESA_BASE_URL: &str = "clickpesa_base_url";
    /// ClickPesa client id.
    pub const CLICKPESA_CLIENT_ID: &str = "clickpesa_client_id";
    /// ClickPesa API key.
    pub const CLICKPESA_API_KEY: &str = "clickpesa_api_key";
    /// ClickPesa checksum key (optional; enables request and webhook signing).
    pub const CLICKPESA_CHECKSUM_KEY: &str = "clickpesa_checksum_key";
    /// M-Pesa Daraja base URL, e.g. `https://sandbox.safaricom.co.ke`.
    pub const MPESA_BASE_URL: &str = "mpesa_base_url";
    /// M-Pesa Daraja consumer key.
    pub const MPESA_CONSUMER_KEY: &str = "mpesa_consumer_key";
    /// M-Pesa Daraja consumer secret.
    pub const MPESA_CONSUMER_SECRET: &str = "mpesa_consumer_secret";
    /// M-Pesa Lipa na M-Pesa Online passkey (goes into the STK `Password`).
    pub const MPESA_PASSKEY: &str = "mpesa_passkey";
    /// M-Pesa business shortcode (paybill, or the head office / store number for tills).
    pub const MPESA_SHORTCODE: &str = "mpesa_shortcode";
    /// M-Pesa `PartyB`: the till number for Buy Goods (required there).
    pub const MPESA_PARTY_B: &str = "mpesa_party_b";
    /// M-Pesa transaction type: `paybill` (default) or `buygoods`.
    pub const MPESA_TRANSACTION_TYPE: &str = "mpesa_transaction_type";
    /// M-Pesa default `CallBackURL` when a payment request gives none.
    pub const MPESA_CALLBACK_URL: &str = "mpesa_callback_url";
    /// The key merchant callers present as `Authorization: Bearer <key>`.
    pub const FINCONNECT_API_KEY: &str = "finconnect_api_key";
    /// Outbound connect timeout, milliseconds.
    pub const CONNECT_TIMEOUT_MS: &str = "finconnect_connect_timeout_ms";
    /// Outbound first-byte timeout, milliseconds.
    pub const FIRST_BYTE_TIMEOUT_MS: &str = "finconnect_first_byte_timeout_ms";
    /// `on` keeps provider tokens in the host's key-value store until they
    /// expire (builds with the `token-cache` feature); `off` (the default)
    /// fetches a fresh token for every call.
    pub const TOKEN_CACHE: &str = "finconnect_token_cache";
    /// Where each event is POSTed (a full URL); unset: no webhooks.
    pub const WEBHOOK_URL: &str = "finconnect_webhook_url";
    /// The origin of [`WEBHOOK_URL`] alone, from which Spin's
    /// `allowed_outbound_hosts` is templated; when the host passes it, the
    /// URL must start with it.
    pub const WEBHOOK_ORIGIN: &str = "finconnect_webhook_origin";
    /// The Standard Webhooks signing secret, `whsec_<base64>`.
    pub const WEBHOOK_SECRET: &str = "finconnect_webhook_secret";
    /// `on` (the default) keeps the payment ledger in the host's key-value
    /// store; `off` serves the HTTP API without it: pays are passed to the
    /// provider and nothing is recorded ([`super::ledger_on`]).
    pub const LEDGER: &str = "finconnect_ledger";
}

/// The documented PesaPal sandbox.
pub const PESAPAL_SANDBOX_URL: &str = "https://cybqa.pesapal.com/pesapalv3";
/// The ClickPesa API (ClickPesa has no sandbox).
pub const CLICKPESA_API_URL: &str = "https://api.clickpesa.com/third-parties";
/// The M-Pesa Daraja sandbox (production is `https://api.safaricom.co.ke`).
pub const MPESA_SANDBOX_URL: &str = "https://sandbox.safaricom.co.ke";
/// Default outbound connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Default outbound first-byte timeout.
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 20_000;

/// Whether the HTTP face keeps its ledger (`finconnect_ledger`: `on`, the
/// default, or `off`). Off suits a merchant who keeps their own records or
/// a host whose key-value store is too slow or too limited for a ledger:
/// pays and provider reads are passed through, `Idempotency-Key` and the
/// ledger's routes are refused, and no events or webhooks exist, so setting
/// `finconnect_webhook_url` with the ledger off is refused as well.
pub fn ledger_on(vars: &dyn Variables) -> Result<bool> {
    match optional(vars, names::LEDGER)?.as_deref() {
        None | Some("on") => Ok(true),
        Some("off") => match optional(vars, names::WEBHOOK_URL)? {
            None => Ok(false),
            Some(_) => Err(Error::config(
                names::WEBHOOK_URL,
                "is set but `finconnect_ledger` is `off`: webhooks announce the ledger's events; \
                 turn the ledger on or leave the webhook URL empty",
            )),
        },
        Some(_) => Err(Error::config(names::LEDGER, "must be `on` or `off`")),
    }
}

/// Where variables come from (`wasi:config/store`, Spin variables, a map in tests).
pub trait Variables {
    /// The value of `name`, `None` when it is not defined. `Err` carries the
    /// host's explanation of a failed read.
    fn get(&self, name: &str) -> std::result::Result<Option<String>, String>;
}

impl<V: Variables + ?Sized> Variables for &V {
    fn get(&self, name: &str) -> std::result::Result<Option<String>, String> {
        (**self).get(name)
    }
}

impl Variables for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> std::result::Result<Option<String>, String> {
        Ok(std::collections::BTreeMap::get(self, name).cloned())
    }
}

/// Reads a variable; blank counts as not set. Surrounding whitespace is
/// trimmed (a pasted key with a trailing newline is a classic failure).
pub fn optional(vars: &dyn Variables, name: &str) -> Result<Option<String>> {
    match vars.get(name) {
        Ok(Some(value)) => {
            let trimmed = value.trim();
            Ok(match trimmed.len() {
                0 => None,
                // Nothing to trim (nearly always): the host's string as it is.
                len if len == value.len() => Some(value),
                _ => Some(trimmed.to_owned()),
            })
        }
        Ok(None) => Ok(None),
        Err(reason) => Err(Error::config(
            name,
            format!("could not be read from the host: {reason}"),
        )),
    }
}

/// Reads a required secret variable.
pub fn required_secret(vars: &dyn Variables, name: &str) -> Result<Secret> {
    optional(vars, name)?
        .map(Secret::new)
        .ok_or_else(|| Error::config(name, "is not set"))
}

/// Reads a base URL, falling back to `default`; it must be an absolute
/// http(s) URL that a host can send requests to (see
/// [`crate::transport::split_url`]), so a bad one fails here, before any
/// call. Returned without a trailing slash.
pub fn base_url(vars: &dyn Variables, name: &str, default: &str) -> Result<String> {
    let url = optional(vars, name)?.unwrap_or_else(|| default.to_owned());
    checked_url(name, &url)
}

/// `url`, the value of the variable `name`, checked as [`base_url`] checks
/// it (for a value already read).
pub fn checked_url(name: &str, url: &str) -> Result<String> {
    if absolute_http_url(url).is_err() {
        return Err(Error::config(name, "must be an absolute http(s) URL"));
    }
    let url = url.trim_end_matches('/');
    if split_url(url).is_none() {
        return Err(Error::config(
            name,
            "must be a URL requests can be sent to: a host with an optional numeric port, \
             no fragment, and only characters allowed in URLs",
        ));
    }
    Ok(url.to_owned())
}

/// Reads a duration in milliseconds, falling back to `default`.
pub fn millis(vars: &dyn Variables, name: &str, default: u64) -> Result<u64> {
    match optional(vars, name)? {
        None => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(ms),
            _ => Err(Error::config(
                name,
                "must be a whole number of milliseconds greater than 0",
            )),
        },
    }
}

/// Outbound timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Connect deadline, milliseconds.
    pub connect_ms: u64,
    /// First-byte deadline, milliseconds.
    pub first_byte_ms: u64,
}

impl Timeouts {
    /// Reads both timeouts, with their defaults.
    pub fn load(vars: &dyn Variables) -> Result<Self> {
        Ok(Self {
            connect_ms: millis(vars, names::CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS)?,
            first_byte_ms: millis(
                vars,
                names::FIRST_BYTE_TIMEOUT_MS,
                DEFAULT_FIRST_BYTE_TIMEOUT_MS,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn missing_and_blank_secrets_name_the_variable() {
        for map in [vars(&[]), vars(&[("pesapal_consumer_key", "  ")])] {
            let err = required_secret(&map, names::PESAPAL_CONSUMER_KEY)
                .err()
                .map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some("configuration: variable `pesapal_consumer_key` is not set")
            );
        }
    }

    #[test]
    fn the_ledger_is_on_unless_turned_off_without_webhooks() {
        let on = |pairs: &[(&str, &str)]| ledger_on(&vars(pairs)).map_err(|e| e.to_string());
        assert_eq!(on(&[]), Ok(true));
        assert_eq!(on(&[("finconnect_ledger", "")]), Ok(true));
        assert_eq!(on(&[("finconnect_ledger", "on")]), Ok(true));
        assert_eq!(on(&[("finconnect_ledger", " off ")]), Ok(false));
        assert_eq!(
            on(&[
                ("finconnect_ledger", "off"),
                ("finconnect_webhook_url", " ")
            ]),
            Ok(false)
        );
        let refused = on(&[("finconnect_ledger", "OFF")])
            .err()
            .unwrap_or_default();
        assert!(
            refused.contains("`finconnect_ledger` must be `on` or `off`"),
            "{refused}"
        );
        let refused = on(&[
            ("finconnect_ledger", "off"),
            ("finconnect_webhook_url", "https://merchant.example/hooks"),
        ])
        .err()
        .unwrap_or_default();
        assert!(
            refused.contains("`finconnect_webhook_url` is set"),
            "{refused}"
        );
        // With the ledger on, the webhook URL is the ledger's business.
        assert_eq!(
            on(&[("finconnect_webhook_url", "https://merchant.example/hooks")]),
            Ok(true)
        );
    }

    #[test]
    fn secrets_are_trimmed() {
        let map = vars(&[("pesapal_consumer_key", " key-1\n")]);
        let secret = required_secret(&map, names::PESAPAL_CONSUMER_KEY);
        assert_eq!(
            secret.map(|s| s.expose().to_owned()),
            Ok("key-1".to_owned())
        );
    }

    #[test]
    fn base_urls_default_and_are_checked_without_echoing_the_value() {
        assert_eq!(
            base_url(&vars(&[]), names::PESAPAL_BASE_URL, PESAPAL_SANDBOX_URL),
            Ok(PESAPAL_SANDBOX_URL.to_owned())
        );
        let map = vars(&[("pesapal_base_url", "http://127.0.0.1:9/pesapalv3/")]);
        assert_eq!(
            base_url(&map, names::PESAPAL_BASE_URL, PESAPAL_SANDBOX_URL),
            Ok("http://127.0.0.1:9/pesapalv3".to_owned())
        );
        let bad = vars(&[("pesapal_base_url", "ftp://secret-host")]);
        let err = base_url(&bad, names::PESAPAL_BASE_URL, PESAPAL_SANDBOX_URL)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`pesapal_base_url`"));
        assert!(!err.contains("secret-host"));
    }

    #[test]
    fn base_urls_a_host_cannot_send_to_are_refused_before_any_call() {
        for unsendable in [
            "https://secret-host:port/pesapalv3",
            "https://secret-host/pesapalv3#part",
            "https://secret-host/pesapal`v3",
            "https://secret-host/pesapal<v3>",
            "https://secret-host]/pesapalv3",
            "https://secret%2Dhost/pesapalv3",
        ] {
            let map = vars(&[("pesapal_base_url", unsendable)]);
            let err = base_url(&map, names::PESAPAL_BASE_URL, PESAPAL_SANDBOX_URL);
            assert!(
                matches!(&err, Err(Error::Configuration { variable, .. }) if variable == "pesapal_base_url"),
                "{unsendable}: {err:?}"
            );
            let text = err.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!text.contains("secret"), "{text}");
        }
        for sendable in [
            "https://secret-host:8443/pesapalv3",
            "http://[::1]:9/pesapalv3",
            "https://user@secret-host/v3",
            "https://secret-host/pesapalv3?tenant=1",
        ] {
            let map = vars(&[("pesapal_base_url", sendable)]);
            let url = base_url(&map, names::PESAPAL_BASE_URL, PESAPAL_SANDBOX_URL);
            assert_eq!(url, Ok(sendable.to_owned()));
        }
    }

    #[test]
    fn timeouts_default_and_refuse_nonsense() {
        assert_eq!(
            Timeouts::load(&vars(&[])),
            Ok(Timeouts {
                connect_ms: 5_000,
                first_byte_ms: 20_000
            })
        );
        let bad = vars(&[("finconnect_connect_timeout_ms", "soon")]);
        assert!(matches!(
            Timeouts::load(&bad),
            Err(Error::Configuration { variable, .. }) if variable == "finconnect_connect_timeout_ms"
        ));
    }
}
