//! The Argo CD health check (`charts/municipio/health/`) and `kubectl wait`, against tenants the
//! real operator brought into each state on the real API server. The script runs in `lua5.4`
//! (installed by `tests/control-plane install`) on each tenant's live JSON, with no more of
//! Lua's libraries than Argo CD gives a custom check.

mod support;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use municipio_crds::MunicipalityTenant;
use serde_json::{Value, json};
use support::tenants::{from_manifest, keys_for, namespace, operator_of_its_own, tenant};
use support::{Operator, client, eventually, kubectl, try_kubectl, unique_name};

const HEALTH_KEY: &str = "resource.customizations.health.tenancy.municipio.io_MunicipalityTenant";

fn health_file(name: &str) -> PathBuf {
    support::repo_root()
        .join("charts/municipio/health")
        .join(name)
}

fn script() -> String {
    std::fs::read_to_string(health_file("municipalitytenant.lua"))
        .expect("charts/municipio/health/municipalitytenant.lua is readable")
}

// ---------------------------------------------------------------- JSON -> Lua, and the script

/// A Lua string literal holding exactly the bytes of `s`: every byte outside printable ASCII,
/// and the quote and backslash, as a three-digit decimal escape (three digits, so a digit
/// that follows is never read as part of the escape).
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            0x20..=0x7e if b != b'"' && b != b'\\' => out.push(char::from(b)),
            _ => write!(out, "\\{b:03}").unwrap(),
        }
    }
    out.push('"');
    out
}

/// A Lua expression for a JSON value, as Argo CD hands objects to its scripts: objects and
/// arrays become tables (arrays from index 1), null fields are left out.
fn lua_literal(v: &Value) -> String {
    match v {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua_literal).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_literal(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Runs a Lua program on `lua5.4`'s standard input; its standard output.
fn run_lua(program: &str) -> String {
    let mut child = Command::new("lua5.4")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lua5.4 is installed (tests/control-plane install)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(program.as_bytes())
        .expect("the program is written to lua5.4");
    let out = child.wait_with_output().expect("lua5.4 runs");
    assert!(
        out.status.success(),
        "lua5.4 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[derive(Debug, PartialEq, Eq)]
struct Health {
    status: String,
    message: String,
}

/// What the health check says of `object`. The script runs as Argo CD runs a custom check:
/// `obj` a global, only the base functions and `table` (no `string`, `math`, `io` or `os`),
/// and no string methods.
fn health(object: &Value) -> Health {
    let path = health_file("municipalitytenant.lua");
    let program = format!(
        r#"local env = {{ obj = {obj}, table = table }}
for _, name in ipairs({{ "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall",
    "rawequal", "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring", "type" }}) do
  env[name] = _G[name]
end
getmetatable("").__index = nil
local check = assert(loadfile({path}, "t", env))
local hs = check()
assert(type(hs) == "table", "the script returns a table, not " .. type(hs))
assert(type(hs.status) == "string", "hs.status is a string")
assert(type(hs.message) == "string", "hs.message is a string")
io.write(hs.status, "\t", hs.message)
"#,
        obj = lua_literal(object),
        path = lua_string(path.to_str().expect("a UTF-8 path")),
    );
    let out = run_lua(&program);
    let (status, message) = out.split_once('\t').expect("status TAB message");
    assert!(
        ["Healthy", "Progressing", "Degraded", "Suspended"].contains(&status),
        "not an Argo CD health status: {status}"
    );
    Health {
        status: status.to_owned(),
        message: message.to_owned(),
    }
}

#[test]
fn lua_literals_carry_every_byte_of_a_string() {
    let tricky =
        "quote \" backslash \\ \\\" newline \n tab \t nul \0 then 7 del \u{7f} [[ ]] ]=] è 🏛 \\0";
    let value = json!({
        "s": tricky,
        "n": 9_007_199_254_740_993_i64,
        "negative": -3,
        "float": 0.25,
        "list": ["a", true, {"k": "v"}],
        "gone": null,
    });
    let out = run_lua(&format!(
        r#"local v = {}
io.write(v.s, "|", v.n, "|", v.negative, "|", v.float, "|", v.list[1], tostring(v.list[2]),
  v.list[3].k, "|", #v.list, "|", tostring(v.gone))"#,
        lua_literal(&value)
    ));
    assert_eq!(
        out,
        format!("{tricky}|9007199254740993|-3|0.25|atruev|3|nil")
    );
}

// ---------------------------------------------------------------- the argocd-cm patch

#[test]
fn the_argocd_cm_patch_holds_the_script_byte_for_byte() {
    let script = script();
    let text = std::fs::read_to_string(health_file("argocd-cm.yaml")).unwrap();
    let patch: ConfigMap = serde_yaml_ng::from_str(&text).expect("argocd-cm.yaml is a ConfigMap");
    assert_eq!(patch.metadata.name.as_deref(), Some("argocd-cm"));
    assert_eq!(
        patch.metadata.namespace, None,
        "a patch for `kubectl -n argocd patch`: a namespace in it would have to match"
    );
    let data = patch.data.expect("data");
    assert_eq!(data.keys().collect::<Vec<_>>(), [HEALTH_KEY]);
    assert!(data[HEALTH_KEY] == script, "the YAML value is the script");
    // The same, line by line: the block after the key, de-indented by four spaces.
    let header = format!("  {HEALTH_KEY}: |");
    let block = text
        .split_once(&format!("{header}\n"))
        .unwrap_or_else(|| panic!("no line `{header}`"))
        .1;
    let dedented: String = block
        .split_inclusive('\n')
        .map(|line| match line {
            "\n" => line,
            _ => line
                .strip_prefix("    ")
                .unwrap_or_else(|| panic!("not indented by four spaces: {line:?}")),
        })
        .collect();
    assert!(
        dedented == script,
        "argocd-cm.yaml is out of date: replace its value with `sed 's/^./    &/' municipalitytenant.lua`"
    );
}

#[tokio::test]
async fn the_argocd_cm_patch_merges_into_an_existing_argocd_cm() {
    let client = client().await;
    let ns = unique_name("argocd");
    namespace(&client, &ns).await;
    let existing: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-cm"},
        "data": {"url": "https://argocd.regione.example"},
    }))
    .unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &existing)
        .await
        .expect("argocd-cm created");
    let file = health_file("argocd-cm.yaml");
    kubectl(&[
        "-n",
        &ns,
        "patch",
        "configmap",
        "argocd-cm",
        "--type",
        "merge",
        "--patch-file",
        file.to_str().unwrap(),
    ]);
    let data = config_maps.get("argocd-cm").await.unwrap().data.unwrap();
    assert_eq!(data["url"], "https://argocd.regione.example", "kept");
    assert!(data[HEALTH_KEY] == script(), "the script, byte for byte");
}

// ---------------------------------------------------------------- tenants on the API server

/// Waits until the tenant's condition `type_` has `status` and `reason`, computed for the
/// current generation. Polls, and rides out API errors: other tests on the same control plane
/// change the CRD now and then, which can fail a request or end a watch.
async fn condition(client: &kube::Client, name: &str, type_: &str, status: &str, reason: &str) {
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    let matches = |t: &MunicipalityTenant| {
        t.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == type_
                    && c.status == status
                    && c.reason == reason
                    && c.observed_generation == t.metadata.generation
            })
        })
    };
    let mut last = String::new();
    for _ in 0..480 {
        match api.get_opt(name).await {
            Ok(Some(t)) if matches(&t) => return,
            Ok(t) => last = format!("{:#?}", t.and_then(|t| t.status)),
            Err(e) => last = format!("error: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{name}: {type_}={status} ({reason}) not reached within 120 s; status now: {last}");
}

/// `kubectl`, again for up to a minute when the API server refuses (see `condition`).
fn kubectl_retrying(args: &[&str]) -> String {
    let mut last = String::new();
    for _ in 0..60 {
        match try_kubectl(args) {
            Ok(out) => return out,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("kubectl {} failed for a minute: {last}", args.join(" "));
}

/// The tenant as `kubectl get -o json` (and Argo CD) sees it.
fn live(name: &str) -> Value {
    serde_json::from_str(&kubectl_retrying(&["get", "mt", name, "-o", "json"])).expect("JSON")
}

fn condition_of<'a>(object: &'a Value, type_: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {object:#}"))
}

/// Asserts the health of the live tenant `name`, and that its message is the message of its
/// condition `message_of`; returns the live object.
fn assert_health(name: &str, status: &str, message_of: &str) -> Value {
    let object = live(name);
    let expected = Health {
        status: status.to_owned(),
        message: condition_of(&object, message_of)["message"]
            .as_str()
            .expect("a message")
            .to_owned(),
    };
    assert_eq!(health(&object), expected, "{name}: {:#}", object["status"]);
    object
}

/// Sets the Ready condition of an object (a copy; nothing is written).
fn with_ready(mut object: Value, status: &str, reason: &str, message: &str) -> Value {
    for c in object["status"]["conditions"].as_array_mut().unwrap() {
        if c["type"] == "Ready" {
            c["status"] = json!(status);
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
    }
    object
}

/// The object with every integer as a float, as gopher-lua holds numbers.
fn as_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map_or_else(|| v.clone(), |f| json!(f)),
        Value::Array(items) => Value::Array(items.iter().map(as_floats).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), as_floats(v)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

fn wait_ready(name: &str, timeout: &str) -> Result<String, String> {
    try_kubectl(&[
        "wait",
        "--for=condition=Ready",
        &format!("--timeout={timeout}"),
        &format!("mt/{name}"),
    ])
}

#[tokio::test]
async fn argo_cd_health_and_kubectl_wait_follow_the_operator() {
    let (client, operator) = operator_of_its_own().await;
    let run = operator.run.clone();
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let create = |t: MunicipalityTenant| {
        let tenants = tenants.clone();
        async move {
            tenants
                .create(&PostParams::default(), &t)
                .await
                .expect("tenant created");
        }
    };

    // Every state at once, each tenant on its own.
    let ready = unique_name("health-ready");
    keys_for(&client, &operator, &ready, &ready).await;
    create(tenant(&ready, &run)).await;
    // One pod allowed for two replicas: the quota refuses the second pod, so the rollout
    // never completes and the operator keeps reporting it in progress.
    let rolling = unique_name("health-rolling");
    keys_for(&client, &operator, &rolling, &rolling).await;
    let mut t = tenant(&rolling, &run);
    t.spec.quota.as_mut().unwrap().pods = Some(1);
    create(t).await;
    let missing = unique_name("health-missing"); // no source Secret at all
    create(tenant(&missing, &run)).await;
    let unbound = unique_name("health-unbound");
    keys_for(&client, &operator, &unbound, "someone-else").await;
    create(tenant(&unbound, &run)).await;
    // Accepted by the schema, refused by validate (the operator runs without its webhook).
    let several = "tests/manifests/semantic-invalid/several-problems.yaml";
    let invalid = unique_name("health-invalid");
    create(from_manifest(several, &invalid, &run)).await;
    let conflict = unique_name("health-conflict");
    namespace(&client, &conflict).await;
    keys_for(&client, &operator, &conflict, &conflict).await;
    create(tenant(&conflict, &run)).await;
    let suspended = unique_name("health-suspended");
    let mut t = tenant(&suspended, &run);
    t.spec.suspend = true;
    create(t).await;
    let suspended_invalid = unique_name("health-susp-invalid");
    let mut t = from_manifest(several, &suspended_invalid, &run);
    t.spec.suspend = true;
    create(t).await;

    condition(&client, &ready, "Ready", "True", "Ready").await;
    let ready_object = assert_health(&ready, "Healthy", "Ready");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &rolling);
    eventually("one pod of two runs, the other is refused", || async {
        let Some(status) = deployments
            .get_opt("portale")
            .await
            .unwrap()
            .and_then(|d| d.status)
        else {
            return false;
        };
        status.available_replicas == Some(1)
            && status
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "ReplicaFailure" && c.status == "True")
    })
    .await;
    condition(
        &client,
        &rolling,
        "Reconciling",
        "True",
        "WorkloadsProgressing",
    )
    .await;
    let object = assert_health(&rolling, "Progressing", "Ready");
    assert_eq!(
        condition_of(&object, "Ready")["reason"],
        "WorkloadsProgressing"
    );

    condition(&client, &missing, "Ready", "False", "SourceSecretMissing").await;
    assert_health(&missing, "Degraded", "Ready");
    condition(&client, &unbound, "Ready", "False", "SourceSecretNotBound").await;
    let object = assert_health(&unbound, "Degraded", "Ready");
    let message = condition_of(&object, "Ready")["message"].as_str().unwrap();
    assert!(message.contains("is not bound to tenant"), "{message}");
    condition(&client, &invalid, "Stalled", "True", "InvalidSpec").await;
    let object = assert_health(&invalid, "Degraded", "Stalled");
    let message = condition_of(&object, "Stalled")["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("spec.workloads[0].image"), "{message}");
    condition(&client, &conflict, "Stalled", "True", "NamespaceConflict").await;
    assert_health(&conflict, "Degraded", "Stalled");
    condition(&client, &suspended, "Ready", "False", "Suspended").await;
    assert_health(&suspended, "Suspended", "Ready");
    // Suspending does not make an invalid spec valid: it stays visible.
    condition(
        &client,
        &suspended_invalid,
        "Stalled",
        "True",
        "InvalidSpec",
    )
    .await;
    assert_health(&suspended_invalid, "Degraded", "Stalled");

    // What Argo CD may see between a sync and the operator's next status, from the Ready
    // tenant's live JSON (copies; nothing written).
    let generation = ready_object["metadata"]["generation"].as_i64().unwrap();
    let mut newer = ready_object.clone();
    newer["metadata"]["generation"] = json!(generation + 1);
    assert_eq!(
        health(&newer),
        Health {
            status: "Progressing".into(),
            message: format!(
                "Waiting for the operator to observe generation {} (last observed: {generation})",
                generation + 1
            ),
        },
        "a Ready condition about the previous spec is not Healthy"
    );
    let mut stale_ready = ready_object.clone();
    for c in stale_ready["status"]["conditions"].as_array_mut().unwrap() {
        if c["type"] == "Ready" {
            c["observedGeneration"] = json!(generation - 1);
        }
    }
    assert_eq!(health(&stale_ready).status, "Progressing");
    let mut no_status = ready_object.clone();
    no_status.as_object_mut().unwrap().remove("status");
    assert_eq!(
        health(&no_status),
        Health {
            status: "Progressing".into(),
            message: "Waiting for the operator to report status".into(),
        }
    );
    let mut no_conditions = ready_object.clone();
    no_conditions["status"]["conditions"] = json!([]);
    assert_eq!(health(&no_conditions).status, "Progressing");
    let mut suspending = ready_object.clone();
    suspending["spec"]["suspend"] = json!(true);
    assert_eq!(
        health(&suspending),
        Health {
            status: "Suspended".into(),
            message: "spec.suspend is true".into(),
        }
    );
    let failing = with_ready(
        ready_object.clone(),
        "False",
        "ReconcileError",
        "ApiError: \"quota\" \\ è",
    );
    assert_eq!(
        health(&failing),
        Health {
            status: "Degraded".into(),
            message: "ApiError: \"quota\" \\ è".into(),
        }
    );
    let unknown = with_ready(ready_object.clone(), "Unknown", "Starting", "starting");
    assert_eq!(health(&unknown).status, "Progressing");
    // Argo CD's Lua (gopher-lua) has floats only: generations compare the same as floats.
    assert_eq!(health(&as_floats(&ready_object)).status, "Healthy");
    assert_eq!(health(&as_floats(&newer)).status, "Progressing");

    // kubectl wait reads the same condition: at once when Ready, never when Degraded.
    wait_ready(&ready, "60s").expect("kubectl wait on a Ready tenant");
    let timed_out = wait_ready(&missing, "5s").expect_err("a Degraded tenant never gets Ready");
    assert!(timed_out.contains("timed out"), "{timed_out}");

    // A spec change the operator has not seen (it is stopped): still Ready=True, but about the
    // previous generation, which neither Argo CD's check nor kubectl wait takes.
    let (run, operator_ns) = (operator.run.clone(), operator.namespace.clone());
    drop(operator);
    kubectl_retrying(&[
        "patch",
        "mt",
        &ready,
        "--type=json",
        "-p",
        r#"[{"op": "replace", "path": "/spec/workloads/0/replicas", "value": 3}]"#,
    ]);
    let object = live(&ready);
    assert_eq!(object["metadata"]["generation"], json!(generation + 1));
    assert_eq!(condition_of(&object, "Ready")["status"], "True");
    assert_eq!(
        health(&object),
        Health {
            status: "Progressing".into(),
            message: format!(
                "Waiting for the operator to observe generation {} (last observed: {generation})",
                generation + 1
            ),
        }
    );
    let stale = wait_ready(&ready, "5s").expect_err("kubectl wait skips a stale condition");
    assert!(stale.contains("timed out"), "{stale}");

    let operator = Operator::start(&run, &operator_ns);
    condition(&client, &ready, "Ready", "True", "Ready").await;
    assert_health(&ready, "Healthy", "Ready");
    wait_ready(&ready, "60s").expect("kubectl wait on the new generation");

    // A moved namespace: from Healthy to Degraded.
    kubectl_retrying(&[
        "patch",
        "mt",
        &ready,
        "--type=merge",
        "-p",
        &json!({"spec": {"namespace": format!("{ready}-2")}}).to_string(),
    ]);
    condition(&client, &ready, "Stalled", "True", "NamespaceImmutable").await;
    assert_health(&ready, "Degraded", "Stalled");
    drop(operator);
}
