//! One operator process: the metrics and probe listener, the webhook (every replica), and the
//! controller (the leader only), until SIGTERM or SIGINT. Any part that fails ends the
//! process, so that the kubelet restarts it rather than leave a replica half working.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::{self, BoxFuture, FutureExt};
use kube::Client;
use tokio::sync::watch;
use tracing::info;

use crate::config::OperatorConfig;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::webhook::WebhookArgs;
use crate::{controller, http, leader, webhook};

/// Process-wide settings shared by `municipio run` and `municipio webhook`.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpArgs {
    /// Address of the plain-HTTP listener for /metrics, /livez and /readyz.
    #[arg(long, env = "MUNICIPIO_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Seconds a stopping replica keeps serving after it reports not ready (SIGTERM), so
    /// that the API server stops calling its webhook before it goes; within the pod's
    /// termination grace period.
    #[arg(long, env = "MUNICIPIO_DRAIN_SECONDS", default_value_t = 10)]
    pub drain_seconds: u64,
}

/// Leader election of the controller.
#[derive(Debug, Clone, clap::Args)]
pub struct LeaderArgs {
    /// Run the controller without electing a leader: only for a single replica.
    #[arg(long, env = "MUNICIPIO_NO_LEADER_ELECTION")]
    pub no_leader_election: bool,
    /// The Lease, in the operator namespace, that the replicas elect their leader with.
    /// Default: `municipio-controller`, with a suffix per --tenant-selector (one leader per
    /// shard).
    #[arg(long, env = "MUNICIPIO_LEADER_ELECTION_LEASE")]
    pub leader_election_lease: Option<String>,
}

/// What `municipio run` runs.
pub struct Run {
    pub config: OperatorConfig,
    pub tenant_selector: Option<String>,
    pub instance: String,
    /// See [`controller::Settings::secret_resync`].
    pub secret_resync: std::time::Duration,
    /// See [`controller::Settings::require_pod_security`].
    pub require_pod_security: bool,
    /// See [`controller::Settings::concurrency`].
    pub concurrency: u16,
    /// See [`controller::Settings::stop_timeout`].
    pub stop_timeout: std::time::Duration,
    pub http: HttpArgs,
    pub leader: LeaderArgs,
    /// `None`: the webhook runs elsewhere (`--no-webhook`).
    pub webhook: Option<WebhookArgs>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Http(#[from] http::Error),
    #[error("the webhook stopped: {0}")]
    Webhook(#[from] webhook::Error),
    #[error(transparent)]
    Leader(#[from] leader::Error),
}

type Part = BoxFuture<'static, Result<(), Error>>;

/// Completes on SIGTERM or SIGINT; every clone of the receiver hears it.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

async fn signalled(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Completes `drain_seconds` after the signal, having marked the replica not ready: the API
/// server and kube-proxy need a moment to stop sending it admission reviews, and with
/// `failurePolicy: Fail` a dropped one is a refused `kubectl apply`.
async fn drained(stop: watch::Receiver<bool>, health: Arc<Health>, drain_seconds: u64) {
    signalled(stop).await;
    health.draining();
    tokio::time::sleep(std::time::Duration::from_secs(drain_seconds)).await;
}

/// Runs until the first part ends: a failure is returned; a graceful stop is `Ok`.
async fn until_first(parts: Vec<Part>) -> Result<(), Error> {
    let (result, _, _) = future::select_all(parts).await;
    result
}

/// `municipio run`: the controller (leader only) with the webhook and the HTTP listener.
pub async fn run(client: Client, run: Run) -> Result<(), Error> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let stop = shutdown_signal();
    let mut parts: Vec<Part> = vec![
        http::serve(run.http.http_addr, metrics.clone(), health.clone())
            .map(|r| r.map_err(Error::from))
            .boxed(),
    ];
    if let Some(args) = run.webhook {
        let namespace = run.config.operator_namespace.clone();
        let (client, metrics, health) = (client.clone(), metrics.clone(), health.clone());
        parts.push(
            async move { Ok(webhook::run(client, args, &namespace, metrics, health).await?) }
                .boxed(),
        );
    }
    let settings = controller::Settings {
        config: run.config.clone(),
        tenant_selector: run.tenant_selector.clone(),
        instance: Some(run.instance.clone()),
        secret_resync: run.secret_resync,
        require_pod_security: run.require_pod_security,
        concurrency: run.concurrency,
        stop_timeout: run.stop_timeout,
        metrics: metrics.clone(),
        health: health.clone(),
    };
    let controller = controller::run(client.clone(), settings, signalled(stop.clone()));
    // The controller stops at once on the signal (a standby can take over sooner); the
    // process ends when the webhook has drained.
    let drain = drained(stop.clone(), health.clone(), run.http.drain_seconds)
        .boxed()
        .shared();
    if run.leader.no_leader_election {
        metrics.set_leader(true);
        health.leading();
        let drain = drain.clone();
        parts.push(controller.then(move |()| drain).map(Ok).boxed());
    } else {
        let lease =
            leader::Settings {
                namespace: run.config.operator_namespace.clone(),
                name: run.leader.leader_election_lease.clone().unwrap_or_else(|| {
                    leader::Settings::lease_name(run.tenant_selector.as_deref())
                }),
                identity: leader::Settings::identity_of(&run.instance),
            };
        let elected = leader::lead(client, lease, metrics, health.clone(), controller);
        // A lost Lease ends the process at once; a graceful stop once drained. A standby has
        // no controller to stop: the drain alone ends it.
        let after_leading = drain.clone();
        parts.push(
            async move {
                elected.await?;
                after_leading.await;
                Ok(())
            }
            .boxed(),
        );
        // A standby ends when drained; a leader ends through the branch above, once its
        // controller has stopped and the Lease is released.
        parts.push(
            async move {
                drain.await;
                if health.is_leading() {
                    future::pending::<()>().await;
                }
                Ok(())
            }
            .boxed(),
        );
    }
    until_first(parts).await
}

/// `municipio webhook`: the webhook alone, with the HTTP listener.
pub async fn webhook_only(
    client: Client,
    args: WebhookArgs,
    operator_namespace: String,
    http: HttpArgs,
) -> Result<(), Error> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let stop = shutdown_signal();
    let drain = drained(stop, health.clone(), http.drain_seconds);
    until_first(vec![
        http::serve(http.http_addr, metrics.clone(), health.clone())
            .map(|r| r.map_err(Error::from))
            .boxed(),
        async move { Ok(webhook::run(client, args, &operator_namespace, metrics, health).await?) }
            .boxed(),
        drain.map(Ok).boxed(),
    ])
    .await
}
