//! The tenant's NetworkPolicies: deny everything, then allow DNS, traffic inside the
//! namespace, ingress to each workload's port from `spec.network.ingressFrom`, and egress to
//! the pagoPA and IO endpoints and the region's identity gateway from the workloads that use
//! them. Nothing admits another tenant.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;

use super::metadata::{Owner, child_meta};
use crate::config::{OperatorConfig, Platform};
use crate::labels::{TENANT_LABEL, WORKLOAD_LABEL, connector_label};

/// Ranges that are never "the internet": the cluster's pods and services, other tenants, cloud
/// metadata endpoints.
const NOT_PUBLIC: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
];

pub fn network_policies(
    tenant: &ValidTenant,
    owner: &Owner,
    config: &OperatorConfig,
) -> Vec<NetworkPolicy> {
    let ns = tenant.namespace.as_str();
    let policy = |name: &str, spec: NetworkPolicySpec| NetworkPolicy {
        metadata: child_meta(owner, name, Some(ns)),
        spec: Some(spec),
    };
    let all_pods = LabelSelector::default();
    let same_namespace = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    };

    let mut out = vec![
        policy(
            "default-deny",
            NetworkPolicySpec {
                pod_selector: Some(all_pods.clone()),
                policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
                ..NetworkPolicySpec::default()
            },
        ),
        policy(
            "allow-dns",
            NetworkPolicySpec {
                pod_selector: Some(all_pods.clone()),
                policy_types: Some(vec!["Egress".to_owned()]),
                egress: Some(vec![NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(selector(&config.dns_namespace_labels)),
                        pod_selector: Some(selector(&config.dns_pod_labels)),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
                }]),
                ..NetworkPolicySpec::default()
            },
        ),
        policy(
            "allow-same-namespace",
            NetworkPolicySpec {
                pod_selector: Some(all_pods.clone()),
                policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![same_namespace.clone()]),
                    ports: None,
                }]),
                egress: Some(vec![NetworkPolicyEgressRule {
                    to: Some(vec![same_namespace]),
                    ports: None,
                }]),
            },
        ),
    ];
    if !tenant.ingress_from.is_empty() {
        for w in &tenant.workloads {
            let Some(p) = w.port else { continue };
            let from = tenant
                .ingress_from
                .iter()
                .map(|s| NetworkPolicyPeer {
                    namespace_selector: Some(no_tenant_namespace(s)),
                    ..NetworkPolicyPeer::default()
                })
                .collect();
            out.push(policy(
                &format!("ingress-{}", w.name),
                NetworkPolicySpec {
                    pod_selector: Some(selector(&BTreeMap::from([(
                        WORKLOAD_LABEL.to_owned(),
                        w.name.to_string(),
                    )]))),
                    policy_types: Some(vec!["Ingress".to_owned()]),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        from: Some(from),
                        ports: Some(vec![port("TCP", p)]),
                    }]),
                    ..NetworkPolicySpec::default()
                },
            ));
        }
    }
    // Each connector's pods reach its platform, on HTTPS only; identity's reach the region's
    // gateway only: its namespace's pods, and its addresses outside the cluster if it has any.
    for connector in crate::connectors::enabled(tenant) {
        let https = |to| NetworkPolicyEgressRule {
            to: Some(to),
            ports: Some(vec![port("TCP", 443)]),
        };
        let platform = config.platform(connector);
        let egress = match connector {
            Connector::Identity => {
                let gateway_namespace = BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_owned(),
                    config.identity.gateway_namespace.clone(),
                )]);
                let in_cluster = NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(selector(&gateway_namespace)),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: None,
                };
                let outside =
                    (!platform.egress_cidrs.is_empty()).then(|| https(ip_blocks(platform)));
                [in_cluster].into_iter().chain(outside).collect()
            }
            Connector::Pagopa | Connector::Io => vec![https(ip_blocks(platform))],
        };
        out.push(policy(
            &format!("egress-{}", connector.name()),
            NetworkPolicySpec {
                pod_selector: Some(selector(&BTreeMap::from([connector_label(connector)]))),
                policy_types: Some(vec!["Egress".to_owned()]),
                egress: Some(egress),
                ..NetworkPolicySpec::default()
            },
        ));
    }
    out
}

fn selector(labels: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.clone()),
        match_expressions: None,
    }
}

fn port(protocol: &str, port: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_owned()),
        port: Some(IntOrString::Int(i32::from(port))),
        end_port: None,
    }
}

fn ip_blocks(platform: &Platform) -> Vec<NetworkPolicyPeer> {
    let block = |cidr: &str, except: Option<Vec<String>>| NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except,
        }),
        ..NetworkPolicyPeer::default()
    };
    if platform.egress_cidrs.is_empty() {
        vec![block(
            "0.0.0.0/0",
            Some(NOT_PUBLIC.iter().map(|s| (*s).to_owned()).collect()),
        )]
    } else {
        platform
            .egress_cidrs
            .iter()
            .map(|c| block(c, None))
            .collect()
    }
}

/// `selector`, narrowed to namespaces that belong to no tenant: whatever labels or names a
/// selector uses, another municipality's namespace (which carries the tenant label, and which
/// its admins cannot relabel) never matches it.
fn no_tenant_namespace(selector: &LabelSelector) -> LabelSelector {
    let mut narrowed = selector.clone();
    narrowed
        .match_expressions
        .get_or_insert_with(Vec::new)
        .push(LabelSelectorRequirement {
            key: TENANT_LABEL.to_owned(),
            operator: "DoesNotExist".to_owned(),
            values: None,
        });
    narrowed
}
