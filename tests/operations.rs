//! The operator as it is deployed: replicas electing one leader through a Lease, and the
//! metrics and probes every replica serves. Against the real API server.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use municipio_crds::MunicipalityTenant;
use support::proxy::FreezableProxy;
use support::tenants::{
    condition, create_ready, keys_for, namespace, operator_of_its_own_with, tenant,
};
use support::{Operator, client, eventually, install_crd, operator_kubeconfig, unique_name};

/// A GET over plain HTTP/1.0: the status code and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// Writes to tenant `tenant` and its namespace by the replica named `instance`: the audit log
/// records each request's user agent, `municipio/<version> (<instance>)`.
fn writes_by(audit_log: &Path, tenant: &str, instance: &str) -> usize {
    let agent = format!("({instance})");
    std::fs::read_to_string(audit_log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .is_some_and(|a| a.starts_with("municipio/") && a.ends_with(&agent))
        })
        .filter(|e| {
            let o = &e["objectRef"];
            o["namespace"] == tenant || o["name"] == tenant
        })
        .count()
}

/// The holder of the only Lease in `namespace`.
async fn holder(client: &kube::Client, namespace: &str) -> Option<String> {
    let leases = Api::<Lease>::namespaced(client.clone(), namespace)
        .list(&Default::default())
        .await
        .ok()?;
    leases.items.first()?.spec.as_ref()?.holder_identity.clone()
}

#[tokio::test]
async fn two_replicas_elect_one_writer_and_the_other_takes_over() {
    let client = client().await;
    install_crd(&client).await;
    let run = unique_name("lead");
    let ns = format!("{run}-system");
    namespace(&client, &ns).await;
    let (a, b) = (format!("{run}-a"), format!("{run}-b"));
    let replica_a = Operator::start_as(&run, &ns, &a, &a);
    let replica_b = Operator::start_as(&run, &ns, &b, &b);

    let name = unique_name("led");
    keys_for(&client, &replica_a, &name, &name).await;
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    create_ready(&client, &tenant(&name, &run)).await;

    let leading = holder(&client, &ns).await.expect("a Lease with a holder");
    let (leader, standby, standby_name, leader_name) = if leading.starts_with(&format!("{a}_")) {
        (replica_a, replica_b, b, a)
    } else {
        assert!(leading.starts_with(&format!("{b}_")), "holder {leading}");
        (replica_b, replica_a, a, b)
    };
    if let Some(audit_log) = support::audit_log() {
        assert!(writes_by(&audit_log, &name, &leader_name) >= 16);
        assert_eq!(
            writes_by(&audit_log, &name, &standby_name),
            0,
            "the standby wrote: {}",
            standby.log()
        );
    }

    // The leader dies without a word (SIGKILL: its Lease is not released), and the spec
    // changes meanwhile: the standby takes the Lease once it has expired, and finishes.
    leader.kill();
    let patch = serde_json::json!({"spec": {"quota": {"pods": 41}}});
    tenants
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    condition(&client, &name, "Ready", "True", Some("Ready")).await;
    let now_leading = holder(&client, &ns).await.unwrap_or_default();
    assert!(
        now_leading.starts_with(&format!("{standby_name}_")),
        "holder {now_leading}"
    );
    if let Some(audit_log) = support::audit_log() {
        assert!(writes_by(&audit_log, &name, &standby_name) > 0);
    }
    assert!(standby.log().contains("leading: the controller starts"));
}

#[tokio::test]
async fn every_replica_serves_metrics_and_probes() {
    let (client, leader) = operator_of_its_own_with("metrics", &[]).await;
    let (run, ns) = (leader.run.clone(), leader.namespace.clone());
    let name = unique_name("measured");
    keys_for(&client, &leader, &name, &name).await;
    create_ready(&client, &tenant(&name, &run)).await;

    let addr = leader.http_addr().await;
    eventually("/readyz answers 200", || async {
        get(&addr, "/readyz").0 == 200
    })
    .await;
    assert_eq!(get(&addr, "/livez").0, 200);
    // A reconcile is counted once its status is written: just after the test can see it.
    eventually("the Ready reconcile is counted", || async {
        get(&addr, "/metrics")
            .1
            .contains("municipio_reconciles_total{result=\"ready\"}")
    })
    .await;
    let (code, metrics) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    for expected in [
        "municipio_reconciles_total{result=\"ready\"}",
        "municipio_reconcile_duration_seconds_bucket",
        "municipio_reconciles_in_flight",
        "municipio_tenants{condition=\"Ready\"} 1",
        "municipio_tenants{condition=\"Stalled\"} 0",
        "municipio_leader 1",
        "municipio_watch_errors_total{watch=\"tenants\"} 0",
        // The test API server (1.20) has no Pod Security admission.
        "municipio_pod_security_enforced 0",
    ] {
        assert!(metrics.contains(expected), "{expected} missing:\n{metrics}");
    }
    assert_eq!(get(&addr, "/nothing").0, 404);

    // A standby serves them too: ready, and not leading.
    let standby = Operator::start_with(
        &run,
        &ns,
        &format!("{run}-standby"),
        "standby",
        &["--drain-seconds", "10"],
    );
    let standby_addr = standby.http_addr().await;
    eventually("the standby is ready", || async {
        get(&standby_addr, "/readyz").0 == 200
    })
    .await;
    let (_, metrics) = get(&standby_addr, "/metrics");
    assert!(metrics.contains("municipio_leader 0"), "{metrics}");
    assert!(
        metrics.contains("municipio_tenants{condition=\"Ready\"} 0"),
        "a standby reconciles nothing: {metrics}"
    );

    // SIGTERM: out of the Service at once (not ready), still answering while it drains, then
    // gone.
    let mut standby = standby;
    standby.terminate();
    eventually("a stopping replica is not ready", || async {
        get(&standby_addr, "/readyz").0 == 503
    })
    .await;
    assert_eq!(get(&standby_addr, "/livez").0, 200, "draining, not dead");
    eventually("the replica ends after draining", || {
        std::future::ready(standby.exited())
    })
    .await;
}

/// 40 tenants for `leader`, reconciled one at a time (`--concurrency 1`): once one has a
/// status, work is under way and the rest are queued.
async fn queued_tenants(client: &kube::Client, leader: &Operator, prefix: &str) -> Vec<String> {
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let mut names = Vec::new();
    for _ in 0..40 {
        let name = unique_name(prefix);
        keys_for(client, leader, &name, &name).await;
        tenants
            .create(&PostParams::default(), &tenant(&name, &leader.run))
            .await
            .unwrap();
        names.push(name);
    }
    eventually("a tenant has a status", || async {
        let mut any = false;
        for name in &names {
            any |= tenants.get(name).await.unwrap().status.is_some();
        }
        any
    })
    .await;
    names
}

/// Sends SIGTERM and waits for the exit, within the chart's grace period (30 s): how it ended
/// and the log.
async fn terminated(leader: &mut Operator) -> (std::process::ExitStatus, String) {
    let signalled = std::time::Instant::now();
    leader.terminate();
    loop {
        if let Some(status) = leader.exit_status() {
            return (status, leader.log());
        }
        assert!(
            signalled.elapsed() < std::time::Duration::from_secs(30),
            "not exited within the grace period: {}",
            leader.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The first line of `log` that contains `what`.
fn log_line(log: &str, what: &str) -> String {
    log.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no {what:?} line: {log}"))
        .to_owned()
}

/// A successor replica, started once `leader` has gone, makes every tenant Ready.
async fn successor_finishes(client: &kube::Client, leader: &Operator, names: &[String]) {
    let run = &leader.run;
    let successor = Operator::start_as(run, &leader.namespace, &format!("{run}-next"), "next");
    for name in names {
        condition(client, name, "Ready", "True", Some("Ready")).await;
    }
    drop(successor);
}

/// SIGTERM, as the kubelet sends it on a rollout or a drain: the leader takes no new work,
/// finishes the reconcile in flight (one at a time here, 40 tenants queued), releases its
/// Lease (a successor leads at once instead of waiting for it to expire) and exits within the
/// chart's grace period (30 s); the successor finishes the rest.
#[tokio::test]
async fn sigterm_finishes_the_reconciles_in_flight_releases_the_lease_and_exits() {
    let (client, mut leader) = operator_of_its_own_with("sigterm", &["--concurrency", "1"]).await;
    let ns = leader.namespace.clone();
    let names = queued_tenants(&client, &leader, "sigterm").await;
    assert!(
        holder(&client, &ns).await.is_some(),
        "the leader holds the Lease"
    );
    let (status, log) = terminated(&mut leader).await;
    assert!(status.success(), "{status}\n{log}");
    // A reconcile was running at the signal, and was let finish, not dropped half-way.
    let stopping = log_line(&log, "stopping: no new reconciles");
    assert!(stopping.contains("in_flight=1"), "{stopping}");
    let stopped = log_line(&log, "controller stopped");
    assert!(
        stopped.contains("in_flight=0") && stopped.contains("abandoned=0"),
        "{stopped}"
    );
    assert!(log.contains("Lease released"), "{log}");
    assert_eq!(holder(&client, &ns).await, None, "the Lease is free");
    successor_finishes(&client, &leader, &names).await;
}

/// SIGTERM while a request hangs: the API server goes silent behind a proxy the test freezes
/// (connections stay open, no byte passes), so the reconcile in flight can neither finish nor
/// fail. At `--stop-seconds` the leader abandons it, counts it and exits cleanly, well within
/// the grace period, rather than waiting for the kubelet's SIGKILL (or for its Lease to be
/// lost, which ends the process with an error). The Lease it could not release expires, and a
/// successor finishes every tenant, the abandoned one included.
#[tokio::test]
async fn sigterm_while_a_request_hangs_abandons_it_at_the_stop_timeout_and_exits() {
    let client = client().await;
    install_crd(&client).await;
    let run = unique_name("hang");
    let ns = format!("{run}-system");
    namespace(&client, &ns).await;
    let proxy = FreezableProxy::in_front_of(&operator_kubeconfig(), &run);
    let kubeconfig = proxy.kubeconfig().to_string_lossy().into_owned();
    let flags = ["--concurrency", "1", "--stop-seconds", "1"];
    let env = [("KUBECONFIG", kubeconfig.as_str())];
    let mut leader = Operator::start_with_env(&run, &ns, &run, "operator", &flags, &env);
    let names = queued_tenants(&client, &leader, "hang").await;
    let held = holder(&client, &ns)
        .await
        .expect("the leader holds the Lease");

    proxy.freeze();
    // A reconcile whose last answer came through before the freeze ends; the next one, 39
    // being queued, hangs on its first request. The Lease is renewed every 2 s and lost 10 s
    // after its last renewal: the stop below ends well before.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (status, log) = terminated(&mut leader).await;
    assert!(
        status.success(),
        "a clean stop, not a lost Lease: {status}\n{log}"
    );
    assert!(log_line(&log, "stopping: no new reconciles").contains("in_flight=1"));
    assert!(log_line(&log, "at the stop timeout").contains("in_flight=1"));
    let stopped = log_line(&log, "controller stopped");
    assert!(
        stopped.contains("in_flight=0") && stopped.contains("abandoned=1"),
        "{stopped}"
    );
    log_line(&log, "releasing the Lease timed out");
    assert_eq!(
        holder(&client, &ns).await,
        Some(held),
        "the release could not reach the API server"
    );
    successor_finishes(&client, &leader, &names).await;
}
