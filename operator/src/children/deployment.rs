//! A workload's Deployment: the image with Pod Security `restricted`, its environment and the
//! connectors it names.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, Secret, SecretEnvSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use municipio_crds::ValidTenant;
use municipio_crds::identifiers;
use municipio_crds::validate::{ValidCompute, ValidWorkload};

use super::limit_range;
use super::metadata::object_name;
use super::metadata::{Owner, child_meta_with, digest, tenant_labels};
use crate::labels::{CONFIG_HASH_ANNOTATION, TENANT_LABEL, WORKLOAD_LABEL, connector_label};

/// Labels of a workload's pods (and of its Deployment and Service): the tenant's, the
/// workload's name, and one per connector it receives.
pub fn workload_labels(owner: &Owner, workload: &ValidWorkload) -> BTreeMap<String, String> {
    let mut labels = tenant_labels(owner);
    labels.insert(WORKLOAD_LABEL.to_owned(), workload.name.to_string());
    labels
}

fn pod_labels(owner: &Owner, workload: &ValidWorkload) -> BTreeMap<String, String> {
    let mut labels = workload_labels(owner, workload);
    labels.extend(workload.connectors.iter().map(|c| connector_label(*c)));
    labels
}

/// The Deployment of a workload. `config_maps` and `secrets` are the connectors' objects built
/// for this tenant: their content goes into the pod template's config hash.
pub fn deployment(
    tenant: &ValidTenant,
    owner: &Owner,
    workload: &ValidWorkload,
    config_maps: &[ConfigMap],
    secrets: &[Secret],
) -> Deployment {
    let labels = workload_labels(owner, workload);
    let selector = BTreeMap::from([
        (TENANT_LABEL.to_owned(), owner.name.clone()),
        (WORKLOAD_LABEL.to_owned(), workload.name.to_string()),
    ]);
    let env_from = workload
        .connectors
        .iter()
        .flat_map(|c| {
            let name = object_name(*c);
            [
                EnvFromSource {
                    config_map_ref: Some(ConfigMapEnvSource {
                        name: name.clone(),
                        optional: None,
                    }),
                    ..EnvFromSource::default()
                },
                EnvFromSource {
                    secret_ref: Some(SecretEnvSource {
                        name,
                        optional: None,
                    }),
                    ..EnvFromSource::default()
                },
            ]
        })
        .collect::<Vec<_>>();
    let annotations = (!workload.connectors.is_empty()).then(|| {
        BTreeMap::from([(
            CONFIG_HASH_ANNOTATION.to_owned(),
            config_hash(workload, config_maps, secrets),
        )])
    });
    let container = Container {
        name: workload.name.to_string(),
        image: Some(workload.image.to_string()),
        ports: workload.port.map(|p| {
            vec![ContainerPort {
                name: Some("http".to_owned()),
                container_port: i32::from(p),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]
        }),
        env: (!workload.env.is_empty()).then(|| {
            workload
                .env
                .iter()
                .map(|(name, value)| EnvVar {
                    name: name.as_str().to_owned(),
                    // An empty value is sent as none: the API server stores it so, and a "" would
                    // never match the live object.
                    value: (!value.is_empty()).then(|| value.clone()),
                    value_from: None,
                })
                .collect()
        }),
        env_from: (!env_from.is_empty()).then_some(env_from),
        resources: resources(
            &workload.requests,
            &limits_with_room(tenant, &workload.requests, &workload.limits),
        ),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            seccomp_profile: Some(runtime_default()),
            ..SecurityContext::default()
        }),
        // The root filesystem is read-only; most applications still need a scratch directory.
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    Deployment {
        metadata: child_meta_with(
            owner,
            workload.name.as_str(),
            Some(tenant.namespace.as_str()),
            labels,
        ),
        spec: Some(DeploymentSpec {
            // Left out of the applied object when the tenant does not set it, so that another
            // field manager (an autoscaler) may own it.
            replicas: workload.replicas,
            selector: LabelSelector {
                match_labels: Some(selector),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels(owner, workload)),
                    annotations,
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(runtime_default()),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "tmp".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        localhost_profile: None,
    }
}

fn resources(requests: &ValidCompute, limits: &ValidCompute) -> Option<ResourceRequirements> {
    let map = |c: &ValidCompute| {
        let m: BTreeMap<String, Quantity> = [("cpu", &c.cpu), ("memory", &c.memory)]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), Quantity(v.as_ref()?.to_string()))))
            .collect();
        (!m.is_empty()).then_some(m)
    };
    let (requests, limits) = (map(requests), map(limits));
    (requests.is_some() || limits.is_some()).then_some(ResourceRequirements {
        requests,
        limits,
        ..ResourceRequirements::default()
    })
}

/// The workload's limits, plus, where it requests more CPU or memory than the LimitRange's
/// default limit and sets no limit of its own, a limit equal to its request: the default limit
/// below the request would make the API server refuse every pod.
fn limits_with_room(
    tenant: &ValidTenant,
    requests: &ValidCompute,
    limits: &ValidCompute,
) -> ValidCompute {
    let mut limits = limits.clone();
    if !limit_range::applies(tenant) {
        return limits;
    }
    let (cpu, memory) = limit_range::DEFAULT_LIMIT;
    for (limit, request, default) in [
        (&mut limits.cpu, &requests.cpu, cpu),
        (&mut limits.memory, &requests.memory, memory),
    ] {
        let default: identifiers::Quantity = default.parse().expect("a valid default");
        if limit.is_none()
            && request
                .as_ref()
                .is_some_and(|r| r.value() > default.value())
        {
            limit.clone_from(request);
        }
    }
    limits
}

/// Digest of the configuration and keys of the connectors a workload receives: a new key or
/// endpoint changes the pod template, and the Deployment rolls its pods.
fn config_hash(workload: &ValidWorkload, config_maps: &[ConfigMap], secrets: &[Secret]) -> String {
    let mut parts = Vec::new();
    for connector in &workload.connectors {
        let name = object_name(*connector);
        let named = |m: &ObjectMeta| m.name.as_deref() == Some(name.as_str());
        for cm in config_maps.iter().filter(|cm| named(&cm.metadata)) {
            parts.push(serde_json::to_vec(&cm.data).expect("JSON"));
        }
        for s in secrets.iter().filter(|s| named(&s.metadata)) {
            parts.push(serde_json::to_vec(&s.data).expect("JSON"));
        }
    }
    digest(parts.iter().map(Vec::as_slice))
}
