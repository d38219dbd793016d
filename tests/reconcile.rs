//! The controller against the real API server: `municipio run` as a process, tenants applied
//! as a user would, and what the cluster then holds.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, Patch, PatchParams, PostParams};
use municipio_crds::MunicipalityTenant;
use support::tenants::{
    bind_source_secret, condition, condition_of, create_ready, event_recorded, event_says,
    keys_for, namespace, operator_of_its_own, operator_of_its_own_with, subscription_key, tenant,
    tenant_events,
};
use support::{Operator, eventually, kubectl, unique_name};

#[tokio::test]
async fn a_tenant_gets_its_children_and_becomes_ready() {
    let (client, operator) = operator_of_its_own().await;
    let name = unique_name("ready");
    keys_for(&client, &operator, &name, &name).await;
    let t = create_ready(&client, &tenant(&name, &operator.run)).await;
    let status = t.status.unwrap();
    assert_eq!(status.observed_generation, t.metadata.generation);
    assert_eq!(status.namespace.as_deref(), Some(name.as_str()));
    // 15 objects in the namespace (identity's ConfigMap, Secret and egress policy among them), the
    // namespace, the object counts, and the gateway's ConfigMap and Secret for the municipality.
    assert_eq!(status.managed_objects, Some(22));
    assert_eq!(
        (status.workloads[0].replicas, status.workloads[0].available),
        (2, 2)
    );
    // kubectl and GitOps tools read the same condition.
    kubectl(&[
        "wait",
        "--for=condition=Ready",
        &format!("mt/{name}"),
        "--timeout=30s",
    ]);
    let pagopa = &status.connectors[0];
    assert_eq!(
        (pagopa.keys, pagopa.source_secrets.clone()),
        (2, vec![format!("{name}-pagopa")]),
        "keys counted and their sources named"
    );
    assert_eq!(status.connectors[1].keys, 4);
    // Readiness is told as an Event on the tenant (a new tenant's progress is not: it is no
    // news).
    event_recorded(&client, &name, "Normal", "Ready").await;
    assert!(
        !tenant_events(&client, &name)
            .await
            .iter()
            .any(|(t, r, _)| t == "Normal" && r == "WorkloadsProgressing")
    );

    let cm = Api::<ConfigMap>::namespaced(client.clone(), &name)
        .get("pagopa-connector")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["PAGOPA_STATION_ID"], "80050050154_01");
    let secret = Api::<Secret>::namespaced(client.clone(), &name)
        .get("pagopa-connector")
        .await
        .unwrap();
    assert_eq!(secret.data.unwrap()["PAGOPA_SUBSCRIPTION_KEY"].0, b"P1");
    let d = Api::<Deployment>::namespaced(client.clone(), &name)
        .get("portale")
        .await
        .unwrap();
    let managers: Vec<_> = d
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"municipio".to_owned()),
        "server-side apply under one field manager: {managers:?}"
    );
}

#[tokio::test]
async fn an_invalid_spec_is_stalled_naming_the_field() {
    let (client, operator) = operator_of_its_own().await;
    let name = unique_name("invalid");
    let mut t = tenant(&name, &operator.run);
    t.spec.pagopa.as_mut().unwrap().ibans[0].iban = "IT61X0542811101000000123456".to_owned();
    Api::<MunicipalityTenant>::all(client.clone())
        .create(&PostParams::default(), &t)
        .await
        .unwrap();
    let t = condition(&client, &name, "Stalled", "True", Some("InvalidSpec")).await;
    let ready = condition_of(t, "Ready");
    assert_eq!(ready.status, "False");
    assert!(
        ready
            .message
            .contains("spec.pagopa.ibans[0].iban: IBAN is not a valid IBAN"),
        "{}",
        ready.message
    );
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&name)
            .await
            .unwrap()
            .is_none(),
        "nothing was created"
    );
    event_recorded(&client, &name, "Warning", "InvalidSpec").await;
}

#[tokio::test]
async fn another_tenants_source_secret_gives_nothing() {
    let (client, operator) = operator_of_its_own().await;
    let name = unique_name("thief");
    keys_for(&client, &operator, &name, "someone-else").await;
    Api::<MunicipalityTenant>::all(client.clone())
        .create(&PostParams::default(), &tenant(&name, &operator.run))
        .await
        .unwrap();
    let t = condition(
        &client,
        &name,
        "Ready",
        "False",
        Some("SourceSecretNotBound"),
    )
    .await;
    let ready = condition_of(t, "Ready");
    assert!(
        ready.message.contains(&format!(
            "Secret {}/{name}-pagopa is not bound to tenant {name}",
            operator.namespace
        )),
        "{}",
        ready.message
    );
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&name)
            .await
            .unwrap()
            .is_none(),
        "no child, no key copied"
    );

    // Bound to this tenant, the same Secrets unblock it at once, with no change to the tenant.
    let ns = &operator.namespace;
    for secret in [format!("{name}-pagopa"), format!("{name}-io")] {
        bind_source_secret(&client, ns, &secret, Some(&name)).await;
    }
    condition(&client, &name, "Ready", "True", Some("Ready")).await;

    // Given to another tenant again, the keys are taken back from this one at once.
    let pagopa = format!("{name}-pagopa");
    bind_source_secret(&client, ns, &pagopa, Some("someone-else")).await;
    condition(
        &client,
        &name,
        "Ready",
        "False",
        Some("SourceSecretNotBound"),
    )
    .await;
    let copies: Api<Secret> = Api::namespaced(client.clone(), &name);
    eventually("the pagoPA key is revoked", || async {
        copies.get_opt("pagopa-connector").await.unwrap().is_none()
    })
    .await;
    assert!(
        copies.get_opt("io-connector").await.unwrap().is_some(),
        "the IO keys are still bound"
    );
}

#[tokio::test]
async fn a_foreign_namespace_is_left_untouched() {
    let (client, operator) = operator_of_its_own().await;
    let name = unique_name("foreign");
    namespace(&client, &name).await;
    let before = Api::<Namespace>::all(client.clone())
        .get(&name)
        .await
        .unwrap();
    keys_for(&client, &operator, &name, &name).await;
    Api::<MunicipalityTenant>::all(client.clone())
        .create(&PostParams::default(), &tenant(&name, &operator.run))
        .await
        .unwrap();
    condition(&client, &name, "Stalled", "True", Some("NamespaceConflict")).await;
    let after = Api::<Namespace>::all(client.clone())
        .get(&name)
        .await
        .unwrap();
    assert_eq!(
        before.metadata.resource_version, after.metadata.resource_version,
        "not a byte changed"
    );
    assert!(
        Api::<ConfigMap>::namespaced(client, &name)
            .get_opt("pagopa-connector")
            .await
            .unwrap()
            .is_none()
    );
}

/// Whether the object `name` of kind `K` is absent from namespace `ns`.
async fn absent<K>(client: &kube::Client, ns: &str, name: &str) -> bool
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
        .is_none()
}

async fn ready_tenant(client: &kube::Client, operator: &Operator, prefix: &str) -> String {
    let name = unique_name(prefix);
    keys_for(client, operator, &name, &name).await;
    create_ready(client, &tenant(&name, &operator.run)).await;
    name
}

#[tokio::test]
async fn drift_is_put_back() {
    let (client, operator) = operator_of_its_own().await;
    let name = ready_tenant(&client, &operator, "drift").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &name);
    config_maps
        .delete("pagopa-connector", &Default::default())
        .await
        .unwrap();
    eventually("a deleted ConfigMap comes back", || async {
        config_maps
            .get_opt("pagopa-connector")
            .await
            .unwrap()
            .is_some_and(|c| c.metadata.deletion_timestamp.is_none())
    })
    .await;

    // Another field manager changes a field the operator owns: it is put back.
    kubectl(&[
        "-n",
        &name,
        "set",
        "image",
        "deployment/portale",
        "portale=registry.example/other:9.9.9",
    ]);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &name);
    eventually("the image is put back", || async {
        let d = deployments.get("portale").await.unwrap();
        d.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref()
            == Some("registry.regione.example/comuni/portale:2.3.1")
    })
    .await;
}

/// A child the API server refuses (here a quota an administrator added forbids any new
/// Service): status and an Event name the child and the reason, and other tenants go on.
#[tokio::test]
async fn a_refused_child_is_named_and_holds_up_no_other_tenant() {
    let (client, operator) = operator_of_its_own().await;
    let name = ready_tenant(&client, &operator, "refused").await;
    let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "no-more-services"},
        "spec": {"hard": {"services": "1"}}
    }))
    .unwrap();
    Api::<ResourceQuota>::namespaced(client.clone(), &name)
        .create(&PostParams::default(), &quota)
        .await
        .unwrap();
    // The quota counts the one Service there is (its status is filled in by the controller
    // manager): until then the quota does not refuse anything.
    eventually("the quota counts the Service", || async {
        Api::<ResourceQuota>::namespaced(client.clone(), &name)
            .get("no-more-services")
            .await
            .unwrap()
            .status
            .and_then(|s| s.used)
            .is_some_and(|u| u.get("services").is_some_and(|q| q.0 == "1"))
    })
    .await;
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let mut t = tenants.get(&name).await.unwrap();
    let mut second = t.spec.workloads[0].clone();
    second.name = "sportello".to_owned();
    t.spec.workloads.push(second);
    let patch = serde_json::json!({"spec": {"workloads": t.spec.workloads}});
    tenants
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let t = condition(&client, &name, "Ready", "False", Some("ReconcileError")).await;
    let ready = condition_of(t, "Ready");
    assert!(
        ready.message.contains(&format!("Service {name}/sportello"))
            && ready.message.contains("exceeded quota"),
        "{}",
        ready.message
    );
    event_says(
        &client,
        &name,
        "ReconcileError",
        &format!("Service {name}/sportello"),
    )
    .await;

    // Meanwhile another tenant of the same operator becomes Ready.
    ready_tenant(&client, &operator, "unhindered").await;
}

/// Another field manager changes fields: those the operator owns are put back, each with a
/// DriftCorrected Event naming the child and the field; those it does not own (replicas left
/// to an autoscaler, another tool's label or annotation) are left as they are.
#[tokio::test]
async fn another_managers_change_is_put_back_only_where_the_operator_owns_the_field() {
    let (client, operator) = operator_of_its_own().await;
    let name = unique_name("managers");
    keys_for(&client, &operator, &name, &name).await;
    let mut t = tenant(&name, &operator.run);
    t.spec.workloads[0].replicas = None; // left to an autoscaler
    Api::<MunicipalityTenant>::all(client.clone())
        .create(&PostParams::default(), &t)
        .await
        .unwrap();
    condition(&client, &name, "Ready", "True", Some("Ready")).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &name);
    let image = |d: Deployment| {
        d.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .clone()
    };
    let built = "registry.regione.example/comuni/portale:2.3.1";

    // What the operator does not own: replicas (as an HPA would scale), another tool's
    // annotation and label.
    kubectl(&["-n", &name, "scale", "deployment/portale", "--replicas=3"]);
    kubectl(&[
        "-n",
        &name,
        "annotate",
        "deployment/portale",
        "example.org/owner=team-a",
    ]);
    kubectl(&[
        "-n",
        &name,
        "label",
        "networkpolicy/default-deny",
        "example.org/audited=yes",
    ]);

    // What it owns: the image, by `kubectl apply --server-side --force-conflicts`.
    // The least a manifest of the Deployment holds: its selector, and the new image.
    let live = deployments.get("portale").await.unwrap();
    let manifest = std::env::temp_dir().join(format!("{name}-image.json"));
    let intruder = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "portale", "namespace": name},
        "spec": {
            "selector": live.spec.unwrap().selector,
            "template": {"spec": {"containers": [
                {"name": "portale", "image": "registry.example/other:9.9.9"}
            ]}}
        }
    });
    std::fs::write(&manifest, intruder.to_string()).unwrap();
    let manifest = manifest.to_string_lossy();
    kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=intruder",
        "-f",
        &manifest,
    ]);
    eventually("the image is put back", || async {
        image(deployments.get("portale").await.unwrap()).as_deref() == Some(built)
    })
    .await;
    event_says(
        &client,
        &name,
        "DriftCorrected",
        &format!("Deployment {name}/portale (spec.template.spec.containers[name=portale].image)"),
    )
    .await;
    let d = deployments.get("portale").await.unwrap();
    assert_eq!(
        d.spec.as_ref().unwrap().replicas,
        Some(3),
        "replicas left alone"
    );
    assert_eq!(
        d.metadata
            .annotations
            .unwrap()
            .get("example.org/owner")
            .map(String::as_str),
        Some("team-a"),
        "another tool's annotation left alone"
    );

    // A field of a NetworkPolicy, and then the labels the operator selects its children by.
    kubectl(&[
        "-n",
        &name,
        "patch",
        "networkpolicy/default-deny",
        "--type=merge",
        "-p",
        r#"{"spec":{"policyTypes":["Ingress"]}}"#,
    ]);
    event_says(
        &client,
        &name,
        "DriftCorrected",
        &format!("NetworkPolicy {name}/default-deny (spec.policyTypes)"),
    )
    .await;
    kubectl(&[
        "-n",
        &name,
        "label",
        "--overwrite",
        "networkpolicy/allow-dns",
        "app.kubernetes.io/managed-by=someone-else",
    ]);
    event_says(
        &client,
        &name,
        "DriftCorrected",
        &format!("NetworkPolicy {name}/allow-dns (metadata.labels.app.kubernetes.io/managed-by)"),
    )
    .await;
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &name);
    eventually("the policies are as built again", || async {
        let deny = policies.get("default-deny").await.unwrap();
        let dns = policies.get("allow-dns").await.unwrap();
        deny.spec.and_then(|s| s.policy_types).unwrap_or_default() == ["Ingress", "Egress"]
            && dns.metadata.labels.unwrap()["app.kubernetes.io/managed-by"] == "municipio"
    })
    .await;
    let deny = policies.get("default-deny").await.unwrap();
    assert_eq!(
        deny.metadata
            .labels
            .unwrap()
            .get("example.org/audited")
            .map(String::as_str),
        Some("yes"),
        "another tool's label left alone"
    );
    let d = deployments.get("portale").await.unwrap();
    assert_eq!(
        d.spec.unwrap().replicas,
        Some(3),
        "replicas still left alone"
    );
}

/// Tenant Secrets are never read back (the operator may not read Secrets outside its own
/// namespace): a deleted or edited one is put back by the Secret resync, here every 2 s.
#[tokio::test]
async fn a_tenant_secret_someone_changed_is_put_back_by_the_resync() {
    let (client, operator) =
        operator_of_its_own_with("resync", &["--secret-resync-seconds", "2"]).await;
    let name = ready_tenant(&client, &operator, "resync").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &name);
    secrets
        .delete("pagopa-connector", &Default::default())
        .await
        .unwrap();
    eventually("a deleted tenant Secret comes back", || async {
        secrets
            .get_opt("pagopa-connector")
            .await
            .unwrap()
            .is_some_and(|s| s.metadata.deletion_timestamp.is_none())
    })
    .await;
    let edit = serde_json::json!({"data": {"PAGOPA_SUBSCRIPTION_KEY": "Zm9yZ2Vk"}});
    secrets
        .patch(
            "pagopa-connector",
            &PatchParams::default(),
            &Patch::Merge(&edit),
        )
        .await
        .unwrap();
    eventually("an edited key is put back", || async {
        let s = secrets.get("pagopa-connector").await.unwrap();
        s.data.unwrap()["PAGOPA_SUBSCRIPTION_KEY"].0 == b"P1"
    })
    .await;
}

#[tokio::test]
async fn a_spec_change_moves_the_children_and_prunes_what_is_gone() {
    let (client, operator) = operator_of_its_own().await;
    let name = ready_tenant(&client, &operator, "change").await;
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let mut t = tenants.get(&name).await.unwrap();
    let mut second = t.spec.workloads[0].clone();
    second.name = "sportello".into();
    second.port = Some(9000);
    second.connectors = vec![];
    t.spec.workloads = vec![second];
    t.spec.io.as_mut().unwrap().enabled = false;
    // The end of a key rotation: the secondary key is no longer named.
    subscription_key(&mut t).secondary_key = None;
    t.metadata.managed_fields = None;
    tenants
        .replace(&name, &PostParams::default(), &t)
        .await
        .unwrap();

    let t = condition(&client, &name, "Ready", "True", Some("Ready")).await;
    assert_eq!(t.status.as_ref().unwrap().observed_generation, Some(2));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &name);
    assert!(deployments.get_opt("sportello").await.unwrap().is_some());
    eventually(
        "the removed workload and the disabled connector are pruned",
        || async {
            use k8s_openapi::api::core::v1::Service;
            use k8s_openapi::api::networking::v1::NetworkPolicy;
            absent::<Deployment>(&client, &name, "portale").await
                && absent::<Service>(&client, &name, "portale").await
                && absent::<ConfigMap>(&client, &name, "io-connector").await
                && absent::<Secret>(&client, &name, "io-connector").await
                && absent::<NetworkPolicy>(&client, &name, "ingress-portale").await
        },
    )
    .await;
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), &name)
            .get_opt("pagopa-connector")
            .await
            .unwrap()
            .is_some()
    );
    // A field removed from what the operator builds is removed from the live object too.
    let keys = Api::<Secret>::namespaced(client.clone(), &name)
        .get("pagopa-connector")
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(keys.contains_key("PAGOPA_SUBSCRIPTION_KEY"));
    assert!(
        !keys.contains_key("PAGOPA_SUBSCRIPTION_KEY_SECONDARY"),
        "the secondary key is gone"
    );
    let sportello = deployments.get("sportello").await.unwrap();
    let container = &sportello.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(container.env_from, None, "no connector left to inject");
}

#[tokio::test]
async fn the_namespace_of_a_tenant_cannot_move() {
    let (client, operator) = operator_of_its_own().await;
    let name = ready_tenant(&client, &operator, "move").await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let before = namespaces.get(&name).await.unwrap();
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let elsewhere = format!("{name}-2");
    let patch = serde_json::json!({ "spec": { "namespace": elsewhere } });
    tenants
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let t = condition(
        &client,
        &name,
        "Stalled",
        "True",
        Some("NamespaceImmutable"),
    )
    .await;
    let status = t.status.unwrap();
    assert_eq!(status.namespace.as_deref(), Some(name.as_str()));
    let stalled = status.conditions.iter().find(|c| c.type_ == "Stalled");
    assert!(
        stalled
            .unwrap()
            .message
            .contains(&format!("Set spec.namespace back to {name}")),
        "{stalled:?}"
    );
    assert!(namespaces.get_opt(&elsewhere).await.unwrap().is_none());
    assert_eq!(
        namespaces
            .get(&name)
            .await
            .unwrap()
            .metadata
            .resource_version,
        before.metadata.resource_version
    );
}

#[tokio::test]
async fn rotating_a_source_key_updates_the_tenant_secret_and_rolls_the_pods() {
    let (client, operator) = operator_of_its_own().await;
    let name = ready_tenant(&client, &operator, "rotate").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &name);
    let hash = |d: Deployment| {
        d.spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()["tenancy.municipio.io/config-hash"]
            .clone()
    };
    let before = hash(deployments.get("portale").await.unwrap());
    let sources: Api<Secret> = Api::namespaced(client.clone(), &operator.namespace);
    let patch = serde_json::json!({"stringData": {"primary": "P1-rotated"}});
    sources
        .patch(
            &format!("{name}-pagopa"),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &name);
    eventually("the tenant Secret holds the new key", || async {
        secrets.get("pagopa-connector").await.unwrap().data.unwrap()["PAGOPA_SUBSCRIPTION_KEY"].0
            == b"P1-rotated"
    })
    .await;
    // The Deployment is applied after the Secret, in the same pass.
    eventually("the pod template changed: the pods roll", || async {
        hash(deployments.get("portale").await.unwrap()) != before
    })
    .await;
}

#[tokio::test]
async fn suspend_stops_writes_and_says_so() {
    let (client, operator) = operator_of_its_own().await;
    let name = ready_tenant(&client, &operator, "suspend").await;
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let patch = serde_json::json!({"spec": {"suspend": true, "workloads": [{"name": "portale", "image": "registry.regione.example/comuni/portale:2.3.1", "replicas": 3, "port": 8080, "connectors": ["pagopa", "io"]}]}});
    tenants
        .patch(
            &name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    // Status for the new generation says Suspended: that reconcile ran, and wrote no child.
    condition(&client, &name, "Ready", "False", Some("Suspended")).await;
    let d = Api::<Deployment>::namespaced(client.clone(), &name)
        .get("portale")
        .await
        .unwrap();
    assert_eq!(
        d.spec.unwrap().replicas,
        Some(2),
        "the suspended change was not applied"
    );
}

#[tokio::test]
async fn deletion_follows_the_deletion_policy() {
    let (client, operator) = operator_of_its_own().await;
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let namespaces: Api<Namespace> = Api::all(client.clone());

    // Retain (the example's policy): the namespace and its content stay, detached.
    let kept = ready_tenant(&client, &operator, "retain").await;
    tenants.delete(&kept, &Default::default()).await.unwrap();
    eventually("the Retain tenant is gone", || async {
        tenants.get_opt(&kept).await.unwrap().is_none()
    })
    .await;
    let ns = namespaces.get(&kept).await.unwrap();
    assert!(ns.metadata.deletion_timestamp.is_none());
    assert!(ns.metadata.owner_references.unwrap_or_default().is_empty());
    assert_eq!(
        ns.metadata.labels.unwrap()["tenancy.municipio.io/retained"],
        "true"
    );
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &kept)
        .get("pagopa-connector")
        .await
        .unwrap();
    assert!(
        cm.metadata.owner_references.unwrap_or_default().is_empty(),
        "the content stays too"
    );
    assert!(
        Api::<Deployment>::namespaced(client.clone(), &kept)
            .get_opt("portale")
            .await
            .unwrap()
            .is_some()
    );

    // Delete: the children go with the tenant.
    let gone = unique_name("delete");
    keys_for(&client, &operator, &gone, &gone).await;
    let mut t = tenant(&gone, &operator.run);
    t.spec.deletion_policy = municipio_crds::v1alpha1::DeletionPolicy::Delete;
    tenants.create(&PostParams::default(), &t).await.unwrap();
    condition(&client, &gone, "Ready", "True", Some("Ready")).await;
    tenants.delete(&gone, &Default::default()).await.unwrap();
    eventually(
        "the namespace of a Delete tenant is being deleted",
        || async {
            namespaces
                .get_opt(&gone)
                .await
                .unwrap()
                .is_none_or(|ns| ns.metadata.deletion_timestamp.is_some())
        },
    )
    .await;
    // The garbage collector has acted by now; the retained namespace is still untouched.
    let ns = namespaces.get(&kept).await.unwrap();
    assert!(
        ns.metadata.deletion_timestamp.is_none(),
        "a retained namespace is never deleted"
    );
}

/// Writes the operator made to a tenant, its namespace and everything in it.
async fn operator_writes(
    client: &kube::Client,
    audit_log: &std::path::Path,
    tenant: &str,
) -> Vec<String> {
    let mut by_tenant = support::operator_writes(client, audit_log, &[tenant]).await;
    by_tenant.remove(tenant).unwrap_or_default()
}

/// Once converged, the operator only reads: no write for 30 s, and none after a restart.
#[tokio::test]
async fn a_converged_tenant_costs_no_writes_not_even_after_a_restart() {
    let Some(audit_log) = support::audit_log() else {
        return; // USE_EXISTING_CLUSTER: its audit log is not ours to read.
    };
    let (client, operator) = operator_of_its_own().await;
    let name = ready_tenant(&client, &operator, "quiet").await;
    let converged = operator_writes(&client, &audit_log, &name).await;
    assert!(
        converged.len() >= 16,
        "the operator's own writes are counted: {converged:#?}"
    );
    // Reconciles still in flight (the Deployment settling) must not write either.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let after = operator_writes(&client, &audit_log, &name).await;
    assert_eq!(
        after[converged.len()..],
        [] as [String; 0],
        "writes after convergence; before them: {converged:#?}"
    );

    let (run, namespace) = (operator.run.clone(), operator.namespace.clone());
    drop(operator);
    let restarted = Operator::start(&run, &namespace);
    eventually("the restarted operator reconciles the tenant", || async {
        restarted
            .log()
            .lines()
            .any(|l| l.contains("reconciled") && l.contains(&name))
    })
    .await;
    let after = operator_writes(&client, &audit_log, &name).await;
    assert_eq!(
        after[converged.len()..],
        [] as [String; 0],
        "writes after a restart"
    );
}

/// Puts the committed CRD back when dropped, whatever the test did to it.
struct CommittedCrd;

impl Drop for CommittedCrd {
    fn drop(&mut self) {
        let crd = support::repo_root().join("crds/municipalitytenant.yaml");
        kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=municipio-tests",
            "-f",
            crd.to_str().unwrap(),
        ]);
    }
}

#[tokio::test]
async fn a_tenant_stored_under_an_older_schema_stops_no_one_else() {
    use kube::api::{ApiResource, DynamicObject};

    let (client, operator) = operator_of_its_own().await;
    // An older CRD let `quota.pods` be any integer; the current types read it as an int32.
    let restore = CommittedCrd;
    let loosen = serde_json::json!([{
        "op": "replace",
        "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/quota/properties/pods",
        "value": { "type": "integer" },
    }]);
    kubectl(&[
        "patch",
        "crd",
        "municipalitytenants.tenancy.municipio.io",
        "--type=json",
        "-p",
        &loosen.to_string(),
    ]);

    let old = unique_name("old-schema");
    let mut stored = serde_json::to_value(tenant(&old, &operator.run)).unwrap();
    stored["spec"]["quota"] = serde_json::json!({ "pods": 99_999_999_999_i64 });
    let stored: DynamicObject = serde_json::from_value(stored).unwrap();
    // Read and written as raw objects: the typed client cannot decode this tenant either.
    let raw: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::erase::<MunicipalityTenant>(&()),
    );
    // The API server takes up the looser schema within moments.
    let mut accepted = false;
    for _ in 0..120 {
        if raw.create(&PostParams::default(), &stored).await.is_ok() {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(accepted, "the looser schema takes the old tenant");

    // The running operator tells, on the tenant itself, which field it cannot read...
    let stalled = |object: &DynamicObject| {
        let conditions = object.data["status"]["conditions"].as_array().cloned();
        conditions.into_iter().flatten().find(|c| {
            c["type"] == "Stalled" && c["status"] == "True" && c["reason"] == "UndecodableSpec"
        })
    };
    eventually("the old tenant is Stalled with UndecodableSpec", || async {
        stalled(&raw.get(&old).await.unwrap()).is_some()
    })
    .await;
    let message = stalled(&raw.get(&old).await.unwrap()).unwrap()["message"].to_string();
    assert!(message.contains("spec.quota.pods: "), "{message}");
    // Under the current CRD, an API server without validation ratcheting (before 1.30) refuses
    // any write to the old tenant, status included: from here on only the Event tells.
    drop(restore);
    // ...and one started with the old tenant already there (the first list holds it) still
    // serves every other tenant.
    let (run, namespace) = (operator.run.clone(), operator.namespace.clone());
    drop(operator);
    let operator = Operator::start(&run, &namespace);
    ready_tenant(&client, &operator, "new-schema").await;
    event_recorded(&client, &old, "Warning", "UndecodableSpec").await;
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&old)
            .await
            .unwrap()
            .is_none(),
        "nothing is built from a tenant the operator cannot read"
    );
}

/// A field the operator does not know could change what the tenant means: `deletionPolcy:
/// Retain`, read leniently, is a Delete tenant. Stored with no webhook to refuse it, such a
/// tenant is reported on itself and left as it is, its deletion included, until corrected.
#[tokio::test]
async fn a_tenant_with_an_unknown_field_is_reported_and_left_as_it_is() {
    use kube::api::{ApiResource, DynamicObject};
    let (client, operator) = operator_of_its_own().await;
    let raw: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::erase::<MunicipalityTenant>(&()),
    );
    let typo = "spec.deletionPolcy: unknown field: did you mean `deletionPolicy`?";

    // A new tenant with a misspelt field: reported, and nothing is built.
    let new = unique_name("typo-new");
    keys_for(&client, &operator, &new, &new).await;
    let mut stored = serde_json::to_value(tenant(&new, &operator.run)).unwrap();
    stored["spec"]["deletionPolcy"] = serde_json::json!("Retain");
    raw.create(
        &PostParams::default(),
        &serde_json::from_value(stored).unwrap(),
    )
    .await
    .unwrap();
    let stalled = condition(&client, &new, "Stalled", "True", Some("UnknownField")).await;
    let message = condition_of(stalled, "Stalled").message;
    assert!(message.contains(typo), "{message}");
    event_recorded(&client, &new, "Warning", "UnknownField").await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(namespaces.get_opt(&new).await.unwrap().is_none());

    // A Ready tenant whose Retain is misspelt afterwards: the API server defaults
    // deletionPolicy to Delete, and the operator must not act on that.
    let name = ready_tenant(&client, &operator, "typo-later").await;
    let misspell = serde_json::json!({"spec": {"deletionPolicy": null, "deletionPolcy": "Retain"}});
    raw.patch(&name, &PatchParams::default(), &Patch::Merge(&misspell))
        .await
        .unwrap();
    condition(&client, &name, "Stalled", "True", Some("UnknownField")).await;
    kubectl(&["delete", "mt", &name, "--wait=false"]);
    // The deletion waits: the namespace and the data in it are still there.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let terminating = raw.get(&name).await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    let namespace = namespaces.get(&name).await.unwrap();
    assert!(namespace.metadata.deletion_timestamp.is_none());
    // Corrected, the deletion goes on as the tenant meant: the namespace is kept.
    let correct = serde_json::json!({"spec": {"deletionPolicy": "Retain", "deletionPolcy": null}});
    raw.patch(&name, &PatchParams::default(), &Patch::Merge(&correct))
        .await
        .unwrap();
    eventually("the corrected tenant is gone", || async {
        raw.get_opt(&name).await.unwrap().is_none()
    })
    .await;
    let kept = namespaces.get(&name).await.unwrap();
    assert!(kept.metadata.deletion_timestamp.is_none(), "Retain kept it");
    assert_eq!(
        kube::ResourceExt::labels(&kept)
            .get("tenancy.municipio.io/retained")
            .map(String::as_str),
        Some("true")
    );
}

/// A tenant deleted with `deletionPolicy: Retain` comes back by being applied again: the same
/// name and the same ISTAT code take back the namespace, whose content stays as it is except for
/// the operator's own objects, applied as the tenant builds them. Any other tenant is refused it.
#[tokio::test]
async fn a_retained_namespace_comes_back_to_its_tenant_with_its_content() {
    let (client, operator) = operator_of_its_own().await;
    let name = ready_tenant(&client, &operator, "comeback").await;
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let first = tenants.get(&name).await.unwrap();
    assert_eq!(
        first.spec.deletion_policy,
        municipio_crds::v1alpha1::DeletionPolicy::Retain
    );
    tenants.delete(&name, &Default::default()).await.unwrap();
    eventually("the tenant is gone", || async {
        tenants.get_opt(&name).await.unwrap().is_none()
    })
    .await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let retained = namespaces.get(&name).await.unwrap();
    assert_eq!(
        kube::ResourceExt::labels(&retained)
            .get("tenancy.municipio.io/retained")
            .map(String::as_str),
        Some("true")
    );

    // The operator recorded it, with its UID, where tenants cannot write.
    let records: Api<ConfigMap> = Api::namespaced(client.clone(), &operator.namespace);
    let record = records.get(&format!("retained-{name}")).await.unwrap();
    assert_eq!(
        kube::ResourceExt::labels(&record).get("tenancy.municipio.io/namespace-uid"),
        retained.metadata.uid.as_ref()
    );

    // Meanwhile the municipality's data changes, and someone changes one of the operator's objects.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &name);
    let archive: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "archivio"}, "data": {"protocollo": "2026/1234"},
    }))
    .unwrap();
    let archive = config_maps
        .create(&PostParams::default(), &archive)
        .await
        .unwrap();
    let tamper = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "data": {"PAGOPA_STATION_ID": "tampered"},
    });
    config_maps
        .patch(
            "pagopa-connector",
            &PatchParams::apply("someone").force(),
            &Patch::Apply(&tamper),
        )
        .await
        .unwrap();

    // Another tenant, and the same name for another municipality, are refused the namespace.
    let other = unique_name("other");
    let mut others = tenant(&other, &operator.run);
    others.spec.namespace = Some(name.clone());
    let impostor = tenant(&name, &operator.run);
    assert_ne!(
        impostor.spec.municipality.istat_code,
        first.spec.municipality.istat_code
    );
    let mut deleting = tenant(&name, &operator.run);
    deleting.spec.municipality.istat_code = first.spec.municipality.istat_code.clone();
    deleting.spec.deletion_policy = municipio_crds::v1alpha1::DeletionPolicy::Delete;
    // Labels anyone who may create namespaces could write, with no record of the operator's.
    let forger = unique_name("forged");
    let forged = tenant(&forger, &operator.run);
    let labels = serde_json::json!({
        "tenancy.municipio.io/tenant": forger,
        "tenancy.municipio.io/retained": "true",
        "tenancy.municipio.io/istat-code": forged.spec.municipality.istat_code,
    });
    let forged_namespace = serde_json::json!({"metadata": {"name": forger, "labels": labels}});
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(forged_namespace).unwrap(),
        )
        .await
        .unwrap();
    for (asking, why) in [
        (
            deleting,
            "a tenant taking it back must retain it too".to_owned(),
        ),
        (
            forged,
            "the operator has no record of retaining it".to_owned(),
        ),
        (
            others,
            format!("holds the data retained from tenant {name}, which only"),
        ),
        (
            impostor,
            format!(
                "of the municipality with ISTAT code {}",
                first.spec.municipality.istat_code
            ),
        ),
    ] {
        let asking_name = asking.metadata.name.clone().unwrap();
        tenants
            .create(&PostParams::default(), &asking)
            .await
            .unwrap();
        let refused = condition(
            &client,
            &asking_name,
            "Stalled",
            "True",
            Some("NamespaceConflict"),
        )
        .await;
        let message = condition_of(refused, "Stalled").message;
        assert!(message.contains(&why), "{message}");
        tenants
            .delete(&asking_name, &Default::default())
            .await
            .unwrap();
        eventually("the refused tenant is gone", || async {
            tenants.get_opt(&asking_name).await.unwrap().is_none()
        })
        .await;
    }
    assert_eq!(
        namespaces
            .get(&name)
            .await
            .unwrap()
            .metadata
            .resource_version,
        retained.metadata.resource_version,
        "refused tenants leave the namespace untouched"
    );

    // The same tenant again: it takes the namespace back.
    let mut again = tenant(&name, &operator.run);
    again.spec.municipality.istat_code = first.spec.municipality.istat_code.clone();
    let again = create_ready(&client, &again).await;
    let uid = again.metadata.uid.clone().unwrap();
    assert_ne!(Some(&uid), first.metadata.uid.as_ref());
    let owned_again = |meta: &kube::api::ObjectMeta| {
        let controller = meta
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true));
        controller.map(|r| r.uid.as_str()) == Some(uid.as_str())
            && !meta
                .labels
                .iter()
                .flatten()
                .any(|(k, _)| k == "tenancy.municipio.io/retained")
    };
    assert!(owned_again(&namespaces.get(&name).await.unwrap().metadata));
    // The municipality's data is as it was; the operator's objects are the tenant's again, as built.
    assert!(
        records
            .get_opt(&format!("retained-{name}"))
            .await
            .unwrap()
            .is_none(),
        "the record goes with the take-back"
    );
    let kept = config_maps.get("archivio").await.unwrap();
    assert_eq!(
        kept.metadata.resource_version,
        archive.metadata.resource_version
    );
    eventually("the operator's ConfigMap is as built again", || async {
        let connector = config_maps.get("pagopa-connector").await.unwrap();
        connector.data.unwrap_or_default()["PAGOPA_STATION_ID"] == "80050050154_01"
    })
    .await;
    for config_map in config_maps.list(&Default::default()).await.unwrap() {
        let meta = &config_map.metadata;
        let operators = meta
            .labels
            .iter()
            .flatten()
            .any(|(k, v)| k == "app.kubernetes.io/managed-by" && v == "municipio");
        assert_eq!(owned_again(meta), operators, "{:?}", meta.name);
    }
    event_recorded(&client, &name, "Normal", "RetainedNamespaceTakenBack").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &name);
    for deployment in deployments.list(&Default::default()).await.unwrap() {
        assert!(
            owned_again(&deployment.metadata),
            "{:?}",
            deployment.metadata.name
        );
    }
}
