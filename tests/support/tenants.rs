//! Tenants and source Secrets as the real-server tests make them, and waiting on conditions.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use municipio_crds::MunicipalityTenant;

use super::{Operator, TEST_RUN_LABEL};

pub async fn namespace(client: &kube::Client, name: &str) {
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
}

pub async fn source_secret(
    client: &kube::Client,
    ns: &str,
    name: &str,
    bound_to: &str,
    data: &[(&str, &str)],
) {
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(
                "tenancy.municipio.io/tenant".to_owned(),
                bound_to.to_owned(),
            )])),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
}

/// A manifest of the repository under a fresh name, namespace, ISTAT code and test-run label.
pub fn from_manifest(file: &str, name: &str, run: &str) -> MunicipalityTenant {
    let text = std::fs::read_to_string(super::repo_root().join(file)).unwrap();
    let mut t: MunicipalityTenant = serde_yaml_ng::from_str(&text).unwrap();
    t.metadata.name = Some(name.to_owned());
    t.metadata.labels = Some(BTreeMap::from([(
        TEST_RUN_LABEL.to_owned(),
        run.to_owned(),
    )]));
    t.spec.namespace = Some(name.to_owned());
    t.spec.municipality.istat_code = super::unique_istat();
    t
}

/// A client, the CRD, and an operator of its own (own run label and operator namespace).
pub async fn operator_of_its_own() -> (kube::Client, Operator) {
    operator_of_its_own_with("run", &[]).await
}

/// As [`operator_of_its_own`], its run named after `prefix`, with more flags.
pub async fn operator_of_its_own_with(prefix: &str, flags: &[&str]) -> (kube::Client, Operator) {
    let client = super::client().await;
    super::install_crd(&client).await;
    let run = super::unique_name(prefix);
    let operator_ns = format!("{run}-system");
    namespace(&client, &operator_ns).await;
    let operator = Operator::start_with(&run, &operator_ns, &run, "operator", flags);
    (client, operator)
}

/// The pagoPA subscription key of a tenant made from Modena's example.
pub fn subscription_key(
    t: &mut MunicipalityTenant,
) -> &mut municipio_crds::v1alpha1::SubscriptionKeyRef {
    t.spec
        .pagopa
        .as_mut()
        .and_then(|p| p.subscription_key.as_mut())
        .expect("Modena's example has a pagoPA subscription key")
}

/// Modena's example under a fresh name, namespace and test-run label, naming Secrets `<name>-pagopa`
/// and `<name>-io`.
pub fn tenant(name: &str, run: &str) -> MunicipalityTenant {
    let mut t = from_manifest("examples/modena.yaml", name, run);
    subscription_key(&mut t).secret_name = format!("{name}-pagopa");
    for s in &mut t.spec.io.as_mut().unwrap().services {
        if let Some(k) = &mut s.api_key {
            k.secret_name = format!("{name}-io");
        }
    }
    t
}

pub async fn keys_for(client: &kube::Client, operator: &Operator, name: &str, bound_to: &str) {
    source_secret(
        client,
        &operator.namespace,
        &format!("{name}-pagopa"),
        bound_to,
        &[("primary", "P1"), ("secondary", "P2")],
    )
    .await;
    let io = [
        ("tributi", "a"),
        ("anagrafe-cie", "b"),
        ("elettorale", "c"),
        ("polizia-locale", "d"),
    ];
    source_secret(
        client,
        &operator.namespace,
        &format!("{name}-io"),
        bound_to,
        &io,
    )
    .await;
}

/// The tenant's condition `type_` (it must have a status with one).
pub fn condition_of(t: MunicipalityTenant, type_: &str) -> Condition {
    t.status
        .expect("a status")
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

/// Waits until the tenant's condition `type_` has `status` and, if given, `reason`.
pub async fn condition(
    client: &kube::Client,
    name: &str,
    type_: &str,
    status: &str,
    reason: Option<&str>,
) -> MunicipalityTenant {
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    // Only a condition computed for the current generation counts.
    let matches = |t: Option<&MunicipalityTenant>| {
        t.is_some_and(|t| {
            t.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == type_
                        && c.status == status
                        && reason.is_none_or(|r| c.reason == r)
                        && c.observed_generation == t.metadata.generation
                })
            })
        })
    };
    // A watch the API server ends (410 Expired, after a compaction under load) is started
    // again, within the same two minutes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let waited =
            tokio::time::timeout_at(deadline, await_condition(api.clone(), name, matches)).await;
        match waited {
            Ok(Ok(Some(t))) => return t,
            Ok(Err(kube::runtime::wait::Error::ProbeFailed(e))) => {
                eprintln!("{name}: the watch ended ({e}); watching again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => {
                let now = api.get(name).await.ok().and_then(|t| t.status);
                panic!(
                    "{name}: {type_}={status} ({reason:?}) not reached: {other:?}; status now: {now:#?}"
                )
            }
        }
    }
}

/// Creates `tenant` and waits until it is Ready: the tenant as it then is.
pub async fn create_ready(
    client: &kube::Client,
    tenant: &MunicipalityTenant,
) -> MunicipalityTenant {
    let name = tenant.metadata.name.as_deref().expect("a named tenant");
    Api::<MunicipalityTenant>::all(client.clone())
        .create(&PostParams::default(), tenant)
        .await
        .unwrap_or_else(|e| panic!("tenant {name} created: {e}"));
    condition(client, name, "Ready", "True", Some("Ready")).await
}

/// Binds the source Secret `secret` of namespace `ns` to `tenant`, or to no tenant (`None`).
pub async fn bind_source_secret(
    client: &kube::Client,
    ns: &str,
    secret: &str,
    tenant: Option<&str>,
) {
    let bind = serde_json::json!({"metadata": {"labels": {"tenancy.municipio.io/tenant": tenant}}});
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(secret, &PatchParams::default(), &Patch::Merge(&bind))
        .await
        .unwrap_or_else(|e| panic!("binding Secret {ns}/{secret}: {e}"));
}

/// The (type, reason, message) of the Events recorded about tenant `name`. A cluster-scoped
/// object's events live in the `default` namespace.
pub async fn tenant_events(client: &kube::Client, name: &str) -> Vec<(String, String, String)> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect("events are listed")
        .items
        .into_iter()
        .filter(|e| {
            let r = &e.involved_object;
            r.kind.as_deref() == Some("MunicipalityTenant") && r.name.as_deref() == Some(name)
        })
        .map(|e| {
            let field = |f: Option<String>| f.unwrap_or_default();
            (field(e.type_), field(e.reason), field(e.message))
        })
        .collect()
}

/// Waits until an event of this type and reason is recorded about tenant `name`.
pub async fn event_recorded(client: &kube::Client, name: &str, type_: &str, reason: &str) {
    super::eventually(&format!("a {type_} {reason} event"), || async {
        tenant_events(client, name)
            .await
            .iter()
            .any(|(t, r, _)| t == type_ && r == reason)
    })
    .await;
}

/// Waits until an event with `reason` about tenant `name` says `what`.
pub async fn event_says(client: &kube::Client, name: &str, reason: &str, what: &str) {
    super::eventually(&format!("a {reason} event saying {what:?}"), || async {
        tenant_events(client, name)
            .await
            .iter()
            .any(|(_, r, m)| r == reason && m.contains(what))
    })
    .await;
}
