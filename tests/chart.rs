//! The Helm chart, through Helm's own library (`tests/helm`): its CRD is the generated one,
//! it lints and renders valid objects for current Kubernetes with every documented value set,
//! a wrong value fails naming it, it installs into the real API server, and its RBAC is as
//! small as claimed. (That the operator works under that RBAC is shown by every test that
//! runs it: they impersonate the chart's ServiceAccount, see `support::operator_kubeconfig`.)

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{CHART_RELEASE, chart_service_account, helm, repo_root, try_kubectl};

const CHART: &str = "charts/municipio";

/// The documented value sets (`charts/municipio/ci/`, as `ct lint` would use them).
fn value_sets() -> Vec<PathBuf> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(repo_root().join(CHART).join("ci"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    sets.sort();
    assert!(sets.len() >= 4, "{sets:?}");
    sets
}

/// The chart rendered with `values`, for a cluster that has policy/v1 PodDisruptionBudgets,
/// as a list of objects.
fn render(values: &[&str], extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["template", "municipio", CHART, "-n", "municipio-system"];
    for v in values {
        args.extend(["-f", v]);
    }
    args.extend(extra);
    let text = helm(&args).unwrap_or_else(|e| panic!("renders: {e}"));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn with_pdb() -> [&'static str; 2] {
    ["--api-versions", "policy/v1/PodDisruptionBudget"]
}

fn kinds(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(objects)))
}

#[test]
fn the_charts_crd_is_the_generated_one_byte_for_byte() {
    let generated = std::fs::read(repo_root().join("crds/municipalitytenant.yaml")).unwrap();
    let in_chart =
        std::fs::read(repo_root().join(CHART).join("crds/municipalitytenant.yaml")).unwrap();
    assert!(
        generated == in_chart,
        "charts/municipio/crds/municipalitytenant.yaml differs: cp crds/municipalitytenant.yaml charts/municipio/crds/"
    );
}

#[test]
fn the_chart_lints_with_every_documented_value_set() {
    for set in value_sets() {
        let out = helm(&["lint", CHART, "--strict", "-f", set.to_str().unwrap()])
            .unwrap_or_else(|e| panic!("{}: {e}", set.display()));
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn every_rendered_object_is_valid_for_kubernetes_1_33_and_1_37() {
    let dir = std::env::temp_dir().join(format!("municipio-chart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for set in value_sets() {
        let objects = render(&[set.to_str().unwrap()], &with_pdb());
        for (i, object) in objects.iter().enumerate() {
            // The Prometheus Operator's kinds are not Kubernetes'; their schema is not known here.
            if object["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("monitoring.coreos.com/"))
            {
                continue;
            }
            let stem = set.file_stem().unwrap().to_string_lossy();
            let path = dir.join(format!("{stem}-{i}.yaml"));
            std::fs::write(&path, serde_yaml_ng::to_string(object).unwrap()).unwrap();
            files.push(path);
        }
    }
    for version in ["1.33", "1.37"] {
        let (ok, output) = support::kubernetes_validate(version, &files);
        assert!(ok, "against {version}: {output}");
    }
}

#[test]
fn the_default_install_is_two_restricted_replicas_with_probes_and_a_budget() {
    let objects = render(&[], &with_pdb());
    let deployment = find(&objects, "Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        pod["topologySpreadConstraints"].as_array().unwrap().len(),
        2
    );
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert!(container["resources"]["requests"]["cpu"].is_string());
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--operator-namespace=municipio-system"),
        "{args:?}"
    );
    assert!(
        args.contains(&"--webhook-configuration=municipio"),
        "{args:?}"
    );
    assert_eq!(
        find(&objects, "PodDisruptionBudget")["spec"]["minAvailable"],
        1
    );
    let webhook = &find(&objects, "ValidatingWebhookConfiguration")["webhooks"][0];
    assert_eq!(webhook["failurePolicy"], "Fail");
    assert_eq!(
        webhook["clientConfig"]["service"]["name"],
        "municipio-webhook"
    );
    assert!(!kinds(&objects).contains(&"ServiceMonitor".to_owned()));
    assert!(!kinds(&objects).contains(&"NetworkPolicy".to_owned()));
}

#[test]
fn the_budget_is_rendered_only_where_policy_v1_exists() {
    // Helm's offline capabilities list no PodDisruptionBudget kind; a 1.20 cluster has no
    // policy/v1 (the install test below shows the live case).
    let without = render(&[], &["--kube-version", "1.20.2"]);
    assert!(!kinds(&without).contains(&"PodDisruptionBudget".to_owned()));
    let single = repo_root()
        .join(CHART)
        .join("ci/single-replica-without-webhook-values.yaml");
    let one_replica = render(&[single.to_str().unwrap()], &with_pdb());
    assert!(
        !kinds(&one_replica).contains(&"PodDisruptionBudget".to_owned()),
        "a budget of one replica would block every drain"
    );
    assert!(!kinds(&one_replica).contains(&"ValidatingWebhookConfiguration".to_owned()));
}

#[test]
fn a_wrong_value_fails_naming_it() {
    for (set, expected) in [
        ("replicaCount=two", "/replicaCount"),
        ("webhook.failurePolicy=Sometimes", "/webhook/failurePolicy"),
        ("operator.logFormat=xml", "/operator/logFormat"),
        ("runAsUser=0", "/runAsUser"),
        ("replicas=2", "replicas"),
    ] {
        let refused = helm(&["template", "municipio", CHART, "--set", set])
            .expect_err(&format!("--set {set} is refused"));
        assert!(refused.contains(expected), "{set}: {refused}");
        let linted = helm(&["lint", CHART, "--set", set]).expect_err("lint fails");
        assert!(linted.contains(expected), "{set}: {linted}");
    }
}

/// The chart's RBAC names the Lease `municipio run` elects its leader with.
#[test]
fn the_charts_lease_is_the_one_the_operator_uses() {
    for selector in ["", "shard=north"] {
        let objects = render(
            &[],
            &["--set", &format!("operator.tenantSelector={selector}")],
        );
        let expected = municipio_operator::leader::Settings::lease_name(
            Some(selector).filter(|s| !s.is_empty()),
        );
        let named = objects
            .iter()
            .filter(|o| o["kind"] == "ClusterRole")
            .flat_map(|o| o["rules"].as_array().unwrap())
            .filter(|r| r["resources"] == serde_json::json!(["leases"]))
            .filter_map(|r| r["resourceNames"].as_array())
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>();
        assert_eq!(named, [expected.as_str()], "selector {selector:?}");
    }
}

/// Given IO's manage API, the operator is told where it is, and its NetworkPolicy lets it reach
/// that API on 443 and nothing else new; without it, neither.
#[test]
fn the_io_manage_api_is_passed_to_the_operator_and_opened_in_its_network_policy() {
    let args = |objects: &[Value]| -> Vec<String> {
        find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let egress = |objects: &[Value]| find(objects, "NetworkPolicy")["spec"]["egress"].clone();
    let off = render(&[], &["--set", "networkPolicy.enabled=true"]);
    assert!(!args(&off).iter().any(|a| a.starts_with("--io-manage")));
    assert_eq!(
        egress(&off).as_array().unwrap().len(),
        2,
        "the API server and DNS"
    );
    let url = "https://api.io.pagopa.it/api/v1/manage";
    let on = render(
        &[],
        &[
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            &format!("io.manage.url={url}"),
            "--set",
            "io.manage.rate=8",
        ],
    );
    let args = args(&on);
    for expected in [
        format!("--io-manage-url={url}"),
        "--io-manage-rate=8".to_owned(),
        "--io-manage-poll=30m".to_owned(),
        "--io-manage-drift-check=24h".to_owned(),
        "--io-manage-timeout=10s".to_owned(),
    ] {
        assert!(args.contains(&expected), "{expected} in {args:?}");
    }
    let egress = egress(&on);
    let io = &egress.as_array().unwrap()[2];
    assert_eq!(
        io["ports"],
        serde_json::json!([{"port": 443, "protocol": "TCP"}])
    );
    assert_eq!(io["to"][0]["ipBlock"]["cidr"], "0.0.0.0/0");
    assert!(
        io["to"][0]["ipBlock"]["except"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("10.0.0.0/8"))
    );
    // The flags the chart passes are flags the operator takes.
    let parsed = std::process::Command::new(env!("CARGO_BIN_EXE_municipio"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&parsed.stdout);
    for flag in [
        "--io-manage-url",
        "--io-manage-rate",
        "--io-manage-poll",
        "--io-manage-drift-check",
        "--io-manage-timeout",
    ] {
        assert!(help.contains(flag), "{flag} in `municipio run --help`");
    }
}

/// The chart's ClusterRole grants the operator, on every child kind of the operator's one list,
/// the verbs that kind needs, and no read of a kind it must not read (Secrets): a kind added to
/// the list without its RBAC fails here, not in a cluster.
#[test]
fn the_charts_rbac_covers_every_child_kind_and_no_more_reads() {
    use municipio_operator::children::kinds::KINDS;
    let objects = render(&[], &[]);
    let role = objects
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "municipio")
        .expect("the operator's ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    let granted = |group: &str, plural: &str| -> Vec<String> {
        rules
            .iter()
            .filter(|r| r["resourceNames"].is_null())
            .filter(|r| {
                r["apiGroups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|g| g == group)
            })
            .filter(|r| {
                r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p == plural)
            })
            .flat_map(|r| r["verbs"].as_array().unwrap().iter())
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    for kind in KINDS {
        let verbs = granted(kind.group, kind.plural);
        for needed in kind.verbs() {
            assert!(
                verbs.iter().any(|v| v == needed),
                "{}: {needed} is not granted (has {verbs:?})",
                kind.kind
            );
        }
        for extra in &verbs {
            assert!(
                kind.verbs().contains(&extra.as_str()),
                "{}: {extra} is granted, and the operator does not need it",
                kind.kind
            );
        }
    }
}

#[test]
fn a_provided_certificate_needs_its_ca() {
    let refused = helm(&[
        "template",
        "municipio",
        CHART,
        "--set",
        "webhook.tls.existingSecret=municipio-webhook-cert",
    ])
    .expect_err("refused");
    assert!(
        refused.contains("webhook.tls.existingSecret needs webhook.tls.caBundle"),
        "{refused}"
    );
    let refused = helm(&[
        "template",
        "municipio",
        CHART,
        "--set",
        "webhook.tls.caBundle=TUlJQg==",
    ])
    .expect_err("base64 is refused: the chart encodes it");
    assert!(refused.contains("/webhook/tls/caBundle"), "{refused}");
}

#[test]
fn the_image_runs_as_the_user_the_chart_sets() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let values: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo_root().join(CHART).join("values.yaml")).unwrap(),
    )
    .unwrap();
    let user = values["runAsUser"].as_u64().unwrap();
    assert!(
        dockerfile.contains(&format!("\nUSER {user}:{user}\n")),
        "the Dockerfile's USER must be {user}"
    );
}

/// Installed into the real API server (as the other tests' operators use it): the objects
/// are there, with the RBAC the operator runs under.
#[test]
fn the_chart_installs_into_the_api_server() {
    support::chart_installed();
    let out = try_kubectl(&[
        "-n",
        CHART_RELEASE,
        "get",
        "deployment,service,serviceaccount",
        "-o",
        "name",
    ])
    .unwrap();
    for object in [
        "deployment.apps/municipio-tests",
        "service/municipio-tests-webhook",
        "serviceaccount/municipio-tests",
    ] {
        assert!(out.contains(object), "{out}");
    }
    try_kubectl(&["get", "clusterrole", "municipio-tests"]).unwrap();
    try_kubectl(&["get", "validatingwebhookconfiguration", "municipio-tests"]).unwrap();
    // The live 1.20 capabilities have no policy/v1: no budget.
    assert!(
        try_kubectl(&[
            "-n",
            CHART_RELEASE,
            "get",
            "poddisruptionbudget",
            "municipio-tests"
        ])
        .is_err()
    );
}

/// `kubectl auth can-i` as the chart's ServiceAccount. Anything but a clear yes or no (a
/// resource kubectl does not know, say) fails the test rather than count as a no.
fn can(args: &[&str]) -> bool {
    let sa = chart_service_account();
    let out = std::process::Command::new("kubectl")
        .args(["auth", "can-i", "--as", sa.as_str()])
        .args(args)
        .env("KUBECONFIG", support::kubeconfig())
        .output()
        .expect("kubectl runs");
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match (out.status.code(), answer.as_str()) {
        (Some(0), "yes") => true,
        (Some(1), "no") => false,
        _ => panic!(
            "kubectl auth can-i {args:?}: {answer} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn the_operator_can_do_what_it_needs_and_nothing_more() {
    support::chart_installed();
    // What it needs.
    for needed in [
        &["list", "municipalitytenants.tenancy.municipio.io"][..],
        &[
            "patch",
            "municipalitytenants.tenancy.municipio.io",
            "--subresource=status",
        ],
        &["create", "namespaces"],
        &["patch", "deployments.apps", "-n", "comune-modena"],
        &["create", "secrets", "-n", "comune-modena"],
        &["delete", "secrets", "-n", "comune-modena"],
        &["watch", "secrets", "-n", CHART_RELEASE],
        &[
            "update",
            "leases.coordination.k8s.io/municipio-controller",
            "-n",
            CHART_RELEASE,
        ],
        &["create", "leases.coordination.k8s.io", "-n", CHART_RELEASE],
        &[
            "update",
            "secrets/municipio-tests-webhook-tls",
            "-n",
            CHART_RELEASE,
        ],
        &[
            "bind",
            "clusterroles.rbac.authorization.k8s.io/municipio-tests-tenant-admin",
        ],
        &["create", "events", "-n", "default"],
        &["update", "validatingwebhookconfigurations/municipio-tests"],
    ] {
        assert!(can(needed), "the operator must be able to {needed:?}");
    }
    // What it must not.
    for forbidden in [
        // Secrets outside its namespace: written, never read.
        &["get", "secrets", "-n", "comune-modena"][..],
        &["list", "secrets", "--all-namespaces"],
        &["watch", "secrets", "-n", "kube-system"],
        &["get", "secrets", "-n", "kube-system"],
        // No way to grant itself or anyone more.
        &[
            "bind",
            "clusterroles.rbac.authorization.k8s.io/cluster-admin",
        ],
        &["bind", "clusterroles.rbac.authorization.k8s.io/edit"],
        // Kubernetes' `admin` opens the network and binds anyone: tenants get the chart's role.
        &["bind", "clusterroles.rbac.authorization.k8s.io/admin"],
        &["escalate", "clusterroles.rbac.authorization.k8s.io"],
        &["create", "clusterrolebindings.rbac.authorization.k8s.io"],
        &[
            "create",
            "roles.rbac.authorization.k8s.io",
            "-n",
            "comune-modena",
        ],
        &["impersonate", "users"],
        // Namespaces: made and labelled, never deleted or replaced wholesale.
        &["delete", "namespaces"],
        &["update", "namespaces"],
        // Nothing it does not build.
        &["create", "pods", "-n", "comune-modena"],
        &["create", "pods/exec", "-n", "comune-modena"],
        &["patch", "nodes"],
        &["delete", "municipalitytenants.tenancy.municipio.io"],
        &["update", "validatingwebhookconfigurations/someone-elses"],
        &["create", "leases.coordination.k8s.io", "-n", "kube-system"],
        &[
            "update",
            "leases.coordination.k8s.io/someone-elses",
            "-n",
            CHART_RELEASE,
        ],
        &["update", "secrets/someone-elses", "-n", CHART_RELEASE],
        &["create", "events", "-n", "kube-system"],
    ] {
        assert!(
            !can(forbidden),
            "the operator must not be able to {forbidden:?}"
        );
    }
}

/// Beyond `can-i`: the API server itself refuses the ServiceAccount a RoleBinding to
/// cluster-admin in a tenant-like namespace (no escalation through the `bind` it holds).
#[test]
fn binding_cluster_admin_is_refused() {
    support::chart_installed();
    let ns = support::unique_name("escalate");
    try_kubectl(&["create", "namespace", &ns]).unwrap();
    let bind = |role: &str| {
        try_kubectl(&[
            "--as",
            &chart_service_account(),
            "-n",
            &ns,
            "create",
            "rolebinding",
            "tenant-admins",
            &format!("--clusterrole={role}"),
            "--group=comune-admins",
        ])
    };
    // Neither to cluster-admin nor to Kubernetes' `admin`; the tenant admins' binding to the
    // chart's role is allowed.
    for role in ["cluster-admin", "admin"] {
        let refused = bind(role).expect_err("refused");
        assert!(refused.contains("forbidden"), "{refused}");
    }
    bind("municipio-tests-tenant-admin").unwrap();
}
