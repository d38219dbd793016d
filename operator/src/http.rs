//! The plain-HTTP listener of every replica (`--http-addr`): `/metrics` for Prometheus,
//! `/livez` and `/readyz` for the kubelet's probes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::health::Health;
use crate::metrics::Metrics;

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/livez", get(live))
        .route("/readyz", get(ready))
        .with_state(Shared { metrics, health })
}

async fn metrics_text(State(shared): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}

fn probe(result: Result<(), String>) -> Response {
    match result {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn live(State(shared): State<Shared>) -> Response {
    probe(shared.health.live())
}

async fn ready(State(shared): State<Shared>) -> Response {
    probe(shared.health.ready())
}

#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics and probes on {addr}: {source}")]
pub struct Error {
    addr: SocketAddr,
    source: std::io::Error,
}

/// Serves until the process ends.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> Result<(), Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "serving /metrics, /livez and /readyz");
    axum::serve(listener, router(metrics, health))
        .await
        .map_err(|source| Error { addr, source })
}
