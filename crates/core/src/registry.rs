//! The registry: the one list of providers. Adding a provider is a case in
//! [`Provider`], its entry in [`Provider::ALL`] and its arm in
//! [`Provider::connector`]; everything else (the router, variable checks,
//! the OpenAPI test, messages that list providers, the sandbox) reads them.

use crate::connector::ProviderInfo;
use crate::flow::Dispatch;
use crate::providers::{clickpesa::Clickpesa, mpesa::Mpesa, pesapal::Pesapal};
use std::fmt;
use std::str::FromStr;

/// A payment provider FinConnect speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// PesaPal API 3.0.
    Pesapal,
    /// ClickPesa.
    Clickpesa,
    /// Safaricom M-Pesa Daraja (Lipa na M-Pesa Online).
    Mpesa,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Provider; 3] = [Provider::Pesapal, Provider::Clickpesa, Provider::Mpesa];

    /// The provider's connector.
    pub fn connector(self) -> &'static dyn Dispatch {
        match self {
            Provider::Pesapal => &Pesapal,
            Provider::Clickpesa => &Clickpesa,
            Provider::Mpesa => &Mpesa,
        }
    }

    /// The facts its connector declares.
    pub fn info(self) -> &'static ProviderInfo {
        self.connector().info()
    }

    /// The lower-case name used in URLs and JSON (`"pesapal"`).
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    /// The provider's own name, for messages.
    pub fn display_name(self) -> &'static str {
        self.info().display_name
    }

    /// Every provider's name for a message: "`pesapal`, `clickpesa` or `mpesa`".
    pub fn names_for_message() -> String {
        let names: Vec<String> = Provider::ALL
            .iter()
            .map(|provider| format!("`{}`", provider.as_str()))
            .collect();
        match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for Provider {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|provider| provider.as_str() == text)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_names_itself_and_parses_back() {
        for provider in Provider::ALL {
            let info = provider.info();
            assert_eq!(info.provider, provider);
            assert_eq!(info.name.parse::<Provider>(), Ok(provider));
            assert!(info.name.bytes().all(|b| b.is_ascii_lowercase()));
        }
        assert_eq!("PesaPal".parse::<Provider>(), Err(()));
    }

    #[test]
    fn names_and_variables_are_distinct_across_providers() {
        let mut names = std::collections::BTreeSet::new();
        let mut variables = std::collections::BTreeSet::new();
        for provider in Provider::ALL {
            assert!(names.insert(provider.as_str()));
            for variable in provider.info().variable_names() {
                assert!(
                    variable.starts_with(provider.as_str()),
                    "{variable} should start with {}",
                    provider.as_str()
                );
                assert!(variables.insert(variable), "{variable} declared twice");
            }
        }
    }

    #[test]
    fn the_message_lists_every_provider() {
        let message = Provider::names_for_message();
        for provider in Provider::ALL {
            assert!(message.contains(&format!("`{}`", provider.as_str())));
        }
        assert!(message.contains(" or "));
    }
}
