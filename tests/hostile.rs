//! Hostile and malformed tenants against the controller alone, with no webhook to stop them:
//! every tenant of the corpus (`tests/manifests/semantic-invalid/`, each file naming the field
//! and the rule it must be refused for) is marked Stalled/InvalidSpec naming its field, and
//! nothing else in the cluster changes: the operator writes only those tenants' status and
//! Events, a Ready neighbour's children and status stay as they were, and the operator goes on
//! serving it. The schema-invalid corpus never reaches the controller: the API server refuses it
//! (tests/api_server.rs), as the webhook refuses this one (tests/webhook.rs).

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use municipio_crds::MunicipalityTenant;
use serde::de::DeserializeOwned;
use serde_json::Value;
use support::tenants::{condition, condition_of, keys_for, operator_of_its_own, tenant};
use support::{OPERATOR_USER, TEST_RUN_LABEL, unique_name};

/// The resourceVersion of every object of kind `K` in `ns`, by `Kind/name`.
async fn versions<K>(client: &kube::Client, ns: &str, out: &mut BTreeMap<String, String>)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    for o in Api::<K>::namespaced(client.clone(), ns)
        .list_metadata(&ListParams::default())
        .await
        .unwrap()
    {
        out.insert(
            format!("{}/{}", K::KIND, o.name_any()),
            o.resource_version().unwrap_or_default(),
        );
    }
}

/// Everything of a tenant a write would change: its namespace and the objects in it, and the
/// tenant itself (its status included), by resourceVersion.
async fn snapshot(client: &kube::Client, name: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    versions::<Deployment>(client, name, &mut out).await;
    versions::<Service>(client, name, &mut out).await;
    versions::<ConfigMap>(client, name, &mut out).await;
    versions::<NetworkPolicy>(client, name, &mut out).await;
    versions::<RoleBinding>(client, name, &mut out).await;
    versions::<ResourceQuota>(client, name, &mut out).await;
    versions::<LimitRange>(client, name, &mut out).await;
    let ns = Api::<Namespace>::all(client.clone())
        .get(name)
        .await
        .unwrap();
    out.insert(format!("Namespace/{name}"), ns.resource_version().unwrap());
    let t = Api::<MunicipalityTenant>::all(client.clone())
        .get(name)
        .await
        .unwrap();
    out.insert(
        format!("MunicipalityTenant/{name}"),
        t.resource_version().unwrap(),
    );
    out
}

/// The operator's writes logged after line `from` of the audit log: (resource, namespace,
/// name).
fn writes_since(audit_log: &std::path::Path, from: usize) -> Vec<(String, String, String)> {
    std::fs::read_to_string(audit_log)
        .unwrap_or_default()
        .lines()
        .skip(from)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e.pointer("/user/username").and_then(Value::as_str) == Some(OPERATOR_USER))
        .map(|e| {
            let o = &e["objectRef"];
            let s = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
            (s("resource"), s("namespace"), s("name"))
        })
        .collect()
}

#[tokio::test]
async fn hostile_tenants_are_stalled_naming_the_field_and_nothing_else_changes() {
    let (client, operator) = operator_of_its_own().await;
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());

    // A neighbour, Ready before the corpus arrives.
    let neighbour = unique_name("neighbour");
    keys_for(&client, &operator, &neighbour, &neighbour).await;
    tenants
        .create(&PostParams::default(), &tenant(&neighbour, &operator.run))
        .await
        .unwrap();
    condition(&client, &neighbour, "Ready", "True", Some("Ready")).await;
    let audit_log = support::audit_log();
    let from = match &audit_log {
        Some(log) => {
            support::audit_log_caught_up(&client, log).await;
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .count()
        }
        None => 0,
    };
    let before = snapshot(&client, &neighbour).await;

    // The corpus, all at once, under fresh names (each keeps the namespace it names).
    let files = support::yaml_files("tests/manifests/semantic-invalid");
    assert!(files.len() >= 100, "{} hostile tenants", files.len());
    let mut created = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let mut t: MunicipalityTenant =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = unique_name("hostile");
        t.metadata.name = Some(name.clone());
        t.metadata.labels = Some([(TEST_RUN_LABEL.to_owned(), operator.run.clone())].into());
        tenants
            .create(&PostParams::default(), &t)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        created.push((path, name, t.spec.namespace.clone()));
    }
    // And one naming the neighbour's namespace: valid, but that namespace is another tenant's.
    let squatter = unique_name("squatter");
    keys_for(&client, &operator, &squatter, &squatter).await;
    let mut t = tenant(&squatter, &operator.run);
    t.spec.namespace = Some(neighbour.clone());
    tenants.create(&PostParams::default(), &t).await.unwrap();

    for (path, name, _) in &created {
        let t = condition(&client, name, "Stalled", "True", Some("InvalidSpec")).await;
        let stalled = condition_of(t, "Stalled");
        for expected in support::expectations(path) {
            let field = expected.split_whitespace().next().unwrap();
            assert!(
                stalled.message.contains(&format!("{field}:")),
                "{}: the status names {field}: {}",
                path.display(),
                stalled.message
            );
        }
    }
    condition(
        &client,
        &squatter,
        "Stalled",
        "True",
        Some("NamespaceConflict"),
    )
    .await;

    // The operator still serves the neighbour: a change converges.
    let patch = serde_json::json!({"spec": {"quota": {"pods": 41}}});
    tenants
        .patch(&neighbour, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    condition(&client, &neighbour, "Ready", "True", Some("Ready")).await;
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), &neighbour)
        .get("tenant-quota")
        .await
        .unwrap();
    assert_eq!(quota.spec.unwrap().hard.unwrap()["pods"].0, "41");

    // Nothing else changed: before the change, only the tenant and its quota moved.
    let after = snapshot(&client, &neighbour).await;
    let moved: Vec<&String> = before
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(
        moved,
        [
            &format!("MunicipalityTenant/{neighbour}"),
            &"ResourceQuota/tenant-quota".to_owned()
        ],
        "the neighbour's objects that changed"
    );
    assert_eq!(before.len(), after.len());
    if let Some(log) = &audit_log {
        support::audit_log_caught_up(&client, log).await;
        let hostile: Vec<&str> = created
            .iter()
            .map(|(_, n, _)| n.as_str())
            .chain([squatter.as_str()])
            .collect();
        let stray: Vec<(String, String, String)> = writes_since(log, from)
            .into_iter()
            .filter(|(resource, namespace, name)| match resource.as_str() {
                // Status and finalizer of the hostile tenants, and Events about them.
                "municipalitytenants" => !hostile.contains(&name.as_str()) && *name != neighbour,
                "events" => false,
                // Its own Lease, renewed every few seconds.
                "leases" => *namespace != operator.namespace || name != "municipio-controller",
                // The neighbour's change.
                "resourcequotas" => *namespace != neighbour || name != "tenant-quota",
                _ => true,
            })
            .collect();
        assert!(
            stray.is_empty(),
            "writes beyond the tenants' own: {stray:?}"
        );
    }
}
