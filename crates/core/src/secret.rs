//! A string that must never be printed: credentials and tokens.

use std::fmt;

/// A secret value. `Debug` and `Display` print `[redacted]`; the value is
/// reachable only through [`Secret::expose`], so every use can be found by
/// searching for that name. There is deliberately no `PartialEq`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Declares a credential type: a [`Secret`] that says which credential it
/// is, so two credentials of one provider cannot be swapped without the
/// compiler seeing it. It reads as its [`Secret`] (`Deref`), never prints.
macro_rules! credential {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub $crate::secret::Secret);

        impl ::std::ops::Deref for $name {
            type Target = $crate::secret::Secret;
            fn deref(&self) -> &$crate::secret::Secret {
                &self.0
            }
        }
    };
}
pub(crate) use credential;

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("canary-7f3a");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.to_string(), "[redacted]");
        assert!(!format!("{:?}", Some(secret.clone())).contains("canary"));
        assert_eq!(secret.expose(), "canary-7f3a");
    }
}
