//! What every run starts from on a fresh control plane.

use std::path::Path;

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use municipio_crds::MunicipalityTenant;

use crate::cluster::{ControlPlane, OPERATOR_USER};
use crate::tenants;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What every way starts from: the CRD, the operator's namespace with every tenant's source
/// Secret, the identity gateway's namespace, and the operator's user allowed to do its work.
/// Not timed.
pub async fn prepare(
    repo: &Path,
    cp: &ControlPlane,
    tenants: &[MunicipalityTenant],
    namespaces: (&str, &str),
    concurrency: usize,
) -> Result<Client, String> {
    let (operator_namespace, gateway_namespace) = namespaces;
    let crd = repo.join("crds/municipalitytenant.yaml");
    let crd = crd.to_string_lossy();
    cp.kubectl(&["apply", "--server-side", "-f", &crd])?;
    cp.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/municipalitytenants.tenancy.municipio.io",
    ])?;
    let admin = cp.client(&cp.admin_kubeconfig()).await?;
    let ns = operator_namespace;
    for name in [ns, gateway_namespace] {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(err)?;
    }
    // The operator's RBAC is tested elsewhere (tests/chart.rs); here it may do anything.
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some("municipio-bench".to_owned()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "ClusterRole".to_owned(),
            name: "cluster-admin".to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "User".to_owned(),
            name: OPERATOR_USER.to_owned(),
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            ..Default::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .map_err(err)?;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), ns);
    stream::iter(tenants)
        .map(|t| {
            let secrets = secrets.clone();
            async move {
                let secret = tenants::source_secret(t, ns);
                secrets.create(&PostParams::default(), &secret).await
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await
        .map_err(err)?;
    Ok(admin)
}

/// Creates every tenant, `concurrency` at a time: how a GitOps tool or an onboarding script
/// hands a region to the operator.
pub async fn create_tenants(
    admin: &Client,
    tenants: &[MunicipalityTenant],
    concurrency: usize,
) -> Result<(), String> {
    let api: Api<MunicipalityTenant> = Api::all(admin.clone());
    stream::iter(tenants)
        .map(|t| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), t).await }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await
        .map_err(err)?;
    Ok(())
}
