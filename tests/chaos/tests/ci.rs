//! The chaos suite's short run, in CI: a part of Lombardy rolled out on a control plane of its
//! own while the operator is killed, the API server and etcd restarted and etcd's history
//! compacted, compared with an undisturbed run (the long run: `municipio-chaos`, RELIABILITY.md).

use std::path::PathBuf;

use municipio_chaos::{Plan, Workspace};

/// The operator binary `cargo test --workspace` builds beside this test (target/<profile>/),
/// or the one `MUNICIPIO_OPERATOR_BINARY` names.
fn operator_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MUNICIPIO_OPERATOR_BINARY") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("municipio");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test --workspace` (it builds the operator) or set \
         MUNICIPIO_OPERATOR_BINARY",
        binary.display()
    );
    binary
}

#[tokio::test]
async fn a_rollout_under_faults_ends_as_an_undisturbed_one() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ws = Workspace {
        repo,
        operator_binary: operator_binary(),
        dir: std::env::temp_dir().join(format!("municipio-chaos-ci-{}", std::process::id())),
    };
    std::fs::create_dir_all(&ws.dir).unwrap();
    let plan = Plan {
        tenants: 40,
        kills: 6,
        apiserver_restarts: 2,
        etcd_restarts: 1,
        compactions: 1,
        deletions: 4,
        concurrency: 16,
        seed: std::env::var("MUNICIPIO_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1),
    };
    let report = municipio_chaos::run(&ws, &plan)
        .await
        .expect("both runs settle");
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert!(report.passed(), "{json}");
    assert!(report.objects > 0, "{json}");
    assert_eq!(report.faults.len(), 6 + 2 + 1 + 1 + 1, "{json}");
    // The compaction and the restart after it made at least one watch start over with a list.
    assert!(report.watches_expired > 0, "{json}");
    // Recovery is a matter of seconds (the undisturbed run of these tenants takes about 10):
    // a generous bound, which catches an operator that takes minutes to see the API server
    // again after it restarted (the bugs 1 and 2 of RELIABILITY.md).
    let recovery = report.chaos_seconds - report.last_fault_seconds;
    assert!(
        recovery < 120.0,
        "{recovery:.0} s to settle after the faults: {json}"
    );
    let _ = std::fs::remove_dir_all(&ws.dir);
}
