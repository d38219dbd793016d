use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

static DNS_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("valid regex"));
static LABEL_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$").expect("valid regex")
});
static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("valid regex")
});
static ENV_VAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));

/// Names and values that are not a well-formed name of their kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must be at most {max} characters, got {len}")]
    TooLong { max: usize, len: usize },
    #[error("must not be empty")]
    Empty,
    #[error(
        "{0:?} is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)"
    )]
    NotDnsLabel(String),
    #[error("{0:?} is not a DNS subdomain (lowercase letters, digits, '-' and '.')")]
    NotDnsSubdomain(String),
    #[error("{0:?} must start with a letter")]
    StartsWithDigit(String),
    #[error("{name:?} is reserved: {why}")]
    Reserved { name: String, why: &'static str },
    #[error(
        "{0:?} is not a valid label key (an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.')"
    )]
    NotLabelKey(String),
    #[error(
        "{0:?} is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
    )]
    NotLabelValue(String),
    #[error(
        "{0:?} is not a valid environment variable name (letters, digits and '_', not starting with a digit)"
    )]
    NotEnvVarName(String),
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Checks a label key: `[prefix/]name`, the prefix a DNS subdomain of at most 253 characters.
pub fn check_label_key(key: &str) -> Result<(), NameError> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && DNS_SUBDOMAIN.is_match(p));
    if prefix_ok && name.len() <= 63 && LABEL_NAME.is_match(name) {
        Ok(())
    } else {
        Err(NameError::NotLabelKey(shorten(key)))
    }
}

/// Checks a DNS subdomain (names of Secrets, service accounts): at most 253 characters, dot-separated
/// DNS-1123 labels.
pub fn check_dns_subdomain(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > 253 {
        return Err(NameError::TooLong {
            max: 253,
            len: name.len(),
        });
    }
    if DNS_SUBDOMAIN.is_match(name) {
        Ok(())
    } else {
        Err(NameError::NotDnsSubdomain(shorten(name)))
    }
}

/// Checks a label value: empty, or at most 63 characters of the label-name alphabet.
pub fn check_label_value(value: &str) -> Result<(), NameError> {
    if value.is_empty() || (value.len() <= 63 && LABEL_NAME.is_match(value)) {
        Ok(())
    } else {
        Err(NameError::NotLabelValue(shorten(value)))
    }
}

/// A DNS-1123 label of at most `MAX` characters (Kubernetes namespaces, Services, label values
/// of names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsLabel(String);

impl DnsLabel {
    pub fn parse_max(s: &str, max: usize) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > max {
            return Err(NameError::TooLong { max, len: s.len() });
        }
        if !DNS_LABEL.is_match(s) {
            return Err(NameError::NotDnsLabel(shorten(s)));
        }
        Ok(Self(s.to_owned()))
    }

    /// A DNS-1035 label: a DNS-1123 label that starts with a letter (Service names).
    pub fn parse_dns1035(s: &str, max: usize) -> Result<Self, NameError> {
        let label = Self::parse_max(s, max)?;
        if !label.0.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(NameError::StartsWithDigit(shorten(s)));
        }
        Ok(label)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DnsLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a tenant namespace: a DNS-1123 label of at most 63 characters that is not one
/// of the cluster's own namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespaceName(DnsLabel);

impl NamespaceName {
    /// Prefix of the default namespace, `comune-<tenant name>`.
    pub const DEFAULT_PREFIX: &'static str = "comune-";

    /// The namespace a tenant named `tenant` asks for, unchecked: the one its `spec.namespace`
    /// names, else `comune-<tenant>`. The one place the default is made.
    pub fn requested(spec_namespace: Option<&str>, tenant: &str) -> String {
        spec_namespace.map_or_else(
            || format!("{}{tenant}", Self::DEFAULT_PREFIX),
            str::to_owned,
        )
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl FromStr for NamespaceName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let label = DnsLabel::parse_max(s, 63)?;
        let why = match s {
            "default" => Some("the cluster's default namespace is shared by everyone"),
            "kube-system" | "kube-public" | "kube-node-lease" => {
                Some("it belongs to Kubernetes itself")
            }
            _ if s.starts_with("kube-") => Some("kube-* namespaces are reserved for Kubernetes"),
            _ => None,
        };
        match why {
            Some(why) => Err(NameError::Reserved {
                name: s.to_owned(),
                why,
            }),
            None => Ok(Self(label)),
        }
    }
}

impl fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The name of an environment variable set by the user on a workload. Prefixes of the variables
/// the operator injects are reserved, so a user value can never shadow a connector's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvVarName(String);

impl EnvVarName {
    /// Prefixes of the variables the operator injects into workloads.
    pub const RESERVED_PREFIXES: [&'static str; 4] = ["PAGOPA_", "IO_", "IDENTITY_", "MUNICIPIO_"];

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvVarName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > 128 {
            return Err(NameError::TooLong {
                max: 128,
                len: s.len(),
            });
        }
        if !ENV_VAR.is_match(s) {
            return Err(NameError::NotEnvVarName(shorten(s)));
        }
        let upper = s.to_ascii_uppercase();
        if Self::RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p)) {
            return Err(NameError::Reserved {
                name: s.to_owned(),
                why: "PAGOPA_*, IO_* and MUNICIPIO_* are set by the operator for the connectors",
            });
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_asks_for_its_spec_namespace_else_comune_and_its_name() {
        assert_eq!(NamespaceName::requested(None, "modena"), "comune-modena");
        assert_eq!(NamespaceName::requested(Some("mo"), "modena"), "mo");
    }

    #[test]
    fn namespaces() {
        assert!("comune-modena".parse::<NamespaceName>().is_ok());
        assert!("a".repeat(63).parse::<NamespaceName>().is_ok());
        assert_eq!(
            "a".repeat(64).parse::<NamespaceName>(),
            Err(NameError::TooLong { max: 63, len: 64 })
        );
        for reserved in [
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "kube-anything",
        ] {
            assert!(
                matches!(
                    reserved.parse::<NamespaceName>(),
                    Err(NameError::Reserved { .. })
                ),
                "{reserved}"
            );
        }
        for bad in [
            "Comune",
            "comune_modena",
            "-comune",
            "comune-",
            "comune.modena",
            "comune\nmodena",
            "сomune",
        ] {
            assert!(
                matches!(bad.parse::<NamespaceName>(), Err(NameError::NotDnsLabel(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn dns1035_labels_start_with_a_letter() {
        assert!(DnsLabel::parse_dns1035("portale", 40).is_ok());
        assert!(matches!(
            DnsLabel::parse_dns1035("1portale", 40),
            Err(NameError::StartsWithDigit(_))
        ));
    }

    #[test]
    fn label_keys_and_values() {
        assert!(check_label_key("kubernetes.io/metadata.name").is_ok());
        assert!(check_label_key("team").is_ok());
        assert!(check_label_key("Bad Key").is_err());
        assert!(check_label_key("/x").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("ingress-nginx").is_ok());
        assert!(check_label_value("a\nb").is_err());
        assert!(check_label_value(&"a".repeat(64)).is_err());
    }

    #[test]
    fn env_var_names() {
        assert!("LOG_LEVEL".parse::<EnvVarName>().is_ok());
        assert!("_x1".parse::<EnvVarName>().is_ok());
        for bad in ["1X", "A-B", "A B", "A=B", "", "Ä"] {
            assert!("x".parse::<EnvVarName>().is_ok());
            assert!(bad.parse::<EnvVarName>().is_err(), "{bad:?}");
        }
        for reserved in ["PAGOPA_STATION_ID", "IO_API_KEY", "municipio_tenant"] {
            assert!(
                matches!(
                    reserved.parse::<EnvVarName>(),
                    Err(NameError::Reserved { .. })
                ),
                "{reserved}"
            );
        }
    }
}
