//! The builders, from the examples run through the real validate step.

use std::collections::BTreeMap;

use municipio_crds::v1alpha1::Connector;
use municipio_crds::{MunicipalityTenant, ValidTenant};

use super::*;
use crate::config::{OperatorConfig, Platform};

fn tenant(yaml: &str) -> (ValidTenant, Owner) {
    let t: MunicipalityTenant = serde_yaml_ng::from_str(yaml).expect("a tenant");
    let owner = Owner {
        name: t.metadata.name.clone().unwrap(),
        uid: "uid-1".to_owned(),
    };
    (municipio_crds::validate(&t).expect("valid"), owner)
}

fn modena() -> (ValidTenant, Owner) {
    tenant(include_str!("../../../examples/modena.yaml"))
}

fn config() -> OperatorConfig {
    let platform = |uat: &str, prod: &str| Platform {
        uat_url: uat.into(),
        production_url: prod.into(),
        egress_cidrs: vec![],
    };
    OperatorConfig {
        operator_namespace: "municipio-system".into(),
        platforms: BTreeMap::from([
            (
                Connector::Pagopa,
                platform("https://pagopa.uat", "https://pagopa.prod"),
            ),
            (Connector::Io, platform("https://io.uat", "https://io.prod")),
            (
                Connector::Identity,
                platform(
                    "https://login.uat.regione.example",
                    "https://login.regione.example",
                ),
            ),
        ]),
        dns_namespace_labels: BTreeMap::from([(
            "kubernetes.io/metadata.name".into(),
            "kube-system".into(),
        )]),
        dns_pod_labels: BTreeMap::from([("k8s-app".into(), "kube-dns".into())]),
        tenant_admin_role: "municipio-tenant-admin".into(),
        identity: OperatorConfig::defaults().identity,
        io_manage: OperatorConfig::defaults().io_manage,
    }
}

/// Modena's keys: the primary pagoPA key is `primary`, each IO key `io-<service>`.
fn keys(primary: &str) -> ConnectorKeys {
    let mut keys = ConnectorKeys::default();
    for r in crate::connectors::key_refs(&modena().0) {
        let value = match r.variable.as_str() {
            "PAGOPA_SUBSCRIPTION_KEY" => primary.to_owned(),
            "PAGOPA_SUBSCRIPTION_KEY_SECONDARY" => continue,
            _ => format!("io-{}", r.key),
        };
        keys.insert(&r, SecretValue(value.into_bytes()));
    }
    keys
}

fn json(o: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(o).unwrap()
}

#[test]
fn every_child_carries_the_labels_and_the_controller_reference() {
    let (t, owner) = modena();
    for object in build(&t, &owner, &config(), &keys("k")).to_values() {
        let meta = &object["metadata"];
        assert_eq!(
            meta["labels"]["app.kubernetes.io/managed-by"], "municipio",
            "{object}"
        );
        assert_eq!(
            meta["labels"]["tenancy.municipio.io/tenant"], "modena",
            "{object}"
        );
        let refs = meta["ownerReferences"].as_array().unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0]["kind"], "MunicipalityTenant");
        assert_eq!(refs[0]["uid"], "uid-1");
        assert_eq!(refs[0]["controller"], true);
        if object["kind"] != "Namespace" {
            assert_eq!(meta["namespace"], "comune-modena", "{object}");
        }
    }
}

#[test]
fn the_namespace_enforces_pod_security_restricted() {
    let (t, owner) = modena();
    let ns = json(&build(&t, &owner, &config(), &keys("k")).namespace);
    assert_eq!(ns["metadata"]["name"], "comune-modena");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

#[test]
fn quota_limit_range_and_admins() {
    let (t, owner) = modena();
    let c = build(&t, &owner, &config(), &keys("k"));
    let quota = json(&c.resource_quota.unwrap());
    assert_eq!(
        quota["spec"]["hard"],
        serde_json::json!({
            "requests.cpu": "8", "limits.cpu": "8", "requests.memory": "16Gi", "limits.memory": "16Gi", "pods": "50"
        })
    );
    assert!(
        c.limit_range.is_some(),
        "a CPU quota needs defaults for containers without resources"
    );
    let rb = json(&c.role_binding.unwrap());
    // The tenant-admin role, never Kubernetes' `admin` (which opens the network and binds anyone).
    assert_eq!(rb["roleRef"]["name"], "municipio-tenant-admin");
    assert_eq!(
        rb["subjects"],
        serde_json::json!([{"kind": "Group", "name": "comune-modena-admins", "apiGroup": "rbac.authorization.k8s.io"}])
    );

    let (t, owner) = tenant(include_str!(
        "../../../examples/lombardia/albaredo-per-san-marco.yaml"
    ));
    let c = build(&t, &owner, &config(), &ConnectorKeys::default());
    assert!(c.config_maps.is_empty() && c.secrets.is_empty() && c.deployments.is_empty());
}

#[test]
fn the_pagopa_connector_configuration_follows_the_environment() {
    let (mut t, owner) = modena();
    let cm = json(&build(&t, &owner, &config(), &keys("k")).config_maps[0]);
    assert_eq!(cm["metadata"]["name"], "pagopa-connector");
    let data = &cm["data"];
    assert_eq!(data["PAGOPA_ENDPOINT"], "https://pagopa.uat");
    assert_eq!(data["PAGOPA_ENTITY_FISCAL_CODE"], "00221940364");
    assert_eq!(data["PAGOPA_STATION_ID"], "80050050154_01");
    assert_eq!(data["PAGOPA_AUX_DIGIT"], "3");
    assert_eq!(data["PAGOPA_SEGREGATION_CODE"], "02");
    assert_eq!(
        data["PAGOPA_IBANS"],
        r#"[{"description":"Tesoreria comunale","iban":"IT60X0542811101000000123456"}]"#
    );
    t.environment = municipio_crds::v1alpha1::Environment::Production;
    let cm = json(&build(&t, &owner, &config(), &keys("k")).config_maps[0]);
    assert_eq!(cm["data"]["PAGOPA_ENDPOINT"], "https://pagopa.prod");
}

#[test]
fn connector_secrets_hold_the_keys_and_debug_never_shows_them() {
    let (t, owner) = modena();
    let c = build(&t, &owner, &config(), &keys("s3cr3t"));
    let pagopa = &c.secrets[0];
    assert_eq!(
        pagopa.data.as_ref().unwrap()["PAGOPA_SUBSCRIPTION_KEY"].0,
        b"s3cr3t"
    );
    let io = &c.secrets[1];
    assert_eq!(
        io.data.as_ref().unwrap()["IO_API_KEY_ANAGRAFE_CIE"].0,
        b"io-anagrafe-cie"
    );
    assert!(!format!("{:?}", keys("s3cr3t")).contains("s3cr3t"));
}

#[test]
fn the_deployment_is_restricted_and_receives_its_connectors() {
    let (t, owner) = modena();
    let d = json(&build(&t, &owner, &config(), &keys("k")).deployments[0]);
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "registry.regione.example/comuni/portale:2.3.1");
    assert_eq!(
        c["securityContext"],
        serde_json::json!({
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
        })
    );
    assert_eq!(
        c["env"],
        serde_json::json!([{"name": "LOG_LEVEL", "value": "info"}])
    );
    assert_eq!(
        c["envFrom"],
        serde_json::json!([
            {"configMapRef": {"name": "pagopa-connector"}}, {"secretRef": {"name": "pagopa-connector"}},
            {"configMapRef": {"name": "io-connector"}}, {"secretRef": {"name": "io-connector"}},
            {"configMapRef": {"name": "identity-connector"}}, {"secretRef": {"name": "identity-connector"}},
        ])
    );
    assert_eq!(c["resources"]["limits"]["memory"], "256Mi");
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["connector.tenancy.municipio.io/pagopa"], "true");
    assert_eq!(labels["connector.tenancy.municipio.io/io"], "true");
}

#[test]
fn replicas_left_out_are_not_sent_and_no_port_means_no_service() {
    let (mut t, owner) = modena();
    t.workloads[0].replicas = None;
    t.workloads[0].port = None;
    let c = build(&t, &owner, &config(), &keys("k"));
    let d = json(&c.deployments[0]);
    assert!(
        d["spec"].get("replicas").is_none(),
        "an autoscaler may own replicas: {}",
        d["spec"]
    );
    assert!(c.services.is_empty());
    assert!(
        c.network_policies.iter().all(|p| !p
            .metadata
            .name
            .as_deref()
            .unwrap()
            .starts_with("ingress-"))
    );
}

#[test]
fn a_key_rotation_changes_the_pod_template() {
    let (t, owner) = modena();
    let hash = |k: &str| {
        let d = json(&build(&t, &owner, &config(), &keys(k)).deployments[0]);
        d["spec"]["template"]["metadata"]["annotations"]["tenancy.municipio.io/config-hash"].clone()
    };
    assert_eq!(hash("old"), hash("old"), "deterministic");
    assert_ne!(hash("old"), hash("new"));
}

#[test]
fn network_policies_deny_by_default_and_open_only_what_is_named() {
    let (t, owner) = modena();
    let policies: BTreeMap<String, serde_json::Value> = build(&t, &owner, &config(), &keys("k"))
        .network_policies
        .iter()
        .map(|p| (p.metadata.name.clone().unwrap(), json(p)))
        .collect();
    let names: Vec<&str> = policies.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "allow-dns",
            "allow-same-namespace",
            "default-deny",
            "egress-identity",
            "egress-io",
            "egress-pagopa",
            "ingress-portale"
        ]
    );
    // The identity connector's pods reach the gateway's namespace only (no CIDR configured).
    assert_eq!(
        policies["egress-identity"]["spec"]["egress"],
        serde_json::json!([{"to": [{"namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": "municipio-identity"}
        }}]}])
    );
    assert_eq!(
        policies["default-deny"]["spec"],
        serde_json::json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    );
    let ingress = &policies["ingress-portale"]["spec"];
    assert_eq!(
        ingress["podSelector"]["matchLabels"]["tenancy.municipio.io/workload"],
        "portale"
    );
    assert_eq!(
        ingress["ingress"][0]["from"],
        serde_json::json!([{"namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"},
            // Whatever the selector says, no tenant's namespace is let in.
            "matchExpressions": [{"key": "tenancy.municipio.io/tenant", "operator": "DoesNotExist"}],
        }}])
    );
    assert_eq!(
        ingress["ingress"][0]["ports"],
        serde_json::json!([{"port": 8080, "protocol": "TCP"}])
    );
    let egress = &policies["egress-pagopa"]["spec"];
    assert_eq!(
        egress["podSelector"]["matchLabels"]["connector.tenancy.municipio.io/pagopa"],
        "true"
    );
    let block = &egress["egress"][0]["to"][0]["ipBlock"];
    assert_eq!(block["cidr"], "0.0.0.0/0");
    assert!(
        block["except"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("10.0.0.0/8"))
    );

    let mut cfg = config();
    cfg.platforms
        .get_mut(&Connector::Pagopa)
        .unwrap()
        .egress_cidrs = vec!["20.50.0.0/16".into()];
    let c = build(&t, &owner, &cfg, &keys("k"));
    let egress = json(
        c.network_policies
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some("egress-pagopa"))
            .unwrap(),
    );
    assert_eq!(
        egress["spec"]["egress"][0]["to"],
        serde_json::json!([{"ipBlock": {"cidr": "20.50.0.0/16"}}])
    );
}

#[test]
fn build_is_deterministic() {
    let (t, owner) = modena();
    assert_eq!(
        build(&t, &owner, &config(), &keys("k")),
        build(&t, &owner, &config(), &keys("k"))
    );
}

#[test]
fn a_request_above_the_default_limit_gets_a_limit_to_match() {
    let text = include_str!("../../../examples/modena.yaml").replace(
        "resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}",
        "resources: {requests: {cpu: \"2\", memory: 128Mi}}",
    );
    let (t, owner) = tenant(&text);
    let d = deployment::deployment(&t, &owner, &t.workloads[0], &[], &[]);
    let resources = d.spec.unwrap().template.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap();
    let limits = resources.limits.unwrap();
    assert_eq!(
        limits["cpu"].0, "2",
        "not the LimitRange's 500m below the request"
    );
    assert!(
        !limits.contains_key("memory"),
        "128Mi fits under the default limit, which applies"
    );
}
