//! A region at small scale (issue 8's CI run): 50 tenants made by `municipio onboard` from the
//! ISTAT list, applied at once. Correctness only, no timing: every tenant converges, the
//! operator's writes per tenant stay within its children plus a few, none at rest, none after
//! a restart.

mod support;

use std::process::Command;
use std::time::Duration;

use kube::api::{Api, ListParams, PostParams};
use municipio_crds::MunicipalityTenant;
use support::tenants::operator_of_its_own;
use support::{TEST_RUN_LABEL, eventually, unique_istat};

const TENANTS: usize = 50;

/// The first `TENANTS` municipalities of the province of Lodi, as `onboard` writes them, renamed
/// for this run (names, namespaces and ISTAT codes must not meet other runs' tenants).
fn onboarded(run: &str) -> Vec<MunicipalityTenant> {
    let out = Command::new(env!("CARGO_BIN_EXE_municipio"))
        .args(["onboard", "--province", "LO", "--csv"])
        .arg(support::repo_root().join("data/istat-comuni.csv"))
        .output()
        .expect("municipio onboard runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stream = String::from_utf8(out.stdout).unwrap();
    let tag = run.rsplit('-').next().unwrap();
    serde_yaml_ng::Deserializer::from_str(&stream)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .take(TENANTS)
        .map(|mut t: MunicipalityTenant| {
            let name: String = format!("{tag}-{}", t.metadata.name.unwrap())
                .chars()
                .take(56)
                .collect();
            let name = name.trim_end_matches('-').to_owned();
            t.metadata.name = Some(name.clone());
            t.metadata
                .labels
                .get_or_insert_default()
                .insert(TEST_RUN_LABEL.to_owned(), run.to_owned());
            t.spec.namespace = Some(name);
            t.spec.municipality.istat_code = unique_istat();
            t
        })
        .collect()
}

fn converged(t: &MunicipalityTenant) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == t.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[tokio::test]
async fn fifty_onboarded_tenants_converge_and_then_cost_no_writes() {
    let (client, operator) = operator_of_its_own().await;
    let tenants = onboarded(&operator.run);
    assert_eq!(tenants.len(), TENANTS);
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    for t in &tenants {
        api.create(&PostParams::default(), t).await.unwrap();
    }
    let selector = ListParams::default().labels(&format!("{TEST_RUN_LABEL}={}", operator.run));
    let mut not_converged = Vec::new();
    for _ in 0..600 {
        let listed = api.list(&selector).await.unwrap().items;
        not_converged = listed
            .iter()
            .filter(|t| !converged(t))
            .map(|t| t.metadata.name.clone().unwrap_or_default())
            .collect();
        if listed.len() == TENANTS && not_converged.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(not_converged.is_empty(), "not converged: {not_converged:?}");

    let Some(audit_log) = support::audit_log() else {
        return; // USE_EXISTING_CLUSTER: its audit log is not ours to read.
    };
    let names: Vec<String> = tenants
        .iter()
        .map(|t| t.metadata.name.clone().unwrap())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let children = api
        .list(&selector)
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|t| t.status.as_ref()?.managed_objects)
        .max()
        .unwrap_or(0) as usize;
    let converged_writes = support::operator_writes(&client, &audit_log, &names).await;
    for (tenant, writes) in &converged_writes {
        // Each child applied once, the finalizer, and a status for progress and one for Ready.
        assert!(
            writes.len() <= children + 3,
            "{tenant}: {} writes for {children} children: {writes:#?}",
            writes.len()
        );
    }
    let total: usize = converged_writes.values().map(Vec::len).sum();
    println!(
        "{TENANTS} tenants, {children} children each: {total} writes to converge ({:.1} per tenant)",
        total as f64 / TENANTS as f64
    );

    // No tenant written since it converged.
    let no_writes_since_converged = |when: &'static str| {
        let (client, audit_log, names) = (&client, &audit_log, &names);
        let converged_writes = &converged_writes;
        async move {
            let now = support::operator_writes(client, audit_log, names).await;
            for (tenant, writes) in &now {
                assert_eq!(
                    writes[converged_writes[tenant].len()..],
                    [] as [String; 0],
                    "{tenant}: writes {when}"
                );
            }
        }
    };

    // At rest: nothing.
    tokio::time::sleep(Duration::from_secs(15)).await;
    no_writes_since_converged("at rest").await;

    // Restarted: every tenant looked at again, nothing written.
    let (run, namespace) = (operator.run.clone(), operator.namespace.clone());
    drop(operator);
    let restarted = support::Operator::start(&run, &namespace);
    eventually("the restarted operator reconciles every tenant", || {
        let log = restarted.log();
        let all = names.iter().all(|n| {
            let line_end = format!("reconciled tenant={n}");
            log.lines().any(|l| l.ends_with(&line_end))
        });
        std::future::ready(all)
    })
    .await;
    no_writes_since_converged("after a restart").await;
}
