//! The control plane the benchmark runs against: `tests/control-plane` in a state directory of
//! its own (so it never meets the tests' one), brought up fresh for each way of writing; the
//! processes' memory and CPU from `/proc`; the writes each user made, from the audit log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde::Serialize;

/// The user the control plane gives the operator (it has its own token, so the audit log tells
/// its requests from everyone else's).
pub const OPERATOR_USER: &str = "municipio-operator";
pub const ADMIN_USER: &str = "admin";

pub struct ControlPlane {
    repo: PathBuf,
    pub state: PathBuf,
}

impl ControlPlane {
    /// A fresh control plane: whatever ran in `state` before is stopped and removed.
    pub fn fresh(repo: &Path, state: &Path) -> Result<Self, String> {
        let cp = Self {
            repo: repo.to_owned(),
            state: state.to_owned(),
        };
        cp.script("down")?;
        cp.script("up")?;
        Ok(cp)
    }

    fn script(&self, verb: &str) -> Result<String, String> {
        self.script_with(&[verb])
    }

    fn script_with(&self, args: &[&str]) -> Result<String, String> {
        let verb = args.join(" ");
        let out = Command::new(self.repo.join("tests/control-plane"))
            .args(args)
            .env("MUNICIPIO_CP_DIR", &self.state)
            .env_remove("USE_EXISTING_CLUSTER")
            .output()
            .map_err(|e| format!("tests/control-plane {verb}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tests/control-plane {verb} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts again what `stop` stopped.
    pub fn restart_stopped(&self) -> Result<(), String> {
        self.script("up").map(|_| ())
    }

    /// Stops etcd or the API server with `signal` (TERM, KILL) and starts it again on the same
    /// ports and data, until the API server answers.
    pub fn restart(&self, process: &str, signal: &str) -> Result<(), String> {
        self.script_with(&["restart", process, signal]).map(|_| ())
    }

    /// Compacts etcd's history up to its current revision; returns that revision.
    pub fn compact(&self) -> Result<u64, String> {
        let out = self.script_with(&["compact"])?;
        out.trim()
            .parse()
            .map_err(|e| format!("compact printed {out:?}: {e}"))
    }

    pub fn down(&self) {
        let _ = self.script("down");
    }

    /// kubectl as the control plane's admin.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.admin_kubeconfig())
            .output()
            .map_err(|e| format!("kubectl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.state.join("kubeconfig")
    }

    pub fn operator_kubeconfig(&self) -> PathBuf {
        self.state.join("operator.kubeconfig")
    }

    pub fn audit_log(&self) -> PathBuf {
        self.state.join("audit.log")
    }

    pub async fn client(&self, kubeconfig: &Path) -> Result<Client, String> {
        let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| e.to_string())?;
        let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        // Setup and observation must not be throttled by the client.
        config.read_timeout = Some(Duration::from_secs(60));
        Client::try_from(config).map_err(|e| e.to_string())
    }

    /// The pid of one of the control plane's processes (etcd, kube-apiserver, ...).
    pub fn pid(&self, process: &str) -> Option<u32> {
        std::fs::read_to_string(self.state.join(format!("{process}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops one of the control plane's processes (the controller manager and the simulated
    /// node, when Deployments are not to roll out).
    pub fn stop(&self, process: &str) {
        if let Some(pid) = self.pid(process) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            // `up` tells a stopped process by its pid no longer running.
            for _ in 0..200 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Waits until the audit log holds every request answered so far: the API server logs a
    /// request just after answering it, so one of our own, made now, is logged after them.
    pub async fn audit_caught_up(&self, admin: &Client) -> Result<(), String> {
        let marker = format!("audit-marker-{}", Timestamp::now().as_nanosecond());
        let api: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(marker.clone());
        api.create(&Default::default(), &cm)
            .await
            .map_err(|e| e.to_string())?;
        for _ in 0..600 {
            let text = std::fs::read_to_string(self.audit_log()).unwrap_or_default();
            if text.contains(&marker) {
                let _ = api.delete(&marker, &Default::default()).await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the audit log did not catch up within a minute".to_owned())
    }

    /// The writes `user` made between `from` and `to` (times the API server received them).
    pub fn writes(&self, user: &str, from: Timestamp, to: Timestamp) -> Writes {
        // Rotated logs too (`audit-<time>.log`), should a control plane rotate its log.
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.state)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("audit") && n.ends_with(".log"))
            })
            .collect();
        files.sort();
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect();
        let mut writes = Writes::default();
        for event in text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e.pointer("/user/username").and_then(|u| u.as_str()) == Some(user))
        {
            // A dry run (the operator's Pod Security probe) persists nothing: not a write.
            if event["requestURI"]
                .as_str()
                .unwrap_or_default()
                .contains("dryRun=")
            {
                continue;
            }
            let at = event["requestReceivedTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok());
            if !at.is_some_and(|at| at >= from && at <= to) {
                continue;
            }
            let o = &event["objectRef"];
            let field = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
            let resource = match field("subresource").as_str() {
                "" => field("resource"),
                sub => format!("{}/{sub}", field("resource")),
            };
            let code = event
                .pointer("/responseStatus/code")
                .and_then(|c| c.as_u64());
            if let Some(code) = code.filter(|c| *c >= 400) {
                *writes
                    .refused
                    .entry(format!("{resource} {code}"))
                    .or_default() += 1;
            }
            *writes.by_resource.entry(resource).or_default() += 1;
            writes.total += 1;
        }
        writes
    }
}

/// Writes counted from the audit log.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Writes {
    pub total: u64,
    pub by_resource: BTreeMap<String, u64>,
    /// Those the API server refused, by resource and status code (counted above too).
    pub refused: BTreeMap<String, u64>,
}

/// A process's peak resident memory and CPU time so far.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Usage {
    pub peak_rss_mb: f64,
    pub cpu_seconds: f64,
}

impl Usage {
    pub fn of(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let hwm_kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name (which may hold spaces), utime and stime are the 12th and
        // 13th fields.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(Self {
            peak_rss_mb: hwm_kb / 1024.0,
            cpu_seconds: ticks / clock_ticks(),
        })
    }

    /// CPU used since `earlier`, with this (later) peak.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            peak_rss_mb: self.peak_rss_mb,
            cpu_seconds: self.cpu_seconds - earlier.cpu_seconds,
        }
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds of this process (the floor's client) or of its children that have been waited
/// for (kubectl), from `/proc/self/stat`.
pub fn own_cpu_seconds(children: bool) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // After the state letter: utime, stime, cutime, cstime are the 11th to 14th numbers.
    let at = if children { 12 } else { 10 };
    (fields.get(at).unwrap_or(&0.0) + fields.get(at + 1).unwrap_or(&0.0)) / clock_ticks()
}
