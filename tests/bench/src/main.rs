//! municipio's benchmark (BENCHMARKS.md): for N tenants from the ISTAT list, on a fresh local
//! control plane each time, the same children written three ways, side by side in one run:
//! the raw server-side-apply floor, `kubectl apply --server-side`, and the operator. Then, for
//! the operator, its writes, its quiet at rest and after a restart, its latency to a change,
//! and memory and CPU. Results as JSON and a Markdown table.

mod methods;

use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use serde::Serialize;

use municipio_operator::config::OperatorArgs;

use municipio_bench::cluster::{ControlPlane, Usage, Writes};
use municipio_bench::tenants;

#[derive(Parser, Debug)]
#[command(about = "municipio's benchmark: see BENCHMARKS.md")]
struct Cli {
    /// Numbers of tenants: Lombardy's first N municipalities up to 1,502, then Italy's.
    #[arg(long, value_delimiter = ',', default_value = "100,1502,7896")]
    tenants: Vec<usize>,
    /// Ways of writing the children, each on a fresh control plane.
    #[arg(long, value_delimiter = ',', default_value = "floor,kubectl,operator")]
    methods: Vec<Method>,
    /// Concurrent tenants: the operator's `--concurrency` and the floor's.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds the converged operator is watched for writes.
    #[arg(long, default_value_t = 300)]
    rest_seconds: u64,
    /// Tenants changed one at a time to measure the change latency.
    #[arg(long, default_value_t = 100)]
    changes: usize,
    /// Up to this many tenants, once the operator has converged, the controller manager and the
    /// simulated node are started and the operator is timed until every tenant is Ready.
    #[arg(long, default_value_t = 1502)]
    rollout_up_to: usize,
    /// Every tenant with the identity connector too (Modena's): its keys made by the operator,
    /// its artifacts signed and published for the gateway.
    #[arg(long)]
    identity: bool,
    /// Seed of the choice of tenants to change.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the control plane's state, the rendered manifests and the logs go.
    #[arg(long, default_value = "/tmp/municipio-bench")]
    work_dir: PathBuf,
    /// The results, as JSON.
    #[arg(long, default_value = "bench-results.json")]
    out: PathBuf,
    /// The operator binary (built with `cargo build --release` first).
    #[arg(long, default_value = "target/release/municipio")]
    operator_binary: PathBuf,
    /// The operator configuration the children are built with (the operator gets the same
    /// defaults).
    #[command(flatten)]
    operator: OperatorArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The children by server-side apply from a minimal concurrent client.
    Floor,
    /// The floor again, while an operator that manages no tenant watches the children: what
    /// the watches alone cost the API server.
    FloorWatched,
    /// The children rendered to files and applied with `kubectl apply --server-side`.
    Kubectl,
    /// The tenants created, and `municipio run` writing the children.
    Operator,
}

/// One way of writing N tenants' children.
#[derive(Debug, Default, Serialize)]
pub struct RunResult {
    pub tenants: usize,
    pub method: Option<Method>,
    pub objects: usize,
    /// Seconds until every child is written (for the operator: from its start until every
    /// tenant's status observes its generation with every child applied).
    pub seconds: f64,
    /// Writes until then.
    pub writes: Writes,
    /// The operator: seconds until every tenant is Ready, and the writes until then.
    pub ready_seconds: Option<f64>,
    pub writes_until_ready: Option<Writes>,
    /// The operator: writes in `rest_seconds` once converged (and Ready, with rollouts).
    pub writes_at_rest: Option<u64>,
    pub rest_seconds: Option<u64>,
    /// The operator: writes from its restart until it has reconciled every tenant again.
    pub writes_after_restart: Option<u64>,
    pub restart_reconcile_seconds: Option<f64>,
    pub latency: Option<methods::Latency>,
    /// The operator's peak RSS and CPU (both processes: before and after the restart).
    pub operator: Option<Usage>,
    /// The floor's client (this process) or kubectl.
    pub client_cpu_seconds: Option<f64>,
    pub apiserver: Option<Usage>,
    pub etcd: Option<Usage>,
}

#[derive(Debug, Serialize)]
struct Report {
    machine: Machine,
    kubernetes: &'static str,
    concurrency: usize,
    runs: Vec<RunResult>,
}

#[derive(Debug, Serialize)]
struct Machine {
    cpus: usize,
    cpu_model: String,
    memory_gb: f64,
}

impl Machine {
    fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kb: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_default(),
            memory_gb: (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let repo = repo_root();
    let config = cli.operator.config();
    let operator_binary = repo.join(&cli.operator_binary);
    let runs_operator = [Method::Operator, Method::FloorWatched]
        .iter()
        .any(|m| cli.methods.contains(m));
    if runs_operator && !operator_binary.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p municipio-operator first",
            operator_binary.display()
        ));
    }
    std::fs::create_dir_all(&cli.work_dir).map_err(|e| e.to_string())?;
    let state = cli.work_dir.join("control-plane");
    let mut report = Report {
        machine: Machine::this(),
        kubernetes: "1.20.2 (Debian's source package)",
        concurrency: cli.concurrency,
        runs: Vec::new(),
    };
    for &n in &cli.tenants {
        let tenants = tenants::municipalities(&repo, n, cli.identity)?;
        for &method in &cli.methods {
            eprintln!("bench: {n} tenants, {method:?}: a fresh control plane");
            let cp = ControlPlane::fresh(&repo, &state)?;
            // Every way writes to an API server that does nothing else: no Deployment rolls out
            // while the children are written (the controller manager's and the node's writes
            // would compete with them, unevenly).
            cp.stop("node-simulator");
            cp.stop("kube-controller-manager");
            let rollout = n <= cli.rollout_up_to;
            let bench = methods::Bench {
                repo: &repo,
                cp: &cp,
                config: &config,
                tenants: &tenants,
                concurrency: cli.concurrency,
                work_dir: &cli.work_dir,
            };
            let result = match method {
                Method::Floor => bench.floor(None).await,
                Method::FloorWatched => bench.floor(Some(&operator_binary)).await,
                Method::Kubectl => bench.kubectl().await,
                Method::Operator => {
                    let plan = methods::OperatorPlan {
                        binary: &operator_binary,
                        wait_ready: rollout,
                        rest_seconds: cli.rest_seconds,
                        changes: cli.changes,
                        seed: cli.seed,
                    };
                    bench.operator(&plan).await
                }
            };
            cp.down();
            let result = result?;
            eprintln!(
                "bench: {}",
                serde_json::to_string(&result).unwrap_or_default()
            );
            report.runs.push(result);
            // Written after every run, so a long run that stops early still leaves its figures.
            let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            std::fs::write(&cli.out, json + "\n").map_err(|e| e.to_string())?;
        }
    }
    println!("{}", markdown(&report.runs));
    Ok(())
}

/// One row per N: the three ways side by side, and the ratios.
fn markdown(runs: &[RunResult]) -> String {
    let mut ns: Vec<usize> = runs.iter().map(|r| r.tenants).collect();
    ns.dedup();
    let mut out = String::from(
        "| tenants | objects | floor s | kubectl s | operator s | operator / floor | kubectl / operator | Ready s | operator writes / tenant | at rest | after restart | change p50 / p99 / max ms | operator peak RSS MB | operator CPU s | API server peak RSS MB / CPU s | etcd peak RSS MB / CPU s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let fmt = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1}"));
    for n in ns {
        let of = |m: Method| runs.iter().find(|r| r.tenants == n && r.method == Some(m));
        let (floor, kubectl, op) = (of(Method::Floor), of(Method::Kubectl), of(Method::Operator));
        let secs = |r: Option<&RunResult>| r.map(|r| r.seconds);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "–".to_owned(),
        };
        let objects = [floor, kubectl, op]
            .into_iter()
            .flatten()
            .map(|r| r.objects)
            .max()
            .unwrap_or(0);
        let usage = |u: Option<Usage>| {
            u.map_or("–".to_owned(), |u| {
                format!("{:.0} / {:.1}", u.peak_rss_mb, u.cpu_seconds)
            })
        };
        out.push_str(&format!(
            "| {n} | {objects} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            fmt(secs(floor)),
            fmt(secs(kubectl)),
            fmt(secs(op)),
            ratio(secs(op), secs(floor)),
            ratio(secs(kubectl), secs(op)),
            fmt(op.and_then(|r| r.ready_seconds)),
            op.map_or("–".to_owned(), |r| format!(
                "{:.2} ({:.1} children)",
                r.writes.total as f64 / n as f64,
                r.objects as f64 / n as f64
            )),
            op.and_then(|r| r.writes_at_rest)
                .map_or("–".to_owned(), |w| w.to_string()),
            op.and_then(|r| r.writes_after_restart)
                .map_or("–".to_owned(), |w| w.to_string()),
            op.and_then(|r| r.latency.as_ref())
                .map_or("–".to_owned(), |l| format!(
                    "{:.0} / {:.0} / {:.0}",
                    l.p50_ms, l.p99_ms, l.max_ms
                )),
            op.and_then(|r| r.operator)
                .map_or("–".to_owned(), |u| format!("{:.0}", u.peak_rss_mb)),
            op.and_then(|r| r.operator)
                .map_or("–".to_owned(), |u| format!("{:.1}", u.cpu_seconds)),
            usage(op.and_then(|r| r.apiserver)),
            usage(op.and_then(|r| r.etcd)),
        ));
    }
    out
}
