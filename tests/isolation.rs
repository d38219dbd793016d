//! Isolation against a municipality's own administrators: every attempt is made as a tenant
//! admin would make it (`kubectl --as=mallory --as-group=comune-modena-admins`, the group the
//! examples bind), against the real API server with the chart's RBAC, and each is refused or
//! put back. RELIABILITY.md has the table: attempt, before, after.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::Api;
use support::tenants::{create_ready, keys_for, operator_of_its_own, tenant};
use support::{Operator, eventually, try_kubectl, unique_name};

/// The administrator the examples bind (`spec.admins` of examples/modena.yaml).
const ADMIN_GROUP: &str = "comune-modena-admins";

/// kubectl as a tenant's administrator, in the tenant's namespace.
fn as_admin(namespace: &str, args: &[&str]) -> Result<String, String> {
    let group = format!("--as-group={ADMIN_GROUP}");
    let mut all = vec!["--as=mallory", group.as_str(), "-n", namespace];
    all.extend_from_slice(args);
    try_kubectl(&all)
}

/// kubectl as a party with every right (the cluster's admin, another tool), in `namespace`:
/// for what the tenant-admin role refuses, to prove that the controller puts it back too.
fn as_cluster_admin(namespace: &str, args: &[&str]) -> String {
    support::kubectl(&[&["-n", namespace][..], args].concat())
}

/// Whether a tenant admin may `verb` `resource` in `namespace`, as `kubectl auth can-i` says
/// (`resource/subresource` for a subresource).
fn admin_can(namespace: &str, verb: &str, resource: &str) -> bool {
    let mut args = vec!["auth", "can-i", verb];
    // kubectl reads `kind/name` as a name: a subresource is a flag of its own.
    let subresource = resource
        .split_once('/')
        .map(|(r, s)| (r, format!("--subresource={s}")));
    match &subresource {
        Some((resource, flag)) => args.extend([*resource, flag.as_str()]),
        None => args.push(resource),
    }
    match as_admin(namespace, &args) {
        Ok(answer) => answer.trim() == "yes",
        // "no" is printed on standard output with exit status 1.
        Err(error) if error.trim().is_empty() => false,
        Err(error) => panic!("kubectl auth can-i {verb} {resource}: {error}"),
    }
}

/// As [`as_admin`], for an attempt the admin is allowed to make.
fn admin_does(namespace: &str, args: &[&str]) -> String {
    as_admin(namespace, args).unwrap_or_else(|e| panic!("kubectl {args:?} as a tenant admin: {e}"))
}

/// A Ready tenant of its own operator.
async fn ready_tenant(prefix: &str) -> (kube::Client, Operator, String) {
    let (client, operator) = operator_of_its_own().await;
    let name = unique_name(prefix);
    keys_for(&client, &operator, &name, &name).await;
    create_ready(&client, &tenant(&name, &operator.run)).await;
    (client, operator, name)
}

/// How many reconciles of tenant `tenant` the operator's log shows.
fn reconciles(operator: &Operator, tenant: &str) -> usize {
    let wanted = format!("tenant={tenant}");
    operator
        .log()
        .lines()
        .filter(|l| l.contains("reconciled") && l.contains(&wanted))
        .count()
}

fn tenant_label<K: kube::Resource>(object: &K) -> Option<String> {
    object
        .meta()
        .labels
        .as_ref()
        .and_then(|l| l.get("tenancy.municipio.io/tenant").cloned())
}

/// A child relabelled as another tenant's (by whoever may: the tenant admin can still relabel
/// a ConfigMap; another tool a NetworkPolicy) is still its own tenant's: the label is put back,
/// and the child deleted or edited after the swap comes back. The operator knows its children
/// by their controller owner reference, never by a label.
#[tokio::test]
async fn a_label_swap_does_not_switch_drift_correction_off() {
    let (client, _operator, name) = ready_tenant("relabel").await;
    let other = "tenancy.municipio.io/tenant=milano";
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &name);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &name);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &name);

    as_cluster_admin(
        &name,
        &["label", "netpol/default-deny", other, "--overwrite"],
    );
    eventually("the label of default-deny is put back", || async {
        tenant_label(&policies.get("default-deny").await.unwrap()).as_deref() == Some(&name)
    })
    .await;

    // Swapped, then deleted: it comes back.
    as_cluster_admin(
        &name,
        &["label", "netpol/default-deny", other, "--overwrite"],
    );
    as_cluster_admin(&name, &["delete", "netpol/default-deny", "--wait=false"]);
    eventually("default-deny comes back as the tenant's", || async {
        policies
            .get_opt("default-deny")
            .await
            .unwrap()
            .is_some_and(|p| tenant_label(&p).as_deref() == Some(&name))
    })
    .await;

    // Swapped, then edited: the edit is put back (the RoleBinding and a connector ConfigMap).
    as_cluster_admin(
        &name,
        &["label", "rolebinding/tenant-admins", other, "--overwrite"],
    );
    admin_does(
        &name,
        &["label", "configmap/pagopa-connector", other, "--overwrite"],
    );
    admin_does(
        &name,
        &[
            "patch",
            "configmap/pagopa-connector",
            "--type=merge",
            "-p",
            r#"{"data":{"PAGOPA_STATION_ID":"99999999999_01"}}"#,
        ],
    );
    eventually("the connector ConfigMap is as built again", || async {
        let cm = maps.get("pagopa-connector").await.unwrap();
        tenant_label(&cm).as_deref() == Some(&name)
            && cm.data.unwrap_or_default()["PAGOPA_STATION_ID"] == "80050050154_01"
    })
    .await;
    eventually("the RoleBinding is the tenant's again", || async {
        tenant_label(&bindings.get("tenant-admins").await.unwrap()).as_deref() == Some(&name)
    })
    .await;
}

/// An object that merely carries a tenant's labels, with no owner reference, is nobody's
/// child: patching it does not make the operator reconcile that tenant, and prune leaves it.
#[tokio::test]
async fn an_object_labelled_as_a_tenants_child_is_not_its_child() {
    let (client, operator, name) = ready_tenant("stray").await;
    // Its own namespace, but another tenant's name on the label: any tenant could be named.
    admin_does(
        &name,
        &["create", "configmap", "stray", "--from-literal=n=0"],
    );
    let tenant = format!("tenancy.municipio.io/tenant={name}");
    as_cluster_admin(
        &name,
        &[
            "label",
            "configmap/stray",
            "--overwrite",
            "app.kubernetes.io/managed-by=municipio",
            &tenant,
        ],
    );
    let before = reconciles(&operator, &name);
    for n in 1..=20 {
        let patch = format!(r#"{{"data":{{"n":"{n}"}}}}"#);
        support::kubectl(&[
            "-n",
            &name,
            "patch",
            "configmap/stray",
            "--type=merge",
            "-p",
            &patch,
        ]);
    }
    // The last patch has been seen by the operator's watch when a change of its own child is.
    as_cluster_admin(
        &name,
        &["label", "netpol/allow-dns", "example.org/seen=yes"],
    );
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &name);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = reconciles(&operator, &name);
    assert!(
        after - before <= 2,
        "20 patches of a stray object reconciled the tenant {} times",
        after - before
    );
    assert!(maps.get_opt("stray").await.unwrap().is_some(), "not pruned");
}

/// Additions to the objects the operator owns, each a way out of the isolation: the tenant
/// admin's where its role lets it write, the cluster admin's (another tool's) where not.
fn add_to_managed_objects(namespace: &str) {
    // default-deny no longer denies anything, and applies to no pod.
    as_cluster_admin(
        namespace,
        &[
            "patch",
            "netpol/default-deny",
            "--type=merge",
            "-p",
            r#"{"spec":{"ingress":[{}],"egress":[{}],"podSelector":{"matchLabels":{"nobody":"here"}}}}"#,
        ],
    );
    // Anyone without a token becomes the municipality's administrator.
    as_cluster_admin(
        namespace,
        &[
            "patch",
            "rolebinding/tenant-admins",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/subjects/-","value":{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"system:unauthenticated"}}]"#,
        ],
    );
    // A privileged sidecar with the node's filesystem, network and processes.
    let sidecar = r#"{"spec":{"template":{"spec":{
        "hostNetwork":true,"hostPID":true,
        "volumes":[{"name":"node","hostPath":{"path":"/"}}],
        "containers":[{"name":"sidecar","image":"registry.example/tools@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                       "securityContext":{"privileged":true},
                       "volumeMounts":[{"name":"node","mountPath":"/node"}]}]}}}}"#;
    admin_does(
        namespace,
        &[
            "patch",
            "deployment/portale",
            "--type=strategic",
            "-p",
            sidecar,
        ],
    );
    // The pagoPA connector's traffic through a proxy of the admin's choosing.
    admin_does(
        namespace,
        &[
            "patch",
            "configmap/pagopa-connector",
            "--type=merge",
            "-p",
            r#"{"data":{"HTTPS_PROXY":"http://proxy.example:3128"}}"#,
        ],
    );
}

/// Whether every addition of [`add_to_managed_objects`] is gone.
async fn additions_gone(client: &kube::Client, namespace: &str) -> bool {
    let deny = Api::<NetworkPolicy>::namespaced(client.clone(), namespace)
        .get("default-deny")
        .await
        .unwrap()
        .spec
        .unwrap_or_default();
    let subjects = Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .get("tenant-admins")
        .await
        .unwrap()
        .subjects
        .unwrap_or_default();
    let pod = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get("portale")
        .await
        .unwrap()
        .spec
        .unwrap_or_default()
        .template
        .spec
        .unwrap_or_default();
    let proxy = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get("pagopa-connector")
        .await
        .unwrap()
        .data
        .unwrap_or_default()
        .contains_key("HTTPS_PROXY");
    deny.ingress.is_none()
        && deny.egress.is_none()
        && deny
            .pod_selector
            .and_then(|s| s.match_labels)
            .unwrap_or_default()
            .is_empty()
        && !subjects.iter().any(|s| s.name.starts_with("system:"))
        && pod.host_network.is_none()
        && pod.host_pid.is_none()
        && !pod.volumes.iter().flatten().any(|v| v.host_path.is_some())
        && pod.containers.iter().all(|c| c.name != "sidecar")
        && !proxy
}

/// What a tenant admin adds to a managed object is removed, with a DriftCorrected Event naming
/// the field: server-side apply alone would keep another manager's fields for ever.
#[tokio::test]
async fn additions_to_managed_objects_are_removed() {
    let (client, _operator, name) = ready_tenant("additions").await;
    add_to_managed_objects(&name);
    eventually("every addition is removed", || {
        additions_gone(&client, &name)
    })
    .await;
    for field in [
        format!("NetworkPolicy {name}/default-deny (spec.ingress, spec.egress, spec.podSelector)"),
        format!("RoleBinding {name}/tenant-admins (subjects)"),
        "spec.template.spec.containers[name=sidecar]".to_owned(),
        "spec.template.spec.hostNetwork".to_owned(),
        format!("ConfigMap {name}/pagopa-connector (data.HTTPS_PROXY)"),
    ] {
        support::tenants::event_says(&client, &name, "DriftCorrected", &field).await;
    }
    create_ready_again(&client, &name).await;
}

/// The same additions made while the operator is down are removed when it starts.
#[tokio::test]
async fn additions_made_while_the_operator_is_down_are_removed_at_its_start() {
    let (client, operator, name) = ready_tenant("additions-down").await;
    let (run, namespace) = (operator.run.clone(), operator.namespace.clone());
    drop(operator);
    add_to_managed_objects(&name);
    let _restarted = Operator::start(&run, &namespace);
    eventually("every addition is removed", || {
        additions_gone(&client, &name)
    })
    .await;
    create_ready_again(&client, &name).await;
}

/// The tenant is Ready again once what was added is gone.
async fn create_ready_again(client: &kube::Client, name: &str) {
    support::tenants::condition(client, name, "Ready", "True", Some("Ready")).await;
}

/// What the tenant-admin role refuses (RBAC, before any webhook): the writes that would undo
/// the isolation. What it allows: the municipality's own workloads and data.
#[tokio::test]
async fn the_tenant_admin_role_cannot_open_the_network_or_bind_anyone() {
    let (_client, _operator, name) = ready_tenant("admin-role").await;
    let allow_all = format!(
        r#"{{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{{"name":"allow-all","namespace":"{name}"}},
           "spec":{{"podSelector":{{}},"ingress":[{{}}],"egress":[{{}}],"policyTypes":["Ingress","Egress"]}}}}"#
    );
    let manifest = std::env::temp_dir().join(format!("{name}-allow-all.json"));
    std::fs::write(&manifest, allow_all).unwrap();
    let manifest = manifest.to_string_lossy().into_owned();
    let refused: &[&[&str]] = &[
        // Policies add up: a new allow-all policy defeats default-deny.
        &["create", "-f", &manifest],
        &["delete", "netpol/default-deny"],
        &[
            "patch",
            "netpol/default-deny",
            "--type=merge",
            "-p",
            r#"{"spec":{"egress":[{}]}}"#,
        ],
        // Bindings reach anyone.
        &[
            "create",
            "rolebinding",
            "all-sa",
            "--clusterrole=edit",
            "--group=system:serviceaccounts",
        ],
        &[
            "create",
            "rolebinding",
            "anon",
            "--clusterrole=view",
            "--group=system:unauthenticated",
        ],
        &[
            "patch",
            "rolebinding/tenant-admins",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/subjects/-","value":{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"system:unauthenticated"}}]"#,
        ],
        &["create", "role", "mine", "--verb=get", "--resource=pods"],
        // The region's limits.
        &[
            "patch",
            "resourcequota/tenant-quota",
            "--type=merge",
            "-p",
            r#"{"spec":{"hard":{"pods":"10000"}}}"#,
        ],
        &["delete", "limitrange/tenant-defaults"],
        &[
            "label",
            &format!("namespace/{name}"),
            "pod-security.kubernetes.io/enforce=privileged",
            "--overwrite",
        ],
    ];
    for attempt in refused {
        let answer = as_admin(&name, attempt);
        assert!(
            answer.as_ref().is_err_and(|e| e.contains("forbidden")),
            "a tenant admin must not {attempt:?}: {answer:?}"
        );
    }
    // Hand-written endpoints point a Service anywhere; a DaemonSet runs on every node of the
    // region's cluster; a disruption budget can block every node drain.
    for resource in [
        "endpoints",
        "endpointslices.discovery.k8s.io",
        "daemonsets.apps",
        "poddisruptionbudgets.policy",
        "networkpolicies.networking.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
        // No identity but the admin's own.
        "serviceaccounts/token",
    ] {
        assert!(!admin_can(&name, "create", resource), "create {resource}");
    }
    for resource in [
        "deployments.apps",
        "configmaps",
        "secrets",
        "services",
        "jobs.batch",
        "cronjobs.batch",
        "persistentvolumeclaims",
        "ingresses.networking.k8s.io",
        "horizontalpodautoscalers.autoscaling",
        "pods/exec",
    ] {
        assert!(admin_can(&name, "create", resource), "create {resource}");
    }
}

/// A tenant made by an earlier version has its admins bound to Kubernetes' `admin`. A
/// RoleBinding's roleRef cannot change: the binding is made anew, bound to the tenant-admin role.
#[tokio::test]
async fn a_binding_to_admin_from_an_earlier_version_is_made_anew() {
    let (client, operator, name) = ready_tenant("rebind").await;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &name);
    let mut old = bindings.get("tenant-admins").await.unwrap();
    // As an earlier version left it when the new one starts: the operator is down meanwhile,
    // or it would make the binding anew before the old one is in place.
    let (run, namespace) = (operator.run.clone(), operator.namespace.clone());
    drop(operator);
    as_cluster_admin(&name, &["delete", "rolebinding/tenant-admins"]);
    old.role_ref.name = "admin".to_owned();
    old.metadata.resource_version = None;
    old.metadata.uid = None;
    old.metadata.managed_fields = None;
    old.metadata.creation_timestamp = None;
    bindings.create(&Default::default(), &old).await.unwrap();
    let _upgraded = Operator::start(&run, &namespace);
    eventually("the admins are bound to the tenant-admin role", || async {
        bindings
            .get_opt("tenant-admins")
            .await
            .unwrap()
            .is_some_and(|b| b.role_ref.name == "municipio-tests-tenant-admin")
    })
    .await;
    support::tenants::event_says(
        &client,
        &name,
        "DriftCorrected",
        &format!("RoleBinding {name}/tenant-admins (roleRef, made anew)"),
    )
    .await;
}

/// A tenant of an operator that serves the webhook too, with the chart's guard of tenant
/// namespaces registered for the tenant's namespace (its rules as the chart renders them, its
/// URL this operator's), as in a cluster.
struct Guarded {
    client: kube::Client,
    operator: Operator,
    name: String,
    configuration: String,
}

impl Guarded {
    async fn start(prefix: &str) -> Self {
        let client = support::client().await;
        support::install_crd(&client).await;
        let run = unique_name(prefix);
        let operator_namespace = format!("{run}-system");
        support::tenants::namespace(&client, &operator_namespace).await;
        let dir = std::env::temp_dir().join(&run);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = support::certificates(&dir);
        let port = support::free_port();
        let addr = format!("127.0.0.1:{port}");
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        let operator_user = support::chart_service_account();
        let flags = [
            "--webhook-addr",
            addr.as_str(),
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--operator-user",
            operator_user.as_str(),
            // The test control plane's controller manager authenticates by a static token.
            "--kubernetes-user",
            "kube-controller-manager",
        ];
        let operator = Operator::start_with(&run, &operator_namespace, &run, "operator", &flags);
        let name = unique_name(prefix);
        keys_for(&client, &operator, &name, &name).await;
        create_ready(&client, &tenant(&name, &operator.run)).await;

        let mut guard = chart_guard();
        guard["clientConfig"] = serde_json::json!({
            "url": format!("https://{addr}/validate-tenant-namespace"),
            "caBundle": base64(ca.as_bytes()),
        });
        guard["namespaceSelector"] =
            serde_json::json!({"matchLabels": {"tenancy.municipio.io/tenant": name}});
        guard["failurePolicy"] = "Fail".into();
        let configuration = serde_json::json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": run},
            "webhooks": [guard],
        });
        let path = dir.join("guard.json");
        std::fs::write(&path, configuration.to_string()).unwrap();
        support::kubectl(&["apply", "-f", path.to_str().unwrap()]);
        let guarded = Self {
            client,
            operator,
            name,
            configuration: run,
        };
        // Once the API server calls it, a Service of type ExternalName is refused.
        eventually("the guard is called", || async {
            as_admin(
                &guarded.name,
                &[
                    "create",
                    "service",
                    "externalname",
                    "probe",
                    "--external-name=example.org",
                    "--dry-run=server",
                ],
            )
            .is_err_and(|e| e.contains("ExternalName is not allowed"))
        })
        .await;
        guarded
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = try_kubectl(&[
            "delete",
            "validatingwebhookconfiguration",
            &self.configuration,
        ]);
    }
}

/// The guard of tenant namespaces as the chart renders it.
fn chart_guard() -> serde_json::Value {
    let rendered = support::helm(&[
        "template",
        "municipio",
        "charts/municipio",
        "-n",
        "municipio-system",
    ])
    .expect("the chart renders");
    rendered
        .split("\n---")
        .filter_map(|doc| serde_yaml_ng::from_str::<serde_json::Value>(doc).ok())
        .filter(|doc| doc["kind"] == "ValidatingWebhookConfiguration")
        .flat_map(|doc| doc["webhooks"].as_array().cloned().unwrap_or_default())
        .find(|w| w["name"] == "tenant-namespaces.tenancy.municipio.io")
        .expect("the chart registers the guard of tenant namespaces")
}

fn base64(bytes: &[u8]) -> String {
    serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// The resourceVersion of every object of the kinds the operator manages in `namespace`.
fn versions(namespace: &str) -> String {
    support::kubectl(&[
        "-n",
        namespace,
        "get",
        "configmaps,services,deployments,networkpolicies,rolebindings,resourcequotas,limitranges",
        "-o",
        "custom-columns=KIND:.kind,NAME:.metadata.name,VERSION:.metadata.resourceVersion",
        "--sort-by=.metadata.name",
    ])
}

/// With the webhook installed, every attempt is refused at admission, naming the object and
/// why, whoever makes it (the tenant admin, or a cluster admin who is not the operator);
/// nothing gets through for the controller to put back, and a bystander tenant's objects keep
/// their resourceVersions.
#[tokio::test]
async fn with_the_webhook_every_attempt_is_refused_at_admission() {
    let guarded = Guarded::start("guarded").await;
    let name = guarded.name.clone();
    let bystander = unique_name("bystander");
    keys_for(&guarded.client, &guarded.operator, &bystander, &bystander).await;
    create_ready(&guarded.client, &tenant(&bystander, &guarded.operator.run)).await;
    let before = versions(&bystander);

    let managed = |object: &str| format!("{object}: it is managed by municipio for tenant {name}");
    let sidecar = r#"{"spec":{"template":{"spec":{"hostNetwork":true,"containers":[{"name":"sidecar","image":"registry.example/tools@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}}}}"#;
    let by_admin: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["patch", "deployment/portale", "-p", sidecar],
            managed(&format!("Deployment {name}/portale")),
        ),
        (
            vec!["delete", "deployment/portale"],
            managed(&format!("Deployment {name}/portale")),
        ),
        (
            vec![
                "patch",
                "configmap/pagopa-connector",
                "--type=merge",
                "-p",
                r#"{"data":{"HTTPS_PROXY":"http://proxy.example:3128"}}"#,
            ],
            "changed: data.HTTPS_PROXY".to_owned(),
        ),
        (
            vec![
                "label",
                "configmap/pagopa-connector",
                "tenancy.municipio.io/tenant=milano",
                "--overwrite",
            ],
            "changed: metadata.labels.tenancy.municipio.io/tenant".to_owned(),
        ),
        (
            vec!["delete", "configmap/io-connector"],
            managed(&format!("ConfigMap {name}/io-connector")),
        ),
        // A tampered key: refused, rather than waiting for the Secret resync.
        (
            vec![
                "patch",
                "secret/pagopa-connector",
                "--type=merge",
                "-p",
                r#"{"stringData":{"PAGOPA_SUBSCRIPTION_KEY":"stolen"}}"#,
            ],
            managed(&format!("Secret {name}/pagopa-connector")),
        ),
        (
            vec!["create", "configmap", "disguised", "--from-literal=a=b"],
            String::new(), // allowed: see below
        ),
        (
            vec!["create", "service", "nodeport", "np", "--tcp=80"],
            "spec.type: NodePort is not allowed".to_owned(),
        ),
        (
            vec!["create", "service", "loadbalancer", "lb", "--tcp=80"],
            "spec.type: LoadBalancer is not allowed".to_owned(),
        ),
        (
            vec![
                "create",
                "service",
                "externalname",
                "en",
                "--external-name=portale.comune-milano.svc.cluster.local",
            ],
            "spec.type: ExternalName is not allowed".to_owned(),
        ),
    ];
    for (attempt, why) in &by_admin {
        let answer = as_admin(&name, attempt);
        if why.is_empty() {
            assert!(answer.is_ok(), "a tenant admin may {attempt:?}: {answer:?}");
            continue;
        }
        assert!(
            answer
                .as_ref()
                .is_err_and(|e| e.contains("denied the request") && e.contains(why.as_str())),
            "a tenant admin must be refused {attempt:?} with {why:?}: {answer:?}"
        );
    }
    // The operator's label on an object of the admin's own.
    let answer = as_admin(
        &name,
        &[
            "label",
            "configmap/disguised",
            "app.kubernetes.io/managed-by=municipio",
        ],
    );
    assert!(
        answer.as_ref().is_err_and(
            |e| e.contains("app.kubernetes.io/managed-by=municipio are the operator's own")
        ),
        "{answer:?}"
    );
    // externalIPs on a Service of the admin's own (the CVE-2020-8554 way to another's traffic).
    let external = format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"steal","namespace":"{name}"}},"spec":{{"ports":[{{"port":80}}],"externalIPs":["10.96.0.10"]}}}}"#
    );
    let path = std::env::temp_dir().join(format!("{name}-external.json"));
    std::fs::write(&path, external).unwrap();
    let answer = as_admin(&name, &["create", "-f", path.to_str().unwrap()]);
    assert!(
        answer
            .as_ref()
            .is_err_and(|e| e.contains("spec.externalIPs: not allowed")),
        "{answer:?}"
    );

    // A cluster admin who is not the operator: RBAC lets it, the guard does not.
    let by_cluster_admin: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "patch",
                "netpol/default-deny",
                "--type=merge",
                "-p",
                r#"{"spec":{"egress":[{}]}}"#,
            ],
            "changed: spec.egress",
        ),
        (
            vec!["delete", "netpol/default-deny"],
            "it goes when the tenant's spec no longer asks for it",
        ),
        (
            vec![
                "patch",
                "rolebinding/tenant-admins",
                "--type=json",
                "-p",
                r#"[{"op":"add","path":"/subjects/-","value":{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"system:unauthenticated"}}]"#,
            ],
            "RoleBindings in a tenant namespace are the operator's",
        ),
        (
            vec![
                "create",
                "rolebinding",
                "all-sa",
                "--clusterrole=edit",
                "--group=system:serviceaccounts",
            ],
            "RoleBindings in a tenant namespace are the operator's",
        ),
        (
            vec!["create", "role", "mine", "--verb=get", "--resource=pods"],
            "Roles in a tenant namespace are the operator's",
        ),
        (
            vec![
                "patch",
                "resourcequota/tenant-object-counts",
                "--type=merge",
                "-p",
                r#"{"spec":{"hard":{"services.nodeports":"10"}}}"#,
            ],
            "changed: spec.hard.services.nodeports",
        ),
    ];
    for (attempt, why) in &by_cluster_admin {
        let answer = try_kubectl(&[&["-n", name.as_str()][..], attempt].concat());
        assert!(
            answer
                .as_ref()
                .is_err_and(|e| e.contains("denied the request") && e.contains(why)),
            "a cluster admin who is not the operator must be refused {attempt:?} with {why:?}: {answer:?}"
        );
    }
    let endpoints = format!(
        r#"{{"apiVersion":"v1","kind":"Endpoints","metadata":{{"name":"portale","namespace":"{name}"}},"subsets":[{{"addresses":[{{"ip":"10.0.0.1"}}],"ports":[{{"port":80}}]}}]}}"#
    );
    let path = std::env::temp_dir().join(format!("{name}-endpoints.json"));
    std::fs::write(&path, endpoints).unwrap();
    let answer = try_kubectl(&["apply", "-f", path.to_str().unwrap()]);
    assert!(
        answer
            .as_ref()
            .is_err_and(|e| e.contains("hand-written ones point a Service anywhere")),
        "{answer:?}"
    );

    // A connector's label on a pod opens that connector's egress: refused on the admin's own
    // workloads too; another tool's `managed-by` is not the operator's.
    let workload = |name: &str, labels: &str| {
        let manifest = format!(
            r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{name}","namespace":"{ns}","labels":{{"app.kubernetes.io/managed-by":"Helm"}}}},
               "spec":{{"selector":{{"matchLabels":{{"app":"{name}"}}}},"template":{{"metadata":{{"labels":{{"app":"{name}"{labels}}}}},
               "spec":{{"containers":[{{"name":"c","image":"registry.example/tools@sha256:0000000000000000000000000000000000000000000000000000000000000000"}}]}}}}}}}}"#,
            ns = guarded.name,
        );
        let path = std::env::temp_dir().join(format!("{}-{name}.json", guarded.name));
        std::fs::write(&path, manifest).unwrap();
        as_admin(&guarded.name, &["create", "-f", path.to_str().unwrap()])
    };
    let answer = workload(
        "egress",
        r#","connector.tenancy.municipio.io/pagopa":"true""#,
    );
    assert!(
        answer.as_ref().is_err_and(
            |e| e.contains("connector.tenancy.municipio.io/pagopa=true are the operator's own")
        ),
        "{answer:?}"
    );
    assert!(
        workload("helm-made", "").is_ok(),
        "another tool's managed-by is no mark of the operator's"
    );

    // What is the admin's to do still works: another tool's mark, a restart.
    admin_does(
        &name,
        &["label", "deployment/portale", "example.org/owner=team-a"],
    );
    admin_does(&name, &["rollout", "restart", "deployment/portale"]);

    assert_eq!(
        versions(&bystander),
        before,
        "the bystander's objects are untouched"
    );
    support::tenants::condition(&guarded.client, &name, "Ready", "True", Some("Ready")).await;
    let drift = support::tenants::tenant_events(&guarded.client, &name)
        .await
        .into_iter()
        .filter(|(_, reason, _)| reason == "DriftCorrected")
        .collect::<Vec<_>>();
    assert!(
        drift.is_empty(),
        "nothing got through for the controller to put back: {drift:?}"
    );
}

/// The test API server (Kubernetes 1.20) has no Pod Security admission, so the namespace's
/// `pod-security.kubernetes.io/enforce: restricted` does nothing: a privileged pod with the
/// node's filesystem is admitted. Every tenant says so (a condition) and stays Ready; with
/// `--require-pod-security` it is not Ready.
#[tokio::test]
async fn a_cluster_that_does_not_enforce_pod_security_is_reported_on_the_tenant() {
    let (client, _operator, name) = ready_tenant("psa").await;
    let t = support::tenants::condition(
        &client,
        &name,
        "PodSecurityEnforced",
        "False",
        Some("PodSecurityAdmissionMissing"),
    )
    .await;
    let ready = support::tenants::condition_of(t, "Ready");
    assert_eq!(ready.status, "True", "{ready:?}");
    // What the condition warns of.
    let privileged = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"root","namespace":"{name}"}},
           "spec":{{"hostPID":true,"containers":[{{"name":"c","image":"registry.example/tools@sha256:0000000000000000000000000000000000000000000000000000000000000000",
           "securityContext":{{"privileged":true}},"volumeMounts":[{{"name":"node","mountPath":"/node"}}]}}],
           "volumes":[{{"name":"node","hostPath":{{"path":"/"}}}}]}}}}"#
    );
    let path = std::env::temp_dir().join(format!("{name}-privileged.json"));
    std::fs::write(&path, privileged).unwrap();
    admin_does(
        &name,
        &["create", "--dry-run=server", "-f", path.to_str().unwrap()],
    );

    let (client, operator) =
        support::tenants::operator_of_its_own_with("psa-required", &["--require-pod-security"])
            .await;
    let name = unique_name("psa-required");
    keys_for(&client, &operator, &name, &name).await;
    kube::Api::<municipio_crds::MunicipalityTenant>::all(client.clone())
        .create(&Default::default(), &tenant(&name, &operator.run))
        .await
        .unwrap();
    let t = support::tenants::condition(
        &client,
        &name,
        "Ready",
        "False",
        Some("PodSecurityAdmissionMissing"),
    )
    .await;
    let ready = support::tenants::condition_of(t, "Ready");
    assert!(
        ready.message.contains("--require-pod-security"),
        "{ready:?}"
    );
}

/// Without any webhook, the quota `tenant-object-counts` refuses the Services that open a port
/// on every node or ask for an address outside the cluster.
#[tokio::test]
async fn node_ports_and_load_balancers_are_refused_by_the_quota() {
    let (_client, _operator, name) = ready_tenant("quota").await;
    for kind in ["nodeport", "loadbalancer"] {
        let mut answer = Err(String::new());
        // The quota admission refuses anything it constrains until the quota controller has
        // counted the namespace once ("status unknown"): the refusal that counts is the limit.
        for _ in 0..60 {
            answer = as_admin(&name, &["create", "service", kind, kind, "--tcp=80"]);
            if answer.as_ref().is_err_and(|e| e.contains("exceeded quota")) || answer.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        assert!(
            answer
                .as_ref()
                .is_err_and(|e| e.contains("exceeded quota: tenant-object-counts")),
            "a {kind} Service must be refused by the quota: {answer:?}"
        );
    }
    assert!(
        admin_can(&name, "create", "services"),
        "a ClusterIP Service is the admin's to make"
    );
    admin_does(
        &name,
        &["create", "service", "clusterip", "mine", "--tcp=80"],
    );
}
