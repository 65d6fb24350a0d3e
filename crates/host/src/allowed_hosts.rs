//! `allowed_outbound_hosts`, enforced the way Spin enforces it.
//!
//! An entry is `scheme://host[:port]`. The scheme and the host may be `*`, a
//! host may be `*.example.com` (any subdomain), a port may be `*` or a range
//! `8000..8010`; without a port the scheme's well-known port is meant, so
//! `http://127.0.0.1` does not allow `http://127.0.0.1:8001`. An entry without
//! a scheme is an error. An entry that carries a path (even a lone `/`)
//! matches nothing: Spin starts with it and then denies every request
//! (wasm-platform.md §13), and so does this host, with a warning.

use anyhow::{Context as _, bail};
use std::fmt;

/// The parsed allow-list of one component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<Entry>,
    warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    text: String,
    scheme: Option<String>,
    host: HostPattern,
    ports: PortPattern,
    /// Set when the entry has a path: it then allows nothing.
    inert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.suffix`: any host ending in `.suffix`.
    Subdomains(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// Inclusive at both ends.
    Range(u16, u16),
}

impl AllowedHosts {
    /// Parses resolved entries (templates already substituted).
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> anyhow::Result<Self> {
        let mut out = Self::default();
        for text in entries {
            let entry = Entry::parse(text)
                .with_context(|| format!("invalid allowed_outbound_hosts entry {text:?}"))?;
            if entry.inert {
                out.warnings.push(format!(
                    "allowed_outbound_hosts entry {text:?} has a path: like Spin, it allows nothing \
                     (use an origin such as scheme://host:port)"
                ));
            }
            out.entries.push(entry);
        }
        Ok(out)
    }

    /// Allows every destination (`*://*:*`).
    pub fn allow_all() -> Self {
        Self {
            entries: vec![Entry {
                text: "*://*:*".to_owned(),
                scheme: None,
                host: HostPattern::Any,
                ports: PortPattern::Any,
                inert: false,
            }],
            warnings: Vec::new(),
        }
    }

    /// Adds one more entry.
    pub fn push(&mut self, text: &str) -> anyhow::Result<()> {
        let more = Self::parse([text])?;
        self.entries.extend(more.entries);
        self.warnings.extend(more.warnings);
        Ok(())
    }

    /// Problems that do not stop a start but make entries useless.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The entries as written after template substitution.
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.text.as_str())
    }

    /// Whether a request to `uri` may go out.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(scheme) = uri.scheme_str() else {
            return false;
        };
        let Some(host) = uri.host() else { return false };
        let scheme = scheme.to_ascii_lowercase();
        let Some(port) = uri.port_u16().or_else(|| well_known_port(&scheme)) else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.entries
            .iter()
            .any(|entry| entry.allows(&scheme, &host, port))
    }
}

/// The entries in order, each written once (two variables often resolve to
/// the same origin, e.g. both providers pointed at the local sandbox).
impl fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list: Vec<&str> = Vec::new();
        for entry in self.entries() {
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
        write!(f, "[{}]", list.join(", "))
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl Entry {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let Some((scheme, rest)) = text.split_once("://") else {
            bail!("expected scheme://host[:port]");
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !(scheme == "*"
                || scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        {
            bail!("invalid scheme {scheme:?}");
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            bail!("missing host");
        }
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Subdomains(suffix.to_owned())
        } else if host.contains('*') {
            bail!("a host wildcard is `*` or `*.domain`");
        } else {
            HostPattern::Exact(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            )
        };
        let ports = match port {
            Some("*") => PortPattern::Any,
            Some(port) => match port.split_once("..") {
                Some((low, high)) => {
                    let low: u16 = low
                        .parse()
                        .with_context(|| format!("invalid port {low:?}"))?;
                    let high: u16 = high
                        .parse()
                        .with_context(|| format!("invalid port {high:?}"))?;
                    if low > high {
                        bail!("empty port range {port:?}");
                    }
                    PortPattern::Range(low, high)
                }
                None => {
                    let port: u16 = port
                        .parse()
                        .with_context(|| format!("invalid port {port:?}"))?;
                    PortPattern::Range(port, port)
                }
            },
            None => match well_known_port(&scheme) {
                Some(port) => PortPattern::Range(port, port),
                None => bail!("scheme {scheme:?} has no well-known port: give one"),
            },
        };
        Ok(Self {
            text: text.to_owned(),
            scheme: (scheme != "*").then_some(scheme),
            host,
            ports,
            inert: !path.is_empty(),
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.inert {
            return false;
        }
        if self
            .scheme
            .as_deref()
            .is_some_and(|allowed| allowed != scheme)
        {
            return false;
        }
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(allowed) => allowed == host,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        };
        let port_ok = match self.ports {
            PortPattern::Any => true,
            PortPattern::Range(low, high) => (low..=high).contains(&port),
        };
        host_ok && port_ok
    }
}

/// Splits `host[:port]`, where an IPv6 host is in brackets.
fn split_host_port(authority: &str) -> anyhow::Result<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let Some(end) = authority.find(']') else {
            bail!("unclosed `[` in host")
        };
        let (host, rest) = authority.split_at(end + 1);
        return match rest.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if rest.is_empty() => Ok((host, None)),
            None => bail!("unexpected {rest:?} after host"),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = anyhow::Result<()>;

    fn uri(text: &str) -> anyhow::Result<http::Uri> {
        Ok(text.parse()?)
    }

    fn hosts(entries: &[&str]) -> anyhow::Result<AllowedHosts> {
        AllowedHosts::parse(entries.iter().copied())
    }

    #[test]
    fn display_lists_each_entry_once_in_order() -> TestResult {
        let allowed = hosts(&[
            "http://127.0.0.1:9400",
            "https://api.clickpesa.com",
            "http://127.0.0.1:9400",
        ])?;
        assert_eq!(
            allowed.to_string(),
            "[http://127.0.0.1:9400, https://api.clickpesa.com]"
        );
        Ok(())
    }

    #[test]
    fn exact_origin_allows_only_itself() -> TestResult {
        let allowed = hosts(&["http://127.0.0.1:8001"])?;
        assert!(allowed.allows(&uri(
            "http://127.0.0.1:8001/pesapalv3/api/Auth/RequestToken"
        )?));
        assert!(
            !allowed.allows(&uri("http://127.0.0.1:8002/")?),
            "another port"
        );
        assert!(
            !allowed.allows(&uri("http://localhost:8001/")?),
            "localhost is another host"
        );
        assert!(
            !allowed.allows(&uri("https://127.0.0.1:8001/")?),
            "https is another scheme"
        );
        Ok(())
    }

    #[test]
    fn missing_port_means_the_well_known_one() -> TestResult {
        let allowed = hosts(&["http://127.0.0.1", "https://cybqa.pesapal.com"])?;
        assert!(!allowed.allows(&uri("http://127.0.0.1:8001/")?));
        assert!(allowed.allows(&uri("http://127.0.0.1/")?));
        assert!(allowed.allows(&uri("https://cybqa.pesapal.com/pesapalv3/api")?));
        assert!(allowed.allows(&uri("https://CYBQA.pesapal.com:443/x")?));
        assert!(!allowed.allows(&uri("https://pay.pesapal.com/v3")?));
        Ok(())
    }

    #[test]
    fn wildcards() -> TestResult {
        let allowed = hosts(&[
            "http://127.0.0.1:*",
            "https://*.clickpesa.com",
            "*://example.org:8000..8010",
        ])?;
        assert!(allowed.allows(&uri("http://127.0.0.1:65000/")?));
        assert!(allowed.allows(&uri("https://api.clickpesa.com/third-parties")?));
        assert!(
            !allowed.allows(&uri("https://clickpesa.com/")?),
            "the bare domain is no subdomain"
        );
        assert!(!allowed.allows(&uri("https://evilclickpesa.com/")?));
        assert!(allowed.allows(&uri("http://example.org:8005/")?));
        assert!(allowed.allows(&uri("https://example.org:8010/")?));
        assert!(!allowed.allows(&uri("https://example.org:8011/")?));
        assert!(AllowedHosts::allow_all().allows(&uri("https://anything.example:1/")?));
        Ok(())
    }

    #[test]
    fn an_entry_with_a_path_allows_nothing() -> TestResult {
        for entry in ["http://127.0.0.1:8011/pesapalv3", "http://127.0.0.1:8011/"] {
            let allowed = hosts(&[entry])?;
            assert!(
                !allowed.allows(&uri("http://127.0.0.1:8011/pesapalv3/x")?),
                "{entry}"
            );
            assert_eq!(allowed.warnings().len(), 1, "{entry}");
        }
        Ok(())
    }

    #[test]
    fn malformed_entries_are_errors() {
        for entry in [
            "127.0.0.1:8001",
            "",
            "http://",
            "http://host:notaport",
            "http://h:9..1",
            "ftp://h",
        ] {
            assert!(AllowedHosts::parse([entry]).is_err(), "{entry:?}");
        }
    }

    #[test]
    fn nothing_listed_denies_everything() -> TestResult {
        assert!(!AllowedHosts::default().allows(&uri("http://127.0.0.1:80/")?));
        Ok(())
    }

    #[test]
    fn ipv6() -> TestResult {
        let allowed = hosts(&["http://[::1]:9000"])?;
        assert!(allowed.allows(&uri("http://[::1]:9000/x")?));
        assert!(!allowed.allows(&uri("http://[::1]:9001/x")?));
        Ok(())
    }
}
