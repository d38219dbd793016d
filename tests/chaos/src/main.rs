//! `municipio-chaos`: the chaos suite's long run (RELIABILITY.md). Exits 1 when anything was
//! lost, left behind or different from the clean run.

use std::path::PathBuf;

use clap::Parser;

use municipio_chaos::{Plan, Workspace};

#[derive(Parser, Debug)]
#[command(about = "municipio's chaos suite: see RELIABILITY.md")]
struct Cli {
    /// Lombardy's first N municipalities (1,502 is all of Lombardy).
    #[arg(long, default_value_t = 1502)]
    tenants: usize,
    #[arg(long, default_value_t = 20)]
    kills: usize,
    #[arg(long, default_value_t = 3)]
    apiserver_restarts: usize,
    #[arg(long, default_value_t = 1)]
    etcd_restarts: usize,
    #[arg(long, default_value_t = 1)]
    compactions: usize,
    #[arg(long, default_value_t = 10)]
    deletions: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The schedule's seed; the same seed gives the same faults at the same moments.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The operator binary.
    #[arg(long, default_value = "target/release/municipio")]
    operator_binary: PathBuf,
    #[arg(long, default_value = "/tmp/municipio-chaos")]
    work_dir: PathBuf,
    /// Where the report goes (JSON).
    #[arg(long, default_value = "/tmp/municipio-chaos/report.json")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plan = Plan {
        tenants: cli.tenants,
        kills: cli.kills,
        apiserver_restarts: cli.apiserver_restarts,
        etcd_restarts: cli.etcd_restarts,
        compactions: cli.compactions,
        deletions: cli.deletions,
        concurrency: cli.concurrency,
        seed: cli.seed,
    };
    if !cli.operator_binary.exists() {
        eprintln!(
            "chaos: {} is missing: cargo build --release -p municipio-operator first",
            cli.operator_binary.display()
        );
        return std::process::ExitCode::FAILURE;
    }
    let ws = Workspace {
        repo,
        operator_binary: cli.operator_binary,
        dir: cli.work_dir,
    };
    let _ = std::fs::create_dir_all(&ws.dir);
    match municipio_chaos::run(&ws, &plan).await {
        Ok(report) => {
            let json = serde_json::to_string_pretty(&report).unwrap_or_default();
            let _ = std::fs::write(&cli.out, format!("{json}\n"));
            println!("{json}");
            if report.passed() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("chaos: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
