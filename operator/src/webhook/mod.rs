//! The validating admission webhook: bad tenants are refused at `kubectl apply`, with every
//! field that is wrong, and tenant namespaces are guarded against writes that undo the
//! operator's isolation. [`review`] and [`guard`] decide, purely; [`cache`] is what it knows
//! of the cluster; [`server`] serves both over HTTPS.

pub mod cache;
pub mod certificates;
pub mod guard;
pub mod review;
pub mod server;

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;

use kube::Client;
use tracing::info;

use crate::health::Health;
use crate::metrics::Metrics;

/// How the webhook is served.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// Address the webhook listens on (HTTPS).
    #[arg(long, env = "MUNICIPIO_WEBHOOK_ADDR", default_value = "0.0.0.0:8443")]
    pub webhook_addr: SocketAddr,
    /// Serving certificate (PEM, with its chain), e.g. from cert-manager; read again when it
    /// changes. With `--tls-key-file`.
    #[arg(long, env = "MUNICIPIO_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Private key of the serving certificate (PEM).
    #[arg(long, env = "MUNICIPIO_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Self-managed certificates (without --tls-cert-file): the Service the API server calls
    /// the webhook through; the certificate is made for its DNS names.
    #[arg(
        long,
        env = "MUNICIPIO_WEBHOOK_SERVICE",
        default_value = "municipio-webhook"
    )]
    pub webhook_service: String,
    /// Self-managed certificates: the ValidatingWebhookConfiguration whose caBundle the
    /// operator keeps.
    #[arg(
        long,
        env = "MUNICIPIO_WEBHOOK_CONFIGURATION",
        default_value = "municipio"
    )]
    pub webhook_configuration: String,
    /// Self-managed certificates: the Secret, in the operator namespace, that holds the CA and
    /// the certificate for every replica.
    #[arg(
        long,
        env = "MUNICIPIO_TLS_SECRET",
        default_value = "municipio-webhook-tls"
    )]
    pub tls_secret: String,
    /// Self-managed certificates: more names or IP addresses the certificate is valid for
    /// (a webhook called by URL), repeatable.
    #[arg(long, env = "MUNICIPIO_WEBHOOK_EXTRA_SANS", value_delimiter = ',')]
    pub webhook_extra_san: Vec<String>,
    /// The user the operator's own requests are authenticated as
    /// (`system:serviceaccount:<namespace>:<name>` in a cluster): the guard of tenant
    /// namespaces lets it, and Kubernetes' own controllers, write the objects it manages, and
    /// no one else. Unset: the guard refuses nothing (and says so in a warning).
    #[arg(long, env = "MUNICIPIO_OPERATOR_USER")]
    pub operator_user: Option<String>,
    /// Another user the cluster gives its controller manager, allowed like
    /// `system:kube-controller-manager` (repeatable; comma-separated in the variable).
    #[arg(
        long = "kubernetes-user",
        env = "MUNICIPIO_KUBERNETES_USERS",
        value_delimiter = ','
    )]
    pub kubernetes_users: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Server(#[from] server::Error),
    #[error("self-managed certificate: {0}")]
    Certificates(#[from] certificates::Error),
}

/// Serves the webhook until the process ends: certificate, caches, then HTTPS; `health` hears
/// when it serves.
pub async fn run(
    client: Client,
    args: WebhookArgs,
    operator_namespace: &str,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<(), Error> {
    health.expect_webhook();
    let certificate = match (args.tls_cert_file, args.tls_key_file) {
        (Some(cert_file), Some(key_file)) => {
            let certificate = server::Certificate::new(server::load(&cert_file, &key_file)?);
            tokio::spawn(server::reload_on_change(
                certificate.clone(),
                cert_file,
                key_file,
            ));
            certificate
        }
        _ => {
            let settings = certificates::SelfManaged {
                namespace: operator_namespace.to_owned(),
                secret: args.tls_secret,
                configuration: args.webhook_configuration,
                names: certificates::SelfManaged::names_of(
                    &args.webhook_service,
                    operator_namespace,
                    &args.webhook_extra_san,
                ),
            };
            let certificate =
                server::Certificate::new(certificates::ensure(&client, &settings).await?);
            tokio::spawn(certificates::keep_renewed(
                client.clone(),
                settings,
                certificate.clone(),
            ));
            certificate
        }
    };
    let cache = cache::ClusterCache::start(&client, operator_namespace);
    cache.ready().await;
    info!("webhook caches filled");
    server::serve(
        args.webhook_addr,
        certificate,
        server::router(
            cache,
            args.operator_user.map(|user| guard::Operator {
                user,
                kubernetes_users: args.kubernetes_users,
            }),
            metrics,
        ),
        || health.webhook_serving(),
    )
    .await?;
    Ok(())
}
