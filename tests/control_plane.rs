//! The test control plane itself: what later tests rely on must work.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use support::{client, unique_name};

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0.0"}]}
            }
        }
    }))
    .expect("a Deployment")
}

/// The deployment controller (kube-controller-manager) and the simulated node together make a
/// Deployment available, without kubelet or containers; and a namespace can be deleted.
#[tokio::test]
async fn a_deployment_becomes_available_on_the_simulated_node() {
    let client = client().await;
    let ns_name = unique_name("sim-node");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns_name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");

    let nodes: Api<Node> = Api::all(client.clone());
    let ready = |node: Option<&Node>| {
        node.and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    let node = tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(nodes, "municipio-sim-node", ready),
    )
    .await
    .expect("the simulated node registers within a minute")
    .expect("watch works");
    assert!(node.is_some());

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns_name);
    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .expect("deployment created");
    let available = |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .is_some_and(|s| s.available_replicas == Some(2))
    };
    tokio::time::timeout(
        Duration::from_secs(120),
        await_condition(deployments, "web", available),
    )
    .await
    .expect("2 replicas become available within two minutes")
    .expect("watch works");

    namespaces
        .delete(&ns_name, &DeleteParams::default())
        .await
        .expect("namespace deletion accepted");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    tokio::time::timeout(
        Duration::from_secs(120),
        await_condition(namespaces, &ns_name, conditions::is_deleted("")),
    )
    .await
    .expect(
        "the namespace is finalized within two minutes (its pods deleted by the simulated node)",
    )
    .expect("watch works");
}

/// Tests and the benchmark count each client's writes in the audit log.
#[tokio::test]
async fn the_audit_log_records_each_write_with_its_user() {
    let Some(audit_log) = support::audit_log() else {
        // USE_EXISTING_CLUSTER: the cluster's audit log is its operator's business.
        return;
    };
    let client = client().await;
    let name = unique_name("audited");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .expect("namespace deleted");

    let mut verbs = Vec::new();
    for _ in 0..50 {
        let text = std::fs::read_to_string(&audit_log).expect("the audit log is readable");
        verbs = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| {
                e.pointer("/objectRef/name").and_then(|n| n.as_str()) == Some(name.as_str())
            })
            .filter(|e| {
                e.pointer("/objectRef/resource").and_then(|n| n.as_str()) == Some("namespaces")
            })
            .map(|e| {
                let user = e
                    .pointer("/user/username")
                    .and_then(|u| u.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let verb = e
                    .pointer("/verb")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                (user, verb)
            })
            .collect();
        if verbs.len() >= 2 {
            break;
        }
        // The audit backend writes asynchronously.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        verbs.contains(&("admin".to_owned(), "create".to_owned())),
        "{verbs:?}"
    );
    assert!(
        verbs.contains(&("admin".to_owned(), "delete".to_owned())),
        "{verbs:?}"
    );
    assert!(
        verbs.iter().all(|(_, verb)| verb != "get"),
        "reads are not audited: {verbs:?}"
    );
}
