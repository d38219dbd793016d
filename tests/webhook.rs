//! The admission webhook against the real API server: `municipio webhook` as a process on
//! loopback, registered with a `ValidatingWebhookConfiguration` whose `clientConfig.url` points
//! at it, so `kubectl apply` goes through it as in a cluster. Each test registers its own
//! configuration, limited by an objectSelector to its own tenants, so tests run side by side.

mod support;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use municipio_crds::MunicipalityTenant;
use serde_json::{Value, json};
use support::tenants::bind_source_secret;
use support::{
    TEST_RUN_LABEL, client, eventually, free_port, install_crd, try_kubectl, unique_istat,
    unique_name,
};

/// `municipio webhook` on loopback, registered for the tenants labelled with `run`.
struct Webhook {
    child: Option<Child>,
    run: String,
    operator_namespace: String,
    dir: PathBuf,
    port: u16,
    certificates: Certificates,
    /// `municipio run` only: whether its controller manages the tenants labelled with `run`.
    manage: bool,
}

/// Where the serving certificate comes from, and which command serves the webhook.
#[derive(Clone, Copy, PartialEq)]
enum Certificates {
    /// Files made by the test (as cert-manager would): the test writes the caBundle.
    Provided,
    /// Made by the webhook itself, which writes the caBundle.
    SelfManaged,
    /// Self-managed, served by `municipio run` alongside the controller.
    SelfManagedByRun,
}

impl Webhook {
    async fn start(client: &kube::Client) -> Self {
        Self::start_with(client, Certificates::Provided).await
    }

    async fn start_with(client: &kube::Client, certificates: Certificates) -> Self {
        install_crd(client).await;
        let run = unique_name("hook");
        let operator_namespace = format!("{run}-system");
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": operator_namespace}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let dir = std::env::temp_dir().join(&run);
        std::fs::create_dir_all(&dir).unwrap();
        let mut hook = Self {
            child: None,
            run,
            operator_namespace,
            dir,
            port: free_port(),
            certificates,
            manage: false,
        };
        let configuration = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": hook.run},
            "webhooks": [{
                "name": "tenants.tenancy.municipio.io",
                "clientConfig": {
                    "url": format!("https://127.0.0.1:{}/validate-municipalitytenant", hook.port),
                },
                "rules": [{
                    "apiGroups": ["tenancy.municipio.io"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["municipalitytenants"],
                    "scope": "Cluster",
                }],
                "objectSelector": {"matchLabels": {TEST_RUN_LABEL: hook.run}},
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }, {
                "name": "tenant-deletions.tenancy.municipio.io",
                "clientConfig": {
                    "url": format!("https://127.0.0.1:{}/validate-municipalitytenant", hook.port),
                },
                "rules": [{
                    "apiGroups": ["tenancy.municipio.io"],
                    "apiVersions": ["v1alpha1"],
                    "operations": ["DELETE"],
                    "resources": ["municipalitytenants"],
                    "scope": "Cluster",
                }],
                "objectSelector": {"matchLabels": {TEST_RUN_LABEL: hook.run}},
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }],
        });
        let mut configuration: ValidatingWebhookConfiguration =
            serde_json::from_value(configuration).unwrap();
        if certificates == Certificates::Provided {
            let ca = support::certificates(&hook.dir);
            for webhook in configuration.webhooks.iter_mut().flatten() {
                webhook.client_config.ca_bundle = Some(ByteString(ca.clone().into_bytes()));
            }
        }
        Api::<ValidatingWebhookConfiguration>::all(client.clone())
            .create(&PostParams::default(), &configuration)
            .await
            .unwrap();
        hook.spawn();
        hook
    }

    /// Starts the process and waits until it listens (it listens once its caches are full).
    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("webhook.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_municipio"));
        match self.certificates {
            Certificates::SelfManagedByRun => {
                // The controller manages this test's tenants, or none of the cluster's.
                let selector = if self.manage {
                    format!("{TEST_RUN_LABEL}={}", self.run)
                } else {
                    format!("{TEST_RUN_LABEL}={}-none", self.run)
                };
                command.arg("run").args(["--tenant-selector", &selector])
            }
            _ => command.arg("webhook"),
        };
        command
            .args(["--operator-namespace", &self.operator_namespace])
            .args(["--webhook-addr", &format!("127.0.0.1:{}", self.port)])
            .args(["--http-addr", "127.0.0.1:0"]);
        match self.certificates {
            Certificates::Provided => command
                .arg("--tls-cert-file")
                .arg(self.dir.join("tls.crt"))
                .arg("--tls-key-file")
                .arg(self.dir.join("tls.key")),
            Certificates::SelfManaged | Certificates::SelfManagedByRun => command
                .args(["--webhook-configuration", &self.run])
                .args(["--webhook-extra-san", "127.0.0.1"]),
        };
        let child = command
            .env("KUBECONFIG", support::kubeconfig())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the webhook starts");
        self.child = Some(child);
        for _ in 0..240 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("the webhook does not listen: {}", self.log());
    }

    /// Restarts `municipio run` so that its controller manages this test's tenants.
    fn manages_its_tenants(&mut self) {
        assert!(self.certificates == Certificates::SelfManagedByRun);
        self.stop();
        self.manage = true;
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("webhook.log")).unwrap_or_default()
    }

    /// `tenant` renamed for this test, with its label, written to a file for kubectl.
    fn manifest(&self, mut tenant: Value, name: &str) -> PathBuf {
        tenant["metadata"]["name"] = json!(name);
        tenant["metadata"]["labels"] = json!({ TEST_RUN_LABEL: self.run });
        let path = self.dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec(&tenant).unwrap()).unwrap();
        path
    }

    fn apply(&self, tenant: Value, name: &str, extra: &[&str]) -> Result<String, String> {
        let path = self.manifest(tenant, name);
        let mut args = vec!["apply", "-f", path.to_str().unwrap()];
        args.extend(extra);
        try_kubectl(&args)
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop();
        let _ = try_kubectl(&["delete", "validatingwebhookconfiguration", &self.run]);
    }
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A tenant with its own namespace, so that tests do not collide on `comune-<name>`.
fn own_namespace(mut tenant: Value, name: &str) -> Value {
    tenant["spec"]["namespace"] = json!(name);
    tenant
}

#[tokio::test]
async fn every_example_is_admitted() {
    let client = client().await;
    let hook = Webhook::start(&client).await;
    for path in support::yaml_files("examples") {
        let name = unique_name("example");
        // A unique ISTAT code too: the demo's examples may be in the cluster already.
        let mut tenant = own_namespace(yaml(&path), &name);
        tenant["spec"]["municipality"]["istatCode"] = json!(unique_istat());
        let applied = hook.apply(tenant, &name, &[]);
        assert!(applied.is_ok(), "{}: {applied:?}", path.display());
    }
}

#[tokio::test]
async fn invalid_tenants_are_refused_naming_the_field() {
    let client = client().await;
    let hook = Webhook::start(&client).await;
    let files = support::yaml_files("tests/manifests/semantic-invalid");
    for path in &files {
        let name = unique_name("invalid");
        let mut tenant = yaml(path);
        if tenant["spec"]["namespace"].is_null() {
            tenant = own_namespace(tenant, &name);
        }
        let refused = hook
            .apply(tenant, &name, &[])
            .expect_err(&format!("{} is refused", path.display()));
        assert!(
            refused.contains("denied the request"),
            "{}: refused by the webhook: {refused}",
            path.display()
        );
        for expected in support::expectations(path) {
            let field = expected.split_whitespace().next().unwrap();
            assert!(
                refused.contains(&format!("{field}:")),
                "{}: the message names {field}: {refused}",
                path.display()
            );
        }
    }
    assert!(
        files.len() >= 30,
        "every rule, each with real-looking values"
    );
}

/// A misspelt field reaches the webhook (the CRD keeps unknown fields) and is refused with its
/// path and the field meant, however the client applies it.
#[tokio::test]
async fn an_unknown_field_is_refused_naming_the_field_meant() {
    let client = client().await;
    let hook = Webhook::start(&client).await;
    let files = support::yaml_files("tests/manifests/unknown-fields");
    for path in &files {
        let name = unique_name("unknown");
        let mut tenant = own_namespace(yaml(path), &name);
        tenant["spec"]["municipality"]["istatCode"] = json!(unique_istat());
        for how in [&[][..], &["--server-side"][..]] {
            let refused = hook
                .apply(tenant.clone(), &name, how)
                .expect_err(&format!("{} is refused", path.display()));
            for expected in support::expectations(path) {
                let [field, _, meant] = expected.split(' ').collect::<Vec<_>>()[..] else {
                    panic!("{}: expect <path> UnknownField <meant>", path.display())
                };
                assert!(
                    refused.contains("denied the request")
                        && refused
                            .contains(&format!("{field}: unknown field: did you mean `{meant}`?")),
                    "{} {how:?}: {refused}",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test]
async fn rules_across_tenants_and_a_server_side_dry_run() {
    let client = client().await;
    let hook = Webhook::start(&client).await;
    let modena = yaml(&support::repo_root().join("examples/modena.yaml"));
    let istat = unique_istat();
    let one = unique_name("first");
    let mut first = own_namespace(modena.clone(), &one);
    first["spec"]["municipality"]["istatCode"] = json!(istat);
    hook.apply(first.clone(), &one, &[]).expect("admitted");

    // Same ISTAT code: refused; same namespace: refused; both at once.
    let two = unique_name("second");
    let refused = hook.apply(first.clone(), &two, &[]).unwrap_err();
    assert!(
        refused.contains(&format!(
            "spec.municipality.istatCode: ISTAT code {istat} is already the municipality of tenant {one}"
        )),
        "{refused}"
    );
    assert!(
        refused.contains(&format!(
            "spec.namespace: namespace {one} is already the namespace of tenant {one}"
        )),
        "{refused}"
    );
    // The same refusal from a server-side dry run, the GitOps preflight.
    let dry = hook
        .apply(first.clone(), &two, &["--dry-run=server"])
        .unwrap_err();
    assert!(dry.contains("spec.municipality.istatCode: "), "{dry}");

    // A namespace that exists and is not the tenant's: refused.
    let foreign = unique_name("foreign");
    try_kubectl(&["create", "namespace", &foreign]).unwrap();
    let mut other = own_namespace(modena.clone(), &foreign);
    other["spec"]["municipality"]["istatCode"] = json!(unique_istat());
    let refused = hook.apply(other, &foreign, &[]).unwrap_err();
    assert!(
        refused.contains(&format!(
            "spec.namespace: namespace {foreign} already exists"
        )),
        "{refused}"
    );

    // Immutable fields: the API server hands the webhook the old object.
    let mut moved = first.clone();
    moved["spec"]["namespace"] = json!(format!("{one}-2"));
    let refused = hook.apply(moved, &one, &[]).unwrap_err();
    assert!(
        refused.contains(&format!(
            "spec.namespace: cannot change from {one} to {one}-2"
        )),
        "{refused}"
    );
}

/// What an update may not do, through the real API server (which hands the webhook the old
/// object): move the municipality, or quietly take a production tenant back to uat.
#[tokio::test]
async fn updates_keep_the_municipality_and_refuse_a_silent_downgrade() {
    let client = client().await;
    let hook = Webhook::start(&client).await;
    let name = unique_name("update");
    let istat = unique_istat();
    let mut milano = own_namespace(
        yaml(&support::repo_root().join("examples/lombardia/milano.yaml")),
        &name,
    );
    milano["spec"]["municipality"]["istatCode"] = json!(istat);
    hook.apply(milano.clone(), &name, &[]).expect("admitted");

    let mut moved = milano.clone();
    let other = unique_istat();
    moved["spec"]["municipality"]["istatCode"] = json!(other);
    let refused = hook.apply(moved, &name, &[]).unwrap_err();
    assert!(
        refused.contains(&format!(
            "spec.municipality.istatCode: cannot change from {istat} to {other}"
        )),
        "{refused}"
    );

    let mut uat = milano.clone();
    uat["spec"]["environment"] = json!("uat");
    let refused = hook.apply(uat.clone(), &name, &[]).unwrap_err();
    assert!(
        refused.contains("spec.environment: moving from production to uat")
            && refused.contains("tenancy.municipio.io/allow-environment-downgrade"),
        "{refused}"
    );
    // Said on purpose: admitted.
    uat["metadata"]["annotations"] =
        json!({"tenancy.municipio.io/allow-environment-downgrade": "true"});
    hook.apply(uat, &name, &[])
        .expect("a deliberate downgrade is admitted");
    let stored = Api::<MunicipalityTenant>::all(client.clone())
        .get(&name)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(stored.spec.environment).unwrap(),
        json!("uat")
    );
}

#[tokio::test]
async fn another_tenants_source_secret_is_refused_an_unbound_one_admitted_with_a_warning() {
    let client = client().await;
    let hook = Webhook::start(&client).await;
    let name = unique_name("warned");
    // The pagoPA Secret exists but is bound to another tenant; the IO one does not exist.
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{name}-pagopa")),
            labels: Some(BTreeMap::from([(
                "tenancy.municipio.io/tenant".to_owned(),
                "carpi".to_owned(),
            )])),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), &hook.operator_namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let mut tenant = own_namespace(
        yaml(&support::repo_root().join("examples/modena.yaml")),
        &name,
    );
    tenant["spec"]["municipality"]["istatCode"] = json!(unique_istat());
    tenant["spec"]["pagopa"]["subscriptionKey"]["secretName"] = json!(format!("{name}-pagopa"));
    // A server-side dry run, repeated until its outcome (admitted, and what kubectl printed on
    // standard error) is as `wanted`: the webhook's cache sees a Secret's change a moment after
    // it is made. Returns what kubectl printed.
    let dry_run_until = |what: &'static str, wanted: fn(bool, &str) -> bool| {
        let manifest = hook.manifest(tenant.clone(), &name);
        async move {
            let mut stderr = String::new();
            for _ in 0..40 {
                let out = Command::new("kubectl")
                    .env("KUBECONFIG", support::kubeconfig())
                    .args(["apply", "--dry-run=server", "-f"])
                    .arg(&manifest)
                    .output()
                    .unwrap();
                stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                if wanted(out.status.success(), &stderr) {
                    return stderr;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            panic!("{what}: {stderr}")
        }
    };
    // Until the webhook's cache sees the Secret, it would warn "does not exist".
    let refused = dry_run_until("never refused", |admitted, _| !admitted).await;
    assert!(
        refused.contains(&format!(
            "spec.pagopa.subscriptionKey.secretName: Secret {}/{name}-pagopa is bound to carpi, not to tenant {name}",
            hook.operator_namespace
        )),
        "{refused}"
    );

    // Bound to no one: admitted, with a warning (a GitOps tool may label it a moment later).
    let pagopa = format!("{name}-pagopa");
    bind_source_secret(&client, &hook.operator_namespace, &pagopa, None).await;
    let last = dry_run_until("no warning about the binding", |admitted, stderr| {
        admitted && stderr.contains("is not bound to tenant")
    })
    .await;
    assert!(
        last.contains(&format!(
            "Warning: spec.pagopa.subscriptionKey.secretName: Secret {}/{name}-pagopa is not bound to tenant {name}",
            hook.operator_namespace
        )),
        "{last}"
    );
    assert!(last.contains("does not exist"), "{last}");
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    assert!(tenants.get_opt(&name).await.unwrap().is_none(), "a dry run");
}

#[tokio::test]
async fn with_the_webhook_down_creation_is_refused_and_nothing_else_is_affected() {
    let client = client().await;
    let mut hook = Webhook::start(&client).await;
    hook.stop();
    let name = unique_name("down");
    let tenant = own_namespace(
        yaml(&support::repo_root().join("examples/modena.yaml")),
        &name,
    );
    let refused = hook.apply(tenant.clone(), &name, &[]).unwrap_err();
    assert!(
        refused.contains("failed calling webhook") && refused.contains("connection refused"),
        "says the webhook is unreachable: {refused}"
    );
    // Tenants of other runs (another objectSelector), and other kinds, are not affected.
    let mut elsewhere = tenant;
    elsewhere["spec"]["municipality"]["istatCode"] = json!(unique_istat());
    elsewhere["metadata"]["name"] = json!(name);
    elsewhere["metadata"]["labels"] = json!({ TEST_RUN_LABEL: "another-run" });
    let path = hook.dir.join("elsewhere.json");
    std::fs::write(&path, serde_json::to_vec(&elsewhere).unwrap()).unwrap();
    try_kubectl(&["apply", "--dry-run=server", "-f", path.to_str().unwrap()])
        .expect("not this webhook's tenant");
    try_kubectl(&["create", "configmap", &name, "--dry-run=server"])
        .expect("other kinds are not this webhook's");
}

#[tokio::test]
async fn self_managed_certificates_are_trusted_and_shared_by_replicas() {
    let client = client().await;
    let mut hook = Webhook::start_with(&client, Certificates::SelfManaged).await;
    // The API server trusts the webhook's own CA: its refusal comes through.
    let name = unique_name("self-signed");
    let mut tenant = own_namespace(
        yaml(&support::repo_root().join("examples/modena.yaml")),
        &name,
    );
    tenant["spec"]["pagopa"]["ibans"][0]["iban"] = json!("IT61X0542811101000000123456");
    let refused = hook.apply(tenant, &name, &[]).unwrap_err();
    assert!(
        refused.contains("denied the request: spec.pagopa.ibans[0].iban: "),
        "{refused}"
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &hook.operator_namespace);
    let stored = secrets.get("municipio-webhook-tls").await.unwrap();
    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let bundle =
        |c: ValidatingWebhookConfiguration| c.webhooks.unwrap()[0].client_config.ca_bundle.clone();
    let ca = bundle(configurations.get(&hook.run).await.unwrap());
    assert_eq!(ca, stored.data.as_ref().unwrap().get("ca.crt").cloned());

    // A second replica (here: the same one restarted) takes the shared certificate as it is.
    hook.stop();
    hook.spawn();
    let again = secrets.get("municipio-webhook-tls").await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        stored.metadata.resource_version
    );
    assert_eq!(bundle(configurations.get(&hook.run).await.unwrap()), ca);
    let name = unique_name("self-signed");
    let mut tenant = own_namespace(
        yaml(&support::repo_root().join("examples/modena.yaml")),
        &name,
    );
    tenant["spec"]["municipality"]["istatCode"] = json!(unique_istat());
    hook.apply(tenant, &name, &[])
        .expect("admitted through the same CA");
}

/// With the webhook in front of the controller, a Retain tenant still goes: the controller's
/// own updates while it is deleted (its namespace detached, the finalizer removed) pass the
/// webhook, and the namespace stays.
#[tokio::test]
async fn a_retained_tenant_is_deleted_through_the_webhook() {
    let client = client().await;
    let mut hook = Webhook::start_with(&client, Certificates::SelfManagedByRun).await;
    // This time the controller manages the test's tenants.
    hook.manages_its_tenants();
    let name = unique_name("retain");
    let mut tenant = own_namespace(
        yaml(&support::repo_root().join("examples/modena.yaml")),
        &name,
    );
    tenant["spec"]["municipality"]["istatCode"] = json!(unique_istat());
    tenant["spec"]["deletionPolicy"] = json!("Retain");
    // No connectors, so no source Secrets are needed for the controller to build.
    let spec = tenant["spec"].as_object_mut().unwrap();
    spec.remove("pagopa");
    spec.remove("io");
    for workload in spec["workloads"].as_array_mut().unwrap() {
        workload.as_object_mut().unwrap().remove("connectors");
    }
    hook.apply(tenant.clone(), &name, &[]).expect("admitted");

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    eventually("the controller made the namespace", || async {
        namespaces.get_opt(&name).await.unwrap().is_some()
    })
    .await;
    // A foreground deletion would let the garbage collector take the namespace: refused.
    let refused = try_kubectl(&[
        "delete",
        "mt",
        &name,
        "--cascade=foreground",
        "--wait=false",
    ])
    .expect_err("a foreground deletion of a Retain tenant");
    assert!(
        refused
            .contains("a foreground deletion would let the garbage collector delete its namespace"),
        "{refused}"
    );
    assert!(
        tenants
            .get(&name)
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );
    tenants.delete(&name, &Default::default()).await.unwrap();
    eventually("the tenant is gone", || async {
        tenants.get_opt(&name).await.unwrap().is_none()
    })
    .await;
    let namespace = namespaces.get(&name).await.unwrap();
    assert!(
        namespace.metadata.deletion_timestamp.is_none(),
        "a retained namespace stays: {}",
        hook.log()
    );

    // Another tenant is refused the retained namespace; the same manifest again is admitted,
    // and the tenant takes its namespace back.
    let other = unique_name("retain-other");
    let mut another = tenant.clone();
    another["metadata"]["name"] = json!(other);
    another["spec"]["municipality"]["istatCode"] = json!(unique_istat());
    let refused = hook
        .apply(another, &other, &[])
        .expect_err("another tenant");
    assert!(
        refused.contains(&format!("holds the data retained from tenant {name}")),
        "{refused}"
    );
    hook.apply(tenant, &name, &[])
        .expect("the same tenant again");
    eventually("the tenant controls its namespace again", || async {
        let namespace = namespaces.get(&name).await.unwrap();
        let uid = tenants.get(&name).await.unwrap().metadata.uid;
        namespace
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| Some(&r.uid) == uid.as_ref() && r.controller == Some(true))
    })
    .await;
}

#[tokio::test]
async fn municipio_run_serves_the_webhook_alongside_the_controller() {
    let client = client().await;
    let hook = Webhook::start_with(&client, Certificates::SelfManagedByRun).await;
    let name = unique_name("by-run");
    let mut tenant = own_namespace(
        yaml(&support::repo_root().join("examples/modena.yaml")),
        &name,
    );
    tenant["spec"]["workloads"][0]["image"] = json!("registry.regione.example/portale");
    let refused = hook.apply(tenant, &name, &[]).unwrap_err();
    assert!(
        refused.contains("denied the request: spec.workloads[0].image: "),
        "{refused}"
    );
}
