//! The operator as a process of its own, as the benchmark and the chaos suite run it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::{ControlPlane, Usage};
use crate::watch::PATIENCE;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub struct OperatorProcess {
    pub child: std::process::Child,
    pub port: u16,
    pub started: Instant,
}

impl OperatorProcess {
    /// `municipio run` as the benchmark and the chaos suite run it: no webhook, no leader
    /// election, metrics on a free port, logging to `log`.
    pub fn start(
        binary: &Path,
        cp: &ControlPlane,
        operator_namespace: &str,
        concurrency: usize,
        log: &Path,
        args: &[&str],
    ) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(err)?
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(err)?;
        let child = Command::new(binary)
            .args(["run", "--no-webhook", "--no-leader-election", "--http-addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--operator-namespace")
            .arg(operator_namespace)
            .arg("--concurrency")
            .arg(concurrency.to_string())
            .args(args)
            .env("KUBECONFIG", cp.operator_kubeconfig())
            .env("MUNICIPIO_DRAIN_SECONDS", "0")
            .stdout(log.try_clone().map_err(err)?)
            .stderr(log)
            .spawn()
            .map_err(err)?;
        Ok(Self {
            child,
            port,
            started: Instant::now(),
        })
    }

    /// Until its metrics show its watches started (the lists of the kinds, all empty, take a
    /// moment more).
    pub async fn until_listed(&self) -> Result<(), String> {
        for _ in 0..300 {
            if self.metrics().contains("municipio_watch_errors_total") {
                tokio::time::sleep(Duration::from_secs(2)).await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err("the watching operator did not start".to_owned())
    }

    /// Until its metrics count a reconcile per tenant (every tenant looked at again) and it has
    /// been idle for two seconds: no reconcile in flight, none finished. The watches' first
    /// lists trigger tenants again while they are being reconciled; those runs count too.
    pub async fn until_reconciled(&mut self, n: usize) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        let mut idle_since: Option<(Instant, f64)> = None;
        loop {
            if let Some(status) = self.child.try_wait().map_err(err)? {
                return Err(format!("the operator exited: {status}"));
            }
            let metrics = self.metrics();
            let reconciles = Self::sum(&metrics, "municipio_reconciles_total{");
            let in_flight = Self::sum(&metrics, "municipio_reconciles_in_flight");
            if reconciles >= n as f64 && in_flight == 0.0 {
                match idle_since {
                    Some((since, count)) if count == reconciles => {
                        if since.elapsed() >= Duration::from_secs(2) {
                            return Ok(());
                        }
                    }
                    _ => idle_since = Some((Instant::now(), reconciles)),
                }
            } else {
                idle_since = None;
            }
            if Instant::now() > deadline {
                return Err("the restarted operator did not reconcile every tenant".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Its metrics: a local request of a few kilobytes, made blocking.
    pub fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let mut text = String::new();
        if conn
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .is_err()
            || conn.read_to_string(&mut text).is_err()
        {
            return String::new();
        }
        text
    }

    /// The sum of the samples of the metric lines starting with `prefix`.
    pub fn sum(metrics: &str, prefix: &str) -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Its peak memory and CPU, read just before it is stopped with SIGTERM.
    pub fn stop(mut self) -> Result<Usage, String> {
        let usage = Usage::of(self.child.id()).unwrap_or_default();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .map_err(err)?;
        self.child.wait().map_err(err)?;
        Ok(usage)
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
