//! The validating admission webhook: bad tenants are refused at `kubectl apply`, with every
//! field that is wrong. [`review`] decides, purely; [`cache`] is what it knows of the cluster;
//! [`server`] serves it over HTTPS.

pub mod cache;
pub mod review;
pub mod server;

use std::net::SocketAddr;
use std::path::PathBuf;

use kube::Client;
use tracing::info;

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
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Server(#[from] server::Error),
    #[error(
        "no serving certificate: pass --tls-cert-file and --tls-key-file (self-managed certificates are not there yet)"
    )]
    NoCertificate,
}

/// Serves the webhook until the process ends: caches first, then HTTPS.
pub async fn run(client: Client, args: WebhookArgs, operator_namespace: &str) -> Result<(), Error> {
    let (Some(cert_file), Some(key_file)) = (args.tls_cert_file, args.tls_key_file) else {
        return Err(Error::NoCertificate);
    };
    let certificate = server::Certificate::new(server::load(&cert_file, &key_file)?);
    tokio::spawn(server::reload_on_change(
        certificate.clone(),
        cert_file,
        key_file,
    ));
    let cache = cache::ClusterCache::start(&client, operator_namespace);
    cache.ready().await;
    info!("webhook caches filled");
    server::serve(args.webhook_addr, certificate, server::router(cache)).await?;
    Ok(())
}
