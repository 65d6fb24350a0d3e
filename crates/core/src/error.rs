//! Errors. "The provider said no" ([`Error::Provider`], [`Error::Authentication`])
//! is data, kept apart from "the provider answered something FinConnect
//! cannot read" ([`Error::UnreadableReply`]), from "FinConnect could not
//! complete the call" ([`Error::Transport`], [`Error::Timeout`]) and from
//! problems found before any call ([`Error::InvalidRequest`],
//! [`Error::Configuration`], [`Error::Unsupported`]). No variant ever holds a
//! credential or a token.
//!
//! The enum is exhaustive on purpose: the WIT conversion (`src/component/convert.rs`)
//! and the HTTP mapping ([`crate::api::problem`]) match every variant, so a
//! new variant does not compile until both give it a case.

use crate::domain::Provider;

/// Everything a FinConnect operation can fail with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request is invalid; nothing was sent.
    #[error("invalid request: `{field}` {reason}")]
    InvalidRequest {
        /// The offending field, as named in the JSON API (`customer.phone`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration variable is missing or malformed; nothing was sent.
    #[error("configuration: variable `{variable}` {problem}")]
    Configuration {
        /// The variable's name (never its value).
        variable: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The provider rejected FinConnect's credentials or token.
    #[error("{provider} rejected the credentials: {message}")]
    Authentication {
        /// Who rejected them.
        provider: Provider,
        /// The provider's explanation.
        message: String,
    },
    /// The provider answered, and the answer was no.
    #[error("{0}")]
    Provider(ProviderError),
    /// The provider answered something FinConnect cannot read: an HTML error
    /// page, truncated JSON, a reply without a field it needs. The request
    /// may have been carried out.
    #[error(
        "{provider} answered HTTP {http_status} with a reply FinConnect cannot read: {message}"
    )]
    UnreadableReply {
        /// Who answered.
        provider: Provider,
        /// The HTTP status of the reply.
        http_status: u16,
        /// What was wrong with the reply (FinConnect's words, never the reply).
        message: String,
    },
    /// The provider could not be reached, or the connection broke.
    #[error("{provider} could not be reached: {message}")]
    Transport {
        /// Who could not be reached.
        provider: Provider,
        /// What went wrong.
        message: String,
    },
    /// The provider did not answer in time.
    #[error("{provider} did not answer in time: {message}")]
    Timeout {
        /// Who was slow.
        provider: Provider,
        /// Which deadline passed.
        message: String,
    },
    /// The operation is not offered for this provider.
    #[error("{provider} does not support {operation} through FinConnect: {detail}")]
    Unsupported {
        /// Which provider.
        provider: Provider,
        /// Which operation.
        operation: String,
        /// What to do instead.
        detail: String,
    },
}

/// A provider's refusal, as data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{provider} answered HTTP {http_status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct ProviderError {
    /// Who answered.
    pub provider: Provider,
    /// The HTTP status of the reply.
    pub http_status: u16,
    /// The provider's error code, when it gives one.
    pub code: Option<String>,
    /// The provider's message.
    pub message: String,
}

impl Error {
    /// An [`Error::InvalidRequest`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Configuration`].
    pub fn config(variable: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Configuration {
            variable: variable.into(),
            problem: problem.into(),
        }
    }

    /// An [`Error::UnreadableReply`]: a reply FinConnect could not read.
    pub fn unexpected(provider: Provider, http_status: u16, what: impl Into<String>) -> Self {
        Error::UnreadableReply {
            provider,
            http_status,
            message: what.into(),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
