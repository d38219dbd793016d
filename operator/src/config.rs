//! The operator's configuration: where source Secrets live, the pagoPA and IO endpoints and
//! the region's identity gateway per environment, the egress they need, the region as SPID/CIE
//! aggregator, and where cluster DNS runs. Flags, each with an
//! environment variable, shared by `municipio run` and `municipio render` so that both build
//! the same objects.

use std::collections::BTreeMap;
use std::net::IpAddr;

use clap::Args;
use municipio_crds::v1alpha1::{Connector, Environment};

use crate::connectors::identity::rotation::Rotation;

/// A platform the connectors talk to: its endpoint per environment, and the networks its
/// clients may reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    pub uat_url: String,
    pub production_url: String,
    /// CIDRs of the platform's endpoints. Empty: the public internet, without the private,
    /// shared and link-local ranges (so never another tenant or the cluster's own networks).
    pub egress_cidrs: Vec<String>,
}

impl Platform {
    pub fn url(&self, environment: Environment) -> &str {
        match environment {
            Environment::Uat => &self.uat_url,
            Environment::Production => &self.production_url,
        }
    }
}

/// Everything the build step needs besides the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorConfig {
    /// Namespace of the operator, where the source Secrets of the connectors' keys live.
    pub operator_namespace: String,
    /// The platform of each connector (every one of `Connector::ALL`).
    pub platforms: BTreeMap<Connector, Platform>,
    /// Labels of the namespace, and of the pods, of the cluster DNS service.
    pub dns_namespace_labels: BTreeMap<String, String>,
    pub dns_pod_labels: BTreeMap<String, String>,
    /// The ClusterRole a tenant's administrators are bound to in its namespace.
    pub tenant_admin_role: String,
    /// The region's identity gateway (its URL per environment is the identity platform's).
    pub identity: IdentityConfig,
    /// IO's manage API, where the operator keeps the managed IO services.
    pub io_manage: IoManageConfig,
}

/// Where and how often the operator calls IO's manage API.
#[derive(Debug, Clone, PartialEq)]
pub struct IoManageConfig {
    /// The API's base URL. `None`: managed services are not acted on (their status says so).
    pub url: Option<String>,
    /// Calls a second, every tenant's together.
    pub rate: std::num::NonZeroU32,
    /// How often a service not yet as declared (under review) is looked at again, in seconds.
    pub poll: i64,
    /// How often every managed service is compared with the platform, in seconds.
    pub drift_check: i64,
    /// How long one call may take, in seconds.
    pub timeout: i64,
}

/// The region as SPID/CIE aggregator of its municipalities, and where its gateway reads what
/// the operator publishes for each of them.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityConfig {
    /// The namespace the gateway runs in: each municipality's artifacts are published there
    /// (a ConfigMap and a Secret each), and the workloads of the tenants may reach its pods.
    pub gateway_namespace: String,
    /// The region's intermediate in the OpenID Connect federation (the municipalities'
    /// authority hint). `None`: the gateway's URL of the tenant's environment, with a `/`.
    pub intermediate: Option<String>,
    /// The region's name (`Regione Lombardia`).
    pub aggregator_name: String,
    /// The region's fiscal code.
    pub aggregator_fiscal_code: String,
    /// The region's VAT number with the country code (`IT12874720159`), if it has one.
    pub aggregator_vat_number: Option<String>,
    pub aggregator_email: String,
    pub aggregator_phone: Option<String>,
    /// When the municipalities' keys are made and retired.
    pub rotation: Rotation,
    /// How long a signed entity configuration is valid, in seconds. It is signed again when
    /// half of it has passed.
    pub statement_lifetime: i64,
}

/// The flags of the operator configuration.
#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {
    /// Namespace of the operator; source Secrets of the connectors' keys are read only there.
    #[arg(
        long,
        env = "MUNICIPIO_OPERATOR_NAMESPACE",
        default_value = "municipio-system"
    )]
    pub operator_namespace: String,

    /// pagoPA API base URL in the uat (collaudo) environment.
    #[arg(
        long,
        env = "MUNICIPIO_PAGOPA_UAT_URL",
        default_value = "https://api.uat.platform.pagopa.it"
    )]
    pub pagopa_uat_url: String,

    /// pagoPA API base URL in production.
    #[arg(
        long,
        env = "MUNICIPIO_PAGOPA_PRODUCTION_URL",
        default_value = "https://api.platform.pagopa.it"
    )]
    pub pagopa_production_url: String,

    /// IO API base URL for tenants in uat. IO has one public API; tests use services still in
    /// draft and the test fiscal code, so the default is the same as production.
    #[arg(
        long,
        env = "MUNICIPIO_IO_UAT_URL",
        default_value = "https://api.io.pagopa.it/api/v1"
    )]
    pub io_uat_url: String,

    /// IO API base URL in production.
    #[arg(
        long,
        env = "MUNICIPIO_IO_PRODUCTION_URL",
        default_value = "https://api.io.pagopa.it/api/v1"
    )]
    pub io_production_url: String,

    /// CIDR the pagoPA connector may reach (repeatable; comma-separated in the variable).
    /// None: the public internet, without private, shared and link-local ranges.
    #[arg(long = "pagopa-egress-cidr", env = "MUNICIPIO_PAGOPA_EGRESS_CIDRS", value_delimiter = ',', value_parser = parse_cidr)]
    pub pagopa_egress_cidrs: Vec<String>,

    /// CIDR the IO connector may reach (repeatable; comma-separated in the variable). None: as
    /// for pagoPA.
    #[arg(long = "io-egress-cidr", env = "MUNICIPIO_IO_EGRESS_CIDRS", value_delimiter = ',', value_parser = parse_cidr)]
    pub io_egress_cidrs: Vec<String>,

    /// Labels of the namespace of the cluster DNS service, as key=value[,key=value].
    #[arg(long, env = "MUNICIPIO_DNS_NAMESPACE_LABELS", default_value = "kubernetes.io/metadata.name=kube-system", value_parser = parse_labels)]
    pub dns_namespace_labels: BTreeMap<String, String>,

    /// Labels of the pods of the cluster DNS service, as key=value[,key=value].
    #[arg(long, env = "MUNICIPIO_DNS_POD_LABELS", default_value = "k8s-app=kube-dns", value_parser = parse_labels)]
    pub dns_pod_labels: BTreeMap<String, String>,

    /// The ClusterRole a tenant's administrators (spec.admins) are bound to in its namespace:
    /// the chart's tenant-admin role, `<release>-tenant-admin`. Not Kubernetes' `admin`, which
    /// lets them open the network and bind anyone.
    #[arg(
        long,
        env = "MUNICIPIO_TENANT_ADMIN_ROLE",
        default_value = "municipio-tenant-admin"
    )]
    pub tenant_admin_role: String,

    /// Base URL of the region's identity gateway for tenants in uat (the SPID and CIE test
    /// federations), no trailing slash. A placeholder: set it to the region's.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_UAT_URL",
        default_value = "https://login.uat.regione.example",
        value_parser = parse_gateway_url
    )]
    pub identity_uat_url: String,

    /// Base URL of the region's identity gateway in production, no trailing slash. A
    /// placeholder: set it to the region's.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_PRODUCTION_URL",
        default_value = "https://login.regione.example",
        value_parser = parse_gateway_url
    )]
    pub identity_production_url: String,

    /// CIDR of the identity gateway outside the cluster that workloads may reach on HTTPS
    /// (repeatable; comma-separated in the variable). None: only the gateway's namespace.
    #[arg(long = "identity-egress-cidr", env = "MUNICIPIO_IDENTITY_EGRESS_CIDRS", value_delimiter = ',', value_parser = parse_cidr)]
    pub identity_egress_cidrs: Vec<String>,

    /// Namespace of the identity gateway, where each municipality's artifacts are published.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_GATEWAY_NAMESPACE",
        default_value = "municipio-identity"
    )]
    pub identity_gateway_namespace: String,

    /// The region's intermediate entity in the OpenID Connect federation, exactly as its
    /// entity id is written (the municipalities' authority hint must match it byte for byte).
    /// Unset: the gateway's URL with a trailing `/`.
    #[arg(long, env = "MUNICIPIO_IDENTITY_INTERMEDIATE", value_parser = parse_entity_id)]
    pub identity_intermediate: Option<String>,

    /// The region's name, as SPID aggregator.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_AGGREGATOR_NAME",
        default_value = "Regione Lombardia"
    )]
    pub identity_aggregator_name: String,

    /// The region's fiscal code, as SPID aggregator.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_AGGREGATOR_FISCAL_CODE",
        default_value = "80050050154"
    )]
    pub identity_aggregator_fiscal_code: String,

    /// The region's VAT number with the country code, as SPID aggregator; empty: none.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_AGGREGATOR_VAT_NUMBER",
        default_value = "IT12874720159"
    )]
    pub identity_aggregator_vat_number: Option<String>,

    /// The aggregator's contact email. A placeholder: set it to the region's.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_AGGREGATOR_EMAIL",
        default_value = "spid@regione.example"
    )]
    pub identity_aggregator_email: String,

    /// The aggregator's telephone number, + and the country code, no spaces; empty: none.
    #[arg(long, env = "MUNICIPIO_IDENTITY_AGGREGATOR_PHONE")]
    pub identity_aggregator_phone: Option<String>,

    /// The municipalities' key rotation: lifetime/overlap/lead, each in days (d), hours (h) or
    /// seconds (s). A successor is made `overlap` before a key expires, published at once, and
    /// signs `lead` later; 0 < lead < overlap < lifetime.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_KEY_ROTATION",
        default_value = "365d/30d/7d",
        value_parser = parse_rotation
    )]
    pub identity_key_rotation: Rotation,

    /// How long a signed entity configuration is valid (d, h or s); signed again at half.
    #[arg(
        long,
        env = "MUNICIPIO_IDENTITY_STATEMENT_LIFETIME",
        default_value = "2d",
        value_parser = parse_seconds
    )]
    pub identity_statement_lifetime: i64,

    /// Base URL of IO's Services CMS manage API, where the operator creates, updates, has
    /// reviewed and publishes the tenants' managed IO services and reads their keys (the
    /// platform's: https://api.io.pagopa.it/api/v1/manage). Unset: managed services are left
    /// alone, and their status says so; the operator calls no platform it was not given.
    #[arg(long, env = "MUNICIPIO_IO_MANAGE_URL")]
    pub io_manage_url: Option<String>,

    /// Calls a second to IO's manage API, every tenant's together (each waits its turn; a 429
    /// or a 5xx is retried after a growing pause).
    #[arg(long, env = "MUNICIPIO_IO_MANAGE_RATE", default_value = "5")]
    pub io_manage_rate: std::num::NonZeroU32,

    /// How often a managed service not yet as declared (under review by PagoPA, or a change
    /// waiting for a review to end) is looked at again (d, h, m or s).
    #[arg(
        long,
        env = "MUNICIPIO_IO_MANAGE_POLL",
        default_value = "30m",
        value_parser = parse_seconds
    )]
    pub io_manage_poll: i64,

    /// How often each tenant's managed services are compared with IO even when nothing
    /// changed, to put back a change made in IO's back office (d, h, m or s).
    #[arg(
        long,
        env = "MUNICIPIO_IO_MANAGE_DRIFT_CHECK",
        default_value = "24h",
        value_parser = parse_seconds
    )]
    pub io_manage_drift_check: i64,

    /// How long one call to IO's manage API may take before it is given up (d, h, m or s). A
    /// create given up may still have been made: the next sync finds it by name.
    #[arg(
        long,
        env = "MUNICIPIO_IO_MANAGE_TIMEOUT",
        default_value = "10s",
        value_parser = parse_seconds
    )]
    pub io_manage_timeout: i64,
}

impl OperatorConfig {
    /// The platform of `connector`. Every connector has one: the flags make them all.
    pub fn platform(&self, connector: Connector) -> &Platform {
        &self.platforms[&connector]
    }

    /// The configuration with every flag at its default (no environment read).
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            args: OperatorArgs,
        }
        let args =
            <Defaults as clap::Parser>::try_parse_from(["municipio"]).expect("defaults parse");
        args.args.config()
    }
}

impl OperatorArgs {
    pub fn config(&self) -> OperatorConfig {
        OperatorConfig {
            operator_namespace: self.operator_namespace.clone(),
            platforms: BTreeMap::from([
                (
                    Connector::Pagopa,
                    Platform {
                        uat_url: self.pagopa_uat_url.clone(),
                        production_url: self.pagopa_production_url.clone(),
                        egress_cidrs: self.pagopa_egress_cidrs.clone(),
                    },
                ),
                (
                    Connector::Io,
                    Platform {
                        uat_url: self.io_uat_url.clone(),
                        production_url: self.io_production_url.clone(),
                        egress_cidrs: self.io_egress_cidrs.clone(),
                    },
                ),
                (
                    Connector::Identity,
                    Platform {
                        uat_url: self.identity_uat_url.clone(),
                        production_url: self.identity_production_url.clone(),
                        egress_cidrs: self.identity_egress_cidrs.clone(),
                    },
                ),
            ]),
            dns_namespace_labels: self.dns_namespace_labels.clone(),
            dns_pod_labels: self.dns_pod_labels.clone(),
            tenant_admin_role: self.tenant_admin_role.clone(),
            identity: IdentityConfig {
                gateway_namespace: self.identity_gateway_namespace.clone(),
                intermediate: self.identity_intermediate.clone(),
                aggregator_name: self.identity_aggregator_name.clone(),
                aggregator_fiscal_code: self.identity_aggregator_fiscal_code.clone(),
                aggregator_vat_number: non_empty(&self.identity_aggregator_vat_number),
                aggregator_email: self.identity_aggregator_email.clone(),
                aggregator_phone: non_empty(&self.identity_aggregator_phone),
                rotation: self.identity_key_rotation,
                statement_lifetime: self.identity_statement_lifetime,
            },
            io_manage: IoManageConfig {
                url: non_empty(&self.io_manage_url),
                rate: self.io_manage_rate,
                poll: self.io_manage_poll,
                drift_check: self.io_manage_drift_check,
                timeout: self.io_manage_timeout,
            },
        }
    }
}

/// A gateway's base URL: HTTPS, a host name, no port, query or fragment (the rule of the
/// municipalities' own URLs), without a trailing slash.
fn parse_gateway_url(s: &str) -> Result<String, String> {
    let url: municipio_crds::identifiers::HttpsUrl = s.parse().map_err(|e| format!("{e}"))?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An entity id as written: an HTTPS URL of the gateway's rule, its trailing slash kept.
fn parse_entity_id(s: &str) -> Result<String, String> {
    let url: municipio_crds::identifiers::HttpsUrl = s.parse().map_err(|e| format!("{e}"))?;
    Ok(url.as_str().to_owned())
}

/// An optional value a chart may pass empty to say "none".
fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty())
}

/// `365d`, `12h` or `3600s`, in seconds.
fn parse_seconds(s: &str) -> Result<i64, String> {
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    let scale = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => {
            return Err(format!(
                "{s:?} is not a duration (a number and d, h, m or s)"
            ));
        }
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{s:?} is not a duration (a positive number and d, h, m or s)"))
}

fn parse_rotation(s: &str) -> Result<Rotation, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let [lifetime, overlap, lead] = parts[..] else {
        return Err(format!(
            "{s:?} is not lifetime/overlap/lead (e.g. 365d/30d/7d)"
        ));
    };
    Rotation::new(
        parse_seconds(lifetime)?,
        parse_seconds(overlap)?,
        parse_seconds(lead)?,
    )
    .map_err(|e| e.to_string())
}

fn parse_cidr(s: &str) -> Result<String, String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not a CIDR (address/prefix)"))?;
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match prefix.parse::<u8>() {
        Ok(p) if p <= max => Ok(s.to_owned()),
        _ => Err(format!("{prefix:?} is not a prefix length (0 to {max})")),
    }
}

fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    s.split(',')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("{kv:?} is not key=value"))?;
            municipio_crds::identifiers::check_label_key(k).map_err(|e| e.to_string())?;
            municipio_crds::identifiers::check_label_value(v).map_err(|e| e.to_string())?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: OperatorArgs,
    }

    #[test]
    fn defaults_come_from_the_platforms_documentation() {
        let config = Cli::parse_from(["municipio"]).args.config();
        assert_eq!(config.operator_namespace, "municipio-system");
        assert_eq!(
            config.platform(Connector::Pagopa).url(Environment::Uat),
            "https://api.uat.platform.pagopa.it"
        );
        assert_eq!(
            config
                .platform(Connector::Pagopa)
                .url(Environment::Production),
            "https://api.platform.pagopa.it"
        );
        assert_eq!(
            config.platform(Connector::Io).url(Environment::Production),
            "https://api.io.pagopa.it/api/v1"
        );
        assert!(config.platform(Connector::Pagopa).egress_cidrs.is_empty());
        assert_eq!(config.dns_pod_labels["k8s-app"], "kube-dns");
    }

    #[test]
    fn cidrs_and_labels_are_checked() {
        let cli = Cli::parse_from([
            "municipio",
            "--pagopa-egress-cidr",
            "20.0.0.0/8",
            "--pagopa-egress-cidr",
            "2001:db8::/32",
        ]);
        assert_eq!(
            cli.args.pagopa_egress_cidrs,
            ["20.0.0.0/8", "2001:db8::/32"]
        );
        for bad in ["20.0.0.0", "20.0.0.0/33", "example.org/8"] {
            assert!(
                Cli::try_parse_from(["municipio", "--io-egress-cidr", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(Cli::try_parse_from(["municipio", "--dns-pod-labels", "k8s-app"]).is_err());
        assert!(Cli::try_parse_from(["municipio", "--dns-pod-labels", "bad key=x"]).is_err());
    }

    #[test]
    fn the_identity_rotation_and_gateway_are_checked() {
        let config = Cli::parse_from(["municipio"]).args.config();
        let rotation = config.identity.rotation;
        assert_eq!(
            (rotation.lifetime, rotation.overlap, rotation.lead),
            (365 * 86_400, 30 * 86_400, 7 * 86_400)
        );
        let cli = Cli::parse_from([
            "municipio",
            "--identity-key-rotation",
            "90d/240h/3600s",
            "--identity-production-url",
            "https://login.regione.lombardia.it/",
        ]);
        assert_eq!(cli.args.identity_key_rotation.overlap, 240 * 3_600);
        assert_eq!(
            cli.args.identity_production_url,
            "https://login.regione.lombardia.it"
        );
        let cli = Cli::parse_from([
            "municipio",
            "--identity-intermediate",
            "https://federation.regione.example/",
            "--identity-aggregator-vat-number=",
        ]);
        let identity = cli.args.config().identity;
        assert_eq!(
            identity.intermediate.as_deref(),
            Some("https://federation.regione.example/"),
            "an entity id is kept as written"
        );
        assert_eq!(identity.aggregator_vat_number, None, "empty: none");
        for (flag, bad) in [
            ("--identity-key-rotation", "30d/30d/7d"),
            ("--identity-key-rotation", "365d/30d"),
            ("--identity-key-rotation", "365/30d/7d"),
            ("--identity-statement-lifetime", "0d"),
            ("--identity-production-url", "http://login.regione.example"),
            (
                "--identity-production-url",
                "https://login.regione.example:8443",
            ),
        ] {
            assert!(
                Cli::try_parse_from(["municipio", flag, bad]).is_err(),
                "{bad}"
            );
        }
    }
}
