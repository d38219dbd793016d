//! `municipio`: the operator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use municipio_operator::config::OperatorArgs;
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
        /// Log format.
        #[arg(long, env = "MUNICIPIO_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Print, without a cluster, the objects the controller would apply for each tenant.
    ///
    /// The same builder code as the controller; Secret values are shown as the source Secret
    /// they would be copied from. Invalid tenants are reported like `validate` (exit 1).
    Render {
        /// Files or directories (searched for *.yaml and *.yml); `-` reads standard input.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        operator: Box<OperatorArgs>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(log_format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUNICIPIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// Runs `work` with a Kubernetes client, on a new async runtime.
fn with_client<F, Fut>(work: F) -> ExitCode
where
    F: FnOnce(kube::Client) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match kube::Client::try_default().await {
            Ok(client) => work(client).await,
            Err(e) => {
                eprintln!("cannot reach Kubernetes: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn run(
    operator: &OperatorArgs,
    tenant_selector: Option<String>,
    instance: Option<String>,
    webhook: Option<WebhookArgs>,
) -> ExitCode {
    with_client(|client| async move {
        let instance = instance.or_else(|| std::env::var("HOSTNAME").ok());
        let config = operator.config();
        let controller = municipio_operator::controller::run(
            client.clone(),
            config.clone(),
            tenant_selector,
            instance,
        );
        let Some(webhook) = webhook else {
            controller.await;
            return ExitCode::SUCCESS;
        };
        // The webhook serves until it fails; then the process ends, so that the pod restarts
        // rather than stay up with nothing listening (which, with failurePolicy: Fail, would
        // refuse every tenant change).
        let namespace = config.operator_namespace.clone();
        tokio::select! {
            () = controller => {}
            result = municipio_operator::webhook::run(client, webhook, &namespace) => {
                if let Err(e) = result {
                    tracing::error!(error = %e, "the webhook stopped");
                    return ExitCode::FAILURE;
                }
            }
        }
        ExitCode::SUCCESS
    })
}

fn webhook(operator_namespace: String, webhook: WebhookArgs) -> ExitCode {
    with_client(|client| async move {
        match municipio_operator::webhook::run(client, webhook, &operator_namespace).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("webhook: {e}");
                ExitCode::FAILURE
            }
        }
    })
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
        } => {
            init_logs(log_format);
            run(
                &operator,
                tenant_selector,
                instance,
                (!no_webhook).then_some(webhook),
            )
        }
        Command::Webhook {
            operator_namespace,
            webhook: args,
            log_format,
        } => {
            init_logs(log_format);
            webhook(operator_namespace, args)
        }
        Command::Crd => {
            print!("{}", municipio_crds::crd::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Render { paths, operator } => {
            match municipio_operator::render::render_paths(&paths, &operator.config()) {
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
