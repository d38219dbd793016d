//! A workload's Service, when it has a port.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use municipio_crds::ValidTenant;
use municipio_crds::validate::ValidWorkload;

use super::deployment::workload_labels;
use super::metadata::{Owner, child_meta_with};

pub fn service(tenant: &ValidTenant, owner: &Owner, workload: &ValidWorkload) -> Option<Service> {
    let port = workload.port?;
    let labels = workload_labels(owner, workload);
    Some(Service {
        metadata: child_meta_with(
            owner,
            workload.name.as_str(),
            Some(tenant.namespace.as_str()),
            labels.clone(),
        ),
        spec: Some(ServiceSpec {
            selector: Some(labels.into_iter().collect::<BTreeMap<_, _>>()),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: i32::from(port),
                target_port: Some(IntOrString::String("http".to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}
