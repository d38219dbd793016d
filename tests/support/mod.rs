//! Test support: a client for the test control plane, and helpers shared by the tests that
//! talk to a real API server.
//!
//! The control plane comes from `tests/control-plane up` (idempotent, so every test process
//! may call it), or from `KUBECONFIG` when `USE_EXISTING_CLUSTER=true`. A control plane that
//! cannot be had is a test failure, never a skip.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod fake;
pub mod proxy;
pub mod tenants;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};
use tokio::sync::OnceCell;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("operator/ has a parent")
        .to_owned()
}

/// Path of the kubeconfig of the control plane the tests use, starting it when needed.
pub fn kubeconfig() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        if std::env::var("USE_EXISTING_CLUSTER").as_deref() == Ok("true") {
            return std::env::var_os("KUBECONFIG")
                .map(PathBuf::from)
                .expect("USE_EXISTING_CLUSTER=true needs KUBECONFIG");
        }
        script_path(
            "tests/control-plane",
            &["up"],
            "the tests need a real API server",
        )
    })
    .clone()
}

/// Runs one of the repository's setup scripts, which print a path as their last line.
pub fn script_path(script: &str, args: &[&str], why: &str) -> PathBuf {
    let out = Command::new(repo_root().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        out.status.success(),
        "`{script} {}` failed; {why}:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{script} printed nothing"));
    PathBuf::from(last.trim())
}

/// A client authenticated as the kubeconfig's current user (the admin, on the test control plane).
pub async fn client() -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig()).expect("the kubeconfig is readable");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("the kubeconfig is valid");
    Client::try_from(config).expect("a client can be built")
}

/// Installs the committed CRD with server-side apply and waits until it is Established; once
/// per test process.
pub async fn install_crd(client: &Client) {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let text = std::fs::read_to_string(repo_root().join("crds/municipalitytenant.yaml"))
                .expect("crds/municipalitytenant.yaml is readable");
            let crd: CustomResourceDefinition =
                serde_yaml_ng::from_str(&text).expect("the committed CRD parses");
            let name = crd.metadata.name.clone().expect("the CRD has a name");
            let api: Api<CustomResourceDefinition> = Api::all(client.clone());
            api.patch(
                &name,
                &PatchParams::apply("municipio-tests").force(),
                &Patch::Apply(&crd),
            )
            .await
            .expect("the API server accepts the CRD");
            tokio::time::timeout(
                Duration::from_secs(60),
                await_condition(api, &name, conditions::is_crd_established()),
            )
            .await
            .expect("the CRD becomes Established within a minute")
            .expect("watching the CRD works");
        })
        .await;
}

/// A name no other test (or earlier run) uses, so tests can run in parallel on one cluster.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{:x}{:x}",
        std::process::id(),
        nanos & 0xffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// An ISTAT code no other tenant on the cluster has: the webhook refuses a second tenant for a
/// municipality, and the demo's examples (real codes, which never start with 9) share the
/// control plane with the tests. Codes follow from the process id, and those already taken on
/// the cluster when the process first asks (tenants of earlier test binaries, whose process
/// ids may give the same codes) are skipped.
pub fn unique_istat() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static TAKEN: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    let taken = TAKEN.get_or_init(|| {
        try_kubectl(&[
            "get",
            "municipalitytenants",
            "-o",
            "jsonpath={.items[*].spec.municipality.istatCode}",
        ])
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
    });
    loop {
        let n = std::process::id() * 100 + COUNTER.fetch_add(1, Ordering::Relaxed);
        // Province 9xx, municipality 001..999 (a zero municipality part is not a code).
        let code = format!("9{:02}{:03}", n / 999 % 100, n % 999 + 1);
        if !taken.contains(&code) {
            return code;
        }
    }
}

/// Runs `kubectl` against the test control plane and returns its standard output; panics with
/// its standard error when it fails.
pub fn kubectl(args: &[&str]) -> String {
    try_kubectl(args).unwrap_or_else(|stderr| panic!("kubectl {} failed: {stderr}", args.join(" ")))
}

/// Runs `kubectl` against the test control plane: its standard output, or its standard error.
pub fn try_kubectl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("kubectl is installed");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The YAML files of a directory of the repository, sorted.
pub fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut stack = vec![repo_root().join(dir)];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("readable directory").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no YAML files under {dir}");
    files
}

/// What a test manifest says it must be refused for: its `# expect: ...` comment lines.
pub fn expectations(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|s| s.trim().to_owned())
        .collect();
    assert!(
        !expected.is_empty(),
        "{} has no `# expect: ...` line",
        path.display()
    );
    expected
}

/// Runs `kubernetes-validate --strict` against the schemas of a Kubernetes version (for
/// example "1.33") and returns whether it passed, with its output. The tool is installed by
/// `tests/python-tools` on first use.
pub fn kubernetes_validate(version: &str, files: &[PathBuf]) -> (bool, String) {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let bin =
        BIN.get_or_init(|| script_path("tests/python-tools", &[], "kubernetes-validate is needed"));
    let out = Command::new(bin.join("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", version])
        .args(files)
        .output()
        .expect("kubernetes-validate runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && !text.contains("ERROR"), text)
}

/// The audit log of the test control plane (one JSON object per line), or `None` on an
/// existing cluster, whose audit log the tests cannot read.
pub fn audit_log() -> Option<PathBuf> {
    if std::env::var("USE_EXISTING_CLUSTER").as_deref() == Ok("true") {
        return None;
    }
    Some(
        kubeconfig()
            .parent()
            .expect("the state directory")
            .join("audit.log"),
    )
}

/// Waits until the audit log holds every request answered before this call. The API server
/// logs a request just after answering it, so a test that saw a write through a watch can
/// read the log before the write's line is in it: a request of our own, made now, is logged
/// after that line.
pub async fn audit_log_caught_up(client: &kube::Client, audit_log: &Path) {
    use k8s_openapi::api::core::v1::ConfigMap;
    let marker = unique_name("audit-marker");
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(marker.clone());
    api.create(&Default::default(), &cm).await.unwrap();
    eventually("the audit log catches up", || async {
        std::fs::read_to_string(audit_log).is_ok_and(|t| t.contains(&marker))
    })
    .await;
    api.delete(&marker, &Default::default()).await.unwrap();
}

/// The writes the test operators made to each of `tenants` (the tenant, its namespace and
/// everything in it) until now, from the audit log: one line each (verb, resource, name,
/// time), so a failure shows which write it was. Dry runs are not writes.
pub async fn operator_writes(
    client: &kube::Client,
    audit_log: &Path,
    tenants: &[&str],
) -> std::collections::BTreeMap<String, Vec<String>> {
    audit_log_caught_up(client, audit_log).await;
    let wanted: std::collections::BTreeSet<&str> = tenants.iter().copied().collect();
    let mut writes: std::collections::BTreeMap<String, Vec<String>> = tenants
        .iter()
        .map(|t| ((*t).to_owned(), Vec::new()))
        .collect();
    let text = std::fs::read_to_string(audit_log).unwrap_or_default();
    for event in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e.pointer("/user/username").and_then(|u| u.as_str()) == Some(OPERATOR_USER))
        // A dry run (the Pod Security probe) persists nothing: not a write.
        .filter(|e| {
            !e["requestURI"]
                .as_str()
                .unwrap_or_default()
                .contains("dryRun=")
        })
    {
        let o = &event["objectRef"];
        let field = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let tenant = [field(&o["namespace"]), field(&o["name"])]
            .into_iter()
            .find(|t| wanted.contains(t.as_str()));
        if let Some(tenant) = tenant {
            writes.entry(tenant).or_default().push(format!(
                "{} {}/{} {} at {}",
                field(&event["verb"]),
                field(&o["resource"]),
                field(&o["subresource"]),
                field(&o["name"]),
                field(&event["requestReceivedTimestamp"]),
            ));
        }
    }
    writes
}

/// A `municipio run` process for one test: it manages only the tenants labelled
/// `municipio.io/test-run: <run>` and reads source Secrets from its own namespace, so tests
/// run side by side on one control plane. Killed when dropped.
pub struct Operator {
    child: std::process::Child,
    pub run: String,
    pub namespace: String,
    log: String,
}

pub const TEST_RUN_LABEL: &str = "municipio.io/test-run";

/// The user the test operators authenticate as on the test control plane, so the audit log
/// can tell their writes from the tests'. It may only impersonate the chart's ServiceAccount:
/// every request is authorized with the chart's RBAC.
pub const OPERATOR_USER: &str = "municipio-operator";

/// The release (and namespace) of the chart installed for the tests, whose ServiceAccount the
/// test operators impersonate.
pub const CHART_RELEASE: &str = "municipio-tests";

/// The ServiceAccount of the chart release: what the operator is in a cluster.
pub fn chart_service_account() -> String {
    format!("system:serviceaccount:{CHART_RELEASE}:{CHART_RELEASE}")
}

/// Runs `tests/helm` (Helm's library) with the test control plane's kubeconfig.
pub fn helm(args: &[&str]) -> Result<String, String> {
    let out = Command::new(repo_root().join("tests/helm"))
        .args(args)
        .current_dir(repo_root())
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("tests/helm runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(format!("{}{}", text(&out.stdout), text(&out.stderr)))
    }
}

/// Installs (or upgrades) the chart for the tests, once per test process.
pub fn chart_installed() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        helm(&[
            "upgrade",
            "--install",
            CHART_RELEASE,
            "charts/municipio",
            "-n",
            CHART_RELEASE,
            "--create-namespace",
            "-f",
            "tests/chart/test-values.yaml",
        ])
        .unwrap_or_else(|e| panic!("the chart installs: {e}"));
    });
}

/// The kubeconfig the test operators use: the chart's ServiceAccount, impersonated (by the
/// test user on the test control plane, by the admin on an existing cluster).
pub fn operator_kubeconfig() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        chart_installed();
        let state = kubeconfig().parent().expect("state directory").to_owned();
        let own = state.join("operator.kubeconfig");
        let base = if audit_log().is_some() && own.exists() {
            // The test user may impersonate the chart's ServiceAccount, and nothing else.
            let role = format!("{CHART_RELEASE}-impersonate");
            let sa = format!("--resource-name={CHART_RELEASE}");
            let _ = try_kubectl(&[
                "-n",
                CHART_RELEASE,
                "create",
                "role",
                &role,
                "--verb=impersonate",
                "--resource=serviceaccounts",
                &sa,
            ]);
            let _ = try_kubectl(&[
                "-n",
                CHART_RELEASE,
                "create",
                "rolebinding",
                &role,
                &format!("--role={role}"),
                &format!("--user={OPERATOR_USER}"),
            ]);
            // Earlier versions of these tests made the test user cluster-admin.
            let _ = try_kubectl(&[
                "delete",
                "clusterrolebinding",
                "municipio-tests-operator",
                "--ignore-not-found",
            ]);
            own
        } else {
            kubeconfig()
        };
        let mut config: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&base).expect("kubeconfig"))
                .expect("kubeconfig is YAML");
        for user in config["users"].as_sequence_mut().into_iter().flatten() {
            user["user"]["as"] = chart_service_account().into();
        }
        let path = std::env::temp_dir().join(format!(
            "municipio-operator-as-chart-{}.kubeconfig",
            std::process::id()
        ));
        std::fs::write(&path, serde_yaml_ng::to_string(&config).expect("YAML")).unwrap();
        path
    })
    .clone()
}

/// Grants the chart's operator-namespace rules in `namespace`, as the chart does in its own
/// (each test operator has its own namespace).
fn grant_operator_namespace(namespace: &str) {
    let _ = try_kubectl(&[
        "-n",
        namespace,
        "create",
        "rolebinding",
        "municipio-operator",
        &format!("--clusterrole={CHART_RELEASE}-operator-namespace"),
        &format!("--serviceaccount={CHART_RELEASE}:{CHART_RELEASE}"),
    ]);
}

impl Operator {
    pub fn start(run: &str, operator_namespace: &str) -> Self {
        Self::start_as(run, operator_namespace, run, "operator")
    }

    /// A replica named `instance` (as a pod's name), logging to `<log>.operator.log`.
    pub fn start_as(run: &str, operator_namespace: &str, log: &str, instance: &str) -> Self {
        Self::start_with(run, operator_namespace, log, instance, &[])
    }

    /// As [`Operator::start_as`], with more flags.
    pub fn start_with(
        run: &str,
        operator_namespace: &str,
        log: &str,
        instance: &str,
        flags: &[&str],
    ) -> Self {
        Self::start_with_env(run, operator_namespace, log, instance, flags, &[])
    }

    /// As [`Operator::start_with`], with environment variables set over the defaults (the log
    /// level `MUNICIPIO_LOG`, ...).
    pub fn start_with_env(
        run: &str,
        operator_namespace: &str,
        log: &str,
        instance: &str,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let kubeconfig = operator_kubeconfig();
        grant_operator_namespace(operator_namespace);
        let log_name = log.to_owned();
        let log = std::fs::File::create(Self::log_path(log)).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_municipio"))
            .args(["run", "--operator-namespace"])
            .arg(operator_namespace)
            // The webhook has its own tests (tests/webhook.rs); many operators run side by
            // side here. A test that wants it gives its flags.
            .args(
                (!flags.contains(&"--webhook-addr"))
                    .then_some("--no-webhook")
                    .iter(),
            )
            .args([
                // Many operators run side by side here: any free port (the log names it).
                "--http-addr",
                "127.0.0.1:0",
            ])
            .args(["--tenant-selector", &format!("{TEST_RUN_LABEL}={run}")])
            // The Lease the chart's RBAC names (each test operator has its own namespace).
            .args(["--leader-election-lease", "municipio-controller"])
            // The tenant-admin role the chart ships, which its RBAC lets the operator bind.
            .args([
                "--tenant-admin-role",
                &format!("{CHART_RELEASE}-tenant-admin"),
            ])
            // Many operators stop in these tests: a short drain, unless the test sets one.
            .env("MUNICIPIO_DRAIN_SECONDS", "1")
            .args(flags)
            .env("KUBECONFIG", kubeconfig)
            .env("MUNICIPIO_LOG", "info,municipio_operator=debug")
            .env("POD_NAME", instance)
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("the operator starts");
        Self {
            child,
            run: run.to_owned(),
            namespace: operator_namespace.to_owned(),
            log: log_name,
        }
    }

    pub fn log_path(run: &str) -> PathBuf {
        std::env::temp_dir().join(format!("{run}.operator.log"))
    }

    /// The operator's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(Self::log_path(&self.log)).unwrap_or_default()
    }

    /// Sends SIGTERM, as the kubelet does when a pod is deleted, and returns at once.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        self.exit_status().is_some()
    }

    /// How it ended, once it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills it at once (SIGKILL), as a crashed node would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Where it serves /metrics, /livez and /readyz, from its log (text or JSON).
    pub async fn http_addr(&self) -> String {
        let mut found = None;
        eventually("the operator serves HTTP", || {
            found = self
                .log()
                .lines()
                .find(|l| l.contains("serving /metrics"))
                .and_then(|l| {
                    let after = l
                        .split("addr=")
                        .nth(1)
                        .or_else(|| l.split("\"addr\":\"").nth(1))?;
                    Some(after.split(['"', ' ']).next()?.trim().to_owned())
                });
            std::future::ready(found.is_some())
        })
        .await;
        found.unwrap_or_default()
    }
}

impl Drop for Operator {
    /// Stops it as the kubelet would: SIGTERM (it finishes its reconciles, gives up its Lease,
    /// so a successor leads at once, and drains for 10 s), then SIGKILL after 15 s.
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return; // Killed, or exited by itself.
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..150 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds (the controller reacts to watch events; no fixed sleeps).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..240 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what}: not within 60 s");
}

/// A CA and a serving certificate for 127.0.0.1, as PEM files in `dir`; returns the CA's PEM.
pub fn certificates(dir: &Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
    use std::net::{IpAddr, Ipv4Addr};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "municipio test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut serving = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    serving
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cert = serving
        .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
        .unwrap();
    std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
    ca_cert.pem()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
