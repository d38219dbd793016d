//! Cleanup, when a tenant is deleted. With `deletionPolicy: Delete` there is nothing to do: the
//! children carry the tenant's ownerReference and the garbage collector removes them. With
//! `Retain`, the namespace and every child in it are detached first ([`retention::detach`]),
//! so the collector leaves them alone, and so are the identity connector's keys (in the
//! operator's namespace): the federations hold them, and the municipality coming back takes
//! them again. Idempotent, and a missing object is not an error: cleanup never holds deletion
//! forever.

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use municipio_crds::MunicipalityTenant;
use municipio_crds::identifiers::NamespaceName;
use municipio_crds::v1alpha1::DeletionPolicy;

use super::retention;
use crate::labels::RETAINED_LABEL;

pub async fn cleanup(
    client: &Client,
    tenant: &MunicipalityTenant,
    operator_namespace: &str,
) -> Result<(), kube::Error> {
    if tenant.spec.deletion_policy == DeletionPolicy::Delete {
        return Ok(());
    }
    let uid = tenant.uid().unwrap_or_default();
    let name = tenant.name_any();
    let keys = crate::connectors::identity::keys_secret_name(&name);
    let detach = serde_json::json!({"metadata": {
        "ownerReferences": null,
        "labels": {RETAINED_LABEL: "true"},
    }});
    let secrets: Api<Secret> = Api::namespaced(client.clone(), operator_namespace);
    super::tolerate_missing(
        secrets
            .patch(&keys, &PatchParams::default(), &Patch::Merge(&detach))
            .await,
    )?;
    // The namespace the tenant was given (its status), else the one it asks for.
    let given = tenant.status.as_ref().and_then(|s| s.namespace.as_deref());
    let ns = NamespaceName::requested(given.or(tenant.spec.namespace.as_deref()), &name);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let Some(namespace) = namespaces.get_opt(&ns).await? else {
        return Ok(());
    };
    // Only what this tenant owns is detached (a foreign namespace was never touched).
    let retaining = retention::Retaining {
        namespace: &namespace,
        tenant: &name,
        uid: &uid,
        istat_code: &tenant.spec.municipality.istat_code,
        operator_namespace,
    };
    retention::detach(client, &retaining).await
}
