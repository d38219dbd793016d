//! Tests against a real API server (the control plane of `tests/control-plane`): the CRD, the
//! examples and the invalid manifests as Kubernetes itself sees them.

mod support;

use std::path::Path;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use municipio_crds::MunicipalityTenant;
use municipio_operator::manifests;
use support::{client, expectations, install_crd, kubectl, unique_name, yaml_files};

fn tenants_api(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &ApiResource::erase::<MunicipalityTenant>(&()),
    )
}

/// The documents of a file, each renamed to a name of this test's own: the examples may also
/// be applied to the same control plane (`tests/control-plane demo`).
fn documents(path: &Path) -> Vec<DynamicObject> {
    manifests::read(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|d| {
            let mut obj: DynamicObject =
                serde_json::from_value(d.unwrap_or_else(|e| panic!("{e}")).value)
                    .expect("an object");
            obj.metadata.name = Some(unique_name(obj.metadata.name.as_deref().unwrap_or("doc")));
            // No operator acts on these (the demo's skips test tenants; tests select their run).
            obj.metadata
                .labels
                .get_or_insert_default()
                .insert(support::TEST_RUN_LABEL.to_owned(), "none".to_owned());
            obj
        })
        .collect()
}

/// Server-side dry run: the API server runs its whole admission chain and schema validation,
/// and stores nothing.
async fn dry_run_create(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
) -> Result<DynamicObject, kube::Error> {
    api.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        obj,
    )
    .await
}

#[tokio::test]
async fn the_crd_installs_and_becomes_established() {
    let client = client().await;
    install_crd(&client).await;
    let resources = kubectl(&[
        "api-resources",
        "--api-group=tenancy.municipio.io",
        "--no-headers",
    ]);
    let fields: Vec<&str> = resources.split_whitespace().collect();
    assert_eq!(
        fields,
        [
            "municipalitytenants",
            "mt",
            "tenancy.municipio.io/v1alpha1",
            "false",
            "MunicipalityTenant"
        ]
    );
}

/// `kubectl explain` names the kind's fields and describes the spec. The spec keeps unknown
/// fields for the webhook to refuse (see `crds/src/crd.rs`), and an API server that publishes
/// CRDs only as OpenAPI v2 (before 1.27, like this one) leaves such an object's fields out
/// there: they are documented by OpenAPI v3 and docs/api.md.
#[tokio::test]
async fn kubectl_explain_documents_the_kind_and_the_spec() {
    let client = client().await;
    install_crd(&client).await;
    // The API server publishes a new CRD's OpenAPI a few seconds after it is Established.
    let mut attempts = 0;
    let explained = loop {
        match support::try_kubectl(&["explain", "municipalitytenant"]) {
            Ok(text) if text.contains("FIELDS") => break text,
            other if attempts == 60 => {
                panic!("kubectl explain shows no fields after 30s: {other:?}")
            }
            _ => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    };
    for field in ["apiVersion", "kind", "metadata", "spec", "status"] {
        assert!(
            explained.contains(&format!("   {field}\t")),
            "{field} missing from:\n{explained}"
        );
    }
    // Descriptions come from the doc comments of the types.
    let spec = support::kubectl(&["explain", "municipalitytenant.spec"]);
    assert!(
        spec.contains("What the municipality needs: its identity"),
        "{spec}"
    );
}

#[tokio::test]
async fn every_example_is_accepted_by_the_api_server() {
    let client = client().await;
    install_crd(&client).await;
    let api = tenants_api(&client);
    for file in yaml_files("examples") {
        for obj in documents(&file) {
            if let Err(e) = dry_run_create(&api, &obj).await {
                panic!("{}: refused by the API server: {e}", file.display());
            }
        }
    }
}

/// Each file names, in `# expect: ...` lines, the field path the API server's message must name.
#[tokio::test]
async fn schema_invalid_manifests_are_refused_naming_the_field() {
    let client = client().await;
    install_crd(&client).await;
    let api = tenants_api(&client);
    let list_index = regex::Regex::new(r"\[[0-9]+\]").unwrap();
    for file in yaml_files("tests/manifests/schema-invalid") {
        let obj = documents(&file).pop().expect("one document");
        match dry_run_create(&api, &obj).await {
            Ok(_) => panic!(
                "{}: accepted, but the schema must refuse it",
                file.display()
            ),
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{}: {status:?}", file.display());
                for expected in expectations(&file) {
                    // Kubernetes 1.20 names a list item without its index (spec.admins.kind),
                    // current releases with it (spec.admins[0].kind): either names the field.
                    let without_index = list_index.replace_all(&expected, "").into_owned();
                    assert!(
                        status.message.contains(&expected)
                            || status.message.contains(&without_index),
                        "{}: {expected:?} not named in {:?}",
                        file.display(),
                        status.message
                    );
                }
            }
            Err(e) => panic!("{}: {e}", file.display()),
        }
    }
}

/// The semantic rules need `validate` (and the webhook): the schema alone lets these through.
/// If one of them is refused here, it belongs in the schema-invalid set instead.
#[tokio::test]
async fn semantically_invalid_manifests_pass_the_schema() {
    let client = client().await;
    install_crd(&client).await;
    let api = tenants_api(&client);
    for file in yaml_files("tests/manifests/semantic-invalid") {
        for obj in documents(&file) {
            if let Err(e) = dry_run_create(&api, &obj).await {
                panic!("{}: the schema already refuses it: {e}", file.display());
            }
        }
    }
}

/// The API server keeps a field the schema does not know (it would otherwise prune it before
/// admission, unseen), so that the webhook can refuse it and the controller report it.
#[tokio::test]
async fn an_unknown_field_reaches_admission_and_the_controller() {
    let client = client().await;
    install_crd(&client).await;
    let api = tenants_api(&client);
    for file in yaml_files("tests/manifests/unknown-fields") {
        for obj in documents(&file) {
            let stored = dry_run_create(&api, &obj)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let stored = serde_json::to_value(&stored).unwrap();
            let errors = municipio_crds::decode(&stored).expect_err("the typo is still there");
            let found: Vec<String> = errors
                .iter()
                .map(|e| format!("{} {}", e.path, e.problem.rule()))
                .collect();
            for expected in expectations(&file) {
                let path_and_rule = expected.rsplit_once(' ').unwrap().0;
                assert_eq!(found, [path_and_rule], "{}", file.display());
            }
        }
    }
}

/// `kubectl get mt` shows the printer columns, and the status subresource carries what the
/// operator will write.
#[tokio::test]
async fn kubectl_get_shows_the_columns_and_the_status() {
    let client = client().await;
    install_crd(&client).await;
    let api = tenants_api(&client);
    let name = unique_name("columns");
    let mut obj = documents(&support::repo_root().join("examples/lombardia/cassano-d-adda.yaml"))
        .pop()
        .unwrap();
    obj.metadata.name = Some(name.clone());
    let istat = support::unique_istat();
    obj.data["spec"]["municipality"]["istatCode"] = serde_json::json!(istat);
    api.create(&PostParams::default(), &obj)
        .await
        .expect("created");

    let status = serde_json::json!({
        "apiVersion": "tenancy.municipio.io/v1alpha1",
        "kind": "MunicipalityTenant",
        "status": {
            "observedGeneration": 1,
            "namespace": format!("comune-{name}"),
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "Reconciled", "message": "all children applied",
                "observedGeneration": 1, "lastTransitionTime": "2026-11-23T12:00:00Z"
            }]
        }
    });
    api.patch_status(
        &name,
        &PatchParams::apply("municipio-tests"),
        &Patch::Apply(&status),
    )
    .await
    .expect("status written");

    let table = kubectl(&["get", "mt", &name, "-o", "wide"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "ISTAT",
            "ENVIRONMENT",
            "NAMESPACE",
            "READY",
            "STATUS",
            "AGE"
        ]
    );
    let row = lines.next().unwrap();
    for value in [
        name.as_str(),
        istat.as_str(),
        "uat",
        &format!("comune-{name}"),
        "True",
        "all children applied",
    ] {
        assert!(row.contains(value), "{value} missing from {row}");
    }
    // `spec` is not writable through the status subresource, and status not through the object.
    let stored = api.get(&name).await.unwrap();
    assert_eq!(stored.metadata.generation, Some(1));
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("deleted");
}

/// Everything the build step makes is accepted by the real API server through server-side
/// apply: the namespace for real (owned by a real tenant), the rest as a dry run in it. A field
/// the server does not know would be refused here.
#[tokio::test]
async fn the_built_children_are_accepted_by_the_api_server() {
    use k8s_openapi::NamespaceResourceScope;
    use municipio_operator::children::{self, ConnectorKeys, Owner};
    use municipio_operator::config::OperatorConfig;

    async fn dry_apply<K>(client: &kube::Client, ns: &str, obj: &K)
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        let name = obj.meta().name.clone().unwrap();
        let mut obj = obj.clone();
        obj.meta_mut().namespace = Some(ns.to_owned());
        let params = PatchParams {
            dry_run: true,
            ..PatchParams::apply("municipio").force()
        };
        if let Err(e) = api.patch(&name, &params, &Patch::Apply(&obj)).await {
            panic!("{} {name} refused: {e}", K::kind(&()));
        }
    }

    let client = client().await;
    install_crd(&client).await;
    let name = unique_name("built");
    let mut tenant: MunicipalityTenant = serde_yaml_ng::from_str(
        &std::fs::read_to_string(support::repo_root().join("examples/modena.yaml")).unwrap(),
    )
    .unwrap();
    tenant.metadata.name = Some(name.clone());
    tenant.metadata.labels = Some([(support::TEST_RUN_LABEL.to_owned(), "none".to_owned())].into());
    tenant.spec.namespace = Some(name.clone());
    tenant.spec.municipality.istat_code = support::unique_istat();
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let created = tenants
        .create(&PostParams::default(), &tenant)
        .await
        .expect("tenant created");
    let valid = municipio_crds::validate(&created).expect("valid");
    let config = OperatorConfig::defaults();
    let mut keys = ConnectorKeys::placeholders(&valid, &config.operator_namespace);
    keys.set_identity(
        municipio_operator::connectors::identity::publish::with_throwaway_keys(&valid, &config, 0)
            .expect("identity artifacts"),
    );
    let children = children::build(&valid, &Owner::of(&created), &config, &keys);

    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &name,
            &PatchParams::apply("municipio").force(),
            &Patch::Apply(&children.namespace),
        )
        .await
        .expect("namespace applied");
    let ns = name.as_str();
    for o in children.resource_quota.iter() {
        dry_apply(&client, ns, o).await;
    }
    for o in children.limit_range.iter() {
        dry_apply(&client, ns, o).await;
    }
    for o in children.role_binding.iter() {
        dry_apply(&client, ns, o).await;
    }
    for o in &children.network_policies {
        dry_apply(&client, ns, o).await;
    }
    for o in &children.config_maps {
        dry_apply(&client, ns, o).await;
    }
    for o in &children.secrets {
        dry_apply(&client, ns, o).await;
    }
    for o in &children.services {
        dry_apply(&client, ns, o).await;
    }
    for o in &children.deployments {
        dry_apply(&client, ns, o).await;
    }
    dry_apply(&client, ns, &children.object_counts).await;
    // 15 of the tenant's, and the gateway's ConfigMap and Secret (tried in the tenant's
    // namespace: what is checked is that the API server takes them).
    assert_eq!(children.to_values().len(), 22, "every kind was tried");
    tenants
        .delete(&name, &DeleteParams::default())
        .await
        .expect("tenant deleted");
}
