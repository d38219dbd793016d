//! `municipio`: the operator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use municipio_operator::config::OperatorArgs;
use municipio_operator::runtime::{self, HttpArgs, LeaderArgs};
use municipio_operator::webhook::WebhookArgs;

/// municipio: runs Italian municipalities (Comuni) as tenants of a regional Kubernetes cloud.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the MunicipalityTenant CustomResourceDefinition as YAML.
    Crd,
    /// Check MunicipalityTenant manifests offline with the same rules as the cluster.
    ///
    /// Exit 0 when every tenant is valid; otherwise exit 1 and print one line per problem:
    /// `<file>: <tenant name>: <field path>: <message>`.
    Validate {
        /// Files or directories (searched for *.yaml and *.yml); `-` reads standard input.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
    },
    /// Run the controller (kubeconfig from the cluster, KUBECONFIG or ~/.kube/config).
    Run {
        #[command(flatten)]
        operator: Box<OperatorArgs>,
        /// Manage only the tenants with these labels (a label selector, e.g. `shard=north`).
        #[arg(long, env = "MUNICIPIO_TENANT_SELECTOR")]
        tenant_selector: Option<String>,
        /// Log format.
        #[arg(long, env = "MUNICIPIO_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Name of this replica in the Events it records (in a cluster, the pod's name through
        /// the downward API); defaults to the host name.
        #[arg(long, env = "POD_NAME")]
        instance: Option<String>,
        /// The admission webhook, served alongside the controller.
        #[command(flatten)]
        webhook: WebhookArgs,
        /// Run the controller only (the webhook runs as its own Deployment, `municipio webhook`).
        #[arg(long, env = "MUNICIPIO_NO_WEBHOOK")]
        no_webhook: bool,
        #[command(flatten)]
        http: HttpArgs,
        #[command(flatten)]
        leader: LeaderArgs,
        /// Seconds between writes of a tenant Secret whose keys have not changed. The operator
        /// never reads Secrets outside its namespace, so this is how a Secret someone changed
        /// or deleted is put back.
        #[arg(
            long,
            env = "MUNICIPIO_SECRET_RESYNC_SECONDS",
            default_value_t = 1800,
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        secret_resync_seconds: u64,
        /// How many tenants are reconciled at once. Each reconcile makes its requests one at a
        /// time, so this bounds the operator's concurrent requests to the API server.
        #[arg(
            long,
            env = "MUNICIPIO_CONCURRENCY",
            default_value_t = 16,
            value_parser = clap::value_parser!(u16).range(1..)
        )]
        concurrency: u16,
        /// Seconds a stopping controller waits for the reconciles in flight (SIGTERM) before it
        /// abandons them, to be retried by its successor, and gives its Lease up. With the
        /// Lease release (at most 2 s) it stays within the chart's termination grace period of
        /// 30 s, even when a request hangs.
        #[arg(long, env = "MUNICIPIO_STOP_SECONDS", default_value_t = 15)]
        stop_seconds: u64,
        /// A tenant is Ready only where the cluster enforces its namespace's Pod Security level
        /// (the condition PodSecurityEnforced tells it either way).
        #[arg(long, env = "MUNICIPIO_REQUIRE_POD_SECURITY")]
        require_pod_security: bool,
    },
    /// Serve the validating admission webhook alone (for a separate Deployment, and for tests).
    Webhook {
        /// Namespace of the source Secrets the webhook checks bindings of.
        #[arg(
            long,
            env = "MUNICIPIO_OPERATOR_NAMESPACE",
            default_value = "municipio-system"
        )]
        operator_namespace: String,
        #[command(flatten)]
        webhook: WebhookArgs,
        #[command(flatten)]
        http: HttpArgs,
        /// Log format.
        #[arg(long, env = "MUNICIPIO_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// MunicipalityTenant manifests for a region, from the ISTAT list of municipalities.
    ///
    /// A YAML stream on standard output, or one file per tenant and a kustomization.yaml under
    /// --out. Names are stable: the same municipality always gets the same name. A row that
    /// cannot become a valid tenant is reported with its line (exit 1); the others are written.
    Onboard {
        /// The ISTAT list (data/istat-comuni.csv in the repository).
        #[arg(long)]
        csv: PathBuf,
        /// Only these regions (repeatable), e.g. `Lombardia`.
        #[arg(long = "region")]
        regions: Vec<String>,
        /// Only these provinces (repeatable), by plate code, e.g. `MI`.
        #[arg(long = "province")]
        provinces: Vec<String>,
        /// A MunicipalityTenant without metadata.name and spec.municipality, for everything
        /// else (environment, quota, workloads); default: a portal per municipality in uat.
        #[arg(long)]
        template: Option<PathBuf>,
        /// Write one file per tenant and a kustomization.yaml here, instead of to stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print, without a cluster, the objects the controller would apply for each tenant.
    ///
    /// The same builder code as the controller; Secret values are shown as the source Secret
    /// they would be copied from. Invalid tenants are reported like `validate` (exit 1).
    Render {
        /// Files or directories (searched for *.yaml and *.yml); `-` reads standard input.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// The moment the identity artifacts are signed at, RFC 3339 (they are signed with
        /// throwaway keys derived from each tenant's name). Default: today at midnight UTC, so
        /// renderings of one day are the same.
        #[arg(long, value_parser = parse_moment)]
        at: Option<i64>,
        #[command(flatten)]
        operator: Box<OperatorArgs>,
    },
}

fn parse_moment(s: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("{s:?} is not an RFC 3339 moment (e.g. 2026-12-06T00:00:00Z): {e}"))
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(log_format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUNICIPIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a pod's log (or a file) gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// Runs `work` with a Kubernetes client, on a new async runtime. The client names itself
/// `municipio/<version> (<instance>)` to the API server, so audit logs tell replicas apart.
fn with_client<F, Fut>(instance: &str, work: F) -> ExitCode
where
    F: FnOnce(kube::Client) -> Fut,
    Fut: Future<Output = Result<(), runtime::Error>>,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let agent = format!("municipio/{} ({instance})", env!("CARGO_PKG_VERSION"));
    runtime.block_on(async {
        let client = kube::Config::infer()
            .await
            .map_err(|e| e.to_string())
            .and_then(|mut config| {
                let agent = axum::http::HeaderValue::from_str(&agent).map_err(|e| e.to_string())?;
                config.headers.push((axum::http::header::USER_AGENT, agent));
                // kube's built-in retry waits out 429, 503 and 504 itself, up to 15 times with
                // a delay doubling towards 1,000 s: an API server restarting answers 503 for a
                // few seconds, and requests made then came back minutes later (found by the
                // chaos suite). The watches and the reconciles have their own backoff, capped
                // at 30 s and 5 min; a reconcile the API server sheds (429, 503, 504) is
                // retried without writing status.
                config.default_retry = false;
                kube::Client::try_from(config).map_err(|e| e.to_string())
            });
        match client {
            Ok(client) => match work(client).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "stopped");
                    eprintln!("municipio: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("cannot reach Kubernetes: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// This replica's name: the pod's (downward API), else the host's.
fn instance_name(instance: Option<String>) -> String {
    instance
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| {
            let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
            Some(name.trim().to_owned()).filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| "municipio".to_owned())
}

fn onboard(
    csv: &std::path::Path,
    regions: Vec<String>,
    provinces: Vec<String>,
    template: Option<&std::path::Path>,
    out: Option<&std::path::Path>,
) -> ExitCode {
    use municipio_operator::onboard;
    let prepared =
        onboard::read_rows(csv).and_then(|rows| Ok((rows, onboard::template(template)?)));
    let (rows, template) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("onboard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let selection = onboard::Selection { regions, provinces };
    let result = onboard::onboard(&rows, &selection, &template);
    match out {
        Some(dir) => {
            if let Err(e) = onboard::write_dir(dir, &result.tenants) {
                eprintln!("onboard: {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        None => print!("{}", onboard::stream(&result.tenants)),
    }
    for problem in &result.problems {
        eprintln!("{}: {problem}", csv.display());
    }
    eprintln!(
        "{} tenant(s) written, {} problem(s)",
        result.tenants.len(),
        result.problems.len()
    );
    if result.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            operator,
            tenant_selector,
            log_format,
            instance,
            webhook,
            no_webhook,
            http,
            leader,
            secret_resync_seconds,
            concurrency,
            stop_seconds,
            require_pod_security,
        } => {
            init_logs(log_format);
            let instance = instance_name(instance);
            let run = runtime::Run {
                config: operator.config(),
                tenant_selector,
                instance: instance.clone(),
                secret_resync: std::time::Duration::from_secs(secret_resync_seconds),
                require_pod_security,
                concurrency,
                stop_timeout: std::time::Duration::from_secs(stop_seconds),
                http,
                leader,
                webhook: (!no_webhook).then_some(webhook),
            };
            with_client(&instance, |client| runtime::run(client, run))
        }
        Command::Webhook {
            operator_namespace,
            webhook,
            http,
            log_format,
        } => {
            init_logs(log_format);
            with_client(&instance_name(None), |client| {
                runtime::webhook_only(client, webhook, operator_namespace, http)
            })
        }
        Command::Onboard {
            csv,
            regions,
            provinces,
            template,
            out,
        } => onboard(
            &csv,
            regions,
            provinces,
            template.as_deref(),
            out.as_deref(),
        ),
        Command::Crd => {
            print!("{}", municipio_crds::crd::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Render {
            paths,
            at,
            operator,
        } => {
            let at = at.unwrap_or_else(|| {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                now - now.rem_euclid(86_400)
            });
            match municipio_operator::render::render_paths(&paths, &operator.config(), at) {
                Ok(stream) => {
                    print!("{stream}");
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    for line in &problems {
                        println!("{line}");
                    }
                    eprintln!("{} problem(s): nothing rendered", problems.len());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Validate { paths } => {
            let report = municipio_operator::validate_files::validate_paths(&paths);
            for line in &report.problems {
                println!("{line}");
            }
            for line in &report.warnings {
                eprintln!("{line}");
            }
            if report.problems.is_empty() {
                eprintln!("{} tenant(s) valid", report.tenants);
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "{} problem(s) in {} tenant(s)",
                    report.problems.len(),
                    report.tenants
                );
                ExitCode::FAILURE
            }
        }
    }
}
