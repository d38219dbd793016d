//! The operator's configuration: where source Secrets live, the pagoPA and IO endpoints per
//! environment, the egress they need, and where cluster DNS runs. Flags, each with an
//! environment variable, shared by `municipio run` and `municipio render` so that both build
//! the same objects.

use std::collections::BTreeMap;
use std::net::IpAddr;

use clap::Args;
use municipio_crds::v1alpha1::{Connector, Environment};

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
            ]),
            dns_namespace_labels: self.dns_namespace_labels.clone(),
            dns_pod_labels: self.dns_pod_labels.clone(),
            tenant_admin_role: self.tenant_admin_role.clone(),
        }
    }
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
}
