//! The HTTPS server of the webhook: `POST /validate-municipalitytenant` answers an
//! `AdmissionReview`, `GET /healthz` says it is up. TLS from a certificate and key in PEM
//! files, read again when they change (cert-manager renews a mounted Secret in place).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tracing::{debug, info, warn};

use super::guard::{self, Operator};
use super::review::{self, Cluster};
use crate::metrics::{AdmissionResult, Metrics};

/// The path the `ValidatingWebhookConfiguration` calls for tenants.
pub const PATH: &str = "/validate-municipalitytenant";
/// The path it calls for the objects of tenant namespaces (see [`guard`](super::guard)).
pub const GUARD_PATH: &str = "/validate-tenant-namespace";
/// How often the certificate files are looked at for a renewal.
const RELOAD_EVERY: Duration = Duration::from_secs(60);
/// The largest admission request read: an UPDATE carries the object twice, with its managed
/// fields, and an object may be up to 3 MiB.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How long a client has for its TLS handshake, and for the headers of a request: an idle or
/// slow connection must not hold a task and a socket for ever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate or key that can be used: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("the certificate and key do not go together: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A certificate and its key, from two PEM files.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<CertifiedKey>, Error> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })
    };
    certified_key(
        &read(cert_file)?,
        &read(key_file)?,
        &cert_file.display().to_string(),
    )
}

/// A certificate (with its chain) and its key, from PEM; `source` names where they come from.
pub fn certified_key(cert: &[u8], key: &[u8], source: &str) -> Result<Arc<CertifiedKey>, Error> {
    let pem = |reason: String| Error::Pem {
        path: PathBuf::from(source),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem("no CERTIFICATE block".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| pem(e.to_string()))?;
    let provider = ring::default_provider();
    Ok(Arc::new(CertifiedKey::from_der(certs, key, &provider)?))
}

/// The serving certificate, replaceable while serving.
#[derive(Debug)]
pub struct Certificate(RwLock<Arc<CertifiedKey>>);

impl Certificate {
    pub fn new(key: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(Self(RwLock::new(key)))
    }

    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = key;
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Reads the files again whenever they change, and serves the new certificate from then on.
pub async fn reload_on_change(
    certificate: Arc<Certificate>,
    cert_file: PathBuf,
    key_file: PathBuf,
) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen: (Option<SystemTime>, Option<SystemTime>) =
        (modified(&cert_file), modified(&key_file));
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        let now = (modified(&cert_file), modified(&key_file));
        if now == seen {
            continue;
        }
        match load(&cert_file, &key_file) {
            Ok(key) => {
                certificate.replace(key);
                seen = now;
                info!(file = %cert_file.display(), "serving certificate reloaded");
            }
            // Half-written files during a renewal: the next look will find them whole.
            Err(error) => warn!(%error, "serving certificate not reloaded"),
        }
    }
}

#[derive(Clone)]
struct Shared {
    cluster: Arc<dyn Cluster + Send + Sync>,
    /// Who the operator is, for the guard of tenant namespaces.
    operator: Option<Arc<Operator>>,
    metrics: Arc<Metrics>,
}

/// The routes, for any cluster view.
pub fn router(
    cluster: Arc<dyn Cluster + Send + Sync>,
    operator: Option<Operator>,
    metrics: Arc<Metrics>,
) -> Router {
    Router::new()
        .route(PATH, post(admit))
        .route(GUARD_PATH, post(guard_namespace))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Shared {
            cluster,
            operator: operator.map(Arc::new),
            metrics,
        })
}

async fn admit(
    State(shared): State<Shared>,
    body: Bytes,
) -> axum::Json<AdmissionReview<DynamicObject>> {
    let started = Instant::now();
    let review = review::review(&body, shared.cluster.as_ref());
    answered(&shared, review, started)
}

async fn guard_namespace(
    State(shared): State<Shared>,
    body: Bytes,
) -> axum::Json<AdmissionReview<DynamicObject>> {
    let started = Instant::now();
    let review = guard::review(&body, shared.operator.as_deref());
    answered(&shared, review, started)
}

/// Counts an answer and sends it.
fn answered(
    shared: &Shared,
    review: AdmissionReview<DynamicObject>,
    started: Instant,
) -> axum::Json<AdmissionReview<DynamicObject>> {
    let result = match &review.response {
        Some(r) if r.allowed => AdmissionResult::allowed,
        // A request that could not be read at all.
        Some(r) if r.result.reason == "InvalidRequest" => AdmissionResult::error,
        Some(_) => AdmissionResult::denied,
        None => AdmissionResult::error,
    };
    shared.metrics.admission(result, started);
    debug!(?result, "admission review answered");
    axum::Json(review)
}

/// Serves `router` over TLS on `addr` until the process ends; `listening` is called once it
/// accepts connections.
pub async fn serve(
    addr: SocketAddr,
    certificate: Arc<Certificate>,
    router: Router,
    listening: impl FnOnce(),
) -> Result<(), Error> {
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })?;
    info!(%addr, tenants = PATH, tenant_namespaces = GUARD_PATH, "webhook serving");
    listening();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "accept failed");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = connection {
                debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}
